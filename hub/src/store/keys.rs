//! Every key of the hub's one sled tree: a one-byte prefix, then fixed-width or terminated parts so
//! that order is meaningful. Each prefix is claimed once, in [`PREFIXES`], and a test holds every key
//! function to its row (two helpers once claimed the same letter for different things).

use super::*;

/// Every prefix of the tree and what it holds. Derived prefixes (the view) are rebuilt from the
/// entries; `backup/` leaves them out.
pub const PREFIXES: &[(u8, &str)] = &[
    (b'B', "the log: each author's entries in blocks, see store/blocks.rs"),
    (b'e', "entries, one key each (the older layout, converted to `B` at open)"),
    (b'l', "each entry's chain link (the older layout, converted at open)"),
    (b'h', "head signatures received"),
    (b'v', "per-author seq (derived)"),
    (b'r', "records (derived)"),
    (b'o', "outlet-years (derived, packed: see store/outlet_years.rs)"),
    (b'g', "groups by year (derived, mirrored in memory)"),
    (b'u', "units (derived)"),
    (b'w', "review decisions by record (derived)"),
    (b'p', "the plan in force (derived)"),
    (b'i', "indicator facts: facilities, report cells, the survey and report cells' members (derived; cells mirrored in memory, survey cells computed from their members)"),
    (b'a', "agents"),
    (b'f', "certificate fingerprints"),
    (b't', "enrollment tokens"),
    (b'R', "restore tokens"),
    (b'X', "retired authors"),
    (b'k', "clock-skew flags"),
    (b'j', "each office's jurisdiction"),
    (b'm', "meta"),
    (b'n', "dashboard operators"),
    (b'S', "standby hubs: their tokens (S t) and records (S s), see store/standby.rs"),
    (b'N', "national hubs following this province: their tokens (N t) and records (N f), see store/national.rs"),
    (b'Q', "relays: the operator's allow (1) or deny (0) of an office for a relay (Q relay office), see relay.rs"),
];

/// `Q relay office`: the operator's word on whether `relay` may carry `office`.
pub fn relay_carry(relay: &AuthorId, office: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'Q'];
    k.extend_from_slice(&relay.0);
    k.extend_from_slice(&office.0);
    k
}

/// `S t hash`: a standby token (only the secret's hash).
pub fn standby_token(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'S', b't'];
    k.extend_from_slice(hash);
    k
}

/// `S s fingerprint`: a standby hub recorded at its first contact.
pub fn standby(fp: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'S', b's'];
    k.extend_from_slice(fp);
    k
}

/// `N t hash`: a national hub's token (only the secret's hash).
pub fn national_token(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'N', b't'];
    k.extend_from_slice(hash);
    k
}

/// `N f fingerprint`: a national hub recorded at its first contact.
pub fn national(fp: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'N', b'f'];
    k.extend_from_slice(fp);
    k
}

/// `B author block`: entries `block * BLOCK + 1 ..` (16 per block) of `author` (`store/blocks.rs`).
pub fn block(author: &AuthorId, block: u64) -> Vec<u8> {
    dotkey(b'B', author, block)
}
/// `e author seq` (the older layout).
pub fn entry(author: &AuthorId, seq: u64) -> Vec<u8> {
    dotkey(b'e', author, seq)
}
/// `r author seq`.
pub fn record(id: &Dot) -> Vec<u8> {
    dotkey(b'r', &id.author, id.seq)
}
/// `o author seq year`.
pub fn outlet_year(outlet: &Dot, year: u16) -> Vec<u8> {
    let mut k = dotkey(b'o', &outlet.author, outlet.seq);
    k.extend_from_slice(&year.to_be_bytes());
    k
}
/// `g year unit 0 kind`: a year's groups are one prefix.
pub fn group(key: &GroupKey) -> Vec<u8> {
    let mut k = group_year(key.year);
    k.extend_from_slice(key.unit.as_bytes());
    k.push(0);
    k.extend_from_slice(&wire::encode(&key.kind));
    k
}
/// `g year`.
pub fn group_year(year: u16) -> Vec<u8> {
    let mut k = vec![b'g'];
    k.extend_from_slice(&year.to_be_bytes());
    k
}
/// `u code 0 from`.
pub fn unit(code: &str, from: Option<Date>) -> Vec<u8> {
    let mut k = vec![b'u'];
    k.extend_from_slice(code.as_bytes());
    k.push(0);
    k.extend_from_slice(&from.map_or(0, |d| d.0).to_be_bytes());
    k
}
/// `a author`.
pub fn agent(author: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'a'];
    k.extend_from_slice(&author.0);
    k
}
/// `f fingerprint` → author.
pub fn fp(fp: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'f'];
    k.extend_from_slice(fp);
    k
}
/// `t secret-hash`.
pub fn token(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b't'];
    k.extend_from_slice(hash);
    k
}
/// `m name`.
pub fn meta(name: &str) -> Vec<u8> {
    let mut k = vec![b'm'];
    k.extend_from_slice(name.as_bytes());
    k
}
/// `w author seq` → review decisions about that record.
pub fn reviews(record: &Dot) -> Vec<u8> {
    dotkey(b'w', &record.author, record.seq)
}
/// `p` → the plan in force.
pub fn plan() -> Vec<u8> {
    vec![b'p']
}
/// `R secret-hash` → author of the lost office a restore token replaces.
pub fn restore(hash: &[u8; 32]) -> Vec<u8> {
    let mut k = vec![b'R'];
    k.extend_from_slice(hash);
    k
}
/// `j author` → the office's jurisdiction in force (`office.rs`).
pub fn office(author: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'j'];
    k.extend_from_slice(&author.0);
    k
}
/// `X author` → author of the office that replaced it at a restore (the key is retired).
pub fn retired(author: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'X'];
    k.extend_from_slice(&author.0);
    k
}
/// `k author` → the author's [`super::ClockFlag`].
pub fn clock(author: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'k'];
    k.extend_from_slice(&author.0);
    k
}
/// `v author` → highest seq (u64 BE).
pub fn seq(author: &AuthorId) -> Vec<u8> {
    let mut k = vec![b'v'];
    k.extend_from_slice(&author.0);
    k
}
/// `l author seq` → the entry's chain link (32 bytes; the older layout).
pub fn link(author: &AuthorId, seq: u64) -> Vec<u8> {
    dotkey(b'l', author, seq)
}
/// `h author seq` → the author's head signature at seq (64 bytes), as received in a run.
pub fn head(author: &AuthorId, seq: u64) -> Vec<u8> {
    dotkey(b'h', author, seq)
}
/// What the mirror of the indicator cells loads, and each commit's writes under it: the cells `i 0`
/// (facilities, report cells) and the survey cells' members `i 1 S`, which give the survey cells.
pub const FACT_CELLS: [&[u8]; 2] = [&[b'i', 0], &[b'i', 1, b'S']];
/// `i 0 F author seq` → a facility's [`baobi_proto::indicators::Facility`].
pub fn fact_facility(id: &Dot) -> Vec<u8> {
    let mut k = vec![b'i', 0, b'F'];
    k.extend_from_slice(&id.author.0);
    k.extend_from_slice(&id.seq.to_be_bytes());
    k
}
fn survey_cell_key(top: u8, key: &baobi_proto::facts::SurveyKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + 40 + 3 + 40);
    k.extend_from_slice(&[b'i', top, b'S']);
    k.extend_from_slice(&key.0.author.0);
    k.extend_from_slice(&key.0.seq.to_be_bytes());
    k.extend_from_slice(&key.1.to_be_bytes());
    k.push(key.2);
    k
}
fn report_cell_key(top: u8, key: &baobi_proto::facts::ReportKey) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + 2 + key.1.len() + 1 + 5 + 40);
    k.extend_from_slice(&[b'i', top, b'T']);
    k.extend_from_slice(&key.0.to_be_bytes());
    k.extend_from_slice(key.1.as_bytes());
    k.push(0);
    k.extend_from_slice(&key.2 .0.to_be_bytes());
    k.push(key.3);
    k
}
/// `i 0 S outlet year status` → a survey cell ([`baobi_proto::facts::SurveyCell`]): the older
/// layout, removed at open (the cell is derived from its members: `store/facts/mod.rs`).
pub fn survey_cell(key: &baobi_proto::facts::SurveyKey) -> Vec<u8> {
    survey_cell_key(0, key)
}
/// `i 1 S outlet year status` → the members of a survey cell, one value ([`super::facts::Members`]).
pub fn survey_members(key: &baobi_proto::facts::SurveyKey) -> Vec<u8> {
    survey_cell_key(1, key)
}
/// `i 1 S outlet year status record` → a member's [`baobi_proto::facts::SurveyMember`] (the older
/// layout, one key per member, converted at open: `store/facts/members.rs`).
pub fn survey_member(key: &baobi_proto::facts::SurveyKey, record: &Dot) -> Vec<u8> {
    let mut k = survey_members(key);
    k.extend_from_slice(&record.author.0);
    k.extend_from_slice(&record.seq.to_be_bytes());
    k
}
/// `i 0 T year unit 0 date status` → a report cell: its key, [`baobi_proto::facts::ReportCell`] and its
/// members (the older layout, converted at open: `store/facts/reports.rs`).
pub fn report_cell(key: &baobi_proto::facts::ReportKey) -> Vec<u8> {
    report_cell_key(0, key)
}
/// `i 0 T year unit 0 status` → the report cells of a year, commune and status: each date's members
/// (`store/facts/reports.rs`).
pub fn report_group(year: u16, unit: &str, status: u8) -> Vec<u8> {
    let mut k = Vec::with_capacity(3 + 2 + unit.len() + 2);
    k.extend_from_slice(&[b'i', 0, b'T']);
    k.extend_from_slice(&year.to_be_bytes());
    k.extend_from_slice(unit.as_bytes());
    k.push(0);
    k.push(status);
    k
}
/// `n name`: a dashboard operator's login (name and argon2 hash).
pub fn operator(name: &str) -> Vec<u8> {
    let mut k = vec![b'n'];
    k.extend_from_slice(name.as_bytes());
    k
}
fn dotkey(p: u8, author: &AuthorId, seq: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(41);
    k.push(p);
    k.extend_from_slice(&author.0);
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_prefix_is_claimed_once_and_every_key_uses_its_own() {
        let mut seen = std::collections::BTreeSet::new();
        for (p, what) in PREFIXES {
            assert!(
                seen.insert(*p),
                "prefix '{}' claimed twice ({what})",
                *p as char
            );
        }
        let a = AuthorId([7; 32]);
        let d = Dot { author: a, seq: 3 };
        let g = GroupKey {
            year: 2025,
            unit: "30226".into(),
            kind: baobi_proto::wire::OutletKind::Market,
        };
        let keys: Vec<(char, Vec<u8>)> = vec![
            ('B', block(&a, 0)),
            ('e', entry(&a, 1)),
            ('l', link(&a, 1)),
            ('h', head(&a, 1)),
            ('v', seq(&a)),
            ('r', record(&d)),
            ('o', outlet_year(&d, 2025)),
            ('g', group(&g)),
            ('g', group_year(2025)),
            ('u', unit("30226", None)),
            ('w', reviews(&d)),
            ('p', plan()),
            ('a', agent(&a)),
            ('f', fp(&[1; 32])),
            ('t', token(&[1; 32])),
            ('R', restore(&[1; 32])),
            ('X', retired(&a)),
            ('k', clock(&a)),
            ('j', office(&a)),
            ('m', meta("province")),
            ('n', operator("lan")),
            ('S', standby_token(&[1; 32])),
            ('S', standby(&[1; 32])),
            ('N', national_token(&[1; 32])),
            ('N', national(&[1; 32])),
            ('Q', relay_carry(&a, &a)),
            ('i', fact_facility(&d)),
            ('i', survey_cell(&(d, 2025, 0))),
            ('i', survey_members(&(d, 2025, 0))),
            ('i', survey_member(&(d, 2025, 0), &d)),
            ('i', report_cell(&(2025, "30226".into(), Date(20250101), 0))),
            ('i', report_group(2025, "30226", 0)),
        ];
        for (c, k) in keys {
            assert_eq!(k[0] as char, c, "{k:?}");
            assert!(seen.contains(&k[0]), "'{c}' is not in PREFIXES");
        }
    }
}
