//! The office app as a clerk uses it, in real headless Chromium (Debian's `chromium`, driven over
//! WebDriver by `chromium-driver` through `fantoccini`, as `browser.rs` drives the hub's dashboard)
//! against the real `baobi-agent daemon --http` and a real hub over QUIC on loopback: first run with
//! a token, a market registered, a survey refused at its invalid field with nothing saved, then saved
//! and shown as not yet sent; the hub stops and the app says so; the hub comes back, "sync now", the
//! record is at the hub exactly once; the hub returns it with a reason, Home shows the reason, the
//! clerk corrects it and it is `submitted` again at the hub. A half-filled form survives a reload, and
//! the pages switch to English and back. Every page checked shows no "null", "undefined" or
//! untranslated key (`assert_clean`).
//!
//! The browser and its driver are required, as for `browser.rs`: when either is missing the test
//! fails with a message that says how to install them (`.ci/run` does). It is never skipped.

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use baobi_tests::chromium::{session, Driver, CHROMIUM};
use baobi_tests::{Agent, Hub};
use fantoccini::{Client, Locator};
use serde_json::{json, Value};

/// Longest wait for anything the page does (a loaded 2-core machine can be slow; a limit, not a
/// timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

async fn browser(driver: &Driver, profile: &Path) -> Client {
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1366,768",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": { "intl.accept_languages": "vi-VN" }
        }
    });
    session(driver, caps).await
}

/// Waits until the element at `css` exists and its text satisfies `ok`; returns the text.
async fn wait_text(c: &Client, css: &str, ok: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + PATIENCE;
    let mut last = String::from("<absent>");
    loop {
        if let Ok(e) = c.find(Locator::Css(css)).await {
            if let Ok(t) = e.text().await {
                if ok(&t) {
                    return t;
                }
                last = t;
            }
        }
        if Instant::now() > deadline {
            let text = c
                .execute("return document.body.innerText;", vec![])
                .await
                .unwrap_or_default();
            panic!(
                "{css}: last text {last:?}; page text:\n{}",
                text.as_str().unwrap_or("")
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the page has drawn its route (`body[data-ready]`).
async fn ready(c: &Client) {
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css("body[data-ready]"))
        .await
        .expect("the page drew itself");
}

/// Opens the app at `#route` and waits until it is drawn.
async fn open(c: &Client, base: &str, route: &str) {
    c.goto(&format!("{base}/#{route}"))
        .await
        .expect("open page");
    // A new route in the same page is only a hash change; a reload makes every open a whole new
    // page, so `ready` never sees the page before.
    c.refresh().await.expect("load the page");
    ready(c).await;
}

async fn click(c: &Client, css: &str) {
    c.wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"))
        .click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Types `text` into the (cleared) field at `css`, as a person would.
async fn type_in(c: &Client, css: &str, text: &str) {
    let e = c
        .wait()
        .at_most(PATIENCE)
        .for_element(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    e.send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Sets a date or select field's value (their typing differs by locale) and fires `input` and
/// `change` as the browser does.
async fn set(c: &Client, css: &str, value: &str) {
    let r = c
        .execute(
            "const e = document.querySelector(arguments[0]); if (!e) return false; e.value = arguments[1]; \
             e.dispatchEvent(new Event('input', {bubbles: true})); \
             e.dispatchEvent(new Event('change', {bubbles: true})); return e.value === arguments[1];",
            vec![json!(css), json!(value)],
        )
        .await
        .expect("set a field");
    assert_eq!(r, json!(true), "{css} could not take {value:?}");
}

/// Picks the option of the select at `css` whose text contains `label` (units and outlets are
/// picked by name, never typed as codes); returns its value.
async fn choose(c: &Client, css: &str, label: &str) -> String {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let v = c
            .execute(
                "const s = document.querySelector(arguments[0]); if (!s) return null; \
                 const o = [...s.options].find((o) => o.text.includes(arguments[1])); if (!o) return null; \
                 s.value = o.value; s.dispatchEvent(new Event('input', {bubbles: true})); \
                 s.dispatchEvent(new Event('change', {bubbles: true})); return o.value;",
                vec![json!(css), json!(label)],
            )
            .await
            .expect("choose an option");
        if let Some(v) = v.as_str() {
            return v.to_string();
        }
        if Instant::now() > deadline {
            let opts = c
                .execute(
                    "const s = document.querySelector(arguments[0]); return s ? [...s.options].map((o) => o.text) : null;",
                    vec![json!(css)],
                )
                .await
                .unwrap_or_default();
            panic!("{css}: no option with {label:?} among {opts}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn value_of(c: &Client, css: &str) -> String {
    c.execute(
        "const e = document.querySelector(arguments[0]); return e ? e.value : null;",
        vec![json!(css)],
    )
    .await
    .expect("read a field")
    .as_str()
    .unwrap_or_else(|| panic!("{css} absent"))
    .to_string()
}

fn dict(name: &str) -> serde_json::Map<String, Value> {
    let text = match name {
        "vi" => include_str!("../../agent/src/http/assets/vi.json"),
        _ => include_str!("../../agent/src/http/assets/en.json"),
    };
    serde_json::from_str(text).expect("dictionary")
}

/// Fails when the page's visible text shows "null", "undefined", "NaN" or an i18n key (a whole
/// cell that is a key, or a `snake_case` word, which is what `t(key)` shows for a missing entry).
async fn assert_clean(c: &Client, page: &str) {
    let text = c
        .execute("return document.body.innerText;", vec![])
        .await
        .expect("read the page text");
    let text = text.as_str().expect("innerText is a string");
    let keys: BTreeSet<String> = dict("vi")
        .keys()
        .chain(dict("en").keys())
        .cloned()
        .collect();
    let snake = |w: &str| {
        w.contains('_')
            && w.split('_').all(|p| {
                !p.is_empty()
                    && p.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
            })
            && w.starts_with(|c: char| c.is_ascii_lowercase())
    };
    for cell in text
        .split(['\n', '\t'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
    {
        assert!(
            !keys.contains(cell),
            "{page}: the i18n key {cell:?} shows untranslated:\n{text}"
        );
        for bad in ["null", "undefined", "NaN", "[object"] {
            assert!(
                !cell.contains(bad),
                "{page}: {bad:?} shows in {cell:?}:\n{text}"
            );
        }
        for word in cell.split(|c: char| !(c.is_alphanumeric() || c == '_')) {
            assert!(
                !snake(word),
                "{page}: {word:?} looks like an untranslated i18n key, in {cell:?}:\n{text}"
            );
        }
    }
}

/// Every page of the app, as routes.
const ROUTES: [&str; 12] = [
    "/",
    "/facilities",
    "/new/market",
    "/new/retail",
    "/new/campaign",
    "/records",
    "/import",
    "/sync",
    "/print",
    "/print/form",
    "/print/year",
    "/devices",
];

/// Fails when the page is wider than the window (a horizontal scroll bar on the whole page).
async fn assert_fits(c: &Client, page: &str) {
    let r = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth];",
            vec![],
        )
        .await
        .expect("measure the page");
    let (w, inner) = (r[0].as_u64().unwrap_or(0), r[1].as_u64().unwrap_or(0));
    assert!(
        w <= inner,
        "{page}: the page is {w} px wide in a {inner} px window"
    );
}

/// Days since 1970-01-01 of a calendar date (Howard Hinnant's `days_from_civil`).
fn civil_days(y: u32, m: u32, d: u32) -> i64 {
    let (y, m, d) = (i64::from(y) - i64::from(m <= 2), i64::from(m), i64::from(d));
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The hub's records with this agent-side id (`short_id`).
fn at_hub(hub: &Hub, id: &str) -> Vec<Value> {
    hub.records()
        .into_iter()
        .filter(|r| r["short_id"] == id)
        .collect()
}

#[test]
fn dictionaries_have_the_same_keys_and_nfc_vietnamese() {
    let (vi, en) = (dict("vi"), dict("en"));
    let kv: BTreeSet<_> = vi.keys().collect();
    let ke: BTreeSet<_> = en.keys().collect();
    assert_eq!(
        kv.symmetric_difference(&ke).collect::<Vec<_>>(),
        Vec::<&&String>::new(),
        "vi.json and en.json differ in keys"
    );
    for (k, v) in &vi {
        let s = v.as_str().expect("a string");
        assert!(!s.trim().is_empty(), "vi.json {k} is empty");
        // NFC: no combining marks left over (U+0300–U+036F) where a precomposed letter exists.
        assert!(
            !s.chars().any(|c| ('\u{300}'..='\u{36f}').contains(&c)),
            "vi.json {k} is not NFC: {s:?}"
        );
    }
}

#[test]
fn clerk_enrolls_records_a_survey_offline_syncs_and_corrects_what_the_hub_returned() {
    let driver = Driver::start();
    // Đồng Tháp's 2021 plan: reports due on 10 December each year.
    let mut hub = Hub::init_with(&["--plan", "dong-thap-2021"]);
    hub.serve();
    let hub_addr = hub.addr.expect("hub address").to_string();
    // A commune office after the 2025 reform: Xã Lai Vung (30226), in force today.
    let token = hub.token("30226");
    let mut agent = Agent::new();
    let app = agent.start_app(true, &[]);
    let base = format!("http://{}", app.loopback);
    let lan_base = format!("http://{}", app.lan.expect("the LAN listener"));
    let profile = tempfile::tempdir().expect("profile dir");
    let shots = std::env::var_os("BAOBI_SCREENSHOTS").map(std::path::PathBuf::from);
    let shot = |c: &Client, name: String| {
        let dir = shots.clone();
        let c = c.clone();
        async move {
            if let Some(dir) = dir {
                let _ = std::fs::write(dir.join(name), c.screenshot().await.unwrap());
            }
        }
    };

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let mut c = browser(&driver, profile.path()).await;

        // First run: not enrolled, the app asks for the token (in Vietnamese by default).
        open(&c, &base, "/").await;
        wait_text(&c, "#page-title", |t| {
            t == "Đăng ký văn phòng với máy chủ tỉnh"
        })
        .await;
        wait_text(&c, "#lang-switch", |t| t == "English").await;
        assert_clean(&c, "first run (vi)").await;
        // A bad token is refused plainly and the form stays.
        type_in(&c, "#enroll-token", "baobi1.không-phải-mã").await;
        click(&c, "#enroll-submit").await;
        wait_text(&c, "#enroll-error", |t| !t.is_empty()).await;
        open(&c, &base, "/").await;
        wait_text(&c, "#page-title", |t| {
            t == "Đăng ký văn phòng với máy chủ tỉnh"
        })
        .await;
        type_in(&c, "#enroll-token", &token).await;
        type_in(&c, "#enroll-label", "UBND xã Lai Vung").await;
        click(&c, "#enroll-submit").await;
        wait_text(&c, "#enrolled-unit", |t| t.contains("Lai Vung (30226)")).await;
        wait_text(&c, "#enrolled-hub", |t| t.contains(&hub_addr)).await;
        assert_clean(&c, "enrolled (vi)").await;

        // Home: the plan's deadline this year and the days left (Vietnam's date, as the office's).
        let baobi_proto::wire::Date(d) = baobi_agent::ops::today();
        let (y, m, dd) = (d / 10000, d / 100 % 100, d % 100);
        let left = civil_days(y, 12, 10) - civil_days(y, m, dd);
        open(&c, &base, "/").await;
        wait_text(&c, "#deadline", |t| t == format!("10/12/{y}")).await;
        let want = if left >= 0 {
            format!("còn {left} ngày")
        } else {
            format!("đã quá hạn {} ngày", -left)
        };
        wait_text(&c, "#days-left", |t| t == want).await;
        assert_clean(&c, "home (vi)").await;
        shot(&c, "office-enrolled.png".to_string()).await;

        // Register a market, its commune picked by name.
        open(&c, &base, "/facilities").await;
        type_in(&c, "#facility-name", "Chợ Tân Thành").await;
        set(&c, "#facility-kind", "market").await;
        choose(&c, "#facility-commune", "Lai Vung").await;
        set(&c, "#facility-class", "3").await;
        click(&c, "#facility-save").await;
        wait_text(&c, "#facilities", |t| t.contains("Chợ Tân Thành")).await;
        // Search ignores diacritics (server side).
        type_in(&c, "#f-q", "cho tan thanh").await;
        click(&c, "#f-submit").await;
        wait_text(&c, "#facilities-count", |t| t == "1 cơ sở").await;
        assert_clean(&c, "facilities (vi)").await;

        // The hub stops (the office is offline from here until it comes back): the daemon's sync
        // after each save can no longer reach it, so what is saved next stays "not yet sent".
        hub.stop();

        // A market survey with a negative vendor count: refused at that field, nothing saved.
        open(&c, &base, "/new/market").await;
        choose(&c, "#in-outlet", "Chợ Tân Thành").await;
        type_in(&c, "#in-vendors_total", "-5").await;
        type_in(&c, "#in-vendors_surveyed", "60").await;
        type_in(&c, "#in-nonbio_kg", "21,5").await;
        type_in(&c, "#in-vendors_nonbio", "45").await;
        click(&c, "#form-save").await;
        wait_text(&c, "#in-vendors_total-error", |t| !t.is_empty()).await;
        wait_text(&c, "#form-msg", |t| t.contains("Chưa có gì được lưu")).await;
        let marked = c
            .find_all(Locator::Css(".field.has-error"))
            .await
            .expect("marked fields");
        assert_eq!(marked.len(), 1, "exactly the bad field is marked");
        assert_eq!(
            marked[0].attr("data-field").await.unwrap().as_deref(),
            Some("vendors_total")
        );
        let none = agent.json(&["survey", "list"]);
        assert_eq!(
            none.as_array().map(Vec::len),
            Some(0),
            "nothing saved: {none}"
        );
        shot(&c, "office-field-error.png".to_string()).await;

        // Fixed and saved: "Đã lưu" once durable, not yet sent.
        type_in(&c, "#in-vendors_total", "180").await;
        click(&c, "#form-save").await;
        let id = wait_text(&c, "#saved-link", |t| !t.is_empty()).await;
        wait_text(&c, "#form-msg", |t| t.contains("Đã lưu")).await;
        let listed = agent.json(&["survey", "list"]);
        let rows = listed.as_array().expect("survey list");
        assert_eq!(rows.len(), 1, "{listed}");
        assert_eq!(rows[0]["id"], id.as_str());
        assert_eq!(rows[0]["value"]["nonbio_g_per_day"], 21500, "21,5 kg");
        let date = rows[0]["date"].as_str().expect("survey date").to_string();
        open(&c, &base, "/records").await;
        wait_text(&c, &format!("#records tr[data-id='{id}'] td.sent"), |t| {
            t == "Chưa gửi"
        })
        .await;
        assert_clean(&c, "records (vi)").await;

        // A half-filled form survives a reload.
        open(&c, &base, "/new/retail").await;
        type_in(&c, "#in-bag_types", "túi giấy, túi vải").await;
        type_in(&c, "#in-nonbio_bags", "12").await;
        c.refresh().await.expect("reload");
        ready(&c).await;
        click(&c, "#draft-restore").await;
        assert_eq!(value_of(&c, "#in-bag_types").await, "túi giấy, túi vải");
        assert_eq!(value_of(&c, "#in-nonbio_bags").await, "12");
        assert_clean(&c, "retail form with a draft (vi)").await;
        // ... and a closed browser: the same profile opened again offers it back.
        type_in(&c, "#in-eco_bags", "30").await;
        c.close().await.expect("close the browser");
        c = browser(&driver, profile.path()).await;
        open(&c, &base, "/new/retail").await;
        click(&c, "#draft-restore").await;
        assert_eq!(value_of(&c, "#in-bag_types").await, "túi giấy, túi vải");
        assert_eq!(value_of(&c, "#in-eco_bags").await, "30");

        // The app says plainly that the hub does not answer, and what waits to be sent.
        open(&c, &base, "/").await;
        wait_text(&c, "#hubline", |t| t.contains("không trả lời")).await;
        wait_text(&c, "#pending", |t| t != "0").await;
        assert_clean(&c, "home, hub down (vi)").await;
        shot(&c, "office-hub-down.png".to_string()).await;

        // The hub is back: sync now, the record is at the hub exactly once.
        hub.serve();
        open(&c, &base, "/sync").await;
        click(&c, "#sync-now").await;
        wait_text(&c, "#sync-result.ok", |t| !t.is_empty()).await;
        wait_text(&c, "#hubline", |t| t.contains("đang trả lời")).await;
        let there = at_hub(&hub, &id);
        assert_eq!(there.len(), 1, "exactly once at the hub");
        assert_eq!(there[0]["review"]["state"], "submitted");
        assert_clean(&c, "sync (vi)").await;
        open(&c, &base, "/records").await;
        wait_text(&c, &format!("#records tr[data-id='{id}'] td.sent"), |t| {
            t == "Đã gửi"
        })
        .await;

        // The hub returns it with a reason; after a sync Home lists it with the reason.
        let reason = "Số tiểu thương dùng túi khó phân hủy không khớp phiếu";
        let returned = hub.json(&["review", "return", &id, "--reason", reason]);
        assert_eq!(returned["review"]["state"], "returned", "{returned}");
        open(&c, &base, "/sync").await;
        click(&c, "#sync-now").await;
        wait_text(&c, "#sync-result.ok", |t| !t.is_empty()).await;
        open(&c, &base, "/").await;
        let item = format!("#returned-list li[data-id='{id}']");
        wait_text(&c, &item, |t| t.contains(reason)).await;
        assert_clean(&c, "home with a returned record (vi)").await;
        shot(&c, "office-home-returned.png".to_string()).await;

        // The clerk corrects it from the to-do list; it is submitted again at the hub.
        click(&c, &format!("{item} a.fix")).await;
        ready(&c).await;
        wait_text(&c, "#correct-reason", |t| t.contains(reason)).await;
        type_in(&c, "#in-vendors_nonbio", "40").await;
        click(&c, "#form-save").await;
        wait_text(&c, "#form-msg", |t| t.contains("Đã lưu")).await;
        open(&c, &base, "/sync").await;
        click(&c, "#sync-now").await;
        wait_text(&c, "#sync-result.ok", |t| !t.is_empty()).await;
        let there = at_hub(&hub, &id);
        assert_eq!(there.len(), 1, "still one record at the hub");
        assert_eq!(there[0]["review"]["state"], "submitted", "{}", there[0]);
        assert_eq!(there[0]["heads"][0]["value"]["vendors_nonbio"], 40);
        open(&c, &base, "/").await;
        wait_text(&c, "#returned-none", |t| !t.is_empty()).await;
        open(&c, &base, &format!("/records/{id}")).await;
        let rows = c.find_all(Locator::Css("#history tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 2, "created and corrected");

        // Import: a file with a bad row shows that row's line and field and saves nothing; the
        // fixed file is checked, then saved whole.
        let outlets = agent.json(&["outlet", "list"]);
        let market = outlets[0]["id"]
            .as_str()
            .expect("the market's id")
            .to_string();
        let csv = |second: &str| {
            format!(
                "type,outlet,date,vendors_total,vendors_surveyed,nonbio_kg,vendors_nonbio\n\
                 market,{market},{date},150,50,12.5,30\n\
                 market,{market},{date},{second},50,8,20\n"
            )
        };
        let files = tempfile::tempdir().expect("import dir");
        let bad = files.path().join("khao-sat-loi.csv");
        std::fs::write(&bad, csv("-3")).expect("write the bad file");
        open(&c, &base, "/import").await;
        c.find(Locator::Css("#import-file"))
            .await
            .expect("file input")
            .send_keys(&bad.display().to_string())
            .await
            .expect("choose the file");
        wait_text(&c, "#import-errors tr[data-line='3'] td.field", |t| {
            t == "Tổng số tiểu thương"
        })
        .await;
        let rows = c
            .find_all(Locator::Css("#import-errors tbody tr"))
            .await
            .unwrap();
        assert_eq!(rows.len(), 1, "only line 3 is bad");
        assert_eq!(
            agent.json(&["survey", "list"]).as_array().map(Vec::len),
            Some(1),
            "nothing imported"
        );
        let good = files.path().join("khao-sat.csv");
        std::fs::write(&good, csv("90")).expect("write the fixed file");
        c.find(Locator::Css("#import-file"))
            .await
            .expect("file input")
            .send_keys(&good.display().to_string())
            .await
            .expect("choose the file");
        click(&c, "#import-commit").await;
        wait_text(&c, "#import-saved", |t| t.contains('2')).await;
        assert_eq!(
            agent.json(&["survey", "list"]).as_array().map(Vec::len),
            Some(3),
            "both rows saved"
        );

        // A warning (above 0.5 kg per vendor per day) is shown and saved only once confirmed.
        open(&c, &base, "/new/market").await;
        choose(&c, "#in-outlet", "Chợ Tân Thành").await;
        type_in(&c, "#in-vendors_total", "20").await;
        type_in(&c, "#in-vendors_surveyed", "10").await;
        type_in(&c, "#in-nonbio_kg", "500").await;
        type_in(&c, "#in-vendors_nonbio", "10").await;
        click(&c, "#form-save").await;
        wait_text(&c, "#warnings", |t| !t.is_empty()).await;
        assert_eq!(
            agent.json(&["survey", "list"]).as_array().map(Vec::len),
            Some(3),
            "not saved before the warning is confirmed"
        );
        click(&c, "#confirm-save").await;
        wait_text(&c, "#form-msg", |t| t.contains("Đã lưu")).await;
        assert_eq!(
            agent.json(&["survey", "list"]).as_array().map(Vec::len),
            Some(4),
            "saved once confirmed"
        );

        // A campaign, its unit picked by name (the office's own by default).
        open(&c, &base, "/new/campaign").await;
        choose(&c, "#in-unit", "Lai Vung").await;
        set(&c, "#in-kind", "training").await;
        type_in(&c, "#in-participants", "35").await;
        type_in(&c, "#in-topic", "Tập huấn giảm túi ni lông tại chợ").await;
        click(&c, "#form-save").await;
        wait_text(&c, "#form-msg", |t| t.contains("Đã lưu")).await;

        // The market gets a certification with its date, closes and reopens.
        let row = format!("#facilities tr[data-id='{market}']");
        open(&c, &base, "/facilities").await;
        click(&c, &format!("{row} button.edit")).await;
        set(&c, "#facility-civilized_since", "2025-09-01").await;
        click(&c, "#facility-correct-save").await;
        wait_text(&c, &row, |t| {
            t.contains("Chợ đạt chuẩn văn minh từ 2025-09-01")
        })
        .await;
        click(&c, &format!("{row} button.edit")).await;
        click(&c, "#facility-close").await;
        click(&c, "#facility-correct-save").await;
        wait_text(&c, &row, |t| t.contains("Đóng cửa từ")).await;
        click(&c, &format!("{row} button.edit")).await;
        click(&c, "#facility-reopen").await;
        wait_text(&c, &row, |t| t.contains("Đang hoạt động")).await;
        assert_clean(&c, "facilities after corrections (vi)").await;

        // Pairing a phone on the office LAN: it sees only the pairing page until it enters the
        // code the PC shows; the PC lists it and removing it sends it back to the pairing page.
        open(&c, &base, "/devices").await;
        click(&c, "#pair-new").await;
        let code = wait_text(&c, "#pair-code", |t| {
            t.len() == 6 && t.chars().all(|c| c.is_ascii_digit())
        })
        .await;
        let phone_profile = tempfile::tempdir().expect("phone profile");
        let phone = browser(&driver, phone_profile.path()).await;
        phone.set_window_size(390, 844).await.expect("phone width");
        open(&phone, &lan_base, "/records").await;
        wait_text(&phone, "#page-title", |t| t == "Ghép nối thiết bị này").await;
        assert_clean(&phone, "pairing page (vi)").await;
        type_in(&phone, "#pair-input", &code).await;
        click(&phone, "#pair-submit").await;
        wait_text(&phone, "#page-title", |t| t.starts_with("Trang chính")).await;
        open(&phone, &lan_base, "/records").await;
        wait_text(&phone, "#records-count", |t| t.starts_with('4')).await;
        open(&c, &base, "/devices").await;
        let devices = "#devices tbody tr";
        wait_text(&c, devices, |t| !t.is_empty()).await;
        assert_eq!(c.find_all(Locator::Css(devices)).await.unwrap().len(), 1);
        click(&c, "#devices tbody tr button.danger").await;
        wait_text(&c, "#devices-list", |t| t.contains("Chưa có thiết bị nào")).await;
        open(&phone, &lan_base, "/").await;
        wait_text(&phone, "#page-title", |t| t == "Ghép nối thiết bị này").await;
        phone.close().await.expect("close the phone's browser");

        // English on the switch, remembered across pages, and back.
        open(&c, &base, &format!("/records/{id}")).await;
        click(&c, "#lang-switch").await;
        wait_text(&c, "#nav-home", |t| t == "Home").await;
        wait_text(&c, "#page-title", |t| t.starts_with("Record")).await;
        assert_clean(&c, "record (en)").await;
        for route in ROUTES {
            open(&c, &base, route).await;
            wait_text(&c, "#nav-home", |t| t == "Home").await;
            assert_clean(&c, &format!("{route} (en)")).await;
            assert_fits(&c, &format!("{route} (en) at 1366×768")).await;
            shot(
                &c,
                format!("office{}-en.png", route.replace(['/', '?', '='], "_")),
            )
            .await;
        }
        click(&c, "#lang-switch").await;
        wait_text(&c, "#nav-home", |t| t == "Trang chính").await;
        for route in ROUTES {
            open(&c, &base, route).await;
            wait_text(&c, "#nav-home", |t| t == "Trang chính").await;
            assert_clean(&c, &format!("{route} (vi)")).await;
            assert_fits(&c, &format!("{route} (vi) at 1366×768")).await;
            shot(
                &c,
                format!("office{}-vi.png", route.replace(['/', '?', '='], "_")),
            )
            .await;
        }
        // A phone's width: every page still fits (wide tables scroll inside their box).
        c.set_window_size(390, 844).await.expect("phone width");
        for route in ROUTES {
            open(&c, &base, route).await;
            assert_fits(&c, &format!("{route} (vi) at 390 px")).await;
            shot(
                &c,
                format!("phone{}-vi.png", route.replace(['/', '?', '='], "_")),
            )
            .await;
        }
        c.close().await.expect("close the browser");
    });
}

#[test]
fn a_conflict_is_shown_side_by_side_and_resolved_by_keeping_one_version() {
    let driver = Driver::start();
    let hub = Hub::start();
    // Two PCs of the same commune office correct the same survey without seeing each other's
    // correction: the app's office then holds two heads.
    let mut agent = hub.enroll_agent("30226");
    let other = hub.enroll_agent("30226");
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let id = agent.market_survey(&market, "2025-08-01", "20", &[]);
    agent.sync();
    other.sync();
    other.ok(&["survey", "correct", &id, "--nonbio-kg", "18"]);
    agent.ok(&["survey", "correct", &id, "--nonbio-kg", "19"]);
    other.sync();
    agent.sync();
    assert_eq!(
        agent.json(&["survey", "show", &id])["survey"]["conflict"],
        true
    );
    let app = agent.start_app(false, &[]);
    let base = format!("http://{}", app.loopback);
    let profile = tempfile::tempdir().expect("profile dir");

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = browser(&driver, profile.path()).await;
        open(&c, &base, "/records?conflict=true").await;
        wait_text(&c, &format!("#records tr[data-id='{id}']"), |t| {
            t.contains("xung đột")
        })
        .await;
        open(&c, &base, &format!("/records/{id}")).await;
        let cards = "#conflict .card";
        wait_text(&c, "#conflict", |t| t.contains("18 kg") && t.contains("19 kg")).await;
        assert_eq!(c.find_all(Locator::Css(cards)).await.unwrap().len(), 2);
        assert_clean(&c, "conflict (vi)").await;
        let clicked = c
            .execute(
                "const k = [...document.querySelectorAll(arguments[0])].find((c) => c.innerText.includes(arguments[1])); \
                 if (!k) return false; k.querySelector('button.keep').click(); return true;",
                vec![json!(cards), json!("18 kg")],
            )
            .await
            .expect("keep a version");
        assert_eq!(clicked, json!(true));
        wait_text(&c, "#record-msg", |t| t == "Đã chọn phiên bản cần giữ").await;
        assert!(c.find(Locator::Css("#conflict")).await.is_err(), "no conflict left");
        assert_clean(&c, "conflict resolved (vi)").await;
        c.close().await.expect("close the browser");
    });
    let shown = agent.json(&["survey", "show", &id]);
    assert_eq!(shown["survey"]["conflict"], false, "{shown}");
    assert_eq!(shown["survey"]["value"]["nonbio_g_per_day"], 18_000);
    agent.sync();
    let rec = at_hub(&hub, &id);
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["conflict"], false, "{}", rec[0]);
    assert_eq!(rec[0]["heads"][0]["value"]["nonbio_g_per_day"], 18_000);

    // Withdrawn from its page, with a reason; the history says so and the hub has it retracted.
    let reason = "nhập nhầm chợ";
    rt.block_on(async {
        let c = browser(&driver, profile.path()).await;
        open(&c, &base, &format!("/records/{id}")).await;
        type_in(&c, "#retract-reason", reason).await;
        click(&c, "#record-retract").await;
        wait_text(&c, "#history tbody tr:last-child", |t| {
            t.contains("Rút") && t.contains(reason)
        })
        .await;
        assert!(
            c.find(Locator::Css("#record-actions")).await.is_err(),
            "nothing left to correct or withdraw"
        );
        c.close().await.expect("close the browser");
    });
    agent.sync();
    assert_eq!(at_hub(&hub, &id)[0]["retracted"], true);
}

#[test]
fn home_shows_what_is_at_the_relay_beside_what_is_at_the_hub_and_each_record_says_which() {
    let driver = Driver::start();
    let mut hub = Hub::start();
    let mut commune = hub.enroll_agent("30226");
    let mut district = hub.enroll_agent("876");
    district.start_daemon_with(3600, &["--relay", "127.0.0.1:0"]);
    let mut info = Value::Null;
    baobi_tests::wait_for(PATIENCE, || {
        info = district.json(&["relay", "info"]);
        info["addr"].is_string() && info["allowed_at"].is_string()
    });
    let (addr, fp) = (
        info["addr"].as_str().unwrap().to_string(),
        info["fingerprint"].as_str().unwrap().to_string(),
    );
    commune.ok(&["relay", "add", &addr, "--fingerprint", &fp]);
    let market = commune.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    let id = commune.market_survey(&market, "2025-08-01", "20", &[]);
    let n = commune.json(&["status"])["pending"].as_u64().unwrap();
    hub.stop();
    let app = commune.start_app(false, &[]);
    let base = format!("http://{}", app.loopback);
    let r = commune.sync();
    assert_eq!(r["via_relay"], true, "{r}");
    let profile = tempfile::tempdir().expect("profile dir");
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = browser(&driver, profile.path()).await;
        open(&c, &base, "/").await;
        wait_text(&c, "#at-relay", |t| t == n.to_string()).await;
        assert_eq!(wait_text(&c, "#at-hub", |_| true).await, "0");
        let line = wait_text(&c, "#where-held", |_| true).await;
        assert!(
            line.contains("Tại trạm chuyển tiếp") && line.contains("Tại máy chủ tỉnh"),
            "{line}"
        );
        assert_clean(&c, "home at the relay (vi)").await;
        open(&c, &base, "/records").await;
        wait_text(&c, &format!("#records tr[data-id='{id}'] td.sent"), |t| {
            t.contains("Tại trạm chuyển tiếp")
        })
        .await;
        open(&c, &base, &format!("/records/{id}")).await;
        wait_text(&c, "#record-sent", |t| t.contains("Tại trạm chuyển tiếp")).await;
        c.close().await.expect("close the browser");
    });

    // The district carries it to the hub; the receipt reaches the commune through the relay.
    hub.serve();
    district.sync();
    hub.stop();
    assert_eq!(commune.sync()["via_relay"], true);
    rt.block_on(async {
        let c = browser(&driver, profile.path()).await;
        open(&c, &base, "/").await;
        wait_text(&c, "#at-hub", |t| t == n.to_string()).await;
        assert_eq!(wait_text(&c, "#at-relay", |_| true).await, "0");
        open(&c, &base, "/records").await;
        wait_text(&c, &format!("#records tr[data-id='{id}'] td.sent"), |t| {
            t.contains("Đã gửi")
        })
        .await;
        c.close().await.expect("close the browser");
    });
}
