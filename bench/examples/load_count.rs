//! The xdptcp load generator (`xdp::load`) against an echo server, both on loopback in virtual
//! time, for counting instructions with cachegrind where timing is too noisy: the count per
//! completed request is what a change to the load generator adds or removes.
//!
//! `cargo run --release -p xdptcp-bench --example load_count -- rr 2000`
//! (`rr`, `crr` or `bulk`; virtual milliseconds). Subtract a run of 0 ms to get the run alone.

use std::net::{Ipv4Addr, SocketAddrV4};
use xdptcp_bench::loadgen::LoadConfig;
use xdptcp_bench::loadgen::Workload;
use xdptcp_bench::xdp::load::StackLoad;
use xdptcp_driver::services::Echo;
use xdptcp_driver::setup::test_stack;
use xdptcp_driver::{App as _, Host, LoopbackPair, Worker};
use xdptcp_stack::time::{Duration, Instant};

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

fn main() {
    let mut args = std::env::args().skip(1);
    let workload = match args.next().as_deref() {
        Some("rr") => Workload::Rr,
        Some("crr") => Workload::Crr,
        Some("bulk") => Workload::Bulk,
        _ => usage(),
    };
    let Some(ms) = args.next().and_then(|s| s.parse::<u64>().ok()) else { usage() };
    let cfg = LoadConfig {
        workload,
        target: SocketAddrV4::new(SERVER, 7001).into(),
        conns: 4,
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
    let (a, b) = LoopbackPair::default().build();
    let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], CLIENT, 24);
    let mut client = Worker::new(a, stack, Host::new(load));
    let stack = test_stack(&b, [2, 0, 0, 0, 0, 1], SERVER, 24);
    let mut server = Worker::new(b, stack, Host::new(Echo::new(7001).with_backlog(64)));
    if let Err(e) = server.start() {
        eprintln!("load_count: the echo server did not start: {e}");
        std::process::exit(1);
    }
    let mut now = Instant::from_millis(1);
    while !client.app().finished() {
        client.run_once(now);
        server.run_once(now);
        now += Duration::from_micros(10);
    }
    let s = client.app().service().stats();
    println!("completed {} bytes {} errors {}", s.completed, s.bytes, s.errors.total());
}

fn usage() -> ! {
    eprintln!("usage: load_count rr|crr|bulk MILLISECONDS");
    std::process::exit(2);
}
