//! The IPv4 interface: one address on one device, tying Ethernet, ARP, IPv4, ICMP and UDP
//! together, sans-IO.
//!
//! # Call order
//!
//! The interface never reads a clock or touches a device; the caller drives it:
//!
//! 1. **Input.** For every received frame, [`Interface::receive`]`(now, frame)`. ARP, ICMP and
//!    UDP are handled inside (replies are queued, not sent); a TCP segment comes back as
//!    [`Received::Tcp`] borrowing the frame, and an ICMP error about one of our TCP segments
//!    as [`Received::IcmpError`], for the TCP layer to take before the frame is returned to
//!    the device.
//! 2. **Application output.** The TCP layer sends with [`Interface::send_ip`], which writes the
//!    link and IPv4 headers into a frame buffer the caller lends and lets the caller build the
//!    segment in place; UDP sends with [`Interface::udp_send_to`], which queues.
//! 3. **Output.** [`Interface::poll_transmit`]`(now, buf)` repeatedly, each call lending a
//!    frame buffer of at least [`DeviceCaps::max_frame_len`] bytes, until it returns `None`.
//!    It also retransmits due ARP requests, so call it after every batch and on every timer.
//! 4. **Timers.** [`Interface::poll_timeout`] gives the next instant at which step 3 has timed
//!    work (ARP retransmission); sleep no later than that.

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use super::arp_cache::{ArpCache, Enqueued};
use super::caps::{DeviceCaps, Medium};
use super::config::InterfaceConfig;
use super::counters::{DropReason, IfaceCounters};
use super::icmp::{self, ErrorContext, QuotedTcp};
use super::ip_id::IpIds;
use super::ratelimit::TokenBucket;
use super::ring::{PushError, SlotRing};
use super::udp::{BindError, Delivery, UdpHandle, UdpSockets};
use crate::time::Instant;
use crate::wire::arp::{self, ArpOperation, ArpRepr};
use crate::wire::checksum;
use crate::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use crate::wire::icmp::{self as wicmp, DstUnreachable, Icmpv4Repr};
use crate::wire::ipv4::{self, IpProtocol, Ipv4Repr};
use crate::wire::udp::{self as wudp, UdpRepr};
use crate::wire::Error;

/// What [`Interface::receive`] did with a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received<'a> {
    /// Handled here (ARP, ICMP, a UDP datagram queued on its socket); any reply is queued for
    /// [`Interface::poll_transmit`].
    Consumed,
    /// A TCP segment for our address, for the TCP layer.
    Tcp {
        /// Sender's address.
        src_ip: Ipv4Addr,
        /// Our address.
        dst_ip: Ipv4Addr,
        /// The IPv4 type-of-service byte: DSCP in the high six bits, ECN in the low two
        /// (RFC 3168 §5).
        dscp_ecn: u8,
        /// The TCP header and payload, trimmed to the IP payload length (link padding removed).
        segment: &'a [u8],
        /// The device verified the TCP checksum; if false the TCP layer must verify it.
        checksum_verified: bool,
    },
    /// An ICMP error (destination unreachable, time exceeded) about a TCP segment we sent,
    /// for the TCP layer to find the connection and act on it.
    IcmpError {
        /// The reporting host (the destination, or a router on the way).
        src_ip: Ipv4Addr,
        /// The message; its `original` field quotes our datagram.
        message: Icmpv4Repr<'a>,
        /// The quoted TCP header's first 8 bytes: ports and sequence number, enough to find
        /// the connection (RFC 792) and check the error is in window (RFC 5927 §4.1).
        original: QuotedTcp,
    },
    /// Dropped; the reason's counter has been incremented.
    Dropped(DropReason),
}

/// What [`Interface::send_ip`] did with the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpSend {
    /// The first `n` bytes of the lent buffer are a complete frame: hand them to the device.
    Ready(usize),
    /// The next hop's MAC is unknown: a copy of the packet waits for ARP, and the ARP request
    /// is queued for `poll_transmit`. The lent buffer is free again.
    Queued,
}

/// Why a send failed. Each is counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The destination is off-link and there is no gateway (`tx_no_route`).
    NoRoute,
    /// Larger than the MTU or than the lent buffer (`tx_too_large`).
    TooLarge,
    /// The queue waiting for ARP resolution is full (`arp_queue_full`).
    ArpQueueFull,
    /// The interface's transmit queue is full (`tx_queue_full`).
    TxQueueFull,
    /// The UDP handle names no bound socket.
    NotBound,
}

/// Addresses and checksum duty for an L4 builder filling a packet in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpTxInfo {
    /// Our address: the packet's source.
    pub src: Ipv4Addr,
    /// The packet's destination.
    pub dst: Ipv4Addr,
    /// The L4 protocol.
    pub protocol: IpProtocol,
    /// Whether software must fill the L4 checksum (false: the device fills it).
    pub fill_checksum: bool,
}

impl IpTxInfo {
    /// Folded pseudo-header sum for an L4 message of `l4_len` bytes (RFC 9293 §3.1, RFC 768).
    pub fn pseudo_header_sum(&self, l4_len: usize) -> u16 {
        let len = u16::try_from(l4_len).unwrap_or(u16::MAX);
        checksum::pseudo_header_v4(self.src, self.dst, self.protocol.into(), len)
    }
}

/// How a packet reaches its next hop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Link {
    /// Raw-IP device: no link header.
    None,
    /// Ethernet frame to this MAC.
    Mac(EthernetAddress),
    /// Ethernet, but this next hop's MAC is not known yet.
    Unresolved(Ipv4Addr),
}

/// The fields of an IPv4 header this interface writes.
#[derive(Debug, Clone, Copy)]
struct IpHeader {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    protocol: IpProtocol,
    dscp_ecn: u8,
    ttl: u8,
    ident: u16,
    fill_ip_checksum: bool,
    fill_l4_checksum: bool,
}

/// One IPv4 interface. See the [module documentation](self) for the call order.
#[derive(Debug)]
pub struct Interface {
    config: InterfaceConfig,
    caps: DeviceCaps,
    counters: IfaceCounters,
    arp: ArpCache,
    udp: UdpSockets,
    /// Frames generated inside the interface, waiting for `poll_transmit`.
    tx: SlotRing<()>,
    icmp_limit: TokenBucket,
    ip_ids: IpIds,
    /// MTU-sized buffer to build packets that must wait for ARP before they are copied into the
    /// pending queue. Allocated once.
    scratch: Vec<u8>,
}

impl Interface {
    /// Keys the per-destination IP ID sequences (`iface::ip_id`) with a secret.
    pub fn set_ip_id_key(&mut self, key: [u8; 16]) {
        self.ip_ids = IpIds::new(key);
    }

    /// An interface with `config` on a device with `caps`. Allocates its transmit queue and
    /// ARP table now.
    pub fn new(config: InterfaceConfig, caps: DeviceCaps) -> Self {
        Interface {
            arp: ArpCache::new(&config),
            udp: UdpSockets::new(),
            tx: SlotRing::new(config.tx_queue_capacity, caps.max_frame_len(), ()),
            icmp_limit: TokenBucket::new(config.icmp_rate_per_sec, config.icmp_burst),
            // A fixed key until the owner sets a secret one (`set_ip_id_key`; the stack does).
            ip_ids: IpIds::new([0; 16]),
            scratch: vec![0; caps.mtu],
            counters: IfaceCounters::default(),
            config,
            caps,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &InterfaceConfig {
        &self.config
    }

    /// The device capabilities.
    pub fn caps(&self) -> &DeviceCaps {
        &self.caps
    }

    /// The counters.
    pub fn counters(&self) -> &IfaceCounters {
        &self.counters
    }

    /// The ARP cache (for inspection).
    pub fn arp_cache(&self) -> &ArpCache {
        &self.arp
    }

    /// Frames queued for `poll_transmit`.
    pub fn tx_queued(&self) -> usize {
        self.tx.len()
    }

    // ---------------------------------------------------------------- input

    /// Processes one received frame (a raw IPv4 packet on a [`Medium::Ip`] device).
    pub fn receive<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Received<'a> {
        self.counters.rx_frames += 1;
        let r = match self.caps.medium {
            Medium::Ip => self.receive_ipv4(now, frame, Link::None, false),
            Medium::Ethernet => self.receive_ethernet(now, frame),
        };
        if let Received::Dropped(reason) = r {
            reason.count(&mut self.counters);
        }
        r
    }

    fn receive_ethernet<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Received<'a> {
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
        if dst != self.config.mac && !dst.is_broadcast() {
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
            _ => Received::Dropped(DropReason::UnknownEthertype),
        }
    }

    fn receive_arp<'a>(&mut self, now: Instant, data: &[u8]) -> Received<'a> {
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
                self.flush_released(repr.source_hw, released);
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

    fn receive_ipv4<'a>(
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
        if self.config.is_broadcast(repr.src) || repr.src == self.config.ipv4_addr {
            return Received::Dropped(DropReason::MartianSource);
        }
        let to_unicast_ip = repr.dst == self.config.ipv4_addr;
        if !to_unicast_ip && !self.config.is_broadcast(repr.dst) {
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

    fn receive_udp<'a>(&mut self, now: Instant, rx: &RxIp<'_>, data: &[u8]) -> Received<'a> {
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
        match self.udp.deliver(repr.dst_port, (rx.repr.src, repr.src_port), pkt.payload()) {
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

    fn receive_icmp<'a>(&mut self, now: Instant, rx: &RxIp<'_>, data: &'a [u8]) -> Received<'a> {
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
    fn send_icmp_error(&mut self, now: Instant, rx: &RxIp<'_>, reason: DstUnreachable) {
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

    // ---------------------------------------------------------------- output

    /// Writes the next queued frame (ARP, ICMP, UDP, or a packet released by ARP) into `buf`
    /// and returns its length; `None` when nothing is queued. Retransmits due ARP requests
    /// first. `buf` should be [`DeviceCaps::max_frame_len`] bytes; a frame that does not fit
    /// is dropped and counted (`tx_too_large`).
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // Called twice per `Stack::poll_transmit`, nearly always with nothing to do.
        if self.tx.len() == 0 && self.arp.poll_at().is_none_or(|t| t > now) {
            return None;
        }
        self.poll_transmit_queued(now, buf)
    }

    fn poll_transmit_queued(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        self.poll_arp(now);
        loop {
            let (_, frame) = self.tx.front()?;
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

    /// The next instant at which [`poll_transmit`](Self::poll_transmit) has timed work: an ARP
    /// retransmission, revalidation probe or give-up. Entries expire lazily (on lookup) and
    /// need no timer of their own.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.arp.poll_at()
    }

    /// Higher-layer advice (RFC 1122 §2.3.2.1) that `dst` is reachable, e.g. from TCP when new
    /// data is acknowledged: restarts the lifetime of the ARP entry of `dst`'s next hop, so a
    /// busy flow never needs to revalidate it.
    pub fn confirm_reachable(&mut self, now: Instant, dst: Ipv4Addr) {
        if self.caps.medium == Medium::Ip {
            return;
        }
        let hop = if self.config.is_on_link(dst) { Some(dst) } else { self.config.gateway };
        if let Some(hop) = hop {
            self.arp.confirm(hop, now);
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
        let link = self.resolve(now, dst)?;
        let fill_l4 = !self.l4_offload_tx(protocol);
        let hdr = self.header(dst, protocol, dscp_ecn, fill_l4);
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
        match link {
            Link::None => {
                self.counters.tx_frames += 1;
                Ok(IpSend::Ready(ip_len))
            }
            Link::Mac(mac) => {
                write_ethernet(frame, self.config.mac, mac, EtherType::Ipv4);
                self.counters.tx_frames += 1;
                Ok(IpSend::Ready(link_len + ip_len))
            }
            Link::Unresolved(hop) => {
                let packet = frame.get(link_len..link_len + ip_len).unwrap_or(&[]);
                self.enqueue_pending(now, hop, packet).map(|()| IpSend::Queued)
            }
        }
    }

    // ---------------------------------------------------------------- UDP

    /// Binds a UDP socket on `port` with the configured receive ring (`udp_rx_slots` datagrams
    /// of up to MTU − 28 bytes), allocated now.
    pub fn udp_bind(&mut self, port: u16) -> Result<UdpHandle, BindError> {
        self.udp_bind_with_slots(port, self.config.udp_rx_slots)
    }

    /// Binds a UDP socket on `port` with a receive ring of `slots` datagrams.
    pub fn udp_bind_with_slots(&mut self, port: u16, slots: usize) -> Result<UdpHandle, BindError> {
        let max = self.caps.mtu.saturating_sub(ipv4::HEADER_LEN + wudp::HEADER_LEN);
        self.udp.bind(port, slots, max)
    }

    /// Closes a UDP socket. False if the handle was stale.
    pub fn udp_unbind(&mut self, socket: UdpHandle) -> bool {
        self.udp.unbind(socket)
    }

    /// The oldest datagram queued on `socket`: its sender and its payload, read in place in
    /// the socket's ring. It stays queued until [`udp_consume`](Self::udp_consume).
    pub fn udp_recv_from(&self, socket: UdpHandle) -> Option<((Ipv4Addr, u16), &[u8])> {
        self.udp.recv_from(socket)
    }

    /// Releases the oldest datagram queued on `socket`.
    pub fn udp_consume(&mut self, socket: UdpHandle) -> bool {
        self.udp.consume(socket)
    }

    /// The next UDP socket with newly arrived datagrams (edge-triggered: read it until
    /// `udp_recv_from` is `None`).
    pub fn udp_poll_readable(&mut self) -> Option<UdpHandle> {
        self.udp.poll_readable()
    }

    /// The UDP socket table (for inspection).
    pub fn udp_sockets(&self) -> &UdpSockets {
        &self.udp
    }

    /// Queues a UDP datagram from `socket`'s port to `dst`. It leaves with the next
    /// `poll_transmit`, or once ARP resolves the next hop.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        socket: UdpHandle,
        dst: (Ipv4Addr, u16),
        payload: &[u8],
    ) -> Result<(), SendError> {
        let src_port = self.udp.local_port(socket).ok_or(SendError::NotBound)?;
        if ipv4::HEADER_LEN + wudp::HEADER_LEN + payload.len() > self.caps.mtu {
            self.counters.tx_too_large += 1;
            return Err(SendError::TooLarge);
        }
        let link = self.resolve(now, dst.0)?;
        let fill_l4 = !self.caps.checksum.udp.tx;
        let hdr = self.header(dst.0, IpProtocol::Udp, 0, fill_l4);
        let repr = UdpRepr { src_port, dst_port: dst.1 };
        self.queue_ip(now, link, hdr, |buf, info| {
            let len = wudp::HEADER_LEN + payload.len();
            let Some(buf) = buf.get_mut(..len) else { return len };
            let body = &mut buf[wudp::HEADER_LEN..];
            // The payload is copied once, and summed in the same pass when software fills the
            // checksum.
            let sum = if info.fill_checksum {
                Some(checksum::copy_and_sum(body, payload))
            } else {
                body.copy_from_slice(payload);
                None
            };
            let mut pkt = wudp::Packet::new_unchecked(buf);
            match sum {
                Some(sum) => {
                    repr.emit_with_payload_sum(&mut pkt, payload.len(), sum, info.src, info.dst)
                }
                None => repr.emit(&mut pkt, payload.len(), info.src, info.dst, false),
            }
            len
        })?;
        self.counters.udp_sent += 1;
        Ok(())
    }

    // ---------------------------------------------------------------- internals

    fn l4_offload_tx(&self, protocol: IpProtocol) -> bool {
        let c = &self.caps.checksum;
        match protocol {
            IpProtocol::Tcp => c.tcp.tx,
            IpProtocol::Udp => c.udp.tx,
            IpProtocol::Icmp => c.icmp.tx,
            IpProtocol::Unknown(_) => false,
        }
    }

    fn header(
        &mut self,
        dst: Ipv4Addr,
        protocol: IpProtocol,
        dscp_ecn: u8,
        fill_l4: bool,
    ) -> IpHeader {
        // RFC 6864 §4.1, per destination (`ip_id`).
        let ident = self.ip_ids.next(dst, protocol.into());
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

    /// Routes `dst` and resolves the next hop's link address. On-link destinations are their
    /// own next hop; others go to the gateway (RFC 1122 §3.3.1.1); with no gateway there is no
    /// route. A raw-IP device is point-to-point: everything goes out of it, no route needed.
    fn resolve(&mut self, now: Instant, dst: Ipv4Addr) -> Result<Link, SendError> {
        if self.caps.medium == Medium::Ip {
            return Ok(Link::None);
        }
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
        Ok(match self.arp.lookup(hop, now) {
            Some(mac) => Link::Mac(mac),
            None => Link::Unresolved(hop),
        })
    }

    /// Builds an IP packet for `link` and queues it: straight into the transmit ring when the
    /// link address is known, into the ARP pending queue otherwise.
    fn queue_ip(
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

    /// Copies `packet` into the ARP pending queue for `hop`, sending a request if this starts
    /// a resolution.
    fn enqueue_pending(
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

    fn queue_arp_request(&mut self, target_ip: Ipv4Addr) {
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
    fn queue_arp(&mut self, eth_dst: EthernetAddress, repr: &ArpRepr) -> bool {
        if push_arp(&mut self.tx, self.config.mac, eth_dst, repr) {
            true
        } else {
            self.counters.tx_queue_full += 1;
            false
        }
    }

    /// Retransmits due ARP requests and gives up on hopeless neighbours.
    fn poll_arp(&mut self, now: Instant) {
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
    fn flush_released(&mut self, mac: EthernetAddress, released: VecDeque<Vec<u8>>) {
        let src = self.config.mac;
        for packet in released {
            let res = self.tx.push_with((), |slot| {
                let n = ethernet::HEADER_LEN + packet.len();
                slot.get_mut(ethernet::HEADER_LEN..n)?.copy_from_slice(&packet);
                write_ethernet(slot, src, mac, EtherType::Ipv4);
                Some(n)
            });
            if res.is_err() {
                self.counters.tx_queue_full += 1;
            }
        }
    }
}

/// A received datagram's context, for the L4 handlers and ICMP errors.
struct RxIp<'a> {
    repr: Ipv4Repr,
    /// The whole datagram, header first, trimmed to its total length.
    datagram: &'a [u8],
    header_len: usize,
    err: ErrorContext,
    /// Where replies go: back to the frame's source MAC (which is the gateway's for an
    /// off-link sender), so replying needs no ARP.
    reply_link: Link,
}

/// Writes an option-less IPv4 header at `buf[0..20]` and lets `fill` write the L4 message after
/// it, within `mtu`. Returns the IP packet length.
fn build_ip(
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
fn seed_partial_checksum(l4: &mut [u8], info: &IpTxInfo) {
    let Some(at) = l4_checksum_offset(info.protocol) else { return };
    let seed = info.pseudo_header_sum(l4.len());
    if let Some(field) = l4.get_mut(at..at + 2) {
        field.copy_from_slice(&seed.to_be_bytes());
    }
}

/// Writes an Ethernet II header into `frame[0..14]` (which the caller guarantees exists).
fn write_ethernet(
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
fn emit_icmp(buf: &mut [u8], msg: &Icmpv4Repr<'_>, fill_checksum: bool) -> usize {
    let len = msg.buffer_len();
    if let Some(b) = buf.get_mut(..len) {
        msg.emit(&mut wicmp::Packet::new_unchecked(b), fill_checksum);
    }
    len
}

/// Queues an ARP frame into `tx`; false if the queue is full.
fn push_arp(
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
