//! F-RTO (RFC 5682), in the SACK-enhanced form Linux runs by default (`tcp_frto` = 2):
//! telling a spurious retransmission timeout from a real one by what the ACKs after it
//! acknowledge.
//!
//! A delay spike longer than the RTO fires the timer although nothing was lost. Go-back-N
//! then resends the whole window, which the peer already holds, and the window reduction
//! stays although the path is fine. F-RTO retransmits only the first unacknowledged segment
//! (RFC 5682 §3.1 step 1); when the next ACK advances SND.UNA, it sends *new* data rather
//! than more retransmissions (step 2b). If an ACK then delivers a segment that was never
//! retransmitted and was sent before the timeout, the original transmissions were arriving
//! all along: the timeout was spurious and its congestion response is undone (step 3b;
//! RFC 4015's Eifel response, Linux `tcp_try_undo_loss`). A duplicate ACK or a SACK instead
//! shows a real hole: ordinary loss recovery goes on (step 3a).

use crate::tcp::SeqNumber;

/// F-RTO's state for the current timeout (Linux `tp->frto` and the `high_seq` it uses).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frto {
    /// `SND.MAX` when the timeout fired, while detection runs: data up to here delivered
    /// without having been retransmitted proves the timeout spurious. `None`: not running.
    pub high: Option<SeqNumber>,
    /// Step 2b: until the next ACK, new data goes instead of retransmissions (Linux
    /// `REXMIT_NEW`).
    pub new_data: bool,
    /// The timeout episode began outside recovery: its backoffs may run F-RTO again.
    pub eligible: bool,
}

impl Frto {
    /// Starts detection for a timeout that fired with `snd_max` sent.
    pub fn start(snd_max: SeqNumber) -> Self {
        Frto { high: Some(snd_max), new_data: false, eligible: true }
    }

    /// Detection ends without an undo (the loss was real, or there was nothing new to
    /// send); a backoff of the same episode may start it again.
    pub fn stop(&mut self) {
        *self = Frto { eligible: self.eligible, ..Frto::default() };
    }

    /// Whether retransmissions wait because new data goes first (step 2b).
    #[inline]
    pub fn holds_retransmissions(&self) -> bool {
        self.new_data
    }
}
