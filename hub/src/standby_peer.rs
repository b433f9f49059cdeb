//! What an office learns of the standby from the hub it syncs with (issue 14): an office enrolled
//! before the standby existed, or with a token that names only its address, must still learn the
//! standby's author key, or it refuses every entry the standby writes once promoted (reviews, plans,
//! units, jurisdictions). The office opens each sync with a [`StandbyCheck`] (16 bytes of digests);
//! the hub answers with a [`StandbyPeer`] only when the office's knowledge differs from its own, so
//! an up-to-date office's no-change sync costs only those bytes. A primary names the standby it
//! recorded at its first contact; a standby (following or promoted) names itself.

use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::identity::fingerprint;
use baobi_proto::standby::{key_digest, pin_digest, StandbyCheck, StandbyPeer};
use baobi_proto::wire::Msg;
use tracing::debug;

use crate::server::{blocking, ConnError, Framed};
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
        return Ok(Some(StandbyPeer {
            addr: String::new(),
            fingerprint: fp,
            author,
            promoted,
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
        promoted: false,
    }))
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
