//! The indicator cells mirrored in memory, like the totals groups: loaded at open (the cells under
//! `i 0`, and each survey cell computed from its members under `i 1 S`), changed only after a commit
//! is durable, reloaded after a failed one (split from `facts/mod.rs`).

use baobi_proto::facts::Facts;

use super::*;

#[derive(Debug, Default)]
struct Inner {
    facts: Facts,
    stale: bool,
}

/// The indicator cells in memory.
#[derive(Debug, Default)]
pub struct FactsMirror {
    inner: RwLock<Inner>,
}

pub(super) fn scan(tree: &sled::Tree) -> Result<Facts> {
    let mut f = Facts::default();
    for kv in keys::FACT_CELLS.iter().flat_map(|p| tree.scan_prefix(p)) {
        let (k, v) = kv?;
        CellWrite::decode(&k, Some(&v))?.apply(&mut f, None);
    }
    Ok(f)
}

impl FactsMirror {
    /// Loads the cells of `tree` (grouped by [`FactsMirror::regroup`] once the units are known).
    pub fn load(tree: &sled::Tree) -> Result<FactsMirror> {
        Ok(FactsMirror {
            inner: RwLock::new(Inner {
                facts: scan(tree)?,
                stale: false,
            }),
        })
    }

    /// Runs `f` on the facts (read-locked: a commit's changes wait until it returns).
    pub fn with<T>(&self, f: impl FnOnce(&Facts) -> T) -> T {
        f(&self.inner.read().unwrap_or_else(|e| e.into_inner()).facts)
    }

    /// Groups the report cells under `units` (at open, and whenever the units change).
    pub fn regroup(&self, units: &Units) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .facts
            .group(units);
    }

    /// A commit's write or flush failed.
    pub fn mark_stale(&self) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).stale = true;
    }

    /// A commit is durable: applies its cell writes, or reloads from `tree` after a failed one.
    pub fn committed(
        &self,
        tree: &sled::Tree,
        writes: Vec<CellWrite>,
        units: &Units,
    ) -> Result<()> {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.stale {
            inner.facts = scan(tree)?;
            inner.facts.group(units);
            inner.stale = false;
            return Ok(());
        }
        for w in writes {
            w.apply(&mut inner.facts, Some(units));
        }
        Ok(())
    }
}
