//! ARP (RFC 826) on the interface: answering requests for our address, learning from what
//! arrives, resolving next hops (RFC 1122 §2.3.2.1 reachability confirmation included),
//! queueing packets that wait for a resolution and releasing them when it comes.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::caps::Medium;
use super::counters::DropReason;
use super::interface::{Interface, Link, Received, SendError};
use super::neighbor::{Enqueued, NeighborMemo};
use super::output::write_ethernet;
use super::ring::{PushError, SlotRing};
use super::tx_route::TxRoute;
use crate::time::Instant;
use crate::wire::arp::{self, ArpOperation, ArpRepr};
use crate::wire::ethernet::{self, EtherType, EthernetAddress};

impl Interface {
    pub(super) fn receive_arp<'a>(&mut self, now: Instant, data: &[u8]) -> Received<'a> {
        let Ok(repr) = arp::Packet::new_checked(data).and_then(|p| ArpRepr::parse(&p)) else {
            return Received::Dropped(DropReason::BadArp);
        };
        self.counters.rx_arp += 1;
        let ours = self.config.ipv4_addr;
        let for_us = repr.target_ip == ours;
        // RFC 826: learn only plausible sender bindings; never a binding for our own address
        // (that is a conflict, RFC 5227, not a neighbour), nor a probe's 0.0.0.0.
        let learnable = repr.source_hw.is_unicast()
            && !repr.source_ip.is_unspecified()
            && repr.source_ip != ours
            && !repr.source_ip.is_broadcast()
            && !repr.source_ip.is_multicast();
        // A new entry is only worth a slot if we could ever look it up: an on-link host or the
        // gateway. This also keeps a flood of forged off-link senders from evicting real
        // neighbours.
        let create = for_us
            && (self.config.is_on_link(repr.source_ip)
                || self.config.gateway == Some(repr.source_ip));
        let mut learned = false;
        if learnable {
            let Interface { arp, counters, .. } = self;
            if let Some(released) = arp.learn(repr.source_ip, repr.source_hw, now, create, counters)
            {
                learned = true;
                self.flush_released(repr.source_hw, released, EtherType::Ipv4);
            }
        }
        if !for_us {
            return if learned {
                Received::Consumed
            } else {
                Received::Dropped(DropReason::ArpNotForUs)
            };
        }
        if repr.operation == ArpOperation::Request && repr.source_hw.is_unicast() {
            let reply = ArpRepr {
                operation: ArpOperation::Reply,
                source_hw: self.config.mac,
                source_ip: ours,
                target_hw: repr.source_hw,
                target_ip: repr.source_ip,
            };
            if self.queue_arp(repr.source_hw, &reply) {
                self.counters.arp_replies_sent += 1;
            }
        }
        Received::Consumed
    }

    /// Learns `ip` → `mac` as an ARP reply addressed to us would, releasing what waited for
    /// it: for tests outside `iface` that need a resolved (or changed) neighbour.
    #[cfg(test)]
    pub(crate) fn learn_neighbor(&mut self, now: Instant, ip: Ipv4Addr, mac: EthernetAddress) {
        let Interface { arp, counters, .. } = self;
        if let Some(released) = arp.learn(ip, mac, now, true, counters) {
            self.flush_released(mac, released, EtherType::Ipv4);
        }
    }

    /// Higher-layer advice (RFC 1122 §2.3.2.1) that `dst` is reachable, e.g. from TCP when new
    /// data is acknowledged: restarts the lifetime of the ARP entry of `dst`'s next hop, so a
    /// busy flow never needs to revalidate it.
    pub fn confirm_reachable(&mut self, now: Instant, dst: Ipv4Addr) {
        self.confirm_reachable_routed(now, dst, &TxRoute::default());
    }

    /// [`confirm_reachable`](Self::confirm_reachable) for a connection holding `route`: the
    /// next hop's entry is found through it (`tx_route`) instead of the keyed index.
    pub fn confirm_reachable_routed(&mut self, now: Instant, dst: Ipv4Addr, route: &TxRoute) {
        if self.caps.medium == Medium::Ip {
            return;
        }
        let hop = if memo_is_own_hop(route.neighbor, dst) || self.config.is_on_link(dst) {
            Some(dst)
        } else {
            self.config.gateway
        };
        if let Some(hop) = hop {
            self.arp.confirm_memo(route.neighbor, hop, now);
        }
    }

    /// Routes `dst` and resolves the next hop's link address. On-link destinations are their
    /// own next hop; others go to the gateway (RFC 1122 §3.3.1.1); with no gateway there is no
    /// route. A raw-IP device is point-to-point: everything goes out of it, no route needed.
    pub(super) fn resolve(&mut self, now: Instant, dst: Ipv4Addr) -> Result<Link, SendError> {
        self.resolve_memo(now, dst, &mut None)
    }

    /// [`resolve`](Self::resolve) through a sender's memo of its next hop's entry
    /// ([`NeighborCache::lookup_memo`](super::neighbor::NeighborCache::lookup_memo)). A memo
    /// that names `dst` itself skips routing ([`memo_is_own_hop`]): the common case of a
    /// connection to an on-link peer.
    #[inline]
    pub(super) fn resolve_memo(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        memo: &mut Option<NeighborMemo<Ipv4Addr>>,
    ) -> Result<Link, SendError> {
        if self.caps.medium == Medium::Ip {
            return Ok(Link::None);
        }
        if memo_is_own_hop(*memo, dst) {
            return Ok(match self.arp.lookup_memo(memo, dst, now) {
                Some(mac) => Link::Mac(mac),
                None => Link::Unresolved(dst),
            });
        }
        self.resolve_routed(now, dst, memo)
    }

    /// [`resolve_memo`](Self::resolve_memo) on an Ethernet device without a memo of `dst`:
    /// the route is chosen afresh. Out of line, so that the raw-IP answer and the memo's stay
    /// a few instructions inline.
    #[inline(never)]
    fn resolve_routed(
        &mut self,
        now: Instant,
        dst: Ipv4Addr,
        memo: &mut Option<NeighborMemo<Ipv4Addr>>,
    ) -> Result<Link, SendError> {
        if self.config.is_broadcast(dst) {
            return Ok(Link::Mac(EthernetAddress::BROADCAST));
        }
        let hop = if self.config.is_on_link(dst) {
            dst
        } else if let Some(gw) = self.config.gateway {
            gw
        } else {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        Ok(match self.arp.lookup_memo(memo, hop, now) {
            Some(mac) => Link::Mac(mac),
            None => Link::Unresolved(hop),
        })
    }

    /// Copies `packet` into the ARP pending queue for `hop`, sending a request if this starts
    /// a resolution.
    pub(super) fn enqueue_pending(
        &mut self,
        now: Instant,
        hop: Ipv4Addr,
        packet: &[u8],
    ) -> Result<(), SendError> {
        let Interface { arp, counters, .. } = self;
        let outcome = arp.enqueue(hop, packet, now, counters);
        if outcome.send_request {
            self.queue_arp_request(hop);
        }
        match outcome.queued {
            Enqueued::Queued => Ok(()),
            Enqueued::Dropped => Err(SendError::ArpQueueFull),
        }
    }

    pub(super) fn queue_arp_request(&mut self, target_ip: Ipv4Addr) {
        let req = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: self.config.mac,
            source_ip: self.config.ipv4_addr,
            target_hw: EthernetAddress([0; 6]),
            target_ip,
        };
        if self.queue_arp(EthernetAddress::BROADCAST, &req) {
            self.counters.arp_requests_sent += 1;
        }
    }

    /// Queues an ARP frame; false (and counted) if the transmit queue is full.
    pub(super) fn queue_arp(&mut self, eth_dst: EthernetAddress, repr: &ArpRepr) -> bool {
        if push_arp(&mut self.tx, self.config.mac, eth_dst, repr) {
            true
        } else {
            self.counters.tx_queue_full += 1;
            false
        }
    }

    /// Retransmits due ARP requests and gives up on hopeless neighbours.
    pub(super) fn poll_arp(&mut self, now: Instant) {
        match self.arp.poll_at() {
            Some(t) if t <= now => {}
            _ => return,
        }
        let Interface { arp, counters, tx, config, .. } = self;
        let (mut sent, mut full) = (0, 0);
        arp.poll(now, counters, |target_ip, known| {
            // Revalidation polls the known MAC directly (RFC 1122 §2.3.2.1); a first
            // resolution asks everyone.
            let req = ArpRepr {
                operation: ArpOperation::Request,
                source_hw: config.mac,
                source_ip: config.ipv4_addr,
                target_hw: known.unwrap_or(EthernetAddress([0; 6])),
                target_ip,
            };
            let eth_dst = known.unwrap_or(EthernetAddress::BROADCAST);
            if push_arp(tx, config.mac, eth_dst, &req) {
                sent += 1;
            } else {
                full += 1;
            }
        });
        self.counters.arp_requests_sent += sent;
        self.counters.tx_queue_full += full;
    }

    /// Frames the packets that waited for `mac` and queues them for transmission.
    pub(super) fn flush_released(
        &mut self,
        mac: EthernetAddress,
        released: VecDeque<Vec<u8>>,
        ethertype: EtherType,
    ) {
        let src = self.config.mac;
        for packet in released {
            // Into the transmit queue while it has room and nothing released waits before.
            if self.released.is_empty() {
                let res = self.tx.push_with((), |slot| {
                    let n = ethernet::HEADER_LEN + packet.len();
                    slot.get_mut(ethernet::HEADER_LEN..n)?.copy_from_slice(&packet);
                    write_ethernet(slot, src, mac, ethertype);
                    Some(n)
                });
                match res {
                    Ok(()) => continue,
                    Err(PushError::Full) => {}
                    Err(PushError::Rejected) => {
                        self.counters.tx_too_large += 1;
                        continue;
                    }
                }
            }
            if !self.released.push(mac, ethertype, packet) {
                self.counters.tx_queue_full += 1;
            }
        }
    }

    /// Frames the oldest packet waiting in `released` into `buf`: its length, `None` if none
    /// waits. One too large for `buf` is dropped and counted (`tx_too_large`).
    pub(super) fn pop_released(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let (mac, ethertype, packet) = self.released.pop()?;
            let n = ethernet::HEADER_LEN + packet.len();
            let Some(body) = buf.get_mut(ethernet::HEADER_LEN..n) else {
                self.counters.tx_too_large += 1;
                continue;
            };
            body.copy_from_slice(&packet);
            write_ethernet(buf, self.config.mac, mac, ethertype);
            self.counters.tx_frames += 1;
            return Some(n);
        }
    }
}

/// Queues an ARP frame into `tx`; false if the queue is full.
pub(super) fn push_arp(
    tx: &mut SlotRing<()>,
    src: EthernetAddress,
    dst: EthernetAddress,
    repr: &ArpRepr,
) -> bool {
    tx.push_with((), |slot| {
        let n = ethernet::HEADER_LEN + arp::PACKET_LEN;
        let body = slot.get_mut(ethernet::HEADER_LEN..n)?;
        repr.emit(&mut arp::Packet::new_unchecked(body));
        write_ethernet(slot, src, dst, EtherType::Arp);
        Some(n)
    })
    .is_ok()
}

/// Whether a sender's memo names `dst` itself, so routing `dst` again would give `dst` as
/// its own next hop. A memo is set only by a lookup of the hop routing chose for this
/// sender's destination (a connection's remote address, fixed), and never for a broadcast;
/// routing reads only the interface's address, prefix and gateway, fixed when it is made.
/// So a memo of `dst` means `dst` was routed as on-link (or is the gateway itself), and
/// would be again: the broadcast and subnet tests (about 40 instructions a frame) are
/// skipped. RFC 1122 §3.3.1.1's choice is unchanged; only not recomputed.
#[inline]
fn memo_is_own_hop(memo: Option<NeighborMemo<Ipv4Addr>>, dst: Ipv4Addr) -> bool {
    memo.is_some_and(|m| m.names(dst))
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{self, OURS, OUR_MAC, PEER, PEER_MAC};
    use super::*;
    use crate::iface::IpSend;

    const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 19, 7, 7);

    fn ethernet(gateway: Option<Ipv4Addr>) -> Interface {
        let mut iface = fixtures::ethernet();
        iface.config.gateway = gateway;
        iface
    }

    fn arp_body(operation: ArpOperation, target_ip: Ipv4Addr) -> [u8; arp::PACKET_LEN] {
        let repr = ArpRepr {
            operation,
            source_hw: PEER_MAC,
            source_ip: PEER,
            target_hw: EthernetAddress([0; 6]),
            target_ip,
        };
        let mut body = [0u8; arp::PACKET_LEN];
        repr.emit(&mut arp::Packet::new_unchecked(&mut body[..]));
        body
    }

    #[test]
    fn next_hops_are_the_destination_on_link_the_gateway_off_link_and_nothing_on_raw_ip() {
        let now = Instant::ZERO;
        let mut iface = ethernet(Some(GATEWAY));
        assert_eq!(iface.resolve(now, PEER), Ok(Link::Unresolved(PEER)));
        assert_eq!(iface.resolve(now, FAR), Ok(Link::Unresolved(GATEWAY)));
        let broadcast = Ipv4Addr::new(198, 18, 0, 255);
        assert_eq!(iface.resolve(now, broadcast), Ok(Link::Mac(EthernetAddress::BROADCAST)));
        let mut no_gateway = ethernet(None);
        assert_eq!(no_gateway.resolve(now, FAR), Err(SendError::NoRoute));
        assert_eq!(no_gateway.counters.tx_no_route, 1);
        let mut raw = fixtures::raw_ip();
        assert_eq!(raw.resolve(now, FAR), Ok(Link::None));
    }

    #[test]
    fn a_request_for_our_address_is_answered_and_its_sender_learned() {
        let now = Instant::ZERO;
        let mut iface = ethernet(None);
        let body = arp_body(ArpOperation::Request, OURS);
        assert!(matches!(iface.receive_arp(now, &body), Received::Consumed));
        assert_eq!(iface.tx_queued(), 1, "the reply waits for poll_transmit");
        assert_eq!(iface.resolve(now, PEER), Ok(Link::Mac(PEER_MAC)));
        let mut frame = [0u8; 1514];
        let n = iface.poll_transmit(now, &mut frame).expect("the reply");
        let eth = ethernet::Frame::new_checked(&frame[..n]).unwrap();
        assert_eq!(eth.ethertype(), EtherType::Arp);
        let reply = ArpRepr::parse(&arp::Packet::new_checked(eth.payload()).unwrap()).unwrap();
        assert_eq!(reply.operation, ArpOperation::Reply);
        assert_eq!((reply.source_hw, reply.source_ip), (OUR_MAC, OURS));
        assert_eq!((reply.target_hw, reply.target_ip), (PEER_MAC, PEER));
    }

    #[test]
    fn a_request_for_another_address_is_not_answered() {
        let mut iface = ethernet(None);
        let body = arp_body(ArpOperation::Request, Ipv4Addr::new(198, 18, 0, 9));
        let r = iface.receive_arp(Instant::ZERO, &body);
        assert!(matches!(r, Received::Dropped(DropReason::ArpNotForUs)), "{r:?}");
        assert_eq!(iface.tx_queued(), 0);
        assert!(matches!(
            iface.receive_arp(Instant::ZERO, &body[..10]),
            Received::Dropped(DropReason::BadArp)
        ));
    }

    #[test]
    fn a_packet_waits_for_resolution_and_leaves_with_the_reply() {
        let now = Instant::ZERO;
        let mut iface = ethernet(None);
        let mut frame = [0u8; 1514];
        let sent = iface.send_ip(now, &mut frame, PEER, crate::wire::ipv4::IpProtocol::Udp, 0, {
            |l4: &mut [u8], _: &_| {
                l4[..4].copy_from_slice(b"data");
                4
            }
        });
        assert_eq!(sent, Ok(IpSend::Queued));
        let n = iface.poll_transmit(now, &mut frame).expect("the ARP request");
        assert_eq!(ethernet::Frame::new_checked(&frame[..n]).unwrap().ethertype(), EtherType::Arp);
        assert_eq!(iface.poll_transmit(now, &mut frame), None, "the packet still waits");
        let body = arp_body(ArpOperation::Reply, OURS);
        iface.receive_arp(now, &body);
        let n = iface.poll_transmit(now, &mut frame).expect("the released packet");
        let eth = ethernet::Frame::new_checked(&frame[..n]).unwrap();
        assert_eq!((eth.ethertype(), eth.dst_addr()), (EtherType::Ipv4, PEER_MAC));
        assert!(eth.payload().ends_with(b"data"));
    }

    /// A sender's memo answers as routing afresh does: for an on-link peer, the gateway
    /// itself, a destination behind the gateway (whose memo names the gateway, so routing
    /// runs), and the subnet broadcast, through entries resolved, expired and re-learned.
    /// Each answer and the memo left behind match a second sender that routes from scratch
    /// (a memo cleared before every call).
    #[test]
    fn a_memo_of_the_destination_answers_as_routing_does() {
        let gateway_mac = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
        let broadcast = Ipv4Addr::new(198, 18, 0, 255);
        let mut iface = ethernet(Some(GATEWAY));
        let mut kept = [None; 4];
        let dsts = [PEER, GATEWAY, FAR, broadcast];
        let lifetime = iface.config.arp_entry_lifetime;
        let mut now = Instant::ZERO;
        for step in 0..6 {
            match step {
                1 => {
                    iface.learn_neighbor(now, PEER, PEER_MAC);
                    iface.learn_neighbor(now, GATEWAY, gateway_mac);
                }
                // Past the entries' lifetime: the memos name expired entries.
                3 => now = now + lifetime + lifetime,
                4 => {
                    iface.learn_neighbor(now, PEER, PEER_MAC);
                    iface.learn_neighbor(now, GATEWAY, gateway_mac);
                }
                _ => {}
            }
            for (dst, memo) in dsts.iter().zip(kept.iter_mut()) {
                let mut fresh = None;
                let expected = iface.resolve_memo(now, *dst, &mut fresh);
                let got = iface.resolve_memo(now, *dst, memo);
                assert_eq!(got, expected, "step {step}, {dst}");
                assert_eq!(*memo, fresh, "step {step}, {dst}: the memo left behind");
                // The confirmation takes the same hop as well: it must not panic or
                // confirm another neighbour (checked by the answers of the next step).
                let route = TxRoute { neighbor: *memo, ..TxRoute::default() };
                iface.confirm_reachable_routed(now, *dst, &route);
            }
        }
        assert!(kept[0].is_some_and(|m| m.names(PEER)), "an on-link peer's memo is its own");
        assert!(kept[2].is_some_and(|m| m.names(GATEWAY)), "a far one's names the gateway");
    }
}
