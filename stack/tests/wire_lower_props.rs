//! Property tests of the checksum and the lower wire formats (Ethernet, ARP, IPv4, ICMPv4,
//! UDP): the fast checksum against the byte-pair reference, RFC 1624 against recomputation,
//! emit → parse round trips for every `Repr`, and no panic on arbitrary bytes.

mod wire_lower_common;

use std::net::Ipv4Addr;

use proptest::prelude::*;
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::ethernet::{EtherType, EthernetAddress, EthernetRepr, Frame};
use xdptcp_stack::wire::icmp::{self, DstUnreachable, Icmpv4Repr, TimeExceeded};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::{arp, udp};

/// RFC 1071 §4.1 byte-pair loop: the oracle for the fast sum.
fn naive_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut pairs = data.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Ones'-complement has two zeros; RFC 1624 §3 notes that an incremental update may produce
/// the other one. Map both to one value before comparing.
fn canonical(c: u16) -> u16 {
    if c == 0xffff {
        0
    } else {
        c
    }
}

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<[u8; 4]>().prop_map(Ipv4Addr::from)
}

/// Source addresses the IPv4 parser accepts (not multicast, not limited broadcast).
fn unicast_ip() -> impl Strategy<Value = Ipv4Addr> {
    ip().prop_filter("valid source", |a| !a.is_multicast() && !a.is_broadcast())
}

fn mac() -> impl Strategy<Value = EthernetAddress> {
    any::<[u8; 6]>().prop_map(EthernetAddress)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn sum_matches_reference(data in proptest::collection::vec(any::<u8>(), 0..3000),
                             start in 0usize..16) {
        let start = start.min(data.len());
        let s = &data[start..];
        prop_assert_eq!(checksum::sum(s), naive_sum(s));
    }

    #[test]
    fn copy_and_sum_matches_copy_then_sum(data in proptest::collection::vec(any::<u8>(), 0..2000),
                                          start in 0usize..8,
                                          dst_extra in -64isize..64) {
        let start = start.min(data.len());
        let src = &data[start..];
        let dst_len = (src.len() as isize + dst_extra).max(0) as usize;
        let mut dst = vec![0x5au8; dst_len];
        let n = src.len().min(dst_len);
        let s = checksum::copy_and_sum(&mut dst, src);
        prop_assert_eq!(s, naive_sum(&src[..n]));
        prop_assert_eq!(&dst[..n], &src[..n]);
        prop_assert!(dst[n..].iter().all(|&b| b == 0x5a));
    }

    #[test]
    fn rfc1624_update_matches_recompute(words in proptest::collection::vec(any::<u16>(), 2..200),
                                        idx in any::<prop::sample::Index>(),
                                        new in any::<u16>()) {
        // Word 0 is the checksum field; any other word changes.
        let mut data: Vec<u8> = words.iter().flat_map(|w| w.to_be_bytes()).collect();
        data[0] = 0;
        data[1] = 0;
        let before = checksum::checksum(&data);
        let i = 1 + idx.index(words.len() - 1);
        let old = u16::from_be_bytes([data[2 * i], data[2 * i + 1]]);
        data[2 * i..2 * i + 2].copy_from_slice(&new.to_be_bytes());
        let recomputed = checksum::checksum(&data);
        let updated = checksum::update_u16(before, old, new);
        prop_assert_eq!(canonical(updated), canonical(recomputed));
    }

    #[test]
    fn pseudo_header_is_part_of_the_sum(src in ip(), dst in ip(), proto in any::<u8>(),
                                        len in any::<u16>()) {
        // The pseudo-header sum equals the sum of its 12 bytes laid out as RFC 768 does.
        let mut ph = [0u8; 12];
        ph[..4].copy_from_slice(&src.octets());
        ph[4..8].copy_from_slice(&dst.octets());
        ph[9] = proto;
        ph[10..].copy_from_slice(&len.to_be_bytes());
        prop_assert_eq!(checksum::pseudo_header_v4(src, dst, proto, len), naive_sum(&ph));
    }

    #[test]
    fn ethernet_round_trip(src in mac(), dst in mac(),
                           ethertype in any::<u16>().prop_filter("one tag at most", |t| *t != 0x8100),
                           payload in proptest::collection::vec(any::<u8>(), 0..64)) {
        let repr = EthernetRepr { src, dst, ethertype: EtherType::from(ethertype) };
        let mut buf = vec![0u8; repr.header_len() + payload.len()];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut().copy_from_slice(&payload);
        let f = Frame::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(EthernetRepr::parse(&f).unwrap(), repr);
        prop_assert_eq!(f.payload(), &payload[..]);
        prop_assert_eq!(u16::from(f.ethertype()), ethertype);
    }

    #[test]
    fn arp_round_trip(op in any::<u16>(), sh in mac(), si in ip(), th in mac(), ti in ip()) {
        let repr = arp::ArpRepr {
            operation: arp::ArpOperation::from(op),
            source_hw: sh, source_ip: si, target_hw: th, target_ip: ti,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
        let p = arp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_eq!(arp::ArpRepr::parse(&p).unwrap(), repr);
        prop_assert_eq!(u16::from(p.operation()), op);
    }

    #[test]
    fn ipv4_round_trip(src in unicast_ip(), dst in ip(), proto in any::<u8>(),
                       payload_len in 0usize..2000, ttl in any::<u8>(), tos in any::<u8>(),
                       dont_frag in any::<bool>(), ident in any::<u16>()) {
        let repr = Ipv4Repr {
            src, dst, protocol: IpProtocol::from(proto), payload_len, ttl,
            dscp_ecn: tos, dont_frag, ident,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..]), true);
        let p = ipv4::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert!(!p.is_fragment());
        prop_assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), repr);
    }

    #[test]
    fn icmp_echo_round_trip(request in any::<bool>(), ident in any::<u16>(), seq_no in any::<u16>(),
                            data in proptest::collection::vec(any::<u8>(), 0..600)) {
        let repr = if request {
            Icmpv4Repr::EchoRequest { ident, seq_no, data: &data }
        } else {
            Icmpv4Repr::EchoReply { ident, seq_no, data: &data }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
        let p = icmp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Icmpv4Repr::parse(&p, true).unwrap(), repr);
    }

    #[test]
    fn icmp_error_round_trip(code in 0u8..16, time_exceeded in any::<bool>(), mtu in any::<u16>(),
                             ihl in 5u8..16, rest in proptest::collection::vec(any::<u8>(), 67)) {
        let quoted_len = usize::from(ihl) * 4 + 8;
        let mut original = vec![0x40 | ihl];
        original.extend_from_slice(&rest[..quoted_len - 1]);
        let repr = if time_exceeded {
            let reason = TimeExceeded::from_code(code % 2).unwrap();
            Icmpv4Repr::TimeExceeded { reason, original: &original }
        } else {
            let reason = DstUnreachable::from_code(code).unwrap();
            let next_hop_mtu = if reason == DstUnreachable::FragRequired { mtu } else { 0 };
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, original: &original }
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
        let p = icmp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(p.verify_checksum());
        prop_assert_eq!(Icmpv4Repr::parse(&p, true).unwrap(), repr);
    }

    #[test]
    fn udp_round_trip(src_port in any::<u16>(), dst_port in 1u16.., src in ip(), dst in ip(),
                      payload in proptest::collection::vec(any::<u8>(), 0..1500)) {
        let repr = udp::UdpRepr { src_port, dst_port };
        let mut buf = vec![0u8; repr.buffer_len(payload.len())];
        buf[repr.header_len()..].copy_from_slice(&payload);
        repr.emit(&mut udp::Packet::new_unchecked(&mut buf[..]), payload.len(), src, dst, true);
        let p = udp::Packet::new_checked(&buf[..]).unwrap();
        prop_assert_ne!(p.checksum(), 0);
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(udp::UdpRepr::parse(&p, src, dst, true).unwrap(), repr);
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn parsers_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2000)) {
        wire_lower_common::ethernet(&data);
        wire_lower_common::arp(&data);
        wire_lower_common::ipv4(&data);
        wire_lower_common::icmp(&data);
        wire_lower_common::udp(&data);
    }

    /// Arbitrary bytes rarely pass the version and length checks, so also feed bodies whose
    /// first bytes look like a header of each kind.
    #[test]
    fn parsers_never_panic_on_plausible_headers(
        mut data in proptest::collection::vec(any::<u8>(), 8..1600),
        ihl in 0u8..16,
    ) {
        let len = data.len() as u16;
        // IPv4-looking: version 4, any IHL, total length near the buffer length.
        let mut v4 = data.clone();
        v4[0] = 0x40 | ihl;
        if v4.len() >= 4 {
            let total = len.saturating_sub(u16::from(data[1] % 4));
            v4[2..4].copy_from_slice(&total.to_be_bytes());
        }
        wire_lower_common::ipv4(&v4);
        // UDP-looking: a length field within the buffer.
        let mut u = data.clone();
        u[4..6].copy_from_slice(&len.saturating_sub(u16::from(data[0] % 8)).to_be_bytes());
        wire_lower_common::udp(&u);
        // ICMP error-looking: quoted header starting with version 4.
        let mut m = data.clone();
        m[0] = if data[0] & 1 == 0 { 3 } else { 11 };
        m[1] %= 17;
        if m.len() > 8 {
            m[8] = 0x40 | ihl;
        }
        wire_lower_common::icmp(&m);
        // ARP-looking: Ethernet/IPv4 spaces, random lengths in some cases.
        if data.len() >= 6 {
            let (hlen, plen) = (data[4], data[5]);
            data[..4].copy_from_slice(&[0, 1, 8, 0]);
            if ihl & 1 == 0 {
                data[4] = 6;
                data[5] = 4;
            } else {
                data[4] = hlen % 16;
                data[5] = plen % 16;
            }
        }
        wire_lower_common::arp(&data);
        // Ethernet with a VLAN tag (and perhaps a second one).
        let mut e = data.clone();
        e.resize(e.len().max(14), 0);
        e[12..14].copy_from_slice(&[0x81, 0x00]);
        wire_lower_common::ethernet(&e);
    }
}
