//! The replica's view: a deterministic function of the set of entries it holds, maintained incrementally.
//!
//! Each record is a multi-value register over its versions (a `crdts::MerkleReg`): the creating entry
//! and every correction or retraction is a version naming the version hashes it supersedes; the heads
//! are the versions nothing supersedes. One head is the value; several are a conflict that a later
//! correction naming them all resolves. Totals are kept as per-group counters, adjusted by the change
//! one entry makes, so merging costs O(delta) and reading totals costs O(groups). Storage is behind
//! [`Tables`]; [`MemTables`] is the in-memory one (agents, tests), the hub puts sled behind it.
//!
//! Architecture invariant: nothing here may depend on arrival order. Ties are broken by
//! (clock, dot), which every replica sees identically.

use std::collections::BTreeMap;

use bincode::{Decode, Encode};
use crdts::merkle_reg::{MerkleReg, Node, Sha3Hash};
use crdts::CmRDT;

use crate::wire::{
    self, Body, Created, Date, Decision, Dot, Entry, Hlc, Op, OutletKind, PlanDef, ReviewDecision,
    UnitDef,
};

/// A version's hash: how corrections name what they supersede.
pub type VersionHash = [u8; 32];

/// One version of a record.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Version {
    /// The entry that wrote it.
    pub dot: Dot,
    /// Its clock.
    pub hlc: Hlc,
    /// The content, or the retraction.
    pub value: Value,
}

/// What a version says.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub enum Value {
    /// The record's content.
    Body(Body),
    /// The record is withdrawn, with the reason given.
    Retracted(String),
}

impl Sha3Hash for Version {
    fn hash(&self, hasher: &mut tiny_keccak::Sha3) {
        use tiny_keccak::Hasher;
        hasher.update(&wire::encode(self));
    }
}

/// A stored version: what it supersedes and what it says.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StoredVersion {
    /// Hashes of superseded versions.
    pub supersedes: Vec<VersionHash>,
    /// The version.
    pub version: Version,
}

/// All versions of one record, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RecordState {
    /// The record's id: the dot of the entry that created it.
    pub id: Dot,
    /// Every version received, sorted by hash (orphans included until their parents arrive).
    pub versions: Vec<StoredVersion>,
}

/// A head of a record's register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    /// The version's hash (what a correction must name).
    pub hash: VersionHash,
    /// The version.
    pub version: Version,
}

fn node(v: &StoredVersion) -> Node<Version> {
    Node {
        children: v.supersedes.iter().copied().collect(),
        value: v.version.clone(),
    }
}

/// `node(v).hash()` without building the node: SHA3-256 of the superseded hashes in order, each
/// once (the node's `BTreeSet`), then the encoded version. The merge hashes every version it
/// adds; cloning each one into a node to do so cost as much as the hash.
fn version_hash(v: &StoredVersion) -> VersionHash {
    use tiny_keccak::{Hasher, Sha3};
    let mut sha3 = Sha3::v256();
    if v.supersedes.windows(2).all(|w| w[0] < w[1]) {
        v.supersedes.iter().for_each(|c| sha3.update(c));
    } else {
        let set: std::collections::BTreeSet<&VersionHash> = v.supersedes.iter().collect();
        set.into_iter().for_each(|c| sha3.update(c));
    }
    v.version.hash(&mut sha3);
    let mut hash = [0u8; 32];
    sha3.finalize(&mut hash);
    hash
}

impl RecordState {
    /// An empty record.
    pub fn new(id: Dot) -> Self {
        RecordState {
            id,
            versions: vec![],
        }
    }

    fn register(&self) -> MerkleReg<Version> {
        let mut reg = MerkleReg::new();
        for v in &self.versions {
            reg.apply(node(v));
        }
        reg
    }

    /// Adds a version; false when it was already there.
    pub fn add(&mut self, v: StoredVersion) -> bool {
        // A record's first version needs no hash to be kept in hash order.
        if self.versions.is_empty() {
            self.versions.push(v);
            return true;
        }
        let h = version_hash(&v);
        match self.versions.binary_search_by_key(&h, version_hash) {
            Ok(_) => false,
            Err(i) => {
                self.versions.insert(i, v);
                true
            }
        }
    }

    /// The current heads, latest (clock, dot) first.
    pub fn heads(&self) -> Vec<Head> {
        let reg = self.register();
        let mut heads: Vec<Head> = reg
            .read()
            .hashes_and_nodes()
            .map(|(hash, n)| Head {
                hash,
                version: n.value.clone(),
            })
            .collect();
        heads.sort_by_key(|h| std::cmp::Reverse((h.version.hlc, h.version.dot)));
        heads
    }

    /// The head that stands for the record's value: the latest by (clock, dot).
    pub fn winner(&self) -> Option<Head> {
        self.winning().map(|v| Head {
            hash: version_hash(v),
            version: v.version.clone(),
        })
    }

    /// The stored version of [`RecordState::winner`], found without hashing when no version
    /// supersedes another (a record never corrected, the merge's common case): then every version
    /// is a head, and the first of the latest by (clock, dot) in the hash order they are kept in is
    /// the one `heads` puts first (its sort is stable over the register's hash order).
    pub fn winning(&self) -> Option<&StoredVersion> {
        if self.versions.iter().all(|v| v.supersedes.is_empty()) {
            return self
                .versions
                .iter()
                .min_by_key(|v| std::cmp::Reverse((v.version.hlc, v.version.dot)));
        }
        let w = self.heads().into_iter().next()?;
        self.versions.iter().find(|v| version_hash(v) == w.hash)
    }

    /// The record's content as first written, when its creating entry is held.
    pub fn original(&self) -> Option<&Body> {
        self.versions.iter().find_map(|v| match &v.version.value {
            Value::Body(b) if v.version.dot == self.id => Some(b),
            _ => None,
        })
    }

    /// The hash of a stored version.
    pub fn hash_of(v: &StoredVersion) -> VersionHash {
        version_hash(v)
    }
}

/// A survey's contribution to totals, derived from its winning head.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Fact {
    /// The survey record.
    pub record: Dot,
    /// The outlet surveyed.
    pub outlet: Dot,
    /// Reporting year.
    pub year: u16,
    /// Commune recorded on the survey.
    pub unit: String,
    /// Outlet kind.
    pub kind: OutletKind,
    /// Which survey is latest: by date, then clock, then dot.
    pub order: (Date, Hlc, Dot),
    /// Markets: non-biodegradable bags in grams per day; retail: bags per day.
    pub amount: u64,
    /// Retail: gives no non-biodegradable bags.
    pub no_nonbio: bool,
}

impl Fact {
    fn of(rec: &RecordState) -> Option<Fact> {
        let head = rec.winning()?;
        let Value::Body(body) = &head.version.value else {
            return None;
        };
        let order_of = |date| (date, head.version.hlc, head.version.dot);
        match body {
            Body::MarketSurvey(s) => Some(Fact {
                record: rec.id,
                outlet: s.outlet,
                year: s.year,
                unit: s.unit.clone(),
                kind: OutletKind::Market,
                order: order_of(s.date),
                amount: u64::from(s.nonbio_g_per_day),
                no_nonbio: false,
            }),
            Body::RetailSurvey(s) => Some(Fact {
                record: rec.id,
                outlet: s.outlet,
                year: s.year,
                unit: s.unit.clone(),
                kind: s.kind,
                order: order_of(s.date),
                amount: u64::from(s.nonbio_bags_per_day.unwrap_or(0)),
                no_nonbio: !s.gives_nonbio,
            }),
            _ => None,
        }
    }
}

/// A totals group: reporting year, commune, outlet kind.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode)]
pub struct GroupKey {
    /// Reporting year.
    pub year: u16,
    /// Commune code.
    pub unit: String,
    /// Outlet kind.
    pub kind: OutletKind,
}

/// Counters of one group. Signed so that a transiently odd order of adjustments cannot underflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct GroupTotals {
    /// Live surveys counted.
    pub surveys: i64,
    /// Outlets whose latest survey of the year falls in this group.
    pub outlets: i64,
    /// Σ of those latest surveys' amounts (grams/day for markets, bags/day for retail).
    pub amount: i64,
    /// Of those outlets (retail), how many give no non-biodegradable bags.
    pub no_nonbio: i64,
}

impl GroupTotals {
    /// True when every counter is zero (the group can be deleted).
    pub fn is_zero(&self) -> bool {
        *self == GroupTotals::default()
    }
}

/// A unit version with the clock and dot that wrote it (last writer wins per code and start date).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct UnitState {
    /// The unit.
    pub def: UnitDef,
    /// Clock of the writing entry.
    pub hlc: Hlc,
    /// The writing entry.
    pub dot: Dot,
}

/// A review decision as the view keeps it, with the entry that wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct ReviewState {
    /// Hash of the version reviewed.
    pub version: VersionHash,
    /// The decision.
    pub decision: Decision,
    /// Why it was returned.
    pub reason: String,
    /// Clock of the writing entry.
    pub hlc: Hlc,
    /// The writing entry.
    pub dot: Dot,
}

/// The plan in force: the latest plan entry by (clock, dot).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct PlanState {
    /// The plan.
    pub def: PlanDef,
    /// Clock of the writing entry.
    pub hlc: Hlc,
    /// The writing entry.
    pub dot: Dot,
}

/// Where a record stands in review.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum ReviewStatus {
    /// No decision on its current value yet (also after a correction of a returned record).
    Submitted,
    /// Its current value was verified.
    Verified,
    /// Its current value was returned for correction.
    Returned,
}

/// The review that holds for a record whose current value has hash `winner`: the latest decision (by
/// clock, then dot) naming that version. Decisions on superseded versions no longer hold.
pub fn review_of(winner: &VersionHash, reviews: &[ReviewState]) -> Option<ReviewState> {
    reviews
        .iter()
        .filter(|r| &r.version == winner)
        .max_by_key(|r| (r.hlc, r.dot))
        .cloned()
}

/// The review status of a record given its current value's hash and the decisions held about it.
pub fn status_of(winner: &VersionHash, reviews: &[ReviewState]) -> ReviewStatus {
    match review_of(winner, reviews).map(|r| r.decision) {
        Some(Decision::Verified) => ReviewStatus::Verified,
        Some(Decision::Returned) => ReviewStatus::Returned,
        None => ReviewStatus::Submitted,
    }
}

/// Storage the reducer reads and writes. Reads must see earlier writes of the same apply.
pub trait Tables {
    /// A record's versions.
    fn record(&mut self, id: &Dot) -> Option<RecordState>;
    /// Stores a record's versions.
    fn put_record(&mut self, rec: RecordState);
    /// Facts of the surveys of one outlet in one year.
    fn outlet_year(&mut self, outlet: &Dot, year: u16) -> Vec<Fact>;
    /// Stores them (an empty slice deletes).
    fn put_outlet_year(&mut self, outlet: &Dot, year: u16, facts: &[Fact]);
    /// Among the facts of one outlet and year, removes `remove` (a fact held, found by its record)
    /// and adds `add`; returns the latest fact (by [`Fact::order`]) before and after. The default
    /// reads and writes the whole list through [`Tables::outlet_year`] and
    /// [`Tables::put_outlet_year`], O(surveys of the outlet-year); storage that keeps the facts
    /// ordered overrides it in O(log) ([`MemTables`] does), which keeps an import linear in rows.
    fn swap_fact(
        &mut self,
        outlet: &Dot,
        year: u16,
        remove: Option<&Fact>,
        add: Option<&Fact>,
    ) -> (Option<Fact>, Option<Fact>) {
        let mut list = self.outlet_year(outlet, year);
        let swapped = swap_in(&mut list, remove, add);
        self.put_outlet_year(outlet, year, &list);
        swapped
    }
    /// A group's counters (zero when absent).
    fn group(&mut self, key: &GroupKey) -> GroupTotals;
    /// Stores a group's counters (zero deletes).
    fn put_group(&mut self, key: &GroupKey, totals: &GroupTotals);
    /// A unit version by code and start date.
    fn unit(&mut self, code: &str, from: Option<Date>) -> Option<UnitState>;
    /// Stores a unit version.
    fn put_unit(&mut self, unit: &UnitState);
    /// Review decisions held about a record, by (clock, dot).
    fn reviews(&mut self, record: &Dot) -> Vec<ReviewState>;
    /// Stores them.
    fn put_reviews(&mut self, record: &Dot, reviews: &[ReviewState]);
    /// The plan in force.
    fn plan(&mut self) -> Option<PlanState>;
    /// Stores the plan in force.
    fn put_plan(&mut self, plan: &PlanState);
}

/// What applying an entry did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Applied {
    /// The record the entry belongs to (none for units).
    pub record: Option<Dot>,
    /// False when the entry was already reflected.
    pub changed: bool,
}

/// Applies one entry to the view. Idempotent and order-independent over any set of entries.
pub fn apply(t: &mut impl Tables, e: &Entry) -> Applied {
    let dot = e.dot();
    let (record, supersedes, value) = match &e.op {
        Op::Unit(def) => {
            let newer = t
                .unit(&def.code, def.valid_from)
                .is_none_or(|old| (old.hlc, old.dot) < (e.hlc, dot));
            if newer {
                t.put_unit(&UnitState {
                    def: def.clone(),
                    hlc: e.hlc,
                    dot,
                });
            }
            return Applied {
                record: None,
                changed: newer,
            };
        }
        Op::Plan(def) => {
            let newer = t.plan().is_none_or(|old| (old.hlc, old.dot) < (e.hlc, dot));
            if newer {
                t.put_plan(&PlanState {
                    def: def.clone(),
                    hlc: e.hlc,
                    dot,
                });
            }
            return Applied {
                record: None,
                changed: newer,
            };
        }
        Op::Review(r) => return apply_review(t, r, e.hlc, dot),
        // An office's jurisdiction: kept by each side outside the view (the hub's `j` keys, the
        // agent's state), since only checks read it.
        Op::Office(_) | Op::Elided(_) => {
            return Applied {
                record: None,
                changed: false,
            }
        }
        Op::Record(b) | Op::Created(Created { body: b, .. }) => {
            (dot, vec![], Value::Body(b.clone()))
        }
        Op::Correct(c) => (c.record, c.supersedes.clone(), Value::Body(c.body.clone())),
        Op::Retract(r) => (
            r.record,
            r.supersedes.clone(),
            Value::Retracted(r.reason.clone()),
        ),
    };
    let mut rec = t
        .record(&record)
        .unwrap_or_else(|| RecordState::new(record));
    let before = Fact::of(&rec);
    let mut supersedes = supersedes;
    supersedes.sort();
    supersedes.dedup();
    let changed = rec.add(StoredVersion {
        supersedes,
        version: Version {
            dot,
            hlc: e.hlc,
            value,
        },
    });
    if changed {
        let after = Fact::of(&rec);
        t.put_record(rec);
        if before != after {
            refact(t, before, after);
        }
    }
    Applied {
        record: Some(record),
        changed,
    }
}

fn apply_review(t: &mut impl Tables, r: &ReviewDecision, hlc: Hlc, dot: Dot) -> Applied {
    let mut list = t.reviews(&r.record);
    if list.iter().any(|x| x.dot == dot) {
        return Applied {
            record: Some(r.record),
            changed: false,
        };
    }
    list.push(ReviewState {
        version: r.version,
        decision: r.decision,
        reason: r.reason.clone(),
        hlc,
        dot,
    });
    list.sort_by_key(|x| (x.hlc, x.dot));
    t.put_reviews(&r.record, &list);
    Applied {
        record: Some(r.record),
        changed: true,
    }
}

/// [`Tables::swap_fact`] on one outlet-year's list of facts, kept in [`Fact::order`]: removes
/// `remove` (by record), adds `add`, and returns the latest fact before and after.
pub fn swap_in(
    list: &mut Vec<Fact>,
    remove: Option<&Fact>,
    add: Option<&Fact>,
) -> (Option<Fact>, Option<Fact>) {
    let old = latest(list).cloned();
    if let Some(r) = remove {
        list.retain(|f| f.record != r.record);
    }
    if let Some(a) = add {
        list.push(a.clone());
        list.sort_by_key(|f| f.order);
    }
    (old, latest(list).cloned())
}

fn latest(facts: &[Fact]) -> Option<&Fact> {
    facts.iter().max_by(|a, b| a.order.cmp(&b.order))
}

fn key_of(f: &Fact) -> GroupKey {
    GroupKey {
        year: f.year,
        unit: f.unit.clone(),
        kind: f.kind,
    }
}

fn bump(t: &mut impl Tables, key: &GroupKey, f: impl FnOnce(&mut GroupTotals)) {
    let mut g = t.group(key);
    f(&mut g);
    t.put_group(key, &g);
}

fn outlet_counts(t: &mut impl Tables, f: &Fact, sign: i64) {
    bump(t, &key_of(f), |g| {
        g.outlets += sign;
        g.amount += sign * f.amount as i64;
        g.no_nonbio += sign * i64::from(f.no_nonbio);
    });
}

/// Replaces a record's contribution `before` by `after`, keeping every counter exact. Costs what
/// [`Tables::swap_fact`] costs, once or twice (the survey moved to another outlet or year).
fn refact(t: &mut impl Tables, before: Option<Fact>, after: Option<Fact>) {
    if let Some(b) = &before {
        bump(t, &key_of(b), |g| g.surveys -= 1);
    }
    if let Some(a) = &after {
        bump(t, &key_of(a), |g| g.surveys += 1);
    }
    let mut latest_changes = Vec::with_capacity(2);
    match (&before, &after) {
        (Some(b), Some(a)) if (b.outlet, b.year) == (a.outlet, a.year) => {
            latest_changes.push(t.swap_fact(&b.outlet, b.year, Some(b), Some(a)));
        }
        _ => {
            if let Some(b) = &before {
                latest_changes.push(t.swap_fact(&b.outlet, b.year, Some(b), None));
            }
            if let Some(a) = &after {
                latest_changes.push(t.swap_fact(&a.outlet, a.year, None, Some(a)));
            }
        }
    }
    for (old, new) in latest_changes {
        if old != new {
            if let Some(o) = &old {
                outlet_counts(t, o, -1);
            }
            if let Some(n) = &new {
                outlet_counts(t, n, 1);
            }
        }
    }
}

/// Survey facts of one outlet and year in memory, by [`Fact::order`] (unique: it ends with the dot of
/// the version the fact comes from), so the latest is the last.
pub type FactsByOrder = BTreeMap<(Date, Hlc, Dot), Fact>;

/// The view in memory: for agents (kept as a snapshot in the agent's store) and for tests. Encodes
/// with bincode, so the agent can persist it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Encode, Decode)]
pub struct MemTables {
    /// Records by id.
    pub records: BTreeMap<Dot, RecordState>,
    /// Survey facts by outlet and year.
    pub outlet_years: BTreeMap<(Dot, u16), FactsByOrder>,
    /// Totals by group.
    pub groups: BTreeMap<GroupKey, GroupTotals>,
    /// Units by code and start date.
    pub units: BTreeMap<(String, Option<Date>), UnitState>,
    /// Review decisions by record.
    pub reviews: BTreeMap<Dot, Vec<ReviewState>>,
    /// The plan in force.
    pub plan: Option<PlanState>,
}

impl MemTables {
    /// An empty view.
    pub fn new() -> Self {
        Self::default()
    }

    /// The units registry this view holds.
    pub fn registry(&self) -> crate::units::Units {
        let mut r = crate::units::Units::new();
        for u in self.units.values() {
            r.insert(u.def.clone());
        }
        r
    }
}

impl Tables for MemTables {
    fn record(&mut self, id: &Dot) -> Option<RecordState> {
        self.records.get(id).cloned()
    }
    fn put_record(&mut self, rec: RecordState) {
        self.records.insert(rec.id, rec);
    }
    fn outlet_year(&mut self, outlet: &Dot, year: u16) -> Vec<Fact> {
        self.outlet_years
            .get(&(*outlet, year))
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }
    fn put_outlet_year(&mut self, outlet: &Dot, year: u16, facts: &[Fact]) {
        if facts.is_empty() {
            self.outlet_years.remove(&(*outlet, year));
        } else {
            let m = facts.iter().map(|f| (f.order, f.clone())).collect();
            self.outlet_years.insert((*outlet, year), m);
        }
    }
    fn swap_fact(
        &mut self,
        outlet: &Dot,
        year: u16,
        remove: Option<&Fact>,
        add: Option<&Fact>,
    ) -> (Option<Fact>, Option<Fact>) {
        let slot = self.outlet_years.entry((*outlet, year)).or_default();
        let old = slot.last_key_value().map(|(_, f)| f.clone());
        if let Some(r) = remove {
            if slot.get(&r.order).is_some_and(|f| f.record == r.record) {
                slot.remove(&r.order);
            } else {
                // Not where its order says: look for it by record (never expected).
                slot.retain(|_, f| f.record != r.record);
            }
        }
        if let Some(a) = add {
            slot.insert(a.order, a.clone());
        }
        let new = slot.last_key_value().map(|(_, f)| f.clone());
        if slot.is_empty() {
            self.outlet_years.remove(&(*outlet, year));
        }
        (old, new)
    }
    fn group(&mut self, key: &GroupKey) -> GroupTotals {
        self.groups.get(key).copied().unwrap_or_default()
    }
    fn put_group(&mut self, key: &GroupKey, totals: &GroupTotals) {
        if totals.is_zero() {
            self.groups.remove(key);
        } else {
            self.groups.insert(key.clone(), *totals);
        }
    }
    fn unit(&mut self, code: &str, from: Option<Date>) -> Option<UnitState> {
        self.units.get(&(code.to_string(), from)).cloned()
    }
    fn put_unit(&mut self, unit: &UnitState) {
        self.units
            .insert((unit.def.code.clone(), unit.def.valid_from), unit.clone());
    }
    fn reviews(&mut self, record: &Dot) -> Vec<ReviewState> {
        self.reviews.get(record).cloned().unwrap_or_default()
    }
    fn put_reviews(&mut self, record: &Dot, reviews: &[ReviewState]) {
        self.reviews.insert(*record, reviews.to_vec());
    }
    fn plan(&mut self) -> Option<PlanState> {
        self.plan.clone()
    }
    fn put_plan(&mut self, plan: &PlanState) {
        self.plan = Some(plan.clone());
    }
}

impl MemTables {
    /// The review status of a record held in this view (submitted when it has no decision).
    pub fn status(&self, rec: &RecordState) -> (ReviewStatus, Option<ReviewState>) {
        let Some(w) = rec.winner() else {
            return (ReviewStatus::Submitted, None);
        };
        let list = self.reviews.get(&rec.id).map(Vec::as_slice).unwrap_or(&[]);
        let r = review_of(&w.hash, list);
        (status_of(&w.hash, list), r)
    }
}

#[cfg(test)]
#[path = "view_tests.rs"]
mod tests;
