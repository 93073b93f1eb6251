//! Helpers shared by the root-only lab tests: the root check, the veth lab of
//! scripts/lab.sh, torn down on drop (also while unwinding from a panic), and [`Proc`], a
//! process in one of the lab's namespaces with its output in a log file.
//!
//! Each test file is its own crate and uses only some of these.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The CLI under test.
pub const XDPTCP: &str = env!("CARGO_BIN_EXE_xdptcp");

/// Whether the test may run: root. Without root it prints "skipped: needs root" and returns
/// false, except under CI, where a skipped lab test would hide a failure: then it panics.
pub fn has_root(what: &str) -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    if String::from_utf8_lossy(&uid).trim() == "0" {
        return true;
    }
    assert!(std::env::var_os("CI").is_none(), "{what} needs root, and CI is set");
    eprintln!("skipped: needs root");
    false
}

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A lab made by scripts/lab.sh: the stack namespace (our stack on AF_XDP) and the kernel
/// namespace (Linux peers), with the names and addresses the script printed.
pub struct Lab {
    pub name: String,
    pub stack_ns: String,
    pub stack_if: String,
    pub stack_ip: String,
    pub kernel_ns: String,
    pub kernel_if: String,
    pub kernel_ip: String,
    /// The IPv6 address meant for the stack (2001:db8:X::2, a /64).
    pub stack_ip6: String,
    /// The kernel side's IPv6 address (2001:db8:X::1/64).
    pub kernel_ip6: String,
}

impl Lab {
    /// `scripts/lab.sh up NAME EXTRA...`; panics with the script's output if it fails.
    pub fn up(name: String, extra: &[&str]) -> Lab {
        Lab::up_with(Command::new(repo().join("scripts/lab.sh")), name, extra)
    }

    /// The same made by `xdptcp lab up NAME EXTRA...` (the script and the RSS classifier's
    /// source compiled into the binary).
    pub fn up_by_binary(name: String, extra: &[&str]) -> Lab {
        let mut cmd = Command::new(XDPTCP);
        cmd.arg("lab");
        Lab::up_with(cmd, name, extra)
    }

    fn up_with(mut cmd: Command, name: String, extra: &[&str]) -> Lab {
        let out = cmd.args(["up", &name]).args(extra).output().expect("the lab script runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "lab up: {text}{}", String::from_utf8_lossy(&out.stderr));
        let mut lab = Lab {
            name,
            stack_ns: String::new(),
            stack_if: String::new(),
            stack_ip: String::new(),
            kernel_ns: String::new(),
            kernel_if: String::new(),
            kernel_ip: String::new(),
            stack_ip6: String::new(),
            kernel_ip6: String::new(),
        };
        let vars = text.lines().last().expect("lab.sh prints its variables last");
        for (k, v) in vars.split_whitespace().filter_map(|kv| kv.split_once('=')) {
            match k {
                "STACK_NS" => lab.stack_ns = v.into(),
                "STACK_IF" => lab.stack_if = v.into(),
                "STACK_IP" => lab.stack_ip = v.into(),
                "KERNEL_NS" => lab.kernel_ns = v.into(),
                "KERNEL_IF" => lab.kernel_if = v.into(),
                "KERNEL_IP" => lab.kernel_ip = v.into(),
                "STACK_IP6" => lab.stack_ip6 = v.into(),
                "KERNEL_IP6" => lab.kernel_ip6 = v.into(),
                _ => {}
            }
        }
        assert!(!lab.stack_if.is_empty() && !lab.kernel_ip.is_empty(), "{text}");
        lab
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/lab.sh")).args(["down", &self.name]).output();
    }
}

impl Lab {
    /// A process to start in namespace `ns` (`argv[0]` is the program); `tag` names its files
    /// and its messages, so it must be unique among the processes of one lab.
    pub fn proc(&self, ns: &str, tag: &str, argv: &[&str]) -> ProcBuilder {
        ProcBuilder {
            lab: self.name.clone(),
            ns: ns.to_string(),
            tag: tag.to_string(),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            pcap: false,
            time_limit: None,
        }
    }

    /// `xdptcp ARGS --iface STACK_IF --ip STACK_IP/24`: our stack on AF_XDP in the stack
    /// namespace.
    pub fn xdptcp(&self, tag: &str, args: &[&str]) -> ProcBuilder {
        let cidr = format!("{}/24", self.stack_ip);
        let mut argv = vec![XDPTCP];
        argv.extend_from_slice(args);
        argv.extend(["--iface", &self.stack_if, "--ip", &cidr]);
        self.proc(&self.stack_ns, tag, &argv)
    }
}

impl Lab {
    /// Waits (at most 10 s) until the kernel side has no tentative IPv6 address left: Linux
    /// answers our duplicate address detection only once its side of the link is up.
    pub fn settle_ipv6(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let out = Command::new("ip")
                .args(["-n", &self.kernel_ns, "-6", "addr", "show", "dev", &self.kernel_if])
                .arg("tentative")
                .output()
                .expect("ip runs");
            if out.status.success() && out.stdout.is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("{}: IPv6 addresses still tentative after 10 s", self.kernel_if);
    }

    /// Waits (at most 10 s) until our stack's IPv6 address answers a ping from the kernel
    /// side: our server listens at once, but the address takes traffic only once its
    /// duplicate address detection is done (a random delay of up to a second, then a
    /// second), and a Linux client that connects before then can give up resolving it.
    pub fn wait_stack_ipv6(&self) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::time::Instant::now() < deadline {
            let ok = Command::new("ip")
                .args(["netns", "exec", &self.kernel_ns, "ping", "-6", "-c", "1", "-W", "1"])
                .arg(&self.stack_ip6)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return;
            }
        }
        panic!("{} did not answer a ping within 10 s", self.stack_ip6);
    }

    /// Adds `n` more addresses to the kernel-side veth (`.first`, `.first+1`, ... of the lab's
    /// /24) and returns them: each is one more source of ports for many client connections.
    /// They go with the namespace when the lab is taken down.
    pub fn kernel_aliases(&self, first: u8, n: u8) -> Vec<String> {
        let net = self.kernel_ip.rsplit_once('.').expect("dotted quad").0;
        (first..first + n)
            .map(|host| {
                let addr = format!("{net}.{host}");
                let ok = Command::new("ip")
                    .args(["-n", &self.kernel_ns, "addr", "add", &format!("{addr}/24")])
                    .args(["dev", &self.kernel_if])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "cannot add {addr} to {}", self.kernel_if);
                addr
            })
            .collect()
    }

    /// `xdptcp hold --target TARGET ARGS` (Linux sockets) in the kernel namespace, started.
    pub fn hold(&self, tag: &str, target: &str, args: &[&str]) -> Proc {
        let mut argv = vec![XDPTCP, "hold", "--target", target];
        argv.extend_from_slice(args);
        self.proc(&self.kernel_ns, tag, &argv).start()
    }
}

/// `bench/tests/interop/proxy_peer.py`: the Linux-side peers of the proxy and load tests.
pub fn proxy_peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/proxy_peer.py")
}

impl Lab {
    /// A Linux server (`xdptcp serve APP --stack linux`) in the kernel namespace, once
    /// listening.
    pub fn linux_server(&self, app: &str, port: u16) -> Proc {
        let listen = format!("{}:{port}", self.kernel_ip);
        let argv = [XDPTCP, "serve", app, "--stack", "linux", "--listen", &listen];
        let mut p = self.proc(&self.kernel_ns, &format!("linux-{app}-{port}"), &argv).start();
        p.wait_line("listening on");
        p
    }

    /// A Linux server (`xdptcp serve APP --stack linux`) on the kernel side's IPv6 address
    /// only, once listening; and its `[ADDR]:PORT`.
    pub fn linux_server6(&self, app: &str, port: u16) -> (Proc, String) {
        let listen = format!("[{}]:{port}", self.kernel_ip6);
        let argv = [XDPTCP, "serve", app, "--stack", "linux", "--listen", &listen];
        let tag = format!("linux6-{app}-{port}");
        let mut p = self.proc(&self.kernel_ns, &tag, &argv).time_limit(120).start();
        p.wait_line("listening on");
        (p, listen)
    }

    /// `proxy_peer.py ARGS` in the kernel namespace, at most `secs`; its last JSON line.
    pub fn proxy_peer(&self, args: &[&str], secs: u64) -> serde_json::Value {
        let out = Command::new("timeout")
            .args([&secs.to_string(), "ip", "netns", "exec", &self.kernel_ns, "python3"])
            .arg(proxy_peer_script())
            .args(args)
            .output()
            .expect("python runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "peer {args:?} failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let line = text.lines().last().unwrap_or_default();
        serde_json::from_str(line).unwrap_or_else(|e| panic!("peer printed {text:?}: {e}"))
    }
}

/// A process's resident set in KiB (`VmRSS` of /proc/PID/status).
pub fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for pid {pid}"))
}

/// The soft limit on open files of this process (children inherit it).
pub fn open_files_limit() -> usize {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    limits
        .lines()
        .find_map(|l| l.strip_prefix("Max open files"))
        .and_then(|v| v.split_whitespace().next())
        .map_or(1024, |v| v.parse().unwrap_or(usize::MAX))
}

/// How a [`Proc`] is started: see [`Lab::proc`] and [`Lab::xdptcp`].
pub struct ProcBuilder {
    lab: String,
    ns: String,
    tag: String,
    argv: Vec<String>,
    pcap: bool,
    time_limit: Option<u64>,
}

impl ProcBuilder {
    /// Adds `--pcap FILE` (xdptcp's capture option) with a file named after the lab and the
    /// tag. A failure then also shows the last packets, and the capture is kept with the log.
    pub fn pcap(mut self) -> ProcBuilder {
        self.pcap = true;
        self
    }

    /// Runs the process under `timeout SECS`, a bound that holds even if the test never
    /// waits for it. (`timeout` passes SIGINT on to the process.)
    pub fn time_limit(mut self, secs: u64) -> ProcBuilder {
        self.time_limit = Some(secs);
        self
    }

    /// Spawns it with stdin from /dev/null and stdout and stderr into the log file
    /// `xdptcp-LAB-TAG.log` in the temp dir (lab names are unique per run, tags per lab).
    pub fn start(self) -> Proc {
        let dir = std::env::temp_dir();
        let stem = format!("xdptcp-{}-{}", self.lab, self.tag);
        let log = dir.join(format!("{stem}.log"));
        let pcap = self.pcap.then(|| dir.join(format!("{stem}.pcap")));
        let out = std::fs::File::create(&log).expect("log file");
        let mut cmd = match self.time_limit {
            Some(secs) => {
                let mut c = Command::new("timeout");
                c.arg(secs.to_string()).arg("ip");
                c
            }
            None => Command::new("ip"),
        };
        cmd.args(["netns", "exec", &self.ns]).args(&self.argv);
        if let Some(pcap) = &pcap {
            cmd.arg("--pcap").arg(pcap);
        }
        let child = cmd
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{} does not start: {e}", self.tag));
        let wrapped = self.time_limit.is_some();
        Proc { child: Some(child), tag: self.tag, log, pcap, wrapped, reported: false }
    }
}

/// A process in a lab namespace, its log and, for xdptcp with [`ProcBuilder::pcap`], its
/// capture. Dropped, it is killed and reaped; its files are removed unless the test failed:
/// then its log tail (and last packets) are printed and the files kept, as CI artifacts.
pub struct Proc {
    /// `None` once it has been waited for.
    child: Option<Child>,
    tag: String,
    log: PathBuf,
    pcap: Option<PathBuf>,
    /// Run under `timeout`: a SIGKILL to it would leave its child running.
    wrapped: bool,
    /// The evidence has been printed (by [`Proc::fail`], or on drop in a panic); the
    /// files stay.
    reported: bool,
}

/// How long [`Proc::wait_line`] waits.
const READY_LIMIT: Duration = Duration::from_secs(20);

impl Proc {
    /// Everything it has written so far (both streams).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (at most 20 s) for a log line starting with `prefix`; fails, with the evidence,
    /// if the process exits first or the time runs out.
    pub fn wait_line(&mut self, prefix: &str) {
        let deadline = Instant::now() + READY_LIMIT;
        loop {
            if self.log_text().lines().any(|l| l.starts_with(prefix)) {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                // Reaped: its pid is no longer ours to signal.
                self.child = None;
                // It may have printed the line just before exiting.
                if self.log_text().lines().any(|l| l.starts_with(prefix)) {
                    return;
                }
                self.fail(&format!("{} exited ({status}) before printing {prefix:?}", self.tag));
            }
            if self.child.is_none() {
                self.fail(&format!("{} was already waited for; no {prefix:?} line", self.tag));
            }
            if Instant::now() > deadline {
                self.fail(&format!("{} printed no {prefix:?} line in {READY_LIMIT:?}", self.tag));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGINT, then waits at most `limit` for the exit (killing it after that); returns
    /// whether it exited 0.
    pub fn stop(&mut self, limit: Duration) -> bool {
        if let Some(c) = &self.child {
            // `ip netns exec` execs the program, so the child's pid is the program's own (or
            // `timeout`'s, which passes the signal on).
            let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).status();
        }
        self.wait_exit(limit)
    }

    /// Waits at most `limit` for the process to exit on its own (killing it after that);
    /// returns whether it exited 0. False if it was already waited for.
    pub fn wait_exit(&mut self, limit: Duration) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let deadline = Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Its process id while it runs (the program's own: `ip netns exec` execs it; `timeout`'s
    /// under [`ProcBuilder::time_limit`]).
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    /// Its capture file (with [`ProcBuilder::pcap`], one queue), if written.
    pub fn capture(&self) -> Option<&Path> {
        self.pcap.as_deref().filter(|p| p.exists())
    }

    /// The JSON of its last line starting with `prefix` (e.g. `hold`'s `report {...}`).
    pub fn json_line(&self, prefix: &str) -> Option<serde_json::Value> {
        let log = self.log_text();
        let line = log.lines().rev().find_map(|l| l.strip_prefix(prefix))?;
        serde_json::from_str(line.trim()).ok()
    }

    /// The number after `key ` in its last line starting with `prefix` (`stopped`'s
    /// `accepted N`, `stats:`'s `bytes in N`, the memory line's `chunks_in_use: N`).
    pub fn number(&self, prefix: &str, key: &str) -> Option<u64> {
        let log = self.log_text();
        let line = log.lines().rev().find(|l| l.starts_with(prefix))?;
        number_after(line, key)
    }

    /// A counter from xdptcp's last `tcp: ` line (nstat names, `NAME VALUE, ...`).
    pub fn nstat(&self, name: &str) -> Option<i64> {
        let log = self.log_text();
        let counters = log.lines().rev().find_map(|l| l.strip_prefix("tcp: "))?;
        counters.split(", ").find_map(|kv| {
            let (k, v) = kv.split_once(' ')?;
            (k == name).then(|| v.parse().ok()).flatten()
        })
    }

    /// Stops the process (SIGINT, so it writes its final counters), prints the evidence,
    /// keeps the files and panics with `why`.
    pub fn fail(&mut self, why: &str) -> ! {
        self.stop(Duration::from_secs(10));
        self.report();
        panic!("{why}");
    }

    /// Prints the log's last lines and, with a capture, the last packets; marks the files
    /// to be kept.
    fn report(&mut self) {
        self.reported = true;
        let log = self.log_text();
        let lines: Vec<&str> = log.lines().collect();
        let skip = lines.len().saturating_sub(LOG_TAIL);
        eprintln!("---- {} log ({}) ----", self.tag, self.log.display());
        if skip > 0 {
            eprintln!("({skip} earlier lines in the file)");
        }
        eprintln!("{}", lines[skip..].join("\n"));
        for pcap in self.captures() {
            eprintln!("---- {} capture {} ----", self.tag, pcap.display());
            eprintln!("{}", tcpdump_tail(&pcap, 40));
        }
    }

    /// The capture files that exist: FILE, or with several queues one per queue (FILE.qN.pcap).
    fn captures(&self) -> Vec<PathBuf> {
        let Some(pcap) = &self.pcap else { return Vec::new() };
        let per_queue = (0..4).map(|q| pcap.with_extension(format!("q{q}.pcap")));
        std::iter::once(pcap.clone()).chain(per_queue).filter(|p| p.exists()).collect()
    }
}

/// How many lines of its log a failed process shows.
const LOG_TAIL: usize = 200;

impl Drop for Proc {
    fn drop(&mut self) {
        if self.wrapped {
            // `timeout` passes SIGTERM on to its child; `wait_exit` kills it after 2 s.
            if let Some(c) = &self.child {
                let _ = Command::new("kill").args(["-TERM", &c.id().to_string()]).status();
            }
            self.wait_exit(Duration::from_secs(2));
        }
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() && !self.reported {
            self.report();
        }
        if self.reported {
            let captures = self.captures();
            eprintln!(
                "kept {} and {} capture file(s): {captures:?}",
                self.log.display(),
                captures.len()
            );
            return;
        }
        for file in self.captures() {
            let _ = std::fs::remove_file(file);
        }
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The number after `key` (and a space) in `line`.
pub fn number_after(line: &str, key: &str) -> Option<u64> {
    let at = line.find(key)? + key.len();
    let digits: String =
        line[at..].trim_start().chars().take_while(|c| c.is_ascii_digit()).collect();
    digits.parse().ok()
}

/// `tcpdump -nr FILE | tail -n N`.
fn tcpdump_tail(pcap: &Path, n: usize) -> String {
    match Command::new("tcpdump").arg("-nr").arg(pcap).output() {
        Ok(o) => {
            let text = String::from_utf8_lossy(&o.stdout).to_string();
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(tcpdump unavailable: {e})"),
    }
}

/// Each worker's `final q..` line of a `--queues N` run's log, in queue order (exactly `n`).
pub fn worker_finals(log: &str, n: usize) -> Vec<String> {
    let lines: Vec<String> =
        log.lines().filter(|l| l.starts_with("final q")).map(str::to_string).collect();
    assert_eq!(lines.len(), n, "one final line per worker: {log}");
    lines
}

/// `key N` of a worker's final line.
pub fn worker_counter(line: &str, key: &str) -> u64 {
    number_after(line, &format!(" {key} ")).unwrap_or_else(|| panic!("no {key} in {line}"))
}

/// Every frame each worker received belonged to a flow it owns: nothing was steered to
/// another worker (`not-mine 0`), and every worker received something.
pub fn assert_none_steered(finals: &[String], who: &str) {
    for line in finals {
        assert_eq!(
            worker_counter(line, "not-mine"),
            0,
            "{who}: a frame arrived on the wrong queue: {line}"
        );
        assert!(worker_counter(line, "rx") > 0, "{who}: a worker received nothing: {line}");
    }
}

/// Checks a `load rr --conns 64` run on two queues: its JSON report `v` (no error of any kind,
/// every response whole) and its `log` (the workers' shares add up to the report, progress
/// merged, each worker opened its 32 connections and got every reply on its own queue).
/// Returns the workers' final lines.
pub fn check_load_rr_64_on_two_queues(v: &serde_json::Value, log: &str, who: &str) -> Vec<String> {
    for k in ["connect", "reset", "timeout", "protocol"] {
        assert_eq!(v["errors"][k].as_u64(), Some(0), "{who}: errors.{k}: {v}\n{log}");
    }
    let completed = v["completed"].as_u64().unwrap_or(0);
    assert!(completed > 64, "{who}: {v}\n{log}");
    // 64 bytes of request and 64 of response per completed request: every response came
    // back whole (the client checks each one's length prefix and size).
    assert_eq!(v["bytes"].as_u64(), Some(completed * 128), "{who}: {v}");
    assert_eq!(v["conns"].as_u64(), Some(64), "{who}: {v}");
    // The merged report is the sum of the workers' shares.
    let shares: u64 = log
        .lines()
        .filter(|l| l.starts_with('q') && l.contains(" load: "))
        .map(|l| number_after(l, "completed").expect("completed N"))
        .sum();
    assert_eq!(shares, completed, "{log}");
    // Progress: one merged line a second for both workers, none of a single worker's.
    assert!(log.lines().any(|l| l.starts_with("[   1s] rr ")), "a merged progress line: {log}");
    assert!(!log.lines().any(|l| l.starts_with("q0 [") || l.starts_with("q1 [")), "{log}");
    let finals = worker_finals(log, 2);
    for line in &finals {
        assert_eq!(worker_counter(line, "tcp-active-opens"), 32, "32 a worker: {line}");
    }
    assert_none_steered(&finals, who);
    eprintln!("{who}: {}", log.lines().filter(|l| l.starts_with("rr against")).collect::<String>());
    finals
}

/// Checks an `xfer --bytes BYTES` run on two queues: verified, one stream a worker, nothing
/// steered.
pub fn check_xfer_on_two_queues(log: &str, bytes: u64, who: &str) {
    let ok = format!("xfer ok: sent {bytes} B, received {bytes} B, verified");
    assert!(
        log.lines().any(|l| l.starts_with(&ok) && l.ends_with("over 2 streams, one per queue")),
        "{who}: {log}"
    );
    let finals = worker_finals(log, 2);
    for line in &finals {
        assert_eq!(worker_counter(line, "tcp-active-opens"), 1, "one stream a worker: {line}");
    }
    assert_none_steered(&finals, who);
}

/// Checks `serve proxy` on two queues after `conns` Linux connections of `n` bytes each way
/// (`v`, the peer's report): byte-exact, every connection completed, each worker opened a
/// backend connection for every client connection it accepted, nothing steered.
pub fn check_proxy_on_two_queues(v: &serde_json::Value, log: &str, n: u64, conns: u64, who: &str) {
    assert_eq!(v["same"], true, "{who}: bytes differ: {v}\n{log}");
    assert_eq!(v["received"].as_u64(), Some(n * conns), "{who}: {v}");
    let total = n * conns;
    let stopped = format!("accepted {conns}, completed {conns}, aborted 0, backend failures 0");
    assert!(log.contains(&stopped), "{log}");
    assert!(log.contains(&format!("bytes up {total}, bytes down {total}")), "{log}");
    let finals = worker_finals(log, 2);
    for line in &finals {
        assert_eq!(
            worker_counter(line, "tcp-active-opens"),
            worker_counter(line, "tcp-passive-opens"),
            "each client connection's backend connection opened by its own worker: {line}"
        );
    }
    let accepted: u64 = finals.iter().map(|l| worker_counter(l, "tcp-passive-opens")).sum();
    assert_eq!(accepted, conns, "{log}");
    assert_none_steered(&finals, who);
}
