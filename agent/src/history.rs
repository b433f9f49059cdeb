//! The last sync attempts (kept: [`KEEP`]), persisted in the agent's store (tree `sync_history`) so the
//! office app can show a short history that survives a restart: when, whether it worked, what it
//! sent and received, and the error in words when it failed.

use serde::{Deserialize, Serialize};

use crate::store::Store;
use crate::sync::{self, SyncReport};

/// Attempts kept.
pub const KEEP: usize = 20;
const TREE: &str = "sync_history";

/// One sync attempt.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attempt {
    /// When it ended, RFC 3339.
    pub at: String,
    /// It succeeded.
    pub ok: bool,
    /// Entries the hub acknowledged.
    pub sent: u64,
    /// Entries received.
    pub received: u64,
    /// The result in words (bilingual).
    pub message: String,
}

/// The result of a sync in words, bilingual.
pub fn describe(r: &Result<SyncReport, sync::Error>) -> String {
    match r {
        Ok(r) if r.up_to_date => "Đã cập nhật, không có gì mới / Up to date, nothing new".into(),
        Ok(r) => format!(
            "Đã gửi {} và nhận {} mục / Sent {} and received {} entries",
            r.sent, r.received, r.sent, r.received
        ),
        Err(e) => crate::ops::Error::Sync(clone_err(e)).to_string(),
    }
}

fn clone_err(e: &sync::Error) -> sync::Error {
    match e {
        sync::Error::Unreachable {
            addr,
            detail,
            pending,
        } => sync::Error::Unreachable {
            addr: addr.clone(),
            detail: detail.clone(),
            pending: *pending,
        },
        sync::Error::HubMismatch { addr } => sync::Error::HubMismatch { addr: addr.clone() },
        sync::Error::NotEnrolled => sync::Error::NotEnrolled,
        other => sync::Error::Protocol(other.to_string()),
    }
}

/// Appends the attempt `r` (failures to write are logged, never fatal: the sync itself is done).
pub fn record(store: &Store, r: &Result<SyncReport, sync::Error>) {
    if let Err(e) = try_record(store, r) {
        tracing::warn!(error = %e, "cannot record the sync attempt");
    }
}

fn try_record(store: &Store, r: &Result<SyncReport, sync::Error>) -> crate::store::Result<()> {
    let t = store.tree(TREE)?;
    let now = time::OffsetDateTime::now_utc();
    let a = Attempt {
        at: now
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        ok: r.is_ok(),
        sent: r.as_ref().map_or(0, |r| r.sent),
        received: r.as_ref().map_or(0, |r| r.received),
        message: describe(r),
    };
    let next = t
        .last()?
        .and_then(|(k, _)| k.as_ref().try_into().ok().map(u64::from_be_bytes))
        .map_or(1, |n| n + 1);
    let v = serde_json::to_vec(&a).map_err(|e| crate::store::Error::Corrupt(e.to_string()))?;
    t.insert(next.to_be_bytes(), v)?;
    while t.len() > KEEP {
        if t.pop_min()?.is_none() {
            break;
        }
    }
    store.flush()
}

/// The kept attempts, newest first.
pub fn list(store: &Store) -> crate::store::Result<Vec<Attempt>> {
    let t = store.tree(TREE)?;
    let mut out = vec![];
    for kv in t.iter().rev() {
        let (_, v) = kv?;
        if let Ok(a) = serde_json::from_slice(&v) {
            out.push(a);
        }
    }
    Ok(out)
}
