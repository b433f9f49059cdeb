//! The hub at scale: a million entries from a thousand offices merged through the hub's real checked
//! merge, the totals query as the store grows, and hundreds of agents syncing at once over QUIC.
//!
//! Merge throughput is measured in-process, without QUIC: each office's first 1% of its entries, then
//! batches of 512 (the agent's batch size), each sealed as one run, go through
//! `baobi_hub::check::merge_runs`, exactly what the server calls per received batch (the seal, every
//! check, the view update, one atomic sled batch, a flush). Entries are generated and sealed on
//! another thread while the hub merges, so the two share the machine's cores as they would not in the
//! field; the figure is entries merged per second of time spent inside `merge_runs`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use baobi_hub::report::By;
use baobi_hub::store::AgentRec;
use baobi_proto::wire::{
    Body, Date, Dot, Entry, Hlc, Level, MarketSurvey, Op, OutletDef, OutletKind, RetailSurvey,
    Round, Run,
};
use baobi_proto::Keypair;
use comfy_table::{presets::ASCII_MARKDOWN, Table};
use serde::Serialize;

use crate::data::Generator;
use crate::meter::{disk_usage, median, peak_rss, percentile};
use crate::peers::baobi::{bulk_record, enrolled_agent, init_hub, Served};

/// Entries per merged batch after each office's first (the agent's batch size).
const BATCH: usize = 512;
/// Attempts per agent in the concurrent run (the agent's connect timeout is 5 s).
const MAX_ATTEMPTS: u32 = 8;
/// Runs of the totals query per checkpoint (the median is reported).
const TOTALS_RUNS: usize = 21;
/// The reporting year whose totals are timed.
const TOTALS_YEAR: u16 = 2024;
/// Outlet kinds, each a totals group per commune and year.
const KINDS: [OutletKind; 4] = [
    OutletKind::Market,
    OutletKind::Supermarket,
    OutletKind::TradeCentre,
    OutletKind::Convenience,
];

/// The totals query at one size of the store.
#[derive(Debug, Clone, Serialize)]
pub struct TotalsAt {
    /// Entries merged so far.
    pub entries: u64,
    /// Groups the query read (year × commune × outlet kind).
    pub groups: usize,
    /// Median time of `baobi_hub::report::totals`, seconds.
    pub median_s: f64,
}

/// Figures of the hub at scale.
#[derive(Debug, Clone, Serialize)]
pub struct HubScale {
    /// Entries merged.
    pub entries: u64,
    /// Authors (offices) they came from.
    pub authors: u64,
    /// Seconds spent inside `merge_runs`.
    pub merge_s: f64,
    /// Wall time of the whole load, signing included, seconds.
    pub wall_s: f64,
    /// Entries per second of merge time.
    pub entries_per_s: f64,
    /// CPU seconds the merging thread ran inside `merge_runs` (its own run time: no waiting on a
    /// flush, and on a VM with paravirtual time accounting no time stolen by other guests).
    pub merge_cpu_s: f64,
    /// Entries per CPU second of merging: steadier than `entries_per_s` on a shared machine, for
    /// comparing builds; the goal is judged on `entries_per_s`.
    pub entries_per_cpu_s: f64,
    /// Disk bytes of the hub's sled folder per entry, after a flush.
    pub disk_bytes_per_entry: f64,
    /// Peak resident set during the load (VmHWM, reset before it when the kernel allows), bytes.
    pub peak_rss: Option<u64>,
    /// True when the peak was reset before the load (else it may include earlier sections).
    pub peak_reset: bool,
    /// The totals query at growing sizes.
    pub totals: Vec<TotalsAt>,
    /// The hub's folder on disk, bytes (what `disk_bytes_per_entry` divides).
    pub disk_bytes: u64,
    /// The tree's bytes by key prefix (first key byte), after the load.
    pub prefixes: Vec<PrefixBytes>,
    /// The folder's files (sled's `db` log, its `snap.*` snapshot, `blobs/`, `conf`): name, bytes.
    pub files: Vec<(String, u64)>,
    /// The folder of a fresh sled holding the same tree (written in key order, then flushed): what
    /// sled needs at rest without the nodes its log still keeps from rewrites.
    pub fresh_copy_bytes: u64,
    /// Opening the hub's store again after the load (conversions, the in-memory mirrors of the
    /// groups and of the indicator cells, the registry), median of 3, seconds.
    pub reopen_s: f64,
}

/// The keys of one prefix of the hub's tree: how many and their bytes (keys and values as stored,
/// before sled's own per-key and page overhead).
#[derive(Debug, Clone, Serialize)]
pub struct PrefixBytes {
    /// The prefix: the key's first byte as a character; for the indicator facts (`i`), its first
    /// three bytes (`i0F` facilities, `i1S` survey cells' members, `i0T` report cells; `i0S` survey
    /// cells, stored before they were derived from their members).
    pub prefix: String,
    /// Keys under it.
    pub keys: u64,
    /// Bytes of the keys.
    pub key_bytes: u64,
    /// Bytes of the values.
    pub value_bytes: u64,
}

/// The files directly under `dir` (a folder counted whole), allocated bytes, largest first.
fn folder_files(dir: &std::path::Path) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name, disk_usage_of(&e.path()))
        })
        .collect();
    v.sort_by_key(|(_, b)| std::cmp::Reverse(*b));
    v
}

/// Allocated bytes of a file or a folder.
fn disk_usage_of(path: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    match std::fs::metadata(path) {
        Ok(m) if m.is_dir() => disk_usage(path),
        Ok(m) => m.blocks() * 512,
        Err(_) => 0,
    }
}

/// Writes `tree` into a fresh sled folder (key order, batches of 10,000, one flush) and returns
/// that folder's bytes on disk.
fn fresh_copy_bytes(tree: &sled::Tree) -> anyhow::Result<u64> {
    let dir = tempfile::tempdir()?;
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(16 << 20)
        .open()?;
    let mut batch = sled::Batch::default();
    let mut n = 0;
    for kv in tree.iter() {
        let (k, v) = kv?;
        batch.insert(k, v);
        n += 1;
        if n % 10_000 == 0 {
            db.apply_batch(std::mem::take(&mut batch))?;
        }
    }
    db.apply_batch(batch)?;
    db.flush()?;
    drop(db);
    Ok(disk_usage(dir.path()))
}

/// The tree's keys and bytes by first key byte.
fn prefix_bytes(tree: &sled::Tree) -> anyhow::Result<Vec<PrefixBytes>> {
    let mut by: std::collections::BTreeMap<String, PrefixBytes> = Default::default();
    for kv in tree.iter() {
        let (k, v) = kv?;
        let p = match &k[..] {
            [b'i', n, c, ..] => format!("i{n}{}", *c as char),
            [p, ..] => (*p as char).to_string(),
            [] => String::new(),
        };
        let e = by.entry(p.clone()).or_insert(PrefixBytes {
            prefix: p,
            keys: 0,
            key_bytes: 0,
            value_bytes: 0,
        });
        e.keys += 1;
        e.key_bytes += k.len() as u64;
        e.value_bytes += v.len() as u64;
    }
    let mut v: Vec<PrefixBytes> = by.into_values().collect();
    v.sort_by_key(|p| std::cmp::Reverse(p.key_bytes + p.value_bytes));
    Ok(v)
}

impl HubScale {
    /// As a table.
    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN);
        t.set_header(vec!["figure", "value"]);
        t.add_row(vec![
            "entries merged (offices)".to_string(),
            format!("{} ({})", self.entries, self.authors),
        ]);
        t.add_row(vec![
            "merge throughput".to_string(),
            format!(
                "{:.0} entries/s ({:.1} s in merge, {:.1} s wall with signing)",
                self.entries_per_s, self.merge_s, self.wall_s
            ),
        ]);
        t.add_row(vec![
            "merge throughput per CPU second".to_string(),
            format!(
                "{:.0} entries/s ({:.1} s of the merging thread's CPU)",
                self.entries_per_cpu_s, self.merge_cpu_s
            ),
        ]);
        t.add_row(vec![
            "disk per entry".to_string(),
            format!("{:.0} B", self.disk_bytes_per_entry),
        ]);
        t.add_row(vec![
            "peak RSS".to_string(),
            match self.peak_rss {
                Some(b) => format!(
                    "{:.0} MiB{}",
                    b as f64 / (1u64 << 20) as f64,
                    if self.peak_reset {
                        ""
                    } else {
                        " (process peak, not reset)"
                    }
                ),
                None => "n/a".into(),
            },
        ]);
        for q in &self.totals {
            t.add_row(vec![
                format!("totals query at {} entries", q.entries),
                format!("{:.3} ms ({} groups)", q.median_s * 1e3, q.groups),
            ]);
        }
        let n = self.entries.max(1) as f64;
        let tree: u64 = self
            .prefixes
            .iter()
            .map(|p| p.key_bytes + p.value_bytes)
            .sum();
        t.add_row(vec![
            "disk: folder / tree (keys+values)".to_string(),
            format!(
                "{} B ({:.0} B/entry) / {} B ({:.0} B/entry)",
                self.disk_bytes,
                self.disk_bytes as f64 / n,
                tree,
                tree as f64 / n
            ),
        ]);
        t.add_row(vec![
            "disk: a fresh sled holding the same tree".to_string(),
            format!(
                "{} B ({:.0} B/entry)",
                self.fresh_copy_bytes,
                self.fresh_copy_bytes as f64 / n
            ),
        ]);
        t.add_row(vec![
            "store opened again (median of 3)".to_string(),
            format!("{:.0} ms", self.reopen_s * 1e3),
        ]);
        for (name, bytes) in &self.files {
            t.add_row(vec![
                format!("folder file '{name}'"),
                format!("{bytes} B ({:.0} B/entry)", *bytes as f64 / n),
            ]);
        }
        for p in &self.prefixes {
            t.add_row(vec![
                format!("tree prefix '{}'", p.prefix.escape_default()),
                format!(
                    "{} keys, {:.1} + {:.1} B/entry (keys + values)",
                    p.keys,
                    p.key_bytes as f64 / n,
                    p.value_bytes as f64 / n
                ),
            ]);
        }
        format!("Máy chủ tỉnh ở quy mô lớn / Hub at scale\n{t}\n")
    }
}

/// Resets this process's peak RSS (Linux: `echo 5 > /proc/self/clear_refs`).
fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Commune codes of the hub's province in force on 2024-06-01.
fn communes(hub: &baobi_hub::Hub) -> Vec<String> {
    let d = Date(20240601);
    let mut v: Vec<String> = hub.with_units(|u| {
        u.iter()
            .filter(|x| x.level == Level::Commune && baobi_proto::units::in_force(x, d))
            .filter(|x| u.is_within(&x.code, hub.province(), d))
            .map(|x| x.code.clone())
            .collect()
    });
    v.sort();
    v.dedup();
    v
}

fn agent_rec(k: &Keypair, unit: &str) -> AgentRec {
    AgentRec {
        author: k.author(),
        cert_fp: baobi_proto::identity::fingerprint(&k.author().0),
        unit: unit.to_string(),
        label: format!("office {unit}"),
        enrolled_at: 0,
        revoked: false,
        last_sync: None,
        entries_received: 0,
    }
}

/// The first records of the first office of a commune: one outlet of each kind, each surveyed in
/// [`TOTALS_YEAR`], so every (commune, kind) group the totals query reads exists from the first
/// checkpoint on. The generator alone registers outlets of new kinds all along the load (408 groups
/// at 10k entries, 534 at 100k, 564 at 1M), which timed a growing query, not a growing store.
fn coverage(author: &Keypair, unit: &str) -> Vec<Body> {
    let mut out = vec![];
    for kind in KINDS {
        let outlet = Dot {
            author: author.author(),
            seq: out.len() as u64 + 1,
        };
        let market = kind == OutletKind::Market;
        out.push(Body::Outlet(OutletDef {
            kind,
            name: if market { "Chợ xã" } else { "Cửa hàng" }.to_string(),
            unit: unit.to_string(),
            address: "Ấp Tân Lộc".to_string(),
            market_class: market.then_some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        }));
        let date = Date(u32::from(TOTALS_YEAR) * 10000 + 315);
        out.push(if market {
            Body::MarketSurvey(MarketSurvey {
                outlet,
                unit: unit.to_string(),
                date,
                year: TOTALS_YEAR,
                round: Round::Baseline,
                vendors_total: 120,
                vendors_surveyed: 40,
                nonbio_g_per_day: 9_000,
                eco_g_per_day: None,
                vendors_nonbio: 25,
                vendors_alternatives: None,
                operating_days: Some(30),
                reduction_model: false,
                notes: String::new(),
            })
        } else {
            Body::RetailSurvey(RetailSurvey {
                outlet,
                kind,
                unit: unit.to_string(),
                date,
                year: TOTALS_YEAR,
                gives_nonbio: false,
                bag_types: "túi giấy, túi vải".to_string(),
                nonbio_bags_per_day: Some(0),
                eco_bags_per_day: Some(150),
                sells_reusable: Some(true),
                eco_labelled: None,
                notes: String::new(),
            })
        });
    }
    out
}

fn time_totals(hub: &baobi_hub::Hub, entries: u64) -> anyhow::Result<TotalsAt> {
    let mut xs = vec![];
    let mut groups = 0;
    for _ in 0..TOTALS_RUNS {
        let t = Instant::now();
        let r = baobi_hub::report::totals(hub, Some(TOTALS_YEAR), By::UnitKind)?;
        xs.push(t.elapsed().as_secs_f64());
        groups = r.rows.len();
    }
    Ok(TotalsAt {
        entries,
        groups,
        median_s: median(&mut xs),
    })
}

/// Merges `entries` entries from `authors` offices into a fresh hub and measures it.
pub async fn hub_at_scale(entries: u64, authors: u64, seed: u64) -> anyhow::Result<HubScale> {
    tokio::task::spawn_blocking(move || hub_at_scale_blocking(entries, authors, seed)).await?
}

fn hub_at_scale_blocking(entries: u64, authors: u64, seed: u64) -> anyhow::Result<HubScale> {
    let dir = tempfile::tempdir()?;
    let hub = init_hub(dir.path())?;
    let communes = communes(&hub);
    anyhow::ensure!(!communes.is_empty(), "the hub has no communes");
    let authors = authors.max(1);
    let keys: Vec<Keypair> = (0..authors).map(|_| Keypair::generate()).collect();
    let mut recs = vec![];
    for (i, k) in keys.iter().enumerate() {
        let rec = agent_rec(k, &communes[i % communes.len()]);
        hub.put_agent(&rec)?;
        recs.push(rec);
    }
    let peak_reset = reset_peak();
    let per_author = entries / authors;
    let total = per_author * authors;
    // The first office of each commune starts with its coverage records (part of its entries).
    let covers: Vec<Vec<Body>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| match communes.get(i) {
            Some(unit) => coverage(k, unit),
            None => vec![],
        })
        .collect();
    // Below 8 entries an office cannot carry its whole coverage: groups may still appear later.
    let complete = covers.iter().all(|c| c.len() as u64 <= per_author);
    let first = (per_author / 100).max(1);
    let round0 = move |cover: usize| first.max(cover as u64).min(per_author);
    // Coverage offices come first in round 0: the first checkpoint waits for all of them.
    let covered: u64 = covers
        .iter()
        .filter(|c| !c.is_empty())
        .map(|c| round0(c.len()))
        .sum();
    let mut checkpoints: Vec<u64> = vec![];
    for c in [total / 100, total / 10, total] {
        let c = c.max(covered).min(total);
        if c > 0 && checkpoints.last() != Some(&c) {
            checkpoints.push(c);
        }
    }

    // Producer: signs batches round-robin over authors, each author's seqs contiguous.
    let (tx, rx) = std::sync::mpsc::sync_channel::<(usize, Run, usize)>(16);
    let producer = std::thread::spawn(move || {
        let mut gens: Vec<Generator> = keys
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Generator::new(
                    k.author(),
                    1 + covers[i].len() as u64,
                    &[communes[i % communes.len()].clone()],
                    seed ^ i as u64,
                )
            })
            .collect();
        let mut covers = covers;
        let mut next_seq = vec![1u64; keys.len()];
        let mut links: Vec<_> = keys
            .iter()
            .map(|k| baobi_proto::chain::genesis(&k.author()))
            .collect();
        let mut hlc = Hlc(1 << 40);
        // Round 0: every office's first sync carries 1% of its records (offices start reporting
        // over the year), the first office of each commune its coverage records before them, so
        // from the first checkpoint on every group exists and the totals query is timed over the
        // same groups at every size; later syncs carry full batches.
        let rounds = 1 + (per_author - first.min(per_author)).div_ceil(BATCH as u64);
        for round in 0..rounds {
            for (i, k) in keys.iter().enumerate() {
                let left = per_author + 1 - next_seq[i];
                let size = if round == 0 {
                    round0(covers[i].len())
                } else {
                    BATCH as u64
                };
                let n = left.min(size) as usize;
                if n == 0 {
                    continue;
                }
                let mut bodies = std::mem::take(&mut covers[i]);
                bodies.truncate(n);
                let more = n - bodies.len();
                bodies.extend(gens[i].take(more));
                let batch: Vec<Entry> = bodies
                    .into_iter()
                    .map(|b| {
                        hlc = Hlc(hlc.0 + 1);
                        let e = k.sign_entry(next_seq[i], hlc, Op::Record(b));
                        next_seq[i] += 1;
                        e
                    })
                    .collect();
                let Some((run, head)) = Run::seal(k, links[i], &batch) else {
                    return;
                };
                links[i] = head;
                if tx.send((i, run, n)).is_err() {
                    return;
                }
            }
        }
    });

    let start = Instant::now();
    let mut merge = Duration::ZERO;
    let mut merge_cpu = Duration::ZERO;
    let mut merged = 0u64;
    let mut totals = vec![];
    let mut next_cp = checkpoints.iter().copied().peekable();
    for (i, run, len) in rx {
        let (t, cpu) = (Instant::now(), cpu_time::ThreadTime::now());
        let r = baobi_hub::check::merge_runs(&hub, &recs[i], &[run])?;
        merge += t.elapsed();
        merge_cpu += cpu.elapsed();
        let n = r.map_err(|r| anyhow::anyhow!("hub refused a batch: {}", r.message))?;
        anyhow::ensure!(n == len as u64, "hub merged {n} of {len}");
        merged += n;
        while next_cp.peek().is_some_and(|&c| merged >= c) {
            next_cp.next();
            totals.push(time_totals(&hub, merged)?);
        }
    }
    producer
        .join()
        .map_err(|_| anyhow::anyhow!("the entry generator panicked"))?;
    // A fair comparison times the same groups at every size.
    if let Some(q) = totals.iter().find(|q| q.groups != totals[0].groups) {
        let msg = format!(
            "the totals query read {} groups at {} entries but {} at {}",
            totals[0].groups, totals[0].entries, q.groups, q.entries
        );
        anyhow::ensure!(!complete, "{msg}");
        tracing::warn!("{msg} (too few entries per office for every group from the start)");
    }
    let wall_s = start.elapsed().as_secs_f64();
    let peak = peak_rss();
    hub.flush()?;
    anyhow::ensure!(merged == total, "merged {merged} of {total}");
    let disk = disk_usage(dir.path());
    let prefixes = prefix_bytes(hub.tree())?;
    let files = folder_files(dir.path());
    let fresh_copy_bytes = fresh_copy_bytes(hub.tree())?;
    drop(hub);
    let mut reopens = vec![];
    for _ in 0..3 {
        let t = Instant::now();
        let hub = baobi_hub::Hub::open(dir.path())?;
        reopens.push(t.elapsed().as_secs_f64());
        drop(hub);
    }
    reopens.sort_by(f64::total_cmp);
    Ok(HubScale {
        entries: merged,
        authors,
        merge_s: merge.as_secs_f64(),
        wall_s,
        entries_per_s: merged as f64 / merge.as_secs_f64().max(1e-9),
        merge_cpu_s: merge_cpu.as_secs_f64(),
        entries_per_cpu_s: merged as f64 / merge_cpu.as_secs_f64().max(1e-9),
        disk_bytes_per_entry: disk as f64 / merged.max(1) as f64,
        peak_rss: peak,
        peak_reset,
        totals,
        disk_bytes: disk,
        prefixes,
        files,
        fresh_copy_bytes,
        reopen_s: reopens[1],
    })
}

/// Figures of many agents syncing at once.
#[derive(Debug, Clone, Serialize)]
pub struct Concurrent {
    /// Agents syncing at once.
    pub agents: usize,
    /// Records each sent.
    pub records_each: usize,
    /// Syncs that completed with every record acknowledged (retries included).
    pub completed: usize,
    /// Of those, how many completed at the first attempt (no "hub unreachable").
    pub first_try: usize,
    /// Most attempts one agent needed.
    pub max_attempts: u32,
    /// Median session time (from the first attempt to success), seconds.
    pub p50_s: f64,
    /// 99th percentile session time, seconds.
    pub p99_s: f64,
    /// Longest session, seconds.
    pub max_s: f64,
    /// From the first start to the last end, seconds.
    pub wall_s: f64,
    /// Entries the agents received (offices at the same commune see each other's records).
    pub received: u64,
}

impl Concurrent {
    /// As a table.
    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN);
        t.set_header(vec!["figure", "value"]);
        t.add_row(vec![
            "agents syncing at once × records each".to_string(),
            format!("{} × {}", self.agents, self.records_each),
        ]);
        t.add_row(vec![
            "completed (at the first attempt)".to_string(),
            format!(
                "{} of {} ({}; at most {} attempts)",
                self.completed, self.agents, self.first_try, self.max_attempts
            ),
        ]);
        t.add_row(vec![
            "session time p50 / p99 / max (retries included)".to_string(),
            format!(
                "{:.2} s / {:.2} s / {:.2} s",
                self.p50_s, self.p99_s, self.max_s
            ),
        ]);
        t.add_row(vec![
            "all done in".to_string(),
            format!(
                "{:.2} s ({:.0} entries/s into the hub)",
                self.wall_s,
                (self.agents * self.records_each) as f64 / self.wall_s.max(1e-9)
            ),
        ]);
        t.add_row(vec![
            "entries received by agents (same-commune offices)".to_string(),
            self.received.to_string(),
        ]);
        format!("Đồng bộ đồng thời / Concurrent syncs over QUIC (loopback)\n{t}\n")
    }
}

/// `n` enrolled agents, each with `records` new records, sync at the same moment.
pub async fn concurrent(n: usize, records: usize, seed: u64) -> anyhow::Result<Concurrent> {
    let hub_dir = tempfile::tempdir()?;
    let agents_dir = tempfile::tempdir()?;
    let served = Served::start(init_hub(hub_dir.path())?)?;
    let communes = communes(&served.hub);
    // Set-up (not measured): enroll and first-sync each agent, a few at a time, then record.
    let sem = Arc::new(tokio::sync::Semaphore::new(8));
    let mut setup = tokio::task::JoinSet::new();
    for i in 0..n {
        let (hub, addr, sem) = (served.hub.clone(), served.addr, sem.clone());
        let unit = communes[i % communes.len()].clone();
        let dir = agents_dir.path().join(format!("a{i}"));
        setup.spawn(async move {
            let _permit = sem.acquire().await?;
            // Enrollment handshakes can time out on a loaded machine (debug builds): retry with a
            // fresh key and folder (the hub may have enrolled the first key after all).
            let mut tries = 0;
            let (store, kp) = loop {
                tries += 1;
                let kp = Keypair::generate();
                match enrolled_agent(&dir, &hub, &unit, addr, &kp).await {
                    Ok(s) => break (s, kp),
                    Err(e) if tries < 3 => {
                        tracing::warn!(error = %e, "agent set-up failed; retrying");
                        let _ = std::fs::remove_dir_all(&dir);
                    }
                    Err(e) => return Err(e),
                }
            };
            let ops: Vec<Op> = Generator::new(kp.author(), 1, &[unit], seed ^ i as u64)
                .take(records)
                .into_iter()
                .map(Op::Record)
                .collect();
            bulk_record(&store, &kp, 1, ops)?;
            anyhow::Ok(store)
        });
    }
    let mut stores = vec![];
    while let Some(r) = setup.join_next().await {
        stores.push(r?.context("agent set-up")?);
    }
    let start = Instant::now();
    let mut syncs = tokio::task::JoinSet::new();
    for store in stores {
        syncs.spawn(async move {
            // As the daemon does: an unreachable hub is retried with exponential backoff and jitter.
            let t = Instant::now();
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                let r = baobi_agent::sync::sync(&store, &mut |_| {}).await;
                match r {
                    Err(baobi_agent::sync::Error::Unreachable { .. })
                        if attempts < MAX_ATTEMPTS =>
                    {
                        let backoff = 500u64 << (attempts - 1).min(4);
                        let jitter = rand::random::<u64>() % backoff;
                        tokio::time::sleep(Duration::from_millis(backoff + jitter)).await;
                    }
                    r => return (r, t.elapsed().as_secs_f64(), attempts),
                }
            }
        });
    }
    let mut times = vec![];
    let mut completed = 0;
    let mut first_try = 0;
    let mut max_attempts = 0;
    let mut received = 0;
    while let Some(r) = syncs.join_next().await {
        let (r, secs, attempts) = r?;
        max_attempts = max_attempts.max(attempts);
        match r {
            Ok(rep) if rep.sent == records as u64 => {
                completed += 1;
                first_try += usize::from(attempts == 1);
                received += rep.received;
                times.push(secs);
            }
            Ok(rep) => tracing::warn!(sent = rep.sent, "sync sent too few"),
            Err(e) => tracing::warn!(error = %e, "sync failed"),
        }
    }
    let wall_s = start.elapsed().as_secs_f64();
    served.stop().await?;
    Ok(Concurrent {
        agents: n,
        records_each: records,
        completed,
        first_try,
        max_attempts,
        p50_s: percentile(&mut times, 0.5),
        p99_s: percentile(&mut times, 0.99),
        max_s: percentile(&mut times, 1.0),
        wall_s,
        received,
    })
}
