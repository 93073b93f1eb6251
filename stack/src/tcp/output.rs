//! Segment generation: SYN, SYN-ACK, data, FIN, ACKs, window updates, probes and RSTs.

use super::cc::CongestionControl as _;
use super::chrono::Kind;
use super::chunk::{ChunkPool, MemoryLevel, CHUNK_SIZE};
use super::connection::{Connection, State};
use super::segment::{Flags, SackBlocks, SegmentHeader, SegmentOptions, Transmit};
use super::tcb::ColdDeadline;
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// What the next segment carries, decided before payload slices are borrowed.
pub(super) struct Plan {
    pub(super) header: SegmentHeader,
    /// Payload as (offset into the send buffer, length).
    pub(super) data: (usize, usize),
    /// Send with ECT(0) in the IP header (new data on an ECN connection, RFC 3168 §6.1.5).
    pub(super) ect: bool,
}

/// What [`Connection::ack_fields`] gives: a synchronized-state segment's fields but its
/// sequence number and SACK blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct AckFields {
    pub(super) ack: SeqNumber,
    pub(super) flags: Flags,
    pub(super) window: u16,
    pub(super) timestamps: Option<(u32, u32)>,
}

/// Where a data segment sits in the TSO packet Linux would build around it: its place (from 1)
/// and the packet's size, both in segments. Pacing spaces packets, not segments.
#[derive(Clone, Copy)]
struct PacketPlace {
    seg: u16,
    goal: u16,
}

impl Plan {
    fn new(header: SegmentHeader, data: (usize, usize)) -> Plan {
        Plan { header, data, ect: false }
    }
}

impl Connection {
    /// The next segment to send, if any. Call until it returns `None`. The payload borrows
    /// the chunk pool, so the caller writes the frame before calling anything else.
    pub fn poll_transmit<'p>(
        &mut self,
        now: Instant,
        pool: &'p mut ChunkPool,
    ) -> Option<Transmit<'p>> {
        self.poll_transmit_with(now, pool, true)
    }

    /// [`poll_transmit`](Self::poll_transmit) for a caller that just had `None` from
    /// [`poll_transmit_common`](Self::poll_transmit_common): the common case is not asked
    /// again.
    pub fn poll_transmit_general<'p>(
        &mut self,
        now: Instant,
        pool: &'p mut ChunkPool,
    ) -> Option<Transmit<'p>> {
        self.poll_transmit_with(now, pool, false)
    }

    #[inline]
    fn poll_transmit_with<'p>(
        &mut self,
        now: Instant,
        pool: &'p mut ChunkPool,
        fast: bool,
    ) -> Option<Transmit<'p>> {
        self.note_level(pool);
        // Every debug-build test (the simulator's lossy runs included) checks that the cheap
        // test never says "nothing" when there is something.
        #[cfg(debug_assertions)]
        let may = self.may_transmit();
        let plan = self.plan_transmit(now, fast);
        #[cfg(debug_assertions)]
        debug_assert!(may || plan.is_none(), "may_transmit() missed a segment");
        let plan = plan?;
        let h = &plan.header;
        if h.flags.rst() {
            self.cold.counters.out_rsts += 1;
        }
        if self.mem_level != MemoryLevel::Normal && h.ack.is_some() && !h.flags.rst() {
            // The window this segment offers was clamped (`autotune::recv_space`).
            pool.counters.window_clamped += 1;
        }
        let pool: &'p ChunkPool = pool;
        let payload = self.payload_pieces(pool, plan.data);
        Some(Transmit { header: plan.header, payload, ect: plan.ect })
    }

    /// The send buffer's bytes `data` (offset, length) as up to three pieces.
    #[inline]
    pub(super) fn payload_pieces<'p>(
        &mut self,
        pool: &'p ChunkPool,
        (off, len): (usize, usize),
    ) -> [&'p [u8]; 3] {
        let (a, b) = self.send_buf.slices_at(pool, off, len);
        // A jumbo segment may reach into a third chunk.
        let got = a.len() + b.len();
        let c = if got < len { self.third_piece(pool, off + got, len - got) } else { &[] };
        [a, b, c]
    }

    /// The third piece of a segment longer than two buffer chunks hold (jumbo frames only):
    /// out of line, so the common path keeps its one inlined `slices_at`.
    #[cold]
    #[inline(never)]
    fn third_piece<'p>(&mut self, pool: &'p ChunkPool, off: usize, len: usize) -> &'p [u8] {
        self.send_buf.slices_at(pool, off, len).0
    }

    /// Whether [`poll_transmit`](Self::poll_transmit) could return a segment now. A cheap,
    /// conservative test: `false` only when it certainly would return `None` (and so would
    /// change nothing, the persist timer included, which needs unsent data or a FIN). The
    /// stack uses it to drop a connection from its transmit queue right after its last
    /// segment, instead of planning once more to learn that nothing is left.
    #[inline]
    pub fn may_transmit(&self) -> bool {
        let handshake = matches!(self.state, State::SynSent | State::SynReceived)
            && self.snd.nxt == self.cold.rare.iss;
        let data_end = self.data_end();
        self.rst_queued()
            || self.ack.now
            || self.probes.pending
            || self.loss.tlp_pending
            || handshake
            || self.loss.board.may_have_lost()
            || data_end > self.snd.nxt
            || (self.fin_queued && self.snd.nxt <= data_end)
    }

    fn plan_transmit(&mut self, now: Instant, fast: bool) -> Option<Plan> {
        // Its presence alone first (`take_rst` reads the flag in a hot line): the header's 72
        // bytes are in cold lines (`Connection`'s layout note), and the common segment has no
        // RST to send.
        if let Some(mut rst) = self.take_rst() {
            // A reset of a synchronized connection carries timestamps when they were
            // negotiated, as every segment then does (RFC 7323 §3.2; Linux
            // `tcp_send_active_reset`).
            if self.opts.ts_ok && rst.ack.is_some() {
                rst.options.timestamps = Some((self.ts_now(now), self.opts.ts_recent));
            }
            return Some(Plan::new(rst, (0, 0)));
        }
        // The common data segment first (`send_fast`): it changes nothing unless it sends.
        if fast {
            if let Some(p) = self.plan_fast(now) {
                return Some(p);
            }
        }
        match self.state {
            State::Closed | State::Listen => return None,
            State::SynSent | State::SynReceived if self.snd.nxt == self.cold.rare.iss => {
                return Some(self.plan_syn(now));
            }
            State::SynSent => return None,
            _ => {}
        }
        if self.state != State::SynReceived {
            // RFC 6675 NextSeg: lost segments first, then new data; a pending tail loss probe
            // (RFC 8985 §7.3) goes before ordinary new data.
            // F-RTO step 2b (RFC 5682): after a timeout, new data may go before the rest.
            let frto_new_data = self.loss.frto.holds_retransmissions();
            // The scoreboard's own test first, so the common case (nothing lost) makes no call.
            if !frto_new_data && self.loss.board.may_have_lost() {
                if let Some(p) = self.plan_lost(now) {
                    return Some(p);
                }
            }
            if self.loss.tlp_pending {
                self.loss.tlp_pending = false;
                if let Some(p) = self.plan_probe(now) {
                    return Some(p);
                }
            }
            if let Some(p) = self.plan_data(now, false) {
                return Some(p);
            }
            if frto_new_data {
                // Nothing new could go: back to retransmitting (step 2a).
                self.recovery().frto_nothing_new();
                if !self.loss.frto.holds_retransmissions() {
                    if let Some(p) = self.plan_lost(now) {
                        return Some(p);
                    }
                }
            }
            // The burst of new data is over: the next one starts a new TSO packet (`push`).
            self.marks.tso_end();
        }
        if self.probes.pending {
            // Zero-window and keepalive probes: an old sequence number with no data makes the
            // peer answer with an ACK carrying its current window (the Linux form).
            self.probes.pending = false;
            let seq = self.snd.una - 1u32;
            let header = self.header(now, seq, Flags::ACK);
            self.count_out(false);
            return Some(Plan::new(header, (0, 0)));
        }
        if self.ack.now {
            // A pure ACK carries the highest sequence number sent, not SND.NXT: after a
            // timeout SND.NXT goes back, and the peer (which may hold everything up to SND.MAX)
            // would find an older number unacceptable and answer with an ACK of its own.
            let header = self.header(now, self.snd.max, Flags::ACK);
            self.count_out(false);
            return Some(Plan::new(header, (0, 0)));
        }
        self.arm_persist(now);
        None
    }

    /// SYN (active open) or SYN-ACK (passive or simultaneous open).
    fn plan_syn(&mut self, now: Instant) -> Plan {
        let synack = self.state == State::SynReceived;
        let retrans = self.snd.max != self.cold.rare.iss;
        let mut options = SegmentOptions { mss: Some(self.config.mss), ..Default::default() };
        // On a SYN-ACK, only echo what the peer offered (RFC 7323 §1.3, RFC 2018 §2).
        if self.config.window_scaling && (!synack || self.cold.rare.ws_ok) {
            options.window_scale = Some(self.config.recv_window_scale());
        }
        options.sack_permitted = self.config.sack && (!synack || self.opts.sack_ok);
        if self.config.timestamps && (!synack || self.opts.ts_ok) {
            options.timestamps =
                Some((self.ts_now(now), if synack { self.opts.ts_recent } else { 0 }));
        }
        // RFC 7323 §2.2: the window in a SYN is not scaled.
        let window = self.recv_space().min(usize::from(u16::MAX)) as u16;
        let (mut flags, ack) = if synack {
            self.rcv.adv = self.rcv.nxt + usize::from(window);
            self.rcv.last_ack_sent = self.rcv.nxt;
            self.ack.now = false;
            (Flags::SYN | Flags::ACK, Some(self.rcv.nxt))
        } else {
            (Flags::SYN, None)
        };
        // RFC 3168 §6.1.1: an ECN-setup SYN carries ECE and CWR; the SYN-ACK agrees with ECE.
        if synack && self.ecn.ok {
            flags |= Flags::ECE;
        } else if !synack && self.config.ecn {
            flags = flags | Flags::ECE | Flags::CWR;
        }
        let header = SegmentHeader { seq: self.cold.rare.iss, ack, flags, window, options };
        self.advance_snd(now, 1, retrans);
        self.count_out(retrans);
        Plan::new(header, (0, 0))
    }

    /// Retransmits the first lost segment of the scoreboard if the window allows (RFC 6675
    /// NextSeg rule 1, and the go-back after a timeout). Does not move `SND.NXT`.
    fn plan_lost(&mut self, now: Instant) -> Option<Plan> {
        let i = self.loss.board.next_lost()?;
        // A record sent before the path MTU fell goes again in pieces of the new size (a FIN
        // takes no room).
        let data = self.loss.board.get(i).map_or(0, |r| r.end.min(self.data_end()) - r.start);
        if data.max(0) as usize > self.opts.mss() {
            self.loss.board.split(i, self.opts.mss());
        }
        let rec = *self.loss.board.get(i)?;
        let pipe = self.pipe();
        // RFC 6675 §5 step (C): send while cwnd - pipe leaves room; one segment always goes
        // when nothing is in flight.
        let first_of_episode = core::mem::take(&mut self.cold.loss_cold.retransmit_now);
        if pipe > 0 && pipe + rec.len() > self.send_window() && !first_of_episode {
            return None;
        }
        // Beyond the first unacknowledged segment, stay inside the offered window. The first
        // one goes whatever the window says (as Linux does): it doubles as a window probe, and a
        // stale zero window (say, from a reordered ACK) cannot stall the connection.
        if rec.start != self.snd.una && rec.end > self.snd.una + self.snd.wnd {
            return None;
        }
        Some(self.emit_retransmission(now, i))
    }

    /// Sends scoreboard record `i` again.
    fn emit_retransmission(&mut self, now: Instant, i: usize) -> Plan {
        let rec = self.loss.board.get(i).copied();
        let (start, end) = rec.map_or((self.snd.una, self.snd.una), |r| (r.start, r.end));
        let data_end = self.data_end();
        let len = (end.min(data_end) - start).max(0) as usize;
        let fin = self.fin_queued && end > data_end;
        let mut flags = Flags::ACK;
        // A retransmission keeps the PSH of the segment it repeats (Linux retransmits the
        // same skb, or a front part of it without PSH).
        if len > 0 && rec.is_some_and(|r| r.push) {
            flags |= Flags::PSH;
        }
        if fin {
            flags |= Flags::FIN;
        }
        let header = self.header(now, start, flags);
        self.loss.board.on_retransmit(i, now);
        // Karn: a retransmitted range never yields an RTT sample.
        self.rtx.stop_timing();
        if self.timers.retransmit_at.is_none() {
            self.timers.retransmit_at = Some(now + self.rtx.timeout(&self.config));
        }
        self.recovery().note_retransmission(len);
        self.count_out(true);
        let off = (start - self.snd.base).max(0) as usize;
        // RFC 3168 §6.1.5: retransmissions are not ECN-capable.
        Plan::new(header, (off, len))
    }

    /// The tail loss probe (RFC 8985 §7.3): one segment of new data if the peer's window allows,
    /// else the last segment not yet SACKed again.
    fn plan_probe(&mut self, now: Instant) -> Option<Plan> {
        // One probe at a time (RFC 8985 §7.3): no new probe timer until this one is answered.
        if let Some(p) = self.plan_data(now, true) {
            self.loss.set_tlp_end(&mut self.cold.loss_cold, Some((self.snd.max, false)));
            self.loss.tlp_at = None;
            return Some(p);
        }
        let i = (0..self.loss.board.len())
            .rev()
            .find(|&i| self.loss.board.get(i).is_some_and(|r| !r.sacked))?;
        let p = self.emit_retransmission(now, i);
        self.loss.set_tlp_end(&mut self.cold.loss_cold, Some((self.snd.max, true)));
        self.loss.tlp_at = None;
        Some(p)
    }

    /// New data and FIN. A `probe` ignores the congestion window (one segment only).
    fn plan_data(&mut self, now: Instant, probe: bool) -> Option<Plan> {
        if !matches!(
            self.state,
            State::Established
                | State::CloseWait
                | State::FinWait1
                | State::Closing
                | State::LastAck
        ) {
            self.chrono_set(now, Kind::Idle);
            return None;
        }
        let data_end = self.data_end();
        let unsent = (data_end - self.snd.nxt).max(0) as usize;
        let in_flight = (self.snd.nxt - self.snd.una).max(0) as usize;
        let peer_room = ((self.snd.una + self.snd.wnd) - self.snd.nxt).max(0) as usize;
        let cwnd_room = self.send_window().saturating_sub(self.pipe());
        let mut usable =
            if probe { peer_room.min(self.opts.mss()) } else { peer_room.min(cwnd_room) };
        if !self.loss.board.has_room() {
            // The scoreboard is full: wait for ACKs (bounded memory, no allocation).
            usable = 0;
        }
        // Like Linux's `tcp_current_mss`: the SACK blocks this segment will carry come out of
        // its payload, so header plus data still fit the MSS the peer and the MTU allow.
        let seg_max = self.opts.mss().saturating_sub(self.sack_option_len()).max(1);
        // A segment's payload goes out as up to three slices: it may cross two chunk
        // boundaries, not three (only an MSS above two chunks, beyond 9000-byte jumbo
        // frames, meets this bound).
        let at = self.send_buf.head_offset() + (self.snd.nxt - self.snd.base).max(0) as usize;
        let three_chunks = 3 * CHUNK_SIZE - at % CHUNK_SIZE;
        let seg_max = seg_max.min(three_chunks);
        if !probe {
            // Linux's `tcp_snd_wnd_test`: the next segment does not fit the peer's window.
            let rwnd_limited = unsent > 0 && peer_room < unsent.min(seg_max);
            self.chrono_set(now, Kind::of(unsent > 0 || in_flight > 0, rwnd_limited));
        }
        let mut len = unsent.min(seg_max).min(usable);
        // MSG_EOR: no segment spans the end of a record, and one that reaches it is complete
        // as it is (not a short segment for Nagle or cork).
        let record_end = self.marks.record_end(&self.cold.records, self.snd.nxt);
        if let Some(r) = record_end {
            len = len.min((r - self.snd.nxt).max(0) as usize);
        }
        let ends_record = len > 0 && record_end == Some(self.snd.nxt + len);
        let fin_here = self.fin_queued && self.snd.nxt + len == data_end;

        if len == 0 {
            if !(fin_here && unsent == 0) || probe {
                return None;
            }
        } else if len < seg_max && !ends_record {
            // TCP_CORK and a fresh MSG_MORE tail hold a short segment (`push`); closing
            // pushes everything.
            if self.marks.holds_short() && !self.fin_queued && !probe {
                return None;
            }
            // Sender SWS avoidance and Nagle (RFC 9293 §3.8.6.2.1, RFC 1122 §4.2.3.4): a short
            // segment goes only when nothing is outstanding (no ACK would come to clock a later
            // send; this also stands in for the RFC's override timer), when it is at least half
            // the largest window the peer offered, or when it carries everything queued and
            // Nagle is off (or we are closing, as Linux pushes on close).
            let nodelay = self.opts.flags.nodelay() || self.fin_queued;
            let all_queued = len == unsent;
            let big_enough = len >= (self.snd.max_wnd as usize / 2).max(1);
            let idle = in_flight == 0;
            // With nothing in flight, a segment cut short by the peer's window rather than by
            // the data waits for the persist timer, which then sends what fits, as Linux does
            // (`tcp_snd_wnd_test` fails in `tcp_write_xmit`; `tcp_write_wakeup` later): a
            // sliver sent at once would leave the rest waiting for the timer all the same.
            // (The peer's window specifically: after a timeout the congestion window can cut
            // a segment short with nothing in flight, and that one goes.)
            let window_short =
                idle && peer_room < unsent.min(seg_max) && !self.probes.window_wakeup;
            if window_short || !(idle || big_enough || (all_queued && nodelay)) {
                return None;
            }
        }
        // Pacing holds a packet, not a segment: the segments of an open TSO packet leave
        // together, as Linux's `tcp_pacing_check` runs once per skb in `tcp_write_xmit`.
        if !probe && self.marks.tso_idle() && self.pacing_hold(now) {
            return None;
        }
        let seq = self.snd.nxt;
        let mut flags = Flags::ACK;
        // PSH where a write or record ends, where a round stops at a full window outside loss
        // recovery, and on the last segment of each full TSO packet of two or more segments
        // that Linux would build (`push`). Only the first two are the segment's own: Linux sets
        // the TSO one on the copy it transmits, so a retransmission does not repeat it. A probe
        // is one segment, a packet of its own.
        let rest = unsent - len;
        let round_end = rest > 0
            && usable - len < rest.min(seg_max)
            && self.loss.episode.is_none()
            && !self.marks.holds_short();
        let push = len > 0 && (self.marks.push_at(&self.cold.records, seq, seq + len) || round_end);
        let mut tso_push = false;
        // This segment's place in its TSO packet and the packet's size, in segments (pacing).
        let mut packet = PacketPlace { seg: 1, goal: 1 };
        let ends_packet = push || ends_record || fin_here;
        if len > 0 && !probe {
            let idle = self.marks.tso_idle();
            // A segment that opens a packet and ends it at once (each message of a
            // request/response exchange) is a packet of one: its PSH is the segment's own, and
            // a size goal (at least two segments, two 128-bit divisions to compute) could
            // neither fill it nor keep it open, so none is computed and no packet is opened.
            if !(idle && ends_packet) {
                let goal = if idle { self.tso_goal() } else { 0 };
                let (segs, full) = self.marks.tso_add(goal);
                packet = PacketPlace { seg: segs, goal: self.marks.tso_goal().max(segs) };
                tso_push = segs >= 2 && full;
                if full || ends_packet {
                    self.marks.tso_end();
                }
            }
        } else {
            self.marks.tso_end();
        }
        if push || tso_push {
            flags |= Flags::PSH;
        }
        if fin_here {
            flags |= Flags::FIN;
        }
        if self.ecn.take_cwr(len) {
            // RFC 3168 §6.1.2: the first new data after a reduction tells the receiver.
            flags |= Flags::CWR;
        }
        let header = self.header(now, seq, flags);
        let off = (seq - self.snd.base).max(0) as usize;
        let n = len + usize::from(fin_here);
        self.note_new_sent(now, seq, len, n, push);
        self.pacing_sent(now, len, packet);
        self.arm_tlp_sent(now);
        self.count_out(false);
        Some(Plan { header, data: (off, len), ect: self.ecn.ok && len > 0 })
    }

    /// What sending new sequence space `seq .. seq + n` (`len` data bytes, then a FIN if `n`
    /// is one more) does to the send state: SND.NXT, the window probe's wake-up, the quick-ACK
    /// and delayed-ACK state (RFC 9293 §3.8.6.3: data carries the ACK), the PSH marks, the
    /// scoreboard's record, the flight's high-water mark and PRR's count (RFC 6937). One
    /// routine for the general planner and the common segment (`send_fast`), so the two
    /// cannot drift apart; inlined, so the common segment's `len > 0` folds away.
    #[inline(always)]
    pub(super) fn note_new_sent(
        &mut self,
        now: Instant,
        seq: SeqNumber,
        len: usize,
        n: usize,
        push: bool,
    ) {
        self.advance_snd(now, n, false);
        if len > 0 {
            self.probes.window_wakeup = false;
            self.quickack.on_data_sent(now, self.config.delayed_ack_timeout);
            self.marks.on_sent(&mut self.cold.records, seq + len);
        }
        self.loss.board.push(seq, seq + n, now, push);
        let flight = (self.snd.nxt - self.snd.una).max(0) as u32;
        self.loss.flight_high.on_send(flight, self.snd.nxt, self.snd.una);
        if self.loss.episode.is_some() {
            // PRR counts only within an episode (`LossCold::prr`): its line stays cold.
            self.cold.loss_cold.prr.on_sent(len);
        }
    }

    /// How many segments Linux would put in the next TSO packet (`tcp_tso_autosize`): what
    /// its pacing rate (cwnd / SRTT, times 2 in slow start and 1.2 after) sends in 1/1024 s
    /// (`sk_pacing_shift` 10), at least `tcp_min_tso_segs` (2), at most 64 KiB
    /// (`GSO_LEGACY_MAX_SIZE`). Linux adds a bonus for paths under 16 ms (`tcp_tso_rtt_log`)
    /// that depends on the device's GSO size; without a device, that is left out. Computed
    /// once per packet, not per segment.
    pub(super) fn tso_goal(&self) -> u16 {
        const MIN_TSO_SEGS: u128 = 2;
        let mss = self.opts.mss().max(1) as u128;
        let most = (65_536 / mss).max(MIN_TSO_SEGS);
        let Some(srtt) = self.rtx.rto.srtt() else { return MIN_TSO_SEGS as u16 };
        let cwnd = self.cold.cc.window().max(self.opts.mss()) as u128;
        let (num, den) = if self.cold.cc.in_slow_start() { (2u128, 1u128) } else { (6, 5) };
        let srtt_ns = u128::from(srtt.total_nanos()).max(1);
        let bytes = cwnd * num * 1_000_000_000 / (den * srtt_ns * 1024);
        (bytes / mss).clamp(MIN_TSO_SEGS, most).min(u128::from(u16::MAX)) as u16
    }

    /// Pacing (off by default): whether the next data segment must wait. The wait is reported
    /// through `poll_timeout`.
    fn pacing_hold(&mut self, now: Instant) -> bool {
        match self.cold_at(ColdDeadline::Pacing) {
            Some(t) if self.opts.flags.pacing() && t > now => {
                if !self.timer_flags.pacing_held {
                    self.cold.counters.paced_delays += 1;
                }
                self.timer_flags.pacing_held = true;
                true
            }
            _ => {
                self.timer_flags.pacing_held = false;
                false
            }
        }
    }

    /// Linux's pacing rate, `sk_pacing_rate` as `tcp_update_pacing_rate` sets it, in bytes
    /// per second: `max(cwnd, packets_out) / SRTT`, times `tcp_pacing_ss_ratio` (200 %) while
    /// cwnd is under half of ssthresh, else `tcp_pacing_ca_ratio` (120 %): near the end of
    /// slow start it already slows down. `None` before an RTT sample (Linux's rate is then
    /// unbounded in practice: divided by no SRTT).
    fn pacing_rate(&self) -> Option<u128> {
        const SS_RATIO: u128 = 200;
        const CA_RATIO: u128 = 120;
        let srtt = self.rtx.rto.srtt()?;
        let cwnd = self.send_window().max(self.opts.mss());
        let in_flight = (self.snd.nxt - self.snd.una).max(0) as usize;
        let ratio = if cwnd < self.cold.cc.ssthresh() / 2 { SS_RATIO } else { CA_RATIO };
        let bytes = cwnd.max(in_flight) as u128 * ratio * 1_000_000_000 / 100;
        Some((bytes / u128::from(srtt.total_nanos()).max(1)).max(1))
    }

    /// Moves the pacing time stamp past a data segment just sent, Linux's earliest departure
    /// time model (`tcp_update_skb_after_send`, Linux 4.20 on): each packet's departure is the
    /// previous one's plus `len / rate`. Three details of Linux's are kept, as its timing
    /// shows in google's packetdrill suite (`slow-start-fq-ack-per-2pkt`):
    /// - the first ten data segments are not paced (sch_fq never paced a flow's first ten),
    ///   counted in whole packets;
    /// - after an idle time the stamp restarts at now, and the time it jumped forward is a
    ///   credit that takes up to half off the packet's interval ("OS jitter"): Linux takes it
    ///   off the whole TSO packet, so the packet that opens takes it off up front, for the
    ///   segments it is meant to hold (`tso_goal`), and the stamp may lie before now;
    /// - the rate is the one in force when the packet leaves ([`Self::pacing_rate`]).
    ///
    /// Retransmissions are neither held nor spaced (Linux paces them too, from
    /// `tcp_xmit_retransmit_queue`).
    fn pacing_sent(&mut self, now: Instant, len: usize, packet: PacketPlace) {
        const UNPACED_SEGS: u32 = 10;
        if !self.opts.flags.pacing() || len == 0 {
            return;
        }
        let sent = &mut self.timer_flags.pacing_data_segs;
        *sent = sent.saturating_add(1);
        // Linux counts the packet's segments before it decides (`data_segs_out >= 10` after
        // the whole packet): the packet that reaches the tenth segment is paced whole.
        let through_packet = u32::from(*sent) - u32::from(packet.seg) + u32::from(packet.goal);
        let rate = self.pacing_rate().filter(|_| through_packet >= UNPACED_SEGS);
        let Some(rate) = rate else {
            // Unpaced, the stamp still follows the clock (`tcp_wstamp_ns` moves to now on
            // every transmission), so that the first paced packet sees the credit of the time
            // since.
            self.set_cold_at(
                ColdDeadline::Pacing,
                Some(self.cold_at(ColdDeadline::Pacing).map_or(now, |t| t.max(now))),
            );
            return;
        };
        let interval = |bytes: usize| {
            let nanos = bytes as u128 * 1_000_000_000 / rate;
            Duration::from_nanos(nanos.min(u128::from(u64::MAX)) as u64)
        };
        let mut stamp = self.cold_at(ColdDeadline::Pacing).unwrap_or(now);
        if packet.seg == 1 && stamp < now {
            let credit = now - stamp;
            let half_packet = interval(usize::from(packet.goal) * len).total_nanos() / 2;
            stamp = now - Duration::from_nanos(half_packet.min(credit.total_nanos()));
        }
        self.set_cold_at(ColdDeadline::Pacing, Some(stamp + interval(len)));
    }

    /// Moves `SND.NXT` over `n` sequence numbers just sent, arming the retransmission timer
    /// and timing one segment for RTT when no timestamps are in use.
    #[inline]
    pub(super) fn advance_snd(&mut self, now: Instant, n: usize, retrans: bool) {
        if n == 0 {
            return;
        }
        let seq = self.snd.nxt;
        self.snd.nxt += n;
        if self.snd.nxt > self.snd.max {
            self.snd.max = self.snd.nxt;
        }
        // Without timestamps one segment at a time is timed (tested first: with them, as on
        // most connections, the timing flag is not read).
        if retrans {
            // Karn: a retransmitted range never yields an RTT sample.
            self.rtx.stop_timing();
        } else if !self.opts.ts_ok && !self.rtx.timing() {
            self.rtx.start_timing(&mut self.cold.rtx_cold, now);
            self.cold.rare.rtt_probe_seq = seq;
        }
        if self.timers.retransmit_at.is_none() {
            self.timers.retransmit_at = Some(now + self.rtx.timeout(&self.config));
        }
        self.set_cold_at(ColdDeadline::Persist, None);
        self.last_sent_for_keepalive(now);
    }

    fn last_sent_for_keepalive(&mut self, _now: Instant) {
        // Keepalive idles on received traffic only (as Linux does with `rcv_tstamp`).
    }

    pub(super) fn count_out(&mut self, retrans: bool) {
        if retrans {
            self.cold.counters.retrans_segs += 1;
            self.cold.seldom.retransmits += 1;
        } else {
            if super::counters::bump_low(&mut self.seg_counts.out_segs) {
                self.cold.counters.out_segs += super::counters::CARRY;
            }
        }
    }

    /// Bytes the SACK option takes on the next segment (RFC 2018 §3): two NOPs, kind and length,
    /// then 8 per block — a DSACK block first, then held out-of-order ranges, at most 3 beside
    /// timestamps (whose 12 bytes `mss` already excludes) or 4 without.
    pub(super) fn sack_option_len(&self) -> usize {
        if !self.opts.sack_ok {
            return 0;
        }
        let max = if self.opts.ts_ok { 3 } else { 4 };
        let blocks = (usize::from(self.rcv.dsack_pending()) + self.ooo_ranges as usize).min(max);
        if blocks == 0 {
            0
        } else {
            4 + 8 * blocks
        }
    }

    /// The ACK a connection still owes when the stack frees it instead of letting it enter
    /// TIME-WAIT (`StackConfig::max_time_wait` overflow), or `None` if none is owed. The
    /// peer's FIN that ended the close must still be acknowledged, or the peer stays in
    /// LAST-ACK retransmitting it (Linux `tcp_fin` sends this ACK before `tcp_time_wait`
    /// finds no bucket). Stamped with that FIN's arrival, which is now: TIME-WAIT is only
    /// ever entered on receiving a segment.
    pub(crate) fn take_owed_ack(&mut self) -> Option<SegmentHeader> {
        if !self.ack.now {
            return None;
        }
        let header = self.header(self.rcv.last_recv, self.snd.max, Flags::ACK);
        self.count_out(false);
        Some(header)
    }

    /// Fills the common header fields of a synchronized-state segment: ACK number, window,
    /// timestamps and SACK blocks. Sending an ACK satisfies any pending or delayed ACK.
    pub(super) fn header(&mut self, now: Instant, seq: SeqNumber, flags: Flags) -> SegmentHeader {
        let mut options = SegmentOptions::default();
        let dsack = self.rcv.take_dsack(&self.cold.rcv_cold);
        if self.opts.sack_ok && (dsack.is_some() || self.holds_out_of_order()) {
            let max = if self.opts.ts_ok { 3 } else { 4 };
            // RFC 2883 §4: a DSACK block goes first, in one ACK only.
            let mut blocks = SackBlocks::EMPTY;
            if let Some((l, r)) = dsack {
                blocks.push(l, r);
            }
            for &(l, r) in self.cold.reassembly.sack_blocks(max - blocks.len()).as_slice() {
                blocks.push(l, r);
            }
            options.sack_blocks = blocks;
        }
        let f = self.ack_fields(now, flags);
        options.timestamps = f.timestamps;
        SegmentHeader { seq, ack: Some(f.ack), flags: f.flags, window: f.window, options }
    }

    /// The fields every synchronized-state segment carries but the sequence number and SACK
    /// blocks (ACK number, flags with ECE, window, timestamps), with sending an ACK's effects:
    /// any pending or delayed ACK is satisfied.
    #[inline]
    pub(super) fn ack_fields(&mut self, now: Instant, flags: Flags) -> AckFields {
        let timestamps =
            if self.opts.ts_ok { Some((self.ts_now(now), self.opts.ts_recent)) } else { None };
        let window = self.window_to_advertise();
        // RFC 3168 §6.1.3: echo congestion until the sender confirms with CWR.
        let flags = if self.ecn.echoes() { flags | Flags::ECE } else { flags };
        self.ack.now = false;
        self.timers.delack_at = None;
        if self.ack.delack_segments > 0 {
            self.quickack.on_ack_sent();
        }
        self.ack.delack_segments = 0;
        self.rcv.last_ack_sent = self.rcv.nxt;
        AckFields { ack: self.rcv.nxt, flags, window, timestamps }
    }

    /// The window field to send, with receiver SWS avoidance (RFC 9293 §3.8.6.2.2): the right
    /// edge moves only by at least min(MSS, buffer/2) and never moves left.
    ///
    /// At the memory budget's hard limit the window offered is zero, even though that moves
    /// the edge left (as Linux does, `ICSK_ACK_NOMEM`): data sent into it would be dropped
    /// for want of a chunk, and a zero window makes the sender probe instead of retransmit.
    #[inline]
    fn window_to_advertise(&mut self) -> u16 {
        if self.mem_level == MemoryLevel::Exhausted {
            self.window_zeroed = true;
            return 0;
        }
        let open_edge = self.rcv.nxt + self.recv_space();
        let threshold = self.rcv_sws_threshold() as i32;
        let edge = if open_edge - self.rcv.adv >= threshold || self.rcv.adv < self.rcv.nxt {
            open_edge
        } else {
            self.rcv.adv.max(self.rcv.nxt)
        };
        let bytes = (edge - self.rcv.nxt).max(0) as u32;
        let shift = self.opts.rcv_wscale;
        // Round up when keeping the old edge so scaling never shrinks the window; the receive
        // path trims anything beyond the real free space.
        let units = if edge == open_edge { bytes >> shift } else { bytes.div_ceil(1 << shift) };
        let units = units.min(u32::from(u16::MAX));
        let adv_edge = self.rcv.nxt + (units << shift);
        if adv_edge > self.rcv.adv {
            self.rcv.adv = adv_edge;
        }
        if units > 0 {
            self.window_zeroed = false;
        }
        units as u16
    }

    /// Whether the peer's window has no room for the next segment of unsent data (Linux's
    /// `tcp_snd_wnd_test` failing): what waits then goes when the persist timer fires.
    pub(super) fn window_too_small(&self) -> bool {
        let unsent = (self.data_end() - self.snd.nxt).max(0) as usize;
        let peer_room = ((self.snd.una + self.snd.wnd) - self.snd.nxt).max(0) as usize;
        unsent > 0 && peer_room < unsent.min(self.opts.mss())
    }

    /// Starts the persist timer when data waits behind a zero window and nothing is in flight
    /// (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17).
    fn arm_persist(&mut self, now: Instant) {
        let waiting = (self.data_end() - self.snd.nxt) > 0
            || (self.fin_queued && self.snd.nxt == self.data_end());
        // Held by TCP_CORK or MSG_MORE with nothing in flight to bring an ACK: the same timer
        // sends it (Linux's probe timer, `tcp_write_wakeup`; `push`).
        let held = self.marks.holds_short() && self.data_end() > self.snd.nxt;
        if self.state.is_synchronized()
            && (self.snd.wnd == 0 || held || self.window_too_small())
            && waiting
            && self.snd.max == self.snd.una
            && self.cold_at(ColdDeadline::Persist).is_none()
        {
            let shift = u32::from(self.probes.persist_backoff.min(20));
            let d = self.rtx.rto.base_rto().saturating_mul(1 << shift).min(self.config.max_rto);
            self.set_cold_at(ColdDeadline::Persist, Some(now + d));
        }
    }
}
