//! `xdptcp bench lab [--quick] [--json FILE] [--out DIR]`: every workload with every
//! available (server, client) combination in a fresh two-namespace veth lab, one table.
//!
//! # Method
//!
//! - A lab with a unique name (`xdptcp lab up`): servers run in the stack namespace NAME-a,
//!   clients in the kernel namespace NAME-k, so every byte crosses the veth pair. Kernel
//!   servers listen on 198.18.X.3 (added to NAME-a0 for the run), xdptcp servers and the raw
//!   reflector take 198.18.X.2 over AF_XDP, an xdptcp client would take 198.18.X.4 on NAME-k0.
//! - Servers are pinned with `taskset -c` to one core and clients to another (the same cores
//!   for every combination); each combination gets a fresh server that is stopped after it.
//! - Workloads: `rr64x1`/`rr64x64` (`xdptcp load rr`, 64 B, 1 or 64 connections),
//!   `rr64x64-v6` (the same over IPv6: Linux servers on 2001:db8:X::3, ours on ::2, an xdptcp
//!   client on ::4, beside their IPv4 addresses), `crr64`
//!   (connect, 64 B request/response, close), `bulk` (one stream into a discard server),
//!   `bulk-9k` (the same with both veth ends at MTU 9000: jumbo frames, multi-buffer AF_XDP),
//!   `http` (wrk against `serve http` and nginx), `proxy` (wrk → HAProxy in TCP mode → nginx),
//!   `sockperf-pp`/`sockperf-ul` (sockperf ping-pong and under-load against `serve sockperf`
//!   and `sockperf server`, over TCP), `sockperf-udp` (ping-pong over UDP against
//!   `serve sockperf`), `raw-xdp` (the AF_XDP reflector against `udp-flood --stack xdptcp`,
//!   a batched generator on its own AF_XDP socket — the ceiling — and against the
//!   kernel-socket `udp-flood`, for contrast).
//! - Not in the default set, only with `--only synflood`: `synflood` and
//!   `synflood-nocookies` ([`synflood`]), legitimate connect times under an hping3 SYN flood,
//!   our echo server against Linux's, with the scheduler's wake-ups taken out on both sides.
//! - Beside throughput and latency, every row has the server's CPU seconds while the client
//!   ran (its process tree's user + system time from `/proc`, [`cpu`]), the throughput per
//!   CPU-second, and the frames per second on the veth pair (both ends' `tx_packets`). The
//!   raw ceiling is rr64x64 xdptcp <- xdptcp's frames per second over the reflector's. On a
//!   small machine both rows swing from run to run, so the pair runs again after the
//!   workloads (`--ceiling-rounds`, 5 pairs by default) and the ceiling is the median
//!   fraction; the table keeps the first pair's rows, `meta.ceiling_repeats` the others.
//! - A combination whose implementation is missing (`--stack xdptcp` not built yet, a tool
//!   not installed) is listed as `n/a (reason)` and never given a number. One that was tried
//!   and failed is `n/a (failed: ...)`, and makes the command exit non-zero after writing
//!   everything.
//! - Output: the table on stdout; `results.json` (exactly `{"meta", "results"}`),
//!   `table.md`, SVG plots per workload and `summary.svg` (every xdptcp/Linux ratio in one
//!   figure) in `--out DIR` (default `results/<UTC timestamp>/`).
//!
//! The lab is removed at the end, on failure and on Ctrl-C (a guard's `Drop`); servers are
//! sent SIGTERM, then SIGKILL.

mod cpu;
mod lab;
mod synflood;
mod tool_output;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use xdptcp_bench::report::{
    self, CeilingPair, LabReport, LatencyCurve, Meta, Missing, ResultRow, CEILING_ROWS,
};

use lab::{build_note, cpu_model, find_tool, output, run_bounded, LabGuard, Proc, TempDir};
use tool_output::{parse_sockperf, parse_wrk};

/// Arguments of `xdptcp bench lab`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Short runs (2 s per combination): the whole benchmark in about two minutes.
    #[arg(long)]
    pub quick: bool,
    /// Seconds per combination (default 10, or 2 with --quick).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Also write the JSON report to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Directory for results.json, table.md and the SVG plots (default results/<timestamp>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Only these workloads, comma-separated (e.g. rr64x1,raw-xdp). `synflood` (both of its
    /// rows, `synflood` and `synflood-nocookies`) is run only when named here: it needs
    /// hping3 and floods for --duration seconds (at most 10) per server and cookie setting.
    #[arg(long)]
    pub only: Option<String>,
    /// With `--only synflood`: SYN cookies on, off or both (the rows `synflood`,
    /// `synflood-nocookies`).
    #[arg(long)]
    pub synflood_cookies: Option<String>,
    /// Core of every server.
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// Core of every client (default: the next core, or the server's on a 1-core machine).
    #[arg(long)]
    pub client_core: Option<usize>,
    /// Idle policy of the xdptcp servers and the reflector: microseconds without a frame
    /// before they sleep in poll() on the AF_XDP socket, or `off` to busy-poll (their
    /// `--idle-wait-after-us`).
    #[arg(long, default_value = super::xdp_args::DEFAULT_IDLE_WAIT_AFTER_US)]
    pub server_idle_wait_after_us: String,
    /// How many times the raw ceiling is measured: after the workloads, rr64x64 xdptcp <-
    /// xdptcp and raw-xdp xdp-reflector <- xdp-flood run N-1 more times, one after the
    /// other, and the ceiling is the median of the N pairs' fractions (on a small machine
    /// both rows swing from run to run). Default 5, or 1 when --only leaves either out.
    #[arg(long)]
    pub ceiling_rounds: Option<u32>,
}

/// Pairs the raw ceiling is the median of unless `--ceiling-rounds` says otherwise: nine
/// single pairs on the 2-vCPU guest ranged over 0.56-1.50 around a median of 0.79.
const DEFAULT_CEILING_ROUNDS: u32 = 5;

/// At most this many pairs (each two rows of `--duration`), to keep the run bounded.
const MAX_CEILING_ROUNDS: u32 = 50;

/// The pairs the raw ceiling is measured over: `--ceiling-rounds`, checked against what
/// `--only` selected (`None`: the default set, which has both rows).
fn ceiling_rounds(flag: Option<u32>, only: Option<&[String]>) -> Result<u32, String> {
    let both = only.is_none_or(|o| CEILING_ROWS.iter().all(|(w, ..)| o.iter().any(|x| x == w)));
    match (flag, both) {
        (Some(0), _) => Err("--ceiling-rounds must be at least 1".into()),
        (Some(n), _) if n > MAX_CEILING_ROUNDS => {
            Err(format!("--ceiling-rounds must be at most {MAX_CEILING_ROUNDS}"))
        }
        (Some(n), false) if n > 1 => Err("--ceiling-rounds needs both rr64x64 and raw-xdp in \
                                          the run (--only leaves one out)"
            .into()),
        (Some(n), _) => Ok(n),
        (None, true) => Ok(DEFAULT_CEILING_ROUNDS),
        (None, false) => Ok(1),
    }
}

/// Set by SIGINT/SIGTERM; every wait checks it.
static STOP: AtomicBool = AtomicBool::new(false);

fn interrupted() -> Result<(), String> {
    if STOP.load(Ordering::Relaxed) {
        Err("interrupted; lab removed".into())
    } else {
        Ok(())
    }
}

/// Runs the benchmark.
pub fn run(args: &Args) -> Result<(), String> {
    let duration = args.duration.unwrap_or(if args.quick { 2.0 } else { 10.0 });
    if !(duration.is_finite() && (0.2..=3600.0).contains(&duration)) {
        return Err("--duration must be between 0.2 and 3600 seconds".into());
    }
    let only = selected_workloads(args.only.as_deref())?;
    let ceiling_rounds = ceiling_rounds(args.ceiling_rounds, only.as_deref())?;
    let synflood_selected = only.as_ref().is_some_and(|o| o.iter().any(|w| w == "synflood"));
    let cookie_settings = match (&args.synflood_cookies, synflood_selected) {
        (Some(_), false) => return Err("--synflood-cookies needs --only synflood".into()),
        (Some(flag), true) => synflood::cookie_settings(flag)?,
        (None, _) => vec![true, false],
    };
    let uid = output(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        return Err("bench lab needs root (network namespaces, veth, XDP)".into());
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let client_core = args.client_core.unwrap_or(if cores > 1 { args.server_core + 1 } else { 0 });
    for c in [args.server_core, client_core] {
        if c >= cores {
            return Err(format!("core {c} does not exist (this machine has {cores})"));
        }
    }
    let bin = std::env::current_exe().map_err(|e| format!("cannot find the xdptcp binary: {e}"))?;
    let stamp = output(Command::new("date").args(["-u", "+%Y%m%dT%H%M%SZ"]))?.trim().to_string();
    let out_dir = args.out.clone().unwrap_or_else(|| PathBuf::from("results").join(&stamp));
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| format!("cannot create {}: {e}", out_dir.display()))?;
    ctrlc::set_handler(|| STOP.store(true, Ordering::Relaxed))
        .map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;

    let name = format!("bl{}", std::process::id() % 100_000);
    let lab = LabGuard::up(&bin, &name)?;
    let tmp = TempDir::new(&name)?;
    let mut bench = Bench {
        bin,
        lab,
        tmp,
        duration,
        server_core: args.server_core,
        client_core,
        results: Vec::new(),
        missing: Vec::new(),
        curves: Vec::new(),
        modes: None,
        warnings: Vec::new(),
        failures: Vec::new(),
        ticks_per_second: cpu::ticks_per_second(),
        server_idle: args.server_idle_wait_after_us.clone(),
    };
    bench.lab.add_linux_address()?;
    bench.lab.tune_client_ports()?;
    for combo in plan() {
        if only.as_ref().is_some_and(|o| !o.iter().any(|w| w == combo.workload)) {
            continue;
        }
        interrupted()?;
        bench.measure(&combo)?;
    }
    interrupted()?;
    let ceiling_repeats = bench.ceiling_repeats(ceiling_rounds)?;
    interrupted()?;
    let flood_runs = if synflood_selected { bench.synflood(&cookie_settings)? } else { Vec::new() };
    interrupted()?;

    let Modes { xdp: xdp_mode, bind: bind_mode, tx_checksum } =
        bench.modes.clone().unwrap_or_else(|| Modes {
            xdp: "n/a".into(),
            bind: "n/a".into(),
            tx_checksum: "n/a".into(),
        });
    let meta = Meta {
        kernel: output(Command::new("uname").arg("-r")).unwrap_or_default().trim().to_string(),
        cpu: cpu_model(),
        date: output(Command::new("date").args(["-u", "+%Y-%m-%dT%H:%M:%SZ"]))
            .unwrap_or_default()
            .trim()
            .to_string(),
        xdp_mode,
        bind_mode,
        tx_checksum,
        xdp_server_idle: bench.server_idle.clone(),
        build: build_note().into(),
        cores,
        server_core: args.server_core,
        client_core,
        duration_s: duration,
        topology: format!(
            "veth pair {} <-> {}; servers in {}, clients in {}; kernel servers on {}, AF_XDP on {}",
            bench.lab.stack_if,
            bench.lab.kernel_if,
            bench.lab.stack_ns,
            bench.lab.kernel_ns,
            bench.lab.linux_ip,
            bench.lab.xdp_ip
        ),
        missing: bench.missing.clone(),
        ceiling_repeats,
    };
    let report = LabReport { meta, results: bench.results.clone() };
    write_outputs(&report, &bench.curves, &out_dir, args.json.as_deref())?;
    print!("{}", report::table::markdown(&report));
    print!("{}", report::table::meta_lines(&report));
    for w in &bench.warnings {
        println!("- warning: {w}");
    }
    if synflood_selected {
        let table = synflood::markdown(&flood_runs);
        let json = serde_json::to_string_pretty(&flood_runs)
            .map_err(|e| format!("cannot write the synflood runs: {e}"))?;
        for (name, text) in [("synflood.md", &table), ("synflood.json", &json)] {
            let path = out_dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        }
        print!(
            "\nSYN flood (hping3 -S --rand-source -i u10 from the client core; {} legitimate \
                connects each; our worker --sched fifo:10, the client chrt -f 20):\n{table}",
            synflood::LEGIT
        );
    }
    println!("results in {}", out_dir.display());
    let failures = std::mem::take(&mut bench.failures);
    drop(bench); // removes the lab before the exit status is decided
    interrupted()?;
    match failures.first() {
        None => Ok(()),
        Some(first) => {
            Err(format!("{} combination(s) failed (see the table), first: {first}", failures.len()))
        }
    }
}

/// The workloads `--only` names (`None`: the default set); an unknown name is an error.
fn selected_workloads(only: Option<&str>) -> Result<Option<Vec<String>>, String> {
    let Some(list) = only else { return Ok(None) };
    let known: Vec<&str> = {
        let mut k: Vec<&str> = plan().iter().map(|c| c.workload).collect();
        k.dedup();
        k.push("synflood");
        k
    };
    let mut out = Vec::new();
    for w in list.split(',').map(str::trim) {
        if !known.contains(&w) {
            return Err(format!("--only: unknown workload '{w}' (known: {})", known.join(", ")));
        }
        out.push(w.to_string());
    }
    Ok(Some(out))
}

/// Arguments of `xdptcp report lab`.
#[derive(clap::Args, Debug)]
pub struct RedrawArgs {
    /// A `results.json` of `bench lab`.
    #[arg(long)]
    pub json: PathBuf,
    /// Where to write table.md and the figures (default: beside the JSON file).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// `xdptcp report lab`: the table and the figures of an earlier run, drawn again from its
/// JSON (the latency plots need the clients' quantiles, which the JSON does not keep).
pub fn redraw(args: &RedrawArgs) -> Result<(), String> {
    let text = std::fs::read_to_string(&args.json)
        .map_err(|e| format!("cannot read {}: {e}", args.json.display()))?;
    let value: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("{} is not JSON: {e}", args.json.display()))?;
    let report: LabReport = serde_json::from_value(value)
        .map_err(|e| format!("{} is not a bench lab report: {e}", args.json.display()))?;
    let dir = match &args.out {
        Some(d) => d.clone(),
        None => args.json.parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf),
    };
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    write_figures(&report, &[], &dir)?;
    print!("{}", report::table::markdown(&report));
    print!("{}", report::table::meta_lines(&report));
    Ok(())
}

fn write_outputs(
    report: &LabReport,
    curves: &[(String, LatencyCurve)],
    dir: &Path,
    json: Option<&Path>,
) -> Result<(), String> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let json_text = report.to_json();
    write(&dir.join("results.json"), &json_text)?;
    if let Some(p) = json {
        write(p, &json_text)?;
    }
    write_figures(report, curves, dir)
}

/// `table.md`, `summary.svg` and the per-workload plots.
fn write_figures(
    report: &LabReport,
    curves: &[(String, LatencyCurve)],
    dir: &Path,
) -> Result<(), String> {
    let write = |path: &Path, text: &str| {
        std::fs::write(path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))
    };
    let table =
        format!("{}\n{}", report::table::markdown(report), report::table::meta_lines(report));
    write(&dir.join("table.md"), &table)?;
    if let Some(svg) = report::summary::summary(report) {
        write(&dir.join("summary.svg"), &svg)?;
    }
    let mut workloads: Vec<&str> = Vec::new();
    for r in &report.results {
        if !workloads.contains(&r.workload.as_str()) {
            workloads.push(&r.workload);
        }
    }
    for w in workloads {
        if let Some(svg) = report::svg::throughput(report, w)? {
            write(&dir.join(format!("throughput-{w}.svg")), &svg)?;
        }
        let mine: Vec<LatencyCurve> =
            curves.iter().filter(|(cw, _)| cw == w).map(|(_, c)| c.clone()).collect();
        if let Some(svg) = report::svg::latency(&format!("{w}: latency"), &mine)? {
            write(&dir.join(format!("latency-{w}.svg")), &svg)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// The plan: which combinations exist.

/// Who serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    /// `xdptcp serve APP --stack linux` on the kernel address.
    Linux(&'static str),
    /// `xdptcp serve APP --stack xdptcp` on the AF_XDP address.
    Xdptcp(&'static str),
    Nginx,
    /// HAProxy in TCP mode in front of nginx.
    Haproxy,
    /// `xdptcp serve proxy --stack linux|xdptcp` (true: xdptcp) in front of nginx.
    Proxy(bool),
    Sockperf,
    /// The raw AF_XDP reflector.
    Reflector,
}

impl Server {
    fn label(self) -> &'static str {
        match self {
            Server::Linux(_) => "linux",
            Server::Xdptcp(_) => "xdptcp",
            Server::Nginx => "nginx",
            Server::Haproxy => "haproxy",
            Server::Proxy(true) => "xdptcp",
            Server::Proxy(false) => "linux",
            Server::Sockperf => "sockperf",
            Server::Reflector => "xdp-reflector",
        }
    }
}

/// Who generates load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Client {
    /// `xdptcp load KIND --conns N --size 64` on a stack.
    Load {
        xdptcp: bool,
        kind: &'static str,
        conns: usize,
    },
    Wrk {
        conns: usize,
    },
    SockperfPingPong,
    SockperfUnderLoad,
    /// `sockperf ping-pong` without `--tcp` (sockperf's default transport).
    SockperfUdp,
    /// `udp-flood` on a kernel UDP socket.
    UdpFlood,
    /// `udp-flood --stack xdptcp`: the batched AF_XDP generator on the client namespace's
    /// end of the veth.
    XdpFlood,
}

impl Client {
    fn label(self) -> &'static str {
        match self {
            Client::Load { xdptcp: true, .. } => "xdptcp",
            Client::Load { .. } => "linux",
            Client::Wrk { .. } => "wrk",
            Client::SockperfPingPong | Client::SockperfUnderLoad | Client::SockperfUdp => {
                "sockperf"
            }
            Client::UdpFlood => "udp-flood",
            Client::XdpFlood => report::XDP_GENERATOR,
        }
    }
}

struct Combo {
    workload: &'static str,
    server: Server,
    client: Client,
}

fn plan() -> Vec<Combo> {
    let mut p = Vec::new();
    let mut add = |workload, server, client| p.push(Combo { workload, server, client });
    for (workload, kind, app, conns) in [
        ("rr64x1", "rr", "rr", 1),
        ("rr64x64", "rr", "rr", 64),
        ("rr64x64-v6", "rr", "rr", 64),
        ("crr64", "crr", "rr", 8),
        ("bulk", "bulk", "discard", 1),
        ("bulk-9k", "bulk", "discard", 1),
    ] {
        for (server, xdptcp) in [
            (Server::Linux(app), false),
            (Server::Xdptcp(app), false),
            (Server::Linux(app), true),
            (Server::Xdptcp(app), true),
        ] {
            add(workload, server, Client::Load { xdptcp, kind, conns });
        }
    }
    for server in [Server::Linux("http"), Server::Xdptcp("http"), Server::Nginx] {
        add("http", server, Client::Wrk { conns: 32 });
    }
    for server in [Server::Haproxy, Server::Proxy(false), Server::Proxy(true)] {
        add("proxy", server, Client::Wrk { conns: 32 });
    }
    for client in [Client::SockperfPingPong, Client::SockperfUnderLoad] {
        let w = if client == Client::SockperfPingPong { "sockperf-pp" } else { "sockperf-ul" };
        for server in [Server::Linux("sockperf"), Server::Xdptcp("sockperf"), Server::Sockperf] {
            add(w, server, client);
        }
    }
    // Over UDP: our two servers only (the reference `sockperf server --tcp` speaks TCP).
    for server in [Server::Linux("sockperf"), Server::Xdptcp("sockperf")] {
        add("sockperf-udp", server, Client::SockperfUdp);
    }
    add("raw-xdp", Server::Reflector, Client::XdpFlood);
    add("raw-xdp", Server::Reflector, Client::UdpFlood);
    p
}

/// Datagrams the AF_XDP generator keeps in flight: on the lab's veth, 64 gave the most
/// replies per second (709 k pps against 674 k with 256 and 590 k with 1024, where the
/// reflector's queues only add latency).
const XDP_FLOOD_WINDOW: &str = "64";

/// The workload run at [`JUMBO_MTU`] on both veth ends.
const JUMBO_WORKLOAD: &str = "bulk-9k";
/// The data-centre jumbo MTU: 8948-byte TCP segments with timestamps.
const JUMBO_MTU: usize = 9000;

/// Ephemeral ports of every client in the bench (Linux's sysctl and our `--local-ports`).
const CLIENT_PORTS: &str = "10000-65000";
const PORT_RR: u16 = 7001;
const PORT_DISCARD: u16 = 7002;
const PORT_HTTP: u16 = 7003;
const PORT_SOCKPERF: u16 = 7004;
const PORT_NGINX: u16 = 7005;
const PORT_HAPROXY: u16 = 7006;
/// `serve proxy` (either stack).
const PORT_PROXY: u16 = 7007;
const PORT_REFLECT: u16 = 9;
/// Body of every HTTP response (`serve http` default and the nginx config).
const HTTP_BODY: usize = 128;

/// Whether a workload runs over IPv6 (`rr64x64-v6`): servers and clients of both stacks on
/// the lab's IPv6 addresses.
fn is_v6(workload: &str) -> bool {
    workload.ends_with("-v6")
}

fn app_port(app: &str) -> u16 {
    match app {
        "rr" => PORT_RR,
        "discard" => PORT_DISCARD,
        "http" => PORT_HTTP,
        _ => PORT_SOCKPERF,
    }
}

// ---------------------------------------------------------------------------------------
// Running the plan.

/// A measurement, or why there is none.
enum Outcome {
    Measured(Box<(ResultRow, Option<LatencyCurve>)>),
    /// Not available here (not built, not installed): not a failure.
    Unavailable(String),
    /// Tried and failed.
    Failed(String),
}

struct Bench {
    bin: PathBuf,
    lab: LabGuard,
    tmp: TempDir,
    duration: f64,
    server_core: usize,
    client_core: usize,
    results: Vec<ResultRow>,
    missing: Vec<Missing>,
    curves: Vec<(String, LatencyCurve)>,
    /// (xdp mode, bind mode) from the first AF_XDP server's listening line.
    modes: Option<Modes>,
    /// Rows measured while a real-time thread ran ([`cpu::user_rt_seconds`]).
    warnings: Vec<String>,
    failures: Vec<String>,
    /// Clock ticks per second of `/proc/PID/stat` times.
    ticks_per_second: f64,
    /// `--idle-wait-after-us` of every xdptcp server.
    server_idle: String,
}

/// The server's CPU time and the wire's frame count at one instant.
#[derive(Debug, Clone, Copy)]
struct Sample {
    cpu_s: Option<f64>,
    frames: Option<u64>,
    /// CPU seconds of every real-time user thread on the machine ([`cpu::user_rt_seconds`]).
    rt_s: f64,
}

/// Real-time CPU a row may see on the machine without a warning (a short FIFO burst, e.g. the
/// kernel-side tools of another test, does not starve a core).
const RT_TOLERATED_S: f64 = 0.05;

impl Bench {
    fn measure(&mut self, combo: &Combo) -> Result<(), String> {
        let (w, s, c) = (combo.workload, combo.server.label(), combo.client.label());
        eprintln!("bench lab: {w}: {s} <- {c} ...");
        let outcome = self.run_combo(combo)?;
        match outcome {
            Outcome::Measured(m) => {
                let (row, curve) = *m;
                eprintln!("bench lab: {w}: {s} <- {c}: {:.3} {}", row.throughput, row.unit);
                if let Some(curve) = curve {
                    self.curves.push((w.to_string(), curve));
                }
                self.results.push(row);
            }
            Outcome::Unavailable(reason) => {
                eprintln!("bench lab: {w}: {s} <- {c}: n/a ({reason})");
                self.missing.push(missing(combo, reason));
            }
            Outcome::Failed(reason) => {
                eprintln!("bench lab: {w}: {s} <- {c}: FAILED: {reason}");
                self.failures.push(format!("{w} {s}<-{c}: {reason}"));
                self.missing.push(missing(combo, format!("failed: {reason}")));
            }
        }
        Ok(())
    }

    /// Runs the raw ceiling's two rows `rounds - 1` more times, one after the other
    /// (`--ceiling-rounds`), when the workloads measured both with their wire counters.
    /// A pair that fails is a failure of the run, as a row's would be.
    fn ceiling_repeats(&mut self, rounds: u32) -> Result<Vec<CeilingPair>, String> {
        let is = |c: &Combo, (w, s, k): (&str, &str, &str)| {
            c.workload == w && c.server.label() == s && c.client.label() == k
        };
        // In the order of `CEILING_ROWS`: xdptcp's row first, as `of_rows` takes them.
        let combos: Vec<Combo> = CEILING_ROWS
            .iter()
            .filter_map(|&row| plan().into_iter().find(|c| is(c, row)))
            .collect();
        let measured = |&(w, s, c): &(&str, &str, &str)| {
            self.results
                .iter()
                .any(|r| r.workload == w && r.server == s && r.client == c && r.wire_fps.is_some())
        };
        if rounds <= 1 || combos.len() != 2 || !CEILING_ROWS.iter().all(measured) {
            return Ok(Vec::new());
        }
        let mut pairs = Vec::new();
        for round in 2..=rounds {
            let mut rows = Vec::new();
            for combo in &combos {
                interrupted()?;
                let (w, s, c) = (combo.workload, combo.server.label(), combo.client.label());
                eprintln!("bench lab: raw ceiling, pair {round} of {rounds}: {w}: {s} <- {c} ...");
                match self.run_combo(combo)? {
                    Outcome::Measured(m) => {
                        let row = m.0;
                        eprintln!(
                            "bench lab: raw ceiling, pair {round} of {rounds}: {w}: {s} <- {c}: \
                             {:.0} frames/s",
                            row.wire_fps.unwrap_or(0.0)
                        );
                        rows.push(row);
                    }
                    Outcome::Unavailable(reason) | Outcome::Failed(reason) => {
                        eprintln!("bench lab: raw ceiling, pair {round}: {w}: {s} <- {c}: FAILED: {reason}");
                        self.failures
                            .push(format!("raw ceiling pair {round}: {w} {s}<-{c}: {reason}"));
                    }
                }
            }
            if let [x, r] = &rows[..] {
                pairs.extend(CeilingPair::of_rows(x, r, self.duration));
            }
        }
        Ok(pairs)
    }

    /// Runs one combination: its server, its client, the samples around them.
    fn run_combo(&mut self, combo: &Combo) -> Result<Outcome, String> {
        let (w, s, c) = (combo.workload, combo.server.label(), combo.client.label());
        let jumbo = w == JUMBO_WORKLOAD;
        if jumbo {
            self.lab.set_mtu(JUMBO_MTU)?;
        }
        let outcome = match self.start_server(combo.server, is_v6(combo.workload)) {
            Ok(Some((server, target))) => {
                let before = self.sample(&server);
                let o = self.run_client(combo, &target);
                let after = self.sample(&server);
                let rt_s = after.rt_s - before.rt_s;
                if rt_s > RT_TOLERATED_S {
                    let note = format!(
                        "{w} {s} <- {c}: real-time threads used {rt_s:.2} s of CPU during the row \
                         (RT throttling leaves ordinary processes 5 % of a busy core): not \
                         comparable"
                    );
                    eprintln!("bench lab: warning: {note}");
                    self.warnings.push(note);
                }
                let o = self.with_costs(o, before, after);
                drop(server);
                if matches!(
                    combo.server,
                    Server::Xdptcp(_) | Server::Reflector | Server::Proxy(true)
                ) {
                    // A server that had to be SIGKILLed leaves its XDP program attached, and
                    // the next AF_XDP server would refuse the interface; remove it.
                    self.lab.detach(&self.bin);
                }
                o
            }
            Ok(None) => Outcome::Unavailable("not built yet".into()),
            Err(e) => e,
        };
        if jumbo {
            self.lab.set_mtu(1500)?;
        }
        interrupted()?;
        Ok(outcome)
    }

    /// The server's CPU seconds (its process tree) and the veth's frames, now.
    fn sample(&self, server: &Proc) -> Sample {
        Sample {
            cpu_s: cpu::tree_cpu_seconds(server.pid(), self.ticks_per_second),
            frames: self.lab.wire_frames(),
            rt_s: cpu::user_rt_seconds(self.ticks_per_second),
        }
    }

    /// Fills a measured row's CPU and wire columns from the samples around its run.
    fn with_costs(&self, outcome: Outcome, before: Sample, after: Sample) -> Outcome {
        let Outcome::Measured(mut m) = outcome else { return outcome };
        let row = &mut m.0;
        if let (Some(a), Some(b)) = (before.cpu_s, after.cpu_s) {
            let cpu_s = (b - a).max(0.0);
            row.server_cpu_s = Some(cpu_s);
            // Work done in the measured duration (requests, connections, Gbit, packets)
            // per CPU-second; the server's CPU includes the client's start and stop, when
            // a busy-polling server spins and a sleeping one does not.
            row.per_cpu_s = (cpu_s > 0.0).then(|| row.throughput * self.duration / cpu_s);
        }
        if let (Some(a), Some(b)) = (before.frames, after.frames) {
            row.wire_fps = Some(b.saturating_sub(a) as f64 / self.duration);
        }
        Outcome::Measured(m)
    }

    /// Starts the server of a combination; `Ok(None)` when its implementation is not built.
    /// `v6`: our and Linux's servers on their IPv6 addresses (the `-v6` rows).
    fn start_server(
        &mut self,
        server: Server,
        v6: bool,
    ) -> Result<Option<(Proc, String)>, Outcome> {
        let lab = &self.lab;
        let core = self.server_core.to_string();
        let bin = self.bin.to_string_lossy().to_string();
        let linux = |app: &str| match v6 {
            false => format!("{}:{}", lab.linux_ip, app_port(app)),
            true => format!("[{}]:{}", lab.linux_ip6, app_port(app)),
        };
        match server {
            Server::Linux(app) => {
                let listen = linux(app);
                let p = Proc::spawn(
                    "server",
                    lab.in_ns(
                        &lab.stack_ns,
                        &core,
                        &bin,
                        &["serve", app, "--stack", "linux", "--listen", &listen],
                    ),
                )
                .map_err(Outcome::Failed)?;
                let mut p = p;
                p.wait_line("listening on", Duration::from_secs(10)).map_err(Outcome::Failed)?;
                Ok(Some((p, listen)))
            }
            Server::Xdptcp(app) => {
                let port = app_port(app).to_string();
                let cidr = match v6 {
                    false => format!("{}/24", lab.xdp_ip),
                    true => format!("{}/24,{}/64", lab.xdp_ip, lab.xdp_ip6),
                };
                let argv = [
                    "serve",
                    app,
                    "--stack",
                    "xdptcp",
                    "--iface",
                    &lab.stack_if,
                    "--ip",
                    &cidr,
                    "--port",
                    &port,
                    "--cores",
                    &core,
                    "--idle-wait-after-us",
                    &self.server_idle,
                ];
                let mut p =
                    Proc::spawn("xdptcp server", lab.in_ns(&lab.stack_ns, &core, &bin, &argv))
                        .map_err(Outcome::Failed)?;
                match p.wait_line("listening on", Duration::from_secs(15)) {
                    Ok(line) => {
                        note_modes(&mut self.modes, &line);
                        let target = match v6 {
                            false => format!("{}:{}", lab.xdp_ip, port),
                            true => {
                                lab.wait_ipv6_answers(&lab.xdp_ip6).map_err(Outcome::Failed)?;
                                format!("[{}]:{}", lab.xdp_ip6, port)
                            }
                        };
                        Ok(Some((p, target)))
                    }
                    Err(e) if not_built(&e) => Ok(None),
                    Err(e) => Err(Outcome::Failed(e)),
                }
            }
            Server::Nginx => {
                let p = self.start_nginx(&lab.stack_ns, &core, &lab.linux_ip)?;
                Ok(Some((p, format!("{}:{PORT_NGINX}", lab.linux_ip))))
            }
            Server::Haproxy | Server::Proxy(_) => {
                // Every proxy row: wrk (kernel side, client core) -> proxy (stack side,
                // server core) -> nginx (kernel side, client core), so both legs cross the
                // veth — the only way an AF_XDP proxy on NAME-a0 reaches a backend — and a
                // busy-polling proxy does not share its core with nginx.
                let client_core = self.client_core.to_string();
                let nginx = self.start_nginx(&lab.kernel_ns, &client_core, &lab.kernel_ip)?;
                let backend = format!("{}:{PORT_NGINX}", lab.kernel_ip);
                let (mut h, target) = match server {
                    Server::Haproxy => {
                        let Some(haproxy) = find_tool("haproxy") else {
                            return Err(Outcome::Unavailable("haproxy not installed".into()));
                        };
                        let conf = self.tmp.haproxy_conf(&lab.linux_ip, &backend)?;
                        let mut h = Proc::spawn(
                            "haproxy",
                            lab.in_ns_tool(&lab.stack_ns, &core, &haproxy, &["-db", "-f", &conf]),
                        )
                        .map_err(Outcome::Failed)?;
                        h.wait_port(&lab.stack_ns, PORT_HAPROXY).map_err(Outcome::Failed)?;
                        (h, format!("{}:{PORT_HAPROXY}", lab.linux_ip))
                    }
                    Server::Proxy(false) => {
                        let listen = format!("{}:{PORT_PROXY}", lab.linux_ip);
                        let argv = [
                            "serve",
                            "proxy",
                            "--stack",
                            "linux",
                            "--listen",
                            &listen,
                            "--backend",
                            &backend,
                        ];
                        let mut p =
                            Proc::spawn("proxy", lab.in_ns(&lab.stack_ns, &core, &bin, &argv))
                                .map_err(Outcome::Failed)?;
                        p.wait_line("listening on", Duration::from_secs(10))
                            .map_err(Outcome::Failed)?;
                        (p, listen)
                    }
                    _ => {
                        let cidr = format!("{}/24", lab.xdp_ip);
                        let port = PORT_PROXY.to_string();
                        let argv = [
                            "serve",
                            "proxy",
                            "--stack",
                            "xdptcp",
                            "--iface",
                            &lab.stack_if,
                            "--ip",
                            &cidr,
                            "--port",
                            &port,
                            "--backend",
                            &backend,
                            "--cores",
                            &core,
                            "--idle-wait-after-us",
                            &self.server_idle,
                        ];
                        let mut p = Proc::spawn(
                            "xdptcp proxy",
                            lab.in_ns(&lab.stack_ns, &core, &bin, &argv),
                        )
                        .map_err(Outcome::Failed)?;
                        match p.wait_line("listening on", Duration::from_secs(15)) {
                            Ok(line) => note_modes(&mut self.modes, &line),
                            Err(e) if not_built(&e) => return Ok(None),
                            Err(e) => return Err(Outcome::Failed(e)),
                        }
                        (p, format!("{}:{PORT_PROXY}", lab.xdp_ip))
                    }
                };
                h.also = Some(Box::new(nginx));
                Ok(Some((h, target)))
            }
            Server::Sockperf => {
                let Some(sp) = find_tool("sockperf") else {
                    return Err(Outcome::Unavailable("sockperf not installed".into()));
                };
                let port = PORT_SOCKPERF.to_string();
                let mut p = Proc::spawn(
                    "sockperf server",
                    lab.in_ns_tool(
                        &lab.stack_ns,
                        &core,
                        &sp,
                        &["server", "--tcp", "-i", &lab.linux_ip, "-p", &port],
                    ),
                )
                .map_err(Outcome::Failed)?;
                p.wait_port(&lab.stack_ns, PORT_SOCKPERF).map_err(Outcome::Failed)?;
                Ok(Some((p, format!("{}:{PORT_SOCKPERF}", lab.linux_ip))))
            }
            Server::Reflector => {
                let cidr = format!("{}/24", lab.xdp_ip);
                let argv = [
                    "serve-xdp",
                    "reflect",
                    "--iface",
                    &lab.stack_if,
                    "--ip",
                    &cidr,
                    "--cores",
                    &core,
                    "--idle-wait-after-us",
                    &self.server_idle,
                ];
                let mut p = Proc::spawn("reflector", lab.in_ns(&lab.stack_ns, &core, &bin, &argv))
                    .map_err(Outcome::Failed)?;
                let line = p
                    .wait_line("listening on", Duration::from_secs(15))
                    .map_err(Outcome::Failed)?;
                note_modes(&mut self.modes, &line);
                Ok(Some((p, format!("{}:{PORT_REFLECT}", lab.xdp_ip))))
            }
        }
    }
}

impl Bench {
    /// nginx in namespace `ns` on `ip`, once it listens.
    fn start_nginx(&self, ns: &str, core: &str, ip: &str) -> Result<Proc, Outcome> {
        let Some(nginx) = find_tool("nginx") else {
            return Err(Outcome::Unavailable("nginx not installed".into()));
        };
        let conf = self.tmp.nginx_conf(ip)?;
        let argv =
            ["-p", &self.tmp.path_str(), "-e", &self.tmp.file("nginx-error.log"), "-c", &conf];
        let mut p = Proc::spawn("nginx", self.lab.in_ns_tool(ns, core, &nginx, &argv))
            .map_err(Outcome::Failed)?;
        p.wait_port(ns, PORT_NGINX).map_err(Outcome::Failed)?;
        Ok(p)
    }
}

/// The AF_XDP modes a `listening on` line reports.
#[derive(Debug, Clone, PartialEq)]
struct Modes {
    xdp: String,
    bind: String,
    /// `n/a` on lines without it (the reflector computes no checksums).
    tx_checksum: String,
}

/// Records the modes of the first AF_XDP `listening on` line that names them.
/// The transmit checksum comes from the first line that has one: a reflector's line has none.
fn note_modes(modes: &mut Option<Modes>, line: &str) {
    let after = |key: &str| {
        line.split([',', '(', ')'])
            .map(str::trim)
            .find_map(|part| part.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    if let Some(m) = modes {
        if m.tx_checksum == "n/a" {
            if let Some(t) = after("tx-checksum ") {
                m.tx_checksum = t;
            }
        }
        return;
    }
    if let (Some(xdp), Some(bind)) = (after("xdp "), after("bind ")) {
        let tx_checksum = after("tx-checksum ").unwrap_or_else(|| "n/a".into());
        *modes = Some(Modes { xdp, bind, tx_checksum });
    }
}

impl Bench {
    fn run_client(&mut self, combo: &Combo, target: &str) -> Outcome {
        let lab = &self.lab;
        let core = self.client_core.to_string();
        let bin = self.bin.to_string_lossy().to_string();
        let secs = format!("{}", self.duration);
        let limit = Duration::from_secs_f64(self.duration + 30.0);
        let (w, s, c) = (combo.workload, combo.server.label(), combo.client.label());
        let row = |throughput: f64, unit: &str, p50: Option<f64>, p99: Option<f64>| {
            ResultRow::new(w, s, c, throughput, unit, p50, p99)
        };
        let curve = |points: Vec<(f64, f64)>| {
            (!points.is_empty()).then(|| LatencyCurve { label: format!("{s} <- {c}"), points })
        };
        match combo.client {
            Client::Load { xdptcp, kind, conns } => {
                let json = self.tmp.file(&format!("load-{w}-{s}-{c}.json"));
                let _ = std::fs::remove_file(&json);
                let conns = conns.to_string();
                let mut argv = vec![
                    "load",
                    kind,
                    "--target",
                    target,
                    "--conns",
                    &conns,
                    "--size",
                    "64",
                    "--duration",
                    &secs,
                    "--json",
                    &json,
                    "--server-label",
                    s,
                ];
                let cidr = match is_v6(w) {
                    false => format!("{}/24", lab.client_xdp_ip),
                    true => format!("{}/24,{}/64", lab.client_xdp_ip, lab.client_xdp_ip6),
                };
                if xdptcp {
                    argv.extend(["--stack", "xdptcp", "--iface", &lab.kernel_if, "--ip", &cidr]);
                    // The Linux clients' range (`tune_client_ports`), so both reuse ports alike.
                    argv.extend(["--local-ports", CLIENT_PORTS]);
                    // A load generator's job is load, not thrift: it busy-polls.
                    argv.extend(["--idle-wait-after-us", "off"]);
                }
                let cmd = lab.in_ns(&lab.kernel_ns, &core, &bin, &argv);
                if let Err(e) = run_bounded(cmd, limit) {
                    return if xdptcp && not_built(&e) {
                        Outcome::Unavailable("not built yet".into())
                    } else {
                        Outcome::Failed(e)
                    };
                }
                let v: serde_json::Value = match std::fs::read_to_string(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                {
                    Ok(v) => v,
                    Err(e) => return Outcome::Failed(format!("load report unreadable: {e}")),
                };
                let num = |k: &str| v[k].as_f64();
                let throughput = num("throughput").unwrap_or(0.0);
                let completed = v["completed"].as_u64().unwrap_or(0);
                let bytes = v["bytes"].as_u64().unwrap_or(0);
                if throughput <= 0.0 || (completed == 0 && bytes == 0) {
                    return Outcome::Failed(format!("nothing completed ({} errors)", v["errors"]));
                }
                let unit = match kind {
                    "rr" => "rps",
                    "crr" => "cps",
                    _ => "gbps",
                };
                let points: Vec<(f64, f64)> =
                    [(0.5, "p50_us"), (0.9, "p90_us"), (0.99, "p99_us"), (0.999, "p999_us")]
                        .iter()
                        .filter_map(|&(q, k)| num(k).map(|us| (q, us)))
                        .collect();
                Outcome::Measured(Box::new((
                    row(throughput, unit, num("p50_us"), num("p99_us")),
                    curve(points),
                )))
            }
            Client::Wrk { conns } => {
                let Some(wrk) = find_tool("wrk") else {
                    return Outcome::Unavailable("wrk not installed".into());
                };
                let url = format!("http://{target}/");
                let c = conns.to_string();
                let d = format!("{}s", self.duration.ceil().max(1.0));
                let cmd = lab.in_ns_tool(
                    &lab.kernel_ns,
                    &core,
                    &wrk,
                    &["-t1", "-c", &c, "-d", &d, "--latency", &url],
                );
                match run_bounded(cmd, limit).and_then(|out| parse_wrk(&out)) {
                    Ok(p) => Outcome::Measured(Box::new((
                        row(p.rps, "rps", p.quantile(0.5), p.quantile(0.99)),
                        curve(p.latency),
                    ))),
                    Err(e) => Outcome::Failed(e),
                }
            }
            Client::SockperfPingPong | Client::SockperfUnderLoad | Client::SockperfUdp => {
                let Some(sp) = find_tool("sockperf") else {
                    return Outcome::Unavailable("sockperf not installed".into());
                };
                let (ip, port) = target.split_once(':').unwrap_or((target, "0"));
                let mode = if combo.client == Client::SockperfUnderLoad {
                    "under-load"
                } else {
                    "ping-pong"
                };
                let t = format!("{}", self.duration.ceil().max(1.0));
                let mut argv = vec![mode, "-i", ip, "-p", port, "-t", &t, "-m", "64", "--full-rtt"];
                if combo.client != Client::SockperfUdp {
                    argv.push("--tcp");
                }
                if mode == "under-load" {
                    argv.extend(["--mps", "max"]);
                }
                let cmd = lab.in_ns_tool(&lab.kernel_ns, &core, &sp, &argv);
                match run_bounded(cmd, limit).and_then(|out| parse_sockperf(&out)) {
                    Ok(p) => Outcome::Measured(Box::new((
                        row(p.rps, "rps", p.quantile(0.5), p.quantile(0.99)),
                        curve(p.latency),
                    ))),
                    Err(e) => Outcome::Failed(e),
                }
            }
            Client::UdpFlood | Client::XdpFlood => {
                let json = self.tmp.file(&format!("flood-{c}.json"));
                let _ = std::fs::remove_file(&json);
                let cidr = format!("{}/24", lab.client_xdp_ip);
                let mut argv =
                    vec!["udp-flood", "--target", target, "--duration", &secs, "--json", &json];
                if combo.client == Client::XdpFlood {
                    argv.extend(["--stack", "xdptcp", "--iface", &lab.kernel_if, "--ip", &cidr]);
                    argv.extend(["--window", XDP_FLOOD_WINDOW]);
                }
                if let Err(e) = run_bounded(lab.in_ns(&lab.kernel_ns, &core, &bin, &argv), limit) {
                    return Outcome::Failed(e);
                }
                let v: serde_json::Value = match std::fs::read_to_string(&json)
                    .map_err(|e| e.to_string())
                    .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
                {
                    Ok(v) => v,
                    Err(e) => return Outcome::Failed(format!("flood report unreadable: {e}")),
                };
                let pps = v["pps"].as_f64().unwrap_or(0.0);
                if pps <= 0.0 {
                    return Outcome::Failed("no datagrams came back".into());
                }
                Outcome::Measured(Box::new((
                    row(pps, "pps", v["p50_us"].as_f64(), v["p99_us"].as_f64()),
                    None,
                )))
            }
        }
    }
}

fn missing(combo: &Combo, reason: String) -> Missing {
    Missing {
        workload: combo.workload.into(),
        server: combo.server.label().into(),
        client: combo.client.label().into(),
        reason,
    }
}

/// Whether an error says the implementation does not exist in this build (the answer of
/// `--stack xdptcp` before it lands, or options this build does not know).
fn not_built(err: &str) -> bool {
    err.contains("not built") || err.contains("unexpected argument")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ceiling_rounds_default_to_five_and_refuse_what_would_be_ignored() {
        let only = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(ceiling_rounds(None, None), Ok(DEFAULT_CEILING_ROUNDS));
        assert_eq!(ceiling_rounds(Some(3), None), Ok(3));
        let both = only(&["raw-xdp", "rr64x64"]);
        assert_eq!(ceiling_rounds(None, Some(&both)), Ok(DEFAULT_CEILING_ROUNDS));
        // Without both rows there is no ceiling: one round, and asking for more is an error.
        let one = only(&["rr64x64", "bulk"]);
        assert_eq!(ceiling_rounds(None, Some(&one)), Ok(1));
        assert_eq!(ceiling_rounds(Some(1), Some(&one)), Ok(1));
        assert!(ceiling_rounds(Some(2), Some(&one)).unwrap_err().contains("needs both"));
        assert!(ceiling_rounds(Some(0), None).unwrap_err().contains("at least 1"));
        assert!(ceiling_rounds(Some(MAX_CEILING_ROUNDS + 1), None)
            .unwrap_err()
            .contains("at most"));
    }

    #[test]
    fn modes_come_from_either_listening_line() {
        let mut m = None;
        note_modes(
            &mut m,
            "listening on 198.18.1.2 (reflect, queues 0-0, cores 0, xdp native, bind copy)",
        );
        let modes = |x: &str, b: &str, t: &str| Modes {
            xdp: x.into(),
            bind: b.into(),
            tx_checksum: t.into(),
        };
        assert_eq!(m, Some(modes("native", "copy", "n/a")));
        // The first line wins.
        note_modes(
            &mut m,
            "listening on 1.2.3.4:7 (queue 0, core any, xdp generic, bind copy) app rr",
        );
        assert_eq!(m.as_ref().map(|x| x.xdp.as_str()), Some("native"));
        note_modes(
            &mut m,
            "listening on 1.2.3.4:7 (queue 0, xdp generic, bind copy, tx-checksum kernel)",
        );
        assert_eq!(m, Some(modes("native", "copy", "kernel")), "the first tx-checksum fills in");
        let mut m2 = None;
        note_modes(
            &mut m2,
            "listening on 1.2.3.4:7 (queue 0, core any, xdp generic, bind zero-copy, tx-checksum \
             offload) app rr",
        );
        assert_eq!(m2, Some(modes("generic", "zero-copy", "offload")));
        let mut none = None;
        note_modes(&mut none, "listening on 1.2.3.4:7 (stack linux)");
        assert_eq!(none, None);
    }

    #[test]
    fn plan_covers_every_workload_with_linux_and_xdptcp() {
        let p = plan();
        for w in ["rr64x1", "rr64x64", "rr64x64-v6", "crr64", "bulk", "bulk-9k"] {
            let servers: Vec<_> = p
                .iter()
                .filter(|c| c.workload == w)
                .map(|c| (c.server.label(), c.client.label()))
                .collect();
            assert_eq!(
                servers,
                [
                    ("linux", "linux"),
                    ("xdptcp", "linux"),
                    ("linux", "xdptcp"),
                    ("xdptcp", "xdptcp")
                ],
                "{w}"
            );
        }
        // The ceiling comes from the AF_XDP generator; the kernel-socket one stays beside it.
        let raw: Vec<_> =
            p.iter().filter(|c| c.workload == "raw-xdp").map(|c| (c.server, c.client)).collect();
        assert_eq!(
            raw,
            [(Server::Reflector, Client::XdpFlood), (Server::Reflector, Client::UdpFlood)]
        );
        assert_eq!(Client::XdpFlood.label(), report::XDP_GENERATOR);
        // sockperf over UDP against both of our servers.
        let udp: Vec<_> = p
            .iter()
            .filter(|c| c.workload == "sockperf-udp" && c.client == Client::SockperfUdp)
            .map(|c| c.server.label())
            .collect();
        assert_eq!(udp, ["linux", "xdptcp"]);
        assert!(p.iter().any(|c| c.workload == "proxy" && c.server == Server::Haproxy));
        // Our proxy beside the Linux one, so the ratio column compares them.
        for server in [Server::Proxy(true), Server::Proxy(false)] {
            assert!(p.iter().any(|c| c.workload == "proxy" && c.server == server));
        }
        assert_eq!(Server::Proxy(true).label(), "xdptcp");
        assert_eq!(Server::Proxy(false).label(), "linux");
        // Every workload is one the table knows how to order.
        for c in &p {
            assert!(report::table::WORKLOAD_ORDER.contains(&c.workload), "{}", c.workload);
        }
        // `--only` names known workloads; the SYN flood only when asked for.
        assert_eq!(selected_workloads(None), Ok(None));
        let some = selected_workloads(Some("rr64x1, synflood")).unwrap();
        assert_eq!(some, Some(vec!["rr64x1".to_string(), "synflood".to_string()]));
        let err = selected_workloads(Some("rr64x1,synflod")).unwrap_err();
        assert!(err.starts_with("--only: unknown workload 'synflod'"), "{err}");
        assert!(!p.iter().any(|c| c.workload.starts_with("synflood")));
        assert!(not_built("--stack xdptcp: the AF_XDP driver is not built yet; use --stack linux"));
        assert!(not_built("error: unexpected argument '--iface' found"));
        assert!(!not_built("connection refused"));
    }
}
