//! The office app's JSON API (README "Office app JSON API"): each handler turns its request into an
//! `ops::Request`, runs `ops::execute`, and turns the `ops::Response` into JSON with the right status.
//! JSON field names are those of `survey import`'s JSON Lines; invalid input is 400
//! `{"error","field"}` naming the field, and nothing is saved.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response as HttpResponse};
use axum::Json;
use baobi_proto::view::ReviewStatus;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::import::ImportRow;
use crate::ops::{self, KindArg, Request, Response, SurveyQuery};

pub use super::body::{fields_of, typed};

/// The sync running now (or the last one), for `GET /api/sync/progress`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SyncProgress {
    /// A sync is running.
    pub running: bool,
    /// Own entries to send.
    pub to_send: u64,
    /// Acknowledged so far.
    pub sent: u64,
    /// Received so far.
    pub received: u64,
    /// The last sync's result in words, once it ended.
    pub message: Option<String>,
    /// The last sync succeeded.
    pub ok: Option<bool>,
}

/// Runs `req` through `ops::execute`.
pub async fn exec(st: &AppState, req: Request) -> Response {
    ops::execute(&st.app.ctx, req, &mut |_| {}).await
}

/// An `ops` error as an API error: invalid input is 400 with its field (snake_case), an unreachable
/// hub 503, not enrolled 409.
pub fn error_of(code: i32, message: String, field: Option<String>) -> ApiError {
    let status = match code {
        ops::EXIT_INVALID => StatusCode::BAD_REQUEST,
        ops::EXIT_UNREACHABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ if message == ops::Error::NotEnrolled.to_string() => StatusCode::CONFLICT,
        _ if message.contains("Văn phòng đã đăng ký") => StatusCode::CONFLICT,
        _ if message.contains("Máy chủ tỉnh từ chối") => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        field: field.map(|f| f.replace('-', "_")),
        ..ApiError::new(status, message)
    }
}

fn unexpected(r: Response) -> ApiError {
    match r {
        Response::Error {
            code,
            message,
            field,
        } => error_of(code, message, field),
        other => ApiError::internal(format!("unexpected answer: {other:?}")),
    }
}

fn created(r: Response) -> Result<HttpResponse, ApiError> {
    match r {
        Response::Saved {
            id,
            message,
            warnings,
        } => Ok((
            StatusCode::CREATED,
            Json(json!({ "id": id, "message": message, "warnings": warnings })),
        )
            .into_response()),
        Response::Unconfirmed { warnings } => Err(ApiError::new(
            StatusCode::CONFLICT,
            "Cần xác nhận cảnh báo trước khi lưu (gửi lại với \"confirm\": true) / Confirm the warnings to save (send again with \"confirm\": true)",
        )
        .with("warnings", json!(warnings))
        .with("confirm_required", json!(true))),
        other => Err(unexpected(other)),
    }
}

/// `GET /api/status?probe=`: `{"enrolled": false}` before enrollment; else the office's status
/// (StatusInfo), `hub_reachable` (the last attempt's outcome; with `probe=true` a sync runs first),
/// `last_attempt`, the plan's `deadline` and `days_left` this year, the surveys `returned` for
/// correction with their reasons, and the office's own `indicators` (labelled as its view).
pub async fn status(
    State(st): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    if st.app.ctx.store.hub()?.is_none() {
        return Ok(Json(json!({ "enrolled": false })));
    }
    if q.get("probe").is_some_and(|v| v == "true" || v == "1") {
        let _ = run_sync(&st).await;
    }
    let mut v = match exec(&st, Request::Status).await {
        Response::Status { status } => json!(status),
        other => return Err(unexpected(other)),
    };
    v["enrolled"] = json!(true);
    let attempts = match exec(&st, Request::SyncHistory).await {
        Response::SyncHistory { attempts } => attempts,
        _ => vec![],
    };
    v["last_attempt"] = json!(attempts.first());
    v["hub_reachable"] = match attempts.first() {
        Some(a) => json!(a.ok),
        None => Value::Null,
    };
    let today = ops::today();
    let year = (today.0 / 10000) as u16;
    if let Response::Plan { plan } = exec(&st, Request::Plan).await {
        let deadline = baobi_proto::indicators::deadline(plan.as_deref(), year);
        v["plan"] = json!(plan
            .as_ref()
            .map(|p| json!({ "id": p.id, "name": p.name, "name_en": p.name_en })));
        v["deadline"] = json!(deadline.map(|d| d.to_string()));
        v["days_left"] = json!(deadline.map(|d| days_between(today, d)));
    }
    let returned = SurveyQuery {
        review: Some(ReviewStatus::Returned),
        limit: Some(ops::MAX_PAGE),
        ..SurveyQuery::default()
    };
    if let Response::SurveyPage { surveys, .. } = exec(&st, Request::SurveyPage(returned)).await {
        v["returned"] = json!(surveys
            .iter()
            .map(|s| json!({ "id": s.id, "type": s.kind, "outlet": s.outlet, "outlet_name": s.outlet_name,
                             "date": s.date, "reason": s.review_reason, "at": s.review_at }))
            .collect::<Vec<_>>());
    }
    let held = v["entries"].as_u64().unwrap_or(0);
    let cached = st
        .app
        .indicators
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .as_ref()
        .filter(|(n, day, _)| *n == held && *day == today.0)
        .map(|(_, _, r)| r.clone());
    let report = match cached {
        Some(r) => r,
        None => {
            let r = match exec(&st, Request::Indicators { year: Some(year) }).await {
                Response::Indicators { report } => Ok(report),
                Response::Error { message, .. } => Err(message),
                other => Err(format!("{other:?}")),
            };
            *st.app.indicators.lock().unwrap_or_else(|p| p.into_inner()) =
                Some((held, today.0, r.clone()));
            r
        }
    };
    match report {
        Ok(r) => v["indicators"] = r,
        Err(m) => v["indicators_error"] = json!(m),
    }
    Ok(Json(v))
}

/// Days from `a` to `b` (negative when `b` is past).
fn days_between(a: baobi_proto::wire::Date, b: baobi_proto::wire::Date) -> i64 {
    let to = |d: baobi_proto::wire::Date| {
        let (y, m, dd) = (d.0 / 10000, (d.0 / 100) % 100, d.0 % 100);
        time::Month::try_from(m as u8)
            .ok()
            .and_then(|m| time::Date::from_calendar_date(y as i32, m, dd as u8).ok())
            .map_or(0, |d| i64::from(d.to_julian_day()))
    };
    to(b) - to(a)
}

/// `POST /api/enroll {"token","label"?}` (loopback): enrolls, then syncs once.
pub async fn enroll(State(st): State<AppState>, body: Bytes) -> Result<Json<Value>, ApiError> {
    let obj = fields_of(&body)?;
    let token = obj
        .get("token")
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::field(
                "token",
                "Thiếu mã đăng ký / The enrollment token is missing",
            )
        })?
        .to_string();
    let label = obj.get("label").and_then(Value::as_str).map(str::to_string);
    match exec(&st, Request::Enroll { token, label }).await {
        Response::Enrolled { enrolled } => Ok(Json(json!(enrolled))),
        Response::Error {
            code,
            message,
            field,
        } => {
            let refused = message.contains("Máy chủ tỉnh từ chối");
            let field = field.or(refused.then(|| "token".to_string()));
            Err(error_of(code, message, field))
        }
        other => Err(unexpected(other)),
    }
}

/// `GET /api/units`: the units the office may pick, `{"units":[{code,name,level,parent}]}`.
pub async fn units(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    match exec(&st, Request::Units).await {
        Response::Units { units } => Ok(Json(json!({ "units": units }))),
        other => Err(unexpected(other)),
    }
}

fn opt(q: &std::collections::HashMap<String, String>, k: &str) -> Option<String> {
    q.get(k)
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

fn kind_of(s: &str) -> Result<KindArg, ApiError> {
    serde_json::from_value(json!(s)).map_err(|_| {
        ApiError::field(
            "kind",
            format!("Loại không hợp lệ / Invalid kind '{s}': market, supermarket, trade-centre, convenience"),
        )
    })
}

/// `GET /api/outlets?q=&kind=&commune=`: `{"outlets":[…]}`, the search diacritic-insensitive.
pub async fn outlets(
    State(st): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let kind = opt(&q, "kind").map(|k| kind_of(&k)).transpose()?;
    let req = Request::OutletSearch {
        q: opt(&q, "q"),
        kind,
        commune: opt(&q, "commune"),
    };
    match exec(&st, req).await {
        Response::Outlets { outlets } => Ok(Json(json!({ "outlets": outlets }))),
        other => Err(unexpected(other)),
    }
}

/// `POST /api/outlets`: registers a facility (fields as `outlet add`'s flags); 201 `{"id",…}`.
pub async fn outlet_add(State(st): State<AppState>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let args = typed(fields_of(&body)?)?;
    created(exec(&st, Request::OutletAdd(args)).await)
}

/// `POST /api/outlets/{id}/correct`: corrects a facility (close, reopen, certifications…).
pub async fn outlet_correct(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut obj = fields_of(&body)?;
    obj.insert("id".into(), json!(id));
    let args = typed(obj)?;
    created(exec(&st, Request::OutletCorrect(args)).await)
}

fn parse_bool(k: &str, v: &str) -> Result<bool, ApiError> {
    match v {
        "true" | "1" | "yes" => Ok(true),
        "false" | "0" | "no" => Ok(false),
        _ => Err(ApiError::field(
            k,
            format!("'{v}' không phải true/false / is not true or false"),
        )),
    }
}

fn parse_num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, ApiError> {
    v.parse().map_err(|_| {
        ApiError::field(
            k,
            format!("'{v}' không phải số hợp lệ / is not a valid number"),
        )
    })
}

/// `GET /api/surveys?kind=&year=&review=&conflict=&unsent=&offset=&limit=`: `{"total","offset",
/// "limit","surveys":[…]}`, newest survey date first.
pub async fn surveys(
    State(st): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let review = opt(&q, "review")
        .map(|r| {
            serde_json::from_value::<ReviewStatus>(json!(r)).map_err(|_| {
                ApiError::field(
                    "review",
                    format!("'{r}' không phải submitted, verified, returned / is not submitted, verified or returned"),
                )
            })
        })
        .transpose()?;
    let query = SurveyQuery {
        kind: opt(&q, "kind"),
        year: opt(&q, "year").map(|y| parse_num("year", &y)).transpose()?,
        review,
        conflict: opt(&q, "conflict")
            .map(|v| parse_bool("conflict", &v))
            .transpose()?,
        unsent: opt(&q, "unsent")
            .map(|v| parse_bool("unsent", &v))
            .transpose()?,
        offset: opt(&q, "offset")
            .map(|v| parse_num("offset", &v))
            .transpose()?
            .unwrap_or(0),
        limit: opt(&q, "limit")
            .map(|v| parse_num("limit", &v))
            .transpose()?,
    };
    let (offset, limit) = (
        query.offset,
        query.limit.unwrap_or(50).clamp(1, ops::MAX_PAGE),
    );
    match exec(&st, Request::SurveyPage(query)).await {
        Response::SurveyPage { total, surveys } => Ok(Json(
            json!({ "total": total, "offset": offset, "limit": limit, "surveys": surveys }),
        )),
        other => Err(unexpected(other)),
    }
}

/// `POST /api/surveys {"type":"market"|"retail", …, "confirm"?}`: 201 `{"id","message","warnings"}`
/// once durable; 409 `{"error","warnings","confirm_required"}` when warnings need `"confirm": true`.
pub async fn survey_add(State(st): State<AppState>, body: Bytes) -> Result<HttpResponse, ApiError> {
    let mut obj = fields_of(&body)?;
    let confirm = matches!(obj.remove("confirm"), Some(Value::Bool(true)));
    match obj.get("type").and_then(Value::as_str) {
        Some("market") | Some("retail") => {}
        other => {
            return Err(ApiError::field(
                "type",
                format!(
                "Loại khảo sát phải là market hoặc retail / type must be market or retail, not {}",
                other.unwrap_or("(none)")
            ),
            ))
        }
    }
    let survey = match obj.remove("type").as_ref().and_then(Value::as_str) {
        Some("market") => ImportRow::Market(typed(obj)?),
        _ => ImportRow::Retail(typed(obj)?),
    };
    created(exec(&st, Request::SurveyAdd { survey, confirm }).await)
}

async fn detail(st: &AppState, id: &str) -> Result<Box<ops::SurveyDetail>, ApiError> {
    match exec(st, Request::SurveyShow { id: id.to_string() }).await {
        Response::Survey { detail } => Ok(detail),
        Response::Error {
            code,
            message,
            field,
        } => {
            let mut e = error_of(code, message, field);
            if e.status == StatusCode::BAD_REQUEST && e.field.as_deref() == Some("id") {
                e.status = StatusCode::NOT_FOUND;
            }
            Err(e)
        }
        other => Err(unexpected(other)),
    }
}

/// `GET /api/surveys/{id}`: `{"survey","heads","history"}` (heads winner first; several = conflict).
pub async fn survey(
    State(st): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(detail(&st, &id).await?)))
}

/// `POST /api/surveys/{id}/correct {fields…, "heads"?: [hash…]}`: a correction superseding every
/// current head (so it resolves a conflict). With `heads`, refused (409) unless they are exactly the
/// current heads (the record changed since the page showed it).
pub async fn survey_correct(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let mut obj = fields_of(&body)?;
    if let Some(h) = obj.remove("heads") {
        let mut want: Vec<String> = serde_json::from_value(h).map_err(|_| {
            ApiError::field(
                "heads",
                "heads phải là danh sách mã phiên bản / heads must be a list of version hashes",
            )
        })?;
        let d = detail(&st, &id).await?;
        let mut have: Vec<String> = d.heads.iter().map(|h| h.hash.clone()).collect();
        want.sort();
        have.sort();
        if want != have {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "Bản ghi đã thay đổi, tải lại / The record changed since: reload it",
            )
            .with("field", json!("heads"))
            .with("heads", json!(have)));
        }
    }
    obj.insert("id".into(), json!(id));
    let args = typed(obj)?;
    created(exec(&st, Request::SurveyCorrect(args)).await)
}

/// `POST /api/surveys/{id}/retract {"reason"}`.
pub async fn survey_retract(
    State(st): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let obj = fields_of(&body)?;
    let reason = match obj.get("reason") {
        Some(Value::String(s)) => s.clone(),
        None => String::new(),
        Some(_) => {
            return Err(ApiError::field(
                "reason",
                "Lý do phải là chữ / reason must be text",
            ))
        }
    };
    created(exec(&st, Request::SurveyRetract { id, reason }).await)
}

/// `POST /api/campaigns`: records a campaign event (fields as `campaign add`'s flags).
pub async fn campaign_add(
    State(st): State<AppState>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let args = typed(fields_of(&body)?)?;
    created(exec(&st, Request::CampaignAdd(args)).await)
}

async fn run_sync(st: &AppState) -> Response {
    {
        let mut p = st.app.progress.lock().unwrap_or_else(|p| p.into_inner());
        *p = SyncProgress {
            running: true,
            ..SyncProgress::default()
        };
    }
    let app = st.app.clone();
    let mut on = move |pr: crate::sync::Progress| {
        let mut p = app.progress.lock().unwrap_or_else(|p| p.into_inner());
        match pr {
            crate::sync::Progress::ToSend(n) => p.to_send = n,
            crate::sync::Progress::Sent(n) => p.sent += n,
            crate::sync::Progress::Received(n) => p.received += n,
        }
    };
    let r = ops::execute(&st.app.ctx, Request::Sync, &mut on).await;
    let mut p = st.app.progress.lock().unwrap_or_else(|p| p.into_inner());
    p.running = false;
    match &r {
        Response::Synced { report } => {
            p.ok = Some(true);
            p.message = Some(crate::history::describe(&Ok(*report)));
        }
        Response::Error { message, .. } => {
            p.ok = Some(false);
            p.message = Some(message.clone());
        }
        _ => {}
    }
    r
}

/// `POST /api/sync`: syncs now; 200 `{"ok":true,"message","report"}`, or 503 `{"error","pending"}`
/// when the hub is unreachable (nothing is lost).
pub async fn sync(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    match run_sync(&st).await {
        Response::Synced { report } => Ok(Json(json!({
            "ok": true,
            "message": crate::history::describe(&Ok(report)),
            "report": report,
        }))),
        other => {
            let pending = crate::sync::pending(&st.app.ctx.store).unwrap_or(0);
            Err(unexpected(other).with("pending", json!(pending)))
        }
    }
}

/// `GET /api/sync/progress`: the running (or last) sync's counts.
pub async fn sync_progress(State(st): State<AppState>) -> Json<Value> {
    let p = st
        .app
        .progress
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Json(json!(p))
}

/// `GET /api/syncs`: the last sync attempts, newest first.
pub async fn syncs(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    match exec(&st, Request::SyncHistory).await {
        Response::SyncHistory { attempts } => Ok(Json(json!({ "syncs": attempts }))),
        other => Err(unexpected(other)),
    }
}

/// `GET /api/plan`: `{"plan": PlanDef | null}`.
pub async fn plan(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    match exec(&st, Request::Plan).await {
        Response::Plan { plan } => Ok(Json(json!({ "plan": plan }))),
        other => Err(unexpected(other)),
    }
}

/// `POST /api/import?commit=` with a CSV or XLSX body: every bad row `{"line","field","message"}`
/// (400, nothing saved); without `commit=true` the rows are only checked (200 `{"checked","rows"}`);
/// with it, all are saved in one atomic batch (201 `{"saved":[{line,id,warnings}]}`).
pub async fn import(
    State(st): State<AppState>,
    Query(q): Query<std::collections::HashMap<String, String>>,
    body: Bytes,
) -> Result<HttpResponse, ApiError> {
    let commit = opt(&q, "commit")
        .map(|v| parse_bool("commit", &v))
        .transpose()?
        .unwrap_or(false);
    let (rows, mut errors) = tokio::task::spawn_blocking(move || super::sheet::rows_of(&body))
        .await
        .map_err(ApiError::internal)??;
    let bad = |mut errors: Vec<crate::import::LineError>| {
        errors.sort_by_key(|e| e.line);
        ApiError::bad(format!(
            "Không lưu gì / Nothing saved: {} dòng lỗi / bad lines",
            errors.len()
        ))
        .with("errors", json!(errors))
    };
    // Every row is checked, those that parsed too, so the clerk sees every bad row at once.
    let checked = match exec(&st, Request::SurveyImportCheck { rows: rows.clone() }).await {
        Response::ImportChecked { checked, errors: e } => {
            errors.extend(e);
            checked
        }
        other => return Err(unexpected(other)),
    };
    if !errors.is_empty() {
        return Err(bad(errors));
    }
    if !commit {
        return Ok(
            Json(json!({ "checked": checked.len(), "rows": checked, "errors": [] }))
                .into_response(),
        );
    }
    match exec(&st, Request::SurveyImport { rows }).await {
        Response::Imported { saved, errors } if errors.is_empty() => Ok((
            StatusCode::CREATED,
            Json(json!({ "saved": saved, "message": format!("Đã lưu {} khảo sát / Saved {} surveys", saved.len(), saved.len()) })),
        )
            .into_response()),
        Response::Imported { errors, .. } => Err(bad(errors)),
        other => Err(unexpected(other)),
    }
}
