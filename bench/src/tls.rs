//! TLS for the peers the bench writes itself, set up like baobi's transport so the comparison is fair:
//! TLS 1.3 on rustls with the ring provider, a self-signed server certificate pinned by its SHA-256,
//! and (for the QUIC peers) a client certificate as baobi's mutual TLS has. The HTTPS peer uses server
//! authentication only plus a token header, as ODK Collect and KoBoToolbox clients do.

use std::sync::Arc;
use std::time::Duration;

use baobi_proto::identity::fingerprint;
use baobi_proto::Keypair;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

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

#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity.as_ref()) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("certificate not pinned".into()))
        }
    }
    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[derive(Debug)]
struct AnyClient {
    provider: Arc<CryptoProvider>,
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
        _e: &CertificateDer<'_>,
        _i: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _m: &[u8],
        _c: &CertificateDer<'_>,
        _d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Err(rustls::Error::General("TLS 1.2 is not supported".into()))
    }
    fn verify_tls13_signature(
        &self,
        m: &[u8],
        c: &CertificateDer<'_>,
        d: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            m,
            c,
            d,
            &self.provider.signature_verification_algorithms,
        )
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// A TLS 1.3 server config; `mutual` requires a client certificate (any, checked by signature).
pub fn server_tls(cert: &Cert, alpn: &[u8], mutual: bool) -> anyhow::Result<rustls::ServerConfig> {
    let p = provider();
    let b = rustls::ServerConfig::builder_with_provider(p.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])?;
    let mut cfg = if mutual {
        b.with_client_cert_verifier(Arc::new(AnyClient { provider: p }))
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
        .with_custom_certificate_verifier(Arc::new(Pinned {
            pin: server_fp,
            provider: p,
        }));
    let mut cfg = match client_cert {
        Some(c) => b.with_client_auth_cert(c.chain(), c.key())?,
        None => b.with_no_client_auth(),
    };
    cfg.alpn_protocols = vec![alpn.to_vec()];
    Ok(cfg)
}

/// The transport settings baobi uses (keep-alive 10 s, idle 60 s, one bidi stream).
fn transport() -> anyhow::Result<Arc<quinn::TransportConfig>> {
    let mut t = quinn::TransportConfig::default();
    t.keep_alive_interval(Some(Duration::from_secs(10)))
        .max_idle_timeout(Some(quinn::IdleTimeout::try_from(Duration::from_secs(60))?))
        .max_concurrent_uni_streams(0u32.into());
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
