//! The office app: an axum HTTP server inside the daemon, sharing its store (sled is one process),
//! serving the embedded pages (`assets`) and a JSON API under `/api` that is a thin translation to the
//! same `ops::Request` / `ops::execute` the CLI and the control socket use ("three doors").
//!
//! Two listeners: loopback (`--http`, the office PC's browser) and optionally the office LAN
//! (`--http-lan`, a phone or tablet paired by a 6-digit code). Every `/api` route needs a session
//! (`session`): on loopback the cookie `GET /` sets, on the LAN a paired device's cookie. A request
//! whose `Origin` is not the app's own is refused, so a web page the clerk happens to open cannot post
//! surveys into the office. Handlers never panic on input; store work runs in `spawn_blocking`.

pub mod api;
pub mod assets;
pub mod body;
pub mod session;
pub mod sheet;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::Router;
use serde_json::{json, Value};

use crate::ops::Ctx;

/// Largest request body, except imports.
pub const BODY_LIMIT: usize = 64 * 1024;
/// Largest import upload (CSV or XLSX).
pub const IMPORT_LIMIT: usize = 8 << 20;
/// The address `baobi-agent app` serves on by default.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8090";

/// Which listener a request came through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Door {
    /// `--http`: the office PC itself.
    Loopback,
    /// `--http-lan`: devices on the office network, once paired.
    Lan,
}

/// Home's indicators: the entries held and the day (`Date.0`) they were computed for, and the report
/// or the error.
pub type CachedIndicators = (u64, u32, Result<Value, String>);

/// What the app shares across requests and listeners.
pub struct App {
    /// The daemon's context (store, sync lock, save notifier).
    pub ctx: Ctx,
    /// Browser sessions, pairing codes, paired devices.
    pub sessions: session::Sessions,
    /// The sync running now, if any, for `GET /api/sync/progress`.
    pub progress: std::sync::Mutex<api::SyncProgress>,
    /// The office's indicators as last computed for Home, with the entries held and the day they
    /// were computed for: the view is a function of the entries, so they are recomputed only when an
    /// entry arrives or the day changes (each computation allocates per record).
    pub indicators: std::sync::Mutex<Option<CachedIndicators>>,
}

impl App {
    /// The app over the daemon's `ctx`.
    pub fn new(ctx: Ctx) -> crate::store::Result<Arc<App>> {
        let sessions = session::Sessions::new(&ctx.store)?;
        Ok(Arc::new(App {
            ctx,
            sessions,
            progress: Default::default(),
            indicators: Default::default(),
        }))
    }
}

/// Per-listener state.
#[derive(Clone)]
pub struct AppState {
    /// Shared app.
    pub app: Arc<App>,
    /// The listener.
    pub door: Door,
    /// The bound address of this listener.
    pub addr: SocketAddr,
}

/// Why a `--http` / `--http-lan` address was refused.
#[derive(Debug, thiserror::Error)]
pub enum AddrError {
    /// Not an address or port.
    #[error("địa chỉ không hợp lệ / not an address: '{0}' (PORT, IP:PORT or [IPv6]:PORT)")]
    Malformed(String),
    /// `--http` must stay on the PC.
    #[error(
        "--http {0} không phải địa chỉ nội bộ của máy / is not a loopback address; dùng --http-lan \
         cho mạng văn phòng / use --http-lan for the office network"
    )]
    NotLoopback(String),
}

/// Parses an address: `PORT` means `127.0.0.1:PORT`; `localhost:PORT` is loopback. With `loopback`,
/// only loopback addresses are accepted (`--http`); `--http-lan` takes any.
pub fn parse_addr(s: &str, loopback: bool) -> Result<SocketAddr, AddrError> {
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
    if loopback && !addr.ip().is_loopback() {
        return Err(AddrError::NotLoopback(s.into()));
    }
    Ok(addr)
}

/// An API error: a status, a bilingual message and, for invalid input, the field; sent as
/// `{"error": "vi / en", "field"?: …, …extra}`.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Bilingual message.
    pub message: String,
    /// The input field at fault.
    pub field: Option<String>,
    /// More members of the JSON object (e.g. `warnings`, `rows`).
    pub extra: serde_json::Map<String, Value>,
}

impl ApiError {
    /// An error with `status`.
    pub fn new(status: StatusCode, msg: impl Into<String>) -> Self {
        ApiError {
            status,
            message: msg.into(),
            field: None,
            extra: Default::default(),
        }
    }
    /// 400.
    pub fn bad(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, msg)
    }
    /// 400 naming the field.
    pub fn field(field: &str, msg: impl Into<String>) -> Self {
        ApiError {
            field: Some(field.into()),
            ..Self::bad(msg)
        }
    }
    /// 403.
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, msg)
    }
    /// 404.
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, msg)
    }
    /// 500 from an internal failure.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %e, "app request failed");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("Lỗi máy chủ / Server error: {e}"),
        )
    }
    /// Adds a member to the JSON body.
    pub fn with(mut self, key: &str, v: Value) -> Self {
        self.extra.insert(key.into(), v);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = self.extra;
        body.insert("error".into(), Value::String(self.message));
        if let Some(f) = self.field {
            body.insert("field".into(), Value::String(f));
        }
        (self.status, axum::Json(Value::Object(body))).into_response()
    }
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::internal(e)
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

fn asset_response(a: &assets::Asset) -> Response {
    let mut r = (StatusCode::OK, a.body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(a.content_type),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /` (and the app's page paths): the app's page. On loopback a request without a live session
/// gets a new one (cookie `baobi_session`).
async fn index(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let Some(a) = assets::find("index.html") else {
        return ApiError::not_found("Không tìm thấy / Not found").into_response();
    };
    let mut r = asset_response(a);
    r.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
        ),
    );
    if st.door == Door::Loopback && !st.app.sessions.loopback_ok(&headers) {
        let token = st.app.sessions.new_loopback();
        if let Ok(v) = HeaderValue::from_str(&session::cookie(session::COOKIE, &token)) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
    }
    r
}

/// `GET /assets/{file}`: an embedded file.
async fn asset(Path(file): Path<String>) -> Response {
    match assets::find(&file) {
        Some(a) => asset_response(a),
        None => ApiError::not_found("Không tìm thấy / Not found").into_response(),
    }
}

/// The app's routes for one listener.
pub fn router(st: AppState) -> Router {
    let import = Router::new()
        .route("/api/import", post(api::import))
        .layer(axum::extract::DefaultBodyLimit::max(IMPORT_LIMIT));
    Router::new()
        .route("/", get(index))
        .route("/app/{*rest}", get(index))
        .route("/assets/{file}", get(asset))
        .route("/api/status", get(api::status))
        .route("/api/enroll", post(api::enroll))
        .route("/api/units", get(api::units))
        .route("/api/outlets", get(api::outlets).post(api::outlet_add))
        .route("/api/outlets/{id}/correct", post(api::outlet_correct))
        .route("/api/surveys", get(api::surveys).post(api::survey_add))
        .route("/api/surveys/{id}", get(api::survey))
        .route("/api/surveys/{id}/correct", post(api::survey_correct))
        .route("/api/surveys/{id}/retract", post(api::survey_retract))
        .route("/api/campaigns", post(api::campaign_add))
        .route("/api/sync", post(api::sync))
        .route("/api/sync/progress", get(api::sync_progress))
        .route("/api/syncs", get(api::syncs))
        .route("/api/plan", get(api::plan))
        .route("/api/pair", post(session::pair))
        .route("/api/pairing", get(session::pairing))
        .route("/api/devices", get(session::devices))
        .route("/api/devices/{id}", delete(session::remove_device))
        .merge(import)
        .fallback(|| async { ApiError::not_found("Không tìm thấy / Not found") })
        .layer(axum::middleware::from_fn_with_state(
            st.clone(),
            session::guard,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(st)
}

/// Where the app listens.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--http`: loopback.
    pub loopback: Option<SocketAddr>,
    /// `--http-lan`: the office network.
    pub lan: Option<SocketAddr>,
}

/// The app's listeners serving in this process.
#[derive(Debug, Default)]
pub struct Served {
    /// Bound loopback address.
    pub loopback: Option<SocketAddr>,
    /// Bound LAN address.
    pub lan: Option<SocketAddr>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Served {
    /// Waits until the servers have shut down (at most 10 s after the stop).
    pub async fn wait(self) {
        for t in self.tasks {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(10), t).await;
        }
    }
}

/// Binds the listeners of `opts` and serves until `stop` turns true.
pub async fn start(
    app: Arc<App>,
    opts: &Options,
    stop: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<Served> {
    let mut served = Served::default();
    for (door, addr) in [(Door::Loopback, opts.loopback), (Door::Lan, opts.lan)] {
        let Some(addr) = addr else { continue };
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let st = AppState {
            app: app.clone(),
            door,
            addr,
        };
        let mut stop = stop.clone();
        let shutdown = async move {
            let _ = stop.wait_for(|s| *s).await;
        };
        let svc = router(st).into_make_service_with_connect_info::<SocketAddr>();
        served.tasks.push(tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, svc)
                .with_graceful_shutdown(shutdown)
                .await
            {
                tracing::warn!(error = %e, "app server stopped");
            }
        }));
        match door {
            Door::Loopback => served.loopback = Some(addr),
            Door::Lan => served.lan = Some(addr),
        }
        tracing::info!(%addr, ?door, "office app listening");
    }
    Ok(served)
}

/// `{"ok": true}`.
pub fn ok() -> Value {
    json!({ "ok": true })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            parse_addr("8090", true).unwrap().to_string(),
            "127.0.0.1:8090"
        );
        assert!(parse_addr("localhost:81", true).is_ok());
        assert!(parse_addr("[::1]:8090", true).is_ok());
        assert!(matches!(
            parse_addr("0.0.0.0:8090", true),
            Err(AddrError::NotLoopback(_))
        ));
        assert!(parse_addr("0.0.0.0:8090", false).is_ok());
        assert!(matches!(
            parse_addr("x:1", false),
            Err(AddrError::Malformed(_))
        ));
    }
}
