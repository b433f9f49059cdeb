//! The agent's durable state in sled: its key and certificate, what it learned at enrollment, sync
//! bookkeeping, and every entry it holds (its own and those received from the hub).
//!
//! The view (records, units), the summary and the chain links of the office's own log (to seal the
//! runs it sends, see `proto::chain`) are derived from the entries through `proto::view::apply` and
//! kept in memory. So that opening the store does not replay every entry (3.4 s at 110,000), the
//! derived state is also kept as a snapshot (a file beside sled's, see `snapshot.rs`), with a
//! marker per entry stored since in the entries tree; open loads it and applies the marked entries
//! only, and falls back to a full replay whenever the snapshot does not account for exactly the
//! entries held. Every write is flushed before the caller is told it happened, so nothing reported as
//! saved or acknowledged can be lost.
//!
//! Split by job: this file (`Store`, open, the entries: append, receive, read), `snapshot.rs` (the
//! `view.snapshot` file, its generation and markers), `blocks.rs` (how the entries are laid out in
//! sled: 64 to a value, each as its clock and op), `meta.rs` (key, certificate, enrollment, sync
//! bookkeeping), `links.rs` (own chain links, the hub's heads).

mod blocks;
mod links;
mod meta;
mod snapshot;
#[cfg(test)]
mod tests;

pub use meta::HubInfo;
use snapshot::{tail_key, tail_limit};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use baobi_proto::chain::{self, Link};
use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{self, Entry, Hlc, OfficeUnits, Op, Run};
use baobi_proto::{AuthorId, Dot, Summary};

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("database error: {0}")]
    Sled(#[from] sled::Error),
    /// The store did not open (in use, damaged, or its folder unreadable); the message says which
    /// and what to do.
    #[error(transparent)]
    Open(#[from] baobi_storage::OpenError),
    /// The snapshot file could not be written.
    #[error("lỗi ghi tệp ảnh chụp / snapshot file error: {0}")]
    Io(#[from] std::io::Error),
    /// Stored bytes do not decode.
    #[error("stored data is damaged: {0}")]
    Corrupt(String),
    /// The store holds no key yet.
    #[error("no identity in this store")]
    NoIdentity,
    /// An entry received from the hub is not acceptable.
    #[error("entry {0} refused: {1}")]
    BadEntry(String, String),
    /// A restore from a key backup has not fetched the office's entries from the hub yet: writing
    /// now could reuse a sequence number the hub already holds.
    #[error(
        "khôi phục chưa xong: chưa lấy lại dữ liệu từ máy chủ tỉnh / restore not finished: this \
         office's entries have not been fetched from the hub yet; run `baobi-agent sync` when the \
         hub is reachable, then record again"
    )]
    Restoring,
}

/// Result with the store's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// In-memory state derived from the entries, behind a lock shared by clones of the store.
#[derive(Debug, Default)]
pub struct State {
    /// The reduced view.
    pub view: MemTables,
    /// Per author, the highest contiguous seq held.
    pub summary: Summary,
    /// Highest clock seen on any entry.
    pub max_hlc: Hlc,
    /// Number of entries held.
    pub entries: u64,
    /// Chain links of the office's own entries `1..=n`, contiguous (index = seq - 1).
    pub own_links: Vec<Link>,
    /// Every author of an entry held (to resolve short record ids without a pass over the records).
    pub authors: std::collections::BTreeSet<AuthorId>,
    /// Each office's jurisdiction entry from the hub, the latest by (clock, dot).
    pub offices: BTreeMap<AuthorId, (Hlc, Dot, OfficeUnits)>,
    /// Entries stored since the snapshot, each with a marker (see [`K_TAIL`]).
    pub tail: u64,
    /// Index of the next marker.
    pub tail_next: u64,
    /// Entries decoded and applied when the store was opened (all of them without a usable
    /// snapshot, else those stored since it).
    pub replayed: u64,
}

impl State {
    /// Applies `e` to the view, and keeps it when it sets an office's jurisdiction.
    fn apply(&mut self, e: &Entry) {
        view::apply(&mut self.view, e);
        self.authors.insert(e.author);
        if let Op::Office(o) = &e.op {
            let newer = self
                .offices
                .get(&o.office)
                .is_none_or(|(h, d, _)| (*h, *d) < (e.hlc, e.dot()));
            if newer {
                self.offices.insert(o.office, (e.hlc, e.dot(), o.clone()));
            }
        }
    }
}

/// The agent's store. Cloning is cheap and clones share the database and the view.
#[derive(Clone)]
pub struct Store {
    db: baobi_storage::Db,
    meta: sled::Tree,
    entries: sled::Tree,
    state: Arc<Mutex<State>>,
}

/// Meta tree: the highest clock seen (u64 BE), so a clock never runs back after a reopen.
const K_HLC: &[u8] = b"last_hlc";

/// True for the key of an entry (not of the derived state kept beside them).
fn is_entry_key(k: &[u8]) -> bool {
    k.len() == 40
}

/// The sled key of an entry: author bytes then seq big-endian.
pub fn entry_key(author: &AuthorId, seq: u64) -> [u8; 40] {
    let mut k = [0u8; 40];
    k[..32].copy_from_slice(&author.0);
    k[32..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn u64_of(v: Option<sled::IVec>) -> u64 {
    v.and_then(|b| b.as_ref().try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and loads the view: from the snapshot and the
    /// entries stored since when it accounts for every entry held, else by replaying every entry.
    pub fn open(dir: impl AsRef<Path>) -> Result<Store> {
        let db = baobi_storage::Db::open(dir.as_ref(), 16 << 20)?;
        let meta = db.open_tree("meta")?;
        let entries = db.open_tree(blocks::TREE)?;
        blocks::migrate(&db, &entries)?;
        let store = Store {
            db,
            meta,
            entries,
            state: Arc::new(Mutex::new(State::default())),
        };
        let st = match store.load_snapshot()? {
            Some(st) => st,
            None => {
                let st = store.rebuild()?;
                store.write_snapshot(&st)?;
                st
            }
        };
        *store.state.lock().unwrap_or_else(|p| p.into_inner()) = st;
        Ok(store)
    }

    /// Adds to `batch` the entries `fresh` with, unless they are too many for the tail (then the
    /// snapshot is rewritten after them), one marker each; returns whether markers were added.
    fn stage(
        &self,
        st: &mut State,
        batch: &mut sled::Batch,
        mut staged: blocks::Staged,
        fresh: &[&Entry],
    ) -> Result<bool> {
        let n = fresh.len() as u64;
        let marked = st.tail + n <= tail_limit(st.entries + n);
        for e in fresh {
            staged.add(&self.entries, e)?;
            let k = entry_key(&e.author, e.seq);
            if marked {
                batch.insert(tail_key(st.tail_next), &k[..]);
                st.tail_next += 1;
            }
        }
        staged.write(batch);
        if marked {
            st.tail += n;
        }
        Ok(marked)
    }

    /// Advances each of `authors`' summary over the entries held contiguously after it.
    fn advance_summary(
        &self,
        st: &mut State,
        authors: std::collections::BTreeSet<AuthorId>,
    ) -> Result<()> {
        let mut held = blocks::Staged::default();
        for a in authors {
            let mut have = st.summary.get(&a);
            while held.holds(&self.entries, &a, have + 1)? {
                have += 1;
            }
            st.summary.set(a, have);
        }
        Ok(())
    }

    /// The derived state from every entry held (no snapshot).
    fn rebuild(&self) -> Result<State> {
        let mut st = State {
            max_hlc: Hlc(u64_of(self.meta.get(K_HLC)?)),
            ..State::default()
        };
        let mut seqs: BTreeMap<AuthorId, u64> = BTreeMap::new();
        blocks::Blocks(&self.entries).for_each(|e| {
            let next = seqs.entry(e.author).or_insert(0);
            if e.seq == *next + 1 {
                *next = e.seq;
            }
            st.max_hlc = st.max_hlc.max(e.hlc);
            st.entries += 1;
            st.apply(&e);
            Ok(())
        })?;
        for (a, s) in seqs {
            st.summary.set(a, s);
        }
        st.own_links = self.own_links()?;
        st.replayed = st.entries;
        Ok(st)
    }

    /// The derived state replayed from every entry held, ignoring the snapshot and changing nothing
    /// (what the loaded state must equal; for tests and checks).
    pub fn rebuilt(&self) -> Result<State> {
        self.rebuild()
    }

    /// Locks the derived state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The summary to open a sync with.
    pub fn summary(&self) -> Summary {
        self.state().summary.clone()
    }

    /// Highest own seq held.
    pub fn own_seq(&self) -> Result<u64> {
        let me = self.author()?;
        Ok(self.state().summary.get(&me))
    }

    /// Signs `op` as the next entry of the office's log, stores it durably and applies it. The clock
    /// ticks from `now_ms`, taking the highest clock seen into account only up to a day ahead
    /// (`Hlc::tick_bounded`), so an entry from an office whose clock is years ahead cannot drag ours.
    pub fn append(&self, op: Op, now_ms: u64) -> Result<Entry> {
        let mut v = self.append_all(vec![op], now_ms)?;
        v.pop()
            .ok_or_else(|| Error::Corrupt("append wrote nothing".into()))
    }

    /// Signs `ops` as the next entries of the office's log and stores them in one atomic batch with
    /// one flush (`survey import`): after a kill or a power cut the store holds all of them or none.
    /// Costs O(ops), whatever the store holds.
    pub fn append_all(&self, ops: Vec<Op>, now_ms: u64) -> Result<Vec<Entry>> {
        if self.restoring()? {
            return Err(Error::Restoring);
        }
        let kp = self.keypair()?;
        let me = kp.author();
        let mut st = self.state();
        let mut seq = st.summary.get(&me);
        let mut hlc = st.max_hlc;
        let mut batch = sled::Batch::default();
        let mut written = Vec::with_capacity(ops.len());
        for op in ops {
            seq += 1;
            hlc = Hlc::tick_bounded(hlc, now_ms);
            // A new record keeps the device's wall clock, on which timeliness is judged.
            let op = match op {
                Op::Record(body) => Op::Created(wire::Created {
                    body,
                    wall_ms: now_ms,
                }),
                op => op,
            };
            written.push(kp.sign_entry(seq, hlc, op));
        }
        if written.is_empty() {
            return Ok(written);
        }
        let staged = blocks::Staged::default();
        let marked = self.stage(
            &mut st,
            &mut batch,
            staged,
            &written.iter().collect::<Vec<_>>(),
        )?;
        self.entries.apply_batch(batch)?;
        self.meta.insert(K_HLC, &hlc.0.to_be_bytes())?;
        self.db.flush()?;
        st.summary.set(me, seq);
        st.max_hlc = hlc;
        st.authors.insert(me);
        let mut prev = st
            .own_links
            .last()
            .copied()
            .unwrap_or_else(|| chain::genesis(&me));
        for e in &written {
            st.entries += 1;
            prev = chain::link_of(&prev, e);
            st.own_links.push(prev);
            st.apply(e);
        }
        self.settle(&mut st, marked)?;
        Ok(written)
    }

    /// Opens runs received from the hub (their seals must verify), stores their entries durably,
    /// then applies them. Nothing is stored when one of them is unacceptable.
    pub fn store_received(&self, runs: &[Run], hub_author: &AuthorId) -> Result<usize> {
        let mut entries = Vec::new();
        for run in runs {
            let span = format!("{}-{}..{}", run.author.short(), run.from, run.last());
            let opened = run
                .open()
                .ok_or_else(|| Error::BadEntry(span, "bad signature".into()))?;
            entries.extend(opened.into_iter().map(|(e, _)| e));
        }
        // The hub's entries are the primary's, or the standby's once it was promoted (or, for an
        // office enrolled at a promoted standby, the primary its certificate names).
        let standby = crate::standby::author(self)?;
        let line = crate::standby_cert::line(self)?;
        for e in &entries {
            if matches!(
                e.op,
                Op::Unit(_) | Op::Plan(_) | Op::Review(_) | Op::Office(_)
            ) && e.author != *hub_author
                && Some(e.author) != standby
                && Some(e.author) != line
            {
                return Err(Error::BadEntry(
                    e.dot().to_string(),
                    "unit, plan, review or office's units written by someone other than the hub"
                        .into(),
                ));
            }
        }
        let mut batch = sled::Batch::default();
        let mut fresh = Vec::new();
        let mut seen = std::collections::BTreeSet::new();
        let mut staged = blocks::Staged::default();
        for e in &entries {
            let k = entry_key(&e.author, e.seq);
            // Once each, even when two runs overlap (the count of entries must stay exact).
            if !seen.insert(k) || staged.holds(&self.entries, &e.author, e.seq)? {
                continue;
            }
            fresh.push(e);
        }
        let mut st = self.state();
        let marked = self.stage(&mut st, &mut batch, staged, &fresh)?;
        self.entries.apply_batch(batch)?;
        self.db.flush()?;
        for e in &fresh {
            st.max_hlc = st.max_hlc.max(e.hlc);
            st.entries += 1;
            st.apply(e);
        }
        let authors: std::collections::BTreeSet<AuthorId> =
            fresh.iter().map(|e| e.author).collect();
        self.advance_summary(&mut st, authors)?;
        let own_back = self
            .author()
            .is_ok_and(|me| fresh.iter().any(|e| e.author == me));
        if own_back {
            // The office's own entries came back from the hub (a restore): chain them.
            st.own_links = self.own_links()?;
        }
        if !fresh.is_empty() {
            self.settle(&mut st, marked)?;
        }
        drop(st);
        self.keep_hub_heads(runs, hub_author)?;
        Ok(fresh.len())
    }

    /// Entries `from..=to` of `author`, in order.
    pub fn range(&self, author: &AuthorId, from: u64, to: u64) -> Result<Vec<Entry>> {
        blocks::Blocks(&self.entries).range(author, from, to)
    }

    /// Every entry held, in (author, seq) order.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        let mut out = vec![];
        blocks::Blocks(&self.entries).for_each(|e| {
            out.push(e);
            Ok(())
        })?;
        Ok(out)
    }

    /// The office's own entries, in seq order.
    pub fn own_entries(&self) -> Result<Vec<Entry>> {
        let me = self.author()?;
        self.range(&me, 1, u64::MAX)
    }

    /// Stores `e` without a marker, as an older `baobi-agent` did (for tests of the snapshot's checks).
    #[cfg(test)]
    fn put_unmarked(&self, e: &Entry) -> Result<()> {
        let mut staged = blocks::Staged::default();
        staged.add(&self.entries, e)?;
        let mut batch = sled::Batch::default();
        staged.write(&mut batch);
        self.entries.apply_batch(batch)?;
        self.db.flush()?;
        Ok(())
    }
}
