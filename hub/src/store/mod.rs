//! The hub's sled store: entries, the merged view, agents, tokens and meta, behind one `Hub` handle.
//! This module opens the tree, holds the merge lock and commits; the jobs live apart: `log.rs` (what is
//! replicated), `derived.rs` (the view, rebuilt from the log), `registry.rs` (this hub's own records of
//! offices and tokens) and `keys.rs` (every prefix, claimed once).
//!
//! One sled tree with key prefixes (`B` the entries in blocks, see `blocks.rs`, `r` records, `o` outlet-years, see `outlet_years.rs`, `g` groups by year,
//! `u` units, `a` agents, `f` certificate fingerprints, `t` tokens, `m` meta, `v` per-author seq,
//! `w` review decisions by record, `p` the plan in force, `n` dashboard operators, `R` restore tokens,
//! `X` retired authors, `k` clock-skew flags, `h` head signatures received,
//! `j` each office's jurisdiction, see `office.rs`, `i` the indicator facts, see `facts/`, `S`
//! standby tokens and standby hubs, see `standby.rs`).
//! Entries from offices arrive in sealed runs (see `proto::chain`) and are kept without a signature of
//! their own; the heads received let the hub forward any run of them, still sealed by their author. A
//! batch is merged through an [`Overlay`] implementing `proto::view::Tables`, then written in one atomic
//! `sled::Batch` and flushed before anyone is told it is stored. Merges are serialized by one mutex.
//! The `g` groups are also mirrored in memory (`groups.rs`), updated by `Hub::commit` after
//! the flush, so the totals query never touches the tree; nothing writes `g` keys except `commit`.
//! `commit` also brings the indicator facts (`i`) up to date in the same batch (`facts::maintain`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock};

use baobi_proto::chain::{self, Link};
use baobi_proto::identity::{fingerprint, random_secret};
use baobi_proto::units::{Lineage, Units};
use baobi_proto::view::{
    self, Fact, GroupKey, GroupTotals, PlanState, RecordState, ReviewState, Tables, UnitState,
};
use baobi_proto::wire::{self, Date, Dot, Entry, Hlc, Op, Run, UnitDef};
use baobi_proto::{AuthorId, Keypair, Sig, Summary, Token};
use bincode::{Decode, Encode};

use crate::groups::{GroupMirror, GroupWrite};

pub mod blocks;
mod derived;
pub mod facts;
pub mod keys;
mod log;
pub mod national;
pub mod outlet_years;
pub mod plain;
mod registry;
mod repack;
pub mod standby;

use crate::{now_secs, Error, Result};
pub use derived::{settings_from_wire, settings_wire, Overlay};
pub use registry::{ancestors, related, AgentRec, ClockFlag, Issued, TokenRec};

/// The hub: its store, identity and cached units.
pub struct Hub {
    dir: PathBuf,
    tree: baobi_storage::Db,
    merge: Mutex<()>,
    /// The `g` keys in memory (read by the totals query; written only by `commit`).
    pub(crate) group_mirror: GroupMirror,
    /// The `i 0` indicator cells in memory (read by reports; written only by `commit`).
    pub(crate) fact_mirror: facts::FactsMirror,
    /// Plain records read from the log, kept across merges (`derived::LogRecords`).
    pub(crate) log_records: derived::LogRecords,
    units: RwLock<std::sync::Arc<Units>>,
    lineage: std::sync::Arc<Lineage>,
    keypair: Keypair,
    cert_der: Vec<u8>,
    province: String,
    province_name: String,
    metrics: crate::metrics::Metrics,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("dir", &self.dir)
            .field("province", &self.province)
            .finish()
    }
}

/// The seq of an `h author seq` key.
fn head_seq(k: &[u8]) -> u64 {
    k.get(33..41)
        .and_then(|b| b.try_into().ok())
        .map(u64::from_be_bytes)
        .unwrap_or(0)
}

fn dec<T: Decode<()>>(what: &str, bytes: &[u8]) -> Result<T> {
    wire::decode(bytes).map_err(|e| Error::Corrupt(format!("{what}: {e}")))
}

pub(crate) fn open_db(dir: &Path) -> Result<baobi_storage::Db> {
    Ok(baobi_storage::Db::open(dir, 16 << 20)?)
}

/// Makes the hub's self-signed certificate from its key (name "baobi-hub").
pub fn make_cert(keypair: &Keypair, name: &str) -> Result<Vec<u8>> {
    let pkcs8 = keypair.pkcs8_der();
    let kp = rcgen::KeyPair::try_from(pkcs8.as_slice()).map_err(|e| Error::Tls(e.to_string()))?;
    let params = rcgen::CertificateParams::new(vec![name.to_string()])
        .map_err(|e| Error::Tls(e.to_string()))?;
    let cert = params
        .self_signed(&kp)
        .map_err(|e| Error::Tls(e.to_string()))?;
    Ok(cert.der().to_vec())
}

impl Hub {
    /// Creates a new hub store in `dir` (which must not hold one) for `province`, loading `units`
    /// (already parsed; only the province's subtree is kept) as hub-signed entries.
    pub fn init(dir: &Path, province: &str, name: &str, units: Vec<UnitDef>) -> Result<Hub> {
        let lineage = crate::units_csv::parse_lineage(crate::units_csv::SEED_LINEAGE)?;
        Hub::init_with(dir, province, name, units, lineage, None)
    }

    /// Creates a new hub store like [`Hub::init`], with a lineage (old commune → new communes: the
    /// province's units are followed across reorganisations) and optionally a plan to load.
    pub fn init_with(
        dir: &Path,
        province: &str,
        name: &str,
        units: Vec<UnitDef>,
        lineage: Vec<baobi_proto::units::LineageRow>,
        plan: Option<baobi_proto::wire::PlanDef>,
    ) -> Result<Hub> {
        if dir.join("db").exists() || dir.join("conf").exists() {
            return Err(Error::Invalid(format!(
                "{} already holds a hub store / đã có dữ liệu máy chủ",
                dir.display()
            )));
        }
        let (units, lineage) = crate::units_csv::subtree_with_successors(units, &lineage, province);
        if !units.iter().any(|u| u.code == province) {
            return Err(Error::Invalid(format!(
                "province {province} is not in the units file"
            )));
        }
        std::fs::create_dir_all(dir)?;
        let db = open_db(dir)?;
        let keypair = Keypair::generate();
        let cert_der = make_cert(&keypair, "baobi-hub")?;
        let mut b = sled::Batch::default();
        b.insert(keys::meta("province"), province.as_bytes());
        b.insert(
            keys::meta("province_name"),
            baobi_proto::validate::nfc(name).as_bytes(),
        );
        b.insert(keys::meta("secret"), keypair.secret().to_vec());
        b.insert(keys::meta(facts::META_FACTS), &b"1"[..]);
        b.insert(keys::meta(plain::META_PLAIN), &b"1"[..]);
        b.insert(keys::meta(facts::META_MEMBERS), &b"1"[..]);
        b.insert(keys::meta(outlet_years::META), &b"1"[..]);
        b.insert(keys::meta(facts::META_CELLS_DERIVED), &b"1"[..]);
        b.insert(keys::meta(facts::META_REPORTS), &b"1"[..]);
        b.insert(keys::meta(facts::META_MEMBER_UNITS), &b"1"[..]);
        b.insert(keys::meta("cert"), cert_der.clone());
        b.insert(
            keys::meta("lineage"),
            crate::units_csv::lineage_csv(&lineage).as_bytes(),
        );
        db.apply_batch(b)?;
        db.flush()?;
        let hub = Hub::from_db(dir, db)?;
        // Units as hub-authored entries, applied through the normal merge path.
        let mut entries = vec![];
        let mut hlc = Hlc(0);
        let now_ms = (now_secs().max(0) as u64) * 1000;
        for (i, u) in units.into_iter().enumerate() {
            hlc = Hlc::tick_bounded(hlc, now_ms);
            entries.push(hub.keypair.sign_entry(i as u64 + 1, hlc, Op::Unit(u)));
        }
        hub.commit_own(&entries)?;
        if let Some(p) = plan {
            crate::plan::set(&hub, p)?;
        }
        Ok(hub)
    }

    /// Opens an existing hub store.
    pub fn open(dir: &Path) -> Result<Hub> {
        if !dir.join("db").exists() && !dir.join("conf").exists() {
            return Err(Error::Invalid(format!(
                "no hub store in {} (run `baobi-hub init` first) / chưa khởi tạo máy chủ",
                dir.display()
            )));
        }
        let db = open_db(dir)?;
        Hub::from_db(dir, db)
    }

    pub(crate) fn from_db(dir: &Path, db: baobi_storage::Db) -> Result<Hub> {
        blocks::convert(&db)?;
        plain::convert(&db)?;
        facts::convert_members(&db)?;
        facts::convert_member_units(&db)?;
        outlet_years::convert(&db)?;
        facts::convert_cells(&db)?;
        facts::convert_reports(&db)?;
        let meta = |n: &str| -> Result<Vec<u8>> {
            db.get(keys::meta(n))?
                .map(|v| v.to_vec())
                .ok_or_else(|| Error::Corrupt(format!("meta '{n}' missing")))
        };
        let secret: [u8; 32] = meta("secret")?
            .try_into()
            .map_err(|_| Error::Corrupt("meta 'secret' is not 32 bytes".into()))?;
        let text = |v: Vec<u8>| String::from_utf8(v).map_err(|e| Error::Corrupt(e.to_string()));
        let lineage = match db.get(keys::meta("lineage"))? {
            Some(v) => crate::units_csv::parse_lineage(&String::from_utf8_lossy(&v))
                .map_err(|e| Error::Corrupt(format!("lineage: {e}")))?,
            None => vec![],
        };
        let hub = Hub {
            lineage: std::sync::Arc::new(Lineage::new(lineage)),
            dir: dir.to_path_buf(),
            keypair: Keypair::from_secret(&secret),
            cert_der: meta("cert")?,
            province: text(meta("province")?)?,
            province_name: text(meta("province_name")?)?,
            merge: Mutex::new(()),
            units: RwLock::new(std::sync::Arc::new(Units::new())),
            group_mirror: GroupMirror::load(&db)?,
            log_records: derived::LogRecords::default(),
            fact_mirror: facts::FactsMirror::load(&db)?,
            metrics: Default::default(),
            tree: db,
        };
        hub.reload_units()?;
        if hub.tree.get(keys::meta(facts::META_FACTS))?.is_none() {
            let _g = hub.lock();
            facts::rebuild(&hub)?;
        }
        Ok(hub)
    }

    fn reload_units(&self) -> Result<()> {
        let mut reg = Units::new();
        for kv in self.tree.scan_prefix([b'u']) {
            let (_, v) = kv?;
            let u: UnitState = dec("unit", &v)?;
            reg.insert(u.def);
        }
        self.fact_mirror.regroup(&reg);
        *self.units.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(reg);
        Ok(())
    }

    /// This process's counters (`GET /metrics`).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.metrics
    }

    /// The data directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The hub's signing key (also its TLS key).
    pub fn keypair(&self) -> &Keypair {
        &self.keypair
    }

    /// The hub's certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// SHA-256 of the certificate: what agents pin.
    pub fn fingerprint(&self) -> [u8; 32] {
        fingerprint(&self.cert_der)
    }

    /// Province code.
    pub fn province(&self) -> &str {
        &self.province
    }

    /// Province name.
    pub fn province_name(&self) -> &str {
        &self.province_name
    }

    /// The units registry (shared, not copied: it changes only at `init`).
    pub fn units(&self) -> std::sync::Arc<Units> {
        std::sync::Arc::clone(&self.units.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// Old commune → new communes across reorganisations (kept at `init`).
    pub fn lineage(&self) -> std::sync::Arc<Lineage> {
        std::sync::Arc::clone(&self.lineage)
    }

    /// Runs `f` with the units registry.
    pub fn with_units<T>(&self, f: impl FnOnce(&Units) -> T) -> T {
        f(&self.units.read().unwrap_or_else(|e| e.into_inner()))
    }

    /// The raw tree (for reports and tests).
    pub fn tree(&self) -> &sled::Tree {
        &self.tree
    }

    /// Takes the merge lock: one writer of view, agents and tokens at a time.
    pub fn lock(&self) -> MutexGuard<'_, ()> {
        self.merge.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Flushes everything to disk.
    pub fn flush(&self) -> Result<()> {
        self.tree.flush()?;
        Ok(())
    }

    /// Stores the hub's own entries (units at init), applying them to the view.
    fn commit_own(&self, entries: &[Entry]) -> Result<()> {
        let _g = self.lock();
        let mut ov = Overlay::new(&self.tree);
        let mut seqs = BTreeMap::new();
        for e in entries {
            view::apply(&mut ov, e);
            let prev = ov.link(&e.author, e.seq - 1)?;
            ov.put_entry(e, &chain::link_of(&prev, e));
            seqs.insert(e.author, e.seq);
        }
        for (a, s) in seqs {
            ov.put(keys::seq(&a), s.to_be_bytes().to_vec());
        }
        self.commit(ov)?;
        self.reload_units()
    }

    /// Writes an overlay atomically and flushes, then updates the in-memory groups (the caller holds
    /// the merge lock). Group values are decoded first, so a bad one writes nothing.
    pub(crate) fn commit(&self, mut ov: Overlay<'_>) -> Result<()> {
        if let Some(e) = ov.err.take() {
            return Err(e);
        }
        ov.settle();
        ov.seal_blocks();
        facts::maintain(&mut ov)?;
        if let Some(e) = ov.err {
            return Err(e);
        }
        let mut b = sled::Batch::default();
        let mut groups = vec![];
        let mut cells = vec![];
        for (k, v) in ov.writes {
            if k.first() == Some(&b'g') {
                groups.push(GroupWrite::decode(k.clone(), v.as_deref())?);
            }
            if keys::FACT_CELLS.iter().any(|p| k.starts_with(p)) {
                cells.push(facts::CellWrite::decode(&k, v.as_deref())?);
            }
            match v {
                Some(v) => b.insert(k, v),
                None => b.remove(k),
            }
        }
        if let Err(e) = self
            .tree
            .apply_batch(b)
            .and_then(|()| self.tree.flush().map(drop))
        {
            self.group_mirror.mark_stale();
            self.fact_mirror.mark_stale();
            return Err(e.into());
        }
        self.group_mirror.committed(&self.tree, groups)?;
        self.fact_mirror.committed(&self.tree, cells, &self.units())
    }

    /// Runs `f` on the indicator facts in memory (O(facilities + cells), never the records).
    pub fn with_facts<T>(&self, f: impl FnOnce(&baobi_proto::facts::Facts) -> T) -> T {
        self.fact_mirror.with(f)
    }
}
