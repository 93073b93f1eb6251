//! Header prediction's precomputed word (Van Jacobson's "4BSD TCP header prediction", 1990;
//! Linux keeps the same thing as `tp->pred_flags` for `tcp_rcv_established`).
//!
//! On an established connection nearly every segment is the next one in sequence, with ACK
//! (and perhaps PSH) set and nothing else, no SACK blocks, and the timestamp option exactly
//! when timestamps were negotiated. What such a segment looks like is known before it
//! arrives, so the test is one compare of a byte made from the segment's header against a
//! byte the connection keeps, [`Prediction`], instead of a walk through RFC 9293
//! §3.10.7.4's checks. The connection refreshes the byte when what it encodes changes (its
//! state: only ESTABLISHED predicts); the few per-segment facts that cannot be precomputed
//! (sequence number, ACK range, window room, PAWS) are compared in `tcp::input`.

use super::segment::{Flags, Segment};

/// Bits of a segment's [`shape`].
const ACK: u8 = 1 << 0;
/// No control bit beyond ACK and PSH (no SYN, FIN, RST, URG; ECE/CWR go the full way too).
const PLAIN: u8 = 1 << 1;
/// No SACK blocks (the scoreboard and DSACK logic have nothing to read).
const NO_SACK: u8 = 1 << 2;
/// The timestamp option is present.
const TS: u8 = 1 << 3;
/// Values [`shape`] never produces: prediction off for now (not ESTABLISHED), and off for
/// good (`Connection::set_header_prediction`).
const NEVER: u8 = 1 << 7;
const DISABLED: u8 = 1 << 6;

/// What the next segment is expected to look like, as one byte (Linux `pred_flags`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Prediction {
    expected: u8,
}

impl Prediction {
    /// Nothing is predicted (any state but ESTABLISHED, or prediction turned off).
    pub(super) const OFF: Prediction = Prediction { expected: NEVER };

    /// Nothing is predicted, whatever the state.
    pub(super) const DISABLED: Prediction = Prediction { expected: DISABLED };

    /// The prediction for a connection entering a state: armed in ESTABLISHED
    /// (`established`), off otherwise, and disabled for good once disabled.
    pub(super) fn for_state(self, established: bool, timestamps: bool) -> Prediction {
        match (self == Self::DISABLED, established) {
            (true, _) => Self::DISABLED,
            (false, true) => Self::armed(timestamps),
            (false, false) => Self::OFF,
        }
    }

    /// An ACK (PSH allowed) without SACK blocks, carrying timestamps iff `timestamps`
    /// (RFC 7323 §3.2: once negotiated, every segment carries them).
    pub(super) fn armed(timestamps: bool) -> Prediction {
        Prediction { expected: ACK | PLAIN | NO_SACK | if timestamps { TS } else { 0 } }
    }

    /// Whether `seg`'s header is the predicted one.
    #[inline]
    pub(super) fn matches(self, seg: &Segment<'_>) -> bool {
        shape(seg) == self.expected
    }
}

/// The bits of `seg`'s header that prediction compares.
#[inline]
fn shape(seg: &Segment<'_>) -> u8 {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    bit(seg.ack.is_some(), ACK)
        | bit(seg.flags.without(Flags::ACK | Flags::PSH) == Flags::NONE, PLAIN)
        | bit(seg.options.sack_blocks.is_empty(), NO_SACK)
        | bit(seg.options.timestamps.is_some(), TS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::{SegmentOptions, SeqNumber};

    fn seg(flags: Flags, ack: bool, ts: bool) -> Segment<'static> {
        Segment {
            seq: SeqNumber(1),
            ack: ack.then_some(SeqNumber(2)),
            flags,
            window: 100,
            options: SegmentOptions {
                timestamps: ts.then_some((1, 2)),
                ..SegmentOptions::default()
            },
            payload: b"",
        }
    }

    #[test]
    fn only_the_expected_shape_matches() {
        let p = Prediction::armed(true);
        assert!(p.matches(&seg(Flags::ACK, true, true)));
        assert!(p.matches(&seg(Flags::ACK | Flags::PSH, true, true)));
        assert!(!p.matches(&seg(Flags::ACK, true, false)), "timestamp missing");
        assert!(!p.matches(&seg(Flags::NONE, false, true)), "no ACK");
        for f in [Flags::FIN, Flags::SYN, Flags::RST, Flags::URG, Flags::ECE, Flags::CWR] {
            assert!(!p.matches(&seg(Flags::ACK | f, true, true)), "{f:?}");
        }
        let mut sacked = seg(Flags::ACK, true, true);
        sacked.options.sack_blocks.push(SeqNumber(5), SeqNumber(9));
        assert!(!p.matches(&sacked));
        assert!(Prediction::armed(false).matches(&seg(Flags::ACK, true, false)));
        assert!(!Prediction::armed(false).matches(&seg(Flags::ACK, true, true)));
        assert!(!Prediction::OFF.matches(&seg(Flags::ACK, true, true)));
        assert!(!Prediction::OFF.matches(&seg(Flags::ACK, true, false)));
        let off = Prediction::DISABLED;
        assert!(!off.for_state(true, true).matches(&seg(Flags::ACK, true, true)));
        assert!(!off.for_state(true, false).matches(&seg(Flags::ACK, true, false)));
        assert_eq!(Prediction::armed(true).for_state(false, true), Prediction::OFF);
    }
}
