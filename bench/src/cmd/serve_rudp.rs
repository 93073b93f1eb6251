//! `xdptcp serve rudp-echo --stack xdptcp|linux`: an rudp echo (`xdp::rudp::RudpEcho`) on
//! one UDP port of our stack on AF_XDP (one queue, or one echo per worker with --queues N),
//! or on a kernel UDP socket (`linux::rudp::RudpSocket`, at --listen), until SIGINT/SIGTERM;
//! then its counters.
//!
//! On N queues every worker runs an endpoint of its own and answers what arrives on its
//! queue: UDP is not steered between workers (`xdptcp_driver::steering`), so an rudp
//! connection lives on the worker of the queue its flow's RSS hash picks, and stays there as
//! long as its 4-tuple does (a NIC hashes a flow alike every time, over addresses only or the
//! 4-tuple as `ethtool -N IF rx-flow-hash udp4` says). Each worker draws its own key, so a
//! datagram of a connection that arrived on another worker fails authentication there and
//! shows as `unauthenticated` in that worker's line instead of being answered by a stranger.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::serve::{check_linux_flags, check_xdptcp_flags, Args};
use super::Stack;
use xdptcp_bench::linux;
use xdptcp_bench::linux::rudp::RudpSocket;
use xdptcp_bench::xdp;
use xdptcp_bench::xdp::rudp::{RudpEcho, RudpEchoCounters, RudpEchoServer};
use xdptcp_driver::Host;
use xdptcp_stack::rudp::{Config, Event};

/// 16 secret random bytes for the endpoint's key.
fn key() -> Result<[u8; 16], String> {
    xdptcp_driver::setup::os_random_keys()
        .map(|k| k.syncookie)
        .map_err(|e| format!("cannot draw a random key: {e}"))
}

/// Runs `serve rudp-echo`.
pub fn run(args: &Args) -> Result<(), String> {
    if args.stack == Stack::Xdptcp {
        check_xdptcp_flags(args)?;
        if args.port == 0 {
            return Err("--port must be between 1 and 65535".into());
        }
        if args.xdp.queues > 1 {
            return run_xdptcp_queues(args);
        }
        return run_xdptcp(args);
    }
    check_linux_flags(args)?;
    if args.threads != 1 {
        return Err("--threads: serve rudp-echo --stack linux runs one thread".into());
    }
    let addr = linux::resolve(&args.listen)?;
    let mut socket = RudpSocket::bind(addr, Config::default(), key()?)
        .map_err(|e| format!("cannot bind {addr}/udp: {}", linux::describe(&e)))?;
    let local = socket.local_addr().map_err(|e| linux::describe(&e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    println!("listening on {local}/udp (stack linux, app rudp-echo)");
    let (mut accepted, mut closed, mut messages, mut refused) = (0u64, 0u64, 0u64, 0u64);
    while !stop.load(Ordering::Relaxed) {
        socket
            .drive(std::time::Duration::from_millis(50))
            .map_err(|e| format!("rudp socket: {}", linux::describe(&e)))?;
        let now = socket.now();
        while let Some(ev) = socket.endpoint().poll_event() {
            match ev {
                Event::Message(c, m) => match socket.endpoint().send(now, c, &m.data, m.ordered) {
                    Ok(_) => messages += 1,
                    Err(_) => refused += 1,
                },
                Event::Accepted(_) => accepted += 1,
                Event::Closed(..) => closed += 1,
                Event::Connected(_) => {}
            }
        }
    }
    let e = *socket.endpoint().stats();
    println!(
        "stopped: accepted {accepted}, closed {closed}, messages {messages}, refused {refused}, unauthenticated {}, malformed {}",
        e.unauthenticated, e.malformed
    );
    Ok(())
}

/// Runs `serve kcp-echo` (kernel UDP only: KCP is the comparison point, not ours).
pub fn run_kcp(args: &Args) -> Result<(), String> {
    if args.stack != Stack::Linux {
        return Err("serve kcp-echo runs on a kernel UDP socket (--stack linux)".into());
    }
    check_linux_flags(args)?;
    if args.threads != 1 {
        return Err("--threads: serve kcp-echo runs one thread".into());
    }
    let addr = linux::resolve(&args.listen)?;
    let socket = std::net::UdpSocket::bind(addr)
        .map_err(|e| format!("cannot bind {addr}/udp: {}", linux::describe(&e)))?;
    let local = socket.local_addr().map_err(|e| linux::describe(&e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    println!("listening on {local}/udp (stack linux, app kcp-echo)");
    let (convs, messages) = linux::kcp::serve_echo(socket, &stop)?;
    println!("stopped: conversations {convs}, messages {messages}");
    Ok(())
}

/// `--stack xdptcp`: one worker on one AF_XDP queue.
fn run_xdptcp(args: &Args) -> Result<(), String> {
    let opts = super::serve::xdp_options(args)?;
    let server = Host::new(RudpEcho::new(args.port, Config::default(), key()?));
    struct H(u16);
    impl xdp::Hooks<RudpEchoServer> for H {
        fn ready(&mut self, r: &xdp::Ready) {
            println!("listening on {}:{}/udp {} app rudp-echo", r.addr, self.0, r.describe());
        }
        fn summary(&self, s: &RudpEchoServer) -> String {
            let c = s.service().counters();
            let e = s.service().endpoint().stats();
            format!(
                "accepted {}, closed {}, idle timeouts {}, messages {}, bytes {}, refused {}, send failed {}, unauthenticated {}, malformed {}",
                c.accepted, c.closed, c.timed_out, c.messages, c.bytes, c.refused, c.send_failed,
                e.unauthenticated, e.malformed
            )
        }
    }
    xdp::run(&opts, server, &mut H(args.port))?;
    Ok(())
}

/// `--stack xdptcp --queues N`: one echo per worker (`on_queues`), each answering the
/// connections whose datagrams its queue receives. Each worker's `final` line has its own
/// `rudp-*` counters; the `stopped` line adds them up.
fn run_xdptcp_queues(args: &Args) -> Result<(), String> {
    use super::on_queues::{self, Until};
    let rt = args.xdp.runtime_args(None, args.port, args.body_bytes, args.backlog)?;
    let port = args.port;
    let make = move |_| Ok(Host::new(RudpEcho::new(port, Config::default(), key()?)));
    let take = |s: &RudpEchoServer| {
        let e = s.service().endpoint().stats();
        (s.service().counters(), e.unauthenticated, e.malformed)
    };
    let ip = args.xdp.ip.as_deref().unwrap_or_default();
    let addr = ip.split(['/', ',']).next().unwrap_or(ip);
    let what = format!("listening on {addr}:{port}/udp app rudp-echo");
    let done = on_queues::run(&rt, &what, make, take, Until::Signal)?;
    let mut sum = RudpEchoCounters::default();
    let (mut unauthenticated, mut malformed) = (0, 0);
    for (c, u, m) in &done {
        sum.add(c);
        unauthenticated += u;
        malformed += m;
    }
    println!(
        "stopped (signal): accepted {}, closed {}, idle timeouts {}, messages {}, bytes {}, refused {}, send failed {}, unauthenticated {unauthenticated}, malformed {malformed}",
        sum.accepted, sum.closed, sum.timed_out, sum.messages, sum.bytes, sum.refused, sum.send_failed
    );
    Ok(())
}
