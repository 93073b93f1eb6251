//! `xdptcp serve APP --stack linux|xdptcp --listen ADDR:PORT`: serves one app until SIGINT or
//! SIGTERM, then prints its counters.

use super::Stack;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use xdptcp_bench::apps::{http, AppSpec};
use xdptcp_bench::linux;
use xdptcp_bench::xdp;
use xdptcp_bench::xdp::server::{serve_counters, AppService, StackServer};
use xdptcp_driver::Host;
use xdptcp_stack::tcp::listen::CookieMode;

/// Which application to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppName {
    /// Send every byte back.
    Echo,
    /// Read and drop everything (server side of `load bulk`).
    Discard,
    /// HTTP/1.1: GET/HEAD of any path answers 200 with --body-bytes bytes.
    Http,
    /// sockperf 3.x server over TCP and UDP on the same port (ping-pong and throughput modes).
    Sockperf,
    /// Length-prefixed request/response (server side of `load rr|crr`).
    Rr,
    /// L4 TCP proxy: each connection is forwarded to the next --backend (round-robin).
    Proxy,
    /// rudp (reliable messages over UDP, `xdptcp_stack::rudp`): every message back on its
    /// connection (server side of `load rudp`).
    RudpEcho,
    /// KCP (the `kcp` crate) over a kernel UDP socket: every message back (server side of
    /// `load kcp`; `--stack linux` only).
    KcpEcho,
}

/// An on/off option.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Switch {
    On,
    Off,
}

/// `--body-bytes` when not given.
const DEFAULT_BODY_BYTES: usize = 128;
/// `--listen` when not given (the Linux stack).
const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// `--port` when not given (our stack).
const DEFAULT_PORT: u16 = 7;
/// `--backlog` when not given (our stack).
const DEFAULT_BACKLOG: usize = 4096;

/// Arguments of `xdptcp serve`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The application.
    #[arg(value_enum)]
    pub app: AppName,
    /// The TCP stack to serve on.
    #[arg(long, value_enum, default_value_t = Stack::Linux)]
    pub stack: Stack,
    /// Address to listen on (port 0 picks a free port; the line printed when ready names it).
    #[arg(long, default_value = DEFAULT_LISTEN)]
    pub listen: String,
    /// Size of the HTTP response body.
    #[arg(long, default_value_t = DEFAULT_BODY_BYTES)]
    pub body_bytes: usize,
    /// Event-loop threads, each with its own SO_REUSEPORT listener.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Options of `--stack xdptcp`.
    #[command(flatten)]
    pub xdp: super::xdp_args::XdpArgs,
    /// Port to listen on (`--stack xdptcp`; the Linux stack takes it from --listen).
    #[arg(long, default_value_t = DEFAULT_PORT)]
    pub port: u16,
    /// Listen backlog (SYN and accept queues; SYN cookies beyond it) for `--stack xdptcp`.
    #[arg(long, default_value_t = DEFAULT_BACKLOG)]
    pub backlog: usize,
    /// SYN cookies once the SYN queue is full (RFC 4987 §3.6), `--stack xdptcp` only (for
    /// Linux it is the net.ipv4.tcp_syncookies sysctl): `off` drops a SYN that finds the
    /// queue full, so a flood costs no memory beyond the queue.
    #[arg(long, value_enum, default_value_t = Switch::On)]
    pub syn_cookies: Switch,
    /// Backend of `serve proxy`, ADDR:PORT; repeat for several (round-robin).
    #[arg(long)]
    pub backend: Vec<String>,
}

/// `--stack linux` takes neither the AF_XDP options nor `--port`/`--backlog` (its address
/// and port come from `--listen`): any of them given is an error, never silently ignored.
pub fn check_linux_flags(args: &Args) -> Result<(), String> {
    if let Some(flag) = args.xdp.first_xdp_only_flag() {
        return Err(super::xdp_args::XdpArgs::linux_ignores(flag));
    }
    if args.port != DEFAULT_PORT {
        return Err(
            "--port applies to --stack xdptcp only; with --stack linux give --listen ADDR:PORT"
                .into(),
        );
    }
    if args.backlog != DEFAULT_BACKLOG {
        return Err(super::xdp_args::XdpArgs::linux_ignores("--backlog"));
    }
    if args.syn_cookies != Switch::On {
        return Err(super::xdp_args::XdpArgs::linux_ignores("--syn-cookies"));
    }
    Ok(())
}

/// `--stack xdptcp` takes its address from `--ip` and `--port`, one event loop per queue:
/// `--listen` or `--threads` given with it would be ignored, so they are errors.
pub fn check_xdptcp_flags(args: &Args) -> Result<(), String> {
    if args.listen != DEFAULT_LISTEN {
        return Err("--listen applies to --stack linux only; with --stack xdptcp give --ip ADDR/PREFIX and --port".into());
    }
    if args.threads != 1 {
        return Err(
            "--threads applies to --stack linux only; with --stack xdptcp give --queues".into()
        );
    }
    Ok(())
}

/// Options that only some applications read: given to another one they would be ignored,
/// so they are errors (`--body-bytes` is http's, `--backend` the proxy's, and the TCP listen
/// options `--backlog`/`--syn-cookies` mean nothing to the UDP echoes).
pub fn check_app_flags(args: &Args) -> Result<(), String> {
    let app = clap::ValueEnum::to_possible_value(&args.app)
        .map(|v| v.get_name().to_owned())
        .unwrap_or_default();
    if args.body_bytes != DEFAULT_BODY_BYTES && args.app != AppName::Http {
        return Err(format!("--body-bytes applies to serve http only, not serve {app}"));
    }
    if !args.backend.is_empty() && args.app != AppName::Proxy {
        return Err(format!("--backend applies to serve proxy only, not serve {app}"));
    }
    if matches!(args.app, AppName::RudpEcho | AppName::KcpEcho) {
        if args.backlog != DEFAULT_BACKLOG {
            return Err(format!("--backlog applies to TCP applications, not serve {app}"));
        }
        if args.syn_cookies != Switch::On {
            return Err(format!("--syn-cookies applies to TCP applications, not serve {app}"));
        }
    }
    Ok(())
}

/// Runs `xdptcp serve`.
pub fn run(args: &Args) -> Result<(), String> {
    check_app_flags(args)?;
    let app = match args.app {
        AppName::Echo => AppSpec::Echo,
        AppName::Discard => AppSpec::Discard,
        AppName::Http => AppSpec::Http(Arc::new(http::Config::new(args.body_bytes))),
        AppName::Sockperf => AppSpec::Sockperf,
        AppName::Rr => AppSpec::Rr,
        AppName::Proxy => return super::proxy::run(args),
        AppName::RudpEcho => return super::serve_rudp::run(args),
        AppName::KcpEcho => return super::serve_rudp::run_kcp(args),
    };
    if args.stack == Stack::Xdptcp {
        check_xdptcp_flags(args)?;
        return run_xdptcp(args, app);
    }
    check_linux_flags(args)?;
    if args.threads == 0 || args.threads > 1024 {
        return Err("--threads must be between 1 and 1024".into());
    }
    let addr = linux::resolve(&args.listen)?;
    let listeners = linux::server::bind(addr, args.threads)?;
    let local = listeners.first().and_then(|l| l.local_addr().ok()).unwrap_or(addr);
    // sockperf speaks UDP by default: serve it on the TCP listener's port too.
    let udp = match app {
        AppSpec::Sockperf => Some(linux::server::bind_udp(local)?),
        _ => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    println!(
        "listening on {local} (stack linux, app {}, {} thread{})",
        app.name(),
        args.threads,
        if args.threads == 1 { "" } else { "s" }
    );
    let udp_on = udp.is_some();
    let c = linux::server::run(listeners, udp, app, stop)?;
    let udp_line = if udp_on {
        format!(
            ", udp replied {}, udp malformed {}, udp send failed {}",
            c.udp_replied, c.udp_malformed, c.udp_send_failed
        )
    } else {
        String::new()
    };
    println!(
        "stopped: accepted {}, closed {}, errors {}, bytes in {}, bytes out {}, messages {}{udp_line}",
        c.accepted, c.closed, c.errors, c.bytes_in, c.bytes_out, c.messages
    );
    Ok(())
}

/// The runner's options of `serve --stack xdptcp` (one queue): the shared AF_XDP options
/// plus the listener's cookie policy.
pub fn xdp_options(args: &Args) -> Result<xdp::XdpOptions, String> {
    let mut opts = args.xdp.options()?;
    if args.syn_cookies == Switch::Off {
        opts.syn_cookies = CookieMode::Never;
    }
    Ok(opts)
}

/// `serve --stack xdptcp`: the same app on our stack, one worker on one AF_XDP queue.
fn run_xdptcp(args: &Args, app: AppSpec) -> Result<(), String> {
    if args.port == 0 {
        return Err("--port must be between 1 and 65535".into());
    }
    if args.backlog == 0 {
        return Err("--backlog must be at least 1".into());
    }
    if args.xdp.queues > 1 {
        if args.syn_cookies != Switch::On {
            return Err("--syn-cookies off runs on one queue (--queues 1)".into());
        }
        let rt = args.xdp.runtime_args(Some(app), args.port, args.body_bytes, args.backlog)?;
        return super::serve_xdp::run(&rt);
    }
    let opts = xdp_options(args)?;
    let name = app.name();
    let server =
        // `::`: IPv4 and IPv6 alike (the IPv6 addresses of `--ip`, if any).
        Host::new(AppService::new(app, std::net::Ipv6Addr::UNSPECIFIED, args.port, args.backlog));
    struct H {
        port: u16,
        name: &'static str,
    }
    impl xdp::Hooks<StackServer> for H {
        fn ready(&mut self, r: &xdp::Ready) {
            println!("listening on {}:{} {} app {}", r.addr, self.port, r.describe(), self.name);
        }
        fn summary(&self, s: &StackServer) -> String {
            let c = serve_counters(s);
            let udp = if self.name == "sockperf" {
                let u = s.service().udp_counters();
                format!(
                    "; udp replied {}, malformed {}, send failed {}",
                    u.replied,
                    u.malformed,
                    s.service().udp_send_failed()
                )
            } else {
                String::new()
            };
            format!(
                "accepted {}, closed {}, errors {}, open {}, bytes in {}, bytes out {}, messages {}{udp}",
                c.accepted,
                c.closed,
                c.errors,
                s.open_connections(),
                c.bytes_in,
                c.bytes_out,
                c.messages
            )
        }
    }
    xdp::run(&opts, server, &mut H { port: args.port, name })?;
    Ok(())
}
