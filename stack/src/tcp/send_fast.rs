//! The common data segment, planned beside the general planner (issue 11).
//!
//! Almost every segment an established connection sends is the next piece of new data: no
//! loss to repair, no probe, no FIN, no SACK or DSACK news to carry, no record marks, cork
//! or `MSG_MORE` tail, no pacing. `plan_data` decides it all the same through every rule a
//! segment can meet (FIN placement, records, cork, probes, three-chunk jumbo segments,
//! pacing), about 420 instructions before its header. [`Connection::plan_fast`] first checks
//! in one place that none of those rules can apply, then decides the segment with the few
//! that remain (the windows, Nagle and sender SWS avoidance, PSH, the TSO packet cut) and
//! makes exactly the updates `plan_data` makes for such a segment, in its order. Anything
//! else, and every segment the few rules hold back, goes to the general planner untouched:
//! the fast path returns before changing anything.
//!
//! `tests/tcp_send_fast_equiv.rs` holds it to the general planner: seeded traffic run with
//! the fast path on and off ([`Connection::set_send_fast`]) must give the same segments at
//! the same instants and the same state to the byte.

use super::chrono::Kind;
use super::chunk::{ChunkPool, MemoryLevel, CHUNK_SIZE};
use super::connection::{Connection, State};
use super::output::{AckFields, Plan};
use super::segment::{Flags, SegmentHeader, SegmentOptions};
use super::SeqNumber;
use crate::time::Instant;

impl Connection {
    /// Turns the common-case sender (`plan_fast`) off or back on
    /// ([`TcpConfig::send_fast`](super::TcpConfig::send_fast), which a stack's
    /// configuration sets for all its connections). Off changes nothing but speed: every
    /// segment takes the general planner, which the equivalence test holds the fast path to.
    /// For tests and benchmarks.
    pub fn set_send_fast(&mut self, on: bool) {
        self.change_config(|c| c.set_send_fast(on));
    }

    /// Whether none of the general planner's rarer rules can apply to the next segment: the
    /// connection is ESTABLISHED with no RST pending (the caller checked), no loss to
    /// repair, no tail loss probe, no recovery episode, no FIN queued, nothing for a SACK
    /// option (no DSACK, no out-of-order data), no record, cork, `MSG_MORE` tail or probe
    /// wake-up, no pacing, room on the scoreboard, and an MSS that fits two buffer chunks.
    #[inline]
    fn common_case(&self) -> bool {
        self.opts.flags.send_fast()
            && self.state == State::Established
            && !self.loss.tlp_pending
            && !self.loss.board.may_have_lost()
            && self.loss.episode.is_none()
            && !self.fin_queued
            && !self.rcv.dsack_pending()
            && !self.holds_out_of_order()
            && self.marks.is_plain()
            && !self.opts.flags.pacing()
            && self.loss.board.has_room()
            && self.opts.mss() <= 2 * CHUNK_SIZE
    }

    /// Whether the next [`poll_transmit`](Self::poll_transmit) is planned by the common-case
    /// sender: it would send a segment of new data now, decided without the general planner.
    /// Changes nothing. For tests that count how often the fast path was taken.
    #[doc(hidden)]
    pub fn common_segment_ready(&self) -> bool {
        !self.rst_queued() && self.fast_decision().is_some()
    }

    /// The common segment's length and windows if [`common_case`](Self::common_case) holds
    /// and the windows and Nagle let a segment go now; `None` otherwise. Reads only.
    ///
    /// What the common case lets fall away from `plan_data`: the SACK option takes no room
    /// (`seg_max` is the MSS), no segment reaches three chunks, no record bounds `len`, no FIN
    /// goes with it, and nothing holds a short segment but Nagle and the peer's window.
    #[inline]
    fn fast_decision(&self) -> Option<FastDecision> {
        if !self.common_case() {
            return None;
        }
        let unsent = (self.data_end() - self.snd.nxt).max(0) as usize;
        if unsent == 0 {
            return None;
        }
        let in_flight = (self.snd.nxt - self.snd.una).max(0) as usize;
        let peer_room = ((self.snd.una + self.snd.wnd) - self.snd.nxt).max(0) as usize;
        // No recovery episode: the send window is the congestion window.
        let cwnd_room = self.cwnd.window(&self.cold.cc).saturating_sub(self.pipe());
        let usable = peer_room.min(cwnd_room);
        let seg_max = self.opts.mss().max(1);
        let len = unsent.min(seg_max).min(usable);
        if len == 0 {
            return None;
        }
        if len < seg_max {
            // Sender SWS avoidance and Nagle, as `plan_data` applies them (RFC 9293
            // §3.8.6.2.1, RFC 1122 §4.2.3.4): a segment held here is the general planner's.
            let idle = in_flight == 0;
            let window_short =
                idle && peer_room < unsent.min(seg_max) && !self.probes.window_wakeup;
            let big_enough = len >= (self.snd.max_wnd as usize / 2).max(1);
            let all_queued_nodelay = len == unsent && self.opts.flags.nodelay();
            if window_short || !(idle || big_enough || all_queued_nodelay) {
                return None;
            }
        }
        Some(FastDecision {
            len,
            unsent,
            usable,
            seg_max,
            rwnd_limited: peer_room < unsent.min(seg_max),
        })
    }

    /// The next segment of new data when [`fast_decision`](Self::fast_decision) lets it go:
    /// `plan_data(now, false)`'s result and effects for it, in its order. `None`, with
    /// nothing changed, for anything else (the general planner decides then). Pacing is off,
    /// so it neither holds nor spaces the segment: its only effect is clearing the held flag
    /// when no TSO packet is open.
    #[inline]
    fn plan_common(&mut self, now: Instant) -> Option<CommonPlan> {
        let FastDecision { len, unsent, usable, seg_max, rwnd_limited } = self.fast_decision()?;
        self.chrono_set(now, Kind::of(true, rwnd_limited));
        if self.marks.tso_idle() {
            // `pacing_hold` with pacing off.
            self.timer_flags.pacing_held = false;
        }
        let seq = self.snd.nxt;
        // PSH where a write ends or the round stops at a full window (`plan_data`).
        let rest = unsent - len;
        let round_end = rest > 0 && usable - len < rest.min(seg_max);
        // The marks are plain (`common_case`): only the write's push mark can apply.
        let push = self.marks.push_at_plain(seq, seq + len) || round_end;
        let mut tso_push = false;
        let idle = self.marks.tso_idle();
        // A segment that opens a TSO packet and ends it at once is a packet of one.
        if !(idle && push) {
            let goal = if idle { self.tso_goal() } else { 0 };
            let (segs, full) = self.marks.tso_add(goal);
            tso_push = segs >= 2 && full;
            if full || push {
                self.marks.tso_end();
            }
        }
        let mut flags = Flags::ACK;
        if push || tso_push {
            flags |= Flags::PSH;
        }
        if self.ecn.take_cwr(len) {
            // RFC 3168 §6.1.2: the first new data after a reduction tells the receiver.
            flags |= Flags::CWR;
        }
        // No SACK option: `header`'s blocks would be none (no DSACK, nothing out of order).
        let fields = self.ack_fields(now, flags);
        let off = (seq - self.snd.base).max(0) as usize;
        self.note_new_sent(now, seq, len, len, push);
        self.arm_tlp_sent(now);
        self.count_out(false);
        Some(CommonPlan { seq, fields, data: (off, len) })
    }

    /// [`plan_common`](Self::plan_common) as the general planner's [`Plan`], for
    /// `plan_transmit` (the path of callers that take a [`Transmit`]).
    #[inline]
    pub(super) fn plan_fast(&mut self, now: Instant) -> Option<Plan> {
        let p = self.plan_common(now)?;
        let f = p.fields;
        let options = SegmentOptions { timestamps: f.timestamps, ..SegmentOptions::default() };
        let header = SegmentHeader {
            seq: p.seq,
            ack: Some(f.ack),
            flags: f.flags,
            window: f.window,
            options,
        };
        Some(Plan { header, data: p.data, ect: self.ecn.ok })
    }

    /// The next segment if it is a common one (`plan_common`), as the
    /// fields a frame writer copies straight into its headers; `None`, with nothing
    /// changed, otherwise: then [`poll_transmit_general`](Self::poll_transmit_general) is the
    /// caller's next call. What `poll_transmit` would return for it, field for field, with
    /// the same effects (the memory level noted, the clamped window counted).
    #[inline]
    pub fn poll_transmit_common<'p>(
        &mut self,
        now: Instant,
        pool: &'p mut ChunkPool,
    ) -> Option<CommonSegment<'p>> {
        if self.rst_queued() {
            return None;
        }
        self.note_level(pool);
        let p = self.plan_common(now)?;
        if self.mem_level != MemoryLevel::Normal {
            // The window this segment offers was clamped (`autotune::recv_space`).
            pool.counters.window_clamped += 1;
        }
        let pool: &'p ChunkPool = pool;
        let payload = self.payload_pieces(pool, p.data);
        let f = p.fields;
        // `may_transmit` after a common segment: no RST, ACK owed, loss, tail probe,
        // handshake or FIN can be pending now, so only a probe or more data remain.
        let more = self.probes.pending || self.data_end() > self.snd.nxt;
        debug_assert_eq!(more, self.may_transmit(), "a common segment's `more`");
        Some(CommonSegment {
            seq: p.seq,
            ack: f.ack,
            flags: f.flags,
            window: f.window,
            timestamps: f.timestamps,
            payload,
            ect: self.ecn.ok,
            more,
        })
    }
}

/// A common data segment ([`Connection::poll_transmit_common`]): ACK set, no option but
/// timestamps, payload in up to three pieces (one per buffer chunk it spans).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommonSegment<'a> {
    /// Sequence number of the first payload byte.
    pub seq: SeqNumber,
    /// Acknowledgment number.
    pub ack: SeqNumber,
    /// Flags (ACK, and PSH, CWR or ECE as they fall).
    pub flags: Flags,
    /// Window field, already scaled.
    pub window: u16,
    /// TSval and TSecr, when timestamps were negotiated.
    pub timestamps: Option<(u32, u32)>,
    /// Payload pieces in order; the later ones are empty when the earlier hold it all.
    pub payload: [&'a [u8]; 3],
    /// Mark the IP header ECT(0) (new data of an ECN connection).
    pub ect: bool,
    /// Whether the connection may have more to send after this segment (what
    /// [`Connection::may_transmit`] now says).
    pub more: bool,
}

/// What [`Connection::plan_common`] decided, before the payload is borrowed.
struct CommonPlan {
    seq: SeqNumber,
    fields: AckFields,
    /// Payload as (offset into the send buffer, length).
    data: (usize, usize),
}

/// What [`Connection::fast_decision`] found: the segment's length and what its PSH and TSO
/// decisions and the chronograph need.
#[derive(Clone, Copy)]
struct FastDecision {
    len: usize,
    unsent: usize,
    usable: usize,
    seg_max: usize,
    rwnd_limited: bool,
}
