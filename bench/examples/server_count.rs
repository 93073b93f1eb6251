//! The `server_path` workload (bench/benches/server_path, docs/benchmarks.md "Server at
//! scale") without criterion, for counting what the server's turns cost under valgrind,
//! where timing on a shared machine cannot: instructions, and with a cache simulation the
//! D1 and LL misses per frame that decide the rate at 100,000 connections.
//!
//! `cargo build --release -p xdptcp-bench --example server_count`, then
//!
//! ```text
//! valgrind --tool=callgrind --cache-sim=yes --collect-atstart=no \
//!     --toggle-collect='*measured_turns*' target/release/examples/server_count 100000 64
//! ```
//!
//! counts only the server's turns (setup, the client and the checks are left out by the
//! toggle); divide by the frames it prints. Arguments: connections, then measured
//! iterations of 64 frames each, after two untimed rounds over every connection as in the
//! criterion rows, or as many as a third argument says: the criterion rows run for seconds,
//! long enough for each connection's RTT estimate (and with it its timers) to settle, which
//! takes about 20 rounds at 100,000 connections.
//! Exits non-zero, with the reason, if an echo or a server counter is wrong.
//!
//! With `SERVER_COUNT_MARKS` set (to anything), it writes to stderr, before the first measured
//! iteration, where the server's connection slots lie (`SLAB <address> <slot size> <slots>`)
//! and then the frames measured (`MEASURE_START <frames>`): under `valgrind --tool=lackey --trace-mem=yes`, whose trace goes
//! to stderr too, `scripts/touch-map.py` maps the measured loads and stores onto the
//! connection's fields.

#[path = "../benches/server_path/client.rs"]
#[allow(dead_code)]
mod client;
#[path = "../benches/server_path/frames.rs"]
#[allow(dead_code)]
mod frames;
#[path = "../benches/server_path/setup.rs"]
#[allow(dead_code)]
mod setup;
#[path = "../benches/server_path/xdptcp_server.rs"]
mod xdptcp_server;

use client::EchoClients;
use frames::FrameBatch;
use xdptcp_server::XdptcpServer;
use xdptcp_stack::time::{Duration, Instant};

/// The part of `server_path`'s `EchoServer` that the shared modules use.
pub trait EchoServer {
    fn run_batch(&mut self, now: Instant, rx: &FrameBatch, conns: &[u32], tx: &mut FrameBatch);
    fn established(&mut self) -> usize;
    fn map_connections(&mut self, _n: usize, _addresses: usize) {}
    fn check(&mut self) -> Result<(), String>;
}

/// Frames per RX batch at most, and per iteration (as in `server_path`).
const BATCH: usize = 64;

fn main() {
    // Every argument a number: a word after them would otherwise be dropped unseen.
    let args: Option<Vec<usize>> = std::env::args().skip(1).map(|a| a.parse().ok()).collect();
    let (n, iterations, rounds) = match args.as_deref() {
        Some(&[n, iterations]) => (n, iterations, 2),
        Some(&[n, iterations, rounds]) => (n, iterations, rounds),
        _ => {
            eprintln!(
                "usage: server_count CONNECTIONS ITERATIONS [WARM-UP ROUNDS, default 2] \
                 (non-negative integers)"
            );
            std::process::exit(2);
        }
    };
    if n == 0 {
        eprintln!("server_count: CONNECTIONS must be at least 1");
        std::process::exit(2);
    }
    if let Err(e) = run(n, iterations, rounds) {
        eprintln!("server_count: {e}");
        std::process::exit(1);
    }
}

fn run(n: usize, iterations: usize, rounds: usize) -> Result<(), String> {
    let mut now = Instant::from_millis(1);
    let mut server = XdptcpServer::new(n, true, now);
    let mut clients = setup::establish(&mut server, n, &mut now);
    let batch = n.min(BATCH);
    let chunk = BATCH.div_ceil(batch);
    let mut rx: Vec<_> = (0..chunk).map(|_| FrameBatch::new(batch + 16)).collect();
    let mut tx: Vec<_> = (0..chunk).map(|_| FrameBatch::new(4 * batch + 16)).collect();
    let mut conns: Vec<Vec<u32>> = (0..chunk).map(|_| Vec::with_capacity(batch)).collect();
    let warm = rounds.saturating_mul(n).div_ceil(batch * chunk);
    let frame_time = Duration::from_micros(1).saturating_mul(batch as u64);
    let measured = iterations * batch * chunk;
    let marks = std::env::var_os("SERVER_COUNT_MARKS").is_some();
    for i in 0..warm + iterations {
        if marks && i == warm {
            let (base, size, slots) = server.stack.connection_slots();
            // One write, so that the marks stay whole among the trace's lines.
            let line = format!("SLAB {base:#x} {size} {slots}\nMEASURE_START {measured}\n");
            std::io::Write::write_all(&mut std::io::stderr(), line.as_bytes())
                .map_err(|e| format!("writing the marks: {e}"))?;
        }
        let mut t = now;
        for ((rx, tx), conns) in rx.iter_mut().zip(&mut tx).zip(&mut conns) {
            rx.clear();
            tx.clear();
            conns.clear();
            clients.fill(t, rx, conns, batch);
            t += frame_time;
        }
        if i < warm {
            turns(&mut server, now, &rx, &conns, &mut tx, frame_time);
        } else {
            measured_turns(&mut server, now, &rx, &conns, &mut tx, frame_time);
        }
        now = t;
        for tx in &tx {
            clients.absorb(tx);
        }
        clients.end_chunk();
    }
    check(&mut clients, &mut server)?;
    println!(
        "{n} connections: {} warm-up frames, then {measured} measured frames",
        warm * batch * chunk
    );
    Ok(())
}

/// One iteration's server turns, as `server_path` times them.
fn turns(
    server: &mut XdptcpServer,
    mut now: Instant,
    rx: &[FrameBatch],
    conns: &[Vec<u32>],
    tx: &mut [FrameBatch],
    frame_time: Duration,
) {
    for ((rx, tx), conns) in rx.iter().zip(tx).zip(conns) {
        server.run_batch(now, rx, conns, tx);
        now += frame_time;
    }
}

/// [`turns`] under its own name, for valgrind's `--toggle-collect` to count only these.
#[inline(never)]
fn measured_turns(
    server: &mut XdptcpServer,
    now: Instant,
    rx: &[FrameBatch],
    conns: &[Vec<u32>],
    tx: &mut [FrameBatch],
    frame_time: Duration,
) {
    turns(server, now, rx, conns, tx, frame_time);
}

fn check(clients: &mut EchoClients, server: &mut XdptcpServer) -> Result<(), String> {
    use crate::EchoServer as _;
    clients.check()?;
    server.check()
}
