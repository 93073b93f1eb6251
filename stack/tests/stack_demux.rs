//! The stack's demultiplexing, seen from a hand-driven peer on a raw-IP device: RSTs for
//! closed ports (RFC 9293 §3.10.7.1), never a RST for a RST, listener handshakes, accept-queue
//! overflow, TIME-WAIT recycling (RFC 6191), checksums, the port filter and UDP.

use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{ListenError, Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::listen::{CookieMode, ListenConfig, OverflowPolicy};
use xdptcp_stack::tcp::{Event, SeqNumber, State};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::ipv4;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const T0: Instant = Instant::from_millis(1000);

fn stack_with(listen: ListenConfig) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(1));
    cfg.listen = listen;
    Stack::new(cfg, T0)
}

fn stack() -> Stack {
    stack_with(ListenConfig::default())
}

/// A segment as the stack sent it.
#[derive(Debug, Clone)]
struct Out {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: Option<u32>,
    flags: TcpFlags,
    ts: Option<(u32, u32)>,
    payload: Vec<u8>,
}

fn send(s: &mut Stack, now: Instant, repr: &TcpRepr<'_>) {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), PEER, LOCAL, true);
    s.tcp_input(now, PEER, LOCAL, &buf, true);
}

fn seg(sport: u16, dport: u16, seq: u32, ack: Option<u32>, flags: TcpFlags) -> TcpRepr<'static> {
    let mut r = TcpRepr::new(sport, dport, SeqNumber(seq));
    r.ack = ack.map(SeqNumber);
    r.flags = flags;
    r.window = 65535;
    r
}

fn out(s: &mut Stack, now: Instant) -> Vec<Out> {
    let mut frames = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let ip = ipv4::Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(ip.dst_addr(), PEER);
        let body = ip.payload();
        let tcp = Packet::new_checked(body).unwrap();
        let r = TcpRepr::parse(&tcp, LOCAL, PEER, true).expect("valid checksum");
        frames.push(Out {
            src_port: r.src_port,
            dst_port: r.dst_port,
            seq: r.seq.0,
            ack: r.ack.map(|a| a.0),
            flags: r.flags,
            ts: r.timestamps,
            payload: r.payload.to_vec(),
        });
    }
    frames
}

#[test]
fn syn_to_closed_port_gets_rst_ack() {
    let mut s = stack();
    send(&mut s, T0, &seg(4000, 80, 100, None, TcpFlags::SYN));
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!((o[0].seq, o[0].ack), (0, Some(101)));
    assert_eq!((o[0].src_port, o[0].dst_port), (80, 4000));
    assert_eq!(s.counters().rsts_no_socket, 1);
    assert_eq!(s.tcp_counters().out_rsts, 1);
}

#[test]
fn ack_to_closed_port_gets_rst_from_its_ack_number() {
    let mut s = stack();
    let mut r = seg(4000, 80, 100, Some(5000), TcpFlags::ACK);
    r.payload = b"data";
    send(&mut s, T0, &r);
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].flags, TcpFlags::RST);
    assert_eq!(o[0].seq, 5000);
}

#[test]
fn rst_is_never_answered() {
    let mut s = stack();
    send(&mut s, T0, &seg(4000, 80, 100, None, TcpFlags::RST));
    send(&mut s, T0, &seg(4000, 80, 100, Some(7), TcpFlags::RST | TcpFlags::ACK));
    assert!(out(&mut s, T0).is_empty());
    // Nor by a listener.
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    send(&mut s, T0, &seg(4000, 80, 100, None, TcpFlags::RST));
    assert!(out(&mut s, T0).is_empty());
}

#[test]
fn bad_checksum_is_dropped_and_counted() {
    let mut s = stack();
    let r = seg(4000, 80, 100, None, TcpFlags::SYN);
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), PEER, LOCAL, true);
    buf[4] ^= 0x10;
    s.tcp_input(T0, PEER, LOCAL, &buf, true);
    assert!(out(&mut s, T0).is_empty());
    assert_eq!(s.tcp_counters().in_errs, 1);
    // The same bytes pass when the device claims to have verified them.
    s.tcp_input(T0, PEER, LOCAL, &buf, false);
    assert_eq!(out(&mut s, T0).len(), 1);
}

/// Completes a handshake from `sport` with client ISN `isn`; returns the server's ISN.
fn handshake(s: &mut Stack, now: Instant, sport: u16, isn: u32) -> u32 {
    send(s, now, &seg(sport, 80, isn, None, TcpFlags::SYN));
    let o = out(s, now);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(o[0].ack, Some(isn + 1));
    let iss = o[0].seq;
    send(s, now, &seg(sport, 80, isn + 1, Some(iss + 1), TcpFlags::ACK));
    iss
}

/// A stack listening on port 80 with one connection from port `sport` accepted (ISN 1000):
/// the stack, its ISS and the connection.
fn accepted(sport: u16) -> (Stack, u32, TcpHandle) {
    let mut s = stack();
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    let iss = handshake(&mut s, T0, sport, 1000);
    let h = accept_all(&mut s)[0];
    (s, iss, h)
}

/// Runs the stack's timers from `T0` until `until`, a step at each deadline (or each second
/// when none is armed).
fn run_timers(s: &mut Stack, until: Instant) {
    let mut now = T0;
    while now < until {
        now = s.poll_timeout().map_or(now + Duration::from_secs(1), |t| t.max(now))
            + Duration::from_millis(1);
        s.on_timeout(now);
    }
}

/// Accepts every waiting connection; each accepted one reports `Connected` first.
fn accept_all(s: &mut Stack) -> Vec<TcpHandle> {
    let mut v = Vec::new();
    let mut connected = Vec::new();
    while let Some(ev) = s.poll_event() {
        match ev {
            StackEvent::Acceptable(l) => {
                while let Some(h) = s.tcp_accept(l) {
                    v.push(h);
                }
            }
            StackEvent::Tcp(h, Event::Connected) => connected.push(h),
            StackEvent::Tcp(..) => {}
        }
    }
    assert_eq!(connected, v);
    v
}

#[test]
fn handshake_accept_and_data() {
    let mut s = stack();
    let l = s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    assert_eq!(s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4), Err(ListenError::AddrInUse));
    let iss = handshake(&mut s, T0, 4000, 1000);
    assert_eq!(s.tcp_accept_queue_len(l), 1);
    let hs = accept_all(&mut s);
    assert_eq!(hs.len(), 1);
    let h = hs[0];
    assert_eq!(s.tcp_state(h), State::Established);
    let mut data = seg(4000, 80, 1001, Some(iss + 1), TcpFlags::ACK | TcpFlags::PSH);
    data.payload = b"hello";
    send(&mut s, T0, &data);
    assert_eq!(s.poll_event(), Some(StackEvent::Tcp(h, Event::Readable)));
    assert_eq!(s.poll_event(), None);
    let mut buf = [0u8; 16];
    assert_eq!(s.tcp_recv(h, &mut buf), Ok(5));
    s.tcp_send(h, b"world").unwrap();
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].payload, b"world");
    assert_eq!(o[0].ack, Some(1006));
}

#[test]
fn accept_queue_overflow_drops_the_final_ack_by_default() {
    let cfg = ListenConfig { cookies: CookieMode::Never, ..ListenConfig::default() };
    let mut s = stack_with(cfg);
    let l = s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 2).unwrap();
    // Three SYNs, then their ACKs: the third finds the accept queue (2) full.
    let mut isss = Vec::new();
    for (i, sport) in [4001u16, 4002].iter().enumerate() {
        send(&mut s, T0, &seg(*sport, 80, 100 * i as u32, None, TcpFlags::SYN));
        isss.push(out(&mut s, T0)[0].seq);
    }
    send(&mut s, T0, &seg(4001, 80, 1, Some(isss[0] + 1), TcpFlags::ACK));
    send(&mut s, T0, &seg(4003, 80, 200, None, TcpFlags::SYN));
    isss.push(out(&mut s, T0)[0].seq);
    send(&mut s, T0, &seg(4002, 80, 101, Some(isss[1] + 1), TcpFlags::ACK));
    assert_eq!(s.tcp_accept_queue_len(l), 2);
    send(&mut s, T0, &seg(4003, 80, 201, Some(isss[2] + 1), TcpFlags::ACK));
    assert!(out(&mut s, T0).is_empty(), "the ACK is dropped silently");
    let lc = s.listen_counters();
    assert_eq!((lc.listen_overflows, lc.listen_drops), (1, 1));
    assert_eq!(s.tcp_syn_queue_len(l), 1);
    // Once the application accepts, the client's retransmitted ACK completes the handshake.
    assert_eq!(accept_all(&mut s).len(), 2);
    send(&mut s, T0, &seg(4003, 80, 201, Some(isss[2] + 1), TcpFlags::ACK));
    assert_eq!(accept_all(&mut s).len(), 1);
    assert_eq!(s.tcp_syn_queue_len(l), 0);
}

#[test]
fn accept_queue_overflow_can_reset() {
    let cfg = ListenConfig {
        cookies: CookieMode::Never,
        overflow: OverflowPolicy::Reset,
        ..ListenConfig::default()
    };
    let mut s = stack_with(cfg);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 1).unwrap();
    send(&mut s, T0, &seg(4001, 80, 0, None, TcpFlags::SYN));
    let iss1 = out(&mut s, T0)[0].seq;
    send(&mut s, T0, &seg(4001, 80, 1, Some(iss1 + 1), TcpFlags::ACK));
    // The accept queue (1) is full: a new SYN is dropped outright (Linux), counted.
    send(&mut s, T0, &seg(4002, 80, 0, None, TcpFlags::SYN));
    assert!(out(&mut s, T0).is_empty());
    assert_eq!(s.listen_counters().listen_overflows, 1);
}

#[test]
fn reset_policy_answers_a_final_ack_that_overflows() {
    let cfg = ListenConfig {
        cookies: CookieMode::Never,
        overflow: OverflowPolicy::Reset,
        ..ListenConfig::default()
    };
    let mut s = stack_with(cfg);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 2).unwrap();
    let mut isss = Vec::new();
    for sport in [4001u16, 4002] {
        send(&mut s, T0, &seg(sport, 80, 0, None, TcpFlags::SYN));
        isss.push(out(&mut s, T0)[0].seq);
    }
    send(&mut s, T0, &seg(4001, 80, 1, Some(isss[0] + 1), TcpFlags::ACK));
    send(&mut s, T0, &seg(4003, 80, 0, None, TcpFlags::SYN));
    isss.push(out(&mut s, T0)[0].seq);
    send(&mut s, T0, &seg(4002, 80, 1, Some(isss[1] + 1), TcpFlags::ACK));
    send(&mut s, T0, &seg(4003, 80, 1, Some(isss[2] + 1), TcpFlags::ACK));
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1, "{o:?}");
    assert!(o[0].flags.contains(TcpFlags::RST));
    assert_eq!(o[0].dst_port, 4003);
    // The reset connection is gone.
    assert_eq!(s.connection_count(), 2);
}

#[test]
fn time_wait_is_recycled_by_a_newer_syn() {
    let (mut s, iss, h) = accepted(4000);
    // The server closes first: FIN; the peer acknowledges it and sends its own FIN.
    s.tcp_close(h).unwrap();
    let fin = out(&mut s, T0);
    assert!(fin[0].flags.contains(TcpFlags::FIN));
    send(&mut s, T0, &seg(4000, 80, 1001, Some(iss + 2), TcpFlags::ACK | TcpFlags::FIN));
    let _ = out(&mut s, T0);
    assert_eq!(s.tcp_state(h), State::TimeWait);
    // An old SYN (sequence not above RCV.NXT) is not a new incarnation: challenge ACK.
    let t1 = T0 + Duration::from_secs(1);
    send(&mut s, t1, &seg(4000, 80, 500, None, TcpFlags::SYN));
    let o = out(&mut s, t1);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].flags, TcpFlags::ACK);
    assert_eq!(s.tcp_state(h), State::TimeWait);
    // A newer one recycles the TIME-WAIT connection and starts a handshake.
    send(&mut s, t1, &seg(4000, 80, 90_000, None, TcpFlags::SYN));
    let o = out(&mut s, t1);
    assert_eq!(o.len(), 1);
    assert_eq!(o[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    assert_eq!(o[0].ack, Some(90_001));
    assert_eq!(s.tcp_counters().time_wait_recycled, 1);
    assert!(matches!(s.poll_event(), Some(StackEvent::Tcp(x, Event::Closed)) if x == h));
    assert_eq!(s.tcp_state(h), State::Closed);
}

#[test]
fn time_wait_expires_and_frees_the_connection() {
    let (mut s, iss, h) = accepted(4000);
    s.tcp_close(h).unwrap();
    let _ = out(&mut s, T0);
    send(&mut s, T0, &seg(4000, 80, 1001, Some(iss + 2), TcpFlags::ACK | TcpFlags::FIN));
    let _ = out(&mut s, T0);
    assert_eq!(s.connection_count(), 1);
    let deadline = s.poll_timeout().unwrap();
    assert!(deadline <= T0 + Duration::from_secs(60));
    // Run the timers forward to 2 MSL.
    run_timers(&mut s, T0 + Duration::from_secs(61));
    assert_eq!(s.connection_count(), 0);
    assert_eq!(s.tcp_state(h), State::Closed);
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn listener_on_one_address_and_unlisten() {
    let mut s = stack();
    let l = s.tcp_listen(LOCAL, 80, 4).unwrap();
    handshake(&mut s, T0, 4000, 1);
    assert_eq!(accept_all(&mut s).len(), 1);
    assert!(s.tcp_unlisten(l));
    assert!(!s.tcp_unlisten(l));
    send(&mut s, T0, &seg(4001, 80, 9, None, TcpFlags::SYN));
    let o = out(&mut s, T0);
    assert_eq!(o[0].flags, TcpFlags::RST | TcpFlags::ACK);
    assert_eq!(s.tcp_listen(LOCAL, 0, 4), Err(ListenError::ZeroPort));
}

#[test]
fn port_filter_constrains_active_opens() {
    let mut s = stack();
    s.set_port_filter(Box::new(|k| k.local_port % 4 == 1));
    for i in 0..20u16 {
        let h = s.tcp_connect(T0, PEER, 1000 + i).unwrap();
        let (local, _) = s.tcp_endpoints(h).unwrap();
        assert_eq!(local.port() % 4, 1);
    }
    let syns = out(&mut s, T0);
    assert_eq!(syns.len(), 20);
    assert!(syns.iter().all(|o| o.flags == TcpFlags::SYN && o.src_port % 4 == 1 && o.ts.is_some()));
    // The filter sees the whole 4-tuple (an RSS hash needs the remote end too).
    s.set_port_filter(Box::new(|k| {
        k.local_ip == LOCAL && k.remote_ip == PEER && (k.local_port ^ k.remote_port) % 8 == 3
    }));
    for remote_port in [80, 443, 8080] {
        let h = s.tcp_connect(T0, PEER, remote_port).unwrap();
        let (local, _) = s.tcp_endpoints(h).unwrap();
        assert_eq!((local.port() ^ remote_port) % 8, 3);
    }
    s.set_port_filter(Box::new(|_| false));
    assert_eq!(s.tcp_connect(T0, PEER, 1), Err(xdptcp_stack::stack::ConnectError::NoFreePort));
}

#[test]
fn stale_handles_are_errors() {
    let mut s = stack();
    let h = s.tcp_connect(T0, PEER, 80).unwrap();
    let _ = out(&mut s, T0);
    // RST to our SYN: refused, freed.
    let syn_seq = {
        let mut s2 = stack();
        let h2 = s2.tcp_connect(T0, PEER, 80).unwrap();
        let _ = h2;
        out(&mut s2, T0)[0].seq
    };
    let (local, _) = s.tcp_endpoints(h).unwrap();
    send(&mut s, T0, &seg(80, local.port(), 0, Some(syn_seq + 1), TcpFlags::RST | TcpFlags::ACK));
    assert!(matches!(s.poll_event(), Some(StackEvent::Tcp(x, Event::Refused)) if x == h));
    assert_eq!(s.connection_count(), 0);
    assert_eq!(s.tcp_send(h, b"x"), Err(xdptcp_stack::stack::TcpError::InvalidHandle));
    assert_eq!(s.tcp_state(h), State::Closed);
}

#[test]
fn udp_passes_through() {
    let mut s = stack();
    let u = s.udp_bind(5353).unwrap();
    s.udp_send_to(T0, u, (PEER, 53), b"query").unwrap();
    let mut buf = [0u8; 1500];
    let n = s.poll_transmit(T0, &mut buf).unwrap();
    let ip = ipv4::Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(ip.protocol(), xdptcp_stack::wire::ipv4::IpProtocol::Udp);
    assert!(ip.payload().ends_with(b"query"));
    assert!(s.udp_recv_from(u).is_none());
}

#[test]
fn synack_retries_follow_the_listener_config() {
    let mut s = stack();
    let cfg = xdptcp_stack::tcp::TcpConfig {
        synack_retries: 2,
        ..xdptcp_stack::tcp::TcpConfig::default()
    };
    let l = s.tcp_listen_with(Ipv4Addr::UNSPECIFIED, 80, 4, cfg).unwrap();
    send(&mut s, T0, &seg(4000, 80, 7, None, TcpFlags::SYN));
    let mut synacks = out(&mut s, T0).len();
    let mut now = T0;
    while let Some(t) = s.poll_timeout() {
        now = t.max(now) + Duration::from_millis(1);
        s.on_timeout(now);
        let o = out(&mut s, now);
        assert!(o.iter().all(|x| x.flags == TcpFlags::SYN | TcpFlags::ACK && x.ack == Some(8)));
        synacks += o.len();
    }
    // The first SYN-ACK and two retransmissions, then the half-open connection is dropped
    // without the application ever hearing of it.
    assert_eq!(synacks, 3);
    assert_eq!(s.connection_count(), 0);
    assert_eq!(s.tcp_syn_queue_len(l), 0);
    assert_eq!(s.poll_event(), None);
}

#[test]
fn a_connection_reset_before_accept_is_skipped() {
    let mut s = stack();
    let l = s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    handshake(&mut s, T0, 4000, 100);
    let iss2 = handshake(&mut s, T0, 4001, 200);
    let _ = iss2;
    // The first client resets its connection while it waits in the accept queue.
    send(&mut s, T0, &seg(4000, 80, 101, None, TcpFlags::RST));
    assert_eq!(s.connection_count(), 1);
    let h = s.tcp_accept(l).expect("the live one");
    let (_, remote) = s.tcp_endpoints(h).unwrap();
    assert_eq!(remote.port(), 4001);
    assert_eq!(s.tcp_accept(l), None);
    assert_eq!(s.tcp_accept_queue_len(l), 0);
}

/// RFC 7323 §7.1: TSvals carry a per-connection keyed offset. Before, the offset was
/// `rotl(ISS, 16)`, so `TSval − rotl(ISS, 16)` gave the stack's clock in ms (its uptime) and
/// linked every connection to it.
#[test]
fn timestamps_reveal_neither_clock_nor_link_connections() {
    let mut s = stack();
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16).unwrap();
    let mut offsets = Vec::new();
    for port in [40_000u16, 40_001, 40_002] {
        let mut syn = seg(port, 80, 7, None, TcpFlags::SYN);
        syn.timestamps = Some((555, 0));
        send(&mut s, T0, &syn);
        let o = out(&mut s, T0);
        let synack = o.iter().find(|f| f.dst_port == port).expect("SYN-ACK");
        let (tsval, _) = synack.ts.expect("timestamps echoed");
        let offset = tsval.wrapping_sub(T0.total_millis() as u32);
        assert_ne!(offset, synack.seq.rotate_left(16), "offset derived from the ISS");
        offsets.push(offset);
    }
    offsets.sort_unstable();
    offsets.dedup();
    assert_eq!(offsets.len(), 3, "connections share a timestamp offset");
}

/// Linux `tcp_max_tw_buckets`: closed connections cannot fill the table with TIME-WAIT and
/// leave new SYNs unanswered. Before the cap, a table of 4 full of TIME-WAIT dropped the SYN.
/// A connection freed beyond the cap still acknowledges the FIN that closed it.
#[test]
fn time_wait_is_capped_and_new_syns_still_get_answers() {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(1));
    cfg.max_connections = 4;
    let mut s = Stack::new(cfg, T0);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 8).unwrap();
    // Four connections, each closed by the server first and then by the peer: TIME-WAIT.
    for port in 4000..4004u16 {
        let iss = handshake(&mut s, T0, port, 1000);
        let h = accept_all(&mut s)[0];
        s.tcp_close(h).unwrap();
        let _ = out(&mut s, T0);
        send(&mut s, T0, &seg(port, 80, 1001, Some(iss + 2), TcpFlags::ACK | TcpFlags::FIN));
        // Every FIN is acknowledged, also by the connections freed beyond the cap (else the
        // peer stays in LAST-ACK).
        let o = out(&mut s, T0);
        assert_eq!(o.len(), 1, "{o:?}");
        assert_eq!((o[0].dst_port, o[0].flags, o[0].ack), (port, TcpFlags::ACK, Some(1002)));
        while s.poll_event().is_some() {}
    }
    // Half the table (2) stays in TIME-WAIT; the others were freed at once, without a RST.
    assert_eq!(s.time_wait_count(), 2);
    assert_eq!(s.connection_count(), 2);
    assert_eq!(s.counters().time_wait_overflow, 2);
    // A new SYN finds room and is answered.
    send(&mut s, T0, &seg(5000, 80, 77, None, TcpFlags::SYN));
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1, "{o:?}");
    assert_eq!(o[0].flags, TcpFlags::SYN | TcpFlags::ACK);
    // TIME-WAIT ends on time and the count follows.
    run_timers(&mut s, T0 + Duration::from_secs(61));
    assert_eq!(s.time_wait_count(), 0);
}

/// RFC 6864 §4.1 / Linux `ip_idents`: IDs per destination from a secret start. Before, one
/// global counter from 0 gave consecutive RSTs IDs 0, 1, 2, 3 and let an idle scan count
/// what the stack sent to others.
#[test]
fn ip_ids_are_per_destination_and_start_at_a_secret_offset() {
    let mut s = stack();
    let other = Ipv4Addr::new(10, 0, 0, 3);
    let rst_id = |s: &mut Stack, from: Ipv4Addr, sport: u16| -> u16 {
        let r = seg(sport, 9, 1, None, TcpFlags::SYN);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), from, LOCAL, true);
        s.tcp_input(T0, from, LOCAL, &buf, true);
        let mut frame = [0u8; 1500];
        let n = s.poll_transmit(T0, &mut frame).expect("RST");
        let ip = ipv4::Packet::new_checked(&frame[..n]).unwrap();
        assert_eq!(ip.dst_addr(), from);
        ip.ident()
    };
    let first = rst_id(&mut s, PEER, 1000);
    assert!(first > 3, "IDs start at a keyed offset, not at 0 ({first})");
    for port in 0..10 {
        rst_id(&mut s, other, 2000 + port);
    }
    assert_eq!(rst_id(&mut s, PEER, 1001), first.wrapping_add(1), "others' traffic shows");
}

/// Segments for closed ports draw RSTs at most at `rst_rate_per_sec` after a burst (before,
/// one RST per segment, however many).
#[test]
fn rsts_to_closed_ports_are_rate_limited() {
    let mut s = stack();
    for port in 0..200u16 {
        send(&mut s, T0, &seg(1000 + port, 9, 1, None, TcpFlags::SYN));
    }
    let rsts = out(&mut s, T0);
    assert_eq!(rsts.len(), 50, "the burst");
    assert!(rsts.iter().all(|r| r.flags.contains(TcpFlags::RST)));
    assert_eq!(s.counters().rsts_rate_limited, 150);
    // 1000 per second: 10 ms later, ten more.
    let t = T0 + Duration::from_millis(10);
    for port in 0..20u16 {
        send(&mut s, t, &seg(3000 + port, 9, 1, None, TcpFlags::SYN));
    }
    assert_eq!(out(&mut s, t).len(), 10);
}

/// Linux `tcp_max_orphans` (`TCPAbortOnMemory`): closed connections still finishing their
/// close are capped; a close beyond the cap resets the connection at once. Before, peers that
/// never acknowledged our FIN could hold any number of closed connections.
#[test]
fn closed_connections_still_finishing_are_capped() {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(1));
    cfg.max_orphans = Some(2);
    let mut s = Stack::new(cfg, T0);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 8).unwrap();
    let mut conns = Vec::new();
    for port in 4000..4003u16 {
        let iss = handshake(&mut s, T0, port, 1000);
        conns.push((port, iss, accept_all(&mut s)[0]));
    }
    // The first two closes send FINs and wait for the (silent) peers; the third is reset.
    for (i, &(_, _, h)) in conns.iter().enumerate() {
        s.tcp_close(h).unwrap();
        let o = out(&mut s, T0);
        assert_eq!(o.len(), 1, "{o:?}");
        let expect = if i < 2 { TcpFlags::FIN } else { TcpFlags::RST };
        assert!(o[0].flags.contains(expect), "close {i}: {:?}", o[0].flags);
        // Closing twice counts once.
        let _ = s.tcp_close(h);
    }
    assert_eq!(s.orphan_count(), 2);
    assert_eq!(s.counters().orphans_aborted, 1);
    // One peer finishes the close: TIME-WAIT is not an orphan, and the next close has room.
    let (port, iss, _) = conns[0];
    send(&mut s, T0, &seg(port, 80, 1001, Some(iss + 2), TcpFlags::ACK | TcpFlags::FIN));
    let _ = out(&mut s, T0);
    assert_eq!(s.orphan_count(), 1);
    handshake(&mut s, T0, 4010, 1000);
    let h = accept_all(&mut s)[0];
    s.tcp_close(h).unwrap();
    assert!(out(&mut s, T0)[0].flags.contains(TcpFlags::FIN));
    assert_eq!(s.orphan_count(), 2);
    // The silent ones give up in the end (FIN retransmissions time out), and the count follows.
    run_timers(&mut s, T0 + Duration::from_secs(1200));
    assert_eq!(s.orphan_count(), 0);
}

/// A read that finds nothing sends no window update (Linux's `tcp_cleanup_rbuf` considers
/// one only when bytes were copied). Before, a server's first, empty read after the
/// handshake found the window "doubled" from the SYN-ACK's unscaled 65,535 to the buffer's
/// 128 KiB and sent a pure ACK: one segment more per connection (a crr server's fourth of
/// four, against a Linux client that sends its request after its handshake ACK).
#[test]
fn an_empty_read_sends_no_window_update() {
    let mut s = stack();
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    let mut syn = seg(4000, 80, 1000, None, TcpFlags::SYN);
    syn.window_scale = Some(10);
    syn.mss = Some(1460);
    syn.sack_permitted = true;
    syn.timestamps = Some((100, 0));
    send(&mut s, T0, &syn);
    let o = out(&mut s, T0);
    assert_eq!(o.len(), 1, "{o:?}");
    let (iss, tsval) = (o[0].seq, o[0].ts.expect("timestamps").0);
    let mut ack = seg(4000, 80, 1001, Some(iss + 1), TcpFlags::ACK);
    ack.timestamps = Some((101, tsval));
    ack.window = 64;
    send(&mut s, T0, &ack);
    let h = accept_all(&mut s)[0];
    let mut buf = [0u8; 100];
    assert_eq!(s.tcp_recv(h, &mut buf), Ok(0));
    assert_eq!(s.tcp_read(h, |a, b| a.len() + b.len()), Ok(0));
    // Anything that queues the connection for transmission would send an update owed now.
    s.tcp_set_nodelay(h, true).unwrap();
    let o = out(&mut s, T0);
    assert!(o.is_empty(), "{o:?}");
}

/// `tcp_read_again` says whether another read would find anything: bytes left unread, or the
/// end of the stream still to report. A server that reads a request whole learns that the
/// buffer is empty from the same call, yet never misses a FIN that came with the data.
#[test]
fn read_again_reports_bytes_left_and_a_fin_still_to_report() {
    let (mut s, iss, h) = accepted(4000);
    let mut data = seg(4000, 80, 1001, Some(iss + 1), TcpFlags::ACK | TcpFlags::PSH);
    data.payload = b"hello";
    send(&mut s, T0, &data);
    // Part of it: the rest is left.
    assert_eq!(s.tcp_read_again(h, |_, _| 2), Ok((2, true)));
    // The rest: nothing is left, and no FIN came.
    assert_eq!(s.tcp_read_again(h, |a, b| a.len() + b.len()), Ok((3, false)));
    assert_eq!(s.tcp_read_again(h, |a, b| a.len() + b.len()), Ok((0, false)));
    // Data and FIN in one segment: reading all the data leaves the end of the stream.
    let mut last =
        seg(4000, 80, 1006, Some(iss + 1), TcpFlags::ACK | TcpFlags::PSH | TcpFlags::FIN);
    last.payload = b"bye";
    send(&mut s, T0, &last);
    assert_eq!(s.tcp_read_again(h, |a, b| a.len() + b.len()), Ok((3, true)));
    assert_eq!(
        s.tcp_read_again(h, |a, b| a.len() + b.len()),
        Err(xdptcp_stack::stack::TcpError::Finished)
    );
    assert_eq!(
        s.tcp_read(h, |a, b| a.len() + b.len()),
        Err(xdptcp_stack::stack::TcpError::Finished)
    );
}
