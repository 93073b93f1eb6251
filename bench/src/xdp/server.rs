//! The sans-IO [`apps`](crate::apps) over the xdptcp stack: [`AppService`] is the driver's
//! [`Service`] for any [`AppSpec`], so echo, discard, http, sockperf and rr run unchanged on
//! both stacks (bytes in, bytes out; the driver's [`Host`] moves the bytes between the stack's
//! buffers and the app, reading in place and applying backpressure).
//!
//! sockperf also runs over UDP (its default transport): the sockperf server binds the same
//! port with the stack's UDP API and answers each datagram ([`UdpServer`]) on the socket's
//! readable event.

use crate::apps::sockperf::UdpServer;
use crate::apps::{AppSpec, Conn, Protocol};
use xdptcp_driver::service::{Cx, Host, Ports, Service};
use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

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

/// One [`AppSpec`] on one port of a worker's stack, as a [`Service`].
#[derive(Debug)]
pub struct AppService {
    spec: AppSpec,
    addr: std::net::IpAddr,
    port: u16,
    backlog: usize,
    /// Its listener and (sockperf) UDP socket.
    ports: Ports,
    /// Messages of connections that ended.
    closed_messages: u64,
    /// Echo's replies are copies of its input: bytes copied, for the copy counters.
    echo_copied: u64,
    /// sockperf over UDP: its message logic, the reply buffer (reused) and replies the stack
    /// refused.
    udp_server: UdpServer,
    udp_reply: Vec<u8>,
    udp_send_failed: u64,
}

/// A server of one app: the driver's host of an [`AppService`].
pub type StackServer = Host<AppService>;

impl AppService {
    /// A server of `spec` on `addr:port` (unspecified: the stack's addresses; `::` takes
    /// IPv4 and IPv6).
    pub fn new(
        spec: AppSpec,
        addr: impl Into<std::net::IpAddr>,
        port: u16,
        backlog: usize,
    ) -> Self {
        AppService {
            spec,
            addr: addr.into(),
            port,
            backlog,
            ports: Ports::default(),
            closed_messages: 0,
            echo_copied: 0,
            udp_server: UdpServer::default(),
            udp_reply: Vec::new(),
            udp_send_failed: 0,
        }
    }

    /// sockperf over UDP: what the datagram side did.
    pub fn udp_counters(&self) -> UdpServer {
        self.udp_server
    }

    /// sockperf over UDP: replies the stack refused (queue full, no route).
    pub fn udp_send_failed(&self) -> u64 {
        self.udp_send_failed
    }
}

/// The server's counters: the host's per connection, the apps' messages (of open and closed
/// connections; a walk over the open ones, for reports).
pub fn serve_counters(server: &StackServer) -> ServeCounters {
    let h = server.counters();
    let s = server.service();
    let open: u64 = server.conns().map(|(_, c)| c.messages()).sum();
    ServeCounters {
        accepted: h.opened,
        closed: h.closed,
        errors: h.failed,
        bytes_in: h.bytes_in,
        bytes_out: h.bytes_out,
        messages: s.closed_messages + open + s.udp_server.received,
    }
}

impl Service for AppService {
    type Conn = Conn;

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        self.ports.listen(cx, self.addr, self.port, self.backlog)?;
        if matches!(self.spec, AppSpec::Sockperf) {
            self.ports.bind_udp(cx, self.port)?;
        }
        Ok(())
    }

    fn open(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle) -> Option<Conn> {
        Some(self.spec.new_conn())
    }

    fn on_data(
        &mut self,
        _now: Instant,
        conn: &mut Conn,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        let before = out.len();
        let used = conn.on_readable(input, out);
        if matches!(conn, Conn::Echo(_)) {
            self.echo_copied += (out.len() - before) as u64;
        }
        used
    }

    fn wants_close(&self, conn: &Conn) -> bool {
        conn.wants_close()
    }

    fn closed(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle, conn: Option<Conn>, _why: Event) {
        self.closed_messages += conn.map_or(0, |c| c.messages());
    }

    /// Answers every datagram queued on the sockperf UDP socket.
    fn on_udp(&mut self, cx: &mut Cx<'_>, socket: UdpHandle) {
        let server = &mut self.udp_server;
        let (_, failed) = cx.answer_datagrams(socket, &mut self.udp_reply, |datagram, reply| {
            server.on_datagram(datagram, reply)
        });
        self.udp_send_failed += failed;
    }

    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        self.ports.close(cx);
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("messages", self.closed_messages + self.udp_server.received);
        if matches!(self.spec, AppSpec::Sockperf) {
            out("udp_replied", self.udp_server.replied);
            out("udp_malformed", self.udp_server.malformed);
            out("udp_send_failed", self.udp_send_failed);
        }
    }

    fn copied(&self) -> u64 {
        self.echo_copied
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use xdptcp_driver::setup::test_stack;
    use xdptcp_driver::worker::{NoApp, Worker};
    use xdptcp_driver::{LoopbackEnd, LoopbackPair};
    use xdptcp_stack::time::Duration;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// The client: a stack on the other end of an in-memory wire, driven by a worker with no
    /// application (its test reads and writes through the stack).
    type Peer = Worker<LoopbackEnd, NoApp>;

    fn setup(spec: AppSpec) -> (Worker<LoopbackEnd, StackServer>, Peer) {
        let (a, b) = LoopbackPair::default().build();
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let server = Host::new(AppService::new(spec, Ipv4Addr::UNSPECIFIED, 80, 16));
        let peer_stack = test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24);
        let peer = Worker::new(b, peer_stack, NoApp);
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
            p.run_once(*now);
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
        let h = p.stack_mut().tcp_connect(now, A, 80).expect("connect");
        let total = 600_000usize; // several times the receive ring: the ring wraps
        let byte = |i: usize| (i * 7 + i / 1000) as u8;
        let (mut sent, mut back) = (0, Vec::new());
        let mut buf = vec![0u8; 16384];
        let ok = run(&mut w, &mut p, &mut now, 400_000, |p| {
            while sent < total {
                let chunk: Vec<u8> = (sent..total.min(sent + 4096)).map(byte).collect();
                match p.stack_mut().tcp_send(h, &chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => sent += n,
                }
            }
            while let Ok(n) = p.stack_mut().tcp_recv(h, &mut buf) {
                if n == 0 {
                    break;
                }
                back.extend_from_slice(&buf[..n]);
            }
            back.len() == total
        });
        assert!(ok, "stalled at {} of {total}", back.len());
        assert!(back.iter().enumerate().all(|(i, &b)| b == byte(i)), "echo differs");
        let c = serve_counters(w.app());
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
        let h = p.stack_mut().tcp_connect(now, A, 80).expect("connect");
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
                match p.stack_mut().tcp_send(h, &stream[sent..(sent + 8192).min(stream.len())]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => sent += k,
                }
            }
            while let Ok(k) = p.stack_mut().tcp_recv(h, &mut buf) {
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
        assert_eq!(serve_counters(w.app()).messages, n as u64);
        assert_eq!(serve_counters(w.app()).errors, 0);
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
        let u = p.stack_mut().udp_bind(5001).expect("peer udp bind");
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
            p.stack_mut().udp_send_to(now, u, (A, 80), d).expect("peer send");
        }
        let mut replies = Vec::new();
        let ok = run(&mut w, &mut p, &mut now, 2000, |p| {
            while let Some((from, d)) = p.stack_mut().udp_recv_from(u) {
                replies.push((from.ip(), from.port(), d.to_vec()));
                p.stack_mut().udp_consume(u);
            }
            !replies.is_empty()
        });
        assert!(ok, "no reply");
        // A few more rounds: nothing else may come back (warm-up and truncated get no answer).
        run(&mut w, &mut p, &mut now, 50, |_| false);
        assert!(p.stack_mut().udp_recv_from(u).is_none());
        assert_eq!(replies.len(), 1);
        let (from, port, d) = &replies[0];
        assert_eq!((*from, *port), (std::net::IpAddr::from(A), 80));
        let h = Header::parse(d).expect("header");
        assert_eq!(h, Header { sequence: 1, flags: FLAG_PONG_REQUEST, length: 18 });
        assert_eq!(&d[14..], b"ping");
        let c = w.app().service().udp_counters();
        assert_eq!((c.received, c.replied, c.malformed), (1, 1, 1));
        assert_eq!(serve_counters(w.app()).messages, 1);
    }
}
