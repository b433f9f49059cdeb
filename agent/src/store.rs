//! The agent's durable state in sled: its key and certificate, what it learned at enrollment, sync
//! bookkeeping, and every entry it holds (its own and those received from the hub).
//!
//! The view (records, units), the summary and the chain links of the office's own log (to seal the
//! runs it sends, see `proto::chain`) are derived from the entries through `proto::view::apply` and
//! kept in memory. So that opening the store does not replay every entry (3.4 s at 110,000), the
//! derived state is also kept as a snapshot (a file beside sled's, see [`SNAPSHOT_FILE`]), with a
//! marker per entry stored since in the entries tree; open loads it and applies the marked entries only, and
//! falls back to a full replay whenever the snapshot does not account for exactly the entries held. Every write is flushed
//! before the caller is told it happened, so nothing reported as saved or acknowledged can be lost.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use baobi_proto::chain::{self, Link};
use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{self, Entry, Hlc, OfficeUnits, Op, Run};
use baobi_proto::{AuthorId, Dot, Keypair, Sig, Summary};
use bincode::{Decode, Encode};
use serde::{Deserialize, Serialize};

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

/// What the office learned when it enrolled with the hub.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HubInfo {
    /// The hub's address, `host:port`.
    pub addr: String,
    /// SHA-256 of the hub's certificate, hex.
    pub fingerprint: String,
    /// The hub's author key, hex.
    pub author: String,
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The office's unit code.
    pub unit: String,
    /// The office's unit name.
    pub unit_name: String,
    /// The office's label.
    pub label: String,
}

impl HubInfo {
    /// The hub fingerprint as bytes.
    pub fn fingerprint_bytes(&self) -> Result<[u8; 32]> {
        let v = data_encoding::HEXLOWER
            .decode(self.fingerprint.as_bytes())
            .map_err(|e| Error::Corrupt(format!("hub fingerprint: {e}")))?;
        v.try_into()
            .map_err(|_| Error::Corrupt("hub fingerprint: not 32 bytes".into()))
    }

    /// The hub's author id.
    pub fn author_id(&self) -> Result<AuthorId> {
        AuthorId::from_hex(&self.author).map_err(|e| Error::Corrupt(format!("hub author: {e}")))
    }
}

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

const K_SECRET: &[u8] = b"secret";
const K_CERT: &[u8] = b"cert";
const K_HUB: &[u8] = b"hub";
const K_ACKED: &[u8] = b"acked_seq";
const K_HLC: &[u8] = b"last_hlc";
const K_LAST_SYNC: &[u8] = b"last_sync";
const K_LAST_ERROR: &[u8] = b"last_error";
const K_HUB_MISMATCH: &[u8] = b"hub_mismatch";
const K_RESTORING: &[u8] = b"restoring";
/// `hub_head/` + seq (u64 BE) → the hub's head signature over its log at that seq, as received.
const K_HUB_HEAD: &[u8] = b"hub_head/";

/// In the data folder, beside sled's files, the derived state ([`Snapshot`]) as of some set of
/// entries, stamped with a generation that must equal [`K_GEN`] in the entries tree. Not in sled: sled
/// keeps a value this large (390 B per record) as a page of its own that it reads twice at each open
/// and rewrites whole whenever a key beside it changes; a file is read once. Written to
/// [`SNAPSHOT_TMP`], synced, then renamed over it.
const SNAPSHOT_FILE: &str = "view.snapshot";
/// Where the next snapshot is written before it is renamed.
const SNAPSHOT_TMP: &str = "view.snapshot.tmp";
/// In the entries tree, the generation of the snapshot its markers follow (u64 BE). A snapshot is
/// written first, then its generation and the removal of the markers it covers in one batch: a
/// crash between the two leaves a snapshot of another generation, which is not used. The keys of the
/// derived state in the entries tree are shorter than an author id (entry keys are 40 bytes: author,
/// then seq), so they never fall inside an author's range of entry keys and never equal one; the
/// tree's iterations skip them. An entry and its marker are one atomic sled batch.
const K_GEN: &[u8] = b"\0gen";
/// In the entries tree, `\0tail/` + index (u64 BE) → the key of an entry stored after the snapshot.
const K_TAIL: &[u8] = b"\0tail/";
/// Changes whenever what the snapshot holds or how the view is derived changes: an older snapshot is
/// then rebuilt from the entries.
const SNAPSHOT_FORMAT: u32 = 1;

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

fn snapshot_config() -> impl bincode::config::Config {
    bincode::config::standard()
}

fn tail_key(i: u64) -> Vec<u8> {
    let mut k = K_TAIL.to_vec();
    k.extend_from_slice(&i.to_be_bytes());
    k
}

/// True for the key of an entry (not of the derived state kept beside them).
fn is_entry_key(k: &[u8]) -> bool {
    k.len() == 40
}

/// Entries stored after the snapshot before it is written again: an eighth of those held, so an open
/// replays at most that, and writing the snapshot costs at most eight times its share per entry
/// stored (a sync receiving batches of 512 included).
fn tail_limit(entries: u64) -> u64 {
    64 + entries / 8
}

fn hub_head_key(seq: u64) -> Vec<u8> {
    let mut k = K_HUB_HEAD.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
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
        let entries = db.open_tree("entries")?;
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

    /// The derived state from the snapshot and the marked entries, `None` when there is no snapshot
    /// or it does not account for exactly the entries held (damaged, of another format or author,
    /// or entries stored without a marker, e.g. by an older `baobi-agent`).
    fn load_snapshot(&self) -> Result<Option<State>> {
        // Missing or unreadable: replayed from the entries (and written anew).
        // Decoded as it is read, not read whole first: a buffer the size of the file (4 MB at
        // 10,000 records), once freed, raises glibc's mmap threshold and leaves later large buffers
        // in the heap, where they stay in the daemon's RSS (BENCHMARKS.md, "Office app").
        let Ok(file) = std::fs::File::open(self.db.dir().join(SNAPSHOT_FILE)) else {
            return Ok(None);
        };
        let mut reader = std::io::BufReader::new(file);
        let Ok(snap) =
            bincode::decode_from_std_read::<Snapshot, _, _>(&mut reader, snapshot_config())
        else {
            return Ok(None);
        };
        // Nothing may follow the snapshot (a longer file is not this snapshot).
        let trailing = {
            use std::io::Read;
            let mut one = [0u8; 1];
            !matches!(reader.read(&mut one), Ok(0))
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
        for kv in self.entries.scan_prefix(K_TAIL) {
            let (k, v) = kv?;
            let Ok(i) = <[u8; 8]>::try_from(&k[K_TAIL.len()..]) else {
                return Ok(None);
            };
            let Some(ev) = self.entries.get(&v)?.filter(|_| is_entry_key(&v)) else {
                return Ok(None);
            };
            if let Ok(k) = <[u8; 40]>::try_from(v.as_ref()) {
                accounted.insert(k);
            }
            let Ok(e) = wire::decode::<Entry>(&ev) else {
                return Ok(None);
            };
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
    fn accounts_for_all(
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
        use std::ops::Bound::{Excluded, Included, Unbounded};
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
            for k in entry_keys(
                Included(entry_key(a, from).to_vec()),
                Included(entry_key(a, u64::MAX).to_vec()),
            ) {
                let k = k?;
                if !<[u8; 40]>::try_from(k.as_ref()).is_ok_and(|k| accounted.contains(&k)) {
                    return Ok(false);
                }
            }
            lo = Excluded(entry_key(a, u64::MAX).to_vec());
        }
        Ok(entry_keys(lo, Unbounded).next().is_none())
    }

    /// The generation of the snapshot the markers follow (0: none yet).
    fn generation(&self) -> Result<u64> {
        Ok(u64_of(self.entries.get(K_GEN)?))
    }

    /// Writes the snapshot of `st`, then its generation and the removal of the markers it covers in
    /// one atomic batch, durably.
    fn write_snapshot(&self, st: &State) -> Result<()> {
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
            let mut f = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
            bincode::encode_into_std_write(&snap, &mut f, snapshot_config())
                .map_err(|e| Error::Corrupt(format!("snapshot: {e}")))?;
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
    fn beyond(&self, st: &State) -> Result<Vec<[u8; 40]>> {
        let mut out = vec![];
        for a in &st.authors {
            let from = entry_key(a, st.summary.get(a) + 1);
            for k in self.entries.range(from..=entry_key(a, u64::MAX)).keys() {
                if let Ok(k) = <[u8; 40]>::try_from(k?.as_ref()) {
                    out.push(k);
                }
            }
        }
        Ok(out)
    }

    /// After entries were stored and applied to `st`: rewrites the snapshot when the entries stored
    /// since are too many (`marked` false: the last ones were stored without markers, so the
    /// snapshot must cover them).
    fn settle(&self, st: &mut State, marked: bool) -> Result<()> {
        if !marked || st.tail > tail_limit(st.entries) {
            self.write_snapshot(st)?;
            st.tail = 0;
        }
        Ok(())
    }

    /// Adds to `batch` the entries `fresh` with, unless they are too many for the tail (then the
    /// snapshot is rewritten after them), one marker each; returns whether markers were added.
    fn stage(&self, st: &mut State, batch: &mut sled::Batch, fresh: &[&Entry]) -> bool {
        let n = fresh.len() as u64;
        let marked = st.tail + n <= tail_limit(st.entries + n);
        for e in fresh {
            let k = entry_key(&e.author, e.seq);
            batch.insert(&k[..], wire::encode(*e));
            if marked {
                batch.insert(tail_key(st.tail_next), &k[..]);
                st.tail_next += 1;
            }
        }
        if marked {
            st.tail += n;
        }
        marked
    }

    /// Advances each of `authors`' summary over the entries held contiguously after it.
    fn advance_summary(
        &self,
        st: &mut State,
        authors: std::collections::BTreeSet<AuthorId>,
    ) -> Result<()> {
        for a in authors {
            let mut have = st.summary.get(&a);
            while self.entries.contains_key(entry_key(&a, have + 1))? {
                have += 1;
            }
            st.summary.set(a, have);
        }
        Ok(())
    }

    /// Extends the office's own chain links over its entries held contiguously after them.
    fn extend_own_links(&self, links: &mut Vec<Link>) -> Result<()> {
        let Ok(me) = self.author() else {
            return Ok(());
        };
        let mut link = links.last().copied().unwrap_or_else(|| chain::genesis(&me));
        for e in self.range(&me, links.len() as u64 + 1, u64::MAX)? {
            if e.seq != links.len() as u64 + 1 {
                break;
            }
            link = chain::link_of(&link, &e);
            links.push(link);
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
        for kv in self.entries.iter() {
            let (k, v) = kv?;
            if !is_entry_key(&k) {
                continue;
            }
            let e: Entry = wire::decode(&v).map_err(|e| Error::Corrupt(e.to_string()))?;
            let next = seqs.entry(e.author).or_insert(0);
            if e.seq == *next + 1 {
                *next = e.seq;
            }
            st.max_hlc = st.max_hlc.max(e.hlc);
            st.entries += 1;
            st.apply(&e);
        }
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

    /// Chain links of the office's own contiguous entries, from the stored entries (none without a
    /// key yet).
    fn own_links(&self) -> Result<Vec<Link>> {
        let Ok(me) = self.author() else {
            return Ok(vec![]);
        };
        let mut link = chain::genesis(&me);
        let mut out = vec![];
        for e in self.range(&me, 1, u64::MAX)? {
            if e.seq != out.len() as u64 + 1 {
                break;
            }
            link = chain::link_of(&link, &e);
            out.push(link);
        }
        Ok(out)
    }

    /// The chain link of own entry `seq` (the genesis link for 0).
    pub fn own_link(&self, seq: u64) -> Result<Link> {
        match seq.checked_sub(1) {
            None => Ok(chain::genesis(&self.author()?)),
            Some(i) => self
                .state()
                .own_links
                .get(i as usize)
                .copied()
                .ok_or_else(|| Error::Corrupt(format!("no chain link for own entry {seq}"))),
        }
    }

    /// Seals own entries (contiguous, as [`Store::range`] returns them) as one run to send.
    pub fn seal(&self, entries: &[Entry]) -> Result<Run> {
        let kp = self.keypair()?;
        let prev = self.own_link(entries.first().map_or(1, |e| e.seq) - 1)?;
        Run::seal(&kp, prev, entries)
            .map(|(run, _)| run)
            .ok_or_else(|| Error::Corrupt("own entries to send are not contiguous".into()))
    }

    /// Locks the derived state.
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores a freshly made identity (key secret and certificate DER), durably.
    pub fn set_identity(&self, secret: &[u8; 32], cert_der: &[u8]) -> Result<()> {
        self.meta.insert(K_SECRET, &secret[..])?;
        self.meta.insert(K_CERT, cert_der)?;
        self.db.flush()?;
        Ok(())
    }

    /// The office's signing key.
    pub fn keypair(&self) -> Result<Keypair> {
        let v = self.meta.get(K_SECRET)?.ok_or(Error::NoIdentity)?;
        let b: [u8; 32] = v
            .as_ref()
            .try_into()
            .map_err(|_| Error::Corrupt("key secret".into()))?;
        Ok(Keypair::from_secret(&b))
    }

    /// The office's TLS certificate, DER.
    pub fn cert_der(&self) -> Result<Vec<u8>> {
        Ok(self.meta.get(K_CERT)?.ok_or(Error::NoIdentity)?.to_vec())
    }

    /// The office's author id, when it has a key.
    pub fn author(&self) -> Result<AuthorId> {
        Ok(self.keypair()?.author())
    }

    /// What enrollment stored, none before enrollment.
    pub fn hub(&self) -> Result<Option<HubInfo>> {
        match self.meta.get(K_HUB)? {
            None => Ok(None),
            Some(v) => serde_json::from_slice(&v)
                .map(Some)
                .map_err(|e| Error::Corrupt(format!("hub info: {e}"))),
        }
    }

    /// Stores the enrollment result, durably.
    pub fn set_hub(&self, hub: &HubInfo) -> Result<()> {
        let v = serde_json::to_vec(hub).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.meta.insert(K_HUB, v)?;
        self.db.flush()?;
        Ok(())
    }

    /// A tree of its own in the agent's database, for the office app's state (paired devices, sync
    /// history); sled trees are independent of the entries and the meta tree.
    pub fn tree(&self, name: &str) -> Result<sled::Tree> {
        Ok(self.db.open_tree(name)?)
    }

    /// Flushes every write so far to disk.
    pub fn flush(&self) -> Result<()> {
        self.db.flush()?;
        Ok(())
    }

    /// Highest own seq the hub has acknowledged.
    pub fn acked_seq(&self) -> Result<u64> {
        Ok(u64_of(self.meta.get(K_ACKED)?))
    }

    /// Raises the acknowledged seq (never lowers), durably.
    pub fn set_acked_seq(&self, seq: u64) -> Result<()> {
        if seq > self.acked_seq()? {
            self.meta.insert(K_ACKED, &seq.to_be_bytes())?;
            self.db.flush()?;
        }
        Ok(())
    }

    /// Unix time of the last successful sync.
    pub fn last_sync(&self) -> Result<Option<i64>> {
        Ok(self
            .meta
            .get(K_LAST_SYNC)?
            .and_then(|b| b.as_ref().try_into().ok())
            .map(i64::from_be_bytes))
    }

    /// The last sync error, cleared by a successful sync.
    pub fn last_error(&self) -> Result<Option<String>> {
        Ok(self
            .meta
            .get(K_LAST_ERROR)?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// Records a successful sync at `unix` seconds.
    pub fn record_sync_ok(&self, unix: i64) -> Result<()> {
        self.meta.insert(K_LAST_SYNC, &unix.to_be_bytes())?;
        self.meta.remove(K_LAST_ERROR)?;
        self.meta.remove(K_HUB_MISMATCH)?;
        self.db.flush()?;
        Ok(())
    }

    /// Records a failed sync; `hub_mismatch` when it failed because the hub's certificate is not the
    /// pinned one (kept until a sync succeeds, for `status`).
    pub fn record_sync_error(&self, msg: &str, hub_mismatch: bool) -> Result<()> {
        self.meta.insert(K_LAST_ERROR, msg.as_bytes())?;
        if hub_mismatch {
            self.meta.insert(K_HUB_MISMATCH, &[1u8])?;
        } else {
            self.meta.remove(K_HUB_MISMATCH)?;
        }
        self.db.flush()?;
        Ok(())
    }

    /// True when the last sync failed because the hub's certificate did not match the pinned one.
    pub fn hub_mismatch(&self) -> Result<bool> {
        Ok(self.meta.get(K_HUB_MISMATCH)?.is_some())
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

    /// True while a restore from a key backup waits for its first sync (writes are refused).
    pub fn restoring(&self) -> Result<bool> {
        Ok(self.meta.get(K_RESTORING)?.is_some())
    }

    /// Marks (or clears) the restore-from-key state, durably.
    pub fn set_restoring(&self, on: bool) -> Result<()> {
        if on {
            self.meta.insert(K_RESTORING, &[1u8][..])?;
        } else {
            self.meta.remove(K_RESTORING)?;
        }
        self.db.flush()?;
        Ok(())
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
        let marked = self.stage(&mut st, &mut batch, &written.iter().collect::<Vec<_>>());
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
        for e in &entries {
            if matches!(
                e.op,
                Op::Unit(_) | Op::Plan(_) | Op::Review(_) | Op::Office(_)
            ) && e.author != *hub_author
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
        for e in &entries {
            let k = entry_key(&e.author, e.seq);
            // Once each, even when two runs overlap (the count of entries must stay exact).
            if !seen.insert(k) || self.entries.contains_key(k)? {
                continue;
            }
            fresh.push(e);
        }
        let mut st = self.state();
        let marked = self.stage(&mut st, &mut batch, &fresh);
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

    /// Keeps the head signatures of the hub's runs that cover the hub entries this store holds (a
    /// head over other entries, a hub that forked its log, is not kept), so the office can hand the
    /// hub's own entries back to a hub restored from an older backup: sealed by the hub's key, they
    /// are the hub's word, whoever carries them.
    fn keep_hub_heads(&self, runs: &[Run], hub_author: &AuthorId) -> Result<()> {
        let mut kept = false;
        for run in runs.iter().filter(|r| r.author == *hub_author) {
            let Some(link) = self.hub_link(hub_author, run.last())? else {
                continue;
            };
            if hub_author.verify(&chain::head_bytes(hub_author, run.last(), &link), &run.head) {
                self.meta
                    .insert(hub_head_key(run.last()), &run.head.0[..])?;
                kept = true;
            }
        }
        if kept {
            self.db.flush()?;
        }
        Ok(())
    }

    /// The link of the hub's entry `seq` over the hub entries held (genesis for 0), `None` when they
    /// are not all held.
    fn hub_link(&self, hub_author: &AuthorId, seq: u64) -> Result<Option<Link>> {
        let mut link = chain::genesis(hub_author);
        let mut n = 0;
        for e in self.range(hub_author, 1, seq)? {
            n += 1;
            if e.seq != n {
                return Ok(None);
            }
            link = chain::link_of(&link, &e);
        }
        Ok((n == seq).then_some(link))
    }

    /// The hub's own entries `from..=to` this store holds, as runs sealed by the hub's head
    /// signatures kept (each at most `room` entries, ending at a head), for a hub that lacks them.
    pub fn hub_runs(
        &self,
        hub_author: &AuthorId,
        from: u64,
        to: u64,
        room: usize,
    ) -> Result<Vec<Run>> {
        let mut out = vec![];
        if from == 0 || to < from || room == 0 {
            return Ok(out);
        }
        let mut heads: Vec<(u64, Sig)> = vec![];
        for kv in self.meta.range(hub_head_key(from)..=hub_head_key(to)) {
            let (k, v) = kv?;
            let seq = u64_of(Some(k.subslice(K_HUB_HEAD.len(), 8)));
            if let Ok(sig) = <[u8; 64]>::try_from(v.as_ref()) {
                heads.push((seq, Sig(sig)));
            }
        }
        let Some(mut prev) = self.hub_link(hub_author, from - 1)? else {
            return Ok(out);
        };
        let mut start = from;
        while let Some((end, sig)) = heads
            .iter()
            .rfind(|(h, _)| *h >= start && *h - start < room as u64)
            .copied()
        {
            let entries = self.range(hub_author, start, end)?;
            let Some(run) = Run::with_head(*hub_author, prev, &entries, sig) else {
                break;
            };
            prev = entries.iter().fold(prev, |l, e| chain::link_of(&l, e));
            out.push(run);
            start = end + 1;
        }
        Ok(out)
    }

    /// Entries `from..=to` of `author`, in order.
    pub fn range(&self, author: &AuthorId, from: u64, to: u64) -> Result<Vec<Entry>> {
        self.entries
            .range(entry_key(author, from)..=entry_key(author, to))
            .map(|kv| {
                let (_, v) = kv?;
                wire::decode(&v).map_err(|e| Error::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// Every entry held, in (author, seq) order.
    pub fn entries(&self) -> Result<Vec<Entry>> {
        self.entries
            .iter()
            .filter(|kv| kv.as_ref().map_or(true, |(k, _)| is_entry_key(k)))
            .map(|kv| {
                let (_, v) = kv?;
                wire::decode(&v).map_err(|e| Error::Corrupt(e.to_string()))
            })
            .collect()
    }

    /// The office's own entries, in seq order.
    pub fn own_entries(&self) -> Result<Vec<Entry>> {
        let me = self.author()?;
        self.range(&me, 1, u64::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::wire::{Body, CampaignEvent, CampaignKind, Date};

    fn op(n: u32) -> Op {
        Op::Record(Body::Campaign(CampaignEvent {
            unit: "30226".into(),
            date: Date(20250301),
            kind: CampaignKind::Event,
            participants: Some(n),
            topic: "Nói không với túi ni lông".into(),
        }))
    }

    #[test]
    fn reopen_keeps_entries_and_summary() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        let author;
        {
            let s = Store::open(dir.path()).unwrap();
            s.set_identity(&kp.secret(), b"cert").unwrap();
            author = s.author().unwrap();
            let a = s.append(op(1), 1000).unwrap();
            let b = s.append(op(2), 1000).unwrap();
            assert_eq!((a.seq, b.seq), (1, 2));
            assert!(b.hlc > a.hlc);
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.author().unwrap(), author);
        assert_eq!(s.entries().unwrap().len(), 2);
        assert_eq!(s.summary().get(&author), 2);
        assert_eq!(s.state().view.records.len(), 2);
        assert_eq!(s.append(op(3), 0).unwrap().seq, 3);
    }

    fn e2_dot(k: &Keypair) -> baobi_proto::wire::Dot {
        baobi_proto::wire::Dot {
            author: k.author(),
            seq: 2,
        }
    }

    /// Seals `entries[from-1..]` of `k`'s log (`entries` starts at seq 1) as one run.
    fn run(k: &Keypair, entries: &[Entry], from: usize, to: usize) -> Run {
        let mut prev = chain::genesis(&k.author());
        for e in &entries[..from - 1] {
            prev = chain::link_of(&prev, e);
        }
        Run::seal(k, prev, &entries[from - 1..to]).unwrap().0
    }

    #[test]
    fn summary_counts_contiguous_received_entries() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let other = Keypair::generate();
        let hub = Keypair::generate().author();
        let log: Vec<Entry> = (1..=4)
            .map(|i| other.sign_entry(i, Hlc(i), op(i as u32)))
            .collect();
        let (r1, r3) = (run(&other, &log, 1, 1), run(&other, &log, 3, 3));
        assert_eq!(s.store_received(&[r1, r3], &hub).unwrap(), 2);
        assert_eq!(s.summary().get(&other.author()), 1);
        assert_eq!(
            s.store_received(&[run(&other, &log, 2, 3)], &hub).unwrap(),
            1
        );
        assert_eq!(s.summary().get(&other.author()), 3);
        // Review decisions (like units and plans) are accepted from the hub's key only.
        let review = Op::Review(baobi_proto::wire::ReviewDecision {
            record: e2_dot(&other),
            version: [0; 32],
            decision: baobi_proto::wire::Decision::Returned,
            reason: "sai".into(),
        });
        let mut forged = log.clone();
        forged[3] = other.sign_entry(4, Hlc(4), review);
        assert!(s
            .store_received(&[run(&other, &forged, 4, 4)], &hub)
            .is_err());
        // A run whose content changed after sealing.
        let mut bad = run(&other, &log, 4, 4);
        bad.from = 5;
        assert!(s.store_received(&[bad], &hub).is_err());
        let mut bad = run(&other, &log, 4, 4);
        bad.items[0].hlc = Hlc(40);
        assert!(s.store_received(&[bad], &hub).is_err());
        // A placeholder in an office's log stands for its own entry only (the hub withholds what
        // this office is not sent): taken, counted in the summary, and nothing in the view.
        assert_eq!(s.entries().unwrap().len(), 3);
        let elided = run(&other, &log, 4, 4).elide(|_, _| true);
        assert!(s.store_received(&[elided], &hub).is_ok());
        assert_eq!(s.entries().unwrap().len(), 4);
    }

    #[test]
    fn own_runs_chain_on_across_reopen_and_restore() {
        let kp = Keypair::generate();
        let dir = tempfile::tempdir().unwrap();
        let log = {
            let s = Store::open(dir.path()).unwrap();
            s.set_identity(&kp.secret(), b"cert").unwrap();
            (1..=3)
                .map(|i| s.append(op(i), 1000).unwrap())
                .collect::<Vec<_>>()
        };
        let s = Store::open(dir.path()).unwrap();
        // After a reopen the links are rebuilt: a run from any seq seals as a fresh chain would.
        let r = s.seal(&log[1..]).unwrap();
        assert_eq!(r, run(&kp, &log, 2, 3));
        assert!(r.open().is_some());
        drop(s);
        // A store restored from the key gets its entries back from the hub, then continues the chain.
        let dir2 = tempfile::tempdir().unwrap();
        let s2 = Store::open(dir2.path()).unwrap();
        s2.set_identity(&kp.secret(), b"cert").unwrap();
        let hub = Keypair::generate().author();
        s2.store_received(&[run(&kp, &log, 1, 3)], &hub).unwrap();
        let e4 = s2.append(op(4), 1000).unwrap();
        let mut all = log.clone();
        all.push(e4.clone());
        assert_eq!(s2.seal(&[e4]).unwrap(), run(&kp, &all, 4, 4));
    }

    fn market(outlet: baobi_proto::Dot, day: u32, grams: u32) -> Op {
        Op::Record(Body::MarketSurvey(baobi_proto::wire::MarketSurvey {
            outlet,
            unit: "30226".into(),
            date: Date(20250300 + day),
            year: 2025,
            round: baobi_proto::wire::Round::Annual,
            vendors_total: 200,
            vendors_surveyed: 60,
            nonbio_g_per_day: grams,
            eco_g_per_day: None,
            vendors_nonbio: 40,
            vendors_alternatives: None,
            operating_days: None,
            reduction_model: false,
            notes: String::new(),
        }))
    }

    fn outlet(n: u64) -> Op {
        Op::Record(Body::Outlet(baobi_proto::wire::OutletDef {
            kind: baobi_proto::wire::OutletKind::Market,
            name: format!("Chợ số {n}"),
            unit: "30226".into(),
            address: String::new(),
            market_class: Some(2),
            certifications: vec![],
            opened: None,
            closed: None,
        }))
    }

    /// What the derived state says (the snapshot's own bookkeeping left out).
    type Derived = (
        MemTables,
        Summary,
        Hlc,
        u64,
        Vec<Link>,
        std::collections::BTreeSet<AuthorId>,
        BTreeMap<AuthorId, (Hlc, Dot, OfficeUnits)>,
    );

    fn derived(st: &State) -> Derived {
        (
            st.view.clone(),
            st.summary.clone(),
            st.max_hlc,
            st.entries,
            st.own_links.clone(),
            st.authors.clone(),
            st.offices.clone(),
        )
    }

    /// A random well-formed op of this office: an outlet, a survey of an outlet it sees, or a
    /// correction or retraction of a survey it sees (its own or another office's).
    fn random_op(s: &Store, rng: &mut impl rand::Rng, n: u64) -> Op {
        let st = s.state();
        let recs: Vec<&view::RecordState> = st.view.records.values().collect();
        let outlets: Vec<Dot> = recs
            .iter()
            .filter(|r| matches!(r.original(), Some(Body::Outlet(_))))
            .map(|r| r.id)
            .collect();
        let surveys: Vec<&view::RecordState> = recs
            .iter()
            .copied()
            .filter(|r| matches!(r.original(), Some(Body::MarketSurvey(_))))
            .collect();
        let roll = rng.gen_range(0..100);
        if outlets.is_empty() || roll < 10 {
            return outlet(n);
        }
        if !surveys.is_empty() && roll < 35 {
            let rec = surveys[rng.gen_range(0..surveys.len())];
            let supersedes = rec.heads().iter().map(|h| h.hash).collect();
            if roll < 12 {
                return Op::Retract(baobi_proto::wire::Retraction {
                    record: rec.id,
                    supersedes,
                    reason: "nhập trùng".into(),
                });
            }
            let Some(Body::MarketSurvey(mut m)) = rec.original().cloned() else {
                unreachable!()
            };
            m.nonbio_g_per_day = rng.gen_range(0..30_000);
            if rng.gen_bool(0.2) {
                m.year = 2024;
            }
            return Op::Correct(baobi_proto::wire::Correction {
                record: rec.id,
                supersedes,
                body: Body::MarketSurvey(m),
            });
        }
        let o = outlets[rng.gen_range(0..outlets.len())];
        market(o, rng.gen_range(1..=28), rng.gen_range(0..30_000))
    }

    /// The view a function of the set of entries: after random saves, corrections, retractions,
    /// imports, entries received from the hub (out of order, with gaps) and reopens, the state loaded
    /// from the snapshot equals the one replayed from every entry, and the one in memory before.
    /// `BAOBI_SNAPSHOT_SEEDS=N` runs N seeds (default 3).
    #[test]
    fn loaded_state_equals_a_full_replay() {
        use rand::{Rng, SeedableRng};
        let seeds: u64 = std::env::var("BAOBI_SNAPSHOT_SEEDS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(3);
        for seed in 0..seeds {
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            let dir = tempfile::tempdir().unwrap();
            let kp = Keypair::generate();
            let hub = Keypair::generate();
            let other = Keypair::generate();
            let mut s = Store::open(dir.path()).unwrap();
            s.set_identity(&kp.secret(), b"cert").unwrap();
            // The other office's log, written by a store of its own, delivered in pieces.
            let odir = tempfile::tempdir().unwrap();
            let os = Store::open(odir.path()).unwrap();
            os.set_identity(&other.secret(), b"cert").unwrap();
            let mut olog: Vec<Entry> = vec![];
            let mut hub_log: Vec<Entry> = vec![];
            let mut reopens = 0;
            for step in 0..100u64 {
                let now = 1_700_000_000_000 + step * 1000;
                match rng.gen_range(0..100) {
                    0..=39 => {
                        s.append(random_op(&s, &mut rng, step), now).unwrap();
                    }
                    40..=49 => {
                        // An import: sometimes more than the tail takes, so stored without markers.
                        let n = if rng.gen_bool(0.7) {
                            rng.gen_range(2..10)
                        } else {
                            rng.gen_range(70..120)
                        };
                        let ops = (0..n).map(|i| random_op(&s, &mut rng, step * 1000 + i));
                        s.append_all(ops.collect(), now).unwrap();
                    }
                    50..=69 => {
                        for _ in 0..rng.gen_range(1..6) {
                            olog.push(os.append(random_op(&os, &mut rng, step), now).unwrap());
                        }
                        let to = rng.gen_range(1..=olog.len());
                        let from = rng.gen_range(1..=to);
                        s.store_received(&[run(&other, &olog, from, to)], &hub.author())
                            .unwrap();
                    }
                    70..=79 => {
                        let seq = hub_log.len() as u64 + 1;
                        let op = Op::Office(OfficeUnits {
                            office: if rng.gen_bool(0.5) {
                                kp.author()
                            } else {
                                other.author()
                            },
                            units: vec![],
                            past: vec![],
                        });
                        hub_log.push(hub.sign_entry(seq, Hlc(now << 16), op));
                        let r = run(&hub, &hub_log, hub_log.len(), hub_log.len());
                        s.store_received(&[r], &hub.author()).unwrap();
                    }
                    _ => {
                        let before = derived(&s.state());
                        drop(s);
                        s = Store::open(dir.path()).unwrap();
                        reopens += 1;
                        let loaded = derived(&s.state());
                        assert_eq!(loaded, before, "seed {seed} step {step}: reopened");
                        assert_eq!(
                            loaded,
                            derived(&s.rebuilt().unwrap()),
                            "seed {seed} step {step}: loaded vs replayed"
                        );
                        let st = s.state();
                        assert!(st.replayed <= tail_limit(st.entries));
                    }
                }
            }
            assert!(reopens > 0);
            let st = derived(&s.state());
            assert_eq!(
                st,
                derived(&s.rebuilt().unwrap()),
                "seed {seed}: at the end"
            );
        }
    }

    /// Opening a store replays only the entries stored since the snapshot, not all of them.
    #[test]
    fn reopen_replays_only_entries_after_the_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        {
            let s = Store::open(dir.path()).unwrap();
            s.set_identity(&kp.secret(), b"cert").unwrap();
            let o = s.append(outlet(1), 1000).unwrap();
            let ops = (0..2000).map(|i| market(o.dot(), i % 28 + 1, i)).collect();
            s.append_all(ops, 2000).unwrap();
            for i in 0..5 {
                s.append(market(o.dot(), 1, i), 3000).unwrap();
            }
        }
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.state().entries, 2006);
        assert_eq!(s.state().replayed, 5, "the five saves after the import");
        assert_eq!(derived(&s.state()), derived(&s.rebuilt().unwrap()));
    }

    /// A damaged snapshot, one of another format, or entries stored without markers (an older
    /// `baobi-agent`): the store replays every entry and the view is still the right one.
    #[test]
    fn stale_or_damaged_snapshot_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let kp = Keypair::generate();
        let other = Keypair::generate();
        let o;
        {
            let s = Store::open(dir.path()).unwrap();
            s.set_identity(&kp.secret(), b"cert").unwrap();
            o = s.append(outlet(1), 1000).unwrap();
            for i in 0..10 {
                s.append(market(o.dot(), i + 1, i * 100), 1000).unwrap();
            }
        }
        let reopen = |expect: u64| {
            let s = Store::open(dir.path()).unwrap();
            assert_eq!(s.state().replayed, expect);
            assert_eq!(derived(&s.state()), derived(&s.rebuilt().unwrap()));
            s
        };
        // Written before the office had its key: of another author, replayed (and written anew).
        drop(reopen(11));
        let s = reopen(0);
        // Damaged bytes.
        let file = dir.path().join(SNAPSHOT_FILE);
        std::fs::write(&file, b"\x01\x02garbage").unwrap();
        drop(s);
        let s = reopen(11);
        // Another format.
        let good = std::fs::read(&file).unwrap();
        let mut bytes = good.clone();
        bytes[0] = bytes[0].wrapping_add(1);
        std::fs::write(&file, bytes).unwrap();
        drop(s);
        let s = reopen(11);
        // The snapshot in force with a byte more after it, or one fewer: not this snapshot.
        drop(s);
        let current = std::fs::read(&file).unwrap();
        let s = reopen(0);
        let mut longer = current.clone();
        longer.push(0);
        std::fs::write(&file, longer).unwrap();
        drop(s);
        let s = reopen(11);
        let current = std::fs::read(&file).unwrap();
        std::fs::write(&file, &current[..current.len() - 1]).unwrap();
        drop(s);
        let s = reopen(11);
        // An older snapshot (a crash after writing a new one, before its generation): 11 entries
        // replayed again, although the old one counts them all.
        std::fs::write(&file, good).unwrap();
        drop(s);
        let s = reopen(11);
        // An entry stored without a marker, as a store written by an older agent holds it: the
        // snapshot no longer accounts for every entry.
        let e = other.sign_entry(1, Hlc(5), market(o.dot(), 3, 777));
        s.entries
            .insert(&entry_key(&other.author(), 1)[..], wire::encode(&e))
            .unwrap();
        s.db.flush().unwrap();
        let before = s.state().entries;
        drop(s);
        let mut s = reopen(12);
        assert_eq!(s.state().entries, before + 1);
        assert_eq!(s.summary().get(&other.author()), 1);
        assert!(s.state().view.records.contains_key(&e.dot()));
        // The same from an author the snapshot knows: past its contiguous seq, and out of order.
        for seq in [3, 2] {
            let e = other.sign_entry(seq, Hlc(6), market(o.dot(), 4, 100 + seq as u32));
            s.entries
                .insert(&entry_key(&other.author(), seq)[..], wire::encode(&e))
                .unwrap();
            s.db.flush().unwrap();
            drop(s);
            s = reopen(13 + u64::from(seq == 2));
            assert!(s.state().view.records.contains_key(&e.dot()));
        }
        assert_eq!(s.summary().get(&other.author()), 3);
    }
}
