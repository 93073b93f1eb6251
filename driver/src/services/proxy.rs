//! An L4 TCP proxy: each accepted client connection gets a backend connection (round-robin
//! over the backends) opened by the same stack, and bytes are forwarded both ways.
//!
//! - One copy: a direction moves from one connection's receive buffer straight into the
//!   other's send buffer ([`Cx::splice`]), with no buffer of the proxy's between.
//! - Backpressure: what does not fit the other side's send buffer stays in the receive
//!   buffer, so our window towards the sender closes; it moves on the other side's `Writable`.
//! - Half-close: end of stream on one side (its FIN, after every byte was forwarded) becomes
//!   a half-close of the other (RFC 9293 §3.6: a FIN closes one direction only).
//! - Failure: a backend that refuses, times out or resets, or a client that resets, aborts
//!   the other connection (a RST), so nothing waits forever on a dead partner.
//!
//! Those rules are [`relay`](super::relay), shared with the Linux reference proxy; this file
//! is the stack below them ([`SpliceIo`]).

use crate::service::{source_ready, SourceReady};
use std::net::{Ipv6Addr, SocketAddr};

use xdptcp_stack::stack::{TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

use super::relay::{relay, Backends, Broken, Moved, RelayIo, Side};
use crate::service::{Conns, Cx, Ports, Service};

/// What the proxy did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Client connections accepted.
    pub accepted: u64,
    /// Backend connections that could not be opened or failed to connect.
    pub backend_failed: u64,
    /// Pairs ended by a reset, timeout or refusal on either side.
    pub aborted: u64,
    /// Pairs whose both directions ended with a FIN.
    pub completed: u64,
    /// Bytes client → backend.
    pub bytes_up: u64,
    /// Bytes backend → client.
    pub bytes_down: u64,
}

impl ProxyCounters {
    /// Adds `o` (another worker's or thread's counters).
    pub fn add(&mut self, o: &ProxyCounters) {
        self.accepted += o.accepted;
        self.backend_failed += o.backend_failed;
        self.aborted += o.aborted;
        self.completed += o.completed;
        self.bytes_up += o.bytes_up;
        self.bytes_down += o.bytes_down;
    }
}

/// One side of a pair: the other side's handle, and which way this side's bytes go.
#[derive(Debug, Clone, Copy)]
pub struct ProxySide {
    peer: TcpHandle,
    /// This is the client: its bytes go up, to the backend.
    client: bool,
}

/// The timer that retries the listen while duplicate address detection runs.
const LISTEN: u64 = 0;

/// The proxy service.
#[derive(Debug)]
pub struct Proxy {
    port: u16,
    backlog: usize,
    backends: Backends<SocketAddr>,
    ports: Ports,
    /// Why the proxy stopped on its own: no source address for a backend (duplicate address
    /// detection failed after the start).
    error: Option<String>,
    /// Backends connecting, with their client (until the backend's handshake completes).
    connecting: Conns<TcpHandle>,
    /// Client connections open.
    open: usize,
    counters: ProxyCounters,
}

impl Proxy {
    /// A proxy listening on `port` of the stack's addresses (both families), to backends of
    /// either family.
    pub fn new(port: u16, backlog: usize, backends: Vec<SocketAddr>) -> Proxy {
        Proxy {
            port,
            backlog,
            backends: Backends::new(backends, 0),
            ports: Ports::default(),
            error: None,
            connecting: Conns::default(),
            open: 0,
            counters: ProxyCounters::default(),
        }
    }

    /// What it did.
    pub fn counters(&self) -> ProxyCounters {
        self.counters
    }

    /// Why the proxy stopped on its own, if it did (a one-line error).
    pub fn error(&self) -> Option<&str> {
        self.error.as_deref()
    }

    /// Listens once every backend has a source address (over IPv6, after duplicate address
    /// detection: a client accepted before would only be reset), else asks again when
    /// detection's next step is due.
    fn listen_when_ready(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        let now = cx.now();
        let mut retry = None;
        for b in self.backends.all() {
            match source_ready(cx.stack().iface().ipv6(), now, *b) {
                SourceReady::Ready => {}
                SourceReady::RetryAt(at) => retry = Some(at),
                SourceReady::Failed(why) => return Err(why),
            }
        }
        match retry {
            Some(at) => {
                cx.arm_timer(at, LISTEN);
            }
            None => self.ports.listen(cx, Ipv6Addr::UNSPECIFIED, self.port, self.backlog)?,
        }
        Ok(())
    }

    /// Client connections open.
    pub fn open_pairs(&self) -> usize {
        self.open
    }

    /// Moves what `from` received into `to`, as far as it fits, and passes its end of stream
    /// on. A failure of either side aborts both.
    fn forward(&mut self, cx: &mut Cx<'_>, from: TcpHandle, to: TcpHandle, up: bool) {
        let (side, client, backend) =
            if up { (Side::Client, from, to) } else { (Side::Backend, to, from) };
        let mut io = SpliceIo { cx, client, backend };
        if relay(&mut io, side, &mut self.counters).is_err() {
            self.abort(io.cx, from, to);
        }
    }

    /// Resets both sides (one may be gone already); counts the pair once.
    fn abort(&mut self, cx: &mut Cx<'_>, a: TcpHandle, b: TcpHandle) {
        let stack = cx.stack();
        if stack.tcp_abort(a).is_ok() | stack.tcp_abort(b).is_ok() {
            self.counters.aborted += 1;
        }
    }
}

/// A pair's two connections on the worker's stack, for one callback.
struct SpliceIo<'a, 'cx> {
    cx: &'a mut Cx<'cx>,
    client: TcpHandle,
    backend: TcpHandle,
}

impl SpliceIo<'_, '_> {
    /// (from, to) for `from`'s direction.
    fn ends(&self, from: Side) -> (TcpHandle, TcpHandle) {
        match from {
            Side::Client => (self.client, self.backend),
            Side::Backend => (self.backend, self.client),
        }
    }
}

impl RelayIo for SpliceIo<'_, '_> {
    /// One copy, from one connection's receive buffer into the other's send buffer.
    fn forward(&mut self, from: Side) -> Result<Moved, Broken> {
        let (f, t) = self.ends(from);
        match self.cx.splice(f, t, usize::MAX) {
            Ok(0) => Ok(Moved::Nothing),
            Ok(n) => Ok(Moved::Bytes(n)),
            // First seen: `to` still could send (else the splice says WriteClosed).
            Err(TcpError::Finished) => Ok(Moved::Ended),
            // `from`'s end of stream was passed on already, or `to` is closing.
            Err(TcpError::WriteClosed) => Ok(Moved::Nothing),
            Err(_) => Err(Broken),
        }
    }

    fn pass_end(&mut self, from: Side) -> Result<bool, Broken> {
        let (_, t) = self.ends(from);
        let stack = self.cx.stack();
        let _ = stack.tcp_shutdown_write(t);
        Ok(stack.tcp_recv_finished(t))
    }
}

impl Service for Proxy {
    type Conn = ProxySide;

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        self.listen_when_ready(cx)
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        if token == LISTEN && self.error.is_none() {
            if let Err(e) = self.listen_when_ready(cx) {
                self.error = Some(e);
            }
        }
    }

    /// Done on its own only if it could not start listening.
    fn finished(&self) -> bool {
        self.error.is_some()
    }

    fn open(&mut self, cx: &mut Cx<'_>, h: TcpHandle) -> Option<ProxySide> {
        let _ = cx.stack().tcp_set_nodelay(h, true);
        if let Some(client) = self.connecting.remove(h) {
            return Some(ProxySide { peer: client, client: false });
        }
        let backend = self.backends.accepted(&mut self.counters)?;
        let now = cx.now();
        let stack = cx.stack();
        let config = *stack.tcp_config();
        match stack.tcp_connect_to(now, backend, config) {
            Ok(b) => {
                let _ = cx.stack().tcp_set_nodelay(b, true);
                self.connecting.insert(b, h);
                self.open += 1;
                Some(ProxySide { peer: b, client: true })
            }
            Err(_) => {
                self.counters.backend_failed += 1;
                None
            }
        }
    }

    fn on_data(&mut self, _: Instant, _: &mut ProxySide, _: &[u8], _: &mut Vec<u8>) -> usize {
        0 // never called: `on_readable` takes every byte
    }

    fn on_readable(&mut self, cx: &mut Cx<'_>, side: &mut ProxySide, h: TcpHandle) -> bool {
        self.forward(cx, h, side.peer, side.client);
        true
    }

    fn on_writable(&mut self, cx: &mut Cx<'_>, side: &mut ProxySide, h: TcpHandle) {
        self.forward(cx, side.peer, h, !side.client);
    }

    fn closed(&mut self, cx: &mut Cx<'_>, h: TcpHandle, side: Option<ProxySide>, why: Event) {
        let peer = match side {
            Some(s) => {
                self.open -= usize::from(s.client);
                s.peer
            }
            None => match self.connecting.remove(h) {
                // A backend that never connected: its client is open, and goes.
                Some(client) => {
                    self.counters.backend_failed += 1;
                    let _ = cx.stack().tcp_abort(client);
                    return;
                }
                None => return,
            },
        };
        if why != Event::Closed {
            self.abort(cx, h, peer);
        }
    }

    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        self.ports.close(cx);
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.counters;
        out("proxy_accepted", c.accepted);
        out("proxy_completed", c.completed);
        out("proxy_aborted", c.aborted);
        out("proxy_backend_failed", c.backend_failed);
        out("proxy_bytes_up", c.bytes_up);
        out("proxy_bytes_down", c.bytes_down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{LoopbackEnd, LoopbackPair};
    use crate::service::{Host, OUT_LIMIT};
    use crate::setup::test_stack;
    use crate::worker::Worker;
    use std::net::Ipv4Addr;
    use xdptcp_stack::time::Duration;

    const PROXY: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const TOTAL: usize = 300_000;

    fn byte(i: usize) -> u8 {
        (i * 13 + i / 4099) as u8
    }

    /// The other end: an echo backend on port 7 and a client of the proxy that writes
    /// `TOTAL` pattern bytes in place, half-closes, and checks what comes back.
    #[derive(Debug, Default)]
    struct Peer {
        client: Option<TcpHandle>,
        sent: usize,
        back: usize,
        wrong: usize,
        client_closed: Option<Event>,
    }

    impl Service for Peer {
        /// Whether the connection is the client.
        type Conn = bool;

        fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
            cx.stack().tcp_listen(Ipv4Addr::UNSPECIFIED, 7, 4).map_err(|e| format!("{e:?}"))?;
            let now = cx.now();
            self.client =
                Some(cx.stack().tcp_connect(now, PROXY, 80).map_err(|e| format!("{e:?}"))?);
            Ok(())
        }

        fn open(&mut self, _cx: &mut Cx<'_>, h: TcpHandle) -> Option<bool> {
            Some(Some(h) == self.client)
        }

        fn on_data(
            &mut self,
            _: Instant,
            client: &mut bool,
            input: &[u8],
            out: &mut Vec<u8>,
        ) -> usize {
            if *client {
                for &b in input {
                    self.wrong += usize::from(b != byte(self.back));
                    self.back += 1;
                }
                return input.len();
            }
            let take = input.len().min(OUT_LIMIT - out.len());
            out.extend_from_slice(&input[..take]);
            take
        }

        fn on_writable(&mut self, cx: &mut Cx<'_>, client: &mut bool, h: TcpHandle) {
            if !*client || self.sent == TOTAL {
                return;
            }
            let sent = &mut self.sent;
            let _ = cx.write(h, |room| {
                let n = room.len().min(TOTAL - *sent);
                for (i, b) in room[..n].iter_mut().enumerate() {
                    *b = byte(*sent + i);
                }
                *sent += n;
                n
            });
            if self.sent == TOTAL {
                let _ = cx.stack().tcp_shutdown_write(h);
            }
        }

        fn closed(&mut self, _: &mut Cx<'_>, h: TcpHandle, _: Option<bool>, why: Event) {
            if Some(h) == self.client {
                self.client_closed = Some(why);
            }
        }
    }

    type Both = (Worker<LoopbackEnd, Host<Proxy>>, Worker<LoopbackEnd, Host<Peer>>);

    fn wire(backend_port: u16) -> Both {
        let (a, b) = LoopbackPair::default().build();
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], PROXY, 24);
        let backends = vec![SocketAddr::from((PEER, backend_port))];
        let mut proxy = Worker::new(a, stack, Host::new(Proxy::new(80, 16, backends)));
        proxy.start().expect("listens");
        let stack = test_stack(&b, [2, 0, 0, 0, 0, 1], PEER, 24);
        let mut peer = Worker::new(b, stack, Host::new(Peer::default()));
        peer.start().expect("listens and connects");
        (proxy, peer)
    }

    /// Runs both until the client's connection ended, or exchanged both FINs (false after
    /// `rounds`).
    fn run((p, e): &mut Both, rounds: usize) -> bool {
        let mut now = Instant::from_millis(1);
        for _ in 0..rounds {
            e.run_once(now);
            p.run_once(now);
            let client = e.app().service().client.expect("connecting");
            if e.app().service().client_closed.is_some()
                || e.stack().tcp_state(client) == xdptcp_stack::tcp::State::TimeWait
            {
                return true;
            }
            now += Duration::from_micros(50);
        }
        false
    }

    #[test]
    fn bytes_go_through_byte_exact_and_half_close_is_passed_on() {
        let mut w = wire(7);
        assert!(run(&mut w, 200_000), "the client never finished");
        let (p, e) = &w;
        let peer = e.app().service();
        assert_eq!((peer.sent, peer.back, peer.wrong), (TOTAL, TOTAL, 0));
        let k = p.app().service().counters();
        assert_eq!((k.accepted, k.completed, k.aborted), (1, 1, 0));
        assert_eq!((k.bytes_up, k.bytes_down), (TOTAL as u64, TOTAL as u64));
        // One copy each way, the stack's: the proxy never copied a byte itself.
        assert_eq!(p.copies().rx_ring_to_app + p.copies().tx_app_to_ring, 0);
    }

    #[test]
    fn a_refused_backend_resets_the_client() {
        let mut w = wire(9);
        assert!(run(&mut w, 2000), "the client was left waiting");
        let (p, e) = &w;
        assert_eq!(e.app().service().client_closed, Some(Event::Reset));
        let k = p.app().service().counters();
        assert_eq!((k.accepted, k.backend_failed), (1, 1));
        assert_eq!(p.app().open_connections(), 0);
        assert_eq!(p.app().service().open_pairs(), 0);
    }
}
