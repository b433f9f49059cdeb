//! No `r` key for a record that is only its creating entry (issue 13 goals 2 and 3): most records are
//! never corrected, retracted or in conflict, and their state is a function of one entry the log
//! already holds (one version: the entry's clock and body, superseding nothing). Only the others keep
//! an `r` row; a record without one is read from its entry in the log (`blocks.rs`).
//!
//! Everything that reads records goes through here or through the merge's `Overlay` (`derived.rs`):
//! [`Hub::record`], [`Hub::records_iter`] (the `r` rows and the log's creating entries merged in id
//! order), the indicator facts (`facts/`) and `verify`. A store whose `r` keys include plain
//! records (made before this) has those removed once at open (meta [`META_PLAIN`]).

use super::*;

/// The meta key set once the `r` keys hold only records that are more than their creating entry.
pub const META_PLAIN: &str = "plain_records";

/// True when `rec` is exactly what its creating entry alone makes: then no `r` key is kept for it.
pub fn is_plain(rec: &RecordState) -> bool {
    matches!(rec.versions.as_slice(), [v] if v.supersedes.is_empty()
        && v.version.dot == rec.id
        && matches!(v.version.value, view::Value::Body(_)))
}

/// The record entry `e` creates alone, if it creates one.
pub fn of_entry(e: &Entry) -> Option<RecordState> {
    let body = match &e.op {
        Op::Record(b) | Op::Created(wire::Created { body: b, .. }) => b,
        _ => return None,
    };
    Some(RecordState {
        id: e.dot(),
        versions: vec![view::StoredVersion {
            supersedes: vec![],
            version: view::Version {
                dot: e.dot(),
                hlc: e.hlc,
                value: view::Value::Body(body.clone()),
            },
        }],
    })
}

impl Hub {
    /// A stored record: its `r` row, or the record its creating entry makes alone.
    pub fn record(&self, id: &Dot) -> Result<Option<RecordState>> {
        if let Some(v) = self.tree.get(keys::record(id))? {
            return dec("record", &v).map(Some);
        }
        Ok(blocks::read_entry(
            |k| Ok(self.tree.get(k)?.map(|v| v.to_vec())),
            &id.author,
            id.seq,
        )?
        .as_ref()
        .and_then(of_entry))
    }

    /// Every record, in id order.
    pub fn records(&self) -> Result<Vec<RecordState>> {
        self.records_iter().collect()
    }

    /// Every record, decoded one at a time in id order as the tree is read (`records --json` streams
    /// them instead of holding them all): the `r` rows and the log's creating entries, merged.
    pub fn records_iter(&self) -> impl Iterator<Item = Result<RecordState>> + '_ {
        Records {
            rows: self.tree.scan_prefix([b'r']).peekable(),
            blocks: self.tree.scan_prefix([b'B']),
            pending: std::collections::VecDeque::new(),
            failed: false,
        }
    }
}

struct Records {
    rows: std::iter::Peekable<sled::Iter>,
    blocks: sled::Iter,
    /// The creating entries of the last block read, not yet yielded.
    pending: std::collections::VecDeque<RecordState>,
    failed: bool,
}

impl Records {
    fn fill(&mut self) -> Result<()> {
        while self.pending.is_empty() {
            let Some(kv) = self.blocks.next() else {
                return Ok(());
            };
            let (k, v) = kv?;
            let (a, n) =
                blocks::parse_key(&k).ok_or_else(|| Error::Corrupt("entry block key".into()))?;
            let b = blocks::Block::decode(&v)?;
            self.pending
                .extend(b.entries(&a, n).filter_map(|e| of_entry(&e)));
        }
        Ok(())
    }

    fn next_record(&mut self) -> Result<Option<RecordState>> {
        self.fill()?;
        let row = match self.rows.peek() {
            Some(Ok((k, _))) => k.get(1..).and_then(dot_of),
            Some(Err(_)) => {
                let e = self.rows.next().and_then(|r| r.err());
                return Err(e.map_or_else(|| Error::Corrupt("record key".into()), Into::into));
            }
            None => None,
        };
        let derived = self.pending.front().map(|r| r.id);
        match (row, derived) {
            (None, None) => Ok(None),
            (Some(r), d) if d.is_none_or(|d| r <= d) => {
                if d == Some(r) {
                    self.pending.pop_front();
                }
                let (_, v) = self
                    .rows
                    .next()
                    .transpose()?
                    .ok_or_else(|| Error::Corrupt("record".into()))?;
                dec("record", &v).map(Some)
            }
            _ => Ok(self.pending.pop_front()),
        }
    }
}

/// The dot of a `r` key's tail (author, seq).
fn dot_of(k: &[u8]) -> Option<Dot> {
    Some(Dot {
        author: AuthorId(k.get(..32)?.try_into().ok()?),
        seq: u64::from_be_bytes(k.get(32..40)?.try_into().ok()?),
    })
}

impl Iterator for Records {
    type Item = Result<RecordState>;
    fn next(&mut self) -> Option<Result<RecordState>> {
        if self.failed {
            return None;
        }
        match self.next_record() {
            Ok(r) => r.map(Ok),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }
}

/// Removes the `r` rows of plain records from a store made before they were left out, once (meta
/// [`META_PLAIN`] set in the same batch). Returns how many were removed.
pub(crate) fn convert(db: &baobi_storage::Db) -> Result<u64> {
    if db.get(keys::meta(META_PLAIN))?.is_some() {
        return Ok(0);
    }
    let mut b = sled::Batch::default();
    let mut n = 0u64;
    let mut log = blocks::Reader::default();
    for kv in db.scan_prefix([b'r']) {
        let (k, v) = kv?;
        let rec: RecordState = dec("record", &v)?;
        if is_plain(&rec) {
            // Only when the log holds the entry it is derived from (else the row is all there is).
            let held = log.entry(db, &rec.id)?;
            if held.as_ref().and_then(of_entry).as_ref() == Some(&rec) {
                b.remove(k);
                n += 1;
            }
        }
    }
    b.insert(keys::meta(META_PLAIN), &b"1"[..]);
    db.apply_batch(b)?;
    db.flush()?;
    if n > 0 {
        tracing::info!(
            records = n,
            "plain records' rows removed (read from their entries)"
        );
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::view::MemTables;
    use baobi_proto::wire::{Body, Correction, MarketSurvey, OutletDef, OutletKind, Round};
    use baobi_proto::Keypair;

    use crate::check::merge_entries;
    use crate::testkit::{enroll, hub};

    fn outlet(name: &str) -> Op {
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: name.into(),
            unit: "30226".into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        }))
    }

    fn survey(outlet: Dot, g: u32) -> Body {
        Body::MarketSurvey(MarketSurvey {
            outlet,
            unit: "30226".into(),
            date: Date(20250312),
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
        })
    }

    /// Every record as the view makes it from the entries alone (proto's in-memory tables).
    fn from_scratch(h: &Hub) -> Vec<RecordState> {
        let mut t = MemTables::new();
        for e in blocks::all_entries(h.tree()) {
            view::apply(&mut t, &e.unwrap());
        }
        t.records.into_values().collect()
    }

    fn rows(h: &Hub) -> Vec<Dot> {
        h.tree()
            .scan_prefix([b'r'])
            .map(|kv| dot_of(&kv.unwrap().0[1..]).unwrap())
            .collect()
    }

    /// A hub with two offices: outlets and surveys, one survey corrected (in the same batch as its
    /// creation) and one in a later batch.
    fn busy(dir: &std::path::Path) -> (Hub, Vec<Dot>) {
        let h = hub(dir);
        let mut corrected = vec![];
        for n in 0..2u64 {
            let k = Keypair::generate();
            let a = enroll(&h, &k, "30226");
            let o = k.sign_entry(1, Hlc(1), outlet(&format!("Chợ số {n}")));
            let mut es = vec![o.clone()];
            for s in 2..=70 {
                es.push(k.sign_entry(s, Hlc(s), Op::Record(survey(o.dot(), s as u32 * 10))));
            }
            let fix = |seq: u64, of: &Entry, g| {
                let Op::Record(b) = &of.op else {
                    unreachable!()
                };
                let head = RecordState::hash_of(&view::StoredVersion {
                    supersedes: vec![],
                    version: view::Version {
                        dot: of.dot(),
                        hlc: of.hlc,
                        value: view::Value::Body(b.clone()),
                    },
                });
                k.sign_entry(
                    seq,
                    Hlc(seq),
                    Op::Correct(Correction {
                        record: of.dot(),
                        supersedes: vec![head],
                        body: survey(o.dot(), g),
                    }),
                )
            };
            es.push(fix(71, &es[3], 7));
            corrected.push(es[3].dot());
            assert_eq!(merge_entries(&h, &a, &k, &es).unwrap(), Ok(71));
            let later = fix(72, &es[60], 9);
            corrected.push(es[60].dot());
            assert_eq!(merge_entries(&h, &a, &k, &[later]).unwrap(), Ok(1));
        }
        corrected.sort();
        (h, corrected)
    }

    #[test]
    fn only_records_more_than_their_entry_keep_a_row() {
        let tmp = tempfile::tempdir().unwrap();
        let (h, corrected) = busy(tmp.path());
        assert_eq!(rows(&h), corrected, "rows only for the corrected records");
        let all = h.records().unwrap();
        assert_eq!(all, from_scratch(&h));
        assert_eq!(all.len(), 140, "2 offices × (1 outlet + 69 surveys)");
        for r in &all {
            assert_eq!(h.record(&r.id).unwrap().as_ref(), Some(r));
        }
        let me = h.keypair().author();
        assert!(
            h.record(&Dot { author: me, seq: 1 }).unwrap().is_none(),
            "a unit is no record"
        );
        assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
    }

    #[test]
    fn a_store_with_rows_for_plain_records_has_them_removed_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        let (h, corrected) = busy(tmp.path());
        let want = h.records().unwrap();
        // As a store made before: every record a row, and no meta.
        let t = h.tree();
        for r in &want {
            t.insert(keys::record(&r.id), wire::encode(r)).unwrap();
        }
        t.remove(keys::meta(META_PLAIN)).unwrap();
        h.flush().unwrap();
        drop(h);
        let h = Hub::open(tmp.path()).unwrap();
        assert_eq!(rows(&h), corrected);
        assert_eq!(h.records().unwrap(), want);
        assert!(crate::verify::run(&h, &mut |_| {}).unwrap().ok);
    }
}
