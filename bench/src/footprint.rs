//! The office agent's footprint, measured on the real `baobi-agent` binary: its size, the daemon's
//! resident memory at rest, and how long `baobi-agent survey market …` takes to return (process start
//! included), with and without the daemon running.
//!
//! The binary is the one built next to this bench (same profile). When it is missing and the bench
//! runs under `cargo run`, it is built first with the same profile.
//!
//! The office app (`daemon --http`) is measured on a store of 10,000 records (2,000 with `quick`):
//! saving a survey through `POST /api/surveys` (the answer comes once the record is durable), a page of
//! `GET /api/surveys`, and the daemon's resident memory with the app served (see `app_bench`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use baobi_proto::wire::{Body, OutletDef, OutletKind};
use baobi_proto::{Keypair, Op};
use comfy_table::{presets::ASCII_MARKDOWN, Table};
use serde::Serialize;

use crate::data::Generator;
use crate::meter::{median, rss_of};
use crate::peers::baobi::{bulk_record, enrolled_agent, init_hub, Served, OFFICE_UNIT};

/// The agent's footprint.
#[derive(Debug, Clone, Serialize)]
pub struct Footprint {
    /// Which build was measured (`release` or `debug`).
    pub profile: String,
    /// Size of the `baobi-agent` binary, bytes.
    pub binary_bytes: u64,
    /// Records in the store during the measurements.
    pub store_records: usize,
    /// Resident memory of `baobi-agent daemon` at rest, bytes.
    pub daemon_rss: Option<u64>,
    /// Median time of `survey market` with no daemon (opens the store itself), seconds.
    pub survey_s: f64,
    /// Median time of `survey market` through a running daemon, seconds.
    pub survey_daemon_s: f64,
    /// Runs per median.
    pub runs: usize,
    /// The office app's figures.
    pub app: Option<crate::app_bench::AppFigures>,
}

impl Footprint {
    /// As a table (with the store's bytes per record from the sync runs).
    pub fn table(&self, store_bytes_per_record: Option<f64>) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN);
        t.set_header(vec!["figure", "value"]);
        t.add_row(vec![
            format!("binary size ({})", self.profile),
            format!("{:.1} MiB", self.binary_bytes as f64 / (1u64 << 20) as f64),
        ]);
        t.add_row(vec![
            format!("daemon RSS at rest ({} records)", self.store_records),
            self.daemon_rss.map_or("n/a".into(), |b| {
                format!("{:.1} MiB", b as f64 / (1u64 << 20) as f64)
            }),
        ]);
        t.add_row(vec![
            "`survey market` returns in (median, no daemon)".to_string(),
            format!("{:.0} ms (n = {})", self.survey_s * 1e3, self.runs),
        ]);
        t.add_row(vec![
            "`survey market` returns in (median, through the daemon)".to_string(),
            format!("{:.0} ms (n = {})", self.survey_daemon_s * 1e3, self.runs),
        ]);
        if let Some(a) = &self.app {
            a.rows(&mut t);
        }
        if let Some(b) = store_bytes_per_record {
            t.add_row(vec![
                "store bytes per record (after the initial sync)".to_string(),
                format!("{b:.0} B"),
            ]);
        }
        format!("Tác nhân văn phòng / Office agent footprint\n{t}\n")
    }
}

/// The `baobi-agent` binary beside this executable, building it when needed and possible.
pub(crate) fn agent_binary() -> anyhow::Result<(PathBuf, String)> {
    let exe = std::env::current_exe()?;
    let dir = exe.parent().context("executable has no folder")?;
    let profile = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("debug")
        .to_string();
    let bin = dir.join("baobi-agent");
    if !bin.exists() {
        let cargo = std::env::var("CARGO").context(
            "baobi-agent is not built beside baobi-bench: run `cargo build --release -p baobi-agent` \
             / chưa có baobi-agent",
        )?;
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "-p", "baobi-agent"]);
        if profile == "release" {
            cmd.arg("--release");
        }
        let st = cmd.status().context("cargo build -p baobi-agent")?;
        anyhow::ensure!(st.success(), "cargo build -p baobi-agent failed");
    }
    Ok((bin, profile))
}

fn survey(bin: &Path, dir: &Path, outlet: &str, i: usize) -> anyhow::Result<f64> {
    let t = Instant::now();
    let out = Command::new(bin)
        .arg("--data")
        .arg(dir)
        .args([
            "survey",
            "market",
            "--outlet",
            outlet,
            "--date",
            "2024-11-05",
            "--vendors-total",
            "180",
            "--vendors-surveyed",
            "60",
            "--nonbio-kg",
            &format!("{}.5", 10 + i),
            "--vendors-nonbio",
            "45",
            "--notes",
            "Ban quản lý chợ treo băng rôn tuyên truyền.",
        ])
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "baobi-agent survey market failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(secs)
}

/// Enrolls an office store in `dir` at `served` and fills it with a market of Lai Vung and
/// `records - 1` generated records (seed `seed`), in bulk; returns the market's id. The store is
/// closed again, for a binary to open.
pub(crate) async fn office_with_records(
    dir: &std::path::Path,
    served: &Served,
    records: usize,
    seed: u64,
) -> anyhow::Result<String> {
    let kp = Keypair::generate();
    let store = enrolled_agent(dir, &served.hub, OFFICE_UNIT, served.addr, &kp).await?;
    let market = Op::Record(Body::Outlet(OutletDef {
        kind: OutletKind::Market,
        name: "Chợ Lai Vung".into(),
        unit: "30208".into(),
        address: "Quốc lộ 80".into(),
        market_class: Some(2),
        certifications: vec![],
        opened: None,
        closed: None,
    }));
    let ops = std::iter::once(market).chain(
        Generator::new(kp.author(), 2, &crate::data::lai_vung(), seed)
            .take(records - 1)
            .into_iter()
            .map(Op::Record),
    );
    bulk_record(&store, &kp, 1, ops)?;
    drop(store);
    Ok(format!("{}-1", kp.author().short()))
}

/// Measures the agent's footprint with a store of 1,000 records (200 with `quick`).
pub async fn measure(quick: bool) -> anyhow::Result<Footprint> {
    let (bin, profile) = tokio::task::spawn_blocking(agent_binary).await??;
    let binary_bytes = std::fs::metadata(&bin)?.len();
    let records = if quick { 200 } else { 1000 };
    let runs = if quick { 5 } else { 15 };
    let hub_dir = tempfile::tempdir()?;
    let agent_dir = tempfile::tempdir()?;
    let served = Served::start(init_hub(hub_dir.path())?)?;
    let outlet = office_with_records(agent_dir.path(), &served, records, 7).await?;
    let dir = agent_dir.path().to_path_buf();

    let (b, d, o) = (bin.clone(), dir.clone(), outlet.clone());
    let survey_s = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let mut xs = (0..runs)
            .map(|i| survey(&b, &d, &o, i))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        Ok(median(&mut xs))
    })
    .await??;

    let mut daemon = Command::new(&bin)
        .arg("--data")
        .arg(&dir)
        .args(["daemon", "--interval", "3600"])
        .env("RUST_LOG", "error")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .context("spawn baobi-agent daemon")?;
    let sock = dir.join("agent.sock");
    let deadline = Instant::now() + Duration::from_secs(20);
    while !sock.exists() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // At rest: after its start-up sync, nothing to do until the next interval.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let daemon_rss = rss_of(daemon.id());
    let (b, d, o) = (bin.clone(), dir.clone(), outlet.clone());
    let through = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
        let mut xs = (0..runs)
            .map(|i| survey(&b, &d, &o, runs + i))
            .collect::<anyhow::Result<Vec<f64>>>()?;
        Ok(median(&mut xs))
    })
    .await?;
    let _ = daemon.kill();
    let _ = daemon.wait();
    let app = crate::app_bench::measure(&bin, &served, quick).await?;
    served.stop().await?;
    Ok(Footprint {
        app: Some(app),
        profile,
        binary_bytes,
        store_records: records,
        daemon_rss,
        survey_s,
        survey_daemon_s: through?,
        runs,
    })
}
