//! Real QUIC on loopback against a minimal in-test server: the agent's pinning accepts exactly the
//! pinned certificate, presents its own certificate, and moves frames both ways.
//!
//! The server here is only a TLS/QUIC endpoint that echoes frames; the real hub is exercised by the
//! workspace's end-to-end tests.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_agent::net::{self, Identity};
use baobi_proto::identity::fingerprint;
use baobi_proto::wire::{encode_frame, FrameDecoder, ALPN};
use baobi_proto::{Keypair, Msg};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};

#[derive(Debug)]
struct AnyClient(Arc<CryptoProvider>);

impl ClientCertVerifier for AnyClient {
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
        Err(rustls::Error::General("no tls 1.2".into()))
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

/// A QUIC server with its own key that echoes every frame and reports the client's cert fingerprint.
async fn echo_server() -> (SocketAddr, [u8; 32], tokio::sync::mpsc::Receiver<[u8; 32]>) {
    let key = Keypair::generate();
    let kp = rcgen::KeyPair::try_from(key.pkcs8_der().as_slice()).unwrap();
    let cert = rcgen::CertificateParams::new(vec!["baobi-hub".to_string()])
        .unwrap()
        .self_signed(&kp)
        .unwrap()
        .der()
        .to_vec();
    let fp = fingerprint(&cert);
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut tls = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_client_cert_verifier(Arc::new(AnyClient(provider)))
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.pkcs8_der())),
        )
        .unwrap();
    tls.alpn_protocols = vec![ALPN.to_vec()];
    let cfg = quinn::ServerConfig::with_crypto(Arc::new(
        quinn::crypto::rustls::QuicServerConfig::try_from(tls).unwrap(),
    ));
    let endpoint = quinn::Endpoint::server(cfg, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = endpoint.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tokio::spawn(async move {
        while let Some(inc) = endpoint.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let Ok(conn) = inc.await else { return };
                let certs = conn
                    .peer_identity()
                    .and_then(|i| i.downcast::<Vec<CertificateDer<'static>>>().ok());
                if let Some(c) = certs.as_ref().and_then(|c| c.first()) {
                    let _ = tx.send(fingerprint(c.as_ref())).await;
                }
                let Ok((mut send, mut recv)) = conn.accept_bi().await else {
                    return;
                };
                let mut dec = FrameDecoder::new();
                let mut buf = vec![0u8; 4096];
                loop {
                    match recv.read(&mut buf).await {
                        Ok(Some(n)) => dec.push(&buf[..n]),
                        _ => break,
                    }
                    loop {
                        match dec.next_msg() {
                            Ok(Some(m)) => {
                                let _ = send.write_all(&encode_frame(&m)).await;
                            }
                            Ok(None) => break,
                            Err(_) => {
                                conn.close(7u32.into(), b"bad frame");
                                return;
                            }
                        }
                    }
                }
                let _ = send.finish();
                let _ = conn.closed().await;
            });
        }
    });
    (addr, fp, rx)
}

#[tokio::test]
async fn pinned_hub_accepted_and_frames_round_trip() {
    let (addr, fp, mut seen) = echo_server().await;
    let id = Identity::generate().unwrap();
    let (endpoint, conn, mut stream) = net::connect(addr, fp, &id).await.unwrap();
    assert_eq!(seen.recv().await.unwrap(), id.fingerprint());
    for m in [Msg::Done, Msg::Ack(41), Msg::UpToDate] {
        stream.send(&m).await.unwrap();
        assert_eq!(stream.recv().await.unwrap(), Some(m));
    }
    stream.finish().await;
    assert_eq!(stream.recv().await.unwrap(), None);
    conn.close(0u32.into(), b"done");
    endpoint.wait_idle().await;
}

/// A hub answering with another certificate is not an unreachable hub: it is told apart (issue 11).
#[tokio::test]
async fn wrong_pin_is_a_hub_mismatch() {
    let (addr, mut fp, _seen) = echo_server().await;
    fp[0] ^= 1;
    let id = Identity::generate().unwrap();
    match net::connect(addr, fp, &id).await {
        Err(net::Error::HubMismatch) => {}
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("connected to an unpinned hub"),
    }
}

#[tokio::test]
async fn malformed_frames_close_the_connection_without_panic() {
    let (addr, fp, _seen) = echo_server().await;
    let id = Identity::generate().unwrap();
    let (_endpoint, _conn, mut stream) = net::connect(addr, fp, &id).await.unwrap();
    stream
        .send_raw(&[3, 0, 0, 0, 0xff, 0xff, 0xff])
        .await
        .unwrap();
    assert!(stream.recv().await.is_err());
}
