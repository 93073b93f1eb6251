//! Applications to run over a [`Pair`]: a bulk transfer both ways at once and a
//! request/response loop, each checking every byte against a seeded pattern.

use super::pair::{Pair, ADDR_B};
use super::rng::Pattern;
use crate::stack::{Stack, StackEvent, TcpError, TcpHandle};
use crate::tcp::{Event, State};
use crate::time::{Duration, Instant};

/// The port B listens on.
pub const PORT: u16 = 5001;

/// One side of a bulk transfer: sends `to_send` pattern bytes, checks what arrives.
pub struct BulkEnd {
    /// The connection, once connected or accepted.
    pub handle: Option<TcpHandle>,
    out: Pattern,
    to_send: usize,
    /// Bytes accepted by `tcp_send`.
    pub sent: usize,
    chunk: Vec<u8>,
    chunk_at: usize,
    expect: Pattern,
    /// Bytes received in order.
    pub received: usize,
    /// Received bytes that differ from the pattern.
    pub mismatches: usize,
    /// The peer's end of stream was read.
    pub eof: bool,
    shut: bool,
    closed: bool,
    /// The connection's terminal event (`Closed`, `Reset`, `TimedOut`, `Refused`).
    pub terminal: Option<Event>,
}

impl core::fmt::Debug for BulkEnd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("BulkEnd")
            .field("handle", &self.handle)
            .field("to_send", &self.to_send)
            .field("sent", &self.sent)
            .field("received", &self.received)
            .field("mismatches", &self.mismatches)
            .field("eof", &self.eof)
            .field("shut", &self.shut)
            .field("closed", &self.closed)
            .field("terminal", &self.terminal)
            .finish()
    }
}

impl BulkEnd {
    fn new(send_seed: u64, to_send: usize, recv_seed: u64) -> Self {
        BulkEnd {
            handle: None,
            out: Pattern::new(send_seed),
            to_send,
            sent: 0,
            chunk: Vec::new(),
            chunk_at: 0,
            expect: Pattern::new(recv_seed),
            received: 0,
            mismatches: 0,
            eof: false,
            shut: false,
            closed: false,
            terminal: None,
        }
    }

    fn pump(&mut self, stack: &mut Stack) {
        let Some(h) = self.handle else { return };
        while self.sent < self.to_send {
            if self.chunk_at == self.chunk.len() {
                let n = (self.to_send - self.sent).min(16 * 1024);
                self.chunk.resize(n, 0);
                self.out.fill(&mut self.chunk);
                self.chunk_at = 0;
            }
            match stack.tcp_send(h, &self.chunk[self.chunk_at..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    self.chunk_at += n;
                    self.sent += n;
                }
            }
        }
        if self.sent == self.to_send && !self.shut {
            self.shut = stack.tcp_shutdown_write(h).is_ok();
        }
        loop {
            let (expect, mismatches) = (&mut self.expect, &mut self.mismatches);
            match stack.tcp_read(h, |a, b| {
                for &x in a.iter().chain(b) {
                    *mismatches += usize::from(x != expect.next_byte());
                }
                a.len() + b.len()
            }) {
                Ok(0) => break,
                Ok(n) => self.received += n,
                Err(TcpError::Finished) => {
                    self.eof = true;
                    break;
                }
                Err(_) => break,
            }
        }
        if self.eof && self.shut && !self.closed {
            self.closed = stack.tcp_close(h).is_ok();
        }
    }

    fn on_event(&mut self, h: TcpHandle, e: Event) {
        if Some(h) == self.handle
            && matches!(e, Event::Closed | Event::Reset | Event::TimedOut | Event::Refused)
        {
            self.terminal = Some(e);
        }
    }
}

/// What a bulk transfer did.
#[derive(Debug)]
pub struct BulkReport {
    /// A's end (the client).
    pub a: BulkEnd,
    /// B's end (the server).
    pub b: BulkEnd,
    /// Both connections were freed before the time limit.
    pub finished: bool,
    /// Virtual time taken.
    pub elapsed: Duration,
}

impl BulkReport {
    /// Whether both directions arrived complete and byte-exact and both ends closed normally.
    pub fn is_clean(&self, a_to_b: usize, b_to_a: usize) -> bool {
        self.finished
            && self.b.received == a_to_b
            && self.a.received == b_to_a
            && self.a.mismatches == 0
            && self.b.mismatches == 0
            && self.a.eof
            && self.b.eof
            && self.a.terminal == Some(Event::Closed)
            && self.b.terminal == Some(Event::Closed)
    }
}

fn drain_events(stack: &mut Stack, end: &mut BulkEnd, accept: bool) {
    while let Some(ev) = stack.poll_event() {
        match ev {
            StackEvent::Acceptable(l) if accept && end.handle.is_none() => {
                end.handle = stack.tcp_accept(l);
            }
            StackEvent::Acceptable(_) => {}
            StackEvent::Tcp(h, e) => end.on_event(h, e),
        }
    }
}

/// Sends `a_to_b` bytes from A to B and `b_to_a` bytes from B to A over one connection at the
/// same time (A connects to B), each side half-closing after its data and closing after the
/// peer's end of stream; runs until both connections are freed (TIME-WAIT included) or
/// `limit` of virtual time passes.
pub fn bulk_transfer(
    pair: &mut Pair,
    a_to_b: usize,
    b_to_a: usize,
    seed: u64,
    limit: Duration,
) -> BulkReport {
    bulk_transfer_to(pair, (ADDR_B, PORT).into(), a_to_b, b_to_a, seed, limit)
}

/// [`bulk_transfer`] to B's address `to` of either family (B listens on `0.0.0.0` for an
/// IPv4 `to`, on `::` for an IPv6 one).
pub fn bulk_transfer_to(
    pair: &mut Pair,
    to: std::net::SocketAddr,
    a_to_b: usize,
    b_to_a: usize,
    seed: u64,
    limit: Duration,
) -> BulkReport {
    let start = pair.now;
    let any: std::net::IpAddr = if to.is_ipv6() {
        std::net::Ipv6Addr::UNSPECIFIED.into()
    } else {
        std::net::Ipv4Addr::UNSPECIFIED.into()
    };
    let listener = pair.b.tcp_listen(any, to.port(), 16).ok();
    let mut a = BulkEnd::new(seed, a_to_b, seed ^ 0xb0b);
    let mut b = BulkEnd::new(seed ^ 0xb0b, b_to_a, seed);
    let config = *pair.a.tcp_config();
    a.handle = pair.a.tcp_connect_to(pair.now, to, config).ok();
    let finished = pair.drive(start + limit, |p| {
        drain_events(&mut p.a, &mut a, false);
        drain_events(&mut p.b, &mut b, true);
        a.pump(&mut p.a);
        b.pump(&mut p.b);
        let freed =
            |s: &Stack, h: Option<TcpHandle>| h.is_some_and(|h| s.tcp_state(h) == State::Closed);
        freed(&p.a, a.handle) && freed(&p.b, b.handle)
    });
    // Events of the very last step.
    drain_events(&mut pair.a, &mut a, false);
    drain_events(&mut pair.b, &mut b, true);
    if let Some(l) = listener {
        pair.b.tcp_unlisten(l);
    }
    BulkReport { a, b, finished, elapsed: pair.now.saturating_duration_since(start) }
}

/// What a request/response run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RpcReport {
    /// Exchanges completed and verified.
    pub completed: usize,
    /// Bytes that differed from the pattern (either direction).
    pub mismatches: usize,
    /// Virtual time taken.
    pub elapsed: Duration,
}

/// `count` exchanges of a `request`-byte request from A and a `response`-byte response from
/// B, one at a time over one connection with `TCP_NODELAY`, then an orderly close.
pub fn request_response(
    pair: &mut Pair,
    count: usize,
    request: usize,
    response: usize,
    limit: Duration,
) -> RpcReport {
    let start = pair.now;
    let listener = pair.b.tcp_listen(std::net::Ipv4Addr::UNSPECIFIED, PORT + 1, 16).ok();
    let client = pair.a.tcp_connect(pair.now, ADDR_B, PORT + 1).ok();
    if let Some(c) = client {
        let _ = pair.a.tcp_set_nodelay(c, true);
    }
    let mut server: Option<TcpHandle> = None;
    let (mut req_pat, mut req_check) = (Pattern::new(1), Pattern::new(1));
    let (mut resp_pat, mut resp_check) = (Pattern::new(2), Pattern::new(2));
    let (mut completed, mut mismatches) = (0usize, 0usize);
    let mut req = vec![0u8; request];
    let mut resp = vec![0u8; response];
    req_pat.fill(&mut req);
    resp_pat.fill(&mut resp);
    // Progress of the current exchange.
    let (mut req_sent, mut req_got, mut resp_sent, mut resp_got) = (0usize, 0usize, 0usize, 0usize);
    let mut closing = false;
    pair.drive(start + limit, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                if let Some(h) = p.b.tcp_accept(l) {
                    let _ = p.b.tcp_set_nodelay(h, true);
                    server = Some(h);
                }
            }
        }
        while p.a.poll_event().is_some() {}
        let (Some(c), Some(s)) = (client, server) else { return false };
        if completed == count {
            if !closing {
                closing = true;
                let _ = p.a.tcp_close(c);
            }
            if p.b.tcp_recv_finished(s) && p.b.tcp_state(s) == State::CloseWait {
                let _ = p.b.tcp_close(s);
            }
            return p.a.tcp_state(c) == State::Closed && p.b.tcp_state(s) == State::Closed;
        }
        if req_sent < request {
            req_sent += p.a.tcp_send(c, &req[req_sent..]).unwrap_or(0);
        }
        // `tcp_read` lends a chunk or two at a time: read until nothing is left.
        while let Ok(n @ 1..) = p.b.tcp_read(s, |a, b| {
            for &x in a.iter().chain(b) {
                mismatches += usize::from(x != req_check.next_byte());
            }
            a.len() + b.len()
        }) {
            req_got += n;
        }
        if req_got >= request && resp_sent < response {
            resp_sent += p.b.tcp_send(s, &resp[resp_sent..]).unwrap_or(0);
        }
        while let Ok(n @ 1..) = p.a.tcp_read(c, |a, b| {
            for &x in a.iter().chain(b) {
                mismatches += usize::from(x != resp_check.next_byte());
            }
            a.len() + b.len()
        }) {
            resp_got += n;
        }
        if req_got >= request && resp_got >= response {
            completed += 1;
            (req_sent, req_got, resp_sent, resp_got) = (0, 0, 0, 0);
            req_pat.fill(&mut req);
            resp_pat.fill(&mut resp);
            if completed < count {
                req_sent += p.a.tcp_send(c, &req).unwrap_or(0);
            }
        }
        false
    });
    if let Some(l) = listener {
        pair.b.tcp_unlisten(l);
    }
    RpcReport { completed, mismatches, elapsed: pair.now.saturating_duration_since(start) }
}

/// Virtual time `d` after `t` (a readability helper for tests).
pub fn after(t: Instant, d: Duration) -> Instant {
    t + d
}

/// Opens one connection from A to B on `port` (B listening on it, backlog 16) and runs until
/// both ends are established and accepted. Returns (A's handle, B's handle, B's listener).
pub fn establish(
    pair: &mut Pair,
    port: u16,
    limit: Duration,
) -> Option<(TcpHandle, TcpHandle, crate::stack::ListenHandle)> {
    let listener = pair.b.tcp_listen(std::net::Ipv4Addr::UNSPECIFIED, port, 16).ok()?;
    let client = pair.a.tcp_connect(pair.now, ADDR_B, port).ok()?;
    let mut server = None;
    let deadline = pair.now + limit;
    pair.drive(deadline, |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                if server.is_none() {
                    server = p.b.tcp_accept(l);
                }
            }
        }
        server.is_some() && p.a.tcp_state(client) == State::Established
    });
    Some((client, server?, listener))
}

/// The distinct states a connection went through, in order, as seen at each step.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct StateLog(pub Vec<State>);

impl StateLog {
    /// Records `s` if it differs from the last state recorded.
    pub fn note(&mut self, s: State) {
        if self.0.last() != Some(&s) {
            self.0.push(s);
        }
    }

    /// Whether `s` was ever seen.
    pub fn saw(&self, s: State) -> bool {
        self.0.contains(&s)
    }
}
