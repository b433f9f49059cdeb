//! How the hub keeps the log: each author's entries in blocks of [`BLOCK`] consecutive seqs, one sled
//! key per block, and no key per entry's chain link (issue 13 goals 2 and 3: sled pays per key, so
//! fewer keys per entry means less disk and less of the tree rewritten per merge).
//!
//! Key `B author block` (block = `(seq - 1) / BLOCK`, u64 BE), 41 bytes, so an author's blocks are
//! contiguous and in seq order. Value: a [`Block`]: the chain link before its first entry, the link of
//! its last entry, then each entry as its clock, op and, only for the hub's own entries, its signature
//! (an office's entries arrive in runs sealed by a head signature, kept apart under `h`; they read back
//! with `Sig::CHAINED`). Author and seq come from the key and the place in the block. A block holds
//! contiguous seqs from its first (the hub's log of an author has no gap: the merge refuses one), and
//! is rewritten as entries are appended to it.
//!
//! A link is the hash chain over the entries (`proto::chain`), so the link of any seq is derived from
//! its block: the block's start link hashed forward through the entries before it (at most
//! [`BLOCK`] hashes), and the link of a block's last entry, which is what a merge asks for (the link
//! before a run that follows the log held), is kept and read at once. `verify` recomputes both kept
//! links from the entries.
//!
//! A block value is deflated when that is smaller (bodies repeat units and field shapes): its two
//! links as they are, then the byte [`DEFLATED_DICT`] where a plain value has its entry count, then
//! the rest deflated with [`DICTIONARY`] preset (see [`DEFLATED`] for why no plain value can be
//! mistaken for one). Sixteen entries are too few for deflate to learn a note's words before the
//! block ends; the dictionary gives it the words of the provincial plans (`dictionary.txt`, made by
//! `make_dictionary.py` from the seed plans), −12% of the blocks' bytes (BENCHMARKS.md). Values
//! deflated without it ([`DEFLATED`], written before) and plain values still read; a store written
//! before needs no conversion.
//!
//! A store of the older layout (`e author seq` → the whole entry, `l author seq` → its link) is
//! converted at open, one author per atomic batch (its blocks written, its `e` and `l` keys removed),
//! then flushed; a crash between authors converts the rest at the next open.

use super::*;

/// Entries per block. 16, not the office's 64: at 1,000,000 entries from 1,000 offices blocks of 64
/// (values of ~10 KB) merged at 9,100 entries/s against 24,600 for blocks of 16, sled copying and
/// paging its nodes by the bytes they hold; disk per entry was within 3% (BENCHMARKS.md).
pub const BLOCK: u64 = 16;

/// One entry as a block keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Stored {
    /// The entry's clock.
    pub hlc: Hlc,
    /// What it does.
    pub op: Op,
    /// Its own signature: kept for the hub's own entries only (`None` for `Sig::CHAINED`).
    pub sig: Option<Sig>,
}

/// A block of consecutive entries of one author (the value of a `B` key).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Block {
    /// The chain link before the block's first entry (the genesis link for block 0).
    pub start: Link,
    /// The chain link of the block's last entry.
    pub end: Link,
    /// The entries, in seq order from the block's first seq.
    pub items: Vec<Stored>,
}

/// Where a block value says it is deflated: the byte after its two 32-byte links.
const MARK_AT: usize = 64;

/// The byte at [`MARK_AT`] of a deflated block value. A plain value is a bincode 2 [`Block`] in
/// `wire`'s configuration (varint integers): `start` and `end` are 32-byte arrays, written as their
/// bytes with no length, so bytes 0..64 may be anything; byte 64 begins the length of `items`, a
/// varint u64, whose first byte is the length itself (0-250) or 251-253 (a u16, u32 or u64 follows),
/// or 254 (u128, which bincode refuses for a u64); 255 is reserved and refused as the first byte of
/// any varint (bincode 2.0.1, `varint::decode_unsigned`). So no value that decodes as a plain block
/// has 0xFF at byte 64, and a plain block is never shorter than 65 bytes.
pub const DEFLATED: u8 = 0xFF;

/// The byte at [`MARK_AT`] of a value deflated with [`DICTIONARY`] preset: 254, which as the first
/// byte of a varint announces a u128, refused for a u64 (see [`DEFLATED`]), so no plain block has it.
pub const DEFLATED_DICT: u8 = 0xFE;

/// The preset dictionary of [`DEFLATED_DICT`] values: every word of the seed plans, the most
/// frequent last. It must never change (a test pins its hash): blocks on disk inflate with it.
pub const DICTIONARY: &[u8] = include_bytes!("dictionary.txt");

/// Deflated bytes inflate to at most this (a plain block longer than a frame does not decode anyway):
/// a corrupt value cannot make a read allocate without bound.
const MAX_INFLATED: u64 = wire::MAX_FRAME as u64;

impl Block {
    /// Decodes a block value, plain or deflated (with or without the dictionary).
    pub fn decode(v: &[u8]) -> Result<Block> {
        let dictionary = match v.get(MARK_AT) {
            Some(&DEFLATED_DICT) => DICTIONARY,
            Some(&DEFLATED) => &[],
            _ => return dec("entry block", v),
        };
        let mut plain = v[..MARK_AT].to_vec();
        inflate(&v[MARK_AT + 1..], dictionary, &mut plain)
            .map_err(|e| Error::Corrupt(format!("entry block does not inflate: {e}")))?;
        dec("entry block", &plain)
    }

    /// Encodes it as the value of its key: deflated with the dictionary when that is smaller.
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(DEFLATED_DICT, DICTIONARY)
    }

    /// Encodes it deflated without the dictionary when that is smaller, as stores did before it
    /// (tests of older stores).
    #[cfg(test)]
    pub(crate) fn encode_undictionaried(&self) -> Vec<u8> {
        self.encode_with(DEFLATED, &[])
    }

    fn encode_with(&self, mark: u8, dictionary: &[u8]) -> Vec<u8> {
        let plain = wire::encode(self);
        match deflate(&plain, mark, dictionary) {
            Some(d) if d.len() < plain.len() => d,
            _ => plain,
        }
    }

    /// Encodes it plain (an older store's values; tests).
    pub fn encode_plain(&self) -> Vec<u8> {
        wire::encode(self)
    }

    /// The entries it holds, `n` being the block's number.
    pub fn entries(&self, author: &AuthorId, n: u64) -> impl Iterator<Item = Entry> + '_ {
        let author = *author;
        self.items
            .iter()
            .enumerate()
            .map(move |(i, s)| s.entry(author, first_seq(n) + i as u64))
    }

    /// The links of its entries (each hashed from the one before, from `start`).
    pub fn links(&self, author: &AuthorId, n: u64) -> Vec<Link> {
        let mut link = self.start;
        let mut out = Vec::with_capacity(self.items.len());
        for (i, s) in self.items.iter().enumerate() {
            link = chain::next(&link, author, first_seq(n) + i as u64, s.hlc, &s.op);
            out.push(link);
        }
        out
    }

    /// The link of entry `seq` (which the block must hold).
    fn link_at(&self, author: &AuthorId, n: u64, seq: u64) -> Option<Link> {
        let idx = (seq.checked_sub(first_seq(n))?) as usize;
        if idx + 1 == self.items.len() {
            return Some(self.end);
        }
        let mut link = self.start;
        for (i, s) in self.items.get(..=idx)?.iter().enumerate() {
            link = chain::next(&link, author, first_seq(n) + i as u64, s.hlc, &s.op);
        }
        Some(link)
    }
}

impl Stored {
    /// The entry as the store reads it back.
    pub fn entry(&self, author: AuthorId, seq: u64) -> Entry {
        Entry {
            author,
            seq,
            hlc: self.hlc,
            op: self.op.clone(),
            sig: self.sig.unwrap_or(Sig::CHAINED),
        }
    }

    fn of(e: &Entry) -> Stored {
        Stored {
            hlc: e.hlc,
            op: e.op.clone(),
            sig: (e.sig != Sig::CHAINED).then_some(e.sig),
        }
    }
}

/// A plain block value deflated: its links, `mark`, the rest deflated with `dictionary` preset
/// (none when empty).
fn deflate(plain: &[u8], mark: u8, dictionary: &[u8]) -> Option<Vec<u8>> {
    use flate2::{Compress, FlushCompress, Status};
    let rest = plain.get(MARK_AT..)?;
    let mut out = Vec::with_capacity(plain.len() + 64);
    out.extend_from_slice(&plain[..MARK_AT]);
    out.push(mark);
    thread_local! {
        // One compressor per thread, reset between blocks: making one per block (its window and
        // hash tables allocated and zeroed) cost a sixth of the deflating.
        static COMPRESS: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(flate2::Compression::default(), false));
    }
    COMPRESS.with_borrow_mut(|c| {
        c.reset();
        let done = (|| {
            if !dictionary.is_empty() {
                c.set_dictionary(dictionary).ok()?;
            }
            loop {
                let read = usize::try_from(c.total_in()).ok()?;
                out.reserve(256);
                if c.compress_vec(&rest[read..], &mut out, FlushCompress::Finish)
                    .ok()?
                    == Status::StreamEnd
                {
                    return Some(());
                }
            }
        })();
        done.map(|()| out)
    })
}

/// Inflates a raw deflate stream made with `dictionary` preset (none when empty) onto `out`, which
/// it may grow by at most [`MAX_INFLATED`]: a corrupt value cannot make a read allocate without
/// bound, nor loop.
fn inflate(data: &[u8], dictionary: &[u8], out: &mut Vec<u8>) -> std::result::Result<(), String> {
    use flate2::{Decompress, FlushDecompress, Status};
    let mut d = Decompress::new(false);
    if !dictionary.is_empty() {
        d.set_dictionary(dictionary).map_err(|e| e.to_string())?;
    }
    let start = out.len();
    loop {
        let (read, wrote) = (d.total_in(), d.total_out());
        if wrote > MAX_INFLATED {
            return Err("it inflates past a frame".into());
        }
        // Room for what is left of the bound, growing as the output does.
        let left = usize::try_from(MAX_INFLATED + 1 - wrote).unwrap_or(usize::MAX);
        out.reserve_exact(left.min((out.len() - start).max(4096)));
        let at = usize::try_from(read).map_err(|e| e.to_string())?;
        match d.decompress_vec(&data[at..], out, FlushDecompress::Finish) {
            Ok(Status::StreamEnd) if d.total_out() <= MAX_INFLATED => return Ok(()),
            Ok(_) if (d.total_in(), d.total_out()) == (read, wrote) => {
                return Err(format!("it ends early, after {} bytes", out.len() - start));
            }
            Ok(_) => {}
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The block number holding `seq` (≥ 1).
pub fn block_of(seq: u64) -> u64 {
    seq.saturating_sub(1) / BLOCK
}

/// The first seq of block `n`.
pub fn first_seq(n: u64) -> u64 {
    n * BLOCK + 1
}

/// The author and block number of a `B` key.
pub fn parse_key(k: &[u8]) -> Option<(AuthorId, u64)> {
    if k.len() != 41 || k[0] != b'B' {
        return None;
    }
    Some((
        AuthorId(k[1..33].try_into().ok()?),
        u64::from_be_bytes(k[33..41].try_into().ok()?),
    ))
}

/// Entry `seq` of `author` as `get` reads blocks (the tree, or an overlay).
pub(crate) fn read_entry(
    mut get: impl FnMut(&[u8]) -> Result<Option<Vec<u8>>>,
    author: &AuthorId,
    seq: u64,
) -> Result<Option<Entry>> {
    if seq == 0 {
        return Ok(None);
    }
    let n = block_of(seq);
    let Some(v) = get(&keys::block(author, n))? else {
        return Ok(None);
    };
    let b = Block::decode(&v)?;
    let idx = (seq - first_seq(n)) as usize;
    Ok(b.items.get(idx).map(|s| s.entry(*author, seq)))
}

/// Every entry of the tree, in author and seq order (backup, tests).
pub fn all_entries(tree: &sled::Tree) -> impl Iterator<Item = Result<Entry>> + '_ {
    tree.scan_prefix([b'B']).flat_map(|kv| {
        let r = (|| {
            let (k, v) = kv?;
            let (a, n) = parse_key(&k).ok_or_else(|| Error::Corrupt("entry block key".into()))?;
            let b = Block::decode(&v)?;
            Ok::<Vec<Entry>, Error>(b.entries(&a, n).collect())
        })();
        match r {
            Ok(es) => es.into_iter().map(Ok).collect::<Vec<_>>(),
            Err(e) => vec![Err(e)],
        }
    })
}

/// The wall clock a creating entry carries ([`Op::Created`]), if the store holds it.
fn created_of(s: &Stored) -> Option<u64> {
    match &s.op {
        Op::Created(c) => Some(c.wall_ms),
        _ => None,
    }
}

/// Reads entries from a tree keeping the last block decoded (reads in seq order hit it).
#[derive(Default)]
pub(crate) struct Reader {
    last: Option<(AuthorId, u64, Block)>,
    /// The links of the last block, once asked for.
    links: Vec<Link>,
}

impl Reader {
    fn stored<'b>(&'b mut self, tree: &sled::Tree, id: &Dot) -> Result<Option<&'b Stored>> {
        if id.seq == 0 {
            return Ok(None);
        }
        let n = block_of(id.seq);
        if !matches!(&self.last, Some((a, m, _)) if *a == id.author && *m == n) {
            self.last = match tree.get(keys::block(&id.author, n))? {
                Some(v) => Some((id.author, n, Block::decode(&v)?)),
                None => None,
            };
            self.links.clear();
        }
        Ok(match &self.last {
            Some((a, m, b)) if *a == id.author && *m == n => {
                b.items.get((id.seq - first_seq(n)) as usize)
            }
            _ => None,
        })
    }

    /// The chain link of entry `seq` of `author`, if held.
    pub fn link(&mut self, tree: &sled::Tree, author: &AuthorId, seq: u64) -> Result<Option<Link>> {
        let id = Dot {
            author: *author,
            seq,
        };
        if self.stored(tree, &id)?.is_none() {
            return Ok(None);
        }
        let Some((a, n, b)) = &self.last else {
            return Ok(None);
        };
        if self.links.is_empty() {
            self.links = b.links(a, *n);
        }
        Ok(self.links.get((seq - first_seq(*n)) as usize).copied())
    }

    /// Entry `id`, if held.
    pub fn entry(&mut self, tree: &sled::Tree, id: &Dot) -> Result<Option<Entry>> {
        Ok(self.stored(tree, id)?.map(|s| s.entry(id.author, id.seq)))
    }

    /// The wall clock entry `id` carries at its creation, if held and it carries one.
    pub fn created_ms(&mut self, tree: &sled::Tree, id: &Dot) -> Result<Option<u64>> {
        Ok(self.stored(tree, id)?.and_then(created_of))
    }
}

/// A block as one merge sees it: read once, appended to, written back at commit.
pub(crate) struct Cached {
    block: Block,
    /// Links of the first `links.len()` entries, computed as asked.
    links: Vec<Link>,
    dirty: bool,
    /// The first item appended through this overlay, if any.
    appended: Option<usize>,
}

impl Overlay<'_> {
    fn cached(&mut self, author: &AuthorId, n: u64) -> Result<Option<&mut Cached>> {
        if !self.blocks.contains_key(&(*author, n)) {
            let Some(v) = self.get(&keys::block(author, n)) else {
                if let Some(e) = self.err.take() {
                    return Err(e);
                }
                return Ok(None);
            };
            let block = Block::decode(&v)?;
            self.blocks.insert(
                (*author, n),
                Cached {
                    block,
                    links: vec![],
                    dirty: false,
                    appended: None,
                },
            );
        }
        Ok(self.blocks.get_mut(&(*author, n)))
    }

    /// True when entry `id`, as read through the overlay, is the tree's (not appended by it).
    pub(crate) fn in_tree(&self, id: &Dot) -> bool {
        let n = block_of(id.seq);
        let idx = (id.seq.saturating_sub(first_seq(n))) as usize;
        self.blocks
            .get(&(id.author, n))
            .is_some_and(|c| idx < c.appended.unwrap_or(c.block.items.len()))
    }

    /// The wall clock entry `id` carries at its creation, as seen through the overlay.
    pub(crate) fn created_ms(&mut self, id: &Dot) -> Result<Option<u64>> {
        if id.seq == 0 {
            return Ok(None);
        }
        let n = block_of(id.seq);
        Ok(self.cached(&id.author, n)?.and_then(|c| {
            c.block
                .items
                .get((id.seq - first_seq(n)) as usize)
                .and_then(created_of)
        }))
    }

    /// Entry `seq` of `author` as seen through the overlay.
    pub fn entry(&mut self, author: &AuthorId, seq: u64) -> Result<Option<Entry>> {
        if seq == 0 {
            return Ok(None);
        }
        let n = block_of(seq);
        Ok(self.cached(author, n)?.and_then(|c| {
            let idx = (seq - first_seq(n)) as usize;
            c.block.items.get(idx).map(|s| s.entry(*author, seq))
        }))
    }

    /// The chain link of entry `seq` of `author` as seen through the overlay (genesis for 0).
    pub fn link(&mut self, author: &AuthorId, seq: u64) -> Result<Link> {
        if seq == 0 {
            return Ok(chain::genesis(author));
        }
        let n = block_of(seq);
        let missing = || Error::Corrupt(format!("no chain link for {author}-{seq}"));
        let c = self.cached(author, n)?.ok_or_else(missing)?;
        let idx = (seq - first_seq(n)) as usize;
        if idx >= c.block.items.len() {
            return Err(missing());
        }
        if idx + 1 == c.block.items.len() {
            return Ok(c.block.end);
        }
        while c.links.len() <= idx {
            let i = c.links.len();
            let prev = c.links.last().copied().unwrap_or(c.block.start);
            let s = &c.block.items[i];
            c.links.push(chain::next(
                &prev,
                author,
                first_seq(n) + i as u64,
                s.hlc,
                &s.op,
            ));
        }
        Ok(c.links[idx])
    }

    /// Appends entry `e` (the next of its author's log) with its chain link `link`. An error (the
    /// block unreadable, `e` not the next of its log) is kept, and the commit refuses the overlay.
    pub fn put_entry(&mut self, e: &Entry, link: &Link) {
        if let Err(err) = self.try_put_entry(e, link) {
            self.err.get_or_insert(err);
        }
    }

    fn try_put_entry(&mut self, e: &Entry, link: &Link) -> Result<()> {
        let n = block_of(e.seq);
        let idx = (e.seq - first_seq(n)) as usize;
        if self.cached(&e.author, n)?.is_none() {
            if idx != 0 {
                return Err(Error::Corrupt(format!(
                    "entry {}: its block is not held",
                    e.dot()
                )));
            }
            let start = self.link(&e.author, e.seq - 1)?;
            self.blocks.insert(
                (e.author, n),
                Cached {
                    block: Block {
                        start,
                        end: start,
                        items: vec![],
                    },
                    links: vec![],
                    dirty: false,
                    appended: None,
                },
            );
        }
        let c = self
            .blocks
            .get_mut(&(e.author, n))
            .ok_or_else(|| Error::Corrupt("entry block".into()))?;
        if c.block.items.len() != idx {
            return Err(Error::Corrupt(format!(
                "entry {}: not the next of its block ({} held)",
                e.dot(),
                c.block.items.len()
            )));
        }
        c.block.items.push(Stored::of(e));
        c.block.end = *link;
        if c.links.len() == idx {
            c.links.push(*link);
        }
        c.dirty = true;
        c.appended.get_or_insert(idx);
        self.forget_absent(&e.dot());
        Ok(())
    }

    /// Holds `e` for reads through the overlay only (`verify`'s replay into a scratch tree: never
    /// written, links not kept); an entry out of place in its block (a damaged log) is left out.
    pub(crate) fn replay_entry(&mut self, e: &Entry) {
        let n = block_of(e.seq);
        let idx = (e.seq - first_seq(n)) as usize;
        let c = self.blocks.entry((e.author, n)).or_insert_with(|| Cached {
            block: Block {
                start: [0; 32],
                end: [0; 32],
                items: vec![],
            },
            links: vec![],
            dirty: false,
            appended: None,
        });
        if c.block.items.len() == idx {
            c.block.items.push(Stored::of(e));
            c.appended.get_or_insert(idx);
            self.forget_absent(&e.dot());
        }
    }

    /// The records created by entries appended through this overlay (their facts are new).
    pub(crate) fn created_here(&self) -> Vec<Dot> {
        let mut out = vec![];
        for ((a, n), c) in &self.blocks {
            let Some(from) = c.appended else { continue };
            for (i, s) in c.block.items.iter().enumerate().skip(from) {
                if matches!(s.op, Op::Record(_) | Op::Created(_)) {
                    out.push(Dot {
                        author: *a,
                        seq: first_seq(*n) + i as u64,
                    });
                }
            }
        }
        out
    }

    /// Writes the blocks appended to as `B` keys of the overlay (before a commit).
    pub(crate) fn seal_blocks(&mut self) {
        let mut out = vec![];
        for ((a, n), c) in self.blocks.iter_mut().filter(|(_, c)| c.dirty) {
            out.push((keys::block(a, *n), c.block.encode()));
            c.dirty = false;
        }
        for (k, v) in out {
            self.put(k, v);
        }
    }
}

impl Hub {
    /// Entries of `author` from `from` to `to` inclusive, at most `limit`.
    pub fn entries(
        &self,
        author: &AuthorId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let from = from.max(1);
        let mut out = vec![];
        if to < from || limit == 0 {
            return Ok(out);
        }
        for kv in self
            .tree
            .range(keys::block(author, block_of(from))..=keys::block(author, block_of(to)))
        {
            let (k, v) = kv?;
            let (_, n) = parse_key(&k).ok_or_else(|| Error::Corrupt("entry block key".into()))?;
            let b = Block::decode(&v)?;
            for (i, s) in b.items.iter().enumerate() {
                let seq = first_seq(n) + i as u64;
                if seq < from {
                    continue;
                }
                if seq > to || out.len() >= limit {
                    return Ok(out);
                }
                out.push(s.entry(*author, seq));
            }
        }
        Ok(out)
    }

    /// The chain link of entry `seq` of `author` (its genesis link for seq 0).
    pub fn link(&self, author: &AuthorId, seq: u64) -> Result<Link> {
        if seq == 0 {
            return Ok(chain::genesis(author));
        }
        let n = block_of(seq);
        let missing = || Error::Corrupt(format!("no chain link for {author}-{seq}"));
        let v = self.tree.get(keys::block(author, n))?.ok_or_else(missing)?;
        Block::decode(&v)?
            .link_at(author, n, seq)
            .ok_or_else(missing)
    }
}

/// Converts a store of the older layout (`e` and `l` keys, one per entry) to blocks, one author per
/// atomic batch, then flushes. Returns how many entries were converted (0: nothing to do).
pub(crate) fn convert(db: &baobi_storage::Db) -> Result<u64> {
    let mut total = 0u64;
    loop {
        // The first author still in the older layout.
        let Some(kv) = db.scan_prefix([b'e']).next() else {
            break;
        };
        let (k, _) = kv?;
        let author = AuthorId(
            k.get(1..33)
                .and_then(|a| a.try_into().ok())
                .ok_or_else(|| Error::Corrupt("malformed entry key".into()))?,
        );
        let mut prefix = vec![b'e'];
        prefix.extend_from_slice(&author.0);
        let mut b = sled::Batch::default();
        let mut link = chain::genesis(&author);
        let mut block: Option<(u64, Block)> = None;
        for (next, kv) in (1u64..).zip(db.scan_prefix(&prefix)) {
            let (k, v) = kv?;
            let e: Entry = dec("entry", &v)?;
            if e.author != author || e.seq != next || k != keys::entry(&author, e.seq) {
                return Err(Error::Corrupt(format!(
                    "cannot convert the log of {author}: entry {} where seq {next} was expected \
                     (run `baobi-hub verify` with an older baobi-hub) / không chuyển đổi được",
                    e.dot()
                )));
            }
            let n = block_of(e.seq);
            if block.as_ref().map(|(m, _)| *m) != Some(n) {
                if let Some((m, full)) = block.take() {
                    b.insert(keys::block(&author, m), full.encode());
                }
                block = Some((
                    n,
                    Block {
                        start: link,
                        end: link,
                        items: vec![],
                    },
                ));
            }
            link = chain::link_of(&link, &e);
            if db.get(keys::link(&author, e.seq))?.as_deref() != Some(&link[..]) {
                return Err(Error::Corrupt(format!(
                    "cannot convert the log of {author}: the chain link stored for {} differs \
                     from its entries / mắt xích không khớp với bản ghi",
                    e.dot()
                )));
            }
            if let Some((_, blk)) = block.as_mut() {
                blk.items.push(Stored::of(&e));
                blk.end = link;
            }
            b.remove(k.to_vec());
            b.remove(keys::link(&author, e.seq));
            total += 1;
        }
        if let Some((m, full)) = block.take() {
            b.insert(keys::block(&author, m), full.encode());
        }
        db.apply_batch(b)?;
    }
    if total > 0 {
        // Links of entries whose entry was gone (none in a sound store) would be left: remove them.
        let mut b = sled::Batch::default();
        for kv in db.scan_prefix([b'l']) {
            b.remove(kv?.0);
        }
        db.apply_batch(b)?;
        db.flush()?;
        tracing::info!(entries = total, "hub log converted to entry blocks");
    }
    Ok(total)
}

#[cfg(test)]
mod tests;
