//! Review decisions: an operator marks a record's current version verified, or returns it to its
//! office with a reason. Each decision is a hub-signed `Op::Review` entry, so it syncs down to the
//! offices like units and plans do.
//!
//! A decision names the version it was made on: it holds while that version is the record's value,
//! so a correction after a return makes the record `submitted` again (see `proto::view::review_of`).

use baobi_proto::view::{review_of, RecordState, Value};
use baobi_proto::wire::{self, Dot, Op, ReviewDecision};
use baobi_proto::AuthorId;

use crate::report::{self, RecordRow};
use crate::store::Hub;
use crate::{Error, Result};

/// What the operator decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// The record's current value is checked and correct.
    Verified,
    /// The record goes back to its office for correction, for this reason.
    Returned(String),
}

/// Finds a record by full id (`<64 hex>-<seq>`) or short id (`<8 hex>-<seq>`).
pub fn find(hub: &Hub, id: &str) -> Result<RecordState> {
    let s = id.trim();
    let bad = || {
        Error::Invalid(format!(
            "'{s}' is not a record id (like 1a2b3c4d-7) / mã bản ghi không hợp lệ"
        ))
    };
    let (a, n) = s.rsplit_once('-').ok_or_else(bad)?;
    let seq: u64 = n.parse().map_err(|_| bad())?;
    let a = a.to_ascii_lowercase();
    if a.len() < 8 || !a.chars().all(|c| c.is_ascii_hexdigit()) || seq == 0 {
        return Err(bad());
    }
    let author = if a.len() == 64 {
        AuthorId::from_hex(&a).map_err(|_| bad())?
    } else {
        let mut found: Vec<AuthorId> = hub
            .agents()?
            .into_iter()
            .map(|x| x.author)
            .chain([hub.keypair().author()])
            .filter(|x| x.hex().starts_with(&a))
            .collect();
        found.sort();
        found.dedup();
        match found.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::Invalid(format!(
                    "no record {s} / không có bản ghi {s}"
                )))
            }
            _ => {
                return Err(Error::Invalid(format!(
                    "'{s}' is ambiguous; give the full id / mã chưa rõ, hãy ghi đủ"
                )))
            }
        }
    };
    hub.record(&Dot { author, seq })?
        .ok_or_else(|| Error::Invalid(format!("no record {s} / không có bản ghi {s}")))
}

/// Records `decision` on the current version of record `id` and returns the record as it now stands.
/// Deciding again what already holds changes nothing.
pub fn decide(hub: &Hub, id: &str, decision: Decision) -> Result<RecordRow> {
    let rec = find(hub, id)?;
    let heads = rec.heads();
    let Some(winner) = heads.first() else {
        return Err(Error::Invalid(format!(
            "record {} has no version the hub holds",
            rec.id
        )));
    };
    if matches!(winner.version.value, Value::Retracted(_)) {
        return Err(Error::Invalid(format!(
            "record {} was retracted: nothing to review / bản ghi đã rút",
            rec.id
        )));
    }
    let is_survey = matches!(
        winner.version.value,
        Value::Body(wire::Body::MarketSurvey(_) | wire::Body::RetailSurvey(_))
    );
    let (d, reason) = match decision {
        Decision::Verified => (wire::Decision::Verified, String::new()),
        // Offices see returned surveys and why (`survey list`, `survey show`) and correct them; they
        // see no review of outlets or campaigns yet, so only surveys can be returned.
        Decision::Returned(_) if !is_survey => {
            return Err(Error::Invalid(format!(
                "record {} is not a survey: only surveys can be returned (outlets and campaigns can be verified) / chỉ trả lại được phiếu khảo sát",
                rec.id
            )))
        }
        Decision::Returned(r) => {
            let r = baobi_proto::validate::nfc(r.trim());
            if r.is_empty() {
                return Err(Error::Invalid(
                    "reason: a returned record needs a reason / cần nêu lý do trả lại".into(),
                ));
            }
            if r.chars().count() > wire::MAX_TEXT {
                return Err(Error::Invalid(format!(
                    "reason: longer than {} characters",
                    wire::MAX_TEXT
                )));
            }
            (wire::Decision::Returned, r)
        }
    };
    let holding = review_of(&winner.hash, &hub.reviews(&rec.id)?);
    let same = holding.is_some_and(|h| h.decision == d && h.reason == reason);
    if !same {
        hub.append_own(vec![Op::Review(ReviewDecision {
            record: rec.id,
            version: winner.hash,
            decision: d,
            reason,
        })])?;
    }
    let rec = hub.record(&rec.id)?.unwrap_or(rec);
    report::record_row(hub, &rec)
}
