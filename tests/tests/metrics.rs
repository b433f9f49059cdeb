//! `GET /metrics` through the real `baobi-hub serve --http --http-tls --metrics-token`: closed
//! without a session or the bearer token, and its counters follow what the hub does: a real office's
//! sync (syncs, entries merged, both histograms), a live session (connected offices), and refused
//! hostile peers (refusals by reason, refused syncs).

use std::collections::BTreeMap;
use std::time::Duration;

use baobi_agent::store::Store;
use baobi_proto::wire::RefusalCode;
use baobi_tests::raw::{identity_of, open, open_session, push, refusal, rt, seal};
use baobi_tests::{wait_for, Hub, Web};

const NAME: &str = "chị Lan";
const PASSWORD: &str = "mật khẩu đủ dài";
const TOKEN: &str = "scraper-token-0123456789";

/// The samples of a text exposition: `name{labels}` → value.
fn samples(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (k, v) = l
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("bad line {l:?}"));
            (
                k.to_string(),
                v.parse().unwrap_or_else(|_| panic!("bad value {l:?}")),
            )
        })
        .collect()
}

fn scrape(web: &Web) -> BTreeMap<String, f64> {
    let r = web.get_with("/metrics", "authorization", &format!("Bearer {TOKEN}"));
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    samples(&r.text())
}

fn get(m: &BTreeMap<String, f64>, k: &str) -> f64 {
    *m.get(k)
        .unwrap_or_else(|| panic!("{k} not in metrics: {:?}", m.keys()))
}

#[test]
fn metrics_need_a_session_or_the_token_and_follow_syncs_and_refusals() {
    let mut hub = Hub::init();
    let out = hub.add_operator(NAME, PASSWORD);
    assert!(out.status.success(), "{}", baobi_tests::stderr(&out));
    // Too short a token is a usage error.
    let r = hub.run(&["serve", "--http", "0", "--metrics-token", "short"]);
    assert_eq!(r.status.code(), Some(2), "{}", baobi_tests::stderr(&r));
    hub.serve_https(&["--metrics-token", TOKEN]);
    let mut web = hub.web();

    // Closed without a session or with a wrong token.
    let r = web.get("/metrics");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        web.get_with("/metrics", "authorization", "Bearer wrong-token-0123456789")
            .status,
        401
    );
    assert_eq!(
        web.get_with("/metrics", "authorization", &format!("Basic {TOKEN}"))
            .status,
        401
    );
    // An operator's session opens it.
    assert_eq!(web.login(NAME, PASSWORD).status, 200);
    let r = web.get("/metrics");
    assert_eq!(r.status, 200);
    let m0 = samples(&r.text());
    assert!(get(&m0, "baobi_hub_store_bytes") > 0.0);
    assert_eq!(get(&m0, "baobi_hub_connected_offices"), 0.0);

    // A real office syncs its entries.
    let honest = hub.enroll_agent("30226");
    let other = hub.enroll_agent("30208");
    let own = |a: &baobi_tests::Agent| Store::open(a.dir.path()).unwrap().own_entries().unwrap();
    let at_start = own(&honest).len() + own(&other).len();
    let before = scrape(&web);
    let market = honest.outlet("market", "Chợ Tân Thành", "30226", &[]);
    honest.market_survey(&market, "2025-03-12", "20", &[]);
    honest.sync();
    let made = own(&honest).len() + own(&other).len() - at_start;
    assert!(made > 0);
    // The office has exited once it heard the hub's end; the hub records the sync as it closes.
    let ok = "baobi_hub_syncs_total{outcome=\"ok\"}";
    wait_for(Duration::from_secs(10), || {
        get(&scrape(&web), ok) > get(&before, ok)
    });
    let after = scrape(&web);
    let delta = |k: &str| get(&after, k) - get(&before, k);
    assert_eq!(delta("baobi_hub_syncs_total{outcome=\"ok\"}"), 1.0);
    assert_eq!(delta("baobi_hub_entries_merged_total"), made as f64);
    assert!(delta("baobi_hub_merge_seconds_count") >= 1.0);
    assert_eq!(delta("baobi_hub_sync_seconds_count"), 1.0);
    assert_eq!(
        get(&after, "baobi_hub_sync_seconds_bucket{le=\"+Inf\"}"),
        get(&after, "baobi_hub_sync_seconds_count")
    );
    assert_eq!(
        delta("baobi_hub_refusals_total{reason=\"WrongAuthor\"}"),
        0.0
    );

    // Hostile pushes: another office replaying the honest one's entries, and a stranger.
    let entries = Store::open(honest.dir.path())
        .unwrap()
        .own_entries()
        .unwrap();
    let run = seal(&identity_of(&honest).keypair, &entries);
    let other_id = identity_of(&other);
    let rt = rt();
    assert_eq!(
        refusal(rt.block_on(push(&hub, &other.token, &other_id, vec![run]))),
        RefusalCode::WrongAuthor
    );
    let stranger = baobi_agent::net::Identity::generate().unwrap();
    // The stranger's connection stays open while the metrics are read: a refusal is counted
    // before the peer hears it, not when the peer hangs up.
    let (ep, conn, stream, answer) = rt.block_on(async {
        let (ep, c, mut s) = open(&hub, &honest.token, &stranger).await;
        let answer = open_session(&mut s).await;
        (ep, c, s, answer)
    });
    assert_eq!(refusal(answer), RefusalCode::NotEnrolled);
    let hostile = scrape(&web);
    drop((stream, conn, ep));
    let delta = |k: &str| get(&hostile, k) - get(&after, k);
    assert_eq!(
        delta("baobi_hub_refusals_total{reason=\"WrongAuthor\"}"),
        1.0
    );
    assert_eq!(
        delta("baobi_hub_refusals_total{reason=\"NotEnrolled\"}"),
        1.0
    );
    assert_eq!(delta("baobi_hub_syncs_total{outcome=\"refused\"}"), 2.0);
    assert_eq!(delta("baobi_hub_syncs_total{outcome=\"ok\"}"), 0.0);
    assert_eq!(delta("baobi_hub_entries_merged_total"), 0.0);

    // A live session counts as a connected office until it ends.
    let id = identity_of(&other);
    let (ep, conn, mut s) = rt.block_on(open(&hub, &other.token, &id));
    assert!(rt.block_on(open_session(&mut s)).is_none());
    wait_for(Duration::from_secs(10), || {
        get(&scrape(&web), "baobi_hub_connected_offices") == 1.0
    });
    conn.close(0u32.into(), b"bye");
    drop((s, conn, ep));
    wait_for(Duration::from_secs(10), || {
        get(&scrape(&web), "baobi_hub_connected_offices") == 0.0
    });

    // Logged out, the session no longer opens it; the token still does.
    assert_eq!(web.post("/api/logout", &serde_json::json!({})).status, 200);
    assert_eq!(web.get("/metrics").status, 401);
    web.cookie = None;
    assert_eq!(web.get("/metrics").status, 401);
    scrape(&web);
}
