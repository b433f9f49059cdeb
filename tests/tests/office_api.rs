//! The office app's JSON API over the real daemon binary (`daemon --http`), a real hub over QUIC on
//! loopback and real sled stores: first run and enrollment, every route, bad input refused at its
//! field with nothing saved, the session and origin rules, LAN pairing, sync to the hub exactly once,
//! and an import with a bad row saving nothing (the CLI side of the app: `office_app_cli.rs`).

use baobi_tests::app::AppClient;
use baobi_tests::{Agent, Hub};
use serde_json::{json, Value};

/// Entries the office holds (`GET /api/status`): unchanged means nothing was saved.
fn entries(c: &mut AppClient) -> u64 {
    c.json("/api/status")["entries"].as_u64().expect("entries")
}

fn market(outlet: &str) -> Value {
    json!({
        "type": "market", "outlet": outlet, "date": "2025-03-12",
        "vendors_total": 180, "vendors_surveyed": 60, "nonbio_kg": "21.5", "vendors_nonbio": 45,
    })
}

/// An enrolled office serving the app, with one market registered through the app.
fn office(hub: &Hub, lan: bool) -> (Agent, baobi_tests::app::AppAddrs, AppClient, String) {
    let mut agent = Agent::new();
    let addrs = agent.start_app(lan, &[]);
    let mut c = AppClient::open(addrs.loopback);
    let token = hub.token("30226");
    let r = c.post(
        "/api/enroll",
        &json!({ "token": token, "label": "Văn phòng Tân Thành" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = c.post(
        "/api/outlets",
        &json!({ "kind": "market", "name": "Chợ Tân Thành", "commune": "30226", "class": 3 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let outlet = r.json()["id"].as_str().expect("outlet id").to_string();
    (agent, addrs, c, outlet)
}

#[test]
fn first_run_enrolls_and_every_route_answers() {
    let mut hub = Hub::start();
    let mut agent = Agent::new();
    let addrs = agent.start_app(false, &[]);
    let mut c = AppClient::open(addrs.loopback);
    assert!(c.cookies.iter().any(|k| k.starts_with("baobi_session=")));
    let set = c.get("/");
    assert_eq!(set.status, 200);
    assert!(set.text().contains("<html"), "the page is served");
    let js = c.get("/assets/app.js");
    assert_eq!(js.status, 200);
    assert!(js
        .header("content-type")
        .unwrap_or("")
        .contains("javascript"));
    assert_eq!(c.get("/assets/nothing.js").status, 404);

    // First run: not enrolled, only enrollment and status work; a bad token is refused at its field.
    assert_eq!(c.json("/api/status")["enrolled"], false);
    let r = c.get("/api/outlets");
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("Chưa đăng ký"));
    let r = c.post("/api/enroll", &json!({ "token": "baobi1.garbage" }));
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("token")),
        "{}",
        r.text()
    );
    let r = c.post("/api/enroll", &json!({}));
    assert_eq!((r.status, r.json()["field"].clone()), (400, json!("token")));
    let r = c.post(
        "/api/enroll",
        &json!({ "token": hub.token("30226"), "label": "Văn phòng Tân Thành" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let e = r.json();
    assert_eq!(e["unit"], "30226");
    assert!(e["received"].as_u64().is_some(), "first sync ran: {e}");
    let again = c.post("/api/enroll", &json!({ "token": hub.token("30226") }));
    assert_eq!(again.status, 409, "enrolled once: {}", again.text());

    let st = c.json("/api/status");
    assert_eq!(
        (st["enrolled"].clone(), st["unit"].clone()),
        (json!(true), json!("30226"))
    );
    assert_eq!(st["hub_reachable"], true, "{st}");
    assert_eq!(st["indicators"]["view"], "office", "{st}");
    assert_eq!(st["indicators"]["scope"]["code"], "30226", "{st}");
    assert!(st["returned"].as_array().is_some_and(|a| a.is_empty()));

    let units = c.json("/api/units")["units"].as_array().cloned().unwrap();
    assert!(units.iter().any(|u| u["code"] == "30226"), "{units:?}");
    assert!(
        !units.iter().any(|u| u["code"] == "30208"),
        "outside the office: {units:?}"
    );

    // Facilities: register, search without diacritics, filter, correct (close, reopen).
    let r = c.post(
        "/api/outlets",
        &json!({ "kind": "market", "name": "Chợ Đồng Tân Thành", "commune": "30226", "class": 3 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let outlet = r.json()["id"].as_str().unwrap().to_string();
    let r = c.post(
        "/api/outlets",
        &json!({ "kind": "convenience", "name": "Bách hóa Xanh", "commune": "30226" }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let shop = r.json()["id"].as_str().unwrap().to_string();
    let found = c.json("/api/outlets?q=cho%20dong%20tan");
    assert_eq!(found["outlets"].as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found["outlets"][0]["id"], outlet.as_str());
    let markets = c.json("/api/outlets?kind=market");
    assert_eq!(markets["outlets"].as_array().unwrap().len(), 1);
    let in_commune = c.json("/api/outlets?commune=30226");
    assert_eq!(in_commune["outlets"].as_array().unwrap().len(), 2);
    let r = c.post(
        &format!("/api/outlets/{shop}/correct"),
        &json!({ "closed": "2025-01-31" }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let closed = c.json("/api/outlets?kind=convenience");
    assert_eq!(closed["outlets"][0]["closed"], "2025-01-31", "{closed}");
    let r = c.post(
        &format!("/api/outlets/{shop}/correct"),
        &json!({ "reopened": true }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        c.json("/api/outlets?kind=convenience")["outlets"][0]["closed"],
        Value::Null
    );

    // The hub goes down; the office keeps recording.
    hub.stop();
    // Surveys: save (durable before the answer), list filtered and paged, show, correct, retract.
    let r = c.post("/api/surveys", &market(&outlet));
    assert_eq!(r.status, 201, "{}", r.text());
    let s1 = r.json()["id"].as_str().unwrap().to_string();
    let mut second = market(&outlet);
    second["date"] = json!("2024-05-02");
    let s2 = c.post("/api/surveys", &second).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let page = c.json("/api/surveys?unsent=true&limit=1");
    assert_eq!(
        (
            page["total"].clone(),
            page["surveys"].as_array().unwrap().len()
        ),
        (json!(2), 1)
    );
    assert_eq!(
        page["surveys"][0]["id"],
        s1.as_str(),
        "newest first: {page}"
    );
    let page2 = c.json("/api/surveys?unsent=true&limit=1&offset=1");
    assert_eq!(page2["surveys"][0]["id"], s2.as_str());
    assert_eq!(c.json("/api/surveys?year=2024")["total"], 1);
    assert_eq!(c.json("/api/surveys?kind=retail")["total"], 0);
    assert_eq!(c.json("/api/surveys?conflict=true")["total"], 0);
    assert_eq!(c.json("/api/surveys?review=submitted")["total"], 2);
    let d = c.json(&format!("/api/surveys/{s1}"));
    assert_eq!(d["history"].as_array().unwrap().len(), 1);
    let heads: Vec<String> = d["heads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["hash"].as_str().unwrap().to_string())
        .collect();
    let stale = c.post(
        &format!("/api/surveys/{s1}/correct"),
        &json!({ "nonbio_kg": "20", "heads": ["0000000000000000"] }),
    );
    assert_eq!(stale.status, 409, "{}", stale.text());
    let r = c.post(
        &format!("/api/surveys/{s1}/correct"),
        &json!({ "nonbio_kg": "20", "heads": heads }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let d = c.json(&format!("/api/surveys/{s1}"));
    assert_eq!(d["history"].as_array().unwrap().len(), 2);
    assert_eq!(d["survey"]["value"]["nonbio_g_per_day"], 20_000);
    assert_eq!(c.get("/api/surveys/ffffffff-99").status, 404);
    let r = c.post(
        &format!("/api/surveys/{s2}/retract"),
        &json!({ "reason": "nhập nhầm" }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(
        c.json(&format!("/api/surveys/{s2}"))["survey"]["retracted"],
        true
    );
    let r = c.post(
        &format!("/api/surveys/{s2}/retract"),
        &json!({ "reason": "" }),
    );
    assert_eq!(r.status, 400);

    // A warning (above 0.5 kg per vendor per day) needs confirming: not saved until then.
    let before = entries(&mut c);
    let mut heavy = market(&outlet);
    heavy["nonbio_kg"] = json!("90");
    heavy["vendors_nonbio"] = json!(10);
    let r = c.post("/api/surveys", &heavy);
    assert_eq!(r.status, 409, "{}", r.text());
    assert!(!r.json()["warnings"].as_array().unwrap().is_empty());
    assert_eq!(
        entries(&mut c),
        before,
        "nothing saved before the confirmation"
    );
    heavy["confirm"] = json!(true);
    let r = c.post("/api/surveys", &heavy);
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(!r.json()["warnings"].as_array().unwrap().is_empty());

    // A retail survey and a campaign.
    let r = c.post(
        "/api/surveys",
        &json!({ "type": "retail", "outlet": shop, "date": "2025-03-04", "gives_nonbio": true,
                 "nonbio_bags": 120 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let r = c.post(
        "/api/campaigns",
        &json!({ "date": "2025-04-22", "kind": "training", "topic": "Ngày Trái Đất", "participants": 40 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert!(c.json("/api/plan").get("plan").is_some());

    // Sync now with the hub down: said plainly, nothing lost.
    let pending = c.json("/api/status")["pending"].as_u64().unwrap();
    assert!(pending > 0);
    let r = c.post("/api/sync", &json!({}));
    assert_eq!(r.status, 503, "{}", r.text());
    assert_eq!(r.json()["pending"].as_u64(), Some(pending));
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("Không kết nối được máy chủ tỉnh"));
    let st = c.json("/api/status");
    assert_eq!(
        (st["hub_reachable"].clone(), st["pending"].clone()),
        (json!(false), json!(pending))
    );
    assert_eq!(c.json("/api/sync/progress")["ok"], false);
    // The hub is back: sync now; everything reaches the hub exactly once.
    hub.serve();
    let r = c.post("/api/sync", &json!({}));
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["message"].as_str().is_some());
    assert_eq!(c.json("/api/status")["pending"], 0);
    assert_eq!(c.json("/api/surveys?unsent=true")["total"], 0);
    let progress = c.json("/api/sync/progress");
    assert_eq!(
        (progress["running"].clone(), progress["ok"].clone()),
        (json!(false), json!(true))
    );
    let records = hub.records();
    for id in [&outlet, &shop, &s1, &s2] {
        let n = records
            .iter()
            .filter(|r| r["short_id"] == id.as_str())
            .count();
        assert_eq!(n, 1, "{id} at the hub exactly once");
    }
    let again = c.post("/api/sync", &json!({}));
    assert_eq!(again.json()["report"]["sent"], 0);
    assert_eq!(hub.records().len(), records.len());
    let syncs = c.json("/api/syncs")["syncs"].as_array().cloned().unwrap();
    assert!(
        syncs.len() >= 4,
        "enrollment's first sync and three more: {syncs:?}"
    );
    assert_eq!(syncs[0]["ok"], true, "newest first: {syncs:?}");
    assert!(syncs.iter().any(|s| s["ok"] == false), "{syncs:?}");
    assert!(c.get("/api/nothing").status == 404);
}

#[test]
fn bad_input_is_refused_at_its_field_and_nothing_is_saved() {
    let hub = Hub::start();
    let (_agent, _addrs, mut c, outlet) = office(&hub, false);
    let before = entries(&mut c);
    let mut cases: Vec<(&str, Value)> = vec![];
    for (field, bad) in [
        ("vendors_total", json!(-5)),
        ("vendors_surveyed", json!("nhiều")),
        ("vendors_nonbio", json!(2.5)),
        ("date", json!("2025-13-40")),
        ("outlet", json!("ffffffff-1")),
        ("nonbio_kg", json!("-3")),
        ("round", json!("weekly")),
    ] {
        let mut v = market(&outlet);
        v[field] = bad;
        cases.push((field, v));
    }
    let mut missing = market(&outlet);
    missing.as_object_mut().unwrap().remove("vendors_total");
    cases.push(("vendors_total", missing));
    let mut no_type = market(&outlet);
    no_type["type"] = json!("weekly-market");
    cases.push(("type", no_type));
    for (field, body) in &cases {
        let r = c.post("/api/surveys", body);
        assert_eq!(r.status, 400, "{field}: {}", r.text());
        let j = r.json();
        assert_eq!(j["field"], *field, "{j}");
        let msg = j["error"].as_str().unwrap();
        assert!(msg.contains(" / "), "bilingual: {msg}");
    }
    for (path, body, field) in [
        (
            "/api/outlets",
            json!({ "kind": "bazaar", "name": "X", "commune": "30226" }),
            "kind",
        ),
        (
            "/api/outlets",
            json!({ "kind": "market", "name": "X", "commune": "30208" }),
            "commune",
        ),
        (
            "/api/outlets",
            json!({ "kind": "market", "name": "X", "commune": "30226", "class": 7 }),
            "class",
        ),
        (
            "/api/campaigns",
            json!({ "date": "2025-04-22", "kind": "training", "topic": "T", "unit": "30208" }),
            "unit",
        ),
        (
            "/api/campaigns",
            json!({ "date": "hôm qua", "kind": "training", "topic": "T" }),
            "date",
        ),
        (
            "/api/campaigns",
            json!({ "date": "2025-04-22", "kind": "training", "topic": "T", "participants": -1 }),
            "participants",
        ),
    ] {
        let r = c.post(path, &body);
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
        assert_eq!(r.json()["field"], field, "{path} {body}: {}", r.text());
    }
    let r = c.get("/api/outlets?kind=bazaar");
    assert_eq!((r.status, r.json()["field"].clone()), (400, json!("kind")));
    let r = c.get("/api/surveys?year=two");
    assert_eq!((r.status, r.json()["field"].clone()), (400, json!("year")));
    let r = c.get("/api/surveys?review=maybe");
    assert_eq!(
        (r.status, r.json()["field"].clone()),
        (400, json!("review"))
    );
    let r = c.send(
        "POST",
        "/api/surveys",
        &[
            ("content-type", "application/json"),
            ("origin", &c.origin()),
        ],
        Some(b"{not json".to_vec()),
    );
    assert_eq!(r.status, 400);
    let big = vec![b' '; 100 * 1024];
    let r = c.send(
        "POST",
        "/api/surveys",
        &[("origin", &c.origin())],
        Some(big),
    );
    assert_eq!(r.status, 413, "bodies are limited");
    assert_eq!(entries(&mut c), before, "nothing was saved");
    assert_eq!(c.json("/api/surveys")["total"], 0);
}

#[test]
fn sessions_origins_and_lan_pairing() {
    let hub = Hub::start();
    let (_agent, addrs, mut c, _outlet) = office(&hub, true);
    let before = entries(&mut c);

    // Another origin is refused, with the session cookie or without.
    let r = c.send(
        "POST",
        "/api/outlets",
        &[
            ("content-type", "application/json"),
            ("origin", "http://evil.example"),
        ],
        Some(
            json!({ "kind": "market", "name": "Chợ lạ", "commune": "30226" })
                .to_string()
                .into_bytes(),
        ),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.json()["error"].as_str().unwrap().contains("origin"));
    let r = c.send(
        "GET",
        "/api/status",
        &[("origin", "http://127.0.0.1:1")],
        None,
    );
    assert_eq!(r.status, 403);
    // A DNS-rebinding host name is refused on loopback.
    let r = c.send(
        "GET",
        "/api/status",
        &[("host", &format!("evil.example:{}", addrs.loopback.port()))],
        None,
    );
    assert_eq!(r.status, 403);
    // Without the cookie: every API route refused, a write above all.
    let mut stranger = AppClient::new(addrs.loopback);
    assert_eq!(stranger.get("/api/status").status, 403);
    let r = stranger.post(
        "/api/outlets",
        &json!({ "kind": "market", "name": "Chợ lạ", "commune": "30226" }),
    );
    assert_eq!(r.status, 403);
    let mut forged = AppClient::new(addrs.loopback);
    forged.cookies.push("baobi_session=00".into());
    assert_eq!(forged.get("/api/status").status, 403);
    assert_eq!(entries(&mut c), before, "nothing saved by refused requests");

    // The LAN: an unpaired device gets the page but no API.
    let lan = addrs.lan.expect("LAN listener");
    let mut phone = AppClient::new(lan);
    assert_eq!(phone.get("/").status, 200);
    assert!(
        !phone
            .cookies
            .iter()
            .any(|k| k.starts_with("baobi_session=")),
        "no session from the page on the LAN"
    );
    let r = phone.get("/api/status");
    assert_eq!(r.status, 403);
    assert_eq!(r.json()["pairing_required"], true);
    assert_eq!(
        phone.get("/api/pairing").status,
        403,
        "codes are shown on the PC only"
    );
    // A wrong code, then the right one from the PC: paired, once.
    let code = c.json("/api/pairing")["code"].as_str().unwrap().to_string();
    assert_eq!(code.len(), 6);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    assert_eq!(
        phone.post("/api/pair", &json!({ "code": wrong })).status,
        403
    );
    let r = phone.post(
        "/api/pair",
        &json!({ "code": code, "label": "Điện thoại chị Lan" }),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let device = r.json()["id"].as_str().unwrap().to_string();
    assert_eq!(phone.json("/api/status")["unit"], "30226");
    let r = phone.post(
        "/api/outlets",
        &json!({ "kind": "market", "name": "Chợ Bến", "commune": "30226" }),
    );
    assert_eq!(r.status, 201, "a paired device records: {}", r.text());
    assert_eq!(
        phone.get("/api/devices").status,
        403,
        "devices are managed from the PC"
    );
    let mut tablet = AppClient::new(lan);
    assert_eq!(
        tablet.post("/api/pair", &json!({ "code": code })).status,
        403,
        "a code works once"
    );
    // Five wrong tries burn a code.
    let code2 = c.json("/api/pairing")["code"].as_str().unwrap().to_string();
    let wrong2 = if code2 == "000000" {
        "111111"
    } else {
        "000000"
    };
    for _ in 0..5 {
        assert_eq!(
            tablet.post("/api/pair", &json!({ "code": wrong2 })).status,
            403
        );
    }
    assert_eq!(
        tablet.post("/api/pair", &json!({ "code": code2 })).status,
        403,
        "burnt after 5 tries"
    );

    let list = c.json("/api/devices")["devices"]
        .as_array()
        .cloned()
        .unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0]["label"], "Điện thoại chị Lan");
    assert_eq!(c.delete(&format!("/api/devices/{device}")).status, 200);
    assert_eq!(c.delete(&format!("/api/devices/{device}")).status, 404);
    assert_eq!(phone.get("/api/status").status, 403, "removal revokes");
    assert!(c.json("/api/devices")["devices"]
        .as_array()
        .unwrap()
        .is_empty());
}

#[test]
fn paired_devices_survive_a_restart() {
    let hub = Hub::start();
    let (mut agent, addrs, mut c, _outlet) = office(&hub, true);
    let code = c.json("/api/pairing")["code"].as_str().unwrap().to_string();
    let mut phone = AppClient::new(addrs.lan.unwrap());
    assert_eq!(
        phone.post("/api/pair", &json!({ "code": code })).status,
        200
    );
    agent.stop_daemon();
    let again = agent.start_app(true, &[]);
    let mut phone2 = AppClient::new(again.lan.unwrap());
    phone2.cookies = phone.cookies.clone();
    assert_eq!(
        phone2.get("/api/status").status,
        200,
        "pairing is persisted in the store"
    );
    // The loopback session is not: the page hands out a new one.
    let mut old = AppClient::new(again.loopback);
    old.cookies = c.cookies.clone();
    assert_eq!(old.get("/api/status").status, 403);
    assert_eq!(
        AppClient::open(again.loopback).get("/api/status").status,
        200
    );
}

#[test]
fn import_with_a_bad_row_saves_nothing() {
    let hub = Hub::start();
    let (_agent, _addrs, mut c, outlet) = office(&hub, false);
    let before = entries(&mut c);
    let csv = format!(
        "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio\n\
         market,{outlet},2025-03-12,180,60,21.5,45\n\
         market,{outlet},2025-03-13,-4,60,21.5,45\n\
         market,{outlet},2025-02-30,180,60,21.5,45\n"
    );
    let origin = c.origin();
    for path in ["/api/import", "/api/import?commit=true"] {
        let r = c.send(
            "POST",
            path,
            &[("content-type", "text/csv"), ("origin", &origin)],
            Some(csv.clone().into_bytes()),
        );
        assert_eq!(r.status, 400, "{path}: {}", r.text());
        let errors = r.json()["errors"].as_array().cloned().unwrap();
        let lines: Vec<(u64, Value)> = errors
            .iter()
            .map(|e| (e["line"].as_u64().unwrap(), e["field"].clone()))
            .collect();
        assert_eq!(
            lines,
            vec![(3, json!("vendors_total")), (4, json!("date"))],
            "{errors:?}"
        );
        assert_eq!(entries(&mut c), before, "{path}: nothing saved");
    }
    let good: String = csv.lines().take(2).map(|l| format!("{l}\n")).collect();
    let r = c.send(
        "POST",
        "/api/import",
        &[("origin", &origin)],
        Some(good.clone().into_bytes()),
    );
    assert_eq!(
        (r.status, r.json()["checked"].clone()),
        (200, json!(1)),
        "{}",
        r.text()
    );
    assert_eq!(entries(&mut c), before, "a check saves nothing");
    let r = c.send(
        "POST",
        "/api/import?commit=true",
        &[("origin", &origin)],
        Some(good.into_bytes()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let saved = r.json()["saved"].as_array().cloned().unwrap();
    assert_eq!(saved.len(), 1);
    assert_eq!(c.json("/api/surveys")["total"], 1);
    let r = c.send(
        "POST",
        "/api/import",
        &[("origin", &origin)],
        Some(b"PK\x03\x04garbage".to_vec()),
    );
    assert_eq!(r.status, 400, "a broken workbook: {}", r.text());
}

#[test]
fn an_excel_workbook_is_checked_row_by_row_then_saved() {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let hub = Hub::start();
    let (_agent, _addrs, mut c, outlet) = office(&hub, false);
    let before = entries(&mut c);
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    let header = [
        "type",
        "outlet",
        "date",
        "vendors_total",
        "vendors_surveyed",
        "nonbio_kg",
        "vendors_nonbio",
    ];
    for (i, h) in header.iter().enumerate() {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    let date_fmt = Format::new().set_num_format("dd/mm/yyyy");
    // Row 2: a real Excel date and numbers; row 3: a negative count; row 4 blank; row 5 good.
    for (row, vendors) in [(1u32, 180.0), (2, -4.0), (4, 90.0)] {
        ws.write_string(row, 0, "market").unwrap();
        ws.write_string(row, 1, &outlet).unwrap();
        let d = ExcelDateTime::from_ymd(2025, 3, 12).unwrap();
        ws.write_datetime_with_format(row, 2, &d, &date_fmt)
            .unwrap();
        ws.write_number(row, 3, vendors).unwrap();
        ws.write_number(row, 4, 60.0).unwrap();
        ws.write_number(row, 5, 21.5).unwrap();
        ws.write_number(row, 6, 45.0).unwrap();
    }
    let bytes = wb.save_to_buffer().unwrap();
    let origin = c.origin();
    let r = c.send(
        "POST",
        "/api/import?commit=true",
        &[("origin", &origin)],
        Some(bytes),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    let errors = r.json()["errors"].as_array().cloned().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        (errors[0]["line"].clone(), errors[0]["field"].clone()),
        (json!(3), json!("vendors_total"))
    );
    assert_eq!(entries(&mut c), before, "nothing saved");

    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    for (i, h) in header.iter().enumerate() {
        ws.write_string(0, i as u16, *h).unwrap();
    }
    ws.write_string(1, 0, "market").unwrap();
    ws.write_string(1, 1, &outlet).unwrap();
    let d = ExcelDateTime::from_ymd(2025, 3, 12).unwrap();
    ws.write_datetime_with_format(1, 2, &d, &date_fmt).unwrap();
    for (col, v) in [(3u16, 180.0), (4, 60.0), (5, 21.5), (6, 45.0)] {
        ws.write_number(1, col, v).unwrap();
    }
    let r = c.send(
        "POST",
        "/api/import?commit=true",
        &[("origin", &origin)],
        Some(wb.save_to_buffer().unwrap()),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["saved"][0]["id"].as_str().unwrap().to_string();
    let d = c.json(&format!("/api/surveys/{id}"));
    assert_eq!(
        d["survey"]["date"], "2025-03-12",
        "the Excel date is read as a date: {d}"
    );
    assert_eq!(d["survey"]["value"]["nonbio_g_per_day"], 21_500);
}

#[test]
fn a_survey_returned_by_the_hub_is_on_home_with_its_reason_until_corrected() {
    let hub = Hub::start();
    let (_agent, _addrs, mut c, outlet) = office(&hub, false);
    let id = c.post("/api/surveys", &market(&outlet)).json()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(c.post("/api/sync", &json!({})).status, 200);
    let reason = "Số tiểu thương khảo sát không khớp phiếu";
    let r = hub.json(&["review", "return", &id, "--reason", reason]);
    assert_eq!(r["review"]["state"], "returned");
    assert_eq!(
        c.post("/api/sync", &json!({})).status,
        200,
        "the decision comes down"
    );
    let st = c.json("/api/status");
    let todo = st["returned"].as_array().cloned().unwrap();
    assert_eq!(todo.len(), 1, "{st}");
    assert_eq!(
        (todo[0]["id"].clone(), todo[0]["reason"].clone()),
        (json!(id), json!(reason))
    );
    assert_eq!(c.json("/api/surveys?review=returned")["total"], 1);
    let r = c.post(
        &format!("/api/surveys/{id}/correct"),
        &json!({ "vendors_surveyed": 50 }),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(c.post("/api/sync", &json!({})).status, 200);
    assert!(c.json("/api/status")["returned"]
        .as_array()
        .unwrap()
        .is_empty());
    let at_hub = hub
        .records()
        .into_iter()
        .find(|r| r["short_id"] == id.as_str())
        .expect("at the hub");
    assert_eq!(at_hub["review"]["state"], "submitted", "{at_hub}");
}
