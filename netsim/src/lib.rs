//! Link simulator for tests and benchmarks: proxies that sit between baobi agents and the hub and make a
//! loopback connection behave like a weak mobile link (delay, jitter, loss, bursts, reordering,
//! duplication, bandwidth caps, partitions, NAT rebinding).
//!
//! It exists so that the promise "a record an agent saved reaches the hub exactly once" can be tested on
//! the links commune offices really have, with real QUIC and real processes, on one machine. It is test
//! tooling: nothing in the agent or the hub depends on it.
//!
//! - [`UdpProxy`] carries QUIC: one proxy serves many clients, each with its own upstream socket, its
//!   own serialising queue per direction and its own loss state.
//! - [`TcpProxy`] carries byte streams (the bench's HTTPS peer): delay and bandwidth only, because loss
//!   cannot be simulated on a byte stream in user space.
//! - [`Profile`] describes a link; [`Profile::by_name`] knows `loopback`, `4g`, `3g`, `edge`, `gprs`.
//!
//! Randomness comes from a seeded [`rand::rngs::StdRng`], so the sequence of loss, duplication and
//! jitter decisions reproduces for one client sending the same packets; the wall-clock timing of a run
//! (scheduler, other processes) still varies, and with several clients the interleaving does too.

mod profile;
mod shaper;
mod tcp;
mod udp;

pub use profile::{Burst, Profile};
pub use tcp::TcpProxy;
pub use udp::UdpProxy;

/// Traffic counters of a proxy since it started or since its last `reset_stats`.
///
/// "up" is client → server, "down" is server → client. Bytes are payload bytes delivered (UDP payload
/// for [`UdpProxy`], stream bytes for [`TcpProxy`]); packets are datagrams delivered (for the TCP proxy,
/// the chunks it forwarded).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams delivered client → server.
    pub up_packets: u64,
    /// Payload bytes delivered client → server.
    pub up_bytes: u64,
    /// Datagrams delivered server → client.
    pub down_packets: u64,
    /// Payload bytes delivered server → client.
    pub down_bytes: u64,
    /// Datagrams dropped (random or burst loss, partition, full queue).
    pub dropped: u64,
    /// Datagrams duplicated (each counts once; both copies count as delivered).
    pub duplicated: u64,
}
