//! The view at the hub, derived from the log: records, outlet-years, groups, units, reviews, the plan
//! and the settings read back, and the [`Overlay`] through which one merge writes it. Nothing here is
//! in a backup: `verify` and `restore` rebuild it from the entries.

use super::*;

impl Hub {
    /// The groups of `year`, in key order: read from the in-memory mirror, O(groups of the year).
    pub fn groups(&self, year: u16) -> Result<Vec<(GroupKey, GroupTotals)>> {
        Ok(self.group_mirror.year(year))
    }

    /// The latest year that has totals (from the in-memory mirror).
    pub fn latest_year(&self) -> Result<Option<u16>> {
        Ok(self.group_mirror.latest_year())
    }

    /// The plan in force, if one was loaded.
    pub fn plan(&self) -> Result<Option<PlanState>> {
        self.tree
            .get(keys::plan())?
            .map(|v| dec("plan", &v))
            .transpose()
    }

    /// Review decisions held about a record.
    pub fn reviews(&self, record: &Dot) -> Result<Vec<ReviewState>> {
        Ok(self
            .tree
            .get(keys::reviews(record))?
            .map(|v| dec("reviews", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// The settings indicators use (hub meta `basis`, `i1_rule`; defaults when unset).
    pub fn settings(&self) -> Result<baobi_proto::indicators::Settings> {
        let mut s = baobi_proto::indicators::Settings::default();
        if let Some(b) = self.meta("basis")? {
            s.basis = serde_json::from_value(serde_json::Value::String(b))
                .map_err(|e| Error::Corrupt(format!("setting basis: {e}")))?;
        }
        if let Some(r) = self.meta("i1_rule")? {
            s.i1_rule = serde_json::from_value(serde_json::Value::String(r))
                .map_err(|e| Error::Corrupt(format!("setting i1_rule: {e}")))?;
        }
        Ok(s)
    }

    /// Stores the settings durably.
    pub fn set_settings(&self, s: &baobi_proto::indicators::Settings) -> Result<()> {
        let text = |v: serde_json::Result<serde_json::Value>| -> Result<String> {
            v.ok()
                .and_then(|v| v.as_str().map(String::from))
                .ok_or_else(|| Error::Corrupt("setting".into()))
        };
        let _g = self.lock();
        let mut b = sled::Batch::default();
        b.insert(
            keys::meta("basis"),
            text(serde_json::to_value(s.basis))?.as_bytes(),
        );
        b.insert(
            keys::meta("i1_rule"),
            text(serde_json::to_value(s.i1_rule))?.as_bytes(),
        );
        self.tree.apply_batch(b)?;
        self.tree.flush()?;
        Ok(())
    }
}

/// The settings as a follower is sent them (their text names, as the hub's meta keeps them).
pub fn settings_wire(s: &baobi_proto::indicators::Settings) -> baobi_proto::standby::HubSettings {
    let text = |v: serde_json::Result<serde_json::Value>| {
        v.ok()
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    };
    baobi_proto::standby::HubSettings {
        basis: text(serde_json::to_value(s.basis)),
        i1_rule: text(serde_json::to_value(s.i1_rule)),
    }
}

/// The settings a primary sent; an unknown name is an error (nothing is changed).
pub fn settings_from_wire(
    w: &baobi_proto::standby::HubSettings,
) -> std::result::Result<baobi_proto::indicators::Settings, String> {
    let basis = serde_json::from_value(serde_json::Value::String(w.basis.clone()))
        .map_err(|e| format!("basis '{}': {e}", w.basis))?;
    let i1_rule = serde_json::from_value(serde_json::Value::String(w.i1_rule.clone()))
        .map_err(|e| format!("i1_rule '{}': {e}", w.i1_rule))?;
    Ok(baobi_proto::indicators::Settings { basis, i1_rule })
}

/// Plain records (a creating entry and nothing else: `plain.rs`) as read from their entries in the
/// tree, kept across merges. An entry never changes once the tree holds it (the log is append-only
/// and a merge refuses a fork), so neither does the record it makes alone; a row, once a record has
/// one, is read before this. A merge checks each survey against its outlet
/// (`check::check_open_period`), most often a plain record whose block of the log it inflated and
/// decoded again in every merge.
#[derive(Debug, Default)]
pub(crate) struct LogRecords(std::sync::Mutex<std::collections::HashMap<Dot, RecordState>>);

impl LogRecords {
    /// At most this many records are held; the map is emptied when full (merges read them again).
    const HELD: usize = 16_384;

    fn get(&self, id: &Dot) -> Option<RecordState> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    fn put(&self, rec: &RecordState) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if m.len() >= Self::HELD {
            m.clear();
        }
        m.insert(rec.id, rec.clone());
    }
}

/// Reads through to sled, buffers writes: the view's `Tables` during one merge.
pub struct Overlay<'a> {
    pub(super) tree: &'a sled::Tree,
    pub(super) writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    pub(super) err: Option<Error>,
    /// The entry blocks read or appended to (`blocks.rs`), written as keys at commit.
    pub(super) blocks: BTreeMap<(AuthorId, u64), super::blocks::Cached>,
    /// Records as read or written through this overlay. A survey's merge reads its record and its
    /// outlet's several times (the checks, the view, the facts); each read was a sled lookup, a
    /// miss for a plain record, then a decode. Set by `put_record`; an absence is forgotten when
    /// the record's entry is appended (a plain record is read from its entry).
    pub(super) records: std::collections::HashMap<Dot, Option<RecordState>>,
    /// Outlet-years as read or written through this overlay, decoded, and whether written: a
    /// merge swaps facts in the same outlet-year several times (each survey of the outlet that
    /// year), and decoding and encoding its value each time was a tenth of the merge. Written
    /// into `writes` by [`Overlay::settle`], once, before anything reads `writes`.
    outlet_years: std::collections::HashMap<(Dot, u16), (Vec<Fact>, bool)>,
    /// Totals groups as read or written through this overlay, and whether written: every survey
    /// of a merge adjusts its group, a handful of keys read and written hundreds of times.
    /// Written into `writes` by [`Overlay::settle`], as outlet-years are.
    groups: std::collections::HashMap<GroupKey, (GroupTotals, bool)>,
    /// Records the tree under the overlay was found to hold no row for (`r` key): `facts::maintain`
    /// asks the tree again for the record as it was before the merge, a second miss per new record.
    pub(super) rowless: std::collections::HashSet<Dot>,
    /// Plain records kept across a hub's merges, when this overlay is a merge's.
    log_records: Option<&'a LogRecords>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `tree`.
    pub fn new(tree: &'a sled::Tree) -> Self {
        Overlay {
            tree,
            writes: BTreeMap::new(),
            err: None,
            blocks: BTreeMap::new(),
            records: std::collections::HashMap::new(),
            outlet_years: std::collections::HashMap::new(),
            groups: std::collections::HashMap::new(),
            rowless: std::collections::HashSet::new(),
            log_records: None,
        }
    }

    /// An overlay for a merge into `hub`: plain records read from the log are taken from, and
    /// kept in, the hub's [`LogRecords`].
    pub fn for_merge(hub: &'a Hub) -> Self {
        Overlay {
            log_records: Some(&hub.log_records),
            ..Overlay::new(&hub.tree)
        }
    }

    /// Notes which of `author`'s records `seqs` the tree holds no row for (`r` key), in one range
    /// read: a run's new records are nearly all plain, and asking for each row was a miss apiece.
    pub(crate) fn note_rowless(&mut self, author: &AuthorId, seqs: std::ops::RangeInclusive<u64>) {
        if seqs.is_empty() {
            return;
        }
        let dot = |seq| Dot {
            author: *author,
            seq,
        };
        let mut held = std::collections::HashSet::new();
        for kv in self
            .tree
            .range(keys::record(&dot(*seqs.start()))..=keys::record(&dot(*seqs.end())))
        {
            match kv {
                Ok((k, _)) => {
                    if let Some(seq) = k.get(33..41).and_then(|b| b.try_into().ok()) {
                        held.insert(u64::from_be_bytes(seq));
                    }
                }
                Err(e) => {
                    self.err.get_or_insert(e.into());
                    return;
                }
            }
        }
        self.rowless
            .extend(seqs.filter(|s| !held.contains(s)).map(dot));
    }

    /// Record `id` as seen through the overlay, held from then on, without a copy (`Tables::record`
    /// returns one).
    pub(crate) fn record_ref(&mut self, id: &Dot) -> Option<&RecordState> {
        if !self.records.contains_key(id) {
            Tables::record(self, id);
        }
        self.records.get(id).and_then(Option::as_ref)
    }

    /// Record `id` as seen through the overlay, taken out of the records held (no copy); give it
    /// back with [`Overlay::give_back`].
    pub(super) fn take_record(&mut self, id: &Dot) -> Option<RecordState> {
        self.record_ref(id);
        self.records.remove(id).flatten()
    }

    /// Holds again a record [`Overlay::take_record`] took.
    pub(super) fn give_back(&mut self, id: Dot, rec: Option<RecordState>) {
        self.records.insert(id, rec);
    }

    /// Writes the outlet-years and groups put through the overlay into `writes`, encoded (an empty
    /// one is a delete). `commit` and [`Overlay::writes`] call it; calling it again writes nothing
    /// new.
    pub(crate) fn settle(&mut self) {
        for ((outlet, year), (facts, written)) in &mut self.outlet_years {
            if !std::mem::take(written) {
                continue;
            }
            let k = keys::outlet_year(outlet, *year);
            let v = (!facts.is_empty()).then(|| super::outlet_years::encode(outlet, facts));
            self.writes.insert(k, v);
        }
        for (key, (totals, written)) in &mut self.groups {
            if !std::mem::take(written) {
                continue;
            }
            let v = (!totals.is_zero()).then(|| wire::encode(&(key.clone(), *totals)));
            self.writes.insert(keys::group(key), v);
        }
    }

    /// Outlet-year (`outlet`, `year`) as seen through the overlay, held decoded from then on.
    fn outlet_year_held(&mut self, outlet: &Dot, year: u16) -> &mut (Vec<Fact>, bool) {
        if !self.outlet_years.contains_key(&(*outlet, year)) {
            let facts = match self.get(&keys::outlet_year(outlet, year)) {
                Some(raw) => super::outlet_years::decode(outlet, year, &raw).unwrap_or_else(|e| {
                    self.err.get_or_insert(e);
                    vec![]
                }),
                None => vec![],
            };
            self.outlet_years.insert((*outlet, year), (facts, false));
        }
        self.outlet_years
            .get_mut(&(*outlet, year))
            .expect("inserted above")
    }

    /// Forgets that record `id` was read as absent, once its creating entry is appended (it is
    /// now read from that entry). A record already held stays: `put_record` set it, or its row,
    /// which reads take before the entry, holds it.
    pub(super) fn forget_absent(&mut self, id: &Dot) {
        if matches!(self.records.get(id), Some(None)) {
            self.records.remove(id);
        }
    }

    /// The first error met while reading, if any.
    pub fn error(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    /// The buffered writes (`None`: a delete), in key order (`verify` compares them with the tree).
    pub(crate) fn writes(&mut self) -> &BTreeMap<Vec<u8>, Option<Vec<u8>>> {
        self.settle();
        &self.writes
    }

    /// Reads a key (overlay first).
    pub fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.writes.get(key) {
            return v.clone();
        }
        match self.tree.get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => {
                self.err.get_or_insert(e.into());
                None
            }
        }
    }

    /// Buffers a write.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Buffers a delete.
    pub fn del(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    fn read<T: Decode<()>>(&mut self, what: &str, key: &[u8]) -> Option<T> {
        let raw = self.get(key)?;
        match dec(what, &raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err.get_or_insert(e);
                None
            }
        }
    }

    /// Highest seq of `author` as seen through the overlay.
    pub fn seq(&mut self, author: &AuthorId) -> u64 {
        self.get(&keys::seq(author))
            .and_then(|v| v.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
    }
}

impl Tables for Overlay<'_> {
    fn record(&mut self, id: &Dot) -> Option<RecordState> {
        if let Some(r) = self.records.get(id) {
            return r.clone();
        }
        let key = keys::record(id);
        let in_writes = self.writes.contains_key(&key);
        let row = if in_writes || !self.rowless.contains(id) {
            self.read("record", &key)
        } else {
            None
        };
        if row.is_none() && !in_writes && self.err.is_none() {
            self.rowless.insert(*id);
        }
        let r = row.or_else(|| {
            if let Some(r) = self.log_records.and_then(|c| c.get(id)) {
                return Some(r);
            }
            match self.entry(&id.author, id.seq) {
                Ok(e) => {
                    let r = e.as_ref().and_then(super::plain::of_entry);
                    if let (Some(c), Some(r)) = (self.log_records, &r) {
                        if self.in_tree(id) {
                            c.put(r);
                        }
                    }
                    r
                }
                Err(e) => {
                    self.err.get_or_insert(e);
                    None
                }
            }
        });
        self.records.insert(*id, r.clone());
        r
    }
    fn put_record(&mut self, rec: RecordState) {
        let k = keys::record(&rec.id);
        if super::plain::is_plain(&rec) {
            // Read from its entry (`plain.rs`); a record never becomes plain again once it has a row.
            self.writes.remove(&k);
        } else {
            self.put(k, wire::encode(&rec));
        }
        self.records.insert(rec.id, Some(rec));
    }
    fn outlet_year(&mut self, outlet: &Dot, year: u16) -> Vec<Fact> {
        self.outlet_year_held(outlet, year).0.clone()
    }
    fn put_outlet_year(&mut self, outlet: &Dot, year: u16, facts: &[Fact]) {
        *self.outlet_year_held(outlet, year) = (facts.to_vec(), true);
    }
    fn swap_fact(
        &mut self,
        outlet: &Dot,
        year: u16,
        remove: Option<&Fact>,
        add: Option<&Fact>,
    ) -> (Option<Fact>, Option<Fact>) {
        let (facts, written) = self.outlet_year_held(outlet, year);
        *written = true;
        view::swap_in(facts, remove, add)
    }
    fn group(&mut self, key: &GroupKey) -> GroupTotals {
        if let Some((g, _)) = self.groups.get(key) {
            return *g;
        }
        let g = self
            .read::<(GroupKey, GroupTotals)>("group", &keys::group(key))
            .map(|(_, g)| g)
            .unwrap_or_default();
        self.groups.insert(key.clone(), (g, false));
        g
    }
    fn put_group(&mut self, key: &GroupKey, totals: &GroupTotals) {
        match self.groups.get_mut(key) {
            Some(held) => *held = (*totals, true),
            None => {
                self.groups.insert(key.clone(), (*totals, true));
            }
        }
    }
    fn unit(&mut self, code: &str, from: Option<Date>) -> Option<UnitState> {
        self.read("unit", &keys::unit(code, from))
    }
    fn put_unit(&mut self, unit: &UnitState) {
        self.put(
            keys::unit(&unit.def.code, unit.def.valid_from),
            wire::encode(unit),
        );
    }
    fn reviews(&mut self, record: &Dot) -> Vec<ReviewState> {
        self.read("reviews", &keys::reviews(record))
            .unwrap_or_default()
    }
    fn put_reviews(&mut self, record: &Dot, reviews: &[ReviewState]) {
        self.put(keys::reviews(record), wire::encode(&reviews.to_vec()));
    }
    fn plan(&mut self) -> Option<PlanState> {
        self.read("plan", &keys::plan())
    }
    fn put_plan(&mut self, plan: &PlanState) {
        self.put(keys::plan(), wire::encode(plan));
    }
}
