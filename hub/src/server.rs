//! The hub's QUIC server: accepts connections concurrently and drives one enrollment or sync per
//! connection with `proto::Session`, storing what agents send through the checked merge.
//!
//! Peer input never panics: a malformed frame, a protocol violation or a refused entry closes only
//! that connection (with a `Refused` message first where the contract says so). Acks are sent only
//! after the batch is flushed to disk.

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::session::Event;
use baobi_proto::wire::enroll_proof_bytes;
use baobi_proto::wire::{
    encode_frame, EnrollReply, EnrollRequest, FrameDecoder, Hello, Msg, Refusal, RefusalCode,
    MAX_TEXT,
};
use baobi_proto::{Range, Session};
use tokio::sync::Semaphore;
use tracing::{debug, info, warn};

use crate::check;
use crate::net::peer_fingerprint;
use crate::store::{AgentRec, Hub};

/// Most connections served at once; more are refused at the QUIC layer.
pub const MAX_CONNECTIONS: usize = 1024;
/// Longest wait for the peer's next bytes (keep-alives alone must not hold a connection open).
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Most entries per batch the hub sends.
pub const BATCH: usize = 256;

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
}

/// Why a connection ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("connection: {0}")]
    Net(String),
    #[error(transparent)]
    Proto(#[from] baobi_proto::Error),
    #[error(transparent)]
    Store(#[from] crate::Error),
    #[error("refused ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
}

/// Accepts connections on `endpoint` until `shutdown` completes, then closes the endpoint (code 0),
/// waits briefly for connections to close, and flushes the store.
pub async fn run(
    endpoint: quinn::Endpoint,
    hub: Arc<Hub>,
    shutdown: impl Future<Output = ()>,
) -> crate::Result<()> {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            inc = endpoint.accept() => {
                let Some(inc) = inc else { break };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    warn!(peer = %inc.remote_address(), "too many connections; refusing");
                    inc.refuse();
                    continue;
                };
                let hub = hub.clone();
                tokio::spawn(async move {
                    let peer = inc.remote_address();
                    match inc.await {
                        Ok(conn) => serve_conn(hub, conn, peer).await,
                        Err(e) => debug!(%peer, error = %e, "handshake failed"),
                    }
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
struct Framed {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    dec: FrameDecoder,
    buf: Vec<u8>,
}

impl Framed {
    async fn send(&mut self, msg: &Msg) -> Result<(), ConnError> {
        self.send
            .write_all(&encode_frame(msg))
            .await
            .map_err(|e| ConnError::Net(e.to_string()))
    }

    async fn recv(&mut self) -> Result<Option<Msg>, ConnError> {
        loop {
            if let Some(m) = self.dec.next_msg()? {
                return Ok(Some(m));
            }
            let read = tokio::time::timeout(READ_TIMEOUT, self.recv.read(&mut self.buf)).await;
            let Ok(read) = read else {
                return Err(ConnError::Net("peer sent nothing for too long".into()));
            };
            match read {
                Ok(Some(n)) => self.dec.push(&self.buf[..n]),
                Ok(None) if self.dec.is_empty() => return Ok(None),
                Ok(None) => return Err(ConnError::Net("stream ended inside a frame".into())),
                Err(e) => return Err(ConnError::Net(e.to_string())),
            }
        }
    }

    /// Finishes our side, waits for the peer to finish its side and close.
    async fn finish(&mut self, conn: &quinn::Connection) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(_)) = self.recv().await {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    }
}

async fn serve_conn(hub: Arc<Hub>, conn: quinn::Connection, peer: SocketAddr) {
    let (send, recv) = match tokio::time::timeout(Duration::from_secs(30), conn.accept_bi()).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            debug!(%peer, error = %e, "no stream");
            return;
        }
        Err(_) => {
            conn.close(codes::PROTOCOL.into(), b"no stream opened");
            return;
        }
    };
    let mut io = Framed {
        send,
        recv,
        dec: FrameDecoder::new(),
        buf: vec![0; 64 * 1024],
    };
    let Some(fp) = peer_fingerprint(&conn) else {
        conn.close(codes::PROTOCOL.into(), b"no client certificate");
        return;
    };
    let result = match io.recv().await {
        Ok(Some(Msg::Enroll(req))) => enroll(&hub, &conn, &mut io, fp, req, peer).await,
        Ok(Some(Msg::Hello(h))) => sync(&hub, &conn, &mut io, fp, h, peer).await,
        Ok(Some(_)) => Err(ConnError::Proto(baobi_proto::Error::Protocol(
            "first message must be Enroll or Hello".into(),
        ))),
        Ok(None) => Ok(()),
        Err(e) => Err(e),
    };
    match result {
        Ok(()) => conn.close(codes::OK.into(), b"done"),
        Err(ConnError::Refused(r)) => {
            // Already logged and sent by `refuse`.
            conn.close(codes::REFUSED.into(), format!("{:?}", r.code).as_bytes());
        }
        Err(ConnError::Store(e)) => {
            tracing::error!(%peer, error = %e, "store error");
            conn.close(codes::PROTOCOL.into(), b"hub store error");
        }
        Err(e) => {
            warn!(%peer, error = %e, "connection closed with an error");
            conn.close(codes::PROTOCOL.into(), b"protocol error");
        }
    }
}

/// Sends a refusal, logs it, and returns the error that closes the connection.
async fn refuse(
    conn: &quinn::Connection,
    io: &mut Framed,
    peer: SocketAddr,
    who: &str,
    code: RefusalCode,
    message: String,
) -> ConnError {
    warn!(%peer, agent = who, reason = ?code, %message, "refused");
    let r = Refusal { code, message };
    if io.send(&Msg::Refused(r.clone())).await.is_ok() {
        let _ = io.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(3), conn.closed()).await;
    }
    ConnError::Refused(r)
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
            conn,
            io,
            peer,
            &who,
            RefusalCode::BadSignature,
            "enrollment proof does not verify for the presented certificate".into(),
        )
        .await);
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
            return Err(refuse(conn, io, peer, &who, RefusalCode::BadToken, msg).await);
        }
    };
    let unit_name = hub.with_units(|u| u.name(&agent.unit));
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
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    hello: Hello,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let agent: AgentRec = match hub.agent_by_fp(&fp)? {
        Some(a) => a,
        None => {
            return Err(refuse(
                conn,
                io,
                peer,
                "?",
                RefusalCode::NotEnrolled,
                "this office is not enrolled at the hub".into(),
            )
            .await)
        }
    };
    let who = agent.author.short();
    if agent.revoked {
        return Err(refuse(
            conn,
            io,
            peer,
            &who,
            RefusalCode::Revoked,
            "this office's enrollment was revoked".into(),
        )
        .await);
    }
    let mut session = Session::server(hub.scoped_summary(&agent)?);
    session.handle(Msg::Hello(hello))?;
    let mut sending: Option<VecDeque<Range>> = None;
    let mut received = 0u64;
    let mut sent = 0u64;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => sending = Some(ranges.into()),
                Event::Received { id, entries } => {
                    let (h, a) = (hub.clone(), agent.clone());
                    let res =
                        tokio::task::spawn_blocking(move || check::merge_batch(&h, &a, &entries))
                            .await
                            .map_err(|e| ConnError::Net(e.to_string()))??;
                    match res {
                        Ok(n) => {
                            received += n;
                            session.stored(id)?;
                        }
                        Err(r) => {
                            let _ = hub.note_sync(&agent.author, received);
                            return Err(refuse(conn, io, peer, &who, r.code, r.message).await);
                        }
                    }
                }
                Event::Acked { entries, .. } => sent += entries as u64,
                Event::Finished => {}
            }
        }
        if let Some(q) = &mut sending {
            while session.can_send() {
                let Some(r) = q.front_mut() else { break };
                let batch = hub.entries(&r.author, r.from, r.to, BATCH)?;
                match batch.last() {
                    None => {
                        q.pop_front();
                        continue;
                    }
                    Some(last) if last.seq >= r.to => {
                        q.pop_front();
                    }
                    Some(last) => r.from = last.seq + 1,
                }
                session.push_batch(batch)?;
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
        match io.recv().await? {
            Some(m) => session.handle(m)?,
            None => return Err(ConnError::Net("agent ended the stream early".into())),
        }
    }
    io.finish(conn).await;
    hub.note_sync(&agent.author, received)?;
    info!(%peer, agent = %who, received, sent, up_to_date = session.stats().up_to_date, "synced");
    Ok(())
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
    let quic = tokio::spawn(run(endpoint, hub, stopped(rx)));
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
