//! The application API: a [`Service`] is written per connection — bytes in, bytes out,
//! closed — with typed user data per connection, UDP readable events, timers it arms itself,
//! and zero-copy writes into a connection's send buffer. [`Host`] runs a service as the
//! worker's [`App`](crate::app::App): it keeps each connection's user data ([`Conns`]), moves
//! bytes between the stack's buffers and the service, and applies backpressure; a service
//! never keeps a handle-to-state table of its own.
//!
//! # What a service sees, per connection
//! 1. [`open`](Service::open) when the handshake completes (accepted from a listener the
//!    service opened, or connected by it): it returns the connection's user data.
//! 2. [`on_data`](Service::on_data) with the connection's in-order bytes, lent in place from
//!    the receive buffer: it consumes a prefix (a partial message stays for the next call,
//!    with more bytes after it) and appends what to send to `out`. `out` is flushed into the
//!    send buffer before anything more is read, so a peer that sends without reading closes
//!    its own window ([`OUT_LIMIT`]).
//! 3. [`on_writable`](Service::on_writable) after each round that left `out` flushed, and
//!    when send space freed after a refused write: the place for a sender of its own (a load
//!    generator, a bulk transfer), writing in place with [`Cx::write`] until the buffer is
//!    full (a short write is what makes the stack raise `Writable` later).
//! 4. [`wants_close`](Service::wants_close) after each round: once it is true and `out` is
//!    flushed, the connection is closed (FIN; remaining input is read and dropped).
//! 5. [`closed`](Service::closed) with the user data back, once the connection ended.
//!
//! UDP sockets the service binds report [`on_udp`](Service::on_udp) when datagrams arrived
//! (no polling each iteration); [`Cx::arm_timer`] schedules [`on_timer`](Service::on_timer)
//! and [`Cx::arm_conn_timer`] [`on_conn_timer`](Service::on_conn_timer) with the
//! connection's user data (a hierarchical timing wheel: O(1) to arm and cancel).

mod conns;
mod host;
mod source;
mod stream;
#[cfg(test)]
mod tests;

pub use conns::Conns;
pub use host::{Host, HostCounters};
pub use source::{source_ready, SourceReady};

use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::{ListenHandle, Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;
use xdptcp_stack::wheel::{TimerHandle, TimerWheel};

/// Bytes a service may leave in `out` before [`on_data`](Service::on_data) should stop
/// consuming input (its backpressure: the host flushes `out`, then calls again).
pub const OUT_LIMIT: usize = 256 * 1024;

/// An application written per connection. Only [`open`](Self::open) and
/// [`on_data`](Self::on_data) are required.
pub trait Service {
    /// What the service keeps per connection.
    type Conn;

    /// Before the first frame: listen, connect, bind UDP ports. An error stops the bring-up
    /// (the builder reports it).
    fn start(&mut self, _cx: &mut Cx<'_>) -> Result<(), String> {
        Ok(())
    }

    /// The handshake of `h` completed (an accepted connection, or one this service opened);
    /// returns its user data. `None` aborts the connection (RST).
    fn open(&mut self, cx: &mut Cx<'_>, h: TcpHandle) -> Option<Self::Conn>;

    /// Bytes in, bytes out: consumes a prefix of `input` (received, in order, not consumed
    /// yet) and appends what to send to `out`; returns how many bytes it consumed. It should
    /// consume nothing more once `out` holds [`OUT_LIMIT`] bytes.
    fn on_data(
        &mut self,
        now: Instant,
        conn: &mut Self::Conn,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> usize;

    /// In-order bytes arrived (or the peer finished): return true to take them yourself
    /// (e.g. [`Cx::splice`] them into another connection) instead of through
    /// [`on_data`](Self::on_data). The default leaves them to `on_data`.
    fn on_readable(&mut self, _cx: &mut Cx<'_>, _conn: &mut Self::Conn, _h: TcpHandle) -> bool {
        false
    }

    /// Send space freed (and `out` is empty): write more with [`Cx::write`] / [`Cx::send`].
    /// Also called once right after [`open`](Self::open), so a sender starts there.
    fn on_writable(&mut self, _cx: &mut Cx<'_>, _conn: &mut Self::Conn, _h: TcpHandle) {}

    /// Whether the connection should be closed once `out` is flushed.
    fn wants_close(&self, _conn: &Self::Conn) -> bool {
        false
    }

    /// The connection ended (`why`: `Closed`, `Reset`, `TimedOut`, `Refused`); its user data
    /// comes back. For a connection that never opened (a refused connect), `conn` is `None`.
    fn closed(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle, _conn: Option<Self::Conn>, _why: Event) {}

    /// Datagrams arrived on `socket` (bound by this service): read it until
    /// `udp_recv_from` is `None` (the event is edge-triggered).
    fn on_udp(&mut self, _cx: &mut Cx<'_>, _socket: UdpHandle) {}

    /// A timer armed with [`Cx::arm_timer`] fired with its token.
    fn on_timer(&mut self, _cx: &mut Cx<'_>, _token: u64) {}

    /// A timer armed with [`Cx::arm_conn_timer`] fired for a connection still open.
    fn on_conn_timer(
        &mut self,
        _cx: &mut Cx<'_>,
        _conn: &mut Self::Conn,
        _h: TcpHandle,
        _token: u64,
    ) {
    }

    /// Shutting down: stop listening and unbind. The host then closes every open connection
    /// (FIN after what is queued) and waits for them.
    fn shutdown(&mut self, _cx: &mut Cx<'_>) {}

    /// Whether the service is done on its own (a client that finished): the worker's run
    /// ends, and the graceful stop closes what is still open. A server is done only after
    /// `shutdown`, once its connections are closed.
    fn finished(&self) -> bool {
        false
    }

    /// The service's counters as (name, value) pairs.
    fn report(&self, _out: &mut dyn FnMut(&'static str, u64)) {}

    /// Bytes the service copied out of `input` into `out` (echo's reply is a copy of its
    /// input), for the worker's copy counters.
    fn copied(&self) -> u64 {
        0
    }
}

/// What a service opened to be reached: its listener and its UDP socket, opened in `start`
/// (with the one-line error a port in use gives) and closed together in `shutdown`.
#[derive(Debug, Default)]
pub struct Ports {
    listener: Option<ListenHandle>,
    udp: Option<UdpHandle>,
}

impl Ports {
    /// Listens on `addr:port` (unspecified: the stack's addresses; `::` both families).
    pub fn listen(
        &mut self,
        cx: &mut Cx<'_>,
        addr: impl Into<std::net::IpAddr>,
        port: u16,
        backlog: usize,
    ) -> Result<(), String> {
        let l = cx
            .stack()
            .tcp_listen(addr, port, backlog)
            .map_err(|e| format!("cannot listen on port {port}: {e:?}"))?;
        self.listener = Some(l);
        Ok(())
    }

    /// Binds UDP `port`.
    pub fn bind_udp(&mut self, cx: &mut Cx<'_>, port: u16) -> Result<(), String> {
        let u =
            cx.stack().udp_bind(port).map_err(|e| format!("cannot bind UDP port {port}: {e:?}"))?;
        self.udp = Some(u);
        Ok(())
    }

    /// The UDP socket, if bound.
    pub fn udp(&self) -> Option<UdpHandle> {
        self.udp
    }

    /// Stops listening and unbinds (connections already accepted go on).
    pub fn close(&mut self, cx: &mut Cx<'_>) {
        if let Some(l) = self.listener.take() {
            cx.stack().tcp_unlisten(l);
        }
        if let Some(u) = self.udp.take() {
            cx.stack().udp_unbind(u);
        }
    }
}

/// What a timer of the service calls.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Due {
    Service(u64),
    Conn(TcpHandle, u64),
}

/// What a service may touch during a callback: the clock, the stack, its timers.
pub struct Cx<'a> {
    now: Instant,
    stack: &'a mut Stack,
    timers: &'a mut TimerWheel<Due>,
    copies: &'a mut u64,
}

impl<'a> Cx<'a> {
    /// The current time.
    pub fn now(&self) -> Instant {
        self.now
    }

    /// The stack: listen, connect, UDP, connection state.
    pub fn stack(&mut self) -> &mut Stack {
        self.stack
    }

    /// Calls [`Service::on_timer`] with `token` once `now` reaches `at` (a timer for `at` no
    /// later than `now` fires in this iteration's timer pass).
    pub fn arm_timer(&mut self, at: Instant, token: u64) -> TimerHandle {
        self.timers.arm(at, Due::Service(token))
    }

    /// Calls [`Service::on_conn_timer`] with `h`'s user data and `token` once `now` reaches
    /// `at`, if `h` is still open then.
    pub fn arm_conn_timer(&mut self, at: Instant, h: TcpHandle, token: u64) -> TimerHandle {
        self.timers.arm(at, Due::Conn(h, token))
    }

    /// Cancels a timer; false if it already fired or was cancelled.
    pub fn cancel_timer(&mut self, timer: TimerHandle) -> bool {
        self.timers.cancel(timer).is_some()
    }

    /// Zero-copy write: `fill` writes into the connection's spare send space in place (one
    /// contiguous piece per call, called again while it fills each piece) and returns how
    /// many bytes it wrote. Returns the total queued (0: full, wait for `on_writable`).
    pub fn write(
        &mut self,
        h: TcpHandle,
        fill: impl FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, TcpError> {
        let n = self.stack.tcp_write(h, fill)?;
        *self.copies += n as u64;
        Ok(n)
    }

    /// Forwards up to `max` received bytes of `from` into `to`'s send buffer with one copy
    /// ([`Stack::tcp_splice`]): what does not fit stays in `from`'s receive buffer.
    pub fn splice(
        &mut self,
        from: TcpHandle,
        to: TcpHandle,
        max: usize,
    ) -> Result<usize, TcpError> {
        self.stack.tcp_splice(from, to, max)
    }

    /// Answers every datagram queued on `socket`: `answer(datagram, reply)` fills `reply`
    /// (reused, so steady state allocates nothing) and says whether to send it back to the
    /// datagram's sender. Returns (replies sent, replies the interface refused).
    pub fn answer_datagrams(
        &mut self,
        socket: UdpHandle,
        reply: &mut Vec<u8>,
        mut answer: impl FnMut(&[u8], &mut Vec<u8>) -> bool,
    ) -> (u64, u64) {
        let (mut sent, mut failed) = (0, 0);
        loop {
            // The reply is built while the datagram lies in the socket's ring; the stack is
            // borrowed mutably to send only after it is released.
            let (peer, send) = match self.stack.udp_recv_from(socket) {
                Some((peer, datagram)) => (peer, answer(datagram, reply)),
                None => return (sent, failed),
            };
            self.stack.udp_consume(socket);
            if send {
                match self.stack.udp_send_to(self.now, socket, peer, reply) {
                    Ok(()) => sent += 1,
                    Err(_) => failed += 1,
                }
            }
        }
    }

    /// Queues a copy of `data`; returns how much fit.
    pub fn send(&mut self, h: TcpHandle, data: &[u8]) -> Result<usize, TcpError> {
        let n = self.stack.tcp_send(h, data)?;
        *self.copies += n as u64;
        Ok(n)
    }
}
