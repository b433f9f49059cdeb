//! What a no-change sync puts on the wire (issue 13, goal 5), seen by a counting UDP relay between
//! the real `baobi-agent` and the real `baobi-hub`: no datagram above QUIC's 1,200-byte minimum
//! either way (the hub probed the path MTU with datagrams of up to 1,452 bytes, most of the no-change
//! sync's bytes), the agent's close still reaches the hub although the agent no longer waits for
//! its connection to drain before exiting, and an office that relays for no one syncs over one
//! connection.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use baobi_tests::Hub;

/// QUIC's smallest maximum datagram size (RFC 9000 §14): what every path carries.
const QUIC_MIN_MTU: usize = 1200;

/// One datagram through the relay: when, which way (`true` = agent → hub), how large.
type Seen = (Instant, bool, usize);

/// Forwards datagrams between one agent and the hub, recording each one.
struct Relay {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// The agent's addresses, in the order their first datagram came: one per QUIC connection, as
    /// the agent opens each connection on an endpoint of its own.
    agents: Arc<Mutex<Vec<SocketAddr>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Relay {
    fn start(hub: SocketAddr) -> Relay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
        let back = UdpSocket::bind("127.0.0.1:0").expect("relay socket");
        back.connect(hub).expect("connect to the hub");
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(50))).unwrap();
        }
        let addr = front.local_addr().unwrap();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let agent: Arc<Mutex<Option<SocketAddr>>> = Arc::default();
        let agents: Arc<Mutex<Vec<SocketAddr>>> = Arc::default();
        let (front2, back2) = (front.try_clone().unwrap(), back.try_clone().unwrap());
        let up = {
            let (seen, stop, agent, agents) =
                (seen.clone(), stop.clone(), agent.clone(), agents.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((n, from)) = front.recv_from(&mut buf) {
                        *agent.lock().unwrap() = Some(from);
                        let mut a = agents.lock().unwrap();
                        if !a.contains(&from) {
                            a.push(from);
                        }
                        drop(a);
                        seen.lock().unwrap().push((Instant::now(), true, n));
                        let _ = back.send(&buf[..n]);
                    }
                }
            })
        };
        let down = {
            let (seen, stop) = (seen.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 65536];
                while !stop.load(Ordering::SeqCst) {
                    if let Ok(n) = back2.recv(&mut buf) {
                        seen.lock().unwrap().push((Instant::now(), false, n));
                        if let Some(to) = *agent.lock().unwrap() {
                            let _ = front2.send_to(&buf[..n], to);
                        }
                    }
                }
            })
        };
        Relay {
            addr,
            seen,
            agents,
            stop,
            threads: vec![up, down],
        }
    }

    fn clear(&self) {
        self.seen.lock().unwrap().clear();
        self.agents.lock().unwrap().clear();
    }

    /// QUIC connections the agent opened through the relay since the last [`Relay::clear`].
    fn connections(&self) -> usize {
        self.agents.lock().unwrap().len()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_no_change_sync_sends_no_datagram_above_the_quic_minimum_and_closes_cleanly() {
    let mut hub = Hub::init();
    hub.serve();
    let relay = Relay::start(hub.addr.expect("serving"));
    let agent = hub.enroll_agent_at("30226", relay.addr);
    agent.ok(&["sync"]);

    relay.clear();
    let report = agent.json(&["sync"]);
    let exited = Instant::now();
    assert_eq!(report["up_to_date"], true, "not a no-change sync: {report}");
    // Long enough for the hub to have closed on its own had the agent's close not arrived (it waits
    // 5 s for the office's close after the session) and for the relay to see that close.
    std::thread::sleep(Duration::from_secs(7));
    let seen = relay.seen();
    assert!(
        seen.iter().any(|s| s.1) && seen.iter().any(|s| !s.1),
        "nothing relayed"
    );

    let too_big: Vec<_> = seen
        .iter()
        .filter(|s| s.2 > QUIC_MIN_MTU)
        .map(|s| (if s.1 { "up" } else { "down" }, s.2))
        .collect();
    assert!(
        too_big.is_empty(),
        "datagrams above {QUIC_MIN_MTU} bytes (path MTU probes): {too_big:?}"
    );

    // An acknowledgement of the agent's last packets may follow its exit by the ACK delay (25 ms);
    // a datagram from the hub a second or more later is the hub closing a connection whose office
    // never said it was done.
    let late: Vec<_> = seen
        .iter()
        .filter(|s| !s.1 && s.0 > exited + Duration::from_secs(1))
        .map(|s| (s.0 - exited, s.2))
        .collect();
    assert!(
        late.is_empty(),
        "the hub sent after the agent exited (its close did not arrive): {late:?}"
    );
}

/// An office that relays for no one syncs over one connection: the relay's question to the hub
/// ("which offices may I carry?") cost every office a second handshake on every sync, doubling a
/// no-change sync's bytes (3,843 to 7,691 B) and its round trips.
#[test]
fn an_office_that_is_no_relay_syncs_over_one_connection() {
    let mut hub = Hub::init();
    hub.serve();
    let relay = Relay::start(hub.addr.expect("serving"));
    let agent = hub.enroll_agent_at("30226", relay.addr);
    relay.clear();
    agent.ok(&["sync"]);
    assert_eq!(relay.connections(), 1, "the first sync's connections");

    relay.clear();
    let report = agent.json(&["sync"]);
    assert_eq!(report["up_to_date"], true, "not a no-change sync: {report}");
    assert_eq!(relay.connections(), 1, "a no-change sync's connections");

    // And a sync that sends: one market survey, as `drop.rs` records it.
    let market = agent.outlet("market", "Chợ Tân Thành", "30226", &["--class", "3"]);
    agent.market_survey(&market, "2025-06-20", "17.25", &[]);
    relay.clear();
    let report = agent.sync();
    assert_eq!(report["sent"], 2, "the outlet and its survey: {report}");
    assert_eq!(relay.connections(), 1, "a sync's connections");
}
