//! One connection's byte stream between the stack's buffers and a [`Service`]: flush what the
//! service left in `out`, close when it asks, and hand it received bytes *in place*.
//!
//! Per round, in this order (the same a kernel-socket transport follows):
//! 1. flush `out[sent..]` into the send buffer; if it does not all fit, stop (backpressure:
//!    wait for `Writable`, leaving input unread so our window closes towards the peer);
//! 2. if the service wants to close, or the peer finished and everything was read: close
//!    (FIN after queued data) and read and drop whatever input is left;
//! 3. read: the service sees the receive buffer's in-order bytes where they lie (up to two
//!    slices) and consumes a prefix. A message that straddles two pieces of the buffer is the
//!    one case copied, into the per-connection `pending` buffer, a chunk at a time.

use xdptcp_stack::stack::{Stack, TcpError, TcpHandle};
use xdptcp_stack::time::Instant;

use super::{Service, OUT_LIMIT};

/// Bytes appended to a straddling message per round (a small multiple of a typical request).
const STRADDLE_CHUNK: usize = 1024;

/// The host's per-connection buffers and flags (beside the service's own user data).
#[derive(Debug, Default)]
pub(super) struct StreamIo {
    /// Bytes the service produced; `out[sent..]` still has to go into the send buffer.
    pub out: Vec<u8>,
    pub sent: usize,
    /// A partial message copied out of the receive buffer (only when it straddled two pieces).
    pub pending: Vec<u8>,
    /// The peer finished and everything was read.
    pub eof: bool,
    /// `tcp_close` was called.
    pub closing: bool,
}

impl StreamIo {
    /// Empties the buffers for reuse by another connection (their capacity stays).
    pub fn recycle(mut self) -> StreamIo {
        self.out.clear();
        self.pending.clear();
        StreamIo { out: self.out, pending: self.pending, ..StreamIo::default() }
    }
}

/// What one [`drive`] moved.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Moved {
    /// Bytes read out of the receive buffer.
    pub bytes_in: u64,
    /// Bytes queued into the send buffer.
    pub bytes_out: u64,
    /// Bytes the host copied out of the receive buffer (straddling messages).
    pub copied: u64,
    /// Whether `out` is flushed and the connection open for writing (the service may send).
    pub writable: bool,
}

/// Moves bytes for connection `h` until it can do no more.
pub(super) fn drive<S: Service>(
    service: &mut S,
    conn: &mut S::Conn,
    io: &mut StreamIo,
    stack: &mut Stack,
    now: Instant,
    h: TcpHandle,
) -> Moved {
    let mut moved = Moved::default();
    // The last read took everything there was (nothing left, no end of stream to report):
    // once its answer is flushed, a further read would only find nothing.
    let mut drained = false;
    loop {
        // 1. Flush.
        if io.sent < io.out.len() {
            match stack.tcp_send(h, &io.out[io.sent..]) {
                Ok(n) => {
                    io.sent += n;
                    moved.bytes_out += n as u64;
                }
                // The write side is gone (reset, closing): drop what is left.
                Err(_) => io.sent = io.out.len(),
            }
            if io.sent < io.out.len() {
                return moved; // backpressure: wait for Writable
            }
        }
        io.out.clear();
        io.sent = 0;
        // 2. Close when asked, or at end of stream.
        if service.wants_close(conn) || io.eof {
            close(stack, h, io, service.wants_close(conn));
            return moved;
        }
        if drained {
            moved.writable = !io.closing;
            return moved;
        }
        // 3. Read, in place.
        let (read, copied, used_pending) = read_into(service, conn, io, stack, now, h);
        let read = match read {
            Ok((n, again)) => {
                drained = !again && io.pending.is_empty();
                n
            }
            Err(TcpError::Finished) => {
                io.eof = true;
                0
            }
            Err(_) => return moved,
        };
        moved.bytes_in += read as u64;
        moved.copied += copied as u64;
        let progressed = read > 0 || used_pending || !io.out.is_empty();
        if !progressed && !io.eof {
            moved.writable = !io.closing;
            return moved;
        }
    }
}

/// Closes once (a half-close when the service asked and the peer still sends, so its last
/// bytes are read and dropped rather than answered with a reset), then drains input.
fn close(stack: &mut Stack, h: TcpHandle, io: &mut StreamIo, asked: bool) {
    if !io.closing {
        io.closing = true;
        if asked && !io.eof {
            let _ = stack.tcp_shutdown_write(h);
        } else {
            let _ = stack.tcp_close(h);
        }
    }
    if io.eof {
        return;
    }
    // Drain and drop input until the peer finishes (`tcp_read` lends a chunk or two at a
    // time).
    loop {
        match stack.tcp_read(h, |a, b| a.len() + b.len()) {
            Ok(0) => break,
            Ok(_) => {}
            Err(TcpError::Finished) => {
                io.eof = true;
                let _ = stack.tcp_close(h);
                break;
            }
            Err(_) => break,
        }
    }
}

/// One read: returns what `tcp_read_again` returned (the count, and whether more is left to
/// read), the bytes copied into `pending`, and whether the service consumed bytes of
/// `pending`.
fn read_into<S: Service>(
    service: &mut S,
    conn: &mut S::Conn,
    io: &mut StreamIo,
    stack: &mut Stack,
    now: Instant,
    h: TcpHandle,
) -> (Result<(usize, bool), TcpError>, usize, bool) {
    let (out, pending) = (&mut io.out, &mut io.pending);
    let mut copied = 0;
    let mut used_pending = false;
    let read = if pending.is_empty() {
        stack.tcp_read_again(h, |a, b| {
            let c = service.on_data(now, conn, a, out);
            if c == a.len() {
                if b.is_empty() {
                    return c;
                }
                return c + service.on_data(now, conn, b, out);
            }
            if b.is_empty() || out.len() >= OUT_LIMIT {
                return c; // a partial message, or backpressure: the rest waits
            }
            // A message straddles the two pieces: its first part goes to `pending`; the
            // rest comes from the next piece in the next round.
            pending.extend_from_slice(&a[c..]);
            copied = a.len() - c;
            a.len()
        })
    } else {
        // Finish the straddling message: append a chunk and let the service see it whole.
        // Chunk bytes it did not need stay in the receive buffer (they are not consumed), so
        // once the message is done the service reads in place again.
        stack.tcp_read_again(h, |a, _| {
            let old = pending.len();
            let take = a.len().min(STRADDLE_CHUNK);
            pending.extend_from_slice(&a[..take]);
            copied = take;
            let c = service.on_data(now, conn, pending, out);
            used_pending = c > 0;
            if c >= old {
                pending.clear();
                c - old
            } else {
                pending.drain(..c);
                take
            }
        })
    };
    (read, copied, used_pending)
}
