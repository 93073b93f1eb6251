//! The lab and the processes in it: the two-namespace veth lab (`xdptcp lab up`, removed on
//! drop), servers and clients as child processes stopped on drop, the private temp directory
//! with the nginx and HAProxy configs, and finding installed tools.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use super::tool_output::{error_line, last_line};
use super::{interrupted, Outcome, CLIENT_PORTS, HTTP_BODY, PORT_HAPROXY, PORT_NGINX};

/// Runs `cmd` and returns its stdout, or a one-line error.
pub(super) fn output(cmd: &mut Command) -> Result<String, String> {
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
pub(super) fn run_bounded(mut cmd: Command, limit: Duration) -> Result<String, String> {
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

pub(super) fn find_tool(name: &str) -> Option<String> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin", "/usr/local/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .map(|p| p.to_string_lossy().to_string())
}

/// How this binary was built, for the report's `build` line. `scripts/bench.sh` and
/// `scripts/pgo-build.sh` set `XDPTCP_BUILD` at compile time to name the cargo profile and
/// whether profile-guided optimisation trained it, because the two builds of the same commit
/// differ by several per cent in the lab's rows; a plain `cargo build` says only debug or
/// optimised.
pub(super) fn build_note() -> &'static str {
    match option_env!("XDPTCP_BUILD") {
        Some(note) if !note.is_empty() => note,
        _ if cfg!(debug_assertions) => "debug (cargo build)",
        _ => "optimised (cargo build; profile not named, no PGO)",
    }
}

pub(super) fn cpu_model() -> String {
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
pub(super) struct Proc {
    name: &'static str,
    child: Child,
    lines: mpsc::Receiver<String>,
    stderr: Arc<std::sync::Mutex<String>>,
    seen: Vec<String>,
    pub(super) also: Option<Box<Proc>>,
}

impl Proc {
    pub(super) fn spawn(name: &'static str, mut cmd: Command) -> Result<Proc, String> {
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

    /// The process id (the server's, under `taskset` and `ip netns exec`, which exec).
    pub(super) fn pid(&self) -> u32 {
        self.child.id()
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
    pub(super) fn wait_line(&mut self, prefix: &str, limit: Duration) -> Result<String, String> {
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

    /// Waits up to `limit` for the process to exit by itself (then it is stopped on drop).
    pub(super) fn wait_exit(&mut self, limit: Duration) -> Result<(), String> {
        let deadline = Instant::now() + limit;
        loop {
            interrupted()?;
            match self.child.try_wait() {
                Ok(Some(_)) => return Ok(()),
                Ok(None) if Instant::now() > deadline => {
                    return Err(format!(
                        "the {} did not end within {} s",
                        self.name,
                        limit.as_secs()
                    ));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("waiting for the {}: {e}", self.name)),
            }
        }
    }

    /// Sends SIGTERM and waits up to `limit` for a clean exit; (stdout, stderr). A process
    /// that does not exit 0 in time is an error (and is killed on drop).
    pub(super) fn terminate(&mut self, limit: Duration) -> Result<(String, String), String> {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + limit;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() > deadline {
                return Err(format!("the {} did not exit within {} s", self.name, limit.as_secs()));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let status =
            self.child.wait().map_err(|e| format!("waiting for the {}: {e}", self.name))?;
        let (out, err) = self.collect();
        if !status.success() {
            return Err(format!("the {} exited with {status}: {}", self.name, error_line(&err)));
        }
        Ok((out, err))
    }

    /// Waits until something listens on TCP `port` in namespace `ns`.
    pub(super) fn wait_port(&mut self, ns: &str, port: u16) -> Result<(), String> {
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
pub(super) struct LabGuard {
    bin: PathBuf,
    name: String,
    pub(super) stack_ns: String,
    pub(super) kernel_ns: String,
    pub(super) stack_if: String,
    pub(super) kernel_if: String,
    /// The AF_XDP servers' address (NAME-a0, not the kernel's).
    pub(super) xdp_ip: String,
    /// The kernel servers' address (added to NAME-a0).
    pub(super) linux_ip: String,
    /// An xdptcp client's address (NAME-k0, not the kernel's).
    pub(super) client_xdp_ip: String,
    /// The kernel's own address on NAME-k0 (nginx behind the proxies).
    pub(super) kernel_ip: String,
    /// The IPv6 counterparts of `xdp_ip`, `linux_ip` and `client_xdp_ip` (the `-v6` rows),
    /// in the lab's 2001:db8:X::/64.
    pub(super) xdp_ip6: String,
    pub(super) linux_ip6: String,
    pub(super) client_xdp_ip6: String,
}

impl LabGuard {
    pub(super) fn up(bin: &Path, name: &str) -> Result<LabGuard, String> {
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
            xdp_ip6: String::new(),
            linux_ip6: String::new(),
            client_xdp_ip6: String::new(),
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
        let sip6 = var("STACK_IP6").unwrap_or_default();
        let prefix6 = sip6.rsplit_once("::").map(|(p, _)| p.to_string()).unwrap_or_default();
        lab.xdp_ip6 = sip6;
        lab.linux_ip6 = format!("{prefix6}::3");
        lab.client_xdp_ip6 = format!("{prefix6}::4");
        Ok(lab)
    }

    /// Waits (at most 10 pings, 1 s each) until our stack answers an ICMPv6 echo at `addr`
    /// from the clients' namespace: it listens at once, but its address takes traffic only
    /// after duplicate address detection (RFC 4862 §5.4, up to 2 s), and a Linux client's
    /// first connect would meet an unresolved neighbour.
    pub(super) fn wait_ipv6_answers(&self, addr: &str) -> Result<(), String> {
        for _ in 0..10 {
            let ok = Command::new("ip")
                .args(["netns", "exec", &self.kernel_ns, "ping", "-6", "-c", "1", "-W", "1", addr])
                .output()
                .is_ok_and(|o| o.status.success());
            if ok {
                return Ok(());
            }
        }
        Err(format!("{addr} did not answer a ping in 10 s (duplicate address detection?)"))
    }

    pub(super) fn add_linux_address(&self) -> Result<(), String> {
        output(Command::new("ip").args([
            "-n",
            &self.stack_ns,
            "addr",
            "add",
            &format!("{}/24", self.linux_ip),
            "dev",
            &self.stack_if,
        ]))?;
        // The kernel servers' IPv6 address, in use at once (no detection: the lab's own).
        // IPv6 is off on NAME-a0 (scripts/lab.sh: the kernel must not answer for the stack's
        // link-local address, which both would form from the one MAC); turn it on without
        // a link-local address of the kernel's own.
        for (key, value) in [("addr_gen_mode", "1"), ("disable_ipv6", "0")] {
            let setting = format!("net.ipv6.conf.{}.{key}={value}", self.stack_if);
            output(Command::new("ip").args([
                "netns",
                "exec",
                &self.stack_ns,
                "sysctl",
                "-qw",
                &setting,
            ]))?;
        }
        output(Command::new("ip").args([
            "-n",
            &self.stack_ns,
            "addr",
            "add",
            &format!("{}/64", self.linux_ip6),
            "dev",
            &self.stack_if,
            "nodad",
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
    /// Written to /proc/sys from inside the namespace (its `net` entries are per namespace),
    /// so no `sysctl` binary is needed.
    pub(super) fn tune_client_ports(&self) -> Result<(), String> {
        let script = format!(
            "echo '{}' > /proc/sys/net/ipv4/ip_local_port_range && \
             echo 1 > /proc/sys/net/ipv4/tcp_tw_reuse",
            CLIENT_PORTS.replace('-', " ")
        );
        output(Command::new("ip").args(["netns", "exec", &self.kernel_ns, "sh", "-c", &script]))
            .map(|_| ())
    }

    /// Frames `dev` in namespace `ns` has sent so far (`tx_packets`), or `None`.
    pub(super) fn tx_packets(&self, ns: &str, dev: &str) -> Option<u64> {
        let out =
            output(Command::new("ip").args(["-j", "-s", "-n", ns, "link", "show", "dev", dev]))
                .ok()?;
        let v: serde_json::Value = serde_json::from_str(&out).ok()?;
        v[0]["stats64"]["tx"]["packets"].as_u64()
    }

    /// Frames sent by both ends of the veth pair so far (their `tx_packets`; AF_XDP frames
    /// included: copy mode transmits through the device), or `None` if unreadable.
    pub(super) fn wire_frames(&self) -> Option<u64> {
        Some(
            self.tx_packets(&self.stack_ns, &self.stack_if)?
                + self.tx_packets(&self.kernel_ns, &self.kernel_if)?,
        )
    }

    /// Sets the MTU of both veth ends (9000 for the jumbo rows, 1500 otherwise).
    pub(super) fn set_mtu(&self, mtu: usize) -> Result<(), String> {
        for (ns, iface) in [(&self.stack_ns, &self.stack_if), (&self.kernel_ns, &self.kernel_if)] {
            let mtu = mtu.to_string();
            output(Command::new("ip").args(["-n", ns, "link", "set", iface, "mtu", &mtu]))?;
        }
        Ok(())
    }

    /// Removes any XDP program from the stack-side interface (no-op if none).
    pub(super) fn detach(&self, bin: &Path) {
        let _ = Command::new("ip")
            .args(["netns", "exec", &self.stack_ns])
            .arg(bin)
            .args(["detach", "--iface", &self.stack_if])
            .output();
    }

    /// `timeout`-free `taskset -c CORE ip netns exec NS BIN ARGS` (the bench bounds clients
    /// itself and stops servers).
    pub(super) fn in_ns(&self, ns: &str, core: &str, bin: &str, args: &[&str]) -> Command {
        self.in_ns_tool(ns, core, bin, args)
    }

    pub(super) fn in_ns_tool(&self, ns: &str, core: &str, tool: &str, args: &[&str]) -> Command {
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
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Result<TempDir, String> {
        let p = std::env::temp_dir().join(format!("xdptcp-bench-{name}"));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).map_err(|e| format!("cannot create {}: {e}", p.display()))?;
        Ok(TempDir(p))
    }

    pub(super) fn file(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().to_string()
    }

    pub(super) fn path_str(&self) -> String {
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
    pub(super) fn nginx_conf(&self, ip: &str) -> Result<String, Outcome> {
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
    pub(super) fn haproxy_conf(&self, ip: &str, backend: &str) -> Result<String, Outcome> {
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
