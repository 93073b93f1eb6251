//! A TCP echo + UDP echo + ICMP echo + ARP server over AF_XDP, for trying the driver by hand.
//!
//! ```text
//! scripts/lab.sh up demo
//! cargo run -p xdptcp-driver --example echo_server -- demo-a demo-a0 198.18.X.2 [SECONDS]
//! ip netns exec demo-k ping 198.18.X.2
//! echo hello | ip netns exec demo-k nc -q1 198.18.X.2 7
//! ```
//! Arguments: network namespace to enter (`-` for none), interface, the stack's address, how
//! long to run (default 30 s; Ctrl-C stops earlier). TCP echo on port 7, UDP echo on port 7777. Prints counters at
//! the end; the XDP program is detached on every exit path.

use std::net::Ipv4Addr;
use std::time::Duration;

use xdptcp_driver::engine::{self, UdpEcho, Worker};
use xdptcp_driver::xdp::{NetIf, XdpConfig, XdpDevice};
use xdptcp_driver::{netns, signal};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 3 {
        eprintln!("usage: echo_server NETNS|- IFACE ADDR [SECONDS]");
        std::process::exit(2);
    }
    let secs: u64 = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(30);
    if let Err(e) = run(&args[0], &args[1], &args[2], secs) {
        eprintln!("echo_server: {e}");
        std::process::exit(1);
    }
}

fn run(ns: &str, ifname: &str, addr: &str, secs: u64) -> Result<(), String> {
    let addr: Ipv4Addr = addr.parse().map_err(|e| format!("bad address {addr}: {e}"))?;
    signal::install().map_err(|e| e.to_string())?;
    if ns != "-" {
        netns::enter(ns).map_err(|e| format!("entering netns {ns}: {e}"))?;
    }
    let netif = NetIf::lookup(ifname).map_err(|e| e.to_string())?;
    let dev = XdpDevice::open(&XdpConfig::new(ifname, addr)).map_err(|e| e.to_string())?;
    println!(
        "serving {addr} on {ifname}: xdp {:?}, bind {:?}",
        dev.program().mode(),
        dev.bind_mode()
    );
    let keys = engine::os_random_keys().map_err(|e| format!("getrandom: {e}"))?;
    let addressing = engine::Addressing { mac: netif.mac, addr, prefix_len: 24, gateway: None };
    let config = engine::stack_config(&dev, addressing, keys);
    let stack = xdptcp_stack::stack::Stack::new(config, xdptcp_stack::time::Instant::ZERO);
    let app =
        engine::Both(engine::TcpEcho::new(Ipv4Addr::UNSPECIFIED, 7, 1024), UdpEcho::new(7777));
    let mut worker = Worker::new(dev, stack, app);
    worker.run_once(xdptcp_stack::time::Instant::ZERO);
    dev_start(&worker)?;
    let (stop, shutdown) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(secs));
        let _ = stop.send(());
    });
    worker.run(&shutdown, Duration::ZERO);
    println!("worker: {:?}", worker.counters());
    println!("device: {:?}", worker.device().stats());
    println!("program: {:?}", worker.device().program().stats());
    for (name, value) in worker.stack().iface().counters().iter().filter(|(_, v)| *v != 0) {
        println!("  {name} {value}");
    }
    Ok(())
}

fn dev_start(w: &Worker<XdpDevice, impl engine::App>) -> Result<(), String> {
    w.device().start().map_err(|e| e.to_string())
}
