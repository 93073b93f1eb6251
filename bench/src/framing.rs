//! Stream framing for the bench tools: the stack crate's framing library
//! ([`xdptcp_stack::framing`], re-exported here, which the applications and the load
//! generator use over both the stack and kernel sockets) and its adapter to blocking
//! `std::io` streams, which the sans-IO crate cannot have.

use std::io::{self, Read, Write};

pub use xdptcp_stack::framing::*;

/// Messages read one at a time from a `std::io::Read` (a kernel `TcpStream`, a pipe), with
/// any [`Framer`]. It holds at most one encoded message ([`Framer::max_encoded_len`]) plus
/// what one `read` returned beyond it; each message is lent out of that buffer, uncopied.
#[derive(Debug)]
pub struct FramedReader<R, F> {
    inner: R,
    framer: F,
    buf: Vec<u8>,
    /// Unconsumed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    stats: FramingStats,
}

/// Bytes asked of each `read`: enough for many small messages at once.
const READ_SIZE: usize = 64 * 1024;

impl<R: Read, F: Framer> FramedReader<R, F> {
    /// Reads messages from `inner` with `framer`.
    pub fn new(inner: R, framer: F) -> Self {
        FramedReader {
            inner,
            framer,
            buf: Vec::new(),
            start: 0,
            end: 0,
            stats: FramingStats::default(),
        }
    }

    /// Counters (`copied_frames` stays 0: messages are lent in place).
    pub fn stats(&self) -> &FramingStats {
        &self.stats
    }

    /// The stream.
    pub fn get_mut(&mut self) -> &mut R {
        &mut self.inner
    }

    /// The next message; `Ok(None)` at a clean end of the stream. A stream that ends inside a
    /// message is `UnexpectedEof`; one that cannot be framed is `InvalidData` (counted), after
    /// which the stream is out of sync and should be closed.
    pub fn next_message(&mut self) -> io::Result<Option<&[u8]>> {
        loop {
            match self.framer.next_frame(&self.buf[self.start..self.end]) {
                Ok(Some(frame))
                    if frame.consumed > 0 && frame.consumed <= self.end - self.start =>
                {
                    let at = self.start;
                    self.start += frame.consumed;
                    self.stats.frames += 1;
                    self.stats.bytes += frame.body.len() as u64;
                    return Ok(self.buf.get(at + frame.body.start..at + frame.body.end));
                }
                Ok(_) => {}
                Err(e) => {
                    match e {
                        FrameError::BadLength => self.stats.bad_length += 1,
                        _ => self.stats.too_long += 1,
                    }
                    return Err(io::Error::new(io::ErrorKind::InvalidData, e));
                }
            }
            if !self.fill()? {
                return if self.start == self.end {
                    Ok(None)
                } else {
                    Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "stream ended inside a message",
                    ))
                };
            }
        }
    }

    /// Reads more bytes after the unconsumed ones; false at the end of the stream.
    fn fill(&mut self) -> io::Result<bool> {
        if self.start == self.end {
            (self.start, self.end) = (0, 0);
        }
        let want = READ_SIZE.max(self.framer.max_encoded_len().min(1 << 24));
        if self.buf.len() - self.end < want.min(READ_SIZE) {
            // Move the partial message to the front, then make room for one read.
            self.buf.copy_within(self.start..self.end, 0);
            (self.start, self.end) = (0, self.end - self.start);
            if self.buf.len() < self.end + READ_SIZE {
                self.buf.resize(self.end + READ_SIZE, 0);
            }
        }
        loop {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.end += n;
                    return Ok(true);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Writes `body` with `framer`'s length prefix to `w` (the prefix and the body in one
/// write where the writer takes both).
pub fn write_length_prefixed(
    w: &mut impl Write,
    framer: &LengthPrefixed,
    body: &[u8],
) -> io::Result<()> {
    let mut prefix = Vec::with_capacity(10);
    framer
        .write_prefix(body.len(), &mut prefix)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    w.write_all(&prefix)?;
    w.write_all(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most `step` bytes a call.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    fn sample() -> (LengthPrefixed, Vec<Vec<u8>>, Vec<u8>) {
        let framer = LengthPrefixed::with_prefix(Prefix::Varint, 200_000);
        let msgs: Vec<Vec<u8>> = [0usize, 1, 127, 128, 5_000, 70_000, 200_000, 3]
            .iter()
            .map(|&n| vec![n as u8; n])
            .collect();
        let mut stream = Vec::new();
        for m in &msgs {
            write_length_prefixed(&mut stream, &framer, m).unwrap();
        }
        (framer, msgs, stream)
    }

    #[test]
    fn messages_come_back_whatever_the_reads_return() {
        let (framer, msgs, stream) = sample();
        for step in [1, 2, 3, 7, 1000, 65_536, usize::MAX] {
            let mut r = FramedReader::new(Trickle { data: &stream, step }, framer.clone());
            for m in &msgs {
                assert_eq!(r.next_message().unwrap(), Some(&m[..]), "step {step}");
            }
            assert_eq!(r.next_message().unwrap(), None);
            assert_eq!(r.stats().frames, msgs.len() as u64);
        }
    }

    #[test]
    fn a_truncated_or_oversized_stream_is_an_error() {
        let (framer, _, stream) = sample();
        let mut r = FramedReader::new(&stream[..stream.len() - 1], framer);
        let err = loop {
            match r.next_message() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a clean end"),
                Err(e) => break e,
            }
        };
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
        let small = LengthPrefixed::with_prefix(Prefix::Varint, 1_000);
        let mut r = FramedReader::new(&stream[..], small);
        assert_eq!(r.next_message().unwrap(), Some(&b""[..]));
        assert_eq!(r.next_message().unwrap(), Some(&[1u8][..]));
        assert_eq!(r.next_message().unwrap(), Some(&[127u8; 127][..]));
        assert_eq!(r.next_message().unwrap(), Some(&[128u8; 128][..]));
        assert_eq!(r.next_message().unwrap_err().kind(), io::ErrorKind::InvalidData);
        assert_eq!(r.stats().too_long, 1);
    }
}
