//! The office's standby hub: where it is and its pin (from the enrollment token), and which of the
//! two hubs answered last, in the sled tree `standby_hub`. A sync tries the hub that answered last
//! first and falls back to the other when it does not answer; each is pinned to its own certificate.
//! Which hub holds an entry is not tracked here: each sync sends what the hub it talks to lacks (by
//! that hub's summary), so an entry stays the office's to send until the hub it reaches has it.

use baobi_proto::identity::PeerPin;
use data_encoding::HEXLOWER;

use crate::store::{self, HubInfo, Store};

const TREE: &str = "standby_hub";
const K_PIN: &[u8] = b"pin";
const K_LAST: &[u8] = b"last";

/// One hub a sync may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// SHA-256 of its certificate.
    pub fingerprint: [u8; 32],
    /// True for the standby.
    pub standby: bool,
}

/// Keeps the standby named by the enrollment token (nothing when there is none), durably.
pub fn save(store: &Store, pin: Option<&PeerPin>) -> store::Result<()> {
    let Some(p) = pin else { return Ok(()) };
    let t = store.tree(TREE)?;
    let v = format!("{} {}", HEXLOWER.encode(&p.fingerprint), p.addr);
    t.insert(K_PIN, v.as_bytes())?;
    store.flush()
}

/// The standby this office knows.
pub fn pin(store: &Store) -> store::Result<Option<PeerPin>> {
    let t = store.tree(TREE)?;
    let Some(v) = t.get(K_PIN)? else {
        return Ok(None);
    };
    let s = String::from_utf8_lossy(&v);
    let bad = || store::Error::Corrupt("standby pin".into());
    let (fp, addr) = s.split_once(' ').ok_or_else(bad)?;
    let fingerprint = HEXLOWER
        .decode(fp.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok(Some(PeerPin {
        addr: addr.to_string(),
        fingerprint,
    }))
}

/// The hubs to try, in order: the one that answered last first (the primary when none has).
pub fn targets(store: &Store, hub: &HubInfo) -> store::Result<Vec<Target>> {
    let mut out = vec![Target {
        addr: hub.addr.clone(),
        fingerprint: hub.fingerprint_bytes()?,
        standby: false,
    }];
    if let Some(p) = pin(store)? {
        out.push(Target {
            addr: p.addr,
            fingerprint: p.fingerprint,
            standby: true,
        });
        if store.tree(TREE)?.get(K_LAST)?.as_deref() == Some(&b"standby"[..]) {
            out.reverse();
        }
    }
    Ok(out)
}

/// Records which hub answered.
pub fn answered(store: &Store, t: &Target) -> store::Result<()> {
    let v: &[u8] = if t.standby { b"standby" } else { b"primary" };
    let tree = store.tree(TREE)?;
    if tree.get(K_LAST)?.as_deref() != Some(v) {
        tree.insert(K_LAST, v)?;
    }
    Ok(())
}
