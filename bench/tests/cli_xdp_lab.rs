//! The `xdptcp` CLI against Linux in a veth lab it makes itself (root).
//!
//! `xdptcp lab up` → `xdptcp serve-xdp udp-echo` in the stack namespace as a child process →
//! wait for its `listening on` line → a byte-exact UDP echo from the kernel namespace →
//! SIGTERM → exit 0 with its final counters → then a server killed with SIGKILL leaves its
//! XDP program attached, and `xdptcp detach` removes it → `xdptcp lab down` (a Drop guard, so
//! also when an assertion fails). Without root: "skipped: needs root" (a failure if CI is set).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::has_root;

const BIN: &str = env!("CARGO_BIN_EXE_xdptcp");

struct Lab {
    name: String,
    vars: Vec<(String, String)>,
}

impl Lab {
    fn up(name: &str, queues: u32) -> Lab {
        let out = Command::new(BIN)
            .args(["lab", "up", name, "--queues", &queues.to_string()])
            .output()
            .expect("xdptcp runs");
        let mut lab = Lab { name: name.to_string(), vars: Vec::new() };
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(out.status.success(), "lab up: {text}{}", String::from_utf8_lossy(&out.stderr));
        lab.vars = text
            .lines()
            .last()
            .unwrap_or_default()
            .split_whitespace()
            .filter_map(|kv| kv.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        lab
    }

    fn var(&self, k: &str) -> String {
        self.vars.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).expect("lab var")
    }

    /// `xdptcp ARGS` inside the stack namespace.
    fn xdptcp(&self, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.var("STACK_NS"), BIN]).args(args);
        c
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN).args(["lab", "down", &self.name]).output();
    }
}

/// A child whose stdout lines arrive on a channel; killed on drop if still running.
struct Server {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Server {
    fn start(mut cmd: Command) -> Server {
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("spawns");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Server { child, lines, seen: Vec::new() }
    }

    /// Waits (bounded) for a line starting with `prefix`.
    fn wait_for(&mut self, prefix: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if l.starts_with(prefix) {
                        return l;
                    }
                }
                Err(_) => break,
            }
        }
        let _ = self.child.kill();
        let err = self.child.wait_with_output_stderr();
        panic!("no {prefix:?} line; stdout {:?}; stderr {err}", self.seen);
    }

    /// Sends a signal by pid (the child is xdptcp itself: `ip netns exec` execs it).
    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill {sig}");
    }

    /// Waits (bounded) for the exit; the rest of stdout is collected.
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait works") {
                // The reader thread ends at EOF; take what is left.
                while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(2)) {
                    self.seen.push(l);
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("server did not exit; stdout {:?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

trait StderrText {
    fn wait_with_output_stderr(&mut self) -> String;
}

impl StderrText for Child {
    fn wait_with_output_stderr(&mut self) -> String {
        use std::io::Read;
        let _ = self.wait();
        let mut s = String::new();
        if let Some(mut e) = self.stderr.take() {
            let _ = e.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Removes a directory on drop (every path, panics included).
struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn serve_xdp_echoes_stops_on_sigterm_and_detach_cleans_up() {
    if !has_root("the CLI lab test") {
        return;
    }
    let lab = Lab::up(&format!("xc{}", std::process::id() % 100_000), 2);
    let (iface, ip, kns) = (lab.var("STACK_IF"), lab.var("STACK_IP"), lab.var("KERNEL_NS"));
    let cidr = format!("{ip}/24");
    let serve =
        ["serve-xdp", "udp-echo", "--iface", &iface, "--ip", &cidr, "--port", "7", "--queues", "2"];

    // 1. Serve (capturing, one file per queue), echo, SIGTERM.
    let pcap_dir = std::env::temp_dir().join(format!("xdptcp-cli-{}", std::process::id()));
    std::fs::create_dir_all(&pcap_dir).expect("temp dir");
    let _remove_dir = RemoveDir(pcap_dir.clone());
    let pcap = pcap_dir.join("cap.pcap");
    let pcap_arg = pcap.to_string_lossy().to_string();
    let mut with_pcap = serve.to_vec();
    with_pcap.extend(["--pcap", &pcap_arg, "--stats-interval", "1"]);
    let mut server = Server::start(lab.xdptcp(&with_pcap));
    let listening = server.wait_for("listening on");
    assert!(listening.starts_with(&format!("listening on {ip}:7 (queues 0,1")), "{listening}");
    assert!(listening.contains("xdp native") && listening.contains("bind copy"), "{listening}");
    let payload = format!("xdptcp cli {} \u{2713}", std::process::id());
    let py = "import socket,sys\n\
              s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.settimeout(2)\n\
              msg=sys.argv[1].encode()\n\
              for _ in range(3):\n\
              \x20   s.sendto(msg,(sys.argv[2],7))\n\
              \x20   try: data,peer=s.recvfrom(4096)\n\
              \x20   except socket.timeout: continue\n\
              \x20   sys.stdout.buffer.write(data); sys.exit(0)\n\
              sys.exit(2)\n";
    let udp = Command::new("timeout")
        .args(["20", "ip", "netns", "exec", &kns, "python3", "-c", py, &payload, &ip])
        .output()
        .expect("python runs");
    server.signal("-TERM");
    let status = server.wait();
    assert!(udp.status.success(), "no echo: {udp:?}");
    assert_eq!(udp.stdout, payload.as_bytes(), "byte-exact echo");
    assert!(status.success(), "exit 0 after SIGTERM: {status:?} {:?}", server.seen);
    let finals: Vec<&String> = server.seen.iter().filter(|l| l.starts_with("final q")).collect();
    assert_eq!(finals.len(), 2, "one final line per worker: {:?}", server.seen);
    let total = server.seen.iter().find(|l| l.starts_with("total:")).expect("a total line");
    let echoed: u64 = total
        .split_whitespace()
        .skip_while(|w| *w != "udp-echoed")
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("udp-echoed count");
    assert!(echoed >= 1, "{total}");
    // Every frame of both queues was captured: the two files hold at least the datagram and
    // its echo beyond their 24-byte headers.
    let sizes: Vec<u64> = ["cap.q0.pcap", "cap.q1.pcap"]
        .iter()
        .map(|f| std::fs::metadata(pcap_dir.join(f)).map(|m| m.len()).unwrap_or(0))
        .collect();
    assert!(sizes.iter().all(|&n| n >= 24), "a file per queue: {sizes:?}");
    assert!(sizes.iter().sum::<u64>() >= 48 + 2 * (16 + 42), "datagram and echo: {sizes:?}");
    let out = lab.xdptcp(&["detach", "--iface", &iface]).output().expect("runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("no XDP program was attached"),
        "SIGTERM path detached: {out:?}"
    );

    // 2. SIGKILL leaves the program attached (no guard runs); detach removes it.
    let mut server = Server::start(lab.xdptcp(&serve));
    server.wait_for("listening on");
    server.signal("-KILL");
    let status = server.wait();
    assert!(!status.success());
    let link = Command::new("ip")
        .args(["-n", &lab.var("STACK_NS"), "link", "show", &iface])
        .output()
        .expect("ip runs");
    assert!(String::from_utf8_lossy(&link.stdout).contains("xdp"), "a stale program stays");
    let out = lab.xdptcp(&["detach", "--iface", &iface]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && text.contains("removed XDP program id"), "{out:?}");
    let out = lab.xdptcp(&["detach", "--iface", &iface]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no XDP program was attached"));

    // 3. One-line errors with a non-zero exit.
    let out = lab.xdptcp(&["detach", "--iface", "xdptcp-none0"]).output().expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.lines().count() == 1, "{err}");
    let out = lab
        .xdptcp(&["serve-xdp", "udp-echo", "--iface", &iface, "--ip", &cidr, "--queues", "3"])
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("has 2 queue(s)"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");

    // 4. `serve` runs any app on several queues, and --fault impairs every worker's device:
    //    an rr exchange through 2 ms of delay each way comes back intact, no sooner than 4 ms.
    let rr = [
        "serve",
        "rr",
        "--stack",
        "xdptcp",
        "--iface",
        &iface,
        "--ip",
        &cidr,
        "--port",
        "7001",
        "--queues",
        "2",
        "--fault",
        "delay-us=2000",
    ];
    let mut server = Server::start(lab.xdptcp(&rr));
    server.wait_for("listening on");
    let py = "import socket,struct,sys,time\n\
              s=socket.create_connection((sys.argv[1],7001),timeout=10)\n\
              req=struct.pack('>I',32)+bytes(range(32)); t=time.monotonic()\n\
              s.sendall(req); got=b''\n\
              while len(got)<len(req):\n\
              \x20   d=s.recv(4096)\n\
              \x20   if not d: sys.exit(3)\n\
              \x20   got+=d\n\
              ms=(time.monotonic()-t)*1000; print(ms)\n\
              sys.exit(0 if got==req and ms>=4 else 2)\n";
    let rr_client = Command::new("timeout")
        .args(["30", "ip", "netns", "exec", &kns, "python3", "-c", py, &ip])
        .output()
        .expect("python runs");
    server.signal("-TERM");
    let status = server.wait();
    assert!(rr_client.status.success(), "rr through the delay: {rr_client:?}");
    assert!(status.success(), "exit 0 after SIGTERM: {status:?} {:?}", server.seen);
    let finals = server.seen.iter().filter(|l| l.starts_with("final q")).count();
    assert_eq!(finals, 2, "one final line per worker: {:?}", server.seen);
    let out = lab.xdptcp(&["detach", "--iface", &iface]).output().expect("runs");
    assert!(String::from_utf8_lossy(&out.stdout).contains("no XDP program was attached"));
}
