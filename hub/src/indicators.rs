//! TEMPORARY (web branch): replaced by the model branch at merge.
//!
//! The issue-3 contract's indicator report (`Query`, `Report`, `report`, `trend`) computed simply from
//! what the store holds, so the dashboard has real figures to show before the model branch lands: I1,
//! I1 with convenience stores, survey coverage, completeness and timeliness are computed from records;
//! the market and campaign indicators are left undefined (null). There is no plan, hence no target.
//! The dashboard reads these types only through their serialised JSON (the contract's field names).

use std::collections::{BTreeMap, BTreeSet};

use baobi_proto::units::Units;
use baobi_proto::view::Value;
use baobi_proto::wire::{Body, Date, Level, OutletKind};
use serde::{Deserialize, Serialize};

use crate::store::{ancestors, Hub};

/// What to compute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Query {
    /// Reporting year.
    pub year: u16,
    /// Scope: none = whole province.
    pub unit: Option<String>,
}

/// The plan the targets come from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Plan id.
    pub id: String,
    /// Plan name.
    pub name: String,
    /// Reporting deadline of the year.
    pub deadline: Option<String>,
}

/// The unit the report is about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Scope {
    /// Unit code.
    pub code: String,
    /// Unit name.
    pub name: String,
    /// province | district | commune.
    pub level: String,
}

/// Surveyed out of total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Coverage {
    /// Facilities surveyed.
    pub surveyed: u64,
    /// Facilities in total.
    pub total: u64,
}

/// One indicator.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Indicator {
    /// Fixed id.
    pub id: String,
    /// Vietnamese name.
    pub name_vi: String,
    /// English name.
    pub name_en: String,
    /// Fraction 0..1, none when undefined.
    pub value: Option<f64>,
    /// Numerator.
    pub numerator: Option<f64>,
    /// Denominator.
    pub denominator: Option<f64>,
    /// outlets | markets | kg/day | units.
    pub unit: String,
    /// Target fraction.
    pub target: Option<f64>,
    /// Value ≥ target.
    pub met: Option<bool>,
    /// Survey coverage.
    pub coverage: Option<Coverage>,
    /// A baseline used was not a baseline-round survey.
    pub provisional: bool,
}

/// A unit below the scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct UnitRow {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
    /// Level.
    pub level: String,
    /// Reported in the year.
    pub reported: bool,
    /// Reported by the deadline.
    pub on_time: bool,
    /// Date of its first report of the year.
    pub first_report: Option<String>,
    /// Its indicators.
    pub indicators: Vec<Indicator>,
}

/// A unit that has not reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Missing {
    /// Code.
    pub code: String,
    /// Name.
    pub name: String,
}

/// Who has reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// Units below the scope.
    pub units: u64,
    /// Of which reported.
    pub reported: u64,
    /// Of which on time.
    pub on_time: u64,
    /// The deadline.
    pub deadline: Option<String>,
    /// Units not reported.
    pub missing: Vec<Missing>,
}

/// Something that weakens a figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gap {
    /// What kind of gap.
    pub kind: String,
    /// Record id.
    pub record: String,
    /// Facility name.
    pub name: String,
    /// Unit code.
    pub unit: String,
}

/// The indicator report of one year and scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// Reporting year.
    pub year: u16,
    /// Reference date.
    pub as_of: String,
    /// submitted | verified.
    pub basis: String,
    /// The plan, if any.
    pub plan: Option<Plan>,
    /// The scope.
    pub scope: Scope,
    /// Indicators of the scope.
    pub indicators: Vec<Indicator>,
    /// Units directly below.
    pub units: Vec<UnitRow>,
    /// Completeness.
    pub completeness: Completeness,
    /// Gaps.
    pub gaps: Vec<Gap>,
    /// Notes.
    pub notes: Vec<String>,
}

const IDS: [(&str, &str, &str, &str); 10] = [
    (
        "i1",
        "Tỷ lệ siêu thị, TTTM dùng bao bì thân thiện môi trường",
        "Eco-packaging rate, supermarkets and trade centres",
        "outlets",
    ),
    (
        "i1_cs",
        "Tỷ lệ siêu thị, TTTM, cửa hàng tiện lợi dùng bao bì thân thiện môi trường",
        "Eco-packaging rate, incl. convenience stores",
        "outlets",
    ),
    (
        "i2",
        "Giảm túi ni lông khó phân hủy tại chợ đạt chuẩn văn minh",
        "Bag reduction, civilized-standard markets",
        "kg/day",
    ),
    (
        "i2_share",
        "Tỷ lệ chợ văn minh đạt mức giảm",
        "Share of civilized-standard markets at target",
        "markets",
    ),
    (
        "i3",
        "Giảm túi ni lông khó phân hủy tại chợ nông thôn mới",
        "Bag reduction, new-rural-standard markets",
        "kg/day",
    ),
    (
        "i3_share",
        "Tỷ lệ chợ nông thôn mới đạt mức giảm",
        "Share of new-rural-standard markets at target",
        "markets",
    ),
    (
        "i4",
        "Tỷ lệ đơn vị có hoạt động tuyên truyền",
        "Campaign coverage",
        "units",
    ),
    (
        "coverage",
        "Tỷ lệ cơ sở được khảo sát",
        "Survey coverage",
        "outlets",
    ),
    (
        "completeness",
        "Tỷ lệ đơn vị đã báo cáo",
        "Units reported",
        "units",
    ),
    (
        "timeliness",
        "Tỷ lệ đơn vị báo cáo đúng hạn",
        "Units reported on time",
        "units",
    ),
];

struct Data {
    /// Outlet id → (kind, unit).
    outlets: BTreeMap<String, (OutletKind, String)>,
    /// Retail: outlet id → (date, gives_nonbio) of its latest survey of the year.
    retail: BTreeMap<String, (Date, bool)>,
    /// Outlets surveyed in the year (any kind).
    surveyed: BTreeSet<String>,
    /// (unit, first arrival date) of each record of the year.
    reports: Vec<(String, String)>,
}

fn within(u: &Units, code: &str, scope: &str) -> bool {
    code == scope || ancestors(u, code).contains(scope)
}

fn load(hub: &Hub, year: u16) -> crate::Result<Data> {
    let mut d = Data {
        outlets: BTreeMap::new(),
        retail: BTreeMap::new(),
        surveyed: BTreeSet::new(),
        reports: vec![],
    };
    for rec in hub.records()? {
        let Some(head) = rec.winner() else { continue };
        let Value::Body(body) = &head.version.value else {
            continue;
        };
        let id = format!("{}-{}", rec.id.author.hex(), rec.id.seq);
        let first = rec
            .versions
            .iter()
            .map(|v| v.version.hlc.millis())
            .min()
            .unwrap_or(0);
        let arrived = crate::rfc3339((first / 1000) as i64)
            .chars()
            .take(10)
            .collect::<String>();
        match body {
            Body::Outlet(o) => {
                d.outlets.insert(id, (o.kind, o.unit.clone()));
            }
            Body::RetailSurvey(s) if s.year == year => {
                let o = format!("{}-{}", s.outlet.author.hex(), s.outlet.seq);
                d.surveyed.insert(o.clone());
                let slot = d.retail.entry(o).or_insert((s.date, s.gives_nonbio));
                if s.date >= slot.0 {
                    *slot = (s.date, s.gives_nonbio);
                }
                d.reports.push((s.unit.clone(), arrived));
            }
            Body::MarketSurvey(s) if s.year == year => {
                d.surveyed
                    .insert(format!("{}-{}", s.outlet.author.hex(), s.outlet.seq));
                d.reports.push((s.unit.clone(), arrived));
            }
            Body::Campaign(c) if c.date.0 / 10000 == u32::from(year) => {
                d.reports.push((c.unit.clone(), arrived));
            }
            _ => {}
        }
    }
    Ok(d)
}

fn indicator(i: usize, num: Option<f64>, den: Option<f64>, cov: Option<Coverage>) -> Indicator {
    let (id, vi, en, unit) = IDS[i];
    let value = match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    Indicator {
        id: id.into(),
        name_vi: vi.into(),
        name_en: en.into(),
        value,
        numerator: num,
        denominator: den,
        unit: unit.into(),
        target: None,
        met: None,
        coverage: cov,
        provisional: false,
    }
}

fn level(l: Level) -> &'static str {
    match l {
        Level::Province => "province",
        Level::District => "district",
        Level::Commune => "commune",
    }
}

/// Units directly below `scope` whose validity overlaps `year`.
fn children(u: &Units, scope: &str, year: u16) -> Vec<(String, String, String)> {
    let (start, end) = (
        Date(u32::from(year) * 10000 + 101),
        Date(u32::from(year) * 10000 + 1231),
    );
    let mut out: BTreeMap<String, (String, String)> = BTreeMap::new();
    for v in u.iter() {
        if v.parent.as_deref() == Some(scope)
            && v.valid_from.is_none_or(|f| f <= end)
            && v.valid_to.is_none_or(|t| t >= start)
        {
            out.insert(v.code.clone(), (v.name.clone(), level(v.level).into()));
        }
    }
    out.into_iter().map(|(c, (n, l))| (c, n, l)).collect()
}

fn indicators_for(
    u: &Units,
    d: &Data,
    scope: &str,
    kids: &[(String, String, String)],
) -> Vec<Indicator> {
    let eco = |kinds: &[OutletKind]| {
        let mut total = 0u64;
        let (mut surveyed, mut ok) = (0u64, 0u64);
        for (id, (kind, unit)) in &d.outlets {
            if !kinds.contains(kind) || !within(u, unit, scope) {
                continue;
            }
            total += 1;
            if let Some((_, gives)) = d.retail.get(id) {
                surveyed += 1;
                ok += u64::from(!gives);
            }
        }
        (ok, surveyed, total)
    };
    let (ok1, s1, t1) = eco(&[OutletKind::Supermarket, OutletKind::TradeCentre]);
    let (ok2, s2, t2) = eco(&[
        OutletKind::Supermarket,
        OutletKind::TradeCentre,
        OutletKind::Convenience,
    ]);
    let active: Vec<&String> = d
        .outlets
        .iter()
        .filter(|(_, (_, unit))| within(u, unit, scope))
        .map(|(id, _)| id)
        .collect();
    let surveyed = active.iter().filter(|id| d.surveyed.contains(**id)).count() as u64;
    let reported = kids
        .iter()
        .filter(|(c, _, _)| d.reports.iter().any(|(unit, _)| within(u, unit, c)))
        .count() as f64;
    let n = kids.len() as f64;
    let f = |x: u64| Some(x as f64);
    let cov = |s, t| {
        Some(Coverage {
            surveyed: s,
            total: t,
        })
    };
    vec![
        indicator(0, f(ok1), f(t1), cov(s1, t1)),
        indicator(1, f(ok2), f(t2), cov(s2, t2)),
        indicator(2, None, None, None),
        indicator(3, None, None, None),
        indicator(4, None, None, None),
        indicator(5, None, None, None),
        indicator(6, None, None, None),
        indicator(7, f(surveyed), f(active.len() as u64), None),
        indicator(8, Some(reported), Some(n), None),
        indicator(9, Some(reported), Some(n), None),
    ]
}

/// Computes the report from the hub's store.
pub fn report(hub: &Hub, q: &Query) -> anyhow::Result<Report> {
    let d = load(hub, q.year)?;
    let scope_code = q.unit.clone().unwrap_or_else(|| hub.province().to_string());
    hub.with_units(|u| {
        let Some(def) = u.latest(&scope_code) else {
            anyhow::bail!("unknown unit {scope_code} / không có đơn vị {scope_code}");
        };
        let kids = children(u, &scope_code, q.year);
        let mut units = vec![];
        let mut missing = vec![];
        for (code, name, lvl) in &kids {
            let first = d
                .reports
                .iter()
                .filter(|(unit, _)| within(u, unit, code))
                .map(|(_, day)| day.clone())
                .min();
            if first.is_none() {
                missing.push(Missing {
                    code: code.clone(),
                    name: name.clone(),
                });
            }
            let grand = children(u, code, q.year);
            units.push(UnitRow {
                code: code.clone(),
                name: name.clone(),
                level: lvl.clone(),
                reported: first.is_some(),
                on_time: first.is_some(),
                first_report: first,
                indicators: indicators_for(u, &d, code, &grand),
            });
        }
        let reported = units.iter().filter(|x| x.reported).count() as u64;
        Ok(Report {
            province: hub.province().to_string(),
            province_name: hub.province_name().to_string(),
            year: q.year,
            as_of: format!("{}-12-31", q.year),
            basis: "submitted".into(),
            plan: None,
            scope: Scope {
                code: scope_code.clone(),
                name: def.name.clone(),
                level: level(def.level).into(),
            },
            indicators: indicators_for(u, &d, &scope_code, &kids),
            completeness: Completeness {
                units: units.len() as u64,
                reported,
                on_time: reported,
                deadline: None,
                missing,
            },
            units,
            gaps: vec![],
            notes: vec![
                "Bản tạm: chưa có kế hoạch và chỉ tiêu / Temporary build: no plan or targets yet"
                    .into(),
            ],
        })
    })
}

/// One report per year that has data, ascending.
pub fn trend(hub: &Hub, unit: Option<&str>) -> anyhow::Result<Vec<Report>> {
    let mut years = BTreeSet::new();
    for rec in hub.records()? {
        if let Some(h) = rec.winner() {
            match &h.version.value {
                Value::Body(Body::MarketSurvey(s)) => years.insert(s.year),
                Value::Body(Body::RetailSurvey(s)) => years.insert(s.year),
                _ => false,
            };
        }
    }
    years
        .into_iter()
        .map(|year| {
            report(
                hub,
                &Query {
                    year,
                    unit: unit.map(str::to_string),
                },
            )
        })
        .collect()
}

/// TEMPORARY (web branch): the dashboard's review action calls this; at merge the lead replaces its
/// body with `crate::review::decide(hub, id, decision)` from the model branch. Here review decisions
/// do not exist yet, so it refuses.
pub fn review_decide(
    _hub: &Hub,
    _id: &str,
    _verify: bool,
    _reason: Option<String>,
) -> anyhow::Result<serde_json::Value> {
    anyhow::bail!(
        "review decisions are not available in this build / chưa hỗ trợ duyệt bản ghi trong bản này"
    )
}
