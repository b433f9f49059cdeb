//! Loopback ports that stay free while their owner is down.
//!
//! A hub or a relay killed in a test comes back on the same port. A port from the kernel's
//! ephemeral range can be taken in the meantime by any socket bound to port 0 (another test's
//! agent or link), and the restart then fails with "Address already in use" (seen in CI: the chaos
//! test's hub, killed, could not listen again). The ports here come from below that range, where
//! no port-0 bind lands; among themselves they are picked at random and checked free.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

use rand::Rng;

/// The lowest port handed out (above the well-known and most registered services' ports).
const LOWEST: u16 = 10_000;

/// The kernel's ephemeral port range (`/proc/sys/net/ipv4/ip_local_port_range`), or Linux's
/// default when it cannot be read.
pub fn ephemeral_range() -> (u16, u16) {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| {
            let mut it = s.split_whitespace().map(|n| n.parse::<u16>().ok());
            Some((it.next()??, it.next()??))
        })
        .unwrap_or((32_768, 60_999))
}

/// A free UDP port on loopback outside the ephemeral range, for a process that will be restarted
/// on it. Falls back to a port-0 bind when the range leaves no room below it.
pub fn restartable_port() -> SocketAddr {
    let (low, _) = ephemeral_range();
    let mut rng = rand::thread_rng();
    if low > LOWEST + 1_000 {
        for _ in 0..1_000 {
            let port = rng.gen_range(LOWEST..low);
            if let Ok(s) = UdpSocket::bind((Ipv4Addr::LOCALHOST, port)) {
                return s.local_addr().expect("bound socket's address");
            }
        }
    }
    UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|s| s.local_addr())
        .expect("free loopback port")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restartable_ports_lie_below_the_ephemeral_range_and_are_free() {
        let (low, high) = ephemeral_range();
        assert!(low <= high, "{low}..{high}");
        for _ in 0..50 {
            let a = restartable_port();
            assert!(a.ip().is_loopback(), "{a}");
            assert!(
                a.port() >= LOWEST && a.port() < low,
                "{a} in {low}..={high}"
            );
            UdpSocket::bind(a).unwrap_or_else(|e| panic!("{a} not free: {e}"));
        }
        // What a port-0 bind gets is where the restartable ports never are.
        let any = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let p = any.local_addr().unwrap().port();
        assert!((low..=high).contains(&p), "{p} outside {low}..={high}");
    }
}
