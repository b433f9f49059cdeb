//! `baobi-bench`: baobi against what a province could pick instead (full-state CRDT sync, Automerge,
//! HTTPS with a JSON POST per record), on the same records in the same run, plus the hub at scale and
//! the agent's footprint. One command runs everything and prints tables; `--json` prints the figures.
//!
//! Everything runs in this process on loopback (through a link proxy that counts bytes on the wire),
//! except the agent footprint, which spawns the real `baobi-agent` binary.

mod app_bench;
mod data;
mod footprint;
mod frame;
mod link;
mod meter;
mod national;
mod nochange;
mod peers;
mod relay;
mod report;
mod reports;
mod scale;
mod tls;

/// The hub binary's allocator (see `hub/src/main.rs`): the bench stands in for the hub process.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::time::Instant;

use anyhow::Context;
use clap::Parser;

/// baobi's benchmark: sync peers side by side, the hub at scale, the agent's footprint.
#[derive(Debug, Parser)]
#[command(name = "baobi-bench", version)]
struct Args {
    /// Small sizes for CI's smoke run (under a minute in release): 1,000 records on loopback only,
    /// 10,000 hub entries from 10 offices, 50 concurrent syncs, a store of 200 records for the footprint.
    #[arg(long)]
    quick: bool,
    /// Print the figures as JSON on stdout instead of tables.
    #[arg(long)]
    json: bool,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json_out: Option<std::path::PathBuf>,
    /// Records in the initial sync (default 10,000; 1,000 with --quick).
    #[arg(long)]
    records: Option<usize>,
    /// New records in the second scenario.
    #[arg(long, default_value_t = 10)]
    few: usize,
    /// Link profiles to run the sync scenarios on (comma-separated; default loopback,3g,edge, or
    /// loopback with --quick).
    #[arg(long, value_delimiter = ',')]
    profiles: Option<Vec<String>>,
    /// Peers to run (comma-separated): baobi, full-state, automerge, https.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "baobi,full-state,automerge,https"
    )]
    peers: Vec<String>,
    /// Entries merged into the hub at scale (default 1,000,000; 10,000 with --quick).
    #[arg(long)]
    hub_entries: Option<u64>,
    /// Authors (offices) of those entries (default 1,000; 10 with --quick).
    #[arg(long)]
    hub_authors: Option<u64>,
    /// Concurrent agent syncs (default 500; 50 with --quick).
    #[arg(long)]
    concurrent: Option<usize>,
    /// Records each concurrent agent syncs.
    #[arg(long, default_value_t = 100)]
    concurrent_records: usize,
    /// Most HTTPS requests actually sent per scenario on a slow profile; the rest is extrapolated.
    #[arg(long, default_value_t = 100)]
    https_cap: usize,
    /// Records in the hub whose indicator reports are timed, at 1/100, 1/10 and all of it
    /// (default 1,000,000; 10,000 with --quick).
    #[arg(long)]
    report_records: Option<u64>,
    /// Runs of each report per checkpoint (the median is reported; default 5, 3 with --quick).
    #[arg(long)]
    report_runs: Option<usize>,
    /// Office entries the national hub pulls (default 1,000,000; 10,000 with --quick).
    #[arg(long)]
    national_entries: Option<u64>,
    /// Provinces they are spread over (default 34; 4 with --quick).
    #[arg(long)]
    national_provinces: Option<usize>,
    /// Sections to run (comma-separated): sync, hub, reports, concurrent, footprint, nochange,
    /// relay, national (the last two not run unless named).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "sync,hub,reports,concurrent,footprint,nochange"
    )]
    sections: Vec<String>,
    /// Seed of the record generator.
    #[arg(long, default_value_t = 2025)]
    seed: u64,
}

fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    if let Err(e) = link::check(args.profiles.as_deref().unwrap_or_default()) {
        eprintln!("Lỗi / Error: {e}");
        return std::process::ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Lỗi / Error: tokio runtime: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    match rt.block_on(run(args)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Lỗi / Error: {e:#}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let quick = args.quick;
    let records = args.records.unwrap_or(if quick { 1_000 } else { 10_000 });
    let profiles = match (&args.profiles, quick) {
        (Some(p), _) => p.clone(),
        (None, true) => vec!["loopback".to_string()],
        (None, false) => link::profiles().iter().map(|s| s.to_string()).collect(),
    };
    let want = |s: &str| args.sections.iter().any(|x| x == s);
    let peer = |p: peers::PeerKind| args.peers.iter().any(|x| x == p.name());
    let mut out = report::Report::new(quick, records, args.few);
    let say = |msg: &str| eprintln!("… {msg} ({:.0} s)", started.elapsed().as_secs_f64());

    if want("sync") {
        let data = peers::Dataset::generate(records, args.few, args.seed);
        for profile in &profiles {
            use peers::PeerKind;
            if peer(PeerKind::Baobi) {
                say(&format!("baobi on {profile} / baobi qua {profile}"));
                let (run, extras) = peers::baobi::run(profile, &data)
                    .await
                    .with_context(|| format!("baobi on {profile}"))?;
                out.sync.push(run);
                if out.store_bytes_per_record.is_none() {
                    out.few_sizes = extras.few_sizes;
                    out.store_bytes_per_record = Some(extras.store_bytes_per_record);
                }
            }
            if peer(PeerKind::FullState) {
                say(&format!("full-state on {profile}"));
                out.sync.push(
                    peers::fullstate::run(profile, &data)
                        .await
                        .with_context(|| format!("full-state on {profile}"))?,
                );
            }
            if peer(PeerKind::Automerge) {
                say(&format!("automerge on {profile}"));
                out.sync.push(
                    peers::automerge::run(profile, &data)
                        .await
                        .with_context(|| format!("automerge on {profile}"))?,
                );
            }
            if peer(PeerKind::Https) {
                say(&format!("https on {profile}"));
                let cap = if profile == "loopback" {
                    usize::MAX
                } else {
                    args.https_cap
                };
                out.sync.push(
                    peers::https::run(profile, &data, cap)
                        .await
                        .with_context(|| format!("https on {profile}"))?,
                );
            }
        }
    }
    if want("hub") {
        let entries = args
            .hub_entries
            .unwrap_or(if quick { 10_000 } else { 1_000_000 });
        let authors = args.hub_authors.unwrap_or(if quick { 10 } else { 1_000 });
        say(&format!(
            "hub at scale: {entries} entries from {authors} offices"
        ));
        out.hub = Some(
            scale::hub_at_scale(entries, authors, args.seed)
                .await
                .context("hub at scale")?,
        );
    }
    if want("reports") {
        let n = args
            .report_records
            .unwrap_or(if quick { 10_000 } else { 1_000_000 });
        let runs = args.report_runs.unwrap_or(if quick { 3 } else { 5 });
        say(&format!("indicator reports up to {n} records"));
        out.reports = Some(
            reports::reports(n, runs, args.seed)
                .await
                .context("indicator reports")?,
        );
    }
    if want("concurrent") {
        let n = args.concurrent.unwrap_or(if quick { 50 } else { 500 });
        say(&format!("{n} concurrent syncs"));
        out.concurrent = Some(
            scale::concurrent(n, args.concurrent_records, args.seed)
                .await
                .context("concurrent syncs")?,
        );
    }
    if want("footprint") {
        say("agent footprint");
        out.footprint = Some(footprint::measure(quick).await.context("agent footprint")?);
    }
    let mut nochange = None;
    if want("nochange") {
        say("no-change syncs / đồng bộ không có gì mới");
        let names: Vec<String> = match &args.profiles {
            Some(p) => p.clone(),
            None if quick => vec!["loopback".to_string()],
            None => vec!["loopback".to_string(), "gprs".to_string()],
        };
        let runs = if quick { 5 } else { 9 };
        nochange = Some(
            nochange::measure(&names, runs)
                .await
                .context("no-change syncs")?,
        );
    }
    let mut relayed = None;
    if want("relay") {
        say("relay / trạm chuyển tiếp");
        let runs = if quick { 3 } else { 5 };
        relayed = Some(relay::measure(1_000, runs).await.context("relay")?);
    }
    if want("national") {
        let n = args
            .national_entries
            .unwrap_or(if quick { 10_000 } else { 1_000_000 });
        let p = args
            .national_provinces
            .unwrap_or(if quick { 4 } else { 34 });
        say(&format!("national pull: {n} entries from {p} provinces"));
        out.national = Some(
            national::measure(n, p, args.seed)
                .await
                .context("national pull")?,
        );
    }
    out.check_goals();
    out.machine.load_end = report::load_avg();
    out.total_s = started.elapsed().as_secs_f64();
    if let Some(path) = &args.json_out {
        std::fs::write(path, serde_json::to_string_pretty(&out)?)
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&out)?);
    } else {
        println!("{}", out.render());
        if let Some(n) = &nochange {
            println!("{}", n.render());
        }
        if let Some(r) = &relayed {
            println!("{}", r.render());
        }
        if let Some(n) = &out.national {
            println!("{}", n.render());
        }
    }
    Ok(())
}
