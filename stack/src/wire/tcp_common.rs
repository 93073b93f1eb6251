//! The common established-state segment, read straight from the frame at fixed offsets.
//!
//! After the handshake nearly every segment has one of two layouts: a 20-byte header with no
//! options, or a 32-byte one whose options are exactly NOP, NOP, timestamps (the RFC 7323
//! Appendix A block both ends negotiated). Van Jacobson's header prediction and Linux's
//! `tcp_rcv_established` read such a segment's fields where they are instead of walking the
//! options into a second representation; [`CommonSegment::parse`] does the same, and gives
//! `None` for every other shape (SYN, FIN, RST, URG, ECE, CWR, SACK blocks, any other option)
//! so that the general [`TcpRepr::parse`](super::tcp::TcpRepr::parse) handles it.
//!
//! Whatever `parse` accepts, `TcpRepr::parse` accepts too and reads to the same values: the
//! same length checks, the same checksum (RFC 9293 §3.1), the same non-zero ports.

use std::net::Ipv4Addr;

use super::checksum;
use super::seq::SeqNumber;
use super::tcp::{TcpFlags, PROTOCOL};

/// Byte 12 (data offset and reserved bits) of a header without options.
const PLAIN_HEADER: u8 = 5 << 4;
/// Byte 12 of a header with the 12-byte timestamp block.
const TS_HEADER: u8 = 8 << 4;
/// The block's first word: NOP, NOP, kind 8, length 10.
const TS_PREFIX: [u8; 4] = [1, 1, 8, 10];

/// A segment of the common shape: ACK set, perhaps PSH, no other control bit, and either no
/// options or exactly the timestamp block.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonSegment<'a> {
    /// Source port (non-zero).
    pub src_port: u16,
    /// Destination port (non-zero).
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number (the ACK bit is always set).
    pub ack: SeqNumber,
    /// Control bits: ACK, or ACK and PSH.
    pub flags: TcpFlags,
    /// Window field as on the wire (not scaled).
    pub window: u16,
    /// `(TSval, TSecr)` when the timestamp block is present.
    pub timestamps: Option<(u32, u32)>,
    /// The payload.
    pub payload: &'a [u8],
}

#[inline(always)]
fn be16(d: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([d[at], d[at + 1]])
}

#[inline(always)]
fn be32(d: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]])
}

/// The 12-byte timestamp block of a header that has room for it, if it starts NOP, NOP,
/// kind 8, length 10 (byte 12, the header's length, is the caller's to check).
#[inline(always)]
fn ts_block(data: &[u8]) -> Option<&[u8; 12]> {
    let block: &[u8; 12] = data.get(20..32)?.try_into().ok()?;
    (block[..4] == TS_PREFIX).then_some(block)
}

/// The TSecr of a TCP header (`data`, the header and what follows) whose options are exactly
/// the timestamp block, read in place and nothing else checked (no flags, no checksum): for
/// the RX look-ahead, which only wants the echo to name a connection's slot
/// (`stack::ts_slot`), and checks what it names before using it. `None` for any other layout.
#[inline]
pub fn echoed_timestamp(data: &[u8]) -> Option<u32> {
    if data.get(12)? & 0xf0 != TS_HEADER {
        return None;
    }
    ts_block(data).map(|b| be32(b, 8))
}

impl<'a> CommonSegment<'a> {
    /// Reads `data` (the TCP header and payload) if it has the common shape, verifying the
    /// checksum over the IPv4 pseudo-header when `verify_checksum`. `None` means "not this
    /// shape, or a bad checksum": the caller hands the segment to the general parser, which
    /// counts what it rejects. Never panics.
    #[inline]
    pub fn parse(
        data: &'a [u8],
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        verify_checksum: bool,
    ) -> Option<CommonSegment<'a>> {
        if data.len() < 20 {
            return None;
        }
        let flags = data[13];
        if flags & !TcpFlags::PSH.bits() != TcpFlags::ACK.bits() {
            return None;
        }
        // The timestamp block's values, where they lie (read after the checksum).
        let (header_len, ts_block) = match data[12] & 0xf0 {
            PLAIN_HEADER => (20, None),
            TS_HEADER => (32, Some(ts_block(data)?)),
            _ => return None,
        };
        if data[0..2] == [0, 0] || data[2..4] == [0, 0] {
            return None;
        }
        // The fields are read only once the checksum holds: the sum needs most registers,
        // and values read before it would wait for it on the stack.
        if verify_checksum && !checksum::verify_tcp_v4(src_ip, dst_ip, PROTOCOL, data) {
            return None;
        }
        Some(CommonSegment {
            src_port: be16(data, 0),
            dst_port: be16(data, 2),
            seq: SeqNumber(be32(data, 4)),
            ack: SeqNumber(be32(data, 8)),
            flags: TcpFlags::from_bits(flags),
            window: be16(data, 14),
            timestamps: ts_block.map(|b| (be32(b, 4), be32(b, 8))),
            payload: &data[header_len..],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::tcp::{Packet, TcpRepr};

    const SRC: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    fn segment(flags: TcpFlags, timestamps: Option<(u32, u32)>, payload: &[u8]) -> Vec<u8> {
        let mut repr = TcpRepr::new(4000, 80, SeqNumber(0xfffe_0000));
        repr.ack = Some(SeqNumber(77));
        repr.flags = flags;
        repr.window = 1234;
        repr.timestamps = timestamps;
        repr.payload = payload;
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
        buf
    }

    /// What the general parser reads, in the common form (`None` if it is not that form).
    fn general(data: &[u8]) -> Option<CommonSegment<'_>> {
        let repr = TcpRepr::parse(&Packet::new_unchecked(data), SRC, DST, true).ok()?;
        Some(CommonSegment {
            src_port: repr.src_port,
            dst_port: repr.dst_port,
            seq: repr.seq,
            ack: repr.ack?,
            flags: repr.flags,
            window: repr.window,
            timestamps: repr.timestamps,
            payload: repr.payload,
        })
    }

    #[test]
    fn reads_the_common_shapes_as_the_general_parser_does() {
        for flags in [TcpFlags::ACK, TcpFlags::ACK | TcpFlags::PSH] {
            for ts in [None, Some((1, u32::MAX))] {
                for payload in [&b""[..], b"x", b"hello world, 64 bytes or so"] {
                    let buf = segment(flags, ts, payload);
                    let fast = CommonSegment::parse(&buf, SRC, DST, true);
                    assert!(fast.is_some(), "{flags:?} {ts:?}");
                    assert_eq!(fast, general(&buf));
                }
            }
        }
    }

    #[test]
    fn the_echo_is_read_from_the_timestamp_block_alone() {
        let buf = segment(TcpFlags::ACK | TcpFlags::PSH, Some((7, 0xdead_beef)), b"request");
        assert_eq!(echoed_timestamp(&buf), Some(0xdead_beef));
        assert_eq!(echoed_timestamp(&buf[..32]), Some(0xdead_beef), "the header alone");
        assert_eq!(echoed_timestamp(&buf[..31]), None, "cut short");
        // Whatever the flags or checksum: the look-ahead checks what the echo names.
        let mut syn = buf.clone();
        syn[13] = TcpFlags::SYN.bits();
        syn[16] ^= 0xff;
        assert_eq!(echoed_timestamp(&syn), Some(0xdead_beef));
        assert_eq!(echoed_timestamp(&segment(TcpFlags::ACK, None, b"x")), None, "no options");
        let mut other = buf.clone();
        other[20] = 8; // the block without its NOPs
        assert_eq!(echoed_timestamp(&other), None);
    }

    #[test]
    fn leaves_every_other_shape_to_the_general_parser() {
        for f in [TcpFlags::SYN, TcpFlags::FIN, TcpFlags::RST, TcpFlags::URG, TcpFlags::ECE] {
            let buf = segment(TcpFlags::ACK | f, None, b"ab");
            assert_eq!(CommonSegment::parse(&buf, SRC, DST, true), None, "{f:?}");
        }
        let mut no_ack = segment(TcpFlags::PSH, None, b"");
        no_ack[13] = TcpFlags::PSH.bits();
        assert_eq!(CommonSegment::parse(&no_ack, SRC, DST, false), None, "no ACK");
        // Another option layout (MSS on a non-SYN), a SACK block, a bad checksum, port 0.
        let mut repr = TcpRepr::new(4000, 80, SeqNumber(1));
        repr.ack = Some(SeqNumber(2));
        repr.flags = TcpFlags::ACK;
        repr.mss = Some(1000);
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
        assert_eq!(CommonSegment::parse(&buf, SRC, DST, true), None);
        repr.mss = None;
        repr.sack_blocks.push(SeqNumber(5), SeqNumber(9));
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
        assert_eq!(CommonSegment::parse(&buf, SRC, DST, true), None);
        let mut bad = segment(TcpFlags::ACK, Some((5, 6)), b"data");
        bad[33] ^= 1;
        assert_eq!(CommonSegment::parse(&bad, SRC, DST, true), None);
        assert!(CommonSegment::parse(&bad, SRC, DST, false).is_some(), "offloaded");
        let mut zero = segment(TcpFlags::ACK, None, b"");
        zero[0..2].copy_from_slice(&[0, 0]);
        assert_eq!(CommonSegment::parse(&zero, SRC, DST, false), None);
    }

    #[test]
    fn never_panics_on_short_or_lying_input() {
        let full = segment(TcpFlags::ACK, Some((5, 6)), b"data");
        for n in 0..full.len() {
            let _ = CommonSegment::parse(&full[..n], SRC, DST, true);
            let _ = CommonSegment::parse(&full[..n], SRC, DST, false);
        }
    }
}
