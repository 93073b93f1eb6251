#![cfg(feature = "sim")]
//! F-RTO (RFC 5682) in the simulator: a delay spike that fires the retransmission timer
//! without losing anything is found spurious and undone, and new data, not a go-back of the
//! whole window, follows the timeout.

mod sim_transfer;

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::tcp::TcpConfig;
use xdptcp_stack::time::{Duration, Instant};

const BASE: Duration = Duration::from_millis(10);
const TOTAL: usize = 300_000;

/// A sends `TOTAL` bytes to B over 10 ms links (seed `seed`); B reads and checks everything.
/// `disturb` runs at every step first, to change the links. Returns the pair and A's
/// connection once B has it all.
fn transfer(seed: u64, mut disturb: impl FnMut(&mut Pair)) -> (Pair, TcpHandle) {
    sim_transfer::transfer(link(), seed, TOTAL, Duration::from_secs(60), |p, _| disturb(p))
}

/// [`transfer`] with A's TCP configured as `tcp`.
fn transfer_with(
    seed: u64,
    tcp: TcpConfig,
    mut disturb: impl FnMut(&mut Pair),
) -> (Pair, TcpHandle) {
    let mut a = side_config(Side::A, seed);
    a.tcp = tcp;
    let pair = Pair::new(a, side_config(Side::B, seed), link(), seed);
    sim_transfer::transfer_over(pair, TOTAL, Duration::from_secs(60), |p, _| disturb(p))
}

/// 10 ms, 100 Mbit/s, a 1 MiB queue.
fn link() -> LinkConfig {
    LinkConfig {
        delay: BASE,
        bandwidth_bps: 100_000_000,
        queue_bytes: 1 << 20,
        ..LinkConfig::default()
    }
}

/// From 60 ms into the transfer, for 500 ms, the B→A direction holds every frame and
/// delivers them afterwards in the order they were sent: a spike of the ACK path's delay
/// that fires A's retransmission timer (about 260 ms after the probe) and loses nothing.
fn ack_delay_spike() -> impl FnMut(&mut Pair) {
    let mut window = None::<(Instant, Instant)>;
    let mut frozen = false;
    move |p| {
        let (fs, fe) = *window
            .get_or_insert((p.now + Duration::from_millis(60), p.now + Duration::from_millis(560)));
        if !frozen && p.now >= fs && p.now < fe {
            frozen = true;
            // Every frame sent from now until `fe` arrives after it, in order.
            let c = LinkConfig { delay: BASE + (fe - p.now), ..*p.b_to_a.config() };
            p.b_to_a.set_config(c);
        } else if frozen && p.now >= fe {
            frozen = false;
            let c = LinkConfig { delay: BASE, ..*p.b_to_a.config() };
            p.b_to_a.set_config(c);
        }
    }
}

#[test]
fn a_delay_spike_timeout_is_spurious_and_undone() {
    let (p, a) = transfer(7, ack_delay_spike());
    let c = p.a.tcp_counters();
    assert!(c.timeouts >= 1, "the spike fired the retransmission timer: {c:?}");
    assert_eq!(c.spurious_rtos, 1, "F-RTO found the timeout spurious: {c:?}");
    // The timeout's one retransmission; no go-back of the window (before F-RTO: 80
    // retransmissions, 79 of them reported by DSACK, and ssthresh 81,088 bytes).
    assert!(c.retrans_segs <= 2, "{} retransmissions", c.retrans_segs);
    let info = p.a.tcp_info(a).unwrap();
    assert_eq!(info.ssthresh, usize::MAX, "the threshold is restored (never a loss)");
}

/// The same spike with F-RTO off (Linux `tcp_frto` = 0): the timeout is taken as real, its
/// window reduction stays and the whole window goes again, as before F-RTO.
#[test]
fn with_frto_off_a_spurious_timeout_stays() {
    let (p, a) = transfer_with(7, TcpConfig::default().with_frto(false), ack_delay_spike());
    let c = p.a.tcp_counters();
    assert!(c.timeouts >= 1, "the spike fired the retransmission timer: {c:?}");
    assert_eq!(c.spurious_rtos, 0, "F-RTO is off: nothing is undone: {c:?}");
    assert!(c.retrans_segs > 2, "go-back-N resent the window: {} retransmissions", c.retrans_segs);
    let info = p.a.tcp_info(a).unwrap();
    assert!(info.ssthresh < usize::MAX, "the timeout's reduction stays: {}", info.ssthresh);
}

/// The same transfer through an outage: everything A sends from 60 ms to 360 ms is lost.
/// The timeout is real and stays: F-RTO undoes nothing.
#[test]
fn a_lost_window_is_not_undone() {
    let mut window = None::<(Instant, Instant)>;
    let mut dropping = false;
    let (p, a) = transfer(8, |p| {
        let (fs, fe) = *window
            .get_or_insert((p.now + Duration::from_millis(60), p.now + Duration::from_millis(360)));
        let want = p.now >= fs && p.now < fe;
        if want != dropping {
            dropping = want;
            let c = LinkConfig { loss: if want { 1.0 } else { 0.0 }, ..*p.a_to_b.config() };
            p.a_to_b.set_config(c);
        }
    });
    let c = p.a.tcp_counters();
    assert!(c.timeouts >= 1, "{c:?}");
    assert_eq!(c.spurious_rtos, 0, "a real loss is not undone: {c:?}");
    assert!(p.a.tcp_info(a).unwrap().ssthresh < usize::MAX);
}
