//! The application layer on the worker's path: an echo server (the sans-IO `apps` echo, as
//! `serve echo --stack xdptcp` runs it) behind a `Worker` over an in-memory wire, in virtual
//! time, against a peer `Worker` whose stack the benchmark drives.
//!
//! - `app_echo/rr64x32`: one round = a 64-byte message on each of 32 open connections, both
//!   workers iterated until every echo is back. Everything of the worker's iteration is in it
//!   (RX, stack, events, the application's callbacks, TX) on both ends, so it shows what the
//!   application layer adds to a small request/response, not its cost alone.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::net::Ipv4Addr;
use xdptcp_bench::apps::AppSpec;
use xdptcp_driver::setup::test_stack;
use xdptcp_driver::{App, LoopbackEnd, LoopbackPair};
use xdptcp_driver::{NoApp, Worker};
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::time::{Duration, Instant};

const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PEER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const CONNS: usize = 32;
const SIZE: usize = 64;

/// The server application under test.
fn server_app() -> impl App {
    use xdptcp_bench::xdp::server::AppService;
    xdptcp_driver::Host::new(AppService::new(AppSpec::Echo, Ipv4Addr::UNSPECIFIED, 80, 1024))
}

struct Wire<A: App> {
    server: Worker<LoopbackEnd, A>,
    peer: Worker<LoopbackEnd, NoApp>,
    conns: Vec<TcpHandle>,
    now: Instant,
    buf: Vec<u8>,
}

impl<A: App> Wire<A> {
    fn step(&mut self) {
        self.peer.run_once(self.now);
        self.server.run_once(self.now);
        self.now += Duration::from_micros(1);
    }

    /// One message on every connection, and every echo back.
    fn round(&mut self) {
        let msg = [0x42u8; SIZE];
        for &h in &self.conns {
            let sent = self.peer.stack_mut().tcp_send(h, &msg).expect("open");
            assert_eq!(sent, SIZE);
        }
        let mut back = 0;
        while back < CONNS * SIZE {
            self.step();
            for &h in &self.conns {
                while let Ok(n @ 1..) = self.peer.stack_mut().tcp_recv(h, &mut self.buf) {
                    back += n;
                }
            }
        }
    }
}

fn wire() -> Wire<impl App> {
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], SERVER, 24);
    let server = Worker::new(a, stack, server_app());
    let stack = test_stack(&b, [2, 0, 0, 0, 0, 1], PEER, 24);
    let peer = Worker::new(b, stack, NoApp);
    let mut w =
        Wire { server, peer, conns: Vec::new(), now: Instant::from_millis(1), buf: vec![0; 4096] };
    w.step(); // the server listens
    let now = w.now;
    for _ in 0..CONNS {
        let h = w.peer.stack_mut().tcp_connect(now, SERVER, 80).expect("connect");
        w.peer.stack_mut().tcp_set_nodelay(h, true).expect("open");
        w.conns.push(h);
    }
    for _ in 0..100 {
        w.step();
    }
    w.round(); // warm: every connection open and its buffers taken
    w
}

fn app_echo(c: &mut Criterion) {
    let mut g = c.benchmark_group("app_echo");
    g.throughput(Throughput::Elements(CONNS as u64));
    let mut w = wire();
    g.bench_function("rr64x32", |b| b.iter(|| w.round()));
    g.finish();
}

criterion_group!(benches, app_echo);
criterion_main!(benches);
