//! ECN (RFC 3168 §6.1): the sender halves its window at most once per round trip when ACKs
//! echo a congestion mark, and says so with CWR; the receiver echoes a CE mark with ECE on
//! every ACK until it sees CWR. Negotiation is in the SYN handling (`connection.rs`) and the
//! flags are set in `output.rs`.

use super::super::chunk::ChunkPool;
use super::super::connection::{Connection, SegmentVerdict};
use super::super::segment::{Flags, IpEcn, Segment};
use super::super::SeqNumber;
use super::RecoveryKind;
use crate::time::Instant;

/// ECN state of one connection (RFC 3168 §6.1).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ecn {
    /// ECN was negotiated in the handshake.
    pub ok: bool,
    /// Receiver: a CE mark arrived; echo ECE until the peer sends CWR.
    pub echo: bool,
    /// Sender: CWR must go out on the next new data segment.
    pub send_cwr: bool,
}

impl Ecn {
    /// Receiver, RFC 3168 §6.1.3: a segment was accepted with codepoint `mark`. Returns
    /// whether an ACK must go out now (a CE mark on an ECN connection, to echo it at once).
    pub fn on_accepted(&mut self, mark: IpEcn) -> bool {
        if self.ok && mark == IpEcn::Ce {
            self.echo = true;
            return true;
        }
        false
    }

    /// The ECN bits of an acceptable ACK of `ack` on a synchronized connection, `snd_max`
    /// being `SND.MAX` now: CWR stops our echo; ECE asks for a window reduction once per
    /// window of data (RFC 3168 §6.1.2), unless `fast_recovery` has made one this round trip.
    /// Returns whether the window must be reduced now (CWR is then queued).
    pub fn on_ack(
        &mut self,
        cwr_until: &mut Option<SeqNumber>,
        seg: &Segment<'_>,
        ack: SeqNumber,
        snd_max: SeqNumber,
        fast_recovery: bool,
    ) -> bool {
        if !self.ok {
            return false;
        }
        if seg.flags.contains(Flags::CWR) && !seg.payload.is_empty() {
            self.echo = false;
        }
        if !seg.flags.contains(Flags::ECE) || seg.flags.syn() {
            return false;
        }
        if cwr_until.is_some_and(|until| ack <= until) {
            return false; // already reduced for this window
        }
        *cwr_until = Some(snd_max);
        if fast_recovery {
            return false; // loss recovery already reduced the window for this round trip
        }
        self.send_cwr = true;
        true
    }

    /// Whether our next ACK echoes ECE.
    pub fn echoes(&self) -> bool {
        self.ok && self.echo
    }

    /// Whether this data segment of `len` bytes carries CWR (once, after a reduction).
    pub fn take_cwr(&mut self, len: usize) -> bool {
        let cwr = len > 0 && self.send_cwr;
        if cwr {
            self.send_cwr = false;
        }
        cwr
    }
}

impl Connection {
    /// Like [`on_segment`](Self::on_segment), with the ECN codepoint of the segment's IP header.
    /// A CE mark on an ECN connection makes our ACKs echo ECE (RFC 3168 §6.1.3).
    pub fn on_segment_ecn(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        ecn: IpEcn,
        pool: &mut ChunkPool,
    ) -> SegmentVerdict {
        let verdict = self.on_segment(now, seg, pool);
        if verdict == SegmentVerdict::Accepted && self.ecn.on_accepted(ecn) {
            self.ack.now = true;
        }
        verdict
    }

    /// ECN bits of an acceptable ACK (see [`Ecn::on_ack`]); a reduction goes to the
    /// congestion controller.
    pub(in super::super) fn on_ack_ecn(&mut self, now: Instant, seg: &Segment<'_>, ack: SeqNumber) {
        if !self.state.is_synchronized() {
            return;
        }
        let fast = self.loss.episode == Some(RecoveryKind::Fast);
        if self.ecn.on_ack(&mut self.cold.rare.cwr_until, seg, ack, self.snd.max, fast) {
            let mss = self.opts.mss();
            let mut cc = self.congestion();
            let w = cc.window();
            cc.on_congestion_event(now, w, mss);
            self.cold.counters.ecn_reductions += 1;
        }
    }
}
