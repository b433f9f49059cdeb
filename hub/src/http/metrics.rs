//! `GET /metrics`: the hub's counters ([`crate::metrics`]) in Prometheus text format 0.0.4, on the
//! dashboard's listener. Open to a logged-in operator (session cookie) or to a scraper presenting
//! `Authorization: Bearer TOKEN` with the token given to `serve --metrics-token`.

use axum::extract::State;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};

use super::{auth, blocking, ApiError, AppState};

/// The content type of the text exposition format.
pub const CONTENT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Compares in time independent of where the bytes differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// Whether the request may read the metrics: a bearer token equal to the configured one, or else
/// an operator's session.
fn allowed(headers: &HeaderMap, st: &AppState) -> Result<(), ApiError> {
    if let Some(v) = headers.get(AUTHORIZATION) {
        let given = v
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim);
        return match (given, st.metrics_token.as_deref()) {
            (Some(g), Some(t)) if same(g.as_bytes(), t.as_bytes()) => Ok(()),
            _ => Err(ApiError {
                status: axum::http::StatusCode::UNAUTHORIZED,
                message: "Mã truy cập sai / Wrong bearer token".into(),
            }),
        };
    }
    auth::operator_of(headers, st).map(|_| ())
}

/// `GET /metrics`.
pub async fn metrics(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if let Err(e) = allowed(&headers, &st) {
        let mut r = e.into_response();
        r.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        return r;
    }
    let hub = st.hub.clone();
    let text = blocking(move || {
        let bytes = crate::metrics::dir_bytes(hub.dir());
        Ok(hub.metrics().render(bytes))
    })
    .await;
    match text {
        Ok(t) => {
            let mut r = t.into_response();
            r.headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static(CONTENT));
            r
        }
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tokens_compare_whole() {
        assert!(super::same(b"abcdef", b"abcdef"));
        assert!(!super::same(b"abcdef", b"abcdeg"));
        assert!(!super::same(b"abcdef", b"abcde"));
        assert!(!super::same(b"", b"a"));
    }
}
