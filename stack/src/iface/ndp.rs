//! Neighbor Discovery on the interface (RFC 4861) and duplicate address detection
//! (RFC 4862 §5.4): answering solicitations for our addresses, learning from solicitations
//! and advertisements, soliciting unresolved next hops (and revalidating stale ones),
//! probing our tentative addresses, and taking the default router from router
//! advertisements. The neighbour cache itself (states, bounds, pending queue) is the one ARP
//! uses (`neighbor`).

use std::net::Ipv6Addr;

use super::counters::DropReason;
use super::interface::{Interface, Received};
use super::ipv6_input::RxIp6;
use super::ipv6_output::{multicast_mac, Ipv6Header, Link6};
use super::ipv6_state::{is_link_local, AddrState, ALL_NODES};
use crate::time::Instant;
use crate::wire::ethernet::{EtherType, EthernetAddress};
use crate::wire::icmpv6::{option, solicited_node, Icmpv6Repr, NdpOptions};

/// The hop limit every Neighbor Discovery message is sent with and must arrive with: 255
/// proves it was not forwarded (RFC 4861 §7.1.1).
pub(super) const ND_HOP_LIMIT: u8 = 255;

impl Interface {
    /// Handles a Neighbor Discovery message (already parsed and checksummed).
    pub(super) fn receive_ndp<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp6<'_>,
        msg: &Icmpv6Repr<'_>,
    ) -> Received<'a> {
        if rx.repr.hop_limit != ND_HOP_LIMIT {
            return Received::Dropped(DropReason::BadIcmpv6);
        }
        match *msg {
            Icmpv6Repr::NeighborSolicit { target, source_ll } => {
                self.on_neighbor_solicit(now, rx, target, source_ll)
            }
            Icmpv6Repr::NeighborAdvert { solicited, target, target_ll, .. } => {
                self.on_neighbor_advert(now, rx, solicited, target, target_ll)
            }
            Icmpv6Repr::RouterAdvert { router_lifetime, options, .. } => {
                self.on_router_advert(now, rx, router_lifetime, options)
            }
            // A host ignores router solicitations (RFC 4861 §6.2.6).
            _ => Received::Dropped(DropReason::Icmpv6Ignored),
        }
    }

    /// RFC 4861 §7.2.3 and RFC 4862 §5.4.3.
    fn on_neighbor_solicit<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp6<'_>,
        target: Ipv6Addr,
        source_ll: Option<EthernetAddress>,
    ) -> Received<'a> {
        let src = rx.repr.src;
        let dad = src.is_unspecified();
        // §7.1.1: a probe from :: goes to the solicited-node group and carries no source
        // link-layer address; any other solicitation to a group must carry one.
        if dad && (source_ll.is_some() || rx.repr.dst != solicited_node(target)) {
            return Received::Dropped(DropReason::BadIcmpv6);
        }
        if !dad && rx.repr.dst.is_multicast() && source_ll.is_none() {
            return Received::Dropped(DropReason::BadIcmpv6);
        }
        match self.v6.state_of(target) {
            Some(AddrState::Preferred) => {}
            Some(AddrState::Tentative { .. }) => {
                // Another node probes the address we probe: it is a duplicate (§5.4.3); a
                // solicitation from a real address for it is ignored.
                if dad {
                    self.v6.dad_failed(target, &mut self.counters);
                    self.v6.recompute_dad();
                    return Received::Consumed;
                }
                return Received::Dropped(DropReason::Icmpv6Ignored);
            }
            _ => return Received::Dropped(DropReason::Ipv6NotOurs),
        }
        self.counters.ndp_solicits_received += 1;
        let our_mac = self.config.mac;
        if dad {
            // Defend the address: advertise it to all nodes, unsolicited (§7.2.4).
            let na = Icmpv6Repr::NeighborAdvert {
                router: false,
                solicited: false,
                override_: true,
                target,
                target_ll: Some(our_mac),
            };
            let hdr = self.nd_header(target, ALL_NODES);
            if self.queue_icmpv6(now, Link6::Mac(multicast_mac(ALL_NODES)), hdr, &na).is_ok() {
                self.counters.ndp_adverts_sent += 1;
            }
            return Received::Consumed;
        }
        // Learn (or refresh) the sender, releasing what waited for it (§7.2.3).
        let reply_mac = source_ll.or(match rx.reply_link {
            Link6::Mac(m) => Some(m),
            _ => None,
        });
        if let Some(mac) = source_ll {
            self.learn6(now, src, mac, true);
        }
        let na = Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target,
            target_ll: Some(our_mac),
        };
        let link = match (self.caps.medium, reply_mac) {
            (super::caps::Medium::Ip, _) => Link6::None,
            (_, Some(m)) => Link6::Mac(m),
            (_, None) => return Received::Dropped(DropReason::BadIcmpv6),
        };
        let hdr = self.nd_header(target, src);
        if self.queue_icmpv6(now, link, hdr, &na).is_ok() {
            self.counters.ndp_adverts_sent += 1;
        }
        Received::Consumed
    }

    /// RFC 4861 §7.2.5 and RFC 4862 §5.4.4.
    fn on_neighbor_advert<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp6<'_>,
        solicited: bool,
        target: Ipv6Addr,
        target_ll: Option<EthernetAddress>,
    ) -> Received<'a> {
        // §7.1.1: an advertisement to a group is never solicited.
        if solicited && rx.repr.dst.is_multicast() {
            return Received::Dropped(DropReason::BadIcmpv6);
        }
        self.counters.ndp_adverts_received += 1;
        match self.v6.state_of(target) {
            Some(AddrState::Tentative { .. }) => {
                self.v6.dad_failed(target, &mut self.counters);
                self.v6.recompute_dad();
                return Received::Consumed;
            }
            Some(AddrState::Preferred) => {
                // Someone else claims an address we use. RFC 4862 §5.4.4 leaves the
                // response to the implementation; it is counted for the operator.
                self.counters.ndp_address_conflicts += 1;
                return Received::Consumed;
            }
            // An address found duplicate belongs to the node that defended it: a neighbour
            // like any other.
            Some(AddrState::Duplicate) | None => {}
        }
        // Only a neighbour already in the cache is updated (§7.2.5: "if no entry exists, the
        // advertisement SHOULD be silently discarded"); an advertisement without a
        // link-layer address changes nothing here.
        match target_ll {
            Some(mac) if self.learn6(now, target, mac, false) => Received::Consumed,
            _ => Received::Dropped(DropReason::Icmpv6Ignored),
        }
    }

    /// RFC 4861 §6.1.2 and §6.3.4: a router advertisement from a link-local address sets (or
    /// withdraws) the default router, and its source link-layer address is learned.
    fn on_router_advert<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp6<'_>,
        router_lifetime: u16,
        options: &[u8],
    ) -> Received<'a> {
        let src = rx.repr.src;
        if !is_link_local(src) {
            return Received::Dropped(DropReason::BadIcmpv6);
        }
        if !self.v6.accept_ra {
            return Received::Dropped(DropReason::Icmpv6Ignored);
        }
        if let Some(mac) = NdpOptions::new(options).link_addr(option::SOURCE_LL) {
            self.learn6(now, src, mac, true);
        }
        self.v6.set_router(now, src, router_lifetime);
        self.counters.ndp_router_adverts += 1;
        Received::Consumed
    }

    /// Learns `ip` → `mac` and sends what waited for it. True if the cache took it.
    fn learn6(&mut self, now: Instant, ip: Ipv6Addr, mac: EthernetAddress, create: bool) -> bool {
        if !mac.is_unicast() {
            return false;
        }
        let v6 = &mut self.v6;
        let released = v6.ndp.learn(ip, mac, now, create, &mut v6.ndp_counters);
        v6.sync_counters(&mut self.counters);
        match released {
            Some(packets) => {
                self.flush_released(mac, packets, EtherType::Ipv6);
                true
            }
            None => false,
        }
    }

    /// The header of a Neighbor Discovery message.
    pub(super) fn nd_header(&self, src: Ipv6Addr, dst: Ipv6Addr) -> Ipv6Header {
        Ipv6Header { src, dst, next_header: 0, hop_limit: ND_HOP_LIMIT }
    }

    /// Queues a solicitation for `target` from `src`: to its solicited-node group for a first
    /// resolution or a detection probe (`src` unspecified: no source link-layer option,
    /// RFC 4862 §5.4.2), or unicast to `known` to revalidate a stale entry (RFC 4861 §7.3.3).
    pub(super) fn queue_neighbor_solicit(
        &mut self,
        target: Ipv6Addr,
        src: Ipv6Addr,
        known: Option<EthernetAddress>,
    ) {
        let (dst, mac) = match known {
            Some(mac) => (target, mac),
            None => {
                let group = solicited_node(target);
                (group, multicast_mac(group))
            }
        };
        let source_ll = (!src.is_unspecified()).then_some(self.config.mac);
        let ns = Icmpv6Repr::NeighborSolicit { target, source_ll };
        let link = match self.caps.medium {
            super::caps::Medium::Ip => Link6::None,
            super::caps::Medium::Ethernet => Link6::Mac(mac),
        };
        let hdr = self.nd_header(src, dst);
        // `now` only matters for an unresolved link, which this never is.
        if self.queue_icmpv6(Instant::ZERO, link, hdr, &ns).is_ok() {
            self.counters.ndp_solicits_sent += 1;
        }
    }

    /// Retransmits due solicitations, gives up on unreachable neighbours, and advances
    /// duplicate address detection.
    #[inline(never)]
    pub(super) fn poll_ndp(&mut self, now: Instant) {
        if self.v6.dad_next.is_some_and(|t| t <= now) {
            let mut probes = Vec::new();
            self.v6.dad_poll(now, &mut self.counters, &mut probes);
            self.v6.recompute_dad();
            for addr in probes {
                self.queue_neighbor_solicit(addr, Ipv6Addr::UNSPECIFIED, None);
            }
        }
        if self.v6.ndp.poll_at().is_some_and(|t| t <= now) {
            let mut due = Vec::new();
            let v6 = &mut self.v6;
            v6.ndp.poll(now, &mut v6.ndp_counters, |ip, known| due.push((ip, known)));
            v6.sync_counters(&mut self.counters);
            for (ip, known) in due {
                // A neighbour with no usable source address yet waits for the next retry.
                if let Some(src) = self.v6.source_for(ip) {
                    self.queue_neighbor_solicit(ip, src, known);
                }
            }
        }
    }
}
