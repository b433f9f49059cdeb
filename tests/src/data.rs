//! Test data and independent recomputations: import rows shaped as offices make them, the totals
//! recomputed from `records --json` without the hub's counters, and the two-office dashboard fixture
//! the dashboard and browser tests share.

use serde_json::Value;

use crate::{Agent, Hub};

/// `n` market surveys as import rows, spread over `outlets` and the years 2015–2024 (a few surveys per
/// outlet and year, as offices make them), with amounts that vary with `salt`.
pub fn market_rows(outlets: &[String], n: usize, salt: u64) -> Vec<Value> {
    let k = outlets.len().max(1);
    (0..n)
        .map(|i| {
            let year = 2015 + (i / k) % 10;
            let nth = i / (k * 10);
            let month = nth % 12 + 1;
            let day = (nth / 12) % 28 + 1;
            let grams = (i as u64 * 7919 + salt * 104_729) % 50_000 + 250;
            serde_json::json!({
                "type": "market",
                "outlet": outlets[i % k],
                "date": format!("{year}-{month:02}-{day:02}"),
                "vendors_total": 180,
                "vendors_surveyed": 60,
                "nonbio_kg": format!("{}.{:03}", grams / 1000, grams % 1000),
                "vendors_nonbio": 45,
            })
        })
        .collect()
}

/// Per (commune, kind): surveys, outlets, market grams/day, retail bags/day, retail outlets with no bags.
pub type TotalsRows = std::collections::BTreeMap<(String, String), [i64; 5]>;

/// An outlet's latest survey so far: (date, clock, version), its row, amount, gives no bags.
type Latest = ((String, u64, String), (String, String), i64, bool);

/// Totals recomputed from `records --json`, independently of the hub's counters: for each
/// (year, unit, kind) the live surveys, and over each outlet's latest survey of the year the outlets,
/// market grams, retail bags and retail outlets giving no non-biodegradable bags.
pub fn recompute_totals(records: &[Value], year: u64) -> TotalsRows {
    use std::collections::BTreeMap;
    let mut rows = TotalsRows::new();
    let mut latest: BTreeMap<String, Latest> = BTreeMap::new();
    for r in records {
        if r["retracted"].as_bool() == Some(true) {
            continue;
        }
        let head = &r["heads"][0];
        let v = &head["value"];
        let ty = v["type"].as_str().unwrap_or_default();
        if ty != "market-survey" && ty != "retail-survey" {
            continue;
        }
        if v["year"].as_u64() != Some(year) {
            continue;
        }
        let kind = if ty == "market-survey" {
            "market".to_string()
        } else {
            v["kind"].as_str().unwrap_or_default().to_string()
        };
        let key = (v["unit"].as_str().unwrap_or_default().to_string(), kind);
        rows.entry(key.clone()).or_default()[0] += 1;
        let (amount, no_nonbio) = if ty == "market-survey" {
            (v["nonbio_g_per_day"].as_i64().unwrap_or(0), false)
        } else {
            (
                v["nonbio_bags_per_day"].as_i64().unwrap_or(0),
                v["gives_nonbio"].as_bool() == Some(false),
            )
        };
        let order = (
            v["date"].as_str().unwrap_or_default().to_string(),
            head["hlc"].as_u64().unwrap_or(0),
            head["version"].as_str().unwrap_or_default().to_string(),
        );
        let outlet = v["outlet"].as_str().unwrap_or_default().to_string();
        let slot = latest
            .entry(outlet)
            .or_insert((order.clone(), key.clone(), amount, no_nonbio));
        if order > slot.0 {
            *slot = (order, key, amount, no_nonbio);
        }
    }
    for (_, key, amount, no_nonbio) in latest.into_values() {
        let row = rows.entry(key.clone()).or_default();
        row[1] += 1;
        if key.1 == "market" {
            row[2] += amount;
        } else {
            row[3] += amount;
            row[4] += i64::from(no_nonbio);
        }
    }
    rows
}

/// The hub's `totals --json` rows for `year` in the shape of [`recompute_totals`].
pub fn hub_totals(hub: &Hub, year: u64) -> TotalsRows {
    let t = hub.json(&["totals", "--year", &year.to_string()]);
    t["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                (
                    r["unit"].as_str().unwrap_or_default().to_string(),
                    r["kind"].as_str().unwrap_or_default().to_string(),
                ),
                [
                    r["surveys"].as_i64().unwrap_or(-1),
                    r["outlets_surveyed"].as_i64().unwrap_or(-1),
                    r["market_nonbio_g_per_day"].as_i64().unwrap_or(-1),
                    r["retail_nonbio_bags_per_day"].as_i64().unwrap_or(-1),
                    r["retail_no_nonbio"].as_i64().unwrap_or(-1),
                ],
            )
        })
        .collect()
}

/// The offices and notable ids of [`dashboard_data`].
pub struct DashboardData {
    /// Office of Huyện Lai Vung (876).
    pub lai_vung: Agent,
    /// Office of Thành phố Cao Lãnh (866).
    pub cao_lanh: Agent,
    /// Trade centre T1's survey, corrected once (two versions).
    pub corrected: String,
    /// Market M1 (Lai Vung).
    pub market: String,
}

/// A known data set for the dashboard tests, recorded by two real offices and synced over QUIC to the
/// serving `hub`. All surveys are of 2024 (when Đồng Tháp's 12 districts were in force all year):
///
/// | outlet | kind | unit | 2024 survey(s) | gives non-bio bags (latest) |
/// |---|---|---|---|---|
/// | S1 Siêu thị Co.opmart Lai Vung | supermarket | 30208 (876) | 2024-04-02 | no |
/// | T1 TTTM Lai Vung | trade centre | 30208 (876) | 2024-04-03, corrected | yes |
/// | S2 Siêu thị Tân Thành | supermarket | 30226 (876) | none | — |
/// | C1 Bách hóa Xanh Tân Thành | convenience | 30226 (876) | 2024-04-05 | no |
/// | M1 Chợ Tân Thành | market | 30226 (876) | 2024-04-06 (21.5 kg/day) | — |
/// | S3 Siêu thị Cao Lãnh | supermarket | 29869 (866) | 2024-03-01 yes, 2024-09-01 no | no |
///
/// So by hand: I1 (supermarkets + trade centres) = S1, S3 / S1, T1, S2, S3 = 2/4 = 50 %, coverage 3/4;
/// I1 with convenience stores = 3/5 = 60 %; survey coverage = 5 of 6 outlets surveyed; 2 of the 12
/// districts (876, 866) reported. Records: 6 outlets + 6 surveys = 12.
pub fn dashboard_data(hub: &Hub) -> DashboardData {
    let lai_vung = hub.enroll_agent("876");
    let cao_lanh = hub.enroll_agent("866");
    let s1 = lai_vung.outlet("supermarket", "Siêu thị Co.opmart Lai Vung", "30208", &[]);
    let t1 = lai_vung.outlet("trade-centre", "TTTM Lai Vung", "30208", &[]);
    let _s2 = lai_vung.outlet("supermarket", "Siêu thị Tân Thành", "30226", &[]);
    let c1 = lai_vung.outlet("convenience", "Bách hóa Xanh Tân Thành", "30226", &[]);
    let m1 = lai_vung.outlet(
        "market",
        "Chợ Tân Thành",
        "30226",
        &["--class", "3", "--new-rural-since", "2022-11-10"],
    );
    lai_vung.retail_survey(&s1, "2024-04-02", false, "0");
    let t1s = lai_vung.retail_survey(&t1, "2024-04-03", true, "300");
    lai_vung.ok(&["survey", "correct", &t1s, "--nonbio-bags", "250"]);
    lai_vung.retail_survey(&c1, "2024-04-05", false, "0");
    lai_vung.market_survey(&m1, "2024-04-06", "21.5", &["--round", "baseline"]);
    let s3 = cao_lanh.outlet("supermarket", "Siêu thị Cao Lãnh", "29869", &[]);
    cao_lanh.retail_survey(&s3, "2024-03-01", true, "120");
    cao_lanh.retail_survey(&s3, "2024-09-01", false, "0");
    lai_vung.sync();
    cao_lanh.sync();
    DashboardData {
        lai_vung,
        cao_lanh,
        corrected: t1s,
        market: m1,
    }
}
