//! The `relay` subcommands of `baobi-agent` (issue 14): on a commune office, which relays (district
//! offices running `daemon --relay`) it may sync through when no hub answers; on the relay, its
//! address, fingerprint and the offices it carries for. Kept out of `cli.rs`, which routes them.

use baobi_agent::ops::{RelayRequest, Request};
use clap::Subcommand;

/// `relay` subcommands.
#[derive(Debug, Subcommand)]
pub enum RelayCmd {
    /// Sync through the relay at ADDR when no hub answers (pinned to its certificate).
    Add {
        /// The relay's address, host:port (its `daemon --relay`).
        addr: String,
        /// SHA-256 of the relay's certificate, as `baobi-agent relay info` prints it on the relay.
        #[arg(long)]
        fingerprint: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the relays this office may sync through, and its entries at a relay.
    List {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop syncing through the relay at ADDR.
    Remove {
        /// The relay's address, as `relay list` shows it.
        addr: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// This office as a relay: its address, certificate fingerprint and the offices it carries for.
    Info {
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

impl RelayCmd {
    /// The request, and whether to print JSON.
    pub fn request(self) -> (Request, bool) {
        match self {
            RelayCmd::Add {
                addr,
                fingerprint,
                json,
            } => (
                Request::Relay(RelayRequest::Add { addr, fingerprint }),
                json,
            ),
            RelayCmd::List { json } => (Request::Relay(RelayRequest::List), json),
            RelayCmd::Remove { addr, json } => {
                (Request::Relay(RelayRequest::Remove { addr }), json)
            }
            RelayCmd::Info { json } => (Request::Relay(RelayRequest::Info), json),
        }
    }
}
