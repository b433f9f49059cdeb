//! Measures `baobi-hub backup`, `restore --from` and `verify` on a hub holding many records: the
//! figures README.md and the issue ask for (size and time at 100,000 records). Builds the hub in a
//! temporary folder through the real checked merge (`check::merge_entries`, batches of 512 as agents
//! send them), then times the library calls the CLI makes.
//!
//! `cargo run --release -p baobi-hub --example backup_scale -- [RECORDS] [OFFICES]`
//! (defaults 100000 and 100).

use std::time::Instant;

use baobi_hub::store::AgentRec;
use baobi_proto::wire::{Body, Date, Hlc, Level, MarketSurvey, Op, OutletDef, OutletKind, Round};
use baobi_proto::Keypair;

fn du(p: &std::path::Path) -> u64 {
    let mut n = 0;
    for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
        let m = e.metadata().unwrap();
        n += if m.is_dir() { du(&e.path()) } else { m.len() };
    }
    n
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let records: u64 = args.next().map_or(Ok(100_000), |a| a.parse())?;
    let offices: u64 = args.next().map_or(Ok(100), |a| a.parse())?;
    let tmp = tempfile::tempdir()?;
    let units = baobi_hub::units_csv::parse(baobi_hub::units_csv::SEED_UNITS)?;
    let hub = baobi_hub::Hub::init(&tmp.path().join("hub"), "87", "Đồng Tháp", units)?;
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
    let t = Instant::now();
    let per = records / offices;
    for i in 0..offices {
        let unit = &communes[i as usize % communes.len()];
        let k = Keypair::generate();
        let a = AgentRec {
            author: k.author(),
            cert_fp: baobi_proto::identity::fingerprint(&k.author().0),
            unit: unit.clone(),
            label: format!("office {i}"),
            enrolled_at: 0,
            revoked: false,
            last_sync: None,
            entries_received: 0,
        };
        hub.put_agent(&a)?;
        let mut es = vec![];
        let mut outlets = vec![];
        for s in 1..=per {
            let op = if s <= 10 {
                Op::Record(Body::Outlet(OutletDef {
                    kind: OutletKind::Market,
                    name: format!("Chợ số {s} của {unit}"),
                    unit: unit.clone(),
                    address: String::new(),
                    market_class: Some(3),
                    certifications: vec![],
                    opened: None,
                    closed: None,
                }))
            } else {
                let year = 2015 + (s % 10) as u16;
                let day = (s / 10) % 28 + 1;
                let month = (s / 280) % 12 + 1;
                Op::Record(Body::MarketSurvey(MarketSurvey {
                    outlet: outlets[(s % 10) as usize],
                    unit: unit.clone(),
                    date: Date(u32::from(year) * 10000 + month as u32 * 100 + day as u32),
                    year,
                    round: Round::Baseline,
                    vendors_total: 120,
                    vendors_surveyed: 40,
                    nonbio_g_per_day: 5_000 + (s * 7919 % 20_000) as u32,
                    eco_g_per_day: None,
                    vendors_nonbio: 25,
                    vendors_alternatives: None,
                    operating_days: Some(30),
                    reduction_model: false,
                    notes: String::new(),
                }))
            };
            let e = k.sign_entry(s, Hlc(s), op);
            if s <= 10 {
                outlets.push(e.dot());
            }
            es.push(e);
        }
        for chunk in es.chunks(512) {
            baobi_hub::check::merge_entries(&hub, &a, &k, chunk)?
                .map_err(|r| anyhow::anyhow!("refused: {}", r.message))?;
        }
    }
    hub.flush()?;
    let store_bytes = du(&tmp.path().join("hub"));
    eprintln!(
        "loaded {} records from {offices} offices in {:.1} s; store {store_bytes} bytes",
        per * offices,
        t.elapsed().as_secs_f64()
    );

    let file = tmp.path().join("hub.bak");
    let t = Instant::now();
    let w = baobi_hub::backup::write(&hub, &file, &mut |_| {})?;
    let backup_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let v = baobi_hub::verify::run(&hub, &mut |_| {})?;
    let verify_s = t.elapsed().as_secs_f64();
    anyhow::ensure!(v.ok, "verify found problems: {:?}", v.problems);
    drop(hub);
    let t = Instant::now();
    let r = baobi_hub::backup::restore(&file, &tmp.path().join("restored"), &mut |_| {})?;
    let restore_s = t.elapsed().as_secs_f64();
    let restored_bytes = du(&tmp.path().join("restored"));
    println!(
        "{}",
        serde_json::json!({
            "records": per * offices,
            "offices": offices,
            "entries_in_backup": w.header.entries,
            "store_bytes": store_bytes,
            "backup_bytes": w.bytes,
            "backup_bytes_per_record": w.bytes as f64 / (per * offices) as f64,
            "backup_s": backup_s,
            "verify_s": verify_s,
            "restore_s": restore_s,
            "restore_verify_ms": r.verify.millis,
            "restored_store_bytes": restored_bytes,
        })
    );
    Ok(())
}
