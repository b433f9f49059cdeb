//! An office loses its disk and is rebuilt from the hub, with the real binaries over real QUIC:
//! with a restore token (new key, the lost key retired) or with a key backup (same key). Records made
//! before the loss come back, corrections of them sync, and no (author, seq) is ever reused.

use std::collections::BTreeMap;

use baobi_proto::{AuthorId, Entry};
use baobi_tests::{stderr, Agent, Hub};

/// Every entry the hub holds, by author (the hub stopped: its store opened directly).
fn hub_entries(hub: &mut Hub) -> BTreeMap<AuthorId, Vec<Entry>> {
    hub.stop();
    let h = baobi_hub::Hub::open(hub.dir.path()).expect("hub store");
    let mut out = BTreeMap::new();
    for author in h.summary().unwrap().to_wire().0.iter().map(|(a, _)| *a) {
        out.insert(author, h.entries(&author, 1, u64::MAX, usize::MAX).unwrap());
    }
    drop(h);
    hub.serve();
    out
}

/// The office's own entries as its store holds them.
fn own_entries(agent: &Agent) -> Vec<Entry> {
    baobi_agent::store::Store::open(agent.dir.path())
        .unwrap()
        .own_entries()
        .unwrap()
}

/// Each author's log at the hub is contiguous from 1, and each entry the office holds is the very
/// entry the hub holds under that (author, seq): no dot names two different entries. Signatures are
/// not compared: the hub keeps an office's entries without their own (a run's head vouched for them).
fn assert_no_reuse(hub_logs: &BTreeMap<AuthorId, Vec<Entry>>, office: &[Entry]) {
    for (author, log) in hub_logs {
        for (i, e) in log.iter().enumerate() {
            assert_eq!(e.seq, i as u64 + 1, "gap in {}'s log", author.short());
        }
    }
    for e in office {
        let h = &hub_logs[&e.author][e.seq as usize - 1];
        assert_eq!(
            (h.author, h.seq, h.hlc, &h.op),
            (e.author, e.seq, e.hlc, &e.op),
            "{} names two different entries",
            e.dot()
        );
    }
}

#[test]
fn office_restored_with_a_token_keeps_its_records_and_retires_the_lost_key() {
    let mut hub = Hub::start();
    let lost = hub.enroll_agent("30226");
    let market = lost.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = lost.market_survey(&market, "2025-03-12", "20", &[]);
    assert_eq!(lost.sync()["sent"], 2);
    // Saved but never synced: lost with the disk.
    let unsynced = lost.market_survey(&market, "2025-06-12", "18", &[]);
    let lost_author = lost.author();

    // The operator issues a restore token; the office rebuilds on a new disk.
    let token = hub.ok(&["restore", &lost_author[..12]]).trim().to_string();
    let office = Agent::new();
    let out = office.run(&["restore", "--token", &token, "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("never synced"),
        "the CLI says unsynced records are lost: {}",
        stderr(&out)
    );
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["mode"], "token");
    assert_eq!(r["unit"], "30226");
    assert_ne!(r["author"], lost_author.as_str());

    // Records made before the loss are visible; the unsynced one is not.
    let surveys = office.json(&["survey", "list"]);
    let ids: Vec<&str> = surveys
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(ids.contains(&survey.as_str()), "{ids:?}");
    assert!(!ids.contains(&unsynced.as_str()), "{ids:?}");

    // A correction of a lost-key record and a new record, by the new key from seq 1: both sync.
    office.ok(&["survey", "correct", &survey, "--nonbio-kg", "15"]);
    let fresh = office.market_survey(&market, "2025-05-20", "12", &[]);
    assert!(fresh.ends_with("-2"), "new key starts at seq 1: {fresh}");
    assert_eq!(office.sync()["sent"], 2);
    let records = hub.records();
    let rec = records
        .iter()
        .find(|x| x["short_id"] == survey.as_str())
        .unwrap();
    assert_eq!(rec["heads"][0]["value"]["nonbio_g_per_day"], 15_000);
    assert_eq!(rec["conflict"], false);

    // The lost key is refused for good, with a message saying why.
    let out = lost.run(&["sync"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("retired"), "{}", stderr(&out));
    assert!(!hub
        .records()
        .iter()
        .any(|x| x["short_id"] == unsynced.as_str()));
    // A restore token is single-use like any other, and a retired office cannot be restored twice.
    assert!(!Agent::new()
        .run(&["restore", "--token", &token])
        .status
        .success());
    assert!(!hub.run(&["restore", &lost_author[..12]]).status.success());

    let logs = hub_entries(&mut hub);
    assert_no_reuse(&logs, &own_entries(&office));
    assert_eq!(logs[&AuthorId::from_hex(&lost_author).unwrap()].len(), 2);
}

#[test]
fn office_restored_from_a_key_backup_fetches_first_and_continues_its_sequence() {
    let mut hub = Hub::start();
    let before = hub.enroll_agent("30226");
    let market = before.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = before.market_survey(&market, "2025-03-12", "20", &[]);
    assert_eq!(before.sync()["sent"], 2);
    let backup = tempfile::tempdir().unwrap();
    let key = backup.path().join("office.key");
    before.ok(&["backup-key", "--out", key.to_str().unwrap()]);
    let unsynced = before.market_survey(&market, "2025-06-12", "18", &[]);
    assert!(unsynced.ends_with("-3"));
    let author = before.author();
    drop(before); // the disk is lost

    // Restoring while the hub is down: the key is installed, but nothing can be recorded yet.
    hub.stop();
    let office = Agent::new();
    let out = office.run(&["restore", "--key", key.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = office.run(&[
        "outlet",
        "add",
        "supermarket",
        "--name",
        "Siêu thị",
        "--commune",
        "30226",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("restore not finished"),
        "{}",
        stderr(&out)
    );

    // Once the hub is back, a sync fetches the office's own entries; writing resumes at seq 3.
    hub.serve();
    assert_eq!(office.sync()["sent"], 0);
    assert_eq!(office.author(), author);
    assert_eq!(office.json(&["status"])["pending"], 0);
    office.ok(&["survey", "correct", &survey, "--nonbio-kg", "16"]);
    let next = office.market_survey(&market, "2025-05-20", "12", &[]);
    assert!(
        next.ends_with("-4"),
        "continues after the hub's seq: {next}"
    );
    assert_eq!(office.sync()["sent"], 2);
    let records = hub.records();
    let rec = records
        .iter()
        .find(|x| x["short_id"] == survey.as_str())
        .unwrap();
    assert_eq!(rec["heads"][0]["value"]["nonbio_g_per_day"], 16_000);

    let logs = hub_entries(&mut hub);
    let mine = own_entries(&office);
    assert_eq!(mine.len(), 4);
    assert_no_reuse(&logs, &mine);
}

/// A restore (or an enrollment) interrupted before the office stored the hub's answer resumes when
/// the same command runs again in the same folder: first with the hub down (the office stored its
/// new key, the hub never saw it), then, for `init`, after the hub enrolled the key but the office
/// lost the answer (the token is spent; the hub answers the same key again).
#[test]
fn an_interrupted_restore_or_enrollment_resumes_in_the_same_folder() {
    let mut hub = Hub::start();
    let lost = hub.enroll_agent("30226");
    let market = lost.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = lost.market_survey(&market, "2025-03-12", "20", &[]);
    lost.sync();
    let token = hub.ok(&["restore", &lost.author()[..12]]);

    // The hub is down: the restore stores its new key and fails to reach it.
    hub.stop();
    let fresh = Agent::new();
    let out = fresh.run(&["restore", "--token", &token]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    hub.serve();
    let out = fresh.run(&["restore", "--token", &token, "--json"]);
    assert!(
        out.status.success(),
        "the same restore resumes: {}",
        stderr(&out)
    );
    let listed = fresh.json(&["survey", "list"]);
    assert!(
        listed
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == survey.as_str()),
        "{listed}"
    );

    // An enrollment whose answer was lost: the hub enrolled the key with the token, and the
    // office's disk holds the key but not the answer (a power cut before it was stored).
    let token = hub.token("30208");
    let office = Agent::new();
    office.ok(&["init", "--token", &token]);
    let (secret, cert) = {
        let s = baobi_agent::store::Store::open(office.dir.path()).unwrap();
        (s.keypair().unwrap().secret(), s.cert_der().unwrap())
    };
    let copy = Agent::new();
    baobi_agent::store::Store::open(copy.dir.path())
        .unwrap()
        .set_identity(&secret, &cert)
        .unwrap();
    let out = copy.run(&["init", "--token", &token]);
    assert!(
        out.status.success(),
        "the same key is answered again: {}",
        stderr(&out)
    );
    assert_eq!(copy.author(), office.author());
    // The spent token enrolls no other key.
    let other = Agent::new();
    let out = other.run(&["init", "--token", &token]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already used"), "{}", stderr(&out));
}
