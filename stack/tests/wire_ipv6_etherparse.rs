//! Cross-checks of the IPv6 and ICMPv6 wire formats against etherparse, an independent
//! implementation: headers and messages it writes parse to the same fields here (checksums
//! verified), ours parse to the same fields there with checksums it agrees with, and no input
//! makes a parser panic.

use std::net::Ipv6Addr;

use etherparse::{
    icmpv6, IcmpEchoHeader, Icmpv6Header, Icmpv6Slice, Icmpv6Type, IpNumber, Ipv6FlowLabel,
    Ipv6Header, UdpHeader,
};
use proptest::prelude::*;

mod wire_ipv6_common;
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::icmpv6::{Icmpv6Repr, NdpOptions};
use xdptcp_stack::wire::ipv6::{self, Ipv6Repr};
use xdptcp_stack::wire::udp;

fn unicast() -> impl Strategy<Value = Ipv6Addr> {
    any::<[u8; 16]>().prop_map(Ipv6Addr::from).prop_filter("unicast", |a| !a.is_multicast())
}

fn theirs(h: &Ipv6Header, payload: &[u8]) -> Vec<u8> {
    let mut b = Vec::new();
    h.write(&mut b).unwrap();
    b.extend_from_slice(payload);
    b
}

/// One ICMPv6 message etherparse can build, from a selector and values.
fn their_icmp(which: u8, a: u16, b: u16, code: u8) -> Icmpv6Type {
    match which % 6 {
        0 => Icmpv6Type::EchoRequest(IcmpEchoHeader { id: a, seq: b }),
        1 => Icmpv6Type::EchoReply(IcmpEchoHeader { id: a, seq: b }),
        2 => Icmpv6Type::DestinationUnreachable(
            icmpv6::DestUnreachableCode::from_u8(code % 7).unwrap(),
        ),
        3 => Icmpv6Type::PacketTooBig { mtu: u32::from(a) << 16 | u32::from(b) },
        4 => Icmpv6Type::TimeExceeded(icmpv6::TimeExceededCode::from_u8(code % 2).unwrap()),
        _ => Icmpv6Type::ParameterProblem(icmpv6::ParameterProblemHeader {
            code: icmpv6::ParameterProblemCode::from_u8(code % 3).unwrap(),
            pointer: u32::from(a),
        }),
    }
}

proptest! {
    #[test]
    fn their_headers_parse_here(
        src in unicast(), dst in any::<[u8; 16]>(), tc in any::<u8>(),
        flow in 0u32..(1 << 20), hop in any::<u8>(), next in 0u8..=255,
        payload in proptest::collection::vec(any::<u8>(), 0..64),
    ) {
        // Only a non-extension next header, so the walk ends at once.
        prop_assume!(![0u8, 43, 44, 60].contains(&next));
        let h = Ipv6Header {
            traffic_class: tc,
            flow_label: Ipv6FlowLabel::try_new(flow).unwrap(),
            payload_length: payload.len() as u16,
            next_header: IpNumber(next),
            hop_limit: hop,
            source: src.octets(),
            destination: dst,
        };
        let b = theirs(&h, &payload);
        let p = ipv6::Packet::new_checked(&b[..]).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        prop_assert_eq!((r.src, r.dst), (src, Ipv6Addr::from(dst)));
        prop_assert_eq!((r.traffic_class, r.flow_label, r.hop_limit), (tc, flow, hop));
        prop_assert_eq!((r.next_header, r.payload_len, r.upper_offset), (next, payload.len(), 0));
        prop_assert_eq!(p.payload(), &payload[..]);
    }

    #[test]
    fn our_headers_parse_there(
        src in unicast(), dst in unicast(), tc in any::<u8>(), flow in 0u32..(1 << 20),
        hop in any::<u8>(), next in any::<u8>(), len in 0usize..64,
    ) {
        let repr = Ipv6Repr {
            src, dst, next_header: next, payload_len: len, hop_limit: hop, traffic_class: tc,
            flow_label: flow, upper_offset: 0, fragment: None, routing_error_at: None,
        };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut ipv6::Packet::new_unchecked(&mut b[..]));
        let (h, rest) = Ipv6Header::from_slice(&b).unwrap();
        prop_assert_eq!(h.source, src.octets());
        prop_assert_eq!(h.destination, dst.octets());
        prop_assert_eq!((h.traffic_class, h.flow_label.value(), h.hop_limit), (tc, flow, hop));
        prop_assert_eq!((h.next_header.0, usize::from(h.payload_length), rest.len()), (next, len, len));
    }

    #[test]
    fn their_icmp_messages_parse_here(
        src in unicast(), dst in unicast(), which in any::<u8>(), a in any::<u16>(),
        b in any::<u16>(), code in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let ty = their_icmp(which, a, b, code);
        let h = Icmpv6Header::with_checksum(ty, src.octets(), dst.octets(), &body).unwrap();
        let mut msg = h.to_bytes().to_vec();
        msg.extend_from_slice(&body);
        let ours = Icmpv6Repr::parse(src, dst, &msg, true).unwrap();
        let expect = match ty {
            Icmpv6Type::EchoRequest(e) => Icmpv6Repr::EchoRequest { ident: e.id, seq: e.seq, data: &body },
            Icmpv6Type::EchoReply(e) => Icmpv6Repr::EchoReply { ident: e.id, seq: e.seq, data: &body },
            Icmpv6Type::DestinationUnreachable(c) => {
                Icmpv6Repr::DstUnreachable { code: c.code_u8(), invoking: &body }
            }
            Icmpv6Type::PacketTooBig { mtu } => Icmpv6Repr::PacketTooBig { mtu, invoking: &body },
            Icmpv6Type::TimeExceeded(c) => Icmpv6Repr::TimeExceeded { code: c.code_u8(), invoking: &body },
            Icmpv6Type::ParameterProblem(p) => Icmpv6Repr::ParamProblem {
                code: p.code.code_u8(),
                pointer: p.pointer,
                invoking: &body,
            },
            other => unreachable!("not generated: {other:?}"),
        };
        prop_assert_eq!(ours, expect);
    }

    #[test]
    fn our_icmp_messages_parse_there(
        src in unicast(), dst in unicast(), which in 0u8..9, a in any::<u16>(), b in any::<u16>(),
        code in any::<u8>(), target in unicast(), mac in any::<[u8; 6]>(), flags in any::<u8>(),
        body in proptest::collection::vec(any::<u8>(), 0..80),
    ) {
        let ll = (flags & 1 != 0).then_some(EthernetAddress(mac));
        let repr = match which {
            0 => Icmpv6Repr::EchoRequest { ident: a, seq: b, data: &body },
            1 => Icmpv6Repr::EchoReply { ident: a, seq: b, data: &body },
            2 => Icmpv6Repr::DstUnreachable { code: code % 7, invoking: &body },
            3 => Icmpv6Repr::PacketTooBig { mtu: u32::from(a), invoking: &body },
            4 => Icmpv6Repr::TimeExceeded { code: code % 2, invoking: &body },
            5 => Icmpv6Repr::ParamProblem { code: code % 3, pointer: u32::from(b), invoking: &body },
            6 => Icmpv6Repr::RouterSolicit { source_ll: ll },
            7 => Icmpv6Repr::NeighborSolicit { target, source_ll: ll },
            _ => Icmpv6Repr::NeighborAdvert {
                router: flags & 2 != 0,
                solicited: flags & 4 != 0,
                override_: flags & 8 != 0,
                target,
                target_ll: ll,
            },
        };
        let mut msg = vec![0u8; repr.buffer_len()];
        repr.emit(src, dst, &mut msg, true);
        let s = Icmpv6Slice::from_slice(&msg).unwrap();
        prop_assert!(s.is_checksum_valid(src.octets(), dst.octets()));
        let ty = s.icmp_type();
        let same = match (repr, ty) {
            (Icmpv6Repr::EchoRequest { ident, seq, .. }, Icmpv6Type::EchoRequest(e))
            | (Icmpv6Repr::EchoReply { ident, seq, .. }, Icmpv6Type::EchoReply(e)) => (ident, seq) == (e.id, e.seq),
            (Icmpv6Repr::DstUnreachable { code, .. }, Icmpv6Type::DestinationUnreachable(c)) => code == c.code_u8(),
            (Icmpv6Repr::PacketTooBig { mtu, .. }, Icmpv6Type::PacketTooBig { mtu: m }) => mtu == m,
            (Icmpv6Repr::TimeExceeded { code, .. }, Icmpv6Type::TimeExceeded(c)) => code == c.code_u8(),
            (Icmpv6Repr::ParamProblem { code, pointer, .. }, Icmpv6Type::ParameterProblem(p)) => {
                (code, pointer) == (p.code.code_u8(), p.pointer)
            }
            (Icmpv6Repr::RouterSolicit { .. }, Icmpv6Type::RouterSolicitation) => true,
            (Icmpv6Repr::NeighborSolicit { .. }, Icmpv6Type::NeighborSolicitation) => true,
            (Icmpv6Repr::NeighborAdvert { router, solicited, override_, .. }, Icmpv6Type::NeighborAdvertisement(h)) => {
                (router, solicited, override_) == (h.router, h.solicited, h.r#override)
            }
            _ => false,
        };
        prop_assert!(same, "{:?} read back as {:?}", repr, ty);
        // Neighbor Discovery: the target and the link-layer option are where etherparse's
        // payload says.
        if let Icmpv6Repr::NeighborSolicit { target: t, .. } | Icmpv6Repr::NeighborAdvert { target: t, .. } = repr {
            let p = s.payload();
            prop_assert_eq!(&p[..16], &t.octets()[..]);
            let opts = NdpOptions::new(&p[16..]);
            prop_assert_eq!(opts.check(), Ok(()));
            prop_assert_eq!(opts.clone().count(), usize::from(ll.is_some()));
        }
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        wire_ipv6_common::ipv6(&bytes);
        wire_ipv6_common::icmpv6(&bytes);
    }

    #[test]
    fn random_extension_chains_never_panic(
        next in prop::sample::select(vec![0u8, 43, 44, 60, 6, 17, 58, 59]),
        ext in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let mut b = vec![0x60, 0, 0, 0, 0, ext.len() as u8, next, 64];
        b.extend([0x20; 16]);
        b.extend([0x20; 16]);
        b.extend(&ext);
        let p = ipv6::Packet::new_checked(&b[..]).unwrap();
        if let Ok(r) = Ipv6Repr::parse(&p) {
            prop_assert!(r.upper_offset + r.payload_len == ext.len());
        }
    }
}

/// Found by the fuzzer: an error longer than the minimum MTU allows re-emits with its quote cut
/// to `MAX_QUOTE`, and the shared body expects exactly that.
#[test]
fn a_long_error_re_emits_with_its_quote_cut() {
    let mut msg = vec![3u8, 1, 0, 0, 0, 0, 0, 0];
    msg.extend((0..1400).map(|i| i as u8));
    wire_ipv6_common::icmpv6(&msg);
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let r = Icmpv6Repr::parse(src, src, &msg, false).unwrap();
    assert_eq!(r.buffer_len(), xdptcp_stack::wire::icmpv6::MAX_QUOTE + 8);
}

proptest! {
    /// UDP over IPv6 (RFC 8200 §8.1): our checksum is etherparse's, and theirs verifies here;
    /// a flipped byte or a zero checksum does not.
    #[test]
    fn udp_checksums_over_ipv6_agree(
        src in unicast(), dst in unicast(), sp in any::<u16>(), dp in any::<u16>(),
        payload in proptest::collection::vec(any::<u8>(), 0..200), flip in any::<usize>(),
    ) {
        let n = (udp::HEADER_LEN + payload.len()) as u16;
        let mut ours = vec![0u8; usize::from(n)];
        ours[udp::HEADER_LEN..].copy_from_slice(&payload);
        let mut p = udp::Packet::new_unchecked(&mut ours[..]);
        p.set_src_port(sp);
        p.set_dst_port(dp);
        p.set_len(n);
        let mut p = udp::Packet::new_unchecked(&mut ours[..]);
        p.fill_checksum_v6(src, dst);
        let h = UdpHeader { source_port: sp, destination_port: dp, length: n, checksum: 0 };
        let want = h.calc_checksum_ipv6_raw(src.octets(), dst.octets(), &payload).unwrap();
        prop_assert_eq!(udp::Packet::new_checked(&ours[..]).unwrap().checksum(), want);
        let mut theirs = Vec::new();
        UdpHeader { checksum: want, ..h }.write(&mut theirs).unwrap();
        theirs.extend_from_slice(&payload);
        prop_assert!(udp::Packet::new_checked(&theirs[..]).unwrap().verify_checksum_v6(src, dst));
        let i = flip % theirs.len();
        theirs[i] ^= 0x01;
        let broken = udp::Packet::new_checked(&theirs[..]);
        prop_assert!(broken.map_or(true, |b| !b.verify_checksum_v6(src, dst)));
        let mut zero = ours.clone();
        zero[6..8].fill(0);
        prop_assert!(!udp::Packet::new_checked(&zero[..]).unwrap().verify_checksum_v6(src, dst));
    }
}
