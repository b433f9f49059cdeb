//! Framed messages over one bidirectional stream, bounded in time (read, frame and first-message
//! deadlines) and in memory (the hub-wide budget for large partial frames).

use std::sync::Arc;
use std::time::Duration;

use baobi_proto::wire::{encode_frame, FrameDecoder, Msg};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::debug;

use super::ConnError;
use crate::limits::{self, Timeouts};

/// Framed messages over one bidirectional stream.
pub(crate) struct Framed {
    pub(super) send: quinn::SendStream,
    pub(super) recv: quinn::RecvStream,
    pub(super) dec: FrameDecoder,
    pub(super) buf: Vec<u8>,
    pub(super) timeouts: Timeouts,
    /// When set, the next message must be complete by then (the first message's deadline).
    pub(super) deadline: Option<Instant>,
    /// The hub-wide budget for large partial frames, and this connection's share of it.
    pub(super) budget: Arc<Semaphore>,
    pub(super) held: Option<OwnedSemaphorePermit>,
    /// The frame being received had to wait for room: if it misses its deadline, the hub was busy.
    pub(super) waited: bool,
}

impl Framed {
    pub(crate) async fn send(&mut self, msg: &Msg) -> Result<(), ConnError> {
        self.send
            .write_all(&encode_frame(msg))
            .await
            .map_err(|e| ConnError::Net(e.to_string()))
    }

    /// The next message. Bounded in time three ways: no bytes for `timeouts.read`, a frame begun but
    /// not finished within `timeouts.frame`, or (first message) past `deadline`. Memory is bounded by
    /// the decoder: one partial frame (at most `MAX_FRAME`) plus one read chunk.
    pub(crate) async fn recv(&mut self) -> Result<Option<Msg>, ConnError> {
        let mut frame_started: Option<Instant> = None;
        loop {
            let next = self.dec.next_msg();
            if !matches!(next, Ok(None)) {
                self.held = None; // the frame is out of the buffer: its share goes back
                self.waited = false;
            }
            if let Some(m) = next? {
                return Ok(Some(m));
            }
            let now = Instant::now();
            if !self.dec.is_empty() {
                frame_started.get_or_insert(now);
            }
            if let Some(t) = frame_started {
                self.reserve(t + self.timeouts.frame).await?;
            }
            let mut until = now + self.timeouts.read;
            let mut why = "peer sent nothing for too long";
            if let Some(t) = frame_started {
                if t + self.timeouts.frame < until {
                    until = t + self.timeouts.frame;
                    why = "peer too slow to finish a frame";
                }
            }
            if let Some(d) = self.deadline {
                if d < until {
                    until = d;
                    why = "peer too slow to send its first message";
                }
            }
            let read = tokio::time::timeout_at(until, self.recv.read(&mut self.buf)).await;
            let Ok(read) = read else {
                if self.waited {
                    return Err(ConnError::Busy);
                }
                return Err(ConnError::Timeout(why));
            };
            match read {
                Ok(Some(n)) => self.dec.push(&self.buf[..n]),
                Ok(None) if self.dec.is_empty() => return Ok(None),
                Ok(None) => return Err(ConnError::Net("stream ended inside a frame".into())),
                Err(e) => return Err(ConnError::Net(e.to_string())),
            }
        }
    }

    /// Takes this connection's share of the frame budget for the frame being received, once its
    /// length is known and it is larger than a read chunk (smaller ones are within the per-connection
    /// bound). Waits without reading, so the peer is held back by flow control, until `until`.
    async fn reserve(&mut self, until: Instant) -> Result<(), ConnError> {
        if self.held.is_some() {
            return Ok(());
        }
        let Some(len) = self.dec.frame_len() else {
            return Ok(());
        };
        if len <= limits::READ_CHUNK || len > limits::MAX_FRAME {
            return Ok(()); // too large: the decoder refuses it at the next call
        }
        let n = u32::try_from(len + 4).unwrap_or(u32::MAX);
        let budget = self.budget.clone();
        let permit = match budget.clone().try_acquire_many_owned(n) {
            Ok(p) => p,
            Err(_) => {
                debug!(len, "frame budget full; waiting before reading this frame");
                self.waited = true;
                match tokio::time::timeout_at(until, budget.acquire_many_owned(n)).await {
                    // Room that came only at the deadline is too late to read the frame in.
                    Ok(Ok(_)) if Instant::now() >= until => return Err(ConnError::Busy),
                    Ok(Ok(p)) => p,
                    Ok(Err(_)) => return Err(ConnError::Net("hub shutting down".into())),
                    Err(_) => return Err(ConnError::Busy),
                }
            }
        };
        self.held = Some(permit);
        Ok(())
    }

    /// Finishes our side, waits for the peer to finish its side and close.
    pub(crate) async fn finish(&mut self, conn: &quinn::Connection) {
        let _ = self.send.finish();
        let _ = tokio::time::timeout(Duration::from_secs(10), async {
            while let Ok(Some(_)) = self.recv().await {}
        })
        .await;
        let _ = tokio::time::timeout(Duration::from_secs(5), conn.closed()).await;
    }
}
