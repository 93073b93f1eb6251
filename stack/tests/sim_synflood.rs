#![cfg(feature = "sim")]
//! A SYN flood from spoofed sources fills the SYN queue; legitimate clients still get in
//! through SYN cookies (RFC 4987 §3.6), and the server keeps bounded state.

use std::net::Ipv4Addr;
use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{StackEvent, TcpHandle};
use xdptcp_stack::tcp::{Event, SeqNumber, State};
use xdptcp_stack::time::Duration;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

const BACKLOG: usize = 8;
const PORT: u16 = 80;

/// A SYN from `src:sport` to B, as an attacker who never answers would send it.
fn spoofed_syn(src: Ipv4Addr, sport: u16, seq: u32) -> Vec<u8> {
    let mut repr = TcpRepr::new(sport, PORT, SeqNumber(seq));
    repr.flags = TcpFlags::SYN;
    repr.window = 65535;
    repr.mss = Some(1460);
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, ADDR_B, true);
    buf
}

struct Client {
    handle: TcpHandle,
    got: Vec<u8>,
    sent: bool,
    closed: bool,
}

#[test]
fn legitimate_clients_connect_through_a_syn_flood() {
    let mut p = Pair::with_link(LinkConfig::default(), 77);
    let listener = p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, BACKLOG).unwrap();
    let mut rng = SplitMix64::new(5);
    let mut clients: Vec<Client> = Vec::new();
    let mut servers: Vec<TcpHandle> = Vec::new();
    let mut attack_syns = 0u64;
    let mut max_conns = 0;
    // 4 seconds of virtual time in 1 ms steps: 25 spoofed SYNs per ms (10,000 in all), and a
    // legitimate client connecting every 400 ms.
    for step in 0..4_000u64 {
        if step < 400 || step % 10 == 0 {
            for _ in 0..25 {
                // Off-link sources (TEST-NET-3 and beyond): the SYN-ACKs go nowhere.
                let src = Ipv4Addr::from(0xcb00_7100u32 + rng.below(1 << 16) as u32);
                let sport = 1024 + rng.below(60_000) as u16;
                let seg = spoofed_syn(src, sport, rng.next_u64() as u32);
                p.b.tcp_input(p.now, src, ADDR_B, &seg, true);
                attack_syns += 1;
            }
        }
        if step % 400 == 50 {
            let h = p.a.tcp_connect(p.now, ADDR_B, PORT).unwrap();
            clients.push(Client { handle: h, got: Vec::new(), sent: false, closed: false });
        }
        p.poll();
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                while let Some(h) = p.b.tcp_accept(l) {
                    servers.push(h);
                }
            }
        }
        while p.a.poll_event().is_some() {}
        serve(&mut p, &servers);
        for c in &mut clients {
            talk(&mut p, c);
        }
        max_conns = max_conns.max(p.b.connection_count());
        p.now += Duration::from_millis(1);
    }
    // Let the last clients finish, flood over.
    let until = p.now + Duration::from_secs(120);
    p.drive(until, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                while let Some(h) = p.b.tcp_accept(l) {
                    servers.push(h);
                }
            }
        }
        while p.a.poll_event().is_some() {}
        serve(p, &servers);
        for c in &mut clients {
            talk(p, c);
        }
        clients.iter().all(|c| c.closed && p.a.tcp_state(c.handle) == State::Closed)
    });

    let lc = p.b.listen_counters();
    assert_eq!(clients.len(), 10);
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(c.got, b"world", "client {i}");
        assert!(c.closed, "client {i}");
    }
    assert!(lc.syncookies_sent > attack_syns / 2, "{lc:?} of {attack_syns}");
    assert!(lc.syncookies_recv >= 8, "{lc:?}");
    assert_eq!(lc.syncookies_failed, 0, "{lc:?}");
    // The SYN queue never outgrew the backlog: state stayed bounded under 10,000 SYNs.
    assert!(max_conns <= BACKLOG + clients.len() + 2, "{max_conns}");
    assert!(p.b.tcp_syn_queue_len(listener) <= BACKLOG);
}

fn serve(p: &mut Pair, servers: &[TcpHandle]) {
    for &h in servers {
        let mut buf = [0u8; 16];
        if p.b.tcp_recv(h, &mut buf) == Ok(5) {
            assert_eq!(&buf[..5], b"hello");
            p.b.tcp_send(h, b"world").unwrap();
        }
        if p.b.tcp_state(h) == State::CloseWait {
            p.b.tcp_close(h).unwrap();
        }
    }
}

fn talk(p: &mut Pair, c: &mut Client) {
    if !c.sent && p.a.tcp_state(c.handle) == State::Established {
        c.sent = p.a.tcp_send(c.handle, b"hello").unwrap() == 5;
    }
    let mut buf = [0u8; 16];
    if let Ok(n) = p.a.tcp_recv(c.handle, &mut buf) {
        c.got.extend_from_slice(&buf[..n]);
    }
    if c.got.len() == 5 && !c.closed {
        c.closed = p.a.tcp_close(c.handle).is_ok();
    }
}

#[test]
fn without_cookies_a_full_syn_queue_drops() {
    use xdptcp_stack::tcp::listen::{CookieMode, ListenConfig};
    let mut cfg = side_config(Side::B, 9);
    cfg.listen = ListenConfig { cookies: CookieMode::Never, ..ListenConfig::default() };
    let mut p = Pair::new(side_config(Side::A, 9), cfg, LinkConfig::default(), 9);
    let l = p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 4).unwrap();
    for i in 0..100u32 {
        let src = Ipv4Addr::new(203, 0, 113, (i % 250) as u8 + 1);
        p.b.tcp_input(p.now, src, ADDR_B, &spoofed_syn(src, 2000 + i as u16, i), true);
    }
    assert_eq!(p.b.tcp_syn_queue_len(l), 4);
    let lc = p.b.listen_counters();
    assert_eq!(lc.listen_drops, 96);
    assert_eq!(lc.syncookies_sent, 0);
    // A legitimate client's SYN is dropped too, and it gets in only once the half-open
    // connections time out (5 SYN-ACK retries, about 63 s): the reason cookies exist.
    let a = p.a.tcp_connect(p.now, ADDR_B, PORT).unwrap();
    let until = p.now + Duration::from_secs(20);
    p.run_until(until);
    assert_eq!(p.a.tcp_state(a), State::SynSent);
    let until = p.now + Duration::from_secs(200);
    let ok = p.drive(until, |p| {
        while let Some(ev) = p.a.poll_event() {
            if ev == StackEvent::Tcp(a, Event::Connected) {
                return true;
            }
        }
        false
    });
    assert!(ok, "{:?}", p.a.tcp_state(a));
}
