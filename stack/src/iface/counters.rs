//! Named counters for everything the interface handles or drops.
//!
//! A stack running at millions of packets per second cannot be debugged with a debugger; it is
//! debugged by reading counters. Every drop has a reason ([`DropReason`]) and every reason has a
//! counter, so `rx_frames` always equals the sum of what was delivered, consumed and dropped.

macro_rules! counters {
    ($( $(#[$doc:meta])* $name:ident, )*) => {
        /// Counters of one interface. All fields only ever increase.
        #[derive(Debug, Clone, Default, PartialEq, Eq)]
        pub struct IfaceCounters {
            $( $(#[$doc])* pub $name: u64, )*
        }

        impl IfaceCounters {
            /// Every counter name, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$(stringify!($name)),*];

            /// `(name, value)` pairs in declaration order, for printing.
            pub fn iter(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
                [$((stringify!($name), self.$name)),*].into_iter()
            }

            /// The value of the counter called `name`, if there is one.
            pub fn by_name(&self, name: &str) -> Option<u64> {
                self.iter().find(|(n, _)| *n == name).map(|(_, v)| v)
            }
        }
    };
}

counters! {
    /// Frames passed to `receive`.
    rx_frames,
    /// Frames too short for an Ethernet header.
    rx_bad_ethernet,
    /// Frames carrying an 802.1Q/802.1ad tag: this interface is not on a VLAN, so they are not
    /// ours (the XDP program should not redirect them).
    rx_vlan_tagged,
    /// Frames whose 802.1Q tag was skipped and whose inner packet was processed
    /// (`InterfaceConfig::accept_vlan_tagged`).
    rx_vlan_skipped,
    /// Frames for another MAC address (neither ours nor broadcast).
    rx_not_our_mac,
    /// Frames whose EtherType is neither ARP nor IPv4.
    rx_unknown_ethertype,
    /// Well-formed ARP packets examined.
    rx_arp,
    /// ARP packets that do not parse or are not Ethernet/IPv4 ARP.
    rx_bad_arp,
    /// ARP packets whose target is not our address (learned from only if already cached).
    rx_arp_not_for_us,
    /// ARP replies we sent.
    arp_replies_sent,
    /// ARP requests we sent (first tries and retries).
    arp_requests_sent,
    /// ARP cache entries created or refreshed from received ARP.
    arp_learned,
    /// ARP cache entries evicted to make room.
    arp_evicted,
    /// IPv4 packets with a bad version, header length or total length.
    rx_bad_ipv4,
    /// IPv4 packets shorter than their header or their total length says.
    rx_truncated,
    /// IPv4 header checksum failures (software-verified only).
    rx_bad_ipv4_checksum,
    /// IPv4 packets for another address.
    rx_not_our_ip,
    /// IPv4 packets from a source no single host can have (broadcast, multicast).
    rx_martian_source,
    /// IPv4 fragments: this stack does not reassemble, and sets DF on what it sends.
    rx_fragments_dropped,
    /// IPv4 packets of a protocol other than TCP, UDP and ICMP.
    rx_unknown_protocol,
    /// TCP segments handed to the TCP layer.
    rx_tcp,
    /// TCP segments to a broadcast address (TCP is unicast only).
    rx_tcp_not_unicast,
    /// UDP datagrams received (well-formed).
    rx_udp,
    /// UDP datagrams with a bad length.
    rx_bad_udp,
    /// UDP checksum failures (software-verified only).
    rx_bad_udp_checksum,
    /// UDP datagrams queued on a socket.
    udp_delivered,
    /// UDP datagrams to a port nobody has bound.
    udp_no_socket,
    /// UDP datagrams dropped because the socket's receive ring was full.
    udp_socket_queue_full,
    /// UDP datagrams sent.
    udp_sent,
    /// ICMP messages received (well-formed).
    rx_icmp,
    /// ICMP messages that do not parse.
    rx_bad_icmp,
    /// ICMP checksum failures (software-verified only).
    rx_bad_icmp_checksum,
    /// ICMP messages we do not act on (replies, errors not about our TCP, echo to broadcast).
    rx_icmp_ignored,
    /// ICMP errors about our TCP segments, handed to the TCP layer.
    rx_icmp_tcp_errors,
    /// Echo replies sent.
    icmp_echo_replied,
    /// Destination-unreachable messages sent.
    icmp_unreachable_sent,
    /// ICMP errors suppressed by the rate limit.
    icmp_rate_limited,
    /// Frames written out (returned by `poll_transmit` or completed by `send_ip`).
    tx_frames,
    /// Sends to a destination with no route (off-link and no gateway).
    tx_no_route,
    /// Sends too large for the MTU or the lent buffer.
    tx_too_large,
    /// Frames dropped because the interface's transmit queue was full.
    tx_queue_full,
    /// Packets dropped for the bounds of the queue waiting for ARP resolution: the oldest
    /// ones when a new packet would pass its neighbour's byte bound, the new one when no room
    /// can be made under the bound over all neighbours.
    arp_queue_full,
    /// Packets dropped because ARP resolution gave up (or the entry was evicted).
    arp_resolution_failed,
    /// IPv6 packets with a bad version or length, or a bad extension-header chain.
    rx_bad_ipv6,
    /// IPv6 packets for an address that is not ours (nor a group we listen to).
    rx_ipv6_not_ours,
    /// IPv6 packets with a routing header asking us to forward them (answered with a
    /// parameter problem, RFC 8200 §4.4).
    rx_ipv6_routing_header,
    /// IPv6 fragments: this stack does not reassemble (atomic fragments are processed,
    /// RFC 6946).
    rx_ipv6_fragments_dropped,
    /// IPv6 packets with an upper layer not handled over IPv6 yet (TCP, UDP) or unknown.
    rx_ipv6_unsupported,
    /// ICMPv6 messages received (well-formed, checksum good).
    rx_icmpv6,
    /// ICMPv6 messages that do not parse, fail their checksum, or break a Neighbor
    /// Discovery rule (hop limit not 255, RFC 4861 §7.1).
    rx_bad_icmpv6,
    /// ICMPv6 messages we do not act on.
    rx_icmpv6_ignored,
    /// ICMPv6 echo replies sent.
    icmpv6_echo_replied,
    /// ICMPv6 errors sent (destination unreachable, parameter problem).
    icmpv6_errors_sent,
    /// Neighbour solicitations received for one of our addresses.
    ndp_solicits_received,
    /// Neighbour advertisements sent (answers and duplicate-detection defences).
    ndp_adverts_sent,
    /// Neighbour solicitations sent (resolution, revalidation, detection probes).
    ndp_solicits_sent,
    /// Neighbour advertisements received.
    ndp_adverts_received,
    /// Neighbour cache entries created or refreshed.
    ndp_learned,
    /// Neighbour cache entries evicted to make room.
    ndp_evicted,
    /// Packets dropped for the bounds of the queue waiting for neighbour resolution: the oldest
    /// ones when a new packet would pass its neighbour's byte bound, the new one when no room
    /// can be made under the bound over all neighbours.
    ndp_queue_full,
    /// Packets dropped because neighbour resolution gave up.
    ndp_resolution_failed,
    /// Addresses that passed duplicate address detection.
    ndp_dad_succeeded,
    /// Addresses found duplicate by detection, and so never used (RFC 4862 §5.4.5).
    ndp_dad_duplicates,
    /// Advertisements from another node for an address of ours already in use.
    ndp_address_conflicts,
    /// Router advertisements that set or withdrew the default router.
    ndp_router_adverts,
}

/// Why `receive` dropped a frame. Each reason increments exactly one counter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DropReason {
    /// Too short for an Ethernet header.
    BadEthernet,
    /// 802.1Q/802.1ad tagged.
    VlanTagged,
    /// For another MAC address.
    NotOurMac,
    /// Neither ARP nor IPv4.
    UnknownEthertype,
    /// Malformed or non-Ethernet/IPv4 ARP.
    BadArp,
    /// ARP whose target is another host.
    ArpNotForUs,
    /// Bad IPv4 version or length fields.
    BadIpv4,
    /// Shorter than the IPv4 header or total length.
    Truncated,
    /// IPv4 header checksum failed.
    BadIpv4Checksum,
    /// For another IP address.
    NotOurIp,
    /// Broadcast or multicast source address.
    MartianSource,
    /// An IPv4 fragment.
    Fragment,
    /// Not TCP, UDP or ICMP.
    UnknownProtocol,
    /// TCP to a broadcast address.
    TcpNotUnicast,
    /// Malformed UDP.
    BadUdp,
    /// UDP checksum failed.
    BadUdpChecksum,
    /// No UDP socket on the port.
    UdpNoSocket,
    /// The UDP socket's ring was full.
    UdpSocketQueueFull,
    /// Malformed ICMP.
    BadIcmp,
    /// ICMP checksum failed.
    BadIcmpChecksum,
    /// ICMP we do not act on.
    IcmpIgnored,
    /// Bad IPv6 header or extension-header chain.
    BadIpv6,
    /// IPv6 for an address or group not ours.
    Ipv6NotOurs,
    /// A routing header with segments left.
    Ipv6RoutingHeader,
    /// An IPv6 fragment.
    Ipv6Fragment,
    /// An upper layer not handled over IPv6.
    Ipv6Unsupported,
    /// Malformed ICMPv6 or Neighbor Discovery.
    BadIcmpv6,
    /// ICMPv6 we do not act on.
    Icmpv6Ignored,
}

impl DropReason {
    /// Every reason, for tools that print a line per reason and for tests.
    pub const ALL: [DropReason; 28] = [
        DropReason::BadEthernet,
        DropReason::VlanTagged,
        DropReason::NotOurMac,
        DropReason::UnknownEthertype,
        DropReason::BadArp,
        DropReason::ArpNotForUs,
        DropReason::BadIpv4,
        DropReason::Truncated,
        DropReason::BadIpv4Checksum,
        DropReason::NotOurIp,
        DropReason::MartianSource,
        DropReason::Fragment,
        DropReason::UnknownProtocol,
        DropReason::TcpNotUnicast,
        DropReason::BadUdp,
        DropReason::BadUdpChecksum,
        DropReason::UdpNoSocket,
        DropReason::UdpSocketQueueFull,
        DropReason::BadIcmp,
        DropReason::BadIcmpChecksum,
        DropReason::IcmpIgnored,
        DropReason::BadIpv6,
        DropReason::Ipv6NotOurs,
        DropReason::Ipv6RoutingHeader,
        DropReason::Ipv6Fragment,
        DropReason::Ipv6Unsupported,
        DropReason::BadIcmpv6,
        DropReason::Icmpv6Ignored,
    ];

    /// Increments this reason's counter.
    pub fn count(self, c: &mut IfaceCounters) {
        let field = match self {
            DropReason::BadEthernet => &mut c.rx_bad_ethernet,
            DropReason::VlanTagged => &mut c.rx_vlan_tagged,
            DropReason::NotOurMac => &mut c.rx_not_our_mac,
            DropReason::UnknownEthertype => &mut c.rx_unknown_ethertype,
            DropReason::BadArp => &mut c.rx_bad_arp,
            DropReason::ArpNotForUs => &mut c.rx_arp_not_for_us,
            DropReason::BadIpv4 => &mut c.rx_bad_ipv4,
            DropReason::Truncated => &mut c.rx_truncated,
            DropReason::BadIpv4Checksum => &mut c.rx_bad_ipv4_checksum,
            DropReason::NotOurIp => &mut c.rx_not_our_ip,
            DropReason::MartianSource => &mut c.rx_martian_source,
            DropReason::Fragment => &mut c.rx_fragments_dropped,
            DropReason::UnknownProtocol => &mut c.rx_unknown_protocol,
            DropReason::TcpNotUnicast => &mut c.rx_tcp_not_unicast,
            DropReason::BadUdp => &mut c.rx_bad_udp,
            DropReason::BadUdpChecksum => &mut c.rx_bad_udp_checksum,
            DropReason::UdpNoSocket => &mut c.udp_no_socket,
            DropReason::UdpSocketQueueFull => &mut c.udp_socket_queue_full,
            DropReason::BadIcmp => &mut c.rx_bad_icmp,
            DropReason::BadIcmpChecksum => &mut c.rx_bad_icmp_checksum,
            DropReason::IcmpIgnored => &mut c.rx_icmp_ignored,
            DropReason::BadIpv6 => &mut c.rx_bad_ipv6,
            DropReason::Ipv6NotOurs => &mut c.rx_ipv6_not_ours,
            DropReason::Ipv6RoutingHeader => &mut c.rx_ipv6_routing_header,
            DropReason::Ipv6Fragment => &mut c.rx_ipv6_fragments_dropped,
            DropReason::Ipv6Unsupported => &mut c.rx_ipv6_unsupported,
            DropReason::BadIcmpv6 => &mut c.rx_bad_icmpv6,
            DropReason::Icmpv6Ignored => &mut c.rx_icmpv6_ignored,
        };
        *field += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iter_follows_fields() {
        let c = IfaceCounters { rx_frames: 7, arp_resolution_failed: 3, ..Default::default() };
        assert_eq!(c.iter().count(), IfaceCounters::NAMES.len());
        assert_eq!(c.by_name("rx_frames"), Some(7));
        assert_eq!(c.by_name("arp_resolution_failed"), Some(3));
        assert_eq!(c.by_name("tx_frames"), Some(0));
        assert_eq!(c.by_name("nonexistent"), None);
        assert_eq!(c.iter().map(|(_, v)| v).sum::<u64>(), 10);
    }

    #[test]
    fn each_reason_counts_a_distinct_counter() {
        let all = DropReason::ALL;
        let mut seen = std::collections::HashSet::new();
        for r in all {
            let mut c = IfaceCounters::default();
            r.count(&mut c);
            let hit: Vec<_> = c.iter().filter(|(_, v)| *v == 1).map(|(n, _)| n).collect();
            assert_eq!(hit.len(), 1, "{r:?}");
            assert!(seen.insert(hit[0]), "{r:?} shares a counter");
        }
    }
}
