//! Frame input: Ethernet demultiplexing, IPv4 validation, and the UDP and ICMP handlers
//! (RFC 1122 §3.2.1, RFC 792). A TCP segment, or an ICMP error about one, goes up to the TCP
//! layer as [`Received`]; everything else is answered here or dropped and counted.

use super::caps::Medium;
use super::counters::DropReason;
use super::icmp::{self, ErrorContext};
use super::interface::{Interface, Link, Received};
use super::ipv6_output::Link6;
use super::output::emit_icmp;
use super::udp::Delivery;
use crate::time::Instant;
use crate::wire::ethernet::{self, EtherType};
use crate::wire::icmp::{self as wicmp, DstUnreachable, Icmpv4Repr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use crate::wire::udp::{self as wudp, UdpRepr};
use crate::wire::Error;
use std::net::Ipv4Addr;

impl Interface {
    /// Processes one received frame (a raw IPv4 packet on a [`Medium::Ip`] device).
    pub fn receive<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Received<'a> {
        self.counters.rx_frames += 1;
        let r = match self.caps.medium {
            Medium::Ip if frame.first().is_some_and(|b| b >> 4 == 6) => {
                self.receive_ipv6(now, frame, Link6::None, false)
            }
            Medium::Ip => self.receive_ipv4(now, frame, Link::None, false),
            Medium::Ethernet => self.receive_ethernet(now, frame),
        };
        if let Received::Dropped(reason) = r {
            reason.count(&mut self.counters);
        }
        r
    }

    pub(super) fn receive_ethernet<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Received<'a> {
        let Ok(eth) = ethernet::Frame::new_checked(frame) else {
            return Received::Dropped(DropReason::BadEthernet);
        };
        if eth.has_vlan() {
            if !self.config.accept_vlan_tagged {
                // Not configured on a VLAN: answering would leak across segments.
                return Received::Dropped(DropReason::VlanTagged);
            }
            // The view already points past the tag: ethertype and payload are the inner ones.
            self.counters.rx_vlan_skipped += 1;
        }
        let dst = eth.dst_addr();
        // IPv6 multicast frames (33:33:…, RFC 2464 §7) are ours if IPv6 runs here; the IPv6
        // layer then keeps only the groups we belong to. Evaluated only off the unicast path.
        let ipv6_group = || {
            dst.0[..2] == [0x33, 0x33] && eth.ethertype() == EtherType::Ipv6 && self.v6.enabled()
        };
        if dst != self.config.mac && !dst.is_broadcast() && !ipv6_group() {
            return Received::Dropped(DropReason::NotOurMac);
        }
        // IEEE 802.3: a source address is never a group address. Such a frame is forged, and
        // answering it would send our replies to a whole group.
        if eth.src_addr().is_multicast() {
            return Received::Dropped(DropReason::BadEthernet);
        }
        match eth.ethertype() {
            EtherType::Arp => self.receive_arp(now, eth.payload_slice()),
            EtherType::Ipv4 => self.receive_ipv4(
                now,
                eth.payload_slice(),
                Link::Mac(eth.src_addr()),
                dst.is_multicast(),
            ),
            EtherType::Ipv6 => self.receive_ipv6(
                now,
                eth.payload_slice(),
                Link6::Mac(eth.src_addr()),
                dst.is_multicast(),
            ),
            _ => Received::Dropped(DropReason::UnknownEthertype),
        }
    }

    pub(super) fn receive_ipv4<'a>(
        &mut self,
        now: Instant,
        data: &'a [u8],
        reply_link: Link,
        link_multicast: bool,
    ) -> Received<'a> {
        let pkt = match ipv4::Packet::new_checked(data) {
            Ok(p) => p,
            Err(Error::Truncated) => return Received::Dropped(DropReason::Truncated),
            Err(_) => return Received::Dropped(DropReason::BadIpv4),
        };
        let repr = match Ipv4Repr::parse(&pkt, !self.caps.checksum.ipv4.rx) {
            Ok(r) => r,
            Err(Error::BadChecksum) => return Received::Dropped(DropReason::BadIpv4Checksum),
            Err(Error::Malformed) => return Received::Dropped(DropReason::MartianSource),
            Err(Error::Truncated) => return Received::Dropped(DropReason::Truncated),
            Err(_) => return Received::Dropped(DropReason::BadIpv4),
        };
        // RFC 1122 §3.2.1.3: a host discards datagrams from a broadcast source; one claiming
        // our own address as its source came from outside and is spoofed (Linux: martian).
        if self.is_broadcast(repr.src) || repr.src == self.config.ipv4_addr {
            return Received::Dropped(DropReason::MartianSource);
        }
        let to_unicast_ip = repr.dst == self.config.ipv4_addr;
        if !to_unicast_ip && !self.is_broadcast(repr.dst) {
            return Received::Dropped(DropReason::NotOurIp);
        }
        // No reassembly (the stack sets DF and relies on PMTU discovery); fragments are counted.
        if pkt.is_fragment() {
            return Received::Dropped(DropReason::Fragment);
        }
        let payload = pkt.payload_slice();
        let datagram = data.get(..usize::from(pkt.total_len())).unwrap_or(data);
        let rx = RxIp {
            repr,
            datagram,
            header_len: pkt.header_len(),
            err: ErrorContext { src: repr.src, to_unicast_ip, link_multicast },
            reply_link,
        };
        match repr.protocol {
            IpProtocol::Tcp => {
                if !to_unicast_ip {
                    return Received::Dropped(DropReason::TcpNotUnicast);
                }
                self.counters.rx_tcp += 1;
                Received::Tcp {
                    src_ip: repr.src,
                    dst_ip: repr.dst,
                    dscp_ecn: repr.dscp_ecn,
                    segment: payload,
                    checksum_verified: self.caps.checksum.tcp.rx,
                }
            }
            IpProtocol::Udp => self.receive_udp(now, &rx, payload),
            IpProtocol::Icmp => self.receive_icmp(now, &rx, payload),
            IpProtocol::Unknown(_) => {
                // RFC 1122 §3.2.2.1: a host SHOULD answer an unknown protocol with Protocol
                // Unreachable.
                self.send_icmp_error(now, &rx, DstUnreachable::ProtoUnreachable);
                Received::Dropped(DropReason::UnknownProtocol)
            }
        }
    }

    pub(super) fn receive_udp<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp<'_>,
        data: &[u8],
    ) -> Received<'a> {
        let Ok(pkt) = wudp::Packet::new_checked(data) else {
            return Received::Dropped(DropReason::BadUdp);
        };
        let repr = match UdpRepr::parse(&pkt, rx.repr.src, rx.repr.dst, !self.caps.checksum.udp.rx)
        {
            Ok(r) => r,
            Err(Error::BadChecksum) => return Received::Dropped(DropReason::BadUdpChecksum),
            Err(_) => return Received::Dropped(DropReason::BadUdp),
        };
        self.counters.rx_udp += 1;
        let from = std::net::SocketAddr::from((rx.repr.src, repr.src_port));
        match self.udp.deliver(repr.dst_port, from, pkt.payload()) {
            Delivery::Queued => {
                self.counters.udp_delivered += 1;
                Received::Consumed
            }
            Delivery::QueueFull => Received::Dropped(DropReason::UdpSocketQueueFull),
            Delivery::NoSocket => {
                // RFC 1122 §4.1.3.1: a datagram for a port with no listener SHOULD draw a Port
                // Unreachable.
                self.send_icmp_error(now, rx, DstUnreachable::PortUnreachable);
                Received::Dropped(DropReason::UdpNoSocket)
            }
        }
    }

    pub(super) fn receive_icmp<'a>(
        &mut self,
        now: Instant,
        rx: &RxIp<'_>,
        data: &'a [u8],
    ) -> Received<'a> {
        let Ok(pkt) = wicmp::Packet::new_checked(data) else {
            return Received::Dropped(DropReason::BadIcmp);
        };
        let repr = match Icmpv4Repr::parse(&pkt, !self.caps.checksum.icmp.rx) {
            Ok(r) => r,
            Err(Error::BadChecksum) => return Received::Dropped(DropReason::BadIcmpChecksum),
            Err(Error::Unsupported) => {
                // A well-formed message of a type we do not act on.
                self.counters.rx_icmp += 1;
                return Received::Dropped(DropReason::IcmpIgnored);
            }
            Err(_) => return Received::Dropped(DropReason::BadIcmp),
        };
        self.counters.rx_icmp += 1;
        if let Some(original) = icmp::quoted_tcp(&repr, self.config.ipv4_addr) {
            // An error about a segment we sent goes up: RFC 1122 §4.2.3.9 has TCP act on it
            // (PMTU discovery for Fragmentation Needed, RFC 1191; soft errors otherwise).
            if rx.err.to_unicast_ip {
                self.counters.rx_icmp_tcp_errors += 1;
                return Received::IcmpError { src_ip: rx.repr.src, message: repr, original };
            }
        }
        // Echo to a broadcast address is ignored, as Linux's icmp_echo_ignore_broadcasts does
        // by default (RFC 1122 §3.2.2.6 allows either), to avoid smurf amplification.
        let Some(reply) = icmp::echo_reply(&repr).filter(|_| rx.err.to_unicast_ip) else {
            return Received::Dropped(DropReason::IcmpIgnored);
        };
        let fill_icmp = !self.caps.checksum.icmp.tx;
        let hdr = self.header(rx.repr.src, IpProtocol::Icmp, 0, fill_icmp);
        let res =
            self.queue_ip(now, rx.reply_link, hdr, |buf, _| emit_icmp(buf, &reply, fill_icmp));
        if res.is_ok() {
            self.counters.icmp_echo_replied += 1;
        }
        Received::Consumed
    }

    /// Sends Destination Unreachable about `rx` if RFC 1122 allows and the rate limit agrees.
    pub(super) fn send_icmp_error(&mut self, now: Instant, rx: &RxIp<'_>, reason: DstUnreachable) {
        if !icmp::error_allowed(&self.config, &rx.err) {
            return;
        }
        if !self.icmp_limit.try_take(now) {
            self.counters.icmp_rate_limited += 1;
            return;
        }
        let msg = Icmpv4Repr::DstUnreachable {
            reason,
            next_hop_mtu: 0,
            original: icmp::quote(rx.datagram, rx.header_len),
        };
        let fill_icmp = !self.caps.checksum.icmp.tx;
        let hdr = self.header(rx.repr.src, IpProtocol::Icmp, 0, fill_icmp);
        if self.queue_ip(now, rx.reply_link, hdr, |buf, _| emit_icmp(buf, &msg, fill_icmp)).is_ok()
        {
            self.counters.icmp_unreachable_sent += 1;
        }
    }
}

/// The IPv4 datagram of a frame in the common shape, as [`Interface::common_tcp`] found it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct CommonTcp<'a> {
    pub(crate) src_ip: Ipv4Addr,
    pub(crate) dst_ip: Ipv4Addr,
    /// The type-of-service byte (its low two bits are the ECN field).
    pub(crate) dscp_ecn: u8,
    /// The TCP header and payload, trimmed to the datagram's total length.
    pub(crate) segment: &'a [u8],
    /// Whether the device verified the TCP checksum (else the TCP layer does).
    pub(crate) checksum_verified: bool,
}

impl Interface {
    /// The TCP segment of `frame` if the frame has the shape nearly every received frame of
    /// an established connection has: (on Ethernet) unicast to our MAC from a unicast source,
    /// no VLAN tag; IPv4 with a 20-byte header, a good header checksum (unless the device
    /// checked it), not a fragment, protocol TCP, from a unicast address that is not ours, to
    /// our address. Reads fixed offsets only and changes nothing: `None` leaves the frame to
    /// [`receive`](Self::receive), which for every frame accepted here takes the same path to
    /// [`Received::Tcp`] with the same fields. The caller, once it took the segment, counts
    /// the frame with [`count_common_tcp`](Self::count_common_tcp).
    #[inline]
    pub(crate) fn common_tcp<'a>(&self, frame: &'a [u8]) -> Option<CommonTcp<'a>> {
        let ip = match self.caps.medium {
            Medium::Ethernet => {
                let (eth, ip) = frame.split_at_checked(ethernet::HEADER_LEN)?;
                let unicast_to_us = eth[..6] == self.config.mac.0 && eth[6] & 1 == 0;
                if !unicast_to_us || eth[12..14] != [0x08, 0x00] {
                    return None;
                }
                ip
            }
            Medium::Ip => frame,
        };
        // Version 4, IHL 5; flags and fragment offset: no MF, offset 0; protocol TCP.
        if ip.len() < ipv4::HEADER_LEN || ip[0] != 0x45 || ip[6] & 0x3f != 0 || ip[7] != 0 {
            return None;
        }
        if ip[9] != crate::wire::tcp::PROTOCOL {
            return None;
        }
        let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
        if total < ipv4::HEADER_LEN || total > ip.len() {
            return None;
        }
        let src = Ipv4Addr::new(ip[12], ip[13], ip[14], ip[15]);
        let dst = Ipv4Addr::new(ip[16], ip[17], ip[18], ip[19]);
        let ours = self.config.ipv4_addr;
        if dst != ours || src == ours || src.is_multicast() || self.is_broadcast(src) {
            return None;
        }
        let header: &[u8; ipv4::HEADER_LEN] = ip[..ipv4::HEADER_LEN].try_into().ok()?;
        if !self.caps.checksum.ipv4.rx && !ipv4::header20_checksum_ok(header) {
            return None;
        }
        Some(CommonTcp {
            src_ip: src,
            dst_ip: dst,
            dscp_ecn: ip[1],
            segment: &ip[ipv4::HEADER_LEN..total],
            checksum_verified: self.caps.checksum.tcp.rx,
        })
    }

    /// Counts a frame [`common_tcp`](Self::common_tcp) gave the TCP layer, as `receive`
    /// counts a TCP segment it hands up.
    #[inline]
    pub(crate) fn count_common_tcp(&mut self) {
        self.counters.rx_frames += 1;
        self.counters.rx_tcp += 1;
    }
}

/// A received datagram's context, for the L4 handlers and ICMP errors.
pub(super) struct RxIp<'a> {
    repr: Ipv4Repr,
    /// The whole datagram, header first, trimmed to its total length.
    datagram: &'a [u8],
    header_len: usize,
    err: ErrorContext,
    /// Where replies go: back to the frame's source MAC (which is the gateway's for an
    /// off-link sender), so replying needs no ARP.
    reply_link: Link,
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::super::fixtures::{ethernet as iface, OURS, OUR_MAC, PEER, PEER_MAC};
    use super::super::{DeviceCaps, InterfaceConfig};
    use super::*;
    use crate::wire::ethernet::{EthernetAddress, EthernetRepr};

    /// An Ethernet frame to `dst_mac` carrying an IPv4 packet from the peer to `dst` with
    /// `protocol` and `l4` after the header.
    fn frame(dst_mac: EthernetAddress, dst: Ipv4Addr, protocol: IpProtocol, l4: &[u8]) -> Vec<u8> {
        let mut f = vec![0u8; ethernet::HEADER_LEN + ipv4::HEADER_LEN + l4.len()];
        let eth = EthernetRepr { src: PEER_MAC, dst: dst_mac, ethertype: EtherType::Ipv4 };
        eth.emit(&mut ethernet::Frame::new_unchecked(&mut f[..]));
        let ip = Ipv4Repr {
            src: PEER,
            dst,
            protocol,
            payload_len: l4.len(),
            ttl: 64,
            dscp_ecn: 0b10,
            dont_frag: true,
            ident: 1,
        };
        ip.emit(&mut ipv4::Packet::new_unchecked(&mut f[ethernet::HEADER_LEN..]), true);
        f[ethernet::HEADER_LEN + ipv4::HEADER_LEN..].copy_from_slice(l4);
        f
    }

    #[test]
    fn a_tcp_segment_for_us_goes_up_with_its_addresses_and_tos() {
        let mut iface = iface();
        let segment = [7u8; 20];
        let f = frame(OUR_MAC, OURS, IpProtocol::Tcp, &segment);
        match iface.receive(Instant::ZERO, &f) {
            Received::Tcp { src_ip, dst_ip, dscp_ecn, segment: s, checksum_verified } => {
                assert_eq!((src_ip, dst_ip, dscp_ecn), (PEER, OURS, 0b10));
                assert_eq!(s, &segment[..]);
                assert!(!checksum_verified, "the device verified nothing");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(iface.counters.rx_frames, 1);
    }

    #[test]
    fn frames_not_for_us_are_dropped_and_counted_by_reason() {
        let mut iface = iface();
        let now = Instant::ZERO;
        let other_mac = EthernetAddress([2, 0, 0, 0, 0, 9]);
        let cases = [
            (frame(other_mac, OURS, IpProtocol::Tcp, &[0; 20]), DropReason::NotOurMac),
            (frame(OUR_MAC, PEER, IpProtocol::Tcp, &[0; 20]), DropReason::NotOurIp),
            (frame(OUR_MAC, OURS, IpProtocol::Unknown(99), &[0; 8]), DropReason::UnknownProtocol),
            (vec![0u8; 10], DropReason::BadEthernet),
        ];
        for (f, want) in cases {
            let got = iface.receive(now, &f);
            assert!(matches!(got, Received::Dropped(r) if r == want), "{want:?}: {got:?}");
        }
        assert_eq!(iface.counters.rx_frames, 4);
        let mut bad = frame(OUR_MAC, OURS, IpProtocol::Tcp, &[0; 20]);
        bad[ethernet::HEADER_LEN + 10] ^= 0xff; // the IPv4 header checksum
        let got = iface.receive(now, &bad);
        assert!(matches!(got, Received::Dropped(DropReason::BadIpv4Checksum)), "{got:?}");
        // Only the unknown protocol, sent to us, is answered (protocol unreachable, RFC 1122
        // §3.2.2.1).
        assert_eq!(iface.tx_queued(), 1);
    }

    #[test]
    fn udp_to_a_closed_port_is_answered_with_port_unreachable() {
        let mut iface = iface();
        let now = Instant::ZERO;
        let mut udp = [0u8; 12];
        let repr = UdpRepr { src_port: 5000, dst_port: 9 };
        udp[8..].copy_from_slice(b"abcd");
        repr.emit(&mut wudp::Packet::new_unchecked(&mut udp[..]), 4, PEER, OURS, true);
        let f = frame(OUR_MAC, OURS, IpProtocol::Udp, &udp);
        let got = iface.receive(now, &f);
        assert!(matches!(got, Received::Dropped(DropReason::UdpNoSocket)), "{got:?}");
        assert_eq!(iface.tx_queued(), 1, "an ICMP error waits for poll_transmit");
        let mut out = [0u8; 1514];
        let n = iface.poll_transmit(now, &mut out).expect("the ICMP error");
        let ip = ipv4::Packet::new_checked(&out[ethernet::HEADER_LEN..n]).unwrap();
        assert_eq!((ip.protocol(), ip.dst_addr()), (IpProtocol::Icmp, PEER));
    }

    /// The interface's cached broadcast test answers as the configuration's for every prefix
    /// length (the directed broadcast, /31 and /32 without one, /0's all-ones), so frames are
    /// dropped for a broadcast source exactly as before the cache.
    #[test]
    fn cached_broadcast_test_matches_the_configuration() {
        let ours = Ipv4Addr::new(10, 1, 2, 3);
        for prefix in 0..=32u8 {
            let config = InterfaceConfig::new(OUR_MAC, ours, prefix);
            let iface = Interface::new(config.clone(), DeviceCaps::ethernet(1500));
            let mask = config.netmask();
            let candidates = [
                Ipv4Addr::BROADCAST,
                Ipv4Addr::UNSPECIFIED,
                ours,
                Ipv4Addr::from(u32::from(ours) | !mask),
                Ipv4Addr::from(u32::from(ours) & mask),
                Ipv4Addr::from((u32::from(ours) | !mask) ^ 1),
                Ipv4Addr::new(10, 1, 2, 255),
                Ipv4Addr::new(10, 1, 255, 255),
                Ipv4Addr::new(10, 255, 255, 255),
                Ipv4Addr::new(11, 1, 2, 255),
            ];
            for addr in candidates {
                assert_eq!(iface.is_broadcast(addr), config.is_broadcast(addr), "/{prefix} {addr}");
            }
        }
    }
}
