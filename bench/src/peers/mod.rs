//! The four ways a province could sync its offices, each run through the same four scenarios on the
//! same records over the same kind of link.
//!
//! A peer's `run` sets up its server and client, then: syncs the initial records (`Initial`); records a
//! few more and syncs (`AddFew`); syncs with nothing new (`NoChange`); and syncs after the client lost
//! whatever sync state it keeps (`LostState`). Each sync is measured on its own.

pub mod automerge;
pub mod baobi;
pub mod fullstate;
pub mod https;

use baobi_proto::wire::Body;
use baobi_proto::Keypair;
use serde::Serialize;

use crate::meter::Measure;

/// The scenarios, in the order every peer runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Scenario {
    /// The client's whole initial log to an empty server.
    Initial,
    /// A few new records into everything already shared.
    AddFew,
    /// Nothing new on either side.
    NoChange,
    /// Nothing new, but the client lost its sync state.
    LostState,
}

impl Scenario {
    /// All four, in order.
    pub const ALL: [Scenario; 4] = [
        Scenario::Initial,
        Scenario::AddFew,
        Scenario::NoChange,
        Scenario::LostState,
    ];

    /// Label for tables.
    pub fn label(self, initial: usize, few: usize) -> String {
        match self {
            Scenario::Initial => format!("initial {initial}"),
            Scenario::AddFew => format!("+{few} into {initial}"),
            Scenario::NoChange => "no change".into(),
            Scenario::LostState => "lost sync state".into(),
        }
    }
}

/// The peers compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PeerKind {
    /// baobi's delta sync over QUIC.
    Baobi,
    /// The whole state, bincode, over QUIC, merged.
    FullState,
    /// Automerge's sync protocol over QUIC.
    Automerge,
    /// One JSON POST per record over HTTPS/1.1.
    Https,
}

impl PeerKind {
    /// All four, baobi first.
    pub const ALL: [PeerKind; 4] = [
        PeerKind::Baobi,
        PeerKind::FullState,
        PeerKind::Automerge,
        PeerKind::Https,
    ];

    /// Label for tables.
    pub fn label(self) -> &'static str {
        match self {
            PeerKind::Baobi => "baobi (delta, QUIC)",
            PeerKind::FullState => "full-state CRDT (bincode, QUIC)",
            PeerKind::Automerge => "Automerge sync (QUIC)",
            PeerKind::Https => "HTTPS/1.1 JSON POST per record",
        }
    }

    /// Short name for `--peers` and JSON.
    pub fn name(self) -> &'static str {
        match self {
            PeerKind::Baobi => "baobi",
            PeerKind::FullState => "full-state",
            PeerKind::Automerge => "automerge",
            PeerKind::Https => "https",
        }
    }
}

/// The records every peer syncs.
pub struct Dataset {
    /// The recording office's key: its author id is in every record's outlet reference.
    pub keypair: Keypair,
    /// Records there before the first sync.
    pub initial: Vec<Body>,
    /// Records added before the second sync.
    pub extra: Vec<Body>,
}

impl Dataset {
    /// `initial` + `extra` records for a fresh key, from `seed`.
    pub fn generate(initial: usize, extra: usize, seed: u64) -> Dataset {
        let keypair = Keypair::generate();
        let mut g =
            crate::data::Generator::new(keypair.author(), 1, &crate::data::lai_vung(), seed);
        let first = g.take(initial);
        let more = g.take(extra);
        Dataset {
            keypair,
            initial: first,
            extra: more,
        }
    }

    /// Every record, initial then extra, with its sequence number in the office's log.
    pub fn numbered(&self) -> impl Iterator<Item = (u64, &Body)> {
        self.initial
            .iter()
            .chain(&self.extra)
            .zip(1u64..)
            .map(|(b, s)| (s, b))
    }
}

/// A peer's four measurements on one profile.
#[derive(Debug, Clone, Serialize)]
pub struct PeerRun {
    /// Which peer.
    pub peer: PeerKind,
    /// Link profile.
    pub profile: String,
    /// One measurement per scenario, in `Scenario::ALL` order.
    pub results: Vec<(Scenario, Measure)>,
}
