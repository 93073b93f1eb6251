//! Running applications on the xdptcp stack over AF_XDP: the options every `--stack xdptcp`
//! command shares, one worker on one queue brought up by the driver's one launch path
//! ([`runtime::launch`], with the fault injector, the pcap capture and busy polling as its
//! options), its ready line, periodic counters, the graceful stop, and the counters printed
//! at the end.

pub mod client;
pub mod flood;
#[cfg(test)]
mod kick_budget;
pub mod load;
pub mod reflector;
pub mod rudp;
pub mod server;
pub mod source;

use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::PathBuf;
use std::time::Duration;

use xdptcp_driver::app::App as DriverApp;
use xdptcp_driver::fault::{FaultConfig, Impairments};
use xdptcp_driver::runtime::{self, RuntimeConfig, StackChange, WorkerEvents, WorkerSlot};
use xdptcp_driver::sched::ThreadSched;
use xdptcp_driver::worker::{self, Stop, Worker};
use xdptcp_driver::xdp::{BindMode, BusyPoll, TxChecksum, XdpBacked, XdpMode};
use xdptcp_driver::{signal, Builder};
use xdptcp_stack::iface::Ipv6Cidr;
use xdptcp_stack::tcp::listen::CookieMode;
use xdptcp_stack::tcp::TcpCounters;

/// Everything a `--stack xdptcp` command needs to bring up one worker.
#[derive(Debug, Clone)]
pub struct XdpOptions {
    /// Interface to attach to.
    pub iface: String,
    /// The stack's address and prefix length.
    pub addr: Ipv4Addr,
    pub prefix_len: u8,
    /// IPv6 addresses besides the link-local one (empty: IPv4 only).
    pub ipv6: Vec<Ipv6Cidr>,
    /// Default router.
    pub gateway: Option<Ipv4Addr>,
    /// RX/TX queue of the worker.
    pub queue: u32,
    /// Core to pin the worker to.
    pub core: Option<usize>,
    pub xdp_mode: XdpMode,
    pub bind: BindMode,
    /// Capture every frame the stack sees and sends.
    pub pcap: Option<PathBuf>,
    /// Print counters this often.
    pub stats_interval: Option<Duration>,
    /// Impairments applied inside the stack's device (both directions).
    pub fault: Option<FaultConfig>,
    /// Fixed per-connection send and receive buffer size (auto-tuning off); `None`: Linux's
    /// `tcp_wmem`/`tcp_rmem` with auto-tuning.
    pub fixed_buffers: Option<usize>,
    /// Most connections the stack holds.
    pub max_connections: usize,
    /// What the worker does when no frame moved (`--idle-sleep-us`, `--idle-wait-after-us`).
    pub idle: worker::IdlePolicy,
    /// How the worker thread asks the scheduler for its core (`--sched`).
    pub sched: ThreadSched,
    /// Preferred busy polling of the AF_XDP socket (`--busy-poll-us`).
    pub busy_poll: Option<BusyPoll>,
    /// Who completes TCP/UDP checksums on transmit (`--tx-checksum`).
    pub tx_checksum: TxChecksum,
    /// Ephemeral ports for active opens (`--local-ports`); the stack's default otherwise.
    pub local_ports: Option<std::ops::RangeInclusive<u16>>,
    /// When listeners answer with SYN cookies (`serve --syn-cookies`); Linux's default
    /// (only when the SYN queue is full) otherwise.
    pub syn_cookies: CookieMode,
}

/// Splits `--ip`'s comma-separated list into its one IPv4 item (returned as written, for the
/// IPv4 parser of the command) and its IPv6 items, each `ADDR/PREFIX` with the prefix
/// required (0..128). An IPv6 address must be a unicast global or unique-local one: the
/// link-local address is formed from the MAC, and `::`, `::1` and groups are refused, as are
/// repeats. Exactly one IPv4 address is needed: `Interface` is built around one (an
/// IPv6-only interface is not supported yet).
pub fn split_ip_list(s: &str) -> Result<(String, Vec<Ipv6Cidr>), String> {
    let mut v4 = None;
    let mut v6: Vec<Ipv6Cidr> = Vec::new();
    for item in s.split(',').map(str::trim) {
        if item.is_empty() {
            return Err(format!("--ip {s}: an empty item in the list"));
        }
        let (a, p) = match item.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (item, None),
        };
        if !a.contains(':') {
            if v4.replace(item.to_string()).is_some() {
                return Err(format!("--ip {s}: more than one IPv4 address (one is supported)"));
            }
            continue;
        }
        let addr: Ipv6Addr =
            a.parse().map_err(|_| format!("bad IPv6 address '{a}' in --ip {s}"))?;
        let p = p.ok_or_else(|| format!("--ip {s}: give {a} a prefix length, e.g. {a}/64"))?;
        let prefix_len: u8 = p
            .parse()
            .ok()
            .filter(|p| *p <= 128)
            .ok_or_else(|| format!("bad prefix length '{p}' in --ip {s} (0..128)"))?;
        let link_local = addr.segments()[0] & 0xffc0 == 0xfe80;
        if addr.is_unspecified() || addr.is_loopback() || addr.is_multicast() || link_local {
            return Err(format!(
                "--ip {s}: {addr} is not a global unicast address (the link-local one is formed from the MAC)"
            ));
        }
        if v6.iter().any(|c| c.addr == addr) {
            return Err(format!("--ip {s}: {addr} given twice"));
        }
        v6.push(Ipv6Cidr::new(addr, prefix_len));
    }
    if v6.len() >= xdptcp_driver::xdp::MAX_IPV6_ADDRS {
        return Err(format!(
            "--ip {s}: at most {} IPv6 addresses",
            xdptcp_driver::xdp::MAX_IPV6_ADDRS - 1
        ));
    }
    let v4 = v4.ok_or_else(|| {
        format!("--ip {s}: an IPv4 address is needed as well, e.g. 198.18.0.2/24,{s} (an IPv6-only interface is not supported yet)")
    })?;
    Ok((v4, v6))
}

/// Parses `ADDR/PREFIX` (a bare address means /24).
pub fn parse_cidr(s: &str) -> Result<(Ipv4Addr, u8), String> {
    let (a, p) = s.split_once('/').unwrap_or((s, "24"));
    let addr: Ipv4Addr = a.parse().map_err(|_| format!("bad IPv4 address '{a}' in --ip {s}"))?;
    let prefix: u8 = p
        .parse()
        .ok()
        .filter(|p| *p <= 32)
        .ok_or_else(|| format!("bad prefix length '{p}' in --ip {s} (0..32)"))?;
    if addr.is_unspecified() || addr.is_multicast() || addr.is_broadcast() {
        return Err(format!("--ip {s}: the stack needs a unicast address"));
    }
    Ok((addr, prefix))
}

/// Parses `--fault loss=2,reorder=1,dup=0.5,delay-us=200,jitter-us=50,reorder-us=300,seed=7`
/// (percentages). A key applies to both directions; prefixed `rx-` or `tx-` (e.g.
/// `rx-loss=2`) to frames the stack receives or sends only.
pub fn parse_fault(s: &str) -> Result<FaultConfig, String> {
    let mut rx = Impairments::NONE;
    let mut tx = Impairments::NONE;
    let mut seed = 1;
    for item in s.split(',').filter(|i| !i.is_empty()) {
        let (k, v) =
            item.split_once('=').ok_or_else(|| format!("--fault: '{item}' is not KEY=VALUE"))?;
        let num: f64 = v.parse().map_err(|_| format!("--fault: bad number '{v}' for {k}"))?;
        if !(0.0..=1e9).contains(&num) {
            return Err(format!("--fault: {k}={v} is out of range"));
        }
        if k == "seed" {
            seed = num as u64;
            continue;
        }
        let (dirs, key): (&mut [&mut Impairments], &str) = match k.split_once('-') {
            Some(("rx", key)) => (&mut [&mut rx], key),
            Some(("tx", key)) => (&mut [&mut tx], key),
            _ => (&mut [&mut rx, &mut tx], k),
        };
        for imp in dirs.iter_mut() {
            set_impairment(imp, key, k, v, num)?;
        }
    }
    for imp in [&mut rx, &mut tx] {
        if imp.reorder_ppm > 0 && imp.reorder_delay == xdptcp_stack::time::Duration::ZERO {
            imp.reorder_delay = xdptcp_stack::time::Duration::from_micros(500);
        }
    }
    Ok(FaultConfig { rx, tx, seed, frames: 8192 })
}

fn set_impairment(
    imp: &mut Impairments,
    key: &str,
    k: &str,
    v: &str,
    num: f64,
) -> Result<(), String> {
    let ppm = || -> Result<u32, String> {
        if num > 100.0 {
            return Err(format!("--fault: {k}={v} is not a percentage"));
        }
        Ok((num * 10_000.0).round() as u32)
    };
    let us = xdptcp_stack::time::Duration::from_micros(num as u64);
    match key {
        "loss" => imp.loss_ppm = ppm()?,
        "reorder" => imp.reorder_ppm = ppm()?,
        "dup" => imp.duplicate_ppm = ppm()?,
        "corrupt" => imp.corrupt_ppm = ppm()?,
        "delay-us" => imp.delay = us,
        "jitter-us" => imp.jitter = us,
        "reorder-us" => imp.reorder_delay = us,
        _ => {
            return Err(format!(
                "--fault: unknown key '{k}' (loss, reorder, dup, corrupt, delay-us, jitter-us, \
                 reorder-us, each optionally rx- or tx-; seed)"
            ))
        }
    }
    Ok(())
}

/// Parses `xdp` mode names.
pub fn parse_xdp_mode(s: &str) -> Result<XdpMode, String> {
    match s {
        "auto" => Ok(XdpMode::Auto),
        "native" => Ok(XdpMode::Native),
        "generic" => Ok(XdpMode::Generic),
        _ => Err(format!("--xdp-mode {s}: expected auto, native or generic")),
    }
}

/// Parses bind mode names.
pub fn parse_bind_mode(s: &str) -> Result<BindMode, String> {
    match s {
        "auto" => Ok(BindMode::Auto),
        "zero-copy" => Ok(BindMode::ZeroCopy),
        "copy" => Ok(BindMode::Copy),
        _ => Err(format!("--bind-mode {s}: expected auto, zero-copy or copy")),
    }
}

/// Parses `--local-ports LOW-HIGH` (ephemeral ports for active opens).
pub fn parse_port_range(s: &str) -> Result<std::ops::RangeInclusive<u16>, String> {
    let bad = || format!("--local-ports {s}: expected LOW-HIGH, 1 <= LOW <= HIGH <= 65535");
    let (lo, hi) = s.split_once('-').ok_or_else(bad)?;
    let (lo, hi): (u16, u16) =
        (lo.trim().parse().map_err(|_| bad())?, hi.trim().parse().map_err(|_| bad())?);
    if lo == 0 || lo > hi {
        return Err(bad());
    }
    Ok(lo..=hi)
}

/// The default of `--idle-wait-after-us`: 50 µs. Under load frames arrive far more often
/// than that and the worker never sleeps (rr64x1 between two xdptcp stacks, a request every
/// 5 µs, kept its rate); a peer that leaves the worker idle longer — a Linux client's 70 µs
/// round trip, an idle server — gets the core back between frames. Measured in
/// docs/benchmarks.md ("Idle policy"), against `off` and 0 µs (which paid a wakeup per request).
pub const DEFAULT_IDLE_WAIT_AFTER_US: &str = "50";

/// The idle policy of `--idle-wait-after-us US|off` and `--idle-sleep-us US` (the older
/// option; it needs `--idle-wait-after-us off`).
pub fn parse_idle(wait_after_us: &str, idle_sleep_us: u64) -> Result<worker::IdlePolicy, String> {
    use worker::IdlePolicy;
    let wait_after = match wait_after_us {
        "off" => None,
        us => Some(us.parse::<u64>().ok().filter(|us| *us <= 10_000_000).ok_or_else(|| {
            format!("--idle-wait-after-us {us}: expected microseconds (0..=10000000) or off")
        })?),
    };
    match (wait_after, idle_sleep_us) {
        (None, us) => Ok(IdlePolicy::from_sleep(Duration::from_micros(us))),
        (Some(us), 0) => Ok(IdlePolicy::SpinThenWait { spin: Duration::from_micros(us) }),
        (Some(_), _) => Err("--idle-sleep-us and --idle-wait-after-us are two idle policies: \
                             give one (--idle-wait-after-us off with --idle-sleep-us)"
            .into()),
    }
}

/// Parses `--tx-checksum auto|offload|kernel|software`.
pub fn parse_tx_checksum(s: &str) -> Result<TxChecksum, String> {
    TxChecksum::parse(s)
        .ok_or_else(|| format!("--tx-checksum {s}: expected auto, offload, kernel or software"))
}

/// Parses `--busy-poll-us N` and `--busy-poll-budget N` (off unless N µs is given; the
/// budget defaults to the kernel's NAPI budget of 64).
pub fn parse_busy_poll(
    usecs: Option<u32>,
    budget: Option<u32>,
) -> Result<Option<BusyPoll>, String> {
    let usecs = match (usecs, budget) {
        (None | Some(0), None) => return Ok(None),
        (None | Some(0), Some(_)) => {
            return Err("--busy-poll-budget needs --busy-poll-us N (N >= 1)".into())
        }
        (Some(us), _) if us > i32::MAX as u32 => {
            return Err(format!("--busy-poll-us {us}: must be between 1 and {}", i32::MAX))
        }
        (Some(us), _) => us,
    };
    let budget = match budget {
        None => xdptcp_driver::xdp::busy_poll::DEFAULT_BUSY_POLL_BUDGET,
        Some(b) => u16::try_from(b)
            .ok()
            .filter(|b| *b > 0)
            .ok_or_else(|| format!("--busy-poll-budget {b}: must be between 1 and 65535"))?,
    };
    Ok(Some(BusyPoll { usecs, budget }))
}

/// What the worker's start-up reports to the caller, for its "ready" line.
#[derive(Debug, Clone)]
pub struct Ready {
    pub addr: Ipv4Addr,
    pub queue: u32,
    pub core: Option<usize>,
    pub xdp_mode: XdpMode,
    pub bind: BindMode,
    /// Who completes TCP/UDP checksums on transmit.
    pub tx_checksum: TxChecksum,
    /// `SO_BUSY_POLL` µs as the kernel reports it for the socket, when preferred busy
    /// polling is on.
    pub busy_poll_us: Option<u32>,
    /// The worker's scheduling, when not inherited.
    pub sched: ThreadSched,
}

impl Ready {
    /// ` (queue Q, core C, xdp native, bind copy)`
    pub fn describe(&self) -> String {
        let core = self.core.map_or_else(|| "any".to_string(), |c| c.to_string());
        let busy = self.busy_poll_us.map_or_else(String::new, |us| format!(", busy-poll {us} us"));
        let sched = match self.sched {
            ThreadSched::Inherit => String::new(),
            s => format!(", sched {}", s.name()),
        };
        format!(
            "(queue {}, core {core}, xdp {}, bind {}, tx-checksum {}{busy}{sched})",
            self.queue,
            self.xdp_mode.name(),
            self.bind.name(),
            self.tx_checksum.name()
        )
    }
}

/// The hooks of one run: the ready line, the summary line. (An application whose `start`
/// failed reports it through [`App::start_error`](DriverApp::start_error), which aborts the
/// run.)
pub trait Hooks<A> {
    /// The device is diverting traffic to us.
    fn ready(&mut self, ready: &Ready);
    /// One line about the application, for the periodic and final counters.
    fn summary(&self, app: &A) -> String;
}

impl XdpOptions {
    /// The driver's [`Builder`] with these settings, for a caller that runs the worker's loop
    /// itself; [`run`] uses [`runtime_config`](Self::runtime_config) instead, where the fault
    /// device and the capture are options.
    pub fn builder(&self) -> Builder {
        let (bind, xdp_mode, busy_poll, tx_checksum, queue) =
            (self.bind, self.xdp_mode, self.busy_poll, self.tx_checksum, self.queue);
        let (fixed, max_connections, ports, cookies) =
            (self.fixed_buffers, self.max_connections, self.local_ports.clone(), self.syn_cookies);
        let ipv6 = self.ipv6.clone();
        Builder::new(&self.iface, self.addr)
            .prefix_len(self.prefix_len)
            .gateway(self.gateway)
            .core(self.core)
            .xdp(|c| {
                c.queue = queue;
                c.bind = bind;
                c.xdp_mode = xdp_mode;
                c.busy_poll = busy_poll;
                c.tx_checksum = tx_checksum;
                c.ipv6 = ipv6;
            })
            .stack(move |config| {
                if let Some(b) = fixed {
                    config.tcp = config.tcp.with_fixed_buffers(b, b);
                }
                config.max_connections = max_connections;
                config.listen.cookies = cookies;
                if let Some(ports) = &ports {
                    config.ephemeral_ports = ports.clone();
                }
            })
    }
}

impl XdpOptions {
    /// The runtime configuration of these settings: one worker, on `queue`, pinned to `core`
    /// if given, with the fault device and the capture when asked for.
    pub fn runtime_config(&self) -> RuntimeConfig {
        let builder = self.builder();
        let mut config = RuntimeConfig::new(builder.xdp_config().clone(), self.prefix_len, 1);
        config.gateway = self.gateway;
        config.queues = vec![self.queue];
        config.idle = self.idle;
        config.sched = self.sched;
        config.pcap.clone_from(&self.pcap);
        config.fault = self.fault;
        config.max_connections = self.max_connections;
        config.grace = worker::DEFAULT_GRACE;
        let (fixed, ports, cookies) =
            (self.fixed_buffers, self.local_ports.clone(), self.syn_cookies);
        config.stack = Some(StackChange(std::sync::Arc::new(move |c| {
            if let Some(b) = fixed {
                c.tcp = c.tcp.with_fixed_buffers(b, b);
            }
            c.listen.cookies = cookies;
            if let Some(ports) = &ports {
                c.ephemeral_ports = ports.clone();
            }
        })));
        config
    }
}

/// Runs `app` on one worker on the calling thread until SIGINT/SIGTERM (or the application
/// finishes), then stops gracefully and prints the counters. Returns the application and why
/// it stopped.
pub fn run<A: DriverApp>(
    opts: &XdpOptions,
    app: A,
    hooks: &mut impl Hooks<A>,
) -> Result<(A, Stop), String> {
    signal::install().map_err(|e| format!("cannot install the SIGINT/SIGTERM handler: {e}"))?;
    let config = opts.runtime_config();
    let slot = WorkerSlot { index: 0, core: opts.core, program: None, port: None };
    let next_stats = opts.stats_interval.map(|i| std::time::Instant::now() + i);
    let events = Printed { opts, hooks, next_stats };
    runtime::launch(&config, slot, move |_| Ok(app), events)
}

/// A command's side of the launch: the ready line, periodic counters, the final report.
struct Printed<'a, H> {
    opts: &'a XdpOptions,
    hooks: &'a mut H,
    next_stats: Option<std::time::Instant>,
}

impl<A: DriverApp, H: Hooks<A>> WorkerEvents<A> for Printed<'_, H> {
    type Done = (A, Stop);

    fn ready<D: XdpBacked>(&mut self, worker: &Worker<D, A>) {
        let (opts, xdp) = (self.opts, worker.device().xdp());
        self.hooks.ready(&Ready {
            addr: opts.addr,
            queue: opts.queue,
            core: opts.core,
            xdp_mode: xdp.program().mode(),
            bind: xdp.bind_mode(),
            tx_checksum: xdp.tx_checksum(),
            // Read back from the socket, so the line shows what the kernel took.
            busy_poll_us: xdp.busy_poll_state().ok().filter(|s| s.prefer).map(|s| s.usecs),
            sched: opts.sched,
        });
    }

    fn poll<D: XdpBacked>(&mut self, w: &Worker<D, A>) -> bool {
        if let (Some(at), Some(every)) = (self.next_stats, self.opts.stats_interval) {
            if std::time::Instant::now() >= at {
                self.next_stats = Some(at + every);
                println!("stats: {}", self.hooks.summary(w.app()));
                print_counters(w, false);
            }
        }
        false
    }

    fn done<D: XdpBacked>(self, worker: Worker<D, A>, stop: Stop, drained: bool) -> (A, Stop) {
        println!(
            "stopped ({}): {}{}",
            match stop {
                Stop::Signal => "signal",
                Stop::Requested => "requested",
                Stop::Finished => "finished",
            },
            self.hooks.summary(worker.app()),
            if drained { "" } else { " (some connections were still open after the grace period)" }
        );
        print_counters(&worker, true);
        let (_, _, app) = worker.into_parts();
        (app, stop)
    }
}

/// TCP counters as Linux `nstat` names them.
pub fn nstat_lines(c: &TcpCounters) -> Vec<(&'static str, i64)> {
    let u = |v: u64| v as i64;
    vec![
        ("TcpActiveOpens", u(c.active_opens)),
        ("TcpPassiveOpens", u(c.passive_opens)),
        ("TcpAttemptFails", u(c.attempt_fails)),
        ("TcpEstabResets", u(c.estab_resets)),
        ("TcpCurrEstab", c.curr_estab),
        ("TcpInSegs", u(c.in_segs)),
        ("TcpOutSegs", u(c.out_segs)),
        ("TcpRetransSegs", u(c.retrans_segs)),
        ("TcpInErrs", u(c.in_errs)),
        ("TcpOutRsts", u(c.out_rsts)),
        ("TcpExtTCPChallengeACK", u(c.challenge_acks)),
        ("TcpExtPAWSEstab", u(c.paws_drops)),
        ("TcpExtTCPTimeWaitRecycled", u(c.time_wait_recycled)),
        ("TcpExtTWRecycled", u(c.time_wait_reused)),
        ("TcpExtTCPFastRetrans", u(c.fast_retransmits)),
        ("TcpExtTCPTimeouts", u(c.timeouts)),
        ("TcpExtDelayedACKs", u(c.delayed_acks)),
        ("TcpExtTCPOFOQueue", u(c.ofo_queued)),
        ("TcpExtTCPOFODrop", u(c.ofo_dropped)),
        ("TcpExtTCPKeepAlive", u(c.keepalive_probes)),
        ("TcpExtTCPAbortOnTimeout", u(c.abort_on_timeout)),
        ("TcpExtTCPAbortOnData", u(c.abort_on_data)),
        // No Linux twin of its own (Linux folds these into TCPAbortOnTimeout).
        ("XdptcpFinWait2Timeouts", u(c.fin_wait2_timeouts)),
        // Linux's TCPACKSkippedPAWS and TCPACKSkippedSeq together.
        ("XdptcpAcksSkippedOutOfWindow", u(c.oow_acks_limited)),
        // Header prediction; Linux's TCPHPHits counts only its data half.
        ("XdptcpPredictedSegments", u(c.predicted_segments)),
    ]
}

/// Prints the stack's, the interface's, the driver's and the copy counters. `all` prints
/// zero-valued counters too.
pub fn print_counters<D: XdpBacked, A: DriverApp>(w: &Worker<D, A>, all: bool) {
    let s = w.stack();
    println!("stack: connections {} {:?}", s.connection_count(), s.counters());
    println!("listen: {:?}", s.listen_counters());
    println!(
        "memory: {:?}, {} B of chunks in use, {} B idle",
        s.memory_counters(),
        s.chunk_pool().bytes_in_use(),
        s.chunk_pool().idle_bytes()
    );
    let tcp: Vec<String> = nstat_lines(&s.tcp_counters())
        .into_iter()
        .filter(|(_, v)| all || *v != 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("tcp: {}", tcp.join(", "));
    let iface: Vec<String> = s
        .iface()
        .counters()
        .iter()
        .filter(|(_, v)| all || *v != 0)
        .map(|(k, v)| format!("{k} {v}"))
        .collect();
    println!("iface: {}", iface.join(", "));
    println!("worker: {:?}", w.counters());
    if let Some(i) = w.app().sample_connection().and_then(|h| s.tcp_info(h).ok()) {
        println!(
            "sample connection: {:?}, srtt {:?}, rto {:?}, cwnd {}, ssthresh {}, snd_wnd {}, \
             retransmits {}",
            i.state, i.rtt, i.rto, i.cwnd, i.ssthresh, i.snd_wnd, i.retransmits
        );
    }
    let x = w.device().xdp();
    println!("xdp: {:?}", x.stats());
    println!("program: {:?}", x.program().stats());
    if let Some((rx, tx)) = w.device().fault_stats() {
        println!("fault rx: {rx:?}");
        println!("fault tx: {tx:?}");
    }
    let c = w.copies();
    println!(
        "copies: rx frame->ring {} B, ring->app {} B; tx app->ring {} B, ring->frame {} B",
        c.rx_frame_to_ring, c.rx_ring_to_app, c.tx_app_to_ring, c.tx_ring_to_frame
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_and_checksum_modes_parse_and_reject() {
        assert_eq!(parse_port_range("10000-65000"), Ok(10000..=65000));
        assert_eq!(parse_port_range("7-7"), Ok(7..=7));
        for bad in ["0-10", "10-5", "10", "a-b", "1-70000"] {
            let e = parse_port_range(bad).expect_err(bad);
            assert!(e.contains("--local-ports") && !e.contains('\n'), "{e}");
        }
        assert_eq!(parse_tx_checksum("kernel"), Ok(TxChecksum::Kernel));
        assert!(parse_tx_checksum("hw").is_err_and(|e| e.contains("auto, offload")));
    }

    #[test]
    fn busy_poll_flags_parse_and_reject() {
        assert_eq!(parse_busy_poll(None, None), Ok(None));
        assert_eq!(parse_busy_poll(Some(0), None), Ok(None));
        assert_eq!(parse_busy_poll(Some(50), None), Ok(Some(BusyPoll { usecs: 50, budget: 64 })));
        assert_eq!(parse_busy_poll(Some(20), Some(8)), Ok(Some(BusyPoll { usecs: 20, budget: 8 })));
        for (us, budget, word) in [
            (None, Some(8), "--busy-poll-us"),
            (Some(50), Some(0), "--busy-poll-budget 0"),
            (Some(50), Some(65536), "--busy-poll-budget 65536"),
            (Some(u32::MAX), None, "--busy-poll-us"),
        ] {
            let e = parse_busy_poll(us, budget).expect_err("refused");
            assert!(e.contains(word) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn cidr_parses_and_rejects() {
        assert_eq!(parse_cidr("10.0.0.2/16"), Ok((Ipv4Addr::new(10, 0, 0, 2), 16)));
        assert_eq!(parse_cidr("10.0.0.2"), Ok((Ipv4Addr::new(10, 0, 0, 2), 24)));
        assert!(parse_cidr("10.0.0.2/33").unwrap_err().contains("prefix"));
        assert!(parse_cidr("10.0.0/8").unwrap_err().contains("address"));
        assert!(parse_cidr("0.0.0.0/8").unwrap_err().contains("unicast"));
    }

    #[test]
    fn ip_lists_take_one_ipv4_and_several_ipv6_addresses() {
        let (v4, v6) = split_ip_list("198.18.0.2/24, 2001:db8::2/64,2001:db8:1::2/48").unwrap();
        assert_eq!(v4, "198.18.0.2/24");
        let want = [("2001:db8::2", 64), ("2001:db8:1::2", 48)]
            .map(|(a, p)| Ipv6Cidr::new(a.parse().unwrap(), p));
        assert_eq!(v6, want);
        assert_eq!(split_ip_list("198.18.0.2").unwrap(), ("198.18.0.2".into(), vec![]));
        let err = |s: &str| split_ip_list(s).unwrap_err();
        assert!(err("2001:db8::2/64").contains("IPv4 address is needed"));
        assert!(err("198.18.0.2,198.18.0.3").contains("more than one IPv4"));
        assert!(err("198.18.0.2,2001:db8::2").contains("prefix length"));
        assert!(err("198.18.0.2,2001:db8::2/129").contains("0..128"));
        assert!(err("198.18.0.2,2001:db8::zz/64").contains("bad IPv6"));
        assert!(err("198.18.0.2,fe80::1/64").contains("link-local"));
        assert!(err("198.18.0.2,ff02::1/64").contains("not a global unicast"));
        assert!(err("198.18.0.2,2001:db8::2/64,2001:db8::2/64").contains("twice"));
        assert!(err("198.18.0.2,,2001:db8::2/64").contains("empty"));
    }

    #[test]
    fn fault_spec_parses_percentages_and_durations() {
        let f = parse_fault("loss=2,reorder=1.5,delay-us=200,seed=9").expect("valid");
        assert_eq!(f.rx.loss_ppm, 20_000);
        assert_eq!(f.tx.reorder_ppm, 15_000);
        assert_eq!(f.rx.delay, xdptcp_stack::time::Duration::from_micros(200));
        assert_ne!(
            f.rx.reorder_delay,
            xdptcp_stack::time::Duration::ZERO,
            "a default reorder delay"
        );
        assert_eq!(f.seed, 9);
        assert!(parse_fault("loss=200").unwrap_err().contains("percentage"));
        assert!(parse_fault("lose=2").unwrap_err().contains("unknown key"));
        assert!(parse_fault("loss").unwrap_err().contains("KEY=VALUE"));
        let one_way = parse_fault("rx-loss=2,tx-delay-us=100").expect("valid");
        assert_eq!((one_way.rx.loss_ppm, one_way.tx.loss_ppm), (20_000, 0));
        assert_eq!(one_way.rx.delay, xdptcp_stack::time::Duration::ZERO);
        assert_eq!(one_way.tx.delay, xdptcp_stack::time::Duration::from_micros(100));
        assert!(parse_fault("up-loss=2").unwrap_err().contains("unknown key"));
    }
}
