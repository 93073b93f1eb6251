//! Sans-IO protocols: per-connection state machines that read bytes and write bytes and
//! never touch a socket, so the same code serves over Linux sockets (`linux::server`) and
//! over the xdptcp stack (`xdp::server`, a driver `Service`).
//!
//! How a transport drives a [`Protocol`], in this order, for each connection:
//! 1. Write out everything the app left in `out` (the transport owns `out` and keeps unsent
//!    bytes; an app only appends).
//! 2. If `wants_close()` and `out` is empty: close the connection.
//! 3. Call `on_readable(pending, out)` with all received bytes not yet consumed; drop the
//!    `consumed` prefix it returns and keep the rest (a partial message) for the next call.
//!    An app consumes nothing more once `out` holds [`OUT_LIMIT`] bytes: that is its
//!    backpressure, and the transport must flush `out` and call again before reading more.
//! 4. Read more bytes and repeat. On end of stream, once pending bytes stop being consumed,
//!    close.

pub mod discard;
pub mod echo;
pub mod http;
pub mod rr;
pub mod sockperf;

use std::sync::Arc;

/// Bytes an app may leave in `out` before it stops consuming input (the driver's, so both
/// transports apply the same backpressure).
pub use xdptcp_driver::service::OUT_LIMIT;

/// One connection's application state.
pub trait Protocol {
    /// Consumes a prefix of `input` (bytes received and not yet consumed), appends what to send
    /// to `out`, and returns how many bytes of `input` it consumed.
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize;

    /// The connection should be closed once `out` is flushed (a protocol error, or the peer
    /// asked for it).
    fn wants_close(&self) -> bool;

    /// Messages (requests, pings) handled so far, for the server's counters.
    fn messages(&self) -> u64;
}

/// Which application a server runs, with its settings; makes one [`Conn`] per connection.
#[derive(Debug, Clone)]
pub enum AppSpec {
    /// Sends every byte back.
    Echo,
    /// Reads and drops everything.
    Discard,
    /// HTTP/1.1 responder with a fixed body.
    Http(Arc<http::Config>),
    /// sockperf 3.x TCP server.
    Sockperf,
    /// Length-prefixed request/response for `xdptcp load rr|crr`.
    Rr,
}

impl AppSpec {
    /// The name used on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            AppSpec::Echo => "echo",
            AppSpec::Discard => "discard",
            AppSpec::Http(_) => "http",
            AppSpec::Sockperf => "sockperf",
            AppSpec::Rr => "rr",
        }
    }

    /// State for a new connection.
    pub fn new_conn(&self) -> Conn {
        match self {
            AppSpec::Echo => Conn::Echo(echo::Echo::default()),
            AppSpec::Discard => Conn::Discard(discard::Discard::default()),
            AppSpec::Http(config) => Conn::Http(http::Http::new(config.clone())),
            AppSpec::Sockperf => Conn::Sockperf(sockperf::Sockperf::default()),
            AppSpec::Rr => Conn::Rr(rr::RrServer::default()),
        }
    }
}

/// One connection of any application (an enum, not a `Box<dyn Protocol>`, so a call is a jump, not
/// an indirect call, and a connection is one allocation-free value).
#[derive(Debug)]
pub enum Conn {
    Echo(echo::Echo),
    Discard(discard::Discard),
    Http(http::Http),
    Sockperf(sockperf::Sockperf),
    Rr(rr::RrServer),
}

impl Protocol for Conn {
    fn on_readable(&mut self, input: &[u8], out: &mut Vec<u8>) -> usize {
        match self {
            Conn::Echo(a) => a.on_readable(input, out),
            Conn::Discard(a) => a.on_readable(input, out),
            Conn::Http(a) => a.on_readable(input, out),
            Conn::Sockperf(a) => a.on_readable(input, out),
            Conn::Rr(a) => a.on_readable(input, out),
        }
    }

    fn wants_close(&self) -> bool {
        match self {
            Conn::Echo(a) => a.wants_close(),
            Conn::Discard(a) => a.wants_close(),
            Conn::Http(a) => a.wants_close(),
            Conn::Sockperf(a) => a.wants_close(),
            Conn::Rr(a) => a.wants_close(),
        }
    }

    fn messages(&self) -> u64 {
        match self {
            Conn::Echo(a) => a.messages(),
            Conn::Discard(a) => a.messages(),
            Conn::Http(a) => a.messages(),
            Conn::Sockperf(a) => a.messages(),
            Conn::Rr(a) => a.messages(),
        }
    }
}

/// Test helper: runs `app` over `input` delivered in the pieces cut at `cuts` (positions, taken
/// modulo the length), the way a transport with unconsumed-byte retention does, flushing `out`
/// after every call. Returns everything the app sent and whether it asked to close.
#[cfg(test)]
pub(crate) fn drive_split<A: Protocol>(
    app: &mut A,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, bool) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    points.push(input.len());
    points.sort_unstable();
    let mut pending = Vec::new();
    let mut sent = Vec::new();
    let mut out = Vec::new();
    let mut prev = 0;
    for p in points {
        pending.extend_from_slice(&input[prev..p]);
        prev = p;
        loop {
            if app.wants_close() {
                return (sent, true);
            }
            let used = app.on_readable(&pending, &mut out);
            pending.drain(..used);
            let progressed = used > 0 || !out.is_empty();
            sent.append(&mut out);
            if !progressed {
                break;
            }
        }
    }
    (sent, app.wants_close())
}
