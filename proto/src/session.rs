//! The sync session as a pure state machine: messages in, messages and events out, no I/O.
//!
//! Client and hub each hold a [`Session`] and move its messages over one stream. The client opens with
//! a digest of its summary; if the hub's digest for that client matches, the hub answers `UpToDate` and
//! the sync is one round trip. Otherwise both send full summaries, each side learns the ranges the other
//! lacks ([`Event::Send`]) and pushes them as numbered batches of sealed runs (see [`crate::chain`]),
//! at most `window` unacknowledged at once.
//! A received batch surfaces as [`Event::Received`]; the driver makes it durable, then calls
//! [`Session::stored`], which emits the `Ack`. Each side ends with `Done`; the session is finished when
//! both sides are done and every batch either way is acknowledged. Resending after a drop is harmless
//! because stores are idempotent by dot.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::summary::{Range, Summary};
use crate::wire::{Hello, Msg, Refusal, Run, RunBatch, MAX_BATCH_ENTRIES};
use crate::Error;

/// Protocol revision spoken in `Hello`: 2 sends entries as sealed runs ([`Msg::Runs`]); 3 chains
/// entries by their digests, so a run may carry placeholders ([`crate::wire::Op::Elided`]) for
/// entries the receiver is not sent.
pub const VERSION: u16 = 3;
/// Default number of unacknowledged batches in flight.
pub const DEFAULT_WINDOW: usize = 8;

/// Which end of the session this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The agent: opens the session.
    Client,
    /// The hub.
    Server,
}

/// Something the driver must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// The peer lacks these ranges: feed them with [`Session::push_runs`] as the window allows, then
    /// call [`Session::finish_sending`]. The driver may send fewer (entries it may not share).
    Send(Vec<Range>),
    /// The peer sent entries: open the runs (`Run::open` checks their seals), check and store them
    /// durably, then call [`Session::stored`].
    Received {
        /// Batch id to acknowledge.
        id: u32,
        /// The runs, not yet opened.
        runs: Vec<Run>,
    },
    /// A batch of ours is durable at the peer.
    Acked {
        /// Its id.
        id: u32,
        /// How many entries it carried.
        entries: usize,
    },
    /// The session is complete: both sides done, every batch acknowledged.
    Finished,
}

/// Counters of one session.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries we sent that the peer acknowledged.
    pub entries_acked: u64,
    /// Entries received from the peer (and stored).
    pub entries_received: u64,
    /// True when the session ended on matching digests.
    pub up_to_date: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Client: Hello sent, waiting for UpToDate or Summary. Server: waiting for Hello.
    Opening,
    /// Server: Summary sent, waiting for the client's Summary.
    AwaitSummary,
    /// Summaries exchanged; batches flow.
    Exchanging,
    /// Complete.
    Finished,
}

/// One sync session.
#[derive(Debug)]
pub struct Session {
    role: Role,
    phase: Phase,
    local: Summary,
    window: usize,
    out: VecDeque<Msg>,
    events: VecDeque<Event>,
    next_out_id: u32,
    in_flight: BTreeMap<u32, usize>,
    sent_done: bool,
    next_in_id: u32,
    unstored: BTreeSet<u32>,
    peer_done: bool,
    stats: Stats,
}

impl Session {
    /// A client session holding `local`; its `Hello` is queued.
    pub fn client(local: Summary) -> Self {
        let mut s = Self::new(Role::Client, local);
        s.out.push_back(Msg::Hello(Hello {
            version: VERSION,
            digest: s.local.digest(),
        }));
        s
    }

    /// A server session; `local` is what the hub holds that this client may see.
    pub fn server(local: Summary) -> Self {
        Self::new(Role::Server, local)
    }

    fn new(role: Role, local: Summary) -> Self {
        Session {
            role,
            phase: Phase::Opening,
            local,
            window: DEFAULT_WINDOW,
            out: VecDeque::new(),
            events: VecDeque::new(),
            next_out_id: 0,
            in_flight: BTreeMap::new(),
            sent_done: false,
            next_in_id: 0,
            unstored: BTreeSet::new(),
            peer_done: false,
            stats: Stats::default(),
        }
    }

    /// Sets the number of unacknowledged batches allowed in flight (at least 1).
    pub fn with_window(mut self, window: usize) -> Self {
        self.window = window.max(1);
        self
    }

    /// Which end this is.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// True once the session is complete.
    pub fn is_finished(&self) -> bool {
        self.phase == Phase::Finished
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Msg> {
        self.out.pop_front()
    }

    /// The next event for the driver.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// True when another batch may be pushed now.
    pub fn can_send(&self) -> bool {
        self.phase == Phase::Exchanging && !self.sent_done && self.in_flight.len() < self.window
    }

    /// Queues a batch of runs the peer lacks (at most [`MAX_BATCH_ENTRIES`] entries in all, none
    /// empty).
    pub fn push_runs(&mut self, runs: Vec<Run>) -> Result<(), Error> {
        if !self.can_send() {
            return Err(Error::Protocol(
                "batch pushed while the window is closed".into(),
            ));
        }
        let n = batch_entries(&runs)?;
        let id = self.next_out_id;
        self.next_out_id += 1;
        self.in_flight.insert(id, n);
        self.out.push_back(Msg::Runs(RunBatch { id, runs }));
        Ok(())
    }

    /// Declares that no more batches will be pushed.
    pub fn finish_sending(&mut self) -> Result<(), Error> {
        if self.phase != Phase::Exchanging || self.sent_done {
            return Err(Error::Protocol("finish_sending out of turn".into()));
        }
        self.sent_done = true;
        self.out.push_back(Msg::Done);
        self.check_finished();
        Ok(())
    }

    /// The batch `id` received from the peer is durable: acknowledge it.
    pub fn stored(&mut self, id: u32) -> Result<(), Error> {
        if !self.unstored.remove(&id) {
            return Err(Error::Protocol(format!("stored unknown batch {id}")));
        }
        self.out.push_back(Msg::Ack(id));
        self.check_finished();
        Ok(())
    }

    /// Queues a refusal (server only); the driver closes the connection after sending it.
    pub fn refuse(&mut self, refusal: Refusal) {
        self.out.push_back(Msg::Refused(refusal));
    }

    /// Handles a message from the peer. An `Err` means the session must be abandoned.
    pub fn handle(&mut self, msg: Msg) -> Result<(), Error> {
        match (self.role, self.phase, msg) {
            (_, _, Msg::Refused(r)) => Err(Error::Refused(r)),
            (Role::Server, Phase::Opening, Msg::Hello(h)) => {
                if h.version != VERSION {
                    return Err(Error::Protocol(format!(
                        "unsupported protocol version {}",
                        h.version
                    )));
                }
                if h.digest == self.local.digest() {
                    self.stats.up_to_date = true;
                    self.out.push_back(Msg::UpToDate);
                    self.finish();
                } else {
                    self.out.push_back(Msg::Summary(self.local.to_wire()));
                    self.phase = Phase::AwaitSummary;
                }
                Ok(())
            }
            (Role::Client, Phase::Opening, Msg::UpToDate) => {
                self.stats.up_to_date = true;
                self.finish();
                Ok(())
            }
            (Role::Client, Phase::Opening, Msg::Summary(w)) => {
                self.out.push_back(Msg::Summary(self.local.to_wire()));
                self.start_exchange(Summary::from_wire(&w));
                Ok(())
            }
            (Role::Server, Phase::AwaitSummary, Msg::Summary(w)) => {
                self.start_exchange(Summary::from_wire(&w));
                Ok(())
            }
            (_, Phase::Exchanging, Msg::Runs(b)) => {
                if self.peer_done {
                    return Err(Error::Protocol("batch after done".into()));
                }
                if b.id != self.next_in_id {
                    return Err(Error::Protocol(format!("batch {} out of order", b.id)));
                }
                let n = batch_entries(&b.runs)?;
                if self.unstored.len() >= self.window.max(DEFAULT_WINDOW) * 4 {
                    return Err(Error::Protocol("too many unacknowledged batches".into()));
                }
                self.next_in_id += 1;
                self.unstored.insert(b.id);
                self.stats.entries_received += n as u64;
                self.events.push_back(Event::Received {
                    id: b.id,
                    runs: b.runs,
                });
                Ok(())
            }
            (_, Phase::Exchanging, Msg::Ack(id)) => {
                let Some(n) = self.in_flight.remove(&id) else {
                    return Err(Error::Protocol(format!("ack of unknown batch {id}")));
                };
                self.stats.entries_acked += n as u64;
                self.events.push_back(Event::Acked { id, entries: n });
                self.check_finished();
                Ok(())
            }
            (_, Phase::Exchanging, Msg::Done) if !self.peer_done => {
                self.peer_done = true;
                self.check_finished();
                Ok(())
            }
            (_, phase, msg) => Err(Error::Protocol(format!(
                "unexpected {} in {phase:?}",
                msg_name(&msg)
            ))),
        }
    }

    fn start_exchange(&mut self, remote: Summary) {
        self.phase = Phase::Exchanging;
        self.events
            .push_back(Event::Send(self.local.missing_in(&remote)));
    }

    fn finish(&mut self) {
        self.phase = Phase::Finished;
        self.events.push_back(Event::Finished);
    }

    fn check_finished(&mut self) {
        if self.phase == Phase::Exchanging
            && self.sent_done
            && self.peer_done
            && self.in_flight.is_empty()
            && self.unstored.is_empty()
        {
            self.finish();
        }
    }
}

/// Entries in a batch of runs, or why the batch is malformed: no runs, an empty run, a run from seq
/// 0, or more than [`MAX_BATCH_ENTRIES`] entries.
fn batch_entries(runs: &[Run]) -> Result<usize, Error> {
    let mut n = 0usize;
    for r in runs {
        if r.items.is_empty() || r.from == 0 {
            return Err(Error::Protocol(format!(
                "run of {} from seq {} with {} entries",
                r.author.short(),
                r.from,
                r.items.len()
            )));
        }
        n = n.saturating_add(r.items.len());
    }
    if n == 0 || n > MAX_BATCH_ENTRIES {
        return Err(Error::Protocol(format!("batch of {n} entries")));
    }
    Ok(n)
}

fn msg_name(m: &Msg) -> &'static str {
    match m {
        Msg::Hello(_) => "Hello",
        Msg::UpToDate => "UpToDate",
        Msg::Summary(_) => "Summary",
        Msg::Batch(_) => "Batch",
        Msg::Ack(_) => "Ack",
        Msg::Done => "Done",
        Msg::Refused(_) => "Refused",
        Msg::Enroll(_) => "Enroll",
        Msg::Enrolled(_) => "Enrolled",
        Msg::Packed(_) => "Packed",
        Msg::Runs(_) => "Runs",
        Msg::StandbyEnroll(_) => "StandbyEnroll",
        Msg::StandbyWelcome(_) => "StandbyWelcome",
        Msg::RegistryRequest => "RegistryRequest",
        Msg::Registry(_) => "Registry",
        Msg::RoleQuery => "RoleQuery",
        Msg::Role(_) => "Role",
        Msg::StandbyCheck(_) => "StandbyCheck",
        Msg::StandbyPeer(_) => "StandbyPeer",
        Msg::Superseded(_) => "Superseded",
        Msg::RelayFor(_) => "RelayFor",
        Msg::Receipts(_) => "Receipts",
        Msg::Settings(_) => "Settings",
        Msg::RelayOfficesQuery => "RelayOfficesQuery",
        Msg::RelayOffices(_) => "RelayOffices",
        Msg::EnrollCert(_) => "EnrollCert",
        Msg::RelayWords(_) => "RelayWords",
    }
}
