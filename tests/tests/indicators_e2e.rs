//! The plan's indicators end to end: a hub with the Đồng Tháp plan, two real offices recording a small
//! known data set and syncing over QUIC, a record returned and corrected, the counting basis switched;
//! `baobi-hub indicators --json` must equal the figures computed by hand in the comments.

use std::collections::BTreeSet;

use baobi_tests::Hub;
use serde_json::Value;

/// The new communes (from 1 July 2025) that took over old Đồng Tháp's (87) communes, counted from the
/// shipped data files independently of the hub: the units the 2025 report is grouped by.
fn new_communes_of_old_dong_thap() -> usize {
    let units = include_str!("../../hub/units/seed-units.csv");
    let rows: Vec<Vec<&str>> = units
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("code,"))
        .map(|l| l.split(',').collect())
        .collect();
    let districts: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r[2] == "district" && r[4] == "87")
        .map(|r| r[0])
        .collect();
    let old: BTreeSet<&str> = rows
        .iter()
        .filter(|r| r[2] == "commune" && districts.contains(r[4]) && !r[6].is_empty())
        .map(|r| r[0])
        .collect();
    let lineage = include_str!("../../hub/units/seed-lineage.csv");
    lineage
        .lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with("old_code,"))
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|r| old.contains(r[0]))
        .map(|r| r[2].to_string())
        .collect::<BTreeSet<_>>()
        .len()
}

fn ind<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["indicators"]
        .as_array()
        .expect("indicators")
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("indicator {id} missing"))
}

fn approx(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

/// (numerator, denominator) of an indicator.
fn frac(r: &Value, id: &str) -> (f64, f64) {
    let i = ind(r, id);
    (
        i["numerator"].as_f64().unwrap(),
        i["denominator"].as_f64().unwrap(),
    )
}

fn record<'a>(records: &'a [Value], short_id: &str) -> &'a Value {
    records
        .iter()
        .find(|r| r["short_id"] == short_id)
        .unwrap_or_else(|| panic!("record {short_id} not at the hub"))
}

fn unit<'a>(r: &'a Value, code: &str) -> &'a Value {
    r["units"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["code"] == code)
        .unwrap_or_else(|| panic!("unit {code} not in the report"))
}

fn survey<'a>(list: &'a Value, id: &str) -> &'a Value {
    list.as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("survey {id} not listed: {list}"))
}

#[test]
fn indicators_after_real_sync_match_hand_computed_figures_through_review_and_basis() {
    let started = baobi_hub::indicators::today().to_string();
    let hub = Hub::start_with(&["--plan", "dong-thap-2021"]);
    let district = hub.enroll_agent("876"); // UBND huyện Lai Vung (until 30 June 2025)
    let commune = hub.enroll_agent("30208"); // Thị trấn Lai Vung, from July Xã Hòa Long

    // The plan came down with the first sync.
    let plan = district.json(&["plan"]);
    assert_eq!(plan["id"], "dong-thap-2021");
    assert_eq!(plan["deadline"], serde_json::json!([12, 10]));

    // Huyện Lai Vung: two civilized-standard markets and one new-rural market, a campaign.
    let m1 = district.outlet(
        "market",
        "Chợ Tân Thành",
        "30226",
        &["--class", "3", "--civilized-since", "2020-01-01"],
    );
    let m2 = district.outlet(
        "market",
        "Chợ Long Thắng",
        "30229",
        &["--class", "3", "--civilized-since", "2019-05-01"],
    );
    let _m3 = district.outlet(
        "market",
        "Chợ Vĩnh Thới",
        "30226",
        &["--new-rural-since", "2022-11-10"],
    );
    let m1_base = district.market_survey(&m1, "2025-02-14", "20", &["--round", "baseline"]);
    let m1_now = district.market_survey(&m1, "2025-06-20", "11", &[]);
    // Long Thắng has no baseline-round survey: its January survey is a provisional baseline.
    let m2_first = district.market_survey(&m2, "2025-01-10", "10", &[]);
    let m2_now = district.market_survey(&m2, "2025-06-15", "8", &[]);
    let camp1 = district.ok(&[
        "campaign",
        "add",
        "--date",
        "2025-04-22",
        "--kind",
        "event",
        "--topic",
        "Nói không với túi ni lông",
        "--unit",
        "30226",
    ]);
    // Thị trấn Lai Vung: a supermarket without plastic bags, a convenience store with them, a
    // supermarket not surveyed, a campaign.
    let sm1 = commune.outlet("supermarket", "Siêu thị Lai Vung", "30208", &[]);
    let _sm2 = commune.outlet("supermarket", "Siêu thị Hòa Long", "30208", &[]);
    let cs = commune.outlet("convenience", "Bách hóa Lai Vung", "30208", &[]);
    let sm1_s = commune.retail_survey(&sm1, "2025-03-04", false, "0");
    let _cs_s = commune.retail_survey(&cs, "2025-03-03", true, "120");
    let _camp2 = commune.ok(&[
        "campaign",
        "add",
        "--date",
        "2025-05-10",
        "--kind",
        "media",
        "--topic",
        "Túi thân thiện",
    ]);
    district.sync();
    commune.sync();

    let n = new_communes_of_old_dong_thap() as f64;
    assert!(n > 10.0, "{n}");
    let r = hub.indicators(2025, None);
    // 2025 is judged on 31 Dec 2025: the new Đồng Tháp (82) and its communes, no districts.
    assert_eq!(r["as_of"], "2025-12-31");
    assert_eq!(r["scope"]["code"], "82");
    assert_eq!(r["basis"], "submitted");
    assert_eq!(r["plan"]["id"], "dong-thap-2021");
    assert_eq!(r["plan"]["deadline"], "2025-12-10");
    assert_eq!(r["units"].as_array().unwrap().len() as f64, n);
    // I1 (supermarkets, trade centres): Siêu thị Lai Vung meets, Siêu thị Hòa Long unsurveyed: 1/2.
    assert_eq!(frac(&r, "i1"), (1.0, 2.0));
    assert_eq!(
        ind(&r, "i1")["coverage"],
        serde_json::json!({"surveyed": 1, "total": 2})
    );
    assert_eq!(
        ind(&r, "i1")["target"],
        Value::Null,
        "the plan's I1 target includes convenience stores"
    );
    // I1_cs: + the convenience store, which gives bags: 1/3 against 80%: not met.
    assert_eq!(frac(&r, "i1_cs"), (1.0, 3.0));
    assert!(approx(&ind(&r, "i1_cs")["target"], 0.8));
    assert_eq!(ind(&r, "i1_cs")["met"], false);
    // I2: Σbaseline = 20 + 10 = 30 kg, Σcurrent = 11 + 8 = 19 kg: 1 − 19/30 = 11/30, below 40%;
    // provisional (Long Thắng's baseline is its first survey).
    assert_eq!(frac(&r, "i2"), (11.0, 30.0));
    assert!(approx(&ind(&r, "i2")["value"], 11.0 / 30.0));
    assert_eq!(ind(&r, "i2")["met"], false);
    assert_eq!(ind(&r, "i2")["provisional"], true);
    // Share at ≥ 40%: Tân Thành 9/20 = 45% yes, Long Thắng 2/10 = 20% no: 1/2.
    assert_eq!(frac(&r, "i2_share"), (1.0, 2.0));
    // I3: Chợ Vĩnh Thới is certified but never surveyed: no pooled market, a no_baseline gap.
    assert_eq!(ind(&r, "i3")["value"], Value::Null);
    assert_eq!(
        ind(&r, "i3")["coverage"],
        serde_json::json!({"surveyed": 0, "total": 1})
    );
    let gaps = r["gaps"].as_array().unwrap();
    assert_eq!(gaps.len(), 1, "{gaps:?}");
    assert_eq!(gaps[0]["kind"], "no_baseline");
    assert_eq!(gaps[0]["name"], "Chợ Vĩnh Thới");
    // I4: campaigns in Xã Lai Vung (30226) and Xã Hòa Long (30208) of n communes, against 70%.
    assert_eq!(frac(&r, "i4"), (2.0, n));
    assert_eq!(ind(&r, "i4")["met"], false);
    // Survey coverage: 4 of the 6 active facilities were surveyed in 2025 (not Siêu thị Hòa Long,
    // not Chợ Vĩnh Thới).
    assert_eq!(frac(&r, "coverage"), (4.0, 6.0));
    // Completeness: Xã Lai Vung (30226) and Xã Hòa Long (30208, which took over Long Thắng 30229)
    // reported, of n communes. Timeliness: everything was recorded after 10 Dec 2025: 0 of n.
    assert_eq!(frac(&r, "completeness"), (2.0, n));
    assert_eq!(frac(&r, "timeliness"), (0.0, n));
    assert_eq!(r["completeness"]["reported"], 2);
    assert_eq!(r["completeness"]["on_time"], 0);
    assert_eq!(
        r["completeness"]["missing"].as_array().unwrap().len() as f64,
        n - 2.0
    );
    let hl = unit(&r, "30208");
    assert_eq!(
        (hl["reported"].as_bool(), hl["on_time"].as_bool()),
        (Some(true), Some(false))
    );
    let first = hl["first_report"].as_str().unwrap().to_string();
    let today = baobi_hub::indicators::today().to_string();
    assert!(started <= first && first <= today, "{first}");
    // Hòa Long's own I2 is Long Thắng's market alone: 1 − 8/10 = 0.2.
    let hl_i2 = hl["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "i2")
        .unwrap();
    assert!(approx(&hl_i2["value"], 0.2));

    // Records carry unit, year, date and review; heads their author and time.
    let records = hub.records();
    let row = record(&records, &m2_now);
    assert_eq!(
        (
            row["unit"].as_str(),
            row["year"].as_u64(),
            row["date"].as_str()
        ),
        (Some("30229"), Some(2025), Some("2025-06-15"))
    );
    assert_eq!(row["review"]["state"], "submitted");
    assert_eq!(row["heads"][0]["author"], row["author"]);
    assert!(row["heads"][0]["time"]
        .as_str()
        .unwrap()
        .starts_with(&today[..4]));
    let outlet_row = record(&records, &m1);
    assert_eq!(
        (outlet_row["year"].clone(), outlet_row["date"].clone()),
        (Value::Null, Value::Null)
    );

    // The province returns Long Thắng's June survey; the office sees it with the reason.
    let reason = "Số kg/ngày không khớp phiếu khảo sát";
    let returned = hub.json(&["review", "return", &m2_now, "--reason", reason]);
    assert_eq!(returned["review"]["state"], "returned");
    assert_eq!(returned["review"]["reason"], reason);
    // Returned records do not count: Long Thắng has no current survey left (a gap), I2 is Tân Thành
    // alone: 1 − 11/20 = 9/20 = 45% ≥ 40%, met.
    let r = hub.indicators(2025, None);
    assert_eq!(frac(&r, "i2"), (9.0, 20.0));
    assert_eq!(ind(&r, "i2")["met"], true);
    assert_eq!(ind(&r, "i2")["provisional"], false);
    assert!(r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["kind"] == "no_current_survey" && g["name"] == "Chợ Long Thắng"));

    district.sync();
    let listed = district.json(&["survey", "list", "--returned"]);
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let s = survey(&listed, &m2_now);
    assert_eq!(
        (s["review"].as_str(), s["review_reason"].as_str()),
        (Some("returned"), Some(reason))
    );
    let table = district.ok(&["survey", "list"]);
    assert!(table.contains(reason), "{table}");
    let shown = district.ok(&["survey", "show", &m2_now]);
    assert!(
        shown.contains("trả lại / returned") && shown.contains(reason),
        "{shown}"
    );
    // The other office's list holds no returned record of its own.
    assert!(commune
        .json(&["survey", "list", "--returned"])
        .as_array()
        .unwrap()
        .is_empty());

    // The office corrects it (8 → 9 kg); after sync it is submitted again and counts.
    district.ok(&["survey", "correct", &m2_now, "--nonbio-kg", "9"]);
    district.sync();
    let records = hub.records();
    let row = record(&records, &m2_now);
    assert_eq!(row["review"]["state"], "submitted");
    assert_eq!(row["heads"][0]["value"]["nonbio_g_per_day"], 9000);
    // I2 = 1 − (11 + 9)/(20 + 10) = 10/30.
    let r = hub.indicators(2025, None);
    assert_eq!(frac(&r, "i2"), (10.0, 30.0));
    assert_eq!(ind(&r, "i2")["met"], false);
    assert!(district
        .json(&["survey", "list", "--returned"])
        .as_array()
        .unwrap()
        .is_empty());

    // Verify Tân Thành's two surveys, the supermarket's survey and the Lai Vung campaign, then count
    // verified records only.
    for id in [&m1_base, &m1_now, &sm1_s, &camp1] {
        assert_eq!(
            hub.json(&["review", "verify", id])["review"]["state"],
            "verified"
        );
    }
    hub.ok(&["settings", "basis", "verified"]);
    let r = hub.indicators(2025, None);
    assert_eq!(r["basis"], "verified");
    // I1 1/2 (the verified supermarket survey); I1_cs 1/3 with coverage 1/3 (the convenience
    // store's survey is not verified); I2 Tân Thành alone 9/20; Long Thắng has no verified survey
    // (no_baseline); coverage 2/6; completeness 2/n (Xã Lai Vung: its market surveys and campaign;
    // Xã Hòa Long: the supermarket's survey); I4 only Xã Lai Vung's verified campaign: 1/n.
    assert_eq!(frac(&r, "i1"), (1.0, 2.0));
    assert_eq!(frac(&r, "i1_cs"), (1.0, 3.0));
    assert_eq!(
        ind(&r, "i1_cs")["coverage"],
        serde_json::json!({"surveyed": 1, "total": 3})
    );
    assert_eq!(frac(&r, "i2"), (9.0, 20.0));
    assert!(r["gaps"]
        .as_array()
        .unwrap()
        .iter()
        .any(|g| g["kind"] == "no_baseline" && g["name"] == "Chợ Long Thắng"));
    assert_eq!(frac(&r, "coverage"), (2.0, 6.0));
    assert_eq!(frac(&r, "completeness"), (2.0, n));
    assert_eq!(frac(&r, "i4"), (1.0, n));
    assert_eq!(unit(&r, "30208")["reported"], true);
    let _ = m2_first;

    // Back to every submitted record: the figures before verification return.
    hub.ok(&["settings", "basis", "submitted"]);
    assert_eq!(frac(&hub.indicators(2025, None), "i2"), (10.0, 30.0));

    // One commune as the scope: itself as its only reporting unit.
    let r = hub.indicators(2025, Some("30226"));
    assert_eq!(r["scope"]["level"], "commune");
    assert!(r["units"].as_array().unwrap().is_empty());
    assert_eq!(frac(&r, "completeness"), (1.0, 1.0));
    assert_eq!(frac(&r, "i2"), (9.0, 20.0));
}

#[test]
fn plan_set_validates_the_file_and_the_plan_reaches_offices() {
    let hub = Hub::start();
    let office = hub.enroll_agent("30226");
    assert_eq!(office.json(&["plan"]), Value::Null, "no plan loaded yet");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "id = \"x\"\nname = \"Kế hoạch\"\nprovince = \"87\"\nperiod = [2021, 2030]\n\
         [[targets]]\nindicator = \"i7\"\nyear = 2025\nthreshold = 0.5\n",
    )
    .unwrap();
    let out = hub.run(&["plan", "set", bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(baobi_tests::stderr(&out).contains("unknown indicator 'i7'"));
    let other = hub.run(&["plan", "set", "dong-nai-2022-2030"]);
    assert_eq!(
        other.status.code(),
        Some(2),
        "a plan for another province is refused"
    );
    assert_eq!(
        hub.json(&["plan", "show"]),
        Value::Null,
        "nothing was loaded"
    );

    // Edit the built-in plan as a file: a deadline on 5 December and an I1 target of 90% from 2025.
    hub.ok(&["plan", "set", "dong-thap-2021"]);
    let text = hub.ok(&["plan", "show", "--toml"]);
    let edited = text.replace("deadline = \"12-10\"", "deadline = \"12-05\"")
        + "\n[[targets]]\nindicator = \"i1\"\nyear = 2025\nthreshold = 0.9\n";
    let file = dir.path().join("dt.toml");
    std::fs::write(&file, edited).unwrap();
    hub.ok(&["plan", "set", file.to_str().unwrap()]);
    office.sync();
    let plan = office.json(&["plan"]);
    assert_eq!(plan["deadline"], serde_json::json!([12, 5]));
    assert!(plan["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["indicator"] == "i1" && t["threshold_bp"] == 9000));
    let text = office.ok(&["plan"]);
    assert!(text.contains("05/12") && text.contains("90%"), "{text}");
    let r = hub.indicators(2025, None);
    assert_eq!(r["plan"]["deadline"], "2025-12-05");
    assert!(approx(&ind(&r, "i1")["target"], 0.9));
    // A review of an unknown record is invalid input and changes nothing.
    let out = hub.run(&["review", "verify", "deadbeef-3"]);
    assert_eq!(out.status.code(), Some(2));
    let id = office.outlet("supermarket", "Siêu thị", "30226", &[]);
    let sid = office.retail_survey(&id, "2025-03-04", false, "0");
    office.sync();
    let out = hub.run(&["review", "return", &sid, "--reason", " "]);
    assert_eq!(out.status.code(), Some(2), "a return needs a reason");
    let out = hub.run(&["review", "return", &id, "--reason", "sai tên"]);
    assert_eq!(out.status.code(), Some(2), "only surveys can be returned");
    assert_eq!(record(&hub.records(), &sid)["review"]["state"], "submitted");
}
