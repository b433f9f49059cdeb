//! The deadline rush: 200 offices enrolled at one real `baobi-hub` process sync at the same moment
//! over real QUIC, each with its own sled store (the agent library in this process, the same code
//! `baobi-agent` runs). All succeed, none is refused for load, the hub holds every record exactly once,
//! its totals equal a recomputation, and every office converges to its scope.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use baobi_agent::store::Store;
use baobi_agent::sync;
use baobi_hub::control::{self, Request, Response};
use baobi_proto::wire::{
    Body, Date, Level, MarketSurvey, Op, OutletDef, OutletKind, RetailSurvey, Round,
};
use baobi_proto::Token;
use baobi_tests::{hub_totals, recompute_totals, Hub};

const OFFICES: usize = 200;

/// Communes of Đồng Tháp (87) before the 2025 reform, from the seed units the hub loads.
fn communes() -> Vec<String> {
    let units = baobi_hub::units_csv::parse(baobi_hub::units_csv::SEED_UNITS).unwrap();
    let mut v: Vec<String> = baobi_hub::units_csv::subtree(units, "87")
        .into_iter()
        .filter(|u| u.level == Level::Commune && u.valid_to == Some(Date(20250630)))
        .map(|u| u.code)
        .collect();
    v.sort();
    v.dedup();
    v
}

struct Office {
    store: Store,
    unit: String,
    _dir: tempfile::TempDir,
}

/// An outlet, a market survey of it and a retail survey, written through the agent's store.
fn record(o: &Office, i: usize) {
    let now = baobi_agent::ops::now_ms();
    let kind = if matches!(i % 2, 0) {
        OutletKind::Market
    } else {
        OutletKind::Supermarket
    };
    let outlet = o
        .store
        .append(
            Op::Record(Body::Outlet(OutletDef {
                kind,
                name: format!("Cơ sở số {i}"),
                unit: o.unit.clone(),
                address: String::new(),
                market_class: (kind == OutletKind::Market).then_some(3),
                certifications: vec![],
                opened: None,
                closed: None,
            })),
            now,
        )
        .unwrap()
        .dot();
    for (n, date) in [(0u32, Date(20250210)), (1, Date(20250520))] {
        // A third of the retail surveys give non-biodegradable bags.
        let gives = matches!((i + n as usize) % 3, 0);
        let body = match kind {
            OutletKind::Market => Body::MarketSurvey(MarketSurvey {
                outlet,
                unit: o.unit.clone(),
                date,
                year: 2025,
                round: if n == 0 {
                    Round::Baseline
                } else {
                    Round::Annual
                },
                vendors_total: 120,
                vendors_surveyed: 40,
                nonbio_g_per_day: 10_000 + 37 * i as u32 - 1_000 * n,
                eco_g_per_day: None,
                vendors_nonbio: 30,
                vendors_alternatives: None,
                operating_days: Some(30),
                reduction_model: false,
                notes: String::new(),
            }),
            _ => Body::RetailSurvey(RetailSurvey {
                outlet,
                kind,
                unit: o.unit.clone(),
                date,
                year: 2025,
                gives_nonbio: gives,
                bag_types: String::new(),
                nonbio_bags_per_day: Some(if gives { 50 + i as u32 } else { 0 }),
                eco_bags_per_day: None,
                sells_reusable: None,
                eco_labelled: None,
                notes: String::new(),
            }),
        };
        o.store.append(Op::Record(body), now).unwrap();
    }
}

#[test]
fn two_hundred_offices_sync_at_once_and_all_converge() {
    // 200 offices from one address here: the per-address bound (16) is for the field, not this test.
    let hub = Hub::start_with_env(&[("BAOBI_HUB_MAX_PER_ADDRESS", "1024")]);
    let addr = hub.addr.unwrap().to_string();
    let communes = communes();
    assert!(communes.len() > 100);

    // Tokens through the running hub's control socket, as `baobi-hub enroll` does.
    let t0 = Instant::now();
    let mut tokens = vec![];
    for i in 0..OFFICES {
        let unit = communes[i % communes.len()].clone();
        let r = control::run(
            hub.dir.path(),
            Request::Enroll {
                unit: unit.clone(),
                label: format!("UBND {unit} #{i}"),
                addr: Some(addr.clone()),
                ttl_hours: 24,
                ttl_secs: None,
            },
        )
        .unwrap();
        let Response::Token { token, .. } = r else {
            panic!("unexpected answer {r:?}")
        };
        tokens.push((unit, Token::from_text(&token).unwrap()));
    }
    let t_tokens = t0.elapsed();

    // The agent code flushes sled inside its tasks (fine for one office per process); 200 offices in
    // one process get enough workers that one office's flush does not starve another's QUIC driver.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(16)
        .enable_all()
        .build()
        .unwrap();

    // 200 enrollments at once, each followed by its first sync (units), as `baobi-agent init` does.
    let t1 = Instant::now();
    // Stores are opened first: sled's open blocks, and 200 of them inside the runtime would starve
    // the QUIC drivers of this one process (each real office is its own process).
    let stores: Vec<(tempfile::TempDir, Store)> = (0..OFFICES)
        .map(|_| {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path()).unwrap();
            sync::identity(&store).unwrap();
            (dir, store)
        })
        .collect();
    let t_open = t1.elapsed();
    // Enrollment with its first sync (the province's units, about 150 hub entries, each signature
    // checked) 25 offices at a time: offices enroll over weeks, not all in one second, and this
    // process checks every office's signatures in a debug build.
    let mut pending: Vec<_> = tokens.into_iter().zip(stores).enumerate().collect();
    let mut offices: Vec<Office> = vec![];
    while !pending.is_empty() {
        let wave: Vec<_> = pending.drain(..pending.len().min(25)).collect();
        offices.extend(rt.block_on(async {
            let mut tasks = vec![];
            for (i, ((unit, token), (dir, store))) in wave {
                tasks.push(tokio::spawn(async move {
                    sync::enroll(&store, &token, &format!("office {i}"))
                        .await
                        .unwrap_or_else(|e| panic!("office {i} enrollment: {e}"));
                    sync::sync(&store, &mut |_| {})
                        .await
                        .unwrap_or_else(|e| panic!("office {i} first sync: {e}"));
                    Office {
                        store,
                        unit,
                        _dir: dir,
                    }
                }));
            }
            let mut out = vec![];
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        }));
    }
    let t_enroll = t1.elapsed();
    eprintln!("rush: tokens {t_tokens:?}, enrollments with first sync {t_enroll:?}");

    for (i, o) in offices.iter().enumerate() {
        record(o, i);
    }

    // The rush: every office syncs at the same moment. None may fail or be refused.
    let t2 = Instant::now();
    let reports = rt.block_on(async {
        let mut tasks = vec![];
        for (i, o) in offices.iter().enumerate() {
            let store = o.store.clone();
            tasks.push(tokio::spawn(async move {
                sync::sync(&store, &mut |_| {})
                    .await
                    .map_err(|e| format!("office {i}: {e}"))
            }));
        }
        let mut out = vec![];
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    let t_rush = t2.elapsed();
    let failed: Vec<&String> = reports.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failed.is_empty(),
        "{} offices failed: {failed:?}",
        failed.len()
    );
    for r in &reports {
        assert_eq!(r.as_ref().unwrap().sent, 3);
    }

    // A second round lets offices sharing a commune pick up each other's records.
    let t3 = Instant::now();
    rt.block_on(async {
        let mut tasks = vec![];
        for o in &offices {
            let store = o.store.clone();
            tasks.push(tokio::spawn(async move {
                sync::sync(&store, &mut |_| {}).await
            }));
        }
        for t in tasks {
            t.await.unwrap().expect("second round");
        }
    });
    let t_second = t3.elapsed();
    eprintln!(
        "rush: {OFFICES} tokens {t_tokens:?}, stores opened {t_open:?}, enrollments + first syncs \
         {t_enroll:?}, \
         concurrent sync of {} records {t_rush:?}, second round {t_second:?}",
        OFFICES * 3
    );

    // Every record exactly once at the hub, totals equal to a recomputation.
    let records = hub.records();
    assert_eq!(records.len(), OFFICES * 3);
    let ids: BTreeSet<&str> = records.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), OFFICES * 3);
    let totals = hub_totals(&hub, 2025);
    assert_eq!(totals, recompute_totals(&records, 2025));
    let surveyed: i64 = totals.values().map(|r| r[1]).sum();
    assert_eq!(surveyed as usize, OFFICES, "each outlet counted once");

    // Each office holds exactly the records of its commune.
    let mut by_unit: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for r in &records {
        let unit = r["heads"][0]["value"]["unit"].as_str().unwrap();
        by_unit
            .entry(unit)
            .or_default()
            .insert(r["id"].as_str().unwrap().to_string());
    }
    for o in &offices {
        let held: BTreeSet<String> = o
            .store
            .state()
            .view
            .records
            .keys()
            .map(|d| format!("{}-{}", d.author.hex(), d.seq))
            .collect();
        assert_eq!(&held, &by_unit[o.unit.as_str()], "office at {}", o.unit);
    }
}
