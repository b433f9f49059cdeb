//! Field rules of surveys at entry and correction, through the real binaries: what an office may
//! record and correct, and what the hub then shows.

use baobi_tests::{stderr, Hub};
use serde_json::Value;

fn record<'a>(records: &'a [Value], id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["short_id"] == id)
        .unwrap_or_else(|| panic!("record {id} not at the hub"))
}

#[test]
fn correcting_to_gives_none_clears_the_bag_count() {
    let hub = Hub::start();
    let office = hub.enroll_agent("30226");
    let shop = office.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    let id = office.retail_survey(&shop, "2024-03-04", true, "120");

    let out = office.run(&["survey", "correct", &id, "--gives-nonbio", "no"]);
    assert!(out.status.success(), "refused: {}", stderr(&out));
    // A count above 0 together with "gives none" is still refused, naming the field.
    let out = office.run(&[
        "survey",
        "correct",
        &id,
        "--gives-nonbio",
        "no",
        "--nonbio-bags",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("nonbio-bags"), "{}", stderr(&out));

    office.sync();
    let records = hub.records();
    let value = &record(&records, &id)["heads"][0]["value"];
    assert_eq!(value["gives_nonbio"], false, "{value}");
    assert_eq!(value["nonbio_bags_per_day"], Value::Null, "{value}");
    let totals = hub.json(&["totals", "--year", "2024", "--by", "kind"]);
    let row = totals["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["kind"] == "supermarket")
        .expect("supermarket row");
    assert_eq!(row["retail_nonbio_bags_per_day"], 0);
    assert_eq!(row["retail_no_nonbio"], 1);
}
