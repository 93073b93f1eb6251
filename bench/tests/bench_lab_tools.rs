//! The tools behind the `raw-xdp` rows: `xdptcp serve-xdp reflect` and `xdptcp udp-flood`,
//! on a kernel socket and on its own AF_XDP socket (`--stack xdptcp`).
//!
//! Without root only the argument errors are checked (one line, non-zero exit); with root a
//! lab is made, the reflector serves it, a 1-second flood gets replies, and the reflector's
//! counters after SIGTERM agree (exit 0); the AF_XDP generator resolves the reflector by
//! ARP and its count of what it sent agrees with the reflector's. Drop guards remove the labs.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod common;
use common::{has_root, XDPTCP};

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
    let t = ["udp-flood", "--target", "198.18.0.2:9"];
    let with = |more: &[&'static str]| [&t[..], more].concat();
    one_line_error(&with(&["--stack", "xdptcp"]), "needs --iface");
    one_line_error(&with(&["--stack", "xdptcp", "--iface", "lo"]), "needs --ip");
    one_line_error(&with(&["--stack", "dpdk"]), "--stack dpdk");
    one_line_error(&with(&["--stack", "xdptcp", "--iface", "lo", "--ip", "10.0.0.1/33"]), "prefix");
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

#[test]
fn the_af_xdp_generator_counts_what_the_reflector_sends_back() {
    if !has_root("the AF_XDP generator lab test") {
        return;
    }
    let lab = common::Lab::up(format!("xf{}", std::process::id() % 100_000), &[]);
    let mut reflector = lab.xdptcp("reflector", &["serve-xdp", "reflect"]).time_limit(30).start();
    reflector.wait_line("listening on");
    let prefix = lab.stack_ip.rsplit_once('.').expect("dotted").0.to_string();
    let cidr = format!("{prefix}.4/24");
    let target = format!("{}:9", lab.stack_ip);
    let json = std::env::temp_dir().join(format!("xdptcp-{}-flood.json", lab.name));
    let out = Command::new("timeout")
        .args(["20", "ip", "netns", "exec", &lab.kernel_ns, XDPTCP, "udp-flood"])
        .args(["--stack", "xdptcp", "--iface", &lab.kernel_if, "--ip", &cidr])
        .args(["--target", &target, "--duration", "1", "--window", "64", "--json"])
        .arg(&json)
        .output()
        .expect("udp-flood runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    if !out.status.success() {
        reflector
            .fail(&format!("udp-flood failed: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    }
    let text = std::fs::read_to_string(&json).expect("--json written");
    let _ = std::fs::remove_file(&json);
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(v["stack"], "xdptcp", "{text}");
    let (sent, received) = (v["sent"].as_u64().unwrap(), v["received"].as_u64().unwrap());
    let lost = v["lost"].as_u64().unwrap();
    // A second of a batched loop moves far more than a thousand datagrams; what is neither
    // answered nor written off when it stops is at most the window. (A loaded machine may
    // drop some, which the generator writes off: the test does not assume a quiet one.)
    assert!(received > 1000 && received <= sent, "{text}");
    assert!(sent.saturating_sub(received + lost) <= 64, "{text}");
    assert!(v["pps"].as_f64().unwrap() > 0.0 && v["p50_us"].as_f64().is_some(), "{text}");
    assert!(stdout.contains("arp requests 1,") || stdout.contains("arp requests 2,"), "{stdout}");

    // The reflector answered every reply the generator counted (and the ARP request), and
    // nothing it was not sent.
    assert!(reflector.stop(Duration::from_secs(10)), "the reflector exits 0 after SIGINT");
    let log = reflector.log_text();
    let total = log.lines().find_map(|l| l.strip_prefix("total: ")).expect("a total line");
    let field = |k: &str| -> u64 {
        total
            .split_whitespace()
            .skip_while(|w| *w != k)
            .nth(1)
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{k} in {total}"))
    };
    let reflected = field("reflected");
    assert!(reflected >= received && reflected <= sent, "{total} / {text}");
    assert!(field("arp-replies") >= 1, "{total}");
    assert_eq!(field("dropped"), 0, "{total}");
}

/// `xdptcp lab up --queues 2 --rss --rss-key symmetric` from a copy of the binary in an empty
/// directory, so neither the script nor the classifier's source can be found on disk: the
/// classifier is attached to the kernel-side veth's egress, and nothing is left in TMPDIR.
/// `--rss` on one queue is the script's one-line error; `--rss-key` without `--rss` is refused.
#[test]
fn lab_up_rss_works_from_the_binary_alone() {
    if !has_root("the lab --rss test") {
        return;
    }
    /// Removes the test's directory however the test ends.
    struct Dir(std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let dir = std::env::temp_dir().join(format!("xdptcp-labrss-{}", std::process::id()));
    let _dir = Dir(dir.clone());
    let tmp = dir.join("tmp");
    std::fs::create_dir_all(&tmp).expect("temp dir");
    let bin = dir.join("xdptcp");
    std::fs::copy(BIN, &bin).expect("copy the binary");
    let lab = |args: &[&str]| {
        Command::new(&bin).arg("lab").args(args).current_dir(&dir).env("TMPDIR", &tmp).output()
    };
    let name = format!("rs{}", std::process::id() % 100_000);
    let out =
        lab(&["up", &name, "--queues", "2", "--rss", "--rss-key", "symmetric"]).expect("runs");
    let _lab = Lab(name.clone());
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("rss: Toeplitz (symmetric key) over 2 queues"), "{text}");
    let var = |k: &str| {
        text.split_whitespace()
            .find_map(|kv| kv.strip_prefix(&format!("{k}=")).map(str::to_string))
            .expect("lab var")
    };
    let (kns, kif) = (var("KERNEL_NS"), var("KERNEL_IF"));
    let tc = Command::new("ip")
        .args(["netns", "exec", &kns, "tc", "filter", "show", "dev", &kif, "egress"])
        .output()
        .expect("tc runs");
    let filters = String::from_utf8_lossy(&tc.stdout);
    assert!(filters.contains("bpf") && filters.contains("direct-action"), "{filters}");
    let left: Vec<_> = std::fs::read_dir(&tmp).expect("read TMPDIR").collect();
    assert!(left.is_empty(), "left in TMPDIR: {left:?}");
    drop(_lab);

    let out = lab(&["up", &name, "--queues", "1", "--rss"]).expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim(), "xdptcp: error: lab: --rss needs --queues N with N > 1", "{err}");
    let out = lab(&["up", &name, "--queues", "2", "--rss-key", "symmetric"]).expect("runs");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rss"));
}
