//! A plan's targets as the hub shows and uses them, through the real binaries: the share targets
//! (`i2_share`, `i3_share`) judged in `indicators --json`, and each target's `covers` in `plan show
//! --json` and at the office.

use baobi_tests::{stderr, Hub};
use serde_json::Value;

/// A plan for Đồng Tháp (87) with the given `[[targets]]` tables.
fn plan_file(dir: &std::path::Path, name: &str, targets: &str) -> String {
    let path = dir.join(name);
    std::fs::write(
        &path,
        format!(
            "id = \"dt-test\"\nname = \"Kế hoạch thử\"\nprovince = \"87\"\nperiod = [2021, 2030]\n\
             deadline = \"12-10\"\n{targets}"
        ),
    )
    .unwrap();
    path.to_string_lossy().into_owned()
}

fn target(indicator: &str, covers: &str, threshold: f64) -> String {
    format!(
        "\n[[targets]]\nindicator = \"{indicator}\"\ncovers = {covers}\nyear = 2021\nthreshold = {threshold}\n"
    )
}

fn ind<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["indicators"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["id"] == id)
        .unwrap_or_else(|| panic!("indicator {id} missing"))
}

#[test]
fn share_targets_are_the_plans_and_met_is_judged_against_them() {
    let dir = tempfile::tempdir().unwrap();
    let civ = "[\"civilized\"]";
    let rural = "[\"new-rural\"]";
    let plan = plan_file(
        dir.path(),
        "plan.toml",
        &[
            target("i2", civ, 0.4),
            target("i2_share", civ, 0.5),
            target("i3", rural, 0.2),
            target("i3_share", rural, 1.0),
        ]
        .concat(),
    );
    let hub = Hub::start_with(&["--plan", &plan]);
    let office = hub.enroll_agent("30226");
    let civilized = ["--class", "3", "--civilized-since", "2020-01-01"];
    let a = office.outlet("market", "Chợ A", "30226", &civilized);
    let b = office.outlet("market", "Chợ B", "30226", &civilized);
    let c = office.outlet(
        "market",
        "Chợ C",
        "30226",
        &["--new-rural-since", "2020-01-01"],
    );
    let baseline = ["--round", "baseline"];
    // A: 20 → 10 kg/day (a 50% cut, at the 40% i2 target); B: 10 → 9 (10%, below it).
    office.market_survey(&a, "2024-01-10", "20", &baseline);
    office.market_survey(&a, "2024-06-10", "10", &[]);
    office.market_survey(&b, "2024-01-11", "10", &baseline);
    office.market_survey(&b, "2024-06-11", "9", &[]);
    // C: 10 → 7 (30%, at the 20% i3 target).
    office.market_survey(&c, "2024-01-12", "10", &baseline);
    office.market_survey(&c, "2024-06-12", "7", &[]);
    office.sync();

    let r = hub.indicators(2024, None);
    let share = ind(&r, "i2_share");
    assert_eq!(
        (&share["numerator"], &share["denominator"]),
        (&1.0.into(), &2.0.into())
    );
    assert_eq!(share["value"], 0.5);
    assert_eq!(share["target"], 0.5, "the plan's i2_share target: {share}");
    assert_eq!(
        share["met"], true,
        "1 of 2 markets is 50%, at the 50% share target"
    );
    let share3 = ind(&r, "i3_share");
    assert_eq!(share3["value"], 1.0);
    assert_eq!(share3["target"], 1.0, "{share3}");
    assert_eq!(share3["met"], true);
    // The pooled I2: 1 − 19/30 ≈ 36.7%, below its 40% target.
    assert_eq!(ind(&r, "i2")["target"], 0.4);
    assert_eq!(ind(&r, "i2")["met"], false);

    // A higher share target: 50% of markets no longer meets it.
    let higher = plan_file(
        dir.path(),
        "higher.toml",
        &[target("i2", civ, 0.4), target("i2_share", civ, 0.6)].concat(),
    );
    hub.ok(&["plan", "set", &higher]);
    let r = hub.indicators(2024, None);
    assert_eq!(ind(&r, "i2_share")["target"], 0.6);
    assert_eq!(ind(&r, "i2_share")["met"], false);
    assert_eq!(
        ind(&r, "i3_share")["target"],
        Value::Null,
        "no i3_share target now"
    );
    assert_eq!(ind(&r, "i3_share")["met"], Value::Null);

    // A share target without the reduction target each market is judged against is refused at
    // `plan set`, naming the target, and the plan in force stays.
    let orphan = plan_file(dir.path(), "orphan.toml", &target("i3_share", rural, 0.5));
    let out = hub.run(&["plan", "set", &orphan]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("i3_share") && err.contains("i3"), "{err}");
    assert!(err.contains("chỉ tiêu"), "bilingual: {err}");
    let shown = hub.json(&["plan", "show"]);
    assert!(shown["targets"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t["indicator"] == "i2_share" && t["threshold_bp"] == 6000));
}

#[test]
fn plan_show_json_gives_each_targets_covers() {
    let dir = tempfile::tempdir().unwrap();
    let plan = plan_file(
        dir.path(),
        "plan.toml",
        &[
            target("i1", "[\"trade-centre\", \"supermarket\"]", 0.85),
            target(
                "i1_cs",
                "[\"supermarket\", \"trade-centre\", \"convenience\"]",
                0.8,
            ),
            target("i2", "[\"civilized\"]", 0.4),
            target("i3", "[\"new-rural\"]", 0.2),
            target("i4", "[\"districts\"]", 0.7),
            target("coverage", "[\"facilities\"]", 0.9),
        ]
        .concat(),
    );
    let hub = Hub::start_with(&["--plan", &plan]);
    let office = hub.enroll_agent("30226");
    let want = [
        ("i1", vec!["supermarket", "trade-centre"]),
        ("i1_cs", vec!["convenience", "supermarket", "trade-centre"]),
        ("i2", vec!["civilized"]),
        ("i3", vec!["new-rural"]),
        ("i4", vec!["districts"]),
        ("coverage", vec!["facilities"]),
    ];
    for (who, shown) in [
        ("plan show --json", hub.json(&["plan", "show"])),
        ("the office's plan --json", office.json(&["plan"])),
    ] {
        let targets = shown["targets"].as_array().unwrap();
        assert_eq!(targets.len(), want.len(), "{who}: {shown}");
        for (id, covers) in &want {
            let t = targets
                .iter()
                .find(|t| t["indicator"] == *id)
                .unwrap_or_else(|| panic!("{who}: no {id} target"));
            let mut got: Vec<&str> = t["covers"]
                .as_array()
                .unwrap_or_else(|| panic!("{who}: {id} has no covers: {t}"))
                .iter()
                .map(|c| c.as_str().unwrap())
                .collect();
            got.sort_unstable();
            assert_eq!(&got, covers, "{who}: {id}");
        }
    }
}
