//! Connections per source address: one address (an IPv4 address, or an IPv6 /64) cannot take every
//! connection slot of the hub.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use tracing::warn;

use super::Shared;

/// Live connections per source IP address, so that one address cannot take every connection slot.
#[derive(Debug, Default)]
pub(super) struct PerAddress {
    /// Connections held and whether the refusal was already logged since the address hit the limit.
    live: Mutex<HashMap<IpAddr, (usize, bool)>>,
}

/// One connection slot of an address, given back when dropped.
pub(super) struct AddressSlot {
    table: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut live = self
            .table
            .per_address
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some((n, warned)) = live.get_mut(&self.ip) {
            *n -= 1;
            *warned = false;
            if *n == 0 {
                live.remove(&self.ip);
            }
        }
    }
}

/// What counts as one source address: an IPv4 address (also when mapped into IPv6), or an IPv6 /64
/// (one site's prefix: a single host can use any address in it).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

impl Shared {
    /// A slot for a connection from `ip`, or `None` when `ip` already holds `bounds.per_address`
    /// connections (logged once until the address drops below the limit again).
    pub(super) fn address_slot(self: &Arc<Self>, ip: IpAddr) -> Option<AddressSlot> {
        let ip = address_key(ip);
        let mut live = self
            .per_address
            .live
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (n, warned) = live.entry(ip).or_default();
        if *n >= self.bounds.per_address {
            if !*warned {
                *warned = true;
                warn!(peer = %ip, limit = self.bounds.per_address,
                    "too many connections from this address; refusing more");
            }
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            table: self.clone(),
            ip,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_source_address_is_an_ipv4_address_or_an_ipv6_64() {
        let key = |s: &str| address_key(s.parse().unwrap());
        assert_eq!(key("203.0.113.7"), key("::ffff:203.0.113.7"));
        assert_ne!(key("203.0.113.7"), key("203.0.113.8"));
        assert_eq!(key("2001:db8:1:2::1"), key("2001:db8:1:2:ffff::9"));
        assert_ne!(key("2001:db8:1:2::1"), key("2001:db8:1:3::1"));
    }
}
