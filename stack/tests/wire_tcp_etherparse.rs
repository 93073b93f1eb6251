//! Cross-checks the TCP wire format against etherparse 0.21, in both directions, including
//! checksums and options.

use etherparse::{TcpHeader, TcpOptionElement, TcpOptions as EpOptions};
use proptest::prelude::*;
use std::net::Ipv4Addr;
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};
use xdptcp_stack::wire::tcp_options::{SackBlocks, TcpOption, TcpOptions};

/// Our option as etherparse's element (the kinds both know).
fn to_element(o: &TcpOption<'_>) -> Option<TcpOptionElement> {
    Some(match *o {
        TcpOption::NoOperation => TcpOptionElement::Noop,
        TcpOption::MaxSegmentSize(m) => TcpOptionElement::MaximumSegmentSize(m),
        TcpOption::WindowScale(w) => TcpOptionElement::WindowScale(w),
        TcpOption::SackPermitted => TcpOptionElement::SelectiveAcknowledgementPermitted,
        TcpOption::Timestamps { tsval, tsecr } => TcpOptionElement::Timestamp(tsval, tsecr),
        TcpOption::SackRange(ref b) => {
            let raw: Vec<(u32, u32)> = b.as_slice().iter().map(|(l, r)| (l.0, r.0)).collect();
            let mut rest = [None; 3];
            for (slot, block) in rest.iter_mut().zip(&raw[1..]) {
                *slot = Some(*block);
            }
            TcpOptionElement::SelectiveAcknowledgement(raw[0], rest)
        }
        TcpOption::EndOfList | TcpOption::Unknown { .. } => return None,
    })
}

fn flags_of(h: &TcpHeader) -> u8 {
    [h.fin, h.syn, h.rst, h.psh, h.ack, h.urg, h.ece, h.cwr]
        .iter()
        .enumerate()
        .map(|(i, &b)| u8::from(b) << i)
        .sum()
}

fn ip() -> impl Strategy<Value = Ipv4Addr> {
    any::<u32>().prop_map(Ipv4Addr::from)
}

fn element() -> impl Strategy<Value = TcpOptionElement> {
    prop_oneof![
        Just(TcpOptionElement::Noop),
        any::<u16>().prop_map(TcpOptionElement::MaximumSegmentSize),
        (0..=14u8).prop_map(TcpOptionElement::WindowScale),
        Just(TcpOptionElement::SelectiveAcknowledgementPermitted),
        (any::<(u32, u32)>(), any::<[Option<(u32, u32)>; 3]>())
            .prop_map(|(first, rest)| TcpOptionElement::SelectiveAcknowledgement(first, rest)),
        any::<(u32, u32)>().prop_map(|(a, b)| TcpOptionElement::Timestamp(a, b)),
    ]
}

/// etherparse reads SACK blocks until the first `None`; normalise so both sides agree.
fn normalise(e: TcpOptionElement) -> TcpOptionElement {
    match e {
        TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
            let mut out = [None; 3];
            for (o, r) in out.iter_mut().zip(rest.iter().map_while(|r| *r)) {
                *o = Some(r);
            }
            TcpOptionElement::SelectiveAcknowledgement(first, out)
        }
        e => e,
    }
}

proptest! {
    /// etherparse builds a segment; we parse it and must agree on every field, the options and
    /// the checksum.
    #[test]
    fn we_read_what_etherparse_writes(
        ports in (1..=u16::MAX, 1..=u16::MAX),
        seq in any::<u32>(), ack in any::<u32>(), flags in any::<u8>(), ns in any::<bool>(),
        window in any::<u16>(), urgent in any::<u16>(),
        elements in proptest::collection::vec(element(), 0..6),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        src in ip(), dst in ip(),
    ) {
        let elements: Vec<_> = elements.into_iter().map(normalise).collect();
        let Ok(options) = EpOptions::try_from_elements(&elements) else {
            // Over 40 bytes: not a header anyone can send.
            return Ok(());
        };
        let mut h = TcpHeader::new(ports.0, ports.1, seq, window);
        h.acknowledgment_number = ack;
        h.ns = ns;
        let bit = |i: u8| flags & (1 << i) != 0;
        (h.fin, h.syn, h.rst, h.psh, h.ack, h.urg, h.ece, h.cwr) =
            (bit(0), bit(1), bit(2), bit(3), bit(4), bit(5), bit(6), bit(7));
        h.urgent_pointer = urgent;
        h.options = options;
        h.checksum = h.calc_checksum_ipv4_raw(src.octets(), dst.octets(), &payload).unwrap();
        let mut bytes = h.to_bytes().to_vec();
        bytes.extend_from_slice(&payload);

        let p = Packet::new_checked(&bytes[..]).unwrap();
        prop_assert!(p.verify_checksum(src, dst));
        prop_assert_eq!(p.checksum(), h.checksum);
        prop_assert_eq!(p.header_len(), h.header_len());
        prop_assert_eq!(p.reserved() & 1, u8::from(ns));
        prop_assert_eq!(p.options(), h.options.as_slice());
        let ours: Vec<_> = p
            .option_iter()
            .map(|o| o.unwrap())
            .filter_map(|o| to_element(&o))
            .collect();
        prop_assert_eq!(&ours, &elements);

        let r = TcpRepr::parse(&p, src, dst, true).unwrap();
        prop_assert_eq!((r.src_port, r.dst_port), ports);
        prop_assert_eq!(r.seq, SeqNumber(seq));
        prop_assert_eq!(r.ack, h.ack.then_some(SeqNumber(ack)));
        prop_assert_eq!(r.flags.bits(), flags);
        prop_assert_eq!((r.window, r.urgent), (window, urgent));
        prop_assert_eq!(r.payload, &payload[..]);
        // The last occurrence of each option wins.
        let mut mss = None;
        let mut ws = None;
        let mut sack_ok = false;
        let mut ts = None;
        let mut sack = Vec::new();
        for e in &elements {
            match *e {
                TcpOptionElement::MaximumSegmentSize(m) => mss = Some(m),
                TcpOptionElement::WindowScale(w) => ws = Some(w),
                TcpOptionElement::SelectiveAcknowledgementPermitted => sack_ok = true,
                TcpOptionElement::Timestamp(a, b) => ts = Some((a, b)),
                TcpOptionElement::SelectiveAcknowledgement(first, rest) => {
                    sack = std::iter::once(first)
                        .chain(rest.iter().flatten().copied())
                        .map(|(a, b)| (SeqNumber(a), SeqNumber(b)))
                        .collect();
                }
                TcpOptionElement::Noop => {}
            }
        }
        prop_assert_eq!(r.mss, mss);
        prop_assert_eq!(r.window_scale, ws);
        prop_assert_eq!(r.sack_permitted, sack_ok);
        prop_assert_eq!(r.timestamps, ts);
        prop_assert_eq!(r.sack_blocks.as_slice(), &sack[..]);
    }

    /// We build a segment; etherparse parses it and must agree, checksum included.
    #[test]
    fn etherparse_reads_what_we_write(
        ports in (1..=u16::MAX, 1..=u16::MAX),
        seq in any::<u32>(), ack in any::<u32>(), flags in any::<u8>(),
        window in any::<u16>(), urgent in any::<u16>(),
        mss in any::<Option<u16>>(), ws in proptest::option::of(0..=14u8),
        sack_ok in any::<bool>(), ts in any::<Option<(u32, u32)>>(),
        sack in proptest::collection::vec(any::<(u32, u32)>(), 0..=4),
        payload in proptest::collection::vec(any::<u8>(), 0..200),
        src in ip(), dst in ip(),
    ) {
        let mut r = TcpRepr::new(ports.0, ports.1, SeqNumber(seq));
        r.flags = TcpFlags::from_bits(flags);
        r.ack = r.flags.contains(TcpFlags::ACK).then_some(SeqNumber(ack));
        r.window = window;
        r.urgent = urgent;
        r.mss = mss;
        r.window_scale = ws;
        r.sack_permitted = sack_ok;
        r.timestamps = ts;
        let blocks: Vec<_> = sack.iter().map(|&(a, b)| (SeqNumber(a), SeqNumber(b))).collect();
        r.sack_blocks = SackBlocks::from_slice(&blocks);
        r.payload = &payload;
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), src, dst, true);

        let (h, rest) = TcpHeader::from_slice(&buf).unwrap();
        prop_assert_eq!(rest, &payload[..]);
        prop_assert_eq!((h.source_port, h.destination_port), ports);
        prop_assert_eq!(h.sequence_number, seq);
        prop_assert_eq!(h.acknowledgment_number, if h.ack { ack } else { 0 });
        prop_assert_eq!(flags_of(&h), flags);
        prop_assert!(!h.ns, "reserved bits must be zero on send");
        prop_assert_eq!((h.window_size, h.urgent_pointer), (window, urgent));
        prop_assert_eq!(
            h.calc_checksum_ipv4_raw(src.octets(), dst.octets(), &payload).unwrap(),
            h.checksum
        );
        let elements: Vec<_> = h.options_iterator().map(|e| e.unwrap()).collect();
        let ours: Vec<_> = TcpOptions::new(h.options.as_slice())
            .map(|o| o.unwrap())
            .filter_map(|o| to_element(&o))
            .collect();
        prop_assert_eq!(&elements, &ours);
        let get = |f: &dyn Fn(&TcpOptionElement) -> bool| elements.iter().any(f);
        prop_assert_eq!(mss.is_some(), get(&|e| matches!(e, TcpOptionElement::MaximumSegmentSize(m) if Some(*m) == mss)));
        prop_assert_eq!(ws.is_some(), get(&|e| matches!(e, TcpOptionElement::WindowScale(w) if Some(*w) == ws)));
        prop_assert_eq!(sack_ok, get(&|e| *e == TcpOptionElement::SelectiveAcknowledgementPermitted));
        prop_assert_eq!(ts.is_some(), get(&|e| matches!(e, TcpOptionElement::Timestamp(a, b) if Some((*a, *b)) == ts)));
        let sent = r.sack_blocks_sent();
        let sack_elements: Vec<_> = elements.iter().filter_map(|e| match e {
            TcpOptionElement::SelectiveAcknowledgement(f, rest) => Some(
                std::iter::once(*f).chain(rest.iter().flatten().copied())
                    .map(|(a, b)| (SeqNumber(a), SeqNumber(b))).collect::<Vec<_>>()),
            _ => None,
        }).collect();
        if sent.is_empty() {
            prop_assert!(sack_elements.is_empty());
        } else {
            prop_assert_eq!(sack_elements, vec![sent.to_vec()]);
        }
    }
}

#[test]
fn window_scale_above_14_is_read_as_14_where_etherparse_keeps_it() {
    let mut h = TcpHeader::new(1, 2, 3, 4);
    h.options = EpOptions::try_from_elements(&[TcpOptionElement::WindowScale(200)]).unwrap();
    h.checksum = h.calc_checksum_ipv4_raw([1, 1, 1, 1], [2, 2, 2, 2], &[]).unwrap();
    let bytes = h.to_bytes();
    let p = Packet::new_checked(&bytes[..]).unwrap();
    let r = TcpRepr::parse(&p, Ipv4Addr::new(1, 1, 1, 1), Ipv4Addr::new(2, 2, 2, 2), true).unwrap();
    assert_eq!(r.window_scale, Some(14));
}
