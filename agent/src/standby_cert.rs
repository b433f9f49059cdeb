//! The office's enrollment certificate (sled tree `standby_cert`): what the hub that enrolled it
//! signed of its enrollment (author, label, unit, jurisdiction, TLS certificate pin, the hub and its
//! line), kept at enrollment. A standby that never followed the round in which the office enrolled
//! (the primary died first) refuses its sync `NotEnrolled`; the office then opens a new connection
//! with this certificate and the standby, which trusts the primary it follows, registers it.
//!
//! The certificate's line (the province's primary) is a hub author too: an office enrolled at a
//! promoted standby takes the old primary's hub-only entries (units, plans, reviews, jurisdictions).

use baobi_proto::enroll_cert::EnrollCert;
use baobi_proto::wire::{self, EnrollReply};
use baobi_proto::AuthorId;

use crate::store::{self, Store};

const TREE: &str = "standby_cert";
const K_CERT: &[u8] = b"cert";

/// True when `cert` is the one the hub that answered `reply` signed for this office (`me`, whose
/// TLS certificate has fingerprint `fp`).
pub fn fits(cert: &EnrollCert, reply: &EnrollReply, me: &AuthorId, fp: &[u8; 32]) -> bool {
    cert.verify() && cert.hub == reply.hub_author && cert.office == *me && cert.cert_fp == *fp
}

/// Keeps `cert`, durably.
pub fn save(store: &Store, cert: &EnrollCert) -> store::Result<()> {
    store.tree(TREE)?.insert(K_CERT, wire::encode(cert))?;
    store.flush()
}

/// The certificate kept at enrollment (none for an office enrolled before there were any).
pub fn load(store: &Store) -> store::Result<Option<EnrollCert>> {
    let Some(v) = store.tree(TREE)?.get(K_CERT)? else {
        return Ok(None);
    };
    wire::decode(&v)
        .map(Some)
        .map_err(|e| store::Error::Corrupt(format!("enrollment certificate: {e}")))
}

/// The province's primary named by the certificate, when it is not the hub that signed it (an
/// office enrolled at a promoted standby): its hub-only entries are the hub's too.
pub fn line(store: &Store) -> store::Result<Option<AuthorId>> {
    Ok(load(store)?.filter(|c| c.line != c.hub).map(|c| c.line))
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::chain;
    use baobi_proto::wire::{Decision, Dot, Hlc, Op, ReviewDecision, Run};
    use baobi_proto::{Keypair, Sig};

    fn review_by(k: &Keypair) -> Run {
        let e = k.sign_entry(
            1,
            Hlc(1),
            Op::Review(ReviewDecision {
                record: Dot {
                    author: AuthorId([3; 32]),
                    seq: 1,
                },
                version: [0; 32],
                decision: Decision::Returned,
                reason: "sai".into(),
            }),
        );
        Run::seal(k, chain::genesis(&k.author()), &[e]).unwrap().0
    }

    #[test]
    fn the_cert_is_kept_checked_against_the_enrollment_and_its_line_is_a_hub_author() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let (hub, line, stranger) = (
            Keypair::generate(),
            Keypair::generate(),
            Keypair::generate(),
        );
        let me = AuthorId([3; 32]);
        let cert = EnrollCert {
            office: me,
            label: "Xã Tân Thành".into(),
            unit: "30226".into(),
            jurisdiction: None,
            cert_fp: [4; 32],
            enrolled_at: 1_700_000_000,
            hub: AuthorId([0; 32]),
            line: line.author(),
            sig: Sig([0; 64]),
        }
        .sign(&hub);
        let reply = EnrollReply {
            hub_author: hub.author(),
            province: "87".into(),
            province_name: "Đồng Tháp".into(),
            unit: "30226".into(),
            unit_name: "x".into(),
        };
        assert!(fits(&cert, &reply, &me, &[4; 32]));
        assert!(
            !fits(&cert, &reply, &me, &[5; 32]),
            "another TLS certificate"
        );
        assert!(
            !fits(&cert, &reply, &AuthorId([6; 32]), &[4; 32]),
            "another office"
        );
        let other_hub = EnrollReply {
            hub_author: stranger.author(),
            ..reply.clone()
        };
        assert!(!fits(&cert, &other_hub, &me, &[4; 32]), "another hub");
        let forged = EnrollCert {
            label: "Xã khác".into(),
            ..cert.clone()
        };
        assert!(!fits(&forged, &reply, &me, &[4; 32]), "altered");

        // Before it is kept, the line's review is refused; after, taken. A stranger's never is.
        assert_eq!(load(&s).unwrap(), None);
        assert!(s
            .store_received(&[review_by(&line)], &hub.author())
            .is_err());
        save(&s, &cert).unwrap();
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(load(&s).unwrap(), Some(cert.clone()));
        assert_eq!(super::line(&s).unwrap(), Some(line.author()));
        assert_eq!(
            s.store_received(&[review_by(&line)], &hub.author())
                .unwrap(),
            1
        );
        assert!(s
            .store_received(&[review_by(&stranger)], &hub.author())
            .is_err());
    }
}
