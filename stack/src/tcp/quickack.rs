//! Linux's quick-ACK mode: which received segments are acknowledged at once although delayed
//! ACKs are on.
//!
//! RFC 1122 §4.2.3.2 and RFC 5681 §4.2 allow delaying an ACK, and RFC 5681 §4.2 asks for an
//! immediate one for out-of-order data. Linux goes further (`tcp_incr_quickack`,
//! `tcp_in_quickack_mode`), and its peers' timing expects it:
//! - the first data of a connection, and data after an idle gap longer than the RTO, open a
//!   budget of quick ACKs: half the receive window in segments, at most 16, so that a sender
//!   in slow start gets its ACKs without a 40 ms pause per round trip;
//! - a duplicate segment (the sender retransmitted what we have) opens the budget again;
//! - in an interactive exchange (ping-pong: we send data within the delayed-ACK time of
//!   receiving some) ACKs are delayed to ride on the reply; a delayed ACK that had to fire
//!   on its own ends the exchange;
//! - `TCP_QUICKACK` leaves (1) or enters (0) the interactive mode.
//!
//! Each ACK sent for new data uses one quick ACK. Out-of-order data and filled gaps are ACKed
//! at once regardless (`input`).

use crate::time::{Duration, Instant};

/// Quick ACKs granted at most (Linux `TCP_MAX_QUICKACKS`).
pub const MAX_QUICKACKS: u8 = 16;
/// Linux's smallest receive-MSS estimate before a segment is seen (`TCP_MSS_DEFAULT`, the
/// RFC 1122 default of 536).
const DEFAULT_RCV_MSS: usize = 536;

/// Quick-ACK and interactive-mode state of one connection.
///
/// 10 bytes, unaligned: the time of the last data is kept as 8 bytes (one unaligned load
/// or store), so the two one-byte fields take no padding (an `Option<Instant>` would make
/// the struct 16, 6 of them padding). In a connection it is among the parts a common
/// segment touches throughout (docs/benchmarks.md, "The connection thinned").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct QuickAck {
    /// When in-order data last arrived, `None` before the first, as the bytes of its
    /// `Instant::option_to_bits` (native byte order).
    last_data: [u8; 8],
    /// ACKs still to send at once (Linux `icsk_ack.quick`).
    quick: u8,
    /// Interactive (ping-pong) mode: ACKs are delayed to ride on replies.
    pingpong: bool,
}

impl QuickAck {
    /// In-order data of `len` bytes arrived. `rcv_wnd` is the window we offer, `advmss` the
    /// MSS we announced and `rto` the current retransmission timeout: the first data, or
    /// data after a silence longer than the RTO, grants quick ACKs (Linux
    /// `tcp_event_data_recv`).
    pub fn on_data(
        &mut self,
        now: Instant,
        len: usize,
        rcv_wnd: usize,
        advmss: usize,
        rto: Duration,
    ) {
        let idle = match self.last_data() {
            None => true,
            Some(t) => now.saturating_duration_since(t) > rto,
        };
        if idle {
            self.grant(len, rcv_wnd, advmss);
        }
        self.last_data = Instant::option_to_bits(Some(now)).to_ne_bytes();
    }

    /// A duplicate or out-of-window segment: the sender is retransmitting, so ACK at once for
    /// a while and leave interactive mode (Linux `tcp_enter_quickack_mode`).
    pub fn enter(&mut self, len: usize, rcv_wnd: usize, advmss: usize) {
        self.grant(len, rcv_wnd, advmss);
        self.pingpong = false;
    }

    /// Half the window in receive-MSS units, at least 2 and at most [`MAX_QUICKACKS`], never
    /// less than what is left (Linux `tcp_incr_quickack`). The receive MSS is Linux's
    /// estimate: the segment's size, at least 536 and at most the MSS we announced.
    fn grant(&mut self, len: usize, rcv_wnd: usize, advmss: usize) {
        let rcv_mss = len.max(DEFAULT_RCV_MSS.min(advmss)).min(advmss).max(1);
        let q = match rcv_wnd / (2 * rcv_mss) {
            0 => 2,
            q => q.min(usize::from(MAX_QUICKACKS)),
        };
        self.quick = self.quick.max(q as u8);
    }

    /// Whether received data is to be ACKed at once (Linux `tcp_in_quickack_mode`).
    pub fn active(&self) -> bool {
        self.quick > 0 && !self.pingpong
    }

    /// An ACK for newly received data left: one quick ACK used (Linux
    /// `tcp_dec_quickack_mode`).
    pub fn on_ack_sent(&mut self) {
        self.quick = self.quick.saturating_sub(1);
    }

    /// We sent new data: within `ato` of receiving some, the exchange is interactive (Linux
    /// `tcp_event_data_sent`).
    pub fn on_data_sent(&mut self, now: Instant, ato: Duration) {
        if self.last_data().is_some_and(|t| now.saturating_duration_since(t) < ato) {
            self.pingpong = true;
        }
    }

    /// The delayed-ACK timer fired with an ACK owed: no reply carried it, so the exchange is
    /// not interactive any more (Linux `tcp_delack_timer_handler`).
    pub fn on_delayed_ack_timeout(&mut self) {
        self.pingpong = false;
    }

    /// `TCP_QUICKACK`: 1 leaves interactive mode (delayed ACKs no longer wait for a reply),
    /// 0 enters it.
    pub fn set_quickack(&mut self, on: bool) {
        self.pingpong = !on;
    }

    /// When in-order data last arrived.
    #[inline]
    pub fn last_data(&self) -> Option<Instant> {
        Instant::option_from_bits(u64::from_ne_bytes(self.last_data))
    }

    /// Whether interactive (ping-pong) mode is on.
    pub fn interactive(&self) -> bool {
        self.pingpong
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    const RTO: Duration = Duration::from_millis(200);

    #[test]
    fn first_data_grants_half_the_window_at_most_sixteen() {
        let mut q = QuickAck::default();
        assert!(!q.active());
        q.on_data(at(0), 1000, 65535, 1460, RTO);
        for _ in 0..MAX_QUICKACKS {
            assert!(q.active());
            q.on_ack_sent();
        }
        assert!(!q.active(), "16 quick ACKs, then delayed ones");
        // Data again soon after: no new grant.
        q.on_data(at(10), 1000, 65535, 1460, RTO);
        assert!(!q.active());
        // After a silence longer than the RTO: a new grant.
        q.on_data(at(300), 1000, 65535, 1460, RTO);
        assert!(q.active());
    }

    /// The time of the last data, kept in bytes, reads back as written, at the epoch, across
    /// the 32-bit boundary of its nanoseconds and at `Instant::MAX` (bytes swapped, or a
    /// `None` for the epoch, fails here).
    #[test]
    fn the_time_of_the_last_data_reads_back() {
        assert_eq!(core::mem::size_of::<QuickAck>(), 10);
        let mut q = QuickAck::default();
        assert_eq!(q.last_data(), None);
        for t in [
            Instant::ZERO,
            Instant::from_nanos(u64::from(u32::MAX) - 1),
            Instant::from_nanos(u64::from(u32::MAX)),
            Instant::from_nanos(1 << 32),
            Instant::from_nanos(0x1234_5678_9abc_def0),
            Instant::MAX,
        ] {
            q.on_data(t, 100, 65535, 1460, RTO);
            assert_eq!(q.last_data(), Some(t));
        }
    }

    #[test]
    fn a_small_window_grants_fewer() {
        let mut q = QuickAck::default();
        // 4000 / (2 * 1000) = 2.
        q.on_data(at(0), 1000, 4000, 1460, RTO);
        q.on_ack_sent();
        assert!(q.active());
        q.on_ack_sent();
        assert!(!q.active());
        // A window under two segments still grants 2.
        let mut q = QuickAck::default();
        q.on_data(at(0), 1000, 1000, 1460, RTO);
        q.on_ack_sent();
        assert!(q.active());
    }

    #[test]
    fn replies_within_the_ack_delay_make_the_exchange_interactive() {
        let mut q = QuickAck::default();
        q.on_data(at(0), 100, 65535, 1460, RTO);
        q.on_data_sent(at(100), Duration::from_millis(40));
        assert!(q.active(), "a reply 100 ms later is not interactive");
        q.on_data_sent(at(101), Duration::from_millis(40));
        q.on_data(at(100), 100, 65535, 1460, RTO);
        q.on_data_sent(at(110), Duration::from_millis(40));
        assert!(q.interactive() && !q.active());
        q.on_delayed_ack_timeout();
        assert!(q.active());
        q.set_quickack(false);
        assert!(!q.active());
        q.set_quickack(true);
        assert!(q.active());
        // A duplicate leaves interactive mode and grants again.
        q.set_quickack(false);
        q.enter(100, 65535, 1460);
        assert!(q.active());
    }
}
