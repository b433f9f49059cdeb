//! Power cuts (issue 10): the hub's store and each office's store live on their own fault file system
//! (`baobi-faultfs`, one mount per machine), which keeps only what was fsynced. At seeded random points
//! (a random delay, or the moment sled's snapshot file appears) every process of one machine is
//! SIGKILLed and that machine's power is cut: its unsynced writes are dropped (half the time the last
//! one torn at a sector boundary) and the surviving image is remounted. Phases: an office saving a
//! survey, an office syncing (the daemon or `baobi-agent sync`), the hub merging a batch and acking it,
//! an office being rebuilt by `baobi-agent restore`.
//!
//! After each cut, with the real binaries restarted: the store opens; every record id an office printed
//! as saved is in its store; every entry the hub acknowledged (an office's acked seq, read from an
//! office store that was not cut) is in the hub's store. At the end, after clean syncs: everything
//! printed as saved is at the hub exactly once, and the hub's totals equal a recomputation.
//!
//! `cargo test -p baobi-tests --test powercut -- --nocapture` runs a short seeded run; the long run is
//! `BAOBI_POWERCUT_CUTS=500` (and `BAOBI_POWERCUT_SEED` to change the seed).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

use baobi_faultfs::FaultFs;
use baobi_tests::{hub_totals, recompute_totals, Agent, Hub};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// What the run did and found.
#[derive(Debug, Default)]
struct Tally {
    cuts: u64,
    cut_saving: u64,
    cut_syncing: u64,
    cut_hub: u64,
    cut_restore: u64,
    snapshot_armed: u64,
    write_armed: u64,
    at_write: u64,
    at_snapshot: u64,
    torn: u64,
    bytes_dropped: u64,
    saved: u64,
    checked_saved: u64,
    checked_acked: u64,
    open_failures: u64,
    losses: u64,
    /// Ids found lost (each counted once in `losses`).
    lost: BTreeSet<String>,
    ack_losses: u64,
    restore_retries: u64,
    duplicates: u64,
    totals_mismatches: u64,
}

/// One office's machine: its mount, its agent, what it printed as saved.
struct Office {
    name: &'static str,
    fs: FaultFs,
    agent: Agent,
    outlets: Vec<String>,
    daemon: bool,
    saved: Vec<String>,
}

/// One line per id a (possibly killed) CLI printed.
fn printed(child: Child) -> Vec<String> {
    let out = child.wait_with_output().expect("collect output");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('{'))
        .map(String::from)
        .collect()
}

fn survey_args(rng: &mut StdRng, outlet: &str) -> Vec<String> {
    let year = rng.gen_range(2022..=2024);
    [
        "survey",
        "market",
        "--outlet",
        outlet,
        "--date",
        &format!(
            "{year}-{:02}-{:02}",
            rng.gen_range(1..=12),
            rng.gen_range(1..=28)
        ),
        "--vendors-total",
        "180",
        "--vendors-surveyed",
        "60",
        "--nonbio-kg",
        &format!("{}.{}", rng.gen_range(1..=400), rng.gen_range(0..10)),
        "--vendors-nonbio",
        "45",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Waits `delay`, or until `child` exits, or (when `fs` armed a cut on sled's snapshot file) until
/// that cut went off; returns whether it did.
fn wait_point(child: &mut Child, fs: &FaultFs, delay: Duration) -> bool {
    let end = Instant::now() + delay;
    while Instant::now() < end {
        if fs.tripped() {
            return true;
        }
        if child.try_wait().ok().flatten().is_some() {
            return fs.tripped();
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    fs.tripped()
}

/// Where to cut: half the time right after a seeded number of writes to `fs` (armed there; waits up
/// to 5 s for it), otherwise after a random delay drawn from `ms`.
fn point(rng: &mut StdRng, fs: &FaultFs, ms: std::ops::Range<u64>, t: &mut Tally) -> Duration {
    if rng.gen_bool(0.5) {
        fs.cut_after_writes(rng.gen_range(1..=25));
        t.write_armed += 1;
        Duration::from_secs(5)
    } else {
        Duration::from_millis(rng.gen_range(ms))
    }
}

/// Counts an armed cut that went off.
fn landed(fs: &FaultFs, t: &mut Tally) {
    if fs.tripped() {
        t.at_write += 1;
    }
}

/// The office's acked seq and author, read from its store (no process may hold it).
fn acked(agent: &Agent) -> Option<(baobi_proto::AuthorId, u64)> {
    let s = baobi_agent::store::Store::open(agent.dir.path()).ok()?;
    Some((s.author().ok()?, s.acked_seq().ok()?))
}

/// The hub's highest contiguous seq per author, from its store (the hub stopped). `None`: it did not open.
fn hub_summary(hub: &Hub) -> Result<BTreeMap<baobi_proto::AuthorId, u64>, String> {
    let h = baobi_hub::Hub::open(hub.dir.path()).map_err(|e| e.to_string())?;
    let s = h.summary().map_err(|e| e.to_string())?;
    Ok(s.to_wire().0.into_iter().collect())
}

/// After a cut of `o`'s machine: its store opens and holds every id it printed as saved.
fn check_office(o: &Office, t: &mut Tally, what: &str) {
    let out = o.agent.run(&["survey", "list", "--json"]);
    if !out.status.success() {
        t.open_failures += 1;
        eprintln!(
            "powercut {what}: office {} does not open after the cut: {}",
            o.name,
            baobi_tests::stderr(&out)
        );
        return;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("survey list JSON");
    let held: BTreeSet<&str> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["id"].as_str())
        .collect();
    for id in &o.saved {
        t.checked_saved += 1;
        if !held.contains(id.as_str()) && t.lost.insert(id.clone()) {
            t.losses += 1;
            eprintln!(
                "powercut {what}: LOST {id}: office {} printed it as saved",
                o.name
            );
        }
    }
}

/// Every entry the hub acknowledged to an office (its acked seq, from a store that was not cut) is
/// in the hub's store.
fn check_acked(hub: &Hub, acks: &[(&str, baobi_proto::AuthorId, u64)], t: &mut Tally, what: &str) {
    match hub_summary(hub) {
        Err(e) => {
            t.open_failures += 1;
            eprintln!("powercut {what}: the hub's store does not open after the cut: {e}");
        }
        Ok(sum) => {
            for (name, author, seq) in acks {
                t.checked_acked += seq;
                let has = sum.get(author).copied().unwrap_or(0);
                if has < *seq {
                    t.ack_losses += seq - has;
                    eprintln!(
                        "powercut {what}: LOST ACKED: the hub acknowledged {name}'s entries up to seq \
                         {seq} but holds up to {has}"
                    );
                }
            }
        }
    }
}

/// Saves `n` surveys at `o` (no cut), keeping the printed ids.
fn save_some(o: &mut Office, rng: &mut StdRng, n: usize) {
    for _ in 0..n {
        let outlet = o.outlets[rng.gen_range(0..o.outlets.len())].clone();
        let args = survey_args(rng, &outlet);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = o.agent.ok(&args);
        o.saved.push(id);
    }
}

/// Cuts the power of office `o`'s machine after killing its processes; restarts its daemon.
fn cut_office(o: &mut Office, rng: &mut StdRng, t: &mut Tally) {
    if o.daemon {
        o.agent.kill_daemon();
    }
    let tear = rng.gen_bool(0.5);
    let r = o.fs.cut(rng.gen(), tear).expect("cut and remount");
    t.torn += r.torn;
    t.bytes_dropped += r.bytes_dropped;
    t.cuts += 1;
}

/// Starts the office's daemon again, if it runs one (removing the socket file a cut left, so that the
/// harness waits for the new daemon's socket).
fn restart(o: &mut Office) {
    if o.daemon {
        let _ = std::fs::remove_file(o.agent.dir.path().join("agent.sock"));
        o.agent.start_daemon(1);
    }
}

/// Syncs `o` until it succeeds (the hub serving).
fn clean_sync(o: &Office) {
    for _ in 0..20 {
        if o.agent.run(&["sync"]).status.success() {
            return;
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    panic!("office {} could not sync", o.name);
}

fn mount(root: &Path, name: &str) -> FaultFs {
    let p: PathBuf = root.join(name);
    std::fs::create_dir(&p).expect("mount point");
    FaultFs::mount(&p).expect("mount the fault file system (needs /dev/fuse)")
}

#[test]
fn acknowledged_and_saved_records_survive_power_cuts() {
    let seed = env_u64("BAOBI_POWERCUT_SEED", 20_261_201);
    let cuts = env_u64("BAOBI_POWERCUT_CUTS", 20);
    eprintln!("powercut: BAOBI_POWERCUT_SEED={seed} BAOBI_POWERCUT_CUTS={cuts}");
    let started = Instant::now();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut t = Tally::default();
    let root = tempfile::tempdir().expect("temp dir");

    let mut hub_fs = mount(root.path(), "h");
    let mut hub = Hub::init_in(hub_fs.path());
    hub.serve();
    let mut offices: Vec<Office> = [("A", "30226", true), ("B", "29869", false)]
        .into_iter()
        .map(|(name, unit, daemon)| {
            let fs = mount(root.path(), name);
            let agent = hub.enroll_agent_in(unit, fs.path());
            let outlets = (0..2)
                .map(|k| agent.outlet("market", &format!("Chợ {name}{k}"), unit, &[]))
                .collect();
            Office {
                name,
                fs,
                agent,
                outlets,
                daemon,
                saved: Vec::new(),
            }
        })
        .collect();
    for o in &mut offices {
        restart(o);
    }

    while t.cuts < cuts {
        let phase = rng.gen_range(0..100);
        if phase < 35 {
            // An office saving a survey.
            let o = &mut offices[rng.gen_range(0..2)];
            let outlet = o.outlets[rng.gen_range(0..o.outlets.len())].clone();
            let args = survey_args(&mut rng, &outlet);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            // Cut after a random delay, or at the instant sled starts its snapshot, written at open: a command
            // opens the store, a daemon office's commands go through its daemon, which opens it as it
            // starts (here it is restarted, and the command waits for it).
            let snapshot = rng.gen_bool(0.5);
            if snapshot {
                // sled snapshots at open only when its log grew since the last snapshot.
                save_some(o, &mut rng, 1);
                o.fs.cut_on_create(".generating");
                t.snapshot_armed += 1;
            }
            let mut daemon = None;
            if snapshot && o.daemon {
                o.agent.kill_daemon();
                daemon = Some(o.agent.spawn(&["daemon", "--interval", "1"]));
            }
            let mut child = o.agent.spawn(&args);
            let delay = if snapshot {
                Duration::from_secs(5)
            } else {
                point(&mut rng, &o.fs, 0..400, &mut t)
            };
            if wait_point(&mut child, &o.fs, delay) && snapshot {
                t.at_snapshot += 1;
            } else if snapshot {
                eprintln!(
                    "powercut: office {} wrote no snapshot (daemon: {})",
                    o.name, o.daemon
                );
            }
            if !snapshot {
                landed(&o.fs, &mut t);
            }
            let _ = child.kill();
            o.saved.extend(printed(child));
            if let Some(mut d) = daemon {
                let _ = d.kill();
                let _ = d.wait();
            }
            cut_office(o, &mut rng, &mut t);
            t.cut_saving += 1;
            restart(o);
            check_office(o, &mut t, "saving");
        } else if phase < 60 {
            // An office syncing: the daemon on its schedule, or `baobi-agent sync`.
            let o = &mut offices[rng.gen_range(0..2)];
            let n = rng.gen_range(0..3);
            save_some(o, &mut rng, n);
            if o.daemon {
                let end = Instant::now() + point(&mut rng, &o.fs, 0..2_500, &mut t);
                while Instant::now() < end && !o.fs.tripped() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            } else {
                let mut child = o.agent.spawn(&["sync", "--json"]);
                let delay = point(&mut rng, &o.fs, 0..1_500, &mut t);
                wait_point(&mut child, &o.fs, delay);
                let _ = child.kill();
                let _ = child.wait();
            }
            landed(&o.fs, &mut t);
            cut_office(o, &mut rng, &mut t);
            t.cut_syncing += 1;
            restart(o);
            check_office(o, &mut t, "syncing");
        } else if phase < 90 {
            // The hub merging a batch and acking it.
            let i = rng.gen_range(0..2);
            let n = rng.gen_range(1..4);
            save_some(&mut offices[i], &mut rng, n);
            let o = &mut offices[i];
            let mut child = (!o.daemon).then(|| o.agent.spawn(&["sync", "--json"]));
            let delay = point(&mut rng, &hub_fs, 0..1_500, &mut t);
            let end = Instant::now() + delay;
            while Instant::now() < end && !hub_fs.tripped() {
                if child
                    .as_mut()
                    .is_some_and(|c| c.try_wait().ok().flatten().is_some())
                {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            landed(&hub_fs, &mut t);
            hub.kill();
            if let Some(mut c) = child {
                let _ = c.kill();
                let _ = c.wait();
            }
            // What the offices saw acknowledged, from their stores (not cut; the daemon killed only).
            let mut acks = Vec::new();
            for o in &mut offices {
                if o.daemon {
                    o.agent.kill_daemon();
                }
                if let Some((author, seq)) = acked(&o.agent) {
                    acks.push((o.name, author, seq));
                }
            }
            let r = hub_fs
                .cut(rng.gen(), rng.gen_bool(0.5))
                .expect("cut the hub");
            t.torn += r.torn;
            t.bytes_dropped += r.bytes_dropped;
            t.cuts += 1;
            t.cut_hub += 1;
            check_acked(&hub, &acks, &mut t, "hub merging");
            hub.serve();
            for o in &mut offices {
                restart(o);
            }
        } else {
            // Office B's disk is lost: it is rebuilt with a restore token, and power goes mid-restore.
            let old = offices.iter_mut().find(|o| !o.daemon).expect("office B");
            clean_sync(old);
            let lost = old.agent.author();
            let token = hub.ok(&["restore", &lost[..12]]).trim().to_string();
            let fresh = Agent::new_in(old.fs.path());
            std::fs::create_dir_all(fresh.dir.path()).expect("data folder");
            let mut child = fresh.spawn(&["restore", "--token", &token, "--json"]);
            let delay = point(&mut rng, &old.fs, 0..1_500, &mut t);
            wait_point(&mut child, &old.fs, delay);
            landed(&old.fs, &mut t);
            let _ = child.kill();
            let _ = child.wait();
            let r = old.fs.cut(rng.gen(), rng.gen_bool(0.5)).expect("cut");
            t.torn += r.torn;
            t.bytes_dropped += r.bytes_dropped;
            t.cuts += 1;
            t.cut_restore += 1;
            // Finish the restore as the office would: run the same command again in the same
            // folder (it resumes with the key it stored), or sync if it had finished enrolling.
            let mut done = fresh.run(&["restore", "--token", &token]).status.success();
            if !done {
                done = fresh.run(&["sync"]).status.success();
            }
            if !done {
                t.restore_retries += 1;
                eprintln!(
                    "powercut restore: the interrupted restore did not resume: {}",
                    baobi_tests::stderr(&fresh.run(&["status"]))
                );
                // Go on from a new folder with a restore token for whatever key the hub holds now,
                // so the rest of the run still checks durability; the count fails the test.
                let again = Agent::new_in(old.fs.path());
                if !again.run(&["restore", "--token", &token]).status.success() {
                    let new_key = acked(&fresh).map(|(a, _)| a.hex()).unwrap_or_default();
                    let token = hub.ok(&["restore", &new_key[..12]]).trim().to_string();
                    let third = Agent::new_in(old.fs.path());
                    third.ok(&["restore", "--token", &token]);
                    old.agent = third;
                } else {
                    old.agent = again;
                }
            } else {
                old.agent = fresh;
            }
            check_office(old, &mut t, "restore");
        }
    }

    // Heal: every office syncs cleanly; then everything saved is at the hub exactly once.
    for o in &mut offices {
        if o.daemon {
            o.agent.stop_daemon();
        }
        clean_sync(o);
        clean_sync(o);
    }
    t.saved = offices.iter().map(|o| o.saved.len() as u64).sum();
    let records = hub.records();
    let mut at_hub: BTreeMap<String, u64> = BTreeMap::new();
    for r in &records {
        *at_hub
            .entry(r["short_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    for o in &offices {
        for id in &o.saved {
            match at_hub.get(id) {
                Some(1) => {}
                Some(_) => {
                    t.duplicates += 1;
                    eprintln!("powercut: {id} at the hub more than once");
                }
                None if t.lost.insert(id.clone()) => {
                    t.losses += 1;
                    eprintln!(
                        "powercut: LOST {id}: {} printed it as saved, not at the hub",
                        o.name
                    );
                }
                None => {}
            }
        }
    }
    for year in 2022..=2024 {
        let (theirs, ours) = (hub_totals(&hub, year), recompute_totals(&records, year));
        if theirs != ours {
            t.totals_mismatches += 1;
            eprintln!("powercut: totals for {year} differ:\nhub {theirs:?}\nrecomputed {ours:?}");
        }
    }
    let fs_stats: Vec<_> = std::iter::once(hub_fs.stats())
        .chain(offices.iter().map(|o| o.fs.stats()))
        .collect();
    let (writes, fsyncs) = fs_stats
        .iter()
        .fold((0, 0), |(w, f), s| (w + s.writes, f + s.fsyncs));
    eprintln!(
        "powercut: {} cuts in {:.0} s (saving {}, syncing {}, hub merging {}, restore {}; {} of {} armed at a \
         snapshot, {} of {} after n writes; {} writes torn; {} unsynced bytes dropped; {writes} writes, {fsyncs} fsyncs); {} \
         saved, {} saved-record checks, {} acked entries checked, {} records at the hub; losses {}, \
         acked losses {}, stores not opening {}, restores that did not resume {}, duplicates {}, totals \
         mismatches {}",
        t.cuts,
        started.elapsed().as_secs_f64(),
        t.cut_saving,
        t.cut_syncing,
        t.cut_hub,
        t.cut_restore,
        t.at_snapshot,
        t.snapshot_armed,
        t.at_write,
        t.write_armed,
        t.torn,
        t.bytes_dropped,
        t.saved,
        t.checked_saved,
        t.checked_acked,
        records.len(),
        t.losses,
        t.ack_losses,
        t.open_failures,
        t.restore_retries,
        t.duplicates,
        t.totals_mismatches
    );
    drop(hub);
    drop(offices);
    assert!(
        t.checked_saved > 0 && t.checked_acked > 0,
        "the run checked nothing"
    );
    assert_eq!(
        (
            t.losses,
            t.ack_losses,
            t.open_failures,
            t.restore_retries,
            t.duplicates,
            t.totals_mismatches
        ),
        (0, 0, 0, 0, 0, 0),
        "seed {seed}: see the lines above"
    );
}
