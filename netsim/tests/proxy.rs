//! Tests of the proxies themselves, with real sockets on loopback: a UDP echo server and a TCP echo
//! server behind the proxy, packets counted at both ends.
//!
//! Timing assertions are lower bounds the proxy guarantees by construction (it never delivers early),
//! or ratios with generous margins measured in the same test, so a loaded machine cannot fail them.

use std::net::SocketAddr;
use std::time::Duration;

use baobi_netsim::{Burst, Profile, TcpProxy, UdpProxy};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio::time::{timeout, Instant};

/// A UDP echo server on loopback; reports every datagram's source address and length.
async fn udp_echo() -> (SocketAddr, mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>) {
    let sock = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            let _ = tx.send((from, buf[..n].to_vec()));
            let _ = sock.send_to(&buf[..n], from).await;
        }
    });
    (addr, rx)
}

/// A client socket on loopback.
async fn client() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

/// A profile with nothing but `loss`.
fn lossy(loss: f64) -> Profile {
    Profile {
        name: "lossy".into(),
        loss,
        ..Profile::loopback()
    }
}

/// Sends `n` datagrams paced gently (so the kernel's socket buffers never overflow on a busy machine).
async fn send_paced(sock: &UdpSocket, to: SocketAddr, n: usize, len: usize) {
    let payload = vec![7u8; len];
    for i in 0..n {
        sock.send_to(&payload, to).await.unwrap();
        if i % 32 == 31 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}

/// Receives datagrams on `sock` until `quiet` passes without one; returns how many arrived.
async fn drain(sock: &UdpSocket, quiet: Duration) -> usize {
    let mut buf = vec![0u8; 65_535];
    let mut n = 0;
    while let Ok(Ok(_)) = timeout(quiet, sock.recv_from(&mut buf)).await {
        n += 1;
    }
    n
}

/// Sends `n` datagrams while counting the echoes (a socket left unread overflows its buffer).
async fn send_and_drain(
    sock: &UdpSocket,
    to: SocketAddr,
    n: usize,
    len: usize,
    quiet: Duration,
) -> usize {
    let (_, back) = tokio::join!(send_paced(sock, to, n, len), drain(sock, quiet));
    back
}

/// Counts what the echo server reports until `quiet` passes without a report.
async fn seen(
    rx: &mut mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
    quiet: Duration,
) -> Vec<SocketAddr> {
    payloads(rx, quiet)
        .await
        .into_iter()
        .map(|(a, _)| a)
        .collect()
}

/// What the echo server reports until `quiet` passes without a report.
async fn payloads(
    rx: &mut mpsc::UnboundedReceiver<(SocketAddr, Vec<u8>)>,
    quiet: Duration,
) -> Vec<(SocketAddr, Vec<u8>)> {
    let mut out = Vec::new();
    while let Ok(Some(r)) = timeout(quiet, rx.recv()).await {
        out.push(r);
    }
    out
}

#[tokio::test]
async fn loopback_profile_forwards_every_datagram_both_ways() {
    let (server, mut reports) = udp_echo().await;
    let proxy = UdpProxy::start(server, Profile::loopback(), 1)
        .await
        .unwrap();
    let c = client().await;
    let back = send_and_drain(&c, proxy.addr(), 200, 100, Duration::from_millis(500)).await;
    assert_eq!(
        seen(&mut reports, Duration::from_millis(50)).await.len(),
        200
    );
    assert_eq!(back, 200);
    let s = proxy.stats();
    assert_eq!(
        (s.up_packets, s.up_bytes, s.down_packets, s.down_bytes),
        (200, 20_000, 200, 20_000)
    );
    assert_eq!(s.dropped, 0);
    proxy.reset_stats();
    assert_eq!(proxy.stats(), Default::default());
}

#[tokio::test]
async fn random_loss_rate_stays_within_bounds_for_a_fixed_seed() {
    let (server, mut reports) = udp_echo().await;
    // Loss in the up direction only is what we count: the echo server reports what reached it.
    let proxy = UdpProxy::start(server, lossy(0.2), 42).await.unwrap();
    let c = client().await;
    let n = 2_000;
    let back = send_and_drain(&c, proxy.addr(), n, 64, Duration::from_millis(500)).await;
    let arrived = seen(&mut reports, Duration::from_millis(50)).await.len();
    let lost = n - arrived;
    // Expected 400, standard deviation ~18: ±70 is ~4 sigma.
    assert!((330..=470).contains(&lost), "lost {lost} of {n}");
    // Replies are lost too (20 % of the echoes), and every loss either way is counted.
    let s = proxy.stats();
    assert_eq!(s.up_packets as usize, arrived);
    assert_eq!(s.down_packets as usize, back);
    assert_eq!(s.dropped as usize, n - back);
}

#[tokio::test]
async fn burst_loss_clusters_losses() {
    let (server, mut reports) = udp_echo().await;
    let burst = Profile {
        name: "burst".into(),
        burst: Some(Burst {
            p_enter: 0.02,
            p_exit: 0.2,
            loss_in_burst: 1.0,
        }),
        ..Profile::loopback()
    };
    let proxy = UdpProxy::start(server, burst, 7).await.unwrap();
    let c = client().await;
    // Number each datagram so the losses can be located.
    let n = 3_000u32;
    for i in 0..n {
        c.send_to(&i.to_be_bytes(), proxy.addr()).await.unwrap();
        if i % 32 == 31 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
    let got: Vec<u32> = payloads(&mut reports, Duration::from_millis(500))
        .await
        .into_iter()
        .map(|(_, p)| u32::from_be_bytes([p[0], p[1], p[2], p[3]]))
        .collect();
    let arrived = got.len();
    let lost = n as usize - arrived;
    // Stationary bad-state share is p_enter / (p_enter + p_exit) = 1/11: about 270 of 3,000.
    assert!((120..=480).contains(&lost), "lost {lost} of {n}");
    // Mean burst length 1/p_exit = 5: a gap in the sequence numbers is a run of losses, and there are
    // far fewer runs than losses (independent loss at this rate would give nearly one run per loss).
    let runs = got.windows(2).filter(|w| w[1] != w[0] + 1).count();
    assert!(runs * 2 < lost, "{runs} loss runs for {lost} losses");
    let s = proxy.stats();
    assert_eq!(s.up_packets as usize, arrived);
    assert!(s.dropped as usize >= lost);
}

#[tokio::test]
async fn partition_drops_everything_until_healed() {
    let (server, mut reports) = udp_echo().await;
    let proxy = UdpProxy::start(server, Profile::loopback(), 1)
        .await
        .unwrap();
    let c = client().await;
    proxy.set_partitioned(true);
    send_paced(&c, proxy.addr(), 100, 10).await;
    assert_eq!(drain(&c, Duration::from_millis(300)).await, 0);
    assert!(seen(&mut reports, Duration::from_millis(50))
        .await
        .is_empty());
    assert_eq!(proxy.stats().dropped, 100);
    proxy.set_partitioned(false);
    send_paced(&c, proxy.addr(), 10, 10).await;
    assert_eq!(drain(&c, Duration::from_millis(300)).await, 10);
}

#[tokio::test]
async fn partition_also_drops_packets_already_in_flight() {
    let (server, mut reports) = udp_echo().await;
    let slow = Profile {
        delay: Duration::from_millis(300),
        ..Profile::loopback()
    };
    let proxy = UdpProxy::start(server, slow, 1).await.unwrap();
    let c = client().await;
    send_paced(&c, proxy.addr(), 5, 10).await;
    proxy.set_partitioned(true);
    assert!(seen(&mut reports, Duration::from_millis(600))
        .await
        .is_empty());
    assert_eq!(proxy.stats().dropped, 5);
}

#[tokio::test]
async fn migrate_changes_the_source_port_the_server_sees_and_replies_still_arrive() {
    let (server, mut reports) = udp_echo().await;
    let proxy = UdpProxy::start(server, Profile::loopback(), 1)
        .await
        .unwrap();
    let c = client().await;
    send_paced(&c, proxy.addr(), 3, 10).await;
    let before = seen(&mut reports, Duration::from_millis(200)).await;
    assert_eq!(before.len(), 3);
    assert!(before.iter().all(|a| *a == before[0]));
    assert_eq!(drain(&c, Duration::from_millis(200)).await, 3);

    proxy.migrate().unwrap();
    send_paced(&c, proxy.addr(), 3, 10).await;
    let after = seen(&mut reports, Duration::from_millis(200)).await;
    assert_eq!(after.len(), 3);
    assert!(after.iter().all(|a| *a == after[0]));
    assert_ne!(after[0].port(), before[0].port());
    assert_eq!(drain(&c, Duration::from_millis(200)).await, 3);
}

#[tokio::test]
async fn each_client_gets_its_own_upstream_address() {
    let (server, mut reports) = udp_echo().await;
    let proxy = UdpProxy::start(server, Profile::loopback(), 1)
        .await
        .unwrap();
    let (a, b) = (client().await, client().await);
    send_paced(&a, proxy.addr(), 1, 10).await;
    let first = seen(&mut reports, Duration::from_millis(200)).await;
    send_paced(&b, proxy.addr(), 1, 10).await;
    let second = seen(&mut reports, Duration::from_millis(200)).await;
    assert_ne!(first[0], second[0]);
    assert_eq!(proxy.clients(), 2);
    assert_eq!(drain(&a, Duration::from_millis(200)).await, 1);
    assert_eq!(drain(&b, Duration::from_millis(200)).await, 1);
}

#[tokio::test]
async fn delay_is_never_shorter_than_the_profiles_round_trip() {
    let (server, _reports) = udp_echo().await;
    let proxy = UdpProxy::start(server, Profile::lte(), 3).await.unwrap();
    proxy.set_profile(Profile {
        loss: 0.0,
        ..Profile::lte()
    });
    let c = client().await;
    let mut buf = [0u8; 64];
    for _ in 0..5 {
        let t = Instant::now();
        c.send_to(b"ping", proxy.addr()).await.unwrap();
        timeout(Duration::from_secs(10), c.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(45),
            "{:?}",
            t.elapsed()
        );
    }
}

#[tokio::test]
async fn duplication_delivers_twice() {
    let (server, mut reports) = udp_echo().await;
    let dup = Profile {
        duplicate: 1.0,
        ..Profile::loopback()
    };
    let proxy = UdpProxy::start(server, dup, 1).await.unwrap();
    let c = client().await;
    send_paced(&c, proxy.addr(), 10, 10).await;
    assert_eq!(
        seen(&mut reports, Duration::from_millis(300)).await.len(),
        20
    );
    // Each of the 20 echoes is duplicated on the way back as well.
    assert_eq!(drain(&c, Duration::from_millis(300)).await, 40);
    assert_eq!(proxy.stats().duplicated, 10 + 20);
}

#[tokio::test]
async fn jitter_and_reorder_change_the_order_of_arrival() {
    let (server, _reports) = udp_echo().await;
    let shaky = Profile {
        delay: Duration::from_millis(20),
        jitter: Duration::from_millis(15),
        reorder: 0.1,
        ..Profile::loopback()
    };
    let proxy = UdpProxy::start(server, shaky, 5).await.unwrap();
    let c = client().await;
    for i in 0..200u32 {
        c.send_to(&i.to_be_bytes(), proxy.addr()).await.unwrap();
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let mut got = Vec::new();
    let mut buf = [0u8; 16];
    while let Ok(Ok((n, _))) = timeout(Duration::from_millis(500), c.recv_from(&mut buf)).await {
        assert_eq!(n, 4);
        got.push(u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]));
    }
    assert_eq!(got.len(), 200);
    let inversions = got.windows(2).filter(|w| w[0] > w[1]).count();
    assert!(inversions > 0, "no reordering at all");
    let mut sorted = got.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..200).collect::<Vec<_>>());
}

#[tokio::test]
async fn bandwidth_cap_slows_a_transfer_compared_with_loopback() {
    let (server, mut reports) = udp_echo().await;
    let n = 50;
    let len = 1_000;

    let proxy = UdpProxy::start(server, Profile::loopback(), 1)
        .await
        .unwrap();
    let c = client().await;
    let t = Instant::now();
    send_paced(&c, proxy.addr(), n, len).await;
    for _ in 0..n {
        timeout(Duration::from_secs(10), reports.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let free = t.elapsed();
    drop(proxy);

    let capped = Profile {
        up_bps: Some(1_000_000),
        ..Profile::loopback()
    };
    let proxy = UdpProxy::start(server, capped, 1).await.unwrap();
    let c = client().await;
    let t = Instant::now();
    send_paced(&c, proxy.addr(), n, len).await;
    for _ in 0..n {
        timeout(Duration::from_secs(10), reports.recv())
            .await
            .unwrap()
            .unwrap();
    }
    let slow = t.elapsed();
    // 50 × 1,028 wire bytes at 1 Mbit/s take 411 ms: the proxy never delivers sooner.
    assert!(
        slow >= Duration::from_millis(400),
        "capped transfer took {slow:?}"
    );
    assert!(slow > free * 2, "capped {slow:?} vs loopback {free:?}");
}

/// A TCP echo server on loopback.
async fn tcp_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.split();
                let _ = tokio::io::copy(&mut r, &mut w).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn tcp_proxy_delays_caps_and_counts_bytes() {
    let server = tcp_echo().await;
    let profile = Profile {
        delay: Duration::from_millis(50),
        up_bps: Some(400_000),
        down_bps: Some(400_000),
        ..Profile::loopback()
    };
    let proxy = TcpProxy::start(server, profile).await.unwrap();
    let mut s = TcpStream::connect(proxy.addr()).await.unwrap();
    let payload: Vec<u8> = (0..20_000u32).map(|i| (i % 251) as u8).collect();
    let t = Instant::now();
    let (mut r, mut w) = s.split();
    let write = async {
        w.write_all(&payload).await.unwrap();
        w.shutdown().await.unwrap();
    };
    let mut back = Vec::new();
    let read = async {
        r.read_to_end(&mut back).await.unwrap();
    };
    timeout(Duration::from_secs(30), async { tokio::join!(write, read) })
        .await
        .unwrap();
    let took = t.elapsed();
    assert_eq!(back, payload);
    // Two one-way delays plus 20,000 bytes at 400 kbit/s (400 ms) at least once.
    assert!(took >= Duration::from_millis(500), "took {took:?}");
    let st = proxy.stats();
    assert_eq!((st.up_bytes, st.down_bytes), (20_000, 20_000));
    assert!(st.up_packets > 1);
}
