//! The standby's part of the store, kept apart from the registry it mirrors: on the primary, standby
//! tokens and the standby hubs recorded at their first contact (`S` prefix); on a standby, its role
//! and the primary it follows (meta), the registry of offices copied from the primary, and the merge
//! of the runs the follow session receives: every office's run checked as the primary checked it
//! (seal, contiguity, link, operation, jurisdiction) and the primary's own runs accepted under the
//! primary's key, all in one atomic batch flushed before the session acknowledges it.

use baobi_proto::identity::PeerPin;
use baobi_proto::standby::{OfficeRow, Registry, RelayWord, RelayWords, StandbyWelcome};
use baobi_proto::wire::{OfficeUnits, Refusal, RefusalCode};

use super::*;

/// The author whose 32 bytes start at `at` in `k`.
fn author_at(k: &[u8], at: usize) -> Option<AuthorId> {
    k.get(at..at + 32)?.try_into().ok().map(AuthorId)
}

/// Meta: `standby` while following, `primary` after `promote` (absent: a primary from its `init`).
pub const META_ROLE: &str = "role";
/// Meta: the followed primary's address.
pub const META_PRIMARY_ADDR: &str = "primary_addr";
/// Meta: the followed primary's certificate fingerprint (hex): the standby's pin.
pub const META_PRIMARY_FP: &str = "primary_fp";
/// Meta: the followed primary's author key (hex): its entries are accepted as the primary's.
pub const META_PRIMARY_AUTHOR: &str = "primary_author";

/// A standby token as the primary keeps it (only the secret's hash is the key).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StandbyTokenRec {
    /// Created at (Unix seconds).
    pub created_at: i64,
    /// Expires at (Unix seconds).
    pub expires_at: i64,
    /// The standby that spent it.
    pub used_by: Option<AuthorId>,
}

/// A kind of hub that may follow this one (a standby, a national hub), as its tokens and records
/// are kept; their first contact is the same, only the keys and the words differ.
pub(super) struct Follower {
    /// Where its one-time tokens are kept, by the secret's hash.
    pub token_key: fn(&[u8; 32]) -> Vec<u8>,
    /// Where a recorded follower is kept, by its certificate's fingerprint.
    pub rec_key: fn(&[u8; 32]) -> Vec<u8>,
    /// "máy chủ dự phòng" (after "mã").
    pub vi: &'static str,
    /// "standby token".
    pub en: &'static str,
}

/// A standby (`S t`, `S s`).
pub(super) const STANDBY: Follower = Follower {
    token_key: keys::standby_token,
    rec_key: keys::standby,
    vi: "máy chủ dự phòng",
    en: "standby token",
};

/// A standby hub as the primary records it at its first contact.
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct StandbyRec {
    /// Its author key.
    pub author: AuthorId,
    /// SHA-256 of its certificate: how the primary recognises it from then on.
    pub cert_fp: [u8; 32],
    /// Where offices reach it.
    pub addr: String,
    /// Recorded at (Unix seconds).
    pub enrolled_at: i64,
}

/// What a hub is: the primary (or a promoted standby), or a standby following a primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Serves offices and is followed.
    Primary,
    /// Follows the primary at `pin`, whose entries are authored by `author`.
    Standby {
        /// The primary's address and certificate fingerprint.
        pin: PeerPin,
        /// The primary's author key.
        author: AuthorId,
    },
}

fn hex32(what: &str, s: &str) -> Result<[u8; 32]> {
    data_encoding::HEXLOWER
        .decode(s.as_bytes())
        .ok()
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| Error::Corrupt(format!("meta '{what}'")))
}

impl Hub {
    /// Creates a standby's store in `dir` with its own `keypair` and `cert_der` (already presented
    /// to the primary), the province the primary named, and the primary's pin. No entries: the
    /// follow session brings the primary's units and everything else.
    pub fn init_standby(
        dir: &Path,
        keypair: &Keypair,
        cert_der: &[u8],
        welcome: &StandbyWelcome,
        primary: &PeerPin,
    ) -> Result<Hub> {
        if dir.join("db").exists() || dir.join("conf").exists() {
            return Err(Error::Invalid(format!(
                "{} already holds a hub store / đã có dữ liệu máy chủ",
                dir.display()
            )));
        }
        std::fs::create_dir_all(dir)?;
        let db = open_db(dir)?;
        let mut b = sled::Batch::default();
        b.insert(keys::meta("province"), welcome.province.as_bytes());
        b.insert(
            keys::meta("province_name"),
            baobi_proto::validate::nfc(&welcome.province_name).as_bytes(),
        );
        b.insert(keys::meta("secret"), keypair.secret().to_vec());
        b.insert(keys::meta(facts::META_FACTS), &b"1"[..]);
        b.insert(keys::meta("cert"), cert_der.to_vec());
        b.insert(keys::meta("lineage"), welcome.lineage_csv.as_bytes());
        b.insert(keys::meta(META_ROLE), &b"standby"[..]);
        b.insert(keys::meta(META_PRIMARY_ADDR), primary.addr.as_bytes());
        b.insert(
            keys::meta(META_PRIMARY_FP),
            data_encoding::HEXLOWER
                .encode(&primary.fingerprint)
                .as_bytes(),
        );
        b.insert(
            keys::meta(META_PRIMARY_AUTHOR),
            welcome.hub_author.hex().as_bytes(),
        );
        db.apply_batch(b)?;
        db.flush()?;
        Hub::from_db(dir, db)
    }

    /// This hub's role.
    pub fn role(&self) -> Result<Role> {
        if self.meta(META_ROLE)?.as_deref() != Some("standby") {
            return Ok(Role::Primary);
        }
        let get = |n: &str| -> Result<String> {
            self.meta(n)?
                .ok_or_else(|| Error::Corrupt(format!("meta '{n}' missing")))
        };
        Ok(Role::Standby {
            pin: PeerPin {
                addr: get(META_PRIMARY_ADDR)?,
                fingerprint: hex32(META_PRIMARY_FP, &get(META_PRIMARY_FP)?)?,
            },
            author: AuthorId(hex32(META_PRIMARY_AUTHOR, &get(META_PRIMARY_AUTHOR)?)?),
        })
    }

    /// The author of the primary this hub follows or followed before its promotion: its entries
    /// are the province's hub entries here too (offices hand them back, are sent them, and they are
    /// never taken for an office's).
    pub fn followed_primary(&self) -> Result<Option<AuthorId>> {
        match self.meta(META_PRIMARY_AUTHOR)? {
            Some(h) => Ok(Some(AuthorId(hex32(META_PRIMARY_AUTHOR, &h)?))),
            None => Ok(None),
        }
    }

    /// Makes a standby the primary (`promote`): it stops following. The followed primary's author
    /// stays known. Returns false when the hub was not a standby (nothing changes).
    pub fn promote(&self) -> Result<bool> {
        let _g = self.lock();
        if self.meta(META_ROLE)?.as_deref() != Some("standby") {
            return Ok(false);
        }
        self.tree
            .insert(keys::meta("promoted_at"), now_secs().to_string().as_bytes())?;
        self.tree.insert(keys::meta(META_ROLE), &b"primary"[..])?;
        self.tree.flush()?;
        Ok(true)
    }

    /// Issues a one-time standby token valid `ttl_secs` seconds for a standby reaching this hub at
    /// `addr`.
    pub fn issue_standby_token(&self, addr: &str, ttl_secs: u64) -> Result<(Token, i64)> {
        self.issue_follower_token(&STANDBY, addr, ttl_secs)
    }

    /// Redeems a standby token (the caller checked the proof): records the standby's certificate.
    /// The same standby presenting its spent token again is answered again (its first answer may
    /// have been lost); anything else is refused with the reason.
    pub fn redeem_standby(
        &self,
        secret: &[u8; 16],
        author: AuthorId,
        cert_fp: [u8; 32],
        addr: &str,
    ) -> Result<std::result::Result<StandbyRec, String>> {
        Ok(self
            .redeem_follower(&STANDBY, secret, author, cert_fp, addr)?
            .unwrap_or_else(|| {
                Err("mã máy chủ dự phòng không tồn tại / unknown standby token".into())
            }))
    }

    /// A one-time token for a hub of `kind` that will follow this one.
    pub(super) fn issue_follower_token(
        &self,
        kind: &Follower,
        addr: &str,
        ttl_secs: u64,
    ) -> Result<(Token, i64)> {
        let secret = random_secret();
        let now = now_secs();
        let rec = StandbyTokenRec {
            created_at: now,
            expires_at: now + ttl_secs.min(365 * 24 * 3600) as i64,
            used_by: None,
        };
        let _g = self.lock();
        self.tree.insert(
            (kind.token_key)(&Token::secret_hash(&secret)),
            wire::encode(&rec),
        )?;
        self.tree.flush()?;
        Ok((
            Token {
                addr: addr.to_string(),
                hub_fingerprint: self.fingerprint(),
                secret,
                standby: None,
                relay: None,
            },
            rec.expires_at,
        ))
    }

    /// Redeems a token of `kind`: `None` when the secret is not one here, else the follower
    /// recorded (or answered again: the same key presenting its spent token) or why not.
    pub(super) fn redeem_follower(
        &self,
        kind: &Follower,
        secret: &[u8; 16],
        author: AuthorId,
        cert_fp: [u8; 32],
        addr: &str,
    ) -> Result<Option<std::result::Result<StandbyRec, String>>> {
        let _g = self.lock();
        let tkey = (kind.token_key)(&Token::secret_hash(secret));
        let Some(raw) = self.tree.get(&tkey)? else {
            return Ok(None);
        };
        let refused = |why_vi: &str, why_en: &str| {
            Ok(Some(Err(format!(
                "mã {} {why_vi} / {} {why_en}",
                kind.vi, kind.en
            ))))
        };
        let mut tok: StandbyTokenRec = dec(kind.en, &raw)?;
        if let Some(by) = tok.used_by {
            if by == author {
                if let Some(v) = self.tree.get((kind.rec_key)(&cert_fp))? {
                    return Ok(Some(Ok(dec(kind.en, &v)?)));
                }
            }
            return refused("đã được dùng", "already used");
        }
        if tok.expires_at <= now_secs() {
            return refused("đã hết hạn", "expired");
        }
        if author == self.keypair.author() || self.tree.get(keys::fp(&cert_fp))?.is_some() {
            return Ok(Some(Err(
                "khóa này đã đăng ký / this key is already enrolled".into(),
            )));
        }
        tok.used_by = Some(author);
        let rec = StandbyRec {
            author,
            cert_fp,
            addr: addr.to_string(),
            enrolled_at: now_secs(),
        };
        let mut b = sled::Batch::default();
        b.insert(tkey, wire::encode(&tok));
        b.insert((kind.rec_key)(&cert_fp), wire::encode(&rec));
        self.tree.apply_batch(b)?;
        self.tree.flush()?;
        Ok(Some(Ok(rec)))
    }

    /// The standby whose certificate has this fingerprint.
    pub fn standby_by_fp(&self, fp: &[u8; 32]) -> Result<Option<StandbyRec>> {
        self.tree
            .get(keys::standby(fp))?
            .map(|v| dec("standby", &v))
            .transpose()
    }

    /// Every standby recorded here.
    pub fn standbys(&self) -> Result<Vec<StandbyRec>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([b'S', b's']) {
            out.push(dec("standby", &kv?.1)?);
        }
        out.sort_by_key(|r: &StandbyRec| r.enrolled_at);
        Ok(out)
    }

    /// The standby offices' tokens name: the latest recorded, while this hub is a primary.
    pub fn standby_pin(&self) -> Result<Option<PeerPin>> {
        if !matches!(self.role()?, Role::Primary) {
            return Ok(None);
        }
        Ok(self.standbys()?.pop().map(|r| PeerPin {
            addr: r.addr,
            fingerprint: r.cert_fp,
        }))
    }

    /// The registry of enrolled offices, for a standby.
    pub fn registry(&self) -> Result<Registry> {
        let mut offices = vec![];
        for a in self.agents()? {
            let office = match self.tree.get(keys::office(&a.author))? {
                Some(v) => Some(dec::<OfficeUnits>("office", &v)?),
                None => None,
            };
            offices.push(OfficeRow {
                replaced_by: self.replaced_by(&a.author)?,
                author: a.author,
                cert_fp: a.cert_fp,
                unit: a.unit,
                label: a.label,
                enrolled_at: a.enrolled_at,
                revoked: a.revoked,
                office,
            });
        }
        Ok(Registry { offices })
    }

    /// Takes the primary's registry (a standby only): new offices are added, known ones updated
    /// (a revocation is kept even if the row says otherwise); this hub's own counters stay. One
    /// atomic batch, flushed. Returns how many rows changed.
    pub fn import_registry(&self, reg: &Registry) -> Result<usize> {
        let _g = self.lock();
        let mut b = sled::Batch::default();
        let mut changed = 0;
        for row in &reg.offices {
            let old = self.agent(&row.author)?;
            if let Some(o) = &old {
                if o.cert_fp != row.cert_fp {
                    tracing::warn!(office = %row.author.short(),
                        "the primary's registry names another certificate for a known office; kept ours");
                    continue;
                }
            }
            let rec = AgentRec {
                author: row.author,
                cert_fp: row.cert_fp,
                unit: row.unit.clone(),
                label: row.label.clone(),
                enrolled_at: row.enrolled_at,
                revoked: row.revoked || old.as_ref().is_some_and(|o| o.revoked),
                last_sync: old.as_ref().and_then(|o| o.last_sync),
                entries_received: old.as_ref().map_or(0, |o| o.entries_received),
            };
            let office_now = match self.tree.get(keys::office(&row.author))? {
                Some(v) => Some(dec::<OfficeUnits>("office", &v)?),
                None => None,
            };
            let same = old.as_ref() == Some(&rec)
                && (row.office.is_none() || row.office == office_now)
                && (row.replaced_by.is_none() || self.replaced_by(&row.author)? == row.replaced_by);
            if same {
                continue;
            }
            changed += 1;
            b.insert(keys::agent(&row.author), wire::encode(&rec));
            b.insert(keys::fp(&row.cert_fp), row.author.0.to_vec());
            if let Some(o) = &row.office {
                b.insert(keys::office(&row.author), wire::encode(o));
            }
            if let Some(n) = row.replaced_by {
                b.insert(keys::retired(&row.author), n.0.to_vec());
            }
        }
        if changed > 0 {
            self.tree.apply_batch(b)?;
            self.tree.flush()?;
        }
        Ok(changed)
    }

    /// The operator's words on relays (`Q relay office` → 1 allow / 0 deny), for a standby.
    pub fn relay_words(&self) -> Result<RelayWords> {
        let mut words = vec![];
        for kv in self.tree.scan_prefix([b'Q']) {
            let (k, v) = kv?;
            let (Some(relay), Some(office)) = (author_at(&k, 1), author_at(&k, 33)) else {
                return Err(Error::Corrupt("relay word key".into()));
            };
            if k.len() != 65 {
                return Err(Error::Corrupt("relay word key".into()));
            }
            words.push(RelayWord {
                relay,
                office,
                allow: v.as_ref() == [1],
            });
        }
        Ok(RelayWords { words })
    }

    /// Takes the primary's relay words (a standby only): afterwards this hub holds exactly them.
    /// One atomic batch, flushed when anything changed. Returns how many words changed.
    pub fn import_relay_words(&self, words: &RelayWords) -> Result<usize> {
        let _g = self.lock();
        let theirs: BTreeMap<Vec<u8>, u8> = words
            .words
            .iter()
            .map(|w| (keys::relay_carry(&w.relay, &w.office), u8::from(w.allow)))
            .collect();
        let mut b = sled::Batch::default();
        let mut changed = 0;
        for kv in self.tree.scan_prefix([b'Q']) {
            let (k, _) = kv?;
            if !theirs.contains_key(k.as_ref()) {
                b.remove(k);
                changed += 1;
            }
        }
        for (k, v) in &theirs {
            if self.tree.get(k)?.as_deref() != Some(&[*v][..]) {
                b.insert(k.as_slice(), &[*v]);
                changed += 1;
            }
        }
        if changed > 0 {
            self.tree.apply_batch(b)?;
            self.tree.flush()?;
        }
        Ok(changed)
    }

    /// Checks and merges a batch of runs received while following `primary`: the primary's runs
    /// under its key (they carry units, plans, reviews and offices' jurisdictions), every other
    /// run as the primary checked it from its office (an office this hub's registry does not hold
    /// is refused). Either every new entry is stored durably or nothing is.
    pub fn merge_followed(
        &self,
        primary: &AuthorId,
        runs: &[Run],
    ) -> Result<std::result::Result<u64, Refusal>> {
        // Units the primary's runs register must be known before the offices' entries naming them
        // are judged: those runs go first, as their own commit (resending is harmless).
        let units_first = runs
            .iter()
            .any(|r| r.author == *primary && r.items.iter().any(|i| matches!(i.op, Op::Unit(_))));
        if units_first && runs.iter().any(|r| r.author != *primary) {
            let (own, others): (Vec<Run>, Vec<Run>) =
                runs.iter().cloned().partition(|r| r.author == *primary);
            let n = match self.merge_followed_batch(primary, &own)? {
                Ok(n) => n,
                Err(r) => return Ok(Err(r)),
            };
            return Ok(self.merge_followed_batch(primary, &others)?.map(|m| n + m));
        }
        self.merge_followed_batch(primary, runs)
    }

    fn merge_followed_batch(
        &self,
        primary: &AuthorId,
        runs: &[Run],
    ) -> Result<std::result::Result<u64, Refusal>> {
        let refuse = |code, message: String| Ok(Err(Refusal { code, message }));
        let _g = self.lock();
        let units = self.units();
        let mut ov = Overlay::new(&self.tree);
        let mut new = 0u64;
        let mut units_changed = false;
        for run in runs {
            let span = format!("{}-{}..{}", run.author.short(), run.from, run.last());
            let Some(opened) = run.open() else {
                return refuse(
                    RefusalCode::BadSignature,
                    format!("entries {span}: the run's signature does not verify"),
                );
            };
            let have = ov.seq(&run.author);
            if run.from > have + 1 {
                return refuse(
                    RefusalCode::InvalidEntry,
                    format!("entries {span}: gap after seq {have}"),
                );
            }
            if ov.link(&run.author, run.from - 1)? != run.prev {
                return refuse(
                    RefusalCode::InvalidEntry,
                    format!("entries {span}: the chain does not follow the log held"),
                );
            }
            let office = if run.author == *primary {
                None
            } else {
                let Some(agent) = self.agent(&run.author)? else {
                    return refuse(
                        RefusalCode::NotEnrolled,
                        format!("entries {span}: not an office of the registry held"),
                    );
                };
                let o = crate::office::office(self, &agent)?;
                Some((agent, o))
            };
            let mut fresh = false;
            for (e, link) in &opened {
                match &office {
                    None => {
                        if e.seq <= have {
                            if ov.link(&e.author, e.seq).ok() != Some(*link) {
                                return refuse(
                                    RefusalCode::InvalidEntry,
                                    format!("hub entry {}: differs from the one held", e.dot()),
                                );
                            }
                            continue;
                        }
                        if matches!(e.op, Op::Elided(_)) {
                            return refuse(
                                RefusalCode::InvalidEntry,
                                format!("hub entry {}: a placeholder is not an entry", e.dot()),
                            );
                        }
                        if let Op::Office(o) = &e.op {
                            ov.put(keys::office(&o.office), wire::encode(o));
                        }
                        units_changed |= matches!(e.op, Op::Unit(_));
                    }
                    Some((agent, o)) => {
                        match crate::check::check_entry(&units, &mut ov, agent, o, e, link) {
                            Ok(false) => continue,
                            Ok(true) => {}
                            Err(r) => return Ok(Err(r)),
                        }
                    }
                }
                view::apply(&mut ov, e);
                ov.put_entry(e, link);
                ov.put(keys::seq(&e.author), e.seq.to_be_bytes().to_vec());
                new += 1;
                fresh = true;
            }
            if fresh {
                ov.put(keys::head(&run.author, run.last()), run.head.0.to_vec());
            }
        }
        if new > 0 {
            self.commit(ov)?;
            if units_changed {
                self.reload_units()?;
            }
        } else if let Some(e) = ov.error() {
            return Err(Error::Corrupt(e.to_string()));
        }
        Ok(Ok(new))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::wire::{Body, OutletDef, OutletKind};

    use crate::testkit::{enroll, hub, standby_of};

    fn outlet(unit: &str, name: &str) -> Op {
        Op::Record(Body::Outlet(OutletDef {
            kind: OutletKind::Market,
            name: name.into(),
            unit: unit.into(),
            address: String::new(),
            market_class: Some(3),
            certifications: vec![],
            opened: None,
            closed: None,
        }))
    }

    /// A primary with one office that wrote `n` outlets, and a standby of it (its registry taken).
    fn pair(dir: &Path, n: u64) -> (Hub, Hub, Keypair) {
        let primary = hub(&dir.join("p"));
        let k = Keypair::generate();
        let a = enroll(&primary, &k, "30226");
        let a = crate::office::settle(&primary, &a).unwrap();
        let entries: Vec<Entry> = (1..=n)
            .map(|s| k.sign_entry(s, Hlc(s), outlet("30226", &format!("Chợ {s}"))))
            .collect();
        crate::check::merge_entries(&primary, &a, &k, &entries)
            .unwrap()
            .unwrap();
        let standby = standby_of(&primary, &dir.join("s"));
        assert!(
            standby
                .import_registry(&primary.registry().unwrap())
                .unwrap()
                > 0
        );
        (primary, standby, k)
    }

    /// Every run the primary would send a follower, its own log first.
    fn runs(primary: &Hub) -> Vec<Run> {
        let me = primary.keypair().author();
        let mut s: Vec<(AuthorId, u64)> = primary.summary().unwrap().to_wire().0;
        s.sort_by_key(|(a, _)| *a != me);
        s.into_iter()
            .map(|(a, n)| primary.run(&a, 1, n, 100_000).unwrap().unwrap())
            .collect()
    }

    #[test]
    fn a_standby_takes_the_primarys_runs_and_verifies_clean() {
        let dir = tempfile::tempdir().unwrap();
        let (primary, standby, _) = pair(dir.path(), 5);
        let primary_author = primary.keypair().author();
        assert!(
            matches!(standby.role().unwrap(), Role::Standby { author, .. } if author == primary_author)
        );
        let n = standby
            .merge_followed(&primary_author, &runs(&primary))
            .unwrap()
            .unwrap();
        assert_eq!(
            n,
            primary
                .summary()
                .unwrap()
                .to_wire()
                .0
                .iter()
                .map(|(_, s)| s)
                .sum::<u64>()
        );
        assert_eq!(standby.summary().unwrap(), primary.summary().unwrap());
        assert_eq!(standby.records().unwrap(), primary.records().unwrap());
        assert_eq!(standby.units().len(), primary.units().len());
        // Again: nothing new, nothing refused.
        assert_eq!(
            standby
                .merge_followed(&primary_author, &runs(&primary))
                .unwrap(),
            Ok(0)
        );
        let report = crate::verify::run(&standby, &mut |_| {}).unwrap();
        assert!(report.ok, "{:?}", report.problems);
        assert!(standby.promote().unwrap());
        assert_eq!(standby.role().unwrap(), Role::Primary);
        assert!(!standby.promote().unwrap());
    }

    #[test]
    fn an_altered_run_or_an_office_outside_the_registry_is_refused_and_nothing_is_stored() {
        let dir = tempfile::tempdir().unwrap();
        let (primary, standby, k) = pair(dir.path(), 3);
        let primary_author = primary.keypair().author();
        let mut all = runs(&primary);
        // The primary's own log first, so units are known.
        standby
            .merge_followed(&primary_author, &all[..1])
            .unwrap()
            .unwrap();
        let before = standby.summary().unwrap();
        // One byte of the office's run altered: the seal no longer verifies.
        let mut office = all.pop().unwrap();
        assert_eq!(office.author, k.author());
        let mut bad = office.clone();
        bad.items[1].hlc = Hlc(bad.items[1].hlc.0 + 1);
        let r = standby.merge_followed(&primary_author, &[bad]).unwrap();
        assert_eq!(r.unwrap_err().code, RefusalCode::BadSignature);
        assert_eq!(standby.summary().unwrap(), before);
        // An office the standby's registry does not hold.
        let stranger = Keypair::generate();
        let e = stranger.sign_entry(1, Hlc(1), outlet("30226", "Chợ lạ"));
        let (run, _) = Run::seal(&stranger, chain::genesis(&stranger.author()), &[e]).unwrap();
        let r = standby.merge_followed(&primary_author, &[run]).unwrap();
        assert_eq!(r.unwrap_err().code, RefusalCode::NotEnrolled);
        // A run claimed as the primary's but sealed by someone else.
        office.author = primary_author;
        let r = standby.merge_followed(&primary_author, &[office]).unwrap();
        assert!(r.is_err());
        assert_eq!(standby.summary().unwrap(), before);
    }
}
