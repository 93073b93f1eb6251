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

/// An arriving segment that moves a connection's deadline earlier (the delayed ACK, long
/// before the RTO its wheel entry sits at) while the application neither reads nor sends
/// and the driver asks for no frame: the stack holds the earlier deadline back until the
/// batch's end (`touch::Held`), and it must still be reported by `poll_timeout` and fired
/// by `on_timeout` at its time, not at the entry's.
#[test]
fn a_deadline_an_arriving_segment_moved_earlier_fires_on_time_with_no_output_turn() {
    let (mut client, mut server, c, s, start) = connected();
    // The client's entry at its RTO: a request whose response never comes.
    let t0 = start + Duration::from_millis(5);
    client.tcp_send(c, b"request").unwrap();
    let request = frames_out(&mut client, t0);
    assert!(request.iter().any(|f| carries(f, b"request")));
    let rto = t0 + client.tcp_info(c).unwrap().rto;
    // Data from the server that acknowledges nothing: the client's delayed ACK is armed,
    // long before the RTO. Nothing else is asked of the client (no event, read or frame).
    let t1 = t0 + Duration::from_millis(3);
    server.tcp_send(s, b"note").unwrap();
    let note = frames_out(&mut server, t1);
    deliver(&mut client, t1, &note);
    let delack = t1 + Duration::from_millis(40);
    assert!(delack < rto);
    let next = client.poll_timeout().expect("a deadline");
    assert!(next <= delack, "poll_timeout {next:?} after the delayed ACK {delack:?}");
    // The driver sleeps until the delayed ACK (no `poll_transmit` before): it leaves then.
    client.on_timeout(delack);
    let out = frames_out(&mut client, delack);
    assert_eq!(out.len(), 1, "the delayed ACK at its deadline");
    assert!(!carries(&out[0], b"request"), "an ACK, not the retransmission");
    // The RTO is still kept: the request is retransmitted exactly at it.
    let sent = run_timers(&mut client, rto + Duration::from_millis(1));
    let resent: Vec<Instant> = sent
        .iter()
        .filter(|(_, frames)| frames.iter().any(|f| carries(f, b"request")))
        .map(|&(t, _)| t)
        .collect();
    assert_eq!(resent.first(), Some(&rto), "sent: {:?}", times(&sent));
}

/// The same, with the segment in a batch and the driver calling `poll_transmit` (nothing to
/// send), then driven by `poll_timeout`: the delayed ACK leaves exactly at its deadline.
#[test]
fn a_deadline_moved_earlier_inside_a_batch_fires_at_its_time() {
    let (mut client, mut server, c, s, start) = connected();
    let t0 = start + Duration::from_millis(5);
    client.tcp_send(c, b"request").unwrap();
    let _lost = frames_out(&mut client, t0);
    let t1 = t0 + Duration::from_millis(7);
    server.tcp_send(s, b"note-1").unwrap();
    let mut notes = frames_out(&mut server, t1);
    server.tcp_send(s, b"note-2").unwrap();
    notes.extend(frames_out(&mut server, t1));
    assert_eq!(notes.len(), 2);
    client.receive_batch(t1, notes.iter().map(Vec::as_slice));
    // Two full segments: RFC 1122 §4.2.3.2 has the second acknowledged at once, or the
    // delayed ACK armed; either way nothing may wait past 40 ms.
    let now_out = frames_out(&mut client, t1);
    let delack = t1 + Duration::from_millis(40);
    let sent = run_timers(&mut client, delack);
    if now_out.is_empty() {
        assert_eq!(times(&sent), vec![delack], "the delayed ACK at its deadline");
    } else {
        assert!(sent.is_empty(), "acknowledged at once, nothing more: {:?}", times(&sent));
    }
}

/// The server's request-response turn (`server_path`): the request arms the delayed ACK,
/// earlier than the entry (the last response's RTO), and the response in the same batch
/// carries the ACK and restarts the RTO, later. Held back until the batch's end, the delayed
/// ACK never reaches the wheel: the entry is not moved to it (it was moved there, then on
/// again when it fired early), and the restarted RTO still fires exactly on time.
#[test]
fn a_request_answered_in_its_batch_leaves_the_wheel_entry_where_it_was() {
    let (mut client, mut server, c, s, start) = connected();
    let mut buf = [0u8; 64];
    // The server's entry at the RTO of a response the client holds its ACK for.
    let t0 = start + Duration::from_millis(5);
    server.tcp_send(s, b"previous-response").unwrap();
    let previous = frames_out(&mut server, t0);
    deliver(&mut client, t0, &previous);
    while client.poll_event().is_some() {}
    while let Ok(1..) = client.tcp_recv(c, &mut buf) {}
    assert!(frames_out(&mut client, t0).is_empty(), "the client's ACK is delayed");
    // 10 ms on, the next request carries that ACK.
    let t1 = t0 + Duration::from_millis(10);
    client.tcp_send(c, b"request").unwrap();
    let request = frames_out(&mut client, t1);
    assert_eq!(request.len(), 1);
    let entry = server.tcp_timer_entry(s).expect("the server's entry");
    // The server's batch: the request, the application's answer, the output.
    server.receive_batch(t1, request.iter().map(Vec::as_slice));
    while server.poll_event().is_some() {}
    while let Ok(n @ 1..) = server.tcp_recv(s, &mut buf) {
        assert_eq!(&buf[..n], b"request");
        server.tcp_send(s, b"response").unwrap();
    }
    let response = frames_out(&mut server, t1);
    assert!(response.iter().any(|f| carries(f, b"response")));
    let rto = t1 + server.tcp_info(s).unwrap().rto;
    let delack = t1 + Duration::from_millis(40);
    assert!(entry > delack && entry < rto);
    assert_eq!(server.tcp_timer_entry(s), Some(entry), "the entry did not move");
    // The response is lost: retransmitted exactly at the restarted RTO, nothing before.
    let sent = run_timers(&mut server, rto);
    assert_eq!(times(&sent), vec![rto], "only the retransmission, at the RTO");
    assert!(sent[0].1.iter().any(|f| carries(f, b"response")));
}
