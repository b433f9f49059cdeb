//! Reads the administrative-units CSV the hub is initialised with and keeps one province's subtree.
//!
//! Units are data, not code: a file lists every unit version with its validity dates. A bad line is
//! reported with its line number so an operator can fix the file; nothing is half-loaded.

use std::collections::BTreeSet;

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
