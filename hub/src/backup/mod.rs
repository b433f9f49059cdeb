//! `baobi-hub backup --out FILE` and `baobi-hub restore --from FILE --data DIR`: a hub that can be
//! rebuilt from one file.
//!
//! The file holds only what cannot be derived: every key of the store except the view's
//! ([`crate::verify::DERIVED`]: records, outlet-years, groups, units, reviews, plan, indicator facts, per-author
//! seqs), that is the entries, their links and heads, the registry (agents, fingerprints, tokens,
//! restore tokens, retired authors, clock flags), operators and the hub's meta (key, certificate,
//! province, settings, lineage). It is taken under the merge lock, so it is one consistent state.
//!
//! Layout: [`MAGIC`], then a deflate stream of records `u32 BE key length, key, u32 BE value length,
//! value` (meta keys first, then the rest in key order) ending with a key length of `u32::MAX`, then
//! the [`Header`] as JSON, its length as `u32 BE`, and the SHA-256 of everything before. The file
//! holds the hub's secret key, so it is created owner-only (0600).
//!
//! The log is held one entry per record, whatever the store's layout: `e author seq` → the entry
//! (`wire::encode` of [`Entry`]) and `l author seq` → its chain link, as in every backup since
//! format 1; the store keeps entries in blocks (`store/blocks.rs`) and the backup expands them, so a
//! backup of an older store and of a newer one read alike, and a file holding `B` keys is refused.
//!
//! Restore checks the whole file (magic, checksum, header) before creating anything, writes the
//! non-derived keys, replays the entries through `proto::view::apply` and [`Hub`]'s commit (the
//! merge's own path), recomputing every chain link, then runs [`crate::verify`] on the result; on any
//! failure it removes what it created.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use baobi_proto::chain::{self, Link};
use baobi_proto::view;
use baobi_proto::wire::{self, Entry};
use baobi_proto::AuthorId;
use flate2::read::DeflateDecoder;
use flate2::write::DeflateEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::{blocks, keys, open_db, Hub, Overlay};
use crate::verify::{self, DERIVED};
use crate::{Error, Result};

mod restore;
pub use restore::restore;

/// First bytes of a backup file.
pub const MAGIC: &[u8; 16] = b"baobi-hub-backup";
/// Format version written (and the only one read).
pub const FORMAT: u32 = 1;
/// Key length that ends the records.
const END: u32 = u32::MAX;
/// Entries replayed per atomic commit at restore.
const REPLAY_BATCH: usize = 4096;
/// Largest key or value a backup may hold (a bound before allocating).
const MAX_ITEM: u32 = 64 << 20;

/// What a backup holds, readable without unpacking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Format version ([`FORMAT`]).
    pub format: u32,
    /// Province code.
    pub province: String,
    /// Province name.
    pub province_name: String,
    /// The hub's author key (hex).
    pub hub_author: String,
    /// SHA-256 of the hub's certificate (hex): what offices pin.
    pub fingerprint: String,
    /// When the backup was taken (RFC 3339, UTC).
    pub created_at: String,
    /// Keys stored in the file.
    pub keys: u64,
    /// Entries among them.
    pub entries: u64,
    /// Authors with entries.
    pub authors: u64,
    /// Enrolled offices (revoked ones too).
    pub agents: u64,
    /// Dashboard operators.
    pub operators: u64,
    /// Keys by prefix.
    pub by_prefix: BTreeMap<String, u64>,
}

/// A backup written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Written {
    /// The file.
    pub path: String,
    /// Its size in bytes.
    pub bytes: u64,
    /// Time taken, in milliseconds.
    pub millis: u64,
    /// What it holds.
    pub header: Header,
}

/// A hub restored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restored {
    /// The new hub's data directory.
    pub data: String,
    /// The backup's header.
    pub header: Header,
    /// Time taken, in milliseconds (verification included).
    pub millis: u64,
    /// The verification of the rebuilt store.
    pub verify: verify::Report,
}

/// Progress of a long backup or restore, for stderr.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// This many keys written to the backup.
    Written(u64),
    /// This many entries replayed.
    Replayed(u64),
    /// The rebuilt store is being verified.
    Verify(verify::Step),
}

fn bad_file(file: &Path, why: &str) -> Error {
    Error::Invalid(format!(
        "{}: {why}; nothing was restored / không khôi phục được gì",
        file.display()
    ))
}

/// A writer that hashes and counts what passes through it.
struct Hashing<W: Write> {
    inner: W,
    hash: Sha256,
    bytes: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

fn put_item(w: &mut impl Write, b: &[u8]) -> std::io::Result<()> {
    w.write_all(&(b.len() as u32).to_be_bytes())?;
    w.write_all(b)
}

/// Writes a backup of `hub` to `out` (which must not exist), owner-only, durably: into a temporary
/// file beside it, fsynced, then renamed.
pub fn write(hub: &Hub, out: &Path, progress: &mut dyn FnMut(Step)) -> Result<Written> {
    let started = Instant::now();
    if out.exists() {
        return Err(Error::Invalid(format!(
            "{} already exists; choose a new file name / tệp đã tồn tại, hãy chọn tên khác",
            out.display()
        )));
    }
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        return Err(Error::Invalid(format!(
            "folder {} does not exist / thư mục không tồn tại",
            parent.display()
        )));
    }
    let name = out
        .file_name()
        .ok_or_else(|| Error::Invalid(format!("{} is not a file name", out.display())))?;
    let tmp = parent.join(format!(
        ".{}.partial-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let r = write_to(hub, &tmp, progress);
    let header = match r {
        Ok(h) => h,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    std::fs::rename(&tmp, out)?;
    File::open(&parent)?.sync_all()?;
    Ok(Written {
        path: out.display().to_string(),
        bytes: std::fs::metadata(out)?.len(),
        millis: started.elapsed().as_millis() as u64,
        header,
    })
}

fn write_to(hub: &Hub, tmp: &Path, progress: &mut dyn FnMut(Step)) -> Result<Header> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(tmp)?;
    let mut hw = Hashing {
        inner: BufWriter::new(file),
        hash: Sha256::new(),
        bytes: 0,
    };
    hw.write_all(MAGIC)?;
    let mut by_prefix: BTreeMap<String, u64> = BTreeMap::new();
    let (mut n, mut authors) = (0u64, 0u64);
    let mut last_author: Option<[u8; 32]> = None;
    let mut z = DeflateEncoder::new(&mut hw, Compression::fast());
    {
        let _g = hub.lock();
        let tree = hub.tree();
        // Meta first, so a restore can open the hub before the entries come; then every other key
        // in the order of the per-entry layout the file holds: the entry blocks (`B`) written as
        // one `e` record per entry where `e` keys sort, and each entry's link as an `l` record
        // where `l` keys sort (the form every backup has had, so older and newer files read alike).
        let mut emit = |z: &mut DeflateEncoder<&mut Hashing<BufWriter<File>>>,
                        k: &[u8],
                        v: &[u8]|
         -> Result<()> {
            let p = k.first().copied().unwrap_or(0);
            if p == b'e' {
                let a: Option<[u8; 32]> = k.get(1..33).and_then(|a| a.try_into().ok());
                if a != last_author {
                    authors += 1;
                    last_author = a;
                }
            }
            put_item(z, k)?;
            put_item(z, v)?;
            *by_prefix.entry((p as char).to_string()).or_default() += 1;
            n += 1;
            if n.is_multiple_of(10_000) {
                progress(Step::Written(n));
            }
            Ok(())
        };
        for kv in tree.scan_prefix([b'm']) {
            let (k, v) = kv?;
            emit(&mut z, &k, &v)?;
        }
        for p in 0..=u8::MAX {
            if p == b'm' || p == b'B' || DERIVED.contains(&p) {
                continue;
            }
            match p {
                b'e' | b'l' => {
                    for kv in tree.scan_prefix([b'B']) {
                        let (k, v) = kv?;
                        let (a, bn) = blocks::parse_key(&k)
                            .ok_or_else(|| Error::Corrupt("entry block key".into()))?;
                        let block = blocks::Block::decode(&v)?;
                        if p == b'e' {
                            for e in block.entries(&a, bn) {
                                emit(&mut z, &keys::entry(&a, e.seq), &wire::encode(&e))?;
                            }
                        } else {
                            let first = blocks::first_seq(bn);
                            for (i, l) in block.links(&a, bn).iter().enumerate() {
                                emit(&mut z, &keys::link(&a, first + i as u64), l)?;
                            }
                        }
                    }
                }
                _ => {
                    for kv in tree.scan_prefix([p]) {
                        let (k, v) = kv?;
                        emit(&mut z, &k, &v)?;
                    }
                }
            }
        }
    }
    z.write_all(&END.to_be_bytes())?;
    z.finish()?;
    progress(Step::Written(n));
    let count = |p: &str| by_prefix.get(p).copied().unwrap_or(0);
    let header = Header {
        format: FORMAT,
        province: hub.province().to_string(),
        province_name: hub.province_name().to_string(),
        hub_author: hub.keypair().author().hex(),
        fingerprint: data_encoding::HEXLOWER.encode(&hub.fingerprint()),
        created_at: crate::rfc3339(crate::now_secs()),
        keys: n,
        entries: count("e"),
        authors,
        agents: count("a"),
        operators: count("n"),
        by_prefix,
    };
    let json = serde_json::to_vec(&header).map_err(|e| Error::Corrupt(e.to_string()))?;
    hw.write_all(&json)?;
    hw.write_all(&(json.len() as u32).to_be_bytes())?;
    let digest: [u8; 32] = hw.hash.clone().finalize().into();
    let mut inner = hw.inner;
    inner.write_all(&digest)?;
    let file = inner.into_inner().map_err(|e| Error::Io(e.into_error()))?;
    file.sync_all()?;
    Ok(header)
}

/// A checked backup file: its header and where its deflated records lie.
struct Checked {
    header: Header,
    body: std::ops::Range<u64>,
}

/// Checks a backup file whole (magic, checksum, header, format) without unpacking it.
fn check_file(path: &Path) -> Result<Checked> {
    let mut f = File::open(path).map_err(|e| {
        Error::Invalid(format!(
            "cannot read {} ({e}) / không đọc được tệp",
            path.display()
        ))
    })?;
    let len = f.metadata()?.len();
    let mut magic = [0u8; 16];
    if len < 16 || f.read_exact(&mut magic).is_err() || &magic != MAGIC {
        return Err(bad_file(
            path,
            "not a baobi hub backup / không phải tệp sao lưu máy chủ baobi",
        ));
    }
    if len < 16 + 4 + 32 {
        return Err(bad_file(path, "truncated / tệp bị cắt cụt"));
    }
    f.seek(SeekFrom::Start(0))?;
    let mut h = Sha256::new();
    std::io::copy(&mut BufReader::new((&mut f).take(len - 32)), &mut h)?;
    let mut sum = [0u8; 32];
    f.read_exact(&mut sum)?;
    if <[u8; 32]>::from(h.finalize()) != sum {
        return Err(bad_file(
            path,
            "checksum mismatch: the file is truncated or altered / sai mã kiểm tra: tệp bị cắt cụt \
             hoặc bị sửa",
        ));
    }
    f.seek(SeekFrom::Start(len - 36))?;
    let mut l = [0u8; 4];
    f.read_exact(&mut l)?;
    let hlen = u64::from(u32::from_be_bytes(l));
    if hlen > len - 52 {
        return Err(bad_file(path, "bad header length / sai độ dài phần đầu"));
    }
    let start = len - 36 - hlen;
    f.seek(SeekFrom::Start(start))?;
    let mut json = vec![0u8; hlen as usize];
    f.read_exact(&mut json)?;
    let header: Header = serde_json::from_slice(&json)
        .map_err(|e| bad_file(path, &format!("unreadable header ({e}) / phần đầu hỏng")))?;
    if header.format != FORMAT {
        return Err(bad_file(
            path,
            &format!(
                "format {} is not supported (this baobi-hub reads format {FORMAT}) / \
                 phiên bản tệp không được hỗ trợ",
                header.format
            ),
        ));
    }
    Ok(Checked {
        header,
        body: 16..start,
    })
}

/// Reads and checks a backup's header (the whole file's checksum included).
pub fn header(path: &Path) -> Result<Header> {
    Ok(check_file(path)?.header)
}

fn read_item(r: &mut impl Read, file: &Path) -> Result<Option<Vec<u8>>> {
    let mut l = [0u8; 4];
    r.read_exact(&mut l)
        .map_err(|e| bad_file(file, &format!("records end early ({e})")))?;
    let n = u32::from_be_bytes(l);
    if n == END {
        return Ok(None);
    }
    if n > MAX_ITEM {
        return Err(bad_file(file, "record too large"));
    }
    let mut b = vec![0u8; n as usize];
    r.read_exact(&mut b)
        .map_err(|e| bad_file(file, &format!("records end early ({e})")))?;
    Ok(Some(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::wire::{Body, Hlc, MarketSurvey, Op, OutletDef, OutletKind, Round};
    use baobi_proto::Keypair;

    use crate::check::merge_entries;
    use crate::testkit::{enroll, hub};

    fn outlet(unit: &str) -> Op {
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: "Chợ Tân Thành".into(),
            unit: unit.into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        }))
    }

    fn survey(outlet: baobi_proto::wire::Dot, unit: &str, day: u32, g: u32) -> Op {
        Op::Record(Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: unit.into(),
            date: baobi_proto::wire::Date(20250300 + day),
            year: 2025,
            round: Round::Baseline,
            vendors_total: 85,
            vendors_surveyed: 30,
            nonbio_g_per_day: g,
            eco_g_per_day: None,
            vendors_nonbio: 20,
            vendors_alternatives: None,
            operating_days: Some(30),
            reduction_model: false,
            notes: String::new(),
        }))
    }

    use crate::testkit::all;

    /// A hub with two offices' records, a review, a plan, settings and an operator.
    fn busy_hub(dir: &Path) -> Hub {
        let h = hub(dir);
        for (unit, n) in [("30226", 5u32), ("30208", 3)] {
            let k = Keypair::generate();
            let a = enroll(&h, &k, unit);
            let o = k.sign_entry(1, Hlc(1), outlet(unit));
            let mut es = vec![o.clone()];
            for i in 0..n {
                es.push(k.sign_entry(
                    u64::from(i) + 2,
                    Hlc(u64::from(i) + 2),
                    survey(o.dot(), unit, i + 1, 1000 * (i + 1)),
                ));
            }
            // Two batches: two heads.
            assert_eq!(merge_entries(&h, &a, &k, &es[..2]).unwrap(), Ok(2));
            assert_eq!(
                merge_entries(&h, &a, &k, &es[2..]).unwrap(),
                Ok(es.len() as u64 - 2)
            );
        }
        let first = h.records().unwrap()[1].id;
        crate::review::decide(
            &h,
            &first.to_string(),
            crate::review::Decision::Returned("sai số liệu".into()),
        )
        .unwrap();
        let plan = crate::plan::parse(crate::plan::BUILTIN[0].1).unwrap();
        crate::plan::set(&h, plan).unwrap();
        let phc = crate::operators::hash_password("mật khẩu dài").unwrap();
        crate::operators::add(&h, "lan", &phc).unwrap();
        h
    }

    #[test]
    fn a_restored_hub_is_the_same_store_key_for_key() {
        let tmp = tempfile::tempdir().unwrap();
        let h = busy_hub(&tmp.path().join("old"));
        let file = tmp.path().join("b.bak");
        let w = write(&h, &file, &mut |_| {}).unwrap();
        assert_eq!(w.header.agents, 2);
        assert_eq!(w.header.authors, 3);
        assert_eq!(w.header.operators, 1);
        assert_eq!(
            w.header.entries,
            h.summary().unwrap().iter().map(|(_, s)| s).sum::<u64>()
        );
        assert!(w
            .header
            .by_prefix
            .keys()
            .all(|p| !DERIVED.contains(&p.as_bytes()[0])));
        let dir = tmp.path().join("new");
        let r = restore(&file, &dir, &mut |_| {}).unwrap();
        assert!(r.verify.ok, "{:?}", r.verify.problems);
        let n = Hub::open(&dir).unwrap();
        assert_eq!(
            all(&n),
            all(&h),
            "every key, derived ones rebuilt identically"
        );
        assert_eq!(n.groups(2025).unwrap(), h.groups(2025).unwrap());
        assert_eq!(n.fingerprint(), h.fingerprint());
    }

    #[test]
    fn an_altered_file_with_a_recomputed_checksum_is_still_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let h = busy_hub(&tmp.path().join("old"));
        let file = tmp.path().join("b.bak");
        write(&h, &file, &mut |_| {}).unwrap();
        // Rewrite the records with one survey's amount changed, then a fresh checksum: only the
        // entries' own chain and seals can tell.
        let c = check_file(&file).unwrap();
        let bytes = std::fs::read(&file).unwrap();
        let body = &bytes[c.body.start as usize..c.body.end as usize];
        let mut plain = vec![];
        DeflateDecoder::new(body).read_to_end(&mut plain).unwrap();
        let mut out = vec![];
        let mut rd = &plain[..];
        let mut changed = false;
        while let Some(k) = read_item(&mut rd, &file).unwrap() {
            let mut v = read_item(&mut rd, &file).unwrap().unwrap();
            if k[0] == b'e' && !changed {
                let mut e: Entry = wire::decode(&v).unwrap();
                if let Op::Record(Body::MarketSurvey(s)) = &mut e.op {
                    s.nonbio_g_per_day += 1;
                    v = wire::encode(&e);
                    changed = true;
                }
            }
            put_item(&mut out, &k).unwrap();
            put_item(&mut out, &v).unwrap();
        }
        assert!(changed);
        out.extend_from_slice(&END.to_be_bytes());
        let mut z = DeflateEncoder::new(Vec::new(), Compression::fast());
        z.write_all(&out).unwrap();
        let mut forged = MAGIC.to_vec();
        forged.extend(z.finish().unwrap());
        forged.extend_from_slice(&bytes[c.body.end as usize..bytes.len() - 32]);
        let sum: [u8; 32] = Sha256::digest(&forged).into();
        forged.extend_from_slice(&sum);
        std::fs::write(&file, forged).unwrap();
        let dir = tmp.path().join("new");
        let e = restore(&file, &dir, &mut |_| {}).unwrap_err();
        assert!(matches!(e, Error::Invalid(_)), "{e}");
        assert!(e.to_string().contains("chain link"), "{e}");
        assert!(!dir.exists(), "nothing created");
    }

    #[test]
    fn a_restored_hub_takes_its_own_lost_entries_back_only_under_its_own_seal() {
        use baobi_proto::wire::{Refusal, RefusalCode, Run};
        let tmp = tempfile::tempdir().unwrap();
        let h = busy_hub(&tmp.path().join("old"));
        let file = tmp.path().join("b.bak");
        write(&h, &file, &mut |_| {}).unwrap();
        let me = h.keypair().author();
        let n = h.seq_of(&me).unwrap();
        // After the backup the hub verifies a record: its own entry n + 1, which offices receive.
        let id = h.records().unwrap()[2].id.to_string();
        crate::review::decide(&h, &id, crate::review::Decision::Verified).unwrap();
        let lost = h.run(&me, n + 1, n + 1, 512).unwrap().unwrap();
        let office = h.agents().unwrap()[0].clone();
        let after = all(&h);
        drop(h);

        let b = restore(&file, &tmp.path().join("b"), &mut |_| {}).unwrap();
        assert!(b.verify.ok);
        let b = Hub::open(&tmp.path().join("b")).unwrap();
        // Forged: the hub's author, but not the hub's signature.
        let forged = Run {
            head: baobi_proto::Sig([7; 64]),
            ..lost.clone()
        };
        let r: std::result::Result<u64, Refusal> =
            crate::check::merge_runs(&b, &office, &[forged]).unwrap();
        assert_eq!(r.unwrap_err().code, RefusalCode::BadSignature);
        assert_eq!(b.seq_of(&me).unwrap(), n);
        // Sealed by the hub: taken back, and the store is the one before the loss (heads aside:
        // the returned run's head is kept, as for an office's).
        assert_eq!(
            crate::check::merge_runs(&b, &office, std::slice::from_ref(&lost)).unwrap(),
            Ok(1)
        );
        let without_heads = |v: Vec<(Vec<u8>, Vec<u8>)>| -> Vec<(Vec<u8>, Vec<u8>)> {
            v.into_iter()
                .filter(|(k, _)| !(k[0] == b'h' && k[1..33] == me.0) && k[0] != b'B')
                .collect()
        };
        assert_eq!(without_heads(all(&b)), without_heads(after.clone()));
        assert!(crate::verify::run(&b, &mut |_| {}).unwrap().ok);
        drop(b);

        // A restored hub that has meanwhile written another entry n + 1 keeps its own, and the
        // office's sync is not refused.
        restore(&file, &tmp.path().join("c"), &mut |_| {}).unwrap();
        let c = Hub::open(&tmp.path().join("c")).unwrap();
        crate::review::decide(&c, &id, crate::review::Decision::Returned("thiếu".into())).unwrap();
        let mine = c.entries(&me, n + 1, n + 1, 1).unwrap();
        assert_eq!(
            crate::check::merge_runs(&c, &office, &[lost]).unwrap(),
            Ok(0)
        );
        assert_eq!(c.entries(&me, n + 1, n + 1, 1).unwrap(), mine);
        assert!(crate::verify::run(&c, &mut |_| {}).unwrap().ok);
    }
}
