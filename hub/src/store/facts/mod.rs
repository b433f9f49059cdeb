//! The indicator facts at the hub (`i` keys, `proto::facts`), kept up to date in the same atomic
//! batch as every merge, so a report reads O(facilities + cells) instead of every record.
//!
//! `Hub::commit` calls [`maintain`] on the overlay before writing it: every record whose state or
//! review decisions the batch changes (its `r` or `w` key is written) has its old item (from the tree,
//! which still holds the state before the batch) taken out of its cell's members and its new item
//! (through the overlay) put in. A survey cell's members are one value under `i 1 S` (`members.rs`);
//! a report cell's are in its year, commune and status's value under `i 0 T` (`reports.rs`);
//! facilities are `i 0 F`. No cell is stored that its members give (issue 13 goal 3): the mirror
//! (`mirror.rs`) holds every cell in memory, computed from the members as it loads them at open and
//! as each commit writes them. A store made before these keys existed has them built once at open
//! ([`rebuild`]; meta `facts` records that they are complete); one made while survey cells were
//! stored (`i 0 S`) has them removed ([`convert_cells`]).

use baobi_proto::facts::{
    self as pf, report_of, survey_key, Facts, Item, ReportCell, ReportKey, ReportMember,
    SurveyCell, SurveyKey, SurveyMember,
};
use baobi_proto::indicators::{Facility, Survey};

use super::*;

mod members;
mod mirror;
mod reports;

pub(crate) use reports::convert as convert_reports;
pub use reports::META_REPORTS;

pub(crate) use members::{convert as convert_members, convert_units as convert_member_units};
pub use members::{Members, META_MEMBERS, META_MEMBER_UNITS};
#[cfg(test)]
use mirror::scan;
pub use mirror::FactsMirror;

/// The meta key set once the `i` keys hold every record's facts.
pub const META_FACTS: &str = "facts";

/// The meta key set once no survey cell is stored (`i 0 S`): each is derived from its members.
pub const META_CELLS_DERIVED: &str = "facts_cells_derived";

/// Removes the survey cells a store made before [`META_CELLS_DERIVED`] kept (`i 0 S`), at open
/// (`store/repack.rs`): they are a function of the members beside them (`i 1 S`), which the mirror
/// reads instead.
pub(crate) fn convert_cells(db: &sled::Tree) -> Result<u64> {
    super::repack::removed(db, &[b'i', 0, b'S'], META_CELLS_DERIVED, "survey cells")
}

/// A change to one cell key, decoded before its batch is written (none: deleted).
#[derive(Debug, Clone)]
pub enum CellWrite {
    /// A facility.
    Facility(Dot, Option<Facility>),
    /// A survey cell (derived from its members' value).
    Survey(SurveyKey, Option<SurveyCell>),
    /// The report cells of a year, commune and status, by date (none: all deleted).
    Reports(reports::Group, Vec<(Date, ReportCell)>),
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

impl CellWrite {
    /// Decodes the write of `value` (none: a delete) at the cell key `key` (`i 0 …`), or of a
    /// survey cell's members (`i 1 S …`) as the cell they make.
    pub fn decode(key: &[u8], value: Option<&[u8]>) -> Result<CellWrite> {
        match key {
            [b'i', 0, b'F', rest @ ..] => {
                let id = dot_at(rest).ok_or_else(|| bad(key))?;
                Ok(CellWrite::Facility(
                    id,
                    value.map(|v| dec("facility", v)).transpose()?,
                ))
            }
            [b'i', 1, b'S', rest @ ..] if key.len() == members::CELL_KEY => {
                let k = survey_key_at(rest).ok_or_else(|| bad(key))?;
                let cell = match value {
                    Some(v) => SurveyCell::of(&Members::decode(v)?.into_surveys(&k)?),
                    None => None,
                };
                Ok(CellWrite::Survey(k, cell))
            }
            [b'i', 0, b'T', rest @ ..] => {
                let Some(reports::KeyAt::Group(g)) = reports::key_at(rest) else {
                    return Err(bad(key));
                };
                let days = value.map(reports::decode).transpose()?;
                Ok(CellWrite::Reports(
                    g,
                    days.map(|d| reports::cells(&d)).unwrap_or_default(),
                ))
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
            CellWrite::Reports(g, cells) => {
                let set = |f: &mut Facts, k: ReportKey, c: Option<ReportCell>| match (units, c) {
                    (Some(u), c) => f.set_report(u, k, c),
                    (None, Some(c)) => {
                        f.reports.insert(k, c);
                    }
                    (None, None) => {
                        f.reports.remove(&k);
                    }
                };
                let lo = reports::cell_key(&g, Date(0));
                let hi = reports::cell_key(&g, Date(u32::MAX));
                let gone: Vec<ReportKey> = f
                    .reports
                    .range(lo..=hi)
                    .map(|(k, _)| k)
                    .filter(|k| k.3 == g.2 && cells.binary_search_by_key(&k.2, |c| c.0).is_err())
                    .cloned()
                    .collect();
                for k in gone {
                    set(f, k, None);
                }
                for (date, c) in cells {
                    let k = reports::cell_key(&g, date);
                    if f.reports.get(&k) != Some(&c) {
                        set(f, k, Some(c));
                    }
                }
            }
        }
    }
}

/// The wall clock of a record's creating entry, when it is an `Op::Created`.
/// A record's item: its state and its review decisions as `get` reads them (the tree before the
/// batch, or the overlay after it); `created` is the wall clock its creating entry carries, if any.
fn item_of(
    id: &Dot,
    rec: Option<&RecordState>,
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
    Ok(pf::item(rec, |_| reviews, |_| created))
}

/// A record as the tree under an overlay holds it (its row, unless known to have none: `rowless`; or
/// its creating entry alone when the tree may hold that entry: `in_log`).
fn record_in(
    tree: &sled::Tree,
    log: &mut super::blocks::Reader,
    id: &Dot,
    rowless: bool,
    in_log: bool,
) -> Result<Option<RecordState>> {
    if !rowless {
        if let Some(v) = tree.get(keys::record(id))? {
            return dec("record", &v).map(Some);
        }
    }
    if !in_log {
        return Ok(None);
    }
    Ok(log
        .entry(tree, id)?
        .as_ref()
        .and_then(super::plain::of_entry))
}

/// What one overlay's changes to the cells read once and write back once: survey cells' members and
/// report groups.
#[derive(Default)]
struct Cache {
    members: members::Cache,
    reports: reports::Cache,
}

impl Cache {
    fn write(self, ov: &mut Overlay<'_>) {
        self.members.write(ov);
        self.reports.write(ov);
    }
}

fn add(ov: &mut Overlay<'_>, cache: &mut Cache, item: &Item) -> Result<()> {
    match item {
        Item::Facility(f) => ov.put(keys::fact_facility(&f.id), wire::encode(f)),
        Item::Survey(s) => {
            let key = survey_key(s);
            cache
                .members
                .cell(ov, &key)?
                .0
                .insert(s.record, SurveyMember::of(s));
        }
        Item::Campaign(_) => {}
    }
    if let Some((key, m)) = report_of(item) {
        let members = cache
            .reports
            .group(ov, &reports::group_of(&key))?
            .entry(key.2)
            .or_default();
        let at = members.partition_point(|x| *x < m);
        members.insert(at, m);
    }
    Ok(())
}

fn remove(ov: &mut Overlay<'_>, cache: &mut Cache, item: &Item) -> Result<()> {
    match item {
        Item::Facility(f) => ov.del(keys::fact_facility(&f.id)),
        Item::Survey(s) => {
            let key = survey_key(s);
            cache.members.cell(ov, &key)?.0.remove(&s.record);
        }
        Item::Campaign(_) => {}
    }
    if let Some((key, m)) = report_of(item) {
        let days = cache.reports.group(ov, &reports::group_of(&key))?;
        if let Some(members) = days.get_mut(&key.2) {
            if let Ok(at) = members.binary_search(&m) {
                members.remove(at);
            }
            if members.is_empty() {
                days.remove(&key.2);
            }
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
    let created_here: BTreeSet<Dot> = ov.created_here().into_iter().collect();
    ids.extend(&created_here);
    let reviewed = reviewed_in(ov.tree, &created_here)?;
    let mut log = super::blocks::Reader::default();
    let mut cache = Cache::default();
    for id in ids {
        let tree = ov.tree;
        // The creating entry never changes: the same for the old item and the new.
        let created = ov.created_ms(&id)?;
        // A record created here has no entry in the tree to read it from (a row, at most).
        let rowless = ov.rowless.contains(&id);
        let old_rec = record_in(tree, &mut log, &id, rowless, !created_here.contains(&id))?;
        let old = item_of(&id, old_rec.as_ref(), created, |k| {
            Ok(tree.get(k)?.map(|v| v.to_vec()))
        })?;
        let new_rec = ov.take_record(&id);
        if let Some(e) = ov.err.take() {
            return Err(e);
        }
        let new = item_of(&id, new_rec.as_ref(), created, |k| {
            if created_here.contains(&id) && !reviewed.contains(&id) {
                // The tree holds none: only the overlay may.
                return Ok(ov.writes.get(k).cloned().flatten());
            }
            let v = ov.get(k);
            match ov.err.take() {
                Some(e) => Err(e),
                None => Ok(v),
            }
        });
        ov.give_back(id, new_rec);
        let new = new?;
        if old == new {
            continue;
        }
        if let Some(o) = &old {
            remove(ov, &mut cache, o)?;
        }
        if let Some(n) = &new {
            add(ov, &mut cache, n)?;
        }
    }
    cache.write(ov);
    Ok(())
}

/// Of the records `ids`, those the tree holds review decisions about (`w` keys), read in one range
/// per author from its first to its last record in `ids`: asked one by one, each new record's was a
/// miss nearly always.
fn reviewed_in(tree: &sled::Tree, ids: &BTreeSet<Dot>) -> Result<std::collections::HashSet<Dot>> {
    let mut out = std::collections::HashSet::new();
    let mut it = ids.iter().peekable();
    while let Some(first) = it.next() {
        let mut last = first;
        while let Some(next) = it.next_if(|n| n.author == first.author) {
            last = next;
        }
        for kv in tree.range(keys::reviews(first)..=keys::reviews(last)) {
            if let Some(d) = dot_at(&kv?.0[1..]) {
                out.insert(d);
            }
        }
    }
    Ok(out)
}

/// The facts of every record held, written from scratch (the `i` keys removed first), and meta
/// `facts` set: for a store made before these keys existed. The caller holds the merge lock.
pub fn rebuild(hub: &Hub) -> Result<()> {
    let mut ov = Overlay::new(&hub.tree);
    for kv in hub.tree.scan_prefix([b'i']) {
        ov.del(kv?.0.to_vec());
    }
    let mut reader = super::blocks::Reader::default();
    let mut cache = Cache::default();
    for rec in hub.records_iter() {
        let rec = rec?;
        let id = rec.id;
        let tree = &hub.tree;
        let created = reader.created_ms(tree, &id)?;
        if let Some(item) = item_of(&id, Some(&rec), created, |k| {
            Ok(tree.get(k)?.map(|v| v.to_vec()))
        })? {
            add(&mut ov, &mut cache, &item)?;
        }
    }
    cache.write(&mut ov);
    ov.put(keys::meta(META_FACTS), b"1".to_vec());
    ov.put(keys::meta(META_MEMBERS), b"1".to_vec());
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
            for s in members::read(&hub.tree, key)?.into_surveys(key)? {
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
mod tests;
