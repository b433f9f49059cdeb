//! The per-direction link model shared by both proxies: decides, for one packet, whether it is lost,
//! whether it is duplicated, and when each copy arrives at the far end.
//!
//! A lane is one direction of one client's link. It is a serialising queue: a packet starts to leave
//! when the previous one has finished leaving at the capped rate, takes `size × 8 / bps` to leave, then
//! travels for the propagation delay (± jitter). A queue holding more than [`MAX_QUEUE_DELAY`] of
//! traffic drops new packets (tail drop), as a real modem's buffer does.
//!
//! Jitter keeps packets in order (a packet never arrives before the one sent ahead of it), as on real
//! cellular links, whose radio layer delivers in order. Independent per-packet jitter (what `netem`
//! does) reorders most packets at these rates, and QUIC then takes reordering for loss: measured on
//! the 3G profile, a 2,000-record sync took 18.8 s with reordering jitter against 6.5 s in order
//! (floor 2.4 s). Reordering comes only from [`Profile::reorder`].

use std::time::Duration;

use rand::rngs::StdRng;
use rand::Rng;
use tokio::time::Instant;

use crate::Profile;

/// A packet that would wait longer than this in a lane's queue is dropped (the modem's buffer is full).
pub(crate) const MAX_QUEUE_DELAY: Duration = Duration::from_secs(3);

/// IPv4 + UDP header bytes counted in a datagram's serialisation time (not in the byte statistics).
pub(crate) const UDP_OVERHEAD: usize = 28;

/// One direction of one client's link: its queue and its burst-loss state.
#[derive(Debug)]
pub(crate) struct Lane {
    /// When the last admitted packet has finished leaving at the capped rate.
    next_free: Instant,
    /// Gilbert–Elliott state: in a loss burst.
    in_burst: bool,
    /// Arrival time of the latest packet that was not held back for reordering.
    last_arrival: Instant,
}

/// What happens to one packet.
#[derive(Debug, PartialEq)]
pub(crate) enum Fate {
    /// Lost (random loss, burst loss or full queue).
    Lost,
    /// Delivered at the first instant, and once more at the second when duplicated.
    Delivered(Instant, Option<Instant>),
}

impl Lane {
    /// An idle lane.
    pub(crate) fn new() -> Self {
        Self {
            next_free: Instant::now(),
            in_burst: false,
            last_arrival: Instant::now(),
        }
    }

    /// Decides the fate of a datagram of `wire_len` bytes (headers included) entering at `now`.
    pub(crate) fn admit_datagram(
        &mut self,
        p: &Profile,
        bps: Option<u64>,
        rng: &mut StdRng,
        wire_len: usize,
        now: Instant,
    ) -> Fate {
        let loss = if let Some(b) = p.burst {
            let flip = if self.in_burst { b.p_exit } else { b.p_enter };
            if chance(rng, flip) {
                self.in_burst = !self.in_burst;
            }
            if self.in_burst {
                b.loss_in_burst
            } else {
                p.loss
            }
        } else {
            p.loss
        };
        if chance(rng, loss) {
            return Fate::Lost;
        }
        let Some(first) = self.serialise(bps, wire_len, now) else {
            return Fate::Lost;
        };
        let first = self.arrival(p, rng, first);
        let second = if chance(rng, p.duplicate) {
            self.serialise(bps, wire_len, now)
                .map(|t| self.arrival(p, rng, t))
        } else {
            None
        };
        Fate::Delivered(first, second)
    }

    /// When a chunk of a byte stream entering at `now` arrives: no loss, no jitter, so order holds.
    pub(crate) fn admit_chunk(&mut self, p: &Profile, bps: Option<u64>, len: usize) -> Instant {
        let now = Instant::now();
        let start = self.next_free.max(now);
        self.next_free = start + transmit_time(bps, len);
        self.next_free + p.delay
    }

    /// Queues `len` bytes behind what is already leaving; `None` when the queue is full.
    fn serialise(&mut self, bps: Option<u64>, len: usize, now: Instant) -> Option<Instant> {
        let start = self.next_free.max(now);
        if start.saturating_duration_since(now) > MAX_QUEUE_DELAY {
            return None;
        }
        self.next_free = start + transmit_time(bps, len);
        Some(self.next_free)
    }

    /// When a packet that has finished leaving at `sent` arrives: delay ± jitter, never before the
    /// packet ahead of it, plus a hold-back when it is picked for reordering.
    fn arrival(&mut self, p: &Profile, rng: &mut StdRng, sent: Instant) -> Instant {
        let mut d = p.delay;
        if !p.jitter.is_zero() {
            let j = p.jitter.as_micros() as i64;
            let off = rng.gen_range(-j..=j);
            d = if off >= 0 {
                d + Duration::from_micros(off as u64)
            } else {
                d.saturating_sub(Duration::from_micros(off.unsigned_abs()))
            };
        }
        let at = (sent + d).max(self.last_arrival);
        if chance(rng, p.reorder) {
            // Held back long enough for a few later packets to overtake it.
            let hold = (p.delay / 2)
                .max(p.jitter * 2)
                .max(Duration::from_millis(5));
            return at + Duration::from_micros(rng.gen_range(1..=hold.as_micros() as u64));
        }
        self.last_arrival = at;
        at
    }
}

/// Time to push `len` bytes through a link of `bps` bits per second (zero when uncapped).
fn transmit_time(bps: Option<u64>, len: usize) -> Duration {
    match bps {
        Some(bps) if bps > 0 => {
            Duration::from_nanos(((len as u128 * 8 * 1_000_000_000) / bps as u128) as u64)
        }
        _ => Duration::ZERO,
    }
}

/// A Bernoulli draw that tolerates probabilities outside `0..=1` and NaN (treated as 0).
fn chance(rng: &mut StdRng, p: f64) -> bool {
    if p.is_nan() || p <= 0.0 {
        false
    } else if p >= 1.0 {
        true
    } else {
        rng.gen_bool(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn a_capped_lane_spaces_packets_by_their_transmit_time() {
        let mut lane = Lane::new();
        let mut rng = StdRng::seed_from_u64(1);
        let p = Profile::loopback();
        let now = Instant::now();
        // 1,000 bytes at 80 kbit/s take 100 ms each.
        let mut last = now;
        for i in 1..=3u32 {
            match lane.admit_datagram(&p, Some(80_000), &mut rng, 1_000, now) {
                Fate::Delivered(t, None) => {
                    assert_eq!(t - now, Duration::from_millis(100) * i);
                    last = t;
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        assert!(last > now);
    }

    #[test]
    fn a_full_queue_drops_instead_of_growing_without_bound() {
        let mut lane = Lane::new();
        let mut rng = StdRng::seed_from_u64(1);
        let p = Profile::loopback();
        let now = Instant::now();
        // 1,000 bytes at 8 kbit/s take 1 s: the fifth packet would wait 4 s.
        let fates: Vec<_> = (0..5)
            .map(|_| lane.admit_datagram(&p, Some(8_000), &mut rng, 1_000, now))
            .collect();
        assert!(matches!(fates[3], Fate::Delivered(..)));
        assert_eq!(fates[4], Fate::Lost);
    }

    #[test]
    fn jitter_alone_keeps_packets_in_order_and_reorder_does_not() {
        let mut rng = StdRng::seed_from_u64(9);
        let jittery = Profile {
            delay: Duration::from_millis(100),
            jitter: Duration::from_millis(50),
            ..Profile::loopback()
        };
        let arrivals = |p: &Profile, rng: &mut StdRng| {
            let mut lane = Lane::new();
            let t0 = Instant::now();
            (0..500u32)
                .map(|i| {
                    let now = t0 + Duration::from_millis(u64::from(i));
                    match lane.admit_datagram(p, None, rng, 100, now) {
                        Fate::Delivered(t, None) => t,
                        other => panic!("unexpected {other:?}"),
                    }
                })
                .collect::<Vec<_>>()
        };
        let a = arrivals(&jittery, &mut rng);
        assert!(a.windows(2).all(|w| w[0] <= w[1]), "jitter reordered");
        let spread = a.windows(2).map(|w| w[1] - w[0]).max().unwrap_or_default();
        assert!(spread > Duration::from_millis(1), "jitter had no effect");
        let shuffled = Profile {
            reorder: 0.05,
            ..jittery
        };
        let b = arrivals(&shuffled, &mut rng);
        assert!(b.windows(2).any(|w| w[0] > w[1]), "reorder had no effect");
    }

    #[test]
    fn out_of_range_probabilities_do_not_panic() {
        let mut rng = StdRng::seed_from_u64(1);
        assert!(!chance(&mut rng, f64::NAN));
        assert!(!chance(&mut rng, -1.0));
        assert!(chance(&mut rng, 7.0));
    }
}
