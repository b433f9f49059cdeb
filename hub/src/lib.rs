//! baobi's provincial hub as a library: the store, the QUIC server, the control socket and the reports.
//!
//! `main.rs` only parses the command line and calls in here, so the end-to-end tests can start a hub on
//! a loopback socket (`net::endpoint` + `server::run`) exactly as `baobi-hub serve` does.

/// Writes results to stdout (`out!` a line, `out!(raw …)` without the newline) and hands a failed write
/// to [`cli::stdout_error`] with `?` instead of panicking as `println!` does: a closed pipe
/// (`baobi-hub records --json | head -c 10`) becomes [`cli::StdoutClosed`], which `main` ends quietly on.
macro_rules! out {
    (raw $($t:tt)*) => {{
        use std::io::Write as _;
        write!(std::io::stdout().lock(), $($t)*).map_err($crate::cli::stdout_error)?
    }};
    ($($t:tt)*) => {{
        use std::io::Write as _;
        writeln!(std::io::stdout().lock(), $($t)*).map_err($crate::cli::stdout_error)?
    }};
}

pub mod backup;
pub mod check;
pub mod cli;
pub mod control;
pub mod demo;
pub mod drop;
pub mod follow;
mod groups;
pub mod http;
pub mod indicators;
pub mod limits;
pub mod metrics;
pub mod national;
pub mod net;
pub mod office;
pub mod operators;
pub mod plan;
pub mod relay;
pub mod report;
pub mod review;
pub mod server;
pub mod standby_cert;
pub mod standby_peer;
pub mod store;
#[cfg(test)]
mod testkit;
pub mod units_csv;
pub mod verify;

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

/// Current Unix time in seconds (shifted by `BAOBI_HUB_CLOCK_OFFSET_SECS` when set, for tests).
pub fn now_secs() -> i64 {
    (now_ms() / 1000) as i64
}

/// Current Unix time in milliseconds (shifted like [`now_secs`]).
pub fn now_ms() -> u64 {
    let offset_ms = std::env::var(limits::ENV_CLOCK_OFFSET)
        .ok()
        .and_then(|v| v.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .saturating_mul(1000);
    let real = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
    real.saturating_add(offset_ms).max(0) as u64
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
