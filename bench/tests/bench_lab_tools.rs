//! The two tools behind the `raw-xdp` row: `xdptcp serve-xdp reflect` and `xdptcp udp-flood`.
//!
//! Without root only the argument errors are checked (one line, non-zero exit); with root a
//! lab is made, the reflector serves it, a 1-second flood gets replies, and the reflector's
//! counters after SIGTERM agree (exit 0). A Drop guard removes the lab.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::has_root;

const BIN: &str = env!("CARGO_BIN_EXE_xdptcp");

fn one_line_error(args: &[&str], want: &str) {
    let out = Command::new(BIN).args(args).output().expect("xdptcp runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{args:?} succeeded");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(want), "{err}");
}

#[test]
fn udp_flood_rejects_bad_arguments_in_one_line() {
    one_line_error(&["udp-flood", "--target", "127.0.0.1:9", "--size", "8"], "--size");
    one_line_error(&["udp-flood", "--target", "127.0.0.1:9", "--duration", "0"], "--duration");
    one_line_error(&["udp-flood", "--target", "nowhere", "--duration", "1"], "bad address");
}

struct Lab(String);

impl Drop for Lab {
    fn drop(&mut self) {
        let _ = Command::new(BIN).args(["lab", "down", &self.0]).output();
    }
}

fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .skip_while(|w| *w != key)
        .nth(1)
        .and_then(|v| v.trim_end_matches(',').parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

#[test]
fn reflector_sends_the_flood_back_and_counts_it() {
    if !has_root("the reflector test") {
        return;
    }
    let name = format!("rf{}", std::process::id() % 100_000);
    let out = Command::new(BIN).args(["lab", "up", &name]).output().expect("lab up");
    let _lab = Lab(name.clone());
    assert!(out.status.success(), "{out:?}");
    let vars = String::from_utf8_lossy(&out.stdout).to_string();
    let var = |k: &str| {
        vars.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_string))
            .expect("lab var")
    };
    let (sns, kns, iface, ip) =
        (var("STACK_NS"), var("KERNEL_NS"), var("STACK_IF"), var("STACK_IP"));
    let cidr = format!("{ip}/24");
    let mut server = Command::new("ip")
        .args([
            "netns",
            "exec",
            &sns,
            BIN,
            "serve-xdp",
            "reflect",
            "--iface",
            &iface,
            "--ip",
            &cidr,
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("reflector starts");
    let mut lines = BufReader::new(server.stdout.take().expect("piped")).lines();
    let first = lines.next().and_then(Result::ok).unwrap_or_default();
    assert!(first.starts_with(&format!("listening on {ip} (reflect")), "{first:?}");

    let target = format!("{ip}:9");
    let flood = Command::new("ip")
        .args(["netns", "exec", &kns, BIN, "udp-flood", "--target", &target, "--duration", "1"])
        .output()
        .expect("flood runs");
    let _ = Command::new("kill").args(["-TERM", &server.id().to_string()]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = server.try_wait().expect("wait") {
            break s;
        }
        assert!(Instant::now() < deadline, "reflector did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let summary = String::from_utf8_lossy(&flood.stdout).to_string();
    assert!(flood.status.success(), "{flood:?}");
    assert!(status.success(), "exit 0 after SIGTERM: {rest:?}");
    let total = rest.iter().find(|l| l.starts_with("total:")).expect("a total line");
    let received = field(&summary, "received");
    let sent = field(&summary, "sent");
    assert!(received > 0 && received <= sent, "{summary}");
    // Everything the flood got back was reflected; ARP was answered at least once.
    assert!(field(total, "reflected") >= received, "{total} / {summary}");
    assert!(field(total, "arp-replies") >= 1, "{total}");
    assert_eq!(field(total, "tx-full"), 0, "{total}");
}
