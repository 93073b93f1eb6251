//! Protocol counters in the spirit of Linux `nstat` (`Tcp*` and `TcpExt*`).
//!
//! Every call into a [`Connection`](super::Connection) that can change a counter bumps the
//! connection's own [`TcpCounters`]. The owner (the stack facade) periodically calls
//! [`Connection::take_counters`](super::Connection::take_counters), which returns the deltas
//! since the last call and zeroes them, and adds them into its stack-wide totals with
//! [`TcpCounters::add`]. `curr_estab` is a gauge: its per-connection delta is +1 on entering
//! ESTABLISHED/CLOSE-WAIT and -1 on leaving them, so the sum stays exact.

/// TCP counters (deltas per connection, totals per stack).
///
/// In a connection the three that every segment bumps (`in_segs`, `out_segs`,
/// `predicted_segments`) are split: their low 16 bits are [`SegCounts`], among the parts a
/// common segment touches throughout, and this copy, on a cold line, holds the rest (a
/// multiple of 2^16, carried once per 65,536 segments). `Connection::counters` adds them up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TcpCounters {
    /// Segments received (`InSegs`).
    pub in_segs: u64,
    /// Segments sent, retransmissions excluded as in Linux (`OutSegs`).
    pub out_segs: u64,
    /// Segments taken by header prediction, the established-state fast path (Linux
    /// `TCPHPHits` counts its data half).
    pub predicted_segments: u64,
    /// Transitions CLOSED -> SYN-SENT (`ActiveOpens`).
    pub active_opens: u64,
    /// Transitions LISTEN -> SYN-RECEIVED, or established from a SYN cookie (`PassiveOpens`).
    pub passive_opens: u64,
    /// SYN-SENT/SYN-RECEIVED -> CLOSED (`AttemptFails`).
    pub attempt_fails: u64,
    /// ESTABLISHED/CLOSE-WAIT -> CLOSED by a reset (`EstabResets`).
    pub estab_resets: u64,
    /// Connections in ESTABLISHED or CLOSE-WAIT (`CurrEstab`, a gauge).
    pub curr_estab: i64,
    /// Segments retransmitted (`RetransSegs`).
    pub retrans_segs: u64,
    /// Segments received in error (`InErrs`): bad checksums and malformed headers. Those never
    /// reach a connection, so the engine leaves this at zero; the owner counts them.
    pub in_errs: u64,
    /// Segments sent with RST (`OutRsts`).
    pub out_rsts: u64,
    /// Challenge ACKs sent (`TCPChallengeACK`).
    pub challenge_acks: u64,
    /// Challenge ACKs suppressed by the rate limit (no Linux twin; `TCPChallengeACKLimited`).
    pub challenge_acks_limited: u64,
    /// Segments dropped by PAWS (`PAWSEstab`).
    pub paws_drops: u64,
    /// Pure duplicate ACKs with an older timestamp that PAWS let through because the network
    /// only reordered them (Linux `tcp_disordered_ack`, which has no counter of its own; see
    /// RFC 7323 §5.3 and `Connection::is_disordered_ack`): dropping them would hide the loss
    /// information they carry and delay fast retransmit.
    pub paws_disordered_acks: u64,
    /// TIME-WAIT connections reused by a new SYN (`TCPTimeWaitRecycled`; the owner counts
    /// these when it acts on [`SegmentVerdict::TimeWaitSyn`](super::SegmentVerdict)).
    pub time_wait_recycled: u64,
    /// TIME-WAIT 4-tuples taken over by our own active open (`TWRecycled`, Linux
    /// `tcp_tw_reuse`; counted by the owner, see `Connection::time_wait_reusable`).
    pub time_wait_reused: u64,
    /// Fast retransmits (`TCPFastRetrans`).
    pub fast_retransmits: u64,
    /// Retransmission timeouts (`TCPTimeouts`).
    pub timeouts: u64,
    /// Delayed ACKs sent by the timer (`DelayedACKs`).
    pub delayed_acks: u64,
    /// Out-of-order segments queued (`TCPOFOQueue`).
    pub ofo_queued: u64,
    /// Out-of-order segments dropped for lack of a range slot (`TCPOFODrop`).
    pub ofo_dropped: u64,
    /// Keepalive probes sent (`TCPKeepAlive`).
    pub keepalive_probes: u64,
    /// Connections aborted after a keepalive/retransmission timeout (`TCPAbortOnTimeout`).
    pub abort_on_timeout: u64,
    /// Connections reset because data arrived after the application closed them
    /// (`TCPAbortOnData`).
    pub abort_on_data: u64,
    /// Fast recoveries driven by SACK (`TCPSackRecovery`).
    pub sack_recoveries: u64,
    /// Fast recoveries driven by duplicate ACKs without SACK (`TCPRenoRecovery`).
    pub reno_recoveries: u64,
    /// DSACK blocks received (`TCPDSACKRecv`).
    pub dsack_recv: u64,
    /// Retransmitted segments of a recovery episode that DSACKs showed unnecessary (no Linux twin).
    pub spurious_retrans: u64,
    /// Window reductions undone because every retransmission was spurious (`TCPDSACKUndo`).
    pub spurious_undos: u64,
    /// Retransmission timeouts that F-RTO (RFC 5682) found spurious and undid
    /// (`TCPSpuriousRTOs`).
    pub spurious_rtos: u64,
    /// Tail loss probes sent (`TCPLossProbes`).
    pub tlp_probes: u64,
    /// Losses repaired by a tail loss probe (`TCPLossProbeRecovery`).
    pub tlp_recoveries: u64,
    /// Window reductions caused by ECN echoes (no Linux twin).
    pub ecn_reductions: u64,
    /// Times pacing held a segment back (no Linux twin).
    pub paced_delays: u64,
    /// Closed connections reset after `fin_timeout` in FIN-WAIT-2 without the peer's FIN
    /// (Linux counts these under `TCPAbortOnTimeout` too; kept apart here).
    pub fin_wait2_timeouts: u64,
    /// ACKs not sent to empty out-of-window or PAWS-failing segments because one went out
    /// less than 500 ms before (Linux `TCPACKSkippedSeq` + `TCPACKSkippedPAWS`).
    pub oow_acks_limited: u64,
}

impl TcpCounters {
    /// Adds `other` into `self` (summing per-connection deltas into stack totals).
    pub fn add(&mut self, o: &TcpCounters) {
        self.active_opens += o.active_opens;
        self.passive_opens += o.passive_opens;
        self.attempt_fails += o.attempt_fails;
        self.estab_resets += o.estab_resets;
        self.curr_estab += o.curr_estab;
        self.in_segs += o.in_segs;
        self.out_segs += o.out_segs;
        self.retrans_segs += o.retrans_segs;
        self.in_errs += o.in_errs;
        self.out_rsts += o.out_rsts;
        self.challenge_acks += o.challenge_acks;
        self.challenge_acks_limited += o.challenge_acks_limited;
        self.paws_drops += o.paws_drops;
        self.paws_disordered_acks += o.paws_disordered_acks;
        self.time_wait_recycled += o.time_wait_recycled;
        self.time_wait_reused += o.time_wait_reused;
        self.fast_retransmits += o.fast_retransmits;
        self.timeouts += o.timeouts;
        self.delayed_acks += o.delayed_acks;
        self.ofo_queued += o.ofo_queued;
        self.ofo_dropped += o.ofo_dropped;
        self.keepalive_probes += o.keepalive_probes;
        self.abort_on_timeout += o.abort_on_timeout;
        self.abort_on_data += o.abort_on_data;
        self.sack_recoveries += o.sack_recoveries;
        self.reno_recoveries += o.reno_recoveries;
        self.dsack_recv += o.dsack_recv;
        self.spurious_retrans += o.spurious_retrans;
        self.spurious_undos += o.spurious_undos;
        self.spurious_rtos += o.spurious_rtos;
        self.tlp_probes += o.tlp_probes;
        self.tlp_recoveries += o.tlp_recoveries;
        self.ecn_reductions += o.ecn_reductions;
        self.paced_delays += o.paced_delays;
        self.fin_wait2_timeouts += o.fin_wait2_timeouts;
        self.predicted_segments += o.predicted_segments;
        self.oow_acks_limited += o.oow_acks_limited;
    }
}

/// The low 16 bits of the three counters every segment bumps, kept apart from the rest of
/// [`TcpCounters`] so that a segment writes 6 bytes of a hot line instead of 24 bytes that
/// took the whole struct's first line with them (docs/benchmarks.md, "The connection
/// thinned"). The connection's `TcpCounters` holds what the low words carried out, a cold
/// line written once per 65,536 segments (at most a miss per 65,536 segments: 16-bit words
/// rather than 32-bit ones save 6 hot bytes for that); readers add the two (`combine`),
/// which is exact for any count below 2^64.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub(super) struct SegCounts {
    /// Low word of `TcpCounters::in_segs`.
    pub(super) in_segs: u16,
    /// Low word of `TcpCounters::out_segs`.
    pub(super) out_segs: u16,
    /// Low word of `TcpCounters::predicted_segments`.
    pub(super) predicted_segments: u16,
}

impl SegCounts {
    /// `high` with the low words added: the counters as one `TcpCounters`.
    pub(super) fn combine(&self, high: &TcpCounters) -> TcpCounters {
        TcpCounters {
            in_segs: high.in_segs + u64::from(self.in_segs),
            out_segs: high.out_segs + u64::from(self.out_segs),
            predicted_segments: high.predicted_segments + u64::from(self.predicted_segments),
            ..*high
        }
    }
}

/// What a wrap of a low word adds to its high word (a multiple of 2^16).
pub(super) const CARRY: u64 = 1 << 16;

/// Adds one to a count kept as a hot low word `low`, the rest in a high word: says whether
/// it wrapped, when the caller adds [`CARRY`] to the high word, in the connection's cold
/// parts, which it thus reads only on a wrap (passing the high word's address along loaded
/// the cold parts' pointer on every segment). The carry is inline, not a cold call: a call
/// would make the callers (`on_segment`) save registers and keep a frame on every segment.
#[inline(always)]
pub(super) fn bump_low(low: &mut u16) -> bool {
    let (sum, wrapped) = low.overflowing_add(1);
    *low = sum;
    wrapped
}

/// A 64-bit total derived from its low word `low` now, the low word `last` and high word
/// `high` as of the last reconciliation (`tcb::Totals`): less than 2^32 has been added
/// since, so a low word below `last` wrapped once.
#[inline]
pub(super) fn derive_total(low: u32, last: u32, high: u32) -> u64 {
    u64::from(high + u32::from(low < last)) << 32 | u64::from(low)
}

/// Whether a sequence number moving from `old` to `new` (forward, by less than 2^31)
/// crossed a 2^31 boundary of the sequence space: when the byte totals reconcile.
#[inline(always)]
pub(super) fn crossed_half(old: u32, new: u32) -> bool {
    (old ^ new) >> 31 != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A count's low word bumped, its carry added to the high word as the connection does.
    fn bump(low: &mut u16, high: &mut u64) {
        if bump_low(low) {
            *high += CARRY;
        }
    }

    /// The carries: a count and a total each cross a wrap of their low word, and what the
    /// readers combine is the 64-bit value (a carry dropped, doubled or added to the wrong
    /// word fails here).
    #[test]
    fn low_words_carry_into_the_high_ones() {
        let mut high = TcpCounters { in_segs: 5 << 16, out_segs: 7, ..Default::default() };
        let mut low = SegCounts { in_segs: u16::MAX - 1, out_segs: 3, predicted_segments: 0 };
        bump(&mut low.in_segs, &mut high.in_segs);
        assert_eq!((low.in_segs, high.in_segs), (u16::MAX, 5 << 16));
        assert_eq!(low.combine(&high).in_segs, (6 << 16) - 1);
        bump(&mut low.in_segs, &mut high.in_segs);
        assert_eq!((low.in_segs, high.in_segs), (0, 6 << 16));
        bump(&mut low.in_segs, &mut high.in_segs);
        let all = low.combine(&high);
        assert_eq!((all.in_segs, all.out_segs, all.predicted_segments), ((6 << 16) + 1, 10, 0));
        // Past 2^32 too: the high part is a `u64`.
        let mut high = TcpCounters { out_segs: u64::from(u32::MAX) + 1 - (1 << 16), ..high };
        let mut low = SegCounts { out_segs: u16::MAX, ..low };
        bump(&mut low.out_segs, &mut high.out_segs);
        assert_eq!(low.combine(&high).out_segs, 1 << 32);

        assert_eq!(derive_total(5, 3, 2), (2 << 32) + 5);
        assert_eq!(derive_total(3, 3, 2), (2 << 32) + 3);
        assert_eq!(derive_total(2, 3, 2), (3 << 32) + 2, "wrapped since");
        assert!(crossed_half(0x7fff_ffff, 0x8000_0000) && crossed_half(0xffff_fff0, 5));
        assert!(!crossed_half(0x8000_0000, 0xffff_ffff) && !crossed_half(5, 0x7fff_ffff));
    }
}

/// The byte totals derived from sequence numbers (`tcb::Totals`) across a wrap of their low
/// words and a reconciliation, on a connection made to look as if it had moved 4 GiB less
/// 100 bytes each way already, one of whose sequence numbers starts just below a 2^31
/// boundary (each direction's crossing must reconcile: a missing one fails here).
#[cfg(test)]
mod derived {
    use super::super::endpoint::Endpoint;
    use super::super::segment::{Flags, Segment, SegmentOptions};
    use super::super::{SeqNumber, TcpConfig};
    use crate::time::Instant;
    use std::net::{Ipv4Addr, SocketAddrV4};

    const NEAR: u32 = u32::MAX - 99;

    fn seg(seq: SeqNumber, ack: SeqNumber, flags: Flags, payload: &[u8]) -> Segment<'_> {
        Segment {
            seq,
            ack: Some(ack),
            flags: flags | Flags::ACK,
            window: 60000,
            options: SegmentOptions { mss: Some(1000), ..SegmentOptions::default() },
            payload,
        }
    }

    #[test]
    fn the_totals_count_on_across_a_wrap() {
        // Our data crosses 0x8000_0000 with the third 100 bytes, or the peer's does.
        across_a_wrap(0x7fff_ff00, 0x1000);
        across_a_wrap(0x1000, 0x7fff_ff00);
    }

    fn across_a_wrap(iss: u32, irs: u32) {
        let t = Instant::from_millis(1);
        let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let config = TcpConfig::default().with_nodelay(true);
        let mut c = Endpoint::connect(t, config, local, remote, SeqNumber(iss));
        assert!(c.poll_transmit(t).is_some(), "SYN");
        c.on_segment(t, &seg(SeqNumber(irs), SeqNumber(iss + 1), Flags::SYN, &[]));
        while c.poll_transmit(t).is_some() {}
        assert_eq!((c.info().bytes_acked, c.info().bytes_received), (0, 0));
        // As if 4 GiB less 100 bytes had gone each way, reconciled just now.
        c.cold.totals.acked_from = c.snd.base - NEAR;
        c.cold.totals.received_from = c.rcv.nxt - NEAR;
        (c.cold.totals.acked_low, c.cold.totals.received_low) = (NEAR, NEAR);
        let near = u64::from(NEAR);
        assert_eq!((c.info().bytes_acked, c.info().bytes_received), (near, near));
        let mut nxt = c.rcv.nxt;
        let mut una = c.snd.base;
        for k in 1..=4u64 {
            // 100 bytes in, and 100 bytes out and acknowledged.
            c.on_segment(t, &seg(nxt, una, Flags::NONE, &[1; 100]));
            nxt += 100u32;
            let mut buf = [0; 100];
            assert_eq!(c.recv(&mut buf), 100);
            assert_eq!(c.send(&[2; 100]), 100);
            while c.poll_transmit(t).is_some() {}
            una += 100u32;
            c.on_segment(t, &seg(nxt, una, Flags::NONE, &[]));
            assert_eq!(c.snd.base, una, "acknowledged");
            let info = c.info();
            assert_eq!((info.bytes_acked, info.bytes_received), (near + 100 * k, near + 100 * k));
            // The first 100 wrap the low words; the third crosses 2^31 of sequence space
            // (from 0x7fff_ff01), where the wraps are carried into the high words.
            let high = c.cold.seldom.totals_high;
            let carried = u32::from(k >= 3);
            assert_eq!((high.bytes_acked, high.bytes_received), (carried, carried), "{iss:x} {k}");
        }
        // The FIN takes a sequence number, not a byte.
        c.on_segment(t, &seg(nxt, una, Flags::FIN, &[]));
        assert!(c.rcv.fin_received);
        assert_eq!(c.info().bytes_received, near + 400);
    }
}
