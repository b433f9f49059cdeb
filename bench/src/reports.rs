//! The indicator reports at a province's real size (issue 13, goal 1): `baobi-hub indicators --year`,
//! `--trend` and the dashboard's overview API timed at 10,000, 100,000 and 1,000,000 records in one
//! run, side by side.
//!
//! A province has a fixed set of facilities (a few per commune) and many surveys of them over the
//! years, so the hub here is made that way: one office per commune registers its facilities first
//! (two markets, one of them certified, a supermarket and a convenience store), then records surveys
//! of them and awareness campaigns dated 2021-2024, merged through `baobi_hub::check::merge_runs`
//! (the server's checked merge). At each checkpoint the three reports are timed on the open hub
//! (`baobi_hub::indicators::compute`, `compute_trend`, and the overview's work:
//! `http::view::report_json` + `trend_json` for the default year), so the figures grow only with
//! the records, not with the facilities or units.

use std::time::Instant;

use baobi_hub::indicators::Query;
use baobi_hub::store::AgentRec;
use baobi_proto::wire::{
    Body, CampaignEvent, CampaignKind, CertKind, Certification, Date, Dot, Entry, Hlc, Level,
    MarketSurvey, Op, OutletDef, OutletKind, RetailSurvey, Round, Run,
};
use baobi_proto::Keypair;
use comfy_table::{presets::ASCII_MARKDOWN, Table};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use crate::meter::median;

/// Entries per merged batch (the agent's batch size).
const BATCH: usize = 512;
/// The year the single-year report is timed for.
const YEAR: u16 = 2024;
/// The reference "today" of every report (so 2024 is judged on 31 Dec 2024 on every run).
const TODAY: Date = Date(20250115);

/// The three reports at one size of the store.
#[derive(Debug, Clone, Serialize)]
pub struct ReportsAt {
    /// Records merged so far (facilities included).
    pub records: u64,
    /// Median time of the year's report, seconds.
    pub year_s: f64,
    /// Median time of the trend, seconds.
    pub trend_s: f64,
    /// Median time of the overview API's work (default year, report and trend as JSON), seconds.
    pub overview_s: f64,
}

/// Figures of the reports section.
#[derive(Debug, Clone, Serialize)]
pub struct Reports {
    /// Facilities registered (fixed for the whole run).
    pub facilities: u64,
    /// Runs per median.
    pub runs: usize,
    /// Entries merged per second of merge time over the whole load.
    pub merge_entries_per_s: f64,
    /// One row per checkpoint.
    pub at: Vec<ReportsAt>,
}

/// One figure of a checkpoint.
type Figure = fn(&ReportsAt) -> f64;

fn secs(s: f64) -> String {
    if s >= 10.0 {
        format!("{s:.1} s")
    } else if s >= 0.01 {
        format!("{:.0} ms", s * 1e3)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

impl Reports {
    /// The table, as text.
    pub fn table(&self) -> String {
        let mut t = Table::new();
        t.load_preset(ASCII_MARKDOWN);
        t.set_header(vec![
            "records",
            "indicators --year",
            "indicators --trend",
            "overview API",
        ]);
        for a in &self.at {
            t.add_row(vec![
                a.records.to_string(),
                secs(a.year_s),
                secs(a.trend_s),
                secs(a.overview_s),
            ]);
        }
        format!(
            "Báo cáo chỉ số / Indicator reports ({} facilities, median of {}; merge {:.0} entries/s)\n{t}\n",
            self.facilities, self.runs, self.merge_entries_per_s
        )
    }

    /// (goal, measured, met) for each report: the largest size within 2× of the smallest, and the
    /// overview under 100 ms at 100,000 records.
    pub fn goals(&self) -> Vec<(String, String, bool)> {
        let mut out = vec![];
        let Some(first) = self.at.first() else {
            return out;
        };
        let pick: [(&str, Figure); 3] = [
            ("indicators --year", |a| a.year_s),
            ("indicators --trend", |a| a.trend_s),
            ("overview API", |a| a.overview_s),
        ];
        for (name, f) in pick {
            for a in self.at.iter().skip(1) {
                let r = f(a) / f(first).max(1e-9);
                out.push((
                    format!(
                        "{name} at {} records within 2× of its time at {}",
                        a.records, first.records
                    ),
                    format!("{} vs {} ({r:.2}×)", secs(f(a)), secs(f(first))),
                    r <= 2.0,
                ));
            }
        }
        if let Some(a) = self.at.iter().find(|a| a.records >= 100_000) {
            out.push((
                format!("overview API under 100 ms at {} records", a.records),
                secs(a.overview_s),
                a.overview_s < 0.1,
            ));
        }
        out
    }
}

struct Office {
    key: Keypair,
    rec: AgentRec,
    unit: String,
    seq: u64,
    link: baobi_proto::chain::Link,
    markets: Vec<Dot>,
    shops: Vec<(Dot, OutletKind)>,
}

fn facility(kind: OutletKind, unit: &str, n: usize, certified: bool) -> Body {
    Body::Outlet(OutletDef {
        kind,
        name: format!("Cơ sở {n} {unit}"),
        unit: unit.to_string(),
        address: String::new(),
        market_class: (kind == OutletKind::Market).then_some(3),
        certifications: match (kind, certified) {
            (OutletKind::Market, true) => vec![Certification {
                kind: CertKind::Civilized,
                from: Date(20200101),
                to: None,
            }],
            (OutletKind::Market, false) => vec![Certification {
                kind: CertKind::NewRural,
                from: Date(20200101),
                to: None,
            }],
            _ => vec![],
        },
        opened: None,
        closed: None,
    })
}

fn random_date(rng: &mut StdRng) -> Date {
    let y = rng.gen_range(2021..=2024u32);
    Date(y * 10_000 + rng.gen_range(1..=12u32) * 100 + rng.gen_range(1..=28u32))
}

fn body(o: &Office, rng: &mut StdRng) -> Body {
    let date = random_date(rng);
    let roll: f64 = rng.gen();
    if roll < 0.08 {
        return Body::Campaign(CampaignEvent {
            unit: o.unit.clone(),
            date,
            kind: CampaignKind::Media,
            participants: Some(rng.gen_range(10..200)),
            topic: "Túi thân thiện".into(),
        });
    }
    if roll < 0.6 {
        let outlet = o.markets[rng.gen_range(0..o.markets.len())];
        return Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: o.unit.clone(),
            date,
            year: date.year(),
            round: if date.year() == 2021 && rng.gen_bool(0.5) {
                Round::Baseline
            } else {
                Round::Annual
            },
            vendors_total: 100,
            vendors_surveyed: 30,
            nonbio_g_per_day: rng.gen_range(1_000..20_000),
            eco_g_per_day: None,
            vendors_nonbio: 20,
            vendors_alternatives: None,
            operating_days: Some(30),
            reduction_model: false,
            notes: String::new(),
        });
    }
    let (outlet, kind) = o.shops[rng.gen_range(0..o.shops.len())];
    let gives = rng.gen_bool(0.5);
    Body::RetailSurvey(RetailSurvey {
        outlet,
        kind,
        unit: o.unit.clone(),
        date,
        year: date.year(),
        gives_nonbio: gives,
        bag_types: String::new(),
        nonbio_bags_per_day: Some(if gives { 50 } else { 0 }),
        eco_bags_per_day: Some(rng.gen_range(0..100)),
        sells_reusable: Some(rng.gen_bool(0.5)),
        eco_labelled: None,
        notes: String::new(),
    })
}

fn merge(
    hub: &baobi_hub::Hub,
    o: &mut Office,
    bodies: Vec<Body>,
    clock: &mut u64,
) -> anyhow::Result<u64> {
    let batch: Vec<Entry> = bodies
        .into_iter()
        .map(|b| {
            *clock += 1;
            o.seq += 1;
            o.key.sign_entry(o.seq, Hlc(*clock << 16), Op::Record(b))
        })
        .collect();
    let n = batch.len() as u64;
    let (run, head) =
        Run::seal(&o.key, o.link, &batch).ok_or_else(|| anyhow::anyhow!("empty batch"))?;
    o.link = head;
    let r = baobi_hub::check::merge_runs(hub, &o.rec, &[run])?;
    let got = r.map_err(|r| anyhow::anyhow!("hub refused a batch: {}", r.message))?;
    anyhow::ensure!(got == n, "hub merged {got} of {n}");
    Ok(n)
}

fn time<T>(runs: usize, mut f: impl FnMut() -> anyhow::Result<T>) -> anyhow::Result<f64> {
    let mut xs = vec![];
    for _ in 0..runs {
        let t = Instant::now();
        std::hint::black_box(f()?);
        xs.push(t.elapsed().as_secs_f64());
    }
    Ok(median(&mut xs))
}

fn time_reports(hub: &baobi_hub::Hub, records: u64, runs: usize) -> anyhow::Result<ReportsAt> {
    let q = Query {
        year: YEAR,
        unit: None,
    };
    let year_s = time(runs, || Ok(baobi_hub::indicators::compute(hub, &q, TODAY)?))?;
    let trend_s = time(runs, || {
        Ok(baobi_hub::indicators::compute_trend(hub, None, TODAY)?)
    })?;
    let overview_s = time(runs, || {
        let year = baobi_hub::http::view::default_year(hub)
            .map_err(|e| anyhow::anyhow!("default year: {e:?}"))?;
        let report = baobi_hub::http::view::report_json(hub, year, None)
            .map_err(|e| anyhow::anyhow!("report: {e:?}"))?;
        let trend = baobi_hub::http::view::trend_json(hub, None)
            .map_err(|e| anyhow::anyhow!("trend: {e:?}"))?;
        Ok(serde_json::to_vec(
            &serde_json::json!({ "report": report, "trend": trend }),
        )?)
    })?;
    Ok(ReportsAt {
        records,
        year_s,
        trend_s,
        overview_s,
    })
}

/// Builds a hub of `records` records and times the reports at `records`/100, /10 and `records`.
pub async fn reports(records: u64, runs: usize, seed: u64) -> anyhow::Result<Reports> {
    tokio::task::spawn_blocking(move || reports_blocking(records, runs.max(1), seed)).await?
}

fn reports_blocking(records: u64, runs: usize, seed: u64) -> anyhow::Result<Reports> {
    let dir = tempfile::tempdir()?;
    let units = baobi_hub::units_csv::parse(baobi_hub::units_csv::SEED_UNITS)?;
    let lineage = baobi_hub::units_csv::parse_lineage(baobi_hub::units_csv::SEED_LINEAGE)?;
    let plan = baobi_hub::plan::parse(
        baobi_hub::plan::builtin("dong-thap-2021")
            .ok_or_else(|| anyhow::anyhow!("no built-in plan dong-thap-2021"))?,
    )?;
    let hub = baobi_hub::Hub::init_with(dir.path(), "87", "Đồng Tháp", units, lineage, Some(plan))?;
    let d = Date(20240601);
    let mut communes: Vec<String> = hub.with_units(|u| {
        u.iter()
            .filter(|x| x.level == Level::Commune && baobi_proto::units::in_force(x, d))
            .filter(|x| u.is_within(&x.code, hub.province(), d))
            .map(|x| x.code.clone())
            .collect()
    });
    communes.sort();
    communes.dedup();
    anyhow::ensure!(!communes.is_empty(), "the hub has no communes");
    let mut rng = StdRng::seed_from_u64(seed);
    let mut clock = 1u64 << 24;
    let mut offices = vec![];
    let mut merged = 0u64;
    let mut merge_s = 0.0;
    for unit in &communes {
        let key = Keypair::generate();
        let rec = AgentRec {
            author: key.author(),
            cert_fp: baobi_proto::identity::fingerprint(&key.author().0),
            unit: unit.clone(),
            label: format!("office {unit}"),
            enrolled_at: 0,
            revoked: false,
            last_sync: None,
            entries_received: 0,
        };
        hub.put_agent(&rec)?;
        let link = baobi_proto::chain::genesis(&key.author());
        let mut o = Office {
            key,
            rec,
            unit: unit.clone(),
            seq: 0,
            link,
            markets: vec![],
            shops: vec![],
        };
        let kinds = [
            (OutletKind::Market, true),
            (OutletKind::Market, false),
            (OutletKind::Supermarket, false),
            (OutletKind::Convenience, false),
        ];
        let bodies: Vec<Body> = kinds
            .iter()
            .enumerate()
            .map(|(i, (k, c))| facility(*k, unit, i, *c))
            .collect();
        let t = Instant::now();
        merged += merge(&hub, &mut o, bodies, &mut clock)?;
        merge_s += t.elapsed().as_secs_f64();
        for (i, (k, _)) in kinds.iter().enumerate() {
            let dot = Dot {
                author: o.key.author(),
                seq: i as u64 + 1,
            };
            if *k == OutletKind::Market {
                o.markets.push(dot);
            } else {
                o.shops.push((dot, *k));
            }
        }
        offices.push(o);
    }
    let facilities = merged;
    let mut checkpoints: Vec<u64> = [records / 100, records / 10, records]
        .into_iter()
        .map(|c| c.max(merged))
        .collect();
    checkpoints.dedup();
    let mut at = vec![];
    let mut i = 0usize;
    for cp in checkpoints {
        // Spread each checkpoint's records over every office: batches of BATCH in turn would leave
        // most communes with no survey at the first checkpoint, and time a smaller report there.
        let share = ((cp - merged) as usize)
            .div_ceil(communes.len())
            .clamp(1, BATCH);
        while merged < cp {
            let n = ((cp - merged) as usize).min(share);
            let o = &mut offices[i % communes.len()];
            i += 1;
            let bodies: Vec<Body> = (0..n).map(|_| body(o, &mut rng)).collect();
            let t = Instant::now();
            merged += merge(&hub, o, bodies, &mut clock)?;
            merge_s += t.elapsed().as_secs_f64();
        }
        eprintln!("… reports at {merged} records");
        at.push(time_reports(&hub, merged, runs)?);
    }
    Ok(Reports {
        facilities,
        runs,
        merge_entries_per_s: (merged - facilities) as f64 / merge_s.max(1e-9),
        at,
    })
}
