//! Segment arrival: from a received frame to the connection or listener it belongs to.
//!
//! The demultiplexing order is RFC 9293 §3.10.7: a segment matching a connection's 4-tuple
//! goes to that connection; otherwise to a listener on its destination (exact address, then
//! wildcard); otherwise it is answered with a RST (§3.10.7.1, never in reply to a RST).

use std::net::Ipv4Addr;
use std::sync::Arc;

use super::ipv6::{slot_ends, AnyKey};
use super::socket::{Owner, Socket};
use super::{ListenHandle, Reply, Stack, StackEvent};
use crate::flow::{FlowKey, ListenerHandle};
use crate::iface::Received;
use crate::tcp::listen::{AckAction, OverflowPolicy, SynAction};
use crate::tcp::segment::{IpEcn, Segment, SegmentHeader, SegmentOptions};
use crate::tcp::syncookie::SynCookies;
use crate::tcp::{
    ColdSpares, Connection, ConnectionParams, Open, SegmentVerdict, State, TcpConfig,
};
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::tcp::{Packet, TcpRepr, PROTOCOL};
use crate::wire::tcp_common::CommonSegment;
use crate::wire::SeqNumber;

/// The engine's view of a parsed segment (the engine does not depend on the wire parser).
pub(crate) fn to_segment<'a>(repr: &TcpRepr<'a>) -> Segment<'a> {
    Segment {
        seq: repr.seq,
        ack: repr.ack,
        flags: repr.flags,
        window: repr.window,
        options: SegmentOptions {
            mss: repr.mss,
            window_scale: repr.window_scale,
            sack_permitted: repr.sack_permitted,
            sack_blocks: repr.sack_blocks,
            timestamps: repr.timestamps,
        },
        payload: repr.payload,
    }
}

impl Stack {
    /// Processes one received frame: ARP, ICMP and UDP are handled by the interface, TCP
    /// segments are delivered to their connection or listener. Replies are queued for
    /// [`poll_transmit`](Self::poll_transmit).
    pub fn receive(&mut self, now: Instant, frame: &[u8]) {
        if self.frame_prediction && self.receive_common(now, frame) {
            return;
        }
        match self.iface.receive(now, frame) {
            Received::Tcp { src_ip, dst_ip, dscp_ecn, segment, checksum_verified } => {
                let ecn = IpEcn::from_bits(dscp_ecn & 0b11);
                self.tcp_input_ecn(now, src_ip, dst_ip, ecn, segment, !checksum_verified);
            }
            Received::IcmpError { message, original, .. } => self.icmp_input(&message, original),
            Received::Tcp6 { src, dst, traffic_class, segment } => {
                let ecn = IpEcn::from_bits(traffic_class & 0b11);
                self.tcp6_input(now, src, dst, ecn, segment);
            }
            Received::PacketTooBig6 { mtu, original } => self.packet_too_big6(mtu, original),
            Received::Consumed | Received::Dropped(_) => {}
        }
    }

    /// Processes one TCP segment (header and payload) from `src_ip` to `dst_ip`, verifying
    /// its checksum if `verify_checksum`. For drivers that parse the lower layers themselves
    /// (the IP header's ECN field taken as Not-ECT: see [`tcp_input_ecn`](Self::tcp_input_ecn)).
    pub fn tcp_input(
        &mut self,
        now: Instant,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        segment: &[u8],
        verify_checksum: bool,
    ) {
        self.tcp_input_ecn(now, src_ip, dst_ip, IpEcn::NotEct, segment, verify_checksum);
    }

    /// [`tcp_input`](Self::tcp_input) with the ECN codepoint of the IP header: a CE mark on
    /// a connection that negotiated ECN makes its ACKs echo ECE (RFC 3168 §6.1.3).
    pub fn tcp_input_ecn(
        &mut self,
        now: Instant,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        ecn: IpEcn,
        segment: &[u8],
        verify_checksum: bool,
    ) {
        let packet = Packet::new_unchecked(segment);
        let repr = match TcpRepr::parse(&packet, src_ip, dst_ip, verify_checksum) {
            Ok(r) => r,
            Err(_) => {
                // Bad checksum or malformed header (`InErrs`).
                self.tcp_counters.in_errs += 1;
                return;
            }
        };
        let seg = to_segment(&repr);
        self.segment_input(now, (src_ip, repr.src_port), (dst_ip, repr.dst_port), ecn, &seg);
    }

    /// The common frame of an established connection (see [`CommonSegment`]), read at fixed
    /// offsets straight from the frame, checksums verified once, and handed to its
    /// connection with no second parse: the work of [`receive`](Self::receive) for such a
    /// frame with the interface's general demultiplexing and `TcpRepr` left out (Van
    /// Jacobson's header prediction, Linux `tcp_rcv_established`). Returns `false`, having
    /// changed nothing, for a frame `common_tcp` does not take or whose checksum fails; the
    /// general path then takes it (and counts a bad checksum).
    #[inline]
    fn receive_common(&mut self, now: Instant, frame: &[u8]) -> bool {
        let Some(ip) = self.iface.common_tcp(frame) else { return false };
        // The checksum first, before any field is read: the sum needs most registers, and
        // fields read before it waited for it on the stack.
        if !ip.checksum_verified
            && !checksum::verify_tcp_v4(ip.src_ip, ip.dst_ip, PROTOCOL, ip.segment)
        {
            return false;
        }
        // From here the frame is the interface's `Received::Tcp` (`common_tcp` promises the
        // same fields), counted as `receive` counts it.
        self.iface.count_common_tcp();
        let ecn = IpEcn::from_bits(ip.dscp_ecn & 0b11);
        let Some(c) = CommonSegment::parse(ip.segment, ip.src_ip, ip.dst_ip, false) else {
            self.receive_uncommon(now, (ip.src_ip, ip.dst_ip), ecn, ip.segment);
            return true;
        };
        let seg = Segment {
            seq: c.seq,
            ack: Some(c.ack),
            flags: c.flags,
            window: c.window,
            options: SegmentOptions { timestamps: c.timestamps, ..SegmentOptions::default() },
            payload: c.payload,
        };
        self.segment_input(now, (ip.src_ip, c.src_port), (ip.dst_ip, c.dst_port), ecn, &seg);
        true
    }

    /// A segment `common_tcp` took and whose checksum holds, but not of the common shape (a
    /// SYN, FIN or RST, SACK blocks, other options): to the general TCP parse, with the IPv4
    /// header not checked and the segment not summed a second time, as the general path
    /// would have done after `Interface::receive`.
    #[cold]
    #[inline(never)]
    fn receive_uncommon(
        &mut self,
        now: Instant,
        (src_ip, dst_ip): (Ipv4Addr, Ipv4Addr),
        ecn: IpEcn,
        segment: &[u8],
    ) {
        self.tcp_input_ecn(now, src_ip, dst_ip, ecn, segment, false);
    }

    /// A parsed segment from `remote` to `local`: to its connection, else to a listener, else
    /// answered with a RST (RFC 9293 §3.10.7).
    #[inline(always)]
    fn segment_input(
        &mut self,
        now: Instant,
        (remote_ip, remote_port): (Ipv4Addr, u16),
        (local_ip, local_port): (Ipv4Addr, u16),
        ecn: IpEcn,
        seg: &Segment<'_>,
    ) {
        let key = FlowKey { local_ip, local_port, remote_ip, remote_port };
        // The hint (the connection the batch's look-ahead found for this frame, or else the
        // one the previous segment went to) is used if its key is the segment's: one compare
        // instead of a keyed hash and a probe, for a batch and for a run of segments of one
        // connection alike. Anything else is looked up.
        let found = match self.rx_hint {
            Some(h) if self.flows.key(h) == Some(key) => Some(h),
            _ => self.flows.lookup(&key),
        };
        self.rx_hint = found;
        if let Some(h) = found {
            if !self.connection_input::<false>(now, h, seg, ecn) {
                return;
            }
            // TIME-WAIT gave the SYN up for a new incarnation (RFC 6191): on to the listener.
        } else {
            self.tcp_counters.in_segs += 1;
        }
        let listener = self
            .listeners
            .lookup_listener(local_ip, local_port)
            .filter(|&l| self.listeners.get(l).is_some_and(|l| l.takes_ipv4()));
        match listener {
            Some(l) => self.listener_input(now, l, AnyKey::V4(key), seg),
            None => {
                if let Some(header) = seg.reset_reply() {
                    if self.rst_limit.try_take(now) {
                        self.counters.rsts_no_socket += 1;
                        self.queue_reply(key, header);
                    } else {
                        self.counters.rsts_rate_limited += 1;
                    }
                }
            }
        }
    }

    /// Feeds a segment to connection `h`. Returns `true` when the segment must go on to the
    /// listener (a SYN that recycles a TIME-WAIT connection). `V6` makes the IPv6 input's
    /// copy a separate instance: with one shared instance LLVM outlined it, and the `touch`
    /// inside it, from the IPv4 path (+116 instructions per round trip, `path_count rpc`).
    pub(super) fn connection_input<const V6: bool>(
        &mut self,
        now: Instant,
        h: crate::flow::FlowHandle,
        seg: &Segment<'_>,
        ecn: IpEcn,
    ) -> bool {
        // A live handle: the lookup just returned it.
        let verdict = self.touch_input(h, |s, t| {
            if let Owner::SynQueue(l) = s.owner {
                // The ACK completing a handshake needs room in the accept queue (Linux
                // `tcp_check_req`): without it, drop the ACK or reset, as the listener says.
                let completes = s.conn.state() == State::SynReceived
                    && seg.ack.is_some()
                    && !seg.flags.syn()
                    && !seg.flags.rst();
                if completes {
                    if let Some(listener) = t.listeners.get_mut(l) {
                        if !listener.accept_room() {
                            match listener.on_overflow() {
                                OverflowPolicy::Drop => t.transmit = false,
                                OverflowPolicy::Reset => s.conn.abort(),
                            }
                            return SegmentVerdict::Dropped;
                        }
                    }
                }
            }
            t.counters.rx_payload_bytes += seg.payload.len() as u64;
            let queued = s.conn.send_queue_len();
            let verdict = s.conn.on_segment_ecn(now, seg, ecn, t.pool);
            if s.conn.send_queue_len() < queued {
                // New data acknowledged: forward progress, so the peer's link-layer address
                // is still good (RFC 1122 §2.3.2.1, RFC 4861 §7.3.1); spares revalidation
                // (ARP requests, unicast neighbour solicitations) on busy flows. An IPv6
                // connection's remote is an alias, never a neighbour: its real one is boxed.
                if V6 {
                    if let Some(ends) = s.ipv6.as_deref() {
                        t.iface.confirm_reachable6(now, ends.remote);
                    }
                } else {
                    t.iface.confirm_reachable_routed(now, *s.conn.remote().ip(), &s.route);
                }
            }
            // A recycled TIME-WAIT connection is freed right after: nothing to send.
            t.transmit = verdict != SegmentVerdict::TimeWaitSyn;
            verdict
        });
        if verdict == Some(SegmentVerdict::TimeWaitSyn) {
            self.tcp_counters.time_wait_recycled += 1;
            self.recycle(h);
            return true;
        }
        false
    }

    /// RFC 9293 §3.10.7.2: a segment for a listener, in either family (`key` is the
    /// segment's 4-tuple as seen from here).
    pub(super) fn listener_input(
        &mut self,
        now: Instant,
        l: ListenerHandle,
        key: AnyKey,
        seg: &Segment<'_>,
    ) {
        let mtu = self.iface.caps().mtu;
        // The listener handle came from the lookup just made.
        let Some(listener) = self.listeners.get_mut(l) else { return };
        let (local, remote) = key.ends();
        let pure_syn = seg.flags.syn() && seg.ack.is_none() && !seg.flags.rst();
        if pure_syn {
            match listener.on_syn(now, &self.cookies, local, remote, seg) {
                SynAction::Queue => {
                    let iss = self.isn.isn(now, local, remote);
                    let config = self.configs.share(key.fit_mss(*listener.tcp_config(), mtu));
                    let (slot, ipv6) = key.slot(&mut self.flows.v6);
                    // No buffer memory until data flows: a SYN costs its table entry only.
                    let open = Open::Syn(seg);
                    let conn = passive(
                        &self.cookies,
                        &mut self.cold_spares,
                        now,
                        config,
                        &slot,
                        iss,
                        open,
                        (local, remote),
                    );
                    let socket = Socket::new(conn, Owner::SynQueue(l)).with_ipv6(ipv6);
                    match self.adopt_any(key, slot, socket, true) {
                        Ok(_) => {
                            if let Some(listener) = self.listeners.get_mut(l) {
                                listener.syn_queued();
                            }
                        }
                        Err(_) => self.counters.table_full_drops += 1,
                    }
                }
                SynAction::Cookie(mut header) => {
                    // The MSS we announce fits the family's headers.
                    let most = key.fit_mss(*listener.tcp_config(), mtu).mss;
                    header.options.mss = header.options.mss.map(|m| m.min(most));
                    self.queue_reply_key(key, header)
                }
                SynAction::Drop => {}
            }
            return;
        }
        match listener.on_non_syn(now, &self.cookies, local, remote, seg) {
            AckAction::Cookie { iss, options } => {
                let config = self.configs.share(key.fit_mss(*listener.tcp_config(), mtu));
                let (slot, ipv6) = key.slot(&mut self.flows.v6);
                let open = Open::Cookie { options, ack: seg, pool: &mut self.buffers };
                // Keyed with the offset the cookie's SYN-ACK was stamped with.
                let conn = passive(
                    &self.cookies,
                    &mut self.cold_spares,
                    now,
                    config,
                    &slot,
                    iss,
                    open,
                    (local, remote),
                );
                let refused = if self.flows.is_full() {
                    self.counters.table_full_drops += 1;
                    true
                } else if !listener.accept_room() {
                    // Counted as `push_accepted` counts a refusal.
                    listener.on_overflow();
                    true
                } else {
                    false
                };
                if refused {
                    conn.retire(&mut self.buffers, &mut self.cold_spares);
                } else {
                    let socket = Socket::new(conn, Owner::AcceptQueue(l)).with_ipv6(ipv6);
                    match self.adopt_any(key, slot, socket, true) {
                        Ok(h) => {
                            if let Some(listener) = self.listeners.get_mut(l) {
                                // Room was checked above, with nothing queued in between.
                                listener.push_accepted(h);
                            }
                            self.events.push_back(StackEvent::Acceptable(ListenHandle(l)));
                        }
                        Err(_) => self.counters.table_full_drops += 1,
                    }
                }
            }
            AckAction::Reset(header) => self.queue_reply_key(key, header),
            AckAction::Drop => {}
        }
    }

    /// Queues a stateless segment for `poll_transmit`, or drops it when the queue is full.
    pub(super) fn queue_reply(&mut self, key: FlowKey, header: SegmentHeader) {
        self.queue_reply_any(key, None, header);
    }

    /// [`queue_reply`](Self::queue_reply) in either family: with `ipv6`, `key` gives only the
    /// ports.
    pub(super) fn queue_reply_any(
        &mut self,
        key: FlowKey,
        ipv6: Option<crate::tcp::family::Ipv6Ends>,
        header: SegmentHeader,
    ) {
        if self.replies.len() >= self.max_replies {
            self.counters.replies_dropped += 1;
            return;
        }
        if header.flags.rst() {
            self.tcp_counters.out_rsts += 1;
        }
        self.replies.push_back(Reply { key, ipv6, header });
    }
}

/// A connection a listener accepts (from its SYN or from a returning cookie), stored under
/// slab key `slot` (an IPv6 connection's alias) and keyed with its real `ends`, its cold
/// parts in one of `spares` if any: the one constructor of both passive paths.
#[allow(clippy::too_many_arguments)]
fn passive(
    cookies: &SynCookies,
    spares: &mut ColdSpares,
    now: Instant,
    config: Arc<TcpConfig>,
    slot: &FlowKey,
    iss: SeqNumber,
    open: Open<'_, '_>,
    (local, remote): (std::net::SocketAddr, std::net::SocketAddr),
) -> Connection {
    let (slot_local, slot_remote) = slot_ends(slot);
    let params =
        ConnectionParams { now, config, local: slot_local, remote: slot_remote, iss, open };
    let conn = Connection::new_reusing(params, spares);
    super::keyed(cookies, conn, local, remote)
}
