//! A national pull (issue 14): `provinces` provincial hubs holding `entries` office entries between
//! them, each served over QUIC on loopback, and one national hub pulling every province once
//! through the real follow round (`baobi_hub::national::pull`: every office's seal and the province
//! hub's own runs checked again, stored durably). Figures: entries pulled per second of the pull's
//! wall time, and the national store's bytes on disk per entry.
//!
//! The provinces are synthetic (codes `901`…, each with one district and one commune of its own,
//! one office in that commune) because the seed holds four real provinces; what the pull does does
//! not depend on which province it is.

use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use baobi_hub::store::AgentRec;
use baobi_proto::wire::{Hlc, Level, Op};
use baobi_proto::Keypair;
use comfy_table::{presets::ASCII_MARKDOWN, Table};
use serde::Serialize;

use crate::data::Generator;
use crate::meter::{disk_usage, peak_rss};
use crate::peers::baobi::Served;

/// Entries per merged batch at the province (the agent's batch size).
const BATCH: u64 = 512;

/// The national pull's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Figures {
    /// Provinces pulled.
    pub provinces: usize,
    /// Office entries pulled (the provinces' own entries besides).
    pub office_entries: u64,
    /// Every entry the nation stored (offices' and the provinces' hubs' own).
    pub entries: u64,
    /// Wall time of pulling every province once, one after the other, seconds.
    pub pull_s: f64,
    /// Entries stored per second of that time.
    pub entries_per_s: f64,
    /// The national hub's folder on disk, bytes.
    pub disk_bytes: u64,
    /// Disk bytes per entry.
    pub disk_bytes_per_entry: f64,
    /// Peak RSS of this process after the pull (the provinces run in it too), bytes.
    pub peak_rss: Option<u64>,
}

impl Figures {
    /// The figures as a table.
    pub fn render(&self) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN).set_header(vec![
            "national pull / kéo quốc gia",
            "provinces",
            "office entries",
            "entries stored",
            "pull",
            "entries/s",
            "disk B/entry",
        ]);
        t.add_row(vec![
            "one round per province".to_string(),
            self.provinces.to_string(),
            self.office_entries.to_string(),
            self.entries.to_string(),
            format!("{:.1} s", self.pull_s),
            format!("{:.0}", self.entries_per_s),
            format!("{:.0}", self.disk_bytes_per_entry),
        ]);
        t.to_string()
    }
}

/// Builds `provinces` provincial hubs holding `entries` office entries in all, then pulls them.
pub async fn measure(entries: u64, provinces: usize, seed: u64) -> anyhow::Result<Figures> {
    let provinces = provinces.max(1);
    let tmp = tempfile::tempdir()?;
    let per = entries / provinces as u64;
    let mut served = vec![];
    for p in 0..provinces {
        let dir = tmp.path().join(format!("p{p}"));
        let code = format!("9{:02}", p + 1);
        let csv = format!(
            "code,name,level,kind,parent_code,valid_from,valid_to\n\
             {code},Tỉnh thử {code},province,Tỉnh,,,\n\
             {code}1,Huyện thử {code},district,Huyện,{code},,\n\
             {code}11,Xã thử {code},commune,Xã,{code}1,,\n"
        );
        let units = baobi_hub::units_csv::parse(&csv)?;
        let hub = Arc::new(baobi_hub::Hub::init(
            &dir,
            &code,
            &format!("Tỉnh thử {code}"),
            units,
        )?);
        let h = hub.clone();
        tokio::task::spawn_blocking(move || fill(&h, per, seed ^ p as u64)).await??;
        served.push(Served::start(hub)?);
    }
    let ndir = tmp.path().join("nation");
    let nat = baobi_hub::national::National::init(&ndir)?;
    for s in &served {
        let (token, _) = s.hub.issue_national_token(&s.addr.to_string(), 1)?;
        nat.add(&token).await.context("province add")?;
    }
    let start = Instant::now();
    let mut stored = 0;
    for code in nat.codes()? {
        let hub = Arc::new(baobi_hub::Hub::open(&nat.province_dir(&code))?);
        let p = baobi_hub::national::pull(&hub).await?;
        anyhow::ensure!(p.error.is_none(), "pull of {code}: {:?}", p.error);
        hub.flush()?;
        stored += p.received;
    }
    let pull_s = start.elapsed().as_secs_f64();
    let peak = peak_rss();
    for s in served {
        s.stop().await?;
    }
    let disk = disk_usage(&ndir);
    Ok(Figures {
        provinces,
        office_entries: per * provinces as u64,
        entries: stored,
        pull_s,
        entries_per_s: stored as f64 / pull_s.max(1e-9),
        disk_bytes: disk,
        disk_bytes_per_entry: disk as f64 / stored.max(1) as f64,
        peak_rss: peak,
    })
}

/// One office of the province's commune writes `n` generated records into `hub`, merged in
/// batches through the hub's checked merge.
fn fill(hub: &baobi_hub::Hub, n: u64, seed: u64) -> anyhow::Result<()> {
    let d = baobi_proto::wire::Date(20240601);
    let commune = hub
        .with_units(|u| {
            u.iter()
                .find(|x| x.level == Level::Commune && baobi_proto::units::in_force(x, d))
                .map(|x| x.code.clone())
        })
        .context("no commune in the seed units")?;
    let k = Keypair::generate();
    let rec = AgentRec {
        author: k.author(),
        cert_fp: baobi_proto::identity::fingerprint(&k.author().0),
        unit: commune.clone(),
        label: format!("office {commune}"),
        enrolled_at: 0,
        revoked: false,
        last_sync: None,
        entries_received: 0,
    };
    hub.put_agent(&rec)?;
    let rec = baobi_hub::office::settle(hub, &rec)?;
    let mut gen = Generator::new(k.author(), 1, &[commune], seed);
    let mut seq = 1;
    while seq <= n {
        let m = BATCH.min(n + 1 - seq);
        let batch: Vec<_> = gen
            .take(m as usize)
            .into_iter()
            .enumerate()
            .map(|(i, b)| {
                let s = seq + i as u64;
                k.sign_entry(s, Hlc((1 << 40) + s), Op::Record(b))
            })
            .collect();
        let got = baobi_hub::check::merge_entries(hub, &rec, &k, &batch)?
            .map_err(|r| anyhow::anyhow!("the province refused a batch: {}", r.message))?;
        anyhow::ensure!(got == m, "merged {got} of {m}");
        seq += m;
    }
    hub.flush()?;
    Ok(())
}
