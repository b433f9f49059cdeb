//! Restoring a hub from a backup file (`baobi-hub restore`): the file checked whole before anything is
//! created, the non-derived keys written, every entry replayed through the merge's own path (the
//! view's `apply`, the chain links recomputed, one atomic commit per batch), then `verify` on the
//! result; anything created is removed when a step fails.

use super::*;

/// Makes a hub in `dir` (absent or empty) from the backup `file`. Checks the file whole first and
/// creates nothing when it is not a complete, unaltered baobi hub backup; removes what it created
/// when anything fails later (the rebuilt store's verification included).
pub fn restore(file: &Path, dir: &Path, progress: &mut dyn FnMut(Step)) -> Result<Restored> {
    let started = Instant::now();
    let checked = check_file(file)?;
    let existed = dir.exists();
    if existed {
        let empty = dir.is_dir() && std::fs::read_dir(dir)?.next().is_none();
        if !empty {
            return Err(Error::Invalid(format!(
                "{} is not empty: restore into a new folder / thư mục không trống, hãy khôi phục vào \
                 thư mục mới",
                dir.display()
            )));
        }
    } else {
        std::fs::create_dir_all(dir)?;
    }
    match rebuild(file, dir, &checked, progress) {
        Ok(report) if report.ok => Ok(Restored {
            data: dir.display().to_string(),
            header: checked.header,
            millis: started.elapsed().as_millis() as u64,
            verify: report,
        }),
        r => {
            remove_created(dir, existed);
            match r {
                Err(e) => Err(e),
                Ok(report) => Err(bad_file(
                    file,
                    &format!(
                        "the restored store does not verify / dữ liệu khôi phục không hợp lệ:\n{}",
                        verify::render(&report)
                    ),
                )),
            }
        }
    }
}

fn remove_created(dir: &Path, existed: bool) {
    if !existed {
        let _ = std::fs::remove_dir_all(dir);
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            let _ = if p.is_dir() {
                std::fs::remove_dir_all(&p)
            } else {
                std::fs::remove_file(&p)
            };
        }
    }
}

/// Replay state of one author's log.
struct Replay {
    author: AuthorId,
    seq: u64,
    link: Link,
}

fn rebuild(
    file: &Path,
    dir: &Path,
    checked: &Checked,
    progress: &mut dyn FnMut(Step),
) -> Result<verify::Report> {
    let mut f = File::open(file)?;
    f.seek(SeekFrom::Start(checked.body.start))?;
    let mut r = BufReader::new(DeflateDecoder::new(BufReader::new(
        f.take(checked.body.end - checked.body.start),
    )));
    let db = open_db(dir)?;
    let mut raw = sled::Batch::default();
    let mut raw_n = 0usize;
    let mut hub: Option<Hub> = None;
    let mut replay: Option<Replay> = None;
    let mut pending: Vec<Entry> = vec![];
    let (mut keys_read, mut entries) = (0u64, 0u64);
    let mut links = blocks::Reader::default();
    while let Some(k) = read_item(&mut r, file)? {
        let v = read_item(&mut r, file)?.ok_or_else(|| bad_file(file, "key without value"))?;
        keys_read += 1;
        let p = k.first().copied().unwrap_or(0);
        if DERIVED.contains(&p) {
            return Err(bad_file(file, "holds derived view keys"));
        }
        if p == b'B' {
            // Backups hold the log one entry per record (`e`, `l`), never the store's blocks.
            return Err(bad_file(file, "holds entry blocks, which no backup holds"));
        }
        match p {
            b'e' => {
                if hub.is_none() {
                    db.apply_batch(std::mem::take(&mut raw))?;
                    hub = Some(Hub::from_db(dir, db.clone())?);
                }
                let e: Entry = wire::decode(&v)
                    .map_err(|err| bad_file(file, &format!("entry does not decode ({err})")))?;
                if k != keys::entry(&e.author, e.seq) {
                    return Err(bad_file(file, "an entry is filed under another key"));
                }
                pending.push(e);
                entries += 1;
                if pending.len() >= REPLAY_BATCH {
                    replay_batch(hub.as_ref(), &mut replay, &mut pending, file)?;
                    progress(Step::Replayed(entries));
                }
            }
            b'l' => {
                // Links were recomputed from the entries (which come first); the file's must agree.
                replay_batch(hub.as_ref(), &mut replay, &mut pending, file)?;
                let at = (k.len() == 41)
                    .then(|| (k[1..33].try_into().ok(), k[33..41].try_into().ok()))
                    .and_then(|(a, s)| Some((AuthorId(a?), u64::from_be_bytes(s?))));
                let held = match at {
                    Some((a, s)) => links.link(&db, &a, s)?,
                    None => None,
                };
                if held.as_ref().map(|l| &l[..]) != Some(&v[..]) {
                    return Err(bad_file(
                        file,
                        "a chain link does not match its entries / mắt xích không khớp",
                    ));
                }
            }
            _ => {
                raw.insert(k, v);
                raw_n += 1;
                if raw_n.is_multiple_of(REPLAY_BATCH) {
                    db.apply_batch(std::mem::take(&mut raw))?;
                }
            }
        }
    }
    let mut rest = vec![];
    r.read_to_end(&mut rest)?;
    if !rest.is_empty() {
        return Err(bad_file(file, "bytes after the records"));
    }
    db.apply_batch(raw)?;
    let hub = match hub {
        Some(h) => h,
        None => Hub::from_db(dir, db.clone())?,
    };
    replay_batch(Some(&hub), &mut replay, &mut pending, file)?;
    if let Some(last) = replay.take() {
        put_seq(&hub, &last)?;
    }
    hub.flush()?;
    progress(Step::Replayed(entries));
    if keys_read != checked.header.keys || entries != checked.header.entries {
        return Err(bad_file(
            file,
            &format!(
                "holds {keys_read} keys and {entries} entries, its header says {} and {}",
                checked.header.keys, checked.header.entries
            ),
        ));
    }
    let report = verify::check(&hub, &mut |s| progress(Step::Verify(s)))?;
    drop(hub);
    db.flush()?;
    Ok(report)
}

fn put_seq(hub: &Hub, r: &Replay) -> Result<()> {
    let _g = hub.lock();
    let mut ov = Overlay::new(hub.tree());
    ov.put(keys::seq(&r.author), r.seq.to_be_bytes().to_vec());
    hub.commit(ov)
}

/// Replays `pending` entries (in key order) through the merge's path: the view's `apply` over an
/// overlay, the entry and its recomputed link, the author's seq, one atomic commit.
fn replay_batch(
    hub: Option<&Hub>,
    replay: &mut Option<Replay>,
    pending: &mut Vec<Entry>,
    file: &Path,
) -> Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let hub = hub.ok_or_else(|| bad_file(file, "entries before the hub's meta"))?;
    let _g = hub.lock();
    let mut ov = Overlay::new(hub.tree());
    for e in pending.drain(..) {
        if replay.as_ref().map(|r| r.author) != Some(e.author) {
            if let Some(done) = replay.take() {
                ov.put(keys::seq(&done.author), done.seq.to_be_bytes().to_vec());
            }
            *replay = Some(Replay {
                author: e.author,
                seq: 0,
                link: chain::genesis(&e.author),
            });
        }
        let Some(r) = replay.as_mut() else { continue };
        if e.seq != r.seq + 1 {
            return Err(bad_file(
                file,
                &format!(
                    "the log of {} has a gap after seq {}",
                    e.author.short(),
                    r.seq
                ),
            ));
        }
        r.seq = e.seq;
        r.link = chain::link_of(&r.link, &e);
        view::apply(&mut ov, &e);
        ov.put_entry(&e, &r.link);
    }
    if let Some(r) = replay.as_ref() {
        ov.put(keys::seq(&r.author), r.seq.to_be_bytes().to_vec());
    }
    hub.commit(ov)
}
