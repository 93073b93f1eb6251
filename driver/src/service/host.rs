//! [`Host`]: runs a [`Service`] as the worker's [`App`], turning the stack's events into the
//! service's per-connection callbacks.

use xdptcp_stack::stack::{Stack, TcpHandle};
use xdptcp_stack::tcp::{Event, State};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wheel::TimerWheel;

use super::conns::Conns;
use super::stream::{drive, Moved, StreamIo};
use super::{Cx, Due, Service};
use crate::app::{App, AppCopies};

/// Resolution of the service's timer wheel (timers fire exactly at their deadline; the tick
/// only bounds the work per wheel slot).
const TIMER_TICK: Duration = Duration::from_millis(1);

/// What the host saw of the service's connections.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HostCounters {
    /// Connections that reached ESTABLISHED and were given to the service.
    pub opened: u64,
    /// Connections that ended (after opening).
    pub closed: u64,
    /// Of those, ended by a reset, timeout or refusal.
    pub failed: u64,
    /// Connect attempts that never opened (refused, timed out).
    pub failed_opens: u64,
    /// Payload bytes read from the stack.
    pub bytes_in: u64,
    /// Payload bytes queued into the stack (replies and the service's own writes).
    pub bytes_out: u64,
}

/// One open connection: the service's user data and the host's buffers.
#[derive(Debug)]
struct Slot<C> {
    conn: C,
    io: StreamIo,
}

/// A [`Service`] on one worker's stack. See the [module documentation](super).
pub struct Host<S: Service> {
    service: S,
    conns: Conns<Slot<S::Conn>>,
    /// Finished connections' buffers, reused (no allocation per connection in steady state).
    spare: Vec<StreamIo>,
    books: Books,
    start_error: Option<String>,
    stopping: bool,
}

/// The host's state that a callback's [`Cx`] borrows: the service's timers and the counters
/// its writes add to.
#[derive(Debug, Default)]
struct Books {
    timers: Option<TimerWheel<Due>>,
    counters: HostCounters,
    copies: AppCopies,
}

impl Books {
    /// Calls `f` with a [`Cx`] for `now` (the timer wheel starts at the first call), counting
    /// what the service wrote.
    fn call<S, R>(
        &mut self,
        service: &mut S,
        now: Instant,
        stack: &mut Stack,
        f: impl FnOnce(&mut S, &mut Cx<'_>) -> R,
    ) -> R {
        let timers = self.timers.get_or_insert_with(|| TimerWheel::new(now, TIMER_TICK));
        let before = self.copies.tx_app_to_ring;
        let mut cx = Cx { now, stack, timers, copies: &mut self.copies.tx_app_to_ring };
        let r = f(service, &mut cx);
        self.counters.bytes_out += self.copies.tx_app_to_ring - before;
        r
    }
}

impl<S: Service + core::fmt::Debug> core::fmt::Debug for Host<S> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Host")
            .field("service", &self.service)
            .field("open", &self.conns.len())
            .field("counters", &self.books.counters)
            .finish_non_exhaustive()
    }
}

impl<S: Service> Host<S> {
    /// Hosts `service`; its `start` runs at the worker's first iteration.
    pub fn new(service: S) -> Self {
        Host {
            service,
            conns: Conns::default(),
            spare: Vec::new(),
            books: Books::default(),
            start_error: None,
            stopping: false,
        }
    }

    /// The service.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// The service, mutable.
    pub fn service_mut(&mut self) -> &mut S {
        &mut self.service
    }

    /// The user data of open connection `h`.
    pub fn conn(&self, h: TcpHandle) -> Option<&S::Conn> {
        self.conns.get(h).map(|s| &s.conn)
    }

    /// Every open connection's user data.
    pub fn conns(&self) -> impl Iterator<Item = (TcpHandle, &S::Conn)> + '_ {
        self.conns.iter().map(|(h, s)| (h, &s.conn))
    }

    /// Open connections.
    pub fn open_connections(&self) -> usize {
        self.conns.len()
    }

    /// Connection counters.
    pub fn counters(&self) -> HostCounters {
        self.books.counters
    }

    /// Takes the host apart.
    pub fn into_service(self) -> S {
        self.service
    }

    /// Runs `f` with a [`Cx`] for `now`.
    fn with_cx<R>(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        f: impl FnOnce(&mut S, &mut Cx<'_>) -> R,
    ) -> R {
        self.books.call(&mut self.service, now, stack, f)
    }

    /// Moves bytes for `h`, then lets the service write if the stream is writable. Returns
    /// whether both directions are over for the service (the peer's end read, ours sent):
    /// the caller asks this of the slot in hand rather than looking it up again.
    fn drive(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) -> bool {
        let Some(slot) = self.conns.get_mut(h) else { return false };
        let conn = &mut slot.conn;
        let books = &mut self.books;
        if books.call(&mut self.service, now, stack, |s, cx| s.on_readable(cx, conn, h)) {
            // The service took the input itself; its other direction may move now too.
            books.call(&mut self.service, now, stack, |s, cx| s.on_writable(cx, conn, h));
            return slot.io.eof && slot.io.closing;
        }
        let m: Moved = drive(&mut self.service, &mut slot.conn, &mut slot.io, stack, now, h);
        let books = &mut self.books;
        books.counters.bytes_in += m.bytes_in;
        books.counters.bytes_out += m.bytes_out;
        books.copies.tx_app_to_ring += m.bytes_out;
        books.copies.rx_ring_to_app += m.copied;
        if m.writable {
            let conn = &mut slot.conn;
            books.call(&mut self.service, now, stack, |s, cx| s.on_writable(cx, conn, h));
        }
        slot.io.eof && slot.io.closing
    }

    /// A connection's timer, with its user data.
    fn conn_timer(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle, token: u64) {
        let Some(slot) = self.conns.get_mut(h) else { return };
        let conn = &mut slot.conn;
        self.books.call(&mut self.service, now, stack, |s, cx| s.on_conn_timer(cx, conn, h, token));
    }
}

impl<S: Service> Host<S> {
    /// Ends `h` for the service while the stack still holds it (TIME-WAIT); the stack's own
    /// `Closed` later finds nothing to report.
    fn finish(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some(slot) = self.conns.remove(h) {
            self.finished_conn(now, stack, h, slot);
        }
    }

    fn finished_conn(
        &mut self,
        now: Instant,
        stack: &mut Stack,
        h: TcpHandle,
        slot: Slot<S::Conn>,
    ) {
        self.books.counters.closed += 1;
        self.spare.push(slot.io.recycle());
        self.with_cx(now, stack, |s, cx| s.closed(cx, h, Some(slot.conn), Event::Closed));
    }
}

impl<S: Service> App for Host<S> {
    fn start(&mut self, now: Instant, stack: &mut Stack) {
        if let Err(e) = self.with_cx(now, stack, |s, cx| s.start(cx)) {
            self.start_error = Some(e);
        }
    }

    fn start_error(&self) -> Option<&str> {
        self.start_error.as_deref()
    }

    fn on_connected(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        match self.with_cx(now, stack, |s, cx| s.open(cx, h)) {
            Some(conn) => {
                self.books.counters.opened += 1;
                let io = self.spare.pop().unwrap_or_default();
                if let Some(old) = self.conns.insert(h, Slot { conn, io }) {
                    self.spare.push(old.io.recycle());
                }
                if self.stopping {
                    // Opened while stopping (a handshake in flight): close it at once.
                    if let Some(slot) = self.conns.get_mut(h) {
                        slot.io.closing = true;
                    }
                    let _ = stack.tcp_close(h);
                    return;
                }
                // The service may start sending, and data that came with the handshake is
                // read.
                self.drive(now, stack, h);
            }
            None => {
                let _ = stack.tcp_abort(h);
            }
        }
    }

    fn on_readable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        // Both FINs exchanged with ours first (TIME-WAIT, RFC 9293 §3.6): the connection's
        // part is over for the service; the 2·MSL wait is the stack's.
        if self.drive(now, stack, h) && stack.tcp_state(h) == State::TimeWait {
            self.finish(now, stack, h);
        }
    }

    fn on_writable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        self.drive(now, stack, h);
    }

    fn on_closed(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle, why: Event) {
        let conn = match self.conns.remove(h) {
            Some(slot) => {
                self.spare.push(slot.io.recycle());
                self.books.counters.closed += 1;
                if why != Event::Closed {
                    self.books.counters.failed += 1;
                }
                Some(slot.conn)
            }
            // Already reported when it reached TIME-WAIT.
            None if why == Event::Closed => return,
            None => {
                self.books.counters.failed_opens += 1;
                None
            }
        };
        self.with_cx(now, stack, |s, cx| s.closed(cx, h, conn, why));
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        // UDP readable events, then the service's timers.
        while let Some(socket) = stack.udp_poll_readable() {
            self.with_cx(now, stack, |s, cx| s.on_udp(cx, socket));
        }
        // The wheel's cached next deadline first: an iteration with no timer due costs a
        // comparison.
        while let Some(timers) =
            self.books.timers.as_mut().filter(|t| t.next_deadline().is_some_and(|at| at <= now))
        {
            let Some((_, due)) = timers.pop_expired(now) else { break };
            match due {
                Due::Service(token) => self.with_cx(now, stack, |s, cx| s.on_timer(cx, token)),
                Due::Conn(h, token) => self.conn_timer(now, stack, h, token),
            }
        }
        if self.stopping {
            // A connection whose part is over for the service (TIME-WAIT: both FINs
            // exchanged; the 2·MSL wait is the stack's) or freed counts as closed.
            let done = self
                .conns
                .remove_where(|h| matches!(stack.tcp_state(h), State::TimeWait | State::Closed));
            for (h, slot) in done {
                self.finished_conn(now, stack, h, slot);
            }
        }
    }

    fn poll_at(&self) -> Option<Instant> {
        self.books.timers.as_ref().and_then(TimerWheel::next_deadline)
    }

    fn shutdown(&mut self, now: Instant, stack: &mut Stack) {
        self.stopping = true;
        self.with_cx(now, stack, |s, cx| s.shutdown(cx));
        let open: Vec<TcpHandle> = self.conns.handles().collect();
        for h in open {
            if let Some(slot) = self.conns.get_mut(h) {
                slot.io.closing = true;
            }
            // Orderly close: FIN after queued data (a RST if input is unread).
            let _ = stack.tcp_close(h);
        }
    }

    /// A stopping host is finished once its connections are closed; otherwise when the
    /// service says so (a client whose run is over; the graceful stop then closes what is
    /// still open).
    fn finished(&self) -> bool {
        if self.stopping {
            self.conns.is_empty()
        } else {
            self.service.finished()
        }
    }

    fn copies(&self) -> AppCopies {
        AppCopies {
            rx_ring_to_app: self.books.copies.rx_ring_to_app + self.service.copied(),
            tx_app_to_ring: self.books.copies.tx_app_to_ring,
        }
    }

    fn sample_connection(&self) -> Option<TcpHandle> {
        self.conns.handles().next()
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.books.counters;
        out("opened", c.opened);
        out("closed", c.closed);
        out("failed", c.failed);
        out("failed_opens", c.failed_opens);
        out("bytes_in", c.bytes_in);
        out("bytes_out", c.bytes_out);
        self.service.report(out);
    }
}
