//! IPv6 output (RFC 8200 §3): routing a destination to its next hop (RFC 4861 §5.2), the
//! fixed header and the Ethernet header (RFC 2464), and the queue of packets waiting for
//! neighbour resolution.

use std::net::Ipv6Addr;

use super::caps::Medium;
use super::interface::{Interface, IpSend, SendError};
use super::neighbor::Enqueued;
use super::output::write_ethernet;
use super::ring::PushError;
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ethernet::{self, EtherType, EthernetAddress};
use crate::wire::icmpv6::Icmpv6Repr;
use crate::wire::ipv6::{self, next_header, Ipv6Repr};
use crate::wire::udp as wudp;

/// How an IPv6 packet reaches its next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Link6 {
    /// Raw-IP device: no link header.
    None,
    /// Ethernet frame to this MAC.
    Mac(EthernetAddress),
    /// Ethernet, but this next hop's MAC is not known yet.
    Unresolved(Ipv6Addr),
}

/// The fields of the IPv6 header this interface writes (no extension headers).
#[derive(Debug, Clone, Copy)]
pub(super) struct Ipv6Header {
    pub(super) src: Ipv6Addr,
    pub(super) dst: Ipv6Addr,
    pub(super) next_header: u8,
    pub(super) hop_limit: u8,
}

/// The Ethernet address an IPv6 multicast group maps to: 33:33 and the group's last four
/// bytes (RFC 2464 §7).
pub fn multicast_mac(group: Ipv6Addr) -> EthernetAddress {
    let o = group.octets();
    EthernetAddress([0x33, 0x33, o[12], o[13], o[14], o[15]])
}

impl Interface {
    /// Routes `dst` and resolves its next hop: multicast maps straight to a MAC; on-link
    /// destinations are their own next hop; the rest go to the default router; without one
    /// there is no route (RFC 4861 §5.2).
    pub(super) fn resolve6(&mut self, now: Instant, dst: Ipv6Addr) -> Result<Link6, SendError> {
        if self.caps.medium == Medium::Ip {
            return Ok(Link6::None);
        }
        if dst.is_multicast() {
            return Ok(Link6::Mac(multicast_mac(dst)));
        }
        let Some(hop) = self.next_hop6(now, dst) else {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        Ok(match self.v6.ndp.lookup(hop, now) {
            Some(mac) => Link6::Mac(mac),
            None => Link6::Unresolved(hop),
        })
    }

    /// The next hop of unicast `dst` (RFC 4861 §5.2): itself when on-link, else the default
    /// router, else none.
    fn next_hop6(&self, now: Instant, dst: Ipv6Addr) -> Option<Ipv6Addr> {
        if self.v6.is_on_link(dst) {
            Some(dst)
        } else {
            self.v6.default_router(now)
        }
    }

    /// Upper-layer advice that `dst` is reachable (RFC 4861 §7.3.1: "forward progress" of a
    /// connection, such as an acknowledgement of new data; Linux's `dst_confirm_neigh`):
    /// the entry of `dst`'s next hop is confirmed as [`confirm_reachable`] does over ARP, so a
    /// busy connection's neighbour never needs revalidating by unicast solicitations. The
    /// cache's `confirm` is the same for both families; only the next hop differs.
    ///
    /// [`confirm_reachable`]: Interface::confirm_reachable
    pub fn confirm_reachable6(&mut self, now: Instant, dst: Ipv6Addr) {
        if self.caps.medium == Medium::Ip || dst.is_multicast() {
            return;
        }
        if let Some(hop) = self.next_hop6(now, dst) {
            self.v6.ndp.confirm(hop, now);
        }
    }

    /// Sends an ICMPv6 echo request to `dst` (RFC 4443 §4.1), resolving the next hop by
    /// Neighbor Discovery if need be (the request then waits in the pending queue). The
    /// source is chosen by [`Ipv6State::source_for`](super::Ipv6State::source_for); with no
    /// usable address yet (detection still running) there is no route.
    pub fn icmpv6_echo_request(
        &mut self,
        now: Instant,
        dst: Ipv6Addr,
        ident: u16,
        seq: u16,
        data: &[u8],
    ) -> Result<(), SendError> {
        let Some(src) = self.v6.source_for(dst) else {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        let link = self.resolve6(now, dst)?;
        let hdr =
            Ipv6Header { src, dst, next_header: next_header::ICMPV6, hop_limit: self.v6.hop_limit };
        let msg = Icmpv6Repr::EchoRequest { ident, seq, data };
        self.queue_icmpv6(now, link, hdr, &msg)
    }

    /// Queues a UDP datagram from `socket`'s port to an IPv6 destination, from the source
    /// address [`Ipv6State::source_for`](super::Ipv6State::source_for) picks. The checksum is
    /// computed here (the device offloads are set up for IPv4 headers).
    pub(super) fn udp_send_to6(
        &mut self,
        now: Instant,
        socket: super::UdpHandle,
        dst: (Ipv6Addr, u16),
        payload: &[u8],
    ) -> Result<(), SendError> {
        let src_port = self.udp.local_port(socket).ok_or(SendError::NotBound)?;
        if ipv6::HEADER_LEN + wudp::HEADER_LEN + payload.len() > self.caps.mtu {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        }
        let Some(src) = self.v6.source_for(dst.0) else {
            self.counters.tx_no_route += 1;
            return Err(SendError::NoRoute);
        };
        let link = self.resolve6(now, dst.0)?;
        let hdr = Ipv6Header { src, dst: dst.0, next_header: 17, hop_limit: self.v6.hop_limit };
        self.queue_ipv6(now, link, hdr, |buf| {
            let len = wudp::HEADER_LEN + payload.len();
            let Some(buf) = buf.get_mut(..len) else { return len };
            // Copied and summed in one pass, as over IPv4 (the checksum is mandatory here).
            let sum = checksum::copy_and_sum(&mut buf[wudp::HEADER_LEN..], payload);
            let repr = wudp::UdpRepr { src_port, dst_port: dst.1 };
            let mut pkt = wudp::Packet::new_unchecked(buf);
            repr.emit_with_payload_sum_v6(&mut pkt, payload.len(), sum, src, dst.0);
            len
        })?;
        self.counters.udp_sent += 1;
        Ok(())
    }

    /// Sends an IPv6 packet built in place, for the TCP layer (the sibling of
    /// [`send_ip_routed`](Interface::send_ip_routed)): routes `dst`, writes the link header
    /// and the fixed IPv6 header from `src` into `frame`, and calls `fill(l4)` with the room
    /// after it (up to the MTU), which writes the upper-layer message and returns its
    /// length. There is no IP ID to choose (IPv6 has none outside fragments, and we never
    /// fragment); `traffic_class` carries DSCP and ECN as the IPv4 TOS byte does.
    ///
    /// [`IpSend::Ready`] when the next hop's MAC is known; otherwise the packet waits in the
    /// neighbour pending queue ([`IpSend::Queued`]) while a solicitation goes out.
    #[allow(clippy::too_many_arguments)]
    pub fn send_ip6(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        src: Ipv6Addr,
        dst: Ipv6Addr,
        next_header: u8,
        traffic_class: u8,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<IpSend, SendError> {
        let link = self.resolve6(now, dst)?;
        let hdr = Ipv6Header { src, dst, next_header, hop_limit: self.v6.hop_limit };
        let link_len = match link {
            Link6::None => 0,
            _ => ethernet::HEADER_LEN,
        };
        let mtu = self.caps.mtu;
        let Some(ip_buf) = frame.get_mut(link_len..) else {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        };
        let ip_len = match build_ipv6(ip_buf, mtu, &hdr, fill) {
            Ok(n) => n,
            Err(e) => {
                self.counters.tx_too_large += 1;
                return Err(e);
            }
        };
        if traffic_class != 0 {
            ipv6::Packet::new_unchecked(&mut ip_buf[..ip_len])
                .set_version_tc_flow(traffic_class, 0);
        }
        match link {
            Link6::None => {
                self.counters.tx_frames += 1;
                Ok(IpSend::Ready(ip_len))
            }
            Link6::Mac(mac) => {
                write_ethernet(frame, self.config.mac, mac, EtherType::Ipv6);
                self.counters.tx_frames += 1;
                Ok(IpSend::Ready(link_len + ip_len))
            }
            Link6::Unresolved(hop) => {
                let packet = frame.get(link_len..link_len + ip_len).unwrap_or(&[]);
                self.enqueue_pending6(now, hop, src, packet).map(|()| IpSend::Queued)
            }
        }
    }

    /// Queues the ICMPv6 message `msg` from `src` to `dst` over `link`. The checksum is
    /// always computed here: this is the slow path, and not every device offloads ICMPv6.
    pub(super) fn queue_icmpv6(
        &mut self,
        now: Instant,
        link: Link6,
        hdr: Ipv6Header,
        msg: &Icmpv6Repr<'_>,
    ) -> Result<(), SendError> {
        let hdr = Ipv6Header { next_header: next_header::ICMPV6, ..hdr };
        self.queue_ipv6(now, link, hdr, |buf| {
            let len = msg.buffer_len();
            match buf.get_mut(..len) {
                Some(b) => msg.emit(hdr.src, hdr.dst, b, true),
                // Too long for the room left: say so, `build_ipv6` refuses it.
                None => len,
            }
        })
    }

    /// Builds an IPv6 packet for `link` and queues it: into the transmit ring when the link
    /// address is known, into the neighbour pending queue otherwise.
    pub(super) fn queue_ipv6(
        &mut self,
        now: Instant,
        link: Link6,
        hdr: Ipv6Header,
        fill: impl FnOnce(&mut [u8]) -> usize,
    ) -> Result<(), SendError> {
        let mtu = self.caps.mtu;
        let src_mac = self.config.mac;
        let mut built = Ok(0);
        let pushed = match link {
            Link6::Unresolved(hop) => {
                let mut scratch = core::mem::take(&mut self.scratch);
                let res = build_ipv6(&mut scratch, mtu, &hdr, fill).and_then(|n| {
                    self.enqueue_pending6(now, hop, hdr.src, scratch.get(..n).unwrap_or(&[]))
                });
                self.scratch = scratch;
                if res == Err(SendError::TooLarge) {
                    self.counters.tx_too_large += 1;
                }
                return res;
            }
            Link6::None => self.tx.push_with((), |slot| {
                built = build_ipv6(slot, mtu, &hdr, fill);
                built.ok()
            }),
            Link6::Mac(mac) => self.tx.push_with((), |slot| {
                let ip = slot.get_mut(ethernet::HEADER_LEN..)?;
                built = build_ipv6(ip, mtu, &hdr, fill);
                let n = built.ok()?;
                write_ethernet(slot, src_mac, mac, EtherType::Ipv6);
                Some(ethernet::HEADER_LEN + n)
            }),
        };
        match pushed {
            Ok(()) => Ok(()),
            Err(PushError::Full) => {
                self.counters.tx_queue_full += 1;
                Err(SendError::TxQueueFull)
            }
            Err(PushError::Rejected) => {
                self.counters.tx_too_large += 1;
                Err(built.err().unwrap_or(SendError::TooLarge))
            }
        }
    }

    /// Copies `packet` into the pending queue of `hop`, soliciting it (from `src`, the
    /// packet's own source, RFC 4861 §7.2.2) if this starts a resolution.
    pub(super) fn enqueue_pending6(
        &mut self,
        now: Instant,
        hop: Ipv6Addr,
        src: Ipv6Addr,
        packet: &[u8],
    ) -> Result<(), SendError> {
        let outcome = self.v6.ndp.enqueue(hop, packet, now, &mut self.v6.ndp_counters);
        self.v6.sync_counters(&mut self.counters);
        if outcome.send_request {
            self.queue_neighbor_solicit(hop, src, None);
        }
        match outcome.queued {
            Enqueued::Queued => Ok(()),
            Enqueued::Dropped => Err(SendError::ArpQueueFull),
        }
    }
}

/// Writes a fixed IPv6 header at `buf[0..40]` and lets `fill` write the upper-layer message
/// after it, within `mtu`. Returns the packet length.
pub(super) fn build_ipv6(
    buf: &mut [u8],
    mtu: usize,
    hdr: &Ipv6Header,
    fill: impl FnOnce(&mut [u8]) -> usize,
) -> Result<usize, SendError> {
    let max = buf.len().min(mtu);
    if max < ipv6::HEADER_LEN {
        return Err(SendError::TooLarge);
    }
    let buf = &mut buf[..max];
    let len = fill(&mut buf[ipv6::HEADER_LEN..]);
    if len > max - ipv6::HEADER_LEN {
        return Err(SendError::TooLarge);
    }
    let repr = Ipv6Repr {
        src: hdr.src,
        dst: hdr.dst,
        next_header: hdr.next_header,
        payload_len: len,
        hop_limit: hdr.hop_limit,
        traffic_class: 0,
        flow_label: 0,
        upper_offset: 0,
        fragment: None,
        routing_error_at: None,
    };
    repr.emit(&mut ipv6::Packet::new_unchecked(&mut buf[..ipv6::HEADER_LEN + len]));
    Ok(ipv6::HEADER_LEN + len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multicast_groups_map_to_33_33_and_the_last_four_bytes() {
        let g: Ipv6Addr = "ff02::1:ff12:3456".parse().unwrap();
        assert_eq!(multicast_mac(g), EthernetAddress([0x33, 0x33, 0xff, 0x12, 0x34, 0x56]));
    }

    #[test]
    fn a_message_larger_than_the_mtu_is_refused() {
        let hdr = Ipv6Header {
            src: Ipv6Addr::LOCALHOST,
            dst: Ipv6Addr::LOCALHOST,
            next_header: 17,
            hop_limit: 64,
        };
        let mut buf = [0u8; 2000];
        assert_eq!(build_ipv6(&mut buf, 1280, &hdr, |_| 1241), Err(SendError::TooLarge));
        assert_eq!(build_ipv6(&mut buf, 1280, &hdr, |_| 1240), Ok(1280));
        let p = ipv6::Packet::new_checked(&buf[..1280]).unwrap();
        assert_eq!((p.payload_len(), p.next_header(), p.hop_limit()), (1240, 17, 64));
    }
}
