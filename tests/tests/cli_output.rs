//! How both binaries write their results: every command ends quietly when its stdout is closed early
//! (`baobi-hub records --json | head -c 10`), and `records --json` streams instead of holding every
//! record in memory.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};

use baobi_tests::{bin, market_rows, Hub};

/// Runs `program ARGS` (with `--data DIR` placed as the binary expects) with stdout a pipe; reads
/// `keep` bytes (0: the reader is closed before the command starts), closes the pipe, and returns the
/// exit code and stderr.
fn run_into_closed_pipe(program: &str, data: &Path, args: &[&str], keep: usize) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    // keep == 0: the reading end is closed before the command starts (`| head -c 0`).
    let mut reader = (keep > 0).then_some(reader);
    let mut cmd = Command::new(bin(program));
    if program == "baobi-agent" {
        cmd.arg("--data").arg(data).args(args);
    } else {
        cmd.args(args).arg("--data").arg(data);
    }
    let child = cmd
        .env("RUST_LOG", "warn")
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(r) = reader.as_mut() {
        let mut buf = vec![0u8; keep];
        r.read_exact(&mut buf).expect("the first bytes");
    }
    drop(reader.take());
    let out = child.wait_with_output().expect("wait");
    let code = out.status.code().unwrap_or(-1);
    (code, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn assert_quiet(what: &str, (code, err): (i32, String)) {
    assert!(
        code == 0 && !err.contains("panicked") && !err.contains("Broken pipe"),
        "{what} on a closed stdout: exit {code}, stderr:\n{err}"
    );
}

#[test]
fn every_command_ends_quietly_on_a_closed_stdout() {
    let mut hub = Hub::init_with(&["--plan", "dong-thap-2021"]);
    hub.serve();
    let agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let ids = agent.import(&market_rows(std::slice::from_ref(&market), 300, 1));
    agent.sync();
    let first = ids[0].clone();

    let hub_commands: &[&[&str]] = &[
        &["records", "--json"],
        &["records"],
        &["totals"],
        &["totals", "--json"],
        &["agents"],
        &["agents", "--json"],
        &["indicators", "--year", "2020"],
        &["indicators", "--year", "2020", "--json"],
        &["indicators", "--trend", "--json"],
        &["plan", "show"],
        &["plan", "show", "--json"],
        &["plan", "show", "--toml"],
        &["plan", "list"],
        &["settings"],
        &["settings", "--json"],
        &["operator", "list"],
    ];
    let agent_commands: &[&[&str]] = &[
        &["status"],
        &["status", "--json"],
        &["outlet", "list"],
        &["outlet", "list", "--json"],
        &["survey", "list"],
        &["survey", "list", "--json"],
        &["survey", "show", &first],
        &["plan"],
        &["plan", "--json"],
        &["sync", "--json"],
    ];
    for args in agent_commands {
        let what = format!("baobi-agent {}", args.join(" "));
        assert_quiet(
            &what,
            run_into_closed_pipe("baobi-agent", agent.dir.path(), args, 0),
        );
    }
    // Through the serving hub's control socket, then on the stopped hub's store.
    for pass in ["serving", "stopped"] {
        for args in hub_commands {
            let what = format!("baobi-hub {} ({pass})", args.join(" "));
            assert_quiet(
                &what,
                run_into_closed_pipe("baobi-hub", hub.dir.path(), args, 0),
            );
        }
        hub.stop();
    }

    // More output than a pipe holds: the reader takes a few bytes and goes away mid-stream.
    for (program, dir, args) in [
        ("baobi-hub", hub.dir.path(), &["records", "--json"][..]),
        ("baobi-hub", hub.dir.path(), &["records"][..]),
        (
            "baobi-agent",
            agent.dir.path(),
            &["survey", "list", "--json"][..],
        ),
        ("baobi-agent", agent.dir.path(), &["survey", "list"][..]),
    ] {
        let what = format!("{program} {} | head -c 10", args.join(" "));
        assert_quiet(&what, run_into_closed_pipe(program, dir, args, 10));
    }
}

/// Peak resident memory (`VmHWM`, KiB) of `baobi-hub records --json` through the serving hub, read
/// while the command is blocked on a full pipe (after the first 64 KiB), and the array it printed.
fn records_json_peak(hub: &Hub) -> (u64, Vec<serde_json::Value>) {
    let mut child = Command::new(bin("baobi-hub"))
        .args(["records", "--json", "--data"])
        .arg(hub.dir.path())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn records --json");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut text = vec![0u8; 64 * 1024];
    stdout.read_exact(&mut text).expect("the first 64 KiB");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).expect("status");
    let hwm = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM");
    stdout.read_to_end(&mut text).expect("the rest");
    assert!(child.wait().expect("wait").success());
    let rows = serde_json::from_slice::<serde_json::Value>(&text).expect("a JSON array");
    (hwm, rows.as_array().expect("array").clone())
}

#[test]
fn records_json_streams_in_memory_that_does_not_grow_with_the_records() {
    let hub = Hub::start();
    let agent = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &[]);
    agent.import(&market_rows(std::slice::from_ref(&market), 300, 1));
    agent.sync();
    let (small, rows) = records_json_peak(&hub);
    assert_eq!(rows.len(), 301);
    let small_bytes = serde_json::to_string_pretty(&rows).unwrap().len() as u64;

    agent.import(&market_rows(std::slice::from_ref(&market), 3000, 2));
    agent.sync();
    let (large, rows) = records_json_peak(&hub);
    assert_eq!(rows.len(), 3301);
    let large_bytes = serde_json::to_string_pretty(&rows).unwrap().len() as u64;
    // Every record once.
    let ids: std::collections::BTreeSet<_> = rows.iter().map(|r| r["id"].to_string()).collect();
    assert_eq!(ids.len(), rows.len());

    // Holding the records would cost several times their printed size; streaming costs none of it.
    let grown = large.saturating_sub(small);
    let printed_more = (large_bytes - small_bytes) / 1024;
    println!("records --json peak: {small} KiB at 301 records, {large} KiB at 3301 ({printed_more} KiB more printed)");
    assert!(
        grown * 4 < printed_more,
        "peak memory grew by {grown} KiB for {printed_more} KiB more output"
    );
}
