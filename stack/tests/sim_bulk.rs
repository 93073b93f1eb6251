#![cfg(feature = "sim")]
//! Bulk transfers both ways at once over impaired links: every byte arrives exactly once, in
//! order, and both ends close normally.

use proptest::prelude::*;
use xdptcp_stack::sim::*;
use xdptcp_stack::time::Duration;

fn impaired(loss: f64, reorder: f64, duplicate: f64, corrupt: f64) -> LinkConfig {
    LinkConfig {
        delay: Duration::from_millis(5),
        bandwidth_bps: 100_000_000,
        queue_bytes: 128 * 1024,
        loss,
        reorder,
        reorder_delay: Duration::from_millis(10),
        duplicate,
        corrupt,
    }
}

/// Virtual time is free: the limit only has to cover long exponential back-offs after runs of
/// losses (an inflated RTT sample can push the RTO towards its 120 s cap).
fn run(a_to_b: usize, b_to_a: usize, link: LinkConfig, seed: u64) -> (BulkReport, Pair) {
    let mut p = Pair::with_link(link, seed);
    let r = bulk_transfer(&mut p, a_to_b, b_to_a, seed, Duration::from_secs(6 * 3600));
    (r, p)
}

#[test]
fn ten_percent_loss_both_ways() {
    let (r, p) = run(300_000, 300_000, impaired(0.10, 0.0, 0.0, 0.0), 11);
    assert!(r.is_clean(300_000, 300_000), "{r:?}");
    assert!(p.a_to_b.stats().impaired.dropped > 10);
    assert!(p.a.tcp_counters().retrans_segs > 0);
}

#[test]
fn reordering_duplication_and_corruption() {
    let (r, p) = run(200_000, 150_000, impaired(0.02, 0.2, 0.05, 0.05), 12);
    assert!(r.is_clean(200_000, 150_000), "{r:?}");
    let s = p.a_to_b.stats();
    assert!(
        s.impaired.reordered > 0 && s.impaired.duplicated > 0 && s.impaired.corrupted > 0,
        "{s:?}"
    );
    // Every corrupted frame was caught by a checksum (IPv4 or TCP) or by a MAC/length check.
    let rx = p.b.iface().counters();
    assert!(
        p.b.tcp_counters().in_errs + rx.by_name("rx_bad_ipv4_checksum").unwrap_or(0) > 0,
        "{rx:?}"
    );
}

#[test]
fn megabyte_over_twenty_percent_loss() {
    let (r, _) = run(1 << 20, 64 * 1024, impaired(0.20, 0.05, 0.02, 0.02), 13);
    assert!(r.is_clean(1 << 20, 64 * 1024), "{r:?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 32, ..ProptestConfig::default() })]

    #[test]
    fn random_sizes_and_impairments(
        seed in any::<u64>(),
        a_to_b in 0usize..(1 << 20),
        b_to_a in 0usize..(256 * 1024),
        // Loss and corruption together stay within 20% (a corrupted frame is a lost one).
        loss in 0.0f64..0.15,
        reorder in 0.0f64..0.3,
        duplicate in 0.0f64..0.1,
        corrupt in 0.0f64..0.05,
    ) {
        let (r, p) = run(a_to_b, b_to_a, impaired(loss, reorder, duplicate, corrupt), seed);
        prop_assert!(r.is_clean(a_to_b, b_to_a), "{:?}", r);
        prop_assert_eq!(p.a.connection_count(), 0);
        prop_assert_eq!(p.b.connection_count(), 0);
    }
}

#[test]
fn slow_link_with_a_small_queue_tail_drops_and_recovers() {
    // 10 Mbit/s with a 16 KiB queue: the sender's bursts overflow it.
    let link = LinkConfig {
        delay: Duration::from_millis(10),
        bandwidth_bps: 10_000_000,
        queue_bytes: 16 * 1024,
        ..LinkConfig::default()
    };
    let (r, p) = run(400_000, 50_000, link, 21);
    assert!(r.is_clean(400_000, 50_000), "{r:?}");
    assert!(p.a_to_b.stats().queue_drops > 0, "{:?}", p.a_to_b.stats());
    // Serialisation alone takes 0.32 s for 400 kB at 10 Mbit/s.
    assert!(r.elapsed > Duration::from_millis(320));
}

#[test]
fn request_response_under_loss_and_reordering() {
    let link = LinkConfig { loss: 0.05, reorder: 0.1, ..impaired(0.0, 0.0, 0.0, 0.0) };
    let mut p = Pair::with_link(link, 31);
    let r = request_response(&mut p, 200, 300, 3000, Duration::from_secs(3600));
    assert_eq!(r.completed, 200, "{r:?}");
    assert_eq!(r.mismatches, 0);
    assert!(p.a_to_b.stats().impaired.dropped + p.b_to_a.stats().impaired.dropped > 0);
}

#[test]
fn long_transfer_keeps_arp_entry_confirmed() {
    // 1 Mbit/s for 18 MB: about 150 s, more than twice the 60 s ARP entry lifetime.
    // Acknowledged data confirms the neighbour, so the sender never has to ask again.
    let link = LinkConfig { bandwidth_bps: 1_000_000, ..LinkConfig::default() };
    let (r, p) = run(18_000_000, 0, link, 41);
    assert!(r.is_clean(18_000_000, 0), "{r:?}");
    assert!(r.elapsed > Duration::from_secs(140));
    assert_eq!(p.a.iface().counters().arp_requests_sent, 1);
}
