//! `xdptcp serve proxy --backend ADDR:PORT [--backend ...] --stack linux|xdptcp`: an L4 TCP
//! proxy, round-robin over the backends, until SIGINT/SIGTERM.

use super::serve::Args;
use super::Stack;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use xdptcp_bench::linux;
use xdptcp_bench::xdp;
use xdptcp_driver::services::Proxy;
use xdptcp_driver::Host;

/// Runs `serve proxy`.
pub fn run(args: &Args) -> Result<(), String> {
    if args.backend.is_empty() {
        return Err("serve proxy needs at least one --backend ADDR:PORT".into());
    }
    let backends: Vec<SocketAddr> = if args.stack == Stack::Xdptcp {
        args.backend.iter().map(|b| args.xdp.target("--backend", b)).collect::<Result<_, _>>()?
    } else {
        args.backend
            .iter()
            .map(|b| b.parse().map_err(|_| format!("bad --backend '{b}': expected ADDR:PORT")))
            .collect::<Result<_, _>>()?
    };
    let list = args.backend.join(", ");
    if args.stack == Stack::Xdptcp {
        super::serve::check_xdptcp_flags(args)?;
        return run_xdptcp(args, backends, list);
    }
    super::serve::check_linux_flags(args)?;
    if args.threads == 0 || args.threads > 1024 {
        return Err("--threads must be between 1 and 1024".into());
    }
    let addr = linux::resolve(&args.listen)?;
    let listeners = linux::server::bind(addr, args.threads)?;
    let local = listeners.first().and_then(|l| l.local_addr().ok()).unwrap_or(addr);
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    println!("listening on {local} (stack linux, app proxy to {list}, {} thread(s))", args.threads);
    let c = linux::proxy::run(listeners, backends, stop)?;
    println!(
        "stopped: accepted {}, completed {}, aborted {}, backend failures {}, bytes up {}, \
         bytes down {}",
        c.accepted, c.completed, c.aborted, c.backend_failed, c.bytes_up, c.bytes_down
    );
    Ok(())
}

fn run_xdptcp(args: &Args, backends: Vec<SocketAddr>, list: String) -> Result<(), String> {
    if args.port == 0 {
        return Err("--port must be between 1 and 65535".into());
    }
    if args.xdp.queues > 1 {
        return run_xdptcp_queues(args, backends, list);
    }
    let opts = super::serve::xdp_options(args)?;
    let proxy = Host::new(Proxy::new(args.port, args.backlog.max(1), backends));
    struct H {
        port: u16,
        list: String,
    }
    impl xdp::Hooks<Host<Proxy>> for H {
        fn ready(&mut self, r: &xdp::Ready) {
            println!(
                "listening on {}:{} {} app proxy to {}",
                r.addr,
                self.port,
                r.describe(),
                self.list
            );
        }
        fn summary(&self, p: &Host<Proxy>) -> String {
            let c = p.service().counters();
            format!(
                "accepted {}, completed {}, aborted {}, backend failures {}, open {}, bytes up \
                 {}, bytes down {}",
                c.accepted,
                c.completed,
                c.aborted,
                c.backend_failed,
                p.service().open_pairs(),
                c.bytes_up,
                c.bytes_down
            )
        }
    }
    let (host, _) = xdp::run(&opts, proxy, &mut H { port: args.port, list })?;
    match host.service().error() {
        Some(why) => Err(why.to_string()),
        None => Ok(()),
    }
}

/// `serve proxy --stack xdptcp --queues N`: a proxy per worker. A client connection is
/// served by the worker of its queue, which opens the backend connection on its own stack,
/// with a local port whose replies come back to that queue (`on_queues`): both halves of a
/// pair live on one core. The workers' counters are added up in the `stopped:` line.
fn run_xdptcp_queues(args: &Args, backends: Vec<SocketAddr>, list: String) -> Result<(), String> {
    use super::on_queues::{self, Until};
    use xdptcp_driver::services::ProxyCounters;
    if args.syn_cookies != super::serve::Switch::On {
        return Err("--syn-cookies off runs on one queue (--queues 1)".into());
    }
    let rt = args.xdp.runtime_args(None, args.port, args.body_bytes, args.backlog)?;
    let (port, backlog) = (args.port, args.backlog.max(1));
    let make = move |_| Ok(Host::new(Proxy::new(port, backlog, backends.clone())));
    let take = |p: &Host<Proxy>| {
        let p = p.service();
        (p.counters(), p.open_pairs(), p.error().map(str::to_string))
    };
    let ip = args.xdp.ip.as_deref().unwrap_or_default();
    let addr = ip.split(['/', ',']).next().unwrap_or(ip);
    let what = format!("listening on {addr}:{port} app proxy to {list}");
    let done = on_queues::run(&rt, &what, make, take, Until::Signal)?;
    let mut c = ProxyCounters::default();
    let mut open = 0;
    if let Some(why) = done.iter().find_map(|d| d.2.clone()) {
        return Err(why);
    }
    for (k, (w, o, _)) in done.iter().enumerate() {
        println!(
            "q{k} proxy: accepted {}, completed {}, bytes up {}",
            w.accepted, w.completed, w.bytes_up
        );
        c.add(w);
        open += o;
    }
    println!(
        "stopped (signal): accepted {}, completed {}, aborted {}, backend failures {}, open {open}, \
         bytes up {}, bytes down {}",
        c.accepted, c.completed, c.aborted, c.backend_failed, c.bytes_up, c.bytes_down
    );
    Ok(())
}
