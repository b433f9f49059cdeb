//! Rebuilding an office whose disk was lost, from the hub, without ever reusing a sequence number.
//!
//! Two cases. With a key backup (`backup-key`), the office keeps its author: the backup is installed
//! into a fresh store marked "restoring", and no record can be written until a sync has fetched the
//! office's own entries back from the hub, so the next entry is the hub's seq + 1. Without one, the
//! hub issues a restore token: the office enrolls a new key, the hub retires the lost key (it can never
//! write again) and the first sync brings every entry of the unit, the lost key's included. Entries
//! saved but never synced before the loss are gone with the disk either way.

use std::path::Path;

use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

use crate::store::{self, HubInfo, Store};

/// What can go wrong with a backup or a restore.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::Error),
    /// The store already holds an identity or entries: a restore needs an empty one.
    #[error(
        "thư mục dữ liệu không trống / the data folder already holds an office ({0}); restore into \
         an empty folder"
    )]
    NotEmpty(String),
    /// The office was never enrolled: there is nothing to back up.
    #[error("văn phòng chưa đăng ký / this office is not enrolled: nothing to back up")]
    NotEnrolled,
    /// The backup file is unreadable or damaged.
    #[error("tệp sao lưu khóa không hợp lệ / bad key backup: {0}")]
    BadBackup(String),
}

/// Result with the restore error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A key backup: the office's key, certificate and hub pin. Keep it like a password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyBackup {
    /// Format tag, `baobi-key/1`.
    pub format: String,
    /// The ed25519 secret, hex.
    pub secret: String,
    /// The TLS certificate (DER), hex.
    pub cert: String,
    /// What the office learned at enrollment.
    pub hub: HubInfo,
}

/// Format tag of [`KeyBackup`].
pub const FORMAT: &str = "baobi-key/1";

/// The key backup of an enrolled office.
pub fn backup(store: &Store) -> Result<KeyBackup> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    Ok(KeyBackup {
        format: FORMAT.into(),
        secret: HEXLOWER.encode(&store.keypair()?.secret()),
        cert: HEXLOWER.encode(&store.cert_der()?),
        hub,
    })
}

/// Writes a key backup to `path`, readable by its owner only.
pub fn write_backup(b: &KeyBackup, path: &Path) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let json = serde_json::to_vec_pretty(b).map_err(std::io::Error::other)?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(&json)?;
    f.sync_all()
}

/// Reads a key backup written by [`write_backup`].
pub fn read_backup(path: &Path) -> Result<KeyBackup> {
    let bytes =
        std::fs::read(path).map_err(|e| Error::BadBackup(format!("{}: {e}", path.display())))?;
    let b: KeyBackup =
        serde_json::from_slice(&bytes).map_err(|e| Error::BadBackup(e.to_string()))?;
    if b.format != FORMAT {
        return Err(Error::BadBackup(format!("unknown format '{}'", b.format)));
    }
    Ok(b)
}

/// Fails unless `store` holds no enrollment and no entry. A key alone is allowed: it is what a
/// restore (or an `init`) interrupted before the hub's answer was stored leaves, and running the
/// same command again resumes with it (the hub answers a repeated enrollment of the same key).
pub fn ensure_empty(store: &Store) -> Result<()> {
    if let Some(h) = store.hub()? {
        return Err(Error::NotEmpty(format!("enrolled with {}", h.addr)));
    }
    if store.state().entries > 0 {
        return Err(Error::NotEmpty("entries".into()));
    }
    Ok(())
}

/// Installs a key backup into an empty store and marks it restoring: nothing can be recorded until a
/// sync has fetched the office's entries back (`sync::sync` clears the mark).
pub fn install(store: &Store, b: &KeyBackup) -> Result<()> {
    ensure_empty(store)?;
    let secret: [u8; 32] = HEXLOWER
        .decode(b.secret.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::BadBackup("secret is not 32 hex bytes".into()))?;
    let cert = HEXLOWER
        .decode(b.cert.as_bytes())
        .map_err(|e| Error::BadBackup(format!("cert: {e}")))?;
    b.hub
        .fingerprint_bytes()
        .map_err(|e| Error::BadBackup(e.to_string()))?;
    // Mark first: a crash between these writes leaves a store that refuses to write, never one that
    // writes from seq 1 with a key whose entries the hub already holds.
    store.set_restoring(true)?;
    store.set_identity(&secret, &cert)?;
    store.set_hub(&b.hub)?;
    Ok(())
}
