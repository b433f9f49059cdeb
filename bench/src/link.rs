//! The link between client and server: a UDP or TCP proxy on loopback that counts payload bytes each
//! way, so "bytes on the wire" is measured the same way for every peer.
//!
//! Until the field-conditions proxy (`baobi-netsim`) is in the workspace this is a plain pass-through
//! (the loopback profile only); the rest of the bench sees only [`Link`], [`Wire`] and [`profiles`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// Payload bytes each way through a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// Client → server.
    pub up: u64,
    /// Server → client.
    pub down: u64,
}

#[derive(Debug, Default)]
struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

/// The link profiles this build can simulate.
pub fn profiles() -> Vec<&'static str> {
    vec!["loopback"]
}

/// A running proxy in front of one server.
#[derive(Debug)]
pub struct Link {
    addr: SocketAddr,
    counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Link {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Link {
    /// A UDP proxy to `upstream` with `profile`.
    pub async fn udp(upstream: SocketAddr, profile: &str) -> anyhow::Result<Link> {
        check_profile(profile)?;
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await?);
        let addr = sock.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move {
            let mut peers: HashMap<SocketAddr, Arc<UdpSocket>> = HashMap::new();
            let mut buf = vec![0u8; 65536];
            loop {
                let Ok((n, from)) = sock.recv_from(&mut buf).await else {
                    return;
                };
                c.up.fetch_add(n as u64, Ordering::Relaxed);
                let up = match peers.get(&from) {
                    Some(s) => s.clone(),
                    None => {
                        let Ok(s) = UdpSocket::bind("127.0.0.1:0").await else {
                            continue;
                        };
                        if s.connect(upstream).await.is_err() {
                            continue;
                        }
                        let s = Arc::new(s);
                        peers.insert(from, s.clone());
                        let (back, down, c2) = (sock.clone(), s.clone(), c.clone());
                        tokio::spawn(async move {
                            let mut buf = vec![0u8; 65536];
                            while let Ok(n) = down.recv(&mut buf).await {
                                c2.down.fetch_add(n as u64, Ordering::Relaxed);
                                let _ = back.send_to(&buf[..n], from).await;
                            }
                        });
                        s
                    }
                };
                let _ = up.send(&buf[..n]).await;
            }
        });
        Ok(Link {
            addr,
            counters,
            task,
        })
    }

    /// A TCP proxy to `upstream` with `profile`.
    pub async fn tcp(upstream: SocketAddr, profile: &str) -> anyhow::Result<Link> {
        check_profile(profile)?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(Counters::default());
        let c = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let c = c.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(upstream).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (cr, cw) = client.into_split();
                    let (sr, sw) = server.into_split();
                    let c2 = c.clone();
                    let a = tokio::spawn(pump(cr, sw, move |n| {
                        c.up.fetch_add(n, Ordering::Relaxed);
                    }));
                    let b = tokio::spawn(pump(sr, cw, move |n| {
                        c2.down.fetch_add(n, Ordering::Relaxed);
                    }));
                    let _ = tokio::join!(a, b);
                });
            }
        });
        Ok(Link {
            addr,
            counters,
            task,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bytes through so far.
    pub fn stats(&self) -> Wire {
        Wire {
            up: self.counters.up.load(Ordering::Relaxed),
            down: self.counters.down.load(Ordering::Relaxed),
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        self.counters.up.store(0, Ordering::Relaxed);
        self.counters.down.store(0, Ordering::Relaxed);
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: impl Fn(u64),
) {
    let mut buf = vec![0u8; 65536];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                count(n as u64);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn check_profile(profile: &str) -> anyhow::Result<()> {
    anyhow::ensure!(
        profiles().contains(&profile),
        "unknown link profile '{profile}' / không có cấu hình đường truyền này (known: {})",
        profiles().join(", ")
    );
    Ok(())
}
