//! `xdptcp hold --target ADDR:PORT --conns N --source A,B,...`: opens N connections over
//! Linux sockets, echoes one message on each, holds them all, then closes them all; prints
//! what happened and, last, the report as one JSON line (`report {...}`).

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use xdptcp_bench::linux::{self, hold};

/// Arguments of `xdptcp hold`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The echo server, ADDR:PORT.
    #[arg(long)]
    pub target: String,
    /// Connections to open and hold.
    #[arg(long, default_value_t = 1000)]
    pub conns: usize,
    /// Local addresses to connect from, comma-separated, used round-robin (each with the
    /// ports of --source-ports). Default: the kernel's choice of address and port.
    #[arg(long, value_delimiter = ',')]
    pub source: Vec<IpAddr>,
    /// Local ports to bind with --source, LOW-HIGH (each source address uses the range).
    #[arg(long, default_value = "10000-60999")]
    pub source_ports: String,
    /// Bytes each connection echoes.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Connects (and closes) in progress at once.
    #[arg(long, default_value_t = 256)]
    pub in_flight: usize,
    /// Seconds to hold every connection open once all have echoed; SIGINT or SIGTERM ends
    /// the hold sooner (and then the connections are closed as usual).
    #[arg(long, default_value_t = 1.0)]
    pub hold_secs: f64,
    /// Longest a connect-and-echo, or a close, may take (milliseconds).
    #[arg(long, default_value_t = 10_000)]
    pub timeout_ms: u64,
    /// Poll without sleeping while connecting and closing (epoll_wait with a zero timeout),
    /// so a handshake's end is seen as soon as it happens, without a scheduler wake-up
    /// (see `hold::HoldConfig::busy_poll`).
    #[arg(long)]
    pub busy_poll: bool,
}

/// Most connections one run holds.
const MAX_CONNS: usize = 1 << 20;
/// File descriptors beyond the sockets (stdio, epoll, slack).
const SPARE_FDS: usize = 64;

/// Runs `xdptcp hold`.
pub fn run(args: &Args) -> Result<(), String> {
    if args.conns == 0 || args.conns > MAX_CONNS {
        return Err(format!("--conns must be between 1 and {MAX_CONNS}"));
    }
    if args.size == 0 || args.size > 1 << 20 {
        return Err("--size must be between 1 and 1048576".into());
    }
    if args.in_flight == 0 {
        return Err("--in-flight must be at least 1".into());
    }
    if !(args.hold_secs.is_finite() && (0.0..=86_400.0).contains(&args.hold_secs)) {
        return Err(format!("--hold-secs {}: must be between 0 and 86400", args.hold_secs));
    }
    if args.timeout_ms == 0 {
        return Err("--timeout-ms must be at least 1".into());
    }
    let target = linux::resolve(&args.target)?;
    if let Some(bad) = args.source.iter().find(|s| s.is_ipv4() != target.is_ipv4()) {
        return Err(format!("--source {bad} is not of the target's address family"));
    }
    let ports = parse_ports(&args.source_ports)?;
    let room = args.source.len() * (usize::from(*ports.end() - *ports.start()) + 1);
    if !args.source.is_empty() && args.conns > room {
        return Err(format!(
            "{} connections do not fit {} source address(es) times {} ports",
            args.conns,
            args.source.len(),
            room / args.source.len()
        ));
    }
    let limit = open_files_limit()?;
    if limit < (args.conns + SPARE_FDS) as u64 {
        return Err(format!(
            "{} connections need {} file descriptors and the limit is {limit}: raise it \
             (ulimit -n)",
            args.conns,
            args.conns + SPARE_FDS
        ));
    }
    let cfg = hold::HoldConfig {
        target,
        sources: args.source.clone(),
        ports,
        conns: args.conns,
        size: args.size,
        in_flight: args.in_flight,
        hold: Duration::from_secs_f64(args.hold_secs),
        timeout: Duration::from_millis(args.timeout_ms),
        busy_poll: args.busy_poll,
    };
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    ctrlc::set_handler(move || flag.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let r = hold::run(&cfg, &stop)?;
    println!(
        "closed {} of {} held; errors {} (connect {}, io {}, timeout {}, mismatch {}), {} lost \
         while held; close took {:.1} s",
        r.closed,
        r.held,
        r.errors.total(),
        r.errors.connect,
        r.errors.io,
        r.errors.timeout,
        r.errors.mismatch,
        r.lost_while_held,
        r.close_secs
    );
    let json = serde_json::to_string(&r).map_err(|e| format!("report: {e}"))?;
    println!("report {json}");
    Ok(())
}

/// `LOW-HIGH`.
fn parse_ports(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("bad --source-ports '{s}': expected LOW-HIGH within 1-65535");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let lo: u16 = lo.trim().parse().map_err(|_| bad())?;
    let hi: u16 = hi.trim().parse().map_err(|_| bad())?;
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok(lo..=hi)
}

/// The soft limit on open files, from /proc/self/limits (no unsafe here for getrlimit).
fn open_files_limit() -> Result<u64, String> {
    let text = std::fs::read_to_string("/proc/self/limits")
        .map_err(|e| format!("cannot read /proc/self/limits: {e}"))?;
    let line = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .ok_or("no 'Max open files' in /proc/self/limits")?;
    let soft = line["Max open files".len()..].split_whitespace().next().unwrap_or("");
    Ok(if soft == "unlimited" { u64::MAX } else { soft.parse().unwrap_or(0) })
}
