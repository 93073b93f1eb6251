//! Issue 18: `xdptcp load`, `xfer` and `serve proxy` over IPv6 on two queues (`--stack xdptcp
//! --queues 2`) in the two-queue veth lab, and the proof that every IPv6 connection a worker
//! opens (or accepts) comes back to it.
//!
//! The lab is `lab_queues.rs`'s (`lab.sh --queues 2 --rss --rss-key symmetric`): a tc egress
//! classifier on the kernel-side veth sends each TCP frame out on the queue the Toeplitz hash
//! of its 4-tuple names, which veth delivers on the RX queue of that number, as a NIC's RSS
//! would. For IPv6 it hashes the 36 bytes NICs hash for `tcp6` (`Rss::hash6`). Our stack runs
//! with the same key, and its IPv6 active opens take ports whose replies hash to their own
//! queue (`Rss::affinity_filter6`). Linux is the peer: servers on the kernel side's IPv6
//! address (`xdptcp serve APP --stack linux --listen [KERNEL6]:PORT`) and, for the proxy,
//! Linux clients to our IPv6 address.
//!
//! The proof is each worker's `final` line: `not-mine 0` (no frame of a flow the other worker
//! owns arrived on its queue), with each worker's share of the connections, and every byte
//! checked (`load`: each answer the request back; `xfer` and the proxy: verified against what
//! was sent). Needs root ("skipped: needs root" otherwise, a failure if CI is set); each lab
//! is removed on drop, every process is bounded in time.

use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{check_load_rr_64_on_two_queues, check_proxy_on_two_queues};
use common::{check_xfer_on_two_queues, has_root, Lab, Proc, XDPTCP};

static SERIAL: Mutex<()> = Mutex::new(());

/// The options of our stack on two queues with the lab's RSS key.
const QUEUES: [&str; 6] = ["--stack", "xdptcp", "--queues", "2", "--rss-key", "symmetric"];

/// A two-queue lab with RSS by the symmetric key, its kernel side's IPv6 address usable.
fn lab_up(letter: &str) -> Lab {
    let name = format!("r{letter}{}", std::process::id() % 100_000);
    let lab = Lab::up(name, &["--queues", "2", "--rss", "--rss-key", "symmetric"]);
    lab.settle_ipv6();
    lab
}

impl Lab {
    /// `xdptcp ARGS --stack xdptcp --queues 2 --rss-key symmetric --iface STACK_IF --ip
    /// STACK/24,STACK6/64` in the stack namespace, started, at most `secs`.
    fn on_two_queues6(&self, tag: &str, args: &[&str], secs: u64) -> Proc {
        let ips = format!("{}/24,{}/64", self.stack_ip, self.stack_ip6);
        let mut argv = vec![XDPTCP];
        argv.extend_from_slice(args);
        argv.extend(QUEUES);
        argv.extend(["--iface", &self.stack_if, "--ip", &ips]);
        self.proc(&self.stack_ns, tag, &argv).time_limit(secs).start()
    }

    /// [`on_two_queues6`](Self::on_two_queues6) run to its end (at most 60 s); its log. Fails
    /// with the evidence if it does not exit 0.
    fn run_on_two_queues6(&self, tag: &str, args: &[&str]) -> String {
        let mut p = self.on_two_queues6(tag, args, 60);
        if !p.wait_exit(Duration::from_secs(60)) {
            p.fail(&format!("{tag} failed"));
        }
        p.log_text()
    }
}

/// `load rr` over IPv6 with 64 connections on two workers against a Linux echo: no error,
/// every answer right, each worker opened its half, and every reply came back to the queue of
/// the worker that opened the connection.
#[test]
fn a_load_over_ipv6_on_two_queues_comes_back_to_its_queue() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue IPv6 lab tests") {
        return;
    }
    let lab = lab_up("a");

    let (mut echo, target) = lab.linux_server6("echo", 7001);
    let json = std::env::temp_dir().join(format!("xdptcp-{}-load6.json", lab.name));
    let json_s = json.to_string_lossy().to_string();
    let args = ["load", "rr", "--target", &target, "--conns", "64", "--duration", "2"];
    let args = [&args[..], &["--size", "64", "--json", &json_s]].concat();
    let log = lab.run_on_two_queues6("load6", &args);
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["target"], target.as_str(), "{v}");
    check_load_rr_64_on_two_queues(&v, &log, "load over IPv6");
    if !echo.stop(Duration::from_secs(20)) {
        echo.fail("the Linux echo did not exit 0");
    }
}

/// `xfer` over IPv6 on two workers (one stream each) against a Linux echo: every echoed byte
/// right, one stream a worker, nothing steered.
///
/// Each worker runs its own duplicate address detection (a random 0.1-1 s delay, then a
/// second) before it resolves Linux, so one may finish its stream before the other has
/// resolved. Linux's advertisements are not RSS-steered (ICMPv6) and may arrive on the
/// finished worker's queue: it must keep serving that queue (copying them to the others)
/// until every worker has finished (`Worker::serve_until_all_finished`). When a finished
/// worker ended its thread instead, its socket left the XDP program's map, the advertisements
/// went to the kernel, the late worker never resolved Linux, and this test failed in about
/// half the runs (`ndp-resolution-failed` on one worker, its stream never started).
#[test]
fn c_xfer_over_ipv6_on_two_queues_comes_back_to_its_queue() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue IPv6 lab tests") {
        return;
    }
    let lab = lab_up("c");
    let (mut echo, target) = lab.linux_server6("echo", 7001);
    // An odd size, so the two streams' shares differ by one.
    let bytes = (6u64 << 20) + 1;
    let log = lab.run_on_two_queues6(
        "xfer6",
        &["xfer", "--connect", &target, "--bytes", &bytes.to_string()],
    );
    check_xfer_on_two_queues(&log, bytes, "xfer over IPv6");
    if !echo.stop(Duration::from_secs(20)) {
        echo.fail("the Linux echo did not exit 0");
    }
}

/// `serve proxy` on two queues between Linux clients (to our IPv6 address) and a Linux echo
/// backend over IPv6: 16 connections of 1 MiB each come back byte-exact, each worker opened a
/// backend connection for every client connection it accepted, and no frame of either half
/// arrived on the other worker's queue.
#[test]
fn b_proxy_over_ipv6_on_two_queues_keeps_both_halves_on_one_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue IPv6 lab tests") {
        return;
    }
    let lab = lab_up("b");
    let (mut echo, backend) = lab.linux_server6("echo", 7007);
    let args = ["serve", "proxy", "--port", "8000", "--backend", &backend];
    let mut proxy = lab.on_two_queues6("proxy6", &args, 90);
    // It listens once every worker has a preferred address to reach the backend from.
    proxy.wait_line("listening on");
    let (n, conns) = (1u64 << 20, 16u64);
    let v = lab
        .proxy_peer(&["bulk-many", &lab.stack_ip6, "8000", &n.to_string(), &conns.to_string()], 60);
    if !proxy.stop(Duration::from_secs(20)) {
        proxy.fail("the proxy did not exit 0");
    }
    let log = proxy.log_text();
    check_proxy_on_two_queues(&v, &log, n, conns, "proxy over IPv6");
    if !echo.stop(Duration::from_secs(20)) {
        echo.fail("the Linux echo did not exit 0");
    }
}
