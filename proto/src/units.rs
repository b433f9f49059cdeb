//! Administrative units as data: lookups at a date, ancestry, and the jurisdiction rule.
//!
//! A code can mean different places on different dates (the 2025 reform reused codes), so a unit is
//! its code and its validity period, and every lookup names the date it is made for. Agents and the
//! hub both decide "is this unit inside that office's jurisdiction" here, so they agree.

use std::collections::BTreeMap;

use crate::wire::{Date, Level, UnitDef};
use crate::Error;

/// The units a replica knows, by code, each with its versions over time.
#[derive(Debug, Clone, Default)]
pub struct Units {
    by_code: BTreeMap<String, Vec<UnitDef>>,
}

impl Units {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces the version of `def.code` that starts on `def.valid_from`.
    pub fn insert(&mut self, def: UnitDef) {
        let versions = self.by_code.entry(def.code.clone()).or_default();
        versions.retain(|v| v.valid_from != def.valid_from);
        versions.push(def);
        versions.sort_by_key(|v| v.valid_from);
    }

    /// Number of unit versions held.
    pub fn len(&self) -> usize {
        self.by_code.values().map(Vec::len).sum()
    }

    /// True when no unit is known.
    pub fn is_empty(&self) -> bool {
        self.by_code.is_empty()
    }

    /// Every unit version, by code.
    pub fn iter(&self) -> impl Iterator<Item = &UnitDef> {
        self.by_code.values().flatten()
    }

    /// The version of `code` in force on `date`.
    pub fn at(&self, code: &str, date: Date) -> Option<&UnitDef> {
        self.by_code.get(code)?.iter().find(|u| in_force(u, date))
    }

    /// The latest version of `code`, whatever its dates (for display).
    pub fn latest(&self, code: &str) -> Option<&UnitDef> {
        self.by_code.get(code)?.last()
    }

    /// Display name of `code`, or the code itself when unknown.
    pub fn name(&self, code: &str) -> String {
        self.latest(code)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| code.to_string())
    }

    /// True when `code`, as in force on `date`, is `ancestor` or lies below it.
    pub fn is_within(&self, code: &str, ancestor: &str, date: Date) -> bool {
        let mut cur = self.at(code, date);
        for _ in 0..8 {
            let Some(u) = cur else { return false };
            if u.code == ancestor {
                return true;
            }
            cur = u.parent.as_deref().and_then(|p| self.at(p, date));
        }
        false
    }

    /// Checks that `code` is a commune in force on `date` inside `jurisdiction`; the error names `field`.
    pub fn check_commune(
        &self,
        field: &str,
        code: &str,
        jurisdiction: &str,
        date: Date,
    ) -> Result<&UnitDef, Error> {
        let Some(u) = self.at(code, date) else {
            return Err(Error::Field {
                field: field.into(),
                message: match self.latest(code) {
                    Some(u) => format!("{} ({code}) is not in force on {date}", u.name),
                    None => format!("unknown unit code '{code}'"),
                },
            });
        };
        if u.level != Level::Commune {
            return Err(Error::Field {
                field: field.into(),
                message: format!("{} ({code}) is not a commune, ward or town", u.name),
            });
        }
        if !self.is_within(code, jurisdiction, date) {
            return Err(Error::Field {
                field: field.into(),
                message: format!(
                    "{} ({code}) is outside this office's jurisdiction ({})",
                    u.name,
                    self.name(jurisdiction)
                ),
            });
        }
        Ok(u)
    }

    /// Resolves a commune given by code or by exact name (case-insensitive) within `jurisdiction`.
    pub fn resolve_commune(
        &self,
        field: &str,
        code_or_name: &str,
        jurisdiction: &str,
        date: Date,
    ) -> Result<&UnitDef, Error> {
        let wanted = code_or_name.trim();
        if wanted.chars().all(|c| c.is_ascii_digit()) {
            return self.check_commune(field, wanted, jurisdiction, date);
        }
        let wanted_l = crate::validate::nfc(wanted).to_lowercase();
        let matches: Vec<&UnitDef> = self
            .iter()
            .filter(|u| u.level == Level::Commune && in_force(u, date))
            .filter(|u| {
                let n = u.name.to_lowercase();
                n == wanted_l || strip_kind(&n) == wanted_l
            })
            .filter(|u| self.is_within(&u.code, jurisdiction, date))
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::Field {
                field: field.into(),
                message: format!(
                    "no commune named '{wanted}' in {} on {date}",
                    self.name(jurisdiction)
                ),
            }),
            many => Err(Error::Field {
                field: field.into(),
                message: format!(
                    "'{wanted}' names several communes ({}); give the code",
                    many.iter()
                        .map(|u| u.code.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }
}

fn strip_kind(name: &str) -> &str {
    for p in ["xã ", "phường ", "thị trấn ", "đặc khu "] {
        if let Some(rest) = name.strip_prefix(p) {
            return rest;
        }
    }
    name
}

/// True when `u` is in force on `date`.
pub fn in_force(u: &UnitDef, date: Date) -> bool {
    u.valid_from.is_none_or(|f| f <= date) && u.valid_to.is_none_or(|t| date <= t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(code: &str, name: &str, level: Level, parent: Option<&str>, to: Option<u32>) -> UnitDef {
        UnitDef {
            code: code.into(),
            name: name.into(),
            level,
            kind: String::new(),
            parent: parent.map(Into::into),
            valid_from: None,
            valid_to: to.map(Date),
        }
    }

    fn reg() -> Units {
        let mut r = Units::new();
        r.insert(u(
            "87",
            "Tỉnh Đồng Tháp",
            Level::Province,
            None,
            Some(20250630),
        ));
        r.insert(u(
            "876",
            "Huyện Lai Vung",
            Level::District,
            Some("87"),
            Some(20250630),
        ));
        r.insert(u(
            "30226",
            "Xã Tân Thành",
            Level::Commune,
            Some("876"),
            Some(20250630),
        ));
        r.insert(u(
            "30208",
            "Thị trấn Lai Vung",
            Level::Commune,
            Some("876"),
            Some(20250630),
        ));
        r.insert(u(
            "866",
            "Thành phố Cao Lãnh",
            Level::District,
            Some("87"),
            Some(20250630),
        ));
        r.insert(u(
            "29869",
            "Phường 11",
            Level::Commune,
            Some("866"),
            Some(20250630),
        ));
        r
    }

    #[test]
    fn jurisdiction_follows_parents_at_the_date() {
        let r = reg();
        let d = Date(20250310);
        assert!(r.is_within("30226", "876", d));
        assert!(r.is_within("30226", "87", d));
        assert!(r.is_within("30226", "30226", d));
        assert!(!r.is_within("29869", "876", d));
        // After the reform these units are no longer in force.
        assert!(!r.is_within("30226", "876", Date(20250701)));
        assert!(r.check_commune("commune", "29869", "876", d).is_err());
        assert!(r.check_commune("commune", "876", "87", d).is_err());
        assert!(r.check_commune("commune", "99999", "87", d).is_err());
        assert_eq!(
            r.check_commune("commune", "30226", "876", d).unwrap().name,
            "Xã Tân Thành"
        );
    }

    #[test]
    fn communes_resolve_by_name() {
        let r = reg();
        let d = Date(20250310);
        assert_eq!(
            r.resolve_commune("c", "Tân Thành", "876", d).unwrap().code,
            "30226"
        );
        assert_eq!(
            r.resolve_commune("c", "thị trấn lai vung", "87", d)
                .unwrap()
                .code,
            "30208"
        );
        assert!(r.resolve_commune("c", "Phường 11", "876", d).is_err());
    }
}
