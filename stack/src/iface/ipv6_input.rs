//! IPv6 input (RFC 8200): header and extension-header checks, which destinations are ours,
//! ICMPv6 (RFC 4443: echo answered, errors sent within the rate limit) and the hand-off to
//! Neighbor Discovery; TCP segments to our unicast addresses and Packet Too Big errors about
//! our TCP segments go up to the TCP layer, UDP datagrams to their sockets.

use std::net::{Ipv6Addr, SocketAddr};

use super::counters::DropReason;
use super::interface::{Interface, QuotedTcp6, Received};
use super::ipv6_output::{Ipv6Header, Link6};
use super::udp::Delivery;
use crate::time::Instant;
use crate::wire::icmpv6::{self, Icmpv6Repr};
use crate::wire::ipv6::{self, next_header, Ipv6Repr};
use crate::wire::udp as wudp;
use crate::wire::Error;

/// A received IPv6 packet's context, for the handlers and for ICMPv6 errors.
pub(super) struct RxIp6<'a> {
    pub(super) repr: Ipv6Repr,
    /// The whole packet, header first, trimmed to its payload length.
    pub(super) datagram: &'a [u8],
    /// Sent to one of our unicast addresses (not a group).
    pub(super) to_unicast: bool,
    /// The frame went to a link-layer group or broadcast address.
    pub(super) link_multicast: bool,
    /// Where replies go: the frame's source MAC, so answering needs no resolution.
    pub(super) reply_link: Link6,
}

/// An ICMPv6 error to send about a received packet (RFC 4443 §3).
#[derive(Debug, Clone, Copy)]
pub(super) enum Icmpv6Error {
    /// Destination unreachable with this code (4: port unreachable).
    Unreachable(u8),
    /// Parameter problem with this code at this offset of the invoking packet.
    ParamProblem(u8, u32),
}

/// The TCP fields of one of our segments quoted in an ICMPv6 error: a packet from one of our
/// addresses (`ours`) whose next header is TCP. We send no extension headers, so a quote of
/// our own segment has the TCP header right after the fixed one; the 8 bytes of ports and
/// sequence number are all that is read (RFC 4443 §2.4 (c) quotes far more).
pub(crate) fn quoted_tcp6(invoking: &[u8], ours: impl Fn(Ipv6Addr) -> bool) -> Option<QuotedTcp6> {
    let h = invoking.get(..ipv6::HEADER_LEN + 8)?;
    if h[0] >> 4 != 6 || h[6] != 6 {
        return None;
    }
    let addr = |at: usize| -> Option<Ipv6Addr> {
        let b: [u8; 16] = h.get(at..at + 16)?.try_into().ok()?;
        Some(Ipv6Addr::from(b))
    };
    let (src_ip, dst_ip) = (addr(8)?, addr(24)?);
    if !ours(src_ip) {
        return None;
    }
    let t = &h[ipv6::HEADER_LEN..];
    Some(QuotedTcp6 {
        src_ip,
        dst_ip,
        src_port: u16::from_be_bytes([t[0], t[1]]),
        dst_port: u16::from_be_bytes([t[2], t[3]]),
        seq: u32::from_be_bytes([t[4], t[5], t[6], t[7]]),
    })
}

impl Interface {
    /// Processes an IPv6 packet (the Ethernet payload, or a whole raw-IP frame). Kept out of
    /// line so the IPv4 receive path is compiled as it was without IPv6.
    #[inline(never)]
    pub(super) fn receive_ipv6<'a>(
        &mut self,
        now: Instant,
        data: &'a [u8],
        reply_link: Link6,
        link_multicast: bool,
    ) -> Received<'a> {
        if !self.v6.enabled() {
            return Received::Dropped(DropReason::UnknownEthertype);
        }
        let pkt = match ipv6::Packet::new_checked(data) {
            Ok(p) => p,
            Err(Error::Truncated) => return Received::Dropped(DropReason::Truncated),
            Err(_) => return Received::Dropped(DropReason::BadIpv6),
        };
        let repr = match Ipv6Repr::parse(&pkt) {
            Ok(r) => r,
            Err(Error::Malformed) => return Received::Dropped(DropReason::MartianSource),
            Err(_) => return Received::Dropped(DropReason::BadIpv6),
        };
        let to_unicast = self.v6.is_ours(repr.dst);
        let to_group = repr.dst.is_multicast() && self.v6.accepts_multicast(repr.dst);
        if !to_unicast && !to_group {
            // Tentative addresses are not ours yet, except for Neighbor Discovery, which the
            // solicited-node group carries (RFC 4862 §5.4).
            return Received::Dropped(DropReason::Ipv6NotOurs);
        }
        let is_icmp = repr.next_header == next_header::ICMPV6;
        // Our own address as a source came from outside: spoofed. Neighbor Discovery is
        // exempt: a node defending an address we probe sends from that address.
        if !is_icmp && self.v6.is_ours(repr.src) {
            return Received::Dropped(DropReason::MartianSource);
        }
        let datagram = &data[..ipv6::HEADER_LEN + usize::from(pkt.payload_len())];
        let rx = RxIp6 { repr, datagram, to_unicast, link_multicast, reply_link };
        if let Some(at) = repr.routing_error_at {
            // RFC 8200 §4.4: we forward nothing; code 0 points at segments left.
            self.send_icmpv6_error(now, &rx, Icmpv6Error::ParamProblem(0, at as u32));
            return Received::Dropped(DropReason::Ipv6RoutingHeader);
        }
        // No reassembly, as for IPv4; an atomic fragment is a whole packet (RFC 6946).
        if repr.fragment.is_some_and(|f| !f.is_atomic()) {
            return Received::Dropped(DropReason::Ipv6Fragment);
        }
        let upper = &pkt.payload()[repr.upper_offset..];
        match repr.next_header {
            next_header::ICMPV6 => self.receive_icmpv6(now, &rx, upper),
            17 => self.receive_udp6(now, &rx, upper),
            6 if rx.to_unicast => {
                self.counters.rx_tcp += 1;
                Received::Tcp6 {
                    src: repr.src,
                    dst: repr.dst,
                    traffic_class: repr.traffic_class,
                    segment: datagram.get(ipv6::HEADER_LEN + repr.upper_offset..).unwrap_or(&[]),
                }
            }
            // RFC 9293 §3.9.1 (as over IPv4): TCP is unicast.
            6 => Received::Dropped(DropReason::TcpNotUnicast),
            next_header::NO_NEXT => Received::Dropped(DropReason::Ipv6Unsupported),
            _ => {
                // RFC 8200 §4: an unrecognised next header draws a parameter problem, code 1,
                // pointing at the field that named it; we know where that is only when no
                // extension header came before.
                if repr.upper_offset == 0 {
                    self.send_icmpv6_error(now, &rx, Icmpv6Error::ParamProblem(1, 6));
                }
                Received::Dropped(DropReason::Ipv6Unsupported)
            }
        }
    }

    /// A UDP datagram over IPv6: to the socket bound to its port, whatever the family
    /// (RFC 768 over RFC 8200; the checksum is mandatory, §8.1, and always verified here).
    fn receive_udp6<'a>(&mut self, now: Instant, rx: &RxIp6<'_>, data: &[u8]) -> Received<'a> {
        let Ok(pkt) = wudp::Packet::new_checked(data) else {
            return Received::Dropped(DropReason::BadUdp);
        };
        if !pkt.verify_checksum_v6(rx.repr.src, rx.repr.dst) {
            return Received::Dropped(DropReason::BadUdpChecksum);
        }
        self.counters.rx_udp += 1;
        if !rx.to_unicast {
            // No group membership for applications: a datagram to a group is not ours.
            return Received::Dropped(DropReason::Ipv6NotOurs);
        }
        let from = SocketAddr::from((rx.repr.src, pkt.src_port()));
        match self.udp.deliver(pkt.dst_port(), from, pkt.payload()) {
            Delivery::Queued => {
                self.counters.udp_delivered += 1;
                Received::Consumed
            }
            Delivery::QueueFull => Received::Dropped(DropReason::UdpSocketQueueFull),
            Delivery::NoSocket => {
                // RFC 4443 §3.1: port unreachable, code 4.
                self.send_icmpv6_error(now, rx, Icmpv6Error::Unreachable(4));
                Received::Dropped(DropReason::UdpNoSocket)
            }
        }
    }

    fn receive_icmpv6<'a>(&mut self, now: Instant, rx: &RxIp6<'_>, data: &[u8]) -> Received<'a> {
        // Always verified in software: the slow path, and checksum offloads are for TCP/UDP.
        let msg = match Icmpv6Repr::parse(rx.repr.src, rx.repr.dst, data, true) {
            Ok(m) => m,
            Err(Error::Unsupported) => {
                self.counters.rx_icmpv6 += 1;
                return Received::Dropped(DropReason::Icmpv6Ignored);
            }
            Err(_) => return Received::Dropped(DropReason::BadIcmpv6),
        };
        self.counters.rx_icmpv6 += 1;
        match msg {
            Icmpv6Repr::EchoRequest { ident, seq, data } => {
                // Echo to a group is not answered (Linux's `icmp_echo_ignore_multicast` is
                // off by default, but answering a group is an amplifier we do not need).
                if !rx.to_unicast {
                    return Received::Dropped(DropReason::Icmpv6Ignored);
                }
                let reply = Icmpv6Repr::EchoReply { ident, seq, data };
                let hdr = Ipv6Header {
                    src: rx.repr.dst,
                    dst: rx.repr.src,
                    next_header: next_header::ICMPV6,
                    hop_limit: self.v6.hop_limit,
                };
                if self.queue_icmpv6(now, rx.reply_link, hdr, &reply).is_ok() {
                    self.counters.icmpv6_echo_replied += 1;
                }
                Received::Consumed
            }
            Icmpv6Repr::NeighborSolicit { .. }
            | Icmpv6Repr::NeighborAdvert { .. }
            | Icmpv6Repr::RouterAdvert { .. }
            | Icmpv6Repr::RouterSolicit { .. } => self.receive_ndp(now, rx, &msg),
            // RFC 8201: a Packet Too Big about one of our TCP segments lowers its path MTU.
            Icmpv6Repr::PacketTooBig { mtu, invoking } if rx.to_unicast => {
                match quoted_tcp6(invoking, |a| self.v6.is_ours(a)) {
                    Some(original) => Received::PacketTooBig6 { mtu, original },
                    None => Received::Dropped(DropReason::Icmpv6Ignored),
                }
            }
            _ => Received::Dropped(DropReason::Icmpv6Ignored),
        }
    }

    /// Sends an ICMPv6 error about `rx` if RFC 4443 §2.4 (e) allows it and the rate limit
    /// (shared with ICMPv4, Linux's `icmp_msgs_per_sec` being global too) agrees: never about
    /// an ICMPv6 error, nor about a packet to a group (the parameter-problem code 2 exception
    /// does not arise: we do not parse options), a link-layer group, or from an unspecified or
    /// group source.
    pub(super) fn send_icmpv6_error(&mut self, now: Instant, rx: &RxIp6<'_>, err: Icmpv6Error) {
        let src = rx.repr.src;
        if !rx.to_unicast || rx.link_multicast || src.is_unspecified() || src.is_multicast() {
            return;
        }
        if rx.repr.next_header == next_header::ICMPV6 {
            let ty = rx.datagram.get(ipv6::HEADER_LEN + rx.repr.upper_offset).copied();
            if ty.is_none_or(|t| t < 128) {
                return;
            }
        }
        if !self.icmp_limit.try_take(now) {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        let invoking = rx.datagram;
        let msg = match err {
            Icmpv6Error::Unreachable(code) => Icmpv6Repr::DstUnreachable { code, invoking },
            Icmpv6Error::ParamProblem(code, pointer) => {
                Icmpv6Repr::ParamProblem { code, pointer, invoking }
            }
        };
        let hdr = Ipv6Header {
            src: rx.repr.dst,
            dst: src,
            next_header: next_header::ICMPV6,
            hop_limit: self.v6.hop_limit,
        };
        // The quote is cut so the error fits the minimum MTU (RFC 4443 §2.4 (c)).
        debug_assert!(msg.buffer_len() <= icmpv6::HEADER_LEN + icmpv6::MAX_QUOTE);
        if self.queue_icmpv6(now, rx.reply_link, hdr, &msg).is_ok() {
            self.counters.icmpv6_errors_sent += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv6Addr, SocketAddr};

    use super::super::fixtures::{OUR_MAC, PEER_MAC};
    use super::super::ipv6_config::{link_local_from_mac, Ipv6Cidr, Ipv6Config};
    use super::super::ipv6_output::multicast_mac;
    use super::super::ipv6_state::{AddrState, ALL_NODES};
    use super::super::{DeviceCaps, InterfaceConfig, SendError};
    use super::*;
    use crate::time::Duration;
    use crate::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
    use crate::wire::icmpv6::solicited_node;

    const G1: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const G2: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x11);
    const PEER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const FAR: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 9, 0, 0, 0, 0, 2);
    const ROUTER: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0xfe);
    const ROUTER_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xfe]);
    const SEC: Duration = Duration::from_secs(1);

    fn iface(dad: u32) -> Interface {
        let mut c = InterfaceConfig::new(OUR_MAC, std::net::Ipv4Addr::new(198, 18, 0, 1), 24);
        c.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(G1, 64), Ipv6Cidr::new(G2, 64)]);
        c.ipv6.dad_transmits = dad;
        Interface::new(c, DeviceCaps::ethernet(1500))
    }

    /// An Ethernet frame from `src_mac` to `dst_mac` carrying IPv6 `src` → `dst` with
    /// `next` and `upper` after the fixed header.
    fn frame(
        src_mac: EthernetAddress,
        dst_mac: EthernetAddress,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        hop_limit: u8,
        next: u8,
        upper: &[u8],
    ) -> Vec<u8> {
        let mut f = vec![0u8; ethernet::HEADER_LEN + ipv6::HEADER_LEN + upper.len()];
        let eth = EthernetRepr { src: src_mac, dst: dst_mac, ethertype: EtherType::Ipv6 };
        eth.emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
        let ip = Ipv6Repr {
            src,
            dst,
            next_header: next,
            payload_len: upper.len(),
            hop_limit,
            traffic_class: 0,
            flow_label: 0,
            upper_offset: 0,
            fragment: None,
            routing_error_at: None,
        };
        ip.emit(&mut ipv6::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]));
        f[ethernet::HEADER_LEN + ipv6::HEADER_LEN..].copy_from_slice(upper);
        f
    }

    fn icmp(
        src_mac: EthernetAddress,
        dst_mac: EthernetAddress,
        src: Ipv6Addr,
        dst: Ipv6Addr,
        msg: &Icmpv6Repr<'_>,
    ) -> Vec<u8> {
        let mut body = vec![0u8; msg.buffer_len()];
        msg.emit(src, dst, &mut body, true);
        let hop = if matches!(msg, Icmpv6Repr::EchoRequest { .. }) { 64 } else { 255 };
        frame(src_mac, dst_mac, src, dst, hop, next_header::ICMPV6, &body)
    }

    /// Every queued frame, parsed: (Ethernet destination, IPv6 source, destination, message
    /// bytes).
    fn drain(
        iface: &mut Interface,
        now: Instant,
    ) -> Vec<(EthernetAddress, Ipv6Addr, Ipv6Addr, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 1514];
        while let Some(n) = iface.poll_transmit(now, &mut buf) {
            let eth = ethernet::Frame::new_checked(&buf[..n]).unwrap();
            assert_eq!(eth.ethertype(), EtherType::Ipv6);
            let ip = ipv6::Packet::new_checked(eth.payload()).unwrap();
            out.push((eth.dst_addr(), ip.src_addr(), ip.dst_addr(), ip.payload().to_vec()));
        }
        out
    }

    /// A checksummed UDP datagram from `sport` to `dport` over IPv6.
    fn udp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let mut d = vec![0u8; wudp::HEADER_LEN + payload.len()];
        d[wudp::HEADER_LEN..].copy_from_slice(payload);
        let mut p = wudp::Packet::new_unchecked(&mut d[..]);
        p.set_src_port(sport);
        p.set_dst_port(dport);
        p.set_len((wudp::HEADER_LEN + payload.len()) as u16);
        p.fill_checksum_v6(src, dst);
        d
    }

    fn parse<'a>(src: Ipv6Addr, dst: Ipv6Addr, m: &'a [u8]) -> Icmpv6Repr<'a> {
        Icmpv6Repr::parse(src, dst, m, true).expect("a valid ICMPv6 message")
    }

    #[test]
    fn detection_probes_every_address_from_the_unspecified_source_then_uses_them() {
        let mut iface = iface(1);
        let now = Instant::ZERO;
        let ll = link_local_from_mac(OUR_MAC);
        assert_eq!(iface.poll_timeout(), Some(Instant::ZERO), "the first probes are due");
        let probes = drain(&mut iface, now);
        assert_eq!(probes.len(), 3);
        for (mac, src, dst, m) in &probes {
            assert_eq!(*src, Ipv6Addr::UNSPECIFIED);
            let Icmpv6Repr::NeighborSolicit { target, source_ll } = parse(*src, *dst, m) else {
                panic!("not a solicitation")
            };
            assert_eq!(
                (*dst, *mac, source_ll),
                (solicited_node(target), multicast_mac(*dst), None)
            );
        }
        // Until the verdict, a tentative address takes no traffic.
        let ping = Icmpv6Repr::EchoRequest { ident: 1, seq: 1, data: b"x" };
        let f = icmp(PEER_MAC, OUR_MAC, PEER6, G1, &ping);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6NotOurs));
        assert_eq!(iface.poll_timeout(), Some(now + SEC));
        assert!(drain(&mut iface, now + SEC).is_empty());
        assert_eq!(iface.ipv6().state_of(ll), Some(AddrState::Preferred));
        assert_eq!(iface.counters.ndp_dad_succeeded, 3);
        assert_eq!(iface.poll_timeout(), None);
    }

    #[test]
    fn detection_finds_a_duplicate_by_advertisement_or_by_a_rival_probe() {
        let mut iface = iface(1);
        let now = Instant::ZERO;
        drain(&mut iface, now);
        // Another node already has G1: it defends it with an advertisement to all nodes.
        let na = Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: false,
            override_: true,
            target: G1,
            target_ll: Some(PEER_MAC),
        };
        let f = icmp(PEER_MAC, multicast_mac(ALL_NODES), G1, ALL_NODES, &na);
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        // Another node probes G2 at the same time.
        let ns = Icmpv6Repr::NeighborSolicit { target: G2, source_ll: None };
        let group = solicited_node(G2);
        let f = icmp(PEER_MAC, multicast_mac(group), Ipv6Addr::UNSPECIFIED, group, &ns);
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        drain(&mut iface, now + SEC);
        assert_eq!(iface.ipv6().state_of(G1), Some(AddrState::Duplicate));
        assert_eq!(iface.ipv6().state_of(G2), Some(AddrState::Duplicate));
        assert_eq!((iface.counters.ndp_dad_duplicates, iface.counters.ndp_dad_succeeded), (2, 1));
        // Neither is ever used: not as a destination, not as a source.
        let ping = Icmpv6Repr::EchoRequest { ident: 1, seq: 1, data: b"x" };
        let f = icmp(PEER_MAC, OUR_MAC, PEER6, G1, &ping);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6NotOurs));
        assert_eq!(iface.ipv6().source_for(PEER6), Some(link_local_from_mac(OUR_MAC)));
        // G1 is now the defender's: a neighbour we resolve and learn like any other.
        let ll = link_local_from_mac(OUR_MAC);
        iface.icmpv6_echo_request(now + SEC, G1, 1, 1, b"y").unwrap();
        assert_eq!(drain(&mut iface, now + SEC).len(), 1, "a solicitation for G1");
        let na = Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: G1,
            target_ll: Some(PEER_MAC),
        };
        assert_eq!(
            iface.receive(now + SEC, &icmp(PEER_MAC, OUR_MAC, G1, ll, &na)),
            Received::Consumed
        );
        let out = drain(&mut iface, now + SEC);
        assert_eq!((out[0].0, out[0].2), (PEER_MAC, G1), "the echo request, released");
        assert_eq!(iface.counters.ndp_address_conflicts, 0);
    }

    #[test]
    fn a_preferred_address_is_defended_against_a_probe() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        let ns = Icmpv6Repr::NeighborSolicit { target: G1, source_ll: None };
        let group = solicited_node(G1);
        let f = icmp(PEER_MAC, multicast_mac(group), Ipv6Addr::UNSPECIFIED, group, &ns);
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        let out = drain(&mut iface, now);
        assert_eq!(out.len(), 1);
        let (mac, src, dst, m) = &out[0];
        assert_eq!((*mac, *src, *dst), (multicast_mac(ALL_NODES), G1, ALL_NODES));
        let Icmpv6Repr::NeighborAdvert { solicited, target, target_ll, .. } = parse(*src, *dst, m)
        else {
            panic!("not an advertisement")
        };
        assert_eq!((solicited, target, target_ll), (false, G1, Some(OUR_MAC)));
    }

    #[test]
    fn a_solicitation_is_answered_and_its_sender_learned() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        let ns = Icmpv6Repr::NeighborSolicit { target: G2, source_ll: Some(PEER_MAC) };
        let group = solicited_node(G2);
        let f = icmp(PEER_MAC, multicast_mac(group), PEER6, group, &ns);
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        let out = drain(&mut iface, now);
        let (mac, src, dst, m) = &out[0];
        assert_eq!((*mac, *src, *dst), (PEER_MAC, G2, PEER6));
        let Icmpv6Repr::NeighborAdvert { solicited, override_, target, target_ll, .. } =
            parse(*src, *dst, m)
        else {
            panic!("not an advertisement")
        };
        assert_eq!((solicited, override_, target, target_ll), (true, true, G2, Some(OUR_MAC)));
        assert_eq!(iface.ipv6().neighbors().len(), 1, "the sender was learned");
        // A solicitation with hop limit below 255 was forwarded: invalid (RFC 4861 §7.1.1).
        let mut f = icmp(PEER_MAC, multicast_mac(group), PEER6, group, &ns);
        f[ethernet::HEADER_LEN + 7] = 64;
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::BadIcmpv6));
        // A solicitation for an address not ours goes unanswered.
        let other = Icmpv6Repr::NeighborSolicit { target: FAR, source_ll: Some(PEER_MAC) };
        let group = solicited_node(G1);
        let f = icmp(PEER_MAC, multicast_mac(group), PEER6, group, &other);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6NotOurs));
        assert!(drain(&mut iface, now).is_empty());
    }

    #[test]
    fn echo_requests_are_answered_from_the_address_they_were_sent_to() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        let ping = Icmpv6Repr::EchoRequest { ident: 7, seq: 9, data: b"hello" };
        for ours in [G1, G2, link_local_from_mac(OUR_MAC)] {
            let f = icmp(PEER_MAC, OUR_MAC, PEER6, ours, &ping);
            assert_eq!(iface.receive(now, &f), Received::Consumed);
            let out = drain(&mut iface, now);
            let (mac, src, dst, m) = &out[0];
            assert_eq!((*mac, *src, *dst), (PEER_MAC, ours, PEER6));
            let want = Icmpv6Repr::EchoReply { ident: 7, seq: 9, data: b"hello" };
            assert_eq!(parse(*src, *dst, m), want);
        }
        assert_eq!(iface.counters.icmpv6_echo_replied, 3);
        // A corrupted checksum is dropped and counted.
        let mut f = icmp(PEER_MAC, OUR_MAC, PEER6, G1, &ping);
        *f.last_mut().unwrap() ^= 1;
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::BadIcmpv6));
        // Echo to all nodes is not answered.
        let f = icmp(PEER_MAC, multicast_mac(ALL_NODES), PEER6, ALL_NODES, &ping);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Icmpv6Ignored));
    }

    #[test]
    fn resolution_queues_solicits_releases_on_advertisement_and_gives_up() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        iface.icmpv6_echo_request(now, PEER6, 1, 1, b"a").unwrap();
        iface.icmpv6_echo_request(now, PEER6, 1, 2, b"b").unwrap();
        let out = drain(&mut iface, now);
        assert_eq!(out.len(), 1, "one solicitation; the requests wait");
        let (mac, src, dst, m) = &out[0];
        assert_eq!(
            (*mac, *src, *dst),
            (multicast_mac(solicited_node(PEER6)), G1, solicited_node(PEER6))
        );
        let Icmpv6Repr::NeighborSolicit { target, source_ll } = parse(*src, *dst, m) else {
            panic!("not a solicitation")
        };
        assert_eq!((target, source_ll), (PEER6, Some(OUR_MAC)));
        // Retransmitted after a second.
        assert_eq!(drain(&mut iface, now + SEC).len(), 1);
        let na = Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: PEER6,
            target_ll: Some(PEER_MAC),
        };
        let f = icmp(PEER_MAC, OUR_MAC, PEER6, G1, &na);
        assert_eq!(iface.receive(now + SEC, &f), Received::Consumed);
        let out = drain(&mut iface, now + SEC);
        assert_eq!(out.len(), 2, "both requests released");
        for (i, (mac, src, dst, m)) in out.iter().enumerate() {
            assert_eq!((*mac, *src, *dst), (PEER_MAC, G1, PEER6));
            let Icmpv6Repr::EchoRequest { seq, .. } = parse(*src, *dst, m) else { panic!() };
            assert_eq!(usize::from(seq), i + 1);
        }
        // A neighbour that never answers: three solicitations, then what waited is dropped.
        let silent = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 3);
        iface.icmpv6_echo_request(now, silent, 1, 1, b"c").unwrap();
        let mut solicits = 0;
        for s in 0..5 {
            solicits += drain(&mut iface, now + Duration::from_secs(s)).len();
        }
        assert_eq!(solicits, 3);
        assert_eq!(iface.counters.ndp_resolution_failed, 1);
        // Off-link with no router: no route.
        assert_eq!(iface.icmpv6_echo_request(now, FAR, 1, 1, b"d"), Err(SendError::NoRoute));
    }

    /// A router advertisement from `src` (ROUTER_MAC's link-layer address option, a 1800 s
    /// router lifetime) to all nodes.
    fn router_advert(src: Ipv6Addr) -> Vec<u8> {
        let mut opts = [0u8; 8];
        opts[0] = 1; // source link-layer address
        opts[1] = 1;
        opts[2..8].copy_from_slice(&ROUTER_MAC.0);
        let ra = Icmpv6Repr::RouterAdvert {
            hop_limit: 64,
            managed: false,
            other: false,
            router_lifetime: 1800,
            reachable_ms: 0,
            retrans_ms: 0,
            options: &opts,
        };
        icmp(ROUTER_MAC, multicast_mac(ALL_NODES), src, ALL_NODES, &ra)
    }

    #[test]
    fn a_router_advertisement_gives_a_default_router_for_off_link_destinations() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        let f = router_advert(ROUTER);
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        assert_eq!(iface.ipv6().default_router(now), Some(ROUTER));
        iface.icmpv6_echo_request(now, FAR, 1, 1, b"far").unwrap();
        let out = drain(&mut iface, now);
        assert_eq!((out[0].0, out[0].2), (ROUTER_MAC, FAR), "straight to the router's MAC");
        // An advertisement from a global address is invalid (RFC 4861 §6.1.2).
        let f = router_advert(PEER6);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::BadIcmpv6));
    }

    #[test]
    fn progress_to_an_off_link_destination_confirms_the_router() {
        // The router's entry, learned at 0 from its advertisement, lasts REACHABLE_TIME (30 s).
        // Upper-layer advice at 20 s about a destination behind it (RFC 4861 §7.3.1) makes
        // it last until 50 s: a packet at 40 s goes out with no unicast solicitation; without
        // the advice it draws one (the entry is being revalidated).
        let f = router_advert(ROUTER);
        let at = |s: u64| Instant::ZERO + Duration::from_secs(s);
        let mut sent = Vec::new();
        for confirm in [true, false] {
            let mut iface = iface(0);
            assert_eq!(iface.receive(at(0), &f), Received::Consumed);
            if confirm {
                iface.confirm_reachable6(at(20), FAR);
            }
            iface.icmpv6_echo_request(at(40), FAR, 1, 1, b"far").unwrap();
            let out = drain(&mut iface, at(40));
            assert!(out.iter().all(|o| o.0 == ROUTER_MAC), "{out:?}");
            sent.push((out.len(), iface.counters().ndp_solicits_sent));
        }
        assert_eq!(sent, [(1, 0), (2, 1)], "(frames, solicitations) with and without advice");
    }

    #[test]
    fn fragments_routing_headers_and_other_upper_layers_are_dropped_and_counted() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        // A non-atomic fragment.
        let frag = [17, 0, 0x00, 0x01, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0];
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, next_header::FRAGMENT, &frag);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6Fragment));
        // A routing header with segments left: parameter problem, pointer at the field.
        let routing = [17, 0, 4, 1, 0, 0, 0, 0];
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, next_header::ROUTING, &routing);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6RoutingHeader));
        let out = drain(&mut iface, now);
        let (_, src, dst, m) = &out[0];
        let Icmpv6Repr::ParamProblem { code, pointer, .. } = parse(*src, *dst, m) else { panic!() };
        assert_eq!((code, pointer), (0, 42));
        // UDP to a port nobody listens on over IPv6: port unreachable.
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, 17, &udp(PEER6, G1, 9, 9, b""));
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::UdpNoSocket));
        let out = drain(&mut iface, now);
        let (_, src, dst, m) = &out[0];
        assert!(matches!(parse(*src, *dst, m), Icmpv6Repr::DstUnreachable { code: 4, .. }));
        // An unknown next header: parameter problem code 1 at offset 6.
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, 200, &[0; 8]);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6Unsupported));
        let out = drain(&mut iface, now);
        let (_, src, dst, m) = &out[0];
        let Icmpv6Repr::ParamProblem { code, pointer, .. } = parse(*src, *dst, m) else { panic!() };
        assert_eq!((code, pointer), (1, 6));
        // For another address, and from a group source (martian).
        let f = frame(PEER_MAC, OUR_MAC, PEER6, FAR, 64, 17, &[0; 8]);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::Ipv6NotOurs));
        let f = frame(PEER_MAC, OUR_MAC, ALL_NODES, G1, 64, 17, &[0; 8]);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::MartianSource));
        assert_eq!(
            (iface.counters.rx_ipv6_fragments_dropped, iface.counters.rx_ipv6_routing_header),
            (1, 1)
        );
        assert_eq!(iface.counters.rx_ipv6_unsupported, 1);
        assert_eq!(iface.counters.icmpv6_errors_sent, 3);
    }

    #[test]
    fn udp_over_ipv6_reaches_the_same_sockets_and_answers_go_back_over_ipv6() {
        let mut iface = iface(0);
        let now = Instant::ZERO;
        let h = iface.udp_bind(7).unwrap();
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G2, 64, 17, &udp(PEER6, G2, 4000, 7, b"v6!"));
        assert_eq!(iface.receive(now, &f), Received::Consumed);
        let (from, data) = iface.udp_recv_from(h).expect("delivered");
        assert_eq!((from, data), (SocketAddr::from((PEER6, 4000)), &b"v6!"[..]));
        iface.udp_consume(h);
        // The reply goes from the address sharing the peer's prefix, through resolution.
        iface.udp_send_to(now, h, from, b"back").unwrap();
        let out = drain(&mut iface, now);
        assert_eq!(out.len(), 1, "a solicitation first");
        let na = Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: PEER6,
            target_ll: Some(PEER_MAC),
        };
        iface.receive(now, &icmp(PEER_MAC, OUR_MAC, PEER6, G1, &na));
        let out = drain(&mut iface, now);
        let (mac, src, dst, body) = &out[0];
        assert_eq!((*mac, *src, *dst), (PEER_MAC, G1, PEER6));
        let pkt = wudp::Packet::new_checked(&body[..]).unwrap();
        assert!(pkt.verify_checksum_v6(G1, PEER6));
        assert_eq!((pkt.src_port(), pkt.dst_port(), pkt.payload()), (7, 4000, &b"back"[..]));
        assert_eq!(iface.counters.udp_sent, 1);
        // A bad checksum, and a zero one (mandatory over IPv6), are dropped and counted.
        let mut bad = udp(PEER6, G2, 4000, 7, b"x");
        bad[8] ^= 1;
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G2, 64, 17, &bad);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::BadUdpChecksum));
        let mut zero = udp(PEER6, G2, 4000, 7, b"x");
        zero[6..8].fill(0);
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G2, 64, 17, &zero);
        assert_eq!(iface.receive(now, &f), Received::Dropped(DropReason::BadUdpChecksum));
        assert_eq!(iface.counters.rx_bad_udp_checksum, 2);
        // A datagram too large for the MTU is refused.
        let big = vec![0u8; 1500 - 48 + 1];
        assert_eq!(iface.udp_send_to(now, h, from, &big), Err(SendError::TooLarge));
    }

    #[test]
    fn errors_are_rate_limited() {
        let mut iface = iface(0);
        iface.icmp_limit = crate::iface::TokenBucket::new(1, 2);
        let now = Instant::ZERO;
        for _ in 0..5 {
            let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, 17, &udp(PEER6, G1, 9, 9, b""));
            iface.receive(now, &f);
        }
        assert_eq!((iface.counters.icmpv6_errors_sent, iface.counters.icmp_rate_limited), (2, 3));
    }

    #[test]
    fn an_ipv4_only_interface_drops_ipv6_as_before() {
        let mut iface = super::super::fixtures::ethernet();
        let f = frame(PEER_MAC, OUR_MAC, PEER6, G1, 64, 17, &[0; 8]);
        assert_eq!(
            iface.receive(Instant::ZERO, &f),
            Received::Dropped(DropReason::UnknownEthertype)
        );
        let f = frame(PEER_MAC, multicast_mac(ALL_NODES), PEER6, ALL_NODES, 64, 17, &[0; 8]);
        assert_eq!(iface.receive(Instant::ZERO, &f), Received::Dropped(DropReason::NotOurMac));
    }
}
