//! The province's side of a national hub (issue 14): one-time national tokens (`N t`) and the
//! national hubs recorded at their first contact (`N f`). A national hub follows the province as a
//! standby does (same first contact, same follow session, every office's seal checked again at the
//! nation), but it is kept apart from the standbys (`S`): it is never written into offices' tokens,
//! never asked whether it was promoted, and the province never takes it for a hub of its own.

use super::standby::{StandbyRec, StandbyTokenRec};
use super::*;

impl Hub {
    /// Issues a one-time national token valid `ttl_secs` seconds, the national hub reaching this
    /// hub at `addr`.
    pub fn issue_national_token(&self, addr: &str, ttl_secs: u64) -> Result<(Token, i64)> {
        let secret = random_secret();
        let now = now_secs();
        let rec = StandbyTokenRec {
            created_at: now,
            expires_at: now + ttl_secs.min(365 * 24 * 3600) as i64,
            used_by: None,
        };
        let _g = self.lock();
        self.tree.insert(
            keys::national_token(&Token::secret_hash(&secret)),
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

    /// Redeems a national token (the caller checked the proof): `None` when the secret is not a
    /// national token here (it may be a standby's), else the national hub recorded or why not. The
    /// same national hub presenting its spent token again is answered again.
    pub fn redeem_national(
        &self,
        secret: &[u8; 16],
        author: AuthorId,
        cert_fp: [u8; 32],
    ) -> Result<Option<std::result::Result<StandbyRec, String>>> {
        let _g = self.lock();
        let tkey = keys::national_token(&Token::secret_hash(secret));
        let Some(raw) = self.tree.get(&tkey)? else {
            return Ok(None);
        };
        let mut tok: StandbyTokenRec = dec("national token", &raw)?;
        if let Some(by) = tok.used_by {
            if by == author {
                if let Some(r) = self.national_by_fp(&cert_fp)? {
                    return Ok(Some(Ok(r)));
                }
            }
            return Ok(Some(Err(
                "mã máy chủ quốc gia đã được dùng / national token already used".into(),
            )));
        }
        if tok.expires_at <= now_secs() {
            return Ok(Some(Err(
                "mã máy chủ quốc gia đã hết hạn / national token expired".into(),
            )));
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
            addr: String::new(),
            enrolled_at: now_secs(),
        };
        let mut b = sled::Batch::default();
        b.insert(tkey, wire::encode(&tok));
        b.insert(keys::national(&cert_fp), wire::encode(&rec));
        self.tree.apply_batch(b)?;
        self.tree.flush()?;
        Ok(Some(Ok(rec)))
    }

    /// The national hub whose certificate has this fingerprint.
    pub fn national_by_fp(&self, fp: &[u8; 32]) -> Result<Option<StandbyRec>> {
        self.tree
            .get(keys::national(fp))?
            .map(|v| dec("national hub", &v))
            .transpose()
    }

    /// A hub that may follow this one: a standby or a national hub.
    pub fn follower_by_fp(&self, fp: &[u8; 32]) -> Result<Option<StandbyRec>> {
        match self.standby_by_fp(fp)? {
            Some(r) => Ok(Some(r)),
            None => self.national_by_fp(fp),
        }
    }

    /// Every national hub recorded here.
    pub fn nationals(&self) -> Result<Vec<StandbyRec>> {
        let mut out = vec![];
        for kv in self.tree.scan_prefix([b'N', b'f']) {
            out.push(dec("national hub", &kv?.1)?);
        }
        out.sort_by_key(|r: &StandbyRec| r.enrolled_at);
        Ok(out)
    }
}
