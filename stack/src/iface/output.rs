//! Frame output: IPv4 headers (RFC 791), the link header, checksum duty (in software or
//! left to the device), the queue of frames generated inside the interface, and
//! [`Interface::send_ip`], the in-place path the TCP layer uses.

use std::net::Ipv4Addr;

use super::interface::{Interface, IpHeader, IpSend, IpTxInfo, Link, SendError};
use super::ring::PushError;
use super::tx_route::TxRoute;
use crate::time::Instant;
use crate::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use crate::wire::icmp::{self as wicmp, Icmpv4Repr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};

impl Interface {
    /// Writes the next queued frame (ARP, ICMP, UDP, or a packet released by ARP) into `buf`
    /// and returns its length; `None` when nothing is queued. Retransmits due ARP requests
    /// first. `buf` should be [`DeviceCaps::max_frame_len`] bytes; a frame that does not fit
    /// is dropped and counted (`tx_too_large`).
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Called twice per `Stack::poll_transmit`, nearly always with nothing to do.
        if !self.may_transmit(now) {
            return None;
        }
        self.poll_transmit_queued(now, buf)
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have a frame at `now`: one is
    /// queued, an ARP request is due for a retry, or (IPv6 configured) a Neighbor Discovery
    /// or address-detection message is due.
    #[inline]
    pub(crate) fn may_transmit(&self, now: Instant) -> bool {
        self.tx.len() != 0
            || !self.released.is_empty()
            || self.arp.poll_at().is_some_and(|t| t <= now)
            || (self.v6.enabled() && self.v6.poll_at().is_some_and(|t| t <= now))
    }

    pub(super) fn poll_transmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_arp(now);
        if self.v6.enabled() {
            self.poll_ndp(now);
        }
        loop {
            let Some((_, frame)) = self.tx.front() else { return self.pop_released(buf) };
            let n = frame.len();
            let fits = match buf.get_mut(..n) {
                Some(dst) => {
                    dst.copy_from_slice(frame);
                    true
                }
                None => false,
            };
            self.tx.pop();
            if fits {
                self.counters.tx_frames += 1;
                return Some(n);
            }
            self.counters.tx_too_large += 1;
        }
    }

    /// Sends an IPv4 packet built in place, for the TCP layer: routes `dst`, writes the link
    /// and IPv4 headers into `frame` (at least [`DeviceCaps::max_frame_len`] bytes for a full
    /// MTU), and calls `fill(l4, info)` with the bytes after the IPv4 header (up to the MTU);
    /// `fill` writes the L4 message there (and its checksum if `info.fill_checksum`) and
    /// returns its length.
    ///
    /// If the next hop's MAC is known the frame is complete: [`IpSend::Ready`]. Otherwise the
    /// IP packet is copied into the ARP pending queue, a request is queued if none is under
    /// way, and the result is [`IpSend::Queued`].
    pub fn send_ip(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dscp_ecn: u8,
        fill: impl FnOnce(&mut [u8], &IpTxInfo) -> usize,
    ) -> Result<IpSend, SendError> {
        let mut route = TxRoute::default();
        self.send_ip_routed(now, frame, dst, protocol, dscp_ecn, &mut route, fill)
    }

    /// [`send_ip`](Self::send_ip) for a sender that keeps `route` from one packet to the next
    /// (a connection): the next hop's neighbour entry and the destination's IP ID sequence
    /// are found through it, without hashing, while it stays valid (`tx_route`).
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub fn send_ip_routed(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dscp_ecn: u8,
        route: &mut TxRoute,
        fill: impl FnOnce(&mut [u8], &IpTxInfo) -> usize,
    ) -> Result<IpSend, SendError> {
        let link = self.resolve_memo(now, dst, &mut route.neighbor)?;
        let fill_l4 = !self.l4_offload_tx(protocol);
        let ident = self.next_ident_routed(dst, protocol, route);
        let hdr = self.ip_header(dst, protocol, dscp_ecn, fill_l4, ident);
        let link_len = self.caps.medium.header_len();
        let mtu = self.caps.mtu;
        let Some(ip_buf) = frame.get_mut(link_len..) else {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        };
        let ip_len = match build_ip(ip_buf, mtu, &hdr, fill) {
            Ok(n) => n,
            Err(e) => {
                self.counters.tx_too_large += 1;
                return Err(e);
            }
        };
        if let Link::Mac(mac) = link {
            write_ethernet(frame, self.config.mac, mac, EtherType::Ipv4);
        }
        self.deliver_ipv4(now, link, frame, link_len, ip_len)
    }

    /// The end of every routed IPv4 send: the frame is ready (its link header, if any,
    /// written), or the IP packet waits in the ARP pending queue for the next hop's MAC.
    #[inline(always)]
    fn deliver_ipv4(
        &mut self,
        now: Instant,
        link: Link,
        frame: &[u8],
        link_len: usize,
        ip_len: usize,
    ) -> Result<IpSend, SendError> {
        match link {
            // `Link::None` is the raw-IP medium, whose link header is empty.
            Link::None | Link::Mac(_) => {
                self.counters.tx_frames += 1;
                Ok(IpSend::Ready(link_len + ip_len))
            }
            Link::Unresolved(hop) => {
                let packet = frame.get(link_len..link_len + ip_len).unwrap_or(&[]);
                self.enqueue_pending(now, hop, packet).map(|()| IpSend::Queued)
            }
        }
    }

    /// What every IPv4 packet this interface sends to `dst` over `protocol` has in common
    /// except the next hop's MAC: the fields a sender's prebuilt header template is made of
    /// (`stack::tx_template`). None of them changes while the interface lives (its address,
    /// MAC, TTL, medium and checksum duties are fixed at creation), so a template built from
    /// them stays valid; the next hop's MAC is not among them and is asked for on every packet
    /// ([`send_ip_prebuilt`](Self::send_ip_prebuilt)).
    pub(crate) fn prebuilt_base(&self, dst: Ipv4Addr, protocol: IpProtocol) -> PrebuiltBase {
        let fill_l4 = !self.l4_offload_tx(protocol);
        let hdr = self.ip_header(dst, protocol, 0, fill_l4, 0);
        PrebuiltBase {
            src_mac: (self.caps.medium == super::Medium::Ethernet).then_some(self.config.mac),
            ip: Ipv4Repr {
                src: hdr.src,
                dst,
                protocol,
                payload_len: 0,
                ttl: hdr.ttl,
                dscp_ecn: 0,
                // RFC 1191, as `build_ip`.
                dont_frag: true,
                ident: 0,
            },
            fill_ip_checksum: hdr.fill_ip_checksum,
            fill_l4_checksum: fill_l4,
        }
    }

    /// [`send_ip_routed`](Self::send_ip_routed) for a sender that writes the whole frame
    /// itself from a prebuilt template: routes `dst` through `route` (the neighbour entry
    /// re-checked on every call, as there), takes the packet's IP ID from the destination's
    /// sequence, and calls `write(frame, hop)`, which writes the link header (its destination
    /// MAC `hop.mac`, when there is one), the IPv4 header with `hop.ident` and the L4 message,
    /// and returns the IP packet's length; a length above `hop.room` means it did not fit, and
    /// nothing is sent. The same outcomes and counters as `send_ip_routed`: a frame ready,
    /// the IP packet queued for ARP, or an error.
    #[inline]
    pub(crate) fn send_ip_prebuilt(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        dst: Ipv4Addr,
        protocol: IpProtocol,
        route: &mut TxRoute,
        write: impl FnOnce(&mut [u8], &PrebuiltHop) -> usize,
    ) -> Result<IpSend, SendError> {
        let link = self.resolve_memo(now, dst, &mut route.neighbor)?;
        let ident = self.next_ident_routed(dst, protocol, route);
        let link_len = self.caps.medium.header_len();
        let room = frame.len().saturating_sub(link_len).min(self.caps.mtu);
        if room < ipv4::HEADER_LEN {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        }
        let mac = match link {
            Link::Mac(mac) => Some(mac),
            Link::None | Link::Unresolved(_) => None,
        };
        let ip_len = write(frame, &PrebuiltHop { mac, ident, room });
        if ip_len > room {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        }
        self.deliver_ipv4(now, link, frame, link_len, ip_len)
    }

    /// The next IP ID of `dst`'s sequence (RFC 6864 §4.1), found through `route`'s slot
    /// (kept there the first time, and whenever it was for another destination).
    #[inline]
    fn next_ident_routed(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        route: &mut TxRoute,
    ) -> u16 {
        let proto = u8::from(protocol);
        let ids = match route.ip_id {
            Some(slot) if slot.is_for(dst, proto) => slot,
            _ => *route.ip_id.insert(self.ip_ids.slot(dst, proto)),
        };
        self.ip_ids.next_in(ids)
    }

    pub(super) fn l4_offload_tx(&self, protocol: IpProtocol) -> bool {
        let c = &self.caps.checksum;
        match protocol {
            IpProtocol::Tcp => c.tcp.tx,
            IpProtocol::Udp => c.udp.tx,
            IpProtocol::Icmp => c.icmp.tx,
            IpProtocol::Unknown(_) => false,
        }
    }

    pub(super) fn header(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dscp_ecn: u8,
        fill_l4: bool,
    ) -> IpHeader {
        // RFC 6864 §4.1, per destination (`ip_id`).
        let ident = self.ip_ids.next(dst, protocol.into());
        self.ip_header(dst, protocol, dscp_ecn, fill_l4, ident)
    }

    /// The header of a packet to `dst` with IP ID `ident`.
    fn ip_header(
        &self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dscp_ecn: u8,
        fill_l4: bool,
        ident: u16,
    ) -> IpHeader {
        IpHeader {
            src: self.config.ipv4_addr,
            dst,
            protocol,
            dscp_ecn,
            ttl: self.config.default_ttl,
            ident,
            fill_ip_checksum: !self.caps.checksum.ipv4.tx,
            fill_l4_checksum: fill_l4,
        }
    }

    /// Builds an IP packet for `link` and queues it: straight into the transmit ring when the
    /// link address is known, into the ARP pending queue otherwise.
    pub(super) fn queue_ip(
        &mut self,
        now: Instant,
        link: Link,
        hdr: IpHeader,
        fill: impl FnOnce(&mut [u8], &IpTxInfo) -> usize,
    ) -> Result<(), SendError> {
        let mtu = self.caps.mtu;
        let src_mac = self.config.mac;
        let mut built = Ok(0);
        let pushed = match link {
            Link::Unresolved(hop) => {
                let mut scratch = core::mem::take(&mut self.scratch);
                let res = build_ip(&mut scratch, mtu, &hdr, fill)
                    .and_then(|n| self.enqueue_pending(now, hop, scratch.get(..n).unwrap_or(&[])));
                self.scratch = scratch;
                if res == Err(SendError::TooLarge) {
                    self.counters.tx_too_large += 1;
                }
                return res;
            }
            Link::None => self.tx.push_with((), |slot| {
                built = build_ip(slot, mtu, &hdr, fill);
                built.ok()
            }),
            Link::Mac(mac) => self.tx.push_with((), |slot| {
                let ip = slot.get_mut(ethernet::HEADER_LEN..)?;
                built = build_ip(ip, mtu, &hdr, fill);
                let n = built.ok()?;
                write_ethernet(slot, src_mac, mac, EtherType::Ipv4);
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
}

/// The fixed part of the headers of packets to one destination over one protocol
/// ([`Interface::prebuilt_base`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrebuiltBase {
    /// Our MAC, the link header's source; `None` on a raw-IP device (no link header).
    pub(crate) src_mac: Option<EthernetAddress>,
    /// The IPv4 header with zero DSCP/ECN, IP ID and payload length.
    pub(crate) ip: Ipv4Repr,
    /// Software writes the IPv4 header checksum (the device does not).
    pub(crate) fill_ip_checksum: bool,
    /// Software writes the L4 checksum; otherwise it is seeded with the pseudo-header sum
    /// (`seed_partial_checksum`).
    pub(crate) fill_l4_checksum: bool,
}

/// What one packet of [`Interface::send_ip_prebuilt`] gets from the interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PrebuiltHop {
    /// The next hop's MAC, for the link header; `None` on a raw-IP device, or while the next
    /// hop is unresolved (only the IP packet is kept then, for the ARP queue).
    pub(crate) mac: Option<EthernetAddress>,
    /// The packet's IP ID (RFC 6864 §4.1).
    pub(crate) ident: u16,
    /// The longest IP packet that fits the frame and the MTU.
    pub(crate) room: usize,
}

/// Writes an option-less IPv4 header at `buf[0..20]` and lets `fill` write the L4 message after
/// it, within `mtu`. Returns the IP packet length.
pub(super) fn build_ip(
    buf: &mut [u8],
    mtu: usize,
    hdr: &IpHeader,
    fill: impl FnOnce(&mut [u8], &IpTxInfo) -> usize,
) -> Result<usize, SendError> {
    let max = buf.len().min(mtu);
    let Some(buf) = buf.get_mut(..max) else { return Err(SendError::TooLarge) };
    if max < ipv4::HEADER_LEN {
        return Err(SendError::TooLarge);
    }
    let info = IpTxInfo {
        src: hdr.src,
        dst: hdr.dst,
        protocol: hdr.protocol,
        fill_checksum: hdr.fill_l4_checksum,
    };
    let l4_len = fill(&mut buf[ipv4::HEADER_LEN..], &info);
    if l4_len > max - ipv4::HEADER_LEN {
        return Err(SendError::TooLarge);
    }
    let repr = Ipv4Repr {
        src: hdr.src,
        dst: hdr.dst,
        protocol: hdr.protocol,
        payload_len: l4_len,
        ttl: hdr.ttl,
        dscp_ecn: hdr.dscp_ecn,
        // RFC 1191: everything we send carries DF; PMTU discovery replaces fragmentation.
        dont_frag: true,
        ident: hdr.ident,
    };
    let total = ipv4::HEADER_LEN + l4_len;
    if !hdr.fill_l4_checksum {
        seed_partial_checksum(&mut buf[ipv4::HEADER_LEN..total], &info);
    }
    repr.emit(&mut ipv4::Packet::new_unchecked(&mut buf[..total]), hdr.fill_ip_checksum);
    Ok(total)
}

/// Where a device that offloads the L4 checksum expects to find it: the field's offset in the
/// L4 header, for the protocols with a pseudo header.
pub fn l4_checksum_offset(protocol: IpProtocol) -> Option<usize> {
    match protocol {
        IpProtocol::Tcp => Some(16),
        IpProtocol::Udp => Some(6),
        IpProtocol::Icmp | IpProtocol::Unknown(_) => None,
    }
}

/// Writes the partial checksum an offloading device starts from: the folded pseudo-header sum,
/// not complemented. The device sums the L4 bytes from the header on, this field included,
/// and stores the complement — the `CHECKSUM_PARTIAL` convention shared by Linux drivers,
/// DPDK's `RTE_MBUF_F_TX_TCP_CKSUM` and AF_XDP TX metadata. A device that ignored the
/// request would send a checksum every receiver rejects, which is why [`Offload::tx`](super::caps::Offload::tx) must only
/// be set by a device that honours it.
pub(super) fn seed_partial_checksum(l4: &mut [u8], info: &IpTxInfo) {
    let Some(at) = l4_checksum_offset(info.protocol) else { return };
    let seed = info.pseudo_header_sum(l4.len());
    if let Some(field) = l4.get_mut(at..at + 2) {
        field.copy_from_slice(&seed.to_be_bytes());
    }
}

/// Writes an Ethernet II header into `frame[0..14]` (which the caller guarantees exists).
pub(super) fn write_ethernet(
    frame: &mut [u8],
    src: EthernetAddress,
    dst: EthernetAddress,
    ethertype: EtherType,
) {
    if let Some(h) = frame.get_mut(..ethernet::HEADER_LEN) {
        EthernetRepr { src, dst, ethertype }.emit(&mut ethernet::Frame::new_unchecked(h));
    }
}

/// Emits an ICMP message into `buf` and returns its length (a length larger than `buf` tells
/// `build_ip` it did not fit).
pub(super) fn emit_icmp(buf: &mut [u8], msg: &Icmpv4Repr<'_>, fill_checksum: bool) -> usize {
    let len = msg.buffer_len();
    if let Some(b) = buf.get_mut(..len) {
        msg.emit(&mut wicmp::Packet::new_unchecked(b), fill_checksum);
    }
    len
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{raw_ip, OURS, PEER};
    use super::*;

    fn header(protocol: IpProtocol, fill_l4: bool) -> IpHeader {
        IpHeader {
            src: OURS,
            dst: PEER,
            protocol,
            dscp_ecn: 0,
            ttl: 64,
            ident: 7,
            fill_ip_checksum: true,
            fill_l4_checksum: fill_l4,
        }
    }

    #[test]
    fn build_ip_writes_a_checksummed_header_with_df_before_the_message() {
        let mut buf = [0u8; 100];
        let hdr = header(IpProtocol::Udp, true);
        let n = build_ip(&mut buf, 1500, &hdr, |l4, info| {
            assert_eq!((info.src, info.dst, info.fill_checksum), (OURS, PEER, true));
            l4[..8].copy_from_slice(b"12345678");
            8
        })
        .expect("fits");
        assert_eq!(n, ipv4::HEADER_LEN + 8);
        let packet = ipv4::Packet::new_checked(&buf[..n]).expect("valid header");
        let repr = Ipv4Repr::parse(&packet, true).expect("checksum verifies");
        assert_eq!((repr.src, repr.dst, repr.protocol), (OURS, PEER, IpProtocol::Udp));
        assert_eq!((repr.payload_len, repr.ident, repr.dont_frag), (8, 7, true));
        assert_eq!(&buf[ipv4::HEADER_LEN..n], b"12345678");
    }

    #[test]
    fn build_ip_refuses_a_message_beyond_the_mtu_or_the_buffer() {
        let hdr = header(IpProtocol::Udp, true);
        let mut buf = [0u8; 100];
        assert_eq!(build_ip(&mut buf, 40, &hdr, |_, _| 21), Err(SendError::TooLarge));
        assert_eq!(build_ip(&mut buf, 1500, &hdr, |_, _| 81), Err(SendError::TooLarge));
        assert_eq!(build_ip(&mut buf[..19], 1500, &hdr, |_, _| 0), Err(SendError::TooLarge));
        assert!(build_ip(&mut buf, 40, &hdr, |_, _| 20).is_ok());
    }

    #[test]
    fn an_offloaded_l4_checksum_is_seeded_with_the_pseudo_header_sum() {
        let mut buf = [0u8; 100];
        let hdr = header(IpProtocol::Tcp, false);
        let n = build_ip(&mut buf, 1500, &hdr, |_, info| {
            assert!(!info.fill_checksum);
            20
        })
        .expect("fits");
        let at = ipv4::HEADER_LEN + l4_checksum_offset(IpProtocol::Tcp).expect("TCP has one");
        let info =
            IpTxInfo { src: OURS, dst: PEER, protocol: IpProtocol::Tcp, fill_checksum: false };
        let seed = u16::from_be_bytes([buf[at], buf[at + 1]]);
        assert_eq!(seed, info.pseudo_header_sum(n - ipv4::HEADER_LEN));
        assert_eq!(l4_checksum_offset(IpProtocol::Udp), Some(6));
        assert_eq!(l4_checksum_offset(IpProtocol::Icmp), None);
    }

    #[test]
    fn send_ip_on_a_raw_ip_device_writes_no_link_header() {
        let mut iface = raw_ip();
        let mut frame = [0u8; 1500];
        let sent = iface.send_ip(Instant::ZERO, &mut frame, PEER, IpProtocol::Udp, 0, |l4, _| {
            l4[..4].copy_from_slice(b"ping");
            4
        });
        assert_eq!(sent, Ok(IpSend::Ready(ipv4::HEADER_LEN + 4)));
        assert_eq!(frame[0] >> 4, 4, "the frame starts with the IPv4 header");
        assert_eq!(iface.tx_queued(), 0, "sent in place, nothing queued");
        assert_eq!(iface.poll_transmit(Instant::ZERO, &mut frame), None);
    }

    #[test]
    fn write_ethernet_fills_addresses_and_type() {
        let mut frame = [0u8; 20];
        let (src, dst) = (EthernetAddress([2, 0, 0, 0, 0, 1]), EthernetAddress::BROADCAST);
        write_ethernet(&mut frame, src, dst, EtherType::Arp);
        let repr = EthernetRepr::parse(&ethernet::Frame::new_checked(&frame[..]).unwrap()).unwrap();
        assert_eq!((repr.src, repr.dst, repr.ethertype), (src, dst, EtherType::Arp));
    }
}
