//! Sequence-number arithmetic modulo 2^32 (RFC 9293 §3.4).
//!
//! Sequence numbers wrap, so "less than" only makes sense between numbers less than 2^31
//! apart. Comparisons here are the usual serial-number ones (RFC 1982 style): `a < b` when the
//! signed 32-bit difference `a - b` is negative.

use core::cmp::Ordering;
use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A TCP sequence (or acknowledgment) number.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNumber(pub u32);

impl SeqNumber {
    /// The raw 32-bit value, as on the wire.
    pub const fn value(self) -> u32 {
        self.0
    }

    /// The larger of two sequence numbers under wrapping order.
    pub fn max(self, other: SeqNumber) -> SeqNumber {
        if self > other {
            self
        } else {
            other
        }
    }

    /// The smaller of two sequence numbers under wrapping order.
    pub fn min(self, other: SeqNumber) -> SeqNumber {
        if self < other {
            self
        } else {
            other
        }
    }

    /// `start <= self < end` under wrapping order.
    pub fn in_range(self, start: SeqNumber, end: SeqNumber) -> bool {
        self >= start && self < end
    }
}

impl fmt::Debug for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl fmt::Display for SeqNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl Add<u32> for SeqNumber {
    type Output = SeqNumber;
    fn add(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs))
    }
}

impl Add<usize> for SeqNumber {
    type Output = SeqNumber;
    /// Adds a byte count. Counts above 2^31 are meaningless for sequence space, so the
    /// value is truncated to 32 bits like the wire does.
    fn add(self, rhs: usize) -> SeqNumber {
        SeqNumber(self.0.wrapping_add(rhs as u32))
    }
}

impl AddAssign<u32> for SeqNumber {
    fn add_assign(&mut self, rhs: u32) {
        self.0 = self.0.wrapping_add(rhs);
    }
}

impl AddAssign<usize> for SeqNumber {
    fn add_assign(&mut self, rhs: usize) {
        self.0 = self.0.wrapping_add(rhs as u32);
    }
}

impl Sub<u32> for SeqNumber {
    type Output = SeqNumber;
    fn sub(self, rhs: u32) -> SeqNumber {
        SeqNumber(self.0.wrapping_sub(rhs))
    }
}

impl Sub for SeqNumber {
    type Output = i32;
    /// Signed distance `self - rhs` in sequence space.
    fn sub(self, rhs: SeqNumber) -> i32 {
        self.0.wrapping_sub(rhs.0) as i32
    }
}

impl PartialOrd for SeqNumber {
    fn partial_cmp(&self, other: &SeqNumber) -> Option<Ordering> {
        Some((*self - *other).cmp(&0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        let a = SeqNumber(u32::MAX - 1);
        let b = a + 4u32;
        assert_eq!(b, SeqNumber(2));
        assert!(a < b);
        assert!(b > a);
        assert_eq!(b - a, 4);
        assert_eq!(a - b, -4);
        assert!(SeqNumber(1).in_range(a, b));
        assert!(!b.in_range(a, b));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }
}
