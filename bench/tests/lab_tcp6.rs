//! Issue 18: TCP over IPv6 on AF_XDP against Linux, on a veth lab of scripts/lab.sh (root;
//! "skipped: needs root" otherwise, a failure under CI).
//!
//! `xdptcp serve echo --stack xdptcp` listens on `::` with `--ip V4/24,STACK6/64`; a Linux
//! client (`bench/tests/interop/peer.py bulk`, python3 sockets) in the kernel namespace
//! connects to STACK6 and checks the echo byte-exact by digest, on a clean link and with 2 %
//! loss each way (nftables netdev drops towards Linux, our fault device towards us, as
//! `interop_xdp.rs` does for IPv4).
//!
//! The other direction, our stack as the client of Linux over IPv6 (`xdptcp serve APP --stack
//! linux --listen [KERNEL6]:PORT` in the kernel namespace): `load rr` against a Linux echo
//! (every answer the request's bytes back), `xfer` byte-exact against a Linux echo, and `serve
//! proxy` on our stack between a Linux client and a Linux echo backend, all over IPv6. Our
//! side waits for its duplicate address detection before it connects (or listens, for the
//! proxy), so no test waits for it.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{has_root, Lab, Proc, XDPTCP};

/// One test at a time: the worker busy-polls a core.
static SERIAL: Mutex<()> = Mutex::new(());

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py")
}

/// `xdptcp serve echo` on our stack with both families, once listening and its IPv6 address
/// past detection.
fn serve_echo6(lab: &Lab, extra: &[&str]) -> Proc {
    let ips = format!("{}/24,{}/64", lab.stack_ip, lab.stack_ip6);
    let mut argv = vec![XDPTCP, "serve", "echo", "--stack", "xdptcp", "--port", "7"];
    argv.extend_from_slice(&["--iface", &lab.stack_if, "--ip", &ips]);
    argv.extend_from_slice(extra);
    lab.settle_ipv6();
    let mut server = lab.proc(&lab.stack_ns, "serve6", &argv).pcap().time_limit(200).start();
    server.wait_line("listening on");
    lab.wait_stack_ipv6();
    server
}

/// A bulk echo of `bytes` from Linux to our IPv6 address: the peer's JSON line, checked.
fn bulk_echo6(lab: &Lab, server: &mut Proc, bytes: u64, limit: Duration) {
    let out = Command::new("timeout")
        .arg(limit.as_secs().to_string())
        .args(["ip", "netns", "exec", &lab.kernel_ns, "python3"])
        .arg(peer_script())
        .args(["bulk", &lab.stack_ip6, "7", &bytes.to_string()])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        server.fail(&format!("peer failed: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    }
    let line = stdout.lines().last().unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(line).unwrap_or_default();
    if v["received"].as_u64() != Some(bytes) || v["sent_sha"] != v["recv_sha"] {
        server.fail(&format!("echo over IPv6 differs: {stdout}"));
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0 after SIGINT");
    }
    if server.nstat("TcpInErrs") != Some(0) {
        server.fail("checksum or header errors on received segments");
    }
}

#[test]
fn a_linux_client_echo_over_ipv6_clean() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the TCP over IPv6 lab tests") {
        return;
    }
    let lab = Lab::up(format!("t6a{}", std::process::id() % 100_000), &[]);
    let mut server = serve_echo6(&lab, &[]);
    bulk_echo6(&lab, &mut server, 16 << 20, Duration::from_secs(120));
    let log = server.log_text();
    assert!(log.contains("accepted 1, closed 1, errors 0"), "{log}");
}

#[test]
fn b_linux_client_echo_over_ipv6_with_2pct_loss_each_way() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the TCP over IPv6 lab tests") {
        return;
    }
    let lab = Lab::up(format!("t6b{}", std::process::id() % 100_000), &["--loss-pct", "2"]);
    let mut server = serve_echo6(&lab, &["--fault", "rx-loss=2,seed=5"]);
    bulk_echo6(&lab, &mut server, 16 << 20, Duration::from_secs(150));
    if server.nstat("TcpRetransSegs").unwrap_or(0) == 0 {
        server.fail("2 % loss but no retransmission: was the loss applied?");
    }
}

/// `xdptcp ARGS --iface STACK_IF --ip STACK/24,STACK6/64` in the stack namespace, at most
/// `secs`.
fn xdptcp6(lab: &Lab, tag: &str, args: &[&str], secs: u64) -> Proc {
    let ips = format!("{}/24,{}/64", lab.stack_ip, lab.stack_ip6);
    let mut argv = vec![XDPTCP];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["--iface", &lab.stack_if, "--ip", &ips]);
    lab.proc(&lab.stack_ns, tag, &argv).time_limit(secs).start()
}

#[test]
fn c_our_load_rr_against_a_linux_echo_over_ipv6() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the TCP over IPv6 lab tests") {
        return;
    }
    let lab = Lab::up(format!("t6c{}", std::process::id() % 100_000), &[]);
    lab.settle_ipv6();
    let (mut server, target) = lab.linux_server6("echo", 7001);
    let json = std::env::temp_dir().join(format!("xdptcp-{}-rr6.json", lab.name));
    let json_s = json.to_string_lossy().to_string();
    let args = ["load", "rr", "--stack", "xdptcp", "--target", &target, "--conns", "4"];
    let args = [&args[..], &["--duration", "2", "--size", "64", "--json", &json_s]].concat();
    let mut client = xdptcp6(&lab, "load6", &args, 60);
    if !client.wait_exit(Duration::from_secs(60)) {
        client.fail("load rr over IPv6 failed");
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the Linux echo did not exit 0");
    }
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    let completed = v["completed"].as_u64().unwrap_or(0);
    eprintln!("load rr over IPv6: completed {completed}, p50 {} us", v["p50_us"]);
    assert!(completed > 100, "{v}");
    // Every answer was the request's 64 bytes and length prefix back: byte-exact.
    assert_eq!(v["bytes"].as_u64(), Some(completed * 128), "{v}");
    for k in ["connect", "reset", "timeout", "protocol"] {
        assert_eq!(v["errors"][k].as_u64(), Some(0), "errors.{k}: {v}");
    }
    assert_eq!(v["target"], target.as_str(), "{v}");
    assert_eq!(client.nstat("TcpInErrs"), Some(0), "{}", client.log_text());
}

#[test]
fn d_our_xfer_against_a_linux_echo_over_ipv6() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the TCP over IPv6 lab tests") {
        return;
    }
    let lab = Lab::up(format!("t6d{}", std::process::id() % 100_000), &[]);
    lab.settle_ipv6();
    let (mut server, target) = lab.linux_server6("echo", 7002);
    let bytes = (16u64 << 20).to_string();
    let args = ["xfer", "--stack", "xdptcp", "--connect", &target, "--bytes", &bytes];
    let mut client = xdptcp6(&lab, "xfer6", &args, 120);
    if !client.wait_exit(Duration::from_secs(120)) {
        client.fail("xfer over IPv6 failed");
    }
    let log = client.log_text();
    let ok = log.lines().find(|l| l.starts_with("xfer ok")).unwrap_or_default().to_string();
    // `verified`: every echoed byte matched the pattern sent.
    eprintln!("{ok}");
    let want = format!("sent {bytes} B, received {bytes} B, verified");
    assert!(ok.contains(&want), "{log}");
    assert_eq!(client.nstat("TcpInErrs"), Some(0), "{log}");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the Linux echo did not exit 0");
    }
}

#[test]
fn e_our_proxy_between_linux_peers_over_ipv6() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the TCP over IPv6 lab tests") {
        return;
    }
    let lab = Lab::up(format!("t6e{}", std::process::id() % 100_000), &[]);
    lab.settle_ipv6();
    let (mut echo, backend) = lab.linux_server6("echo", 7007);
    let args = ["serve", "proxy", "--stack", "xdptcp", "--backend", &backend, "--port", "8000"];
    let mut proxy = xdptcp6(&lab, "proxy6", &args, 120);
    proxy.wait_line("listening on");
    let bytes = 4u64 << 20;
    let v = lab.proxy_peer(&["bulk", &lab.stack_ip6, "8000", &bytes.to_string()], 60);
    if !proxy.stop(Duration::from_secs(20)) {
        proxy.fail("the proxy did not exit 0");
    }
    let log = proxy.log_text();
    assert_eq!(v["received"].as_u64(), Some(bytes), "{v}\n{log}");
    assert_eq!(v["same"], true, "bytes differ: {v}");
    assert!(log.contains("accepted 1, completed 1, aborted 0"), "{log}");
    assert!(log.contains(&format!("bytes up {bytes}, bytes down {bytes}")), "{log}");
    assert!(echo.stop(Duration::from_secs(20)), "the echo server did not exit 0");
}
