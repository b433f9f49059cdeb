//! What the hub reports: totals by unit and kind, records with their heads, enrolled agents; each as
//! serde rows (the `--json` shapes) and as a comfy-table for people.
//!
//! Totals read only the `g` groups of one year (O(groups)); they never scan records.

use std::collections::BTreeMap;

use baobi_proto::view::{review_of, GroupKey, GroupTotals, RecordState, ReviewStatus, Value};
use baobi_proto::wire::{Body, Date, Decision, Hlc, OutletKind};
use comfy_table::{presets::UTF8_FULL_CONDENSED, Cell, CellAlignment, Table};
use serde::{Deserialize, Serialize};

use crate::store::{AgentRec, Hub};
use crate::{rfc3339, Result};

/// How totals rows are grouped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum By {
    /// One row per commune and outlet kind.
    #[default]
    #[value(skip)]
    UnitKind,
    /// One row per commune (kinds summed).
    Unit,
    /// One row per outlet kind (communes summed).
    Kind,
}

/// One totals row (also the total row).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Row {
    /// Commune code, none when summed over communes.
    pub unit: Option<String>,
    /// Commune name.
    pub unit_name: Option<String>,
    /// Outlet kind, none when summed over kinds.
    pub kind: Option<OutletKind>,
    /// Live surveys.
    pub surveys: i64,
    /// Outlets whose latest survey of the year is in this row.
    pub outlets_surveyed: i64,
    /// Markets: Σ non-biodegradable bags, grams per day.
    pub market_nonbio_g_per_day: i64,
    /// The same in kg.
    pub market_nonbio_kg_per_day: f64,
    /// Retail outlets surveyed.
    pub retail_outlets_surveyed: i64,
    /// Retail: Σ non-biodegradable bags per day.
    pub retail_nonbio_bags_per_day: i64,
    /// Retail outlets giving no non-biodegradable bags.
    pub retail_no_nonbio: i64,
    /// That share of retail outlets surveyed, none when no retail outlet.
    pub retail_no_nonbio_share: Option<f64>,
}

impl Row {
    fn add(&mut self, kind: OutletKind, g: &GroupTotals) {
        self.surveys += g.surveys;
        self.outlets_surveyed += g.outlets;
        if kind == OutletKind::Market {
            self.market_nonbio_g_per_day += g.amount;
        } else {
            self.retail_outlets_surveyed += g.outlets;
            self.retail_nonbio_bags_per_day += g.amount;
            self.retail_no_nonbio += g.no_nonbio;
        }
    }

    fn finish(mut self) -> Self {
        self.market_nonbio_kg_per_day = self.market_nonbio_g_per_day as f64 / 1000.0;
        self.retail_no_nonbio_share = (self.retail_outlets_surveyed > 0)
            .then(|| self.retail_no_nonbio as f64 / self.retail_outlets_surveyed as f64);
        self
    }
}

/// The totals report (`totals --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Totals {
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// Reporting year.
    pub year: u16,
    /// Grouping.
    pub by: By,
    /// Rows, by unit code then kind.
    pub rows: Vec<Row>,
    /// Sum of all rows.
    pub total: Row,
}

/// Rows and total from one year's groups; `name` gives a unit's display name.
pub fn rows_from_groups(
    groups: &[(GroupKey, GroupTotals)],
    by: By,
    name: impl Fn(&str) -> String,
) -> (Vec<Row>, Row) {
    let mut rows: BTreeMap<(Option<String>, Option<OutletKind>), Row> = BTreeMap::new();
    let mut total = Row::default();
    for (k, g) in groups {
        let key = match by {
            By::UnitKind => (Some(k.unit.clone()), Some(k.kind)),
            By::Unit => (Some(k.unit.clone()), None),
            By::Kind => (None, Some(k.kind)),
        };
        let row = rows.entry(key.clone()).or_insert_with(|| Row {
            unit_name: key.0.as_deref().map(&name),
            unit: key.0.clone(),
            kind: key.1,
            ..Row::default()
        });
        row.add(k.kind, g);
        total.add(k.kind, g);
    }
    (
        rows.into_values().map(Row::finish).collect(),
        total.finish(),
    )
}

/// Totals for `year` (default: the latest year with data, else the current year).
pub fn totals(hub: &Hub, year: Option<u16>, by: By) -> Result<Totals> {
    let year = match year {
        Some(y) => y,
        None => hub
            .latest_year()?
            .unwrap_or_else(|| time::OffsetDateTime::now_utc().year() as u16),
    };
    let groups = hub.groups(year)?;
    // A group is a code's records of the year: when the reform changed what the code meant during
    // the year, both names ("Thị trấn Gia Ray → Xã Xuân Lộc").
    let (rows, total) =
        hub.with_units(|u| rows_from_groups(&groups, by, |c| u.name_in_year(c, year)));
    Ok(Totals {
        province: hub.province().to_string(),
        province_name: hub.province_name().to_string(),
        year,
        by,
        rows,
        total,
    })
}

/// Bilingual name of an outlet kind.
pub fn kind_label(k: OutletKind) -> &'static str {
    match k {
        OutletKind::Market => "Chợ / market",
        OutletKind::Supermarket => "Siêu thị / supermarket",
        OutletKind::TradeCentre => "TTTM / trade centre",
        OutletKind::Convenience => "CH tiện lợi / convenience",
    }
}

fn num(n: i64) -> Cell {
    Cell::new(n).set_alignment(CellAlignment::Right)
}

fn share(r: &Row) -> String {
    match r.retail_no_nonbio_share {
        Some(s) => format!(
            "{}/{} ({:.0}%)",
            r.retail_no_nonbio,
            r.retail_outlets_surveyed,
            s * 100.0
        ),
        None => "—".into(),
    }
}

/// The totals as a table with a title line and a total row.
pub fn render_totals(t: &Totals) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Đơn vị / Unit",
        "Loại / Kind",
        "Khảo sát / Surveys",
        "Cơ sở / Outlets",
        "Chợ: túi khó PH kg/ngày / Market non-bio kg/day",
        "Bán lẻ: túi/ngày / Retail bags/day",
        "Không phát túi khó PH / No non-bio bags",
    ]);
    let line = |r: &Row, unit: String, kind: String| {
        vec![
            Cell::new(unit),
            Cell::new(kind),
            num(r.surveys),
            num(r.outlets_surveyed),
            Cell::new(baobi_proto::validate::kg_u64(
                r.market_nonbio_g_per_day.max(0) as u64,
            ))
            .set_alignment(CellAlignment::Right),
            num(r.retail_nonbio_bags_per_day),
            Cell::new(share(r)).set_alignment(CellAlignment::Right),
        ]
    };
    for r in &t.rows {
        let unit = match (&r.unit, &r.unit_name) {
            (Some(c), Some(n)) => format!("{n} ({c})"),
            (Some(c), None) => c.clone(),
            _ => "—".into(),
        };
        let kind = r.kind.map(kind_label).unwrap_or("—").to_string();
        table.add_row(line(r, unit, kind));
    }
    table.add_row(line(&t.total, "Tổng cộng / Total".into(), String::new()));
    format!(
        "Tỉnh / Province: {} ({}) — năm / year {}\n{table}",
        t.province_name, t.province, t.year
    )
}

/// One head of a record (`records --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HeadRow {
    /// `<author hex>-<seq>` of the entry that wrote it.
    pub version: String,
    /// Author (hex) of the entry that wrote it.
    pub author: String,
    /// When it was written, RFC 3339 from its clock.
    pub time: String,
    /// Version hash (hex).
    pub hash: String,
    /// Its clock.
    pub hlc: u64,
    /// True when the head is a retraction.
    pub retracted: bool,
    /// Retraction reason.
    pub reason: Option<String>,
    /// The body as JSON, none for a retraction.
    pub value: Option<serde_json::Value>,
}

/// One record (`records --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordRow {
    /// `<author hex>-<seq>`.
    pub id: String,
    /// `<8 hex>-<seq>`.
    pub short_id: String,
    /// Author hex.
    pub author: String,
    /// outlet, market-survey, retail-survey or campaign.
    #[serde(rename = "type")]
    pub kind: String,
    /// The winning head is a retraction.
    pub retracted: bool,
    /// More than one head.
    pub conflict: bool,
    /// Versions held.
    pub versions: usize,
    /// Heads, winner first.
    pub heads: Vec<HeadRow>,
    /// Unit of the winning head (commune of an outlet or survey, unit credited for a campaign).
    pub unit: Option<String>,
    /// That unit's name as in force on the record's date (an outlet: today, else its latest name).
    #[serde(default)]
    pub unit_name: Option<String>,
    /// Reporting year of the winning head (a campaign's: the year of its date; none for outlets).
    pub year: Option<u16>,
    /// Date of the winning head (none for outlets).
    pub date: Option<Date>,
    /// Where the record stands in review.
    pub review: ReviewRow,
}

/// A record's review state (`records --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewRow {
    /// `submitted`, `verified` or `returned`.
    pub state: ReviewStatus,
    /// Why it was returned.
    pub reason: Option<String>,
    /// When the decision was made (RFC 3339), none while submitted.
    pub at: Option<String>,
    /// The hub author (hex) that decided, none while submitted.
    pub by: Option<String>,
}

/// RFC 3339 time of a clock value.
pub fn hlc_time(h: Hlc) -> String {
    let ms = i128::from(h.millis());
    time::OffsetDateTime::from_unix_timestamp_nanos(ms * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_default()
}

fn body_type(b: &Body) -> &'static str {
    match b {
        Body::Outlet(_) => "outlet",
        Body::MarketSurvey(_) => "market-survey",
        Body::RetailSurvey(_) => "retail-survey",
        Body::Campaign(_) => "campaign",
    }
}

/// One record as a row: heads (winner first), the winning head's unit, year and date, its review.
pub fn record_row(hub: &Hub, rec: &RecordState) -> Result<RecordRow> {
    let hex = |h: &[u8]| data_encoding::HEXLOWER.encode(h);
    let heads = rec.heads();
    let kind = rec
        .original()
        .or_else(|| {
            rec.versions.iter().find_map(|v| match &v.version.value {
                Value::Body(b) => Some(b),
                Value::Retracted(_) => None,
            })
        })
        .map_or("unknown", body_type);
    let head_rows: Vec<HeadRow> = heads
        .iter()
        .map(|h| {
            let (retracted, reason, value) = match &h.version.value {
                Value::Body(b) => (false, None, serde_json::to_value(b).ok()),
                Value::Retracted(r) => (true, Some(r.clone()), None),
            };
            HeadRow {
                version: format!("{}-{}", h.version.dot.author.hex(), h.version.dot.seq),
                author: h.version.dot.author.hex(),
                time: hlc_time(h.version.hlc),
                hash: hex(&h.hash),
                hlc: h.version.hlc.0,
                retracted,
                reason,
                value,
            }
        })
        .collect();
    let (unit, year, date) = match heads.first().map(|h| &h.version.value) {
        Some(Value::Body(Body::Outlet(o))) => (Some(o.unit.clone()), None, None),
        Some(Value::Body(Body::MarketSurvey(s))) => {
            (Some(s.unit.clone()), Some(s.year), Some(s.date))
        }
        Some(Value::Body(Body::RetailSurvey(s))) => {
            (Some(s.unit.clone()), Some(s.year), Some(s.date))
        }
        Some(Value::Body(Body::Campaign(c))) => {
            (Some(c.unit.clone()), Some(c.date.year()), Some(c.date))
        }
        _ => (None, None, None),
    };
    let unit_name = unit
        .as_ref()
        .map(|c| hub.with_units(|u| u.name_at(c, date.unwrap_or_else(crate::indicators::today))));
    let review = match heads.first() {
        Some(w) => match review_of(&w.hash, &hub.reviews(&rec.id)?) {
            Some(r) => ReviewRow {
                state: match r.decision {
                    Decision::Verified => ReviewStatus::Verified,
                    Decision::Returned => ReviewStatus::Returned,
                },
                reason: (r.decision == Decision::Returned).then(|| r.reason.clone()),
                at: Some(hlc_time(r.hlc)),
                by: Some(r.dot.author.hex()),
            },
            None => ReviewRow {
                state: ReviewStatus::Submitted,
                reason: None,
                at: None,
                by: None,
            },
        },
        None => ReviewRow {
            state: ReviewStatus::Submitted,
            reason: None,
            at: None,
            by: None,
        },
    };
    Ok(RecordRow {
        id: format!("{}-{}", rec.id.author.hex(), rec.id.seq),
        short_id: rec.id.to_string(),
        author: rec.id.author.hex(),
        kind: kind.to_string(),
        retracted: head_rows.first().is_some_and(|h| h.retracted),
        conflict: head_rows.len() > 1,
        versions: rec.versions.len(),
        heads: head_rows,
        unit,
        unit_name,
        year,
        date,
        review,
    })
}

/// Every record with its heads.
pub fn records(hub: &Hub) -> Result<Vec<RecordRow>> {
    record_rows(hub).collect()
}

/// Every record's row, built one at a time as the store is read: what `records --json` streams.
pub fn record_rows(hub: &Hub) -> impl Iterator<Item = Result<RecordRow>> + '_ {
    hub.records_iter()
        .map(move |r| r.and_then(|r| record_row(hub, &r)))
}

fn summary_of(v: &Option<serde_json::Value>, unit_name: Option<&str>) -> String {
    let Some(v) = v else { return String::new() };
    let g = |k: &str| {
        let s = v.get(k).and_then(|x| x.as_str()).unwrap_or("").to_string();
        match unit_name {
            Some(n) if k == "unit" => format!("{n} ({s})"),
            _ => s,
        }
    };
    match v.get("type").and_then(|t| t.as_str()) {
        Some("outlet") => format!("{} · {}", g("name"), g("unit")),
        Some("market-survey") => format!(
            "{} · {} · {} kg/ngày",
            g("date"),
            g("unit"),
            v.get("nonbio_g_per_day")
                .and_then(|x| x.as_u64())
                .map(baobi_proto::validate::kg_u64)
                .unwrap_or_default()
        ),
        Some("retail-survey") => format!(
            "{} · {} · {}",
            g("date"),
            g("unit"),
            if v.get("gives_nonbio").and_then(|x| x.as_bool()) == Some(true) {
                "phát túi khó PH / gives non-bio"
            } else {
                "không phát / none"
            }
        ),
        Some("campaign") => format!("{} · {} · {}", g("date"), g("unit"), g("topic")),
        _ => String::new(),
    }
}

/// Records as a table.
pub fn render_records(rows: &[RecordRow]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Mã / ID",
        "Loại / Type",
        "Nội dung / Content",
        "Phiên bản / Versions",
        "Trạng thái / State",
    ]);
    for r in rows {
        let state = if r.retracted {
            "đã rút / retracted".to_string()
        } else if r.conflict {
            "xung đột / conflict".to_string()
        } else {
            match r.review.state {
                ReviewStatus::Submitted => "đã nộp / submitted".to_string(),
                ReviewStatus::Verified => "đã xác minh / verified".to_string(),
                ReviewStatus::Returned => format!(
                    "trả lại / returned: {}",
                    r.review.reason.as_deref().unwrap_or("")
                ),
            }
        };
        table.add_row(vec![
            Cell::new(&r.short_id),
            Cell::new(&r.kind),
            Cell::new(summary_of(
                &r.heads.first().and_then(|h| h.value.clone()),
                r.unit_name.as_deref(),
            )),
            num(r.versions as i64),
            Cell::new(state),
        ]);
    }
    format!("{table}\n{} bản ghi / records", rows.len())
}

/// An enrolled agent (`agents --json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AgentRow {
    /// Author hex.
    pub author: String,
    /// First 8 hex digits.
    pub short: String,
    /// Label.
    pub label: String,
    /// Unit code.
    pub unit: String,
    /// Unit name (of the version it enrolled for).
    pub unit_name: String,
    /// The unit versions it holds, with their validity ("Xã Xuân Lộc (26425, from 2025-07-01)"; an
    /// office given successors by `agents move` holds several, joined by "; ").
    #[serde(default)]
    pub jurisdiction: String,
    /// Enrolled at (RFC 3339).
    pub enrolled_at: String,
    /// Revoked.
    pub revoked: bool,
    /// Last sync (RFC 3339) or none.
    pub last_sync: Option<String>,
    /// Entries received.
    pub entries_received: u64,
    /// Largest lead of its entry clocks over the hub's clock, in seconds, when flagged.
    pub clock_ahead_secs: Option<u64>,
    /// Largest lag of its entry clocks behind its enrollment, in seconds, when flagged.
    pub clock_behind_secs: Option<u64>,
}

/// An agent as a row.
pub fn agent_row(hub: &Hub, a: &AgentRec) -> AgentRow {
    let clock = hub.clock_flag(&a.author).ok().flatten();
    let office = crate::office::office(hub, a).ok();
    let unit_name = hub.with_units(|u| {
        office
            .as_ref()
            .and_then(|o| o.units.first())
            .and_then(|r| u.version(r))
            .map_or_else(|| u.name(&a.unit), |v| v.name.clone())
    });
    AgentRow {
        author: a.author.hex(),
        short: a.author.short(),
        label: a.label.clone(),
        unit: a.unit.split('@').next().unwrap_or_default().to_string(),
        unit_name,
        jurisdiction: office
            .as_ref()
            .map(|o| crate::office::describe(hub, o))
            .unwrap_or_default(),
        enrolled_at: rfc3339(a.enrolled_at),
        revoked: a.revoked,
        last_sync: a.last_sync.map(rfc3339),
        entries_received: a.entries_received,
        clock_ahead_secs: clock.map(|c| c.ahead_ms / 1000).filter(|s| *s > 0),
        clock_behind_secs: clock.map(|c| c.behind_ms / 1000).filter(|s| *s > 0),
    }
}

/// Every enrolled agent.
pub fn agents(hub: &Hub) -> Result<Vec<AgentRow>> {
    Ok(hub.agents()?.iter().map(|a| agent_row(hub, a)).collect())
}

/// Agents as a table.
pub fn render_agents(rows: &[AgentRow]) -> String {
    let mut table = Table::new();
    table.load_preset(UTF8_FULL_CONDENSED).set_header(vec![
        "Mã / Key",
        "Tên / Label",
        "Đơn vị / Unit",
        "Đăng ký / Enrolled",
        "Đồng bộ gần nhất / Last sync",
        "Bản ghi nhận / Entries",
        "Trạng thái / State",
    ]);
    for a in rows {
        table.add_row(vec![
            Cell::new(&a.short),
            Cell::new(&a.label),
            Cell::new(if a.jurisdiction.is_empty() {
                format!("{} ({})", a.unit_name, a.unit)
            } else {
                a.jurisdiction.replace("; ", "\n")
            }),
            Cell::new(&a.enrolled_at),
            Cell::new(a.last_sync.as_deref().unwrap_or("—")),
            num(a.entries_received as i64),
            Cell::new({
                let mut state = if a.revoked {
                    "đã thu hồi / revoked".to_string()
                } else {
                    "hoạt động / active".to_string()
                };
                if let Some(s) = a.clock_ahead_secs {
                    state += &format!("\nđồng hồ nhanh / clock ahead {} d", s / 86_400);
                }
                if let Some(s) = a.clock_behind_secs {
                    state += &format!("\nđồng hồ chậm / clock behind {} d", s / 86_400);
                }
                state
            }),
        ]);
    }
    format!("{table}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g(
        year: u16,
        unit: &str,
        kind: OutletKind,
        t: (i64, i64, i64, i64),
    ) -> (GroupKey, GroupTotals) {
        (
            GroupKey {
                year,
                unit: unit.into(),
                kind,
            },
            GroupTotals {
                surveys: t.0,
                outlets: t.1,
                amount: t.2,
                no_nonbio: t.3,
            },
        )
    }

    #[test]
    fn rows_group_and_total() {
        let groups = vec![
            g(2025, "30208", OutletKind::Market, (2, 1, 18_500, 0)),
            g(2025, "30208", OutletKind::Convenience, (2, 2, 150, 1)),
            g(2025, "30226", OutletKind::Market, (1, 1, 9_000, 0)),
            g(2025, "30226", OutletKind::Supermarket, (1, 1, 0, 1)),
        ];
        let name = |c: &str| format!("U{c}");
        let (rows, total) = rows_from_groups(&groups, By::UnitKind, name);
        assert_eq!(rows.len(), 4);
        assert_eq!(rows[0].unit.as_deref(), Some("30208"));
        assert_eq!(rows[0].unit_name.as_deref(), Some("U30208"));
        assert_eq!(rows[0].kind, Some(OutletKind::Market));
        assert_eq!(rows[0].market_nonbio_kg_per_day, 18.5);
        assert_eq!(rows[0].retail_no_nonbio_share, None);
        assert_eq!(total.surveys, 6);
        assert_eq!(total.outlets_surveyed, 5);
        assert_eq!(total.market_nonbio_g_per_day, 27_500);
        assert_eq!(total.retail_outlets_surveyed, 3);
        assert_eq!(total.retail_no_nonbio, 2);
        assert_eq!(total.retail_no_nonbio_share, Some(2.0 / 3.0));

        let (rows, _) = rows_from_groups(&groups, By::Unit, name);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].kind, None);
        assert_eq!(rows[0].retail_nonbio_bags_per_day, 150);
        let (rows, _) = rows_from_groups(&groups, By::Kind, name);
        assert_eq!(rows.len(), 3);
        assert!(rows
            .iter()
            .all(|r| r.unit.is_none() && r.unit_name.is_none()));

        let t = Totals {
            province: "87".into(),
            province_name: "Đồng Tháp".into(),
            year: 2025,
            by: By::Unit,
            rows,
            total,
        };
        let j = serde_json::to_value(&t).unwrap();
        assert_eq!(j["by"], "unit");
        assert_eq!(j["rows"][0]["unit"], serde_json::Value::Null);
        assert_eq!(j["rows"][0]["kind"], "market");
        assert_eq!(j["total"]["market_nonbio_kg_per_day"], 27.5);
        assert!(render_totals(&t).contains("Tổng cộng / Total"));
    }
}
