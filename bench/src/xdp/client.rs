//! An active-open service: connects when the worker starts, sends a known byte pattern,
//! half-closes, and checks every byte that comes back against the same pattern (an echo
//! server's reply) or just counts them.

use std::net::SocketAddr;
use xdptcp_driver::service::{source_ready, SourceReady};
use xdptcp_driver::service::{Cx, Service};
use xdptcp_stack::stack::{ConnectError, TcpHandle};
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

/// The timer that retries the connect while duplicate address detection runs.
const CONNECT: u64 = 0;

/// One connection that sends `send_bytes` and reads until the peer's FIN: a [`Service`].
#[derive(Debug)]
pub struct XferClient {
    remote: SocketAddr,
    send_bytes: u64,
    /// Check received bytes against the pattern (the peer echoes).
    verify: bool,
    handle: Option<TcpHandle>,
    block: Vec<u8>,
    sent: u64,
    received: u64,
    /// Offset of the first byte that differed from the pattern.
    mismatch: Option<u64>,
    outcome: Outcome,
    /// Why the connect could not be made once the worker ran (a one-line error).
    error: Option<String>,
    connected_at: Option<Instant>,
    finished_at: Option<Instant>,
}

impl XferClient {
    /// A client of `remote` that sends `send_bytes` (then FIN) and verifies the reply if
    /// `verify`.
    pub fn new(remote: SocketAddr, send_bytes: u64, verify: bool) -> Self {
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
            outcome: Outcome::Running,
            error: None,
            connected_at: None,
            finished_at: None,
        }
    }

    /// How it ended (so far).
    pub fn outcome(&self) -> Outcome {
        self.outcome
    }

    /// Why the connect never went out (no source address: duplicate address detection
    /// failed), if that is how it ended.
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
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

    /// Checks `input`, the bytes at offset `received`, against the pattern.
    fn verify(&mut self, input: &[u8]) {
        let mut at = self.received;
        for chunk in input.chunks(PATTERN_PERIOD) {
            let off = (at % PATTERN_PERIOD as u64) as usize;
            let want = &self.block[off..off + chunk.len()];
            if chunk != want && self.mismatch.is_none() {
                let i = chunk.iter().zip(want).position(|(x, y)| x != y).unwrap_or(0);
                self.mismatch = Some(at + i as u64);
            }
            at += chunk.len() as u64;
        }
    }
}

impl XferClient {
    /// Opens the connection if we have a source address for it, else asks again when
    /// detection's next step is due.
    fn connect(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        let now = cx.now();
        match source_ready(cx.stack().iface().ipv6(), now, self.remote) {
            SourceReady::Ready => {}
            SourceReady::RetryAt(at) => {
                cx.arm_timer(at, CONNECT);
                return Ok(());
            }
            SourceReady::Failed(why) => {
                self.outcome = Outcome::Failed("no source address");
                return Err(why);
            }
        }
        let stack = cx.stack();
        let config = *stack.tcp_config();
        match stack.tcp_connect_to(now, self.remote, config) {
            Ok(h) => {
                self.handle = Some(h);
                Ok(())
            }
            Err(e) => {
                let why = match e {
                    ConnectError::NoFreePort => "no free port",
                    ConnectError::TableFull => "connection table full",
                    ConnectError::AddrInUse => "address in use",
                    ConnectError::BadAddress => "bad address",
                };
                self.outcome = Outcome::Failed(why);
                Err(format!("cannot connect to {}: {why}", self.remote))
            }
        }
    }
}

impl Service for XferClient {
    type Conn = ();

    /// Connects at once, or (over IPv6, while duplicate address detection runs) when our
    /// address is usable.
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        self.connect(cx)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        if token == CONNECT && self.handle.is_none() && self.outcome == Outcome::Running {
            if let Err(e) = self.connect(cx) {
                self.error = Some(e);
            }
        }
    }

    fn open(&mut self, cx: &mut Cx<'_>, _h: TcpHandle) -> Option<()> {
        self.connected_at = Some(cx.now());
        Some(())
    }

    /// Receives, verifying in place (zero copy out of the receive buffer).
    fn on_data(&mut self, _now: Instant, _: &mut (), input: &[u8], _out: &mut Vec<u8>) -> usize {
        if self.verify {
            self.verify(input);
        }
        self.received += input.len() as u64;
        input.len()
    }

    /// Sends the pattern straight into the send buffer, then half-closes.
    fn on_writable(&mut self, cx: &mut Cx<'_>, _: &mut (), h: TcpHandle) {
        if self.sent == self.send_bytes {
            return;
        }
        let (block, sent, total) = (&self.block, &mut self.sent, self.send_bytes);
        let _ = cx.write(h, |room| {
            let off = (*sent % PATTERN_PERIOD as u64) as usize;
            let n = room.len().min((total - *sent) as usize).min(PATTERN_PERIOD);
            room[..n].copy_from_slice(&block[off..off + n]);
            *sent += n as u64;
            n
        });
        if self.sent == self.send_bytes {
            let _ = cx.stack().tcp_shutdown_write(h);
        }
    }

    /// As the active closer it ends in TIME-WAIT (RFC 9293 §3.6), reported as `Closed` once
    /// both FINs are exchanged and every byte was read: the end of the transfer.
    fn closed(&mut self, cx: &mut Cx<'_>, _h: TcpHandle, _: Option<()>, why: Event) {
        if self.outcome != Outcome::Running {
            return;
        }
        self.finished_at = Some(cx.now());
        self.outcome = match why {
            Event::Closed => Outcome::Done,
            Event::Reset => Outcome::Failed("connection reset by peer"),
            Event::TimedOut => Outcome::Failed("connection timed out"),
            Event::Refused => Outcome::Failed("connection refused"),
            _ => Outcome::Failed("closed"),
        };
    }

    /// Interrupted: the transfer is abandoned with a reset, not finished gracefully.
    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        if let (Some(h), Outcome::Running) = (self.handle, self.outcome) {
            let _ = cx.stack().tcp_abort(h);
        }
    }

    fn finished(&self) -> bool {
        self.outcome != Outcome::Running
    }
}
