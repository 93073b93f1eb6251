//! One server connection over a byte stream: the buffers between a socket and an [`Protocol`], and
//! the loop that moves bytes between them following the order `apps` documents.

use crate::apps::Protocol;
use std::io::{self, Read, Write};

/// Receive buffer size a connection starts with.
const INITIAL_INPUT: usize = 64 * 1024;
/// Largest receive buffer: room for the largest message any app accepts (1 MiB) and its
/// header. A message that does not fit is a protocol error.
const MAX_INPUT: usize = 2 * 1024 * 1024 + 64 * 1024;
/// Reads per `drive` call before yielding to other connections, so a fast sender cannot
/// starve the rest of the event loop.
const READ_BUDGET: usize = 16;

/// Bytes read and dropped after the app asked to close, before giving up on the peer's FIN.
const LINGER_BYTES: usize = 1 << 20;

/// A byte stream whose sending half can be closed on its own (TCP's FIN, `shutdown(SHUT_WR)`).
pub trait HalfClose {
    /// Sends end-of-stream; reading stays possible.
    fn shutdown_write(&mut self) -> io::Result<()>;
}

impl HalfClose for mio::net::TcpStream {
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// What a `drive` call left the connection as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drive {
    /// Waiting for the socket to become readable or writable.
    Open,
    /// Has more to do: call `drive` again soon (readiness will not be signalled again).
    Again,
    /// Finished: close it.
    Closed(Close),
}

/// Why a connection ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Close {
    /// The peer finished or the app asked to close.
    Done,
    /// The socket failed (reset, broken pipe).
    Error,
    /// A message larger than the receive buffer.
    Overflow,
}

/// Byte counters of one event loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct IoCounters {
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// The buffers of one connection.
#[derive(Debug)]
pub struct ConnIo {
    input: Vec<u8>,
    /// Unconsumed input is `input[start..end]`.
    start: usize,
    end: usize,
    out: Vec<u8>,
    sent: usize,
    read_closed: bool,
    /// The app asked to close: the write side is shut and input is being drained.
    lingering: bool,
    lingered: usize,
}

impl Default for ConnIo {
    fn default() -> Self {
        ConnIo {
            input: vec![0; INITIAL_INPUT],
            start: 0,
            end: 0,
            out: Vec::new(),
            sent: 0,
            read_closed: false,
            lingering: false,
            lingered: 0,
        }
    }
}

impl ConnIo {
    /// Empties the buffers (keeping their memory) for a new connection.
    pub fn reset(&mut self) {
        self.start = 0;
        self.end = 0;
        self.out.clear();
        self.sent = 0;
        self.read_closed = false;
        self.lingering = false;
        self.lingered = 0;
        if self.input.len() > INITIAL_INPUT {
            self.input.truncate(INITIAL_INPUT);
            self.input.shrink_to_fit();
        }
    }

    /// Moves bytes between `stream` and `app` until the socket would block, the read budget is
    /// spent, or the connection is finished.
    pub fn drive<S: Read + Write + HalfClose, A: Protocol>(
        &mut self,
        stream: &mut S,
        app: &mut A,
        counters: &mut IoCounters,
    ) -> Drive {
        let mut reads = 0;
        loop {
            // 1. Flush what the app wrote.
            while self.sent < self.out.len() {
                match stream.write(&self.out[self.sent..]) {
                    Ok(0) => return Drive::Closed(Close::Error),
                    Ok(n) => {
                        self.sent += n;
                        counters.bytes_out += n as u64;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drive::Open,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Drive::Closed(Close::Error),
                }
            }
            self.out.clear();
            self.sent = 0;
            // 2. Close once everything the app asked for is sent: send FIN, then read and drop
            //    what the peer still sends until its FIN. Closing with unread bytes would make
            //    the kernel send RST, and a RST can destroy the final response (a 400 or 413)
            //    before the peer has read it.
            if app.wants_close() {
                return self.linger(stream, counters);
            }
            // 3. Let the app consume what is pending.
            if self.start < self.end {
                let used = app.on_readable(&self.input[self.start..self.end], &mut self.out);
                self.start += used.min(self.end - self.start);
                if self.start == self.end {
                    self.start = 0;
                    self.end = 0;
                }
                if !self.out.is_empty() || app.wants_close() {
                    continue;
                }
            }
            // 4. Read more.
            if self.read_closed {
                // Whatever is left is an incomplete message the peer will never finish.
                return Drive::Closed(Close::Done);
            }
            if reads == READ_BUDGET {
                return Drive::Again;
            }
            if !self.make_room() {
                return Drive::Closed(Close::Overflow);
            }
            match stream.read(&mut self.input[self.end..]) {
                Ok(0) => self.read_closed = true,
                Ok(n) => {
                    self.end += n;
                    reads += 1;
                    counters.bytes_in += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drive::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Drive::Closed(Close::Error),
            }
        }
    }

    fn linger<S: Read + HalfClose>(&mut self, stream: &mut S, counters: &mut IoCounters) -> Drive {
        if !self.lingering {
            self.lingering = true;
            if stream.shutdown_write().is_err() {
                return Drive::Closed(Close::Done);
            }
        }
        let mut reads = 0;
        loop {
            if self.read_closed || self.lingered >= LINGER_BYTES {
                return Drive::Closed(Close::Done);
            }
            if reads == READ_BUDGET {
                return Drive::Again;
            }
            match stream.read(&mut self.input) {
                Ok(0) => self.read_closed = true,
                Ok(n) => {
                    self.lingered += n;
                    reads += 1;
                    counters.bytes_in += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Drive::Open,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Drive::Closed(Close::Done),
            }
        }
    }

    /// Ensures free space after `end`: moves a partial message to the front, or grows the
    /// buffer up to its limit. `false` if the buffer is full of one unfinished message.
    fn make_room(&mut self) -> bool {
        if self.end < self.input.len() {
            return true;
        }
        if self.start > 0 {
            self.input.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
            return true;
        }
        if self.input.len() >= MAX_INPUT {
            return false;
        }
        let len = (self.input.len() * 2).min(MAX_INPUT);
        self.input.resize(len, 0);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apps::{echo::Echo, rr::RrServer};
    use crate::framing::LengthPrefixed;
    use std::collections::VecDeque;

    /// An in-memory socket that hands out reads in fixed pieces and accepts at most
    /// `write_room` bytes per write call before saying WouldBlock once.
    struct Pipe {
        incoming: VecDeque<Vec<u8>>,
        eof: bool,
        written: Vec<u8>,
        write_room: usize,
        blocked: bool,
        write_shut: bool,
    }

    impl Read for Pipe {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            match self.incoming.front_mut() {
                Some(piece) => {
                    let n = piece.len().min(buf.len());
                    buf[..n].copy_from_slice(&piece[..n]);
                    piece.drain(..n);
                    if piece.is_empty() {
                        self.incoming.pop_front();
                    }
                    Ok(n)
                }
                None if self.eof => Ok(0),
                None => Err(io::ErrorKind::WouldBlock.into()),
            }
        }
    }

    impl Write for Pipe {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.blocked {
                self.blocked = false;
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.blocked = true;
            let n = buf.len().min(self.write_room);
            self.written.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl HalfClose for Pipe {
        fn shutdown_write(&mut self) -> io::Result<()> {
            self.write_shut = true;
            Ok(())
        }
    }

    fn run_until_closed<A: Protocol>(pipe: &mut Pipe, app: &mut A) -> Close {
        let mut io = ConnIo::default();
        let mut counters = IoCounters::default();
        for _ in 0..100_000 {
            if let Drive::Closed(c) = io.drive(pipe, app, &mut counters) {
                assert_eq!(counters.bytes_out, pipe.written.len() as u64);
                return c;
            }
        }
        panic!("connection never finished");
    }

    #[test]
    fn echo_survives_short_writes_and_pieces() {
        let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7) as u8).collect();
        let mut pipe = Pipe {
            incoming: data.chunks(1000).map(<[u8]>::to_vec).collect(),
            eof: true,
            written: Vec::new(),
            write_room: 777,
            blocked: false,
            write_shut: false,
        };
        assert_eq!(run_until_closed(&mut pipe, &mut Echo::default()), Close::Done);
        assert_eq!(pipe.written, data);
    }

    #[test]
    fn reset_buffers_serve_a_new_connection_cleanly() {
        let mut io = ConnIo::default();
        let mut counters = IoCounters::default();
        let mut first = Pipe {
            incoming: VecDeque::from([vec![1, 2, 3]]),
            eof: false,
            written: Vec::new(),
            write_room: 1,
            blocked: false,
            write_shut: false,
        };
        // Leaves unsent output and a half-open state behind.
        assert_eq!(io.drive(&mut first, &mut Echo::default(), &mut counters), Drive::Open);
        io.reset();
        let mut second = Pipe {
            incoming: VecDeque::from([vec![9]]),
            eof: true,
            written: Vec::new(),
            write_room: 10,
            blocked: false,
            write_shut: false,
        };
        for _ in 0..10 {
            if io.drive(&mut second, &mut Echo::default(), &mut counters)
                == Drive::Closed(Close::Done)
            {
                break;
            }
        }
        assert_eq!(second.written, vec![9]);
    }

    #[test]
    fn app_close_sends_fin_and_drains_until_the_peer_finishes() {
        use crate::apps::http;
        use std::sync::Arc;
        let mut app = http::Http::new(Arc::new(http::Config::new(1)));
        let mut pipe = Pipe {
            // A refused request followed by more bytes the server will never parse.
            incoming: VecDeque::from([b"BAD\r\n\r\n".to_vec(), vec![b'z'; 100_000]]),
            eof: true,
            written: Vec::new(),
            write_room: usize::MAX,
            blocked: false,
            write_shut: false,
        };
        assert_eq!(run_until_closed(&mut pipe, &mut app), Close::Done);
        assert!(pipe.write_shut);
        assert!(pipe.incoming.is_empty(), "input must be drained before closing");
        assert!(pipe.written.starts_with(b"HTTP/1.1 400"));
    }

    #[test]
    fn large_rr_message_grows_the_buffer() {
        let mut request = Vec::new();
        LengthPrefixed::encode(&vec![5; 1 << 20], &mut request).unwrap();
        let mut pipe = Pipe {
            incoming: request.chunks(50_000).map(<[u8]>::to_vec).collect(),
            eof: true,
            written: Vec::new(),
            write_room: usize::MAX,
            blocked: false,
            write_shut: false,
        };
        assert_eq!(run_until_closed(&mut pipe, &mut RrServer::default()), Close::Done);
        assert_eq!(pipe.written, request);
    }
}
