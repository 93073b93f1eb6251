//! Retransmission timeout estimation (RFC 6298) with exponential backoff.
//!
//! Karn's rule (RFC 6298 §3) is the caller's job: it only feeds samples from segments that were
//! never retransmitted, or echoed timestamps (RFC 7323 §4.1), which are unambiguous.
//!
//! The estimate ([`RtoState`]) and the limits it is kept within ([`RtoLimits`]) are apart:
//! a TCP connection keeps the estimate among the parts every segment touches and derives the
//! limits from its configuration, which it shares with every other connection (one line for
//! all of them, always in the cache), instead of a copy of them in each connection's hot
//! lines. [`RtoEstimator`] holds both, for an owner with no such configuration at hand
//! (RUDP).

use crate::time::Duration;

use super::SeqNumber;

/// The limits an RTO is kept within: the minimum, the maximum and the clock granularity as
/// configured, applied in whole microseconds (`u32`, up to 71 minutes: a longer maximum
/// saturates there), as while the estimator held copies of them in that form. Converted
/// where used, not when made: a TCP connection makes these from its shared configuration
/// for each use, and most uses need none of them (`RtoState::rto` after a sample) or one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RtoLimits {
    min: Duration,
    max: Duration,
    granularity: Duration,
}

impl RtoLimits {
    /// The limits for a minimum RTO `min`, a maximum `max` and a clock granularity `G`
    /// (RFC 6298 §2.4, §2.5 and §4).
    #[inline(always)]
    pub fn new(min: Duration, max: Duration, granularity: Duration) -> Self {
        RtoLimits { min, max, granularity }
    }

    /// The least RTO and the least variance term: the minimum, at least `G`.
    #[inline(always)]
    fn var_floor_us(self) -> u32 {
        Duration::micros_u32(self.min.max(self.granularity))
    }

    #[inline(always)]
    fn var_floor(self) -> Duration {
        Duration::from_micros(u64::from(self.var_floor_us()))
    }

    /// The largest RTO.
    #[inline(always)]
    fn max(self) -> Duration {
        Duration::from_micros(u64::from(Duration::micros_u32(self.max)))
    }
}

/// The RFC 6298 estimator with its limits, for an owner that keeps both (RUDP).
#[derive(Clone, Copy, Debug)]
pub struct RtoEstimator {
    state: RtoState,
    limits: RtoLimits,
}

impl RtoEstimator {
    /// An estimator before any sample: RTO = `initial` (RFC 6298 §2.1).
    pub fn new(initial: Duration, min: Duration, max: Duration, granularity: Duration) -> Self {
        RtoEstimator {
            state: RtoState::new(initial, min, max, ()),
            limits: RtoLimits::new(min, max, granularity),
        }
    }

    /// [`RtoState::sample_per_round`] within these limits.
    pub fn sample_per_round(&mut self, r: Duration, una: SeqNumber, nxt: SeqNumber) {
        self.state.sample_per_round(r, una, nxt, self.limits);
    }

    /// [`RtoState::sample`] within these limits.
    pub fn sample(&mut self, r: Duration) {
        self.state.sample(r, self.limits);
    }

    /// [`RtoState::syn_loss_fallback`] within these limits.
    pub fn syn_loss_fallback(&mut self, fallback: Duration) {
        self.state.syn_loss_fallback(fallback, self.limits);
    }

    /// The timer expired: double the RTO (RFC 6298 §5.5), up to the maximum.
    pub fn back_off(&mut self) {
        self.state.back_off();
    }

    /// Forgets the backoff (new data acknowledged, RFC 6298 §5.7 spirit).
    pub fn reset_backoff(&mut self) {
        self.state.reset_backoff();
    }

    /// The RTO to arm the timer with, backoff included.
    pub fn rto(&self) -> Duration {
        self.state.rto(self.limits)
    }

    /// The RTO without backoff.
    pub fn base_rto(&self) -> Duration {
        self.state.base_rto()
    }

    /// Smoothed RTT, once a sample has been taken.
    pub fn srtt(&self) -> Option<Duration> {
        self.state.srtt()
    }

    /// RTT variance.
    pub fn rttvar(&self) -> Duration {
        self.state.rttvar()
    }

    /// Number of consecutive backoffs.
    pub fn backoff(&self) -> u32 {
        self.state.backoff()
    }
}

/// The RFC 6298 estimate: smoothed RTT, RTT variance and the resulting RTO, kept within
/// [`RtoLimits`] the caller passes. `owner` is the owner's own (TCP: `tcb::RtxTail`, two
/// bytes), in what would be the estimate's padding.
///
/// The times are 32-bit, as Linux keeps them (`srtt_us`, `mdev_us`, `icsk_rto`): SRTT in
/// eighths of a microsecond (up to 536 s), the variance in quarters (1,073 s), the RTO in
/// microseconds (71 minutes, as far as [`RtoLimits`] reach). Linux's update
/// ([`sample_per_round`](Self::sample_per_round)) steps them as Linux does, in integers; RFC
/// 6298's ([`sample`](Self::sample)) computes in nanoseconds from them and stores the result
/// rounded down. So the estimate is 28 bytes,
/// 4-byte aligned, where three `Duration`s made it 40, 8-byte aligned: among the parts every
/// segment touches, 12 bytes less of a connection's hot run (docs/benchmarks.md, "Eight
/// lines to seven").
#[derive(Clone, Copy, Debug)]
pub struct RtoState<X = ()> {
    /// SRTT in eighths of a microsecond; meaningful once `has_srtt`, zero until then (only
    /// a sample sets it).
    srtt_8us: u32,
    /// RTTVAR in quarters of a microsecond.
    rttvar_4us: u32,
    /// The RTO before backoff, in microseconds.
    rto_us: u32,
    /// A byte, as Linux's `icsk_backoff`: the RTO stops doubling long before 255.
    backoff: u8,
    has_srtt: bool,
    /// Linux's variance term, used by [`sample_per_round`](Self::sample_per_round) (TCP).
    round: RoundVariance,
    /// The owner's bytes, in what would be the estimate's padding.
    pub owner: X,
}

/// Linux's RTO variance term (`tcp_rtt_estimator`, `__tcp_set_rto`): RTO = SRTT + `rttvar`,
/// where `rttvar` is at least the minimum RTO and follows the largest deviation of each round
/// trip (`mdev_max`), rising at once and falling by a quarter of the gap per round trip. So the
/// minimum bounds the variance term, not the whole RTO: RFC 6298's `max(SRTT + 4·RTTVAR, min)`
/// fires earlier than Linux on paths with RTTs near the minimum. Microseconds, as in Linux.
#[derive(Clone, Copy, Debug, Default)]
struct RoundVariance {
    /// The largest `4·RTTVAR` seen in this round trip (at least the minimum RTO).
    mdev_max_us: u32,
    /// The variance term of the RTO.
    rttvar_us: u32,
    /// The round trip ends when SND.UNA passes this (SND.NXT when it began).
    rtt_seq: SeqNumber,
}

impl<X> RtoState<X> {
    /// An estimate before any sample: RTO = `initial` (RFC 6298 §2.1), at least `min` and at
    /// most `max`.
    pub fn new(initial: Duration, min: Duration, max: Duration, owner: X) -> Self {
        RtoState {
            srtt_8us: 0,
            rttvar_4us: 0,
            rto_us: Duration::micros_u32(initial.max(min).min(max)),
            backoff: 0,
            has_srtt: false,
            round: RoundVariance::default(),
            owner,
        }
    }

    /// Feeds one RTT measurement the way Linux's TCP does (`tcp_rtt_estimator` and
    /// `__tcp_set_rto`), in its integer arithmetic on whole microseconds: SRTT as RFC 6298;
    /// the deviation grows eight times slower on samples below SRTT (Linux's Eifel-like
    /// damping); and the RTO is SRTT plus a variance term of at least the minimum, kept per
    /// round trip ([`RoundVariance`]). `una` is SND.UNA after the ACK that gave the sample,
    /// `nxt` SND.NXT. Ends any backoff, as [`sample`](Self::sample) does.
    ///
    /// The sample is taken in whole microseconds, rounded down (Linux's `tcp_clock_us`
    /// stamps), and the fields are Linux's own: `srtt_8us` is `srtt_us` (SRTT << 3),
    /// `rttvar_4us` is `mdev_us` (4·RTTVAR), so every value after every sample is the one
    /// Linux would hold (`tests::per_round_update_is_linuxs`), up to two differences at the
    /// edges: a value past `u32::MAX` saturates where Linux's would wrap (an SRTT past 536 s),
    /// and a sample past 71 minutes counts as 71 minutes. Integer steps on the stored fields,
    /// with no trip through nanoseconds and back: about 6 instructions fewer a request on
    /// each side of `load_count` than the nanosecond form this replaced (docs/benchmarks.md,
    /// "A client's slot named by its port, and the RTT estimator in Linux's own
    /// arithmetic").
    ///
    /// Always inlined: nearly every ACK of new data carries a sample (an echoed timestamp),
    /// and as a call the registers its caller keeps live were saved and restored around it
    /// (docs/benchmarks.md, "branch ack").
    #[inline(always)]
    pub fn sample_per_round(
        &mut self,
        r: Duration,
        una: SeqNumber,
        nxt: SeqNumber,
        limits: RtoLimits,
    ) {
        // Linux's `long m`. Every value below is in 0..=2^35 or its negation, so i64 holds
        // each step exactly.
        let m = i64::from(r.micros_u32());
        let to_u32 = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
        if self.has_srtt {
            let srtt = i64::from(self.srtt_8us);
            let mdev = i64::from(self.rttvar_4us);
            let err = m - (srtt >> 3);
            // mdev = 3/4 mdev + 1/4 |err|, with the rise damped eight times on a sample
            // below SRTT: `m` below is `|err| - mdev/4` (at least `-mdev/4`, so neither sum
            // goes below zero: SRTT's is `7/8 srtt + sample`).
            let mut m = err.abs() - (mdev >> 2);
            if err < 0 && m > 0 {
                m >>= 3;
            }
            // Linux's `max(1U, srtt)` needs no test here: SRTT is at least 1 (the first
            // sample's step ensures it), and `srtt - srtt / 8` of at least 1 is at least 1.
            self.srtt_8us = to_u32(srtt + err);
            self.rttvar_4us = to_u32(mdev + m);
            let mdev_us = self.rttvar_4us;
            let round = &mut self.round;
            if mdev_us > round.mdev_max_us {
                round.mdev_max_us = mdev_us;
                round.rttvar_us = round.rttvar_us.max(mdev_us);
            }
            if una > round.rtt_seq {
                if round.mdev_max_us < round.rttvar_us {
                    round.rttvar_us -= (round.rttvar_us - round.mdev_max_us) >> 2;
                }
                round.rtt_seq = nxt;
                round.mdev_max_us = limits.var_floor_us();
            }
        } else {
            // The first measurement: SRTT = R, mdev = 2R (RTO = 3R before the floor).
            self.srtt_8us = to_u32(m << 3).max(1);
            self.rttvar_4us = to_u32(m << 1);
            self.has_srtt = true;
            let rttvar_us = self.rttvar_4us.max(limits.var_floor_us());
            self.round = RoundVariance { mdev_max_us: rttvar_us, rttvar_us, rtt_seq: nxt };
        }
        // RTO = SRTT + the variance term, at most the maximum. At least the floor too, with no
        // test: the term is (`rttvar_us` is at least `mdev_max_us` after any step, which is
        // at least the floor: both start at or above it, the one falls by a quarter of its
        // gap to the other, the other is reset to the floor), and the sum saturates.
        // Linux's `__tcp_set_rto` has no floor test either. That holds for an estimate fed by
        // this method alone, under limits that never change (TCP's come from its
        // configuration, where no socket option changes them).
        debug_assert!(
            self.round.rttvar_us >= limits.var_floor_us(),
            "the variance term is at least the floor"
        );
        let rto = (self.srtt_8us >> 3).saturating_add(self.round.rttvar_us);
        self.rto_us = rto.min(Duration::micros_u32(limits.max));
        self.backoff = 0;
    }

    /// Feeds one RTT measurement `r` (RFC 6298 §2.2 and §2.3). Also ends any backoff: a fresh
    /// sample means the path answers again.
    pub fn sample(&mut self, r: Duration, limits: RtoLimits) {
        match self.srtt() {
            None => {
                self.set_srtt(r);
                self.has_srtt = true;
                self.set_rttvar(Duration::from_nanos(r.total_nanos() / 2));
            }
            Some(srtt) => {
                // RTTVAR <- 3/4 RTTVAR + 1/4 |SRTT - R'|, then SRTT <- 7/8 SRTT + 1/8 R'.
                let err = if srtt > r { srtt - r } else { r - srtt };
                let var = self.rttvar().total_nanos();
                self.set_rttvar(Duration::from_nanos(
                    3u64.saturating_mul(var).saturating_add(err.total_nanos()) / 4,
                ));
                self.set_srtt(Duration::from_nanos(
                    7u64.saturating_mul(srtt.total_nanos()).saturating_add(r.total_nanos()) / 8,
                ));
            }
        }
        let srtt = self.srtt_stored();
        // RTO <- SRTT + K*RTTVAR, K = 4, at least the minimum (which is at least G), at most
        // the maximum (§2.3-§2.5).
        let rto = (srtt + self.rttvar().saturating_mul(4)).max(limits.var_floor());
        self.rto_us = Duration::micros_u32(rto.min(limits.max()));
        self.backoff = 0;
    }

    /// RFC 6298 §5.7: the SYN (or SYN-ACK) had to be retransmitted and no RTT sample exists,
    /// so data transfer starts with an RTO of at least `fallback` (3 s).
    pub fn syn_loss_fallback(&mut self, fallback: Duration, limits: RtoLimits) {
        if !self.has_srtt {
            self.rto_us = Duration::micros_u32(self.base_rto().max(fallback).min(limits.max()));
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
    ///
    /// Without backoff (every RTO armed after an ACK that acknowledged new data, which ends
    /// it) the factor is one: the same value without the shift and the overflow-checked
    /// multiply (`tests::rto_without_backoff_skips_the_factor`).
    #[inline]
    ///
    /// Once a sample was taken, the RTO is within the maximum already: each sample clamped it
    /// (the back-off changes only the factor), and the maximum is not read at all
    /// (`tests::rto_without_backoff_skips_the_factor` compares with the clamp).
    pub fn rto(&self, limits: RtoLimits) -> Duration {
        let rto = self.base_rto();
        if self.backoff == 0 {
            if self.has_srtt {
                return rto;
            }
            return rto.min(limits.max());
        }
        let factor = 1u64 << self.backoff.min(20);
        rto.saturating_mul(factor).min(limits.max())
    }

    /// The RTO without backoff.
    #[inline]
    pub fn base_rto(&self) -> Duration {
        Duration::from_micros(u64::from(self.rto_us))
    }

    /// Smoothed RTT, once a sample has been taken.
    #[inline]
    pub fn srtt(&self) -> Option<Duration> {
        self.has_srtt.then(|| self.srtt_stored())
    }

    /// Smoothed RTT, zero before the first sample (the stored value as it is, which is zero
    /// until a sample sets it: the wheel's horizon asks for it on every settle).
    #[inline]
    pub fn srtt_or_zero(&self) -> Duration {
        debug_assert!(self.has_srtt || self.srtt_8us == 0);
        self.srtt_stored()
    }

    /// RTT variance.
    #[inline]
    pub fn rttvar(&self) -> Duration {
        Duration::from_nanos(u64::from(self.rttvar_4us) * 250)
    }

    /// SRTT as stored (whether or not a sample was taken).
    #[inline]
    fn srtt_stored(&self) -> Duration {
        Duration::from_nanos(u64::from(self.srtt_8us) * 125)
    }

    /// Stores `srtt` in eighths of a microsecond, rounded down, saturating.
    #[inline]
    fn set_srtt(&mut self, srtt: Duration) {
        self.srtt_8us = (srtt.total_nanos() / 125).min(u64::from(u32::MAX)) as u32;
    }

    /// Stores `rttvar` in quarters of a microsecond, rounded down, saturating.
    #[inline]
    fn set_rttvar(&mut self, rttvar: Duration) {
        self.rttvar_4us = (rttvar.total_nanos() / 250).min(u64::from(u32::MAX)) as u32;
    }

    /// Number of consecutive backoffs.
    pub fn backoff(&self) -> u32 {
        u32::from(self.backoff)
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

    /// The per-round RTO with the floor applied, as it was before `sample_per_round` left
    /// the test out, in whole microseconds as stored.
    fn floored_rto(e: &RtoEstimator) -> Duration {
        let var = Duration::from_micros(u64::from(e.state.round.rttvar_us));
        let rto = (e.state.srtt_stored() + var).max(e.limits.var_floor()).min(e.limits.max());
        Duration::from_micros(u64::from(Duration::micros_u32(rto)))
    }

    /// Linux's `tcp_rtt_estimator` with `__tcp_set_rto` and `tcp_bound_rto`
    /// (net/ipv4/tcp_input.c, tcp_output.c), transcribed as they read, on fields of its own:
    /// `srtt_us == 0` means no sample yet. The one intended difference: a store that would
    /// wrap Linux's `u32` saturates.
    #[derive(Debug, Default)]
    struct Linux {
        srtt_us: u32,
        mdev_us: u32,
        mdev_max_us: u32,
        rttvar_us: u32,
        rtt_seq: SeqNumber,
        rto_us: u32,
    }

    impl Linux {
        fn tcp_rtt_estimator(&mut self, mrtt_us: i64, una: SeqNumber, nxt: SeqNumber, min: u32) {
            let store = |v: i64| v.clamp(0, i64::from(u32::MAX)) as u32;
            let mut m = mrtt_us;
            let mut srtt = i64::from(self.srtt_us);
            if srtt != 0 {
                m -= srtt >> 3;
                srtt += m;
                if m < 0 {
                    m = -m;
                    m -= i64::from(self.mdev_us >> 2);
                    if m > 0 {
                        m >>= 3;
                    }
                } else {
                    m -= i64::from(self.mdev_us >> 2);
                }
                self.mdev_us = store(i64::from(self.mdev_us) + m);
                if self.mdev_us > self.mdev_max_us {
                    self.mdev_max_us = self.mdev_us;
                    if self.mdev_max_us > self.rttvar_us {
                        self.rttvar_us = self.mdev_max_us;
                    }
                }
                if una > self.rtt_seq {
                    if self.mdev_max_us < self.rttvar_us {
                        self.rttvar_us -= (self.rttvar_us - self.mdev_max_us) >> 2;
                    }
                    self.rtt_seq = nxt;
                    self.mdev_max_us = min;
                }
            } else {
                srtt = m << 3;
                self.mdev_us = store(m << 1);
                self.rttvar_us = self.mdev_us.max(min);
                self.mdev_max_us = self.rttvar_us;
                self.rtt_seq = nxt;
            }
            self.srtt_us = store(srtt).max(1);
        }

        fn tcp_set_rto(&mut self, max: u32) {
            let rto = u64::from(self.srtt_us >> 3) + u64::from(self.rttvar_us);
            self.rto_us = rto.min(u64::from(max)) as u32;
        }
    }

    proptest::proptest! {
        /// After every sample the estimate holds what Linux's would: SRTT, the deviation, the
        /// round's largest deviation and variance term, the round's end and the RTO, for
        /// samples in and out of a round trip, extremes included (zero, sub-microsecond, past
        /// the 71 minutes a microsecond count holds, `u64::MAX` nanoseconds).
        #[test]
        fn per_round_update_is_linuxs(
            samples in proptest::collection::vec(
                (
                    proptest::prop_oneof![
                        0u64..2_000_000_000,
                        0u64..2_000,
                        proptest::strategy::Just(0u64),
                        proptest::strategy::Just(u64::from(u32::MAX) * 1000),
                        (u64::from(u32::MAX) * 1000)..=u64::MAX,
                    ],
                    0u32..3,
                ),
                1..60,
            )
        ) {
            let mut e = est();
            let mut linux = Linux::default();
            let (min, max) = (200_000, 120_000_000);
            let (mut una, mut nxt) = (seq(1), seq(1001));
            for &(r, step) in &samples {
                // 0: the ACK stays within the round trip; 1: it ends it; 2: more was sent.
                match step {
                    0 => {}
                    1 => una = nxt,
                    _ => nxt += 1000u32,
                }
                let r = Duration::from_nanos(r);
                e.sample_per_round(r, una, nxt);
                linux.tcp_rtt_estimator(i64::from(r.micros_u32()), una, nxt, min);
                linux.tcp_set_rto(max);
                let s = &e.state;
                proptest::prop_assert_eq!(
                    (s.srtt_8us, s.rttvar_4us, s.round.mdev_max_us, s.round.rttvar_us),
                    (linux.srtt_us, linux.mdev_us, linux.mdev_max_us, linux.rttvar_us),
                    "sample {:?}", r
                );
                proptest::prop_assert_eq!(s.round.rtt_seq, linux.rtt_seq);
                proptest::prop_assert_eq!(s.rto_us, linux.rto_us);
                proptest::prop_assert_eq!(e.rto(), Duration::from_micros(u64::from(linux.rto_us)));
                proptest::prop_assert_eq!(e.state.base_rto(), floored_rto(&e));
            }
        }
    }

    /// Linux's truncations, worked by hand: the sample rounds down to the microsecond, SRTT
    /// keeps eighths, the deviation quarters, and a small negative deviation step is not
    /// damped (only a positive `|err| - mdev/4` is divided by eight).
    #[test]
    fn integer_steps_round_as_linux_does() {
        let mut e = est();
        e.sample_per_round(Duration::from_nanos(1_001_999), seq(1), seq(1001));
        // srtt_us = 1001 << 3, mdev_us = 1001 << 1, variance term the 200 ms floor.
        assert_eq!((e.state.srtt_8us, e.state.rttvar_4us), (8008, 2002));
        assert_eq!(e.rto(), Duration::from_micros(1001 + 200_000));
        e.sample_per_round(Duration::from_micros(1500), seq(1), seq(1001));
        // err = 1500 - 1001 = 499: srtt_us 8507; m = 499 - 2002 / 4 = -1: mdev_us 2001 (the
        // nanosecond form kept 500.125 us of variance here, Linux 500.25).
        assert_eq!((e.state.srtt_8us, e.state.rttvar_4us), (8507, 2001));
        assert_eq!(e.rttvar(), Duration::from_nanos(500_250));
        assert_eq!(e.rto(), Duration::from_micros(1063 + 200_000));
        e.sample_per_round(Duration::from_nanos(999_999), seq(1), seq(1001));
        // err = 999 - 1063 = -64: srtt_us 8443; m = 64 - 500 = -436, not damped: mdev_us 1565.
        assert_eq!((e.state.srtt_8us, e.state.rttvar_4us), (8443, 1565));
        // A zero sample on a zero estimate: SRTT kept at one eighth, as Linux's `max(1U, srtt)`.
        let mut e = est();
        e.sample_per_round(Duration::ZERO, seq(1), seq(2));
        assert_eq!((e.state.srtt_8us, e.state.rttvar_4us), (1, 0));
        assert_eq!(e.rto(), Duration::from_millis(200));
    }

    /// `rto()` as it reads without the no-backoff shortcut.
    fn rto_with_factor(e: &RtoEstimator) -> Duration {
        let factor = 1u64 << e.state.backoff.min(20);
        e.state.base_rto().saturating_mul(factor).min(e.limits.max())
    }

    proptest::proptest! {
        /// The no-backoff shortcut of `rto()` gives what the factor gives, for any limits
        /// (a maximum past the 71 minutes the microsecond field holds, and sub-microsecond
        /// ones, included), samples and backoff.
        #[test]
        fn rto_without_backoff_skips_the_factor(
            initial in 0u64..10_000_000_000_000,
            min in 0u64..2_000_000_000,
            max in proptest::prop_oneof![
                0u64..200_000_000_000,
                (u64::from(u32::MAX) * 1000 - 5_000)..(u64::from(u32::MAX) * 1000 + 5_000),
                proptest::strategy::Just(u64::MAX),
            ],
            samples in proptest::collection::vec(0u64..5_000_000_000, 0..6),
            backoffs in 0u8..30,
            granularity in 0u64..3_000_000,
        ) {
            let ns = Duration::from_nanos;
            let mut e = RtoEstimator::new(ns(initial), ns(min), ns(max), ns(granularity));
            proptest::prop_assert_eq!(e.rto(), rto_with_factor(&e));
            for (k, &r) in samples.iter().enumerate() {
                e.sample_per_round(ns(r), seq(1 + k as u32), seq(2 + k as u32));
                proptest::prop_assert_eq!(e.state.base_rto(), floored_rto(&e));
                proptest::prop_assert_eq!(e.rto(), rto_with_factor(&e));
            }
            e.syn_loss_fallback(Duration::from_secs(3));
            proptest::prop_assert_eq!(e.rto(), rto_with_factor(&e));
            for _ in 0..backoffs {
                e.back_off();
                proptest::prop_assert_eq!(e.rto(), rto_with_factor(&e));
            }
            e.reset_backoff();
            proptest::prop_assert_eq!(e.rto(), rto_with_factor(&e));
        }
    }

    /// The estimate with two bytes of its owner's is 28 bytes, 4-byte aligned: the owner's
    /// bytes take the padding (TCP's `Retransmit` is this and nothing else).
    #[test]
    fn the_owner_bytes_fill_the_padding() {
        assert_eq!(core::mem::size_of::<RtoState<[u8; 2]>>(), 28);
        assert_eq!(core::mem::size_of::<RtoState>(), 28);
        assert_eq!(core::mem::align_of::<RtoState<[u8; 2]>>(), 4);
    }

    /// Times are kept to an eighth (SRTT) and a quarter (the variance) of a microsecond, and
    /// saturate rather than wrap: a sample beyond SRTT's 536 s leaves the RTO at the maximum.
    #[test]
    fn stored_times_round_down_and_saturate() {
        let mut e = est();
        e.sample(Duration::from_nanos(1_000_199));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(1_000_125)));
        assert_eq!(e.rttvar(), Duration::from_nanos(500_000));
        let mut e = est();
        e.sample_per_round(Duration::from_secs(10_000), seq(1), seq(2));
        assert_eq!(e.srtt(), Some(Duration::from_nanos(u64::from(u32::MAX) * 125)));
        assert_eq!(e.rto(), Duration::from_secs(120));
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

    fn seq(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn per_round_rto_adds_the_minimum_to_srtt() {
        let mut e = est();
        // First sample 10 ms: SRTT 10, variance term max(2·10, 200) = 200, RTO 210 ms (RFC
        // 6298 would say max(10 + 20, 200) = 200).
        e.sample_per_round(Duration::from_millis(10), seq(1), seq(1001));
        assert_eq!(e.rto(), Duration::from_millis(210));
        assert_eq!(e.rttvar(), Duration::from_millis(5));
        // Same RTT for rounds on end: the deviation decays, the variance term stays at 200.
        for k in 1..20u32 {
            e.sample_per_round(Duration::from_millis(10), seq(1 + 1000 * k), seq(1001 + 1000 * k));
        }
        assert_eq!(e.srtt(), Some(Duration::from_millis(10)));
        assert_eq!(e.rto(), Duration::from_millis(210));
        // A 1 s outlier: the deviation jumps, and with it the variance term, at once.
        e.sample_per_round(Duration::from_secs(1), seq(30_000), seq(31_000));
        let high = e.rto();
        assert!(high > Duration::from_millis(900), "{high:?}");
        // Back to 10 ms: within the round trip nothing falls below the round's largest
        // deviation; then each round takes a quarter of the gap away.
        e.sample_per_round(Duration::from_millis(10), seq(30_500), seq(31_000));
        assert!(e.rto() >= high - Duration::from_millis(130), "{:?}", e.rto());
        for k in 0..40u32 {
            e.sample_per_round(
                Duration::from_millis(10),
                seq(31_001 + k * 1000),
                seq(32_000 + k * 1000),
            );
        }
        assert!(e.rto() < Duration::from_millis(260), "{:?}", e.rto());
        assert!(e.rto() >= Duration::from_millis(210));
    }

    #[test]
    fn per_round_deviation_grows_slowly_on_faster_samples() {
        let mut e = est();
        e.sample_per_round(Duration::from_millis(100), seq(1), seq(2));
        // A sample 80 ms under SRTT: |err| - RTTVAR = 30 ms grows RTTVAR by 30/8/4 ms, not 30/4.
        e.sample_per_round(Duration::from_millis(20), seq(1), seq(2));
        assert_eq!(e.rttvar(), Duration::from_nanos(50_937_500));
        assert_eq!(e.srtt(), Some(Duration::from_millis(90)));
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
