//! The hub's sled store: entries, the merged view, agents, tokens and meta, behind one `Hub` handle.
//!
//! One sled tree with key prefixes (`e` entries, `r` records, `o` outlet-years, `g` groups by year,
//! `u` units, `a` agents, `f` certificate fingerprints, `t` tokens, `m` meta, `v` per-author seq,
//! `w` review decisions by record, `p` the plan in force, `n` dashboard operators, `R` restore tokens,
//! `X` retired authors, `k` clock-skew flags, `l` each entry's chain link, `h` head signatures received).
//! Entries from offices arrive in sealed runs (see `proto::chain`) and are kept without a signature of
//! their own; the heads received let the hub forward any run of them, still sealed by their author. A
//! batch is merged through an [`Overlay`] implementing `proto::view::Tables`, then written in one atomic
//! `sled::Batch` and flushed before anyone is told it is stored. Merges are serialized by one mutex.
//! The `g` groups are also mirrored in memory (`groups.rs`), updated by `Hub::commit` after
//! the flush, so the totals query never touches the tree; nothing writes `g` keys except `commit`.

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
use crate::{now_secs, Error, Result};

/// An enrolled office.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct AgentRec {
    /// Its author key.
    pub author: AuthorId,
    /// SHA-256 of its TLS certificate.
    pub cert_fp: [u8; 32],
    /// Unit whose jurisdiction it has.
    pub unit: String,
    /// What the office is called.
    pub label: String,
    /// Enrolled at (Unix seconds).
    pub enrolled_at: i64,
    /// Revoked: refused from the next connection on.
    pub revoked: bool,
    /// Last completed sync (Unix seconds).
    pub last_sync: Option<i64>,
    /// Entries received from it in total.
    pub entries_received: u64,
}

/// An enrollment token as the hub keeps it (only the secret's hash).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct TokenRec {
    /// Unit the enrolled office will have.
    pub unit: String,
    /// Label given by the operator.
    pub label: String,
    /// Created at (Unix seconds).
    pub created_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
    /// Already used.
    pub used: bool,
}

/// How far an office's entry clocks were seen off the hub's clock (kept only when beyond
/// [`crate::limits::CLOCK_AHEAD`]). Entries are accepted anyway: they are signed and cannot be
/// re-stamped, and a clock never decides convergence; the flag tells the operator to fix the PC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Encode, Decode)]
pub struct ClockFlag {
    /// Largest lead over the hub's clock at receipt, in milliseconds.
    pub ahead_ms: u64,
    /// Largest lag behind the office's enrollment time, in milliseconds.
    pub behind_ms: u64,
    /// Entries flagged.
    pub entries: u64,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct Issued {
    /// The token to hand to the office.
    pub token: Token,
    /// Its unit.
    pub unit: String,
    /// The unit's name.
    pub unit_name: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

/// The hub: its store, identity and cached units.
pub struct Hub {
    dir: PathBuf,
    tree: baobi_storage::Db,
    merge: Mutex<()>,
    /// The `g` keys in memory (read by the totals query; written only by `commit`).
    pub(crate) group_mirror: GroupMirror,
    units: RwLock<std::sync::Arc<Units>>,
    lineage: std::sync::Arc<Lineage>,
    keypair: Keypair,
    cert_der: Vec<u8>,
    province: String,
    province_name: String,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("dir", &self.dir)
            .field("province", &self.province)
            .finish()
    }
}

/// Key helpers: one prefix byte, then fixed-width or terminated parts so order is meaningful.
pub mod keys {
    use super::*;

    /// `e author seq`.
    pub fn entry(author: &AuthorId, seq: u64) -> Vec<u8> {
        dotkey(b'e', author, seq)
    }
    /// `r author seq`.
    pub fn record(id: &Dot) -> Vec<u8> {
        dotkey(b'r', &id.author, id.seq)
    }
    /// `o author seq year`.
    pub fn outlet_year(outlet: &Dot, year: u16) -> Vec<u8> {
        let mut k = dotkey(b'o', &outlet.author, outlet.seq);
        k.extend_from_slice(&year.to_be_bytes());
        k
    }
    /// `g year unit 0 kind`: a year's groups are one prefix.
    pub fn group(key: &GroupKey) -> Vec<u8> {
        let mut k = group_year(key.year);
        k.extend_from_slice(key.unit.as_bytes());
        k.push(0);
        k.extend_from_slice(&wire::encode(&key.kind));
        k
    }
    /// `g year`.
    pub fn group_year(year: u16) -> Vec<u8> {
        let mut k = vec![b'g'];
        k.extend_from_slice(&year.to_be_bytes());
        k
    }
    /// `u code 0 from`.
    pub fn unit(code: &str, from: Option<Date>) -> Vec<u8> {
        let mut k = vec![b'u'];
        k.extend_from_slice(code.as_bytes());
        k.push(0);
        k.extend_from_slice(&from.map_or(0, |d| d.0).to_be_bytes());
        k
    }
    /// `a author`.
    pub fn agent(author: &AuthorId) -> Vec<u8> {
        let mut k = vec![b'a'];
        k.extend_from_slice(&author.0);
        k
    }
    /// `f fingerprint` → author.
    pub fn fp(fp: &[u8; 32]) -> Vec<u8> {
        let mut k = vec![b'f'];
        k.extend_from_slice(fp);
        k
    }
    /// `t secret-hash`.
    pub fn token(hash: &[u8; 32]) -> Vec<u8> {
        let mut k = vec![b't'];
        k.extend_from_slice(hash);
        k
    }
    /// `m name`.
    pub fn meta(name: &str) -> Vec<u8> {
        let mut k = vec![b'm'];
        k.extend_from_slice(name.as_bytes());
        k
    }
    /// `w author seq` → review decisions about that record.
    pub fn reviews(record: &Dot) -> Vec<u8> {
        dotkey(b'w', &record.author, record.seq)
    }
    /// `p` → the plan in force.
    pub fn plan() -> Vec<u8> {
        vec![b'p']
    }
    /// `R secret-hash` → author of the lost office a restore token replaces.
    pub fn restore(hash: &[u8; 32]) -> Vec<u8> {
        let mut k = vec![b'R'];
        k.extend_from_slice(hash);
        k
    }
    /// `X author` → author of the office that replaced it at a restore (the key is retired).
    pub fn retired(author: &AuthorId) -> Vec<u8> {
        let mut k = vec![b'X'];
        k.extend_from_slice(&author.0);
        k
    }
    /// `k author` → the author's [`super::ClockFlag`].
    pub fn clock(author: &AuthorId) -> Vec<u8> {
        let mut k = vec![b'k'];
        k.extend_from_slice(&author.0);
        k
    }
    /// `v author` → highest seq (u64 BE).
    pub fn seq(author: &AuthorId) -> Vec<u8> {
        let mut k = vec![b'v'];
        k.extend_from_slice(&author.0);
        k
    }
    /// `l author seq` → the entry's chain link (32 bytes).
    pub fn link(author: &AuthorId, seq: u64) -> Vec<u8> {
        dotkey(b'l', author, seq)
    }
    /// `h author seq` → the author's head signature at seq (64 bytes), as received in a run.
    pub fn head(author: &AuthorId, seq: u64) -> Vec<u8> {
        dotkey(b'h', author, seq)
    }
    /// `n name`: a dashboard operator's login (name and argon2 hash).
    pub fn operator(name: &str) -> Vec<u8> {
        let mut k = vec![b'n'];
        k.extend_from_slice(name.as_bytes());
        k
    }
    fn dotkey(p: u8, author: &AuthorId, seq: u64) -> Vec<u8> {
        let mut k = Vec::with_capacity(41);
        k.push(p);
        k.extend_from_slice(&author.0);
        k.extend_from_slice(&seq.to_be_bytes());
        k
    }
}

/// A stored chain link (the value of `l author seq`), or why there is none.
fn link_value(author: &AuthorId, seq: u64, v: Option<&[u8]>) -> Result<Link> {
    v.and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::Corrupt(format!("no chain link for {author}-{seq}")))
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

fn open_db(dir: &Path) -> Result<baobi_storage::Db> {
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

    fn from_db(dir: &Path, db: baobi_storage::Db) -> Result<Hub> {
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
            tree: db,
        };
        hub.reload_units()?;
        Ok(hub)
    }

    fn reload_units(&self) -> Result<()> {
        let mut reg = Units::new();
        for kv in self.tree.scan_prefix([b'u']) {
            let (_, v) = kv?;
            let u: UnitState = dec("unit", &v)?;
            reg.insert(u.def);
        }
        *self.units.write().unwrap_or_else(|e| e.into_inner()) = std::sync::Arc::new(reg);
        Ok(())
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

    /// Highest contiguous seq held of `author`.
    pub fn seq_of(&self, author: &AuthorId) -> Result<u64> {
        Ok(match self.tree.get(keys::seq(author))? {
            Some(v) => u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("seq value".into()))?,
            ),
            None => 0,
        })
    }

    /// Everything the hub holds, as a summary.
    pub fn summary(&self) -> Result<Summary> {
        let mut s = Summary::new();
        for kv in self.tree.scan_prefix([b'v']) {
            let (k, v) = kv?;
            let a: [u8; 32] = k[1..]
                .try_into()
                .map_err(|_| Error::Corrupt("seq key".into()))?;
            let n = u64::from_be_bytes(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("seq value".into()))?,
            );
            s.set(AuthorId(a), n);
        }
        Ok(s)
    }

    /// Entries of `author` from `from` to `to` inclusive, at most `limit`.
    pub fn entries(
        &self,
        author: &AuthorId,
        from: u64,
        to: u64,
        limit: usize,
    ) -> Result<Vec<Entry>> {
        let mut out = vec![];
        for kv in self
            .tree
            .range(keys::entry(author, from)..=keys::entry(author, to))
            .take(limit)
        {
            let (_, v) = kv?;
            out.push(dec("entry", &v)?);
        }
        Ok(out)
    }

    /// The chain link of entry `seq` of `author` (its genesis link for seq 0).
    pub fn link(&self, author: &AuthorId, seq: u64) -> Result<Link> {
        if seq == 0 {
            return Ok(chain::genesis(author));
        }
        link_value(
            author,
            seq,
            self.tree.get(keys::link(author, seq))?.as_deref(),
        )
    }

    /// One sealed run of `author`'s entries `from..=to`, or its longest prefix of at most `room`
    /// entries that ends where a head exists. The hub's own entries are sealed with a fresh head; an
    /// office's end where the office signed a head (each batch it sent ended at one, and a head
    /// vouches for everything before it, so a run may start anywhere). `None` when nothing fits in
    /// `room` or nothing is held from `from`.
    pub fn run(&self, author: &AuthorId, from: u64, to: u64, room: usize) -> Result<Option<Run>> {
        if room == 0 || from == 0 || to < from {
            return Ok(None);
        }
        let prev = self.link(author, from - 1)?;
        let last_fit = from.saturating_add(room as u64 - 1);
        if *author == self.keypair.author() {
            let entries = self.entries(author, from, to.min(last_fit), room)?;
            return Ok(Run::seal(&self.keypair, prev, &entries).map(|(run, _)| run));
        }
        // The last head within reach: `to` itself when the range fits (the hub holds an office's log
        // up to the end of the last batch it accepted, which ended at a head).
        let head = match self
            .tree
            .range(keys::head(author, from)..=keys::head(author, to.min(last_fit)))
            .next_back()
        {
            Some(kv) => Some(kv?),
            None => None,
        };
        let Some((k, sig)) = head else {
            return Ok(None);
        };
        let end = head_seq(&k);
        let sig = Sig(sig
            .as_ref()
            .try_into()
            .map_err(|_| Error::Corrupt("head signature value".into()))?);
        let entries = self.entries(author, from, end, room)?;
        if entries.last().map(|e| e.seq) != Some(end) {
            return Err(Error::Corrupt(format!(
                "entries {author}-{from}..{end} are not all held under their head"
            )));
        }
        Ok(Run::with_head(*author, prev, &entries, sig))
    }

    /// A stored record.
    pub fn record(&self, id: &Dot) -> Result<Option<RecordState>> {
        self.tree
            .get(keys::record(id))?
            .map(|v| dec("record", &v))
            .transpose()
    }

    /// Every record, in id order.
    pub fn records(&self) -> Result<Vec<RecordState>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([b'r']) {
            out.push(dec("record", &kv?.1)?);
        }
        Ok(out)
    }

    /// The groups of `year`, in key order: read from the in-memory mirror, O(groups of the year).
    pub fn groups(&self, year: u16) -> Result<Vec<(GroupKey, GroupTotals)>> {
        Ok(self.group_mirror.year(year))
    }

    /// The latest year that has totals (from the in-memory mirror).
    pub fn latest_year(&self) -> Result<Option<u16>> {
        Ok(self.group_mirror.latest_year())
    }

    /// Every enrolled agent.
    pub fn agents(&self) -> Result<Vec<AgentRec>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([b'a']) {
            out.push(dec("agent", &kv?.1)?);
        }
        Ok(out)
    }

    /// The agent with this author key.
    pub fn agent(&self, author: &AuthorId) -> Result<Option<AgentRec>> {
        self.tree
            .get(keys::agent(author))?
            .map(|v| dec("agent", &v))
            .transpose()
    }

    /// The agent whose certificate has this fingerprint.
    pub fn agent_by_fp(&self, fp: &[u8; 32]) -> Result<Option<AgentRec>> {
        match self.tree.get(keys::fp(fp))? {
            Some(a) => {
                let a: [u8; 32] = a
                    .as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("fingerprint index".into()))?;
                self.agent(&AuthorId(a))
            }
            None => Ok(None),
        }
    }

    /// Stores an agent (caller holds the lock) and flushes.
    pub fn put_agent(&self, a: &AgentRec) -> Result<()> {
        let mut b = sled::Batch::default();
        b.insert(keys::agent(&a.author), wire::encode(a));
        b.insert(keys::fp(&a.cert_fp), a.author.0.to_vec());
        self.tree.apply_batch(b)?;
        self.tree.flush()?;
        Ok(())
    }

    /// Records a finished session of `author`: last sync now, `received` more entries.
    pub fn note_sync(&self, author: &AuthorId, received: u64) -> Result<()> {
        let _g = self.lock();
        if let Some(mut a) = self.agent(author)? {
            a.last_sync = Some(now_secs());
            a.entries_received += received;
            self.put_agent(&a)?;
        }
        Ok(())
    }

    /// Reads a meta value as text.
    pub fn meta(&self, name: &str) -> Result<Option<String>> {
        Ok(self
            .tree
            .get(keys::meta(name))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Writes a meta value and flushes.
    pub fn set_meta(&self, name: &str, value: &str) -> Result<()> {
        self.tree.insert(keys::meta(name), value.as_bytes())?;
        self.tree.flush()?;
        Ok(())
    }

    /// Issues an enrollment token for `unit`.
    pub fn enroll(&self, unit: &str, label: &str, addr: &str, ttl_hours: u64) -> Result<Issued> {
        self.issue(unit, label, addr, ttl_hours.min(24 * 365) * 3600, None)
    }

    /// Issues a restore token for the lost office `who` (author hex prefix or exact label): the office
    /// redeeming it gets the same unit and label, and the lost author is retired at that moment.
    pub fn issue_restore(&self, who: &str, addr: &str, ttl_hours: u64) -> Result<Issued> {
        let old = self.find_agent(who)?;
        if self.tree.get(keys::retired(&old.author))?.is_some() {
            return Err(Error::Invalid(format!(
                "office {} was already restored (its key is retired) / văn phòng này đã được khôi phục",
                old.author.short()
            )));
        }
        self.issue(
            &old.unit,
            &old.label,
            addr,
            ttl_hours.min(24 * 365) * 3600,
            Some(old.author),
        )
    }

    /// Issues a one-time token for `unit` valid `ttl_secs` seconds (0: already expired, for tests),
    /// optionally a restore token replacing `replaces`.
    pub fn issue(
        &self,
        unit: &str,
        label: &str,
        addr: &str,
        ttl_secs: u64,
        replaces: Option<AuthorId>,
    ) -> Result<Issued> {
        let unit_name = self.with_units(|u| {
            let def = u.latest(unit).ok_or_else(|| {
                Error::Invalid(format!(
                    "unit '{unit}' is not a unit of province {} / không có đơn vị '{unit}'",
                    self.province
                ))
            })?;
            // Inside the province, or inside a province-level unit the hub holds (the merged
            // province after the 2025 reform).
            let provinces: BTreeSet<&str> = u
                .iter()
                .filter(|v| v.level == baobi_proto::wire::Level::Province)
                .map(|v| v.code.as_str())
                .collect();
            let inside = u.iter().any(|v| {
                v.code == unit && {
                    let d = v.valid_from.or(v.valid_to).unwrap_or(Date(20250101));
                    provinces.iter().any(|p| u.is_within(unit, p, d))
                }
            });
            if !inside {
                return Err(Error::Invalid(format!(
                    "unit '{unit}' is not inside province {}",
                    self.province
                )));
            }
            Ok(def.name.clone())
        })?;
        let secret = random_secret();
        let now = now_secs();
        let rec = TokenRec {
            unit: unit.to_string(),
            label: baobi_proto::validate::nfc(label.trim()),
            created_at: now,
            expires_at: now + ttl_secs.min(10 * 365 * 24 * 3600) as i64,
            used: false,
        };
        {
            let _g = self.lock();
            let hash = Token::secret_hash(&secret);
            let mut b = sled::Batch::default();
            b.insert(keys::token(&hash), wire::encode(&rec));
            if let Some(old) = replaces {
                b.insert(keys::restore(&hash), old.0.to_vec());
            }
            self.tree.apply_batch(b)?;
            self.tree.flush()?;
        }
        Ok(Issued {
            token: Token {
                addr: addr.to_string(),
                hub_fingerprint: self.fingerprint(),
                secret,
            },
            unit: unit.to_string(),
            unit_name,
            expires_at: rec.expires_at,
        })
    }

    /// Redeems a token: checks it is known, unused and unexpired, enrolls the agent, marks the token
    /// used, all durably. The caller has already checked the proof.
    pub fn redeem(
        &self,
        secret: &[u8; 16],
        author: AuthorId,
        cert_fp: [u8; 32],
        label: &str,
    ) -> Result<std::result::Result<AgentRec, String>> {
        let _g = self.lock();
        let tkey = keys::token(&Token::secret_hash(secret));
        let Some(raw) = self.tree.get(&tkey)? else {
            return Ok(Err(
                "mã đăng ký không tồn tại / unknown enrollment token".into()
            ));
        };
        let mut tok: TokenRec = dec("token", &raw)?;
        if tok.used {
            return Ok(Err(
                "mã đăng ký đã được dùng / enrollment token already used".into(),
            ));
        }
        if tok.expires_at <= now_secs() {
            return Ok(Err(format!(
                "mã đăng ký đã hết hạn lúc {} / enrollment token expired at {}; ask the hub for a new one",
                crate::rfc3339(tok.expires_at),
                crate::rfc3339(tok.expires_at)
            )));
        }
        if self.agent(&author)?.is_some() || self.tree.get(keys::fp(&cert_fp))?.is_some() {
            return Ok(Err(
                "khóa này đã đăng ký / this key is already enrolled".into()
            ));
        }
        let rkey = keys::restore(&Token::secret_hash(secret));
        let replaced = match self.tree.get(&rkey)? {
            Some(v) => {
                let a: [u8; 32] = v
                    .as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("restore token".into()))?;
                self.agent(&AuthorId(a))?
            }
            None => None,
        };
        tok.used = true;
        let label = if tok.label.is_empty() {
            baobi_proto::validate::nfc(label.trim())
        } else {
            tok.label.clone()
        };
        let agent = AgentRec {
            author,
            cert_fp,
            unit: tok.unit.clone(),
            label,
            enrolled_at: now_secs(),
            revoked: false,
            last_sync: None,
            entries_received: 0,
        };
        let mut b = sled::Batch::default();
        b.insert(tkey, wire::encode(&tok));
        b.insert(keys::agent(&author), wire::encode(&agent));
        b.insert(keys::fp(&cert_fp), author.0.to_vec());
        if let Some(mut old) = replaced {
            // The lost key can never write again, so none of its sequence numbers is ever reused.
            old.revoked = true;
            b.insert(keys::agent(&old.author), wire::encode(&old));
            b.insert(keys::retired(&old.author), author.0.to_vec());
        }
        self.tree.apply_batch(b)?;
        self.tree.flush()?;
        Ok(Ok(agent))
    }

    /// The office that replaced `author` at a restore, when its key was retired that way.
    pub fn replaced_by(&self, author: &AuthorId) -> Result<Option<AuthorId>> {
        Ok(match self.tree.get(keys::retired(author))? {
            Some(v) => Some(AuthorId(
                v.as_ref()
                    .try_into()
                    .map_err(|_| Error::Corrupt("retired key".into()))?,
            )),
            None => None,
        })
    }

    /// How far `author`'s clock was seen off, when it was flagged.
    pub fn clock_flag(&self, author: &AuthorId) -> Result<Option<ClockFlag>> {
        self.tree
            .get(keys::clock(author))?
            .map(|v| dec("clock flag", &v))
            .transpose()
    }

    /// Revokes the agent named by author hex prefix (≥ 8 digits) or exact label.
    pub fn revoke(&self, who: &str) -> Result<AgentRec> {
        let _g = self.lock();
        let mut a = self.find_agent(who)?;
        a.revoked = true;
        self.put_agent(&a)?;
        Ok(a)
    }

    /// The one agent named by author hex prefix (≥ 8 digits) or exact label.
    pub fn find_agent(&self, who: &str) -> Result<AgentRec> {
        let who_l = who.trim().to_lowercase();
        let agents = self.agents()?;
        let by_hex: Vec<&AgentRec> =
            if who_l.len() >= 8 && who_l.chars().all(|c| c.is_ascii_hexdigit()) {
                agents
                    .iter()
                    .filter(|a| a.author.hex().starts_with(&who_l))
                    .collect()
            } else {
                vec![]
            };
        let matches: Vec<&AgentRec> = if by_hex.is_empty() {
            let n = baobi_proto::validate::nfc(who.trim());
            agents.iter().filter(|a| a.label == n).collect()
        } else {
            by_hex
        };
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(Error::Invalid(format!(
                "no agent matches '{who}' / không tìm thấy văn phòng '{who}'"
            ))),
            many => Err(Error::Invalid(format!(
                "'{who}' matches {} agents ({}); give more of the key",
                many.len(),
                many.iter()
                    .map(|a| a.author.short())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// The authors an agent at `unit` may see: the hub, itself, and every enrolled author whose unit is
    /// an ancestor of, descendant of, or equal to `unit`.
    pub fn scope(&self, agent: &AgentRec) -> Result<BTreeSet<AuthorId>> {
        let mut s = BTreeSet::new();
        s.insert(self.keypair.author());
        s.insert(agent.author);
        let agents = self.agents()?;
        self.with_units(|u| {
            for a in &agents {
                if related(u, &a.unit, &agent.unit) {
                    s.insert(a.author);
                }
            }
        });
        Ok(s)
    }

    /// The hub's summary restricted to an agent's scope.
    pub fn scoped_summary(&self, agent: &AgentRec) -> Result<Summary> {
        let scope = self.scope(agent)?;
        // Under the merge lock: a batch is visible in the tree before its flush ends, and a summary
        // showing it then would let the agent count as acknowledged entries a crash can still lose.
        let mut s = {
            let _g = self.lock();
            self.summary()?
        };
        s.retain(|a| scope.contains(a));
        Ok(s)
    }

    /// Signs `ops` as the hub's next entries, stores them durably and applies them to the view.
    pub fn append_own(&self, ops: Vec<Op>) -> Result<Vec<Entry>> {
        let _g = self.lock();
        let me = self.keypair.author();
        let mut seq = self.seq_of(&me)?;
        let mut hlc = match self.tree.get(keys::entry(&me, seq))? {
            Some(v) => dec::<Entry>("entry", &v)?.hlc,
            None => Hlc(0),
        };
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as u64;
        let mut ov = Overlay::new(&self.tree);
        let mut link = self.link(&me, seq)?;
        let mut out = vec![];
        for op in ops {
            seq += 1;
            hlc = Hlc::tick(hlc, now_ms);
            let e = self.keypair.sign_entry(seq, hlc, op);
            view::apply(&mut ov, &e);
            ov.put(keys::entry(&e.author, e.seq), wire::encode(&e));
            link = chain::link_of(&link, &e);
            ov.put(keys::link(&e.author, e.seq), link.to_vec());
            out.push(e);
        }
        ov.put(keys::seq(&me), seq.to_be_bytes().to_vec());
        self.commit(ov)?;
        Ok(out)
    }

    /// The plan in force, if one was loaded.
    pub fn plan(&self) -> Result<Option<PlanState>> {
        self.tree
            .get(keys::plan())?
            .map(|v| dec("plan", &v))
            .transpose()
    }

    /// Review decisions held about a record.
    pub fn reviews(&self, record: &Dot) -> Result<Vec<ReviewState>> {
        Ok(self
            .tree
            .get(keys::reviews(record))?
            .map(|v| dec("reviews", &v))
            .transpose()?
            .unwrap_or_default())
    }

    /// The settings indicators use (hub meta `basis`, `i1_rule`; defaults when unset).
    pub fn settings(&self) -> Result<baobi_proto::indicators::Settings> {
        let mut s = baobi_proto::indicators::Settings::default();
        if let Some(b) = self.meta("basis")? {
            s.basis = serde_json::from_value(serde_json::Value::String(b))
                .map_err(|e| Error::Corrupt(format!("setting basis: {e}")))?;
        }
        if let Some(r) = self.meta("i1_rule")? {
            s.i1_rule = serde_json::from_value(serde_json::Value::String(r))
                .map_err(|e| Error::Corrupt(format!("setting i1_rule: {e}")))?;
        }
        Ok(s)
    }

    /// Stores the settings durably.
    pub fn set_settings(&self, s: &baobi_proto::indicators::Settings) -> Result<()> {
        let text = |v: serde_json::Result<serde_json::Value>| -> Result<String> {
            v.ok()
                .and_then(|v| v.as_str().map(String::from))
                .ok_or_else(|| Error::Corrupt("setting".into()))
        };
        let _g = self.lock();
        let mut b = sled::Batch::default();
        b.insert(
            keys::meta("basis"),
            text(serde_json::to_value(s.basis))?.as_bytes(),
        );
        b.insert(
            keys::meta("i1_rule"),
            text(serde_json::to_value(s.i1_rule))?.as_bytes(),
        );
        self.tree.apply_batch(b)?;
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
            ov.put(keys::entry(&e.author, e.seq), wire::encode(e));
            let prev = ov.link(&e.author, e.seq - 1)?;
            ov.put(
                keys::link(&e.author, e.seq),
                chain::link_of(&prev, e).to_vec(),
            );
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
    pub(crate) fn commit(&self, ov: Overlay<'_>) -> Result<()> {
        if let Some(e) = ov.err {
            return Err(e);
        }
        let mut b = sled::Batch::default();
        let mut groups = vec![];
        for (k, v) in ov.writes {
            if k.first() == Some(&b'g') {
                groups.push(GroupWrite::decode(k.clone(), v.as_deref())?);
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
            return Err(e.into());
        }
        self.group_mirror.committed(&self.tree, groups)
    }
}

/// All codes reachable upward from `code` through any version's parent.
pub fn ancestors(u: &Units, code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut todo = vec![code.to_string()];
    while let Some(c) = todo.pop() {
        for v in u.iter().filter(|v| v.code == c) {
            if let Some(p) = &v.parent {
                if out.insert(p.clone()) {
                    todo.push(p.clone());
                }
            }
        }
        if out.len() > 64 {
            break;
        }
    }
    out
}

/// True when `a` and `b` are equal or one is an ancestor of the other (any version).
pub fn related(u: &Units, a: &str, b: &str) -> bool {
    a == b || ancestors(u, a).contains(b) || ancestors(u, b).contains(a)
}

/// Reads through to sled, buffers writes: the view's `Tables` during one merge.
pub struct Overlay<'a> {
    tree: &'a sled::Tree,
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    err: Option<Error>,
}

impl<'a> Overlay<'a> {
    /// An empty overlay over `tree`.
    pub fn new(tree: &'a sled::Tree) -> Self {
        Overlay {
            tree,
            writes: BTreeMap::new(),
            err: None,
        }
    }

    /// The first error met while reading, if any.
    pub fn error(&self) -> Option<&Error> {
        self.err.as_ref()
    }

    /// Reads a key (overlay first).
    pub fn get(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if let Some(v) = self.writes.get(key) {
            return v.clone();
        }
        match self.tree.get(key) {
            Ok(v) => v.map(|v| v.to_vec()),
            Err(e) => {
                self.err.get_or_insert(e.into());
                None
            }
        }
    }

    /// Buffers a write.
    pub fn put(&mut self, key: Vec<u8>, value: Vec<u8>) {
        self.writes.insert(key, Some(value));
    }

    /// Buffers a delete.
    pub fn del(&mut self, key: Vec<u8>) {
        self.writes.insert(key, None);
    }

    fn read<T: Decode<()>>(&mut self, what: &str, key: &[u8]) -> Option<T> {
        let raw = self.get(key)?;
        match dec(what, &raw) {
            Ok(v) => Some(v),
            Err(e) => {
                self.err.get_or_insert(e);
                None
            }
        }
    }

    /// The chain link of entry `seq` of `author` as seen through the overlay (genesis for 0).
    pub fn link(&mut self, author: &AuthorId, seq: u64) -> Result<Link> {
        if seq == 0 {
            return Ok(chain::genesis(author));
        }
        let v = self.get(&keys::link(author, seq));
        link_value(author, seq, v.as_deref())
    }

    /// Highest seq of `author` as seen through the overlay.
    pub fn seq(&mut self, author: &AuthorId) -> u64 {
        self.get(&keys::seq(author))
            .and_then(|v| v.try_into().ok())
            .map(u64::from_be_bytes)
            .unwrap_or(0)
    }
}

impl Tables for Overlay<'_> {
    fn record(&mut self, id: &Dot) -> Option<RecordState> {
        self.read("record", &keys::record(id))
    }
    fn put_record(&mut self, rec: &RecordState) {
        self.put(keys::record(&rec.id), wire::encode(rec));
    }
    fn outlet_year(&mut self, outlet: &Dot, year: u16) -> Vec<Fact> {
        self.read("outlet-year", &keys::outlet_year(outlet, year))
            .unwrap_or_default()
    }
    fn put_outlet_year(&mut self, outlet: &Dot, year: u16, facts: &[Fact]) {
        let k = keys::outlet_year(outlet, year);
        if facts.is_empty() {
            self.del(k);
        } else {
            self.put(k, wire::encode(&facts.to_vec()));
        }
    }
    fn group(&mut self, key: &GroupKey) -> GroupTotals {
        self.read::<(GroupKey, GroupTotals)>("group", &keys::group(key))
            .map(|(_, g)| g)
            .unwrap_or_default()
    }
    fn put_group(&mut self, key: &GroupKey, totals: &GroupTotals) {
        let k = keys::group(key);
        if totals.is_zero() {
            self.del(k);
        } else {
            self.put(k, wire::encode(&(key.clone(), *totals)));
        }
    }
    fn unit(&mut self, code: &str, from: Option<Date>) -> Option<UnitState> {
        self.read("unit", &keys::unit(code, from))
    }
    fn put_unit(&mut self, unit: &UnitState) {
        self.put(
            keys::unit(&unit.def.code, unit.def.valid_from),
            wire::encode(unit),
        );
    }
    fn reviews(&mut self, record: &Dot) -> Vec<ReviewState> {
        self.read("reviews", &keys::reviews(record))
            .unwrap_or_default()
    }
    fn put_reviews(&mut self, record: &Dot, reviews: &[ReviewState]) {
        self.put(keys::reviews(record), wire::encode(&reviews.to_vec()));
    }
    fn plan(&mut self) -> Option<PlanState> {
        self.read("plan", &keys::plan())
    }
    fn put_plan(&mut self, plan: &PlanState) {
        self.put(keys::plan(), wire::encode(plan));
    }
}
