#![cfg(feature = "sim")]
//! The simplest end-to-end runs: a clean link, both directions, request/response.

use xdptcp_stack::sim::*;
use xdptcp_stack::time::Duration;

#[test]
fn bulk_both_ways_clean_link() {
    let mut p = Pair::with_link(LinkConfig::default(), 1);
    let r = bulk_transfer(&mut p, 200_000, 100_000, 7, Duration::from_secs(300));
    assert!(r.is_clean(200_000, 100_000), "{r:?}");
    eprintln!("{:?} {:?} {:?}", r.elapsed, p.a.tcp_counters(), p.a_to_b.stats());
    assert_eq!(p.a.connection_count(), 0);
    assert_eq!(p.b.connection_count(), 0);
    assert_eq!(p.a.tcp_counters().curr_estab, 0);
    assert!(p.a.tcp_counters().out_segs > 100);
}

#[test]
fn request_response_clean_link() {
    let mut p = Pair::with_link(LinkConfig::default(), 2);
    let r = request_response(&mut p, 50, 100, 1000, Duration::from_secs(300));
    assert_eq!(r.completed, 50, "{r:?}");
    assert_eq!(r.mismatches, 0);
}
