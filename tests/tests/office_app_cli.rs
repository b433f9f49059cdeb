//! The office app from the command line, over the real binaries: `baobi-agent app` starting a daemon
//! or finding the running one, a daemon started before enrollment that `init` enrolls through its
//! socket (then it syncs), and no enrollment token in a daemon's debug log.

use baobi_tests::app::AppClient;
use baobi_tests::{Agent, Hub};
use serde_json::json;

#[test]
fn a_daemon_started_before_enrollment_syncs_once_init_runs_through_it() {
    let hub = Hub::start();
    let mut agent = Agent::new();
    let addrs = agent.start_app(false, &[]);
    let mut c = AppClient::open(addrs.loopback);
    assert_eq!(c.json("/api/status")["enrolled"], false);
    // `init` goes through the running daemon's socket (sled allows one process per store).
    let author = agent.ok(&[
        "init",
        "--token",
        &hub.token("30226"),
        "--label",
        "Tân Thành",
    ]);
    let st = c.json("/api/status");
    assert_eq!(
        (st["enrolled"].clone(), st["author"].clone()),
        (json!(true), json!(author.trim()))
    );
    // The CLI records through the daemon; the app sees it; the daemon's own sync loop sends it.
    let outlet = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    assert_eq!(
        c.json("/api/outlets?q=tan%20thanh")["outlets"][0]["id"],
        outlet.trim()
    );
    baobi_tests::wait_for(std::time::Duration::from_secs(20), || {
        hub.records().iter().any(|r| r["short_id"] == outlet.trim())
    });
    // `baobi-agent app` finds the running daemon's app and prints its address.
    let url = agent.ok(&["app", "--no-open"]);
    assert_eq!(url.trim(), format!("http://{}/", addrs.loopback));
}

#[test]
fn app_starts_a_daemon_when_none_runs_and_prints_its_address() {
    let agent = Agent::new();
    let out = agent.run(&["app", "--no-open", "--http", "127.0.0.1:0"]);
    let err = baobi_tests::stderr(&out);
    let pid: u32 = err
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(')').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("the daemon's pid on stderr: {err}"));
    let stop = || {
        let _ = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status();
    };
    if !out.status.success() {
        stop();
        panic!("app failed: {err}");
    }
    let url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let addr: std::net::SocketAddr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .parse()
        .expect("an http://IP:PORT/ address");
    let mut c = AppClient::new(addr);
    let page = c.get("/");
    let status = c.get("/api/status");
    // A second `app` finds the running daemon instead of starting another.
    let again = agent.run(&["app", "--no-open"]);
    stop();
    assert_eq!(page.status, 200);
    assert_eq!(status.json()["enrolled"], false, "a store not enrolled yet");
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), url);
    assert!(
        !baobi_tests::stderr(&again).contains("pid"),
        "no second daemon"
    );
    // The daemon stops on SIGTERM and removes its address file.
    baobi_tests::wait_for(std::time::Duration::from_secs(15), || {
        !agent.dir.path().join("app.url").exists()
    });
}

#[test]
fn enrolling_through_a_daemon_logging_at_debug_never_logs_the_token() {
    let hub = Hub::start();
    let agent = Agent::new();
    let log = agent.dir.path().with_extension("daemon.log");
    let mut daemon = std::process::Command::new(baobi_tests::bin("baobi-agent"))
        .arg("--data")
        .arg(agent.dir.path())
        .args(["daemon", "--http", "127.0.0.1:0"])
        .env("BAOBI_LOG", "debug")
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    baobi_tests::wait_for(std::time::Duration::from_secs(20), || {
        agent.dir.path().join("app.url").exists()
    });
    let token = hub.token("30226");
    let init = agent.run(&["init", "--token", &token]);
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &daemon.id().to_string()])
        .status();
    let _ = daemon.wait();
    assert!(init.status.success(), "{}", baobi_tests::stderr(&init));
    let text = std::fs::read_to_string(&log).unwrap();
    let _ = std::fs::remove_file(&log);
    assert!(text.contains("DEBUG"), "the daemon logged at debug");
    let secret = token.rsplit('.').next().unwrap();
    assert!(
        !text.contains(secret),
        "the token is in the daemon's log:\n{text}"
    );
}
