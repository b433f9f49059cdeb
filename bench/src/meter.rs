//! What one sync costs, and the process-level readings (CPU time, peak RSS, disk use) behind it.
//!
//! Both ends of every peer run in this process, so CPU time is the whole process's user + system time
//! (`cpu-time`, i.e. `getrusage(RUSAGE_SELF)`) over the sync: agent, hub and the link proxy together,
//! the same for every peer.

use std::path::Path;
use std::time::Instant;

use cpu_time::ProcessTime;
use serde::Serialize;

/// The cost of one sync, as the table shows it.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Measure {
    /// Application bytes client → server (above TLS: frames, HTTP requests).
    pub app_up: u64,
    /// Application bytes server → client.
    pub app_down: u64,
    /// UDP or TCP payload bytes client → server (QUIC/TLS overhead and handshakes included).
    pub wire_up: u64,
    /// UDP or TCP payload bytes server → client.
    pub wire_down: u64,
    /// Request/response turns at the application level (how each peer counts: see BENCHMARKS.md).
    pub round_trips: u64,
    /// Wall time of the sync as the client sees it (connect to close), seconds.
    pub wall_s: f64,
    /// CPU time of the whole process over the sync, seconds.
    pub cpu_s: f64,
    /// Figures extrapolated linearly from a measured prefix (slow links only).
    pub extrapolated: bool,
}

/// Wall and CPU clocks started together.
#[derive(Debug)]
pub struct Clock {
    wall: Instant,
    cpu: ProcessTime,
}

impl Clock {
    /// Starts both clocks.
    pub fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: ProcessTime::now(),
        }
    }

    /// (wall, cpu) elapsed, seconds.
    pub fn stop(&self) -> (f64, f64) {
        (
            self.wall.elapsed().as_secs_f64(),
            self.cpu.elapsed().as_secs_f64(),
        )
    }
}

/// Peak resident set of this process (VmHWM), bytes.
pub fn peak_rss() -> Option<u64> {
    status_kb("VmHWM:").map(|k| k * 1024)
}

/// Resident set of process `pid` (VmRSS), bytes.
pub fn rss_of(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    field_kb(&s, "VmRSS:").map(|k| k * 1024)
}

fn status_kb(name: &str) -> Option<u64> {
    field_kb(&std::fs::read_to_string("/proc/self/status").ok()?, name)
}

fn field_kb(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find(|l| l.starts_with(name))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Bytes of disk the files under `dir` occupy (allocated blocks, as `du` counts them).
pub fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.is_dir() {
                todo.push(e.path());
            } else {
                total += m.blocks() * 512;
            }
        }
    }
    total
}

/// Median of `xs` (0 when empty).
pub fn median(xs: &mut [f64]) -> f64 {
    percentile(xs, 0.5)
}

/// The `p` quantile of `xs` by nearest rank (0 when empty).
pub fn percentile(xs: &mut [f64], p: f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    xs.sort_by(|a, b| a.total_cmp(b));
    let rank = ((p * xs.len() as f64).ceil() as usize).clamp(1, xs.len());
    xs[rank - 1]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut xs: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&mut xs, 0.5), 50.0);
        assert_eq!(percentile(&mut xs, 0.99), 99.0);
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        assert!(peak_rss().unwrap_or(0) > 1 << 20);
    }
}
