//! ECN (RFC 3168 §6.1): the sender halves its window at most once per round trip when ACKs
//! echo a congestion mark, and says so with CWR; the receiver echoes a CE mark with ECE on
//! every ACK until it sees CWR. Negotiation is in the SYN handling (`connection.rs`) and the
//! flags are set in `output.rs`.

use super::super::chunk::ChunkPool;
use super::super::connection::{Connection, SegmentVerdict};
use super::super::segment::{Flags, IpEcn, Segment};
use super::super::SeqNumber;
use super::RecoveryKind;
use crate::tcp::cc::CongestionControl as _;
use crate::time::Instant;

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
        if self.ecn_ok && verdict == SegmentVerdict::Accepted && ecn == IpEcn::Ce {
            self.ecn_echo = true;
            self.ack_now = true;
        }
        verdict
    }

    /// ECN bits of an acceptable ACK: CWR stops our echo; ECE reduces the window once per
    /// window of data (RFC 3168 §6.1.2).
    pub(in super::super) fn on_ack_ecn(&mut self, now: Instant, seg: &Segment<'_>, ack: SeqNumber) {
        if !self.ecn_ok || !self.state.is_synchronized() {
            return;
        }
        if seg.flags.contains(Flags::CWR) && !seg.payload.is_empty() {
            self.ecn_echo = false;
        }
        if !seg.flags.contains(Flags::ECE) || seg.flags.syn() {
            return;
        }
        if self.loss.ecn_cwr_until.is_some_and(|until| ack <= until) {
            return; // already reduced for this window
        }
        self.loss.ecn_cwr_until = Some(self.snd_max);
        if self.loss.episode.is_some_and(|e| e.kind == RecoveryKind::Fast) {
            return; // loss recovery already reduced the window for this round trip
        }
        let w = self.cc.window();
        self.cc.on_congestion_event(now, w, self.mss);
        self.loss.ecn_send_cwr = true;
        self.counters.ecn_reductions += 1;
    }
}
