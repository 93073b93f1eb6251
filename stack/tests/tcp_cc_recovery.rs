//! Packet traces of loss recovery and congestion control: duplicate ACKs, limited transmit,
//! partial ACKs, SACK recovery, RACK-TLP, DSACK undo, ECN and pacing.

mod common;

use common::*;
use xdptcp_stack::tcp::{CongestionAlgorithm, Endpoint, Flags, IpEcn, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};

macro_rules! recv {
    ($c:expr, $now:expr, seq $seq:expr, len $len:expr) => {{
        let x = tx(&mut $c, $now).expect("expected a segment");
        assert_eq!((x.seq, x.payload.len()), (s($seq), $len), "segment mismatch: {:?}", x);
        x
    }};
}

macro_rules! recv_nothing {
    ($c:expr, $now:expr) => {{
        let x = tx(&mut $c, $now);
        assert!(x.is_none(), "unexpected segment {:?}", x);
    }};
}

const A: Flags = Flags::ACK;
const WIN: u16 = 4000;

fn reno() -> TcpConfig {
    TcpConfig { congestion: CongestionAlgorithm::NewReno, ..plain_config() }
}

/// An ACK from the peer with the large window used throughout.
fn ack(n: u32) -> Seg {
    seg(IRS + 1, Some(ISS + 1 + n), A).with_window(WIN)
}

/// An ACK of `n` bytes with SACK blocks given as byte offsets from our first data byte.
fn sack(n: u32, blocks: &[(u32, u32)]) -> Seg {
    let mut a = ack(n);
    for &(l, r) in blocks {
        a.options.sack_blocks.push(s(ISS + 1 + l), s(ISS + 1 + r));
    }
    a
}

/// An established client whose peer offered a 4000-byte window (MSS 100), optionally SACK.
fn open(cfg: TcpConfig) -> Endpoint {
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    tx_all(&mut c, ms(0));
    let mut sa = seg(IRS, Some(ISS + 1), Flags::SYN).with_window(WIN);
    sa.options.mss = Some(100);
    sa.options.sack_permitted = cfg.sack;
    if cfg.ecn {
        sa.flags |= Flags::ECE;
    }
    rx(&mut c, ms(10), &sa);
    tx_all(&mut c, ms(10));
    events(&mut c);
    c
}

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i % 251) as u8).collect()
}

/// Sends `n` bytes and returns the segments that went out at `now`.
fn send_data(c: &mut Endpoint, now: Instant, n: usize) -> Vec<Seg> {
    assert_eq!(c.send(&payload(n)), n);
    tx_all(c, now)
}

#[test]
fn three_dupacks_one_retransmission_exit_at_recovery_point() {
    let mut c = open(reno());
    // Initial window: 10 segments (RFC 6928).
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    for i in 0..2 {
        rx(&mut c, ms(30 + i), &ack(0));
        recv_nothing!(c, ms(30 + i)); // nothing new to send: limited transmit has no data
    }
    rx(&mut c, ms(32), &ack(0));
    let r = recv!(c, ms(32), seq ISS + 1, len 100);
    assert_eq!(r.payload, payload(100));
    recv_nothing!(c, ms(32));
    assert_eq!(c.counters().retrans_segs, 1, "exactly one retransmission");
    assert_eq!(c.counters().fast_retransmits, 1);
    assert!(c.info().in_recovery);
    // Without SACK and RACK there is no PRR (`Connection::send_window`): cwnd = ssthresh.
    assert_eq!((c.info().cwnd, c.info().ssthresh), (500, 500));
    // More duplicates do not retransmit again.
    for i in 0..3 {
        rx(&mut c, ms(33 + i), &ack(0));
        recv_nothing!(c, ms(33 + i));
    }
    assert_eq!(c.counters().retrans_segs, 1);
    // An ACK short of the recovery point (ISS + 1001) keeps recovery going ...
    rx(&mut c, ms(40), &ack(900));
    assert!(c.info().in_recovery);
    recv!(c, ms(40), seq ISS + 901, len 100);
    // ... and the one that reaches it ends recovery.
    rx(&mut c, ms(41), &ack(1000));
    assert!(!c.info().in_recovery);
    assert_eq!(c.info().cwnd, 200, "min(ssthresh, max(FlightSize, MSS) + MSS)");
    assert_eq!(c.counters().retrans_segs, 2);
}

#[test]
fn limited_transmit_sends_new_data_on_the_first_two_dupacks() {
    let mut c = open(reno());
    assert_eq!(send_data(&mut c, ms(20), 1500).len(), 10);
    rx(&mut c, ms(30), &ack(0));
    recv!(c, ms(30), seq ISS + 1001, len 100);
    recv_nothing!(c, ms(30));
    rx(&mut c, ms(31), &ack(0));
    recv!(c, ms(31), seq ISS + 1101, len 100);
    recv_nothing!(c, ms(31));
    assert_eq!(c.counters().retrans_segs, 0, "RFC 3042: new data, not a retransmission");
    rx(&mut c, ms(32), &ack(0));
    recv!(c, ms(32), seq ISS + 1, len 100);
    assert_eq!(c.counters().retrans_segs, 1);
}

#[test]
fn partial_acks_retransmit_the_next_hole() {
    let mut c = open(reno());
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    // Segments at 0 and 300 were lost: three duplicates for 0.
    for i in 0..3 {
        rx(&mut c, ms(30 + i), &ack(0));
    }
    recv!(c, ms(32), seq ISS + 1, len 100);
    recv_nothing!(c, ms(32));
    // The retransmission fills the first hole: partial ACK up to the second one.
    rx(&mut c, ms(45), &ack(300));
    recv!(c, ms(45), seq ISS + 301, len 100);
    recv_nothing!(c, ms(45));
    assert!(c.info().in_recovery);
    rx(&mut c, ms(55), &ack(1000));
    assert!(!c.info().in_recovery);
    assert_eq!(c.counters().retrans_segs, 2);
    assert_eq!(c.counters().timeouts, 0);
}

fn sack_config(rack: bool) -> TcpConfig {
    TcpConfig { sack: true, ..plain_config().with_rack(rack) }
}

#[test]
fn sack_recovery_retransmits_several_holes_in_one_round_trip() {
    for rack in [false, true] {
        let mut c = open(sack_config(rack));
        assert!(c.info().sack);
        assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
        // Holes at 100, 400 and 600; everything else arrived.
        rx(&mut c, ms(30), &sack(100, &[(700, 1000), (500, 600), (200, 400)]));
        let out = tx_all(&mut c, ms(30));
        let seqs: Vec<_> = out.iter().map(|x| x.seq).collect();
        assert_eq!(seqs, vec![s(ISS + 101), s(ISS + 401), s(ISS + 601)], "rack={rack}");
        assert_eq!(c.counters().sack_recoveries, 1);
        assert_eq!(c.info().lost, 300);
        assert_eq!(c.info().sacked, 600);
        // CUBIC: ssthresh = 0.7 of the 10-segment window.
        assert_eq!(c.info().ssthresh, 700);
        rx(&mut c, ms(40), &ack(1000));
        assert!(!c.info().in_recovery);
        assert_eq!(c.counters().retrans_segs, 3);
        assert_eq!(c.counters().timeouts, 0);
    }
}

#[test]
fn rack_waits_out_the_reordering_window_before_a_single_hole() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    // One segment above the hole at 0 is SACKed: fewer than DupThresh, so RACK waits a
    // quarter of the minimum RTT (10 ms / 4) beyond the RTT before calling it lost, due at
    // 32.5 ms; the timer fires 2 ms after that, as Linux's (`TCP_TIMEOUT_MIN_US`).
    rx(&mut c, ms(30), &sack(0, &[(100, 200)]));
    recv_nothing!(c, ms(30));
    let t = c.poll_timeout().expect("reordering timer");
    assert_eq!(t, Instant::from_micros(34_500));
    c.on_timeout(Instant::from_micros(34_499));
    recv_nothing!(c, Instant::from_micros(34_499));
    c.on_timeout(t);
    recv!(c, t, seq ISS + 1, len 100);
    assert_eq!(c.counters().sack_recoveries, 1);
}

#[test]
fn tail_loss_probe_recovers_a_tail_drop_without_rto() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    // The first half arrives; the last five segments are all lost.
    rx(&mut c, ms(30), &ack(500));
    assert_eq!(c.info().rtt, Some(Duration::from_millis(10)));
    // PTO = 2 SRTT = 20 ms after the ACK, well before the 200 ms RTO.
    let pto = c.poll_timeout().unwrap();
    assert_eq!(pto, ms(50));
    c.on_timeout(pto);
    assert_eq!(c.counters().tlp_probes, 1);
    // No new data: the probe resends the last segment.
    recv!(c, pto, seq ISS + 901, len 100);
    recv_nothing!(c, pto);
    // Its SACK lets RACK find the four segments before it lost. With nothing left in flight
    // PRR's slow-start bound (RFC 6937 §3, PRR-SSRB) lets one go for the one delivered ...
    rx(&mut c, ms(60), &sack(500, &[(900, 1000)]));
    recv!(c, ms(60), seq ISS + 501, len 100);
    recv_nothing!(c, ms(60));
    // ... then what each ACK delivers plus one segment when SND.UNA moves.
    rx(&mut c, ms(65), &sack(600, &[(900, 1000)]));
    recv!(c, ms(65), seq ISS + 601, len 100);
    recv!(c, ms(65), seq ISS + 701, len 100);
    recv_nothing!(c, ms(65));
    rx(&mut c, ms(66), &sack(800, &[(900, 1000)]));
    recv!(c, ms(66), seq ISS + 801, len 100);
    rx(&mut c, ms(70), &ack(1000));
    assert_eq!(c.counters().timeouts, 0, "recovered without a retransmission timeout");
    assert_eq!(c.poll_timeout(), None);
}

#[test]
fn probe_sends_new_data_when_there_is_some() {
    let mut c = open(sack_config(true));
    // 1000 bytes fill the window; 100 more wait behind it.
    send_data(&mut c, ms(20), 1100);
    rx(&mut c, ms(30), &ack(100));
    // The ACK opened the window for the waiting segment: it goes now.
    let out = tx_all(&mut c, ms(30));
    assert!(out.iter().any(|x| x.seq == s(ISS + 1001)));
    c.send(&payload(100));
    // The TLP fires with new data queued but no room in cwnd: the probe is new data.
    let pto = c.poll_timeout().unwrap();
    c.on_timeout(pto);
    let probe = tx(&mut c, pto).unwrap();
    assert_eq!(probe.seq, s(ISS + 1101), "a probe with new data");
    assert_eq!(c.counters().retrans_segs, 0);
    // One probe at a time: the next deadline is the retransmission timeout, not another PTO.
    let next = c.poll_timeout().unwrap();
    assert_eq!(next, pto + c.info().rto);
    c.on_timeout(next);
    assert_eq!(c.counters().tlp_probes, 1);
    assert_eq!(c.counters().timeouts, 1);
}

#[test]
fn dsack_marks_a_retransmission_spurious_and_undoes_the_reduction() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    let before = c.info().cwnd;
    // The first segment is delayed, not lost: the rest is SACKed, RACK retransmits it.
    rx(&mut c, ms(30), &sack(0, &[(100, 1000)]));
    recv!(c, ms(30), seq ISS + 1, len 100);
    assert!(c.info().cwnd < before);
    // The original arrives; then the retransmission shows up as a duplicate: DSACK.
    rx(&mut c, ms(35), &ack(1000));
    assert_eq!(c.counters().spurious_undos, 0);
    rx(&mut c, ms(40), &sack(1000, &[(0, 100)]));
    assert_eq!(c.counters().dsack_recv, 1);
    assert_eq!(c.counters().spurious_retrans, 1);
    assert_eq!(c.counters().spurious_undos, 1);
    assert_eq!(c.info().cwnd, before, "the reduction is undone");
}

/// Ten segments sent; the peer SACKs around two holes (`[0, 100)` and `[400, 500)`), both go
/// out again, and then everything is acknowledged: a recovery with two retransmissions.
fn two_holes_retransmitted_and_acknowledged() -> Endpoint {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    rx(&mut c, ms(30), &sack(0, &[(500, 1000), (100, 400)]));
    assert_eq!(tx_all(&mut c, ms(30)).len(), 2);
    rx(&mut c, ms(40), &ack(1000));
    c
}

#[test]
fn dsack_for_one_of_two_retransmissions_does_not_undo() {
    let mut c = two_holes_retransmitted_and_acknowledged();
    rx(&mut c, ms(41), &sack(1000, &[(0, 100)]));
    assert_eq!(c.counters().dsack_recv, 1);
    assert_eq!(c.counters().spurious_undos, 0, "one retransmission was needed");
}

/// Hostile peers: one forged DSACK block spanning everything below SND.UNA used to count as
/// ten needless retransmissions and undo a reduction that two real losses caused. Linux
/// counts a DSACK below SND.UNA as one.
#[test]
fn a_wide_forged_dsack_undoes_no_more_than_one_retransmission() {
    let mut c = two_holes_retransmitted_and_acknowledged();
    rx(&mut c, ms(41), &sack(1000, &[(0, 1000)]));
    assert_eq!(c.counters().dsack_recv, 1);
    assert_eq!(c.counters().spurious_undos, 0, "two retransmissions, one DSACK");
}

/// Hostile peers: a first block above SND.UNA counts as a DSACK only when a second block that
/// lies within what we sent contains it (Linux `tcp_is_sackblock_valid`); a forged second
/// block reaching past SND.MAX used to vouch for anything.
#[test]
fn a_dsack_vouched_for_by_a_forged_second_block_is_ignored() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    rx(&mut c, ms(30), &sack(0, &[(500, 600), (500, 50_000)]));
    assert_eq!(c.counters().dsack_recv, 0);
    // A genuine one (first inside a second that is within the flight) still counts.
    rx(&mut c, ms(31), &sack(0, &[(500, 600), (500, 1000)]));
    assert_eq!(c.counters().dsack_recv, 1);
}

#[test]
fn rto_marks_everything_lost_and_slow_starts() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 500);
    // Nothing comes back: the probe, then the timeout.
    let mut t = c.poll_timeout().unwrap();
    c.on_timeout(t);
    assert_eq!(tx_all(&mut c, t).len(), 1, "tail loss probe");
    t = c.poll_timeout().unwrap();
    c.on_timeout(t);
    assert_eq!(c.counters().timeouts, 1);
    assert_eq!(c.info().cwnd, 100);
    let out = tx_all(&mut c, t);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].seq, s(ISS + 1));
    // Slow start: each ACK releases two more retransmissions (with nothing new to send,
    // F-RTO falls back to them at once: RFC 5682 §3.1 step 2a).
    rx(&mut c, t + Duration::from_millis(10), &ack(100));
    let out = tx_all(&mut c, t + Duration::from_millis(10));
    assert_eq!(out.iter().map(|x| x.seq).collect::<Vec<_>>(), vec![s(ISS + 101), s(ISS + 201)]);
}

#[test]
fn ecn_negotiation_and_one_reduction_per_round_trip() {
    let cfg = TcpConfig { ecn: true, ..plain_config() };
    let mut c = Endpoint::connect(ms(0), cfg, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).unwrap();
    assert!(syn.flags.contains(Flags::SYN | Flags::ECE | Flags::CWR), "ECN-setup SYN");
    let mut c = open(cfg);
    assert!(c.info().ecn);
    c.send(&payload(1000));
    let t = c.poll_transmit(ms(20)).unwrap();
    assert!(t.ect, "new data is ECN-capable");
    tx_all(&mut c, ms(20));
    let before = c.info().cwnd;
    let ece = |n| ack(n).with_flags(Flags::ECE);
    rx(&mut c, ms(30), &ece(100));
    let once = c.info().cwnd;
    assert!(once < before);
    assert_eq!(c.counters().ecn_reductions, 1);
    rx(&mut c, ms(31), &ece(200));
    assert_eq!(c.counters().ecn_reductions, 1, "one reduction per window");
    // The next new data carries CWR.
    c.send(&payload(100));
    rx(&mut c, ms(32), &ack(600));
    let d = tx_all(&mut c, ms(32));
    assert!(d.iter().any(|x| x.flags.contains(Flags::CWR)));
    // Once the window at the reduction is acknowledged, a new echo reduces again.
    rx(&mut c, ms(45), &ece(1000));
    assert_eq!(c.counters().ecn_reductions, 1, "SND.MAX at the reduction not yet passed");
    rx(&mut c, ms(46), &ece(1100));
    assert_eq!(c.counters().ecn_reductions, 2);
    assert_eq!(c.counters().retrans_segs, 0);
}

#[test]
fn ecn_receiver_echoes_ce_until_cwr() {
    let cfg = TcpConfig { ecn: true, ..plain_config() };
    let mut c = open(cfg);
    let d = seg(IRS + 1, Some(ISS + 1), A).with_payload(b"x").with_window(WIN);
    c.on_segment_ecn(ms(20), &d.as_segment(), IpEcn::Ce);
    let a = tx(&mut c, ms(20)).unwrap();
    assert!(a.flags.contains(Flags::ECE));
    let d2 = seg(IRS + 2, Some(ISS + 1), A).with_payload(b"y").with_window(WIN);
    c.on_segment_ecn(ms(21), &d2.as_segment(), IpEcn::Ect0);
    c.on_timeout(ms(100));
    let a = tx(&mut c, ms(100)).unwrap();
    assert!(a.flags.contains(Flags::ECE), "still echoing");
    let d3 = seg(IRS + 3, Some(ISS + 1), A | Flags::CWR).with_payload(b"z").with_window(WIN);
    c.on_segment_ecn(ms(101), &d3.as_segment(), IpEcn::Ect0);
    c.on_timeout(ms(200));
    let a = tx(&mut c, ms(200)).unwrap();
    assert!(!a.flags.contains(Flags::ECE), "CWR ends the echo");
    // Without ECN negotiated, CE is ignored.
    let mut plain = open(plain_config());
    plain.on_segment_ecn(ms(20), &d.as_segment(), IpEcn::Ce);
    plain.on_timeout(ms(100));
    assert!(!tx(&mut plain, ms(100)).unwrap().flags.contains(Flags::ECE));
}

/// Linux's pacing (`tcp_update_skb_after_send`, the earliest departure time model): the first
/// ten data segments are not paced; after that each TSO packet leaves `len / rate` after the
/// previous one, rate = 2 x cwnd / SRTT in slow start, and the first packet after an idle
/// time takes up to half its interval off (the credit of the time since the last send).
#[test]
fn pacing_spaces_packets_from_the_tenth_segment_on() {
    let cfg = plain_config().with_pacing(true);
    let mut c = open(cfg);
    c.send(&payload(3000));
    assert_eq!(tx_all(&mut c, ms(20)).len(), 10, "the first ten segments are not paced");
    // cwnd 2000 bytes and SRTT 10 ms: 400 bytes per ms, so packets of three segments (what
    // that rate sends in 1/1024 s) 0.75 ms apart, the first after the idle time half that.
    rx(&mut c, ms(30), &ack(1000));
    let mut departures = Vec::new();
    let mut t = ms(30);
    while departures.len() < 12 {
        c.on_timeout(t);
        for x in tx_all(&mut c, t) {
            departures.push(((t - ms(30)).total_micros(), x.payload.len()));
        }
        t = c.poll_timeout().expect("paced data waits for a timer");
    }
    let micros: Vec<u64> = departures.iter().map(|&(us, _)| us).collect();
    let packets = [0, 0, 0, 375, 375, 375, 1125, 1125, 1125, 1875, 1875, 1875];
    assert_eq!(micros, packets, "{departures:?}");
    assert!(c.counters().paced_delays >= 4);
    // Without pacing the whole window goes at once.
    let mut c = open(plain_config());
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    rx(&mut c, ms(30), &ack(1000));
    assert_eq!(send_data(&mut c, ms(30), 2000).len(), 20);
}

#[test]
fn rack_falls_back_to_dupacks_when_the_peer_sends_no_sack_blocks() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    for i in 0..2 {
        rx(&mut c, ms(30 + i), &ack(0));
        recv_nothing!(c, ms(30 + i));
    }
    rx(&mut c, ms(32), &ack(0));
    recv!(c, ms(32), seq ISS + 1, len 100);
}

#[test]
fn sack_block_straddling_the_cumulative_ack_is_clipped() {
    let mut c = open(sack_config(true));
    send_data(&mut c, ms(20), 1000);
    // [50, 400) straddles SND.UNA = 100 after this ACK: 100..400 counts as SACKed.
    rx(&mut c, ms(30), &sack(100, &[(50, 400)]));
    assert_eq!(c.info().sacked, 300);
}

#[test]
fn receiver_reports_duplicates_with_dsack_once() {
    let mut c = open(sack_config(true));
    let d = seg(IRS + 1, Some(ISS + 1), A).with_payload(&payload(100)).with_window(WIN);
    rx(&mut c, ms(20), &d);
    c.on_timeout(ms(100));
    let a = tx(&mut c, ms(100)).unwrap();
    assert!(a.sack().is_empty());
    // The same segment again: acknowledged with a DSACK for it.
    rx(&mut c, ms(110), &d);
    let a = tx(&mut c, ms(110)).unwrap();
    assert_eq!(a.ack, Some(s(IRS + 101)));
    assert_eq!(a.sack(), vec![(s(IRS + 1), s(IRS + 101))]);
    // Only once.
    c.send(b"x");
    let next = tx(&mut c, ms(111)).unwrap();
    assert!(next.sack().is_empty());
    // Without SACK negotiated, no blocks at all.
    let mut plain = open(plain_config());
    rx(&mut plain, ms(20), &d);
    rx(&mut plain, ms(21), &d);
    assert!(tx_all(&mut plain, ms(21)).iter().all(|x| x.sack().is_empty()));
}

#[test]
fn passive_open_agrees_to_ecn_only_when_asked() {
    for (ours, theirs) in [(true, true), (true, false), (false, true)] {
        let cfg = TcpConfig { ecn: ours, ..plain_config() };
        let mut syn = seg(IRS, None, Flags::SYN);
        if theirs {
            syn.flags = syn.flags | Flags::ECE | Flags::CWR;
        }
        let mut c = Endpoint::accept_syn(ms(0), cfg, LOCAL, REMOTE, s(ISS), &syn.as_segment());
        let sa = tx(&mut c, ms(0)).unwrap();
        let agreed = ours && theirs;
        assert_eq!(sa.flags.contains(Flags::ECE), agreed, "ours={ours} theirs={theirs}");
        assert!(!sa.flags.contains(Flags::CWR), "a SYN-ACK never carries CWR");
        assert_eq!(c.info().ecn, agreed);
    }
}

#[test]
fn only_the_first_partial_ack_restarts_the_timer_without_sack() {
    let mut c = open(reno());
    send_data(&mut c, ms(20), 1000);
    for i in 0..3 {
        rx(&mut c, ms(30 + i), &ack(0));
    }
    recv!(c, ms(32), seq ISS + 1, len 100);
    rx(&mut c, ms(45), &ack(300));
    recv!(c, ms(45), seq ISS + 301, len 100);
    // RTO = SRTT + max(4·RTTVAR, 200 ms) = 10 + 200 ms (Linux's estimator), from 45 ms.
    assert_eq!(c.poll_timeout(), Some(ms(255)));
    // The second partial ACK retransmits the next hole but leaves the deadline alone
    // (RFC 6582 "Impatient"), so many holes end in a timeout instead of one RTT each.
    rx(&mut c, ms(60), &ack(600));
    recv!(c, ms(60), seq ISS + 601, len 100);
    assert_eq!(c.poll_timeout(), Some(ms(255)));
}

/// PRR (RFC 6937) as Linux runs it, in google's `prr-ss-ack-below-snd_una` sequence scaled to
/// an MSS of 100: holes at 0, 300-700; the pipe falls below ssthresh, so each ACK releases
/// what it delivered (plus one segment when SND.UNA moves), not all of cwnd - pipe at once.
#[test]
fn prr_releases_what_each_ack_delivers_in_recovery() {
    let mut c = open(sack_config(true));
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    rx(&mut c, ms(30), &sack(0, &[(100, 200)]));
    rx(&mut c, ms(30), &sack(0, &[(100, 300)]));
    recv_nothing!(c, ms(30));
    rx(&mut c, ms(30), &sack(0, &[(100, 300), (800, 900)]));
    // Six marked lost, one segment in flight, one delivered: only the fast retransmit goes,
    // where cwnd - pipe (700 - 100) would have let six go.
    recv!(c, ms(30), seq ISS + 1, len 100);
    recv_nothing!(c, ms(30));
    assert_eq!(c.info().lost, 600);
    // 0-100 and 300-400 delivered, SND.UNA moved: two plus one.
    rx(&mut c, ms(42), &sack(400, &[(800, 900)]));
    recv!(c, ms(42), seq ISS + 401, len 100);
    recv!(c, ms(42), seq ISS + 501, len 100);
    recv!(c, ms(42), seq ISS + 601, len 100);
    recv_nothing!(c, ms(42));
    assert_eq!(c.send(&payload(1000)), 1000);
    recv_nothing!(c, ms(42));
    // A reordered ACK below SND.UNA SACKs 500-700: two delivered, so two go, the last hole
    // and one new segment.
    rx(&mut c, ms(44), &sack(300, &[(500, 700)]));
    recv!(c, ms(44), seq ISS + 701, len 100);
    recv!(c, ms(44), seq ISS + 1001, len 100);
    recv_nothing!(c, ms(44));
}

/// The reordering degree (Linux `tcpi_reordering`): 3 until a segment is delivered later
/// than that many above it, then the distance, which also reopens RACK's reordering window
/// (google's `sack-shift-sacked-2-6-8-3-9-nofack`, MSS 100).
#[test]
fn a_late_sack_raises_the_reordering_degree() {
    let mut c = open(sack_config(true));
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    rx(&mut c, ms(30), &sack(0, &[(200, 300)]));
    rx(&mut c, ms(30), &sack(0, &[(200, 300), (600, 700)]));
    rx(&mut c, ms(30), &sack(0, &[(200, 300), (600, 700), (800, 900)]));
    recv!(c, ms(30), seq ISS + 1, len 100);
    recv_nothing!(c, ms(30));
    assert_eq!((c.info().reordering, c.info().lost), (3, 600));
    // 300-400, marked lost, arrives: six segments below the highest SACKed end (900).
    rx(&mut c, ms(37), &sack(0, &[(200, 400), (600, 700), (800, 900)]));
    assert_eq!((c.info().reordering, c.info().lost), (6, 500));
    // PRR lets one more go for the one delivered.
    recv!(c, ms(37), seq ISS + 101, len 100);
    recv_nothing!(c, ms(37));
    // A segment delivered in order moves nothing.
    rx(&mut c, ms(47), &sack(0, &[(200, 400), (600, 700), (800, 1000)]));
    assert_eq!(c.info().reordering, 6);
}

/// Linux's `tcp_may_raise_cwnd`: outside recovery, while the reordering degree is still
/// `tcp_reordering` (3), the window grows only on ACKs that move SND.UNA (RFC 5681's in-order
/// delivery), by what they acknowledge and SACK; an ACK that only SACKs may be reporting a
/// loss. Once the network has shown more reordering than that, any delivery grows it.
#[test]
fn the_window_grows_on_sack_only_acks_only_once_reordering_is_seen() {
    let mut c = open(sack_config(true));
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    assert_eq!(c.info().cwnd, 1000);
    // SND.UNA moves: grows by what was acknowledged and SACKed (slow start).
    rx(&mut c, ms(30), &sack(100, &[(500, 600)]));
    assert_eq!(c.info().cwnd, 1200);
    // Only a SACK, with the degree at 3: no growth.
    rx(&mut c, ms(31), &sack(100, &[(500, 600), (900, 1000)]));
    assert_eq!((c.info().cwnd, c.info().reordering), (1200, 3));
    assert!(!c.info().in_recovery);
    // The rest arrives late: 100..500 and 600..900 came after 900..1000, nine segments below.
    rx(&mut c, ms(32), &sack(900, &[(900, 1000)]));
    assert_eq!(c.info().reordering, 9);
    let cwnd = c.info().cwnd;
    assert_eq!(send_data(&mut c, ms(32), 500).len(), 5);
    // Now a SACK alone grows the window.
    rx(&mut c, ms(42), &sack(900, &[(900, 1000), (1100, 1200)]));
    assert_eq!(c.info().cwnd, cwnd + 100);
}

/// RFC 5681 §3.1 (eq. 4 for a segment not yet resent by the timer) and Linux's
/// `tcp_enter_loss`: the threshold falls once per loss. A timeout during SACK recovery,
/// which has already halved, and a backoff of that timeout keep it. Before, each timeout set
/// it from SND.MAX − SND.UNA, which SACK lets run far past a hole whose retransmission was
/// lost: the threshold *rose* (here 500 → 2000 bytes), and at 5 % loss in ccsim the flow
/// slow-started into megabyte windows that overflowed the receiver's out-of-order ranges.
#[test]
fn a_timeout_in_sack_recovery_and_its_backoff_keep_the_threshold() {
    let mut c = open(TcpConfig { sack: true, ..reno().with_rack(false) });
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    assert_eq!(c.send(&payload(3000)), 3000);
    // The first segment is lost, the other nine arrive: fast recovery, FlightSize / 2.
    rx(&mut c, ms(30), &sack(0, &[(100, 1000)]));
    let mut out = tx_all(&mut c, ms(30));
    assert_eq!(out[0].seq, s(ISS + 1), "the hole goes first");
    assert_eq!(c.info().ssthresh, 500);
    // Its retransmission is lost too; all new data arrives and is SACKed, so SND.MAX runs
    // on to the end of the peer's window while SND.UNA stays.
    let mut now = ms(30);
    for _ in 0..20 {
        let Some(high) = out.iter().map(|x| x.seq.0 + x.payload.len() as u32).max() else {
            break;
        };
        now += Duration::from_millis(10);
        rx(&mut c, now, &sack(0, &[(100, high - ISS - 1)]));
        out = tx_all(&mut c, now);
    }
    assert_eq!(c.info().unacked, 4000, "the whole window is outstanding");
    assert_eq!(c.counters().timeouts, 0);
    assert_eq!(c.info().ssthresh, 500);

    let t = c.poll_timeout().expect("retransmission timer");
    c.on_timeout(t);
    assert_eq!(c.counters().timeouts, 1);
    assert_eq!(c.info().cwnd, 100, "the loss window");
    assert_eq!(c.info().ssthresh, 500, "fast recovery already reduced for this loss");
    let out = tx_all(&mut c, t);
    assert_eq!(out.iter().map(|x| x.seq).collect::<Vec<_>>(), vec![s(ISS + 1)]);

    // Nothing answers: the timer backs off and fires again for the same segment.
    let t2 = c.poll_timeout().expect("backed-off timer");
    c.on_timeout(t2);
    assert_eq!(c.counters().timeouts, 2);
    assert_eq!(c.info().ssthresh, 500, "a backoff does not move the threshold");
    assert_eq!(c.info().cwnd, 100);
}

/// Ten segments in flight and 1000 bytes queued behind them; nothing comes back, so the tail
/// loss probe (new data, `[1000, 1100)`) and then the retransmission timeout fire. Returns the
/// endpoint just after the timeout's one retransmission, the time, and the window and
/// threshold before it.
fn timed_out_with_data_queued() -> (Endpoint, Instant, usize, usize) {
    let mut c = open(sack_config(true));
    assert_eq!(send_data(&mut c, ms(20), 2000).len(), 10);
    let (cwnd, ssthresh) = (c.info().cwnd, c.info().ssthresh);
    let pto = c.poll_timeout().unwrap();
    c.on_timeout(pto);
    recv!(c, pto, seq ISS + 1001, len 100);
    let rto = c.poll_timeout().unwrap();
    c.on_timeout(rto);
    assert_eq!(c.counters().timeouts, 1);
    assert_eq!(c.info().cwnd, 100);
    recv!(c, rto, seq ISS + 1, len 100);
    recv_nothing!(c, rto);
    (c, rto, cwnd, ssthresh)
}

/// F-RTO (RFC 5682 §3.1), issue 13: a delay spike longer than the RTO, nothing lost. The ACK
/// of the first segment brings new data, not the go-back of the second and third; the ACK of
/// the second (never retransmitted) shows the timeout spurious, and window and threshold
/// come back. Before F-RTO, the first ACK released two retransmissions and the reduction stayed.
#[test]
fn frto_detects_a_spurious_timeout_and_undoes_it() {
    let (mut c, t, cwnd, ssthresh) = timed_out_with_data_queued();
    let t1 = t + Duration::from_millis(5);
    rx(&mut c, t1, &ack(100));
    let out = tx_all(&mut c, t1);
    assert_eq!(
        out.iter().map(|x| x.seq).collect::<Vec<_>>(),
        vec![s(ISS + 1101), s(ISS + 1201)],
        "step 2b: new data instead of retransmissions"
    );
    assert_eq!(c.counters().spurious_rtos, 0);
    let t2 = t1 + Duration::from_millis(1);
    rx(&mut c, t2, &ack(200));
    assert_eq!(c.counters().spurious_rtos, 1, "step 3b: an original segment was acknowledged");
    assert!(c.info().cwnd >= cwnd, "the window is restored: {} < {cwnd}", c.info().cwnd);
    assert_eq!(c.info().ssthresh, ssthresh, "the threshold is restored");
    // What follows is new data, and the segments sent before the timeout are not resent.
    let retrans = c.counters().retrans_segs;
    let out = tx_all(&mut c, t2);
    assert!(out.iter().all(|x| x.seq >= s(ISS + 1301)), "{out:?}");
    assert_eq!(c.counters().retrans_segs, retrans);
    // The rest of the delayed ACKs: nothing is retransmitted, no recovery starts.
    rx(&mut c, t2 + Duration::from_millis(1), &ack(1300));
    tx_all(&mut c, t2 + Duration::from_millis(1));
    assert_eq!(c.counters().retrans_segs, retrans);
    assert_eq!(c.counters().timeouts, 1);
}

/// A real loss of the whole window: after the first ACK the new data goes out as F-RTO says,
/// but the peer SACKs it above the hole (step 3a). No undo; go-back-N repairs the window.
#[test]
fn frto_leaves_a_real_loss_to_recovery() {
    let (mut c, t, _, _) = timed_out_with_data_queued();
    let t1 = t + Duration::from_millis(5);
    rx(&mut c, t1, &ack(100));
    assert_eq!(tx_all(&mut c, t1).len(), 2, "new data");
    let t2 = t1 + Duration::from_millis(5);
    rx(&mut c, t2, &sack(100, &[(1100, 1200)]));
    assert_eq!(c.counters().spurious_rtos, 0);
    assert!(c.info().cwnd <= 300, "no undo: cwnd {}", c.info().cwnd);
    let out = tx_all(&mut c, t2);
    assert_eq!(out.first().map(|x| x.seq), Some(s(ISS + 101)), "the hole goes again: {out:?}");
    rx(&mut c, t2 + Duration::from_millis(5), &sack(200, &[(1100, 1300)]));
    assert_eq!(c.counters().spurious_rtos, 0);
    assert!(c.info().ssthresh < usize::MAX);
}

/// PRR's `prr_out` (RFC 6937 §3) counts new data sent during the episode, not only
/// retransmissions: with a 1000-byte flight, one hole and a queue of new data, each SACK in
/// the proportional phase (pipe above ssthresh) releases about ssthresh / RecoverFS of what
/// it delivered, new segments included. The connection counts sends into PRR only while an
/// episode is open (its state is cold outside one); a sender that left new data uncounted
/// in the episode would send two to four segments per SACK here, not one or none.
#[test]
fn prr_counts_new_data_sent_in_recovery() {
    let mut c = open(sack_config(true));
    assert_eq!(send_data(&mut c, ms(20), 1000).len(), 10);
    assert_eq!(c.send(&payload(3000)), 3000);
    let mut sent = Vec::new();
    for k in 2..=10u32 {
        let now = ms(30 + u64::from(k));
        rx(&mut c, now, &sack(0, &[(100, 100 * k)]));
        let out = tx_all(&mut c, now);
        sent.push(out.iter().map(|g| g.seq.0.wrapping_sub(ISS)).collect::<Vec<_>>());
    }
    let expected: [&[u32]; 9] =
        [&[1001], &[1101], &[1], &[1201], &[1301], &[], &[], &[1401], &[1501]];
    assert_eq!(sent, expected.map(<[u32]>::to_vec));
    assert!(c.info().in_recovery);
}
