//! The national report (`indicators` on a national hub, `GET /api/national`): every province
//! against its own plan (the report exactly as the province's own `indicators` computes it, from
//! the province's store held here), the province table side by side (province × indicator: value,
//! target, met), and the completeness of each province's reporting.

use serde::{Deserialize, Serialize};

use baobi_proto::indicators::Report;
use baobi_proto::wire::IndicatorId;

use super::{National, ProvinceRow, Result};
use crate::store::Hub;

/// How completely a province reported in the year.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Completeness {
    /// Units expected to report (the province's own completeness).
    pub units: u64,
    /// Units that reported.
    pub units_reported: u64,
    /// Offices enrolled at the province (not revoked).
    pub offices: u64,
    /// Offices that recorded anything dated in the year.
    pub offices_reported: u64,
}

/// One province in the national report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProvinceReport {
    /// The province as `province list` shows it (last pull, error).
    pub province: ProvinceRow,
    /// Its completeness.
    pub completeness: Completeness,
    /// Its report against its own plan, as the province's `indicators --json` prints it.
    pub report: Report,
}

/// One cell of the province table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    /// Indicator id (`i1`, ...).
    pub id: String,
    /// Value as a fraction.
    pub value: Option<f64>,
    /// The province's plan target.
    pub target: Option<f64>,
    /// value ≥ target.
    pub met: Option<bool>,
}

/// One row of the province table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Province code.
    pub code: String,
    /// Province name.
    pub name: String,
    /// Its plan's id, none without a plan.
    pub plan: Option<String>,
    /// One cell per indicator, in the order of [`Table::indicators`].
    pub cells: Vec<Cell>,
}

/// The province table side by side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Table {
    /// Indicator ids, in order.
    pub indicators: Vec<String>,
    /// One row per province.
    pub rows: Vec<Row>,
}

/// The national report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NationalReport {
    /// Reporting year.
    pub year: u16,
    /// Each province.
    pub provinces: Vec<ProvinceReport>,
    /// The province table.
    pub table: Table,
}

/// The report of one province's store for `year`, as its own hub computes it.
pub fn province_report(hub: &Hub, year: u16) -> Result<ProvinceReport> {
    let report = crate::indicators::compute(
        hub,
        &crate::indicators::Query { year, unit: None },
        crate::indicators::today(),
    )?;
    let offices = hub.agents()?.iter().filter(|a| !a.revoked).count() as u64;
    let mut authors = std::collections::BTreeSet::new();
    for r in crate::report::records(hub)? {
        if r.year == Some(year) {
            authors.insert(r.author);
        }
    }
    let completeness = Completeness {
        units: report.completeness.units,
        units_reported: report.completeness.reported,
        offices,
        offices_reported: authors.len() as u64,
    };
    Ok(ProvinceReport {
        province: super::row(hub)?,
        completeness,
        report,
    })
}

/// The national report for `year` (default: the latest year with data in any province).
pub fn compute(nat: &National, year: Option<u16>) -> Result<NationalReport> {
    let hubs: Vec<Hub> = nat
        .codes()?
        .iter()
        .map(|c| Hub::open(&nat.province_dir(c)))
        .collect::<std::result::Result<_, _>>()?;
    compute_over(&hubs.iter().collect::<Vec<_>>(), year)
}

/// The national report for `year` over the provinces' stores `hubs` (in code order).
pub fn compute_over<H: std::ops::Deref<Target = Hub>>(
    hubs: &[H],
    year: Option<u16>,
) -> Result<NationalReport> {
    let year = match year {
        Some(y) => y,
        None => {
            let mut y = crate::indicators::today().year();
            let mut best = None;
            for h in hubs {
                let d = crate::indicators::default_year(h)?;
                best = Some(best.map_or(d, |b: u16| b.max(d)));
            }
            if let Some(b) = best {
                y = b;
            }
            y
        }
    };
    let mut provinces = vec![];
    for h in hubs {
        provinces.push(province_report(h, year)?);
    }
    Ok(from_reports(year, provinces))
}

/// The table side by side from the provinces' reports.
pub fn from_reports(year: u16, provinces: Vec<ProvinceReport>) -> NationalReport {
    let indicators: Vec<String> = IndicatorId::ALL
        .iter()
        .map(|i| i.as_str().to_string())
        .collect();
    let rows = provinces
        .iter()
        .map(|p| Row {
            code: p.province.code.clone(),
            name: p.province.name.clone(),
            plan: p.report.plan.as_ref().map(|pl| pl.id.clone()),
            cells: IndicatorId::ALL
                .iter()
                .map(|id| {
                    let i = p.report.indicators.iter().find(|i| i.id == *id);
                    Cell {
                        id: id.as_str().to_string(),
                        value: i.and_then(|i| i.value),
                        target: i.and_then(|i| i.target),
                        met: i.and_then(|i| i.met),
                    }
                })
                .collect(),
        })
        .collect();
    NationalReport {
        year,
        provinces,
        table: Table { indicators, rows },
    }
}

/// The report as text: the province table, completeness, then each province's own report.
pub fn render(r: &NationalReport) -> String {
    use comfy_table::{presets::UTF8_FULL_CONDENSED, Table as T};
    let pct = |v: Option<f64>| v.map_or("—".to_string(), |v| format!("{:.1}%", v * 100.0));
    let mut t = T::new();
    let mut head = vec!["Tỉnh / Province".to_string()];
    head.extend(r.table.indicators.iter().cloned());
    head.push("Báo cáo / Reported".into());
    head.push("Lần kéo cuối / Last pull".into());
    t.load_preset(UTF8_FULL_CONDENSED).set_header(head);
    for (row, p) in r.table.rows.iter().zip(&r.provinces) {
        let mut cells = vec![format!("{} {}", row.code, row.name)];
        for c in &row.cells {
            let met = match c.met {
                Some(true) => " ✓",
                Some(false) => " ✗",
                None => "",
            };
            cells.push(format!("{}{met}\n/ {}", pct(c.value), pct(c.target)));
        }
        let c = &p.completeness;
        cells.push(format!(
            "{}/{} đơn vị / units\n{}/{} văn phòng / offices",
            c.units_reported, c.units, c.offices_reported, c.offices
        ));
        cells.push(format!(
            "{}{}",
            p.province.last_pull.as_deref().unwrap_or("—"),
            p.province
                .error
                .as_ref()
                .map(|e| format!("\nlỗi / error: {e}"))
                .unwrap_or_default()
        ));
        t.add_row(cells);
    }
    let mut out = format!(
        "Năm / Year {} — giá trị / chỉ tiêu (value / target)\n{t}\n",
        r.year
    );
    for p in &r.provinces {
        out.push_str(&format!(
            "\n== {} {} ==\n{}",
            p.province.code,
            p.province.name,
            crate::indicators::render(&p.report)
        ));
    }
    out
}
