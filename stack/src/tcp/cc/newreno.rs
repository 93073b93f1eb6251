//! NewReno window arithmetic (RFC 5681 §3.1, RFC 6582 §3.2, RFC 6928 initial window).

use super::{slow_start_increase, AckSample, CongestionControl, UndoPoint};
use crate::time::Instant;

/// NewReno: slow start, then one MSS per window of acknowledged data; halve on loss.
///
/// `repr(C)`: the window, read per segment, first (see `Controller`).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged during congestion avoidance not yet turned into window growth.
    ca_acc: usize,
    undo: UndoPoint,
}

impl NewReno {
    /// Starts with `initial_window` bytes and an unbounded threshold (RFC 5681 §3.1).
    pub fn new(initial_window: usize) -> Self {
        NewReno {
            cwnd: initial_window,
            ssthresh: usize::MAX,
            ca_acc: 0,
            undo: UndoPoint::default(),
        }
    }

    fn reduce(&mut self, in_flight: usize, mss: usize) {
        self.undo = UndoPoint { cwnd: self.cwnd, ssthresh: self.ssthresh };
        // RFC 5681 eq. 4: ssthresh = max(FlightSize / 2, 2 * SMSS).
        self.ssthresh = (in_flight / 2).max(2 * mss);
        self.ca_acc = 0;
    }
}

impl CongestionControl for NewReno {
    fn init(&mut self, initial_window: usize) {
        *self = NewReno::new(initial_window);
    }

    fn window(&self) -> usize {
        self.cwnd
    }

    fn ssthresh(&self) -> usize {
        self.ssthresh
    }

    fn on_ack(&mut self, ack: &AckSample) {
        if !ack.cwnd_limited {
            return;
        }
        if self.cwnd < self.ssthresh {
            // Slow start (RFC 5681 §3.1), stopping at the threshold.
            let grown = self.cwnd + slow_start_increase(ack.bytes_acked, ack.mss);
            self.cwnd = grown.min(self.ssthresh);
        } else {
            // Congestion avoidance: one MSS per window of data acknowledged (RFC 5681 eq. 3
            // done with byte counting, RFC 3465).
            self.ca_acc += ack.bytes_acked;
            if self.ca_acc >= self.cwnd {
                self.ca_acc -= self.cwnd;
                self.cwnd += ack.mss;
            }
        }
    }

    fn on_congestion_event(&mut self, _now: Instant, in_flight: usize, mss: usize) {
        self.reduce(in_flight, mss);
        // RFC 6675 §5 step 4.2: cwnd = ssthresh; the pipe estimate does the rest.
        self.cwnd = self.ssthresh;
    }

    fn on_recovery_exit(&mut self, _now: Instant, in_flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(in_flight.max(mss) + mss);
    }

    fn on_rto(&mut self, _now: Instant, in_flight: usize, mss: usize) {
        self.reduce(in_flight, mss);
        // RFC 5681 §3.1: the loss window is one segment.
        self.cwnd = mss;
    }

    fn on_rto_again(&mut self, _now: Instant, mss: usize) {
        self.ca_acc = 0;
        self.cwnd = mss;
    }

    fn undo(&mut self) {
        self.cwnd = self.cwnd.max(self.undo.cwnd);
        self.ssthresh = self.ssthresh.max(self.undo.ssthresh);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ack(bytes: usize) -> AckSample {
        AckSample {
            now: Instant::ZERO,
            bytes_acked: bytes,
            mss: 1000,
            srtt: None,
            min_rtt: None,
            cwnd_limited: true,
            rtt: None,
            ack: crate::tcp::SeqNumber(0),
            snd_max: crate::tcp::SeqNumber(0),
        }
    }

    #[test]
    fn slow_start_avoidance_recovery_and_timeout() {
        let mut c = NewReno::new(2000);
        c.on_ack(&ack(5000));
        assert_eq!(c.window(), 7000, "slow start grows by every byte acknowledged (Linux)");
        c.on_congestion_event(Instant::ZERO, 8000, 1000);
        assert_eq!((c.ssthresh(), c.window()), (4000, 4000));
        c.on_recovery_exit(Instant::ZERO, 2000, 1000);
        assert_eq!(c.window(), 3000, "min(ssthresh, flight + MSS)");
        c.on_ack(&ack(2000));
        assert_eq!(c.window(), 4000, "slow start stops at ssthresh");
        // At the threshold: a full window of acknowledged bytes adds one MSS.
        c.on_ack(&ack(2000));
        assert_eq!(c.window(), 4000);
        c.on_ack(&ack(2000));
        assert_eq!(c.window(), 5000);
        // An application-limited window does not grow.
        c.on_ack(&AckSample { cwnd_limited: false, ..ack(100_000) });
        assert_eq!(c.window(), 5000);
        c.on_rto(Instant::ZERO, 10_000, 1000);
        assert_eq!((c.window(), c.ssthresh()), (1000, 5000));
        c.undo();
        assert_eq!((c.window(), c.ssthresh()), (5000, 5000), "undo restores the old window");
    }

    #[test]
    fn floor_of_two_segments() {
        let mut c = NewReno::new(10_000);
        c.on_congestion_event(Instant::ZERO, 1000, 1000);
        assert_eq!(c.ssthresh(), 2000);
    }
}
