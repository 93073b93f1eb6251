//! Property tests of the TCP wire format: emit → parse round trips, and parsers that never
//! panic or loop on arbitrary bytes.

use proptest::prelude::*;
use std::net::Ipv4Addr;
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};
use xdptcp_stack::wire::tcp_options::{SackBlocks, TcpOption, TcpOptions};

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

/// Owned parts of a `TcpRepr` (which borrows its payload).
#[derive(Debug, Clone)]
struct Parts {
    src_port: u16,
    dst_port: u16,
    seq: u32,
    ack: u32,
    flags: u8,
    window: u16,
    urgent: u16,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    sack: Vec<(u32, u32)>,
    timestamps: Option<(u32, u32)>,
    payload: Vec<u8>,
}

impl Parts {
    fn repr(&self) -> TcpRepr<'_> {
        let flags = TcpFlags::from_bits(self.flags);
        let mut r = TcpRepr::new(self.src_port, self.dst_port, SeqNumber(self.seq));
        r.flags = flags;
        r.ack = flags.contains(TcpFlags::ACK).then_some(SeqNumber(self.ack));
        r.window = self.window;
        r.urgent = self.urgent;
        r.mss = self.mss;
        r.window_scale = self.window_scale;
        r.sack_permitted = self.sack_permitted;
        let blocks: Vec<_> = self.sack.iter().map(|&(a, b)| (SeqNumber(a), SeqNumber(b))).collect();
        r.sack_blocks = SackBlocks::from_slice(&blocks);
        r.timestamps = self.timestamps;
        r.payload = &self.payload;
        r
    }
}

fn parts() -> impl Strategy<Value = Parts> {
    (
        (1..=u16::MAX, 1..=u16::MAX, any::<u32>(), any::<u32>(), any::<u8>()),
        (any::<u16>(), any::<u16>(), any::<Option<u16>>(), proptest::option::of(0..=14u8)),
        (
            any::<bool>(),
            proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
            any::<Option<(u32, u32)>>(),
            proptest::collection::vec(any::<u8>(), 0..300),
        ),
    )
        .prop_map(
            |(
                (src_port, dst_port, seq, ack, flags),
                (window, urgent, mss, window_scale),
                (sack_permitted, sack, timestamps, payload),
            )| Parts {
                src_port,
                dst_port,
                seq,
                ack,
                flags,
                window,
                urgent,
                mss,
                window_scale,
                sack_permitted,
                sack,
                timestamps,
                payload,
            },
        )
}

/// What a repr should read back as: only the SACK blocks that fitted were sent.
fn expected<'a>(repr: &TcpRepr<'a>) -> TcpRepr<'a> {
    let mut want = *repr;
    want.sack_blocks = SackBlocks::from_slice(repr.sack_blocks_sent());
    want
}

proptest! {
    #[test]
    fn emit_then_parse_round_trips(p in parts(), src in ip(), dst in ip()) {
        let repr = p.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
        let packet = Packet::new_checked(&buf[..]).unwrap();
        prop_assert!(packet.header_len() <= 60);
        prop_assert_eq!(packet.header_len(), repr.header_len());
        prop_assert_eq!(packet.header_len() % 4, 0);
        prop_assert!(packet.verify_checksum(src, dst));
        let back = TcpRepr::parse(&packet, src, dst, true).unwrap();
        prop_assert_eq!(back, expected(&repr));
        prop_assert_eq!(back.segment_len(), repr.segment_len());
        // Every SACK block is sent unless it would not fit.
        let room_for_all = repr.sack_blocks_sent().len() == repr.sack_blocks.len();
        prop_assert!(room_for_all || repr.header_len() + 8 > 60);
    }

    #[test]
    fn three_ways_to_emit_give_the_same_bytes(p in parts(), src in ip(), dst in ip()) {
        let repr = p.repr();
        let len = repr.buffer_len();
        let hl = repr.header_len();

        let mut a = vec![0u8; len];
        repr.emit_with_payload(&mut Packet::new_unchecked(&mut a[..]), src, dst, true);

        // Payload first, then `emit` summing the whole buffer.
        let mut b = vec![0xa5u8; len];
        b[hl..].copy_from_slice(&p.payload);
        repr.emit(&mut Packet::new_unchecked(&mut b[..]), src, dst, true);

        // Fused copy-and-sum into the frame, then `emit_header` with the sum.
        let mut c = vec![0x5au8; len];
        let sum = checksum::copy_and_sum(&mut c[hl..], &p.payload);
        repr.emit_header(&mut Packet::new_unchecked(&mut c[..]), src, dst, Some(sum));

        prop_assert_eq!(&a, &b);
        prop_assert_eq!(&a, &c);
    }

    #[test]
    fn corrupting_any_byte_breaks_the_checksum(p in parts(), src in ip(), dst in ip(),
                                               at in any::<prop::sample::Index>(),
                                               flip in 1..=255u8) {
        let repr = p.repr();
        let mut buf = vec![0u8; repr.buffer_len()];
        repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
        let i = at.index(buf.len());
        buf[i] ^= flip;
        let packet = Packet::new_unchecked(&buf[..]);
        // A single changed byte changes one 16-bit word by a nonzero amount below 0xffff, so
        // the ones'-complement sum must change.
        prop_assert!(!packet.verify_checksum(src, dst));
    }

    #[test]
    fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120),
                          src in ip(), dst in ip()) {
        exercise(&bytes, src, dst);
    }

    #[test]
    fn parse_never_panics_on_plausible_headers(
        head in proptest::collection::vec(any::<u8>(), 20),
        offset in 0..16u8,
        rest in proptest::collection::vec(any::<u8>(), 0..80),
        src in ip(), dst in ip(),
    ) {
        // Random bytes rarely carry a usable data offset; force one so options get parsed.
        let mut bytes = head;
        bytes[12] = offset << 4 | (bytes[12] & 0x0f);
        bytes.extend_from_slice(&rest);
        exercise(&bytes, src, dst);
    }

    #[test]
    fn option_parser_ends_and_round_trips_each_option(
        bytes in proptest::collection::vec(any::<u8>(), 0..48),
    ) {
        let mut at = 0usize;
        let mut items = 0usize;
        for item in TcpOptions::new(&bytes) {
            items += 1;
            // Each item consumes at least one byte, so there can be no more items than bytes.
            prop_assert!(items <= bytes.len());
            match item {
                Err(_) => break,
                Ok(option) => {
                    let len = option.buffer_len();
                    let source = &bytes[at..at + len];
                    let mut out = vec![0u8; len];
                    option.emit(&mut out);
                    match option {
                        // Parsing clamps the shift to 14 (RFC 7323 §2.3).
                        TcpOption::WindowScale(s) => {
                            prop_assert_eq!(&out[..2], &source[..2]);
                            prop_assert_eq!(s, source[2].min(14));
                        }
                        _ => prop_assert_eq!(&out[..], source),
                    }
                    at += len;
                    if option == TcpOption::EndOfList {
                        break;
                    }
                }
            }
        }
        prop_assert!(at <= bytes.len());
    }

    #[test]
    fn option_lists_round_trip(p in parts()) {
        // The generic emitter with an explicit list, NOP-padded to 4 bytes.
        let blocks: Vec<_> = p.sack.iter().map(|&(a, b)| (SeqNumber(a), SeqNumber(b))).collect();
        let mut list = Vec::new();
        if let Some(m) = p.mss { list.push(TcpOption::MaxSegmentSize(m)); }
        if let Some(w) = p.window_scale { list.push(TcpOption::WindowScale(w)); }
        if p.sack_permitted { list.push(TcpOption::SackPermitted); }
        if let Some((tsval, tsecr)) = p.timestamps { list.push(TcpOption::Timestamps { tsval, tsecr }); }
        if !blocks.is_empty() { list.push(TcpOption::SackRange(SackBlocks::from_slice(&blocks))); }
        let len = xdptcp_stack::wire::tcp_options::buffer_len(&list);
        prop_assert_eq!(len % 4, 0);
        let mut buf = vec![0u8; len];
        prop_assert_eq!(xdptcp_stack::wire::tcp_options::emit(&list, &mut buf), len);
        let back: Vec<_> = TcpOptions::new(&buf)
            .map(|r| r.unwrap())
            .filter(|o| *o != TcpOption::NoOperation)
            .collect();
        prop_assert_eq!(back, list);
    }
}

/// Calls every accessor, parses, and if parsing succeeds checks emit → parse equality. The
/// same body as the `tcp` fuzz target.
fn exercise(bytes: &[u8], src: Ipv4Addr, dst: Ipv4Addr) {
    let Ok(packet) = Packet::new_checked(bytes) else {
        return;
    };
    let _ = (
        packet.src_port(),
        packet.dst_port(),
        packet.seq_number(),
        packet.ack_number(),
        packet.flags(),
        packet.reserved(),
        packet.window_len(),
        packet.checksum(),
        packet.urgent_at(),
        packet.payload().len(),
        packet.verify_checksum(src, dst),
    );
    assert!(packet.header_len() >= 20 && packet.header_len() <= bytes.len());
    for option in packet.option_iter() {
        let _ = option;
    }
    for verify in [true, false] {
        if let Ok(repr) = TcpRepr::parse(&packet, src, dst, verify) {
            let mut buf = vec![0u8; repr.buffer_len()];
            repr.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);
            let again = Packet::new_checked(&buf[..]).expect("emitted header is valid");
            let back = TcpRepr::parse(&again, src, dst, true).expect("emitted segment parses");
            assert_eq!(back, expected(&repr));
        }
    }
}
