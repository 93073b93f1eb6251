#![cfg(feature = "sim")]
//! F-RTO (RFC 5682) in the simulator: a delay spike that fires the retransmission timer
//! without losing anything is found spurious and undone, and new data, not a go-back of the
//! whole window, follows the timeout.

use xdptcp_stack::sim::*;
use xdptcp_stack::time::{Duration, Instant};

const BASE: Duration = Duration::from_millis(10);
const TOTAL: usize = 300_000;

/// A sends `TOTAL` bytes to B over 10 ms links; B reads everything. From `freeze_at` for
/// `freeze` the B→A direction holds every frame and delivers them afterwards in order (a
/// spike of the ACK path's delay; nothing is lost). Returns the pair and A's connection.
fn transfer_with_ack_spike(freeze_at: Duration, freeze: Duration) -> (Pair, TcpHandleOf) {
    let link = LinkConfig {
        delay: BASE,
        bandwidth_bps: 100_000_000,
        queue_bytes: 1 << 20,
        ..LinkConfig::default()
    };
    let mut p = Pair::with_link(link, 7);
    let (a, b, _) = establish(&mut p, 5001, Duration::from_secs(5)).expect("established");
    let start = p.now;
    let (fs, fe): (Instant, Instant) = (start + freeze_at, start + freeze_at + freeze);
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0usize, 0usize);
    let mut buf = vec![0u8; 65536];
    let mut frozen = false;
    let done = p.drive(start + Duration::from_secs(60), |p| {
        // Frames sent during the freeze all arrive after it, in the order they were sent.
        if !frozen && p.now >= fs && p.now < fe {
            frozen = true;
            let c = LinkConfig { delay: BASE + (fe - p.now), ..*p.b_to_a.config() };
            p.b_to_a.set_config(c);
        } else if frozen && p.now >= fe {
            frozen = false;
            let c = LinkConfig { delay: BASE, ..*p.b_to_a.config() };
            p.b_to_a.set_config(c);
        }
        while sent < TOTAL {
            match p.a.tcp_send(a, &data[sent..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        while let Ok(n) = p.b.tcp_recv(b, &mut buf) {
            if n == 0 {
                break;
            }
            assert_eq!(buf[..n], data[got..got + n], "bytes arrive in order");
            got += n;
        }
        got == TOTAL
    });
    assert!(done, "transfer finished: {got} of {TOTAL}");
    (p, a)
}

type TcpHandleOf = xdptcp_stack::stack::TcpHandle;

#[test]
fn a_delay_spike_timeout_is_spurious_and_undone() {
    let (p, a) = transfer_with_ack_spike(Duration::from_millis(60), Duration::from_millis(500));
    let c = p.a.tcp_counters();
    assert!(c.timeouts >= 1, "the spike fired the retransmission timer: {c:?}");
    assert_eq!(c.spurious_rtos, 1, "F-RTO found the timeout spurious: {c:?}");
    // The probe and the timeout's one retransmission; no go-back of the window.
    assert!(c.retrans_segs <= 2, "{} retransmissions", c.retrans_segs);
    let info = p.a.tcp_info(a).unwrap();
    assert_eq!(info.ssthresh, usize::MAX, "the threshold is restored (never a loss)");
}

#[test]
fn a_lost_window_is_not_undone() {
    // The same transfer, but the spike is an outage: everything A sends for 300 ms is lost.
    let link = LinkConfig {
        delay: BASE,
        bandwidth_bps: 100_000_000,
        queue_bytes: 1 << 20,
        ..LinkConfig::default()
    };
    let mut p = Pair::with_link(link, 8);
    let (a, b, _) = establish(&mut p, 5001, Duration::from_secs(5)).expect("established");
    let start = p.now;
    let data: Vec<u8> = (0..TOTAL).map(|i| (i % 251) as u8).collect();
    let (mut sent, mut got) = (0usize, 0usize);
    let mut buf = vec![0u8; 65536];
    let (fs, fe) = (start + Duration::from_millis(60), start + Duration::from_millis(360));
    let mut dropping = false;
    let done = p.drive(start + Duration::from_secs(60), |p| {
        let want = p.now >= fs && p.now < fe;
        if want != dropping {
            dropping = want;
            let loss = if want { 1.0 } else { 0.0 };
            let c = LinkConfig { loss, ..*p.a_to_b.config() };
            p.a_to_b.set_config(c);
        }
        while sent < TOTAL {
            match p.a.tcp_send(a, &data[sent..]) {
                Ok(0) | Err(_) => break,
                Ok(n) => sent += n,
            }
        }
        while let Ok(n) = p.b.tcp_recv(b, &mut buf) {
            if n == 0 {
                break;
            }
            assert_eq!(buf[..n], data[got..got + n]);
            got += n;
        }
        got == TOTAL
    });
    assert!(done, "transfer finished: {got} of {TOTAL}");
    let c = p.a.tcp_counters();
    assert!(c.timeouts >= 1, "{c:?}");
    assert_eq!(c.spurious_rtos, 0, "a real loss is not undone: {c:?}");
    assert!(p.a.tcp_info(a).unwrap().ssthresh < usize::MAX);
}
