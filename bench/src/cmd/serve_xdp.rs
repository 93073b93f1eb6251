//! `xdptcp serve-xdp udp-echo --iface IF --ip ADDR/PREFIX ...`: the xdptcp stack on AF_XDP,
//! one pinned worker per queue (`xdptcp_driver::runtime::Runtime`), serving an application
//! until SIGINT/SIGTERM.
//!
//! Prints `listening on ADDR:PORT (queues .., cores .., xdp MODE, bind MODE)` once every
//! worker serves, one `stats` line per worker every `--stats-interval` seconds, and one
//! `final` line per worker plus a `total` line when it stops (exit 0). Every error is one line
//! on stderr and a non-zero exit. The checks before anything is attached: the interface
//! exists, the queues exist, the cores exist, and the kernel does not already own the address
//! on that interface (it would answer ARP and ICMP for it too, and reset our TCP).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use std::sync::Arc;
use xdptcp_bench::apps::{http, AppSpec};
use xdptcp_bench::xdp::server::AppService;
use xdptcp_driver::runtime::{available_cores, Runtime, RuntimeConfig, RuntimeInfo, WorkerStats};
use xdptcp_driver::services::Echo;
use xdptcp_driver::signal;
use xdptcp_driver::worker::App;
use xdptcp_driver::xdp::{BindMode, NetIf, XdpConfig, XdpMode};
use xdptcp_driver::Host;
use xdptcp_stack::stack::Stack;

/// Which application to serve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AppName {
    /// Send every UDP datagram on --port back to its sender (ARP and ICMP echo always work).
    UdpEcho,
    /// TCP echo on --port (the sans-IO `apps` echo over the xdptcp stack).
    Echo,
    /// TCP discard on --port.
    Discard,
    /// HTTP/1.1 on --port, answering 200 with --body-bytes bytes.
    Http,
    /// Send every frame for --ip straight back (MACs, IPs and UDP/TCP ports swapped; ARP
    /// answered) with no stack: the raw AF_XDP ceiling (`cmd::reflect`).
    Reflect,
}

/// `--xdp-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum XdpModeArg {
    /// Native, falling back to generic.
    Auto,
    /// In the driver.
    Native,
    /// In the kernel's generic (skb) path.
    Generic,
}

/// `--bind-mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BindModeArg {
    /// Zero-copy, falling back to copy.
    Auto,
    /// Zero-copy only.
    ZeroCopy,
    /// Copy only.
    Copy,
}

/// Arguments of `xdptcp serve-xdp`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The application.
    #[arg(value_enum)]
    pub app: AppName,
    /// `serve APP --queues N` (not a flag of serve-xdp): the app to serve, any of `serve`'s,
    /// instead of `app`.
    #[arg(skip)]
    pub spec: Option<AppSpec>,
    /// `serve --fault` with `--queues N` (not a flag of serve-xdp): every worker's device
    /// impaired.
    #[arg(skip)]
    pub fault: Option<xdptcp_driver::FaultConfig>,
    /// Interface to take over (XDP program + one AF_XDP socket per queue).
    #[arg(long)]
    pub iface: String,
    /// The stack's address and prefix length, e.g. 198.18.7.2/24, then any IPv6 addresses
    /// with theirs, comma-separated (198.18.7.2/24,2001:db8::2/64). Must not be addresses the
    /// kernel has on the interface.
    #[arg(long)]
    pub ip: String,
    /// Default gateway for off-link peers.
    #[arg(long)]
    pub gateway: Option<Ipv4Addr>,
    /// UDP port of the echo application.
    #[arg(long, default_value_t = 7)]
    pub port: u16,
    /// Queues to serve (0..N), one worker each.
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// Cores of the workers, one per queue: "0,1" or "2-3" (default: 0..N-1 modulo the
    /// available cores).
    #[arg(long)]
    pub cores: Option<String>,
    /// The NIC's RSS key (with --queues N > 1): microsoft (default), symmetric, or 40 hex
    /// bytes as `ethtool -x IF` prints them.
    #[arg(long)]
    pub rss_key: Option<String>,
    /// XDP attach mode.
    #[arg(long, value_enum, default_value_t = XdpModeArg::Auto)]
    pub xdp_mode: XdpModeArg,
    /// AF_XDP bind mode.
    #[arg(long, value_enum, default_value_t = BindModeArg::Auto)]
    pub bind_mode: BindModeArg,
    /// Capture every frame (FILE, or FILE.qN.EXT per queue with several queues).
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// Print per-worker counters every SECS seconds (0: only at the end).
    #[arg(long, default_value_t = 0)]
    pub stats_interval: u64,
    /// UMEM frame size (2048 or 4096).
    #[arg(long, default_value_t = 2048)]
    pub frame_size: u32,
    /// HTTP response body size.
    #[arg(long, default_value_t = 128)]
    pub body_bytes: usize,
    /// Fix each connection's TCP send and receive buffer at this many KiB (auto-tuning off,
    /// as SO_SNDBUF/SO_RCVBUF do). Default: Linux's tcp_wmem/tcp_rmem, auto-tuned.
    #[arg(long)]
    pub buffer_kib: Option<usize>,
    /// Listen backlog of the TCP applications.
    #[arg(long, default_value_t = 4096)]
    pub backlog: usize,
    /// Most connections each worker's stack holds (any state).
    #[arg(long, default_value_t = 65536)]
    pub max_connections: usize,
    /// Sleep this many microseconds when idle (with --idle-wait-after-us off).
    #[arg(long, default_value_t = 0)]
    pub idle_sleep_us: u64,
    /// Preferred busy polling of each AF_XDP socket: SO_BUSY_POLL microseconds per poll
    /// (also sets SO_PREFER_BUSY_POLL; off by default).
    #[arg(long)]
    pub busy_poll_us: Option<u32>,
    /// SO_BUSY_POLL_BUDGET: packets per busy poll (default 64; needs --busy-poll-us).
    #[arg(long)]
    pub busy_poll_budget: Option<u32>,
    /// Who completes TCP/UDP checksums on transmit: auto, offload, kernel or software.
    #[arg(long, default_value = "auto")]
    pub tx_checksum: String,
    /// After this many microseconds without a frame, a worker sleeps in poll() on its AF_XDP
    /// socket until a frame arrives or its next timer is due; `off` busy-polls the core.
    #[arg(long, default_value = xdptcp_bench::xdp::DEFAULT_IDLE_WAIT_AFTER_US)]
    pub idle_wait_after_us: String,
    /// Each worker thread's scheduling: inherit, slice:US (a short fair-scheduler slice,
    /// Linux 6.12+) or fifo:PRIO (SCHED_FIFO, needs CAP_SYS_NICE).
    #[arg(long, default_value = "inherit")]
    pub sched: String,
}

/// `ADDR/PREFIX`.
pub(super) fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s
        .split_once('/')
        .ok_or_else(|| format!("--ip {s}: give ADDR/PREFIX, e.g. 198.18.7.2/24"))?;
    let addr: Ipv4Addr = a.parse().map_err(|e| format!("--ip {s}: bad address: {e}"))?;
    let prefix: u8 = p.parse().map_err(|_| format!("--ip {s}: bad prefix length {p:?}"))?;
    if prefix > 32 || addr.is_unspecified() || addr.is_broadcast() || addr.is_multicast() {
        return Err(format!("--ip {s}: not a usable host address and prefix"));
    }
    Ok((addr, prefix))
}

/// `0,1` / `2-3` / `0,2-3`.
pub(super) fn parse_cores(s: &str) -> Result<Vec<usize>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("--cores {s}: {part:?} is not a core number or range");
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) =
                    (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                if a > b || b - a > 1024 {
                    return Err(bad());
                }
                out.extend(a..=b);
            }
            None => out.push(part.parse().map_err(|_| bad())?),
        }
    }
    Ok(out)
}

/// A compact list: `0-3` for consecutive numbers, else comma-separated.
fn show_list<T: Copy + Into<u64>>(v: &[T]) -> String {
    let n: Vec<u64> = v.iter().map(|&x| x.into()).collect();
    if n.len() > 2 && n.windows(2).all(|w| w[1] == w[0] + 1) {
        return format!("{}-{}", n[0], n[n.len() - 1]);
    }
    n.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
}

/// The IPv4 addresses the kernel has on `iface` (`ip -o -4 addr show dev IF`).
pub(super) fn kernel_addresses(iface: &str) -> Result<Vec<Ipv4Addr>, String> {
    let out = Command::new("ip")
        .args(["-o", "-4", "addr", "show", "dev", iface])
        .output()
        .map_err(|e| format!("cannot run 'ip' to check {iface}'s addresses: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "'ip -o -4 addr show dev {iface}' failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    Ok(parse_ip_addr_output(&String::from_utf8_lossy(&out.stdout)))
}

/// The addresses in `ip -o -4 addr` lines (`2: eth0    inet 10.0.0.1/24 brd ... `).
fn parse_ip_addr_output(text: &str) -> Vec<Ipv4Addr> {
    text.lines()
        .filter_map(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "inet")?;
            words.next()?.split('/').next()?.parse().ok()
        })
        .collect()
}

/// Runs the application until SIGINT/SIGTERM.
pub fn run(args: &Args) -> Result<(), String> {
    if args.app == AppName::Reflect {
        return super::reflect::run(args);
    }
    let (config, addr) = runtime_config(args)?;
    signal::install().map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let port = args.port;
    let spec = match (&args.spec, args.app) {
        (Some(spec), _) => spec.clone(),
        (None, app) => match app {
            AppName::UdpEcho => {
                return serve(args, addr, config, move |_| Ok(Host::new(Echo::udp(port))))
            }
            AppName::Echo => AppSpec::Echo,
            AppName::Discard => AppSpec::Discard,
            AppName::Http => AppSpec::Http(Arc::new(http::Config::new(args.body_bytes))),
            AppName::Reflect => return super::reflect::run(args),
        },
    };
    if port == 0 {
        return Err("--port must be between 1 and 65535".into());
    }
    let backlog = args.backlog.max(1);
    serve(args, addr, config, move |_| {
        Ok(Host::new(AppService::new(spec.clone(), std::net::Ipv6Addr::UNSPECIFIED, port, backlog)))
    })
}

/// Checks the options against the system (before anything is attached) and makes the
/// runtime's configuration; also the stack's IPv4 address. Every command that runs on
/// several queues starts from here.
pub fn runtime_config(args: &Args) -> Result<(RuntimeConfig, Ipv4Addr), String> {
    // The key first: a typo in it is reported before anything is looked up.
    let rss = match &args.rss_key {
        None => None,
        Some(_) if args.queues < 2 => {
            return Err("--rss-key applies to --queues N with N > 1 (one queue needs no RSS)".into())
        }
        Some(key) => {
            let key = xdptcp_driver::rss::parse_key(key).map_err(|e| format!("--rss-key: {e}"))?;
            let queues =
                u16::try_from(args.queues).map_err(|_| "--queues: too many".to_string())?;
            Some(xdptcp_driver::rss::Rss::new(key, queues).map_err(|e| format!("--rss-key: {e}"))?)
        }
    };
    let (v4, ipv6) = xdptcp_bench::xdp::split_ip_list(&args.ip)?;
    let (addr, prefix) = parse_cidr(&v4)?;
    let busy_poll = xdptcp_bench::xdp::parse_busy_poll(args.busy_poll_us, args.busy_poll_budget)?;
    if args.queues == 0 {
        return Err("--queues must be at least 1".into());
    }
    let netif = NetIf::lookup(&args.iface).map_err(|e| e.to_string())?;
    if args.queues > netif.rx_queues {
        return Err(format!(
            "--queues {}: {} has {} queue(s); raise them with 'ethtool -L {} combined N'",
            args.queues, args.iface, netif.rx_queues, args.iface
        ));
    }
    let available = available_cores();
    let cores = match &args.cores {
        Some(s) => parse_cores(s)?,
        None => xdptcp_driver::runtime::default_cores(args.queues as usize),
    };
    if cores.len() != args.queues as usize {
        return Err(format!(
            "--cores names {} core(s) for {} queue(s); give one per queue",
            cores.len(),
            args.queues
        ));
    }
    if let Some(c) = cores.iter().find(|c| !available.is_empty() && !available.contains(c)) {
        return Err(format!(
            "--cores: core {c} is not available to this process (available: {})",
            show_list(&available.iter().map(|&c| c as u64).collect::<Vec<_>>())
        ));
    }
    if kernel_addresses(&args.iface)?.contains(&addr) {
        return Err(format!(
            "{addr} is already an address of the kernel on {}: the kernel would answer for it too; remove it (ip addr del {addr}/{prefix} dev {}) or pick another",
            args.iface, args.iface
        ));
    }

    let xdp = XdpConfig {
        frame_size: args.frame_size,
        bind: match args.bind_mode {
            BindModeArg::Auto => BindMode::Auto,
            BindModeArg::ZeroCopy => BindMode::ZeroCopy,
            BindModeArg::Copy => BindMode::Copy,
        },
        xdp_mode: match args.xdp_mode {
            XdpModeArg::Auto => XdpMode::Auto,
            XdpModeArg::Native => XdpMode::Native,
            XdpModeArg::Generic => XdpMode::Generic,
        },
        busy_poll,
        tx_checksum: xdptcp_bench::xdp::parse_tx_checksum(&args.tx_checksum)?,
        ipv6,
        ..XdpConfig::new(&args.iface, addr)
    };
    let mut config = RuntimeConfig::new(xdp, prefix, args.queues);
    config.idle = xdptcp_bench::xdp::parse_idle(&args.idle_wait_after_us, args.idle_sleep_us)?;
    if args.max_connections == 0 || args.max_connections > 4 << 20 {
        return Err("--max-connections must be between 1 and 4194304".into());
    }
    config.max_connections = args.max_connections;
    config.sched = xdptcp_driver::sched::ThreadSched::parse(&args.sched)?;
    config.gateway = args.gateway;
    config.cores = cores.clone();
    config.pcap = args.pcap.clone();
    config.fault = args.fault;

    if let Some(b) = args.buffer_kib {
        if !(4..=65536).contains(&b) {
            return Err(format!("--buffer-kib {b}: must be between 4 and 65536"));
        }
        config.tcp = config.tcp.with_fixed_buffers(b * 1024, b * 1024);
    }
    if let Some(rss) = rss {
        config.rss = Some(Arc::new(rss));
    }
    Ok((config, addr))
}

/// The ready line's `(queues 0,1, cores 0,1, xdp MODE, bind MODE, tx-checksum MODE)`.
pub fn describe(info: &RuntimeInfo) -> String {
    format!(
        "(queues {}, cores {}, xdp {}, bind {}, tx-checksum {})",
        show_list(&info.queues),
        show_list(&info.cores.iter().map(|&c| c as u64).collect::<Vec<_>>()),
        info.xdp_mode.name(),
        info.bind_mode.name(),
        info.tx_checksum.name(),
    )
}

/// Runs the workers until SIGINT/SIGTERM, or until `done` says so, printing each worker's
/// counters every `stats_interval` seconds (0: never); then stops them, prints a `final` line
/// per worker and returns their final counters, whether a signal stopped them, and the
/// workers' errors.
pub fn wait_and_stop(
    runtime: Runtime,
    stats_interval: u64,
    done: impl Fn(&Runtime) -> bool,
) -> (Vec<WorkerStats>, bool, Vec<String>) {
    let interval = Duration::from_secs(stats_interval);
    let mut next = Instant::now() + interval;
    while !signal::requested() && !done(&runtime) {
        std::thread::sleep(Duration::from_millis(50));
        if !interval.is_zero() && Instant::now() >= next {
            for s in runtime.stats(Duration::from_secs(1)) {
                println!("stats {}", s.line());
            }
            next += interval;
        }
    }
    let stopped_by_signal = signal::requested();
    let mut errors = Vec::new();
    let mut ok: Vec<WorkerStats> = Vec::new();
    for r in runtime.stop() {
        match r {
            Ok(s) => ok.push(s),
            Err(e) => errors.push(e),
        }
    }
    for s in &ok {
        println!("final {}", s.line());
    }
    (ok, stopped_by_signal, errors)
}

/// Starts the runtime with `make_app`, runs until SIGINT/SIGTERM, prints the counters.
fn serve<A, F>(
    args: &Args,
    addr: Ipv4Addr,
    config: RuntimeConfig,
    make_app: F,
) -> Result<(), String>
where
    A: App + 'static,
    F: Fn(&mut Stack) -> Result<A, String> + Send + Sync + 'static,
{
    let port = args.port;
    let ipv6_enabled = !config.xdp.ipv6.is_empty();
    let ipv6_list: Vec<String> =
        config.xdp.ipv6.iter().map(|c| format!("{}/{}", c.addr, c.prefix_len)).collect();
    let runtime = Runtime::start(config, make_app)?;
    println!("listening on {addr}:{port} {}", describe(runtime.info()));
    if ipv6_enabled {
        println!(
            "ipv6 addresses {} and the link-local one (after duplicate address detection)",
            ipv6_list.join(" ")
        );
    }

    let (ok, stopped_by_signal, errors) =
        wait_and_stop(runtime, args.stats_interval, Runtime::any_finished);
    let sum = |f: fn(&WorkerStats) -> u64| ok.iter().map(f).sum::<u64>();
    let app = |name: &'static str| {
        move |s: &WorkerStats| s.app.iter().find(|(k, _)| *k == name).map_or(0, |(_, v)| *v)
    };
    println!(
        "total: rx {} tx {} steered {} udp-echoed {} icmp-echo-replied {} arp-replies-sent {} \
         tcp-accepted {} tcp-closed {} tcp-errors {} tcp-bytes-in {} tcp-bytes-out {}",
        sum(|s| s.worker_counters.rx_frames),
        sum(|s| s.worker_counters.tx_frames),
        sum(|s| s.steer.steered_out),
        ok.iter().map(app("udp_echoed")).sum::<u64>(),
        sum(|s| s.iface.icmp_echo_replied),
        sum(|s| s.iface.arp_replies_sent),
        ok.iter().map(app("opened")).sum::<u64>(),
        ok.iter().map(app("closed")).sum::<u64>(),
        ok.iter().map(app("failed")).sum::<u64>(),
        ok.iter().map(app("bytes_in")).sum::<u64>(),
        ok.iter().map(app("bytes_out")).sum::<u64>(),
    );
    if ipv6_enabled {
        // Each worker runs its own detection and neighbour cache; the sums say what the
        // workers did together.
        println!(
            "ipv6: icmpv6-echo-replied {} ns-received {} na-sent {} ns-sent {} na-received {} \
             neighbors-learned {} dad-ok {} dad-duplicate {} address-conflicts {} unsupported {}",
            sum(|s| s.iface.icmpv6_echo_replied),
            sum(|s| s.iface.ndp_solicits_received),
            sum(|s| s.iface.ndp_adverts_sent),
            sum(|s| s.iface.ndp_solicits_sent),
            sum(|s| s.iface.ndp_adverts_received),
            sum(|s| s.iface.ndp_learned),
            sum(|s| s.iface.ndp_dad_succeeded),
            sum(|s| s.iface.ndp_dad_duplicates),
            sum(|s| s.iface.ndp_address_conflicts),
            sum(|s| s.iface.rx_ipv6_unsupported),
        );
    }
    let tcp: Vec<String> = {
        let mut total = xdptcp_stack::tcp::TcpCounters::default();
        for s in &ok {
            total.add(&s.tcp);
        }
        xdptcp_bench::xdp::nstat_lines(&total)
            .into_iter()
            .filter(|(_, v)| *v != 0)
            .map(|(k, v)| format!("{k} {v}"))
            .collect()
    };
    println!("tcp: {}", tcp.join(", "));
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    if !stopped_by_signal {
        return Err("a worker stopped unexpectedly".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr() {
        assert_eq!(parse_cidr("198.18.7.2/24"), Ok((Ipv4Addr::new(198, 18, 7, 2), 24)));
        assert!(parse_cidr("198.18.7.2").unwrap_err().contains("ADDR/PREFIX"));
        assert!(parse_cidr("198.18.7.2/33").is_err());
        assert!(parse_cidr("0.0.0.0/0").is_err());
        assert!(parse_cidr("x/24").is_err());
    }

    #[test]
    fn cores() {
        assert_eq!(parse_cores("0,1"), Ok(vec![0, 1]));
        assert_eq!(parse_cores("2-4,7"), Ok(vec![2, 3, 4, 7]));
        assert!(parse_cores("3-1").is_err());
        assert!(parse_cores("a").is_err());
        assert_eq!(show_list(&[0u32, 1, 2, 3]), "0-3");
        assert_eq!(show_list(&[0u32, 1]), "0,1");
        assert_eq!(show_list(&[1u64, 3]), "1,3");
    }

    #[test]
    fn ip_addr_lines() {
        let text = "2: eth0    inet 10.0.0.1/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever\n\
                    2: eth0    inet 198.18.7.2/32 scope global eth0\n";
        assert_eq!(
            parse_ip_addr_output(text),
            vec![Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(198, 18, 7, 2)]
        );
        assert!(parse_ip_addr_output("").is_empty());
    }
}
