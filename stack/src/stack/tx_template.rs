//! The prebuilt headers of every segment of an established IPv4 connection: the Ethernet,
//! IPv4 and TCP header bytes they share, built once per stack and copied per segment with
//! only the fields that vary patched in (issue 11).
//!
//! The general builder (`output::emit_segment`) goes plan → `TcpRepr` → IPv4 header fields →
//! ten setters → checksums, about 740 instructions per segment. Almost none of it varies
//! between two segments: the source address, TTL, DF and protocol, and the sums over them,
//! are the interface's; the destination address and the ports are the connection's key.
//! Per segment only the destination and the ports (from the key), the IP total length, ID,
//! DSCP/ECN and header checksum, and TCP's sequence, acknowledgment, data offset and flags,
//! window, timestamps, SACK blocks and checksum are written; the checksums start from sums
//! of the fixed words taken once, plus the key's words (RFC 1071 §2: the sum is
//! associative, so parts can be summed apart and added). The pseudo-header (RFC 9293 §3.1)
//! is summed once without its destination and length.
//!
//! One template serves every connection: what it depends on (the interface's MAC, address,
//! TTL, medium and checksum duties) is fixed when the interface is made. A template per
//! connection, as the first version kept, was one more cache line per segment at 100,000
//! connections and 6.4 MB; the key it would have held is on the connection's first line,
//! read for every segment anyway (docs/benchmarks.md, "The socket record in one line").
//! The next hop's MAC is *not* in the template: it is asked of the neighbour table
//! through the connection's `TxRoute` slot on every segment, re-checked as for any packet,
//! and written in — never a kept copy that could outlive the entry. Segments that need what
//! the template does not hold (SYN and its options, RST, stateless replies) go through the
//! general builder.

use std::net::Ipv4Addr;

use crate::flow::FlowKey;
use crate::iface::{Interface, PrebuiltBase, PrebuiltHop};
use crate::tcp::segment::{Flags, SegmentHeader};
use crate::tcp::SeqNumber;
use crate::wire::checksum;
use crate::wire::ethernet::{self, EtherType, EthernetAddress, EthernetRepr};
use crate::wire::ipv4::{self, IpProtocol};
use crate::wire::tcp;

/// Link, IPv4 and TCP headers without options: the most a template holds.
const MAX_LEN: usize = ethernet::HEADER_LEN + ipv4::HEADER_LEN + tcp::HEADER_LEN;

/// NOP, NOP, then the kind and length of the timestamps option (RFC 7323 Appendix A).
const TIMESTAMPS_PREFIX: [u8; 4] = [1, 1, 8, 10];
/// NOP, NOP, then the SACK option's kind (RFC 2018 §3); its length byte follows.
const SACK_PREFIX: [u8; 3] = [1, 1, 5];

/// The TCP data offset and flags word's offset, and the checksum's (RFC 9293 §3.1).
const TCP_OFFSET_FLAGS: usize = 12;
const TCP_CHECKSUM: usize = 16;

/// The prebuilt headers of a stack's IPv4 segments (64 bytes), made by [`TcpTemplate::new`]
/// and written per segment, for one connection's key, by [`TcpTemplate::write`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TcpTemplate {
    /// The link header (when the device has one), the IPv4 header and the 20-byte TCP
    /// header, with every per-segment field zero, and the destination address and the ports.
    bytes: [u8; MAX_LEN],
    /// Bytes of link header at the front (0 or 14).
    link_len: u8,
    /// Software writes the IPv4 header checksum.
    fill_ip_checksum: bool,
    /// Software writes the TCP checksum; otherwise it is seeded with the pseudo-header sum
    /// for the device, as `iface::output::seed_partial_checksum` does.
    fill_tcp_checksum: bool,
    /// Folded sum of the IPv4 header's fixed words (version and header length, flags, TTL and
    /// protocol, source address).
    ip_sum: u16,
    /// Folded pseudo-header sum without the destination address and the TCP length.
    pseudo_sum: u16,
}

/// The TCP header fields a template write patches in but the SACK blocks: a
/// [`SegmentHeader`]'s ([`TcpFields::of`]), or a common segment's, which the connection
/// hands over as they are (`tcp::CommonSegment`, no `SegmentHeader` built).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TcpFields {
    pub(crate) seq: SeqNumber,
    pub(crate) ack: Option<SeqNumber>,
    pub(crate) flags: Flags,
    pub(crate) window: u16,
    pub(crate) timestamps: Option<(u32, u32)>,
}

impl TcpFields {
    /// The fields of `header` (its SACK blocks aside).
    #[inline]
    pub(crate) fn of(header: &SegmentHeader) -> TcpFields {
        TcpFields {
            seq: header.seq,
            ack: header.ack,
            flags: header.flags,
            window: header.window,
            timestamps: header.options.timestamps,
        }
    }
}

/// The longest payload whose fused copy and sum the template writer inlines (a small
/// request or response); longer ones call `checksum::copy_and_sum`.
const SHORT_PAYLOAD: usize = 64;

/// Where the IPv4 destination address and the TCP ports sit in their headers.
const IP_DST: usize = 16;
const TCP_PORTS: usize = 0;

impl TcpTemplate {
    /// The template of the TCP segments leaving through `iface`, built with the same
    /// emitters as the general builder so that the fixed bytes are the ones it writes.
    pub(crate) fn new(iface: &Interface) -> TcpTemplate {
        let unspecified = Ipv4Addr::UNSPECIFIED;
        let base: PrebuiltBase = iface.prebuilt_base(unspecified, IpProtocol::Tcp);
        let mut bytes = [0u8; MAX_LEN];
        let link_len = match base.src_mac {
            Some(src) => {
                let repr =
                    EthernetRepr { src, dst: EthernetAddress([0; 6]), ethertype: EtherType::Ipv4 };
                repr.emit(&mut ethernet::Frame::new_unchecked(&mut bytes[..ethernet::HEADER_LEN]));
                ethernet::HEADER_LEN
            }
            None => 0,
        };
        let ip = &mut bytes[link_len..link_len + ipv4::HEADER_LEN];
        let mut ip_repr = base.ip;
        ip_repr.payload_len = tcp::HEADER_LEN;
        ip_repr.emit(&mut ipv4::Packet::new_unchecked(&mut *ip), false);
        // Total length is per segment: zero, like the other varying fields; the destination
        // (zero here) is the connection's.
        ip[2..4].fill(0);
        debug_assert_eq!(ip[IP_DST..IP_DST + 4], [0; 4]);
        let ip_sum = checksum::sum(ip);
        // The TCP header (zero here) is all the connection's (the ports) or the segment's,
        // but for the urgent pointer, zero.
        TcpTemplate {
            bytes,
            link_len: link_len as u8,
            fill_ip_checksum: base.fill_ip_checksum,
            fill_tcp_checksum: base.fill_l4_checksum,
            ip_sum,
            pseudo_sum: checksum::pseudo_header_v4(
                base.ip.src,
                unspecified,
                IpProtocol::Tcp.into(),
                0,
            ),
        }
    }

    /// Whether `header` is one a template writes: no SYN or RST, and no option but
    /// timestamps and SACK blocks (the SYN-only ones, MSS, window scale and SACK-permitted,
    /// take the general builder).
    #[inline]
    pub(crate) fn serves(header: &SegmentHeader) -> bool {
        let o = &header.options;
        !header.flags.intersects(Flags::SYN.with(Flags::RST))
            && o.mss.is_none()
            && o.window_scale.is_none()
            && !o.sack_permitted
    }

    /// Writes the frame of one segment of `key`'s connection (a header
    /// [`serves`](Self::serves) accepts, `sack` the SACK blocks that fit, `payload` in up to
    /// three pieces, IP DSCP/ECN `dscp_ecn`) into `frame` for `hop` and returns the IP
    /// packet's length, which is above `hop.room` when it does not fit (nothing is written
    /// then). The bytes are those of the general builder.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    pub(crate) fn write(
        &self,
        frame: &mut [u8],
        key: &FlowKey,
        hop: &PrebuiltHop,
        header: &TcpFields,
        sack: &[(SeqNumber, SeqNumber)],
        payload: [&[u8]; 3],
        dscp_ecn: u8,
    ) -> usize {
        let ts = header.timestamps;
        let ts_len = if ts.is_some() { 12 } else { 0 };
        let sack_len = if sack.is_empty() { 0 } else { 4 + 8 * sack.len() };
        let header_len = tcp::HEADER_LEN + ts_len + sack_len;
        let [a, b, c] = payload;
        let tcp_len = header_len + a.len() + b.len() + c.len();
        let ip_len = ipv4::HEADER_LEN + tcp_len;
        let link_len = usize::from(self.link_len);
        // `room` never exceeds the frame after the link header (`send_ip_prebuilt`).
        let frame = match frame.get_mut(..link_len + ip_len) {
            Some(f) if ip_len <= hop.room => f,
            _ => return ip_len.max(hop.room + 1),
        };
        let (head, body) = frame.split_at_mut(link_len + ipv4::HEADER_LEN + header_len);
        let fixed = link_len + ipv4::HEADER_LEN + tcp::HEADER_LEN;
        // Two fixed lengths, not one of `fixed` bytes: each is a few moves instead of a
        // `memcpy` call.
        if fixed == MAX_LEN {
            head[..MAX_LEN].copy_from_slice(&self.bytes);
        } else {
            const NO_LINK: usize = ipv4::HEADER_LEN + tcp::HEADER_LEN;
            head[..NO_LINK].copy_from_slice(&self.bytes[..NO_LINK]);
        }
        if let Some(mac) = hop.mac {
            head[..6].copy_from_slice(&mac.0);
        }
        // The IPv4 and TCP headers as fixed-size arrays: one length check here instead of one
        // per field store below (the compiler did not always carry `head`'s length through).
        // Neither split can fail: `head` holds both headers by construction.
        let Some((ip, l4)) = head[link_len..].split_first_chunk_mut::<{ ipv4::HEADER_LEN }>()
        else {
            return ip_len.max(hop.room + 1);
        };
        let Some((tcp_header, options)) = l4.split_first_chunk_mut::<{ tcp::HEADER_LEN }>() else {
            return ip_len.max(hop.room + 1);
        };
        // A 32-bit field enters the sum whole: its two 16-bit words are `hi·2^16 + lo`, and
        // 2^16 ≡ 1 modulo 2^16 − 1, so it adds the same as `hi + lo` once folded (RFC 1071
        // §2), without the split (about 20 instructions a segment).
        let words = u64::from;
        let dst = u32::from(key.remote_ip);
        let dst_sum = words(dst);

        // IPv4: DSCP/ECN, total length, ID, destination, checksum.
        ip[1] = dscp_ecn;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&hop.ident.to_be_bytes());
        ip[IP_DST..IP_DST + 4].copy_from_slice(&dst.to_be_bytes());
        if self.fill_ip_checksum {
            let sum = u64::from(self.ip_sum)
                + u64::from(dscp_ecn)
                + ip_len as u64
                + u64::from(hop.ident)
                + dst_sum;
            ip[10..12].copy_from_slice(&checksum::finish(checksum::fold(sum)).to_be_bytes());
        }

        // TCP: ports, sequence, acknowledgment, data offset and flags, window, options. The
        // header sum is taken from the values, not read back from the bytes just stored (a
        // failed store-to-load forwarding, as `TcpRepr::header_sum` explains).
        let ports = u32::from(key.local_port) << 16 | u32::from(key.remote_port);
        tcp_header[TCP_PORTS..TCP_PORTS + 4].copy_from_slice(&ports.to_be_bytes());
        let ack = header.ack.unwrap_or_default().0;
        let mut flags = header.flags;
        flags.set(Flags::ACK, header.ack.is_some());
        let offset_flags = ((header_len / 4) as u16) << 12 | u16::from(flags.bits());
        tcp_header[4..8].copy_from_slice(&header.seq.0.to_be_bytes());
        tcp_header[8..12].copy_from_slice(&ack.to_be_bytes());
        tcp_header[TCP_OFFSET_FLAGS..TCP_OFFSET_FLAGS + 2]
            .copy_from_slice(&offset_flags.to_be_bytes());
        tcp_header[14..16].copy_from_slice(&header.window.to_be_bytes());
        let mut sum = words(ports)
            + words(header.seq.0)
            + words(ack)
            + u64::from(offset_flags)
            + u64::from(header.window);
        if let (Some((tsval, tsecr)), Some(option)) = (ts, options.first_chunk_mut::<12>()) {
            option[..4].copy_from_slice(&TIMESTAMPS_PREFIX);
            option[4..8].copy_from_slice(&tsval.to_be_bytes());
            option[8..12].copy_from_slice(&tsecr.to_be_bytes());
            sum += 0x0101 + 0x080a + words(tsval) + words(tsecr);
        }
        if !sack.is_empty() {
            let out = &mut options[ts_len..];
            let len = 2 + 8 * sack.len() as u8;
            out[..3].copy_from_slice(&SACK_PREFIX);
            out[3] = len;
            sum += 0x0101 + (0x0500 | u64::from(len));
            for (i, (left, right)) in sack.iter().enumerate() {
                let at = 4 + 8 * i;
                out[at..at + 4].copy_from_slice(&left.0.to_be_bytes());
                out[at + 4..at + 8].copy_from_slice(&right.0.to_be_bytes());
                sum += words(left.0) + words(right.0);
            }
        }

        let pseudo = u64::from(self.pseudo_sum) + dst_sum + tcp_len as u64;
        let field = if self.fill_tcp_checksum {
            // One piece (a message within one buffer chunk: every small write) straight into
            // the fused copy; `copy_payload`'s general split of three pieces cost about 35
            // instructions around it. `body` is exactly the payload's length.
            let payload_sum = if b.is_empty() && c.is_empty() && a.len() <= SHORT_PAYLOAD {
                // A short message: the fused copy inlined and its sum left unfolded for the
                // one fold below (the header sum is never zero: the data offset is in it), so
                // no call's register saves and no second fold (about 35 instructions of a
                // 64-byte payload's 83); a longer one keeps the call, whose loop inlined here
                // lost its registers (+70 per bulk segment).
                checksum::copy_and_sum_wide(body, a)
            } else if b.is_empty() && c.is_empty() {
                u64::from(checksum::copy_and_sum(body, a))
            } else {
                u64::from(super::output::copy_payload(body, payload, true).unwrap_or(0))
            };
            checksum::finish(checksum::fold(sum + pseudo + payload_sum))
        } else {
            if b.is_empty() && c.is_empty() {
                // One piece: one copy, where `copy_payload` made three `memcpy` calls (two
                // of them for the empty pieces). `body` is exactly the payload's length.
                body.copy_from_slice(a);
            } else {
                super::output::copy_payload(body, payload, false);
            }
            // The device sums the segment from here on (`seed_partial_checksum`).
            checksum::fold(pseudo)
        };
        tcp_header[TCP_CHECKSUM..TCP_CHECKSUM + 2].copy_from_slice(&field.to_be_bytes());
        ip_len
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use proptest::prelude::*;

    use super::*;
    use crate::iface::{ChecksumCaps, DeviceCaps, InterfaceConfig, IpSend, TxRoute};
    use crate::stack::output::{emit_prebuilt, emit_segment};
    use crate::tcp::segment::SegmentOptions;
    use crate::tcp::SackBlocks;
    use crate::time::{Duration, Instant};
    use crate::wire::tcp::TcpRepr;

    const OURS: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    /// Off link: its next hop is the gateway.
    const FAR: Ipv4Addr = Ipv4Addr::new(198, 19, 7, 9);
    const GATEWAY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 254);
    const OUR_MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 1]);

    /// The device and path of one case.
    #[derive(Debug, Clone)]
    struct Setup {
        ethernet: bool,
        offload: bool,
        mtu: usize,
        far: bool,
        ports: (u16, u16),
        ip_id_key: [u8; 16],
        /// The next hop's MAC from the start, or `None`: unresolved until the first change.
        first_mac: Option<[u8; 6]>,
        /// The segment before which the next hop's MAC becomes this one.
        mac_change: (usize, [u8; 6]),
    }

    fn setup() -> impl Strategy<Value = Setup> {
        (
            any::<bool>(),
            any::<bool>(),
            prop_oneof![Just(1500usize), 80usize..1500, Just(9000usize)],
            any::<bool>(),
            any::<(u16, u16)>(),
            any::<[u8; 16]>(),
            proptest::option::weighted(0.8, any::<[u8; 6]>()),
            (0usize..8, any::<[u8; 6]>()),
        )
            .prop_map(
                |(ethernet, offload, mtu, far, ports, ip_id_key, first_mac, mac_change)| Setup {
                    ethernet,
                    offload,
                    mtu,
                    far,
                    ports,
                    ip_id_key,
                    first_mac,
                    mac_change,
                },
            )
    }

    /// One segment's header fields (a header the template serves), ECN mark and payload
    /// split.
    fn segment() -> impl Strategy<Value = (SegmentHeader, bool, (usize, usize, usize))> {
        let flags = prop_oneof![
            Just(Flags::ACK),
            Just(Flags::ACK.with(Flags::PSH)),
            Just(Flags::ACK.with(Flags::FIN)),
            Just(Flags::FIN),
            Just(Flags::empty()),
            any::<u8>().prop_map(|b| Flags::from_bits(b).without(Flags::SYN.with(Flags::RST))),
        ];
        let blocks = proptest::collection::vec(any::<(u32, u32)>(), 0..=4);
        (
            any::<u32>(),
            proptest::option::of(any::<u32>()),
            flags,
            any::<u16>(),
            proptest::option::of(any::<(u32, u32)>()),
            blocks,
            any::<bool>(),
            // Two thirds of the payloads in one piece (a message within one buffer chunk),
            // which the writer copies and sums without the three-piece split: half of those
            // short enough for its inlined copy (`SHORT_PAYLOAD`), half longer.
            prop_oneof![
                (0usize..=SHORT_PAYLOAD).prop_map(|a| (a, 0, 0)),
                (0usize..1500).prop_map(|a| (a, 0, 0)),
                (0usize..1500, 0usize..300, 0usize..40),
            ],
        )
            .prop_map(|(seq, ack, flags, window, timestamps, blocks, ect, split)| {
                let blocks: Vec<_> =
                    blocks.into_iter().map(|(l, r)| (SeqNumber(l), SeqNumber(r))).collect();
                let header = SegmentHeader {
                    seq: SeqNumber(seq),
                    ack: ack.map(SeqNumber),
                    flags,
                    window,
                    options: SegmentOptions {
                        timestamps,
                        sack_blocks: SackBlocks::from_slice(&blocks),
                        ..SegmentOptions::default()
                    },
                };
                (header, ect, split)
            })
    }

    fn interface(s: &Setup) -> Interface {
        let mut config = InterfaceConfig::new(OUR_MAC, OURS, 24);
        config.gateway = Some(GATEWAY);
        let caps = if s.ethernet { DeviceCaps::ethernet(s.mtu) } else { DeviceCaps::ip(s.mtu) };
        let checksum = if s.offload { ChecksumCaps::ALL } else { ChecksumCaps::NONE };
        let mut iface = Interface::new(config, caps.with_checksum(checksum));
        iface.set_ip_id_key(s.ip_id_key);
        iface
    }

    proptest! {
        /// Template-built frames are byte for byte the general builder's, for random
        /// connection states: timestamps or none, SACK blocks (trimmed to the option space and
        /// the MTU), ECN marks, windows, flags, IP IDs running on, payloads in odd pieces,
        /// checksums in software or seeded for the device, raw IP or Ethernet, a next hop
        /// learnt late, changed mid-connection, on link or through the gateway. Two
        /// interfaces in the same state, one per builder, must also agree on every outcome
        /// (ready, queued for ARP, too large) and every counter, and on what they queue.
        #[test]
        fn template_frames_match_the_general_builder(
            s in setup(),
            segments in proptest::collection::vec(segment(), 1..8),
        ) {
            let mut general = interface(&s);
            let mut prebuilt = interface(&s);
            let remote_ip = if s.far { FAR } else { PEER };
            let hop = if s.far { GATEWAY } else { PEER };
            let key = FlowKey { local_ip: OURS, local_port: s.ports.0, remote_ip, remote_port: s.ports.1 };
            let (mut route_g, mut route_p) = (TxRoute::default(), TxRoute::default());
            let template = TcpTemplate::new(&prebuilt);
            let data: Vec<u8> = (0..2000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
            let mut now = Instant::ZERO;
            if let Some(mac) = s.first_mac {
                general.learn_neighbor(now, hop, EthernetAddress(mac));
                prebuilt.learn_neighbor(now, hop, EthernetAddress(mac));
            }
            for (i, (header, ect, (a, b, c))) in segments.iter().enumerate() {
                now += Duration::from_millis(1);
                if i == s.mac_change.0 {
                    general.learn_neighbor(now, hop, EthernetAddress(s.mac_change.1));
                    prebuilt.learn_neighbor(now, hop, EthernetAddress(s.mac_change.1));
                }
                let (pa, rest) = data.split_at(*a);
                let (pb, rest) = rest.split_at(*b);
                let payload = [pa, pb, &rest[..*c]];
                prop_assert!(TcpTemplate::serves(header));
                let mut frame_g = vec![0xa5u8; 9100];
                let mut frame_p = vec![0x5au8; 9100];
                let sent_g = emit_segment(&mut general, now, &mut frame_g, &key, &mut route_g, header, payload, *ect);
                let sent_p = emit_prebuilt(&mut prebuilt, now, &mut frame_p, &key, &mut route_p, &template, header, payload, *ect);
                prop_assert_eq!(sent_g, sent_p, "segment {}", i);
                if let Ok(IpSend::Ready(n)) = sent_g {
                    prop_assert_eq!(&frame_g[..n], &frame_p[..n], "segment {}: {:?}", i, header);
                }
                prop_assert_eq!(general.counters(), prebuilt.counters());
                // What the interfaces queued (ARP requests, packets released by a new MAC).
                loop {
                    let (g, p) = (general.poll_transmit(now, &mut frame_g), prebuilt.poll_transmit(now, &mut frame_p));
                    prop_assert_eq!(g, p);
                    let Some(n) = g else { break };
                    prop_assert_eq!(&frame_g[..n], &frame_p[..n]);
                }
            }
        }
    }

    /// The property above compares two builders; this checks one template frame against the
    /// wire parser (an independent reading of the bytes and both checksums).
    #[test]
    fn a_template_frame_parses_back_with_verifying_checksums() {
        let s = Setup {
            ethernet: true,
            offload: false,
            mtu: 1500,
            far: false,
            ports: (80, 40000),
            ip_id_key: [7; 16],
            first_mac: Some([2, 0, 0, 0, 0, 2]),
            mac_change: (9, [0; 6]),
        };
        let mut iface = interface(&s);
        iface.learn_neighbor(Instant::ZERO, PEER, EthernetAddress([2, 0, 0, 0, 0, 2]));
        let key = FlowKey { local_ip: OURS, local_port: 80, remote_ip: PEER, remote_port: 40000 };
        let blocks = [(SeqNumber(500), SeqNumber(600)), (SeqNumber(700), SeqNumber(900))];
        let header = SegmentHeader {
            seq: SeqNumber(1000),
            ack: Some(SeqNumber(7)),
            flags: Flags::ACK.with(Flags::PSH),
            window: 512,
            options: SegmentOptions {
                timestamps: Some((5, 9)),
                sack_blocks: SackBlocks::from_slice(&blocks),
                ..SegmentOptions::default()
            },
        };
        let mut frame = [0u8; 1514];
        let (route, template) = (&mut TxRoute::default(), &TcpTemplate::new(&iface));
        let payload: [&[u8]; 3] = [b"hello, ", b"odd", b" world"];
        let sent = emit_prebuilt(
            &mut iface,
            Instant::ZERO,
            &mut frame,
            &key,
            route,
            template,
            &header,
            payload,
            true,
        );
        let Ok(IpSend::Ready(n)) = sent else { panic!("not sent: {sent:?}") };
        let eth = ethernet::Frame::new_checked(&frame[..n]).expect("an Ethernet frame");
        assert_eq!(
            EthernetRepr::parse(&eth).expect("valid").dst,
            EthernetAddress([2, 0, 0, 0, 0, 2])
        );
        let ip = ipv4::Packet::new_checked(&frame[ethernet::HEADER_LEN..n]).expect("IPv4");
        let ip_repr = ipv4::Ipv4Repr::parse(&ip, true).expect("the IP checksum verifies");
        assert_eq!((ip_repr.dscp_ecn, ip_repr.dont_frag), (crate::tcp::IpEcn::Ect0.bits(), true));
        let l4 = &frame[ethernet::HEADER_LEN + ipv4::HEADER_LEN..n];
        let repr = TcpRepr::parse(&tcp::Packet::new_checked(l4).expect("TCP"), OURS, PEER, true)
            .expect("the TCP checksum verifies");
        assert_eq!((repr.seq, repr.ack, repr.window), (SeqNumber(1000), Some(SeqNumber(7)), 512));
        assert_eq!((repr.timestamps, repr.sack_blocks.as_slice()), (Some((5, 9)), &blocks[..]));
        assert_eq!(repr.payload, b"hello, odd world");
    }
}
