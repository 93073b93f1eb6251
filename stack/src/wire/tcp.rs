//! The TCP segment (RFC 9293 §3.1): a zero-copy [`Packet`] view and a parsed [`TcpRepr`].
//!
//! The view checks lengths once in [`Packet::new_checked`]; after that no accessor can panic
//! (unless a setter later changes the data offset). The representation gathers the options a
//! connection cares about into plain fields, and emits a header straight into a frame buffer:
//! [`TcpRepr::emit_header`] takes the payload's partial checksum so that the payload is read
//! exactly once, by [`checksum::copy_and_sum`] while it is copied into the frame.

use super::checksum;
use super::ipv6;
use super::seq::SeqNumber;
use super::tcp_options::{SackBlocks, TcpOption, TcpOptions, MAX_OPTIONS_LEN, MAX_SACK_BLOCKS};
use super::{Error, Result};
use core::fmt;
use core::ops::{BitAnd, BitOr, BitOrAssign, Not};
use std::net::{Ipv4Addr, Ipv6Addr};

/// IP protocol number of TCP, as used in the pseudo-header.
pub const PROTOCOL: u8 = 6;

/// Length of the header without options.
pub const HEADER_LEN: usize = 20;

/// NOP, NOP, then the timestamps option's kind and length: the first word of the RFC 7323
/// Appendix A option block.
const TIMESTAMPS_PREFIX: [u8; 4] = [1, 1, 8, 10];
/// Length of that block: the prefix and the two 32-bit timestamps.
const TIMESTAMPS_BLOCK_LEN: usize = 12;

/// Longest header: a data offset of 15 32-bit words.
pub const MAX_HEADER_LEN: usize = 60;

mod field {
    use core::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    /// High nibble: data offset in words; low nibble: reserved bits.
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
    pub const OPTIONS: usize = 20;
}

/// The eight control bits of byte 13 (RFC 9293 §3.1; ECE and CWR from RFC 3168 §6.1).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpFlags(u8);

impl TcpFlags {
    /// No more data from sender.
    pub const FIN: TcpFlags = TcpFlags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: TcpFlags = TcpFlags(0x02);
    /// Reset the connection.
    pub const RST: TcpFlags = TcpFlags(0x04);
    /// Push function.
    pub const PSH: TcpFlags = TcpFlags(0x08);
    /// The acknowledgment field is significant.
    pub const ACK: TcpFlags = TcpFlags(0x10);
    /// The urgent pointer field is significant.
    pub const URG: TcpFlags = TcpFlags(0x20);
    /// ECN echo.
    pub const ECE: TcpFlags = TcpFlags(0x40);
    /// Congestion window reduced.
    pub const CWR: TcpFlags = TcpFlags(0x80);
    /// No flag set.
    pub const NONE: TcpFlags = TcpFlags(0);

    const NAMES: [(TcpFlags, &'static str); 8] = [
        (TcpFlags::FIN, "FIN"),
        (TcpFlags::SYN, "SYN"),
        (TcpFlags::RST, "RST"),
        (TcpFlags::PSH, "PSH"),
        (TcpFlags::ACK, "ACK"),
        (TcpFlags::URG, "URG"),
        (TcpFlags::ECE, "ECE"),
        (TcpFlags::CWR, "CWR"),
    ];

    /// No flag set.
    pub const fn empty() -> TcpFlags {
        TcpFlags(0)
    }

    /// The flags from the raw byte; every bit is a flag, so none is lost.
    pub const fn from_bits(bits: u8) -> TcpFlags {
        TcpFlags(bits)
    }

    /// The raw byte as on the wire.
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether every flag of `other` is set.
    pub const fn contains(self, other: TcpFlags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether any flag of `other` is set.
    pub const fn intersects(self, other: TcpFlags) -> bool {
        self.0 & other.0 != 0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: TcpFlags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: TcpFlags) {
        self.0 &= !other.0;
    }

    /// `self` with the flags of `other` added.
    pub const fn with(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | other.0)
    }

    /// `self` with the flags of `other` removed.
    pub const fn without(self, other: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & !other.0)
    }

    /// Whether FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(TcpFlags::FIN)
    }

    /// Whether SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(TcpFlags::SYN)
    }

    /// Whether RST is set.
    pub const fn rst(self) -> bool {
        self.contains(TcpFlags::RST)
    }

    /// Whether ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(TcpFlags::ACK)
    }

    /// Sets or clears the flags of `other`.
    pub fn set(&mut self, other: TcpFlags, value: bool) {
        if value {
            self.insert(other)
        } else {
            self.remove(other)
        }
    }
}

impl BitOr for TcpFlags {
    type Output = TcpFlags;
    fn bitor(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 | rhs.0)
    }
}

impl BitOrAssign for TcpFlags {
    fn bitor_assign(&mut self, rhs: TcpFlags) {
        self.0 |= rhs.0;
    }
}

impl BitAnd for TcpFlags {
    type Output = TcpFlags;
    fn bitand(self, rhs: TcpFlags) -> TcpFlags {
        TcpFlags(self.0 & rhs.0)
    }
}

impl Not for TcpFlags {
    type Output = TcpFlags;
    fn not(self) -> TcpFlags {
        TcpFlags(!self.0)
    }
}

impl fmt::Debug for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("(none)");
        }
        let mut first = true;
        for (flag, name) in TcpFlags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Display for TcpFlags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A read/write view of a TCP segment (header, options and payload) in a byte buffer.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may panic until
    /// [`check_len`](Self::check_len) has passed. Use this to build a segment in place.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer that holds exactly one segment and checks its lengths.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let packet = Packet::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the fixed header fits (`Truncated` otherwise) and that the data offset is
    /// at least 5 words and inside the buffer (`BadLength` otherwise, RFC 9293 §3.1).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let header_len = self.header_len();
        if header_len < HEADER_LEN || header_len > len {
            return Err(Error::BadLength);
        }
        Ok(())
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.buffer.as_ref()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    fn u32_at(&self, range: core::ops::Range<usize>) -> u32 {
        let b = &self.buffer.as_ref()[range];
        u32::from_be_bytes([b[0], b[1], b[2], b[3]])
    }

    /// Source port.
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// Sequence number of the first octet (or of the SYN).
    pub fn seq_number(&self) -> SeqNumber {
        SeqNumber(self.u32_at(field::SEQ_NUM))
    }

    /// Acknowledgment number; meaningful only when ACK is set.
    pub fn ack_number(&self) -> SeqNumber {
        SeqNumber(self.u32_at(field::ACK_NUM))
    }

    /// Header length in bytes (data offset × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::DATA_OFFSET] >> 4) * 4
    }

    /// The four reserved bits below the data offset (RFC 9293 §3.1: must be zero on send,
    /// ignored on receive).
    pub fn reserved(&self) -> u8 {
        self.buffer.as_ref()[field::DATA_OFFSET] & 0x0f
    }

    /// The control bits.
    pub fn flags(&self) -> TcpFlags {
        TcpFlags(self.buffer.as_ref()[field::FLAGS])
    }

    /// FIN flag.
    pub fn fin(&self) -> bool {
        self.flags().contains(TcpFlags::FIN)
    }

    /// SYN flag.
    pub fn syn(&self) -> bool {
        self.flags().contains(TcpFlags::SYN)
    }

    /// RST flag.
    pub fn rst(&self) -> bool {
        self.flags().contains(TcpFlags::RST)
    }

    /// PSH flag.
    pub fn psh(&self) -> bool {
        self.flags().contains(TcpFlags::PSH)
    }

    /// ACK flag.
    pub fn ack(&self) -> bool {
        self.flags().contains(TcpFlags::ACK)
    }

    /// URG flag.
    pub fn urg(&self) -> bool {
        self.flags().contains(TcpFlags::URG)
    }

    /// ECE flag.
    pub fn ece(&self) -> bool {
        self.flags().contains(TcpFlags::ECE)
    }

    /// CWR flag.
    pub fn cwr(&self) -> bool {
        self.flags().contains(TcpFlags::CWR)
    }

    /// Window field, unscaled.
    pub fn window_len(&self) -> u16 {
        self.u16_at(field::WINDOW)
    }

    /// Checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Urgent pointer field.
    pub fn urgent_at(&self) -> u16 {
        self.u16_at(field::URGENT)
    }

    /// Option bytes (between the fixed header and the data offset).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[field::OPTIONS..self.header_len()]
    }

    /// Iterator over the parsed options.
    pub fn option_iter(&self) -> TcpOptions<'_> {
        TcpOptions::new(self.options())
    }

    /// Payload bytes after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }

    /// Length of header plus payload.
    pub fn total_len(&self) -> usize {
        self.buffer.as_ref().len()
    }

    /// Folded pseudo-header sum for this segment, or `None` when the segment is longer than
    /// the 16-bit length field of the pseudo-header can say.
    fn pseudo_sum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> Option<u16> {
        let len = u16::try_from(self.buffer.as_ref().len()).ok()?;
        Some(checksum::pseudo_header_v4(src, dst, PROTOCOL, len))
    }

    /// Whether the checksum verifies over pseudo-header, header and payload (RFC 9293 §3.1).
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        checksum::verify_tcp_v4(src, dst, PROTOCOL, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, range: core::ops::Range<usize>, value: u16) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    fn set_u32(&mut self, range: core::ops::Range<usize>, value: u32) {
        self.buffer.as_mut()[range].copy_from_slice(&value.to_be_bytes());
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, port: u16) {
        self.set_u16(field::SRC_PORT, port)
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, port: u16) {
        self.set_u16(field::DST_PORT, port)
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, seq: SeqNumber) {
        self.set_u32(field::SEQ_NUM, seq.0)
    }

    /// Sets the acknowledgment number.
    pub fn set_ack_number(&mut self, ack: SeqNumber) {
        self.set_u32(field::ACK_NUM, ack.0)
    }

    /// Sets the header length in bytes (a multiple of 4 from 20 to 60) and clears the
    /// reserved bits.
    pub fn set_header_len(&mut self, len: usize) {
        debug_assert!(len.is_multiple_of(4) && (HEADER_LEN..=MAX_HEADER_LEN).contains(&len));
        self.buffer.as_mut()[field::DATA_OFFSET] = ((len / 4) as u8) << 4;
    }

    /// Sets the control bits.
    pub fn set_flags(&mut self, flags: TcpFlags) {
        self.buffer.as_mut()[field::FLAGS] = flags.0;
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, window: u16) {
        self.set_u16(field::WINDOW, window)
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        self.set_u16(field::CHECKSUM, value)
    }

    /// Sets the urgent pointer.
    pub fn set_urgent_at(&mut self, value: u16) {
        self.set_u16(field::URGENT, value)
    }

    /// Mutable option bytes.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = self.header_len();
        &mut self.buffer.as_mut()[field::OPTIONS..end]
    }

    /// Mutable payload bytes.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes and stores the checksum over pseudo-header, header and payload.
    ///
    /// # Panics
    /// If the segment is longer than 65535 bytes, which IPv4 cannot carry.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        // Building a segment IPv4 cannot carry is a caller bug, not a peer's doing.
        let pseudo = self.pseudo_sum(src, dst).expect("TCP segment over 65535 bytes");
        self.set_checksum(0);
        let sum = checksum::sum(self.buffer.as_ref());
        self.set_checksum(checksum::finish(checksum::add(pseudo, sum)));
    }
}

impl<T: AsRef<[u8]>> AsRef<[u8]> for Packet<T> {
    fn as_ref(&self) -> &[u8] {
        self.buffer.as_ref()
    }
}

/// A parsed TCP segment: the header fields and the options a connection acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number, present exactly when the ACK flag is.
    pub ack: Option<SeqNumber>,
    /// All control bits. On emit, the ACK bit follows `ack` instead.
    pub flags: TcpFlags,
    /// Window field as on the wire, before any window scaling.
    pub window: u16,
    /// Urgent pointer field.
    pub urgent: u16,
    /// Maximum segment size option.
    pub mss: Option<u16>,
    /// Window scale option (at most 14 once parsed).
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK blocks, at most four.
    pub sack_blocks: SackBlocks,
    /// Timestamps option `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
    /// Payload bytes.
    pub payload: &'a [u8],
}

/// Bytes of the option layout [`TcpRepr::emit_options`] produces, worked out once so that
/// `header_len` and `emit` agree.
#[derive(Clone, Copy)]
struct OptionLayout {
    /// Padded length of the options.
    len: usize,
    /// SACK blocks that fit.
    sack_blocks: usize,
}

impl<'a> TcpRepr<'a> {
    /// A segment with the given ports and sequence number, no ACK, flags, options or payload.
    pub fn new(src_port: u16, dst_port: u16, seq: SeqNumber) -> TcpRepr<'a> {
        TcpRepr {
            src_port,
            dst_port,
            seq,
            ack: None,
            flags: TcpFlags::empty(),
            window: 0,
            urgent: 0,
            mss: None,
            window_scale: None,
            sack_permitted: false,
            sack_blocks: SackBlocks::new(),
            timestamps: None,
            payload: &[],
        }
    }

    /// Parses a segment, checking the checksum first if asked to (a NIC may have done it).
    ///
    /// A zero port is `Malformed`: port 0 is reserved and never names a connection end, so
    /// nothing could be sent back to it. A malformed option is `BadLength` (RFC 9293 §3.2
    /// lets a receiver treat an impossible option length as an error); unknown options are
    /// ignored, and a repeated option keeps its last value.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum(src_ip, dst_ip) {
            return Err(Error::BadChecksum);
        }
        Self::parse_fields(packet)
    }

    /// The fields of a segment whose length was checked and whose checksum, if asked, was
    /// verified. Always inlined, so each family's parse is one function (a shared out-of-line
    /// copy cost the IPv4 path 44 instructions per round trip, `path_count rpc`).
    #[inline(always)]
    fn parse_fields<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<TcpRepr<'a>> {
        if packet.src_port() == 0 || packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        let flags = packet.flags();
        let mut repr = TcpRepr::new(packet.src_port(), packet.dst_port(), packet.seq_number());
        repr.ack = flags.contains(TcpFlags::ACK).then(|| packet.ack_number());
        repr.flags = flags;
        repr.window = packet.window_len();
        repr.urgent = packet.urgent_at();
        let buffer: &'a T = packet.buffer;
        let buffer: &'a [u8] = buffer.as_ref();
        let header_len = packet.header_len();
        // check_len proved HEADER_LEN <= header_len <= buffer.len().
        let options = &buffer[field::OPTIONS..header_len];
        repr.payload = &buffer[header_len..];
        // RFC 7323 Appendix A: with timestamps on, nearly every segment after the handshake
        // carries exactly NOP NOP TS, laid out so a receiver can take this shortcut.
        if let [1, 1, 8, 10, a, b, c, d, e, f, g, h] = *options {
            // (The same four bytes as `TIMESTAMPS_PREFIX`, spelled out for the pattern.)
            let tsval = u32::from_be_bytes([a, b, c, d]);
            let tsecr = u32::from_be_bytes([e, f, g, h]);
            repr.timestamps = Some((tsval, tsecr));
            return Ok(repr);
        }
        for option in TcpOptions::new(options) {
            match option? {
                TcpOption::MaxSegmentSize(mss) => repr.mss = Some(mss),
                TcpOption::WindowScale(shift) => repr.window_scale = Some(shift),
                TcpOption::SackPermitted => repr.sack_permitted = true,
                TcpOption::SackRange(blocks) => repr.sack_blocks = blocks,
                TcpOption::Timestamps { tsval, tsecr } => repr.timestamps = Some((tsval, tsecr)),
                TcpOption::EndOfList | TcpOption::NoOperation | TcpOption::Unknown { .. } => {}
            }
        }
        Ok(repr)
    }

    /// [`parse`](Self::parse) for a segment carried over IPv6: the checksum, when checked, covers
    /// the IPv6 pseudo-header (RFC 8200 §8.1, the length as 32 bits). Everything after the
    /// checksum is the IPv4 parse's (`parse_fields`), so both families read segments alike.
    pub fn parse_v6<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        src_ip: Ipv6Addr,
        dst_ip: Ipv6Addr,
        verify_checksum: bool,
    ) -> Result<TcpRepr<'a>> {
        packet.check_len()?;
        if verify_checksum {
            let data = packet.buffer.as_ref();
            let pseudo = ipv6::pseudo_header(src_ip, dst_ip, PROTOCOL, data.len() as u32);
            if !checksum::verify(pseudo, data) {
                return Err(Error::BadChecksum);
            }
        }
        Self::parse_fields(packet)
    }

    /// Where each option goes. The layout keeps every 32-bit field aligned the way Linux
    /// does: `MSS`, then `SACK-permitted + timestamps` sharing a word (or NOPs in place of
    /// the missing one), `NOP + window scale`, then `NOP NOP + SACK`. SACK is the only
    /// variable-length option; blocks that would push the header past 60 bytes are left out
    /// (RFC 2018 §3: a sender includes as many blocks as the option space allows).
    fn option_layout(&self) -> OptionLayout {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        let mut sack_blocks = 0;
        if !self.sack_blocks.is_empty() {
            let room = MAX_OPTIONS_LEN.saturating_sub(len + 4) / 8;
            sack_blocks = self.sack_blocks.len().min(room).min(MAX_SACK_BLOCKS);
            if sack_blocks > 0 {
                len += 4 + 8 * sack_blocks;
            }
        }
        OptionLayout { len, sack_blocks }
    }

    /// Length of the header with options.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.option_layout().len
    }

    /// Length of header plus payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Sequence space the segment occupies: payload plus one for SYN and one for FIN
    /// (RFC 9293 §3.4).
    pub fn segment_len(&self) -> usize {
        self.payload.len()
            + usize::from(self.flags.contains(TcpFlags::SYN))
            + usize::from(self.flags.contains(TcpFlags::FIN))
    }

    /// The SACK blocks that [`emit`](Self::emit) will actually send.
    pub fn sack_blocks_sent(&self) -> &[(SeqNumber, SeqNumber)] {
        let n = self.option_layout().sack_blocks;
        &self.sack_blocks.as_slice()[..n]
    }

    /// The timestamps, when they are the only option `layout` holds: the RFC 7323 Appendix A
    /// block (NOP, NOP, timestamps) of nearly every established-state segment, which both
    /// the option writer and the header sum take as a whole.
    fn timestamps_only(&self, layout: OptionLayout) -> Option<(u32, u32)> {
        let only = self.mss.is_none()
            && self.window_scale.is_none()
            && !self.sack_permitted
            && layout.sack_blocks == 0;
        self.timestamps.filter(|_| only)
    }

    fn emit_options(&self, buf: &mut [u8], layout: OptionLayout) {
        if let (Some((tsval, tsecr)), Some(out)) =
            (self.timestamps_only(layout), buf.get_mut(..TIMESTAMPS_BLOCK_LEN))
        {
            out[..4].copy_from_slice(&TIMESTAMPS_PREFIX);
            out[4..8].copy_from_slice(&tsval.to_be_bytes());
            out[8..12].copy_from_slice(&tsecr.to_be_bytes());
            return;
        }
        let nop = TcpOption::NoOperation;
        let mut at = 0;
        let mut put = |option: TcpOption<'_>, buf: &mut [u8]| at += option.emit(&mut buf[at..]);
        if let Some(mss) = self.mss {
            put(TcpOption::MaxSegmentSize(mss), buf);
        }
        match (self.timestamps, self.sack_permitted) {
            (Some((tsval, tsecr)), true) => {
                put(TcpOption::SackPermitted, buf);
                put(TcpOption::Timestamps { tsval, tsecr }, buf);
            }
            (Some((tsval, tsecr)), false) => {
                put(nop, buf);
                put(nop, buf);
                put(TcpOption::Timestamps { tsval, tsecr }, buf);
            }
            (None, true) => {
                put(nop, buf);
                put(nop, buf);
                put(TcpOption::SackPermitted, buf);
            }
            (None, false) => {}
        }
        if let Some(shift) = self.window_scale {
            put(nop, buf);
            put(TcpOption::WindowScale(shift), buf);
        }
        if layout.sack_blocks > 0 {
            let mut blocks = self.sack_blocks;
            blocks.truncate(layout.sack_blocks);
            put(nop, buf);
            put(nop, buf);
            put(TcpOption::SackRange(blocks), buf);
        }
        debug_assert_eq!(at, layout.len);
    }

    /// Writes every header field and the options; leaves the checksum field zero. Returns the
    /// option layout it wrote. Always inlined: the IPv6 emitter's call made LLVM outline it
    /// from the IPv4 one, +166 instructions per round trip (`path_count rpc`).
    #[inline(always)]
    fn emit_fields<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> OptionLayout {
        let layout = self.option_layout();
        let header_len = HEADER_LEN + layout.len;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack.unwrap_or_default());
        packet.set_header_len(header_len);
        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack.is_some());
        packet.set_flags(flags);
        packet.set_window_len(self.window);
        packet.set_checksum(0);
        packet.set_urgent_at(self.urgent);
        self.emit_options(packet.options_mut(), layout);
        layout
    }

    /// The folded sum of the header [`emit_fields`](Self::emit_fields) writes (checksum zero)
    /// for the two layouts of nearly every segment, no options or the RFC 7323 Appendix A
    /// timestamps block, computed from the field values: summing the header back out of the
    /// buffer right after its fields were stored piecemeal stalls on store-to-load
    /// forwarding. `None` for other layouts (the caller sums the bytes).
    fn header_sum(&self, layout: OptionLayout) -> Option<u16> {
        let header_len = HEADER_LEN + layout.len;
        let words_of = |v: u32| (v >> 16) + (v & 0xffff);
        let mut flags = self.flags;
        flags.set(TcpFlags::ACK, self.ack.is_some());
        let mut sum = u32::from(self.src_port)
            + u32::from(self.dst_port)
            + words_of(self.seq.0)
            + words_of(self.ack.unwrap_or_default().0)
            + (((header_len / 4) as u32) << 12 | u32::from(flags.0))
            + u32::from(self.window)
            + u32::from(self.urgent);
        match (layout.len, self.timestamps_only(layout)) {
            (0, _) => {}
            (TIMESTAMPS_BLOCK_LEN, Some((tsval, tsecr))) => {
                let prefix =
                    u32::from(u16::from_be_bytes([TIMESTAMPS_PREFIX[0], TIMESTAMPS_PREFIX[1]]))
                        + u32::from(u16::from_be_bytes([
                            TIMESTAMPS_PREFIX[2],
                            TIMESTAMPS_PREFIX[3],
                        ]));
                sum += prefix + words_of(tsval) + words_of(tsecr);
            }
            _ => return None,
        }
        Some(checksum::fold(u64::from(sum)))
    }

    /// Writes header and options into `packet`, which must be [`buffer_len`](Self::buffer_len)
    /// long; the payload area is left alone. With `fill_checksum`, the checksum covers the
    /// payload area as it is now, so put the payload there first — or use
    /// [`emit_header`](Self::emit_header) with the payload's sum, or
    /// [`emit_with_payload`](Self::emit_with_payload).
    ///
    /// # Panics
    /// If `packet` is shorter than the header.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        fill_checksum: bool,
    ) {
        self.emit_fields(packet);
        if fill_checksum {
            packet.fill_checksum(src_ip, dst_ip);
        }
    }

    /// Writes header and options and a checksum computed from `payload_sum`, the folded
    /// [`checksum::sum`] of the payload (as [`checksum::copy_and_sum`] returns while copying
    /// it into the frame). The header is a whole number of 16-bit words, so its sum and the
    /// payload's add up to the sum of the segment. `None` leaves the checksum zero, for a
    /// NIC that computes it.
    ///
    /// # Panics
    /// If `packet` is shorter than the header or longer than 65535 bytes.
    pub fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        payload_sum: Option<u16>,
    ) {
        let layout = self.emit_fields(packet);
        if let Some(payload_sum) = payload_sum {
            // A segment IPv4 cannot carry is a caller bug.
            let pseudo = packet.pseudo_sum(src_ip, dst_ip).expect("TCP segment over 65535 bytes");
            self.set_checksum_from(packet, layout, pseudo, payload_sum);
        }
    }

    /// Writes the checksum of the header just emitted with `layout`, given the folded sums of
    /// the pseudo-header (either family's) and of the payload: the one rule both families'
    /// emitters finish with.
    #[inline(always)]
    fn set_checksum_from<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        layout: OptionLayout,
        pseudo: u16,
        payload_sum: u16,
    ) {
        let header_len = HEADER_LEN + layout.len;
        let header_sum = match self.header_sum(layout) {
            Some(sum) => {
                // Every debug-build test checks the arithmetic against the bytes.
                debug_assert_eq!(sum, checksum::sum(&packet.buffer.as_ref()[..header_len]));
                sum
            }
            None => checksum::sum(&packet.buffer.as_ref()[..header_len]),
        };
        let total = checksum::add(pseudo, checksum::add(header_sum, payload_sum));
        packet.set_checksum(checksum::finish(total));
    }

    /// [`emit_header`](Self::emit_header) for a segment carried over IPv6: the checksum covers
    /// the IPv6 pseudo-header (RFC 8200 §8.1). `None` leaves it zero, for a NIC that fills it.
    ///
    /// # Panics
    /// If `packet` is shorter than the header.
    #[inline(always)]
    pub fn emit_header_v6<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src_ip: Ipv6Addr,
        dst_ip: Ipv6Addr,
        payload_sum: Option<u16>,
    ) {
        let layout = self.emit_fields(packet);
        if let Some(payload_sum) = payload_sum {
            let total_len = packet.buffer.as_ref().len() as u32;
            let pseudo = ipv6::pseudo_header(src_ip, dst_ip, PROTOCOL, total_len);
            self.set_checksum_from(packet, layout, pseudo, payload_sum);
        }
    }

    /// Writes the whole segment: header, options and [`payload`](Self::payload), copying the
    /// payload once and summing it on the way when `fill_checksum` is set.
    ///
    /// # Panics
    /// If `packet` is not exactly [`buffer_len`](Self::buffer_len) long.
    pub fn emit_with_payload<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        src_ip: Ipv4Addr,
        dst_ip: Ipv4Addr,
        fill_checksum: bool,
    ) {
        assert_eq!(packet.total_len(), self.buffer_len(), "TCP buffer length mismatch");
        let header_len = self.header_len();
        let payload_area = &mut packet.buffer.as_mut()[header_len..];
        let sum = if fill_checksum {
            Some(checksum::copy_and_sum(payload_area, self.payload))
        } else {
            payload_area.copy_from_slice(self.payload);
            None
        };
        self.emit_header(packet, src_ip, dst_ip, sum);
    }
}

/// A one-line summary in the spirit of tcpdump, for logs and test failures.
impl fmt::Display for TcpRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TCP {}->{} {} seq={}", self.src_port, self.dst_port, self.flags, self.seq)?;
        if let Some(ack) = self.ack {
            write!(f, " ack={ack}")?;
        }
        write!(f, " win={} len={}", self.window, self.payload.len())?;
        if let Some(mss) = self.mss {
            write!(f, " mss={mss}")?;
        }
        if let Some(ws) = self.window_scale {
            write!(f, " ws={ws}")?;
        }
        if self.sack_permitted {
            f.write_str(" sackOK")?;
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            write!(f, " ts={tsval},{tsecr}")?;
        }
        if !self.sack_blocks.is_empty() {
            write!(f, " sack={:?}", self.sack_blocks)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// A SYN-ACK laid out the way Linux sends one, checksummed for SRC -> DST by
    /// `reference_checksum` (independent of `wire::checksum`).
    fn syn_ack_bytes() -> Vec<u8> {
        let mut b = vec![
            0x00, 0x50, 0xc3, 0x50, // ports 80 -> 50000
            0x00, 0x00, 0x10, 0x00, // seq 4096
            0x00, 0x00, 0x00, 0x65, // ack 101
            0xa0, 0x12, // offset 10 words, SYN|ACK
            0xfa, 0xf0, // window 64240
            0x00, 0x00, // checksum
            0x00, 0x00, // urgent
            0x02, 0x04, 0x05, 0xb4, // MSS 1460
            0x04, 0x02, 0x08, 0x0a, 0x00, 0x00, 0x00, 0x09, 0x00, 0x00, 0x00,
            0x07, // SACKOK TS
            0x01, 0x03, 0x03, 0x07, // NOP WS 7
        ];
        let ck = reference_checksum(&b);
        b[16..18].copy_from_slice(&ck.to_be_bytes());
        b
    }

    /// Textbook RFC 1071 checksum with an explicit pseudo-header, written independently of
    /// `wire::checksum`.
    fn reference_checksum(seg: &[u8]) -> u16 {
        let mut bytes = Vec::new();
        bytes.extend_from_slice(&SRC.octets());
        bytes.extend_from_slice(&DST.octets());
        bytes.extend_from_slice(&[0, 6]);
        bytes.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        bytes.extend_from_slice(seg);
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut acc: u32 = 0;
        for w in bytes.chunks(2) {
            acc += u32::from(w[0]) << 8 | u32::from(w[1]);
        }
        while acc >> 16 != 0 {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        !(acc as u16)
    }

    #[test]
    fn view_reads_every_field() {
        let bytes = syn_ack_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.src_port(), 80);
        assert_eq!(p.dst_port(), 50000);
        assert_eq!(p.seq_number(), SeqNumber(4096));
        assert_eq!(p.ack_number(), SeqNumber(101));
        assert_eq!(p.header_len(), 40);
        assert_eq!(p.flags(), TcpFlags::SYN | TcpFlags::ACK);
        assert!(p.syn() && p.ack() && !p.fin() && !p.rst() && !p.psh());
        assert!(!p.urg() && !p.ece() && !p.cwr());
        assert_eq!(p.window_len(), 64240);
        assert_eq!(p.options().len(), 20);
        assert!(p.payload().is_empty());
        assert!(p.verify_checksum(SRC, DST));
        assert!(!p.verify_checksum(DST, Ipv4Addr::new(10, 0, 0, 3)));
    }

    #[test]
    fn repr_parses_options() {
        let bytes = syn_ack_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, true).unwrap();
        assert_eq!(r.ack, Some(SeqNumber(101)));
        assert_eq!(r.mss, Some(1460));
        assert_eq!(r.window_scale, Some(7));
        assert!(r.sack_permitted);
        assert_eq!(r.timestamps, Some((9, 7)));
        assert!(r.sack_blocks.is_empty());
        assert_eq!(r.segment_len(), 1);
        assert_eq!(r.header_len(), 40);
    }

    #[test]
    fn repr_emits_the_same_bytes_linux_sent() {
        let bytes = syn_ack_bytes();
        let p = Packet::new_checked(&bytes[..]).unwrap();
        let r = TcpRepr::parse(&p, SRC, DST, true).unwrap();
        let mut out = vec![0u8; r.buffer_len()];
        r.emit_with_payload(&mut Packet::new_unchecked(&mut out[..]), SRC, DST, true);
        assert_eq!(out, bytes);
    }

    #[test]
    fn bad_checksum_is_rejected_only_when_verifying() {
        let mut bytes = syn_ack_bytes();
        bytes[5] ^= 1;
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true), Err(Error::BadChecksum));
        assert!(TcpRepr::parse(&p, SRC, DST, false).is_ok());
    }

    #[test]
    fn data_offset_limits() {
        let mut bytes = syn_ack_bytes();
        assert_eq!(Packet::new_checked(&bytes[..19]).err(), Some(Error::Truncated));
        bytes[12] = 4 << 4;
        assert_eq!(Packet::new_checked(&bytes[..]).err(), Some(Error::BadLength));
        bytes[12] = 11 << 4; // 44 bytes, buffer has 40
        assert_eq!(Packet::new_checked(&bytes[..]).err(), Some(Error::BadLength));
        bytes[12] = 5 << 4;
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload().len(), 20);
    }

    #[test]
    fn malformed_option_fails_the_parse() {
        let mut bytes = syn_ack_bytes();
        bytes[21] = 5; // MSS length 5
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, false), Err(Error::BadLength));
    }

    #[test]
    fn aligned_timestamps_take_the_shortcut_and_agree_with_the_general_path() {
        let mut r = TcpRepr::new(1000, 2000, SeqNumber(5));
        r.ack = Some(SeqNumber(6));
        r.flags = TcpFlags::ACK;
        r.timestamps = Some((0x0102_0304, 0xa0b0_c0d0));
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
        assert_eq!(&buf[20..24], &[1, 1, 8, 10]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true), Ok(r));
        let general: Vec<_> = p.option_iter().collect();
        assert_eq!(
            general.last(),
            Some(&Ok(TcpOption::Timestamps { tsval: 0x0102_0304, tsecr: 0xa0b0_c0d0 }))
        );
        // The same bytes with a wrong length are not the shortcut's to accept.
        buf[23] = 9;
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, false), Err(Error::BadLength));
    }

    #[test]
    fn zero_port_is_malformed() {
        let mut bytes = syn_ack_bytes();
        bytes[0..2].copy_from_slice(&[0, 0]);
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(TcpRepr::parse(&p, SRC, DST, false), Err(Error::Malformed));
    }

    #[test]
    fn emit_header_with_payload_sum_matches_reference() {
        let payload = b"hello, odd-length payload";
        let mut r = TcpRepr::new(1234, 80, SeqNumber(7));
        r.ack = Some(SeqNumber(99));
        r.flags = TcpFlags::PSH | TcpFlags::ACK;
        r.window = 512;
        r.timestamps = Some((1, 2));
        r.sack_blocks = SackBlocks::from_slice(&[(SeqNumber(10), SeqNumber(20))]);
        r.payload = payload;
        let mut frame = vec![0u8; r.buffer_len()];
        let hl = r.header_len();
        assert_eq!(hl, 20 + 12 + 12);
        let sum = checksum::copy_and_sum(&mut frame[hl..], payload);
        r.emit_header(&mut Packet::new_unchecked(&mut frame[..]), SRC, DST, Some(sum));
        let p = Packet::new_checked(&frame[..]).unwrap();
        assert_eq!(p.checksum(), {
            let mut z = frame.clone();
            z[16..18].fill(0);
            reference_checksum(&z)
        });
        assert_eq!(TcpRepr::parse(&p, SRC, DST, true).unwrap(), r);
        assert_eq!(p.flags(), TcpFlags::PSH | TcpFlags::ACK);
    }

    #[test]
    fn sack_blocks_that_do_not_fit_are_dropped() {
        let blocks: Vec<_> =
            (0..4u32).map(|i| (SeqNumber(i * 100), SeqNumber(i * 100 + 50))).collect();
        let mut r = TcpRepr::new(1, 2, SeqNumber(0));
        r.sack_blocks = SackBlocks::from_slice(&blocks);
        assert_eq!(r.header_len(), 20 + 4 + 32);
        r.timestamps = Some((5, 6));
        assert_eq!(r.sack_blocks_sent(), &blocks[..3]);
        assert_eq!(r.header_len(), 60);
        let mut buf = vec![0u8; r.buffer_len()];
        r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
        let p = Packet::new_checked(&buf[..]).unwrap();
        let back = TcpRepr::parse(&p, SRC, DST, true).unwrap();
        assert_eq!(back.sack_blocks.as_slice(), &blocks[..3]);
    }

    #[test]
    fn flags_debug_names_each_bit() {
        assert_eq!(format!("{:?}", TcpFlags::SYN | TcpFlags::ACK), "SYN|ACK");
        assert_eq!(format!("{:?}", TcpFlags::from_bits(0xff)), "FIN|SYN|RST|PSH|ACK|URG|ECE|CWR");
        assert_eq!(format!("{:?}", TcpFlags::empty()), "(none)");
        let mut f = TcpFlags::empty();
        f.set(TcpFlags::FIN, true);
        f |= TcpFlags::CWR;
        assert_eq!(f.bits(), 0x81);
        f.remove(TcpFlags::FIN);
        assert_eq!(f, TcpFlags::CWR);
        assert!(f.intersects(TcpFlags::CWR | TcpFlags::SYN));
        assert!(!f.contains(TcpFlags::CWR | TcpFlags::SYN));
    }
}
