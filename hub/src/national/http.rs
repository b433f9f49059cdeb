//! The national dashboard (`serve --http ADDR` on a national hub): one page with the province table
//! side by side (click a province for its own report), in Vietnamese or English, and
//! `GET /api/national[?year=Y]`, the JSON `indicators --json` prints on a national hub. Login is the
//! provincial dashboard's (`crate::http::auth`, operators added with `baobi-hub operator add` on the
//! national hub, kept in `N_DIR/national/hub`). The report is computed on the stores `serve` holds
//! (`control::Stores`).

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Query;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Deserialize;

use crate::http::auth::{self, Operator};
use crate::http::{ApiError, AppState};
use crate::store::Hub;

/// What the dashboard's handlers share besides the login state.
#[derive(Clone)]
pub struct Shared {
    /// The province stores `serve` holds.
    pub stores: Arc<super::control::Stores>,
}

/// `?year=`.
#[derive(Debug, Deserialize, Default)]
pub struct YearQ {
    /// Reporting year.
    pub year: Option<u16>,
}

async fn national(
    _op: Operator,
    Extension(sh): Extension<Shared>,
    Query(q): Query<YearQ>,
) -> Result<Json<super::report::NationalReport>, ApiError> {
    let r =
        tokio::task::spawn_blocking(move || sh.stores.report(q.year).map_err(ApiError::internal))
            .await
            .map_err(ApiError::internal)??;
    Ok(Json(r))
}

const PAGE: &str = include_str!("national.html");

async fn page() -> Response {
    Html(PAGE).into_response()
}

/// Serves the national dashboard on `addr` until `stop` (over HTTPS with `tls`, the provincial
/// dashboard's `http::tls`); returns the bound address.
pub async fn start(
    operators: Arc<Hub>,
    shared: Shared,
    addr: SocketAddr,
    tls: Option<Arc<rustls::ServerConfig>>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> crate::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let addr = listener.local_addr()?;
    let state = AppState {
        hub: operators,
        auth: Arc::new(auth::Auth::default()),
        secure: tls.is_some(),
        metrics_token: None,
    };
    let app = Router::new()
        .route("/", get(page))
        .route("/api/login", post(auth::login))
        .route("/api/logout", post(auth::logout))
        .route("/api/me", get(auth::me))
        .route("/api/national", get(national))
        .fallback(|| async { ApiError::not_found("Không tìm thấy / Not found") })
        .layer(Extension(shared))
        .layer(axum::extract::DefaultBodyLimit::max(64 * 1024))
        .with_state(state);
    let task = crate::http::spawn_serve(listener, app, tls, stop)?;
    Ok((addr, task))
}
