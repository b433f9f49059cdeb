//! Unit tests of the indicator formulas: each figure is computed by hand in a comment beside it.
//!
//! Records are real signed entries applied through `view::apply` (so corrections and retractions go
//! through the same register as everywhere else), then gathered and computed.

use super::*;
use crate::view::{apply, MemTables};
use crate::wire::{
    Body, CampaignEvent, CampaignKind, Correction, Decision, Entry, MarketSurvey, Op, OutletDef,
    RetailSurvey, Retraction, ReviewDecision, Round, Target,
};
use crate::Keypair;

fn d(s: &str) -> Date {
    Date::parse(s).unwrap()
}

fn unit(code: &str, name: &str, level: Level, parent: Option<&str>, pre: bool) -> UnitDef {
    UnitDef {
        code: code.into(),
        name: name.into(),
        level,
        kind: String::new(),
        parent: parent.map(Into::into),
        valid_from: (!pre).then(|| d("2025-07-01")),
        valid_to: pre.then(|| d("2025-06-30")),
    }
}

/// Old Đồng Tháp (87) with three districts until 30 June 2025; the new Đồng Tháp (82) with four
/// communes and no districts from 1 July 2025.
fn registry() -> (Units, Lineage) {
    use Level::*;
    let mut u = Units::new();
    for def in [
        unit("87", "Tỉnh Đồng Tháp", Province, None, true),
        unit("876", "Huyện Lai Vung", District, Some("87"), true),
        unit("866", "Thành phố Cao Lãnh", District, Some("87"), true),
        unit("867", "Huyện Lấp Vò", District, Some("87"), true),
        unit("30226", "Xã Tân Thành", Commune, Some("876"), true),
        unit("30208", "Thị trấn Lai Vung", Commune, Some("876"), true),
        unit("30229", "Xã Long Thắng", Commune, Some("876"), true),
        unit("29869", "Phường 11", Commune, Some("866"), true),
        unit("29870", "Xã Mỹ An Hưng", Commune, Some("867"), true),
        unit("82", "Đồng Tháp", Province, None, false),
        unit("30226", "Xã Lai Vung", Commune, Some("82"), false),
        unit("30208", "Xã Hòa Long", Commune, Some("82"), false),
        unit("29869", "Phường Cao Lãnh", Commune, Some("82"), false),
        unit("29870", "Xã Lấp Vò", Commune, Some("82"), false),
    ] {
        u.insert(def);
    }
    let row = |old: &str, new: &str| crate::units::LineageRow {
        old: old.into(),
        new: new.into(),
        whole: true,
        date: d("2025-07-01"),
    };
    let lineage = Lineage::new(vec![
        row("30226", "30226"),
        row("30208", "30208"),
        row("30229", "30208"),
        row("29869", "29869"),
        row("29870", "29870"),
    ]);
    (u, lineage)
}

fn plan(targets: &[(IndicatorId, u16, u16)], deadline: Option<(u8, u8)>) -> PlanDef {
    PlanDef {
        id: "test".into(),
        name: "Kế hoạch thử".into(),
        name_en: "Test plan".into(),
        province: "87".into(),
        period: (2021, 2030),
        deadline,
        source: String::new(),
        targets: targets
            .iter()
            .map(|&(indicator, year, threshold_bp)| Target {
                indicator,
                year,
                threshold_bp,
            })
            .collect(),
        notes: vec![],
    }
}

struct World {
    kp: Keypair,
    hub: Keypair,
    seq: u64,
    hub_seq: u64,
    t: MemTables,
    units: Units,
    lineage: Lineage,
    plan: Option<PlanDef>,
    settings: Settings,
    today: Date,
}

/// A clock value at 10:00 in Vietnam on `date`, plus `n` ms so entries stay distinct.
fn hlc_on(date: Date, n: u64) -> Hlc {
    let t = time::Date::from_calendar_date(
        date.year() as i32,
        time::Month::try_from((date.0 / 100 % 100) as u8).unwrap(),
        (date.0 % 100) as u8,
    )
    .unwrap()
    .with_hms(3, 0, 0)
    .unwrap()
    .assume_utc();
    Hlc(((t.unix_timestamp() as u64) * 1000 + n) << 16)
}

impl World {
    fn new() -> World {
        let (units, lineage) = registry();
        World {
            kp: Keypair::generate(),
            hub: Keypair::generate(),
            seq: 0,
            hub_seq: 0,
            t: MemTables::new(),
            units,
            lineage,
            plan: None,
            settings: Settings::default(),
            today: d("2026-11-21"),
        }
    }

    /// Signs `op` as recorded on `on` and applies it; returns the entry's dot.
    fn put(&mut self, on: Date, op: Op) -> Dot {
        self.seq += 1;
        let e: Entry = self.kp.sign_entry(self.seq, hlc_on(on, self.seq), op);
        apply(&mut self.t, &e);
        e.dot()
    }

    fn outlet(
        &mut self,
        kind: OutletKind,
        name: &str,
        unit: &str,
        certs: &[(CertKind, &str, Option<&str>)],
    ) -> Dot {
        self.outlet_open(kind, name, unit, certs, None, None)
    }

    fn outlet_open(
        &mut self,
        kind: OutletKind,
        name: &str,
        unit: &str,
        certs: &[(CertKind, &str, Option<&str>)],
        opened: Option<&str>,
        closed: Option<&str>,
    ) -> Dot {
        let def = OutletDef {
            kind,
            name: name.into(),
            unit: unit.into(),
            address: String::new(),
            market_class: (kind == OutletKind::Market).then_some(3),
            certifications: certs
                .iter()
                .map(|&(kind, from, to)| Certification {
                    kind,
                    from: d(from),
                    to: to.map(d),
                })
                .collect(),
            opened: opened.map(d),
            closed: closed.map(d),
        };
        self.put(d("2021-01-04"), Op::Record(Body::Outlet(def)))
    }

    fn market_body(outlet: Dot, unit: &str, date: &str, round: Round, grams: u32) -> Body {
        let date = d(date);
        Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: unit.into(),
            date,
            year: date.year(),
            round,
            vendors_total: 100,
            vendors_surveyed: 50,
            nonbio_g_per_day: grams,
            eco_g_per_day: None,
            vendors_nonbio: 40,
            vendors_alternatives: None,
            operating_days: None,
            reduction_model: false,
            notes: String::new(),
        })
    }

    fn market(&mut self, outlet: Dot, unit: &str, date: &str, round: Round, grams: u32) -> Dot {
        let b = Self::market_body(outlet, unit, date, round, grams);
        self.put(d(date), Op::Record(b))
    }

    fn retail(
        &mut self,
        outlet: Dot,
        kind: OutletKind,
        unit: &str,
        date: &str,
        gives: bool,
        eco: bool,
    ) -> Dot {
        let date = d(date);
        let b = Body::RetailSurvey(RetailSurvey {
            outlet,
            kind,
            unit: unit.into(),
            date,
            year: date.year(),
            gives_nonbio: gives,
            bag_types: String::new(),
            nonbio_bags_per_day: None,
            eco_bags_per_day: eco.then_some(50),
            sells_reusable: None,
            eco_labelled: None,
            notes: String::new(),
        });
        self.put(date, Op::Record(b))
    }

    fn campaign(&mut self, unit: &str, date: &str, recorded: &str) -> Dot {
        let b = Body::Campaign(CampaignEvent {
            unit: unit.into(),
            date: d(date),
            kind: CampaignKind::Event,
            participants: None,
            topic: "Nói không với túi ni lông".into(),
        });
        self.put(d(recorded), Op::Record(b))
    }

    fn heads(&self, record: Dot) -> Vec<[u8; 32]> {
        self.t.records[&record]
            .heads()
            .iter()
            .map(|h| h.hash)
            .collect()
    }

    fn correct(&mut self, record: Dot, body: Body, on: &str) {
        let supersedes = self.heads(record);
        self.put(
            d(on),
            Op::Correct(Correction {
                record,
                supersedes,
                body,
            }),
        );
    }

    fn retract(&mut self, record: Dot, on: &str) {
        let supersedes = self.heads(record);
        self.put(
            d(on),
            Op::Retract(Retraction {
                record,
                supersedes,
                reason: "nhập nhầm".into(),
            }),
        );
    }

    fn review(&mut self, record: Dot, decision: Decision) {
        let version = self.t.records[&record].winner().unwrap().hash;
        self.hub_seq += 1;
        let e = self.hub.sign_entry(
            self.hub_seq,
            hlc_on(d("2026-11-20"), self.hub_seq),
            Op::Review(ReviewDecision {
                record,
                version,
                decision,
                reason: if decision == Decision::Returned {
                    "số liệu sai".into()
                } else {
                    String::new()
                },
            }),
        );
        apply(&mut self.t, &e);
    }

    fn report(&self, year: u16, unit: Option<&str>) -> Report {
        let t = self.t.clone();
        let g = gather(t.records.values(), |r| {
            t.reviews.get(r).cloned().unwrap_or_default()
        });
        let inp = Inputs {
            province: "87",
            province_name: "Đồng Tháp",
            units: &self.units,
            lineage: &self.lineage,
            facilities: &g.facilities,
            surveys: &g.surveys,
            campaigns: &g.campaigns,
            plan: self.plan.as_ref(),
            settings: self.settings,
            today: self.today,
            facts: None,
            outside: &[],
        };
        report(&inp, year, unit).unwrap()
    }
}

fn ind(r: &Report, id: IndicatorId) -> &Indicator {
    r.indicators.iter().find(|i| i.id == id).unwrap()
}

fn close(a: Option<f64>, b: f64) -> bool {
    a.is_some_and(|a| (a - b).abs() < 1e-12)
}

use CertKind::{Civilized, NewRural};
use OutletKind::{Convenience, Market, Supermarket, TradeCentre};

#[test]
fn i1_counts_unsurveyed_outlets_as_not_meeting_and_uses_the_latest_survey() {
    let mut w = World::new();
    w.plan = Some(plan(
        &[
            (IndicatorId::I1, 2021, 8500),
            (IndicatorId::I1Cs, 2021, 5000),
        ],
        Some((12, 10)),
    ));
    let s1 = w.outlet(Supermarket, "Siêu thị 1", "30226", &[]);
    let s2 = w.outlet(Supermarket, "Siêu thị 2", "30226", &[]);
    let s3 = w.outlet(Supermarket, "Siêu thị 3", "30208", &[]);
    let tc = w.outlet(TradeCentre, "TTTM", "30208", &[]);
    let c1 = w.outlet(Convenience, "Cửa hàng 1", "29869", &[]);
    let _c2 = w.outlet(Convenience, "Cửa hàng 2", "29869", &[]);
    w.retail(s1, Supermarket, "30226", "2024-03-01", false, false);
    // s2: an earlier survey without bags, the latest gives them: the latest counts.
    w.retail(s2, Supermarket, "30226", "2024-02-01", false, false);
    w.retail(s2, Supermarket, "30226", "2024-09-01", true, false);
    // s3 was surveyed only in 2023: unsurveyed in 2024.
    w.retail(s3, Supermarket, "30208", "2023-05-01", false, false);
    w.retail(tc, TradeCentre, "30208", "2024-04-01", false, false);
    w.retail(c1, Convenience, "29869", "2024-04-02", false, false);
    let r = w.report(2024, None);
    assert_eq!(r.as_of, d("2024-12-31"));
    assert_eq!(r.scope.code, "87");
    // I1 = {s1, tc} meet / {s1, s2, s3, tc} active = 2/4; surveyed s1, s2, tc = 3 of 4.
    let i1 = ind(&r, IndicatorId::I1);
    assert_eq!((i1.numerator, i1.denominator), (2.0, 4.0));
    assert!(close(i1.value, 0.5));
    assert_eq!(
        i1.coverage,
        Some(Coverage {
            surveyed: 3,
            total: 4
        })
    );
    // Target 85%: 0.5 < 0.85.
    assert_eq!((i1.target, i1.met), (Some(0.85), Some(false)));
    // I1_cs adds the two convenience stores: {s1, tc, c1} / 6 = 0.5, surveyed 4 of 6; 0.5 ≥ 0.5 met.
    let cs = ind(&r, IndicatorId::I1Cs);
    assert_eq!((cs.numerator, cs.denominator), (3.0, 6.0));
    assert_eq!(
        cs.coverage,
        Some(Coverage {
            surveyed: 4,
            total: 6
        })
    );
    assert_eq!(cs.met, Some(true));
    // Coverage of all facilities: 4 surveyed in 2024 (s1, s2, tc, c1) / 6.
    let cov = ind(&r, IndicatorId::Coverage);
    assert_eq!((cov.numerator, cov.denominator), (4.0, 6.0));
    // Per district: Lai Vung (876) holds s1, s2, s3, tc: I1 = 2/4; Cao Lãnh (866) has no
    // supermarket or trade centre: I1 undefined (0/0 → null).
    let lv = r.units.iter().find(|u| u.code == "876").unwrap();
    assert_eq!(ind_of(lv, IndicatorId::I1).denominator, 4.0);
    let cl = r.units.iter().find(|u| u.code == "866").unwrap();
    assert_eq!(ind_of(cl, IndicatorId::I1).value, None);
    assert_eq!(ind_of(cl, IndicatorId::I1).met, None);
    assert_eq!(ind_of(cl, IndicatorId::I1Cs).numerator, 1.0);
}

fn ind_of(u: &UnitReport, id: IndicatorId) -> &Indicator {
    u.indicators.iter().find(|i| i.id == id).unwrap()
}

#[test]
fn an_outlet_closed_mid_year_counts_that_year_only() {
    let mut w = World::new();
    let a = w.outlet_open(
        Supermarket,
        "Đóng giữa năm",
        "30226",
        &[],
        None,
        Some("2024-06-30"),
    );
    let _b = w.outlet_open(
        Supermarket,
        "Mở năm sau",
        "30226",
        &[],
        Some("2025-03-01"),
        None,
    );
    w.retail(a, Supermarket, "30226", "2024-03-01", false, false);
    // 2024: a was open until 30 June (active, meets); b opened in 2025 (not active): 1/1.
    let r = w.report(2024, None);
    let i1 = ind(&r, IndicatorId::I1);
    assert_eq!((i1.numerator, i1.denominator), (1.0, 1.0));
    // 2025: a closed in 2024 (not active); b active but unsurveyed: 0/1.
    let r = w.report(2025, None);
    let i1 = ind(&r, IndicatorId::I1);
    assert_eq!((i1.numerator, i1.denominator), (0.0, 1.0));
    assert!(close(i1.value, 0.0));
}

/// Civilized-standard markets for the pooled reduction tests, surveys in 2023 (baselines) and 2024.
fn markets(w: &mut World) -> [Dot; 7] {
    let civ = [(Civilized, "2020-01-01", None)];
    let m1 = w.outlet(Market, "Chợ 1", "30226", &civ);
    let m2 = w.outlet(Market, "Chợ 2", "30226", &civ);
    let m3 = w.outlet(Market, "Chợ 3", "30208", &civ);
    let m4 = w.outlet(Market, "Chợ 4", "30208", &civ);
    let m5 = w.outlet(Market, "Chợ 5", "29869", &civ);
    // m6: certified when surveyed in March 2024, revoked on 30 June 2024: not certified on as_of.
    let m6 = w.outlet(
        Market,
        "Chợ 6",
        "29869",
        &[(Civilized, "2020-01-01", Some("2024-06-30"))],
    );
    let m7 = w.outlet(Market, "Chợ 7", "29869", &[]);
    w.market(m1, "30226", "2023-03-01", Round::Baseline, 20_000);
    w.market(m1, "30226", "2024-03-01", Round::Annual, 12_000);
    // m2 has no baseline-round survey: its first survey (annual 2023) is a provisional baseline.
    w.market(m2, "30226", "2023-04-01", Round::Annual, 10_000);
    w.market(m2, "30226", "2024-04-01", Round::Annual, 7_000);
    w.market(m3, "30208", "2023-03-01", Round::Baseline, 0);
    w.market(m3, "30208", "2024-03-01", Round::Annual, 1_000);
    // m4: no survey at all.
    w.market(m5, "29869", "2023-03-01", Round::Baseline, 8_000);
    w.market(m6, "29869", "2023-03-01", Round::Baseline, 10_000);
    w.market(m6, "29869", "2024-03-01", Round::Annual, 1_000);
    w.market(m7, "29869", "2023-03-01", Round::Baseline, 10_000);
    w.market(m7, "29869", "2024-03-01", Round::Annual, 1_000);
    [m1, m2, m3, m4, m5, m6, m7]
}

#[test]
fn i2_pools_markets_certified_on_as_of_with_baseline_and_current() {
    let mut w = World::new();
    w.plan = Some(plan(&[(IndicatorId::I2, 2021, 4000)], Some((12, 10))));
    let [m1, m2, m3, m4, m5, _m6, _m7] = markets(&mut w);
    let r = w.report(2024, None);
    // Pooled over m1 and m2: Σbaseline = 20 + 10 = 30 kg, Σcurrent = 12 + 7 = 19 kg;
    // I2 = 1 − 19/30 = 11/30 ≈ 0.3667 (numerator 30 − 19 = 11 kg). m3 (zero baseline), m4 (no
    // survey), m5 (no 2024 survey) are gaps; m6 lost its certificate before as_of; m7 never had one.
    let i2 = ind(&r, IndicatorId::I2);
    assert_eq!(
        (i2.numerator, i2.denominator, i2.unit.as_str()),
        (11.0, 30.0, "kg/day")
    );
    assert!(close(i2.value, 11.0 / 30.0));
    assert_eq!(
        i2.coverage,
        Some(Coverage {
            surveyed: 2,
            total: 5
        })
    );
    assert!(i2.provisional, "m2's baseline is its first survey");
    // 11/30 < 40%: 11 × 10000 = 110000 < 4000 × 30 = 120000.
    assert_eq!((i2.target, i2.met), (Some(0.4), Some(false)));
    // Share at ≥ 40%: m1 (20 → 12: 8/20 = 0.40, exactly at target) yes; m2 (10 → 7: 0.30) no: 1/2.
    let share = ind(&r, IndicatorId::I2Share);
    assert_eq!((share.numerator, share.denominator), (1.0, 2.0));
    assert!(close(share.value, 0.5));
    assert_eq!(share.target, None);
    let kinds: Vec<(&str, String)> = r
        .gaps
        .iter()
        .map(|g| (g.kind.as_str(), g.record.clone()))
        .collect();
    let id = |m: Dot| format!("{}-{}", m.author.hex(), m.seq);
    assert!(kinds.contains(&("zero_baseline", id(m3))), "{kinds:?}");
    assert!(kinds.contains(&("no_baseline", id(m4))), "{kinds:?}");
    assert!(kinds.contains(&("no_current_survey", id(m5))), "{kinds:?}");
    assert_eq!(r.gaps.len(), 3);
    // No new-rural market: I3 undefined, its share too.
    assert_eq!(ind(&r, IndicatorId::I3).value, None);
    assert_eq!(ind(&r, IndicatorId::I3Share).value, None);
    let _ = (m1, m2);
}

#[test]
fn corrections_and_retractions_change_the_pooled_reduction() {
    let mut w = World::new();
    w.plan = Some(plan(&[(IndicatorId::I2, 2021, 4000)], None));
    let [m1, m2, ..] = markets(&mut w);
    // m1's 2024 survey corrected from 12 kg to 9 kg; m2's 2024 survey retracted.
    let s1 =
        w.t.records
            .iter()
            .find_map(|(id, rec)| match rec.original() {
                Some(Body::MarketSurvey(s)) if s.outlet == m1 && s.year == 2024 => Some(*id),
                _ => None,
            });
    let s2 =
        w.t.records
            .iter()
            .find_map(|(id, rec)| match rec.original() {
                Some(Body::MarketSurvey(s)) if s.outlet == m2 && s.year == 2024 => Some(*id),
                _ => None,
            });
    let (s1, s2) = (s1.unwrap(), s2.unwrap());
    w.correct(
        s1,
        World::market_body(m1, "30226", "2024-03-01", Round::Annual, 9_000),
        "2024-05-01",
    );
    w.retract(s2, "2024-05-02");
    let r = w.report(2024, None);
    // Only m1 pools: 1 − 9/20 = 0.55 (numerator 11 kg of 20); m2 now lacks a current survey.
    let i2 = ind(&r, IndicatorId::I2);
    assert_eq!((i2.numerator, i2.denominator), (11.0, 20.0));
    assert!(close(i2.value, 0.55));
    assert!(!i2.provisional, "m1 has a baseline-round survey");
    assert_eq!(i2.met, Some(true));
    assert!(r
        .gaps
        .iter()
        .any(|g| g.kind == "no_current_survey" && g.name == "Chợ 2"));
    assert!(r.notes.iter().any(|n| n.contains("no reporting deadline")));
}

#[test]
fn shares_are_null_without_a_target_and_i3_uses_new_rural_markets() {
    let mut w = World::new();
    w.plan = Some(plan(&[(IndicatorId::I2, 2021, 4000)], Some((12, 10))));
    let nr = [(NewRural, "2022-01-01", None)];
    let a = w.outlet(Market, "Chợ NTM A", "30226", &nr);
    let b = w.outlet(Market, "Chợ NTM B", "30229", &nr);
    w.market(a, "30226", "2023-03-01", Round::Baseline, 5_000);
    w.market(a, "30226", "2024-03-01", Round::Annual, 4_000);
    w.market(b, "30229", "2023-03-01", Round::Baseline, 15_000);
    w.market(b, "30229", "2024-03-01", Round::Annual, 9_000);
    let r = w.report(2024, None);
    // I3 = 1 − (4 + 9)/(5 + 15) = 1 − 13/20 = 0.35; no I3 target in the plan.
    let i3 = ind(&r, IndicatorId::I3);
    assert_eq!((i3.numerator, i3.denominator), (7.0, 20.0));
    assert!(close(i3.value, 0.35));
    assert_eq!((i3.target, i3.met), (None, None));
    // No I3 target: the share is null.
    let share = ind(&r, IndicatorId::I3Share);
    assert_eq!(share.value, None);
    assert_eq!(share.denominator, 2.0);
    // I2 has a target but no civilized-standard market: 0/0 → null, met null.
    assert_eq!(ind(&r, IndicatorId::I2).value, None);
    assert_eq!(ind(&r, IndicatorId::I2).met, None);
}

#[test]
fn from_2026_supermarkets_giving_plastic_bags_do_not_comply() {
    let mut w = World::new();
    w.settings.i1_rule = I1Rule::EcoOffered;
    let sm = w.outlet(Supermarket, "Siêu thị", "30226", &[]);
    let cs = w.outlet(Convenience, "Cửa hàng", "30226", &[]);
    // Both give plastic bags and also offer eco bags, in 2025 and in 2026.
    for date in ["2025-08-01", "2026-08-01"] {
        w.retail(sm, Supermarket, "30226", date, true, true);
        w.retail(cs, Convenience, "30226", date, true, true);
    }
    // 2025: the rule (eco packaging offered) holds for both: I1 1/1, I1_cs 2/2.
    let r = w.report(2025, None);
    assert_eq!(ind(&r, IndicatorId::I1).numerator, 1.0);
    assert_eq!(ind(&r, IndicatorId::I1Cs).numerator, 2.0);
    // 2026: Decree 08/2022 Art. 64 makes the supermarket non-compliant: I1 0/1, I1_cs 1/2 (the
    // convenience store is judged by the rule only).
    let r = w.report(2026, None);
    assert_eq!(
        r.as_of,
        d("2026-11-21"),
        "the current year is judged on today"
    );
    assert_eq!(ind(&r, IndicatorId::I1).numerator, 0.0);
    assert_eq!(ind(&r, IndicatorId::I1Cs).numerator, 1.0);
    assert!(r.notes.iter().any(|n| n.contains("Decree 08/2022")));
}

#[test]
fn basis_decides_which_reviewed_records_count() {
    let mut w = World::new();
    let a = w.outlet(Supermarket, "A", "30226", &[]);
    let b = w.outlet(Supermarket, "B", "30226", &[]);
    let c = w.outlet(Supermarket, "C", "30226", &[]);
    let sa = w.retail(a, Supermarket, "30226", "2024-03-01", false, false);
    let sb = w.retail(b, Supermarket, "30226", "2024-03-01", false, false);
    w.retail(c, Supermarket, "30226", "2024-03-01", false, false);
    w.review(sa, Decision::Verified);
    w.review(sb, Decision::Returned);
    // Submitted basis: a (verified) and c (submitted) count, b (returned) does not: 2/3.
    let r = w.report(2024, None);
    assert_eq!(ind(&r, IndicatorId::I1).numerator, 2.0);
    assert_eq!(r.basis, Basis::Submitted);
    // Verified basis: only a: 1/3.
    w.settings.basis = Basis::Verified;
    let r = w.report(2024, None);
    assert_eq!(ind(&r, IndicatorId::I1).numerator, 1.0);
    assert_eq!(
        ind(&r, IndicatorId::I1).coverage,
        Some(Coverage {
            surveyed: 1,
            total: 3
        })
    );
    // b corrected after its return: submitted again, so it counts on the submitted basis (3/3) and
    // still not on the verified one.
    w.correct(
        sb,
        Body::RetailSurvey(RetailSurvey {
            outlet: b,
            kind: Supermarket,
            unit: "30226".into(),
            date: d("2024-03-02"),
            year: 2024,
            gives_nonbio: false,
            bag_types: String::new(),
            nonbio_bags_per_day: None,
            eco_bags_per_day: None,
            sells_reusable: None,
            eco_labelled: None,
            notes: String::new(),
        }),
        "2024-03-05",
    );
    assert_eq!(ind(&w.report(2024, None), IndicatorId::I1).numerator, 1.0);
    w.settings.basis = Basis::Submitted;
    assert_eq!(ind(&w.report(2024, None), IndicatorId::I1).numerator, 3.0);
}

#[test]
fn completeness_timeliness_and_campaign_coverage_by_district() {
    let mut w = World::new();
    w.plan = Some(plan(&[(IndicatorId::I4, 2021, 7000)], Some((12, 10))));
    // Lai Vung (876): a campaign in its commune, recorded on 30 Nov 2024 (on time).
    w.campaign("30226", "2024-11-20", "2024-11-30");
    // Cao Lãnh (866): a survey recorded on 15 Dec 2024, after the 10 Dec deadline.
    let o = w.outlet(Supermarket, "Siêu thị Cao Lãnh", "29869", &[]);
    w.retail(o, Supermarket, "29869", "2024-12-15", false, false);
    // Lấp Vò (867): nothing.
    let r = w.report(2024, None);
    // Completeness 2/3, timeliness 1/3, campaign coverage 1 district of 3 (districts exist on as_of).
    let c = ind(&r, IndicatorId::Completeness);
    assert_eq!((c.numerator, c.denominator), (2.0, 3.0));
    let t = ind(&r, IndicatorId::Timeliness);
    assert_eq!((t.numerator, t.denominator), (1.0, 3.0));
    let i4 = ind(&r, IndicatorId::I4);
    assert_eq!(
        (i4.numerator, i4.denominator, i4.unit.as_str()),
        (1.0, 3.0, "units")
    );
    // 1/3 < 70%.
    assert_eq!((i4.target, i4.met), (Some(0.7), Some(false)));
    assert_eq!(r.completeness.units, 3);
    assert_eq!(r.completeness.reported, 2);
    assert_eq!(r.completeness.on_time, Some(1));
    assert_eq!(r.completeness.deadline, Some(d("2024-12-10")));
    assert_eq!(
        r.completeness.missing,
        vec![Named {
            code: "867".into(),
            name: "Huyện Lấp Vò".into()
        }]
    );
    let lv = r.units.iter().find(|u| u.code == "876").unwrap();
    assert_eq!((lv.reported, lv.on_time), (true, Some(true)));
    assert_eq!(lv.first_report, Some(d("2024-11-30")));
    let cl = r.units.iter().find(|u| u.code == "866").unwrap();
    assert_eq!((cl.reported, cl.on_time), (true, Some(false)));
    // A district's own completeness counts its communes: Lai Vung 1 of 3 communes.
    let lvc = ind_of(lv, IndicatorId::Completeness);
    assert_eq!((lvc.numerator, lvc.denominator), (1.0, 3.0));
    // Per district I4: Lai Vung 1/1, Lấp Vò 0/1.
    assert_eq!(ind_of(lv, IndicatorId::I4).value, Some(1.0));
    let lpv = r.units.iter().find(|u| u.code == "867").unwrap();
    assert_eq!(ind_of(lpv, IndicatorId::I4).value, Some(0.0));
    assert_eq!(
        (lpv.reported, lpv.on_time, lpv.first_report),
        (false, Some(false), None)
    );
}

#[test]
fn across_the_reform_units_are_those_in_force_on_as_of() {
    let mut w = World::new();
    let m = w.outlet(
        Market,
        "Chợ Long Thắng",
        "30229",
        &[(Civilized, "2020-01-01", None)],
    );
    // H1 2025 in old communes (Long Thắng 30229 became part of Hòa Long 30208), 2026 in new ones.
    w.market(m, "30229", "2025-03-01", Round::Baseline, 10_000);
    w.market(m, "30229", "2025-06-01", Round::Annual, 8_000);
    w.campaign("876", "2025-04-01", "2025-04-01");
    w.campaign("29869", "2025-08-01", "2025-08-01");
    w.market(m, "30208", "2026-03-01", Round::Annual, 5_000);
    w.campaign("30208", "2026-05-01", "2026-05-01");

    // 2025 is judged on 31 Dec 2025: the new province 82 and its four communes, no districts.
    let r = w.report(2025, None);
    assert_eq!(
        (r.scope.code.as_str(), r.scope.level),
        ("82", Level::Province)
    );
    let codes: Vec<&str> = r.units.iter().map(|u| u.code.as_str()).collect();
    assert_eq!(codes, ["29869", "29870", "30208", "30226"]);
    // The market's 2025 surveys (in Long Thắng) count for Hòa Long: 1 − 8/10 = 0.2.
    let hl = r.units.iter().find(|u| u.code == "30208").unwrap();
    assert!(close(ind_of(hl, IndicatorId::I2).value, 0.2));
    assert!(hl.reported);
    // The district campaign of April (Huyện Lai Vung) stands for the successors of its communes
    // (Lai Vung 30226, Hòa Long 30208); the August one for Phường Cao Lãnh: I4 = 3 of 4 communes.
    let i4 = ind(&r, IndicatorId::I4);
    assert_eq!((i4.numerator, i4.denominator), (3.0, 4.0));
    // Completeness: every commune but Lấp Vò (29870) reported: 3/4.
    assert_eq!(r.completeness.reported, 3);
    assert_eq!(r.completeness.missing[0].code, "29870");

    // 2026, judged today: only Hòa Long reported; 1 − 5/10 = 0.5 against the 2025 baseline.
    let r = w.report(2026, None);
    assert_eq!(r.scope.code, "82");
    let i2 = ind(&r, IndicatorId::I2);
    assert_eq!((i2.numerator, i2.denominator), (5.0, 10.0));
    assert_eq!(ind(&r, IndicatorId::I4).numerator, 1.0);
    assert_eq!(r.completeness.reported, 1);

    // 2024 is judged on 31 Dec 2024: old province 87 and its districts; nothing recorded.
    let r = w.report(2024, None);
    assert_eq!(r.scope.code, "87");
    assert_eq!(r.units.len(), 3);
    assert_eq!(ind(&r, IndicatorId::I4).denominator, 3.0);

    // A district as the scope is no longer in force on 31 Dec 2025: the records made in it are
    // reported under the successors of its communes, and the report says so.
    let t = w.t.clone();
    let g = gather(t.records.values(), |_| vec![]);
    let inp = Inputs {
        province: "87",
        province_name: "Đồng Tháp",
        units: &w.units,
        lineage: &w.lineage,
        facilities: &g.facilities,
        surveys: &g.surveys,
        campaigns: &g.campaigns,
        plan: None,
        settings: Settings::default(),
        today: w.today,
        facts: None,
        outside: &[],
    };
    let r = report(&inp, 2025, Some("876")).unwrap();
    assert_eq!(r.scope.code, "876");
    let codes: Vec<&str> = r.units.iter().map(|u| u.code.as_str()).collect();
    assert_eq!(codes, ["30208", "30226"]);
    // The Long Thắng market's surveys were made in the district: 1 − 8/10 = 0.2, as for Hòa Long.
    assert!(close(ind(&r, IndicatorId::I2).value, 0.2));
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("is not in force on 2025-12-31")));
    assert!(!r.regrouped.is_empty() && r.regrouped.iter().all(|g| g.contains(" → ")));
}

#[test]
fn empty_denominators_give_null_values() {
    let w = World::new();
    let r = w.report(2024, None);
    for id in [
        IndicatorId::I1,
        IndicatorId::I1Cs,
        IndicatorId::I2,
        IndicatorId::I2Share,
        IndicatorId::I3,
        IndicatorId::I3Share,
        IndicatorId::Coverage,
    ] {
        let i = ind(&r, id);
        assert_eq!((i.value, i.denominator, i.met), (None, 0.0, None), "{id:?}");
    }
    // Three districts, none reported: completeness 0/3 = 0; timeliness null without a plan.
    assert_eq!(ind(&r, IndicatorId::Completeness).value, Some(0.0));
    assert_eq!(ind(&r, IndicatorId::Timeliness).value, None);
    assert_eq!(r.completeness.on_time, None);
    assert_eq!(r.plan, None);
    let order: Vec<IndicatorId> = r.indicators.iter().map(|i| i.id).collect();
    assert_eq!(order, IndicatorId::ALL);
}

#[test]
fn targets_hold_from_their_year_until_the_next_milestone() {
    let p = plan(
        &[
            (IndicatorId::I1, 2025, 8500),
            (IndicatorId::I1, 2030, 10_000),
        ],
        None,
    );
    assert_eq!(target_bp(Some(&p), IndicatorId::I1, 2024), None);
    assert_eq!(target_bp(Some(&p), IndicatorId::I1, 2025), Some(8500));
    assert_eq!(target_bp(Some(&p), IndicatorId::I1, 2029), Some(8500));
    assert_eq!(target_bp(Some(&p), IndicatorId::I1, 2030), Some(10_000));
    assert_eq!(
        target_bp(Some(&p), IndicatorId::I1, 2031),
        None,
        "after the plan's period"
    );
    assert_eq!(target_bp(Some(&p), IndicatorId::I2, 2025), None);
}

#[test]
fn report_serialises_to_the_contract_shape() {
    let mut w = World::new();
    w.plan = Some(plan(&[(IndicatorId::I1Cs, 2021, 8000)], Some((12, 10))));
    let o = w.outlet(Convenience, "Cửa hàng", "30226", &[]);
    w.retail(o, Convenience, "30226", "2024-03-01", false, false);
    let j = serde_json::to_value(w.report(2024, None)).unwrap();
    assert_eq!(j["as_of"], "2024-12-31");
    assert_eq!(j["basis"], "submitted");
    assert_eq!(j["plan"]["deadline"], "2024-12-10");
    assert_eq!(j["scope"]["level"], "province");
    assert_eq!(j["indicators"][1]["id"], "i1_cs");
    assert_eq!(j["indicators"][1]["target"], 0.8);
    assert_eq!(j["indicators"][1]["met"], true);
    assert_eq!(j["indicators"][1]["coverage"]["surveyed"], 1);
    assert_eq!(j["indicators"][0]["value"], serde_json::Value::Null);
    assert_eq!(j["units"][2]["code"], "876");
    assert_eq!(j["units"][2]["first_report"], "2024-03-01");
    assert_eq!(j["units"][0]["first_report"], serde_json::Value::Null);
    assert_eq!(j["completeness"]["missing"][0]["code"], "866");
    let back: Report = serde_json::from_value(j).unwrap();
    assert_eq!(back.year, 2024);
}
