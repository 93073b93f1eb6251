//! The TCP-facing send path (`send_ip` building in place) and raw-IP (`Medium::Ip`) devices.

mod iface_util;

use iface_util::*;
use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps, Interface, IpSend, Received, SendError};
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::ipv4::IpProtocol;

#[test]
fn send_ip_lets_caller_build_segment_in_place() {
    let mut i = iface();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    let mut frame = vec![0u8; i.caps().max_frame_len()];
    let frame_range = frame.as_ptr_range();
    let segment = b"\x04\xd2\x00\x50tcp-segment-bytes";
    let r = i.send_ip(t(1), &mut frame, PEER_IP, IpProtocol::Tcp, 0x02, |l4, info| {
        // The L4 space is the frame buffer itself, right after the IPv4 header, up to the MTU.
        assert!(frame_range.contains(&l4.as_ptr()));
        assert_eq!(l4.len(), 1500 - 20);
        assert_eq!((info.src, info.dst, info.protocol), (OUR_IP, PEER_IP, IpProtocol::Tcp));
        assert!(info.fill_checksum);
        l4[..segment.len()].copy_from_slice(segment);
        // A TCP builder would fold the pseudo-header into its checksum like this.
        let c = checksum::combine(&[info.pseudo_header_sum(segment.len()), checksum::sum(segment)]);
        assert_eq!(c, rfc1071(&[&pseudo(OUR_IP, PEER_IP, 6, segment.len()), segment]));
        segment.len()
    });
    let n = 14 + 20 + segment.len();
    assert_eq!(r, Ok(IpSend::Ready(n)));
    let (dst, src, ethertype, ip) = split_eth(&frame[..n]);
    assert_eq!((dst, src, ethertype), (PEER_MAC, OUR_MAC, 0x0800));
    let (s, d, proto, ttl, l4) = check_ipv4(ip);
    assert_eq!((s, d, proto, ttl), (OUR_IP, PEER_IP, 6, 64));
    assert_eq!(ip[1], 0x02, "ECN bits carried");
    assert_eq!(l4, segment);
    assert_eq!(i.counters().tx_frames, 1);
}

#[test]
fn send_ip_rejects_oversize_and_short_buffers() {
    let mut i = iface();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    let mut frame = vec![0u8; 1514];
    let r = i.send_ip(t(0), &mut frame, PEER_IP, IpProtocol::Tcp, 0, |l4, _| l4.len() + 1);
    assert_eq!(r, Err(SendError::TooLarge));
    let mut tiny = [0u8; 20];
    let r = i.send_ip(t(0), &mut tiny, PEER_IP, IpProtocol::Tcp, 0, |_, _| 0);
    assert_eq!(r, Err(SendError::TooLarge));
    assert_eq!(i.counters().tx_too_large, 2);
    // A buffer larger than the frame limit is still capped at the MTU.
    let mut huge = vec![0u8; 9000];
    let r = i.send_ip(t(0), &mut huge, PEER_IP, IpProtocol::Tcp, 0, |l4, _| l4.len());
    assert_eq!(r, Ok(IpSend::Ready(1514)));
}

#[test]
fn ip_offload_leaves_ipv4_checksum_to_device() {
    let mut i =
        Interface::new(config(), DeviceCaps::ethernet(1500).with_checksum(ChecksumCaps::ALL));
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    let mut frame = vec![0u8; 1514];
    let r = i.send_ip(t(0), &mut frame, PEER_IP, IpProtocol::Tcp, 0, |_, info| {
        assert!(!info.fill_checksum);
        4
    });
    assert_eq!(r, Ok(IpSend::Ready(14 + 24)));
    assert_eq!(&frame[24..26], &[0, 0]);
}

#[test]
fn tcp_offload_seeds_the_pseudo_header_sum_for_the_device() {
    let mut i =
        Interface::new(config(), DeviceCaps::ethernet(1500).with_checksum(ChecksumCaps::ALL));
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    let mut frame = vec![0u8; 1514];
    let r = i.send_ip(t(0), &mut frame, PEER_IP, IpProtocol::Tcp, 0, |l4, _| {
        l4[..30].fill(0x5a);
        l4[12] = 5 << 4;
        l4[16..18].fill(0);
        30
    });
    assert_eq!(r, Ok(IpSend::Ready(14 + 20 + 30)));
    let l4 = &frame[34..64];
    assert_eq!((&l4[..12], &l4[13..16]), (&[0x5a; 12][..], &[0x5a; 3][..]), "header untouched");
    assert_eq!(&l4[18..], &[0x5a; 12][..], "payload untouched");
    let seed = u16::from_be_bytes([l4[16], l4[17]]);
    assert_eq!(seed, !rfc1071(&[&pseudo(OUR_IP, PEER_IP, 6, 30)]));
    // What the device does with it: sum from the L4 header on and store the complement.
    let mut done = l4.to_vec();
    let device = rfc1071(&[&done]);
    done[16..18].copy_from_slice(&device.to_be_bytes());
    assert_eq!(rfc1071(&[&pseudo(OUR_IP, PEER_IP, 6, 30), &done]), 0, "a valid segment");
}

#[test]
fn raw_ip_medium_round_trips_without_ethernet_or_arp() {
    // Point-to-point: even an off-link destination with no gateway is reachable.
    let mut i = Interface::new(config(), DeviceCaps::ip(1500));
    assert_eq!(i.caps().max_frame_len(), 1500);
    let ping = ipv4(REMOTE_IP, OUR_IP, IpProtocol::Icmp, &echo_request(9, 3, b"tun"));
    assert_eq!(i.receive(t(0), &ping), Received::Consumed);
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let (s, d, proto, _, icmp) = check_ipv4(&out[0]);
    assert_eq!((s, d, proto), (OUR_IP, REMOTE_IP, 1));
    assert_eq!(&icmp[..2], &[0, 0]);
    assert_eq!(&icmp[8..], b"tun");

    let seg = [0x55u8; 20];
    let tcp = ipv4(REMOTE_IP, OUR_IP, IpProtocol::Tcp, &seg);
    assert!(matches!(i.receive(t(0), &tcp), Received::Tcp { segment, .. } if segment == seg));

    let mut frame = vec![0u8; 1500];
    let r = i.send_ip(t(0), &mut frame, REMOTE_IP, IpProtocol::Tcp, 0, |l4, _| {
        l4[..3].copy_from_slice(b"abc");
        3
    });
    assert_eq!(r, Ok(IpSend::Ready(23)));
    assert_eq!(check_ipv4(&frame[..23]).4, b"abc");

    let h = i.udp_bind(53).unwrap();
    i.udp_send_to(t(0), h, (REMOTE_IP, 5353), b"dns").unwrap();
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let udp = check_ipv4(&out[0]).4;
    assert_eq!(&udp[8..], b"dns");
    assert_eq!(i.counters().arp_requests_sent, 0);
    assert_eq!(i.poll_timeout(), None);
}

#[test]
fn counters_iterate_for_printing() {
    let mut i = iface();
    i.receive(t(0), &arp_request_for(OUR_IP));
    drain(&mut i, t(0));
    let printed: Vec<String> = i.counters().iter().map(|(n, v)| format!("{n}={v}")).collect();
    assert!(printed.contains(&"rx_frames=1".to_string()));
    assert!(printed.contains(&"arp_replies_sent=1".to_string()));
    assert!(printed.contains(&"tx_frames=1".to_string()));
    assert!(printed.contains(&"rx_fragments_dropped=0".to_string()));
}
