//! The AF_XDP generator (`udp-flood --stack xdptcp`) against the AF_XDP reflector
//! (`serve-xdp reflect`) over a veth lab (root): it resolves the reflector by ARP, gets back
//! every datagram it counts, and its count agrees with the reflector's; one-line errors
//! for bad options need no root. About 5 s.

use std::process::Command;
use std::time::Duration;

mod common;
use common::{has_root, Lab, XDPTCP};

#[test]
fn bad_generator_options_are_one_line_errors() {
    for (args, want) in [
        (vec!["--stack", "xdptcp", "--target", "198.18.0.2:9"], "needs --iface"),
        (vec!["--stack", "xdptcp", "--iface", "lo", "--target", "198.18.0.2:9"], "needs --ip"),
        (vec!["--stack", "dpdk", "--target", "198.18.0.2:9"], "--stack dpdk"),
        (
            vec![
                "--stack",
                "xdptcp",
                "--iface",
                "lo",
                "--ip",
                "10.0.0.1/33",
                "--target",
                "1.2.3.4:9",
            ],
            "prefix",
        ),
    ] {
        let out = Command::new(XDPTCP).arg("udp-flood").args(&args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(err.contains(want) && err.trim().lines().count() == 1, "{args:?}: {err}");
    }
}

#[test]
fn the_af_xdp_generator_counts_what_the_reflector_sends_back() {
    if !has_root("the AF_XDP generator lab test") {
        return;
    }
    let lab = Lab::up(format!("xf{}", std::process::id() % 100_000), &[]);
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
    // A second of a batched loop moves far more than a thousand datagrams, and at most the
    // window is still in flight when it stops; nothing was written off on a quiet link.
    assert!(received > 1000 && received <= sent && sent - received <= 64, "{text}");
    assert!(v["pps"].as_f64().unwrap() > 0.0 && v["p50_us"].as_f64().is_some(), "{text}");
    assert!(stdout.contains("arp requests 1,") || stdout.contains("arp requests 2,"), "{stdout}");

    // The reflector saw every datagram the generator sent (and the ARP request).
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
    assert_eq!(field("reflected"), sent, "{total}");
    assert!(field("arp-replies") >= 1, "{total}");
    assert_eq!(field("dropped"), 0, "{total}");
}
