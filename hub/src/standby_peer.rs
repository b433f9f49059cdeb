//! What an office learns of the standby from the hub it syncs with (issue 14): an office enrolled
//! before the standby existed, or with a token that names only its address, must still learn the
//! standby's author key, or it refuses every entry the standby writes once promoted (reviews, plans,
//! units, jurisdictions). The office opens each sync with a [`StandbyCheck`] (16 bytes of digests);
//! the hub answers with a [`StandbyPeer`] only when the office's knowledge differs from its own, so
//! an up-to-date office's no-change sync costs only those bytes. A primary names the standby it
//! recorded at its first contact; a standby (following or promoted) names itself, and once promoted
//! signs its word of it ([`Promotion`]).
//!
//! The split-brain guard offices carry: an office holding that word sends it ([`Superseded`]) to the
//! old primary should it reach it again (the old primary restarted while its standby was
//! unreachable); the old primary checks it against the standby it recorded, keeps it (meta
//! `superseded`), and from then on refuses every office's sync and refuses to `serve` again.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::identity::fingerprint;
use baobi_proto::standby::{
    key_digest, pin_digest, promotion_bytes, Promotion, StandbyCheck, StandbyPeer, Superseded,
};
use baobi_proto::wire::{Msg, RefusalCode};
use tracing::{debug, warn};

use crate::server::{blocking, refuse, ConnError, Framed};
use crate::store::standby::Role;
use crate::store::Hub;

/// What this hub tells an office whose check is `check`: nothing when the office knows it already.
pub fn peer_for(hub: &Hub, check: &StandbyCheck) -> crate::Result<Option<StandbyPeer>> {
    let role = hub.role()?;
    let was_standby = hub.followed_primary()?.is_some();
    if matches!(role, Role::Standby { .. }) || was_standby {
        // Naming itself: its certificate and author, and whether it was promoted.
        let promoted = matches!(role, Role::Primary);
        let fp = fingerprint(hub.cert_der());
        let author = hub.keypair().author();
        if key_digest(&fp, &author, promoted) == check.key {
            return Ok(None);
        }
        let promotion = match promoted {
            false => None,
            true => {
                let at = hub
                    .meta("promoted_at")?
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                let sig = hub.keypair().sign(&promotion_bytes(&fp, &author, at));
                Some(Promotion { at, sig })
            }
        };
        return Ok(Some(StandbyPeer {
            addr: String::new(),
            fingerprint: fp,
            author,
            promotion,
        }));
    }
    let Some(rec) = hub.standbys()?.pop() else {
        return Ok(None);
    };
    if pin_digest(&rec.addr, &rec.cert_fp, &rec.author) == check.pin {
        return Ok(None);
    }
    Ok(Some(StandbyPeer {
        addr: rec.addr,
        fingerprint: rec.cert_fp,
        author: rec.author,
        promotion: None,
    }))
}

/// Meta: `ADDR AT` once an office brought the promoted standby's word.
pub const META_SUPERSEDED: &str = "superseded";

/// The promoted standby at `addr` (and when) that superseded this hub, as an office brought it.
pub fn superseded(hub: &Hub) -> crate::Result<Option<(String, i64)>> {
    Ok(hub.meta(META_SUPERSEDED)?.and_then(|v| {
        let (addr, at) = v.rsplit_once(' ')?;
        Some((addr.to_string(), at.parse().ok()?))
    }))
}

/// Keeps `n` when it is the signed word of a standby this hub recorded; returns whether it did.
pub fn take_superseded(hub: &Hub, n: &Superseded) -> crate::Result<bool> {
    let Some(rec) = hub
        .standbys()?
        .into_iter()
        .find(|r| r.cert_fp == n.fingerprint && r.author == n.author)
    else {
        return Ok(false);
    };
    if !n.verifies() {
        return Ok(false);
    }
    if superseded(hub)?.is_none() {
        hub.set_meta(META_SUPERSEDED, &format!("{} {}", rec.addr, n.promotion.at))?;
    }
    Ok(true)
}

fn superseded_refusal(peer: SocketAddr, addr: &str, at: i64) -> ConnError {
    let at = crate::rfc3339(at);
    refuse(
        peer,
        "?",
        RefusalCode::Superseded,
        format!(
            "máy chủ này không phục vụ nữa: máy chủ dự phòng tại {addr} đã được đưa lên làm máy chủ \
             chính lúc {at} / this hub no longer serves: the standby at {addr} was promoted to \
             primary at {at}"
        ),
    )
}

/// What an office's stream opens with, before its `Hello`: answers a [`StandbyCheck`], takes a
/// [`Superseded`], and refuses the sync of a hub that was superseded. Returns the message to go on
/// with (the `Hello`, or whatever came first otherwise).
pub(crate) async fn preamble(
    hub: &Arc<Hub>,
    io: &mut Framed,
    fp: [u8; 32],
    first: Result<Option<Msg>, ConnError>,
    peer: SocketAddr,
) -> Result<Option<Msg>, ConnError> {
    let first = match first? {
        Some(Msg::StandbyCheck(c)) => {
            answer(hub, io, fp, c, peer).await?;
            io.recv().await?
        }
        Some(Msg::Superseded(n)) => {
            let known = blocking(hub, move |h| {
                match h.agent_by_fp(&fp)? {
                    Some(a) if !a.revoked => {}
                    _ => return Ok(false),
                }
                take_superseded(h, &n)
            })
            .await?;
            if !known {
                warn!(%peer, "an office's word of a promotion did not verify; ignored");
            }
            io.recv().await?
        }
        other => other,
    };
    // A superseded hub takes no office's sync, direct or carried by a relay.
    if let Some(Msg::Hello(_) | Msg::RelayFor(_)) = first {
        if let Some((addr, at)) = blocking(hub, superseded).await? {
            return Err(superseded_refusal(peer, &addr, at));
        }
    }
    Ok(first)
}

/// Answers an office's check (only an enrolled office that is not revoked hears anything; the
/// `Hello` that follows is refused to any other as before).
pub(crate) async fn answer(
    hub: &Arc<Hub>,
    io: &mut Framed,
    fp: [u8; 32],
    check: StandbyCheck,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let peer_info = blocking(hub, move |h| {
        match h.agent_by_fp(&fp)? {
            Some(a) if !a.revoked => {}
            _ => return Ok(None),
        }
        peer_for(h, &check)
    })
    .await?;
    if let Some(p) = peer_info {
        debug!(%peer, standby = %p.author.short(), "told an office of the standby");
        io.send(&Msg::StandbyPeer(p)).await?;
    }
    Ok(())
}
