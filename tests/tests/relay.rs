//! The relay through the real binaries (issue 14, part 1): a commune office that cannot reach the
//! hub syncs through its district office (`baobi-agent daemon --relay`), which carries the
//! commune's sealed runs to the hub at its own next sync and brings back the hub's receipt and what
//! the hub sent for the commune. A hostile relay (a raw peer in the test) can neither alter a run,
//! hide one, replay one nor forge a receipt without it showing.

use std::collections::BTreeMap;

use baobi_tests::{stderr, Agent, Hub};
use serde_json::Value;

/// Starts the district's daemon as a relay on a free loopback port; returns its address and
/// certificate fingerprint from `relay info --json`.
fn start_relay(district: &mut Agent) -> (String, String) {
    start_relay_with(district, &["--relay", "127.0.0.1:0"])
}

/// [`start_relay`] with these daemon flags; waits until the relay has heard from the hub which
/// offices it carries (its first sync).
fn start_relay_with(district: &mut Agent, flags: &[&str]) -> (String, String) {
    district.start_daemon_with(3600, flags);
    let mut info = Value::Null;
    baobi_tests::wait_for(std::time::Duration::from_secs(20), || {
        info = district.json(&["relay", "info"]);
        info["addr"].is_string() && info["allowed_at"].is_string()
    });
    (
        info["addr"].as_str().expect("relay address").to_string(),
        info["fingerprint"]
            .as_str()
            .expect("relay fingerprint")
            .to_string(),
    )
}

/// The commune's records at the hub, by id as the office shows it (`<author 8 hex>-<seq>`): how
/// many times each appears.
fn at_hub(hub: &Hub, author: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for r in hub.records() {
        if r["author"] == author {
            let id = r["id"].as_str().unwrap();
            let seq = id.rsplit('-').next().unwrap();
            *out.entry(format!("{}-{seq}", &author[..8])).or_default() += 1;
        }
    }
    out
}

fn plan_file(dir: &std::path::Path, id: &str) -> String {
    let path = dir.join(format!("{id}.toml"));
    std::fs::write(
        &path,
        format!(
            "id = \"{id}\"\nname = \"Kế hoạch chuyển tiếp\"\nprovince = \"87\"\nperiod = [2021, 2030]\n\
             deadline = \"12-10\"\n"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_commune_behind_a_partition_syncs_through_its_district_and_the_receipt_comes_back() {
    let files = tempfile::tempdir().unwrap();
    let mut hub = Hub::start();
    let commune = hub.enroll_agent("30226");
    let mut district = hub.enroll_agent("876");
    let (addr, fp) = start_relay(&mut district);
    let listed = commune.json(&["relay", "add", &addr, "--fingerprint", &fp]);
    assert_eq!(listed["relays"][0]["addr"], addr.as_str(), "{listed}");
    // Or the relay in the enrollment token (`baobi3.`): the office knows it from enrollment.
    let hub_addr = hub.addr.unwrap().to_string();
    let token = hub.ok(&[
        "enroll",
        "--unit",
        "30226",
        "--addr",
        &hub_addr,
        "--relay",
        &addr,
        "--relay-fingerprint",
        &fp,
    ]);
    assert!(token.starts_with("baobi3."), "{token}");
    let other = Agent::new();
    other.ok(&["init", "--token", &token, "--label", "UBND xã Tân Thành 2"]);
    let listed = other.json(&["relay", "list"]);
    assert_eq!(
        (
            listed["relays"][0]["addr"].as_str(),
            listed["relays"][0]["fingerprint"].as_str()
        ),
        (Some(addr.as_str()), Some(fp.as_str())),
        "{listed}"
    );
    assert!(hub
        .ok(&["enroll", "--unit", "30226", "--addr", &hub_addr])
        .starts_with("baobi1."));
    let bad = hub.run(&[
        "enroll",
        "--unit",
        "30226",
        "--relay",
        &addr,
        "--relay-fingerprint",
        "abc",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("64"), "{}", stderr(&bad));

    let market = commune.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let ids = [
        market.clone(),
        commune.market_survey(&market, "2025-02-14", "21.5", &["--round", "baseline"]),
        commune.market_survey(&market, "2025-06-20", "17.25", &[]),
    ];
    let n = ids.len() as u64;
    let me = commune.author();

    // The hub goes away: the commune's sync goes through the district.
    hub.stop();
    let r = commune.sync();
    assert_eq!(r["via_relay"], true, "{r}");
    assert_eq!(r["sent"], n, "{r}");
    let st = commune.json(&["status"]);
    assert_eq!(
        (
            st["at_relay"].as_u64(),
            st["at_hub"].as_u64(),
            st["pending"].as_u64()
        ),
        (Some(n), Some(0), Some(n)),
        "at the relay, not at the hub: {st}"
    );
    // And each record says so.
    let states = |a: &Agent| -> Vec<(bool, bool)> {
        let list = a.json(&["survey", "list"]);
        let rows = list.as_array().expect("survey rows");
        rows.iter()
            .map(|r| (r["at_relay"] == true, r["synced"] == true))
            .collect()
    };
    let s = states(&commune);
    assert!(
        s.len() >= 2 && s.iter().all(|&x| x == (true, false)),
        "{s:?}"
    );
    // A second relayed sync changes nothing and sends nothing again.
    let again = commune.sync();
    assert_eq!(
        (again["via_relay"].as_bool(), again["sent"].as_u64()),
        (Some(true), Some(0)),
        "{again}"
    );
    let info = district.json(&["relay", "info"]);
    assert_eq!(info["offices"][0]["office"], me.as_str(), "{info}");
    assert_eq!(info["offices"][0]["waiting"], n, "{info}");

    // Meanwhile the province sets a plan: the commune will get it through the district.
    hub.ok(&["plan", "set", &plan_file(files.path(), "dt-relay")]);

    // The district reaches the hub: its sync carries the commune's runs.
    hub.serve();
    district.sync();
    let held = at_hub(&hub, &me);
    assert_eq!(held.len(), ids.len(), "{held:?}");
    for id in &ids {
        assert_eq!(
            held.get(id),
            Some(&1),
            "{id} at the hub exactly once: {held:?}"
        );
    }
    // Carried again (the district's next sync): still exactly once.
    district.sync();
    assert_eq!(at_hub(&hub, &me), held);
    let info = district.json(&["relay", "info"]);
    assert_eq!(info["offices"][0]["receipt_seq"], n, "{info}");
    assert_eq!(info["offices"][0]["waiting"], 0, "{info}");

    // The commune still cannot reach the hub: the receipt and the plan reach it through the relay.
    hub.stop();
    let r = commune.sync();
    assert_eq!(r["via_relay"], true, "{r}");
    let st = commune.json(&["status"]);
    assert_eq!(
        (
            st["at_relay"].as_u64(),
            st["at_hub"].as_u64(),
            st["pending"].as_u64()
        ),
        (Some(0), Some(n), Some(0)),
        "at the hub by the receipt: {st}"
    );
    let s = states(&commune);
    assert!(
        s.len() >= 2 && s.iter().all(|&x| x == (false, true)),
        "{s:?}"
    );
    let plan = commune.json(&["plan"]);
    assert!(
        plan.to_string().contains("dt-relay"),
        "plan through the relay: {plan}"
    );

    // The commune took the receipt and the hub's runs; at its next visit the relay lets them go:
    // nothing of the commune's is left at the relay but its record and the receipt.
    let r = commune.sync();
    assert_eq!(
        (r["via_relay"].as_bool(), r["sent"].as_u64()),
        (Some(true), Some(0)),
        "{r}"
    );
    let info = district.json(&["relay", "info"]);
    let o = &info["offices"][0];
    assert_eq!(
        (
            o["down_runs"].as_u64(),
            o["waiting"].as_u64(),
            o["up_bytes"].as_u64()
        ),
        (Some(0), Some(0), Some(0)),
        "{info}"
    );
    // The relay connects to the hub for the commune once after its visit (what the hub has for it
    // may have moved), then not again while there is nothing to carry.
    hub.serve();
    district.sync();
    let before = district.json(&["relay", "info"])["offices"][0]["forwards"].clone();
    assert!(before.as_u64().is_some_and(|n| n > 0), "{before}");
    district.sync();
    district.sync();
    let info = district.json(&["relay", "info"]);
    assert_eq!(
        info["offices"][0]["forwards"], before,
        "no connection for nothing: {info}"
    );
    hub.stop();

    // The relay never re-signs: the hub's log of the commune verifies as the commune's own chain.
    let v = hub.json(&["verify"]);
    assert_eq!(v["ok"], true, "{v}");
    let out = hub.run(&["records", "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for r in hub.records().iter().filter(|r| r["author"] == me.as_str()) {
        assert!(r["id"].as_str().unwrap().starts_with(&me), "{r}");
    }
}

/// What the district's store holds for the commune, read after its daemon stopped: the commune's
/// runs as the relay keeps them, the district's identity and its hub pin.
struct Carried {
    runs: Vec<baobi_proto::wire::Run>,
    id: baobi_agent::net::Identity,
    hub: std::net::SocketAddr,
    hub_fp: [u8; 32],
}

fn carried(district: &Agent, office: &baobi_proto::AuthorId) -> Carried {
    let store = baobi_agent::store::Store::open(district.dir.path()).unwrap();
    let hub = store.hub().unwrap().unwrap();
    Carried {
        runs: baobi_agent::relay::up_runs(&store, office).unwrap(),
        id: baobi_agent::net::Identity {
            keypair: store.keypair().unwrap(),
            cert_der: store.cert_der().unwrap(),
        },
        hub: hub.addr.parse().unwrap(),
        hub_fp: hub.fingerprint_bytes().unwrap(),
    }
}

/// A hostile relay's side of a relayed sync: says `RelayFor(office)` under the district's
/// certificate and sends exactly `runs`. The hub's receipt, or its refusal.
async fn raw_forward(
    c: &Carried,
    office: baobi_proto::AuthorId,
    runs: Vec<baobi_proto::wire::Run>,
) -> Result<baobi_proto::receipt::Receipt, baobi_proto::wire::Refusal> {
    use baobi_proto::session::Event;
    use baobi_proto::{Msg, Session, Summary};
    let (_ep, conn, mut io) = baobi_agent::net::connect(c.hub, c.hub_fp, &c.id)
        .await
        .unwrap();
    io.send(&Msg::RelayFor(office)).await.unwrap();
    let mut s = Summary::new();
    s.set(office, runs.iter().map(|r| r.last()).max().unwrap_or(0));
    let mut session = Session::client(s);
    let mut queue = Some(runs);
    loop {
        while let Some(ev) = session.poll_event() {
            if let Event::Received { id, .. } = ev {
                session.stored(id).unwrap();
            }
            if let Event::Send(_) = ev {
                for r in queue.take().unwrap_or_default() {
                    session.push_runs(vec![r]).unwrap();
                }
                session.finish_sending().unwrap();
            }
        }
        while let Some(m) = session.poll_transmit() {
            io.send(&m).await.unwrap();
        }
        let m = io.recv().await.unwrap().expect("the hub answers");
        match m {
            Msg::Refused(r) => {
                conn.close(0u32.into(), b"");
                return Err(r);
            }
            Msg::Receipts(mut rs) if session.is_finished() => {
                io.finish().await;
                conn.close(0u32.into(), b"");
                return Ok(rs.remove(0));
            }
            m => session.handle(m).unwrap(),
        }
    }
}

/// A hostile relay serving the commune once: hands it `receipts`, then refuses the session.
async fn raw_relay(
    receipts: Vec<baobi_proto::receipt::Receipt>,
) -> (String, String, tokio::task::JoinHandle<()>) {
    use baobi_proto::Msg;
    let id = baobi_agent::net::Identity::generate().unwrap();
    let ep = baobi_agent::relay::serve::endpoint(&id, "127.0.0.1:0".parse().unwrap()).unwrap();
    let addr = ep.local_addr().unwrap().to_string();
    let fp = data_encoding::HEXLOWER.encode(&id.fingerprint());
    let task = tokio::spawn(async move {
        let conn = ep.accept().await.unwrap().await.unwrap();
        let (send, recv) = conn.accept_bi().await.unwrap();
        let mut io = baobi_agent::net::FramedStream::new(send, recv);
        assert!(matches!(io.recv().await, Ok(Some(Msg::Hello(_)))));
        io.send(&Msg::Receipts(receipts)).await.unwrap();
        io.send(&Msg::Refused(baobi_proto::wire::Refusal {
            code: baobi_proto::wire::RefusalCode::Busy,
            message: "hostile relay".into(),
        }))
        .await
        .unwrap();
        io.finish().await;
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), conn.closed()).await;
    });
    (addr, fp, task)
}

#[test]
fn a_hostile_relay_cannot_alter_hide_replay_or_forge() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let mut hub = Hub::start();
    let commune = hub.enroll_agent("30226");
    let mut district = hub.enroll_agent("876");
    let (addr, fp) = start_relay(&mut district);
    commune.ok(&["relay", "add", &addr, "--fingerprint", &fp]);
    let me = commune.author();
    let office = baobi_proto::AuthorId(
        data_encoding::HEXLOWER
            .decode(me.as_bytes())
            .unwrap()
            .try_into()
            .unwrap(),
    );

    // Two relayed syncs: two runs at the relay (the outlet and a survey; then two more surveys).
    hub.stop();
    let market = commune.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let first = commune.market_survey(&market, "2025-02-14", "21.5", &[]);
    assert_eq!(commune.sync()["via_relay"], true);
    let later = [
        commune.market_survey(&market, "2025-06-20", "17.25", &[]),
        commune.market_survey(&market, "2025-09-20", "15", &[]),
    ];
    assert_eq!(commune.sync()["via_relay"], true);
    district.stop_daemon();
    let c = carried(&district, &office);
    assert_eq!(c.runs.len(), 2, "one run per relayed sync");
    let (a, b) = (c.runs[0].clone(), c.runs[1].clone());
    hub.serve();

    // Altered: one byte of a survey's content changed. The hub refuses the run, stores nothing.
    let mut altered = a.clone();
    let mut bytes = baobi_proto::wire::encode(&altered.items[1]);
    let at = bytes.len() - 3;
    bytes[at] ^= 0x01;
    match baobi_proto::wire::decode(&bytes) {
        Ok(item) => altered.items[1] = item,
        Err(_) => altered.items[1].hlc = baobi_proto::wire::Hlc(altered.items[1].hlc.0 + 1),
    }
    assert_ne!(altered, a);
    let r = rt
        .block_on(raw_forward(&c, office, vec![altered]))
        .unwrap_err();
    assert_eq!(
        r.code,
        baobi_proto::wire::RefusalCode::BadSignature,
        "{r:?}"
    );
    assert!(at_hub(&hub, &me).is_empty(), "nothing stored");

    // Dropped: the relay forwards the later run without the first: refused (it does not continue
    // the hub's copy), nothing stored; then only the first: the hub holds it, and says so.
    let r = rt
        .block_on(raw_forward(&c, office, vec![b.clone()]))
        .unwrap_err();
    assert!(at_hub(&hub, &me).is_empty(), "nothing stored: {r:?}");
    let receipt = rt
        .block_on(raw_forward(&c, office, vec![a.clone()]))
        .unwrap();
    assert_eq!(receipt.seq, a.last());
    let held = at_hub(&hub, &me);
    assert_eq!(held.len(), 2, "{held:?}");
    assert!(held.contains_key(&market) && held.contains_key(&first));

    // Replayed: the first run again changes nothing.
    let again = rt
        .block_on(raw_forward(&c, office, vec![a.clone()]))
        .unwrap();
    assert_eq!(again.seq, receipt.seq);
    assert_eq!(at_hub(&hub, &me), held);
    hub.stop();

    // Forged receipts, through a relay the commune is told to use: refused, marks unchanged.
    commune.ok(&["relay", "remove", &addr]);
    let forger = baobi_proto::Keypair::generate();
    let forged = [
        // Signed by another key, for everything the commune wrote.
        baobi_proto::receipt::Receipt::sign(&forger, office, b.last(), receipt.head, 1),
        // The hub's receipt moved to a later seq (its signature no longer holds).
        baobi_proto::receipt::Receipt {
            seq: b.last(),
            ..receipt.clone()
        },
        // The hub's receipt for another office.
        baobi_proto::receipt::Receipt {
            office: forger.author(),
            ..receipt.clone()
        },
    ];
    let before = commune.json(&["status"]);
    for f in forged {
        let (raddr, rfp, task) = rt.block_on(raw_relay(vec![f]));
        commune.ok(&["relay", "add", &raddr, "--fingerprint", &rfp]);
        let out = commune.run(&["sync"]);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert!(
            err.contains("biên nhận") && err.contains("receipt"),
            "{err}"
        );
        let _ = rt.block_on(task);
        commune.ok(&["relay", "remove", &raddr]);
        let st = commune.json(&["status"]);
        assert_eq!(st["at_hub"], before["at_hub"], "{st}");
        assert_eq!(st["at_hub"], 0, "{st}");
        assert!(
            st["last_error"]
                .as_str()
                .unwrap_or_default()
                .contains("receipt"),
            "{st}"
        );
    }

    // The hub's true receipt, handed by any relay, is taken: the dropped run's records stay
    // pending, not at the hub.
    let (raddr, rfp, task) = rt.block_on(raw_relay(vec![receipt.clone()]));
    commune.ok(&["relay", "add", &raddr, "--fingerprint", &rfp]);
    let out = commune.run(&["sync"]);
    assert!(
        stderr(&out).contains("the relay at"),
        "the relay's refusal is the relay's: {}",
        stderr(&out)
    );
    let _ = rt.block_on(task);
    let st = commune.json(&["status"]);
    let n = (2 + later.len()) as u64;
    assert_eq!(
        (st["at_hub"].as_u64(), st["pending"].as_u64()),
        (Some(a.last()), Some(n - a.last())),
        "{st}"
    );
}

/// The commune's `sync` through a relay that refuses it: it fails, says so in both languages
/// (`vi`, `en`), and the commune's records stay pending, not at the relay.
fn refused_by_relay(office: &Agent, vi: &str, en: &str, pending: u64) {
    let out = office.run(&["sync"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains(vi) && err.contains(en), "{err}");
    let st = office.json(&["status"]);
    assert_eq!(
        (st["pending"].as_u64(), st["at_hub"].as_u64()),
        (Some(pending), Some(0)),
        "{st}"
    );
}

#[test]
fn a_relay_carries_only_the_offices_the_hub_lists_for_it_and_stores_nothing_of_others() {
    let mut hub = Hub::start();
    let commune = hub.enroll_agent("30226");
    // Enrolled at this hub, but in another district: not the relay's to carry.
    let outsider = hub.enroll_agent("29869");
    let mut elsewhere = Hub::start();
    let stranger = elsewhere.enroll_agent("30226");
    let mut district = hub.enroll_agent("876");
    let (addr, fp) = start_relay(&mut district);
    let info = district.json(&["relay", "info"]);
    let allowed = info["allowed"].as_array().expect("the hub's list").clone();
    assert!(allowed.contains(&Value::from(commune.author())), "{info}");
    assert!(!allowed.contains(&Value::from(outsider.author())), "{info}");

    let mut n = 0;
    for (office, unit) in [
        (&outsider, "29869"),
        (&stranger, "30226"),
        (&commune, "30226"),
    ] {
        office.ok(&["relay", "add", &addr, "--fingerprint", &fp]);
        let market = office.outlet("market", "Chợ Tân Thành", unit, &["--class", "3"]);
        office.market_survey(&market, "2025-02-14", "21.5", &[]);
        n = office.json(&["status"])["pending"].as_u64().unwrap();
    }
    hub.stop();
    elsewhere.stop();
    for office in [&outsider, &stranger] {
        refused_by_relay(office, "không chuyển tiếp", "does not carry", n);
        assert_eq!(office.json(&["status"])["at_relay"], 0);
    }
    let info = district.json(&["relay", "info"]);
    let held: Vec<&str> = info["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["office"].as_str().unwrap())
        .collect();
    assert!(held.is_empty(), "nothing kept of the refused: {info}");
    assert_eq!(info["up_bytes"], 0, "{info}");
    // The listed office is carried.
    assert_eq!(commune.sync()["via_relay"], true);

    // The operator lets the district carry the outsider, and denies it the commune: the relay
    // hears it at its next sync.
    let list = hub.json(&["relay", "allow", "office 876", "office 29869"]);
    let carried: Vec<&str> = list["offices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["office"].as_str().unwrap())
        .collect();
    assert!(carried.contains(&outsider.author().as_str()), "{list}");
    let list = hub.json(&["relay", "deny", "office 876", "office 30226"]);
    assert!(list["denied"]
        .as_array()
        .unwrap()
        .contains(&Value::from(commune.author())));
    let bad = hub.run(&["relay", "allow", "office 876", "nobody at all"]);
    assert!(!bad.status.success());
    hub.serve();
    district.sync();
    hub.stop();
    let r = outsider.sync();
    assert_eq!(
        (r["via_relay"].as_bool(), r["sent"].as_u64()),
        (Some(true), Some(n)),
        "{r}"
    );
    assert_eq!(outsider.json(&["status"])["at_relay"], n);
    // The commune, denied now: refused, and what the relay held of it is gone (it is still the
    // commune's, pending).
    refused_by_relay(&commune, "không chuyển tiếp", "does not carry", n);
    let info = district.json(&["relay", "info"]);
    let row = info["offices"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["office"] == commune.author().as_str())
        .cloned()
        .expect("the commune's row");
    assert_eq!(
        (row["up_bytes"].as_u64(), row["held"].as_u64()),
        (Some(0), Some(0)),
        "{row}"
    );
}

#[test]
fn an_office_over_the_relays_cap_is_refused_and_keeps_its_records_pending() {
    let mut hub = Hub::start();
    let commune = hub.enroll_agent("30226");
    let mut district = hub.enroll_agent("876");
    let (addr, fp) = start_relay(&mut district);
    commune.ok(&["relay", "add", &addr, "--fingerprint", &fp]);
    let market = commune.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    hub.stop();
    assert_eq!(commune.sync()["via_relay"], true);
    let info = district.json(&["relay", "info"]);
    let held = info["offices"][0]["up_bytes"].as_u64().unwrap();
    assert!(held > 0, "{info}");

    // The relay restarted with the cap at what it holds of the commune: the next run is refused.
    district.stop_daemon();
    let cap = held.to_string();
    let bad = district.run(&["daemon", "--relay", &addr, "--relay-office-cap", "0"]);
    assert!(!bad.status.success(), "a zero cap is refused");
    start_relay_with(
        &mut district,
        &["--relay", &addr, "--relay-office-cap", &cap],
    );
    let info = district.json(&["relay", "info"]);
    assert_eq!(info["limits"]["office_bytes"], held, "{info}");
    commune.market_survey(&market, "2025-02-14", "21.5", &[]);
    let st = commune.json(&["status"]);
    let out = commune.run(&["sync"]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("giới hạn") && err.contains("cap per office"),
        "{err}"
    );
    let after = commune.json(&["status"]);
    assert_eq!(
        (after["pending"].clone(), after["at_relay"].clone()),
        (st["pending"].clone(), st["at_relay"].clone()),
        "{after}"
    );
    let info = district.json(&["relay", "info"]);
    assert_eq!(
        info["offices"][0]["up_bytes"], held,
        "nothing more stored: {info}"
    );

    // The hub's path is not affected: the commune syncs directly once the hub answers.
    hub.serve();
    let r = commune.sync();
    assert_ne!(r["via_relay"], true, "{r}");
    assert_eq!(commune.json(&["status"])["pending"], 0);
}
