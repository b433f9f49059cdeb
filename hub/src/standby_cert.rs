//! Enrollment certificates at the hub: signed at each enrollment (`make`, sent after `Enrolled`),
//! and taken from an office this hub does not know (`take`). A standby copies the registry of
//! offices at each follow round; an office enrolled at the primary after the last round, the primary
//! then dead, was refused `NotEnrolled` by the promoted standby. Such an office now opens a new
//! connection with the certificate the primary signed; the standby registers it as the certificate
//! says, durably, in one batch, as an ordinary enrollment does.
//!
//! Taken only when: the signature verifies; the signer is this hub or the primary it follows (or
//! followed before its promotion); the certificate is for the TLS certificate the connection
//! presents; and the office is not already registered otherwise. A revoked office stays revoked (the
//! registry copy of the last round knows it): a certificate never resurrects one. Anything else is
//! refused and logged, and nothing is stored.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::enroll_cert::EnrollCert;
use baobi_proto::wire::{self, Msg, OfficeUnits, Refusal, RefusalCode};
use baobi_proto::Sig;
use tracing::info;

use crate::server::{blocking, refuse, ConnError, Framed};
use crate::store::{keys, AgentRec, Hub};

/// The certificate of `agent`'s enrollment (as stored, its jurisdiction entry written), signed by
/// this hub; its line is the primary this hub follows(ed), or itself.
pub fn make(hub: &Hub, agent: &AgentRec) -> crate::Result<EnrollCert> {
    let jurisdiction = match hub.tree().get(keys::office(&agent.author))? {
        Some(v) => Some(
            wire::decode::<OfficeUnits>(&v)
                .map_err(|e| crate::Error::Corrupt(format!("office: {e}")))?,
        ),
        None => None,
    };
    let me = hub.keypair().author();
    Ok(EnrollCert {
        office: agent.author,
        label: agent.label.clone(),
        unit: agent.unit.clone(),
        jurisdiction,
        cert_fp: agent.cert_fp,
        enrolled_at: agent.enrolled_at,
        hub: me,
        line: hub.followed_primary()?.unwrap_or(me),
        sig: Sig([0; 64]),
    }
    .sign(hub.keypair()))
}

fn refusal(code: RefusalCode, message: &str) -> Refusal {
    Refusal {
        code,
        message: message.to_string(),
    }
}

/// Takes `cert` from the connection whose peer certificate has fingerprint `fp`: the office as
/// registered (newly, or already as the certificate says), or why it is refused (nothing stored).
pub fn take(
    hub: &Hub,
    cert: &EnrollCert,
    fp: &[u8; 32],
) -> crate::Result<Result<AgentRec, Refusal>> {
    if !cert.verify() {
        return Ok(Err(refusal(
            RefusalCode::BadSignature,
            "chữ ký của chứng nhận đăng ký không hợp lệ / the enrollment certificate's signature \
             does not verify",
        )));
    }
    let me = hub.keypair().author();
    let line = hub.followed_primary()?;
    if cert.hub != me && Some(cert.hub) != line {
        return Ok(Err(refusal(
            RefusalCode::NotEnrolled,
            "chứng nhận đăng ký không do máy chủ của tỉnh này ký / the enrollment certificate is \
             not signed by this province's hub",
        )));
    }
    if cert.cert_fp != *fp {
        return Ok(Err(refusal(
            RefusalCode::WrongAuthor,
            "chứng nhận đăng ký dành cho một chứng chỉ khác / the enrollment certificate is for \
             another TLS certificate",
        )));
    }
    let hub_key = cert.office == me || Some(cert.office) == line;
    if hub_key
        || cert
            .jurisdiction
            .as_ref()
            .is_some_and(|j| j.office != cert.office)
    {
        return Ok(Err(refusal(
            RefusalCode::NotEnrolled,
            "chứng nhận đăng ký không phải của một văn phòng / the enrollment certificate is not \
             an office's",
        )));
    }
    let _g = hub.lock();
    let revoked = || {
        Ok(Err(refusal(
            RefusalCode::Revoked,
            "đăng ký của văn phòng đã bị thu hồi / this office's enrollment was revoked",
        )))
    };
    if let Some(a) = hub.agent(&cert.office)? {
        if a.revoked {
            return revoked();
        }
        if a.cert_fp == cert.cert_fp {
            return Ok(Ok(a));
        }
        return Ok(Err(refusal(
            RefusalCode::NotEnrolled,
            "văn phòng này đã đăng ký với một chứng chỉ khác / this office is registered with \
             another certificate",
        )));
    }
    if hub.replaced_by(&cert.office)?.is_some() {
        return revoked();
    }
    if hub.agent_by_fp(fp)?.is_some() || hub.standby_by_fp(fp)?.is_some() {
        return Ok(Err(refusal(
            RefusalCode::NotEnrolled,
            "chứng chỉ này đã đăng ký cho một văn phòng khác / this certificate is registered to \
             another office",
        )));
    }
    let rec = AgentRec {
        author: cert.office,
        cert_fp: cert.cert_fp,
        unit: cert.unit.clone(),
        label: cert.label.clone(),
        enrolled_at: cert.enrolled_at,
        revoked: false,
        last_sync: None,
        entries_received: 0,
    };
    let mut b = sled::Batch::default();
    b.insert(keys::agent(&rec.author), wire::encode(&rec));
    b.insert(keys::fp(&rec.cert_fp), rec.author.0.to_vec());
    if let Some(j) = &cert.jurisdiction {
        b.insert(keys::office(&rec.author), wire::encode(j));
    }
    hub.tree().apply_batch(b)?;
    hub.tree().flush()?;
    Ok(Ok(rec))
}

/// An office's connection that opens with its certificate: taken (or refused, which ends the
/// connection), then the office's sync goes on with the message after it.
pub(crate) async fn preamble(
    hub: &Arc<Hub>,
    io: &mut Framed,
    fp: [u8; 32],
    first: Result<Option<Msg>, ConnError>,
    peer: SocketAddr,
) -> Result<Option<Msg>, ConnError> {
    let cert = match first? {
        Some(Msg::EnrollCert(c)) => c,
        other => return Ok(other),
    };
    let who = cert.office.short();
    let signer = cert.hub.short();
    let c = cert.clone();
    match blocking(hub, move |h| take(h, &c, &fp)).await? {
        Ok(a) => {
            info!(%peer, agent = %who, unit = %a.unit, label = %a.label, signer = %signer,
                "office registered from its enrollment certificate");
            io.recv().await
        }
        Err(r) => Err(refuse(peer, &who, r.code, r.message)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::Keypair;

    use crate::testkit::{enroll, hub, standby_of};

    #[test]
    fn take_registers_an_office_of_the_hubs_own_cert_once_and_refuses_foreign_or_other_tls_certs() {
        let dir = tempfile::tempdir().unwrap();
        let primary = hub(&dir.path().join("p"));
        let k = Keypair::generate();
        let a = enroll(&primary, &k, "30226");
        let a = crate::office::settle(&primary, &a).unwrap();
        let cert = make(&primary, &a).unwrap();
        assert!(cert.verify());
        assert_eq!(
            (cert.hub, cert.line),
            (primary.keypair().author(), primary.keypair().author())
        );
        assert!(cert.jurisdiction.is_some());

        // Another hub (same units, never enrolled the office) and what it holds before.
        let other = hub(&dir.path().join("o"));
        let before = other.agents().unwrap();
        let nothing_stored = |h: &Hub| {
            assert_eq!(h.agents().unwrap(), before);
            assert!(h.agent_by_fp(&a.cert_fp).unwrap().is_none());
            assert!(!h.tree().contains_key(keys::office(&a.author)).unwrap());
        };
        // The primary's cert at a hub that does not follow it: a foreign signer.
        let r = take(&other, &cert, &a.cert_fp).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::NotEnrolled, "{}", r.message);
        nothing_stored(&other);
        // Signed by another key in the primary's name: the signature fails.
        let forged = EnrollCert {
            sig: other.keypair().sign(&cert.signed_bytes()),
            ..cert.clone()
        };
        let r = take(&other, &forged, &a.cert_fp).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::BadSignature);
        nothing_stored(&other);
        // The other hub's own signature, for the office, but shown over another TLS certificate.
        let own = cert.clone().sign(other.keypair());
        let r = take(&other, &own, &[9; 32]).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::WrongAuthor);
        nothing_stored(&other);

        // Its own signature over the right certificate: registered as the cert says, durably.
        let got = take(&other, &own, &a.cert_fp).unwrap().unwrap();
        assert_eq!(
            (got.author, got.cert_fp, &got.unit),
            (a.author, a.cert_fp, &a.unit)
        );
        assert_eq!(other.agent_by_fp(&a.cert_fp).unwrap(), Some(got.clone()));
        assert_eq!(
            crate::office::office(&other, &got).unwrap(),
            crate::office::office(&primary, &a).unwrap()
        );
        // Again: nothing changes.
        assert_eq!(take(&other, &own, &a.cert_fp).unwrap().unwrap(), got);
        assert_eq!(other.agents().unwrap().len(), before.len() + 1);

        // A revoked office is not resurrected by its cert.
        other.revoke(&a.author.hex()).unwrap();
        let r = take(&other, &own, &a.cert_fp).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::Revoked);
        assert!(other.agent(&a.author).unwrap().unwrap().revoked);
    }

    /// A standby takes the certificate its primary signed for an office enrolled after the
    /// registry it copied; an office the copy knows revoked is not resurrected by its certificate.
    #[test]
    fn a_standby_takes_its_primarys_cert_but_not_for_an_office_revoked_in_the_registry_copy() {
        let dir = tempfile::tempdir().unwrap();
        let primary = hub(&dir.path().join("p"));
        let (gone, late) = (Keypair::generate(), Keypair::generate());
        let g = crate::office::settle(&primary, &enroll(&primary, &gone, "30226")).unwrap();
        let gone_cert = make(&primary, &g).unwrap();
        primary.revoke(&g.author.hex()).unwrap();

        let standby = standby_of(&primary, &dir.path().join("s"));
        // The standby's last round: the registry as it is now (the first office revoked).
        standby
            .import_registry(&primary.registry().unwrap())
            .unwrap();
        // After it, a second office enrolls at the primary.
        let l = crate::office::settle(&primary, &enroll(&primary, &late, "30208")).unwrap();
        let late_cert = make(&primary, &l).unwrap();
        assert!(standby.agent(&l.author).unwrap().is_none());

        let r = take(&standby, &gone_cert, &g.cert_fp).unwrap().unwrap_err();
        assert_eq!(r.code, RefusalCode::Revoked, "{}", r.message);
        assert!(standby.agent(&g.author).unwrap().unwrap().revoked);

        let got = take(&standby, &late_cert, &l.cert_fp).unwrap().unwrap();
        assert_eq!(standby.agent_by_fp(&l.cert_fp).unwrap(), Some(got.clone()));
        assert!(!got.revoked);
        assert_eq!(
            crate::office::office(&standby, &got).unwrap(),
            crate::office::office(&primary, &l).unwrap()
        );
        // A certificate the standby itself signs names the primary as its line.
        let own = make(&standby, &got).unwrap();
        assert_eq!(
            (own.hub, own.line),
            (standby.keypair().author(), primary.keypair().author())
        );
    }
}
