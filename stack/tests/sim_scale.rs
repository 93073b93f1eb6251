#![cfg(feature = "sim")]
//! Ten thousand concurrent connections on one stack pair open, exchange data and close.

use std::net::Ipv4Addr;
use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{StackEvent, TcpHandle};
use xdptcp_stack::tcp::listen::ListenConfig;
use xdptcp_stack::tcp::{BufferSizes, State, TcpConfig};
use xdptcp_stack::time::Duration;

const N: usize = 10_000;

#[test]
fn ten_thousand_connections_open_and_close() {
    let small = TcpConfig {
        wmem: BufferSizes::fixed(2048),
        rmem: BufferSizes::fixed(2048),
        ..TcpConfig::default()
    };
    let listen = ListenConfig { max_backlog: 16_384, ..ListenConfig::default() };
    let mut a_cfg = side_config(Side::A, 10);
    let mut b_cfg = side_config(Side::B, 10);
    for c in [&mut a_cfg, &mut b_cfg] {
        c.tcp = small;
        c.listen = listen;
        c.max_connections = 2 * N;
    }
    // An infinitely fast link: a burst of 10,000 SYNs must not meet a queue limit.
    let link = LinkConfig { bandwidth_bps: 0, ..LinkConfig::default() };
    let mut p = Pair::new(a_cfg, b_cfg, link, 10);
    let listener = p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, N).unwrap();
    // Resolve ARP with a first connection so the burst is not held in ARP's small queue.
    let (first, first_b, _) = establish(&mut p, 81, Duration::from_secs(10)).unwrap();
    p.a.tcp_close(first).unwrap();
    p.b.tcp_close(first_b).unwrap();

    let clients: Vec<TcpHandle> =
        (0..N).map(|_| p.a.tcp_connect(p.now, ADDR_B, 80).unwrap()).collect();
    let mut servers: Vec<TcpHandle> = Vec::with_capacity(N);
    let mut peak = 0;
    let mut answered = vec![false; N];
    let mut sent = vec![false; N];
    let until = p.now + Duration::from_secs(600);
    let done = p.drive(until, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                while let Some(h) = p.b.tcp_accept(l) {
                    servers.push(h);
                }
            }
        }
        while p.a.poll_event().is_some() {}
        peak = peak.max(p.a.tcp_counters().curr_estab);
        for &h in &servers {
            // Echo what arrives, then close after the client does.
            let mut buf = [0u8; 8];
            if let Ok(n) = p.b.tcp_recv(h, &mut buf) {
                if n > 0 {
                    p.b.tcp_send(h, &buf[..n]).unwrap();
                }
            }
            if p.b.tcp_state(h) == State::CloseWait {
                p.b.tcp_close(h).unwrap();
            }
        }
        for (i, &h) in clients.iter().enumerate() {
            let state = p.a.tcp_state(h);
            // Send the connection's number once.
            if state == State::Established && !sent[i] {
                sent[i] = p.a.tcp_send(h, &(i as u32).to_be_bytes()) == Ok(4);
            }
            let mut buf = [0u8; 8];
            if !answered[i] && p.a.tcp_recv(h, &mut buf) == Ok(4) {
                assert_eq!(buf[..4], (i as u32).to_be_bytes());
                answered[i] = true;
                p.a.tcp_close(h).unwrap();
            }
        }
        answered.iter().all(|&x| x) && p.a.connection_count() == 0 && p.b.connection_count() == 0
    });
    assert!(
        done,
        "answered {} of {N}, A holds {}, B holds {}",
        answered.iter().filter(|&&x| x).count(),
        p.a.connection_count(),
        p.b.connection_count()
    );
    assert_eq!(servers.len(), N);
    assert!(peak >= (N as i64) / 2, "peak established {peak}");
    assert_eq!(p.a.tcp_counters().active_opens, N as u64 + 1);
    assert_eq!(p.b.tcp_counters().passive_opens, N as u64 + 1);
    assert_eq!(p.a.tcp_counters().curr_estab, 0);
    assert_eq!(p.b.tcp_accept_queue_len(listener), 0);
}
