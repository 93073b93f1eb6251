#![cfg(feature = "sim")]
//! Every close sequence of RFC 9293 §3.6 between two stacks: both ends finish in CLOSED
//! (through TIME-WAIT on the side that closed first) and are freed.

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{ConnectError, StackEvent, TcpHandle};
use xdptcp_stack::tcp::{Event, State, SLAB_CHUNKS};
use xdptcp_stack::time::Duration;

const LIMIT: Duration = Duration::from_secs(300);

struct Ends {
    a: TcpHandle,
    b: TcpHandle,
    a_log: StateLog,
    b_log: StateLog,
    a_events: Vec<Event>,
    b_events: Vec<Event>,
}

fn open(seed: u64) -> (Pair, Ends) {
    let mut p = Pair::with_link(LinkConfig::default(), seed);
    let (a, b, _) = establish(&mut p, 80, LIMIT).expect("handshake");
    let ends = Ends {
        a,
        b,
        a_log: StateLog::default(),
        b_log: StateLog::default(),
        a_events: vec![],
        b_events: vec![],
    };
    (p, ends)
}

/// Drives until both ends are freed, with `app` acting at every step; logs states and events.
fn run(p: &mut Pair, e: &mut Ends, mut app: impl FnMut(&mut Pair, &mut Ends)) -> bool {
    let until = p.now + LIMIT;
    p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            if let StackEvent::Tcp(h, ev) = ev {
                if h == e.a {
                    e.a_events.push(ev);
                }
            }
        }
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Tcp(h, ev) = ev {
                if h == e.b {
                    e.b_events.push(ev);
                }
            }
        }
        e.a_log.note(p.a.tcp_state(e.a));
        e.b_log.note(p.b.tcp_state(e.b));
        app(p, e);
        e.a_log.note(p.a.tcp_state(e.a));
        e.b_log.note(p.b.tcp_state(e.b));
        p.a.tcp_state(e.a) == State::Closed && p.b.tcp_state(e.b) == State::Closed
    })
}

fn assert_freed(p: &Pair) {
    assert_eq!(p.a.connection_count(), 0);
    assert_eq!(p.b.connection_count(), 0);
    assert_eq!(p.a.tcp_counters().curr_estab, 0);
    assert_eq!(p.b.tcp_counters().curr_estab, 0);
}

#[test]
fn active_close_by_client() {
    let (mut p, mut e) = open(1);
    p.a.tcp_close(e.a).unwrap();
    let done = run(&mut p, &mut e, |p, e| {
        // The server closes once it has seen the client's FIN.
        if p.b.tcp_state(e.b) == State::CloseWait {
            p.b.tcp_close(e.b).unwrap();
        }
    });
    assert!(done, "{:?} {:?}", e.a_log, e.b_log);
    assert_eq!(e.a_log.0.first(), Some(&State::FinWait1));
    assert!(e.a_log.saw(State::TimeWait), "{:?}", e.a_log);
    assert!(e.b_log.saw(State::CloseWait) && e.b_log.saw(State::LastAck), "{:?}", e.b_log);
    assert!(!e.b_log.saw(State::TimeWait));
    assert!(e.b_events.contains(&Event::PeerClosed));
    assert_eq!(e.a_events.last(), Some(&Event::Closed));
    assert_eq!(e.b_events.last(), Some(&Event::Closed));
    assert_freed(&p);
}

#[test]
fn active_close_by_server_then_time_wait_expires() {
    let (mut p, mut e) = open(2);
    p.b.tcp_close(e.b).unwrap();
    let start = p.now;
    let mut closed_at = None;
    let done = run(&mut p, &mut e, |p, e| {
        if p.a.tcp_state(e.a) == State::CloseWait {
            p.a.tcp_close(e.a).unwrap();
        }
        if closed_at.is_none() && p.a.tcp_state(e.a) == State::Closed {
            closed_at = Some(p.now);
        }
    });
    assert!(done);
    assert!(e.b_log.saw(State::TimeWait), "{:?}", e.b_log);
    assert!(e.a_log.saw(State::LastAck), "{:?}", e.a_log);
    // TIME-WAIT lasts 2 MSL (60 s by default) after the last ACK.
    let tw = p.now.saturating_duration_since(closed_at.unwrap());
    assert!(tw >= Duration::from_secs(59) && tw <= Duration::from_secs(61), "{tw:?}");
    assert!(p.now.saturating_duration_since(start) < Duration::from_secs(62));
    assert_freed(&p);
}

#[test]
fn fin_wait_1_straight_to_time_wait_on_fin_ack() {
    let (mut p, mut e) = open(3);
    p.a.tcp_close(e.a).unwrap();
    p.poll();
    // Hand the client's FIN to the server by hand and close the server before it answers:
    // its FIN carries the ACK of the client's, so FIN-WAIT-1 goes straight to TIME-WAIT.
    p.now = p.a_to_b.next_delivery().expect("FIN in flight");
    while let Some(f) = p.a_to_b.deliver(p.now) {
        p.b.receive(p.now, &f);
    }
    assert_eq!(p.b.tcp_state(e.b), State::CloseWait);
    p.b.tcp_close(e.b).unwrap();
    let done = run(&mut p, &mut e, |_, _| {});
    assert!(done);
    assert!(e.a_log.saw(State::TimeWait));
    assert!(!e.a_log.saw(State::FinWait2), "{:?}", e.a_log);
    assert!(!e.a_log.saw(State::Closing), "{:?}", e.a_log);
    assert_freed(&p);
}

#[test]
fn fin_wait_2_when_server_lingers() {
    let (mut p, mut e) = open(4);
    p.a.tcp_close(e.a).unwrap();
    let done = run(&mut p, &mut e, |p, e| {
        // The server closes only once the client sits in FIN-WAIT-2 (its FIN acknowledged).
        if p.b.tcp_state(e.b) == State::CloseWait && p.a.tcp_state(e.a) == State::FinWait2 {
            p.b.tcp_close(e.b).unwrap();
        }
    });
    assert!(done);
    assert!(e.a_log.saw(State::FinWait2), "{:?}", e.a_log);
    assert!(e.a_log.saw(State::TimeWait));
    assert_freed(&p);
}

#[test]
fn simultaneous_close() {
    let (mut p, mut e) = open(5);
    p.a.tcp_close(e.a).unwrap();
    p.b.tcp_close(e.b).unwrap();
    let done = run(&mut p, &mut e, |_, _| {});
    assert!(done);
    // The FINs cross: both go FIN-WAIT-1 -> CLOSING -> TIME-WAIT -> CLOSED.
    for log in [&e.a_log, &e.b_log] {
        assert!(log.saw(State::Closing), "{log:?}");
        assert!(log.saw(State::TimeWait), "{log:?}");
        assert_eq!(log.0.last(), Some(&State::Closed));
    }
    assert_freed(&p);
}

#[test]
fn abort_resets_the_peer() {
    let (mut p, mut e) = open(6);
    p.a.tcp_send(e.a, b"some data").unwrap();
    p.a.tcp_abort(e.a).unwrap();
    let done = run(&mut p, &mut e, |_, _| {});
    assert!(done);
    assert_eq!(e.b_events.last(), Some(&Event::Reset), "{:?}", e.b_events);
    assert!(!e.a_log.saw(State::TimeWait));
    assert!(p.a.tcp_counters().out_rsts >= 1);
    assert_eq!(p.b.tcp_counters().estab_resets, 1);
    assert_freed(&p);
}

#[test]
fn close_with_unread_data_resets() {
    let (mut p, mut e) = open(7);
    p.b.tcp_send(e.b, b"unread").unwrap();
    let until = p.now + Duration::from_secs(1);
    p.run_until(until);
    assert_eq!(p.a.tcp_recv_queue_len(e.a), 6);
    // RFC 1122 §4.2.2.13: closing with unread data sends a RST, not a FIN.
    p.a.tcp_close(e.a).unwrap();
    let done = run(&mut p, &mut e, |_, _| {});
    assert!(done);
    assert!(e.b_events.contains(&Event::Reset), "{:?}", e.b_events);
    assert_freed(&p);
}

#[test]
fn half_close_keeps_receiving() {
    let (mut p, mut e) = open(8);
    p.a.tcp_shutdown_write(e.a).unwrap();
    let mut got = Vec::new();
    let mut sent = false;
    let done = run(&mut p, &mut e, |p, e| {
        if p.b.tcp_state(e.b) == State::CloseWait && !sent {
            sent = p.b.tcp_send(e.b, b"reply after FIN").unwrap() > 0;
            p.b.tcp_close(e.b).unwrap();
        }
        let mut buf = [0u8; 64];
        if let Ok(n) = p.a.tcp_recv(e.a, &mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        if p.a.tcp_recv_finished(e.a) && p.a.tcp_state(e.a) != State::Closed {
            let _ = p.a.tcp_close(e.a);
        }
    });
    assert!(done);
    assert_eq!(got, b"reply after FIN");
    assert!(e.a_log.saw(State::FinWait2) || e.a_log.saw(State::TimeWait));
    assert_freed(&p);
}

#[test]
fn closes_under_loss_still_finish() {
    for seed in 0..8u64 {
        let link = LinkConfig { loss: 0.3, ..LinkConfig::default() };
        let mut p = Pair::with_link(link, seed);
        let Some((a, b, _)) = establish(&mut p, 80, LIMIT) else {
            panic!("no handshake, seed {seed}")
        };
        let mut e = Ends {
            a,
            b,
            a_log: StateLog::default(),
            b_log: StateLog::default(),
            a_events: vec![],
            b_events: vec![],
        };
        match seed % 3 {
            0 => p.a.tcp_close(a).unwrap(),
            1 => p.b.tcp_close(b).unwrap(),
            _ => {
                p.a.tcp_close(a).unwrap();
                p.b.tcp_close(b).unwrap();
            }
        }
        let done = run(&mut p, &mut e, |p, e| {
            for (s, h) in [(&mut p.a, e.a), (&mut p.b, e.b)] {
                if s.tcp_state(h) == State::CloseWait {
                    s.tcp_close(h).unwrap();
                }
            }
        });
        assert!(done, "seed {seed}: {:?} {:?}", e.a_log, e.b_log);
        assert_freed(&p);
    }
}

/// Linux `tcp_tw_reuse` for our own active opens: a 4-tuple whose only occupant is a TIME-WAIT
/// connection of ours (timestamps on, peer silent for a second) may be taken by a new connect.
/// With a single usable source port the second connect fails while TIME-WAIT is fresh, then
/// succeeds a second later, completes its handshake and frees the old incarnation.
#[test]
fn active_open_reuses_an_aged_time_wait_port() {
    let (mut p, mut e) = open(7);
    let port = p.a.tcp_endpoints(e.a).expect("endpoints").0.port();
    p.a.set_port_filter(Box::new(move |candidate| candidate.local_port == port));
    // A closes first (and ends in TIME-WAIT); B closes when A's FIN arrives.
    p.a.tcp_close(e.a).unwrap();
    let until = p.now + Duration::from_secs(5);
    p.drive(until, |p| {
        if p.b.tcp_state(e.b) == State::CloseWait {
            p.b.tcp_close(e.b).unwrap();
        }
        p.a.tcp_state(e.a) == State::TimeWait && p.b.connection_count() == 0
    });
    assert_eq!(p.b.connection_count(), 0, "B went through LAST-ACK and is freed");
    assert_eq!(p.a.tcp_state(e.a), State::TimeWait);
    assert_eq!(p.a.tcp_connect(p.now, ADDR_B, 80).unwrap_err(), ConnectError::NoFreePort);

    let until = p.now + Duration::from_millis(1_100);
    p.run_until(until);
    assert_eq!(p.a.tcp_state(e.a), State::TimeWait, "2 MSL has not passed");
    let again = p.a.tcp_connect(p.now, ADDR_B, 80).expect("the aged TIME-WAIT port is reused");
    assert_eq!(p.a.tcp_endpoints(again).unwrap().0.port(), port);
    assert_eq!(p.a.tcp_counters().time_wait_reused, 1);
    assert_eq!(p.a.tcp_state(e.a), State::Closed, "the old incarnation is gone");
    e.a = again;
    let until = p.now + LIMIT;
    let mut accepted = None;
    p.drive(until, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                accepted = accepted.or(p.b.tcp_accept(l));
            }
        }
        accepted.is_some() && p.a.tcp_state(again) == State::Established
    });
    assert_eq!(p.a.tcp_state(again), State::Established);
    assert!(accepted.is_some());
}

/// A connection-rate workload must not allocate per connection: each connection's chunks go
/// back to the pool as its data is read or acknowledged, the next one takes them from the
/// free list, and a TIME-WAIT (60 s of it, on the side that closed first) holds none.
#[test]
fn connections_in_sequence_recycle_their_buffers_and_time_wait_holds_none() {
    let mut p = Pair::with_link(LinkConfig::default(), 21);
    let listener = p.b.tcp_listen(std::net::Ipv4Addr::UNSPECIFIED, 80, 16).unwrap();
    const N: usize = 20;
    for k in 0..N {
        let a = p.a.tcp_connect(p.now, ADDR_B, 80).unwrap();
        let mut b = None;
        let mut sent = false;
        let until = p.now + LIMIT;
        let done = p.drive(until, |p| {
            while let Some(ev) = p.b.poll_event() {
                if let StackEvent::Acceptable(l) = ev {
                    assert_eq!(l, listener);
                    b = p.b.tcp_accept(l);
                }
            }
            while p.a.poll_event().is_some() {}
            if !sent && p.a.tcp_state(a) == State::Established {
                p.a.tcp_send(a, b"request").unwrap();
                p.a.tcp_close(a).unwrap();
                sent = true;
            }
            if let Some(b) = b {
                let mut buf = [0u8; 64];
                while p.b.tcp_recv(b, &mut buf).unwrap_or(0) > 0 {}
                if p.b.tcp_state(b) == State::CloseWait {
                    p.b.tcp_close(b).unwrap();
                }
            }
            p.a.tcp_state(a) == State::TimeWait && p.b.connection_count() == 0
        });
        assert!(done, "connection {k} did not close");
    }
    // The client holds N connections in TIME-WAIT, none with chunks; each side allocated one
    // slab of chunk storage for its first connection and took free chunks from it after.
    assert_eq!(p.a.connection_count(), N);
    let (ca, cb) = (p.a.memory_counters(), p.b.memory_counters());
    let slab = SLAB_CHUNKS as u64;
    assert!(ca.chunks_allocated == slab && cb.chunks_allocated == slab, "{ca:?} {cb:?}");
    assert_eq!((ca.chunks_in_use, cb.chunks_in_use), (0, 0), "{ca:?} {cb:?}");
    assert_eq!(p.a.connection_chunks(), 0);
    assert!(ca.chunks_peak >= 1 && cb.chunks_peak >= 1, "data did pass through chunks");
    assert_eq!((ca.chunks_released, cb.chunks_released), (0, 0));
}

/// Linux `tcp_max_tw_buckets` overflow on the side that closed first: the connection is freed
/// instead of entering TIME-WAIT, but only after it has acknowledged the peer's FIN (Linux's
/// `tcp_fin` sends that ACK before `tcp_time_wait` finds no bucket). Before, the ACK was
/// dropped with the connection: the peer stayed in LAST-ACK retransmitting its FIN into RSTs
/// (rate-limited as answers to a closed port), and the next connect from the same port ran
/// into that LAST-ACK, was refused and waited a second for its SYN's retransmission. That
/// was the crr lab's cap (one connection per client port per run, 27.5 k/s).
#[test]
fn time_wait_overflow_still_acknowledges_the_peers_fin() {
    let mut cfg_a = side_config(Side::A, 31);
    cfg_a.max_time_wait = Some(0);
    let mut p = Pair::new(cfg_a, side_config(Side::B, 31), LinkConfig::default(), 31);
    let (a, b, _) = establish(&mut p, 80, LIMIT).expect("handshake");
    let port = p.a.tcp_endpoints(a).expect("endpoints").0.port();
    p.a.set_port_filter(Box::new(move |candidate| candidate.local_port == port));
    p.a.tcp_close(a).unwrap();
    // Three one-way delays of 1 ms (FIN, FIN-ACK, ACK) and some room, far below any RTO.
    let until = p.now + Duration::from_millis(20);
    let closed = p.drive(until, |p| {
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        if p.b.tcp_state(b) == State::CloseWait {
            p.b.tcp_close(b).unwrap();
        }
        p.a.connection_count() == 0 && p.b.connection_count() == 0
    });
    assert_eq!(p.a.counters().time_wait_overflow, 1);
    assert!(closed, "the peer is still in {:?}", p.b.tcp_state(b));
    assert_eq!(p.b.tcp_counters().retrans_segs, 0, "the peer had to retransmit its FIN");

    // The crr pattern: the next connection from the same port is answered at once.
    let again = p.a.tcp_connect(p.now, ADDR_B, 80).expect("the freed port is free");
    let until = p.now + Duration::from_millis(20);
    let up = p.drive(until, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                let _ = p.b.tcp_accept(l);
            }
        }
        p.a.tcp_state(again) == State::Established
    });
    assert!(up, "the reconnect is in {:?}", p.a.tcp_state(again));
}
