//! Cutting messages out of a byte stream.
//!
//! A stream has no message boundaries: one send may arrive in pieces, several may arrive glued
//! together. A framer finds where the next message ends in the bytes the caller has received so
//! far and hands back *ranges* into the caller's buffer, never a copy. The caller owns the
//! bytes: it drops the consumed prefix (`Frame::consumed`) and keeps the rest for the next read.
//!
//! Calling convention, the same for every framer: `next_frame(buf)` where `buf` starts at the
//! first byte of a message not yet returned. Between calls the caller may only *append* to
//! `buf` (more bytes arrived) or drop exactly `consumed` bytes of a returned frame. A framer keeps
//! only a few integers of state (how far a delimiter search got), so scanning a message that
//! arrives one byte at a time stays linear, not quadratic.

use std::fmt;
use std::ops::Range;

/// A complete message found at the start of the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message body (without length prefix or delimiter), as a range into the buffer.
    pub body: Range<usize>,
    /// How many bytes of the buffer the message occupies, prefix and delimiter included.
    pub consumed: usize,
}

/// Why a stream cannot be framed. A peer can cause it, so it is an answer, never a panic; the
/// stream is out of sync afterwards and the connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The message is (or announces itself as) longer than the configured maximum.
    TooLong { max: usize },
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "message longer than {max} bytes"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Something that finds message boundaries in a stream.
pub trait Framer {
    /// Looks for one complete message at the start of `buf`.
    ///
    /// `Ok(None)`: not complete yet, call again once more bytes were appended.
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError>;
}

/// Messages preceded by their length as a 32-bit big-endian integer (the length counts the body
/// only).
#[derive(Debug, Clone)]
pub struct LengthPrefixed {
    max: usize,
}

impl LengthPrefixed {
    /// Length of the prefix in bytes.
    pub const PREFIX: usize = 4;

    /// A framer that rejects bodies longer than `max` bytes as soon as their prefix arrives.
    pub fn new(max: usize) -> Self {
        LengthPrefixed { max }
    }

    /// Appends `body` with its prefix to `out`. Fails if the body is longer than `u32::MAX`.
    pub fn encode(body: &[u8], out: &mut Vec<u8>) -> Result<(), FrameError> {
        let len = u32::try_from(body.len())
            .map_err(|_| FrameError::TooLong { max: u32::MAX as usize })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(body);
        Ok(())
    }
}

impl Framer for LengthPrefixed {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        let Some(prefix) = buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.max {
            return Err(FrameError::TooLong { max: self.max });
        }
        let end = Self::PREFIX + len;
        if buf.len() < end {
            return Ok(None);
        }
        Ok(Some(Frame { body: Self::PREFIX..end, consumed: end }))
    }
}

/// Messages terminated by a delimiter (one byte such as `\n`, or a sequence such as the
/// `\r\n\r\n` that ends an HTTP head).
#[derive(Debug, Clone)]
pub struct Delimited {
    delimiter: Box<[u8]>,
    max: usize,
    /// How many bytes at the start of the buffer are known not to *start* a delimiter. The next
    /// search starts there, so each byte is looked at a bounded number of times.
    scanned: usize,
}

impl Delimited {
    /// A framer for bodies of at most `max` bytes ended by `delimiter` (which must not be
    /// empty; an empty one is treated as a single NUL byte).
    pub fn new(delimiter: &[u8], max: usize) -> Self {
        let delimiter: Box<[u8]> =
            if delimiter.is_empty() { Box::new([0]) } else { delimiter.into() };
        Delimited { delimiter, max, scanned: 0 }
    }

    /// The delimiter.
    pub fn delimiter(&self) -> &[u8] {
        &self.delimiter
    }

    /// Forgets the search progress; for a caller that starts over on a different buffer.
    pub fn reset(&mut self) {
        self.scanned = 0;
    }
}

impl Framer for Delimited {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        let dlen = self.delimiter.len();
        // A delimiter can start at most at offset `max` (a body of `max` bytes).
        let limit = buf.len().min(self.max.saturating_add(1));
        let first = self.delimiter[0];
        let mut at = self.scanned.min(limit);
        while at < limit {
            let Some(offset) = buf[at..limit].iter().position(|&b| b == first) else {
                at = limit;
                break;
            };
            let start = at + offset;
            match buf.get(start..start + dlen) {
                Some(candidate) if candidate == &*self.delimiter => {
                    self.scanned = 0;
                    return Ok(Some(Frame { body: 0..start, consumed: start + dlen }));
                }
                // The delimiter may still complete here once more bytes arrive.
                None => {
                    at = start;
                    break;
                }
                Some(_) => at = start + 1,
            }
        }
        self.scanned = at;
        if buf.len() >= self.max.saturating_add(dlen) {
            return Err(FrameError::TooLong { max: self.max });
        }
        Ok(None)
    }
}

/// Messages of one fixed size.
#[derive(Debug, Clone)]
pub struct Fixed {
    size: usize,
}

impl Fixed {
    /// A framer for messages of exactly `size` bytes (at least 1: an empty message would
    /// never advance the stream).
    pub fn new(size: usize) -> Self {
        Fixed { size: size.max(1) }
    }
}

impl Framer for Fixed {
    fn next_frame(&mut self, buf: &[u8]) -> Result<Option<Frame>, FrameError> {
        if buf.len() < self.size {
            return Ok(None);
        }
        Ok(Some(Frame { body: 0..self.size, consumed: self.size }))
    }
}

/// Calls `on_message` with every complete message in `buf`, in order, and returns how many bytes
/// they occupied (the caller drops that prefix). Stops early, without error, when `on_message`
/// returns `false` (e.g. an output buffer is full).
pub fn for_each_frame<F: Framer + ?Sized>(
    framer: &mut F,
    buf: &[u8],
    mut on_message: impl FnMut(&[u8]) -> bool,
) -> Result<usize, FrameError> {
    let mut consumed = 0;
    loop {
        let rest = buf.get(consumed..).unwrap_or_default();
        let Some(frame) = framer.next_frame(rest)? else {
            break;
        };
        // The framers here always consume at least one byte and stay inside `rest`; checking
        // keeps a faulty `Framer` from looping forever or panicking.
        let (Some(body), 1..) = (rest.get(frame.body.clone()), frame.consumed) else {
            break;
        };
        if frame.consumed > rest.len() {
            break;
        }
        let keep_going = on_message(body);
        consumed += frame.consumed;
        if !keep_going {
            break;
        }
    }
    Ok(consumed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feeds `stream` in the pieces given by `cuts` to a caller that keeps unconsumed bytes, the
    /// way a socket reader does, and collects the messages.
    fn reassemble<F: Framer>(
        framer: &mut F,
        stream: &[u8],
        cuts: &[usize],
    ) -> Result<Vec<Vec<u8>>, FrameError> {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
        points.push(0);
        points.push(stream.len());
        points.sort_unstable();
        let mut pending = Vec::new();
        let mut out = Vec::new();
        for w in points.windows(2) {
            pending.extend_from_slice(&stream[w[0]..w[1]]);
            let used = for_each_frame(framer, &pending, |m| {
                out.push(m.to_vec());
                true
            })?;
            pending.drain(..used);
        }
        assert!(pending.is_empty(), "bytes left over: {pending:?}");
        Ok(out)
    }

    fn one_byte_cuts(len: usize) -> Vec<usize> {
        (0..=len).collect()
    }

    fn messages() -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 0..12)
    }

    proptest! {
        #[test]
        fn length_prefixed_any_split(msgs in messages(), cuts in prop::collection::vec(any::<usize>(), 0..30)) {
            let mut stream = Vec::new();
            for m in &msgs { LengthPrefixed::encode(m, &mut stream).unwrap(); }
            prop_assert_eq!(&reassemble(&mut LengthPrefixed::new(40), &stream, &cuts).unwrap(), &msgs);
            prop_assert_eq!(&reassemble(&mut LengthPrefixed::new(40), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        }

        #[test]
        fn delimited_byte_any_split(msgs in prop::collection::vec(prop::collection::vec(0u8..=9, 0..40), 0..12),
                                    cuts in prop::collection::vec(any::<usize>(), 0..30)) {
            // Messages never contain the delimiter 10.
            let stream: Vec<u8> = msgs.iter().flat_map(|m| m.iter().copied().chain([10])).collect();
            prop_assert_eq!(&reassemble(&mut Delimited::new(&[10], 40), &stream, &cuts).unwrap(), &msgs);
            prop_assert_eq!(&reassemble(&mut Delimited::new(&[10], 40), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        }

        #[test]
        fn delimited_crlfcrlf_any_split(
            msgs in prop::collection::vec(prop::collection::vec(prop::sample::select(vec![b'a', b'\r', b'\n']), 0..30), 0..10)
                .prop_filter("delimiter must first occur at the message end", |msgs| msgs.iter().all(|m| {
                    let mut s = m.clone();
                    s.extend_from_slice(b"\r\n\r\n");
                    s.windows(4).position(|w| w == b"\r\n\r\n") == Some(m.len())
                })),
            cuts in prop::collection::vec(any::<usize>(), 0..30),
        ) {
            let stream: Vec<u8> = msgs.iter().flat_map(|m| m.iter().copied().chain(*b"\r\n\r\n")).collect();
            prop_assert_eq!(&reassemble(&mut Delimited::new(b"\r\n\r\n", 30), &stream, &cuts).unwrap(), &msgs);
            prop_assert_eq!(&reassemble(&mut Delimited::new(b"\r\n\r\n", 30), &stream, &one_byte_cuts(stream.len())).unwrap(), &msgs);
        }

        #[test]
        fn fixed_any_split(n in 0usize..10, size in 1usize..20, cuts in prop::collection::vec(any::<usize>(), 0..30), seed in any::<u8>()) {
            let msgs: Vec<Vec<u8>> = (0..n).map(|i| vec![seed.wrapping_add(i as u8); size]).collect();
            let stream = msgs.concat();
            prop_assert_eq!(&reassemble(&mut Fixed::new(size), &stream, &cuts).unwrap(), &msgs);
        }

        /// Arbitrary bytes in arbitrary pieces: every framer answers, none panics, and an error
        /// is only ever "too long".
        #[test]
        fn garbage_never_panics(stream in prop::collection::vec(any::<u8>(), 0..300), cuts in prop::collection::vec(any::<usize>(), 0..30)) {
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (stream.len() + 1)).collect();
            points.push(stream.len());
            points.sort_unstable();
            let mut lp = LengthPrefixed::new(16);
            let mut dl = Delimited::new(b"\r\n\r\n", 16);
            for framer in [&mut lp as &mut dyn Framer, &mut dl] {
                let mut pending = Vec::new();
                let mut prev = 0;
                for &p in &points {
                    pending.extend_from_slice(&stream[prev..p]);
                    prev = p;
                    match for_each_frame(framer, &pending, |m| { assert!(m.len() <= 16); true }) {
                        Ok(used) => { pending.drain(..used); }
                        Err(FrameError::TooLong { max }) => { prop_assert_eq!(max, 16); break; }
                    }
                }
            }
        }
    }

    #[test]
    fn oversized_length_prefix_is_an_error_before_the_body_arrives() {
        let mut f = LengthPrefixed::new(100);
        assert_eq!(f.next_frame(&101u32.to_be_bytes()), Err(FrameError::TooLong { max: 100 }));
        assert_eq!(f.next_frame(&u32::MAX.to_be_bytes()), Err(FrameError::TooLong { max: 100 }));
        assert_eq!(f.next_frame(&100u32.to_be_bytes()), Ok(None));
    }

    #[test]
    fn oversized_delimited_message_is_an_error() {
        let mut f = Delimited::new(b"\r\n", 4);
        assert_eq!(f.next_frame(b"abcd\r"), Ok(None));
        // "abcd\r\n" is the longest legal message; one more byte without the delimiter fails.
        assert_eq!(f.next_frame(b"abcd\r\n").unwrap(), Some(Frame { body: 0..4, consumed: 6 }));
        let mut f = Delimited::new(b"\r\n", 4);
        assert_eq!(f.next_frame(b"abcde\r"), Err(FrameError::TooLong { max: 4 }));
    }

    #[test]
    fn delimiter_search_resumes_where_it_stopped() {
        let mut f = Delimited::new(b"\r\n\r\n", 1000);
        let mut buf = b"GET / HTTP/1.1\r\nHost: x\r\n\r".to_vec();
        assert_eq!(f.next_frame(&buf), Ok(None));
        // The partial delimiter at the end is where the next search starts.
        assert_eq!(f.scanned, buf.len() - 3);
        buf.push(b'\n');
        let frame = f.next_frame(&buf).unwrap().unwrap();
        assert_eq!(&buf[frame.body], b"GET / HTTP/1.1\r\nHost: x");
        assert_eq!(frame.consumed, buf.len());
    }

    #[test]
    fn zero_size_fixed_framer_still_advances() {
        let used = for_each_frame(&mut Fixed::new(0), b"abc", |m| {
            assert_eq!(m.len(), 1);
            true
        });
        assert_eq!(used, Ok(3));
    }

    #[test]
    fn for_each_frame_stops_when_asked() {
        let mut stream = Vec::new();
        for m in [&b"one"[..], b"two", b"three"] {
            LengthPrefixed::encode(m, &mut stream).unwrap();
        }
        let mut seen = Vec::new();
        let used = for_each_frame(&mut LengthPrefixed::new(10), &stream, |m| {
            seen.push(m.to_vec());
            seen.len() < 2
        })
        .unwrap();
        assert_eq!(seen, vec![b"one".to_vec(), b"two".to_vec()]);
        assert_eq!(used, 14);
    }
}
