//! The hub's operational counters for `GET /metrics` (Prometheus text format 0.0.4): syncs by
//! outcome, entries merged, refusals by reason, merge and sync durations, connected offices, store
//! size. Plain atomics, bumped by `server.rs` where syncs, merges and refusals happen, and rendered by
//! hand (the format is a few lines; no client library needed). They count since the process started.

use std::fmt::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use baobi_proto::wire::RefusalCode;

/// How a sync session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Finished normally.
    Ok,
    /// The hub refused the office (a `Refused` message was sent).
    Refused,
    /// The office was too slow or silent.
    Timeout,
    /// Any other failure (connection lost, protocol, store).
    Error,
}

impl Outcome {
    const ALL: [Outcome; 4] = [
        Outcome::Ok,
        Outcome::Refused,
        Outcome::Timeout,
        Outcome::Error,
    ];

    fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Refused => "refused",
            Outcome::Timeout => "timeout",
            Outcome::Error => "error",
        }
    }
}

/// Every refusal code, in wire order (a unit test keeps it complete).
const REASONS: [RefusalCode; 10] = [
    RefusalCode::NotEnrolled,
    RefusalCode::Revoked,
    RefusalCode::BadToken,
    RefusalCode::BadSignature,
    RefusalCode::WrongAuthor,
    RefusalCode::OutsideJurisdiction,
    RefusalCode::InvalidEntry,
    RefusalCode::Protocol,
    RefusalCode::Busy,
    RefusalCode::Superseded,
];

fn reason_index(c: RefusalCode) -> usize {
    // Exhaustive: a new wire code fails to compile here until it has a slot.
    match c {
        RefusalCode::NotEnrolled => 0,
        RefusalCode::Revoked => 1,
        RefusalCode::BadToken => 2,
        RefusalCode::BadSignature => 3,
        RefusalCode::WrongAuthor => 4,
        RefusalCode::OutsideJurisdiction => 5,
        RefusalCode::InvalidEntry => 6,
        RefusalCode::Protocol => 7,
        RefusalCode::Busy => 8,
        RefusalCode::Superseded => 9,
    }
}

/// Bucket bounds (seconds) of one merge of a batch.
pub const MERGE_BUCKETS: &[f64] = &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];
/// Bucket bounds (seconds) of one sync session.
pub const SYNC_BUCKETS: &[f64] = &[0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0];

/// A histogram with fixed bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    /// Per bucket (not cumulative), the last one above every bound.
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
        }
    }

    /// Records one observation.
    pub fn observe(&self, d: Duration) {
        let s = d.as_secs_f64();
        let i = self
            .bounds
            .iter()
            .position(|b| s <= *b)
            .unwrap_or(self.bounds.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add(
            u64::try_from(d.as_micros()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} histogram");
        let mut cum = 0u64;
        for (i, c) in self.counts.iter().enumerate() {
            cum += c.load(Ordering::Relaxed);
            match self.bounds.get(i) {
                Some(b) => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cum}");
                }
                None => {
                    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cum}");
                }
            }
        }
        let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum {sum}");
        let _ = writeln!(out, "{name}_count {cum}");
    }
}

/// The hub's counters (one set per process, shared by the QUIC server and the dashboard).
#[derive(Debug)]
pub struct Metrics {
    syncs: [AtomicU64; 4],
    entries_merged: AtomicU64,
    refusals: [AtomicU64; REASONS.len()],
    /// Time to check and store one received batch.
    pub merge_seconds: Histogram,
    /// Time from an office's `Hello` to the end of its session.
    pub sync_seconds: Histogram,
    connected: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            syncs: Default::default(),
            entries_merged: AtomicU64::new(0),
            refusals: Default::default(),
            merge_seconds: Histogram::new(MERGE_BUCKETS),
            sync_seconds: Histogram::new(SYNC_BUCKETS),
            connected: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// A sync session ended with `outcome` after `took`.
    pub fn sync_ended(&self, outcome: Outcome, took: Duration) {
        let i = Outcome::ALL.iter().position(|o| *o == outcome).unwrap_or(3);
        self.syncs[i].fetch_add(1, Ordering::Relaxed);
        self.sync_seconds.observe(took);
    }

    /// `n` new entries were stored.
    pub fn merged(&self, n: u64) {
        self.entries_merged.fetch_add(n, Ordering::Relaxed);
    }

    /// The hub refused a peer with `code`.
    pub fn refused(&self, code: RefusalCode) {
        self.refusals[reason_index(code)].fetch_add(1, Ordering::Relaxed);
    }

    /// Offices with a live sync session now.
    pub fn set_connected(&self, n: usize) {
        self.connected.store(n as u64, Ordering::Relaxed);
    }

    /// The text exposition (format 0.0.4), with `store_bytes` as the store size.
    pub fn render(&self, store_bytes: u64) -> String {
        let mut out = String::with_capacity(4096);
        let o = &mut out;
        let _ = writeln!(
            o,
            "# HELP baobi_hub_syncs_total Sync sessions of offices, by how they ended."
        );
        let _ = writeln!(o, "# TYPE baobi_hub_syncs_total counter");
        for (i, oc) in Outcome::ALL.iter().enumerate() {
            let _ = writeln!(
                o,
                "baobi_hub_syncs_total{{outcome=\"{}\"}} {}",
                oc.label(),
                self.syncs[i].load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            o,
            "# HELP baobi_hub_entries_merged_total Entries received from offices and newly stored."
        );
        let _ = writeln!(o, "# TYPE baobi_hub_entries_merged_total counter");
        let _ = writeln!(
            o,
            "baobi_hub_entries_merged_total {}",
            self.entries_merged.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP baobi_hub_refusals_total Peers refused by the hub, by refusal code."
        );
        let _ = writeln!(o, "# TYPE baobi_hub_refusals_total counter");
        for c in REASONS {
            let _ = writeln!(
                o,
                "baobi_hub_refusals_total{{reason=\"{c:?}\"}} {}",
                self.refusals[reason_index(c)].load(Ordering::Relaxed)
            );
        }
        self.merge_seconds.render(
            o,
            "baobi_hub_merge_seconds",
            "Time to check and store one received batch.",
        );
        self.sync_seconds.render(
            o,
            "baobi_hub_sync_seconds",
            "Duration of an office's sync session.",
        );
        let _ = writeln!(
            o,
            "# HELP baobi_hub_connected_offices Offices with a live sync session."
        );
        let _ = writeln!(o, "# TYPE baobi_hub_connected_offices gauge");
        let _ = writeln!(
            o,
            "baobi_hub_connected_offices {}",
            self.connected.load(Ordering::Relaxed)
        );
        let _ = writeln!(
            o,
            "# HELP baobi_hub_store_bytes Size of the hub's data folder on disk."
        );
        let _ = writeln!(o, "# TYPE baobi_hub_store_bytes gauge");
        let _ = writeln!(o, "baobi_hub_store_bytes {store_bytes}");
        out
    }
}

/// Bytes of the files under `dir` (the store, its snapshots and logs); unreadable parts count 0.
pub fn dir_bytes(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_bytes(&e.path()),
            Ok(t) if t.is_file() => e.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_reason_has_its_own_slot() {
        for (i, c) in REASONS.iter().enumerate() {
            assert_eq!(reason_index(*c), i, "{c:?}");
        }
    }

    #[test]
    fn histogram_buckets_are_cumulative() {
        let m = Metrics::default();
        m.merge_seconds.observe(Duration::from_micros(500));
        m.merge_seconds.observe(Duration::from_millis(30));
        m.merge_seconds.observe(Duration::from_secs(9));
        let t = m.render(0);
        assert!(
            t.contains("baobi_hub_merge_seconds_bucket{le=\"0.001\"} 1\n"),
            "{t}"
        );
        assert!(
            t.contains("baobi_hub_merge_seconds_bucket{le=\"0.05\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("baobi_hub_merge_seconds_bucket{le=\"5\"} 2\n"),
            "{t}"
        );
        assert!(
            t.contains("baobi_hub_merge_seconds_bucket{le=\"+Inf\"} 3\n"),
            "{t}"
        );
        assert!(t.contains("baobi_hub_merge_seconds_count 3\n"), "{t}");
        assert!(t.contains("baobi_hub_merge_seconds_sum 9.0305\n"), "{t}");
    }
}
