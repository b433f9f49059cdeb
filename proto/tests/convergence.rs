//! Convergence as a property: random operations by several authors with partial, concurrent knowledge,
//! delivered to fresh replicas in any order and with duplicates, always give the same view, and the
//! incrementally maintained totals always equal a recomputation from the records.

mod common;

use std::collections::BTreeMap;

use baobi_proto::view::{
    self, Fact, GroupKey, GroupTotals, MemTables, PlanState, RecordState, ReviewState, Tables,
    UnitState, Value,
};
use baobi_proto::wire::{Body, Entry, OutletKind};
use common::{Replica, Writer};
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

/// Runs `steps` rounds in which authors write from their own partial view or gossip with each other.
fn history(seed: u64, authors: usize, steps: usize) -> Vec<Entry> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut writers: Vec<Writer> = (0..authors).map(|_| Writer::new()).collect();
    let mut all = vec![];
    for step in 0..steps {
        let i = rng.gen_range(0..authors);
        if rng.gen_bool(0.25) && authors > 1 {
            // Gossip: i learns everything j holds (concurrent edits stay concurrent until then).
            let j = (i + rng.gen_range(1..authors)) % authors;
            let theirs: Vec<Entry> = writers[j].replica.entries.values().cloned().collect();
            for e in &theirs {
                writers[i].replica.insert(e);
            }
        } else {
            let op = writers[i].random_op(&mut rng);
            // Clocks can tie or run backwards across authors: convergence must not care.
            let now = 1_700_000_000_000 + (step as u64 % 7) * 1000;
            all.push(writers[i].write(op, now));
        }
    }
    all
}

/// Totals recomputed from scratch from the records: the independent check of the incremental counters.
fn recompute(view: &MemTables) -> BTreeMap<GroupKey, GroupTotals> {
    let mut groups: BTreeMap<GroupKey, GroupTotals> = BTreeMap::new();
    // (outlet, year) -> latest fact as (order, key, amount, no_nonbio)
    let mut latest = BTreeMap::new();
    for rec in view.records.values() {
        let Some(head) = rec.winner() else { continue };
        let Value::Body(body) = &head.version.value else {
            continue;
        };
        let (outlet, year, unit, kind, date, amount, no_nonbio) = match body {
            Body::MarketSurvey(s) => (
                s.outlet,
                s.year,
                s.unit.clone(),
                OutletKind::Market,
                s.date,
                u64::from(s.nonbio_g_per_day),
                false,
            ),
            Body::RetailSurvey(s) => (
                s.outlet,
                s.year,
                s.unit.clone(),
                s.kind,
                s.date,
                u64::from(s.nonbio_bags_per_day.unwrap_or(0)),
                !s.gives_nonbio,
            ),
            _ => continue,
        };
        let key = GroupKey { year, unit, kind };
        groups.entry(key.clone()).or_default().surveys += 1;
        let order = (date, head.version.hlc, head.version.dot);
        let slot = latest
            .entry((outlet, year))
            .or_insert((order, key.clone(), amount, no_nonbio));
        if order > slot.0 {
            *slot = (order, key, amount, no_nonbio);
        }
    }
    for (_, key, amount, no_nonbio) in latest.into_values() {
        let g = groups.entry(key).or_default();
        g.outlets += 1;
        g.amount += amount as i64;
        g.no_nonbio += i64::from(no_nonbio);
    }
    groups
}

fn deliver(entries: &[Entry], rng: &mut StdRng) -> Replica {
    let mut order: Vec<&Entry> = entries.iter().collect();
    // Duplicates: some entries delivered two or three times.
    for e in entries {
        if rng.gen_bool(0.2) {
            order.push(e);
        }
    }
    order.shuffle(rng);
    let mut r = Replica::default();
    for e in order {
        // Bypass the replica's own dedup to feed the reducer duplicates directly too.
        baobi_proto::view::apply(&mut r.view, e);
        r.entries.insert((e.author, e.seq), e.clone());
    }
    r
}

/// The view kept the way it was before outlet-years were ordered maps: every table delegates to a
/// `MemTables` except `swap_fact`, which takes the trait's default (read the outlet-year's list,
/// retain, push, sort, write it back), the computation the hub's storage still uses.
#[derive(Default)]
struct ListTables(MemTables);

impl Tables for ListTables {
    fn record(&mut self, id: &baobi_proto::Dot) -> Option<RecordState> {
        self.0.record(id)
    }
    fn put_record(&mut self, rec: RecordState) {
        self.0.put_record(rec)
    }
    fn outlet_year(&mut self, outlet: &baobi_proto::Dot, year: u16) -> Vec<Fact> {
        self.0.outlet_year(outlet, year)
    }
    fn put_outlet_year(&mut self, outlet: &baobi_proto::Dot, year: u16, facts: &[Fact]) {
        self.0.put_outlet_year(outlet, year, facts)
    }
    fn group(&mut self, key: &GroupKey) -> GroupTotals {
        self.0.group(key)
    }
    fn put_group(&mut self, key: &GroupKey, totals: &GroupTotals) {
        self.0.put_group(key, totals)
    }
    fn unit(&mut self, code: &str, from: Option<baobi_proto::Date>) -> Option<UnitState> {
        self.0.unit(code, from)
    }
    fn put_unit(&mut self, unit: &UnitState) {
        self.0.put_unit(unit)
    }
    fn reviews(&mut self, record: &baobi_proto::Dot) -> Vec<ReviewState> {
        self.0.reviews(record)
    }
    fn put_reviews(&mut self, record: &baobi_proto::Dot, reviews: &[ReviewState]) {
        self.0.put_reviews(record, reviews)
    }
    fn plan(&mut self) -> Option<PlanState> {
        self.0.plan()
    }
    fn put_plan(&mut self, plan: &PlanState) {
        self.0.put_plan(plan)
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// `MemTables` keeps each outlet-year's facts ordered (O(log) per survey); the totals and facts it
    /// reaches equal those of the list computation, in any delivery order.
    #[test]
    fn ordered_outlet_years_equal_the_list_computation(
        seed in any::<u64>(), authors in 1usize..4, steps in 1usize..160,
    ) {
        let mut entries = history(seed, authors, steps);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x0ddba11);
        entries.shuffle(&mut rng);
        let mut fast = MemTables::new();
        let mut list = ListTables::default();
        for e in &entries {
            prop_assert_eq!(view::apply(&mut fast, e), view::apply(&mut list, e));
        }
        prop_assert_eq!(&fast.groups, &list.0.groups);
        prop_assert_eq!(&fast, &list.0);
        for &(o, y) in fast.outlet_years.keys() {
            let ordered: Vec<Fact> = fast.outlet_years[&(o, y)].values().cloned().collect();
            prop_assert_eq!(ordered, list.outlet_year(&o, y));
        }
        prop_assert_eq!(recompute(&fast), fast.groups.clone());
    }

    #[test]
    fn any_delivery_order_with_duplicates_gives_the_same_view(
        seed in any::<u64>(), authors in 1usize..5, steps in 1usize..120,
    ) {
        let entries = history(seed, authors, steps);
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed);
        let a = deliver(&entries, &mut rng);
        let b = deliver(&entries, &mut rng);
        let mut c = entries.clone();
        c.reverse();
        let c = deliver(&c, &mut rng);
        prop_assert_eq!(&a.view, &b.view);
        prop_assert_eq!(&a.view, &c.view);
        prop_assert_eq!(recompute(&a.view), a.view.groups.clone());
    }
}

#[test]
fn concurrent_corrections_conflict_until_one_names_both() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut district = Writer::new();
    let mut commune = Writer::new();
    let outlet = commune.write(
        baobi_proto::Op::Record(Body::Outlet(baobi_proto::wire::OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Tân Thành".into(),
            unit: "30226".into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        })),
        1,
    );
    let survey = commune.write(
        baobi_proto::Op::Record(Body::MarketSurvey(common::market(
            outlet.dot(),
            "30226",
            baobi_proto::Date(20250312),
            &mut rng,
        ))),
        2,
    );
    district.replica.insert(&outlet);
    district.replica.insert(&survey);
    let correct = |w: &mut Writer, grams: u32, now: u64| {
        let rec = &w.replica.view.records[&survey.dot()];
        let Some(Body::MarketSurvey(mut s)) = rec.original().cloned() else {
            unreachable!()
        };
        s.nonbio_g_per_day = grams;
        let supersedes = rec.heads().iter().map(|h| h.hash).collect();
        w.write(
            baobi_proto::Op::Correct(baobi_proto::wire::Correction {
                record: survey.dot(),
                supersedes,
                body: Body::MarketSurvey(s),
            }),
            now,
        )
    };
    let c1 = correct(&mut district, 11_000, 10);
    let c2 = correct(&mut commune, 12_000, 11);
    let mut hub = Replica::default();
    for e in [&outlet, &survey, &c1, &c2] {
        hub.insert(e);
    }
    let heads = hub.view.records[&survey.dot()].heads();
    assert_eq!(heads.len(), 2, "two concurrent corrections are a conflict");
    // The commune learns of the district's correction and resolves by naming both heads.
    commune.replica.insert(&c1);
    let c3 = correct(&mut commune, 11_500, 12);
    hub.insert(&c3);
    let heads = hub.view.records[&survey.dot()].heads();
    assert_eq!(heads.len(), 1);
    let Value::Body(Body::MarketSurvey(s)) = &heads[0].version.value else {
        panic!()
    };
    assert_eq!(s.nonbio_g_per_day, 11_500);
    assert_eq!(recompute(&hub.view), hub.view.groups);
}
