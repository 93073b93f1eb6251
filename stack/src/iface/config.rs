//! Configuration of one IPv4 interface, with Linux-like defaults.

use std::net::Ipv4Addr;

use super::ipv6_config::Ipv6Config;
use crate::time::Duration;
use crate::wire::ethernet::EthernetAddress;

/// Everything that shapes one interface's behaviour. Build it with [`InterfaceConfig::new`] and
/// override fields as needed; every default is the Linux one where Linux has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InterfaceConfig {
    /// Our MAC address: the source of every frame we send, and the unicast destination we
    /// accept. Ignored on a [`Medium::Ip`](super::Medium::Ip) device.
    pub mac: EthernetAddress,
    /// Our IPv4 address.
    pub ipv4_addr: Ipv4Addr,
    /// Length of our subnet prefix (0..=32): addresses sharing it are on-link and resolved by
    /// ARP directly; others go through [`gateway`](Self::gateway).
    pub prefix_len: u8,
    /// Default router for off-link destinations. `None` makes them unreachable (`NoRoute`).
    pub gateway: Option<Ipv4Addr>,
    /// Most neighbours the ARP cache holds; beyond this the oldest slot is reused.
    /// Default 1024 (Linux `gc_thresh3`).
    pub arp_cache_capacity: usize,
    /// How long a learned MAC is trusted without confirmation (an ARP packet from the
    /// neighbour, or [`Interface::confirm_reachable`](super::Interface::confirm_reachable)).
    /// After that it is still used but revalidated with unicast requests, and removed if they
    /// go unanswered. Default 60 s (of the order of Linux's `base_reachable_time` plus its
    /// stale grace).
    pub arp_entry_lifetime: Duration,
    /// Time between ARP requests for an unresolved neighbour. Default 1 s (Linux
    /// `retrans_time_ms`).
    pub arp_retry_interval: Duration,
    /// ARP requests sent for one neighbour before giving up and dropping what waits for it;
    /// also the number of unicast probes that revalidate an expired entry. Default 3 (Linux
    /// `mcast_solicit` and `ucast_solicit`).
    pub arp_max_requests: u32,
    /// Bytes of packets that may wait for one unresolved neighbour, each packet counted by its
    /// [`truesize`](super::neighbor::truesize) (its frame plus Linux's skb overhead). A new
    /// packet that would pass the bound pushes out the oldest waiting ones (each counted in
    /// `arp_queue_full`) and is itself always kept, as Linux does. Default 212,992, Linux's
    /// `unres_qlen_bytes` (`SK_WMEM_MAX`, since 3.3): 101 full-size frames (Linux's
    /// `unres_qlen`) or 338 small ones, e.g. a server's first answers to a new client. The
    /// packet count of 3 Linux had before lost all but three of a burst of rudp accepts.
    pub arp_pending_bytes_per_neighbor: usize,
    /// Bytes (counted as above) that may wait for all unresolved neighbours together: the
    /// bound on the copies' memory whatever the number of neighbours resolving (Linux has none;
    /// its bound is the neighbour count times `unres_qlen_bytes`). When a new packet would pass
    /// it, its own neighbour's oldest packets go first; if that neighbour has none, the new
    /// packet is dropped. Each counted in `arp_queue_full`. Default 1 MiB: about five
    /// neighbours' full queues, or 1,600 neighbours with one small packet each.
    pub arp_pending_bytes_total: usize,
    /// ICMP errors allowed per second (token refill rate). Default 1000 (Linux
    /// `icmp_msgs_per_sec`). 0 disables the limit.
    pub icmp_rate_per_sec: u32,
    /// ICMP errors allowed back to back (bucket size). Default 50 (Linux `icmp_msgs_burst`).
    pub icmp_burst: u32,
    /// TTL of the IPv4 packets we originate. Default 64 (Linux `ip_default_ttl`, RFC 1700).
    pub default_ttl: u8,
    /// Frames the interface can hold between generating them (ARP replies, ICMP, UDP, flushed
    /// packets) and `poll_transmit` handing them out. Allocated once. Default 64.
    pub tx_queue_capacity: usize,
    /// Datagrams each UDP socket's receive ring holds unless `bind` says otherwise. Default 64.
    pub udp_rx_slots: usize,
    /// What to do with a frame carrying one 802.1Q tag. `false` (the default): the interface
    /// is not on a VLAN, so the frame belongs to another segment and is dropped and counted.
    /// `true`: the tag is skipped and counted and the inner packet is processed as if it were
    /// untagged — for ports where the switch tags everything for one VLAN and the NIC does not
    /// strip tags. Replies leave untagged either way.
    pub accept_vlan_tagged: bool,
    /// IPv6 on this interface: off by default (see [`Ipv6Config`]).
    pub ipv6: Ipv6Config,
}

impl InterfaceConfig {
    /// A configuration with the given addresses and every other field at its default.
    pub fn new(mac: EthernetAddress, ipv4_addr: Ipv4Addr, prefix_len: u8) -> Self {
        InterfaceConfig {
            mac,
            ipv4_addr,
            prefix_len: prefix_len.min(32),
            gateway: None,
            arp_cache_capacity: 1024,
            arp_entry_lifetime: Duration::from_secs(60),
            arp_retry_interval: Duration::from_secs(1),
            arp_max_requests: 3,
            arp_pending_bytes_per_neighbor: 212_992,
            arp_pending_bytes_total: 1 << 20,
            icmp_rate_per_sec: 1000,
            icmp_burst: 50,
            default_ttl: 64,
            tx_queue_capacity: 64,
            udp_rx_slots: 64,
            accept_vlan_tagged: false,
            ipv6: Ipv6Config::default(),
        }
    }

    /// The subnet mask as a 32-bit integer.
    pub fn netmask(&self) -> u32 {
        match self.prefix_len {
            0 => 0,
            n => u32::MAX << (32 - u32::from(n.min(32))),
        }
    }

    /// Whether `addr` is in our subnet (and so reached without the gateway).
    pub fn is_on_link(&self, addr: Ipv4Addr) -> bool {
        let m = self.netmask();
        u32::from(addr) & m == u32::from(self.ipv4_addr) & m
    }

    /// Our subnet's directed broadcast address (RFC 919/922); `None` for /31 and /32, which have
    /// none (RFC 3021).
    pub fn subnet_broadcast(&self) -> Option<Ipv4Addr> {
        if self.prefix_len >= 31 {
            return None;
        }
        Some(Ipv4Addr::from(u32::from(self.ipv4_addr) | !self.netmask()))
    }

    /// Whether `addr` is a broadcast address as seen from this interface: the limited broadcast
    /// or our subnet's directed broadcast.
    pub fn is_broadcast(&self, addr: Ipv4Addr) -> bool {
        addr.is_broadcast() || self.subnet_broadcast() == Some(addr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(prefix: u8) -> InterfaceConfig {
        InterfaceConfig::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            Ipv4Addr::new(10, 1, 2, 3),
            prefix,
        )
    }

    #[test]
    fn on_link_follows_prefix() {
        let c = cfg(24);
        assert!(c.is_on_link(Ipv4Addr::new(10, 1, 2, 200)));
        assert!(!c.is_on_link(Ipv4Addr::new(10, 1, 3, 1)));
        assert!(cfg(16).is_on_link(Ipv4Addr::new(10, 1, 3, 1)));
        assert!(cfg(0).is_on_link(Ipv4Addr::new(8, 8, 8, 8)));
        assert!(!cfg(32).is_on_link(Ipv4Addr::new(10, 1, 2, 4)));
    }

    #[test]
    fn broadcast_addresses() {
        let c = cfg(24);
        assert_eq!(c.subnet_broadcast(), Some(Ipv4Addr::new(10, 1, 2, 255)));
        assert!(c.is_broadcast(Ipv4Addr::BROADCAST));
        assert!(!c.is_broadcast(Ipv4Addr::new(10, 1, 2, 254)));
        assert_eq!(cfg(31).subnet_broadcast(), None);
    }

    #[test]
    fn defaults_are_linux_like() {
        let c = cfg(24);
        assert_eq!(c.default_ttl, 64);
        assert_eq!(c.arp_entry_lifetime, Duration::from_secs(60));
        assert_eq!(c.arp_retry_interval, Duration::from_secs(1));
        assert_eq!((c.icmp_rate_per_sec, c.icmp_burst), (1000, 50));
        assert_eq!(c.gateway, None);
    }
}
