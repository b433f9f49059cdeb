//! Fuzz target: arbitrary bytes as a sealed run, and as a batch of entries. Decoding never panics; each decoded entry
//! round-trips, its signature check and the field validation the hub runs never panic, and applying
//! the entries to an in-memory view (as agents do, and as a hostile enrolled office could cause with
//! entries it signs itself) never panics, in any order.

#![no_main]

use baobi_proto::units::Units;
use baobi_proto::validate;
use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{decode, encode, Entry, Op, Run};
use baobi_proto::Date;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // As a sealed run: opening it (the chain and the head signature) never panics.
    if let Ok(run) = decode::<Run>(data) {
        if let Some(opened) = run.open() {
            let mut t = MemTables::new();
            for (e, _) in &opened {
                one(e, &mut t);
            }
        }
    }
    let Ok(entries) = decode::<Vec<Entry>>(data) else {
        // Also as a single entry.
        if let Ok(e) = decode::<Entry>(data) {
            one(&e, &mut MemTables::new());
        }
        return;
    };
    let mut t = MemTables::new();
    for e in &entries {
        one(e, &mut t);
    }
    // Reverse order, duplicates included: must not panic either.
    let mut back = MemTables::new();
    for e in entries.iter().rev().chain(entries.iter()) {
        view::apply(&mut back, e);
    }
});

fn one(e: &Entry, t: &mut MemTables) {
    assert_eq!(&decode::<Entry>(&encode(e)).expect("re-decode"), e);
    let _ = e.verify();
    let _ = e.dot().to_string();
    let _ = e.hlc.millis();
    let _ = baobi_proto::Hlc::tick_bounded(e.hlc, 1_700_000_000_000);
    let units: Units = t.registry();
    match &e.op {
        Op::Record(b) => {
            let _ = validate::body(b, None);
            let _ = validate::body(b, Some(Date(20250101)));
        }
        Op::Correct(c) => {
            let _ = validate::body(&c.body, None);
        }
        Op::Unit(u) => {
            let _ = units.is_within(&u.code, "87", Date(20250101));
            let _ = units.name(&u.code);
        }
        Op::Retract(_) | Op::Plan(_) | Op::Review(_) | Op::Office(_) | Op::Elided(_) => {}
        Op::Created(c) => {
            let _ = validate::body(&c.body, None);
        }
    }
    view::apply(t, e);
    for rec in t.records.values() {
        let _ = rec.heads();
        let _ = rec.winner();
        let _ = rec.original();
    }
}
