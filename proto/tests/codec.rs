//! The codec against hostile bytes: round trips, size limits, truncation, trailing bytes and random
//! corruption all give `Ok` or `Err`, never a panic or an allocation past the frame limit.

mod common;

use baobi_proto::wire::{self, FrameDecoder, Msg, MAX_FRAME};
use common::Writer;
use proptest::prelude::*;
use rand::rngs::StdRng;
use rand::SeedableRng;

/// A batch as protocol 2 sends it: `n` entries of one author, as one sealed run.
fn sample_batch(n: usize, seed: u64) -> Msg {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = Writer::new();
    let entries: Vec<_> = (0..n)
        .map(|i| {
            let op = w.random_op(&mut rng);
            w.write(op, 1_700_000_000_000 + i as u64)
        })
        .collect();
    let genesis = baobi_proto::chain::genesis(&w.author());
    let (run, _) = wire::Run::seal(&w.key, genesis, &entries).unwrap();
    Msg::Runs(wire::RunBatch {
        id: 0,
        runs: vec![run],
    })
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
    // Batch { id: 0, entries: <claims u64::MAX entries> }, and the same for Runs.
    for tag in [3u8, 10] {
        let mut body = vec![tag, 0];
        body.push(253);
        body.extend_from_slice(&u64::MAX.to_le_bytes());
        assert!(wire::decode::<Msg>(&body).is_err());
    }
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
        // A decoded run whose bytes were changed must not open unless nothing changed.
        if let Ok(Msg::Runs(b)) = wire::decode::<Msg>(&bytes) {
            let Msg::Runs(orig) = &orig else { unreachable!() };
            for (r, o) in b.runs.iter().zip(orig.runs.iter()) {
                prop_assert_eq!(r.open().is_some(), r == o);
            }
        }
    }
}

fn deflated(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut z = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(bytes).unwrap();
    z.finish().unwrap()
}

#[test]
fn batches_travel_deflated_and_come_back_identical() {
    let batch = sample_batch(50, 9);
    let plain = wire::encode(&batch).len() + 4;
    let frame = wire::encode_frame(&batch);
    assert!(
        frame.len() < plain,
        "a packed batch ({} B) is smaller than the plain one ({plain} B)",
        frame.len()
    );
    assert!(matches!(
        wire::decode::<Msg>(&frame[4..]),
        Ok(Msg::Packed(_))
    ));
    let mut dec = FrameDecoder::new();
    dec.push(&frame);
    assert_eq!(dec.next_msg().unwrap(), Some(batch));
    // Other messages are never packed.
    assert_eq!(
        wire::encode_frame(&Msg::Done),
        [1, 0, 0, 0, wire::encode(&Msg::Done)[0]]
    );
}

#[test]
fn packed_frames_hold_only_a_batch_and_never_inflate_past_the_limit() {
    let refuse = |body: Vec<u8>| {
        let mut dec = FrameDecoder::new();
        dec.push(&wire::encode_frame(&Msg::Packed(body)));
        dec.next_msg()
    };
    // A packed Done (only batches may be packed), a packed Packed, garbage, and a bomb.
    assert!(refuse(deflated(&wire::encode(&Msg::Done))).is_err());
    let inner = wire::encode(&Msg::Packed(deflated(&wire::encode(&sample_batch(2, 3)))));
    assert!(refuse(deflated(&inner)).is_err());
    assert!(refuse(vec![0xff; 64]).is_err());
    // A protocol 1 batch still inflates (the session refuses it).
    let w = Writer::new();
    let v1 = Msg::Batch(wire::Batch {
        id: 0,
        entries: vec![w.key.sign_entry(
            1,
            wire::Hlc(1),
            w.random_op(&mut StdRng::seed_from_u64(1)),
        )],
    });
    assert!(refuse(deflated(&wire::encode(&v1))).is_ok());
    let bomb = deflated(&vec![0u8; MAX_FRAME + 1024]);
    assert!(bomb.len() < 10_000, "the bomb is small on the wire");
    assert!(matches!(
        refuse(bomb),
        Err(baobi_proto::Error::FrameTooLarge(_))
    ));
}
