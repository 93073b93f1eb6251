//! Segment arrival: RFC 9293 §3.10.7 in one place, with RFC 5961 (blind-attack defences),
//! RFC 7323 (PAWS, timestamps) and RFC 1337 (TIME-WAIT assassination) folded in.

use super::chunk::ChunkPool;
use super::connection::{Connection, Event, SegmentVerdict, State};
use super::recovery::DupAckTest;
use super::segment::{Flags, Segment, SegmentHeader, SegmentOptions};
use super::tcb::{rto_limits, ColdDeadline};
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// RFC 6298 §5.7: the RTO to start data transfer with after a lost SYN or SYN-ACK.
const SYN_LOSS_RTO: Duration = Duration::from_secs(3);

/// Least interval between ACKs that answer empty out-of-window segments.
const OOW_ACK_INTERVAL: Duration = Duration::from_millis(500);

/// RFC 7323 §5.5: a `TS.Recent` older than 24 days is no longer trusted for PAWS.
const PAWS_IDLE_LIMIT: Duration = Duration::from_secs(24 * 24 * 3600);

impl Connection {
    /// Processes one arriving segment (already matched to this connection by its 4-tuple).
    /// Its payload is stored in chunks of `pool`; acknowledged send data goes back there.
    pub fn on_segment(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        pool: &mut ChunkPool,
    ) -> SegmentVerdict {
        if super::counters::bump_low(&mut self.seg_counts.in_segs) {
            self.cold.counters.in_segs += super::counters::CARRY;
        }
        self.note_level(pool);
        match self.state {
            // No TCB to speak of: the owner answers with `Segment::reset_reply`.
            State::Closed | State::Listen => SegmentVerdict::Dropped,
            State::SynSent => self.on_segment_syn_sent(now, seg),
            _ => self.on_segment_synchronized(now, seg, pool),
        }
    }

    /// RFC 9293 §3.10.7.3 (SYN-SENT).
    fn on_segment_syn_sent(&mut self, now: Instant, seg: &Segment<'_>) -> SegmentVerdict {
        // First: the ACK must acknowledge our SYN and nothing beyond.
        if let Some(ack) = seg.ack {
            if ack <= self.cold.rare.iss || ack > self.snd.max {
                if !seg.flags.rst() {
                    self.queue_rst(SegmentHeader {
                        seq: ack,
                        ack: None,
                        flags: Flags::RST,
                        window: 0,
                        options: SegmentOptions::default(),
                    });
                }
                return SegmentVerdict::Dropped;
            }
        }
        // Second: a RST is believed only with an acceptable ACK (RFC 5961 §3.2 for SYN-SENT).
        if seg.flags.rst() {
            if seg.ack.is_some() {
                self.enter_closed(Event::Refused);
                return SegmentVerdict::Accepted;
            }
            return SegmentVerdict::Dropped;
        }
        if !seg.flags.syn() {
            return SegmentVerdict::Dropped;
        }
        // Fourth: the SYN. Payload on a SYN is not acknowledged (the peer will resend it).
        self.learn_syn(now, seg);
        match seg.ack {
            Some(ack) => {
                self.snd.una = ack;
                self.snd.wl2 = ack;
                self.timers.retransmit_at = None;
                if let Some(sent) = self.rtx.probe_sent(&self.cold.rtx_cold) {
                    self.rtx.stop_timing();
                    self.rtt_sample(now.saturating_duration_since(sent));
                }
                if self.rtx.count() > 0 {
                    self.rtx.rto.syn_loss_fallback(SYN_LOSS_RTO, rto_limits(&self.config));
                }
                self.rtx.set_count(0);
                self.rtx.rto.reset_backoff();
                self.rcv.last_recv = now;
                self.set_state(State::Established);
                self.emit(Event::Connected);
                self.ack.now = true;
                if self.fin_queued {
                    self.set_state(State::FinWait1);
                }
            }
            None => {
                // Simultaneous open (RFC 9293 §3.10.7.3 and figure 8): answer with SYN-ACK.
                self.set_state(State::SynReceived);
                self.snd.nxt = self.cold.rare.iss;
                self.rtx.stop_timing();
            }
        }
        SegmentVerdict::Accepted
    }

    /// `RCV.WND` for the acceptability test: the room the receive buffer leaves, or what we
    /// advertised if that is more (an edge offered is never taken back, RFC 9293 §3.8.6.2.2,
    /// even when memory pressure has since clamped the window; whether memory for such bytes
    /// is to be had is decided when they are stored).
    fn rcv_wnd(&self) -> u32 {
        let room = self.tune.rcvbuf().saturating_sub(self.recv_buf.len());
        acceptability_window(room, self.advertised_room())
    }

    /// What is left of the window last advertised: `RCV.ADV - RCV.NXT`, at least zero (the
    /// window last offered, before new data narrows it: Linux `tp->rcv_wnd`).
    #[inline(always)]
    fn advertised_room(&self) -> usize {
        (self.rcv.adv - self.rcv.nxt).max(0) as usize
    }

    /// RFC 9293 §3.10.7.4, for SYN-RECEIVED and every synchronized state.
    fn on_segment_synchronized(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        pool: &mut ChunkPool,
    ) -> SegmentVerdict {
        if let Some(ack) = self.predicted_ack(seg) {
            return self.on_predicted(now, seg, ack, pool);
        }
        let rcv_wnd = self.rcv_wnd();
        let in_window = |s: SeqNumber| s.in_range(self.rcv.nxt, self.rcv.nxt + rcv_wnd);

        // RST (RFC 5961 §3.2): exact match resets, in-window gets a challenge ACK, else drop.
        if seg.flags.rst() {
            if self.state == State::TimeWait {
                // RFC 1337: a RST must not cut TIME-WAIT short.
                return SegmentVerdict::Dropped;
            }
            if seg.seq == self.rcv.nxt {
                self.on_reset();
                return SegmentVerdict::Accepted;
            }
            if in_window(seg.seq) {
                self.challenge_ack(now);
            }
            return SegmentVerdict::Dropped;
        }

        // Simultaneous open (RFC 9293 figure 8): the peer's SYN-ACK in SYN-RECEIVED repeats
        // its SYN and acknowledges ours. Process it as the ACK it carries.
        if self.state == State::SynReceived
            && seg.flags.syn()
            && seg.ack.is_some()
            && seg.seq == self.cold.rare.irs
        {
            let rest =
                Segment { seq: seg.seq + 1u32, flags: seg.flags.without(Flags::SYN), ..*seg };
            self.ack.now = true;
            return self.on_segment_synchronized(now, &rest, pool);
        }
        // A retransmitted SYN in SYN-RECEIVED: our SYN-ACK was lost, send it again.
        if self.state == State::SynReceived && seg.flags.syn() && seg.ack.is_none() {
            if seg.seq == self.cold.rare.irs {
                self.snd.nxt = self.cold.rare.iss;
            }
            return SegmentVerdict::Dropped;
        }

        // SYN in a synchronized state (RFC 5961 §4): challenge ACK whatever the sequence number,
        // except that TIME-WAIT may hand a newer SYN to the listener (RFC 9293 §3.10.7.4 note,
        // RFC 6191: higher sequence number, or higher timestamp when they are in use).
        if seg.flags.syn() {
            if self.state == State::TimeWait && seg.ack.is_none() {
                let newer_ts = match (self.opts.ts_ok, seg.options.timestamps) {
                    (true, Some((tsval, _))) => ts_after(tsval, self.opts.ts_recent),
                    _ => false,
                };
                if seg.seq > self.rcv.nxt || newer_ts {
                    return SegmentVerdict::TimeWaitSyn;
                }
            }
            self.challenge_ack(now);
            return SegmentVerdict::Dropped;
        }

        // PAWS (RFC 7323 §5.3 R1): an older timestamp marks an old duplicate.
        if self.opts.ts_ok {
            if let Some((tsval, _)) = seg.options.timestamps {
                if ts_after(self.opts.ts_recent, tsval) {
                    if now.saturating_duration_since(self.opts.ts_recent_stamp) > PAWS_IDLE_LIMIT {
                        self.opts.ts_recent = tsval;
                        self.opts.ts_recent_stamp = now;
                    } else if self.is_disordered_ack(seg, tsval) {
                        // Processed below as the duplicate ACK it is; TS.Recent stays put
                        // because the update further down only takes a timestamp that is
                        // not older than TS.Recent.
                        self.cold.counters.paws_disordered_acks += 1;
                    } else {
                        self.cold.counters.paws_drops += 1;
                        // The duplicate ACK that answers it is rate limited like any answer to
                        // an unacceptable segment (Linux `tcp_oow_rate_limited`,
                        // `TCPACKSkippedPAWS`): a flood of old-timestamp segments must not
                        // draw one ACK each.
                        if seg.seq_len() > 0 || self.oow_ack_allowed(now) {
                            self.ack.now = true;
                        }
                        return SegmentVerdict::Dropped;
                    }
                }
            }
        }

        // Sequence acceptability: the four cases of RFC 9293 §3.10.7.4.
        let seg_len = seg.seq_len() as u32;
        let acceptable = match (seg_len, rcv_wnd) {
            (0, 0) => seg.seq == self.rcv.nxt,
            (0, _) => in_window(seg.seq),
            (_, 0) => false,
            (len, _) => in_window(seg.seq) || in_window(seg.seq + (len - 1)),
        };
        // With a zero window, a segment at RCV.NXT still carries a valid ACK (RFC 9293: "special
        // allowance should be made to accept valid ACKs"); its data is trimmed away below.
        let zero_window_probe = rcv_wnd == 0 && seg.seq == self.rcv.nxt;
        if !acceptable && !zero_window_probe {
            // Answer with an ACK, but at most one per 500 ms to a segment that carries nothing
            // (Linux `tcp_invalid_ratelimit`): two confused ends must not ping-pong ACKs.
            if seg.seq_len() > 0 || self.oow_ack_allowed(now) {
                self.ack.now = true;
            }
            if !seg.payload.is_empty() && seg.seq < self.rcv.nxt {
                // An old duplicate: tell the sender with a DSACK (RFC 2883 §4), and ACK what
                // follows at once for a while (Linux `tcp_enter_quickack_mode`).
                let end = (seg.seq + seg.payload.len()).min(self.rcv.nxt);
                self.rcv.set_dsack(&mut self.cold.rcv_cold, (seg.seq, end));
                let offered = (self.rcv.adv - self.rcv.nxt).max(0) as usize;
                self.quickack.enter(seg.payload.len(), offered, usize::from(self.config.mss));
            }
            if self.state == State::TimeWait && seg.flags.fin() {
                // A retransmitted FIN: the peer lost our ACK; restart 2·MSL (RFC 9293).
                self.restart_time_wait(now);
            }
            return SegmentVerdict::Dropped;
        }
        if zero_window_probe && seg.seq_len() > 0 {
            self.ack.now = true;
        }

        // Trim to the window: drop what we already have at the front, what does not fit at
        // the back.
        let mut seq = seg.seq;
        let mut payload = seg.payload;
        let mut fin = seg.flags.fin();
        if seq < self.rcv.nxt {
            let skip = (self.rcv.nxt - seq) as usize;
            let d = skip.min(payload.len());
            if d > 0 {
                // Partly a duplicate: DSACK the old part (RFC 2883 §4.1.1).
                self.rcv.set_dsack(&mut self.cold.rcv_cold, (seq, seq + d));
                self.ack.now = true;
                let offered = (self.rcv.adv - self.rcv.nxt).max(0) as usize;
                self.quickack.enter(payload.len(), offered, usize::from(self.config.mss));
            }
            payload = &payload[d..];
            seq += d;
            if skip > d {
                // The FIN is before RCV.NXT too: already processed.
                fin = false;
            }
        }
        // After the front trim `seq >= RCV.NXT`; nothing may extend past RCV.NXT + RCV.WND
        // (the free receive space, where out-of-order bytes are stored too).
        let room = (rcv_wnd as usize).saturating_sub((seq - self.rcv.nxt).max(0) as usize);
        if payload.len() > room {
            payload = &payload[..room];
            fin = false;
        }

        // ACK field (RFC 9293 §3.10.7.4 fifth check).
        let Some(ack) = seg.ack else {
            return SegmentVerdict::Dropped;
        };
        if self.state == State::SynReceived {
            if ack > self.snd.una && ack <= self.snd.max {
                if self.rtx.count() > 0 {
                    self.rtx.rto.syn_loss_fallback(SYN_LOSS_RTO, rto_limits(&self.config));
                }
                self.set_state(State::Established);
                self.emit(Event::Connected);
                if self.fin_queued {
                    self.set_state(State::FinWait1);
                }
                // The window of this ACK is the first one that is scaled.
                self.snd.wl1 = seq;
                self.snd.wl2 = ack;
                self.snd.wnd = u32::from(seg.window) << self.opts.snd_wscale;
                self.snd.max_wnd = self.snd.max_wnd.max(self.snd.wnd);
            } else {
                self.queue_rst(SegmentHeader {
                    seq: ack,
                    ack: None,
                    flags: Flags::RST,
                    window: 0,
                    options: SegmentOptions::default(),
                });
                return SegmentVerdict::Dropped;
            }
        }
        // RFC 5961 §5.2: an ACK beyond what we sent, or too far behind, is dropped and
        // answered by an ACK, rate limited like a challenge ACK (as Linux does) so forged
        // segments cannot turn us into an ACK reflector.
        if ack > self.snd.max || ack < self.snd.una - self.snd.max_wnd.max(1) {
            self.challenge_ack(now);
            return SegmentVerdict::Dropped;
        }
        // The segment passed every check. RFC 7323 §4.3: remember the timestamp of a segment
        // that covers Last.ACK.sent (done only now, like Linux, so a segment with a forged ACK
        // cannot move TS.Recent).
        if self.opts.ts_ok {
            if let Some((tsval, _)) = seg.options.timestamps {
                if seg.seq <= self.rcv.last_ack_sent && !ts_after(self.opts.ts_recent, tsval) {
                    self.opts.ts_recent = tsval;
                    self.opts.ts_recent_stamp = now;
                }
            }
        }
        self.rcv.last_recv = now;
        self.probes.keepalive_sent = 0;
        let pure_ack = seg.payload.is_empty() && !seg.flags.fin();
        if self.on_ack::<false>(now, seg, seq, ack, pure_ack, pool) {
            return SegmentVerdict::Accepted; // LAST-ACK completed
        }

        // Sixth: URG is ignored (RFC 6093 recommends against new uses; the data is delivered
        // in line like any other byte).
        // Seventh: segment text.
        if !payload.is_empty()
            && self.rcv.read_closed
            && matches!(self.state, State::FinWait1 | State::FinWait2)
        {
            // New data for a connection its application has closed: nobody will read it, and
            // RFC 1122 §4.2.2.13 (as Linux, `TCPAbortOnData`) resets rather than acknowledge
            // bytes that are thrown away. The reset answers the segment (RFC 9293 §3.10.7.1
            // form: SEQ = SEG.ACK, no ACK bit).
            self.cold.counters.abort_on_data += 1;
            self.queue_rst(SegmentHeader {
                seq: ack,
                ack: None,
                flags: Flags::RST,
                window: 0,
                options: SegmentOptions::default(),
            });
            self.enter_closed(Event::Closed);
            return SegmentVerdict::Accepted;
        }
        if !payload.is_empty() {
            self.on_data(now, seq, payload, pool);
        }
        // Eighth: FIN.
        if fin {
            let fin_seq = seq + payload.len();
            if fin_seq == self.rcv.nxt {
                self.on_fin(now);
            } else if matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
                self.rcv.set_pending_fin(&mut self.cold.rcv_cold, fin_seq);
            }
        }
        SegmentVerdict::Accepted
    }

    /// Header prediction (Jacobson's, and Linux `tcp_rcv_established`'s fast path): on an
    /// established connection nearly every segment is the next one in sequence, carrying only
    /// ACK (and PSH), no SACK blocks, a timestamp that passes PAWS, an acceptable ACK, and no
    /// more data than fits. For such a segment every check of RFC 9293 §3.10.7.4 before the
    /// ACK field passes by construction (no RST, no SYN, PAWS passes, the sequence number is
    /// acceptable, nothing to trim), so it goes straight to the ACK and text processing.
    /// Returns its ACK number if it qualifies.
    ///
    /// The header's shape (flags, options, and ESTABLISHED) is one compare against the
    /// connection's precomputed [`Prediction`](super::predict::Prediction); what is left are
    /// the per-segment compares against `rcv`, `snd` and `opts`, all on the first lines.
    ///
    /// The window field is not compared, unlike Linux's `pred_flags`: none of the checks
    /// skipped reads it, and the ACK processing that follows is the full path's, window
    /// update included. A receiver that avoids silly windows (RFC 9293 §3.8.6.2.2) keeps its
    /// right edge while small messages arrive, so the window field shrinks by each message:
    /// comparing it kept every segment of a 64-byte request/response exchange off this path.
    ///
    /// The window test reads `RCV.WND` ([`rcv_wnd`](Self::rcv_wnd)) only for a payload larger
    /// than the window last advertised: `rcv_wnd` is at least that window (it is the larger
    /// of it and the buffer's room, and the advertised part, a non-negative `i32`
    /// difference, is never cut by its clamp to `u32::MAX / 2`), so a payload that fits
    /// the advertised window fits `rcv_wnd` too, and the common segment skips the buffer's
    /// room.
    #[inline]
    fn predicted_ack(&self, seg: &Segment<'_>) -> Option<SeqNumber> {
        if !self.opts.pred.matches(seg) {
            return None;
        }
        // `matches` implies an ACK, and a timestamp exactly when they are in use.
        let ack = seg.ack?;
        let len = seg.payload.len();
        let fits = len <= self.advertised_room() || len <= self.rcv_wnd() as usize;
        let in_order = seg.seq == self.rcv.nxt && fits;
        let ack_ok = ack >= self.snd.una && ack <= self.snd.max;
        let paws_ok = match seg.options.timestamps {
            Some((tsval, _)) => !ts_after(self.opts.ts_recent, tsval),
            None => true,
        };
        (in_order && ack_ok && paws_ok).then_some(ack)
    }

    /// The rest of RFC 9293 §3.10.7.4 for a segment [`predicted_ack`](Self::predicted_ack)
    /// accepted: the timestamp, the ACK field and the text, as on the full path.
    fn on_predicted(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        ack: SeqNumber,
        pool: &mut ChunkPool,
    ) -> SegmentVerdict {
        if super::counters::bump_low(&mut self.seg_counts.predicted_segments) {
            self.cold.counters.predicted_segments += super::counters::CARRY;
        }
        if let (true, Some((tsval, _))) = (self.opts.ts_ok, seg.options.timestamps) {
            // RFC 7323 §4.3, as below: the segment covers Last.ACK.sent.
            if seg.seq <= self.rcv.last_ack_sent {
                self.opts.ts_recent = tsval;
                self.opts.ts_recent_stamp = now;
            }
        }
        self.rcv.last_recv = now;
        self.probes.keepalive_sent = 0;
        let pure_ack = seg.payload.is_empty();
        // LAST-ACK is the only state where the ACK can close the connection; not this one.
        self.on_ack::<true>(now, seg, seg.seq, ack, pure_ack, pool);
        if !seg.payload.is_empty() {
            // `on_data`'s in-order case: still ESTABLISHED (the ACK of a predicted segment
            // changes no state), `SEG.SEQ = RCV.NXT` and the payload fits the window
            // (`predicted_ack`).
            let offered = (self.rcv.adv - self.rcv.nxt).max(0) as usize;
            self.append_in_order(now, seg.payload, offered, pool);
        }
        SegmentVerdict::Accepted
    }

    /// Whether a segment that fails the PAWS test (its `tsval` is older than `TS.Recent`) is
    /// only a pure duplicate ACK that the network reordered behind newer segments, and may be
    /// processed after all.
    ///
    /// RFC 7323 §5.3 R1 drops every segment with an older timestamp, but the RFC's aim is to
    /// keep old *data* out of the receive stream. A bare duplicate ACK carries none; what it
    /// does carry is loss information: the sender counts duplicate ACKs (and reads their SACK
    /// blocks) to start fast retransmit (RFC 5681 §3.2, RFC 6675). The peer stamps each ACK
    /// with its clock, so when two ACKs swap places on the path the later-sent one raises
    /// `TS.Recent` and PAWS throws the earlier one away, and a burst of reordered duplicate
    /// ACKs can hold loss recovery back until the RTO fires. Linux
    /// (`tcp_disordered_ack`, net/ipv4/tcp_input.c) therefore exempts a segment that:
    /// - carries no payload and no SYN, FIN or RST, sits exactly at `RCV.NXT` and has ACK set;
    /// - acknowledges exactly `SND.UNA` (a duplicate, moving nothing forward);
    /// - would not update the send window;
    /// - has a timestamp at most about one RTO behind `TS.Recent`, so it plausibly belongs to
    ///   the current flight and not to an earlier incarnation or a wrapped sequence space.
    ///
    /// Such a segment moves no sequence number, no window and no timestamp; what it feeds (the
    /// duplicate-ACK count and the SACK scoreboard) copes with stale information, so letting
    /// it through keeps the protection PAWS gives the data stream.
    ///
    /// The window test is stricter than Linux's: our window update follows RFC 9293 (any
    /// segment with `SEG.SEQ = SND.WL1` and `SEG.ACK >= SND.WL2` sets `SND.WND`), so a stale
    /// ACK carrying a smaller window would shrink the window; only one carrying exactly the
    /// current window, from the segment that set it (`SEG.SEQ = SND.WL1`), is let through.
    ///
    /// The RTO bound is in timestamp ticks. Our own TSval clock ticks in milliseconds
    /// (`Connection::ts_now`), as Linux's does; the peer's clock rate is unknown (RFC 7323
    /// §5.4 allows 1 ms to 1 s per tick), so like Linux we take one tick as one millisecond.
    /// A slower peer clock only makes the bound looser in time, never tighter than one RTO.
    fn is_disordered_ack(&self, seg: &Segment<'_>, tsval: u32) -> bool {
        let bare = seg.payload.is_empty()
            && !seg.flags.syn()
            && !seg.flags.fin()
            && !seg.flags.rst()
            && seg.seq == self.rcv.nxt;
        // TIME-WAIT has nothing left to recover; SYN-RECEIVED has no duplicate ACKs yet.
        if !bare || !self.state.is_synchronized() || self.state == State::TimeWait {
            return false;
        }
        if seg.ack != Some(self.snd.una) {
            return false;
        }
        let window = u32::from(seg.window) << self.opts.snd_wscale;
        if seg.seq != self.snd.wl1 || window != self.snd.wnd {
            return false;
        }
        // Both in ms ticks (see above); the RTO includes back-off, as Linux's `icsk_rto` does.
        let behind = u64::from(self.opts.ts_recent.wrapping_sub(tsval));
        behind <= self.rtx.timeout(&self.config).total_millis()
    }

    /// Rate limit for ACKs answering empty out-of-window or PAWS-failing segments.
    fn oow_ack_allowed(&mut self, now: Instant) -> bool {
        match self.cold.limits.last_oow_ack {
            Some(t) if now.saturating_duration_since(t) < OOW_ACK_INTERVAL => {
                self.cold.counters.oow_acks_limited += 1;
                false
            }
            _ => {
                self.cold.limits.last_oow_ack = Some(now);
                true
            }
        }
    }

    /// A valid RST (RFC 9293 §3.10.7.4 second check, per state).
    fn on_reset(&mut self) {
        match self.state {
            State::SynReceived => self.enter_closed(Event::Refused),
            State::Established | State::FinWait1 | State::FinWait2 | State::CloseWait => {
                self.enter_closed(Event::Reset)
            }
            // CLOSING, LAST-ACK: the peer is done too.
            _ => self.enter_closed(Event::Closed),
        }
    }

    /// Processes the acknowledgment and window fields. Returns `true` when the connection
    /// closed (LAST-ACK's FIN acknowledged) and processing must stop. `PREDICTED`: header
    /// prediction accepted the segment, and an ACK of the whole flight takes loss
    /// recovery's straight line (`Recovery::on_flight_acked`).
    fn on_ack<const PREDICTED: bool>(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        seq: SeqNumber,
        ack: SeqNumber,
        pure: bool,
        pool: &mut ChunkPool,
    ) -> bool {
        // Any acceptable ACK shows the peer is alive: reset unanswered probe counts.
        self.probes.unanswered = 0;
        // Sending is now up to the ACK, not the write: a MSG_MORE tail may go (`push`).
        self.marks.release_more();
        let window = u32::from(seg.window) << self.opts.snd_wscale;
        let old_una = self.snd.una;
        // Whether it is a duplicate ACK is decided where it is needed (`on_ack_any`): the
        // test reads only what stays put until then.
        let dup = DupAckTest { ack, pure, window };
        if ack > self.snd.una {
            // Data bytes acknowledged: those between send_base and ack.
            let data_acked = if ack > self.snd.base {
                ((ack - self.snd.base) as usize).min(self.send_buf.len())
            } else {
                0
            };
            self.send_buf.consume(pool, data_acked);
            let old_base = self.snd.base;
            self.snd.base += data_acked;
            // The bytes acknowledged are derived from `snd.base` (`tcb::Totals`).
            if super::counters::crossed_half(old_base.0, self.snd.base.0) {
                self.reconcile_totals();
            }
            if data_acked > 0 && self.marks.refused() && self.write_space_reopened() {
                self.marks.take_refused();
                self.emit(Event::Writable);
            }
            // RTT: an echoed timestamp (RFC 7323 §4.1) or the one timed segment (Karn's rule
            // is enforced by clearing the probe on every retransmission). One sample at most,
            // fed once below: the estimator is inlined (`sample_per_round`), and one copy of
            // it serves both sources.
            let mut rtt = None;
            if self.opts.ts_ok {
                if let Some((_, tsecr)) = seg.options.timestamps {
                    if tsecr != 0 && self.rtx.echo_fresh(&self.cold.rtx_cold, tsecr) {
                        let ms = self.ts_now(now).wrapping_sub(tsecr);
                        if ms < 1 << 30 {
                            rtt = Some(Duration::from_millis(u64::from(ms)));
                        }
                    }
                }
            }
            // The timing flag (hot) first: the stamp's address is in the cold parts, whose
            // pointer a segment with nothing timed then never loads.
            if self.rtx.timing() {
                if let Some(sent) = self.rtx.probe_sent(&self.cold.rtx_cold) {
                    if ack > self.cold.rare.rtt_probe_seq {
                        if rtt.is_none() {
                            rtt = Some(now.saturating_duration_since(sent));
                        }
                        self.rtx.stop_timing();
                    }
                }
            }
            if let Some(rtt) = rtt {
                self.rtt_sample(rtt);
            }
            self.rtx.rto.reset_backoff();
            self.rtx.set_count(0);
            self.snd.una = ack;
            if self.snd.nxt < self.snd.una {
                self.snd.nxt = self.snd.una;
            }
            // RFC 6298 §5.2/5.3: stop the timer when all is acknowledged, else restart it.
            self.timers.retransmit_at = if self.snd.una == self.snd.max {
                None
            } else {
                Some(now + self.rtx.timeout(&self.config))
            };
        }
        // A predicted segment arrived in ESTABLISHED.
        if PREDICTED || self.state.is_synchronized() {
            // Loss detection, recovery and congestion control (`tcp::recovery`).
            self.on_ack_any::<PREDICTED>(now, seg, old_una, dup);
            if self.snd.una != old_una {
                if self.tune.sndbuf() < self.config.wmem.max {
                    self.snd_buf_expand(self.mem_level);
                }
                if self.snd.una == self.snd.max {
                    // Idle: a burst's scoreboard records go back to the allocator.
                    self.loss.board.shrink_idle();
                }
            }
        }
        self.on_ack_ecn(now, seg, ack);

        // Window update (RFC 9293 §3.10.7.4): only from a segment newer than the last one used.
        if ack >= self.snd.una
            && (self.snd.wl1 < seq || (self.snd.wl1 == seq && self.snd.wl2 <= ack))
        {
            self.snd.wnd = window;
            self.snd.max_wnd = self.snd.max_wnd.max(window);
            self.snd.wl1 = seq;
            self.snd.wl2 = ack;
            if window > 0 {
                self.set_cold_at(ColdDeadline::Persist, None);
                self.probes.persist_backoff = 0;
            }
        }

        // State transitions driven by the ACK of our FIN (none from ESTABLISHED, where
        // every predicted segment arrives: no FIN has been sent).
        if !PREDICTED && self.fin_acked() {
            match self.state {
                State::FinWait1 => {
                    self.set_state(State::FinWait2);
                    if self.rcv.read_closed {
                        self.set_cold_at(ColdDeadline::Close, Some(now + self.config.fin_timeout));
                    }
                }
                State::Closing => self.enter_time_wait(now),
                State::LastAck => {
                    self.enter_closed(Event::Closed);
                    return true;
                }
                _ => {}
            }
        }
        false
    }

    /// Accepts in-window text (RFC 9293 §3.10.7.4 seventh check). `seq >= RCV.NXT` and the
    /// payload fits in the receive window (the caller trimmed it). Bytes go into chunks of
    /// `pool`; what the memory budget has no chunk for is dropped, counted and not
    /// acknowledged, so the peer sends it again.
    fn on_data(&mut self, now: Instant, seq: SeqNumber, payload: &[u8], pool: &mut ChunkPool) {
        if !matches!(self.state, State::Established | State::FinWait1 | State::FinWait2) {
            // After the peer's FIN no more text can arrive; ignore it.
            return;
        }
        let offset = (seq - self.rcv.nxt) as usize;
        let base = self.recv_buf.len();
        // The window last offered, before this data narrows it (Linux `tp->rcv_wnd`).
        let offered = (self.rcv.adv - self.rcv.nxt).max(0) as usize;
        if offset == 0 {
            self.append_in_order(now, payload, offered, pool);
        } else {
            // Out of order: keep the bytes at their offset if a range slot is free, and ACK at
            // once so the sender sees the duplicate ACK and SACK blocks (RFC 5681 §4.2).
            // Only the bytes stored (a chunk may be refused) are recorded as held.
            if self.cold.reassembly.would_fit(seq, seq + payload.len()) {
                let n = self.recv_buf.write_at(pool, base + offset, payload, false);
                if n < payload.len() {
                    pool.counters.rcv_dropped += 1;
                }
                if n > 0 && self.cold.reassembly.insert(seq, seq + n).is_ok() {
                    self.cold.counters.ofo_queued += 1;
                }
                self.reassembly_changed();
            } else {
                self.cold.counters.ofo_dropped += 1;
            }
            self.ack.now = true;
        }
    }

    /// In-order text at `RCV.NXT` (the caller checked the state and the window): stored,
    /// delivered up to the first gap, and acknowledged now or by the delayed-ACK timer.
    /// `offered` is the window last offered, before this data narrows it. Always inlined:
    /// header prediction's path reaches it without a call (`on_predicted`).
    #[inline(always)]
    fn append_in_order(
        &mut self,
        now: Instant,
        payload: &[u8],
        offered: usize,
        pool: &mut ChunkPool,
    ) {
        // Nothing held out of order: stored and committed in one step
        // (`ChunkQueue::append_committed`, no call); else stored, then committed below.
        let appended = if !self.holds_out_of_order() {
            self.recv_buf.append_committed(pool, payload, false)
        } else {
            None
        };
        let n = match appended {
            Some(n) => n,
            None => {
                let base = self.recv_buf.len();
                self.recv_buf.write_at(pool, base, payload, false)
            }
        };
        if n < payload.len() {
            // No chunk: drop (unacknowledged) and tell the sender at once, with the zero
            // window the exhausted budget makes us offer (`window_to_advertise`).
            pool.counters.rcv_dropped += 1;
            self.ack.now = true;
            if n == 0 {
                return;
            }
        }
        let old = self.rcv.nxt;
        // Nothing held out of order: nothing to fill, and the cold parts stay unread.
        let filled = if !self.holds_out_of_order() {
            old + n
        } else {
            let filled = self.cold.reassembly.advance(old + n);
            self.reassembly_changed();
            filled
        };
        let gap_filled = filled != old + n;
        let delivered = (filled - old) as usize;
        if appended.is_none() {
            self.recv_buf.commit(delivered);
        }
        self.rcv.nxt = filled;
        // The bytes received are derived from `RCV.NXT` (`tcb::Totals`).
        if super::counters::crossed_half(old.0, filled.0) {
            self.reconcile_totals();
        }
        if self.rcv.read_closed {
            // Nobody will read: acknowledge and discard.
            let len = self.recv_buf.len();
            self.recv_buf.consume(pool, len);
        } else {
            self.emit(Event::Readable);
        }
        // Receive auto-tuning (`autotune`): a receiver RTT sample per window, and the
        // buffer grown once per RTT by what the application read in it.
        if self.config.rmem.tunable() && self.tune.rcvbuf() < self.config.rmem.max {
            self.rcv_rtt_measure(now);
            self.rcv_space_adjust(now);
        }
        // Delayed ACK (RFC 1122 §4.2.3.2, RFC 5681 §4.2): ACK at least every second
        // segment, at once when a gap was filled or in Linux's quick-ACK mode
        // (`quickack`), else within the delayed-ACK timeout.
        self.ack.delack_segments = self.ack.delack_segments.saturating_add(1);
        let advmss = usize::from(self.config.mss);
        self.quickack.on_data(now, n, offered, advmss, self.rtx.timeout(&self.config));
        if gap_filled
            || !self.opts.flags.delayed_ack()
            || self.ack.delack_segments >= 2
            || self.quickack.active()
        {
            self.ack.now = true;
        } else if self.timers.delack_at.is_none() {
            self.timers.delack_at = Some(now + self.config.delayed_ack_timeout);
        }
        if self.rcv.take_pending_fin_at(&self.cold.rcv_cold, self.rcv.nxt) {
            self.on_fin(now);
        }
    }

    /// The peer's FIN, in order (RFC 9293 §3.10.7.4 eighth check).
    fn on_fin(&mut self, now: Instant) {
        if self.rcv.fin_received {
            // A second FIN beyond the first (a retransmission of the first is trimmed as a
            // duplicate before this): RFC 9293 §3.10.7.4 eighth check keeps CLOSE-WAIT,
            // CLOSING and LAST-ACK where they are, and Linux (`tcp_rcv_state_process`)
            // moves nothing past what the first FIN ended. Only TIME-WAIT restarts.
            if self.state == State::TimeWait {
                self.restart_time_wait(now);
            }
            self.ack.now = true;
            return;
        }
        self.rcv.nxt += 1u32;
        self.rcv.fin_received = true;
        self.ack.now = true;
        self.emit(Event::PeerClosed);
        match self.state {
            State::SynReceived | State::Established => self.set_state(State::CloseWait),
            State::FinWait1 => {
                if self.fin_acked() {
                    self.enter_time_wait(now);
                } else {
                    self.set_state(State::Closing);
                }
            }
            State::FinWait2 => self.enter_time_wait(now),
            State::TimeWait => self.restart_time_wait(now),
            _ => {}
        }
    }

    pub(super) fn enter_time_wait(&mut self, now: Instant) {
        self.set_state(State::TimeWait);
        self.timers.retransmit_at = None;
        self.set_cold_at(ColdDeadline::Persist, None);
        // Replaces FIN-WAIT-2's deadline, if there was one.
        self.restart_time_wait(now);
    }

    /// TIME-WAIT ends 2·MSL from `now` (RFC 9293 §3.6.1): on entry, and again on a
    /// retransmitted FIN.
    fn restart_time_wait(&mut self, now: Instant) {
        self.set_cold_at(ColdDeadline::Close, Some(now + self.config.msl.saturating_mul(2)));
    }
}

/// `RCV.WND` from the receive buffer's `room` and the `advertised` window left
/// ([`Connection::rcv_wnd`]): the larger, at most `u32::MAX / 2` (a sequence-space half). Never
/// below `advertised` when that is a non-negative `i32` difference, as `advertised_room`
/// gives; header prediction's window test relies on it (`predicted_ack`).
fn acceptability_window(room: usize, advertised: usize) -> u32 {
    room.max(advertised).min(u32::MAX as usize / 2) as u32
}

/// `a` is later than `b` in 32-bit timestamp space (RFC 7323 §5.2 ordering).
fn ts_after(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) > 0
}

#[cfg(test)]
mod tests {
    use super::acceptability_window;

    proptest::proptest! {
        /// Header prediction's window test (`predicted_ack`) reads `RCV.WND` only for a
        /// payload above the advertised window left: a payload within that window must fit
        /// `RCV.WND` too, for any buffer room (edges included).
        #[test]
        fn a_payload_within_the_advertised_window_fits_rcv_wnd(
            room in proptest::prop_oneof![0usize..1 << 20, proptest::strategy::Just(usize::MAX)],
            advertised in proptest::prop_oneof![
                0usize..1 << 20,
                ((i32::MAX as usize) - 1000)..=(i32::MAX as usize),
            ],
            len in 0usize..1 << 20,
        ) {
            let wnd = acceptability_window(room, advertised) as usize;
            proptest::prop_assert!(advertised <= wnd);
            proptest::prop_assert_eq!(len <= advertised || len <= wnd, len <= wnd);
        }
    }
}
