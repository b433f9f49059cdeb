//! The hub's QUIC server: accepts connections concurrently and drives one enrollment or sync per
//! connection with `proto::Session`, storing what agents send through the checked merge.
//!
//! Peer input never panics: a malformed frame, a protocol violation or a refused entry closes only
//! that connection (with a `Refused` message first where the contract says so). Acks are sent only
//! after the batch is flushed to disk.
//!
//! Split along its lines: `address` (connections per source address), `framed` (the framed stream
//! with its deadlines and frame budget), `enroll` (an office's enrollment and its certificate),
//! `session` (an office's sync session), `running` (a hub serving in this process).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::wire::{FrameDecoder, Msg, Refusal, RefusalCode};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::limits::{self, Bounds, Timeouts};
use crate::net::peer_fingerprint;
use crate::store::Hub;
use address::PerAddress;
use enroll::enroll;
use session::{sync, Sessions};

mod address;
mod enroll;
mod framed;
mod running;
mod session;

pub use crate::limits::{MAX_CONNECTIONS, READ_TIMEOUT, SEND_BATCH as BATCH};
pub(crate) use framed::Framed;
pub use running::{start, start_with, Running};
pub(crate) use session::{next_batch, session_loop};

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
    // An office the hub refused `NotEnrolled` opens again with its enrollment certificate.
    let first = crate::standby_cert::preamble(hub, &mut io, fp, first, peer).await;
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
