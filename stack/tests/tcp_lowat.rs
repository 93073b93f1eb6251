//! `TCP_NOTSENT_LOWAT` (`tcp::lowat`): how much a write queues, and when the connection polls
//! writable, as Linux's `tcp_sendmsg` and `tcp_poll` decide it.

mod common;

use common::*;
use xdptcp_stack::tcp::{BufferSizes, Flags, TcpConfig};

/// A client whose peer's largest window is 2000 bytes (size goal 1000: half of it, whole
/// segments of 100) and that may send 10 segments at once.
fn client_with_lowat(lowat: u32) -> xdptcp_stack::tcp::Endpoint {
    let cfg =
        TcpConfig { wmem: BufferSizes::fixed(64 * 1024), notsent_lowat: lowat, ..plain_config() };
    let mut c = client(cfg);
    // The peer opens its window to 2000.
    rx(&mut c, ms(20), &seg(IRS + 1, Some(ISS + 1), Flags::ACK).with_window(2000));
    c
}

#[test]
fn a_write_stops_one_size_goal_past_the_limit_and_poll_waits_for_half_of_it() {
    let mut c = client_with_lowat(400);
    let data = vec![7u8; 10_000];
    // Ten segments may go (1000 bytes); the first buffer's remainder is topped up to the goal
    // (1000) without a check; the next buffer would start over the limit: 2000.
    assert_eq!(c.send(&data), 2000);
    assert_eq!(c.notsent_bytes(), 2000);
    assert!(!c.writable(c.pool()));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 10);
    assert_eq!(c.notsent_bytes(), 1000);
    assert!(!c.writable(c.pool()), "1000 unsent: not under half the limit");
    assert_eq!(c.send(&data), 0, "over the limit: nothing more");
    // The peer acknowledges everything: slow start lets the rest go at once.
    rx(&mut c, ms(30), &seg(IRS + 1, Some(ISS + 1001), Flags::ACK).with_window(2000));
    assert_eq!(tx_all(&mut c, ms(30)).len(), 10);
    assert_eq!(c.notsent_bytes(), 0);
    assert!(c.writable(c.pool()));
}

#[test]
fn without_a_limit_only_the_send_buffer_counts() {
    let mut c = client_with_lowat(u32::MAX);
    assert_eq!(c.send(&vec![7u8; 100_000]), 64 * 1024);
    assert!(!c.writable(c.pool()), "a full send buffer");
    let mut c = client_with_lowat(u32::MAX);
    assert_eq!(c.send(&vec![7u8; 10_000]), 10_000);
    assert!(c.writable(c.pool()), "10,000 unsent, no limit");
}
