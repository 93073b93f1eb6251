//! A token bucket in integer virtual time, used to rate-limit ICMP errors.
//!
//! RFC 1812 §4.3.2.8 and RFC 1122 §3.2.2 ask that ICMP error generation be rate-limited so a
//! flood of bad packets cannot turn the host into an amplifier. Linux's `icmp_ratelimit` /
//! `icmp_msgs_per_sec` / `icmp_msgs_burst` is a token bucket; so is this one. Credit is kept in
//! nanoseconds (one token costs `1e9 / rate` ns), so refill is exact integer arithmetic driven by
//! the caller's `now` and two runs with the same inputs give the same answers.

use crate::time::Instant;

/// Token bucket: `rate` tokens per second, at most `burst` tokens stored. Starts full.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    /// Nanoseconds of credit one token costs; 0 means unlimited.
    cost: u64,
    /// Ceiling of `credit`: `burst * cost`.
    cap: u64,
    credit: u64,
    last: Option<Instant>,
}

impl TokenBucket {
    /// A bucket refilling `rate` tokens per second up to `burst`. `rate == 0` disables the limit;
    /// `burst == 0` (with a nonzero rate) refuses everything.
    pub fn new(rate: u32, burst: u32) -> Self {
        let cost = if rate == 0 { 0 } else { 1_000_000_000 / u64::from(rate) };
        let cap = cost.saturating_mul(u64::from(burst));
        TokenBucket { cost, cap, credit: cap, last: None }
    }

    /// Takes one token if one is available at `now`. Time going backwards refills nothing.
    pub fn try_take(&mut self, now: Instant) -> bool {
        if self.cost == 0 {
            return true;
        }
        if let Some(last) = self.last {
            let elapsed = now.saturating_duration_since(last).total_nanos();
            self.credit = self.credit.saturating_add(elapsed).min(self.cap);
        }
        match self.last {
            Some(last) if last >= now => {}
            _ => self.last = Some(now),
        }
        if self.credit >= self.cost {
            self.credit -= self.cost;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    #[test]
    fn burst_then_refill() {
        let mut b = TokenBucket::new(1000, 5);
        let t0 = Instant::from_millis(10);
        let granted = (0..20).filter(|_| b.try_take(t0)).count();
        assert_eq!(granted, 5);
        // 1000/s: one token per millisecond.
        assert!(!b.try_take(t0 + Duration::from_micros(999)));
        assert!(b.try_take(t0 + Duration::from_millis(1)));
        assert!(!b.try_take(t0 + Duration::from_millis(1)));
        // A long pause refills to the burst, no more.
        let t1 = t0 + Duration::from_secs(10);
        assert_eq!((0..20).filter(|_| b.try_take(t1)).count(), 5);
    }

    #[test]
    fn zero_rate_is_unlimited_and_zero_burst_refuses() {
        let mut u = TokenBucket::new(0, 0);
        assert!((0..100).all(|_| u.try_take(Instant::ZERO)));
        let mut z = TokenBucket::new(10, 0);
        assert!(!z.try_take(Instant::from_millis(5000)));
    }
}
