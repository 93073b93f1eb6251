//! Tests of the worker applications in virtual time: the application's worker on one end of
//! an in-memory wire, a peer `Stack` pumped by hand on the other (it plays clients and
//! backends).

use std::net::Ipv4Addr;
use xdptcp_driver::app::App as DriverApp;
use xdptcp_driver::loopback::{LoopbackEnd, LoopbackPair};
use xdptcp_driver::setup::test_stack;
use xdptcp_driver::worker::Worker;
use xdptcp_driver::Device;
use xdptcp_stack::stack::{Stack, StackEvent, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::{Duration, Instant};

/// The worker's address.
pub const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
/// The peer's address.
pub const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// The peer: a stack pumped by hand, with the events it saw.
pub struct Peer {
    dev: LoopbackEnd,
    pub stack: Stack,
    pub events: Vec<(TcpHandle, Event)>,
    pub accepted: Vec<TcpHandle>,
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
        while let Some(e) = self.stack.poll_event() {
            match e {
                StackEvent::Acceptable(l) => {
                    while let Some(h) = self.stack.tcp_accept(l) {
                        self.accepted.push(h);
                    }
                }
                StackEvent::Tcp(h, ev) => self.events.push((h, ev)),
            }
        }
        let mut tx = self.dev.tx_batch(now);
        while let Some(mut buf) = tx.buffer() {
            match self.stack.poll_transmit(now, &mut buf) {
                Some(n) => buf.send(n),
                None => break,
            }
        }
    }

    /// Echoes whatever accepted connections received and closes each at its end of stream.
    pub fn echo_accepted(&mut self) {
        self.echo(true);
    }

    fn echo(&mut self, close_at_fin: bool) {
        let mut buf = [0u8; 4096];
        for &h in &self.accepted {
            loop {
                let room = self.stack.tcp_send_space(h).min(buf.len());
                if room == 0 {
                    break;
                }
                match self.stack.tcp_recv(h, &mut buf[..room]) {
                    Ok(0) => break,
                    Ok(n) => {
                        let _ = self.stack.tcp_send(h, &buf[..n]);
                    }
                    Err(_) => {
                        if close_at_fin {
                            let _ = self.stack.tcp_close(h);
                        }
                        break;
                    }
                }
            }
        }
    }
}

/// A worker running `app` on A and a peer on B, joined by a wire.
pub fn setup<App: DriverApp>(app: App) -> (Worker<LoopbackEnd, App>, Peer) {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
    let peer_stack = test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24);
    let peer = Peer { dev: b, stack: peer_stack, events: Vec::new(), accepted: Vec::new() };
    (Worker::new(a, stack, app), peer)
}

/// Runs both sides in 10 µs steps until `done` or `steps` ran out; whether `done` held.
pub fn run_until<App: DriverApp>(
    w: &mut Worker<LoopbackEnd, App>,
    p: &mut Peer,
    now: &mut Instant,
    steps: usize,
    mut done: impl FnMut(&mut Worker<LoopbackEnd, App>, &mut Peer) -> bool,
) -> bool {
    for _ in 0..steps {
        w.run_once(*now);
        p.pump(*now);
        if done(w, p) {
            return true;
        }
        *now += Duration::from_micros(10);
    }
    false
}
