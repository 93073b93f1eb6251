//! Loss recovery never loses or duplicates data: two connections over a lossy, reordering
//! link in virtual time, with every combination of congestion control (NewReno, CUBIC) and
//! loss detection (duplicate ACKs without SACK, RFC 6675 SACK, SACK with RACK-TLP), with and
//! without ECN negotiation and pacing, deliver exactly the bytes that were sent.

mod common;

use common::*;
use proptest::prelude::*;
use xdptcp_stack::tcp::{BufferSizes, CongestionAlgorithm, State, TcpConfig, TcpCounters};

fn bytes(n: usize, seed: u8) -> Vec<u8> {
    (0..n).map(|i| ((i * 13 + i / 257) as u8) ^ seed).collect()
}

#[derive(Clone, Copy, Debug)]
enum Detection {
    DupAcks,
    Sack,
    SackRack,
}

fn config(algo: CongestionAlgorithm, det: Detection, mss: u16, pacing: bool) -> TcpConfig {
    TcpConfig {
        mss,
        wmem: BufferSizes::fixed(16 * 1024),
        rmem: BufferSizes::fixed(16 * 1024),
        congestion: algo,
        sack: !matches!(det, Detection::DupAcks),
        timestamps: !matches!(det, Detection::DupAcks),
        // ECN negotiated on half the runs (the link marks nothing; the flags must not disturb).
        ecn: pacing,
        ..TcpConfig::default().with_rack(matches!(det, Detection::SackRack)).with_pacing(pacing)
    }
}

struct Outcome {
    ok: bool,
    why: String,
    counters: TcpCounters,
}

#[allow(clippy::too_many_arguments)]
fn run(
    algo: CongestionAlgorithm,
    det: Detection,
    a_len: usize,
    b_len: usize,
    seed: u64,
    drop_pct: u64,
    jitter_ms: u64,
    mss: u16,
    pacing: bool,
) -> Outcome {
    let cfg = config(algo, det, mss, pacing);
    let (x, y) = (bytes(a_len, 3), bytes(b_len, 9));
    let imp = Impairment { seed, drop_pct, jitter_ms, ..Default::default() };
    let r = transfer(pair(cfg, cfg, imp), &x, &y, 1_000_000);
    let mut counters = r.pump.a.counters();
    counters.add(&r.pump.b.counters());
    let mut why = String::new();
    if r.b_got != x {
        why += &format!("a->b got {} of {} bytes; ", r.b_got.len(), x.len());
    }
    if r.a_got != y {
        why += &format!("b->a got {} of {} bytes; ", r.a_got.len(), y.len());
    }
    if r.pump.a.state() != State::Closed || r.pump.b.state() != State::Closed {
        why += &format!("states {:?} {:?}", r.pump.a.state(), r.pump.b.state());
    }
    Outcome { ok: why.is_empty(), why, counters }
}

fn algo_of(cubic: bool) -> CongestionAlgorithm {
    if cubic {
        CongestionAlgorithm::Cubic
    } else {
        CongestionAlgorithm::NewReno
    }
}

fn detection_of(i: u8) -> Detection {
    match i % 3 {
        0 => Detection::DupAcks,
        1 => Detection::Sack,
        _ => Detection::SackRack,
    }
}

/// Every retransmission path is taken somewhere in this fixed set of runs, and every run is
/// byte-exact. The counters prove the paths were exercised (a run that never lost anything
/// would pass the byte check trivially).
#[test]
fn every_recovery_path_is_exercised_and_exact() {
    let mut total = [TcpCounters::default(), TcpCounters::default(), TcpCounters::default()];
    for cubic in [false, true] {
        for d in 0..3u8 {
            // Eight seeds: with DSACK undo counted as Linux counts it (issue 17), six no
            // longer happened to include a tail loss probe.
            for seed in 1..=8u64 {
                let det = detection_of(d);
                let o = run(algo_of(cubic), det, 60_000, 20_000, seed, 4, 6, 500, seed % 2 == 0);
                assert!(o.ok, "cubic={cubic} {det:?} seed={seed}: {}", o.why);
                total[usize::from(d)].add(&o.counters);
            }
        }
    }
    let [dup, sack, rack] = total;
    // Duplicate-ACK (NewReno) recovery and timeouts without SACK.
    assert!(dup.reno_recoveries > 0 && dup.retrans_segs > 0, "{dup:?}");
    assert!(dup.timeouts > 0, "{dup:?}");
    assert_eq!(dup.sack_recoveries + dup.tlp_probes, 0);
    // RFC 6675 SACK recovery.
    assert!(sack.sack_recoveries > 0, "{sack:?}");
    assert_eq!(sack.tlp_probes, 0, "no TLP without RACK");
    // RACK-driven recovery and tail loss probes.
    assert!(rack.sack_recoveries > 0, "{rack:?}");
    assert!(rack.tlp_probes > 0, "{rack:?}");
    // Jitter reorders segments: some retransmissions are shown spurious by the receiver's
    // DSACKs, and some episodes are undone because every retransmission was.
    assert!(sack.dsack_recv > 0 && rack.dsack_recv > 0, "{sack:?} {rack:?}");
    assert!(sack.spurious_undos + rack.spurious_undos > 0, "{sack:?} {rack:?}");
    assert_eq!(dup.dsack_recv, 0, "no DSACK without SACK");
}

#[test]
fn heavy_loss_with_both_algorithms() {
    let mut timeouts = 0;
    for cubic in [false, true] {
        for d in 0..3u8 {
            let o = run(algo_of(cubic), detection_of(d), 30_000, 30_000, 77, 20, 15, 300, false);
            assert!(o.ok, "cubic={cubic} d={d}: {}", o.why);
            timeouts += o.counters.timeouts;
        }
    }
    // Whether one particular run needs a timeout depends on where the losses fall (segment
    // sizes shift the pattern); across the six, 20% loss must drive the RTO path too.
    assert!(timeouts > 0, "20% loss needs some timeouts");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn recovery_never_loses_or_duplicates_data(
        cubic in any::<bool>(),
        detection in 0u8..3,
        a_len in 0usize..50_000,
        b_len in 0usize..20_000,
        seed in any::<u64>(),
        drop_pct in 0u64..20,
        jitter_ms in 0u64..25,
        mss in 100u16..1460,
        pacing in any::<bool>(),
    ) {
        let o = run(
            algo_of(cubic), detection_of(detection), a_len, b_len, seed, drop_pct, jitter_ms, mss,
            pacing,
        );
        prop_assert!(o.ok, "{}", o.why);
    }
}
