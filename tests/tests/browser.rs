//! The dashboard as a person uses it: headless Chromium (Debian's `chromium`, driven over WebDriver by
//! Debian's `chromium-driver` through `fantoccini`) logs in, sees the overview with the figures of a
//! known data set, switches to English, opens a record's history and downloads an export. Every page
//! it opens (logged in or not, in both languages) must show no "null", "undefined" or untranslated
//! i18n key (`assert_clean`). Over HTTPS, trusting only the hub's own certificate's key, it logs
//! in too and holds a `Secure` session cookie.
//!
//! The browser and its driver are required: when either is missing the test fails with a message that
//! says how to install them (`.ci/run` does). It is never skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use baobi_tests::chromium::{session, Driver, CHROMIUM};
use baobi_tests::{dashboard_data, Hub};
use fantoccini::{Client, Locator};
use serde_json::json;

const NAME: &str = "lan";
const PASSWORD: &str = "mật khẩu của Lan";
/// Longest wait for anything the page does (a loaded 2-core machine can be slow; this is a limit,
/// not a timing assertion).
const PATIENCE: Duration = Duration::from_secs(60);

async fn browser(driver: &Driver, profile: &Path, downloads: &Path, extra: &[String]) -> Client {
    let mut caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--disable-dev-shm-usage", "--window-size=1280,1400",
                format!("--user-data-dir={}", profile.display()),
            ],
            "prefs": {
                "download.default_directory": downloads.display().to_string(),
                "download.prompt_for_download": false,
                "intl.accept_languages": "en-US"
            }
        }
    });
    if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
        args.extend(extra.iter().map(|a| json!(a)));
    }
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
            let src = c.source().await.unwrap_or_default();
            panic!(
                "{css}: last text {last:?}; page:\n{}",
                &src[..src.len().min(3000)]
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
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

/// The keys of the dashboard's dictionaries: one showing on a page is a string left untranslated.
fn i18n_keys() -> BTreeSet<String> {
    let vi: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../../hub/src/http/assets/vi.json")).expect("vi.json");
    let en: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(include_str!("../../hub/src/http/assets/en.json")).expect("en.json");
    vi.keys().chain(en.keys()).cloned().collect()
}

/// Fails when the page's visible text (`document.body.innerText`) shows "null", "undefined" or
/// "NaN" anywhere, or an i18n key: a whole line or cell that is a key, or a word shaped like one
/// (`snake_case`, as every compound key is), which is what `t(key)` shows for a missing entry.
async fn assert_clean(c: &Client, page: &str) {
    let text = c
        .execute("return document.body.innerText;", vec![])
        .await
        .expect("read the page text");
    let text = text.as_str().expect("innerText is a string");
    let keys = i18n_keys();
    let snake = |w: &str| {
        let mut parts = w.split('_');
        w.contains('_')
            && parts.all(|p| {
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
        // As substrings: a stray null lands glued to its neighbours ("…khiểnnullnullnullEnglish").
        for bad in ["null", "undefined", "NaN"] {
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

fn wait_file(dir: &Path, name: &str) -> PathBuf {
    let p = dir.join(name);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let partial = std::fs::read_dir(dir)
            .map(|d| {
                d.flatten()
                    .any(|e| e.file_name().to_string_lossy().ends_with(".crdownload"))
            })
            .unwrap_or(false);
        if p.exists() && !partial {
            return p;
        }
        assert!(
            Instant::now() < deadline,
            "{name} not downloaded into {}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn operator_logs_in_reads_the_overview_switches_language_opens_a_record_and_downloads() {
    let driver = Driver::start();
    let mut hub = Hub::init();
    let out = hub.add_operator(NAME, PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    hub.serve_http();
    let data = dashboard_data(&hub);
    let base = format!("http://{}", hub.http.expect("dashboard address"));
    let profile = tempfile::tempdir().expect("profile dir");
    let downloads = tempfile::tempdir().expect("download dir");
    let shots = std::env::var_os("BAOBI_SCREENSHOTS").map(PathBuf::from);

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = browser(&driver, profile.path(), downloads.path(), &[]).await;

        // Login page, in Vietnamese by default.
        c.goto(&format!("{base}/?year=2024"))
            .await
            .expect("open dashboard");
        wait_text(&c, "#login-form h1", |t| t == "Đăng nhập bảng điều khiển").await;
        wait_text(&c, "#lang-switch", |t| t == "English").await;
        assert_clean(&c, "login (vi)").await;
        // A wrong password shows the error and stays on the form.
        c.find(Locator::Css("#login-name"))
            .await
            .unwrap()
            .send_keys(NAME)
            .await
            .unwrap();
        c.find(Locator::Css("#login-password"))
            .await
            .unwrap()
            .send_keys("sai mật khẩu")
            .await
            .unwrap();
        click(&c, "#login-submit").await;
        wait_text(&c, "#login-error", |t| t.contains("Sai tên hoặc mật khẩu")).await;
        assert_clean(&c, "login with an error (vi)").await;
        let pw = c.find(Locator::Css("#login-password")).await.unwrap();
        pw.clear().await.unwrap();
        pw.send_keys(PASSWORD).await.unwrap();
        click(&c, "#login-submit").await;

        // The overview with the hand-computed figures (see `dashboard_data`): I1 = 2/4, I1 with
        // convenience stores = 3/5, coverage 3 of 4 supermarkets and trade centres, 2 of 12
        // districts reported, Huyện Lấp Vò among the missing.
        wait_text(&c, "#page-title", |t| t.starts_with("Tổng quan năm 2024")).await;
        wait_text(&c, "#indicators tr[data-id=i1] td.value", |t| t == "50,0 %").await;
        wait_text(&c, "#indicators tr[data-id=i1_cs] td.value", |t| {
            t == "60,0 %"
        })
        .await;
        wait_text(&c, "#indicators tr[data-id=i1] td.coverage", |t| {
            t == "3/4 (75,0 %)"
        })
        .await;
        wait_text(&c, "#reported-count", |t| t == "2/12").await;
        wait_text(&c, "#missing", |t| t.contains("Huyện Lấp Vò")).await;
        wait_text(&c, "#nav-nav_overview", |t| t == "Tổng quan").await;
        let points = c
            .find_all(Locator::Css("#trend circle[data-series=i1]"))
            .await
            .unwrap();
        assert_eq!(points.len(), 1, "one year of I1 in the trend chart");
        assert_clean(&c, "overview (vi)").await;
        if let Some(dir) = &shots {
            let _ = std::fs::write(dir.join("overview-vi.png"), c.screenshot().await.unwrap());
        }

        // English on the switch: a known label and the number format change.
        click(&c, "#lang-switch").await;
        wait_text(&c, "#nav-nav_overview", |t| t == "Overview").await;
        wait_text(&c, "#indicators tr[data-id=i1] td.value", |t| t == "50.0%").await;
        wait_text(&c, "#completeness h2", |t| t == "Reporting completeness").await;
        assert_clean(&c, "overview (en)").await;

        // The records browser (keeping the year: the six surveys of 2024; outlets have no year),
        // then the corrected survey's page with its history.
        click(&c, "#nav-nav_records").await;
        wait_text(&c, "#records-count", |t| t == "6 records").await;
        assert_clean(&c, "records (en)").await;
        c.wait()
            .at_most(PATIENCE)
            .for_element(Locator::LinkText(&data.corrected))
            .await
            .expect("link to the corrected survey")
            .click()
            .await
            .expect("open the record");
        wait_text(&c, "#page-title", |t| {
            t == format!("Record {}", data.corrected)
        })
        .await;
        let rows = c.find_all(Locator::Css("#history tbody tr")).await.unwrap();
        assert_eq!(rows.len(), 2, "created and corrected");
        assert_clean(&c, "record (en)").await;
        assert!(rows[0].text().await.unwrap().contains("Created"));
        let last = rows[1].text().await.unwrap();
        assert!(
            last.contains("Corrected") && last.contains("office 876"),
            "{last}"
        );
        if let Some(dir) = &shots {
            let _ = std::fs::write(dir.join("record-en.png"), c.screenshot().await.unwrap());
        }

        // Download the indicators CSV from the overview's export links.
        c.goto(&format!("{base}/?year=2024")).await.unwrap();
        click(&c, "#export-indicators-csv").await;
        let file = wait_file(downloads.path(), "baobi-indicators-2024.csv");
        let bytes = std::fs::read(&file).expect("read download");
        let mut r = csv::Reader::from_reader(&bytes[3..]);
        assert_eq!(
            &r.headers().unwrap()[0],
            "Unit code",
            "the export follows the language"
        );
        let i1 = r
            .records()
            .map(|x| x.unwrap())
            .find(|x| &x[0] == "87" && &x[3] == "i1")
            .expect("province I1 row");
        assert_eq!(&i1[5], "0.5");

        // Every page, in both languages, shows no "null", "undefined" or untranslated key.
        let record = format!("/records/{}", data.corrected);
        let pages: [(&str, &str, &str); 5] = [
            ("overview", "/?year=2024", "#page-title"),
            ("unit", "/units/876?year=2024", "#page-title"),
            ("records", "/records?year=2024", "#records-count"),
            ("record", &record, "#history"),
            ("annual report", "/report/annual?year=2024", "h1"),
        ];
        for lang in ["vi", "en"] {
            for (name, path, ready) in pages {
                let sep = if path.contains('?') { '&' } else { '?' };
                c.goto(&format!("{base}{path}{sep}lang={lang}"))
                    .await
                    .unwrap();
                wait_text(&c, ready, |t| !t.trim().is_empty() && t != "…").await;
                assert_clean(&c, &format!("{name} ({lang})")).await;
            }
        }

        // Logging out returns to the login form, clean in both languages.
        c.goto(&format!("{base}/?year=2024&lang=en")).await.unwrap();
        click(&c, "#logout").await;
        wait_text(&c, "#login-form h1", |t| t == "Dashboard login").await;
        assert_clean(&c, "login (en)").await;
        c.goto(&format!("{base}/records?lang=vi")).await.unwrap();
        wait_text(&c, "#login-form h1", |t| t == "Đăng nhập bảng điều khiển").await;
        assert_clean(&c, "login from another page (vi)").await;
        c.close().await.expect("close the browser");
    });
}

#[test]
fn operator_logs_in_over_https_trusting_only_the_hubs_certificate() {
    let driver = Driver::start();
    let mut hub = Hub::init();
    let out = hub.add_operator(NAME, PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    hub.serve_https(&[]);
    let base = format!("https://{}", hub.http.expect("dashboard address"));
    let profile = tempfile::tempdir().expect("profile dir");
    let downloads = tempfile::tempdir().expect("download dir");
    // Only the hub's key is accepted despite the self-signed certificate (no blanket
    // --ignore-certificate-errors).
    let pin = format!(
        "--ignore-certificate-errors-spki-list={}",
        hub.dashboard_spki_hash()
    );

    let rt = tokio::runtime::Runtime::new().expect("runtime");
    rt.block_on(async {
        let c = browser(&driver, profile.path(), downloads.path(), &[pin]).await;
        c.goto(&format!("{base}/?year=2024&lang=en"))
            .await
            .expect("open dashboard over HTTPS");
        wait_text(&c, "#login-form h1", |t| t == "Dashboard login").await;
        c.find(Locator::Css("#login-name"))
            .await
            .unwrap()
            .send_keys(NAME)
            .await
            .unwrap();
        c.find(Locator::Css("#login-password"))
            .await
            .unwrap()
            .send_keys(PASSWORD)
            .await
            .unwrap();
        click(&c, "#login-submit").await;
        wait_text(&c, "#page-title", |t| t.starts_with("Overview 2024")).await;
        assert_clean(&c, "overview over HTTPS (en)").await;
        let cookies = c.get_all_cookies().await.expect("cookies");
        let session = cookies
            .iter()
            .find(|k| k.name() == "baobi_session")
            .expect("session cookie");
        assert_eq!(session.secure(), Some(true), "{session:?}");
        assert_eq!(session.http_only(), Some(true), "{session:?}");
        c.close().await.expect("close the browser");
    });
}
