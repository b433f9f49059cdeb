//! The hub's dashboard: an axum HTTP server on the running hub's tokio runtime, sharing its `Hub`
//! (sled is one process), stopping when the hub stops.
//!
//! Pages are one embedded HTML shell plus vanilla JS and CSS (no build step); the JS reads the JSON API
//! under `/api`. Exports (CSV, XLSX) and the printable annual report are rendered here from the same
//! data. Every `/api/*`, `/export/*` and `/report/*` route needs an operator's session (see `auth`);
//! `/metrics` takes a session or the metrics bearer token (see `metrics`). `tls` serves it all over HTTPS.
//!
//! Architecture invariant: handlers never panic on request input; store work runs in `spawn_blocking`.

pub mod api;
pub mod auth;
pub mod drop;
pub mod export;
pub mod i18n;
pub mod metrics;
pub mod pages;
pub mod tls;
pub mod view;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::json;

use crate::store::Hub;

/// What every handler shares: the hub and the operators' sessions.
#[derive(Clone)]
pub struct AppState {
    /// The running hub's store.
    pub hub: Arc<Hub>,
    /// Sessions and failed-login counters.
    pub auth: Arc<auth::Auth>,
    /// Served over HTTPS: the session cookie is `Secure`.
    pub secure: bool,
    /// The bearer token that opens `GET /metrics` besides an operator's session.
    pub metrics_token: Option<Arc<str>>,
}

/// How the dashboard serves.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// HTTPS with this configuration (plain HTTP without).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// `--metrics-token`.
    pub metrics_token: Option<String>,
}

/// The dashboard serving in this process.
#[derive(Debug)]
pub struct Dashboard {
    /// The bound address.
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Dashboard {
    /// Waits until the server has shut down (at most 10 s after the stop: open requests finish first).
    pub async fn wait(self) {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(10), self.task).await;
    }
}

/// Why a `--http` address was refused.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    /// Not an address or port.
    #[error("--http wants PORT, IP:PORT or [IPv6]:PORT, not '{0}' / địa chỉ không hợp lệ")]
    Malformed(String),
    /// All interfaces without `--http-public`.
    #[error(
        "--http {0} would expose the dashboard on every interface; add --http-public to mean it, \
         or give one IP / bảng điều khiển sẽ mở trên mọi giao diện mạng: thêm --http-public"
    )]
    Public(String),
}

/// Parses `--http`: `PORT` means `127.0.0.1:PORT`; an unspecified IP (`0.0.0.0`, `[::]`) needs
/// `public`; a loopback or one explicit IP is taken as given.
pub fn parse_addr(s: &str, public: bool) -> Result<SocketAddr, AddrError> {
    let s = s.trim();
    let addr = if let Ok(port) = s.parse::<u16>() {
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    } else if let Some(port) = s.strip_prefix("localhost:") {
        let port = port
            .parse::<u16>()
            .map_err(|_| AddrError::Malformed(s.into()))?;
        SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port)
    } else {
        s.parse::<SocketAddr>()
            .map_err(|_| AddrError::Malformed(s.into()))?
    };
    if addr.ip().is_unspecified() && !public {
        return Err(AddrError::Public(s.into()));
    }
    Ok(addr)
}

/// An API error: a status and a bilingual message, sent as `{"error": …}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Bilingual message.
    pub message: String,
}

impl ApiError {
    /// 400 with a message.
    pub fn bad(msg: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message: msg.into(),
        }
    }
    /// 404 with a message.
    pub fn not_found(msg: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::NOT_FOUND,
            message: msg.into(),
        }
    }
    /// 500 from an internal failure (logged, not shown in detail).
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "dashboard request failed");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!("Lỗi máy chủ / Server error: {e}"),
        }
    }
}

impl From<crate::Error> for ApiError {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Invalid(m) => ApiError::bad(m),
            e => ApiError::internal(e),
        }
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> Self {
        ApiError::internal(format!("{e:#}"))
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(json!({ "error": self.message }))).into_response()
    }
}

/// Runs blocking store work off the async threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)?
}

/// A file download: content type, file name, bytes.
pub fn download(content_type: &'static str, filename: &str, body: Vec<u8>) -> Response {
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{filename}\"")) {
        h.insert(header::CONTENT_DISPOSITION, v);
    }
    r
}

/// The dashboard's routes over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(pages::shell))
        .route("/units/{code}", get(pages::shell))
        .route("/records", get(pages::shell))
        .route("/records/{id}", get(pages::shell))
        .route("/static/app.js", get(pages::app_js))
        .route("/static/app.css", get(pages::app_css))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/overview", get(api::overview))
        .route("/api/units", get(api::units))
        .route("/api/units/{code}", get(api::unit))
        .route("/api/records", get(api::records))
        .route("/api/records/{id}", get(api::record))
        .route("/api/records/{id}/review", post(api::review))
        .route(
            "/api/drop",
            post(drop::upload).layer(axum::extract::DefaultBodyLimit::max(drop::MAX_UPLOAD)),
        )
        .route("/export/records.csv", get(export::records_csv))
        .route("/export/records.xlsx", get(export::records_xlsx))
        .route("/export/indicators.csv", get(export::indicators_csv))
        .route("/export/indicators.xlsx", get(export::indicators_xlsx))
        .route("/export/annual-report.xlsx", get(export::annual_xlsx))
        .route("/report/annual", get(export::annual_html))
        .route("/metrics", get(metrics::metrics))
        .fallback(|| async { ApiError::not_found("Không tìm thấy / Not found") })
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state)
}

/// Binds `addr` and serves the dashboard until `stop` turns true; over HTTPS when `opts.tls` is given.
pub async fn start(
    hub: Arc<Hub>,
    addr: SocketAddr,
    opts: Options,
    stop: tokio::sync::watch::Receiver<bool>,
) -> crate::Result<Dashboard> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        hub,
        auth: Arc::new(auth::Auth::default()),
        secure: opts.tls.is_some(),
        metrics_token: opts.metrics_token.map(Arc::from),
    };
    let task = spawn_serve(listener, router(state), opts.tls, stop)?;
    tracing::info!(%addr, "dashboard listening");
    Ok(Dashboard { addr, task })
}

/// Serves `app` on `listener` until `stop` turns true, over HTTPS when `tls` is given: the
/// provincial dashboard's and the national one's (`national::http`).
pub fn spawn_serve(
    listener: tokio::net::TcpListener,
    app: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> crate::Result<tokio::task::JoinHandle<()>> {
    let shutdown = async move {
        let _ = stop.wait_for(|s| *s).await;
    };
    Ok(match tls {
        None => tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "dashboard server stopped");
            }
        }),
        Some(config) => {
            let listener = tls::TlsListener::new(listener, config)?;
            tokio::spawn(async move {
                if let Err(e) = axum::serve(listener, app)
                    .with_graceful_shutdown(shutdown)
                    .await
                {
                    tracing::warn!(error = %e, "dashboard server stopped");
                }
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_addresses() {
        assert_eq!(
            parse_addr("8080", false).unwrap().to_string(),
            "127.0.0.1:8080"
        );
        assert_eq!(
            parse_addr("localhost:81", false).unwrap().to_string(),
            "127.0.0.1:81"
        );
        assert!(parse_addr("[::1]:8080", false).is_ok());
        assert!(matches!(
            parse_addr("0.0.0.0:8080", false),
            Err(AddrError::Public(_))
        ));
        assert!(parse_addr("0.0.0.0:8080", true).is_ok());
        assert!(parse_addr("192.0.2.7:8080", false).is_ok());
        assert!(matches!(
            parse_addr("example.org:80", false),
            Err(AddrError::Malformed(_))
        ));
    }
}
