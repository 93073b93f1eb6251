//! A [`Host`] over an in-memory wire, in virtual time; the peer is a second worker.

use std::net::Ipv4Addr;

use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::tcp::{Event, State};
use xdptcp_stack::time::{Duration, Instant};

use super::{Cx, Host, Service, OUT_LIMIT};
use crate::loopback::{LoopbackEnd, LoopbackPair};
use crate::setup::test_stack;
use crate::worker::{NoApp, Worker};

const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

/// Answers each line with how many lines *this connection* sent so far (and closes after
/// answering a line `bye`), writes `tick` into each connection 5 ms after it opened (a
/// connection timer, written in place), answers each datagram with the number of datagrams
/// so far, and refuses a connection from port 1.
#[derive(Debug, Default)]
struct Lines {
    udp: Option<UdpHandle>,
    datagrams: u64,
    closed: Vec<(u64, Event)>,
    ticks: u64,
}

#[derive(Debug, Default)]
struct LineConn {
    lines: u64,
    bye: bool,
}

impl Service for Lines {
    type Conn = LineConn;

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        cx.stack().tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16).map_err(|e| format!("{e:?}"))?;
        self.udp = Some(cx.stack().udp_bind(53).map_err(|e| format!("{e:?}"))?);
        Ok(())
    }

    fn open(&mut self, cx: &mut Cx<'_>, h: TcpHandle) -> Option<LineConn> {
        let (_, remote) = cx.stack().tcp_endpoints(h).ok()?;
        if remote.port() == 1 {
            return None;
        }
        let at = cx.now() + Duration::from_millis(5);
        cx.arm_conn_timer(at, h, 7);
        Some(LineConn::default())
    }

    fn on_data(
        &mut self,
        _now: Instant,
        c: &mut LineConn,
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        let mut used = 0;
        while let Some(i) = input[used..].iter().position(|&b| b == b'\n') {
            if out.len() >= OUT_LIMIT {
                break;
            }
            c.lines += 1;
            out.extend_from_slice(format!("{}\n", c.lines).as_bytes());
            c.bye |= &input[used..used + i] == b"bye";
            used += i + 1;
        }
        used
    }

    fn wants_close(&self, c: &LineConn) -> bool {
        c.bye
    }

    fn on_conn_timer(&mut self, cx: &mut Cx<'_>, _c: &mut LineConn, h: TcpHandle, token: u64) {
        assert_eq!(token, 7);
        self.ticks += 1;
        let n = cx
            .write(h, |room| {
                room[..5].copy_from_slice(b"tick\n");
                5
            })
            .expect("open");
        assert_eq!(n, 5);
    }

    fn on_udp(&mut self, cx: &mut Cx<'_>, socket: UdpHandle) {
        let now = cx.now();
        let stack = cx.stack();
        while let Some((peer, _)) = stack.udp_recv_from(socket) {
            stack.udp_consume(socket);
            self.datagrams += 1;
            let reply = self.datagrams.to_string();
            stack.udp_send_to(now, socket, peer, reply.as_bytes()).expect("queued");
        }
    }

    fn closed(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle, c: Option<LineConn>, why: Event) {
        self.closed.push((c.map_or(u64::MAX, |c| c.lines), why));
    }
}

struct Wire {
    server: Worker<LoopbackEnd, Host<Lines>>,
    peer: Worker<LoopbackEnd, NoApp>,
    now: Instant,
}

impl Wire {
    fn new() -> Wire {
        let (a, b) = LoopbackPair::default().build();
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let mut server = Worker::new(a, stack, Host::new(Lines::default()));
        server.start().expect("listens and binds");
        let peer_stack = test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24);
        let mut peer = Worker::new(b, peer_stack, NoApp);
        peer.start().expect("nothing to start");
        Wire { server, peer, now: Instant::from_millis(1) }
    }

    /// A wire with one connection from the peer, open.
    fn connected() -> (Wire, TcpHandle) {
        let mut w = Wire::new();
        let h = w.peer.stack_mut().tcp_connect(w.now, A, 80).expect("connect");
        w.run(1);
        assert_eq!(w.server.app().open_connections(), 1);
        (w, h)
    }

    /// Runs both for `ms` of virtual time in 100 µs steps.
    fn run(&mut self, ms: u64) {
        for _ in 0..ms * 10 {
            self.peer.run_once(self.now);
            self.server.run_once(self.now);
            self.now += Duration::from_micros(100);
        }
    }

    fn read(&mut self, h: TcpHandle) -> String {
        let mut buf = [0u8; 256];
        let n = self.peer.stack_mut().tcp_recv(h, &mut buf).unwrap_or(0);
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }
}

#[test]
fn each_connection_has_its_own_data_and_timer() {
    let mut w = Wire::new();
    let now = w.now;
    let h1 = w.peer.stack_mut().tcp_connect(now, A, 80).expect("connect");
    let h2 = w.peer.stack_mut().tcp_connect(now, A, 80).expect("connect");
    w.run(1);
    assert_eq!(w.server.app().open_connections(), 2);
    w.peer.stack_mut().tcp_send(h1, b"a\nb\n").expect("open");
    w.peer.stack_mut().tcp_send(h2, b"c\n").expect("open");
    w.run(1);
    assert_eq!(w.read(h1), "1\n2\n", "counted per connection");
    assert_eq!(w.read(h2), "1\n");
    // A partial line waits for the rest (no Nagle: the rest leaves before an ACK).
    w.peer.stack_mut().tcp_set_nodelay(h2, true).expect("open");
    w.peer.stack_mut().tcp_send(h2, b"par").expect("open");
    w.run(1);
    assert_eq!(w.read(h2), "");
    w.peer.stack_mut().tcp_send(h2, b"tial\n").expect("open");
    w.run(1);
    assert_eq!(w.read(h2), "2\n");
    // Each connection's timer fired once, 5 ms after it opened, with its own data (its
    // write leaves once the peer's delayed ACK releases Nagle's hold).
    w.run(60);
    assert_eq!(w.read(h1), "tick\n");
    assert_eq!(w.read(h2), "tick\n");
    assert_eq!(w.server.app().service().ticks, 2);
    let c = w.server.app().counters();
    assert_eq!((c.opened, c.bytes_in, c.bytes_out), (2, 4 + 2 + 8, 4 + 2 + 2 + 10));
    // The peer closes one; its data comes back to the service.
    w.peer.stack_mut().tcp_close(h1).expect("open");
    w.run(2);
    assert_eq!(w.server.app().open_connections(), 1);
    assert_eq!(w.server.app().service().closed, vec![(2, Event::Closed)]);
}

#[test]
fn a_refused_connection_is_reset_and_never_counted_open() {
    let mut w = Wire::new();
    let now = w.now;
    let config = xdptcp_stack::tcp::TcpConfig::default();
    let h = w.peer.stack_mut().tcp_connect_from(now, 1, A, 80, config).expect("connect");
    w.run(2);
    assert_eq!(w.server.app().open_connections(), 0);
    assert_eq!(w.server.app().counters().opened, 0);
    assert!(matches!(w.peer.stack().tcp_state(h), xdptcp_stack::tcp::State::Closed));
}

#[test]
fn datagrams_raise_one_readable_event_per_batch() {
    let mut w = Wire::new();
    let now = w.now;
    let u = w.peer.stack_mut().udp_bind(4000).expect("free");
    for _ in 0..3 {
        w.peer.stack_mut().udp_send_to(now, u, (A, 53), b"q").expect("queued");
    }
    w.run(1);
    let mut replies = Vec::new();
    while let Some((from, d)) = w.peer.stack().udp_recv_from(u) {
        replies.push((from, String::from_utf8_lossy(d).into_owned()));
        w.peer.stack_mut().udp_consume(u);
    }
    let want: Vec<_> = ["1", "2", "3"]
        .iter()
        .map(|s| (std::net::SocketAddr::from((A, 53)), s.to_string()))
        .collect();
    assert_eq!(replies, want);
}

/// Requests followed at once by the peer's FIN (a half-close): a read that takes everything
/// ends the round only when no end of stream waits to be reported, so the host answers, then
/// sees the FIN and closes (`tcp_read_again`'s own test has the FIN in the data's segment).
#[test]
fn data_and_fin_together_are_answered_then_closed() {
    let (mut w, h) = Wire::connected();
    w.peer.stack_mut().tcp_send(h, b"a\nb\n").expect("open");
    // A half-close: the peer still reads the answers.
    w.peer.stack_mut().tcp_shutdown_write(h).expect("open");
    w.run(2);
    assert_eq!(w.read(h), "1\n2\n", "answered before closing");
    assert_eq!(w.server.app().open_connections(), 0, "closed by the host on the FIN");
    assert_eq!(w.server.app().service().closed, vec![(2, Event::Closed)]);
    let c = w.server.app().counters();
    assert_eq!((c.bytes_in, c.bytes_out), (4, 4));
}

/// The service closes first; once the peer's FIN arrives the connection waits in TIME-WAIT
/// (RFC 9293 §3.6), which is the stack's business: the host hands the user data back then,
/// not 2·MSL later.
#[test]
fn a_close_the_service_asked_for_ends_for_it_at_time_wait() {
    let (mut w, h) = Wire::connected();
    let (ours, _) = w.server.app().conns().next().expect("one open");
    w.peer.stack_mut().tcp_send(h, b"a\nbye\n").expect("open");
    w.run(2);
    assert_eq!(w.read(h), "1\n2\n", "answered before closing");
    assert!(w.server.app().service().closed.is_empty(), "the peer has not closed yet");
    w.peer.stack_mut().tcp_close(h).expect("open");
    w.run(2);
    assert_eq!(w.server.stack().tcp_state(ours), State::TimeWait, "the stack holds it");
    assert_eq!(w.server.app().open_connections(), 0);
    assert_eq!(w.server.app().service().closed, vec![(2, Event::Closed)]);
}

/// Requests that arrive in separate batches are each answered in their own round: a round
/// that drained the buffer ends without reading again, and the next segment's event starts
/// the next one.
#[test]
fn a_drained_round_ends_and_the_next_segment_starts_another() {
    let (mut w, h) = Wire::connected();
    w.peer.stack_mut().tcp_set_nodelay(h, true).expect("open");
    let mut got = String::new();
    for _ in 0..5 {
        w.peer.stack_mut().tcp_send(h, b"x\n").expect("open");
        w.run(1);
        got += &w.read(h);
    }
    assert_eq!(got, "1\n2\n3\n4\n5\n");
    assert_eq!(w.server.app().counters().bytes_in, 10);
}
