//! The report cells of one year, commune and status kept as one value (`i 0 T year unit 0 status` →
//! [`Days`]: each date's [`ReportMember`]s). The older layout kept one key per date (`i 0 T year unit 0
//! date status` → the key again, the cell and its members): 68,206 keys at 100,000 entries, more than
//! half of the hub's keys, each a few bytes, and sled pays ~45 bytes of log per key besides its ~2.3×
//! per byte (issue 13 goal 3; measured in BENCHMARKS.md).
//!
//! A value is a 0 byte, then the dates (each as the difference from the one before), each with its
//! members' clocks (sorted, each as the difference from the one before) and which of them are
//! campaigns. The cells themselves ([`ReportCell`]) are computed from the members when the value is
//! read. The value is a function of the set of members, so a merge, a rebuild and `verify`'s replay
//! write the same bytes. A merge changes it read-modify-write once per overlay ([`Cache`]).
//!
//! A store of the older layout is converted at open ([`convert`]): whole (year, commune) groups per
//! atomic batch (their keys are contiguous), then meta [`META_REPORTS`]; a crash between batches leaves
//! converted groups and older ones, and the next open converts the rest.

use super::*;

/// The meta key set once every report cell is in its group's value.
pub const META_REPORTS: &str = "facts_report_groups";

/// The first byte of a value.
const PACKED: u8 = 0;

/// Older keys converted per atomic batch at open (whole groups, so a batch may hold more).
const CONVERT_BATCH: usize = 20_000;

/// A report cell as the older layout stored it: its key, the cell and its members (sorted).
type ReportValue = (ReportKey, ReportCell, Vec<ReportMember>);

/// A group: a year, the commune recorded and a status byte.
pub type Group = (u16, String, u8);

/// A group's members by date (no date without members).
pub type Days = BTreeMap<Date, Vec<ReportMember>>;

/// One date as the value keeps it.
#[derive(Encode, Decode)]
struct StoredDay {
    /// The date less the one before's (the first's whole).
    date: u32,
    /// Each member's clock less the one before's (the first's whole).
    firsts: Vec<u64>,
    /// The indexes of the members that are campaigns.
    campaigns: Vec<u32>,
}

/// The group of a report cell key.
pub fn group_of(key: &ReportKey) -> Group {
    (key.0, key.1.clone(), key.3)
}

/// The report cell key of `group` on `date`.
pub fn cell_key(group: &Group, date: Date) -> ReportKey {
    (group.0, group.1.clone(), date, group.2)
}

/// The value of a group holding `days`.
pub fn encode(days: &Days) -> Vec<u8> {
    let mut prev_date = 0u32;
    let stored: Vec<StoredDay> = days
        .iter()
        .map(|(date, members)| {
            let mut prev = 0u64;
            let d = StoredDay {
                date: date.0.wrapping_sub(prev_date),
                firsts: members
                    .iter()
                    .map(|m| {
                        let d = m.first.0.wrapping_sub(prev);
                        prev = m.first.0;
                        d
                    })
                    .collect(),
                campaigns: (0..members.len() as u32)
                    .filter(|i| members[*i as usize].campaign)
                    .collect(),
            };
            prev_date = date.0;
            d
        })
        .collect();
    let mut v = vec![PACKED];
    v.extend_from_slice(&wire::encode(&stored));
    v
}

/// A group's days from its value.
pub fn decode(v: &[u8]) -> Result<Days> {
    let corrupt = |what: String| Error::Corrupt(format!("report cells: {what}"));
    let Some((&PACKED, rest)) = v.split_first() else {
        return Err(corrupt("unknown encoding".into()));
    };
    let stored: Vec<StoredDay> = dec("report cells", rest)?;
    let mut days = Days::new();
    let mut date = 0u32;
    for (i, d) in stored.into_iter().enumerate() {
        let next = date.wrapping_add(d.date);
        if i > 0 && next <= date {
            return Err(corrupt("dates out of order".into()));
        }
        date = next;
        let mut prev = 0u64;
        let mut members: Vec<ReportMember> = d
            .firsts
            .iter()
            .map(|f| {
                prev = prev.wrapping_add(*f);
                ReportMember {
                    first: Hlc(prev),
                    campaign: false,
                }
            })
            .collect();
        for c in d.campaigns {
            let n = members.len();
            let m = members
                .get_mut(c as usize)
                .ok_or_else(|| corrupt(format!("campaign {c} of {n} members")))?;
            m.campaign = true;
        }
        if members.is_empty() || !members.is_sorted() {
            return Err(corrupt("members empty or out of order".into()));
        }
        days.insert(Date(date), members);
    }
    if days.is_empty() {
        return Err(corrupt("no date".into()));
    }
    Ok(days)
}

/// The report cells of a group's days.
pub fn cells(days: &Days) -> Vec<(Date, ReportCell)> {
    days.iter()
        .filter_map(|(d, m)| ReportCell::of(m).map(|c| (*d, c)))
        .collect()
}

/// The groups one overlay changes: each read once through it, changed in memory, written back into it
/// before its commit ([`Cache::write`]).
#[derive(Default)]
pub(super) struct Cache {
    groups: BTreeMap<Group, Days>,
}

impl Cache {
    /// The days of `group` as the overlay holds them, for changing.
    pub(super) fn group(&mut self, ov: &mut Overlay<'_>, group: &Group) -> Result<&mut Days> {
        if !self.groups.contains_key(group) {
            let k = keys::report_group(group.0, &group.1, group.2);
            let days = match ov.get(&k) {
                Some(v) => decode(&v)?,
                None => match ov.err.take() {
                    Some(e) => return Err(e),
                    None => Days::new(),
                },
            };
            self.groups.insert(group.clone(), days);
        }
        self.groups
            .get_mut(group)
            .ok_or_else(|| Error::Corrupt("report cache".into()))
    }

    /// Writes the groups into the overlay (an empty group's key removed).
    pub(super) fn write(self, ov: &mut Overlay<'_>) {
        for (g, days) in self.groups {
            let k = keys::report_group(g.0, &g.1, g.2);
            if days.is_empty() {
                ov.del(k);
            } else {
                ov.put(k, encode(&days));
            }
        }
    }
}

/// What follows `i 0 T` in a key: a group's (`year unit 0 status`) or, in the older layout, a cell's
/// (`year unit 0 date status`).
pub(super) enum KeyAt {
    Group(Group),
    Older(ReportKey),
}

pub(super) fn key_at(b: &[u8]) -> Option<KeyAt> {
    let year = u16::from_be_bytes(b.get(..2)?.try_into().ok()?);
    let end = 2 + b.get(2..)?.iter().position(|c| *c == 0)?;
    let unit = String::from_utf8(b.get(2..end)?.to_vec()).ok()?;
    match b.get(end + 1..)? {
        [status] => Some(KeyAt::Group((year, unit, *status))),
        [d0, d1, d2, d3, status] => Some(KeyAt::Older((
            year,
            unit,
            Date(u32::from_be_bytes([*d0, *d1, *d2, *d3])),
            *status,
        ))),
        _ => None,
    }
}

/// Moves every report cell of the older layout into its group's value, whole (year, commune) groups
/// per atomic batch, then sets meta [`META_REPORTS`] and flushes. Returns how many older keys were
/// converted.
pub(crate) fn convert(db: &sled::Tree) -> Result<u64> {
    if db.get(keys::meta(META_REPORTS))?.is_some() {
        return Ok(0);
    }
    let prefix = [b'i', 0, b'T'];
    let mut total = 0u64;
    let mut groups: BTreeMap<Group, Days> = BTreeMap::new();
    let mut olds: Vec<sled::IVec> = vec![];
    let mut current: Option<(u16, String)> = None;
    let flush = |groups: &mut BTreeMap<Group, Days>, olds: &mut Vec<sled::IVec>| -> Result<()> {
        let mut b = sled::Batch::default();
        for k in olds.drain(..) {
            b.remove(k);
        }
        for (g, days) in std::mem::take(groups) {
            b.insert(keys::report_group(g.0, &g.1, g.2), encode(&days));
        }
        db.apply_batch(b)?;
        Ok(())
    };
    for kv in db.scan_prefix(prefix) {
        let (k, v) = kv?;
        let at = key_at(&k[prefix.len()..]).ok_or_else(|| bad(&k))?;
        let (year, unit) = match &at {
            KeyAt::Group(g) => (g.0, g.1.clone()),
            KeyAt::Older(c) => (c.0, c.1.clone()),
        };
        if current.as_ref() != Some(&(year, unit.clone())) {
            if olds.len() >= CONVERT_BATCH {
                total += olds.len() as u64;
                flush(&mut groups, &mut olds)?;
            }
            current = Some((year, unit));
        }
        match at {
            KeyAt::Group(g) => {
                // A group already converted: what it holds joins what the older keys add.
                let days = groups.entry(g).or_default();
                for (d, m) in decode(&v)? {
                    days.entry(d).or_default().extend(m);
                }
            }
            KeyAt::Older(c) => {
                let (_, _, members) = dec::<ReportValue>("report cell", &v)?;
                groups
                    .entry(group_of(&c))
                    .or_default()
                    .entry(c.2)
                    .or_default()
                    .extend(members);
                olds.push(k);
            }
        }
    }
    for days in groups.values_mut() {
        for m in days.values_mut() {
            m.sort();
            m.dedup();
        }
    }
    // Groups without older keys are rewritten as they were (the same bytes).
    total += olds.len() as u64;
    flush(&mut groups, &mut olds)?;
    db.insert(keys::meta(META_REPORTS), &b"1"[..])?;
    db.flush()?;
    if total > 0 {
        tracing::info!(cells = total, "report cells moved into one value per group");
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_round_trip_and_bad_values_are_corrupt() {
        let m = |h: u64, campaign| ReportMember {
            first: Hlc(h),
            campaign,
        };
        let mut days = Days::new();
        days.insert(Date(20250301), vec![m(5, false), m(7 << 40, false)]);
        days.insert(
            Date(20251231),
            vec![m(7 << 40, false), m(7 << 40, true), m(u64::MAX, true)],
        );
        let v = encode(&days);
        assert_eq!(v[0], PACKED);
        assert_eq!(decode(&v).unwrap(), days);
        let c = cells(&days);
        assert_eq!(c.len(), 2);
        assert_eq!((c[1].1.surveys, c[1].1.campaigns), (1, 2));
        let packed = |s: Vec<StoredDay>| {
            let mut v = vec![PACKED];
            v.extend_from_slice(&wire::encode(&s));
            v
        };
        let day = |date, firsts: Vec<u64>, campaigns| StoredDay {
            date,
            firsts,
            campaigns,
        };
        for bad in [
            packed(vec![day(20250301, vec![1], vec![1])]),
            packed(vec![day(20250301, vec![], vec![])]),
            packed(vec![day(20250301, vec![9, u64::MAX], vec![])]),
            packed(vec![
                day(20250301, vec![1], vec![]),
                day(0, vec![1], vec![]),
            ]),
            packed(vec![]),
            vec![9],
        ] {
            assert!(matches!(decode(&bad), Err(Error::Corrupt(_))), "{bad:?}");
        }
    }

    #[test]
    fn a_store_of_the_older_report_cell_layout_is_converted_at_open() {
        crate::testkit::converted_at_open(
            &[b'i', 0, b'T'],
            META_REPORTS,
            3, // three years, all submitted, one commune
            |k, v, b| {
                let Some(KeyAt::Group(g)) = key_at(&k[3..]) else {
                    panic!("a group key");
                };
                for (date, members) in decode(v).unwrap() {
                    let key = cell_key(&g, date);
                    let cell = ReportCell::of(&members).unwrap();
                    b.insert(
                        keys::report_cell(&key),
                        wire::encode(&(key.clone(), cell, members)),
                    );
                }
                b.remove(k);
            },
            |db| {
                // One older cell moved into its group's value by hand, the rest left.
                let (k, v) = db.scan_prefix([b'i', 0, b'T']).next().unwrap().unwrap();
                let Some(KeyAt::Older(c)) = key_at(&k[3..]) else {
                    panic!("an older key");
                };
                let (_, _, members) = dec::<ReportValue>("report cell", &v).unwrap();
                let g = group_of(&c);
                let days: Days = [(c.2, members)].into_iter().collect();
                db.insert(keys::report_group(g.0, &g.1, g.2), encode(&days))
                    .unwrap();
                db.remove(k).unwrap();
            },
        );
    }
}
