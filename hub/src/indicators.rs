//! The plan's indicators for the dashboard and `baobi-hub indicators`: gathers the inputs from the
//! store (current records, review states, units and lineage, the plan in force, the settings) and runs
//! the pure computation in `proto::indicators`.
//!
//! Reading is O(records): every facility, survey and campaign is read once per report. The JSON shape
//! of [`Report`] is the issue-3 contract the web dashboard serves.

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
    let now = time::OffsetDateTime::now_utc()
        .to_offset(time::UtcOffset::from_hms(7, 0, 0).unwrap_or(time::UtcOffset::UTC));
    Date(now.year() as u32 * 10_000 + u8::from(now.month()) as u32 * 100 + now.day() as u32)
}

/// Runs `f` on the inputs read from the hub's store, with `today` as the current date.
pub fn with_inputs<T>(hub: &Hub, today: Date, f: impl FnOnce(&Inputs<'_>) -> T) -> Result<T> {
    let records = hub.records()?;
    let mut err = None;
    let gathered = core::gather(records.iter(), |id| match hub.reviews(id) {
        Ok(r) => r,
        Err(e) => {
            err.get_or_insert(e);
            vec![]
        }
    });
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
    with_inputs(hub, today, |inp| {
        core::report(inp, q.year, q.unit.as_deref())
    })?
    .map_err(|e| Error::Invalid(e.to_string()))
}

/// Every year's report (data or a target), ascending, with typed errors.
pub fn compute_trend(hub: &Hub, unit: Option<&str>, today: Date) -> Result<Vec<Report>> {
    with_inputs(hub, today, |inp| core::trend(inp, unit))?
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
    let latest = with_inputs(hub, today(), core::years)?
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
        "Tử số / Den.",
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
