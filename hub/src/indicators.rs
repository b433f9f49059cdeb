//! The plan's indicators for the dashboard and `baobi-hub indicators`: gathers the inputs from the
//! store (current records, review states, units and lineage, the plan in force, the settings) and runs
//! the pure computation in `proto::indicators`.
//!
//! Reports read the indicator facts the store keeps up to date as it merges (`store/facts/`,
//! O(facilities + cells), never the records), except for a scope no longer in force on the reference
//! date, which takes only the records made in it and so reads every record ([`with_inputs`]). The
//! JSON shape of [`Report`] is the issue-3 contract the web dashboard serves.

use baobi_proto::indicators::{self as core, Inputs};
use baobi_proto::wire::Date;

pub use baobi_proto::indicators::{
    Basis, Completeness, Coverage, Gap, I1Rule, Indicator, Named, PlanRef, Report, Settings,
    UnitRef, UnitReport,
};

use crate::store::Hub;
use crate::{Error, Result};

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Query {
    /// Reporting year.
    pub year: u16,
    /// Scope: a unit code, none for the whole province.
    pub unit: Option<String>,
}

/// Today's date in Vietnam (UTC+7): the reference date of the current year.
pub fn today() -> Date {
    let now = time::OffsetDateTime::from_unix_timestamp(crate::now_secs())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC));
    Date(now.year() as u32 * 10_000 + u8::from(now.month()) as u32 * 100 + now.day() as u32)
}

/// Runs `f` on the inputs from the hub's indicator facts (no record is read), with `today` as the
/// current date.
pub fn with_facts<T>(hub: &Hub, today: Date, f: impl FnOnce(&Inputs<'_>) -> T) -> Result<T> {
    let plan = hub.plan()?.map(|p| p.def);
    let settings = hub.settings()?;
    let units = hub.units();
    let lineage = hub.lineage();
    hub.with_facts(|facts| {
        let outside = crate::store::facts::outside(hub, facts)?;
        let inp = Inputs {
            province: hub.province(),
            province_name: hub.province_name(),
            units: &units,
            lineage: &lineage,
            facilities: &[],
            surveys: &[],
            campaigns: &[],
            plan: plan.as_ref(),
            settings,
            today,
            facts: Some(facts),
            outside: &outside,
        };
        Ok(f(&inp))
    })
}

/// Runs `f` on the inputs read from every record of the hub's store (O(records): what the facts
/// stand for), with `today` as the current date.
pub fn with_inputs<T>(hub: &Hub, today: Date, f: impl FnOnce(&Inputs<'_>) -> T) -> Result<T> {
    let records = hub.records()?;
    let mut err = None;
    let mut err2 = None;
    let gathered = core::gather_with(
        records.iter(),
        |id| match hub.reviews(id) {
            Ok(r) => r,
            Err(e) => {
                err.get_or_insert(e);
                vec![]
            }
        },
        // Timeliness is judged on the device's clock at creation, kept in the creating entry.
        |id| match hub.entries(&id.author, id.seq, id.seq, 1) {
            Ok(v) => v.into_iter().next().and_then(|e| match e.op {
                baobi_proto::wire::Op::Created(c) => Some(c.wall_ms),
                _ => None,
            }),
            Err(e) => {
                err2.get_or_insert(e);
                None
            }
        },
    );
    if let Some(e) = err2 {
        return Err(e);
    }
    if let Some(e) = err {
        return Err(e);
    }
    let plan = hub.plan()?.map(|p| p.def);
    let settings = hub.settings()?;
    let units = hub.units();
    let lineage = hub.lineage();
    let inp = Inputs {
        province: hub.province(),
        province_name: hub.province_name(),
        units: &units,
        lineage: &lineage,
        facilities: &gathered.facilities,
        surveys: &gathered.surveys,
        campaigns: &gathered.campaigns,
        plan: plan.as_ref(),
        settings,
        today,
        facts: None,
        outside: &[],
    };
    Ok(f(&inp))
}

/// The report for a query, with typed errors (an unknown or out-of-force unit is `Invalid`).
pub fn compute(hub: &Hub, q: &Query, today: Date) -> Result<Report> {
    if let Some(u) = &q.unit {
        if hub.with_units(|r| r.latest(u).is_none()) {
            return Err(Error::Invalid(format!(
                "unit '{u}' is not a unit of this hub / không có đơn vị '{u}'"
            )));
        }
    }
    if !(2000..=2100).contains(&q.year) {
        return Err(Error::Invalid(format!(
            "year {} is outside 2000-2100 / năm không hợp lệ",
            q.year
        )));
    }
    let unit = q.unit.as_deref();
    let run = |inp: &Inputs<'_>| {
        if core::needs_records(inp, q.year, unit) {
            None
        } else {
            Some(core::report(inp, q.year, unit))
        }
    };
    match with_facts(hub, today, run)? {
        Some(r) => r,
        None => with_inputs(hub, today, |inp| core::report(inp, q.year, unit))?,
    }
    .map_err(|e| Error::Invalid(e.to_string()))
}

/// Every year's report (data or a target), ascending, with typed errors.
pub fn compute_trend(hub: &Hub, unit: Option<&str>, today: Date) -> Result<Vec<Report>> {
    let run = |inp: &Inputs<'_>| {
        let mapped = core::years(inp)
            .into_iter()
            .any(|y| core::needs_records(inp, y, unit));
        (!mapped).then(|| core::trend(inp, unit))
    };
    match with_facts(hub, today, run)? {
        Some(r) => r,
        None => with_inputs(hub, today, |inp| core::trend(inp, unit))?,
    }
    .map_err(|e| Error::Invalid(e.to_string()))
}

/// Computes the report from the hub's store (reads current records, units, plan, review states, setting).
pub fn report(hub: &Hub, q: &Query) -> anyhow::Result<Report> {
    Ok(compute(hub, q, today())?)
}

/// One Report per year that has data or a target, ascending (for the trend chart).
pub fn trend(hub: &Hub, unit: Option<&str>) -> anyhow::Result<Vec<Report>> {
    Ok(compute_trend(hub, unit, today())?)
}

/// The year to report when none is given: the latest year with data, else the current year.
pub fn default_year(hub: &Hub) -> Result<u16> {
    let latest = with_facts(hub, today(), core::years)?
        .into_iter()
        .filter(|y| *y <= today().year())
        .max();
    Ok(latest.unwrap_or(today().year()))
}

/// The report as text for people: the scope's indicators, then one line per unit below it.
pub fn render(r: &Report) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
    let num = |v: f64| {
        if v.fract() == 0.0 {
            format!("{v:.0}")
        } else {
            format!("{v:.3}")
        }
    };
    let mut t = Table::new();
    t.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Chỉ số / Indicator",
        "Giá trị / Value",
        "Tử/mẫu số / Num./den.",
        "Chỉ tiêu / Target",
        "Đạt / Met",
        "Khảo sát / Coverage",
    ]);
    for i in &r.indicators {
        t.add_row(vec![
            Cell::new(format!("{} {}\n{}", i.id.as_str(), i.name_vi, i.name_en)),
            Cell::new(format!(
                "{}{}",
                pct(i.value),
                if i.provisional {
                    " (tạm / prov.)"
                } else {
                    ""
                }
            ))
            .set_alignment(CellAlignment::Right),
            Cell::new(format!(
                "{}/{} {}",
                num(i.numerator),
                num(i.denominator),
                i.unit
            ))
            .set_alignment(CellAlignment::Right),
            Cell::new(pct(i.target)).set_alignment(CellAlignment::Right),
            Cell::new(match i.met {
                Some(true) => "đạt / yes",
                Some(false) => "chưa / no",
                None => "—",
            }),
            Cell::new(
                i.coverage
                    .map_or("—".into(), |c| format!("{}/{}", c.surveyed, c.total)),
            ),
        ]);
    }
    let mut u = Table::new();
    u.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Đơn vị / Unit",
        "Đã báo cáo / Reported",
        "Đúng hạn / On time",
        "Lần đầu / First",
    ]);
    for x in &r.units {
        u.add_row(vec![
            Cell::new(format!("{} ({})", x.name, x.code)),
            Cell::new(if x.reported {
                "có / yes"
            } else {
                "chưa / no"
            }),
            Cell::new(match x.on_time {
                Some(true) => "có / yes",
                Some(false) => "không / no",
                None => "—",
            }),
            Cell::new(x.first_report.map_or("—".into(), |d| d.to_string())),
        ]);
    }
    let plan = r.plan.as_ref().map_or("chưa có / none".to_string(), |p| {
        format!("{} ({})", p.name, p.id)
    });
    let mut out = format!(
        "Tỉnh / Province: {} ({}) — năm / year {} — tính đến / as of {}\n\
         Phạm vi / Scope: {} ({})\nKế hoạch / Plan: {plan}\n{t}\n",
        r.province_name, r.province, r.year, r.as_of, r.scope.name, r.scope.code
    );
    if !r.units.is_empty() {
        out.push_str(&format!(
            "Báo cáo / Reporting: {}/{} đơn vị / units{}\n{u}\n",
            r.completeness.reported,
            r.completeness.units,
            r.completeness
                .deadline
                .map_or(String::new(), |d| format!(", hạn / deadline {d}")),
        ));
    }
    for g in &r.gaps {
        out.push_str(&format!(
            "Thiếu số liệu / Gap: {} — {} ({})\n",
            g.kind, g.name, g.unit
        ));
    }
    for n in &r.notes {
        out.push_str(&format!("• {n}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::merge_entries;
    use baobi_proto::wire::{
        Body, CampaignEvent, CampaignKind, Date, Dot, Hlc, MarketSurvey, Op, OutletDef, OutletKind,
        Round,
    };
    use baobi_proto::Keypair;

    use crate::testkit::enroll as agent;

    fn survey(outlet: Dot, unit: &str, date: u32, round: Round, grams: u32) -> Op {
        Op::Record(Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: unit.into(),
            date: Date(date),
            year: (date / 10_000) as u16,
            round,
            vendors_total: 120,
            vendors_surveyed: 40,
            nonbio_g_per_day: grams,
            eco_g_per_day: None,
            vendors_nonbio: 30,
            vendors_alternatives: None,
            operating_days: None,
            reduction_model: false,
            notes: String::new(),
        }))
    }

    fn campaign(unit: &str, date: u32) -> Op {
        Op::Record(Body::Campaign(CampaignEvent {
            unit: unit.into(),
            date: Date(date),
            kind: CampaignKind::Media,
            participants: None,
            topic: "Túi thân thiện".into(),
        }))
    }

    fn frac(r: &Report, id: &str) -> (f64, f64) {
        let i = r.indicators.iter().find(|i| i.id.as_str() == id).unwrap();
        (i.numerator, i.denominator)
    }

    /// A hub for old Đồng Tháp (87) from the seed units and lineage, on sled: surveys of the first
    /// half of 2025 in old communes (under Huyện Lai Vung), 2026 in the new communes of Đồng Tháp
    /// (82). 2025 is judged on 31 Dec 2025, when the new communes are in force; 2026 on today.
    #[test]
    fn a_hub_across_the_2025_reform_reports_both_years_by_the_units_in_force() {
        let tmp = tempfile::tempdir().unwrap();
        let units = crate::units_csv::parse(crate::units_csv::SEED_UNITS).unwrap();
        let plan = crate::plan::parse(crate::plan::builtin("dong-thap-2021").unwrap()).unwrap();
        let lineage = crate::units_csv::parse_lineage(crate::units_csv::SEED_LINEAGE).unwrap();
        let hub =
            Hub::init_with(tmp.path(), "87", "Đồng Tháp", units, lineage, Some(plan)).unwrap();
        // The old district office until June 2025, the new commune office (Xã Hòa Long, code 30208
        // reused from Thị trấn Lai Vung) after.
        let kd = Keypair::generate();
        let district = agent(&hub, &kd, "876");
        let kc = Keypair::generate();
        let commune = agent(&hub, &kc, "30208");
        let market = Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Long Thắng".into(),
            unit: "30229".into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![baobi_proto::wire::Certification {
                kind: baobi_proto::wire::CertKind::Civilized,
                from: Date(20190501),
                to: None,
            }],
            opened: None,
            closed: None,
        }));
        let e1 = kd.sign_entry(1, Hlc(1 << 16), market);
        let m = e1.dot();
        let batch = vec![
            e1,
            kd.sign_entry(
                2,
                Hlc(2 << 16),
                survey(m, "30229", 20250214, Round::Baseline, 10_000),
            ),
            kd.sign_entry(
                3,
                Hlc(3 << 16),
                survey(m, "30229", 20250610, Round::Annual, 8_000),
            ),
            kd.sign_entry(4, Hlc(4 << 16), campaign("30226", 20250420)),
        ];
        assert_eq!(merge_entries(&hub, &district, &kd, &batch).unwrap(), Ok(4));
        // After the reform the district no longer exists: its office cannot record in new communes.
        let late = kd.sign_entry(
            5,
            Hlc(5 << 16),
            survey(m, "30208", 20260310, Round::Annual, 5_000),
        );
        assert!(merge_entries(&hub, &district, &kd, &[late])
            .unwrap()
            .is_err());
        let batch = vec![
            kc.sign_entry(
                1,
                Hlc(6 << 16),
                survey(m, "30208", 20260310, Round::Annual, 5_000),
            ),
            kc.sign_entry(2, Hlc(7 << 16), campaign("30208", 20260505)),
        ];
        assert_eq!(merge_entries(&hub, &commune, &kc, &batch).unwrap(), Ok(2));

        let today = Date(20261121);
        let y2025 = compute(
            &hub,
            &Query {
                year: 2025,
                unit: None,
            },
            today,
        )
        .unwrap();
        assert_eq!(y2025.scope.code, "82");
        assert_eq!(y2025.as_of, Date(20251231));
        let n = y2025.units.len() as f64;
        assert_eq!(n, 45.0, "new communes that took over old Đồng Tháp's");
        // Long Thắng (30229) went into Xã Hòa Long (30208); Tân Thành (30226) into Xã Lai Vung.
        let hl = y2025.units.iter().find(|u| u.code == "30208").unwrap();
        assert!(hl.reported);
        let i2 = hl
            .indicators
            .iter()
            .find(|i| i.id.as_str() == "i2")
            .unwrap();
        // 1 − 8/10 = 0.2.
        assert_eq!((i2.numerator, i2.denominator), (2.0, 10.0));
        assert!(
            y2025
                .units
                .iter()
                .find(|u| u.code == "30226")
                .unwrap()
                .reported
        );
        assert_eq!(frac(&y2025, "completeness"), (2.0, n));
        // I4 at the commune level (no districts on 31 Dec 2025): one campaign in Xã Lai Vung.
        assert_eq!(frac(&y2025, "i4"), (1.0, n));

        let y2026 = compute(
            &hub,
            &Query {
                year: 2026,
                unit: None,
            },
            today,
        )
        .unwrap();
        assert_eq!((y2026.scope.code.as_str(), y2026.as_of), ("82", today));
        // 2026 against the 2025 baseline: 1 − 5/10 = 0.5; Hòa Long alone reported, on time (its
        // entries' clocks are in 1970, long before 10 Dec 2026).
        assert_eq!(frac(&y2026, "i2"), (5.0, 10.0));
        assert_eq!(frac(&y2026, "completeness"), (1.0, n));
        assert_eq!(frac(&y2026, "timeliness"), (1.0, n));
        assert_eq!(frac(&y2026, "i4"), (1.0, n));

        // 2024: the old province and its districts; nothing recorded then.
        let y2024 = compute(
            &hub,
            &Query {
                year: 2024,
                unit: None,
            },
            today,
        )
        .unwrap();
        assert_eq!(y2024.scope.code, "87");
        assert!(y2024
            .units
            .iter()
            .all(|u| u.level == baobi_proto::wire::Level::District));
        assert_eq!(frac(&y2024, "completeness").0, 0.0);

        // The trend: 2021 (the plan's target year), 2025, 2026.
        let years: Vec<u16> = compute_trend(&hub, None, today)
            .unwrap()
            .iter()
            .map(|r| r.year)
            .collect();
        assert_eq!(years, [2021, 2025, 2026]);
        // An unknown unit is invalid input; a district not in force on 31 Dec 2025 reports the
        // records made in it under its communes' successors.
        let q = |u: &str| Query {
            year: 2025,
            unit: Some(u.into()),
        };
        assert!(matches!(
            compute(&hub, &q("99999"), today),
            Err(Error::Invalid(_))
        ));
        let r = compute(&hub, &q("876"), today).unwrap();
        assert_eq!(r.scope.code, "876");
        assert!(r
            .units
            .iter()
            .all(|u| u.level == baobi_proto::wire::Level::Commune));
    }
}
