//! Drop files on the hub's side: `drop import` merges an office's file with every check a sync does
//! (`check::merge_runs` under the office's `AgentRec`; an unknown or revoked office is refused), and
//! `drop export --for AGENT` writes what that office lacks under its audience filter, with the hub's
//! receipt for the office's log, for someone to carry to an office with no link.
//!
//! The format is `proto::drop`. A file is merged all or nothing (one `merge_runs` call, one commit),
//! so a refused file changes nothing, and merging is idempotent by dot, so importing a file twice
//! changes nothing either. The office's summary in its file is kept (meta `drop.summary.<author>`)
//! so the next export for it leaves out what it already holds.

use baobi_proto::drop::{self as fmt, DropBody, DropHeader};
use baobi_proto::receipt::Receipt;
use baobi_proto::wire::{Op, Run, SummaryWire};
use baobi_proto::Summary;
use data_encoding::HEXLOWER;
use serde::{Deserialize, Serialize};

use crate::store::AgentRec;
use crate::{Error, Hub, Result};

/// What an imported file did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Imported {
    /// The office's author key (hex).
    pub office: String,
    /// Its label.
    pub label: String,
    /// Its unit.
    pub unit: String,
    /// Entries in the file.
    pub entries: u64,
    /// Of those, how many were new at the hub.
    pub new: u64,
    /// The office's entries the hub now holds.
    pub at_hub: u64,
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Exported {
    /// The file (empty when the bytes went elsewhere).
    pub path: String,
    /// The office's author key (hex).
    pub office: String,
    /// Its label.
    pub label: String,
    /// Entries in the file (placeholders of entries the office may not see excluded).
    pub entries: u64,
    /// Runs in the file.
    pub runs: u64,
    /// The seq of the office's log the receipt says the hub holds.
    pub receipt_seq: u64,
    /// The file's size.
    pub bytes: u64,
}

fn invalid(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!(
        "Tệp chuyển dữ liệu / Drop file: {msg}; không thay đổi gì / nothing changed"
    ))
}

fn known_key(author: &baobi_proto::AuthorId) -> String {
    format!("drop.summary.{}", author.hex())
}

fn shown(runs: &[Run]) -> u64 {
    runs.iter()
        .flat_map(|r| &r.items)
        .filter(|i| !matches!(i.op, Op::Elided(_)))
        .count() as u64
}

/// Merges an office's drop file. Bad or foreign files and refused entries are [`Error::Invalid`].
pub fn import_bytes(hub: &Hub, bytes: &[u8]) -> Result<Imported> {
    let file = fmt::decode(bytes).map_err(invalid)?;
    let me = hub.keypair().author();
    let office = file.header.office;
    let agent: AgentRec = match hub.agent(&office)? {
        Some(a) => a,
        None if file.header.hub != me => {
            return Err(invalid(fmt::DropError::Foreign(format!(
                "viết cho máy chủ {} / written for hub {}",
                file.header.hub.short(),
                file.header.hub.short()
            ))))
        }
        None => {
            return Err(invalid(format!(
                "văn phòng {} chưa đăng ký ở máy chủ này / office {} is not enrolled at this hub",
                office.short(),
                office.short()
            )))
        }
    };
    file.check(&agent.author, &me, &agent.author)
        .map_err(invalid)?;
    if agent.revoked {
        return Err(invalid(format!(
            "đăng ký của văn phòng {} đã bị thu hồi / office {}'s enrollment was revoked",
            agent.label, agent.label
        )));
    }
    // As a sync does: offices enrolled before jurisdiction entries existed get theirs first.
    let agent = crate::office::settle(hub, &agent).unwrap_or(agent);
    let runs = &file.body.runs;
    let new = match crate::check::merge_runs(hub, &agent, runs)? {
        Ok(n) => n,
        Err(r) => {
            tracing::warn!(agent = %agent.author.short(), reason = ?r.code, message = %r.message,
                "drop file refused");
            return Err(invalid(format!(
                "máy chủ từ chối / refused ({:?}): {}",
                r.code, r.message
            )));
        }
    };
    hub.metrics().merged(new);
    let summary = HEXLOWER.encode(&baobi_proto::wire::encode(&file.body.summary));
    if hub.meta(&known_key(&agent.author))?.as_deref() != Some(summary.as_str()) {
        hub.set_meta(&known_key(&agent.author), &summary)?;
    }
    tracing::info!(agent = %agent.author.short(), new, "drop file merged");
    Ok(Imported {
        office: agent.author.hex(),
        label: agent.label.clone(),
        unit: agent.unit.clone(),
        entries: shown(runs),
        new,
        at_hub: hub.seq_of(&agent.author)?,
    })
}

/// What the hub last learnt the office holds: the summary in its last drop file (none before one),
/// and at least its own log as far as the hub holds it.
fn known(hub: &Hub, agent: &AgentRec) -> Result<Summary> {
    let mut s = hub
        .meta(&known_key(&agent.author))?
        .and_then(|h| HEXLOWER.decode(h.as_bytes()).ok())
        .and_then(|b| baobi_proto::wire::decode::<SummaryWire>(&b).ok())
        .map(|w| Summary::from_wire(&w))
        .unwrap_or_default();
    let own = hub.seq_of(&agent.author)?;
    if s.get(&agent.author) < own {
        s.set(agent.author, own);
    }
    Ok(s)
}

/// The drop file for the office `who` names (author hex prefix or label, as `agents` shows them):
/// what it lacks under its audience filter, and the hub's receipt for its log.
pub fn export_bytes(hub: &Hub, who: &str) -> Result<(Vec<u8>, Exported)> {
    let agent = hub.find_agent(who)?;
    if agent.revoked {
        return Err(Error::Invalid(format!(
            "đăng ký của văn phòng {} đã bị thu hồi / office {}'s enrollment was revoked",
            agent.label, agent.label
        )));
    }
    let me = hub.keypair().author();
    let scoped = hub.scoped_summary(&agent)?;
    let audience = crate::office::audience(hub, &agent)?;
    let mut missing = scoped.missing_in(&known(hub, &agent)?).into();
    let mut runs = vec![];
    loop {
        let batch = crate::server::next_batch(hub, &mut missing, |run| audience.filter(hub, run))?;
        if batch.is_empty() {
            break;
        }
        runs.extend(batch);
    }
    // The receipt reads the office's log under the merge lock: only what is flushed counts.
    let receipt = {
        let _g = hub.lock();
        let seq = hub.seq_of(&agent.author)?;
        let head = hub.link(&agent.author, seq)?;
        Receipt::sign(hub.keypair(), agent.author, seq, head, crate::now_ms())
    };
    let receipt_seq = receipt.seq;
    let header = DropHeader {
        producer: me,
        hub: me,
        office: agent.author,
        created_ms: crate::now_ms(),
    };
    let entries = shown(&runs);
    let n_runs = runs.len() as u64;
    let body = DropBody {
        runs,
        receipts: vec![receipt],
        summary: scoped.to_wire(),
    };
    let bytes = fmt::encode(hub.keypair(), &header, &body).map_err(invalid)?;
    let exported = Exported {
        path: String::new(),
        office: agent.author.hex(),
        label: agent.label.clone(),
        entries,
        runs: n_runs,
        receipt_seq,
        bytes: bytes.len() as u64,
    };
    Ok((bytes, exported))
}

/// Reads an office's drop file (refused before reading when too large) and merges it.
pub fn import(hub: &Hub, file: &std::path::Path) -> Result<Imported> {
    let len = std::fs::metadata(file)
        .map_err(|e| {
            Error::Invalid(format!(
                "không đọc được tệp / cannot read {}: {e}",
                file.display()
            ))
        })?
        .len();
    if len > fmt::MAX_FILE as u64 {
        return Err(invalid(fmt::DropError::TooLarge {
            len: len as usize,
            limit: fmt::MAX_FILE,
        }));
    }
    let bytes = std::fs::read(file).map_err(|e| {
        Error::Invalid(format!(
            "không đọc được tệp / cannot read {}: {e}",
            file.display()
        ))
    })?;
    import_bytes(hub, &bytes)
}

/// Writes the drop file for `who` to `out`, durably (`baobi_storage::write_durably`).
pub fn export(hub: &Hub, who: &str, out: &std::path::Path) -> Result<Exported> {
    let (bytes, mut e) = export_bytes(hub, who)?;
    let cannot = |e: std::io::Error| {
        Error::Invalid(format!(
            "không ghi được tệp / cannot write {}: {e}",
            out.display()
        ))
    };
    baobi_storage::write_durably(out, &bytes).map_err(cannot)?;
    e.path = out.display().to_string();
    Ok(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testkit::{enroll, hub};
    use baobi_proto::chain::{genesis, link_of};
    use baobi_proto::wire::{Body, OutletDef, OutletKind};
    use baobi_proto::{Entry, Hlc, Keypair};

    fn outlets(k: &Keypair, n: u64) -> Vec<Entry> {
        (1..=n)
            .map(|s| {
                k.sign_entry(
                    s,
                    Hlc(s),
                    Op::Record(Body::Outlet(OutletDef {
                        kind: OutletKind::Market,
                        name: format!("Chợ số {s}"),
                        unit: "30226".into(),
                        address: String::new(),
                        market_class: Some(3),
                        certifications: vec![],
                        opened: None,
                        closed: None,
                    })),
                )
            })
            .collect()
    }

    fn file(signer: &Keypair, hub: &Hub, office: &Keypair, runs: Vec<Run>) -> Vec<u8> {
        let header = DropHeader {
            producer: signer.author(),
            hub: hub.keypair().author(),
            office: office.author(),
            created_ms: 0,
        };
        let body = DropBody {
            runs,
            ..DropBody::default()
        };
        fmt::encode(signer, &header, &body).unwrap()
    }

    #[test]
    fn only_the_office_itself_may_carry_its_runs_and_the_receipt_matches_its_chain() {
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let (a, b) = (Keypair::generate(), Keypair::generate());
        // Enrolled as the server enrolls: with the jurisdiction entry settled.
        for (k, unit) in [(&a, "30226"), (&b, "30208")] {
            crate::office::settle(&h, &enroll(&h, k, unit)).unwrap();
        }
        let log = outlets(&a, 3);
        let (run, _) = Run::seal(&a, genesis(&a.author()), &log).unwrap();
        let summary = h.summary().unwrap();

        // Another enrolled office signs a file in A's name: refused, nothing stored.
        let e = import_bytes(&h, &file(&b, &h, &a, vec![run.clone()])).unwrap_err();
        assert!(e.to_string().contains("signed by"), "{e}");
        // A's file carrying B's runs: the merge refuses them as a sync would.
        let b_log = outlets(&b, 1);
        let (b_run, _) = Run::seal(&b, genesis(&b.author()), &b_log).unwrap();
        let e = import_bytes(&h, &file(&a, &h, &a, vec![b_run])).unwrap_err();
        assert!(e.to_string().contains("WrongAuthor"), "{e}");
        // A file for another hub.
        let other = hub(tempfile::tempdir().unwrap().path());
        let e = import_bytes(&h, &file(&a, &other, &a, vec![run.clone()])).unwrap_err();
        assert!(e.to_string().contains("nothing changed"), "{e}");
        assert_eq!(h.summary().unwrap(), summary);

        let i = import_bytes(&h, &file(&a, &h, &a, vec![run])).unwrap();
        assert_eq!((i.entries, i.new, i.at_hub), (3, 3, 3));

        let (bytes, e) = export_bytes(&h, &a.author().hex()).unwrap();
        assert_eq!(e.receipt_seq, 3);
        let f = fmt::decode(&bytes).unwrap();
        f.check(&h.keypair().author(), &h.keypair().author(), &a.author())
            .unwrap();
        let mut links = vec![genesis(&a.author())];
        for x in &log {
            links.push(link_of(links.last().unwrap(), x));
        }
        let r = &f.body.receipts[0];
        assert_eq!(
            r.verify(&h.keypair().author(), &a.author(), 3, |s| links
                .get(s as usize)
                .copied()),
            Ok(3)
        );
        // A's own log is not sent back to it.
        assert!(f.body.runs.iter().all(|r| r.author != a.author()));
    }
}
