//! The TCP proxy for byte-stream peers (the bench's HTTPS client): propagation delay and a bandwidth cap
//! per direction, and byte counters.
//!
//! Loss, jitter, reordering and duplication are not simulated: a user-space proxy only sees the byte
//! stream after the kernel's TCP has already recovered losses and put segments in order, so the only
//! faithful impairments at this level are delay and rate. The profile's `loss`, `burst`, `jitter`,
//! `reorder` and `duplicate` fields are ignored here.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::shaper::Lane;
use crate::{Profile, Stats};

/// Bytes read from one side before they are scheduled as one chunk (the shaping granularity).
const CHUNK: usize = 16 * 1024;

/// Chunks in flight per direction before the proxy stops reading (then TCP flow control pushes back).
const IN_FLIGHT: usize = 64;

/// A TCP proxy that adds delay and a bandwidth cap; dropping it closes every connection it carries.
pub struct TcpProxy {
    /// Counters shared with the connection tasks.
    shared: Arc<Mutex<Stats>>,
    /// Where clients connect.
    addr: SocketAddr,
    /// The accept loop (owns the connection tasks, which stop with it).
    task: JoinHandle<()>,
}

impl TcpProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding every accepted connection to `upstream`.
    pub async fn start(upstream: SocketAddr, profile: Profile) -> io::Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Mutex::new(Stats::default()));
        let task = tokio::spawn(accept_loop(listener, upstream, profile, shared.clone()));
        Ok(Self { shared, addr, task })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The counters (packets are forwarded chunks; `dropped` and `duplicated` stay 0).
    pub fn stats(&self) -> Stats {
        *lock(&self.shared)
    }

    /// Sets every counter to zero.
    pub fn reset_stats(&self) {
        *lock(&self.shared) = Stats::default();
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Locks the counters, tolerating a poisoned lock.
fn lock(m: &Mutex<Stats>) -> MutexGuard<'_, Stats> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Accepts clients and starts two shaped pumps for each.
async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    profile: Profile,
    stats: Arc<Mutex<Stats>>,
) {
    let mut conns = JoinSet::new();
    loop {
        let (client, _) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                tracing::debug!(error = %e, "tcp proxy: accept");
                continue;
            }
        };
        let profile = profile.clone();
        let stats = stats.clone();
        conns.spawn(async move {
            let server = match TcpStream::connect(upstream).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::debug!(error = %e, "tcp proxy: upstream connect");
                    return;
                }
            };
            let _ = client.set_nodelay(true);
            let _ = server.set_nodelay(true);
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            let up = pump(cr, sw, profile.clone(), profile.up_bps, true, stats.clone());
            let down = pump(sr, cw, profile.clone(), profile.down_bps, false, stats);
            tokio::join!(up, down);
        });
        // Reap finished connections so the set does not grow.
        while conns.try_join_next().is_some() {}
    }
}

/// Copies one direction through a lane: each chunk is written when the lane says it arrives.
async fn pump(
    mut from: OwnedReadHalf,
    mut to: OwnedWriteHalf,
    profile: Profile,
    bps: Option<u64>,
    up: bool,
    stats: Arc<Mutex<Stats>>,
) {
    let (tx, mut rx) = mpsc::channel::<(Instant, Vec<u8>)>(IN_FLIGHT);
    let reader = async move {
        let mut lane = Lane::new();
        // On a capped link, chunks of about 20 ms of traffic so that bytes trickle as they would.
        let chunk = bps.map_or(CHUNK, |b| ((b / 8 / 50) as usize).clamp(512, CHUNK));
        let mut buf = vec![0u8; chunk];
        loop {
            let n = match from.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let at = lane.admit_chunk(&profile, bps, n);
            if tx.send((at, buf[..n].to_vec())).await.is_err() {
                break;
            }
        }
    };
    let writer = async move {
        while let Some((at, data)) = rx.recv().await {
            tokio::time::sleep_until(at).await;
            if to.write_all(&data).await.is_err() {
                return;
            }
            let mut s = lock(&stats);
            if up {
                s.up_packets += 1;
                s.up_bytes += data.len() as u64;
            } else {
                s.down_packets += 1;
                s.down_bytes += data.len() as u64;
            }
        }
        let _ = to.shutdown().await;
    };
    tokio::join!(reader, writer);
}
