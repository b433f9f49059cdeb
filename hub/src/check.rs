//! The hub's checks on every entry an agent sends, and the atomic merge of an accepted batch.
//!
//! Order matters and is the contract's: author, signature (the run's seal, see `proto::chain`),
//! sequence, then the operation (validation and jurisdiction). One refused entry refuses the whole
//! batch: nothing of it is stored. Entries earlier in the same batch count as present, because checks
//! read through the merge overlay. An office may also hand back the hub's own entries, sealed by the
//! hub's key, to a hub restored from an older backup (`own_back`).

use baobi_proto::chain::Link;
use baobi_proto::units::Units;
use baobi_proto::validate;
use baobi_proto::view::{self, RecordState, Tables, Value};
use baobi_proto::wire::{self, Body, Date, Dot, Entry, OfficeUnits, Op, Refusal, RefusalCode, Run};

use crate::limits::CLOCK_AHEAD;
use crate::store::{keys, AgentRec, ClockFlag, Hub, Overlay};
use crate::Result;

fn refuse(code: RefusalCode, message: impl Into<String>) -> Refusal {
    Refusal {
        code,
        message: message.into(),
    }
}

/// The unit and date a body is about: surveys and campaigns at their date, outlets at no fixed date.
pub(crate) fn unit_of(b: &Body) -> (&str, Option<Date>) {
    match b {
        Body::Outlet(o) => (&o.unit, None),
        Body::MarketSurvey(s) => (&s.unit, Some(s.date)),
        Body::RetailSurvey(s) => (&s.unit, Some(s.date)),
        Body::Campaign(c) => (&c.unit, Some(c.date)),
    }
}

/// True when `unit` lies within the office's jurisdiction on `date`, or (no date: an outlet) on some
/// day a version of the unit was in force (see `proto::office`).
pub fn within(units: &Units, unit: &str, office: &OfficeUnits, date: Option<Date>) -> bool {
    match date {
        Some(d) => units.office_holds(office, unit, d),
        None => units.office_holds_any(office, unit),
    }
}

/// The refusal of `unit` (on `date`) outside `office`, naming both units.
fn outside(units: &Units, office: &OfficeUnits, unit: &str, date: Option<Date>) -> String {
    let v = match date {
        Some(d) => units.at_or_latest(unit, d),
        None => units.latest(unit),
    };
    match v {
        Some(v) => units.outside(v, office),
        None => format!(
            "không có đơn vị mã '{unit}' / unknown unit code '{unit}' (this office: {})",
            units.office_name(office)
        ),
    }
}

fn check_body(units: &Units, office: &OfficeUnits, b: &Body) -> Result<(), Refusal> {
    validate::body(b, None).map_err(|e| refuse(RefusalCode::InvalidEntry, e.to_string()))?;
    let (unit, date) = unit_of(b);
    if !within(units, unit, office, date) {
        return Err(refuse(
            RefusalCode::OutsideJurisdiction,
            outside(units, office, unit, date),
        ));
    }
    Ok(())
}

/// The survey and date of a survey body.
fn survey_of(b: &Body) -> Option<(Dot, Date)> {
    match b {
        Body::MarketSurvey(s) => Some((s.outlet, s.date)),
        Body::RetailSurvey(s) => Some((s.outlet, s.date)),
        _ => None,
    }
}

/// A survey dated outside its outlet's open period is refused when it is outside under every version
/// of the outlet the hub holds: the office checked it against the version it knew, which is one of
/// these, so an honest office is never refused because another office corrected the outlet meanwhile.
/// A correction is checked only when it changes the survey's outlet or date (`rec`: the record), as
/// the agent does; an outlet the hub does not hold is not judged.
fn check_open_period(
    ov: &mut Overlay<'_>,
    b: &Body,
    rec: Option<&RecordState>,
) -> Result<(), Refusal> {
    let Some((outlet, date)) = survey_of(b) else {
        return Ok(());
    };
    if let Some(rec) = rec {
        let unchanged = rec.versions.iter().any(|v| match &v.version.value {
            Value::Body(old) => survey_of(old) == Some((outlet, date)),
            Value::Retracted(_) => false,
        });
        if unchanged {
            return Ok(());
        }
    }
    let Some(o) = ov.record_ref(&outlet) else {
        return Ok(());
    };
    let fits = o.versions.iter().any(|v| match &v.version.value {
        Value::Body(Body::Outlet(d)) => validate::survey_in_open_period(date, d).is_ok(),
        _ => false,
    });
    if fits {
        return Ok(());
    }
    // Outside under every version: say it as the outlet now stands.
    match o.winner().map(|h| h.version.value) {
        Some(Value::Body(Body::Outlet(d))) => validate::survey_in_open_period(date, &d)
            .map_err(|e| refuse(RefusalCode::InvalidEntry, e.to_string())),
        _ => Ok(()),
    }
}

fn same_kind(a: &Body, b: &Body) -> bool {
    std::mem::discriminant(a) == std::mem::discriminant(b)
}

fn check_existing(
    units: &Units,
    office: &OfficeUnits,
    rec: Option<RecordState>,
    supersedes: &[[u8; 32]],
    what: &str,
) -> Result<RecordState, Refusal> {
    let Some(rec) = rec else {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!("{what} of a record the hub does not hold"),
        ));
    };
    let Some(orig) = rec.original() else {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!(
                "{what} of record {} whose creation the hub does not hold",
                rec.id
            ),
        ));
    };
    let (unit, date) = unit_of(orig);
    if !within(units, unit, office, date) {
        return Err(refuse(
            RefusalCode::OutsideJurisdiction,
            format!("record {}: {}", rec.id, outside(units, office, unit, date)),
        ));
    }
    if supersedes.is_empty() {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!("{what} of {} supersedes nothing", rec.id),
        ));
    }
    let hashes: Vec<[u8; 32]> = rec.versions.iter().map(RecordState::hash_of).collect();
    if let Some(h) = supersedes.iter().find(|h| !hashes.contains(h)) {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!(
                "{what} of {} supersedes {}…, not a version of that record",
                rec.id,
                data_encoding::HEXLOWER.encode(&h[..4])
            ),
        ));
    }
    Ok(rec)
}

fn fork(e: &Entry) -> Refusal {
    refuse(
        RefusalCode::InvalidEntry,
        format!(
            "entry {}: số thứ tự đã dùng cho bản ghi khác / this sequence number already holds a \
             different entry (is this office's key in use on another PC?)",
            e.dot()
        ),
    )
}

/// Checks one entry of an opened run (its seal already verified) against the overlay, `link` being
/// its chain link. `Ok(false)` = duplicate (skip), `Ok(true)` = accept.
pub fn check_entry(
    units: &Units,
    ov: &mut Overlay<'_>,
    agent: &AgentRec,
    office: &OfficeUnits,
    e: &Entry,
    link: &Link,
) -> Result<bool, Refusal> {
    if e.author != agent.author {
        return Err(refuse(
            RefusalCode::WrongAuthor,
            format!("entry {} is not authored by the connected office", e.dot()),
        ));
    }
    let have = ov.seq(&e.author);
    if e.seq <= have {
        // A duplicate only if it is the very entry held (same link: same content and history). The
        // same (author, seq) with other content means the author's log forked (a key restored on
        // two PCs), and skipping it silently would acknowledge a record the hub never keeps.
        if ov.link(&e.author, e.seq).ok() != Some(*link) {
            return Err(fork(e));
        }
        return Ok(false);
    }
    if e.seq != have + 1 {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!("entry {}: gap after seq {have}", e.dot()),
        ));
    }
    match &e.op {
        Op::Unit(_) => Err(refuse(
            RefusalCode::InvalidEntry,
            format!("entry {}: only the hub registers units", e.dot()),
        )),
        Op::Elided(_) => Err(refuse(
            RefusalCode::InvalidEntry,
            format!("entry {}: a placeholder is not an entry", e.dot()),
        )),
        Op::Plan(_) | Op::Review(_) | Op::Office(_) => Err(refuse(
            RefusalCode::InvalidEntry,
            format!(
                "entry {}: only the hub sets plans, reviews records and offices' units",
                e.dot()
            ),
        )),
        Op::Record(b) | Op::Created(wire::Created { body: b, .. }) => {
            check_body(units, office, b)?;
            check_open_period(ov, b, None)?;
            Ok(true)
        }
        Op::Correct(c) => {
            let rec = ov.record(&c.record);
            let rec = check_existing(units, office, rec, &c.supersedes, "correction")?;
            if let Some(orig) = rec.original() {
                if !same_kind(orig, &c.body) {
                    return Err(refuse(
                        RefusalCode::InvalidEntry,
                        format!("correction of {} changes the record's kind", rec.id),
                    ));
                }
            }
            check_body(units, office, &c.body)?;
            check_open_period(ov, &c.body, Some(&rec))?;
            Ok(true)
        }
        Op::Retract(r) => {
            let rec = ov.record(&r.record);
            check_existing(units, office, rec, &r.supersedes, "retraction")?;
            if r.reason.chars().count() > wire::MAX_TEXT {
                return Err(refuse(RefusalCode::InvalidEntry, "reason: too long"));
            }
            Ok(true)
        }
    }
}

/// Flags an entry whose clock is more than [`CLOCK_AHEAD`] ahead of the hub's clock, or earlier than
/// its office's enrollment by as much (an office writes only after enrolling). The entry is accepted
/// all the same, and nothing at the hub takes its clock as its own: the hub's writes are stamped from
/// its own clock alone (see `Hlc::tick_bounded`), so a peer cannot drag it years ahead.
fn note_clock(flag: &mut ClockFlag, agent: &AgentRec, e: &Entry, now_ms: u64) {
    let slack = CLOCK_AHEAD.as_millis() as u64;
    // The device's own clock at creation when the entry carries it (the hybrid clock may have
    // followed a peer's), else the entry's clock.
    let at = match &e.op {
        Op::Created(c) => c.wall_ms,
        _ => e.hlc.millis(),
    };
    let enrolled_ms = (agent.enrolled_at.max(0) as u64).saturating_mul(1000);
    let ahead = at.saturating_sub(now_ms);
    let behind = enrolled_ms.saturating_sub(at);
    if ahead > slack || behind > slack {
        flag.ahead_ms = flag.ahead_ms.max(ahead);
        flag.behind_ms = flag.behind_ms.max(behind);
        flag.entries += 1;
    }
}

/// Checks and merges a batch of runs from `agent`: either every new entry is stored durably (returns
/// how many were new) or nothing is and the refusal comes back. Each run's head signature is kept, so
/// the hub can forward the office's entries sealed by the office.
pub fn merge_runs(hub: &Hub, agent: &AgentRec, runs: &[Run]) -> Result<Result<u64, Refusal>> {
    let _g = hub.lock();
    let units = hub.units();
    let office = crate::office::office(hub, agent)?;
    let mut ov = Overlay::for_merge(hub);
    let mut new = 0u64;
    let now_ms = (crate::now_secs().max(0) as u64).saturating_mul(1000);
    let mut clock = ClockFlag::default();
    let me = hub.keypair().author();
    let primary = hub.followed_primary()?;
    for run in runs {
        let span = format!("{}-{}..{}", run.author.short(), run.from, run.last());
        if run.author == me || Some(run.author) == primary {
            match own_back(&mut ov, agent, run) {
                Ok(n) => new += n,
                Err(r) => return Ok(Err(r)),
            }
            continue;
        }
        if run.author != agent.author {
            return Ok(Err(refuse(
                RefusalCode::WrongAuthor,
                format!("entries {span} are not authored by the connected office"),
            )));
        }
        let Some(opened) = run.open() else {
            return Ok(Err(refuse(
                RefusalCode::BadSignature,
                format!("entries {span}: the run's signature does not verify"),
            )));
        };
        let have = ov.seq(&run.author);
        if run.from > have + 1 {
            return Ok(Err(refuse(
                RefusalCode::InvalidEntry,
                format!("entries {span}: gap after seq {have}"),
            )));
        }
        if ov.link(&run.author, run.from - 1)? != run.prev {
            return Ok(Err(fork(&opened[0].0)));
        }
        ov.note_rowless(&run.author, run.from.max(have + 1)..=run.last());
        let mut fresh = false;
        for (e, link) in &opened {
            match check_entry(&units, &mut ov, agent, &office, e, link) {
                Ok(false) => continue,
                Ok(true) => {}
                Err(r) => return Ok(Err(r)),
            }
            note_clock(&mut clock, agent, e, now_ms);
            view::apply(&mut ov, e);
            ov.put_entry(e, link);
            ov.put(keys::seq(&e.author), e.seq.to_be_bytes().to_vec());
            new += 1;
            fresh = true;
        }
        if fresh {
            ov.put(keys::head(&run.author, run.last()), run.head.0.to_vec());
        }
    }
    if clock.entries > 0 {
        let key = keys::clock(&agent.author);
        let mut flag: ClockFlag = ov
            .get(&key)
            .and_then(|v| wire::decode(&v).ok())
            .unwrap_or_default();
        flag.ahead_ms = flag.ahead_ms.max(clock.ahead_ms);
        flag.behind_ms = flag.behind_ms.max(clock.behind_ms);
        flag.entries += clock.entries;
        ov.put(key, wire::encode(&flag));
        tracing::warn!(
            agent = %agent.author.short(),
            ahead_s = clock.ahead_ms / 1000,
            behind_s = clock.behind_ms / 1000,
            entries = clock.entries,
            "office clock is off; entries accepted and flagged"
        );
    }
    if new > 0 {
        hub.commit(ov)?;
    } else if let Some(e) = ov.error() {
        return Err(crate::Error::Corrupt(e.to_string()));
    }
    Ok(Ok(new))
}

/// Takes back the hub's own entries an office hands over (a hub restored from an older backup lacks
/// the decisions it wrote after it): the run must be sealed by the hub's own key, which nobody else
/// holds, and follow the hub's log. When the hub has meanwhile written other entries under those
/// seqs, they are not taken (logged, not refused, so the office's sync goes on). Returns how many
/// were new.
fn own_back(ov: &mut Overlay<'_>, agent: &AgentRec, run: &Run) -> Result<u64, Refusal> {
    let span = format!("{}-{}..{}", run.author.short(), run.from, run.last());
    let Some(opened) = run.open() else {
        return Err(refuse(
            RefusalCode::BadSignature,
            format!("hub entries {span}: the run's signature does not verify"),
        ));
    };
    let have = ov.seq(&run.author);
    if run.from > have + 1 {
        return Err(refuse(
            RefusalCode::InvalidEntry,
            format!("hub entries {span}: gap after seq {have}"),
        ));
    }
    let forked = || {
        tracing::warn!(
            agent = %agent.author.short(),
            %span,
            "an office holds hub entries that differ from the hub's own (written after a restore); \
             not taken"
        );
        Ok(0)
    };
    if ov.link(&run.author, run.from - 1).ok() != Some(run.prev) {
        return forked();
    }
    let mut new = 0;
    for (e, link) in &opened {
        if e.seq <= have {
            if ov.link(&e.author, e.seq).ok() != Some(*link) {
                return forked();
            }
            continue;
        }
        view::apply(ov, e);
        ov.put_entry(e, link);
        ov.put(keys::seq(&e.author), e.seq.to_be_bytes().to_vec());
        new += 1;
    }
    if new > 0 {
        ov.put(keys::head(&run.author, run.last()), run.head.0.to_vec());
        tracing::info!(agent = %agent.author.short(), %span, entries = new, "hub entries handed back");
    }
    Ok(new)
}

/// Seals `entries` (contiguous entries of `key`'s log) as one run after the link the hub holds for
/// the entry before them, or the genesis link when it holds none (a gap, which the merge refuses), and
/// merges it as a sync would. For tests and benchmarks that build entries directly.
pub fn merge_entries(
    hub: &Hub,
    agent: &AgentRec,
    key: &baobi_proto::Keypair,
    entries: &[Entry],
) -> Result<Result<u64, Refusal>> {
    let first = entries.first().map(|e| e.seq).unwrap_or(1);
    let prev = hub
        .link(&key.author(), first.saturating_sub(1))
        .unwrap_or_else(|_| baobi_proto::chain::genesis(&key.author()));
    let (run, _) = Run::seal(key, prev, entries).ok_or_else(|| {
        crate::Error::Invalid("entries to merge are not contiguous entries of the key".into())
    })?;
    merge_runs(hub, agent, &[run])
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::view::StoredVersion;
    use baobi_proto::wire::{
        Correction, Dot, Hlc, MarketSurvey, OutletDef, OutletKind, Retraction, Round,
    };
    use baobi_proto::Keypair;

    use crate::testkit::{enroll, hub};

    fn outlet(unit: &str) -> Op {
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Tân Thành".into(),
            unit: unit.into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        }))
    }

    fn survey(outlet: Dot, unit: &str, kg: u32) -> Body {
        Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: unit.into(),
            date: Date(20250312),
            year: 2025,
            round: Round::Baseline,
            vendors_total: 85,
            vendors_surveyed: 30,
            nonbio_g_per_day: kg,
            eco_g_per_day: None,
            vendors_nonbio: 20,
            vendors_alternatives: None,
            operating_days: Some(30),
            reduction_model: false,
            notes: String::new(),
        })
    }

    fn code(r: Result<Result<u64, Refusal>>) -> RefusalCode {
        r.unwrap().unwrap_err().code
    }

    #[test]
    fn accepted_batch_is_stored_atomically_and_survives_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let k = Keypair::generate();
        let o = k.sign_entry(1, Hlc(1), outlet("30226"));
        let s = k.sign_entry(2, Hlc(2), Op::Record(survey(o.dot(), "30226", 9_200)));
        {
            let h = hub(tmp.path());
            let a = enroll(&h, &k, "30226");
            assert_eq!(
                merge_entries(&h, &a, &k, &[o.clone(), s.clone()]).unwrap(),
                Ok(2)
            );
            // Resending is harmless.
            assert_eq!(
                merge_entries(&h, &a, &k, &[o.clone(), s.clone()]).unwrap(),
                Ok(0)
            );
            // The same seq with other content (a forked log) is refused, not skipped.
            let fork = k.sign_entry(2, Hlc(3), Op::Record(survey(o.dot(), "30226", 1_000)));
            assert_eq!(
                merge_entries(&h, &a, &k, &[fork])
                    .unwrap()
                    .unwrap_err()
                    .code,
                RefusalCode::InvalidEntry
            );
        }
        let h = Hub::open(tmp.path()).unwrap();
        assert_eq!(h.seq_of(&k.author()).unwrap(), 2);
        // Kept without signatures of their own (the run's head vouched for them)...
        let chained = |e: &Entry| Entry {
            sig: baobi_proto::Sig::CHAINED,
            ..e.clone()
        };
        assert_eq!(
            h.entries(&k.author(), 1, 2, 10).unwrap(),
            vec![chained(&o), chained(&s)]
        );
        // ...and forwarded, from any seq, sealed by the office's own head signature.
        for from in [1, 2] {
            let run = h.run(&k.author(), from, 2, 512).unwrap().unwrap();
            let opened: Vec<Entry> = run.open().unwrap().into_iter().map(|(e, _)| e).collect();
            assert_eq!(opened, [chained(&o), chained(&s)][from as usize - 1..]);
        }
        assert!(
            h.run(&k.author(), 1, 2, 1).unwrap().is_none(),
            "no head at seq 1"
        );
        assert!(h.record(&o.dot()).unwrap().is_some());
        let groups = h.groups(2025).unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].1.amount, 9_200);
        assert_eq!(h.latest_year().unwrap(), Some(2025));
        assert!(h.summary().unwrap().get(&h.keypair().author()) > 100);
    }

    /// The outlets a merge checks surveys against are kept across merges once the tree holds them
    /// (`derived::LogRecords`); one that only a refused batch held is not.
    #[test]
    fn an_outlet_a_refused_batch_held_is_not_kept_for_later_merges() {
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let k = Keypair::generate();
        let a = enroll(&h, &k, "30226");
        let closing = |closed: Option<Date>| match outlet("30226") {
            Op::Record(Body::Outlet(o)) => Op::Record(Body::Outlet(OutletDef { closed, ..o })),
            _ => unreachable!(),
        };
        // Closed before the survey's date (2025-03-12): the batch is refused whole.
        let shut = k.sign_entry(1, Hlc(1), closing(Some(Date(20250101))));
        let s = k.sign_entry(2, Hlc(2), Op::Record(survey(shut.dot(), "30226", 9_200)));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[shut, s.clone()])),
            RefusalCode::InvalidEntry
        );
        // The hub holds nothing of it, so the office may send another seq 1: an open outlet.
        let open = k.sign_entry(1, Hlc(1), closing(None));
        let open_dot = open.dot();
        assert_eq!(merge_entries(&h, &a, &k, &[open]).unwrap(), Ok(1));
        // The survey is checked against the outlet the tree holds, not the refused one, which
        // no record of the hub's includes.
        assert_eq!(
            merge_entries(&h, &a, &k, std::slice::from_ref(&s)).unwrap(),
            Ok(1)
        );
        let held = h.record(&open_dot).unwrap().unwrap();
        assert_eq!(held.versions.len(), 1, "{held:?}");
        // Kept from then on, and still the tree's.
        let s3 = k.sign_entry(3, Hlc(3), Op::Record(survey(open_dot, "30226", 1)));
        assert_eq!(merge_entries(&h, &a, &k, &[s3]).unwrap(), Ok(1));
        let v = crate::verify::run(&h, &mut |_| {}).unwrap();
        assert!(v.ok, "verify: {:?}", v.problems);
    }

    #[test]
    fn each_refusal_and_nothing_stored() {
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let k = Keypair::generate();
        let other = Keypair::generate();
        let a = enroll(&h, &k, "30226");
        let o = k.sign_entry(1, Hlc(1), outlet("30226"));

        // 1. author
        let e = other.sign_entry(1, Hlc(1), outlet("30226"));
        assert_eq!(
            code(merge_entries(&h, &a, &other, &[e])),
            RefusalCode::WrongAuthor
        );
        // 2. signature: content altered after sealing, or sealed by another key.
        let genesis = baobi_proto::chain::genesis(&k.author());
        let (mut run, _) = Run::seal(&k, genesis, std::slice::from_ref(&o)).unwrap();
        run.items[0].hlc = Hlc(99);
        assert_eq!(
            code(merge_runs(&h, &a, &[run.clone()])),
            RefusalCode::BadSignature
        );
        run.items[0].hlc = o.hlc;
        run.head = Run::seal(&other, genesis, &[other.sign_entry(1, o.hlc, o.op.clone())])
            .unwrap()
            .0
            .head;
        assert_eq!(code(merge_runs(&h, &a, &[run])), RefusalCode::BadSignature);
        // 3. gap
        let e = k.sign_entry(2, Hlc(1), outlet("30226"));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[e])),
            RefusalCode::InvalidEntry
        );
        // 4. units are the hub's
        let u = h.units().latest("30226").unwrap().clone();
        let e = k.sign_entry(1, Hlc(1), Op::Unit(u));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[e])),
            RefusalCode::InvalidEntry
        );
        // 4b. plans and review decisions are the hub's too
        let plan = crate::plan::parse(crate::plan::builtin("dong-thap-2021").unwrap()).unwrap();
        let e = k.sign_entry(1, Hlc(1), Op::Plan(plan));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[e])),
            RefusalCode::InvalidEntry
        );
        let e = k.sign_entry(
            1,
            Hlc(1),
            Op::Review(baobi_proto::wire::ReviewDecision {
                record: o.dot(),
                version: [0; 32],
                decision: baobi_proto::wire::Decision::Verified,
                reason: String::new(),
            }),
        );
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[e])),
            RefusalCode::InvalidEntry
        );
        // jurisdiction: Thị trấn Lai Vung is not Tân Thành's
        let e = k.sign_entry(1, Hlc(1), outlet("30208"));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[e])),
            RefusalCode::OutsideJurisdiction
        );
        // validation
        let mut bad = survey(o.dot(), "30226", 1);
        if let Body::MarketSurvey(s) = &mut bad {
            s.vendors_surveyed = 200;
        }
        let e = k.sign_entry(2, Hlc(2), Op::Record(bad));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[o.clone(), e])),
            RefusalCode::InvalidEntry
        );
        // Nothing of a refused batch is stored.
        assert_eq!(h.seq_of(&k.author()).unwrap(), 0);
        assert!(h.record(&o.dot()).unwrap().is_none());

        // Corrections: unknown record, unknown version, other kind; earlier entries count.
        let fix = |seq, record, supersedes: Vec<[u8; 32]>, body| {
            k.sign_entry(
                seq,
                Hlc(seq),
                Op::Correct(Correction {
                    record,
                    supersedes,
                    body,
                }),
            )
        };
        let s = k.sign_entry(2, Hlc(2), Op::Record(survey(o.dot(), "30226", 5_000)));
        let missing = Dot {
            author: k.author(),
            seq: 9,
        };
        let e = fix(3, missing, vec![[0; 32]], survey(o.dot(), "30226", 1));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[o.clone(), s.clone(), e])),
            RefusalCode::InvalidEntry
        );
        let e = fix(3, s.dot(), vec![[7; 32]], survey(o.dot(), "30226", 1));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[o.clone(), s.clone(), e])),
            RefusalCode::InvalidEntry
        );
        let Op::Record(sb) = &s.op else {
            unreachable!()
        };
        let head = RecordState::hash_of(&StoredVersion {
            supersedes: vec![],
            version: view::Version {
                dot: s.dot(),
                hlc: s.hlc,
                value: view::Value::Body(sb.clone()),
            },
        });
        let Op::Record(ob) = &o.op else {
            unreachable!()
        };
        let e = fix(3, s.dot(), vec![head], ob.clone());
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[o.clone(), s.clone(), e])),
            RefusalCode::InvalidEntry
        );
        let e = fix(3, s.dot(), vec![head], survey(o.dot(), "30208", 1));
        assert_eq!(
            code(merge_entries(&h, &a, &k, &[o.clone(), s.clone(), e])),
            RefusalCode::OutsideJurisdiction
        );
        let good = fix(3, s.dot(), vec![head], survey(o.dot(), "30226", 4_000));
        let retract = k.sign_entry(
            4,
            Hlc(4),
            Op::Retract(Retraction {
                record: o.dot(),
                supersedes: vec![[1; 32]],
                reason: "nhầm".into(),
            }),
        );
        assert_eq!(
            code(merge_entries(
                &h,
                &a,
                &k,
                &[o.clone(), s.clone(), good.clone(), retract]
            )),
            RefusalCode::InvalidEntry
        );
        assert_eq!(
            merge_entries(&h, &a, &k, &[o.clone(), s.clone(), good]).unwrap(),
            Ok(3)
        );
        assert_eq!(h.groups(2025).unwrap()[0].1.amount, 4_000);

        // A district office covers its communes; another district's office does not.
        let kd = Keypair::generate();
        let d = enroll(&h, &kd, "876");
        let e = kd.sign_entry(1, Hlc(1), outlet("30226"));
        assert_eq!(merge_entries(&h, &d, &kd, &[e]).unwrap(), Ok(1));
        let kx = Keypair::generate();
        let x = enroll(&h, &kx, "866");
        let e = kx.sign_entry(1, Hlc(1), outlet("30226"));
        assert_eq!(
            code(merge_entries(&h, &x, &kx, &[e])),
            RefusalCode::OutsideJurisdiction
        );
        // Scope: the district sees the commune, the other district does not.
        assert!(h.scope(&d).unwrap().contains(&k.author()));
        assert!(h.scope(&a).unwrap().contains(&kd.author()));
        assert!(!h.scope(&x).unwrap().contains(&k.author()));
    }

    #[test]
    fn an_office_of_a_new_commune_holds_its_predecessors_on_their_dates() {
        // 30226 is Xã Lai Vung since 1 July 2025; Xã Định An (30196) went into it, Thị trấn Lai Vung
        // (30208) went into Xã Hòa Long.
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let k = Keypair::generate();
        let a = enroll(&h, &k, "30226");
        let o = k.sign_entry(1, Hlc(1), outlet("30196"));
        let s = k.sign_entry(2, Hlc(2), Op::Record(survey(o.dot(), "30196", 9_000)));
        assert_eq!(merge_entries(&h, &a, &k, &[o, s]).unwrap(), Ok(2));
        let other = k.sign_entry(3, Hlc(3), outlet("30208"));
        let r = merge_entries(&h, &a, &k, &[other]).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::OutsideJurisdiction);
        assert!(
            r.message.contains("Xã Hòa Long (30208)")
                && r.message
                    .contains("is outside this office's jurisdiction (Xã Lai Vung (30226))"),
            "{}",
            r.message
        );
        assert_eq!(h.seq_of(&k.author()).unwrap(), 2, "nothing of it stored");
    }
}
