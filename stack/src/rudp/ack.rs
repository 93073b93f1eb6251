//! The receiver's record of packet numbers, and when to acknowledge them.
//!
//! RFC 9000 §13.2 in small: acknowledge at once when a packet arrives out of order (the
//! sender's fast retransmit depends on seeing the gap quickly) or when two ack-eliciting
//! packets are unacknowledged; otherwise within `max_ack_delay`. Packets that elicit no ACK
//! are acknowledged only alongside something else.

use super::ranges::RangeSet;
use super::wire::MAX_ACK_RANGES;
use crate::time::{Duration, Instant};

/// Ranges kept: more than an ACK frame carries, so a range that drops out of the frames has
/// long been reported.
const KEPT_RANGES: usize = 4 * MAX_ACK_RANGES;

/// Received packet numbers and the ACK timer.
#[derive(Debug, Default)]
pub struct ReceivedPackets {
    numbers: RangeSet,
    /// The largest number and when it arrived (for the ACK delay field).
    largest: Option<(u64, Instant)>,
    /// Ack-eliciting packets since the last ACK sent.
    unacked_eliciting: u32,
    /// Any packet since the last ACK sent.
    unacked_any: bool,
    /// Send an ACK now.
    immediate: bool,
    /// Send an ACK by then.
    deadline: Option<Instant>,
}

impl ReceivedPackets {
    /// Whether `pn` was seen before (a duplicate, to be dropped; it still gets an ACK if it
    /// asks for one, since ours may have been lost).
    pub fn is_duplicate(&mut self, pn: u64, ack_eliciting: bool) -> bool {
        let dup = self.numbers.contains(pn);
        if dup && ack_eliciting {
            self.immediate = true;
        }
        dup
    }

    /// Asks for an ACK at once for what has arrived: for the handshake's packets, which
    /// RFC 9000 §13.2.1 says are never acknowledged late. A repeated Initial means the
    /// client did not hear the Accept; answering it at once, not after `max_ack_delay`,
    /// saves the client that delay on every handshake round trip that lost a packet.
    pub fn ack_at_once(&mut self) {
        self.immediate = true;
    }

    /// Records a new packet.
    pub fn on_packet(&mut self, now: Instant, pn: u64, ack_eliciting: bool, max_delay: Duration) {
        let in_order = self.largest.is_none_or(|(l, _)| pn == l + 1);
        self.numbers.insert_one(pn);
        self.numbers.truncate_low(KEPT_RANGES);
        if self.largest.is_none_or(|(l, _)| pn > l) {
            self.largest = Some((pn, now));
        }
        self.unacked_any = true;
        if !ack_eliciting {
            return;
        }
        self.unacked_eliciting += 1;
        if !in_order || self.unacked_eliciting >= 2 {
            self.immediate = true;
        } else if self.deadline.is_none() {
            self.deadline = Some(now + max_delay);
        }
    }

    /// Whether an ACK must go out now (on its own if nothing else does).
    pub fn must_ack(&self, now: Instant) -> bool {
        self.immediate || self.deadline.is_some_and(|d| d <= now)
    }

    /// Whether an ACK would tell the peer anything new (worth riding on another packet).
    pub fn has_news(&self) -> bool {
        self.unacked_any
    }

    /// When the delayed ACK is due.
    pub fn deadline(&self) -> Option<Instant> {
        if self.immediate {
            return None;
        }
        self.deadline
    }

    /// The ACK to send at `now`: delay in microseconds and inclusive ranges, highest first.
    pub fn ack(&self, now: Instant) -> Option<(u32, impl Iterator<Item = (u64, u64)> + '_)> {
        let (_, at) = self.largest?;
        let delay = now.saturating_duration_since(at).total_micros();
        let delay = u32::try_from(delay).unwrap_or(u32::MAX);
        Some((delay, self.numbers.iter_desc().map(|(s, e)| (s, e - 1))))
    }

    /// An ACK was sent.
    pub fn on_ack_sent(&mut self) {
        self.unacked_eliciting = 0;
        self.unacked_any = false;
        self.immediate = false;
        self.deadline = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_policy() {
        let d = Duration::from_millis(25);
        let t = Instant::from_millis(1);
        let mut r = ReceivedPackets::default();
        r.on_packet(t, 0, true, d);
        assert!(!r.must_ack(t));
        assert_eq!(r.deadline(), Some(t + d));
        assert!(r.must_ack(t + d));
        r.on_packet(t, 1, true, d);
        assert!(r.must_ack(t));
        r.on_ack_sent();
        r.on_packet(t, 5, true, d); // gap: immediately
        assert!(r.must_ack(t));
        assert!(r.is_duplicate(5, true));
        let (_, ranges) = r.ack(t).unwrap();
        assert_eq!(ranges.collect::<Vec<_>>(), vec![(5, 5), (0, 1)]);
        r.on_ack_sent();
        r.on_packet(t, 6, false, d);
        assert!(!r.must_ack(t + d) && r.has_news());
    }
}
