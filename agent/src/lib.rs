//! baobi's office agent as a library: the sled store, the QUIC client, the sync driver, the commands
//! and the daemon. The binary adds only its command line and output (`src/cli.rs`).
//!
//! Tests drive the same functions the binary uses (`net::connect`, `store::Store`, `sync::sync`).

pub mod daemon;
pub mod drop;
pub mod history;
pub mod http;
pub mod import;
pub mod net;
pub mod ops;
pub mod relay;
pub mod restore;
pub mod standby;
pub mod standby_cert;
pub mod store;
pub mod sync;
