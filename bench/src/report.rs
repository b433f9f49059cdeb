//! Everything a run measured, the goals checked against it, and the tables printed from it.
//!
//! The same `Report` is printed as tables (comfy-table) or as JSON (`--json`), so BENCHMARKS.md and
//! scripts read the same figures.

use comfy_table::{presets::ASCII_MARKDOWN, Table};
use serde::Serialize;

use crate::footprint::Footprint;
use crate::meter::Measure;
use crate::peers::baobi::FewSizes;
use crate::peers::{PeerKind, PeerRun, Scenario};
use crate::scale::{Concurrent, HubScale};

/// The machine the run was on.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Logical CPUs.
    pub nproc: usize,
    /// CPU model.
    pub cpu: String,
    /// Total memory, bytes.
    pub ram: u64,
    /// 1-minute load average when the run started (other work on the machine skews wall times).
    pub load_start: f64,
    /// 1-minute load average when the run ended.
    pub load_end: f64,
}

/// The 1-minute load average.
pub fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0.0)
}

impl Machine {
    /// Reads /proc.
    pub fn read() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        let ram = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("MemTotal:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|k| k.parse::<u64>().ok())
            })
            .map_or(0, |k| k * 1024);
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu,
            ram,
            load_start: load_avg(),
            load_end: 0.0,
        }
    }
}

/// One goal of the issue and whether this run met it.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    /// The goal.
    pub goal: String,
    /// What was measured.
    pub measured: String,
    /// Met or not.
    pub met: bool,
}

/// Everything one run measured.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The machine.
    pub machine: Machine,
    /// Run with `--quick`.
    pub quick: bool,
    /// Records in the initial sync.
    pub records: usize,
    /// New records in the second scenario.
    pub few: usize,
    /// Every peer on every profile.
    pub sync: Vec<PeerRun>,
    /// Encoded sizes of the few new records.
    pub few_sizes: FewSizes,
    /// The agent store's disk bytes per record after the initial sync.
    pub store_bytes_per_record: Option<f64>,
    /// The hub at scale.
    pub hub: Option<HubScale>,
    /// The indicator reports at scale.
    pub reports: Option<crate::reports::Reports>,
    /// Concurrent syncs.
    pub concurrent: Option<Concurrent>,
    /// The agent's footprint.
    pub footprint: Option<Footprint>,
    /// The national pull (`--sections national`).
    pub national: Option<crate::national::Figures>,
    /// Goals checked.
    pub goals: Vec<Goal>,
    /// Wall time of the whole run, seconds.
    pub total_s: f64,
}

fn bytes(n: u64) -> String {
    match n {
        n if n >= 10 << 20 => format!("{:.1} MB", n as f64 / 1e6),
        n if n >= 10_000 => format!("{:.1} kB", n as f64 / 1e3),
        n => format!("{n} B"),
    }
}

fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 0.01 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

impl Report {
    /// An empty report for this run's settings.
    pub fn new(quick: bool, records: usize, few: usize) -> Report {
        Report {
            machine: Machine::read(),
            quick,
            records,
            few,
            sync: vec![],
            few_sizes: FewSizes::default(),
            store_bytes_per_record: None,
            hub: None,
            national: None,
            reports: None,
            concurrent: None,
            footprint: None,
            goals: vec![],
            total_s: 0.0,
        }
    }

    fn find(&self, peer: PeerKind, profile: &str, sc: Scenario) -> Option<Measure> {
        self.sync
            .iter()
            .find(|r| r.peer == peer && r.profile == profile)
            .and_then(|r| r.results.iter().find(|(s, _)| *s == sc).map(|(_, m)| *m))
    }

    /// Checks the goals against the figures (call once everything is measured).
    pub fn check_goals(&mut self) {
        let mut goals = vec![];
        let p = "loopback";
        if let Some(m) = self.find(PeerKind::Baobi, p, Scenario::NoChange) {
            goals.push(Goal {
                goal: "no-change sync: 1 round trip, ≤ 150 B of application payload each way"
                    .into(),
                measured: format!(
                    "{} round trip(s), {} B up, {} B down",
                    m.round_trips, m.app_up, m.app_down
                ),
                met: m.round_trips == 1 && m.app_up <= 150 && m.app_down <= 150,
            });
        }
        if let Some(m) = self.find(PeerKind::Baobi, p, Scenario::AddFew) {
            let total = m.app_up + m.app_down;
            let limit = (1.2 * self.few_sizes.bodies as f64) as u64 + 200;
            goals.push(Goal {
                goal: format!(
                    "{} new records into {}: application bytes ≤ 1.2 × the records' own encoded size + 200 B",
                    self.few, self.records
                ),
                measured: format!(
                    "{total} B both ways (up {} B, down {} B); records' bodies {} B → limit {limit} B; \
                     as signed entries {} B",
                    m.app_up, m.app_down, self.few_sizes.bodies, self.few_sizes.entries
                ),
                met: total <= limit,
            });
            if let Some(f) = self.find(PeerKind::FullState, p, Scenario::AddFew) {
                let ft = f.app_up + f.app_down;
                goals.push(Goal {
                    goal: "that scenario: ≥ 10× fewer bytes than full-state sync".into(),
                    measured: format!("{ft} B vs {total} B: {:.0}×", ft as f64 / total as f64),
                    met: ft >= 10 * total,
                });
            }
            if let Some(a) = self.find(PeerKind::Automerge, p, Scenario::AddFew) {
                let at = a.app_up + a.app_down;
                goals.push(Goal {
                    goal: "that scenario: fewer bytes than Automerge".into(),
                    measured: format!(
                        "Automerge {at} B vs baobi {total} B ({:.2}×)",
                        at as f64 / total as f64
                    ),
                    met: total < at,
                });
            }
        }
        if let Some(h) = &self.hub {
            if let (Some(first), Some(last)) = (h.totals.first(), h.totals.last()) {
                goals.push(Goal {
                    goal: format!(
                        "totals query at {} entries within 2× of its time at {}",
                        last.entries, first.entries
                    ),
                    measured: format!(
                        "{} vs {} ({:.2}×)",
                        secs(last.median_s),
                        secs(first.median_s),
                        last.median_s / first.median_s.max(1e-9)
                    ),
                    met: last.median_s <= 2.0 * first.median_s,
                });
            }
        }
        if let Some(r) = &self.reports {
            for (goal, measured, met) in r.goals() {
                goals.push(Goal {
                    goal,
                    measured,
                    met,
                });
            }
        }
        self.goals = goals;
    }

    /// The tables, as text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!(
            "Máy / Machine: {} × {}, {:.1} GiB RAM, load average {:.1} → {:.1}{}\n\n",
            self.machine.nproc,
            self.machine.cpu,
            self.machine.ram as f64 / (1u64 << 30) as f64,
            self.machine.load_start,
            self.machine.load_end,
            if self.quick { " (--quick)" } else { "" }
        ));
        if !self.sync.is_empty() {
            out.push_str(&self.sync_table());
            out.push('\n');
        }
        if let Some(h) = &self.hub {
            out.push_str(&h.table());
            out.push('\n');
        }
        if let Some(r) = &self.reports {
            out.push_str(&r.table());
            out.push('\n');
        }
        if let Some(c) = &self.concurrent {
            out.push_str(&c.table());
            out.push('\n');
        }
        if let Some(f) = &self.footprint {
            out.push_str(&f.table(self.store_bytes_per_record));
            out.push('\n');
        }
        if !self.goals.is_empty() {
            let mut t = Table::new();
            t.load_preset(ASCII_MARKDOWN);
            t.set_header(vec!["goal", "measured", "met"]);
            for g in &self.goals {
                t.add_row(vec![
                    g.goal.clone(),
                    g.measured.clone(),
                    if g.met { "yes" } else { "NO" }.to_string(),
                ]);
            }
            out.push_str("Mục tiêu / Goals\n");
            out.push_str(&t.to_string());
            out.push('\n');
        }
        out.push_str(&format!(
            "\nTổng thời gian / Total time: {}\n",
            secs(self.total_s)
        ));
        out
    }

    fn sync_table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN);
        t.set_header(vec![
            "profile",
            "scenario",
            "peer",
            "app up",
            "app down",
            "wire up",
            "wire down",
            "round trips",
            "wall",
            "wall / baobi",
            "CPU",
        ]);
        let mut profiles: Vec<&str> = vec![];
        for r in &self.sync {
            if !profiles.contains(&r.profile.as_str()) {
                profiles.push(&r.profile);
            }
        }
        let mut extrapolated = false;
        for p in profiles {
            for sc in Scenario::ALL {
                let base = self.find(PeerKind::Baobi, p, sc);
                for peer in PeerKind::ALL {
                    let Some(m) = self.find(peer, p, sc) else {
                        continue;
                    };
                    let star = if m.extrapolated { " *" } else { "" };
                    extrapolated |= m.extrapolated;
                    let idle = m.round_trips == 0 && m.app_up == 0;
                    let ratio = match base {
                        _ if idle => "n/a".into(),
                        Some(b) if b.wall_s > 0.0 => format!("{:.2}×", m.wall_s / b.wall_s),
                        _ => "-".into(),
                    };
                    t.add_row(vec![
                        p.to_string(),
                        sc.label(self.records, self.few),
                        peer.label().to_string(),
                        format!("{}{star}", bytes(m.app_up)),
                        format!("{}{star}", bytes(m.app_down)),
                        format!("{}{star}", bytes(m.wire_up)),
                        format!("{}{star}", bytes(m.wire_down)),
                        m.round_trips.to_string(),
                        if idle {
                            "nothing sent".into()
                        } else {
                            format!("{}{star}", secs(m.wall_s))
                        },
                        ratio,
                        format!("{}{star}", secs(m.cpu_s)),
                    ]);
                }
            }
        }
        let mut s = format!(
            "Đồng bộ / Sync: {} records, then {} new (same records for every peer)\n",
            self.records, self.few
        );
        s.push_str(&t.to_string());
        s.push('\n');
        if extrapolated {
            s.push_str(
                "* extrapolated from the first requests actually sent (see BENCHMARKS.md)\n",
            );
        }
        s
    }
}
