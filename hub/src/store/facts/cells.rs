//! The value of a survey cell key (`i 0 S outlet year status` → its [`SurveyCell`]), packed: the
//! older value was the plain encoding of the cell's key and the cell, which spelled out the key's
//! outlet and year again and kept each of its up to four picks whole, a 32-byte author each
//! (issue 13 goal 3).
//!
//! A packed value is a 0 byte, then the cell's distinct picks in order, each with its record's author
//! left out when it is the outlet's, and the cell's picks as indexes into them. An older value starts
//! with the encoding of its own key, which a packed one cannot (its first byte is 0, its second the
//! count of picks, one to four; an encoded key starts with the outlet's 32-byte author), so both are
//! read; [`convert`] packs the older ones at open, keys per atomic batch, then meta [`META_CELLS`].
//! The value is a function of the cell, so a merge, a rebuild and `verify`'s replay write the same
//! bytes.

use baobi_proto::facts::Pick;
use baobi_proto::indicators::Reading;

use super::*;

/// The meta key set once every survey cell value is packed.
pub const META_CELLS: &str = "facts_cells_packed";

/// The first byte of a packed value.
const PACKED: u8 = 0;

/// A pick as the value keeps it.
#[derive(Encode, Decode)]
struct PackedPick {
    date: Date,
    hlc: Hlc,
    /// The record's author when it is not the outlet's.
    author: Option<AuthorId>,
    seq: u64,
    reading: Reading,
}

/// The value after its first byte.
#[derive(Encode, Decode)]
struct Stored {
    /// The cell's distinct picks, by order.
    picks: Vec<PackedPick>,
    count: u32,
    /// Indexes into `picks`.
    first: u8,
    first_baseline: Option<u8>,
    last: u8,
    second: Option<u8>,
    /// The dates when they are not the first's and the last's.
    min_date: Option<Date>,
    max_date: Option<Date>,
}

/// The value of survey cell `key`.
pub fn encode(key: &SurveyKey, c: &SurveyCell) -> Vec<u8> {
    let mut picks: Vec<Pick> = [Some(c.first), c.first_baseline, Some(c.last), c.second]
        .into_iter()
        .flatten()
        .collect();
    picks.sort_by_key(|p| p.order());
    picks.dedup();
    let at = |p: &Pick| picks.iter().position(|x| x == p).unwrap_or(0) as u8;
    let own = key.0.author;
    let s = Stored {
        count: c.count,
        first: at(&c.first),
        first_baseline: c.first_baseline.as_ref().map(at),
        last: at(&c.last),
        second: c.second.as_ref().map(at),
        min_date: (c.min_date != c.first.date).then_some(c.min_date),
        max_date: (c.max_date != c.last.date).then_some(c.max_date),
        picks: picks
            .iter()
            .map(|p| PackedPick {
                date: p.date,
                hlc: p.hlc,
                author: (p.record.author != own).then_some(p.record.author),
                seq: p.record.seq,
                reading: p.reading,
            })
            .collect(),
    };
    let mut v = vec![PACKED];
    v.extend_from_slice(&wire::encode(&s));
    v
}

/// True when `v` is of the older encoding (it starts with its key's).
fn older(key: &SurveyKey, v: &[u8]) -> bool {
    v.starts_with(&wire::encode(key))
}

/// The survey cell `key` from its value, packed or of the older encoding.
pub fn decode(key: &SurveyKey, v: &[u8]) -> Result<SurveyCell> {
    if older(key, v) {
        return Ok(dec::<(SurveyKey, SurveyCell)>("survey cell", v)?.1);
    }
    let corrupt = |what: &str| Error::Corrupt(format!("survey cell: {what}"));
    let Some((&PACKED, rest)) = v.split_first() else {
        return Err(corrupt("unknown encoding"));
    };
    let s: Stored = dec("survey cell", rest)?;
    let picks: Vec<Pick> = s
        .picks
        .into_iter()
        .map(|p| Pick {
            date: p.date,
            hlc: p.hlc,
            record: Dot {
                author: p.author.unwrap_or(key.0.author),
                seq: p.seq,
            },
            reading: p.reading,
        })
        .collect();
    let pick = |i: u8| {
        picks
            .get(usize::from(i))
            .copied()
            .ok_or_else(|| corrupt(&format!("pick {i} of {}", picks.len())))
    };
    let first = pick(s.first)?;
    let last = pick(s.last)?;
    Ok(SurveyCell {
        count: s.count,
        first,
        first_baseline: s.first_baseline.map(pick).transpose()?,
        last,
        second: s.second.map(pick).transpose()?,
        min_date: s.min_date.unwrap_or(first.date),
        max_date: s.max_date.unwrap_or(last.date),
    })
}

/// Packs every survey cell value of the older encoding at open (`store/repack.rs`, meta
/// [`META_CELLS`]).
pub(crate) fn convert(db: &sled::Tree) -> Result<u64> {
    let prefix = [b'i', 0, b'S'];
    crate::store::repack::values(db, &prefix, META_CELLS, "survey cells", |k, v| {
        let key = survey_key_at(&k[prefix.len()..]).ok_or_else(|| bad(k))?;
        if !older(&key, v) {
            return Ok(None);
        }
        Ok(Some(encode(&key, &decode(&key, v)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(author: AuthorId, seq: u64, date: u32, g: u32) -> Pick {
        Pick {
            date: Date(date),
            hlc: Hlc(u64::from(date) << 20),
            record: Dot { author, seq },
            reading: Reading::Market {
                nonbio_g: g,
                baseline_round: g.is_multiple_of(2),
            },
        }
    }

    #[test]
    fn cells_round_trip_in_either_encoding_and_a_bad_pick_index_is_corrupt() {
        let (a, b) = (AuthorId([0; 32]), AuthorId([9; 32]));
        let key: SurveyKey = (Dot { author: a, seq: 4 }, 2025, 1);
        let one = pick(a, 5, 20250301, 12);
        let single = SurveyCell {
            count: 1,
            first: one,
            first_baseline: Some(one),
            last: one,
            second: None,
            min_date: one.date,
            max_date: one.date,
        };
        let (p2, p3) = (pick(b, 7, 20250401, 3), pick(a, 1 << 40, 20250901, 8));
        let many = SurveyCell {
            count: 6,
            first: one,
            first_baseline: Some(p3),
            last: p3,
            second: Some(p2),
            min_date: Date(20250101), // not the first's: kept
            max_date: p3.date,
        };
        for c in [&single, &many] {
            let v = encode(&key, c);
            assert_eq!(v[0], PACKED);
            assert!(!older(&key, &v));
            assert_eq!(&decode(&key, &v).unwrap(), c);
            let old = wire::encode(&(key, *c));
            assert!(older(&key, &old));
            assert_eq!(&decode(&key, &old).unwrap(), c);
            assert!(v.len() * 2 < old.len(), "{} vs {}", v.len(), old.len());
        }
        let mut bad = vec![PACKED];
        bad.extend_from_slice(&wire::encode(&Stored {
            picks: vec![],
            count: 1,
            first: 0,
            first_baseline: None,
            last: 0,
            second: None,
            min_date: None,
            max_date: None,
        }));
        assert!(matches!(decode(&key, &bad), Err(Error::Corrupt(_))));
        assert!(matches!(decode(&key, &[7, 1]), Err(Error::Corrupt(_))));
    }

    #[test]
    fn a_store_of_the_older_survey_cell_encoding_is_converted_at_open() {
        let key = |k: &[u8]| survey_key_at(&k[3..]).unwrap();
        crate::testkit::converted_at_open(
            &[b'i', 0, b'S'],
            META_CELLS,
            9, // three outlets, three years, all submitted
            |k, v, b| b.insert(k, wire::encode(&(key(k), decode(&key(k), v).unwrap()))),
            |db| {
                crate::testkit::rewrite_first(db, &[b'i', 0, b'S'], |k, v| {
                    encode(&key(k), &decode(&key(k), v).unwrap())
                })
            },
        );
    }
}
