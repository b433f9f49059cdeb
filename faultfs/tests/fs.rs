//! The fault file system itself, through `std::fs` on a real FUSE mount: what a power cut keeps and
//! drops, and what it means for sled 0.34's `flush()`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::FileExt;

use baobi_faultfs::{FaultFs, SECTOR};

fn mounted() -> (tempfile::TempDir, FaultFs) {
    let dir = tempfile::tempdir().expect("temp dir");
    let fs = FaultFs::mount(dir.path()).expect("mount the fault file system");
    (dir, fs)
}

#[test]
fn written_but_not_synced_is_gone_after_a_cut() {
    let (_dir, mut fs) = mounted();
    let p = fs.path().join("a");
    fs::write(&p, b"never synced").unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"never synced");
    let cut = fs.cut(1, false).unwrap();
    assert_eq!(cut.bytes_dropped, 12);
    // The name was durable at once (namespace operations are); its data was not.
    assert_eq!(fs::read(&p).unwrap(), b"");
    assert_eq!(fs.stats().cuts, 1);
}

#[test]
fn synced_is_kept_and_later_writes_are_dropped() {
    let (_dir, mut fs) = mounted();
    let p = fs.path().join("b");
    let mut f = File::create(&p).unwrap();
    f.write_all(b"kept").unwrap();
    f.sync_all().unwrap();
    f.write_all(b" and dropped").unwrap();
    drop(f);
    let g = OpenOptions::new()
        .write(true)
        .open(fs.path().join("b"))
        .unwrap();
    g.write_all_at(b"KE", 0).unwrap();
    g.sync_data().unwrap(); // fdatasync counts too
    g.set_len(2).unwrap(); // a size change is unsynced data as well
    drop(g);
    let before = fs.stats();
    assert!(before.fsyncs >= 2, "{before:?}");
    fs.cut(2, false).unwrap();
    assert_eq!(fs::read(&p).unwrap(), b"KEpt and dropped");
}

#[test]
fn a_torn_write_keeps_a_sector_aligned_prefix() {
    let (_dir, mut fs) = mounted();
    let p = fs.path().join("c");
    let old = vec![b'o'; 8 * SECTOR as usize];
    let new = vec![b'n'; 5000];
    let start = 100usize;
    let mut seen = std::collections::BTreeSet::new();
    for seed in 0..20 {
        let mut f = File::create(&p).unwrap();
        f.write_all(&old).unwrap();
        f.sync_all().unwrap();
        f.write_all_at(b"an earlier unsynced write", 7000).unwrap();
        f.write_all_at(&new, start as u64).unwrap();
        drop(f);
        let cut = fs.cut(seed, true).unwrap();
        assert_eq!(cut.torn, 1);
        let got = fs::read(&p).unwrap();
        assert_eq!(
            got.len(),
            old.len(),
            "the durable size stays (the write ended inside it)"
        );
        let kept = got[start..].iter().take_while(|b| **b == b'n').count();
        let end = start + kept;
        assert_eq!(
            end as u64 % SECTOR,
            0,
            "seed {seed}: torn at {end}, not a sector boundary"
        );
        assert!(kept > 0 && kept < new.len(), "seed {seed}: kept {kept}");
        assert_eq!(cut.torn_bytes_kept, kept as u64);
        assert!(got[..start].iter().all(|b| *b == b'o'));
        assert!(
            got[end..].iter().all(|b| *b == b'o'),
            "the earlier unsynced write is dropped"
        );
        seen.insert(end);
    }
    assert!(
        seen.len() > 1,
        "the seed chooses where the write tears: {seen:?}"
    );
    // Without tearing, the same write is dropped whole.
    let mut f = File::create(&p).unwrap();
    f.write_all(&old).unwrap();
    f.sync_all().unwrap();
    f.write_all_at(&new, start as u64).unwrap();
    drop(f);
    fs.cut(0, false).unwrap();
    assert!(
        fs::read(&p).unwrap() == old,
        "an untorn cut drops the write whole"
    );
}

#[test]
fn rename_mkdir_and_unlink_are_durable_at_once() {
    let (_dir, mut fs) = mounted();
    let d = fs.path().join("d");
    fs::create_dir(&d).unwrap();
    let tmp = d.join("conf.tmp");
    let mut f = File::create(&tmp).unwrap();
    f.write_all(b"settings").unwrap();
    f.sync_all().unwrap();
    drop(f);
    fs::rename(&tmp, d.join("conf")).unwrap();
    fs::write(d.join("gone"), b"x").unwrap();
    fs::remove_file(d.join("gone")).unwrap();
    fs.cut(3, true).unwrap();
    let names: Vec<_> = fs::read_dir(&d)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names, ["conf"]);
    assert_eq!(fs::read(d.join("conf")).unwrap(), b"settings");
}

/// sled 0.34's `flush()` makes its log durable with `sync_file_range` (sled-0.34.7
/// src/pagecache/iobuf.rs, the `pwrite_all` then `libc::sync_file_range` in `write_to_log`), not with
/// `fsync`: it does not write the file's metadata nor the drive's cache, and FUSE has no request for it.
/// A record sled reports flushed is durable only once sled's background flusher calls `sync_all`
/// (every 500 ms by default). With the flusher off, the cut lands right after `flush()` returns.
#[test]
fn sled_flush_alone_is_not_durable_but_flush_then_fsync_is() {
    for fsync in [false, true] {
        let (_dir, mut fs) = mounted();
        let db_dir = fs.path().join("store");
        {
            let db = sled::Config::new()
                .path(&db_dir)
                .flush_every_ms(None)
                .open()
                .expect("open sled on the fault file system");
            db.insert(b"record", b"saved").unwrap();
            db.flush().unwrap();
            if fsync {
                File::open(db_dir.join("db")).unwrap().sync_all().unwrap();
            }
            let writes = fs.stats().writes;
            assert!(writes > 0);
            // The power goes while sled still has the store open: its files answer EIO from now on.
            let cut = fs.cut(4, false).unwrap();
            if !fsync {
                assert!(cut.bytes_dropped > 0, "flush() left data unsynced: {cut:?}");
            }
            // sled's drop would fsync (and panic on the dead mount's EIO): a process that lost power
            // runs no destructors.
            std::mem::forget(db);
        }
        let db = sled::Config::new()
            .path(&db_dir)
            .flush_every_ms(None)
            .open()
            .expect("sled reopens after the cut");
        let got = db.get(b"record").unwrap();
        if fsync {
            assert_eq!(
                got.as_deref(),
                Some(&b"saved"[..]),
                "flush + fsync is durable"
            );
        } else {
            assert_eq!(got, None, "flush() alone did not make the record durable");
        }
    }
}

#[test]
fn an_armed_cut_lands_the_instant_the_file_is_created() {
    let (_dir, mut fs) = mounted();
    let p = fs.path().join("log");
    let mut f = File::create(&p).unwrap();
    f.write_all(b"durable").unwrap();
    f.sync_all().unwrap();
    fs.cut_on_create(".generating");
    f.write_all(b" then lost").unwrap();
    assert!(!fs.tripped());
    File::create(fs.path().join("snap.1.generating")).unwrap();
    assert!(fs.tripped());
    // The power is gone: nothing more reaches the disk, not even an fsync.
    assert!(f.sync_all().is_err());
    assert!(fs::write(fs.path().join("after"), b"x").is_err());
    drop(f);
    fs.cut(5, false).unwrap();
    assert!(!fs.tripped(), "a cut disarms");
    assert_eq!(fs::read(&p).unwrap(), b"durable");
    assert!(fs.path().join("snap.1.generating").exists());
    assert!(!fs.path().join("after").exists());
}

/// The fix on main (`baobi-storage`): its `flush()` follows sled's with an fsync of the blobs and the
/// log, so what a flush returned for survives a cut that lands right after it, small values in the
/// log and large ones in sled's blob files alike, torn or not. (With sled's own `flush()` in its place
/// this test loses records in the first rounds.)
#[test]
fn baobi_storage_flush_survives_a_cut_right_after_it() {
    let (_dir, mut fs) = mounted();
    let db_dir = fs.path().join("store");
    let mut expected: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    for round in 0..6u64 {
        let db = baobi_storage::Db::open(&db_dir, 1 << 20).expect("open after a cut");
        for (k, v) in &expected {
            let got = db.get(k).unwrap();
            assert!(got.as_deref() == Some(&v[..]), "round {round}: lost {k:?}");
        }
        for i in 0..20u64 {
            let key = format!("r{round}-{i}").into_bytes();
            let len = if i % 7 == 0 { 200_000 } else { 100 };
            let value = vec![(round * 31 + i) as u8; len];
            db.insert(&key, value.clone()).unwrap();
            expected.push((key, value));
        }
        db.flush().unwrap();
        fs.cut(round, round % 2 == 0).unwrap();
        std::mem::forget(db);
    }
}

#[test]
fn a_cut_after_n_writes_keeps_the_synced_and_may_tear_the_last() {
    let (_dir, mut fs) = mounted();
    let p = fs.path().join("wal");
    let mut f = File::create(&p).unwrap();
    f.write_all(&[1u8; 1000]).unwrap();
    f.sync_all().unwrap();
    fs.cut_after_writes(2);
    f.write_all(&[2u8; 1000]).unwrap();
    assert!(!fs.tripped());
    // (Within one page: the kernel splits a write at page boundaries into several requests.)
    f.write_all(&[3u8; 2000]).unwrap();
    assert!(fs.tripped());
    assert!(
        f.write_all(&[4u8; 10]).is_err(),
        "nothing after the cut point"
    );
    drop(f);
    let cut = fs.cut(9, true).unwrap();
    assert_eq!(cut.writes_dropped, 2);
    let got = fs::read(&p).unwrap();
    assert!(got[..1000].iter().all(|b| *b == 1));
    // Only the last write may survive in part, from a sector boundary inside it; the one before it
    // is dropped (its bytes read back as zeros where the torn prefix reaches past them).
    assert!(
        got.len() == 1000 || (got.len() as u64).is_multiple_of(SECTOR),
        "{}",
        got.len()
    );
    assert!(got[1000..got.len().min(2000)].iter().all(|b| *b == 0));
    assert!(got[2000.min(got.len())..].iter().all(|b| *b == 3));
    assert_eq!(cut.torn_bytes_kept, got.len().saturating_sub(2000) as u64);
}
