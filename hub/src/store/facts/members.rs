//! A survey cell's members, kept as one value per cell (`i 1 S outlet year status` → [`Members`]):
//! the older layout kept one key per member (`i 1 S outlet year status record`, an 86-byte key per
//! survey), the largest part of the hub's disk per entry after the log (issue 13 goal 3).
//!
//! The value is a function of the set of members (sorted by record, each author once in a table), so
//! a merge, a rebuild and `verify`'s replay write the same bytes. A merge changes it read-modify-write
//! in its overlay, under the hub's merge lock, in the same atomic batch as the records ([`Cache`]).
//! A store of the older layout is converted at open ([`convert`]): whole cells per atomic batch, then
//! meta `facts_members`; a crash between batches leaves converted cells (their 46-byte keys) and
//! older ones (86-byte keys), and the next open converts the rest.

use baobi_proto::facts::{SurveyKey, SurveyMember};
use baobi_proto::indicators::{Reading, Survey};

use super::*;
use crate::store::repack;

/// The meta key set once every survey cell's members are one value.
pub const META_MEMBERS: &str = "facts_members";

/// Older member keys converted per atomic batch at open (whole cells, so a batch may hold more).
const CONVERT_BATCH: usize = 20_000;

/// The length of a members key (`i 1 S` outlet year status).
pub(super) const CELL_KEY: usize = 3 + 40 + 2 + 1;

/// The members of one survey cell, by record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Members(pub BTreeMap<Dot, SurveyMember>);

/// The first byte of a value that keeps its communes in a table ([`StoredUnits`]); an older value
/// ([`Stored`]) starts with its count of authors, at least one.
const UNITS: u8 = 0;

/// The meta key set once every members value keeps its communes in a table.
pub const META_MEMBER_UNITS: &str = "facts_members_units";

/// One member as the value keeps it (its outlet, year and status are the cell's key).
#[derive(Encode, Decode)]
struct Packed<U> {
    /// Its record's author, an index into the value's authors.
    author: u32,
    /// Its record's seq.
    seq: u64,
    /// Its commune: an index into the value's communes (in an older value, the code itself).
    unit: U,
    date: Date,
    hlc: Hlc,
    /// `hlc - first_hlc`, wrapping (exact both ways): one byte for a survey never corrected.
    first_back: u64,
    reading: Reading,
}

impl<U> Packed<U> {
    fn with_unit<V>(self, unit: V) -> Packed<V> {
        Packed {
            author: self.author,
            seq: self.seq,
            unit,
            date: self.date,
            hlc: self.hlc,
            first_back: self.first_back,
            reading: self.reading,
        }
    }
}

/// The value of a members key, older: each member's commune spelled out.
#[derive(Encode, Decode)]
struct Stored {
    /// The authors of the members' records, ascending, each once.
    authors: Vec<AuthorId>,
    /// The members, in record order.
    members: Vec<Packed<String>>,
}

/// The value of a members key after the byte [`UNITS`].
#[derive(Encode, Decode)]
struct StoredUnits {
    /// The authors of the members' records, ascending, each once.
    authors: Vec<AuthorId>,
    /// The communes the members record, ascending, each once (one, nearly always).
    units: Vec<String>,
    /// The members, in record order.
    members: Vec<Packed<u32>>,
}

impl Members {
    /// Decodes a members value.
    pub fn decode(v: &[u8]) -> Result<Members> {
        let (authors, members) = match v.split_first() {
            Some((&UNITS, rest)) => {
                let s: StoredUnits = dec("survey members", rest)?;
                let members = s
                    .members
                    .into_iter()
                    .map(|p| {
                        let unit = repack::at("survey members", "commune", &s.units, p.unit)?;
                        Ok(p.with_unit(unit))
                    })
                    .collect::<Result<Vec<_>>>()?;
                (s.authors, members)
            }
            _ => {
                let s: Stored = dec("survey members", v)?;
                (s.authors, s.members)
            }
        };
        let mut out = BTreeMap::new();
        for p in members {
            let author = repack::at("survey members", "author", &authors, p.author)?;
            out.insert(
                Dot { author, seq: p.seq },
                SurveyMember {
                    unit: p.unit,
                    date: p.date,
                    hlc: p.hlc,
                    first_hlc: Hlc(p.hlc.0.wrapping_sub(p.first_back)),
                    reading: p.reading,
                },
            );
        }
        Ok(Members(out))
    }

    /// Encodes it as the value of its key.
    pub fn encode(&self) -> Vec<u8> {
        let units = repack::table(self.0.values().map(|m| m.unit.clone()));
        let mut authors: Vec<AuthorId> = vec![];
        let mut members = Vec::with_capacity(self.0.len());
        for (d, m) in &self.0 {
            // Records in order: an author's records are contiguous, so its index is the last one.
            if authors.last() != Some(&d.author) {
                authors.push(d.author);
            }
            members.push(Packed {
                author: (authors.len() - 1) as u32,
                seq: d.seq,
                unit: units.binary_search(&m.unit).map_or(0, |i| i as u32),
                date: m.date,
                hlc: m.hlc,
                first_back: m.hlc.0.wrapping_sub(m.first_hlc.0),
                reading: m.reading,
            });
        }
        let mut v = vec![UNITS];
        v.extend_from_slice(&wire::encode(&StoredUnits {
            authors,
            units,
            members,
        }));
        v
    }

    /// The members as surveys of cell `key`.
    pub fn into_surveys(self, key: &SurveyKey) -> Result<Vec<Survey>> {
        self.0
            .into_iter()
            .map(|(record, m)| {
                m.survey(key, record)
                    .ok_or_else(|| Error::Corrupt(format!("survey cell status byte {}", key.2)))
            })
            .collect()
    }
}

/// The members of the cells one overlay changes: each read once through it, changed in memory,
/// written back into it before its commit ([`Cache::write`]).
#[derive(Default)]
pub(super) struct Cache {
    cells: BTreeMap<SurveyKey, (Members, bool)>,
}

impl Cache {
    /// The members of cell `key` as the overlay holds them, for changing.
    pub(super) fn cell(&mut self, ov: &mut Overlay<'_>, key: &SurveyKey) -> Result<&mut Members> {
        if !self.cells.contains_key(key) {
            let m = match ov.get(&keys::survey_members(key)) {
                Some(v) => Members::decode(&v)?,
                None => match ov.err.take() {
                    Some(e) => return Err(e),
                    None => Members::default(),
                },
            };
            self.cells.insert(*key, (m, false));
        }
        let (m, dirty) = self.cells.get_mut(key).ok_or_else(|| bad(&[]))?;
        *dirty = true;
        Ok(m)
    }

    /// Writes the changed cells' members into the overlay (an empty cell's key removed).
    pub(super) fn write(self, ov: &mut Overlay<'_>) {
        for (key, (m, dirty)) in self.cells {
            if !dirty {
                continue;
            }
            let k = keys::survey_members(&key);
            if m.0.is_empty() {
                ov.del(k);
            } else {
                ov.put(k, m.encode());
            }
        }
    }
}

/// The members of cell `key` in `tree`.
pub(super) fn read(tree: &sled::Tree, key: &SurveyKey) -> Result<Members> {
    match tree.get(keys::survey_members(key))? {
        Some(v) => Members::decode(&v),
        None => Ok(Members::default()),
    }
}

/// Converts the older layout (one key per member) to one value per cell, whole cells per atomic
/// batch, then sets meta `facts_members` and flushes. Returns how many member keys were converted.
pub(crate) fn convert(db: &sled::Tree) -> Result<u64> {
    if db.get(keys::meta(META_MEMBERS))?.is_some() {
        return Ok(0);
    }
    let prefix = [b'i', 1, b'S'];
    let mut from = prefix.to_vec();
    let mut total = 0u64;
    loop {
        // Cell key → its members (a value already converted, if any, then the older keys).
        let mut cells: BTreeMap<Vec<u8>, (Members, Vec<sled::IVec>)> = BTreeMap::new();
        let mut n = 0usize;
        let mut more = None;
        for kv in db.range(from.clone()..) {
            let (k, v) = kv?;
            if !k.starts_with(&prefix) {
                break;
            }
            let cell = k.get(..CELL_KEY).ok_or_else(|| bad(&k))?;
            if n >= CONVERT_BATCH && !cells.contains_key(cell) {
                more = Some(cell.to_vec());
                break;
            }
            let (members, olds) = cells.entry(cell.to_vec()).or_default();
            match k.len() {
                CELL_KEY => {
                    for (d, m) in Members::decode(&v)?.0 {
                        members.0.insert(d, m);
                    }
                }
                l if l == CELL_KEY + 40 => {
                    let record = dot_at(&k[CELL_KEY..]).ok_or_else(|| bad(&k))?;
                    members.0.insert(record, dec("survey member", &v)?);
                    olds.push(k);
                    n += 1;
                }
                _ => return Err(bad(&k)),
            }
        }
        let mut b = sled::Batch::default();
        for (cell, (members, olds)) in cells {
            if olds.is_empty() {
                continue;
            }
            for k in olds {
                b.remove(k);
            }
            b.insert(cell, members.encode());
        }
        db.apply_batch(b)?;
        total += n as u64;
        match more {
            Some(next) => from = next,
            None => break,
        }
    }
    db.insert(keys::meta(META_MEMBERS), &b"1"[..])?;
    db.flush()?;
    if total > 0 {
        tracing::info!(
            members = total,
            "survey members converted to one value per cell"
        );
    }
    Ok(total)
}

/// Rewrites every members value of the older encoding (communes spelled out per member) with its
/// communes in a table, at open (`store/repack.rs`, meta [`META_MEMBER_UNITS`]).
pub(crate) fn convert_units(db: &sled::Tree) -> Result<u64> {
    crate::store::repack::values(
        db,
        &[b'i', 1, b'S'],
        META_MEMBER_UNITS,
        "survey members",
        |_, v| {
            if v.first() == Some(&UNITS) {
                return Ok(None);
            }
            Ok(Some(Members::decode(v)?.encode()))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A members value in the older encoding (each member's commune spelled out).
    fn older(v: &[u8]) -> Vec<u8> {
        let s: StoredUnits = dec("m", &v[1..]).unwrap();
        wire::encode(&Stored {
            authors: s.authors,
            members: s
                .members
                .into_iter()
                .map(|p| {
                    let u = s.units[p.unit as usize].clone();
                    p.with_unit(u)
                })
                .collect(),
        })
    }

    #[test]
    fn a_store_of_the_older_member_encoding_is_converted_at_open() {
        let prefix = [b'i', 1, b'S'];
        crate::testkit::converted_at_open(
            &prefix,
            META_MEMBER_UNITS,
            9, // three outlets, three years, all submitted
            |k, v, b| b.insert(k, older(v)),
            |db| {
                crate::testkit::rewrite_first(db, &prefix, |_, v| {
                    Members::decode(v).unwrap().encode()
                })
            },
        );
    }

    #[test]
    fn members_round_trip_and_a_bad_author_index_is_corrupt() {
        let a = AuthorId([1; 32]);
        let b = AuthorId([2; 32]);
        let m = |h: u64, f: u64| SurveyMember {
            unit: "30226".into(),
            date: Date(20250301),
            hlc: Hlc(h),
            first_hlc: Hlc(f),
            reading: Reading::Market {
                nonbio_g: 12,
                baseline_round: false,
            },
        };
        let mut ms = Members::default();
        ms.0.insert(Dot { author: b, seq: 9 }, m(5, 5));
        ms.0.insert(Dot { author: a, seq: 3 }, m(7 << 40, 1 << 40));
        ms.0.insert(Dot { author: a, seq: 1 }, m(2, 9)); // first after current: still exact
        let mut other = m(3, 3);
        other.unit = "30229".into();
        ms.0.insert(Dot { author: b, seq: 2 }, other);
        let v = ms.encode();
        assert_eq!(v[0], UNITS);
        assert_eq!(Members::decode(&v).unwrap(), ms);
        let old = older(&v);
        assert_eq!(
            Members::decode(&old).unwrap(),
            ms,
            "the older encoding reads"
        );
        assert!(v.len() < old.len(), "{} vs {}", v.len(), old.len());
        let mut bad_unit = vec![UNITS];
        bad_unit.extend_from_slice(&wire::encode(&StoredUnits {
            authors: vec![a],
            units: vec![],
            members: vec![Packed {
                author: 0,
                seq: 1,
                unit: 0,
                date: Date(0),
                hlc: Hlc(0),
                first_back: 0,
                reading: Reading::Market {
                    nonbio_g: 0,
                    baseline_round: false,
                },
            }],
        }));
        assert!(matches!(Members::decode(&bad_unit), Err(Error::Corrupt(_))));
        let bad = wire::encode(&Stored {
            authors: vec![a],
            members: vec![Packed {
                author: 1,
                seq: 1,
                unit: String::new(),
                date: Date(0),
                hlc: Hlc(0),
                first_back: 0,
                reading: Reading::Market {
                    nonbio_g: 0,
                    baseline_round: false,
                },
            }],
        });
        assert!(matches!(Members::decode(&bad), Err(Error::Corrupt(_))));
    }

    #[test]
    fn a_store_of_the_older_member_layout_is_converted_at_open() {
        let prefix = [b'i', 1, b'S'];
        crate::testkit::converted_at_open(
            &prefix,
            META_MEMBERS,
            9, // three outlets, three years, all submitted
            |key, v, b| {
                // One key per member.
                assert_eq!(key.len(), CELL_KEY);
                for (record, m) in Members::decode(v).unwrap().0 {
                    let mut old = key.to_vec();
                    old.extend_from_slice(&record.author.0);
                    old.extend_from_slice(&record.seq.to_be_bytes());
                    b.insert(old, wire::encode(&m));
                }
                b.remove(key);
            },
            |db| {
                // The first cell converted by hand, as a batch before a crash would have.
                let first = db.scan_prefix(prefix).next().unwrap().unwrap().0;
                let cell = first[..CELL_KEY].to_vec();
                let mut ms = Members::default();
                let mut b = sled::Batch::default();
                for kv in db.scan_prefix(&cell) {
                    let (k, v) = kv.unwrap();
                    ms.0.insert(dot_at(&k[CELL_KEY..]).unwrap(), dec("m", &v).unwrap());
                    b.remove(k);
                }
                b.insert(cell, ms.encode());
                db.apply_batch(b).unwrap();
            },
        );
    }

    #[test]
    fn a_store_that_kept_survey_cells_has_them_removed_at_open() {
        let prefix = [b'i', 1, b'S'];
        crate::testkit::converted_at_open(
            &prefix,
            super::super::META_CELLS_DERIVED,
            9, // three outlets, three years, all submitted
            |k, v, b| {
                // Each cell beside its members, as its first plain encoding kept it.
                let key = survey_key_at(&k[3..]).unwrap();
                let cell = SurveyCell::of(&Members::decode(v).unwrap().into_surveys(&key).unwrap());
                b.insert(keys::survey_cell(&key), wire::encode(&(key, cell.unwrap())));
            },
            |db| {
                // The first cell removed, as a batch before a crash would have.
                let first = db.scan_prefix([b'i', 0, b'S']).next().unwrap().unwrap().0;
                db.remove(first).unwrap();
            },
        );
    }
}
