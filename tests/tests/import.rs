//! `baobi-agent survey import`: CSV and JSON Lines through the real binary, all or nothing, with and
//! without a running daemon.

use baobi_tests::{market_rows, stderr, Hub};

#[test]
fn a_file_with_one_bad_row_saves_nothing_and_names_the_line() {
    let hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let file = agent.dir.path().join("surveys.csv");
    std::fs::write(
        &file,
        format!(
            "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio\n\
             market,{market},2025-02-14,180,60,21.5,45\n\
             # the next row surveys more vendors than the market has\n\
             market,{market},2025-03-14,180,600,21.5,45\n\
             market,{market},2025-04-14,180,60,abc,45\n"
        ),
    )
    .unwrap();
    let out = agent.run(&["survey", "import", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("line 4") && err.contains("line 5"), "{err}");
    assert!(err.contains("Nothing saved"), "{err}");
    assert!(agent
        .json(&["survey", "list"])
        .as_array()
        .unwrap()
        .is_empty());

    // Fixed, it imports; the ids printed are the records listed.
    std::fs::write(
        &file,
        format!(
            "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio,reduction_model\n\
             market,{market},2025-02-14,180,60,21.5,45,yes\n\
             market,{market},2025-03-14,180,60,19,45,no\n"
        ),
    )
    .unwrap();
    let ids: Vec<String> = agent
        .ok(&["survey", "import", file.to_str().unwrap()])
        .lines()
        .map(String::from)
        .collect();
    assert_eq!(ids.len(), 2);
    let listed = agent.json(&["survey", "list"]);
    for id in &ids {
        assert!(listed.as_array().unwrap().iter().any(|s| &s["id"] == id));
    }
    assert_eq!(agent.sync()["sent"], 3);
}

#[test]
fn import_goes_through_a_running_daemon() {
    let hub = Hub::start();
    let mut agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    agent.start_daemon(3600);
    let ids = agent.import(&market_rows(&[market], 50, 9));
    assert_eq!(ids.len(), 50);
    // The daemon syncs soon after a save.
    baobi_tests::wait_for(std::time::Duration::from_secs(60), || {
        agent.json(&["status"])["pending"] == 0
    });
    let records = hub.records();
    for id in &ids {
        assert_eq!(records.iter().filter(|r| &r["short_id"] == id).count(), 1);
    }
    agent.stop_daemon();
}
