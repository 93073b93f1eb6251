//! The lab's `rr64x64` row in user space: the xdptcp load generator (`load rr`, 64
//! connections) against the `serve rr` server, both as `Worker`s on loopback in virtual time.
//! It counts what the two processes of the lab run per request, without the kernel's
//! copy-mode path, where timing is too noisy: run it under callgrind with
//! `--toggle-collect` on one worker's `run_once` to count that side alone.
//!
//! `cargo run --release -p xdptcp-bench --example lab_count -- 64 2000`
//! (connections; virtual milliseconds). Subtract a run of 0 ms to get the run alone.

use std::net::{Ipv4Addr, SocketAddrV4};
use xdptcp_bench::apps::AppSpec;
use xdptcp_bench::loadgen::{LoadConfig, Workload};
use xdptcp_bench::xdp::load::StackLoad;
use xdptcp_bench::xdp::server::AppService;
use xdptcp_driver::setup::test_stack;
use xdptcp_driver::{App as _, Host, LoopbackPair, Worker};
use xdptcp_stack::time::{Duration, Instant};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 4);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 7001;

fn main() {
    let mut args = std::env::args().skip(1);
    let conns = args.next().and_then(|s| s.parse::<usize>().ok()).filter(|&n| n > 0);
    let ms = args.next().and_then(|s| s.parse::<u64>().ok());
    let (Some(conns), Some(ms)) = (conns, ms) else {
        eprintln!("usage: lab_count CONNECTIONS MILLISECONDS");
        std::process::exit(2);
    };
    let cfg = LoadConfig {
        workload: Workload::Rr,
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
            eprintln!("lab_count: {e}");
            std::process::exit(2);
        }
    };
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 4], CLIENT, 24);
    let mut client = Worker::new(a, stack, Host::new(load));
    let stack = test_stack(&b, [2, 0, 0, 0, 0, 2], SERVER, 24);
    let service = AppService::new(AppSpec::Rr, Ipv4Addr::UNSPECIFIED, PORT, 1024);
    let mut server = Worker::new(b, stack, Host::new(service));
    if let Err(e) = server.start() {
        eprintln!("lab_count: the server did not start: {e}");
        std::process::exit(1);
    }
    let mut now = Instant::from_millis(1);
    while !client.app().finished() {
        client_turn(&mut client, now);
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

/// One iteration of the client's worker (a name for `--toggle-collect`).
#[inline(never)]
fn client_turn<D: xdptcp_driver::Device, A: xdptcp_driver::App>(
    w: &mut Worker<D, A>,
    now: Instant,
) {
    w.run_once(now);
}

/// One iteration of the server's worker (a name for `--toggle-collect`).
#[inline(never)]
fn server_turn<D: xdptcp_driver::Device, A: xdptcp_driver::App>(
    w: &mut Worker<D, A>,
    now: Instant,
) {
    w.run_once(now);
}
