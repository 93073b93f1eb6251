//! Framing a connection of the stack.

use core::fmt;

use super::{FrameError, FrameReader, Framer};
use crate::stack::{Stack, TcpError, TcpHandle};

/// Why [`read_tcp`] stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcpFramingError {
    /// The connection's own answer (`Finished` at the end of the stream: a message still
    /// incomplete then is in [`FrameReader::held`] or was left unread).
    Tcp(TcpError),
    /// The stream cannot be framed; the connection was aborted.
    Framing(FrameError),
}

impl fmt::Display for TcpFramingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TcpFramingError::Tcp(e) => e.fmt(f),
            TcpFramingError::Framing(e) => write!(f, "framing: {e}"),
        }
    }
}

impl std::error::Error for TcpFramingError {}

/// Hands every complete message buffered on connection `h` to `on_frame` (in place in the
/// connection's receive chunks unless it straddles two), consumes them, and returns the
/// bytes consumed. Stops early when `on_frame` returns `false`.
///
/// When the stream cannot be framed (a message over the maximum, a garbled length) the
/// connection is aborted: the stream is out of sync, and closing with unread data would
/// reset it anyway (RFC 1122 §4.2.2.13). The reader counts the error
/// ([`FrameReader::stats`]) and keeps it ([`FrameReader::error`]).
pub fn read_tcp<F: Framer>(
    stack: &mut Stack,
    h: TcpHandle,
    reader: &mut FrameReader<F>,
    on_frame: impl FnMut(&[u8]) -> bool,
) -> Result<usize, TcpFramingError> {
    if let Some(e) = reader.error() {
        return Err(TcpFramingError::Framing(e));
    }
    let n = stack.tcp_read(h, |a, b| reader.read(a, b, on_frame)).map_err(TcpFramingError::Tcp)?;
    if let Some(e) = reader.error() {
        // The handle was valid a moment ago; an abort cannot fail for another reason.
        let _ = stack.tcp_abort(h);
        return Err(TcpFramingError::Framing(e));
    }
    Ok(n)
}
