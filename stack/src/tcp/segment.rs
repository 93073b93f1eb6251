//! The engine's own view of a TCP segment header.
//!
//! The connection engine does not depend on the wire parser: the integrator copies the fields
//! of a parsed `wire::tcp` header into a [`Segment`] (and back from a [`Transmit`]). Keeping the
//! type plain lets the state machine be tested with hand-written packet traces.

use super::SeqNumber;

/// TCP control bits (RFC 9293 §3.1, RFC 3168 for ECE/CWR), as a small `Copy` bit set.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// No more data from sender.
    pub const FIN: Flags = Flags(0x01);
    /// Synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// Reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// Push function.
    pub const PSH: Flags = Flags(0x08);
    /// Acknowledgment field is significant.
    pub const ACK: Flags = Flags(0x10);
    /// Urgent pointer is significant (ignored by this engine).
    pub const URG: Flags = Flags(0x20);
    /// ECN echo.
    pub const ECE: Flags = Flags(0x40);
    /// Congestion window reduced.
    pub const CWR: Flags = Flags(0x80);
    /// The empty set.
    pub const NONE: Flags = Flags(0);

    /// The raw bits in wire order (low byte of the TCP flags field).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Flags from raw bits as on the wire.
    pub const fn from_bits(bits: u8) -> Flags {
        Flags(bits)
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// `self` with the flags of `other` added.
    pub const fn with(self, other: Flags) -> Flags {
        Flags(self.0 | other.0)
    }

    /// `self` with the flags of `other` removed.
    pub const fn without(self, other: Flags) -> Flags {
        Flags(self.0 & !other.0)
    }

    /// Whether FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }
    /// Whether SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }
    /// Whether RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Flags::RST)
    }
    /// Whether ACK is set.
    pub const fn ack(self) -> bool {
        self.contains(Flags::ACK)
    }
}

impl core::ops::BitOr for Flags {
    type Output = Flags;
    fn bitor(self, rhs: Flags) -> Flags {
        self.with(rhs)
    }
}

impl core::fmt::Debug for Flags {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        const NAMES: [(&str, Flags); 8] = [
            ("SYN", Flags::SYN),
            ("FIN", Flags::FIN),
            ("RST", Flags::RST),
            ("PSH", Flags::PSH),
            ("ACK", Flags::ACK),
            ("URG", Flags::URG),
            ("ECE", Flags::ECE),
            ("CWR", Flags::CWR),
        ];
        let mut first = true;
        for (name, flag) in NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        if first {
            f.write_str("-")?;
        }
        Ok(())
    }
}

/// At most this many SACK blocks fit in a TCP header (RFC 2018 §3; three with timestamps).
pub const MAX_SACK_BLOCKS: usize = 4;

/// SACK blocks as a fixed array: `(left edge, right edge)` pairs, `len` of them valid.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct SackBlocks {
    blocks: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks =
        SackBlocks { blocks: [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS], len: 0 };

    /// Appends a block; returns `false` (and drops it) when full.
    pub fn push(&mut self, left: SeqNumber, right: SeqNumber) -> bool {
        match self.blocks.get_mut(usize::from(self.len)) {
            Some(slot) => {
                *slot = (left, right);
                self.len += 1;
                true
            }
            None => false,
        }
    }

    /// Keeps only the first `n` blocks.
    pub fn truncate(&mut self, n: usize) {
        if n < usize::from(self.len) {
            self.len = n as u8;
        }
    }

    /// The valid blocks.
    pub fn as_slice(&self) -> &[(SeqNumber, SeqNumber)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Number of valid blocks.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether there are no blocks.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// The ECN codepoint of an arriving segment's IP header (RFC 3168 §5), passed to
/// [`Connection::on_segment_ecn`](super::Connection::on_segment_ecn).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum IpEcn {
    /// Not ECN-capable transport (`00`).
    #[default]
    NotEct,
    /// ECT(1) (`01`).
    Ect1,
    /// ECT(0) (`10`).
    Ect0,
    /// Congestion experienced (`11`).
    Ce,
}

impl IpEcn {
    /// From the two ECN bits of the IPv4 TOS / IPv6 traffic-class byte.
    pub const fn from_bits(bits: u8) -> IpEcn {
        match bits & 0b11 {
            0b01 => IpEcn::Ect1,
            0b10 => IpEcn::Ect0,
            0b11 => IpEcn::Ce,
            _ => IpEcn::NotEct,
        }
    }

    /// The two ECN bits.
    pub const fn bits(self) -> u8 {
        match self {
            IpEcn::NotEct => 0b00,
            IpEcn::Ect1 => 0b01,
            IpEcn::Ect0 => 0b10,
            IpEcn::Ce => 0b11,
        }
    }
}

/// The TCP options the engine understands.
#[derive(Clone, Copy, PartialEq, Eq, Default, Debug)]
pub struct SegmentOptions {
    /// Maximum segment size (RFC 9293 §3.7.1); only meaningful on SYNs.
    pub mss: Option<u16>,
    /// Window scale shift (RFC 7323 §2); only meaningful on SYNs.
    pub window_scale: Option<u8>,
    /// SACK-permitted (RFC 2018 §2); only meaningful on SYNs.
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018 §3).
    pub sack_blocks: SackBlocks,
    /// Timestamps `(TSval, TSecr)` (RFC 7323 §3).
    pub timestamps: Option<(u32, u32)>,
}

/// A received TCP segment, as the engine sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Segment<'a> {
    /// Sequence number of the first octet (or of the SYN).
    pub seq: SeqNumber,
    /// Acknowledgment number, present iff the ACK flag is set.
    pub ack: Option<SeqNumber>,
    /// Control bits. The ACK bit is implied by `ack.is_some()`.
    pub flags: Flags,
    /// Window field as on the wire (not scaled).
    pub window: u16,
    /// Options.
    pub options: SegmentOptions,
    /// Payload bytes.
    pub payload: &'a [u8],
}

impl<'a> Segment<'a> {
    /// Length in sequence space: payload plus one each for SYN and FIN (RFC 9293 §3.4).
    pub fn seq_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// The header for the RST that answers this segment when no connection exists for it
    /// (RFC 9293 §3.10.7.1). `None` if the segment itself is a RST (never answer a RST).
    pub fn reset_reply(&self) -> Option<SegmentHeader> {
        if self.flags.rst() {
            return None;
        }
        Some(match self.ack {
            // If the offending segment has an ACK, the RST takes its sequence number from it.
            Some(ack) => SegmentHeader {
                seq: ack,
                ack: None,
                flags: Flags::RST,
                window: 0,
                options: SegmentOptions::default(),
            },
            // Otherwise the RST has sequence zero and acknowledges the whole segment.
            None => SegmentHeader {
                seq: SeqNumber(0),
                ack: Some(self.seq + self.seq_len()),
                flags: Flags::RST | Flags::ACK,
                window: 0,
                options: SegmentOptions::default(),
            },
        })
    }
}

/// The header fields of an outgoing segment (everything but the payload).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct SegmentHeader {
    /// Sequence number.
    pub seq: SeqNumber,
    /// Acknowledgment number; `Some` iff `flags` has ACK.
    pub ack: Option<SeqNumber>,
    /// Control bits.
    pub flags: Flags,
    /// Window field as it goes on the wire (already scaled down).
    pub window: u16,
    /// Options to emit.
    pub options: SegmentOptions,
}

/// An outgoing segment: header fields plus the payload, borrowed from the send buffer in at
/// most two pieces (the ring may wrap). The caller writes both pieces, in order, straight into
/// its TX frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transmit<'a> {
    /// The header fields.
    pub header: SegmentHeader,
    /// Payload, first piece then second piece.
    pub payload: [&'a [u8]; 2],
    /// Mark the IP header ECT(0) (RFC 3168 §6.1.5: new data of an ECN connection only; pure
    /// ACKs, retransmissions and probes go Not-ECT).
    pub ect: bool,
}

impl<'a> Transmit<'a> {
    /// Total payload length.
    pub fn payload_len(&self) -> usize {
        self.payload[0].len() + self.payload[1].len()
    }

    /// Copies the payload into `out` (which must hold `payload_len()` bytes) and returns the
    /// equivalent received [`Segment`]; used by tests and loopback paths.
    pub fn to_segment<'b>(&self, out: &'b mut [u8]) -> Segment<'b> {
        let (a, b) = (self.payload[0], self.payload[1]);
        let n = (a.len() + b.len()).min(out.len());
        let first = a.len().min(n);
        out[..first].copy_from_slice(&a[..first]);
        out[first..n].copy_from_slice(&b[..n - first]);
        Segment {
            seq: self.header.seq,
            ack: self.header.ack,
            flags: self.header.flags,
            window: self.header.window,
            options: self.header.options,
            payload: &out[..n],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_reply_follows_rfc() {
        let syn = Segment {
            seq: SeqNumber(100),
            ack: None,
            flags: Flags::SYN,
            window: 1000,
            options: SegmentOptions::default(),
            payload: b"ab",
        };
        let r = syn.reset_reply().unwrap();
        assert_eq!(r.seq, SeqNumber(0));
        assert_eq!(r.ack, Some(SeqNumber(103)));
        assert_eq!(r.flags, Flags::RST | Flags::ACK);

        let ack = Segment { ack: Some(SeqNumber(7)), flags: Flags::ACK, ..syn };
        let r = ack.reset_reply().unwrap();
        assert_eq!(r.seq, SeqNumber(7));
        assert_eq!(r.flags, Flags::RST);

        let rst = Segment { flags: Flags::RST, ..syn };
        assert!(rst.reset_reply().is_none());
    }

    #[test]
    fn sack_blocks_are_bounded() {
        let mut s = SackBlocks::EMPTY;
        for i in 0..5u32 {
            let pushed = s.push(SeqNumber(i), SeqNumber(i + 1));
            assert_eq!(pushed, i < 4);
        }
        assert_eq!(s.len(), 4);
        s.truncate(3);
        assert_eq!(s.as_slice().len(), 3);
        assert_eq!(format!("{:?}", Flags::SYN | Flags::ACK), "SYN|ACK");
    }
}
