//! TLS and QUIC for the hub: its certificate, a client verifier that defers identity to the store, and
//! the server endpoint.
//!
//! Client certificates are accepted at the TLS layer whatever they are (only their TLS 1.3 signature
//! is checked): who the client is gets decided after the handshake, by the certificate's fingerprint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use baobi_proto::wire::ALPN;
use quinn::crypto::rustls::QuicServerConfig;
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

use crate::store::Hub;
use crate::{Error, Result};

/// Accepts any client certificate whose TLS 1.3 handshake signature verifies.
#[derive(Debug)]
pub struct AnyClient {
    provider: Arc<CryptoProvider>,
}

impl AnyClient {
    /// A verifier checking handshake signatures with `provider`'s algorithms.
    pub fn new(provider: Arc<CryptoProvider>) -> Self {
        AnyClient { provider }
    }
}

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
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// RTT the hub assumes for a new connection before measuring one (see [`server_config`]).
pub const INITIAL_RTT: Duration = Duration::from_millis(700);

/// The QUIC server configuration for `hub` (mutual TLS 1.3, ALPN `baobi/1`, mobile-link timeouts).
pub fn server_config(hub: &Hub) -> Result<quinn::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(hub.keypair().pkcs8_der()));
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_client_cert_verifier(Arc::new(AnyClient { provider }))
        .with_single_cert(vec![CertificateDer::from(hub.cert_der().to_vec())], key)
        .map_err(|e| Error::Tls(e.to_string()))?;
    tls.alpn_protocols = vec![ALPN.to_vec()];
    // No session tickets: every `baobi-agent sync` is a new process with a new TLS client, which
    // cannot present a ticket from an earlier one (rustls keeps them in memory only), so the two
    // tickets rustls sends by default were 162 bytes down on every connection, never used.
    tls.send_tls13_tickets = 0;
    let quic = QuicServerConfig::try_from(tls).map_err(|e| Error::Tls(e.to_string()))?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    let mut transport = quinn::TransportConfig::default();
    transport
        .keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(
            quinn::IdleTimeout::try_from(crate::limits::IDLE_TIMEOUT)
                .map_err(|e| Error::Tls(e.to_string()))?,
        ))
        .stream_receive_window(crate::limits::RECEIVE_WINDOW.into())
        .receive_window(crate::limits::RECEIVE_WINDOW.into())
        .max_concurrent_bidi_streams(1u32.into())
        .max_concurrent_uni_streams(0u32.into())
        // No path MTU probes (as the agent): on a no-change sync the hub's four probes (1,326 to
        // 1,452 bytes) and their acknowledgements were 5.6 KB of the 7.1 KB on the wire, and an
        // office mostly uploads. Packets stay at QUIC's 1,200-byte minimum.
        .mtu_discovery_config(None)
        // RTT assumed before the first measurement, as the agent's (`agent::net::INITIAL_RTT`):
        // with quinn's 333 ms the hub's handshake loss timer fired before a GPRS office's second
        // flight (1,200 bytes at 20 kbit/s up: 480 ms, plus 650 ms of round trip) could arrive,
        // resending its own 1,200-byte flight.
        .initial_rtt(INITIAL_RTT);
    cfg.transport_config(Arc::new(transport));
    Ok(cfg)
}

/// Binds the hub's QUIC endpoint on `addr` (port 0 picks a free port; see `local_addr`), with a
/// UDP receive buffer of [`crate::limits::UDP_RECV_BUFFER`]: at the deadline hundreds of offices
/// connect at once, and the kernel's default (208 KiB) drops their first packets, each drop costing
/// a handshake a retransmission of a second or more.
pub fn endpoint(hub: &Hub, addr: SocketAddr) -> Result<quinn::Endpoint> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        // Accept IPv4 too where the system allows it, as `Endpoint::server` does.
        let _ = socket.set_only_v6(false);
    }
    // The kernel caps this at net.core.rmem_max; a smaller buffer is not an error.
    if let Err(e) = socket.set_recv_buffer_size(crate::limits::UDP_RECV_BUFFER) {
        tracing::debug!(error = %e, "could not enlarge the UDP receive buffer");
    }
    socket.bind(&addr.into())?;
    let runtime = quinn::default_runtime()
        .ok_or_else(|| Error::Tls("no async runtime for the QUIC endpoint".into()))?;
    Ok(quinn::Endpoint::new(
        quinn::EndpointConfig::default(),
        Some(server_config(hub)?),
        socket.into(),
        runtime,
    )?)
}

/// SHA-256 fingerprint of the client's certificate on an established connection.
pub fn peer_fingerprint(conn: &quinn::Connection) -> Option<[u8; 32]> {
    let id = conn.peer_identity()?;
    let certs = id.downcast::<Vec<CertificateDer<'static>>>().ok()?;
    certs
        .first()
        .map(|c| baobi_proto::identity::fingerprint(c.as_ref()))
}
