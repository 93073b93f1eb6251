//! Issue 17 item 3 on a veth lab of scripts/lab.sh (root; "skipped: needs root" otherwise, a
//! failure under CI): a SYN flood from the kernel side (hping3 with random spoofed sources,
//! pinned to core 0) against an echo server pinned to core 1, while a Linux client makes 300
//! legitimate connections (connect-and-echo) and measures its connect times. The same flood
//! is run against our stack and against a Linux epoll server on the same veth (the stack-side
//! veth given the address instead), with SYN cookies on and off (for Linux the namespace's
//! `net.ipv4.tcp_syncookies`).
//!
//! The spoofed sources are off-link: our stack routes its SYN-ACKs to them through the
//! kernel side (`--gateway`), and Linux through a default route there; the kernel side does
//! not forward, so they vanish as a real flood's do, and the half-open connections stay
//! until they time out.
//!
//! `a_` checks what holds at ordinary priority: with cookies, at least 99 % of the legitimate
//! connects succeed, and the flood's SYNs are answered with cookies; without, the SYN queue
//! fills and further SYNs are dropped and counted, without memory growth. `b_` checks the
//! whole goal: 99 % success both ways, and connect time p99 within 2x of Linux's under the
//! same flood. It runs with the scheduler's wake-up delays taken out ([`Sched::Realtime`]):
//! at ordinary priority the tail was two wake-ups on cores shared with other processes
//! (docs/tcp-conformance.md, "Hostile peers"), the worker's and the client's, which a Linux
//! server over the veth never causes (it answers in softirq inside the client's
//! `connect()`), so that comparison measured the machine's scheduler, not the servers.
//! `c_` checks that `--sched` reaches the worker thread.

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{has_root, vm_rss_kib, Lab, Proc, XDPTCP};

fn lab_up(letter: &str) -> Lab {
    Lab::up(format!("f{letter}{}", std::process::id() % 100_000), &[])
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Legitimate connections per run.
const LEGIT: usize = 300;
/// How long the flood lasts (it starts a second before the legitimate connects).
const FLOOD_SECS: u64 = 10;
/// hping3's gap between SYNs: `-i u10` (about 15,000-25,000 SYNs/s here, whichever server
/// it floods; `--flood` would take the whole core and starve the client sharing it).
const FLOOD_GAP: &str = "u10";
/// A legitimate connect-and-echo slower than this failed (Linux's SYN retransmissions come
/// at 1 s and 3 s).
const LEGIT_TIMEOUT_MS: &str = "5000";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Server {
    Xdptcp,
    Linux,
}

/// What one run measured.
#[derive(Debug)]
struct Outcome {
    /// The legitimate client's report (`xdptcp hold`).
    legit: serde_json::Value,
    /// The server's log (our stack's counters are in it).
    log: String,
    /// RSS of the server before the flood, after 3 s of it and at its end (KiB).
    rss: [u64; 3],
    /// Linux's `nstat` counters of the listener, for the Linux runs.
    linux_counters: String,
}

impl Outcome {
    fn conns(&self) -> usize {
        self.legit["conns"].as_u64().unwrap_or(0) as usize
    }
    fn held(&self) -> usize {
        self.legit["held"].as_u64().unwrap_or(0) as usize
    }
    fn p99_us(&self) -> u64 {
        self.legit["connect_p99_us"].as_u64().unwrap_or(u64::MAX)
    }
    fn line(&self, prefix: &str) -> String {
        self.log.lines().rev().find(|l| l.starts_with(prefix)).unwrap_or("").to_string()
    }
    fn summary(&self, what: &str) -> String {
        format!(
            "{what}: {} of {} legitimate connects ok, connect p50 {} us, p99 {} us, max {} \
             us; server RSS before/3 s/end {:?} KiB; {} {} {}",
            self.held(),
            self.conns(),
            self.legit["connect_p50_us"],
            self.legit["connect_p99_us"],
            self.legit["connect_max_us"],
            self.rss,
            self.line("listen:"),
            self.line("stack:"),
            self.linux_counters
        )
    }
}

/// `ip netns exec NS ARGS`, which must succeed.
fn netns(ns: &str, args: &[&str]) -> String {
    let out = Command::new("ip").args(["netns", "exec", ns]).args(args).output().expect("ip runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{args:?}: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// How the two latency-critical threads are scheduled: as they come, or with the scheduler's
/// wake-up delay taken out (`b_`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sched {
    /// Everything at ordinary priority.
    Ordinary,
    /// Our worker at `--sched fifo:10` and the legitimate client (for either server) at
    /// `chrt -f 20`. A Linux server answers a SYN in softirq, which preempts any task, inside
    /// the client's own `connect()` over the veth; our worker and the client (which sleeps
    /// until a SYN-ACK from another core wakes it) otherwise each wait for a fair-scheduler
    /// slice on a shared core.
    Realtime,
}

/// Starts the server of `kind` with cookies on or off; for Linux, gives the stack-side veth
/// the address (and takes it back in [`stop_linux`]).
fn start_server(lab: &Lab, kind: Server, cookies: bool, sched: Sched, tag: &str) -> Proc {
    let mut p = match kind {
        Server::Xdptcp => {
            let mut args = vec!["serve", "echo", "--stack", "xdptcp", "--port", "7"];
            args.extend(["--cores", "1", "--gateway", &lab.kernel_ip]);
            if !cookies {
                args.extend(["--syn-cookies", "off"]);
            }
            if sched == Sched::Realtime {
                args.extend(["--sched", "fifo:10"]);
            }
            lab.xdptcp(tag, &args).start()
        }
        Server::Linux => {
            let cidr = format!("{}/24", lab.stack_ip);
            netns(&lab.stack_ns, &["ip", "addr", "add", &cidr, "dev", &lab.stack_if]);
            netns(&lab.stack_ns, &["ip", "route", "add", "default", "via", &lab.kernel_ip]);
            let value = format!("net.ipv4.tcp_syncookies={}", u8::from(cookies));
            netns(&lab.stack_ns, &["sysctl", "-qw", &value]);
            let listen = format!("{}:7", lab.stack_ip);
            let argv = ["taskset", "-c", "1", XDPTCP, "serve", "echo", "--stack", "linux"];
            let argv = [&argv[..], &["--listen", &listen]].concat();
            lab.proc(&lab.stack_ns, tag, &argv).start()
        }
    };
    p.wait_line("listening on ");
    p
}

/// Runs the flood and `conns` legitimate connects against `kind`.
fn flood_run(lab: &Lab, kind: Server, cookies: bool, sched: Sched, conns: usize) -> Outcome {
    let tag = format!("{kind:?}-{}-{sched:?}", if cookies { "cookies" } else { "nocookies" });
    let mut server = start_server(lab, kind, cookies, sched, &tag);
    let pid = server.pid().expect("running");
    let before = vm_rss_kib(pid);
    // Linux's counters are the namespace's since it was made: this run's are the difference.
    let linux_before = linux_listen_counters(lab, kind);
    let hping = ["taskset", "-c", "0", "hping3", "-S", "-p", "7", "--rand-source", "-i", FLOOD_GAP];
    let hping = [&hping[..], &[lab.stack_ip.as_str()]].concat();
    let mut flood =
        lab.proc(&lab.kernel_ns, &format!("{tag}-flood"), &hping).time_limit(FLOOD_SECS).start();
    std::thread::sleep(Duration::from_secs(1));
    let target = format!("{}:7", lab.stack_ip);
    let conns = conns.to_string();
    let args = ["--conns", &conns, "--in-flight", "1", "--hold-secs", "0"];
    let args = [&args[..], &["--timeout-ms", LEGIT_TIMEOUT_MS]].concat();
    let client = ["taskset", "-c", "0"];
    let client = match sched {
        Sched::Ordinary => client.to_vec(),
        Sched::Realtime => [&client[..], &["chrt", "-f", "20"]].concat(),
    };
    let argv = [&client[..], &[XDPTCP, "hold", "--target", &target], &args].concat();
    let mut legit =
        lab.proc(&lab.kernel_ns, &format!("{tag}-legit"), &argv).time_limit(120).start();
    std::thread::sleep(Duration::from_secs(2));
    let at_3s = vm_rss_kib(pid);
    let done = legit.wait_exit(Duration::from_secs(130));
    let report = legit.json_line("report ");
    flood.wait_exit(Duration::from_secs(FLOOD_SECS + 5));
    let at_end = vm_rss_kib(pid);
    let linux_counters = linux_listen_counters(lab, kind)
        .iter()
        .zip(&linux_before)
        .map(|((name, after), (_, before))| format!("{name} {}", after - before))
        .collect::<Vec<_>>()
        .join(", ");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the server did not exit 0");
    }
    if kind == Server::Linux {
        netns(&lab.stack_ns, &["ip", "route", "del", "default"]);
        let cidr = format!("{}/24", lab.stack_ip);
        netns(&lab.stack_ns, &["ip", "addr", "del", &cidr, "dev", &lab.stack_if]);
        netns(&lab.stack_ns, &["sysctl", "-qw", "net.ipv4.tcp_syncookies=1"]);
    }
    let legit = match (done, report) {
        (true, Some(r)) => r,
        _ => legit.fail("the legitimate client did not finish with a report"),
    };
    let out =
        Outcome { legit, log: server.log_text(), rss: [before, at_3s, at_end], linux_counters };
    eprintln!("{}", out.summary(&tag));
    out
}

/// The Linux listener's counters (`nstat -az`: absolute, of the stack-side namespace) for a
/// Linux run; nothing for ours (its counters are in its log).
fn linux_listen_counters(lab: &Lab, kind: Server) -> Vec<(String, u64)> {
    if kind != Server::Linux {
        return Vec::new();
    }
    let text = netns(&lab.stack_ns, &["nstat", "-az"]);
    let keep = ["ListenDrops", "ListenOverflows", "Syncookies", "ReqQFull"];
    text.lines()
        .filter(|l| keep.iter().any(|k| l.contains(k)))
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            Some((f.next()?.to_string(), f.next()?.parse().ok()?))
        })
        .collect()
}

/// A number after `key` in `line` (the Debug form of our stack's counters).
fn counter(line: &str, key: &str) -> u64 {
    common::number_after(line, key).unwrap_or_else(|| panic!("no {key} in {line}"))
}

#[test]
fn a_syn_flood_cookies_keep_connects_going_and_without_them_drops_cost_no_memory() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the SYN flood lab test") {
        return;
    }
    let lab = lab_up("a");
    let on = flood_run(&lab, Server::Xdptcp, true, Sched::Ordinary, LEGIT);
    assert!(on.held() * 100 >= LEGIT * 99, "{}", on.summary("cookies on"));
    let listen = on.line("listen:");
    assert!(counter(&listen, "syncookies_sent:") > 1000, "{listen}");
    assert!(counter(&listen, "syncookies_recv:") > 0, "{listen}");

    // Fewer connects here: without cookies some wait out their whole timeout (`b_`).
    let off = flood_run(&lab, Server::Xdptcp, false, Sched::Ordinary, 20);
    let listen = off.line("listen:");
    assert_eq!(counter(&listen, "syncookies_sent:"), 0, "{listen}");
    assert!(counter(&listen, "listen_drops:") > 1000, "{listen}");
    // The SYN queue was full within the first second: from then on nothing grows with the
    // dropped SYNs. The slack is for fixed costs (the legitimate connections' first chunk
    // slab, allocator pages): runs that dropped 72,000 and 170,000 SYNs grew alike, 0.9 MiB.
    let drops = counter(&listen, "listen_drops:");
    assert!(drops > 30_000, "{listen}");
    let [_, at_3s, at_end] = off.rss;
    assert!(at_end <= at_3s + 2048, "RSS grew under the flood: {}", off.summary("cookies off"));
}

#[test]
fn b_syn_flood_connect_p99_within_2x_of_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the SYN flood lab test") {
        return;
    }
    let lab = lab_up("b");
    let mut failures = Vec::new();
    for cookies in [true, false] {
        let ours = flood_run(&lab, Server::Xdptcp, cookies, Sched::Realtime, LEGIT);
        let linux = flood_run(&lab, Server::Linux, cookies, Sched::Realtime, LEGIT);
        let what = if cookies { "cookies on" } else { "cookies off" };
        if ours.held() * 100 < LEGIT * 99 {
            failures.push(format!("{what}: {} of {LEGIT} connects ok", ours.held()));
        }
        if ours.p99_us() > 2 * linux.p99_us() {
            failures.push(format!(
                "{what}: connect p99 {} us, Linux {} us",
                ours.p99_us(),
                linux.p99_us()
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:?}");
}

/// The field `name` of a `/proc/PID/sched` text (`se.slice` in nanoseconds, `policy`).
fn sched_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    line.rsplit(':').next()?.trim().split('.').next()?.parse().ok()
}

/// `--sched` (what the connect-time tail of `b_` came from: the worker waiting for its core
/// behind other processes after each wake-up, docs/tcp-conformance.md) reaches the worker
/// thread of the real server: `slice:100` shows as its `se.slice` (kernels 6.12+), `fifo:10`
/// as policy 1 (SCHED_FIFO), and the ready line names it; the server still serves 20
/// sequential connect-and-echoes from Linux; with `--queues 2` every worker thread takes the
/// slice and the main thread does not. The connect times are printed, not asserted: they
/// depend on what else runs on the machine.
#[test]
fn c_sched_option_reaches_the_worker_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the --sched lab test") {
        return;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let custom_slices = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 12);
    let lab = lab_up("c");
    for (flag, field, want) in [("slice:100", "se.slice", 100_000), ("fifo:10", "policy", 1)] {
        let args = ["serve", "echo", "--stack", "xdptcp", "--port", "7", "--cores", "1"];
        let args = [&args[..], &["--gateway", &lab.kernel_ip, "--sched", flag]].concat();
        let mut server = lab.xdptcp(&format!("sched-{flag}"), &args).start();
        server.wait_line("listening on ");
        let ready = server.log_text();
        assert!(ready.contains(&format!("sched {flag}")), "{ready}");
        let pid = server.pid().expect("running");
        let sched = std::fs::read_to_string(format!("/proc/{pid}/sched")).expect("/proc readable");
        if field != "se.slice" || custom_slices {
            assert_eq!(sched_field(&sched, field), Some(want), "{flag}: {sched}");
        }
        let target = format!("{}:7", lab.stack_ip);
        let hold =
            ["--conns", "20", "--in-flight", "1", "--hold-secs", "0", "--timeout-ms", "5000"];
        let mut client = lab.hold(&format!("sched-{flag}-client"), &target, &hold);
        assert!(client.wait_exit(Duration::from_secs(60)), "the client did not finish");
        let report = client.json_line("report ").expect("a report");
        assert_eq!(report["held"], 20, "{flag}: {report}");
        eprintln!(
            "--sched {flag}: connect p50 {} us, p99 {} us, max {} us",
            report["connect_p50_us"], report["connect_p99_us"], report["connect_max_us"]
        );
        if !server.stop(Duration::from_secs(20)) {
            server.fail("the server did not exit 0");
        }
    }
    drop(lab);
    if !custom_slices {
        return;
    }
    // The multi-queue runtime: each worker thread (`xdptcp-qN`) takes the slice, the main
    // thread keeps its own.
    let lab = Lab::up(format!("fm{}", std::process::id() % 100_000), &["--queues", "2"]);
    let args = ["serve", "echo", "--stack", "xdptcp", "--port", "7", "--queues", "2"];
    let args = [&args[..], &["--cores", "0,1", "--sched", "slice:150"]].concat();
    let mut server = lab.xdptcp("sched-mq", &args).start();
    server.wait_line("listening on ");
    let pid = server.pid().expect("running");
    let mut slices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc readable") {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let sched = std::fs::read_to_string(dir.join("sched")).unwrap_or_default();
        slices.push((comm.trim().to_string(), sched_field(&sched, "se.slice")));
    }
    slices.sort();
    let workers: Vec<_> = slices.iter().filter(|(c, _)| c.starts_with("xdptcp-q")).collect();
    assert_eq!(workers.len(), 2, "{slices:?}");
    assert!(workers.iter().all(|(_, s)| *s == Some(150_000)), "{slices:?}");
    assert!(slices.iter().any(|(c, s)| c == "xdptcp" && *s != Some(150_000)), "{slices:?}");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the multi-queue server did not exit 0");
    }
}
