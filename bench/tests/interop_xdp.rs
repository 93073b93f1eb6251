//! xdptcp on AF_XDP against Linux TCP, over a veth lab made by scripts/lab.sh.
//!
//! Each test makes its own lab (name from the test letter and the pid), starts
//! `xdptcp serve echo --stack xdptcp` (or `xdptcp xfer`) in the stack namespace and runs Linux
//! peers (python3 sockets, `bench/tests/interop/peer.py`) in the kernel namespace. The stack
//! side always captures to a pcap file; it is deleted when the test passes and kept, with its
//! path, a `tcpdump -nr` summary of the last packets and the server's log printed, when it
//! fails. Needs root: without it the tests print "skipped: needs root", unless CI is set,
//! where they fail. Tests run one at a time (a busy-polling worker wants a core) and every
//! step has a time limit.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

mod common;
use common::{has_root, Lab, Proc};

/// This file's lab for a test: the name carries the test's letter and the pid, so labs of
/// parallel runs never collide.
fn lab_up(letter: &str, extra: &[&str]) -> Lab {
    Lab::up(format!("x{letter}{}", std::process::id() % 100_000), extra)
}

/// One test at a time: the worker busy-polls a core and the machine may have two.
static SERIAL: Mutex<()> = Mutex::new(());

fn peer_script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/interop/peer.py")
}

impl Lab {
    /// Runs the python peer in the kernel namespace, at most `limit`; its JSON line or why it
    /// failed.
    fn peer(&self, args: &[&str], limit: Duration) -> Result<serde_json::Value, String> {
        let out = Command::new("timeout")
            .arg(limit.as_secs().to_string())
            .args(["ip", "netns", "exec", &self.kernel_ns, "python3"])
            .arg(peer_script())
            .args(args)
            .output()
            .map_err(|e| format!("cannot run the peer: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "peer {args:?} failed ({}): {stdout}{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let line = stdout.lines().last().unwrap_or_default();
        serde_json::from_str(line).map_err(|e| format!("peer printed {stdout:?}: {e}"))
    }
}

/// `xdptcp ARGS` on our stack (capturing) once it is listening.
fn serve(lab: &Lab, args: &[&str]) -> Proc {
    let mut server = lab.xdptcp("server", args).pcap().start();
    server.wait_line("listening on ");
    server
}

fn serve_echo(lab: &Lab, extra: &[&str]) -> Proc {
    let mut args = vec!["serve", "echo", "--stack", "xdptcp", "--port", "7"];
    args.extend_from_slice(extra);
    serve(lab, &args)
}

/// Bulk echo of `bytes` from a Linux client; checks digests, stops the server, checks it
/// exited 0 and saw no checksum errors. Returns the transfer's seconds.
fn bulk_echo(lab: &Lab, server: &mut Proc, bytes: u64, limit: Duration) -> f64 {
    let r = lab.peer(&["bulk", &lab.stack_ip, "7", &bytes.to_string()], limit);
    let v = match r {
        Ok(v) => v,
        Err(e) => server.fail(&e),
    };
    if v["received"].as_u64() != Some(bytes) || v["sent_sha"] != v["recv_sha"] {
        server.fail(&format!("echo differs: {v}"));
    }
    let secs = v["secs"].as_f64().unwrap_or(0.0);
    eprintln!(
        "{} MiB each way in {secs:.2} s: {:.0} Mbit/s each way",
        bytes >> 20,
        bytes as f64 * 8.0 / secs / 1e6
    );
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0 after SIGINT");
    }
    if server.nstat("TcpInErrs") != Some(0) {
        server.fail("checksum or header errors on received segments");
    }
    secs
}

#[test]
fn a_echo_64mib_each_way_clean_link() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("a", &[]);
    let mut server = serve_echo(&lab, &[]);
    bulk_echo(&lab, &mut server, 64 << 20, Duration::from_secs(120));
    let log = server.log_text();
    assert!(log.contains("stopped (signal): accepted 1, closed 1, errors 0"));
    // veth is copy-only: by default the checksums are ours.
    assert!(log.contains("tx-checksum software"), "{log}");
}

/// The same transfer with every TCP checksum completed from TX metadata by the kernel in
/// software (`--tx-checksum kernel`): Linux verifies each of them, so a wrong pseudo-header
/// seed or checksum offset stalls the transfer and shows in its `InCsumErrors`.
#[test]
fn j_echo_64mib_with_checksums_completed_from_tx_metadata() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("j", &[]);
    let mut server = serve_echo(&lab, &["--tx-checksum", "kernel"]);
    bulk_echo(&lab, &mut server, 64 << 20, Duration::from_secs(120));
    let log = server.log_text();
    assert!(log.contains("tx-checksum kernel"), "{log}");
    let snmp = Command::new("ip")
        .args(["netns", "exec", &lab.kernel_ns, "cat", "/proc/net/snmp"])
        .output()
        .expect("ip runs");
    let text = String::from_utf8_lossy(&snmp.stdout).to_string();
    let tcp: Vec<&str> = text.lines().filter(|l| l.starts_with("Tcp:")).collect();
    let (names, values) = (tcp[0].split_whitespace(), tcp[1].split_whitespace());
    let errors = names.zip(values).find(|(n, _)| *n == "InCsumErrors").map(|(_, v)| v);
    assert_eq!(errors, Some("0"), "Linux saw bad TCP checksums:\n{text}");
}

/// 2 % loss each way. nftables on the kernel-side veth drops 2 % of what we send (its
/// ingress chain); its egress chain cannot make Linux's TCP data go missing, because a drop
/// on the local egress path is reported back to the sending socket, which just sends the
/// segment again (only Linux's pure ACKs are really lost there). So the Linux → stack data
/// loss is our fault device's `rx-loss=2`. 64 MiB each way: with SACK recovery and RACK-TLP
/// this takes 8–10 s in a debug build (docs/driver.md).
#[test]
fn b_echo_64mib_with_2pct_loss_each_way_nftables() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("b", &["--loss-pct", "2"]);
    let mut server = serve_echo(&lab, &["--fault", "rx-loss=2,seed=5"]);
    bulk_echo(&lab, &mut server, 64 << 20, Duration::from_secs(150));
    let n = |k: &str| server.nstat(k).unwrap_or(0);
    eprintln!(
        "retransmitted {} segments: {} fast, {} timeouts; {} out of order",
        n("TcpRetransSegs"),
        n("TcpExtTCPFastRetrans"),
        n("TcpExtTCPTimeouts"),
        n("TcpExtTCPOFOQueue")
    );
    if server.nstat("TcpRetransSegs").unwrap_or(0) == 0 {
        server.fail("2 % loss but no retransmission: was the loss applied?");
    }
    if server.nstat("TcpExtTCPOFOQueue").unwrap_or(0) == 0 {
        server.fail("2 % loss towards us but nothing arrived out of order");
    }
}

#[test]
fn c_echo_64mib_with_loss_reordering_delay_in_the_fault_device() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("c", &[]);
    let fault = "loss=1,reorder=2,reorder-us=400,delay-us=200,jitter-us=50,seed=11";
    let mut server = serve_echo(&lab, &["--fault", fault]);
    bulk_echo(&lab, &mut server, 64 << 20, Duration::from_secs(150));
    let n = |k: &str| server.nstat(k).unwrap_or(0);
    eprintln!(
        "retransmitted {} segments: {} fast, {} timeouts; {} out of order",
        n("TcpRetransSegs"),
        n("TcpExtTCPFastRetrans"),
        n("TcpExtTCPTimeouts"),
        n("TcpExtTCPOFOQueue")
    );
    let log = server.log_text();
    let fault_line = log.lines().rev().find(|l| l.starts_with("fault rx:")).unwrap_or_default();
    if !fault_line.contains("dropped: ") || fault_line.contains("dropped: 0,") {
        server.fail(&format!("no loss injected: {fault_line}"));
    }
}

#[test]
fn d_1000_sequential_short_connections() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("d", &[]);
    // Also the CLI's busy-poll options: the ready line shows what the kernel reports.
    let mut server = serve_echo(&lab, &["--busy-poll-us", "50", "--busy-poll-budget", "16"]);
    if !server.log_text().contains("busy-poll 50 us") {
        server.fail("--busy-poll-us 50 not reported by the socket");
    }
    if let Err(e) = lab.peer(&["seq", &lab.stack_ip, "7", "1000"], Duration::from_secs(120)) {
        server.fail(&e);
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0");
    }
    if server.nstat("TcpPassiveOpens") != Some(1000) {
        server.fail("expected 1000 passive opens");
    }
    let log = server.log_text();
    if !log.contains("accepted 1000, closed 1000, errors 0") {
        server.fail("every connection must close cleanly");
    }
}

#[test]
fn e_10000_concurrent_connections_held_then_closed() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("e", &[]);
    // 16 KiB rings: 10,000 connections x 32 KiB = 320 MiB.
    let mut server = serve_echo(&lab, &["--buffer-kib", "16", "--backlog", "16384"]);
    if let Err(e) = lab.peer(&["concurrent", &lab.stack_ip, "7", "10000"], Duration::from_secs(180))
    {
        server.fail(&e);
    }
    // The client closed everything; give the last FIN/ACK exchanges a moment.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let out = Command::new("ip")
            .args(["netns", "exec", &lab.kernel_ns, "ss", "-tanH", "state", "established"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).lines().count())
            .unwrap_or(0);
        if out == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    if !server.stop(Duration::from_secs(30)) {
        server.fail("xdptcp did not exit 0");
    }
    if server.nstat("TcpPassiveOpens") != Some(10000) {
        server.fail("expected 10000 passive opens");
    }
    if !server.log_text().contains("accepted 10000,") {
        server.fail("expected 10000 accepted connections");
    }
}

#[test]
fn f_our_stack_as_client_against_linux_64mib_each_way() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("f", &[]);
    xfer_against_linux(&lab, 64 << 20);
}

/// `xdptcp xfer` (capturing) sends `bytes` to a Linux echo server in the kernel namespace and
/// verifies the echo; checks that Linux received exactly the pattern. Returns the client.
fn xfer_against_linux(lab: &Lab, bytes: u64) -> Proc {
    // The Linux echo server; it prints one line when listening and one when done.
    let mut server = Command::new("timeout")
        .args(["120", "ip", "netns", "exec", &lab.kernel_ns, "python3"])
        .arg(peer_script())
        .args(["echo-server", "9000"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python runs");
    let mut lines = BufReader::new(server.stdout.take().expect("piped")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.contains("listening"), "linux server: {first}");
    let target = format!("{}:9000", lab.kernel_ip);
    let bytes_arg = bytes.to_string();
    let xfer = ["xfer", "--stack", "xdptcp", "--connect", &target, "--bytes", &bytes_arg];
    let mut client = lab.xdptcp("client", &xfer).pcap().start();
    if !client.wait_exit(Duration::from_secs(120)) {
        client.fail("xdptcp xfer failed");
    }
    let done = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = server.wait();
    let v: serde_json::Value = serde_json::from_str(&done).unwrap_or_default();
    let want = lab.peer(&["pattern-sha", &bytes.to_string()], Duration::from_secs(60));
    let want = want.unwrap_or_else(|e| client.fail(&e));
    if v["received"].as_u64() != Some(bytes) || v["recv_sha"] != want["sha"] {
        client.fail(&format!("Linux received the wrong bytes: {v} (want {want})"));
    }
    let log = client.log_text();
    let ok = log.lines().find(|l| l.starts_with("xfer ok")).unwrap_or_default().to_string();
    if !ok.contains("verified") {
        client.fail("the echoed bytes were not verified");
    }
    eprintln!("{ok}");
    client
}

/// Full-size TCP segments in a capture, each way: (from `ip`, to `ip`) counts of segments
/// whose payload is at least `min` bytes. Reads the pcap file itself (Ethernet, IPv4).
fn full_segments(pcap: &std::path::Path, ip: &str, min: usize) -> (u64, u64) {
    let ip: std::net::Ipv4Addr = ip.parse().expect("an IPv4 address");
    let data = std::fs::read(pcap).expect("the capture is readable");
    let (mut from, mut to) = (0, 0);
    let mut at = 24; // the global header
    while at + 16 <= data.len() {
        let incl = u32::from_le_bytes(data[at + 8..at + 12].try_into().expect("4 bytes")) as usize;
        let frame = &data[(at + 16).min(data.len())..(at + 16 + incl).min(data.len())];
        at += 16 + incl;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] || frame[14 + 9] != 6 {
            continue;
        }
        let ihl = usize::from(frame[14] & 0x0f) * 4;
        let total = usize::from(u16::from_be_bytes([frame[16], frame[17]]));
        let Some(&off) = frame.get(14 + ihl + 12) else { continue };
        let payload = total.saturating_sub(ihl + usize::from(off >> 4) * 4);
        let (src, dst) = (&frame[26..30], &frame[30..34]);
        if payload >= min && src == ip.octets() {
            from += 1;
        } else if payload >= min && dst == ip.octets() {
            to += 1;
        }
    }
    (from, to)
}

/// The largest TCP payload at a 9000-byte MTU: 9000 less 20 (IPv4), 20 (TCP) and 12
/// (timestamps).
const JUMBO_PAYLOAD: usize = 8948;

/// Jumbo frames (item 4 of issue 14): both veth ends at MTU 9000, a Linux client's bulk echo
/// through our server, byte-exact both ways; full 8948-byte segments each way in the
/// capture, the received ones gathered from multi-buffer descriptor chains.
#[test]
fn l_jumbo_mtu_9000_echo_64mib_each_way() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("l", &["--mtu", "9000"]);
    let mut server = serve_echo(&lab, &[]);
    bulk_echo(&lab, &mut server, 64 << 20, Duration::from_secs(120));
    let pcap = server.capture().expect("the server captured").to_path_buf();
    let (from, to) = full_segments(&pcap, &lab.stack_ip, JUMBO_PAYLOAD);
    eprintln!("segments of {JUMBO_PAYLOAD} bytes: {from} from our stack, {to} from Linux");
    // 64 MiB is 7500 full segments each way; most go out full.
    if from < 3000 || to < 3000 {
        server.fail(&format!("too few jumbo segments: {from} sent, {to} received"));
    }
    let gathered = server.number("xdp: ", "rx_gathered:").unwrap_or(0);
    let oversized = server.number("xdp: ", "rx_oversized:");
    if gathered < to || oversized != Some(0) {
        server.fail(&format!("chains: {gathered} gathered, {oversized:?} oversized"));
    }
}

/// Jumbo frames with our stack as the client: `xfer` to a Linux echo server at MTU 9000,
/// byte-exact both ways, full 8948-byte segments from our stack on the wire.
#[test]
fn m_jumbo_mtu_9000_our_client_against_linux() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("m", &["--mtu", "9000"]);
    let mut client = xfer_against_linux(&lab, 64 << 20);
    let pcap = client.capture().expect("the client captured").to_path_buf();
    let (from, to) = full_segments(&pcap, &lab.stack_ip, JUMBO_PAYLOAD);
    eprintln!("segments of {JUMBO_PAYLOAD} bytes: {from} from our stack, {to} from Linux");
    if from < 3000 || to < 3000 {
        client.fail(&format!("too few jumbo segments: {from} sent, {to} received"));
    }
}

/// Both ends ours, one on each side of the veth pair, every mode at its default. Each side
/// reads the other's frames raw, with no Linux stack in between to trust a partial checksum,
/// so this fails if a default ever leaves a checksum for a software link to "complete"
/// (`--tx-checksum offload` in copy mode does exactly that: tried, the transfer stalls).
#[test]
fn k_our_client_against_our_server_with_default_modes() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("k", &[]);
    let mut server = serve_echo(&lab, &[]);
    let prefix = lab.kernel_ip.rsplit_once('.').map(|(p, _)| p.to_string()).unwrap_or_default();
    let client_ip = format!("{prefix}.4/24");
    let target = format!("{}:7", lab.stack_ip);
    let out = Command::new("timeout")
        .args(["60", "ip", "netns", "exec", &lab.kernel_ns, env!("CARGO_BIN_EXE_xdptcp")])
        .args(["xfer", "--stack", "xdptcp", "--connect", &target, "--bytes", "8388608"])
        .args(["--iface", &lab.kernel_if, "--ip", &client_ip])
        .output()
        .expect("xdptcp runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let ok = text.lines().find(|l| l.starts_with("xfer ok")).unwrap_or_default().to_string();
    if !out.status.success() || !ok.contains("verified") {
        server.fail(&format!(
            "our client against our server failed ({}): {text}{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    eprintln!("{ok}");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0 after SIGINT");
    }
    if server.nstat("TcpInErrs") != Some(0) {
        server.fail("checksum or header errors on received segments");
    }
}

#[test]
fn g_two_queues_with_steering_echo_and_short_connections() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("g", &["--queues", "2"]);
    // Our own socket path (TX metadata, completed by the kernel so Linux verifies every
    // checksum) on two queues at once; lab_multiqueue covers the xsk-rs path.
    let mut server = serve_echo(&lab, &["--queues", "2", "--tx-checksum", "kernel"]);
    if !server.log_text().contains("tx-checksum kernel") {
        server.fail("the runtime did not take --tx-checksum kernel");
    }
    let bytes: u64 = 16 << 20;
    let v = lab
        .peer(&["bulk", &lab.stack_ip, "7", &bytes.to_string()], Duration::from_secs(120))
        .unwrap_or_else(|e| server.fail(&e));
    if v["received"].as_u64() != Some(bytes) || v["sent_sha"] != v["recv_sha"] {
        server.fail(&format!("echo differs: {v}"));
    }
    if let Err(e) = lab.peer(&["seq", &lab.stack_ip, "7", "300"], Duration::from_secs(120)) {
        server.fail(&e);
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0");
    }
    let log = server.log_text();
    let finals: Vec<&str> = log.lines().filter(|l| l.starts_with("final q")).collect();
    if finals.len() != 2 || !log.contains("tcp-accepted 301 tcp-closed 301 tcp-errors 0") {
        server.fail("expected two workers and 301 clean connections");
    }
}

/// Jumbo frames on two queues: the runtime's steering lanes carry whole 9014-byte frames
/// (sized from the link's MTU). Without `--rss` veth picks each connection's queue by the
/// sender's own hash, so about half of the connections arrive on the queue that does not own
/// them and every one of their frames is steered; 8 connections leave all of them on their
/// owner only once in 256 runs, which the test reports rather than fails on.
#[test]
fn n_jumbo_mtu_9000_two_queues_steered_whole() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("n", &["--queues", "2", "--mtu", "9000"]);
    let mut server = serve_echo(&lab, &["--queues", "2"]);
    let bytes: u64 = 2 << 20;
    for _ in 0..8 {
        let v = lab
            .peer(&["bulk", &lab.stack_ip, "7", &bytes.to_string()], Duration::from_secs(60))
            .unwrap_or_else(|e| server.fail(&e));
        if v["received"].as_u64() != Some(bytes) || v["sent_sha"] != v["recv_sha"] {
            server.fail(&format!("echo differs: {v}"));
        }
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0");
    }
    let log = server.log_text();
    let finals: Vec<String> =
        log.lines().filter(|l| l.starts_with("final q")).map(str::to_string).collect();
    let count = |key: &str| -> u64 {
        finals.iter().map(|l| common::number_after(l, key).unwrap_or(0)).sum()
    };
    let (steered, drops) = (count("steered-out"), count("steer-drops"));
    if finals.len() != 2 || drops != 0 || !log.contains("tcp-accepted 8 tcp-closed 8 tcp-errors 0")
    {
        server.fail(&format!("two workers, 8 clean connections, no steering drops: {drops}"));
    }
    eprintln!("frames steered between the two workers: {steered}");
}

/// Every bad input is one line on stderr and a non-zero exit (no root needed: all of these
/// fail before anything is attached).
#[test]
fn serve_xdptcp_errors_are_one_line() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_xdptcp"))
            .args(["serve", "echo", "--stack", "xdptcp"])
            .args(args)
            .output()
            .expect("xdptcp runs");
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(!out.status.success(), "{args:?} should fail");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.starts_with("xdptcp: error: "), "{err}");
        err
    };
    assert!(run(&["--ip", "198.18.0.2/24"]).contains("needs --iface"));
    assert!(run(&["--iface", "lo"]).contains("needs --ip"));
    assert!(run(&["--iface", "lo", "--ip", "198.18.0.2/40"]).contains("prefix"));
    assert!(
        run(&["--iface", "lo", "--ip", "1.2.3.4/8", "--fault", "loss=200"]).contains("percentage")
    );
    assert!(run(&["--iface", "lo", "--ip", "1.2.3.4/8", "--xdp-mode", "fast"])
        .contains("auto, native or generic"));
    // --fault applies with several queues too (every worker's device): checked, not ignored.
    assert!(run(&["--iface", "lo", "--ip", "1.2.3.4/8", "--queues", "2", "--fault", "loss=200"])
        .contains("percentage"));
    assert!(run(&["--iface", "lo", "--ip", "1.2.3.4/8", "--busy-poll-budget", "8"])
        .contains("--busy-poll-budget needs --busy-poll-us"));
    for queues in ["1", "2"] {
        let err = run(&[
            "--iface",
            "lo",
            "--ip",
            "1.2.3.4/8",
            "--queues",
            queues,
            "--busy-poll-us",
            "50",
            "--busy-poll-budget",
            "70000",
        ]);
        assert!(err.contains("between 1 and 65535"), "{err}");
    }
    assert!(run(&["--iface", "xdptcp-none0", "--ip", "198.18.0.2/24"])
        .contains("no network interface named \"xdptcp-none0\""));
    let out = Command::new(env!("CARGO_BIN_EXE_xdptcp"))
        .args(["xfer", "--connect", "nowhere", "--iface", "lo", "--ip", "1.2.3.4/8"])
        .output()
        .expect("xdptcp runs");
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad --connect 'nowhere'"));
}

#[test]
fn h_http_over_xdptcp_answers_curl_with_keepalive() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    let lab = lab_up("h", &[]);
    let mut args = vec!["serve", "http", "--stack", "xdptcp", "--port", "80"];
    args.extend_from_slice(&["--body-bytes", "1000"]);
    let mut server = serve(&lab, &args);
    // Three URLs on one command line: curl reuses its connection (`-o` per URL).
    let mut urls = Vec::new();
    for i in 0..3 {
        urls.extend(["-o".to_string(), "/dev/null".to_string()]);
        urls.push(format!("http://{}/p{i}", lab.stack_ip));
    }
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &lab.kernel_ns, "curl", "-s"])
        .args(["-w", "%{http_code} %{size_download} %{num_connects}\\n"])
        .args(&urls)
        .output()
        .expect("curl runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let lines: Vec<&str> = text.lines().collect();
    // One connection for all three requests (keep-alive), each 200 with the 1000-byte body.
    if !out.status.success() || lines != ["200 1000 1", "200 1000 0", "200 1000 0"] {
        server.fail(&format!("curl: {:?} {text:?}", out.status));
    }
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0");
    }
    if !server.log_text().contains("accepted 1, closed 1, errors 0") {
        server.fail("one connection, closed cleanly");
    }
}

/// sockperf's default transport is UDP: the real `sockperf ping-pong` (no `--tcp`) from the
/// kernel namespace against `serve sockperf --stack xdptcp`, which answers on the stack's UDP
/// API. Skipped (with a message) when sockperf is not installed.
#[test]
fn i_sockperf_over_udp_with_the_real_client() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the AF_XDP interop tests") {
        return;
    }
    if Command::new("sockperf").arg("--version").output().is_err() {
        eprintln!("skipped: sockperf not installed");
        return;
    }
    let lab = lab_up("i", &[]);
    let args = ["serve", "sockperf", "--stack", "xdptcp", "--port", "11111"];
    let mut server = serve(&lab, &args);
    let out = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &lab.kernel_ns, "sockperf", "ping-pong"])
        .args(["-i", &lab.stack_ip, "-p", "11111", "-t", "1", "-m", "100"])
        .output()
        .expect("sockperf runs");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    // "[Valid Duration] RunTime=... SentMessages=N; ReceivedMessages=N"
    let received: u64 = text
        .split("ReceivedMessages=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if !out.status.success() || received == 0 {
        server.fail(&format!("sockperf over UDP got no replies ({}): {text}", out.status));
    }
    eprintln!("sockperf over UDP: {received} replies in the valid second");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("xdptcp did not exit 0");
    }
    let log = server.log_text();
    let Some(line) = log.lines().find(|l| l.contains("udp replied")) else {
        server.fail("no udp counters in the summary");
    };
    let replied: u64 = line
        .split("udp replied ")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    if replied < received || !line.contains("malformed 0,") || !line.contains("send failed 0") {
        server.fail(&format!("udp counters: {line}"));
    }
}
