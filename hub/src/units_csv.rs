//! Reads the administrative-units CSV the hub is initialised with and keeps one province's subtree.
//!
//! Units are data, not code: a file lists every unit version with its validity dates. A bad line is
//! reported with its line number so an operator can fix the file; nothing is half-loaded.

use std::collections::BTreeSet;

use baobi_proto::units::LineageRow;
use baobi_proto::validate::nfc;
use baobi_proto::wire::{Date, Level, UnitDef};

use crate::{Error, Result};

/// The units file shipped with the hub (seed plans' provinces, before and after the 2025 reform).
pub const SEED_UNITS: &str = include_str!("../units/seed-units.csv");

const HEADER: [&str; 7] = [
    "code",
    "name",
    "level",
    "kind",
    "parent_code",
    "valid_from",
    "valid_to",
];

/// Parses a units CSV (lines starting with `#` are comments) into unit versions.
pub fn parse(text: &str) -> Result<Vec<UnitDef>> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| Error::Invalid(format!("units file: {e}")))?
        .clone();
    let got: Vec<&str> = header.iter().collect();
    if got != HEADER {
        return Err(Error::Invalid(format!(
            "units file: header is '{}', expected '{}'",
            got.join(","),
            HEADER.join(",")
        )));
    }
    let mut out = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| {
            let line = e.position().map(|p| p.line()).unwrap_or(0);
            Error::Invalid(format!("units file, line {line}: {e}"))
        })?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let bad = |msg: String| Error::Invalid(format!("units file, line {line}: {msg}"));
        let f = |i: usize| rec.get(i).unwrap_or("").to_string();
        let code = f(0);
        if code.is_empty() || !code.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(format!("code '{code}' is not a number")));
        }
        let name = nfc(&f(1));
        if name.is_empty() {
            return Err(bad("name is empty".into()));
        }
        let level = match f(2).as_str() {
            "province" => Level::Province,
            "district" => Level::District,
            "commune" => Level::Commune,
            other => {
                return Err(bad(format!(
                    "level '{other}' is not province, district or commune"
                )))
            }
        };
        let parent = Some(f(4)).filter(|p| !p.is_empty());
        if level != Level::Province && parent.is_none() {
            return Err(bad(format!("{name} ({code}) has no parent_code")));
        }
        let date = |i: usize, field: &str| -> Result<Option<Date>> {
            let s = f(i);
            if s.is_empty() {
                return Ok(None);
            }
            Date::parse(&s)
                .map(Some)
                .map_err(|_| bad(format!("{field} '{s}' is not a date (YYYY-MM-DD)")))
        };
        let valid_from = date(5, "valid_from")?;
        let valid_to = date(6, "valid_to")?;
        if let (Some(a), Some(b)) = (valid_from, valid_to) {
            if b < a {
                return Err(bad(format!("valid_to {b} is before valid_from {a}")));
            }
        }
        out.push(UnitDef {
            code,
            name,
            level,
            kind: nfc(&f(3)),
            parent,
            valid_from,
            valid_to,
        });
    }
    Ok(out)
}

/// Lineage of the seed provinces' communes across the 2025 reform.
pub const SEED_LINEAGE: &str = include_str!("../units/seed-lineage.csv");

const LINEAGE_HEADER: [&str; 6] = [
    "old_code", "old_name", "new_code", "new_name", "shares", "date",
];

/// Parses a lineage CSV (`old_code,old_name,new_code,new_name,shares,date`; `#` comments).
pub fn parse_lineage(text: &str) -> Result<Vec<LineageRow>> {
    let mut rdr = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let header = rdr
        .headers()
        .map_err(|e| Error::Invalid(format!("lineage file: {e}")))?
        .clone();
    let got: Vec<&str> = header.iter().collect();
    if got != LINEAGE_HEADER {
        return Err(Error::Invalid(format!(
            "lineage file: header is '{}', expected '{}'",
            got.join(","),
            LINEAGE_HEADER.join(",")
        )));
    }
    let mut out = vec![];
    for rec in rdr.records() {
        let rec = rec.map_err(|e| Error::Invalid(format!("lineage file: {e}")))?;
        let line = rec.position().map(|p| p.line()).unwrap_or(0);
        let bad = |msg: String| Error::Invalid(format!("lineage file, line {line}: {msg}"));
        let f = |i: usize| rec.get(i).unwrap_or("").to_string();
        let (old, new) = (f(0), f(2));
        if old.is_empty() || !old.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(format!("old_code '{old}' is not a number")));
        }
        if new.is_empty() || !new.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad(format!("new_code '{new}' is not a number")));
        }
        let whole = match f(4).as_str() {
            "whole" => true,
            "part" => false,
            other => return Err(bad(format!("shares '{other}' is not whole or part"))),
        };
        let date = Date::parse(&f(5)).map_err(|_| bad(format!("date '{}' is not a date", f(5))))?;
        out.push(LineageRow {
            old,
            new,
            whole,
            date,
        });
    }
    Ok(out)
}

/// Lineage rows as CSV text (names left empty), readable by [`parse_lineage`].
pub fn lineage_csv(rows: &[LineageRow]) -> String {
    let mut s = LINEAGE_HEADER.join(",");
    s.push('\n');
    for r in rows {
        s.push_str(&format!(
            "{},,{},,{},{}\n",
            r.old,
            r.new,
            if r.whole { "whole" } else { "part" },
            r.date
        ));
    }
    s
}

/// The province's subtree (see [`subtree`]) followed across reorganisations: the units its communes
/// went into (through `lineage`) and their ancestors are kept too, so a hub for old Đồng Tháp (87)
/// also holds the new communes of Đồng Tháp (82) that took over its communes. Returns the units and
/// the lineage rows that concern them.
pub fn subtree_with_successors(
    units: Vec<UnitDef>,
    lineage: &[LineageRow],
    province: &str,
) -> (Vec<UnitDef>, Vec<LineageRow>) {
    let mut kept = subtree(units.clone(), province);
    let key = |u: &UnitDef| (u.code.clone(), u.valid_from);
    let mut have: BTreeSet<(String, Option<Date>)> = kept.iter().map(key).collect();
    let mut rows = vec![];
    let mut todo: Vec<String> = kept
        .iter()
        .filter(|u| u.level == Level::Commune && u.valid_to.is_some())
        .map(|u| u.code.clone())
        .collect();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    while let Some(old) = todo.pop() {
        if !seen.insert(old.clone()) {
            continue;
        }
        for r in lineage.iter().filter(|r| r.old == old) {
            let Some(new) = units
                .iter()
                .find(|u| u.code == r.new && baobi_proto::units::in_force(u, r.date))
            else {
                continue;
            };
            rows.push(r.clone());
            // The successor and its ancestors on the day it started.
            let mut cur = Some(new.clone());
            while let Some(u) = cur {
                let parent = u.parent.clone();
                if have.insert(key(&u)) {
                    if u.level == Level::Commune && u.valid_to.is_some() {
                        todo.push(u.code.clone());
                    }
                    kept.push(u);
                }
                cur = parent.and_then(|p| {
                    units
                        .iter()
                        .find(|v| v.code == p && baobi_proto::units::in_force(v, r.date))
                        .cloned()
                });
            }
        }
    }
    (kept, rows)
}

/// Keeps the versions whose code is `province` or whose parent chain reaches it.
pub fn subtree(units: Vec<UnitDef>, province: &str) -> Vec<UnitDef> {
    let mut keep: Vec<bool> = units.iter().map(|u| u.code == province).collect();
    // Fixed point: a version is kept when its parent code is the code of a kept version.
    loop {
        let codes: BTreeSet<&str> = units
            .iter()
            .zip(&keep)
            .filter(|(_, k)| **k)
            .map(|(u, _)| u.code.as_str())
            .collect();
        let mut changed = false;
        for (i, u) in units.iter().enumerate() {
            if !keep[i] && u.parent.as_deref().is_some_and(|p| codes.contains(p)) {
                // The parent must be a version of the province's tree, not a reused code elsewhere:
                // the kept parent versions are all inside the province by construction.
                keep[i] = true;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    units
        .into_iter()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(u, _)| u)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_file_parses_and_keeps_the_province() {
        let all = parse(SEED_UNITS).unwrap();
        assert!(all.len() > 1000);
        let dt = subtree(all, "87");
        assert!(dt.iter().any(|u| u.code == "87"));
        let tt = dt.iter().find(|u| u.code == "30226").unwrap();
        assert_eq!(tt.name, "Xã Tân Thành");
        assert_eq!(tt.parent.as_deref(), Some("876"));
        // The post-reform reuse of 30226 under province 82 is not in 87's subtree.
        assert_eq!(dt.iter().filter(|u| u.code == "30226").count(), 1);
        assert!(dt.iter().all(|u| u.code != "82" && u.code != "20"));
    }

    #[test]
    fn seed_lineage_follows_old_dong_thap_into_the_new_province() {
        let all = parse(SEED_UNITS).unwrap();
        let lineage = parse_lineage(SEED_LINEAGE).unwrap();
        let (dt, rows) = subtree_with_successors(all, &lineage, "87");
        // The new province 82 and the 45 new communes that took over old Đồng Tháp's communes.
        assert!(dt
            .iter()
            .any(|u| u.code == "82" && u.level == Level::Province));
        let new_communes: BTreeSet<&str> = dt
            .iter()
            .filter(|u| u.level == Level::Commune && u.valid_from.is_some())
            .map(|u| u.code.as_str())
            .collect();
        assert_eq!(new_communes.len(), 45);
        // Thị trấn Lai Vung (30208) went into Xã Hòa Long (30208 after the reform).
        assert!(rows.iter().any(|r| r.old == "30208" && r.new == "30208"));
        // No pre-reform unit of Tiền Giang (old 82) comes along.
        assert!(!dt.iter().any(|u| u.code == "82" && u.valid_to.is_some()));
        let back = parse_lineage(&lineage_csv(&rows)).unwrap();
        assert_eq!(back, rows);
    }

    #[test]
    fn bad_line_is_named() {
        let text = "# comment\ncode,name,level,kind,parent_code,valid_from,valid_to\n\
                    87,Tỉnh Đồng Tháp,province,Tỉnh,,,2025-06-30\n\
                    876,Huyện Lai Vung,district,Huyện,87,,2025-13-30\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("line 4"), "{err}");
        assert!(err.contains("valid_to"), "{err}");
        let text = "code,name,level,kind,parent_code,valid_from,valid_to\n\
                    87,Tỉnh Đồng Tháp,state,Tỉnh,,,\n";
        let err = parse(text).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("state"), "{err}");
        assert!(parse("a,b\n1,2\n").is_err());
    }
}
