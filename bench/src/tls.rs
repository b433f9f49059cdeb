//! TLS for the peers the bench writes itself, set up like baobi's transport so the comparison is fair (the
//! verifiers are baobi's own: the agent's `PinnedHub` and the hub's `AnyClient`):
//! TLS 1.3 on rustls with the ring provider, a self-signed server certificate pinned by its SHA-256,
//! and (for the QUIC peers) a client certificate as baobi's mutual TLS has. The HTTPS peer uses server
//! authentication only plus a token header, as ODK Collect and KoBoToolbox clients do.

use std::sync::Arc;
use std::time::Duration;

use baobi_proto::Keypair;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Name the bench servers' certificates carry.
pub const SERVER_NAME: &str = "bench-server";

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A key and its self-signed certificate.
pub struct Cert {
    /// The ed25519 key.
    pub keypair: Keypair,
    /// The certificate, DER.
    pub der: Vec<u8>,
}

impl Cert {
    /// A fresh key and certificate named `name`.
    pub fn new(name: &str) -> anyhow::Result<Cert> {
        let keypair = Keypair::generate();
        let kp = rcgen::KeyPair::try_from(keypair.pkcs8_der().as_slice())?;
        let der = rcgen::CertificateParams::new(vec![name.to_string()])?
            .self_signed(&kp)?
            .der()
            .to_vec();
        Ok(Cert { keypair, der })
    }

    fn chain(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.der.clone())]
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.keypair.pkcs8_der()))
    }
}

/// A TLS 1.3 server config; `mutual` requires a client certificate (any, checked by signature).
pub fn server_tls(cert: &Cert, alpn: &[u8], mutual: bool) -> anyhow::Result<rustls::ServerConfig> {
    let p = provider();
    let b = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut cfg = if mutual {
        b.with_client_cert_verifier(Arc::new(baobi_hub::net::AnyClient::new(p)))
            .with_single_cert(cert.chain(), cert.key())?
    } else {
        b.with_no_client_auth()
            .with_single_cert(cert.chain(), cert.key())?
    };
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

/// A TLS 1.3 client config pinning `server_fp`; with `client_cert` it authenticates too.
pub fn client_tls(
    server_fp: [u8; 32],
    alpn: &[u8],
    client_cert: Option<&Cert>,
) -> anyhow::Result<rustls::ClientConfig> {
    let p = provider();
    let b = rustls::ClientConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(baobi_agent::net::PinnedHub::new(server_fp, p)));
    let mut cfg = match client_cert {
        Some(c) => b.with_client_auth_cert(c.chain(), c.key())?,
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

/// The transport settings baobi uses (keep-alive 10 s, idle 60 s, one bidi stream, no MTU probes).
fn transport() -> anyhow::Result<Arc<quinn::TransportConfig>> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(60))?))
        .max_concurrent_uni_streams(0u32.into())
        // As baobi's hub and agent: no path MTU probes.
        .mtu_discovery_config(None);
    Ok(Arc::new(t))
}

/// A QUIC server endpoint on loopback for a bench peer speaking `alpn`.
pub fn quic_server(cert: &Cert, alpn: &[u8]) -> anyhow::Result<quinn::Endpoint> {
    let quic = quinn::crypto::rustls::QuicServerConfig::try_from(server_tls(cert, alpn, true)?)?;
    let mut cfg = quinn::ServerConfig::with_crypto(Arc::new(quic));
    cfg.transport_config(transport()?);
    Ok(quinn::Endpoint::server(cfg, "127.0.0.1:0".parse()?)?)
}

/// A QUIC client config for a bench peer: pins the server, presents `client`.
pub fn quic_client(
    server_fp: [u8; 32],
    alpn: &[u8],
    client: &Cert,
) -> anyhow::Result<quinn::ClientConfig> {
    let quic = quinn::crypto::rustls::QuicClientConfig::try_from(client_tls(
        server_fp,
        alpn,
        Some(client),
    )?)?;
    let mut cfg = quinn::ClientConfig::new(Arc::new(quic));
    cfg.transport_config(transport()?);
    Ok(cfg)
}
