//! Logs as a log collector reads them: `--log-format json` (or `BAOBI_LOG_FORMAT=json`) makes every
//! stderr line of both binaries a JSON object, and at debug level through enrollment, adding an
//! operator and syncing no line carries the token, its one-time secret or the operator's password.

use std::io::Write;
use std::process::{Command, Stdio};

use baobi_proto::Token;
use baobi_tests::{bin, Agent, Hub};
use serde_json::Value;

/// Every line of `log` parsed as JSON (panics on one that is not), each checked for `secrets`.
fn check_json_lines(what: &str, log: &str, secrets: &[String]) -> usize {
    let mut n = 0;
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        // The CLI's own error lines ("Lỗi / Error: …") are not logs; none are expected here.
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("{what}: a log line that is not JSON ({e}): {line}"));
        assert!(v.get("level").is_some(), "{what}: no level in {line}");
        for s in secrets {
            assert!(
                !line.contains(s.as_str()),
                "{what} logged a secret ({s}): {line}"
            );
        }
        n += 1;
    }
    n
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn json_logs_at_debug_level_never_carry_a_token_secret_or_password() {
    let dir = tempfile::tempdir().unwrap();
    let hub_log = dir.path().join("hub.log");
    let mut hub = Hub::init();
    hub.serve_env = vec![
        ("RUST_LOG".into(), "debug".into()),
        ("BAOBI_LOG_FORMAT".into(), "json".into()),
    ];
    hub.serve_stderr = Some(hub_log.clone());
    hub.serve();

    // The token is made with debug logs in JSON: it goes to stdout, never to the logs.
    let addr = hub.addr.unwrap().to_string();
    let enroll = Command::new(bin("baobi-hub"))
        .args([
            "--log-format",
            "json",
            "enroll",
            "--unit",
            "30226",
            "--addr",
            &addr,
            "--data",
        ])
        .arg(hub.dir.path())
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(
        enroll.status.success(),
        "{}",
        String::from_utf8_lossy(&enroll.stderr)
    );
    let token = String::from_utf8(enroll.stdout).unwrap().trim().to_string();
    let secret = Token::from_text(&token).unwrap().secret;
    let password = "mật-khẩu Lan 2025!";
    let mut secrets = vec![
        token.clone(),
        token.trim_start_matches("baobi1.").to_string(),
        hex(&secret),
        format!("{secret:?}"),
        password.to_string(),
    ];
    secrets.dedup();

    // The office enrolls and syncs with debug logs in JSON too (the flag this time, not the env).
    let mut agent = Agent::new();
    let logs_env = [("BAOBI_LOG", "debug")];
    let init = agent.run_env(
        &[
            "--log-format",
            "json",
            "init",
            "--token",
            &token,
            "--label",
            "office 30226",
        ],
        &logs_env,
    );
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    agent.token = token.clone();
    agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let sync = agent.run_env(&["--log-format", "json", "sync"], &logs_env);
    assert!(
        sync.status.success(),
        "{}",
        String::from_utf8_lossy(&sync.stderr)
    );

    // An operator is added while the hub serves, the password on stdin, logging at debug in JSON.
    let mut add = Command::new(bin("baobi-hub"))
        .args([
            "--log-format",
            "json",
            "operator",
            "add",
            "lan",
            "--password-stdin",
            "--data",
        ])
        .arg(hub.dir.path())
        .env("RUST_LOG", "debug")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    add.stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let add = add.wait_with_output().unwrap();
    assert!(
        add.status.success(),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    hub.stop();

    let hub_lines = check_json_lines(
        "the serving hub",
        &std::fs::read_to_string(&hub_log).unwrap(),
        &secrets,
    );
    let agent_lines = check_json_lines(
        "the agent",
        &format!(
            "{}{}",
            String::from_utf8_lossy(&init.stderr),
            String::from_utf8_lossy(&sync.stderr)
        ),
        &secrets,
    );
    let add_lines = check_json_lines(
        "operator add",
        &String::from_utf8_lossy(&add.stderr),
        &secrets,
    );
    let enroll_lines =
        check_json_lines("enroll", &String::from_utf8_lossy(&enroll.stderr), &secrets);
    eprintln!(
        "JSON log lines: hub {hub_lines}, agent {agent_lines}, operator add {add_lines}, \
         enroll {enroll_lines}"
    );
    // The hub logged at least the enrollment and the sync, as JSON objects with their fields.
    let log = std::fs::read_to_string(&hub_log).unwrap();
    let messages: Vec<String> = log
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["fields"]["message"].as_str().map(str::to_string))
        .collect();
    for m in ["enrolled", "synced"] {
        assert!(
            messages.iter().any(|x| x == m),
            "no {m:?} line in {messages:?}"
        );
    }
}

#[test]
fn an_unknown_log_format_is_refused_with_usage() {
    let hub = Hub::init();
    let out = hub.run(&["--log-format", "xml", "agents"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let agent = Agent::new();
    let out = agent.run(&["--log-format", "xml", "status"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
}
