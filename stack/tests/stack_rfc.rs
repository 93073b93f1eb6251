//! Single requirements of RFC 9293 checked at the stack's edge, on a raw-IP device with a
//! hand-driven peer (see docs/tcp-conformance.md for the full map).

use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{ConnectError, Stack, StackConfig, StackEvent, StackKeys};
use xdptcp_stack::tcp::{Event, SeqNumber, State};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::icmp::{self, DstUnreachable, Icmpv4Repr};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const T0: Instant = Instant::from_millis(1000);

fn stack_ttl(ttl: u8) -> Stack {
    let mut iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    iface.default_ttl = ttl;
    Stack::new(StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(3)), T0)
}

fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 1,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    p[ipv4::HEADER_LEN..].copy_from_slice(payload);
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut p[..]), true);
    p
}

fn tcp_bytes(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
    buf
}

fn syn(sport: u16, dport: u16, seq: u32) -> TcpRepr<'static> {
    let mut r = TcpRepr::new(sport, dport, SeqNumber(seq));
    r.flags = TcpFlags::SYN;
    r.window = 65535;
    r.mss = Some(1460);
    r
}

/// Every frame the stack sends: (IPv4 TTL, parsed TCP header fields, payload length).
fn frames(s: &mut Stack, now: Instant) -> Vec<(u8, TcpRepr<'static>, usize)> {
    let mut v = Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let ip = ipv4::Packet::new_checked(&buf[..n]).unwrap();
        let ttl = ip.ttl();
        let tcp = Packet::new_checked(ip.payload()).unwrap();
        let r = TcpRepr::parse(&tcp, LOCAL, ip.dst_addr(), true).unwrap();
        let len = r.payload.len();
        let mut owned = TcpRepr::new(r.src_port, r.dst_port, r.seq);
        owned.ack = r.ack;
        owned.flags = r.flags;
        owned.mss = r.mss;
        owned.window_scale = r.window_scale;
        owned.timestamps = r.timestamps;
        v.push((ttl, owned, len));
    }
    v
}

/// MUST-46: an OPEN to a broadcast or multicast address is refused.
#[test]
fn open_to_broadcast_or_multicast_is_rejected() {
    let mut s = stack_ttl(64);
    for bad in [Ipv4Addr::BROADCAST, Ipv4Addr::new(224, 0, 0, 1), Ipv4Addr::UNSPECIFIED] {
        assert_eq!(s.tcp_connect(T0, bad, 80), Err(ConnectError::BadAddress));
    }
    assert_eq!(s.tcp_connect(T0, PEER, 0), Err(ConnectError::BadAddress));
    assert!(frames(&mut s, T0).is_empty());
}

/// MUST-57 and MUST-63: SYNs to a broadcast address, or from a broadcast or our own address,
/// are dropped without a reply.
#[test]
fn syns_with_invalid_addresses_are_silently_dropped() {
    let mut s = stack_ttl(64);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    let cases = [
        (PEER, Ipv4Addr::BROADCAST),
        (PEER, Ipv4Addr::new(10, 0, 0, 255)),
        (Ipv4Addr::new(10, 0, 0, 255), LOCAL),
        (LOCAL, LOCAL),
    ];
    for (src, dst) in cases {
        let seg = tcp_bytes(src, dst, &syn(4000, 80, 1));
        s.receive(T0, &ip_packet(src, dst, IpProtocol::Tcp, &seg));
        assert!(frames(&mut s, T0).is_empty(), "{src} -> {dst}");
    }
    assert_eq!(s.connection_count(), 0);
    // The same SYN from a proper unicast peer is answered.
    let seg = tcp_bytes(PEER, LOCAL, &syn(4000, 80, 1));
    s.receive(T0, &ip_packet(PEER, LOCAL, IpProtocol::Tcp, &seg));
    assert_eq!(frames(&mut s, T0).len(), 1);
}

/// MUST-49: the TTL is configurable (and used for TCP).
#[test]
fn ttl_is_configurable() {
    let mut s = stack_ttl(17);
    s.tcp_connect(T0, PEER, 80).unwrap();
    let f = frames(&mut s, T0);
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].0, 17);
}

/// MUST-14, MUST-65: the MSS option goes on SYNs and never on other segments.
#[test]
fn mss_only_on_syn_segments() {
    let mut s = stack_ttl(64);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &syn(4000, 80, 10)), true);
    let synack = frames(&mut s, T0);
    assert_eq!(synack[0].1.mss, Some(1460));
    let mut ack = TcpRepr::new(4000, 80, SeqNumber(11));
    ack.ack = Some(synack[0].1.seq + 1u32);
    ack.flags = TcpFlags::ACK;
    ack.window = 65535;
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &ack), true);
    let mut h = None;
    while let Some(ev) = s.poll_event() {
        if let StackEvent::Acceptable(l) = ev {
            h = s.tcp_accept(l);
        }
    }
    let h = h.unwrap();
    s.tcp_send(h, &[9u8; 3000]).unwrap();
    let data = frames(&mut s, T0);
    assert!(data.len() >= 2);
    for (_, r, len) in &data {
        assert_eq!(r.mss, None);
        assert!(*len <= 1460, "{len}");
    }
    // No timestamps were offered, so the whole MSS carries data (MUST-16).
    assert_eq!(data[0].2, 1460);
}

/// MUST-15: without an MSS option the peer gets 536-byte segments.
#[test]
fn default_send_mss_is_536() {
    let mut s = stack_ttl(64);
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    let mut bare = syn(4000, 80, 10);
    bare.mss = None;
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &bare), true);
    let synack = frames(&mut s, T0);
    let mut ack = TcpRepr::new(4000, 80, SeqNumber(11));
    ack.ack = Some(synack[0].1.seq + 1u32);
    ack.flags = TcpFlags::ACK;
    ack.window = 65535;
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &ack), true);
    let mut h = None;
    while let Some(ev) = s.poll_event() {
        if let StackEvent::Acceptable(l) = ev {
            h = s.tcp_accept(l);
        }
    }
    s.tcp_send(h.unwrap(), &[9u8; 3000]).unwrap();
    let data = frames(&mut s, T0);
    assert!(data.iter().all(|(_, _, len)| *len <= 536));
    assert_eq!(data[0].2, 536);
}

/// MUST-11 (RFC 9293 §3.10.7.4, first check, SYN-RECEIVED): a RST for a passively opened
/// connection returns to LISTEN: the half-open connection is gone, the listener stays.
#[test]
fn rst_in_syn_received_returns_to_listen() {
    let mut s = stack_ttl(64);
    let l = s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &syn(4000, 80, 10)), true);
    assert_eq!(frames(&mut s, T0).len(), 1);
    assert_eq!(s.tcp_syn_queue_len(l), 1);
    let mut rst = TcpRepr::new(4000, 80, SeqNumber(11));
    rst.flags = TcpFlags::RST;
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &rst), true);
    assert_eq!(s.connection_count(), 0);
    assert_eq!(s.tcp_syn_queue_len(l), 0);
    assert_eq!(s.poll_event(), None, "the application never heard of it");
    // Still listening.
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &syn(4001, 80, 99)), true);
    let f = frames(&mut s, T0);
    assert_eq!(f[0].1.flags, TcpFlags::SYN | TcpFlags::ACK);
}

/// RFC 9293 §3.10.4: CLOSE in SYN-SENT deletes the TCB.
#[test]
fn close_in_syn_sent_deletes_the_connection() {
    let mut s = stack_ttl(64);
    let h = s.tcp_connect(T0, PEER, 80).unwrap();
    assert_eq!(frames(&mut s, T0).len(), 1);
    s.tcp_close(h).unwrap();
    assert_eq!(s.connection_count(), 0);
    assert_eq!(s.poll_event(), Some(StackEvent::Tcp(h, Event::Closed)));
    assert!(frames(&mut s, T0).is_empty());
    assert_eq!(s.poll_timeout(), None);
}

/// MUST-54, MUST-56: ICMP errors reach TCP and a destination-unreachable does not abort an
/// established connection (RFC 5927: soft errors).
#[test]
fn icmp_unreachable_does_not_abort() {
    let mut s = stack_ttl(64);
    let h = s.tcp_connect(T0, PEER, 80).unwrap();
    let f = frames(&mut s, T0);
    let (_, our_syn, _) = &f[0];
    // The peer answers SYN-ACK; we are established.
    let mut synack = TcpRepr::new(80, our_syn.src_port, SeqNumber(5000));
    synack.ack = Some(our_syn.seq + 1u32);
    synack.flags = TcpFlags::SYN | TcpFlags::ACK;
    synack.window = 65535;
    synack.mss = Some(1460);
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &synack), true);
    assert_eq!(s.tcp_state(h), State::Established);
    let _ = frames(&mut s, T0);
    // A router reports host unreachable for one of our segments.
    let mut quoted = TcpRepr::new(our_syn.src_port, 80, our_syn.seq + 1u32);
    quoted.flags = TcpFlags::ACK;
    let q = tcp_bytes(LOCAL, PEER, &quoted);
    let original = ip_packet(LOCAL, PEER, IpProtocol::Tcp, &q);
    for reason in [
        DstUnreachable::NetUnreachable,
        DstUnreachable::HostUnreachable,
        DstUnreachable::PortUnreachable,
    ] {
        let repr =
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu: 0, original: &original[..28] };
        let mut m = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp::Packet::new_unchecked(&mut m[..]), true);
        let router = Ipv4Addr::new(10, 0, 0, 254);
        s.receive(T0 + Duration::from_millis(1), &ip_packet(router, LOCAL, IpProtocol::Icmp, &m));
    }
    assert_eq!(s.counters().icmp_errors, 3);
    assert_eq!(s.tcp_state(h), State::Established);
    while let Some(ev) = s.poll_event() {
        assert!(!matches!(ev, StackEvent::Tcp(_, Event::Reset | Event::TimedOut | Event::Closed)));
    }
}

/// MUST-67: the MSS we announce follows the device MTU, whatever the configuration says.
#[test]
fn mss_follows_a_small_mtu() {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    let mut s =
        Stack::new(StackConfig::new(iface, DeviceCaps::ip(1280), StackKeys::from_seed(3)), T0);
    s.tcp_connect(T0, PEER, 80).unwrap();
    s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 4).unwrap();
    s.tcp_input(T0, PEER, LOCAL, &tcp_bytes(PEER, LOCAL, &syn(4000, 80, 10)), true);
    let f = frames(&mut s, T0);
    assert_eq!(f.len(), 2);
    assert!(
        f.iter().all(|(_, r, _)| r.mss == Some(1240)),
        "{:?}",
        f.iter().map(|x| x.1.mss).collect::<Vec<_>>()
    );
}
