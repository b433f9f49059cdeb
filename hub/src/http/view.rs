//! The dashboard's reading of the issue-3 contract: the indicator report as typed views deserialised
//! from its JSON (so this module depends on the contract's field names only, never on the indicator
//! module's Rust types), and the derived fields of a record row (unit, year, date, review state) read
//! defensively from `records --json`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ApiError;
use crate::indicators::{self, Query};
use crate::store::Hub;

/// Surveyed out of total.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CoverageV {
    /// Facilities surveyed.
    #[serde(default)]
    pub surveyed: u64,
    /// Facilities in total.
    #[serde(default)]
    pub total: u64,
}

/// One indicator of the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct IndicatorV {
    /// Fixed id (`i1`, …).
    pub id: String,
    /// Vietnamese name.
    #[serde(default)]
    pub name_vi: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Fraction 0..1.
    #[serde(default)]
    pub value: Option<f64>,
    /// Numerator.
    #[serde(default)]
    pub numerator: Option<f64>,
    /// Denominator.
    #[serde(default)]
    pub denominator: Option<f64>,
    /// Unit of the figures.
    #[serde(default)]
    pub unit: String,
    /// Target fraction.
    #[serde(default)]
    pub target: Option<f64>,
    /// Met the target.
    #[serde(default)]
    pub met: Option<bool>,
    /// Coverage.
    #[serde(default)]
    pub coverage: Option<CoverageV>,
    /// Provisional baseline.
    #[serde(default)]
    pub provisional: bool,
}

impl IndicatorV {
    /// Name in `lang`.
    pub fn name(&self, en: bool) -> &str {
        if en {
            &self.name_en
        } else {
            &self.name_vi
        }
    }
}

/// A unit below the scope.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct UnitV {
    /// Code.
    pub code: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Level.
    #[serde(default)]
    pub level: String,
    /// Reported.
    #[serde(default)]
    pub reported: bool,
    /// On time (null when the plan has no deadline).
    #[serde(default)]
    pub on_time: Option<bool>,
    /// First report date.
    #[serde(default)]
    pub first_report: Option<String>,
    /// Indicators.
    #[serde(default)]
    pub indicators: Vec<IndicatorV>,
}

/// Code and name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct NamedV {
    /// Code.
    #[serde(default)]
    pub code: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Level (scope only).
    #[serde(default)]
    pub level: String,
}

/// Completeness block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct CompletenessV {
    /// Units.
    #[serde(default)]
    pub units: u64,
    /// Reported.
    #[serde(default)]
    pub reported: u64,
    /// Units on time (null when the plan has no deadline).
    #[serde(default)]
    pub on_time: Option<u64>,
    /// Deadline.
    #[serde(default)]
    pub deadline: Option<String>,
    /// Missing units.
    #[serde(default)]
    pub missing: Vec<NamedV>,
}

/// Plan block.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PlanV {
    /// Id.
    #[serde(default)]
    pub id: String,
    /// Name.
    #[serde(default)]
    pub name: String,
    /// Deadline.
    #[serde(default)]
    pub deadline: Option<String>,
}

/// The contract's report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct ReportV {
    /// Province code.
    #[serde(default)]
    pub province: String,
    /// Province name.
    #[serde(default)]
    pub province_name: String,
    /// Year.
    pub year: u16,
    /// Reference date.
    #[serde(default)]
    pub as_of: String,
    /// submitted | verified.
    #[serde(default)]
    pub basis: String,
    /// Plan.
    #[serde(default)]
    pub plan: Option<PlanV>,
    /// Scope.
    #[serde(default)]
    pub scope: NamedV,
    /// Indicators.
    #[serde(default)]
    pub indicators: Vec<IndicatorV>,
    /// Units below.
    #[serde(default)]
    pub units: Vec<UnitV>,
    /// Completeness.
    #[serde(default)]
    pub completeness: CompletenessV,
    /// Gaps (kept as JSON).
    #[serde(default)]
    pub gaps: Vec<Value>,
    /// Notes.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// The report for `year` and `unit` as contract JSON (blocking).
pub fn report_json(hub: &Hub, year: u16, unit: Option<&str>) -> Result<Value, ApiError> {
    if let Some(u) = unit {
        if hub.with_units(|x| x.latest(u).is_none()) {
            return Err(ApiError::not_found(format!(
                "Không có đơn vị {u} / No unit {u}"
            )));
        }
    }
    let r = indicators::report(
        hub,
        &Query {
            year,
            unit: unit.map(str::to_string),
        },
    )?;
    serde_json::to_value(&r).map_err(ApiError::internal)
}

/// The report as typed views (blocking).
pub fn report(hub: &Hub, year: u16, unit: Option<&str>) -> Result<ReportV, ApiError> {
    serde_json::from_value(report_json(hub, year, unit)?).map_err(ApiError::internal)
}

/// The trend (one report per year) as contract JSON (blocking).
pub fn trend_json(hub: &Hub, unit: Option<&str>) -> Result<Value, ApiError> {
    let t = indicators::trend(hub, unit)?;
    serde_json::to_value(&t).map_err(ApiError::internal)
}

/// The default year: the latest with data, else the current year.
pub fn default_year(hub: &Hub) -> Result<u16, ApiError> {
    Ok(hub
        .latest_year()?
        .unwrap_or_else(|| time::OffsetDateTime::now_utc().year() as u16))
}

/// A record row's derived fields: the contract's additions when present, else read from the head.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Derived {
    /// Unit code.
    pub unit: Option<String>,
    /// Reporting year.
    pub year: Option<u64>,
    /// Date.
    pub date: Option<String>,
    /// Review state (`submitted` when the row carries none).
    pub status: String,
}

/// Reads a record row's unit, year, date and review state.
pub fn derived(row: &Value) -> Derived {
    let head = &row["heads"][0]["value"];
    let s = |v: &Value| v.as_str().map(str::to_string);
    let campaign_year = || {
        head["date"]
            .as_str()
            .filter(|_| head["type"] == "campaign")
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok())
    };
    Derived {
        unit: s(&row["unit"]).or_else(|| s(&head["unit"])),
        year: row["year"]
            .as_u64()
            .or_else(|| head["year"].as_u64())
            .or_else(campaign_year),
        date: s(&row["date"]).or_else(|| s(&head["date"])),
        status: s(&row["review"]["state"]).unwrap_or_else(|| "submitted".into()),
    }
}

/// A one-line summary of a record's current value, for tables and exports.
pub fn summary(row: &Value, en: bool) -> String {
    let v = &row["heads"][0]["value"];
    let g = |k: &str| v[k].as_str().unwrap_or("").to_string();
    match v["type"].as_str() {
        Some("outlet") => format!("{} ({})", g("name"), g("kind")),
        Some("market-survey") => format!(
            "{} kg/{}",
            v["nonbio_g_per_day"]
                .as_u64()
                .map(baobi_proto::validate::kg_u64)
                .unwrap_or_default(),
            if en { "day" } else { "ngày" }
        ),
        Some("retail-survey") => match (v["gives_nonbio"].as_bool(), en) {
            (Some(true), false) => "Phát túi khó phân hủy".into(),
            (Some(true), true) => "Gives non-biodegradable bags".into(),
            (_, false) => "Không phát túi khó phân hủy".into(),
            (_, true) => "No non-biodegradable bags".into(),
        },
        Some("campaign") => g("topic"),
        _ => match (row["retracted"].as_bool(), en) {
            (Some(true), false) => "Đã rút".into(),
            (Some(true), true) => "Retracted".into(),
            _ => String::new(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn derived_prefers_contract_fields_and_falls_back_to_the_head() {
        let old = json!({"heads": [{"value": {"type": "market-survey", "unit": "30226",
            "year": 2025, "date": "2025-03-12"}}]});
        let d = derived(&old);
        assert_eq!(d.unit.as_deref(), Some("30226"));
        assert_eq!(d.year, Some(2025));
        assert_eq!(d.status, "submitted");
        let new = json!({"unit": "876", "year": 2024, "date": "2024-01-02",
            "review": {"state": "verified"}, "heads": []});
        let d = derived(&new);
        assert_eq!(d.unit.as_deref(), Some("876"));
        assert_eq!(d.year, Some(2024));
        assert_eq!(d.status, "verified");
        let camp = json!({"heads": [{"value": {"type": "campaign", "unit": "876",
            "date": "2023-05-01"}}]});
        assert_eq!(derived(&camp).year, Some(2023));
    }
}
