//! Parse and emit of whole lower-layer frames, in frames per second: Ethernet + IPv4 + UDP
//! (with and without software checksum work, as when the NIC offloads it) and Ethernet + ARP.
use std::hint::black_box;
use std::net::Ipv4Addr;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use xdptcp_stack::wire::arp::{self, ArpOperation, ArpRepr};
use xdptcp_stack::wire::ethernet::{EtherType, EthernetAddress, EthernetRepr, Frame};
use xdptcp_stack::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use xdptcp_stack::wire::udp::{self, UdpRepr};
use xdptcp_stack::wire::Result;

const SRC_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 1]);
const DST_MAC: EthernetAddress = EthernetAddress([0x02, 0, 0, 0, 0, 2]);
const SRC_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
/// A small request/response datagram, typical of the RPC traffic the stack targets.
const UDP_PAYLOAD: usize = 64;

fn reprs() -> (EthernetRepr, Ipv4Repr, UdpRepr) {
    let udp = UdpRepr { src_port: 40000, dst_port: 7 };
    let ip = Ipv4Repr {
        src: SRC_IP,
        dst: DST_IP,
        protocol: IpProtocol::Udp,
        payload_len: udp.buffer_len(UDP_PAYLOAD),
        ttl: 64,
        dscp_ecn: 0,
        dont_frag: true,
        ident: 0,
    };
    let eth = EthernetRepr { src: SRC_MAC, dst: DST_MAC, ethertype: EtherType::Ipv4 };
    (eth, ip, udp)
}

fn emit_udp(frame: &mut [u8], payload: &[u8], checksums: bool) {
    let (eth, ip, udp) = reprs();
    let mut f = Frame::new_unchecked(frame);
    eth.emit(&mut f);
    let mut p = ipv4::Packet::new_unchecked(f.payload_mut());
    ip.emit(&mut p, checksums);
    let seg = p.payload_mut();
    seg[udp.header_len()..udp.header_len() + payload.len()].copy_from_slice(payload);
    let mut d = udp::Packet::new_unchecked(seg);
    udp.emit(&mut d, payload.len(), SRC_IP, DST_IP, checksums);
}

/// Everything the interface layer reads from a UDP frame; returns the payload length.
fn parse_udp(frame: &[u8], checksums: bool) -> Result<usize> {
    let f = Frame::new_checked(frame)?;
    let eth = EthernetRepr::parse(&f)?;
    debug_assert_eq!(eth.ethertype, EtherType::Ipv4);
    let p = ipv4::Packet::new_checked(f.payload_slice())?;
    let ip = Ipv4Repr::parse(&p, checksums)?;
    let d = udp::Packet::new_checked(p.payload_slice())?;
    let u = UdpRepr::parse(&d, ip.src, ip.dst, checksums)?;
    black_box(u);
    Ok(d.payload_slice().len())
}

fn udp_frames(c: &mut Criterion) {
    let (eth, ip, _) = reprs();
    let len = eth.header_len() + ip.buffer_len();
    let payload = vec![0xabu8; UDP_PAYLOAD];
    let mut frame = vec![0u8; len];
    emit_udp(&mut frame, &payload, true);
    assert_eq!(parse_udp(&frame, true), Ok(UDP_PAYLOAD));

    let mut g = c.benchmark_group("wire/eth_ipv4_udp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_verify_checksums", |b| b.iter(|| parse_udp(black_box(&frame), true)));
    g.bench_function("parse_offloaded_checksums", |b| {
        b.iter(|| parse_udp(black_box(&frame), false))
    });
    let mut out = vec![0u8; len];
    g.bench_function("emit_fill_checksums", |b| {
        b.iter(|| emit_udp(black_box(&mut out), black_box(&payload), true))
    });
    g.bench_function("emit_offloaded_checksums", |b| {
        b.iter(|| emit_udp(black_box(&mut out), black_box(&payload), false))
    });
    g.finish();
}

fn arp_frames(c: &mut Criterion) {
    let eth =
        EthernetRepr { src: SRC_MAC, dst: EthernetAddress::BROADCAST, ethertype: EtherType::Arp };
    let repr = ArpRepr {
        operation: ArpOperation::Request,
        source_hw: SRC_MAC,
        source_ip: SRC_IP,
        target_hw: EthernetAddress([0; 6]),
        target_ip: DST_IP,
    };
    // Padded to the 60-byte Ethernet minimum, as a request arrives on the wire.
    let len = 60;
    let emit = |buf: &mut [u8]| {
        let mut f = Frame::new_unchecked(buf);
        eth.emit(&mut f);
        repr.emit(&mut arp::Packet::new_unchecked(f.payload_mut()));
    };
    let parse = |buf: &[u8]| -> Result<ArpRepr> {
        let f = Frame::new_checked(buf)?;
        EthernetRepr::parse(&f)?;
        ArpRepr::parse(&arp::Packet::new_checked(f.payload_slice())?)
    };
    let mut frame = vec![0u8; len];
    emit(&mut frame);
    assert_eq!(parse(&frame), Ok(repr));

    let mut g = c.benchmark_group("wire/eth_arp");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse", |b| b.iter(|| parse(black_box(&frame))));
    let mut out = vec![0u8; len];
    g.bench_function("emit", |b| b.iter(|| emit(black_box(&mut out))));
    g.finish();
}

criterion_group!(benches, udp_frames, arp_frames);
criterion_main!(benches);
