//! An active-open application: connects when the worker starts, sends a known byte pattern,
//! half-closes, and checks every byte that comes back against the same pattern (an echo
//! server's reply) or just counts them.

use std::net::SocketAddrV4;
use xdptcp_driver::app::{App as DriverApp, AppCopies};
use xdptcp_stack::stack::{Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

/// Period of [`pattern`]: a prime, so the pattern never lines up with segment or ring sizes.
pub const PATTERN_PERIOD: usize = 65521;

/// Byte `i` of the transfer pattern (`((j*j*31 + j*7) mod 251)` with `j = i mod 65521`); a
/// Python peer makes the same bytes with
/// `bytes((j*j*31 + j*7) % 251 for j in range(65521))` repeated.
pub fn pattern(i: u64) -> u8 {
    let j = i % PATTERN_PERIOD as u64;
    ((j * j * 31 + j * 7) % 251) as u8
}

/// How a transfer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Still running.
    Running,
    /// Sent everything, received the peer's whole stream, connection closed.
    Done,
    /// The connection failed (`Reset`, `TimedOut`, `Refused`) or could not be opened.
    Failed(&'static str),
}

/// One connection that sends `send_bytes` and reads until the peer's FIN.
#[derive(Debug)]
pub struct XferClient {
    remote: SocketAddrV4,
    send_bytes: u64,
    /// Check received bytes against the pattern (the peer echoes).
    verify: bool,
    handle: Option<TcpHandle>,
    block: Vec<u8>,
    sent: u64,
    received: u64,
    /// Offset of the first byte that differed from the pattern.
    mismatch: Option<u64>,
    write_closed: bool,
    outcome: Outcome,
    /// Why the connection could not even be attempted.
    start_error: Option<String>,
    connected_at: Option<Instant>,
    finished_at: Option<Instant>,
    copies: AppCopies,
}

impl XferClient {
    /// A client of `remote` that sends `send_bytes` (then FIN) and verifies the reply if
    /// `verify`.
    pub fn new(remote: SocketAddrV4, send_bytes: u64, verify: bool) -> Self {
        // Two periods, so any offset has PATTERN_PERIOD contiguous bytes after it.
        let block = (0..2 * PATTERN_PERIOD as u64).map(pattern).collect();
        XferClient {
            remote,
            send_bytes,
            verify,
            handle: None,
            block,
            sent: 0,
            received: 0,
            mismatch: None,
            write_closed: false,
            outcome: Outcome::Running,
            start_error: None,
            connected_at: None,
            finished_at: None,
            copies: AppCopies::default(),
        }
    }

    /// How it ended (so far).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Bytes queued for sending.
    pub fn sent(&self) -> u64 {
        self.sent
    }

    /// Bytes received.
    pub fn received(&self) -> u64 {
        self.received
    }

    /// First received offset that differed from the pattern.
    pub fn mismatch(&self) -> Option<u64> {
        self.mismatch
    }

    /// Time from the handshake to the close, if both happened.
    pub fn elapsed(&self) -> Option<xdptcp_stack::time::Duration> {
        Some(self.finished_at?.saturating_duration_since(self.connected_at?))
    }

    fn pump(&mut self, stack: &mut Stack, h: TcpHandle) {
        // Send.
        while self.sent < self.send_bytes {
            let off = (self.sent % PATTERN_PERIOD as u64) as usize;
            let n = (self.send_bytes - self.sent).min(PATTERN_PERIOD as u64) as usize;
            match stack.tcp_send(h, &self.block[off..off + n]) {
                Ok(0) | Err(_) => break,
                Ok(k) => {
                    self.sent += k as u64;
                    self.copies.tx_app_to_ring += k as u64;
                }
            }
        }
        if self.sent == self.send_bytes && !self.write_closed {
            self.write_closed = true;
            let _ = stack.tcp_shutdown_write(h);
        }
        // Receive, verifying in place (zero copy out of the ring).
        loop {
            let (received, verify, block) = (self.received, self.verify, &self.block);
            let mut bad = None;
            let r = stack.tcp_read(h, |a, b| {
                if verify {
                    let mut at = received;
                    for piece in [a, b] {
                        for chunk in piece.chunks(PATTERN_PERIOD) {
                            let off = (at % PATTERN_PERIOD as u64) as usize;
                            if chunk != &block[off..off + chunk.len()] && bad.is_none() {
                                let i = chunk
                                    .iter()
                                    .zip(&block[off..])
                                    .position(|(x, y)| x != y)
                                    .unwrap_or(0);
                                bad = Some(at + i as u64);
                            }
                            at += chunk.len() as u64;
                        }
                    }
                }
                a.len() + b.len()
            });
            if self.mismatch.is_none() {
                self.mismatch = bad;
            }
            match r {
                Ok(0) => break,
                Ok(n) => self.received += n as u64,
                Err(TcpError::Finished) => {
                    let _ = stack.tcp_close(h);
                    break;
                }
                Err(_) => break,
            }
        }
    }
}

impl DriverApp for XferClient {
    fn start(&mut self, now: Instant, stack: &mut Stack) {
        match stack.tcp_connect(now, *self.remote.ip(), self.remote.port()) {
            Ok(h) => self.handle = Some(h),
            Err(e) => {
                let why = match e {
                    xdptcp_stack::stack::ConnectError::NoFreePort => "no free port",
                    xdptcp_stack::stack::ConnectError::TableFull => "connection table full",
                    xdptcp_stack::stack::ConnectError::AddrInUse => "address in use",
                    xdptcp_stack::stack::ConnectError::BadAddress => "bad address",
                };
                self.outcome = Outcome::Failed(why);
                self.start_error = Some(format!("cannot connect to {}: {why}", self.remote));
            }
        }
    }

    fn start_error(&self) -> Option<&str> {
        self.start_error.as_deref()
    }

    fn on_connected(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.connected_at = Some(now);
        self.pump(stack, h);
    }

    fn on_readable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.pump(stack, h);
    }

    fn on_writable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.pump(stack, h);
    }

    fn on_closed(&mut self, now: Instant, _stack: &mut Stack, _h: TcpHandle, why: Event) {
        if self.outcome != Outcome::Running {
            return;
        }
        self.finished_at = Some(now);
        self.outcome = match why {
            Event::Closed => Outcome::Done,
            Event::Reset => Outcome::Failed("connection reset by peer"),
            Event::TimedOut => Outcome::Failed("connection timed out"),
            Event::Refused => Outcome::Failed("connection refused"),
            _ => Outcome::Failed("closed"),
        };
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        // As the active closer we finish in TIME-WAIT (RFC 9293 §3.6): both FINs exchanged
        // and every byte read, which is the end of the transfer; the 2·MSL wait belongs to
        // the stack, not to the application.
        let Some(h) = self.handle else { return };
        if self.outcome == Outcome::Running
            && stack.tcp_state(h) == xdptcp_stack::tcp::State::TimeWait
            && stack.tcp_recv_finished(h)
        {
            self.finished_at = Some(now);
            self.outcome = Outcome::Done;
        }
    }

    fn shutdown(&mut self, _now: Instant, stack: &mut Stack) {
        if let Some(h) = self.handle {
            if self.outcome == Outcome::Running {
                let _ = stack.tcp_abort(h);
            }
        }
    }

    fn finished(&self) -> bool {
        self.outcome != Outcome::Running
    }

    fn copies(&self) -> AppCopies {
        self.copies
    }

    fn sample_connection(&self) -> Option<TcpHandle> {
        self.handle
    }
}
