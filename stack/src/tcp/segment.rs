//! The engine's own view of a TCP segment header.
//!
//! The connection engine does not depend on the wire parser: the integrator copies the fields
//! of a parsed `wire::tcp` header into a [`Segment`] (and back from a [`Transmit`]). Keeping the
//! type plain lets the state machine be tested with hand-written packet traces. The vocabulary
//! it shares with the wire format (sequence numbers, flags, SACK blocks) is the wire format's.

use super::SeqNumber;

/// TCP control bits: the wire format's own type, under the engine's short name.
pub use crate::wire::tcp::TcpFlags as Flags;
/// SACK blocks: the wire format's own inline array of `(left, right)` edges.
pub use crate::wire::tcp_options::{SackBlocks, MAX_SACK_BLOCKS};

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
/// most three pieces (one per buffer chunk it spans: two for a 1448-byte segment, three for a
/// jumbo one of 8948). The caller writes the pieces, in order, straight into its TX frame.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct Transmit<'a> {
    /// The header fields.
    pub header: SegmentHeader,
    /// Payload pieces in order; the later ones are empty when the earlier hold it all.
    pub payload: [&'a [u8]; 3],
    /// Mark the IP header ECT(0) (RFC 3168 §6.1.5: new data of an ECN connection only; pure
    /// ACKs, retransmissions and probes go Not-ECT).
    pub ect: bool,
}

impl<'a> Transmit<'a> {
    /// Total payload length.
    pub fn payload_len(&self) -> usize {
        self.payload[0].len() + self.payload[1].len() + self.payload[2].len()
    }

    /// Copies the payload into `out` (which must hold `payload_len()` bytes) and returns the
    /// equivalent received [`Segment`]; used by tests and loopback paths.
    pub fn to_segment<'b>(&self, out: &'b mut [u8]) -> Segment<'b> {
        let mut n = 0;
        for piece in self.payload {
            let take = piece.len().min(out.len() - n);
            out[n..n + take].copy_from_slice(&piece[..take]);
            n += take;
        }
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
}
