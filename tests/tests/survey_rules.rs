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

/// `survey retail` of `shop` on `date`, as the office runs it.
fn retail(office: &baobi_tests::Agent, shop: &str, date: &str) -> std::process::Output {
    office.run(&[
        "survey",
        "retail",
        "--outlet",
        shop,
        "--date",
        date,
        "--gives-nonbio",
        "no",
    ])
}

#[test]
fn a_survey_outside_its_outlets_open_period_is_refused_naming_the_date() {
    let hub = Hub::start();
    let office = hub.enroll_agent("30226");
    let shop = office.outlet(
        "supermarket",
        "Siêu thị Tân Thành",
        "30226",
        &["--opened", "2024-03-01", "--closed", "2024-09-30"],
    );
    let market = office.outlet(
        "market",
        "Chợ Tân Thành",
        "30226",
        &["--opened", "2024-03-01"],
    );
    for (date, when) in [("2024-02-29", "opened"), ("2024-10-01", "closed")] {
        let out = retail(&office, &shop, date);
        assert_eq!(out.status.code(), Some(2), "{date}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(err.contains("date") && err.contains(date), "{err}");
        let bound = if when == "opened" {
            "2024-03-01"
        } else {
            "2024-09-30"
        };
        assert!(err.contains(bound) && err.contains(when), "{err}");
        assert!(err.contains("ngày khảo sát"), "bilingual: {err}");
    }
    let out = office.run(&[
        "survey",
        "market",
        "--outlet",
        &market,
        "--date",
        "2024-01-15",
        "--vendors-total",
        "100",
        "--vendors-surveyed",
        "10",
        "--nonbio-kg",
        "2",
        "--vendors-nonbio",
        "5",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("2024-03-01"), "{}", stderr(&out));
    assert!(
        office
            .json(&["survey", "list"])
            .as_array()
            .unwrap()
            .is_empty(),
        "nothing saved"
    );
    // The first and last open days are inside.
    for date in ["2024-03-01", "2024-09-30"] {
        let out = retail(&office, &shop, date);
        assert!(out.status.success(), "{date}: {}", stderr(&out));
    }
    assert_eq!(
        office.json(&["survey", "list"]).as_array().unwrap().len(),
        2
    );
    assert_eq!(office.sync()["sent"], 4);
}

#[test]
fn the_hub_refuses_a_survey_outside_its_outlets_open_period() {
    use baobi_proto::wire::{Body, Dot, OutletDef, OutletKind, RetailSurvey};
    use baobi_proto::{Date, Hlc, Op};
    use baobi_tests::raw::{identity_of, push, refusal, rt, seal};

    let hub = Hub::start();
    let office = hub.enroll_agent("30226");
    let id = identity_of(&office);
    let key = &id.keypair;
    let outlet = Op::Record(Body::Outlet(OutletDef {
        kind: OutletKind::Supermarket,
        name: "Siêu thị Tân Thành".into(),
        unit: "30226".into(),
        address: String::new(),
        market_class: None,
        certifications: vec![],
        opened: Some(Date(20240301)),
        closed: None,
    }));
    let survey = |date: u32| {
        Op::Record(Body::RetailSurvey(RetailSurvey {
            outlet: Dot {
                author: key.author(),
                seq: 1,
            },
            kind: OutletKind::Supermarket,
            unit: "30226".into(),
            date: Date(date),
            year: 2024,
            gives_nonbio: false,
            bag_types: String::new(),
            nonbio_bags_per_day: None,
            eco_bags_per_day: None,
            sells_reusable: None,
            eco_labelled: None,
            notes: String::new(),
        }))
    };
    let now = Hlc(1 << 40);
    let early = [
        key.sign_entry(1, now, outlet.clone()),
        key.sign_entry(2, Hlc((1 << 40) + 1), survey(20240229)),
    ];
    let rt = rt();
    assert_eq!(
        refusal(rt.block_on(push(&hub, &office.token, &id, vec![seal(key, &early)]))),
        baobi_proto::wire::RefusalCode::InvalidEntry
    );
    assert!(hub.records().is_empty(), "nothing of the batch is stored");
    // The same batch with the survey on the opening day is taken.
    let fine = [
        key.sign_entry(1, now, outlet),
        key.sign_entry(2, Hlc((1 << 40) + 1), survey(20240301)),
    ];
    let answer = rt.block_on(push(&hub, &office.token, &id, vec![seal(key, &fine)]));
    assert!(
        matches!(answer, Some(baobi_proto::wire::Msg::Ack(_))),
        "{answer:?}"
    );
    assert_eq!(hub.records().len(), 2);
}

#[test]
fn a_survey_left_outside_by_a_later_outlet_correction_is_listed_in_gaps() {
    let hub = Hub::start_with(&["--plan", "dong-thap-2021"]);
    let office = hub.enroll_agent("30226");
    let shop = office.outlet(
        "supermarket",
        "Siêu thị Tân Thành",
        "30226",
        &["--opened", "2023-01-01"],
    );
    let survey = office.retail_survey(&shop, "2024-05-02", false, "0");
    office.sync();
    let i1 = |r: &Value| {
        r["indicators"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["id"] == "i1")
            .unwrap()
            .clone()
    };
    let r = hub.indicators(2024, None);
    assert_eq!(i1(&r)["numerator"], 1.0);
    assert!(r["gaps"].as_array().unwrap().is_empty(), "{}", r["gaps"]);

    // The office learns the shop closed at the end of 2023: the survey no longer fits.
    office.ok(&["outlet", "correct", &shop, "--closed", "2023-12-31"]);
    office.sync();
    let r = hub.indicators(2024, None);
    assert_eq!(i1(&r)["denominator"], 0.0, "the shop is not active in 2024");
    let gaps = r["gaps"].as_array().unwrap();
    let g = gaps
        .iter()
        .find(|g| g["kind"] == "survey_outside_open_period")
        .unwrap_or_else(|| panic!("no gap for the survey: {gaps:?}"));
    let records = hub.records();
    assert_eq!(g["record"], record(&records, &survey)["id"]);
    assert_eq!(g["name"], "Siêu thị Tân Thành");
    assert_eq!(g["unit"], "30226");
    // A report of another year does not list it.
    let r = hub.indicators(2023, None);
    assert!(!r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["kind"] == "survey_outside_open_period"));
}
