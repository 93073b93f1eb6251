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
//! - Workloads: `rr64x1`/`rr64x64` (`xdptcp load rr`, 64 B, 1 or 64 connections), `crr64`
//!   (connect, 64 B request/response, close), `bulk` (one stream into a discard server),
//!   `http` (wrk against `serve http` and nginx), `proxy` (wrk → HAProxy in TCP mode → nginx),
//!   `sockperf-pp`/`sockperf-ul` (sockperf ping-pong and under-load against `serve sockperf`
//!   and `sockperf server`, over TCP), `sockperf-udp` (ping-pong over UDP against
//!   `serve sockperf`), `raw-xdp` (`udp-flood` against the AF_XDP reflector).
//! - A combination whose implementation is missing (`--stack xdptcp` not built yet, a tool
//!   not installed) is listed as `n/a (reason)` and never given a number. One that was tried
//!   and failed is `n/a (failed: ...)`, and makes the command exit non-zero after writing
//!   everything.
//! - Output: the table on stdout; `results.json` (exactly `{"meta", "results"}`),
//!   `table.md` and SVG plots in `--out DIR` (default `results/<UTC timestamp>/`).
//!
//! The lab is removed at the end, on failure and on Ctrl-C (a guard's `Drop`); servers are
//! sent SIGTERM, then SIGKILL.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use xdptcp_bench::report::{self, LabReport, LatencyCurve, Meta, Missing, ResultRow};

/// Arguments of `xdptcp bench lab`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// Short runs (2 s per combination): the whole benchmark in about a minute.
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
    /// Only these workloads, comma-separated (e.g. rr64x1,raw-xdp).
    #[arg(long)]
    pub only: Option<String>,
    /// Core of every server.
    #[arg(long, default_value_t = 0)]
    pub server_core: usize,
    /// Core of every client (default: the next core, or the server's on a 1-core machine).
    #[arg(long)]
    pub client_core: Option<usize>,
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
    let uid = output(Command::new("id").arg("-u"))?;
    if uid.trim() != "0" {
        return Err("bench lab needs root (network namespaces, veth, XDP)".into());
    }
    let duration = args.duration.unwrap_or(if args.quick { 2.0 } else { 10.0 });
    if !(duration.is_finite() && (0.2..=3600.0).contains(&duration)) {
        return Err("--duration must be between 0.2 and 3600 seconds".into());
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
        failures: Vec::new(),
    };
    bench.lab.add_linux_address()?;
    bench.lab.tune_client_ports()?;
    let only: Option<Vec<String>> =
        args.only.as_ref().map(|s| s.split(',').map(|w| w.trim().to_string()).collect());
    for combo in plan() {
        if only.as_ref().is_some_and(|o| !o.iter().any(|w| w == combo.workload)) {
            continue;
        }
        interrupted()?;
        bench.measure(&combo)?;
    }
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
    };
    let report = LabReport { meta, results: bench.results.clone() };
    write_outputs(&report, &bench.curves, &out_dir, args.json.as_deref())?;
    print!("{}", report::table::markdown(&report));
    print!("{}", report::table::meta_lines(&report));
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
    let table =
        format!("{}\n{}", report::table::markdown(report), report::table::meta_lines(report));
    write(&dir.join("table.md"), &table)?;
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
    UdpFlood,
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
        ("crr64", "crr", "rr", 8),
        ("bulk", "bulk", "discard", 1),
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
    add("raw-xdp", Server::Reflector, Client::UdpFlood);
    p
}

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
    failures: Vec<String>,
}

impl Bench {
    fn measure(&mut self, combo: &Combo) -> Result<(), String> {
        let (w, s, c) = (combo.workload, combo.server.label(), combo.client.label());
        eprintln!("bench lab: {w}: {s} <- {c} ...");
        let outcome = match self.start_server(combo.server) {
            Ok(Some((server, target))) => {
                let o = self.run_client(combo, &target);
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
        interrupted()?;
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

    /// Starts the server of a combination; `Ok(None)` when its implementation is not built.
    fn start_server(&mut self, server: Server) -> Result<Option<(Proc, String)>, Outcome> {
        let lab = &self.lab;
        let core = self.server_core.to_string();
        let bin = self.bin.to_string_lossy().to_string();
        let linux = |app: &str| format!("{}:{}", lab.linux_ip, app_port(app));
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
                let cidr = format!("{}/24", lab.xdp_ip);
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
                ];
                let mut p =
                    Proc::spawn("xdptcp server", lab.in_ns(&lab.stack_ns, &core, &bin, &argv))
                        .map_err(Outcome::Failed)?;
                match p.wait_line("listening on", Duration::from_secs(15)) {
                    Ok(line) => {
                        note_modes(&mut self.modes, &line);
                        Ok(Some((p, format!("{}:{}", lab.xdp_ip, port))))
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
        let row = |throughput: f64, unit: &str, p50: Option<f64>, p99: Option<f64>| ResultRow {
            workload: w.into(),
            server: s.into(),
            client: c.into(),
            throughput,
            unit: unit.into(),
            p50_us: p50,
            p99_us: p99,
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
                let cidr = format!("{}/24", lab.client_xdp_ip);
                if xdptcp {
                    argv.extend(["--stack", "xdptcp", "--iface", &lab.kernel_if, "--ip", &cidr]);
                    // The Linux clients' range (`tune_client_ports`), so both reuse ports alike.
                    argv.extend(["--local-ports", CLIENT_PORTS]);
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
            Client::UdpFlood => {
                let json = self.tmp.file("flood.json");
                let argv = ["udp-flood", "--target", target, "--duration", &secs, "--json", &json];
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

// ---------------------------------------------------------------------------------------
// Output parsers of the real tools.

/// Throughput and latency quantiles (quantile, microseconds) of a tool's output.
#[derive(Debug, Clone, PartialEq)]
struct Parsed {
    rps: f64,
    latency: Vec<(f64, f64)>,
}

impl Parsed {
    fn quantile(&self, q: f64) -> Option<f64> {
        self.latency.iter().find(|(x, _)| (x - q).abs() < 1e-9).map(|p| p.1)
    }
}

/// `123.45us` / `1.23ms` / `1.5s` in microseconds.
fn duration_us(s: &str) -> Option<f64> {
    let (num, scale) = if let Some(n) = s.strip_suffix("us") {
        (n, 1.0)
    } else if let Some(n) = s.strip_suffix("ms") {
        (n, 1e3)
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * scale)
}

/// wrk's `Requests/sec:` and its `--latency` distribution.
fn parse_wrk(out: &str) -> Result<Parsed, String> {
    let mut rps = None;
    let mut latency = Vec::new();
    let mut errors = None;
    for line in out.lines().map(str::trim) {
        if let Some(v) = line.strip_prefix("Requests/sec:") {
            rps = v.trim().parse::<f64>().ok();
        } else if line.starts_with("Non-2xx or 3xx responses:")
            || line.starts_with("Socket errors:")
        {
            errors = Some(line.to_string());
        } else if let Some((pct, value)) = line.split_once('%') {
            if let (Ok(p), Some(us)) = (pct.trim().parse::<f64>(), duration_us(value.trim())) {
                latency.push((p / 100.0, us));
            }
        }
    }
    let rps = rps.ok_or_else(|| format!("wrk printed no Requests/sec: {}", last_line(out)))?;
    if rps <= 0.0 {
        return Err(format!("wrk: 0 requests/s ({})", errors.unwrap_or_default()));
    }
    if let Some(e) = errors.filter(|e| e.starts_with("Non-2xx")) {
        return Err(format!("wrk: {e}"));
    }
    Ok(Parsed { rps, latency })
}

/// sockperf's `[Valid Duration] RunTime=..; ReceivedMessages=..` and percentile lines
/// (ANSI colour codes stripped).
fn parse_sockperf(out: &str) -> Result<Parsed, String> {
    let clean = strip_ansi(out);
    let mut rps = None;
    let mut latency = Vec::new();
    for line in clean.lines() {
        if line.contains("[Valid Duration]") {
            let field = |k: &str| {
                line.split([';', ' '])
                    .find_map(|w| w.strip_prefix(k))
                    .and_then(|v| v.trim_end_matches("sec").parse::<f64>().ok())
            };
            if let (Some(t), Some(n)) = (field("RunTime="), field("ReceivedMessages=")) {
                if t > 0.0 {
                    rps = Some(n / t);
                }
            }
        } else if let Some(rest) = line.split("percentile").nth(1) {
            if let Some((p, v)) = rest.split_once('=') {
                if let (Ok(p), Ok(v)) = (p.trim().parse::<f64>(), v.trim().parse::<f64>()) {
                    latency.push((p / 100.0, v));
                }
            }
        }
    }
    let rps = rps.ok_or_else(|| format!("sockperf printed no valid run: {}", last_line(&clean)))?;
    if rps <= 0.0 {
        return Err("sockperf: no messages came back".into());
    }
    latency.sort_by(|a, b| a.0.total_cmp(&b.0));
    latency.retain(|&(q, _)| q >= 0.5);
    Ok(Parsed { rps, latency })
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ ... letter
            if chars.peek() == Some(&'[') {
                chars.next();
                for d in chars.by_ref() {
                    if d.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The line of a process's error output that says what went wrong: the last one mentioning
/// `error` (clap puts usage hints after it), else the last one.
fn error_line(s: &str) -> String {
    s.lines()
        .map(str::trim)
        .rfind(|l| l.contains("error:"))
        .map(|l| l.trim_start_matches("xdptcp: ").trim_start_matches("error: ").to_string())
        .unwrap_or_else(|| last_line(s))
}

fn last_line(s: &str) -> String {
    s.lines().map(str::trim).rfind(|l| !l.is_empty()).unwrap_or("(no output)").to_string()
}

// ---------------------------------------------------------------------------------------
// Processes, the lab, the temp dir.

/// Runs `cmd` and returns its stdout, or a one-line error.
fn output(cmd: &mut Command) -> Result<String, String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{:?} failed: {}",
            cmd.get_program(),
            last_line(&String::from_utf8_lossy(&out.stderr))
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// Runs a client to completion within `limit` (then kills it); stdout, or its last error line.
fn run_bounded(mut cmd: Command, limit: Duration) -> Result<String, String> {
    let mut p = Proc::spawn_with(&mut cmd, "client")?;
    let deadline = Instant::now() + limit;
    loop {
        interrupted()?;
        match p.child.try_wait() {
            Ok(Some(status)) => {
                let (out, err) = p.collect();
                if status.success() {
                    return Ok(out);
                }
                let why = if err.trim().is_empty() { last_line(&out) } else { error_line(&err) };
                return Err(why);
            }
            Ok(None) if Instant::now() > deadline => {
                return Err(format!("did not finish within {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => return Err(format!("waiting for the client: {e}")),
        }
    }
}

fn find_tool(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().to_string())
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// A child process (server or client) whose output is collected by reader threads; stopped
/// with SIGTERM, then SIGKILL, when dropped. `also` is stopped after it (nginx behind
/// HAProxy).
struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
    seen: Vec<String>,
    also: Option<Box<Proc>>,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command) -> Result<Proc, String> {
        Proc::spawn_with(&mut cmd, name)
    }

    fn spawn_with(cmd: &mut Command, name: &'static str) -> Result<Proc, String> {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the {name} ({:?}): {e}", cmd.get_program()))?;
        let (tx, lines) = mpsc::channel();
        if let Some(out) = child.stdout.take() {
            std::thread::spawn(move || {
                for l in BufReader::new(out).lines().map_while(Result::ok) {
                    if tx.send(l).is_err() {
                        break;
                    }
                }
            });
        }
        let stderr = Arc::new(std::sync::Mutex::new(String::new()));
        if let Some(mut err) = child.stderr.take() {
            let sink = stderr.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = err.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    if let Ok(mut s) = sink.lock() {
                        s.push_str(&String::from_utf8_lossy(&buf[..n]));
                    }
                }
            });
        }
        Ok(Proc { name, child, lines, stderr, seen: Vec::new(), also: None })
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Waits for the process to end and returns (stdout, stderr).
    fn collect(&mut self) -> (String, String) {
        let _ = self.child.wait();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.seen.push(l);
        }
        std::thread::sleep(Duration::from_millis(20));
        (self.seen.join("\n"), self.stderr_text())
    }

    /// Waits for a stdout line starting with `prefix`; the error is the process's last stderr
    /// line if it exits first.
    fn wait_line(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
        let deadline = Instant::now() + limit;
        loop {
            interrupted()?;
            match self.lines.recv_timeout(Duration::from_millis(50)) {
                Ok(l) if l.starts_with(prefix) => return Ok(l),
                Ok(l) => self.seen.push(l),
                Err(_) => {
                    if let Ok(Some(status)) = self.child.try_wait() {
                        std::thread::sleep(Duration::from_millis(50));
                        let err = self.stderr_text();
                        let why = if err.trim().is_empty() {
                            status.to_string()
                        } else {
                            error_line(&err)
                        };
                        return Err(format!(
                            "{} exited: {}",
                            self.name,
                            why.trim_start_matches("xdptcp: error: ")
                        ));
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} printed no {prefix:?} line within {} s",
                    self.name,
                    limit.as_secs()
                ));
            }
        }
    }

    /// Waits until something listens on TCP `port` in namespace `ns`.
    fn wait_port(&mut self, ns: &str, port: u16) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            interrupted()?;
            let filter = format!("sport = :{port}");
            let listening = Command::new("ip")
                .args(["netns", "exec", ns, "ss", "-Hltn", &filter])
                .output()
                .is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).trim().is_empty());
            if listening {
                return Ok(());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                let err = self.stderr_text();
                let why = if err.trim().is_empty() { status.to_string() } else { error_line(&err) };
                return Err(format!("{} exited: {why}", self.name));
            }
            if Instant::now() > deadline {
                return Err(format!("{} is not listening on port {port} after 10 s", self.name));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let pid = self.child.id().to_string();
            let _ = Command::new("kill").args(["-TERM", &pid]).status();
            let deadline = Instant::now() + Duration::from_secs(3);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if matches!(self.child.try_wait(), Ok(None)) {
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
        drop(self.also.take());
    }
}

/// The lab; `xdptcp lab down` when dropped.
struct LabGuard {
    bin: PathBuf,
    name: String,
    stack_ns: String,
    kernel_ns: String,
    stack_if: String,
    kernel_if: String,
    /// The AF_XDP servers' address (NAME-a0, not the kernel's).
    xdp_ip: String,
    /// The kernel servers' address (added to NAME-a0).
    linux_ip: String,
    /// An xdptcp client's address (NAME-k0, not the kernel's).
    client_xdp_ip: String,
    /// The kernel's own address on NAME-k0 (nginx behind the proxies).
    kernel_ip: String,
}

impl LabGuard {
    fn up(bin: &Path, name: &str) -> Result<LabGuard, String> {
        let out = Command::new(bin)
            .args(["lab", "up", name])
            .output()
            .map_err(|e| format!("cannot run xdptcp lab up: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!(
                "lab up failed: {}",
                last_line(&String::from_utf8_lossy(&out.stderr))
            ));
        }
        let mut lab = LabGuard {
            bin: bin.to_path_buf(),
            name: name.to_string(),
            stack_ns: String::new(),
            kernel_ns: String::new(),
            stack_if: String::new(),
            kernel_if: String::new(),
            xdp_ip: String::new(),
            linux_ip: String::new(),
            client_xdp_ip: String::new(),
            kernel_ip: String::new(),
        };
        let vars: Vec<(&str, &str)> = text
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .collect();
        let var = |k: &str| vars.iter().find(|(key, _)| *key == k).map(|(_, v)| v.to_string());
        let (Some(sns), Some(kns), Some(sif), Some(kif), Some(sip)) =
            (var("STACK_NS"), var("KERNEL_NS"), var("STACK_IF"), var("KERNEL_IF"), var("STACK_IP"))
        else {
            return Err(format!("lab up printed no KEY=VALUE line: {}", last_line(&text)));
        };
        let prefix = sip.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
        lab.stack_ns = sns;
        lab.kernel_ns = kns;
        lab.stack_if = sif;
        lab.kernel_if = kif;
        lab.xdp_ip = sip;
        lab.linux_ip = format!("{prefix}.3");
        lab.kernel_ip = var("KERNEL_IP").unwrap_or_else(|| format!("{prefix}.1"));
        lab.client_xdp_ip = format!("{prefix}.4");
        Ok(lab)
    }

    fn add_linux_address(&self) -> Result<(), String> {
        output(Command::new("ip").args([
            "-n",
            &self.stack_ns,
            "addr",
            "add",
            &format!("{}/24", self.linux_ip),
            "dev",
            &self.stack_if,
        ]))?;
        // The kernel servers on NAME-a0 answer our AF_XDP client too: with TX checksum
        // offload on, veth hands over segments whose checksum is only partial (the receiver
        // is trusted to skip the check), which a stack reading raw frames must drop; so the
        // kernel fills checksums in software, as on NAME-k0 (scripts/lab.sh).
        output(Command::new("ip").args([
            "netns",
            "exec",
            &self.stack_ns,
            "ethtool",
            "-K",
            &self.stack_if,
            "tx",
            "off",
        ]))
        .map(|_| ())
    }

    /// Gives the Linux clients' namespace the ephemeral ports a connection-rate run needs.
    /// A `crr` client closes first, so each connection leaves a TIME-WAIT on the client for
    /// 60 s, holding its port: with the default range (28,232 ports) and no reuse, one 2 s
    /// combination at 7,500 conn/s uses half the range and the next combination runs short of
    /// ports — the rows measured later would pay for the earlier ones. A wide range and
    /// `tcp_tw_reuse` (reuse a TIME-WAIT port for a new connection once timestamps make it
    /// safe, RFC 7323 §5) are the usual settings of a load generator.
    fn tune_client_ports(&self) -> Result<(), String> {
        output(Command::new("ip").args([
            "netns",
            "exec",
            &self.kernel_ns,
            "sysctl",
            "-q",
            "-w",
            &format!("net.ipv4.ip_local_port_range={}", CLIENT_PORTS.replace('-', " ")),
            "net.ipv4.tcp_tw_reuse=1",
        ]))
        .map(|_| ())
    }

    /// Removes any XDP program from the stack-side interface (no-op if none).
    fn detach(&self, bin: &Path) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.stack_ns])
            .arg(bin)
            .args(["detach", "--iface", &self.stack_if])
            .output();
    }

    /// `timeout`-free `taskset -c CORE ip netns exec NS BIN ARGS` (the bench bounds clients
    /// itself and stops servers).
    fn in_ns(&self, ns: &str, core: &str, bin: &str, args: &[&str]) -> Command {
        self.in_ns_tool(ns, core, bin, args)
    }

    fn in_ns_tool(&self, ns: &str, core: &str, tool: &str, args: &[&str]) -> Command {
        let mut c = Command::new("taskset");
        c.args(["-c", core, "ip", "netns", "exec", ns, tool]).args(args);
        c
    }
}

impl Drop for LabGuard {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin).args(["lab", "down", &self.name]).output();
    }
}

/// A private directory for configs, logs and client reports; removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Result<TempDir, String> {
        let p = std::env::temp_dir().join(format!("xdptcp-bench-{name}"));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        Ok(TempDir(p))
    }

    fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().to_string()
    }

    fn path_str(&self) -> String {
        format!("{}/", self.0.to_string_lossy())
    }

    fn write(&self, name: &str, text: &str) -> Result<String, Outcome> {
        let path = self.file(name);
        std::fs::write(&path, text)
            .map_err(|e| Outcome::Failed(format!("cannot write {path}: {e}")))?;
        Ok(path)
    }

    /// nginx in the foreground, one worker, every path in this directory, listening on the
    /// lab address only, answering every request with a fixed body like `serve http`.
    fn nginx_conf(&self, ip: &str) -> Result<String, Outcome> {
        let dir = self.0.to_string_lossy();
        let body = "x".repeat(HTTP_BODY);
        let conf = format!(
            "daemon off;\nworker_processes 1;\npid {dir}/nginx.pid;\nerror_log {dir}/nginx-error.log warn;\n\
             events {{ worker_connections 4096; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {dir}/client_body;\n  proxy_temp_path {dir}/proxy;\n\
             \x20 fastcgi_temp_path {dir}/fastcgi;\n  uwsgi_temp_path {dir}/uwsgi;\n  scgi_temp_path {dir}/scgi;\n\
             \x20 keepalive_requests 1000000;\n\
             \x20 server {{\n    listen {ip}:{PORT_NGINX} reuseport;\n    location / {{ default_type text/plain; return 200 \"{body}\"; }}\n  }}\n}}\n"
        );
        self.write("nginx.conf", &conf)
    }

    /// HAProxy in TCP mode, one thread, in the foreground: the lab address to nginx.
    fn haproxy_conf(&self, ip: &str, backend: &str) -> Result<String, Outcome> {
        let conf = format!(
            "global\n  maxconn 8192\n  nbthread 1\n\ndefaults\n  mode tcp\n  timeout connect 5s\n  \
             timeout client 60s\n  timeout server 60s\n\nfrontend fe\n  bind {ip}:{PORT_HAPROXY}\n  \
             default_backend be\n\nbackend be\n  server nginx {backend}\n"
        );
        self.write("haproxy.cfg", &conf)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 1s test @ http://127.0.0.1:18080/\n  1 threads and 8 connections\n\
        \x20 Latency Distribution\n     50%   49.00us\n     75%   66.00us\n     90%   90.00us\n\
        \x20    99%    1.63ms\n  149188 requests in 1.10s, 29.88MB read\nRequests/sec: 135703.30\n\
        Transfer/sec:     27.18MB\n";

    #[test]
    fn wrk_output() {
        let p = parse_wrk(WRK).unwrap();
        assert!((p.rps - 135_703.30).abs() < 1e-6);
        assert_eq!(p.quantile(0.5), Some(49.0));
        assert_eq!(p.quantile(0.99), Some(1630.0));
        assert_eq!(p.latency.len(), 4);
        assert!(parse_wrk("unable to connect to 1.2.3.4:80 Connection refused").is_err());
        let non2xx = format!("{WRK}  Non-2xx or 3xx responses: 12\n");
        assert!(parse_wrk(&non2xx).unwrap_err().contains("Non-2xx"));
    }

    #[test]
    fn sockperf_output() {
        let out = "sockperf: [Total Run] RunTime=1.001 sec; Warm up time=400 msec; SentMessages=57490; ReceivedMessages=57489\n\
            sockperf: [Valid Duration] RunTime=0.550 sec; SentMessages=40505; ReceivedMessages=40505\n\
            sockperf: \u{1b}[2;35m====> avg-rtt=13.539 (std-dev=21.213)\u{1b}[0m\n\
            sockperf: ---> percentile 99.900 =  119.803\n\
            sockperf: ---> percentile 99.000 =   87.036\n\
            sockperf: ---> percentile 50.000 =    8.020\n\
            sockperf: ---> percentile 25.000 =    7.907\n";
        let p = parse_sockperf(out).unwrap();
        assert!((p.rps - 40505.0 / 0.55).abs() < 1e-6, "{}", p.rps);
        assert_eq!(p.quantile(0.5), Some(8.02));
        assert_eq!(p.quantile(0.99), Some(87.036));
        assert_eq!(p.latency.first().map(|x| x.0), Some(0.5), "sorted, below p50 dropped");
        assert!(parse_sockperf("sockperf: No messages were received from the server").is_err());
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
    fn units_and_ansi() {
        assert_eq!(duration_us("1.5s"), Some(1.5e6));
        assert_eq!(duration_us("2ms"), Some(2000.0));
        assert_eq!(duration_us("7.00us"), Some(7.0));
        assert_eq!(duration_us("7"), None);
        assert_eq!(strip_ansi("a\u{1b}[2;35mb\u{1b}[0mc"), "abc");
    }

    #[test]
    fn plan_covers_every_workload_with_linux_and_xdptcp() {
        let p = plan();
        for w in ["rr64x1", "rr64x64", "crr64", "bulk"] {
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
        assert!(p.iter().any(|c| c.workload == "raw-xdp" && c.server == Server::Reflector));
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
        assert!(not_built("--stack xdptcp: the AF_XDP driver is not built yet; use --stack linux"));
        assert!(not_built("error: unexpected argument '--iface' found"));
        assert!(!not_built("connection refused"));
    }
}
