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

    /// Every version of `code`, earliest first.
    pub fn versions_of(&self, code: &str) -> &[UnitDef] {
        self.by_code.get(code).map_or(&[], Vec::as_slice)
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

/// One row of a reform's lineage: the old commune `old` went wholly or partly into `new`, a unit in
/// force from `date` (the old one ended the day before).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LineageRow {
    /// Old unit code.
    pub old: String,
    /// New unit code.
    pub new: String,
    /// True when the whole old unit went into `new`; false when it was split.
    pub whole: bool,
    /// First day of the new unit.
    pub date: Date,
}

/// Where units went across reorganisations: old commune → new commune(s).
#[derive(Debug, Clone, Default)]
pub struct Lineage {
    rows: Vec<LineageRow>,
}

/// Where a unit, as recorded on some date, stands on the reference date.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Located {
    /// Codes of the units in force on the reference date (several for a district no longer in force:
    /// the successors of its communes).
    pub codes: Vec<String>,
    /// True when a split or merge made the choice ambiguous (the successor that kept the code, else
    /// the one with the lowest code, was taken).
    pub ambiguous: bool,
}

impl Lineage {
    /// A lineage from its rows.
    pub fn new(mut rows: Vec<LineageRow>) -> Self {
        rows.sort();
        rows.dedup();
        Lineage { rows }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Every row.
    pub fn rows(&self) -> &[LineageRow] {
        &self.rows
    }

    /// Rows out of `code` whose new unit starts after `ended` (the old version's last day), earliest
    /// reorganisation first.
    pub fn successors(&self, code: &str, ended: Date) -> Vec<&LineageRow> {
        let mut out: Vec<&LineageRow> = self
            .rows
            .iter()
            .filter(|r| r.old == code && r.date > ended)
            .collect();
        if let Some(first) = out.iter().map(|r| r.date).min() {
            out.retain(|r| r.date == first);
        }
        out
    }

    /// Rows into `code` for the version of it that starts on `started`.
    pub fn predecessors(&self, code: &str, started: Date) -> Vec<&LineageRow> {
        self.rows
            .iter()
            .filter(|r| r.new == code && r.date == started)
            .collect()
    }
}

/// Picks the row that keeps `code` when there is one, else the first; the flag says a choice was made.
fn pick<'a>(
    rows: &[&'a LineageRow],
    code: &str,
    keep: impl Fn(&LineageRow) -> &str,
) -> (Option<&'a LineageRow>, bool) {
    let chosen = rows
        .iter()
        .find(|r| keep(r) == code)
        .or_else(|| rows.first())
        .copied();
    (chosen, rows.len() > 1)
}

impl Units {
    /// The version of `code` in force on `date`, else the latest version.
    pub fn at_or_latest(&self, code: &str, date: Date) -> Option<&UnitDef> {
        self.at(code, date).or_else(|| self.latest(code))
    }

    /// Units whose parent is `code`, in force on `date`.
    pub fn children(&self, code: &str, date: Date) -> Vec<&UnitDef> {
        self.iter()
            .filter(|u| u.parent.as_deref() == Some(code) && in_force(u, date))
            .collect()
    }

    /// Where unit `code`, as in force on `date`, stands on `as_of`: itself when still in force, else
    /// its successors through `lineage` (a district or province no longer in force stands for the
    /// successors of its communes), or its predecessor when it started after `as_of`.
    pub fn locate(&self, lineage: &Lineage, code: &str, date: Date, as_of: Date) -> Located {
        let mut out = Located::default();
        self.locate_into(lineage, code, date, as_of, &mut out, 0);
        out.codes.sort();
        out.codes.dedup();
        out
    }

    fn locate_into(
        &self,
        lineage: &Lineage,
        code: &str,
        date: Date,
        as_of: Date,
        out: &mut Located,
        depth: u8,
    ) {
        if depth > 6 {
            return;
        }
        let Some(v) = self.at_or_latest(code, date) else {
            return;
        };
        if in_force(v, as_of) {
            out.codes.push(code.to_string());
            return;
        }
        match (v.valid_to, v.valid_from) {
            (Some(ended), _) if ended < as_of => {
                if v.level == Level::Commune {
                    let rows = lineage.successors(code, ended);
                    let (row, amb) = pick(&rows, code, |r| &r.new);
                    out.ambiguous |= amb;
                    if let Some(r) = row {
                        self.locate_into(lineage, &r.new, r.date, as_of, out, depth + 1);
                    }
                } else {
                    for c in self.children(code, ended) {
                        let c = c.code.clone();
                        self.locate_into(lineage, &c, ended, as_of, out, depth + 1);
                    }
                }
            }
            (_, Some(started)) if started > as_of => {
                let rows = lineage.predecessors(code, started);
                let (row, amb) = pick(&rows, code, |r| &r.old);
                out.ambiguous |= amb;
                if let Some(r) = row {
                    let before = day_before(started);
                    self.locate_into(lineage, &r.old, before, as_of, out, depth + 1);
                }
            }
            _ => {}
        }
    }

    /// The unit directly below `scope` (on `date`) that `code` lies in, `code` itself when its parent is
    /// `scope`; none when `code` is `scope` or outside it.
    pub fn child_of(&self, scope: &str, code: &str, date: Date) -> Option<String> {
        let mut cur = self.at(code, date)?;
        for _ in 0..8 {
            let parent = cur.parent.as_deref()?;
            if parent == scope {
                return Some(cur.code.clone());
            }
            cur = self.at(parent, date)?;
        }
        None
    }
}

/// The calendar day before `d`.
pub fn day_before(d: Date) -> Date {
    let (y, m, day) = (d.year() as i32, (d.0 / 100 % 100) as u8, (d.0 % 100) as u8);
    let Ok(month) = time::Month::try_from(m) else {
        return d;
    };
    match time::Date::from_calendar_date(y, month, day)
        .ok()
        .and_then(|t| t.previous_day())
    {
        Some(p) => {
            Date(p.year() as u32 * 10000 + u8::from(p.month()) as u32 * 100 + p.day() as u32)
        }
        None => d,
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
    fn units_are_located_on_the_reference_date_through_the_lineage() {
        let mut r = reg();
        let new = |code: &str, name: &str| UnitDef {
            code: code.into(),
            name: name.into(),
            level: Level::Commune,
            kind: String::new(),
            parent: Some("82".into()),
            valid_from: Some(Date(20250701)),
            valid_to: None,
        };
        r.insert(UnitDef {
            code: "82".into(),
            name: "Đồng Tháp".into(),
            level: Level::Province,
            kind: String::new(),
            parent: None,
            valid_from: Some(Date(20250701)),
            valid_to: None,
        });
        r.insert(new("30226", "Xã Lai Vung"));
        r.insert(new("30208", "Xã Hòa Long"));
        r.insert(new("29870", "Phường Mỹ Trà"));
        let row = |old: &str, new: &str, whole: bool| LineageRow {
            old: old.into(),
            new: new.into(),
            whole,
            date: Date(20250701),
        };
        // Tân Thành went whole into Xã Lai Vung; Thị trấn Lai Vung was split between Hòa Long (which
        // kept its code) and Lai Vung; Phường 11 was split between two communes that kept neither code.
        let l = Lineage::new(vec![
            row("30226", "30226", true),
            row("30208", "30226", false),
            row("30208", "30208", false),
            row("29869", "29870", false),
            row("29869", "30226", false),
        ]);
        let (before, after) = (Date(20250310), Date(20251231));
        let at = |code: &str, date: Date, as_of: Date| r.locate(&l, code, date, as_of);
        assert_eq!(at("30226", before, before).codes, ["30226"]);
        assert_eq!(at("30226", before, after).codes, ["30226"]);
        assert!(!at("30226", before, after).ambiguous);
        let split = at("30208", before, after);
        assert_eq!(
            (split.codes.as_slice(), split.ambiguous),
            (&["30208".to_string()][..], true)
        );
        // Neither successor kept the code: the one with the lowest code is taken.
        assert_eq!(at("29869", before, after).codes, ["29870"]);
        // A district no longer in force stands for its communes' successors.
        assert_eq!(at("876", before, after).codes, ["30208", "30226"]);
        // Backwards: a new commune on a date before it existed is its predecessor that kept the code.
        assert_eq!(at("30208", after, before).codes, ["30208"]);
        assert_eq!(r.child_of("876", "30226", before).as_deref(), Some("30226"));
        assert_eq!(r.child_of("87", "30226", before).as_deref(), Some("876"));
        assert_eq!(r.child_of("82", "30226", after).as_deref(), Some("30226"));
        assert_eq!(r.child_of("87", "30226", after), None);
        assert_eq!(day_before(Date(20250301)), Date(20250228));
        assert_eq!(day_before(Date(20250101)), Date(20241231));
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
