//! TCP options (RFC 9293 §3.2, RFC 7323 §2-3, RFC 2018 §2-3): a non-allocating parser over the
//! option bytes of a header, and an emitter that pads to a 32-bit boundary.
//!
//! Every option but End-of-List and No-Operation is `kind, length, data`, where the length
//! counts the kind and length bytes. The length is what lets a receiver skip an option it does
//! not know (RFC 9293 §3.2: a TCP must be prepared to handle an illegal length, and must ignore
//! options it does not implement), so a length that cannot be right is the one thing the
//! parser refuses: below 2, past the end of the option space, or different from the fixed
//! length of a kind we know.

use super::seq::SeqNumber;
use super::{Error, Result};
use core::fmt;

/// Option kinds assigned by IANA that this stack understands.
pub mod kind {
    /// End of option list (RFC 9293 §3.2).
    pub const END_OF_LIST: u8 = 0;
    /// No-operation, used as padding between options (RFC 9293 §3.2).
    pub const NO_OPERATION: u8 = 1;
    /// Maximum segment size (RFC 9293 §3.2, §3.7.1).
    pub const MAX_SEGMENT_SIZE: u8 = 2;
    /// Window scale shift count (RFC 7323 §2.2).
    pub const WINDOW_SCALE: u8 = 3;
    /// SACK permitted, sent on SYNs only (RFC 2018 §2).
    pub const SACK_PERMITTED: u8 = 4;
    /// SACK blocks (RFC 2018 §3).
    pub const SACK: u8 = 5;
    /// Timestamps TSval/TSecr (RFC 7323 §3.2).
    pub const TIMESTAMPS: u8 = 8;
}

/// Total length (kind and length bytes included) of the fixed-length options.
mod fixed_len {
    pub const MAX_SEGMENT_SIZE: usize = 4;
    pub const WINDOW_SCALE: usize = 3;
    pub const SACK_PERMITTED: usize = 2;
    pub const TIMESTAMPS: usize = 10;
}

/// The largest shift count a window scale option may carry (RFC 7323 §2.3: a larger value is
/// logged and treated as 14, so that the scaled window stays below 2^30).
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Room for options in a TCP header: a data offset of 15 words minus the fixed 20 bytes.
pub const MAX_OPTIONS_LEN: usize = 40;

/// The most SACK blocks one option can carry: (40 - 2) / 8 = 4 (RFC 2018 §3).
pub const MAX_SACK_BLOCKS: usize = 4;

/// Up to four SACK blocks `(left edge, right edge)`, stored inline so that a parsed option
/// never allocates. Unused entries are kept zero, but equality only looks at the used ones.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(SeqNumber, SeqNumber); MAX_SACK_BLOCKS],
    len: u8,
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks =
        SackBlocks { blocks: [(SeqNumber(0), SeqNumber(0)); MAX_SACK_BLOCKS], len: 0 };

    /// No blocks.
    pub const fn new() -> SackBlocks {
        SackBlocks::EMPTY
    }

    /// Up to the first four blocks of `blocks`; the rest are dropped, as a sender fills the
    /// option with as many blocks as fit (RFC 2018 §4).
    pub fn from_slice(blocks: &[(SeqNumber, SeqNumber)]) -> SackBlocks {
        let mut out = SackBlocks::new();
        for &(left, right) in blocks.iter().take(MAX_SACK_BLOCKS) {
            out.push(left, right);
        }
        out
    }

    /// Appends a block; returns `false` (and drops it) when four are already held.
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
        while usize::from(self.len) > n {
            self.len -= 1;
            self.blocks[usize::from(self.len)] = (SeqNumber(0), SeqNumber(0));
        }
    }

    /// The blocks in the order they were received or pushed.
    pub fn as_slice(&self) -> &[(SeqNumber, SeqNumber)] {
        // `len` never exceeds MAX_SACK_BLOCKS: `push` is the only place that raises it.
        &self.blocks[..usize::from(self.len)]
    }

    /// Number of blocks held.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether no block is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Wire length of a SACK option carrying these blocks: 2 + 8 per block.
    pub fn option_len(&self) -> usize {
        2 + 8 * self.len()
    }
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// One TCP option, borrowed from the header it was parsed from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpOption<'a> {
    /// Kind 0: the end of the option list; what follows is padding.
    EndOfList,
    /// Kind 1: one byte of padding.
    NoOperation,
    /// Kind 2: the largest segment the sender can receive.
    MaxSegmentSize(u16),
    /// Kind 3: the sender's receive-window shift count, at most 14 once parsed.
    WindowScale(u8),
    /// Kind 4: the sender can receive SACK options.
    SackPermitted,
    /// Kind 5: one to four blocks of data received out of order.
    SackRange(SackBlocks),
    /// Kind 8: RFC 7323 timestamps.
    Timestamps {
        /// The sender's timestamp clock.
        tsval: u32,
        /// The echoed timestamp, meaningful only when ACK is set.
        tsecr: u32,
    },
    /// Any other kind, kept so a caller can log or count it.
    Unknown {
        /// The option kind.
        kind: u8,
        /// The option data, without the kind and length bytes.
        data: &'a [u8],
    },
}

#[inline]
fn be_u16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

#[inline]
fn be_u32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl<'a> TcpOption<'a> {
    /// Parses the option at the start of `buf` and returns it with the number of bytes it
    /// occupies. `buf` must not be empty; an empty buffer is `Truncated`.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<(TcpOption<'a>, usize)> {
        let (&kind, rest) = buf.split_first().ok_or(Error::Truncated)?;
        match kind {
            kind::END_OF_LIST => return Ok((TcpOption::EndOfList, 1)),
            kind::NO_OPERATION => return Ok((TcpOption::NoOperation, 1)),
            _ => {}
        }
        // RFC 9293 §3.2: every other option has a length octet that counts itself and the
        // kind octet; it must be at least 2 and must stay inside the option space.
        let len = usize::from(*rest.first().ok_or(Error::BadLength)?);
        if len < 2 {
            return Err(Error::BadLength);
        }
        let data = buf.get(2..len).ok_or(Error::BadLength)?;
        let fixed = |want: usize| if len == want { Ok(()) } else { Err(Error::BadLength) };
        let option = match kind {
            kind::MAX_SEGMENT_SIZE => {
                fixed(fixed_len::MAX_SEGMENT_SIZE)?;
                TcpOption::MaxSegmentSize(be_u16(data))
            }
            kind::WINDOW_SCALE => {
                fixed(fixed_len::WINDOW_SCALE)?;
                // RFC 7323 §2.3: a shift above 14 is used as 14.
                TcpOption::WindowScale(data[0].min(MAX_WINDOW_SCALE))
            }
            kind::SACK_PERMITTED => {
                fixed(fixed_len::SACK_PERMITTED)?;
                TcpOption::SackPermitted
            }
            kind::SACK => {
                // RFC 2018 §3: length is 8n + 2 for n blocks; n = 0 carries nothing and more
                // than 4 cannot fit a legal header.
                let n = data.len() / 8;
                if data.len() % 8 != 0 || n == 0 || n > MAX_SACK_BLOCKS {
                    return Err(Error::BadLength);
                }
                let mut blocks = SackBlocks::new();
                for b in data.chunks_exact(8) {
                    blocks.push(SeqNumber(be_u32(&b[..4])), SeqNumber(be_u32(&b[4..])));
                }
                TcpOption::SackRange(blocks)
            }
            kind::TIMESTAMPS => {
                fixed(fixed_len::TIMESTAMPS)?;
                TcpOption::Timestamps { tsval: be_u32(&data[..4]), tsecr: be_u32(&data[4..]) }
            }
            kind => TcpOption::Unknown { kind, data },
        };
        Ok((option, len))
    }

    /// Bytes this option occupies on the wire (no padding).
    pub fn buffer_len(&self) -> usize {
        match self {
            TcpOption::EndOfList | TcpOption::NoOperation => 1,
            TcpOption::MaxSegmentSize(_) => fixed_len::MAX_SEGMENT_SIZE,
            TcpOption::WindowScale(_) => fixed_len::WINDOW_SCALE,
            TcpOption::SackPermitted => fixed_len::SACK_PERMITTED,
            TcpOption::SackRange(blocks) => blocks.option_len(),
            TcpOption::Timestamps { .. } => fixed_len::TIMESTAMPS,
            TcpOption::Unknown { data, .. } => 2 + data.len(),
        }
    }

    /// Writes this option at the start of `buf` and returns the bytes written.
    ///
    /// # Panics
    /// If `buf` is shorter than [`buffer_len`](Self::buffer_len), or an `Unknown` option's
    /// data is longer than 253 bytes: both are bugs of the caller, never of the peer.
    pub fn emit(&self, buf: &mut [u8]) -> usize {
        let len = self.buffer_len();
        let buf = &mut buf[..len];
        match *self {
            TcpOption::EndOfList => buf[0] = kind::END_OF_LIST,
            TcpOption::NoOperation => buf[0] = kind::NO_OPERATION,
            TcpOption::MaxSegmentSize(mss) => {
                buf[0] = kind::MAX_SEGMENT_SIZE;
                buf[2..4].copy_from_slice(&mss.to_be_bytes());
            }
            TcpOption::WindowScale(shift) => {
                buf[0] = kind::WINDOW_SCALE;
                buf[2] = shift;
            }
            TcpOption::SackPermitted => buf[0] = kind::SACK_PERMITTED,
            TcpOption::SackRange(ref blocks) => {
                buf[0] = kind::SACK;
                for (chunk, (left, right)) in buf[2..].chunks_exact_mut(8).zip(blocks.as_slice()) {
                    chunk[..4].copy_from_slice(&left.0.to_be_bytes());
                    chunk[4..].copy_from_slice(&right.0.to_be_bytes());
                }
            }
            TcpOption::Timestamps { tsval, tsecr } => {
                buf[0] = kind::TIMESTAMPS;
                buf[2..6].copy_from_slice(&tsval.to_be_bytes());
                buf[6..10].copy_from_slice(&tsecr.to_be_bytes());
            }
            TcpOption::Unknown { kind, data } => {
                buf[0] = kind;
                buf[2..].copy_from_slice(data);
            }
        }
        if len >= 2 {
            // Only reachable for data up to 253 bytes; longer is a caller bug (see above).
            buf[1] = u8::try_from(len).expect("TCP option longer than 255 bytes");
        }
        len
    }
}

/// Iterator over the options of a header. Yields `Err` once for a malformed option and then
/// stops; stops after `EndOfList`. It never allocates and always makes progress, so it ends
/// on any input.
#[derive(Debug, Clone)]
pub struct TcpOptions<'a> {
    rest: &'a [u8],
}

impl<'a> TcpOptions<'a> {
    /// Iterates over the option bytes of a header (everything between byte 20 and the data
    /// offset).
    pub fn new(options: &'a [u8]) -> TcpOptions<'a> {
        TcpOptions { rest: options }
    }
}

impl<'a> Iterator for TcpOptions<'a> {
    type Item = Result<TcpOption<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        match TcpOption::parse(self.rest) {
            Ok((option, len)) => {
                self.rest = match option {
                    // RFC 9293 §3.2: End-of-List closes the list; what follows is padding.
                    TcpOption::EndOfList => &[],
                    _ => self.rest.get(len..).unwrap_or(&[]),
                };
                Some(Ok(option))
            }
            Err(e) => {
                self.rest = &[];
                Some(Err(e))
            }
        }
    }
}

/// Bytes needed to emit `options` in order, rounded up to a multiple of 4.
pub fn buffer_len(options: &[TcpOption<'_>]) -> usize {
    let raw: usize = options.iter().map(TcpOption::buffer_len).sum();
    (raw + 3) & !3
}

/// Emits `options` in order into `buf`, pads with No-Operation to a multiple of 4 and returns
/// the padded length ([`buffer_len`]).
///
/// # Panics
/// If `buf` is shorter than [`buffer_len`] of `options`.
pub fn emit(options: &[TcpOption<'_>], buf: &mut [u8]) -> usize {
    let mut at = 0;
    for option in options {
        at += option.emit(&mut buf[at..]);
    }
    let padded = (at + 3) & !3;
    buf[at..padded].fill(kind::NO_OPERATION);
    padded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Vec<Result<TcpOption<'_>>> {
        TcpOptions::new(bytes).collect()
    }

    #[test]
    fn parses_a_linux_syn() {
        // MSS 1460, SACK permitted, timestamps, NOP, window scale 7: what Linux sends.
        let bytes = [2, 4, 0x05, 0xb4, 4, 2, 8, 10, 0, 0, 0, 1, 0, 0, 0, 0, 1, 3, 3, 7];
        let got = collect(&bytes);
        assert_eq!(
            got,
            vec![
                Ok(TcpOption::MaxSegmentSize(1460)),
                Ok(TcpOption::SackPermitted),
                Ok(TcpOption::Timestamps { tsval: 1, tsecr: 0 }),
                Ok(TcpOption::NoOperation),
                Ok(TcpOption::WindowScale(7)),
            ]
        );
    }

    #[test]
    fn end_of_list_stops_parsing() {
        let got = collect(&[1, 0, 2, 4, 1, 1]);
        assert_eq!(got, vec![Ok(TcpOption::NoOperation), Ok(TcpOption::EndOfList)]);
    }

    #[test]
    fn unknown_options_are_skipped_by_length() {
        let got = collect(&[30, 4, 0xaa, 0xbb, 2, 4, 0, 100]);
        assert_eq!(
            got,
            vec![
                Ok(TcpOption::Unknown { kind: 30, data: &[0xaa, 0xbb] }),
                Ok(TcpOption::MaxSegmentSize(100)),
            ]
        );
    }

    #[test]
    fn malformed_lengths_are_rejected() {
        for bad in [
            &[30u8, 0][..],               // length below 2
            &[30, 1],                     // length below 2
            &[30, 5, 0, 0],               // overruns the space
            &[30],                        // length byte missing
            &[2, 3, 0],                   // MSS with length 3
            &[2, 5, 0, 0, 0],             // MSS with length 5
            &[3, 4, 0, 0],                // window scale with length 4
            &[4, 3, 0],                   // SACK permitted with length 3
            &[8, 9, 0, 0, 0, 0, 0, 0, 0], // timestamps with length 9
            &[5, 2],                      // SACK with no block
            &[5, 9, 0, 0, 0, 0, 0, 0, 0], // SACK with a partial block
        ] {
            let got = collect(bad);
            assert_eq!(got.last(), Some(&Err(Error::BadLength)), "{bad:?}");
            assert_eq!(got.iter().filter(|r| r.is_err()).count(), 1, "{bad:?}");
        }
    }

    #[test]
    fn window_scale_is_clamped_to_14() {
        assert_eq!(collect(&[3, 3, 15]), vec![Ok(TcpOption::WindowScale(14))]);
        assert_eq!(collect(&[3, 3, 255]), vec![Ok(TcpOption::WindowScale(14))]);
        assert_eq!(collect(&[3, 3, 14]), vec![Ok(TcpOption::WindowScale(14))]);
        assert_eq!(collect(&[3, 3, 13]), vec![Ok(TcpOption::WindowScale(13))]);
    }

    #[test]
    fn sack_blocks_parse_in_order() {
        let bytes = [5, 18, 0, 0, 0, 10, 0, 0, 0, 20, 0xff, 0xff, 0xff, 0xf0, 0, 0, 0, 5];
        let got = collect(&bytes);
        let want = SackBlocks::from_slice(&[
            (SeqNumber(10), SeqNumber(20)),
            (SeqNumber(0xffff_fff0), SeqNumber(5)),
        ]);
        assert_eq!(got, vec![Ok(TcpOption::SackRange(want))]);
    }

    #[test]
    fn emit_pads_with_nops_and_round_trips() {
        let blocks = SackBlocks::from_slice(&[(SeqNumber(1), SeqNumber(2))]);
        let options = [
            TcpOption::MaxSegmentSize(536),
            TcpOption::WindowScale(3),
            TcpOption::Timestamps { tsval: 0xdead_beef, tsecr: 7 },
            TcpOption::SackRange(blocks),
            TcpOption::Unknown { kind: 254, data: &[1, 2, 3] },
        ];
        let len = buffer_len(&options);
        assert_eq!(len, (4 + 3 + 10 + 10 + 5 + 3) & !3);
        let mut buf = [0xeeu8; 40];
        assert_eq!(emit(&options, &mut buf), len);
        assert!(buf[32..len].iter().all(|&b| b == kind::NO_OPERATION));
        assert_eq!(buf[len], 0xee, "emit wrote past its length");
        let parsed: Vec<_> = TcpOptions::new(&buf[..len])
            .map(|r| r.unwrap())
            .filter(|o| *o != TcpOption::NoOperation)
            .collect();
        assert_eq!(parsed, options);
    }

    #[test]
    fn sack_blocks_hold_at_most_four() {
        let mut b = SackBlocks::new();
        for i in 0..4 {
            assert!(b.push(SeqNumber(i), SeqNumber(i + 1)));
        }
        assert!(!b.push(SeqNumber(9), SeqNumber(10)));
        assert_eq!(b.len(), 4);
        assert_eq!(b.option_len(), 34);
        b.truncate(1);
        assert_eq!(b.as_slice(), &[(SeqNumber(0), SeqNumber(1))]);
        let mut c = SackBlocks::new();
        c.push(SeqNumber(0), SeqNumber(1));
        assert_eq!(b, c, "unused entries must not affect equality");
    }
}
