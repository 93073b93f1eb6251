//! An L4 TCP proxy over AF_XDP: clients connect to the stack's address, and each gets a
//! backend connection from the same stack; bytes go each way with one copy (receive buffer to
//! the other connection's send buffer, `Stack::tcp_splice`).
//!
//! ```text
//! scripts/lab.sh up demo
//! ip netns exec demo-k sh -c 'while nc -l -p 7000 -e cat; do :; done' &   # an echo backend
//! cargo run -p xdptcp-driver --example proxy -- demo-a demo-a0 198.18.X.2 80 198.18.X.1:7000
//! echo hello | ip netns exec demo-k nc -q1 198.18.X.2 80
//! ```
//! Arguments: network namespace to enter (`-` for none), interface, the stack's address, the
//! port to listen on, and one or more backends (`ADDR:PORT`, used round-robin). Runs until
//! Ctrl-C, then closes every connection gracefully and prints what it did.
//!
//! The proxy itself is `xdptcp_driver::services::Proxy`, a [`Service`](xdptcp_driver::Service)
//! of about 130 lines of code: per connection it keeps only the other side's handle (typed
//! user data, no table of its own), and forwards in `on_readable` / `on_writable`.

use std::net::{Ipv4Addr, SocketAddrV4};
use std::time::Duration;

use xdptcp_driver::services::Proxy;
use xdptcp_driver::worker::IdlePolicy;
use xdptcp_driver::{signal, Builder};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 5 {
        eprintln!("usage: proxy NETNS|- IFACE ADDR PORT BACKEND:PORT...");
        std::process::exit(2);
    }
    if let Err(e) = run(&args) {
        eprintln!("proxy: {e}");
        std::process::exit(1);
    }
}

fn run(args: &[String]) -> Result<(), String> {
    let addr: Ipv4Addr = args[2].parse().map_err(|e| format!("bad address {}: {e}", args[2]))?;
    let port: u16 = args[3].parse().map_err(|e| format!("bad port {}: {e}", args[3]))?;
    let backends = args[4..]
        .iter()
        .map(|b| {
            b.parse::<SocketAddrV4>().map(Into::into).map_err(|e| format!("bad backend {b}: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    signal::install().map_err(|e| e.to_string())?;
    let mut builder = Builder::new(&args[1], addr);
    if args[0] != "-" {
        builder = builder.netns(&args[0]);
    }
    let mut worker = builder.serve(Proxy::new(port, 1024, backends))?;
    println!("proxying {addr}:{port} to {}", args[4..].join(", "));
    worker.run_idle(IdlePolicy::SpinThenWait { spin: Duration::from_micros(50) }, |_| false);
    worker.drain(Duration::from_secs(2));
    println!("{:?}", worker.app().service().counters());
    Ok(())
}
