//! Cross-checks of the lower wire formats against etherparse, an independent implementation:
//! frames it builds must parse to the same fields here (with checksums verified), and frames
//! built here must parse to the same fields there, with checksums it agrees with.

use std::net::Ipv4Addr;

use etherparse::{
    icmpv4, ArpEthIpv4Packet, ArpOperation as EpArpOp, Icmpv4Header, Icmpv4Type, IpNumber,
    LinkExtHeader, LinkHeader, NetHeaders, PacketBuilder, PacketHeaders, TransportHeader, VlanId,
};
use proptest::prelude::*;
use xdptcp_stack::wire::arp::{self, ArpOperation, ArpRepr};
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::ethernet::{EtherType, EthernetAddress, EthernetRepr, Frame};
use xdptcp_stack::wire::icmp::{self, DstUnreachable, Icmpv4Repr, TimeExceeded};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::udp::{self, UdpRepr};

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>()
        .prop_map(Ipv4Addr::from)
        .prop_filter("valid source", |a| !a.is_multicast() && !a.is_broadcast())
}

/// Parses `frame` down to the IPv4 layer with our views, checking the checksum.
fn our_ipv4(frame: &[u8]) -> (EthernetRepr, ipv4::Packet<&[u8]>, Ipv4Repr) {
    let f = Frame::new_checked(frame).unwrap();
    let eth = EthernetRepr::parse(&f).unwrap();
    assert_eq!(eth.ethertype, EtherType::Ipv4);
    let p = ipv4::Packet::new_checked(f.payload_slice()).unwrap();
    assert!(p.verify_checksum());
    let repr = Ipv4Repr::parse(&p, true).unwrap();
    (eth, p, repr)
}

/// A quoted original datagram: an IPv4 header with `ihl` words and 8 bytes of UDP header.
fn quoted(ihl: u8, seed: u8) -> Vec<u8> {
    let mut q = vec![0x40 | ihl, 0, 0, 0];
    q.extend((0..usize::from(ihl) * 4 + 4).map(|i| (i as u8).wrapping_mul(seed)));
    q
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn etherparse_udp_parses_here(src_mac in any::<[u8; 6]>(), dst_mac in any::<[u8; 6]>(),
                                  src in ip(), dst in ip(), ttl in any::<u8>(),
                                  sport in any::<u16>(), dport in 1u16..,
                                  payload in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let b = PacketBuilder::ethernet2(src_mac, dst_mac)
            .ipv4(src.octets(), dst.octets(), ttl)
            .udp(sport, dport);
        let mut frame = Vec::new();
        b.write(&mut frame, &payload).unwrap();
        let (eth, ip, repr) = our_ipv4(&frame);
        prop_assert_eq!(eth.src, EthernetAddress(src_mac));
        prop_assert_eq!(eth.dst, EthernetAddress(dst_mac));
        prop_assert_eq!((repr.src, repr.dst, repr.ttl), (src, dst, ttl));
        prop_assert_eq!(repr.protocol, IpProtocol::Udp);
        prop_assert_eq!(repr.payload_len, 8 + payload.len());
        let ep = PacketHeaders::from_ethernet_slice(&frame).unwrap();
        let Some(NetHeaders::Ipv4(h, _)) = ep.net else { panic!("no IPv4") };
        prop_assert_eq!(repr.dont_frag, h.dont_fragment);
        prop_assert_eq!(repr.ident, h.identification);
        prop_assert_eq!(repr.dscp_ecn, (h.dscp.value() << 2) | h.ecn.value());
        let u = udp::Packet::new_checked(ip.payload_slice()).unwrap();
        let urepr = UdpRepr::parse(&u, src, dst, true).unwrap();
        prop_assert_eq!((urepr.src_port, urepr.dst_port), (sport, dport));
        prop_assert_eq!(u.payload_slice(), &payload[..]);
    }

    #[test]
    fn etherparse_tcp_checksum_matches_pseudo_header_sum(
        src in ip(), dst in ip(), sport in any::<u16>(), dport in any::<u16>(),
        seq in any::<u32>(), win in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64)
            .tcp(sport, dport, seq, win)
            .ack(7)
            .psh();
        let mut pkt = Vec::new();
        b.write(&mut pkt, &payload).unwrap();
        let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        prop_assert!(ip.verify_checksum());
        let seg = ip.payload();
        let theirs = u16::from_be_bytes([seg[16], seg[17]]);
        let pseudo = checksum::pseudo_header_v4(src, dst, 6, seg.len() as u16);
        prop_assert!(checksum::verify(pseudo, seg));
        let mut zeroed = seg.to_vec();
        zeroed[16] = 0;
        zeroed[17] = 0;
        prop_assert_eq!(checksum::combine(&[pseudo, checksum::sum(&zeroed)]), theirs);
        // The fused copy path gives the same result.
        let mut copy = vec![0u8; zeroed.len()];
        let s = checksum::copy_and_sum(&mut copy, &zeroed);
        prop_assert_eq!(checksum::combine(&[pseudo, s]), theirs);
    }

    #[test]
    fn our_udp_parses_in_etherparse(src in ip(), dst in ip(), sport in any::<u16>(),
                                    dport in 1u16.., ttl in any::<u8>(), ident in any::<u16>(),
                                    tos in any::<u8>(), dont_frag in any::<bool>(),
                                    payload in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let frame = build_udp(src, dst, sport, dport, ttl, ident, tos, dont_frag, &payload);
        let ep = PacketHeaders::from_ethernet_slice(&frame).unwrap();
        let Some(LinkHeader::Ethernet2(e)) = ep.link else { panic!("no Ethernet") };
        prop_assert_eq!(e.source, [2, 0, 0, 0, 0, 1]);
        prop_assert_eq!(e.destination, [2, 0, 0, 0, 0, 2]);
        let Some(NetHeaders::Ipv4(h, _)) = ep.net else { panic!("no IPv4") };
        prop_assert_eq!(h.source, src.octets());
        prop_assert_eq!(h.destination, dst.octets());
        prop_assert_eq!(h.time_to_live, ttl);
        prop_assert_eq!(h.identification, ident);
        prop_assert_eq!(h.dont_fragment, dont_frag);
        prop_assert!(!h.more_fragments);
        prop_assert_eq!(h.fragment_offset.value(), 0);
        prop_assert_eq!((h.dscp.value() << 2) | h.ecn.value(), tos);
        prop_assert_eq!(h.protocol, IpNumber::UDP);
        prop_assert_eq!(usize::from(h.total_len), 28 + payload.len());
        prop_assert_eq!(h.header_checksum, h.calc_header_checksum());
        let Some(TransportHeader::Udp(u)) = ep.transport else { panic!("no UDP") };
        prop_assert_eq!((u.source_port, u.destination_port), (sport, dport));
        prop_assert_eq!(usize::from(u.length), 8 + payload.len());
        prop_assert_eq!(u.checksum, u.calc_checksum_ipv4(&h, &payload).unwrap());
        prop_assert_eq!(ep.payload.slice(), &payload[..]);
    }

    #[test]
    fn echo_agrees_both_ways(request in any::<bool>(), id in any::<u16>(), seq in any::<u16>(),
                             data in proptest::collection::vec(any::<u8>(), 0..600)) {
        // etherparse → ours.
        let src = Ipv4Addr::new(10, 1, 1, 1);
        let dst = Ipv4Addr::new(10, 1, 1, 2);
        let b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64);
        let b = if request { b.icmpv4_echo_request(id, seq) } else { b.icmpv4_echo_reply(id, seq) };
        let mut pkt = Vec::new();
        b.write(&mut pkt, &data).unwrap();
        let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        prop_assert_eq!(Ipv4Repr::parse(&ip, true).unwrap().protocol, IpProtocol::Icmp);
        let m = icmp::Packet::new_checked(ip.payload_slice()).unwrap();
        let expect = if request {
            Icmpv4Repr::EchoRequest { ident: id, seq_no: seq, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident: id, seq_no: seq, data: &data }
        };
        prop_assert_eq!(Icmpv4Repr::parse(&m, true).unwrap(), expect);

        // ours → etherparse.
        let mut buf = vec![0u8; expect.buffer_len()];
        expect.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
        let (h, rest) = Icmpv4Header::from_slice(&buf).unwrap();
        let want = if request {
            Icmpv4Type::EchoRequest(etherparse::IcmpEchoHeader { id, seq })
        } else {
            Icmpv4Type::EchoReply(etherparse::IcmpEchoHeader { id, seq })
        };
        prop_assert_eq!(&h.icmp_type, &want);
        prop_assert_eq!(rest, &data[..]);
        prop_assert_eq!(h.checksum, Icmpv4Header::with_checksum(want, rest).checksum);
    }
}

#[allow(clippy::too_many_arguments)]
fn build_udp(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    ttl: u8,
    ident: u16,
    tos: u8,
    dont_frag: bool,
    payload: &[u8],
) -> Vec<u8> {
    let eth = EthernetRepr {
        src: EthernetAddress([2, 0, 0, 0, 0, 1]),
        dst: EthernetAddress([2, 0, 0, 0, 0, 2]),
        ethertype: EtherType::Ipv4,
    };
    let u = UdpRepr { src_port: sport, dst_port: dport };
    let ip = Ipv4Repr {
        src,
        dst,
        protocol: IpProtocol::Udp,
        payload_len: u.buffer_len(payload.len()),
        ttl,
        dscp_ecn: tos,
        dont_frag,
        ident,
    };
    let mut frame = vec![0u8; eth.header_len() + ip.buffer_len()];
    let mut f = Frame::new_unchecked(&mut frame[..]);
    eth.emit(&mut f);
    let mut p = ipv4::Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, true);
    let seg = p.payload_mut();
    // Half the cases take the fused copy-and-sum path, the other half copy then sum.
    if ident % 2 == 1 {
        let s = checksum::copy_and_sum(&mut seg[u.header_len()..], payload);
        let mut d = udp::Packet::new_unchecked(seg);
        u.emit_with_payload_sum(&mut d, payload.len(), s, src, dst);
    } else {
        seg[u.header_len()..].copy_from_slice(payload);
        let mut d = udp::Packet::new_unchecked(seg);
        u.emit(&mut d, payload.len(), src, dst, true);
    }
    frame
}

#[test]
fn etherparse_single_vlan_is_skipped() {
    let payload = b"tagged";
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 1], [0xff; 6])
        .single_vlan(VlanId::try_new(100).unwrap())
        .ipv4([10, 0, 0, 1], [10, 0, 0, 2], 9)
        .udp(1000, 2000);
    let mut frame = Vec::new();
    b.write(&mut frame, payload).unwrap();
    let f = Frame::new_checked(&frame[..]).unwrap();
    assert!(f.has_vlan());
    assert_eq!(f.vlan_id(), Some(100));
    let ep = PacketHeaders::from_ethernet_slice(&frame).unwrap();
    let Some(LinkExtHeader::Vlan(v)) = ep.link_exts.first() else { panic!("no VLAN") };
    assert_eq!(
        f.vlan_tci(),
        Some(
            (u16::from(v.pcp.value()) << 13)
                | (u16::from(v.drop_eligible_indicator) << 12)
                | v.vlan_id.value()
        )
    );
    assert_eq!(f.ethertype(), EtherType::Ipv4);
    assert_eq!(f.header_len(), 18);
    let ip = ipv4::Packet::new_checked(f.payload_slice()).unwrap();
    let repr = Ipv4Repr::parse(&ip, true).unwrap();
    assert_eq!(repr.ttl, 9);
    let u = udp::Packet::new_checked(ip.payload_slice()).unwrap();
    UdpRepr::parse(&u, repr.src, repr.dst, true).unwrap();
    assert_eq!(u.payload(), payload);
}

#[test]
fn arp_agrees_both_ways() {
    let ep_arp = ArpEthIpv4Packet {
        operation: EpArpOp::REPLY,
        sender_mac: [2, 0, 0, 0, 0, 7],
        sender_ipv4: [192, 168, 0, 7],
        target_mac: [2, 0, 0, 0, 0, 8],
        target_ipv4: [192, 168, 0, 8],
    };
    let b = PacketBuilder::ethernet2([2, 0, 0, 0, 0, 7], [2, 0, 0, 0, 0, 8]).arp(ep_arp.into());
    let mut frame = Vec::new();
    b.write(&mut frame).unwrap();
    let f = Frame::new_checked(&frame[..]).unwrap();
    assert_eq!(f.ethertype(), EtherType::Arp);
    let p = arp::Packet::new_checked(f.payload_slice()).unwrap();
    let repr = ArpRepr::parse(&p).unwrap();
    let want = ArpRepr {
        operation: ArpOperation::Reply,
        source_hw: EthernetAddress([2, 0, 0, 0, 0, 7]),
        source_ip: Ipv4Addr::new(192, 168, 0, 7),
        target_hw: EthernetAddress([2, 0, 0, 0, 0, 8]),
        target_ip: Ipv4Addr::new(192, 168, 0, 8),
    };
    assert_eq!(repr, want);

    // Ours → etherparse, as a request.
    let ours = ArpRepr { operation: ArpOperation::Request, ..want };
    let mut buf = vec![0u8; ours.buffer_len()];
    ours.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
    let theirs = etherparse::ArpPacket::from_slice(&buf).unwrap().try_eth_ipv4().unwrap();
    assert_eq!(theirs.operation, EpArpOp::REQUEST);
    assert_eq!(theirs.sender_mac, ours.source_hw.0);
    assert_eq!(theirs.sender_ipv4, ours.source_ip.octets());
    assert_eq!(theirs.target_mac, ours.target_hw.0);
    assert_eq!(theirs.target_ipv4, ours.target_ip.octets());
}

#[test]
fn every_unreachable_code_agrees_both_ways() {
    for code in 0..16u8 {
        let original = quoted(5 + code % 3, code + 1);
        let mtu = 1200 + u16::from(code);
        let ep_header = icmpv4::DestUnreachableHeader::from_values(code, mtu).unwrap();
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4(Icmpv4Type::DestinationUnreachable(ep_header.clone()));
        let mut pkt = Vec::new();
        b.write(&mut pkt, &original).unwrap();
        let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        let m = icmp::Packet::new_checked(ip.payload_slice()).unwrap();
        let reason = DstUnreachable::from_code(code).unwrap();
        let want = Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu: if reason == DstUnreachable::FragRequired { mtu } else { 0 },
            original: &original,
        };
        assert_eq!(Icmpv4Repr::parse(&m, true).unwrap(), want, "code {code}");

        let mut buf = vec![0u8; want.buffer_len()];
        want.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
        let (h, rest) = Icmpv4Header::from_slice(&buf).unwrap();
        assert_eq!(h.icmp_type, Icmpv4Type::DestinationUnreachable(ep_header), "code {code}");
        assert_eq!(rest, &original[..]);
        assert_eq!(h.checksum, Icmpv4Header::with_checksum(h.icmp_type.clone(), rest).checksum);
    }
}

#[test]
fn time_exceeded_agrees_both_ways() {
    for (code, reason) in [
        (icmpv4::TimeExceededCode::TtlExceededInTransit, TimeExceeded::TtlExpired),
        (
            icmpv4::TimeExceededCode::FragmentReassemblyTimeExceeded,
            TimeExceeded::FragReassemblyExpired,
        ),
    ] {
        let original = quoted(6, 3);
        let b = PacketBuilder::ipv4([10, 0, 0, 1], [10, 0, 0, 2], 64)
            .icmpv4(Icmpv4Type::TimeExceeded(code));
        let mut pkt = Vec::new();
        b.write(&mut pkt, &original).unwrap();
        let ip = ipv4::Packet::new_checked(&pkt[..]).unwrap();
        let m = icmp::Packet::new_checked(ip.payload_slice()).unwrap();
        let want = Icmpv4Repr::TimeExceeded { reason, original: &original };
        assert_eq!(Icmpv4Repr::parse(&m, true).unwrap(), want);
        let mut buf = vec![0u8; want.buffer_len()];
        want.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
        let (h, _) = Icmpv4Header::from_slice(&buf).unwrap();
        assert_eq!(h.icmp_type, Icmpv4Type::TimeExceeded(code));
        assert_eq!(
            h.checksum,
            Icmpv4Header::with_checksum(h.icmp_type.clone(), &original).checksum
        );
    }
}

#[test]
fn etherparse_ipv4_options_and_fragments() {
    let mut h =
        etherparse::Ipv4Header::new(8, 30, IpNumber::UDP, [10, 0, 0, 1], [10, 0, 0, 2]).unwrap();
    h.options = [0x94, 0x04, 0x00, 0x00, 0x01, 0x01, 0x01, 0x00][..].try_into().unwrap();
    h.set_payload_len(8).unwrap(); // total length now counts the options
    h.more_fragments = true;
    h.fragment_offset = etherparse::IpFragOffset::try_new(37).unwrap();
    h.dont_fragment = false;
    h.header_checksum = h.calc_header_checksum();
    let mut pkt = h.to_bytes().to_vec();
    pkt.extend_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    pkt.extend_from_slice(&[0; 6]); // link padding
    let p = ipv4::Packet::new_checked(&pkt[..]).unwrap();
    assert_eq!(p.header_len(), 28);
    assert_eq!(p.options(), &h.options[..]);
    assert!(p.more_frags() && !p.dont_frag() && p.is_fragment());
    assert_eq!(p.frag_offset(), h.fragment_offset.byte_offset());
    assert!(p.verify_checksum());
    assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(Ipv4Repr::parse(&p, true).unwrap().payload_len, 8);
}
