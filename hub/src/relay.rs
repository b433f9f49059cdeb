//! A relayed sync (issue 14): an enrolled office R (`baobi-agent daemon --relay`) carries the sealed
//! runs of an office C below it. R connects under its own certificate and says `RelayFor(C)`; what
//! follows is C's ordinary sync session, checked exactly as if C had connected (`check::merge_runs`
//! under C's `AgentRec`: C's author, seals, chain links, jurisdiction), with what C lacks sent under
//! C's audience filter. At the end the hub sends its signed receipt for C's log, which R hands to C.
//!
//! The hub accepts a relay only if R itself is enrolled and not revoked, and C enrolled and not
//! revoked; R's key never authors anything here, and the log says which relay carried what.
//!
//! Which offices R may carry ([`carried`]) the hub tells R at each of R's syncs
//! (`Msg::RelayOfficesQuery` → `Msg::RelayOffices`): the enrolled, unrevoked offices whose units lie
//! below R's, plus those the operator allowed for R (`baobi-hub relay allow`), minus those denied
//! (`relay deny`), kept under prefix `Q`; a standby takes the primary's words whole at each follow
//! round and refuses its own until promoted. R refuses, and stores nothing of, any other office.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::Arc;

use baobi_proto::receipt::Receipt;
use baobi_proto::wire::{Msg, RefusalCode};
use baobi_proto::AuthorId;
use tracing::info;

use crate::server::{blocking, refuse, ConnError, Framed};
use crate::store::{keys, AgentRec, Hub};

/// Serves a relayed sync: R (the certificate `fp`) for `office`.
pub(crate) async fn serve(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    office: AuthorId,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let relay: AgentRec = enrolled_relay(hub, fp, peer).await?;
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

/// The offices `relay` may carry: enrolled, not revoked, not `relay` itself, holding a unit below
/// one of `relay`'s (its jurisdiction) or allowed by the operator; and not denied by the operator.
pub fn carried(hub: &Hub, relay: &AgentRec) -> crate::Result<BTreeSet<AuthorId>> {
    let codes = |a: &AgentRec| -> Vec<String> {
        match crate::office::office(hub, a) {
            Ok(o) => o.units.into_iter().map(|r| r.code).collect(),
            Err(_) => vec![a.unit.clone()],
        }
    };
    let mine = codes(relay);
    let mut out = BTreeSet::new();
    for a in hub.agents()? {
        if a.revoked || a.author == relay.author {
            continue;
        }
        let word = hub
            .tree()
            .get(keys::relay_carry(&relay.author, &a.author))?;
        let below = || {
            let theirs = codes(&a);
            hub.with_units(|u| {
                theirs.iter().any(|t| {
                    let up = crate::store::ancestors(u, t);
                    mine.iter().any(|m| up.contains(m))
                })
            })
        };
        let yes = match word.as_deref() {
            Some([1]) => true,
            Some(_) => false,
            None => below(),
        };
        if yes {
            out.insert(a.author);
        }
    }
    Ok(out)
}

/// The operator's word: `relay` may (`allow`) or may not carry `office`. Both must be enrolled.
pub fn set_carry(hub: &Hub, relay: &str, office: &str, allow: bool) -> crate::Result<Carry> {
    if matches!(hub.role()?, crate::store::standby::Role::Standby { .. }) {
        // Its words are the primary's, taken whole at each follow round (`follow.rs`).
        return Err(crate::Error::Invalid(
            "máy chủ dự phòng lấy các quyết định về trạm chuyển tiếp từ máy chủ chính: hãy đặt ở \
             máy chủ chính / a standby takes the relay words from its primary: set them there"
                .into(),
        ));
    }
    let r = hub.find_agent(relay)?;
    let o = hub.find_agent(office)?;
    if r.author == o.author {
        return Err(crate::Error::Invalid(
            "trạm chuyển tiếp và văn phòng phải khác nhau / the relay and the office must differ"
                .into(),
        ));
    }
    {
        let _g = hub.lock();
        hub.tree()
            .insert(keys::relay_carry(&r.author, &o.author), &[u8::from(allow)])?;
    }
    hub.flush()?;
    carry_list(hub, &r)
}

/// What `baobi-hub relay offices` shows: the offices a relay may carry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Carry {
    /// The relay (author hex).
    pub relay: String,
    /// Its label.
    pub label: String,
    /// The offices it may carry, with how: `jurisdiction` or `allowed`.
    pub offices: Vec<CarryRow>,
    /// Offices the operator denied it.
    pub denied: Vec<String>,
}

/// One office a relay may carry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CarryRow {
    /// Author hex.
    pub office: String,
    /// Its label.
    pub label: String,
    /// Its unit.
    pub unit: String,
    /// `allowed` (the operator's word) or `jurisdiction` (below the relay's units).
    pub by: String,
}

/// The list for `relay` (author prefix or label).
pub fn carry_of(hub: &Hub, relay: &str) -> crate::Result<Carry> {
    let r = hub.find_agent(relay)?;
    carry_list(hub, &r)
}

fn carry_list(hub: &Hub, r: &AgentRec) -> crate::Result<Carry> {
    let set = carried(hub, r)?;
    let mut offices = vec![];
    let mut denied = vec![];
    for a in hub.agents()? {
        let word = hub.tree().get(keys::relay_carry(&r.author, &a.author))?;
        if set.contains(&a.author) {
            offices.push(CarryRow {
                office: a.author.hex(),
                label: a.label.clone(),
                unit: a.unit.clone(),
                by: if word.as_deref() == Some(&[1]) {
                    "allowed"
                } else {
                    "jurisdiction"
                }
                .into(),
            });
        } else if word.as_deref() == Some(&[0]) {
            denied.push(a.author.hex());
        }
    }
    Ok(Carry {
        relay: r.author.hex(),
        label: r.label.clone(),
        offices,
        denied,
    })
}

/// Answers a relay's `RelayOfficesQuery`: the offices it may carry. Only an enrolled, unrevoked
/// office is answered.
pub(crate) async fn serve_offices(
    hub: &Arc<Hub>,
    io: &mut Framed,
    fp: [u8; 32],
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let relay = enrolled_relay(hub, fp, peer).await?;
    let r = relay.clone();
    let list = blocking(hub, move |h| carried(h, &r)).await?;
    info!(%peer, relay = %relay.author.short(), offices = list.len(), "relay: offices it may carry");
    io.send(&Msg::RelayOffices(list.into_iter().collect()))
        .await?;
    // The relay ends its stream once it has the list; the connection closes after that.
    let _ = io.recv().await;
    Ok(())
}

/// The enrolled, unrevoked relay behind the certificate `fp`, or the refusal to send it.
async fn enrolled_relay(
    hub: &Arc<Hub>,
    fp: [u8; 32],
    peer: SocketAddr,
) -> Result<AgentRec, ConnError> {
    match blocking(hub, move |h| h.agent_by_fp(&fp)).await? {
        Some(a) if !a.revoked => Ok(a),
        Some(a) => Err(refuse(
            peer,
            &a.author.short(),
            RefusalCode::Revoked,
            "đăng ký của trạm chuyển tiếp đã bị thu hồi / the relay's enrollment was revoked"
                .into(),
        )),
        None => Err(refuse(
            peer,
            "?",
            RefusalCode::NotEnrolled,
            "trạm chuyển tiếp chưa đăng ký ở máy chủ này / the relay is not enrolled at this hub"
                .into(),
        )),
    }
}
