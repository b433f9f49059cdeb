//! Runs the real `baobi-bench` binary at small sizes on loopback and checks the figures it prints as
//! JSON: every peer completes every scenario (each peer's run already fails when its replicas differ
//! afterwards), and the goals that do not depend on timing hold for baobi.

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_baobi-bench"))
        .args(args)
        .env("RUST_LOG", "error")
        .output()
        .expect("run baobi-bench");
    assert!(
        out.status.success(),
        "baobi-bench failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON on stdout")
}

fn measure<'a>(report: &'a Value, peer: &str, scenario: &str) -> &'a Value {
    let run = report["sync"]
        .as_array()
        .expect("sync runs")
        .iter()
        .find(|r| r["peer"] == peer)
        .unwrap_or_else(|| panic!("no run of {peer}"));
    &run["results"]
        .as_array()
        .expect("results")
        .iter()
        .find(|r| r[0] == scenario)
        .unwrap_or_else(|| panic!("{peer} has no {scenario}"))[1]
}

fn n(v: &Value, k: &str) -> u64 {
    v[k].as_u64()
        .unwrap_or_else(|| panic!("{k} missing in {v}"))
}

#[test]
fn every_peer_syncs_the_same_records_and_baobi_sends_least_for_a_few_new() {
    let r = run(&[
        "--json",
        "--sections",
        "sync,hub,reports",
        "--report-records",
        "2000",
        "--report-runs",
        "1",
        "--profiles",
        "loopback",
        "--records",
        "150",
        "--hub-entries",
        "1200",
        "--hub-authors",
        "4",
    ]);
    for peer in ["baobi", "full-state", "automerge", "https"] {
        for sc in ["initial", "add-few", "no-change", "lost-state"] {
            let m = measure(&r, peer, sc);
            assert!(m["wall_s"].as_f64().is_some(), "{peer} {sc}: {m}");
        }
        let init = measure(&r, peer, "initial");
        assert!(
            n(init, "app_up") > 150 * 30,
            "{peer} sent too little: {init}"
        );
        assert!(
            n(init, "wire_up") >= n(init, "app_up"),
            "{peer}: wire < app"
        );
    }
    let at = r["reports"]["at"].as_array().expect("reports timed");
    assert!(!at.is_empty(), "{}", r["reports"]);
    for a in at {
        for k in ["year_s", "trend_s", "overview_s"] {
            assert!(a[k].as_f64().is_some_and(|t| t > 0.0), "{k}: {a}");
        }
    }
    assert_eq!(at.last().map(|a| n(a, "records")), Some(2000));
    let b = measure(&r, "baobi", "no-change");
    assert_eq!(n(b, "round_trips"), 1);
    assert!(n(b, "app_up") <= 150 && n(b, "app_down") <= 150, "{b}");
    let few = |p| {
        let m = measure(&r, p, "add-few");
        n(m, "app_up") + n(m, "app_down")
    };
    assert!(few("full-state") >= 10 * few("baobi"));
    assert!(few("baobi") < few("automerge"));
    // HTTPS sends nothing when nothing is new; it resends everything after losing its flags.
    assert_eq!(n(measure(&r, "https", "no-change"), "round_trips"), 0);
    assert_eq!(n(measure(&r, "https", "lost-state"), "round_trips"), 160);
    let hub = &r["hub"];
    assert_eq!(n(hub, "entries"), 1200);
    assert_eq!(hub["totals"].as_array().map(Vec::len), Some(3));
}
