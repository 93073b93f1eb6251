//! Segment generation: SYN, SYN-ACK, data, FIN, ACKs, window updates, probes and RSTs.

use super::connection::{Connection, State};
use super::segment::{Flags, SegmentHeader, SegmentOptions, Transmit};
use super::SeqNumber;
use crate::time::Instant;

/// What the next segment carries, decided before payload slices are borrowed.
struct Plan {
    header: SegmentHeader,
    /// Payload as (offset into the send buffer, length).
    data: (usize, usize),
}

impl Connection {
    /// The next segment to send, if any. Call until it returns `None`. The payload borrows the
    /// send buffer, so the caller writes the frame before calling anything else.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        let plan = self.plan_transmit(now)?;
        let h = &plan.header;
        if h.flags.rst() {
            self.counters.out_rsts += 1;
        }
        let (off, len) = plan.data;
        let (a, b) = self.send_buf.slices_at(off, len);
        Some(Transmit { header: plan.header, payload: [a, b] })
    }

    fn plan_transmit(&mut self, now: Instant) -> Option<Plan> {
        if let Some(rst) = self.rst_pending.take() {
            return Some(Plan { header: rst, data: (0, 0) });
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived if self.snd_nxt == self.iss => {
                return Some(self.plan_syn(now));
            }
            State::SynSent => return None,
            _ => {}
        }
        if self.fast_retransmit {
            self.fast_retransmit = false;
            if let Some(p) = self.plan_retransmit_una(now) {
                return Some(p);
            }
        }
        if self.state != State::SynReceived {
            if let Some(p) = self.plan_data(now) {
                return Some(p);
            }
        }
        if self.probe_pending {
            // Zero-window and keepalive probes: an old sequence number with no data makes the
            // peer answer with an ACK carrying its current window (the Linux form).
            self.probe_pending = false;
            let seq = self.snd_una - 1u32;
            let header = self.header(now, seq, Flags::ACK);
            self.count_out(false);
            return Some(Plan { header, data: (0, 0) });
        }
        if self.ack_now {
            // A pure ACK carries the highest sequence number sent, not SND.NXT: after a
            // timeout SND.NXT goes back, and the peer (which may hold everything up to SND.MAX)
            // would find an older number unacceptable and answer with an ACK of its own.
            let header = self.header(now, self.snd_max, Flags::ACK);
            self.count_out(false);
            return Some(Plan { header, data: (0, 0) });
        }
        self.arm_persist(now);
        None
    }

    /// SYN (active open) or SYN-ACK (passive or simultaneous open).
    fn plan_syn(&mut self, now: Instant) -> Plan {
        let synack = self.state == State::SynReceived;
        let retrans = self.snd_max != self.iss;
        let mut options = SegmentOptions { mss: Some(self.config.mss), ..Default::default() };
        // On a SYN-ACK, only echo what the peer offered (RFC 7323 §1.3, RFC 2018 §2).
        if self.config.window_scaling && (!synack || self.ws_ok) {
            options.window_scale = Some(self.config.recv_window_scale());
        }
        options.sack_permitted = self.config.sack && (!synack || self.sack_ok);
        if self.config.timestamps && (!synack || self.ts_ok) {
            options.timestamps = Some((self.ts_now(now), if synack { self.ts_recent } else { 0 }));
        }
        // RFC 7323 §2.2: the window in a SYN is not scaled.
        let window = self.recv_buf.free().min(usize::from(u16::MAX)) as u16;
        let (flags, ack) = if synack {
            self.rcv_adv = self.rcv_nxt + usize::from(window);
            self.last_ack_sent = self.rcv_nxt;
            self.ack_now = false;
            (Flags::SYN | Flags::ACK, Some(self.rcv_nxt))
        } else {
            (Flags::SYN, None)
        };
        let header = SegmentHeader { seq: self.iss, ack, flags, window, options };
        self.advance_snd(now, 1, retrans);
        self.count_out(retrans);
        Plan { header, data: (0, 0) }
    }

    /// Fast retransmission of the first unacknowledged segment (RFC 5681 §3.2 step 2, RFC 6582
    /// partial ACKs). Does not move `SND.NXT`.
    fn plan_retransmit_una(&mut self, now: Instant) -> Option<Plan> {
        let data_end = self.data_end();
        let una = self.snd_una;
        // Only bytes already sent: the segment is sized by the MSS of *now* (SACK blocks come
        // and go), and it must not reach past SND.MAX, or the peer's ACK for it would lie
        // beyond SND.MAX and be refused (RFC 5961 §5.2), stalling the connection.
        let sent_end = if self.snd_max < data_end { self.snd_max } else { data_end };
        let avail = (sent_end - una).max(0) as usize;
        let len = avail.min(self.send_mss());
        let fin_sent = self.fin_queued && self.snd_max > data_end;
        let fin = fin_sent && una + len == data_end;
        if len == 0 && !fin {
            return None;
        }
        let mut flags = Flags::ACK;
        if fin {
            flags = flags | Flags::FIN;
        }
        if len > 0 {
            flags = flags | Flags::PSH;
        }
        let header = self.header(now, una, flags);
        self.count_out(true);
        let off = (una - self.send_base).max(0) as usize;
        Some(Plan { header, data: (off, len) })
    }

    /// New data, RTO retransmissions (after `SND.NXT` went back) and FIN.
    fn plan_data(&mut self, now: Instant) -> Option<Plan> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            return None;
        }
        let data_end = self.data_end();
        let unsent = (data_end - self.snd_nxt).max(0) as usize;
        let in_flight = (self.snd_nxt - self.snd_una).max(0) as usize;
        let window = (self.snd_wnd as usize).min(self.cc.window());
        let retrans = self.snd_nxt < self.snd_max;
        let mss = self.send_mss();
        let mut usable = window.saturating_sub(in_flight);
        if retrans && self.snd_nxt == self.snd_una {
            // After a timeout the first unacknowledged segment goes out whatever the window
            // says (as Linux does): it doubles as a window probe, and a stale zero window
            // (say, from a reordered ACK) cannot stall the connection until it times out.
            usable = usable.max(mss);
        }
        let len = unsent.min(mss).min(usable);
        let fin_here = self.fin_queued && self.snd_nxt + len == data_end;

        if len == 0 {
            if !(fin_here && unsent == 0) {
                return None;
            }
        } else if len < mss && !retrans {
            // Sender SWS avoidance and Nagle (RFC 9293 §3.8.6.2.1, RFC 1122 §4.2.3.4): a short
            // segment goes only when nothing is outstanding (no ACK would come to clock a later
            // send; this also stands in for the RFC's override timer), when it is at least half
            // the largest window the peer offered, or when it carries everything queued and
            // Nagle is off (or we are closing, as Linux pushes on close).
            let nodelay = self.config.nodelay || self.fin_queued;
            let all_queued = len == unsent;
            let big_enough = len >= (self.max_snd_wnd as usize / 2).max(1);
            let idle = in_flight == 0;
            if !(idle || big_enough || (all_queued && nodelay)) {
                return None;
            }
        }
        let seq = self.snd_nxt;
        let mut flags = Flags::ACK;
        if len > 0 && len == unsent {
            flags = flags | Flags::PSH;
        }
        if fin_here {
            flags = flags | Flags::FIN;
        }
        let header = self.header(now, seq, flags);
        let off = (seq - self.send_base).max(0) as usize;
        self.advance_snd(now, len + usize::from(fin_here), retrans);
        self.count_out(retrans);
        Some(Plan { header, data: (off, len) })
    }

    /// Payload bytes a data segment may carry now: the MSS (timestamps already taken out)
    /// less the room the SACK blocks `header` will add, as Linux's `tcp_current_mss` does, so
    /// a full-sized segment that also reports out-of-order data still fits the path MTU.
    fn send_mss(&self) -> usize {
        if !self.sack_ok || self.reassembly.is_empty() {
            return self.mss;
        }
        let max = if self.ts_ok { 3 } else { 4 };
        let blocks = self.reassembly.range_count().min(max);
        // RFC 2018 §3: kind, length and 8 bytes per block, behind two NOPs for alignment
        // (the layout `wire::tcp` emits).
        let option = 4 + 8 * blocks;
        self.mss.saturating_sub(option).max(1)
    }

    /// Moves `SND.NXT` over `n` sequence numbers just sent, arming the retransmission timer
    /// and timing one segment for RTT when no timestamps are in use.
    fn advance_snd(&mut self, now: Instant, n: usize, retrans: bool) {
        if n == 0 {
            return;
        }
        let seq = self.snd_nxt;
        self.snd_nxt += n;
        if self.snd_nxt > self.snd_max {
            self.snd_max = self.snd_nxt;
        }
        if retrans {
            // Karn: a retransmitted range never yields an RTT sample.
            self.rtt_probe = None;
        } else if self.rtt_probe.is_none() && !self.ts_ok {
            self.rtt_probe = Some((seq, now));
        }
        if self.retransmit_at.is_none() {
            self.retransmit_at = Some(now + self.rto.rto());
        }
        self.persist_at = None;
        self.last_sent_for_keepalive(now);
    }

    fn last_sent_for_keepalive(&mut self, _now: Instant) {
        // Keepalive idles on received traffic only (as Linux does with `rcv_tstamp`).
    }

    fn count_out(&mut self, retrans: bool) {
        if retrans {
            self.counters.retrans_segs += 1;
            self.total_retransmits += 1;
        } else {
            self.counters.out_segs += 1;
        }
    }

    /// Fills the common header fields of a synchronized-state segment: ACK number, window,
    /// timestamps and SACK blocks. Sending an ACK satisfies any pending or delayed ACK.
    fn header(&mut self, now: Instant, seq: SeqNumber, flags: Flags) -> SegmentHeader {
        let mut options = SegmentOptions::default();
        if self.ts_ok {
            options.timestamps = Some((self.ts_now(now), self.ts_recent));
        }
        if self.sack_ok && !self.reassembly.is_empty() {
            let max = if self.ts_ok { 3 } else { 4 };
            options.sack_blocks = self.reassembly.sack_blocks(max);
        }
        let window = self.window_to_advertise();
        self.ack_now = false;
        self.delack_at = None;
        self.delack_segments = 0;
        self.last_ack_sent = self.rcv_nxt;
        SegmentHeader { seq, ack: Some(self.rcv_nxt), flags, window, options }
    }

    /// The window field to send, with receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right
    /// edge moves only by at least min(MSS, buffer/2) and never moves left.
    fn window_to_advertise(&mut self) -> u16 {
        let open_edge = self.rcv_nxt + self.recv_buf.free();
        let threshold = self.rcv_sws_threshold() as i32;
        let edge = if open_edge - self.rcv_adv >= threshold || self.rcv_adv < self.rcv_nxt {
            open_edge
        } else {
            self.rcv_adv.max(self.rcv_nxt)
        };
        let bytes = (edge - self.rcv_nxt).max(0) as u32;
        let shift = self.rcv_wscale;
        // Round up when keeping the old edge so scaling never shrinks the window; the receive
        // path trims anything beyond the real free space.
        let units = if edge == open_edge { bytes >> shift } else { bytes.div_ceil(1 << shift) };
        let units = units.min(u32::from(u16::MAX));
        let adv_edge = self.rcv_nxt + (units << shift);
        if adv_edge > self.rcv_adv {
            self.rcv_adv = adv_edge;
        }
        units as u16
    }

    /// Starts the persist timer when data waits behind a zero window and nothing is in flight
    /// (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
    fn arm_persist(&mut self, now: Instant) {
        let waiting = (self.data_end() - self.snd_nxt) > 0
            || (self.fin_queued && self.snd_nxt == self.data_end());
        if self.state.is_synchronized()
            && self.snd_wnd == 0
            && waiting
            && self.snd_max == self.snd_una
            && self.persist_at.is_none()
        {
            let shift = self.persist_backoff.min(20);
            let d = self.rto.base_rto().saturating_mul(1 << shift).min(self.config.max_rto);
            self.persist_at = Some(now + d);
        }
    }
}
