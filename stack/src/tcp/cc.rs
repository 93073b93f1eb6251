//! Congestion control: the trait the connection drives, and a minimal NewReno.
//!
//! Loss detection and recovery bookkeeping (duplicate-ACK counting, the recovery point) stay in
//! the connection; an algorithm only decides how the window moves.

/// A congestion-control algorithm. All sizes are in bytes.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The handshake finished and the MSS is known: start over with `initial_window` bytes
    /// (RFC 5681 §3.1). Called before any data is sent.
    fn init(&mut self, initial_window: usize);
    /// Current congestion window.
    fn window(&self) -> usize;
    /// Current slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// New data acknowledged outside recovery.
    fn on_ack(&mut self, bytes_acked: usize, mss: usize);
    /// Three duplicate ACKs: loss detected, entering fast recovery with `in_flight` bytes out
    /// (RFC 6582 §3.2 step 2).
    fn on_enter_recovery(&mut self, in_flight: usize, mss: usize);
    /// A further duplicate ACK during recovery (window inflation, RFC 5681 §3.2 step 4).
    fn on_recovery_dupack(&mut self, mss: usize);
    /// A partial ACK during recovery acknowledged `bytes_acked` (RFC 6582 §3.2 step 5).
    fn on_partial_ack(&mut self, bytes_acked: usize, mss: usize);
    /// Recovery ended with a full ACK; `in_flight` bytes are still out (RFC 6582 §3.2 step 3).
    fn on_exit_recovery(&mut self, in_flight: usize, mss: usize);
    /// The retransmission timer fired (RFC 5681 §3.1 eq. 4).
    fn on_rto(&mut self, in_flight: usize, mss: usize);
}

/// NewReno (RFC 5681 + RFC 6582) window arithmetic.
#[derive(Clone, Copy, Debug)]
pub struct NewReno {
    cwnd: usize,
    ssthresh: usize,
    /// Bytes acknowledged during congestion avoidance not yet turned into window growth.
    ca_acc: usize,
}

impl NewReno {
    /// Starts with `initial_window` bytes and an unbounded threshold (RFC 5681 §3.1).
    pub fn new(initial_window: usize) -> Self {
        NewReno { cwnd: initial_window, ssthresh: usize::MAX, ca_acc: 0 }
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

    fn on_ack(&mut self, bytes_acked: usize, mss: usize) {
        if self.cwnd < self.ssthresh {
            // Slow start, with appropriate byte counting limited to one MSS per ACK
            // (RFC 5681 §3.1, RFC 3465 L=1).
            self.cwnd += bytes_acked.min(mss);
        } else {
            // Congestion avoidance: about one MSS per window of data acknowledged.
            self.ca_acc += bytes_acked;
            if self.ca_acc >= self.cwnd {
                self.ca_acc -= self.cwnd;
                self.cwnd += mss;
            }
        }
    }

    fn on_enter_recovery(&mut self, in_flight: usize, mss: usize) {
        self.ssthresh = (in_flight / 2).max(2 * mss);
        self.cwnd = self.ssthresh + 3 * mss;
        self.ca_acc = 0;
    }

    fn on_recovery_dupack(&mut self, mss: usize) {
        self.cwnd += mss;
    }

    fn on_partial_ack(&mut self, bytes_acked: usize, mss: usize) {
        // Deflate by the amount acknowledged, then add back one MSS.
        self.cwnd = self.cwnd.saturating_sub(bytes_acked) + mss;
    }

    fn on_exit_recovery(&mut self, in_flight: usize, mss: usize) {
        self.cwnd = self.ssthresh.min(in_flight.max(mss) + mss);
    }

    fn on_rto(&mut self, in_flight: usize, mss: usize) {
        self.ssthresh = (in_flight / 2).max(2 * mss);
        self.cwnd = mss;
        self.ca_acc = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_start_then_avoidance() {
        let mut c = NewReno::new(2000);
        c.on_ack(5000, 1000);
        assert_eq!(c.window(), 3000, "slow start grows by at most one MSS per ACK");
        c.on_enter_recovery(8000, 1000);
        assert_eq!(c.ssthresh(), 4000);
        assert_eq!(c.window(), 7000);
        c.on_recovery_dupack(1000);
        assert_eq!(c.window(), 8000);
        c.on_partial_ack(3000, 1000);
        assert_eq!(c.window(), 6000);
        c.on_exit_recovery(2000, 1000);
        assert_eq!(c.window(), 3000);
        // Congestion avoidance below threshold? 3000 < 4000: slow start again.
        c.on_ack(1000, 1000);
        assert_eq!(c.window(), 4000);
        // Now at threshold: a full window of ACKs adds one MSS.
        c.on_ack(2000, 1000);
        assert_eq!(c.window(), 4000);
        c.on_ack(2000, 1000);
        assert_eq!(c.window(), 5000);
        c.on_rto(10_000, 1000);
        assert_eq!((c.window(), c.ssthresh()), (1000, 5000));
    }
}
