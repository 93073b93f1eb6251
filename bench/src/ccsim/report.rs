//! The measurement tables of `xdptcp congestion`: goodput against random loss next to the
//! Mathis et al. bound, RTOs per thousand losses, recovery from a burst of ten losses, and
//! Jain's fairness index of competing flows.

use std::fmt::Write as _;

use xdptcp_stack::time::{Duration, Instant};

use super::link::{PathConfig, HEADER_BYTES};
use super::{run, secs, Burst, Scenario, Variant, PACED, VARIANTS};

/// Payload bytes per segment (MSS 1460 minus the 12-byte timestamp option).
pub const MSS_PAYLOAD: usize = 1460 - 12;
/// Random loss rates of the goodput table.
pub const LOSS_RATES: [f64; 5] = [0.0, 0.0001, 0.001, 0.01, 0.05];

/// Run lengths.
#[derive(Clone, Copy, Debug)]
pub struct Lengths {
    pub warmup: Duration,
    /// Run length at high goodput (0 and 0.01% loss), where simulation costs most.
    pub duration: Duration,
    /// Run length at 0.1% loss and above: low goodput is cheap to simulate, and the longer
    /// runs see enough loss events for a stable average.
    pub long_duration: Duration,
    pub fairness_duration: Duration,
    pub seeds: u64,
}

impl Lengths {
    pub fn new(quick: bool) -> Lengths {
        if quick {
            Lengths {
                warmup: Duration::from_millis(300),
                duration: Duration::from_millis(1300),
                long_duration: Duration::from_secs(10),
                fairness_duration: Duration::from_secs(5),
                seeds: 1,
            }
        } else {
            Lengths {
                warmup: Duration::from_secs(1),
                duration: Duration::from_secs(6),
                long_duration: Duration::from_secs(30),
                fairness_duration: Duration::from_secs(30),
                seeds: 3,
            }
        }
    }
}

/// The path of every scenario: 1 Gbit/s, 10 ms RTT, drop-tail buffer of one BDP.
pub fn base_path(loss: f64, seed: u64) -> PathConfig {
    let mut p = PathConfig {
        rate_bps: 1_000_000_000,
        rtt: Duration::from_millis(10),
        buffer: 0,
        loss,
        seed,
        ecn_threshold: None,
    };
    p.buffer = p.bdp();
    p
}

/// Mathis et al. (1997): a Reno flow's throughput bound `MSS/RTT · 1.22/√p`, bits per second.
pub fn mathis_bps(loss: f64, rtt: Duration) -> f64 {
    MSS_PAYLOAD as f64 * 8.0 / secs(rtt) * 1.22 / loss.sqrt()
}

/// One cell of the loss table.
#[derive(Clone, Copy, Debug, Default)]
pub struct LossCell {
    /// Mean goodput over the seeds, bits per second.
    pub goodput_bps: f64,
    /// Retransmission timeouts and segments lost (random and queue drops), summed.
    pub rtos: u64,
    pub losses: u64,
    pub fast_recoveries: u64,
}

impl LossCell {
    pub fn rtos_per_1000(&self) -> Option<f64> {
        (self.losses > 0).then(|| self.rtos as f64 * 1000.0 / self.losses as f64)
    }
}

/// Burst recovery of one variant.
#[derive(Clone, Copy, Debug)]
pub struct BurstCell {
    pub recovery: Option<Duration>,
    pub rtos: u64,
    pub retransmits: u64,
}

/// One row of the ECN table.
#[derive(Clone, Copy, Debug)]
pub struct EcnCell {
    pub ecn: bool,
    pub goodput_bps: f64,
    /// Segments lost at the full queue.
    pub losses: u64,
    pub retransmits: u64,
    pub ecn_reductions: u64,
    pub ce_marks: u64,
}

/// Everything the command measures.
#[derive(Clone, Debug)]
pub struct Report {
    pub quick: bool,
    pub lengths: Lengths,
    /// `[rate][variant]`.
    pub loss: Vec<Vec<LossCell>>,
    pub burst: Vec<BurstCell>,
    /// `[variant]` → (Jain's index with 2 flows, with 8 flows).
    pub fairness: Vec<(f64, f64)>,
    /// CUBIC+SACK+RACK on a marking bottleneck, without and with ECN negotiated.
    pub ecn: Vec<EcnCell>,
}

fn scenario(variant: Variant, path: PathConfig, l: &Lengths) -> Scenario {
    Scenario {
        path,
        variant,
        flows: 1,
        stagger: Duration::ZERO,
        warmup: l.warmup,
        duration: l.duration,
        recv_buffer: 4 * path.bdp(),
        burst: None,
    }
}

/// Runs every scenario.
pub fn measure(quick: bool) -> Report {
    let l = Lengths::new(quick);
    let mut loss = Vec::new();
    for &rate in &LOSS_RATES {
        let mut row = Vec::new();
        for v in VARIANTS {
            let mut cell = LossCell::default();
            for seed in 1..=l.seeds {
                let mut s = scenario(v, base_path(rate, seed), &l);
                if rate >= 0.001 {
                    s.duration = l.long_duration;
                }
                let r = run(&s);
                let c = r.counters();
                cell.goodput_bps += r.goodput_bps(0) / l.seeds as f64;
                cell.rtos += c.timeouts;
                cell.losses += r.random_drops + r.queue_drops;
                cell.fast_recoveries += c.fast_retransmits;
            }
            row.push(cell);
        }
        loss.push(row);
    }
    let mut burst = Vec::new();
    for v in VARIANTS.into_iter().chain([PACED]) {
        let path = base_path(0.0, 1);
        // The receive window holds the flow at one BDP, so the queue stays empty and the ten
        // dropped segments are the only losses.
        let s = Scenario {
            recv_buffer: path.bdp(),
            burst: Some(Burst { at: Instant::ZERO + l.warmup, count: 10 }),
            ..scenario(v, path, &l)
        };
        let r = run(&s);
        let c = r.counters();
        burst.push(BurstCell {
            recovery: r.burst_recovery,
            rtos: c.timeouts,
            retransmits: c.retrans_segs,
        });
    }
    let mut fairness = Vec::new();
    for v in VARIANTS {
        let mut jain = [0.0; 2];
        for (k, n) in [2usize, 8].into_iter().enumerate() {
            let path = base_path(0.0, 1);
            let s = Scenario {
                flows: n,
                stagger: Duration::from_millis(100),
                // Measure the second half, after every flow has started and settled.
                warmup: Duration::from_nanos(l.fairness_duration.total_nanos() / 2),
                duration: l.fairness_duration,
                ..scenario(v, path, &l)
            };
            jain[k] = run(&s).jain_index();
        }
        fairness.push((jain[0], jain[1]));
    }
    let mut ecn = Vec::new();
    for on in [false, true] {
        let mut path = base_path(0.0, 1);
        path.ecn_threshold = Some(path.bdp() / 5);
        let v = Variant { ecn: on, ..VARIANTS[2] };
        let r = run(&scenario(v, path, &l));
        let c = r.counters();
        ecn.push(EcnCell {
            ecn: on,
            goodput_bps: r.goodput_bps(0),
            losses: r.queue_drops,
            retransmits: c.retrans_segs,
            ecn_reductions: c.ecn_reductions,
            ce_marks: r.ce_marks,
        });
    }
    Report { quick, lengths: l, loss, burst, fairness, ecn }
}

fn mbps(bps: f64) -> String {
    format!("{:.1}", bps / 1e6)
}

impl Report {
    /// The tables as markdown.
    pub fn to_markdown(&self) -> String {
        let l = &self.lengths;
        let path = base_path(0.0, 1);
        let mut out = String::new();
        let cmd = if self.quick { "congestion --quick" } else { "congestion" };
        let _ = writeln!(out, "Reproduce with `cargo run --release -p xdptcp-bench -- {cmd}`.");
        let _ = writeln!(
            out,
            "\nPath: one {} Gbit/s bottleneck, {} ms base RTT, drop-tail buffer of one BDP ({} bytes), \
             segments of {} payload bytes ({} on the wire). Bulk senders, receivers read at once; \
             delayed ACKs, timestamps and window scaling on. Goodput is measured from {:.1} s to \
             {:.1} s of virtual time ({:.0} s at 0.1% loss and more), averaged over {} seed(s).",
            path.rate_bps / 1_000_000_000,
            path.rtt.total_millis(),
            path.buffer,
            MSS_PAYLOAD,
            MSS_PAYLOAD + HEADER_BYTES,
            secs(l.warmup),
            secs(l.duration),
            secs(l.long_duration),
            l.seeds,
        );
        let names: Vec<&str> = VARIANTS.iter().map(|v| v.name).collect();
        let _ = writeln!(out, "\n### Goodput (Mbit/s) against random loss\n");
        let _ = writeln!(out, "| loss | Mathis bound | {} |", names.join(" | "));
        let _ = writeln!(out, "|---:|---:|{}", "---:|".repeat(names.len()));
        for (i, &rate) in LOSS_RATES.iter().enumerate() {
            let bound = if rate > 0.0 { mbps(mathis_bps(rate, path.rtt)) } else { "—".into() };
            let cells: Vec<String> = self.loss[i].iter().map(|c| mbps(c.goodput_bps)).collect();
            let _ = writeln!(out, "| {}% | {} | {} |", rate * 100.0, bound, cells.join(" | "));
        }
        let _ = writeln!(out, "\n### Retransmission timeouts per 1000 lost segments\n");
        let _ = writeln!(out, "| loss | {} |", names.join(" | "));
        let _ = writeln!(out, "|---:|{}", "---:|".repeat(names.len()));
        for (i, &rate) in LOSS_RATES.iter().enumerate() {
            let cells: Vec<String> = self.loss[i]
                .iter()
                .map(|c| match c.rtos_per_1000() {
                    Some(x) => format!("{x:.1} ({} / {})", c.rtos, c.losses),
                    None => "—".into(),
                })
                .collect();
            let _ = writeln!(out, "| {}% | {} |", rate * 100.0, cells.join(" | "));
        }
        let _ = writeln!(
            out,
            "\n(Cells: RTOs per 1000 losses (RTOs / segments lost to random loss or a full queue).)\n"
        );
        let _ = writeln!(out, "### Recovery from a burst of 10 lost segments\n");
        let _ = writeln!(
            out,
            "Ten consecutive data segments of a flow held at one BDP by its receive window are \
             dropped at {:.1} s; time from the first drop until the receiver holds every byte up \
             to the last dropped one.\n",
            secs(l.warmup)
        );
        let _ = writeln!(out, "| variant | time to recover | RTOs | segments retransmitted |");
        let _ = writeln!(out, "|---|---:|---:|---:|");
        for (v, b) in VARIANTS.iter().chain([&PACED]).zip(&self.burst) {
            let t =
                b.recovery.map_or("not recovered".into(), |d| format!("{:.1} ms", secs(d) * 1e3));
            let _ = writeln!(out, "| {} | {} | {} | {} |", v.name, t, b.rtos, b.retransmits);
        }
        let _ = writeln!(out, "\n### Fairness of competing flows (Jain's index)\n");
        let _ = writeln!(
            out,
            "Flows of one variant start 100 ms apart and share the bottleneck (no random loss); \
             goodput is compared over the second half of {:.0} s. 1.0 is a perfectly even split.\n",
            secs(l.fairness_duration)
        );
        let _ = writeln!(out, "| variant | 2 flows | 8 flows |");
        let _ = writeln!(out, "|---|---:|---:|");
        for (v, (two, eight)) in VARIANTS.iter().zip(&self.fairness) {
            let _ = writeln!(out, "| {} | {:.3} | {:.3} |", v.name, two, eight);
        }
        let _ = writeln!(out, "\n### ECN on a marking bottleneck\n");
        let _ = writeln!(
            out,
            "CUBIC+SACK+RACK, one flow, no random loss; the bottleneck marks ECN-capable segments \
             CE once {} bytes (a fifth of the buffer) are queued, and drops only when the buffer is \
             full. Counts cover the whole run ({:.1} s), goodput the measured part.\n",
            path.bdp() / 5,
            secs(l.duration),
        );
        let _ = writeln!(
            out,
            "| ECN | goodput (Mbit/s) | segments dropped | retransmitted | CE marks | ECN reductions |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        for e in &self.ecn {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} |",
                if e.ecn { "on" } else { "off" },
                mbps(e.goodput_bps),
                e.losses,
                e.retransmits,
                e.ce_marks,
                e.ecn_reductions
            );
        }
        out
    }
}

#[cfg(test)]
mod tests;
