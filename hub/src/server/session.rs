//! An office's sync session: one live session per office (a newer one replaces the older), the
//! enrolled and unrevoked check, then `proto::Session` driven over the framed stream, each received
//! batch merged through the checks and flushed before it is acknowledged.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use baobi_proto::session::Event;
use baobi_proto::wire::{Hello, Msg, RefusalCode, Run};
use baobi_proto::{AuthorId, Range, Session};
use tracing::{info, warn};

use super::{blocking, codes, protocol_refusal, refuse, ConnError, Framed, Shared, BATCH};
use crate::check;
use crate::store::{AgentRec, Hub};

/// The live sync session of each office: at most [`crate::limits::MAX_SESSIONS_PER_AGENT`] (one).
/// A new session of an office closes the older one: after a mobile link drops, the hub may not
/// notice the dead connection for up to the idle timeout, and the office reconnecting must not be
/// refused for it.
#[derive(Debug, Default)]
pub(super) struct Sessions {
    next: AtomicU64,
    live: Mutex<HashMap<AuthorId, (u64, quinn::Connection)>>,
}

impl Sessions {
    /// Registers `conn` as `author`'s session, closing the one it replaces; returns its ticket.
    fn begin(&self, author: AuthorId, conn: &quinn::Connection, hub: &Hub) -> u64 {
        let ticket = self.next.fetch_add(1, Ordering::Relaxed);
        let old = {
            let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
            let old = live.insert(author, (ticket, conn.clone()));
            hub.metrics().set_connected(live.len());
            old
        };
        if let Some((_, old)) = old {
            warn!(agent = %author.short(), "a newer session of this office replaces the older one");
            old.close(
                codes::SUPERSEDED.into(),
                b"replaced by a newer session of the same office",
            );
        }
        ticket
    }

    /// Forgets `author`'s session if it is still the one with `ticket`.
    fn end(&self, author: &AuthorId, ticket: u64, hub: &Hub) {
        let mut live = self.live.lock().unwrap_or_else(|e| e.into_inner());
        if live.get(author).is_some_and(|(t, _)| *t == ticket) {
            live.remove(author);
        }
        hub.metrics().set_connected(live.len());
    }
}

pub(super) async fn sync(
    shared: &Shared,
    conn: &quinn::Connection,
    io: &mut Framed,
    fp: [u8; 32],
    hello: Hello,
    peer: SocketAddr,
) -> Result<(), ConnError> {
    let hub = &shared.hub;
    let agent: AgentRec = match blocking(hub, move |h| h.agent_by_fp(&fp)).await? {
        Some(a) => a,
        None => {
            return Err(refuse(
                peer,
                "?",
                RefusalCode::NotEnrolled,
                "this office is not enrolled at the hub".into(),
            ))
        }
    };
    let who = agent.author.short();
    if agent.revoked {
        let message = match hub.replaced_by(&agent.author)? {
            Some(new) => format!(
                "khóa này đã bị thay khi khôi phục văn phòng (khóa mới {}) / this key was retired \
                 when the office was restored (new key {}); it can never write again",
                new.short(),
                new.short()
            ),
            None => {
                "đăng ký của văn phòng đã bị thu hồi / this office's enrollment was revoked".into()
            }
        };
        return Err(refuse(peer, &who, RefusalCode::Revoked, message));
    }
    // Offices enrolled before jurisdiction entries existed get theirs now (a failure only delays it:
    // the checks fall back on the unit's version in force today).
    let a = agent.clone();
    let agent = match blocking(hub, move |h| crate::office::settle(h, &a)).await {
        Ok(a) => a,
        Err(e) => {
            warn!(%peer, agent = %who, error = %e, "office jurisdiction entry not written");
            agent
        }
    };
    let ticket = shared.sessions.begin(agent.author, conn, hub);
    let result = session_loop(hub, conn, io, &agent, hello, peer, None).await;
    shared.sessions.end(&agent.author, ticket, hub);
    result
}

/// One office's sync session; `relay` is the office carrying it (a relayed sync), which is sent
/// the hub's receipt for `agent`'s log at the end.
pub(crate) async fn session_loop(
    hub: &Arc<Hub>,
    conn: &quinn::Connection,
    io: &mut Framed,
    agent: &AgentRec,
    hello: Hello,
    peer: SocketAddr,
    relay: Option<&AgentRec>,
) -> Result<(), ConnError> {
    let who = agent.author.short();
    let a = agent.clone();
    let mut session = Session::server(blocking(hub, move |h| h.scoped_summary(&a)).await?);
    let a = agent.clone();
    let audience = blocking(hub, move |h| crate::office::audience(h, &a)).await?;
    if let Err(e) = session.handle(Msg::Hello(hello)) {
        return Err(protocol_refusal(peer, &who, e));
    }
    let mut sending: Option<VecDeque<Range>> = None;
    let mut received = 0u64;
    let mut sent = 0u64;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => sending = Some(ranges.into()),
                Event::Received { id, runs } => {
                    let (h, a) = (hub.clone(), agent.clone());
                    let res = tokio::task::spawn_blocking(move || {
                        let began = std::time::Instant::now();
                        let r = check::merge_runs(&h, &a, &runs);
                        h.metrics().merge_seconds.observe(began.elapsed());
                        r
                    })
                    .await
                    .map_err(|e| ConnError::Net(e.to_string()))??;
                    match res {
                        Ok(n) => {
                            received += n;
                            hub.metrics().merged(n);
                            session.stored(id)?;
                        }
                        Err(r) => {
                            let author = agent.author;
                            let _ = blocking(hub, move |h| h.note_sync(&author, received)).await;
                            return Err(refuse(peer, &who, r.code, r.message));
                        }
                    }
                }
                Event::Acked { entries, .. } => sent += entries as u64,
                Event::Finished => {}
            }
        }
        if let Some(q) = &mut sending {
            while session.can_send() && !q.is_empty() {
                let runs = next_batch(hub, q, |run| audience.filter(hub, run))?;
                if runs.is_empty() {
                    break;
                }
                session.push_runs(runs)?;
            }
            if q.is_empty() {
                session.finish_sending()?;
                sending = None;
            }
        }
        while let Some(m) = session.poll_transmit() {
            io.send(&m).await?;
        }
        if session.is_finished() {
            break;
        }
        match io.recv().await {
            Ok(Some(m)) => {
                if let Err(e) = session.handle(m) {
                    return Err(protocol_refusal(peer, &who, e));
                }
            }
            Ok(None) => return Err(ConnError::Net("agent ended the stream early".into())),
            Err(ConnError::Proto(e)) => return Err(protocol_refusal(peer, &who, e)),
            Err(e) => return Err(e),
        }
    }
    if relay.is_some() {
        let author = agent.author;
        let r = blocking(hub, move |h| crate::relay::receipt(h, &author)).await?;
        io.send(&Msg::Receipts(vec![r])).await?;
    }
    io.finish(conn).await;
    let author = agent.author;
    blocking(hub, move |h| h.note_sync(&author, received)).await?;
    info!(%peer, agent = %who, received, sent, up_to_date = session.stats().up_to_date, "synced");
    if let Some(r) = relay {
        info!(%peer, agent = %who, relay = %r.author.short(), relay_label = %r.label,
            "relayed sync done: this office's entries were relayed by another office");
    }
    Ok(())
}

/// Fills one batch with runs of the ranges in `q`, across ranges, up to `BATCH` entries, each passed
/// through `filter` (what the peer may see); ranges it uses up leave `q`. Empty when `q` holds nothing
/// more. An office's sync and a standby's follow send this way.
pub(crate) fn next_batch(
    hub: &Hub,
    q: &mut VecDeque<Range>,
    mut filter: impl FnMut(Run) -> crate::Result<Run>,
) -> crate::Result<Vec<Run>> {
    let mut runs = vec![];
    let mut room = BATCH;
    while let Some(r) = q.front_mut() {
        let Some(run) = hub.run(&r.author, r.from, r.to, room)? else {
            if room < BATCH {
                break; // the next run opens the next batch
            }
            q.pop_front(); // nothing held there
            continue;
        };
        let run = filter(run)?;
        room -= run.items.len();
        if run.last() >= r.to {
            q.pop_front();
        } else {
            r.from = run.last() + 1;
        }
        runs.push(run);
        if room == 0 {
            break;
        }
    }
    Ok(runs)
}
