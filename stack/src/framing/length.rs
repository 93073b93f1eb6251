//! Messages preceded by their length.

use super::{Frame, FrameError, Framer};

/// How the length is written in front of a message (it counts the body only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prefix {
    /// 16-bit big-endian: bodies up to 65,535 bytes.
    U16,
    /// 32-bit big-endian.
    U32,
    /// Unsigned LEB128 (the varint of Protocol Buffers' length-delimited streams): 7 bits
    /// a byte, least significant first, the high bit set on every byte but the last; at
    /// most 10 bytes for 64 bits.
    Varint,
}

/// The longest varint: 64 bits in 7-bit groups.
const VARINT_MAX_LEN: usize = 10;

impl Prefix {
    /// The largest body the prefix can announce.
    pub fn max_body(self) -> usize {
        match self {
            Prefix::U16 => u16::MAX as usize,
            Prefix::U32 => u32::MAX as usize,
            Prefix::Varint => usize::MAX,
        }
    }

    /// Bytes the prefix of a `len`-byte body takes.
    pub fn len_of(self, len: usize) -> usize {
        match self {
            Prefix::U16 => 2,
            Prefix::U32 => 4,
            Prefix::Varint => (usize::BITS - (len | 1).leading_zeros()).div_ceil(7) as usize,
        }
    }

    /// Decodes a prefix at the start of `buf`: `Ok(Some((length, prefix bytes)))`,
    /// `Ok(None)` if incomplete. A varint still going on past `max_len` bytes announces more
    /// than the maximum (or pads its encoding beyond any need): `TooLong` at once, so no
    /// reader holds more than one encoded message for it.
    fn decode(self, buf: &[u8], max_len: usize) -> Result<Option<(u64, usize)>, FrameError> {
        match self {
            Prefix::U16 => {
                Ok(buf.first_chunk::<2>().map(|b| (u64::from(u16::from_be_bytes(*b)), 2)))
            }
            Prefix::U32 => {
                Ok(buf.first_chunk::<4>().map(|b| (u64::from(u32::from_be_bytes(*b)), 4)))
            }
            Prefix::Varint => {
                let mut value = 0u64;
                for (i, &b) in buf.iter().take(VARINT_MAX_LEN).enumerate() {
                    // The tenth byte holds bit 63 alone: anything more is past 64 bits.
                    if i == VARINT_MAX_LEN - 1 && b > 1 {
                        return Err(FrameError::BadLength);
                    }
                    value |= u64::from(b & 0x7f) << (7 * i);
                    if b & 0x80 == 0 {
                        return Ok(Some((value, i + 1)));
                    }
                    if i + 1 >= max_len {
                        return Err(FrameError::TooLong { max: usize::MAX });
                    }
                }
                Ok(None)
            }
        }
    }

    /// Appends the prefix for a `len`-byte body (which must fit, see [`max_body`](Self::max_body)).
    fn encode(self, len: usize, out: &mut Vec<u8>) {
        match self {
            Prefix::U16 => out.extend_from_slice(&(len as u16).to_be_bytes()),
            Prefix::U32 => out.extend_from_slice(&(len as u32).to_be_bytes()),
            Prefix::Varint => {
                let mut v = len as u64;
                while v >= 0x80 {
                    out.push((v as u8 & 0x7f) | 0x80);
                    v >>= 7;
                }
                out.push(v as u8);
            }
        }
    }
}

/// Messages preceded by their length.
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    prefix: Prefix,
    max: usize,
}

impl LengthPrefixed {
    /// Length of the 32-bit prefix of [`new`](Self::new) in bytes.
    pub const PREFIX: usize = 4;

    /// A framer with a 32-bit prefix that rejects bodies longer than `max` bytes as soon as
    /// their prefix arrives.
    pub fn new(max: usize) -> Self {
        Self::with_prefix(Prefix::U32, max)
    }

    /// A framer with `prefix` and bodies of at most `max` bytes (at most what the prefix can
    /// announce).
    pub fn with_prefix(prefix: Prefix, max: usize) -> Self {
        LengthPrefixed { prefix, max: max.min(prefix.max_body()) }
    }

    /// The prefix kind.
    pub fn prefix(&self) -> Prefix {
        self.prefix
    }

    /// The largest body accepted.
    pub fn max(&self) -> usize {
        self.max
    }

    /// Appends `body` with a 32-bit prefix to `out`. Fails if the body is longer than
    /// `u32::MAX`.
    pub fn encode(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        Self::new(u32::MAX as usize).encode_into(body, out)
    }

    /// Appends the prefix for a `len`-byte body to `out` (the body is the caller's to write
    /// after it, so it need not be copied twice). Fails if `len` is over the maximum.
    pub fn write_prefix(&self, len: usize, out: &mut Vec<u8>) -> Result<(), FrameError> {
        if len > self.max {
            return Err(FrameError::TooLong { max: self.max });
        }
        self.prefix.encode(len, out);
        Ok(())
    }

    /// Appends `body` with its prefix to `out`. Fails if it is over the maximum.
    pub fn encode_into(&self, body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        self.write_prefix(body.len(), out)?;
        out.extend_from_slice(body);
        Ok(())
    }
}

impl Framer for LengthPrefixed {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        let max_len = self.prefix.len_of(self.max);
        let Some((len, at)) = self.prefix.decode(buf, max_len).map_err(|e| match e {
            FrameError::TooLong { .. } => FrameError::TooLong { max: self.max },
            e => e,
        })?
        else {
            return Ok(None);
        };
        let len = match usize::try_from(len) {
            Ok(len) if len <= self.max => len,
            _ => return Err(FrameError::TooLong { max: self.max }),
        };
        let end = at + len;
        if buf.len() < end {
            return Ok(None);
        }
        Ok(Some(Frame { body: at..end, consumed: end }))
    }

    fn max_encoded_len(&self) -> usize {
        self.prefix.len_of(self.max).saturating_add(self.max)
    }
}
