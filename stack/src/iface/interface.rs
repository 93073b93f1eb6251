//! The IPv4 interface: one address on one device, tying Ethernet, ARP, IPv4, ICMP and UDP
//! together, sans-IO. This file holds its state, its types and the UDP socket calls; its
//! behaviour is split by direction: `input` (frames in), `output` (frames out) and `arp`
//! (next-hop resolution).
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

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use super::caps::DeviceCaps;
use super::config::InterfaceConfig;
use super::counters::{DropReason, IfaceCounters};
use super::icmp::QuotedTcp;
use super::ip_id::IpIds;
use super::ipv6_state::Ipv6State;
use super::neighbor::ArpCache;
use super::ratelimit::TokenBucket;
use super::released::ReleasedFrames;
use super::ring::SlotRing;
use super::udp::{BindError, UdpHandle, UdpScope, UdpSockets};
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ethernet::EthernetAddress;
use crate::wire::icmp::Icmpv4Repr;
use crate::wire::ipv4::{self, IpProtocol};
use crate::wire::udp::{self as wudp, UdpRepr};

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
    /// A TCP segment over IPv6 to one of our unicast addresses, for the TCP layer.
    Tcp6 {
        /// Sender's address.
        src: Ipv6Addr,
        /// Our address.
        dst: Ipv6Addr,
        /// The traffic class: DSCP in the high six bits, ECN in the low two (RFC 8200 §7).
        traffic_class: u8,
        /// The TCP header and payload, trimmed to the IPv6 payload length. Its checksum is
        /// always for the TCP layer to verify (the offloads are set up for IPv4).
        segment: &'a [u8],
    },
    /// An ICMPv6 Packet Too Big about one of our TCP segments (RFC 8201), for the TCP layer.
    PacketTooBig6 {
        /// The next hop's MTU as reported (the TCP layer clamps it to 1280, RFC 8201 §4).
        mtu: u32,
        /// The quoted segment's ends and sequence number.
        original: QuotedTcp6,
    },
    /// Dropped; the reason's counter has been incremented.
    Dropped(DropReason),
}

/// The fields of one of our TCP segments quoted in an ICMPv6 error (RFC 4443 §2.4 (c)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotedTcp6 {
    /// Our address (the quoted packet's source).
    pub src_ip: Ipv6Addr,
    /// The peer's address (the quoted packet's destination).
    pub dst_ip: Ipv6Addr,
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// The quoted segment's sequence number.
    pub seq: u32,
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
pub(super) enum Link {
    /// Raw-IP device: no link header.
    None,
    /// Ethernet frame to this MAC.
    Mac(EthernetAddress),
    /// Ethernet, but this next hop's MAC is not known yet.
    Unresolved(Ipv4Addr),
}

/// The fields of an IPv4 header this interface writes.
#[derive(Debug, Clone, Copy)]
pub(super) struct IpHeader {
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    pub(super) protocol: IpProtocol,
    pub(super) dscp_ecn: u8,
    pub(super) ttl: u8,
    pub(super) ident: u16,
    pub(super) fill_ip_checksum: bool,
    pub(super) fill_l4_checksum: bool,
}

/// One IPv4 interface. See the [module documentation](self) for the call order.
#[derive(Debug)]
pub struct Interface {
    pub(super) config: InterfaceConfig,
    pub(super) caps: DeviceCaps,
    pub(super) counters: IfaceCounters,
    pub(super) arp: ArpCache,
    pub(super) udp: UdpSockets,
    /// Frames generated inside the interface, waiting for `poll_transmit`.
    pub(super) tx: SlotRing<()>,
    /// Packets released by a resolved neighbour that did not fit in `tx`; sent after it.
    pub(super) released: ReleasedFrames,
    pub(super) icmp_limit: TokenBucket,
    pub(super) ip_ids: IpIds,
    /// MTU-sized buffer to build packets that must wait for ARP before they are copied into the
    /// pending queue. Allocated once.
    pub(super) scratch: Vec<u8>,
    /// IPv6: addresses, neighbour cache, default router.
    pub(super) v6: Ipv6State,
    /// Our subnet's directed broadcast address (RFC 919/922), or the limited broadcast for a
    /// /31 or /32 that has none (RFC 3021): [`InterfaceConfig::is_broadcast`]'s second
    /// address, computed once from the configuration (fixed for the interface's life) so the
    /// per-frame source check is two compares, not a netmask built on every frame.
    pub(super) directed_broadcast: Ipv4Addr,
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
            v6: Ipv6State::new(&config),
            udp: UdpSockets::new(),
            tx: SlotRing::new(config.tx_queue_capacity, caps.max_frame_len(), ()),
            released: ReleasedFrames::new(config.arp_pending_bytes_total),
            icmp_limit: TokenBucket::new(config.icmp_rate_per_sec, config.icmp_burst),
            // A fixed key until the owner sets a secret one (`set_ip_id_key`; the stack does).
            ip_ids: IpIds::new([0; 16]),
            scratch: vec![0; caps.mtu],
            counters: IfaceCounters::default(),
            directed_broadcast: config.subnet_broadcast().unwrap_or(Ipv4Addr::BROADCAST),
            config,
            caps,
        }
    }

    /// [`InterfaceConfig::is_broadcast`] from the address cached at construction: the
    /// limited broadcast or our subnet's directed broadcast (RFC 1122 §3.2.1.3 drops
    /// datagrams from either source).
    #[inline(always)]
    pub(super) fn is_broadcast(&self, addr: Ipv4Addr) -> bool {
        addr == Ipv4Addr::BROADCAST || addr == self.directed_broadcast
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

    /// The next instant at which [`poll_transmit`](Self::poll_transmit) has timed work: an ARP
    /// retransmission, revalidation probe or give-up. Entries expire lazily (on lookup) and
    /// need no timer of their own.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if !self.v6.enabled() {
            return self.arp.poll_at();
        }
        match (self.arp.poll_at(), self.v6.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The IPv6 state: addresses and their detection states, neighbours, default router.
    pub fn ipv6(&self) -> &Ipv6State {
        &self.v6
    }

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

    /// [`udp_bind`](Self::udp_bind) for the families `scope` names: an IPv4-only and an
    /// IPv6-only socket may share a port (`IPV6_V6ONLY`, RFC 3493 §5.3).
    pub fn udp_bind_scoped(&mut self, port: u16, scope: UdpScope) -> Result<UdpHandle, BindError> {
        let max = self.caps.mtu.saturating_sub(ipv4::HEADER_LEN + wudp::HEADER_LEN);
        self.udp.bind_scoped(port, scope, self.config.udp_rx_slots, max)
    }

    /// Closes a UDP socket. False if the handle was stale.
    pub fn udp_unbind(&mut self, socket: UdpHandle) -> bool {
        self.udp.unbind(socket)
    }

    /// The oldest datagram queued on `socket`: its sender (IPv4 or IPv6) and its payload, read
    /// in place in the socket's ring. It stays queued until [`udp_consume`](Self::udp_consume).
    pub fn udp_recv_from(&self, socket: UdpHandle) -> Option<(SocketAddr, &[u8])> {
        self.udp.recv_from(socket)
    }

    /// Releases the oldest datagram queued on `socket`.
    pub fn udp_consume(&mut self, socket: UdpHandle) -> bool {
        self.udp.consume(socket)
    }

    /// The next UDP socket with newly arrived datagrams (edge-triggered: read it until
    /// `udp_recv_from` is `None`).
    #[inline]
    pub fn udp_poll_readable(&mut self) -> Option<UdpHandle> {
        self.udp.poll_readable()
    }

    /// The UDP socket table (for inspection).
    pub fn udp_sockets(&self) -> &UdpSockets {
        &self.udp
    }

    /// Queues a UDP datagram from `socket`'s port to `dst`, an IPv4 or IPv6 socket address
    /// (a `(Ipv4Addr, u16)` pair converts). It leaves with the next `poll_transmit`, or once
    /// ARP or Neighbor Discovery resolves the next hop.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        socket: UdpHandle,
        dst: impl Into<SocketAddr>,
        payload: &[u8],
    ) -> Result<(), SendError> {
        let dst = match dst.into() {
            SocketAddr::V4(d) => (*d.ip(), d.port()),
            SocketAddr::V6(d) => {
                return self.udp_send_to6(now, socket, (*d.ip(), d.port()), payload)
            }
        };
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
}
