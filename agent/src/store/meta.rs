//! The meta tree: the office's key and certificate, what it learned at enrollment, and the sync
//! bookkeeping (acknowledged seq, last sync, last error, the restore flag); each write flushed.

use baobi_proto::{AuthorId, Keypair};
use serde::{Deserialize, Serialize};

use super::{u64_of, Error, Result, Store};

/// What the office learned when it enrolled with the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubInfo {
    /// The hub's address, `host:port`.
    pub addr: String,
    /// SHA-256 of the hub's certificate, hex.
    pub fingerprint: String,
    /// The hub's author key, hex.
    pub author: String,
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The office's unit code.
    pub unit: String,
    /// The office's unit name.
    pub unit_name: String,
    /// The office's label.
    pub label: String,
}

impl HubInfo {
    /// The hub fingerprint as bytes.
    pub fn fingerprint_bytes(&self) -> Result<[u8; 32]> {
        let v = data_encoding::HEXLOWER
            .decode(self.fingerprint.as_bytes())
            .map_err(|e| Error::Corrupt(format!("hub fingerprint: {e}")))?;
        v.try_into()
            .map_err(|_| Error::Corrupt("hub fingerprint: not 32 bytes".into()))
    }

    /// The hub's author id.
    pub fn author_id(&self) -> Result<AuthorId> {
        AuthorId::from_hex(&self.author).map_err(|e| Error::Corrupt(format!("hub author: {e}")))
    }
}

pub(super) const K_SECRET: &[u8] = b"secret";
pub(super) const K_CERT: &[u8] = b"cert";
pub(super) const K_HUB: &[u8] = b"hub";
pub(super) const K_ACKED: &[u8] = b"acked_seq";
pub(super) const K_LAST_SYNC: &[u8] = b"last_sync";
pub(super) const K_LAST_ERROR: &[u8] = b"last_error";
pub(super) const K_HUB_MISMATCH: &[u8] = b"hub_mismatch";
pub(super) const K_RESTORING: &[u8] = b"restoring";

impl Store {
    /// Stores a freshly made identity (key secret and certificate DER), durably.
    pub fn set_identity(&self, secret: &[u8; 32], cert_der: &[u8]) -> Result<()> {
        self.meta.insert(K_SECRET, &secret[..])?;
        self.meta.insert(K_CERT, cert_der)?;
        self.db.flush()?;
        Ok(())
    }

    /// The office's signing key.
    pub fn keypair(&self) -> Result<Keypair> {
        let v = self.meta.get(K_SECRET)?.ok_or(Error::NoIdentity)?;
        let b: [u8; 32] = v
            .as_ref()
            .try_into()
            .map_err(|_| Error::Corrupt("key secret".into()))?;
        Ok(Keypair::from_secret(&b))
    }

    /// The office's TLS certificate, DER.
    pub fn cert_der(&self) -> Result<Vec<u8>> {
        Ok(self.meta.get(K_CERT)?.ok_or(Error::NoIdentity)?.to_vec())
    }

    /// The office's author id, when it has a key.
    pub fn author(&self) -> Result<AuthorId> {
        Ok(self.keypair()?.author())
    }

    /// What enrollment stored, none before enrollment.
    pub fn hub(&self) -> Result<Option<HubInfo>> {
        match self.meta.get(K_HUB)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("hub info: {e}"))),
        }
    }

    /// Stores the enrollment result, durably.
    pub fn set_hub(&self, hub: &HubInfo) -> Result<()> {
        let v = serde_json::to_vec(hub).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.meta.insert(K_HUB, v)?;
        self.db.flush()?;
        Ok(())
    }

    /// A tree of its own in the agent's database, for the office app's state (paired devices, sync
    /// history); sled trees are independent of the entries and the meta tree.
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// Flushes every write so far to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Highest own seq the hub has acknowledged.
    pub fn acked_seq(&self) -> Result<u64> {
        Ok(u64_of(self.meta.get(K_ACKED)?))
    }

    /// Raises the acknowledged seq (never lowers), durably.
    pub fn set_acked_seq(&self, seq: u64) -> Result<()> {
        if seq > self.acked_seq()? {
            self.meta.insert(K_ACKED, &seq.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Unix time of the last successful sync.
    pub fn last_sync(&self) -> Result<Option<i64>> {
        Ok(self
            .meta
            .get(K_LAST_SYNC)?
            .and_then(|b| b.as_ref().try_into().ok())
            .map(i64::from_be_bytes))
    }

    /// The last sync error, cleared by a successful sync.
    pub fn last_error(&self) -> Result<Option<String>> {
        Ok(self
            .meta
            .get(K_LAST_ERROR)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Records a successful sync at `unix` seconds.
    pub fn record_sync_ok(&self, unix: i64) -> Result<()> {
        self.meta.insert(K_LAST_SYNC, &unix.to_be_bytes())?;
        self.meta.remove(K_LAST_ERROR)?;
        self.meta.remove(K_HUB_MISMATCH)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records a failed sync; `hub_mismatch` when it failed because the hub's certificate is not the
    /// pinned one (kept until a sync succeeds, for `status`).
    pub fn record_sync_error(&self, msg: &str, hub_mismatch: bool) -> Result<()> {
        self.meta.insert(K_LAST_ERROR, msg.as_bytes())?;
        if hub_mismatch {
            self.meta.insert(K_HUB_MISMATCH, &[1u8])?;
        } else {
            self.meta.remove(K_HUB_MISMATCH)?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// True when the last sync failed because the hub's certificate did not match the pinned one.
    pub fn hub_mismatch(&self) -> Result<bool> {
        Ok(self.meta.get(K_HUB_MISMATCH)?.is_some())
    }

    /// True while a restore from a key backup waits for its first sync (writes are refused).
    pub fn restoring(&self) -> Result<bool> {
        Ok(self.meta.get(K_RESTORING)?.is_some())
    }

    /// Marks (or clears) the restore-from-key state, durably.
    pub fn set_restoring(&self, on: bool) -> Result<()> {
        if on {
            self.meta.insert(K_RESTORING, &[1u8][..])?;
        } else {
            self.meta.remove(K_RESTORING)?;
        }
        self.db.flush()?;
        Ok(())
    }
}
