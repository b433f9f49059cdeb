//! What a standby hub and its primary say to each other beyond the sync session: the standby's
//! first contact (one-time token, proof of its key, where offices reach it) and the registry of
//! enrolled offices the standby needs to serve them after a promotion.
//!
//! Entries never travel here: the standby follows the primary with the ordinary [`crate::Session`]
//! (scope: every author), so every office's run stays sealed by the office and is checked again at
//! the standby. The registry is the primary's own (not replicated as entries); it travels over the
//! same mutually authenticated, pinned connection, only to the standby the primary enrolled.

use bincode::{Decode, Encode};

use crate::identity::{AuthorId, Sig};
use crate::wire::OfficeUnits;

/// Standby → primary, first message of a standby's first contact.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StandbyEnroll {
    /// The one-time secret of the standby token.
    pub secret: [u8; 16],
    /// The standby's own author key (also its TLS key).
    pub author: AuthorId,
    /// Where offices reach the standby, `host:port` (written into offices' tokens).
    pub addr: String,
    /// The standby's signature over `enroll_proof_bytes(secret, fingerprint of its certificate)`.
    pub proof: Sig,
}

/// Primary → standby: accepted; what the standby needs to be the same province.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StandbyWelcome {
    /// The primary's author key: its entries are accepted as the primary's.
    pub hub_author: AuthorId,
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The primary's lineage file (CSV), kept at its `init`.
    pub lineage_csv: String,
}

/// One enrolled office as the primary's registry holds it.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct OfficeRow {
    /// Its author key.
    pub author: AuthorId,
    /// SHA-256 of its TLS certificate.
    pub cert_fp: [u8; 32],
    /// Unit whose jurisdiction it has.
    pub unit: String,
    /// What the office is called.
    pub label: String,
    /// Enrolled at (Unix seconds).
    pub enrolled_at: i64,
    /// Revoked at the primary.
    pub revoked: bool,
    /// Its jurisdiction in force (the primary's `Op::Office` entry, indexed).
    pub office: Option<OfficeUnits>,
    /// The office that replaced it at a restore.
    pub replaced_by: Option<AuthorId>,
}

/// Primary → standby: every enrolled office.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct Registry {
    /// The rows, by author.
    pub offices: Vec<OfficeRow>,
}

/// Primary → follower (standby or national hub), right after [`Registry`]: the settings its
/// indicators use (`baobi-hub settings`), which live in the hub's meta, not in entries, by their
/// text names (`submitted`, `no-nonbio`, …). The follower takes them so its figures are the same.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct HubSettings {
    /// Which records count (`Basis`).
    pub basis: String,
    /// The I1 rule (`I1Rule`).
    pub i1_rule: String,
}

/// Primary → standby, right after [`HubSettings`]: every word the operator gave on which office a
/// relay may carry (`baobi-hub relay allow` / `deny`; they live in the hub's tree, not in entries).
/// The standby keeps exactly these, so after `promote` the relays carry what the primary let them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Encode, Decode)]
pub struct RelayWords {
    /// The words, in (relay, office) order.
    pub words: Vec<RelayWord>,
}

/// One operator's word: `relay` may (`allow`) or may not carry `office`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RelayWord {
    /// The relay office.
    pub relay: AuthorId,
    /// The office it carries, or not.
    pub office: AuthorId,
    /// Allowed (true) or denied (false).
    pub allow: bool,
}

/// A standby's answer to the primary it follows (or followed) asking, before it serves, whether it
/// was promoted meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RoleAnswer {
    /// True once `promote` ran on the standby: the asking hub must not serve offices any more.
    pub promoted: bool,
    /// When (Unix seconds; 0 when not promoted).
    pub promoted_at: i64,
}

/// Office → hub, sent just before [`crate::wire::Msg::Hello`] on a sync's stream: digests of the
/// standby the office knows, so the hub tells it only what it lacks (nothing on a sync between an
/// up-to-date office and its hub beyond these bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct StandbyCheck {
    /// [`pin_digest`] of the standby the office knows (zeros when it knows none).
    pub pin: [u8; 8],
    /// [`key_digest`] of it (zeros when the office does not know its author).
    pub key: [u8; 8],
}

/// Hub → office, before its answer to the `Hello`, only when the office's [`StandbyCheck`] differs:
/// a primary names the standby it recorded (address, certificate, author); a standby, followed or
/// promoted, names itself (empty `addr`: the office keeps the address it reached it at). Said over
/// the pinned connection, it is that hub's word: the office then accepts the unit, plan, review and
/// office entries of either author.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StandbyPeer {
    /// Where offices reach the standby (empty when a standby names itself).
    pub addr: String,
    /// SHA-256 of the standby's certificate.
    pub fingerprint: [u8; 32],
    /// The standby's author key (its entries after a promotion are the province hub's).
    pub author: AuthorId,
    /// When the hub naming itself was promoted to primary: its signed word, which the office carries
    /// to the old primary should it reach it again.
    pub promotion: Option<Promotion>,
}

/// A promoted standby's signed word that it is the primary since `at`.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Promotion {
    /// Promoted at (Unix seconds).
    pub at: i64,
    /// The standby's signature over [`promotion_bytes`].
    pub sig: Sig,
}

/// What a promoted standby signs: its certificate, its author and when.
pub fn promotion_bytes(fingerprint: &[u8; 32], author: &AuthorId, at: i64) -> Vec<u8> {
    let mut v = b"baobi/1 promoted".to_vec();
    v.extend_from_slice(fingerprint);
    v.extend_from_slice(&author.0);
    v.extend_from_slice(&at.to_be_bytes());
    v
}

/// Office → an old primary, instead of [`StandbyCheck`], when the office holds its standby's word
/// that it was promoted: the old primary, which recorded that standby, then stops serving offices.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct Superseded {
    /// The promoted standby's certificate fingerprint.
    pub fingerprint: [u8; 32],
    /// Its author key.
    pub author: AuthorId,
    /// Its signed word.
    pub promotion: Promotion,
}

impl Superseded {
    /// True when the promotion is signed by `author` over this certificate and time.
    pub fn verifies(&self) -> bool {
        self.author.verify(
            &promotion_bytes(&self.fingerprint, &self.author, self.promotion.at),
            &self.promotion.sig,
        )
    }
}

fn digest8(parts: &[&[u8]]) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"baobi standby peer");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let d = h.finalize();
    let mut out = [0u8; 8];
    out.copy_from_slice(&d[..8]);
    out
}

/// Digest of a standby's address, certificate and author as an office knows them.
pub fn pin_digest(addr: &str, fingerprint: &[u8; 32], author: &AuthorId) -> [u8; 8] {
    digest8(&[b"pin", addr.as_bytes(), fingerprint, &author.0])
}

/// Digest of a standby's certificate and author (what a standby naming itself compares).
pub fn key_digest(fingerprint: &[u8; 32], author: &AuthorId, promoted: bool) -> [u8; 8] {
    digest8(&[b"key", fingerprint, &author.0, &[promoted as u8]])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Msg;

    #[test]
    fn a_standby_check_costs_a_couple_dozen_bytes_and_digests_tell_every_field_apart() {
        let a = AuthorId([7; 32]);
        let b = AuthorId([8; 32]);
        let fp = [1u8; 32];
        let c = StandbyCheck {
            pin: pin_digest("h:1", &fp, &a),
            key: key_digest(&fp, &a, false),
        };
        let bytes = bincode::encode_to_vec(Msg::StandbyCheck(c), bincode::config::standard())
            .expect("encode");
        assert!(bytes.len() <= 24, "{} bytes", bytes.len());
        assert_ne!(c.pin, pin_digest("h:2", &fp, &a));
        assert_ne!(c.pin, pin_digest("h:1", &[2; 32], &a));
        assert_ne!(c.pin, pin_digest("h:1", &fp, &b));
        assert_ne!(c.key, key_digest(&fp, &b, false));
        assert_ne!(c.key, key_digest(&fp, &a, true));
        assert_ne!(c.pin, [0; 8]);
    }

    #[test]
    fn a_promotion_verifies_only_as_signed() {
        let k = crate::Keypair::generate();
        let fp = [5u8; 32];
        let n = Superseded {
            fingerprint: fp,
            author: k.author(),
            promotion: Promotion {
                at: 1_700_000_000,
                sig: k.sign(&promotion_bytes(&fp, &k.author(), 1_700_000_000)),
            },
        };
        assert!(n.verifies());
        let later = Superseded {
            promotion: Promotion {
                at: 1_700_000_001,
                ..n.promotion.clone()
            },
            ..n.clone()
        };
        assert!(!later.verifies());
        let other_cert = Superseded {
            fingerprint: [6; 32],
            ..n.clone()
        };
        assert!(!other_cert.verifies());
        let other_author = Superseded {
            author: crate::Keypair::generate().author(),
            ..n
        };
        assert!(!other_author.verifies());
    }
}
