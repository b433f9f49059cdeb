//! An office's enrollment: the proof of its key, the one-time token redeemed, its jurisdiction
//! entry written, and the answer (`Enrolled`) followed by the hub's signed enrollment certificate.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::wire::{
    enroll_proof_bytes, EnrollReply, EnrollRequest, Msg, RefusalCode, MAX_TEXT,
};
use tracing::info;

use super::{refuse, ConnError, Framed};
use crate::store::Hub;

pub(super) async fn enroll(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    req: EnrollRequest,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let who = req.author.short();
    if !req
        .author
        .verify(&enroll_proof_bytes(&req.secret, &fp), &req.proof)
    {
        return Err(refuse(
            peer,
            &who,
            RefusalCode::BadSignature,
            "enrollment proof does not verify for the presented certificate".into(),
        ));
    }
    let label: String = req.label.chars().take(MAX_TEXT.min(200)).collect();
    let h = hub.clone();
    let author = req.author;
    let secret = req.secret;
    let res = tokio::task::spawn_blocking(move || h.redeem(&secret, author, fp, &label))
        .await
        .map_err(|e| ConnError::Net(e.to_string()))??;
    let agent = match res {
        Ok(a) => a,
        Err(msg) => {
            return Err(refuse(peer, &who, RefusalCode::BadToken, msg));
        }
    };
    // The office's jurisdiction entry, before it is told it is enrolled: its first sync brings it.
    let h = hub.clone();
    let agent = tokio::task::spawn_blocking(move || crate::office::settle(&h, &agent))
        .await
        .map_err(|e| ConnError::Net(e.to_string()))??;
    let office = crate::office::office(hub, &agent)?;
    let unit_name = hub.with_units(|u| match office.units.first().and_then(|r| u.version(r)) {
        Some(v) => v.name.clone(),
        None => u.name(&agent.unit),
    });
    info!(%peer, agent = %who, unit = %agent.unit, label = %agent.label, "enrolled");
    io.send(&Msg::Enrolled(EnrollReply {
        hub_author: hub.keypair().author(),
        province: hub.province().to_string(),
        province_name: hub.province_name().to_string(),
        unit: agent.unit.clone(),
        unit_name,
    }))
    .await?;
    // Its certificate of this enrollment, which a standby that never followed it takes.
    let a = agent.clone();
    let cert = super::blocking(hub, move |h| crate::standby_cert::make(h, &a)).await?;
    io.send(&Msg::EnrollCert(cert)).await?;
    io.finish(conn).await;
    Ok(())
}
