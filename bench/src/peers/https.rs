//! HTTPS/1.1 over TCP with rustls, one JSON POST per record to an axum endpoint: how ODK Collect and
//! KoBoToolbox clients submit (they keep a "sent" flag per record; the server deduplicates by
//! instance id).
//!
//! The client keeps one keep-alive connection (hyper's HTTP/1.1 client over tokio-rustls) and sends
//! the records one request after another, each with the headers such a client sends (content type,
//! length, an API token, `X-OpenRosa-Version`). The server answers `201 Created` with an empty body
//! (`200 OK` for a duplicate): smaller than the OpenRosa XML answer real servers give, which favours
//! this peer. Round trips are requests. A no-change sync sends nothing at all (0 bytes, 0 round
//! trips: the client has nothing unsent, and it learns nothing from the server either); "lost sync
//! state" loses the sent flags, so everything is posted again.
//!
//! On a slow profile, posting 10,000 records one round trip each would take hours, so when a
//! scenario has more than `cap` records the first `cap` are posted and measured, and the figures are
//! extrapolated: the first request (which carries the TCP and TLS handshakes) as measured, plus the
//! mean of the others times the remaining count. Such figures are marked extrapolated; the remaining
//! records are stored at the server directly so later scenarios start from the same state.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use baobi_proto::wire::Body;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use super::{Dataset, PeerKind, PeerRun, Scenario};
use crate::link::Link;
use crate::meter::{Clock, Measure};
use crate::tls::{self, Cert};

/// One submission: the record with its instance id, as a form client posts it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Submission {
    /// `uuid:…`, unique per record: what the server deduplicates by.
    pub instance_id: String,
    /// The record's fields.
    pub record: Body,
}

type Submissions = Arc<Mutex<HashMap<String, Body>>>;

async fn submit(State(db): State<Submissions>, Json(s): Json<Submission>) -> StatusCode {
    let mut db = db.lock().unwrap_or_else(|p| p.into_inner());
    match db.entry(s.instance_id) {
        std::collections::hash_map::Entry::Occupied(_) => StatusCode::OK,
        std::collections::hash_map::Entry::Vacant(v) => {
            v.insert(s.record);
            StatusCode::CREATED
        }
    }
}

async fn serve(listener: TcpListener, acceptor: tokio_rustls::TlsAcceptor, db: Submissions) {
    let app = Router::new()
        .route("/submission", post(submit))
        .with_state(db);
    while let Ok((tcp, _)) = listener.accept().await {
        let (acceptor, app) = (acceptor.clone(), app.clone());
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            let Ok(tls) = acceptor.accept(tcp).await else {
                return;
            };
            let svc = hyper_util::service::TowerToHyperService::new(app);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// Counts the bytes an inner stream carries each way.
struct Counted<T> {
    inner: T,
    up: Arc<AtomicU64>,
    down: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for Counted<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        let n = buf.filled().len() - before;
        self.down.fetch_add(n as u64, Ordering::Relaxed);
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Counted<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = &r {
            self.up.fetch_add(*n as u64, Ordering::Relaxed);
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A UUID-shaped instance id derived from the record's dot (ODK's `uuid:` + 36 characters).
fn instance_id(author: &baobi_proto::AuthorId, seq: u64) -> String {
    let h = Sha256::digest([&author.0[..], &seq.to_be_bytes()].concat());
    let x: String = h.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..32]
    )
}

/// A figure snapshot: app bytes, wire bytes, wall and CPU time so far.
#[derive(Debug, Clone, Copy, Default)]
struct Snap {
    app_up: f64,
    app_down: f64,
    wire_up: f64,
    wire_down: f64,
    wall: f64,
    cpu: f64,
}

struct Client {
    addr: std::net::SocketAddr,
    connector: tokio_rustls::TlsConnector,
    token: String,
}

impl Client {
    /// Posts `subs` over one keep-alive connection; at most `cap` of them, extrapolating the rest.
    async fn post_all(
        &self,
        subs: &[Submission],
        cap: usize,
        link: &Link,
    ) -> anyhow::Result<(Measure, usize)> {
        link.reset_stats();
        if subs.is_empty() {
            return Ok((Measure::default(), 0));
        }
        let clock = Clock::start();
        let (up, down) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let snap = || {
            let (wall, cpu) = clock.stop();
            let w = link.stats();
            Snap {
                app_up: up.load(Ordering::Relaxed) as f64,
                app_down: down.load(Ordering::Relaxed) as f64,
                wire_up: w.up as f64,
                wire_down: w.down as f64,
                wall,
                cpu,
            }
        };
        let tcp = TcpStream::connect(self.addr).await?;
        tcp.set_nodelay(true)?;
        let name = rustls::pki_types::ServerName::try_from(tls::SERVER_NAME)?;
        let tls = self.connector.connect(name, tcp).await?;
        let io = Counted {
            inner: tls,
            up: up.clone(),
            down: down.clone(),
        };
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
        let driver = tokio::spawn(conn);
        let n = subs.len().min(cap.max(2));
        let mut first = Snap::default();
        for (i, s) in subs[..n].iter().enumerate() {
            let body = serde_json::to_vec(s)?;
            let req = hyper::Request::post("/submission")
                .header("host", self.addr.to_string())
                .header("content-type", "application/json")
                .header("authorization", format!("Token {}", self.token))
                .header("x-openrosa-version", "1.0")
                .body(Full::new(Bytes::from(body)))?;
            sender.ready().await?;
            let resp = sender.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            anyhow::ensure!(
                status == hyper::StatusCode::CREATED || status == hyper::StatusCode::OK,
                "server answered {status}"
            );
            if i == 0 {
                first = snap();
            }
        }
        drop(sender);
        let _ = driver.await;
        let last = snap();
        let m = if n == subs.len() {
            Measure {
                app_up: last.app_up as u64,
                app_down: last.app_down as u64,
                wire_up: last.wire_up as u64,
                wire_down: last.wire_down as u64,
                round_trips: n as u64,
                wall_s: last.wall,
                cpu_s: last.cpu,
                extrapolated: false,
            }
        } else {
            // first request as measured + (total - 1) × mean of requests 2..=n.
            let k = (subs.len() - 1) as f64 / (n - 1) as f64;
            let ext = |f: fn(&Snap) -> f64| f(&first) + (f(&last) - f(&first)) * k;
            Measure {
                app_up: ext(|s| s.app_up) as u64,
                app_down: ext(|s| s.app_down) as u64,
                wire_up: ext(|s| s.wire_up) as u64,
                wire_down: ext(|s| s.wire_down) as u64,
                round_trips: subs.len() as u64,
                wall_s: ext(|s| s.wall),
                cpu_s: ext(|s| s.cpu),
                extrapolated: true,
            }
        };
        Ok((m, n))
    }
}

/// Runs the four scenarios; `cap` bounds the requests actually sent per scenario.
pub async fn run(profile: &str, data: &Dataset, cap: usize) -> anyhow::Result<PeerRun> {
    let cert = Cert::new(tls::SERVER_NAME)?;
    let server_cfg = tls::server_tls(&cert, b"http/1.1", false)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let server_addr = listener.local_addr()?;
    let db: Submissions = Arc::default();
    let task = tokio::spawn(serve(
        listener,
        tokio_rustls::TlsAcceptor::from(Arc::new(server_cfg)),
        db.clone(),
    ));
    let link = Link::tcp(server_addr, profile).await?;
    let client_cfg = tls::client_tls(
        baobi_proto::identity::fingerprint(&cert.der),
        b"http/1.1",
        None,
    )?;
    let client = Client {
        addr: link.addr(),
        connector: tokio_rustls::TlsConnector::from(Arc::new(client_cfg)),
        token: "9f1c2a7be4d35f60a8b1c9e07d2f4a6b3c5e8d1f".into(),
    };
    let author = data.keypair.author();
    let subs: Vec<Submission> = data
        .numbered()
        .map(|(seq, b)| Submission {
            instance_id: instance_id(&author, seq),
            record: b.clone(),
        })
        .collect();
    let (first, extra) = subs.split_at(data.initial.len());
    // Records the extrapolation did not post are stored directly, so every scenario starts equal.
    let fill = |subs: &[Submission]| {
        let mut d = db.lock().unwrap_or_else(|p| p.into_inner());
        for s in subs {
            d.entry(s.instance_id.clone())
                .or_insert_with(|| s.record.clone());
        }
    };
    let mut results = vec![];
    let (m, sent) = client.post_all(first, cap, &link).await?;
    fill(&first[sent..]);
    results.push((Scenario::Initial, m));
    let (m, sent) = client.post_all(extra, cap, &link).await?;
    fill(&extra[sent..]);
    results.push((Scenario::AddFew, m));
    let (m, _) = client.post_all(&[], cap, &link).await?;
    results.push((Scenario::NoChange, m));
    let before = db.lock().unwrap_or_else(|p| p.into_inner()).len();
    let (m, _) = client.post_all(&subs, cap, &link).await?;
    results.push((Scenario::LostState, m));
    let after = db.lock().unwrap_or_else(|p| p.into_inner()).len();
    anyhow::ensure!(
        before == subs.len() && after == subs.len(),
        "https server holds {before} then {after} of {} submissions",
        subs.len()
    );
    task.abort();
    Ok(PeerRun {
        peer: PeerKind::Https,
        profile: profile.to_string(),
        results,
    })
}
