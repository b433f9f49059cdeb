//! The relay's side of a relayed sync with the hub: after its own sync, for each office it carries
//! for, the relay opens a connection under its own certificate, says `RelayFor(office)` and runs a
//! `proto::Session` client on the office's behalf: it sends the office's runs exactly as the office
//! sealed them and the office's summary as it knows it, keeps what the hub sends for the office
//! (durably, before acknowledging), and at the end keeps the hub's signed receipt for the office.
//! The hub checks the office's runs as if the office had connected; the relay never signs them.

use std::collections::VecDeque;
use std::time::Duration;

use baobi_proto::session::Event;
use baobi_proto::wire::{Msg, RefusalCode, Run};
use baobi_proto::{AuthorId, Session};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::net::{self, FramedStream, Identity};
use crate::store::{HubInfo, Store};
use crate::sync::Error;

/// What a relayed sync did for one office.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Forwarded {
    /// The office's entries the hub acknowledged.
    pub sent: u64,
    /// Entries the hub sent for the office (kept for it).
    pub received: u64,
    /// The seq of the office's log the hub's receipt covers.
    pub receipt_seq: u64,
    /// Application bytes sent to the hub.
    pub bytes_up: u64,
    /// Application bytes received from the hub.
    pub bytes_down: u64,
}

/// Asks the hub which offices this relay may carry, and keeps the answer (`relay_allow`).
pub async fn fetch_offices(store: &Store) -> Result<Vec<AuthorId>, Error> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let id = Identity {
        keypair: store.keypair()?,
        cert_der: store.cert_der()?,
    };
    let (endpoint, conn, mut io) = connect(store, &hub, &id).await?;
    let r = async {
        io.send(&Msg::RelayOfficesQuery).await?;
        match recv(&mut io).await? {
            Msg::RelayOffices(list) => Ok(list),
            Msg::Refused(rf) => Err(Error::Refused(rf)),
            _ => Err(Error::Protocol(
                "the hub did not answer which offices the relay carries".into(),
            )),
        }
    }
    .await;
    io.finish().await;
    net::close(&conn, 0, b"done").await;
    drop(endpoint);
    let list = r?;
    super::set_allowed(store, &list)?;
    Ok(list)
}

/// Forwards for every office the relay carries for that the hub lists and that needs it
/// ([`super::needs_forward`]); errors are logged, one office's failure does not stop the others.
/// An office the hub does not list (or that it refused) gets no connection, and an office that has
/// never served as a relay ([`super::serves`]) opens none at all: not even to ask the hub for its list.
pub async fn forward_all(store: &Store) -> Vec<(AuthorId, Result<Forwarded, Error>)> {
    match super::serves(store) {
        Ok(true) => {}
        Ok(false) => return vec![],
        Err(e) => {
            warn!(error = %e, "relay: store");
            return vec![];
        }
    }
    match fetch_offices(store).await {
        Ok(list) => info!(
            offices = list.len(),
            "relay: the hub's list of offices to carry"
        ),
        Err(e) => warn!(error = %e, "relay: could not ask the hub which offices to carry"),
    }
    let Ok(offices) = super::offices(store) else {
        return vec![];
    };
    let listed = super::allowed(store).ok().flatten().map(|(l, _)| l);
    let mut out = vec![];
    for (office, rec) in offices {
        if rec.refused.is_some() || !listed.as_ref().is_some_and(|l| l.contains(&office)) {
            continue;
        }
        match super::needs_forward(store, &office, &rec) {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(office = %office.short(), "relay: nothing to carry; no connection");
                continue;
            }
            Err(e) => {
                warn!(office = %office.short(), error = %e, "relay: store");
                continue;
            }
        }
        let r = forward(store, &office).await;
        if let Err(e) = super::count_forward(store, &office, r.is_ok()) {
            warn!(office = %office.short(), error = %e, "relay: store");
        }
        match &r {
            Ok(f) => info!(office = %office.short(), sent = f.sent, received = f.received,
                receipt = f.receipt_seq, "relay: forwarded to the hub"),
            Err(e) => warn!(office = %office.short(), error = %e, "relay: forwarding failed"),
        }
        out.push((office, r));
    }
    out
}

async fn connect(
    store: &Store,
    hub: &HubInfo,
    id: &Identity,
) -> Result<(quinn::Endpoint, quinn::Connection, FramedStream), Error> {
    let mut last = String::new();
    for t in crate::standby::targets(store, hub)? {
        let Ok(Some(addr)) = tokio::net::lookup_host(&t.addr).await.map(|mut a| a.next()) else {
            last = format!("cannot resolve '{}'", t.addr);
            continue;
        };
        match net::connect(addr, t.fingerprint, id).await {
            Ok(c) => return Ok(c),
            Err(net::Error::HubMismatch) => return Err(Error::HubMismatch { addr: t.addr }),
            Err(e) => last = e.to_string(),
        }
    }
    Err(Error::Unreachable {
        addr: hub.addr.clone(),
        detail: last,
        pending: 0,
    })
}

/// One relayed sync for `office`.
pub async fn forward(store: &Store, office: &AuthorId) -> Result<Forwarded, Error> {
    let hub = store.hub()?.ok_or(Error::NotEnrolled)?;
    let hub_author = hub.author_id()?;
    let id = Identity {
        keypair: store.keypair()?,
        cert_der: store.cert_der()?,
    };
    let (endpoint, conn, mut io) = connect(store, &hub, &id).await?;
    let r = drive(store, &mut io, office, &hub_author).await;
    match &r {
        Ok(_) => {
            io.finish().await;
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                while let Ok(Some(_)) = io.recv().await {}
            })
            .await;
            net::close(&conn, 0, b"done").await;
        }
        Err(Error::Refused(rf))
            if matches!(rf.code, RefusalCode::NotEnrolled | RefusalCode::Revoked) =>
        {
            // The hub does not know (or no longer accepts) this office: carry nothing more for it.
            warn!(office = %office.short(), message = %rf.message, "relay: the hub refused this office; forgetting what was held for it");
            super::forget(store, office, &rf.message)?;
            net::close(&conn, 1, b"refused").await;
        }
        Err(_) => net::close(&conn, 1, b"error").await,
    }
    drop(endpoint);
    r
}

async fn drive(
    store: &Store,
    io: &mut FramedStream,
    office: &AuthorId,
    hub_author: &AuthorId,
) -> Result<Forwarded, Error> {
    let rec = super::office(store, office)?.ok_or(Error::NotEnrolled)?;
    io.send(&Msg::RelayFor(*office)).await?;
    let mut session = Session::client(super::summary_for(&rec, office));
    let mut out = Forwarded::default();
    let mut queue: Option<VecDeque<Run>> = None;
    loop {
        while let Some(ev) = session.poll_event() {
            match ev {
                Event::Send(ranges) => {
                    // Only the office's own runs, as it sealed them, cut where the hub's copy ends.
                    let mut q = VecDeque::new();
                    for g in ranges.iter().filter(|g| g.author == *office) {
                        for run in super::up_runs(store, office)? {
                            if run.last() < g.from || run.from > g.to {
                                continue;
                            }
                            q.push_back(cut(run, g.from));
                        }
                    }
                    queue = Some(q);
                }
                Event::Received { id, runs } => {
                    // Kept as they came (the office checks their seals); nothing applied here.
                    for r in &runs {
                        if r.open().is_none() {
                            return Err(Error::Protocol(format!(
                                "run {}-{} from the hub does not open",
                                r.author.short(),
                                r.from
                            )));
                        }
                    }
                    super::keep_down(store, office, &runs)?;
                    super::update(store, office, |rec| {
                        let mut s = baobi_proto::Summary::from_wire(&rec.summary);
                        for r in &runs {
                            if r.author != *office && s.get(&r.author) + 1 >= r.from {
                                s.set(r.author, s.get(&r.author).max(r.last()));
                            }
                        }
                        rec.summary = s.to_wire();
                    })?; // flushes: durable before the Ack
                    out.received += runs.iter().map(|r| r.items.len() as u64).sum::<u64>();
                    session.stored(id)?;
                }
                Event::Acked { entries, .. } => out.sent += entries as u64,
                Event::Finished => {}
            }
        }
        if let Some(q) = &mut queue {
            while session.can_send() {
                let Some(run) = q.pop_front() else { break };
                session.push_runs(vec![run])?;
            }
            if q.is_empty() {
                session.finish_sending()?;
                queue = None;
            }
        }
        while let Some(m) = session.poll_transmit() {
            io.send(&m).await?;
        }
        if session.is_finished() {
            break;
        }
        let m = recv(io).await?;
        session.handle(m)?;
    }
    // The hub's word for the office, last.
    match recv(io).await? {
        Msg::Receipts(rs) => {
            for r in rs {
                if r.hub != *hub_author || r.office != *office || !r.signature_holds() {
                    return Err(Error::Protocol("the hub's receipt does not verify".into()));
                }
                out.receipt_seq = out.receipt_seq.max(r.seq);
                super::keep_receipt(store, &r)?;
            }
        }
        m => session.handle(m)?,
    }
    out.bytes_up = io.bytes_sent;
    out.bytes_down = io.bytes_received;
    Ok(out)
}

async fn recv(io: &mut FramedStream) -> Result<Msg, Error> {
    match tokio::time::timeout(super::serve::READ_TIMEOUT, io.recv()).await {
        Err(_) => Err(Error::Protocol("the hub sent nothing for too long".into())),
        Ok(Ok(Some(m))) => Ok(m),
        Ok(Ok(None)) => Err(Error::Protocol("the hub ended the session early".into())),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// `run` starting at `from` (or where it starts, if later): its seal still verifies, `prev` being
/// the link of the entry before `from`.
fn cut(run: Run, from: u64) -> Run {
    if from <= run.from {
        return run;
    }
    let Some(opened) = run.open() else { return run };
    let skip = (from - run.from) as usize;
    if skip >= run.items.len() {
        return run;
    }
    Run {
        author: run.author,
        from,
        prev: opened[skip - 1].1,
        items: run.items[skip..].to_vec(),
        head: run.head,
    }
}
