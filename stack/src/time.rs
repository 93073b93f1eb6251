//! The stack's own notion of time.
//!
//! The stack never reads a clock. The caller passes `now` into every input, output and timer
//! call as an [`Instant`]: nanoseconds since an arbitrary epoch chosen by the caller (the driver
//! uses a monotonic clock, the simulator uses virtual time).

use core::fmt;
use core::num::NonZeroU64;
use core::ops::{Add, AddAssign, Sub, SubAssign};

/// A point in time, in nanoseconds since an epoch chosen by the caller, up to
/// [`Instant::MAX`] (`u64::MAX - 1` ns, some 584 years).
///
/// Stored as the nanoseconds plus one in a `NonZeroU64`, so that `Option<Instant>` is 8 bytes
/// rather than 16: a connection keeps about a dozen optional deadlines, and on the
/// per-segment path they are read together (`Connection::poll_timeout` folds them), so their
/// size is cache lines touched per segment at 100,000 connections (docs/benchmarks.md,
/// "Connection hot and cold"). The one value given up is `u64::MAX` ns, which saturates to
/// [`Instant::MAX`] as an addition past it always did.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant {
    /// Nanoseconds since the epoch, plus one.
    nanos_plus_one: NonZeroU64,
}

impl Default for Instant {
    fn default() -> Self {
        Instant::ZERO
    }
}

impl Instant {
    /// The epoch itself.
    pub const ZERO: Instant = Instant::from_nanos(0);

    /// The latest instant there is: `u64::MAX - 1` nanoseconds after the epoch.
    pub const MAX: Instant = Instant::from_nanos(u64::MAX - 1);

    /// An instant `nanos` nanoseconds after the epoch ([`Instant::MAX`] if `nanos` is
    /// `u64::MAX`).
    pub const fn from_nanos(nanos: u64) -> Self {
        match NonZeroU64::new(nanos.saturating_add(1)) {
            Some(nanos_plus_one) => Instant { nanos_plus_one },
            // Unreachable: a saturating add of one is never zero.
            None => Instant { nanos_plus_one: NonZeroU64::MAX },
        }
    }

    /// An instant `micros` microseconds after the epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant::from_nanos(micros.saturating_mul(1_000))
    }

    /// An instant `millis` milliseconds after the epoch.
    pub const fn from_millis(millis: u64) -> Self {
        Instant::from_nanos(millis.saturating_mul(1_000_000))
    }

    /// Nanoseconds since the epoch.
    pub const fn total_nanos(self) -> u64 {
        self.nanos_plus_one.get() - 1
    }

    /// Microseconds since the epoch.
    pub const fn total_micros(self) -> u64 {
        self.total_nanos() / 1_000
    }

    /// Milliseconds since the epoch.
    pub const fn total_millis(self) -> u64 {
        self.total_nanos() / 1_000_000
    }

    /// Time elapsed from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        // The offsets of one cancel.
        Duration { nanos: self.nanos_plus_one.get().saturating_sub(earlier.nanos_plus_one.get()) }
    }

    /// The earlier of two optional deadlines, `None` (no deadline) counting as later than
    /// every instant. Without a branch: as the nanoseconds plus one, `None` is 0, and one
    /// subtracted with wraparound puts it above every instant (at `u64::MAX`, one past
    /// [`Instant::MAX`]'s), so one unsigned `min` decides. `Connection::poll_timeout` folds
    /// about ten deadlines with it after every change to a connection, where a `match` on
    /// the two options cost a few branches each.
    #[inline]
    pub fn earliest(a: Option<Instant>, b: Option<Instant>) -> Option<Instant> {
        let key = |t: Option<Instant>| t.map_or(0, |t| t.nanos_plus_one.get()).wrapping_sub(1);
        NonZeroU64::new(key(a).min(key(b)).wrapping_add(1))
            .map(|nanos_plus_one| Instant { nanos_plus_one })
    }

    /// An optional instant as the `u64` it is stored in (nanoseconds plus one, zero for
    /// `None`), for a part that keeps one in bytes so as to take no alignment padding
    /// (`tcp::quickack`); [`Instant::option_from_bits`] reads it back. Each is a plain copy.
    #[inline]
    pub(crate) const fn option_to_bits(t: Option<Instant>) -> u64 {
        match t {
            Some(t) => t.nanos_plus_one.get(),
            None => 0,
        }
    }

    /// The optional instant [`Instant::option_to_bits`] made `bits` of.
    #[inline]
    pub(crate) const fn option_from_bits(bits: u64) -> Option<Instant> {
        match NonZeroU64::new(bits) {
            Some(nanos_plus_one) => Some(Instant { nanos_plus_one }),
            None => None,
        }
    }

    /// `self + d`, or `None` past [`Instant::MAX`].
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.nanos_plus_one.checked_add(d.nanos) {
            Some(nanos_plus_one) => Some(Instant { nanos_plus_one }),
            None => None,
        }
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nanos = self.total_nanos();
        write!(f, "{}.{:09}s", nanos / 1_000_000_000, nanos % 1_000_000_000)
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

/// A span of time, in nanoseconds.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration {
    nanos: u64,
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration { nanos: 0 };
    /// The longest representable span.
    pub const MAX: Duration = Duration { nanos: u64::MAX };

    /// A span of `nanos` nanoseconds.
    pub const fn from_nanos(nanos: u64) -> Self {
        Duration { nanos }
    }

    /// A span of `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration { nanos: micros.saturating_mul(1_000) }
    }

    /// A span of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration { nanos: millis.saturating_mul(1_000_000) }
    }

    /// A span of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration { nanos: secs.saturating_mul(1_000_000_000) }
    }

    /// Length in nanoseconds.
    pub const fn total_nanos(self) -> u64 {
        self.nanos
    }

    /// Length in whole microseconds.
    pub const fn total_micros(self) -> u64 {
        self.nanos / 1_000
    }

    /// Length in whole milliseconds.
    pub const fn total_millis(self) -> u64 {
        self.nanos / 1_000_000
    }

    /// Length in whole microseconds as a `u32` (71 minutes), `u32::MAX` past it: the form
    /// Linux keeps its RTTs and timeouts in, and so the connection's estimates do.
    pub const fn micros_u32(self) -> u32 {
        let micros = self.total_micros();
        if micros > u32::MAX as u64 {
            u32::MAX
        } else {
            micros as u32
        }
    }

    /// `self * k`, saturating at [`Duration::MAX`].
    pub const fn saturating_mul(self, k: u64) -> Duration {
        Duration { nanos: self.nanos.saturating_mul(k) }
    }

    /// `self - other`, or zero.
    pub const fn saturating_sub(self, other: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_sub(other.nanos) }
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.nanos >= 1_000_000 {
            write!(f, "{}.{:03}ms", self.nanos / 1_000_000, (self.nanos / 1_000) % 1_000)
        } else {
            write!(f, "{}ns", self.nanos)
        }
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturates at the far future rather than wrapping.
    fn add(self, d: Duration) -> Instant {
        // `NonZeroU64::MAX` is `Instant::MAX`.
        Instant { nanos_plus_one: self.nanos_plus_one.saturating_add(d.nanos) }
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, d: Duration) {
        *self = *self + d;
    }
}

impl Sub<Duration> for Instant {
    type Output = Instant;
    fn sub(self, d: Duration) -> Instant {
        Instant::from_nanos(self.total_nanos().saturating_sub(d.nanos))
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    /// Saturating: an `earlier` that is in fact later gives zero.
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, o: Duration) -> Duration {
        Duration { nanos: self.nanos.saturating_add(o.nanos) }
    }
}

impl AddAssign for Duration {
    fn add_assign(&mut self, o: Duration) {
        *self = *self + o;
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, o: Duration) -> Duration {
        self.saturating_sub(o)
    }
}

impl SubAssign for Duration {
    fn sub_assign(&mut self, o: Duration) {
        *self = *self - o;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whole microseconds, rounded down, held at `u32::MAX` (71 minutes) past it.
    #[test]
    fn micros_u32_rounds_down_and_saturates() {
        assert_eq!(Duration::from_nanos(1_999).micros_u32(), 1);
        assert_eq!(Duration::from_micros(u64::from(u32::MAX)).micros_u32(), u32::MAX);
        assert_eq!(Duration::from_micros(u64::from(u32::MAX) + 1).micros_u32(), u32::MAX);
        assert_eq!(Duration::MAX.micros_u32(), u32::MAX);
    }

    #[test]
    fn earliest_treats_none_as_later_than_every_instant() {
        let cases = [None, Some(Instant::ZERO), Some(Instant::from_nanos(1)), Some(Instant::MAX)];
        for a in cases {
            for b in cases {
                let want = match (a, b) {
                    (Some(x), Some(y)) => Some(x.min(y)),
                    (x, None) => x,
                    (None, y) => y,
                };
                assert_eq!(Instant::earliest(a, b), want, "{a:?} {b:?}");
            }
        }
    }

    /// An optional instant kept as bits reads back as it was, `None` and the epoch apart.
    #[test]
    fn an_optional_instant_round_trips_through_its_bits() {
        let cases =
            [None, Some(Instant::ZERO), Some(Instant::from_nanos(1 << 32)), Some(Instant::MAX)];
        for t in cases {
            assert_eq!(Instant::option_from_bits(Instant::option_to_bits(t)), t);
        }
        assert_eq!(Instant::option_to_bits(None), 0);
        assert_ne!(Instant::option_to_bits(Some(Instant::ZERO)), 0);
    }

    #[test]
    fn arithmetic_saturates() {
        let t = Instant::from_millis(5);
        assert_eq!(t + Duration::from_millis(3), Instant::from_millis(8));
        assert_eq!(t - Instant::from_millis(7), Duration::ZERO);
        assert_eq!(
            Instant::from_nanos(u64::MAX) + Duration::from_secs(1),
            Instant::from_nanos(u64::MAX)
        );
        assert_eq!(Duration::from_secs(2).total_millis(), 2000);
        assert_eq!(Instant::from_nanos(u64::MAX), Instant::MAX);
        assert_eq!(Instant::MAX.total_nanos(), u64::MAX - 1);
        assert_eq!(Instant::MAX.checked_add(Duration::from_nanos(1)), None);
        assert_eq!(Instant::ZERO.total_nanos(), 0);
        assert_eq!(Instant::default(), Instant::ZERO);
        assert_eq!(Instant::from_nanos(7) - Duration::from_nanos(9), Instant::ZERO);
        assert_eq!(Instant::from_nanos(9) - Instant::from_nanos(7), Duration::from_nanos(2));
        assert_eq!(core::mem::size_of::<Option<Instant>>(), 8, "the niche is what it is for");
        assert_eq!(format!("{:?}", Duration::from_micros(1500)), "1.500ms");
    }
}
