//! The UDP proxy that carries QUIC between agents and the hub through a simulated link.
//!
//! One front socket faces the clients. Each client address gets its own upstream socket (as a NAT gives
//! each device its own mapping), its own pair of [`Lane`]s and its own delay lines, so several agents
//! behind one proxy each have their own link. [`UdpProxy::migrate`] rebinds every client's upstream
//! socket, which the server sees as the client's address changing mid-connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::SeedableRng;
use tokio::net::UdpSocket;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::shaper::{Fate, Lane, UDP_OVERHEAD};
use crate::{Profile, Stats};

/// Largest datagram the proxy forwards (the largest a UDP socket can receive).
const MAX_DATAGRAM: usize = 65_535;

/// A fault-injecting UDP proxy: clients send to [`UdpProxy::addr`], the proxy forwards to the upstream
/// server through the current [`Profile`]. Dropping it stops every task it started.
pub struct UdpProxy {
    /// State shared with the proxy's tasks.
    shared: Arc<Shared>,
    /// Where clients connect.
    addr: SocketAddr,
    /// The task reading the front socket.
    front_task: JoinHandle<()>,
}

/// Which way a packet travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    /// Client → server.
    Up,
    /// Server → client.
    Down,
}

/// State the proxy's tasks share.
struct Shared {
    /// The server the proxy forwards to.
    upstream: SocketAddr,
    /// The socket clients talk to.
    front: Arc<UdpSocket>,
    /// The runtime the proxy was started on (migrate binds and spawns on it from synchronous code).
    runtime: Handle,
    /// Everything mutable.
    state: Mutex<State>,
}

/// The mutable part of [`Shared`].
struct State {
    /// The link model in force.
    profile: Profile,
    /// Drop everything both ways while set.
    partitioned: bool,
    /// Seeded randomness for every decision.
    rng: StdRng,
    /// Counters.
    stats: Stats,
    /// Clients by their address as seen on the front socket.
    clients: HashMap<SocketAddr, Client>,
    /// Tie-breaker that keeps packets due at the same instant in arrival order.
    seq: u64,
}

/// One client's link.
struct Client {
    /// Its socket towards the server (replaced by `migrate`).
    upstream: Arc<UdpSocket>,
    /// Its lanes.
    up: Lane,
    /// Its lanes.
    down: Lane,
    /// Delay line towards the server.
    up_tx: mpsc::UnboundedSender<Scheduled>,
    /// Delay line towards the client.
    down_tx: mpsc::UnboundedSender<Scheduled>,
    /// Tasks to stop with the client: the upstream reader and both delay lines.
    tasks: Vec<JoinHandle<()>>,
}

/// A packet waiting in a delay line.
type Scheduled = (Instant, u64, Vec<u8>);

impl UdpProxy {
    /// Starts a proxy on `127.0.0.1:0` forwarding to `upstream` through `profile`, with randomness
    /// seeded by `seed`.
    pub async fn start(upstream: SocketAddr, profile: Profile, seed: u64) -> io::Result<Self> {
        let front = Arc::new(UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).await?);
        let addr = front.local_addr()?;
        let shared = Arc::new(Shared {
            upstream,
            front: front.clone(),
            runtime: Handle::current(),
            state: Mutex::new(State {
                profile,
                partitioned: false,
                rng: StdRng::seed_from_u64(seed),
                stats: Stats::default(),
                clients: HashMap::new(),
                seq: 0,
            }),
        });
        let front_task = tokio::spawn(front_loop(shared.clone()));
        tracing::debug!(%addr, %upstream, "udp proxy started");
        Ok(Self {
            shared,
            addr,
            front_task,
        })
    }

    /// The address clients send to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the link model; packets already in flight keep the timing they were given.
    pub fn set_profile(&self, p: Profile) {
        self.shared.lock().profile = p;
    }

    /// The link model in force.
    pub fn profile(&self) -> Profile {
        self.shared.lock().profile.clone()
    }

    /// Cuts (`true`) or heals (`false`) the link: while cut, every packet both ways is dropped,
    /// including those already in flight.
    pub fn set_partitioned(&self, on: bool) {
        self.shared.lock().partitioned = on;
    }

    /// NAT rebinding: gives every client a new upstream socket (a new source port seen by the server).
    /// Replies the server sends to the old port are lost, as with a real rebinding.
    pub fn migrate(&self) -> io::Result<()> {
        let _enter = self.shared.runtime.enter();
        let mut st = self.shared.lock();
        let addrs: Vec<SocketAddr> = st.clients.keys().copied().collect();
        for client_addr in addrs {
            let sock = bind_upstream_std(self.shared.upstream)?;
            let sock = Arc::new(UdpSocket::from_std(sock)?);
            let reader = self.shared.runtime.spawn(upstream_loop(
                self.shared.clone(),
                client_addr,
                sock.clone(),
            ));
            if let Some(c) = st.clients.get_mut(&client_addr) {
                c.upstream = sock;
                // The first task is always the reader of the current upstream socket.
                let old = std::mem::replace(&mut c.tasks[0], reader);
                old.abort();
            }
        }
        Ok(())
    }

    /// The counters.
    pub fn stats(&self) -> Stats {
        self.shared.lock().stats
    }

    /// Sets every counter to zero.
    pub fn reset_stats(&self) {
        self.shared.lock().stats = Stats::default();
    }

    /// How many clients the proxy has seen.
    pub fn clients(&self) -> usize {
        self.shared.lock().clients.len()
    }
}

impl Drop for UdpProxy {
    fn drop(&mut self) {
        self.front_task.abort();
        let mut st = self.shared.lock();
        for (_, c) in st.clients.drain() {
            for t in c.tasks {
                t.abort();
            }
        }
    }
}

impl Shared {
    /// Locks the state; a poisoned lock (a panicking task) still yields the state.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs one packet through the link model and hands the copies that survive to the delay line.
    fn admit(&self, dir: Dir, client: SocketAddr, data: &[u8]) {
        let mut guard = self.lock();
        let st = &mut *guard;
        if st.partitioned {
            st.stats.dropped += 1;
            return;
        }
        let Some(c) = st.clients.get_mut(&client) else {
            return;
        };
        let (lane, bps, tx) = match dir {
            Dir::Up => (&mut c.up, st.profile.up_bps, &c.up_tx),
            Dir::Down => (&mut c.down, st.profile.down_bps, &c.down_tx),
        };
        let now = Instant::now();
        match lane.admit_datagram(
            &st.profile,
            bps,
            &mut st.rng,
            data.len() + UDP_OVERHEAD,
            now,
        ) {
            Fate::Lost => st.stats.dropped += 1,
            Fate::Delivered(at, again) => {
                st.seq += 1;
                let _ = tx.send((at, st.seq, data.to_vec()));
                if let Some(at) = again {
                    st.seq += 1;
                    st.stats.duplicated += 1;
                    let _ = tx.send((at, st.seq, data.to_vec()));
                }
            }
        }
    }

    /// Counts a delivery, or reports that it must be dropped because the link is cut.
    fn deliver(&self, dir: Dir, len: usize) -> bool {
        let mut st = self.lock();
        if st.partitioned {
            st.stats.dropped += 1;
            return false;
        }
        match dir {
            Dir::Up => {
                st.stats.up_packets += 1;
                st.stats.up_bytes += len as u64;
            }
            Dir::Down => {
                st.stats.down_packets += 1;
                st.stats.down_bytes += len as u64;
            }
        }
        true
    }

    /// The socket towards the server a client currently uses.
    fn upstream_socket(&self, client: SocketAddr) -> Option<Arc<UdpSocket>> {
        self.lock().clients.get(&client).map(|c| c.upstream.clone())
    }

    /// Registers a client seen for the first time: its upstream socket, reader and delay lines.
    fn add_client(self: &Arc<Self>, client: SocketAddr) -> io::Result<()> {
        let mut st = self.lock();
        if st.clients.contains_key(&client) {
            return Ok(());
        }
        let sock = Arc::new(UdpSocket::from_std(bind_upstream_std(self.upstream)?)?);
        let (up_tx, up_rx) = mpsc::unbounded_channel();
        let (down_tx, down_rx) = mpsc::unbounded_channel();
        let tasks = vec![
            tokio::spawn(upstream_loop(self.clone(), client, sock.clone())),
            tokio::spawn(delay_line(self.clone(), Dir::Up, client, up_rx)),
            tokio::spawn(delay_line(self.clone(), Dir::Down, client, down_rx)),
        ];
        st.clients.insert(
            client,
            Client {
                upstream: sock,
                up: Lane::new(),
                down: Lane::new(),
                up_tx,
                down_tx,
                tasks,
            },
        );
        tracing::debug!(%client, "udp proxy: new client");
        Ok(())
    }
}

/// Binds a non-blocking std socket on the loopback (or any) address of the upstream's family.
fn bind_upstream_std(upstream: SocketAddr) -> io::Result<std::net::UdpSocket> {
    let ip: IpAddr = match (upstream.ip().is_loopback(), upstream.is_ipv4()) {
        (true, true) => Ipv4Addr::LOCALHOST.into(),
        (true, false) => Ipv6Addr::LOCALHOST.into(),
        (false, true) => Ipv4Addr::UNSPECIFIED.into(),
        (false, false) => Ipv6Addr::UNSPECIFIED.into(),
    };
    let sock = std::net::UdpSocket::bind((ip, 0))?;
    sock.set_nonblocking(true)?;
    Ok(sock)
}

/// Reads datagrams from clients and admits them towards the server.
async fn front_loop(shared: Arc<Shared>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        let (n, from) = match shared.front.recv_from(&mut buf).await {
            Ok(x) => x,
            Err(e) => {
                // ICMP errors surface here on some systems; the socket stays usable.
                tracing::trace!(error = %e, "udp proxy: front recv");
                continue;
            }
        };
        if let Err(e) = shared.add_client(from) {
            tracing::warn!(error = %e, %from, "udp proxy: cannot bind an upstream socket");
            continue;
        }
        shared.admit(Dir::Up, from, &buf[..n]);
    }
}

/// Reads datagrams the server sends to one client's upstream socket and admits them towards the client.
async fn upstream_loop(shared: Arc<Shared>, client: SocketAddr, sock: Arc<UdpSocket>) {
    let mut buf = vec![0u8; MAX_DATAGRAM];
    loop {
        match sock.recv_from(&mut buf).await {
            Ok((n, from)) if from == shared.upstream => shared.admit(Dir::Down, client, &buf[..n]),
            Ok(_) => {} // Not from the server: a stranger's packet, ignored.
            Err(e) => tracing::trace!(error = %e, "udp proxy: upstream recv"),
        }
    }
}

/// Holds packets until they are due, then sends them on (to the server or to the client).
async fn delay_line(
    shared: Arc<Shared>,
    dir: Dir,
    client: SocketAddr,
    mut rx: mpsc::UnboundedReceiver<Scheduled>,
) {
    let mut heap: BinaryHeap<Reverse<Scheduled>> = BinaryHeap::new();
    loop {
        let next = heap.peek().map(|Reverse((at, _, _))| *at);
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(p) => heap.push(Reverse(p)),
                None => return,
            },
            _ = sleep_until_opt(next), if next.is_some() => {
                let now = Instant::now();
                while heap.peek().is_some_and(|Reverse((at, _, _))| *at <= now) {
                    let Some(Reverse((_, _, data))) = heap.pop() else { break };
                    if !shared.deliver(dir, data.len()) {
                        continue;
                    }
                    let sent = match dir {
                        Dir::Up => match shared.upstream_socket(client) {
                            Some(sock) => sock.send_to(&data, shared.upstream).await,
                            None => return,
                        },
                        Dir::Down => shared.front.send_to(&data, client).await,
                    };
                    if let Err(e) = sent {
                        tracing::trace!(error = %e, ?dir, "udp proxy: send");
                    }
                }
            }
        }
    }
}

/// Sleeps until `at`, or forever when there is nothing due.
async fn sleep_until_opt(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
