//! The replicated log at the hub: every author's entries (in blocks, `blocks.rs`) and the heads received,
//! per-author seqs and summaries, runs cut for forwarding, and the hub's own appends. This is what a
//! backup keeps and what a peer can send; the view (`derived.rs`) is a function of it.

use super::*;

impl Hub {
    /// Highest contiguous seq held of `author`.
    pub fn seq_of(&self, author: &AuthorId) -> Result<u64> {
        Ok(match self.tree.get(keys::seq(author))? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("seq value".into()))?,
            ),
            None => 0,
        })
    }

    /// Everything the hub holds, as a summary.
    pub fn summary(&self) -> Result<Summary> {
        let mut s = Summary::new();
        for kv in self.tree.scan_prefix([b'v']) {
            let (k, v) = kv?;
            let a: [u8; 32] = k[1..]
                .try_into()
                .map_err(|_| Error::Corrupt("seq key".into()))?;
            let n = u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("seq value".into()))?,
            );
            s.set(AuthorId(a), n);
        }
        Ok(s)
    }

    /// One sealed run of `author`'s entries `from..=to`, or its longest prefix of at most `room`
    /// entries that ends where a head exists. The hub's own entries are sealed with a fresh head; an
    /// office's end where the office signed a head (each batch it sent ended at one, and a head
    /// vouches for everything before it, so a run may start anywhere). `None` when nothing fits in
    /// `room` or nothing is held from `from`.
    pub fn run(&self, author: &AuthorId, from: u64, to: u64, room: usize) -> Result<Option<Run>> {
        if room == 0 || from == 0 || to < from {
            return Ok(None);
        }
        let prev = self.link(author, from - 1)?;
        let last_fit = from.saturating_add(room as u64 - 1);
        if *author == self.keypair.author() {
            let entries = self.entries(author, from, to.min(last_fit), room)?;
            return Ok(Run::seal(&self.keypair, prev, &entries).map(|(run, _)| run));
        }
        // The last head within reach: `to` itself when the range fits (the hub holds an office's log
        // up to the end of the last batch it accepted, which ended at a head).
        let head = match self
            .tree
            .range(keys::head(author, from)..=keys::head(author, to.min(last_fit)))
            .next_back()
        {
            Some(kv) => Some(kv?),
            None => None,
        };
        let Some((k, sig)) = head else {
            return Ok(None);
        };
        let end = head_seq(&k);
        let sig = Sig(sig
            .as_ref()
            .try_into()
            .map_err(|_| Error::Corrupt("head signature value".into()))?);
        let entries = self.entries(author, from, end, room)?;
        if entries.last().map(|e| e.seq) != Some(end) {
            return Err(Error::Corrupt(format!(
                "entries {author}-{from}..{end} are not all held under their head"
            )));
        }
        Ok(Run::with_head(*author, prev, &entries, sig))
    }

    /// Signs `ops` as the hub's next entries, stores them durably and applies them to the view.
    pub fn append_own(&self, ops: Vec<Op>) -> Result<Vec<Entry>> {
        self.append_own_with(ops, vec![])
    }

    /// Like [`Hub::append_own`], writing `extra` keys in the same atomic batch.
    pub fn append_own_with(
        &self,
        ops: Vec<Op>,
        extra: Vec<(Vec<u8>, Vec<u8>)>,
    ) -> Result<Vec<Entry>> {
        let _g = self.lock();
        let me = self.keypair.author();
        let mut seq = self.seq_of(&me)?;
        let mut hlc = blocks::read_entry(|k| Ok(self.tree.get(k)?.map(|v| v.to_vec())), &me, seq)?
            .map_or(Hlc(0), |e| e.hlc);
        let now_ms = crate::now_ms();
        let mut ov = Overlay::new(&self.tree);
        let mut link = self.link(&me, seq)?;
        let mut out = vec![];
        for op in ops {
            seq += 1;
            hlc = Hlc::tick(hlc, now_ms);
            let e = self.keypair.sign_entry(seq, hlc, op);
            view::apply(&mut ov, &e);
            link = chain::link_of(&link, &e);
            ov.put_entry(&e, &link);
            out.push(e);
        }
        ov.put(keys::seq(&me), seq.to_be_bytes().to_vec());
        for (k, v) in extra {
            ov.put(k, v);
        }
        self.commit(ov)?;
        Ok(out)
    }
}
