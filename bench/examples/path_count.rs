//! A fixed number of `tcp_path` round trips and bulk transfers, for counting instructions with
//! `perf stat -e instructions:u` where timing is too noisy (a shared 2-vCPU machine): the
//! count per operation is what a code change adds or removes, whatever else runs.
//!
//! `cargo run --release -p xdptcp-bench --example path_count -- rpc 200000`
//! `cargo run --release -p xdptcp-bench --example path_count -- bulk 100`
//! `rpc6` and `bulk6` are the same workloads over IPv6 (both stacks dual-stack, the
//! connection between their IPv6 addresses).
//! Subtract a run with 0 operations (setup only) to get the cost of the operations alone.

#[path = "../benches/common/mod.rs"]
#[allow(dead_code)]
mod common;

use common::Duo;
use std::hint::black_box;
use xdptcp_stack::iface::DeviceCaps;

fn main() {
    let mut args = std::env::args().skip(1);
    let what = args.next().unwrap_or_default();
    let Some(n) = args.next().and_then(|s| s.parse::<usize>().ok()) else {
        eprintln!("usage: path_count rpc|bulk|rpc6|bulk6 COUNT");
        std::process::exit(2);
    };
    let (workload, ipv6) = match what.strip_suffix('6') {
        Some(base) => (base, true),
        None => (what.as_str(), false),
    };
    let mut w = if ipv6 {
        Duo::connect6(DeviceCaps::ip(1500), 1 << 20, false)
    } else {
        Duo::connect(DeviceCaps::ip(1500), 1 << 20, false)
    };
    match workload {
        // One 64-byte request and response, Nagle off (tcp_path/rpc_64B).
        "rpc" => {
            w.c.tcp_set_nodelay(w.ch, true).unwrap();
            w.s.tcp_set_nodelay(w.sh, true).unwrap();
            let msg = [7u8; 64];
            let mut buf = [0u8; 256];
            for _ in 0..n {
                w.c.tcp_send(w.ch, &msg).unwrap();
                w.pump();
                let k = w.s.tcp_recv(w.sh, &mut buf).unwrap();
                w.s.tcp_send(w.sh, &buf[..k]).unwrap();
                w.pump();
                black_box(w.c.tcp_recv(w.ch, &mut buf).unwrap());
                w.drain();
            }
        }
        // 1 MiB in 1448-byte segments, both stacks (tcp_path/bulk_1MiB).
        "bulk" => {
            const TOTAL: usize = 1 << 20;
            let chunk = vec![0x33u8; 64 * 1024];
            let mut sink = vec![0u8; 64 * 1024];
            for _ in 0..n {
                let (mut sent, mut got) = (0, 0);
                while got < TOTAL {
                    while sent < TOTAL {
                        let k = w.c.tcp_send(w.ch, &chunk[..(TOTAL - sent).min(chunk.len())]);
                        match k.unwrap() {
                            0 => break,
                            k => sent += k,
                        }
                    }
                    w.pump();
                    while let Ok(k @ 1..) = w.s.tcp_recv(w.sh, &mut sink) {
                        got += k;
                    }
                    w.drain();
                }
            }
        }
        _ => {
            eprintln!("path_count: unknown workload {what:?} (expected rpc, bulk, rpc6 or bulk6)");
            std::process::exit(2);
        }
    }
    if std::env::var_os("PATH_COUNT_VERBOSE").is_some() {
        let (c, s) = (w.c.tcp_counters(), w.s.tcp_counters());
        eprintln!(
            "client out {} in {}; server out {} in {}",
            c.out_segs, c.in_segs, s.out_segs, s.in_segs
        );
    }
}
