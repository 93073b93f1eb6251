//! Applications driven by the [`Worker`](crate::engine::Worker): the [`App`] trait and small
//! built-in applications (TCP echo and discard, UDP echo).
//!
//! The worker calls an application only between RX and TX of one iteration, with the stack
//! lent mutably, so an application can read, write and close without any queue of its own
//! in between. Callbacks are per connection; nothing is allocated per packet.

use std::net::Ipv4Addr;

use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::{ListenHandle, Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::{Event, State};
use xdptcp_stack::time::Instant;

/// Bytes an application copied itself, per direction (the stack's own copies are in
/// [`StackCounters`](xdptcp_stack::stack::StackCounters)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AppCopies {
    /// Bytes copied out of receive rings into application buffers (0 for zero-copy readers).
    pub rx_ring_to_app: u64,
    /// Bytes copied from application buffers into send rings (`tcp_send`).
    pub tx_app_to_ring: u64,
}

/// An application on one worker's stack. Every method but [`on_readable`](App::on_readable)
/// has a default, so an application implements only what it uses.
pub trait App {
    /// Called once, before the first frame: listen, connect, bind UDP ports.
    fn start(&mut self, _now: Instant, _stack: &mut Stack) {}

    /// A connection waits in `listener`'s accept queue. The default accepts everything; the
    /// connection's `Connected` event follows.
    fn on_accept(&mut self, _now: Instant, stack: &mut Stack, listener: ListenHandle) {
        while stack.tcp_accept(listener).is_some() {}
    }

    /// The handshake of an accepted or connected connection completed.
    fn on_connected(&mut self, _now: Instant, _stack: &mut Stack, _h: TcpHandle) {}

    /// In-order data is ready (`tcp_read` / `tcp_recv`), or the peer closed (`PeerClosed`
    /// also lands here: a read then returns `Err(Finished)` once everything was read).
    fn on_readable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle);

    /// Send-buffer space was freed.
    fn on_writable(&mut self, _now: Instant, _stack: &mut Stack, _h: TcpHandle) {}

    /// The connection ended; `why` is `Closed`, `Reset`, `TimedOut` or `Refused`. The handle
    /// is stale afterwards.
    fn on_closed(&mut self, _now: Instant, _stack: &mut Stack, _h: TcpHandle, _why: Event) {}

    /// Called every iteration after the events: UDP, or work of the application's own.
    fn poll(&mut self, _now: Instant, _stack: &mut Stack) {}

    /// Shutting down: stop listening and close connections gracefully.
    fn shutdown(&mut self, _now: Instant, _stack: &mut Stack) {}

    /// Whether the application has nothing left to do (a client that finished, or a server
    /// whose connections all closed after `shutdown`). The worker's `run` then returns.
    fn finished(&self) -> bool {
        false
    }

    /// Bytes the application copied.
    fn copies(&self) -> AppCopies {
        AppCopies::default()
    }

    /// One of its connections, for diagnostics (`TCP_INFO` in periodic statistics).
    fn sample_connection(&self) -> Option<TcpHandle> {
        None
    }

    /// Reports the application's counters as (name, value) pairs.
    fn report(&self, _out: &mut dyn FnMut(&'static str, u64)) {}
}

/// No application (ARP and ICMP echo still work: they live in the interface).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoApp;

impl App for NoApp {
    fn on_readable(&mut self, _now: Instant, _stack: &mut Stack, _h: TcpHandle) {}
    fn finished(&self) -> bool {
        true
    }
}

/// Per-connection counters of the TCP applications.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConnCounters {
    /// Connections that reached ESTABLISHED.
    pub connected: u64,
    /// Connections that ended (any way).
    pub closed: u64,
    /// Of those, ended by a reset, timeout or refusal.
    pub failed: u64,
    /// Payload bytes read.
    pub bytes_in: u64,
    /// Payload bytes queued for sending.
    pub bytes_out: u64,
}

/// TCP echo (RFC 862) on one port. Backpressure: a connection whose echo does not fit the
/// send buffer keeps the rest in the receive ring (so the window closes towards the peer)
/// and resumes on `Writable`.
#[derive(Debug)]
pub struct TcpEcho {
    addr: Ipv4Addr,
    port: u16,
    backlog: usize,
    listener: Option<ListenHandle>,
    /// One buffer for all connections, allocated once: data goes ring → scratch → send ring.
    scratch: Vec<u8>,
    conns: OpenSet,
    stopping: bool,
    counters: ConnCounters,
    copies: AppCopies,
}

/// The open connections of an application, indexed by the handle's dense slot number (O(1)
/// insert and remove; grows only when a slot number is first seen).
#[derive(Debug, Default)]
pub struct OpenSet {
    slots: Vec<Option<TcpHandle>>,
    len: usize,
}

impl OpenSet {
    /// Records `h` as open.
    pub fn insert(&mut self, h: TcpHandle) {
        let i = h.index();
        if i >= self.slots.len() {
            self.slots.resize(i + 1, None);
        }
        if self.slots[i].replace(h).is_none() {
            self.len += 1;
        }
    }

    /// Forgets `h`; false if it was not recorded.
    pub fn remove(&mut self, h: TcpHandle) -> bool {
        match self.slots.get_mut(h.index()) {
            Some(slot) if *slot == Some(h) => {
                *slot = None;
                self.len -= 1;
                true
            }
            _ => false,
        }
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets connections whose part is over for the application: TIME-WAIT (both FINs
    /// exchanged; the 2·MSL wait is the stack's) or already freed. A walk over the slots, for
    /// shutdown only. Returns how many were forgotten.
    pub fn prune_finished(&mut self, stack: &Stack) -> usize {
        let mut n = 0;
        for slot in &mut self.slots {
            if let Some(h) = *slot {
                if matches!(stack.tcp_state(h), State::TimeWait | State::Closed) {
                    *slot = None;
                    self.len -= 1;
                    n += 1;
                }
            }
        }
        n
    }

    /// The open handles (a walk over the slots: for shutdown, not the data path).
    pub fn handles(&self) -> impl Iterator<Item = TcpHandle> + '_ {
        self.slots.iter().flatten().copied()
    }
}

impl TcpEcho {
    /// Echo on `addr:port` (unspecified: the stack's address) with a listen backlog.
    pub fn new(addr: Ipv4Addr, port: u16, backlog: usize) -> Self {
        TcpEcho {
            addr,
            port,
            backlog,
            listener: None,
            scratch: vec![0; 64 * 1024],
            conns: OpenSet::default(),
            stopping: false,
            counters: ConnCounters::default(),
            copies: AppCopies::default(),
        }
    }

    /// Whether the listener is open (false if `tcp_listen` failed).
    pub fn listening(&self) -> bool {
        self.listener.is_some()
    }

    /// Connection counters.
    pub fn counters(&self) -> ConnCounters {
        self.counters
    }

    /// The open connections.
    pub fn connections(&self) -> &OpenSet {
        &self.conns
    }

    /// Moves as much as fits from `h`'s receive ring to its send ring.
    fn pump(&mut self, stack: &mut Stack, h: TcpHandle) {
        loop {
            let room = stack.tcp_send_space(h).min(self.scratch.len());
            if room == 0 {
                return; // backpressure: resume on Writable
            }
            match stack.tcp_recv(h, &mut self.scratch[..room]) {
                Ok(0) => return,
                Ok(n) => {
                    self.copies.rx_ring_to_app += n as u64;
                    self.counters.bytes_in += n as u64;
                    // `room` came from the send space just read, so all of it fits.
                    let sent = stack.tcp_send(h, &self.scratch[..n]).unwrap_or(0);
                    self.copies.tx_app_to_ring += sent as u64;
                    self.counters.bytes_out += sent as u64;
                }
                Err(TcpError::Finished) => {
                    // The peer is done and everything was echoed into the send ring: FIN.
                    let _ = stack.tcp_close(h);
                    return;
                }
                Err(_) => return,
            }
        }
    }
}

impl App for TcpEcho {
    fn start(&mut self, _now: Instant, stack: &mut Stack) {
        self.listener = stack.tcp_listen(self.addr, self.port, self.backlog).ok();
    }

    fn on_connected(&mut self, _now: Instant, _stack: &mut Stack, h: TcpHandle) {
        self.counters.connected += 1;
        self.conns.insert(h);
    }

    fn on_readable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.pump(stack, h);
    }

    fn on_writable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.pump(stack, h);
    }

    fn on_closed(&mut self, _now: Instant, _stack: &mut Stack, h: TcpHandle, why: Event) {
        self.counters.closed += 1;
        self.conns.remove(h);
        if why != Event::Closed {
            self.counters.failed += 1;
        }
    }

    fn poll(&mut self, _now: Instant, stack: &mut Stack) {
        if self.stopping {
            self.counters.closed += self.conns.prune_finished(stack) as u64;
        }
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("tcp_connected", self.counters.connected);
        out("tcp_closed", self.counters.closed);
        out("tcp_failed", self.counters.failed);
        out("tcp_bytes_in", self.counters.bytes_in);
        out("tcp_bytes_out", self.counters.bytes_out);
    }

    fn shutdown(&mut self, _now: Instant, stack: &mut Stack) {
        self.stopping = true;
        if let Some(l) = self.listener.take() {
            stack.tcp_unlisten(l);
        }
        // Orderly close (FIN after what is queued); unread input makes it a RST.
        for h in self.conns.handles() {
            let _ = stack.tcp_close(h);
        }
    }

    fn finished(&self) -> bool {
        self.stopping && self.conns.is_empty()
    }

    fn copies(&self) -> AppCopies {
        self.copies
    }
}

/// Echoes every UDP datagram received on one port back to its sender.
#[derive(Debug)]
pub struct UdpEcho {
    port: u16,
    socket: Option<UdpHandle>,
    stopping: bool,
    /// One datagram's worth, allocated once: the payload is copied out of the socket's ring
    /// so the stack can be borrowed mutably to send it.
    scratch: Vec<u8>,
    echoed: u64,
    failed: u64,
}

impl UdpEcho {
    /// Echo on UDP `port` (bound when the worker starts).
    pub fn new(port: u16) -> UdpEcho {
        UdpEcho {
            port,
            socket: None,
            stopping: false,
            scratch: vec![0; 65536],
            echoed: 0,
            failed: 0,
        }
    }

    /// Echo on UDP `port`, bound now (so a port in use is an error at setup).
    pub fn bind(stack: &mut Stack, port: u16) -> Result<UdpEcho, xdptcp_stack::iface::BindError> {
        let mut echo = UdpEcho::new(port);
        echo.socket = Some(stack.udp_bind(port)?);
        Ok(echo)
    }

    /// Datagrams echoed.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// Echoes the interface refused (queue full, no route); each is counted there too.
    pub fn failed(&self) -> u64 {
        self.failed
    }
}

impl App for UdpEcho {
    fn start(&mut self, _now: Instant, stack: &mut Stack) {
        if self.socket.is_none() {
            self.socket = stack.udp_bind(self.port).ok();
        }
    }

    fn shutdown(&mut self, _now: Instant, _stack: &mut Stack) {
        self.stopping = true;
    }

    fn finished(&self) -> bool {
        self.stopping
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("udp_echoed", self.echoed);
        out("udp_echo_failed", self.failed);
    }

    fn on_readable(&mut self, _now: Instant, _stack: &mut Stack, _h: TcpHandle) {}

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        let Some(socket) = self.socket else { return };
        loop {
            let (peer, len) = match stack.udp_recv_from(socket) {
                Some((peer, payload)) => {
                    let n = payload.len().min(self.scratch.len());
                    self.scratch[..n].copy_from_slice(&payload[..n]);
                    (peer, n)
                }
                None => return,
            };
            stack.udp_consume(socket);
            match stack.udp_send_to(now, socket, peer, &self.scratch[..len]) {
                Ok(()) => self.echoed += 1,
                Err(_) => self.failed += 1,
            }
        }
    }
}

/// Two applications on one stack (e.g. TCP echo and UDP echo). Events of connections go to
/// `A`; `B` sees `start`, `poll` and `shutdown` only.
#[derive(Debug)]
pub struct Both<A, B>(pub A, pub B);

impl<A: App, B: App> App for Both<A, B> {
    fn start(&mut self, now: Instant, stack: &mut Stack) {
        self.0.start(now, stack);
        self.1.start(now, stack);
    }
    fn on_accept(&mut self, now: Instant, stack: &mut Stack, l: ListenHandle) {
        self.0.on_accept(now, stack, l);
    }
    fn on_connected(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.0.on_connected(now, stack, h);
    }
    fn on_readable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.0.on_readable(now, stack, h);
    }
    fn on_writable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.0.on_writable(now, stack, h);
    }
    fn on_closed(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle, why: Event) {
        self.0.on_closed(now, stack, h, why);
    }
    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        self.0.poll(now, stack);
        self.1.poll(now, stack);
    }
    fn shutdown(&mut self, now: Instant, stack: &mut Stack) {
        self.0.shutdown(now, stack);
        self.1.shutdown(now, stack);
    }
    fn finished(&self) -> bool {
        self.0.finished()
    }
    fn copies(&self) -> AppCopies {
        let (a, b) = (self.0.copies(), self.1.copies());
        AppCopies {
            rx_ring_to_app: a.rx_ring_to_app + b.rx_ring_to_app,
            tx_app_to_ring: a.tx_app_to_ring + b.tx_app_to_ring,
        }
    }
}
