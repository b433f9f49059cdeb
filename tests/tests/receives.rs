//! What an office receives (issue 11, item 3.7), through the real binaries: of the hub's own log,
//! the units, the plan, the review decisions of its own records and its own jurisdiction entry;
//! other entries of the hub's log come as placeholders that carry nothing (and are not counted as
//! received). Offices' records come from the offices whose units are related to its own, and only those
//! about units inside the receiving office's jurisdiction.

use baobi_tests::Hub;

#[test]
fn an_office_receives_the_reviews_of_its_own_records_and_not_the_provinces() {
    let hub = Hub::start();
    let tan_thanh = hub.enroll_agent("30226");
    let hoa_long = hub.enroll_agent("30208");
    let district = hub.enroll_agent("876");

    let a_market = tan_thanh.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let a_survey = tan_thanh.market_survey(&a_market, "2025-03-12", "20", &[]);
    let b_market = hoa_long.outlet("market", "Chợ Lai Vung", "30208", &[]);
    let b_survey = hoa_long.market_survey(&b_market, "2025-03-13", "30", &[]);
    for office in [&tan_thanh, &hoa_long, &district] {
        office.sync();
    }
    // A third office enrolls: its jurisdiction entry is its own business.
    let _late = hub.enroll_agent("29869");
    assert_eq!(tan_thanh.sync()["received"], 0, "another office's units");

    hub.ok(&["review", "verify", &a_survey]);
    hub.ok(&["review", "return", &b_survey, "--reason", "Thiếu phiếu"]);

    // Each commune office receives the decision on its own survey, and only that one.
    assert_eq!(tan_thanh.sync()["received"], 1);
    assert_eq!(hoa_long.sync()["received"], 1);
    let shown = tan_thanh.json(&["survey", "show", &a_survey]);
    assert_eq!(shown["survey"]["review"], "verified", "{shown}");
    let shown = hoa_long.json(&["survey", "show", &b_survey]);
    assert_eq!(shown["survey"]["review"], "returned", "{shown}");
    assert_eq!(shown["survey"]["review_reason"], "Thiếu phiếu", "{shown}");
    // The district recorded neither survey: no decision reaches it.
    assert_eq!(district.sync()["received"], 0);
    // And nothing more is pending anywhere: a further sync is up to date.
    for office in [&tan_thanh, &hoa_long, &district] {
        assert_eq!(office.sync()["up_to_date"], true);
    }

    // Neighbours' outlets are outside a commune's jurisdiction and not received.
    let outlets = tan_thanh.json(&["outlet", "list"]);
    let names: Vec<&str> = outlets
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Chợ Tân Thành"]);
}

/// The district office's records reach a commune office only where they are about that commune: a
/// shop the district registered in another commune, and its survey, travel as placeholders (the
/// district's seal still verifies everything the commune is sent), while the district's market in
/// the commune, its survey, correction and retraction arrive.
#[test]
fn a_commune_receives_of_its_districts_records_only_those_in_the_commune() {
    let hub = Hub::start();
    let tan_thanh = hub.enroll_agent("30226");
    let district = hub.enroll_agent("876");
    tan_thanh.sync();

    let shop = district.outlet("supermarket", "Siêu thị Co.opmart Lai Vung", "30208", &[]);
    let shop_survey = district.retail_survey(&shop, "2025-04-02", true, "120");
    let market = district.outlet("market", "Chợ Tân Thành", "30226", &[]);
    let survey = district.market_survey(&market, "2025-03-12", "20", &[]);
    district.ok(&["survey", "correct", &survey, "--nonbio-kg", "18"]);
    let withdrawn = district.market_survey(&market, "2025-05-12", "25", &[]);
    district.ok(&["survey", "retract", &withdrawn, "--reason", "Nhập trùng"]);
    district.sync();

    let got = tan_thanh.sync();
    // market, survey, its correction, a second survey and its retraction; not the shop nor its survey.
    assert_eq!(got["received"], 5, "{got}");
    let outlets = tan_thanh.json(&["outlet", "list"]);
    let names: Vec<&str> = outlets
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Chợ Tân Thành"], "{outlets}");
    let surveys = tan_thanh.json(&["survey", "list"]);
    let ids: Vec<&str> = surveys
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&survey.as_str()), "{surveys}");
    assert!(!ids.contains(&shop_survey.as_str()), "{surveys}");
    let shown = tan_thanh.json(&["survey", "show", &survey]);
    assert_eq!(
        shown["survey"]["value"]["nonbio_g_per_day"], 18000,
        "the correction arrived: {shown}"
    );
    // Nothing else is pending: the placeholders count in the office's summary.
    assert_eq!(tan_thanh.sync()["up_to_date"], true);
    // The district itself still receives the commune's records whole.
    let own = tan_thanh.market_survey(&market, "2025-06-01", "15", &[]);
    tan_thanh.sync();
    district.sync();
    let d = district.json(&["survey", "list"]);
    assert!(
        d.as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == own.as_str()),
        "{d}"
    );
}
