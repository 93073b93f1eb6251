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

use crate::apps::{App, AppSpec, Conn};
use std::net::Ipv4Addr;
use xdptcp_driver::app::{App as DriverApp, AppCopies, OpenSet};
use xdptcp_stack::stack::{ListenHandle, Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

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
        }
    }

    /// Listens now (instead of in `start`), so a port in use is an error at setup.
    pub fn listen(&mut self, stack: &mut Stack) -> Result<(), String> {
        let l = stack
            .tcp_listen(self.addr, self.port, self.backlog)
            .map_err(|e| format!("cannot listen on port {}: {e:?}", self.port))?;
        self.listener = Some(l);
        Ok(())
    }

    /// Why listening failed, if it did (known after the worker's first iteration).
    pub fn listen_error(&self) -> Option<&str> {
        self.listen_error.as_deref()
    }

    /// Counters (messages summed over open and closed connections).
    pub fn counters(&self) -> ServeCounters {
        let mut c = self.counters;
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
                    // Drain and drop input until the peer finishes.
                    match stack.tcp_read(h, |a, b| a.len() + b.len()) {
                        Ok(_) => {}
                        Err(TcpError::Finished) => {
                            slot.eof = true;
                            let _ = stack.tcp_close(h);
                        }
                        Err(_) => {}
                    }
                }
                return;
            }
            // 3. Read, in place.
            let (app, out, pending) = (&mut slot.app, &mut slot.out, &mut slot.pending);
            let before = out.len();
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
                    // A message straddles the wrap point: copy it out to see it whole.
                    pending.extend_from_slice(&a[c..]);
                    pending.extend_from_slice(b);
                    a.len() + b.len()
                })
            } else {
                stack.tcp_read(h, |a, b| {
                    pending.extend_from_slice(a);
                    pending.extend_from_slice(b);
                    a.len() + b.len()
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
            let mut used_pending = false;
            if !slot.pending.is_empty() {
                copies.rx_ring_to_app += read as u64;
                let c = slot.app.on_readable(&slot.pending, &mut slot.out);
                slot.pending.drain(..c);
                used_pending = c > 0;
            }
            copies.rx_ring_to_app += (slot.out.len() - before) as u64;
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
                self.listen_error = Some(format!("cannot listen on port {}: {e:?}", self.port))
            }
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

    fn poll(&mut self, _now: Instant, stack: &mut Stack) {
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
    }

    fn shutdown(&mut self, _now: Instant, stack: &mut Stack) {
        self.stopping = true;
        if let Some(l) = self.listener.take() {
            stack.tcp_unlisten(l);
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
