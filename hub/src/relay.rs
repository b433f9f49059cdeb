//! A relayed sync (issue 14): an enrolled office R (`baobi-agent daemon --relay`) carries the sealed
//! runs of an office C below it. R connects under its own certificate and says `RelayFor(C)`; what
//! follows is C's ordinary sync session, checked exactly as if C had connected (`check::merge_runs`
//! under C's `AgentRec`: C's author, seals, chain links, jurisdiction), with what C lacks sent under
//! C's audience filter. At the end the hub sends its signed receipt for C's log, which R hands to C.
//!
//! The hub accepts a relay only if R itself is enrolled and not revoked, and C enrolled and not
//! revoked; R's key never authors anything here, and the log says which relay carried what.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::receipt::Receipt;
use baobi_proto::wire::{Msg, RefusalCode};
use baobi_proto::AuthorId;
use tracing::info;

use crate::server::{blocking, refuse, ConnError, Framed};
use crate::store::{AgentRec, Hub};

/// Serves a relayed sync: R (the certificate `fp`) for `office`.
pub(crate) async fn serve(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    office: AuthorId,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let relay: AgentRec = match blocking(hub, move |h| h.agent_by_fp(&fp)).await? {
        Some(a) if !a.revoked => a,
        Some(a) => {
            return Err(refuse(
                peer,
                &a.author.short(),
                RefusalCode::Revoked,
                "đăng ký của trạm chuyển tiếp đã bị thu hồi / the relay's enrollment was revoked"
                    .into(),
            ))
        }
        None => return Err(refuse(
            peer,
            "?",
            RefusalCode::NotEnrolled,
            "trạm chuyển tiếp chưa đăng ký ở máy chủ này / the relay is not enrolled at this hub"
                .into(),
        )),
    };
    let agent = match blocking(hub, move |h| h.agent(&office)).await? {
        Some(a) if !a.revoked => a,
        Some(a) => {
            return Err(refuse(
                peer,
                &a.author.short(),
                RefusalCode::Revoked,
                format!(
                    "đăng ký của văn phòng {} đã bị thu hồi / office {}'s enrollment was revoked",
                    a.label, a.label
                ),
            ))
        }
        None => {
            return Err(refuse(
                peer,
                &office.short(),
                RefusalCode::NotEnrolled,
                format!(
                "văn phòng {} chưa đăng ký ở máy chủ này / office {} is not enrolled at this hub",
                office.short(),
                office.short()
            ),
            ))
        }
    };
    let a = agent.clone();
    let agent = blocking(hub, move |h| crate::office::settle(h, &a))
        .await
        .unwrap_or(agent);
    let hello = match io.recv().await? {
        Some(Msg::Hello(h)) => h,
        _ => {
            return Err(refuse(
                peer,
                &office.short(),
                RefusalCode::Protocol,
                "sau RelayFor phải là Hello / RelayFor must be followed by Hello".into(),
            ))
        }
    };
    info!(%peer, agent = %agent.author.short(), relay = %relay.author.short(),
        relay_label = %relay.label, "relayed sync begins (relayed by this office)");
    crate::server::session_loop(hub, conn, io, &agent, hello, peer, Some(&relay)).await
}

/// The hub's receipt for `office`'s log as far as it is durable here.
pub(crate) fn receipt(hub: &Hub, office: &AuthorId) -> crate::Result<Receipt> {
    let _g = hub.lock();
    let seq = hub.seq_of(office)?;
    let head = hub.link(office, seq)?;
    Ok(Receipt::sign(
        hub.keypair(),
        *office,
        seq,
        head,
        crate::now_ms(),
    ))
}
