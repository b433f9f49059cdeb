//! Regressions for hostile input found while hardening the hub (issue 4): clocks a peer controls,
//! and the seeds the fuzz targets (`fuzz/`) start from, run here on every test so a crash the
//! fuzzers once found stays fixed. No fuzz run has crashed so far; a crash found later adds its
//! input below.

use baobi_proto::view::{self, MemTables};
use baobi_proto::wire::{self, FrameDecoder, Hlc, Msg, MAX_CLOCK_DRIFT_MS, MAX_FRAME};
use baobi_proto::Entry;

#[test]
fn a_peer_clock_at_the_maximum_never_overflows_ticking() {
    // Before: `prev.0 + 1` overflowed (a panic in debug builds) for an entry stamped u64::MAX.
    assert_eq!(Hlc::tick(Hlc(u64::MAX), 0), Hlc(u64::MAX));
    let now = 1_750_000_000_000;
    let t = Hlc::tick_bounded(Hlc(u64::MAX), now);
    assert!(t.millis() <= now + MAX_CLOCK_DRIFT_MS, "{}", t.millis());
    // A wall clock past the 48-bit range saturates instead of wrapping.
    assert!(Hlc::tick(Hlc(0), u64::MAX) > Hlc(0));
}

#[test]
fn a_clock_years_ahead_drags_a_bounded_tick_at_most_a_day() {
    let now = 1_750_000_000_000u64;
    let five_years = 5 * 365 * 86_400_000u64;
    let seen = Hlc((now + five_years) << 16);
    let mine = Hlc::tick_bounded(seen, now);
    assert!(mine.millis() >= now);
    assert!(mine.millis() <= now + MAX_CLOCK_DRIFT_MS);
    // Still monotonic below the ceiling.
    let a = Hlc::tick_bounded(Hlc(0), now);
    assert!(Hlc::tick_bounded(a, now) > a);
    // An ordinary lead (a minute) is kept, as an HLC must.
    let near = Hlc((now + 60_000) << 16);
    assert!(Hlc::tick_bounded(near, now) > near);
}

#[test]
fn decoder_refuses_a_huge_length_before_buffering_it() {
    let mut d = FrameDecoder::new();
    d.push(&(MAX_FRAME as u32 + 1).to_le_bytes());
    assert!(d.next_msg().is_err());
    let mut d = FrameDecoder::new();
    d.push(&(MAX_FRAME as u32).to_le_bytes());
    assert_eq!(d.wanted(), MAX_FRAME);
    assert_eq!(d.next_msg(), Ok(None));
}

#[test]
fn arbitrary_entries_applied_in_any_order_never_panic() {
    // Entries a hostile office could sign itself: corrections and retractions of records that do
    // not exist, supersession cycles, units with odd dates, all applied in both orders.
    use baobi_proto::wire::{
        Body, CampaignEvent, CampaignKind, Correction, Date, Dot, Op, Retraction,
    };
    let k = baobi_proto::Keypair::generate();
    let rec = Dot {
        author: k.author(),
        seq: 1,
    };
    let body = Body::Campaign(CampaignEvent {
        unit: String::new(),
        date: Date(0),
        kind: CampaignKind::Other,
        participants: Some(u32::MAX),
        topic: String::new(),
    });
    let es: Vec<Entry> = vec![
        k.sign_entry(1, Hlc(u64::MAX), Op::Record(body.clone())),
        k.sign_entry(
            2,
            Hlc(0),
            Op::Correct(Correction {
                record: rec,
                supersedes: vec![[0; 32], [0xFF; 32]],
                body: body.clone(),
            }),
        ),
        k.sign_entry(
            3,
            Hlc(1),
            Op::Retract(Retraction {
                record: Dot {
                    author: k.author(),
                    seq: u64::MAX,
                },
                supersedes: vec![],
                reason: String::new(),
            }),
        ),
    ];
    for order in [es.clone(), es.iter().rev().cloned().collect()] {
        let mut t = MemTables::new();
        for e in order.iter().chain(order.iter()) {
            view::apply(&mut t, e);
            let bytes = wire::encode(&Msg::Batch(wire::Batch {
                id: 0,
                entries: vec![e.clone()],
            }));
            assert!(wire::decode::<Msg>(&bytes).is_ok());
        }
        for r in t.records.values() {
            let _ = r.heads();
            let _ = r.winner();
        }
    }
}

/// The fuzzers' seed inputs (written by `fuzz/src/make_seeds.rs`) decode and apply cleanly.
#[test]
fn fuzz_seed_shapes_decode() {
    let k = baobi_proto::Keypair::generate();
    let e = k.sign_entry(
        1,
        Hlc(1),
        wire::Op::Record(wire::Body::Campaign(wire::CampaignEvent {
            unit: "30226".into(),
            date: wire::Date(20250310),
            kind: wire::CampaignKind::Event,
            participants: Some(50),
            topic: "Ngày hội".into(),
        })),
    );
    let batch = wire::encode(&vec![e.clone()]);
    let back: Vec<Entry> = wire::decode(&batch).unwrap();
    assert_eq!(back, vec![e]);
}
