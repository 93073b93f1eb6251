//! `xdptcp load --stack xdptcp` and `xdptcp serve proxy` in a veth lab (scripts/lab.sh).
//!
//! Each test makes its own lab (name from the test letter and the pid): our stack runs in the
//! stack namespace over AF_XDP, Linux servers (`xdptcp serve APP --stack linux`) in the
//! kernel namespace. Needs root: without it the tests print "skipped: needs root" (unless CI
//! is set, where they fail). One test at a time, every step bounded in time; the lab is
//! removed on drop, also while unwinding.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static SERIAL: Mutex<()> = Mutex::new(());

fn has_root() -> bool {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout).unwrap_or_default();
    if String::from_utf8_lossy(&uid).trim() == "0" {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the AF_XDP lab tests need root, and CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

const BIN: &str = env!("CARGO_BIN_EXE_xdptcp");

struct Lab {
    name: String,
    stack_ns: String,
    stack_if: String,
    stack_ip: String,
    kernel_ns: String,
    kernel_ip: String,
}

impl Lab {
    fn up(letter: &str, extra: &[&str]) -> Lab {
        let name = format!("y{letter}{}", std::process::id() % 100_000);
        let out = Command::new(repo().join("scripts/lab.sh"))
            .args(["up", &name])
            .args(extra)
            .output()
            .expect("lab.sh runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut lab = Lab {
            name,
            stack_ns: String::new(),
            stack_if: String::new(),
            stack_ip: String::new(),
            kernel_ns: String::new(),
            kernel_ip: String::new(),
        };
        assert!(out.status.success(), "lab up: {text}{}", String::from_utf8_lossy(&out.stderr));
        let vars = text.lines().last().expect("lab.sh prints its variables last");
        for kv in vars.split_whitespace() {
            if let Some((k, v)) = kv.split_once('=') {
                match k {
                    "STACK_NS" => lab.stack_ns = v.into(),
                    "STACK_IF" => lab.stack_if = v.into(),
                    "STACK_IP" => lab.stack_ip = v.into(),
                    "KERNEL_NS" => lab.kernel_ns = v.into(),
                    "KERNEL_IP" => lab.kernel_ip = v.into(),
                    _ => {}
                }
            }
        }
        assert!(!lab.stack_if.is_empty() && !lab.kernel_ip.is_empty(), "{text}");
        lab
    }

    /// `xdptcp ARGS` in namespace `ns`, output into a log file.
    fn spawn(&self, ns: &str, tag: &str, args: &[&str]) -> Proc {
        let log = std::env::temp_dir().join(format!("xdptcp-{}-{tag}.log", self.name));
        let out = std::fs::File::create(&log).expect("log file");
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN])
            .args(args)
            .stdout(out.try_clone().expect("dup"))
            .stderr(out)
            .stdin(Stdio::null())
            .spawn()
            .expect("xdptcp starts");
        Proc { child: Some(child), log }
    }

    /// A Linux server (`serve APP --stack linux`) in the kernel namespace, once listening.
    fn linux_server(&self, app: &str, port: u16) -> Proc {
        let listen = format!("{}:{port}", self.kernel_ip);
        let mut p = self.spawn(
            &self.kernel_ns.clone(),
            &format!("linux-{app}-{port}"),
            &["serve", app, "--stack", "linux", "--listen", &listen],
        );
        p.wait_line("listening on");
        p
    }

    /// `xdptcp ARGS --iface .. --ip ..` on our stack in the stack namespace.
    fn xdptcp(&self, tag: &str, args: &[&str]) -> Proc {
        let mut all: Vec<&str> = args.to_vec();
        let cidr = format!("{}/24", self.stack_ip);
        all.extend(["--iface", &self.stack_if, "--ip", &cidr]);
        self.spawn(&self.stack_ns.clone(), tag, &all)
    }

    /// `python3 -c CODE ARGS` in the kernel namespace, at most `secs`; its stdout.
    fn python(&self, code: &str, args: &[&str], secs: u64) -> Result<String, String> {
        let out = Command::new("timeout")
            .args([&secs.to_string(), "ip", "netns", "exec", &self.kernel_ns, "python3", "-c"])
            .arg(code)
            .args(args)
            .output()
            .map_err(|e| format!("python: {e}"))?;
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        if !out.status.success() {
            return Err(format!("python failed ({}): {text}{}", out.status, {
                String::from_utf8_lossy(&out.stderr)
            }));
        }
        Ok(text)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(repo().join("scripts/lab.sh")).args(["down", &self.name]).output();
    }
}

struct Proc {
    child: Option<Child>,
    log: PathBuf,
}

impl Proc {
    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn wait_line(&mut self, prefix: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if self.log_text().lines().any(|l| l.starts_with(prefix)) {
                return;
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                panic!("not ready ({exited:?}):\n{}", self.log_text());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits at most `limit` for the exit (killing it after that); whether it exited 0.
    fn wait_exit(&mut self, limit: Duration) -> bool {
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

    /// SIGINT and wait.
    fn stop(&mut self) -> bool {
        if let Some(c) = &self.child {
            let _ = Command::new("kill").args(["-INT", &c.id().to_string()]).status();
        }
        self.wait_exit(Duration::from_secs(20))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        if std::thread::panicking() {
            eprintln!("---- {} ----\n{}", self.log.display(), self.log_text());
        } else {
            let _ = std::fs::remove_file(&self.log);
        }
    }
}

/// Runs `load WORKLOAD --stack xdptcp` against a Linux server; returns the JSON report.
fn load(lab: &Lab, workload: &str, app: &str, conns: &str, secs: &str) -> serde_json::Value {
    let mut server = lab.linux_server(app, 7001);
    let json = std::env::temp_dir().join(format!("xdptcp-{}-{workload}.json", lab.name));
    let json_s = json.to_string_lossy().to_string();
    let target = format!("{}:7001", lab.kernel_ip);
    let mut client = lab.xdptcp(
        workload,
        &[
            "load", workload, "--stack", "xdptcp", "--target", &target, "--conns", conns,
            "--duration", secs, "--size", "64", "--json", &json_s,
        ],
    );
    let ok = client.wait_exit(Duration::from_secs(40));
    let log = client.log_text();
    assert!(ok, "load {workload} failed:\n{log}");
    assert!(server.stop(), "the Linux server did not exit 0");
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    // A progress line each second, on stderr (the log has both streams).
    assert!(log.lines().any(|l| l.starts_with("[   1s] ")), "no progress line: {log}");
    eprintln!("{workload}: {}", log.lines().rev().find(|l| !l.is_empty()).unwrap_or_default());
    v
}

fn check_report(v: &serde_json::Value, workload: &str) {
    assert_eq!(v["client"], "xdptcp", "{v}");
    assert_eq!(v["workload"], workload, "{v}");
    for key in ["throughput", "completed", "bytes", "duration_s", "errors", "p50_us", "p99_us"] {
        assert!(v.get(key).is_some(), "report lacks {key}: {v}");
    }
    assert!(v["throughput"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
    let errors = &v["errors"];
    for k in ["connect", "reset", "timeout", "protocol"] {
        assert_eq!(errors[k].as_u64(), Some(0), "errors.{k}: {v}");
    }
}

#[test]
fn a_load_rr_on_our_stack_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root() {
        return;
    }
    let lab = Lab::up("a", &[]);
    let v = load(&lab, "rr", "rr", "4", "2");
    check_report(&v, "rr");
    assert!(v["completed"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["bytes"].as_u64(), v["completed"].as_u64().map(|c| c * 128), "{v}");
    assert!(v["p50_us"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
}

#[test]
fn b_load_crr_on_our_stack_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root() {
        return;
    }
    let lab = Lab::up("b", &[]);
    let v = load(&lab, "crr", "rr", "2", "2");
    check_report(&v, "crr");
    // More connections than slots: each slot opened many, one after another.
    assert!(v["completed"].as_u64().unwrap_or(0) > 2, "{v}");
}

#[test]
fn c_load_bulk_on_our_stack_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root() {
        return;
    }
    let lab = Lab::up("c", &[]);
    let v = load(&lab, "bulk", "discard", "1", "1.5");
    assert_eq!(v["client"], "xdptcp", "{v}");
    assert!(v["bytes"].as_u64().unwrap_or(0) > 1 << 20, "{v}");
    assert!(v["throughput"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
}
