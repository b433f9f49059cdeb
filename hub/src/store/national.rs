//! The province's side of a national hub (issue 14): one-time national tokens (`N t`) and the
//! national hubs recorded at their first contact (`N f`). A national hub follows the province as a
//! standby does (same first contact, same follow session, every office's seal checked again at the
//! nation), but it is kept apart from the standbys (`S`): it is never written into offices' tokens,
//! never asked whether it was promoted, and the province never takes it for a hub of its own.

use super::standby::{Follower, StandbyRec};
use super::*;

/// A national hub (`N t`, `N f`).
const NATIONAL: Follower = Follower {
    token_key: keys::national_token,
    rec_key: keys::national,
    vi: "máy chủ quốc gia",
    en: "national token",
};

impl Hub {
    /// Issues a one-time national token valid `ttl_secs` seconds, the national hub reaching this
    /// hub at `addr`.
    pub fn issue_national_token(&self, addr: &str, ttl_secs: u64) -> Result<(Token, i64)> {
        self.issue_follower_token(&NATIONAL, addr, ttl_secs)
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
        self.redeem_follower(&NATIONAL, secret, author, cert_fp, "")
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
