//! Link profiles: the numbers that describe a link, and the named profiles of the mobile networks commune
//! offices use (4G, 3G, EDGE, GPRS).
//!
//! Figures quoted for a network are round-trip figures (what `ping` shows), so each direction gets half
//! of the delay and half of the jitter. Loss applies to each packet in each direction.

use std::time::Duration;

/// Gilbert–Elliott burst loss: a two-state (good/bad) chain stepped once per packet and direction.
///
/// In the good state packets are lost with [`Profile::loss`]; in the bad state with
/// [`Burst::loss_in_burst`]. The mean burst length is `1 / p_exit` packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Burst {
    /// Probability of going from the good to the bad state at a packet.
    pub p_enter: f64,
    /// Probability of going from the bad back to the good state at a packet.
    pub p_exit: f64,
    /// Loss probability of a packet while in the bad state.
    pub loss_in_burst: f64,
}

/// How a simulated link treats packets. Every field applies to each direction unless it names one.
#[derive(Debug, Clone, PartialEq)]
pub struct Profile {
    /// Short name (`4g`, `3g`, `edge`, `gprs`, `loopback`, or anything for custom profiles).
    pub name: String,
    /// One-way propagation delay added to every packet in each direction (half the round trip).
    pub delay: Duration,
    /// One-way jitter: each packet's delay varies uniformly within `delay ± jitter` (never below 0),
    /// but a packet never arrives before the one sent ahead of it (cellular links deliver in order;
    /// see the `shaper` module for the measurement behind this). Reordering is [`Profile::reorder`].
    pub jitter: Duration,
    /// Probability in `0..=1` that a packet is lost (in the good state when `burst` is set).
    pub loss: f64,
    /// Optional burst loss on top of `loss`.
    pub burst: Option<Burst>,
    /// Probability that a packet is held back by an extra delay (up to `max(delay/2, 2×jitter, 5 ms)`)
    /// so that later packets overtake it.
    pub reorder: f64,
    /// Probability that a packet is delivered twice.
    pub duplicate: f64,
    /// Bandwidth cap client → server in bits per second (`None`: unlimited).
    pub up_bps: Option<u64>,
    /// Bandwidth cap server → client in bits per second (`None`: unlimited).
    pub down_bps: Option<u64>,
}

impl Profile {
    /// No impairment at all: packets are forwarded as they come.
    pub fn loopback() -> Self {
        Self {
            name: "loopback".into(),
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            loss: 0.0,
            burst: None,
            reorder: 0.0,
            duplicate: 0.0,
            up_bps: None,
            down_bps: None,
        }
    }

    /// `4g`: 45 ms round trip, 0.2 % loss, no bandwidth cap that matters for sync.
    pub fn lte() -> Self {
        Self {
            name: "4g".into(),
            delay: Duration::from_micros(22_500),
            loss: 0.002,
            ..Self::loopback()
        }
    }

    /// `3g`: 250 ± 50 ms round trip, 0.5 % loss, 1.2 Mbit/s each way.
    pub fn umts() -> Self {
        Self {
            name: "3g".into(),
            delay: Duration::from_millis(125),
            jitter: Duration::from_millis(25),
            loss: 0.005,
            up_bps: Some(1_200_000),
            down_bps: Some(1_200_000),
            ..Self::loopback()
        }
    }

    /// `edge`: 650 ± 100 ms round trip, 1 % loss, 200 kbit/s each way.
    pub fn edge() -> Self {
        Self {
            name: "edge".into(),
            delay: Duration::from_millis(325),
            jitter: Duration::from_millis(50),
            loss: 0.01,
            up_bps: Some(200_000),
            down_bps: Some(200_000),
            ..Self::loopback()
        }
    }

    /// `gprs`: 650 ms round trip, 1 % loss, 80 kbit/s down (hub → office), 20 kbit/s up.
    pub fn gprs() -> Self {
        Self {
            name: "gprs".into(),
            delay: Duration::from_millis(325),
            loss: 0.01,
            up_bps: Some(20_000),
            down_bps: Some(80_000),
            ..Self::loopback()
        }
    }

    /// The named profile: `loopback`, `4g` (or `lte`), `3g` (or `umts`), `edge`, `gprs`.
    pub fn by_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "loopback" | "none" => Some(Self::loopback()),
            "4g" | "lte" => Some(Self::lte()),
            "3g" | "umts" => Some(Self::umts()),
            "edge" | "2.5g" => Some(Self::edge()),
            "gprs" | "2g" => Some(Self::gprs()),
            _ => None,
        }
    }

    /// The names [`Profile::by_name`] accepts first, in order of decreasing quality.
    pub fn names() -> &'static [&'static str] {
        &["loopback", "4g", "3g", "edge", "gprs"]
    }

    /// The round trip this profile adds without queueing or jitter (twice the one-way delay).
    pub fn rtt(&self) -> Duration {
        self.delay * 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_name_resolves_to_a_profile_of_that_name() {
        for name in Profile::names() {
            let p = Profile::by_name(name).expect("listed name");
            assert_eq!(&p.name, name);
        }
        assert!(Profile::by_name("5g").is_none());
    }

    #[test]
    fn named_profiles_carry_the_quoted_round_trips() {
        assert_eq!(Profile::lte().rtt(), Duration::from_millis(45));
        assert_eq!(Profile::umts().rtt(), Duration::from_millis(250));
        assert_eq!(Profile::edge().rtt(), Duration::from_millis(650));
        assert_eq!(Profile::gprs().rtt(), Duration::from_millis(650));
        assert_eq!(Profile::gprs().up_bps, Some(20_000));
    }
}
