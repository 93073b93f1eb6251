//! The IP layer's signals to TCP at the stack's edge: the ECN field of the IP header in and
//! out (RFC 3168 §6.1) and ICMP errors about TCP segments (RFC 1122 §4.2.3.9, RFC 1191,
//! RFC 5927), on a raw-IP device with a hand-driven peer.

use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::path::PathError;
use xdptcp_stack::tcp::{Event, SeqNumber, State, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::icmp::{self, DstUnreachable, Icmpv4Repr};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};

const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const PEER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const T0: Instant = Instant::from_millis(1000);
const ECT0: u8 = 0b10;
const CE: u8 = 0b11;

fn stack(mtu: usize) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), LOCAL, 24);
    Stack::new(StackConfig::new(iface, DeviceCaps::ip(mtu), StackKeys::from_seed(5)), T0)
}

fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, dscp_ecn: u8, proto: IpProtocol, l4: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol: proto,
        payload_len: l4.len(),
        ttl: 64,
        dscp_ecn,
        dont_frag: true,
        ident: 1,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    p[ipv4::HEADER_LEN..].copy_from_slice(l4);
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut p[..]), true);
    p
}

fn tcp_bytes(src: Ipv4Addr, dst: Ipv4Addr, repr: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
    buf
}

/// A frame the stack sent: the IP header's ECN bits and TCP fields.
#[derive(Debug)]
struct Out {
    ecn: u8,
    seq: SeqNumber,
    flags: TcpFlags,
    len: usize,
    src_port: u16,
    /// The IP header and the first 8 TCP bytes, as an ICMP error quotes them.
    quote: Vec<u8>,
}

fn frames(s: &mut Stack, now: Instant) -> Vec<Out> {
    let mut v = Vec::new();
    let mut buf = [0u8; 1600];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        let ip = ipv4::Packet::new_checked(&buf[..n]).unwrap();
        let tcp = Packet::new_checked(ip.payload()).unwrap();
        let r = TcpRepr::parse(&tcp, LOCAL, ip.dst_addr(), true).unwrap();
        v.push(Out {
            ecn: ip.dscp_ecn() & 0b11,
            seq: r.seq,
            flags: r.flags,
            len: r.payload.len(),
            src_port: r.src_port,
            quote: buf[..ipv4::HEADER_LEN + 8].to_vec(),
        });
    }
    v
}

/// A router's ICMP error about the segment `quote` quotes.
fn unreachable(reason: DstUnreachable, mtu: u16, quote: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::DstUnreachable { reason, next_hop_mtu: mtu, original: quote };
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmp::Packet::new_unchecked(&mut m[..]), true);
    ip_packet(Ipv4Addr::new(10, 0, 0, 254), LOCAL, 0, IpProtocol::Icmp, &m)
}

/// `quote` with its sequence number replaced (a forged or stale error).
fn with_seq(quote: &[u8], seq: SeqNumber) -> Vec<u8> {
    let mut q = quote.to_vec();
    q[ipv4::HEADER_LEN + 4..ipv4::HEADER_LEN + 8].copy_from_slice(&seq.0.to_be_bytes());
    q
}

/// Connects to PEER:80 and completes the handshake; `ecn` on both sides when asked.
/// Returns the handle, our port, our next sequence number and the peer's.
fn established(s: &mut Stack, ecn: bool) -> (TcpHandle, u16, SeqNumber, SeqNumber) {
    let cfg = TcpConfig { ecn, ..*s.tcp_config() };
    let h = s.tcp_connect_with(T0, PEER, 80, cfg).unwrap();
    let f = frames(s, T0);
    let syn = &f[0];
    assert_eq!(syn.ecn, 0, "a SYN is never ECN-capable (RFC 3168 §6.1.1)");
    let mut sa = TcpRepr::new(80, syn.src_port, SeqNumber(5000));
    sa.ack = Some(syn.seq + 1u32);
    sa.flags = TcpFlags::SYN | TcpFlags::ACK;
    if ecn {
        sa.flags |= TcpFlags::ECE;
    }
    sa.window = 65535;
    sa.mss = Some(1000);
    s.receive(T0, &ip_packet(PEER, LOCAL, 0, IpProtocol::Tcp, &tcp_bytes(PEER, LOCAL, &sa)));
    assert_eq!(s.tcp_state(h), State::Established);
    let _ = frames(s, T0);
    (h, syn.src_port, syn.seq + 1u32, SeqNumber(5001))
}

/// Data from the peer with the IP header's ECN bits `ecn` and TCP `flags` besides ACK.
fn peer_data(port: u16, seq: SeqNumber, ack: SeqNumber, ecn: u8, flags: TcpFlags) -> Vec<u8> {
    let mut d = TcpRepr::new(80, port, seq);
    d.ack = Some(ack);
    d.flags = TcpFlags::ACK | TcpFlags::PSH | flags;
    d.window = 65535;
    d.payload = b"0123456789";
    ip_packet(PEER, LOCAL, ecn, IpProtocol::Tcp, &tcp_bytes(PEER, LOCAL, &d))
}

#[test]
fn ecn_marks_data_ect0_and_echoes_a_ce_mark_until_cwr() {
    let mut s = stack(1500);
    let (h, port, snd, rcv) = established(&mut s, true);
    s.tcp_send(h, &[1u8; 300]).unwrap();
    let f = frames(&mut s, T0);
    assert_eq!((f.len(), f[0].len, f[0].ecn), (1, 300, ECT0), "new data goes ECT(0)");
    // A CE-marked segment: the ACK answering it (at once) echoes ECE, and is not ECT.
    let t1 = T0 + Duration::from_millis(5);
    s.receive(t1, &peer_data(port, rcv, snd + 300u32, CE, TcpFlags::empty()));
    let f = frames(&mut s, t1);
    assert_eq!(f.len(), 1, "{f:?}");
    assert!(f[0].flags.contains(TcpFlags::ECE));
    assert_eq!(f[0].ecn, 0, "pure ACKs are not ECN-capable");
    // Later ACKs keep echoing until data with CWR arrives.
    let t2 = t1 + Duration::from_millis(5);
    s.receive(t2, &peer_data(port, rcv + 10u32, snd + 300u32, ECT0, TcpFlags::empty()));
    s.receive(t2, &peer_data(port, rcv + 20u32, snd + 300u32, ECT0, TcpFlags::empty()));
    let f = frames(&mut s, t2);
    assert!(!f.is_empty() && f.iter().all(|o| o.flags.contains(TcpFlags::ECE)), "{f:?}");
    let t3 = t2 + Duration::from_millis(5);
    s.receive(t3, &peer_data(port, rcv + 30u32, snd + 300u32, ECT0, TcpFlags::CWR));
    s.receive(t3, &peer_data(port, rcv + 40u32, snd + 300u32, ECT0, TcpFlags::empty()));
    let f = frames(&mut s, t3);
    assert!(!f.is_empty() && f.iter().all(|o| !o.flags.contains(TcpFlags::ECE)), "{f:?}");
}

#[test]
fn without_ecn_negotiated_data_is_not_ect_and_ce_is_not_echoed() {
    let mut s = stack(1500);
    let (h, port, snd, rcv) = established(&mut s, false);
    s.tcp_send(h, &[1u8; 300]).unwrap();
    assert_eq!(frames(&mut s, T0)[0].ecn, 0);
    let t1 = T0 + Duration::from_millis(5);
    s.receive(t1, &peer_data(port, rcv, snd + 300u32, CE, TcpFlags::empty()));
    s.receive(t1, &peer_data(port, rcv + 10u32, snd + 300u32, CE, TcpFlags::empty()));
    let f = frames(&mut s, t1);
    assert!(!f.is_empty() && f.iter().all(|o| !o.flags.contains(TcpFlags::ECE)), "{f:?}");
}

#[test]
fn fragmentation_needed_in_window_lowers_the_mss_and_resends_in_pieces() {
    let mut s = stack(1500);
    let (h, _, snd, _) = established(&mut s, false);
    assert_eq!(s.tcp_info(h).unwrap().snd_mss, 1000);
    s.tcp_send(h, &[1u8; 2000]).unwrap();
    let f = frames(&mut s, T0);
    assert_eq!(f.iter().map(|o| o.len).collect::<Vec<_>>(), vec![1000, 1000]);
    let cwnd = s.tcp_info(h).unwrap().cwnd;
    // A forged error quoting a sequence number not in flight changes nothing (RFC 5927).
    let t1 = T0 + Duration::from_millis(1);
    let forged = with_seq(&f[0].quote, snd + 100_000u32);
    s.receive(t1, &unreachable(DstUnreachable::FragRequired, 700, &forged));
    assert_eq!(s.counters().icmp_out_of_window, 1);
    assert_eq!(s.tcp_info(h).unwrap().snd_mss, 1000);
    assert!(frames(&mut s, t1).is_empty());
    // The real one: the path takes 700-byte packets, 660 bytes of data.
    s.receive(t1, &unreachable(DstUnreachable::FragRequired, 700, &f[0].quote));
    assert_eq!(s.counters().path_mtu_lowered, 1);
    let info = s.tcp_info(h).unwrap();
    assert_eq!(info.snd_mss, 660);
    assert_eq!(info.cwnd, cwnd, "a smaller MTU is not congestion");
    // The two segments go again at once, in pieces that fit.
    let f = frames(&mut s, t1);
    let sent: Vec<_> = f.iter().map(|o| (o.seq - snd, o.len)).collect();
    assert_eq!(sent, vec![(0, 660), (660, 340), (1000, 660), (1660, 340)]);
    // An MTU no smaller, or none given (pre-RFC 1191 routers), changes nothing.
    s.receive(t1, &unreachable(DstUnreachable::FragRequired, 1400, &f[0].quote));
    s.receive(t1, &unreachable(DstUnreachable::FragRequired, 0, &f[0].quote));
    assert_eq!(s.counters().path_mtu_lowered, 1);
    // Never below Linux's 552-byte minimum.
    s.receive(t1, &unreachable(DstUnreachable::FragRequired, 100, &f[0].quote));
    assert_eq!(s.tcp_info(h).unwrap().snd_mss, 512);
}

#[test]
fn an_unreachable_error_ends_a_connection_attempt_with_its_reason() {
    let mut s = stack(1500);
    let h = s.tcp_connect(T0, PEER, 80).unwrap();
    let syn = frames(&mut s, T0).remove(0);
    // Quoting another sequence number: ignored.
    let stale = with_seq(&syn.quote, syn.seq + 5u32);
    s.receive(T0, &unreachable(DstUnreachable::HostUnreachable, 0, &stale));
    assert_eq!(s.tcp_state(h), State::SynSent);
    s.receive(T0, &unreachable(DstUnreachable::HostUnreachable, 0, &syn.quote));
    let events: Vec<_> = std::iter::from_fn(|| s.poll_event()).collect();
    assert!(events.contains(&StackEvent::Tcp(h, Event::Refused)), "{events:?}");
    assert_eq!(s.tcp_path_error(h), Some(PathError::HostUnreachable));
    s.tcp_clear_path_error(h);
    assert_eq!(s.tcp_path_error(h), None);
}

#[test]
fn an_unreachable_error_on_an_open_connection_is_soft() {
    let mut s = stack(1500);
    let (h, _, _, _) = established(&mut s, false);
    s.tcp_send(h, &[1u8; 100]).unwrap();
    let f = frames(&mut s, T0);
    s.receive(T0, &unreachable(DstUnreachable::NetUnreachable, 0, &f[0].quote));
    assert_eq!(s.tcp_state(h), State::Established, "RFC 1122 §4.2.3.9: MUST NOT abort");
    assert_eq!(s.tcp_path_error(h), Some(PathError::NetUnreachable));
}
