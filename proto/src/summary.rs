//! What a replica holds, as a version vector: author → highest contiguous sequence number.
//!
//! Backed by `crdts::VClock` (kept private so the unmaintained crate can be swapped). Two replicas
//! compare digests first, so a no-change sync costs a 16-byte hash each way; the full vector is sent
//! only when something differs, and the difference gives the exact ranges to send.

use crdts::{CmRDT, Dot as CDot, VClock};
use sha2::{Digest, Sha256};

use crate::identity::AuthorId;
use crate::wire::{self, SummaryWire};

/// A version vector over authors.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary(VClock<AuthorId>);

/// Entries `from..=to` of `author`'s log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    /// The author.
    pub author: AuthorId,
    /// First sequence number.
    pub from: u64,
    /// Last sequence number, inclusive.
    pub to: u64,
}

impl Range {
    /// Number of entries in the range.
    pub fn len(&self) -> u64 {
        self.to + 1 - self.from
    }

    /// Always false: a range holds at least one entry.
    pub fn is_empty(&self) -> bool {
        false
    }
}

impl Summary {
    /// An empty summary.
    pub fn new() -> Self {
        Self::default()
    }

    /// Highest contiguous sequence number held of `author` (0 for none).
    pub fn get(&self, author: &AuthorId) -> u64 {
        self.0.get(author)
    }

    /// Records that entries `1..=seq` of `author` are held (never lowers).
    pub fn set(&mut self, author: AuthorId, seq: u64) {
        if seq > 0 {
            self.0.apply(CDot::new(author, seq));
        }
    }

    /// Authors and their sequence numbers, sorted by author.
    pub fn iter(&self) -> impl Iterator<Item = (AuthorId, u64)> + '_ {
        self.0.dots.iter().map(|(a, s)| (*a, *s))
    }

    /// Number of authors with at least one entry.
    pub fn len(&self) -> usize {
        self.0.dots.len()
    }

    /// True when nothing is held.
    pub fn is_empty(&self) -> bool {
        self.0.dots.is_empty()
    }

    /// Keeps only the authors `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&AuthorId) -> bool) {
        self.0.dots.retain(|a, _| keep(a));
    }

    /// Truncated SHA-256 over the canonical encoding: equal summaries, equal digests.
    pub fn digest(&self) -> [u8; 16] {
        let h = Sha256::digest(wire::encode(&self.to_wire()));
        let mut d = [0u8; 16];
        d.copy_from_slice(&h[..16]);
        d
    }

    /// What `self` holds beyond `other`: the ranges to send to a peer whose summary is `other`.
    pub fn missing_in(&self, other: &Summary) -> Vec<Range> {
        self.iter()
            .filter_map(|(author, to)| {
                let have = other.get(&author);
                (to > have).then_some(Range {
                    author,
                    from: have + 1,
                    to,
                })
            })
            .collect()
    }

    /// The wire form.
    pub fn to_wire(&self) -> SummaryWire {
        SummaryWire(self.iter().collect())
    }

    /// From the wire form; zero entries are dropped, duplicates keep the highest.
    pub fn from_wire(w: &SummaryWire) -> Self {
        let mut s = Summary::new();
        for (a, seq) in &w.0 {
            s.set(*a, *seq);
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(n: u8) -> AuthorId {
        AuthorId([n; 32])
    }

    #[test]
    fn missing_ranges_and_digest() {
        let mut x = Summary::new();
        x.set(a(1), 5);
        x.set(a(2), 3);
        let mut y = Summary::new();
        y.set(a(1), 2);
        assert_eq!(
            x.missing_in(&y),
            vec![
                Range {
                    author: a(1),
                    from: 3,
                    to: 5
                },
                Range {
                    author: a(2),
                    from: 1,
                    to: 3
                }
            ]
        );
        assert!(y.missing_in(&x).is_empty());
        assert_ne!(x.digest(), y.digest());
        y.set(a(1), 5);
        y.set(a(2), 3);
        y.set(a(3), 0);
        assert_eq!(x.digest(), y.digest());
        assert_eq!(Summary::from_wire(&x.to_wire()), x);
    }
}
