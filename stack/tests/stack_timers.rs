//! A connection's timers fire through the stack exactly at the connection's own deadlines.
//!
//! The stack keeps one wheel entry per connection and moves it only to an earlier deadline:
//! a deadline that moves later (the RTO restarted by an ACK, RFC 6298 §5.3) leaves the entry
//! where it was, the entry fires early, and the wheel moves it on. These tests drive a client
//! by its own `Stack::poll_timeout` (as a driver does) while deadlines move both ways, and
//! check that what the client sends leaves exactly when RFC 6298 and RFC 1122 §4.2.3.2 say:
//! a deadline moved earlier is not late, a deadline moved later neither fires early nor is
//! lost.

mod common;

use common::frames_out;
use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::{State, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

fn stack(ip: Ipv4Addr, mac: u8, seed: u64) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, mac]), ip, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ethernet(1500), StackKeys::from_seed(seed));
    // No tail loss probe: the only timers are the RTO and the delayed ACK, so what the
    // client sends, and when, is fixed by them.
    cfg.tcp = TcpConfig::default().with_nodelay(true).with_rack(false);
    Stack::new(cfg, Instant::from_millis(1))
}

fn deliver(to: &mut Stack, now: Instant, frames: &[Vec<u8>]) {
    for f in frames {
        to.receive(now, f);
    }
}

fn carries(frame: &[u8], payload: &[u8]) -> bool {
    frame.windows(payload.len()).any(|w| w == payload)
}

/// Runs `s`'s timers as its `poll_timeout` asks, up to and including `until`, and returns
/// when it sent what (nothing is delivered anywhere).
fn run_timers(s: &mut Stack, until: Instant) -> Vec<(Instant, Vec<Vec<u8>>)> {
    let mut sent = Vec::new();
    while let Some(t) = s.poll_timeout().filter(|&t| t <= until) {
        s.on_timeout(t);
        let out = frames_out(s, t);
        if !out.is_empty() {
            sent.push((t, out));
        }
    }
    sent
}

/// A connected pair, after one exchange (so the client has an RTT sample), both in
/// interactive mode (delayed ACKs, `TCP_QUICKACK` off): `(client, server, c, s, now)`.
fn connected() -> (Stack, Stack, TcpHandle, TcpHandle, Instant) {
    let mut server = stack(SERVER, 1, 7);
    let mut client = stack(CLIENT, 2, 9);
    let listener = server.tcp_listen(SERVER, 7, 16).unwrap();
    let mut now = Instant::from_millis(2);
    let c = client.tcp_connect(now, SERVER, 7).unwrap();
    let mut s = None;
    for _ in 0..10 {
        now += Duration::from_millis(1);
        let out = frames_out(&mut client, now);
        deliver(&mut server, now, &out);
        while let Some(ev) = server.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                assert_eq!(l, listener);
                s = server.tcp_accept(l).or(s);
            }
        }
        let out = frames_out(&mut server, now);
        deliver(&mut client, now, &out);
        while client.poll_event().is_some() {}
    }
    let s = s.expect("accepted");
    assert_eq!(client.tcp_state(c), State::Established);
    client.tcp_set_quickack(c, false).unwrap();
    server.tcp_set_quickack(s, false).unwrap();
    (client, server, c, s, now)
}

#[test]
fn a_deadline_moved_earlier_fires_on_time_and_one_moved_later_neither_early_nor_never() {
    let (mut client, mut server, c, s, start) = connected();
    let mut buf = [0u8; 64];

    // t0: two requests leave; the RTO starts with the first (RFC 6298 §5.1). The second is
    // lost; the first waits in the network.
    let t0 = start + Duration::from_millis(5);
    client.tcp_send(c, b"first-request").unwrap();
    let first = frames_out(&mut client, t0);
    let t0b = t0 + Duration::from_millis(1);
    client.tcp_send(c, b"second-request").unwrap();
    let lost = frames_out(&mut client, t0b);
    assert!(first.iter().any(|f| carries(f, b"first-request")));
    assert!(lost.iter().any(|f| carries(f, b"second-request")));
    let rto_at_t0 = t0 + client.tcp_info(c).unwrap().rto;

    // t1: data from the server that acknowledges nothing new. The client's delayed ACK
    // (40 ms) is due long before its RTO: the connection's deadline moved earlier, and
    // that ACK must leave exactly then.
    let t1 = t0 + Duration::from_millis(10);
    server.tcp_send(s, b"note").unwrap();
    let note = frames_out(&mut server, t1);
    deliver(&mut client, t1, &note);
    while client.poll_event().is_some() {}
    while let Ok(1..) = client.tcp_recv(c, &mut buf) {}
    assert!(frames_out(&mut client, t1).is_empty(), "the ACK is delayed");
    let delack = t1 + Duration::from_millis(40);
    let sent = run_timers(&mut client, delack);
    assert_eq!(sent.len(), 1, "only the delayed ACK: {sent:?}");
    assert_eq!(sent[0].0, delack, "the delayed ACK left at its deadline");
    assert!(!carries(&sent[0].1[0], b"second-request"));

    // t2, about half an RTO on: the first request arrives and the server's reply
    // acknowledges it, with the second still outstanding. The RTO restarts from t2
    // (RFC 6298 §5.3): the deadline moved later than the wheel entry armed at t0.
    let t2 = t0 + Duration::from_nanos(rto_at_t0.saturating_duration_since(t0).total_nanos() / 2);
    assert!(t2 > delack);
    deliver(&mut server, t2, &first);
    while server.poll_event().is_some() {}
    while let Ok(1..) = server.tcp_recv(s, &mut buf) {}
    server.tcp_send(s, b"reply").unwrap();
    let reply = frames_out(&mut server, t2);
    deliver(&mut client, t2, &reply);
    while client.poll_event().is_some() {}
    while let Ok(1..) = client.tcp_recv(c, &mut buf) {}
    let rto_at_t2 = t2 + client.tcp_info(c).unwrap().rto;
    assert!(rto_at_t2 > rto_at_t0);
    let _ = frames_out(&mut client, t2);

    // Driven by its own poll_timeout from here, the client sends its delayed ACK of the
    // reply, then retransmits the lost request exactly at the restarted RTO: not at the old
    // deadline (the entry's, early) and not never.
    let sent = run_timers(&mut client, rto_at_t2 + Duration::from_secs(1));
    let retransmitted: Vec<Instant> = sent
        .iter()
        .filter(|(_, frames)| frames.iter().any(|f| carries(f, b"second-request")))
        .map(|&(t, _)| t)
        .collect();
    assert_eq!(retransmitted.first(), Some(&rto_at_t2), "sent: {:?}", times(&sent));
    assert!(sent.iter().all(|&(t, _)| t != rto_at_t0), "nothing at the old deadline");
}

fn times(sent: &[(Instant, Vec<Vec<u8>>)]) -> Vec<Instant> {
    sent.iter().map(|&(t, _)| t).collect()
}
