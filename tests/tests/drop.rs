//! Drop files through the real binaries (issue 14, part 2): an office with no link carries its
//! records to the hub on a file and the hub's answer (what the office lacks, and the hub's receipt)
//! back; the hub merges a file with every check a sync does, and a damaged or foreign file is refused
//! with nothing changed anywhere.

use std::path::{Path, PathBuf};

use baobi_tests::{hub_totals, recompute_totals, stderr, Agent, Hub};
use serde_json::Value;

fn path(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn s(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// The same records, written by whichever office is given (one synced, one carried by file).
fn record_offline(office: &Agent) -> Vec<String> {
    let market = office.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let shop = office.outlet("convenience", "Bách hóa Tân Thành", "30226", &[]);
    vec![
        market.clone(),
        shop.clone(),
        office.market_survey(&market, "2025-02-14", "21.5", &["--round", "baseline"]),
        office.market_survey(&market, "2025-06-20", "17.25", &[]),
        office.retail_survey(&shop, "2025-03-03", true, "120"),
    ]
}

/// What a hub shows that a drop file could change: its records, its offices, its totals.
fn hub_state(hub: &Hub) -> (Vec<Value>, Value, Value) {
    (
        hub.records(),
        hub.json(&["agents"]),
        hub.json(&["totals", "--year", "2025"]),
    )
}

fn survey_count(office: &Agent) -> usize {
    office
        .json(&["survey", "list"])
        .as_array()
        .expect("surveys")
        .len()
}

#[test]
fn a_drop_file_carried_both_ways_equals_a_sync_and_brings_the_receipt_back() {
    let files = tempfile::tempdir().unwrap();
    // Two hubs of the same province: one reached by sync, one by drop files only.
    let mut synced = Hub::start();
    let s_commune = synced.enroll_agent("30226");
    let s_district = synced.enroll_agent("876");
    let mut dropped = Hub::start();
    let commune = dropped.enroll_agent("30226");
    let district = dropped.enroll_agent("876");
    dropped.stop();

    let ids = record_offline(&s_commune);
    assert_eq!(s_commune.sync()["sent"], ids.len());
    assert_eq!(s_district.sync()["received"], ids.len());
    let ids = record_offline(&commune);
    let n = ids.len() as u64;
    assert_eq!(commune.json(&["status"])["pending"], n);

    // Office → hub.
    let up = path(files.path(), "tan-thanh.baobi-drop");
    let e = commune.json(&["drop", "export", "--out", s(&up)]);
    assert_eq!(
        (e["entries"].as_u64(), e["from"].as_u64()),
        (Some(n), Some(1)),
        "{e}"
    );
    let i = dropped.json(&["drop", "import", s(&up)]);
    assert_eq!(
        (i["entries"].as_u64(), i["new"].as_u64()),
        (Some(n), Some(n)),
        "{i}"
    );
    assert_eq!(i["at_hub"], n, "{i}");
    let records = dropped.records();
    for id in &ids {
        let k = records.iter().filter(|r| &r["short_id"] == id).count();
        assert_eq!(k, 1, "record {id} at the hub exactly once");
    }
    // The hub's figures equal those of the hub the same records reached by sync.
    assert_eq!(hub_totals(&dropped, 2025), hub_totals(&synced, 2025));
    assert_eq!(hub_totals(&dropped, 2025), recompute_totals(&records, 2025));
    let ind = |h: &Hub| h.indicators(2025, Some("876"))["indicators"].clone();
    assert_eq!(ind(&dropped), ind(&synced));

    // The same file again changes nothing.
    let before = hub_state(&dropped);
    let again = dropped.json(&["drop", "import", s(&up)]);
    assert_eq!(again["new"], 0, "{again}");
    assert_eq!(hub_state(&dropped), before);
    // Until a receipt comes back, the office still counts its records as not at the hub.
    assert_eq!(commune.json(&["status"])["pending"], n);

    // Hub → office: the receipt.
    let down = path(files.path(), "for-tan-thanh.baobi-drop");
    let e = dropped.json(&[
        "drop",
        "export",
        "--for",
        &commune.author(),
        "--out",
        s(&down),
    ]);
    assert_eq!(e["receipt_seq"], n, "{e}");
    let i = commune.json(&["drop", "import", s(&down)]);
    assert_eq!(
        (i["at_hub"].as_u64(), i["pending"].as_u64()),
        (Some(n), Some(0)),
        "{i}"
    );
    assert_eq!(commune.json(&["status"])["pending"], 0);
    let held = commune.json(&["status"])["entries"].clone();
    let i = commune.json(&["drop", "import", s(&down)]);
    assert_eq!(i["new"], 0, "{i}");
    assert_eq!(commune.json(&["status"])["entries"], held);

    // Hub → district office: its communes' records, as a sync would bring them.
    let district_file = path(files.path(), "for-district.baobi-drop");
    dropped.ok(&[
        "drop",
        "export",
        "--for",
        "office 876",
        "--out",
        s(&district_file),
    ]);
    let i = district.json(&["drop", "import", s(&district_file)]);
    assert!(i["entries"].as_u64().unwrap() >= n, "{i}");
    assert_eq!(survey_count(&district), survey_count(&s_district));
    assert_eq!(survey_count(&district), survey_count(&commune));

    // Once the hub is reachable again, a sync has nothing left to carry either way.
    dropped.serve();
    let r = commune.sync();
    assert_eq!(r["sent"], 0, "{r}");
    let r = district.sync();
    assert_eq!(r["received"], 0, "{r}");
    assert_eq!(hub_totals(&dropped, 2025), hub_totals(&synced, 2025));
    synced.stop();
}

#[test]
fn a_damaged_truncated_or_foreign_file_is_refused_and_changes_nothing() {
    let files = tempfile::tempdir().unwrap();
    let mut hub = Hub::start();
    let commune = hub.enroll_agent("30226");
    let neighbour = hub.enroll_agent("30208");
    let mut other_hub = Hub::start();
    let stranger = other_hub.enroll_agent("30226");
    hub.stop();
    other_hub.stop();
    record_offline(&commune);
    record_offline(&stranger);

    let good = path(files.path(), "good.baobi-drop");
    commune.ok(&["drop", "export", "--out", s(&good)]);
    let bytes = std::fs::read(&good).unwrap();
    let foreign = path(files.path(), "stranger.baobi-drop");
    stranger.ok(&["drop", "export", "--out", s(&foreign)]);

    let mut bad: Vec<(&str, PathBuf)> = vec![];
    for (name, content) in [
        ("flipped-in-body", {
            let mut b = bytes.clone();
            let at = b.len() / 2;
            b[at] ^= 0x10;
            b
        }),
        ("flipped-in-header", {
            let mut b = bytes.clone();
            b[20] ^= 0x01;
            b
        }),
        ("truncated", bytes[..bytes.len() - 10].to_vec()),
        ("trailing", [bytes.clone(), b"\n".to_vec()].concat()),
        ("empty", vec![]),
    ] {
        let p = path(files.path(), name);
        std::fs::write(&p, content).unwrap();
        bad.push((name, p));
    }
    bad.push(("another hub's office", foreign));

    let before = hub_state(&hub);
    for (name, p) in &bad {
        let out = hub.run(&["drop", "import", s(p)]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nothing changed"),
            "{name}: {}",
            stderr(&out)
        );
        assert_eq!(hub_state(&hub), before, "{name} changed the hub");
    }
    // A revoked office's file is refused too.
    hub.ok(&["revoke", &commune.author()]);
    let before = hub_state(&hub);
    let out = hub.run(&["drop", "import", s(&good)]);
    assert_eq!(out.status.code(), Some(2), "revoked: {}", stderr(&out));
    assert_eq!(hub_state(&hub), before);

    // Offices refuse files not for them: another hub's, another office's, a damaged one.
    let for_neighbour = path(files.path(), "for-neighbour.baobi-drop");
    hub.ok(&[
        "drop",
        "export",
        "--for",
        &neighbour.author(),
        "--out",
        s(&for_neighbour),
    ]);
    let from_other_hub = path(files.path(), "from-other-hub.baobi-drop");
    other_hub.ok(&[
        "drop",
        "export",
        "--for",
        &stranger.author(),
        "--out",
        s(&from_other_hub),
    ]);
    let mut damaged = std::fs::read(&for_neighbour).unwrap();
    let at = damaged.len() - 30;
    damaged[at] ^= 0x80;
    let damaged_path = path(files.path(), "damaged-for-neighbour");
    std::fs::write(&damaged_path, damaged).unwrap();
    let status = |a: &Agent| {
        let mut st = a.json(&["status"]);
        st["last_sync"] = Value::Null;
        (st, survey_count(a))
    };
    for (who, file, name) in [
        (&commune, &for_neighbour, "another office's"),
        (&commune, &from_other_hub, "another hub's"),
        (&neighbour, &damaged_path, "damaged"),
        (&neighbour, &good, "an office's own file"),
    ] {
        let before = status(who);
        let out = who.run(&["drop", "import", s(file)]);
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert_eq!(status(who), before, "{name} changed the office");
    }
}

#[test]
fn the_dashboard_takes_a_drop_file_upload_from_an_operator() {
    let files = tempfile::tempdir().unwrap();
    let mut hub = Hub::init();
    let out = hub.add_operator("chị Lan", "mật khẩu đủ dài");
    assert!(out.status.success(), "{}", stderr(&out));
    hub.serve_http();
    let commune = hub.enroll_agent("30226");
    let n = record_offline(&commune).len() as u64;
    let file = path(files.path(), "up.baobi-drop");
    commune.ok(&["drop", "export", "--out", s(&file)]);
    let bytes = std::fs::read(&file).unwrap();
    const OCTETS: &str = "application/octet-stream";

    let mut web = hub.web();
    let before = hub_state(&hub);
    assert_eq!(web.post_bytes("/api/drop", OCTETS, &bytes).status, 401);
    assert_eq!(web.login("chị Lan", "mật khẩu đủ dài").status, 200);
    // Only as a file's bytes: a form post (what a foreign page could send) is refused.
    let r = web.post_bytes("/api/drop", "application/x-www-form-urlencoded", &bytes);
    assert_eq!(r.status, 400, "{}", r.text());
    let mut flipped = bytes.clone();
    let at = flipped.len() / 2;
    flipped[at] ^= 4;
    let r = web.post_bytes("/api/drop", OCTETS, &flipped);
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("nothing changed"));
    assert_eq!(hub_state(&hub), before);

    let r = web.post_bytes("/api/drop", OCTETS, &bytes);
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (j["entries"].as_u64(), j["new"].as_u64()),
        (Some(n), Some(n)),
        "{j}"
    );
    assert_eq!(j["office"], commune.author());
    let after = hub_state(&hub);
    assert_eq!(after.0.len() as u64, n);
    let r = web.post_bytes("/api/drop", OCTETS, &bytes);
    assert_eq!(r.json()["new"], 0);
    assert_eq!(hub_state(&hub), after);
    // The page carries the upload form.
    assert!(web.get("/static/app.js").text().contains("/api/drop"));
}
