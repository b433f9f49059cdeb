//! Rewriting the values of one prefix in a newer encoding at open, the same way for every derived
//! value whose encoding changed (outlet-years, survey members), or removing them when a newer layout
//! derives them (survey cells): keys per atomic batch,
//! then a meta key that says it is done, then a flush. The newer encoding must tell itself apart from
//! the older one, so a crash between batches leaves both kinds, both read, and the next open goes on.
//! Also the two pieces every packed value uses: a table of distinct items and a checked index into it.

use super::*;

/// Values rewritten per atomic batch.
const BATCH: usize = 20_000;

/// Rewrites each value under `prefix` that `newer` turns into another (none: already newer), then
/// sets meta `meta` and flushes; nothing when `meta` is set. Returns how many were rewritten (logged
/// as `what`).
pub(crate) fn values(
    db: &sled::Tree,
    prefix: &[u8],
    meta: &str,
    what: &str,
    newer: impl Fn(&[u8], &[u8]) -> Result<Option<Vec<u8>>>,
) -> Result<u64> {
    let n = changed(db, prefix, meta, |k, v| Ok(newer(k, v)?.map(Some)))?;
    if n > 0 {
        tracing::info!(values = n, "{what} rewritten in the newer encoding");
    }
    Ok(n)
}

/// Removes every key under `prefix` (values a newer layout derives instead of storing), in the same
/// batches, then sets meta `meta` and flushes; nothing when `meta` is set. Returns how many.
pub(crate) fn removed(db: &sled::Tree, prefix: &[u8], meta: &str, what: &str) -> Result<u64> {
    let n = changed(db, prefix, meta, |_, _| Ok(Some(None)))?;
    if n > 0 {
        tracing::info!(values = n, "{what} removed: derived, no longer stored");
    }
    Ok(n)
}

/// Each key under `prefix` that `change` changes (`Some(None)`: removed), per atomic batch of
/// [`BATCH`], then meta `meta` set in the last batch and a flush.
fn changed(
    db: &sled::Tree,
    prefix: &[u8],
    meta: &str,
    change: impl Fn(&[u8], &[u8]) -> Result<Option<Option<Vec<u8>>>>,
) -> Result<u64> {
    if db.get(keys::meta(meta))?.is_some() {
        return Ok(0);
    }
    let mut total = 0u64;
    let mut b = sled::Batch::default();
    let mut n = 0usize;
    for kv in db.scan_prefix(prefix) {
        let (k, v) = kv?;
        match change(&k, &v)? {
            None => continue,
            Some(Some(nv)) => b.insert(k, nv),
            Some(None) => b.remove(k),
        }
        n += 1;
        if n == BATCH {
            db.apply_batch(std::mem::take(&mut b))?;
            total += n as u64;
            n = 0;
        }
    }
    b.insert(keys::meta(meta), &b"1"[..]);
    db.apply_batch(b)?;
    total += n as u64;
    db.flush()?;
    Ok(total)
}

/// The distinct items of `it`, ascending: a packed value's table (a function of the set of items).
pub(crate) fn table<T: Ord>(it: impl IntoIterator<Item = T>) -> Vec<T> {
    it.into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// Item `i` of a packed value's `table` of `what` (in `value`), or the value is corrupt.
pub(crate) fn at<T: Clone>(value: &str, what: &str, table: &[T], i: u32) -> Result<T> {
    table
        .get(i as usize)
        .cloned()
        .ok_or_else(|| Error::Corrupt(format!("{value}: {what} {i} of a table of {}", table.len())))
}
