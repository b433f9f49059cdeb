//! The indicator facts at the hub (`i` keys, `proto::facts`), kept up to date in the same atomic
//! batch as every merge, so a report reads O(facilities + cells) instead of every record.
//!
//! `Hub::commit` calls [`maintain`] on the overlay before writing it: every record whose state or
//! review decisions the batch changes (its `r` or `w` key is written) has its old item (from the tree,
//! which still holds the state before the batch) taken out of its cells and its new item (through the
//! overlay) put in. A cell is changed in place when an item joins it or when one that is none of its
//! extremes leaves; otherwise it is recomputed from its members (a survey cell's are keys `i 1 …`, a
//! report cell's are inline in its value). The cells (`i 0 …`) are
//! mirrored in memory ([`FactsMirror`]) like the totals groups: loaded at open, changed only after a
//! commit is durable, reloaded after a failed one. A store made before these keys existed has them
//! built once at open ([`rebuild`]; meta `facts` records that they are complete).

use baobi_proto::facts::{
    self as pf, report_of, survey_key, Facts, Item, ReportCell, ReportKey, ReportMember,
    SurveyCell, SurveyKey, SurveyMember,
};
use baobi_proto::indicators::{Facility, Survey};

use super::*;

/// A report cell as stored: its key, the cell and its members (sorted: the value is a function of the
/// set of members, whatever order they came in).
type ReportValue = (ReportKey, ReportCell, Vec<ReportMember>);

/// The meta key set once the `i` keys hold every record's facts.
pub const META_FACTS: &str = "facts";

/// A change to one cell key, decoded before its batch is written (none: deleted).
#[derive(Debug, Clone)]
pub enum CellWrite {
    /// A facility.
    Facility(Dot, Option<Facility>),
    /// A survey cell.
    Survey(SurveyKey, Option<SurveyCell>),
    /// A report cell.
    Report(ReportKey, Option<ReportCell>),
}

fn bad(key: &[u8]) -> Error {
    Error::Corrupt(format!("indicator fact key of {} bytes", key.len()))
}

fn dot_at(b: &[u8]) -> Option<Dot> {
    let author: [u8; 32] = b.get(..32)?.try_into().ok()?;
    let seq = u64::from_be_bytes(b.get(32..40)?.try_into().ok()?);
    Some(Dot {
        author: AuthorId(author),
        seq,
    })
}

fn survey_key_at(b: &[u8]) -> Option<SurveyKey> {
    let outlet = dot_at(b)?;
    let year = u16::from_be_bytes(b.get(40..42)?.try_into().ok()?);
    Some((outlet, year, *b.get(42)?))
}

fn report_key_at(b: &[u8]) -> Option<(ReportKey, usize)> {
    let year = u16::from_be_bytes(b.get(..2)?.try_into().ok()?);
    let end = 2 + b.get(2..)?.iter().position(|c| *c == 0)?;
    let unit = String::from_utf8(b.get(2..end)?.to_vec()).ok()?;
    let date = Date(u32::from_be_bytes(
        b.get(end + 1..end + 5)?.try_into().ok()?,
    ));
    Some(((year, unit, date, *b.get(end + 5)?), end + 6))
}

impl CellWrite {
    /// Decodes the write of `value` (none: a delete) at the cell key `key` (`i 0 …`).
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<CellWrite> {
        match key {
            [b'i', 0, b'F', rest @ ..] => {
                let id = dot_at(rest).ok_or_else(|| bad(key))?;
                Ok(CellWrite::Facility(
                    id,
                    value.map(|v| dec("facility", v)).transpose()?,
                ))
            }
            [b'i', 0, b'S', rest @ ..] => {
                let k = survey_key_at(rest).ok_or_else(|| bad(key))?;
                let v = value
                    .map(|v| dec::<(SurveyKey, SurveyCell)>("survey cell", v))
                    .transpose()?;
                Ok(CellWrite::Survey(k, v.map(|(_, c)| c)))
            }
            [b'i', 0, b'T', rest @ ..] => {
                let (k, _) = report_key_at(rest).ok_or_else(|| bad(key))?;
                let v = value
                    .map(|v| dec::<ReportValue>("report cell", v))
                    .transpose()?;
                Ok(CellWrite::Report(k, v.map(|(_, c, _)| c)))
            }
            _ => Err(bad(key)),
        }
    }

    /// Applies the write to `f`, its report groups under `units` (none: the groups are left to a
    /// later [`Facts::group`]).
    fn apply(self, f: &mut Facts, units: Option<&Units>) {
        match self {
            CellWrite::Facility(id, Some(x)) => {
                f.facilities.insert(id, x);
            }
            CellWrite::Facility(id, None) => {
                f.facilities.remove(&id);
            }
            CellWrite::Survey(k, Some(c)) => {
                f.surveys.insert(k, c);
            }
            CellWrite::Survey(k, None) => {
                f.surveys.remove(&k);
            }
            CellWrite::Report(k, c) => match (units, c) {
                (Some(u), c) => f.set_report(u, k, c),
                (None, Some(c)) => {
                    f.reports.insert(k, c);
                }
                (None, None) => {
                    f.reports.remove(&k);
                }
            },
        }
    }
}

#[derive(Debug, Default)]
struct Inner {
    facts: Facts,
    stale: bool,
}

/// The `i 0` cells in memory.
#[derive(Debug, Default)]
pub struct FactsMirror {
    inner: RwLock<Inner>,
}

fn scan(tree: &sled::Tree) -> Result<Facts> {
    let mut f = Facts::default();
    for kv in tree.scan_prefix(keys::FACT_CELLS) {
        let (k, v) = kv?;
        CellWrite::decode(&k, Some(&v))?.apply(&mut f, None);
    }
    Ok(f)
}

impl FactsMirror {
    /// Loads the cells of `tree` (grouped by [`FactsMirror::regroup`] once the units are known).
    pub fn load(tree: &sled::Tree) -> Result<FactsMirror> {
        Ok(FactsMirror {
            inner: RwLock::new(Inner {
                facts: scan(tree)?,
                stale: false,
            }),
        })
    }

    /// Runs `f` on the facts (read-locked: a commit's changes wait until it returns).
    pub fn with<T>(&self, f: impl FnOnce(&Facts) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(|e| e.into_inner()).facts)
    }

    /// Groups the report cells under `units` (at open, and whenever the units change).
    pub fn regroup(&self, units: &Units) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .facts
            .group(units);
    }

    /// A commit's write or flush failed.
    pub fn mark_stale(&self) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).stale = true;
    }

    /// A commit is durable: applies its cell writes, or reloads from `tree` after a failed one.
    pub fn committed(
        &self,
        tree: &sled::Tree,
        writes: Vec<CellWrite>,
        units: &Units,
    ) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.stale {
            inner.facts = scan(tree)?;
            inner.facts.group(units);
            inner.stale = false;
            return Ok(());
        }
        for w in writes {
            w.apply(&mut inner.facts, Some(units));
        }
        Ok(())
    }
}

/// The wall clock of a record's creating entry, when it is an `Op::Created`.
/// A record's item: its state and its review decisions as `get` reads them (the tree before the
/// batch, or the overlay after it); `created` is the wall clock its creating entry carries, if any.
fn item_of(
    id: &Dot,
    rec: Option<RecordState>,
    created: Option<u64>,
    mut get: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<Option<Item>> {
    let Some(rec) = rec else {
        return Ok(None);
    };
    let reviews: Vec<ReviewState> = match get(&keys::reviews(id))? {
        Some(v) => dec("reviews", &v)?,
        None => vec![],
    };
    Ok(pf::item(&rec, |_| reviews, |_| created))
}

/// A record as the tree under an overlay holds it (its row, or its creating entry alone).
fn record_in(
    tree: &sled::Tree,
    log: &mut super::blocks::Reader,
    id: &Dot,
) -> Result<Option<RecordState>> {
    if let Some(v) = tree.get(keys::record(id))? {
        return dec("record", &v).map(Some);
    }
    Ok(log
        .entry(tree, id)?
        .as_ref()
        .and_then(super::plain::of_entry))
}

/// Every key under `prefix` as the overlay sees it (tree, then the overlay's writes).
fn scan_merged(ov: &Overlay<'_>, prefix: &[u8]) -> Result<BTreeMap<Vec<u8>, Vec<u8>>> {
    let mut m = BTreeMap::new();
    for kv in ov.tree.scan_prefix(prefix) {
        let (k, v) = kv?;
        m.insert(k.to_vec(), v.to_vec());
    }
    for (k, v) in ov
        .writes
        .range(prefix.to_vec()..)
        .take_while(|(k, _)| k.starts_with(prefix))
    {
        match v {
            Some(v) => m.insert(k.clone(), v.clone()),
            None => m.remove(k),
        };
    }
    Ok(m)
}

fn read_cell<K: bincode::Decode<()>, C: bincode::Decode<()>>(
    ov: &mut Overlay<'_>,
    key: &[u8],
) -> Result<Option<C>> {
    match ov.get(key) {
        Some(v) => Ok(Some(dec::<(K, C)>("indicator cell", &v)?.1)),
        None => Ok(None),
    }
}

fn add(ov: &mut Overlay<'_>, item: &Item) -> Result<()> {
    match item {
        Item::Facility(f) => ov.put(keys::fact_facility(&f.id), wire::encode(f)),
        Item::Survey(s) => {
            let key = survey_key(s);
            ov.put(
                keys::survey_member(&key, &s.record),
                wire::encode(&SurveyMember::of(s)),
            );
            let ck = keys::survey_cell(&key);
            let cell = match read_cell::<SurveyKey, SurveyCell>(ov, &ck)? {
                Some(mut c) => {
                    c.add(s);
                    c
                }
                None => SurveyCell::new(s),
            };
            ov.put(ck, wire::encode(&(key, cell)));
        }
        Item::Campaign(_) => {}
    }
    if let Some((key, m)) = report_of(item) {
        let ck = keys::report_cell(&key);
        let (cell, members) = match ov.get(&ck) {
            Some(v) => {
                let (_, mut c, mut members) = dec::<ReportValue>("report cell", &v)?;
                c.add(&m);
                let at = members.partition_point(|x| *x < m);
                members.insert(at, m);
                (c, members)
            }
            None => (ReportCell::new(&m), vec![m]),
        };
        ov.put(ck, wire::encode(&(key, cell, members)));
    }
    Ok(())
}

fn remove(ov: &mut Overlay<'_>, item: &Item) -> Result<()> {
    match item {
        Item::Facility(f) => ov.del(keys::fact_facility(&f.id)),
        Item::Survey(s) => {
            let key = survey_key(s);
            ov.del(keys::survey_member(&key, &s.record));
            let ck = keys::survey_cell(&key);
            let old = read_cell::<SurveyKey, SurveyCell>(ov, &ck)?;
            let is = |p: Option<pf::Pick>| p.is_some_and(|p| p.record == s.record);
            let cell = match old {
                Some(mut c)
                    if c.count > 1
                        && !is(Some(c.first))
                        && !is(c.first_baseline)
                        && !is(Some(c.last))
                        && !is(c.second)
                        && s.date != c.min_date
                        && s.date != c.max_date =>
                {
                    c.count -= 1;
                    Some(c)
                }
                _ => {
                    let prefix = keys::survey_members(&key);
                    let mut members = vec![];
                    for (k, v) in scan_merged(ov, &prefix)? {
                        let record = dot_at(&k[prefix.len()..]).ok_or_else(|| bad(&k))?;
                        let m: SurveyMember = dec("survey member", &v)?;
                        members.push(m.survey(&key, record).ok_or_else(|| bad(&k))?);
                    }
                    SurveyCell::of(&members)
                }
            };
            match cell {
                Some(c) => ov.put(ck, wire::encode(&(key, c))),
                None => ov.del(ck),
            }
        }
        Item::Campaign(_) => {}
    }
    if let Some((key, m)) = report_of(item) {
        let ck = keys::report_cell(&key);
        let mut members = match ov.get(&ck) {
            Some(v) => dec::<ReportValue>("report cell", &v)?.2,
            None => vec![],
        };
        if let Ok(at) = members.binary_search(&m) {
            members.remove(at);
        }
        match ReportCell::of(&members) {
            Some(c) => ov.put(ck, wire::encode(&(key, c, members))),
            None => ov.del(ck),
        }
    }
    Ok(())
}

/// Brings the `i` keys up to date with the overlay's changes to records and reviews: the records
/// whose `r` or `w` key it writes, or that an entry appended through it creates, leave their old
/// cells (as the tree under it holds them) and join their new ones (as the overlay reads them).
pub fn maintain(ov: &mut Overlay<'_>) -> Result<()> {
    let mut ids: BTreeSet<Dot> = ov
        .writes
        .keys()
        .filter(|k| matches!(k.first(), Some(b'r' | b'w')) && k.len() == 41)
        .filter_map(|k| dot_at(&k[1..]))
        .collect();
    ids.extend(ov.created_here());
    let mut log = super::blocks::Reader::default();
    for id in ids {
        let tree = ov.tree;
        // The creating entry never changes: the same for the old item and the new.
        let created = ov.created_ms(&id)?;
        let old_rec = record_in(tree, &mut log, &id)?;
        let old = item_of(&id, old_rec, created, |k| {
            Ok(tree.get(k)?.map(|v| v.to_vec()))
        })?;
        let new_rec = Tables::record(ov, &id);
        if let Some(e) = ov.err.take() {
            return Err(e);
        }
        let new = item_of(&id, new_rec, created, |k| {
            let v = ov.get(k);
            match ov.err.take() {
                Some(e) => Err(e),
                None => Ok(v),
            }
        })?;
        if old == new {
            continue;
        }
        if let Some(o) = &old {
            remove(ov, o)?;
        }
        if let Some(n) = &new {
            add(ov, n)?;
        }
    }
    Ok(())
}

/// The facts of every record held, written from scratch (the `i` keys removed first), and meta
/// `facts` set: for a store made before these keys existed. The caller holds the merge lock.
pub fn rebuild(hub: &Hub) -> Result<()> {
    let mut ov = Overlay::new(&hub.tree);
    for kv in hub.tree.scan_prefix([b'i']) {
        ov.del(kv?.0.to_vec());
    }
    let mut reader = super::blocks::Reader::default();
    for rec in hub.records_iter() {
        let rec = rec?;
        let id = rec.id;
        let tree = &hub.tree;
        let created = reader.created_ms(tree, &id)?;
        if let Some(item) = item_of(&id, Some(rec), created, |k| {
            Ok(tree.get(k)?.map(|v| v.to_vec()))
        })? {
            add(&mut ov, &item)?;
        }
    }
    ov.put(keys::meta(META_FACTS), b"1".to_vec());
    hub.commit(ov)
}

/// The surveys dated outside their facility's open period, any year and status, by record id: read
/// from the members of the cells whose date range crosses the facility's dates.
pub fn outside(hub: &Hub, facts: &Facts) -> Result<Vec<Survey>> {
    let mut out = vec![];
    for f in facts
        .facilities
        .values()
        .filter(|f| f.opened.is_some() || f.closed.is_some())
    {
        let lo = (f.id, 0u16, 0u8);
        let hi = (f.id, u16::MAX, u8::MAX);
        for (key, c) in facts.surveys.range(lo..=hi) {
            if !pf::cell_may_be_outside(f, c) {
                continue;
            }
            let prefix = keys::survey_members(key);
            for kv in hub.tree.scan_prefix(&prefix) {
                let (k, v) = kv?;
                let record = dot_at(&k[prefix.len()..]).ok_or_else(|| bad(&k))?;
                let m: SurveyMember = dec("survey member", &v)?;
                let s = m.survey(key, record).ok_or_else(|| bad(&k))?;
                if pf::outside_open_period(f, &s) {
                    out.push(s);
                }
            }
        }
    }
    out.sort_by_key(|s| s.record);
    Ok(out)
}

#[cfg(test)]
mod tests {
    //! The facts kept as the hub merges equal the facts of its records computed from scratch, and
    //! every report read from them equals the report computed from every record, after random merges,
    //! corrections, retractions, reviews, plan and settings changes, and reopens. Seeded
    //! (`BAOBI_FACTS_SEED`), 80 steps by default, 400 steps on 8 seeds with `BAOBI_FACTS_LONG=1`.

    use super::*;
    use crate::check::merge_entries;
    use crate::indicators::{self as ind, Query};
    use crate::review::{decide, Decision};
    use crate::testkit::{enroll_as, hub};
    use baobi_proto::indicators::{self as core, Basis, I1Rule, Settings};
    use baobi_proto::wire::{
        Body, CampaignEvent, CampaignKind, CertKind, Certification, Correction, Created,
        MarketSurvey, OutletDef, OutletKind, RetailSurvey, Retraction, Round,
    };
    use baobi_proto::Keypair;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    const TODAY: Date = Date(20251120);
    const UNITS: [&str; 2] = ["30226", "30208"];

    fn date(rng: &mut StdRng) -> Date {
        let y = rng.gen_range(2023..=2025u32);
        let m = if y == 2025 {
            rng.gen_range(1..=6u32)
        } else {
            rng.gen_range(1..=12u32)
        };
        Date(y * 10_000 + m * 100 + rng.gen_range(1..=28u32))
    }

    fn outlet(rng: &mut StdRng) -> Body {
        let kind = [
            OutletKind::Market,
            OutletKind::Market,
            OutletKind::Supermarket,
            OutletKind::Convenience,
            OutletKind::TradeCentre,
        ][rng.gen_range(0..5)];
        let mut certifications = vec![];
        if kind == OutletKind::Market && rng.gen_bool(0.7) {
            certifications.push(Certification {
                kind: if rng.gen_bool(0.5) {
                    CertKind::Civilized
                } else {
                    CertKind::NewRural
                },
                from: Date(20220101),
                to: rng.gen_bool(0.2).then_some(Date(20241231)),
            });
        }
        let opened = rng.gen_bool(0.15).then(|| date(rng));
        let closed = rng.gen_bool(0.15).then(|| date(rng));
        Body::Outlet(OutletDef {
            kind,
            name: format!("Cơ sở {}", rng.gen_range(0..1000)),
            unit: UNITS[rng.gen_range(0..2)].into(),
            address: String::new(),
            market_class: (kind == OutletKind::Market).then_some(3),
            certifications,
            opened,
            closed: closed.filter(|c| opened.is_none_or(|o| o <= *c)),
        })
    }

    fn survey(rng: &mut StdRng, outlet: Dot, kind: OutletKind) -> Body {
        let d = date(rng);
        let unit = UNITS[rng.gen_range(0..2)].to_string();
        if kind == OutletKind::Market {
            Body::MarketSurvey(MarketSurvey {
                outlet,
                unit,
                date: d,
                year: d.year(),
                round: if rng.gen_bool(0.3) {
                    Round::Baseline
                } else {
                    Round::Annual
                },
                vendors_total: 100,
                vendors_surveyed: 30,
                nonbio_g_per_day: if rng.gen_bool(0.1) {
                    0
                } else {
                    rng.gen_range(1..20_000)
                },
                eco_g_per_day: None,
                vendors_nonbio: 20,
                vendors_alternatives: None,
                operating_days: None,
                reduction_model: false,
                notes: String::new(),
            })
        } else {
            let gives = rng.gen_bool(0.5);
            Body::RetailSurvey(RetailSurvey {
                outlet,
                kind,
                unit,
                date: d,
                year: d.year(),
                gives_nonbio: gives,
                bag_types: String::new(),
                nonbio_bags_per_day: Some(if gives { 10 } else { 0 }),
                eco_bags_per_day: Some(rng.gen_range(0..3)),
                sells_reusable: Some(rng.gen_bool(0.5)),
                eco_labelled: None,
                notes: String::new(),
            })
        }
    }

    fn campaign(rng: &mut StdRng) -> Body {
        Body::Campaign(CampaignEvent {
            unit: UNITS[rng.gen_range(0..2)].into(),
            date: date(rng),
            kind: CampaignKind::Media,
            participants: None,
            topic: "Túi thân thiện".into(),
        })
    }

    struct World {
        rng: StdRng,
        k: Keypair,
        a: crate::store::AgentRec,
        seq: u64,
        clock: u64,
        /// Records made: id, and the outlet kind for facilities.
        made: Vec<(Dot, Option<OutletKind>)>,
        /// What was merged, refused, reviewed (the test must exercise each).
        stats: BTreeMap<&'static str, u32>,
    }

    impl World {
        fn merge(&mut self, h: &Hub, ops: Vec<Op>) {
            let first = self.seq;
            let es: Vec<Entry> = ops
                .into_iter()
                .map(|op| {
                    self.seq += 1;
                    self.clock += 1 + self.rng.gen_range(0..3u64);
                    self.k.sign_entry(self.seq, Hlc(self.clock << 16), op)
                })
                .collect();
            match merge_entries(h, &self.a, &self.k, &es).unwrap() {
                Ok(_) => {
                    for e in &es {
                        let what = match &e.op {
                            Op::Correct(_) => "correct",
                            Op::Retract(_) => "retract",
                            _ => "create",
                        };
                        *self.stats.entry(what).or_default() += 1;
                    }
                    for e in &es {
                        let kind = match &e.op {
                            Op::Record(Body::Outlet(o)) => Some(Some(o.kind)),
                            Op::Created(c) => match &c.body {
                                Body::Outlet(o) => Some(Some(o.kind)),
                                _ => Some(None),
                            },
                            Op::Record(_) => Some(None),
                            _ => None,
                        };
                        if let Some(kind) = kind {
                            self.made.push((e.dot(), kind));
                        }
                    }
                }
                Err(_) => {
                    *self.stats.entry("refused").or_default() += 1;
                    self.seq = first
                }
            }
        }

        fn create(&mut self, body: Body) -> Op {
            if self.rng.gen_bool(0.5) {
                Op::Created(Created {
                    body,
                    wall_ms: self.clock * 1000 + self.rng.gen_range(0..500_000),
                })
            } else {
                Op::Record(body)
            }
        }

        fn new_op(&mut self) -> Op {
            let outlets: Vec<(Dot, OutletKind)> = self
                .made
                .iter()
                .filter_map(|(d, k)| k.map(|k| (*d, k)))
                .collect();
            let roll: f64 = self.rng.gen();
            let body = if outlets.is_empty() || roll < 0.15 {
                outlet(&mut self.rng)
            } else if roll < 0.25 {
                campaign(&mut self.rng)
            } else {
                let (o, kind) = outlets[self.rng.gen_range(0..outlets.len())];
                survey(&mut self.rng, o, kind)
            };
            self.create(body)
        }

        /// A correction (same kind, new values) or a retraction of a random record.
        fn change(&mut self, h: &Hub) -> Option<Op> {
            let (id, _) = *self
                .made
                .get(self.rng.gen_range(0..self.made.len().max(1)))?;
            let rec = h.record(&id).unwrap()?;
            let heads: Vec<[u8; 32]> = rec.heads().iter().map(|v| v.hash).collect();
            let w = rec.winner()?;
            let baobi_proto::view::Value::Body(old) = &w.version.value else {
                return None;
            };
            if self.rng.gen_bool(0.2) {
                return Some(Op::Retract(Retraction {
                    record: id,
                    supersedes: heads,
                    reason: "nhầm".into(),
                }));
            }
            let body = match old {
                Body::Outlet(o) => {
                    let mut n = outlet(&mut self.rng);
                    if let Body::Outlet(x) = &mut n {
                        x.kind = o.kind;
                        x.market_class = o.market_class;
                        if o.kind != OutletKind::Market {
                            x.certifications.clear();
                        }
                    }
                    n
                }
                Body::MarketSurvey(s) => survey(&mut self.rng, s.outlet, OutletKind::Market),
                Body::RetailSurvey(s) => survey(&mut self.rng, s.outlet, s.kind),
                Body::Campaign(_) => campaign(&mut self.rng),
            };
            // Sometimes supersede only one of several heads (a conflict stays).
            let supersedes = if heads.len() > 1 && self.rng.gen_bool(0.3) {
                heads[..1].to_vec()
            } else {
                heads
            };
            Some(Op::Correct(Correction {
                record: id,
                supersedes,
                body,
            }))
        }
    }

    /// The facts and the reports the hub gives equal those computed from every record.
    fn check(h: &Hub, step: usize, seed: u64) {
        let at = format!("seed {seed}, step {step}");
        let expected = ind::with_inputs(h, TODAY, |inp| {
            let mut f = Facts::from_lists(inp.facilities, inp.surveys, inp.campaigns);
            f.group(inp.units);
            f
        })
        .unwrap();
        let kept = h.with_facts(|f| f.clone());
        let outside = h.with_facts(|f| outside(h, f)).unwrap();
        assert_eq!(outside, expected.outside, "outside, {at}");
        let mut no_outside = expected.clone();
        no_outside.outside.clear();
        assert_eq!(kept, no_outside, "facts in memory, {at}");
        let mut stored = scan(h.tree()).unwrap();
        stored.group(&h.units());
        assert_eq!(stored, kept, "facts in sled, {at}");
        for year in 2022..=2026u16 {
            for unit in [None, Some("30226"), Some("876"), Some("87"), Some("82")] {
                let q = Query {
                    year,
                    unit: unit.map(String::from),
                };
                let got = ind::compute(h, &q, TODAY).ok();
                let want = ind::with_inputs(h, TODAY, |inp| core::report(inp, year, unit))
                    .unwrap()
                    .ok();
                assert_eq!(got, want, "report {year} {unit:?}, {at}");
            }
        }
        let got = ind::compute_trend(h, None, TODAY).unwrap();
        let want = ind::with_inputs(h, TODAY, |inp| core::trend(inp, None))
            .unwrap()
            .unwrap();
        assert_eq!(got, want, "trend, {at}");
    }

    fn run(seed: u64, steps: usize) {
        let tmp = tempfile::tempdir().unwrap();
        let mut h = hub(tmp.path());
        let k = Keypair::generate();
        let a = enroll_as(&h, &k, "876", "Lai Vung");
        let mut w = World {
            rng: StdRng::seed_from_u64(seed),
            k,
            a,
            seq: 0,
            clock: 1_700_000_000,
            made: vec![],
            stats: BTreeMap::new(),
        };
        let plan_text = crate::plan::builtin("dong-thap-2021").unwrap();
        for step in 0..steps {
            let roll: f64 = w.rng.gen();
            if roll < 0.35 {
                let n = w.rng.gen_range(1..=4);
                let mut ops: Vec<Op> = (0..n).map(|_| w.new_op()).collect();
                if let Some(op) = w.rng.gen_bool(0.3).then(|| w.change(&h)).flatten() {
                    ops.push(op);
                }
                w.merge(&h, ops);
            } else if roll < 0.65 {
                // One or two changes in one batch (both may name the same record).
                let ops: Vec<Op> = (0..w.rng.gen_range(1..=2))
                    .filter_map(|_| w.change(&h))
                    .collect();
                if !ops.is_empty() {
                    w.merge(&h, ops);
                }
            } else if roll < 0.8 {
                if let Some((id, _)) = w.made.get(w.rng.gen_range(0..w.made.len().max(1))) {
                    let id = format!("{}-{}", id.author.hex(), id.seq);
                    let d = if w.rng.gen_bool(0.5) {
                        Decision::Verified
                    } else {
                        Decision::Returned("sai số liệu".into())
                    };
                    let what = if decide(&h, &id, d).is_ok() {
                        "reviewed"
                    } else {
                        "review refused"
                    };
                    *w.stats.entry(what).or_default() += 1;
                }
            } else if roll < 0.87 {
                let mut p = crate::plan::parse(plan_text).unwrap();
                p.deadline = Some((w.rng.gen_range(1..=12), w.rng.gen_range(1..=28)));
                for t in &mut p.targets {
                    t.threshold_bp = w.rng.gen_range(1000..9000);
                }
                crate::plan::set(&h, p).unwrap();
            } else if roll < 0.95 {
                let s = Settings {
                    basis: if w.rng.gen_bool(0.5) {
                        Basis::Submitted
                    } else {
                        Basis::Verified
                    },
                    i1_rule: if w.rng.gen_bool(0.5) {
                        I1Rule::NoNonbio
                    } else {
                        I1Rule::EcoOffered
                    },
                };
                h.set_settings(&s).unwrap();
            } else {
                drop(h);
                h = Hub::open(tmp.path()).unwrap();
            }
            check(&h, step, seed);
        }
        eprintln!("seed {seed}: {:?}", w.stats);
        let v = crate::verify::run(&h, &mut |_| {}).unwrap();
        assert!(v.ok, "verify, seed {seed}: {:?}", v.problems);
    }

    #[test]
    fn facts_kept_while_merging_equal_facts_from_scratch_and_give_the_same_reports() {
        let long = std::env::var("BAOBI_FACTS_LONG").is_ok_and(|v| v == "1");
        let seed: u64 = std::env::var("BAOBI_FACTS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(13);
        if long {
            for s in seed..seed + 8 {
                run(s, 400);
            }
        } else {
            run(seed, 80);
        }
    }

    #[test]
    fn a_store_without_facts_has_them_built_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let want = {
            let h = hub(tmp.path());
            let k = Keypair::generate();
            let a = enroll_as(&h, &k, "876", "Lai Vung");
            let mut w = World {
                rng: StdRng::seed_from_u64(7),
                k,
                a,
                seq: 0,
                clock: 1_700_000_000,
                made: vec![],
                stats: BTreeMap::new(),
            };
            for _ in 0..20 {
                let ops = (0..3).map(|_| w.new_op()).collect();
                w.merge(&h, ops);
            }
            let f = h.with_facts(|f| f.clone());
            assert!(!f.reports.is_empty());
            // As a store made before the facts existed: no `i` key, no meta `facts`.
            let mut b = sled::Batch::default();
            for kv in h.tree().scan_prefix([b'i']) {
                b.remove(kv.unwrap().0);
            }
            b.remove(keys::meta(META_FACTS));
            h.tree().apply_batch(b).unwrap();
            h.flush().unwrap();
            f
        };
        let h = Hub::open(tmp.path()).unwrap();
        assert_eq!(h.with_facts(|f| f.clone()), want);
        check(&h, 0, 7);
    }
}
