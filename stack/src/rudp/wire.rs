//! The `rudp` wire format: a zero-copy view of a datagram's header ([`Packet`]), its parsed
//! [`Header`], the frames that follow it ([`Frame`], read with [`Frames`]) and a bounded
//! writer ([`PacketWriter`]). The layout is drawn in the [module doc](super).
//!
//! Once [`Packet::new_checked`] has passed no accessor can panic, and [`Frames`] returns
//! [`WireError`] for any malformed frame instead of panicking: a datagram from the network is
//! untrusted input.

use core::fmt;

use super::auth::{PacketKey, KEY_LEN, TAG_LEN};

/// The largest packet number a packet may carry (2^62 - 1); beyond it is malformed.
pub const MAX_PACKET_NUMBER: u64 = (1 << 62) - 1;

/// Bytes of the common header: type, two connection ids, packet number.
pub const HEADER_LEN: usize = 17;
/// Bytes of a Retry token.
pub const TOKEN_LEN: usize = 16;
/// Bytes of a MESSAGE frame before its data.
pub const MESSAGE_FRAME_HEADER: usize = 28;
/// Bytes of a WINDOW frame.
pub const WINDOW_FRAME_LEN: usize = 9;
/// Bytes of a CLOSE frame.
pub const CLOSE_FRAME_LEN: usize = 3;
/// Bytes of an ACK frame with no range beyond the first.
pub const ACK_FRAME_BASE: usize = 18;
/// Bytes each further ACK range adds (gap and length).
pub const ACK_RANGE_LEN: usize = 8;
/// The most ranges (the first included) an ACK frame carries; older ones are left out.
pub const MAX_ACK_RANGES: usize = 8;
/// Largest ACK frame.
pub const MAX_ACK_FRAME: usize = ACK_FRAME_BASE + (MAX_ACK_RANGES - 1) * ACK_RANGE_LEN;
/// An Initial is padded to at least this many bytes, and a server ignores shorter ones, so a
/// Retry (which is smaller) never amplifies a spoofed flood (RFC 9000 §8.1 in spirit).
pub const INITIAL_MIN_LEN: usize = 64;

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const DST_CID: Range<usize> = 1..5;
    pub const SRC_CID: Range<usize> = 5..9;
    pub const NUMBER: Range<usize> = 9..17;
}

/// Why bytes are not a valid packet or frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WireError {
    /// Shorter than the header or than a field says.
    Truncated,
    /// An unknown packet type.
    UnknownPacketType,
    /// An unknown frame type.
    UnknownFrameType,
    /// A field out of its range (token length, fragment beyond its message, ACK ranges
    /// below zero, ...).
    BadField,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            WireError::Truncated => "truncated",
            WireError::UnknownPacketType => "unknown packet type",
            WireError::UnknownFrameType => "unknown frame type",
            WireError::BadField => "field out of range",
        };
        f.write_str(s)
    }
}

/// What a datagram is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// Client to server: open a connection, with or without a Retry token.
    Initial = 1,
    /// Server to client, stateless: prove your address by echoing this token.
    Retry = 2,
    /// Server to client: the connection exists; carries the server's connection id.
    Accept = 3,
    /// Either way, once connected.
    Data = 4,
}

impl PacketType {
    fn from_u8(b: u8) -> Option<PacketType> {
        Some(match b {
            1 => PacketType::Initial,
            2 => PacketType::Retry,
            3 => PacketType::Accept,
            4 => PacketType::Data,
            _ => return None,
        })
    }
}

/// A connection id: chosen by the endpoint that receives packets carrying it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnectionId(pub u32);

/// A zero-copy view of a datagram.
#[derive(Debug, Clone, Copy)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}
fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the header is complete and the type known.
    pub fn new_checked(buffer: T) -> Result<Self, WireError> {
        let b = buffer.as_ref();
        if b.len() < HEADER_LEN {
            return Err(WireError::Truncated);
        }
        if PacketType::from_u8(b[field::TYPE]).is_none() {
            return Err(WireError::UnknownPacketType);
        }
        let p = Packet { buffer };
        // Packet numbers stop at 2^62 (as QUIC's, RFC 9000 §12.3): a sender never gets there,
        // and the arithmetic on numbers (`largest + 1`, range ends) never overflows.
        if p.number() > MAX_PACKET_NUMBER {
            return Err(WireError::BadField);
        }
        Ok(p)
    }

    fn word32(&self, r: core::ops::Range<usize>) -> u32 {
        let b = self.buffer.as_ref();
        u32::from_be_bytes([b[r.start], b[r.start + 1], b[r.start + 2], b[r.start + 3]])
    }

    /// The packet type.
    pub fn packet_type(&self) -> PacketType {
        // new_checked validated the type byte.
        PacketType::from_u8(self.buffer.as_ref()[field::TYPE]).unwrap_or(PacketType::Data)
    }

    /// The receiver's connection id (0 in a client's Initial: not known yet).
    pub fn dst_cid(&self) -> ConnectionId {
        ConnectionId(self.word32(field::DST_CID))
    }

    /// The sender's connection id.
    pub fn src_cid(&self) -> ConnectionId {
        ConnectionId(self.word32(field::SRC_CID))
    }

    /// The packet number (0 in a Retry).
    pub fn number(&self) -> u64 {
        let b = &self.buffer.as_ref()[field::NUMBER];
        u64::from_be_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])
    }

    /// Everything after the header.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }
}

/// The parsed header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub packet_type: PacketType,
    pub dst_cid: ConnectionId,
    pub src_cid: ConnectionId,
    pub number: u64,
}

impl Header {
    /// Reads the header of a checked packet.
    pub fn parse<T: AsRef<[u8]>>(p: &Packet<T>) -> Header {
        Header {
            packet_type: p.packet_type(),
            dst_cid: p.dst_cid(),
            src_cid: p.src_cid(),
            number: p.number(),
        }
    }

    /// Bytes the header takes.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes the header into the first [`HEADER_LEN`] bytes of `buf`; returns `None` if it
    /// is too short.
    pub fn emit(&self, buf: &mut [u8]) -> Option<()> {
        let b = buf.get_mut(..HEADER_LEN)?;
        b[field::TYPE] = self.packet_type as u8;
        b[field::DST_CID].copy_from_slice(&self.dst_cid.0.to_be_bytes());
        b[field::SRC_CID].copy_from_slice(&self.src_cid.0.to_be_bytes());
        b[field::NUMBER].copy_from_slice(&self.number.to_be_bytes());
        Some(())
    }
}

/// The fields of an Initial's payload (its tag already taken off).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitialParts<'a> {
    /// The Retry token; empty without one.
    pub token: &'a [u8],
    /// The connection key the client drew ([`auth`](super::auth)).
    pub key: [u8; KEY_LEN],
    pub frames: &'a [u8],
}

/// Splits an Initial's payload (without its tag): `token length (0 or 16) | token | key (16)
/// | frames`.
pub fn initial_parts(payload: &[u8]) -> Result<InitialParts<'_>, WireError> {
    let (&len, rest) = payload.split_first().ok_or(WireError::Truncated)?;
    let len = usize::from(len);
    if len != 0 && len != TOKEN_LEN {
        return Err(WireError::BadField);
    }
    if rest.len() < len + KEY_LEN {
        return Err(WireError::Truncated);
    }
    let (token, rest) = rest.split_at(len);
    let (key, frames) = rest.split_at(KEY_LEN);
    let key = key.try_into().map_err(|_| WireError::Truncated)?;
    Ok(InitialParts { token, key, frames })
}

/// Frame type bytes.
mod frame_type {
    pub const PADDING: u8 = 0;
    pub const PING: u8 = 1;
    pub const ACK: u8 = 2;
    pub const WINDOW: u8 = 3;
    pub const MESSAGE: u8 = 4;
    pub const CLOSE: u8 = 5;
}

/// MESSAGE flag: deliver in message-id order.
const FLAG_ORDERED: u8 = 1;

/// One fragment of an application message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MessageFrame<'a> {
    /// Ordered (delivered in id order) or unordered (delivered once complete).
    pub ordered: bool,
    /// Message id, counted separately for ordered and unordered messages from 0.
    pub id: u64,
    /// Offset of the message's first byte in the connection's data sequence: what flow
    /// control counts against the receiver's advertised limit.
    pub start: u64,
    /// Length of the whole message.
    pub total: u32,
    /// Offset of this fragment in the message.
    pub offset: u32,
    /// The fragment's bytes.
    pub data: &'a [u8],
}

/// An acknowledgement: the largest packet number received, the delay since it arrived, and
/// ranges of received packet numbers (RFC 9000 §19.3 encoding, fixed-width).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AckFrame<'a> {
    pub largest: u64,
    /// Microseconds between receiving `largest` and sending this ACK.
    pub delay_micros: u32,
    first: u32,
    /// `count` pairs of (gap, length), each a big-endian u32.
    rest: &'a [u8],
}

impl<'a> AckFrame<'a> {
    /// The acknowledged ranges as inclusive `(low, high)` pairs, highest first. Validated at
    /// parse time, so the iteration cannot underflow.
    pub fn ranges(&self) -> AckRanges<'a> {
        AckRanges { next_high: Some(self.largest), len: Some(self.first), rest: self.rest }
    }
}

/// Iterator over an [`AckFrame`]'s ranges.
#[derive(Clone, Debug)]
pub struct AckRanges<'a> {
    next_high: Option<u64>,
    len: Option<u32>,
    rest: &'a [u8],
}

impl Iterator for AckRanges<'_> {
    type Item = (u64, u64);
    fn next(&mut self) -> Option<(u64, u64)> {
        let high = self.next_high?;
        let len = self.len.take()?;
        let low = high.checked_sub(u64::from(len))?;
        if self.rest.len() >= ACK_RANGE_LEN {
            let gap = be_u32(self.rest, 0)?;
            let next_len = be_u32(self.rest, 4)?;
            self.rest = &self.rest[ACK_RANGE_LEN..];
            // The next range ends `gap + 1` values below `low` (gap + 1 numbers missing).
            self.next_high = low.checked_sub(u64::from(gap) + 2);
            self.len = Some(next_len);
        } else {
            self.next_high = None;
        }
        Some((low, high))
    }
}

/// One frame of a packet's payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame<'a> {
    /// A run of zero bytes (counted as one frame).
    Padding,
    /// Asks for an acknowledgement and keeps the connection alive.
    Ping,
    Ack(AckFrame<'a>),
    /// The receiver accepts message data up to this offset of the data sequence.
    Window(u64),
    Message(MessageFrame<'a>),
    /// The sender closes the connection (graceful: all its messages were acknowledged).
    Close(u16),
}

impl Frame<'_> {
    /// Whether the frame asks for an acknowledgement (RFC 9002 §2 "ack-eliciting").
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Padding | Frame::Ack(_))
    }
}

/// Iterator over the frames of a payload; yields an error (and then stops) at the first
/// malformed frame.
#[derive(Clone, Debug)]
pub struct Frames<'a> {
    rest: &'a [u8],
}

impl<'a> Frames<'a> {
    /// The frames in `payload`.
    pub fn new(payload: &'a [u8]) -> Self {
        Frames { rest: payload }
    }

    fn parse_one(&mut self) -> Result<Frame<'a>, WireError> {
        let b = self.rest;
        let t = WireError::Truncated;
        let (frame, used) = match b[0] {
            frame_type::PADDING => {
                let n = b.iter().take_while(|&&x| x == 0).count();
                (Frame::Padding, n)
            }
            frame_type::PING => (Frame::Ping, 1),
            frame_type::ACK => {
                let largest = be_u64(b, 1).ok_or(t)?;
                let delay_micros = be_u32(b, 9).ok_or(t)?;
                let count = usize::from(*b.get(13).ok_or(t)?);
                let first = be_u32(b, 14).ok_or(t)?;
                let end = ACK_FRAME_BASE + count * ACK_RANGE_LEN;
                let rest = b.get(ACK_FRAME_BASE..end).ok_or(t)?;
                let ack = AckFrame { largest, delay_micros, first, rest };
                // Every range must stay at or above packet number 0.
                let mut seen = 0;
                let mut it = ack.ranges();
                while it.next().is_some() {
                    seen += 1;
                }
                if seen != count + 1 {
                    return Err(WireError::BadField);
                }
                (Frame::Ack(ack), end)
            }
            frame_type::WINDOW => (Frame::Window(be_u64(b, 1).ok_or(t)?), WINDOW_FRAME_LEN),
            frame_type::MESSAGE => {
                let flags = *b.get(1).ok_or(t)?;
                let id = be_u64(b, 2).ok_or(t)?;
                let start = be_u64(b, 10).ok_or(t)?;
                let total = be_u32(b, 18).ok_or(t)?;
                let offset = be_u32(b, 22).ok_or(t)?;
                let len = usize::from(be_u16(b, 26).ok_or(t)?);
                let data = b.get(MESSAGE_FRAME_HEADER..MESSAGE_FRAME_HEADER + len).ok_or(t)?;
                if flags & !FLAG_ORDERED != 0
                    || u64::from(offset) + len as u64 > u64::from(total)
                    || start.checked_add(u64::from(total)).is_none()
                {
                    return Err(WireError::BadField);
                }
                let ordered = flags & FLAG_ORDERED != 0;
                let m = MessageFrame { ordered, id, start, total, offset, data };
                (Frame::Message(m), MESSAGE_FRAME_HEADER + len)
            }
            frame_type::CLOSE => (Frame::Close(be_u16(b, 1).ok_or(t)?), CLOSE_FRAME_LEN),
            _ => return Err(WireError::UnknownFrameType),
        };
        self.rest = b.get(used..).ok_or(t)?;
        Ok(frame)
    }
}

impl<'a> Iterator for Frames<'a> {
    type Item = Result<Frame<'a>, WireError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.is_empty() {
            return None;
        }
        let r = self.parse_one();
        if r.is_err() {
            self.rest = &[];
        }
        Some(r)
    }
}

/// Writes a packet into a caller's buffer, frame by frame, refusing any frame that does not
/// fit (the `push_*` methods return `false` and write nothing). The last [`TAG_LEN`] bytes
/// of the buffer are kept for the tag [`finish`](Self::finish) appends.
#[derive(Debug)]
pub struct PacketWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> PacketWriter<'a> {
    /// Starts a packet with `header`; `None` if `buf` cannot hold the header and a tag.
    pub fn new(buf: &'a mut [u8], header: &Header) -> Option<Self> {
        let room = buf.len().checked_sub(TAG_LEN)?;
        header.emit(&mut buf[..room])?;
        Some(PacketWriter { buf, len: HEADER_LEN })
    }

    fn end(&self) -> usize {
        self.buf.len() - TAG_LEN
    }

    /// Bytes written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header is written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    /// Bytes still free (the tag's room left out).
    pub fn remaining(&self) -> usize {
        self.end() - self.len
    }

    fn put(&mut self, bytes: &[u8]) -> bool {
        if self.len + bytes.len() > self.end() {
            return false;
        }
        match self.buf.get_mut(self.len..self.len + bytes.len()) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len += bytes.len();
                true
            }
            None => false,
        }
    }

    /// Raw bytes (an Initial's token field, a Retry's token).
    pub fn push_bytes(&mut self, bytes: &[u8]) -> bool {
        self.put(bytes)
    }

    /// Zero bytes until the packet, its tag included, is `len` long (or the buffer ends).
    pub fn pad_to(&mut self, len: usize) {
        let end = len.saturating_sub(TAG_LEN).min(self.end());
        if end > self.len {
            self.buf[self.len..end].fill(frame_type::PADDING);
            self.len = end;
        }
    }

    pub fn push_ping(&mut self) -> bool {
        self.put(&[frame_type::PING])
    }

    pub fn push_window(&mut self, max_data: u64) -> bool {
        let mut f = [0u8; WINDOW_FRAME_LEN];
        f[0] = frame_type::WINDOW;
        f[1..].copy_from_slice(&max_data.to_be_bytes());
        self.put(&f)
    }

    pub fn push_close(&mut self, code: u16) -> bool {
        let c = code.to_be_bytes();
        self.put(&[frame_type::CLOSE, c[0], c[1]])
    }

    /// An ACK of inclusive ranges given highest first (at most [`MAX_ACK_RANGES`] are
    /// written; ranges must be disjoint, descending and separated by at least one number).
    pub fn push_ack(
        &mut self,
        delay_micros: u32,
        ranges: impl Iterator<Item = (u64, u64)>,
    ) -> bool {
        let mut f = [0u8; MAX_ACK_FRAME];
        let mut ranges = ranges.take(MAX_ACK_RANGES);
        let Some((low, high)) = ranges.next() else { return false };
        f[0] = frame_type::ACK;
        f[1..9].copy_from_slice(&high.to_be_bytes());
        f[9..13].copy_from_slice(&delay_micros.to_be_bytes());
        let clamp = |v: u64| u32::try_from(v).unwrap_or(u32::MAX);
        f[14..18].copy_from_slice(&clamp(high - low).to_be_bytes());
        let mut count = 0;
        let mut prev_low = high - u64::from(clamp(high - low));
        for (l, h) in ranges {
            if h + 2 > prev_low || prev_low - h - 2 > u64::from(u32::MAX) {
                break;
            }
            let at = ACK_FRAME_BASE + count * ACK_RANGE_LEN;
            f[at..at + 4].copy_from_slice(&((prev_low - h - 2) as u32).to_be_bytes());
            let len = clamp(h - l);
            f[at + 4..at + 8].copy_from_slice(&len.to_be_bytes());
            prev_low = h - u64::from(len);
            count += 1;
        }
        f[13] = count as u8;
        self.put(&f[..ACK_FRAME_BASE + count * ACK_RANGE_LEN])
    }

    /// A MESSAGE frame; its data must fit whole.
    pub fn push_message(&mut self, m: &MessageFrame<'_>) -> bool {
        let Ok(len) = u16::try_from(m.data.len()) else { return false };
        if self.remaining() < MESSAGE_FRAME_HEADER + m.data.len() {
            return false;
        }
        let mut h = [0u8; MESSAGE_FRAME_HEADER];
        h[0] = frame_type::MESSAGE;
        h[1] = if m.ordered { FLAG_ORDERED } else { 0 };
        h[2..10].copy_from_slice(&m.id.to_be_bytes());
        h[10..18].copy_from_slice(&m.start.to_be_bytes());
        h[18..22].copy_from_slice(&m.total.to_be_bytes());
        h[22..26].copy_from_slice(&m.offset.to_be_bytes());
        h[26..28].copy_from_slice(&len.to_be_bytes());
        self.put(&h) && self.put(m.data)
    }

    /// Seals the packet with `key`'s tag; returns its length, tag included.
    pub fn finish(self, key: &PacketKey) -> usize {
        // `new` and `put` keep TAG_LEN bytes free, so the tag always fits.
        key.seal(self.buf, self.len).unwrap_or(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const KEY: PacketKey = PacketKey::new([9; KEY_LEN]);

    fn header(t: PacketType) -> Header {
        Header {
            packet_type: t,
            dst_cid: ConnectionId(0xdead_beef),
            src_cid: ConnectionId(7),
            number: 0x0102_0304_0506_0708,
        }
    }

    #[test]
    fn header_round_trip() {
        let mut buf = [0u8; 64];
        header(PacketType::Data).emit(&mut buf).unwrap();
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(Header::parse(&p), header(PacketType::Data));
        assert_eq!(Packet::new_checked(&buf[..16]).unwrap_err(), WireError::Truncated);
        buf[0] = 9;
        assert_eq!(Packet::new_checked(&buf[..]).unwrap_err(), WireError::UnknownPacketType);
    }

    #[test]
    fn frames_round_trip() {
        let mut buf = [0u8; 300];
        let mut w = PacketWriter::new(&mut buf, &header(PacketType::Data)).unwrap();
        assert!(w.push_ack(25, [(90, 100), (50, 60), (10, 10)].into_iter()));
        assert!(w.push_window(1 << 40));
        let m =
            MessageFrame { ordered: true, id: 3, start: 99, total: 10, offset: 4, data: b"abc" };
        assert!(w.push_message(&m));
        assert!(w.push_ping());
        assert!(w.push_close(2));
        let n = w.finish(&KEY);
        let p = Packet::new_checked(KEY.open(&buf[..n]).unwrap()).unwrap();
        let frames: Vec<_> = Frames::new(p.payload()).collect::<Result<_, _>>().unwrap();
        assert_eq!(frames.len(), 5);
        let Frame::Ack(a) = frames[0] else { panic!("{frames:?}") };
        assert_eq!(a.largest, 100);
        assert_eq!(a.delay_micros, 25);
        assert_eq!(a.ranges().collect::<Vec<_>>(), vec![(90, 100), (50, 60), (10, 10)]);
        assert_eq!(frames[1], Frame::Window(1 << 40));
        assert_eq!(frames[2], Frame::Message(m));
        assert_eq!(frames[3], Frame::Ping);
        assert_eq!(frames[4], Frame::Close(2));
    }

    #[test]
    fn malformed_frames_are_errors() {
        // A fragment reaching past its message.
        let mut buf = [0u8; 100];
        let mut w = PacketWriter::new(&mut buf, &header(PacketType::Data)).unwrap();
        let m = MessageFrame { ordered: false, id: 0, start: 0, total: 2, offset: 0, data: b"abc" };
        assert!(w.push_message(&m));
        let n = w.finish(&KEY) - TAG_LEN;
        let f: Vec<_> = Frames::new(&buf[HEADER_LEN..n]).collect();
        assert_eq!(f, vec![Err(WireError::BadField)]);
        // An ACK range below packet number 0.
        let ack = [2, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0, 9];
        assert_eq!(Frames::new(&ack).next(), Some(Err(WireError::BadField)));
        assert_eq!(Frames::new(&[77]).next(), Some(Err(WireError::UnknownFrameType)));
        assert_eq!(Frames::new(&[3, 1]).next(), Some(Err(WireError::Truncated)));
        assert_eq!(initial_parts(&[5, 1, 2, 3, 4, 5]).unwrap_err(), WireError::BadField);
        assert_eq!(initial_parts(&[0; KEY_LEN]).unwrap_err(), WireError::Truncated);
    }

    proptest! {
        /// Random bytes never make the parsers panic (the fuzz-style property).
        #[test]
        fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            if let Ok(p) = Packet::new_checked(&bytes[..]) {
                let _ = Header::parse(&p);
                let payload = match p.packet_type() {
                    PacketType::Initial => initial_parts(p.payload()).map(|i| i.frames).unwrap_or(&[]),
                    _ => p.payload(),
                };
                for f in Frames::new(payload) {
                    if let Ok(Frame::Ack(a)) = f {
                        for (l, h) in a.ranges() { prop_assert!(l <= h); }
                    }
                }
            }
            for f in Frames::new(&bytes) {
                let _ = f;
            }
        }

        /// Any ranges written come back the same (up to the range cap).
        #[test]
        fn ack_ranges_round_trip(mut points in prop::collection::btree_set(0u64..10_000, 1..40)) {
            let mut set = super::super::ranges::RangeSet::new();
            for p in std::mem::take(&mut points) { set.insert_one(p); }
            let want: Vec<_> = set.iter_desc().map(|(s, e)| (s, e - 1)).take(MAX_ACK_RANGES).collect();
            let mut buf = [0u8; 200];
            let mut w = PacketWriter::new(&mut buf, &header(PacketType::Data)).unwrap();
            prop_assert!(w.push_ack(0, want.iter().copied()));
            let n = w.finish(&KEY) - TAG_LEN;
            let Some(Ok(Frame::Ack(a))) = Frames::new(&buf[HEADER_LEN..n]).next() else {
                return Err(TestCaseError::fail("no ack"));
            };
            prop_assert_eq!(a.ranges().collect::<Vec<_>>(), want);
        }
    }
}
