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
//! Each measured iteration is one RX batch: min(N, 64) requests, one per connection,
//! round-robin over the connections (at N = 100,000 consecutive frames touch different
//! connections, as a server at scale sees them); each connection has one request in flight,
//! as a closed-loop client (`xdptcp load rr`) keeps it, so a batch never holds two requests
//! of one connection. The timed part is the server's whole turn of a driver loop: receive
//! every frame, run due timers, let the application read and echo each request, and drain
//! `poll_transmit` into reused TX buffers (ACK decisions included). Building the requests and
//! reading the echoes (the client's work) happen between timed parts (`iter_custom`); each
//! batch advances virtual time by 1 µs per frame. Each request's frame acknowledges the echo
//! of the previous one, with RFC 7323 timestamps that advance, so windows and send buffers
//! never fill.
//!
//! Checked at setup end and again after the measurement (and so in `cargo test --benches`,
//! where criterion runs each row once): every request got exactly one echo, in order and byte
//! for byte, no unexpected frame; xdptcp's counters show no drop, retransmission, reset or
//! refused segment; smoltcp's sockets are all still established.
//!
//! Server configuration: 4 KiB send and receive buffers per connection (100,000 connections
//! with the default 256 KiB + 128 KiB rings would need about 37 GiB), Nagle off, Ethernet at
//! MTU 1500, timestamps on, everything else each stack's default.

mod client;
mod frames;
mod setup;
mod smoltcp_server;
mod xdptcp_server;

use std::time::Instant as WallClock;

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

/// Most frames in one RX batch.
const BATCH: usize = 64;

/// A server with N connections and their scripted client ends.
struct Run<S> {
    server: S,
    clients: EchoClients,
    now: Instant,
    rx: FrameBatch,
    tx: FrameBatch,
    conns: Vec<u32>,
    batch: usize,
}

impl<S: EchoServer> Run<S> {
    /// Establishes `n` connections to `server` (created at [`start`]), runs two untimed
    /// rounds over them and checks both sides.
    fn new(mut server: S, n: usize) -> Result<Run<S>, String> {
        let mut now = start();
        let clients = setup::establish(&mut server, n, &mut now);
        server.map_connections(n, setup::addresses_for(n));
        let mut run = Run {
            server,
            clients,
            now,
            rx: FrameBatch::new(BATCH + 16),
            tx: FrameBatch::new(4 * BATCH),
            conns: Vec::with_capacity(BATCH),
            batch: n.min(BATCH),
        };
        for _ in 0..(2 * n).div_ceil(run.batch) {
            run.step();
        }
        run.check()?;
        Ok(run)
    }

    fn check(&mut self) -> Result<(), String> {
        self.clients.check()?;
        self.server.check()
    }

    /// One batch; returns the wall time of the server's part.
    fn step(&mut self) -> std::time::Duration {
        self.rx.clear();
        self.tx.clear();
        self.conns.clear();
        self.clients.fill(self.now, &mut self.rx, &mut self.conns, self.batch);
        let t = WallClock::now();
        self.server.run_batch(self.now, &self.rx, &self.conns, &mut self.tx);
        let spent = t.elapsed();
        self.clients.absorb(&self.tx);
        self.now += Duration::from_micros(self.batch as u64);
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
        "{id}: {n} connections set up and checked in {:.1?} (timestamps: {})",
        t.elapsed(),
        run.clients.timestamps()
    );
    g.throughput(Throughput::Elements(run.batch as u64));
    g.bench_function(BenchmarkId::new(stack, n), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| run.step()).sum())
    });
    run.check().unwrap_or_else(|e| panic!("{id} after measuring: {e}"));
    eprintln!("{id}: {:?}", run.clients.stats);
}

/// Whether criterion's name filter (the first argument that is not an option or a number)
/// can match `id`. A filter with regular-expression syntax is left to criterion.
fn wanted(id: &str) -> bool {
    let filter =
        std::env::args().skip(1).find(|a| !a.starts_with('-') && a.parse::<f64>().is_err());
    match filter {
        Some(f) if f.chars().all(|c| c.is_alphanumeric() || "_/=".contains(c)) => id.contains(&f),
        _ => true,
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
