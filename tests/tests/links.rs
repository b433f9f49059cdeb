//! Sync over simulated mobile links (the `baobi-netsim` UDP proxy between a real agent and a real hub):
//! a backlog syncs completely on 4G, 3G, EDGE and GPRS; a partition mid-sync heals without resending
//! what the hub acknowledged; a sync killed during a partition resumes with exactly what the hub lacks;
//! an address change (NAT rebinding) mid-sync completes; a link that reorders and duplicates packets
//! still syncs exactly once.
//!
//! Sizes: the suite syncs 2,000 records on 4G and 3G, 500 on EDGE and 100 on GPRS (GPRS's 20 kbit/s
//! uplink needs ~140 s for 2,000). `BAOBI_LINKS_FULL=1` runs 2,000 records on every profile.

use std::process::Output;
use std::time::{Duration, Instant};

use baobi_netsim::Profile;
use baobi_tests::{market_rows, wait_for, Agent, Hub, Link};
use serde_json::Value;

/// Markets the backlog is spread over.
const OUTLETS: usize = 4;

/// True when `BAOBI_LINKS_FULL=1` asks for the full 2,000-record backlog on every profile.
fn full() -> bool {
    std::env::var("BAOBI_LINKS_FULL").is_ok_and(|v| v == "1")
}

/// A hub, a link in front of it, an office enrolled through the link with `OUTLETS` markets synced,
/// and `n` market surveys recorded but not yet synced.
struct Setup {
    hub: Hub,
    link: Link,
    agent: Agent,
    outlets: Vec<String>,
    ids: Vec<String>,
}

fn setup(n: usize, seed: u64) -> Setup {
    let hub = Hub::start();
    let link = Link::start(hub.addr.expect("serving"), Profile::loopback(), seed);
    let agent = hub.enroll_agent_at("30226", link.addr());
    let outlets: Vec<String> = (0..OUTLETS)
        .map(|i| agent.outlet("market", &format!("Chợ số {i}"), "30226", &[]))
        .collect();
    assert_eq!(agent.sync()["sent"], OUTLETS as u64);
    let ids = agent.import(&market_rows(&outlets, n, seed));
    assert_eq!(ids.len(), n);
    assert_eq!(agent.json(&["status"])["pending"], n as u64);
    Setup {
        hub,
        link,
        agent,
        outlets,
        ids,
    }
}

impl Setup {
    /// Every imported id is at the hub exactly once, and nothing else is.
    fn assert_exactly_once(&self) {
        let records = self.hub.records();
        let mut counts = std::collections::BTreeMap::<String, usize>::new();
        for r in &records {
            *counts
                .entry(r["short_id"].as_str().unwrap_or_default().to_string())
                .or_default() += 1;
        }
        for id in self.ids.iter().chain(&self.outlets) {
            assert_eq!(
                counts.get(id),
                Some(&1),
                "record {id} at the hub exactly once"
            );
        }
        assert_eq!(records.len(), self.ids.len() + self.outlets.len());
        assert_eq!(self.agent.json(&["status"])["pending"], 0);
    }

    /// Records at the hub that are surveys (outlets excluded).
    fn hub_surveys(&self) -> usize {
        self.hub.records().len() - self.outlets.len()
    }
}

/// Parses a finished `sync --json`, which must have succeeded.
fn report(out: Output) -> Value {
    assert!(
        out.status.success(),
        "sync failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("sync JSON")
}

/// Syncs an `n`-record backlog over `profile` and checks it arrived exactly once.
fn backlog_syncs(profile: Profile, n: usize, seed: u64) {
    let s = setup(n, seed);
    let name = profile.name.clone();
    s.link.proxy().set_profile(profile);
    s.link.proxy().reset_stats();
    let t = Instant::now();
    let r = s.agent.sync();
    let took = t.elapsed();
    let st = s.link.proxy().stats();
    eprintln!(
        "links: {name}: {n} records in {:.1} s; app bytes up {} ({} B/record), UDP up {} B in {} packets, \
         down {} B, dropped {}, round trips {}",
        took.as_secs_f64(),
        r["bytes_up"],
        r["bytes_up"].as_u64().unwrap_or(0) / n as u64,
        st.up_bytes,
        st.up_packets,
        st.down_bytes,
        st.dropped,
        r["round_trips"],
    );
    assert_eq!(r["sent"], n as u64, "{name}: every record sent once");
    s.assert_exactly_once();
}

#[test]
fn backlog_syncs_completely_on_4g() {
    backlog_syncs(Profile::lte(), 2_000, 4);
}

#[test]
fn backlog_syncs_completely_on_3g() {
    backlog_syncs(Profile::umts(), 2_000, 3);
}

#[test]
fn backlog_syncs_completely_on_edge() {
    backlog_syncs(Profile::edge(), if full() { 2_000 } else { 500 }, 2);
}

#[test]
fn backlog_syncs_completely_on_gprs() {
    backlog_syncs(Profile::gprs(), if full() { 2_000 } else { 100 }, 1);
}

#[test]
fn no_change_syncs_on_gprs_all_succeed() {
    let s = setup(0, 5);
    s.link.proxy().set_profile(Profile::gprs());
    let mut times = Vec::new();
    let mut bytes = Vec::new();
    for _ in 0..3 {
        s.link.proxy().reset_stats();
        let t = Instant::now();
        let r = s.agent.sync();
        times.push(t.elapsed());
        bytes.push(s.link.proxy().stats().up_bytes);
        assert_eq!(r["up_to_date"], true);
    }
    times.sort();
    bytes.sort_unstable();
    eprintln!(
        "links: gprs no-change sync: median {:.2} s (min {:.2}, max {:.2}), median UDP bytes up {}",
        times[1].as_secs_f64(),
        times[0].as_secs_f64(),
        times[2].as_secs_f64(),
        bytes[1]
    );
}

#[test]
fn backlog_syncs_completely_on_a_reordering_3g_link() {
    let profile = Profile {
        name: "3g+reorder".into(),
        reorder: 0.02,
        duplicate: 0.01,
        ..Profile::umts()
    };
    backlog_syncs(profile, if full() { 2_000 } else { 500 }, 6);
}

/// Waits until the link has carried `bytes` towards the hub (the sync is under way).
fn wait_for_upload(link: &Link, bytes: u64) {
    wait_for(Duration::from_secs(120), || {
        link.proxy().stats().up_bytes >= bytes
    });
}

#[test]
fn partition_mid_sync_heals_and_the_sync_completes_without_resending() {
    let n = 1_000;
    let s = setup(n, 11);
    // Sealed, deflated runs of these rows cost ~16 B a record on the wire (600 took 9,530 B up on
    // EDGE): ~16 KB on GPRS's 20 kbit/s uplink is about 6 s of upload.
    s.link.proxy().set_profile(Profile::gprs());
    s.link.proxy().reset_stats();
    let sync = s.agent.spawn(&["sync", "--json"]);
    // About a third is through (the handshake's ~1.3 KB included): cut the link for 5 s (several
    // loss timers), then heal it.
    wait_for_upload(&s.link, 6_000);
    s.link.proxy().set_partitioned(true);
    std::thread::sleep(Duration::from_secs(5));
    s.link.proxy().set_partitioned(false);
    let r = report(sync.wait_with_output().expect("sync exits"));
    // The same connection carried on: every record was sent once, none twice.
    assert_eq!(r["sent"], n as u64);
    assert!(
        s.link.proxy().stats().dropped > 0,
        "the partition dropped packets"
    );
    s.assert_exactly_once();
    // A further sync has nothing to send.
    assert_eq!(s.agent.sync()["sent"], 0);
}

#[test]
fn sync_killed_during_a_partition_resumes_with_exactly_what_the_hub_lacks() {
    let n = 1_000;
    let s = setup(n, 12);
    // ~16 KB of upload on GPRS (see above): about 6 s, two batches of 512.
    s.link.proxy().set_profile(Profile::gprs());
    let mut sync = s.agent.spawn(&["sync", "--json"]);
    // The hub has merged the first batch of 512 (of two): cut the link.
    wait_for(Duration::from_secs(120), || s.hub_surveys() > 0);
    s.link.proxy().set_partitioned(true);
    // The office gives up (or loses power) while the link is down.
    std::thread::sleep(Duration::from_secs(2));
    sync.kill().expect("kill sync");
    let _ = sync.wait();
    // Nothing more can reach the hub: wait until what it received is merged.
    let mut held = s.hub_surveys();
    loop {
        std::thread::sleep(Duration::from_millis(500));
        let now = s.hub_surveys();
        if now == held {
            break;
        }
        held = now;
    }
    assert!(
        held > 0 && held < n,
        "the kill fell mid-sync: hub holds {held} of {n}"
    );
    let pending = s.agent.json(&["status"])["pending"].as_u64().unwrap_or(0) as usize;
    assert!(
        pending >= n - held,
        "the agent never counts as acknowledged what the hub lacks"
    );
    s.link.proxy().set_partitioned(false);
    let r = s.agent.sync();
    assert_eq!(
        r["sent"],
        (n - held) as u64,
        "the resumed sync sends exactly what the hub lacks"
    );
    s.assert_exactly_once();
}

#[test]
fn address_change_mid_sync_completes() {
    let n = 1_000;
    let s = setup(n, 13);
    // ~16 KB of upload on GPRS (see above): rebind about a third of the way through.
    s.link.proxy().set_profile(Profile::gprs());
    s.link.proxy().reset_stats();
    let sync = s.agent.spawn(&["sync", "--json"]);
    wait_for_upload(&s.link, 6_000);
    s.link.proxy().migrate().expect("rebind");
    let r = report(sync.wait_with_output().expect("sync exits"));
    assert_eq!(r["sent"], n as u64);
    s.assert_exactly_once();
}
