//! An office's unit across the 2025 reform (issue 11, item 1), through the real binaries on a Đồng Nai
//! hub: code 26425 was Thị trấn Gia Ray until 30 June 2025 and is Xã Xuân Lộc since 1 July, which also
//! took in Xã Xuân Thọ (26437); the neighbouring Xã Suối Cao (26431) went into Xã Xuân Thành (26434).
//! A unit is its code and its validity; an office's jurisdiction reaches back through the lineage.

use baobi_tests::{stderr, Hub};

fn dong_nai() -> Hub {
    let mut hub = Hub::init_province("75", "Đồng Nai", &[]);
    hub.serve();
    hub
}

fn addr(hub: &Hub) -> String {
    hub.addr.expect("serving").to_string()
}

#[test]
fn enroll_names_the_version_of_the_unit_it_takes() {
    let hub = dong_nai();
    let a = addr(&hub);
    let today = hub.run(&["enroll", "--unit", "26425", "--addr", &a]);
    assert!(today.status.success(), "{}", stderr(&today));
    assert!(
        stderr(&today).contains("Xã Xuân Lộc (26425, từ/from 2025-07-01)"),
        "{}",
        stderr(&today)
    );
    let then = hub.run(&["enroll", "--unit", "26425@2025-03-01", "--addr", &a]);
    assert!(then.status.success(), "{}", stderr(&then));
    assert!(
        stderr(&then).contains("Thị trấn Gia Ray (26425, đến/until 2025-06-30)"),
        "{}",
        stderr(&then)
    );
    // A code with no version on that date: refused, no token printed.
    let none = hub.run(&["enroll", "--unit", "25432@2025-03-01", "--addr", &a]);
    assert_eq!(none.status.code(), Some(2), "{}", stderr(&none));
    assert!(none.stdout.is_empty());
    assert!(
        stderr(&none).contains("not in force on 2025-03-01"),
        "{}",
        stderr(&none)
    );
}

#[test]
fn a_commune_office_records_its_predecessors_under_their_own_names() {
    let hub = dong_nai();
    let office = hub.enroll_agent("26425");
    // Gia Ray's market, surveyed before the reform (Thị trấn Gia Ray) and after (Xã Xuân Lộc).
    let market = office.outlet("market", "Chợ Gia Ray", "26425", &[]);
    let before = office.market_survey(&market, "2025-03-12", "20", &[]);
    let after = office.market_survey(&market, "2025-09-10", "18", &[]);
    // A commune merged into Xã Xuân Lộc is inside this office, on its own dates.
    let tho = office.outlet("market", "Chợ Xuân Thọ", "26437", &[]);
    let tho_survey = office.market_survey(&tho, "2025-04-02", "9", &[]);

    let surveys = office.json(&["survey", "list"]);
    let name_of = |id: &str| {
        surveys
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["id"] == id)
            .map(|s| s["unit_name"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(name_of(&before), "Thị trấn Gia Ray");
    assert_eq!(name_of(&after), "Xã Xuân Lộc");
    assert_eq!(name_of(&tho_survey), "Xã Xuân Thọ");
    let table = office.ok(&["survey", "list"]);
    assert!(table.contains("Thị trấn Gia Ray"), "{table}");

    // The neighbouring pre-reform commune went into another commune: outside, with both names.
    let out = office.run(&[
        "outlet",
        "add",
        "market",
        "--name",
        "Chợ Suối Cao",
        "--commune",
        "26431",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains("Xã Suối Cao (26431)")
            && e.contains("is outside this office's jurisdiction (Xã Xuân Lộc (26425))")
            && e.contains("nằm ngoài địa bàn"),
        "{e}"
    );
    assert!(!e.contains("not in force"), "{e}");

    // The hub applies the same rule: everything is accepted, and shown with its own unit's name.
    office.sync();
    let records = hub.records();
    let unit_name = |id: &str| {
        records
            .iter()
            .find(|r| r["short_id"] == id)
            .map(|r| r["unit_name"].as_str().unwrap_or("").to_string())
            .unwrap()
    };
    assert_eq!(records.len(), 5);
    assert_eq!(unit_name(&before), "Thị trấn Gia Ray");
    assert_eq!(unit_name(&after), "Xã Xuân Lộc");
    // The 2025 totals of code 26425 hold records of both units it meant that year, and say so.
    let totals = hub.json(&["totals", "--year", "2025"]);
    let row = totals["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["unit"] == "26425")
        .unwrap_or_else(|| panic!("{totals}"));
    assert_eq!(row["unit_name"], "Thị trấn Gia Ray → Xã Xuân Lộc", "{row}");
    let status = office.json(&["status"]);
    assert_eq!(
        status["jurisdiction"], "Xã Xuân Lộc (26425, từ/from 2025-07-01)",
        "{status}"
    );
    let agents = hub.json(&["agents"]);
    assert_eq!(
        agents[0]["jurisdiction"],
        "Xã Xuân Lộc (26425, từ/from 2025-07-01)"
    );
}

#[test]
fn an_office_of_an_ended_district_keeps_its_past_and_is_moved_to_successors() {
    let hub = dong_nai();
    let district = hub.enroll_agent("741");
    // Its past: communes of the district before the reform.
    let suoi_cao = district.outlet("market", "Chợ Suối Cao", "26431", &[]);
    district.market_survey(&suoi_cao, "2025-03-20", "7", &[]);
    let gia_ray = district.outlet("market", "Chợ Gia Ray", "26425", &[]);
    district.market_survey(&gia_ray, "2025-03-21", "20", &[]);
    district.sync();
    // After the reform, 26425 is Xã Xuân Lộc, no longer under the district.
    let refused = district.run(&[
        "survey",
        "market",
        "--outlet",
        &gia_ray,
        "--date",
        "2025-09-10",
        "--vendors-total",
        "180",
        "--vendors-surveyed",
        "60",
        "--nonbio-kg",
        "18",
        "--vendors-nonbio",
        "45",
    ]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(
        stderr(&refused).contains(
            "Xã Xuân Lộc (26425) nằm ngoài địa bàn của văn phòng này (Huyện Xuân Lộc (741))"
        ),
        "{}",
        stderr(&refused)
    );

    let status = district.json(&["status"]);
    assert_eq!(
        status["jurisdiction"], "Huyện Xuân Lộc (741, đến/until 2025-06-30)",
        "{status}"
    );

    // The operator gives it the successor communes; the office learns it at its next sync.
    let who = district.author();
    let bad = hub.run(&["agents", "move", &who[..12], "--unit", "99999"]);
    assert_eq!(bad.status.code(), Some(2), "{}", stderr(&bad));
    let moved = hub.json(&[
        "agents",
        "move",
        &who[..12],
        "--unit",
        "26425",
        "--unit",
        "26434",
    ]);
    assert_eq!(
        moved["jurisdiction"],
        "Huyện Xuân Lộc (741, đến/until 2025-06-30); Xã Xuân Lộc (26425, từ/from 2025-07-01); \
         Xã Xuân Thành (26434, từ/from 2025-07-01)"
    );
    district.sync();
    let after = district.market_survey(&gia_ray, "2025-09-10", "18", &[]);
    // Suối Cao's market now lies in Xã Xuân Thành: the outlet is corrected, its old survey keeps
    // Suối Cao.
    district.ok(&["outlet", "correct", &suoi_cao, "--commune", "Xuân Thành"]);
    district.market_survey(&suoi_cao, "2025-09-11", "6", &[]);
    district.sync();
    assert!(hub.records().iter().any(|r| r["short_id"] == after));
    let status = district.json(&["status"]);
    assert!(
        status["jurisdiction"]
            .as_str()
            .unwrap()
            .ends_with("Xã Xuân Thành (26434, từ/from 2025-07-01)"),
        "{status}"
    );
    let table = hub.ok(&["agents"]);
    assert!(table.contains("Xã Xuân Thành (26434"), "{table}");

    // A unit no longer in force on the report's reference date: its records, under its successors.
    let r = hub.indicators(2025, Some("741"));
    assert_eq!(r["scope"]["code"], "741", "{r}");
    let rows: Vec<&str> = r["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["code"].as_str().unwrap())
        .collect();
    assert!(
        rows.contains(&"26425") && rows.contains(&"26434") && !rows.contains(&"26431"),
        "{r}"
    );
    let coverage = r["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == "coverage")
        .unwrap();
    assert_eq!(coverage["denominator"].as_f64(), Some(2.0), "{coverage}");
    let regrouped = r["regrouped"].as_array().unwrap();
    assert!(
        regrouped.iter().any(|g| g == "Xã Suối Cao → Xã Xuân Thành"),
        "{r}"
    );
}
