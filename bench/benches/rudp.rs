//! `rudp` message throughput through two sans-IO endpoints handing datagrams to each other
//! in memory (no loss, no delay; virtual time advances 10 µs per round): the protocol's own
//! per-message and per-packet cost (fragmenting, framing, ACK ranges, recovery bookkeeping,
//! reassembly), without sockets. Message sizes: 64 B, 1 KiB and 64 KiB.
use std::hint::black_box;
use std::net::SocketAddr;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use xdptcp_stack::rudp::{Config, ConnectionId, Endpoint, Event};
use xdptcp_stack::time::{Duration, Instant};

const BYTES_PER_ITER: usize = 1 << 20;

struct Pair {
    a: Endpoint,
    b: Endpoint,
    conn: ConnectionId,
    now: Instant,
    buf: Vec<u8>,
}

fn addr(s: &str) -> SocketAddr {
    s.parse().expect("a literal address")
}

impl Pair {
    fn new() -> Pair {
        let now = Instant::from_millis(1);
        let mut p = Pair {
            a: Endpoint::new(Config::default(), [1; 16], now),
            b: Endpoint::new(Config::default(), [2; 16], now),
            conn: ConnectionId(0),
            now,
            buf: vec![0; 2048],
        };
        p.conn = p.a.connect(now, addr("10.0.0.2:2")).expect("first connection");
        while !p.a.is_established(p.conn) {
            p.round(&mut |_| {});
        }
        while p.b.poll_event().is_some() {}
        p
    }

    /// Moves every datagram both ways once and runs timers; `on_message` sees B's messages.
    fn round(&mut self, on_message: &mut impl FnMut(usize)) {
        self.now += Duration::from_micros(10);
        let (aa, ba) = (addr("10.0.0.1:1"), addr("10.0.0.2:2"));
        while let Some((_, len)) = self.a.poll_transmit(self.now, &mut self.buf) {
            self.b.handle(self.now, aa, &self.buf[..len]);
        }
        while let Some((_, len)) = self.b.poll_transmit(self.now, &mut self.buf) {
            self.a.handle(self.now, ba, &self.buf[..len]);
        }
        for ep in [&mut self.a, &mut self.b] {
            if ep.poll_timeout().is_some_and(|t| t <= self.now) {
                ep.handle_timeout(self.now);
            }
        }
        while let Some(ev) = self.b.poll_event() {
            if let Event::Message(_, m) = ev {
                on_message(black_box(m.data).len());
            }
        }
    }

    /// Sends and receives `BYTES_PER_ITER` bytes in messages of `size`.
    fn transfer(&mut self, size: usize) {
        let msg = vec![0x5a; size];
        let (mut sent, mut received) = (0, 0);
        while received < BYTES_PER_ITER {
            while sent < BYTES_PER_ITER
                && self.a.connection(self.conn).is_some_and(|c| c.has_room(size))
            {
                self.a.send(self.now, self.conn, &msg, true).expect("room was checked");
                sent += size;
            }
            self.round(&mut |n| received += n);
        }
    }
}

fn transfer(c: &mut Criterion) {
    let mut g = c.benchmark_group("rudp/transfer_1MiB");
    g.throughput(Throughput::Bytes(BYTES_PER_ITER as u64));
    g.sample_size(20);
    for size in [64usize, 1024, 65_536] {
        let mut p = Pair::new();
        g.bench_with_input(BenchmarkId::new("ordered", size), &size, |b, &size| {
            b.iter(|| p.transfer(size))
        });
    }
    g.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
