//! The sans-IO [`apps`](crate::apps) over the xdptcp stack: an adapter from the byte-stream
//! [`App`](crate::apps::App) trait (bytes in, bytes out) to the driver's per-connection
//! callbacks, so echo, discard, http, sockperf and rr run unchanged on both stacks.
//!
//! Per connection, the same order as over Linux sockets (`apps` module documentation):
//! flush what the app left in `out` into the send ring; close once the app wants it and `out`
//! is empty; read only while `out` is empty (backpressure: unread bytes stay in the receive
//! ring, so our window closes towards the peer), handing the app the ring's in-order bytes
//! *in place* (up to two slices). A message that straddles the ring's wrap point is the one
//! case copied into a per-connection `pending` buffer.
//!
//! sockperf also runs over UDP (its default transport): the sockperf server binds the same
//! port with the stack's UDP API and answers each datagram ([`UdpServer`]) from `poll`.

use crate::apps::sockperf::UdpServer;
use crate::apps::{App, AppSpec, Conn};
use std::net::Ipv4Addr;
use xdptcp_driver::app::{App as DriverApp, AppCopies, OpenSet};
use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::{ListenHandle, Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

/// Bytes appended to a straddling message per round (a small multiple of a typical request).
const STRADDLE_CHUNK: usize = 1024;

/// One connection: the app's state and its two buffers.
#[derive(Debug)]
struct Slot {
    handle: TcpHandle,
    app: Conn,
    /// Bytes the app produced; `out[sent..]` still has to go into the send ring.
    out: Vec<u8>,
    sent: usize,
    /// A partial message copied out of the ring (only when it straddled the wrap point).
    pending: Vec<u8>,
    /// The peer finished and everything was read.
    eof: bool,
    /// `tcp_close` was called.
    closing: bool,
}

/// What the server did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServeCounters {
    /// Connections that reached ESTABLISHED.
    pub accepted: u64,
    /// Connections that ended.
    pub closed: u64,
    /// Of those, ended by a reset or timeout.
    pub errors: u64,
    /// Payload bytes read from the stack.
    pub bytes_in: u64,
    /// Payload bytes queued into the stack.
    pub bytes_out: u64,
    /// Messages the apps handled (bytes for echo and discard).
    pub messages: u64,
}

/// Serves one [`AppSpec`] on one port of a worker's stack.
#[derive(Debug)]
pub struct StackServer {
    spec: AppSpec,
    addr: Ipv4Addr,
    port: u16,
    backlog: usize,
    listener: Option<ListenHandle>,
    listen_error: Option<String>,
    /// Per-connection state, indexed by the handle's dense slot number.
    slots: Vec<Option<Slot>>,
    open: OpenSet,
    /// Finished connections' buffers, reused (no allocation per connection in steady state).
    spare: Vec<(Vec<u8>, Vec<u8>)>,
    stopping: bool,
    counters: ServeCounters,
    copies: AppCopies,
    /// sockperf over UDP: the socket (bound for the sockperf app only), its message logic,
    /// the reply buffer (reused) and replies the stack refused.
    udp: Option<UdpHandle>,
    udp_server: UdpServer,
    udp_reply: Vec<u8>,
    udp_send_failed: u64,
}

impl StackServer {
    /// A server of `spec` on `addr:port` (unspecified: the stack's address).
    pub fn new(spec: AppSpec, addr: Ipv4Addr, port: u16, backlog: usize) -> Self {
        StackServer {
            spec,
            addr,
            port,
            backlog,
            listener: None,
            listen_error: None,
            slots: Vec::new(),
            open: OpenSet::default(),
            spare: Vec::new(),
            stopping: false,
            counters: ServeCounters::default(),
            copies: AppCopies::default(),
            udp: None,
            udp_server: UdpServer::default(),
            udp_reply: Vec::new(),
            udp_send_failed: 0,
        }
    }

    /// Binds the UDP side of sockperf (other apps are TCP only).
    fn bind_udp(&mut self, stack: &mut Stack) -> Result<(), String> {
        if self.udp.is_some() || !matches!(self.spec, AppSpec::Sockperf) {
            return Ok(());
        }
        let u = stack
            .udp_bind(self.port)
            .map_err(|e| format!("cannot bind UDP port {}: {e:?}", self.port))?;
        self.udp = Some(u);
        Ok(())
    }

    /// sockperf over UDP: what the datagram side did.
    pub fn udp_counters(&self) -> UdpServer {
        self.udp_server
    }

    /// sockperf over UDP: replies the stack refused (queue full, no route).
    pub fn udp_send_failed(&self) -> u64 {
        self.udp_send_failed
    }

    /// Answers every datagram queued on the sockperf UDP socket.
    fn drain_udp(&mut self, now: Instant, stack: &mut Stack) {
        let Some(socket) = self.udp else { return };
        loop {
            let (peer, answer) = match stack.udp_recv_from(socket) {
                Some((peer, datagram)) => {
                    (peer, self.udp_server.on_datagram(datagram, &mut self.udp_reply))
                }
                None => return,
            };
            stack.udp_consume(socket);
            if answer && stack.udp_send_to(now, socket, peer, &self.udp_reply).is_err() {
                self.udp_send_failed += 1;
            }
        }
    }

    /// Listens now (instead of in `start`), so a port in use is an error at setup.
    pub fn listen(&mut self, stack: &mut Stack) -> Result<(), String> {
        let l = stack
            .tcp_listen(self.addr, self.port, self.backlog)
            .map_err(|e| format!("cannot listen on port {}: {e:?}", self.port))?;
        self.listener = Some(l);
        self.bind_udp(stack)
    }

    /// Why listening failed, if it did (known after the worker's first iteration).
    pub fn listen_error(&self) -> Option<&str> {
        self.listen_error.as_deref()
    }

    /// Counters (messages summed over open and closed connections).
    pub fn counters(&self) -> ServeCounters {
        let mut c = self.counters;
        c.messages += self.udp_server.received;
        for h in self.open.handles() {
            if let Some(Some(s)) = self.slots.get(h.index()) {
                c.messages += s.app.messages();
            }
        }
        c
    }

    /// Open connections.
    pub fn open_connections(&self) -> usize {
        self.open.len()
    }

    fn slot(&mut self, h: TcpHandle) -> Option<&mut Slot> {
        match self.slots.get_mut(h.index()) {
            Some(Some(s)) if s.handle == h => Some(s),
            _ => None,
        }
    }

    /// Moves bytes for connection `h` until it can do no more.
    fn drive(&mut self, stack: &mut Stack, h: TcpHandle) {
        let (copies, counters) = (&mut self.copies, &mut self.counters);
        let echo = matches!(self.spec, AppSpec::Echo);
        let Some(slot) = (match self.slots.get_mut(h.index()) {
            Some(Some(s)) if s.handle == h => Some(s),
            _ => None,
        }) else {
            return;
        };
        loop {
            // 1. Flush.
            if slot.sent < slot.out.len() {
                match stack.tcp_send(h, &slot.out[slot.sent..]) {
                    Ok(n) => {
                        slot.sent += n;
                        copies.tx_app_to_ring += n as u64;
                        counters.bytes_out += n as u64;
                    }
                    Err(_) => {
                        // The write side is gone (reset, closing): drop what is left.
                        slot.sent = slot.out.len();
                    }
                }
                if slot.sent < slot.out.len() {
                    return; // backpressure: wait for Writable
                }
            }
            slot.out.clear();
            slot.sent = 0;
            // 2. Close when asked, or at end of stream.
            if slot.app.wants_close() || slot.eof {
                if !slot.closing {
                    slot.closing = true;
                    if slot.app.wants_close() && !slot.eof {
                        // Lingering close: FIN now, keep draining input until the peer's FIN,
                        // so a final response is not destroyed by a RST.
                        let _ = stack.tcp_shutdown_write(h);
                    } else {
                        let _ = stack.tcp_close(h);
                    }
                }
                if !slot.eof {
                    // Drain and drop input until the peer finishes (`tcp_read` lends a
                    // chunk or two at a time).
                    loop {
                        match stack.tcp_read(h, |a, b| a.len() + b.len()) {
                            Ok(0) => break,
                            Ok(_) => {}
                            Err(TcpError::Finished) => {
                                slot.eof = true;
                                let _ = stack.tcp_close(h);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                }
                return;
            }
            // 3. Read, in place.
            let (app, out, pending) = (&mut slot.app, &mut slot.out, &mut slot.pending);
            let before = out.len();
            let mut copied = 0;
            let mut used_pending = false;
            let read = if pending.is_empty() {
                stack.tcp_read(h, |a, b| {
                    let c = app.on_readable(a, out);
                    if c == a.len() {
                        if b.is_empty() {
                            return c;
                        }
                        return c + app.on_readable(b, out);
                    }
                    if b.is_empty() || out.len() >= crate::apps::OUT_LIMIT {
                        return c; // a partial message, or backpressure: the rest waits
                    }
                    // A message straddles the wrap point: its first part goes to `pending`;
                    // the rest comes from the ring's start in the next round.
                    pending.extend_from_slice(&a[c..]);
                    copied = a.len() - c;
                    a.len()
                })
            } else {
                // Finish the straddling message: append a chunk from the ring and let the
                // app see it whole. Chunk bytes it did not need stay in the ring (they are
                // not consumed), so once the message is done the app reads in place again.
                stack.tcp_read(h, |a, _| {
                    let old = pending.len();
                    let take = a.len().min(STRADDLE_CHUNK);
                    pending.extend_from_slice(&a[..take]);
                    copied = take;
                    let c = app.on_readable(pending, out);
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
            let read = match read {
                Ok(n) => n,
                Err(TcpError::Finished) => {
                    slot.eof = true;
                    0
                }
                Err(_) => return,
            };
            counters.bytes_in += read as u64;
            // The adapter's own copy: ring → pending (a message straddling the wrap).
            copies.rx_ring_to_app += copied as u64;
            if echo {
                // Echo's output is a copy of its input.
                copies.rx_ring_to_app += (slot.out.len() - before) as u64;
            }
            let progressed = read > 0 || used_pending || !slot.out.is_empty();
            if !progressed && !slot.eof {
                return;
            }
        }
    }
}

impl DriverApp for StackServer {
    fn start(&mut self, _now: Instant, stack: &mut Stack) {
        if self.listener.is_some() {
            return;
        }
        match stack.tcp_listen(self.addr, self.port, self.backlog) {
            Ok(l) => self.listener = Some(l),
            Err(e) => {
                self.listen_error = Some(format!("cannot listen on port {}: {e:?}", self.port));
                return;
            }
        }
        if let Err(e) = self.bind_udp(stack) {
            self.listen_error = Some(e);
        }
    }

    fn on_connected(&mut self, _now: Instant, _stack: &mut Stack, h: TcpHandle) {
        self.counters.accepted += 1;
        let (out, pending) = self.spare.pop().unwrap_or_default();
        let i = h.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        self.slots[i] = Some(Slot {
            handle: h,
            app: self.spec.new_conn(),
            out,
            sent: 0,
            pending,
            eof: false,
            closing: false,
        });
        self.open.insert(h);
    }

    fn on_readable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.drive(stack, h);
    }

    fn on_writable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.drive(stack, h);
    }

    fn on_closed(&mut self, _now: Instant, _stack: &mut Stack, h: TcpHandle, why: Event) {
        if !self.open.remove(h) {
            return;
        }
        self.counters.closed += 1;
        if why != Event::Closed {
            self.counters.errors += 1;
        }
        if let Some(mut s) = self.slots.get_mut(h.index()).and_then(Option::take) {
            self.counters.messages += s.app.messages();
            s.out.clear();
            s.pending.clear();
            self.spare.push((s.out, s.pending));
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        self.drain_udp(now, stack);
        if self.stopping {
            let n = self.open.prune_finished(stack);
            self.counters.closed += n as u64;
        }
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.counters();
        out("accepted", c.accepted);
        out("closed", c.closed);
        out("errors", c.errors);
        out("bytes_in", c.bytes_in);
        out("bytes_out", c.bytes_out);
        out("messages", c.messages);
        if self.udp.is_some() {
            out("udp_replied", self.udp_server.replied);
            out("udp_malformed", self.udp_server.malformed);
            out("udp_send_failed", self.udp_send_failed);
        }
    }

    fn shutdown(&mut self, _now: Instant, stack: &mut Stack) {
        self.stopping = true;
        if let Some(l) = self.listener.take() {
            stack.tcp_unlisten(l);
        }
        if let Some(u) = self.udp.take() {
            stack.udp_unbind(u);
        }
        let open: Vec<TcpHandle> = self.open.handles().collect();
        for h in open {
            if let Some(s) = self.slot(h) {
                s.closing = true;
            }
            // Orderly close: FIN after queued data (a RST if input is unread).
            let _ = stack.tcp_close(h);
        }
    }

    fn finished(&self) -> bool {
        self.stopping && self.open.is_empty()
    }

    fn copies(&self) -> AppCopies {
        self.copies
    }

    fn sample_connection(&self) -> Option<TcpHandle> {
        self.open.handles().next()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use xdptcp_driver::engine::{test_stack, Worker};
    use xdptcp_driver::{Device, LoopbackEnd, LoopbackPair};
    use xdptcp_stack::time::Duration;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// The client: a stack on the other end of an in-memory wire, pumped by hand.
    struct Peer {
        dev: LoopbackEnd,
        stack: Stack,
    }

    impl Peer {
        fn pump(&mut self, now: Instant) {
            {
                let rx = self.dev.rx_batch(now);
                for f in rx.iter() {
                    self.stack.receive(now, f);
                }
            }
            if self.stack.poll_timeout().is_some_and(|t| t <= now) {
                self.stack.on_timeout(now);
            }
            let mut tx = self.dev.tx_batch(now);
            while let Some(mut buf) = tx.buffer() {
                match self.stack.poll_transmit(now, &mut buf) {
                    Some(n) => buf.send(n),
                    None => break,
                }
            }
        }
    }

    fn setup(spec: AppSpec) -> (Worker<LoopbackEnd, StackServer>, Peer) {
        let (a, b) = LoopbackPair::default().build();
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let server = StackServer::new(spec, Ipv4Addr::UNSPECIFIED, 80, 16);
        let peer = Peer { stack: test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24), dev: b };
        (Worker::new(a, stack, server), peer)
    }

    /// Drives both ends in virtual time until `done` (false after `rounds`).
    fn run(
        w: &mut Worker<LoopbackEnd, StackServer>,
        p: &mut Peer,
        now: &mut Instant,
        rounds: usize,
        mut done: impl FnMut(&mut Peer) -> bool,
    ) -> bool {
        for _ in 0..rounds {
            p.pump(*now);
            w.run_once(*now);
            if done(p) {
                return true;
            }
            *now += Duration::from_micros(50);
        }
        false
    }

    #[test]
    fn echo_over_the_adapter_is_byte_exact() {
        let (mut w, mut p) = setup(AppSpec::Echo);
        let mut now = Instant::from_millis(1);
        w.run_once(now);
        let h = p.stack.tcp_connect(now, A, 80).expect("connect");
        let total = 600_000usize; // several times the receive ring: the ring wraps
        let byte = |i: usize| (i * 7 + i / 1000) as u8;
        let (mut sent, mut back) = (0, Vec::new());
        let mut buf = vec![0u8; 16384];
        let ok = run(&mut w, &mut p, &mut now, 400_000, |p| {
            while sent < total {
                let chunk: Vec<u8> = (sent..total.min(sent + 4096)).map(byte).collect();
                match p.stack.tcp_send(h, &chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sent += n,
                }
            }
            while let Ok(n) = p.stack.tcp_recv(h, &mut buf) {
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            back.len() == total
        });
        assert!(ok, "stalled at {} of {total}", back.len());
        assert!(back.iter().enumerate().all(|(i, &b)| b == byte(i)), "echo differs");
        let c = w.app().counters();
        assert_eq!((c.accepted, c.bytes_in, c.bytes_out), (1, total as u64, total as u64));
        assert_eq!(w.copies().tx_app_to_ring, total as u64);
        // Echo copies its input into its output once; the ring wraps at message-free
        // boundaries for echo (it consumes everything), so nothing goes through `pending`.
        assert_eq!(w.copies().rx_ring_to_app, total as u64);
    }

    #[test]
    fn pipelined_http_requests_across_the_ring_wrap_all_get_answers() {
        let config = Arc::new(crate::apps::http::Config::new(10));
        let (mut w, mut p) = setup(AppSpec::Http(config));
        let mut now = Instant::from_millis(1);
        w.run_once(now);
        let h = p.stack.tcp_connect(now, A, 80).expect("connect");
        // 41-byte requests, 8000 of them (328,000 bytes through a 128 KiB ring): many
        // straddle its wrap point and go through the adapter's pending buffer.
        let request = b"GET /abc HTTP/1.1\r\nHost: x\r\nX-Pad: yz\r\n\r\n";
        let n = 8000;
        let stream: Vec<u8> = request.iter().copied().cycle().take(request.len() * n).collect();
        let (mut sent, mut answers, mut tail) = (0, 0usize, Vec::new());
        let mut buf = vec![0u8; 65536];
        let needle = b"HTTP/1.1 200";
        let ok = run(&mut w, &mut p, &mut now, 400_000, |p| {
            while sent < stream.len() {
                match p.stack.tcp_send(h, &stream[sent..(sent + 8192).min(stream.len())]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => sent += k,
                }
            }
            while let Ok(k) = p.stack.tcp_recv(h, &mut buf) {
                if k == 0 {
                    break;
                }
                tail.extend_from_slice(&buf[..k]);
                // Count status lines, keeping a partial one for the next read.
                let mut start = 0;
                while let Some(i) = tail[start..].windows(needle.len()).position(|x| x == needle) {
                    answers += 1;
                    start += i + needle.len();
                }
                tail.drain(..start.max(tail.len().saturating_sub(needle.len())));
            }
            answers == n
        });
        assert!(ok, "{answers} of {n} answered");
        assert_eq!(w.app().counters().messages, n as u64);
        assert_eq!(w.app().counters().errors, 0);
        let copied = w.copies().rx_ring_to_app;
        assert!(copied > 0, "some requests straddled the ring's wrap point");
        assert!(copied < stream.len() as u64 / 4, "most were parsed in place: {copied}");
    }

    #[test]
    fn sockperf_over_udp_answers_pongs_and_drops_malformed() {
        use crate::apps::sockperf::{Header, FLAG_CLIENT, FLAG_PONG_REQUEST, FLAG_WARMUP};
        let (mut w, mut p) = setup(AppSpec::Sockperf);
        let mut now = Instant::from_millis(1);
        w.run_once(now);
        let u = p.stack.udp_bind(5001).expect("peer udp bind");
        let ping = |seq: u64, flags: u16| {
            let mut m = Vec::new();
            Header { sequence: seq, flags, length: 18 }.emit(&mut m);
            m.extend_from_slice(b"ping");
            m
        };
        let pong = ping(1, FLAG_CLIENT | FLAG_PONG_REQUEST);
        let warm = ping(2, FLAG_CLIENT | FLAG_PONG_REQUEST | FLAG_WARMUP);
        let truncated = &pong[..pong.len() - 1];
        for d in [&warm[..], truncated, &pong[..]] {
            p.stack.udp_send_to(now, u, (A, 80), d).expect("peer send");
        }
        let mut replies = Vec::new();
        let ok = run(&mut w, &mut p, &mut now, 2000, |p| {
            while let Some(((from, port), d)) = p.stack.udp_recv_from(u) {
                replies.push((from, port, d.to_vec()));
                p.stack.udp_consume(u);
            }
            !replies.is_empty()
        });
        assert!(ok, "no reply");
        // A few more rounds: nothing else may come back (warm-up and truncated get no answer).
        run(&mut w, &mut p, &mut now, 50, |_| false);
        assert!(p.stack.udp_recv_from(u).is_none());
        assert_eq!(replies.len(), 1);
        let (from, port, d) = &replies[0];
        assert_eq!((*from, *port), (A, 80));
        let h = Header::parse(d).expect("header");
        assert_eq!(h, Header { sequence: 1, flags: FLAG_PONG_REQUEST, length: 18 });
        assert_eq!(&d[14..], b"ping");
        let c = w.app().udp_counters();
        assert_eq!((c.received, c.replied, c.malformed), (1, 1, 1));
        assert_eq!(w.app().counters().messages, 1);
    }
}
