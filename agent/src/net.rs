//! The agent's side of the transport: its TLS identity, the pinned-hub verifier, the QUIC client and a
//! framed message stream over one bidirectional stream.
//!
//! The hub is recognised only by the SHA-256 of its certificate (from the enrollment token); names and
//! dates are ignored. Nothing here knows about the sync protocol: it moves `proto::Msg` frames, and a
//! malformed frame from the peer is an `Err`, never a panic.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::identity::fingerprint;
use baobi_proto::wire::{encode_frame, FrameDecoder, ALPN};
use baobi_proto::{Keypair, Msg};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

/// How long connecting and the handshake may take before the hub counts as unreachable. On GPRS a
/// handshake takes ~2 s and each lost handshake packet adds a loss timer of 2.1 s, then 4.2 s: 5 s
/// reported a reachable hub as unreachable after one loss; 10 s survives two.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// RTT assumed before the first measurement: between 4G (45 ms) and EDGE/GPRS (650 ms) round trips, so
/// that the handshake's first loss timer (3 × this) does not fire before a slow link can answer.
pub const INITIAL_RTT: Duration = Duration::from_millis(700);
/// Name the agent's certificate carries.
pub const AGENT_NAME: &str = "baobi-agent";
/// Name the agent expects the hub to answer to.
pub const HUB_NAME: &str = "baobi-hub";

/// What can go wrong on the network.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The hub could not be reached or the handshake failed.
    #[error("{0}")]
    Unreachable(String),
    /// Local TLS or QUIC setup failed.
    #[error("tls setup: {0}")]
    Setup(String),
    /// The handshake reached a hub whose certificate is not the pinned one (another hub on that
    /// address, or the hub's key changed): not a link problem, retrying does not help.
    #[error("hub certificate does not match the pinned fingerprint")]
    HubMismatch,
    /// The connection broke during the exchange.
    #[error("connection lost: {0}")]
    Connection(String),
    /// The peer sent bytes that are not a valid frame.
    #[error("bad frame from the hub: {0}")]
    Frame(#[from] baobi_proto::Error),
}

/// Result with the network error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The agent's key and the self-signed certificate made from it.
pub struct Identity {
    /// The ed25519 key (also the author key).
    pub keypair: Keypair,
    /// The certificate, DER.
    pub cert_der: Vec<u8>,
}

impl Identity {
    /// A fresh key and its certificate.
    pub fn generate() -> Result<Identity> {
        let keypair = Keypair::generate();
        let cert_der = make_cert(&keypair)?;
        Ok(Identity { keypair, cert_der })
    }

    /// SHA-256 of the certificate.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert_der)
    }
}

/// A self-signed certificate for `keypair`, named `baobi-agent`.
pub fn make_cert(keypair: &Keypair) -> Result<Vec<u8>> {
    let kp = rcgen::KeyPair::try_from(keypair.pkcs8_der().as_slice())
        .map_err(|e| Error::Setup(format!("key: {e}")))?;
    let params = rcgen::CertificateParams::new(vec![AGENT_NAME.to_string()])
        .map_err(|e| Error::Setup(format!("certificate: {e}")))?;
    let cert = params
        .self_signed(&kp)
        .map_err(|e| Error::Setup(format!("certificate: {e}")))?;
    Ok(cert.der().to_vec())
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Accepts the hub iff its certificate's fingerprint is the pinned one, and remembers a refusal so
/// that [`connect`] can tell a wrong hub from an unreachable one.
#[derive(Debug)]
pub struct PinnedHub {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
    mismatch: Arc<AtomicBool>,
}

impl PinnedHub {
    /// A verifier pinning the certificate whose SHA-256 is `pin`.
    pub fn new(pin: [u8; 32], provider: Arc<CryptoProvider>) -> Self {
        PinnedHub {
            pin,
            provider,
            mismatch: Arc::default(),
        }
    }
}

impl ServerCertVerifier for PinnedHub {
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
                "hub certificate does not match the pinned fingerprint".into(),
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

/// The QUIC client configuration: mutual TLS 1.3, pinned hub, mobile-friendly timeouts.
pub fn client_config(hub_fingerprint: [u8; 32], id: &Identity) -> Result<quinn::ClientConfig> {
    Ok(watched_config(hub_fingerprint, id)?.0)
}

/// [`client_config`] and the flag its verifier raises when the hub's certificate is not the pinned one.
fn watched_config(
    hub_fingerprint: [u8; 32],
    id: &Identity,
) -> Result<(quinn::ClientConfig, Arc<AtomicBool>)> {
    let provider = provider();
    let mismatch = Arc::new(AtomicBool::new(false));
    let mut tls = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Setup(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedHub {
            pin: hub_fingerprint,
            provider,
            mismatch: mismatch.clone(),
        }))
        .with_client_auth_cert(
            vec![CertificateDer::from(id.cert_der.clone())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.keypair.pkcs8_der())),
        )
        .map_err(|e| Error::Setup(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(tls)
        .map_err(|e| Error::Setup(e.to_string()))?;
    let mut transport = quinn::TransportConfig::default();
    transport.keep_alive_interval(Some(Duration::from_secs(10)));
    transport.max_idle_timeout(Some(
        quinn::IdleTimeout::try_from(Duration::from_secs(60))
            .map_err(|e| Error::Setup(e.to_string()))?,
    ));
    // Measured on the GPRS profile (650 ms, 20 kbit/s up), median of 6 no-change syncs: with quinn's
    // defaults 7,974 UDP bytes up and 5.0 s; with both settings below 2,890 bytes and 3.9 s.
    // quinn's default initial RTT (333 ms) fires the handshake's loss timer before a 650 ms link can
    // answer, resending 1,200-byte Initials into a 20 kbit/s uplink.
    transport.initial_rtt(INITIAL_RTT);
    // MTU probes (up to 1,452 bytes each) cost more uplink than larger packets save on a sync.
    transport.mtu_discovery_config(None);
    transport.max_concurrent_uni_streams(0u32.into());
    transport.max_concurrent_bidi_streams(0u32.into());
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(Arc::new(transport));
    Ok((cfg, mismatch))
}

/// Connects to the hub at `addr`, pinning `hub_fingerprint`, and opens the one bidirectional stream.
pub async fn connect(
    addr: SocketAddr,
    hub_fingerprint: [u8; 32],
    id: &Identity,
) -> Result<(quinn::Endpoint, quinn::Connection, FramedStream)> {
    let (cfg, mismatch) = watched_config(hub_fingerprint, id)?;
    let bind: SocketAddr = if addr.is_ipv6() {
        "[::]:0".parse().map_err(|_| Error::Setup("bind".into()))?
    } else {
        "0.0.0.0:0"
            .parse()
            .map_err(|_| Error::Setup("bind".into()))?
    };
    let endpoint = client_endpoint(bind)?;
    let connecting = endpoint
        .connect_with(cfg, addr, HUB_NAME)
        .map_err(|e| Error::Unreachable(e.to_string()))?;
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => {
            endpoint.close(0u32.into(), b"timeout");
            return Err(Error::Unreachable(format!(
                "no answer within {} s",
                CONNECT_TIMEOUT.as_secs()
            )));
        }
        Ok(Err(_)) if mismatch.load(Ordering::SeqCst) => return Err(Error::HubMismatch),
        Ok(Err(quinn::ConnectionError::ConnectionClosed(c)))
            if c.error_code == quinn::TransportErrorCode::CONNECTION_REFUSED =>
        {
            return Err(Error::Unreachable(
                "máy chủ từ chối kết nối: quá nhiều kết nối từ địa chỉ này hoặc máy chủ đã đầy, \
                 sẽ thử lại / the hub refused the connection: too many connections from this \
                 address, or the hub is full; try again later"
                    .into(),
            ))
        }
        Ok(Err(e)) => return Err(Error::Unreachable(e.to_string())),
        Ok(Ok(c)) => c,
    };
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| Error::Connection(e.to_string()))?;
    Ok((endpoint, conn, FramedStream::new(send, recv)))
}

/// A client endpoint on `bind` whose connection IDs are empty (zero-length).
///
/// An agent's endpoint carries one connection, so it needs no connection ID to tell its packets
/// apart: with empty ones each packet from the hub is 8 bytes shorter, the agent issues no
/// `NEW_CONNECTION_ID` frames, and it asks the hub for at most one spare ID
/// (`active_connection_id_limit` 2 instead of 5). Measured on a no-change sync: about 90 B fewer
/// each way (BENCHMARKS.md, "No-change sync on the wire"). The hub still gives its own IDs, so the agent
/// can move to another address (a mobile link's NAT rebinding) mid-connection as before.
pub fn client_endpoint(bind: SocketAddr) -> Result<quinn::Endpoint> {
    let socket =
        std::net::UdpSocket::bind(bind).map_err(|e| Error::Setup(format!("udp socket: {e}")))?;
    let mut config = quinn::EndpointConfig::default();
    config.cid_generator(|| Box::new(EmptyCids));
    let runtime = quinn::default_runtime()
        .ok_or_else(|| Error::Setup("no async runtime for the QUIC endpoint".into()))?;
    quinn::Endpoint::new(config, None, socket, runtime)
        .map_err(|e| Error::Setup(format!("udp socket: {e}")))
}

/// Issues zero-length connection IDs (see [`client_endpoint`]).
struct EmptyCids;

impl quinn::ConnectionIdGenerator for EmptyCids {
    fn generate_cid(&mut self) -> quinn::ConnectionId {
        quinn::ConnectionId::new(&[])
    }
    fn cid_len(&self) -> usize {
        0
    }
    fn cid_lifetime(&self) -> Option<Duration> {
        None
    }
}

/// How long [`close`] waits for the `CONNECTION_CLOSE` to leave.
pub const CLOSE_WAIT: Duration = Duration::from_millis(250);

/// Closes `conn` with `code` and returns once the datagram with its `CONNECTION_CLOSE` frame has
/// been handed to the socket (at most [`CLOSE_WAIT`]), or at once when the hub closed first.
///
/// It does not wait for the endpoint to go idle: after a close QUIC keeps the connection draining
/// for three probe timeouts (about 80-130 ms on loopback, seconds on GPRS) only to answer late
/// packets with the close again; `baobi-agent sync` spent most of its wall time there. The hub
/// counts a connection as ended cleanly when the close arrives, which is not changed; if that one
/// packet is lost, the hub times the connection out, as it would have if the drain's repeats had
/// been lost too.
pub async fn close(conn: &quinn::Connection, code: u32, reason: &[u8]) {
    if conn.close_reason().is_some() {
        // Already closed (by the hub, or a lost connection): nothing more goes out.
        return;
    }
    // After a close, the next datagram the connection sends is the one carrying the close.
    let sent = conn.stats().udp_tx.datagrams;
    conn.close(code.into(), reason);
    let deadline = tokio::time::Instant::now() + CLOSE_WAIT;
    while conn.stats().udp_tx.datagrams == sent && tokio::time::Instant::now() < deadline {
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_micros(200)).await;
    }
    // It is counted as it is built; let the driver finish handing it to the socket.
    tokio::task::yield_now().await;
}

/// One bidirectional stream carrying length-prefixed `Msg` frames.
pub struct FramedStream {
    send: quinn::SendStream,
    recv: quinn::RecvStream,
    decoder: FrameDecoder,
    buf: Vec<u8>,
    /// Application bytes written (frames, length prefixes included).
    pub bytes_sent: u64,
    /// Application bytes read.
    pub bytes_received: u64,
}

impl FramedStream {
    /// Wraps the two halves of a stream.
    pub fn new(send: quinn::SendStream, recv: quinn::RecvStream) -> Self {
        FramedStream {
            send,
            recv,
            decoder: FrameDecoder::new(),
            buf: vec![0u8; 64 * 1024],
            bytes_sent: 0,
            bytes_received: 0,
        }
    }

    /// Writes one message.
    pub async fn send(&mut self, msg: &Msg) -> Result<()> {
        self.send_raw(&encode_frame(msg)).await
    }

    /// Writes bytes as they are (for tests of malformed frames).
    pub async fn send_raw(&mut self, bytes: &[u8]) -> Result<()> {
        self.bytes_sent += bytes.len() as u64;
        self.send
            .write_all(bytes)
            .await
            .map_err(|e| Error::Connection(e.to_string()))
    }

    /// The next message, `None` at the end of the stream.
    pub async fn recv(&mut self) -> Result<Option<Msg>> {
        loop {
            if let Some(msg) = self.decoder.next_msg()? {
                return Ok(Some(msg));
            }
            match self.recv.read(&mut self.buf).await {
                Ok(Some(n)) => {
                    self.bytes_received += n as u64;
                    self.decoder.push(&self.buf[..n]);
                }
                Ok(None) if self.decoder.is_empty() => return Ok(None),
                Ok(None) => return Err(Error::Connection("stream ended inside a frame".into())),
                Err(e) => return Err(Error::Connection(e.to_string())),
            }
        }
    }

    /// Ends our side of the stream (no more messages will be sent).
    pub async fn finish(&mut self) {
        let _ = self.send.finish();
    }
}
