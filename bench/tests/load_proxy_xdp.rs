//! `xdptcp load --stack xdptcp` and `xdptcp serve proxy` in a veth lab (scripts/lab.sh).
//!
//! Each test makes its own lab (name from the test letter and the pid): our stack runs in the
//! stack namespace over AF_XDP, Linux servers (`xdptcp serve APP --stack linux`) in the
//! kernel namespace. Needs root: without it the tests print "skipped: needs root" (unless CI
//! is set, where they fail). One test at a time, every step bounded in time; the lab is
//! removed on drop, also while unwinding.

use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{has_root, Lab, Proc, XDPTCP};

/// This file's lab for a test: the name carries the test's letter and the pid, so labs of
/// parallel runs never collide.
fn lab_up(letter: &str, extra: &[&str]) -> Lab {
    Lab::up(format!("y{letter}{}", std::process::id() % 100_000), extra)
}

static SERIAL: Mutex<()> = Mutex::new(());

impl Lab {
    /// `proxy_peer.py ARGS` in the background in the kernel namespace, at most 60 s.
    fn peer_spawn(&self, tag: &str, args: &[&str]) -> Proc {
        let script = common::proxy_peer_script();
        let mut argv = vec!["python3", script.to_str().expect("a UTF-8 path")];
        argv.extend_from_slice(args);
        self.proc(&self.kernel_ns, tag, &argv).time_limit(60).start()
    }
}

/// Runs `xdptcp load WORKLOAD` on our stack against a Linux server for `secs`, with `extra`
/// arguments, and returns its JSON report.
fn load(
    lab: &Lab,
    workload: &str,
    app: &str,
    conns: &str,
    secs: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut server = lab.linux_server(app, 7001);
    let json = std::env::temp_dir().join(format!("xdptcp-{}-{workload}.json", lab.name));
    let json_s = json.to_string_lossy().to_string();
    let target = format!("{}:7001", lab.kernel_ip);
    let mut args = vec![
        "load",
        workload,
        "--stack",
        "xdptcp",
        "--target",
        &target,
        "--conns",
        conns,
        "--duration",
        secs,
        "--size",
        "64",
        "--json",
        &json_s,
    ];
    args.extend_from_slice(extra);
    let mut client = lab.xdptcp(workload, &args).start();
    if !client.wait_exit(Duration::from_secs(40)) {
        client.fail(&format!("load {workload} failed"));
    }
    let log = client.log_text();
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the Linux server did not exit 0");
    }
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
    if !has_root("the load and proxy lab tests") {
        return;
    }
    let lab = lab_up("a", &[]);
    let v = load(&lab, "rr", "rr", "4", "2", &[]);
    check_report(&v, "rr");
    assert!(v["completed"].as_u64().unwrap_or(0) > 0, "{v}");
    assert_eq!(v["bytes"].as_u64(), v["completed"].as_u64().map(|c| c * 128), "{v}");
    assert!(v["p50_us"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
}

#[test]
fn b_load_crr_on_our_stack_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the load and proxy lab tests") {
        return;
    }
    let lab = lab_up("b", &[]);
    // About 24,000 connections a second, each leaving its port in TIME-WAIT for the second
    // before it may be reused: Linux's default range (28,232 ports) is nearly all taken, and
    // a faster spell ran short of ports (connect errors). The range `bench lab` gives its
    // clients, ours and Linux's alike.
    let v = load(&lab, "crr", "rr", "2", "2", &["--local-ports", "10000-65000"]);
    check_report(&v, "crr");
    // More connections than slots: each slot opened many, one after another.
    assert!(v["completed"].as_u64().unwrap_or(0) > 2, "{v}");
}

#[test]
fn c_load_bulk_on_our_stack_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the load and proxy lab tests") {
        return;
    }
    let lab = lab_up("c", &[]);
    let v = load(&lab, "bulk", "discard", "1", "1.5", &[]);
    assert_eq!(v["client"], "xdptcp", "{v}");
    assert!(v["bytes"].as_u64().unwrap_or(0) > 1 << 20, "{v}");
    assert!(v["throughput"].as_f64().unwrap_or(0.0) > 0.0, "{v}");
}

/// Starts `serve proxy` on `stack` in front of `backend`; returns it and its address. On our
/// stack it runs in the stack namespace on AF_XDP; on Linux in the kernel namespace.
fn proxy(lab: &Lab, stack: &str, backend: &str, extra: &[&str]) -> (Proc, String) {
    let mut args = vec!["serve", "proxy", "--stack", stack, "--backend", backend];
    let (mut p, target) = if stack == "xdptcp" {
        args.extend(["--port", "8000"]);
        args.extend_from_slice(extra);
        (lab.xdptcp("proxy", &args).start(), format!("{}:8000", lab.stack_ip))
    } else {
        let listen = format!("{}:8000", lab.kernel_ip);
        args.extend(["--listen", &listen]);
        args.extend_from_slice(extra);
        args.insert(0, XDPTCP);
        (lab.proc(&lab.kernel_ns, "proxy", &args).start(), listen)
    };
    p.wait_line("listening on");
    (p, target)
}

/// Stops a proxy; checks it exited 0 and returns its log.
fn stop_proxy(mut p: Proc) -> String {
    if !p.stop(Duration::from_secs(20)) {
        p.fail("the proxy did not exit 0");
    }
    p.log_text()
}

/// The proxy on `stack`: a few MiB byte-exact through an echo backend, half-close passed on
/// both ways, and a dead backend answered with a reset.
fn proxy_suite(stack: &str, letter: &str) {
    let lab = lab_up(letter, &[]);
    let port = "8000";

    // Byte-exact through an echo backend (Linux), in both directions at once.
    let mut echo = lab.linux_server("echo", 7007);
    let backend = format!("{}:7007", lab.kernel_ip);
    let (p, target) = proxy(&lab, stack, &backend, &[]);
    let (ip, _) = target.split_once(':').expect("ADDR:PORT");
    let bytes = 4u64 << 20;
    let v = lab.proxy_peer(&["bulk", ip, port, &bytes.to_string()], 60);
    let log = stop_proxy(p);
    assert_eq!(v["received"].as_u64(), Some(bytes), "{v}\n{log}");
    assert_eq!(v["same"], true, "bytes differ: {v}");
    assert!(log.contains("accepted 1, completed 1, aborted 0"), "{log}");
    assert!(log.contains(&format!("bytes up {bytes}, bytes down {bytes}")), "{log}");
    assert!(echo.stop(Duration::from_secs(20)), "the echo server did not exit 0");

    // Half-close: the backend sends and shuts its write side first; the client must see
    // that FIN while its own direction stays open, and the backend must get the client's
    // later reply and FIN.
    let mut server = lab.peer_spawn("halfclose", &["halfclose-server", "7008"]);
    server.wait_line("{\"listening\"");
    let backend = format!("{}:7008", lab.kernel_ip);
    let (p, target) = proxy(&lab, stack, &backend, &[]);
    let (ip, _) = target.split_once(':').expect("ADDR:PORT");
    let v = lab.proxy_peer(&["halfclose-client", ip, port], 30);
    assert!(server.wait_exit(Duration::from_secs(30)), "backend: {}", server.log_text());
    let got = server.log_text();
    let log = stop_proxy(p);
    assert_eq!(v["first"], "greeting", "{v}\n{log}");
    assert_eq!(v["rest"], 0, "{v}");
    assert!(got.contains("\"got\": \"reply after your fin\""), "backend saw {got}\n{log}");

    // A backend that is not there: the client's connection ends with a reset (or at worst
    // a close), never waits.
    let backend = format!("{}:7999", lab.kernel_ip);
    let (p, target) = proxy(&lab, stack, &backend, &[]);
    let (ip, _) = target.split_once(':').expect("ADDR:PORT");
    let v = lab.proxy_peer(&["down", ip, port], 30);
    let log = stop_proxy(p);
    assert!(v["how"] == "reset" || v["how"] == "closed", "{v}\n{log}");
    assert!(log.contains("backend failures 1"), "{log}");
}

#[test]
fn d_proxy_on_our_stack() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the load and proxy lab tests") {
        return;
    }
    proxy_suite("xdptcp", "d");
}

#[test]
fn e_proxy_on_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the load and proxy lab tests") {
        return;
    }
    proxy_suite("linux", "e");
}

/// 2 % loss each way in our proxy's device (every byte crosses it four times: client in,
/// backend out, backend in, client out): the echo still comes back byte-exact.
#[test]
fn f_proxy_on_our_stack_with_2pct_loss_each_way() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the load and proxy lab tests") {
        return;
    }
    let lab = lab_up("f", &[]);
    let mut echo = lab.linux_server("echo", 7007);
    let backend = format!("{}:7007", lab.kernel_ip);
    let fault = ["--fault", "rx-loss=2,tx-loss=2,seed=3"];
    let (p, target) = proxy(&lab, "xdptcp", &backend, &fault);
    let (ip, port) = target.split_once(':').expect("ADDR:PORT");
    let bytes = 4u64 << 20;
    let v = lab.proxy_peer(&["bulk", ip, port, &bytes.to_string()], 150);
    let log = stop_proxy(p);
    assert_eq!(v["received"].as_u64(), Some(bytes), "{v}\n{log}");
    assert_eq!(v["same"], true, "bytes differ: {v}");
    let fault_line = log.lines().find(|l| l.starts_with("fault rx:")).unwrap_or_default();
    assert!(!fault_line.contains("dropped: 0,"), "no loss injected: {fault_line}");
    let tcp = log.lines().find(|l| l.starts_with("tcp: ")).unwrap_or_default();
    assert!(!tcp.contains("TcpRetransSegs 0,"), "loss but no retransmission: {tcp}");
    eprintln!("{fault_line}\n{tcp}\n{v}");
    assert!(echo.stop(Duration::from_secs(20)), "the echo server did not exit 0");
}
