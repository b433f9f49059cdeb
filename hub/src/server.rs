//! The hub's QUIC server: accepts connections concurrently and drives one enrollment or sync per
//! connection with `proto::Session`, storing what agents send through the checked merge.
//!
//! Peer input never panics: a malformed frame, a protocol violation or a refused entry closes only
//! that connection (with a `Refused` message first where the contract says so). Acks are sent only
//! after the batch is flushed to disk.

use std::collections::{HashMap, VecDeque};
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use baobi_proto::session::Event;
use baobi_proto::wire::enroll_proof_bytes;
use baobi_proto::wire::{
    encode_frame, EnrollReply, EnrollRequest, FrameDecoder, Hello, Msg, Refusal, RefusalCode, Run,
    MAX_TEXT,
};
use baobi_proto::{AuthorId, Range, Session};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use crate::check;
use crate::limits::{self, Bounds, Timeouts};
use crate::net::peer_fingerprint;
use crate::store::{AgentRec, Hub};

pub use crate::limits::{MAX_CONNECTIONS, READ_TIMEOUT, SEND_BATCH as BATCH};

/// Close codes the hub uses.
pub mod codes {
    /// Normal end.
    pub const OK: u32 = 0;
    /// The hub refused (a `Refused` message was sent).
    pub const REFUSED: u32 = 1;
    /// Protocol error or malformed frame.
    pub const PROTOCOL: u32 = 2;
    /// The hub is shutting down.
    pub const SHUTDOWN: u32 = 0;
    /// A newer session of the same office replaced this one.
    pub const SUPERSEDED: u32 = 3;
    /// The peer was too slow or silent (first message, frame or read deadline).
    pub const TIMEOUT: u32 = 4;
    /// The hub's memory budget for large frames stayed full until the frame's deadline.
    pub const BUSY: u32 = 5;
}

/// Live connections per source IP address, so that one address cannot take every connection slot.
#[derive(Debug, Default)]
struct PerAddress {
    /// Connections held and whether the refusal was already logged since the address hit the limit.
    live: Mutex<HashMap<IpAddr, (usize, bool)>>,
}

/// One connection slot of an address, given back when dropped.
struct AddressSlot {
    table: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut live = self
            .table
            .per_address
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((n, warned)) = live.get_mut(&self.ip) {
            *n -= 1;
            *warned = false;
            if *n == 0 {
                live.remove(&self.ip);
            }
        }
    }
}

/// What counts as one source address: an IPv4 address (also when mapped into IPv6), or an IPv6 /64
/// (one site's prefix: a single host can use any address in it).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Shared {
    /// A slot for a connection from `ip`, or `None` when `ip` already holds `bounds.per_address`
    /// connections (logged once until the address drops below the limit again).
    fn address_slot(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let ip = address_key(ip);
        let mut live = self
            .per_address
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (n, warned) = live.entry(ip).or_default();
        if *n >= self.bounds.per_address {
            if !*warned {
                *warned = true;
                warn!(peer = %ip, limit = self.bounds.per_address,
                    "too many connections from this address; refusing more");
            }
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

/// The live sync session of each office: at most [`limits::MAX_SESSIONS_PER_AGENT`] (one). A new
/// session of an office closes the older one: after a mobile link drops, the hub may not notice the
/// dead connection for up to the idle timeout, and the office reconnecting must not be refused for it.
#[derive(Debug, Default)]
struct Sessions {
    next: AtomicU64,
    live: Mutex<HashMap<AuthorId, (u64, quinn::Connection)>>,
}

impl Sessions {
    /// Registers `conn` as `author`'s session, closing the one it replaces; returns its ticket.
    fn begin(&self, author: AuthorId, conn: &quinn::Connection, hub: &Hub) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let old = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            let old = live.insert(author, (ticket, conn.clone()));
            hub.metrics().set_connected(live.len());
            old
        };
        if let Some((_, old)) = old {
            warn!(agent = %author.short(), "a newer session of this office replaces the older one");
            old.close(
                codes::SUPERSEDED.into(),
                b"replaced by a newer session of the same office",
            );
        }
        ticket
    }

    /// Forgets `author`'s session if it is still the one with `ticket`.
    fn end(&self, author: &AuthorId, ticket: u64, hub: &Hub) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.get(author).is_some_and(|(t, _)| *t == ticket) {
            live.remove(author);
        }
        hub.metrics().set_connected(live.len());
    }
}

/// What every connection task shares.
#[derive(Debug)]
struct Shared {
    hub: Arc<Hub>,
    timeouts: Timeouts,
    bounds: Bounds,
    sessions: Sessions,
    per_address: PerAddress,
    /// Bytes of [`Bounds::frame_budget`] not held by a large partial frame.
    frame_budget: Arc<Semaphore>,
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ConnError {
    #[error("connection: {0}")]
    Net(String),
    #[error(transparent)]
    Proto(#[from] baobi_proto::Error),
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error("refused ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    #[error("{0}")]
    Timeout(&'static str),
    #[error("the hub's memory budget for large frames stayed full")]
    Busy,
}

/// Accepts connections on `endpoint` until `shutdown` completes, then closes the endpoint (code 0),
/// waits briefly for connections to close, and flushes the store.
pub async fn run(
    endpoint: quinn::Endpoint,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
) -> crate::Result<()> {
    run_with(
        endpoint,
        hub,
        shutdown,
        Timeouts::default(),
        Bounds::default(),
    )
    .await
}

/// [`run`] with explicit deadlines and bounds.
pub async fn run_with(
    endpoint: quinn::Endpoint,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
    timeouts: Timeouts,
    bounds: Bounds,
) -> crate::Result<()> {
    let shared = Arc::new(Shared {
        hub: hub.clone(),
        timeouts,
        bounds,
        sessions: Sessions::default(),
        per_address: PerAddress::default(),
        frame_budget: Arc::new(Semaphore::new(bounds.frame_budget)),
    });
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            inc = endpoint.accept() => {
                let Some(inc) = inc else { break };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    warn!(peer = %inc.remote_address(), "too many connections; refusing");
                    hub.metrics().refused(RefusalCode::Busy);
                    inc.refuse();
                    continue;
                };
                // Refused before any handshake work: QUIC CONNECTION_REFUSED, cheap for the hub.
                let Some(slot) = shared.address_slot(inc.remote_address().ip()) else {
                    inc.refuse();
                    continue;
                };
                let shared = shared.clone();
                tokio::spawn(async move {
                    let peer = inc.remote_address();
                    let deadline = Instant::now() + shared.timeouts.first_message;
                    match tokio::time::timeout_at(deadline, inc).await {
                        Ok(Ok(conn)) => serve_conn(&shared, conn, peer, deadline).await,
                        Ok(Err(e)) => debug!(%peer, error = %e, "handshake failed"),
                        Err(_) => debug!(%peer, "handshake too slow; dropped"),
                    }
                    drop(slot);
                    drop(permit);
                });
            }
        }
    }
    endpoint.close(codes::SHUTDOWN.into(), b"hub shutting down");
    let _ = tokio::time::timeout(Duration::from_secs(3), endpoint.wait_idle()).await;
    hub.flush()?;
    Ok(())
}

/// Framed messages over one bidirectional stream.
pub(crate) struct Framed {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    dec: FrameDecoder,
    buf: Vec<u8>,
    timeouts: Timeouts,
    /// When set, the next message must be complete by then (the first message's deadline).
    deadline: Option<Instant>,
    /// The hub-wide budget for large partial frames, and this connection's share of it.
    budget: Arc<Semaphore>,
    held: Option<OwnedSemaphorePermit>,
    /// The frame being received had to wait for room: if it misses its deadline, the hub was busy.
    waited: bool,
}

impl Framed {
    pub(crate) async fn send(&mut self, msg: &Msg) -> Result<(), ConnError> {
        self.send
            .write_all(&encode_frame(msg))
            .await
            .map_err(|e| ConnError::Net(e.to_string()))
    }

    /// The next message. Bounded in time three ways: no bytes for `timeouts.read`, a frame begun but
    /// not finished within `timeouts.frame`, or (first message) past `deadline`. Memory is bounded by
    /// the decoder: one partial frame (at most `MAX_FRAME`) plus one read chunk.
    pub(crate) async fn recv(&mut self) -> Result<Option<Msg>, ConnError> {
        let mut frame_started: Option<Instant> = None;
        loop {
            let next = self.dec.next_msg();
            if !matches!(next, Ok(None)) {
                self.held = None; // the frame is out of the buffer: its share goes back
                self.waited = false;
            }
            if let Some(m) = next? {
                return Ok(Some(m));
            }
            let now = Instant::now();
            if !self.dec.is_empty() {
                frame_started.get_or_insert(now);
            }
            if let Some(t) = frame_started {
                self.reserve(t + self.timeouts.frame).await?;
            }
            let mut until = now + self.timeouts.read;
            let mut why = "peer sent nothing for too long";
            if let Some(t) = frame_started {
                if t + self.timeouts.frame < until {
                    until = t + self.timeouts.frame;
                    why = "peer too slow to finish a frame";
                }
            }
            if let Some(d) = self.deadline {
                if d < until {
                    until = d;
                    why = "peer too slow to send its first message";
                }
            }
            let read = tokio::time::timeout_at(until, self.recv.read(&mut self.buf)).await;
            let Ok(read) = read else {
                if self.waited {
                    return Err(ConnError::Busy);
                }
                return Err(ConnError::Timeout(why));
            };
            match read {
                Ok(Some(n)) => self.dec.push(&self.buf[..n]),
                Ok(None) if self.dec.is_empty() => return Ok(None),
                Ok(None) => return Err(ConnError::Net("stream ended inside a frame".into())),
                Err(e) => return Err(ConnError::Net(e.to_string())),
            }
        }
    }

    /// Takes this connection's share of the frame budget for the frame being received, once its
    /// length is known and it is larger than a read chunk (smaller ones are within the per-connection
    /// bound). Waits without reading, so the peer is held back by flow control, until `until`.
    async fn reserve(&mut self, until: Instant) -> Result<(), ConnError> {
        if self.held.is_some() {
            return Ok(());
        }
        let Some(len) = self.dec.frame_len() else {
            return Ok(());
        };
        if len <= limits::READ_CHUNK || len > limits::MAX_FRAME {
            return Ok(()); // too large: the decoder refuses it at the next call
        }
        let n = u32::try_from(len + 4).unwrap_or(u32::MAX);
        let budget = self.budget.clone();
        let permit = match budget.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(_) => {
                debug!(len, "frame budget full; waiting before reading this frame");
                self.waited = true;
                match tokio::time::timeout_at(until, budget.acquire_many_owned(n)).await {
                    // Room that came only at the deadline is too late to read the frame in.
                    Ok(Ok(_)) if Instant::now() >= until => return Err(ConnError::Busy),
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(ConnError::Net("hub shutting down".into())),
                    Err(_) => return Err(ConnError::Busy),
                }
            }
        };
        self.held = Some(permit);
        Ok(())
    }

    /// Finishes our side, waits for the peer to finish its side and close.
    pub(crate) async fn finish(&mut self, conn: &quinn::Connection) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(_)) = self.recv().await {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    }
}

async fn serve_conn(shared: &Shared, conn: quinn::Connection, peer: SocketAddr, deadline: Instant) {
    let hub = &shared.hub;
    let (send, recv) = match tokio::time::timeout_at(deadline, conn.accept_bi()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "no stream");
            return;
        }
        Err(_) => {
            debug!(%peer, "no stream opened in time; dropped");
            conn.close(codes::TIMEOUT.into(), b"no stream opened in time");
            return;
        }
    };
    let mut io = Framed {
        send,
        recv,
        dec: FrameDecoder::new(),
        buf: vec![0; limits::READ_CHUNK],
        timeouts: shared.timeouts,
        deadline: Some(deadline),
        budget: shared.frame_budget.clone(),
        held: None,
        waited: false,
    };
    let Some(fp) = peer_fingerprint(&conn) else {
        conn.close(codes::PROTOCOL.into(), b"no client certificate");
        return;
    };
    let first = io.recv().await;
    // An office's sync opens with what it knows of the standby (see `standby_peer.rs`).
    let first = crate::standby_peer::preamble(hub, &mut io, fp, first, peer).await;
    io.deadline = None;
    let result = match first {
        Ok(Some(Msg::Enroll(req))) => enroll(hub, &conn, &mut io, fp, req, peer).await,
        // A standby hub: its first contact, then each follow session (see `follow.rs`).
        Ok(Some(Msg::StandbyEnroll(req))) => {
            crate::follow::enroll_standby(hub, &conn, &mut io, fp, req, peer).await
        }
        Ok(Some(Msg::RegistryRequest)) => {
            crate::follow::serve_standby(hub, &conn, &mut io, fp, peer).await
        }
        Ok(Some(Msg::RoleQuery)) => crate::follow::answer_role(hub, &conn, &mut io, fp, peer).await,
        // An enrolled office carrying another's runs (issue 14, `relay.rs`).
        Ok(Some(Msg::RelayFor(office))) => {
            crate::relay::serve(hub, &conn, &mut io, fp, office, peer).await
        }
        Ok(Some(Msg::RelayOfficesQuery)) => {
            crate::relay::serve_offices(hub, &mut io, fp, peer).await
        }
        Ok(Some(Msg::Hello(h))) => {
            let began = std::time::Instant::now();
            let r = sync(shared, &conn, &mut io, fp, h, peer).await;
            use crate::metrics::Outcome;
            let outcome = match &r {
                Ok(()) => Outcome::Ok,
                Err(ConnError::Refused(_)) => Outcome::Refused,
                Err(ConnError::Timeout(_)) => Outcome::Timeout,
                Err(_) => Outcome::Error,
            };
            hub.metrics().sync_ended(outcome, began.elapsed());
            r
        }
        Ok(Some(_)) => Err(ConnError::Proto(baobi_proto::Error::Protocol(
            "first message must be Enroll or Hello".into(),
        ))),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => conn.close(codes::OK.into(), b"done"),
        Err(ConnError::Refused(r)) => {
            // Counted (and, for a sync, its outcome recorded above) before the peer hears it.
            hub.metrics().refused(r.code);
            let why = format!("{:?}", r.code);
            if io.send(&Msg::Refused(r)).await.is_ok() {
                let _ = io.send.finish();
                let _ = tokio::time::timeout(Duration::from_secs(3), conn.closed()).await;
            }
            conn.close(codes::REFUSED.into(), why.as_bytes());
        }
        Err(ConnError::Store(e)) => {
            tracing::error!(%peer, error = %e, "store error");
            conn.close(codes::PROTOCOL.into(), b"hub store error");
        }
        Err(ConnError::Busy) => {
            warn!(%peer, "dropped a peer whose frame found no room in the frame budget in time");
            conn.close(
                codes::BUSY.into(),
                "hub bận, thử lại sau / hub busy, try again later".as_bytes(),
            );
        }
        Err(ConnError::Timeout(why)) => {
            warn!(%peer, why, "dropped a silent or slow peer");
            conn.close(codes::TIMEOUT.into(), why.as_bytes());
        }
        Err(e) => {
            warn!(%peer, error = %e, "connection closed with an error");
            conn.close(codes::PROTOCOL.into(), b"protocol error");
        }
    }
}

/// Turns a protocol violation (bad frame, oversized batch, out-of-turn message) into a clear
/// `Refused(Protocol)` before the connection closes; a refusal the peer itself sent passes through.
pub(crate) fn protocol_refusal(peer: SocketAddr, who: &str, e: baobi_proto::Error) -> ConnError {
    if let baobi_proto::Error::Refused(_) = e {
        return ConnError::Proto(e);
    }
    refuse(
        peer,
        who,
        RefusalCode::Protocol,
        format!("vi phạm giao thức / protocol violation: {e}"),
    )
}

/// Runs store work (reads that scan, writes that flush) off the async workers: a flush blocks for
/// milliseconds, and 200 offices finishing at once must not stall every connection's I/O meanwhile.
pub(crate) async fn blocking<T: Send + 'static>(
    hub: &Arc<Hub>,
    f: impl FnOnce(&Hub) -> crate::Result<T> + Send + 'static,
) -> Result<T, ConnError> {
    let h = hub.clone();
    Ok(tokio::task::spawn_blocking(move || f(&h))
        .await
        .map_err(|e| ConnError::Net(e.to_string()))??)
}

/// Logs a refusal and returns the error that ends the conversation. `serve_conn` counts it and
/// only then sends it, so a peer that hears `Refused` finds it already in the metrics.
pub(crate) fn refuse(peer: SocketAddr, who: &str, code: RefusalCode, message: String) -> ConnError {
    warn!(%peer, agent = who, reason = ?code, %message, "refused");
    ConnError::Refused(Refusal { code, message })
}

async fn enroll(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    req: EnrollRequest,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let who = req.author.short();
    if !req
        .author
        .verify(&enroll_proof_bytes(&req.secret, &fp), &req.proof)
    {
        return Err(refuse(
            peer,
            &who,
            RefusalCode::BadSignature,
            "enrollment proof does not verify for the presented certificate".into(),
        ));
    }
    let label: String = req.label.chars().take(MAX_TEXT.min(200)).collect();
    let h = hub.clone();
    let author = req.author;
    let secret = req.secret;
    let res = tokio::task::spawn_blocking(move || h.redeem(&secret, author, fp, &label))
        .await
        .map_err(|e| ConnError::Net(e.to_string()))??;
    let agent = match res {
        Ok(a) => a,
        Err(msg) => {
            return Err(refuse(peer, &who, RefusalCode::BadToken, msg));
        }
    };
    // The office's jurisdiction entry, before it is told it is enrolled: its first sync brings it.
    let h = hub.clone();
    let agent = tokio::task::spawn_blocking(move || crate::office::settle(&h, &agent))
        .await
        .map_err(|e| ConnError::Net(e.to_string()))??;
    let office = crate::office::office(hub, &agent)?;
    let unit_name = hub.with_units(|u| match office.units.first().and_then(|r| u.version(r)) {
        Some(v) => v.name.clone(),
        None => u.name(&agent.unit),
    });
    info!(%peer, agent = %who, unit = %agent.unit, label = %agent.label, "enrolled");
    io.send(&Msg::Enrolled(EnrollReply {
        hub_author: hub.keypair().author(),
        province: hub.province().to_string(),
        province_name: hub.province_name().to_string(),
        unit: agent.unit.clone(),
        unit_name,
    }))
    .await?;
    io.finish(conn).await;
    Ok(())
}

async fn sync(
    shared: &Shared,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    hello: Hello,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let hub = &shared.hub;
    let agent: AgentRec = match blocking(hub, move |h| h.agent_by_fp(&fp)).await? {
        Some(a) => a,
        None => {
            return Err(refuse(
                peer,
                "?",
                RefusalCode::NotEnrolled,
                "this office is not enrolled at the hub".into(),
            ))
        }
    };
    let who = agent.author.short();
    if agent.revoked {
        let message = match hub.replaced_by(&agent.author)? {
            Some(new) => format!(
                "khóa này đã bị thay khi khôi phục văn phòng (khóa mới {}) / this key was retired \
                 when the office was restored (new key {}); it can never write again",
                new.short(),
                new.short()
            ),
            None => {
                "đăng ký của văn phòng đã bị thu hồi / this office's enrollment was revoked".into()
            }
        };
        return Err(refuse(peer, &who, RefusalCode::Revoked, message));
    }
    // Offices enrolled before jurisdiction entries existed get theirs now (a failure only delays it:
    // the checks fall back on the unit's version in force today).
    let a = agent.clone();
    let agent = match blocking(hub, move |h| crate::office::settle(h, &a)).await {
        Ok(a) => a,
        Err(e) => {
            warn!(%peer, agent = %who, error = %e, "office jurisdiction entry not written");
            agent
        }
    };
    let ticket = shared.sessions.begin(agent.author, conn, hub);
    let result = session_loop(hub, conn, io, &agent, hello, peer, None).await;
    shared.sessions.end(&agent.author, ticket, hub);
    result
}

/// One office's sync session; `relay` is the office carrying it (a relayed sync), which is sent
/// the hub's receipt for `agent`'s log at the end.
pub(crate) async fn session_loop(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    agent: &AgentRec,
    hello: Hello,
    peer: SocketAddr,
    relay: Option<&AgentRec>,
) -> Result<(), ConnError> {
    let who = agent.author.short();
    let a = agent.clone();
    let mut session = Session::server(blocking(hub, move |h| h.scoped_summary(&a)).await?);
    let a = agent.clone();
    let audience = blocking(hub, move |h| crate::office::audience(h, &a)).await?;
    if let Err(e) = session.handle(Msg::Hello(hello)) {
        return Err(protocol_refusal(peer, &who, e));
    }
    let mut sending: Option<VecDeque<Range>> = None;
    let mut received = 0u64;
    let mut sent = 0u64;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => sending = Some(ranges.into()),
                Event::Received { id, runs } => {
                    let (h, a) = (hub.clone(), agent.clone());
                    let res = tokio::task::spawn_blocking(move || {
                        let began = std::time::Instant::now();
                        let r = check::merge_runs(&h, &a, &runs);
                        h.metrics().merge_seconds.observe(began.elapsed());
                        r
                    })
                    .await
                    .map_err(|e| ConnError::Net(e.to_string()))??;
                    match res {
                        Ok(n) => {
                            received += n;
                            hub.metrics().merged(n);
                            session.stored(id)?;
                        }
                        Err(r) => {
                            let author = agent.author;
                            let _ = blocking(hub, move |h| h.note_sync(&author, received)).await;
                            return Err(refuse(peer, &who, r.code, r.message));
                        }
                    }
                }
                Event::Acked { entries, .. } => sent += entries as u64,
                Event::Finished => {}
            }
        }
        if let Some(q) = &mut sending {
            while session.can_send() && !q.is_empty() {
                let runs = next_batch(hub, q, |run| audience.filter(hub, run))?;
                if runs.is_empty() {
                    break;
                }
                session.push_runs(runs)?;
            }
            if q.is_empty() {
                session.finish_sending()?;
                sending = None;
            }
        }
        while let Some(m) = session.poll_transmit() {
            io.send(&m).await?;
        }
        if session.is_finished() {
            break;
        }
        match io.recv().await {
            Ok(Some(m)) => {
                if let Err(e) = session.handle(m) {
                    return Err(protocol_refusal(peer, &who, e));
                }
            }
            Ok(None) => return Err(ConnError::Net("agent ended the stream early".into())),
            Err(ConnError::Proto(e)) => return Err(protocol_refusal(peer, &who, e)),
            Err(e) => return Err(e),
        }
    }
    if relay.is_some() {
        let author = agent.author;
        let r = blocking(hub, move |h| crate::relay::receipt(h, &author)).await?;
        io.send(&Msg::Receipts(vec![r])).await?;
    }
    io.finish(conn).await;
    let author = agent.author;
    blocking(hub, move |h| h.note_sync(&author, received)).await?;
    info!(%peer, agent = %who, received, sent, up_to_date = session.stats().up_to_date, "synced");
    if let Some(r) = relay {
        info!(%peer, agent = %who, relay = %r.author.short(), relay_label = %r.label,
            "relayed sync done: this office's entries were relayed by another office");
    }
    Ok(())
}

/// Fills one batch with runs of the ranges in `q`, across ranges, up to `BATCH` entries, each passed
/// through `filter` (what the peer may see); ranges it uses up leave `q`. Empty when `q` holds nothing
/// more. An office's sync and a standby's follow send this way.
pub(crate) fn next_batch(
    hub: &Hub,
    q: &mut VecDeque<Range>,
    mut filter: impl FnMut(Run) -> crate::Result<Run>,
) -> crate::Result<Vec<Run>> {
    let mut runs = vec![];
    let mut room = BATCH;
    while let Some(r) = q.front_mut() {
        let Some(run) = hub.run(&r.author, r.from, r.to, room)? else {
            if room < BATCH {
                break; // the next run opens the next batch
            }
            q.pop_front(); // nothing held there
            continue;
        };
        let run = filter(run)?;
        room -= run.items.len();
        if run.last() >= r.to {
            q.pop_front();
        } else {
            r.from = run.last() + 1;
        }
        runs.push(run);
        if room == 0 {
            break;
        }
    }
    Ok(runs)
}

/// A hub serving in this process (QUIC and the control socket), as `serve` and the demo run it.
#[derive(Debug)]
pub struct Running {
    /// The bound address.
    pub addr: SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    quic: tokio::task::JoinHandle<crate::Result<()>>,
    control: tokio::task::JoinHandle<crate::Result<()>>,
}

async fn stopped(mut rx: tokio::sync::watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

/// Binds `addr`, records it as the last listen address, and serves QUIC and `DIR/hub.sock`.
pub async fn start(hub: Arc<Hub>, addr: SocketAddr) -> crate::Result<Running> {
    start_with(hub, addr, Timeouts::default(), Bounds::default()).await
}

/// [`start`] with explicit deadlines and bounds.
pub async fn start_with(
    hub: Arc<Hub>,
    addr: SocketAddr,
    timeouts: Timeouts,
    bounds: Bounds,
) -> crate::Result<Running> {
    let listener = crate::control::bind(hub.dir())?;
    let endpoint = crate::net::endpoint(&hub, addr)?;
    let addr = endpoint.local_addr()?;
    hub.set_meta("listen", &addr.to_string())?;
    let (tx, rx) = tokio::sync::watch::channel(false);
    let control = tokio::spawn(crate::control::serve(
        hub.clone(),
        listener,
        stopped(rx.clone()),
    ));
    let quic = tokio::spawn(run_with(endpoint, hub, stopped(rx), timeouts, bounds));
    Ok(Running {
        addr,
        stop: tx,
        quic,
        control,
    })
}

impl Running {
    /// Stops serving: closes the endpoint (code 0), removes the socket, flushes the store.
    pub async fn stop(self) -> crate::Result<()> {
        let _ = self.stop.send(true);
        self.wait().await
    }

    /// Waits until serving stops (after `stop` or a fatal error).
    pub async fn wait(self) -> crate::Result<()> {
        let quic = self.quic.await;
        let control = self.control.await;
        for r in [quic, control] {
            match r {
                Ok(r) => r?,
                Err(e) => return Err(crate::Error::Io(std::io::Error::other(e.to_string()))),
            }
        }
        Ok(())
    }

    /// A handle that stops the hub when sent `true` (for signal handlers).
    pub fn stopper(&self) -> tokio::sync::watch::Sender<bool> {
        self.stop.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_address_is_an_ipv4_address_or_an_ipv6_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), key("::ffff:203.0.113.7"));
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
