//! The receiver's window-update decision after the application reads: receiver-side silly
//! window syndrome avoidance (RFC 9293 §3.8.6.2.2), with Linux's thresholds
//! (`tcp_cleanup_rbuf`: the window must at least double what the peer may still send, and
//! open by 2·MSS or half the buffer; or reopen to a full segment from below one).
//!
//! The decision has a cheap "surely not" in front of it ([`WindowAfterRead::surely_quiet`]):
//! a small read from a wide-open window (a 64-byte request read while the peer may still
//! send far more than a segment) cannot trigger an update whatever the thresholds are, so
//! they are not computed. `tests` hold the shortcut to the full decision.

/// Where a read left the receive window against the last advertisement, in bytes.
#[derive(Clone, Copy, Debug)]
pub(super) struct WindowAfterRead {
    /// How far the right edge would move if advertised now: `RCV.NXT` + free space −
    /// `RCV.ADV`, at least 0.
    pub growth: usize,
    /// What the peer may still send under the last advertisement: `RCV.ADV − RCV.NXT`, at
    /// least 0.
    pub advertised: usize,
}

/// The least opening worth advertising on its own (RFC 9293 §3.8.6.2.2: a full segment, or
/// half the buffer if that is less; at least 1 byte).
#[inline(always)]
pub(super) fn sws_threshold(mss: usize, rcvbuf: usize) -> usize {
    mss.min(rcvbuf / 2).max(1)
}

impl WindowAfterRead {
    /// Whether no update can be due, whatever the buffer: the window would not double
    /// (`growth < advertised`, so the first rule fails) and the peer may still send at least
    /// a segment (`advertised >= mss`, and [`sws_threshold`] is never above `max(mss, 1)`,
    /// while `advertised > growth >= 0` makes it at least 1: the reopening rule fails).
    #[inline(always)]
    pub(super) fn surely_quiet(self, mss: usize) -> bool {
        self.growth < self.advertised && self.advertised >= mss
    }

    /// The full decision: the window opens by 2·MSS (or half the buffer) and at least
    /// doubles, or it reopens to [`sws_threshold`] from below it.
    #[inline(always)]
    pub(super) fn update_due(self, mss: usize, rcvbuf: usize) -> bool {
        let WindowAfterRead { growth, advertised } = self;
        let threshold = (2 * mss).min(rcvbuf / 2).max(1);
        let reopen = sws_threshold(mss, rcvbuf);
        // Linux (`tcp_cleanup_rbuf`) updates only when the window at least doubles what the
        // peer may still send: a wide-open window needs no update after every read.
        let doubles = growth >= advertised;
        (growth >= threshold && doubles) || (advertised < reopen && advertised + growth >= reopen)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn check(growth: usize, advertised: usize, mss: usize, rcvbuf: usize) {
        let w = WindowAfterRead { growth, advertised };
        if w.surely_quiet(mss) {
            assert!(
                !w.update_due(mss, rcvbuf),
                "the shortcut skipped a due update: {w:?}, mss {mss}, rcvbuf {rcvbuf}"
            );
        }
    }

    #[test]
    fn the_shortcut_holds_at_the_edges() {
        // The edges of both rules: just below and at `mss`, the window about to double, the
        // reopening rule one byte short of and at its threshold, MSS 0 and 1, tiny buffers.
        for mss in [0usize, 1, 2, 536, 1448, 1460, 8960, 65_495] {
            for rcvbuf in [0, 1, 2, 3, 1000, 2 * mss, 4 * mss + 1, 65_535, 6 << 20] {
                for advertised in [0, 1, 2, mss.saturating_sub(1), mss, mss + 1, 2 * mss, 100_000] {
                    for growth in [0, 1, advertised.saturating_sub(1), advertised, 3 * mss] {
                        check(growth, advertised, mss, rcvbuf);
                    }
                }
            }
        }
        // What the shortcut must not claim: a window just under a segment that a read
        // reopens past one (the reopening rule), and one that doubles.
        let reopens = WindowAfterRead { growth: 999, advertised: 1000 };
        assert!(reopens.update_due(1460, 65_535) && !reopens.surely_quiet(1460));
        let doubles = WindowAfterRead { growth: 4000, advertised: 3000 };
        assert!(doubles.update_due(1460, 65_535) && !doubles.surely_quiet(1460));
        // And what it is for: a 64-byte read from a wide-open window.
        let small = WindowAfterRead { growth: 64, advertised: 65_535 };
        assert!(small.surely_quiet(1460));
    }

    proptest! {
        #[test]
        fn the_shortcut_never_skips_a_due_update(
            growth in 0usize..300_000,
            advertised in 0usize..300_000,
            mss in 0usize..70_000,
            rcvbuf in 0usize..1_000_000,
        ) {
            check(growth, advertised, mss, rcvbuf);
        }

        #[test]
        fn the_shortcut_never_skips_a_due_update_near_a_segment(
            mss in 1usize..9000,
            off in 0usize..64,
            growth in 0usize..20_000,
            rcvbuf in 0usize..40_000,
        ) {
            // Windows within a few bytes above a segment, where the reopening rule lives.
            check(growth, mss + off, mss, rcvbuf);
            check(growth, mss.saturating_sub(off), mss, rcvbuf);
        }
    }
}
