//! Issue 13, goal 5: what a no-change sync costs, QUIC and TLS included: bytes and datagrams each
//! way through `baobi-netsim`'s UDP proxy, and wall time, both of `sync::sync` in this process and
//! of the real `baobi-agent sync` command (process start, store open, connect, the exchange, the
//! close), median of several runs, so that each transport change can be measured on its own.
//!
//! Set-up (not measured): a hub for Đồng Tháp served in this process, one office enrolled through
//! the link and synced once, then one no-change sync to warm up. The command runs use a second
//! office enrolled at the hub's own address (no proxy), its store closed in this process first.

use std::process::Command;
use std::time::Instant;

use anyhow::Context;
use baobi_agent::sync;
use serde::Serialize;

use crate::link::Link;
use crate::meter::Clock;
use crate::peers::baobi::{enrolled_agent, init_hub, Served, OFFICE_UNIT};

/// Medians over the runs of one profile.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// Link profile.
    pub profile: String,
    /// Runs measured.
    pub runs: usize,
    /// UDP payload bytes agent → hub.
    pub up: u64,
    /// UDP payload bytes hub → agent.
    pub down: u64,
    /// Datagrams agent → hub.
    pub up_packets: u64,
    /// Datagrams hub → agent.
    pub down_packets: u64,
    /// Wall time of `sync::sync`, milliseconds (median).
    pub wall_ms: f64,
    /// Every run's wall time, milliseconds.
    pub walls_ms: Vec<f64>,
}

/// The section's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// One row per profile.
    pub rows: Vec<Row>,
    /// `baobi-agent sync` (the release or debug binary beside the bench) on loopback, each run, ms.
    pub command_ms: Vec<f64>,
    /// Which build of `baobi-agent` ran.
    pub command_build: String,
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(|a, b| a.total_cmp(b));
    match s.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

fn median_u64(v: &[u64]) -> u64 {
    let mut s = v.to_vec();
    s.sort_unstable();
    s.get(s.len() / 2).copied().unwrap_or(0)
}

/// Runs the section: `runs` no-change syncs on each of `profiles`, and `runs` commands on loopback.
pub async fn measure(profiles: &[String], runs: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let hub = init_hub(&dir.path().join("hub"))?;
    let served = Served::start(hub.clone())?;
    let mut rows = Vec::new();
    for (i, profile) in profiles.iter().enumerate() {
        let link = Link::udp(served.addr, profile).await?;
        let keypair = baobi_proto::Keypair::generate();
        let store = enrolled_agent(
            &dir.path().join(format!("agent-{i}")),
            &hub,
            OFFICE_UNIT,
            link.addr(),
            &keypair,
        )
        .await?;
        sync::sync(&store, &mut |_| {}).await.context("warm-up")?;
        let (mut up, mut down, mut upp, mut downp, mut walls) =
            (vec![], vec![], vec![], vec![], vec![]);
        for _ in 0..runs {
            link.reset_stats();
            let clock = Clock::start();
            let r = sync::sync(&store, &mut |_| {})
                .await
                .context("no-change sync")?;
            let (wall, _) = clock.stop();
            anyhow::ensure!(
                r.up_to_date && r.sent == 0 && r.received == 0,
                "not a no-change sync: {r:?}"
            );
            // The hub's side ends when the agent's close arrives: let the proxy deliver it.
            tokio::time::sleep(link_settle(profile)).await;
            let w = link.stats();
            up.push(w.up);
            down.push(w.down);
            upp.push(w.up_packets);
            downp.push(w.down_packets);
            walls.push(wall * 1000.0);
        }
        rows.push(Row {
            profile: profile.clone(),
            runs,
            up: median_u64(&up),
            down: median_u64(&down),
            up_packets: median_u64(&upp),
            down_packets: median_u64(&downp),
            wall_ms: median(&walls),
            walls_ms: walls,
        });
    }

    // The command, as an office runs it.
    let (bin, build) = crate::footprint::agent_binary()?;
    let adir = dir.path().join("agent-cmd");
    {
        let keypair = baobi_proto::Keypair::generate();
        let store = enrolled_agent(&adir, &hub, OFFICE_UNIT, served.addr, &keypair).await?;
        sync::sync(&store, &mut |_| {}).await?;
    }
    let mut command_ms = Vec::new();
    for _ in 0..runs {
        let bin = bin.clone();
        let adir = adir.clone();
        let ms = tokio::task::spawn_blocking(move || -> anyhow::Result<f64> {
            let t = Instant::now();
            let out = Command::new(&bin)
                .arg("--data")
                .arg(&adir)
                .arg("sync")
                .output()?;
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            anyhow::ensure!(
                out.status.success(),
                "baobi-agent sync failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            Ok(ms)
        })
        .await??;
        command_ms.push(ms);
    }
    served.stop().await?;
    Ok(Figures {
        rows,
        command_ms,
        command_build: build,
    })
}

/// Long enough for the agent's last datagram (its close) to cross the link.
fn link_settle(profile: &str) -> std::time::Duration {
    let p = baobi_netsim::Profile::by_name(profile);
    std::time::Duration::from_millis(50) + p.map_or(std::time::Duration::ZERO, |p| p.delay * 3)
}

impl Figures {
    /// The section's tables, Markdown.
    pub fn render(&self) -> String {
        let mut s = String::from(
            "### No-change sync (issue 13, goal 5)\n\n\
             | profile | runs | wire up | wire down | both ways | datagrams up / down | wall median | walls |\n\
             |---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.rows {
            let walls: Vec<String> = r.walls_ms.iter().map(|w| format!("{w:.1}")).collect();
            s.push_str(&format!(
                "| {} | {} | {} B | {} B | {} B | {} / {} | {:.1} ms | {} |\n",
                r.profile,
                r.runs,
                r.up,
                r.down,
                r.up + r.down,
                r.up_packets,
                r.down_packets,
                r.wall_ms,
                walls.join(", ")
            ));
        }
        let walls: Vec<String> = self.command_ms.iter().map(|w| format!("{w:.1}")).collect();
        s.push_str(&format!(
            "\n`baobi-agent sync` ({} build) on loopback, nothing to send: median {:.1} ms ({})\n",
            self.command_build,
            median(&self.command_ms),
            walls.join(", ")
        ));
        s
    }
}
