//! Issue 17 item 3 on a veth lab (root; "skipped: needs root" otherwise, a failure under CI):
//! what holds under a SYN flood, whatever the machine's load. The flood and the legitimate
//! client are the `synflood` rows of `xdptcp bench lab` (`bench/src/cmd/bench_lab/synflood.rs`):
//! hping3 from the kernel side with random spoofed sources, pinned away from the server's
//! core, and 300 legitimate connect-and-echoes one after another, against our echo server
//! and a Linux epoll one, with SYN cookies on and off. These tests run it and assert only what
//! is not a timing: how many connects succeeded, what the counters say, and that memory does
//! not grow with the flood. Connect times (ours against Linux's, the "p99 within 2x")
//! are a benchmark's business, measured side by side in the same run and printed here, never
//! asserted: on a machine shared with builds they measure the scheduler (docs/tcp-conformance.md,
//! "SYN flood on the lab").
//!
//! `a_`: cookies on, the flood answered statelessly. `b_`: cookies off, the SYN queue full,
//! further SYNs dropped and counted, memory flat, and (since the pruning of a crowded SYN
//! queue) still 99 % of the connects served. `c_` checks that `--sched` reaches the worker
//! thread. `d_`: the bench's flags for it (no root needed).

use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

mod common;
use common::{has_root, Lab, XDPTCP};
use xdptcp_stack::tcp::{CHUNK_SIZE, SLAB_CHUNKS};

fn lab_up(letter: &str) -> Lab {
    Lab::up(format!("f{letter}{}", std::process::id() % 100_000), &[])
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Legitimate connections per run (the bench's `synflood::LEGIT`).
const LEGIT: u64 = 300;

/// Runs `xdptcp bench lab --only synflood --synflood-cookies COOKIES` (bounded by `timeout`)
/// and returns its runs (`synflood.json`), our server's first. The bench must exit 0: every
/// run measured, the lab removed.
fn bench_synflood(cookies: &str) -> Vec<serde_json::Value> {
    let dir =
        std::env::temp_dir().join(format!("xdptcp-synflood-{cookies}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = Command::new("timeout")
        .args(["400", XDPTCP, "bench", "lab", "--only", "synflood", "--synflood-cookies", cookies])
        .arg("--out")
        .arg(&dir)
        .output()
        .expect("xdptcp runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(out.status.success(), "bench lab --only synflood failed: {stdout}\n{stderr}");
    let text = std::fs::read_to_string(dir.join("synflood.json")).expect("synflood.json written");
    let _ = std::fs::remove_dir_all(&dir);
    let runs: Vec<serde_json::Value> = serde_json::from_str(&text).expect("valid JSON");
    let servers: Vec<&str> = runs.iter().filter_map(|r| r["server"].as_str()).collect();
    assert_eq!(servers, ["xdptcp", "linux"], "{text}");
    runs
}

/// Counter `name` of a run (ours: the listener's final line).
fn counter(run: &serde_json::Value, name: &str) -> u64 {
    run["counters"][name].as_u64().unwrap_or_else(|| panic!("no {name} in {run}"))
}

/// At least 99 % of the legitimate connects of `run` succeeded.
fn assert_99_percent(run: &serde_json::Value) {
    assert_eq!(run["conns"], LEGIT, "{run}");
    let ok = run["ok"].as_u64().unwrap_or(0);
    assert!(ok * 100 >= LEGIT * 99, "{ok} of {LEGIT} connects succeeded under the flood: {run}");
}

#[test]
fn a_syn_flood_with_cookies_is_answered_statelessly_and_connects_go_on() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the SYN flood lab test") {
        return;
    }
    let runs = bench_synflood("on");
    let ours = &runs[0];
    assert_99_percent(ours);
    // The flood's SYNs (tens of thousands a second) got cookies; the legitimate ACKs
    // carried valid ones back; no SYN was dropped.
    assert!(counter(ours, "syncookies_sent") > 10_000, "{ours}");
    assert!(counter(ours, "syncookies_recv") > 0, "{ours}");
    assert_eq!(counter(ours, "listen_drops"), 0, "{ours}");
}

#[test]
fn b_syn_flood_without_cookies_drops_and_counts_without_memory_growth() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the SYN flood lab test") {
        return;
    }
    let runs = bench_synflood("off");
    let ours = &runs[0];
    // The pruning of a crowded SYN queue is what lets legitimate SYNs in while the flood
    // lasts (without it: 288 of 300).
    assert_99_percent(ours);
    assert_eq!(counter(ours, "syncookies_sent"), 0, "{ours}");
    // The SYN queue was full within the first second: every further SYN was dropped and
    // counted, and the crowded queue shed its oldest half-open connections.
    assert!(counter(ours, "listen_drops") > 30_000, "{ours}");
    assert!(counter(ours, "syn_queue_pruned") > 0, "{ours}");
    // From then on nothing grows with the dropped SYNs. The slack is for fixed costs: the
    // legitimate connections' first chunk slab (2 MiB since the slabs are one huge page
    // each; with 256 KiB slabs, runs that dropped 72,000 and 170,000 SYNs grew alike, 0.9
    // MiB, and with 2 MiB ones 2.5 MiB after 329,000), 2 MiB of allocator pages, and the
    // connection table's second huge page: since a slot is 512 bytes, the first holds
    // 4,096 slots, a full SYN queue, and the legitimate connections beside it take slots
    // on the next (seen in `smaps`: the table's mapping from 2 to 4 MiB resident between
    // 6 and 8 s). What grows with the SYNs a run drops (hundreds of thousands) soon goes
    // beyond it.
    let slab_kib = (SLAB_CHUNKS * CHUNK_SIZE / 1024) as u64;
    let rss = |i: usize| ours["rss_kib"][i].as_u64().expect("rss");
    assert!(rss(2) <= rss(1) + slab_kib + 2 * 2048, "RSS grew under the flood: {ours}");
}

/// The bench's SYN-flood and raw-ceiling flags are checked before anything runs (no root
/// needed): one line on stderr and a non-zero exit.
#[test]
fn d_bench_synflood_flags_are_checked() {
    for (args, want) in [
        (&["--only", "synflood", "--synflood-cookies", "maybe"][..], "--synflood-cookies must be"),
        (&["--synflood-cookies", "on"][..], "--synflood-cookies needs --only synflood"),
        (&["--only", "rr64x1", "--synflood-cookies", "on"][..], "needs --only synflood"),
        (&["--only", "synfloood"][..], "--only: unknown workload 'synfloood'"),
        // The raw ceiling's repeats, checked the same way (bench_lab.rs runs them).
        (&["--ceiling-rounds", "0"][..], "--ceiling-rounds must be at least 1"),
        (&["--ceiling-rounds", "51"][..], "--ceiling-rounds must be at most 50"),
        (&["--only", "rr64x64", "--ceiling-rounds", "3"][..], "needs both rr64x64 and raw-xdp"),
    ] {
        let out = Command::new(XDPTCP).args(["bench", "lab"]).args(args).output().expect("runs");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
}

/// The field `name` of a `/proc/PID/sched` text (`se.slice` in nanoseconds, `policy`).
fn sched_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.split_whitespace().next() == Some(name))?;
    line.rsplit(':').next()?.trim().split('.').next()?.parse().ok()
}

/// `--sched` (what the connect-time tail of `b_` came from: the worker waiting for its core
/// behind other processes after each wake-up, docs/tcp-conformance.md) reaches the worker
/// thread of the real server: `slice:100` shows as its `se.slice` (kernels 6.12+), `fifo:10`
/// as policy 1 (SCHED_FIFO), and the ready line names it; the server still serves 20
/// sequential connect-and-echoes from Linux; with `--queues 2` every worker thread takes the
/// slice and the main thread does not. The connect times are printed, not asserted: they
/// depend on what else runs on the machine.
#[test]
fn c_sched_option_reaches_the_worker_thread() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    if !has_root("the --sched lab test") {
        return;
    }
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut v = release.split(|c: char| !c.is_ascii_digit()).map(|n| n.parse::<u32>().unwrap_or(0));
    let custom_slices = (v.next().unwrap_or(0), v.next().unwrap_or(0)) >= (6, 12);
    let lab = lab_up("c");
    for (flag, field, want) in [("slice:100", "se.slice", 100_000), ("fifo:10", "policy", 1)] {
        let args = ["serve", "echo", "--stack", "xdptcp", "--port", "7", "--cores", "1"];
        let args = [&args[..], &["--gateway", &lab.kernel_ip, "--sched", flag]].concat();
        let mut server = lab.xdptcp(&format!("sched-{flag}"), &args).start();
        server.wait_line("listening on ");
        let ready = server.log_text();
        assert!(ready.contains(&format!("sched {flag}")), "{ready}");
        let pid = server.pid().expect("running");
        let sched = std::fs::read_to_string(format!("/proc/{pid}/sched")).expect("/proc readable");
        if field != "se.slice" || custom_slices {
            assert_eq!(sched_field(&sched, field), Some(want), "{flag}: {sched}");
        }
        let target = format!("{}:7", lab.stack_ip);
        let hold =
            ["--conns", "20", "--in-flight", "1", "--hold-secs", "0", "--timeout-ms", "5000"];
        let mut client = lab.hold(&format!("sched-{flag}-client"), &target, &hold);
        assert!(client.wait_exit(Duration::from_secs(60)), "the client did not finish");
        let report = client.json_line("report ").expect("a report");
        assert_eq!(report["held"], 20, "{flag}: {report}");
        eprintln!(
            "--sched {flag}: connect p50 {} us, p99 {} us, max {} us",
            report["connect_p50_us"], report["connect_p99_us"], report["connect_max_us"]
        );
        if !server.stop(Duration::from_secs(20)) {
            server.fail("the server did not exit 0");
        }
    }
    drop(lab);
    if !custom_slices {
        return;
    }
    // The multi-queue runtime: each worker thread (`xdptcp-qN`) takes the slice, the main
    // thread keeps its own.
    let lab = Lab::up(format!("fm{}", std::process::id() % 100_000), &["--queues", "2"]);
    let args = ["serve", "echo", "--stack", "xdptcp", "--port", "7", "--queues", "2"];
    let args = [&args[..], &["--cores", "0,1", "--sched", "slice:150"]].concat();
    let mut server = lab.xdptcp("sched-mq", &args).start();
    server.wait_line("listening on ");
    let pid = server.pid().expect("running");
    let mut slices = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).expect("/proc readable") {
        let dir = task.expect("task").path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        let sched = std::fs::read_to_string(dir.join("sched")).unwrap_or_default();
        slices.push((comm.trim().to_string(), sched_field(&sched, "se.slice")));
    }
    slices.sort();
    let workers: Vec<_> = slices.iter().filter(|(c, _)| c.starts_with("xdptcp-q")).collect();
    assert_eq!(workers.len(), 2, "{slices:?}");
    assert!(workers.iter().all(|(_, s)| *s == Some(150_000)), "{slices:?}");
    assert!(slices.iter().any(|(c, s)| c == "xdptcp" && *s != Some(150_000)), "{slices:?}");
    if !server.stop(Duration::from_secs(20)) {
        server.fail("the multi-queue server did not exit 0");
    }
}
