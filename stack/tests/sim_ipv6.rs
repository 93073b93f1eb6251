#![cfg(feature = "sim")]
//! TCP over IPv6 end to end in the simulator: the one engine, reached through the IPv6
//! interface path (`Received::Tcp6`, `send_ip6`), with the same seeded impairments as the
//! IPv4 runs; both families side by side in one stack; SYN cookies, resets and Packet Too Big
//! (RFC 8201) over IPv6.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{ListenHandle, StackEvent, TcpHandle};
use xdptcp_stack::tcp::listen::CookieMode;
use xdptcp_stack::tcp::{Event, State, TcpConfig};
use xdptcp_stack::time::Duration;
use xdptcp_stack::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use xdptcp_stack::wire::icmpv6::Icmpv6Repr;
use xdptcp_stack::wire::ipv6::{self, next_header, Ipv6Repr};

const LIMIT: Duration = Duration::from_secs(600);

fn dual_pair(link: LinkConfig, seed: u64) -> Pair {
    Pair::new(dual_config(Side::A, seed), dual_config(Side::B, seed), link, seed)
}

fn to_b6(port: u16) -> SocketAddr {
    SocketAddr::new(ADDR6_B.into(), port)
}

#[test]
fn bulk_both_ways_over_ipv6_clean() {
    let mut p = dual_pair(LinkConfig::default(), 1);
    let r = bulk_transfer_to(&mut p, to_b6(5001), 200_000, 100_000, 3, LIMIT);
    assert!(r.is_clean(200_000, 100_000), "{r:?}");
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (0, 0));
    // Every segment went over IPv6: nothing reached either side as IPv4 TCP.
    assert_eq!(p.a.iface().counters().rx_tcp, p.a.tcp_counters().in_segs);
    assert!(p.a.tcp_counters().out_segs > 100);
    assert_eq!(p.a.tcp_counters().in_errs + p.b.tcp_counters().in_errs, 0);
}

#[test]
fn bulk_over_ipv6_with_loss_reordering_and_duplication() {
    for seed in [11, 12, 13] {
        let link =
            LinkConfig { loss: 0.02, reorder: 0.05, duplicate: 0.02, ..LinkConfig::default() };
        let mut p = dual_pair(link, seed);
        let r = bulk_transfer_to(&mut p, to_b6(5001), 150_000, 60_000, seed, LIMIT);
        assert!(r.is_clean(150_000, 60_000), "seed {seed}: {r:?}");
        assert!(p.a.tcp_counters().retrans_segs + p.b.tcp_counters().retrans_segs > 0);
    }
}

#[test]
fn long_transfer_over_ipv6_keeps_the_neighbour_reachable() {
    // 1 Mbit/s for 9 MB: about 75 s, more than twice the 30 s REACHABLE_TIME. Acknowledged
    // data confirms the neighbour (RFC 4861 §7.3.1, as Linux's `dst_confirm_neigh`), so the
    // sender's entry never goes stale and it solicits only once, to resolve B at the start:
    // no unicast revalidation during the transfer. The sender carries no data the other
    // way, so only its ACKs of new data can be what keeps the entry fresh.
    let link = LinkConfig { bandwidth_bps: 1_000_000, ..LinkConfig::default() };
    let mut p = dual_pair(link, 41);
    let r = bulk_transfer_to(&mut p, to_b6(5001), 9_000_000, 0, 41, LIMIT);
    assert!(r.is_clean(9_000_000, 0), "{r:?}");
    assert!(r.elapsed > Duration::from_secs(70), "{r:?}");
    assert_eq!(
        p.a.iface().counters().ndp_solicits_sent,
        1,
        "the sender revalidated a neighbour it was sending to"
    );
}

/// Drives until B accepts a connection on `l` (returned) and `client` is established.
fn accept_one(p: &mut Pair, client: TcpHandle) -> Option<TcpHandle> {
    let mut server = None;
    let deadline = p.now + Duration::from_secs(10);
    p.drive(deadline, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                if server.is_none() {
                    server = p.b.tcp_accept(l);
                }
            }
        }
        while p.a.poll_event().is_some() {}
        server.is_some() && p.a.tcp_state(client) == State::Established
    });
    server
}

/// Sends `data` from `from` on A to `to` on B and returns what B read.
fn send_and_read(p: &mut Pair, from: TcpHandle, to: TcpHandle, data: &[u8]) -> Vec<u8> {
    send_rest_and_read(p, from, to, data, 0)
}

/// Sends `data[queued..]` (the first `queued` bytes are already in the send buffer) and
/// returns everything `to` reads, all of `data` when the transfer completes.
fn send_rest_and_read(
    p: &mut Pair,
    from: TcpHandle,
    to: TcpHandle,
    data: &[u8],
    queued: usize,
) -> Vec<u8> {
    let mut got = Vec::new();
    let mut sent = queued;
    let deadline = p.now + Duration::from_secs(30);
    p.drive(deadline, |p| {
        if sent < data.len() {
            sent += p.a.tcp_send(from, &data[sent..]).unwrap_or(0);
        }
        let mut buf = [0u8; 4096];
        while let Ok(n) = p.b.tcp_recv(to, &mut buf) {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        got.len() == data.len()
    });
    got
}

#[test]
fn an_ipv6_only_listener_on_any_refuses_ipv4_and_accepts_ipv6() {
    let mut p = dual_pair(LinkConfig::default(), 6);
    let config = *p.a.tcp_config();
    let l = p.b.tcp_listen_ipv6_only(80, 8, config).unwrap();
    let c4 = p.a.tcp_connect_to(p.now, SocketAddr::new(ADDR_B.into(), 80), config).unwrap();
    // Answered as a closed port (RFC 9293 §3.10.7.1): the connect is refused at once.
    let mut refused = false;
    let deadline = p.now + Duration::from_secs(10);
    p.drive(deadline, |p| {
        while let Some(ev) = p.a.poll_event() {
            refused |= ev == StackEvent::Tcp(c4, Event::Refused);
        }
        while p.b.poll_event().is_some() {}
        refused
    });
    assert!(refused, "the IPv4 SYN reached the IPv6-only listener");
    assert_eq!(p.b.tcp_accept_queue_len(l), 0);
    let c6 = p.a.tcp_connect_to(p.now, to_b6(80), config).unwrap();
    assert!(accept_one(&mut p, c6).is_some(), "the IPv6 connection is accepted");
}

/// Drives until `client` is established and B's listener `l` has it queued, then accepts it.
fn accept_on(p: &mut Pair, l: ListenHandle, client: TcpHandle) -> Option<TcpHandle> {
    let deadline = p.now + Duration::from_secs(10);
    p.drive(deadline, |p| {
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        p.a.tcp_state(client) == State::Established && p.b.tcp_accept_queue_len(l) > 0
    });
    p.b.tcp_accept(l)
}

#[test]
fn an_ipv6_only_listener_on_any_sits_beside_an_ipv4_one_and_each_takes_its_family() {
    let mut p = dual_pair(LinkConfig::default(), 7);
    let config = *p.b.tcp_config();
    // Either order, as on Linux: `[::]` with IPV6_V6ONLY and `0.0.0.0` take disjoint families.
    let l4 = p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 8).unwrap();
    let l6 = p.b.tcp_listen_ipv6_only(80, 8, config).unwrap();
    let m6 = p.b.tcp_listen_ipv6_only(81, 8, config).unwrap();
    let m4 = p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 81, 8).unwrap();
    // What Linux refuses with EADDRINUSE: a second `::` of either kind beside an IPv6-only
    // one, and an IPv6-only `::` beside a dual-stack one.
    use xdptcp_stack::stack::ListenError::AddrInUse;
    assert_eq!(p.b.tcp_listen_ipv6_only(80, 8, config), Err(AddrInUse));
    assert_eq!(p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 80, 8), Err(AddrInUse));
    assert_eq!(p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 8), Err(AddrInUse));
    p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 82, 8).unwrap();
    assert_eq!(p.b.tcp_listen_ipv6_only(82, 8, config), Err(AddrInUse));
    assert_eq!(p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 82, 8), Err(AddrInUse));
    let config_a = *p.a.tcp_config();
    for (port, want4, want6) in [(80, l4, l6), (81, m4, m6)] {
        let c4 = p.a.tcp_connect_to(p.now, SocketAddr::new(ADDR_B.into(), port), config_a);
        let s4 = accept_on(&mut p, want4, c4.unwrap()).expect("IPv4 on the 0.0.0.0 listener");
        let c6 = p.a.tcp_connect_to(p.now, to_b6(port), config_a).unwrap();
        let s6 = accept_on(&mut p, want6, c6).expect("IPv6 on the IPv6-only listener");
        assert_eq!(p.b.tcp_addrs(s4).map(|(l, _)| l.is_ipv4()), Some(true));
        assert_eq!(p.b.tcp_addrs(s6).map(|(l, _)| l), Some(to_b6(port)));
        assert_eq!(p.b.tcp_accept_queue_len(want4) + p.b.tcp_accept_queue_len(want6), 0);
    }
    // Closing the IPv6-only one frees `::` for a dual-stack listener, which then conflicts
    // with the `0.0.0.0` one still there.
    assert!(p.b.tcp_unlisten(l6));
    assert_eq!(p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 80, 8), Err(AddrInUse));
    assert!(p.b.tcp_unlisten(l4));
    p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 80, 8).unwrap();
}

#[test]
fn one_listener_on_any_takes_both_families_in_one_stack() {
    let mut p = dual_pair(LinkConfig::default(), 5);
    p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 80, 8).unwrap();
    // `::` and `0.0.0.0` on one port conflict, as in Linux with IPV6_V6ONLY off.
    assert!(p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 8).is_err());
    let config = *p.a.tcp_config();
    let c4 = p.a.tcp_connect_to(p.now, SocketAddr::new(ADDR_B.into(), 80), config).unwrap();
    let s4 = accept_one(&mut p, c4).expect("the IPv4 connection is accepted");
    let c6 = p.a.tcp_connect_to(p.now, to_b6(80), config).unwrap();
    let s6 = accept_one(&mut p, c6).expect("the IPv6 connection is accepted");
    let (l4, r4) = p.b.tcp_addrs(s4).unwrap();
    let (l6, r6) = p.b.tcp_addrs(s6).unwrap();
    assert_eq!((l4.ip(), r4.ip()), (IpAddr::from(ADDR_B), IpAddr::from(ADDR_A)));
    assert_eq!((l6.ip(), r6.ip()), (IpAddr::from(ADDR6_B), IpAddr::from(ADDR6_A)));
    assert_eq!(p.a.tcp_addrs(c6).unwrap().0.ip(), IpAddr::from(ADDR6_A));
    // The MSS follows the family: 1500 - 40 and 1500 - 60, less 12 for timestamps.
    assert_eq!(p.a.tcp_info(c4).unwrap().snd_mss, 1448);
    assert_eq!(p.a.tcp_info(c6).unwrap().snd_mss, 1428);
    // Data on each goes to its own peer, interleaved.
    let d4: Vec<u8> = (0..30_000u32).map(|i| (i * 7) as u8).collect();
    let d6: Vec<u8> = (0..30_000u32).map(|i| (i * 13 + 1) as u8).collect();
    assert_eq!(send_and_read(&mut p, c6, s6, &d6), d6);
    assert_eq!(send_and_read(&mut p, c4, s4, &d4), d4);
    assert_eq!(send_and_read(&mut p, c6, s6, &d4), d4);
    // Close both; every connection is freed (the IPv6 index with it).
    for (s, h) in [(true, c4), (true, c6), (false, s4), (false, s6)] {
        let stack = if s { &mut p.a } else { &mut p.b };
        stack.tcp_close(h).unwrap();
    }
    p.run_until(p.now + Duration::from_secs(200));
    assert_eq!((p.a.connection_count(), p.b.connection_count()), (0, 0));
}

/// Whether an active open from A to B's IPv6 `port` is answered with a reset within 5 s.
fn connect_is_refused(p: &mut Pair, port: u16, config: TcpConfig) -> bool {
    let c = p.a.tcp_connect_to(p.now, to_b6(port), config).unwrap();
    let mut refused = false;
    p.drive(p.now + Duration::from_secs(5), |p| {
        while let Some(ev) = p.a.poll_event() {
            refused |= ev == StackEvent::Tcp(c, Event::Refused);
        }
        refused
    });
    refused
}

#[test]
fn a_closed_ipv6_port_answers_with_a_reset() {
    let mut p = dual_pair(LinkConfig::default(), 6);
    let config = *p.a.tcp_config();
    assert!(connect_is_refused(&mut p, 9, config));
    assert_eq!(p.b.counters().rsts_no_socket, 1);
    // An IPv4-only listener does not take IPv6.
    p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, 10, 8).unwrap();
    assert!(connect_is_refused(&mut p, 10, config));
}

#[test]
fn syn_cookies_over_ipv6_carry_the_ipv6_mss_classes() {
    let mut b = dual_config(Side::B, 7);
    b.listen.cookies = CookieMode::Always;
    let mut p = Pair::new(dual_config(Side::A, 7), b, LinkConfig::default(), 7);
    let r = bulk_transfer_to(&mut p, to_b6(443), 80_000, 20_000, 7, LIMIT);
    assert!(r.is_clean(80_000, 20_000), "{r:?}");
    let lc = p.b.listen_counters();
    assert_eq!((lc.syncookies_sent, lc.syncookies_recv, lc.syncookies_failed), (1, 1, 0));
}

#[test]
fn cookie_mss_is_the_ipv6_class_below_the_offer() {
    let mut b = dual_config(Side::B, 8);
    b.listen.cookies = CookieMode::Always;
    let mut a = dual_config(Side::A, 8);
    // A offers 1300: the IPv6 classes are 1220, 1420, 1440, 8940, so the cookie carries 1220
    // (the IPv4 table would have given 1300).
    a.tcp.mss = 1300;
    let mut p = Pair::new(a, b, LinkConfig::default(), 8);
    p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 443, 8).unwrap();
    let config = *p.a.tcp_config();
    let c = p.a.tcp_connect_to(p.now, to_b6(443), config).unwrap();
    let s = accept_one(&mut p, c).expect("accepted through a cookie");
    assert_eq!(p.b.tcp_info(s).unwrap().snd_mss, 1220 - 12);
}

/// A Packet Too Big from a router on the link, quoting `packet` (an IPv6 packet A sent).
fn packet_too_big(mtu: u32, packet: &[u8]) -> Vec<u8> {
    let router: Ipv6Addr = "2001:db8::fe".parse().unwrap();
    let quote = &packet[..packet.len().min(1280 - 48)];
    let msg = Icmpv6Repr::PacketTooBig { mtu, invoking: quote };
    let mut body = vec![0u8; msg.buffer_len()];
    msg.emit(router, ADDR6_A, &mut body, true);
    let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + body.len()];
    let eth = EthernetRepr {
        src: EthernetAddress([2, 0, 0, 0, 0, 0xfe]),
        dst: EthernetAddress([2, 0, 0, 0, 0, 1]),
        ethertype: EtherType::Ipv6,
    };
    eth.emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
    let ip = Ipv6Repr {
        src: router,
        dst: ADDR6_A,
        next_header: next_header::ICMPV6,
        payload_len: body.len(),
        hop_limit: 64,
        traffic_class: 0,
        flow_label: 0,
        upper_offset: 0,
        fragment: None,
        routing_error_at: None,
    };
    ip.emit(&mut ipv6::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]));
    f[ethernet::HEADER_LEN + ipv6::HEADER_LEN..].copy_from_slice(&body);
    f
}

#[test]
fn packet_too_big_lowers_the_mss_never_below_the_ipv6_minimum() {
    let mut p = dual_pair(LinkConfig::default(), 9);
    p.b.tcp_listen(Ipv6Addr::UNSPECIFIED, 80, 8).unwrap();
    let config = *p.a.tcp_config();
    let c = p.a.tcp_connect_to(p.now, to_b6(80), config).unwrap();
    let s = accept_one(&mut p, c).unwrap();
    assert_eq!(p.a.tcp_info(c).unwrap().snd_mss, 1428);
    // A full segment A sends, taken off the wire (it is lost: TCP resends it).
    let data: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let queued = p.a.tcp_send(c, &data).unwrap();
    let mut buf = vec![0u8; 2048];
    let n = p.a.poll_transmit(p.now, &mut buf).expect("a data segment");
    let sent = buf[ethernet::HEADER_LEN..n].to_vec();
    assert_eq!(sent.len(), 1500, "a full-sized IPv6 packet");
    // 1400: the MSS falls to 1400 - 60 - 12.
    p.a.receive(p.now, &packet_too_big(1400, &sent));
    assert_eq!(p.a.counters().path_mtu_lowered, 1);
    assert_eq!(p.a.tcp_info(c).unwrap().snd_mss, 1328);
    // 600 is below the IPv6 minimum (RFC 8201 §4): taken as 1280.
    p.a.receive(p.now, &packet_too_big(600, &sent));
    assert_eq!(p.a.tcp_info(c).unwrap().snd_mss, 1280 - 60 - 12);
    // An error quoting a segment of a connection we do not have changes nothing.
    let mut stray = sent.clone();
    stray[40 + 2] ^= 0xff; // the quoted destination port
    p.a.receive(p.now, &packet_too_big(1280, &stray));
    assert_eq!(p.a.counters().path_mtu_lowered, 2);
    // Everything still arrives, in smaller segments.
    let got = send_rest_and_read(&mut p, c, s, &data, queued);
    assert_eq!(got, data);
    assert!(p.b.iface().counters().rx_frames > 0);
}
