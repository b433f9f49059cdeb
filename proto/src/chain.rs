//! Hash chains over authors' logs, so that one signature covers a whole run of entries.
//!
//! Each author's log is chained: [`genesis`] is fixed by the author, and the link of entry `n` is
//! `SHA-256("baobi/3 link" ‖ link(n-1) ‖ digest(n))` with `digest(n) = SHA-256("baobi/3 entry" ‖
//! encode(author, n, hlc, op))`. Because the link takes the entry through its digest, a sender may
//! withhold an entry by sending its digest instead ([`Op::Elided`]): the seal still verifies every
//! entry it does send, before and after the placeholder. A signature over
//! `(author, n, link(n))`, a *head*, therefore covers entries `1..=n`; given `link(a-1)` it
//! authenticates the run `a..=n` without a signature per entry. On the wire a [`Run`] carries
//! `link(a-1)`, its items and one head signature: 64 bytes per run instead of 64 per entry, the
//! difference between leading and trailing Automerge on an initial sync (see `BENCHMARKS.md`).
//! Items (or a `prev`) other than the author's that reach the same head would be a SHA-256 second
//! preimage, so a run that opens is exactly what the author wrote, whoever carried it (DESIGN.md,
//! invariant 5). Stores keep each entry's link, to forward runs starting anywhere, and the head
//! signatures they received, to cut forwarded runs where a signature exists.

use sha2::{Digest, Sha256};

use crate::identity::{AuthorId, Keypair, Sig};
use crate::wire::{self, Entry, Hlc, Item, Op, Run};

/// The link of one entry of an author's chain.
pub type Link = [u8; 32];

/// The link before an author's first entry.
pub fn genesis(author: &AuthorId) -> Link {
    let mut h = Sha256::new();
    h.update(b"baobi/2 genesis");
    h.update(author.0);
    h.finalize().into()
}

/// The digest of entry `seq` of `author`: what stands in the chain for its content.
pub fn entry_digest(author: &AuthorId, seq: u64, hlc: Hlc, op: &Op) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"baobi/3 entry");
    h.update(wire::encode(&(author, seq, hlc, op)));
    h.finalize().into()
}

/// The link after `prev` of the entry whose digest is `digest`.
pub fn next_of_digest(prev: &Link, digest: &[u8; 32]) -> Link {
    let mut h = Sha256::new();
    h.update(b"baobi/3 link");
    h.update(prev);
    h.update(digest);
    h.finalize().into()
}

/// The link of entry `seq` of `author`, after `prev` (the link of `seq - 1`). A placeholder
/// ([`Op::Elided`]) carries the withheld entry's digest.
pub fn next(prev: &Link, author: &AuthorId, seq: u64, hlc: Hlc, op: &Op) -> Link {
    match op {
        Op::Elided(d) => next_of_digest(prev, d),
        op => next_of_digest(prev, &entry_digest(author, seq, hlc, op)),
    }
}

/// The link of a stored entry after `prev`.
pub fn link_of(prev: &Link, e: &Entry) -> Link {
    next(prev, &e.author, e.seq, e.hlc, &e.op)
}

/// The bytes a head signature covers: the author, the head's seq and its link.
pub fn head_bytes(author: &AuthorId, seq: u64, link: &Link) -> Vec<u8> {
    let mut v = b"baobi/2 head".to_vec();
    v.extend_from_slice(&author.0);
    v.extend_from_slice(&seq.to_le_bytes());
    v.extend_from_slice(link);
    v
}

impl Run {
    /// Seals `entries` (contiguous, all by `kp`'s author, at least one) as a run after `prev`, with a
    /// fresh head signature. Returns the run and the link of its last entry, or `None` when the
    /// entries are empty, not contiguous or not `kp`'s.
    pub fn seal(kp: &Keypair, prev: Link, entries: &[Entry]) -> Option<(Run, Link)> {
        let author = kp.author();
        let (run, head) = Run::unsealed(author, prev, entries)?;
        let sig = kp.sign(&head_bytes(&author, run.last(), &head));
        Some((Run { head: sig, ..run }, head))
    }

    /// Builds a run of `entries` after `prev` with `head` as its signature, as a store forwards an
    /// author's entries with the head signature it received. `None` under the same conditions as
    /// [`Run::seal`] (with `author` for the key).
    pub fn with_head(author: AuthorId, prev: Link, entries: &[Entry], head: Sig) -> Option<Run> {
        let (run, _) = Run::unsealed(author, prev, entries)?;
        Some(Run { head, ..run })
    }

    fn unsealed(author: AuthorId, prev: Link, entries: &[Entry]) -> Option<(Run, Link)> {
        let from = entries.first()?.seq;
        let mut link = prev;
        for (i, e) in entries.iter().enumerate() {
            if e.author != author || Some(e.seq) != from.checked_add(i as u64) {
                return None;
            }
            link = link_of(&link, e);
        }
        let items = entries
            .iter()
            .map(|e| Item {
                hlc: e.hlc,
                op: e.op.clone(),
            })
            .collect();
        Some((
            Run {
                author,
                from,
                prev,
                items,
                head: Sig::CHAINED,
            },
            link,
        ))
    }

    /// The run with the items `hide` picks replaced by [`Op::Elided`] placeholders carrying their
    /// digests: the seal still verifies every item left, and the receiver learns nothing of the
    /// content of those withheld.
    pub fn elide(mut self, hide: impl Fn(u64, &Op) -> bool) -> Run {
        for (i, it) in self.items.iter_mut().enumerate() {
            let seq = self.from + i as u64;
            if !matches!(it.op, Op::Elided(_)) && hide(seq, &it.op) {
                it.op = Op::Elided(entry_digest(&self.author, seq, it.hlc, &it.op));
            }
        }
        self
    }

    /// Seq of the run's last entry (saturating on a malformed run; [`Run::open`] refuses those).
    pub fn last(&self) -> u64 {
        self.from
            .saturating_add(self.items.len() as u64)
            .saturating_sub(1)
    }

    /// Checks the head signature over the chain from `prev` through every item. On success, the
    /// entries (their `sig` is [`Sig::CHAINED`]: the run's head vouches for them) with their links.
    /// `None` when the run is empty, starts at seq 0, overflows, or the signature does not verify.
    pub fn open(&self) -> Option<Vec<(Entry, Link)>> {
        if self.items.is_empty() || self.from == 0 {
            return None;
        }
        self.from.checked_add(self.items.len() as u64)?;
        let mut link = self.prev;
        let mut out = Vec::with_capacity(self.items.len());
        for (i, it) in self.items.iter().enumerate() {
            let seq = self.from + i as u64;
            // An entry the sender withheld stands by its digest (a wrong one fails the seal).
            link = next(&link, &self.author, seq, it.hlc, &it.op);
            out.push((
                Entry {
                    author: self.author,
                    seq,
                    hlc: it.hlc,
                    op: it.op.clone(),
                    sig: Sig::CHAINED,
                },
                link,
            ));
        }
        self.author
            .verify(&head_bytes(&self.author, self.last(), &link), &self.head)
            .then_some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Body, CampaignEvent, CampaignKind, Date};

    fn op(n: u32) -> Op {
        Op::Record(Body::Campaign(CampaignEvent {
            unit: "30226".into(),
            date: Date(20250301),
            kind: CampaignKind::Event,
            participants: Some(n),
            topic: "Nói không với túi ni lông".into(),
        }))
    }

    fn log(kp: &Keypair, n: u64) -> Vec<Entry> {
        (1..=n)
            .map(|s| kp.sign_entry(s, Hlc(s), op(s as u32)))
            .collect()
    }

    fn links(entries: &[Entry]) -> Vec<Link> {
        let mut l = genesis(&entries[0].author);
        entries
            .iter()
            .map(|e| {
                l = link_of(&l, e);
                l
            })
            .collect()
    }

    #[test]
    fn a_sealed_run_opens_to_the_same_entries_and_links() {
        let kp = Keypair::generate();
        let log = log(&kp, 5);
        let ls = links(&log);
        let (run, head) = Run::seal(&kp, ls[1], &log[2..]).unwrap();
        assert_eq!(head, ls[4]);
        assert_eq!((run.from, run.last()), (3, 5));
        let opened = run.open().unwrap();
        for ((e, l), (o, ol)) in log[2..].iter().zip(&ls[2..]).zip(&opened) {
            assert_eq!(
                (e.author, e.seq, e.hlc, &e.op),
                (o.author, o.seq, o.hlc, &o.op)
            );
            assert_eq!(l, ol);
            assert_eq!(o.sig, Sig::CHAINED);
        }
        // Forwarded with the head it was received with, by someone without the key.
        let again = Run::with_head(kp.author(), ls[1], &log[2..], run.head).unwrap();
        assert_eq!(again, run);
    }

    #[test]
    fn any_change_breaks_the_seal() {
        let kp = Keypair::generate();
        let log = log(&kp, 4);
        let ls = links(&log);
        let (run, _) = Run::seal(&kp, ls[0], &log[1..]).unwrap();
        let mut t = run.clone();
        t.items[0].op = op(99);
        assert!(t.open().is_none(), "altered content");
        let mut t = run.clone();
        t.items[1].hlc = Hlc(77);
        assert!(t.open().is_none(), "altered clock");
        let mut t = run.clone();
        t.from += 1;
        assert!(t.open().is_none(), "shifted seq");
        let mut t = run.clone();
        t.prev = ls[1];
        assert!(t.open().is_none(), "another prev");
        let mut t = run.clone();
        t.items.pop();
        assert!(
            t.open().is_none(),
            "truncated: the head is the last entry's"
        );
        let mut t = run.clone();
        t.author = Keypair::generate().author();
        assert!(t.open().is_none(), "another author");
        let mut t = run.clone();
        t.head = Sig::CHAINED;
        assert!(t.open().is_none(), "no signature");
        let mut t = run;
        t.from = u64::MAX;
        assert!(t.open().is_none(), "overflow");
    }

    #[test]
    fn only_contiguous_entries_of_the_key_seal() {
        let kp = Keypair::generate();
        let log = log(&kp, 4);
        let g = genesis(&kp.author());
        assert!(Run::seal(&kp, g, &[]).is_none());
        assert!(Run::seal(&kp, g, &[log[0].clone(), log[2].clone()]).is_none());
        assert!(Run::seal(&Keypair::generate(), g, &log).is_none());
    }

    #[test]
    fn an_elided_run_still_opens_and_hides_the_content() {
        let kp = Keypair::generate();
        let log = log(&kp, 4);
        let ls = links(&log);
        let (run, _) = Run::seal(&kp, genesis(&kp.author()), &log).unwrap();
        let run = run.elide(|seq, _| seq == 2 || seq == 3);
        let e2 = &log[1];
        assert_eq!(
            run.items[1].op,
            Op::Elided(entry_digest(&e2.author, e2.seq, e2.hlc, &e2.op))
        );
        let opened = run.open().expect("the seal holds over the placeholders");
        assert_eq!(opened.iter().map(|(_, l)| *l).collect::<Vec<_>>(), ls);
        assert_eq!(opened[3].0.op, log[3].op);
        // A placeholder with a wrong digest breaks the seal.
        let mut forged = run.clone();
        forged.items[2].op = Op::Elided([9; 32]);
        assert!(forged.open().is_none());
        // A placeholder stands for its own entry only: an entry ahead of one is still checked by
        // the seal, so whoever carries a run may withhold entries but never alter one.
        let mut early = run.clone();
        early.items[0].op = op(99);
        assert!(early.open().is_none());
        let mut early = run;
        early.items[0].hlc = Hlc(77);
        assert!(early.open().is_none());
    }
}
