//! Issue 18: TCP over IPv6 on AF_XDP against Linux, on a veth lab of scripts/lab.sh (root;
//! "skipped: needs root" otherwise, a failure under CI).
//!
//! `xdptcp serve echo --stack xdptcp` listens on `::` with `--ip V4/24,STACK6/64`; a Linux
//! client (`bench/tests/interop/peer.py bulk`, python3 sockets) in the kernel namespace
//! connects to STACK6 and checks the echo byte-exact by digest, on a clean link and with 2 %
//! loss each way (nftables netdev drops towards Linux, our fault device towards us, as
//! `interop_xdp.rs` does for IPv4).

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

/// `xdptcp serve echo` on our stack with both families, once listening.
fn serve_echo6(lab: &Lab, extra: &[&str]) -> Proc {
    let ips = format!("{}/24,{}/64", lab.stack_ip, lab.stack_ip6);
    let mut argv = vec![XDPTCP, "serve", "echo", "--stack", "xdptcp", "--port", "7"];
    argv.extend_from_slice(&["--iface", &lab.stack_if, "--ip", &ips]);
    argv.extend_from_slice(extra);
    lab.settle_ipv6();
    let mut server = lab.proc(&lab.stack_ns, "serve6", &argv).pcap().time_limit(200).start();
    server.wait_line("listening on");
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
