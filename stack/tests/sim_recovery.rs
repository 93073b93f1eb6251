#![cfg(feature = "sim")]
//! Half-open connections after a reboot (RFC 9293 §3.5.2) and simultaneous open (§3.5,
//! figure 8) converge.

use std::net::Ipv4Addr;
use xdptcp_stack::sim::*;
use xdptcp_stack::stack::StackEvent;
use xdptcp_stack::tcp::{Event, State, TcpConfig};
use xdptcp_stack::time::Duration;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn rebooted_server_resets_the_clients_data() {
    let mut p = Pair::with_link(LinkConfig::default(), 1);
    let (a, _b, _) = establish(&mut p, 80, LIMIT).unwrap();
    // B forgets everything: a fresh stack (same addresses and keys).
    p.reboot(Side::B, side_config(Side::B, 1));
    p.a.tcp_send(a, b"are you there?").unwrap();
    let mut reset = false;
    let until = p.now + LIMIT;
    p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            reset |= ev == StackEvent::Tcp(a, Event::Reset);
        }
        reset
    });
    assert!(reset, "the client never heard of the reboot");
    assert_eq!(p.a.tcp_state(a), State::Closed);
    assert_eq!(p.a.connection_count(), 0);
    assert!(p.b.counters().rsts_no_socket >= 1);
}

#[test]
fn rebooted_client_reconnecting_on_same_port_recovers() {
    let mut p = Pair::with_link(LinkConfig::default(), 2);
    let (a, b, listener) = establish(&mut p, 80, LIMIT).unwrap();
    let (local, _) = p.a.tcp_endpoints(a).unwrap();
    // A reboots and connects again from the same port: B's old connection sees a SYN in
    // ESTABLISHED, answers with a challenge ACK (RFC 5961 §4), A (in SYN-SENT) resets it
    // (RFC 9293 §3.10.7.3), and A's retransmitted SYN then reaches the listener.
    p.reboot(Side::A, side_config(Side::A, 2));
    let a2 = p.a.tcp_connect_from(p.now, local.port(), ADDR_B, 80, TcpConfig::default()).unwrap();
    let mut old_reset = false;
    let mut new_server = None;
    let until = p.now + LIMIT;
    let done = p.drive(until, |p| {
        while let Some(ev) = p.b.poll_event() {
            match ev {
                StackEvent::Tcp(h, Event::Reset) if h == b => old_reset = true,
                StackEvent::Acceptable(l) if l == listener => new_server = p.b.tcp_accept(l),
                _ => {}
            }
        }
        while p.a.poll_event().is_some() {}
        old_reset && new_server.is_some() && p.a.tcp_state(a2) == State::Established
    });
    assert!(done, "old reset {old_reset}, new {new_server:?}, client {:?}", p.a.tcp_state(a2));
    assert_eq!(p.b.tcp_state(b), State::Closed);
    assert_eq!(p.b.tcp_state(new_server.unwrap()), State::Established);
    assert!(p.b.tcp_counters().challenge_acks >= 1);
}

#[test]
fn simultaneous_open_converges() {
    for seed in 0..4u64 {
        let link = LinkConfig { loss: if seed > 1 { 0.2 } else { 0.0 }, ..LinkConfig::default() };
        let mut p = Pair::with_link(link, seed);
        let cfg = TcpConfig::default();
        // Both ends actively open towards each other's port at the same instant.
        let a = p.a.tcp_connect_from(p.now, 4000, ADDR_B, 5000, cfg).unwrap();
        let b = p.b.tcp_connect_from(p.now, 5000, ADDR_A, 4000, cfg).unwrap();
        let mut log_a = StateLog::default();
        let (mut conn_a, mut conn_b) = (false, false);
        let until = p.now + LIMIT;
        let done = p.drive(until, |p| {
            while let Some(ev) = p.a.poll_event() {
                conn_a |= ev == StackEvent::Tcp(a, Event::Connected);
            }
            while let Some(ev) = p.b.poll_event() {
                conn_b |= ev == StackEvent::Tcp(b, Event::Connected);
            }
            log_a.note(p.a.tcp_state(a));
            conn_a && conn_b
        });
        assert!(done, "seed {seed}: {:?} {:?} {log_a:?}", p.a.tcp_state(a), p.b.tcp_state(b));
        if seed <= 1 {
            // Without loss, the SYNs cross and both pass through SYN-RECEIVED.
            assert!(log_a.saw(State::SynReceived), "{log_a:?}");
        }
        // Data flows both ways afterwards.
        p.a.tcp_send(a, b"ping").unwrap();
        p.b.tcp_send(b, b"pong").unwrap();
        let until = p.now + LIMIT;
        p.drive(until, |p| p.a.tcp_recv_queue_len(a) == 4 && p.b.tcp_recv_queue_len(b) == 4);
        let mut buf = [0u8; 4];
        assert_eq!(p.a.tcp_recv(a, &mut buf), Ok(4));
        assert_eq!(&buf, b"pong");
        assert_eq!(p.b.tcp_recv(b, &mut buf), Ok(4));
        assert_eq!(&buf, b"ping");
    }
}

#[test]
fn connect_to_closed_port_is_refused() {
    let mut p = Pair::with_link(LinkConfig::default(), 3);
    let a = p.a.tcp_connect(p.now, ADDR_B, 9).unwrap();
    let mut refused = false;
    let until = p.now + LIMIT;
    p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            refused |= ev == StackEvent::Tcp(a, Event::Refused);
        }
        refused
    });
    assert!(refused);
    assert_eq!(p.a.connection_count(), 0);
    assert_eq!(p.b.counters().rsts_no_socket, 1);
    let _ = Ipv4Addr::UNSPECIFIED;
}

#[test]
fn connect_to_silent_host_times_out() {
    let link = LinkConfig { loss: 1.0, ..LinkConfig::default() };
    let mut p = Pair::with_link(link, 4);
    let cfg = TcpConfig { syn_retries: 2, ..TcpConfig::default() };
    let a = p.a.tcp_connect_with(p.now, ADDR_B, 80, cfg).unwrap();
    let mut timed_out = false;
    let until = p.now + Duration::from_secs(600);
    p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            timed_out |= ev == StackEvent::Tcp(a, Event::TimedOut);
        }
        timed_out
    });
    assert!(timed_out);
    assert_eq!(p.a.connection_count(), 0);
    assert_eq!(p.a.tcp_counters().attempt_fails, 1);
}
