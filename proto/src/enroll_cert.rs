//! The enrollment certificate: the hub that enrolled an office signs what its registry row says of
//! it (author, label, unit, jurisdiction, TLS certificate pin, when), and the office keeps it. A
//! standby that never followed the round in which the office enrolled (the primary died first) has
//! no row for it; the office shows it this certificate, and the standby, which trusts the primary's
//! key it follows, registers the office as the certificate says instead of refusing it.
//!
//! Signed over a domain-separated bincode encoding of every field but the signature, so one
//! changed byte of any field, or a signature by another key, fails [`EnrollCert::verify`].

use bincode::{Decode, Encode};

use crate::identity::{AuthorId, Keypair, Sig};
use crate::wire::OfficeUnits;

/// What the signature covers begins with this, so no other signed message can pass for a cert.
const DOMAIN: &[u8] = b"baobi/1 enroll cert";

/// An office's enrollment as the enrolling hub signed it (hub → office after `Enrolled`; office
/// → a hub that does not know it, before its sync).
#[derive(Debug, Clone, PartialEq, Eq, Encode, Decode)]
pub struct EnrollCert {
    /// The office's author key.
    pub office: AuthorId,
    /// What the office is called (the registry's label).
    pub label: String,
    /// Unit whose jurisdiction it has (the registry row's `unit`).
    pub unit: String,
    /// Its jurisdiction in force at enrollment (the hub's `Op::Office` entry), when it has one.
    pub jurisdiction: Option<OfficeUnits>,
    /// SHA-256 of the office's TLS certificate: the pin the hub recognises it by.
    pub cert_fp: [u8; 32],
    /// Enrolled at (Unix seconds).
    pub enrolled_at: i64,
    /// The signing hub's author key.
    pub hub: AuthorId,
    /// The province's line: the primary's author key (the signing hub's own on a primary, the
    /// followed primary's on a standby or a promoted standby).
    pub line: AuthorId,
    /// `hub`'s signature over [`EnrollCert::signed_bytes`].
    pub sig: Sig,
}

impl EnrollCert {
    /// The bytes signed: the domain, then every field but `sig`.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let mut v = DOMAIN.to_vec();
        v.extend_from_slice(&crate::wire::encode(&(
            &self.office,
            &self.label,
            &self.unit,
            &self.jurisdiction,
            &self.cert_fp,
            self.enrolled_at,
            &self.hub,
            &self.line,
        )));
        v
    }

    /// Signs the certificate with `key`, which becomes its `hub`.
    pub fn sign(mut self, key: &Keypair) -> EnrollCert {
        self.hub = key.author();
        self.sig = key.sign(&self.signed_bytes());
        self
    }

    /// True when `hub` signed exactly these fields.
    pub fn verify(&self) -> bool {
        self.hub.verify(&self.signed_bytes(), &self.sig)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::UnitRef;

    fn cert(k: &Keypair) -> EnrollCert {
        let office = AuthorId([3; 32]);
        EnrollCert {
            office,
            label: "Xã Tân Thành".into(),
            unit: "30226".into(),
            jurisdiction: Some(OfficeUnits {
                office,
                units: vec![UnitRef {
                    code: "30226".into(),
                    from: None,
                }],
                past: vec![],
            }),
            cert_fp: [4; 32],
            enrolled_at: 1_700_000_000,
            hub: AuthorId([0; 32]),
            line: AuthorId([5; 32]),
            sig: Sig([0; 64]),
        }
        .sign(k)
    }

    #[test]
    fn a_cert_verifies_as_signed_and_travels_the_wire() {
        let k = Keypair::generate();
        let c = cert(&k);
        assert_eq!(c.hub, k.author());
        assert!(c.verify());
        let m = crate::wire::Msg::EnrollCert(c.clone());
        let back: crate::wire::Msg = crate::wire::decode(&crate::wire::encode(&m)).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn one_flipped_byte_of_any_field_fails() {
        let k = Keypair::generate();
        let c = cert(&k);
        let mut bad: Vec<EnrollCert> = vec![];
        let flip = |f: &dyn Fn(&mut EnrollCert)| {
            let mut x = c.clone();
            f(&mut x);
            x
        };
        bad.push(flip(&|x| x.office.0[0] ^= 1));
        bad.push(flip(&|x| x.label = "Xã Tân Thành!".into()));
        bad.push(flip(&|x| x.unit = "30227".into()));
        bad.push(flip(&|x| x.jurisdiction = None));
        bad.push(flip(&|x| {
            if let Some(j) = &mut x.jurisdiction {
                j.units[0].code = "30208".into();
            }
        }));
        bad.push(flip(&|x| x.cert_fp[31] ^= 1));
        bad.push(flip(&|x| x.enrolled_at += 1));
        bad.push(flip(&|x| x.hub.0[5] ^= 1));
        bad.push(flip(&|x| x.line.0[7] ^= 1));
        bad.push(flip(&|x| x.sig.0[10] ^= 1));
        for (i, b) in bad.iter().enumerate() {
            assert_ne!(b, &c, "case {i} changes nothing");
            assert!(!b.verify(), "case {i} still verifies");
        }
        // Every byte of the encoded certificate matters: flipped one at a time, each either fails
        // to decode or fails to verify.
        let bytes = crate::wire::encode(&c);
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x01;
            if let Ok(x) = crate::wire::decode::<EnrollCert>(&b) {
                assert!(!x.verify(), "byte {i} flipped still verifies");
            }
        }
    }

    #[test]
    fn a_cert_signed_by_another_key_fails() {
        let (k, other) = (Keypair::generate(), Keypair::generate());
        let c = cert(&k);
        // Another key's signature over the same fields, still naming `k` as the hub.
        let forged = EnrollCert {
            sig: other.sign(&c.signed_bytes()),
            ..c.clone()
        };
        assert!(!forged.verify());
        // Signed by the other key and naming it: verifies, but names another hub (the hub taking
        // it checks who signed).
        let theirs = c.clone().sign(&other);
        assert!(theirs.verify());
        assert_ne!(theirs.hub, c.hub);
    }
}
