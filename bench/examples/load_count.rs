//! The xdptcp load generator (`xdp::load`) against a server, both on loopback in virtual
//! time, for counting instructions with callgrind or cachegrind where timing is too noisy:
//! the count per completed request is what a change to the load generator, or to the server's
//! path, adds or removes.
//!
//! `cargo run --release -p xdptcp-bench --example load_count -- rr 2000 [CONNS [SERVER]]`
//! (`rr`, `crr` or `bulk`; virtual milliseconds; connections, 4 unless given; the server,
//! `echo` (the driver's echo service, the default) or `rr` (`serve rr`: the bench's
//! application host, as the lab runs it)). Subtract a run of 0 ms to get the run alone.
//!
//! The lab's rr64x64, one side at a time: `load_count rr 40 64 rr` under
//! `valgrind --tool=callgrind --toggle-collect='*server_turn*'` (or `*client_turn*`), less a
//! run of 20 ms, over the requests completed between.
//!
//! A busy-polling worker turns more often than frames arrive (the lab's load generator about
//! 0.75 times a frame, its server 5-9 times). What a turn with nothing to receive costs:
//! `load_count rr 20 64 rr 4` adds four such client turns after each real one; its
//! `*client_turn*` count less that of `load_count rr 20 64 rr`, over the turns added. What a
//! request costs when every turn has one frame: `load_count rr 40 64 rr 0 1` (device batches
//! of one frame), less a run of 20 ms as above.

use std::net::{Ipv4Addr, SocketAddrV4};
use xdptcp_bench::apps::AppSpec;
use xdptcp_bench::loadgen::LoadConfig;
use xdptcp_bench::loadgen::Workload;
use xdptcp_bench::xdp::load::StackLoad;
use xdptcp_bench::xdp::server::AppService;
use xdptcp_driver::services::Echo;
use xdptcp_driver::setup::test_stack;
use xdptcp_driver::{App, Device, Host, LoopbackEnd, LoopbackPair, Worker};
use xdptcp_stack::time::{Duration, Instant};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const PORT: u16 = 7001;

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = match args.next().as_deref() {
        Some("rr") => Workload::Rr,
        Some("crr") => Workload::Crr,
        Some("bulk") => Workload::Bulk,
        _ => usage(),
    };
    let Some(ms) = args.next().and_then(|s| s.parse::<u64>().ok()) else { usage() };
    let conns = match args.next() {
        None => 4,
        Some(s) => s.parse::<usize>().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
    };
    let rr_server = match args.next().as_deref() {
        None | Some("echo") => false,
        Some("rr") => true,
        Some(_) => usage(),
    };
    // Extra client turns per step, each with nothing to receive: what an empty turn costs is
    // the difference from a run without them, over the turns added.
    let empty_turns = match args.next() {
        None => 0,
        Some(s) => s.parse::<usize>().unwrap_or_else(|_| usage()),
    };
    // Frames per device batch, both ends: 1 makes every turn a one-frame turn, where a
    // turn's fixed cost weighs the most on a request.
    let batch = match args.next() {
        None => xdptcp_driver::DEFAULT_BATCH,
        Some(s) => s.parse::<usize>().ok().filter(|&n| n > 0).unwrap_or_else(|| usage()),
    };
    if args.next().is_some() {
        usage();
    }
    let cfg = LoadConfig {
        workload,
        target: SocketAddrV4::new(SERVER, PORT).into(),
        conns,
        duration: std::time::Duration::from_millis(ms),
        size: 64,
        rate: None,
        timeout: std::time::Duration::from_secs(1),
    };
    let load = match StackLoad::new(cfg, |_| {}) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("load_count: {e}");
            std::process::exit(2);
        }
    };
    let (a, b) = LoopbackPair { batch, ..LoopbackPair::default() }.build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], CLIENT, 24);
    let client = Worker::new(a, stack, Host::new(load));
    let stack = test_stack(&b, [2, 0, 0, 0, 0, 1], SERVER, 24);
    if rr_server {
        let service = AppService::new(AppSpec::Rr, Ipv4Addr::UNSPECIFIED, PORT, 1024);
        run(client, Worker::new(b, stack, Host::new(service)), empty_turns);
    } else {
        let echo = Host::new(Echo::new(PORT).with_backlog(64));
        run(client, Worker::new(b, stack, echo), empty_turns);
    }
}

/// Runs both workers in 10 µs steps until the load generator finishes, then prints what it
/// completed and the frames each side moved.
fn run<S: App>(
    mut client: Worker<LoopbackEnd, Host<StackLoad>>,
    mut server: Worker<LoopbackEnd, S>,
    empty_turns: usize,
) {
    if let Err(e) = server.start() {
        eprintln!("load_count: the server did not start: {e}");
        std::process::exit(1);
    }
    let mut now = Instant::from_millis(1);
    while !client.app().finished() {
        client_turn(&mut client, now);
        for _ in 0..empty_turns {
            client_turn(&mut client, now);
        }
        server_turn(&mut server, now);
        now += Duration::from_micros(10);
    }
    let s = client.app().service().stats();
    println!("completed {} bytes {} errors {}", s.completed, s.bytes, s.errors.total());
    let (c, v) = (client.counters(), server.counters());
    println!(
        "client rx {} tx {} iterations {}; server rx {} tx {} iterations {}",
        c.rx_frames, c.tx_frames, c.iterations, v.rx_frames, v.tx_frames, v.iterations
    );
}

/// One iteration of the load generator's worker (a name for `--toggle-collect`).
#[inline(never)]
fn client_turn<D: Device, A: App>(w: &mut Worker<D, A>, now: Instant) {
    w.run_once(now);
}

/// One iteration of the server's worker (a name for `--toggle-collect`).
#[inline(never)]
fn server_turn<D: Device, A: App>(w: &mut Worker<D, A>, now: Instant) {
    w.run_once(now);
}

fn usage() -> ! {
    eprintln!(
        "usage: load_count rr|crr|bulk MILLISECONDS [CONNECTIONS [echo|rr [EMPTY_TURNS [BATCH]]]]"
    );
    std::process::exit(2);
}
