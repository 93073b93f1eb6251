#![cfg(feature = "sim")]
//! Buffer auto-tuning over a long path: with Linux's `tcp_rmem`/`tcp_wmem` the receive window
//! grows with what the reader consumes per round trip and the send buffer with the congestion
//! window, so one bulk flow over a 10 ms round trip fills a 1 Gbit/s path, where a fixed
//! 128 KiB window caps it near 13 MB/s. Both arrive byte-exact.

use std::net::Ipv4Addr;

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::StackEvent;
use xdptcp_stack::tcp::{State, TcpConfig};
use xdptcp_stack::time::Duration;

const BYTES: usize = 12 << 20;
const PORT: u16 = 5001;

/// What one transfer showed.
struct Run {
    elapsed: Duration,
    peak_rcvbuf: usize,
    peak_sndbuf: usize,
    window_scale: Option<(u8, u8)>,
    peak_chunks: u64,
}

fn pattern(i: usize) -> u8 {
    (i ^ (i >> 8) ^ (i >> 17)) as u8
}

/// Sends `BYTES` (12 MiB) from A to B over a 5 ms one-way, 1 Gbit/s link with `tcp` on both ends; B
/// reads as data arrives.
fn transfer(tcp: TcpConfig) -> Run {
    let mut a = side_config(Side::A, 1);
    let mut b = side_config(Side::B, 2);
    a.tcp = tcp;
    b.tcp = tcp;
    let link = LinkConfig {
        delay: Duration::from_millis(5),
        bandwidth_bps: 1_000_000_000,
        queue_bytes: 4 << 20,
        ..LinkConfig::default()
    };
    let mut p = Pair::new(a, b, link, 3);
    p.b.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 4).unwrap();
    let c = p.a.tcp_connect(p.now, ADDR_B, PORT).unwrap();
    let mut s = None;
    let (mut sent, mut got, mut bad) = (0usize, 0usize, 0usize);
    let mut run = Run {
        elapsed: Duration::ZERO,
        peak_rcvbuf: 0,
        peak_sndbuf: 0,
        window_scale: None,
        peak_chunks: 0,
    };
    let mut block = vec![0u8; 64 * 1024];
    let start = p.now;
    let done = p.drive(start + Duration::from_secs(60), |p| {
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                s = p.b.tcp_accept(l);
            }
        }
        while p.a.poll_event().is_some() {}
        if p.a.tcp_state(c) == State::Established {
            while sent < BYTES {
                let n = block.len().min(BYTES - sent);
                for (i, x) in block[..n].iter_mut().enumerate() {
                    *x = pattern(sent + i);
                }
                let k = p.a.tcp_send(c, &block[..n]).unwrap();
                sent += k;
                if k < n {
                    break;
                }
            }
            run.peak_sndbuf = run.peak_sndbuf.max(p.a.tcp_buffers(c).unwrap().0);
        }
        if let Some(h) = s {
            while let Ok(n @ 1..) = p.b.tcp_read(h, |x, y| {
                for &v in x.iter().chain(y) {
                    bad += usize::from(v != pattern(got));
                    got += 1;
                }
                x.len() + y.len()
            }) {
                let _ = n;
            }
            run.peak_rcvbuf = run.peak_rcvbuf.max(p.b.tcp_buffers(h).unwrap().1);
            run.window_scale = p.b.tcp_info(h).unwrap().window_scale;
        }
        run.peak_chunks = run.peak_chunks.max(p.b.memory_counters().chunks_peak);
        got == BYTES
    });
    assert!(done, "{got} of {BYTES} bytes in 60 s");
    assert_eq!(bad, 0, "byte-exact");
    run.elapsed = p.now.saturating_duration_since(start);
    run
}

#[test]
fn auto_tuning_fills_a_long_fat_path_where_a_fixed_window_cannot() {
    let tuned = transfer(TcpConfig::default());
    let fixed = transfer(TcpConfig::default().with_fixed_buffers(128 << 10, 128 << 10));
    let rate = |r: &Run| BYTES as f64 / (r.elapsed.total_nanos() as f64 / 1e9) / 1e6;
    println!(
        "12 MiB over 10 ms RTT at 1 Gbit/s: auto-tuned {:.1} MB/s in {:?} (rcvbuf up to {} B, \
         sndbuf up to {} B, scale {:?}, {} chunks at peak); fixed 128 KiB {:.1} MB/s in {:?}",
        rate(&tuned),
        tuned.elapsed,
        tuned.peak_rcvbuf,
        tuned.peak_sndbuf,
        tuned.window_scale,
        tuned.peak_chunks,
        rate(&fixed),
        fixed.elapsed,
    );
    // Linux 6.18's window scale for tcp_rmem[2] = 32 MiB, and the fixed buffer's own.
    assert_eq!(tuned.window_scale, Some((10, 10)));
    assert_eq!(fixed.window_scale, Some((2, 2)));
    // The fixed window holds the flow near 128 KiB per round trip; auto-tuning grows both
    // buffers past the path's 1.25 MB bandwidth-delay product, within their maxima.
    assert!(rate(&fixed) < 14.0, "{}", rate(&fixed));
    assert!(
        tuned.peak_rcvbuf > 1_250_000 && tuned.peak_rcvbuf <= 32 << 20,
        "{}",
        tuned.peak_rcvbuf
    );
    assert!(tuned.peak_sndbuf > 1_250_000 && tuned.peak_sndbuf <= 4 << 20, "{}", tuned.peak_sndbuf);
    assert!(rate(&tuned) > 4.0 * rate(&fixed), "{} vs {}", rate(&tuned), rate(&fixed));
}
