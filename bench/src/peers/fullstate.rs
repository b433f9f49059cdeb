//! Full-state CRDT sync, the naive reading of "CRDT state syncs": each replica is a map of record id
//! → (clock, record), a last-writer-wins map (a state-based CRDT: merge is a union keeping the higher
//! clock), shipped whole with bincode each sync and merged by the receiver.
//!
//! The metadata is kept as small as it can be (one dot and one clock per record), which favours this
//! peer. Per sync the client sends its state and the server answers with the state it held when the
//! session opened (the push-pull of anti-entropy): one round trip. A state CRDT keeps no sync state,
//! so "lost sync state" costs exactly what a no-change sync costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use baobi_proto::wire::{Body, Dot, Hlc};
use bincode::{Decode, Encode};

use super::{Dataset, PeerKind, PeerRun, Scenario};
use crate::frame;
use crate::link::Link;
use crate::meter::{Clock, Measure};
use crate::tls::{self, Cert};

const ALPN: &[u8] = b"bench-fullstate";

/// A replica: record id → (clock, record).
#[derive(Debug, Clone, Default, PartialEq, Encode, Decode)]
pub struct State(pub BTreeMap<Dot, (Hlc, Body)>);

impl State {
    /// Merges `other` in: union, the higher (clock, id) wins per record.
    pub fn merge(&mut self, other: State) {
        for (id, (hlc, body)) in other.0 {
            match self.0.get(&id) {
                Some((h, _)) if *h >= hlc => {}
                _ => {
                    self.0.insert(id, (hlc, body));
                }
            }
        }
    }
}

fn encode(s: &State) -> Vec<u8> {
    bincode::encode_to_vec(s, bincode::config::standard()).unwrap_or_default()
}

fn decode(b: &[u8]) -> anyhow::Result<State> {
    let (s, n) = bincode::decode_from_slice(b, bincode::config::standard())?;
    anyhow::ensure!(n == b.len(), "trailing bytes");
    Ok(s)
}

async fn serve(endpoint: quinn::Endpoint, state: Arc<Mutex<State>>) {
    while let Some(inc) = endpoint.accept().await {
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_one(inc, state).await {
                tracing::warn!(error = %e, "full-state session failed");
            }
        });
    }
}

async fn serve_one(inc: quinn::Incoming, state: Arc<Mutex<State>>) -> anyhow::Result<()> {
    let conn = inc.await?;
    let (send, recv) = conn.accept_bi().await?;
    let mut io = frame::Framed::new(send, recv);
    let mine = encode(&state.lock().unwrap_or_else(|p| p.into_inner()));
    if let Some(theirs) = io.exchange(&mine).await? {
        let theirs = decode(&theirs)?;
        state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .merge(theirs);
    }
    frame::server_finish(&conn, &mut io).await;
    Ok(())
}

async fn sync(
    client: &mut State,
    addr: std::net::SocketAddr,
    cfg: quinn::ClientConfig,
    link: &Link,
) -> anyhow::Result<Measure> {
    link.reset_stats();
    let clock = Clock::start();
    let (endpoint, conn, mut io) = frame::connect(addr, cfg, tls::SERVER_NAME).await?;
    let theirs = io
        .exchange(&encode(client))
        .await?
        .ok_or_else(|| anyhow::anyhow!("server sent no state"))?;
    client.merge(decode(&theirs)?);
    // The server ends its side once it has merged our state: that is its acknowledgement (it
    // arrives within the same round trip as its state).
    io.finish();
    let end = tokio::time::timeout(std::time::Duration::from_secs(600), io.recv()).await;
    anyhow::ensure!(
        matches!(end, Ok(Ok(None))),
        "full-state server did not confirm the merge"
    );
    let (up, down) = (io.bytes_sent, io.bytes_received);
    frame::close(endpoint, conn, io).await;
    let (wall_s, cpu_s) = clock.stop();
    let w = link.stats();
    Ok(Measure {
        app_up: up,
        app_down: down,
        wire_up: w.up,
        wire_down: w.down,
        round_trips: 1,
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
    let server_state = Arc::new(Mutex::new(State::default()));
    let task = tokio::spawn(serve(endpoint.clone(), server_state.clone()));
    let link = Link::udp(server_addr, profile).await?;
    let cfg = || {
        tls::quic_client(
            baobi_proto::identity::fingerprint(&server_cert.der),
            ALPN,
            &client_cert,
        )
    };
    let author = data.keypair.author();
    let mut client = State::default();
    let mut hlc = Hlc(1 << 16);
    let mut add = |client: &mut State, seq: u64, body: &Body| {
        hlc = Hlc(hlc.0 + 1);
        client.0.insert(Dot { author, seq }, (hlc, body.clone()));
    };
    let mut results = vec![];
    let numbered: Vec<(u64, &Body)> = data.numbered().collect();
    let (first, extra) = numbered.split_at(data.initial.len());
    for (seq, body) in first {
        add(&mut client, *seq, body);
    }
    results.push((
        Scenario::Initial,
        sync(&mut client, link.addr(), cfg()?, &link).await?,
    ));
    for (seq, body) in extra {
        add(&mut client, *seq, body);
    }
    results.push((
        Scenario::AddFew,
        sync(&mut client, link.addr(), cfg()?, &link).await?,
    ));
    results.push((
        Scenario::NoChange,
        sync(&mut client, link.addr(), cfg()?, &link).await?,
    ));
    results.push((
        Scenario::LostState,
        sync(&mut client, link.addr(), cfg()?, &link).await?,
    ));
    let held = server_state
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .0
        .len();
    anyhow::ensure!(held == numbered.len(), "full-state server holds {held}");
    endpoint.close(0u32.into(), b"done");
    task.abort();
    Ok(PeerRun {
        peer: PeerKind::FullState,
        profile: profile.to_string(),
        results,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use baobi_proto::AuthorId;

    #[test]
    fn merge_is_a_union_keeping_the_later_clock() {
        let d = |s| Dot {
            author: AuthorId([1; 32]),
            seq: s,
        };
        let body = |n: u32| {
            crate::data::Generator::new(AuthorId([1; 32]), 1, &crate::data::lai_vung(), n.into())
                .take(1)
                .remove(0)
        };
        let mut a = State::default();
        a.0.insert(d(1), (Hlc(5), body(1)));
        let mut b = State::default();
        b.0.insert(d(1), (Hlc(6), body(2)));
        b.0.insert(d(2), (Hlc(1), body(3)));
        let mut ab = a.clone();
        ab.merge(b.clone());
        let mut ba = b.clone();
        ba.merge(a);
        assert_eq!(ab, ba);
        assert_eq!(ab.0.len(), 2);
        assert_eq!(decode(&encode(&ab)).unwrap(), ab);
    }
}
