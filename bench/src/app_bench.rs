//! The office app's speed and memory, on the real `baobi-agent daemon --http` over a store of 10,000
//! records (2,000 with `quick`): the median time to save a market survey through `POST /api/surveys`
//! (answered once the record is flushed to disk), the median time of a page of `GET /api/surveys`
//! (50 rows of the total, and a filtered page deep in the list), and the daemon's resident memory
//! with the app served after that work. Requests go over plain HTTP/1.1 on loopback, one connection
//! each, as a browser tab would make them.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use comfy_table::Table;
use serde::Serialize;

use crate::footprint::office_with_records;
use crate::meter::{median, rss_of};
use crate::peers::baobi::Served;

/// The office app's figures.
#[derive(Debug, Clone, Serialize)]
pub struct AppFigures {
    /// Records in the store.
    pub records: usize,
    /// Median time of `POST /api/surveys` (durable before the answer), seconds.
    pub save_s: f64,
    /// Median time of `GET /api/surveys?limit=50`, seconds.
    pub list_s: f64,
    /// Median time of a filtered page deep in the list (`?year=&offset=`), seconds.
    pub list_filtered_s: f64,
    /// The total the list reported.
    pub list_total: u64,
    /// Median time of `GET /api/status` (Home: status, plan, returned list, office indicators), seconds.
    pub status_s: f64,
    /// Resident memory of the daemon with the app served, after the runs, bytes.
    pub rss: Option<u64>,
    /// The same after the start-up sync of the store, before any run, bytes.
    pub rss_before: Option<u64>,
    /// Runs per median.
    pub runs: usize,
}

impl AppFigures {
    /// Adds the app's rows to the footprint table.
    pub fn rows(&self, t: &mut Table) {
        t.add_row(vec![
            "app: save a survey, `POST /api/surveys` (median, durable)".to_string(),
            format!(
                "{:.1} ms (n = {}, goal ≤ 10 ms)",
                self.save_s * 1e3,
                self.runs
            ),
        ]);
        t.add_row(vec![
            format!(
                "app: `GET /api/surveys` page of 50 of {} surveys ({} records)",
                self.list_total, self.records
            ),
            format!(
                "{:.1} ms (n = {}, goal ≤ 50 ms)",
                self.list_s * 1e3,
                self.runs
            ),
        ]);
        t.add_row(vec![
            format!(
                "app: filtered page deep in the list at {} records",
                self.records
            ),
            format!("{:.1} ms (n = {})", self.list_filtered_s * 1e3, self.runs),
        ]);
        t.add_row(vec![
            format!(
                "app: `GET /api/status` (Home, with the office's indicators) at {} records",
                self.records
            ),
            format!("{:.1} ms (n = {})", self.status_s * 1e3, self.runs),
        ]);
        t.add_row(vec![
            format!(
                "app: daemon RSS after its start-up sync, before the runs ({} records)",
                self.records
            ),
            self.rss_before.map_or("n/a".into(), |b| {
                format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
            }),
        ]);
        t.add_row(vec![
            format!(
                "app: daemon RSS with the app served ({} records)",
                self.records
            ),
            self.rss.map_or("n/a".into(), |b| {
                format!("{:.1} MiB (goal ≤ 40 MiB)", b as f64 / (1u64 << 20) as f64)
            }),
        ]);
    }
}

/// One HTTP/1.1 exchange: status and body.
fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    cookie: &str,
    body: &str,
) -> anyhow::Result<(u16, String, String)> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nOrigin: http://{addr}\r\nCookie: {cookie}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )?;
    let mut out = Vec::new();
    s.read_to_end(&mut out)?;
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, head.to_string(), body.to_string()))
}

fn timed(runs: usize, mut f: impl FnMut(usize) -> anyhow::Result<()>) -> anyhow::Result<f64> {
    let mut xs = vec![];
    for i in 0..runs {
        let t = Instant::now();
        f(i)?;
        xs.push(t.elapsed().as_secs_f64());
    }
    Ok(median(&mut xs))
}

/// Measures the app on `bin` with a store enrolled at the hub `served`.
pub async fn measure(bin: &Path, served: &Served, quick: bool) -> anyhow::Result<AppFigures> {
    let records = if quick { 2_000 } else { 10_000 };
    let runs = if quick { 10 } else { 30 };
    let dir = tempfile::tempdir()?;
    let outlet = office_with_records(dir.path(), served, records, 11).await?;
    let mut daemon = Command::new(bin)
        .arg("--data")
        .arg(dir.path())
        .args(["daemon", "--interval", "3600", "--http", "127.0.0.1:0"])
        .env("BAOBI_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn baobi-agent daemon --http")?;
    let url = dir.path().join("app.url");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !url.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let addr: SocketAddr = std::fs::read_to_string(&url)
        .context("the daemon wrote no app.url")?
        .trim()
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()?;
    let pid = daemon.id();
    let result = tokio::task::spawn_blocking(
        move || -> anyhow::Result<(f64, f64, f64, u64, Option<u64>, f64)> {
            let (_, head, _) = http(addr, "GET", "/", "", "")?;
            let cookie = head
                .lines()
                .find_map(|l| l.strip_prefix("set-cookie: "))
                .and_then(|c| c.split(';').next())
                .context("GET / set no session cookie")?
                .to_string();
            // Let the start-up sync of the whole store finish first.
            let deadline = Instant::now() + Duration::from_secs(300);
            loop {
                let (_, _, b) = http(addr, "GET", "/api/status", &cookie, "")?;
                let v: serde_json::Value = serde_json::from_str(&b)?;
                if v["pending"] == 0 || Instant::now() > deadline {
                    break;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let rss_before = rss_of(pid);
            let save = timed(runs, |i| {
                let body = serde_json::json!({
                    "type": "market", "outlet": outlet, "date": "2024-11-05",
                    "vendors_total": 180, "vendors_surveyed": 60,
                    "nonbio_kg": format!("{}.5", 10 + i % 15), "vendors_nonbio": 45,
                    "notes": "Ban quản lý chợ treo băng rôn tuyên truyền.",
                });
                let (st, _, b) = http(addr, "POST", "/api/surveys", &cookie, &body.to_string())?;
                anyhow::ensure!(st == 201, "POST /api/surveys: {st} {b}");
                Ok(())
            })?;
            let mut total = 0;
            let list = timed(runs, |_| {
                let (st, _, b) = http(addr, "GET", "/api/surveys?limit=50", &cookie, "")?;
                anyhow::ensure!(st == 200, "GET /api/surveys: {st} {b}");
                let v: serde_json::Value = serde_json::from_str(&b)?;
                total = v["total"].as_u64().unwrap_or(0);
                Ok(())
            })?;
            let deep = format!("/api/surveys?year=2022&offset={}&limit=50", records / 40);
            let filtered = timed(runs, |_| {
                let (st, _, b) = http(addr, "GET", &deep, &cookie, "")?;
                anyhow::ensure!(st == 200, "GET {deep}: {st} {b}");
                Ok(())
            })?;
            let status = timed(runs, |_| {
                let (st, _, b) = http(addr, "GET", "/api/status", &cookie, "")?;
                anyhow::ensure!(st == 200, "GET /api/status: {st} {b}");
                let v: serde_json::Value = serde_json::from_str(&b)?;
                anyhow::ensure!(v["indicators"].is_object(), "no indicators on Home: {b}");
                Ok(())
            })?;
            Ok((save, list, filtered, total, rss_before, status))
        },
    )
    .await?;
    let rss = rss_of(daemon.id());
    let _ = daemon.kill();
    let _ = daemon.wait();
    let (save_s, list_s, list_filtered_s, list_total, rss_before, status_s) = result?;
    Ok(AppFigures {
        records,
        save_s,
        list_s,
        list_filtered_s,
        list_total,
        status_s,
        rss,
        rss_before,
        runs,
    })
}
