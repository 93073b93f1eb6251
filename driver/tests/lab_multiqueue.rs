//! The multi-queue runtime against Linux on a two-queue veth lab (`scripts/lab.sh --queues 2`).
//!
//! Two pinned workers, one AF_XDP socket each on queues 0 and 1, one shared XDP program. From
//! the kernel side: ping, UDP echo from many sockets (each kernel socket has its own flow
//! hash, so the kernel spreads them over its TX queues, and veth delivers on the RX queue of
//! the same number), and TCP SYNs from fixed source ports, which the workers steer to their
//! RSS owner. Needs root ("skipped: needs root" otherwise, a failure if CI is set); the lab
//! is named from the pid and removed by a Drop guard on every path.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use xdptcp_driver::rss::{Rss, RxTuple};
use xdptcp_driver::runtime::{Runtime, RuntimeConfig};
use xdptcp_driver::services::Echo;
use xdptcp_driver::xdp::XdpConfig;
use xdptcp_driver::Host;

const ECHO_PORT: u16 = 7777;

fn has_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        return true;
    }
    if std::env::var_os("CI").is_some() {
        panic!("the AF_XDP lab tests need root, and CI is set");
    }
    eprintln!("skipped: needs root");
    false
}

/// A lab made by scripts/lab.sh; torn down on drop.
struct Lab {
    name: String,
    vars: Vec<(String, String)>,
}

impl Lab {
    fn up(prefix: &str, extra: &[&str]) -> Lab {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab.sh");
        let name = format!("{prefix}{}", std::process::id() % 100_000);
        let out = Command::new(&script).args(["up", &name]).args(extra).output().expect("runs");
        let mut lab = Lab { name, vars: Vec::new() };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "lab up: {text}{}", String::from_utf8_lossy(&out.stderr));
        let last = text.lines().last().unwrap_or_default();
        lab.vars = last
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lab
    }

    fn var(&self, k: &str) -> &str {
        self.vars.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str()).expect("lab var")
    }

    fn kernel_exec(&self, args: &[&str]) -> std::process::Output {
        Command::new("timeout")
            .arg("30")
            .args(["ip", "netns", "exec", self.var("KERNEL_NS")])
            .args(args)
            .output()
            .expect("ip netns exec runs")
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/lab.sh");
        let _ = Command::new(script).args(["down", &self.name]).output();
    }
}

/// 32 UDP sockets, one datagram each, every echo byte-exact: prints the count of good echoes
/// and the number of socket (=flow) that got one.
const UDP_CLIENT: &str = r#"
import socket, sys
ip, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
good = 0
for i in range(n):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    msg = b"flow %d " % i + bytes(range(256))
    for _ in range(3):
        s.sendto(msg, (ip, port))
        try:
            data, peer = s.recvfrom(4096)
        except socket.timeout:
            continue
        if data == msg and peer == (ip, port):
            good += 1
        break
    s.close()
print(good)
"#;

/// Nonblocking connects from fixed source ports; the SYNs go unanswered (no TCP stack yet),
/// the sockets are closed after a moment.
const TCP_SYNS: &str = r#"
import socket, sys, time
ip, first, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
socks = []
for p in range(first, first + n):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", p))
    s.setblocking(False)
    s.connect_ex((ip, 80))
    socks.append(s)
time.sleep(0.5)
for s in socks:
    s.close()
"#;

#[test]
fn two_queues_two_workers_serve_and_steer() {
    if !has_root() {
        return;
    }
    let lab = Lab::up("xm", &["--queues", "2"]);
    let ip: Ipv4Addr = lab.var("STACK_IP").parse().expect("address");
    let ifname = lab.var("STACK_IF").to_string();
    let kernel_ip: Ipv4Addr = lab.var("KERNEL_IP").parse().expect("address");
    let xdp = XdpConfig { frames: 1024, ring_size: 512, ..XdpConfig::new(&ifname, ip) };
    let mut config = RuntimeConfig::new(xdp, 24, 2);
    config.netns = Some(lab.var("STACK_NS").to_string());
    config.idle = xdptcp_driver::worker::IdlePolicy::Sleep(Duration::from_micros(100));
    let rss: Arc<Rss> = config.rss.clone().expect("two queues steer by default");
    // TCP echo on port 80 (so each SYN's flow completes its handshake at its owner) and UDP
    // echo.
    let runtime = Runtime::start(config, |_stack| {
        Ok(Host::new(Echo::new(80).with_backlog(128).with_udp(ECHO_PORT)))
    })
    .expect("two workers start");
    assert_eq!(runtime.info().queues, vec![0, 1]);

    let target = ip.to_string();
    let ping = lab.kernel_exec(&["ping", "-c", "3", "-i", "0.2", "-W", "2", &target]);
    let udp = lab.kernel_exec(&["python3", "-c", UDP_CLIENT, &target, "7777", "32"]);
    let first_port = 50000u16;
    let syns = lab.kernel_exec(&["python3", "-c", TCP_SYNS, &target, "50000", "32"]);
    // Bounded wait for the SYNs to be counted (each flow: one SYN, maybe retransmitted).
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let mut stats = runtime.stats(Duration::from_secs(2));
    while stats.iter().map(|s| s.iface.rx_tcp).sum::<u64>() < 32
        && std::time::Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
        stats = runtime.stats(Duration::from_secs(2));
    }
    let live = stats.len();
    let finals = runtime.stop();
    let link = Command::new("ip")
        .args(["-n", lab.var("STACK_NS"), "link", "show", &ifname])
        .output()
        .expect("ip runs");
    drop(lab);

    assert_eq!(live, 2, "both workers answered the stats request");
    let finals: Vec<_> = finals.into_iter().map(|r| r.expect("worker ran")).collect();
    for s in &finals {
        eprintln!("{}", s.line());
    }
    let ping_out = String::from_utf8_lossy(&ping.stdout);
    assert!(ping.status.success() && ping_out.contains("3 received"), "ping: {ping_out}");
    let good: u32 = String::from_utf8_lossy(&udp.stdout).trim().parse().unwrap_or(0);
    assert_eq!(good, 32, "every flow echoed byte-exact: {:?}", udp);
    assert!(syns.status.success(), "{syns:?}");

    // Which worker owns each SYN's flow, by the RSS both workers use: every SYN must have
    // been handled by its owner, whichever queue veth delivered it on.
    let mut owned = [0u64; 2];
    for p in first_port..first_port + 32 {
        let tuple = RxTuple { src_ip: kernel_ip, dst_ip: ip, src_port: p, dst_port: 80 };
        owned[usize::from(rss.rx_queue(&tuple))] += 1;
    }
    for (q, s) in finals.iter().enumerate() {
        let tcp = s.iface.rx_tcp;
        assert!(tcp >= owned[q], "worker {q} owns {} flows, handled {tcp} SYNs", owned[q]);
        assert_eq!(tcp == 0, owned[q] == 0, "worker {q}: only owners see SYNs");
    }
    let total_tcp: u64 = finals.iter().map(|s| s.iface.rx_tcp).sum();
    assert!(total_tcp >= 32, "every SYN reached a TCP stack: {total_tcp}");
    // Each handshake completed at the flow's owner, even when the SYN or the final ACK
    // arrived on the other queue.
    for (q, s) in finals.iter().enumerate() {
        assert_eq!(s.tcp.passive_opens, owned[q], "worker {q}: {}", s.line());
        assert_eq!(s.stack.rsts_no_socket, 0, "worker {q}: no segment reached a stranger");
    }
    let out: u64 = finals.iter().map(|s| s.steer.steered_out).sum();
    let inn: u64 = finals.iter().map(|s| s.steer.steered_in).sum();
    assert_eq!(out, inn, "every steered frame was processed by its owner");
    for s in &finals {
        assert_eq!(s.steer.dropped_full + s.steer.dropped_too_big + s.steer.dropped_no_owner, 0);
        assert_eq!(s.iface.rx_bad_udp_checksum + s.iface.rx_bad_ipv4_checksum, 0);
    }
    // veth spreads: the kernel picks a TX queue per socket (its random flow hash), and veth
    // delivers on the RX queue of that number. 32 UDP sockets and 32 TCP sockets all landing
    // on one queue would have probability 2^-63.
    for (q, s) in finals.iter().enumerate() {
        assert!(s.worker_counters.rx_frames > 0, "queue {q} received traffic");
    }
    assert!(out > 0, "some SYNs arrived on the queue that does not own them");
    let link = String::from_utf8_lossy(&link.stdout);
    assert!(!link.contains("xdp"), "program detached when the workers stopped: {link}");
}
