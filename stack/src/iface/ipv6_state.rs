//! The IPv6 state of one interface: its addresses with their duplicate-address-detection
//! state (RFC 4862 §5.4), the neighbour cache (RFC 4861 §7.3) and the default router learned
//! from router advertisements (RFC 4861 §6.3.4), plus the choices made from them: which
//! destinations are ours, which are on-link, which source address to use.

use std::net::Ipv6Addr;

use super::config::InterfaceConfig;
use super::counters::IfaceCounters;
use super::ipv6_config::{link_local_from_mac, Ipv6Cidr};
use super::neighbor::{NdpCache, NeighborCache, NeighborParams};
use crate::time::{Duration, Instant};
use crate::wire::icmpv6::solicited_node;

/// The all-nodes link-scope multicast address (RFC 4291 §2.7.1).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// RFC 4861 §10 `RETRANS_TIMER`: between duplicate-address-detection probes.
const RETRANS_TIMER: Duration = Duration::from_secs(1);

/// Where an address stands in duplicate address detection (RFC 4862 §5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddrState {
    /// Being checked: `probes_sent` solicitations are out; the next step is due at `next_at`
    /// (`None`: the first probe goes with the next poll). Packets to it are not accepted
    /// and it is never a source (§5.4).
    Tentative {
        /// Solicitations sent so far.
        probes_sent: u32,
        /// When the next probe (or the verdict) is due.
        next_at: Option<Instant>,
    },
    /// Checked (or detection off): in use.
    Preferred,
    /// Another node has it: never used (§5.4.5; Linux logs "duplicate address detected").
    Duplicate,
}

/// One of our addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ipv6Address {
    /// The address and its on-link prefix.
    pub cidr: Ipv6Cidr,
    /// Its detection state.
    pub state: AddrState,
}

/// The default router from a router advertisement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DefaultRouter {
    /// Its link-local address.
    pub addr: Ipv6Addr,
    /// When its router lifetime runs out (RFC 4861 §6.3.4).
    pub expires_at: Instant,
}

/// IPv6 on one interface (see the [module documentation](self)).
#[derive(Debug)]
pub struct Ipv6State {
    /// Link-local first, then the configured addresses in order.
    pub(super) addrs: Vec<Ipv6Address>,
    pub(super) ndp: NdpCache,
    /// The neighbour cache counts into an `IfaceCounters` of its own, whose ARP-named fields
    /// are copied into the `ndp_*` counters after each call (`sync_counters`).
    pub(super) ndp_counters: IfaceCounters,
    pub(super) router: Option<DefaultRouter>,
    pub(super) dad_transmits: u32,
    pub(super) dad_delay: Duration,
    pub(super) hop_limit: u8,
    pub(super) accept_ra: bool,
    /// [`dad_poll_at`](Self::dad_poll_at), kept so the transmit path's check costs nothing.
    pub(super) dad_next: Option<Instant>,
}

impl Ipv6State {
    /// The state `config` describes: every address tentative until detection has run (or
    /// preferred at once if `dad_transmits` is 0).
    pub fn new(config: &InterfaceConfig) -> Self {
        let v6 = &config.ipv6;
        let state = if v6.dad_transmits == 0 {
            AddrState::Preferred
        } else {
            AddrState::Tentative { probes_sent: 0, next_at: None }
        };
        let mut addrs = Vec::new();
        if v6.enabled {
            let ll = v6.link_local.unwrap_or_else(|| link_local_from_mac(config.mac));
            addrs.push(Ipv6Address { cidr: Ipv6Cidr::new(ll, 64), state });
            for c in &v6.addresses {
                if !addrs.iter().any(|a| a.cidr.addr == c.addr) {
                    addrs.push(Ipv6Address { cidr: *c, state });
                }
            }
        }
        // A disabled interface still gets a (one-slot) cache, so no path needs an Option.
        let mut params = NeighborParams::ndp(config, None);
        if !v6.enabled {
            params.capacity = 1;
        }
        let mut s = Ipv6State {
            addrs,
            ndp: NeighborCache::with_params(params),
            ndp_counters: IfaceCounters::default(),
            router: None,
            dad_transmits: v6.dad_transmits,
            dad_delay: v6.dad_delay,
            hop_limit: v6.hop_limit,
            accept_ra: v6.accept_ra,
            dad_next: None,
        };
        s.recompute_dad();
        s
    }

    /// Refreshes `dad_next` after detection states changed.
    pub(super) fn recompute_dad(&mut self) {
        self.dad_next = self.dad_poll_at();
    }

    /// The next instant at which IPv6 has timed work: a detection probe or verdict, or a
    /// solicitation to retransmit.
    pub fn poll_at(&self) -> Option<Instant> {
        match (self.dad_next, self.ndp.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether IPv6 runs here.
    pub fn enabled(&self) -> bool {
        !self.addrs.is_empty()
    }

    /// Our addresses and their states, link-local first.
    pub fn addresses(&self) -> &[Ipv6Address] {
        &self.addrs
    }

    /// The neighbour cache.
    pub fn neighbors(&self) -> &NdpCache {
        &self.ndp
    }

    /// The default router, if one advertised itself and its lifetime has not run out.
    pub fn default_router(&self, now: Instant) -> Option<Ipv6Addr> {
        self.router.filter(|r| now < r.expires_at).map(|r| r.addr)
    }

    /// The state of our address `addr`, if it is one.
    pub fn state_of(&self, addr: Ipv6Addr) -> Option<AddrState> {
        self.addrs.iter().find(|a| a.cidr.addr == addr).map(|a| a.state)
    }

    /// Whether `addr` is one of our addresses in use (preferred).
    pub fn is_ours(&self, addr: Ipv6Addr) -> bool {
        self.state_of(addr) == Some(AddrState::Preferred)
    }

    /// Whether a packet to multicast `dst` is for us: all-nodes, or the solicited-node
    /// group of one of our addresses not found duplicate (tentative ones included, so
    /// another node's detection probe reaches us, RFC 4862 §5.4.2).
    pub fn accepts_multicast(&self, dst: Ipv6Addr) -> bool {
        dst == ALL_NODES
            || self
                .addrs
                .iter()
                .any(|a| a.state != AddrState::Duplicate && solicited_node(a.cidr.addr) == dst)
    }

    /// Whether `dst` is on-link: link-local, or inside one of our addresses' prefixes
    /// (RFC 4861 §5.2). The prefix describes the link, so it stays on-link whatever became
    /// of the address (a duplicate one's owner is a neighbour on it).
    pub fn is_on_link(&self, dst: Ipv6Addr) -> bool {
        is_link_local(dst) || self.addrs.iter().any(|a| a.cidr.contains(dst))
    }

    /// The source address for a packet to `dst` (RFC 6724 §5, reduced to the rules that
    /// matter with one interface: same scope, then longest matching prefix): the link-local
    /// address for a link-local or multicast-link destination, else a preferred global one
    /// sharing `dst`'s prefix, else any preferred global, else the link-local.
    pub fn source_for(&self, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        let usable = || self.addrs.iter().filter(|a| a.state == AddrState::Preferred);
        let link_local = usable().find(|a| is_link_local(a.cidr.addr)).map(|a| a.cidr.addr);
        if is_link_local(dst) || (dst.is_multicast() && dst.segments()[0] & 0x000f <= 2) {
            return link_local;
        }
        let global = || usable().filter(|a| !is_link_local(a.cidr.addr));
        global()
            .find(|a| a.cidr.contains(dst))
            .or_else(|| global().next())
            .map(|a| a.cidr.addr)
            .or(link_local)
    }

    /// The next instant at which detection has work.
    pub fn dad_poll_at(&self) -> Option<Instant> {
        self.addrs
            .iter()
            .filter_map(|a| match a.state {
                AddrState::Tentative { next_at, .. } => Some(next_at.unwrap_or(Instant::ZERO)),
                _ => None,
            })
            .min()
    }

    /// Advances detection at `now`: returns the tentative addresses that need a probe now
    /// (at most one per address, written into `probe`), marks those whose last probe went
    /// unanswered for a retransmission interval preferred, and counts them.
    pub fn dad_poll(
        &mut self,
        now: Instant,
        counters: &mut IfaceCounters,
        probe: &mut Vec<Ipv6Addr>,
    ) {
        for a in &mut self.addrs {
            let AddrState::Tentative { probes_sent, next_at } = a.state else { continue };
            if next_at.is_some_and(|t| t > now) {
                continue;
            }
            if next_at.is_none() && self.dad_delay > Duration::ZERO {
                // The first poll starts the clock of the initial delay.
                a.state = AddrState::Tentative { probes_sent, next_at: Some(now + self.dad_delay) };
                continue;
            }
            if probes_sent >= self.dad_transmits {
                a.state = AddrState::Preferred;
                counters.ndp_dad_succeeded += 1;
            } else {
                a.state = AddrState::Tentative {
                    probes_sent: probes_sent + 1,
                    next_at: Some(now + RETRANS_TIMER),
                };
                probe.push(a.cidr.addr);
            }
        }
    }

    /// Another node has `addr` (RFC 4862 §5.4.3, §5.4.4): if it is tentative here, it becomes
    /// duplicate and is never used. True if that happened.
    pub fn dad_failed(&mut self, addr: Ipv6Addr, counters: &mut IfaceCounters) -> bool {
        match self.addrs.iter_mut().find(|a| a.cidr.addr == addr) {
            Some(a) if matches!(a.state, AddrState::Tentative { .. }) => {
                a.state = AddrState::Duplicate;
                counters.ndp_dad_duplicates += 1;
                true
            }
            _ => false,
        }
    }

    /// Records a router advertisement from `router` with `lifetime_s` (RFC 4861 §6.3.4): a
    /// non-zero lifetime makes it the default router until then; zero withdraws it.
    pub fn set_router(&mut self, now: Instant, router: Ipv6Addr, lifetime_s: u16) {
        if lifetime_s == 0 {
            if self.router.is_some_and(|r| r.addr == router) {
                self.router = None;
                self.ndp.set_protected(None);
            }
            return;
        }
        let expires_at = now + Duration::from_secs(u64::from(lifetime_s));
        self.router = Some(DefaultRouter { addr: router, expires_at });
        self.ndp.set_protected(Some(router));
    }

    /// Copies the neighbour cache's own counts into `counters`' NDP counters.
    pub(super) fn sync_counters(&self, counters: &mut IfaceCounters) {
        let c = &self.ndp_counters;
        counters.ndp_learned = c.arp_learned;
        counters.ndp_evicted = c.arp_evicted;
        counters.ndp_queue_full = c.arp_queue_full;
        counters.ndp_resolution_failed = c.arp_resolution_failed;
    }
}

/// Whether `a` is link-local unicast, fe80::/10 (RFC 4291 §2.5.6).
pub fn is_link_local(a: Ipv6Addr) -> bool {
    a.segments()[0] & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::ipv6_config::{Ipv6Cidr, Ipv6Config};
    use crate::wire::ethernet::EthernetAddress;

    fn state(dad: u32) -> Ipv6State {
        let mut c = InterfaceConfig::new(
            EthernetAddress([2, 0, 0, 0, 0, 1]),
            std::net::Ipv4Addr::new(198, 18, 0, 1),
            24,
        );
        c.ipv6 = Ipv6Config::with_addresses(vec![
            Ipv6Cidr::new("2001:db8:1::1".parse().unwrap(), 64),
            Ipv6Cidr::new("2001:db8:2::1".parse().unwrap(), 64),
        ]);
        c.ipv6.dad_transmits = dad;
        Ipv6State::new(&c)
    }

    #[test]
    fn addresses_are_tentative_until_detection_has_run_its_course() {
        let mut s = state(2);
        let mut c = IfaceCounters::default();
        assert_eq!(s.addresses().len(), 3);
        assert_eq!(s.source_for("2001:db8:1::9".parse().unwrap()), None);
        let mut probes = Vec::new();
        s.dad_poll(Instant::ZERO, &mut c, &mut probes);
        assert_eq!(probes.len(), 3, "one probe per address");
        assert_eq!(s.dad_poll_at(), Some(Instant::ZERO + RETRANS_TIMER));
        probes.clear();
        s.dad_poll(Instant::ZERO + RETRANS_TIMER, &mut c, &mut probes);
        assert_eq!(probes.len(), 3, "the second probe");
        assert!(s.dad_failed("2001:db8:2::1".parse().unwrap(), &mut c));
        probes.clear();
        s.dad_poll(Instant::ZERO + RETRANS_TIMER + RETRANS_TIMER, &mut c, &mut probes);
        assert!(probes.is_empty());
        assert_eq!((c.ndp_dad_succeeded, c.ndp_dad_duplicates), (2, 1));
        assert!(s.is_ours("2001:db8:1::1".parse().unwrap()));
        assert!(!s.is_ours("2001:db8:2::1".parse().unwrap()), "duplicate: never used");
        assert_eq!(s.dad_poll_at(), None);
        // Source selection: matching prefix, else the first global, link-local for link scope.
        let ll = s.addresses()[0].cidr.addr;
        assert_eq!(s.source_for("fe80::9".parse().unwrap()), Some(ll));
        assert_eq!(s.source_for(ALL_NODES), Some(ll));
        let g1: Ipv6Addr = "2001:db8:1::1".parse().unwrap();
        assert_eq!(s.source_for("2001:db8:1::77".parse().unwrap()), Some(g1));
        assert_eq!(s.source_for("2001:db8:2::77".parse().unwrap()), Some(g1));
        assert!(s.is_on_link("2001:db8:2::77".parse().unwrap()), "the prefix is the link's");
        assert!(!s.is_on_link("2001:db8:3::77".parse().unwrap()));
        assert!(s.is_on_link("2001:db8:1::77".parse().unwrap()));
    }

    #[test]
    fn the_first_probe_waits_for_the_initial_delay() {
        let mut s = state(1);
        s.dad_delay = Duration::from_millis(300);
        let mut c = IfaceCounters::default();
        let mut probes = Vec::new();
        let start = Instant::ZERO + Duration::from_secs(5);
        s.dad_poll(start, &mut c, &mut probes);
        assert!(probes.is_empty(), "the first poll only starts the delay");
        assert_eq!(s.dad_poll_at(), Some(start + Duration::from_millis(300)));
        s.dad_poll(start + Duration::from_millis(299), &mut c, &mut probes);
        assert!(probes.is_empty());
        s.dad_poll(start + Duration::from_millis(300), &mut c, &mut probes);
        assert_eq!(probes.len(), 3);
    }

    #[test]
    fn the_default_router_follows_its_lifetime() {
        let mut s = state(0);
        let r: Ipv6Addr = "fe80::1".parse().unwrap();
        s.set_router(Instant::ZERO, r, 10);
        assert_eq!(s.default_router(Instant::ZERO + Duration::from_secs(9)), Some(r));
        assert_eq!(s.default_router(Instant::ZERO + Duration::from_secs(10)), None);
        s.set_router(Instant::ZERO, r, 10);
        s.set_router(Instant::ZERO, r, 0);
        assert_eq!(s.default_router(Instant::ZERO), None);
    }
}
