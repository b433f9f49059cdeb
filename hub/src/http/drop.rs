//! `POST /api/drop`: the dashboard takes an office's drop file (the bytes as the body,
//! `Content-Type: application/octet-stream`) and merges it as `baobi-hub drop import` does, answering
//! with what was merged. An operator's session is required, and the same CSRF rule as the other POST
//! routes holds (the SameSite=Strict session cookie; the non-form content type also needs a CORS
//! preflight a foreign page cannot pass).

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header::CONTENT_TYPE, HeaderMap};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Operator;
use super::{blocking, ApiError, AppState};

/// Largest body the route accepts: a drop file's limit.
pub const MAX_UPLOAD: usize = baobi_proto::drop::MAX_FILE;

/// `POST /api/drop` with the file as the body: `{office, label, unit, entries, new, at_hub}`.
pub async fn upload(
    State(st): State<AppState>,
    Operator(op): Operator,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let ty = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if !ty.starts_with("application/octet-stream") {
        return Err(ApiError::bad(
            "Cần gửi tệp dạng application/octet-stream / Send the file as application/octet-stream",
        ));
    }
    let hub = st.hub.clone();
    blocking(move || {
        let i = crate::drop::import_bytes(&hub, &body)?;
        tracing::info!(operator = %op, office = %i.label, new = i.new, "drop file uploaded");
        Ok(Json(json!(i)))
    })
    .await
}
