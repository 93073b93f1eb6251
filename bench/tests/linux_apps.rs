//! End-to-end tests of `xdptcp serve` and `xdptcp load` on the Linux stack: the binary runs as
//! a child process on 127.0.0.1 with an ephemeral port; every socket has a timeout and every
//! child is stopped (SIGTERM, then SIGKILL) when its test ends, pass or fail.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_xdptcp");
const IO_TIMEOUT: Duration = Duration::from_secs(20);

/// A running `xdptcp serve`.
struct Server {
    child: Child,
    addr: SocketAddr,
    stdout: mpsc::Receiver<String>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("serve")
            .args(args)
            .args(["--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn xdptcp serve");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut server = Server { child, addr: "0.0.0.0:0".parse().unwrap(), stdout: rx };
        let line =
            server.stdout.recv_timeout(IO_TIMEOUT).expect("serve printed no 'listening on' line");
        // "listening on 127.0.0.1:PORT (stack linux, ...)"
        let addr = line
            .strip_prefix("listening on ")
            .and_then(|rest| rest.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected first line: {line}"));
        assert!(line.contains("stack linux"), "{line}");
        server.addr = addr.parse().expect("address in the listening line");
        server
    }

    /// Sends SIGTERM and returns the exit status and the counters line.
    fn stop(mut self) -> (ExitStatus, String) {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = wait_bounded(&mut self.child, Duration::from_secs(10));
        let counters = self.stdout.recv_timeout(Duration::from_secs(5)).unwrap_or_default();
        (status, counters)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("child did not exit within {limit:?}");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the binary to completion, killed after `limit`.
fn xdptcp(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn xdptcp");
    wait_bounded(&mut child, limit);
    child.wait_with_output().expect("output")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s
}

fn temp_path(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("xdptcp-test-{}-{name}", std::process::id()))
}

#[test]
fn echo_is_byte_exact_for_megabytes() {
    let server = Server::start(&["echo"]);
    let data: Vec<u8> =
        (0..4_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let mut s = connect(server.addr);
    let mut writer = s.try_clone().unwrap();
    let to_send = data.clone();
    let w = thread::spawn(move || {
        for chunk in to_send.chunks(10_007) {
            writer.write_all(chunk).unwrap();
        }
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    w.join().unwrap();
    assert_eq!(back.len(), data.len());
    assert!(back == data, "echoed bytes differ");
    let (status, counters) = server.stop();
    assert!(status.success(), "{status:?}");
    assert!(counters.starts_with("stopped: accepted 1"), "{counters}");
}

/// A minimal HTTP/1.1 response reader: status line, headers, Content-Length body.
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn read_response(r: &mut BufReader<TcpStream>, head_only: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let mut parts = line.trim_end().splitn(3, ' ');
    assert_eq!(parts.next(), Some("HTTP/1.1"), "status line {line:?}");
    let status = parts.next().unwrap().parse().unwrap();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).unwrap();
        assert!(h.ends_with("\r\n"), "header line {h:?}");
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (n, v) = h.split_once(':').unwrap();
        headers.push((n.to_string(), v.trim().to_string()));
    }
    let mut resp = Response { status, headers, body: Vec::new() };
    let len: usize = resp.header("content-length").expect("Content-Length").parse().unwrap();
    if !head_only {
        resp.body = vec![0; len];
        r.read_exact(&mut resp.body).unwrap();
    }
    resp
}

#[test]
fn http_keep_alive_pipelining_and_close() {
    let server = Server::start(&["http", "--body-bytes", "1000"]);
    let s = connect(server.addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    // Three pipelined requests in one write.
    w.write_all(
        b"GET /a HTTP/1.1\r\nHost: t\r\n\r\nHEAD /b HTTP/1.1\r\nHost: t\r\n\r\nGET /c?q=1 HTTP/1.1\r\nHost: t\r\n\r\n",
    )
    .unwrap();
    for head_only in [false, true, false] {
        let resp = read_response(&mut r, head_only);
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("content-length"), Some("1000"));
        assert_eq!(resp.body.len(), if head_only { 0 } else { 1000 });
        assert_eq!(resp.header("connection"), None);
    }
    // Still alive; now ask to close.
    w.write_all(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n").unwrap();
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0, "server must close after Connection: close");

    // A malformed request line gets 400 and a close.
    let s = connect(server.addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    w.write_all(b"NOT A REQUEST LINE\r\n\r\n").unwrap();
    assert_eq!(read_response(&mut r, false).status, 400);
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);

    let (status, counters) = server.stop();
    assert!(status.success());
    assert!(counters.contains("messages 4"), "{counters}");
}

#[test]
fn http_with_curl_when_installed() {
    if Command::new("curl").arg("--version").output().is_err() {
        println!("note: curl is not installed; skipping the curl check (the Rust client test covers HTTP)");
        return;
    }
    let server = Server::start(&["http", "--body-bytes", "7"]);
    let a = format!("http://{}/one", server.addr);
    let b = format!("http://{}/two", server.addr);
    let out =
        Command::new("curl").args(["-sS", "--max-time", "10", "-v", &a, &b]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, b"xxxxxxxxxxxxxx");
    let (_, counters) = server.stop();
    // Both requests on one kept-alive connection.
    assert!(counters.starts_with("stopped: accepted 1,"), "{counters}");
    assert!(counters.contains("messages 2"), "{counters}");
}

#[test]
fn sockperf_ping_pong() {
    let server = Server::start(&["sockperf"]);
    let mut s = connect(server.addr);
    let mut msg = Vec::new();
    for seq in 1..=3u64 {
        msg.extend_from_slice(&seq.to_be_bytes());
        msg.extend_from_slice(&3u16.to_be_bytes()); // client | pong request
        msg.extend_from_slice(&20u32.to_be_bytes());
        msg.extend_from_slice(&[seq as u8; 6]);
    }
    s.write_all(&msg).unwrap();
    let mut back = vec![0; msg.len()];
    s.read_exact(&mut back).unwrap();
    let mut expected = msg.clone();
    for m in expected.chunks_mut(20) {
        m[9] = 2; // client flag cleared
    }
    assert_eq!(back, expected);
    drop(s);
    let (status, _) = server.stop();
    assert!(status.success());
}

/// sockperf's default transport is UDP: one datagram per message, answered from the same port
/// as the TCP listener; a datagram whose length field disagrees with its size is dropped.
#[test]
fn sockperf_over_udp() {
    let server = Server::start(&["sockperf"]);
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    let msg = |seq: u64, flags: u16| {
        let mut m = Vec::new();
        m.extend_from_slice(&seq.to_be_bytes());
        m.extend_from_slice(&flags.to_be_bytes());
        m.extend_from_slice(&20u32.to_be_bytes());
        m.extend_from_slice(&[seq as u8; 6]);
        m
    };
    // Truncated (length says 20, 19 arrive) and warm-up: no answer.
    s.send_to(&msg(1, 3)[..19], server.addr).unwrap();
    s.send_to(&msg(2, 7), server.addr).unwrap();
    let ping = msg(3, 3);
    let mut buf = [0u8; 100];
    // UDP may drop on a busy machine: retry a few times (each reply is checked exactly).
    let mut got = None;
    for _ in 0..20 {
        s.send_to(&ping, server.addr).unwrap();
        if let Ok((n, from)) = s.recv_from(&mut buf) {
            got = Some((buf[..n].to_vec(), from));
            break;
        }
    }
    let (back, from) = got.expect("no UDP reply");
    assert_eq!(from, server.addr);
    let mut expected = ping.clone();
    expected[9] = 2; // client flag cleared
    assert_eq!(back, expected);
    let (status, counters) = server.stop();
    assert!(status.success());
    assert!(counters.contains("udp malformed 1,"), "{counters}");
    assert!(!counters.contains("udp replied 0,"), "{counters}");
}

fn load_json(args: &[&str], name: &str) -> serde_json::Value {
    let path = temp_path(name);
    let mut all: Vec<&str> = vec!["load"];
    all.extend_from_slice(args);
    let p = path.to_str().unwrap().to_string();
    all.extend_from_slice(&["--json", &p]);
    let out = xdptcp(&all, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "load failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let text = std::fs::read_to_string(&path).expect("json file");
    let _ = std::fs::remove_file(&path);
    serde_json::from_str(&text).expect("valid JSON")
}

fn assert_sane(v: &serde_json::Value, workload: &str, unit: &str) {
    assert_eq!(v["workload"], workload);
    assert_eq!(v["unit"], unit);
    assert_eq!(v["client"], "linux");
    assert!(v["throughput"].as_f64().unwrap() > 0.0, "{v}");
    assert_eq!(v["errors"]["connect"], 0, "{v}");
    assert_eq!(v["errors"]["protocol"], 0, "{v}");
    if workload != "bulk" {
        let p50 = v["p50_us"].as_f64().unwrap();
        let p99 = v["p99_us"].as_f64().unwrap();
        let max = v["max_us"].as_f64().unwrap();
        assert!(p50 > 0.0 && p50 <= p99 && p99 <= max, "{v}");
        assert!(v["completed"].as_u64().unwrap() > 0, "{v}");
    }
}

#[test]
fn load_rr_and_crr_against_rr_server() {
    let server = Server::start(&["rr", "--threads", "2"]);
    let target = server.addr.to_string();
    let rr = load_json(
        &[
            "rr",
            "--target",
            &target,
            "--conns",
            "3",
            "--threads",
            "2",
            "--duration",
            "1",
            "--size",
            "100",
        ],
        "rr.json",
    );
    assert_eq!(rr["conns"], 3);
    assert_sane(&rr, "rr", "req/s");
    assert_eq!(rr["bytes"].as_u64().unwrap(), rr["completed"].as_u64().unwrap() * 200);
    let open = load_json(
        &["rr", "--target", &target, "--conns", "2", "--duration", "1", "--rate", "500"],
        "rr-open.json",
    );
    assert_sane(&open, "rr", "req/s");
    let crr =
        load_json(&["crr", "--target", &target, "--conns", "2", "--duration", "1"], "crr.json");
    assert_sane(&crr, "crr", "conn/s");
    let (status, counters) = server.stop();
    assert!(status.success());
    // The server answered at least every request the clients counted.
    let messages: u64 = counters
        .rsplit("messages ")
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{counters}"));
    let counted = ["completed"]
        .iter()
        .map(|k| rr[k].as_u64().unwrap() + open[k].as_u64().unwrap() + crr[k].as_u64().unwrap())
        .sum::<u64>();
    assert!(messages >= counted, "server {messages} < client {counted}");
}

#[test]
fn load_bulk_against_discard() {
    let server = Server::start(&["discard", "--threads", "2"]);
    let target = server.addr.to_string();
    let v =
        load_json(&["bulk", "--target", &target, "--conns", "2", "--duration", "1"], "bulk.json");
    assert_sane(&v, "bulk", "Gbit/s");
    assert!(v["bytes"].as_u64().unwrap() > 0);
    let (status, counters) = server.stop();
    assert!(status.success());
    assert!(counters.contains("accepted 3"), "{counters}"); // preflight + 2
}

fn assert_one_line_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "expected failure, got {stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.starts_with("xdptcp: error: "), "{stderr}");
    assert!(stderr.contains(needle), "{stderr}");
}

#[test]
fn errors_are_one_line_and_non_zero() {
    let t = Duration::from_secs(10);
    assert_one_line_error(
        &xdptcp(&["serve", "echo", "--listen", "not-an-address"], t),
        "bad address",
    );
    // A port in use.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_addr = busy.local_addr().unwrap().to_string();
    assert_one_line_error(&xdptcp(&["serve", "echo", "--listen", &busy_addr], t), "in use");
    // A port nobody listens on.
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    assert_one_line_error(
        &xdptcp(&["load", "rr", "--target", &free, "--duration", "1"], t),
        "refused",
    );
    assert_one_line_error(
        &xdptcp(&["load", "rr", "--stack", "xdptcp", "--target", &free], t),
        "needs --iface",
    );
    assert_one_line_error(
        &xdptcp(&["load", "rr", "--stack", "xdptcp", "--target", "nowhere:1"], t),
        "bad --target 'nowhere:1'",
    );
    assert_one_line_error(&xdptcp(&["serve", "proxy"], t), "at least one --backend");
    assert_one_line_error(
        &xdptcp(&["serve", "proxy", "--backend", "localhost"], t),
        "bad --backend 'localhost'",
    );
    assert_one_line_error(&xdptcp(&["serve", "http", "--stack", "xdptcp"], t), "needs --iface");
    // IPv6 destinations of our stack's clients: `[ADDR]:PORT`, and an IPv6 address of ours.
    let v4_only = ["--iface", "lo", "--ip", "198.18.0.2/24"];
    for args in [
        &["load", "rr", "--stack", "xdptcp", "--target", "[2001:db8::1]:7"][..],
        &["xfer", "--stack", "xdptcp", "--connect", "[2001:db8::1]:7"][..],
        &["serve", "proxy", "--stack", "xdptcp", "--backend", "[2001:db8::1]:7"][..],
    ] {
        let args = [args, &v4_only[..]].concat();
        assert_one_line_error(&xdptcp(&args, t), "needs an IPv6 address of ours: add one to --ip");
    }
    assert_one_line_error(
        &xdptcp(
            &["xfer", "--connect", "2001:db8::1:7", "--iface", "lo", "--ip", "198.18.0.2/24"],
            t,
        ),
        "expected IPv4ADDR:PORT or [IPv6ADDR]:PORT",
    );
    assert_one_line_error(&xdptcp(&["load", "crr", "--target", &free, "--rate", "10"], t), "rate");
    drop(busy);
}

/// A flag only the other stack reads is an error, not silently ignored: before, `serve echo
/// --iface IF --ip ADDR/24 --port 7` without `--stack xdptcp` served on 127.0.0.1:8080 over
/// Linux as if nothing were wrong.
#[test]
fn flags_of_the_other_stack_are_errors() {
    let t = Duration::from_secs(10);
    let ip = "198.18.0.2/24";
    for (args, needle) in [
        (
            &["serve", "echo", "--iface", "lo", "--ip", ip, "--port", "7"][..],
            "--iface applies to --stack xdptcp",
        ),
        (&["serve", "echo", "--port", "9"][..], "--port applies to --stack xdptcp"),
        (&["serve", "echo", "--queues", "2"][..], "--queues applies to --stack xdptcp"),
        (
            &["serve", "proxy", "--backend", "127.0.0.1:1", "--fault", "loss=1"][..],
            "--fault applies",
        ),
        (
            &["load", "rr", "--target", "127.0.0.1:1", "--tx-checksum", "software"][..],
            "--tx-checksum applies",
        ),
        (
            &["serve", "echo", "--stack", "xdptcp", "--listen", "127.0.0.1:9"][..],
            "--listen applies to --stack linux",
        ),
        (
            &["serve", "echo", "--stack", "xdptcp", "--threads", "2"][..],
            "--threads applies to --stack linux",
        ),
        (&["serve", "echo", "--syn-cookies", "off"][..], "--syn-cookies applies to --stack xdptcp"),
        (
            &["serve", "echo", "--stack", "xdptcp", "--queues", "2", "--syn-cookies", "off"][..],
            "--syn-cookies off runs on one queue",
        ),
    ] {
        assert_one_line_error(&xdptcp(args, t), needle);
    }
}

/// The newer commands and options refuse what they would ignore too: the UDP echoes and
/// loads (rudp, kcp), `xfer`, the IPv6 `--ip` form, `--sched`, busy polling, and the options
/// only one application reads (`--body-bytes`, `--backend`, the TCP listen options).
#[test]
fn every_command_refuses_flags_it_would_ignore() {
    let t = Duration::from_secs(10);
    let x = ["--stack", "xdptcp"];
    let target = ["--target", "127.0.0.1:1"];
    // Our stack on an interface, with a target (xq), alone (xi), with a peer for xfer (xc).
    let xi = ["--stack", "xdptcp", "--iface", "lo", "--ip", "198.18.0.2/24"];
    let xq: Vec<&str> = xi.iter().chain(target.iter()).copied().collect();
    let xc: Vec<&str> = xi.iter().chain(["--connect", "127.0.0.1:1"].iter()).copied().collect();
    let rows: &[(&[&str], &[&str], &str)] = &[
        (&["serve", "rudp-echo", "--iface", "lo"], &[], "--iface applies to --stack xdptcp"),
        (&["serve", "rudp-echo", "--busy-poll-us", "50"], &[], "--busy-poll-us applies"),
        (&["serve", "kcp-echo", "--sched", "fifo:10"], &[], "--sched applies"),
        (&["serve", "kcp-echo"], &x, "kcp-echo runs on a kernel UDP socket"),
        (
            &["serve", "rudp-echo", "--listen", "127.0.0.1:9"],
            &x,
            "--listen applies to --stack linux",
        ),
        (&["serve", "rudp-echo", "--threads", "2"], &x, "--threads applies to --stack linux"),
        (&["serve", "rudp-echo", "--backlog", "8"], &[], "--backlog applies to TCP"),
        (&["serve", "rudp-echo", "--syn-cookies", "off"], &x, "--syn-cookies applies to TCP"),
        (&["serve", "kcp-echo", "--backlog", "8"], &[], "--backlog applies to TCP"),
        (&["serve", "echo", "--body-bytes", "10"], &[], "--body-bytes applies to serve http only"),
        (&["serve", "discard", "--body-bytes", "10"], &x, "--body-bytes applies to serve http"),
        (&["serve", "echo", "--backend", "127.0.0.1:1"], &[], "--backend applies to serve proxy"),
        (&["serve", "rudp-echo", "--backend", "127.0.0.1:1"], &x, "--backend applies"),
        (&["serve", "http", "--ip", "198.18.0.2/24,2001:db8::2/64"], &[], "--ip applies"),
        (&["serve", "sockperf", "--busy-poll-budget", "8"], &[], "--busy-poll-budget applies"),
        (&["serve", "rr", "--sched", "slice:100"], &[], "--sched applies"),
        (&["load", "rudp", "--ip", "2001:db8::2/64"], &target, "--ip applies"),
        (&["load", "kcp", "--busy-poll-us", "50"], &target, "--busy-poll-us applies"),
        (&["load", "kcp", "--stack", "xdptcp"], &target, "runs on kernel sockets"),
        (&["load", "rudp", "--threads", "2"], &target, "--threads: load rudp runs one thread"),
        (&["load", "bulk", "--sched", "fifo:10"], &target, "--sched applies"),
        (&["load", "rr", "--stack", "xdptcp", "--threads", "2"], &target, "--threads: load"),
        (
            &["xfer", "--stack", "linux"],
            &["--connect", "127.0.0.1:1"],
            "xfer runs on --stack xdptcp only",
        ),
        // --queues N runs load, xfer and serve proxy on N workers; what only one queue reads,
        // or only several do, is refused.
        (&["load", "rr", "--rss-key", "symmetric"], &target, "--rss-key applies to --stack xdptcp"),
        (&["load", "rr", "--queues", "2", "--conns", "1"], &xq, "each of the 2 queues needs"),
        (&["load", "crr", "--queues", "2", "--conns", "2", "--rss-key", "6d:5a"], &xq, "40"),
        (
            &["xfer", "--rss-key", "symmetric", "--connect", "127.0.0.1:1"],
            &xi,
            "--rss-key applies to --queues N",
        ),
        (
            &["xfer", "--queues", "2", "--local-ports", "40000-40100"],
            &xc,
            "--local-ports applies to one queue",
        ),
        (&["xfer", "--queues", "2", "--rss-key", "sym"], &xc, "--rss-key: RSS key"),
        // serve rudp-echo runs on N queues through the same runtime options.
        (&["serve", "rudp-echo", "--queues", "2", "--queue", "1"], &xi, "--queue picks the one"),
        (&["serve", "rudp-echo", "--queues", "2", "--rss-key", "sym"], &xi, "--rss-key: RSS key"),
        // xdptcp lab up: --rss and its key, checked before anything is made (no root needed).
        (&["lab", "up", "lx", "--rss-key", "microsoft"], &[], "lab: --rss-key needs --rss"),
        (&["lab", "up", "lx", "--queues", "1", "--rss"], &[], "--rss needs --queues N with N > 1"),
        (&["lab", "up", "lx", "--mtu", "20"], &[], "lab: --mtu must be 68..9216"),
        (
            &[
                "serve",
                "proxy",
                "--queues",
                "2",
                "--syn-cookies",
                "off",
                "--backend",
                "127.0.0.1:1",
            ],
            &xi,
            "--syn-cookies off runs on one queue",
        ),
    ];
    for (args, more, needle) in rows {
        let all: Vec<&str> = args.iter().chain(more.iter()).copied().collect();
        assert_one_line_error(&xdptcp(&all, t), needle);
    }
}

#[test]
fn silent_server_gives_timeouts_not_a_hang() {
    // The kernel completes connects into the backlog; nobody ever reads or answers.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let target = silent.local_addr().unwrap().to_string();
    let v = load_json(
        &["rr", "--target", &target, "--conns", "2", "--duration", "1.5", "--timeout-ms", "200"],
        "silent.json",
    );
    assert_eq!(v["completed"], 0);
    assert!(v["errors"]["timeout"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["p50_us"], serde_json::Value::Null);
    drop(silent);
}

/// Runs an external tool if it is installed; `None` (with a note) if it is not.
fn external(tool: &str, args: &[&str]) -> Option<String> {
    let mut child =
        match Command::new(tool).args(args).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn() {
            Ok(c) => c,
            Err(_) => {
                println!("note: {tool} is not installed; skipping its interoperability check");
                return None;
            }
        };
    let status = wait_bounded(&mut child, Duration::from_secs(30));
    let out = child.wait_with_output().expect("output");
    let text =
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(status.success(), "{tool} failed: {text}");
    Some(text)
}

#[test]
fn real_sockperf_client_when_installed() {
    let server = Server::start(&["sockperf"]);
    let port = server.addr.port().to_string();
    let Some(text) = external(
        "sockperf",
        &["ping-pong", "--tcp", "-i", "127.0.0.1", "-p", &port, "-t", "1", "-m", "100"],
    ) else {
        return;
    };
    // "[Valid Duration] RunTime=... SentMessages=N; ReceivedMessages=N"
    let received: u64 = text
        .split("ReceivedMessages=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ReceivedMessages in: {text}"));
    assert!(received > 0, "{text}");
    assert!(text.contains("# dropped messages = 0"), "{text}");
    assert!(text.contains("# out-of-order messages = 0"), "{text}");
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn real_sockperf_client_over_udp_when_installed() {
    let server = Server::start(&["sockperf"]);
    let port = server.addr.port().to_string();
    // No --tcp: sockperf's default transport, UDP.
    let Some(text) = external(
        "sockperf",
        &["ping-pong", "-i", "127.0.0.1", "-p", &port, "-t", "1", "-m", "100"],
    ) else {
        return;
    };
    let received: u64 = text
        .split("ReceivedMessages=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no ReceivedMessages in: {text}"));
    assert!(received > 0, "{text}");
    let (status, counters) = server.stop();
    assert!(status.success());
    assert!(counters.contains("udp malformed 0,"), "{counters}");
    assert!(!counters.contains("udp replied 0,"), "{counters}");
}

#[test]
fn wrk_when_installed() {
    let server = Server::start(&["http", "--body-bytes", "512"]);
    let url = format!("http://{}/", server.addr);
    let Some(text) = external("wrk", &["-t1", "-c4", "-d1s", &url]) else {
        return;
    };
    assert!(text.contains("requests in"), "{text}");
    assert!(!text.contains("Non-2xx"), "{text}");
    assert!(!text.contains("Socket errors: connect"), "{text}");
    let (status, _) = server.stop();
    assert!(status.success());
}

#[test]
fn http_413_reaches_a_client_that_keeps_sending() {
    let server = Server::start(&["http"]);
    let s = connect(server.addr);
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    // 4 MiB announced (over the 1 MiB limit); 200 KB of it actually sent, then FIN.
    w.write_all(b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 4194304\r\n\r\n").unwrap();
    let writer = thread::spawn(move || {
        let chunk = [b'u'; 10_000];
        for _ in 0..20 {
            if w.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = w.shutdown(std::net::Shutdown::Write);
    });
    let resp = read_response(&mut r, false);
    assert_eq!(resp.status, 413);
    assert_eq!(resp.header("connection"), Some("close"));
    let mut rest = Vec::new();
    assert_eq!(r.read_to_end(&mut rest).unwrap(), 0);
    writer.join().unwrap();
    let (status, _) = server.stop();
    assert!(status.success());
}

/// `serve proxy --stack linux` on loopback in front of `serve echo`: byte-exact both ways with
/// the half-close passed through (the echo ends its stream only after our FIN reached it),
/// then a dead backend answered with a reset or close, never a hang.
#[test]
fn proxy_on_linux_is_byte_exact_and_resets_when_the_backend_is_gone() {
    let echo = Server::start(&["echo"]);
    let backend = echo.addr.to_string();
    let proxy = Server::start(&["proxy", "--backend", &backend]);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(40_503) >> 7) as u8).collect();
    let mut s = connect(proxy.addr);
    let mut writer = s.try_clone().unwrap();
    let to_send = data.clone();
    let w = thread::spawn(move || {
        writer.write_all(&to_send).unwrap();
        writer.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut back = Vec::new();
    s.read_to_end(&mut back).unwrap();
    w.join().unwrap();
    assert!(back == data, "proxied echo differs ({} of {} bytes)", back.len(), data.len());
    let (status, counters) = proxy.stop();
    assert!(status.success(), "{status:?}");
    assert!(counters.contains("accepted 1, completed 1, aborted 0"), "{counters}");
    drop(echo);

    let gone = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let proxy = Server::start(&["proxy", "--backend", &gone]);
    let mut s = connect(proxy.addr);
    let _ = s.write_all(b"hello");
    let mut buf = [0u8; 16];
    match s.read(&mut buf) {
        Ok(0) => {}
        Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset, "{e}"),
        Ok(n) => panic!("{n} bytes from a proxy without a backend"),
    }
    let (status, counters) = proxy.stop();
    assert!(status.success(), "{status:?}");
    assert!(counters.contains("backend failures 1"), "{counters}");
}
