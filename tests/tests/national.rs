//! A national hub over two provincial hubs (issue 14), through the real binaries over QUIC on
//! loopback: Đồng Tháp (87) with its plan and Đồng Nai (75) with its own, offices recording in each.
//! After `pull`, the nation's figures for each province equal that province's own
//! `indicators --json`, the province table shows both, and the records at the nation carry the
//! office that recorded each value. An office's entry altered at a province's hub is refused
//! nationally (the office's seal no longer holds): nothing of it is stored, the other province is
//! still pulled.

use baobi_proto::AuthorId;
use baobi_tests::{stderr, Agent, Hub};
use serde_json::Value;

/// A serving provincial hub with its plan, and one office that recorded `n` market surveys in
/// `commune` (synced).
fn province(code: &str, name: &str, plan: &str, unit: &str, commune: &str) -> (Hub, Agent) {
    let mut hub = Hub::init_province(code, name, &["--plan", plan]);
    hub.serve();
    let office = hub.enroll_agent(unit);
    survey(&office, commune, 0, 3);
    (hub, office)
}

/// `n` markets in `commune`, each surveyed once in 2025, then a sync.
fn survey(office: &Agent, commune: &str, from: usize, n: usize) {
    for k in from..from + n {
        let m = office.outlet(
            "market",
            &format!("Chợ {commune}-{k}"),
            commune,
            &["--class", "3"],
        );
        office.market_survey(&m, "2025-06-20", &format!("{}", 10 + k), &[]);
    }
    office.sync();
}

fn add(nation: &Hub, province: &Hub) {
    let token = province.ok(&["national", "token"]).trim().to_string();
    assert!(token.starts_with("baobinat1."), "{token}");
    nation.ok(&["province", "add", &token]);
}

fn records(hub: &Hub, province: Option<&str>) -> Vec<Value> {
    let mut args = vec!["records"];
    if let Some(p) = province {
        args.extend_from_slice(&["--province", p]);
    }
    match hub.json(&args) {
        Value::Array(a) => a,
        v => panic!("records --json: {v}"),
    }
}

fn national_indicators(nation: &Hub, code: &str) -> Value {
    nation.json(&["indicators", "--year", "2025", "--province", code])
}

#[test]
fn a_national_hub_pulls_two_provinces_with_their_figures_and_authors_and_refuses_an_altered_entry()
{
    let (mut dt, dt_office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let (nai, nai_office) = province("75", "Đồng Nai", "dong-nai-2022-2030", "26425", "26425");
    let nation = Hub::national();
    add(&nation, &dt);
    add(&nation, &nai);
    // A standby's token is not a national one, and a national token is spent once.
    let sb = dt.ok(&["standby", "token"]).trim().to_string();
    let out = nation.run(&["province", "add", &sb]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let listed = nation.json(&["province", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(2), "{listed}");
    // A national hub is not a standby: it is never named in offices' tokens.
    let token = dt.token("30226");
    assert!(token.starts_with("baobi1."), "{token}");

    // A province's settings (hub meta, not entries) travel with each pull.
    nai.ok(&["settings", "basis", "verified"]);
    nai.ok(&["settings", "i1-rule", "eco-offered"]);
    let out = nation.run(&["pull"]);
    assert!(out.status.success(), "pull: {}", stderr(&out));

    // Each province's figures at the nation are the province's own.
    for (hub, code) in [(&dt, "87"), (&nai, "75")] {
        let own = hub.indicators(2025, None);
        assert!(own["plan"]["id"].is_string(), "{own}");
        assert_eq!(national_indicators(&nation, code), own, "province {code}");
        // Who recorded each value: the records at the nation are the province's, authors included.
        assert_eq!(records(&nation, Some(code)), records(hub, None), "{code}");
    }
    let all = nation.json(&["indicators", "--year", "2025"]);
    let rows = all["table"]["rows"].as_array().expect("table rows");
    let codes: Vec<&str> = rows.iter().filter_map(|r| r["code"].as_str()).collect();
    assert_eq!(codes, ["75", "87"]);
    for p in all["provinces"].as_array().expect("provinces") {
        let code = p["province"]["code"].as_str().unwrap();
        let hub = if code == "87" { &dt } else { &nai };
        assert_eq!(p["report"], hub.indicators(2025, None), "{code}");
        let row = rows.iter().find(|r| r["code"] == code).unwrap();
        for c in row["cells"].as_array().unwrap() {
            let i = p["report"]["indicators"]
                .as_array()
                .unwrap()
                .iter()
                .find(|i| i["id"] == c["id"])
                .unwrap();
            assert_eq!((&c["value"], &c["target"]), (&i["value"], &i["target"]));
        }
        assert_eq!(p["completeness"]["offices"], 1);
        assert_eq!(p["completeness"]["offices_reported"], 1);
    }
    let office = dt_office.author();
    let by_office = records(&nation, Some("87"))
        .iter()
        .filter_map(|r| r["author"].as_str())
        .filter(|a| office.starts_with(a) || a.starts_with(&office[..]))
        .count();
    assert!(
        by_office >= 6,
        "records by the office {office} at the nation: {by_office}"
    );

    // More work in both provinces; at Đồng Tháp's hub the office's last entry is altered.
    let before = records(&nation, Some("87"));
    survey(&dt_office, "30226", 3, 2);
    survey(&nai_office, "26425", 3, 2);
    dt.stop();
    {
        // The office's first block of entries as the province's store keeps it: one clock changed.
        let store = baobi_hub::store::Hub::open(dt.dir.path()).expect("open the province store");
        let author = AuthorId::from_hex(&dt_office.author()).expect("author");
        let t = store.tree();
        let k = baobi_hub::store::keys::block(&author, 0);
        let raw = t.get(&k).expect("read").expect("the office's first block");
        let mut b = baobi_hub::store::blocks::Block::decode(&raw).expect("block");
        let last = b.items.len() - 1;
        b.items[last].hlc = baobi_proto::Hlc(b.items[last].hlc.0 ^ 1);
        t.insert(&k, b.encode()).expect("write");
        store.flush().expect("flush");
    }
    dt.serve();
    let out = nation.run(&["pull"]);
    assert!(!out.status.success(), "an altered entry was pulled");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("87: LỖI / ERROR"), "{text}");
    assert!(text.contains("BadSignature"), "{text}");
    // Nothing of Đồng Tháp's refused batch is stored; Đồng Nai was still pulled.
    assert_eq!(records(&nation, Some("87")), before);
    assert_eq!(records(&nation, Some("75")), records(&nai, None));
    assert_eq!(
        national_indicators(&nation, "75"),
        nai.indicators(2025, None)
    );
    let listed = nation.json(&["province", "list"]);
    let dt_row = listed
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["code"] == "87")
        .unwrap();
    assert!(dt_row["error"].is_string(), "{listed}");
}

#[test]
fn a_province_by_drop_file_gives_the_same_figures_and_a_corrupted_file_or_a_second_import_changes_nothing(
) {
    let (dt, _office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let nation = Hub::national();
    add(&nation, &dt);
    let file = nation.dir.path().join("87.baobinat");
    let out = dt.json(&["national", "export", "--out", file.to_str().unwrap()]);
    assert!(out["entries"].as_u64().unwrap() > 0, "{out}");
    let empty = records(&nation, Some("87"));
    assert!(empty.is_empty(), "{empty:?}");

    // A corrupted or truncated file is refused and changes nothing.
    let bytes = std::fs::read(&file).unwrap();
    for (name, bad) in [
        ("flipped", {
            let mut b = bytes.clone();
            let i = b.len() / 2;
            b[i] ^= 0x20;
            b
        }),
        ("truncated", bytes[..bytes.len() - 10].to_vec()),
    ] {
        let p = nation.dir.path().join(name);
        std::fs::write(&p, bad).unwrap();
        let r = nation.run(&["province", "import", p.to_str().unwrap()]);
        assert_eq!(r.status.code(), Some(2), "{name}: {}", stderr(&r));
        assert!(records(&nation, Some("87")).is_empty(), "{name}");
    }
    // An office's drop file is not a province's.
    let office_drop = nation.dir.path().join("office.drop");
    dt.ok(&[
        "drop",
        "export",
        "--for",
        "office 876",
        "--out",
        office_drop.to_str().unwrap(),
    ]);
    let r = nation.run(&["province", "import", office_drop.to_str().unwrap()]);
    assert_eq!(r.status.code(), Some(2), "{}", stderr(&r));

    let first = nation.json(&["province", "import", file.to_str().unwrap()]);
    assert!(first["new"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(first["new"], first["entries"], "{first}");
    assert_eq!(
        national_indicators(&nation, "87"),
        dt.indicators(2025, None)
    );
    let recs = records(&nation, Some("87"));
    assert_eq!(recs, records(&dt, None));
    // Twice: nothing new, nothing changed.
    let again = nation.json(&["province", "import", file.to_str().unwrap()]);
    assert_eq!(again["new"], 0, "{again}");
    assert_eq!(records(&nation, Some("87")), recs);
    assert_eq!(
        national_indicators(&nation, "87"),
        dt.indicators(2025, None)
    );
}

/// A serving national hub, killed when dropped (also when the test fails).
struct Serving(std::process::Child);

impl Drop for Serving {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `records --province CODE --json` at the nation, none while the store is busy (a pull holds it).
fn try_records(nation: &Hub, code: &str) -> Option<Vec<Value>> {
    // Not too often: each look holds the store a moment, and a pull then waits for its next turn.
    std::thread::sleep(std::time::Duration::from_millis(400));
    let out = nation.run(&["records", "--province", code, "--json"]);
    if !out.status.success() {
        return None;
    }
    serde_json::from_slice(&out.stdout).ok()
}

#[test]
fn a_serving_national_hub_pulls_every_province_on_its_schedule() {
    let (dt, office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let nation = Hub::national();
    add(&nation, &dt);
    let serving = Serving(
        std::process::Command::new(baobi_tests::bin("baobi-hub"))
            .args(["serve", "--pull-secs", "1", "--data"])
            .arg(nation.dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("spawn the national hub"),
    );
    let want = records(&dt, None);
    baobi_tests::wait_for(std::time::Duration::from_secs(90), || {
        try_records(&nation, "87").as_ref() == Some(&want)
    });
    // New records at the province reach the nation with no command.
    survey(&office, "30226", 3, 1);
    let want = records(&dt, None);
    assert!(want.len() > 6);
    baobi_tests::wait_for(std::time::Duration::from_secs(90), || {
        try_records(&nation, "87").as_ref() == Some(&want)
    });
    drop(serving);
    assert_eq!(
        national_indicators(&nation, "87"),
        dt.indicators(2025, None)
    );
}

#[test]
fn the_national_dashboard_shows_the_province_table_after_login() {
    use std::io::BufRead;
    let (dt, _office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let nation = Hub::national();
    add(&nation, &dt);
    nation.ok(&["pull"]);
    let want = nation.json(&["indicators", "--year", "2025"]);
    let mut serving = Serving(
        std::process::Command::new(baobi_tests::bin("baobi-hub"))
            .args([
                "serve",
                "--pull-secs",
                "1",
                "--http",
                "127.0.0.1:0",
                "--data",
            ])
            .arg(nation.dir.path())
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the national hub"),
    );
    let mut lines = std::io::BufReader::new(serving.0.stdout.take().unwrap()).lines();
    let addr = loop {
        let l = lines.next().expect("a dashboard line").expect("stdout");
        if let Some(a) = l.strip_prefix("dashboard on http://") {
            break a.trim_end_matches('/').parse().expect("address");
        }
    };
    // The operator is added while the national hub serves (through its control socket).
    let out = nation.add_operator("lan", "mật-khẩu-dài-123");
    assert!(out.status.success(), "{}", stderr(&out));
    let mut web = baobi_tests::Web::new(addr);
    assert_eq!(web.get("/api/national?year=2025").status, 401);
    assert_eq!(web.login("lan", "mật-khẩu-dài-123").status, 200);
    let got = web.json("/api/national?year=2025");
    assert_eq!(got["table"], want["table"]);
    assert_eq!(got["provinces"][0]["report"], dt.indicators(2025, None));
    let page = web.get("/").text();
    assert!(page.contains("Báo cáo toàn quốc") && page.contains("National report"));
}

/// `baobi-hub serve --pull-secs 1` on the national hub, once it says it is pulling (its stdout
/// lines so far, the dashboard's with `--http`; stderr goes to `serve.log` in its folder).
fn serve_national(nation: &Hub, extra: &[&str]) -> (Serving, Vec<String>) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(baobi_tests::bin("baobi-hub"))
        .args(["serve", "--pull-secs", "1", "--data"])
        .arg(nation.dir.path())
        .args(extra)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(nation.dir.path().join("serve.log")).expect("log file"))
        .spawn()
        .expect("spawn the national hub");
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = vec![];
    // `national hub pulling every N s`, then the dashboard's address with `--http`.
    let want = if extra.contains(&"--http") { 2 } else { 1 };
    while seen.len() < want {
        seen.push(lines.next().expect("a line from serve").expect("stdout"));
    }
    (Serving(child), seen)
}

/// What `province list --json` says apart from the times of the pulls.
fn provinces(nation: &Hub) -> Vec<(String, u64, u64, bool)> {
    let v = nation.json(&["province", "list"]);
    v.as_array()
        .unwrap_or_else(|| panic!("province list: {v}"))
        .iter()
        .map(|r| {
            (
                r["code"].as_str().unwrap().to_string(),
                r["entries"].as_u64().unwrap(),
                r["offices"].as_u64().unwrap(),
                r["error"].is_null(),
            )
        })
        .collect()
}

/// The national `indicators --json` apart from the times of the pulls.
fn national_report(nation: &Hub) -> (Value, Vec<Value>) {
    let v = nation.json(&["indicators", "--year", "2025"]);
    let reports = v["provinces"]
        .as_array()
        .unwrap_or_else(|| panic!("indicators: {v}"))
        .iter()
        .map(|p| p["report"].clone())
        .collect();
    (v["table"].clone(), reports)
}

#[test]
fn while_the_national_hub_serves_its_commands_work_and_a_province_added_meanwhile_is_pulled() {
    let (dt, _dt_office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let (nai, _nai_office) = province("75", "Đồng Nai", "dong-nai-2022-2030", "26425", "26425");
    let nation = Hub::national();
    add(&nation, &dt);
    nation.ok(&["pull"]);
    // The answers with nothing serving.
    let list = provinces(&nation);
    let report = national_report(&nation);
    let dt_records = records(&nation, Some("87"));
    assert_eq!(dt_records, records(&dt, None));

    let (serving, _) = serve_national(&nation, &[]);
    // Pulls every second meanwhile: every command is answered each time, the same answers.
    for round in 0..4 {
        assert_eq!(provinces(&nation), list, "round {round}");
        assert_eq!(national_report(&nation), report, "round {round}");
        assert_eq!(records(&nation, Some("87")), dt_records, "round {round}");
        assert_eq!(
            national_indicators(&nation, "87"),
            dt.indicators(2025, None),
            "round {round}"
        );
        let out = nation.run(&["pull"]);
        assert!(out.status.success(), "pull while serving: {}", stderr(&out));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("87: 0 mục mới"), "{text}");
    }
    // A second province added while serving is pulled by the running serve.
    add(&nation, &nai);
    let want = records(&nai, None);
    baobi_tests::wait_for(std::time::Duration::from_secs(60), || {
        records(&nation, Some("75")) == want
    });
    let pulled = nation.json(&["pull"]);
    let codes: Vec<&str> = pulled
        .as_array()
        .unwrap_or_else(|| panic!("pull --json: {pulled}"))
        .iter()
        .filter(|p| p["error"].is_null())
        .filter_map(|p| p["code"].as_str())
        .collect();
    assert_eq!(codes, ["75", "87"], "{pulled}");
    // A second `serve` is refused while one runs.
    let second = nation.run(&["serve", "--pull-secs", "1"]);
    assert_eq!(second.status.code(), Some(2), "{}", stderr(&second));
    // A drop file is imported through the serving process, and a province removed by it.
    let file = nation.dir.path().join("75.baobinat");
    nai.ok(&["national", "export", "--out", file.to_str().unwrap()]);
    let again = nation.json(&["province", "import", file.to_str().unwrap()]);
    assert_eq!(again["new"], 0, "{again}");
    nation.ok(&["province", "remove", "75"]);
    let left = provinces(&nation);
    assert_eq!(
        left.iter().map(|p| p.0.as_str()).collect::<Vec<_>>(),
        ["87"]
    );
    assert!(!nation.dir.path().join("provinces").join("75").exists());
    nation.ok(&["pull"]);
    add(&nation, &nai);
    baobi_tests::wait_for(std::time::Duration::from_secs(60), || {
        records(&nation, Some("75")) == want
    });
    let serving_list = provinces(&nation);
    drop(serving);
    assert_eq!(provinces(&nation), serving_list);
    assert_eq!(
        national_indicators(&nation, "75"),
        nai.indicators(2025, None)
    );
}

#[test]
fn a_province_by_drop_file_is_computed_with_its_own_settings() {
    let (dt, _office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    dt.ok(&["settings", "basis", "verified"]);
    dt.ok(&["settings", "i1-rule", "eco-offered"]);
    let own = dt.indicators(2025, None);
    assert_eq!(own["basis"], "verified", "{own}");
    let nation = Hub::national();
    add(&nation, &dt);
    let file = nation.dir.path().join("87.baobinat");
    dt.ok(&["national", "export", "--out", file.to_str().unwrap()]);
    let first = nation.json(&["province", "import", file.to_str().unwrap()]);
    assert!(first["new"].as_u64().unwrap() > 0, "{first}");
    assert_eq!(national_indicators(&nation, "87"), own);
    let all = nation.json(&["indicators", "--year", "2025"]);
    assert_eq!(all["provinces"][0]["report"], own);
}

#[test]
fn the_national_dashboard_serves_over_https_with_its_own_certificate() {
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest;
    let (dt, _office) = province("87", "Đồng Tháp", "dong-thap-2021", "876", "30226");
    let nation = Hub::national();
    add(&nation, &dt);
    nation.ok(&["pull"]);
    let want = nation.json(&["indicators", "--year", "2025"]);
    let out = nation.add_operator("lan", "mật-khẩu-dài-123");
    assert!(out.status.success(), "{}", stderr(&out));
    let (serving, lines) = serve_national(&nation, &["--http", "127.0.0.1:0", "--http-tls"]);
    let addr: std::net::SocketAddr = lines
        .iter()
        .find_map(|l| l.strip_prefix("dashboard on https://"))
        .unwrap_or_else(|| panic!("no https dashboard line: {lines:?}"))
        .trim_end_matches('/')
        .parse()
        .expect("address");
    // The self-signed certificate, made at the first `serve --http-tls`, its fingerprint printed.
    let cert = std::fs::read_to_string(
        nation
            .dir
            .path()
            .join("national")
            .join(baobi_hub::http::tls::CERT_FILE),
    )
    .expect("the national dashboard's certificate");
    let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).expect("PEM");
    let fp = sha2::Sha256::digest(&der)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":");
    let mut web = baobi_tests::Web::tls(addr, &cert);
    assert_eq!(web.get("/api/national?year=2025").status, 401);
    let r = web.login("lan", "mật-khẩu-dài-123");
    assert_eq!(r.status, 200, "{}", r.text());
    let set = r.header("set-cookie").expect("cookie").to_string();
    assert!(set.split(';').any(|a| a.trim() == "Secure"), "{set}");
    let got = web.json("/api/national?year=2025");
    assert_eq!(got["table"], want["table"]);
    assert_eq!(got["provinces"][0]["report"], dt.indicators(2025, None));
    // Plain HTTP is not answered on the HTTPS port.
    let plain = baobi_tests::Web::new(addr);
    assert!(plain.try_get("/api/me").map(|r| r.status).unwrap_or(0) != 200);
    let log = std::fs::read_to_string(nation.dir.path().join("serve.log")).unwrap();
    assert!(log.contains(&fp), "fingerprint {fp} not printed: {log}");
    drop(serving);
}
