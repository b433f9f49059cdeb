//! The link between client and server: `baobi-netsim`'s UDP proxy (for the QUIC peers) or TCP proxy
//! (for HTTPS) with a named profile, counting payload bytes each way, so "bytes on the wire" is
//! measured the same way for every peer.
//!
//! The UDP proxy applies the profile's delay, jitter, loss and bandwidth; the TCP proxy only delay and
//! bandwidth (a user-space proxy cannot lose TCP segments), which favours the HTTPS peer on lossy
//! profiles.

use std::net::SocketAddr;

use baobi_netsim::{Profile, TcpProxy, UdpProxy};

/// Payload bytes (and datagrams or segments) each way through a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Wire {
    /// Client → server.
    pub up: u64,
    /// Server → client.
    pub down: u64,
    /// Datagrams client → server (UDP; for TCP the proxy's reads).
    pub up_packets: u64,
    /// Datagrams server → client.
    pub down_packets: u64,
}

/// The profiles a full run covers.
pub fn profiles() -> Vec<&'static str> {
    vec!["loopback", "3g", "edge"]
}

/// Seed of the UDP proxy's loss and jitter decisions.
const SEED: u64 = 889;

enum Proxy {
    Udp(UdpProxy),
    Tcp(TcpProxy),
}

/// A running proxy in front of one server.
pub struct Link {
    proxy: Proxy,
}

fn profile(name: &str) -> anyhow::Result<Profile> {
    Profile::by_name(name).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown link profile '{name}' / không có cấu hình đường truyền này (known: {})",
            Profile::names().join(", ")
        )
    })
}

impl Link {
    /// A UDP proxy to `upstream` with the named profile.
    pub async fn udp(upstream: SocketAddr, name: &str) -> anyhow::Result<Link> {
        Ok(Link {
            proxy: Proxy::Udp(UdpProxy::start(upstream, profile(name)?, SEED).await?),
        })
    }

    /// A TCP proxy to `upstream` with the named profile (delay and bandwidth only).
    pub async fn tcp(upstream: SocketAddr, name: &str) -> anyhow::Result<Link> {
        Ok(Link {
            proxy: Proxy::Tcp(TcpProxy::start(upstream, profile(name)?).await?),
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        match &self.proxy {
            Proxy::Udp(p) => p.addr(),
            Proxy::Tcp(p) => p.addr(),
        }
    }

    /// Bytes delivered so far.
    pub fn stats(&self) -> Wire {
        let s = match &self.proxy {
            Proxy::Udp(p) => p.stats(),
            Proxy::Tcp(p) => p.stats(),
        };
        Wire {
            up: s.up_bytes,
            down: s.down_bytes,
            up_packets: s.up_packets,
            down_packets: s.down_packets,
        }
    }

    /// Zeroes the counters.
    pub fn reset_stats(&self) {
        match &self.proxy {
            Proxy::Udp(p) => p.reset_stats(),
            Proxy::Tcp(p) => p.reset_stats(),
        }
    }
}

/// Checks that every name is a known profile.
pub fn check(names: &[String]) -> anyhow::Result<()> {
    for n in names {
        profile(n)?;
    }
    Ok(())
}
