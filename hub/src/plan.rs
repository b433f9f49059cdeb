//! Plans and targets as data: the TOML plan files (the four seed plans are embedded), their checks,
//! and the hub-signed `Op::Plan` entry that carries the plan in force down to every office.
//!
//! A file names each target's indicator, year, threshold (a fraction) and what it covers; the hub
//! turns it into a `wire::PlanDef` (thresholds in basis points) and refuses anything it cannot read
//! exactly, with the field named, before anything is written.

use baobi_proto::validate;
use baobi_proto::wire::{IndicatorId, Op, PlanDef, Target};
use serde::{Deserialize, Serialize};

use crate::store::Hub;
use crate::{Error, Result};

/// The seed plans shipped with the hub: (id, TOML text).
pub const BUILTIN: [(&str, &str); 4] = [
    (
        "dong-thap-2021",
        include_str!("../plans/dong-thap-2021.toml"),
    ),
    (
        "dong-nai-2022-2030",
        include_str!("../plans/dong-nai-2022-2030.toml"),
    ),
    (
        "quang-ngai-2021-2030",
        include_str!("../plans/quang-ngai-2021-2030.toml"),
    ),
    (
        "lang-son-2021-2030",
        include_str!("../plans/lang-son-2021-2030.toml"),
    ),
];

/// A plan file as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanFile {
    /// Short id, lowercase letters, digits and `-`.
    pub id: String,
    /// Official name (Vietnamese).
    pub name: String,
    /// English name.
    #[serde(default)]
    pub name_en: String,
    /// Province code.
    pub province: String,
    /// First and last reporting year.
    pub period: [u16; 2],
    /// Yearly deadline `MM-DD` (e.g. `12-10` for 10 December), absent when the plan sets none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
    /// The source document.
    #[serde(default)]
    pub source: String,
    /// Remarks.
    #[serde(default)]
    pub notes: Vec<String>,
    /// Targets.
    #[serde(default)]
    pub targets: Vec<TargetFile>,
}

/// One target as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetFile {
    /// Indicator id (`i1`, `i1_cs`, `i2`, `i2_share`, `i3`, `i3_share`, `i4`, `coverage`,
    /// `completeness`, `timeliness`).
    pub indicator: String,
    /// What it covers; checked against the indicator when given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub covers: Option<Vec<String>>,
    /// First year the threshold applies (until a later target of the same indicator).
    pub year: u16,
    /// Threshold, a fraction 0..1 with at most 4 decimals.
    pub threshold: f64,
}

/// What an indicator covers, in plan-file words; the first list is what `plan show` prints.
pub fn covers(id: IndicatorId) -> &'static [&'static [&'static str]] {
    id.covers()
}

fn bad(msg: impl std::fmt::Display) -> Error {
    Error::Invalid(format!("plan file: {msg}"))
}

/// Parses and checks a plan file.
pub fn parse(text: &str) -> Result<PlanDef> {
    let f: PlanFile = toml::from_str(text).map_err(|e| bad(e.to_string().trim_end()))?;
    from_file(f)
}

/// Turns a parsed file into a checked plan.
pub fn from_file(f: PlanFile) -> Result<PlanDef> {
    let deadline = match f.deadline.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            let parsed = s
                .split_once('-')
                .and_then(|(m, d)| Some((m.parse::<u8>().ok()?, d.parse::<u8>().ok()?)));
            match parsed {
                Some(md) if baobi_proto::wire::Date::from_ymd(2024, md.0, md.1).is_some() => {
                    Some(md)
                }
                _ => {
                    return Err(bad(format!(
                        "deadline: '{s}' is not a day of the year as MM-DD (e.g. 12-10 for 10 December)"
                    )))
                }
            }
        }
    };
    let mut targets = vec![];
    for t in &f.targets {
        let id = IndicatorId::parse(t.indicator.trim()).ok_or_else(|| {
            bad(format!(
                "targets: unknown indicator '{}' (known: {})",
                t.indicator,
                IndicatorId::ALL.map(|i| i.as_str()).join(", ")
            ))
        })?;
        let what = format!("targets ({} {})", id.as_str(), t.year);
        if !t.threshold.is_finite() || !(0.0..=1.0).contains(&t.threshold) {
            return Err(bad(format!(
                "{what}: threshold {} is outside 0..1 (write 85% as 0.85)",
                t.threshold
            )));
        }
        let bp = (t.threshold * 10_000.0).round();
        if (bp / 10_000.0 - t.threshold).abs() > 1e-9 {
            return Err(bad(format!(
                "{what}: threshold {} has more than 4 decimals",
                t.threshold
            )));
        }
        if let Some(c) = &t.covers {
            let mut got: Vec<&str> = c.iter().map(|s| s.trim()).collect();
            got.sort_unstable();
            let ok = covers(id).iter().any(|want| {
                let mut w = want.to_vec();
                w.sort_unstable();
                w == got
            });
            if !ok {
                return Err(bad(format!(
                    "{what}: covers [{}] does not fit {}, which covers [{}]",
                    c.join(", "),
                    id.as_str(),
                    covers(id)[0].join(", ")
                )));
            }
        }
        targets.push(Target {
            indicator: id,
            year: t.year,
            threshold_bp: bp as u16,
        });
    }
    targets.sort_by_key(|t| (t.indicator, t.year));
    let nfc = baobi_proto::validate::nfc;
    let def = PlanDef {
        id: f.id.trim().to_string(),
        name: nfc(f.name.trim()),
        name_en: nfc(f.name_en.trim()),
        province: f.province.trim().to_string(),
        period: (f.period[0], f.period[1]),
        deadline,
        source: nfc(f.source.trim()),
        targets,
        notes: f.notes.iter().map(|n| nfc(n.trim())).collect(),
    };
    validate::plan(&def).map_err(bad)?;
    Ok(def)
}

/// A plan back as a file (for `plan show --toml`, to edit and load again).
pub fn to_file(p: &PlanDef) -> PlanFile {
    PlanFile {
        id: p.id.clone(),
        name: p.name.clone(),
        name_en: p.name_en.clone(),
        province: p.province.clone(),
        period: [p.period.0, p.period.1],
        deadline: p.deadline.map(|(m, d)| format!("{m:02}-{d:02}")),
        source: p.source.clone(),
        notes: p.notes.clone(),
        targets: p
            .targets
            .iter()
            .map(|t| TargetFile {
                indicator: t.indicator.as_str().into(),
                covers: Some(
                    covers(t.indicator)[0]
                        .iter()
                        .map(|s| s.to_string())
                        .collect(),
                ),
                year: t.year,
                threshold: f64::from(t.threshold_bp) / 10_000.0,
            })
            .collect(),
    }
}

/// The plan as TOML text.
pub fn to_toml(p: &PlanDef) -> Result<String> {
    toml::to_string(&to_file(p)).map_err(|e| Error::Corrupt(format!("plan as TOML: {e}")))
}

/// The text of a built-in plan.
pub fn builtin(id: &str) -> Option<&'static str> {
    BUILTIN.iter().find(|(b, _)| *b == id).map(|(_, t)| *t)
}

/// Checks that `p` is for this hub's province (its code, or a province-level unit the hub holds, such
/// as the merged province after the 2025 reform).
pub fn check_province(hub: &Hub, p: &PlanDef) -> Result<()> {
    let ok = p.province == hub.province()
        || hub.with_units(|u| {
            u.iter()
                .any(|v| v.code == p.province && v.level == baobi_proto::wire::Level::Province)
        });
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "plan '{}' is for province {}, this hub serves {} / kế hoạch không thuộc tỉnh này",
            p.id,
            p.province,
            hub.province()
        )))
    }
}

/// Makes `p` the plan in force: a hub-signed entry that syncs down to every office.
pub fn set(hub: &Hub, p: PlanDef) -> Result<PlanDef> {
    validate::plan(&p).map_err(bad)?;
    check_province(hub, &p)?;
    hub.append_own(vec![Op::Plan(p.clone())])?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_plans_parse_with_their_targets() {
        for (id, text) in BUILTIN {
            let p = parse(text).unwrap_or_else(|e| panic!("{id}: {e}"));
            assert_eq!(p.id, id);
            assert!(!p.targets.is_empty(), "{id}");
        }
        let dt = parse(builtin("dong-thap-2021").unwrap()).unwrap();
        assert_eq!(dt.deadline, Some((12, 10)));
        let t = |id: IndicatorId| dt.targets.iter().find(|t| t.indicator == id).unwrap();
        assert_eq!(t(IndicatorId::I1Cs).threshold_bp, 8000);
        assert_eq!(t(IndicatorId::I2).threshold_bp, 4000);
        assert_eq!(t(IndicatorId::I3).threshold_bp, 2000);
        assert_eq!(t(IndicatorId::I4).threshold_bp, 7000);
        let dn = parse(builtin("dong-nai-2022-2030").unwrap()).unwrap();
        assert_eq!(dn.deadline, Some((12, 1)));
        let i1: Vec<(u16, u16)> = dn
            .targets
            .iter()
            .filter(|t| t.indicator == IndicatorId::I1)
            .map(|t| (t.year, t.threshold_bp))
            .collect();
        assert_eq!(i1, [(2025, 8500), (2030, 10_000)]);
        let ls = parse(builtin("lang-son-2021-2030").unwrap()).unwrap();
        assert_eq!(ls.deadline, None, "the Lạng Sơn seed sets no deadline");
    }

    #[test]
    fn bad_files_name_what_is_wrong() {
        let head = "id = \"x\"\nname = \"Kế hoạch\"\nprovince = \"87\"\nperiod = [2021, 2030]\n";
        let err = |extra: &str| parse(&format!("{head}{extra}")).unwrap_err().to_string();
        let e = err("[[targets]]\nindicator = \"i9\"\nyear = 2025\nthreshold = 0.5\n");
        assert!(e.contains("unknown indicator 'i9'"), "{e}");
        let e = err("[[targets]]\nindicator = \"i1\"\nyear = 2025\nthreshold = 85\n");
        assert!(e.contains("outside 0..1"), "{e}");
        let e = err("[[targets]]\nindicator = \"i1\"\nyear = 2025\nthreshold = 0.12345\n");
        assert!(e.contains("4 decimals"), "{e}");
        let e = err("deadline = \"12-32\"\n");
        assert!(e.contains("deadline"), "{e}");
        let e = err("[[targets]]\nindicator = \"i1\"\nyear = 2035\nthreshold = 0.5\n");
        assert!(e.contains("outside the plan's period"), "{e}");
        let e = err(
            "[[targets]]\nindicator = \"i1\"\ncovers = [\"convenience\"]\nyear = 2025\nthreshold = 0.5\n",
        );
        assert!(e.contains("covers"), "{e}");
        let e = err("colour = \"red\"\n");
        assert!(e.contains("colour"), "{e}");
        assert!(parse("not toml at all [").is_err());
        assert!(parse(&format!("{head}period = [2030, 2021]\n")).is_err());
    }

    #[test]
    fn a_plan_round_trips_through_toml() {
        let p = parse(builtin("dong-nai-2022-2030").unwrap()).unwrap();
        let text = to_toml(&p).unwrap();
        assert_eq!(parse(&text).unwrap(), p);
    }
}
