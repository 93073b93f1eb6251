//! Retransmission timeout estimation (RFC 6298) with exponential backoff.
//!
//! Karn's rule (RFC 6298 §3) is the caller's job: it only feeds samples from segments that were
//! never retransmitted, or echoed timestamps (RFC 7323 §4.1), which are unambiguous.

use crate::time::Duration;

/// The RFC 6298 estimator: smoothed RTT, RTT variance and the resulting RTO.
#[derive(Clone, Copy, Debug)]
pub struct RtoEstimator {
    /// Meaningful once `has_srtt` (kept apart from an `Option` to save a connection 8 bytes).
    srtt: Duration,
    rttvar: Duration,
    rto: Duration,
    /// The least RTO: the minimum, and at least the clock granularity `G`.
    var_floor: Duration,
    max: Duration,
    backoff: u32,
    has_srtt: bool,
}

impl RtoEstimator {
    /// An estimator before any sample: RTO = `initial` (RFC 6298 §2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration, granularity: Duration) -> Self {
        RtoEstimator {
            srtt: Duration::ZERO,
            rttvar: Duration::ZERO,
            rto: initial.max(min).min(max),
            var_floor: min.max(granularity),
            max,
            backoff: 0,
            has_srtt: false,
        }
    }

    /// Feeds one RTT measurement `r` (RFC 6298 §2.2 and §2.3). Also ends any backoff: a fresh
    /// sample means the path answers again.
    pub fn sample(&mut self, r: Duration) {
        match self.srtt() {
            None => {
                self.srtt = r;
                self.has_srtt = true;
                self.rttvar = Duration::from_nanos(r.total_nanos() / 2);
            }
            Some(srtt) => {
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'.
                let err = if srtt > r { srtt - r } else { r - srtt };
                self.rttvar =
                    Duration::from_nanos((3 * self.rttvar.total_nanos() + err.total_nanos()) / 4);
                self.srtt = Duration::from_nanos((7 * srtt.total_nanos() + r.total_nanos()) / 8);
            }
        }
        let srtt = self.srtt;
        // RTO <- SRTT + K*RTTVAR, K = 4, at least the minimum (which is at least G), at most
        // the maximum (§2.3-§2.5).
        self.rto = (srtt + self.rttvar.saturating_mul(4)).max(self.var_floor).min(self.max);
        self.backoff = 0;
    }

    /// RFC 6298 §5.7: the SYN (or SYN-ACK) had to be retransmitted and no RTT sample exists,
    /// so data transfer starts with an RTO of at least `fallback` (3 s).
    pub fn syn_loss_fallback(&mut self, fallback: Duration) {
        if !self.has_srtt {
            self.rto = self.rto.max(fallback).min(self.max);
        }
    }

    /// The timer expired: double the RTO (RFC 6298 §5.5), up to the maximum.
    pub fn back_off(&mut self) {
        self.backoff = self.backoff.saturating_add(1);
    }

    /// Forgets the backoff (new data acknowledged, RFC 6298 §5.7 spirit).
    pub fn reset_backoff(&mut self) {
        self.backoff = 0;
    }

    /// The RTO to arm the timer with, backoff included.
    pub fn rto(&self) -> Duration {
        let factor = 1u64 << self.backoff.min(20);
        self.rto.saturating_mul(factor).min(self.max)
    }

    /// The RTO without backoff.
    pub fn base_rto(&self) -> Duration {
        self.rto
    }

    /// Smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.has_srtt.then_some(self.srtt)
    }

    /// RTT variance.
    pub fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// Number of consecutive backoffs.
    pub fn backoff(&self) -> u32 {
        self.backoff
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn est() -> RtoEstimator {
        RtoEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(120),
            Duration::from_millis(1),
        )
    }

    #[test]
    fn first_and_second_sample() {
        let mut e = est();
        assert_eq!(e.rto(), Duration::from_secs(1));
        e.sample(Duration::from_millis(100));
        // SRTT 100, RTTVAR 50, RTO = 100 + 200 = 300 ms.
        assert_eq!(e.srtt(), Some(Duration::from_millis(100)));
        assert_eq!(e.rto(), Duration::from_millis(300));
        e.sample(Duration::from_millis(200));
        // RTTVAR = 3/4*50 + 1/4*100 = 62.5; SRTT = 7/8*100 + 1/8*200 = 112.5
        assert_eq!(e.rttvar(), Duration::from_micros(62_500));
        assert_eq!(e.srtt(), Some(Duration::from_micros(112_500)));
        assert_eq!(e.rto(), Duration::from_micros(362_500));
    }

    #[test]
    fn min_clamp_and_backoff_to_max() {
        let mut e = est();
        e.sample(Duration::from_millis(1));
        assert_eq!(e.rto(), Duration::from_millis(200));
        e.back_off();
        e.back_off();
        assert_eq!(e.rto(), Duration::from_millis(800));
        for _ in 0..30 {
            e.back_off();
        }
        assert_eq!(e.rto(), Duration::from_secs(120));
        e.sample(Duration::from_millis(1));
        assert_eq!(e.backoff(), 0);
    }
}
