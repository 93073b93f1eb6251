//! `xdptcp load`, `xfer`, `serve proxy` and `serve rudp-echo` on two queues (`--stack xdptcp
//! --queues 2`) in a two-queue veth lab, and the proof that every connection a worker opens
//! comes back to it (and that every rudp flow is answered by the worker of its queue).
//!
//! veth has no Toeplitz RSS: it delivers a frame on the RX queue numbered like the TX queue
//! the sender picked (`veth_xmit`: `rxq = skb_get_queue_mapping(skb)`), and the kernel picks
//! that per socket from its own random flow hash. So the lab (`lab.sh --queues 2 --rss
//! --rss-key symmetric`) makes the kernel side pick it as a NIC's RSS would: a tc egress
//! classifier computes the Toeplitz hash of each TCP frame's 4-tuple with the symmetric key
//! (6d:5a repeated) and sends the frame out on the queue the indirection table names. Our
//! stack runs with the same key (`--rss-key symmetric`). An xdptcp server on the kernel-side
//! veth (its own address, two queues) answers each flow from the queue it arrived on, which
//! with a symmetric key is the queue its RSS gives the flow: the queue the client chose.
//!
//! The proof is each worker's `final` line: `not-mine 0` (no frame of a flow owned by the
//! other worker arrived on its queue, so none was steered), with every worker's share of
//! active opens. Needs root ("skipped: needs root" otherwise, a failure if CI is set); each
//! lab is removed on drop, every process is bounded in time.

use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{assert_none_steered, check_load_rr_64_on_two_queues, check_proxy_on_two_queues};
use common::{check_xfer_on_two_queues, has_root, worker_counter as counter, worker_finals};
use common::{Lab, Proc, XDPTCP};

static SERIAL: Mutex<()> = Mutex::new(());

/// A two-queue lab whose kernel side picks queues by Toeplitz with the symmetric key.
fn lab_up(letter: &str) -> Lab {
    let name = format!("q{letter}{}", std::process::id() % 100_000);
    Lab::up(name, &["--queues", "2", "--rss", "--rss-key", "symmetric"])
}

/// The same made by `xdptcp lab up` (the binary alone, its compiled-in classifier source).
fn lab_up_by_binary(letter: &str) -> Lab {
    let name = format!("q{letter}{}", std::process::id() % 100_000);
    Lab::up_by_binary(name, &["--queues", "2", "--rss", "--rss-key", "symmetric"])
}

/// The options of our stack on two queues with the lab's RSS key.
const QUEUES: [&str; 6] = ["--stack", "xdptcp", "--queues", "2", "--rss-key", "symmetric"];

/// Each worker's `final q..` line, in queue order.
fn finals(log: &str) -> Vec<String> {
    worker_finals(log, 2)
}

impl Lab {
    /// `xdptcp serve APP` on two queues of the kernel-side veth, on an address of its own
    /// (198.18.X.4: the kernel keeps .1), once listening; and that address.
    fn xdptcp_server(&self, app: &str, port: u16) -> (Proc, String) {
        let net = self.kernel_ip.rsplit_once('.').expect("dotted quad").0;
        let (ip, cidr) = (format!("{net}.4"), format!("{net}.4/24"));
        let port_s = port.to_string();
        let mut argv = vec![XDPTCP, "serve", app, "--port", &port_s];
        argv.extend(QUEUES);
        argv.extend(["--iface", &self.kernel_if, "--ip", &cidr]);
        let mut p =
            self.proc(&self.kernel_ns, &format!("xdptcp-{app}"), &argv).time_limit(90).start();
        p.wait_line("listening on");
        (p, ip)
    }

    /// `xdptcp ARGS --stack xdptcp --queues 2 --rss-key symmetric` in the stack namespace, run
    /// to its end (at most 60 s); its log. Fails with the evidence if it does not exit 0.
    fn on_two_queues(&self, tag: &str, args: &[&str]) -> String {
        let mut all = args.to_vec();
        all.extend(QUEUES);
        let mut p = self.xdptcp(tag, &all).time_limit(60).start();
        if !p.wait_exit(Duration::from_secs(60)) {
            p.fail(&format!("{tag} failed"));
        }
        p.log_text()
    }
}

/// `load rr` with 64 connections over two workers against `target`; checks the merged report
/// (no error of any kind, every response whole) and that each worker opened its 32
/// connections and got every reply on its own queue. Returns the workers' final lines.
fn load_rr_64(lab: &Lab, tag: &str, target: &str) -> Vec<String> {
    let json = std::env::temp_dir().join(format!("xdptcp-{}-{tag}.json", lab.name));
    let json_s = json.to_string_lossy().to_string();
    let args =
        ["load", "rr", "--target", target, "--conns", "64", "--duration", "2", "--json", &json_s];
    let log = lab.on_two_queues(tag, &args);
    let text = std::fs::read_to_string(&json).expect("the JSON report was written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    check_load_rr_64_on_two_queues(&v, &log, tag)
}

/// The load generator on two queues, 64 connections, against a Linux server and against an
/// xdptcp server on two queues: every reply lands on the queue that opened its connection
/// (`not-mine 0` on both workers, 32 active opens each). Then `xfer` on two queues: one
/// stream a worker, each byte of the echo checked against the pattern.
#[test]
fn a_load_and_xfer_on_two_queues_come_back_to_their_queue() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue lab tests") {
        return;
    }
    let lab = lab_up("a");

    let mut linux = lab.linux_server("rr", 7001);
    load_rr_64(&lab, "load-linux", &format!("{}:7001", lab.kernel_ip));
    assert!(linux.stop(Duration::from_secs(20)), "the Linux server did not exit 0");

    let (mut server, ip) = lab.xdptcp_server("rr", 7002);
    load_rr_64(&lab, "load-xdptcp", &format!("{ip}:7002"));
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the xdptcp server did not exit 0");
    }
    // With the symmetric key the server agrees with the client on every flow's queue: it
    // steered nothing either, and each of its workers accepted the 32 of its queue.
    let log = server.log_text();
    let server_finals = finals(&log);
    for line in &server_finals {
        assert_eq!(counter(line, "tcp-passive-opens"), 32, "{line}");
    }
    assert_none_steered(&server_finals, "xdptcp server");

    let mut echo = lab.linux_server("echo", 7007);
    let connect = format!("{}:7007", lab.kernel_ip);
    let bytes = (6u64 << 20) + 1; // odd: the shares differ by one
    let log =
        lab.on_two_queues("xfer", &["xfer", "--connect", &connect, "--bytes", &bytes.to_string()]);
    check_xfer_on_two_queues(&log, bytes, "xfer");
    assert!(echo.stop(Duration::from_secs(20)), "the echo server did not exit 0");
}

/// `serve proxy` on two queues between Linux clients and a Linux echo backend: 16
/// connections of 1 MiB each come back byte-exact; each worker opened a backend connection
/// for every client connection it accepted (on its own core), and no frame of either half
/// arrived on the other worker's queue.
#[test]
fn b_proxy_on_two_queues_keeps_both_halves_on_one_core() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue lab tests") {
        return;
    }
    let lab = lab_up("b");
    let mut echo = lab.linux_server("echo", 7007);
    let backend = format!("{}:7007", lab.kernel_ip);
    let mut args = vec!["serve", "proxy", "--port", "8000", "--backend", &backend];
    args.extend(QUEUES);
    let mut proxy = lab.xdptcp("proxy", &args).time_limit(90).start();
    proxy.wait_line("listening on");
    let (n, conns) = (1u64 << 20, 16u64);
    let v = lab
        .proxy_peer(&["bulk-many", &lab.stack_ip, "8000", &n.to_string(), &conns.to_string()], 60);
    if !proxy.stop(Duration::from_secs(20)) {
        proxy.fail("the proxy did not exit 0");
    }
    let log = proxy.log_text();
    check_proxy_on_two_queues(&v, &log, n, conns, "proxy");
    assert!(echo.stop(Duration::from_secs(20)), "the echo server did not exit 0");
}

/// The queue the lab's classifier gives a UDP datagram from `client:port` to `server:dst`
/// (Toeplitz over the 4-tuple with the symmetric key, the 128-entry table of i % 2).
fn udp_queue(client: &str, port: u16, server: &str, dst: u16) -> u16 {
    use xdptcp_driver::rss::{Rss, RxTuple, SYMMETRIC_KEY};
    let rss = Rss::new(SYMMETRIC_KEY, 2).expect("two queues");
    rss.rx_queue(&RxTuple {
        src_ip: client.parse().expect("client address"),
        dst_ip: server.parse().expect("server address"),
        src_port: port,
        dst_port: dst,
    })
}

/// `serve rudp-echo` on two queues: each worker answers the rudp connections of the flows
/// its queue receives. Linux `load rudp` clients, one after another, each from a source port
/// chosen (by narrowing the kernel namespace's ephemeral range to it) so that two hash to
/// queue 0 and one to queue 1, each opening its four connections at once (each worker's first
/// answers wait together for the client's address to resolve; no warm-up run is needed now
/// that the stack's pending queue holds them): worker 0 accepts the 8 connections of the
/// first two, worker 1 the 4 of the third, none of their datagrams fails
/// authentication on a worker that does not hold its connection (each worker has its own
/// key), and every message comes back. The lab is `xdptcp lab up --rss`'s: without its
/// classifier the kernel would spread the flows by a hash of its own, not the one computed
/// here.
#[test]
fn c_rudp_echo_on_two_queues_answers_each_flow_on_its_queue() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the multi-queue lab tests") {
        return;
    }
    let lab = lab_up_by_binary("c");
    let port = 7100u16;
    let mut args = vec!["serve", "rudp-echo", "--port", "7100"];
    args.extend(QUEUES);
    let mut server = lab.xdptcp("rudp-echo", &args).time_limit(90).start();
    server.wait_line("listening on");
    let on = |q: u16| -> Vec<u16> {
        let (kip, sip) = (&lab.kernel_ip, &lab.stack_ip);
        (30000u16..40000).filter(|&p| udp_queue(kip, p, sip, port) == q).take(2).collect()
    };
    let (q0, q1) = (on(0), on(1));
    let clients = [(q0[0], "4"), (q0[1], "4"), (q1[0], "4")];
    let target = format!("{}:{port}", lab.stack_ip);
    for (i, (p, conns)) in clients.iter().enumerate() {
        let range = format!("net.ipv4.ip_local_port_range={p} {p}");
        let out = std::process::Command::new("ip")
            .args(["netns", "exec", &lab.kernel_ns, "sysctl", "-qw", &range])
            .output()
            .expect("sysctl runs");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let tag = format!("load-rudp-{i}");
        let json = std::env::temp_dir().join(format!("xdptcp-{}-{tag}.json", lab.name));
        let json_s = json.to_string_lossy().to_string();
        let argv = [
            XDPTCP,
            "load",
            "rudp",
            "--target",
            &target,
            "--conns",
            conns,
            "--duration",
            "1",
            "--json",
            &json_s,
        ];
        let mut p = lab.proc(&lab.kernel_ns, &tag, &argv).time_limit(30).start();
        if !p.wait_exit(Duration::from_secs(30)) {
            p.fail(&format!("{tag} failed"));
        }
        let text = std::fs::read_to_string(&json).expect("the JSON report was written");
        let _ = std::fs::remove_file(&json);
        let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
        for k in ["connect", "reset", "timeout", "protocol"] {
            assert_eq!(v["errors"][k].as_u64(), Some(0), "{tag} errors.{k}: {v}");
        }
        assert!(v["completed"].as_u64().unwrap_or(0) > 4, "{tag}: {v}");
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the rudp echo did not exit 0");
    }
    let log = server.log_text();
    let finals = finals(&log);
    for (line, accepted) in finals.iter().zip([8, 4]) {
        assert_eq!(counter(line, "rudp-accepted"), accepted, "{log}");
        assert_eq!(counter(line, "rudp-unauthenticated"), 0, "{log}");
        assert_eq!(counter(line, "rudp-unknown-connection"), 0, "{log}");
        assert_eq!(counter(line, "rudp-malformed"), 0, "{log}");
        assert!(counter(line, "rudp-messages") > 4, "{log}");
    }
    let sum = "stopped (signal): accepted 12, closed 12";
    assert!(log.lines().any(|l| l.starts_with(sum)), "{log}");
}
