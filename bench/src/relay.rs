//! Issue 14: what a relay adds to an office's sync of N new records. The same N records synced
//! directly (office → hub) and through a relay (office → relay, then the relay's forwarding to the
//! hub for that office): application bytes each way (frames with length prefixes) and wall time,
//! median of several runs, each run with fresh offices.
//!
//! Set-up (not measured): a hub for Đồng Tháp served in this process, a district office (876)
//! enrolled and serving as a relay in this process; each run enrolls two commune offices (30226)
//! with N records each, one syncing directly, one whose hub address does not answer.

use std::time::Instant;

use anyhow::Context;
use baobi_agent::relay;
use baobi_agent::sync;
use baobi_proto::wire::Op;
use serde::Serialize;

use crate::data::Generator;
use crate::peers::baobi::{bulk_record, enrolled_agent, init_hub, Served};

/// The section's figures (medians over `runs`).
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Records per sync.
    pub records: usize,
    /// Runs measured.
    pub runs: usize,
    /// Direct sync: bytes up, bytes down, wall ms.
    pub direct: (u64, u64, f64),
    /// Office → relay: bytes up, bytes down, wall ms.
    pub to_relay: (u64, u64, f64),
    /// Relay → hub for that office: bytes up, bytes down, wall ms.
    pub forward: (u64, u64, f64),
}

fn median_f(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

fn median_u(v: &mut [u64]) -> u64 {
    v.sort_unstable();
    v.get(v.len() / 2).copied().unwrap_or(0)
}

type Cols = (Vec<u64>, Vec<u64>, Vec<f64>);

fn med((up, down, ms): &mut Cols) -> (u64, u64, f64) {
    (median_u(up), median_u(down), median_f(ms))
}

/// A commune office (30226) enrolled at `addr` with `records` new records.
async fn office(
    path: &std::path::Path,
    hub: &baobi_hub::store::Hub,
    addr: std::net::SocketAddr,
    records: usize,
    i: usize,
) -> anyhow::Result<(baobi_agent::store::Store, baobi_proto::Keypair)> {
    let kp = baobi_proto::Keypair::generate();
    let store = enrolled_agent(path, hub, "30226", addr, &kp).await?;
    let ops = Generator::new(kp.author(), 1, &["30226".to_string()], 2025 + i as u64)
        .take(records)
        .into_iter()
        .map(Op::Record);
    bulk_record(&store, &kp, 1, ops)?;
    Ok((store, kp))
}

/// Runs the section: `runs` syncs of `records` records each way.
pub async fn measure(records: usize, runs: usize) -> anyhow::Result<Figures> {
    let dir = tempfile::tempdir()?;
    let hub = init_hub(&dir.path().join("hub"))?;
    let served = Served::start(hub.clone())?;
    let rkp = baobi_proto::Keypair::generate();
    let district =
        enrolled_agent(&dir.path().join("relay"), &hub, "876", served.addr, &rkp).await?;
    sync::sync(&district, &mut |_| {})
        .await
        .context("relay's first sync")?;
    let raddr = relay::serve::start(
        district.clone(),
        "127.0.0.1:0".parse()?,
        relay::Limits::default(),
    )
    .await?;
    let rfp = baobi_proto::identity::fingerprint(&district.cert_der()?);
    // An address nobody answers on, for the office behind the partition.
    let dead = std::net::UdpSocket::bind("127.0.0.1:0")?.local_addr()?;
    let (mut direct, mut to_relay, mut forward): (Cols, Cols, Cols) = Default::default();
    for i in 0..runs {
        let (d, _) = office(
            &dir.path().join(format!("direct-{i}")),
            &hub,
            served.addr,
            records,
            i,
        )
        .await?;
        let t = Instant::now();
        let r = sync::sync(&d, &mut |_| {}).await.context("direct sync")?;
        direct.2.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(r.sent as usize >= records, "direct sync sent {}", r.sent);
        direct.0.push(r.bytes_up);
        direct.1.push(r.bytes_down);

        let (c, kp) = office(
            &dir.path().join(format!("relayed-{i}")),
            &hub,
            served.addr,
            records,
            i,
        )
        .await?;
        // The relay learns from the hub that it carries the new office (at its syncs).
        relay::forward::fetch_offices(&district)
            .await
            .context("the relay's list of offices")?;
        let mut h = c.hub()?.context("enrolled")?;
        h.addr = dead.to_string();
        c.set_hub(&h)?;
        relay::add_pin(
            &c,
            baobi_proto::identity::PeerPin {
                addr: raddr.to_string(),
                fingerprint: rfp,
            },
        )?;
        let t = Instant::now();
        let r = sync::sync(&c, &mut |_| {})
            .await
            .context("sync through the relay")?;
        to_relay.2.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(
            r.via_relay && r.sent as usize >= records,
            "relayed sync: {r:?}"
        );
        to_relay.0.push(r.bytes_up);
        to_relay.1.push(r.bytes_down);
        let t = Instant::now();
        let f = relay::forward::forward(&district, &kp.author())
            .await
            .context("forwarding")?;
        forward.2.push(t.elapsed().as_secs_f64() * 1000.0);
        anyhow::ensure!(f.receipt_seq as usize >= records, "forwarded: {f:?}");
        forward.0.push(f.bytes_up);
        forward.1.push(f.bytes_down);
    }
    served.stop().await?;
    Ok(Figures {
        records,
        runs,
        direct: med(&mut direct),
        to_relay: med(&mut to_relay),
        forward: med(&mut forward),
    })
}

impl Figures {
    /// The section's table, Markdown.
    pub fn render(&self) -> String {
        let row = |name: &str, (up, down, ms): (u64, u64, f64)| {
            format!(
                "| {name} | {up} B | {down} B | {} B | {ms:.1} ms |\n",
                up + down
            )
        };
        let relayed = (
            self.to_relay.0 + self.forward.0,
            self.to_relay.1 + self.forward.1,
            self.to_relay.2 + self.forward.2,
        );
        format!(
            "### Relay (issue 14): {} records, median of {} runs, loopback, application bytes\n\n\
             | path | up | down | both ways | wall |\n|---|---|---|---|---|\n{}{}{}{}",
            self.records,
            self.runs,
            row("direct (office → hub)", self.direct),
            row("office → relay", self.to_relay),
            row("relay → hub (for the office)", self.forward),
            row("via relay, both legs", relayed),
        )
    }
}
