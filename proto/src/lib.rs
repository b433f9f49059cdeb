//! baobi's core: the replicated data model, the wire codec and the sync session, with no I/O at all.
//!
//! `agent` and `hub` drive what is here over QUIC and sled; this crate never touches sockets, clocks,
//! threads or storage, so every rule about entries, validation, convergence and the protocol can be
//! tested in memory. See `ARCHITECTURE.md` for the map.

pub mod chain;
pub mod drop;
pub mod enroll_cert;
pub mod facts;
pub mod identity;
pub mod indicators;
pub mod national;
pub mod office;
pub mod receipt;
pub mod session;
pub mod standby;
pub mod summary;
pub mod units;
pub mod validate;
pub mod view;
pub mod wire;

pub use identity::{AuthorId, Keypair, Sig, Token};
pub use session::{Event, Role, Session};
pub use summary::{Range, Summary};
pub use wire::{Body, Date, Dot, Entry, Hlc, Msg, Op};

/// Everything that can go wrong in the core. Messages are lowercase and name what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A frame longer than the protocol allows.
    #[error("frame of {0} bytes exceeds the limit")]
    FrameTooLarge(usize),
    /// Bytes that do not decode as a message.
    #[error("malformed frame: {0}")]
    Malformed(String),
    /// The peer broke the protocol's sequence.
    #[error("protocol violation: {0}")]
    Protocol(String),
    /// The hub refused.
    #[error("refused by the hub ({:?}): {}", .0.code, .0.message)]
    Refused(wire::Refusal),
    /// A user-supplied field is invalid.
    #[error("{field}: {message}")]
    Field {
        /// The field, as the CLI names it.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Some other invalid input.
    #[error("{0}")]
    Invalid(String),
}
