//! Raw protocol clients for peers an honest agent cannot imitate (replays, floods, slow or oversized
//! senders), built on the agent library's transport.

use baobi_agent::net::{self, FramedStream, Identity};
use baobi_agent::store::Store;
use baobi_proto::wire::{Hello, Msg, RefusalCode, Run, RunBatch};
use baobi_proto::{Entry, Keypair, Summary, Token};

use crate::{Agent, Hub};

/// A two-worker runtime for raw clients.
pub fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// The identity (key and certificate) of an enrolled agent, read from its store.
pub fn identity_of(agent: &Agent) -> Identity {
    let store = Store::open(agent.dir.path()).expect("agent store");
    baobi_agent::sync::identity(&store).expect("identity")
}

/// Opens a raw connection to the hub as `id` (pinning the hub of `token`).
pub async fn open(
    hub: &Hub,
    token: &str,
    id: &Identity,
) -> (quinn::Endpoint, quinn::Connection, FramedStream) {
    let t = Token::from_text(token).expect("token");
    net::connect(hub.addr.expect("hub serving"), t.hub_fingerprint, id)
        .await
        .expect("connect")
}

/// Opens a sync by hand (a digest that never matches, an empty summary) on `s`.
pub async fn open_session(s: &mut FramedStream) -> Option<Msg> {
    s.send(&Msg::Hello(Hello {
        version: baobi_proto::session::VERSION,
        digest: [0xAB; 16],
    }))
    .await
    .ok()?;
    match s.recv().await {
        Ok(Some(Msg::Summary(_))) => {}
        other => return other.ok().flatten(),
    }
    s.send(&Msg::Summary(Summary::new().to_wire())).await.ok()?;
    None
}

/// Seals `entries` (the start of `key`'s log, from seq 1) as one run, as an agent sends them.
pub fn seal(key: &Keypair, entries: &[Entry]) -> Run {
    assert_eq!(entries.first().map(|e| e.seq), Some(1), "a log from seq 1");
    let genesis = baobi_proto::chain::genesis(&key.author());
    Run::seal(key, genesis, entries)
        .expect("contiguous entries of the key")
        .0
}

/// Runs the opening of a sync by hand and pushes `runs` as one batch; returns the hub's
/// answer to it: `Refused`, `Ack`, or `None` when the connection just closed.
pub async fn push(hub: &Hub, token: &str, id: &Identity, runs: Vec<Run>) -> Option<Msg> {
    let (_ep, _conn, mut s) = open(hub, token, id).await;
    if let Some(m) = open_session(&mut s).await {
        return Some(m);
    }
    s.send(&Msg::Runs(RunBatch { id: 0, runs })).await.ok()?;
    s.send(&Msg::Done).await.ok()?;
    loop {
        match s.recv().await {
            Ok(Some(Msg::Refused(r))) => return Some(Msg::Refused(r)),
            Ok(Some(Msg::Ack(id))) => return Some(Msg::Ack(id)),
            Ok(Some(Msg::Runs(_))) | Ok(Some(Msg::Done)) => continue,
            Ok(other) => return other,
            Err(_) => return None,
        }
    }
}

/// The refusal code of an answer; panics on anything else.
pub fn refusal(m: Option<Msg>) -> RefusalCode {
    match m {
        Some(Msg::Refused(r)) => r.code,
        other => panic!("expected a refusal, got {other:?}"),
    }
}
