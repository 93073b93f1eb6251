//! `rudp` over the stack's UDP on AF_XDP: [`RudpEcho`], the driver's [`Service`] that runs a
//! sans-IO [`Endpoint`] on one UDP port of a worker's stack and sends every message back on
//! its connection, ordered or not as it came (`xdptcp serve rudp-echo --stack xdptcp`).
//!
//! The glue is the endpoint's calling convention and nothing else: each datagram of the
//! socket's readable event goes to `handle` straight from the socket's ring (uncopied);
//! events are taken, messages echoed with `send`; `poll_transmit` is drained into
//! `udp_send_to`; one service timer follows `poll_timeout`.

use xdptcp_driver::service::{Cx, Host, Ports, Service};
use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::rudp::{CloseReason, Config, Endpoint, Event};
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::time::Instant;
use xdptcp_stack::wheel::TimerHandle;

/// What the echo did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RudpEchoCounters {
    pub accepted: u64,
    pub closed: u64,
    /// Of those, by idle timeout.
    pub timed_out: u64,
    /// Messages echoed, and their bytes.
    pub messages: u64,
    pub bytes: u64,
    /// Echoes the connection refused (send buffer or queue full: the client is far ahead).
    pub refused: u64,
    /// Datagrams the interface refused.
    pub send_failed: u64,
}

impl RudpEchoCounters {
    /// Adds another worker's counters (`serve rudp-echo --queues N`).
    pub fn add(&mut self, o: &RudpEchoCounters) {
        self.accepted += o.accepted;
        self.closed += o.closed;
        self.timed_out += o.timed_out;
        self.messages += o.messages;
        self.bytes += o.bytes;
        self.refused += o.refused;
        self.send_failed += o.send_failed;
    }
}

/// An rudp echo server on one UDP port.
#[derive(Debug)]
pub struct RudpEcho {
    port: u16,
    key: [u8; 16],
    endpoint: Endpoint,
    ports: Ports,
    /// The service timer standing for the endpoint's next deadline, and that deadline.
    timer: Option<(TimerHandle, Instant)>,
    buf: Vec<u8>,
    counters: RudpEchoCounters,
}

/// The driver's host of a [`RudpEcho`].
pub type RudpEchoServer = Host<RudpEcho>;

impl RudpEcho {
    /// An echo on `port` with `config`; `key` must be 16 secret random bytes (Retry tokens,
    /// connection ids and packet keys derive from it). The endpoint starts on the worker's
    /// clock when the service starts.
    pub fn new(port: u16, config: Config, key: [u8; 16]) -> Self {
        let buf = vec![0; config.max_datagram.max(2048)];
        RudpEcho {
            port,
            key,
            endpoint: Endpoint::new(config, key, Instant::ZERO),
            ports: Ports::default(),
            timer: None,
            buf,
            counters: RudpEchoCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> RudpEchoCounters {
        self.counters
    }

    /// The endpoint (its own counters, connections).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// Takes the endpoint's events (echoing messages), sends what it has, and re-arms the
    /// timer: what follows every input.
    fn settle(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        while let Some(ev) = self.endpoint.poll_event() {
            match ev {
                Event::Message(c, m) => match self.endpoint.send(now, c, &m.data, m.ordered) {
                    Ok(_) => {
                        self.counters.messages += 1;
                        self.counters.bytes += m.data.len() as u64;
                    }
                    Err(_) => self.counters.refused += 1,
                },
                Event::Accepted(_) => self.counters.accepted += 1,
                Event::Closed(_, why) => {
                    self.counters.closed += 1;
                    self.counters.timed_out += u64::from(why == CloseReason::IdleTimeout);
                }
                Event::Connected(_) => {}
            }
        }
        if let Some(socket) = self.ports.udp() {
            while let Some((to, len)) = self.endpoint.poll_transmit(now, &mut self.buf) {
                if cx.stack().udp_send_to(now, socket, to, &self.buf[..len]).is_err() {
                    // A refused datagram is a loss like any other: recovery repairs it.
                    self.counters.send_failed += 1;
                }
            }
        }
        let next = self.endpoint.poll_timeout();
        if self.timer.map(|(_, at)| at) != next {
            if let Some((h, _)) = self.timer.take() {
                cx.cancel_timer(h);
            }
            self.timer = next.map(|at| (cx.arm_timer(at, 0), at));
        }
    }
}

impl Service for RudpEcho {
    type Conn = ();

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        // Its timer wheel starts at the worker's `now`, not at zero.
        self.endpoint = Endpoint::new(self.endpoint.config().clone(), self.key, cx.now());
        self.ports.bind_udp(cx, self.port)
    }

    fn open(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle) -> Option<()> {
        // No TCP listener: nothing to accept.
        None
    }

    fn on_data(
        &mut self,
        _now: Instant,
        _conn: &mut (),
        _input: &[u8],
        _out: &mut Vec<u8>,
    ) -> usize {
        0
    }

    fn on_udp(&mut self, cx: &mut Cx<'_>, socket: UdpHandle) {
        let now = cx.now();
        loop {
            let stack = cx.stack();
            let Some((from, datagram)) = stack.udp_recv_from(socket) else { break };
            self.endpoint.handle(now, from, datagram);
            stack.udp_consume(socket);
        }
        self.settle(cx);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, _token: u64) {
        self.timer = None;
        self.endpoint.handle_timeout(cx.now());
        self.settle(cx);
    }

    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        self.ports.close(cx);
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.counters;
        let e = self.endpoint.stats();
        out("rudp_accepted", c.accepted);
        out("rudp_closed", c.closed);
        out("rudp_idle_timeouts", c.timed_out);
        out("rudp_messages", c.messages);
        out("rudp_bytes", c.bytes);
        out("rudp_refused", c.refused);
        out("rudp_send_failed", c.send_failed);
        out("rudp_unauthenticated", e.unauthenticated);
        out("rudp_malformed", e.malformed);
        out("rudp_unknown_connection", e.unknown_connection);
        out("rudp_retries_sent", e.retries_sent);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
    use xdptcp_driver::setup::test_stack;
    use xdptcp_driver::worker::{NoApp, Worker};
    use xdptcp_driver::LoopbackPair;
    use xdptcp_stack::time::Duration;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const PORT: u16 = 9000;

    /// The echo on one end of an in-memory wire; on the other, a client `Endpoint` over the
    /// peer stack's UDP: messages of every size up to 64 KiB come back byte-exact, ordered
    /// ones in order, and the client's close is seen by the server.
    #[test]
    fn messages_come_back_over_the_stacks_udp() {
        let (a, b) = LoopbackPair::default().build();
        let mut now = Instant::from_millis(1);
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let echo = RudpEcho::new(PORT, Config::default(), [4; 16]);
        let mut w = Worker::new(a, stack, Host::new(echo));
        let peer_stack = test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24);
        let mut p = Worker::new(b, peer_stack, NoApp);
        w.run_once(now);
        let u = p.stack_mut().udp_bind(4000).expect("peer udp bind");
        let server = SocketAddr::V4(SocketAddrV4::new(A, PORT));
        let mut client = Endpoint::new(Config::default(), [5; 16], now);
        let conn = client.connect(now, server).unwrap();
        let sizes = [0usize, 1, 64, 1100, 1200, 4096, 30_000, 65_536, 7];
        let mut sent = std::collections::HashMap::new();
        let mut got = 0;
        let mut next_ordered = 0;
        let mut connected = false;
        let mut buf = vec![0u8; 2048];
        for _ in 0..200_000 {
            p.run_once(now);
            w.run_once(now);
            while let Some((from, d)) = p.stack().udp_recv_from(u) {
                client.handle(now, from, d);
                p.stack_mut().udp_consume(u);
            }
            if client.poll_timeout().is_some_and(|t| t <= now) {
                client.handle_timeout(now);
            }
            while let Some(ev) = client.poll_event() {
                match ev {
                    Event::Connected(_) => {
                        connected = true;
                        for (i, &n) in sizes.iter().enumerate() {
                            let data: Vec<u8> = (0..n).map(|k| (k * 3 + i) as u8).collect();
                            let ordered = i % 3 != 0;
                            let id = client.send(now, conn, &data, ordered).unwrap();
                            sent.insert((ordered, id), data);
                        }
                    }
                    Event::Message(_, m) => {
                        assert_eq!(sent.remove(&(m.ordered, m.id)).as_ref(), Some(&m.data));
                        if m.ordered {
                            assert_eq!(m.id, next_ordered, "in order");
                            next_ordered += 1;
                        }
                        got += 1;
                        if got == sizes.len() {
                            client.close(now, conn);
                        }
                    }
                    Event::Closed(_, why) => {
                        assert_eq!(why, CloseReason::Local);
                        assert!(connected);
                        // Let the server see the CLOSE.
                        for _ in 0..100 {
                            p.run_once(now);
                            w.run_once(now);
                            now += Duration::from_micros(50);
                        }
                        let c = w.app().service().counters();
                        assert_eq!((c.accepted, c.messages, c.closed), (1, sizes.len() as u64, 1));
                        let bytes: usize = sizes.iter().sum();
                        assert_eq!(c.bytes, bytes as u64);
                        assert_eq!(c.send_failed + c.refused, 0);
                        return;
                    }
                    Event::Accepted(_) => panic!("the client accepts nothing"),
                }
            }
            while let Some((to, len)) = client.poll_transmit(now, &mut buf) {
                assert_eq!(to, server);
                p.stack_mut().udp_send_to(now, u, (A, PORT), &buf[..len]).expect("peer send");
            }
            now += Duration::from_micros(50);
        }
        panic!("{got} of {} echoes", sizes.len());
    }
}
