//! Runs the real `baobi-agent` binary: help, exit codes and messages on a store that was never
//! enrolled, and refusal of invalid input before anything else happens.
//!
//! This file also makes `cargo test --workspace` build the binary that the end-to-end tests run.

use std::process::{Command, Output};

fn agent(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_baobi-agent"))
        .arg("--data")
        .arg(dir)
        .args(args)
        .env_remove("BAOBI_DATA")
        .output()
        .expect("run baobi-agent")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(dir.path(), &["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in [
        "init", "outlet", "survey", "campaign", "sync", "daemon", "status",
    ] {
        assert!(help.contains(cmd), "help lacks {cmd}: {help}");
    }
    let out = agent(dir.path(), &["survey", "market", "--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("--nonbio-kg"));
}

#[test]
fn commands_on_a_store_never_enrolled_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for args in [
        &["status"][..],
        &["sync"],
        &["survey", "list", "--json"],
        &["outlet", "list"],
    ] {
        let out = agent(&missing, args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(err.contains("Not enrolled"), "{args:?}: {err}");
        assert!(err.contains("Chưa đăng ký"), "{args:?}: {err}");
        assert!(out.stdout.is_empty());
    }
    // The data directory is not created by a command that cannot use it.
    assert!(!missing.exists());
    // An existing but unenrolled directory gives the same answer.
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    let out = agent(&dir.path().join("empty"), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("Not enrolled"));
}

#[test]
fn invalid_input_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = agent(dir.path(), &["init", "--token", "not-a-token"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("token"));
    let out = agent(
        dir.path(),
        &[
            "survey",
            "market",
            "--outlet",
            "1a2b3c4d-1",
            "--date",
            "2025-03-01",
            "--vendors-total",
            "-3",
            "--vendors-surveyed",
            "1",
            "--nonbio-kg",
            "1",
            "--vendors-nonbio",
            "1",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    // The message every invalid field gets, naming the field (not clap's "invalid digit").
    assert!(
        text(&out.stderr)
            .contains("Dữ liệu không hợp lệ / Invalid input: vendors-total: must not be negative"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn hub_unreachable_at_init_exits_3() {
    use baobi_proto::Token;
    let dir = tempfile::tempdir().unwrap();
    // A UDP port nobody answers on.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let addr = sock.local_addr().unwrap();
    let token = Token {
        addr: addr.to_string(),
        hub_fingerprint: [7; 32],
        secret: [1; 16],
        standby: None,
        relay: None,
    }
    .to_text();
    let out = agent(dir.path(), &["init", "--token", &token]);
    assert_eq!(out.status.code(), Some(3), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Hub unreachable"));
}
