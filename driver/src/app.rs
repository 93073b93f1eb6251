//! What the [`Worker`](crate::worker::Worker) drives: the [`App`] trait, the stack's events
//! as they come. Applications are written as a [`Service`](crate::service::Service) (per
//! connection, with user data, timers and UDP events), which [`Host`](crate::service::Host)
//! turns into an `App`; a tool that wants the raw events (a flood generator)
//! implements `App` itself.
//!
//! The worker calls an application only between RX and TX of one iteration, with the stack
//! lent mutably, so an application can read, write and close without any queue of its own
//! in between. Nothing is allocated per packet.

use xdptcp_stack::stack::{ListenHandle, Stack, TcpHandle};
use xdptcp_stack::tcp::Event;
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

    /// Why `start` failed (a port in use), if it did; the [builder](crate::builder) reports
    /// it instead of running.
    fn start_error(&self) -> Option<&str> {
        None
    }

    /// The application's own next deadline (its timers): the worker comes back no later.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

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

    /// Send-buffer space was freed after a write was refused or short (write until short,
    /// then wait for this).
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
