//! Issue 18 on a veth lab of scripts/lab.sh (root; "skipped: needs root" otherwise, a failure
//! under CI): IPv6 at the interface of our stack on AF_XDP against Linux.
//!
//! The stack serves with `--ip V4/24,STACK6/64,KERNEL6/64`: the second IPv6 address is the
//! kernel side's own, so duplicate address detection must find it duplicate, while the
//! link-local address and STACK6 pass. Then `ping -6` from the kernel namespace to STACK6 is
//! answered, which needs Linux to resolve the stack by Neighbor Discovery (solicitation to the
//! solicited-node group, steered by the XDP program, answered by the stack), and the stack to
//! learn Linux from the solicitation. A UDP datagram sent over IPv6 to the echo port comes
//! back byte-exact, from the socket that also serves IPv4; it comes from a kernel address
//! the stack has not seen, so the stack resolves Linux by its own solicitation too. The kernel's neighbour table and
//! the stack's final counters say which of those happened.

use std::process::Command;
use std::time::Duration;

mod common;
use common::{has_root, number_after, Lab, XDPTCP};

#[test]
fn ping6_is_answered_ndp_resolves_and_dad_finds_the_duplicate() {
    run(1);
}

/// The same on two queues: each worker runs detection, and the defender's advertisement,
/// which arrives on one queue, is copied to the other worker, so both find the duplicate.
#[test]
fn on_two_queues_every_worker_finds_the_duplicate() {
    run(2);
}

fn run(queues: u32) {
    if !has_root("the IPv6 lab test") {
        return;
    }
    let q = queues.to_string();
    let name = format!("v{queues}{}", std::process::id() % 100_000);
    let lab = Lab::up(name, &["--queues", &q]);
    assert!(!lab.stack_ip6.is_empty() && !lab.kernel_ip6.is_empty(), "lab.sh gives IPv6");
    let ips = format!("{}/24,{}/64,{}/64", lab.stack_ip, lab.stack_ip6, lab.kernel_ip6);
    let argv = [
        XDPTCP,
        "serve-xdp",
        "udp-echo",
        "--iface",
        &lab.stack_if,
        "--ip",
        &ips,
        "--port",
        "7",
        "--queues",
        &q,
    ];
    // Linux answers a detection probe only once its own side of the link has finished
    // coming up (its link-local address out of detection); a probe earlier than that goes
    // unanswered, as on any link that is still coming up.
    lab.settle_ipv6();
    let mut server = lab.proc(&lab.stack_ns, "serve6", &argv).pcap().time_limit(120).start();
    server.wait_line("listening on");
    // Detection takes one retransmission interval (1 s); ping retries within its deadline.
    let ping = Command::new("ip")
        .args(["netns", "exec", &lab.kernel_ns, "ping", "-6", "-n", "-c", "3", "-i", "0.5"])
        .args(["-w", "15", &lab.stack_ip6])
        .output()
        .expect("ping runs");
    let ping_text = String::from_utf8_lossy(&ping.stdout).to_string();
    if !ping.status.success() {
        server.fail(&format!("ping -6 {} unanswered: {ping_text}", lab.stack_ip6));
    }
    assert!(!ping_text.contains(" 0 received"), "{ping_text}");
    // Linux resolved the stack: its neighbour entry carries the stack's MAC.
    let mac = Command::new("ip")
        .args(["netns", "exec", &lab.stack_ns, "cat"])
        .arg(format!("/sys/class/net/{}/address", lab.stack_if))
        .output()
        .expect("cat runs");
    let mac = String::from_utf8_lossy(&mac.stdout).trim().to_string();
    let neigh = Command::new("ip")
        .args(["-n", &lab.kernel_ns, "-6", "neigh", "show", &lab.stack_ip6])
        .output()
        .expect("ip runs");
    let neigh = String::from_utf8_lossy(&neigh.stdout).to_string();
    if !neigh.contains(&format!("lladdr {mac}")) {
        server.fail(&format!("Linux has no neighbour entry for the stack ({mac}): {neigh}"));
    }
    // UDP echo over IPv6 through the same socket that serves IPv4: byte-exact. It is sent
    // from a second kernel address the stack has never heard from, so the stack must
    // resolve it by its own solicitation before the echo can leave.
    let fresh = lab.kernel_ip6.replace("::1", "::3");
    let added = Command::new("ip")
        .args(["-n", &lab.kernel_ns, "addr", "add", &format!("{fresh}/64")])
        .args(["dev", &lab.kernel_if, "nodad"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(added, "cannot add {fresh}");
    let payload = format!("xdptcp over IPv6 {} \u{2713}", std::process::id());
    let py = "import socket,sys\n\
              s=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); s.settimeout(2)\n\
              s.bind((sys.argv[3],0))\n\
              msg=sys.argv[1].encode()\n\
              for _ in range(5):\n\
              \x20   s.sendto(msg,(sys.argv[2],7))\n\
              \x20   try: data,peer=s.recvfrom(4096)\n\
              \x20   except socket.timeout: continue\n\
              \x20   sys.stdout.buffer.write(data); sys.exit(0)\n\
              sys.exit(2)\n";
    let echo = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &lab.kernel_ns, "python3", "-c", py, &payload])
        .arg(&lab.stack_ip6)
        .arg(&fresh)
        .output()
        .expect("python runs");
    if !echo.status.success() || echo.stdout != payload.as_bytes() {
        server.fail(&format!("no byte-exact UDP echo over IPv6: {echo:?}"));
    }
    assert!(server.stop(Duration::from_secs(20)), "exit 0 after SIGINT:\n{}", server.log_text());
    let log = server.log_text();
    let line = log.lines().find(|l| l.starts_with("ipv6: ")).unwrap_or_else(|| {
        panic!("no ipv6 counters line:\n{log}");
    });
    let n = |k: &str| number_after(line, k).unwrap_or_else(|| panic!("no {k} in {line}"));
    assert!(n("icmpv6-echo-replied") >= 3, "{line}");
    let total = log.lines().find(|l| l.starts_with("total:")).expect("a total line");
    assert!(number_after(total, "udp-echoed").is_some_and(|n| n >= 1), "{total}");
    assert!(n("ns-received") >= 1 && n("na-sent") >= 1, "answered Linux's solicitation: {line}");
    // Linux's first address from its solicitation, the fresh one by our own resolution.
    assert!(n("neighbors-learned") >= 2, "learned Linux both ways: {line}");
    assert!(n("na-received") > u64::from(queues), "resolution and detection: {line}");
    // Counters are summed over the workers, each of which runs detection.
    let w = u64::from(queues);
    assert_eq!(n("dad-duplicate"), w, "the kernel's address is a duplicate: {line}");
    assert_eq!(n("dad-ok"), 2 * w, "link-local and the stack's own passed: {line}");
    // At least one worker probed all three addresses; another may learn of the duplicate
    // from the copied advertisement before its own (randomly delayed) probe goes out.
    assert!(n("ns-sent") >= 3, "one detection probe per address: {line}");
}
