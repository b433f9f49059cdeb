//! The office app's JSON API (README "Office app JSON API"): each handler turns its request into an
//! `ops::Request`, runs `ops::execute` off the async threads, and turns the `ops::Response` into JSON
//! with the right status. JSON field names are those of `survey import`'s JSON Lines.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::ops::{self, Request, Response};

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
}

/// Runs `req` through `ops::execute`.
pub async fn exec(st: &AppState, req: Request) -> Response {
    ops::execute(&st.app.ctx, req, &mut |_| {}).await
}

/// An `ops` error as an API error: invalid input is 400 with its field, an unreachable hub 503,
/// not enrolled 409.
pub fn error_of(code: i32, message: String, field: Option<String>) -> ApiError {
    let status = match code {
        ops::EXIT_INVALID => StatusCode::BAD_REQUEST,
        ops::EXIT_UNREACHABLE => StatusCode::SERVICE_UNAVAILABLE,
        _ if message == ops::Error::NotEnrolled.to_string() => StatusCode::CONFLICT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError {
        field,
        ..ApiError::new(status, message)
    }
}

fn unexpected(r: Response) -> ApiError {
    match r {
        Response::Error { code, message } => error_of(code, message, None),
        other => ApiError::internal(format!("unexpected answer: {other:?}")),
    }
}

fn todo_route() -> ApiError {
    ApiError::new(StatusCode::NOT_IMPLEMENTED, "Chưa có / Not implemented yet")
}

/// `GET /api/status`: `{"enrolled": false}` before enrollment, else the office's status.
pub async fn status(State(st): State<AppState>) -> Result<Json<Value>, ApiError> {
    if st.app.ctx.store.hub()?.is_none() {
        return Ok(Json(json!({ "enrolled": false })));
    }
    match exec(&st, Request::Status).await {
        Response::Status { status } => {
            let mut v = json!(status);
            v["enrolled"] = json!(true);
            Ok(Json(v))
        }
        other => Err(unexpected(other)),
    }
}

macro_rules! stub {
    ($($name:ident),*) => {$(
        /// Not yet built.
        pub async fn $name() -> ApiError { todo_route() }
    )*};
}
stub!(
    enroll,
    units,
    outlets,
    outlet_add,
    outlet_correct,
    surveys,
    survey_add,
    survey,
    survey_correct,
    survey_retract,
    campaign_add,
    sync,
    sync_progress,
    syncs,
    plan,
    import
);
