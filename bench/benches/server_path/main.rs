//! One server at scale: frames per second per core from RX frame to TX frames, for N
//! established connections carrying 64-byte requests that the application echoes
//! (docs/benchmarks.md, "Server at scale").
//!
//! - `server_path/{xdptcp,smoltcp}/N`: checksums left to the device, as on a NIC that
//!   offloads them (the headline). N = 1, 1,000 and 100,000 for xdptcp; 1 and 1,000 for
//!   smoltcp, whose per-packet socket scan makes 100,000 pointless.
//! - `server_path_sw_checksum/{xdptcp,smoltcp}/N`: the same with every checksum verified and
//!   filled in software, N = 1 and 1,000.
//!
//! Setup, once per row and untimed: N connections are opened through the server by real
//! xdptcp client stacks (`server_path/setup.rs`), then a scripted client
//! (`server_path/client.rs`) takes over each connection's sequence numbers and timestamps.
//! Two full rounds over every connection then run untimed, and the checks below must hold
//! before anything is measured.
//!
//! Requests go round-robin over the connections, in a fixed shuffled order, in RX batches of
//! min(N, 64) frames (at N = 100,000 consecutive frames touch different connections, as a
//! server at scale sees them; shuffled so that they do not lie at a constant stride in the
//! server's memory, which the core's stride prefetcher would follow, `client::shuffled`).
//! Each connection has one request in flight, as a closed-loop client (`xdptcp load rr`)
//! keeps it, so a batch never holds two requests of one connection: at N = 1 a batch is one
//! frame. Per batch the server does a driver loop's whole turn: receive every frame,
//! run due timers, let the application read and echo each request, and drain
//! `poll_transmit` into reused TX buffers (ACK decisions included). One measured iteration
//! is 64 frames (one batch, or 64 batches of one at N = 1), timed as a whole with
//! `iter_custom`; the client builds the iteration's requests before it and reads the echoes
//! after it, untimed. Virtual time advances 1 µs per frame. Each request acknowledges the
//! echo of the one before (predicted when built ahead, checked when the echo arrives), with
//! RFC 7323 timestamps that advance, so windows and send buffers never fill.
//!
//! The timed parts use wall time, less what an empty timed region measures; with
//! `XDPTCP_BENCH_CLOCK=thread-cpu` they use the thread's CPU time instead, which other jobs
//! on a shared machine do not inflate by preempting the benchmark (`server_path/clock.rs`).
//!
//! Checked at setup end and again after the measurement (and so in `cargo test --benches`,
//! where criterion runs each row once): every request got exactly one echo, in order and byte
//! for byte, no unexpected frame; xdptcp's counters show no drop, retransmission, reset or
//! refused segment; smoltcp's sockets are all still established.
//!
//! Server configuration: xdptcp with its default auto-tuned buffers, whose 4 KiB chunks are
//! taken as data flows (an idle connection holds none); smoltcp with 4 KiB rings per socket,
//! allocated up front (a 64 B exchange never needs more). Nagle off, Ethernet at MTU 1500,
//! timestamps on, everything else each stack's default.

/// Large blocks on huge pages, as in the `xdptcp` tool (`xdptcp_driver::hugepage`): the
/// connection table and the chunk slabs at N = 100,000.
#[global_allocator]
static ALLOC: xdptcp_driver::HugePageAlloc = xdptcp_driver::HugePageAlloc;

mod client;
mod clock;
mod frames;
mod setup;
mod smoltcp_server;
mod xdptcp_server;

use std::time::Instant as WallClock;

use clock::Clock;

use criterion::measurement::WallTime;
use criterion::Throughput;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, BenchmarkId, Criterion};
use xdptcp_stack::time::{Duration, Instant};

use client::EchoClients;
use frames::FrameBatch;
use smoltcp_server::SmoltcpServer;
use xdptcp_server::XdptcpServer;

/// A server under test, as a driver's loop sees it.
pub trait EchoServer {
    /// One turn of the loop over one RX batch: receive every frame of `rx`, run timers that
    /// are due, echo every request that arrived, and write every frame there is to send into
    /// `tx`. `conns` names the client connection of each request (only smoltcp's
    /// application, which has no readiness events, looks at it).
    fn run_batch(&mut self, now: Instant, rx: &FrameBatch, conns: &[u32], tx: &mut FrameBatch);

    /// Connections established (and accepted, where the stack has an accept queue).
    fn established(&mut self) -> usize;

    /// Learns which connection is which once all are established (smoltcp's application
    /// needs it, see `smoltcp_server.rs`).
    fn map_connections(&mut self, _n: usize, _addresses: usize) {}

    /// The server's own account of the run: nothing dropped, refused or cut short.
    fn check(&mut self) -> Result<(), String>;
}

/// Most frames in one RX batch, and frames per measured iteration.
const BATCH: usize = 64;

/// A server with N connections and their scripted client ends.
struct Run<S> {
    server: S,
    clients: EchoClients,
    now: Instant,
    clock: Clock,
    /// The clock's [`overhead`](Clock::overhead), taken off every measurement.
    overhead: std::time::Duration,
    /// Frames per RX batch: min(N, 64).
    batch: usize,
    /// One measured iteration: enough batches for 64 frames.
    rx: Vec<FrameBatch>,
    tx: Vec<FrameBatch>,
    conns: Vec<Vec<u32>>,
}

impl<S: EchoServer> Run<S> {
    /// Establishes `n` connections to `server` (created at [`start`]), runs two untimed
    /// rounds over them and checks both sides.
    fn new(mut server: S, n: usize) -> Result<Run<S>, String> {
        let mut now = start();
        let clients = setup::establish(&mut server, n, &mut now);
        server.map_connections(n, setup::addresses_for(n));
        let batch = n.min(BATCH);
        let chunk = BATCH.div_ceil(batch);
        let clock = Clock::from_env();
        let mut run = Run {
            server,
            clients,
            now,
            clock,
            overhead: clock.overhead(),
            batch,
            rx: (0..chunk).map(|_| FrameBatch::new(batch + 16)).collect(),
            tx: (0..chunk).map(|_| FrameBatch::new(4 * batch + 16)).collect(),
            conns: (0..chunk).map(|_| Vec::with_capacity(batch)).collect(),
        };
        for _ in 0..(2 * n).div_ceil(run.frames()) {
            run.step();
        }
        run.check()?;
        Ok(run)
    }

    /// Frames per [`step`](Self::step).
    fn frames(&self) -> usize {
        self.batch * self.rx.len()
    }

    fn check(&mut self) -> Result<(), String> {
        self.clients.check()?;
        self.server.check()
    }

    /// One measured iteration: the client builds the requests of a chunk of batches (one
    /// batch of 64 frames, or at N = 1 64 batches of one), the server runs them batch after
    /// batch, timed as a whole on [`Clock`] less its overhead, and the client reads the
    /// echoes. Virtual time advances 1 µs per frame.
    fn step(&mut self) -> std::time::Duration {
        let frame_time = Duration::from_micros(1);
        let mut now = self.now;
        for ((rx, tx), conns) in self.rx.iter_mut().zip(&mut self.tx).zip(&mut self.conns) {
            rx.clear();
            tx.clear();
            conns.clear();
            self.clients.fill(now, rx, conns, self.batch);
            now += frame_time.saturating_mul(self.batch as u64);
        }
        let mut now = self.now;
        let t = self.clock.now();
        for ((rx, tx), conns) in self.rx.iter().zip(&mut self.tx).zip(&self.conns) {
            self.server.run_batch(now, rx, conns, tx);
            now += frame_time.saturating_mul(self.batch as u64);
        }
        let spent = self.clock.now().saturating_sub(t).saturating_sub(self.overhead);
        for tx in &self.tx {
            self.clients.absorb(tx);
        }
        self.clients.end_chunk();
        self.now = now;
        spent
    }
}

/// Virtual time at which servers are created and setup begins.
fn start() -> Instant {
    Instant::from_millis(1)
}

/// Sets up, checks, measures and checks again one row: one iteration is one batch, its
/// frames the throughput. Rows a name filter excludes are not even set up (setting up
/// 100,000 connections takes seconds and would pollute a profile of another row).
fn row<S: EchoServer>(
    g: &mut BenchmarkGroup<'_, WallTime>,
    group: &str,
    stack: &str,
    n: usize,
    server: impl FnOnce() -> S,
) {
    let id = format!("{group}/{stack}/{n}");
    if !wanted(&id) {
        return;
    }
    let t = WallClock::now();
    let mut run = Run::new(server(), n).unwrap_or_else(|e| panic!("{id} after setup: {e}"));
    eprintln!(
        "{id}: {n} connections set up and checked in {:.1?} (timestamps: {}; {:?} clock, \
         {:?} overhead taken off each measurement)",
        t.elapsed(),
        run.clients.timestamps(),
        run.clock,
        run.overhead
    );
    g.throughput(Throughput::Elements(run.frames() as u64));
    g.bench_function(BenchmarkId::new(stack, n), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run.step()).sum())
    });
    run.check().unwrap_or_else(|e| panic!("{id} after measuring: {e}"));
    eprintln!("{id}: {:?}", run.clients.stats);
}

/// Criterion's options (0.8) that take their value in the next argument.
const OPTIONS_WITH_VALUE: [&str; 19] = [
    "-c",
    "--color",
    "-s",
    "--save-baseline",
    "-b",
    "--baseline",
    "--baseline-lenient",
    "--format",
    "--profile-time",
    "--load-baseline",
    "--sample-size",
    "--warm-up-time",
    "--measurement-time",
    "--nresamples",
    "--noise-threshold",
    "--confidence-level",
    "--significance-level",
    "--plotting-backend",
    "--output-format",
];

/// Criterion's name filter: the first argument that is neither an option nor an option's
/// value.
fn filter() -> Option<String> {
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        if OPTIONS_WITH_VALUE.contains(&a.as_str()) {
            args.next();
        } else if !a.starts_with('-') {
            return Some(a);
        }
    }
    None
}

/// Whether criterion's name filter can match `id`: a plain substring, optionally anchored
/// with `^` and `$`. A filter with any other regular-expression syntax is left to criterion.
fn wanted(id: &str) -> bool {
    let Some(f) = filter() else { return true };
    let (start, f) = f.strip_prefix('^').map_or((false, f.as_str()), |r| (true, r));
    let (end, f) = f.strip_suffix('$').map_or((false, f), |r| (true, r));
    if !f.chars().all(|c| c.is_alphanumeric() || "_/=".contains(c)) {
        return true;
    }
    match (start, end) {
        (true, true) => id == f,
        (true, false) => id.starts_with(f),
        (false, true) => id.ends_with(f),
        (false, false) => id.contains(f),
    }
}

fn offloaded(c: &mut Criterion) {
    let group = "server_path";
    let mut g = c.benchmark_group(group);
    for n in [1, 1_000, 100_000] {
        row(&mut g, group, "xdptcp", n, || XdptcpServer::new(n, true, start()));
    }
    for n in [1, 1_000] {
        row(&mut g, group, "smoltcp", n, || SmoltcpServer::new(n, true, start()));
    }
    g.finish();
}

fn software_checksums(c: &mut Criterion) {
    let group = "server_path_sw_checksum";
    let mut g = c.benchmark_group(group);
    for n in [1, 1_000] {
        row(&mut g, group, "xdptcp", n, || XdptcpServer::new(n, false, start()));
        row(&mut g, group, "smoltcp", n, || SmoltcpServer::new(n, false, start()));
    }
    g.finish();
}

criterion_group!(benches, offloaded, software_checksums);
criterion_main!(benches);
