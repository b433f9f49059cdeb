//! Enrollment and the sync driver: moves `proto::Session` messages over the QUIC stream and does what
//! its events say against the store.
//!
//! The agent only ever sends entries it authored, and the hub's own entries back to a hub that lacks
//! them (restored from an older backup) under the hub's own seal; it stores what the hub sends only after checking
//! signatures (units only from the hub's key), flushes before acknowledging, and raises its "acked"
//! mark only when the hub acknowledges or its summary shows it already holds our entries.

use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::time::Duration;

use baobi_proto::identity::{fingerprint, PeerPin};
use baobi_proto::wire::Run;
use baobi_proto::wire::{enroll_proof_bytes, EnrollReply, EnrollRequest, Refusal, RefusalCode};
use baobi_proto::{Entry, Event, Msg, Session, Token};
use data_encoding::HEXLOWER;

use crate::net::{self, FramedStream, Identity};
use crate::store::{self, HubInfo, Store};

/// Largest batch the agent sends: 512 entries (`MAX_BATCH_ENTRIES`), half the flushes of 256 at the
/// hub (initial 1,000 on loopback, median of 5: 198 → 184 ms wall, 86 → 66 ms CPU).
pub const BATCH: usize = 512;

/// What can go wrong while enrolling or syncing.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store was never enrolled.
    #[error("not enrolled")]
    NotEnrolled,
    /// The store is already enrolled.
    #[error("already enrolled with the hub at {0}")]
    AlreadyEnrolled(String),
    /// The hub could not be reached.
    #[error("hub unreachable at {addr}: {detail}")]
    Unreachable {
        /// Where we tried.
        addr: String,
        /// Why it failed.
        detail: String,
        /// Own entries not yet acknowledged.
        pending: u64,
    },
    /// The hub at `addr` is not the one pinned at enrollment (another hub there, or its key changed).
    #[error(
        "chứng chỉ của máy chủ tại {addr} không khớp với chứng chỉ đã ghim khi đăng ký (máy chủ khác, \
         hoặc máy chủ đã đổi khóa) / the hub's certificate at {addr} does not match the one pinned at \
         enrollment (another hub, or the hub's key changed)"
    )]
    HubMismatch {
        /// Where we connected.
        addr: String,
    },
    /// The hub refused.
    #[error("refused by the hub ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    /// The exchange broke.
    #[error("{0}")]
    Net(#[from] net::Error),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] store::Error),
    /// The hub broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// A relay handed this office a receipt that does not verify (signed by another key, for
    /// another office, or for a head that is not this office's chain): refused, nothing changed.
    #[error(
        "trạm chuyển tiếp {addr} đưa biên nhận bị từ chối, không thay đổi gì / the relay at {addr}          handed a receipt that is refused, nothing changed: {error}"
    )]
    ForgedReceipt {
        /// The relay.
        addr: String,
        /// Why the receipt is refused.
        error: baobi_proto::receipt::ReceiptError,
    },
    /// The relay (or the hub, through it) refused this office.
    #[error(
        "trạm chuyển tiếp {addr} từ chối / the relay at {addr} refused ({:?}): {}",
        .refusal.code,
        .refusal.message
    )]
    RelayRefused {
        /// The relay.
        addr: String,
        /// Its refusal.
        refusal: Refusal,
    },
}

impl From<baobi_proto::Error> for Error {
    fn from(e: baobi_proto::Error) -> Self {
        match e {
            baobi_proto::Error::Refused(r) => Error::Refused(r),
            other => Error::Protocol(other.to_string()),
        }
    }
}

/// Result with the sync error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What a sync did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct SyncReport {
    /// Entries the hub acknowledged: own ones, and any of the hub's own handed back to it.
    pub sent: u64,
    /// Entries received and stored.
    pub received: u64,
    /// True when nothing needed exchanging.
    pub up_to_date: bool,
    /// Application bytes sent to the hub (frames with their length prefixes).
    pub bytes_up: u64,
    /// Application bytes received from the hub.
    pub bytes_down: u64,
    /// Times the agent waited for the hub after sending (1 for a no-change sync).
    pub round_trips: u64,
    /// True when no hub answered and the sync went through a relay (`relay add`): what it sent is
    /// at the relay, not yet at the hub.
    #[serde(default, skip_serializing_if = "is_false")]
    pub via_relay: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// Progress of a sync, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// This many own entries are to be sent.
    ToSend(u64),
    /// This many more were acknowledged.
    Sent(u64),
    /// This many more were received.
    Received(u64),
}

async fn resolve(addr: &str) -> Result<SocketAddr, String> {
    tokio::net::lookup_host(addr)
        .await
        .map_err(|e| format!("cannot resolve '{addr}': {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve '{addr}'"))
}

/// Resolves `addr` and connects pinned to `fp` (a name that does not resolve is unreachable).
async fn dial(addr: &str, fp: [u8; 32], id: &net::Identity) -> net::Result<Connected> {
    match resolve(addr).await {
        Ok(a) => net::connect(a, fp, id).await,
        Err(d) => Err(net::Error::Unreachable(d)),
    }
}

/// Why no hub answered: one hub's reason as it is, several each with its address.
fn unreachable_detail(failed: &[(String, String)]) -> String {
    match failed {
        [(_, d)] => d.clone(),
        all => all
            .iter()
            .map(|(a, d)| format!("{a}: {d}"))
            .collect::<Vec<_>>()
            .join("; "),
    }
}

fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// The store's identity, made (and persisted) on first use.
pub fn identity(store: &Store) -> Result<Identity> {
    match (store.keypair(), store.cert_der()) {
        (Ok(keypair), Ok(cert_der)) => Ok(Identity { keypair, cert_der }),
        _ => {
            let id = Identity::generate()?;
            store.set_identity(&id.keypair.secret(), &id.cert_der)?;
            Ok(id)
        }
    }
}

/// Enrolls with the hub named in `token`; stores what the hub says. Does not sync.
pub async fn enroll(store: &Store, token: &Token, label: &str) -> Result<EnrollReply> {
    if let Some(h) = store.hub()? {
        return Err(Error::AlreadyEnrolled(h.addr));
    }
    let id = identity(store)?;
    // The hub that issued the token, then (a token naming both hubs) the standby when it does not
    // answer: a standby never holds the primary's tokens, but its refusal says so.
    let primary = PeerPin {
        addr: token.addr.clone(),
        fingerprint: token.hub_fingerprint,
    };
    let mut failed: Vec<(String, String)> = vec![];
    let mut found = None;
    for pin in std::iter::once(&primary).chain(token.standby.as_ref()) {
        match dial(&pin.addr, pin.fingerprint, &id).await {
            Ok(c) => {
                found = Some((c, pin));
                break;
            }
            Err(net::Error::Unreachable(d)) => failed.push((pin.addr.clone(), d)),
            Err(net::Error::HubMismatch) => {
                return Err(Error::HubMismatch {
                    addr: pin.addr.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
    let Some(((endpoint, conn, mut stream), at)) = found else {
        return Err(Error::Unreachable {
            addr: token.addr.clone(),
            detail: unreachable_detail(&failed),
            pending: 0,
        });
    };
    let at_primary = at == &primary;
    let proof = id.keypair.sign(&enroll_proof_bytes(
        &token.secret,
        &fingerprint(&id.cert_der),
    ));
    stream
        .send(&Msg::Enroll(EnrollRequest {
            secret: token.secret,
            author: id.keypair.author(),
            label: label.to_string(),
            proof,
        }))
        .await?;
    let reply = tokio::time::timeout(Duration::from_secs(30), stream.recv())
        .await
        .map_err(|_| Error::Protocol("no answer to the enrollment".into()))??;
    let result = match reply {
        Some(Msg::Enrolled(r)) => {
            // The hub's certificate of this enrollment follows (none from a hub older than it).
            let cert = match tokio::time::timeout(Duration::from_secs(10), stream.recv()).await {
                Ok(Ok(Some(Msg::EnrollCert(c)))) => Some(c),
                _ => None,
            };
            let me = id.keypair.author();
            match cert {
                Some(c) if crate::standby_cert::fits(&c, &r, &me, &fingerprint(&id.cert_der)) => {
                    crate::standby_cert::save(store, &c)?
                }
                Some(_) => tracing::warn!(
                    "the hub's enrollment certificate does not fit this enrollment; not kept"
                ),
                None => {}
            }
            store.set_hub(&HubInfo {
                addr: at.addr.clone(),
                fingerprint: HEXLOWER.encode(&at.fingerprint),
                author: r.hub_author.hex(),
                province: r.province.clone(),
                province_name: r.province_name.clone(),
                unit: r.unit.clone(),
                unit_name: r.unit_name.clone(),
                label: label.to_string(),
            })?;
            // Answered by the standby (the token's hub did not answer): that hub is this office's
            // hub then, and it names no standby.
            crate::standby::save(store, token.standby.as_ref().filter(|_| at_primary))?;
            crate::relay::save_token_pin(store, token.relay.as_ref())?;
            Ok(r)
        }
        Some(Msg::Refused(r)) => Err(Error::Refused(r)),
        Some(_) => Err(Error::Protocol(
            "unexpected answer to the enrollment".into(),
        )),
        None => Err(Error::Protocol("the hub closed without answering".into())),
    };
    close(endpoint, conn, stream).await;
    result
}

async fn close(endpoint: quinn::Endpoint, conn: quinn::Connection, mut stream: FramedStream) {
    stream.finish().await;
    // Wait (briefly) for the hub to end its side; errors here no longer matter.
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while let Ok(Some(_)) = stream.recv().await {}
    })
    .await;
    net::close(&conn, 0, b"done").await;
    drop(endpoint);
}

/// Own entries not yet acknowledged by the hub.
pub fn pending(store: &Store) -> Result<u64> {
    Ok(store.own_seq()?.saturating_sub(store.acked_seq()?))
}

/// Runs one sync with the hub, recording the outcome (last sync time or last error) in the store.
pub async fn sync(
    store: &Store,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SyncReport> {
    let r = sync_inner(store, progress).await;
    match &r {
        Ok(rep) => {
            if !rep.via_relay && store.restoring()? {
                // Everything the hub holds of ours is here now: writing may resume at its seq + 1.
                store.set_acked_seq(store.own_seq()?)?;
                store.set_restoring(false)?;
            }
            store.record_sync_ok(now_unix())?;
            // A relay forwards what it carries for the offices below it after its own sync.
            if !rep.via_relay {
                crate::relay::forward::forward_all(store).await;
            }
        }
        Err(Error::NotEnrolled) => {}
        Err(e) => {
            store.record_sync_error(&e.to_string(), matches!(e, Error::HubMismatch { .. }))?
        }
    }
    r
}

async fn sync_inner(
    store: &Store,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SyncReport> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let id = Identity {
        keypair: store.keypair()?,
        cert_der: store.cert_der()?,
    };
    let hub_author = hub.author_id()?;
    let unreachable = |detail: String| -> Error {
        Error::Unreachable {
            addr: hub.addr.clone(),
            detail,
            pending: pending(store).unwrap_or(0),
        }
    };
    // The hub that answered last first, then the other (primary and standby, each pinned), each
    // given a head start before the next is tried beside it.
    let mut failed: Vec<(String, String)> = vec![];
    let targets = crate::standby::targets(store, &hub)?;
    let connected = connect_first(&targets, &id, &mut failed).await?;
    if connected.is_none() {
        if let Some(r) = via_relay(store, &hub_author, &id, progress).await? {
            return Ok(r);
        }
    }
    let Some(((endpoint, conn, mut stream), target)) = connected else {
        return Err(unreachable(unreachable_detail(&failed)));
    };
    crate::standby::answered(store, &target)?;
    let mut result = drive(
        store,
        &mut stream,
        &hub_author,
        Some(&target),
        None,
        None,
        progress,
    )
    .await;
    let (mut endpoint, mut conn) = (endpoint, conn);
    // A hub that does not know this office (a standby that never followed its enrollment) is
    // shown the enrolling hub's certificate, once, on a new connection.
    if let Err(Error::Refused(r)) = &result {
        if r.code == RefusalCode::NotEnrolled {
            if let Some(cert) = crate::standby_cert::load(store)? {
                tracing::info!(
                    hub = %target.addr,
                    "the hub does not know this office; showing it the enrollment certificate"
                );
                net::close(&conn, 1, b"refused").await;
                drop(endpoint);
                (endpoint, conn, stream) = match dial(&target.addr, target.fingerprint, &id).await {
                    Err(net::Error::Unreachable(d)) => return Err(unreachable(d)),
                    Err(net::Error::HubMismatch) => {
                        return Err(Error::HubMismatch {
                            addr: target.addr.clone(),
                        })
                    }
                    other => other?,
                };
                result = drive(
                    store,
                    &mut stream,
                    &hub_author,
                    Some(&target),
                    Some(&cert),
                    None,
                    progress,
                )
                .await;
            }
        }
    }
    match &result {
        Ok(_) => close(endpoint, conn, stream).await,
        Err(_) => {
            net::close(&conn, 1, b"error").await;
            drop(endpoint);
        }
    }
    result
}

/// How long a hub has to answer before the next one is tried beside it (a dead primary cost the
/// whole 10 s connect timeout before the standby was tried). A handshake takes about 3 round trips
/// (under 2.5 s even on EDGE); a slower hub still wins if it answers first.
pub const HEAD_START: Duration = Duration::from_millis(2_500);

type Connected = (quinn::Endpoint, quinn::Connection, FramedStream);
type Attempt<'a> = std::pin::Pin<
    Box<dyn std::future::Future<Output = (usize, net::Result<Connected>)> + Send + 'a>,
>;

/// Connects to the first of `targets` to answer, each pinned to its own certificate: target `k + 1`
/// starts when target `k` failed or had [`HEAD_START`] without an answer, and the first connection
/// made wins (the others are dropped). A hub that does not answer is noted in `failed`; one that
/// presents another certificate ends the attempt with [`Error::HubMismatch`].
async fn connect_first<'a>(
    targets: &'a [crate::standby::Target],
    id: &'a Identity,
    failed: &mut Vec<(String, String)>,
) -> Result<Option<(Connected, crate::standby::Target)>> {
    use std::future::Future;
    use std::task::Poll;
    let attempt = |k: usize| -> Attempt<'a> {
        let t = &targets[k];
        Box::pin(async move {
            let r = match resolve(&t.addr).await {
                Ok(addr) => net::connect(addr, t.fingerprint, id).await,
                Err(d) => Err(net::Error::Unreachable(d)),
            };
            (k, r)
        })
    };
    let mut running: Vec<Attempt<'a>> = vec![];
    let mut next = 0;
    let mut head = Box::pin(tokio::time::sleep(HEAD_START));
    loop {
        // Here at the start, after a head start ran out, or after a hub failed: the next one starts.
        if next < targets.len() {
            running.push(attempt(next));
            next += 1;
            head.as_mut()
                .reset(tokio::time::Instant::now() + HEAD_START);
        }
        if running.is_empty() {
            return Ok(None);
        }
        let more = next < targets.len();
        let ev = std::future::poll_fn(|cx| {
            for (i, f) in running.iter_mut().enumerate() {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    return Poll::Ready(Some((i, r)));
                }
            }
            if more && head.as_mut().poll(cx).is_ready() {
                return Poll::Ready(None);
            }
            Poll::Pending
        })
        .await;
        let Some((i, (k, r))) = ev else {
            continue;
        };
        drop(running.remove(i));
        let t = &targets[k];
        match r {
            Ok(c) => return Ok(Some((c, t.clone()))),
            Err(net::Error::Unreachable(d)) => {
                failed.push((t.addr.clone(), d));
            }
            Err(net::Error::HubMismatch) => {
                return Err(Error::HubMismatch {
                    addr: t.addr.clone(),
                })
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// No hub answered: the sync through the first relay that does (`relay add`, or the token's),
/// `None` when there is none or none answers.
async fn via_relay(
    store: &Store,
    hub_author: &baobi_proto::AuthorId,
    id: &Identity,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Option<SyncReport>> {
    for pin in crate::relay::pins(store)? {
        let Ok(addr) = resolve(&pin.addr).await else {
            continue;
        };
        let (endpoint, conn, mut stream) = match net::connect(addr, pin.fingerprint, id).await {
            Ok(c) => c,
            Err(net::Error::HubMismatch) => {
                tracing::warn!(relay = %pin.addr, "relay certificate does not match its pin");
                continue;
            }
            Err(e) => {
                tracing::debug!(relay = %pin.addr, error = %e, "relay unreachable");
                continue;
            }
        };
        let result = drive(
            store,
            &mut stream,
            hub_author,
            None,
            None,
            Some(&pin.addr),
            progress,
        )
        .await;
        match &result {
            Ok(_) => close(endpoint, conn, stream).await,
            Err(_) => {
                net::close(&conn, 1, b"error").await;
                drop(endpoint);
            }
        }
        return match result {
            Err(Error::Refused(refusal)) => Err(Error::RelayRefused {
                addr: pin.addr.clone(),
                refusal,
            }),
            r => r.map(Some),
        };
    }
    Ok(None)
}

/// Takes a relay's receipts for this office: each must verify as a drop file's does (the hub's key,
/// this office, its own chain); only then the hub's mark moves.
fn take_receipts(
    store: &Store,
    hub_author: &baobi_proto::AuthorId,
    relay: &str,
    receipts: &[baobi_proto::receipt::Receipt],
) -> Result<()> {
    let me = store.author()?;
    let own_seq = store.own_seq()?;
    let mut held = 0;
    // The primary's, or the standby's once the primary told this office its key.
    let standby = crate::standby::author(store)?;
    for r in receipts {
        let hub = match standby {
            Some(s) if r.hub == s => s,
            _ => *hub_author,
        };
        match r.verify(&hub, &me, own_seq, |s| store.own_link(s).ok()) {
            Ok(seq) => held = held.max(seq),
            Err(error) => {
                tracing::warn!(relay, %error, "refused a receipt handed by the relay");
                return Err(Error::ForgedReceipt {
                    addr: relay.to_string(),
                    error,
                });
            }
        }
    }
    store.set_acked_seq(held)?;
    store.flush()?;
    Ok(())
}

async fn drive(
    store: &Store,
    stream: &mut FramedStream,
    hub_author: &baobi_proto::AuthorId,
    target: Option<&crate::standby::Target>,
    cert: Option<&baobi_proto::enroll_cert::EnrollCert>,
    relay: Option<&str>,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<SyncReport> {
    // A hub that refused this office `NotEnrolled` is shown its enrollment certificate first.
    if let Some(c) = cert {
        stream.send(&Msg::EnrollCert(c.clone())).await?;
    }
    // To a hub, what the office knows of the standby goes first; the hub answers only when it
    // knows better. A relay is not asked.
    if let Some(target) = target {
        stream
            .send(&crate::standby::opening(store, target)?)
            .await?;
    }
    // Through a relay, acknowledgements raise the relay's mark; only a receipt raises the hub's.
    let mark = |seq: u64| -> Result<()> {
        match relay {
            None => store.set_acked_seq(seq)?,
            Some(_) => crate::relay::set_relayed_seq(store, seq)?,
        }
        Ok(())
    };
    let me = store.author()?;
    let own_seq = store.summary().get(&me);
    let mut session = Session::client(store.summary());
    let mut report = SyncReport::default();
    let mut queue: VecDeque<Entry> = VecDeque::new();
    // The hub's own entries it lacks and this store holds under the hub's seal (a hub restored from
    // an older backup): handed back after our own.
    let mut hub_back: VecDeque<Run> = VecDeque::new();
    let mut sending = false;
    let mut waiting_for_reply = false;
    let mut next_batch: u32 = 0;
    // batch id → highest seq in it; acked marks advance over a contiguous prefix of batch ids.
    let mut batches: BTreeMap<u32, (u64, bool)> = BTreeMap::new();
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => {
                    let mine: Vec<_> = ranges.iter().filter(|r| r.author == me).collect();
                    // The hub already holds every own entry below what it asks for.
                    let hub_has = mine.first().map_or(own_seq, |r| r.from.saturating_sub(1));
                    mark(hub_has)?;
                    for r in mine {
                        queue.extend(store.range(&me, r.from, r.to)?);
                    }
                    // A relay carries only this office's own log.
                    for r in ranges
                        .iter()
                        .filter(|r| r.author == *hub_author && relay.is_none())
                    {
                        hub_back.extend(store.hub_runs(hub_author, r.from, r.to, BATCH)?);
                    }
                    progress(Progress::ToSend(queue.len() as u64));
                    sending = true;
                }
                Event::Received { id, runs } => {
                    store.store_received(&runs, hub_author)?;
                    if relay.is_none() && runs.iter().any(|r| r.author == me) {
                        // Our own entries coming back (a restore): the hub holds them.
                        store.set_acked_seq(store.summary().get(&me))?;
                    }
                    session.stored(id)?;
                    // Placeholders of entries the hub does not send this office are not received.
                    let got: u64 = runs
                        .iter()
                        .flat_map(|r| &r.items)
                        .filter(|i| !matches!(i.op, baobi_proto::wire::Op::Elided(_)))
                        .count() as u64;
                    report.received += got;
                    progress(Progress::Received(got));
                }
                Event::Acked { id, entries } => {
                    if let Some(b) = batches.get_mut(&id) {
                        b.1 = true;
                    }
                    while let Some(e) = batches.first_entry() {
                        if !e.get().1 {
                            break;
                        }
                        let (seq, _) = e.remove();
                        mark(seq)?;
                    }
                    report.sent += entries as u64;
                    progress(Progress::Sent(entries as u64));
                }
                Event::Finished => {
                    if session.stats().up_to_date {
                        report.up_to_date = true;
                        mark(own_seq)?;
                    }
                }
            }
        }
        while sending && session.can_send() {
            if queue.is_empty() {
                if let Some(run) = hub_back.pop_front() {
                    session.push_runs(vec![run])?;
                    // Nothing of ours in it: the acked mark does not move.
                    batches.insert(next_batch, (0, false));
                    next_batch += 1;
                    continue;
                }
                session.finish_sending()?;
                sending = false;
                break;
            }
            let n = queue.len().min(BATCH);
            let batch: Vec<Entry> = queue.drain(..n).collect();
            let top = batch.last().map_or(0, |e| e.seq);
            session.push_runs(vec![store.seal(&batch)?])?;
            batches.insert(next_batch, (top, false));
            next_batch += 1;
        }
        while let Some(m) = session.poll_transmit() {
            stream.send(&m).await?;
            waiting_for_reply = true;
        }
        report.bytes_up = stream.bytes_sent;
        report.bytes_down = stream.bytes_received;
        if session.is_finished() {
            report.via_relay = relay.is_some();
            return Ok(report);
        }
        if std::mem::take(&mut waiting_for_reply) {
            report.round_trips += 1;
        }
        match stream.recv().await? {
            Some(Msg::StandbyPeer(p)) if target.is_some() => {
                if let Some(target) = target {
                    crate::standby::learn(store, target, &p)?;
                }
            }
            Some(Msg::Receipts(rs)) if relay.is_some() => {
                take_receipts(store, hub_author, relay.unwrap_or_default(), &rs)?;
            }
            Some(msg) => session.handle(msg)?,
            None => return Err(Error::Protocol("the hub ended the session early".into())),
        }
    }
}
