//! Shared fixtures for the `iface_*` integration tests: addresses, frame builders (made with
//! the wire Reprs) and an independent RFC 1071 checksum to verify what the interface emits.
#![allow(dead_code)]

use std::net::Ipv4Addr;

use xdptcp_stack::iface::{DeviceCaps, Interface, InterfaceConfig};
use xdptcp_stack::time::Instant;
use xdptcp_stack::wire::arp::{self, ArpOperation, ArpRepr};
use xdptcp_stack::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use xdptcp_stack::wire::icmp::{self, Icmpv4Repr};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::udp::{self, UdpRepr};

pub const OUR_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x01]);
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const PEER_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0x02]);
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const GW_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 0xfe]);
pub const GW_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);
pub const REMOTE_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 7);

pub fn t(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

pub fn config() -> InterfaceConfig {
    InterfaceConfig::new(OUR_MAC, OUR_IP, 24)
}

pub fn iface() -> Interface {
    Interface::new(config(), DeviceCaps::ethernet(1500))
}

/// RFC 1071, written out independently of the crate's checksum module.
pub fn rfc1071(parts: &[&[u8]]) -> u16 {
    let mut all = Vec::new();
    for p in parts {
        all.extend_from_slice(p);
    }
    if all.len() % 2 == 1 {
        all.push(0);
    }
    let mut acc: u32 = 0;
    for w in all.chunks(2) {
        acc += u32::from(w[0]) << 8 | u32::from(w[1]);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

pub fn pseudo(src: Ipv4Addr, dst: Ipv4Addr, proto: u8, len: usize) -> Vec<u8> {
    let mut p = Vec::new();
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(&[0, proto]);
    p.extend_from_slice(&(len as u16).to_be_bytes());
    p
}

pub fn eth(
    src: EthernetAddress,
    dst: EthernetAddress,
    ethertype: EtherType,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = vec![0u8; ethernet::HEADER_LEN + payload.len()];
    EthernetRepr { src, dst, ethertype }.emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
    f[ethernet::HEADER_LEN..].copy_from_slice(payload);
    f
}

pub fn arp_frame(
    op: ArpOperation,
    src_mac: EthernetAddress,
    src_ip: Ipv4Addr,
    target_mac: EthernetAddress,
    target_ip: Ipv4Addr,
    eth_dst: EthernetAddress,
) -> Vec<u8> {
    let repr = ArpRepr {
        operation: op,
        source_hw: src_mac,
        source_ip: src_ip,
        target_hw: target_mac,
        target_ip,
    };
    let mut body = vec![0u8; arp::PACKET_LEN];
    repr.emit(&mut arp::Packet::new_unchecked(&mut body[..]));
    eth(src_mac, eth_dst, EtherType::Arp, &body)
}

pub fn arp_request_for(target_ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(
        ArpOperation::Request,
        PEER_MAC,
        PEER_IP,
        EthernetAddress([0; 6]),
        target_ip,
        EthernetAddress::BROADCAST,
    )
}

pub fn arp_reply_from(mac: EthernetAddress, ip: Ipv4Addr) -> Vec<u8> {
    arp_frame(ArpOperation::Reply, mac, ip, OUR_MAC, OUR_IP, OUR_MAC)
}

/// An IPv4 packet with a valid header checksum.
pub fn ipv4(src: Ipv4Addr, dst: Ipv4Addr, protocol: IpProtocol, payload: &[u8]) -> Vec<u8> {
    let repr = Ipv4Repr {
        src,
        dst,
        protocol,
        payload_len: payload.len(),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 0x1234,
    };
    let mut p = vec![0u8; repr.buffer_len()];
    p[ipv4::HEADER_LEN..].copy_from_slice(payload);
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut p[..]), true);
    p
}

pub fn udp(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    let mut d = vec![0u8; udp::HEADER_LEN + payload.len()];
    d[udp::HEADER_LEN..].copy_from_slice(payload);
    UdpRepr { src_port: src.1, dst_port: dst.1 }.emit(
        &mut udp::Packet::new_unchecked(&mut d[..]),
        payload.len(),
        src.0,
        dst.0,
        true,
    );
    d
}

pub fn echo_request(ident: u16, seq_no: u16, data: &[u8]) -> Vec<u8> {
    let repr = Icmpv4Repr::EchoRequest { ident, seq_no, data };
    let mut m = vec![0u8; repr.buffer_len()];
    repr.emit(&mut icmp::Packet::new_unchecked(&mut m[..]), true);
    m
}

/// An Ethernet frame from the peer to us carrying an IPv4 packet.
pub fn from_peer(ip_packet: &[u8]) -> Vec<u8> {
    eth(PEER_MAC, OUR_MAC, EtherType::Ipv4, ip_packet)
}

pub fn udp_frame(src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16), payload: &[u8]) -> Vec<u8> {
    from_peer(&ipv4(src.0, dst.0, IpProtocol::Udp, &udp(src, dst, payload)))
}

/// Every frame `poll_transmit` hands out at `now`.
pub fn drain(iface: &mut Interface, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; iface.caps().max_frame_len()];
    while let Some(n) = iface.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
        assert!(out.len() < 10_000, "poll_transmit never ran dry");
    }
    out
}

/// Splits an Ethernet frame into (dst, src, ethertype, payload).
pub fn split_eth(f: &[u8]) -> (EthernetAddress, EthernetAddress, u16, &[u8]) {
    assert!(f.len() >= 14, "short frame");
    (
        EthernetAddress(f[0..6].try_into().unwrap()),
        EthernetAddress(f[6..12].try_into().unwrap()),
        u16::from_be_bytes([f[12], f[13]]),
        &f[14..],
    )
}

/// Checks an IPv4 header by hand (version, IHL, total length, header checksum) and returns
/// (src, dst, protocol, ttl, payload).
pub fn check_ipv4(p: &[u8]) -> (Ipv4Addr, Ipv4Addr, u8, u8, &[u8]) {
    assert_eq!(p[0], 0x45, "version/IHL");
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    assert_eq!(total, p.len(), "total length");
    assert_eq!(rfc1071(&[&p[..20]]), 0, "IPv4 header checksum");
    assert_eq!(p[6] & 0x40, 0x40, "DF set");
    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
    let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
    (src, dst, p[9], p[8], &p[20..])
}
