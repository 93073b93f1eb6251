//! One body per lower-layer parser, run both by the property tests on arbitrary bytes
//! (`wire_lower_props.rs`) and by the fuzz targets (`fuzz/fuzz_targets/*.rs`, which include
//! this file by path). Each body wraps the bytes with `new_checked`, calls every accessor,
//! parses the `Repr`, and when that succeeds emits it again and checks that the re-parse
//! gives the same `Repr` and payload. Any panic is a bug.
#![allow(dead_code)]

use std::hint::black_box;
use std::net::Ipv4Addr;

use xdptcp_stack::wire::{arp, ethernet, icmp, ipv4, udp};

pub fn ethernet(data: &[u8]) {
    let Ok(f) = ethernet::Frame::new_checked(data) else {
        return;
    };
    black_box((
        f.dst_addr(),
        f.src_addr(),
        f.outer_ethertype(),
        f.ethertype(),
        f.has_vlan(),
        f.vlan_tci(),
        f.vlan_id(),
        f.header_len(),
        f.payload(),
        f.payload_slice(),
    ));
    let Ok(repr) = ethernet::EthernetRepr::parse(&f) else {
        return;
    };
    let payload = f.payload();
    let mut buf = vec![0u8; repr.header_len() + payload.len()];
    let mut out = ethernet::Frame::new_unchecked(&mut buf[..]);
    repr.emit(&mut out);
    out.payload_mut().copy_from_slice(payload);
    let again = ethernet::Frame::new_checked(&buf[..]).expect("emitted frame must check");
    assert_eq!(ethernet::EthernetRepr::parse(&again), Ok(repr));
    assert_eq!(again.payload(), payload);
}

pub fn arp(data: &[u8]) {
    let Ok(p) = arp::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.hardware_type(),
        p.protocol_type(),
        p.hardware_len(),
        p.protocol_len(),
        p.operation(),
        p.source_hardware_addr(),
        p.source_protocol_addr(),
        p.target_hardware_addr(),
        p.target_protocol_addr(),
    ));
    let Ok(repr) = arp::ArpRepr::parse(&p) else {
        return;
    };
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut arp::Packet::new_unchecked(&mut buf[..]));
    let again = arp::Packet::new_checked(&buf[..]).expect("emitted ARP must check");
    assert_eq!(arp::ArpRepr::parse(&again), Ok(repr));
    // The emitted bytes are the parsed bytes (padding aside) for Ethernet/IPv4 ARP.
    assert_eq!(&buf[..], &data[..arp::PACKET_LEN]);
}

pub fn ipv4(data: &[u8]) {
    let Ok(p) = ipv4::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.version(),
        p.header_len(),
        p.dscp_ecn(),
        p.total_len(),
        p.ident(),
        p.dont_frag(),
        p.more_frags(),
        p.frag_offset(),
        p.is_fragment(),
        p.ttl(),
        p.protocol(),
        p.checksum(),
        p.src_addr(),
        p.dst_addr(),
        p.options(),
        p.verify_checksum(),
        p.payload(),
        p.payload_slice(),
    ));
    let verified = ipv4::Ipv4Repr::parse(&p, true);
    let Ok(repr) = ipv4::Ipv4Repr::parse(&p, false) else {
        assert!(verified.is_err());
        return;
    };
    assert_eq!(verified.is_ok(), p.verify_checksum());
    let payload = p.payload();
    assert_eq!(repr.payload_len, payload.len());
    let mut buf = vec![0u8; repr.buffer_len()];
    let mut out = ipv4::Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out, true);
    out.payload_mut().copy_from_slice(payload);
    let again = ipv4::Packet::new_checked(&buf[..]).expect("emitted IPv4 must check");
    assert!(!again.is_fragment());
    assert_eq!(ipv4::Ipv4Repr::parse(&again, true), Ok(repr));
    assert_eq!(again.payload(), payload);
}

pub fn icmp(data: &[u8]) {
    let Ok(p) = icmp::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.msg_type(),
        p.msg_code(),
        p.checksum(),
        p.echo_ident(),
        p.echo_seq_no(),
        p.next_hop_mtu(),
        p.data(),
        p.verify_checksum(),
    ));
    let verified = icmp::Icmpv4Repr::parse(&p, true);
    let Ok(repr) = icmp::Icmpv4Repr::parse(&p, false) else {
        assert!(verified.is_err());
        return;
    };
    assert_eq!(verified.is_ok(), p.verify_checksum());
    let mut buf = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmp::Packet::new_unchecked(&mut buf[..]), true);
    let again = icmp::Packet::new_checked(&buf[..]).expect("emitted ICMP must check");
    assert_eq!(icmp::Icmpv4Repr::parse(&again, true), Ok(repr));
}

/// Fixed addresses for the UDP pseudo-header.
const UDP_SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const UDP_DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

pub fn udp(data: &[u8]) {
    let Ok(p) = udp::Packet::new_checked(data) else {
        return;
    };
    black_box((
        p.src_port(),
        p.dst_port(),
        p.len(),
        p.is_empty(),
        p.checksum(),
        p.verify_checksum(UDP_SRC, UDP_DST),
        p.payload(),
        p.payload_slice(),
    ));
    let verified = udp::UdpRepr::parse(&p, UDP_SRC, UDP_DST, true);
    let Ok(repr) = udp::UdpRepr::parse(&p, UDP_SRC, UDP_DST, false) else {
        assert!(verified.is_err());
        return;
    };
    assert_eq!(verified.is_ok(), p.verify_checksum(UDP_SRC, UDP_DST));
    let payload = p.payload();
    let mut buf = vec![0u8; repr.buffer_len(payload.len())];
    buf[repr.header_len()..].copy_from_slice(payload);
    let mut out = udp::Packet::new_unchecked(&mut buf[..]);
    repr.emit(&mut out, payload.len(), UDP_SRC, UDP_DST, true);
    let again = udp::Packet::new_checked(&buf[..]).expect("emitted UDP must check");
    assert_ne!(again.checksum(), 0, "a filled checksum is never sent as 0");
    assert_eq!(udp::UdpRepr::parse(&again, UDP_SRC, UDP_DST, true), Ok(repr));
    assert_eq!(again.payload(), payload);
}
