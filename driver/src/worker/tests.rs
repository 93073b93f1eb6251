//! The worker over in-memory devices, in virtual time: a peer stack on the other end of a
//! loopback wire, driven by hand.

use super::*;
use crate::fault::{FaultConfig, FaultDevice, Impairments};
use crate::loopback::{LoopbackEnd, LoopbackPair};
use crate::pcap::PcapDevice;
use crate::service::Host;
use crate::services::Echo;
use crate::setup::{os_random_keys, spawn, test_stack};
use std::net::Ipv4Addr;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::tcp::State;
use xdptcp_stack::time::Duration;

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

type TcpEcho = Host<Echo>;
type UdpEcho = Host<Echo>;

/// A peer: a stack on the other end of the wire, driven by a worker with no application
/// (the test reads and writes through its stack).
type Peer = Worker<LoopbackEnd, NoApp>;

fn peer(dev: LoopbackEnd) -> Peer {
    let stack = test_stack(&dev, [2, 0, 0, 0, 0, 1], B, 24);
    Worker::new(dev, stack, NoApp)
}

fn pattern(i: usize) -> u8 {
    (i.wrapping_mul(7) ^ (i >> 9)) as u8
}

fn udp_setup() -> (Worker<LoopbackEnd, UdpEcho>, Peer) {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
    (Worker::new(a, stack, Host::new(Echo::udp(7))), peer(b))
}

#[test]
fn udp_echo_resolves_arp_and_echoes_bytes() {
    let (mut w, mut p) = udp_setup();
    let now = Instant::from_millis(1);
    w.run_once(now); // binds port 7
    let sock = p.stack_mut().udp_bind(40000).expect("free port");
    p.stack_mut().udp_send_to(now, sock, (A, 7), b"hello xdptcp").expect("queued for ARP");
    for _ in 0..4 {
        p.run_once(now);
        w.run_once(now);
    }
    p.run_once(now);
    let (from, payload) = p.stack_mut().udp_recv_from(sock).expect("echo arrived");
    assert_eq!(from, std::net::SocketAddr::from((A, 7)));
    assert_eq!(payload, b"hello xdptcp");
    assert_eq!(w.app().service().counters().datagrams, 1);
    assert_eq!(w.stack().iface().counters().arp_replies_sent, 1);
    let c = w.counters();
    assert_eq!(c.rx_frames, 2, "ARP request and datagram");
    assert_eq!(c.tx_frames, 2, "ARP reply and echo");
    assert_eq!(w.device().free_frames(), 256, "every buffer came home");
}

/// Runs worker and peer until `done` or `rounds` iterations, advancing virtual time by `step`
/// (or to the next timer when nothing moved).
fn run_until<D: Device, A: App>(
    w: &mut Worker<D, A>,
    p: &mut Peer,
    now: &mut Instant,
    rounds: usize,
    mut done: impl FnMut(&mut Worker<D, A>, &mut Peer) -> bool,
) -> bool {
    for _ in 0..rounds {
        p.run_once(*now);
        let step = w.run_once(*now);
        if done(w, p) {
            return true;
        }
        let mut next = *now + Duration::from_micros(50);
        if step.moved == 0 {
            let timers = [step.next_timer, p.stack_mut().poll_timeout()];
            if let Some(t) = timers.into_iter().flatten().min() {
                next = next.max(t);
            }
        }
        *now = next;
    }
    false
}

/// The peer connects to the echo, sends `total` bytes and reads them back; returns the echo
/// and the bytes read back.
fn echo_transfer<D: Device>(w: &mut Worker<D, TcpEcho>, p: &mut Peer, total: usize) -> Vec<u8> {
    let mut now = Instant::from_millis(1);
    w.run_once(now); // listens
    let h = p.stack_mut().tcp_connect(now, A, 7).expect("connect");
    let mut sent = 0;
    let mut back = Vec::with_capacity(total);
    let mut buf = vec![0u8; 8192];
    let mut chunk = vec![0u8; 4096];
    let ok = run_until(w, p, &mut now, 2_000_000, |_, p| {
        while sent < total {
            let n = chunk.len().min(total - sent);
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            match p.stack_mut().tcp_send(h, &chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => sent += k,
            }
        }
        while let Ok(n) = p.stack_mut().tcp_recv(h, &mut buf) {
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        back.len() >= total
    });
    assert!(ok, "transfer stalled: sent {sent}, back {}", back.len());
    back
}

fn tcp_setup() -> (Worker<LoopbackEnd, TcpEcho>, Peer) {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
    (Worker::new(a, stack, Host::new(Echo::new(7).with_backlog(128))), peer(b))
}

#[test]
fn tcp_echo_returns_every_byte_and_counts_copies() {
    let (mut w, mut p) = tcp_setup();
    let total = 1 << 20;
    let back = echo_transfer(&mut w, &mut p, total);
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(i)), "echo differs");
    assert_eq!(w.app().counters().opened, 1);
    let c = w.copies();
    assert_eq!(c.rx_ring_to_app, total as u64);
    assert_eq!(c.tx_app_to_ring, total as u64);
    // Clean wire: no retransmission, so each payload byte went into a frame exactly once,
    // and each received byte was copied into the ring once.
    assert_eq!(c.tx_ring_to_frame, total as u64);
    assert_eq!(c.rx_frame_to_ring, total as u64);
}

thread_local! {
    /// Lines the test's look-ahead asked for (`counting_prefetch`).
    static PREFETCHED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// A prefetch that only counts: whether the stack's staged look-ahead ran.
fn counting_prefetch(_: *const u8, lines: usize) {
    PREFETCHED.with(|c| c.set(c.get() + lines as u64));
}

/// The worker hands a batch's frames to the stack together (`Stack::receive_batch`), so that
/// their connections' lines are fetched ahead of their handling: with the staged look-ahead
/// on from the first connection, a transfer's batches of segments are prefetched, and the
/// echo is still every byte in order. A worker receiving frame by frame never prefetches.
#[test]
fn a_batch_of_frames_is_looked_ahead_together() {
    use crate::setup::{stack_config, Addressing};
    let (a, b) = LoopbackPair::default().build();
    let addressing = Addressing {
        mac: [2, 0, 0, 0, 0, 2],
        addr: A,
        prefix_len: 24,
        gateway: None,
        ipv6: vec![],
    };
    let mut config = stack_config(&a, addressing, xdptcp_stack::stack::StackKeys::from_seed(2));
    config.prefetch = Some(counting_prefetch);
    config.prefetch_from = 1;
    let stack = Stack::new(config, Instant::ZERO);
    let mut w = Worker::new(a, stack, Host::new(Echo::new(7).with_backlog(128)));
    let mut p = peer(b);
    let total = 256 << 10;
    let back = echo_transfer(&mut w, &mut p, total);
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(i)), "echo differs");
    let prefetched = PREFETCHED.with(std::cell::Cell::get);
    // At least the connection's hot lines for each window of segments looked up ahead.
    assert!(prefetched > 100, "{prefetched} lines prefetched");
}

#[test]
fn echo_stops_reading_when_the_send_buffer_is_full_and_resumes() {
    let (mut w, mut p) = tcp_setup();
    let mut now = Instant::from_millis(1);
    w.run_once(now);
    let h = p.stack_mut().tcp_connect(now, A, 7).expect("connect");
    // The peer writes 2 MiB and reads nothing: its receive window fills, the echo's send
    // buffer fills, and the echo must leave the rest in its receive ring.
    let total = 2 << 20;
    let mut sent = 0;
    let mut chunk = vec![0u8; 4096];
    run_until(&mut w, &mut p, &mut now, 200_000, |w, p| {
        while sent < total {
            let n = chunk.len().min(total - sent);
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            match p.stack_mut().tcp_send(h, &chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => sent += k,
            }
        }
        let echo_side: Vec<TcpHandle> = w.app().conns().map(|(h, _)| h).collect();
        echo_side.first().is_some_and(|&e| {
            w.stack().tcp_send_space(e) == 0 && w.stack().tcp_recv_queue_len(e) > 0
        })
    });
    let e = w.app().conns().map(|(h, _)| h).next().expect("accepted");
    assert_eq!(w.stack().tcp_send_space(e), 0, "echo's send buffer is full");
    assert!(w.stack().tcp_recv_queue_len(e) > 0, "echo left input unread");
    let stalled = w.copies().tx_app_to_ring;
    // Now the peer reads: everything comes back, in order.
    let mut back = Vec::new();
    let mut buf = vec![0u8; 8192];
    let ok = run_until(&mut w, &mut p, &mut now, 2_000_000, |_, p| {
        while sent < total {
            let n = chunk.len().min(total - sent);
            for (i, b) in chunk[..n].iter_mut().enumerate() {
                *b = pattern(sent + i);
            }
            match p.stack_mut().tcp_send(h, &chunk[..n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => sent += k,
            }
        }
        while let Ok(n) = p.stack_mut().tcp_recv(h, &mut buf) {
            if n == 0 {
                break;
            }
            back.extend_from_slice(&buf[..n]);
        }
        back.len() >= total
    });
    assert!(ok, "resumed transfer stalled at {}", back.len());
    assert!(w.copies().tx_app_to_ring > stalled);
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(i)), "echo differs");
}

#[test]
fn echo_survives_loss_reordering_and_delay() {
    let (a, b) = LoopbackPair::default().build();
    let imp = Impairments {
        loss_ppm: 20_000,
        reorder_ppm: 20_000,
        reorder_delay: Duration::from_micros(300),
        delay: Duration::from_micros(100),
        jitter: Duration::from_micros(50),
        ..Impairments::NONE
    };
    let cfg = FaultConfig { rx: imp, tx: imp, seed: 7, frames: 4096 };
    let dev = FaultDevice::new(a, cfg);
    let stack = test_stack(&dev, [2, 0, 0, 0, 0, 2], A, 24);
    let mut w = Worker::new(dev, stack, Host::new(Echo::new(7).with_backlog(16)));
    let mut p = peer(b);
    let total = 256 << 10;
    let back = echo_transfer(&mut w, &mut p, total);
    assert!(back.iter().enumerate().all(|(i, &b)| b == pattern(i)), "echo differs");
    let f = w.device();
    assert!(
        f.rx_stats().impaired.dropped > 0 && f.tx_stats().impaired.dropped > 0,
        "loss was injected"
    );
    assert!(w.stack().tcp_counters().retrans_segs > 0);
}

#[test]
fn drain_closes_connections_gracefully() {
    let (mut w, mut p) = tcp_setup();
    let mut now = Instant::from_millis(1);
    w.run_once(now);
    let h = p.stack_mut().tcp_connect(now, A, 7).expect("connect");
    run_until(&mut w, &mut p, &mut now, 1000, |_, p| {
        p.stack_mut().tcp_state(h) == State::Established
    });
    run_until(&mut w, &mut p, &mut now, 1000, |w, _| w.app().open_connections() > 0);
    w.app.shutdown(now, &mut w.stack);
    // The peer sees the FIN, closes too; the echo hears `Closed`.
    let ok = run_until(&mut w, &mut p, &mut now, 100_000, |w, p| {
        if p.stack_mut().tcp_recv_finished(h) && p.stack_mut().tcp_state(h) == State::CloseWait {
            let _ = p.stack_mut().tcp_close(h);
        }
        w.app().finished()
    });
    assert!(ok, "echo did not finish; peer state {:?}", p.stack_mut().tcp_state(h));
    assert_eq!(w.app().counters().closed, 1);
    assert_eq!(w.app().counters().failed, 0);
}

#[test]
fn stacked_devices_delay_in_virtual_time_and_capture() {
    let (a, b) = LoopbackPair::default().build();
    let delay = Duration::from_millis(5);
    let cfg = FaultConfig { rx: Impairments { delay, ..Impairments::NONE }, ..Default::default() };
    let dev = PcapDevice::new(FaultDevice::new(a, cfg), Vec::new()).expect("vec writer");
    let stack = test_stack(&dev, [2, 0, 0, 0, 0, 2], A, 24);
    let mut w = Worker::new(dev, stack, Host::new(Echo::udp(7)));
    let mut p = peer(b);
    let sock = p.stack_mut().udp_bind(40002).expect("free port");
    let t0 = Instant::from_millis(100);
    w.run_once(t0);
    p.stack_mut().udp_send_to(t0, sock, (A, 7), b"late").expect("queued for ARP");
    p.run_once(t0);
    // The ARP request is held 5 ms by the fault layer: nothing moves, and the worker says
    // when to come back.
    let step = w.run_once(t0);
    assert_eq!(step.moved, 0);
    assert_eq!(step.next_timer, Some(t0 + delay));
    let mut now = t0;
    for _ in 0..10 {
        now += delay;
        w.run_once(now);
        p.run_once(now);
    }
    let (_, payload) = p.stack_mut().udp_recv_from(sock).expect("echo arrived");
    assert_eq!(payload, b"late");
    // ARP request, datagram in; ARP reply, echo out: four frames captured.
    assert_eq!(w.device().records(), 4);
    assert_eq!(w.device().inner().rx_stats().released, 2);
}

#[test]
fn os_keys_differ_between_calls() {
    let a = os_random_keys().expect("getrandom works");
    let b = os_random_keys().expect("getrandom works");
    assert_ne!(a, b);
    assert_ne!(a.isn, a.syncookie, "each key drawn separately");
}

#[test]
fn shutdown_channel_stops_a_spawned_worker() {
    let (started_tx, started) = crossbeam_channel::bounded(1);
    let handle = spawn("test-worker", None, move |shutdown| {
        let (mut w, _p) = udp_setup();
        w.run_once(Instant::ZERO);
        started_tx.send(()).expect("test waits for this");
        let why = w.run(&shutdown, std::time::Duration::from_millis(1));
        (w.counters().iterations, why)
    })
    .expect("thread spawns");
    started.recv().expect("worker started");
    let (iterations, why) = handle.stop().expect("worker did not panic");
    assert!(iterations >= 1);
    assert_eq!(why, Stop::Requested);
}

// ----- steering between workers (ported from the Interface-only worker) -----

use crate::rss::Rss;
use crate::steering::SteerPort;
use std::sync::Arc;

/// A TCP segment (SYN) from `src` to `dst` as an Ethernet frame, checksums filled in.
fn tcp_frame(mac_dst: [u8; 6], src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Vec<u8> {
    use xdptcp_stack::wire::checksum::{checksum, combine, pseudo_header_v4, sum};
    let mut f = vec![0u8; 14 + 20 + 20];
    f[0..6].copy_from_slice(&mac_dst);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
    f[12..14].copy_from_slice(&[0x08, 0x00]);
    let ip = &mut f[14..34];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&40u16.to_be_bytes());
    ip[8] = 64;
    ip[9] = 6;
    ip[12..16].copy_from_slice(&src.0.octets());
    ip[16..20].copy_from_slice(&dst.0.octets());
    let c = checksum(ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let tcp = &mut f[34..54];
    tcp[0..2].copy_from_slice(&src.1.to_be_bytes());
    tcp[2..4].copy_from_slice(&dst.1.to_be_bytes());
    tcp[12] = 5 << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&1024u16.to_be_bytes());
    let c = combine(&[pseudo_header_v4(src.0, dst.0, 6, 20), sum(tcp)]);
    tcp[16..18].copy_from_slice(&c.to_be_bytes());
    f
}

/// Puts raw frames on the wire towards the worker.
fn inject(peer: &mut LoopbackEnd, frames: &[Vec<u8>]) {
    let mut tx = peer.tx_batch(Instant::ZERO);
    for f in frames {
        let mut buf = tx.buffer().expect("free buffer");
        buf[..f.len()].copy_from_slice(f);
        buf.send(f.len());
    }
}

const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 2];

fn steered_worker(rss: &Arc<Rss>, port: SteerPort) -> (Worker<LoopbackEnd, UdpEcho>, LoopbackEnd) {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, MAC_A, A, 24);
    let echo = Host::new(Echo::udp(7));
    (Worker::new(a, stack, echo).with_steering(rss.clone(), port), b)
}

#[test]
fn frames_of_another_queue_are_steered_to_their_owner() {
    use crate::steering::{Steering, SteeringConfig};
    let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
    let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
    let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
    let (mut w0, mut p0) = steered_worker(&rss, ports.pop().expect("two ports"));
    // 40 connections from different source ports, all arriving on worker 0's queue.
    let frames: Vec<Vec<u8>> =
        (0..40u16).map(|i| tcp_frame(MAC_A, (B, 40000 + i), (A, 80))).collect();
    let owned_by_1 = frames.iter().filter(|f| rss.frame_queue(f) == Some(1)).count() as u64;
    assert!(owned_by_1 > 0 && owned_by_1 < 40, "the hash spreads 40 ports: {owned_by_1}");
    inject(&mut p0, &frames);
    let now = Instant::from_millis(1);
    w0.run_once(now);
    w1.run_once(now);
    assert_eq!(w0.counters().rx_frames, 40);
    assert_eq!(w0.iface().counters().rx_tcp, 40 - owned_by_1, "its own flows stay");
    assert_eq!(w0.counters().not_mine, owned_by_1);
    assert_eq!(w0.steer_counters().steered_out, owned_by_1);
    assert_eq!(w1.counters().rx_frames, 0, "nothing on worker 1's own queue");
    assert_eq!(w1.counters().steered_in, owned_by_1);
    assert_eq!(w1.iface().counters().rx_tcp, owned_by_1, "the owner's stack saw them");
    // No listener on port 80: each owner answers its SYNs with a RST, nobody else does.
    assert_eq!(w1.stack().counters().rsts_no_socket, owned_by_1);
    assert_eq!(w0.stack().counters().rsts_no_socket, 40 - owned_by_1);
    assert_eq!(w0.device().free_frames(), 256, "RX buffers went home after the copy");
}

#[test]
fn frames_without_a_hashed_tuple_stay_where_they_arrived() {
    use crate::steering::{Steering, SteeringConfig};
    let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
    let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
    let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
    let (mut w0, b) = steered_worker(&rss, ports.pop().expect("two ports"));
    // A real peer: ARP, then UDP echo from many source ports (UDP is not hashed by
    // default, as on most NICs).
    let mut p = peer(b);
    let socks: Vec<_> =
        (0..8u16).map(|i| p.stack_mut().udp_bind(41000 + i).expect("free port")).collect();
    let now = Instant::from_millis(1);
    p.stack_mut().udp_send_to(now, socks[0], (A, 7), b"stay").expect("queued for ARP");
    for _ in 0..3 {
        p.run_once(now);
        w0.run_once(now);
    }
    for &s in &socks[1..] {
        p.stack_mut().udp_send_to(now, s, (A, 7), b"stay").expect("queued");
    }
    for _ in 0..3 {
        p.run_once(now);
        w0.run_once(now);
        w1.run_once(now);
    }
    p.run_once(now);
    for &s in &socks {
        assert_eq!(p.stack_mut().udp_recv_from(s).expect("echo").1, b"stay");
    }
    assert_eq!(w0.app().service().counters().datagrams, 8);
    assert_eq!(w0.counters().not_mine, 0);
    assert_eq!(w1.counters().steered_in, 0);
}

#[test]
fn two_pinned_workers_exchange_steered_frames() {
    use crate::steering::{Steering, SteeringConfig};
    let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
    let ports = Steering::new(2, SteeringConfig::default()).into_ports();
    let cores = core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1);
    let mut peers = Vec::new();
    let mut handles = Vec::new();
    let (ready_tx, ready) = crossbeam_channel::bounded(2);
    let both_stopped = Arc::new(std::sync::Barrier::new(2));
    for (i, port) in ports.into_iter().enumerate() {
        let (a, b) = LoopbackPair::default().build();
        peers.push(b);
        let rss = rss.clone();
        let ready_tx = ready_tx.clone();
        let both_stopped = both_stopped.clone();
        let handle = spawn(&format!("steer-{i}"), Some(i % cores), move |shutdown| {
            let stack = test_stack(&a, MAC_A, A, 24);
            let echo = Host::new(Echo::udp(7));
            let mut w = Worker::new(a, stack, echo).with_steering(rss, port);
            ready_tx.send(()).expect("test waits");
            w.run(&shutdown, std::time::Duration::from_micros(100));
            // Once neither worker can steer any more, take what is still in the lanes.
            both_stopped.wait();
            w.run_once(Instant::ZERO);
            (w.counters(), w.steer_counters(), w.iface().counters().rx_tcp)
        })
        .expect("thread spawns");
        handles.push(handle);
    }
    ready.recv().expect("worker 0 up");
    ready.recv().expect("worker 1 up");
    // 64 flows in on each worker's queue; each flow's owner is fixed by the hash.
    let mut owned = [0u64; 2];
    for (q, peer) in peers.iter_mut().enumerate() {
        let frames: Vec<Vec<u8>> = (0..64u16)
            .map(|i| tcp_frame(MAC_A, (B, 30000 + 100 * q as u16 + i), (A, 443)))
            .collect();
        for f in &frames {
            owned[usize::from(rss.frame_queue(f).expect("TCP is hashed"))] += 1;
        }
        inject(peer, &frames);
    }
    // Wait (bounded) until both workers have seen everything, then stop them.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while peers.iter().any(|p| p.in_flight_from_me() > 0) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    for h in &handles {
        h.request_stop();
    }
    let results: Vec<_> =
        handles.into_iter().map(|h| h.stop().expect("worker did not panic")).collect();
    let total_in: u64 = results.iter().map(|(_, _, tcp)| tcp).sum();
    assert_eq!(total_in, 128, "every segment reached exactly one TCP stack");
    for (q, (w, s, tcp)) in results.iter().enumerate() {
        assert_eq!(*tcp, owned[q], "worker {q} handled exactly its flows");
        assert_eq!(w.rx_frames, 64);
        assert_eq!(s.steered_out, w.not_mine);
        assert_eq!(s.dropped_full + s.dropped_too_big + s.dropped_no_owner, 0);
    }
    assert_eq!(results[0].1.steered_out, results[1].1.steered_in);
    assert_eq!(results[1].1.steered_out, results[0].1.steered_in);
    assert!(results[0].1.steered_out > 0 && results[1].1.steered_out > 0);
}

#[test]
fn arp_replies_reach_every_workers_neighbour_cache() {
    use crate::steering::{Steering, SteeringConfig};
    let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
    let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
    let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
    let (mut w0, mut p0) = steered_worker(&rss, ports.pop().expect("two ports"));
    let peer_mac = [2, 0, 0, 0, 0, 1];
    // An ARP reply B -> A (as if answering a request worker 1 sent), on worker 0's queue.
    let mut f = vec![0u8; 42];
    f[0..6].copy_from_slice(&MAC_A);
    f[6..12].copy_from_slice(&peer_mac);
    f[12..14].copy_from_slice(&[0x08, 0x06]);
    f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
    f[22..28].copy_from_slice(&peer_mac);
    f[28..32].copy_from_slice(&B.octets());
    f[32..38].copy_from_slice(&MAC_A);
    f[38..42].copy_from_slice(&A.octets());
    inject(&mut p0, &[f]);
    let now = Instant::from_millis(1);
    w0.run_once(now);
    w1.run_once(now);
    assert_eq!(w0.counters().arp_shared, 1);
    assert_eq!(w1.counters().steered_in, 1);
    assert_eq!(w0.iface().counters().arp_learned, 1, "processed where it arrived");
    assert_eq!(w1.iface().counters().arp_learned, 1, "and by the other worker");
    // An ARP request is answered once, by the worker that received it: not shared.
    let mut req = [0u8; 42];
    req[0..6].fill(0xff);
    req[6..12].copy_from_slice(&peer_mac);
    req[12..14].copy_from_slice(&[0x08, 0x06]);
    req[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
    req[22..28].copy_from_slice(&peer_mac);
    req[28..32].copy_from_slice(&B.octets());
    req[38..42].copy_from_slice(&A.octets());
    inject(&mut p0, &[req.to_vec()]);
    w0.run_once(now);
    w1.run_once(now);
    assert_eq!(w0.counters().arp_shared, 1);
    assert_eq!(w0.iface().counters().arp_replies_sent, 1);
    assert_eq!(w1.iface().counters().arp_replies_sent, 0);
}

// ----- the idle policy -----

#[test]
fn idle_wait_spins_first_then_waits_until_the_next_timer_at_most_the_cap() {
    let ms = std::time::Duration::from_millis;
    let us = std::time::Duration::from_micros;
    // Frames moved 10 µs ago, spin 50 µs: keep polling.
    assert_eq!(idle_wait(us(50), us(10), Some(ms(5))), None);
    // Idle long enough: wait for the timer, or the cap if it is further or there is none.
    assert_eq!(idle_wait(us(50), us(60), Some(us(300))), Some(us(300)));
    assert_eq!(idle_wait(us(50), us(60), Some(ms(40))), Some(MAX_IDLE_WAIT));
    assert_eq!(idle_wait(us(50), us(60), None), Some(MAX_IDLE_WAIT));
    // A timer already due: no sleep, the next iteration runs it.
    assert_eq!(idle_wait(us(0), us(0), Some(us(0))), Some(us(0)));
    assert_eq!(IdlePolicy::from_sleep(ms(0)), IdlePolicy::BusyPoll);
    assert_eq!(IdlePolicy::from_sleep(us(50)), IdlePolicy::Sleep(us(50)));
}

/// A loopback end that records the timeouts it was asked to wait for (and returns at once),
/// and counts the TX buffers it lent.
struct RecordsWaits {
    inner: LoopbackEnd,
    waits: Vec<std::time::Duration>,
    allocations: usize,
}

impl Device for RecordsWaits {
    fn caps(&self) -> xdptcp_stack::iface::DeviceCaps {
        self.inner.caps()
    }
    fn receive(&mut self, now: Instant, out: &mut crate::device::FrameList) {
        self.inner.receive(now, out)
    }
    fn frame(&self, id: crate::device::FrameId) -> &[u8] {
        self.inner.frame(id)
    }
    fn frame_mut(&mut self, id: crate::device::FrameId) -> &mut [u8] {
        self.inner.frame_mut(id)
    }
    fn release(&mut self, id: crate::device::FrameId) {
        self.inner.release(id)
    }
    fn allocate(&mut self, now: Instant) -> Option<crate::device::FrameId> {
        self.allocations += 1;
        self.inner.allocate(now)
    }
    fn transmit(&mut self, now: Instant, id: crate::device::FrameId, len: usize) {
        self.inner.transmit(now, id, len)
    }
    fn flush(&mut self, now: Instant) {
        self.inner.flush(now)
    }
    fn wait(&mut self, timeout: std::time::Duration) {
        self.waits.push(timeout);
    }
}

fn idle_worker() -> (Worker<RecordsWaits, UdpEcho>, LoopbackEnd) {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
    let dev = RecordsWaits { inner: a, waits: Vec::new(), allocations: 0 };
    (Worker::new(dev, stack, Host::new(Echo::udp(7))), b)
}

/// Sends an ARP request for the worker's address from `peer`.
fn send_arp_request(peer: &mut LoopbackEnd) {
    let mut tx = peer.tx_batch(Instant::ZERO);
    let mut buf = tx.buffer().expect("a buffer");
    let arp = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 2, 0, 0, 0, 0, 1, 0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1,
        2, 0, 0, 0, 0, 1, 198, 18, 0, 1, 0, 0, 0, 0, 0, 0, 198, 18, 0, 2,
    ];
    buf[..arp.len()].copy_from_slice(&arp);
    buf.send(arp.len());
}

#[test]
fn a_turn_takes_a_tx_buffer_only_for_a_frame_it_sends() {
    // A busy-polling worker turns far more often than it sends: a turn with nothing to send
    // must not take a buffer from the device only to give it back.
    let (mut w, mut peer) = idle_worker();
    for ms in 0..50 {
        w.run_once(Instant::from_millis(ms));
    }
    assert_eq!(w.device().allocations, 0);
    assert_eq!(w.counters().tx_frames, 0);
    // One frame to answer: one buffer, the answer's, and none for the `None` that ends the
    // turn's asking.
    send_arp_request(&mut peer);
    w.run_once(Instant::from_millis(50));
    assert_eq!((w.counters().rx_frames, w.counters().tx_frames), (1, 1));
    assert_eq!(w.device().allocations, 1);
    assert_eq!(peer.rx_batch(Instant::from_millis(50), &mut FrameList::default()).len(), 1);
    // The RX list is kept from turn to turn: turns after it hand the stack nothing again.
    for ms in 51..60 {
        w.run_once(Instant::from_millis(ms));
    }
    assert_eq!((w.counters().rx_frames, w.counters().tx_frames), (1, 1));
}

#[test]
fn an_idle_worker_waits_on_the_device_only_under_spin_then_wait() {
    let stop_after = |n: u64| move |w: &Worker<RecordsWaits, UdpEcho>| w.counters().iterations >= n;
    // Nothing ever arrives: with no spin, every idle iteration after the first waits, never
    // longer than the cap.
    let (mut w, _peer) = idle_worker();
    let spin = std::time::Duration::ZERO;
    assert_eq!(w.run_idle(IdlePolicy::SpinThenWait { spin }, stop_after(20)), Stop::Requested);
    let waits = &w.device().waits;
    assert!(waits.len() >= 18, "{waits:?}");
    assert!(waits.iter().all(|t| !t.is_zero() && *t <= MAX_IDLE_WAIT), "{waits:?}");
    assert_eq!(w.counters().idle_waits, waits.len() as u64);
    // A spin longer than the run: never waits. Busy-polling never waits either.
    let (mut w, _peer) = idle_worker();
    let spin = std::time::Duration::from_secs(3600);
    w.run_idle(IdlePolicy::SpinThenWait { spin }, stop_after(20));
    assert!(w.device().waits.is_empty());
    let (mut w, _peer) = idle_worker();
    w.run_idle(IdlePolicy::BusyPoll, stop_after(20));
    assert!(w.device().waits.is_empty() && w.counters().idle_waits == 0);
}

#[test]
fn a_frame_arriving_resets_the_spin() {
    // The peer's frame is on the wire before the loop starts: the first iteration moves it
    // (ARP request in, reply out), so a long spin keeps the loop polling afterwards.
    let (mut w, mut peer) = idle_worker();
    w.run_once(Instant::ZERO); // binds port 7
    send_arp_request(&mut peer);
    let spin = std::time::Duration::from_millis(200);
    let start = std::time::Instant::now();
    w.run_idle(IdlePolicy::SpinThenWait { spin }, |w| w.counters().iterations >= 50);
    assert!(w.counters().rx_frames >= 1 && w.counters().tx_frames >= 1);
    // 50 iterations take far less than 200 ms: the spin never ran out.
    if start.elapsed() < spin {
        assert!(w.device().waits.is_empty(), "{:?}", w.device().waits);
    }
}

#[test]
fn neighbour_advertisements_reach_every_worker_so_detection_agrees() {
    use crate::setup::{stack_config, Addressing};
    use crate::steering::{Steering, SteeringConfig};
    use std::net::Ipv6Addr;
    use xdptcp_stack::iface::{AddrState, Ipv6Cidr};
    use xdptcp_stack::stack::{Stack, StackKeys};
    use xdptcp_stack::wire::ethernet::EthernetAddress;
    use xdptcp_stack::wire::icmpv6::Icmpv6Repr;

    let ours = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    let all_nodes = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
    let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
    let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
    let worker = |port| {
        let (a, b) = LoopbackPair::default().build();
        let addressing = Addressing {
            mac: MAC_A,
            addr: A,
            prefix_len: 24,
            gateway: None,
            ipv6: vec![Ipv6Cidr::new(ours, 64)],
        };
        let stack =
            Stack::new(stack_config(&a, addressing, StackKeys::from_seed(7)), Instant::ZERO);
        (Worker::new(a, stack, Host::new(Echo::udp(7))).with_steering(rss.clone(), port), b)
    };
    let (mut w1, _p1) = worker(ports.pop().expect("two ports"));
    let (mut w0, mut p0) = worker(ports.pop().expect("two ports"));
    // Another node defends `ours` (RFC 4862 §5.4.4), arriving on worker 0's queue only.
    let peer_mac = [2, 0, 0, 0, 0, 1];
    let na = Icmpv6Repr::NeighborAdvert {
        router: false,
        solicited: false,
        override_: true,
        target: ours,
        target_ll: Some(EthernetAddress(peer_mac)),
    };
    let mut f = vec![0u8; 14 + 40 + na.buffer_len()];
    f[0..6].copy_from_slice(&[0x33, 0x33, 0, 0, 0, 1]);
    f[6..12].copy_from_slice(&peer_mac);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(na.buffer_len() as u16).to_be_bytes());
    f[20] = 58;
    f[21] = 255;
    f[22..38].copy_from_slice(&ours.octets());
    f[38..54].copy_from_slice(&all_nodes.octets());
    na.emit(ours, all_nodes, &mut f[54..], true);
    inject(&mut p0, &[f]);
    let now = Instant::from_millis(1);
    w0.run_once(now);
    w1.run_once(now);
    assert_eq!(w0.counters().arp_shared, 1, "copied to the other worker");
    for w in [&w0.iface(), &w1.iface()] {
        assert_eq!(w.ipv6().state_of(ours), Some(AddrState::Duplicate));
        assert_eq!(w.counters().ndp_dad_duplicates, 1);
    }
}
