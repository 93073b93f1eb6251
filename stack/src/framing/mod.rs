//! Message framing: cutting messages out of a byte stream, and putting them in.
//!
//! A stream has no message boundaries: one send may arrive in pieces, several may arrive
//! glued together. The three classic answers are here: a length prefix ([`LengthPrefixed`],
//! with a 16-bit, 32-bit or varint length), a delimiter ([`Delimited`]: a byte such as `\n`
//! or a sequence such as the `\r\n\r\n` that ends an HTTP head), and a fixed size
//! ([`Fixed`]). Every framer has a maximum message size: a peer announcing or sending more
//! is an error, never an unbounded buffer, and so is a length that cannot be decoded.
//!
//! A [`Framer`] finds where the next message ends in the bytes received so far and hands
//! back *ranges* into the caller's buffer, never a copy. [`FrameReader`] builds on it for a
//! receive buffer that comes as two slices (the stack's ring of chunks, `Stack::tcp_read`):
//! a message lying in one slice is handed out in place, and only one that straddles the two
//! is copied, once. [`read_tcp`] runs it over a connection of the stack and aborts the
//! connection, with a counted [`FramingStats`] error, when the stream cannot be framed. Over
//! kernel sockets the same framers run behind a `std::io::Read` adapter (the bench crate's
//! `framing::FramedReader`; this crate does no IO).
//!
//! Calling convention, the same for every framer: `next_frame(buf)` where `buf` starts at the
//! first byte of a message not yet returned. Between calls the caller may only *append* to
//! `buf` (more bytes arrived) or drop exactly `consumed` bytes of a returned frame. A framer
//! keeps only a few integers of state (how far a delimiter search got), so scanning a
//! message that arrives one byte at a time stays linear, not quadratic.

mod delimited;
mod fixed;
mod length;
mod reader;
mod tcp;

use core::fmt;
use core::ops::Range;

pub use delimited::Delimited;
pub use fixed::Fixed;
pub use length::{LengthPrefixed, Prefix};
pub use reader::{FrameReader, FramingStats};
pub use tcp::{read_tcp, TcpFramingError};

/// A complete message found at the start of the caller's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message body (without length prefix or delimiter), as a range into the buffer.
    pub body: Range<usize>,
    /// How many bytes of the buffer the message occupies, prefix and delimiter included.
    pub consumed: usize,
}

/// Why a stream cannot be framed. A peer can cause it, so it is an answer, never a panic;
/// the stream is out of sync afterwards and the connection should be closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameError {
    /// The message is (or announces itself as) longer than the configured maximum.
    TooLong { max: usize },
    /// A length prefix that is no number: a varint longer than 64 bits.
    BadLength,
    /// Encoding only: the body holds the delimiter, so it could not be found again.
    DelimiterInBody,
}

impl fmt::Display for FrameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FrameError::TooLong { max } => write!(f, "message longer than {max} bytes"),
            FrameError::BadLength => f.write_str("garbled length prefix"),
            FrameError::DelimiterInBody => f.write_str("message holds its delimiter"),
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

    /// The most bytes one message may occupy on the stream (prefix or delimiter included):
    /// how much a reader may have to hold for one message.
    fn max_encoded_len(&self) -> usize;
}

/// Calls `on_message` with every complete message in `buf`, in order, and with where that
/// message ends in `buf` (its prefix or delimiter included: `buf[..end]` is every message so
/// far, as it came); returns how many bytes they occupied (the caller drops that prefix).
/// Stops early, without error, when `on_message` returns `false` (e.g. an output buffer is
/// full).
pub fn for_each_frame<F: Framer + ?Sized>(
    framer: &mut F,
    buf: &[u8],
    mut on_message: impl FnMut(&[u8], usize) -> bool,
) -> Result<usize, FrameError> {
    let mut consumed = 0;
    loop {
        let rest = buf.get(consumed..).unwrap_or_default();
        let Some((body, used)) = checked_frame(framer, rest)? else {
            break;
        };
        consumed += used;
        if !on_message(body, consumed) {
            break;
        }
    }
    Ok(consumed)
}

/// The next frame of `buf` as (body, bytes used). The framers here always consume at least
/// one byte and stay inside `buf`; checking keeps a faulty [`Framer`] from looping forever or
/// panicking (it reads as "not complete").
fn checked_frame<'a, F: Framer + ?Sized>(
    framer: &mut F,
    buf: &'a [u8],
) -> Result<Option<(&'a [u8], usize)>, FrameError> {
    let Some(frame) = framer.next_frame(buf)? else {
        return Ok(None);
    };
    match (buf.get(frame.body), frame.consumed) {
        (Some(body), used @ 1..) if used <= buf.len() => Ok(Some((body, used))),
        _ => Ok(None),
    }
}

#[cfg(test)]
mod tests;
