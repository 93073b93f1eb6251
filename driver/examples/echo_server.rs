//! A TCP echo + UDP echo + ICMP echo + ARP server over AF_XDP, for trying the driver by hand.
//!
//! ```text
//! scripts/lab.sh up demo
//! cargo run -p xdptcp-driver --example echo_server -- demo-a demo-a0 198.18.X.2 [SECONDS]
//! ip netns exec demo-k ping 198.18.X.2
//! echo hello | ip netns exec demo-k nc -q1 198.18.X.2 7
//! ```
//! Arguments: network namespace to enter (`-` for none), interface, the stack's address, how
//! long to run (default 30 s; Ctrl-C stops earlier). TCP echo on port 7, UDP echo on port
//! 7777. Prints counters at the end; the XDP program is detached on every exit path.
//!
//! The application is a [`Service`]: per connection, bytes in and bytes out.

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use xdptcp_driver::worker::IdlePolicy;
use xdptcp_driver::{signal, Builder, Service};
use xdptcp_stack::stack::TcpHandle;

/// Echo (RFC 862) on TCP port 7 and UDP port 7777, written against the service API.
struct Echo {
    udp: Option<xdptcp_stack::iface::UdpHandle>,
    /// A datagram is copied out of the socket's ring before the stack sends it back.
    datagram: Vec<u8>,
}

impl Service for Echo {
    /// Nothing per connection.
    type Conn = ();

    fn start(&mut self, cx: &mut xdptcp_driver::Cx<'_>) -> Result<(), String> {
        let stack = cx.stack();
        stack.tcp_listen(Ipv4Addr::UNSPECIFIED, 7, 1024).map_err(|e| format!("port 7: {e:?}"))?;
        self.udp = Some(stack.udp_bind(7777).map_err(|e| format!("port 7777: {e:?}"))?);
        Ok(())
    }

    fn open(&mut self, _cx: &mut xdptcp_driver::Cx<'_>, _h: TcpHandle) -> Option<()> {
        Some(())
    }

    fn on_data(
        &mut self,
        _now: xdptcp_stack::time::Instant,
        _conn: &mut (),
        input: &[u8],
        out: &mut Vec<u8>,
    ) -> usize {
        let take = input.len().min(xdptcp_driver::service::OUT_LIMIT.saturating_sub(out.len()));
        out.extend_from_slice(&input[..take]);
        take
    }

    fn on_udp(&mut self, cx: &mut xdptcp_driver::Cx<'_>, socket: xdptcp_stack::iface::UdpHandle) {
        let now = cx.now();
        let stack = cx.stack();
        while let Some((peer, payload)) = stack.udp_recv_from(socket) {
            let n = payload.len().min(self.datagram.len());
            self.datagram[..n].copy_from_slice(&payload[..n]);
            stack.udp_consume(socket);
            let _ = stack.udp_send_to(now, socket, peer, &self.datagram[..n]);
        }
    }
}

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
    let mut builder = Builder::new(ifname, addr);
    if ns != "-" {
        builder = builder.netns(ns);
    }
    let mut worker = builder.serve(Echo { udp: None, datagram: vec![0; 65536] })?;
    println!("serving {addr} on {ifname}: xdp {:?}", worker.device().program().mode());
    let until = Instant::now() + Duration::from_secs(secs);
    let idle = IdlePolicy::SpinThenWait { spin: Duration::from_micros(50) };
    worker.run_idle(idle, |_| Instant::now() >= until);
    println!("worker: {:?}", worker.counters());
    println!("connections: {:?}", worker.app().counters());
    println!("device: {:?}", worker.device().stats());
    for (name, value) in worker.stack().iface().counters().iter().filter(|(_, v)| *v != 0) {
        println!("  {name} {value}");
    }
    Ok(())
}
