//! A byte of one-bit flags, for records whose every byte counts toward a cache line
//! (a connection's hot run, the socket record): the flags' owner names its bits as
//! constants and wraps this in its own type with named getters and setters.

/// Eight flags in one byte, each named by its bit (`1 << n`) by the owner.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Bits8(u8);

impl Bits8 {
    /// Whether `bit` is set.
    #[inline(always)]
    pub(crate) fn has(self, bit: u8) -> bool {
        self.0 & bit != 0
    }

    /// Sets `bit` to `on`; returns what it was.
    #[inline(always)]
    pub(crate) fn set(&mut self, bit: u8, on: bool) -> bool {
        let was = self.has(bit);
        self.0 = if on { self.0 | bit } else { self.0 & !bit };
        was
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_bit_is_set_and_cleared_alone() {
        let mut b = Bits8::default();
        assert!(!b.set(4, true), "was clear");
        assert!(b.has(4) && !b.has(2) && !b.has(1));
        assert!(!b.set(1, true));
        assert!(b.set(4, false), "was set");
        assert!(!b.has(4) && b.has(1));
        assert_eq!(b, {
            let mut c = Bits8::default();
            c.set(1, true);
            c
        });
    }
}
