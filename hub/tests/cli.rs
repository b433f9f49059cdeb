//! Runs the real `baobi-hub` binary: help, init then totals on an empty hub, enrollment refusals.
//!
//! Also makes `cargo test --workspace` build the binary that the end-to-end tests drive.

use std::path::Path;
use std::process::{Command, Output};

fn hub() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_baobi-hub"));
    c.env_remove("BAOBI_HUB_DATA");
    c
}

/// Runs `baobi-hub --data DIR ARGS` to completion.
fn run(dir: &Path, args: &[&str]) -> Output {
    hub().arg("--data").arg(dir).args(args).output().unwrap()
}

#[test]
fn help_lists_the_commands() {
    let out = hub().arg("--help").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for cmd in [
        "init", "enroll", "serve", "totals", "records", "agents", "revoke", "demo",
    ] {
        assert!(text.contains(cmd), "{cmd} missing from help:\n{text}");
    }
}

#[test]
fn init_then_totals_on_an_empty_hub() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let out = run(&dir, &["init", "--province", "87", "--name", "Đồng Tháp"]);
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Đồng Tháp (87)"), "{text}");

    let out = run(&dir, &["totals", "--json", "--year", "2025"]);
    assert!(out.status.success(), "{out:?}");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["province"], "87");
    assert_eq!(v["province_name"], "Đồng Tháp");
    assert_eq!(v["year"], 2025);
    assert_eq!(v["by"], "unit-kind");
    assert_eq!(v["rows"].as_array().unwrap().len(), 0);
    assert_eq!(v["total"]["surveys"], 0);
    assert!(v["total"]["retail_no_nonbio_share"].is_null());

    // A second init refuses the existing store.
    let out = run(&dir, &["init", "--province", "87", "--name", "Đồng Tháp"]);
    assert_eq!(out.status.code(), Some(2));

    let out = run(&dir, &["agents", "--json"]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v, serde_json::json!([]));
}

#[test]
fn enroll_for_an_unknown_unit_names_it() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let ok = run(&dir, &["init", "--province", "87", "--name", "Đồng Tháp"]);
    assert!(ok.status.success());
    let out = run(
        &dir,
        &["enroll", "--unit", "99999", "--addr", "127.0.0.1:4433"],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("99999"));

    let out = run(
        &dir,
        &["enroll", "--unit", "30226", "--addr", "127.0.0.1:4433"],
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    assert!(token.trim().starts_with("baobi1."));
    assert_eq!(token.trim().lines().count(), 1);
}

#[test]
fn commands_without_a_store_fail_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let out = run(&tmp.path().join("none"), &["totals"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("init"));
}

#[test]
fn serve_answers_commands_through_its_socket_and_stops_on_sigterm() {
    use std::io::{BufRead, BufReader};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("hub");
    let ok = run(&dir, &["init", "--province", "87", "--name", "Đồng Tháp"]);
    assert!(ok.status.success());
    let mut child = hub()
        .arg("--data")
        .arg(&dir)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    let addr = first
        .trim()
        .strip_prefix("listening on ")
        .unwrap()
        .to_string();
    assert!(addr.starts_with("127.0.0.1:"), "{first}");
    assert!(dir.join("hub.sock").exists());

    // sled is locked by `serve`: these only work through the socket.
    let out = run(&dir, &["totals", "--json"]);
    assert!(out.status.success(), "{out:?}");
    // The token's address defaults to where `serve` listens.
    let out = run(
        &dir,
        &["enroll", "--unit", "876", "--label", "UBND huyện Lai Vung"],
    );
    assert!(out.status.success(), "{out:?}");
    let token = String::from_utf8(out.stdout).unwrap();
    let token = baobi_proto::Token::from_text(token.trim()).unwrap();
    assert_eq!(token.addr, addr);

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!dir.join("hub.sock").exists());
    // Stopped: the store opens directly again.
    let out = run(&dir, &["agents", "--json"]);
    assert!(out.status.success(), "{out:?}");
}
