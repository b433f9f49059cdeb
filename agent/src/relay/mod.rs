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
//! [`serve`] is R's QUIC server for offices, [`forward`] R's side of a relayed sync with the hub.

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

/// Forgets what R held for an office the hub refused.
pub(crate) fn forget(store: &Store, office: &AuthorId, why: &str) -> store::Result<()> {
    for t in [UP, DOWN] {
        let t = store.tree(t)?;
        for kv in t.scan_prefix(office.0) {
            t.remove(kv?.0)?;
        }
    }
    update(store, office, |rec| rec.refused = Some(why.to_string()))
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
    /// The hub's refusal, when it refused the office.
    pub refused: Option<String>,
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
        offices.push(SeenOffice {
            office: id.hex(),
            held: rec.top,
            waiting: rec.top.saturating_sub(receipt_seq),
            receipt_seq,
            down_runs: down_runs(store, &id)?.len() as u64,
            last_seen: rfc3339(rec.last_ms),
            refused: rec.refused,
        });
    }
    Ok(Info {
        addr,
        fingerprint,
        offices,
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
