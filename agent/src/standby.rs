//! The office's standby hub: where it is and its pin (from the enrollment token), and which of the
//! two hubs answered last, in the sled tree `standby_hub`. A sync tries the hub that answered last
//! first and falls back to the other when it does not answer; each is pinned to its own certificate.
//! Which hub holds an entry is not tracked here: each sync sends what the hub it talks to lacks (by
//! that hub's summary), so an entry stays the office's to send until the hub it reaches has it.
//!
//! The standby's author key is kept too (`author`): learned over a pinned connection, from the
//! primary (which recorded it at the standby's first contact) or from the standby itself, so the
//! office accepts the hub-only entries (units, plans, reviews, jurisdictions) a promoted standby
//! writes. Once the standby said it was promoted (`promoted`: its signed word), the office tries it
//! first, and should it reach the old primary again it hands it that word instead of syncing (the old
//! primary then stops serving: two primaries would take offices' records apart).

use baobi_proto::identity::PeerPin;
use baobi_proto::standby::{
    key_digest, pin_digest, Promotion, StandbyCheck, StandbyPeer, Superseded,
};
use baobi_proto::wire::Msg;
use baobi_proto::AuthorId;
use baobi_proto::Sig;
use data_encoding::HEXLOWER;

use crate::store::{self, HubInfo, Store};

const TREE: &str = "standby_hub";
const K_PIN: &[u8] = b"pin";
const K_LAST: &[u8] = b"last";
const K_AUTHOR: &[u8] = b"author";
const K_PROMOTED: &[u8] = b"promoted";

/// One hub a sync may reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// `host:port`.
    pub addr: String,
    /// SHA-256 of its certificate.
    pub fingerprint: [u8; 32],
    /// True for the standby.
    pub standby: bool,
}

/// Keeps the standby named by the enrollment token (nothing when there is none), durably.
pub fn save(store: &Store, pin: Option<&PeerPin>) -> store::Result<()> {
    let Some(p) = pin else { return Ok(()) };
    put_pin(store, p)?;
    store.flush()
}

/// Keeps `p` as the standby; what was known of another certificate (its author, its promotion) is
/// forgotten.
fn put_pin(store: &Store, p: &PeerPin) -> store::Result<()> {
    let t = store.tree(TREE)?;
    if pin(store)?.is_some_and(|old| old.fingerprint != p.fingerprint) {
        t.remove(K_AUTHOR)?;
        t.remove(K_PROMOTED)?;
    }
    let v = format!("{} {}", HEXLOWER.encode(&p.fingerprint), p.addr);
    t.insert(K_PIN, v.as_bytes())?;
    Ok(())
}

/// The standby's author key, once learned.
pub fn author(store: &Store) -> store::Result<Option<AuthorId>> {
    let Some(v) = store.tree(TREE)?.get(K_AUTHOR)? else {
        return Ok(None);
    };
    let bytes: [u8; 32] = HEXLOWER
        .decode(&v)
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| store::Error::Corrupt("standby author".into()))?;
    Ok(Some(AuthorId(bytes)))
}

/// True once the standby said, over its pinned connection, that it was promoted to primary.
pub fn promoted(store: &Store) -> store::Result<bool> {
    Ok(store.tree(TREE)?.get(K_PROMOTED)?.is_some())
}

/// The standby's signed word of its promotion, once it gave it.
fn promotion(store: &Store) -> store::Result<Option<Promotion>> {
    let Some(v) = store.tree(TREE)?.get(K_PROMOTED)? else {
        return Ok(None);
    };
    let s = String::from_utf8_lossy(&v);
    let bad = || store::Error::Corrupt("standby promotion".into());
    let (at, sig) = s.split_once(' ').ok_or_else(bad)?;
    let sig: [u8; 64] = HEXLOWER
        .decode(sig.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok(Some(Promotion {
        at: at.parse().map_err(|_| bad())?,
        sig: Sig(sig),
    }))
}

/// What a sync's stream opens with at `t`: what the office knows of the standby, or, at the old
/// primary once the standby gave its word that it was promoted, that word.
pub fn opening(store: &Store, t: &Target) -> store::Result<Msg> {
    if !t.standby {
        if let (Some(p), Some(author), Some(promotion)) =
            (pin(store)?, author(store)?, promotion(store)?)
        {
            return Ok(Msg::Superseded(Superseded {
                fingerprint: p.fingerprint,
                author,
                promotion,
            }));
        }
    }
    Ok(Msg::StandbyCheck(check(store)?))
}

/// What this office knows of the standby, sent before each sync's `Hello`.
pub fn check(store: &Store) -> store::Result<StandbyCheck> {
    let (Some(p), Some(a)) = (pin(store)?, author(store)?) else {
        return Ok(StandbyCheck::default());
    };
    Ok(StandbyCheck {
        pin: pin_digest(&p.addr, &p.fingerprint, &a),
        key: key_digest(&p.fingerprint, &a, promoted(store)?),
    })
}

/// Takes what the hub at `t` (the connection pinned to it) said of the standby: the primary names
/// the standby (address, certificate, author); the standby names itself (its author and whether
/// it was promoted), taken only when it is the certificate the office pinned for it. Returns
/// whether anything changed.
pub fn learn(store: &Store, t: &Target, p: &StandbyPeer) -> store::Result<bool> {
    let tree = store.tree(TREE)?;
    let before = check(store)?;
    if !t.standby {
        if p.addr.is_empty() {
            return Ok(false);
        }
        put_pin(
            store,
            &PeerPin {
                addr: p.addr.clone(),
                fingerprint: p.fingerprint,
            },
        )?;
    } else if p.fingerprint != t.fingerprint {
        return Ok(false);
    }
    tree.insert(K_AUTHOR, HEXLOWER.encode(&p.author.0).as_bytes())?;
    if let Some(pr) = p.promotion.as_ref().filter(|_| t.standby) {
        let word = Superseded {
            fingerprint: p.fingerprint,
            author: p.author,
            promotion: pr.clone(),
        };
        // Kept only as signed: it is what the old primary will be shown.
        if word.verifies() {
            let v = format!("{} {}", pr.at, HEXLOWER.encode(&pr.sig.0));
            tree.insert(K_PROMOTED, v.as_bytes())?;
        }
    }
    store.flush()?;
    Ok(check(store)? != before)
}

/// The standby this office knows.
pub fn pin(store: &Store) -> store::Result<Option<PeerPin>> {
    let t = store.tree(TREE)?;
    let Some(v) = t.get(K_PIN)? else {
        return Ok(None);
    };
    let s = String::from_utf8_lossy(&v);
    let bad = || store::Error::Corrupt("standby pin".into());
    let (fp, addr) = s.split_once(' ').ok_or_else(bad)?;
    let fingerprint = HEXLOWER
        .decode(fp.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(bad)?;
    Ok(Some(PeerPin {
        addr: addr.to_string(),
        fingerprint,
    }))
}

/// The hubs to try, in order: the one that answered last first (the primary when none has).
pub fn targets(store: &Store, hub: &HubInfo) -> store::Result<Vec<Target>> {
    let mut out = vec![Target {
        addr: hub.addr.clone(),
        fingerprint: hub.fingerprint_bytes()?,
        standby: false,
    }];
    if let Some(p) = pin(store)? {
        out.push(Target {
            addr: p.addr,
            fingerprint: p.fingerprint,
            standby: true,
        });
        if store.tree(TREE)?.get(K_LAST)?.as_deref() == Some(&b"standby"[..]) {
            out.reverse();
        }
    }
    promoted_first(store, &mut out)?;
    Ok(out)
}

/// Records which hub answered.
pub fn answered(store: &Store, t: &Target) -> store::Result<()> {
    let v: &[u8] = if t.standby { b"standby" } else { b"primary" };
    let tree = store.tree(TREE)?;
    if tree.get(K_LAST)?.as_deref() != Some(v) {
        tree.insert(K_LAST, v)?;
    }
    Ok(())
}

/// Once the standby said it was promoted, it is tried first whichever answered last; the old primary
/// stays behind it only to be shown the standby's word (see [`opening`]).
fn promoted_first(store: &Store, targets: &mut [Target]) -> store::Result<()> {
    if promoted(store)? {
        targets.sort_by_key(|t| !t.standby);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::chain;
    use baobi_proto::wire::{Decision, Dot, Hlc, Op, ReviewDecision, Run};
    use baobi_proto::Keypair;

    fn review_by(k: &Keypair) -> Run {
        let e = k.sign_entry(
            1,
            Hlc(1),
            Op::Review(ReviewDecision {
                record: Dot {
                    author: AuthorId([3; 32]),
                    seq: 1,
                },
                version: [0; 32],
                decision: Decision::Returned,
                reason: "sai".into(),
            }),
        );
        Run::seal(k, chain::genesis(&k.author()), &[e]).unwrap().0
    }

    fn hub_info(primary_fp: [u8; 32], author: &AuthorId) -> HubInfo {
        HubInfo {
            addr: "127.0.0.1:1".into(),
            fingerprint: HEXLOWER.encode(&primary_fp),
            author: author.hex(),
            province: "87".into(),
            province_name: "Đồng Tháp".into(),
            unit: "30226".into(),
            unit_name: "x".into(),
            label: "x".into(),
        }
    }

    #[test]
    fn the_standby_author_learned_over_a_pinned_connection_is_a_hub_author_and_no_one_else() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (primary, standby, stranger) = (
            Keypair::generate(),
            Keypair::generate(),
            Keypair::generate(),
        );
        let hub = hub_info([1; 32], &primary.author());
        // Before the office knows the standby's author, its review is refused and nothing stored.
        assert!(matches!(
            s.store_received(&[review_by(&standby)], &primary.author()),
            Err(store::Error::BadEntry(..))
        ));
        assert_eq!(s.entries().unwrap().len(), 0);
        assert_eq!(check(&s).unwrap(), StandbyCheck::default());

        // The primary names its standby: the office keeps its address, certificate and author.
        let peer = StandbyPeer {
            addr: "127.0.0.1:2".into(),
            fingerprint: [2; 32],
            author: standby.author(),
            promotion: None,
        };
        let primary_t = targets(&s, &hub).unwrap().remove(0);
        assert!(!primary_t.standby);
        assert!(learn(&s, &primary_t, &peer).unwrap());
        assert!(
            !learn(&s, &primary_t, &peer).unwrap(),
            "nothing new the second time"
        );
        assert_eq!(
            check(&s).unwrap().pin,
            pin_digest("127.0.0.1:2", &[2; 32], &standby.author())
        );
        let ts = targets(&s, &hub).unwrap();
        assert_eq!(ts.len(), 2);
        assert_eq!(
            (ts[1].addr.as_str(), ts[1].fingerprint),
            ("127.0.0.1:2", [2; 32])
        );
        assert_eq!(
            s.store_received(&[review_by(&standby)], &primary.author())
                .unwrap(),
            1
        );
        // Any other author's hub-only entry is still refused.
        assert!(matches!(
            s.store_received(&[review_by(&stranger)], &primary.author()),
            Err(store::Error::BadEntry(..))
        ));

        // A hub at the standby's address naming another certificate than the pinned one is ignored.
        let standby_t = ts[1].clone();
        let signed = |k: &Keypair, fp: [u8; 32]| Promotion {
            at: 1_700_000_000,
            sig: k.sign(&baobi_proto::standby::promotion_bytes(
                &fp,
                &k.author(),
                1_700_000_000,
            )),
        };
        let other = StandbyPeer {
            fingerprint: [9; 32],
            author: stranger.author(),
            promotion: Some(signed(&stranger, [9; 32])),
            addr: String::new(),
        };
        assert!(!learn(&s, &standby_t, &other).unwrap());
        assert_eq!(author(&s).unwrap(), Some(standby.author()));
        assert!(!promoted(&s).unwrap());

        // A word of promotion that does not verify is not kept.
        let forged = StandbyPeer {
            addr: String::new(),
            fingerprint: [2; 32],
            author: standby.author(),
            promotion: Some(signed(&stranger, [2; 32])),
        };
        learn(&s, &standby_t, &forged).unwrap();
        assert!(!promoted(&s).unwrap());
        assert!(matches!(
            opening(&s, &primary_t).unwrap(),
            Msg::StandbyCheck(_)
        ));

        // The standby says it was promoted: it comes first, and the old primary is shown its word.
        let itself = StandbyPeer {
            promotion: Some(signed(&standby, [2; 32])),
            ..forged
        };
        assert!(learn(&s, &standby_t, &itself).unwrap());
        let ts = targets(&s, &hub).unwrap();
        assert_eq!(ts, vec![standby_t.clone(), primary_t.clone()]);
        match opening(&s, &primary_t).unwrap() {
            Msg::Superseded(w) => {
                assert!(w.verifies());
                assert_eq!((w.fingerprint, w.author), ([2; 32], standby.author()));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            opening(&s, &standby_t).unwrap(),
            Msg::StandbyCheck(_)
        ));

        // The primary naming a new standby (another certificate) forgets the old one's author.
        let newer = StandbyPeer {
            addr: "127.0.0.1:3".into(),
            fingerprint: [4; 32],
            author: stranger.author(),
            promotion: None,
        };
        assert!(learn(&s, &primary_t, &newer).unwrap());
        assert!(!promoted(&s).unwrap());
        assert_eq!(author(&s).unwrap(), Some(stranger.author()));
    }
}
