//! How the entries are laid out in sled: up to [`BLOCK`] consecutive seqs of one author in one value,
//! each entry as its clock and op only (issue 13 goal 3, ≤ 400 B of disk per entry at an office).
//!
//! sled 0.34 pays per key (a delta frame in its log for every insert, the key again in the node, the
//! node rewritten at consolidation): one key per entry with the whole entry as its value (author and
//! seq twice, a 64-byte signature) cost 547-789 B of sled's folder per entry; a block of 64 compact
//! entries costs 141-314 B (10,000 to 100,000 entries, BENCHMARKS.md). An entry's author and seq are
//! its block's key and its place in the block; its signature is not kept: an office's entries leave
//! it as runs sealed by a head signature over their chain links (`proto::chain`), never with their
//! own, and entries received from the hub carry none (`Sig::CHAINED`), so a stored entry reads back
//! with `Sig::CHAINED`.
//!
//! Block key: author (32 bytes) then block number `(seq - 1) / BLOCK` (u64 BE), 40 bytes, so an
//! author's blocks are contiguous and in seq order, and the derived-state keys kept in the same tree
//! (shorter, `\0`-prefixed) never fall among them. Value: `wire::encode` of the block's items in seq
//! order; a block may have gaps (entries received out of order).
//!
//! A store of the older layout (tree `entries`, one key per entry) is converted at open: the blocks
//! in one atomic batch, flushed, then the older tree dropped and made again holding [`FENCE`] only; a
//! crash before the drop converts it again. The fence is there in every store (new ones too), so that an older
//! `baobi-agent` refuses the store as damaged rather than find no entries and sign seqs it already used.

use std::collections::BTreeMap;

use baobi_proto::wire::{self, Entry, Hlc, Op};
use baobi_proto::{AuthorId, Sig};
use bincode::{Decode, Encode};

use super::{entry_key, is_entry_key, Error, Result};

/// Entries per block.
pub(super) const BLOCK: u64 = 64;
/// The tree of entry blocks (and the snapshot's generation and markers).
pub(super) const TREE: &str = "entry_blocks";
/// The tree of the older layout: one key per entry (author, seq), the whole entry as value.
pub(super) const OLD_TREE: &str = "entries";

/// In the older tree, a key of an entry's length whose value is no entry: an older `baobi-agent`
/// decodes every such key at open and refuses the store, instead of seeing an empty log.
pub(super) const FENCE: [u8; 40] = [0xff; 40];
const FENCE_VALUE: &[u8] = b"baobi: entries are in tree entry_blocks; use a newer baobi-agent";

/// One entry as a block keeps it.
#[derive(Debug, Clone, Encode, Decode)]
pub(super) struct Item {
    pub seq: u64,
    pub hlc: Hlc,
    pub op: Op,
}

impl Item {
    pub fn entry(self, author: AuthorId) -> Entry {
        Entry {
            author,
            seq: self.seq,
            hlc: self.hlc,
            op: self.op,
            sig: Sig::CHAINED,
        }
    }
}

/// The block holding `seq` of `author`.
pub(super) fn block_key(author: &AuthorId, seq: u64) -> [u8; 40] {
    entry_key(author, seq.saturating_sub(1) / BLOCK)
}

/// The author of a block or entry key.
pub(super) fn author_of(k: &[u8]) -> Option<AuthorId> {
    let a: [u8; 32] = k.get(..32)?.try_into().ok()?;
    Some(AuthorId(a))
}

pub(super) fn decode(v: &[u8]) -> Result<Vec<Item>> {
    wire::decode::<Vec<Item>>(v).map_err(|e| Error::Corrupt(format!("entry block: {e}")))
}

fn encode(items: &[Item]) -> Vec<u8> {
    wire::encode(&items.to_vec())
}

/// Reads blocks of one tree.
pub(super) struct Blocks<'a>(pub &'a sled::Tree);

impl Blocks<'_> {
    /// Entries `from..=to` of `author` held, in seq order.
    pub fn range(&self, author: &AuthorId, from: u64, to: u64) -> Result<Vec<Entry>> {
        let mut out = vec![];
        if to < from {
            return Ok(out);
        }
        for kv in self
            .0
            .range(block_key(author, from)..=block_key(author, to))
        {
            let (_, v) = kv?;
            out.extend(
                decode(&v)?
                    .into_iter()
                    .filter(|i| (from..=to).contains(&i.seq))
                    .map(|i| i.entry(*author)),
            );
        }
        Ok(out)
    }

    /// Seqs of `author` held from `from` on, in order.
    pub fn seqs_from(&self, author: &AuthorId, from: u64) -> Result<Vec<u64>> {
        let mut out = vec![];
        for kv in self
            .0
            .range(block_key(author, from)..=entry_key(author, u64::MAX))
        {
            let (_, v) = kv?;
            out.extend(
                decode(&v)?
                    .into_iter()
                    .map(|i| i.seq)
                    .filter(|s| *s >= from),
            );
        }
        Ok(out)
    }

    /// Every entry held, in (author, seq) order, through `f`.
    pub fn for_each(&self, mut f: impl FnMut(Entry) -> Result<()>) -> Result<()> {
        for kv in self.0.iter() {
            let (k, v) = kv?;
            if !is_entry_key(&k) {
                continue;
            }
            let author = author_of(&k).ok_or_else(|| Error::Corrupt("block key".into()))?;
            for i in decode(&v)? {
                f(i.entry(author))?;
            }
        }
        Ok(())
    }
}

/// Blocks being changed in one batch: read once, merged, written once.
#[derive(Default)]
pub(super) struct Staged(BTreeMap<[u8; 40], Vec<Item>>);

impl Staged {
    /// Adds `e` to its block (read from `tree` the first time); false when it is held already.
    pub fn add(&mut self, tree: &sled::Tree, e: &Entry) -> Result<bool> {
        let k = block_key(&e.author, e.seq);
        let items = match self.0.entry(k) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => v.insert(match tree.get(k)? {
                Some(b) => decode(&b)?,
                None => vec![],
            }),
        };
        match items.binary_search_by_key(&e.seq, |i| i.seq) {
            Ok(_) => Ok(false),
            Err(at) => {
                items.insert(
                    at,
                    Item {
                        seq: e.seq,
                        hlc: e.hlc,
                        op: e.op.clone(),
                    },
                );
                Ok(true)
            }
        }
    }

    /// True when `seq` of `author` is held in a block read so far (or added).
    pub fn holds(&mut self, tree: &sled::Tree, author: &AuthorId, seq: u64) -> Result<bool> {
        let k = block_key(author, seq);
        if let std::collections::btree_map::Entry::Vacant(e) = self.0.entry(k) {
            e.insert(match tree.get(k)? {
                Some(b) => decode(&b)?,
                None => vec![],
            });
        }
        Ok(self.0[&k].binary_search_by_key(&seq, |i| i.seq).is_ok())
    }

    /// Entry `seq` of `author` when held, each block read once.
    pub fn get(&mut self, tree: &sled::Tree, author: &AuthorId, seq: u64) -> Result<Option<Entry>> {
        if !self.holds(tree, author, seq)? {
            return Ok(None);
        }
        let items = &self.0[&block_key(author, seq)];
        Ok(items
            .binary_search_by_key(&seq, |i| i.seq)
            .ok()
            .map(|at| items[at].clone().entry(*author)))
    }

    /// Writes the blocks into `batch`.
    pub fn write(self, batch: &mut sled::Batch) {
        for (k, items) in self.0 {
            if !items.is_empty() {
                batch.insert(&k[..], encode(&items));
            }
        }
    }
}

/// Converts a store of the older layout: every entry of the tree `entries` into blocks of `tree`
/// (whatever `tree` held is replaced: it is written only while the older tree holds entries), in one
/// atomic batch, flushed; then the older tree dropped, flushed, and made again with [`FENCE`] only.
/// Returns the entries converted.
pub(super) fn migrate(db: &baobi_storage::Db, tree: &sled::Tree) -> Result<u64> {
    let old = db.open_tree(OLD_TREE)?;
    let mut blocks: BTreeMap<[u8; 40], Vec<Item>> = BTreeMap::new();
    let mut n = 0;
    let mut fenced = false;
    let mut others = 0;
    for kv in old.iter() {
        let (k, v) = kv?;
        if k.as_ref() == FENCE {
            fenced = true;
            continue;
        }
        others += 1;
        if !is_entry_key(&k) {
            // The older snapshot's generation and markers: that snapshot is not used again.
            continue;
        }
        let e: Entry = wire::decode(&v).map_err(|e| Error::Corrupt(e.to_string()))?;
        blocks
            .entry(block_key(&e.author, e.seq))
            .or_default()
            .push(Item {
                seq: e.seq,
                hlc: e.hlc,
                op: e.op,
            });
        n += 1;
    }
    if fenced && others == 0 {
        return Ok(0);
    }
    if others > 0 {
        let mut batch = sled::Batch::default();
        for k in tree.iter().keys() {
            batch.remove(k?);
        }
        for (k, items) in &blocks {
            batch.insert(&k[..], encode(items));
        }
        tree.apply_batch(batch)?;
        db.flush()?;
    }
    // Dropped whole (with its 100,000 keys removed one by one the first open took 19 s, not 6.9 s),
    // then fenced: a crash before the fence leaves no older tree, and the next open only fences it.
    drop(old);
    db.drop_tree(OLD_TREE)?;
    db.flush()?;
    db.open_tree(OLD_TREE)?.insert(&FENCE[..], FENCE_VALUE)?;
    db.flush()?;
    Ok(n)
}
