//! The hub's local registry: enrolled offices, their certificate fingerprints, enrollment and restore
//! tokens, retired authors, clock flags and meta, and which offices' logs each office sees (scope).
//! Not replicated: it is this hub's own, kept in backups.

use super::*;

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
    /// The version's validity (", từ/from 2025-07-01"; empty when open on both ends).
    pub validity: String,
    /// Expiry (Unix seconds).
    pub expires_at: i64,
}

impl Hub {
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
        // `CODE` is the version in force today (else the latest), `CODE@DATE` the one of that date;
        // the token keeps which (`CODE@valid_from`), the office's jurisdiction is set from it.
        let (unit_name, validity, spec) = self.with_units(|u| {
            let def = u
                .pick_version(unit, crate::indicators::today())
                .map_err(|e| Error::Invalid(e.to_string()))?;
            let unit = def.code.as_str();
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
            let spec = match def.valid_from {
                Some(f) => format!("{unit}@{f}"),
                None => unit.to_string(),
            };
            Ok((def.name.clone(), baobi_proto::office::validity(def), spec))
        })?;
        let secret = random_secret();
        let now = now_secs();
        let rec = TokenRec {
            unit: spec.clone(),
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
                standby: self.standby_pin()?,
                relay: None,
            },
            unit: spec.split('@').next().unwrap_or_default().to_string(),
            unit_name,
            validity,
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
            // A standby (following or promoted) never holds the primary's tokens.
            if self.followed_primary()?.is_some() {
                return Ok(Err(
                    "mã đăng ký không có ở máy chủ này: mã do máy chủ chính cấp không được sao chép \
                     sang máy chủ dự phòng; hãy xin mã mới từ máy chủ này / unknown enrollment token \
                     at this hub: tokens the primary issued are not copied to its standby; ask this \
                     hub for a new one"
                        .into(),
                ));
            }
            return Ok(Err(
                "mã đăng ký không tồn tại / unknown enrollment token".into()
            ));
        };
        let mut tok: TokenRec = dec("token", &raw)?;
        if tok.used {
            // The same office again (its key proved at the TLS layer and by the enrollment proof):
            // its first answer was lost (a power cut before the office stored it). Answer again;
            // nothing changes.
            if let Some(a) = self.agent(&author)? {
                if a.cert_fp == cert_fp && !a.revoked {
                    return Ok(Ok(a));
                }
            }
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
        // On a standby (and once promoted) the followed primary's log is the province's hub log too.
        s.extend(self.followed_primary()?);
        s.insert(agent.author);
        let agents = self.agents()?;
        // Every unit an office holds (after `agents move`, its successors too).
        let codes = |a: &AgentRec| -> Vec<String> {
            match crate::office::office(self, a) {
                Ok(o) => o.units.into_iter().map(|r| r.code).collect(),
                Err(_) => vec![a.unit.clone()],
            }
        };
        let mine = codes(agent);
        for a in &agents {
            let theirs = codes(a);
            if self.with_units(|u| mine.iter().any(|m| theirs.iter().any(|t| related(u, t, m)))) {
                s.insert(a.author);
            }
        }
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
