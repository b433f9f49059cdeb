//! The totals groups (the store's `g` keys) mirrored in memory, so the totals query costs O(groups of
//! the year) however large the store grows, instead of a range scan of the one sled tree that also
//! holds every entry and record.
//!
//! sled stays the truth; this is a copy of its `g` keys. It is loaded by one prefix scan when the
//! store opens and changed only by `Hub::commit` (every write of a `g` key goes through an `Overlay`
//! and `commit`), after the batch is applied and flushed, so a reader never sees a group whose batch
//! is not yet durable. A commit whose write or flush failed marks the mirror stale; the next
//! successful commit reloads it from sled instead of applying its own changes.

use std::collections::BTreeMap;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use baobi_proto::view::{GroupKey, GroupTotals};
use baobi_proto::wire;

use crate::{Error, Result};

/// One group as stored: its key and counters.
pub type Group = (GroupKey, GroupTotals);

/// A change to one `g` key, decoded before its batch is written: the sled key and the new group,
/// none when the key is deleted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWrite {
    key: Vec<u8>,
    year: u16,
    group: Option<Group>,
}

impl GroupWrite {
    /// Decodes the write of `value` (none: a delete) at the `g` key `key`.
    pub fn decode(key: Vec<u8>, value: Option<&[u8]>) -> Result<GroupWrite> {
        let year = year_of(&key)?;
        let group = value.map(decode_group).transpose()?;
        Ok(GroupWrite { key, year, group })
    }
}

/// Groups by year, each year's in sled key order (the order a prefix scan gives).
type Years = BTreeMap<u16, BTreeMap<Vec<u8>, Group>>;

#[derive(Debug, Default)]
struct Inner {
    years: Years,
    /// A commit failed after its batch may have reached sled: reload before applying more changes.
    stale: bool,
}

/// The in-memory mirror of the `g` keys.
#[derive(Debug, Default)]
pub struct GroupMirror {
    inner: RwLock<Inner>,
}

fn year_of(key: &[u8]) -> Result<u16> {
    match key {
        [b'g', hi, lo, ..] => Ok(u16::from_be_bytes([*hi, *lo])),
        _ => Err(Error::Corrupt(format!(
            "group key of {} bytes is not `g year …`",
            key.len()
        ))),
    }
}

fn decode_group(bytes: &[u8]) -> Result<Group> {
    wire::decode(bytes).map_err(|e| Error::Corrupt(format!("group: {e}")))
}

/// Every `g` key of `tree`, decoded.
fn scan(tree: &sled::Tree) -> Result<Years> {
    let mut years = Years::new();
    for kv in tree.scan_prefix([b'g']) {
        let (k, v) = kv?;
        let year = year_of(&k)?;
        years
            .entry(year)
            .or_default()
            .insert(k.to_vec(), decode_group(&v)?);
    }
    Ok(years)
}

impl GroupMirror {
    /// Loads the mirror from the `g` keys of `tree`.
    pub fn load(tree: &sled::Tree) -> Result<GroupMirror> {
        Ok(GroupMirror {
            inner: RwLock::new(Inner {
                years: scan(tree)?,
                stale: false,
            }),
        })
    }

    fn read(&self) -> RwLockReadGuard<'_, Inner> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, Inner> {
        self.inner.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The groups of `year`, in key order.
    pub fn year(&self, year: u16) -> Vec<Group> {
        self.read()
            .years
            .get(&year)
            .map(|g| g.values().cloned().collect())
            .unwrap_or_default()
    }

    /// The latest year that has a group.
    pub fn latest_year(&self) -> Option<u16> {
        self.read().years.keys().next_back().copied()
    }

    /// Every group of every year, in key order (what a scan of `g` would give).
    #[cfg(test)]
    pub fn all(&self) -> Vec<(Vec<u8>, Group)> {
        self.read()
            .years
            .values()
            .flat_map(|y| y.iter().map(|(k, g)| (k.clone(), g.clone())))
            .collect()
    }

    /// A commit's write or flush failed: its groups may or may not be in sled.
    pub fn mark_stale(&self) {
        self.write().stale = true;
    }

    /// A commit is durable: applies its group writes, or reloads from `tree` when an earlier commit
    /// failed. The caller holds the merge lock and has flushed `tree`.
    pub fn committed(&self, tree: &sled::Tree, writes: Vec<GroupWrite>) -> Result<()> {
        let mut inner = self.write();
        if inner.stale {
            inner.years = scan(tree)?;
            inner.stale = false;
            return Ok(());
        }
        for w in writes {
            match w.group {
                Some(g) => {
                    inner.years.entry(w.year).or_default().insert(w.key, g);
                }
                None => {
                    if let Some(y) = inner.years.get_mut(&w.year) {
                        y.remove(&w.key);
                        if y.is_empty() {
                            inner.years.remove(&w.year);
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::check::merge_entries;
    use crate::store::{keys, AgentRec, Hub, Overlay};
    use baobi_proto::view::RecordState;
    use baobi_proto::wire::{
        Body, Correction, Date, Dot, Entry, Hlc, MarketSurvey, Op, OutletDef, OutletKind,
        RetailSurvey, Retraction, Round,
    };
    use baobi_proto::Keypair;

    use crate::testkit::{enroll_as, hub};

    /// Huyện Lai Vung's office: it covers communes 30226 and 30208.
    fn district(hub: &Hub, k: &Keypair) -> AgentRec {
        enroll_as(hub, k, "876", "Lai Vung")
    }

    fn outlet(kind: OutletKind, unit: &str) -> Body {
        Body::Outlet(OutletDef {
            kind,
            name: "Chợ Tân Thành".into(),
            unit: unit.into(),
            address: String::new(),
            market_class: (kind == OutletKind::Market).then_some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        })
    }

    fn market(outlet: Dot, unit: &str, date: u32, grams: u32) -> Body {
        Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: unit.into(),
            date: Date(date),
            year: Date(date).year(),
            round: Round::Annual,
            vendors_total: 85,
            vendors_surveyed: 30,
            nonbio_g_per_day: grams,
            eco_g_per_day: None,
            vendors_nonbio: 20,
            vendors_alternatives: None,
            operating_days: Some(30),
            reduction_model: false,
            notes: String::new(),
        })
    }

    fn retail(outlet: Dot, unit: &str, date: u32, bags: u32) -> Body {
        Body::RetailSurvey(RetailSurvey {
            outlet,
            kind: OutletKind::Supermarket,
            unit: unit.into(),
            date: Date(date),
            year: Date(date).year(),
            gives_nonbio: bags > 0,
            bag_types: String::new(),
            nonbio_bags_per_day: Some(bags),
            eco_bags_per_day: None,
            sells_reusable: None,
            eco_labelled: None,
            notes: String::new(),
        })
    }

    /// What a fresh scan of the store's `g` keys gives, decoded.
    fn scanned(h: &Hub) -> Vec<(Vec<u8>, Group)> {
        h.tree()
            .scan_prefix([b'g'])
            .map(|kv| {
                let (k, v) = kv.unwrap();
                (k.to_vec(), decode_group(&v).unwrap())
            })
            .collect()
    }

    /// The mirror equals a scan of `g`, and the hub's group queries equal per-year scans.
    fn assert_mirrors(h: &Hub) -> Vec<(Vec<u8>, Group)> {
        let scan = scanned(h);
        assert_eq!(h.group_mirror.all(), scan);
        let mut years: Vec<u16> = scan.iter().map(|(k, _)| year_of(k).unwrap()).collect();
        years.dedup();
        for y in years.iter().copied().chain([2019, 2030]) {
            let by_scan: Vec<Group> = h
                .tree()
                .scan_prefix(keys::group_year(y))
                .map(|kv| decode_group(&kv.unwrap().1).unwrap())
                .collect();
            assert_eq!(h.groups(y).unwrap(), by_scan, "year {y}");
        }
        assert_eq!(h.latest_year().unwrap(), years.last().copied());
        scan
    }

    fn head(h: &Hub, record: Dot) -> [u8; 32] {
        let rec: RecordState = h.record(&record).unwrap().unwrap();
        rec.winner().unwrap().hash
    }

    struct Office {
        k: Keypair,
        a: AgentRec,
        seq: u64,
    }

    impl Office {
        fn sign(&mut self, op: Op) -> Entry {
            self.seq += 1;
            self.k.sign_entry(self.seq, Hlc(self.seq), op)
        }
        fn merge(&mut self, h: &Hub, ops: Vec<Op>) -> Vec<Dot> {
            let es: Vec<Entry> = ops.into_iter().map(|op| self.sign(op)).collect();
            assert_eq!(
                merge_entries(h, &self.a, &self.k, &es).unwrap(),
                Ok(es.len() as u64)
            );
            es.iter().map(Entry::dot).collect()
        }
    }

    #[test]
    fn mirror_equals_a_scan_after_merges_moves_retractions_and_reopen() {
        let tmp = tempfile::tempdir().unwrap();
        let before_reopen = {
            let h = hub(tmp.path());
            // Units were merged at init, but no survey yet: no group.
            assert!(assert_mirrors(&h).is_empty());
            let k = Keypair::generate();
            let mut o = Office {
                a: district(&h, &k),
                k,
                seq: 0,
            };
            let d = o.merge(
                &h,
                vec![
                    Op::Record(outlet(OutletKind::Market, "30226")),
                    Op::Record(outlet(OutletKind::Market, "30208")),
                    Op::Record(outlet(OutletKind::Supermarket, "30208")),
                ],
            );
            let (m1, m2, s1) = (d[0], d[1], d[2]);
            let d = o.merge(
                &h,
                vec![
                    Op::Record(market(m1, "30226", 20250312, 9_200)),
                    Op::Record(market(m2, "30208", 20250401, 4_000)),
                    Op::Record(retail(s1, "30208", 20240610, 300)),
                    Op::Record(retail(s1, "30208", 20250610, 0)),
                ],
            );
            let (a, b, c) = (d[0], d[1], d[2]);
            let scan = assert_mirrors(&h);
            assert_eq!(
                scan.len(),
                4,
                "2025: two markets and a shop; 2024: the shop"
            );

            // A correction moves survey `a` to the other market, in the other commune: its old
            // group empties and is deleted.
            let fix = Op::Correct(Correction {
                record: a,
                supersedes: vec![head(&h, a)],
                body: market(m2, "30208", 20250315, 9_000),
            });
            o.merge(&h, vec![fix]);
            let scan = assert_mirrors(&h);
            assert_eq!(scan.len(), 3);
            assert!(h
                .groups(2025)
                .unwrap()
                .iter()
                .all(|(k, _)| k.unit == "30208"));

            // Another moves survey `b` to another year: a new group appears.
            let fix = Op::Correct(Correction {
                record: b,
                supersedes: vec![head(&h, b)],
                body: market(m2, "30208", 20231120, 4_100),
            });
            o.merge(&h, vec![fix]);
            assert_eq!(assert_mirrors(&h).len(), 4);
            assert_eq!(h.latest_year().unwrap(), Some(2025));

            // A retraction empties the shop's 2024 group.
            let gone = Op::Retract(Retraction {
                record: c,
                supersedes: vec![head(&h, c)],
                reason: "nhầm năm".into(),
            });
            o.merge(&h, vec![gone]);
            let scan = assert_mirrors(&h);
            assert_eq!(scan.len(), 3);
            assert!(h.groups(2024).unwrap().is_empty());
            let shop = &h.groups(2025).unwrap()[..];
            assert!(shop
                .iter()
                .any(|(k, g)| k.kind == OutletKind::Supermarket && g.no_nonbio == 1));

            // A refused batch changes nothing.
            let bad = o.k.sign_entry(
                o.seq + 2,
                Hlc(99),
                Op::Record(market(m1, "30226", 20250101, 1)),
            );
            assert!(merge_entries(&h, &o.a, &o.k, &[bad]).unwrap().is_err());
            assert_eq!(assert_mirrors(&h), scan);
            scan
        };
        let h = Hub::open(tmp.path()).unwrap();
        assert_eq!(assert_mirrors(&h), before_reopen);
    }

    #[test]
    fn a_failed_commit_makes_the_next_one_reload_from_sled() {
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let key = |unit: &str| baobi_proto::view::GroupKey {
            year: 2025,
            unit: unit.into(),
            kind: OutletKind::Market,
        };
        let totals = GroupTotals {
            surveys: 1,
            outlets: 1,
            amount: 700,
            no_nonbio: 0,
        };
        // A batch that reached sled although its commit reported an error (its flush failed):
        // the mirror does not know it.
        let lost = key("30226");
        h.tree()
            .insert(keys::group(&lost), wire::encode(&(lost.clone(), totals)))
            .unwrap();
        h.group_mirror.mark_stale();
        assert!(h.groups(2025).unwrap().is_empty());
        // The next commit reloads, so its own group and the earlier one both show.
        let next = key("30208");
        let mut ov = Overlay::new(h.tree());
        ov.put(keys::group(&next), wire::encode(&(next.clone(), totals)));
        let _g = h.lock();
        h.commit(ov).unwrap();
        assert_eq!(assert_mirrors(&h).len(), 2);
    }

    #[test]
    fn a_group_that_does_not_decode_writes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let h = hub(tmp.path());
        let key = baobi_proto::view::GroupKey {
            year: 2025,
            unit: "30226".into(),
            kind: OutletKind::Market,
        };
        let mut ov = Overlay::new(h.tree());
        ov.put(keys::meta("probe"), b"x".to_vec());
        ov.put(keys::group(&key), vec![0xff; 3]);
        let _g = h.lock();
        assert!(matches!(h.commit(ov), Err(Error::Corrupt(_))));
        assert!(h.tree().get(keys::meta("probe")).unwrap().is_none());
        assert!(assert_mirrors(&h).is_empty());
    }
}
