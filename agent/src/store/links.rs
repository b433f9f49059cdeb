//! Chain links and head signatures: the links of the office's own log (to seal the runs it sends),
//! and the hub's head signatures kept so the office can hand the hub's own entries back to a hub
//! restored from an older backup.

use baobi_proto::chain::{self, Link};
use baobi_proto::wire::{Entry, Run};
use baobi_proto::{AuthorId, Sig};

use super::{u64_of, Error, Result, Store};

/// `hub_head/` + seq (u64 BE) → the hub's head signature over its log at that seq, as received.
pub(super) const K_HUB_HEAD: &[u8] = b"hub_head/";

pub(super) fn hub_head_key(seq: u64) -> Vec<u8> {
    let mut k = K_HUB_HEAD.to_vec();
    k.extend_from_slice(&seq.to_be_bytes());
    k
}

impl Store {
    /// Extends the office's own chain links over its entries held contiguously after them.
    pub(super) fn extend_own_links(&self, links: &mut Vec<Link>) -> Result<()> {
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

    /// Chain links of the office's own contiguous entries, from the stored entries (none without a
    /// key yet).
    pub(super) fn own_links(&self) -> Result<Vec<Link>> {
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

    /// Keeps the head signatures of the hub's runs that cover the hub entries this store holds (a
    /// head over other entries, a hub that forked its log, is not kept), so the office can hand the
    /// hub's own entries back to a hub restored from an older backup: sealed by the hub's key, they
    /// are the hub's word, whoever carries them.
    pub(super) fn keep_hub_heads(&self, runs: &[Run], hub_author: &AuthorId) -> Result<()> {
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
    pub(super) fn hub_link(&self, hub_author: &AuthorId, seq: u64) -> Result<Option<Link>> {
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
}
