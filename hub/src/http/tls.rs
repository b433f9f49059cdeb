//! HTTPS for the dashboard (`serve --http-tls`): the certificate (a self-signed one the hub makes
//! for itself in its data folder, or the operator's PEM files), its SHA-256 fingerprint for the
//! operator to compare with what the browser shows, and a listener that runs the TLS handshakes so
//! `axum::serve` sees ready TLS streams.
//!
//! Handshakes run in their own tasks (a slow or silent client cannot hold up the next connection)
//! with a deadline; only completed ones are handed to the server.

use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// The self-signed certificate's file in the data folder.
pub const CERT_FILE: &str = "dashboard-cert.pem";
/// Its private key's file in the data folder (owner-only).
pub const KEY_FILE: &str = "dashboard-key.pem";
/// How long a client has to finish the TLS handshake.
pub const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(10);
/// Handshakes in progress at once; connections beyond are closed at once (a flood of silent
/// clients costs at most this many tasks for [`HANDSHAKE_DEADLINE`]).
pub const MAX_HANDSHAKES: usize = 128;

/// Why the dashboard's certificate could not be made or loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// Reading or writing a file failed.
    #[error("{}: {source} / không đọc/ghi được tệp", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A PEM file holds no usable certificate or key.
    #[error("{}: {what} / tệp PEM không hợp lệ", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        what: String,
    },
    /// Making the certificate failed.
    #[error("making the dashboard certificate: {0} / không tạo được chứng chỉ")]
    Generate(String),
    /// rustls refused the certificate and key (e.g. a key that is not the certificate's).
    #[error("certificate and key refused: {0} / chứng chỉ và khóa không dùng được")]
    Rustls(#[from] rustls::Error),
}

/// A loaded certificate: the server configuration and what the operator checks.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// The rustls configuration (HTTP/1.1 only, as the dashboard serves).
    pub config: Arc<rustls::ServerConfig>,
    /// SHA-256 of the leaf certificate, uppercase hex in colon-separated pairs (as browsers show it).
    pub fingerprint: String,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// SHA-256 of a DER certificate as `AB:CD:…`.
pub fn fingerprint(der: &[u8]) -> String {
    Sha256::digest(der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Makes a self-signed certificate for the dashboard (names `localhost`, `127.0.0.1`, `::1` and
/// `extra`): PEM certificate and PEM private key.
pub fn generate(extra: &[String]) -> Result<(String, String), TlsError> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
    names.extend(extra.iter().filter(|n| !n.is_empty()).cloned());
    let kp = rcgen::KeyPair::generate().map_err(|e| TlsError::Generate(e.to_string()))?;
    let mut params =
        rcgen::CertificateParams::new(names).map_err(|e| TlsError::Generate(e.to_string()))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "baobi-hub dashboard");
    let cert = params
        .self_signed(&kp)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    Ok((cert.pem(), kp.serialize_pem()))
}

/// Makes the self-signed certificate in `dir` unless it is there; returns whether it was made.
pub fn ensure_self_signed(dir: &Path) -> Result<bool, TlsError> {
    let (cert, key) = (dir.join(CERT_FILE), dir.join(KEY_FILE));
    if cert.exists() && key.exists() {
        return Ok(false);
    }
    let host = std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default();
    let (cert_pem, key_pem) = generate(&[host])?;
    write_private(&key, key_pem.as_bytes())?;
    let tmp = dir.join(format!("{CERT_FILE}.tmp"));
    std::fs::write(&tmp, cert_pem).map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, &cert).map_err(io_err(&cert))?;
    Ok(true)
}

/// Writes `bytes` to `path` readable by the owner only (through a temporary file and a rename).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("pem.tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    o.mode(0o600);
    let mut f = o.open(&tmp).map_err(io_err(&tmp))?;
    f.write_all(bytes).map_err(io_err(&tmp))?;
    f.sync_all().map_err(io_err(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_err(path))
}

/// The self-signed certificate of the hub in `dir`, if made.
pub fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join(CERT_FILE), dir.join(KEY_FILE))
}

/// Loads a PEM certificate chain and private key into a server configuration.
pub fn load(cert: &Path, key: &Path) -> Result<Loaded, TlsError> {
    let cert_bytes = std::fs::read(cert).map_err(io_err(cert))?;
    let key_bytes = std::fs::read(key).map_err(io_err(key))?;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_bytes)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::Pem {
            path: cert.to_path_buf(),
            what: e.to_string(),
        })?;
    let Some(leaf) = chain.first() else {
        return Err(TlsError::Pem {
            path: cert.to_path_buf(),
            what: "no CERTIFICATE block".into(),
        });
    };
    let fingerprint = fingerprint(leaf);
    let key_der = PrivateKeyDer::from_pem_slice(&key_bytes).map_err(|e| TlsError::Pem {
        path: key.to_path_buf(),
        what: e.to_string(),
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key_der)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Loaded {
        config: Arc::new(config),
        fingerprint,
    })
}

/// A TCP listener whose connections come out TLS-established.
pub struct TlsListener {
    rx: mpsc::Receiver<(tokio_rustls::server::TlsStream<TcpStream>, SocketAddr)>,
    addr: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    /// Accepts on `tcp`, running each handshake with `config` in its own task.
    pub fn new(tcp: TcpListener, config: Arc<rustls::ServerConfig>) -> io::Result<TlsListener> {
        let addr = tcp.local_addr()?;
        let (tx, rx) = mpsc::channel(64);
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let permits = Arc::new(tokio::sync::Semaphore::new(MAX_HANDSHAKES));
        let accepting = tokio::spawn(async move {
            loop {
                let (sock, peer) = match tcp.accept().await {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors and the like: wait a little rather than spin.
                        tracing::warn!(error = %e, "dashboard accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    tracing::warn!(%peer, "too many dashboard TLS handshakes at once; dropped");
                    continue;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    let hs = tokio::time::timeout(HANDSHAKE_DEADLINE, acceptor.accept(sock)).await;
                    drop(permit);
                    match hs {
                        Ok(Ok(s)) => {
                            let _ = tx.send((s, peer)).await;
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "dashboard TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%peer, "dashboard TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(TlsListener {
            rx,
            addr,
            accepting,
        })
    }
}

impl Drop for TlsListener {
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.rx.recv().await {
            Some(c) => c,
            // The accepting task ended (only when the listener is dropped): nothing more comes.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn self_signed_is_made_once_and_loads() {
        let dir = tempfile::tempdir().unwrap();
        assert!(ensure_self_signed(dir.path()).unwrap());
        let (c, k) = self_signed_paths(dir.path());
        let a = load(&c, &k).unwrap();
        assert!(!ensure_self_signed(dir.path()).unwrap());
        let b = load(&c, &k).unwrap();
        assert_eq!(a.fingerprint, b.fingerprint);
        assert_eq!(a.fingerprint.len(), 32 * 3 - 1);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&k).unwrap().permissions().mode();
            assert_eq!(mode & 0o077, 0, "key readable by others: {mode:o}");
        }
    }

    #[test]
    fn bad_pem_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (c, k) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&c, "not a certificate").unwrap();
        std::fs::write(&k, "not a key").unwrap();
        assert!(matches!(load(&c, &k), Err(TlsError::Pem { .. })));
        // A key that is not the certificate's.
        let (c1, _) = generate(&[]).unwrap();
        let (_, k2) = generate(&[]).unwrap();
        std::fs::write(&c, c1).unwrap();
        std::fs::write(&k, k2).unwrap();
        assert!(load(&c, &k).is_err());
    }
}
