//! Fuzz target: the frame decoder fed arbitrary bytes in arbitrary chunks never panics, never buffers
//! past one frame plus one chunk, and every message it yields re-encodes to a frame that decodes to
//! the same message.

#![no_main]

use baobi_proto::wire::{decode, encode_frame, FrameDecoder, Msg, MAX_FRAME};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // First byte picks the chunking (1..=256 bytes per push, or everything at once).
    let (chunk, bytes) = match data.split_first() {
        Some((&0, rest)) => (rest.len().max(1), rest),
        Some((&c, rest)) => (c as usize, rest),
        None => return,
    };
    let mut dec = FrameDecoder::new();
    for piece in bytes.chunks(chunk) {
        dec.push(piece);
        let _ = dec.wanted();
        loop {
            match dec.next_msg() {
                Ok(Some(msg)) => check_round_trip(&msg),
                Ok(None) => break,
                // A bad frame ends the connection in the drivers; stop here too.
                Err(_) => return,
            }
        }
    }
    // A frame that cannot complete is never wanted beyond the limit.
    assert!(dec.wanted() <= MAX_FRAME + 4);
});

fn check_round_trip(msg: &Msg) {
    let frame = encode_frame(msg);
    assert!(frame.len() >= 4);
    let again: Msg = decode(&frame[4..]).expect("a decoded message re-encodes to a valid frame");
    assert_eq!(&again, msg);
    let mut d = FrameDecoder::new();
    d.push(&frame);
    assert_eq!(d.next_msg().expect("re-decode").as_ref(), Some(msg));
    assert!(d.is_empty());
}
