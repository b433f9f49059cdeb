//! `baobi-hub verify`: re-checks everything the hub stores, changing nothing.
//!
//! Every entry is checked again as the merge checked it when it arrived: each author's log is
//! contiguous from 1, each chain link kept in an entry block (its start and end, `store/blocks.rs`) is
//! the link recomputed from the entries, every
//! office entry lies under a head signature (`h`) that verifies over the recomputed chain (the hub's
//! own entries carry their own signature), its author is the hub or an enrolled office, and that
//! office's jurisdiction covers the entry's unit. Then the derived view (records, outlet-years, groups,
//! units, reviews, the plan, per-author seqs: the [`DERIVED`] prefixes) is recomputed by replaying the
//! entries through `proto::view::apply` into an [`Overlay`] over an empty scratch tree, and compared
//! key by key with what is stored. `restore --from` runs the same check on the store it rebuilt.

use std::collections::BTreeMap;
use std::time::Instant;

use baobi_proto::chain::{self, Link};
use baobi_proto::units::Units;
use baobi_proto::view::{self, Tables, UnitState};
use baobi_proto::wire::{self, Dot, Op};
use baobi_proto::{AuthorId, Sig};
use serde::{Deserialize, Serialize};

use crate::check::{unit_of, within};
use crate::store::{blocks, keys, AgentRec, Hub, Overlay};
use crate::Result;

/// Key prefixes whose values are a function of the entries (rebuilt by `restore`, compared by
/// `verify`): records, outlet-years, groups, units, reviews, the plan, per-author seqs, indicator facts.
pub const DERIVED: [u8; 8] = [b'r', b'o', b'g', b'u', b'w', b'p', b'v', b'i'];

/// At most this many problems are listed; the rest are only counted.
pub const MAX_LISTED: usize = 100;

/// What kind of problem was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// A stored value does not decode, or its key names another entry.
    Corrupt,
    /// An author's log has a gap.
    Gap,
    /// A stored chain link differs from the one recomputed from the entries.
    Link,
    /// A head or entry signature does not verify.
    Signature,
    /// Entries not covered by any head signature.
    Unsealed,
    /// Entries by an author that is neither the hub nor an enrolled office.
    Author,
    /// An entry about a unit outside its author's jurisdiction.
    Jurisdiction,
    /// An entry whose values or operation the merge would refuse.
    Invalid,
    /// A view key the entries produce is not stored.
    ViewMissing,
    /// A stored view key the entries do not produce.
    ViewExtra,
    /// A stored view value differs from the recomputed one.
    ViewDiffers,
}

impl Kind {
    /// The kind in both languages.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Corrupt => "dữ liệu hỏng / corrupt value",
            Kind::Gap => "thiếu mục trong chuỗi / gap in a log",
            Kind::Link => "sai mắt xích chuỗi / chain link differs",
            Kind::Signature => "chữ ký không hợp lệ / signature does not verify",
            Kind::Unsealed => "mục không có chữ ký đầu chuỗi / entries under no head",
            Kind::Author => "tác giả chưa đăng ký / unknown author",
            Kind::Jurisdiction => "ngoài thẩm quyền / outside jurisdiction",
            Kind::Invalid => "mục không hợp lệ / invalid entry",
            Kind::ViewMissing => "thiếu dữ liệu tổng hợp / view key missing",
            Kind::ViewExtra => "dữ liệu tổng hợp thừa / view key not derived",
            Kind::ViewDiffers => "dữ liệu tổng hợp sai / view value differs",
        }
    }
}

/// One problem found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Its kind.
    pub kind: Kind,
    /// The key or entry concerned (`e:1a2b3c4d-17`, `g:…`).
    pub at: String,
    /// What exactly.
    pub detail: String,
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// True when no problem was found.
    pub ok: bool,
    /// Authors with entries.
    pub authors: u64,
    /// Entries checked.
    pub entries: u64,
    /// Head signatures checked.
    pub heads: u64,
    /// Records the entries make.
    pub records: u64,
    /// View keys compared.
    pub view_keys: u64,
    /// Problems found (at most [`MAX_LISTED`]).
    pub problems: Vec<Problem>,
    /// Problems found beyond those listed.
    pub more_problems: u64,
    /// Time taken, in milliseconds.
    pub millis: u64,
}

/// Progress of a long check, for stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many entries checked so far.
    Entries(u64),
    /// Jurisdiction checked for this many entries.
    Jurisdiction(u64),
    /// The view is being compared.
    View,
}

#[derive(Default)]
struct Found {
    list: Vec<Problem>,
    more: u64,
}

impl Found {
    fn push(&mut self, kind: Kind, at: String, detail: String) {
        if self.list.len() < MAX_LISTED {
            self.list.push(Problem { kind, at, detail });
        } else {
            self.more += 1;
        }
    }
}

/// A key as people read it: prefix, then author-seq for dot keys, else printable text or hex.
pub fn show_key(k: &[u8]) -> String {
    let Some((&p, rest)) = k.split_first() else {
        return "(empty key)".into();
    };
    if rest.len() >= 40 && matches!(p, b'B' | b'e' | b'l' | b'h' | b'r' | b'o' | b'w') {
        let a = AuthorId(rest[..32].try_into().unwrap_or([0; 32]));
        let seq = u64::from_be_bytes(rest[32..40].try_into().unwrap_or([0; 8]));
        return format!("{}:{}-{seq}", p as char, a.short());
    }
    let text: String = rest
        .iter()
        .map(|&b| if b.is_ascii_graphic() { b as char } else { '.' })
        .collect();
    format!(
        "{}:{}",
        p as char,
        text.chars().take(48).collect::<String>()
    )
}

fn dot_of(k: &[u8]) -> Option<(AuthorId, u64)> {
    if k.len() != 41 {
        return None;
    }
    Some((
        AuthorId(k[1..33].try_into().ok()?),
        u64::from_be_bytes(k[33..41].try_into().ok()?),
    ))
}

/// One author's log as the check walks it.
struct Chain {
    author: AuthorId,
    /// Next seq expected.
    next: u64,
    /// Link of the last entry seen (valid while `!broken`).
    link: Link,
    /// A gap or an undecodable entry: links can no longer be recomputed.
    broken: bool,
    /// Head signatures held, by seq.
    heads: BTreeMap<u64, Vec<u8>>,
    /// First chained entry not yet under a verified head.
    unsealed_from: Option<u64>,
    /// Highest seq contiguous from 1.
    top: u64,
}

impl Chain {
    fn start(hub: &Hub, author: AuthorId, found: &mut Found) -> Result<Chain> {
        let mut heads = BTreeMap::new();
        for kv in hub
            .tree()
            .range(keys::head(&author, 0)..=keys::head(&author, u64::MAX))
        {
            let (k, v) = kv?;
            match dot_of(&k) {
                Some((_, s)) => {
                    heads.insert(s, v.to_vec());
                }
                None => found.push(Kind::Corrupt, show_key(&k), "malformed head key".into()),
            }
        }
        Ok(Chain {
            author,
            next: 1,
            link: chain::genesis(&author),
            broken: false,
            heads,
            unsealed_from: None,
            top: 0,
        })
    }

    fn finish(self, ov: &mut Overlay<'_>, found: &mut Found) {
        let a = self.author;
        if let Some(from) = self.unsealed_from {
            found.push(
                Kind::Unsealed,
                format!("e:{}-{from}", a.short()),
                format!(
                    "entries {}-{from}..{} are under no head signature",
                    a.short(),
                    self.next - 1
                ),
            );
        }
        if let Some((&s, _)) = self.heads.range(self.next..).next() {
            found.push(
                Kind::Unsealed,
                format!("h:{}-{s}", a.short()),
                format!(
                    "head signature at seq {s}, but the log ends at {}",
                    self.next - 1
                ),
            );
        }
        if self.top > 0 {
            ov.put(keys::seq(&a), self.top.to_be_bytes().to_vec());
        }
    }
}

/// Checks every entry and the view (under the merge lock, so a merge cannot land half-way).
pub fn run(hub: &Hub, progress: &mut dyn FnMut(Step)) -> Result<Report> {
    let _g = hub.lock();
    check(hub, progress)
}

/// [`run`] without taking the merge lock (the caller holds it or owns the store alone).
pub(crate) fn check(hub: &Hub, progress: &mut dyn FnMut(Step)) -> Result<Report> {
    let started = Instant::now();
    let tree = hub.tree();
    let me = hub.keypair().author();
    // On a standby (or once promoted) the followed primary's log is the province's hub log too.
    let primary = hub.followed_primary()?;
    let is_hub = |a: &AuthorId| *a == me || Some(*a) == primary;
    let mut found = Found::default();
    let mut agents: BTreeMap<AuthorId, AgentRec> = BTreeMap::new();
    for kv in tree.scan_prefix([b'a']) {
        let (k, v) = kv?;
        match wire::decode::<AgentRec>(&v) {
            Ok(a) => {
                agents.insert(a.author, a);
            }
            Err(e) => found.push(Kind::Corrupt, show_key(&k), format!("agent: {e}")),
        }
    }
    let scratch = sled::Config::new().temporary(true).open()?;
    let mut ov = Overlay::new(&scratch);
    let (mut entries, mut heads, mut authors) = (0u64, 0u64, 0u64);
    let mut chain: Option<Chain> = None;
    for kv in tree.scan_prefix([b'B']) {
        let (bk, v) = kv?;
        let Some((author, n)) = blocks::parse_key(&bk) else {
            found.push(
                Kind::Corrupt,
                show_key(&bk),
                "malformed entry block key".into(),
            );
            continue;
        };
        if chain.as_ref().map(|c| c.author) != Some(author) {
            if let Some(c) = chain.take() {
                c.finish(&mut ov, &mut found);
            }
            authors += 1;
            if !is_hub(&author) && !agents.contains_key(&author) {
                found.push(
                    Kind::Author,
                    show_key(&keys::entry(&author, blocks::first_seq(n))),
                    format!(
                        "entries by {}, who is not an enrolled office",
                        author.short()
                    ),
                );
            }
            chain = Some(Chain::start(hub, author, &mut found)?);
        }
        let Some(c) = chain.as_mut() else { continue };
        let first = blocks::first_seq(n);
        if first != c.next {
            found.push(
                Kind::Gap,
                show_key(&keys::entry(&author, first)),
                format!(
                    "seqs {}..{} of {} are missing",
                    c.next,
                    first.saturating_sub(1),
                    author.short()
                ),
            );
            c.broken = true;
        }
        let block = match blocks::Block::decode(&v) {
            Ok(b) => b,
            Err(err) => {
                found.push(Kind::Corrupt, show_key(&bk), err.to_string());
                c.broken = true;
                c.next = first + blocks::BLOCK;
                continue;
            }
        };
        if block.items.is_empty() || block.items.len() as u64 > blocks::BLOCK {
            found.push(
                Kind::Corrupt,
                show_key(&bk),
                format!("an entry block of {} entries", block.items.len()),
            );
            c.broken = true;
        }
        if !c.broken && block.start != c.link {
            found.push(
                Kind::Link,
                show_key(&bk),
                "stored chain link before the block differs from the entries (an entry or its link was altered)".into(),
            );
        }
        let last = first + block.items.len() as u64 - 1;
        for e in block.entries(&author, n) {
            let k = keys::entry(&author, e.seq);
            let seq = e.seq;
            entries += 1;
            if entries.is_multiple_of(10_000) {
                progress(Step::Entries(entries));
            }
            c.next = seq + 1;
            if !c.broken {
                c.top = seq;
                c.link = chain::link_of(&c.link, &e);
                if seq == last && block.end != c.link {
                    found.push(
                        Kind::Link,
                        show_key(&k),
                        "stored chain link differs from the entries (an entry or its link was altered)".into(),
                    );
                }
            }
            if e.sig == Sig::CHAINED {
                c.unsealed_from.get_or_insert(seq);
            } else if !e.verify() {
                found.push(
                    Kind::Signature,
                    show_key(&k),
                    "the entry's own signature does not verify".into(),
                );
            }
            if let Some(sig) = c.heads.get(&seq) {
                heads += 1;
                let ok = !c.broken
                    && <[u8; 64]>::try_from(sig.as_slice()).is_ok_and(|s| {
                        author.verify(&chain::head_bytes(&author, seq, &c.link), &Sig(s))
                    });
                if ok {
                    c.unsealed_from = None;
                } else if !c.broken {
                    found.push(
                        Kind::Signature,
                        format!("h:{}-{seq}", author.short()),
                        "head signature does not verify over the entries' chain".into(),
                    );
                }
            }
            if !is_hub(&author) && matches!(e.op, Op::Unit(_) | Op::Plan(_) | Op::Review(_)) {
                found.push(
                    Kind::Invalid,
                    show_key(&k),
                    "unit, plan or review written by someone other than the hub".into(),
                );
            }
            view::apply(&mut ov, &e);
            ov.replay_entry(&e);
        }
    }
    if let Some(c) = chain.take() {
        c.finish(&mut ov, &mut found);
    }
    progress(Step::Entries(entries));

    // Jurisdiction, against the units and records the entries themselves make.
    let mut units = Units::new();
    for (k, v) in ov.writes().range(vec![b'u']..vec![b'u' + 1]) {
        if let Some(v) = v {
            match wire::decode::<UnitState>(v) {
                Ok(u) => units.insert(u.def),
                Err(e) => found.push(Kind::Corrupt, show_key(k), format!("unit: {e}")),
            }
        }
    }
    let mut offices = std::collections::BTreeMap::new();
    let mut n = 0u64;
    for e in blocks::all_entries(tree) {
        let Ok(e) = e else {
            continue;
        };
        let k = keys::entry(&e.author, e.seq);
        n += 1;
        if n.is_multiple_of(10_000) {
            progress(Step::Jurisdiction(n));
        }
        let Some(agent) = agents.get(&e.author) else {
            continue;
        };
        let (body, record) = match &e.op {
            Op::Record(b) | Op::Created(wire::Created { body: b, .. }) => (Some(b), None),
            Op::Correct(c) => (Some(&c.body), Some(c.record)),
            Op::Retract(r) => (None, Some(r.record)),
            _ => (None, None),
        };
        let mut about = vec![];
        if let Some(b) = body {
            if let Err(err) = baobi_proto::validate::body(b, None) {
                found.push(Kind::Invalid, show_key(&k), err.to_string());
            }
            about.push(b.clone());
        }
        if let Some(id) = record {
            match ov.record(&id).and_then(|r| r.original().cloned()) {
                Some(orig) => about.push(orig),
                None => found.push(
                    Kind::Invalid,
                    show_key(&k),
                    format!("changes record {id}, whose creation is not held"),
                ),
            }
        }
        let office = match offices.entry(agent.author) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(crate::office::office_in(hub, agent, &units)?)
            }
        };
        for b in &about {
            let (unit, date) = unit_of(b);
            if !within(&units, unit, &*office, date) {
                found.push(
                    Kind::Jurisdiction,
                    show_key(&k),
                    format!(
                        "unit {unit} is outside the jurisdiction of {} ({})",
                        agent.label, agent.unit
                    ),
                );
            }
        }
    }

    // The view against its recomputation (the indicator facts as a merge would write them: the
    // scratch tree under the overlay holds no record, so every record's facts are added anew).
    crate::store::facts::maintain(&mut ov)?;
    progress(Step::View);
    let mut view_keys = 0u64;
    for p in DERIVED {
        let want: Vec<(&Vec<u8>, &Vec<u8>)> = ov
            .writes()
            .range(vec![p]..vec![p + 1])
            .filter_map(|(k, v)| v.as_ref().map(|v| (k, v)))
            .collect();
        let mut want = want.into_iter().peekable();
        let mut have = tree.scan_prefix([p]).peekable();
        loop {
            let h = match have.peek() {
                Some(Ok((k, v))) => Some((k.clone(), v.clone())),
                Some(Err(_)) => {
                    have.next().transpose()?;
                    continue;
                }
                None => None,
            };
            let w = want.peek().copied();
            match (h, w) {
                (None, None) => break,
                (Some((hk, hv)), Some((wk, wv))) if hk.as_ref() == wk.as_slice() => {
                    view_keys += 1;
                    if hv.as_ref() != wv.as_slice() {
                        found.push(
                            Kind::ViewDiffers,
                            show_key(&hk),
                            "stored value differs from the recomputation".into(),
                        );
                    }
                    have.next();
                    want.next();
                }
                (Some((hk, _)), w) if w.is_none_or(|(wk, _)| hk.as_ref() < wk.as_slice()) => {
                    view_keys += 1;
                    found.push(
                        Kind::ViewExtra,
                        show_key(&hk),
                        "stored, but the entries do not produce it".into(),
                    );
                    have.next();
                }
                (_, Some((wk, _))) => {
                    view_keys += 1;
                    found.push(
                        Kind::ViewMissing,
                        show_key(wk),
                        "the entries produce it, but it is not stored".into(),
                    );
                    want.next();
                }
                (Some(_), None) => unreachable!("handled above"),
            }
        }
    }
    // Records: the rows the entries produce and the records their creating entries make alone.
    let rows: Vec<Dot> = ov
        .writes()
        .range(vec![b'r']..vec![b'r' + 1])
        .filter(|(_, v)| v.is_some())
        .filter_map(|(k, _)| dot_of(k).map(|(author, seq)| Dot { author, seq }))
        .collect();
    let created = ov.created_here();
    let records = (created.len()
        + rows
            .iter()
            .filter(|d| created.binary_search(d).is_err())
            .count()) as u64;
    Ok(Report {
        ok: found.list.is_empty(),
        authors,
        entries,
        heads,
        records,
        view_keys,
        problems: found.list,
        more_problems: found.more,
        millis: started.elapsed().as_millis() as u64,
    })
}

/// The report as text for people.
pub fn render(r: &Report) -> String {
    let mut s = format!(
        "Đã kiểm tra / Checked: {} mục / entries của / of {} tác giả / authors, {} chữ ký đầu chuỗi / \
         heads, {} bản ghi / records, {} khóa tổng hợp / view keys ({} ms)\n",
        r.entries, r.authors, r.heads, r.records, r.view_keys, r.millis
    );
    if r.ok {
        s.push_str("Không phát hiện lỗi / No problems found\n");
        return s;
    }
    s.push_str(&format!(
        "PHÁT HIỆN {} LỖI / {} PROBLEMS FOUND:\n",
        r.problems.len() as u64 + r.more_problems,
        r.problems.len() as u64 + r.more_problems
    ));
    for p in &r.problems {
        s.push_str(&format!("  {} — {}: {}\n", p.kind.label(), p.at, p.detail));
    }
    if r.more_problems > 0 {
        s.push_str(&format!(
            "  … và {} lỗi khác / and {} more\n",
            r.more_problems, r.more_problems
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::wire::{Body, Entry, Hlc, OutletDef, OutletKind};
    use baobi_proto::Keypair;

    use crate::check::merge_entries;
    use crate::testkit::{enroll, hub};

    fn outlet(k: &Keypair, seq: u64, unit: &str) -> Entry {
        k.sign_entry(
            seq,
            Hlc(seq),
            Op::Record(Body::Outlet(OutletDef {
                kind: OutletKind::Market,
                name: format!("Chợ số {seq}"),
                unit: unit.into(),
                address: String::new(),
                market_class: Some(3),
                certifications: vec![],
                opened: None,
                closed: None,
            })),
        )
    }

    fn kinds(h: &Hub) -> Vec<Kind> {
        let r = run(h, &mut |_| {}).unwrap();
        assert_eq!(r.ok, r.problems.is_empty());
        r.problems.iter().map(|p| p.kind).collect()
    }

    /// A hub with one office at 30226 whose 4 entries came in two batches (heads at 2 and 4).
    fn setup(dir: &std::path::Path) -> (Hub, Keypair) {
        let h = hub(dir);
        let k = Keypair::generate();
        let a = enroll(&h, &k, "30226");
        let es: Vec<Entry> = (1..=4).map(|s| outlet(&k, s, "30226")).collect();
        assert_eq!(merge_entries(&h, &a, &k, &es[..2]).unwrap(), Ok(2));
        assert_eq!(merge_entries(&h, &a, &k, &es[2..]).unwrap(), Ok(2));
        (h, k)
    }

    #[test]
    fn each_kind_of_damage_is_found() {
        let tmp = tempfile::tempdir().unwrap();
        let (h, k) = setup(tmp.path());
        let me = k.author();
        assert_eq!(kinds(&h), vec![], "a healthy hub verifies clean");
        let t = h.tree();

        // The last head removed: entries 3..4 lie under no signature.
        let head = t.remove(keys::head(&me, 4)).unwrap().unwrap();
        assert_eq!(kinds(&h), vec![Kind::Unsealed]);
        // A forged head (another key's signature) does not verify.
        let other = Keypair::generate();
        let link = h.link(&me, 4).unwrap();
        let forged = other.sign(&chain::head_bytes(&me, 4, &link));
        t.insert(keys::head(&me, 4), &forged.0[..]).unwrap();
        assert_eq!(kinds(&h), vec![Kind::Signature, Kind::Unsealed]);
        t.insert(keys::head(&me, 4), head).unwrap();
        assert_eq!(kinds(&h), vec![]);

        // The office's unit moved to another commune: its records are now outside its jurisdiction.
        let mut a = h.agent(&me).unwrap().unwrap();
        let unit = std::mem::replace(&mut a.unit, "30208".into());
        h.put_agent(&a).unwrap();
        assert_eq!(kinds(&h), vec![Kind::Jurisdiction; 4]);
        a.unit = unit;
        h.put_agent(&a).unwrap();

        // A record that is only its creating entry has no row of its own (`store/plain.rs`): one
        // stored for it is a view key the entries do not produce.
        let plain = keys::record(&outlet(&k, 1, "30226").dot());
        assert!(t.get(&plain).unwrap().is_none());
        let state = h.record(&outlet(&k, 1, "30226").dot()).unwrap().unwrap();
        t.insert(&plain, wire::encode(&state)).unwrap();
        assert_eq!(kinds(&h), vec![Kind::ViewExtra]);
        t.remove(&plain).unwrap();

        // A stored view value altered (a unit's), an extra view key, an entry removed (a gap).
        let rec = t.scan_prefix([b'u']).next().unwrap().unwrap().0.to_vec();
        let v = t.get(&rec).unwrap().unwrap();
        let mut bad = v.to_vec();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        t.insert(&rec, bad).unwrap();
        assert_eq!(kinds(&h), vec![Kind::ViewDiffers]);
        t.insert(&rec, v).unwrap();
        t.insert(
            keys::record(&baobi_proto::wire::Dot {
                author: me,
                seq: 99,
            }),
            &b"x"[..],
        )
        .unwrap();
        assert_eq!(kinds(&h), vec![Kind::ViewExtra]);
        t.remove(keys::record(&baobi_proto::wire::Dot {
            author: me,
            seq: 99,
        }))
        .unwrap();
        // The office's only block filed as its second: seqs 1..64 are missing.
        let b0 = t.remove(keys::block(&me, 0)).unwrap().unwrap();
        t.insert(keys::block(&me, 1), b0.clone()).unwrap();
        let ks = kinds(&h);
        assert!(ks.contains(&Kind::Gap), "{ks:?}");
        assert!(
            ks.contains(&Kind::ViewExtra),
            "record 2 is no longer derived: {ks:?}"
        );
        t.remove(keys::block(&me, 1)).unwrap();
        t.insert(keys::block(&me, 0), b0.clone()).unwrap();
        assert_eq!(kinds(&h), vec![]);

        // An entry altered in its block: the block's kept link no longer matches, nor the head.
        let mut blk = crate::store::blocks::Block::decode(&b0).unwrap();
        blk.items[1].hlc = Hlc(blk.items[1].hlc.0 + 1);
        t.insert(keys::block(&me, 0), blk.encode()).unwrap();
        let ks = kinds(&h);
        assert!(ks.contains(&Kind::Link), "{ks:?}");
        t.insert(keys::block(&me, 0), b0).unwrap();
        assert_eq!(kinds(&h), vec![]);
    }

    #[test]
    fn entries_of_an_unknown_author_are_found() {
        let tmp = tempfile::tempdir().unwrap();
        let (h, k) = setup(tmp.path());
        h.tree().remove(keys::agent(&k.author())).unwrap();
        assert_eq!(kinds(&h), vec![Kind::Author]);
    }
}
