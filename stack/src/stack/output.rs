//! Frame output: one complete frame per `poll_transmit` call, written into the caller's
//! buffer.

use super::ipv6::emit_segment6_of;
use super::{Reply, Stack};
use crate::flow::{is_alias, FlowKey};
use crate::iface::{Interface, IpSend, SendError, TxRoute};
use crate::tcp::segment::{IpEcn, SegmentHeader};
use crate::time::Instant;
use crate::wire::checksum;
use crate::wire::ipv4::IpProtocol;
use crate::wire::tcp::{Packet, TcpRepr};
use crate::wire::tcp_options::{MAX_OPTIONS_LEN, MAX_SACK_BLOCKS};

use super::socket::Socket;
use super::touch::Touch;
use super::tx_template::{TcpFields, TcpTemplate};
use crate::tcp::CommonSegment;

/// Fills `repr` (made with the ports and `header.seq`) with the rest of `header`. New data is sized to
/// leave room for the SACK blocks it carries (the engine's `tcp_current_mss`), but a
/// retransmission keeps the size of its first transmission: blocks are dropped (advisory, RFC
/// 2018 §3) until the segment fits in `room()`, the MTU less the IP header (of either
/// family), asked only when there are blocks.
/// Always inlined: it is the IPv4 send path's own code, shared with the IPv6 one.
#[inline(always)]
pub(crate) fn fill_segment_repr<'a>(
    repr: &mut TcpRepr<'a>,
    header: &'a SegmentHeader,
    payload: &[&[u8]; 3],
    room: impl FnOnce() -> usize,
) {
    repr.ack = header.ack;
    repr.flags = header.flags;
    repr.window = header.window;
    let o = &header.options;
    repr.mss = o.mss;
    repr.window_scale = o.window_scale;
    repr.sack_permitted = o.sack_permitted;
    repr.timestamps = o.timestamps;
    if !o.sack_blocks.is_empty() {
        repr.sack_blocks = o.sack_blocks;
        let payload_len = payload[0].len() + payload[1].len() + payload[2].len();
        let room = room();
        while !repr.sack_blocks.is_empty() && repr.header_len() + payload_len > room {
            let keep = repr.sack_blocks.len() - 1;
            repr.sack_blocks.truncate(keep);
        }
    }
}

/// Writes one TCP segment (`header` plus `payload`, in up to three pieces) from `key`'s local end to
/// its remote end into `frame` through the interface, summing the payload while copying it.
/// `ect` marks the IP header ECN-capable, ECT(0) (RFC 3168 §6.1.1: new data of a connection
/// that negotiated ECN). `route` is the sender's memo of its destination (a connection's own,
/// or a fresh one for a stateless reply).
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit_segment(
    iface: &mut Interface,
    now: Instant,
    frame: &mut [u8],
    key: &FlowKey,
    route: &mut TxRoute,
    header: &SegmentHeader,
    payload: [&[u8]; 3],
    ect: bool,
) -> Result<IpSend, SendError> {
    let mut repr = TcpRepr::new(key.local_port, key.remote_port, header.seq);
    let mtu = iface.caps().mtu;
    let room = || mtu.saturating_sub(crate::wire::ipv4::HEADER_LEN);
    fill_segment_repr(&mut repr, header, &payload, room);
    let dscp_ecn = if ect { IpEcn::Ect0.bits() } else { IpEcn::NotEct.bits() };
    iface.send_ip_routed(now, frame, key.remote_ip, IpProtocol::Tcp, dscp_ecn, route, |l4, info| {
        let header_len = repr.header_len();
        let len = header_len + payload[0].len() + payload[1].len() + payload[2].len();
        // Too long for the buffer: report the length and let the interface refuse it.
        let Some(l4) = l4.get_mut(..len) else { return len };
        let sum = copy_payload(&mut l4[header_len..], payload, info.fill_checksum);
        repr.emit_header(&mut Packet::new_unchecked(l4), info.src, info.dst, sum);
        len
    })
}

/// Copies `payload`'s pieces in order into `body` (exactly their total length) and, with
/// `fill_checksum`, returns their folded sum, taken while copying.
#[inline(always)]
pub(super) fn copy_payload(
    body: &mut [u8],
    payload: [&[u8]; 3],
    fill_checksum: bool,
) -> Option<u16> {
    let [a, b, c] = payload;
    let (first, rest) = body.split_at_mut(a.len());
    let (second, third) = rest.split_at_mut(b.len());
    if !fill_checksum {
        first.copy_from_slice(a);
        second.copy_from_slice(b);
        third.copy_from_slice(c);
        return None;
    }
    let s1 = checksum::copy_and_sum(first, a);
    Some(if b.is_empty() && c.is_empty() {
        // One piece: a message that sits in one buffer chunk (most small writes).
        // Summing the empty second piece cost a call and its setup, 67 instructions.
        s1
    } else if c.is_empty() && a.len() % 2 == 0 {
        // Two pieces: every segment up to a 4 KiB buffer chunk's worth.
        checksum::add(s1, checksum::copy_and_sum(second, b))
    } else if a.len() % 2 == 0 && b.len() % 2 == 0 {
        let s2 = checksum::add(s1, checksum::copy_and_sum(second, b));
        checksum::add(s2, checksum::copy_and_sum(third, c))
    } else {
        // An odd piece shifts the byte pairing of the next: sum them afresh.
        second.copy_from_slice(b);
        third.copy_from_slice(c);
        checksum::sum(body)
    })
}

/// [`emit_segment`] for a connection's segment that the stack's prebuilt headers serve
/// ([`TcpTemplate::serves`]): the template is copied and patched with `key` and the segment
/// instead of going through `TcpRepr` and the IPv4 builder. The frame is
/// byte for byte the one `emit_segment` writes (`tests::template_frames_match_the_general_builder`).
#[allow(clippy::too_many_arguments)]
#[inline]
pub(crate) fn emit_prebuilt(
    iface: &mut Interface,
    now: Instant,
    frame: &mut [u8],
    key: &FlowKey,
    route: &mut TxRoute,
    template: &TcpTemplate,
    header: &SegmentHeader,
    payload: [&[u8]; 3],
    ect: bool,
) -> Result<IpSend, SendError> {
    debug_assert!(TcpTemplate::serves(header));
    let payload_len = payload[0].len() + payload[1].len() + payload[2].len();
    let sack = sack_blocks_that_fit(iface.caps().mtu, header, payload_len);
    let dscp_ecn = if ect { IpEcn::Ect0.bits() } else { IpEcn::NotEct.bits() };
    iface.send_ip_prebuilt(now, frame, key.remote_ip, IpProtocol::Tcp, route, |f, hop| {
        template.write(f, key, hop, &TcpFields::of(header), sack, payload, dscp_ecn)
    })
}

/// [`emit_prebuilt`] for a common data segment ([`CommonSegment`]): its fields go straight
/// into the template copy, with no `SegmentHeader` between and no SACK blocks to fit. The
/// same writer, so the same bytes as `emit_prebuilt` of the equal header.
#[inline]
/// `ends` are the time, the connection's key and the template. (A helper shared with
/// `emit_prebuilt`, tried, moved the compiler's inlining: 46 instructions more per round
/// trip.)
fn emit_common(
    iface: &mut Interface,
    (now, key, template): (Instant, &FlowKey, &TcpTemplate),
    frame: &mut [u8],
    route: &mut TxRoute,
    seg: &CommonSegment<'_>,
) -> Result<IpSend, SendError> {
    let fields = TcpFields {
        seq: seg.seq,
        ack: Some(seg.ack),
        flags: seg.flags,
        window: seg.window,
        timestamps: seg.timestamps,
    };
    let dscp_ecn = if seg.ect { IpEcn::Ect0.bits() } else { IpEcn::NotEct.bits() };
    iface.send_ip_prebuilt(now, frame, key.remote_ip, IpProtocol::Tcp, route, |f, hop| {
        template.write(f, key, hop, &fields, &[], seg.payload, dscp_ecn)
    })
}

/// The SACK blocks of `header` that go on the wire, as `emit_segment` chooses them: as many
/// as the option space leaves room for beside the timestamps (RFC 2018 §3), then fewer until
/// the segment fits the MTU.
fn sack_blocks_that_fit(
    mtu: usize,
    header: &SegmentHeader,
    payload_len: usize,
) -> &[(crate::tcp::SeqNumber, crate::tcp::SeqNumber)] {
    let blocks = header.options.sack_blocks.as_slice();
    if blocks.is_empty() {
        return blocks;
    }
    let ts_len = if header.options.timestamps.is_some() { 12 } else { 0 };
    let room = MAX_OPTIONS_LEN.saturating_sub(ts_len + 4) / 8;
    let mut n = blocks.len().min(room).min(MAX_SACK_BLOCKS);
    let fits = mtu.saturating_sub(crate::wire::ipv4::HEADER_LEN);
    while n > 0 && crate::wire::tcp::HEADER_LEN + ts_len + 4 + 8 * n + payload_len > fits {
        n -= 1;
    }
    &blocks[..n]
}

/// What writing a connection's segment of `payload_len` bytes gave, counted: a frame
/// (`more` if the connection may have more, else it leaves the transmit queue), or a held
/// segment (waiting for ARP inside the interface; lost and counted otherwise: TCP
/// retransmits what is lost).
#[inline]
fn sent_frame(
    s: &mut Socket,
    t: &mut Touch<'_>,
    sent: Result<IpSend, SendError>,
    more: bool,
    payload_len: u64,
) -> Sent {
    match sent {
        Ok(IpSend::Ready(n)) => {
            t.counters.tx_payload_bytes += payload_len;
            if !more {
                s.in_tx = false;
            }
            Sent::Frame { len: n, more }
        }
        Ok(IpSend::Queued) => Sent::Held,
        Err(_) => {
            t.counters.tx_errors += 1;
            Sent::Held
        }
    }
}

/// What one connection's turn in `poll_transmit` gave.
enum Sent {
    /// It had nothing to send: it leaves the transmit queue.
    Nothing,
    /// A frame of `len` bytes is ready; `more` if the connection may have more.
    Frame { len: usize, more: bool },
    /// Its segment went to the ARP queue or was lost: the connection stays first in line.
    Held,
}

impl Stack {
    /// Writes the next frame to send into `buf` (at least the device's maximum frame length)
    /// and returns its length, or `None` when nothing is waiting. Order: the interface's own
    /// frames (ARP, ICMP, UDP, packets released by ARP), then stateless replies (RSTs, cookie
    /// SYN-ACKs), then segments of connections with something to send, round-robin.
    #[inline]
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        // A driver calls until `None`, so every turn ends in a call with nothing to send:
        // that one returns here, without entering (and setting up the frame of) the whole
        // output path below.
        if !self.may_transmit(now) {
            return None;
        }
        self.poll_transmit_any(now, buf)
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) may have a frame at `now`: false means
    /// it has none, so a driver need not fetch a buffer to ask (true may still end in `None`).
    #[inline]
    pub fn may_transmit(&self, now: Instant) -> bool {
        !self.tx_ready.is_empty() || !self.replies.is_empty() || self.iface.may_transmit(now)
    }

    /// [`poll_transmit`](Self::poll_transmit) when something may be waiting.
    #[inline(never)]
    fn poll_transmit_any(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if let Some(n) = self.iface.poll_transmit(now, buf) {
            return Some(n);
        }
        while let Some(reply) = self.replies.pop_front() {
            if let Some(n) = self.send_reply(now, buf, reply) {
                return Some(n);
            }
        }
        while let Some(h) = self.tx_ready.front() {
            let sent = self.touch(h, false, |s, t| {
                // The slab key is the connection's 4-tuple.
                let key = FlowKey {
                    local_ip: *s.conn.local().ip(),
                    local_port: s.conn.local().port(),
                    remote_ip: *s.conn.remote().ip(),
                    remote_port: s.conn.remote().port(),
                };
                // The family, chosen once per segment: an IPv6 connection's key is its alias
                // (its addresses are read only then, out of line). The template is IPv4's.
                let ipv6 = is_alias(&key);
                // The common data segment of an IPv4 connection first (`tcp::send_fast`):
                // from the connection's fields straight into the template copy.
                let common = if ipv6 { None } else { s.conn.poll_transmit_common(now, t.pool) };
                if let Some(seg) = common {
                    let payload_len = seg.payload.iter().map(|p| p.len()).sum::<usize>() as u64;
                    let ends = (now, &key, t.template);
                    let sent = emit_common(t.iface, ends, buf, &mut s.route, &seg);
                    let more = seg.more;
                    return sent_frame(s, t, sent, more, payload_len);
                }
                // Otherwise the general planner (an IPv6 connection's common segment is
                // still planned by `send_fast`, inside `poll_transmit`: only its frame is
                // built the general way).
                let seg = if ipv6 {
                    s.conn.poll_transmit(now, t.pool)
                } else {
                    s.conn.poll_transmit_general(now, t.pool)
                };
                let Some(seg) = seg else {
                    s.in_tx = false;
                    return Sent::Nothing;
                };
                // Whether anything follows this segment (its plan already moved the state on).
                let more = s.conn.may_transmit();
                let payload_len = seg.payload_len() as u64;
                let route = &mut s.route;
                let sent = if ipv6 {
                    emit_segment6_of(t.iface, now, buf, &key, s.ipv6.as_deref(), &seg)
                } else if TcpTemplate::serves(&seg.header) {
                    let (header, payload) = (&seg.header, seg.payload);
                    emit_prebuilt(
                        t.iface, now, buf, &key, route, t.template, header, payload, seg.ect,
                    )
                } else {
                    emit_segment(t.iface, now, buf, &key, route, &seg.header, seg.payload, seg.ect)
                };
                sent_frame(s, t, sent, more, payload_len)
            });
            match sent {
                None | Some(Sent::Nothing) => {
                    self.tx_ready.pop_front();
                }
                Some(Sent::Frame { len, more }) => {
                    // Round-robin: the connection goes to the back of the queue, or leaves
                    // it when it certainly has nothing more (saving a planning pass).
                    self.tx_ready.pop_front();
                    if more {
                        self.tx_ready.push_back(h);
                    }
                    return Some(len);
                }
                Some(Sent::Held) => {}
            }
        }
        if self.wheel.held().is_some() {
            // Every connection whose deadline an arriving segment held back has had its turn
            // (`Stack::touch_input`).
            self.wheel.release_held();
        }
        // A frame released by ARP during the loop above.
        self.iface.poll_transmit(now, buf)
    }

    fn send_reply(&mut self, now: Instant, buf: &mut [u8], reply: Reply) -> Option<usize> {
        if let Some(ends) = &reply.ipv6 {
            return self.send_reply6(now, buf, &reply, ends);
        }
        let (key, header) = (&reply.key, &reply.header);
        let route = &mut TxRoute::default();
        match emit_segment(&mut self.iface, now, buf, key, route, header, [&[], &[], &[]], false) {
            Ok(IpSend::Ready(n)) => Some(n),
            Ok(IpSend::Queued) => None,
            Err(_) => {
                self.counters.tx_errors += 1;
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::iface::config::InterfaceConfig;
    use crate::iface::DeviceCaps;
    use crate::tcp::segment::{Flags, SegmentOptions};
    use crate::tcp::SeqNumber;
    use crate::wire::ethernet::EthernetAddress;
    use crate::wire::ipv4;
    use std::net::Ipv4Addr;

    const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    /// Emits a segment with `payload` in its pieces on a raw-IP device with software
    /// checksums and returns the parsed TCP payload, which only a verified checksum gives.
    fn emitted(payload: [&[u8]; 3]) -> Vec<u8> {
        let config = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), OURS, 24);
        let mut iface = Interface::new(config, DeviceCaps::ip(1500));
        let key = FlowKey { local_ip: OURS, local_port: 80, remote_ip: PEER, remote_port: 4000 };
        let header = SegmentHeader {
            seq: SeqNumber(1000),
            ack: Some(SeqNumber(7)),
            flags: Flags::ACK | Flags::PSH,
            window: 512,
            options: SegmentOptions { timestamps: Some((5, 9)), ..SegmentOptions::default() },
        };
        let mut frame = [0u8; 1500];
        let route = &mut TxRoute::default();
        let n = match emit_segment(
            &mut iface,
            Instant::ZERO,
            &mut frame,
            &key,
            route,
            &header,
            payload,
            false,
        ) {
            Ok(IpSend::Ready(n)) => n,
            other => panic!("not sent: {other:?}"),
        };
        let ip = ipv4::Packet::new_checked(&frame[..n]).expect("an IPv4 packet");
        let l4 = &frame[ipv4::HEADER_LEN..n];
        let packet = Packet::new_checked(l4).expect("a TCP header");
        // Parsing as the peer: its source is our address.
        let repr = TcpRepr::parse(&packet, OURS, PEER, true).expect("the checksum verifies");
        assert_eq!(ip.total_len() as usize, n);
        assert_eq!((repr.seq, repr.timestamps), (SeqNumber(1000), Some((5, 9))));
        repr.payload.to_vec()
    }

    #[test]
    fn every_split_of_the_payload_gets_a_verifying_checksum() {
        let data: Vec<u8> = (0u8..=200).map(|b| b.wrapping_mul(37)).collect();
        // Even and odd first pieces, one piece alone (the common small message), two, three.
        for (a, b, c) in [
            (64, 0, 0),
            (65, 0, 0),
            (1, 0, 0),
            (0, 0, 0),
            (64, 20, 0),
            (63, 20, 0),
            (64, 20, 9),
            (63, 21, 9),
        ] {
            let (pa, rest) = data.split_at(a);
            let (pb, rest) = rest.split_at(b);
            let pc = &rest[..c];
            assert_eq!(emitted([pa, pb, pc]), &data[..a + b + c], "pieces {a}+{b}+{c}");
        }
    }
}
