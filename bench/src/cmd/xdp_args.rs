//! The command-line options of every `--stack xdptcp` command.

use std::time::Duration;
use xdptcp_bench::xdp::{self, XdpOptions};
use xdptcp_driver::sched::ThreadSched;
use xdptcp_driver::worker::IdlePolicy;

/// Options for running on the xdptcp stack over AF_XDP.
#[derive(clap::Args, Debug, Clone)]
pub struct XdpArgs {
    /// Network interface (`--stack xdptcp`).
    #[arg(long)]
    pub iface: Option<String>,
    /// The stack's addresses, ADDR/PREFIX, comma-separated: one IPv4 and any IPv6 ones
    /// (`--stack xdptcp`), e.g. 198.18.0.2/24,2001:db8::2/64.
    #[arg(long)]
    pub ip: Option<String>,
    /// Default router for off-link peers.
    #[arg(long)]
    pub gateway: Option<String>,
    /// Queues 0..N, one pinned worker each (N > 1 runs the multi-queue runtime with RSS
    /// steering).
    #[arg(long, default_value_t = 1)]
    pub queues: u32,
    /// The queue of the worker.
    #[arg(long, default_value_t = 0)]
    pub queue: u32,
    /// The Toeplitz key the NIC's RSS uses (with --queues N > 1): microsoft (the default of
    /// most drivers), symmetric (6d:5a repeated: both directions of a flow hash alike) or 40
    /// hex bytes as `ethtool -x IF` prints them. Each worker's active opens take ports whose
    /// replies this key puts on its own queue.
    #[arg(long)]
    pub rss_key: Option<String>,
    /// Cores to pin workers to, comma-separated (one per queue).
    #[arg(long)]
    pub cores: Option<String>,
    /// XDP attach mode: auto, native or generic.
    #[arg(long, default_value = "auto")]
    pub xdp_mode: String,
    /// AF_XDP bind mode: auto, zero-copy or copy.
    #[arg(long, default_value = "auto")]
    pub bind_mode: String,
    /// Write every frame the stack receives and sends to this pcap file.
    #[arg(long)]
    pub pcap: Option<std::path::PathBuf>,
    /// Print counters every SECS seconds.
    #[arg(long)]
    pub stats_interval: Option<f64>,
    /// Impair the stack's own device, both directions: loss=PCT,reorder=PCT,dup=PCT,
    /// delay-us=N,jitter-us=N,reorder-us=N,seed=N.
    #[arg(long)]
    pub fault: Option<String>,
    /// Fix each connection's send and receive buffer at this many KiB (auto-tuning off, as
    /// SO_SNDBUF/SO_RCVBUF do). Default: Linux's tcp_wmem/tcp_rmem, auto-tuned.
    #[arg(long)]
    pub buffer_kib: Option<usize>,
    /// Most connections the stack holds.
    #[arg(long, default_value_t = 65536)]
    pub max_connections: usize,
    /// Sleep of an idle loop iteration, microseconds (0: see --idle-wait-after-us).
    #[arg(long, default_value_t = 0)]
    pub idle_sleep_us: u64,
    /// After this many microseconds without a frame, sleep in poll() on the AF_XDP socket
    /// until a frame arrives or the next timer is due; `off` busy-polls the core forever.
    #[arg(long, default_value = DEFAULT_IDLE_WAIT_AFTER_US)]
    pub idle_wait_after_us: String,
    /// Preferred busy polling of the AF_XDP socket: SO_BUSY_POLL microseconds per poll
    /// (also sets SO_PREFER_BUSY_POLL; off by default).
    #[arg(long)]
    pub busy_poll_us: Option<u32>,
    /// SO_BUSY_POLL_BUDGET: packets per busy poll (default 64; needs --busy-poll-us).
    #[arg(long)]
    pub busy_poll_budget: Option<u32>,
    /// Who completes TCP/UDP checksums on transmit: auto (offload through AF_XDP TX
    /// metadata where the kernel and driver offer it), offload, kernel (TX metadata
    /// completed by the kernel in software, copy mode; for testing) or software.
    #[arg(long, default_value = "auto")]
    pub tx_checksum: String,
    /// Ephemeral ports for connections this stack opens, LOW-HIGH (default 32768-60999, as
    /// Linux). A connection-rate client wants more: each port is reusable only 1 s after its
    /// TIME-WAIT began.
    #[arg(long)]
    pub local_ports: Option<String>,
    /// The worker thread's scheduling: inherit, slice:US (the fair scheduler with a short
    /// custom slice, Linux 6.12+, so a woken worker preempts CPU-bound tasks on its core) or
    /// fifo:PRIO (SCHED_FIFO, needs CAP_SYS_NICE). Every worker with --queues N.
    #[arg(long, default_value = "inherit")]
    pub sched: String,
}

pub use xdptcp_bench::xdp::DEFAULT_IDLE_WAIT_AFTER_US;

impl XdpArgs {
    /// The idle policy of `--idle-sleep-us` and `--idle-wait-after-us`.
    pub fn idle_policy(&self) -> Result<IdlePolicy, String> {
        xdp::parse_idle(&self.idle_wait_after_us, self.idle_sleep_us)
    }

    /// Checks the options and makes the runner's configuration.
    /// The IPv6 addresses of `--ip` (empty without `--ip`, which `options` and
    /// `runtime_args` then refuse), for checking a destination's family.
    pub fn ipv6(&self) -> Result<Vec<xdptcp_stack::iface::Ipv6Cidr>, String> {
        match self.ip.as_deref() {
            Some(ip) => Ok(xdp::split_ip_list(ip)?.1),
            None => Ok(Vec::new()),
        }
    }

    /// A client's destination `--FLAG ADDR:PORT` of either family (an IPv6 one needs an IPv6
    /// address in `--ip`).
    pub fn target(&self, flag: &str, s: &str) -> Result<std::net::SocketAddr, String> {
        xdp::source::parse_target(flag, s, &self.ipv6()?)
    }

    pub fn options(&self) -> Result<XdpOptions, String> {
        let iface = self.iface.clone().ok_or("--stack xdptcp needs --iface IF")?;
        let ip = self.ip.as_deref().ok_or("--stack xdptcp needs --ip ADDR/PREFIX")?;
        let (v4, ipv6) = xdp::split_ip_list(ip)?;
        let (addr, prefix_len) = xdp::parse_cidr(&v4)?;
        let gateway = match &self.gateway {
            Some(g) => Some(g.parse().map_err(|_| format!("bad --gateway address '{g}'"))?),
            None => None,
        };
        if self.queues != 1 {
            return Err(format!("--queues {}: this command runs one queue", self.queues));
        }
        if self.rss_key.is_some() {
            return Err(
                "--rss-key applies to --queues N with N > 1 (one queue needs no RSS)".into()
            );
        }
        let core = match &self.cores {
            None => None,
            Some(list) => {
                let cores: Vec<usize> = list
                    .split(',')
                    .map(|c| c.trim().parse().map_err(|_| format!("bad core '{c}' in --cores")))
                    .collect::<Result<_, _>>()?;
                if cores.len() != self.queues as usize {
                    return Err(format!(
                        "--cores names {} core(s) for {} queue(s)",
                        cores.len(),
                        self.queues
                    ));
                }
                cores.first().copied()
            }
        };
        let stats_interval = match self.stats_interval {
            None => None,
            Some(s) if s > 0.0 && s < 1e6 => Some(Duration::from_secs_f64(s)),
            Some(s) => return Err(format!("--stats-interval {s}: must be a positive number")),
        };
        if let Some(b) = self.buffer_kib.filter(|b| !(4..=65536).contains(b)) {
            return Err(format!("--buffer-kib {b}: must be between 4 and 65536"));
        }
        if self.max_connections == 0 || self.max_connections > 4 << 20 {
            return Err("--max-connections must be between 1 and 4194304".into());
        }
        Ok(XdpOptions {
            iface,
            addr,
            prefix_len,
            ipv6,
            gateway,
            queue: self.queue,
            core,
            xdp_mode: xdp::parse_xdp_mode(&self.xdp_mode)?,
            bind: xdp::parse_bind_mode(&self.bind_mode)?,
            pcap: self.pcap.clone(),
            stats_interval,
            fault: self.fault.as_deref().map(xdp::parse_fault).transpose()?,
            fixed_buffers: self.buffer_kib.map(|b| b * 1024),
            max_connections: self.max_connections,
            idle: self.idle_policy()?,
            sched: ThreadSched::parse(&self.sched)?,
            busy_poll: xdp::parse_busy_poll(self.busy_poll_us, self.busy_poll_budget)?,
            tx_checksum: xdp::parse_tx_checksum(&self.tx_checksum)?,
            local_ports: self.local_ports.as_deref().map(xdp::parse_port_range).transpose()?,
            syn_cookies: xdptcp_stack::tcp::listen::CookieMode::WhenFull,
        })
    }
}

impl XdpArgs {
    /// The first option given that only `--stack xdptcp` reads, for commands that run on the
    /// Linux stack: such a flag would be ignored, so it is an error instead (a user who
    /// forgot `--stack xdptcp` must not get a Linux server on 127.0.0.1 while believing it
    /// runs on their interface).
    pub fn first_xdp_only_flag(&self) -> Option<&'static str> {
        #[derive(clap::Parser)]
        struct Defaults {
            #[command(flatten)]
            xdp: XdpArgs,
        }
        // The defaults exactly as clap fills them in, from the attributes above.
        let d = <Defaults as clap::Parser>::try_parse_from(["xdptcp"]).ok()?.xdp;
        let set = [
            ("--iface", self.iface != d.iface),
            ("--ip", self.ip != d.ip),
            ("--gateway", self.gateway != d.gateway),
            ("--queues", self.queues != d.queues),
            ("--queue", self.queue != d.queue),
            ("--rss-key", self.rss_key != d.rss_key),
            ("--cores", self.cores != d.cores),
            ("--xdp-mode", self.xdp_mode != d.xdp_mode),
            ("--bind-mode", self.bind_mode != d.bind_mode),
            ("--pcap", self.pcap != d.pcap),
            ("--stats-interval", self.stats_interval != d.stats_interval),
            ("--fault", self.fault != d.fault),
            ("--buffer-kib", self.buffer_kib != d.buffer_kib),
            ("--max-connections", self.max_connections != d.max_connections),
            ("--idle-sleep-us", self.idle_sleep_us != d.idle_sleep_us),
            ("--idle-wait-after-us", self.idle_wait_after_us != d.idle_wait_after_us),
            ("--busy-poll-us", self.busy_poll_us != d.busy_poll_us),
            ("--busy-poll-budget", self.busy_poll_budget != d.busy_poll_budget),
            ("--tx-checksum", self.tx_checksum != d.tx_checksum),
            ("--local-ports", self.local_ports != d.local_ports),
            ("--sched", self.sched != d.sched),
        ];
        set.iter().find(|(_, s)| *s).map(|(name, _)| *name)
    }

    /// The error for `flag` given to a command on the Linux stack.
    pub fn linux_ignores(flag: &str) -> String {
        format!("{flag} applies to --stack xdptcp only; add --stack xdptcp or drop {flag}")
    }
}

impl XdpArgs {
    /// The same options for the multi-queue runtime (`serve-xdp`'s), serving `spec` (`None`:
    /// a client command, which makes its own applications).
    pub fn runtime_args(
        &self,
        spec: Option<xdptcp_bench::apps::AppSpec>,
        port: u16,
        body_bytes: usize,
        backlog: usize,
    ) -> Result<super::serve_xdp::Args, String> {
        use super::serve_xdp::{AppName, Args, BindModeArg, XdpModeArg};
        use xdptcp_bench::apps::AppSpec;
        // `app` only names the application in serve-xdp's own lines; `spec` is what runs.
        let app = match spec {
            Some(AppSpec::Discard) => AppName::Discard,
            Some(AppSpec::Http(_)) => AppName::Http,
            _ => AppName::Echo,
        };
        let gateway = match &self.gateway {
            Some(g) => Some(g.parse().map_err(|_| format!("bad --gateway address '{g}'"))?),
            None => None,
        };
        let stats_interval = match self.stats_interval {
            None => 0,
            Some(s) if s > 0.0 && s < 1e6 => s.ceil() as u64,
            Some(s) => return Err(format!("--stats-interval {s}: must be a positive number")),
        };
        // Flags of the one-worker path that the runtime has no use for would be ignored.
        if self.queue != 0 {
            return Err("--queue picks the one queue of a single worker; with --queues N the \
                 workers take queues 0..N"
                .into());
        }
        if self.local_ports.is_some() {
            return Err("--local-ports applies to one queue; with --queues N each worker's \
                 active opens choose ports by RSS"
                .into());
        }
        if self.max_connections == 0 || self.max_connections > 4 << 20 {
            return Err("--max-connections must be between 1 and 4194304".into());
        }
        Ok(Args {
            app,
            spec,
            rss_key: self.rss_key.clone(),
            fault: self.fault.as_deref().map(xdp::parse_fault).transpose()?,
            iface: self.iface.clone().ok_or("--stack xdptcp needs --iface IF")?,
            ip: self.ip.clone().ok_or("--stack xdptcp needs --ip ADDR/PREFIX")?,
            gateway,
            port,
            queues: self.queues,
            cores: self.cores.clone(),
            xdp_mode: match self.xdp_mode.as_str() {
                "auto" => XdpModeArg::Auto,
                "native" => XdpModeArg::Native,
                "generic" => XdpModeArg::Generic,
                m => return Err(format!("--xdp-mode {m}: expected auto, native or generic")),
            },
            bind_mode: match self.bind_mode.as_str() {
                "auto" => BindModeArg::Auto,
                "zero-copy" => BindModeArg::ZeroCopy,
                "copy" => BindModeArg::Copy,
                m => return Err(format!("--bind-mode {m}: expected auto, zero-copy or copy")),
            },
            pcap: self.pcap.clone(),
            stats_interval,
            frame_size: 2048,
            body_bytes,
            buffer_kib: self.buffer_kib,
            backlog,
            busy_poll_us: self.busy_poll_us,
            busy_poll_budget: self.busy_poll_budget,
            tx_checksum: self.tx_checksum.clone(),
            idle_wait_after_us: self.idle_wait_after_us.clone(),
            idle_sleep_us: self.idle_sleep_us,
            max_connections: self.max_connections,
            sched: self.sched.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        xdp: XdpArgs,
    }

    fn idle(args: &[&str]) -> Result<IdlePolicy, String> {
        let cli = Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.xdp.idle_policy()
    }

    #[test]
    fn idle_policies_parse_and_conflicts_are_refused() {
        let us = Duration::from_micros;
        assert_eq!(idle(&[]), Ok(IdlePolicy::SpinThenWait { spin: us(50) }), "the default");
        assert_eq!(idle(&["--idle-wait-after-us", "off"]), Ok(IdlePolicy::BusyPoll));
        assert_eq!(
            idle(&["--idle-wait-after-us", "0"]),
            Ok(IdlePolicy::SpinThenWait { spin: us(0) })
        );
        assert_eq!(
            idle(&["--idle-wait-after-us", "off", "--idle-sleep-us", "100"]),
            Ok(IdlePolicy::Sleep(us(100)))
        );
        for bad in [
            vec!["--idle-sleep-us", "100"],
            vec!["--idle-wait-after-us", "soon"],
            vec!["--idle-wait-after-us=-5"],
            vec!["--idle-wait-after-us", "99999999999"],
        ] {
            let e = idle(&bad).expect_err("refused");
            assert!(e.contains("--idle") && !e.trim_end().contains('\n'), "{bad:?}: {e}");
        }
    }

    /// Every option of `XdpArgs` is caught when given to a Linux-stack command: one added
    /// later without a line in `first_xdp_only_flag` fails here.
    #[test]
    fn every_xdp_option_is_refused_on_the_linux_stack() {
        #[derive(clap::Parser)]
        struct Wrap {
            #[command(flatten)]
            xdp: XdpArgs,
        }
        let cmd = <Wrap as clap::CommandFactory>::command();
        let longs: Vec<String> =
            cmd.get_arguments().filter_map(|a| a.get_long()).map(|l| format!("--{l}")).collect();
        assert!(longs.len() >= 19, "{longs:?}");
        for flag in &longs {
            let w = <Wrap as clap::Parser>::try_parse_from(["xdptcp", flag.as_str(), "3"])
                .unwrap_or_else(|e| panic!("{flag}: {e}"));
            assert_eq!(w.xdp.first_xdp_only_flag(), Some(flag.as_str()), "{flag}");
        }
        let d = <Wrap as clap::Parser>::try_parse_from(["xdptcp"]).unwrap();
        assert_eq!(d.xdp.first_xdp_only_flag(), None, "defaults are not 'given'");
    }

    /// The runtime (`--queues N`) gets every option it reads and refuses the one-queue ones,
    /// which it would otherwise ignore.
    #[test]
    fn several_queues_take_their_options_or_refuse_them() {
        let runtime = |extra: &[&str]| {
            let base = ["t", "--iface", "x0", "--ip", "198.18.0.2/24", "--queues", "2"];
            let cli = Cli::try_parse_from(base.iter().chain(extra.iter()).copied()).unwrap();
            cli.xdp.runtime_args(Some(xdptcp_bench::apps::AppSpec::Discard), 9, 0, 16)
        };
        let a = runtime(&["--max-connections", "200000", "--idle-sleep-us", "7"]).unwrap();
        assert_eq!((a.max_connections, a.idle_sleep_us), (200_000, 7));
        for (flag, value) in [("--queue", "1"), ("--local-ports", "40000-40100")] {
            let e = runtime(&[flag, value]).expect_err("refused");
            assert!(e.starts_with(flag) && !e.contains('\n') && !e.contains("  "), "{flag}: {e}");
        }
        assert!(runtime(&["--max-connections", "0"]).is_err());
    }
}
