//! The `synflood` rows of `xdptcp bench lab` (issue 17 item 3): legitimate connect times
//! under a SYN flood, our echo server against a Linux epoll echo server under the same
//! flood, with SYN cookies on (`synflood`) and off (`synflood-nocookies`).
//!
//! # Method
//!
//! - hping3 in the client namespace, pinned to the client core (away from the server's),
//!   sends SYNs from random spoofed sources (`-S --rand-source -i u10`) for the flood time
//!   (`--duration`, kept between 4 s and [`MAX_FLOOD_SECS`]). The sources are off-link: our server routes
//!   its SYN-ACKs to them through the kernel side (`--gateway`), Linux through a default route
//!   there; the kernel side does not forward, so they vanish as a real flood's do and the
//!   half-open connections wait out their timers.
//! - A second into the flood, `xdptcp hold` on the same core makes [`LEGIT`] legitimate
//!   connections one after another (connect, 64-byte echo, close; [`LEGIT_TIMEOUT_MS`] each)
//!   and reports its connect times (`connect()` to writable).
//! - The scheduler's wake-ups are taken out on both sides of the comparison: our worker runs
//!   at `--sched fifo:10` and the client under `chrt -f 20`, for either server. A Linux
//!   server over the veth answers a SYN in softirq inside the client's own `connect()`; a
//!   server answering from another core (ours) makes the worker and then the client wait
//!   for their cores, which on cores shared with builds is milliseconds of the machine's
//!   scheduler, not of either server (docs/tcp-conformance.md, "The fair comparison").
//! - Cookies off: ours `--syn-cookies off`, Linux the namespace's `net.ipv4.tcp_syncookies=0`
//!   (restored to 1 afterwards).
//! - For each cookie setting ours runs first, then Linux, so a comparison's two halves are
//!   adjacent in time. Each run reports the connects that succeeded, connect p50/p99/max, the
//!   server's counters (ours from its final lines, Linux's `nstat` differences), its RSS
//!   before the flood, 3 s into it and at its end, its CPU seconds over the run, the flood's
//!   frames per second on the kernel side, and, on our rows, our p99 over Linux's.
//!
//! Not in the default `bench lab` set (it needs hping3 and takes up to four floods):
//! `--only synflood` runs it. Besides the usual rows (throughput = legitimate connects per
//! second of the client's open phase), `synflood.md` and `synflood.json` in the output
//! directory hold the whole comparison, and the table is printed.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::{Duration, Instant};

use xdptcp_bench::report::{human, ResultRow};

use super::lab::{find_tool, output, run_bounded, Proc};
use super::{interrupted, note_modes, Bench, Missing};

/// The workload names of the rows (cookies on, off); `--only synflood` selects both.
pub(super) const WORKLOADS: [&str; 2] = ["synflood", "synflood-nocookies"];
/// Legitimate connections per run.
pub(super) const LEGIT: usize = 300;
/// The flood never lasts longer than this, whatever `--duration` says.
pub(super) const MAX_FLOOD_SECS: f64 = 10.0;
/// ... nor shorter: the client starts a second in and the RSS is sampled at 3 s.
const MIN_FLOOD_SECS: f64 = 4.0;
/// hping3's gap between SYNs (about 15,000-25,000 SYNs/s here; `--flood` would take the whole
/// core and starve the client sharing it).
const FLOOD_GAP: &str = "u10";
/// A legitimate connect-and-echo slower than this failed (Linux's SYN retransmissions come
/// at 1 s and 3 s).
const LEGIT_TIMEOUT_MS: &str = "5000";
/// Bound on the legitimate client: 24 timed-out connects at most, far below 99 %.
const CLIENT_LIMIT: Duration = Duration::from_secs(120);
const PORT_ECHO: u16 = 7008;
/// Linux counters of the listener worth reporting (`nstat` names).
const LINUX_COUNTERS: [&str; 7] = [
    "TcpExtListenDrops",
    "TcpExtListenOverflows",
    "TcpExtSyncookiesSent",
    "TcpExtSyncookiesRecv",
    "TcpExtSyncookiesFailed",
    "TcpExtTCPReqQFullDrop",
    "TcpExtTCPReqQFullDoCookies",
];

/// Which cookie settings `--synflood-cookies` selects.
pub(super) fn cookie_settings(flag: &str) -> Result<Vec<bool>, String> {
    match flag {
        "both" => Ok(vec![true, false]),
        "on" => Ok(vec![true]),
        "off" => Ok(vec![false]),
        other => Err(format!("--synflood-cookies must be on, off or both, not '{other}'")),
    }
}

/// One run: what the legitimate client and the server reported.
#[derive(Debug, Clone, serde::Serialize)]
pub(super) struct Run {
    pub workload: String,
    /// `xdptcp` or `linux`.
    pub server: String,
    pub cookies: bool,
    pub conns: u64,
    /// Connections that connected and echoed.
    pub ok: u64,
    pub connect_p50_us: u64,
    pub connect_p99_us: u64,
    pub connect_max_us: u64,
    /// Our listener's counters (`listen:` line), or Linux's `nstat` differences.
    pub counters: BTreeMap<String, u64>,
    /// Our stack's final `stack:` line (empty for Linux).
    pub stack_line: String,
    /// The server's RSS before the flood, 3 s into it and at its end, KiB.
    pub rss_kib: [u64; 3],
    /// The server's CPU seconds from before the flood to its end.
    pub server_cpu_s: Option<f64>,
    /// Softirq CPU seconds of the whole machine over the same time (`/proc/stat`): where a
    /// Linux server handles SYNs (charged to no process; on a veth, on the sending core) and
    /// where our XDP program and the AF_XDP copy run. Includes other processes' softirqs.
    pub softirq_s: Option<f64>,
    /// Frames the kernel side sent from the flood's start to its end and the client's
    /// (the flood's SYNs, and the client's few), per second of the flood.
    pub flood_fps: Option<f64>,
    /// For our rows: our connect p99 over Linux's under the same flood.
    pub p99_over_linux: Option<f64>,
    /// Seconds the client's connect phase took.
    pub open_secs: f64,
}

/// The `name: number` pairs of a Debug-printed counter struct.
pub(super) fn debug_counters(line: &str) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut words = line.split([' ', ',', '{', '}']).filter(|w| !w.is_empty()).peekable();
    while let Some(w) = words.next() {
        if let Some(name) = w.strip_suffix(':') {
            if let Some(v) = words.peek().and_then(|v| v.parse().ok()) {
                out.insert(name.to_string(), v);
                words.next();
            }
        }
    }
    out
}

/// `nstat -asz` output (absolute, no history update, zeros too) as name → value.
fn parse_nstat(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let (name, value) = (f.next()?, f.next()?.parse().ok()?);
            LINUX_COUNTERS.contains(&name).then(|| (name.to_string(), value))
        })
        .collect()
}

/// The last line of `text` starting with `prefix` (empty if none).
fn last_line_with<'a>(text: &'a str, prefix: &str) -> &'a str {
    text.lines().rev().find(|l| l.starts_with(prefix)).unwrap_or("")
}

/// The machine's softirq time so far, in clock ticks (`/proc/stat`, the `cpu` line's 7th
/// number).
fn softirq_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines().next()?.split_whitespace().nth(7)?.parse().ok()
}

fn vm_rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|t| {
            let line = t.lines().find(|l| l.starts_with("VmRSS:"))?.to_string();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

impl Bench {
    /// The flood runs, ours then Linux's, for each cookie setting; their rows and the
    /// comparison table. `Ok` even when a run failed (it is recorded like any combination's).
    pub(super) fn synflood(&mut self, settings: &[bool]) -> Result<Vec<Run>, String> {
        let mut runs = Vec::new();
        let Some(hping) = find_tool("hping3") else {
            for &cookies in settings {
                for server in ["xdptcp", "linux"] {
                    self.missing.push(Missing {
                        workload: workload(cookies).into(),
                        server: server.into(),
                        client: "hold".into(),
                        reason: "hping3 not installed".into(),
                    });
                }
            }
            return Ok(runs);
        };
        let lab = &self.lab;
        // The spoofed sources are off-link: Linux sends its SYN-ACKs to them this way.
        let route = ["-n", &lab.stack_ns, "route", "replace", "default", "via", &lab.kernel_ip];
        output(Command::new("ip").args(route))?;
        for &cookies in settings {
            let mut pair: Vec<Run> = Vec::new();
            for server in ["xdptcp", "linux"] {
                interrupted()?;
                let (w, c) = (workload(cookies), "hold");
                eprintln!("bench lab: {w}: {server} <- {c} (under hping3) ...");
                match self.flood_run(&hping, server == "xdptcp", cookies) {
                    Ok(run) => {
                        eprintln!(
                            "bench lab: {w}: {server} <- {c}: {} of {} ok, connect p99 {}",
                            run.ok,
                            run.conns,
                            human::latency_us(run.connect_p99_us as f64)
                        );
                        pair.push(run);
                    }
                    Err(reason) => {
                        eprintln!("bench lab: {w}: {server} <- {c}: FAILED: {reason}");
                        self.failures.push(format!("{w} {server}<-{c}: {reason}"));
                        self.missing.push(Missing {
                            workload: w.into(),
                            server: server.into(),
                            client: c.into(),
                            reason: format!("failed: {reason}"),
                        });
                    }
                }
            }
            let linux_p99 = pair.iter().find(|r| r.server == "linux").map(|r| r.connect_p99_us);
            for run in &mut pair {
                if run.server == "xdptcp" {
                    run.p99_over_linux =
                        linux_p99.filter(|&l| l > 0).map(|l| run.connect_p99_us as f64 / l as f64);
                }
            }
            for run in &pair {
                let mut row = ResultRow::new(
                    &run.workload,
                    &run.server,
                    "hold",
                    if run.open_secs > 0.0 { run.ok as f64 / run.open_secs } else { 0.0 },
                    "cps",
                    Some(run.connect_p50_us as f64),
                    Some(run.connect_p99_us as f64),
                );
                row.server_cpu_s = run.server_cpu_s;
                row.wire_fps = run.flood_fps;
                self.results.push(row);
            }
            runs.extend(pair);
        }
        let lab = &self.lab;
        let _ = Command::new("ip").args(["-n", &lab.stack_ns, "route", "del", "default"]).output();
        Ok(runs)
    }

    /// One flood against one server.
    fn flood_run(&mut self, hping: &str, ours: bool, cookies: bool) -> Result<Run, String> {
        let flood_secs = self.duration.clamp(MIN_FLOOD_SECS, MAX_FLOOD_SECS);
        let lab = &self.lab;
        let bin = self.bin.to_string_lossy().to_string();
        let (score, ccore) = (self.server_core.to_string(), self.client_core.to_string());
        let port = PORT_ECHO.to_string();
        let (mut server, ip) = if ours {
            let cidr = format!("{}/24", lab.xdp_ip);
            let mut argv = vec!["serve", "echo", "--stack", "xdptcp", "--iface", &lab.stack_if];
            argv.extend(["--ip", &cidr, "--port", &port, "--cores", &score]);
            argv.extend(["--gateway", &lab.kernel_ip, "--sched", "fifo:10"]);
            argv.extend(["--idle-wait-after-us", &self.server_idle]);
            if !cookies {
                argv.extend(["--syn-cookies", "off"]);
            }
            let p = Proc::spawn("xdptcp server", lab.in_ns(&lab.stack_ns, &score, &bin, &argv))?;
            (p, lab.xdp_ip.clone())
        } else {
            let script = format!("echo {} > /proc/sys/net/ipv4/tcp_syncookies", u8::from(cookies));
            output(Command::new("ip").args(["netns", "exec", &lab.stack_ns, "sh", "-c", &script]))?;
            let listen = format!("{}:{port}", lab.linux_ip);
            let argv = ["serve", "echo", "--stack", "linux", "--listen", &listen];
            let p = Proc::spawn("server", lab.in_ns(&lab.stack_ns, &score, &bin, &argv))?;
            (p, lab.linux_ip.clone())
        };
        let line = server.wait_line("listening on", Duration::from_secs(15))?;
        note_modes(&mut self.modes, &line);
        let lab = &self.lab;
        let pid = server.pid();
        let nstat = || -> Result<BTreeMap<String, u64>, String> {
            let args = ["netns", "exec", &lab.stack_ns, "nstat", "-asz"];
            Ok(if ours {
                BTreeMap::new()
            } else {
                parse_nstat(&output(Command::new("ip").args(args))?)
            })
        };
        let linux_before = nstat()?;
        let cpu_before = super::cpu::tree_cpu_seconds(pid, self.ticks_per_second);
        let softirq_before = softirq_ticks();
        let tx_before = lab.tx_packets(&lab.kernel_ns, &lab.kernel_if);
        let rss_before = vm_rss_kib(pid);

        let secs = format!("{flood_secs}");
        // SIGINT at the end (hping3's own way to stop), SIGKILL 2 s later if that was not enough
        // (once in three runs hping3 outlived its SIGINT).
        let flood_argv = ["-s", "INT", "-k", "2", &secs, hping, "-S", "-p", &port, "--rand-source"];
        let flood_argv = [&flood_argv[..], &["-i", FLOOD_GAP, &ip]].concat();
        let flood_start = Instant::now();
        let mut flood =
            Proc::spawn("hping3", lab.in_ns_tool(&lab.kernel_ns, &ccore, "timeout", &flood_argv))?;
        sleep_checked(Duration::from_secs(1))?;

        let target = format!("{ip}:{port}");
        let conns = LEGIT.to_string();
        let mut argv = vec!["-f", "20", &bin, "hold", "--target", &target, "--conns", &conns];
        argv.extend(["--in-flight", "1", "--hold-secs", "0", "--timeout-ms", LEGIT_TIMEOUT_MS]);
        let client = lab.in_ns_tool(&lab.kernel_ns, &ccore, "chrt", &argv);
        // The client runs on this thread; the RSS 3 s into the flood is sampled beside it.
        let sampler = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(3).saturating_sub(flood_start.elapsed()));
            vm_rss_kib(pid)
        });
        let client_out = run_bounded(client, CLIENT_LIMIT);
        let rss_3s = sampler.join().unwrap_or(0);
        let flood_left =
            Duration::from_secs_f64(flood_secs + 5.0).saturating_sub(flood_start.elapsed());
        flood.wait_exit(flood_left)?;
        let rss_end = vm_rss_kib(pid);
        let cpu_after = super::cpu::tree_cpu_seconds(pid, self.ticks_per_second);
        let softirq_after = softirq_ticks();
        let tx_after = lab.tx_packets(&lab.kernel_ns, &lab.kernel_if);
        let linux_after = nstat()?;
        let (server_out, _) = server.terminate(Duration::from_secs(20))?;
        if ours {
            // A server that had to be SIGKILLed leaves its XDP program attached.
            self.lab.detach(&self.bin);
        } else {
            let script = "echo 1 > /proc/sys/net/ipv4/tcp_syncookies";
            let lab = &self.lab;
            output(Command::new("ip").args(["netns", "exec", &lab.stack_ns, "sh", "-c", script]))?;
        }

        let client_out = client_out?;
        let report = client_out
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("report "))
            .ok_or("the legitimate client printed no report")?;
        let v: serde_json::Value =
            serde_json::from_str(report).map_err(|e| format!("client report unreadable: {e}"))?;
        let num = |k: &str| v[k].as_u64().unwrap_or(0);
        let counters = if ours {
            debug_counters(last_line_with(&server_out, "listen:"))
        } else {
            linux_after
                .iter()
                .map(|(k, after)| (k.clone(), after - linux_before.get(k).copied().unwrap_or(0)))
                .collect()
        };
        if ours && counters.is_empty() {
            return Err("our server printed no listen: counters".into());
        }
        Ok(Run {
            workload: workload(cookies).into(),
            server: if ours { "xdptcp" } else { "linux" }.into(),
            cookies,
            conns: num("conns"),
            ok: num("held"),
            connect_p50_us: num("connect_p50_us"),
            connect_p99_us: num("connect_p99_us"),
            connect_max_us: num("connect_max_us"),
            counters,
            stack_line: last_line_with(&server_out, "stack:").to_string(),
            rss_kib: [rss_before, rss_3s, rss_end],
            server_cpu_s: cpu_before.zip(cpu_after).map(|(a, b)| (b - a).max(0.0)),
            softirq_s: softirq_before
                .zip(softirq_after)
                .map(|(a, b)| b.saturating_sub(a) as f64 / self.ticks_per_second),
            flood_fps: tx_before
                .zip(tx_after)
                .map(|(a, b)| b.saturating_sub(a) as f64 / flood_secs),
            p99_over_linux: None,
            open_secs: v["open_secs"].as_f64().unwrap_or(0.0),
        })
    }
}

fn workload(cookies: bool) -> &'static str {
    WORKLOADS[usize::from(!cookies)]
}

fn sleep_checked(d: Duration) -> Result<(), String> {
    let end = Instant::now() + d;
    while Instant::now() < end {
        interrupted()?;
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The comparison as a markdown table (ends with a newline).
pub(super) fn markdown(runs: &[Run]) -> String {
    let mut out = String::from(
        "| workload | server | connects ok | connect p50 | p99 | max | p99 xdptcp/linux | \
         server counters | RSS before / 3 s / end | server CPU | softirq CPU | flood frames/s |\n\
         |---|---|---:|---:|---:|---:|---:|---|---|---:|---:|---:|\n",
    );
    for r in runs {
        let counters: Vec<String> =
            r.counters.iter().filter(|(_, v)| **v != 0).map(|(k, v)| format!("{k} {v}")).collect();
        let ratio = match r.p99_over_linux {
            Some(x) => {
                format!("{} ({})", human::ratio(x), if x <= 2.0 { "within 2x" } else { "over 2x" })
            }
            None if r.server == "linux" => "ref".into(),
            None => "-".into(),
        };
        let [a, b, c] = r.rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0));
        out.push_str(&format!(
            "| {} | {} | {} of {} | {} | {} | {} | {} | {} | {a} / {b} / {c} MiB | {} | {} | {} |\n",
            r.workload,
            r.server,
            r.ok,
            r.conns,
            human::latency_us(r.connect_p50_us as f64),
            human::latency_us(r.connect_p99_us as f64),
            human::latency_us(r.connect_max_us as f64),
            ratio,
            if counters.is_empty() { "-".into() } else { counters.join(", ") },
            r.server_cpu_s.map_or("-".into(), |s| format!("{} s", human::si(s))),
            r.softirq_s.map_or("-".into(), |s| format!("{} s", human::si(s))),
            r.flood_fps.map_or("-".into(), human::si),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_come_from_the_debug_line_and_nstat() {
        let line = "listen: ListenCounters { syncookies_sent: 51234, syncookies_recv: 300, \
                    syncookies_failed: 0, listen_overflows: 0, listen_drops: 7, \
                    syn_queue_pruned: 4096 }";
        let c = debug_counters(line);
        assert_eq!(c.len(), 6, "{c:?}");
        assert_eq!(c["syncookies_sent"], 51234);
        assert_eq!(c["syn_queue_pruned"], 4096);
        assert!(debug_counters("listen:").is_empty());
        let nstat = "#kernel\nTcpExtSyncookiesSent            93583              0.0\n\
                     TcpExtTCPReqQFullDrop 5 0.0\nTcpExtTCPHPHits 9 0.0\ngarbage\n";
        let n = parse_nstat(nstat);
        assert_eq!(n.len(), 2, "{n:?}");
        assert_eq!(n["TcpExtSyncookiesSent"], 93583);
    }

    #[test]
    fn cookie_flag_and_workload_names() {
        assert_eq!(cookie_settings("both"), Ok(vec![true, false]));
        assert_eq!(cookie_settings("off"), Ok(vec![false]));
        assert!(cookie_settings("maybe").unwrap_err().contains("--synflood-cookies"));
        assert_eq!(workload(true), "synflood");
        assert_eq!(workload(false), "synflood-nocookies");
    }

    #[test]
    fn the_table_gives_the_ratio_and_the_goal() {
        let run = |server: &str, p99: u64, ratio: Option<f64>| Run {
            workload: "synflood".into(),
            server: server.into(),
            cookies: true,
            conns: 300,
            ok: 300,
            connect_p50_us: 40,
            connect_p99_us: p99,
            connect_max_us: 900,
            counters: BTreeMap::from([("syncookies_sent".to_string(), 5), ("x".into(), 0)]),
            stack_line: String::new(),
            rss_kib: [1024, 2048, 2048],
            server_cpu_s: Some(1.5),
            softirq_s: Some(0.5),
            flood_fps: Some(20_000.0),
            p99_over_linux: ratio,
            open_secs: 0.1,
        };
        let t = markdown(&[run("xdptcp", 250, Some(2.5)), run("linux", 100, None)]);
        assert!(t.contains("| synflood | xdptcp | 300 of 300 |"), "{t}");
        assert!(t.contains("2.50x (over 2x)"), "{t}");
        assert!(t.contains("| ref |"), "{t}");
        assert!(t.contains("syncookies_sent 5 |"), "{t}");
        assert!(t.contains("1.0 / 2.0 / 2.0 MiB"), "{t}");
    }
}
