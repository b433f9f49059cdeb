//! Timeliness across clocks (issue 11, item 3.6), through the real binaries: an office whose clock is
//! right syncs with a hub whose clock is ahead (its hybrid clock follows the hub's entries, up to a
//! day), records on the deadline day, and counts as on time: timeliness is judged on the device's
//! wall clock at creation, which the record's creating entry keeps.

use std::time::{SystemTime, UNIX_EPOCH};

use baobi_tests::Hub;

/// Seconds until the next midnight in Vietnam (UTC+7), in 1..=86400.
fn secs_to_vn_midnight() -> u64 {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    86_400 - (now + 7 * 3600) % 86_400
}

#[test]
fn a_record_made_on_the_deadline_day_is_on_time_whatever_the_hubs_clock() {
    // The hub's clock is past the next midnight (Vietnam time), less than a day ahead.
    if secs_to_vn_midnight() < 120 {
        std::thread::sleep(std::time::Duration::from_secs(secs_to_vn_midnight() + 1));
    }
    let ahead = (secs_to_vn_midnight() + 60).min(86_400);
    let hub = Hub::start_with_env(&[("BAOBI_HUB_CLOCK_OFFSET_SECS", &ahead.to_string())]);
    let today = baobi_hub::indicators::today();
    let (year, month, day) = (today.0 / 10_000, today.0 / 100 % 100, today.0 % 100);

    // The plan's deadline is today; the hub signs the plan with its clock ahead.
    let text = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../hub/plans/dong-thap-2021.toml"),
    )
    .unwrap()
    .replace(
        "deadline = \"12-10\"",
        &format!("deadline = \"{month:02}-{day:02}\""),
    );
    let file = hub.dir.path().join("plan.toml");
    std::fs::write(&file, text).unwrap();
    hub.ok(&["plan", "set", file.to_str().unwrap()]);

    let office = hub.enroll_agent("30226");
    office.sync();
    let market = office.outlet("market", "Chợ Lai Vung", "30226", &[]);
    let date = format!("{year}-{month:02}-{day:02}");
    let survey = office.market_survey(&market, &date, "20", &[]);
    office.sync();

    // The entry's hybrid clock followed the hub's into tomorrow...
    let rec = hub
        .records()
        .into_iter()
        .find(|r| r["short_id"] == survey)
        .unwrap();
    let hlc = rec["heads"][0]["hlc"].as_u64().unwrap();
    assert!(
        baobi_proto::indicators::hlc_date(baobi_proto::Hlc(hlc)) > today,
        "the hub's clock did not push the office's hybrid clock past today: {rec}"
    );
    // ...and the record still counts as made today, on time.
    let r = hub.indicators(year as u16, None);
    let row = r["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == "30226")
        .unwrap_or_else(|| panic!("no row for 30226: {r}"));
    assert_eq!(row["first_report"], date, "{row}");
    assert_eq!(row["on_time"], true, "{row}");
    assert_eq!(r["completeness"]["on_time"], 1, "{r}");
    // The office's clock was right: nothing to flag.
    let agents = hub.json(&["agents"]);
    assert!(agents[0]["clock_ahead_secs"].is_null(), "{agents}");
}
