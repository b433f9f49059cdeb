//! Tests of the hub's log blocks: entries across blocks with derived links, deflated and plain
//! values, and the conversion of a store of the older per-entry layout at open.

use super::*;
use baobi_proto::wire::{Body, OutletDef, OutletKind};
use baobi_proto::Keypair;

use crate::check::merge_entries;
use crate::testkit::{all, enroll, hub};

fn outlet(k: &Keypair, seq: u64) -> Entry {
    k.sign_entry(
        seq,
        Hlc(seq),
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: format!("Chợ số {seq}"),
            unit: "30226".into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        })),
    )
}

/// What a peer can read of an author's log: its entries, every link and the runs cut from it.
fn log_of(h: &Hub, a: &AuthorId) -> (Vec<Entry>, Vec<Link>, Vec<Option<Run>>) {
    let top = h.seq_of(a).unwrap();
    let entries = h.entries(a, 1, top, usize::MAX).unwrap();
    let links = (0..=top).map(|s| h.link(a, s).unwrap()).collect();
    let runs = [1, 2, 64, 65, 100, top]
        .iter()
        .map(|&f| h.run(a, f, top, 512).unwrap())
        .collect();
    (entries, links, runs)
}

#[test]
fn entries_span_blocks_and_links_are_derived() {
    let tmp = tempfile::tempdir().unwrap();
    let h = hub(tmp.path());
    let k = Keypair::generate();
    let a = enroll(&h, &k, "30226");
    let es: Vec<Entry> = (1..=150).map(|s| outlet(&k, s)).collect();
    // Runs that end inside a block and cross into the next ones.
    for r in [&es[..10], &es[10..64], &es[64..65], &es[65..150]] {
        assert_eq!(merge_entries(&h, &a, &k, r).unwrap(), Ok(r.len() as u64));
    }
    let mut link = chain::genesis(&k.author());
    for e in &es {
        link = chain::link_of(&link, e);
        assert_eq!(h.link(&k.author(), e.seq).unwrap(), link, "{}", e.seq);
    }
    assert!(h.link(&k.author(), 151).is_err(), "no link past the log");
    let blocks = h.tree().scan_prefix(&keys::block(&k.author(), 0)[..33]);
    assert_eq!(
        blocks.count() as u64,
        150u64.div_ceil(BLOCK),
        "150 entries in blocks of {BLOCK}"
    );
    assert_eq!(
        h.tree().scan_prefix([b'e']).count() + h.tree().scan_prefix([b'l']).count(),
        0,
        "no key per entry"
    );
    // Resent (any overlap) is harmless; an entry differing from the held one is a fork.
    assert_eq!(merge_entries(&h, &a, &k, &es[60..70]).unwrap(), Ok(0));
    let fork = k.sign_entry(70, Hlc(1), es[69].op.clone());
    assert!(merge_entries(
        &h,
        &a,
        &k,
        &es[60..69].iter().cloned().chain([fork]).collect::<Vec<_>>()
    )
    .unwrap()
    .is_err());
    assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
}

/// A block of `BLOCK` entries made by `entry(seq)`, kept as an office's are (sealed by a head
/// signature, none of their own).
fn block_of_entries(k: &Keypair, entry: impl Fn(&Keypair, u64) -> Entry) -> Block {
    let mut link = chain::genesis(&k.author());
    let mut b = Block {
        start: link,
        end: link,
        items: vec![],
    };
    for s in 1..=BLOCK {
        let e = entry(k, s);
        link = chain::link_of(&link, &e);
        b.items.push(Stored {
            sig: None,
            ..Stored::of(&e)
        });
        b.end = link;
    }
    b
}

/// A market survey with a clerk's note in the plans' words (the surveys' free text is most of a
/// block's bytes).
fn survey(k: &Keypair, seq: u64) -> Entry {
    const NOTES: &[&str] = &[
        "Tiểu thương vẫn sử dụng túi ni lông khó phân hủy, ban quản lý chợ đã tuyên truyền.",
        "Người bán hàng chuyển sang túi giấy và túi vải thân thiện với môi trường.",
        "",
        "Chợ thực hiện phân loại rác thải tại nguồn, giảm sử dụng sản phẩm nhựa dùng một lần.",
    ];
    let outlet = Dot {
        author: k.author(),
        seq: 1,
    };
    k.sign_entry(
        seq,
        Hlc(seq),
        Op::Record(Body::MarketSurvey(baobi_proto::wire::MarketSurvey {
            outlet,
            unit: "30226".into(),
            date: baobi_proto::wire::Date(20240300 + seq as u32),
            year: 2024,
            round: baobi_proto::wire::Round::Annual,
            vendors_total: 120 + seq as u32,
            vendors_surveyed: 40,
            nonbio_g_per_day: 9_000 + 7 * seq as u32,
            eco_g_per_day: None,
            vendors_nonbio: 25,
            vendors_alternatives: Some(9),
            operating_days: Some(30),
            reduction_model: seq.is_multiple_of(2),
            notes: NOTES[seq as usize % NOTES.len()].into(),
        })),
    )
}

#[test]
fn the_dictionary_is_pinned_and_shrinks_blocks_of_surveys() {
    use sha2::Digest;
    // Blocks on disk inflate with these exact bytes: a new dictionary needs a new mark.
    let hash = sha2::Sha256::digest(DICTIONARY);
    assert_eq!(
        data_encoding::HEXLOWER.encode(&hash),
        "ce5d86194896b709d165f058b54dc6d469bf0b8db3ac31a9f62afc9c55f2a73d"
    );
    let text = std::str::from_utf8(DICTIONARY).unwrap();
    assert!(unicode_normalization::is_nfc(text));
    assert!(DICTIONARY.len() <= 32 * 1024, "deflate reaches 32 KiB back");
    let b = block_of_entries(&Keypair::generate(), survey);
    let (with, without) = (b.encode(), b.encode_undictionaried());
    assert_eq!((with[MARK_AT], without[MARK_AT]), (DEFLATED_DICT, DEFLATED));
    assert!(
        with.len() < without.len(),
        "{} with the dictionary, {} without",
        with.len(),
        without.len()
    );
    assert_eq!(Block::decode(&with).unwrap(), b);
    assert_eq!(Block::decode(&without).unwrap(), b);
}

#[test]
fn blocks_are_deflated_older_forms_still_read_and_a_corrupt_one_is_an_error() {
    let b = block_of_entries(&Keypair::generate(), outlet);
    let plain = b.encode_plain();
    let v = b.encode();
    assert_eq!(v[MARK_AT], DEFLATED_DICT);
    assert!(
        v.len() * 3 < plain.len() * 2,
        "{} of {}",
        v.len(),
        plain.len()
    );
    assert_eq!(Block::decode(&v).unwrap(), b);
    let older = b.encode_undictionaried();
    assert_eq!(older[MARK_AT], DEFLATED);
    assert_eq!(
        Block::decode(&older).unwrap(),
        b,
        "deflated before the dictionary"
    );
    assert_eq!(
        Block::decode(&plain).unwrap(),
        b,
        "a plain value still reads"
    );
    assert!(plain[MARK_AT] <= 250);
    // Neither mark can start a varint, so a plain block with one there does not decode.
    for mark in [DEFLATED, DEFLATED_DICT] {
        let mut bad = plain.clone();
        bad[MARK_AT] = mark;
        assert!(wire::decode::<Block>(&bad).is_err());
    }
    // A block too small to gain is kept plain.
    let one = Block {
        start: [0xFF; 32],
        end: [0xFF; 32],
        items: vec![],
    };
    assert_eq!(one.encode(), one.encode_plain());
    assert_eq!(Block::decode(&one.encode()).unwrap(), one);
    // Corrupt deflated values: clean errors, never a panic.
    let links = &plain[..MARK_AT];
    let mut cases = vec![];
    for v in [&v, &older] {
        cases.push(v[..MARK_AT + 1].to_vec());
        cases.push(v[..v.len() / 2].to_vec());
        cases.push([&v[..MARK_AT + 1], &[0xAB; 40][..]].concat());
        let mut flipped = v.clone();
        let last = flipped.len() - 3;
        flipped[last] ^= 0x5A;
        cases.push(flipped);
    }
    // Deflated with the dictionary but marked as without it (or the dictionary changed).
    let mut swapped = v.clone();
    swapped[MARK_AT] = DEFLATED;
    cases.push(swapped);
    for (mark, dictionary) in [(DEFLATED, &[][..]), (DEFLATED_DICT, DICTIONARY)] {
        // Inflates fine but to bytes that are not a block.
        cases.push(deflate(&[links, &[0xFE; 100]].concat(), mark, dictionary).unwrap());
        // A bomb: inflates past a frame.
        let zeros = vec![0u8; 5 << 20];
        cases.push(deflate(&[links, &zeros].concat(), mark, dictionary).unwrap());
    }
    for (i, c) in cases.iter().enumerate() {
        match Block::decode(c) {
            Err(Error::Corrupt(_)) => {}
            other => panic!("case {i}: {other:?}"),
        }
    }
}

#[test]
fn a_store_of_older_blocks_reads_and_verifies() {
    let tmp = tempfile::tempdir().unwrap();
    let h = hub(tmp.path());
    let k = Keypair::generate();
    let a = enroll(&h, &k, "30226");
    let es: Vec<Entry> = (1..=40).map(|s| outlet(&k, s)).collect();
    merge_entries(&h, &a, &k, &es).unwrap().unwrap();
    let log = log_of(&h, &k.author());
    // As stores written before blocks were deflated, and before the dictionary: both forms.
    let t = h.tree();
    let mut n = 0u32;
    for kv in t.scan_prefix([b'B']) {
        let (key, v) = kv.unwrap();
        if v.get(MARK_AT) == Some(&DEFLATED_DICT) {
            let b = Block::decode(&v).unwrap();
            let older = if n.is_multiple_of(2) {
                b.encode_plain()
            } else {
                b.encode_undictionaried()
            };
            t.insert(key, older).unwrap();
            n += 1;
        }
    }
    assert!(n >= 2, "{n} deflated blocks");
    assert_eq!(log_of(&h, &k.author()), log);
    assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
    // And appending to a plain block writes it deflated.
    let more: Vec<Entry> = (41..=45).map(|s| outlet(&k, s)).collect();
    merge_entries(&h, &a, &k, &more).unwrap().unwrap();
    let last = t
        .get(keys::block(&k.author(), block_of(45)))
        .unwrap()
        .unwrap();
    assert_eq!(last[MARK_AT], DEFLATED_DICT);
    assert_eq!(h.entries(&k.author(), 1, 45, 100).unwrap().len(), 45);
}

#[test]
fn a_store_of_the_older_layout_is_converted_at_open() {
    let tmp = tempfile::tempdir().unwrap();
    let k = Keypair::generate();
    let (before, log, own) = {
        let h = hub(tmp.path());
        let a = enroll(&h, &k, "30226");
        let es: Vec<Entry> = (1..=130).map(|s| outlet(&k, s)).collect();
        for r in es.chunks(50) {
            merge_entries(&h, &a, &k, r).unwrap().unwrap();
        }
        let me = h.keypair().author();
        let (before, log, own) = (all(&h), log_of(&h, &k.author()), log_of(&h, &me));
        // Rewrite the log in the older layout: one `e` key per entry, one `l` per link.
        let t = h.tree();
        let mut b = sled::Batch::default();
        for kv in t.scan_prefix([b'B']) {
            let (key, v) = kv.unwrap();
            let (author, n) = parse_key(&key).unwrap();
            let block = Block::decode(&v).unwrap();
            for (e, l) in block.entries(&author, n).zip(block.links(&author, n)) {
                b.insert(keys::entry(&author, e.seq), wire::encode(&e));
                b.insert(keys::link(&author, e.seq), l.to_vec());
            }
            b.remove(key);
        }
        t.apply_batch(b).unwrap();
        h.flush().unwrap();
        assert_eq!(t.scan_prefix([b'B']).count(), 0);
        (before, log, own)
    };
    let h = Hub::open(tmp.path()).unwrap();
    assert_eq!(all(&h), before, "the same store, key for key");
    assert_eq!(log_of(&h, &k.author()), log);
    assert_eq!(log_of(&h, &h.keypair().author()), own);
    assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
    drop(h);

    // An older store whose stored link disagrees with its entries is refused, not converted.
    let h = Hub::open(tmp.path()).unwrap();
    let t = h.tree();
    let v = t.remove(keys::block(&k.author(), 0)).unwrap().unwrap();
    let block = Block::decode(&v).unwrap();
    let mut b = sled::Batch::default();
    for (e, _) in block
        .entries(&k.author(), 0)
        .zip(block.links(&k.author(), 0))
    {
        b.insert(keys::entry(&k.author(), e.seq), wire::encode(&e));
        b.insert(keys::link(&k.author(), e.seq), vec![7; 32]);
    }
    t.apply_batch(b).unwrap();
    h.flush().unwrap();
    drop(h);
    let err = Hub::open(tmp.path()).unwrap_err();
    assert!(err.to_string().contains("chain link"), "{err}");
}

#[test]
fn the_reused_compressor_deflates_as_a_new_one_would() {
    use flate2::{Compress, Compression, FlushCompress};
    let text = "Chợ Tân Thành: túi ni lông khó phân hủy, 60 tiểu thương được khảo sát. ".repeat(8);
    let plain = [&[0x11u8; MARK_AT][..], text.as_bytes()].concat();
    // Alternating with and without the dictionary, and after a large value, on one thread.
    let zeros = [&[0x22u8; MARK_AT][..], &vec![0u8; 1 << 20]].concat();
    let runs = [
        (&plain, DEFLATED_DICT, DICTIONARY),
        (&zeros, DEFLATED, &[][..]),
        (&plain, DEFLATED, &[][..]),
        (&plain, DEFLATED_DICT, DICTIONARY),
    ];
    for (i, (p, mark, dictionary)) in runs.into_iter().enumerate() {
        let got = deflate(p, mark, dictionary).unwrap();
        let mut c = Compress::new(Compression::default(), false);
        if !dictionary.is_empty() {
            c.set_dictionary(dictionary).unwrap();
        }
        let mut body = Vec::with_capacity(p.len() + 1024);
        c.compress_vec(&p[MARK_AT..], &mut body, FlushCompress::Finish)
            .unwrap();
        let want = [&p[..=MARK_AT - 1], &[mark][..], &body].concat();
        assert_eq!(got, want, "run {i}");
    }
}
