//! The dashboard's JSON API (documented in the README under "Dashboard JSON API"): the overview (the
//! contract's indicator report plus the trend), a unit's drill-down, the records browser with filters,
//! one record with its full history, and the review action.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use baobi_proto::view::Value as VValue;
use baobi_proto::wire::Dot;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Operator;
use super::view::{self, derived};
use super::{blocking, ApiError, AppState};
use crate::store::{ancestors, Hub};

/// `?year=`.
#[derive(Debug, Deserialize, Default)]
pub struct YearQ {
    /// Reporting year (default: latest with data).
    pub year: Option<String>,
}

/// Parses an optional year parameter (empty = none); 400 on anything but 1900..=2999.
pub fn parse_year(s: Option<&str>) -> Result<Option<u16>, ApiError> {
    match s.map(str::trim).filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(y) => match y.parse::<u16>() {
            Ok(v) if (1900..=2999).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad(format!(
                "Năm không hợp lệ / Invalid year: {y}"
            ))),
        },
    }
}

fn year_or_default(hub: &Hub, y: Option<&str>) -> Result<u16, ApiError> {
    match parse_year(y)? {
        Some(y) => Ok(y),
        None => view::default_year(hub),
    }
}

/// `GET /api/overview?year=`: `{report, trend}`.
pub async fn overview(
    State(st): State<AppState>,
    _op: Operator,
    Query(q): Query<YearQ>,
) -> Result<Json<Value>, ApiError> {
    let hub = st.hub.clone();
    blocking(move || {
        let year = year_or_default(&hub, q.year.as_deref())?;
        Ok(Json(json!({
            "report": view::report_json(&hub, year, None)?,
            "trend": view::trend_json(&hub, None)?,
        })))
    })
    .await
}

/// `GET /api/units`: every unit version the hub knows (for filters and names).
pub async fn units(State(st): State<AppState>, _op: Operator) -> Json<Value> {
    let list: Vec<Value> = st.hub.with_units(|u| {
        u.iter()
            .map(|d| {
                json!({ "code": d.code, "name": d.name, "level": d.level, "parent": d.parent,
                        "valid_from": d.valid_from, "valid_to": d.valid_to })
            })
            .collect()
    });
    Json(Value::Array(list))
}

/// `GET /api/units/{code}?year=`: `{report, trend}` with the unit as scope.
pub async fn unit(
    State(st): State<AppState>,
    _op: Operator,
    Path(code): Path<String>,
    Query(q): Query<YearQ>,
) -> Result<Json<Value>, ApiError> {
    let hub = st.hub.clone();
    blocking(move || {
        let year = year_or_default(&hub, q.year.as_deref())?;
        Ok(Json(json!({
            "report": view::report_json(&hub, year, Some(&code))?,
            "trend": view::trend_json(&hub, Some(&code))?,
        })))
    })
    .await
}

/// Filters of the records browser (all optional; empty = any).
#[derive(Debug, Deserialize, Default, Clone)]
pub struct RecordFilter {
    /// Unit code: the record's unit is it or lies below it.
    pub unit: Option<String>,
    /// `outlet`, `market-survey`, `retail-survey`, `campaign`.
    pub kind: Option<String>,
    /// Reporting year.
    pub year: Option<String>,
    /// `submitted`, `verified`, `returned`, or `retracted`.
    pub status: Option<String>,
    /// `true` / `false`.
    pub conflict: Option<String>,
    /// Language of exports (`vi`, `en`).
    pub lang: Option<String>,
}

fn some(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

/// The records passing `f`, each with `unit_name` and `author_label` added (blocking).
pub fn filtered_records(hub: &Hub, f: &RecordFilter) -> Result<Vec<Value>, ApiError> {
    const KINDS: [&str; 4] = ["outlet", "market-survey", "retail-survey", "campaign"];
    const STATES: [&str; 4] = ["submitted", "verified", "returned", "retracted"];
    let kind = some(&f.kind);
    if let Some(k) = kind {
        if !KINDS.contains(&k) {
            return Err(ApiError::bad(format!(
                "Loại không hợp lệ / Invalid kind: {k}"
            )));
        }
    }
    let status = some(&f.status);
    if let Some(s) = status {
        if !STATES.contains(&s) {
            return Err(ApiError::bad(format!(
                "Trạng thái không hợp lệ / Invalid status: {s}"
            )));
        }
    }
    let conflict = match some(&f.conflict) {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(c) => {
            return Err(ApiError::bad(format!(
                "conflict phải là true/false / conflict must be true or false: {c}"
            )))
        }
    };
    let year = parse_year(some(&f.year))?.map(u64::from);
    let unit = some(&f.unit);
    if let Some(u) = unit {
        if hub.with_units(|x| x.latest(u).is_none()) {
            return Err(ApiError::bad(format!("Không có đơn vị {u} / No unit {u}")));
        }
    }
    let rows = crate::report::records(hub)?;
    let labels = author_labels(hub)?;
    let mut out = vec![];
    for r in rows {
        let mut row = serde_json::to_value(&r).map_err(ApiError::internal)?;
        let d = derived(&row);
        if kind.is_some_and(|k| row["type"] != k) {
            continue;
        }
        if let Some(y) = year {
            if d.year != Some(y) {
                continue;
            }
        }
        if let Some(c) = conflict {
            if row["conflict"].as_bool() != Some(c) {
                continue;
            }
        }
        let retracted = row["retracted"].as_bool() == Some(true);
        match status {
            Some("retracted") if !retracted => continue,
            Some(s) if s != "retracted" && (retracted || d.status != s) => continue,
            _ => {}
        }
        if let Some(u) = unit {
            let inside = d
                .unit
                .as_deref()
                .is_some_and(|c| c == u || hub.with_units(|x| ancestors(x, c).contains(u)));
            if !inside {
                continue;
            }
        }
        let unit_name = d.unit.as_deref().map(|c| hub.with_units(|x| x.name(c)));
        let label = labels.get(r.author.as_str()).cloned();
        if let Value::Object(m) = &mut row {
            m.insert("unit_name".into(), json!(unit_name));
            m.insert("author_label".into(), json!(label));
            m.insert("derived".into(), json!(d));
        }
        out.push(row);
    }
    Ok(out)
}

/// Author hex → office label (the hub itself is "hub").
fn author_labels(hub: &Hub) -> Result<BTreeMap<String, String>, ApiError> {
    let mut m: BTreeMap<String, String> = hub
        .agents()?
        .into_iter()
        .map(|a| {
            let name = hub.with_units(|u| u.name(&a.unit));
            let label = if a.label.is_empty() {
                name
            } else {
                format!("{} ({name})", a.label)
            };
            (a.author.hex(), label)
        })
        .collect();
    m.insert(
        hub.keypair().author().hex(),
        format!("Sở Công Thương / DOIT hub ({})", hub.province_name()),
    );
    Ok(m)
}

/// `GET /api/records?unit=&kind=&year=&status=&conflict=`: `{count, records}`.
pub async fn records(
    State(st): State<AppState>,
    _op: Operator,
    Query(f): Query<RecordFilter>,
) -> Result<Json<Value>, ApiError> {
    let hub = st.hub.clone();
    blocking(move || {
        let rows = filtered_records(&hub, &f)?;
        Ok(Json(json!({ "count": rows.len(), "records": rows })))
    })
    .await
}

/// Parses a record id: `<64 hex>-<seq>`, or a short `<8 hex>-<seq>` resolved among the records.
fn find_record(hub: &Hub, id: &str) -> Result<Dot, ApiError> {
    let bad = || ApiError::bad(format!("Mã bản ghi không hợp lệ / Invalid record id: {id}"));
    let (hex, seq) = id.trim().rsplit_once('-').ok_or_else(bad)?;
    let seq: u64 = seq.parse().map_err(|_| bad())?;
    let hex = hex.to_ascii_lowercase();
    if hex.len() < 8 || hex.len() > 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(bad());
    }
    let not_found = || ApiError::not_found(format!("Không có bản ghi {id} / No record {id}"));
    if hex.len() == 64 {
        let bytes = data_encoding::HEXLOWER
            .decode(hex.as_bytes())
            .map_err(|_| bad())?;
        let author: [u8; 32] = bytes.try_into().map_err(|_| bad())?;
        let dot = Dot {
            author: baobi_proto::AuthorId(author),
            seq,
        };
        return match hub.record(&dot)? {
            Some(_) => Ok(dot),
            None => Err(not_found()),
        };
    }
    let mut found = None;
    for r in hub.records()? {
        if r.id.seq == seq && r.id.author.hex().starts_with(&hex) {
            if found.is_some() {
                return Err(ApiError::bad(format!(
                    "Mã {id} khớp nhiều bản ghi / {id} matches several records"
                )));
            }
            found = Some(r.id);
        }
    }
    found.ok_or_else(not_found)
}

/// The record `dot` as `{record, history, authors}` (blocking).
pub fn record_detail(hub: &Hub, dot: &Dot) -> Result<Value, ApiError> {
    let full = format!("{}-{}", dot.author.hex(), dot.seq);
    let rows = crate::report::records(hub)?;
    let row = rows
        .into_iter()
        .find(|r| r.id == full)
        .ok_or_else(|| ApiError::not_found(format!("No record {full}")))?;
    let mut row = serde_json::to_value(&row).map_err(ApiError::internal)?;
    let d = derived(&row);
    let labels = author_labels(hub)?;
    if let Value::Object(m) = &mut row {
        let unit_name = d.unit.as_deref().map(|c| hub.with_units(|x| x.name(c)));
        m.insert("unit_name".into(), json!(unit_name));
        m.insert("derived".into(), json!(d));
    }
    let state = hub
        .record(dot)?
        .ok_or_else(|| ApiError::not_found(format!("No record {full}")))?;
    let heads: Vec<[u8; 32]> = state.heads().iter().map(|h| h.hash).collect();
    let hex = |b: &[u8]| data_encoding::HEXLOWER.encode(b);
    let mut versions: Vec<_> = state.versions.iter().collect();
    versions.sort_by_key(|v| (v.version.hlc, v.version.dot));
    let history: Vec<Value> = versions
        .into_iter()
        .map(|v| {
            let hash = baobi_proto::view::RecordState::hash_of(v);
            let author = v.version.dot.author.hex();
            let (action, value, reason) = match &v.version.value {
                VValue::Body(b) => (
                    if v.version.dot == *dot {
                        "created"
                    } else {
                        "corrected"
                    },
                    serde_json::to_value(b).ok(),
                    None,
                ),
                VValue::Retracted(r) => ("retracted", None, Some(r.clone())),
            };
            json!({
                "version": format!("{author}-{}", v.version.dot.seq),
                "hash": hex(&hash),
                "author": author,
                "author_label": labels.get(&author),
                "hlc": v.version.hlc.0,
                "time": crate::rfc3339((v.version.hlc.millis() / 1000) as i64),
                "action": action,
                "supersedes": v.supersedes.iter().map(|h| hex(h)).collect::<Vec<_>>(),
                "head": heads.contains(&hash),
                "value": value,
                "reason": reason,
            })
        })
        .collect();
    Ok(json!({ "record": row, "history": history }))
}

/// `GET /api/records/{id}`: the record row, its full version history (author, time, action, what
/// each version superseded), and its review state when the build has one.
pub async fn record(
    State(st): State<AppState>,
    _op: Operator,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let hub = st.hub.clone();
    blocking(move || {
        let dot = find_record(&hub, &id)?;
        Ok(Json(record_detail(&hub, &dot)?))
    })
    .await
}

/// `POST /api/records/{id}/review` body.
#[derive(Debug, Deserialize)]
pub struct ReviewBody {
    /// `verify` or `return`.
    pub decision: String,
    /// Reason (required to return).
    pub reason: Option<String>,
}

/// `POST /api/records/{id}/review {decision: "verify"|"return", reason}`: the updated record detail.
pub async fn review(
    State(st): State<AppState>,
    Operator(op): Operator,
    Path(id): Path<String>,
    body: Result<Json<ReviewBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<Value>, ApiError> {
    let Json(body) = body.map_err(|e| {
        ApiError::bad(format!(
            "Cần {{\"decision\": \"verify\"|\"return\", \"reason\"}} / Expected a decision: {e}"
        ))
    })?;
    let verify = match body.decision.as_str() {
        "verify" => true,
        "return" => false,
        d => {
            return Err(ApiError::bad(format!(
                "Quyết định không hợp lệ / Invalid decision: {d}"
            )))
        }
    };
    let reason = body
        .reason
        .map(|r| baobi_proto::validate::nfc(r.trim()))
        .filter(|r| !r.is_empty());
    if !verify && reason.is_none() {
        return Err(ApiError::bad(
            "Cần lý do để trả lại / A reason is required to return a record",
        ));
    }
    let hub = st.hub.clone();
    blocking(move || {
        let dot = find_record(&hub, &id)?;
        let full = format!("{}-{}", dot.author.hex(), dot.seq);
        let decision = match (verify, reason) {
            (true, _) => crate::review::Decision::Verified,
            (false, r) => crate::review::Decision::Returned(r.unwrap_or_default()),
        };
        crate::review::decide(&hub, &full, decision).map_err(|e| match e {
            crate::Error::Invalid(m) => ApiError::bad(m),
            e => ApiError::internal(e),
        })?;
        tracing::info!(operator = %op, record = %full, verify, "review decision");
        Ok(Json(record_detail(&hub, &dot)?))
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn years_parse() {
        assert_eq!(parse_year(None).unwrap(), None);
        assert_eq!(parse_year(Some(" ")).unwrap(), None);
        assert_eq!(parse_year(Some("2025")).unwrap(), Some(2025));
        assert!(parse_year(Some("20x5")).is_err());
        assert!(parse_year(Some("99999")).is_err());
    }
}
