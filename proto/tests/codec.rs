//! The codec against hostile bytes: round trips, size limits, truncation, trailing bytes and random
//! corruption all give `Ok` or `Err`, never a panic or an allocation past the frame limit.

mod common;

use baobi_proto::wire::{self, FrameDecoder, Msg, MAX_FRAME};
use common::Writer;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

fn sample_batch(n: usize, seed: u64) -> Msg {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = Writer::new();
    let entries = (0..n)
        .map(|i| {
            let op = w.random_op(&mut rng);
            w.write(op, 1_700_000_000_000 + i as u64)
        })
        .collect();
    Msg::Batch(wire::Batch { id: 0, entries })
}

#[test]
fn frames_round_trip_through_the_incremental_decoder() {
    let msgs = vec![sample_batch(30, 1), Msg::Done, Msg::Ack(7), Msg::UpToDate];
    let bytes: Vec<u8> = msgs.iter().flat_map(wire::encode_frame).collect();
    let mut dec = FrameDecoder::new();
    let mut got = vec![];
    // Feed in awkward chunk sizes.
    for chunk in bytes.chunks(7) {
        dec.push(chunk);
        while let Some(m) = dec.next_msg().unwrap() {
            got.push(m);
        }
    }
    assert_eq!(got, msgs);
    assert!(dec.is_empty());
}

#[test]
fn oversized_length_prefix_is_refused_before_allocating() {
    let mut dec = FrameDecoder::new();
    dec.push(&((MAX_FRAME as u32) + 1).to_le_bytes());
    assert!(matches!(
        dec.next_msg(),
        Err(baobi_proto::Error::FrameTooLarge(_))
    ));
    let mut dec = FrameDecoder::new();
    dec.push(&u32::MAX.to_le_bytes());
    assert!(dec.next_msg().is_err());
}

#[test]
fn trailing_bytes_and_unknown_variants_are_refused() {
    let mut body = wire::encode(&Msg::Done);
    body.push(0);
    assert!(wire::decode::<Msg>(&body).is_err());
    assert!(wire::decode::<Msg>(&[200]).is_err());
    assert!(wire::decode::<Msg>(&[]).is_err());
}

#[test]
fn a_huge_claimed_vector_length_does_not_allocate() {
    // Batch { id: 0, entries: <claims u64::MAX entries> }
    let mut body = vec![3u8, 0];
    body.push(253);
    body.extend_from_slice(&u64::MAX.to_le_bytes());
    assert!(wire::decode::<Msg>(&body).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, .. ProptestConfig::default() })]

    #[test]
    fn corrupted_frames_never_panic(seed in any::<u64>(), flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8), cut in any::<usize>()) {
        let orig = sample_batch(3, seed);
        let mut bytes = wire::encode(&orig);
        for (at, v) in flips {
            let i = at % bytes.len();
            bytes[i] ^= v;
        }
        let _ = wire::decode::<Msg>(&bytes);
        let _ = wire::decode::<Msg>(&bytes[..cut % bytes.len()]);
        // A decoded entry whose bytes were changed must not verify unless nothing changed.
        if let Ok(Msg::Batch(b)) = wire::decode::<Msg>(&bytes) {
            let Msg::Batch(orig) = &orig else { unreachable!() };
            for (e, o) in b.entries.iter().zip(orig.entries.iter()) {
                if e != o { prop_assert!(!e.verify()); }
            }
        }
    }
}
