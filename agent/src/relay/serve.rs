//! The relay's QUIC server (`baobi-agent daemon --relay ADDR`): offices below it connect as they
//! would to the hub (ALPN `baobi/1`, the relay's certificate made from its author key, pinned by
//! the office) and run their ordinary sync client; this is the server side of `proto::Session`.
//!
//! The office is the key of its TLS certificate (proved by the handshake). The relay accepts from it
//! only runs of its own log that open under their seal and continue what the relay holds of it, keeps
//! them as they came and flushes before it acknowledges; it sends the office the hub's receipts it
//! holds for it (first, before the session) and the runs the hub sent for it. It stores nothing of a
//! batch it refuses, and nothing at all for an office the hub refused or does not list for this
//! relay, nor past its caps ([`super::Limits`]).

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::session::Event;
use baobi_proto::wire::{Msg, Refusal, RefusalCode, Run, ALPN};
use baobi_proto::{AuthorId, Session};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use tracing::{info, warn};

use crate::net::{self, FramedStream};
use crate::store::Store;

/// How long an office may stay silent before the relay drops it.
pub const READ_TIMEOUT: Duration = Duration::from_secs(60);

/// What can go wrong serving.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The office is not enrolled with a hub: it has nothing to relay to.
    #[error(
        "văn phòng chưa đăng ký với máy chủ tỉnh nên không thể làm trạm chuyển tiếp / this office \
         is not enrolled with a hub, so it cannot be a relay"
    )]
    NotEnrolled,
    /// TLS or the socket could not be set up.
    #[error("trạm chuyển tiếp / relay: {0}")]
    Setup(String),
    /// The store failed.
    #[error("{0}")]
    Store(#[from] crate::store::Error),
}

/// Accepts any client certificate whose TLS 1.3 handshake signature verifies (the office is then
/// the certificate's key).
#[derive(Debug)]
struct AnyClient(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClient {
    fn client_auth_mandatory(&self) -> bool {
        true
    }
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }
    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
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
            &self.0.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The QUIC server configuration of a relay (or of a test's raw relay) with identity `id`.
pub fn server_config(id: &net::Identity) -> Result<quinn::ServerConfig, Error> {
    let setup = |e: String| Error::Setup(e);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.keypair.pkcs8_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| setup(e.to_string()))?
        .with_client_cert_verifier(Arc::new(AnyClient(provider)))
        .with_single_cert(vec![CertificateDer::from(id.cert_der.clone())], key)
        .map_err(|e| setup(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    tls.send_tls13_tickets = 0;
    let quic =
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).map_err(|e| setup(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(Duration::from_secs(60))
                .map_err(|e| setup(e.to_string()))?,
        ))
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        .mtu_discovery_config(None)
        .initial_rtt(net::INITIAL_RTT);
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// A QUIC server endpoint on `addr` with identity `id`.
pub fn endpoint(id: &net::Identity, addr: SocketAddr) -> Result<quinn::Endpoint, Error> {
    quinn::Endpoint::server(server_config(id)?, addr).map_err(|e| Error::Setup(e.to_string()))
}

/// The ed25519 key of the peer's certificate on an established connection (the TLS handshake
/// proved the peer holds it).
pub fn peer_author(conn: &quinn::Connection) -> Option<AuthorId> {
    let id = conn.peer_identity()?;
    let certs = id.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    let cert = rustls::server::ParsedCertificate::try_from(certs.first()?).ok()?;
    let spki = cert.subject_public_key_info();
    let b = spki.as_ref();
    // SubjectPublicKeyInfo of an ed25519 key: AlgorithmIdentifier (OID 1.3.101.112), BIT STRING of
    // 32 bytes.
    const TAIL: [u8; 8] = [0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
    if b.len() < 40 || b[b.len() - 40..b.len() - 32] != TAIL {
        return None;
    }
    let key: [u8; 32] = b[b.len() - 32..].try_into().ok()?;
    Some(AuthorId(key))
}

/// Binds `addr` and serves offices until the process ends, under `limits`; returns the bound
/// address.
pub async fn start(
    store: Store,
    addr: SocketAddr,
    limits: super::Limits,
) -> Result<SocketAddr, Error> {
    if store.hub()?.is_none() {
        return Err(Error::NotEnrolled);
    }
    super::set_limits(&store, &limits)?;
    let id = crate::sync::identity(&store).map_err(|e| Error::Setup(e.to_string()))?;
    let ep = endpoint(&id, addr)?;
    let bound = ep.local_addr().map_err(|e| Error::Setup(e.to_string()))?;
    super::set_listen(&store, &bound.to_string())?;
    info!(addr = %bound, "relay listening");
    tokio::spawn(async move {
        while let Some(inc) = ep.accept().await {
            let store = store.clone();
            tokio::spawn(async move {
                let peer = inc.remote_address();
                match tokio::time::timeout(net::CONNECT_TIMEOUT, inc).await {
                    Ok(Ok(conn)) => serve_conn(&store, conn, peer, limits).await,
                    Ok(Err(e)) => tracing::debug!(%peer, error = %e, "relay: handshake failed"),
                    Err(_) => tracing::debug!(%peer, "relay: handshake too slow"),
                }
            });
        }
    });
    Ok(bound)
}

/// Why a relayed session ended early.
#[derive(Debug, thiserror::Error)]
enum ConnError {
    #[error("refused ({:?}): {}", .0.code, .0.message)]
    Refused(Refusal),
    #[error("{0}")]
    Net(#[from] net::Error),
    #[error("{0}")]
    Proto(#[from] baobi_proto::Error),
    #[error("{0}")]
    Store(#[from] crate::store::Error),
    #[error("office silent for too long")]
    Timeout,
}

fn refusal(code: RefusalCode, message: String) -> ConnError {
    ConnError::Refused(Refusal { code, message })
}

async fn serve_conn(
    store: &Store,
    conn: quinn::Connection,
    peer: SocketAddr,
    limits: super::Limits,
) {
    let Some(office) = peer_author(&conn) else {
        warn!(%peer, "relay: the peer's certificate carries no ed25519 key; dropped");
        conn.close(2u32.into(), b"no ed25519 certificate");
        return;
    };
    let (send, recv) = match tokio::time::timeout(READ_TIMEOUT, conn.accept_bi()).await {
        Ok(Ok(s)) => s,
        _ => {
            conn.close(4u32.into(), b"no stream");
            return;
        }
    };
    let mut io = FramedStream::new(send, recv);
    match session(store, &mut io, &office, &limits).await {
        Ok(n) => {
            info!(%peer, office = %office.short(), received = n, "relay: office synced");
            io.finish().await;
            let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
        }
        Err(ConnError::Refused(r)) => {
            warn!(%peer, office = %office.short(), reason = ?r.code, message = %r.message,
                "relay: refused");
            if io.send(&Msg::Refused(r)).await.is_ok() {
                io.finish().await;
                let _ = tokio::time::timeout(Duration::from_secs(3), conn.closed()).await;
            }
            conn.close(1u32.into(), b"refused");
        }
        Err(e) => {
            warn!(%peer, office = %office.short(), error = %e, "relay: session failed");
            conn.close(2u32.into(), b"error");
        }
    }
}

async fn recv(io: &mut FramedStream) -> Result<Msg, ConnError> {
    match tokio::time::timeout(READ_TIMEOUT, io.recv()).await {
        Err(_) => Err(ConnError::Timeout),
        Ok(Ok(Some(m))) => Ok(m),
        Ok(Ok(None)) => Err(ConnError::Net(net::Error::Connection(
            "the office ended the stream early".into(),
        ))),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// Checks a batch of the office's runs against what the relay holds of its log, and returns them
/// cut to start right after it (a run's seal still verifies from any of its links), in order.
/// Runs wholly held already are left out. Nothing is stored here.
fn check_runs(
    office: &AuthorId,
    mut top: u64,
    mut link: [u8; 32],
    runs: Vec<Run>,
) -> Result<(Vec<Run>, u64, [u8; 32]), ConnError> {
    let mut out = vec![];
    for run in runs {
        let span = format!("{}-{}..{}", run.author.short(), run.from, run.last());
        if run.author != *office {
            return Err(refusal(
                RefusalCode::WrongAuthor,
                format!(
                    "trạm chuyển tiếp chỉ nhận bản ghi của chính văn phòng kết nối; {span} không \
                     phải / a relay takes only the connected office's own entries; {span} is not"
                ),
            ));
        }
        let Some(opened) = run.open() else {
            return Err(refusal(
                RefusalCode::BadSignature,
                format!("chữ ký của {span} không hợp lệ / the seal of {span} does not verify"),
            ));
        };
        if run.last() <= top {
            continue;
        }
        if run.from > top + 1 {
            return Err(refusal(
                RefusalCode::Protocol,
                format!(
                    "{span} không nối tiếp mục {top} trạm đang giữ / {span} does not continue \
                     entry {top} the relay holds"
                ),
            ));
        }
        // Cut what the relay already holds: the link at `top` becomes the run's `prev`.
        let skip = (top + 1 - run.from) as usize;
        let prev = if skip == 0 {
            run.prev
        } else {
            opened[skip - 1].1
        };
        if prev != link {
            return Err(refusal(
                RefusalCode::Protocol,
                format!(
                    "{span} không khớp chuỗi tại mục {top} / {span} does not match the chain at \
                     entry {top}"
                ),
            ));
        }
        let cut = Run {
            author: run.author,
            from: top + 1,
            prev,
            items: run.items[skip..].to_vec(),
            head: run.head,
        };
        top = cut.last();
        link = opened.last().map_or(link, |(_, l)| *l);
        out.push(cut);
    }
    Ok((out, top, link))
}

/// One office's session with the relay; returns the entries taken.
/// Whether the hub lists `office` for this relay: a refusal (nothing stored) when it does not.
fn check_listed(store: &Store, office: &AuthorId) -> Result<(), ConnError> {
    match super::allowed(store)? {
        None => Err(refusal(
            RefusalCode::OutsideJurisdiction,
            "trạm chuyển tiếp chưa nhận từ máy chủ tỉnh danh sách văn phòng được chuyển tiếp nên \
             không chuyển tiếp cho văn phòng này; bản ghi vẫn chờ gửi / the relay has not yet heard \
             from the hub which offices it carries, so it does not carry this office; the records \
             stay pending"
                .into(),
        )),
        Some((list, _)) if !list.contains(office) => Err(refusal(
            RefusalCode::OutsideJurisdiction,
            "trạm chuyển tiếp này không chuyển tiếp cho văn phòng này (máy chủ tỉnh không giao); \
             bản ghi vẫn chờ gửi / this relay does not carry this office (the hub does not list \
             it); the records stay pending"
                .into(),
        )),
        Some(_) => Ok(()),
    }
}

/// Whether `more` bytes of `office` fit under the caps, R holding `office_held` of it and
/// `total_held` in all: a refusal saying which cap when they do not.
fn check_caps(
    limits: &super::Limits,
    office_held: u64,
    total_held: u64,
    more: u64,
) -> Result<(), ConnError> {
    if office_held + more > limits.office_bytes {
        return Err(refusal(
            RefusalCode::Busy,
            format!(
                "trạm chuyển tiếp đang giữ {office_held} byte chờ gửi của văn phòng này, giới hạn \
                 {} byte: không nhận thêm cho đến khi chuyển được lên máy chủ tỉnh; bản ghi vẫn chờ \
                 gửi / the relay holds {office_held} bytes of this office waiting for the hub, its \
                 cap per office is {} bytes: it takes no more until it has forwarded them; the \
                 records stay pending",
                limits.office_bytes, limits.office_bytes
            ),
        ));
    }
    if total_held + more > limits.total_bytes {
        return Err(refusal(
            RefusalCode::Busy,
            format!(
                "trạm chuyển tiếp đang giữ {total_held} byte chờ gửi của mọi văn phòng, giới hạn \
                 {} byte: không nhận thêm cho đến khi chuyển được lên máy chủ tỉnh; bản ghi vẫn chờ \
                 gửi / the relay holds {total_held} bytes of all offices waiting for the hub, its \
                 total cap is {} bytes: it takes no more until it has forwarded them; the records \
                 stay pending",
                limits.total_bytes, limits.total_bytes
            ),
        ));
    }
    Ok(())
}

async fn session(
    store: &Store,
    io: &mut FramedStream,
    office: &AuthorId,
    limits: &super::Limits,
) -> Result<u64, ConnError> {
    let first = recv(io).await?;
    let Msg::Hello(hello) = first else {
        return Err(refusal(
            RefusalCode::Protocol,
            "tin đầu tiên phải là Hello / the first message must be Hello".into(),
        ));
    };
    check_listed(store, office)?;
    let rec = super::office(store, office)?;
    if let Some(why) = rec.as_ref().and_then(|r| r.refused.clone()) {
        return Err(refusal(
            RefusalCode::NotEnrolled,
            format!(
                "máy chủ tỉnh đã từ chối văn phòng này nên trạm không chuyển tiếp / the hub refused \
                 this office, so the relay does not carry for it: {why}"
            ),
        ));
    }
    let rec = super::update(store, office, |r| {
        r.last_ms = super::now_ms();
        r.clone()
    })?;
    if let Some(r) = super::receipt(store, office)? {
        io.send(&Msg::Receipts(vec![r])).await?;
    }
    let (mut top, mut link) = (rec.top, rec.link);
    let mut session = Session::server(super::summary_for(&rec, office));
    session.handle(Msg::Hello(hello))?;
    if session.is_finished() {
        // Up to date: the office holds everything R brought down for it.
        super::prune_down(store, office, &super::summary_for(&rec, office))?;
    }
    let mut office_held = super::up_bytes(store, Some(office))?;
    let mut total_held = super::up_bytes(store, None)?;
    let down = super::down_runs(store, office)?;
    let mut sending: Option<VecDeque<Run>> = None;
    let mut taken = 0u64;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => {
                    // The hub's runs for the office that reach into what it lacks.
                    let q = down
                        .iter()
                        .filter(|r| {
                            ranges.iter().any(|g| {
                                g.author == r.author && r.last() >= g.from && r.from <= g.to
                            })
                        })
                        .cloned()
                        .collect();
                    sending = Some(q);
                }
                Event::Received { id, runs } => {
                    let (fresh, t, l) = check_runs(office, top, link, runs)?;
                    let more = fresh
                        .iter()
                        .map(|r| baobi_proto::wire::encode(r).len() as u64)
                        .sum::<u64>();
                    check_caps(limits, office_held, total_held, more)?;
                    if !fresh.is_empty() {
                        office_held += more;
                        total_held += more;
                        super::keep_up(store, office, &fresh)?;
                        super::update(store, office, |r| {
                            r.top = t;
                            r.link = l;
                        })?; // flushes: durable before the Ack
                        taken += fresh.iter().map(|r| r.items.len() as u64).sum::<u64>();
                        top = t;
                        link = l;
                    }
                    session.stored(id)?;
                }
                Event::Acked { .. } | Event::Finished => {}
            }
        }
        if let Some(q) = &mut sending {
            while session.can_send() {
                let Some(run) = q.pop_front() else { break };
                session.push_runs(vec![run])?;
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
            return Ok(taken);
        }
        match recv(io).await? {
            Msg::Summary(w) => {
                // What the office holds: the hub is told so on its behalf.
                super::update(store, office, |r| {
                    let mut s = baobi_proto::Summary::from_wire(&r.summary);
                    for (a, n) in &w.0 {
                        if *a != *office && *n > s.get(a) {
                            s.set(*a, *n);
                        }
                    }
                    r.summary = s.to_wire();
                })?;
                // What the office holds of the hub's runs R kept for it is R's no longer.
                super::prune_down(store, office, &baobi_proto::Summary::from_wire(&w))?;
                session.handle(Msg::Summary(w))?;
            }
            m => session.handle(m)?,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::chain::genesis;
    use baobi_proto::wire::{Body, CampaignEvent, CampaignKind, Date, Hlc, Op};
    use baobi_proto::Keypair;

    fn entries(kp: &Keypair, n: u64) -> Vec<baobi_proto::Entry> {
        (1..=n)
            .map(|s| {
                kp.sign_entry(
                    s,
                    Hlc(s),
                    Op::Record(Body::Campaign(CampaignEvent {
                        unit: "30226".into(),
                        date: Date(20250301),
                        kind: CampaignKind::Event,
                        participants: Some(s as u32),
                        topic: "Tuần lễ túi xanh".into(),
                    })),
                )
            })
            .collect()
    }

    fn code(e: ConnError) -> RefusalCode {
        match e {
            ConnError::Refused(r) => r.code,
            other => panic!("not a refusal: {other}"),
        }
    }

    #[test]
    fn a_relay_takes_only_the_offices_own_sealed_runs_that_continue_its_copy() {
        let (office, other) = (Keypair::generate(), Keypair::generate());
        let me = office.author();
        let es = entries(&office, 5);
        let (first, l2) = Run::seal(&office, genesis(&me), &es[..2]).unwrap();
        let (rest, l5) = Run::seal(&office, l2, &es[2..]).unwrap();
        let (whole, _) = Run::seal(&office, genesis(&me), &es).unwrap();

        // In order: taken as they are.
        let (got, top, link) = check_runs(&me, 0, genesis(&me), vec![first.clone()]).unwrap();
        assert_eq!((got, top, link), (vec![first.clone()], 2, l2));
        // A run overlapping what is held is cut where the copy ends; its seal still opens.
        let (got, top, link) = check_runs(&me, 2, l2, vec![whole.clone()]).unwrap();
        assert_eq!((top, link), (5, l5));
        assert_eq!(got[0].from, 3);
        assert!(got[0].open().is_some());
        assert_eq!(got[0].items, rest.items);
        // Wholly held: nothing to keep.
        assert!(check_runs(&me, 5, l5, vec![first.clone()])
            .unwrap()
            .0
            .is_empty());

        // Another author's run (a relay carries only the connected office's own).
        let theirs = Run::seal(&other, genesis(&other.author()), &entries(&other, 1))
            .unwrap()
            .0;
        assert_eq!(
            code(check_runs(&me, 0, genesis(&me), vec![theirs]).unwrap_err()),
            RefusalCode::WrongAuthor
        );
        // A byte changed: the seal does not open.
        let mut altered = first.clone();
        altered.items[1].hlc = Hlc(99);
        assert_eq!(
            code(check_runs(&me, 0, genesis(&me), vec![altered]).unwrap_err()),
            RefusalCode::BadSignature
        );
        // A gap (the first run missing), or a fork (another chain at the same seq): refused.
        assert_eq!(
            code(check_runs(&me, 0, genesis(&me), vec![rest.clone()]).unwrap_err()),
            RefusalCode::Protocol
        );
        assert_eq!(
            code(check_runs(&me, 2, [7; 32], vec![rest]).unwrap_err()),
            RefusalCode::Protocol
        );
    }
}
