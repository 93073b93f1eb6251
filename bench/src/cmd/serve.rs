//! `xdptcp serve APP --stack linux|xdptcp --listen ADDR:PORT`: serves one app until SIGINT or
//! SIGTERM, then prints its counters.

use super::Stack;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use xdptcp_bench::apps::{http, AppSpec};
use xdptcp_bench::linux;

/// Which application to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppName {
    /// Send every byte back.
    Echo,
    /// Read and drop everything (server side of `load bulk`).
    Discard,
    /// HTTP/1.1: GET/HEAD of any path answers 200 with --body-bytes bytes.
    Http,
    /// sockperf 3.x TCP server (ping-pong and throughput modes).
    Sockperf,
    /// Length-prefixed request/response (server side of `load rr|crr`).
    Rr,
}

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
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: String,
    /// Size of the HTTP response body.
    #[arg(long, default_value_t = 128)]
    pub body_bytes: usize,
    /// Event-loop threads, each with its own SO_REUSEPORT listener.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

/// Runs `xdptcp serve`.
pub fn run(args: &Args) -> Result<(), String> {
    if args.stack == Stack::Xdptcp {
        return Err(super::XDPTCP_NOT_BUILT.into());
    }
    if args.threads == 0 || args.threads > 1024 {
        return Err("--threads must be between 1 and 1024".into());
    }
    let app = match args.app {
        AppName::Echo => AppSpec::Echo,
        AppName::Discard => AppSpec::Discard,
        AppName::Http => AppSpec::Http(Arc::new(http::Config::new(args.body_bytes))),
        AppName::Sockperf => AppSpec::Sockperf,
        AppName::Rr => AppSpec::Rr,
    };
    let addr = linux::resolve(&args.listen)?;
    let listeners = linux::server::bind(addr, args.threads)?;
    let local = listeners.first().and_then(|l| l.local_addr().ok()).unwrap_or(addr);
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
    let c = linux::server::run(listeners, app, stop)?;
    println!(
        "stopped: accepted {}, closed {}, errors {}, bytes in {}, bytes out {}, messages {}",
        c.accepted, c.closed, c.errors, c.bytes_in, c.bytes_out, c.messages
    );
    Ok(())
}
