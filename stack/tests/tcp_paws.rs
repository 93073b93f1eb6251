//! PAWS (RFC 7323 §5.3) and its one exception, taken from Linux `tcp_disordered_ack`: a pure
//! duplicate ACK that was only reordered behind newer segments is processed although its
//! timestamp is older than `TS.Recent`. Each test reads as the segments that go in and out of
//! one connection, like `tcp_trace.rs`.

mod common;

use common::*;
use xdptcp_stack::tcp::{CongestionAlgorithm, Endpoint, Flags, SegmentVerdict, State, TcpConfig};

const A: Flags = Flags::ACK;

/// The peer's timestamp on its SYN-ACK; it ticks one per millisecond of our virtual clock.
const PEER_TS0: u32 = 1000;

/// The peer's TSval at virtual time `t` ms.
fn peer_ts(t: u64) -> u32 {
    PEER_TS0 + t as u32
}

/// An established client with timestamps and NewReno, several segments of data in flight and
/// `SND.WL1 = RCV.NXT` (a first pure ACK at 15 ms took the window). Returns the connection and
/// our TSval for the peer to echo.
fn sender_in_flight() -> (Endpoint, u32) {
    let cfg =
        TcpConfig { timestamps: true, congestion: CongestionAlgorithm::NewReno, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    let our_ts = syn.options.timestamps.expect("timestamps offered").0;
    let mut synack = seg(IRS, Some(ISS + 1), Flags::SYN).with_ts(peer_ts(0), our_ts);
    synack.options.mss = Some(100);
    assert_eq!(c.on_segment(ms(10), &synack.as_segment()), SegmentVerdict::Accepted);
    assert_eq!(c.state(), State::Established);
    tx_all(&mut c, ms(10));
    // The SYN-ACK set SND.WL1 = IRS; this first ACK at RCV.NXT moves it to IRS + 1.
    assert_eq!(rx(&mut c, ms(15), &pure_ack(ISS + 1, 15, our_ts)), SegmentVerdict::Accepted);
    assert_eq!(c.send(&[7u8; 500]), 500);
    let flight = tx_all(&mut c, ms(20)).len();
    assert!(flight >= 4, "enough in flight for three duplicate ACKs: {flight}");
    events(&mut c);
    (c, our_ts)
}

/// The peer's pure ACK at `RCV.NXT` with its TSval of time `t` ms and the same window (1000)
/// it has advertised all along.
fn pure_ack(ack: u32, t: u64, our_ts: u32) -> Seg {
    seg(IRS + 1, Some(ack), A).with_ts(peer_ts(t), our_ts)
}

/// Our RTO in the peer's (millisecond) timestamp ticks.
fn rto_ticks(c: &Endpoint) -> u32 {
    c.info().rto.total_millis() as u32
}

#[test]
fn reordered_duplicate_ack_is_processed_and_triggers_fast_retransmit() {
    let (mut c, our_ts) = sender_in_flight();
    // The peer sent three duplicate ACKs at 29, 30 and 31 ms; the first arrives last.
    assert_eq!(rx(&mut c, ms(40), &pure_ack(ISS + 1, 30, our_ts)), SegmentVerdict::Accepted);
    assert!(tx_all(&mut c, ms(40)).is_empty());
    assert_eq!(rx(&mut c, ms(41), &pure_ack(ISS + 1, 31, our_ts)), SegmentVerdict::Accepted);
    assert!(tx_all(&mut c, ms(41)).is_empty());
    let late = pure_ack(ISS + 1, 29, our_ts);
    assert_eq!(rx(&mut c, ms(42), &late), SegmentVerdict::Accepted);
    // It counted as the third duplicate ACK: the first segment is resent at once.
    let out = tx_all(&mut c, ms(42));
    assert_eq!(out.len(), 1, "one fast retransmission: {out:?}");
    assert_eq!((out[0].seq, out[0].payload.len()), (s(ISS + 1), c.info().snd_mss));
    assert_eq!(c.counters().fast_retransmits, 1);
    assert!(c.info().in_recovery);
    assert_eq!(c.counters().paws_disordered_acks, 1);
    assert_eq!(c.counters().paws_drops, 0);
    // TS.Recent kept the newest timestamp: the retransmission echoes 31, not 29.
    assert_eq!(out[0].options.timestamps.map(|t| t.1), Some(peer_ts(31)));
}

#[test]
fn old_timestamp_on_data_or_fin_is_still_dropped() {
    let (mut c, our_ts) = sender_in_flight();
    assert_eq!(rx(&mut c, ms(40), &pure_ack(ISS + 1, 30, our_ts)), SegmentVerdict::Accepted);
    // Data at RCV.NXT, duplicate ACK, current window, timestamp one tick old: PAWS drops it.
    let data = pure_ack(ISS + 1, 29, our_ts).with_payload(b"old");
    assert_eq!(rx(&mut c, ms(41), &data), SegmentVerdict::Dropped);
    assert_eq!(c.recv_queue_len(), 0);
    assert_eq!(c.counters().paws_drops, 1);
    // The drop is answered with an ACK echoing TS.Recent; nothing is retransmitted.
    let out = tx_all(&mut c, ms(41));
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].ack, out[0].payload.len()), (Some(s(IRS + 1)), 0));
    assert_eq!(out[0].options.timestamps.map(|t| t.1), Some(peer_ts(30)));
    // Same for a FIN: it consumes sequence space, so it is not a bare ACK.
    let fin = pure_ack(ISS + 1, 29, our_ts).with_flags(Flags::FIN);
    assert_eq!(rx(&mut c, ms(42), &fin), SegmentVerdict::Dropped);
    assert_eq!(c.state(), State::Established);
    assert_eq!(c.counters().paws_drops, 2);
    assert_eq!(c.counters().paws_disordered_acks, 0);
}

#[test]
fn old_pure_ack_that_acks_new_data_or_is_too_old_is_still_dropped() {
    let (mut c, our_ts) = sender_in_flight();
    assert_eq!(rx(&mut c, ms(40), &pure_ack(ISS + 1, 30, our_ts)), SegmentVerdict::Accepted);
    let unacked = c.info().unacked;
    let mut drops = 0;
    let mut dropped = |c: &mut Endpoint, at: u64, x: &Seg, why: &str| {
        assert_eq!(rx(c, ms(at), x), SegmentVerdict::Dropped, "{why}");
        drops += 1;
        assert_eq!(c.counters().paws_drops, drops, "{why}");
        assert_eq!(c.counters().paws_disordered_acks, 0, "{why}");
        assert_eq!(c.info().unacked, unacked, "{why}: SND.UNA must not move");
        tx_all(c, ms(at));
    };
    // One tick old, but it acknowledges new data: not a duplicate.
    dropped(&mut c, 41, &pure_ack(ISS + 51, 29, our_ts), "advances SND.UNA");
    // A duplicate ACK, but the window it carries differs from the current one.
    dropped(&mut c, 42, &pure_ack(ISS + 1, 29, our_ts).with_window(900), "window update");
    // A duplicate ACK one tick further behind TS.Recent than one RTO.
    let rto = rto_ticks(&c);
    assert!(rto >= 200, "RTO floor is 200 ms: {rto}");
    let mut too_old = pure_ack(ISS + 1, 0, our_ts);
    too_old.options.timestamps = Some((peer_ts(30) - rto - 1, our_ts));
    dropped(&mut c, 44, &too_old, "older than one RTO");
    // Exactly one RTO behind is still tolerated: the bound is the RTO, not zero.
    let mut at_bound = too_old.clone();
    at_bound.options.timestamps = Some((peer_ts(30) - rto, our_ts));
    assert_eq!(rx(&mut c, ms(45), &at_bound), SegmentVerdict::Accepted);
    assert_eq!(c.counters().paws_disordered_acks, 1);
    assert_eq!(c.counters().paws_drops, 3);
    // Fresh data from the peer: RCV.NXT moves past SND.WL1 (which stays at the data's start).
    let fresh = pure_ack(ISS + 1, 32, our_ts).with_payload(b"abc");
    assert_eq!(rx(&mut c, ms(46), &fresh), SegmentVerdict::Accepted);
    tx_all(&mut c, ms(46));
    // A pure duplicate ACK sent before that data, at SEG.SEQ = SND.WL1 but behind RCV.NXT,
    // with the window it took: it is a stale segment, not a reordered current ACK.
    let stale = pure_ack(ISS + 1, 31, our_ts);
    assert_eq!(rx(&mut c, ms(47), &stale), SegmentVerdict::Dropped);
    assert_eq!(c.counters().paws_drops, 4, "SEG.SEQ before RCV.NXT");
    assert_eq!(c.counters().paws_disordered_acks, 1, "SEG.SEQ before RCV.NXT");
}

#[test]
fn counters_add_sums_tolerated_acks() {
    use xdptcp_stack::tcp::TcpCounters;
    let mut total = TcpCounters { paws_disordered_acks: 2, ..TcpCounters::default() };
    total.add(&TcpCounters { paws_disordered_acks: 3, paws_drops: 1, ..TcpCounters::default() });
    assert_eq!((total.paws_disordered_acks, total.paws_drops), (5, 1));
}
