//! Hostile peers (docs/tcp-conformance.md "Hostile peers"): a peer that stops half-way through
//! a close cannot hold a connection forever.

mod common;

use common::*;
use xdptcp_stack::tcp::{Flags, State, TcpConfig};
use xdptcp_stack::time::Duration;

/// Our FIN goes out and the peer acknowledges it, but never sends its own.
fn fin_acked_by_silent_peer(close: bool) -> xdptcp_stack::tcp::Endpoint {
    let mut c = client(TcpConfig::default());
    if close {
        c.close();
    } else {
        c.shutdown_write();
    }
    let fin = tx(&mut c, ms(20)).expect("FIN");
    assert!(fin.flags.contains(Flags::FIN));
    rx(&mut c, ms(30), &seg(IRS + 1, Some(ISS + 2), Flags::ACK));
    assert_eq!(c.state(), State::FinWait2);
    c
}

/// Runs the connection's timers until `until`, returning what it sent.
fn run_timers(c: &mut xdptcp_stack::tcp::Endpoint, until: xdptcp_stack::time::Instant) -> Vec<Seg> {
    let mut sent = Vec::new();
    while let Some(t) = c.poll_timeout().filter(|&t| t <= until) {
        c.on_timeout(t);
        sent.extend(tx_all(c, t));
    }
    sent
}

#[test]
fn orphaned_fin_wait2_is_reset_after_fin_timeout() {
    let mut c = fin_acked_by_silent_peer(true);
    let fin_timeout = TcpConfig::default().fin_timeout;
    assert_eq!(fin_timeout, Duration::from_secs(60), "Linux tcp_fin_timeout");
    let sent = run_timers(&mut c, ms(30) + fin_timeout - Duration::from_millis(1));
    assert!(sent.is_empty(), "nothing before the timeout: {sent:?}");
    assert_eq!(c.state(), State::FinWait2);
    let sent = run_timers(&mut c, ms(30) + fin_timeout);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].flags.contains(Flags::RST));
    assert_eq!(sent[0].seq, s(ISS + 2));
    assert!(c.is_closed());
    assert_eq!(c.counters().fin_wait2_timeouts, 1);
}

#[test]
fn fin_wait2_of_a_reading_application_waits_for_the_peer() {
    // After shutdown_write only, the application may still read what the peer sends: the
    // connection waits as long as the peer keeps it open (Linux arms the timer on orphans).
    let mut c = fin_acked_by_silent_peer(false);
    let week = Duration::from_secs(7 * 24 * 3600);
    run_timers(&mut c, ms(30) + week);
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.counters().fin_wait2_timeouts, 0);
    // Closing it then starts the wait (counted from the last segment received).
    c.close();
    run_timers(&mut c, ms(30) + week + Duration::from_secs(1));
    assert!(c.is_closed());
    assert_eq!(c.counters().fin_wait2_timeouts, 1);
}

#[test]
fn peer_fin_within_the_timeout_ends_in_time_wait() {
    let mut c = fin_acked_by_silent_peer(true);
    run_timers(&mut c, ms(30) + Duration::from_secs(59));
    rx(&mut c, ms(59_500), &seg(IRS + 1, Some(ISS + 2), Flags::FIN | Flags::ACK));
    assert_eq!(c.state(), State::TimeWait);
    run_timers(&mut c, ms(30) + Duration::from_secs(61));
    assert_eq!(c.state(), State::TimeWait, "TIME-WAIT runs its own 2·MSL");
    assert_eq!(c.counters().fin_wait2_timeouts, 0);
}

/// Linux `tcp_oow_rate_limited` (`TCPACKSkippedPAWS`): before, 100 empty segments with an
/// old timestamp drew 100 ACKs; now at most one per 500 ms goes out, and data still gets its
/// answer every time.
#[test]
fn acks_to_paws_rejected_segments_are_rate_limited() {
    let cfg = TcpConfig { timestamps: true, ..plain_config() };
    let mut c = xdptcp_stack::tcp::Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    let our_ts = syn.options.timestamps.expect("timestamps").0;
    let synack = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(50_000, our_ts);
    rx(&mut c, ms(10), &synack);
    tx_all(&mut c, ms(10));
    // 100 empty segments stamped far in the past (not a reordered duplicate ACK).
    let old = seg(IRS + 1, Some(ISS + 1), Flags::ACK).with_ts(1, our_ts);
    let mut acks = 0;
    for i in 0..100u64 {
        rx(&mut c, ms(20 + i), &old);
        acks += tx_all(&mut c, ms(20 + i)).len();
    }
    assert!(acks <= 1, "{acks} ACKs for 100 PAWS-rejected segments in 100 ms");
    assert_eq!(c.counters().paws_drops, 100);
    assert!(c.counters().oow_acks_limited >= 99);
    // Old data is answered each time (the peer may be stuck retransmitting it).
    let old_data = seg(IRS + 1, Some(ISS + 1), Flags::ACK).with_ts(1, our_ts).with_payload(b"x");
    rx(&mut c, ms(200), &old_data);
    assert_eq!(tx_all(&mut c, ms(200)).len(), 1);
}

/// A peer that sends a second FIN after its first (at the next sequence number) no longer
/// moves RCV.NXT or raises a second `PeerClosed` (it did before; Linux ignores it).
#[test]
fn a_second_fin_moves_nothing() {
    let mut c = client(TcpConfig::default());
    rx(&mut c, ms(20), &seg(IRS + 1, Some(ISS + 1), Flags::FIN));
    assert_eq!(c.state(), State::CloseWait);
    let ack = tx(&mut c, ms(20)).expect("ACK of the FIN");
    assert_eq!(ack.ack, Some(s(IRS + 2)));
    events(&mut c);
    rx(&mut c, ms(30), &seg(IRS + 2, Some(ISS + 1), Flags::FIN));
    assert_eq!(c.state(), State::CloseWait);
    let again = tx(&mut c, ms(30)).expect("ACK");
    assert_eq!(again.ack, Some(s(IRS + 2)), "RCV.NXT stays after the first FIN");
    assert!(events(&mut c).is_empty(), "no second PeerClosed");
}

/// Linux `TCPAbortOnData`: data that arrives after the application closed the connection is
/// answered with a RST (nobody will read it), in FIN-WAIT-1 and in FIN-WAIT-2; after
/// `shutdown_write` alone the application still reads, and the data is delivered.
#[test]
fn data_after_close_resets_the_connection() {
    // FIN-WAIT-2: our FIN was acknowledged, then the peer sends data.
    let mut c = fin_acked_by_silent_peer(true);
    rx(&mut c, ms(40), &seg(IRS + 1, Some(ISS + 2), Flags::PSH).with_payload(b"late"));
    let sent = tx_all(&mut c, ms(40));
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].flags.contains(Flags::RST));
    assert_eq!(sent[0].seq, s(ISS + 2));
    assert!(c.is_closed());
    assert_eq!(c.counters().abort_on_data, 1);

    // FIN-WAIT-1: the data arrives before the ACK of our FIN.
    let mut c = client(TcpConfig::default());
    c.close();
    assert!(tx(&mut c, ms(20)).expect("FIN").flags.contains(Flags::FIN));
    assert_eq!(c.state(), State::FinWait1);
    rx(&mut c, ms(30), &seg(IRS + 1, Some(ISS + 1), Flags::PSH).with_payload(b"late"));
    assert!(tx_all(&mut c, ms(30)).iter().any(|o| o.flags.contains(Flags::RST)));
    assert!(c.is_closed());
    assert_eq!(c.counters().abort_on_data, 1);

    // Half-closed for writing only: the application still reads.
    let mut c = fin_acked_by_silent_peer(false);
    rx(&mut c, ms(40), &seg(IRS + 1, Some(ISS + 2), Flags::PSH).with_payload(b"more"));
    assert_eq!(read_all(&mut c), b"more");
    assert!(tx_all(&mut c, ms(40)).iter().all(|o| !o.flags.contains(Flags::RST)));
    assert_eq!(c.state(), State::FinWait2);
    assert_eq!(c.counters().abort_on_data, 0);
}
