//! What the durable flush costs: the median time of one small insert followed by sled's own `flush()`
//! (a `sync_file_range`) against the same followed by `baobi_storage::Db::flush` (that, plus an fsync
//! of the blobs and the log), in one process on the same folder's disk, alternating so both see the
//! same machine. `cargo run --release -p baobi-storage --example flush_cost [-- N [DIR]]`.

use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let base = args.next().map(std::path::PathBuf::from);
    let dir = match &base {
        Some(b) => tempfile::tempdir_in(b).expect("temp dir"),
        None => tempfile::tempdir().expect("temp dir"),
    };
    let db = baobi_storage::Db::open(dir.path(), 16 << 20).expect("open");
    let (mut sled_only, mut durable) = (vec![], vec![]);
    for i in 0..n as u64 {
        let t = Instant::now();
        db.insert((2 * i).to_be_bytes(), &[7u8; 200][..])
            .expect("insert");
        sled::Tree::flush(&db).expect("flush");
        sled_only.push(t.elapsed());
        let t = Instant::now();
        db.insert((2 * i + 1).to_be_bytes(), &[7u8; 200][..])
            .expect("insert");
        db.flush().expect("flush");
        durable.push(t.elapsed());
    }
    let (a, b) = (median(sled_only), median(durable));
    println!(
        "{n} inserts each in {}: sled flush median {a:?}, durable flush median {b:?} ({:.2}x)",
        dir.path().display(),
        b.as_secs_f64() / a.as_secs_f64()
    );
}
