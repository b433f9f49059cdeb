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

/// An import killed while it writes (SIGKILL: a power button, a frozen PC) leaves all of its rows or
/// none, never some: fixing the file and importing again must not create duplicates. The kill lands
/// once the store's log starts growing (the rows are checked before anything is written), after a
/// seeded delay.
#[test]
fn an_import_killed_midway_saves_all_of_its_rows_or_none() {
    use rand::{Rng, SeedableRng};
    use std::time::{Duration, Instant};
    const ROWS: usize = 3000;
    let hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let outlets: Vec<String> = (0..4)
        .map(|i| agent.outlet("market", &format!("Chợ Tân Thành {i}"), "30226", &[]))
        .collect();
    let count = || agent.json(&["survey", "list"]).as_array().unwrap().len();
    let file = agent.dir.path().join("surveys.jsonl");
    let log = agent.dir.path().join("db");
    let size = || std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let mut have = count();
    let mut killed = 0;
    for salt in 0..5u64 {
        let rows = market_rows(&outlets, ROWS, salt);
        let text: String = rows.iter().map(|r| format!("{r}\n")).collect();
        std::fs::write(&file, text).unwrap();
        let before = size();
        let delay = Duration::from_millis(rng.gen_range(0..30));
        let mut child = agent.spawn(&["survey", "import", file.to_str().unwrap()]);
        let started = Instant::now();
        let mut writing: Option<Instant> = None;
        while child.try_wait().unwrap().is_none() {
            assert!(started.elapsed() < Duration::from_secs(120), "import hangs");
            match writing {
                None if size() > before + 16 * 1024 => writing = Some(Instant::now()),
                Some(t) if t.elapsed() >= delay => {
                    child.kill().unwrap();
                    killed += 1;
                    break;
                }
                _ => std::thread::sleep(Duration::from_micros(200)),
            }
        }
        let _ = child.wait();
        let now = count();
        assert!(
            now == have || now == have + ROWS,
            "an import killed {delay:?} into writing left {} of its {ROWS} rows",
            now - have
        );
        have = now;
    }
    assert!(
        killed >= 3,
        "the kills landed while writing ({killed} of 5)"
    );
}
