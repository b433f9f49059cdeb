//! Downloads and the annual report: records and indicators as CSV and XLSX, the annual report to the
//! DOIT as XLSX and as a printable HTML page, all in the request's language.
//!
//! CSV is UTF-8 with a byte-order mark (so spreadsheet programs show Vietnamese correctly), figures as
//! plain numbers (fractions 0..1 with a dot); XLSX uses number formats (percentages) on the same
//! numbers. Everything is built from the same rows the JSON API returns.

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{Html, Response};
use rust_xlsxwriter::{Format, Workbook, Worksheet, XlsxError};
use serde::Deserialize;
use serde_json::Value;

use super::api::{filtered_records, parse_year, RecordFilter};
use super::auth::Operator;
use super::i18n::{percent, Lang};
use super::view::{self, derived, ReportV};
use super::{blocking, download, ApiError, AppState};

/// One spreadsheet cell.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Text.
    Text(String),
    /// A number.
    Num(Option<f64>),
    /// A fraction shown as a percentage.
    Pct(Option<f64>),
    /// Yes / no.
    Bool(Option<bool>),
}

/// A table: header line and rows.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column titles.
    pub head: Vec<String>,
    /// Rows.
    pub rows: Vec<Vec<Cell>>,
}

fn t(s: impl Into<String>) -> Cell {
    Cell::Text(s.into())
}

impl Table {
    /// As CSV (UTF-8 with BOM; numbers plain, booleans `true`/`false`, empty for none).
    pub fn csv(&self) -> Result<Vec<u8>, ApiError> {
        let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
        w.write_record(&self.head).map_err(ApiError::internal)?;
        for r in &self.rows {
            let line: Vec<String> = r
                .iter()
                .map(|c| match c {
                    Cell::Text(s) => s.clone(),
                    Cell::Num(v) | Cell::Pct(v) => v.map(|v| v.to_string()).unwrap_or_default(),
                    Cell::Bool(b) => b.map(|b| b.to_string()).unwrap_or_default(),
                })
                .collect();
            w.write_record(&line).map_err(ApiError::internal)?;
        }
        w.into_inner().map_err(ApiError::internal)
    }

    /// Writes the table into `ws` from row `top`; returns the next free row.
    fn write(&self, ws: &mut Worksheet, top: u32, lang: Lang) -> Result<u32, XlsxError> {
        let bold = Format::new().set_bold();
        let pct = Format::new().set_num_format("0.0%");
        for (c, h) in self.head.iter().enumerate() {
            ws.write_string_with_format(top, c as u16, h, &bold)?;
        }
        for (i, r) in self.rows.iter().enumerate() {
            let row = top + 1 + i as u32;
            for (c, cell) in r.iter().enumerate() {
                let c = c as u16;
                match cell {
                    Cell::Text(s) => {
                        ws.write_string(row, c, s)?;
                    }
                    Cell::Num(Some(v)) => {
                        ws.write_number(row, c, *v)?;
                    }
                    Cell::Pct(Some(v)) => {
                        ws.write_number_with_format(row, c, *v, &pct)?;
                    }
                    Cell::Bool(Some(b)) => {
                        ws.write_string(row, c, yes_no(Some(*b), lang))?;
                    }
                    Cell::Num(None) | Cell::Pct(None) | Cell::Bool(None) => {}
                }
            }
        }
        for c in 0..self.head.len() {
            ws.set_column_width(c as u16, if c == 1 { 40 } else { 16 })?;
        }
        Ok(top + 2 + self.rows.len() as u32)
    }
}

fn yes_no(b: Option<bool>, lang: Lang) -> &'static str {
    match b {
        Some(true) => lang.t("yes"),
        Some(false) => lang.t("no"),
        None => "—",
    }
}

/// One sheet of a workbook: its name and what goes in it (title lines, then tables).
struct Sheet {
    name: String,
    lines: Vec<String>,
    tables: Vec<Table>,
}

fn workbook(sheets: &[Sheet], lang: Lang) -> Result<Vec<u8>, ApiError> {
    let build = || -> Result<Vec<u8>, XlsxError> {
        let mut wb = Workbook::new();
        let bold = Format::new().set_bold();
        for s in sheets {
            let ws = wb.add_worksheet();
            ws.set_name(&s.name)?;
            let mut row = 0u32;
            for (i, l) in s.lines.iter().enumerate() {
                if i == 0 {
                    ws.write_string_with_format(row, 0, l, &bold)?;
                } else {
                    ws.write_string(row, 0, l)?;
                }
                row += 1;
            }
            if !s.lines.is_empty() {
                row += 1;
            }
            for tb in &s.tables {
                row = tb.write(ws, row, lang)?;
            }
        }
        wb.save_to_buffer()
    };
    build().map_err(ApiError::internal)
}

/// Records as a table (the filtered records browser's rows).
pub fn records_table(rows: &[Value], lang: Lang) -> Table {
    let head = [
        "col_id",
        "col_short_id",
        "col_type",
        "col_unit",
        "col_unit_name",
        "col_year",
        "col_date",
        "col_status",
        "col_conflict",
        "col_retracted",
        "col_versions",
        "col_author",
        "col_summary",
    ];
    Table {
        head: head.iter().map(|k| lang.t(k).to_string()).collect(),
        rows: rows
            .iter()
            .map(|r| {
                let d = derived(r);
                let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
                vec![
                    t(s("id")),
                    t(s("short_id")),
                    t(s("type")),
                    t(d.unit.clone().unwrap_or_default()),
                    t(s("unit_name")),
                    Cell::Num(d.year.map(|y| y as f64)),
                    t(d.date.clone().unwrap_or_default()),
                    t(d.status.clone()),
                    Cell::Bool(r["conflict"].as_bool()),
                    Cell::Bool(r["retracted"].as_bool()),
                    Cell::Num(r["versions"].as_f64()),
                    t(r["author_label"]
                        .as_str()
                        .unwrap_or(&s("author"))
                        .to_string()),
                    t(view::summary(r, lang.en())),
                ]
            })
            .collect(),
    }
}

/// Indicators of the scope and of each unit below it, one row per (unit, indicator).
pub fn indicators_table(r: &ReportV, lang: Lang) -> Table {
    let head = [
        "col_scope_code",
        "col_scope_name",
        "col_level",
        "col_indicator",
        "col_indicator_name",
        "col_value",
        "col_numerator",
        "col_denominator",
        "col_measure",
        "col_target",
        "col_met",
        "col_surveyed",
        "col_total",
        "col_provisional",
    ];
    let mut rows = vec![];
    let mut add = |code: &str, name: &str, level: &str, inds: &[view::IndicatorV]| {
        for i in inds {
            rows.push(vec![
                t(code),
                t(name),
                t(level),
                t(i.id.clone()),
                t(i.name(lang.en())),
                Cell::Pct(i.value),
                Cell::Num(i.numerator),
                Cell::Num(i.denominator),
                t(i.unit.clone()),
                Cell::Pct(i.target),
                Cell::Bool(i.met),
                Cell::Num(i.coverage.as_ref().map(|c| c.surveyed as f64)),
                Cell::Num(i.coverage.as_ref().map(|c| c.total as f64)),
                Cell::Bool(Some(i.provisional)),
            ]);
        }
    };
    add(&r.scope.code, &r.scope.name, &r.scope.level, &r.indicators);
    for u in &r.units {
        add(&u.code, &u.name, &u.level, &u.indicators);
    }
    Table {
        head: head.iter().map(|k| lang.t(k).to_string()).collect(),
        rows,
    }
}

/// `?year=&unit=&lang=` of the indicator exports and the annual report.
#[derive(Debug, Deserialize, Default)]
pub struct ReportQ {
    /// Year (default: latest with data).
    pub year: Option<String>,
    /// Scope (default: province).
    pub unit: Option<String>,
    /// Language.
    pub lang: Option<String>,
}

async fn load_report(st: &AppState, q: &ReportQ) -> Result<ReportV, ApiError> {
    let hub = st.hub.clone();
    let year = parse_year(q.year.as_deref())?;
    let unit = q
        .unit
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(str::to_string);
    blocking(move || {
        let year = match year {
            Some(y) => y,
            None => view::default_year(&hub)?,
        };
        view::report(&hub, year, unit.as_deref())
    })
    .await
}

async fn load_records(st: &AppState, f: RecordFilter) -> Result<Vec<Value>, ApiError> {
    let hub = st.hub.clone();
    blocking(move || filtered_records(&hub, &f)).await
}

const CSV: &str = "text/csv; charset=utf-8";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

/// `GET /export/records.csv?<records filters>&lang=`.
pub async fn records_csv(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(f): Query<RecordFilter>,
) -> Result<Response, ApiError> {
    let lang = Lang::of(f.lang.as_deref(), &headers);
    let rows = load_records(&st, f).await?;
    Ok(download(
        CSV,
        "baobi-records.csv",
        records_table(&rows, lang).csv()?,
    ))
}

/// `GET /export/records.xlsx?<records filters>&lang=`.
pub async fn records_xlsx(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(f): Query<RecordFilter>,
) -> Result<Response, ApiError> {
    let lang = Lang::of(f.lang.as_deref(), &headers);
    let rows = load_records(&st, f).await?;
    let sheet = Sheet {
        name: lang.t("sheet_records").into(),
        lines: vec![],
        tables: vec![records_table(&rows, lang)],
    };
    Ok(download(
        XLSX,
        "baobi-records.xlsx",
        workbook(&[sheet], lang)?,
    ))
}

/// `GET /export/indicators.csv?year=&unit=&lang=`.
pub async fn indicators_csv(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(q): Query<ReportQ>,
) -> Result<Response, ApiError> {
    let lang = Lang::of(q.lang.as_deref(), &headers);
    let r = load_report(&st, &q).await?;
    Ok(download(
        CSV,
        &format!("baobi-indicators-{}.csv", r.year),
        indicators_table(&r, lang).csv()?,
    ))
}

/// `GET /export/indicators.xlsx?year=&unit=&lang=`.
pub async fn indicators_xlsx(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(q): Query<ReportQ>,
) -> Result<Response, ApiError> {
    let lang = Lang::of(q.lang.as_deref(), &headers);
    let r = load_report(&st, &q).await?;
    let sheet = Sheet {
        name: lang.t("sheet_indicators").into(),
        lines: vec![],
        tables: vec![indicators_table(&r, lang)],
    };
    Ok(download(
        XLSX,
        &format!("baobi-indicators-{}.xlsx", r.year),
        workbook(&[sheet], lang)?,
    ))
}

/// The annual report's parts: title lines, indicators vs targets, units, completeness, notes.
struct Annual {
    title: Vec<String>,
    indicators: Table,
    units: Table,
    completeness: Vec<String>,
    missing: Table,
    notes: Vec<String>,
}

fn annual(r: &ReportV, lang: Lang) -> Annual {
    let en = lang.en();
    let mut title = vec![
        format!(
            "{} — {} {} — {}",
            lang.t("annual_title"),
            lang.t("year"),
            r.year,
            r.province_name
        ),
        format!("{}: {}", lang.t("scope"), r.scope.name),
        format!("{}: {}", lang.t("as_of"), r.as_of),
        format!(
            "{}: {}",
            lang.t("basis"),
            if r.basis == "verified" {
                lang.t("basis_verified")
            } else {
                lang.t("basis_submitted")
            }
        ),
    ];
    title.push(match &r.plan {
        Some(p) => format!("{}: {}", lang.t("plan"), p.name),
        None => format!("{}: {}", lang.t("plan"), lang.t("no_plan")),
    });
    let indicators = Table {
        head: [
            "col_indicator_name",
            "col_value",
            "col_target",
            "col_met",
            "col_coverage",
            "col_numerator",
            "col_denominator",
        ]
        .iter()
        .map(|k| lang.t(k).to_string())
        .collect(),
        rows: r
            .indicators
            .iter()
            .map(|i| {
                vec![
                    t(i.name(en)),
                    Cell::Pct(i.value),
                    Cell::Pct(i.target),
                    Cell::Bool(i.met),
                    t(i.coverage
                        .as_ref()
                        .map(|c| format!("{}/{}", c.surveyed, c.total))
                        .unwrap_or_default()),
                    Cell::Num(i.numerator),
                    Cell::Num(i.denominator),
                ]
            })
            .collect(),
    };
    let ids: Vec<&view::IndicatorV> = r.indicators.iter().collect();
    let mut head: Vec<String> = [
        "col_unit",
        "col_unit_name",
        "col_reported",
        "col_on_time",
        "col_first_report",
    ]
    .iter()
    .map(|k| lang.t(k).to_string())
    .collect();
    head.extend(ids.iter().map(|i| i.name(en).to_string()));
    let units = Table {
        head,
        rows: r
            .units
            .iter()
            .map(|u| {
                let mut row = vec![
                    t(u.code.clone()),
                    t(u.name.clone()),
                    Cell::Bool(Some(u.reported)),
                    Cell::Bool(u.on_time),
                    t(u.first_report.clone().unwrap_or_default()),
                ];
                for i in &ids {
                    let v = u
                        .indicators
                        .iter()
                        .find(|x| x.id == i.id)
                        .and_then(|x| x.value);
                    row.push(Cell::Pct(v));
                }
                row
            })
            .collect(),
    };
    let c = &r.completeness;
    let completeness = vec![
        format!("{}: {}/{}", lang.t("reported_units"), c.reported, c.units),
        format!(
            "{}: {}/{}",
            lang.t("on_time_units"),
            c.on_time.map_or("—".to_string(), |n| n.to_string()),
            c.units
        ),
        format!(
            "{}: {}",
            lang.t("deadline"),
            c.deadline.clone().unwrap_or_else(|| "—".into())
        ),
    ];
    let missing = Table {
        head: vec![lang.t("col_unit").into(), lang.t("col_unit_name").into()],
        rows: c
            .missing
            .iter()
            .map(|m| vec![t(m.code.clone()), t(m.name.clone())])
            .collect(),
    };
    let mut notes = r.notes.clone();
    for g in &r.gaps {
        notes.push(format!(
            "{}: {} {} ({})",
            lang.t("gap"),
            lang.t(&format!("gap_{}", g["kind"].as_str().unwrap_or(""))),
            g["name"].as_str().unwrap_or(""),
            g["unit"].as_str().unwrap_or("")
        ));
    }
    Annual {
        title,
        indicators,
        units,
        completeness,
        missing,
        notes,
    }
}

/// `GET /export/annual-report.xlsx?year=&lang=`: the annual report to the DOIT.
pub async fn annual_xlsx(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(q): Query<ReportQ>,
) -> Result<Response, ApiError> {
    let lang = Lang::of(q.lang.as_deref(), &headers);
    let r = load_report(&st, &q).await?;
    let a = annual(&r, lang);
    let sheets = [
        Sheet {
            name: lang.t("sheet_indicators").into(),
            lines: a.title.clone(),
            tables: vec![a.indicators],
        },
        Sheet {
            name: lang.t("sheet_units").into(),
            lines: vec![a.title[0].clone()],
            tables: vec![a.units],
        },
        Sheet {
            name: lang.t("sheet_completeness").into(),
            lines: a.completeness,
            tables: vec![a.missing],
        },
        Sheet {
            name: lang.t("sheet_notes").into(),
            lines: if a.notes.is_empty() {
                vec![lang.t("no_notes").into()]
            } else {
                a.notes
            },
            tables: vec![],
        },
    ];
    Ok(download(
        XLSX,
        &format!("baobi-annual-report-{}.xlsx", r.year),
        workbook(&sheets, lang)?,
    ))
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

fn html_table(tb: &Table, lang: Lang) -> String {
    let mut h = String::from("<table><thead><tr>");
    for c in &tb.head {
        h.push_str(&format!("<th>{}</th>", esc(c)));
    }
    h.push_str("</tr></thead><tbody>");
    for r in &tb.rows {
        h.push_str("<tr>");
        for c in r {
            let (cls, text) = match c {
                Cell::Text(s) => ("", esc(s)),
                Cell::Num(v) => (
                    "num",
                    v.map(|v| format!("{v}")).unwrap_or_else(|| "—".into()),
                ),
                Cell::Pct(v) => ("num", esc(&percent(*v, lang))),
                Cell::Bool(b) => ("", esc(yes_no(*b, lang))),
            };
            h.push_str(&format!("<td class=\"{cls}\">{text}</td>"));
        }
        h.push_str("</tr>");
    }
    h.push_str("</tbody></table>");
    h
}

/// `GET /report/annual?year=&lang=`: the annual report as a printable page.
pub async fn annual_html(
    State(st): State<AppState>,
    _op: Operator,
    headers: HeaderMap,
    Query(q): Query<ReportQ>,
) -> Result<Html<String>, ApiError> {
    let lang = Lang::of(q.lang.as_deref(), &headers);
    let r = load_report(&st, &q).await?;
    let a = annual(&r, lang);
    let mut b = String::new();
    b.push_str(&format!("<h1>{}</h1>", esc(&a.title[0])));
    for l in &a.title[1..] {
        b.push_str(&format!("<p>{}</p>", esc(l)));
    }
    b.push_str(&format!("<h2>{}</h2>", esc(lang.t("h_indicators"))));
    b.push_str(&html_table(&a.indicators, lang));
    b.push_str(&format!("<h2>{}</h2>", esc(lang.t("h_units"))));
    b.push_str(&html_table(&a.units, lang));
    b.push_str(&format!("<h2>{}</h2>", esc(lang.t("h_completeness"))));
    for l in &a.completeness {
        b.push_str(&format!("<p>{}</p>", esc(l)));
    }
    if !a.missing.rows.is_empty() {
        b.push_str(&format!("<h3>{}</h3>", esc(lang.t("h_missing"))));
        b.push_str(&html_table(&a.missing, lang));
    }
    b.push_str(&format!("<h2>{}</h2><ul>", esc(lang.t("h_notes"))));
    for n in &a.notes {
        b.push_str(&format!("<li>{}</li>", esc(n)));
    }
    b.push_str("</ul>");
    Ok(Html(format!(
        "<!doctype html><html lang=\"{}\"><head><meta charset=\"utf-8\"><title>{}</title>\
         <style>{}</style></head><body class=\"print\"><p class=\"noprint\">\
         <button onclick=\"window.print()\">{}</button></p>{b}</body></html>",
        lang.code(),
        esc(&a.title[0]),
        PRINT_CSS,
        esc(lang.t("print")),
    )))
}

const PRINT_CSS: &str = "body{font-family:sans-serif;margin:2em;color:#111}\
table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.9em}\
th,td{border:1px solid #999;padding:.25em .5em;text-align:left}td.num{text-align:right}\
th{background:#eee}@media print{.noprint{display:none}body{margin:0}\
h2{page-break-after:avoid}table{page-break-inside:auto}tr{page-break-inside:avoid}}";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_bom_and_plain_numbers() {
        let tb = Table {
            head: vec!["a".into(), "b".into(), "c".into()],
            rows: vec![vec![
                t("Chợ, \"Lai Vung\""),
                Cell::Pct(Some(0.5)),
                Cell::Bool(None),
            ]],
        };
        let out = tb.csv().unwrap();
        assert_eq!(&out[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(out[3..].to_vec()).unwrap();
        assert_eq!(text, "a,b,c\n\"Chợ, \"\"Lai Vung\"\"\",0.5,\n");
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(esc("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
    }

    #[test]
    fn workbooks_build() {
        let tb = Table {
            head: vec!["x".into()],
            rows: vec![vec![Cell::Pct(Some(0.25))]],
        };
        let s = Sheet {
            name: Lang::Vi.t("sheet_indicators").into(),
            lines: vec!["Tiêu đề".into()],
            tables: vec![tb],
        };
        let bytes = workbook(&[s], Lang::Vi).unwrap();
        assert_eq!(&bytes[..2], b"PK");
    }
}
