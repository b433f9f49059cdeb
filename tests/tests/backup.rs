//! Hub backups that restore, and `baobi-hub verify`, with the real binaries over real QUIC: a backup
//! taken while the hub serves, restored into a new folder after the hub is lost, served on the same
//! key and address; offices re-send what the backup lacks though they had seen it acknowledged, and
//! every record is at the hub exactly once with the same totals. `verify` finds a damaged store.

use std::collections::BTreeSet;
use std::path::Path;

use baobi_proto::wire::Hlc;
use baobi_tests::{hub_totals, recompute_totals, stderr, Agent, Hub};
use serde_json::Value;

fn ids(records: &[Value]) -> Vec<String> {
    records
        .iter()
        .map(|r| r["id"].as_str().expect("record id").to_string())
        .collect()
}

fn surveys(agent: &Agent, market: &str, month: u32, n: u32) -> Vec<String> {
    (1..=n)
        .map(|d| {
            agent.market_survey(
                market,
                &format!("2025-{month:02}-{d:02}"),
                &format!("{}.5", 10 + d),
                &[],
            )
        })
        .collect()
}

fn backup(hub: &Hub, out: &Path) -> Value {
    let o = hub.run(&["backup", "--json", "--out", out.to_str().unwrap()]);
    assert!(o.status.success(), "backup: {}", stderr(&o));
    serde_json::from_slice(&o.stdout).expect("backup JSON")
}

#[test]
fn an_older_backup_restored_gets_back_every_acknowledged_record_from_the_offices() {
    let mut hub = Hub::start();
    let a = hub.enroll_agent("30226");
    let b = hub.enroll_agent("30208");
    let market_a = a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let market_b = b.outlet("market", "Chợ Lai Vung", "30208", &[]);
    surveys(&a, &market_a, 2, 3);
    surveys(&b, &market_b, 2, 2);
    assert_eq!(a.sync()["sent"], 4);
    assert_eq!(b.sync()["sent"], 3);

    // A backup while the hub serves (through its control socket), owner-only.
    let keep = tempfile::tempdir().unwrap();
    let file = keep.path().join("hub-1.baobi-backup");
    let w = backup(&hub, &file);
    assert_eq!(w["header"]["province"], "87");
    assert_eq!(w["header"]["agents"], 2);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the backup holds the hub's key");
    let at_backup = hub.records().len();
    assert_eq!(at_backup, 7);

    // More work after the backup, acknowledged by the hub.
    surveys(&a, &market_a, 5, 4);
    surveys(&b, &market_b, 5, 3);
    assert_eq!(a.sync()["sent"], 4);
    assert_eq!(b.sync()["sent"], 3);
    b.sync(); // b receives a's new surveys too.
    for agent in [&a, &b] {
        assert_eq!(agent.json(&["status"])["pending"], 0, "all acknowledged");
    }
    let before = hub.records();
    assert_eq!(before.len(), 14);
    let totals_before = hub_totals(&hub, 2025);
    assert_eq!(totals_before, recompute_totals(&before, 2025));

    // The hub is lost; the older backup is restored into a new folder and served on the same key
    // and address.
    hub.stop();
    let addr = hub.addr;
    drop(hub);
    let mut restored = Hub::restored(&file, addr);
    assert_eq!(restored.records().len(), at_backup, "the backup is older");
    restored.serve();
    assert_eq!(restored.json(&["verify"])["ok"], true);

    // Offices sync: each re-sends what the restored hub lacks, though it had seen it acknowledged.
    let sa = a.sync();
    let sb = b.sync();
    assert_eq!(sa["sent"], 4, "{sa}");
    assert_eq!(sb["sent"], 3, "{sb}");
    let after = restored.records();
    let (got, want) = (ids(&after), ids(&before));
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>().len(),
        got.len(),
        "each record once"
    );
    assert_eq!(
        got.iter().collect::<BTreeSet<_>>(),
        want.iter().collect::<BTreeSet<_>>()
    );
    assert_eq!(after, before, "the same records, versions and states");
    assert_eq!(hub_totals(&restored, 2025), totals_before);
    assert_eq!(recompute_totals(&after, 2025), totals_before);

    // Then the offices are up to date again, and the store verifies.
    for agent in [&a, &b] {
        let again = agent.sync();
        assert_eq!(again["up_to_date"], true, "{again}");
        assert_eq!(agent.json(&["status"])["pending"], 0);
    }
    let v = restored.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["records"], 14);
}

#[test]
fn restore_refuses_a_truncated_altered_or_foreign_file_and_creates_nothing() {
    let hub = Hub::init();
    let keep = tempfile::tempdir().unwrap();
    let file = keep.path().join("hub.bak");
    backup(&hub, &file);
    let again = hub.run(&["backup", "--out", file.to_str().unwrap()]);
    assert_eq!(
        again.status.code(),
        Some(2),
        "an existing file is not overwritten"
    );

    let good = std::fs::read(&file).unwrap();
    let mut altered = good.clone();
    let mid = altered.len() / 2;
    altered[mid] ^= 0x40;
    let cases: [(&str, Vec<u8>, &str); 4] = [
        ("truncated", good[..good.len() - 100].to_vec(), "checksum"),
        ("altered", altered, "checksum"),
        (
            "foreign",
            b"PK\x03\x04 not a backup at all".repeat(10),
            "not a baobi hub backup",
        ),
        ("empty", vec![], "not a baobi hub backup"),
    ];
    for (name, bytes, says) in cases {
        let bad = keep.path().join(name);
        std::fs::write(&bad, bytes).unwrap();
        let dir = keep.path().join(format!("hub-{name}"));
        let out = std::process::Command::new(baobi_tests::bin("baobi-hub"))
            .args(["restore", "--from"])
            .arg(&bad)
            .arg("--data")
            .arg(&dir)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", stderr(&out));
        assert!(stderr(&out).contains(says), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("không"),
            "bilingual: {}",
            stderr(&out)
        );
        assert!(!dir.exists(), "{name}: nothing created");
    }

    // A non-empty folder is refused and left as it was.
    let busy = keep.path().join("busy");
    std::fs::create_dir(&busy).unwrap();
    std::fs::write(busy.join("notes.txt"), "keep me").unwrap();
    let out = std::process::Command::new(baobi_tests::bin("baobi-hub"))
        .args(["restore", "--from"])
        .arg(&file)
        .arg("--data")
        .arg(&busy)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert_eq!(std::fs::read_dir(&busy).unwrap().count(), 1);

    // The good file restores, and the office-restore-token form still parses as before.
    let ok = Hub::restored(&file, None);
    assert_eq!(ok.json(&["verify"])["ok"], true);
    let token = ok.run(&["restore", "deadbeefdeadbeef", "--addr", "127.0.0.1:1"]);
    assert_eq!(token.status.code(), Some(2), "{}", stderr(&token));
    assert!(
        stderr(&token).contains("no agent matches"),
        "{}",
        stderr(&token)
    );
}

#[test]
fn verify_finds_a_tampered_entry_and_a_removed_view_key_and_changes_nothing() {
    let mut hub = Hub::start();
    let a = hub.enroll_agent("30226");
    let market = a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    surveys(&a, &market, 3, 3);
    a.sync();
    let clean = hub.json(&["verify"]);
    assert_eq!(clean["ok"], true, "{clean}");
    assert!(
        clean["entries"].as_u64().unwrap() > 200,
        "units and records: {clean}"
    );
    hub.stop();

    // Damage the stopped hub's store directly: one entry altered, one group total removed.
    let author = baobi_proto::AuthorId::from_hex(&a.author()).unwrap();
    let before: Vec<(Vec<u8>, Vec<u8>)>;
    {
        let h = baobi_hub::Hub::open(hub.dir.path()).unwrap();
        let t = h.tree();
        let k = baobi_hub::store::keys::block(&author, 0);
        let mut b = baobi_hub::store::blocks::Block::decode(&t.get(&k).unwrap().unwrap()).unwrap();
        b.items[1].hlc = Hlc(b.items[1].hlc.0 + 1);
        t.insert(&k, b.encode()).unwrap();
        let g = t.scan_prefix([b'g']).next().unwrap().unwrap().0;
        t.remove(&g).unwrap();
        h.flush().unwrap();
        before = t
            .iter()
            .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
            .collect();
    }
    let out = hub.run(&["verify", "--json"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["ok"], false);
    let kinds: BTreeSet<&str> = r["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains("link"), "tampered entry found: {r}");
    assert!(kinds.contains("view-missing"), "removed group found: {r}");
    let text = hub.run(&["verify"]);
    assert_eq!(text.status.code(), Some(3));
    let shown = String::from_utf8_lossy(&text.stdout);
    assert!(shown.contains("view key missing"), "{shown}");
    assert!(
        stderr(&text).contains("verification found"),
        "{}",
        stderr(&text)
    );

    // Nothing was changed by verifying.
    let h = baobi_hub::Hub::open(hub.dir.path()).unwrap();
    let after: Vec<(Vec<u8>, Vec<u8>)> = h
        .tree()
        .iter()
        .map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).unwrap())
        .collect();
    assert_eq!(before, after);
}

fn review_of(hub: &Hub, short_id: &str) -> Value {
    hub.records()
        .into_iter()
        .find(|r| r["short_id"] == short_id)
        .unwrap_or_else(|| panic!("record {short_id} not at the hub"))["review"]
        .clone()
}

#[test]
fn hub_decisions_made_after_the_backup_come_back_from_the_offices() {
    let mut hub = Hub::start();
    let a = hub.enroll_agent("30226");
    let market = a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let s = surveys(&a, &market, 2, 2);
    a.sync();
    let keep = tempfile::tempdir().unwrap();
    let file = keep.path().join("hub.bak");
    backup(&hub, &file);

    // After the backup the hub returns one survey and verifies the other; the office sees both.
    let reason = "sai số liệu";
    hub.json(&["review", "return", &s[0], "--reason", reason]);
    hub.json(&["review", "verify", &s[1]]);
    assert_eq!(a.sync()["received"], 2);
    let returned = a.json(&["survey", "list", "--returned"]);
    assert_eq!(returned.as_array().unwrap().len(), 1, "{returned}");

    // The hub is lost and the older backup restored: it lacks its own two decisions.
    hub.stop();
    let addr = hub.addr;
    drop(hub);
    let mut restored = Hub::restored(&file, addr);
    assert_eq!(review_of(&restored, &s[0])["state"], "submitted");
    restored.serve();

    // The office holds them, sealed by the hub's key: it hands them back.
    let back = a.sync();
    assert_eq!(back["sent"], 2, "{back}");
    assert_eq!(review_of(&restored, &s[0])["state"], "returned");
    assert_eq!(review_of(&restored, &s[0])["reason"], reason);
    assert_eq!(review_of(&restored, &s[1])["state"], "verified");
    assert_eq!(a.sync()["up_to_date"], true);

    // The restored hub's next decision follows them (no seq reused) and reaches the office.
    restored.json(&["review", "verify", &s[0]]);
    assert_eq!(a.sync()["received"], 1);
    let returned = a.json(&["survey", "list", "--returned"]);
    assert_eq!(returned.as_array().unwrap().len(), 0, "{returned}");
    let v = restored.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
}

#[test]
fn backups_taken_during_a_sync_hold_whole_batches_and_restore() {
    let hub = Hub::start();
    let a = hub.enroll_agent("30226");
    let market = a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    assert_eq!(a.sync()["sent"], 1);
    let n = 2000;
    a.import(&baobi_tests::market_rows(
        std::slice::from_ref(&market),
        n,
        7,
    ));
    let keep = tempfile::tempdir().unwrap();
    let done = std::sync::atomic::AtomicBool::new(false);
    let files = std::thread::scope(|s| {
        s.spawn(|| {
            assert_eq!(a.sync()["sent"], n);
            done.store(true, std::sync::atomic::Ordering::SeqCst);
        });
        let mut files = vec![];
        while !done.load(std::sync::atomic::Ordering::SeqCst) || files.is_empty() {
            let f = keep.path().join(format!("b{}.bak", files.len()));
            backup(&hub, &f);
            files.push(f);
        }
        files
    });
    // The agent sends batches of 512 entries, each merged atomically: a backup holds whole ones.
    let batch = baobi_agent::sync::BATCH;
    let whole: BTreeSet<usize> = (0..=n / batch)
        .map(|k| 1 + k * batch)
        .chain([1 + n])
        .collect();
    let mut seen = BTreeSet::new();
    for f in &files {
        let r = Hub::restored(f, None);
        let v = r.json(&["verify"]);
        assert_eq!(v["ok"], true, "{v}");
        let records = v["records"].as_u64().unwrap() as usize;
        assert!(
            whole.contains(&records),
            "{records} records: not whole batches"
        );
        seen.insert(records);
    }
    eprintln!(
        "{} backups during the sync held {seen:?} records",
        files.len()
    );
}
