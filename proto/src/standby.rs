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

/// A standby's answer to the primary it follows (or followed) asking, before it serves, whether it
/// was promoted meanwhile.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct RoleAnswer {
    /// True once `promote` ran on the standby: the asking hub must not serve offices any more.
    pub promoted: bool,
    /// When (Unix seconds; 0 when not promoted).
    pub promoted_at: i64,
}
