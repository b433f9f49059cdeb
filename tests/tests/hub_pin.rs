//! An office pinned to one hub meeting another (an office pointed at the wrong hub, or a hub whose
//! key changed): told what it is, exit 1, and the daemon reports it in `status` instead of backing
//! off as if the link were down. Real hubs on the same loopback port, real agent and daemon.

use std::time::Duration;

use baobi_tests::{stderr, wait_for, Hub};

#[test]
fn an_office_meeting_another_hub_is_told_its_certificate_does_not_match() {
    let mut a = Hub::start();
    let mut office = a.enroll_agent("30226");
    let shop = office.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    office.retail_survey(&shop, "2024-03-04", false, "0");
    office.sync();
    let port = a.addr;
    a.stop();

    // Another province's hub now answers on the address the office knows.
    let mut b = Hub::init();
    b.addr = port;
    b.serve();
    office.ok(&[
        "campaign",
        "add",
        "--date",
        "2024-04-01",
        "--kind",
        "event",
        "--topic",
        "Ngày hội",
    ]);
    let out = office.run(&["sync"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not match") && err.contains("chứng chỉ") && err.contains("certificate"),
        "{err}"
    );
    assert!(!err.contains("unreachable"), "not a link problem: {err}");
    let status = office.json(&["status"]);
    assert_eq!(status["hub_mismatch"], true, "{status}");
    assert_eq!(status["pending"], 1, "nothing was sent: {status}");
    let text = office.ok(&["status"]);
    assert!(text.contains("does not match"), "{text}");

    // The daemon says so in `status`, and does not retry it as a link failure.
    office.start_daemon(1);
    wait_for(Duration::from_secs(20), || {
        office.json(&["status"])["hub_mismatch"] == true
            && office.json(&["status"])["last_error"]
                .as_str()
                .is_some_and(|e| e.contains("does not match"))
    });
    office.stop_daemon();

    // The right hub back on the address: the sync goes through and the warning clears.
    b.stop();
    a.serve();
    assert_eq!(a.addr, port);
    let r = office.sync();
    assert_eq!(r["sent"], 1, "{r}");
    let status = office.json(&["status"]);
    assert_eq!(status["hub_mismatch"], false, "{status}");
    assert_eq!(status["last_error"], serde_json::Value::Null);
}

#[test]
fn enrolling_with_a_token_whose_hub_is_not_there_says_the_certificate_does_not_match() {
    let mut a = Hub::start();
    let token = a.token("30226");
    let port = a.addr;
    a.stop();
    let mut b = Hub::init();
    b.addr = port;
    b.serve();
    let office = baobi_tests::Agent::new();
    let out = office.run(&["init", "--token", &token]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("does not match") && err.contains("chứng chỉ"),
        "{err}"
    );
}
