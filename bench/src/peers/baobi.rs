//! baobi itself, through its real code: a hub (`baobi_hub::Hub` on sled in a temp dir, served by
//! `server::run` over QUIC) and an agent store (`baobi_agent::store::Store`) synced by
//! `baobi_agent::sync::sync`, the function `baobi-agent sync` calls.
//!
//! Set-up not measured: the hub's `init`, the office's enrollment at district Lai Vung (876) and its
//! first sync, which downloads the province's units. The initial records are signed with the office's
//! key and written to its store in bulk (one flush, not one per record: set-up time only); the few new
//! records go through `Store::append` as the CLI's `survey` does. "Lost sync state" wipes the agent's
//! sync bookkeeping (its acknowledged mark): baobi keeps no other per-hub state, and the digest
//! exchange that opens every session finds that nothing differs.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use baobi_agent::store::Store;
use baobi_agent::sync::{self, SyncReport};
use baobi_hub::Hub;
use baobi_proto::wire::{Entry, Hlc, Op};

use super::{Dataset, PeerKind, PeerRun, Scenario};
use crate::link::Link;
use crate::meter::{Clock, Measure};

/// The benchmark office's jurisdiction: Huyện Lai Vung, Đồng Tháp.
pub const OFFICE_UNIT: &str = "876";

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A hub for Đồng Tháp (87) with the shipped units, in `dir`.
pub fn init_hub(dir: &std::path::Path) -> anyhow::Result<Arc<Hub>> {
    let units = baobi_hub::units_csv::parse(baobi_hub::units_csv::SEED_UNITS)?;
    Ok(Arc::new(Hub::init(dir, "87", "Đồng Tháp", units)?))
}

/// A hub serving QUIC on loopback until dropped.
pub struct Served {
    /// The hub.
    pub hub: Arc<Hub>,
    /// Its QUIC address.
    pub addr: std::net::SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<baobi_hub::Result<()>>>,
}

impl Served {
    /// Serves `hub` on 127.0.0.1 port 0 with `baobi_hub::server::run`.
    pub fn start(hub: Arc<Hub>) -> anyhow::Result<Served> {
        let endpoint = baobi_hub::net::endpoint(&hub, "127.0.0.1:0".parse()?)?;
        let addr = endpoint.local_addr()?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(baobi_hub::server::run(endpoint, hub.clone(), async {
            let _ = rx.await;
        }));
        Ok(Served {
            hub,
            addr,
            stop: Some(tx),
            task: Some(task),
        })
    }

    /// Stops serving and waits for the server to flush.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await??;
        }
        Ok(())
    }
}

/// An agent store in `dir` with `keypair` as its identity, enrolled at `unit` with the hub behind
/// `addr` (a link or the hub itself), and synced once (units).
pub async fn enrolled_agent(
    dir: &std::path::Path,
    hub: &Hub,
    unit: &str,
    addr: std::net::SocketAddr,
    keypair: &baobi_proto::Keypair,
) -> anyhow::Result<Store> {
    let store = Store::open(dir)?;
    let cert = baobi_agent::net::make_cert(keypair)?;
    store.set_identity(&keypair.secret(), &cert)?;
    let issued = hub.enroll(unit, "bench", &addr.to_string(), 24)?;
    sync::enroll(&store, &issued.token, "bench")
        .await
        .context("enroll")?;
    sync::sync(&store, &mut |_| {})
        .await
        .context("first sync")?;
    Ok(store)
}

/// Signs `ops` as the office's entries `first_seq..` and writes them to its store in one batch.
pub fn bulk_record(
    store: &Store,
    keypair: &baobi_proto::Keypair,
    first_seq: u64,
    ops: impl IntoIterator<Item = Op>,
) -> anyhow::Result<Vec<Entry>> {
    let mut hlc = Hlc::tick(Hlc(0), now_ms());
    let entries: Vec<Entry> = ops
        .into_iter()
        .zip(first_seq..)
        .map(|(op, seq)| {
            hlc = Hlc::tick(hlc, now_ms());
            keypair.sign_entry(seq, hlc, op)
        })
        .collect();
    let hub_author = store.hub()?.context("agent not enrolled")?.author_id()?;
    for chunk in entries.chunks(2048) {
        // Each chunk continues the chain of the one before, which storing made the office's own.
        store.store_received(&[store.seal(chunk)?], &hub_author)?;
    }
    Ok(entries)
}

fn measured(r: SyncReport, link: &Link, clock: &Clock) -> Measure {
    let (wall_s, cpu_s) = clock.stop();
    let w = link.stats();
    Measure {
        app_up: r.bytes_up,
        app_down: r.bytes_down,
        wire_up: w.up,
        wire_down: w.down,
        round_trips: r.round_trips,
        wall_s,
        cpu_s,
        extrapolated: false,
    }
}

async fn timed_sync(store: &Store, link: &Link) -> anyhow::Result<(SyncReport, Measure)> {
    link.reset_stats();
    let clock = Clock::start();
    let r = sync::sync(store, &mut |_| {}).await.context("baobi sync")?;
    Ok((r, measured(r, link, &clock)))
}

/// Encoded sizes of the few new records: (bodies alone, whole signed entries).
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct FewSizes {
    /// Σ bincode size of the records' bodies (their own content).
    pub bodies: u64,
    /// Σ bincode size of the signed entries (author, seq, clock, op, signature).
    pub entries: u64,
}

/// What the baobi run learns besides its measurements.
#[derive(Debug, Clone)]
pub struct Extras {
    /// The agent store's disk bytes per record after the initial sync.
    pub store_bytes_per_record: f64,
    /// Encoded sizes of the few new records.
    pub few_sizes: FewSizes,
}

/// Runs the four scenarios.
pub async fn run(profile: &str, data: &Dataset) -> anyhow::Result<(PeerRun, Extras)> {
    let hub_dir = tempfile::tempdir()?;
    let agent_dir = tempfile::tempdir()?;
    let served = Served::start(init_hub(hub_dir.path())?)?;
    let link = Link::udp(served.addr, profile).await?;
    let mut store = enrolled_agent(
        agent_dir.path(),
        &served.hub,
        OFFICE_UNIT,
        link.addr(),
        &data.keypair,
    )
    .await?;
    let mut results = vec![];

    bulk_record(
        &store,
        &data.keypair,
        1,
        data.initial.iter().cloned().map(Op::Record),
    )?;
    perf_control("enable");
    let timed = timed_sync(&store, &link).await;
    perf_control("disable");
    let (r, m) = timed?;
    anyhow::ensure!(
        r.sent == data.initial.len() as u64,
        "baobi initial sync sent {} of {} entries",
        r.sent,
        data.initial.len()
    );
    results.push((Scenario::Initial, m));
    let store_bytes = crate::meter::disk_usage(agent_dir.path()) as f64;
    let per_record = store_bytes / data.initial.len().max(1) as f64;

    let mut sizes = FewSizes::default();
    for b in &data.extra {
        let e = store.append(Op::Record(b.clone()), now_ms())?;
        sizes.bodies += baobi_proto::wire::encode(b).len() as u64;
        sizes.entries += baobi_proto::wire::encode(&e).len() as u64;
    }
    let (r, m) = timed_sync(&store, &link).await?;
    anyhow::ensure!(r.sent == data.extra.len() as u64, "baobi sent {}", r.sent);
    results.push((Scenario::AddFew, m));

    let (r, m) = timed_sync(&store, &link).await?;
    anyhow::ensure!(r.up_to_date, "no-change sync was not up to date");
    results.push((Scenario::NoChange, m));

    // Lost sync state: drop the store, wipe its acknowledged mark, reopen.
    drop(store);
    forget_acked(agent_dir.path())?;
    store = Store::open(agent_dir.path())?;
    anyhow::ensure!(store.acked_seq()? == 0, "acked mark not wiped");
    let (r, m) = timed_sync(&store, &link).await?;
    anyhow::ensure!(
        r.up_to_date && store.acked_seq()? == store.own_seq()?,
        "lost-state sync did not restore the acked mark"
    );
    results.push((Scenario::LostState, m));

    let held = served.hub.summary()?.get(&data.keypair.author());
    anyhow::ensure!(
        held == (data.initial.len() + data.extra.len()) as u64,
        "hub holds {held} entries of the office"
    );
    drop(store);
    served.stop().await?;
    Ok((
        PeerRun {
            peer: PeerKind::Baobi,
            profile: profile.to_string(),
            results,
        },
        Extras {
            store_bytes_per_record: per_record,
            few_sizes: sizes,
        },
    ))
}

/// With `BAOBI_BENCH_PERF_CTL=FIFO`, writes `command` (`enable`, `disable`) to `perf record
/// --control fifo:FIFO -D -1`'s control FIFO, so that a profile covers the initial sync alone:
///
/// ```sh
/// mkfifo /tmp/perf.ctl
/// BAOBI_BENCH_PERF_CTL=/tmp/perf.ctl perf record -F 2000 -D -1 --control fifo:/tmp/perf.ctl \
///     ./target/release/baobi-bench --sections sync --profiles loopback --peers baobi
/// ```
fn perf_control(command: &str) {
    use std::io::Write;
    let Some(path) = std::env::var_os("BAOBI_BENCH_PERF_CTL") else {
        return;
    };
    match std::fs::OpenOptions::new().write(true).open(&path) {
        Ok(mut f) => {
            let _ = writeln!(f, "{command}");
        }
        Err(e) => tracing::warn!(error = %e, "perf control FIFO"),
    }
}

/// Removes the agent's acknowledged mark from its store in `dir` (the store must be closed).
fn forget_acked(dir: &std::path::Path) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    let db = loop {
        match sled::Config::new().path(dir).open() {
            Ok(db) => break db,
            Err(e) if std::time::Instant::now() < deadline => {
                tracing::debug!(error = %e, "waiting for the agent store's lock");
                std::thread::sleep(std::time::Duration::from_millis(50));
            }
            Err(e) => return Err(e.into()),
        }
    };
    db.open_tree("meta")?.remove("acked_seq")?;
    db.flush()?;
    Ok(())
}
