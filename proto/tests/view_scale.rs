//! The view's cost per survey does not grow with the surveys already held for the same outlet and year
//! (issue 13: `survey import` of 1,000 surveys per market-year was quadratic, each survey rewriting
//! the outlet-year's whole list of facts).

use std::time::{Duration, Instant};

use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{
    Body, Created, Date, Entry, MarketSurvey, Op, OutletDef, OutletKind, Round,
};
use baobi_proto::{Hlc, Keypair, Sig};

fn entry(author: &Keypair, seq: u64, op: Op) -> Entry {
    // The view never checks signatures: a placeholder keeps the test about the view's cost.
    Entry {
        author: author.author(),
        seq,
        hlc: Hlc(seq << 16),
        op,
        sig: Sig::CHAINED,
    }
}

fn survey(author: &Keypair, seq: u64, outlet: baobi_proto::Dot, n: u64) -> Entry {
    let body = Body::MarketSurvey(MarketSurvey {
        outlet,
        unit: "30226".into(),
        date: Date(20250101 + (n % 28) as u32 + 100 * ((n / 28) % 12) as u32),
        year: 2025,
        round: Round::Annual,
        vendors_total: 200,
        vendors_surveyed: 60,
        nonbio_g_per_day: (n * 7919 % 30_000) as u32,
        eco_g_per_day: None,
        vendors_nonbio: 40,
        vendors_alternatives: None,
        operating_days: None,
        reduction_model: false,
        notes: String::new(),
    });
    entry(author, seq, Op::Created(Created { body, wall_ms: 0 }))
}

/// Applying `batch` surveys of one outlet-year into a view holding `held` of them: the fastest of
/// three tries (the machine is shared).
fn cost(held: u64, batch: u64) -> Duration {
    let kp = Keypair::generate();
    let outlet = entry(
        &kp,
        1,
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Tân Thành".into(),
            unit: "30226".into(),
            address: String::new(),
            market_class: Some(2),
            certifications: vec![],
            opened: None,
            closed: None,
        })),
    );
    let all: Vec<Entry> = (0..held + batch)
        .map(|n| survey(&kp, n + 2, outlet.dot(), n))
        .collect();
    (0..3)
        .map(|_| {
            let mut t = MemTables::new();
            view::apply(&mut t, &outlet);
            for e in &all[..held as usize] {
                view::apply(&mut t, e);
            }
            let s = Instant::now();
            for e in &all[held as usize..] {
                view::apply(&mut t, e);
            }
            let d = s.elapsed();
            assert_eq!(
                t.groups.values().map(|g| g.surveys).sum::<i64>() as u64,
                held + batch
            );
            d
        })
        .min()
        .unwrap()
}

#[test]
fn survey_cost_is_flat_in_the_outlet_years_surveys() {
    let few = cost(0, 300);
    let many = cost(6_000, 300);
    // Rewriting the list made the second about 40 times the first; a flat cost is within noise.
    assert!(
        many < few * 4,
        "300 surveys into an outlet-year of 6000 took {many:?}, into an empty one {few:?}"
    );
}
