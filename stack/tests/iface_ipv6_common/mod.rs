//! A hostile link against an interface with IPv6 on: the bytes decode into frames (raw, or
//! built around valid Ethernet and IPv6 headers so that the fuzzer reaches Neighbor Discovery,
//! ICMPv6 and UDP), time steps and sends, and after every step each frame the interface
//! transmits must be well formed: Ethernet, IPv6 (or ARP) that parses, from one of our
//! addresses (or `::` for a detection probe), with a good ICMPv6 or UDP checksum. Shared by
//! the fuzz target `iface_ipv6` and the property test in iface_ipv6_hostile.rs.

use std::net::{Ipv4Addr, Ipv6Addr};

use xdptcp_stack::iface::{
    DeviceCaps, IfaceCounters, Interface, InterfaceConfig, Ipv6Cidr, Ipv6Config,
};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::{self, EtherType, EthernetAddress};
use xdptcp_stack::wire::icmpv6::solicited_node;
use xdptcp_stack::wire::ipv6;
use xdptcp_stack::wire::{checksum, udp};

const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);
const G1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
const G2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 1);

/// Runs the bytes; panics (with the reason) if an invariant breaks. Returns the interface's
/// counters, so a test can check which paths the bytes reached.
pub fn run(data: &[u8]) -> IfaceCounters {
    let mut c = InterfaceConfig::new(MAC, Ipv4Addr::new(198, 18, 0, 1), 24);
    c.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(G1, 64), Ipv6Cidr::new(G2, 48)]);
    c.ipv6.dad_transmits = u32::from(data.first().copied().unwrap_or(0) % 3);
    c.tx_queue_capacity = 16;
    let mut iface = Interface::new(c, DeviceCaps::ethernet(1500));
    let udp_socket = iface.udp_bind(7).ok();
    let link_local = iface.ipv6().addresses()[0].cidr.addr;
    let ours = [G1, G2, link_local];
    let mut now = Instant::ZERO;
    let mut frames = 0u64;
    let mut rest = data.get(1..).unwrap_or(&[]);
    let mut out = vec![0u8; 1514];
    // The driver polls at once: detection starts at time zero.
    while let Some(n) = iface.poll_transmit(now, &mut out) {
        check_out(&out[..n], &ours);
    }
    while let Some((&op, tail)) = rest.split_first() {
        let len = usize::from(tail.first().copied().unwrap_or(0)).min(tail.len().saturating_sub(1));
        let body = tail.get(1..1 + len).unwrap_or(&[]);
        rest = tail.get(1 + len..).unwrap_or(&[]);
        match op % 8 {
            0 => now += Duration::from_millis(u64::from(len as u8) * 20),
            1 => {
                // A send that may need resolution (or be off-link with no router).
                let dst = addr(body, &ours);
                let _ = iface.icmpv6_echo_request(now, dst, 1, 1, body);
                if let Some(h) = udp_socket {
                    let _ = iface.udp_send_to(now, h, (dst, 9), body);
                }
            }
            2 => {
                frames += 1;
                iface.receive(now, body);
            }
            _ => {
                frames += 1;
                let f = frame(op, body, &ours);
                iface.receive(now, &f);
            }
        }
        if let Some(h) = udp_socket {
            while iface.udp_recv_from(h).is_some() {
                iface.udp_consume(h);
            }
        }
        while let Some(n) = iface.poll_transmit(now, &mut out) {
            check_out(&out[..n], &ours);
        }
    }
    assert_eq!(iface.counters().rx_frames, frames, "every frame counted once");
    iface.counters().clone()
}

/// An address from the bytes: one of ours, a neighbour on one of our prefixes, or anything.
fn addr(b: &[u8], ours: &[Ipv6Addr; 3]) -> Ipv6Addr {
    let pick = b.first().copied().unwrap_or(0);
    let mut o = [0u8; 16];
    for (i, x) in b.iter().skip(1).take(16).enumerate() {
        o[i] = *x;
    }
    match pick % 4 {
        0 => ours[usize::from(pick / 4) % 3],
        1 => {
            let mut a = G1.octets();
            a[15] = o[15];
            Ipv6Addr::from(a)
        }
        2 => solicited_node(ours[usize::from(pick / 4) % 3]),
        _ => Ipv6Addr::from(o),
    }
}

/// A frame around `body`: Ethernet (unicast to us, or a group), IPv6 from a neighbour or
/// from `::` to one of our addresses or groups, then ICMPv6 with a good checksum, UDP with a
/// good checksum, or the bytes as they are.
fn frame(op: u8, body: &[u8], ours: &[Ipv6Addr; 3]) -> Vec<u8> {
    let src = if op & 0x40 != 0 {
        Ipv6Addr::UNSPECIFIED
    } else {
        Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, u16::from(op) + 2)
    };
    let dst = addr(body, ours);
    let upper_kind = (op >> 3) % 3;
    let (next, mut upper) = match upper_kind {
        0 => (58u8, body.get(2..).unwrap_or(&[]).to_vec()),
        1 => (17, {
            let mut u = vec![0u8; 8];
            u.extend_from_slice(body.get(2..).unwrap_or(&[]));
            u[0..2].copy_from_slice(&4000u16.to_be_bytes());
            u[2..4].copy_from_slice(&7u16.to_be_bytes());
            let l = u.len() as u16;
            u[4..6].copy_from_slice(&l.to_be_bytes());
            u
        }),
        _ => (body.get(1).copied().unwrap_or(59), body.get(2..).unwrap_or(&[]).to_vec()),
    };
    if next == 58 && upper.len() >= 4 {
        upper[2..4].fill(0);
        let pseudo = ipv6::pseudo_header(src, dst, 58, upper.len() as u32);
        let sum = checksum::combine(&[pseudo, checksum::sum(&upper)]);
        upper[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    if upper_kind == 1 {
        let mut p = udp::Packet::new_unchecked(&mut upper[..]);
        p.fill_checksum_v6(src, dst);
    }
    let dst_mac = if dst.is_multicast() {
        let o = dst.octets();
        EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
    } else {
        MAC
    };
    let mut f = vec![0u8; 14 + 40];
    f[0..6].copy_from_slice(&dst_mac.0);
    f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 2]);
    f[12..14].copy_from_slice(&[0x86, 0xdd]);
    f[14] = 0x60;
    f[18..20].copy_from_slice(&(upper.len() as u16).to_be_bytes());
    f[20] = next;
    f[21] = if op & 0x80 != 0 { 64 } else { 255 };
    f[22..38].copy_from_slice(&src.octets());
    f[38..54].copy_from_slice(&dst.octets());
    f.extend_from_slice(&upper);
    f
}

/// What the interface sends must be well formed and from one of our addresses.
fn check_out(f: &[u8], ours: &[Ipv6Addr; 3]) {
    assert!(f.len() <= 1514, "frame over the MTU: {}", f.len());
    let eth = ethernet::Frame::new_checked(f).expect("Ethernet header");
    assert_eq!(eth.src_addr(), MAC, "our MAC as the source");
    match eth.ethertype() {
        EtherType::Arp => return,
        EtherType::Ipv6 => {}
        other => panic!("sent {other}"),
    }
    let ip = ipv6::Packet::new_checked(eth.payload()).expect("IPv6 header");
    let src = ip.src_addr();
    assert!(ours.contains(&src) || src.is_unspecified(), "sent from {src}");
    let payload = ip.payload();
    match ip.next_header() {
        58 => {
            let pseudo = ipv6::pseudo_header(src, ip.dst_addr(), 58, payload.len() as u32);
            assert!(checksum::verify(pseudo, payload), "ICMPv6 checksum");
            if src.is_unspecified() {
                assert_eq!(payload.first(), Some(&135), "only a detection probe from ::");
            }
        }
        17 => {
            let p = udp::Packet::new_checked(payload).expect("UDP header");
            assert!(p.verify_checksum_v6(src, ip.dst_addr()), "UDP checksum");
        }
        other => panic!("sent next header {other}"),
    }
}
