//! The long-running agent: keeps the store open, serves the control socket `DIR/agent.sock` (one JSON
//! request per line, one JSON response per line) and syncs on a schedule and soon after each save.
//!
//! sled locks its directory, so while the daemon runs every other command reaches the store through
//! this socket; `client_request` is the CLI's side of it. While the hub is unreachable the sync loop
//! backs off exponentially with jitter, from 2 s up to the interval.
//!
//! With `--http` / `--http-lan` it also serves the office app (`crate::http`) on the same store. It
//! starts on a store not enrolled yet (the app's first run asks for the token): the sync loop then
//! waits until an enrollment (through the app, the socket or `init`) tells it to start.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::ops::{self, Ctx, Request, Response};
use crate::sync;

/// File name of the control socket inside the data directory.
pub const SOCKET: &str = "agent.sock";
/// First backoff delay after a failed sync.
pub const MIN_BACKOFF: Duration = Duration::from_secs(2);
/// Quiet time after a save before syncing.
pub const DEBOUNCE: Duration = Duration::from_secs(1);

/// What can go wrong running the daemon or talking to it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Socket I/O failed.
    #[error("control socket: {0}")]
    Io(#[from] std::io::Error),
    /// The daemon answered something that is not a response.
    #[error("control socket: bad answer: {0}")]
    BadAnswer(String),
}

/// Path of the control socket for data directory `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET)
}

/// Sends `req` to a daemon running on `dir`. `None` when no daemon listens there.
pub async fn client_request(dir: &Path, req: &Request) -> Option<Result<Response, Error>> {
    let stream = UnixStream::connect(socket_path(dir)).await.ok()?;
    Some(exchange(stream, req).await)
}

async fn exchange(stream: UnixStream, req: &Request) -> Result<Response, Error> {
    let (r, mut w) = stream.into_split();
    let mut line = serde_json::to_string(req).map_err(|e| Error::BadAnswer(e.to_string()))?;
    line.push('\n');
    w.write_all(line.as_bytes()).await?;
    w.flush().await?;
    let mut answer = String::new();
    BufReader::new(r).read_line(&mut answer).await?;
    serde_json::from_str(&answer).map_err(|e| Error::BadAnswer(e.to_string()))
}

async fn serve_conn(stream: UnixStream, ctx: Ctx) -> Result<(), Error> {
    let (r, mut w) = stream.into_split();
    let mut lines = BufReader::new(r).lines();
    while let Some(line) = lines.next_line().await? {
        if line.trim().is_empty() {
            continue;
        }
        let resp = match serde_json::from_str::<Request>(&line) {
            Ok(req) => {
                match &req {
                    // Never log the enrollment token.
                    Request::Enroll { .. } => tracing::debug!("control request: enroll"),
                    _ => tracing::debug!(?req, "control request"),
                }
                ops::execute(&ctx, req, &mut |_| {}).await
            }
            Err(e) => Response::Error {
                field: None,
                code: ops::EXIT_INVALID,
                message: format!("bad request: {e}"),
            },
        };
        let mut out = serde_json::to_string(&resp).map_err(|e| Error::BadAnswer(e.to_string()))?;
        out.push('\n');
        w.write_all(out.as_bytes()).await?;
        w.flush().await?;
    }
    Ok(())
}

/// `d` plus up to a quarter of it at random, so that offices do not retry in step.
fn jitter(d: Duration) -> Duration {
    let ms = d.as_millis() as u64;
    Duration::from_millis(ms + rand::thread_rng().gen_range(0..=ms / 4))
}

async fn sync_loop(ctx: Ctx, notify: Arc<tokio::sync::Notify>, interval: Duration) {
    let mut delay = Duration::ZERO;
    let mut backoff = MIN_BACKOFF;
    loop {
        if !matches!(ctx.store.hub(), Ok(Some(_))) {
            // Not enrolled: nothing to sync until an enrollment saves the hub and notifies.
            notify.notified().await;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = notify.notified() => {
                tokio::time::sleep(DEBOUNCE).await;
            }
        }
        let result = {
            let _guard = ctx.sync_lock.lock().await;
            let r = sync::sync(&ctx.store, &mut |_| {}).await;
            crate::history::record(&ctx.store, &r);
            r
        };
        match result {
            Ok(r) => {
                tracing::info!(
                    sent = r.sent,
                    received = r.received,
                    up_to_date = r.up_to_date,
                    "sync done"
                );
                backoff = MIN_BACKOFF;
                delay = interval;
            }
            Err(sync::Error::Unreachable {
                addr,
                detail,
                pending,
            }) => {
                delay = jitter(backoff);
                tracing::warn!(%addr, %detail, pending, retry_in = ?delay, "hub unreachable");
                backoff = (backoff * 2).min(interval.max(MIN_BACKOFF));
            }
            Err(e @ sync::Error::HubMismatch { .. }) => {
                // Not the link: another hub answers, and backing off would hide it. Shown by
                // `status`; tried again at the normal interval in case the address is put right.
                tracing::error!(error = %e, retry_in = ?interval, "hub certificate mismatch");
                backoff = MIN_BACKOFF;
                delay = interval;
            }
            Err(e) => {
                tracing::warn!(error = %e, "sync failed");
                delay = interval;
            }
        }
    }
}

/// File in the data directory holding the office app's loopback URL while the daemon serves it
/// (`baobi-agent app` reads it to open the browser at the running daemon).
pub const APP_URL_FILE: &str = "app.url";
/// Like [`APP_URL_FILE`], the LAN listener's URL (`--http-lan`).
pub const APP_LAN_URL_FILE: &str = "app-lan.url";

/// Runs the daemon on `ctx.store` (whose directory is `dir`) until `shutdown` completes, serving the
/// office app on the listeners of `http` (none by default).
pub async fn run(
    ctx: Ctx,
    dir: &Path,
    interval: Duration,
    http: &crate::http::Options,
    shutdown: impl Future<Output = ()>,
) -> Result<(), Error> {
    let path = socket_path(dir);
    // We hold sled's lock on the directory, so any socket file here is stale.
    let _ = std::fs::remove_file(&path);
    let listener = UnixListener::bind(&path)?;
    let notify = Arc::new(tokio::sync::Notify::new());
    let ctx = Ctx {
        saved: Some(notify.clone()),
        ..ctx
    };
    tracing::info!(socket = %path.display(), interval = ?interval, "daemon started");
    if !matches!(ctx.store.hub(), Ok(Some(_))) {
        tracing::info!("not enrolled yet: waiting for an enrollment before syncing");
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let url_file = dir.join(APP_URL_FILE);
    let lan_file = dir.join(APP_LAN_URL_FILE);
    let _ = std::fs::remove_file(&lan_file);
    let served = if http.loopback.is_some() || http.lan.is_some() {
        let app = crate::http::App::new(ctx.clone())
            .map_err(|e| Error::Io(std::io::Error::other(e.to_string())))?;
        let served = crate::http::start(app, http, stop_rx).await?;
        if let Some(a) = served.lan {
            std::fs::write(&lan_file, format!("http://{a}/\n"))?;
        }
        // Written last: its presence means every listener is up.
        if let Some(a) = served.loopback {
            std::fs::write(&url_file, format!("http://{a}/\n"))?;
        }
        Some(served)
    } else {
        let _ = std::fs::remove_file(&url_file);
        None
    };
    let syncer = tokio::spawn(sync_loop(ctx.clone(), notify, interval));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            acc = listener.accept() => match acc {
                Ok((stream, _)) => {
                    let ctx = ctx.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve_conn(stream, ctx).await {
                            tracing::warn!(error = %e, "control connection failed");
                        }
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accept failed"),
            }
        }
    }
    tracing::info!("daemon stopping");
    let _ = stop_tx.send(true);
    if let Some(s) = served {
        let _ = std::fs::remove_file(&url_file);
        let _ = std::fs::remove_file(&lan_file);
        s.wait().await;
    }
    // Let a sync in progress finish its durable writes before stopping.
    let _guard = ctx.sync_lock.lock().await;
    syncer.abort();
    let _ = std::fs::remove_file(&path);
    Ok(())
}
