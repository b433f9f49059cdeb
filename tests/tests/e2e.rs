//! End to end over real QUIC on loopback with real sled stores and the real binaries: offices record
//! offline, sync when the hub is up, and the hub's merged totals match a recomputation from its records.

use baobi_tests::{hub_totals, recompute_totals, stderr, Hub};
use serde_json::Value;

fn record<'a>(records: &'a [Value], short_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["short_id"] == short_id)
        .unwrap_or_else(|| panic!("record {short_id} not at the hub"))
}

#[test]
fn surveys_recorded_offline_on_two_agents_reach_the_hub_exactly_once() {
    let mut hub = Hub::start();
    let tan_thanh = hub.enroll_agent("30226");
    let lai_vung = hub.enroll_agent("30208");
    hub.stop();

    // Offline: the hub is down while both offices record.
    let market = tan_thanh.outlet(
        "market",
        "Chợ Tân Thành",
        "30226",
        &["--class", "3", "--new-rural-since", "2022-11-10"],
    );
    let s1 = tan_thanh.market_survey(&market, "2025-02-14", "21.5", &["--round", "baseline"]);
    let s2 = tan_thanh.market_survey(&market, "2025-06-20", "17.25", &[]);
    let shop = lai_vung.outlet("convenience", "Bách hóa Lai Vung", "Thị trấn Lai Vung", &[]);
    let mart = lai_vung.outlet("supermarket", "Siêu thị Lai Vung", "30208", &[]);
    let s3 = lai_vung.retail_survey(&shop, "2025-03-03", true, "120");
    let s4 = lai_vung.retail_survey(&mart, "2025-03-04", false, "0");
    let offline = tan_thanh.run(&["sync"]);
    assert_eq!(
        offline.status.code(),
        Some(3),
        "hub down: {}",
        stderr(&offline)
    );
    assert_eq!(tan_thanh.json(&["status"])["pending"], 3);

    hub.serve();
    assert_eq!(tan_thanh.sync()["sent"], 3);
    assert_eq!(lai_vung.sync()["sent"], 4);

    let records = hub.records();
    for id in [&market, &s1, &s2, &shop, &mart, &s3, &s4] {
        let n = records.iter().filter(|r| &r["short_id"] == id).count();
        assert_eq!(n, 1, "record {id} at the hub exactly once");
    }
    assert_eq!(records.len(), 7);
    assert_eq!(hub_totals(&hub, 2025), recompute_totals(&records, 2025));
    let market_row = &hub_totals(&hub, 2025)[&("30226".to_string(), "market".to_string())];
    assert_eq!(
        market_row,
        &[2, 1, 17_250, 0, 0],
        "latest survey of the market counts"
    );

    // A second sync sends nothing again, and the hub still holds each record once.
    for agent in [&tan_thanh, &lai_vung] {
        let again = agent.sync();
        assert_eq!(
            (again["sent"].as_u64(), again["received"].as_u64()),
            (Some(0), Some(0))
        );
        // A no-change sync over real QUIC: one round trip, at most 150 bytes of application payload each way.
        assert_eq!(again["up_to_date"], true, "{again}");
        assert_eq!(again["round_trips"], 1, "{again}");
        assert!(again["bytes_up"].as_u64().unwrap() <= 150, "{again}");
        assert!(again["bytes_down"].as_u64().unwrap() <= 150, "{again}");
        eprintln!("no-change sync over QUIC: {again}");
        assert_eq!(agent.json(&["status"])["pending"], 0);
    }
    assert_eq!(hub.records().len(), 7);
}

#[test]
fn corrections_retractions_and_conflicts_propagate() {
    let hub = Hub::start();
    let district = hub.enroll_agent("876");
    let commune = hub.enroll_agent("30226");

    let market = commune.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let survey = commune.market_survey(&market, "2025-03-12", "20", &[]);
    commune.sync();
    assert_eq!(
        district.sync()["received"],
        2,
        "the district sees its communes' records"
    );

    // Both offices correct the same survey without seeing each other's correction.
    district.ok(&["survey", "correct", &survey, "--nonbio-kg", "18"]);
    commune.ok(&["survey", "correct", &survey, "--nonbio-kg", "19"]);
    commune.sync();
    district.sync();
    let rec = record(&hub.records(), &survey).clone();
    assert_eq!(rec["conflict"], true, "{rec}");
    assert_eq!(rec["heads"].as_array().unwrap().len(), 2);
    let shown = district.json(&["survey", "show", &survey]);
    assert_eq!(
        shown["survey"]["conflict"], true,
        "the district sees the conflict too: {shown}"
    );

    // A later correction naming both heads resolves it.
    district.ok(&["survey", "correct", &survey, "--nonbio-kg", "18.5"]);
    district.sync();
    let records = hub.records();
    let rec = record(&records, &survey);
    assert_eq!(rec["conflict"], false, "{rec}");
    assert_eq!(rec["heads"][0]["value"]["nonbio_g_per_day"], 18_500);
    assert_eq!(hub_totals(&hub, 2025), recompute_totals(&records, 2025));

    // The commune learns of the resolution, then retracts the survey.
    commune.sync();
    commune.ok(&["survey", "retract", &survey, "--reason", "nhập nhầm chợ"]);
    commune.sync();
    let records = hub.records();
    assert_eq!(record(&records, &survey)["retracted"], true);
    let totals = hub_totals(&hub, 2025);
    assert!(
        !totals.contains_key(&("30226".to_string(), "market".to_string())),
        "{totals:?}"
    );
    assert_eq!(totals, recompute_totals(&records, 2025));
}

#[test]
fn user_errors_name_the_field_and_save_nothing() {
    let hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let cases: &[(&[&str], &str)] = &[
        (&["--vendors-total", "-5"], "vendors-total"),
        (&["--vendors-surveyed", "500"], "vendors-surveyed"),
        (&["--date", "2099-01-01"], "date"),
        (&["--outlet", "deadbeef-99"], "outlet"),
    ];
    for (change, field) in cases {
        let mut args = vec![
            "survey",
            "market",
            "--outlet",
            &market,
            "--date",
            "2025-03-01",
            "--vendors-total",
            "100",
            "--vendors-surveyed",
            "50",
            "--nonbio-kg",
            "10",
            "--vendors-nonbio",
            "30",
        ];
        for pair in change.chunks(2) {
            let i = args.iter().position(|a| *a == pair[0]).unwrap();
            args[i + 1] = pair[1];
        }
        let out = agent.run(&args);
        assert!(!out.status.success(), "{change:?} accepted");
        assert!(
            stderr(&out).contains(field),
            "{change:?}: error should name {field}: {}",
            stderr(&out)
        );
    }
    // An outlet in a commune outside this office's jurisdiction (Phường 11, Cao Lãnh city).
    let out = agent.run(&[
        "outlet",
        "add",
        "market",
        "--name",
        "Chợ Phường 11",
        "--commune",
        "29869",
    ]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("commune"), "{}", stderr(&out));
    assert_eq!(
        agent.json(&["status"])["pending"],
        1,
        "only the outlet was saved"
    );
}

#[test]
fn restarted_hub_and_agent_keep_everything() {
    let mut hub = Hub::start();
    // The hub comes back on its port, so that port lies where no other test's port-0 socket can
    // take it while the hub is down (CI once saw "Address already in use" on a restart).
    let port = hub.addr.expect("serving").port();
    assert!(port < baobi_tests::ephemeral_range().0, "{port}");
    let agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    agent.market_survey(&market, "2025-03-12", "20", &[]);
    agent.sync();
    let before = hub.records();
    hub.stop();
    hub.serve();
    assert_eq!(hub.records(), before, "a restarted hub keeps everything");
    let again = agent.sync();
    assert_eq!(again["sent"], 0);

    // Every agent command is its own process: records made, then the agent "restarts" before syncing.
    agent.market_survey(&market, "2025-06-12", "15", &[]);
    hub.kill();
    hub.serve();
    assert_eq!(agent.json(&["status"])["pending"], 1);
    assert_eq!(agent.sync()["sent"], 1);
    assert_eq!(hub.records().len(), 3);
    // Totals work with the hub stopped, straight from its store.
    hub.stop();
    assert_eq!(
        hub_totals(&hub, 2025)[&("30226".into(), "market".into())][0],
        2
    );
}

#[test]
fn daemon_syncs_new_records_while_other_commands_work() {
    let hub = Hub::start();
    let mut agent = hub.enroll_agent("30226");
    agent.start_daemon(60);
    // Commands reach the store through the running daemon.
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = agent.market_survey(&market, "2025-03-12", "20", &[]);
    baobi_tests::wait_for(std::time::Duration::from_secs(30), || {
        hub.records()
            .iter()
            .any(|r| r["short_id"] == survey.as_str())
    });
    // The hub merges the batch before the daemon has read its acknowledgement: wait for that too.
    baobi_tests::wait_for(std::time::Duration::from_secs(30), || {
        agent.json(&["status"])["pending"] == 0
    });
    agent.stop_daemon();
}
