//! Two sync sessions run against each other in memory, through the real frame codec: what crosses,
//! how many bytes and round trips it takes, and that a broken-off sync resumes without resending what
//! was acknowledged.

mod common;

use std::collections::VecDeque;

use baobi_proto::session::{Event, Session};
use baobi_proto::wire::{self, FrameDecoder, Msg};
use baobi_proto::{AuthorId, Keypair, Range, Summary};
use common::{Replica, Writer};
use rand::rngs::StdRng;
use rand::SeedableRng;

#[derive(Default, Debug)]
struct Traffic {
    client_bytes: usize,
    server_bytes: usize,
    /// Times the direction of traffic turned from client→server to server→client.
    round_trips: usize,
    entries_up: usize,
    entries_down: usize,
}

/// One party: its replica, its key (to seal its own runs), its session, which authors it may send
/// (None: any).
struct Peer<'a> {
    replica: &'a mut Replica,
    key: Option<&'a Keypair>,
    session: Session,
    only: Option<AuthorId>,
    pending: VecDeque<Range>,
    /// Stop acknowledging (simulating a drop) after this many stored batches.
    store_limit: Option<usize>,
    stored: usize,
}

impl Peer<'_> {
    fn drive(&mut self) -> Vec<u8> {
        while let Some(ev) = self.session.poll_event() {
            match ev {
                Event::Send(ranges) => {
                    for r in ranges {
                        if self.only.is_none_or(|a| a == r.author) {
                            self.pending.push_back(r);
                        }
                    }
                }
                Event::Received { id, runs } => {
                    if self.store_limit.is_some_and(|l| self.stored >= l) {
                        continue;
                    }
                    for r in &runs {
                        assert!(self.replica.receive(r), "a run's seal does not verify");
                    }
                    self.stored += 1;
                    self.session.stored(id).unwrap();
                }
                Event::Acked { .. } | Event::Finished => {}
            }
        }
        while self.session.can_send() && !self.pending.is_empty() {
            // Batches of at most 100 entries, across ranges.
            let (mut runs, mut room) = (vec![], 100);
            while let Some(r) = self.pending.front_mut() {
                let Some(run) = self.replica.run(r.author, r.from, r.to, room, self.key) else {
                    break;
                };
                room -= run.items.len() as u64;
                if run.last() >= r.to {
                    self.pending.pop_front();
                } else {
                    r.from = run.last() + 1;
                }
                runs.push(run);
                if room == 0 {
                    break;
                }
            }
            assert!(!runs.is_empty(), "nothing sealable in {:?}", self.pending);
            self.session.push_runs(runs).unwrap();
        }
        if self.session.can_send() && self.pending.is_empty() {
            self.session.finish_sending().unwrap();
        }
        let mut out = vec![];
        while let Some(m) = self.session.poll_transmit() {
            out.extend(wire::encode_frame(&m));
        }
        out
    }
}

fn feed(session: &mut Session, dec: &mut FrameDecoder, bytes: &[u8], count: &mut usize) {
    dec.push(bytes);
    while let Some(m) = dec.next_msg().unwrap() {
        if let Msg::Runs(b) = &m {
            *count += b.runs.iter().map(|r| r.items.len()).sum::<usize>();
        }
        session.handle(m).unwrap();
    }
}

/// Runs a whole sync between an agent (client, sends only its own entries) and a hub.
fn sync(agent: &mut Writer, hub: &mut Replica, hub_store_limit: Option<usize>) -> Traffic {
    let own = agent.author();
    let mut c = Peer {
        session: Session::client(agent.replica.summary()),
        replica: &mut agent.replica,
        key: Some(&agent.key),
        only: Some(own),
        pending: VecDeque::new(),
        store_limit: None,
        stored: 0,
    };
    let mut s = Peer {
        session: Session::server(hub.summary()),
        replica: hub,
        key: None,
        only: None,
        pending: VecDeque::new(),
        store_limit: hub_store_limit,
        stored: 0,
    };
    let (mut cd, mut sd) = (FrameDecoder::new(), FrameDecoder::new());
    let mut t = Traffic::default();
    for _ in 0..10_000 {
        let up = c.drive();
        if !up.is_empty() {
            t.round_trips += 1;
        }
        t.client_bytes += up.len();
        feed(&mut s.session, &mut sd, &up, &mut t.entries_up);
        let down = s.drive();
        t.server_bytes += down.len();
        feed(&mut c.session, &mut cd, &down, &mut t.entries_down);
        if (c.session.is_finished() && s.session.is_finished())
            || (up.is_empty() && down.is_empty())
        {
            break;
        }
    }
    t
}

fn agent_with_records(n: usize, seed: u64) -> Writer {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut w = Writer::new();
    for i in 0..n {
        let op = w.random_op(&mut rng);
        w.write(op, 1_700_000_000_000 + i as u64);
    }
    w
}

#[test]
fn first_sync_sends_everything_once_and_second_sync_is_one_small_round_trip() {
    let mut w = agent_with_records(300, 1);
    let mut hub = Replica::default();
    let t = sync(&mut w, &mut hub, None);
    assert_eq!(t.entries_up, 300);
    assert_eq!(hub.entries.len(), 300);
    assert_eq!(hub.view, w.replica.view);

    let t = sync(&mut w, &mut hub, None);
    assert_eq!(t.entries_up + t.entries_down, 0);
    assert_eq!(t.round_trips, 1, "{t:?}");
    assert!(t.client_bytes <= 150 && t.server_bytes <= 150, "{t:?}");
    eprintln!(
        "no-change sync: {} bytes up, {} bytes down",
        t.client_bytes, t.server_bytes
    );
}

#[test]
fn k_new_records_cost_about_their_encoded_size() {
    let mut w = agent_with_records(1000, 2);
    let mut hub = Replica::default();
    sync(&mut w, &mut hub, None);
    let mut rng = StdRng::seed_from_u64(3);
    let mut size = 0;
    for i in 0..10 {
        let op = w.random_op(&mut rng);
        let e = w.write(op, 1_800_000_000_000 + i);
        size += wire::encode(&e).len();
    }
    let t = sync(&mut w, &mut hub, None);
    assert_eq!(t.entries_up, 10);
    eprintln!(
        "10 new records: {size} bytes of entries, {} bytes up, {} down",
        t.client_bytes, t.server_bytes
    );
    assert!(t.client_bytes <= size + 200, "{t:?} vs {size}");
    assert!(t.server_bytes <= 200, "{t:?}");
}

#[test]
fn a_dropped_sync_resumes_without_resending_what_was_acknowledged() {
    let mut w = agent_with_records(1000, 4);
    let mut hub = Replica::default();
    // The hub stores and acknowledges 3 batches of 100, then the link drops.
    let t = sync(&mut w, &mut hub, Some(3));
    assert_eq!(hub.entries.len(), 300);
    assert!(t.entries_up > 300, "the window had more in flight");
    let t = sync(&mut w, &mut hub, None);
    assert_eq!(t.entries_up, 700, "only what the hub lacked");
    assert_eq!(hub.view, w.replica.view);
}

#[test]
fn hub_sends_down_what_the_agent_lacks() {
    let mut district = agent_with_records(50, 5);
    let mut commune = agent_with_records(40, 6);
    let mut hub = Replica::default();
    sync(&mut commune, &mut hub, None);
    let t = sync(&mut district, &mut hub, None);
    assert_eq!((t.entries_up, t.entries_down), (50, 40));
    assert_eq!(district.replica.view, hub.view);
    let t = sync(&mut commune, &mut hub, None);
    assert_eq!((t.entries_up, t.entries_down), (0, 50));
    assert_eq!(commune.replica.view, hub.view);
}

#[test]
fn protocol_violations_are_errors_not_panics() {
    let mut s = Session::server(Summary::new());
    assert!(s.handle(Msg::Ack(3)).is_err());
    let mut s = Session::server(Summary::new());
    assert!(s.handle(Msg::Done).is_err());
    let mut c = Session::client(Summary::new());
    assert!(c
        .handle(Msg::Hello(wire::Hello {
            version: 1,
            digest: [0; 16]
        }))
        .is_err());
    let mut s = Session::server(Summary::new());
    assert!(s
        .handle(Msg::Hello(wire::Hello {
            version: 99,
            digest: [0; 16]
        }))
        .is_err());
}
