//! Drop files on the office's side: `drop export` writes the own entries the hub has not
//! acknowledged as a signed file for someone to carry to the hub; `drop import` takes the hub's file
//! for this office (the entries it may see, and the hub's receipt), with the checks a sync applies.
//!
//! The file format is `proto::drop`; this module only chooses what goes in and applies what comes
//! out. Nothing is stored from a file unless all of it passes: its signature (the hub's key learnt at
//! enrollment), that it is for this office, every run's seal, and every receipt against the office's
//! own chain.

use std::path::Path;

use baobi_proto::drop::{self as fmt, DropBody, DropError, DropHeader};
use baobi_proto::receipt::ReceiptError;
use baobi_proto::wire::Op;
use serde::{Deserialize, Serialize};

use crate::store::{self, Store};
use crate::sync::BATCH;

/// What can go wrong with a drop file.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The office is not enrolled: it knows no hub to write for or to trust.
    #[error("chưa đăng ký với máy chủ tỉnh / not enrolled with a hub")]
    NotEnrolled,
    /// The file is refused.
    #[error("{0}")]
    File(#[from] DropError),
    /// A receipt in the file is refused.
    #[error("{0}")]
    Receipt(#[from] ReceiptError),
    /// An entry in the file is refused.
    #[error("mục bị từ chối / entry refused: {0}")]
    Entry(String),
    /// Reading or writing the file failed.
    #[error("tệp / file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The store failed.
    #[error("{0}")]
    Store(store::Error),
}

impl From<store::Error> for Error {
    fn from(e: store::Error) -> Self {
        match e {
            store::Error::BadEntry(what, why) => Error::Entry(format!("{what}: {why}")),
            e => Error::Store(e),
        }
    }
}

impl Error {
    /// True when the file (not the store) is at fault.
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            Error::File(_) | Error::Receipt(_) | Error::Entry(_) | Error::NotEnrolled
        )
    }
}

/// Result with the drop error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What `drop export` wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// The file.
    pub path: String,
    /// Own entries in it.
    pub entries: u64,
    /// The first and last own seq in it (0, 0 when none).
    pub from: u64,
    /// See `from`.
    pub to: u64,
    /// Its size.
    pub bytes: u64,
}

/// What `drop import` did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// Entries in the file's runs (placeholders of entries this office is not sent excluded).
    pub entries: u64,
    /// Of those, how many were new here.
    pub new: u64,
    /// Receipts in the file, all verified.
    pub receipts: u64,
    /// Own entries the hub holds, by the receipts and what was known before.
    pub at_hub: u64,
    /// Own entries still not at the hub.
    pub pending: u64,
}

fn now_ms() -> u64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).max(0) as u64
}

/// The drop file for the hub: own entries above the acknowledged mark, sealed in runs of at most
/// [`BATCH`] (each ends at a head the hub can forward from), signed by the office's key.
pub fn export_bytes(store: &Store) -> Result<(Vec<u8>, u64, u64, u64)> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let hub_author = hub.author_id()?;
    let kp = store.keypair()?;
    let me = kp.author();
    let from = store.acked_seq()? + 1;
    let to = store.own_seq()?;
    let mut runs = vec![];
    let mut n = 0u64;
    if to >= from {
        let entries = store.range(&me, from, to)?;
        for chunk in entries.chunks(BATCH) {
            runs.push(store.seal(chunk)?);
            n += chunk.len() as u64;
        }
    }
    let header = DropHeader {
        producer: me,
        hub: hub_author,
        office: me,
        created_ms: now_ms(),
    };
    let body = DropBody {
        runs,
        receipts: vec![],
        summary: store.summary().to_wire(),
    };
    let bytes = fmt::encode(&kp, &header, &body)?;
    Ok(if n == 0 {
        (bytes, 0, 0, 0)
    } else {
        (bytes, n, from, to)
    })
}

/// Writes [`export_bytes`] to `out`, durably (`baobi_storage::write_durably`).
pub fn export(store: &Store, out: &Path) -> Result<Exported> {
    let (bytes, entries, from, to) = export_bytes(store)?;
    let io = |source| Error::Io {
        path: out.display().to_string(),
        source,
    };
    baobi_storage::write_durably(out, &bytes).map_err(io)?;
    Ok(Exported {
        path: out.display().to_string(),
        entries,
        from,
        to,
        bytes: bytes.len() as u64,
    })
}

/// Takes the hub's drop file for this office: checks all of it, then stores its entries durably and
/// raises the acknowledged mark to its receipts. Importing the same file again changes nothing.
pub fn import_bytes(store: &Store, bytes: &[u8]) -> Result<Imported> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let me = store.author()?;
    let file = fmt::decode(bytes)?;
    // Written by the primary, or by the standby whose key the primary told this office (a promoted
    // standby writes and signs with its own key, as its entries and receipts are).
    let primary = hub.author_id()?;
    let hub_author = match crate::standby::author(store)? {
        Some(s) if file.header.producer == s => s,
        _ => primary,
    };
    file.check(&hub_author, &hub_author, &me)?;
    let own_seq = store.own_seq()?;
    let mut held = 0;
    for r in &file.body.receipts {
        let seq = r.verify(&hub_author, &me, own_seq, |s| store.own_link(s).ok())?;
        held = held.max(seq);
    }
    let entries = file
        .body
        .runs
        .iter()
        .flat_map(|r| &r.items)
        .filter(|i| !matches!(i.op, Op::Elided(_)))
        .count() as u64;
    // All runs opened and checked before any is stored, as a sync's batch is.
    let new = store.store_received(&file.body.runs, &primary)? as u64;
    store.set_acked_seq(held)?;
    let at_hub = store.acked_seq()?;
    Ok(Imported {
        entries,
        new,
        receipts: file.body.receipts.len() as u64,
        at_hub,
        pending: store.own_seq()?.saturating_sub(at_hub),
    })
}

/// Reads `file` (refused before reading when larger than a drop file may be) and imports it.
pub fn import(store: &Store, file: &Path) -> Result<Imported> {
    let io = |source| Error::Io {
        path: file.display().to_string(),
        source,
    };
    let len = std::fs::metadata(file).map_err(io)?.len();
    if len > fmt::MAX_FILE as u64 {
        return Err(DropError::TooLarge {
            len: len as usize,
            limit: fmt::MAX_FILE,
        }
        .into());
    }
    let bytes = std::fs::read(file).map_err(io)?;
    import_bytes(store, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::HubInfo;
    use baobi_proto::receipt::Receipt;
    use baobi_proto::wire::{Body, CampaignEvent, CampaignKind, Date};
    use baobi_proto::Keypair;

    /// An office's store enrolled with the hub `hub`, holding `n` own entries.
    fn office(dir: &Path, hub: &Keypair, n: u32) -> Store {
        let store = Store::open(dir).unwrap();
        crate::sync::identity(&store).unwrap();
        store
            .set_hub(&HubInfo {
                addr: "127.0.0.1:4433".into(),
                fingerprint: "00".repeat(32),
                author: hub.author().hex(),
                province: "87".into(),
                province_name: "Đồng Tháp".into(),
                unit: "30226".into(),
                unit_name: "Xã Tân Thành".into(),
                label: "UBND xã Tân Thành".into(),
            })
            .unwrap();
        for i in 1..=n {
            let op = Op::Record(Body::Campaign(CampaignEvent {
                unit: "30226".into(),
                date: Date(20250301),
                kind: CampaignKind::Event,
                participants: Some(i),
                topic: "Tuần lễ túi xanh".into(),
            }));
            store.append(op, 1_764_633_600_000).unwrap();
        }
        store
    }

    fn hub_file(
        signer: &Keypair,
        hub: &Keypair,
        office: &Store,
        receipts: Vec<Receipt>,
    ) -> Vec<u8> {
        let header = DropHeader {
            producer: signer.author(),
            hub: hub.author(),
            office: office.author().unwrap(),
            created_ms: 0,
        };
        let body = DropBody {
            receipts,
            ..DropBody::default()
        };
        fmt::encode(signer, &header, &body).unwrap()
    }

    #[test]
    fn only_a_receipt_of_the_own_hub_matching_the_own_chain_moves_the_mark() {
        let tmp = tempfile::tempdir().unwrap();
        let hub = Keypair::generate();
        let store = office(tmp.path(), &hub, 4);
        let me = store.author().unwrap();
        let head = |s| store.own_link(s).unwrap();

        // The export holds every own entry, sealed by the office, and only those.
        let (bytes, n, from, to) = export_bytes(&store).unwrap();
        assert_eq!((n, from, to), (4, 1, 4));
        let f = fmt::decode(&bytes).unwrap();
        f.check(&me, &hub.author(), &me).unwrap();
        assert!(f
            .body
            .runs
            .iter()
            .all(|r| r.author == me && r.open().is_some()));

        let forger = Keypair::generate();
        let cases = [
            // A relay (or anyone) signing a receipt with its own key, in a file of its own.
            hub_file(
                &forger,
                &forger,
                &store,
                vec![Receipt::sign(&forger, me, 4, head(4), 1)],
            ),
            // The hub's file carrying a receipt of another key.
            hub_file(
                &hub,
                &hub,
                &store,
                vec![Receipt::sign(&forger, me, 4, head(4), 1)],
            ),
            // The hub's receipt with a head that is not the office's chain (a forked log).
            hub_file(
                &hub,
                &hub,
                &store,
                vec![Receipt::sign(&hub, me, 4, head(3), 1)],
            ),
            // The hub's receipt beyond what the office wrote.
            hub_file(
                &hub,
                &hub,
                &store,
                vec![Receipt::sign(&hub, me, 5, head(4), 1)],
            ),
            // For another office.
            hub_file(
                &hub,
                &hub,
                &store,
                vec![Receipt::sign(&hub, forger.author(), 4, head(4), 1)],
            ),
        ];
        for (i, bytes) in cases.iter().enumerate() {
            let e = import_bytes(&store, bytes).unwrap_err();
            assert!(e.is_bad_input(), "case {i}: {e}");
            assert_eq!(store.acked_seq().unwrap(), 0, "case {i}");
        }

        let good = hub_file(
            &hub,
            &hub,
            &store,
            vec![Receipt::sign(&hub, me, 3, head(3), 1)],
        );
        let i = import_bytes(&store, &good).unwrap();
        assert_eq!((i.at_hub, i.pending, i.receipts), (3, 1, 1));
        // What the hub acknowledged is not exported again.
        let (_, n, from, to) = export_bytes(&store).unwrap();
        assert_eq!((n, from, to), (1, 4, 4));
        // An older receipt never lowers the mark.
        let old = hub_file(
            &hub,
            &hub,
            &store,
            vec![Receipt::sign(&hub, me, 1, head(1), 0)],
        );
        assert_eq!(import_bytes(&store, &old).unwrap().at_hub, 3);
    }
}
