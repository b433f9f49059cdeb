//! The derived state (view, summary, own chain links, offices) kept in a file beside sled's, so that
//! opening the store does not replay every entry: how it is written (a temporary file, synced, renamed,
//! then its generation and the removal of its markers in one batch), how open checks that it accounts
//! for exactly the entries held before trusting it, and when it is rewritten.

use std::collections::BTreeMap;

use baobi_proto::chain::Link;
use baobi_proto::view::MemTables;
use baobi_proto::wire::{Hlc, OfficeUnits};
use baobi_proto::{AuthorId, Dot, Summary};
use bincode::{Decode, Encode};

use super::blocks::{author_of, Blocks, Staged};
use super::{entry_key, is_entry_key, u64_of, Error, Result, State, Store, K_HLC};

/// In the data folder, beside sled's files, the derived state ([`Snapshot`]) as of some set of
/// entries, stamped with a generation that must equal [`K_GEN`] in the entries tree. Not in sled: sled
/// keeps a value this large (390 B per record) as a page of its own that it reads twice at each open
/// and rewrites whole whenever a key beside it changes; a file is read once. Written to
/// [`SNAPSHOT_TMP`], synced, then renamed over it.
pub(super) const SNAPSHOT_FILE: &str = "view.snapshot";
/// Where the next snapshot is written before it is renamed.
pub(super) const SNAPSHOT_TMP: &str = "view.snapshot.tmp";
/// In the entries tree, the generation of the snapshot its markers follow (u64 BE). A snapshot is
/// written first, then its generation and the removal of the markers it covers in one batch: a
/// crash between the two leaves a snapshot of another generation, which is not used. The keys of the
/// derived state in the entries tree are shorter than an author id (entry keys are 40 bytes: author,
/// then seq), so they never fall inside an author's range of entry keys and never equal one; the
/// tree's iterations skip them. An entry and its marker are one atomic sled batch.
pub(super) const K_GEN: &[u8] = b"\0gen";
/// In the entries tree, `\0tail/` + index (u64 BE) → the key of an entry stored after the snapshot.
pub(super) const K_TAIL: &[u8] = b"\0tail/";
/// Changes whenever what the snapshot holds or how the view is derived changes: an older snapshot is
/// then rebuilt from the entries.
pub(super) const SNAPSHOT_FORMAT: u32 = 2;

/// The derived state as stored: valid for exactly the entries it counts, which open checks (the
/// entries held = `entries` + the marked ones) before trusting it.
#[derive(Encode, Decode)]
struct Snapshot {
    format: u32,
    /// Equal to [`K_GEN`] when the markers follow this snapshot.
    generation: u64,
    /// The office's author when it was written (its own chain links depend on it).
    me: Option<AuthorId>,
    entries: u64,
    view: MemTables,
    summary: Vec<(AuthorId, u64)>,
    max_hlc: Hlc,
    own_links: Vec<Link>,
    authors: std::collections::BTreeSet<AuthorId>,
    offices: BTreeMap<AuthorId, (Hlc, Dot, OfficeUnits)>,
    /// The entries held past an author's contiguous seq (received out of order), by key.
    beyond: Vec<[u8; 40]>,
}

/// [`Snapshot`] as written: the same fields in the same order (bincode encodes a reference as its
/// value, so it decodes as a `Snapshot`), borrowing the state instead of cloning it, so that writing
/// does not hold a second copy of the view.
#[derive(Encode)]
struct SnapshotRef<'a> {
    format: u32,
    generation: u64,
    me: Option<AuthorId>,
    entries: u64,
    view: &'a MemTables,
    summary: Vec<(AuthorId, u64)>,
    max_hlc: Hlc,
    own_links: &'a Vec<Link>,
    authors: &'a std::collections::BTreeSet<AuthorId>,
    offices: &'a BTreeMap<AuthorId, (Hlc, Dot, OfficeUnits)>,
    beyond: Vec<[u8; 40]>,
}

pub(super) fn snapshot_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

pub(super) fn tail_key(i: u64) -> Vec<u8> {
    let mut k = K_TAIL.to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// Entries stored after the snapshot before it is written again: an eighth of those held, so an open
/// replays at most that, and writing the snapshot costs at most eight times its share per entry
/// stored (a sync receiving batches of 512 included).
pub(super) fn tail_limit(entries: u64) -> u64 {
    64 + entries / 8
}

impl Store {
    /// The derived state from the snapshot and the marked entries, `None` when there is no snapshot
    /// or it does not account for exactly the entries held (damaged, of another format or author,
    /// or entries stored without a marker, e.g. by an older `baobi-agent`).
    pub(super) fn load_snapshot(&self) -> Result<Option<State>> {
        // Missing or unreadable: replayed from the entries (and written anew).
        // Decoded as it is read, not read whole first: a buffer the size of the file (4 MB at
        // 10,000 records), once freed, raises glibc's mmap threshold and leaves later large buffers
        // in the heap, where they stay in the daemon's RSS (BENCHMARKS.md, "Office app").
        let Ok(file) = std::fs::File::open(self.db.dir().join(SNAPSHOT_FILE)) else {
            return Ok(None);
        };
        // Deflated (zlib, whose checksum catches damaged bytes): 390 B per record plain, about 70.
        // bincode reads a few bytes at a time: a buffer in front of the inflater serves those, so
        // that it runs over large spans.
        let mut reader = std::io::BufReader::with_capacity(
            64 << 10,
            flate2::bufread::ZlibDecoder::new(std::io::BufReader::new(file)),
        );
        let Ok(snap) =
            bincode::decode_from_std_read::<Snapshot, _, _>(&mut reader, snapshot_config())
        else {
            return Ok(None);
        };
        // Nothing may follow the snapshot, in the stream (read to its end, checksum included) or
        // in the file after it (a longer file is not this snapshot).
        let trailing = {
            use std::io::Read;
            let mut one = [0u8; 1];
            !matches!(reader.read(&mut one), Ok(0))
                || !matches!(reader.into_inner().into_inner().read(&mut one), Ok(0))
        };
        if trailing
            || snap.format != SNAPSHOT_FORMAT
            || snap.generation != self.generation()?
            || snap.me != self.author().ok()
        {
            return Ok(None);
        }
        let covered: BTreeMap<AuthorId, u64> = snap.summary.iter().copied().collect();
        let mut accounted: std::collections::BTreeSet<[u8; 40]> =
            snap.beyond.iter().copied().collect();
        let mut st = State {
            view: snap.view,
            summary: Summary::new(),
            max_hlc: snap.max_hlc.max(Hlc(u64_of(self.meta.get(K_HLC)?))),
            entries: snap.entries,
            own_links: snap.own_links,
            authors: snap.authors,
            offices: snap.offices,
            tail: 0,
            tail_next: 0,
            replayed: 0,
        };
        for (a, s) in snap.summary {
            st.summary.set(a, s);
        }
        let mut touched = std::collections::BTreeSet::new();
        let mut held = Staged::default();
        for kv in self.entries.scan_prefix(K_TAIL) {
            let (k, v) = kv?;
            let Ok(i) = <[u8; 8]>::try_from(&k[K_TAIL.len()..]) else {
                return Ok(None);
            };
            let Ok(k) = <[u8; 40]>::try_from(v.as_ref()) else {
                return Ok(None);
            };
            let seq = u64::from_be_bytes(k[32..].try_into().unwrap_or_default());
            let Some(author) = author_of(&k) else {
                return Ok(None);
            };
            // Each block decoded once, however many of its entries are marked.
            let Ok(e) = held.get(&self.entries, &author, seq) else {
                return Ok(None);
            };
            let Some(e) = e else {
                return Ok(None);
            };
            accounted.insert(k);
            st.max_hlc = st.max_hlc.max(e.hlc);
            st.entries += 1;
            st.apply(&e);
            touched.insert(e.author);
            st.tail += 1;
            st.replayed += 1;
            st.tail_next = u64::from_be_bytes(i) + 1;
        }
        if !self.accounts_for_all(&covered, &st.authors, &accounted)? {
            return Ok(None);
        }
        self.advance_summary(&mut st, touched)?;
        self.extend_own_links(&mut st.own_links)?;
        Ok(Some(st))
    }

    /// True when every entry held is accounted for: of an author in `authors`, and either within
    /// 1..=`covered` for that author (the snapshot's contiguous entries: entries are never removed)
    /// or in `accounted` (the snapshot's out-of-order entries and the marked ones). Costs a range
    /// lookup per author and per gap between authors, not a pass over the entries.
    pub(super) fn accounts_for_all(
        &self,
        covered: &BTreeMap<AuthorId, u64>,
        authors: &std::collections::BTreeSet<AuthorId>,
        accounted: &std::collections::BTreeSet<[u8; 40]>,
    ) -> Result<bool> {
        let entry_keys = |lo: std::ops::Bound<Vec<u8>>, hi: std::ops::Bound<Vec<u8>>| {
            self.entries
                .range::<Vec<u8>, _>((lo, hi))
                .keys()
                .filter(|k| k.as_ref().map_or(true, |k| is_entry_key(k)))
        };
        use std::ops::Bound::{Excluded, Unbounded};
        let mut lo: std::ops::Bound<Vec<u8>> = Unbounded;
        for a in authors {
            // Nothing between the previous author's entries and this one's.
            if entry_keys(lo, Excluded(entry_key(a, 0).to_vec()))
                .next()
                .is_some()
            {
                return Ok(false);
            }
            let from = covered.get(a).copied().unwrap_or(0) + 1;
            for seq in Blocks(&self.entries).seqs_from(a, from)? {
                if !accounted.contains(&entry_key(a, seq)) {
                    return Ok(false);
                }
            }
            lo = Excluded(entry_key(a, u64::MAX).to_vec());
        }
        Ok(entry_keys(lo, Unbounded).next().is_none())
    }

    /// The generation of the snapshot the markers follow (0: none yet).
    pub(super) fn generation(&self) -> Result<u64> {
        Ok(u64_of(self.entries.get(K_GEN)?))
    }

    /// Writes the snapshot of `st`, then its generation and the removal of the markers it covers in
    /// one atomic batch, durably.
    pub(super) fn write_snapshot(&self, st: &State) -> Result<()> {
        let generation = self.generation()? + 1;
        let snap = SnapshotRef {
            format: SNAPSHOT_FORMAT,
            generation,
            me: self.author().ok(),
            entries: st.entries,
            view: &st.view,
            summary: st.summary.iter().collect(),
            max_hlc: st.max_hlc,
            own_links: &st.own_links,
            authors: &st.authors,
            offices: &st.offices,
            beyond: self.beyond(st)?,
        };
        let (tmp, path) = (
            self.db.dir().join(SNAPSHOT_TMP),
            self.db.dir().join(SNAPSHOT_FILE),
        );
        {
            use std::io::Write;
            let mut z = flate2::write::ZlibEncoder::new(
                std::io::BufWriter::new(std::fs::File::create(&tmp)?),
                flate2::Compression::fast(),
            );
            bincode::encode_into_std_write(&snap, &mut z, snapshot_config())
                .map_err(|e| Error::Corrupt(format!("snapshot: {e}")))?;
            let mut f = z.finish()?;
            f.flush()?;
            f.get_ref().sync_all()?;
        }
        std::fs::rename(&tmp, &path)?;
        std::fs::File::open(self.db.dir())?.sync_all()?;
        let mut batch = sled::Batch::default();
        batch.insert(K_GEN, &generation.to_be_bytes()[..]);
        for k in self.entries.scan_prefix(K_TAIL).keys() {
            batch.remove(k?);
        }
        self.entries.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }

    /// Keys of the entries held past each author's contiguous seq.
    pub(super) fn beyond(&self, st: &State) -> Result<Vec<[u8; 40]>> {
        let mut out = vec![];
        for a in &st.authors {
            for seq in Blocks(&self.entries).seqs_from(a, st.summary.get(a) + 1)? {
                out.push(entry_key(a, seq));
            }
        }
        Ok(out)
    }

    /// After entries were stored and applied to `st`: rewrites the snapshot when the entries stored
    /// since are too many (`marked` false: the last ones were stored without markers, so the
    /// snapshot must cover them).
    pub(super) fn settle(&self, st: &mut State, marked: bool) -> Result<()> {
        if !marked || st.tail > tail_limit(st.entries) {
            self.write_snapshot(st)?;
            st.tail = 0;
        }
        Ok(())
    }
}
