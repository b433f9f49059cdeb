//! The value of an outlet-year key (`o outlet year` → the facts of that outlet's surveys in that
//! year), packed: the older value was the facts' plain encoding, ~134 bytes per survey, which spelled
//! out the outlet and the year of the key and three 32-byte authors per survey; it was the largest
//! part of the hub's tree (123 of 329 bytes per entry, issue 13 goal 3).
//!
//! A packed value is a 0 byte (a plain list never starts with one: an empty list is never stored),
//! then the authors other than the outlet's and the communes, ascending, each once, then each fact
//! with its authors and commune as indexes (author 0: the outlet's) and the version that decides its order left out when it is the record's
//! own. The value is a function of the facts, so a merge, a rebuild and `verify`'s replay write the
//! same bytes. Values of the older encoding are read as they are and converted at open ([`convert`]).

use baobi_proto::wire::OutletKind;

use super::*;

/// The meta key set once every outlet-year value is packed.
pub const META: &str = "outlet_years_packed";

/// The first byte of a packed value.
const PACKED: u8 = 0;

/// The length of an outlet-year key (`o` author seq year).
const KEY: usize = 1 + 32 + 8 + 2;

/// The value after its first byte.
#[derive(Encode, Decode)]
struct Stored {
    /// The authors of the facts' dots other than the outlet's, ascending, each once.
    authors: Vec<AuthorId>,
    /// The communes the facts record, ascending, each once (one, nearly always).
    units: Vec<String>,
    /// The facts, in the order given (the view keeps them by [`Fact::order`]).
    facts: Vec<Packed>,
}

/// One fact as the value keeps it (its outlet and year are the key's).
#[derive(Encode, Decode)]
struct Packed {
    /// The record's author: 0 for the outlet's, else an index into [`Stored::authors`] plus one.
    author: u32,
    /// The record's seq.
    seq: u64,
    /// An index into [`Stored::units`].
    unit: u32,
    kind: OutletKind,
    /// `order.0`: the survey's date.
    date: Date,
    /// `order.1`: the clock of the version that stands.
    hlc: Hlc,
    /// `order.2` as (author, seq) when it is not the record itself (a correction stands).
    head: Option<(u32, u64)>,
    amount: u64,
    no_nonbio: bool,
}

fn index(outlet: &AuthorId, authors: &[AuthorId], a: &AuthorId) -> u32 {
    if a == outlet {
        return 0;
    }
    // Every author of the facts is in the table (built from them just before).
    authors.binary_search(a).map_or(0, |i| i as u32 + 1)
}

fn author_at(outlet: &AuthorId, authors: &[AuthorId], i: u32) -> Result<AuthorId> {
    if i == 0 {
        return Ok(*outlet);
    }
    super::repack::at("outlet-year", "author", authors, i - 1)
}

/// The value of outlet-year (`outlet`, `year`) holding `facts` (all of that outlet and year).
pub fn encode(outlet: &Dot, facts: &[Fact]) -> Vec<u8> {
    let own = &outlet.author;
    let authors: Vec<AuthorId> = super::repack::table(
        facts
            .iter()
            .flat_map(|f| [f.record.author, f.order.2.author])
            .filter(|a| a != own),
    );
    let units = super::repack::table(facts.iter().map(|f| f.unit.clone()));
    let facts = facts
        .iter()
        .map(|f| Packed {
            author: index(own, &authors, &f.record.author),
            seq: f.record.seq,
            unit: units.binary_search(&f.unit).map_or(0, |i| i as u32),
            kind: f.kind,
            date: f.order.0,
            hlc: f.order.1,
            head: (f.order.2 != f.record)
                .then(|| (index(own, &authors, &f.order.2.author), f.order.2.seq)),
            amount: f.amount,
            no_nonbio: f.no_nonbio,
        })
        .collect();
    let mut v = vec![PACKED];
    v.extend_from_slice(&wire::encode(&Stored {
        authors,
        units,
        facts,
    }));
    v
}

/// The facts of outlet-year (`outlet`, `year`) from its value, packed or of the older encoding.
pub fn decode(outlet: &Dot, year: u16, v: &[u8]) -> Result<Vec<Fact>> {
    let Some((&PACKED, rest)) = v.split_first() else {
        return dec("outlet-year", v);
    };
    let s: Stored = dec("outlet-year", rest)?;
    let own = &outlet.author;
    s.facts
        .into_iter()
        .map(|p| {
            let record = Dot {
                author: author_at(own, &s.authors, p.author)?,
                seq: p.seq,
            };
            let head = match p.head {
                Some((a, seq)) => Dot {
                    author: author_at(own, &s.authors, a)?,
                    seq,
                },
                None => record,
            };
            let unit = super::repack::at("outlet-year", "commune", &s.units, p.unit)?;
            Ok(Fact {
                record,
                outlet: *outlet,
                year,
                unit,
                kind: p.kind,
                order: (p.date, p.hlc, head),
                amount: p.amount,
                no_nonbio: p.no_nonbio,
            })
        })
        .collect()
}

/// The outlet and year of an outlet-year key.
fn key_parts(k: &[u8]) -> Result<(Dot, u16)> {
    let bad = || Error::Corrupt(format!("outlet-year key of {} bytes", k.len()));
    if k.len() != KEY {
        return Err(bad());
    }
    let author: [u8; 32] = k[1..33].try_into().map_err(|_| bad())?;
    let seq = u64::from_be_bytes(k[33..41].try_into().map_err(|_| bad())?);
    let year = u16::from_be_bytes(k[41..43].try_into().map_err(|_| bad())?);
    Ok((
        Dot {
            author: AuthorId(author),
            seq,
        },
        year,
    ))
}

/// Packs every outlet-year value of the older encoding at open ([`super::repack`], meta [`META`]).
pub(crate) fn convert(db: &sled::Tree) -> Result<u64> {
    super::repack::values(db, b"o", META, "outlet-years", |k, v| {
        if v.first() == Some(&PACKED) {
            return Ok(None);
        }
        let (outlet, year) = key_parts(k)?;
        Ok(Some(encode(&outlet, &decode(&outlet, year, v)?)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fact(outlet: Dot, record: Dot, head: Dot, amount: u64) -> Fact {
        Fact {
            record,
            outlet,
            year: 2025,
            unit: "30226".into(),
            kind: OutletKind::Supermarket,
            order: (Date(20250301), Hlc(7 << 40), head),
            amount,
            no_nonbio: amount == 0,
        }
    }

    #[test]
    fn values_round_trip_in_either_encoding_and_a_bad_author_index_is_corrupt() {
        let (a, b, c) = (AuthorId([1; 32]), AuthorId([2; 32]), AuthorId([3; 32]));
        let d = |author, seq| Dot { author, seq };
        let outlet = d(b, 4);
        let facts = vec![
            fact(outlet, d(b, 5), d(b, 5), 0),
            fact(outlet, d(c, 300), d(a, 9), 12), // another office's, corrected by a third
            fact(outlet, d(a, 1 << 40), d(b, 6), 1 << 50), // corrected by the outlet's office
        ];
        let v = encode(&outlet, &facts);
        assert_eq!(v[0], PACKED);
        assert_eq!(decode(&outlet, 2025, &v).unwrap(), facts);
        assert_eq!(encode(&outlet, &facts), v, "a function of the facts");
        // The older encoding is read as it is.
        assert_eq!(decode(&outlet, 2025, &wire::encode(&facts)).unwrap(), facts);
        // One uncorrected survey of the outlet's own office: the size this layout is for.
        let one = encode(&outlet, &facts[..1]);
        let older = wire::encode(&facts[..1].to_vec());
        assert!(
            one.len() * 3 < older.len(),
            "{} vs {}",
            one.len(),
            older.len()
        );
        // An author (2) or a commune (1) past its table.
        for (author, unit) in [(2, 0), (1, 1)] {
            let mut bad = vec![PACKED];
            bad.extend_from_slice(&wire::encode(&Stored {
                authors: vec![a],
                units: vec![String::new()],
                facts: vec![Packed {
                    author,
                    seq: 1,
                    unit,
                    kind: OutletKind::Market,
                    date: Date(0),
                    hlc: Hlc(0),
                    head: None,
                    amount: 0,
                    no_nonbio: false,
                }],
            }));
            assert!(matches!(
                decode(&outlet, 2025, &bad),
                Err(Error::Corrupt(_))
            ));
        }
        assert!(matches!(
            decode(&outlet, 2025, &[PACKED, 7]),
            Err(Error::Corrupt(_))
        ));
    }

    #[test]
    fn a_store_of_the_older_outlet_year_encoding_is_converted_at_open() {
        let packed = |k: &[u8], v: &[u8]| {
            let (outlet, year) = key_parts(k).unwrap();
            encode(&outlet, &decode(&outlet, year, v).unwrap())
        };
        crate::testkit::converted_at_open(
            b"o",
            META,
            9, // three outlets, three years
            |k, v, b| {
                let (outlet, year) = key_parts(k).unwrap();
                b.insert(k, wire::encode(&decode(&outlet, year, v).unwrap()));
            },
            |db| crate::testkit::rewrite_first(db, b"o", packed),
        );
    }
}
