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
//!
//! `TcpConfig::frto` (Linux `tcp_frto`) turns it off: timeouts then start no detection.

/// F-RTO's state for the current timeout (Linux `tp->frto`). The sequence number it compares
/// with, `SND.MAX` when the timeout fired (Linux `high_seq`), is the timeout episode's
/// recovery point. Three flags in one byte: `LossRecovery` had one byte of padding left in
/// `Connection`'s line budget (`connection::layout`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Frto(u8);

impl Frto {
    /// Detection runs for the current timeout.
    const RUNNING: u8 = 1;
    /// Step 2b: until the next ACK, new data goes instead of retransmissions (Linux
    /// `REXMIT_NEW`).
    const NEW_DATA: u8 = 2;
    /// The timeout episode began outside recovery: its backoffs may run F-RTO again.
    const ELIGIBLE: u8 = 4;

    /// Starts detection for a timeout.
    pub fn start() -> Self {
        Frto(Self::RUNNING | Self::ELIGIBLE)
    }

    /// Detection ends without an undo (the loss was real, or there was nothing new to
    /// send); a backoff of the same episode may start it again.
    pub fn stop(&mut self) {
        self.0 &= Self::ELIGIBLE;
    }

    /// Whether detection runs.
    #[inline]
    pub fn running(&self) -> bool {
        self.0 & Self::RUNNING != 0
    }

    /// Whether a backoff of this timeout episode may run detection again.
    pub fn eligible(&self) -> bool {
        self.0 & Self::ELIGIBLE != 0
    }

    /// Step 2b: new data goes before retransmissions until the next ACK (or not).
    pub fn set_new_data(&mut self, on: bool) {
        if on {
            self.0 |= Self::NEW_DATA;
        } else {
            self.0 &= !Self::NEW_DATA;
        }
    }

    /// Whether retransmissions wait because new data goes first (step 2b).
    #[inline]
    pub fn holds_retransmissions(&self) -> bool {
        self.0 & Self::NEW_DATA != 0
    }
}
