//! An office's jurisdiction across reorganisations: one rule, used by the agent before it signs and by
//! the hub when it checks, so both agree.
//!
//! A unit is its code and its validity period ([`UnitRef`]). An office holds unit versions (the one
//! it enrolled for, then successors the operator gives it); on a date when a held version is in force,
//! the office's jurisdiction is that unit and the units below it. On earlier dates it is the
//! predecessors of those units through the lineage (the hub lists them in [`OfficeUnits::past`]),
//! and a district or province of an earlier date is inside when every commune below it is. After a
//! held version ended, nothing of that version's later dates is inside: the successors are given by
//! `agents move`.

use std::collections::BTreeSet;

use crate::units::{day_before, in_force, Lineage, Units};
use crate::wire::{Date, Level, OfficeUnits, UnitDef, UnitRef};
use crate::Error;

/// The reference to `def`'s version.
pub fn unit_ref(def: &UnitDef) -> UnitRef {
    UnitRef {
        code: def.code.clone(),
        from: def.valid_from,
    }
}

impl Units {
    /// The version `r` names.
    pub fn version(&self, r: &UnitRef) -> Option<&UnitDef> {
        self.versions_of(&r.code)
            .iter()
            .find(|u| u.valid_from == r.from)
    }

    /// Every version of `code`, earliest first.
    pub fn versions(&self, code: &str) -> Vec<&UnitDef> {
        self.versions_of(code).iter().collect()
    }

    /// The name of `code` as in force on `date` (else its latest name, else the code).
    pub fn name_at(&self, code: &str, date: Date) -> String {
        self.at_or_latest(code, date)
            .map(|u| u.name.clone())
            .unwrap_or_else(|| code.to_string())
    }

    /// The names `code` had during `year`, in order, joined by " → " when the code meant more than
    /// one unit that year ("Thị trấn Gia Ray → Xã Xuân Lộc"); its latest name when none was in force.
    pub fn name_in_year(&self, code: &str, year: u16) -> String {
        let (first, last) = (
            Date(u32::from(year) * 10_000 + 101),
            Date(u32::from(year) * 10_000 + 1231),
        );
        let mut names: Vec<&str> = vec![];
        for v in self.versions(code) {
            let overlaps =
                v.valid_from.is_none_or(|f| f <= last) && v.valid_to.is_none_or(|t| t >= first);
            if overlaps && names.last() != Some(&v.name.as_str()) {
                names.push(&v.name);
            }
        }
        if names.is_empty() {
            self.name(code)
        } else {
            names.join(" → ")
        }
    }

    /// "Name (code)" of a version, with its validity when it is not open on both ends
    /// ("Thị trấn Gia Ray (26425, until 2025-06-30)").
    pub fn describe(&self, r: &UnitRef) -> String {
        let Some(u) = self.version(r) else {
            return r.code.clone();
        };
        format!("{} ({}{})", u.name, u.code, validity(u))
    }

    /// The version of `spec` an operator means: `CODE` is the version in force on `today` (else the
    /// latest), `CODE@YYYY-MM-DD` the version in force on that date.
    pub fn pick_version(&self, spec: &str, today: Date) -> Result<&UnitDef, Error> {
        let (code, date) = match spec.trim().split_once('@') {
            Some((c, d)) => (c.trim(), Some(Date::parse(d.trim())?)),
            None => (spec.trim(), None),
        };
        let field = |message: String| Error::Field {
            field: "unit".into(),
            message,
        };
        if self.latest(code).is_none() {
            return Err(field(format!(
                "không có đơn vị mã '{code}' / unknown unit code '{code}'"
            )));
        }
        match date {
            Some(d) => self.at(code, d).ok_or_else(|| {
                field(format!(
                    "đơn vị {code} không có hiệu lực ngày {d} / unit {code} is not in force on {d} \
                     (versions: {})",
                    self.versions(code)
                        .iter()
                        .map(|u| format!("{}{}", u.name, validity(u)))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            }),
            None => Ok(self
                .at_or_latest(code, today)
                .expect("a known code has a version")),
        }
    }

    /// True when `code`, as in force on `date`, is inside office `o`'s jurisdiction.
    pub fn office_holds(&self, o: &OfficeUnits, code: &str, date: Date) -> bool {
        match self.at(code, date) {
            Some(v) => self.holds_version(o, v, date, 0),
            None => false,
        }
    }

    /// True when some version of `code` lies inside `o` on some day it was in force (an outlet, which
    /// has no date of its own).
    pub fn office_holds_any(&self, o: &OfficeUnits, code: &str) -> bool {
        self.versions(code)
            .into_iter()
            .any(|v| self.office_holds(o, code, some_day(v)))
    }

    fn holds_version(&self, o: &OfficeUnits, v: &UnitDef, date: Date, depth: u8) -> bool {
        if depth > 4 {
            return false;
        }
        let held = o.units.iter().any(|h| {
            self.version(h)
                .is_some_and(|hv| in_force(hv, date) && self.is_within(&v.code, &h.code, date))
        });
        // `past` is sorted (the hub writes it so); a list from elsewhere is searched whole.
        let r = unit_ref(v);
        let in_past =
            o.past.binary_search(&r).is_ok() || (!o.past.is_sorted() && o.past.contains(&r));
        if held || in_past {
            return true;
        }
        if v.level == Level::Commune {
            return false;
        }
        let below = self.children(&v.code, date);
        !below.is_empty()
            && below
                .into_iter()
                .all(|c| self.holds_version(o, c, date, depth + 1))
    }

    /// "Xã Xuân Lộc (26425)", or several joined by ", ": the units an office holds.
    pub fn office_name(&self, o: &OfficeUnits) -> String {
        o.units
            .iter()
            .map(|r| match self.version(r) {
                Some(u) => format!("{} ({})", u.name, u.code),
                None => r.code.clone(),
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// Checks that commune `code` on `date` is inside `o`; the error names `field` and both units.
    pub fn check_office_commune(
        &self,
        field: &str,
        code: &str,
        o: &OfficeUnits,
        date: Date,
    ) -> Result<&UnitDef, Error> {
        let err = |message: String| Error::Field {
            field: field.into(),
            message,
        };
        let Some(u) = self.at(code, date) else {
            return Err(match self.latest(code) {
                // Outside on every date it existed: say so, rather than that it is not in force.
                Some(l) if !self.office_holds_any(o, code) => err(self.outside(l, o)),
                Some(l) => err(format!(
                    "{} ({code}) không có hiệu lực ngày {date} / is not in force on {date} ({})",
                    l.name,
                    validity(l).trim_start_matches(", ")
                )),
                None => err(format!(
                    "không có đơn vị mã '{code}' / unknown unit code '{code}'"
                )),
            });
        };
        if u.level != Level::Commune {
            return Err(err(format!(
                "{} ({code}) không phải xã, phường, thị trấn / is not a commune, ward or town",
                u.name
            )));
        }
        if !self.office_holds(o, code, date) {
            return Err(err(self.outside(u, o)));
        }
        Ok(u)
    }

    /// The refusal for `u` outside `o`, naming both.
    pub fn outside(&self, u: &UnitDef, o: &OfficeUnits) -> String {
        let office = self.office_name(o);
        format!(
            "{} ({}) nằm ngoài địa bàn của văn phòng này ({office}) / is outside this office's \
             jurisdiction ({office})",
            u.name, u.code
        )
    }

    /// Resolves the commune an office means by code or name (case-insensitive, with or without its
    /// kind): a version inside `o`, the one in force on `today` first, else the latest such.
    pub fn resolve_office_commune(
        &self,
        field: &str,
        code_or_name: &str,
        o: &OfficeUnits,
        today: Date,
    ) -> Result<&UnitDef, Error> {
        let wanted = code_or_name.trim();
        let by_code = wanted.chars().all(|c| c.is_ascii_digit());
        let wanted_l = crate::validate::nfc(wanted).to_lowercase();
        let candidates: Vec<&UnitDef> = self
            .iter()
            .filter(|u| u.level == Level::Commune)
            .filter(|u| {
                if by_code {
                    u.code == wanted
                } else {
                    let n = u.name.to_lowercase();
                    n == wanted_l || strip_kind(&n) == wanted_l
                }
            })
            .collect();
        let inside: Vec<&UnitDef> = candidates
            .iter()
            .copied()
            .filter(|u| self.office_holds(o, &u.code, some_day(u)))
            .collect();
        let codes: BTreeSet<&str> = inside.iter().map(|u| u.code.as_str()).collect();
        if codes.len() > 1 {
            return Err(Error::Field {
                field: field.into(),
                message: format!(
                    "'{wanted}' chỉ nhiều xã / names several communes ({}); give the code",
                    codes.into_iter().collect::<Vec<_>>().join(", ")
                ),
            });
        }
        if let Some(u) = inside
            .iter()
            .find(|u| in_force(u, today))
            .or_else(|| inside.iter().max_by_key(|u| u.valid_from))
        {
            return Ok(u);
        }
        if by_code {
            // Not inside on any date: the check says why (unknown, not a commune, or outside).
            let date = self.at_or_latest(wanted, today).map_or(today, some_day);
            return self.check_office_commune(field, wanted, o, date);
        }
        Err(Error::Field {
            field: field.into(),
            message: match candidates.first() {
                Some(u) => self.outside(u, o),
                None => format!(
                    "không có xã tên '{wanted}' trong {} / no commune named '{wanted}' in {}",
                    self.office_name(o),
                    self.office_name(o)
                ),
            },
        })
    }
}

/// ", từ/from 2025-07-01", ", đến/until 2025-06-30", ", 2025-07-01 – 2026-12-31", or nothing.
pub fn validity(u: &UnitDef) -> String {
    match (u.valid_from, u.valid_to) {
        (None, None) => String::new(),
        (Some(f), None) => format!(", từ/from {f}"),
        (None, Some(t)) => format!(", đến/until {t}"),
        (Some(f), Some(t)) => format!(", {f} – {t}"),
    }
}

/// A day on which `u` is in force.
fn some_day(u: &UnitDef) -> Date {
    u.valid_to.or(u.valid_from).unwrap_or(Date(20250101))
}

fn strip_kind(name: &str) -> &str {
    for p in ["xã ", "phường ", "thị trấn ", "đặc khu "] {
        if let Some(rest) = name.strip_prefix(p) {
            return rest;
        }
    }
    name
}

/// The earlier units inside `held` through `lineage`: for each held version that started on some
/// day, the communes below it then, and their predecessors (rows into them on that day), recursively
/// for earlier reorganisations. When the lineage says nothing about a commune, the version of the
/// same code that ended the day before is its predecessor (the code was kept).
pub fn past_units(units: &Units, lineage: &Lineage, held: &[UnitRef]) -> Vec<UnitRef> {
    let mut out = BTreeSet::new();
    let mut todo: Vec<UnitRef> = held.to_vec();
    let mut seen = BTreeSet::new();
    while let Some(r) = todo.pop() {
        if !seen.insert(r.clone()) || seen.len() > 100_000 {
            continue;
        }
        let Some(v) = units.version(&r) else { continue };
        let Some(start) = v.valid_from else { continue };
        let communes: Vec<&UnitDef> = if v.level == Level::Commune {
            vec![v]
        } else {
            units
                .iter()
                .filter(|u| u.level == Level::Commune && in_force(u, start))
                .filter(|u| units.is_within(&u.code, &v.code, start))
                .collect()
        };
        let before = day_before(start);
        for c in communes {
            let rows = lineage.predecessors(&c.code, start);
            let olds: Vec<&str> = if rows.is_empty() {
                vec![c.code.as_str()]
            } else {
                rows.iter().map(|r| r.old.as_str()).collect()
            };
            for old in olds {
                if let Some(ov) = units.at(old, before) {
                    let p = unit_ref(ov);
                    out.insert(p.clone());
                    todo.push(p);
                }
            }
        }
    }
    out.into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::units::LineageRow;
    use crate::AuthorId;

    fn unit(code: &str, name: &str, level: Level, parent: Option<&str>, new: bool) -> UnitDef {
        let (from, to) = if new {
            (Some(Date(20250701)), None)
        } else {
            (None, Some(Date(20250630)))
        };
        UnitDef {
            code: code.into(),
            name: name.into(),
            level,
            kind: String::new(),
            parent: parent.map(Into::into),
            valid_from: from,
            valid_to: to,
        }
    }

    /// Part of Đồng Nai before and after the reform, as in hub/units/seed-*.csv.
    fn dong_nai() -> (Units, Lineage) {
        let mut u = Units::new();
        let c = Level::Commune;
        u.insert(unit("75", "Tỉnh Đồng Nai", Level::Province, None, false));
        u.insert(unit(
            "741",
            "Huyện Xuân Lộc",
            Level::District,
            Some("75"),
            false,
        ));
        u.insert(unit("26425", "Thị trấn Gia Ray", c, Some("741"), false));
        u.insert(unit("26431", "Xã Suối Cao", c, Some("741"), false));
        u.insert(unit("26437", "Xã Xuân Thọ", c, Some("741"), false));
        u.insert(unit("75", "Tỉnh Đồng Nai", Level::Province, None, true));
        u.insert(unit("26425", "Xã Xuân Lộc", c, Some("75"), true));
        u.insert(unit("26434", "Xã Xuân Thành", c, Some("75"), true));
        let row = |old: &str, new: &str| LineageRow {
            old: old.into(),
            new: new.into(),
            whole: true,
            date: Date(20250701),
        };
        let l = Lineage::new(vec![
            row("26425", "26425"),
            row("26437", "26425"),
            row("26431", "26434"),
        ]);
        (u, l)
    }

    fn office(u: &Units, l: &Lineage, held: &[&str]) -> OfficeUnits {
        let units: Vec<UnitRef> = held
            .iter()
            .map(|s| unit_ref(u.pick_version(s, Date(20261201)).unwrap()))
            .collect();
        OfficeUnits {
            office: AuthorId([7; 32]),
            past: past_units(u, l, &units),
            units,
        }
    }

    #[test]
    fn a_new_commune_holds_its_predecessors_and_not_its_neighbours() {
        let (u, l) = dong_nai();
        let o = office(&u, &l, &["26425"]);
        assert_eq!(u.office_name(&o), "Xã Xuân Lộc (26425)");
        let (before, after) = (Date(20250310), Date(20251001));
        assert!(u.office_holds(&o, "26425", before));
        assert!(u.office_holds(&o, "26425", after));
        assert!(u.office_holds(&o, "26437", before));
        assert!(!u.office_holds(&o, "26431", before));
        assert!(
            !u.office_holds(&o, "741", before),
            "not all of the district"
        );
        let e = u
            .check_office_commune("outlet", "26431", &o, after)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("Xã Suối Cao (26431)")
                && e.contains("outside this office's jurisdiction (Xã Xuân Lộc (26425))")
                && e.contains("nằm ngoài địa bàn"),
            "{e}"
        );
        assert_eq!(
            u.resolve_office_commune("commune", "Xuân Thọ", &o, after)
                .unwrap()
                .name,
            "Xã Xuân Thọ"
        );
        assert!(u
            .resolve_office_commune("commune", "26431", &o, after)
            .unwrap_err()
            .to_string()
            .contains("outside this office's jurisdiction"));
        // The province of after the reform holds the whole old district, through its communes.
        let p = office(&u, &l, &["75"]);
        assert!(u.office_holds(&p, "741", before));
        assert!(u.office_holds(&p, "75", before));
    }

    #[test]
    fn an_ended_district_keeps_its_past_only() {
        let (u, l) = dong_nai();
        let d = office(&u, &l, &["741"]);
        assert_eq!(
            u.describe(&d.units[0]),
            "Huyện Xuân Lộc (741, đến/until 2025-06-30)"
        );
        assert!(u.office_holds(&d, "26431", Date(20250310)));
        assert!(!u.office_holds(&d, "26425", Date(20251001)));
        let moved = office(&u, &l, &["741", "26425"]);
        assert!(u.office_holds(&moved, "26425", Date(20251001)));
        assert!(u.office_holds(&moved, "26431", Date(20250310)));
        assert_eq!(
            u.pick_version("26425@2025-03-01", Date(20261201))
                .unwrap()
                .name,
            "Thị trấn Gia Ray"
        );
        assert!(u.pick_version("26434@2025-03-01", Date(20261201)).is_err());
        assert!(u.pick_version("99999", Date(20261201)).is_err());
        assert_eq!(
            u.name_in_year("26425", 2025),
            "Thị trấn Gia Ray → Xã Xuân Lộc"
        );
        assert_eq!(u.name_in_year("26425", 2024), "Thị trấn Gia Ray");
        assert_eq!(u.name_in_year("26425", 2026), "Xã Xuân Lộc");
    }
}
