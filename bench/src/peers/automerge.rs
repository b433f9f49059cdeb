//! Automerge (crate `automerge`, 0.12) with its own sync protocol over one QUIC stream.
//!
//! One document per office (the hub keeps one per office too): a province-wide document would ship
//! every office's history to every office, and baobi's logs are per office, so this is the fair
//! match. The records are maps under `records`, keyed by the record's sequence number, one commit per
//! record (as a field app saves each survey); field values are the records' own, with dates as
//! yyyymmdd integers and the outlet reference as 32 raw key bytes plus a number, as compact as baobi's.
//!
//! Each sync is a lock-step exchange: the client sends its next sync message (or an empty frame when
//! it has none), the server answers with its next (or an empty frame); it ends when neither has
//! anything to say. One client send and server answer is one round trip. Both sides keep their
//! `sync::State` between syncs, persisted as Automerge recommends (`State::encode`); "lost sync state"
//! gives the client a fresh `State`.

use std::sync::{Arc, Mutex};

use automerge::sync::{Message, State, SyncDoc};
use automerge::transaction::Transactable;
use automerge::{AutoCommit, ObjId, ObjType, ScalarValue, ROOT};
use baobi_proto::wire::Body;
use serde_json::Value;

use super::{Dataset, PeerKind, PeerRun, Scenario};
use crate::frame;
use crate::link::Link;
use crate::meter::{Clock, Measure};
use crate::tls::{self, Cert};

const ALPN: &[u8] = b"bench-automerge";

/// The server's replica of the office's document and its persisted sync state for the office.
#[derive(Default)]
struct ServerSide {
    doc: AutoCommit,
    state: Vec<u8>,
}

fn scalar(v: &Value) -> Option<ScalarValue> {
    Some(match v {
        Value::Bool(b) => (*b).into(),
        Value::Number(n) => match n.as_u64() {
            Some(u) => u.into(),
            None => n.as_f64()?.into(),
        },
        Value::String(s) => s.as_str().into(),
        _ => return None,
    })
}

fn date_int(s: &str) -> Option<u64> {
    let d: String = s.chars().filter(char::is_ascii_digit).collect();
    (d.len() == 8).then(|| d.parse().ok()).flatten()
}

/// Writes the fields of a JSON object into the Automerge map `obj`.
fn put_fields(
    doc: &mut AutoCommit,
    obj: &ObjId,
    fields: &serde_json::Map<String, Value>,
) -> anyhow::Result<()> {
    for (k, v) in fields {
        match (k.as_str(), v) {
            (_, Value::Null) => {}
            ("outlet", Value::String(s)) => {
                // "<64 hex author>-<seq>": 32 raw bytes and a number.
                let (a, n) = s.rsplit_once('-').unwrap_or((s, "0"));
                let author = baobi_proto::AuthorId::from_hex(a)?;
                doc.put(obj, "outlet_author", author.0.to_vec())?;
                doc.put(obj, "outlet_seq", n.parse::<u64>()?)?;
            }
            ("date" | "from" | "to", Value::String(s)) if date_int(s).is_some() => {
                doc.put(obj, k.as_str(), date_int(s).unwrap_or(0))?;
            }
            (_, Value::Object(m)) => {
                let child = doc.put_object(obj, k.as_str(), ObjType::Map)?;
                put_fields(doc, &child, m)?;
            }
            (_, Value::Array(items)) => {
                let list = doc.put_object(obj, k.as_str(), ObjType::List)?;
                for (i, item) in items.iter().enumerate() {
                    match item {
                        Value::Object(m) => {
                            let child = doc.insert_object(&list, i, ObjType::Map)?;
                            put_fields(doc, &child, m)?;
                        }
                        other => {
                            if let Some(s) = scalar(other) {
                                doc.insert(&list, i, s)?;
                            }
                        }
                    }
                }
            }
            (_, other) => {
                if let Some(s) = scalar(other) {
                    doc.put(obj, k.as_str(), s)?;
                }
            }
        }
    }
    Ok(())
}

/// Records `body` as record `seq` of the office's document, in a commit of its own.
pub fn record(doc: &mut AutoCommit, records: &ObjId, seq: u64, body: &Body) -> anyhow::Result<()> {
    let Value::Object(fields) = serde_json::to_value(body)? else {
        anyhow::bail!("a record body is not a JSON object");
    };
    let obj = doc.put_object(records, seq.to_string(), ObjType::Map)?;
    put_fields(doc, &obj, &fields)?;
    doc.commit();
    Ok(())
}

async fn serve(endpoint: quinn::Endpoint, side: Arc<Mutex<ServerSide>>) {
    while let Some(inc) = endpoint.accept().await {
        let side = side.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(inc, side).await {
                tracing::warn!(error = %e, "automerge session failed");
            }
        });
    }
}

async fn serve_one(inc: quinn::Incoming, side: Arc<Mutex<ServerSide>>) -> anyhow::Result<()> {
    let conn = inc.await?;
    let (send, recv) = conn.accept_bi().await?;
    let mut io = frame::Framed::new(send, recv);
    let mut state = {
        let s = side.lock().unwrap_or_else(|p| p.into_inner());
        if s.state.is_empty() {
            State::new()
        } else {
            State::decode(&s.state)?
        }
    };
    while let Some(frame) = io.recv().await? {
        let reply = {
            let mut s = side.lock().unwrap_or_else(|p| p.into_inner());
            if !frame.is_empty() {
                s.doc
                    .sync()
                    .receive_sync_message(&mut state, Message::decode(&frame)?)?;
            }
            let reply = s
                .doc
                .sync()
                .generate_sync_message(&mut state)
                .map(Message::encode);
            reply.unwrap_or_default()
        };
        io.send(&reply).await?;
    }
    side.lock().unwrap_or_else(|p| p.into_inner()).state = state.encode();
    frame::server_finish(&conn, &mut io).await;
    Ok(())
}

async fn sync(
    doc: &mut AutoCommit,
    state: &mut State,
    addr: std::net::SocketAddr,
    cfg: quinn::ClientConfig,
    link: &Link,
) -> anyhow::Result<Measure> {
    link.reset_stats();
    let clock = Clock::start();
    let (endpoint, conn, mut io) = frame::connect(addr, cfg, tls::SERVER_NAME).await?;
    let mut round_trips = 0u64;
    let mut server_quiet = false;
    loop {
        let out = doc.sync().generate_sync_message(state);
        if out.is_none() && (server_quiet || round_trips == 0) {
            break;
        }
        io.send(&out.map(Message::encode).unwrap_or_default())
            .await?;
        round_trips += 1;
        let reply = io
            .recv()
            .await?
            .ok_or_else(|| anyhow::anyhow!("automerge server ended the stream"))?;
        server_quiet = reply.is_empty();
        if !server_quiet {
            doc.sync()
                .receive_sync_message(state, Message::decode(&reply)?)?;
        }
    }
    let (up, down) = (io.bytes_sent, io.bytes_received);
    frame::close(endpoint, conn, io).await;
    // Persist the sync state as Automerge recommends between connections.
    *state = State::decode(&state.encode())?;
    let (wall_s, cpu_s) = clock.stop();
    let w = link.stats();
    Ok(Measure {
        app_up: up,
        app_down: down,
        wire_up: w.up,
        wire_down: w.down,
        round_trips,
        wall_s,
        cpu_s,
        extrapolated: false,
    })
}

/// Runs the four scenarios.
pub async fn run(profile: &str, data: &Dataset) -> anyhow::Result<PeerRun> {
    let server_cert = Cert::new(tls::SERVER_NAME)?;
    let client_cert = Cert::new("bench-client")?;
    let endpoint = tls::quic_server(&server_cert, ALPN)?;
    let server_addr = endpoint.local_addr()?;
    let side = Arc::new(Mutex::new(ServerSide::default()));
    let task = tokio::spawn(serve(endpoint.clone(), side.clone()));
    let link = Link::udp(server_addr, profile).await?;
    let cfg = || {
        tls::quic_client(
            baobi_proto::identity::fingerprint(&server_cert.der),
            ALPN,
            &client_cert,
        )
    };
    let mut doc = AutoCommit::new();
    let records = doc.put_object(ROOT, "records", ObjType::Map)?;
    doc.commit();
    let mut state = State::new();
    let numbered: Vec<_> = data.numbered().collect();
    let (first, extra) = numbered.split_at(data.initial.len());
    for (seq, body) in first {
        record(&mut doc, &records, *seq, body)?;
    }
    let mut results = vec![];
    results.push((
        Scenario::Initial,
        sync(&mut doc, &mut state, link.addr(), cfg()?, &link).await?,
    ));
    for (seq, body) in extra {
        record(&mut doc, &records, *seq, body)?;
    }
    results.push((
        Scenario::AddFew,
        sync(&mut doc, &mut state, link.addr(), cfg()?, &link).await?,
    ));
    results.push((
        Scenario::NoChange,
        sync(&mut doc, &mut state, link.addr(), cfg()?, &link).await?,
    ));
    let mut fresh = State::new();
    results.push((
        Scenario::LostState,
        sync(&mut doc, &mut fresh, link.addr(), cfg()?, &link).await?,
    ));
    let heads_match = {
        let mut s = side.lock().unwrap_or_else(|p| p.into_inner());
        s.doc.get_heads() == doc.get_heads()
    };
    anyhow::ensure!(heads_match, "automerge replicas differ after sync");
    endpoint.close(0u32.into(), b"done");
    task.abort();
    Ok(PeerRun {
        peer: PeerKind::Automerge,
        profile: profile.to_string(),
        results,
    })
}
