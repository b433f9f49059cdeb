//! Every limit the hub puts on peers, in one place: frame size, batch size, connections (in all and
//! per source address), sessions per office, the memory budget for partial frames, and the deadlines
//! that drop silent or slow peers.
//!
//! A hub on a public address is probed by strangers; these bounds keep its memory and tasks bounded
//! whatever a peer sends, so honest offices keep syncing. The timeouts are configurable (hidden `serve`
//! flags or environment variables) only so that tests need not wait minutes.

use std::time::Duration;

/// Largest frame body accepted, in bytes (the codec's own bound, checked before allocating).
pub const MAX_FRAME: usize = baobi_proto::wire::MAX_FRAME;
/// Most entries one received batch may carry; a larger batch is refused (`Refused(Protocol)`).
pub const MAX_BATCH_ENTRIES: usize = baobi_proto::wire::MAX_BATCH_ENTRIES;
/// Most entries per batch the hub sends.
pub const SEND_BATCH: usize = 512;
/// Most connections served at once (handshaking or syncing); more are refused at the QUIC layer.
/// 200 offices syncing at the deadline use a fifth of it.
pub const MAX_CONNECTIONS: usize = 1024;
/// Default: most connections from one source address (IPv4 address or IPv6 /64) at once; more are
/// refused at accept (QUIC `CONNECTION_REFUSED`). A district office's NAT may hold several offices
/// behind one address.
pub const MAX_PER_ADDRESS: usize = 16;
/// Default: bytes all connections together may hold in frames larger than [`READ_CHUNK`] that are
/// not yet complete. A connection whose next frame does not fit waits without reading (QUIC flow
/// control holds the peer back) until it fits, or is closed when its frame deadline passes.
pub const FRAME_BUDGET: usize = 256 << 20;
/// QUIC receive window of a connection's stream and of the connection, in bytes: what quinn buffers
/// for a peer the hub is not reading from (quinn's default, 1.25 MB, times 1,024 connections would
/// be more than the frame budget). 512 KiB still fills a 40 Mbit/s link at 100 ms round trip.
pub const RECEIVE_WINDOW: u32 = 512 << 10;
/// Live sync sessions per office: a newer session replaces the older one (see `server.rs`).
pub const MAX_SESSIONS_PER_AGENT: usize = 1;
/// Buffer of one stream read, in bytes: a connection holds at most one partial frame plus this.
pub const READ_CHUNK: usize = 64 * 1024;
/// UDP receive buffer the hub asks for (the kernel caps it at `net.core.rmem_max`): room for the
/// first packets of a few thousand handshakes arriving together.
pub const UDP_RECV_BUFFER: usize = 4 << 20;
/// Default: the TLS handshake, opening the stream and the whole first message must fit in this.
pub const FIRST_MESSAGE: Duration = Duration::from_secs(10);
/// Default: longest wait for the peer's next bytes (keep-alives alone do not count).
pub const READ_TIMEOUT: Duration = Duration::from_secs(120);
/// Default: a frame once begun must be complete within this (a peer trickling one byte at a time is
/// dropped). 4 MiB at 256 kbit/s takes about 130 s; batches are far smaller in practice.
pub const FRAME_TIMEOUT: Duration = Duration::from_secs(180);
/// QUIC idle timeout (mobile links: keep-alive every 10 s, give up after 60 s of silence).
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How far ahead of the hub's clock an entry's clock may be before the hub flags its author's clock.
pub const CLOCK_AHEAD: Duration = Duration::from_secs(24 * 3600);

/// Environment variable for [`Timeouts::first_message`] in seconds.
pub const ENV_FIRST_MESSAGE: &str = "BAOBI_HUB_FIRST_MESSAGE_SECS";
/// Environment variable for [`Timeouts::read`] in seconds.
pub const ENV_READ_TIMEOUT: &str = "BAOBI_HUB_READ_TIMEOUT_SECS";
/// Environment variable for [`Timeouts::frame`] in seconds.
pub const ENV_FRAME_TIMEOUT: &str = "BAOBI_HUB_FRAME_TIMEOUT_SECS";
/// Environment variable for [`Bounds::per_address`].
pub const ENV_MAX_PER_ADDRESS: &str = "BAOBI_HUB_MAX_PER_ADDRESS";
/// Environment variable for [`Bounds::frame_budget`] in MiB.
pub const ENV_FRAME_BUDGET: &str = "BAOBI_HUB_FRAME_BUDGET_MIB";
/// Environment variable shifting the hub's clock by these seconds (tests of a hub whose clock is off).
pub const ENV_CLOCK_OFFSET: &str = "BAOBI_HUB_CLOCK_OFFSET_SECS";

/// The deadlines a running hub applies to each connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Handshake, stream and first message together.
    pub first_message: Duration,
    /// Silence between reads.
    pub read: Duration,
    /// One frame from its first byte to its last.
    pub frame: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            first_message: FIRST_MESSAGE,
            read: READ_TIMEOUT,
            frame: FRAME_TIMEOUT,
        }
    }
}

impl Timeouts {
    /// Defaults, overridden by given seconds (0 or none keeps the default).
    pub fn with_secs(first_message: Option<u64>, read: Option<u64>, frame: Option<u64>) -> Self {
        let d = Timeouts::default();
        let pick = |v: Option<u64>, def: Duration| match v {
            Some(s) if s > 0 => Duration::from_secs(s),
            _ => def,
        };
        Timeouts {
            first_message: pick(first_message, d.first_message),
            read: pick(read, d.read),
            frame: pick(frame, d.frame),
        }
    }
}

/// The bounds on connections and memory a running hub applies (tests lower them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bounds {
    /// Most connections from one source IP address.
    pub per_address: usize,
    /// Bytes of large partial frames all connections may hold together.
    pub frame_budget: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Bounds {
            per_address: MAX_PER_ADDRESS,
            frame_budget: FRAME_BUDGET,
        }
    }
}

impl Bounds {
    /// Defaults, overridden by the given connection count and budget in MiB (0 or none keeps the
    /// default). The budget is never below one largest frame, so any valid frame can pass.
    pub fn with(per_address: Option<usize>, frame_budget_mib: Option<usize>) -> Self {
        let d = Bounds::default();
        Bounds {
            per_address: per_address.filter(|n| *n > 0).unwrap_or(d.per_address),
            frame_budget: frame_budget_mib
                .filter(|n| *n > 0)
                .map_or(d.frame_budget, |m| m.saturating_mul(1 << 20))
                .clamp(MAX_FRAME + 4, 1 << 40),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn bounds_keep_defaults_and_hold_one_largest_frame() {
        assert_eq!(Bounds::with(Some(0), None), Bounds::default());
        let b = Bounds::with(Some(3), Some(1));
        assert_eq!(b.per_address, 3);
        assert_eq!(b.frame_budget, MAX_FRAME + 4);
        assert_eq!(Bounds::with(None, Some(64)).frame_budget, 64 << 20);
    }

    use super::*;

    #[test]
    fn zero_or_missing_keeps_defaults() {
        assert_eq!(
            Timeouts::with_secs(None, Some(0), None),
            Timeouts::default()
        );
        let t = Timeouts::with_secs(Some(2), Some(3), Some(4));
        assert_eq!(
            (t.first_message, t.read, t.frame),
            (
                Duration::from_secs(2),
                Duration::from_secs(3),
                Duration::from_secs(4)
            )
        );
    }
}
