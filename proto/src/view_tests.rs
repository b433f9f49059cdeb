//! The register's shortcuts against the register itself: a version's hash computed without
//! building its node, and the winning version found without hashing, each compared with what
//! `crdts::MerkleReg` gives for random records (corrections, conflicts, orphans, clock ties).

use proptest::prelude::*;

use super::*;
use crate::identity::AuthorId;

/// A version from small pools of authors, seqs, clocks and reasons (so ties and duplicates
/// happen), superseding some of `earlier`'s hashes, or an unknown one (an orphan), in any order
/// and possibly twice.
fn version(
    earlier: &[VersionHash],
    (author, seq, hlc, reason): (u8, u64, u64, u8),
    picks: &[(u8, bool)],
) -> StoredVersion {
    let supersedes = picks
        .iter()
        .map(
            |&(i, unknown)| match earlier.get(usize::from(i) % earlier.len().max(1)) {
                Some(h) if !unknown => *h,
                _ => [i; 32],
            },
        )
        .collect();
    StoredVersion {
        supersedes,
        version: Version {
            dot: Dot {
                author: AuthorId([author; 32]),
                seq,
            },
            hlc: Hlc(hlc),
            value: Value::Retracted(format!("lý do {reason}")),
        },
    }
}

type Draw = ((u8, u64, u64, u8), Vec<(u8, bool)>);

fn draws() -> impl Strategy<Value = Vec<Draw>> {
    let one = (
        (0u8..3, 1u64..4, 1u64..4, 0u8..3),
        prop::collection::vec((any::<u8>(), prop::bool::weighted(0.1)), 0..4),
    );
    prop::collection::vec(one, 1..12)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    /// `version_hash` is `Node::hash` for any supersedes list (unsorted, repeated, empty).
    #[test]
    fn a_versions_hash_is_its_nodes_hash(ds in draws()) {
        let mut seen = vec![];
        for (v, picks) in ds {
            let sv = version(&seen, v, &picks);
            let h = node(&sv).hash();
            prop_assert_eq!(version_hash(&sv), h);
            seen.push(h);
        }
    }

    /// `winning` and `winner` are the first of `heads`, however the record's versions arrived.
    #[test]
    fn the_winning_version_is_the_first_head(ds in draws(), rotate in 0usize..12) {
        let mut seen = vec![];
        let mut versions = vec![];
        for (v, picks) in ds {
            let sv = version(&seen, v, &picks);
            seen.push(version_hash(&sv));
            versions.push(sv);
        }
        let k = rotate % versions.len();
        versions.rotate_left(k);
        let mut rec = RecordState::new(versions[0].version.dot);
        for v in versions {
            rec.add(v);
            let first = rec.heads().into_iter().next();
            let winning = rec.winning();
            prop_assert_eq!(
                winning.map(|v| (version_hash(v), v.version.clone())),
                first.as_ref().map(|h| (h.hash, h.version.clone()))
            );
            prop_assert_eq!(rec.winner(), first);
        }
        // Kept in hash order, each hash once.
        let hashes: Vec<_> = rec.versions.iter().map(version_hash).collect();
        prop_assert!(hashes.windows(2).all(|w| w[0] < w[1]));
    }
}
