//! The dashboard's HTTP API, exports and login, through the real `baobi-hub serve --http` with real
//! offices syncing over QUIC: every route answers with the right content for a known data set, the
//! figures equal the indicator report the library computes from the same store (what `indicators
//! --json` prints), exports parse, and nothing is served without a session.

use std::io::Cursor;

use baobi_tests::{dashboard_data, Hub, Web};
use calamine::{Data, Reader, Xlsx};
use serde_json::{json, Value};

const NAME: &str = "chị Lan";
const PASSWORD: &str = "mật khẩu đủ dài";

fn started() -> (Hub, Web) {
    let mut hub = Hub::init();
    let out = hub.add_operator(NAME, PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    hub.serve_http();
    let mut web = hub.web();
    assert_eq!(web.login(NAME, PASSWORD).status, 200);
    (hub, web)
}

fn indicator<'a>(inds: &'a Value, id: &str) -> &'a Value {
    inds.as_array()
        .expect("indicators")
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("indicator {id} missing"))
}

fn csv_rows(bytes: &[u8]) -> (Vec<String>, Vec<Vec<String>>) {
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "CSV starts with a UTF-8 BOM");
    let mut r = csv::Reader::from_reader(&bytes[3..]);
    let head = r
        .headers()
        .expect("CSV header")
        .iter()
        .map(String::from)
        .collect();
    let rows = r
        .records()
        .map(|x| x.expect("CSV row").iter().map(String::from).collect())
        .collect();
    (head, rows)
}

fn xlsx(bytes: Vec<u8>) -> Xlsx<Cursor<Vec<u8>>> {
    Xlsx::new(Cursor::new(bytes)).expect("XLSX opens")
}

fn cell_f64(c: &Data) -> Option<f64> {
    match c {
        Data::Float(f) => Some(*f),
        Data::Int(i) => Some(*i as f64),
        _ => None,
    }
}

#[test]
fn every_route_serves_the_known_figures_and_exports_parse() {
    let (mut hub, web) = started();
    let data = dashboard_data(&hub);

    // Overview: the contract's report for 2024 plus the trend.
    let o = web.json("/api/overview?year=2024");
    let rep = &o["report"];
    assert_eq!(rep["year"], 2024);
    assert_eq!(rep["province"], "87");
    assert_eq!(rep["scope"]["code"], "87");
    let ids: Vec<&str> = rep["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "i1",
            "i1_cs",
            "i2",
            "i2_share",
            "i3",
            "i3_share",
            "i4",
            "coverage",
            "completeness",
            "timeliness"
        ]
    );
    // Hand-computed (see `dashboard_data`).
    let i1 = indicator(&rep["indicators"], "i1");
    assert_eq!(i1["numerator"], 2.0);
    assert_eq!(i1["denominator"], 4.0);
    assert_eq!(i1["value"], 0.5);
    assert_eq!(i1["coverage"], json!({"surveyed": 3, "total": 4}));
    let i1cs = indicator(&rep["indicators"], "i1_cs");
    assert_eq!(
        (i1cs["numerator"].as_f64(), i1cs["denominator"].as_f64()),
        (Some(3.0), Some(5.0))
    );
    let cov = indicator(&rep["indicators"], "coverage");
    assert_eq!(
        (cov["numerator"].as_f64(), cov["denominator"].as_f64()),
        (Some(5.0), Some(6.0))
    );
    assert_eq!(rep["completeness"]["units"], 12);
    assert_eq!(rep["completeness"]["reported"], 2);
    let missing: Vec<&str> = rep["completeness"]["missing"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["code"].as_str().unwrap())
        .collect();
    assert_eq!(missing.len(), 10);
    assert!(!missing.contains(&"876") && !missing.contains(&"866"));
    assert!(missing.contains(&"877"));
    let trend = o["trend"].as_array().expect("trend");
    assert!(trend.iter().any(|r| r["year"] == 2024), "trend has 2024");
    assert_eq!(
        indicator(
            &trend.iter().find(|r| r["year"] == 2024).unwrap()["indicators"],
            "i1"
        )["value"],
        0.5
    );
    // Default year: the latest with data.
    assert_eq!(web.json("/api/overview")["report"]["year"], 2024);

    // Drill-down into Lai Vung: its own outlets only (S1 ok; T1, S2 not) = 1/3.
    let u = web.json("/api/units/876?year=2024");
    assert_eq!(u["report"]["scope"]["code"], "876");
    let ui1 = indicator(&u["report"]["indicators"], "i1");
    assert_eq!(
        (ui1["numerator"].as_f64(), ui1["denominator"].as_f64()),
        (Some(1.0), Some(3.0))
    );
    let units = web.json("/api/units");
    assert!(units
        .as_array()
        .unwrap()
        .iter()
        .any(|x| x["code"] == "876" && x["name"] == "Huyện Lai Vung"));

    // Records browser and its filters.
    let all = web.json("/api/records");
    assert_eq!(all["count"], 12);
    let count = |q: &str| {
        web.json(&format!("/api/records?{q}"))["count"]
            .as_u64()
            .unwrap()
    };
    assert_eq!(count("kind=retail-survey&year=2024"), 5);
    assert_eq!(count("kind=market-survey"), 1);
    assert_eq!(count("kind=outlet"), 6);
    assert_eq!(count("unit=866"), 3, "S3 and its two surveys");
    assert_eq!(count("unit=30226&kind=outlet"), 3);
    assert_eq!(count("conflict=true"), 0);
    assert_eq!(count("conflict=false"), 12);
    assert_eq!(count("year=2023"), 0);
    assert_eq!(count("status=submitted"), 12);
    assert_eq!(count("status=retracted"), 0);
    for bad in [
        "year=20x4",
        "kind=shop",
        "status=lost",
        "conflict=maybe",
        "unit=99999",
    ] {
        let r = web.get(&format!("/api/records?{bad}"));
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
        assert!(r.json()["error"].as_str().is_some());
    }

    // One record with its full history: created, then corrected by the Lai Vung office.
    let rec = web.json(&format!("/api/records/{}", data.corrected));
    assert_eq!(rec["record"]["short_id"], data.corrected.as_str());
    assert_eq!(rec["record"]["versions"], 2);
    let hist = rec["history"].as_array().unwrap();
    assert_eq!(hist.len(), 2);
    assert_eq!(hist[0]["action"], "created");
    assert_eq!(hist[1]["action"], "corrected");
    assert_eq!(hist[1]["head"], true);
    assert_eq!(hist[0]["head"], false);
    assert_eq!(hist[1]["value"]["nonbio_bags_per_day"], 250);
    assert_eq!(hist[0]["value"]["nonbio_bags_per_day"], 300);
    assert_eq!(hist[1]["supersedes"][0], hist[0]["hash"]);
    assert!(hist[0]["author_label"]
        .as_str()
        .unwrap()
        .contains("office 876"));
    assert!(hist[0]["time"].as_str().unwrap().ends_with('Z'));
    // The full id answers too; a malformed id is 400, an unknown one 404.
    let full = rec["record"]["id"].as_str().unwrap().to_string();
    assert_eq!(
        web.json(&format!("/api/records/{full}"))["record"]["short_id"],
        data.corrected.as_str()
    );
    assert_eq!(web.get("/api/records/not-an-id").status, 400);
    assert_eq!(
        web.get(&format!("/api/records/{}-999", &full[..64])).status,
        404
    );
    assert_eq!(web.get("/api/units/99999").status, 404);
    assert_eq!(web.get("/api/overview?year=abc").status, 400);
    assert!(web.json(&format!("/api/records/{}", data.market))["record"]["type"] == "outlet");

    // Review: bad decisions are refused before anything happens.
    let path = format!("/api/records/{}/review", data.corrected);
    assert_eq!(web.post(&path, &json!({"decision": "approve"})).status, 400);
    assert_eq!(
        web.post(&path, &json!({"decision": "return", "reason": " "}))
            .status,
        400
    );

    // Exports: CSV parses and equals the API; XLSX opens and holds the same figures.
    let r = web.get("/export/indicators.csv?year=2024&lang=en");
    assert_eq!(r.status, 200);
    assert!(r.header("content-type").unwrap().starts_with("text/csv"));
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"baobi-indicators-2024.csv\"")
    );
    let (head, rows) = csv_rows(&r.body);
    assert_eq!(head[0], "Unit code");
    assert_eq!(head[5], "Value");
    // One row per (scope or unit below it, indicator): 13 × 10.
    assert_eq!(rows.len(), 13 * 10);
    let mut checked = 0;
    for row in &rows {
        let inds = if row[0] == "87" {
            &rep["indicators"]
        } else {
            &rep["units"]
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["code"] == row[0].as_str())
                .unwrap_or_else(|| panic!("unit {} in the report", row[0]))["indicators"]
        };
        let api = indicator(inds, &row[3]);
        let csv_value: Option<f64> = (!row[5].is_empty()).then(|| row[5].parse().unwrap());
        assert_eq!(csv_value, api["value"].as_f64(), "{} {}", row[0], row[3]);
        checked += 1;
    }
    assert_eq!(checked, 130);
    let vi = web.get("/export/indicators.csv?year=2024");
    let (head_vi, _) = csv_rows(&vi.body);
    assert_eq!(head_vi[0], "Mã đơn vị", "Vietnamese by default");

    let r = web.get("/export/indicators.xlsx?year=2024");
    assert_eq!(r.status, 200);
    let mut wb = xlsx(r.body);
    let sheet = wb.worksheet_range("Chỉ tiêu").expect("sheet Chỉ tiêu");
    let i1_row = sheet
        .rows()
        .find(|row| row[0] == Data::String("87".into()) && row[3] == Data::String("i1".into()))
        .expect("i1 row in XLSX");
    assert_eq!(cell_f64(&i1_row[5]), Some(0.5));
    assert_eq!(cell_f64(&i1_row[6]), Some(2.0));
    assert_eq!(cell_f64(&i1_row[7]), Some(4.0));

    let r = web.get("/export/records.csv?kind=retail-survey");
    let (head, rows) = csv_rows(&r.body);
    assert_eq!(head[1], "Mã ngắn");
    assert_eq!(rows.len(), 5);
    assert!(rows.iter().any(|x| x[1] == data.corrected));
    let r = web.get("/export/records.xlsx");
    assert_eq!(
        r.header("content-disposition"),
        Some("attachment; filename=\"baobi-records.xlsx\"")
    );
    let mut wb = xlsx(r.body);
    let sheet = wb.worksheet_range("Bản ghi").expect("sheet Bản ghi");
    assert_eq!(sheet.height(), 13, "header + 12 records");

    let r = web.get("/export/annual-report.xlsx?year=2024&lang=en");
    assert_eq!(r.status, 200);
    let mut wb = xlsx(r.body);
    assert_eq!(
        wb.sheet_names(),
        ["Indicators", "Units", "Completeness", "Notes"]
    );
    let ind = wb.worksheet_range("Indicators").unwrap();
    let row = ind
        .rows()
        .find(|row| row[0] == Data::String(i1["name_en"].as_str().unwrap().into()))
        .expect("I1 row in the annual report");
    assert_eq!(cell_f64(&row[1]), Some(0.5));
    let units_sheet = wb.worksheet_range("Units").unwrap();
    let districts = units_sheet
        .rows()
        .filter(|r| matches!(&r[0], Data::String(c) if c.len() == 3 && c.starts_with('8')))
        .count();
    assert_eq!(districts, 12, "one row per district");
    let comp = wb.worksheet_range("Completeness").unwrap();
    assert_eq!(
        comp.get_value((0, 0)),
        Some(&Data::String("Units reported: 2/12".into()))
    );

    let page = web.get("/report/annual?year=2024&lang=vi");
    assert_eq!(page.status, 200);
    let html = page.text();
    assert!(html.contains("Báo cáo năm gửi Sở Công Thương — Năm 2024 — Đồng Tháp"));
    assert!(html.contains("50,0 %"), "I1 in the printable report");
    assert!(
        html.contains("Huyện Lấp Vò"),
        "a unit that has not reported is named"
    );
    assert!(html.contains("@media print"));

    // Pages: the shell in Vietnamese by default, English on the switch (which sets a cookie).
    let p = web.get("/");
    assert!(p.text().contains("<html lang=\"vi\">"));
    assert!(p.text().contains("\"nav_overview\": \"Tổng quan\""));
    let p = web.get("/records?lang=en");
    assert!(p.text().contains("<html lang=\"en\">"));
    assert!(p.header("set-cookie").unwrap().starts_with("baobi_lang=en"));
    assert!(web.get("/static/app.js").text().contains("function t(k)"));

    // The figures are the ones the indicator module computes from the same store (what the CLI's
    // `indicators --json` prints).
    hub.stop();
    let store = baobi_hub::Hub::open(hub.dir.path()).expect("open the stopped hub's store");
    let lib = baobi_hub::indicators::report(
        &store,
        &baobi_hub::indicators::Query {
            year: 2024,
            unit: None,
        },
    )
    .expect("report");
    assert_eq!(serde_json::to_value(&lib).unwrap(), *rep);
    drop(store);

    // Review from the dashboard (after a restart: sessions are in memory, so log in again).
    hub.serve_http();
    let mut web = hub.web();
    assert_eq!(web.login(NAME, PASSWORD).status, 200);
    let review = format!("/api/records/{}/review", data.corrected);
    // Returning the corrected survey records a hub-signed decision that
    // the record page and the records filter then show.
    let r = web.post(
        &review,
        &json!({"decision": "return", "reason": "Thiếu số tiểu thương / vendor count missing"}),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let rec = web.json(&format!("/api/records/{}", data.corrected));
    assert_eq!(rec["record"]["review"]["state"], "returned", "{rec}");
    assert_eq!(
        rec["record"]["review"]["reason"],
        "Thiếu số tiểu thương / vendor count missing"
    );
    let returned = web.json("/api/records?status=returned");
    assert_eq!(
        returned["records"].as_array().map(|a| a.len()),
        Some(1),
        "{returned}"
    );
    // Outlets cannot be returned (offices only see reviews of surveys): a clear 400, nothing stored.
    let r = web.post(
        &format!("/api/records/{}/review", data.market),
        &json!({"decision": "return", "reason": "x"}),
    );
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(web.json("/api/records?status=returned")["records"]
        .as_array()
        .is_some_and(|a| a.len() == 1));
}

#[test]
fn nothing_is_served_without_a_valid_session() {
    let (hub, mut web) = started();
    let anon = hub.web();
    for path in [
        "/api/me",
        "/api/overview",
        "/api/units",
        "/api/units/876",
        "/api/records",
        "/api/records/abcdef01-1",
        "/export/records.csv",
        "/export/records.xlsx",
        "/export/indicators.csv",
        "/export/indicators.xlsx",
        "/export/annual-report.xlsx",
        "/report/annual",
    ] {
        let r = anon.get(path);
        assert_eq!(r.status, 401, "{path}");
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Login required"));
    }
    assert_eq!(anon.post("/api/logout", &json!({})).status, 401);
    assert_eq!(
        anon.post(
            "/api/records/abcdef01-1/review",
            &json!({"decision": "verify"})
        )
        .status,
        401
    );
    // The page shell itself is public (it shows the login form).
    assert_eq!(anon.get("/").status, 200);

    // The cookie is HttpOnly, SameSite=Strict, Path=/, with an expiry; a forged token is refused.
    let mut other = hub.web();
    let r = other.login(NAME, PASSWORD);
    let set = r.header("set-cookie").unwrap();
    for attr in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(set.contains(attr), "{set} has {attr}");
    }
    let token = other.cookie.clone().unwrap();
    assert_eq!(token.len(), "baobi_session=".len() + 64);
    let mut forged = hub.web();
    forged.cookie = Some(format!("baobi_session={}", "0".repeat(64)));
    assert_eq!(forged.get("/api/me").status, 401);

    // Wrong password and unknown name: 401, same message.
    let mut bad = hub.web();
    let r1 = bad.login(NAME, "mật khẩu sai rồi");
    let r2 = bad.login("không có ai", PASSWORD);
    assert_eq!((r1.status, r2.status), (401, 401));
    assert_eq!(r1.json(), r2.json());
    assert!(bad.cookie.is_none());
    assert_eq!(bad.post("/api/login", &json!({"name": NAME})).status, 400);

    // Logout ends that session only.
    assert_eq!(web.json("/api/me")["operator"], NAME);
    assert_eq!(web.post("/api/logout", &json!({})).status, 200);
    assert_eq!(web.get("/api/me").status, 401);
    assert_eq!(other.json("/api/me")["operator"], NAME);

    // After 5 failures within the window the name is locked, even for the right password.
    let mut guess = hub.web();
    // One failure above (r1), four more here.
    for _ in 0..4 {
        assert_eq!(guess.login(NAME, "đoán bừa mật khẩu").status, 401);
    }
    assert_eq!(guess.login(NAME, PASSWORD).status, 429);
    assert!(guess.cookie.is_none());
    web.cookie = None;
    assert_eq!(web.login(NAME, PASSWORD).status, 429);
    // Other operators are not affected; the running hub takes the new one over its control socket.
    let out = hub.add_operator("anh Minh", "một mật khẩu khác");
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    let mut minh = hub.web();
    assert_eq!(minh.login("anh Minh", "một mật khẩu khác").status, 200);
    assert_eq!(minh.json("/api/me")["operator"], "anh Minh");
    // Removing an operator ends their open sessions at once.
    hub.ok(&["operator", "remove", "anh Minh"]);
    assert_eq!(minh.get("/api/me").status, 401);
}

#[test]
fn operators_are_stored_as_argon2_hashes_and_managed_from_the_cli() {
    let hub = Hub::init();
    let out = hub.add_operator("lan", PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    // Refusals change nothing: an existing name, a short password, an empty name.
    let dup = hub.add_operator("lan", "another long password");
    assert_eq!(dup.status.code(), Some(2), "{}", baobi_tests::stderr(&dup));
    assert!(baobi_tests::stderr(&dup).contains("already exists"));
    assert_eq!(hub.add_operator("minh", "short").status.code(), Some(2));
    assert_eq!(hub.add_operator(" ", PASSWORD).status.code(), Some(2));
    let list = hub.json(&["operator", "list"]);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["name"], "lan");
    assert!(list[0].get("phc").is_none(), "listing shows no hash");

    {
        let store = baobi_hub::Hub::open(hub.dir.path()).expect("open store");
        let op = baobi_hub::operators::get(&store, "lan")
            .unwrap()
            .expect("stored");
        assert!(op.phc.starts_with("$argon2id$v=19$"), "{}", op.phc);
        assert!(!op.phc.contains(PASSWORD));
        assert!(baobi_hub::operators::verify_password(&op.phc, PASSWORD));
        assert!(!baobi_hub::operators::verify_password(
            &op.phc,
            "mật khẩu đủ dàI"
        ));
    }
    // The plaintext is nowhere in the hub's files.
    let needle = PASSWORD.as_bytes();
    for f in walk(hub.dir.path()) {
        let bytes = std::fs::read(&f).unwrap_or_default();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "password in {}",
            f.display()
        );
    }

    let removed = hub.json(&["operator", "remove", "lan"]);
    assert_eq!(removed["name"], "lan");
    assert_eq!(hub.json(&["operator", "list"]), json!([]));
    assert_eq!(
        hub.run(&["operator", "remove", "lan"]).status.code(),
        Some(2)
    );

    // --http on every interface needs --http-public; a bad address is a usage error.
    let out = hub.run(&["serve", "--listen", "127.0.0.1:0", "--http", "0.0.0.0:0"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(baobi_tests::stderr(&out).contains("--http-public"));
    let out = hub.run(&["serve", "--listen", "127.0.0.1:0", "--http", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}
