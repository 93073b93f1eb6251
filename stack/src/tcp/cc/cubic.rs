//! CUBIC (RFC 9438): the window follows `W_cubic(t) = C·(t − K)³ + W_max` after a loss,
//! concave up to the old maximum `W_max`, then convex beyond it, never slower than a
//! Reno flow with the same loss rate would grow (the Reno-friendly region, §4.3).
//!
//! Windows are tracked in segments as `f64` (the RFC's unit) and exposed in bytes. Time comes
//! in with every ACK; nothing here reads a clock.

use super::hystart::{HyStart, Phase, CSS_GROWTH_DIVISOR};
use super::{slow_start_increase, AckSample, CongestionControl, UndoPoint};
use crate::time::{Duration, Instant};

/// RFC 9438 §5: the scaling constant `C` (segments / s³).
pub const C: f64 = 0.4;
/// RFC 9438 §5: the multiplicative decrease factor `β_cubic`.
pub const BETA: f64 = 0.7;
/// RFC 9438 §4.3: additive increase of the Reno-friendly estimate, `3(1−β)/(1+β)` segments
/// per RTT, so that CUBIC takes the same share as Reno at equal loss rates.
pub const ALPHA: f64 = 3.0 * (1.0 - BETA) / (1.0 + BETA);

/// The cubic curve `C·(t − K)³ + W_max` in segments, `t` and `k` in seconds (RFC 9438 eq. 1).
pub fn w_cubic(t: f64, k: f64, w_max: f64) -> f64 {
    let d = t - k;
    C * d * d * d + w_max
}

/// `K = ∛((W_max − cwnd_epoch) / C)`, the time to climb back to `W_max` (RFC 9438 eq. 2).
pub fn cubic_k(w_max: f64, cwnd_epoch: f64) -> f64 {
    ((w_max - cwnd_epoch).max(0.0) / C).cbrt()
}

/// `w as usize`, the window in whole bytes, with the common case (`0 <= w < 2^63`) converted
/// through `i64`: one truncating instruction on x86-64, where `f64 as usize` needs about ten
/// (the split at 2^63 and the saturation at both ends). The window is read several times per
/// segment sent and per ACK (docs/benchmarks.md, "branch send2"). The same value for every
/// input: NaN, negatives, values at or past 2^63, and every value where `usize` is narrower
/// than `i64`, take the plain conversion. Two comparisons, not `Range::contains`: written
/// that way the rpc round trip measured 60 instructions more (the inlining moved).
#[inline(always)]
#[allow(clippy::manual_range_contains)]
fn bytes_of(w: f64) -> usize {
    if cfg!(target_pointer_width = "64") && w >= 0.0 && w < 9_223_372_036_854_775_808.0 {
        w as i64 as usize
    } else {
        w as usize
    }
}

/// CUBIC state for one connection (`repr(C)`: the window, read per segment, first).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct Cubic {
    /// Congestion window in bytes (fractional growth is kept).
    cwnd: f64,
    ssthresh: usize,
    /// Window before the last reduction, segments (`W_max`).
    w_max: f64,
    /// Seconds from the epoch start to reach `W_max`.
    k: f64,
    /// Start of the current congestion-avoidance epoch.
    epoch_start: Option<Instant>,
    /// Reno-friendly window estimate, segments (`W_est`).
    w_est: f64,
    /// Window when the last congestion event happened, segments (`cwnd_prior`).
    cwnd_prior: f64,
    /// RFC 9438 §4.7: release bandwidth faster when the maximum keeps falling.
    fast_convergence: bool,
    undo: UndoPoint,
    undo_w_max: f64,
    /// HyStart++ (RFC 9406) during the initial slow start; `None` once it is over.
    hystart: Option<HyStart>,
}

impl Cubic {
    /// Starts in slow start with `initial_window` bytes.
    pub fn new(initial_window: usize) -> Self {
        Cubic {
            cwnd: initial_window as f64,
            ssthresh: usize::MAX,
            w_max: 0.0,
            k: 0.0,
            epoch_start: None,
            w_est: 0.0,
            cwnd_prior: 0.0,
            fast_convergence: true,
            undo: UndoPoint::default(),
            undo_w_max: 0.0,
            hystart: Some(HyStart::default()),
        }
    }

    /// The same without HyStart++: plain slow start until the first loss.
    pub fn without_hystart(initial_window: usize) -> Self {
        Cubic { hystart: None, ..Cubic::new(initial_window) }
    }

    /// `W_max` in segments (for tests and reports).
    pub fn w_max(&self) -> f64 {
        self.w_max
    }

    /// `K` in seconds.
    pub fn k(&self) -> f64 {
        self.k
    }

    /// The multiplicative decrease with fast convergence (RFC 9438 §4.6, §4.7).
    fn reduce(&mut self, mss: usize) {
        let mss_f = mss as f64;
        let cwnd_seg = self.cwnd / mss_f;
        self.undo = UndoPoint { cwnd: self.window(), ssthresh: self.ssthresh };
        self.undo_w_max = self.w_max;
        self.w_max = if self.fast_convergence && cwnd_seg < self.w_max {
            cwnd_seg * (1.0 + BETA) / 2.0
        } else {
            cwnd_seg
        };
        self.cwnd_prior = cwnd_seg;
        self.ssthresh = ((self.cwnd * BETA) as usize).max(2 * mss);
        self.epoch_start = None;
        // RFC 9406 §4.3: HyStart++ serves the initial slow start only.
        self.hystart = None;
    }

    fn congestion_avoidance(&mut self, ack: &AckSample) {
        let mss = ack.mss.max(1) as f64;
        let cwnd_seg = self.cwnd / mss;
        let epoch = match self.epoch_start {
            Some(e) => e,
            None => {
                // RFC 9438 §4.2: a new epoch; K from the window it starts with.
                self.epoch_start = Some(ack.now);
                self.w_est = cwnd_seg;
                if cwnd_seg < self.w_max {
                    self.k = cubic_k(self.w_max, cwnd_seg);
                } else {
                    self.k = 0.0;
                    self.w_max = cwnd_seg;
                }
                ack.now
            }
        };
        let t = secs(ack.now.saturating_duration_since(epoch));
        let rtt = secs(ack.srtt.unwrap_or(Duration::from_millis(100)));
        let acked_seg = ack.bytes_acked as f64 / mss;
        // §4.3: the Reno-friendly estimate grows by ALPHA per window acknowledged, and by one
        // once it has passed the window of the last congestion event.
        let alpha = if self.w_est >= self.cwnd_prior { 1.0 } else { ALPHA };
        self.w_est += alpha * acked_seg / cwnd_seg;
        let cubic_now = w_cubic(t, self.k, self.w_max);
        if cubic_now < self.w_est {
            // Reno-friendly region: grow like Reno would.
            if self.w_est > cwnd_seg {
                self.cwnd = self.w_est * mss;
            }
        } else {
            // Concave (below W_max) or convex (beyond it) region (§4.4, §4.5): aim at the
            // curve one RTT ahead, bounded to 1.5 cwnd, spread over a window of ACKs.
            let target = w_cubic(t + rtt, self.k, self.w_max).clamp(cwnd_seg, 1.5 * cwnd_seg);
            self.cwnd += (target - cwnd_seg) / cwnd_seg * acked_seg * mss;
        }
    }
}

fn secs(d: Duration) -> f64 {
    d.total_nanos() as f64 / 1e9
}

impl CongestionControl for Cubic {
    fn init(&mut self, initial_window: usize) {
        let hystart = self.hystart.is_some();
        *self = Cubic::new(initial_window);
        if !hystart {
            self.hystart = None;
        }
    }

    #[inline]
    fn window(&self) -> usize {
        bytes_of(self.cwnd)
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckSample) {
        if !ack.cwnd_limited {
            // §5.8: an unused window does not grow.
            return;
        }
        if self.window() < self.ssthresh {
            let mut inc = slow_start_increase(ack.bytes_acked, ack.mss);
            // RFC 9438 §4.10: HyStart++ leaves slow start before the queue overflows.
            if let Some(h) = self.hystart.as_mut() {
                match h.on_ack(ack.ack, ack.snd_max, ack.rtt) {
                    Phase::SlowStart => {}
                    Phase::Conservative => inc /= CSS_GROWTH_DIVISOR,
                    Phase::Exit => {
                        self.hystart = None;
                        self.ssthresh = self.window();
                        return;
                    }
                }
            }
            let grown = self.cwnd + inc as f64;
            self.cwnd = grown.min(self.ssthresh as f64);
        } else {
            self.congestion_avoidance(ack);
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, _in_flight: usize, mss: usize) {
        self.reduce(mss);
        self.cwnd = self.ssthresh as f64;
    }

    fn on_recovery_exit(&mut self, _now: Instant, _in_flight: usize, _mss: usize) {
        // As Linux (`tcp_end_cwnd_reduction`): the window is the reduced threshold.
        self.cwnd = self.ssthresh as f64;
    }

    fn on_rto(&mut self, _now: Instant, _in_flight: usize, mss: usize) {
        // §4.8: the threshold falls as after any congestion event; the window restarts at one
        // segment and slow start climbs back to the threshold.
        self.reduce(mss);
        self.cwnd = mss as f64;
    }

    fn on_rto_again(&mut self, _now: Instant, mss: usize) {
        // The threshold and W_max stay where the first reduction put them.
        self.epoch_start = None;
        self.cwnd = mss as f64;
    }

    fn undo(&mut self) {
        self.cwnd = self.cwnd.max(self.undo.cwnd as f64);
        self.ssthresh = self.ssthresh.max(self.undo.ssthresh);
        self.w_max = self.undo_w_max.max(self.w_max);
        self.epoch_start = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `bytes_of` is `as usize` for every kind of input: the common range, its edges, and
    /// what takes the plain conversion.
    #[test]
    fn bytes_of_is_the_plain_conversion() {
        let edge = 9_223_372_036_854_775_808.0_f64;
        let mut inputs = vec![
            0.0,
            -0.0,
            0.4,
            0.999_999,
            1.0,
            1448.5,
            14_480.999,
            -1.0,
            -1e30,
            f64::MIN,
            f64::MAX,
            f64::INFINITY,
            f64::NEG_INFINITY,
            f64::NAN,
            f64::MIN_POSITIVE,
            edge,
            edge * 2.0,
            edge * 4.0,
        ];
        let mut x = edge;
        for _ in 0..4 {
            x = f64::from_bits(x.to_bits() - 1);
            inputs.push(x);
        }
        let mut w = 0.37_f64;
        while w < 1e21 {
            inputs.push(w);
            w *= 1.7;
        }
        for w in inputs {
            assert_eq!(bytes_of(w), w as usize, "{w:e}");
        }
    }

    const MSS: usize = 1000;

    fn sample(now: Instant, bytes: usize, rtt_ms: u64) -> AckSample {
        AckSample {
            now,
            bytes_acked: bytes,
            mss: MSS,
            srtt: Some(Duration::from_millis(rtt_ms)),
            min_rtt: Some(Duration::from_millis(rtt_ms)),
            cwnd_limited: true,
            rtt: Some(Duration::from_millis(rtt_ms)),
            ack: crate::tcp::SeqNumber(0),
            snd_max: crate::tcp::SeqNumber(0),
        }
    }

    /// A CUBIC flow that reached `segs` segments in congestion avoidance and then lost.
    fn after_loss_at(segs: usize) -> Cubic {
        let mut c = Cubic::new(segs * MSS);
        c.ssthresh = 1; // congestion avoidance from the start
        c.on_congestion_event(Instant::ZERO, segs * MSS, MSS);
        c
    }

    /// Runs round trips of `rtt_ms` from time 0 to `until_ms`, acknowledging the whole window
    /// one segment per ACK spread over each round trip; returns (t, cwnd in segments) per RTT.
    fn run(c: &mut Cubic, rtt_ms: u64, until_ms: u64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        let mut t_ms = 0;
        while t_ms < until_ms {
            let acks = c.window() / MSS;
            for i in 0..acks {
                let at =
                    Instant::from_micros(t_ms * 1000 + (i as u64 * rtt_ms * 1000) / acks as u64);
                c.on_ack(&sample(at, MSS, rtt_ms));
            }
            t_ms += rtt_ms;
            out.push((t_ms as f64 / 1000.0, c.cwnd / MSS as f64));
        }
        out
    }

    #[test]
    fn beta_reduction_and_k() {
        let c = after_loss_at(100);
        assert_eq!(c.ssthresh(), 70 * MSS, "beta = 0.7");
        assert_eq!(c.window(), 70 * MSS);
        assert_eq!(c.w_max(), 100.0);
        // K = cbrt((100 - 70) / 0.4) = cbrt(75).
        assert!((cubic_k(100.0, 70.0) - 75f64.cbrt()).abs() < 1e-9);
    }

    #[test]
    fn growth_follows_the_cubic_curve() {
        let mut c = after_loss_at(100);
        let rtt = 100;
        // Until 5.5 s: later the Reno-friendly estimate (which passes cwnd_prior near 5.7 s
        // and then grows one segment per RTT) overtakes this slow curve.
        let points = run(&mut c, rtt, 5500);
        let k = 75f64.cbrt();
        assert!((c.k() - k).abs() < 1e-9, "K computed at the epoch start");
        for &(t, w) in &points {
            if t < 0.5 {
                continue;
            }
            // The window aims at the curve one RTT ahead: it lies between the curve one RTT
            // back and one RTT ahead (with 1% and one segment of slack for the per-ACK steps).
            let lo = w_cubic(t - 0.1, k, 100.0) * 0.99 - 1.0;
            let hi = w_cubic(t + 0.1, k, 100.0) * 1.01 + 1.0;
            assert!(w >= lo && w <= hi, "t={t}: cwnd {w} outside [{lo}, {hi}]");
        }
        // Plateau near W_max around K, then convex growth beyond it.
        let at = |s: f64| points.iter().find(|p| (p.0 - s).abs() < 1e-6).map(|p| p.1).unwrap();
        assert!((at(4.2) - 100.0).abs() < 1.5, "{}", at(4.2));
        assert!(at(5.5) - at(5.0) > at(5.0) - at(4.5), "convex beyond K");
        assert!(at(2.0) - at(1.0) > at(3.0) - at(2.0), "concave before K");
    }

    #[test]
    fn reno_friendly_region_on_short_rtts() {
        // With a 1 ms RTT Reno would grow about 0.53 segment per millisecond, far faster than
        // the cubic curve's climb to a small W_max; the window must follow the Reno estimate.
        let mut c = after_loss_at(20);
        let points = run(&mut c, 1, 100);
        let (t, w) = *points.last().unwrap();
        let cubic = w_cubic(t + 0.001, c.k(), 20.0);
        assert!(w > cubic + 10.0, "cwnd {w} should be well above the curve {cubic}");
        // After 100 RTTs, Reno-friendly growth: 14 + about 0.53 per RTT until W_est passes
        // cwnd_prior (20), then 1 per RTT.
        assert!(w > 14.0 + 0.5 * 100.0 && w < 14.0 + 1.0 * 100.0 + 2.0, "cwnd {w}");
    }

    #[test]
    fn fast_convergence_lowers_w_max() {
        let mut c = after_loss_at(100);
        assert_eq!(c.w_max(), 100.0);
        // A second loss below the previous maximum: W_max = cwnd (1 + beta) / 2.
        c.cwnd = 80.0 * MSS as f64;
        c.on_congestion_event(Instant::ZERO, 80 * MSS, MSS);
        assert!((c.w_max() - 80.0 * 1.7 / 2.0).abs() < 1e-9, "{}", c.w_max());
        assert_eq!(c.ssthresh(), 56 * MSS);
        // A loss above the maximum just records it.
        c.cwnd = 90.0 * MSS as f64;
        c.on_congestion_event(Instant::ZERO, 90 * MSS, MSS);
        assert_eq!(c.w_max(), 90.0);
    }

    #[test]
    fn timeout_restarts_slow_start_to_the_reduced_threshold() {
        let mut c = after_loss_at(100);
        c.on_rto(Instant::ZERO, 70 * MSS, MSS);
        assert_eq!(c.window(), MSS);
        assert_eq!(c.ssthresh(), 49 * MSS, "0.7 of the 70-segment window");
        let mut now = Instant::ZERO;
        while c.in_slow_start() {
            now += Duration::from_millis(1);
            c.on_ack(&sample(now, MSS, 10));
        }
        assert_eq!(c.window(), 49 * MSS, "slow start stops at ssthresh");
        c.undo();
        assert!(c.window() >= 70 * MSS, "undo restores the pre-timeout window");
    }

    #[test]
    fn no_growth_when_application_limited() {
        let mut c = after_loss_at(100);
        let before = c.window();
        c.on_ack(&AckSample { cwnd_limited: false, ..sample(Instant::from_millis(500), MSS, 10) });
        assert_eq!(c.window(), before);
    }
}
