//! The relay (issue 14): a commune office C syncs through its district office R when no hub
//! answers. R is a carrier only: it keeps C's sealed runs as C sent them, forwards them verbatim at
//! its own next sync, and brings back what the hub sends for C (sealed by their authors) and the
//! hub's signed receipt for C's log. Nothing C sends is applied to R's own store or view, and R
//! cannot forge or alter C's entries (their seals) nor C's receipts (the hub's signature).
//!
//! This module keeps the relay's state in sled trees named after the feature:
//! - on C, `relay_peer`: the relays C may use (address and certificate pin) and `relayed_seq`,
//!   how far a relay acknowledged C's log (never mixed with the hub's `acked_seq`);
//! - on R, `relay_office` (per office: how far R holds its log, the link there, what R knows the
//!   office holds, when seen, and whether the hub refused it), `relay_up` (C's runs waiting for the
//!   hub), `relay_down` (runs from the hub for C) and `relay_receipts` (the hub's last receipt for C).
//!
//! - on R, `relay_allow`: the offices the hub said R may carry (and when), `relay_forwarded` (per
//!   office: when R last forwarded for it, and how many hub connections it made for it).
//!
//! [`serve`] is R's QUIC server for offices, [`forward`] R's side of a relayed sync with the hub.
//!
//! Bounds: R carries only the offices the hub lists (`Msg::RelayOffices`, at each of R's syncs), and
//! at most [`Limits`] bytes of waiting runs per office and in all; R forwards for an office only when
//! it has runs waiting, or the office came since the last forward, or the downward copy is older
//! than [`DOWN_STALE_MS`]; down-runs the office's summary covers are pruned.

pub mod forward;
pub mod serve;

use std::sync::Mutex;

use baobi_proto::chain::{genesis, Link};
use baobi_proto::identity::PeerPin;
use baobi_proto::receipt::Receipt;
use baobi_proto::wire::{self, Run, SummaryWire};
use baobi_proto::{AuthorId, Summary};
use bincode::{Decode, Encode};
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

use crate::store::{self, Store};

const PEER: &str = "relay_peer";
const OFFICE: &str = "relay_office";
const UP: &str = "relay_up";
const DOWN: &str = "relay_down";
const RECEIPTS: &str = "relay_receipts";
const K_PINS: &[u8] = b"pins";
const K_RELAYED: &[u8] = b"relayed_seq";
const K_LISTEN: &[u8] = b"listen";
const ALLOW: &str = "relay_allow";
const FORWARDED: &str = "relay_forwarded";
const K_OFFICES: &[u8] = b"offices";
const K_LIMITS: &[u8] = b"limits";

/// A downward copy older than this is refreshed from the hub even when nothing else calls for it.
pub const DOWN_STALE_MS: u64 = 6 * 3600 * 1000;

/// How much of the offices' runs R keeps waiting for the hub (bytes of `relay_up`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Encode, Decode)]
pub struct Limits {
    /// Per office (`daemon --relay-office-cap`).
    pub office_bytes: u64,
    /// All offices together (`daemon --relay-total-cap`).
    pub total_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            office_bytes: 32 << 20,
            total_bytes: 512 << 20,
        }
    }
}

/// Serialises the read-modify-write of an office's record (R's server and its forwarder).
static LOCK: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn corrupt(what: &str) -> store::Error {
    store::Error::Corrupt(format!("relay {what}"))
}

/// What R keeps about one office it carries for.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct OfficeRec {
    /// The highest seq of the office's log R holds (contiguous from 1, or from what the hub held).
    pub top: u64,
    /// The office's chain link at `top` (its genesis at 0).
    pub link: Link,
    /// What R knows the office holds (its last summary, plus what R brought down for it since).
    pub summary: SummaryWire,
    /// First and last contact, unix ms.
    pub first_ms: u64,
    /// See `first_ms`.
    pub last_ms: u64,
    /// The hub's refusal of this office (not enrolled, revoked): R no longer carries for it.
    pub refused: Option<String>,
}

impl OfficeRec {
    fn new(office: &AuthorId, now: u64) -> Self {
        OfficeRec {
            top: 0,
            link: genesis(office),
            summary: SummaryWire::default(),
            first_ms: now,
            last_ms: now,
            refused: None,
        }
    }
}

pub(crate) fn now_ms() -> u64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

fn up_key(office: &AuthorId, from: u64) -> Vec<u8> {
    let mut k = office.0.to_vec();
    k.extend_from_slice(&from.to_be_bytes());
    k
}

fn down_key(office: &AuthorId, author: &AuthorId, from: u64) -> Vec<u8> {
    let mut k = office.0.to_vec();
    k.extend_from_slice(&author.0);
    k.extend_from_slice(&from.to_be_bytes());
    k
}

/// R's record of `office`, if it ever carried for it.
pub fn office(store: &Store, office: &AuthorId) -> store::Result<Option<OfficeRec>> {
    match store.tree(OFFICE)?.get(office.0)? {
        None => Ok(None),
        Some(v) => wire::decode(&v).map(Some).map_err(|_| corrupt("office")),
    }
}

/// Every office R carries for.
pub fn offices(store: &Store) -> store::Result<Vec<(AuthorId, OfficeRec)>> {
    let mut out = vec![];
    for kv in store.tree(OFFICE)?.iter() {
        let (k, v) = kv?;
        let id: [u8; 32] = k.as_ref().try_into().map_err(|_| corrupt("office key"))?;
        out.push((
            AuthorId(id),
            wire::decode(&v).map_err(|_| corrupt("office"))?,
        ));
    }
    Ok(out)
}

/// Changes (or creates) R's record of `office`, durably.
pub(crate) fn update<T>(
    store: &Store,
    who: &AuthorId,
    f: impl FnOnce(&mut OfficeRec) -> T,
) -> store::Result<T> {
    let _g = lock();
    let now = now_ms();
    let mut rec = office(store, who)?.unwrap_or_else(|| OfficeRec::new(who, now));
    let out = f(&mut rec);
    store.tree(OFFICE)?.insert(who.0, wire::encode(&rec))?;
    store.flush()?;
    Ok(out)
}

/// The summary R presents for `office` (to the office, and to the hub on its behalf): what it
/// knows the office holds, with the office's own log as far as R holds it.
pub fn summary_for(rec: &OfficeRec, office: &AuthorId) -> Summary {
    let mut s = Summary::from_wire(&rec.summary);
    s.set(*office, rec.top);
    s
}

/// C's runs R holds for the hub, in seq order.
pub fn up_runs(store: &Store, office: &AuthorId) -> store::Result<Vec<Run>> {
    let mut out = vec![];
    for kv in store.tree(UP)?.scan_prefix(office.0) {
        let (_, v) = kv?;
        out.push(wire::decode(&v).map_err(|_| corrupt("run"))?);
    }
    Ok(out)
}

/// Keeps `runs` (already checked by the caller) of `office` as they are.
pub(crate) fn keep_up(store: &Store, office: &AuthorId, runs: &[Run]) -> store::Result<()> {
    let t = store.tree(UP)?;
    for r in runs {
        t.insert(up_key(office, r.from), wire::encode(r))?;
    }
    Ok(())
}

/// Runs from the hub for `office`, in (author, seq) order.
pub fn down_runs(store: &Store, office: &AuthorId) -> store::Result<Vec<Run>> {
    let mut out = vec![];
    for kv in store.tree(DOWN)?.scan_prefix(office.0) {
        let (_, v) = kv?;
        out.push(wire::decode(&v).map_err(|_| corrupt("run"))?);
    }
    Ok(out)
}

pub(crate) fn keep_down(store: &Store, office: &AuthorId, runs: &[Run]) -> store::Result<()> {
    let t = store.tree(DOWN)?;
    for r in runs {
        t.insert(down_key(office, &r.author, r.from), wire::encode(r))?;
    }
    Ok(())
}

/// The hub's receipt R holds for `office`.
pub fn receipt(store: &Store, office: &AuthorId) -> store::Result<Option<Receipt>> {
    match store.tree(RECEIPTS)?.get(office.0)? {
        None => Ok(None),
        Some(v) => wire::decode(&v).map(Some).map_err(|_| corrupt("receipt")),
    }
}

/// Keeps the hub's receipt for `office` (the highest seen) and drops the runs it covers.
pub(crate) fn keep_receipt(store: &Store, r: &Receipt) -> store::Result<()> {
    if receipt(store, &r.office)?.is_some_and(|old| old.seq > r.seq) {
        return Ok(());
    }
    store.tree(RECEIPTS)?.insert(r.office.0, wire::encode(r))?;
    let up = store.tree(UP)?;
    for run in up_runs(store, &r.office)? {
        if run.last() <= r.seq {
            up.remove(up_key(&r.office, run.from))?;
        }
    }
    store.flush()
}

/// Forgets what R held for an office the hub refused (or no longer lists). R's copy of its log
/// falls back to what the hub's receipt covers, so that carrying it again later continues the hub's.
pub(crate) fn forget(store: &Store, office: &AuthorId, why: &str) -> store::Result<()> {
    for t in [UP, DOWN] {
        let t = store.tree(t)?;
        for kv in t.scan_prefix(office.0) {
            t.remove(kv?.0)?;
        }
    }
    let held = receipt(store, office)?;
    update(store, office, |rec| {
        rec.refused = Some(why.to_string());
        match &held {
            Some(r) => (rec.top, rec.link) = (r.seq, r.head),
            None => (rec.top, rec.link) = (0, genesis(office)),
        }
    })
}

/// Bytes of runs R holds waiting for the hub: of `office`, or of all offices.
pub fn up_bytes(store: &Store, office: Option<&AuthorId>) -> store::Result<u64> {
    let t = store.tree(UP)?;
    let mut n = 0u64;
    let it = match office {
        Some(o) => t.scan_prefix(o.0),
        None => t.iter(),
    };
    for kv in it {
        n += kv?.1.len() as u64;
    }
    Ok(n)
}

/// Drops the hub's runs for `office` that `held` (what the office holds) covers.
pub(crate) fn prune_down(store: &Store, office: &AuthorId, held: &Summary) -> store::Result<()> {
    let t = store.tree(DOWN)?;
    let mut gone = false;
    for kv in t.scan_prefix(office.0) {
        let (k, v) = kv?;
        let run: Run = wire::decode(&v).map_err(|_| corrupt("run"))?;
        if run.last() <= held.get(&run.author) {
            t.remove(k)?;
            gone = true;
        }
    }
    if gone {
        store.flush()?;
    }
    Ok(())
}

/// The offices the hub last said R may carry, and when (unix ms); `None` before the first answer.
pub fn allowed(store: &Store) -> store::Result<Option<(Vec<AuthorId>, u64)>> {
    match store.tree(ALLOW)?.get(K_OFFICES)? {
        None => Ok(None),
        Some(v) => wire::decode(&v).map(Some).map_err(|_| corrupt("allowed")),
    }
}

/// The refusal reason kept for an office the hub does not list for this relay.
pub(crate) const NOT_LISTED: &str = "máy chủ tỉnh không giao văn phòng này cho trạm chuyển tiếp /                                      the hub does not list this office for this relay";

/// Keeps the hub's list of offices R may carry; what R held for an office no longer listed is
/// forgotten (the office still holds it as pending), and a listed office refused before is carried
/// again.
pub(crate) fn set_allowed(store: &Store, list: &[AuthorId]) -> store::Result<()> {
    store
        .tree(ALLOW)?
        .insert(K_OFFICES, wire::encode(&(list.to_vec(), now_ms())))?;
    store.flush()?;
    for (id, rec) in offices(store)? {
        let listed = list.contains(&id);
        if !listed && rec.refused.is_none() {
            forget(store, &id, NOT_LISTED)?;
        } else if listed && rec.refused.is_some() {
            update(store, &id, |r| r.refused = None)?;
        }
    }
    Ok(())
}

/// Keeps the caps the relay serves under (for `relay info`).
pub(crate) fn set_limits(store: &Store, l: &Limits) -> store::Result<()> {
    store.tree(ALLOW)?.insert(K_LIMITS, wire::encode(l))?;
    store.flush()
}

fn limits(store: &Store) -> store::Result<Option<Limits>> {
    match store.tree(ALLOW)?.get(K_LIMITS)? {
        None => Ok(None),
        Some(v) => wire::decode(&v).map(Some).map_err(|_| corrupt("limits")),
    }
}

/// When R last forwarded for `office` (unix ms, 0 if never) and how many hub connections it made
/// for it.
pub fn forwarded(store: &Store, office: &AuthorId) -> store::Result<(u64, u64)> {
    match store.tree(FORWARDED)?.get(office.0)? {
        None => Ok((0, 0)),
        Some(v) => wire::decode(&v).map_err(|_| corrupt("forwarded")),
    }
}

/// Counts one hub connection for `office`; `ok` records it as its last forward.
pub(crate) fn count_forward(store: &Store, office: &AuthorId, ok: bool) -> store::Result<()> {
    let (at, n) = forwarded(store, office)?;
    let at = if ok { now_ms() } else { at };
    store
        .tree(FORWARDED)?
        .insert(office.0, wire::encode(&(at, n + 1)))?;
    store.flush()
}

/// Whether R has a reason to connect to the hub for `office` now: runs waiting for the hub, the
/// office came since the last forward (what the hub has for it may have moved), or the downward
/// copy is older than [`DOWN_STALE_MS`].
pub fn needs_forward(store: &Store, office: &AuthorId, rec: &OfficeRec) -> store::Result<bool> {
    if !up_runs(store, office)?.is_empty() {
        return Ok(true);
    }
    let (at, _) = forwarded(store, office)?;
    Ok(rec.last_ms > at || now_ms().saturating_sub(at) > DOWN_STALE_MS)
}

// ---- the office's side (C) ----

fn encode_pins(pins: &[PeerPin]) -> String {
    pins.iter()
        .map(|p| format!("{} {}", HEXLOWER.encode(&p.fingerprint), p.addr))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The relays this office may sync through, in the order they are tried.
pub fn pins(store: &Store) -> store::Result<Vec<PeerPin>> {
    let Some(v) = store.tree(PEER)?.get(K_PINS)? else {
        return Ok(vec![]);
    };
    let s = String::from_utf8_lossy(&v).to_string();
    let mut out = vec![];
    for line in s.lines().filter(|l| !l.is_empty()) {
        let (fp, addr) = line.split_once(' ').ok_or_else(|| corrupt("pin"))?;
        out.push(PeerPin {
            addr: addr.to_string(),
            fingerprint: parse_fingerprint(fp).ok_or_else(|| corrupt("pin"))?,
        });
    }
    Ok(out)
}

/// A certificate fingerprint as `relay info` prints it (64 hex digits, `:` and spaces ignored).
pub fn parse_fingerprint(s: &str) -> Option<[u8; 32]> {
    let clean: String = s
        .chars()
        .filter(|c| !matches!(c, ':' | ' '))
        .collect::<String>()
        .to_ascii_lowercase();
    HEXLOWER
        .decode(clean.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
}

/// Adds (or re-pins) the relay at `pin.addr`, durably.
pub fn add_pin(store: &Store, pin: PeerPin) -> store::Result<Vec<PeerPin>> {
    let mut all = pins(store)?;
    all.retain(|p| p.addr != pin.addr);
    all.push(pin);
    store
        .tree(PEER)?
        .insert(K_PINS, encode_pins(&all).as_bytes())?;
    store.flush()?;
    Ok(all)
}

/// Removes the relay at `addr`; false when there was none.
pub fn remove_pin(store: &Store, addr: &str) -> store::Result<bool> {
    let mut all = pins(store)?;
    let before = all.len();
    all.retain(|p| p.addr != addr);
    if all.len() == before {
        return Ok(false);
    }
    store
        .tree(PEER)?
        .insert(K_PINS, encode_pins(&all).as_bytes())?;
    store.flush()?;
    Ok(true)
}

/// Keeps the relay named by the enrollment token (nothing when there is none).
pub fn save_token_pin(store: &Store, pin: Option<&PeerPin>) -> store::Result<()> {
    match pin {
        Some(p) => add_pin(store, p.clone()).map(|_| ()),
        None => Ok(()),
    }
}

/// How far a relay acknowledged this office's log (0 when none did).
pub fn relayed_seq(store: &Store) -> store::Result<u64> {
    Ok(store
        .tree(PEER)?
        .get(K_RELAYED)?
        .and_then(|v| v.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0))
}

/// Raises the relay's mark to `seq` (never lowers it). Not durable by itself: the next flush is.
pub fn set_relayed_seq(store: &Store, seq: u64) -> store::Result<()> {
    if seq > relayed_seq(store)? {
        store.tree(PEER)?.insert(K_RELAYED, &seq.to_be_bytes())?;
    }
    Ok(())
}

/// Own entries a relay holds that the hub has not acknowledged (by receipt or directly).
pub fn at_relay(store: &Store) -> store::Result<u64> {
    Ok(relayed_seq(store)?.saturating_sub(store.acked_seq()?))
}

// ---- what `relay info` / `relay list` show ----

/// One office R carries for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeenOffice {
    /// Its author key (hex).
    pub office: String,
    /// The highest seq of its log R holds.
    pub held: u64,
    /// Entries of it waiting for the hub.
    pub waiting: u64,
    /// The seq the hub's last receipt for it covers.
    pub receipt_seq: u64,
    /// Runs from the hub kept for it.
    pub down_runs: u64,
    /// Last contact, RFC 3339.
    pub last_seen: String,
    /// The hub's refusal, when it refused the office (or no longer lists it for this relay).
    pub refused: Option<String>,
    /// Bytes of its runs waiting for the hub.
    pub up_bytes: u64,
    /// Hub connections made for it (each a relayed sync).
    pub forwards: u64,
    /// The last successful forward, RFC 3339 (`None` before the first).
    pub last_forward: Option<String>,
}

/// `relay info`: this office as a relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// The address the relay listens on (`daemon --relay`), when it has listened.
    pub addr: Option<String>,
    /// SHA-256 of its certificate, for `relay add --fingerprint` on the offices below.
    pub fingerprint: String,
    /// The offices it carries for.
    pub offices: Vec<SeenOffice>,
    /// The offices the hub says it may carry (author hex), `None` before the hub first said.
    pub allowed: Option<Vec<String>>,
    /// When the hub last said, RFC 3339.
    pub allowed_at: Option<String>,
    /// The caps it serves under (`None` before `daemon --relay` first ran).
    pub limits: Option<Limits>,
    /// Bytes of all offices' runs waiting for the hub.
    pub up_bytes: u64,
}

/// One relay this office may use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayRow {
    /// `host:port`.
    pub addr: String,
    /// The pinned certificate fingerprint.
    pub fingerprint: String,
}

/// `relay list`: the relays, and how far they acknowledged this office's log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct List {
    /// The relays, in the order they are tried.
    pub relays: Vec<RelayRow>,
    /// How far a relay acknowledged this office's log.
    pub relayed_seq: u64,
    /// Own entries at a relay, not yet at the hub.
    pub at_relay: u64,
}

/// Records the address the relay listens on.
pub(crate) fn set_listen(store: &Store, addr: &str) -> store::Result<()> {
    store.tree(PEER)?.insert(K_LISTEN, addr.as_bytes())?;
    store.flush()
}

/// Whether this office has served as a relay (`serve --relay` recorded where it listens): only then
/// does its sync ask the hub which offices it carries and forward for them.
pub fn serves(store: &Store) -> store::Result<bool> {
    Ok(store.tree(PEER)?.contains_key(K_LISTEN)?)
}

fn rfc3339(ms: u64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

/// What `relay info` shows.
pub fn info(store: &Store) -> store::Result<Info> {
    let addr = store
        .tree(PEER)?
        .get(K_LISTEN)?
        .map(|v| String::from_utf8_lossy(&v).to_string());
    let fingerprint = HEXLOWER.encode(&baobi_proto::identity::fingerprint(&store.cert_der()?));
    let mut offices = vec![];
    for (id, rec) in self::offices(store)? {
        let receipt_seq = receipt(store, &id)?.map_or(0, |r| r.seq);
        let (last_forward, forwards) = forwarded(store, &id)?;
        offices.push(SeenOffice {
            office: id.hex(),
            held: rec.top,
            waiting: rec.top.saturating_sub(receipt_seq),
            receipt_seq,
            down_runs: down_runs(store, &id)?.len() as u64,
            last_seen: rfc3339(rec.last_ms),
            refused: rec.refused,
            up_bytes: up_bytes(store, Some(&id))?,
            forwards,
            last_forward: (last_forward > 0).then(|| rfc3339(last_forward)),
        });
    }
    let allow = allowed(store)?;
    Ok(Info {
        addr,
        fingerprint,
        offices,
        allowed: allow
            .as_ref()
            .map(|(l, _)| l.iter().map(|a| a.hex()).collect()),
        allowed_at: allow.map(|(_, at)| rfc3339(at)),
        limits: limits(store)?,
        up_bytes: up_bytes(store, None)?,
    })
}

/// What `relay list` shows.
pub fn list(store: &Store) -> store::Result<List> {
    Ok(List {
        relays: pins(store)?
            .into_iter()
            .map(|p| RelayRow {
                addr: p.addr,
                fingerprint: HEXLOWER.encode(&p.fingerprint),
            })
            .collect(),
        relayed_seq: relayed_seq(store)?,
        at_relay: at_relay(store)?,
    })
}
