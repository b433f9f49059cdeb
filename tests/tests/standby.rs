//! A standby hub through the real binaries over QUIC on loopback: it follows the primary (same
//! figures), offices fall back to it when the primary is killed with SIGKILL in the middle of syncs,
//! `promote` makes it primary, and every record any office holds is there exactly once. Standby
//! tokens that are an office's, foreign, spent or carry a wrong pin are refused and create nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use baobi_proto::Token;
use baobi_tests::{hub_totals, market_rows, recompute_totals, stderr, wait_for, Agent, Hub};

/// Offices: (unit of the office, commune of its markets).
const OFFICES: &[(&str, &str)] = &[("30226", "30226"), ("30208", "30208")];

/// How many times each record (by short id) is at `hub`.
fn at_hub(hub: &Hub) -> BTreeMap<String, u64> {
    let mut at = BTreeMap::new();
    for r in hub.records() {
        *at.entry(r["short_id"].as_str().unwrap_or_default().to_string())
            .or_default() += 1;
    }
    at
}

/// Every record the office holds of its own: its outlets and surveys.
fn held(a: &Agent, outlets: &[String]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = outlets.iter().cloned().collect();
    for s in a.json(&["survey", "list"]).as_array().into_iter().flatten() {
        out.insert(s["id"].as_str().unwrap_or_default().to_string());
    }
    out
}

fn same_figures(a: &Hub, b: &Hub) -> bool {
    (2015..=2024).all(|y| hub_totals(a, y) == hub_totals(b, y))
}

#[test]
fn standby_follows_takes_over_from_a_killed_primary_and_after_promote_holds_every_record_once() {
    let mut primary = Hub::start();
    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    // Offices enrolled once the standby exists: their tokens name both hubs.
    let offices: Vec<(Agent, Vec<String>)> = OFFICES
        .iter()
        .map(|(unit, commune)| {
            let a = primary.enroll_agent(unit);
            assert!(a.token.starts_with("baobi2."), "{}", a.token);
            let outlets = (0..2)
                .map(|k| a.outlet("market", &format!("Chợ {unit}-{k}"), commune, &[]))
                .collect::<Vec<_>>();
            (a, outlets)
        })
        .collect();
    for (i, (a, outlets)) in offices.iter().enumerate() {
        a.import(&market_rows(outlets, 30, i as u64));
        a.sync();
    }
    // The standby follows: the same records and figures as the primary.
    let want = primary.records().len();
    assert!(want >= 64);
    wait_for(Duration::from_secs(60), || {
        standby.records().len() == want && same_figures(&primary, &standby)
    });
    assert_eq!(at_hub(&standby), at_hub(&primary));

    // More work; the primary is killed (SIGKILL) while the first office's sync runs.
    let (a0, outlets0) = &offices[0];
    a0.import(&market_rows(outlets0, 600, 7));
    let syncing = a0.spawn(&["sync", "--json"]);
    std::thread::sleep(Duration::from_millis(200));
    primary.kill();
    // A sync cut off this way waits for QUIC's idle timeout (60 s); the office gives up after 5 s
    // (killed too, as a PC switched off): whatever it sent unacknowledged is still its own.
    let mut syncing = syncing;
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while syncing.try_wait().ok().flatten().is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = syncing.kill();
    let _ = syncing.wait();

    // Offices carry on: each sync falls back to the standby.
    for (i, (a, outlets)) in offices.iter().enumerate() {
        a.import(&market_rows(outlets, 20, 10 + i as u64));
        let began = std::time::Instant::now();
        let r = a.run(&["sync", "--json"]);
        assert!(r.status.success(), "sync via the standby: {}", stderr(&r));
        // A figure for BENCHMARKS.md, not an assertion.
        eprintln!(
            "standby: office {i}'s first sync with the primary dead took {:.1} s",
            began.elapsed().as_secs_f64()
        );
    }
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("promote --json");
    assert_eq!(v["promoted"], true);
    // And after the promotion.
    for (i, (a, outlets)) in offices.iter().enumerate() {
        a.import(&market_rows(outlets, 5, 20 + i as u64));
        a.sync();
    }

    // Every record an office holds of its own is at the new primary, exactly once, and nothing else.
    let at = at_hub(&standby);
    let mut all = BTreeSet::new();
    for (a, outlets) in &offices {
        for id in held(a, outlets) {
            assert_eq!(at.get(&id), Some(&1), "record {id} at the new primary");
            all.insert(id);
        }
    }
    assert_eq!(
        at.len(),
        all.len(),
        "records at the new primary no office holds"
    );
    let records = standby.records();
    for y in 2015..=2024 {
        assert_eq!(hub_totals(&standby, y), recompute_totals(&records, y));
    }
    // Promoting again changes nothing.
    let again: serde_json::Value =
        serde_json::from_slice(&standby.run(&["promote", "--json"]).stdout).expect("json");
    assert_eq!(again["promoted"], false);

    // The old primary comes back: it asks its standby first, learns it was promoted, and refuses
    // to serve (two primaries would take offices' syncs apart).
    let listen = primary.addr.expect("served").to_string();
    let mut back = std::process::Command::new(baobi_tests::bin("baobi-hub"))
        .args(["serve", "--listen", &listen, "--data"])
        .arg(primary.dir.path())
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn old primary");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = back.try_wait().expect("wait") {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = back.kill();
            let _ = back.wait();
            panic!("the old primary served although its standby was promoted");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let out = back.wait_with_output().expect("its stderr");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!status.success(), "{err}");
    assert!(err.contains("was promoted to primary"), "{err}");
}

#[test]
fn office_foreign_spent_and_wrongly_pinned_standby_tokens_are_refused() {
    let primary = Hub::start();
    let fresh = || tempfile::tempdir().expect("temp dir");
    let init = |dir: &std::path::Path, token: &str| {
        std::process::Command::new(baobi_tests::bin("baobi-hub"))
            .args(["init", "--standby-of", token, "--addr", "127.0.0.1:9"])
            .arg("--data")
            .arg(dir)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run baobi-hub")
    };
    let nothing_made = |dir: &std::path::Path| {
        assert!(!dir.join("db").exists() && !dir.join("conf").exists());
    };

    // An office's enrollment token is not a standby token.
    let d = fresh();
    let out = init(d.path(), &primary.token("30226"));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("standby"), "{}", stderr(&out));
    nothing_made(d.path());

    let good = primary.ok(&["standby", "token"]).trim().to_string();
    let t = Token::from_standby_text(&good).expect("standby token");

    // A foreign token: the primary never issued this secret.
    let d = fresh();
    let foreign = Token {
        secret: [0x5a; 16],
        ..t.clone()
    };
    let out = init(d.path(), &foreign.to_standby_text());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("unknown standby token"),
        "{}",
        stderr(&out)
    );
    nothing_made(d.path());

    // A wrong pin: the hub at the address is not the one the token names.
    let d = fresh();
    let mut fp = t.hub_fingerprint;
    fp[0] ^= 1;
    let pinned = Token {
        hub_fingerprint: fp,
        ..t.clone()
    };
    let out = init(d.path(), &pinned.to_standby_text());
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("does not match the pinned fingerprint"),
        "{}",
        stderr(&out)
    );
    nothing_made(d.path());

    // The good token works once; a second standby presenting it is refused.
    let d = fresh();
    let out = init(d.path(), &good);
    assert!(out.status.success(), "{}", stderr(&out));
    let d2 = fresh();
    let out = init(d2.path(), &good);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("already used"), "{}", stderr(&out));
    nothing_made(d2.path());
}

#[test]
fn an_office_asking_for_the_registry_is_refused_it_is_not_a_standby() {
    use baobi_proto::wire::{Msg, RefusalCode};
    use baobi_tests::raw;
    let primary = Hub::start();
    let office = primary.enroll_agent("30226");
    let id = raw::identity_of(&office);
    let rt = raw::rt();
    let answer = rt.block_on(async {
        let (_e, _c, mut s) = raw::open(&primary, &office.token, &id).await;
        s.send(&Msg::RegistryRequest).await.expect("send");
        s.recv().await
    });
    match answer {
        Ok(Some(Msg::Refused(r))) => {
            assert_eq!(r.code, RefusalCode::NotEnrolled);
            assert!(r.message.contains("not a standby"), "{}", r.message);
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

/// Issue 14's defect and gaps (a) and (d): the promoted standby's own entries (a survey returned)
/// are taken by an office whose token named the standby and by one enrolled before the standby
/// existed (which learns it, address, certificate and author, from the primary at its next sync);
/// their syncs keep succeeding; and a record the primary acknowledged but the standby never
/// followed reaches the promoted standby from the office, exactly once.
#[test]
fn after_promote_the_new_primary_returns_a_record_and_the_offices_take_it() {
    let mut primary = Hub::start();
    // Enrolled before any standby: its token names the primary only.
    let a = primary.enroll_agent("30226");
    assert!(a.token.starts_with("baobi1."), "{}", a.token);
    let survey = |a: &Agent, market: &str, day: u32| {
        a.market_survey(market, &format!("2025-03-{day:02}"), "12.5", &[])
    };
    let market_a = a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let surveys_a: Vec<String> = (1..=3).map(|d| survey(&a, &market_a, d)).collect();
    a.sync();

    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    // Enrolled once the standby exists: its token names both hubs.
    let b = primary.enroll_agent("30208");
    assert!(b.token.starts_with("baobi2."), "{}", b.token);
    let market_b = b.outlet("market", "Chợ Mỹ Hiệp", "30208", &[]);
    let surveys_b: Vec<String> = (1..=2).map(|d| survey(&b, &market_b, d)).collect();
    b.sync();
    let want = primary.records().len();
    wait_for(Duration::from_secs(60), || standby.records().len() == want);
    // The first office's next sync with the primary tells it of the standby.
    a.sync();

    // The standby stops following (killed); the primary acknowledges one more survey of the
    // first office, then dies before any standby could follow it.
    standby.kill();
    let late = survey(&a, &market_a, 20);
    let r = a.sync();
    assert_eq!(r["sent"], 1, "{r}");
    assert_eq!(
        a.json(&["status"])["pending"],
        0,
        "acknowledged by the primary"
    );
    primary.kill();
    standby.serve_with(&["--follow-secs", "1"]);
    assert!(!at_hub(&standby).contains_key(&late));
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The new primary returns a survey of each office: entries signed by its own key.
    let reason = "sai số liệu / wrong figures";
    for id in [&surveys_b[0], &surveys_a[0]] {
        let r = standby.json(&["review", "return", id, "--reason", reason]);
        assert_eq!(r["review"]["state"], "returned", "{r}");
    }

    // Each office falls back to it: the sync succeeds and the return reaches the office; the
    // survey only the old primary had arrives from the first.
    for (o, returned_id) in [(&b, &surveys_b[0]), (&a, &surveys_a[0])] {
        let r = o.run(&["sync", "--json"]);
        assert!(
            r.status.success(),
            "sync via the promoted standby: {}",
            stderr(&r)
        );
        let returned = o.json(&["survey", "list", "--returned"]);
        let ids: Vec<&str> = returned
            .as_array()
            .expect("array")
            .iter()
            .filter_map(|s| s["id"].as_str())
            .collect();
        assert_eq!(ids, vec![returned_id.as_str()], "{returned}");
        // Its next sync succeeds too, and changes nothing.
        let again = o.sync();
        assert_eq!(again["up_to_date"], true, "{again}");
    }

    let at = at_hub(&standby);
    let mut all = BTreeSet::new();
    for (o, market) in [(&a, &market_a), (&b, &market_b)] {
        for id in held(o, std::slice::from_ref(market)) {
            assert_eq!(at.get(&id), Some(&1), "record {id} at the new primary");
            all.insert(id);
        }
    }
    assert!(all.contains(&late));
    assert_eq!(
        at.len(),
        all.len(),
        "records at the new primary no office holds"
    );
    let records = standby.records();
    for y in 2015..=2024 {
        assert_eq!(hub_totals(&standby, y), recompute_totals(&records, y));
    }
}

/// Issue 14, gap (b): an old primary restarted while its promoted standby is unreachable serves (it
/// cannot tell); an office that heard of the promotion hands it the standby's signed word, and from
/// then on it refuses every office's sync (one that never heard of the promotion too) and refuses to
/// serve again.
#[test]
fn an_old_primary_restarted_without_its_standby_stops_serving_once_an_office_brings_the_promotion()
{
    let mut primary = Hub::start();
    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    let a = primary.enroll_agent("30226");
    let b = primary.enroll_agent("30208");
    a.outlet("market", "Chợ Tân Thành", "30226", &[]);
    b.outlet("market", "Chợ Mỹ Hiệp", "30208", &[]);
    a.sync();
    b.sync();
    let want = primary.records().len();
    wait_for(Duration::from_secs(60), || standby.records().len() == want);

    primary.kill();
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    // The first office reaches the promoted standby and hears of the promotion.
    let r = a.run(&["sync", "--json"]);
    assert!(r.status.success(), "{}", stderr(&r));

    // The promoted standby is unreachable when the old primary is restarted: it serves.
    standby.kill();
    primary.serve();
    // The first office shows it the standby's word: refused, and the hub keeps that word.
    let r = a.run(&["sync", "--json"]);
    assert!(!r.status.success());
    assert!(stderr(&r).contains("no longer serves"), "{}", stderr(&r));
    // The second office never heard of the promotion: refused all the same.
    let r = b.run(&["sync", "--json"]);
    assert!(
        !r.status.success(),
        "the old primary served as a second primary"
    );
    assert!(stderr(&r).contains("no longer serves"), "{}", stderr(&r));

    // Restarted again, it refuses to serve, the standby still unreachable.
    primary.stop();
    let listen = primary.addr.expect("served").to_string();
    let out = std::process::Command::new(baobi_tests::bin("baobi-hub"))
        .args(["serve", "--listen", &listen, "--data"])
        .arg(primary.dir.path())
        .env("RUST_LOG", "warn")
        .output()
        .expect("run the old primary");
    assert!(!out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("was promoted to primary"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_promoted_standby_s_drop_file_is_taken_by_an_office_that_learnt_its_key() {
    let mut primary = Hub::start();
    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    let office = primary.enroll_agent("30226");
    let market = office.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = office.market_survey(&market, "2025-03-04", "12.5", &[]);
    // This sync tells the office of the standby's key; the standby follows it.
    office.sync();
    let want = primary.records().len();
    wait_for(Duration::from_secs(60), || standby.records().len() == want);
    primary.kill();
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let r = standby.json(&[
        "review",
        "return",
        &survey,
        "--reason",
        "sai số liệu / wrong figures",
    ]);
    assert_eq!(r["review"]["state"], "returned", "{r}");

    // The new primary's file for the office: its own review and a receipt, under its own key.
    let files = tempfile::tempdir().expect("tempdir");
    let down = files.path().join("for-tan-thanh.baobi-drop");
    let down = down.to_str().expect("utf-8 path");
    let e = standby.json(&["drop", "export", "--for", &office.author(), "--out", down]);
    assert!(e["receipt_seq"].as_u64().unwrap_or(0) > 0, "{e}");
    let i = office.json(&["drop", "import", down]);
    assert_eq!(i["pending"], 0, "{i}");
    let returned = office.json(&["survey", "list", "--returned"]);
    assert_eq!(returned[0]["id"], survey.as_str(), "{returned}");
}

/// An office enrolled at the primary after the standby's last follow round (the standby knows
/// nothing of it) shows the promoted standby the certificate the primary signed at its enrollment:
/// the standby registers it, and every record the office holds reaches the standby exactly once,
/// those the dead primary acknowledged, the one it never heard of, and one written after it died.
#[test]
fn an_office_enrolled_after_the_standby_s_last_round_is_taken_by_the_promoted_standby() {
    let mut primary = Hub::start();
    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    let early = primary.enroll_agent("30226");
    let market_e = early.outlet("market", "Chợ Tân Thành", "30226", &[]);
    early.sync();
    let want = primary.records().len();
    wait_for(Duration::from_secs(60), || standby.records().len() == want);
    // The standby's last round has passed; it stops following (killed) before the next.
    standby.kill();

    // A new office, enrolled at the primary: its token names both hubs.
    let late = primary.enroll_agent("30208");
    assert!(late.token.starts_with("baobi2."), "{}", late.token);
    let survey = |a: &Agent, market: &str, day: u32| {
        a.market_survey(market, &format!("2025-03-{day:02}"), "12.5", &[])
    };
    let market = late.outlet("market", "Chợ Mỹ Hiệp", "30208", &[]);
    for d in 1..=3 {
        survey(&late, &market, d);
    }
    let r = late.sync();
    assert_eq!(r["sent"], 4, "{r}");
    assert_eq!(
        late.json(&["status"])["pending"],
        0,
        "acknowledged by the primary"
    );
    // One the primary never hears of; and a token it issued that nobody used.
    let unheard = survey(&late, &market, 10);
    let unspent = primary.token("30226");
    assert!(unspent.starts_with("baobi2."), "{unspent}");
    primary.kill();

    standby.serve_with(&["--follow-secs", "1"]);
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let after = survey(&late, &market, 11);

    // The office's sync falls back to the promoted standby and is taken.
    let r = late.run(&["sync", "--json"]);
    assert!(
        r.status.success(),
        "sync via the promoted standby: {}",
        stderr(&r)
    );
    let status = late.json(&["status"]);
    assert_eq!(status["pending"], 0, "{status}");
    assert!(status["last_error"].is_null(), "{status}");
    let again = late.sync();
    assert_eq!(again["up_to_date"], true, "{again}");

    let at = at_hub(&standby);
    let mine = held(&late, std::slice::from_ref(&market));
    assert_eq!(mine.len(), 6);
    assert!(mine.contains(&unheard) && mine.contains(&after));
    for id in mine
        .iter()
        .chain(held(&early, std::slice::from_ref(&market_e)).iter())
    {
        assert_eq!(at.get(id), Some(&1), "record {id} at the new primary");
    }
    assert_eq!(
        at.len(),
        mine.len() + held(&early, std::slice::from_ref(&market_e)).len(),
        "records at the new primary no office holds"
    );
    // The office is in the promoted standby's registry, as enrolled at the primary.
    let agents = standby.json(&["agents"]);
    let row = agents
        .as_array()
        .expect("agents")
        .iter()
        .find(|a| a["author"] == late.author().as_str())
        .unwrap_or_else(|| panic!("the office in the registry: {agents}"));
    assert_eq!(row["unit"], "30208", "{row}");
    assert_eq!(row["revoked"], false, "{row}");

    // The unspent token: the primary does not answer, the standby does not know it (tokens are not
    // copied to a standby) and says so; nothing is enrolled, so the same refusal comes again.
    let fresh = Agent::new();
    for _ in 0..2 {
        let out = fresh.run(&["init", "--token", &unspent, "--label", "văn phòng mới"]);
        assert!(!out.status.success());
        assert!(
            stderr(&out).contains("unknown enrollment token at this hub"),
            "{}",
            stderr(&out)
        );
    }
}

/// The operator's words on relays (`baobi-hub relay allow` / `deny`) live in the primary's tree,
/// not in entries: the standby takes them whole at each follow round (a word changed at the primary
/// changes here), so after `promote` a relay carries exactly what the primary let it.
#[test]
fn the_primary_s_relay_words_follow_to_the_standby_and_hold_after_promote() {
    let mut primary = Hub::start();
    let mut standby = Hub::standby_of(&primary);
    standby.serve_with(&["--follow-secs", "1"]);
    let relay = primary.enroll_agent("30226");
    let office = primary.enroll_agent("30208");
    let (r, o) = (relay.author(), office.author());
    let carried = |hub: &Hub| -> (Vec<String>, Vec<String>) {
        let c = hub.json(&["relay", "offices", &r]);
        let allowed = c["offices"]
            .as_array()
            .expect("offices")
            .iter()
            .filter(|x| x["by"] == "allowed")
            .map(|x| x["office"].as_str().unwrap_or_default().to_string())
            .collect();
        let denied = c["denied"]
            .as_array()
            .expect("denied")
            .iter()
            .map(|x| x.as_str().unwrap_or_default().to_string())
            .collect();
        (allowed, denied)
    };
    wait_for(Duration::from_secs(60), || {
        standby.json(&["agents"]).as_array().map(Vec::len) == Some(2)
    });
    assert_eq!(carried(&standby), (vec![], vec![]), "no word yet");

    primary.ok(&["relay", "allow", &r, &o]);
    assert_eq!(carried(&primary), (vec![o.clone()], vec![]));
    wait_for(Duration::from_secs(60), || {
        carried(&standby) == (vec![o.clone()], vec![])
    });

    // Withdrawn at the primary: the standby follows.
    primary.ok(&["relay", "deny", &r, &o]);
    wait_for(Duration::from_secs(60), || {
        carried(&standby) == (vec![], vec![o.clone()])
    });
    primary.ok(&["relay", "allow", &r, &o]);
    wait_for(Duration::from_secs(60), || {
        carried(&standby) == (vec![o.clone()], vec![])
    });

    // The standby's words are the primary's: its own are refused until it is promoted.
    let out = standby.run(&["relay", "deny", &r, &o]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("a standby takes the relay words from its primary"),
        "{}",
        stderr(&out)
    );
    assert_eq!(carried(&standby), (vec![o.clone()], vec![]));

    primary.kill();
    let out = standby.run(&["promote", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        carried(&standby),
        (vec![o.clone()], vec![]),
        "the promoted standby keeps the word"
    );
    standby.ok(&["relay", "deny", &r, &o]);
    assert_eq!(carried(&standby), (vec![], vec![o.clone()]), "its own now");
}
