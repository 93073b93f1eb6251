//! `xdptcp bench lab --quick --json F --out D` end to end (root): it completes, the JSON has
//! exactly the published shape, Linux rows carry non-zero throughput, the raw AF_XDP
//! reflector row is there, the raw ceiling's pair ran a second time (`--ceiling-rounds 2`)
//! and the ceiling is their median, the table and plots are written, and no lab namespace is
//! left.
//! Without root: "skipped: needs root" (a failure if CI is set).
//!
//! `--quick` runs every combination for 2 s: about 100 s with a debug build (bounded at 240 s).

use std::process::Command;

mod common;
use common::has_root;

const BIN: &str = env!("CARGO_BIN_EXE_xdptcp");

fn namespaces() -> String {
    let out = Command::new("ip").args(["netns", "list"]).output().expect("ip runs");
    String::from_utf8_lossy(&out.stdout).to_string()
}

struct RemoveDir(std::path::PathBuf);

impl Drop for RemoveDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn bench_lab_quick_writes_the_report_and_removes_the_lab() {
    if !has_root("the bench lab test") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("xdptcp-bench-lab-test-{}", std::process::id()));
    let _remove = RemoveDir(dir.clone());
    let json = dir.join("report.json");
    let out_dir = dir.join("out");
    std::fs::create_dir_all(&dir).expect("temp dir");
    let before = namespaces();
    let out = Command::new("timeout")
        .args(["240", BIN, "bench", "lab", "--quick", "--ceiling-rounds", "2"])
        .arg("--json")
        .arg(&json)
        .arg("--out")
        .arg(&out_dir)
        .output()
        .expect("xdptcp runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "bench lab failed: {stdout}\n{stderr}");

    let text = std::fs::read_to_string(&json).expect("--json written");
    let v: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    xdptcp_bench::report::check_shape(&v).expect("exact shape");
    let rows = v["results"].as_array().expect("results");
    for w in ["rr64x1", "bulk"] {
        let row = rows
            .iter()
            .find(|r| r["workload"] == w && r["server"] == "linux" && r["client"] == "linux")
            .unwrap_or_else(|| panic!("a linux/linux {w} row: {text}"));
        assert!(row["throughput"].as_f64().unwrap() > 0.0, "{row}");
    }
    for client in ["xdp-flood", "udp-flood"] {
        let raw = rows
            .iter()
            .find(|r| r["workload"] == "raw-xdp" && r["client"] == client)
            .unwrap_or_else(|| panic!("a raw-xdp row from {client}: {text}"));
        assert_eq!(raw["unit"], "pps");
        assert!(raw["throughput"].as_f64().unwrap() > 0.0, "{raw}");
        // Each reply is two frames on the wire, one each way.
        let fps = raw["wire_fps"].as_f64().expect("wire frames counted");
        assert!(fps >= raw["throughput"].as_f64().unwrap(), "{raw}");
    }
    // Every row has the server's CPU time (a server always runs for a while).
    for r in rows {
        assert!(r["server_cpu_s"].as_f64().is_some_and(|s| s > 0.0), "{r}");
        assert!(r["per_cpu_s"].as_f64().is_some_and(|s| s > 0.0), "{r}");
    }
    // Combinations without a number are named with a reason, never faked: xdptcp ones (until
    // `--stack xdptcp` is built) or tools that are not installed.
    for m in v["meta"]["missing"].as_array().expect("meta.missing") {
        let reason = m["reason"].as_str().unwrap_or_default();
        let xdptcp = m["server"] == "xdptcp" || m["client"] == "xdptcp";
        assert!((xdptcp && reason == "not built yet") || reason.ends_with("not installed"), "{m}");
        assert!(
            !rows.iter().any(|r| r["workload"] == m["workload"]
                && r["server"] == m["server"]
                && r["client"] == m["client"]),
            "a missing combination has no row: {m}"
        );
    }
    assert_eq!(v["meta"]["xdp_mode"], "native", "{}", v["meta"]);
    assert_eq!(v["meta"]["bind_mode"], "copy");
    assert!(v["meta"]["kernel"].as_str().is_some_and(|k| !k.is_empty()));

    // The same report in the directory, with the table and plots; the table is on stdout.
    let in_dir = std::fs::read_to_string(out_dir.join("results.json")).expect("results.json");
    assert_eq!(in_dir, text);
    let table = std::fs::read_to_string(out_dir.join("table.md")).expect("table.md");
    assert!(table.contains("| rr64x1 | linux | linux |"), "{table}");
    assert!(stdout.contains("| raw-xdp | xdp-reflector | udp-flood |"), "{stdout}");
    // The pair ran once more after the workloads; the line gives the median of both.
    let repeats = v["meta"]["ceiling_repeats"].as_array().expect("meta.ceiling_repeats");
    assert_eq!(repeats.len(), 1, "{}", v["meta"]);
    assert!(repeats[0]["xdptcp_fps"].as_f64().is_some_and(|f| f > 0.0), "{}", repeats[0]);
    assert!(repeats[0]["reflector_fps"].as_f64().is_some_and(|f| f > 0.0), "{}", repeats[0]);
    assert!(stdout.contains("median of 2 pairs run in turn:"), "{stdout}");
    for svg in
        ["throughput-rr64x1.svg", "throughput-raw-xdp.svg", "latency-rr64x1.svg", "summary.svg"]
    {
        let s = std::fs::read_to_string(out_dir.join(svg)).unwrap_or_default();
        assert!(s.starts_with("<svg"), "{svg}");
    }

    // No namespace of this run's lab is left. Its names come from the report (other labs,
    // made by tests running in parallel, are not ours to judge).
    let topology = v["meta"]["topology"].as_str().expect("meta.topology");
    let servers_in = topology.split("servers in ").nth(1).expect("servers in NS");
    let stack_ns = servers_in.split(',').next().expect("NS").trim();
    let lab = stack_ns.strip_suffix("-a").expect("NAME-a");
    assert!(lab.starts_with("bl") && !before.contains(stack_ns), "{topology}");
    let after = namespaces();
    let leftover: Vec<&str> = after
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|ns| *ns == format!("{lab}-a") || *ns == format!("{lab}-k"))
        .collect();
    assert!(leftover.is_empty(), "lab left behind: {leftover:?}");
}
