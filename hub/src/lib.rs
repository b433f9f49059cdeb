//! baobi's provincial hub as a library: the store, the QUIC server, the control socket and the reports.
//!
//! `main.rs` only parses the command line and calls in here, so the end-to-end tests can start a hub on
//! a loopback socket (`net::endpoint` + `server::run`) exactly as `baobi-hub serve` does.

pub mod check;
pub mod cli;
pub mod control;
pub mod demo;
mod groups;
pub mod http;
pub mod indicators;
pub mod limits;
pub mod net;
pub mod operators;
pub mod plan;
pub mod report;
pub mod review;
pub mod server;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod units_csv;

pub use store::Hub;

/// Everything that can go wrong in the hub library. Messages are lowercase and say what failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The database failed.
    #[error("store: {0}")]
    Sled(#[from] sled::Error),
    /// The store did not open (in use, damaged, or its folder unreadable); the message says which
    /// and what to do.
    #[error(transparent)]
    Open(#[from] baobi_storage::OpenError),
    /// A core rule or codec failed.
    #[error(transparent)]
    Proto(#[from] baobi_proto::Error),
    /// Input the user gave is invalid (exit code 2).
    #[error("{0}")]
    Invalid(String),
    /// Stored data could not be read back.
    #[error("corrupt store: {0}")]
    Corrupt(String),
    /// An I/O operation failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// TLS or QUIC setup failed.
    #[error("tls: {0}")]
    Tls(String),
}

/// Result with the hub's error.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Current Unix time in seconds.
pub fn now_secs() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Unix time as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| secs.to_string())
}
