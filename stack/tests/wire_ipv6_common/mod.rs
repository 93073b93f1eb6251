//! Bodies shared by the IPv6 fuzz targets (fuzz/fuzz_targets/ipv6.rs, icmpv6.rs) and the
//! property test `random_bytes_never_panic` in stack/tests/wire_ipv6_etherparse.rs: parse
//! arbitrary bytes, and whatever parses must emit and parse back to the same thing.
#![allow(dead_code)] // each fuzz target uses one of the two

use std::hint::black_box;
use std::net::Ipv6Addr;

use xdptcp_stack::wire::icmpv6::{Icmpv6Repr, NdpOptions, MAX_QUOTE};
use xdptcp_stack::wire::ipv6::{self, Ipv6Repr};

/// An IPv6 packet: every accessor, the extension-header walk, and for a packet without
/// extension headers, emit and re-parse.
pub fn ipv6(data: &[u8]) {
    let Ok(p) = ipv6::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.version(),
        p.traffic_class(),
        p.flow_label(),
        p.payload_len(),
        p.next_header(),
        p.hop_limit(),
        p.src_addr(),
        p.dst_addr(),
        p.payload(),
    ));
    let Ok(repr) = Ipv6Repr::parse(&p) else {
        return;
    };
    assert_eq!(repr.upper_offset + repr.payload_len, p.payload().len());
    if repr.upper_offset == 0 {
        let mut buf = vec![0u8; repr.buffer_len()];
        let mut out = ipv6::Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut out);
        out.payload_mut().copy_from_slice(p.payload());
        let again = ipv6::Packet::new_checked(&buf[..]).expect("emitted IPv6 must check");
        assert_eq!(Ipv6Repr::parse(&again), Ok(repr));
    }
}

/// An ICMPv6 message between two fixed addresses: parsed with and without its checksum, and
/// what parses emits to a message that parses back the same with a valid checksum.
pub fn icmpv6(data: &[u8]) {
    let src = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    let dst = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 1, 0xff00, 2);
    for o in NdpOptions::new(data) {
        black_box(o.ok());
    }
    let verified = Icmpv6Repr::parse(src, dst, data, true);
    let Ok(repr) = Icmpv6Repr::parse(src, dst, data, false) else {
        assert!(verified.is_err());
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    let n = repr.emit(src, dst, &mut buf, true);
    let again = Icmpv6Repr::parse(src, dst, &buf[..n], true).expect("emitted ICMPv6 must parse");
    // Link-layer options other than the first, and unknown options, are not re-emitted; an
    // error quotes at most MAX_QUOTE bytes of its invoking packet.
    match (repr, again) {
        (Icmpv6Repr::RouterSolicit { .. }, _)
        | (Icmpv6Repr::NeighborSolicit { .. }, _)
        | (Icmpv6Repr::NeighborAdvert { .. }, _) => {
            assert_eq!(core::mem::discriminant(&repr), core::mem::discriminant(&again))
        }
        _ => assert_eq!(again, clamped(repr)),
    }
}

/// `repr` with an error's quote cut to what an emitted message carries.
fn clamped(repr: Icmpv6Repr<'_>) -> Icmpv6Repr<'_> {
    fn cut(q: &[u8]) -> &[u8] {
        &q[..q.len().min(MAX_QUOTE)]
    }
    match repr {
        Icmpv6Repr::DstUnreachable { code, invoking } => {
            Icmpv6Repr::DstUnreachable { code, invoking: cut(invoking) }
        }
        Icmpv6Repr::PacketTooBig { mtu, invoking } => {
            Icmpv6Repr::PacketTooBig { mtu, invoking: cut(invoking) }
        }
        Icmpv6Repr::TimeExceeded { code, invoking } => {
            Icmpv6Repr::TimeExceeded { code, invoking: cut(invoking) }
        }
        Icmpv6Repr::ParamProblem { code, pointer, invoking } => {
            Icmpv6Repr::ParamProblem { code, pointer, invoking: cut(invoking) }
        }
        other => other,
    }
}
