//! The indicator facts at the hub (`i` keys, `proto::facts`), kept up to date in the same atomic
//! batch as every merge, so a report reads O(facilities + cells) instead of every record.
//!
//! `Hub::commit` calls [`maintain`] on the overlay before writing it: every record whose state or
//! review decisions the batch changes (its `r` or `w` key is written) has its old item (from the tree,
//! which still holds the state before the batch) taken out of its cells and its new item (through the
//! overlay) put in. A cell is changed in place when an item joins it or when one that is none of its
//! extremes leaves; otherwise it is recomputed from its members (`i 1 …`). The cells (`i 0 …`) are
//! mirrored in memory ([`FactsMirror`]) like the totals groups: loaded at open, changed only after a
//! commit is durable, reloaded after a failed one. A store made before these keys existed has them
//! built once at open ([`rebuild`]; meta `facts` records that they are complete).

use baobi_proto::facts::{
    self as pf, report_of, survey_key, Facts, Item, ReportCell, ReportKey, ReportMember,
    SurveyCell, SurveyKey, SurveyMember,
};
use baobi_proto::indicators::{Facility, Survey};

use super::*;

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
                    .map(|v| dec::<(ReportKey, ReportCell)>("report cell", v))
                    .transpose()?;
                Ok(CellWrite::Report(k, v.map(|(_, c)| c)))
            }
            _ => Err(bad(key)),
        }
    }

    fn apply(self, f: &mut Facts) {
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
            CellWrite::Report(k, Some(c)) => {
                f.reports.insert(k, c);
            }
            CellWrite::Report(k, None) => {
                f.reports.remove(&k);
            }
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
        CellWrite::decode(&k, Some(&v))?.apply(&mut f);
    }
    Ok(f)
}

impl FactsMirror {
    /// Loads the cells of `tree`.
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

    /// A commit's write or flush failed.
    pub fn mark_stale(&self) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).stale = true;
    }

    /// A commit is durable: applies its cell writes, or reloads from `tree` after a failed one.
    pub fn committed(&self, tree: &sled::Tree, writes: Vec<CellWrite>) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.stale {
            inner.facts = scan(tree)?;
            inner.stale = false;
            return Ok(());
        }
        for w in writes {
            w.apply(&mut inner.facts);
        }
        Ok(())
    }
}

/// The wall clock of a record's creating entry, when it is an `Op::Created`.
fn created_ms(entry: Option<Vec<u8>>) -> Result<Option<u64>> {
    let Some(v) = entry else { return Ok(None) };
    let e: Entry = dec("entry", &v)?;
    Ok(match e.op {
        Op::Created(c) => Some(c.wall_ms),
        _ => None,
    })
}

/// A record's item from what `get` reads (the tree before the batch, or the overlay after it).
fn item_of(
    id: &Dot,
    mut get: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<Option<Item>> {
    let Some(raw) = get(&keys::record(id))? else {
        return Ok(None);
    };
    let rec: RecordState = dec("record", &raw)?;
    let reviews: Vec<ReviewState> = match get(&keys::reviews(id))? {
        Some(v) => dec("reviews", &v)?,
        None => vec![],
    };
    let created = created_ms(get(&keys::entry(&id.author, id.seq))?)?;
    Ok(pf::item(&rec, |_| reviews, |_| created))
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
        let id = match item {
            Item::Survey(s) => s.record,
            Item::Campaign(c) => c.record,
            Item::Facility(f) => f.id,
        };
        ov.put(keys::report_member(&key, &id), wire::encode(&m));
        let ck = keys::report_cell(&key);
        let cell = match read_cell::<ReportKey, ReportCell>(ov, &ck)? {
            Some(mut c) => {
                c.add(&m);
                c
            }
            None => ReportCell::new(&m),
        };
        ov.put(ck, wire::encode(&(key, cell)));
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
        let id = match item {
            Item::Survey(s) => s.record,
            Item::Campaign(c) => c.record,
            Item::Facility(f) => f.id,
        };
        ov.del(keys::report_member(&key, &id));
        let ck = keys::report_cell(&key);
        let cell = match read_cell::<ReportKey, ReportCell>(ov, &ck)? {
            Some(mut c) if c.surveys + c.campaigns > 1 && m.first != c.first => {
                if m.campaign {
                    c.campaigns = c.campaigns.saturating_sub(1);
                } else {
                    c.surveys = c.surveys.saturating_sub(1);
                }
                Some(c)
            }
            _ => {
                let prefix = keys::report_members(&key);
                let mut members = vec![];
                for (_, v) in scan_merged(ov, &prefix)? {
                    members.push(dec::<ReportMember>("report member", &v)?);
                }
                ReportCell::of(&members)
            }
        };
        match cell {
            Some(c) => ov.put(ck, wire::encode(&(key, c))),
            None => ov.del(ck),
        }
    }
    Ok(())
}

/// Brings the `i` keys up to date with the overlay's changes to records and reviews: the records
/// whose `r` or `w` key it writes leave their old cells (as the tree under it holds them) and join
/// their new ones. Creating entries are read through the overlay, or from `log` when given (`verify`
/// replays into an overlay over an empty tree, the entries staying in the store's).
pub fn maintain(ov: &mut Overlay<'_>, log: Option<&sled::Tree>) -> Result<()> {
    let ids: BTreeSet<Dot> = ov
        .writes
        .keys()
        .filter(|k| matches!(k.first(), Some(b'r' | b'w')) && k.len() == 41)
        .filter_map(|k| dot_at(&k[1..]))
        .collect();
    for id in ids {
        let tree = ov.tree;
        let old = item_of(&id, |k| Ok(tree.get(k)?.map(|v| v.to_vec())))?;
        let new = item_of(&id, |k| {
            if let (Some(log), Some(b'e')) = (log, k.first()) {
                return Ok(log.get(k)?.map(|v| v.to_vec()));
            }
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
    for kv in hub.tree.scan_prefix([b'r']) {
        let (k, _) = kv?;
        let Some(id) = dot_at(&k[1..]) else { continue };
        let tree = &hub.tree;
        if let Some(item) = item_of(&id, |k| Ok(tree.get(k)?.map(|v| v.to_vec())))? {
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
