//! Proportional Rate Reduction (RFC 6937): how much a sender in fast recovery may send on each
//! ACK, as Linux's `tcp_cwnd_reduction` computes it.
//!
//! Without it, a sender entering recovery with a window already cut to `ssthresh` and a pipe
//! far below it (the losses left the network) sends the whole difference at once, a burst the
//! path just showed it cannot take. PRR instead spreads the reduction over the episode: while
//! the pipe is above `ssthresh` it sends `ssthresh / prior_cwnd` of what the peer reports
//! delivered (RFC 6937 §3, the proportional part), and while it is below, what was delivered
//! plus at most one segment per ACK that moved `SND.UNA` without finding a new loss, never
//! past `ssthresh` (the slow-start reduction bound, PRR-SSRB).
//!
//! Linux measures in segments; this measures in bytes, a segment being one MSS.

use crate::tcp::narrow;

/// PRR state of one fast-recovery episode (RFC 6937 §3; Linux `prr_delivered`, `prr_out`,
/// `prior_cwnd`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prr {
    /// Bytes the peer reported delivered (acknowledged or SACKed) since the episode began
    /// (`prr_delivered`). 32 bits like the rest: an episode never covers 4 GiB (the send
    /// buffer's maximum is far below it), and the sums saturate if one did.
    delivered: u32,
    /// Bytes sent since the episode began, retransmissions and new data (`prr_out`).
    out: u32,
    /// The congestion window when the episode began (Linux `prior_cwnd`; RFC 6937 uses the
    /// flight size, `RecoverFS`, which Linux replaced by the window it reduces from).
    prior_cwnd: u32,
    /// The window the episode may fill until the next ACK: `pipe + sndcnt` (Linux sets
    /// `cwnd` to this).
    window: u32,
}

/// What one ACK in recovery tells PRR.
#[derive(Clone, Copy, Debug)]
pub struct PrrAck {
    /// Bytes newly delivered by the ACK (`DeliveredData`).
    pub delivered: usize,
    /// `pipe` after the ACK was processed and losses marked.
    pub pipe: usize,
    /// The reduced threshold the episode aims at.
    pub ssthresh: usize,
    /// Sender MSS.
    pub mss: usize,
    /// The ACK moved `SND.UNA`.
    pub una_advanced: bool,
    /// The ACK made loss detection mark a segment lost.
    pub newly_lost: bool,
}

impl Prr {
    /// A new episode starts from a window of `prior_cwnd` bytes (RFC 6937 §3, initialization).
    pub fn start(&mut self, prior_cwnd: usize) {
        *self = Prr { prior_cwnd: narrow(prior_cwnd.max(1)), ..Prr::default() };
    }

    /// Bytes sent during the episode (`prr_out += data sent`).
    pub fn on_sent(&mut self, bytes: usize) {
        self.out = self.out.saturating_add(narrow(bytes));
    }

    /// One ACK in recovery: the new sending window (Linux `tcp_cwnd_reduction`). An ACK that
    /// delivered nothing leaves it as it was.
    pub fn on_ack(&mut self, a: PrrAck) -> usize {
        if a.delivered == 0 {
            return self.window();
        }
        self.delivered = self.delivered.saturating_add(narrow(a.delivered));
        let (delivered, out) = (self.delivered as usize, self.out as usize);
        let sndcnt = if a.pipe > a.ssthresh {
            // RFC 6937 §3, proportional: CEIL(prr_delivered * ssthresh / RecoverFS) - prr_out,
            // rounded up to whole segments as Linux's count of packets is.
            let mss = a.mss.max(1) as u128;
            let product = delivered as u128 * a.ssthresh as u128;
            let allowed = product.div_ceil(self.prior_cwnd as u128 * mss) * mss;
            (allowed as usize).saturating_sub(out)
        } else {
            // PRR-SSRB: what was delivered and not yet answered, or at least this ACK's
            // delivery, plus one segment when SND.UNA moved and no new loss was found (Linux's
            // form of RFC 6937's `+ MSS`), never beyond ssthresh.
            let mut n = delivered.saturating_sub(out).max(a.delivered);
            if a.una_advanced && !a.newly_lost {
                n += a.mss;
            }
            n.min(a.ssthresh - a.pipe)
        };
        // The episode's first retransmission goes whatever the arithmetic says (RFC 6937 §3:
        // fast retransmit is not subject to the reduction).
        let sndcnt = if out == 0 { sndcnt.max(a.mss) } else { sndcnt };
        self.window = narrow(a.pipe + sndcnt);
        self.window()
    }

    /// The window in force until the next ACK.
    pub fn window(&self) -> usize {
        self.window as usize
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MSS: usize = 1000;

    fn ack(delivered: usize, pipe: usize, una_advanced: bool, newly_lost: bool) -> PrrAck {
        PrrAck { delivered, pipe, ssthresh: 7 * MSS, mss: MSS, una_advanced, newly_lost }
    }

    /// google's `prr-ss-ack-below-snd_una` sequence: 10 segments, ssthresh 7, losses leave
    /// the pipe below it, so the slow-start bound applies.
    #[test]
    fn below_ssthresh_sends_what_was_delivered_plus_one_on_progress() {
        let mut p = Prr::default();
        p.start(10 * MSS);
        // Third SACK: one segment delivered, six marked lost, one in flight: one retransmission.
        assert_eq!(p.on_ack(ack(MSS, MSS, false, true)), 2 * MSS);
        p.on_sent(MSS);
        // The cumulative ACK delivers two more and moves SND.UNA: two plus one, pipe 1.
        assert_eq!(p.on_ack(ack(2 * MSS, MSS, true, false)), 4 * MSS);
        p.on_sent(3 * MSS);
        // An ACK below SND.UNA SACKs two: delivered 5, out 4, so this ACK's own two.
        assert_eq!(p.on_ack(ack(2 * MSS, 2 * MSS, false, false)), 4 * MSS);
    }

    #[test]
    fn above_ssthresh_sends_in_proportion() {
        let mut p = Prr::default();
        p.start(10 * MSS);
        // Pipe 9 > ssthresh 7: the first ACK still lets the fast retransmit go.
        assert_eq!(p.on_ack(ack(MSS, 9 * MSS, false, true)), 10 * MSS);
        p.on_sent(MSS);
        // Delivered 2 of prior 10 at 0.7: ceil(1.4) = 2 allowed, 1 sent: one more.
        assert_eq!(p.on_ack(ack(MSS, 9 * MSS, false, false)), 10 * MSS);
        p.on_sent(MSS);
        // Delivered 3: ceil(2.1) = 3, sent 2: one more. Delivered 4: ceil(2.8) = 3: none.
        assert_eq!(p.on_ack(ack(MSS, 9 * MSS, false, false)), 10 * MSS);
        p.on_sent(MSS);
        assert_eq!(p.on_ack(ack(MSS, 9 * MSS, false, false)), 9 * MSS);
        // Over the whole episode the sender sends about 0.7 of what was delivered.
    }

    #[test]
    fn an_ack_that_delivers_nothing_changes_nothing() {
        let mut p = Prr::default();
        p.start(10 * MSS);
        let w = p.on_ack(ack(MSS, 3 * MSS, false, true));
        assert_eq!(p.on_ack(ack(0, 2 * MSS, true, false)), w);
    }
}
