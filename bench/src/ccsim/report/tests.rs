//! Snapshot tests of the `--quick` tables: limits set from measured numbers, so a regression
//! in congestion control or loss recovery shows up as a failing test.

use super::*;

/// The whole quick report, measured once for every test.
fn report() -> &'static Report {
    static REPORT: std::sync::OnceLock<Report> = std::sync::OnceLock::new();
    REPORT.get_or_init(|| measure(true))
}

fn variant(name: &str) -> usize {
    VARIANTS.iter().position(|v| v.name == name).expect("variant")
}

fn rate(r: f64) -> usize {
    LOSS_RATES.iter().position(|&x| x == r).expect("rate")
}

#[test]
fn cubic_sack_rack_reaches_the_mathis_bound_at_one_percent() {
    let cell = report().loss[rate(0.01)][variant("CUBIC+SACK+RACK")];
    let bound = mathis_bps(0.01, Duration::from_millis(10));
    assert!(cell.goodput_bps >= bound, "{} < {}", cell.goodput_bps, bound);
}

#[test]
fn rack_tlp_recovers_isolated_losses_without_timeouts() {
    let v = variant("CUBIC+SACK+RACK");
    for &r in &LOSS_RATES {
        let cell = report().loss[rate(r)][v];
        assert_eq!(cell.rtos, 0, "loss {r}: {cell:?}");
    }
    // The others do time out at 5% loss: the measurement can tell them apart.
    assert!(report().loss[rate(0.05)][variant("NewReno")].rtos > 0);
}

#[test]
fn goodput_tracks_loss() {
    let r = report();
    for (v, variant) in VARIANTS.iter().enumerate() {
        // A clean path is filled (1 Gbit/s minus headers is 965 Mbit/s).
        assert!(r.loss[rate(0.0)][v].goodput_bps > 700e6, "{}", variant.name);
        // Goodput falls with loss.
        for w in LOSS_RATES.windows(2).skip(1) {
            let (a, b) = (r.loss[rate(w[0])][v].goodput_bps, r.loss[rate(w[1])][v].goodput_bps);
            assert!(a > b, "{}: {} -> {}", variant.name, w[0], w[1]);
        }
    }
    // CUBIC's cubic growth pays off where windows are large (0.01% loss). Measured in the
    // quick run: 557 against 383 Mbit/s (1.46×) with PRR in CUBIC+SACK+RACK's recoveries
    // (2,164 segments lost to the full queue before, 883 with it: cwnd - pipe no longer sends
    // the whole reduction at once); 504 against 383 (1.32×) before PRR, once the receiver had
    // Linux's quick-ACK mode; 608 against 371 (1.64×) before that.
    //
    // At this loss rate a quick run sees only four or five losses, so the ratio depends on
    // where they fall: with the shared impairment model (SplitMix64 loss draws) and before
    // PRR, seeds 1-8 gave 1.22, 1.15, 1.15, 1.03, 1.03, 1.26, 1.86 and 1.25. The limit sits
    // below the quick report's value, not at the spread's median: it catches CUBIC losing its
    // lead, not the luck of one seed.
    let cubic = r.loss[rate(0.0001)][variant("CUBIC+SACK+RACK")].goodput_bps;
    let reno = r.loss[rate(0.0001)][variant("NewReno+SACK")].goodput_bps;
    assert!(cubic > 1.15 * reno, "{cubic} vs {reno}");
}

#[test]
fn sack_recovers_a_burst_in_a_few_round_trips() {
    let r = report();
    let rtt = Duration::from_millis(10);
    for name in ["NewReno+SACK", "CUBIC+SACK+RACK"] {
        let b = r.burst[variant(name)];
        let t = b.recovery.expect("recovered");
        assert!(t < rtt.saturating_mul(3), "{name}: {t:?}");
        assert_eq!(b.rtos, 0, "{name}");
    }
    // Without SACK NewReno repairs one hole per round trip: ten holes, about ten RTTs.
    let b = r.burst[variant("NewReno")];
    let t = b.recovery.expect("recovered");
    assert!(t > rtt.saturating_mul(9) && t < rtt.saturating_mul(20), "{t:?}");
    assert_eq!(b.retransmits, 10, "exactly the ten lost segments");
    // Unpaced, the window that opens at once when the holes fill overflows the queue; paced,
    // only the ten dropped segments are ever resent.
    assert!(r.burst[variant("CUBIC+SACK+RACK")].retransmits > 10);
    let paced = r.burst[VARIANTS.len()];
    assert_eq!(paced.retransmits, 10);
    assert!(paced.recovery.expect("recovered") < rtt.saturating_mul(3));
}

#[test]
fn competing_flows_share_the_bottleneck() {
    // Quick runs (5 s, second half measured) measured 0.66-1.0 with two flows and 0.67-0.84
    // with eight; CUBIC converges slowly at this BDP (K is about ten seconds).
    for (v, &(two, eight)) in VARIANTS.iter().zip(&report().fairness) {
        assert!(two > 0.6 && two <= 1.0, "{}: {two}", v.name);
        assert!(eight > 0.6 && eight <= 1.0, "{}: {eight}", v.name);
    }
}

#[test]
fn markdown_has_every_table() {
    let md = report().to_markdown();
    for heading in ["Goodput", "Retransmission timeouts", "burst of 10", "Jain"] {
        assert!(md.contains(heading), "{heading}");
    }
    assert!(md.contains("xdptcp-bench -- congestion --quick"));
}

#[test]
fn runs_are_deterministic() {
    let l = Lengths::new(true);
    let s = Scenario {
        duration: Duration::from_millis(600),
        ..scenario(VARIANTS[2], base_path(0.01, 9), &l)
    };
    let (a, b) = (run(&s), run(&s));
    assert_eq!(a.flows[0].measured_bytes, b.flows[0].measured_bytes);
    assert_eq!(a.counters(), b.counters());
    assert!(a.flows[0].measured_bytes > 0);
}

#[test]
fn ecn_marks_replace_losses() {
    let (off, on) = (report().ecn[0], report().ecn[1]);
    assert!(!off.ecn && on.ecn);
    assert!(off.losses > 0 && off.retransmits > 0, "{off:?}");
    assert_eq!(off.ce_marks, 0, "Not-ECT segments are never marked");
    assert_eq!((on.losses, on.retransmits), (0, 0), "{on:?}");
    assert!(on.ce_marks > 0 && on.ecn_reductions > 0, "{on:?}");
    // One reduction per round trip at most: far fewer reductions than marks.
    assert!(on.ecn_reductions * 10 < on.ce_marks, "{on:?}");
}
