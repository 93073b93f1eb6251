//! `xdptcp load rr|crr|bulk --stack linux|xdptcp --target ADDR:PORT`: generates load for a
//! fixed duration, prints a progress line each second on stderr and a summary on stdout, and
//! optionally writes the report as JSON.

use super::Stack;
use std::path::PathBuf;
use std::time::Duration;
use xdptcp_bench::linux;
use xdptcp_bench::loadgen::stats::RunInfo;
use xdptcp_bench::loadgen::{LoadConfig, Workload};

/// Arguments of `xdptcp load`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The workload.
    #[arg(value_enum)]
    pub workload: Workload,
    /// The TCP stack the client runs on.
    #[arg(long, value_enum, default_value_t = Stack::Linux)]
    pub stack: Stack,
    /// The server, e.g. 127.0.0.1:8080.
    #[arg(long)]
    pub target: String,
    /// Concurrent connections (crr: concurrent connect/request/close loops).
    #[arg(long, default_value_t = 1)]
    pub conns: usize,
    /// How long to run, in seconds (fractions allowed).
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Request and response body size in bytes (rr, crr).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Total requests per second, open loop (rr only); default closed loop.
    #[arg(long)]
    pub rate: Option<f64>,
    /// A connect or request slower than this (milliseconds) is a timeout.
    #[arg(long, default_value_t = 2000)]
    pub timeout_ms: u64,
    /// Event-loop threads; connections and rate are split evenly between them.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// What to call the server in the report (e.g. "linux" or "xdptcp"); default: the target
    /// address.
    #[arg(long)]
    pub server_label: Option<String>,
    /// Write the report as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Options of `--stack xdptcp` (the client's interface and address).
    #[command(flatten)]
    pub xdp: super::xdp_args::XdpArgs,
}

/// Runs `xdptcp load`.
pub fn run(args: &Args) -> Result<(), String> {
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 86_400.0) {
        return Err("--duration must be between 0 and 86400 seconds".into());
    }
    if args.conns == 0 || args.conns > 100_000 {
        return Err("--conns must be between 1 and 100000".into());
    }
    if matches!(args.workload, Workload::Rudp | Workload::Kcp) {
        return run_rudp(args);
    }
    if args.stack == Stack::Xdptcp {
        return run_xdptcp(args);
    }
    if let Some(flag) = args.xdp.first_xdp_only_flag() {
        return Err(super::xdp_args::XdpArgs::linux_ignores(flag));
    }
    if args.threads == 0 || args.threads > 1024 {
        return Err("--threads must be between 1 and 1024".into());
    }
    let target = linux::resolve(&args.target)?;
    let cfg = load_config(args, target);
    let (stats, elapsed) = linux::load::run(&cfg, args.threads, &mut |line| eprintln!("{line}"))?;
    let report = stats.report(
        RunInfo {
            workload: args.workload,
            server: args.server_label.clone().unwrap_or_else(|| target.to_string()),
            target: target.to_string(),
            client: "linux".into(),
            conns: args.conns,
            size: args.size,
            rate: args.rate,
        },
        elapsed,
    );
    finish(args, &report)
}

/// `load rudp` and `load kcp`: message request/response over one kernel UDP socket
/// (`linux::rudp::run_load`, `linux::kcp::run_load`).
fn run_rudp(args: &Args) -> Result<(), String> {
    let w = args.workload;
    if args.stack != Stack::Linux {
        return Err(format!(
            "load {w} runs on kernel sockets (--stack linux); serve rudp-echo runs on either stack"
        ));
    }
    if let Some(flag) = args.xdp.first_xdp_only_flag() {
        return Err(super::xdp_args::XdpArgs::linux_ignores(flag));
    }
    if args.rate.is_some() {
        return Err(format!(
            "--rate: load {w} runs closed loop (one message outstanding per connection)"
        ));
    }
    if args.threads != 1 {
        return Err(format!("--threads: load {w} runs one thread"));
    }
    let target = linux::resolve(&args.target)?;
    let keys = xdptcp_driver::setup::os_random_keys()
        .map_err(|e| format!("cannot draw a random key: {e}"))?;
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_millis(args.timeout_ms.max(1));
    let progress = &mut |line: String| eprintln!("{line}");
    let (stats, elapsed) = if w == Workload::Kcp {
        let cfg = linux::kcp::KcpLoadConfig {
            target,
            conns: args.conns,
            duration,
            size: args.size,
            timeout,
            first_conv: u32::from_le_bytes([keys.isn[0], keys.isn[1], keys.isn[2], keys.isn[3]]),
        };
        linux::kcp::run_load(&cfg, progress)?
    } else {
        let cfg = linux::rudp::RudpLoadConfig {
            target,
            conns: args.conns,
            duration,
            size: args.size,
            timeout,
            ordered: true,
            config: xdptcp_stack::rudp::Config::default(),
            key: keys.syncookie,
        };
        linux::rudp::run_load(&cfg, progress)?
    };
    let report = stats.report(
        RunInfo {
            workload: args.workload,
            server: args.server_label.clone().unwrap_or_else(|| target.to_string()),
            target: target.to_string(),
            client: "linux".into(),
            conns: args.conns,
            size: args.size,
            rate: None,
        },
        elapsed,
    );
    finish(args, &report)
}

/// Prints the summary and writes the JSON report.
fn finish(args: &Args, report: &xdptcp_bench::loadgen::Report) -> Result<(), String> {
    println!("{}", report.summary());
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {}", path.display(), linux::describe(&e)))?;
    }
    Ok(())
}

/// `load --stack xdptcp`: the same workloads on one worker of our stack.
fn run_xdptcp(args: &Args) -> Result<(), String> {
    use xdptcp_bench::xdp::{self, load::StackLoad};
    if args.threads != 1 {
        return Err("--threads: load --stack xdptcp runs one worker".into());
    }
    let target = args.xdp.target("--target", &args.target)?;
    if args.xdp.queues > 1 {
        return run_xdptcp_queues(args, target);
    }
    let opts = args.xdp.options()?;
    let cfg = load_config(args, target);
    let load = xdptcp_driver::Host::new(StackLoad::new(cfg, |line| eprintln!("{line}"))?);
    struct H(std::net::SocketAddr);
    impl xdp::Hooks<xdptcp_driver::Host<StackLoad>> for H {
        fn ready(&mut self, r: &xdp::Ready) {
            println!("load from {} to {} {}", r.addr, self.0, r.describe());
        }
        fn summary(&self, l: &xdptcp_driver::Host<StackLoad>) -> String {
            let s = l.service().stats();
            format!("completed {}, bytes {}, errors {}", s.completed, s.bytes, s.errors.total())
        }
    }
    let (host, _) = xdp::run(&opts, load, &mut H(target))?;
    let load = host.into_service();
    if let Some(why) = load.failed() {
        return Err(why.to_string());
    }
    finish(args, &load.stats().report(xdptcp_run_info(args, target), load.elapsed()))
}

/// `load --stack xdptcp --queues N`: one load generator per worker, each with its share of
/// the connections (and of `--rate`); every worker's connections come back to its own queue
/// (`on_queues`). The shares' statistics are merged (counts add, histograms add) into one
/// report, over the longest worker's measured time.
fn run_xdptcp_queues(args: &Args, target: std::net::SocketAddr) -> Result<(), String> {
    use super::on_queues::{self, Until};
    use std::sync::{Arc, Mutex};
    use xdptcp_bench::loadgen::{MergedProgress, Stats};
    use xdptcp_bench::xdp::load::StackLoad;
    use xdptcp_driver::Host;
    let n = args.xdp.queues as usize;
    if args.conns < n {
        return Err(format!(
            "--conns {}: each of the {n} queues needs a connection of its own; give --conns {n} \
             or more",
            args.conns
        ));
    }
    let rt = args.xdp.runtime_args(None, 0, 0, 1)?;
    let cfg = load_config(args, target);
    // Checked once here, so a bad setting is one line before any worker starts.
    StackLoad::new(cfg.clone(), |_| {})?;
    // One progress line a second for the whole run; each worker's share is in the report.
    let merged = Arc::new(Mutex::new(MergedProgress::new(n, args.workload)));
    let make = move |k: usize| {
        let load = StackLoad::new(cfg.share(n, k), |l| eprintln!("{l}"))?;
        Ok(Host::new(load.share(merged.clone())))
    };
    let take = |h: &Host<StackLoad>| {
        let l = h.service();
        (l.stats().clone(), l.elapsed(), l.failed().map(str::to_string))
    };
    let ip = args.xdp.ip.as_deref().unwrap_or_default();
    let what = format!("load from {} to {target}", ip.split(['/', ',']).next().unwrap_or(ip));
    let done = on_queues::run(&rt, &what, make, take, Until::AllFinished)?;
    let mut stats = Stats::new();
    let mut elapsed = Duration::ZERO;
    if let Some(why) = done.iter().find_map(|(_, _, f)| f.clone()) {
        return Err(why);
    }
    for (k, (s, e, _)) in done.iter().enumerate() {
        println!(
            "q{k} load: completed {}, bytes {}, errors {}",
            s.completed,
            s.bytes,
            s.errors.total()
        );
        stats.merge(s);
        elapsed = elapsed.max(*e);
    }
    finish(args, &stats.report(xdptcp_run_info(args, target), elapsed))
}

/// What the report says of a run on our stack.
fn xdptcp_run_info(args: &Args, target: std::net::SocketAddr) -> RunInfo {
    RunInfo {
        workload: args.workload,
        server: args.server_label.clone().unwrap_or_else(|| target.to_string()),
        target: target.to_string(),
        client: "xdptcp".into(),
        conns: args.conns,
        size: args.size,
        rate: args.rate,
    }
}

/// The load generator's settings, the same for both stacks (`--threads` aside, Linux's only).
fn load_config(args: &Args, target: std::net::SocketAddr) -> LoadConfig {
    LoadConfig {
        workload: args.workload,
        target,
        conns: args.conns,
        duration: Duration::from_secs_f64(args.duration),
        size: args.size,
        rate: args.rate,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
    }
}
