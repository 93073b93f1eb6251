//! IPv4 input checks, ICMP echo and errors, and UDP sockets of `Interface`.

mod iface_util;

use std::net::Ipv4Addr;

use iface_util::*;
use xdptcp_stack::iface::{
    ChecksumCaps, DeviceCaps, DropReason, Interface, Offload, Received, SendError,
};
use xdptcp_stack::wire::ethernet::{EtherType, EthernetAddress};
use xdptcp_stack::wire::ipv4::IpProtocol;

fn with_caps(caps: ChecksumCaps) -> Interface {
    Interface::new(config(), DeviceCaps::ethernet(1500).with_checksum(caps))
}

fn ping_frame(ident: u16, seq: u16, data: &[u8]) -> Vec<u8> {
    from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Icmp, &echo_request(ident, seq, data)))
}

/// Rewrites the IPv4 header checksum of the packet inside an Ethernet frame.
fn refresh_ip_checksum(frame: &mut [u8]) {
    frame[24..26].copy_from_slice(&[0, 0]);
    let c = rfc1071(&[&frame[14..34]]);
    frame[24..26].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn ping_gets_byte_exact_echo_reply() {
    let mut i = iface();
    let data: Vec<u8> = (0..56u8).collect();
    assert_eq!(i.receive(t(0), &ping_frame(0x4242, 7, &data)), Received::Consumed);
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let (dst, src, ethertype, ip) = split_eth(&out[0]);
    assert_eq!((dst, src, ethertype), (PEER_MAC, OUR_MAC, 0x0800));
    let (s, d, proto, ttl, icmp) = check_ipv4(ip);
    assert_eq!((s, d, proto, ttl), (OUR_IP, PEER_IP, 1, 64));
    assert_eq!(icmp.len(), 8 + data.len());
    assert_eq!(&icmp[..2], &[0, 0], "echo reply, code 0");
    assert_eq!(&icmp[4..6], &0x4242u16.to_be_bytes());
    assert_eq!(&icmp[6..8], &7u16.to_be_bytes());
    assert_eq!(&icmp[8..], &data[..]);
    assert_eq!(rfc1071(&[icmp]), 0, "ICMP checksum");
    assert_eq!(i.counters().icmp_echo_replied, 1);
    assert_eq!(i.counters().rx_icmp, 1);
}

#[test]
fn echo_to_broadcast_is_ignored() {
    let mut i = iface();
    let bcast = Ipv4Addr::new(10, 0, 0, 255);
    let ip = ipv4(PEER_IP, bcast, IpProtocol::Icmp, &echo_request(1, 1, b"x"));
    let f = eth(PEER_MAC, EthernetAddress::BROADCAST, EtherType::Ipv4, &ip);
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::IcmpIgnored));
    assert!(drain(&mut i, t(0)).is_empty());
}

#[test]
fn fragments_are_dropped_and_counted() {
    let mut i = iface();
    let mut mf = ping_frame(1, 1, b"frag");
    mf[20] = 0x20; // More Fragments, offset 0
    refresh_ip_checksum(&mut mf);
    assert_eq!(i.receive(t(0), &mf), Received::Dropped(DropReason::Fragment));
    let mut later = ping_frame(1, 1, b"frag");
    later[20..22].copy_from_slice(&[0x00, 0x10]); // offset 128 bytes, last fragment
    refresh_ip_checksum(&mut later);
    assert_eq!(i.receive(t(0), &later), Received::Dropped(DropReason::Fragment));
    assert_eq!(i.counters().rx_fragments_dropped, 2);
    assert!(drain(&mut i, t(0)).is_empty());
}

#[test]
fn bad_ipv4_checksum_dropped_unless_device_verified() {
    let mut f = ping_frame(1, 1, b"x");
    f[24] ^= 0xff;
    let mut i = iface();
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::BadIpv4Checksum));
    assert_eq!(i.counters().rx_bad_ipv4_checksum, 1);
    assert!(drain(&mut i, t(0)).is_empty());

    let caps = ChecksumCaps { ipv4: Offload { rx: true, tx: false }, ..ChecksumCaps::NONE };
    let mut j = with_caps(caps);
    assert_eq!(j.receive(t(0), &f), Received::Consumed);
    assert_eq!(drain(&mut j, t(0)).len(), 1);
    assert_eq!(j.counters().rx_bad_ipv4_checksum, 0);
}

#[test]
fn bad_icmp_checksum_dropped_unless_device_verified() {
    let mut f = ping_frame(1, 1, b"abc");
    f[34 + 2] ^= 0x01;
    let mut i = iface();
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::BadIcmpChecksum));
    assert_eq!(i.counters().rx_bad_icmp_checksum, 1);
    let caps = ChecksumCaps { icmp: Offload { rx: true, tx: false }, ..ChecksumCaps::NONE };
    let mut j = with_caps(caps);
    assert_eq!(j.receive(t(0), &f), Received::Consumed);
}

#[test]
fn bad_udp_checksum_dropped_unless_device_verified() {
    let mut f = udp_frame((PEER_IP, 1000), (OUR_IP, 53), b"query");
    f[34 + 6] ^= 0x10;
    let mut i = iface();
    let h = i.udp_bind(53).unwrap();
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::BadUdpChecksum));
    assert_eq!(i.counters().rx_bad_udp_checksum, 1);
    assert!(i.udp_recv_from(h).is_none());

    let caps = ChecksumCaps { udp: Offload { rx: true, tx: false }, ..ChecksumCaps::NONE };
    let mut j = with_caps(caps);
    let h = j.udp_bind(53).unwrap();
    assert_eq!(j.receive(t(0), &f), Received::Consumed);
    assert_eq!(j.udp_recv_from(h).map(|(_, d)| d), Some(&b"query"[..]));
}

#[test]
fn malformed_ipv4_is_counted_by_kind() {
    let mut i = iface();
    let good = ping_frame(1, 1, b"x");
    let mut v6 = good.clone();
    v6[14] = 0x65;
    assert_eq!(i.receive(t(0), &v6), Received::Dropped(DropReason::BadIpv4));
    let mut ihl = good.clone();
    ihl[14] = 0x44;
    assert_eq!(i.receive(t(0), &ihl), Received::Dropped(DropReason::BadIpv4));
    assert_eq!(i.receive(t(0), &good[..30]), Received::Dropped(DropReason::Truncated));
    let mut long = good.clone();
    long[16..18].copy_from_slice(&200u16.to_be_bytes());
    refresh_ip_checksum(&mut long);
    assert_eq!(i.receive(t(0), &long), Received::Dropped(DropReason::Truncated));
    assert_eq!(i.counters().rx_bad_ipv4, 2);
    assert_eq!(i.counters().rx_truncated, 2);

    let other =
        from_peer(&ipv4(PEER_IP, Ipv4Addr::new(10, 0, 0, 9), IpProtocol::Icmp, b"12345678"));
    assert_eq!(i.receive(t(0), &other), Received::Dropped(DropReason::NotOurIp));
    let martian =
        from_peer(&ipv4(Ipv4Addr::new(224, 0, 0, 1), OUR_IP, IpProtocol::Udp, b"12345678"));
    assert_eq!(i.receive(t(0), &martian), Received::Dropped(DropReason::MartianSource));
    let spoofed = from_peer(&ipv4(OUR_IP, OUR_IP, IpProtocol::Udp, b"12345678"));
    assert_eq!(i.receive(t(0), &spoofed), Received::Dropped(DropReason::MartianSource));
    let mut group_src = ping_frame(1, 1, b"x");
    group_src[6] |= 0x01;
    assert_eq!(i.receive(t(0), &group_src), Received::Dropped(DropReason::BadEthernet));
    assert_eq!(i.counters().rx_martian_source, 2);
    assert!(drain(&mut i, t(0)).is_empty());
}

#[test]
fn tcp_is_handed_up_trimmed_to_ip_length() {
    let seg: Vec<u8> = (100..120u8).collect();
    let mut f = from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Tcp, &seg));
    f.resize(80, 0xee); // link padding after the IP packet
    let mut i = iface();
    match i.receive(t(0), &f) {
        Received::Tcp { src_ip, dst_ip, dscp_ecn, segment, checksum_verified } => {
            assert_eq!((src_ip, dst_ip, dscp_ecn), (PEER_IP, OUR_IP, 0));
            assert_eq!(segment, &seg[..]);
            assert!(!checksum_verified);
        }
        other => panic!("expected TCP, got {other:?}"),
    }
    let mut j = with_caps(ChecksumCaps::ALL);
    assert!(matches!(j.receive(t(0), &f), Received::Tcp { checksum_verified: true, .. }));
    assert_eq!(i.counters().rx_tcp, 1);
    // TCP to a broadcast address is not TCP's business.
    let b = from_peer(&ipv4(PEER_IP, Ipv4Addr::BROADCAST, IpProtocol::Tcp, &seg));
    assert_eq!(i.receive(t(0), &b), Received::Dropped(DropReason::TcpNotUnicast));
}

#[test]
fn udp_to_bound_port_is_delivered_in_place() {
    let mut i = iface();
    let h = i.udp_bind_with_slots(5000, 2).unwrap();
    for (k, p) in [&b"first"[..], b"second", b"third"].iter().enumerate() {
        let f = udp_frame((PEER_IP, 4000 + k as u16), (OUR_IP, 5000), p);
        let r = i.receive(t(0), &f);
        if k < 2 {
            assert_eq!(r, Received::Consumed);
        } else {
            assert_eq!(r, Received::Dropped(DropReason::UdpSocketQueueFull));
        }
    }
    assert_eq!(i.counters().udp_socket_queue_full, 1);
    assert_eq!(i.counters().udp_delivered, 2);
    let (src, data) = i.udp_recv_from(h).unwrap();
    assert_eq!((src, data), (std::net::SocketAddr::from((PEER_IP, 4000)), &b"first"[..]));
    // Reading again lends the same bytes in the same place: no copy per read.
    let again = i.udp_recv_from(h).unwrap().1;
    assert_eq!(data.as_ptr(), again.as_ptr());
    assert!(i.udp_consume(h));
    assert_eq!(
        i.udp_recv_from(h),
        Some((std::net::SocketAddr::from((PEER_IP, 4001)), &b"second"[..]))
    );
    assert!(i.udp_consume(h));
    assert!(i.udp_recv_from(h).is_none());
    assert!(drain(&mut i, t(0)).is_empty(), "delivery sends nothing");
}

#[test]
fn closed_port_draws_port_unreachable_quoting_header_and_8_bytes() {
    let mut i = iface();
    let payload = b"0123456789abcdef";
    let f = udp_frame((PEER_IP, 33434), (OUR_IP, 9), payload);
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::UdpNoSocket));
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let (dst, _, _, ip) = split_eth(&out[0]);
    assert_eq!(dst, PEER_MAC);
    let (s, d, proto, _, icmp) = check_ipv4(ip);
    assert_eq!((s, d, proto), (OUR_IP, PEER_IP, 1));
    assert_eq!(&icmp[..2], &[3, 3], "destination unreachable / port unreachable");
    assert_eq!(&icmp[4..8], &[0; 4], "unused");
    assert_eq!(&icmp[8..], &f[14..14 + 28], "original IP header + 8 bytes");
    assert_eq!(rfc1071(&[icmp]), 0);
    assert_eq!(i.counters().udp_no_socket, 1);
    assert_eq!(i.counters().icmp_unreachable_sent, 1);
}

#[test]
fn no_unreachable_for_broadcast_or_bad_source() {
    let mut i = iface();
    let bcast_ip = udp_frame((PEER_IP, 1), (Ipv4Addr::new(10, 0, 0, 255), 9), b"x");
    assert_eq!(i.receive(t(0), &bcast_ip), Received::Dropped(DropReason::UdpNoSocket));
    let mut link_bcast = udp_frame((PEER_IP, 1), (OUR_IP, 9), b"x");
    link_bcast[..6].copy_from_slice(&[0xff; 6]);
    assert_eq!(i.receive(t(0), &link_bcast), Received::Dropped(DropReason::UdpNoSocket));
    let zero_src = udp_frame((Ipv4Addr::UNSPECIFIED, 68), (OUR_IP, 67), b"x");
    assert_eq!(i.receive(t(0), &zero_src), Received::Dropped(DropReason::UdpNoSocket));
    assert!(drain(&mut i, t(0)).is_empty());
    assert_eq!(i.counters().udp_no_socket, 3);
    assert_eq!(i.counters().icmp_unreachable_sent, 0);
}

#[test]
fn unknown_protocol_draws_protocol_unreachable() {
    let mut i = iface();
    let f = from_peer(&ipv4(PEER_IP, OUR_IP, IpProtocol::Unknown(132), b"sctp-ish"));
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::UnknownProtocol));
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let icmp = check_ipv4(split_eth(&out[0]).3).4;
    assert_eq!(&icmp[..2], &[3, 2]);
}

#[test]
fn icmp_errors_respect_rate_limit_in_virtual_time() {
    let mut cfg = config();
    cfg.icmp_rate_per_sec = 1000;
    cfg.icmp_burst = 5;
    let mut i = Interface::new(cfg, DeviceCaps::ethernet(1500));
    let f = udp_frame((PEER_IP, 1), (OUR_IP, 9), b"x");
    let burst = |i: &mut Interface, ms, n| {
        for _ in 0..n {
            i.receive(t(ms), &f);
        }
        drain(i, t(ms)).len()
    };
    assert_eq!(burst(&mut i, 100, 10), 5, "the burst");
    assert_eq!(i.counters().icmp_rate_limited, 5);
    assert_eq!(burst(&mut i, 101, 3), 1, "one token per millisecond");
    assert_eq!(burst(&mut i, 101, 3), 0);
    assert_eq!(burst(&mut i, 10_000, 10), 5, "refilled to the burst, no more");
    assert_eq!(i.counters().icmp_unreachable_sent, 11);
    assert_eq!(i.counters().udp_no_socket, 26);
}

#[test]
fn udp_send_to_builds_checksummed_datagram() {
    let mut i = iface();
    let h = i.udp_bind(7000).unwrap();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    i.udp_send_to(t(1), h, (PEER_IP, 8000), b"payload!").unwrap();
    let out = drain(&mut i, t(1));
    assert_eq!(out.len(), 1);
    let (dst, _, _, ip) = split_eth(&out[0]);
    assert_eq!(dst, PEER_MAC);
    let (s, d, proto, _, udp) = check_ipv4(ip);
    assert_eq!((s, d, proto), (OUR_IP, PEER_IP, 17));
    assert_eq!(&udp[..2], &7000u16.to_be_bytes());
    assert_eq!(&udp[2..4], &8000u16.to_be_bytes());
    assert_eq!(&udp[4..6], &16u16.to_be_bytes());
    assert_eq!(&udp[8..], b"payload!");
    assert_ne!(&udp[6..8], &[0, 0]);
    assert_eq!(rfc1071(&[&pseudo(OUR_IP, PEER_IP, 17, udp.len()), udp]), 0);
    assert_eq!(i.counters().udp_sent, 1);

    // With TX offload the device fills both checksums: software leaves the IPv4 one zero and
    // seeds the UDP one with the pseudo-header sum, which the device completes by summing the
    // datagram and complementing.
    let mut j = with_caps(ChecksumCaps::ALL);
    let h = j.udp_bind(7000).unwrap();
    j.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    j.udp_send_to(t(1), h, (PEER_IP, 8000), b"payload!").unwrap();
    let out = drain(&mut j, t(1));
    let ip = split_eth(&out[0]).3;
    assert_eq!(&ip[10..12], &[0, 0], "IPv4 checksum left to the device");
    let udp = &ip[20..];
    let seed = u16::from_be_bytes([udp[6], udp[7]]);
    assert_eq!(seed, !rfc1071(&[&pseudo(OUR_IP, PEER_IP, 17, udp.len())]), "pseudo-header seed");
    let mut done = udp.to_vec();
    let device_sum = rfc1071(&[&done]);
    done[6..8].copy_from_slice(&device_sum.to_be_bytes());
    assert_eq!(rfc1071(&[&pseudo(OUR_IP, PEER_IP, 17, udp.len()), &done]), 0);

    // Errors.
    let big = vec![0u8; 1500];
    let h2 = i.udp_bind(7001).unwrap();
    assert_eq!(i.udp_send_to(t(2), h2, (PEER_IP, 1), &big), Err(SendError::TooLarge));
    assert_eq!(i.udp_send_to(t(2), h2, (REMOTE_IP, 1), b"x"), Err(SendError::NoRoute));
    assert!(i.udp_unbind(h2));
    assert_eq!(i.udp_send_to(t(2), h2, (PEER_IP, 1), b"x"), Err(SendError::NotBound));
}

#[test]
fn udp_send_to_unresolved_waits_for_arp() {
    let mut i = iface();
    let h = i.udp_bind(7000).unwrap();
    i.udp_send_to(t(0), h, (PEER_IP, 8000), b"later").unwrap();
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    assert_eq!(split_eth(&out[0]).2, 0x0806, "only the ARP request goes out");
    i.receive(t(1), &arp_reply_from(PEER_MAC, PEER_IP));
    let out = drain(&mut i, t(1));
    assert_eq!(out.len(), 1);
    let udp = check_ipv4(split_eth(&out[0]).3).4;
    assert_eq!(&udp[8..], b"later");
    assert_eq!(rfc1071(&[&pseudo(OUR_IP, PEER_IP, 17, udp.len()), udp]), 0);
}

fn icmp_error_frame(from: Ipv4Addr, original: &[u8]) -> Vec<u8> {
    use xdptcp_stack::wire::icmp::{self, DstUnreachable, Icmpv4Repr};
    let repr = Icmpv4Repr::DstUnreachable {
        reason: DstUnreachable::FragRequired,
        next_hop_mtu: 1400,
        original,
    };
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmp::Packet::new_unchecked(&mut m[..]), true);
    from_peer(&ipv4(from, OUR_IP, IpProtocol::Icmp, &m))
}

#[test]
fn icmp_errors_about_our_tcp_go_up() {
    use xdptcp_stack::iface::QuotedTcp;
    use xdptcp_stack::wire::icmp::{DstUnreachable, Icmpv4Repr};
    let mut tcp = vec![0u8; 20];
    tcp[..2].copy_from_slice(&40000u16.to_be_bytes());
    tcp[2..4].copy_from_slice(&443u16.to_be_bytes());
    tcp[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
    let sent = ipv4(OUR_IP, REMOTE_IP, IpProtocol::Tcp, &tcp);
    let f = icmp_error_frame(GW_IP, &sent[..28]);
    let mut i = iface();
    match i.receive(t(0), &f) {
        Received::IcmpError { src_ip, message, original } => {
            assert_eq!(src_ip, GW_IP);
            assert!(matches!(
                message,
                Icmpv4Repr::DstUnreachable {
                    reason: DstUnreachable::FragRequired,
                    next_hop_mtu: 1400,
                    ..
                }
            ));
            let want = QuotedTcp {
                src_ip: OUR_IP,
                dst_ip: REMOTE_IP,
                src_port: 40000,
                dst_port: 443,
                seq: 0xdead_beef,
            };
            assert_eq!(original, want);
        }
        other => panic!("expected an ICMP error for TCP, got {other:?}"),
    }
    assert_eq!(i.counters().rx_icmp_tcp_errors, 1);

    // About UDP, or about a datagram someone else sent: not TCP's business.
    let udp_sent = ipv4(OUR_IP, REMOTE_IP, IpProtocol::Udp, &tcp[..8]);
    let f = icmp_error_frame(GW_IP, &udp_sent);
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::IcmpIgnored));
    let foreign = ipv4(PEER_IP, REMOTE_IP, IpProtocol::Tcp, &tcp);
    let f = icmp_error_frame(GW_IP, &foreign[..28]);
    assert_eq!(i.receive(t(0), &f), Received::Dropped(DropReason::IcmpIgnored));
    assert!(drain(&mut i, t(0)).is_empty(), "never an ICMP error about an ICMP error");
}
