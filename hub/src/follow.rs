//! A standby hub: its first contact with the primary, the follow loop that keeps it a copy of the
//! primary while it serves, and the primary's side of both.
//!
//! The standby has its own key and certificate. `baobi-hub init --standby-of TOKEN` connects to the
//! primary pinned to the fingerprint in the token, proves its key (`StandbyEnroll`, the enrollment
//! proof over its certificate's fingerprint) and the primary records its certificate (`S` keys): from
//! then on each side pins the other. While it serves, the standby follows: each round is one
//! connection on which it asks for the registry of offices (`RegistryRequest` → `Registry`, then the
//! primary's `Settings` and its operator's `RelayWords`, each taken whole), then runs the ordinary
//! `proto::Session` as a client whose scope, at the primary, is every author. It sends nothing;
//! every run it receives is checked (`Hub::merge_followed`: each office's seal, log and jurisdiction,
//! the primary's runs under the primary's key) and stored durably before it is acknowledged. The
//! primary sends its own log first, so units arrive before the entries that name them. `promote`
//! ends the loop.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::identity::{fingerprint, PeerPin};
use baobi_proto::session::Event;
use baobi_proto::standby::{RoleAnswer, StandbyEnroll, StandbyWelcome};
use baobi_proto::wire::{
    encode_frame, enroll_proof_bytes, FrameDecoder, Msg, Refusal, RefusalCode, ALPN,
};
use baobi_proto::{AuthorId, Keypair, Range, Session, Token};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tracing::{info, warn};

use crate::server::{blocking, next_batch, protocol_refusal, refuse, ConnError, Framed};
use crate::store::standby::Role;
use crate::store::Hub;

/// Default pause between two follow rounds (`serve --follow-secs`).
pub const FOLLOW_EVERY: Duration = Duration::from_secs(5);
/// Longest pause after failed rounds (the backoff doubles from one second up to this).
pub const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// How long connecting to the primary may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long the primary may stay silent during a round.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong at a first contact or a follow round.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The primary did not answer.
    #[error("máy chủ chính không trả lời / the primary does not answer at {addr}: {detail}")]
    Unreachable {
        /// Where.
        addr: String,
        /// Why.
        detail: String,
    },
    /// The certificate at the primary's address is not the pinned one.
    #[error(
        "chứng chỉ của máy chủ tại {0} không khớp với dấu vân tay đã ghim / the certificate of the \
         hub at {0} does not match the pinned fingerprint"
    )]
    Mismatch(String),
    /// The primary refused.
    #[error("máy chủ chính từ chối / refused by the primary ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    /// The standby refused what the primary sent (logged; nothing of that batch is stored).
    #[error("máy chủ dự phòng từ chối dữ liệu / the standby refused a batch ({:?}): {}", .0.code, .0.message)]
    Rejected(Refusal),
    /// The exchange broke or the primary broke the protocol.
    #[error("{0}")]
    Protocol(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] crate::Error),
}

impl From<baobi_proto::Error> for Error {
    fn from(e: baobi_proto::Error) -> Self {
        match e {
            baobi_proto::Error::Refused(r) => Error::Refused(r),
            e => Error::Protocol(e.to_string()),
        }
    }
}

/// Result with the follow error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

// ---- the primary's side ----

/// A standby's first contact: checks the proof and the token, records the standby's certificate,
/// answers with what the standby needs to be the same province.
pub(crate) async fn enroll_standby(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    req: StandbyEnroll,
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
            "bằng chứng khóa không hợp lệ / the standby's proof does not verify for its certificate"
                .into(),
        ));
    }
    if !matches!(hub.role()?, Role::Primary) {
        return Err(refuse(
            peer,
            &who,
            RefusalCode::BadToken,
            "máy chủ này là máy chủ dự phòng / this hub is a standby itself".into(),
        ));
    }
    let addr: String = req.addr.chars().take(200).collect();
    let secret = req.secret;
    let author = req.author;
    // A national hub's token (store/national.rs) is redeemed as a national hub, never a standby.
    let res = blocking(hub, move |h| {
        match h.redeem_national(&secret, author, fp)? {
            Some(r) => Ok(r),
            None => h.redeem_standby(&secret, author, fp, &addr),
        }
    })
    .await?;
    let rec = match res {
        Ok(r) => r,
        Err(msg) => return Err(refuse(peer, &who, RefusalCode::BadToken, msg)),
    };
    info!(%peer, standby = %who, addr = %rec.addr, "standby recorded");
    let lineage_csv = hub.meta("lineage")?.unwrap_or_default();
    io.send(&Msg::StandbyWelcome(StandbyWelcome {
        hub_author: hub.keypair().author(),
        province: hub.province().to_string(),
        province_name: hub.province_name().to_string(),
        lineage_csv,
    }))
    .await?;
    io.finish(conn).await;
    Ok(())
}

/// One follow round of a recorded standby: the registry, then a session in which the standby's
/// scope is every author and the primary's own log goes first. A standby sends no entries.
pub(crate) async fn serve_standby(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let Some(sb) = blocking(hub, move |h| h.follower_by_fp(&fp)).await? else {
        return Err(refuse(
            peer,
            "?",
            RefusalCode::NotEnrolled,
            "không phải máy chủ dự phòng của máy chủ này / not a standby of this hub".into(),
        ));
    };
    let who = sb.author.short();
    let reg = blocking(hub, |h| h.registry()).await?;
    io.send(&Msg::Registry(reg)).await?;
    let settings = blocking(hub, |h| h.settings()).await?;
    io.send(&Msg::Settings(crate::store::settings_wire(&settings)))
        .await?;
    let words = blocking(hub, |h| h.relay_words()).await?;
    io.send(&Msg::RelayWords(words)).await?;
    let hello = match io.recv().await {
        Ok(Some(Msg::Hello(h))) => h,
        Ok(None) => return Ok(()),
        Ok(Some(_)) => {
            return Err(protocol_refusal(
                peer,
                &who,
                baobi_proto::Error::Protocol("expected Hello after the registry".into()),
            ))
        }
        Err(ConnError::Proto(e)) => return Err(protocol_refusal(peer, &who, e)),
        Err(e) => return Err(e),
    };
    let summary = blocking(hub, |h| {
        // Under the merge lock, as for offices: nothing shown that is not yet durable.
        let _g = h.lock();
        h.summary()
    })
    .await?;
    let me = hub.keypair().author();
    let mut session = Session::server(summary);
    if let Err(e) = session.handle(Msg::Hello(hello)) {
        return Err(protocol_refusal(peer, &who, e));
    }
    let mut queue: Option<std::collections::VecDeque<Range>> = None;
    let mut sent = 0u64;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(mut ranges) => {
                    // The hub's own log first: units before the entries that name them.
                    ranges.sort_by_key(|r| r.author != me);
                    queue = Some(ranges.into());
                }
                Event::Received { .. } => {
                    return Err(refuse(
                        peer,
                        &who,
                        RefusalCode::WrongAuthor,
                        "máy chủ dự phòng không gửi bản ghi / a standby sends no entries".into(),
                    ));
                }
                Event::Acked { entries, .. } => sent += entries as u64,
                Event::Finished => {}
            }
        }
        if let Some(q) = &mut queue {
            while session.can_send() && !q.is_empty() {
                let runs = next_batch(hub, q, Ok)?;
                if runs.is_empty() {
                    break;
                }
                session.push_runs(runs)?;
            }
            if q.is_empty() {
                session.finish_sending()?;
                queue = None;
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
            Ok(None) => return Err(ConnError::Net("standby ended the stream early".into())),
            Err(ConnError::Proto(e)) => return Err(protocol_refusal(peer, &who, e)),
            Err(e) => return Err(e),
        }
    }
    io.finish(conn).await;
    info!(%peer, standby = %who, sent, "standby followed");
    Ok(())
}

/// The standby's side of [`superseded`]: answers the primary it follows (or followed), recognised
/// by the pinned certificate, whether it was promoted.
pub(crate) async fn answer_role(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let followed = hub.meta(crate::store::standby::META_PRIMARY_FP)?;
    if followed.as_deref() != Some(data_encoding::HEXLOWER.encode(&fp).as_str()) {
        return Err(refuse(
            peer,
            "?",
            RefusalCode::NotEnrolled,
            "không phải máy chủ chính mà máy chủ này theo dõi / not the primary this hub follows"
                .into(),
        ));
    }
    let promoted = matches!(hub.role()?, Role::Primary);
    let promoted_at = hub
        .meta("promoted_at")?
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    io.send(&Msg::Role(RoleAnswer {
        promoted,
        promoted_at,
    }))
    .await?;
    io.finish(conn).await;
    Ok(())
}

// ---- the standby's side ----

/// Accepts the primary iff its certificate's fingerprint is the pinned one.
#[derive(Debug)]
struct PinnedPrimary {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    mismatch: Arc<AtomicBool>,
}

impl ServerCertVerifier for PinnedPrimary {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity.as_ref()) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            self.mismatch.store(true, Ordering::SeqCst);
            Err(rustls::Error::General(
                "primary certificate does not match the pinned fingerprint".into(),
            ))
        }
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A connection to the primary with its one stream.
struct Client {
    endpoint: quinn::Endpoint,
    conn: quinn::Connection,
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    dec: FrameDecoder,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(
        keypair: &Keypair,
        cert_der: &[u8],
        pin: &PeerPin,
        within: Duration,
    ) -> Result<Client> {
        let unreachable = |detail: String| Error::Unreachable {
            addr: pin.addr.clone(),
            detail,
        };
        let addr = tokio::net::lookup_host(&pin.addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .next()
            .ok_or_else(|| unreachable("cannot resolve".into()))?;
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mismatch = Arc::new(AtomicBool::new(false));
        let setup = |e: String| Error::Protocol(format!("tls setup: {e}"));
        let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|e| setup(e.to_string()))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(PinnedPrimary {
                pin: pin.fingerprint,
                provider,
                mismatch: mismatch.clone(),
            }))
            .with_client_auth_cert(
                vec![CertificateDer::from(cert_der.to_vec())],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(keypair.pkcs8_der())),
            )
            .map_err(|e| setup(e.to_string()))?;
        tls.alpn_protocols = vec![ALPN.to_vec()];
        let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
            .map_err(|e| setup(e.to_string()))?;
        let mut transport = quinn::TransportConfig::default();
        transport.keep_alive_interval(Some(Duration::from_secs(10)));
        transport.max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(60))
                .map_err(|e| setup(e.to_string()))?,
        ));
        transport.max_concurrent_uni_streams(0u32.into());
        transport.max_concurrent_bidi_streams(0u32.into());
        let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
        cfg.transport_config(Arc::new(transport));
        let bind: SocketAddr = if addr.is_ipv6() {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let endpoint = quinn::Endpoint::client(bind).map_err(|e| setup(e.to_string()))?;
        let connecting = endpoint
            .connect_with(cfg, addr, "baobi-hub")
            .map_err(|e| unreachable(e.to_string()))?;
        let conn = match tokio::time::timeout(within, connecting).await {
            Err(_) => {
                endpoint.close(0u32.into(), b"timeout");
                return Err(unreachable(format!(
                    "no answer within {} s",
                    within.as_secs()
                )));
            }
            Ok(Err(_)) if mismatch.load(Ordering::SeqCst) => {
                return Err(Error::Mismatch(pin.addr.clone()))
            }
            Ok(Err(e)) => return Err(unreachable(e.to_string())),
            Ok(Ok(c)) => c,
        };
        let (send, recv) = conn
            .open_bi()
            .await
            .map_err(|e| Error::Protocol(e.to_string()))?;
        Ok(Client {
            endpoint,
            conn,
            send,
            recv,
            dec: FrameDecoder::new(),
            buf: vec![0; 64 * 1024],
        })
    }

    async fn send(&mut self, m: &Msg) -> Result<()> {
        self.send
            .write_all(&encode_frame(m))
            .await
            .map_err(|e| Error::Protocol(format!("connection lost: {e}")))
    }

    async fn recv(&mut self) -> Result<Option<Msg>> {
        loop {
            if let Some(m) = self.dec.next_msg()? {
                return Ok(Some(m));
            }
            let read = tokio::time::timeout(READ_TIMEOUT, self.recv.read(&mut self.buf))
                .await
                .map_err(|_| Error::Protocol("the primary went silent".into()))?;
            match read {
                Ok(Some(n)) => self.dec.push(&self.buf[..n]),
                Ok(None) if self.dec.is_empty() => return Ok(None),
                Ok(None) => return Err(Error::Protocol("stream ended inside a frame".into())),
                Err(e) => return Err(Error::Protocol(format!("connection lost: {e}"))),
            }
        }
    }

    /// The next message, which must be there: a refusal becomes [`Error::Refused`].
    async fn expect(&mut self) -> Result<Msg> {
        match self.recv().await? {
            Some(Msg::Refused(r)) => Err(Error::Refused(r)),
            Some(m) => Ok(m),
            None => Err(Error::Protocol(
                "the primary closed without answering".into(),
            )),
        }
    }

    async fn close(mut self) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Ok(Some(_)) = self.recv().await {}
        })
        .await;
        self.conn.close(0u32.into(), b"done");
        let _ = tokio::time::timeout(Duration::from_secs(1), self.endpoint.wait_idle()).await;
    }
}

/// `init --standby-of`: makes a standby in `dir` from a standby token, offices to reach it at
/// `addr`. The primary is contacted first; nothing is written unless it accepts.
pub async fn first_contact(dir: &std::path::Path, token: &Token, addr: &str) -> Result<Hub> {
    if dir.join("db").exists() || dir.join("conf").exists() {
        return Err(Error::Store(crate::Error::Invalid(format!(
            "{} already holds a hub store / đã có dữ liệu máy chủ",
            dir.display()
        ))));
    }
    let keypair = Keypair::generate();
    let cert_der = crate::store::make_cert(&keypair, "baobi-hub")?;
    first_contact_as(dir, token, addr, &keypair, &cert_der).await
}

/// [`first_contact`] with a key and certificate of the caller's (a national hub presents the same
/// key to every province it follows).
pub(crate) async fn first_contact_as(
    dir: &std::path::Path,
    token: &Token,
    addr: &str,
    keypair: &Keypair,
    cert_der: &[u8],
) -> Result<Hub> {
    let pin = PeerPin {
        addr: token.addr.clone(),
        fingerprint: token.hub_fingerprint,
    };
    let mut c = Client::connect(keypair, cert_der, &pin, CONNECT_TIMEOUT).await?;
    let proof = keypair.sign(&enroll_proof_bytes(&token.secret, &fingerprint(cert_der)));
    c.send(&Msg::StandbyEnroll(StandbyEnroll {
        secret: token.secret,
        author: keypair.author(),
        addr: addr.to_string(),
        proof,
    }))
    .await?;
    let reply = c.expect().await;
    c.close().await;
    match reply? {
        Msg::StandbyWelcome(w) => Ok(Hub::init_standby(dir, keypair, cert_der, &w, &pin)?),
        _ => Err(Error::Protocol(
            "unexpected answer to the standby's first contact".into(),
        )),
    }
}

/// How long a primary about to serve waits for each of its standbys to answer [`superseded`].
pub const ROLE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// Before a primary serves: asks each standby it recorded whether it was promoted meanwhile (the
/// primary was down and offices moved to the standby). Returns the promoted standby's address and
/// when, so that `serve` refuses to start a second primary; a standby that does not answer is
/// logged and does not stop the primary (it cannot tell).
pub async fn superseded(hub: &Arc<Hub>) -> Result<Option<(String, i64)>> {
    if !matches!(hub.role()?, Role::Primary) {
        return Ok(None);
    }
    for sb in hub.standbys()? {
        let pin = PeerPin {
            addr: sb.addr.clone(),
            fingerprint: sb.cert_fp,
        };
        let mut c =
            match Client::connect(hub.keypair(), hub.cert_der(), &pin, ROLE_QUERY_TIMEOUT).await {
                Ok(c) => c,
                Err(e) => {
                    warn!(standby = %sb.author.short(), error = %e,
                        "could not ask the standby whether it was promoted; serving");
                    continue;
                }
            };
        let answer = async {
            c.send(&Msg::RoleQuery).await?;
            c.expect().await
        }
        .await;
        c.close().await;
        match answer {
            Ok(Msg::Role(r)) if r.promoted => return Ok(Some((sb.addr, r.promoted_at))),
            Ok(Msg::Role(_)) => {}
            Ok(_) => warn!(standby = %sb.author.short(), "unexpected answer to the role query"),
            Err(e) => warn!(standby = %sb.author.short(), error = %e, "role query failed"),
        }
    }
    Ok(None)
}

/// What one follow round did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Round {
    /// Offices of the registry added or changed here.
    pub offices: usize,
    /// New entries stored.
    pub received: u64,
}

/// One follow round against the primary; `None` when this hub is not (or no longer) a standby.
pub async fn follow_once(hub: &Arc<Hub>) -> Result<Option<Round>> {
    let Role::Standby { pin, author } = hub.role()? else {
        return Ok(None);
    };
    let mut c = Client::connect(hub.keypair(), hub.cert_der(), &pin, CONNECT_TIMEOUT).await?;
    let r = round(hub, &mut c, author).await;
    match &r {
        Ok(_) => c.close().await,
        Err(_) => {
            c.conn.close(1u32.into(), b"error");
            let _ = tokio::time::timeout(Duration::from_secs(1), c.endpoint.wait_idle()).await;
        }
    }
    r.map(Some)
}

async fn round(hub: &Arc<Hub>, c: &mut Client, primary: AuthorId) -> Result<Round> {
    let mut out = Round::default();
    c.send(&Msg::RegistryRequest).await?;
    let Msg::Registry(reg) = c.expect().await? else {
        return Err(Error::Protocol(
            "the primary did not send its registry".into(),
        ));
    };
    let h = hub.clone();
    out.offices = tokio::task::spawn_blocking(move || h.import_registry(&reg))
        .await
        .map_err(|e| Error::Protocol(e.to_string()))??;
    // The primary's indicator settings (meta, not entries), so the figures here are its figures.
    let Msg::Settings(sw) = c.expect().await? else {
        return Err(Error::Protocol(
            "the primary did not send its settings".into(),
        ));
    };
    let theirs = crate::store::settings_from_wire(&sw)
        .map_err(|e| Error::Protocol(format!("the primary's settings: {e}")))?;
    let h = hub.clone();
    tokio::task::spawn_blocking(move || -> crate::Result<()> {
        if h.settings()? != theirs {
            h.set_settings(&theirs)?;
        }
        Ok(())
    })
    .await
    .map_err(|e| Error::Protocol(e.to_string()))??;
    // The operator's words on relays (meta-like, not entries), so a promoted standby keeps them.
    let Msg::RelayWords(words) = c.expect().await? else {
        return Err(Error::Protocol(
            "the primary did not send its relay words".into(),
        ));
    };
    let h = hub.clone();
    tokio::task::spawn_blocking(move || h.import_relay_words(&words))
        .await
        .map_err(|e| Error::Protocol(e.to_string()))??;
    let h = hub.clone();
    let summary = tokio::task::spawn_blocking(move || {
        let _g = h.lock();
        h.summary()
    })
    .await
    .map_err(|e| Error::Protocol(e.to_string()))??;
    let mut session = Session::client(summary);
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                // A standby sends nothing back: offices bring the primary what it lacks.
                Event::Send(_) => session.finish_sending()?,
                Event::Received { id, runs } => {
                    let h = hub.clone();
                    let res =
                        tokio::task::spawn_blocking(move || h.merge_followed(&primary, &runs))
                            .await
                            .map_err(|e| Error::Protocol(e.to_string()))??;
                    match res {
                        Ok(n) => {
                            out.received += n;
                            session.stored(id)?;
                        }
                        Err(r) => return Err(Error::Rejected(r)),
                    }
                }
                Event::Acked { .. } | Event::Finished => {}
            }
        }
        while let Some(m) = session.poll_transmit() {
            c.send(&m).await?;
        }
        if session.is_finished() {
            return Ok(out);
        }
        match c.recv().await? {
            Some(m) => session.handle(m)?,
            None => {
                return Err(Error::Protocol(
                    "the primary ended the session early".into(),
                ))
            }
        }
    }
}

/// The follow loop `serve` runs on a standby: a round every `every`, with a backoff (1 s doubling
/// up to [`MAX_BACKOFF`], plus jitter) while the primary fails; ends at `stop` or once promoted.
pub async fn run(hub: Arc<Hub>, mut stop: tokio::sync::watch::Receiver<bool>, every: Duration) {
    let mut backoff = Duration::from_secs(1);
    loop {
        let round = tokio::select! {
            r = follow_once(&hub) => r,
            _ = stop.wait_for(|s| *s) => return,
        };
        let wait = match round {
            Ok(None) => {
                info!("this hub is no longer a standby: following stops");
                return;
            }
            Ok(Some(r)) => {
                if r.received > 0 || r.offices > 0 {
                    info!(
                        received = r.received,
                        offices = r.offices,
                        "followed the primary"
                    );
                }
                backoff = Duration::from_secs(1);
                every
            }
            Err(e) => {
                warn!(error = %e, "following the primary failed; retrying");
                let jitter = Duration::from_millis(crate::now_ms() % 500);
                let w = backoff + jitter;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                w
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
