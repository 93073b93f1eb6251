//! ARP behaviour of `Interface`: answering, learning, expiry, resolution with a pending queue,
//! retries and give-up, routing via the gateway, and frames that are not ours.

mod iface_util;

use iface_util::*;
use xdptcp_stack::iface::neighbor::truesize;
use xdptcp_stack::iface::{DropReason, Interface, IpSend, Received, SendError};
use xdptcp_stack::wire::arp::{self, ArpOperation, ArpRepr};
use xdptcp_stack::wire::ethernet::EthernetAddress;
use xdptcp_stack::wire::ipv4::IpProtocol;

/// Sends a small TCP-protocol packet with `send_ip`, filling `payload` as the L4 bytes.
fn send(
    iface: &mut Interface,
    now_ms: u64,
    dst: std::net::Ipv4Addr,
    payload: &[u8],
) -> (Result<IpSend, SendError>, Vec<u8>) {
    let mut frame = vec![0u8; iface.caps().max_frame_len()];
    let r = iface.send_ip(t(now_ms), &mut frame, dst, IpProtocol::Tcp, 0, |l4, _| {
        l4[..payload.len()].copy_from_slice(payload);
        payload.len()
    });
    (r, frame)
}

fn parse_arp(frame: &[u8]) -> (EthernetAddress, ArpRepr) {
    let (dst, src, ethertype, body) = split_eth(frame);
    assert_eq!(src, OUR_MAC);
    assert_eq!(ethertype, 0x0806);
    let repr = ArpRepr::parse(&arp::Packet::new_checked(body).unwrap()).unwrap();
    (dst, repr)
}

#[test]
fn request_for_our_ip_gets_reply_with_our_mac() {
    let mut i = iface();
    assert_eq!(i.receive(t(0), &arp_request_for(OUR_IP)), Received::Consumed);
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let (dst, reply) = parse_arp(&out[0]);
    assert_eq!(dst, PEER_MAC);
    assert_eq!(reply.operation, ArpOperation::Reply);
    assert_eq!((reply.source_hw, reply.source_ip), (OUR_MAC, OUR_IP));
    assert_eq!((reply.target_hw, reply.target_ip), (PEER_MAC, PEER_IP));
    assert_eq!(i.counters().arp_replies_sent, 1);
    assert_eq!(i.counters().rx_arp, 1);
    assert_eq!(i.counters().tx_frames, 1);
    // The requester was learned (RFC 826: we are the target), so sending needs no ARP.
    let (r, frame) = send(&mut i, 1, PEER_IP, b"seg");
    assert_eq!(r, Ok(IpSend::Ready(14 + 20 + 3)));
    assert_eq!(split_eth(&frame).0, PEER_MAC);
}

#[test]
fn request_for_other_ip_is_ignored_and_counted() {
    let mut i = iface();
    let frame = arp_request_for(std::net::Ipv4Addr::new(10, 0, 0, 77));
    let r = i.receive(t(0), &frame);
    assert_eq!(r, Received::Dropped(DropReason::ArpNotForUs));
    assert!(drain(&mut i, t(0)).is_empty());
    assert_eq!(i.counters().rx_arp_not_for_us, 1);
    assert_eq!(i.counters().arp_replies_sent, 0);
    // Not learned: the sender was unknown and the packet was not for us.
    assert_eq!(send(&mut i, 0, PEER_IP, b"x").0, Ok(IpSend::Queued));
}

#[test]
fn gratuitous_arp_updates_known_entries_only() {
    let mut i = iface();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    let new_mac = EthernetAddress([0x02, 0, 0, 0, 0, 0x22]);
    let garp = arp_frame(
        ArpOperation::Request,
        new_mac,
        PEER_IP,
        EthernetAddress([0; 6]),
        PEER_IP,
        EthernetAddress::BROADCAST,
    );
    assert_eq!(i.receive(t(10), &garp), Received::Consumed);
    assert!(drain(&mut i, t(10)).is_empty(), "no reply to a gratuitous ARP");
    let (r, frame) = send(&mut i, 20, PEER_IP, b"x");
    assert!(matches!(r, Ok(IpSend::Ready(_))));
    assert_eq!(split_eth(&frame).0, new_mac);

    // A gratuitous ARP from a stranger creates nothing.
    let stranger = std::net::Ipv4Addr::new(10, 0, 0, 9);
    let g2 = arp_frame(
        ArpOperation::Request,
        new_mac,
        stranger,
        EthernetAddress([0; 6]),
        stranger,
        EthernetAddress::BROADCAST,
    );
    assert_eq!(i.receive(t(30), &g2), Received::Dropped(DropReason::ArpNotForUs));
    assert_eq!(send(&mut i, 30, stranger, b"x").0, Ok(IpSend::Queued));
}

#[test]
fn expired_entries_keep_flowing_while_revalidated_then_expire() {
    let mut i = iface();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    assert!(matches!(send(&mut i, 59_999, PEER_IP, b"x").0, Ok(IpSend::Ready(_))));
    assert!(drain(&mut i, t(59_999)).is_empty(), "fresh: no ARP");
    // Past the 60 s lifetime the old MAC is still used, and a unicast probe goes out.
    let (r, frame) = send(&mut i, 60_000, PEER_IP, b"x");
    assert!(matches!(r, Ok(IpSend::Ready(_))));
    assert_eq!(split_eth(&frame).0, PEER_MAC);
    let out = drain(&mut i, t(60_000));
    assert_eq!(out.len(), 1);
    let (dst, req) = parse_arp(&out[0]);
    assert_eq!(dst, PEER_MAC, "revalidation is a unicast poll");
    assert_eq!((req.operation, req.target_ip), (ArpOperation::Request, PEER_IP));
    // Unanswered: two more probes, then the entry is gone and sending starts over.
    assert_eq!(drain(&mut i, t(61_000)).len(), 1);
    assert_eq!(drain(&mut i, t(62_000)).len(), 1);
    assert!(drain(&mut i, t(63_000)).is_empty());
    assert_eq!(send(&mut i, 63_000, PEER_IP, b"x").0, Ok(IpSend::Queued));
    let out = drain(&mut i, t(63_000));
    let (dst, req) = parse_arp(&out[0]);
    assert!(dst.is_broadcast());
    assert_eq!(req.target_ip, PEER_IP);
}

#[test]
fn confirmation_or_reply_keeps_entry_fresh() {
    let mut i = iface();
    i.receive(t(0), &arp_reply_from(PEER_MAC, PEER_IP));
    i.confirm_reachable(t(50_000), PEER_IP);
    assert!(matches!(send(&mut i, 100_000, PEER_IP, b"x").0, Ok(IpSend::Ready(_))));
    assert!(drain(&mut i, t(100_000)).is_empty(), "confirmed at 50 s: fresh until 110 s");
    // Expired at 110 s; the peer answers the probe, and the entry is fresh again.
    send(&mut i, 110_000, PEER_IP, b"x").0.unwrap();
    assert_eq!(drain(&mut i, t(110_000)).len(), 1);
    i.receive(t(110_001), &arp_reply_from(PEER_MAC, PEER_IP));
    assert_eq!(i.poll_timeout(), None);
    assert!(drain(&mut i, t(200_000)).is_empty());
    assert!(matches!(send(&mut i, 170_000, PEER_IP, b"x").0, Ok(IpSend::Ready(_))));
    assert!(drain(&mut i, t(170_000)).is_empty());
}

/// Packets wait for the neighbour within its byte bound (here three packets' worth): a fourth
/// pushes out the oldest, counted, and the newest three go out once the reply comes.
#[test]
fn unresolved_packets_wait_then_flush_on_reply() {
    let mut cfg = config();
    cfg.arp_pending_bytes_per_neighbor = 3 * truesize(20 + 3);
    let mut i = Interface::new(cfg, xdptcp_stack::iface::DeviceCaps::ethernet(1500));
    let payloads: [&[u8]; 4] = [b"one", b"two", b"six", b"ten"];
    let mut built = Vec::new();
    for p in payloads {
        let (r, frame) = send(&mut i, 0, PEER_IP, p);
        assert_eq!(r, Ok(IpSend::Queued));
        built.push(frame[14..14 + 20 + p.len()].to_vec());
    }
    built.remove(0);
    assert_eq!(i.counters().arp_queue_full, 1);
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1, "one request for the neighbour, not one per packet");
    assert_eq!(parse_arp(&out[0]).1.target_ip, PEER_IP);
    assert_eq!(i.counters().arp_requests_sent, 1);

    assert_eq!(i.receive(t(5), &arp_reply_from(PEER_MAC, PEER_IP)), Received::Consumed);
    let out = drain(&mut i, t(5));
    assert_eq!(out.len(), 3);
    for (frame, ip) in out.iter().zip(&built) {
        let (dst, src, ethertype, body) = split_eth(frame);
        assert_eq!((dst, src, ethertype), (PEER_MAC, OUR_MAC, 0x0800));
        assert_eq!(body, &ip[..], "released packet is the one that was built");
        check_ipv4(body);
    }
    assert_eq!(i.poll_timeout(), None, "resolved: no retry pending");
    assert_eq!(i.arp_cache().queued_packets(), 0);
}

#[test]
fn resolution_gives_up_after_max_requests() {
    let mut i = iface();
    assert_eq!(send(&mut i, 0, PEER_IP, b"x").0, Ok(IpSend::Queued));
    assert_eq!(drain(&mut i, t(0)).len(), 1);
    assert_eq!(i.poll_timeout(), Some(t(1000)));
    assert!(drain(&mut i, t(999)).is_empty());
    assert_eq!(drain(&mut i, t(1000)).len(), 1);
    assert_eq!(i.poll_timeout(), Some(t(2000)));
    assert_eq!(drain(&mut i, t(2000)).len(), 1);
    assert!(drain(&mut i, t(3000)).is_empty());
    assert_eq!(i.counters().arp_requests_sent, 3);
    assert_eq!(i.counters().arp_resolution_failed, 1);
    assert_eq!(i.poll_timeout(), None);
    // A late reply (not for a pending entry, but addressed to us) just creates the entry.
    i.receive(t(4000), &arp_reply_from(PEER_MAC, PEER_IP));
    assert!(drain(&mut i, t(4000)).is_empty(), "the dropped packet is not resurrected");
}

#[test]
fn off_link_goes_via_gateway_and_no_gateway_is_no_route() {
    let mut cfg = config();
    cfg.gateway = Some(GW_IP);
    let mut i = Interface::new(cfg, xdptcp_stack::iface::DeviceCaps::ethernet(1500));
    // Unresolved gateway: the request is for the gateway, not the remote host.
    assert_eq!(send(&mut i, 0, REMOTE_IP, b"x").0, Ok(IpSend::Queued));
    let out = drain(&mut i, t(0));
    assert_eq!(parse_arp(&out[0]).1.target_ip, GW_IP);
    i.receive(t(1), &arp_reply_from(GW_MAC, GW_IP));
    let released = drain(&mut i, t(1));
    assert_eq!(released.len(), 1);
    assert_eq!(split_eth(&released[0]).0, GW_MAC);
    assert_eq!(check_ipv4(split_eth(&released[0]).3).1, REMOTE_IP);
    // Resolved gateway: frames to the remote carry the gateway's MAC, the remote's IP.
    let (r, frame) = send(&mut i, 2, REMOTE_IP, b"hello");
    assert_eq!(r, Ok(IpSend::Ready(14 + 20 + 5)));
    let (dst, _, _, ip) = split_eth(&frame[..39]);
    assert_eq!(dst, GW_MAC);
    assert_eq!(check_ipv4(ip).1, REMOTE_IP);
    // On-link stays direct even with a gateway.
    assert_eq!(send(&mut i, 2, PEER_IP, b"x").0, Ok(IpSend::Queued));
    assert_eq!(parse_arp(&drain(&mut i, t(2))[0]).1.target_ip, PEER_IP);

    let mut j = iface();
    assert_eq!(send(&mut j, 0, REMOTE_IP, b"x").0, Err(SendError::NoRoute));
    assert_eq!(j.counters().tx_no_route, 1);
    assert!(drain(&mut j, t(0)).is_empty());
}

#[test]
fn vlan_tagged_and_foreign_frames_are_counted() {
    let mut i = iface();
    let mut tagged = arp_request_for(OUR_IP);
    // Insert an 802.1Q tag (VID 5) after the MAC addresses.
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    assert_eq!(i.receive(t(0), &tagged), Received::Dropped(DropReason::VlanTagged));
    assert_eq!(i.counters().rx_vlan_tagged, 1);

    let mut other = arp_request_for(OUR_IP);
    other[..6].copy_from_slice(&[0x02, 9, 9, 9, 9, 9]);
    assert_eq!(i.receive(t(0), &other), Received::Dropped(DropReason::NotOurMac));
    assert_eq!(i.receive(t(0), &other[..10]), Received::Dropped(DropReason::BadEthernet));
    let mut ipv6 = arp_request_for(OUR_IP);
    ipv6[12..14].copy_from_slice(&[0x86, 0xdd]);
    assert_eq!(i.receive(t(0), &ipv6), Received::Dropped(DropReason::UnknownEthertype));
    let short_arp = &arp_request_for(OUR_IP)[..14 + 20];
    assert_eq!(i.receive(t(0), short_arp), Received::Dropped(DropReason::BadArp));
    assert!(drain(&mut i, t(0)).is_empty());
    assert_eq!(i.counters().rx_frames, 5);
    assert_eq!(i.counters().rx_not_our_mac, 1);
    assert_eq!(i.counters().rx_bad_ethernet, 1);
    assert_eq!(i.counters().rx_unknown_ethertype, 1);
    assert_eq!(i.counters().rx_bad_arp, 1);
}

#[test]
fn arp_request_retry_uses_virtual_time_only() {
    // Two neighbours started at different times keep separate schedules.
    let mut i = iface();
    assert_eq!(send(&mut i, 0, PEER_IP, b"a").0, Ok(IpSend::Queued));
    assert_eq!(send(&mut i, 500, std::net::Ipv4Addr::new(10, 0, 0, 3), b"b").0, Ok(IpSend::Queued));
    assert_eq!(drain(&mut i, t(500)).len(), 2);
    assert_eq!(i.poll_timeout(), Some(t(1000)));
    let out = drain(&mut i, t(1000));
    assert_eq!(out.len(), 1);
    assert_eq!(parse_arp(&out[0]).1.target_ip, PEER_IP);
    assert_eq!(i.poll_timeout(), Some(t(1500)));
}

#[test]
fn off_link_senders_are_answered_but_not_cached() {
    let mut i = iface();
    let far = std::net::Ipv4Addr::new(172, 16, 0, 1);
    let req = arp_frame(
        ArpOperation::Request,
        PEER_MAC,
        far,
        EthernetAddress([0; 6]),
        OUR_IP,
        EthernetAddress::BROADCAST,
    );
    assert_eq!(i.receive(t(0), &req), Received::Consumed);
    assert_eq!(drain(&mut i, t(0)).len(), 1, "still answered");
    assert!(i.arp_cache().is_empty());
}

#[test]
fn full_transmit_queue_drops_and_counts() {
    let mut cfg = config();
    cfg.tx_queue_capacity = 2;
    let mut i = Interface::new(cfg, xdptcp_stack::iface::DeviceCaps::ethernet(1500));
    for _ in 0..3 {
        i.receive(t(0), &arp_request_for(OUR_IP));
    }
    assert_eq!(i.tx_queued(), 2);
    assert_eq!(i.counters().tx_queue_full, 1);
    assert_eq!(i.counters().arp_replies_sent, 2);
    // A lent buffer too small for the next frame drops that frame, counted, and moves on.
    let mut small = [0u8; 20];
    assert_eq!(i.poll_transmit(t(0), &mut small), None);
    assert_eq!(i.counters().tx_too_large, 2);
    assert_eq!(i.counters().tx_frames, 0);
}

#[test]
fn evicting_a_pending_neighbour_counts_its_packets() {
    let mut cfg = config();
    cfg.arp_cache_capacity = 1;
    let mut i = Interface::new(cfg, xdptcp_stack::iface::DeviceCaps::ethernet(1500));
    assert_eq!(send(&mut i, 0, PEER_IP, b"a").0, Ok(IpSend::Queued));
    assert_eq!(send(&mut i, 0, std::net::Ipv4Addr::new(10, 0, 0, 3), b"b").0, Ok(IpSend::Queued));
    assert_eq!(i.counters().arp_evicted, 1);
    assert_eq!(i.counters().arp_resolution_failed, 1);
    assert_eq!(i.arp_cache().queued_packets(), 1);
    // The evicted neighbour's late reply (addressed to us) releases nothing.
    i.receive(t(1), &arp_reply_from(PEER_MAC, PEER_IP));
    let out = drain(&mut i, t(1));
    assert!(out.iter().all(|f| split_eth(f).2 == 0x0806), "only ARP requests went out");
}

#[test]
fn vlan_tag_is_skipped_and_counted_when_configured() {
    let mut c = config();
    c.accept_vlan_tagged = true;
    let mut i = Interface::new(c, xdptcp_stack::iface::DeviceCaps::ethernet(1500));
    let mut tagged = arp_request_for(OUR_IP);
    tagged.splice(12..12, [0x81, 0x00, 0x00, 0x05]);
    assert_eq!(i.receive(t(0), &tagged), Received::Consumed);
    assert_eq!(i.counters().rx_vlan_skipped, 1);
    assert_eq!(i.counters().rx_vlan_tagged, 0);
    let out = drain(&mut i, t(0));
    assert_eq!(out.len(), 1);
    let (dst, reply) = parse_arp(&out[0]);
    assert_eq!(dst, PEER_MAC);
    assert_eq!(reply.operation, ArpOperation::Reply);
}

/// The pending queue is bounded in bytes as Linux bounds it (`unres_qlen_bytes`, 212,992 by
/// default, each frame counted by its truesize): a burst of small frames (a server's first
/// answers to a new client: SYN-ACKs, rudp accepts) is kept whole well past the 101 that
/// the byte bound means for full-size frames, and all of it goes out once the neighbour
/// answers (more than the interface's transmit queue of 64 holds at once).
#[test]
fn a_burst_of_small_frames_waits_whole_bounded_by_bytes_not_count() {
    let mut i = iface();
    let built = queue_burst(&mut i, 320, 20); // 40-byte packets, 54-byte frames
    assert_eq!(i.counters().arp_queue_full, 0);
    assert_eq!(i.arp_cache().queued_packets(), 320);
    assert_eq!(drain(&mut i, t(0)).len(), 1, "one ARP request");
    i.receive(t(1), &arp_reply_from(PEER_MAC, PEER_IP));
    let out = drain(&mut i, t(1));
    assert_eq!(out.len(), 320, "every waiting packet sent");
    for (frame, ip) in out.iter().zip(&built) {
        assert_eq!(split_eth(frame).3, &ip[..], "released in the order sent");
    }
    assert_eq!(i.counters().tx_queue_full, 0);
    assert_eq!(i.arp_cache().queued_packets(), 0);
}

/// Full-size frames fill the same byte bound sooner: 101 of them (Linux's `unres_qlen`).
/// As Linux does (`__neigh_event_send`), a new packet that would pass the bound pushes out
/// the oldest ones, each counted (`arp_queue_full`), so what is released is the newest.
#[test]
fn large_frames_are_bounded_by_bytes_and_the_oldest_dropped() {
    let mut i = iface();
    let built = queue_burst(&mut i, 150, 1480); // 1500-byte packets, full frames
    assert_eq!(i.counters().arp_queue_full, 49);
    assert_eq!(i.arp_cache().queued_packets(), 101);
    i.receive(t(1), &arp_reply_from(PEER_MAC, PEER_IP));
    let out: Vec<_> =
        drain(&mut i, t(1)).into_iter().filter(|f| split_eth(f).2 == 0x0800).collect();
    assert_eq!(out.len(), 101);
    for (frame, ip) in out.iter().zip(&built[49..]) {
        assert_eq!(split_eth(frame).3, &ip[..], "the newest 101, in order");
    }
}

/// Sends `n` packets of `len` payload bytes to the unresolved peer at once, each queued (the
/// newest is always kept); the IP packets as built, in order.
fn queue_burst(i: &mut Interface, n: u16, len: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|k| {
            let payload = vec![(k % 251) as u8; len];
            let (r, frame) = send(i, 0, PEER_IP, &payload);
            assert_eq!(r, Ok(IpSend::Queued), "packet {k}");
            frame[14..14 + 20 + len].to_vec()
        })
        .collect()
}
