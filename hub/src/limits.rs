//! Every limit the hub puts on peers, in one place: frame size, batch size, connections, sessions per
//! office, and the deadlines that drop silent or slow peers.
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

#[cfg(test)]
mod tests {
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
