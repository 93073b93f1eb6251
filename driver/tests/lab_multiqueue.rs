//! The multi-queue runtime against Linux on a two-queue veth lab (`scripts/lab.sh --queues 2`).
//!
//! Two pinned workers, one AF_XDP socket each on queues 0 and 1, one shared XDP program. From
//! the kernel side: ping, UDP echo from many sockets (each kernel socket has its own flow
//! hash, so the kernel spreads them over its TX queues, and veth delivers on the RX queue of
//! the same number), and TCP SYNs from fixed source ports, which the workers steer to their
//! RSS owner; and on a lab whose kernel side picks queues by RSS (`--rss`), active opens from
//! both workers whose replies all come back to the opening worker. Needs root ("skipped:
//! needs root" otherwise, a failure if CI is set); the lab is named from the pid and removed by
//! a Drop guard on every path.

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

/// A threaded Linux TCP echo server for the kernel side; prints "ready" once listening.
const TCP_ECHO_SERVER: &str = r#"
import socket, socketserver, sys
class Echo(socketserver.BaseRequestHandler):
    def handle(self):
        while True:
            data = self.request.recv(65536)
            if not data:
                return
            self.request.sendall(data)
socketserver.ThreadingTCPServer.allow_reuse_address = True
socketserver.ThreadingTCPServer.daemon_threads = True
socketserver.ThreadingTCPServer.request_queue_size = 256
srv = socketserver.ThreadingTCPServer((sys.argv[1], int(sys.argv[2])), Echo)
print("ready", flush=True)
srv.serve_forever()
"#;

/// A child process killed and reaped when the test ends, however it ends.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Clients of one worker: `n` connections to `remote`, each sends its message, reads the
/// echo, checks it byte for byte and closes. Results go to shared counters.
struct EchoClients {
    remote: (Ipv4Addr, u16),
    n: usize,
    open: std::collections::HashMap<xdptcp_stack::stack::TcpHandle, Vec<u8>>,
    ended: usize,
    good: Arc<std::sync::atomic::AtomicUsize>,
    bad: Arc<std::sync::atomic::AtomicUsize>,
}

impl EchoClients {
    fn message(h: xdptcp_stack::stack::TcpHandle) -> Vec<u8> {
        (0..1000u32).map(|i| (i as u8) ^ (h.index() as u8)).collect()
    }
}

impl xdptcp_driver::app::App for EchoClients {
    fn start(&mut self, now: xdptcp_stack::time::Instant, stack: &mut xdptcp_stack::stack::Stack) {
        for _ in 0..self.n {
            match stack.tcp_connect(now, self.remote.0, self.remote.1) {
                Ok(h) => {
                    self.open.insert(h, Vec::new());
                }
                Err(_) => {
                    self.bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    self.ended += 1;
                }
            }
        }
    }

    fn on_connected(
        &mut self,
        _: xdptcp_stack::time::Instant,
        stack: &mut xdptcp_stack::stack::Stack,
        h: xdptcp_stack::stack::TcpHandle,
    ) {
        let msg = Self::message(h);
        assert_eq!(stack.tcp_send(h, &msg), Ok(msg.len()), "1000 bytes fit the send buffer");
    }

    fn on_readable(
        &mut self,
        _: xdptcp_stack::time::Instant,
        stack: &mut xdptcp_stack::stack::Stack,
        h: xdptcp_stack::stack::TcpHandle,
    ) {
        let mut buf = [0u8; 2048];
        while let Ok(n @ 1..) = stack.tcp_recv(h, &mut buf) {
            let Some(got) = self.open.get_mut(&h) else { return };
            got.extend_from_slice(&buf[..n]);
            if got.len() >= 1000 {
                // The whole echo is in (the close then waits in TIME-WAIT: not counted on).
                let counter = if *got == Self::message(h) { &self.good } else { &self.bad };
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                self.open.remove(&h);
                self.ended += 1;
                let _ = stack.tcp_close(h);
                return;
            }
        }
    }

    fn on_closed(
        &mut self,
        _: xdptcp_stack::time::Instant,
        _: &mut xdptcp_stack::stack::Stack,
        h: xdptcp_stack::stack::TcpHandle,
        _why: xdptcp_stack::tcp::Event,
    ) {
        // Ended before its whole echo came back.
        if self.open.remove(&h).is_some() {
            self.bad.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            self.ended += 1;
        }
    }

    fn finished(&self) -> bool {
        self.ended == self.n
    }
}

/// On a lab whose kernel side picks queues by the NIC's RSS (`lab.sh --rss`), each worker's
/// active opens take ports whose replies hash back to its own queue (`Rss::affinity_filter`,
/// installed by the runtime): 32 connections per worker to a Linux echo server, every one
/// byte-exact, and not one frame steered between the workers.
#[test]
fn active_opens_come_back_to_their_queue() {
    if !has_root() {
        return;
    }
    let lab = Lab::up("xr", &["--queues", "2", "--rss"]);
    let ip: Ipv4Addr = lab.var("STACK_IP").parse().expect("address");
    let ifname = lab.var("STACK_IF").to_string();
    let kernel_ip: Ipv4Addr = lab.var("KERNEL_IP").parse().expect("address");
    // `ip netns exec` execs python, so killing the child (on every path: the guard) ends it.
    let mut server = KillOnDrop(
        Command::new("ip")
            .args(["netns", "exec", lab.var("KERNEL_NS"), "python3", "-c"])
            .args([TCP_ECHO_SERVER, &kernel_ip.to_string(), "7"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs"),
    );
    let mut ready = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(server.0.stdout.take().expect("piped")),
        &mut ready,
    )
    .expect("server output");
    assert_eq!(ready.trim(), "ready");

    let xdp = XdpConfig { frames: 1024, ring_size: 512, ..XdpConfig::new(&ifname, ip) };
    let mut config = RuntimeConfig::new(xdp, 24, 2);
    config.netns = Some(lab.var("STACK_NS").to_string());
    config.idle = xdptcp_driver::worker::IdlePolicy::Sleep(Duration::from_micros(100));
    let good = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let bad = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (g, b) = (good.clone(), bad.clone());
    let runtime = Runtime::start(config, move |_| {
        Ok(EchoClients {
            remote: (kernel_ip, 7),
            n: 32,
            open: Default::default(),
            ended: 0,
            good: g.clone(),
            bad: b.clone(),
        })
    })
    .expect("two workers start");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let total = || {
        good.load(std::sync::atomic::Ordering::Relaxed)
            + bad.load(std::sync::atomic::Ordering::Relaxed)
    };
    while total() < 64 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let finals = runtime.stop();
    drop(server);
    drop(lab);

    let finals: Vec<_> = finals.into_iter().map(|r| r.expect("worker ran")).collect();
    for s in &finals {
        eprintln!("{}", s.line());
    }
    assert_eq!(good.load(std::sync::atomic::Ordering::Relaxed), 64, "every echo byte-exact");
    assert_eq!(bad.load(std::sync::atomic::Ordering::Relaxed), 0);
    for (q, s) in finals.iter().enumerate() {
        assert_eq!(s.tcp.active_opens, 32, "worker {q}: {}", s.line());
        assert!(s.worker_counters.rx_frames > 0, "worker {q} received its replies");
        // (ARP replies are shared with every worker over the steering lanes: not counted.)
        assert_eq!(
            s.worker_counters.not_mine, 0,
            "worker {q}: every reply came back to the queue that opened its connection"
        );
    }
}
