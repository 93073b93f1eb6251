//! The sender's record of every segment in flight: RFC 6675's scoreboard, kept per segment so
//! RACK (RFC 8985) can also remember when each one was (re)sent.
//!
//! Memory is bounded: the records live in a ring allocated once, when the handshake has fixed
//! the MSS, sized for a full send buffer of MSS-sized segments plus slack. When the ring is full
//! the connection sends no new data until an ACK frees a record (like Linux's limit on queued
//! buffers), so nothing is allocated per packet.
//!
//! Byte totals of SACKed, lost and retransmitted data are kept up to date on every change, so
//! RFC 6675's `pipe` is O(1): `outstanding − sacked − lost + retransmitted` (the form Linux
//! uses in `tcp_packets_in_flight`, counted in bytes).

use std::collections::VecDeque;

use super::super::SeqNumber;
use crate::time::Instant;

/// One transmitted segment, `[start, end)` in sequence space (a FIN counts one).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SentSegment {
    /// First sequence number.
    pub start: SeqNumber,
    /// One past the last sequence number.
    pub end: SeqNumber,
    /// When it was last (re)transmitted.
    pub sent_at: Instant,
    /// The peer reported it with SACK.
    pub sacked: bool,
    /// Deemed lost, to be (or already) retransmitted.
    pub lost: bool,
    /// A retransmission of it is in flight (cleared when it is deemed lost again).
    pub retransmitted: bool,
    /// It was retransmitted at least once (RACK and Karn need this).
    pub ever_retransmitted: bool,
    /// It was sent with PSH, so a retransmission carries PSH too (`tcp::push`).
    pub push: bool,
}

impl SentSegment {
    /// A record of a first transmission: nothing SACKed, lost or retransmitted yet.
    #[inline]
    fn new(start: SeqNumber, end: SeqNumber, sent_at: Instant, push: bool) -> Self {
        SentSegment {
            start,
            end,
            sent_at,
            sacked: false,
            lost: false,
            retransmitted: false,
            ever_retransmitted: false,
            push,
        }
    }

    /// Length in sequence space.
    pub fn len(&self) -> usize {
        (self.end - self.start).max(0) as usize
    }

    /// Whether it covers no sequence space.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the scoreboard learned from one ACK.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    /// Bytes newly acknowledged cumulatively (not SACKed before).
    pub acked: usize,
    /// Bytes newly SACKed.
    pub sacked: usize,
    /// Newest transmission among the newly delivered segments: (sent_at, end, was it a
    /// retransmission). RACK's input (RFC 8985 §6.2 step 2).
    pub newest: Option<(Instant, SeqNumber, bool)>,
    /// A segment below the highest one delivered by earlier ACKs was delivered now without
    /// having been retransmitted: the network reordered (RFC 8985 §6.2 step 3).
    pub reordering: bool,
    /// Highest end delivered by this ACK.
    high: Option<SeqNumber>,
    /// The lowest start of the segments counted in `reordering` (Linux `state->reord`).
    reorder_low: Option<SeqNumber>,
    /// Send time (and whether it was a retransmission) of the last segment cumulatively
    /// acknowledged, and of the last one SACKed, by this ACK: see [`Delivered::rtt_source`].
    last_acked: Option<(Instant, bool)>,
    last_sacked: Option<(SeqNumber, Instant, bool)>,
    /// The lowest end of the segments this ACK delivered that were never retransmitted
    /// (Linux `FLAG_ORIG_SACK_ACKED`, F-RTO's evidence).
    original_low_end: Option<SeqNumber>,
}

impl Delivered {
    /// The transmission RACK times its RTT by. RFC 8985 §6.2 step 2 takes the most recently
    /// sent delivered segment; Linux (`tcp_rack_advance`, called per segment, SACKed ones
    /// first and then the cumulatively acknowledged ones in sequence order) keeps the RTT of
    /// the last segment it processed. The two differ after a retransmission: when the ACK
    /// for a retransmitted hole also covers an original segment above it, Linux's RTT is the
    /// original's, longer, and the reordering deadline of the segments still out moves later.
    /// A Linux peer's timing is matched by doing the same.
    pub fn rtt_source(&self) -> Option<(Instant, bool)> {
        self.last_acked.or(self.last_sacked.map(|(_, t, r)| (t, r)))
    }

    /// Whether this ACK delivered (cumulatively or by SACK) a segment ending at or below
    /// `high` that was never retransmitted: its original transmission arrived.
    pub fn original_delivered_below(&self, high: SeqNumber) -> bool {
        self.original_low_end.is_some_and(|e| e <= high)
    }
}

/// The one record in flight, acknowledged ([`Scoreboard::ack_only_record`]).
#[derive(Clone, Copy, Debug)]
pub struct OnlyRecord {
    /// The record as it was.
    pub record: SentSegment,
    /// `Some` when its delivery shows reordering: how far, in bytes, below the highest
    /// delivered ([`Scoreboard::reordering_extent`], 0 when that is `None`).
    pub reorder_extent: Option<usize>,
}

/// The scoreboard of segments in flight, oldest first.
///
/// The oldest record lives inline (`first`), the others in a ring (`rest`): request/response
/// traffic has one segment in flight when the ACK for it arrives, and with the record inside
/// the connection's hot lines that ACK reads no heap line (at 100,000 connections each such
/// line is a cache miss), and such a connection holds no ring at all. `rest` is empty
/// whenever `first` is `None`.
///
/// The totals are `u32`s: they count sequence space between SND.UNA and SND.MAX, which
/// sequence comparisons already hold below 2^31. Narrower, they made room for the inline
/// record in the same 88 bytes; the ring behind a pointer ([`Ring`]) brought it to 72.
#[derive(Clone, Debug, Default)]
pub struct Scoreboard {
    /// The oldest record (`None` only when there is none).
    first: Option<SentSegment>,
    /// The records after `first`, oldest first.
    rest: Ring,
    /// Records the ring may hold: the board's capacity less the inline one.
    ring_capacity: u32,
    /// Bytes in all records.
    outstanding: u32,
    sacked: u32,
    /// Bytes marked lost and not SACKed (retransmitted or not).
    lost: u32,
    /// Bytes marked lost whose retransmission is in flight.
    retrans: u32,
    /// Number of SACKed records.
    sacked_count: u32,
    /// Highest sequence number SACKed or acknowledged (RACK's "fack").
    highest_delivered: Option<SeqNumber>,
}

/// The records after the inline one: a `VecDeque` behind a pointer, allocated with the first
/// record that goes there. A common segment (the one record of request/response traffic is
/// inline) reads only whether the pointer is null: 8 bytes of the connection's hot lines
/// where the `VecDeque` took 32, one of whose words no common segment read (lackey, as in
/// docs/benchmarks.md "The connection thinned"). A sender with more than one record in flight
/// pays a load through the pointer, to a line that its records' traffic keeps warm.
///
/// The box is the point (clippy's `box_collection` would have the queue's three words
/// inline): the pointer is what stays in the hot lines.
#[allow(clippy::box_collection)]
#[derive(Clone, Debug, Default)]
struct Ring(Option<Box<VecDeque<SentSegment>>>);

impl Ring {
    #[inline]
    fn len(&self) -> usize {
        self.0.as_ref().map_or(0, |r| r.len())
    }

    #[inline]
    fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|r| r.is_empty())
    }

    /// Heap bytes: the `VecDeque` itself and its records.
    fn heap_bytes(&self) -> usize {
        self.0.as_ref().map_or(0, |r| {
            core::mem::size_of::<VecDeque<SentSegment>>()
                + r.capacity() * core::mem::size_of::<SentSegment>()
        })
    }

    /// Gives back storage beyond `records`: one test of the pointer when the ring was never
    /// allocated (request/response traffic), the shrinking itself out of line.
    #[inline]
    fn shrink_to(&mut self, records: usize) {
        if let Some(r) = self.0.as_mut().filter(|r| r.capacity() > records) {
            Self::shrink(r, records);
        }
    }

    #[cold]
    #[inline(never)]
    fn shrink(r: &mut VecDeque<SentSegment>, records: usize) {
        r.shrink_to(records);
    }

    /// The queue, allocated if it was not.
    fn deque(&mut self) -> &mut VecDeque<SentSegment> {
        self.0.get_or_insert_with(Box::default)
    }

    fn iter(&self) -> impl Iterator<Item = &SentSegment> + '_ {
        self.0.iter().flat_map(|r| r.iter())
    }

    fn iter_mut(&mut self) -> impl Iterator<Item = &mut SentSegment> + '_ {
        self.0.iter_mut().flat_map(|r| r.iter_mut())
    }

    #[inline]
    fn get(&self, i: usize) -> Option<&SentSegment> {
        self.0.as_ref()?.get(i)
    }

    #[inline]
    fn get_mut(&mut self, i: usize) -> Option<&mut SentSegment> {
        self.0.as_mut()?.get_mut(i)
    }

    fn front(&self) -> Option<&SentSegment> {
        self.0.as_ref()?.front()
    }

    fn back(&self) -> Option<&SentSegment> {
        self.0.as_ref()?.back()
    }

    fn back_mut(&mut self) -> Option<&mut SentSegment> {
        self.0.as_mut()?.back_mut()
    }

    fn pop_front(&mut self) -> Option<SentSegment> {
        self.0.as_mut()?.pop_front()
    }

    #[inline]
    fn push_back(&mut self, s: SentSegment) {
        self.deque().push_back(s);
    }

    fn insert(&mut self, i: usize, s: SentSegment) {
        self.deque().insert(i, s);
    }

    #[inline]
    fn clear(&mut self) {
        if let Some(r) = self.0.as_mut() {
            r.clear();
        }
    }

    fn partition_point(&self, pred: impl FnMut(&SentSegment) -> bool) -> usize {
        self.0.as_ref().map_or(0, |r| r.partition_point(pred))
    }
}

impl Scoreboard {
    /// An empty scoreboard that can hold `capacity` records (one more takes a FIN that
    /// arrives when the ring is full of data records). Records are allocated as segments are
    /// sent, doubling, so a connection that never has much in flight never holds much: the
    /// steady state allocates nothing, and [`shrink_idle`](Self::shrink_idle) gives a burst's
    /// records back.
    pub fn with_capacity(capacity: usize) -> Self {
        let ring_capacity = u32::try_from(capacity).unwrap_or(u32::MAX).max(1) - 1;
        Scoreboard { ring_capacity, ..Default::default() }
    }

    /// Records kept allocated in the ring when nothing is in flight: 16 records (384 bytes),
    /// so that a bulk sender's bursts do not reallocate it each time. A connection that never
    /// has more than one segment in flight never allocates it (`first`).
    const IDLE_RECORDS: usize = 16;

    /// With nothing in flight, gives back storage beyond 16 records (`IDLE_RECORDS`).
    /// Inline: every ACK that leaves nothing in flight calls it, and what it does then is a
    /// test or two.
    #[inline]
    pub fn shrink_idle(&mut self) {
        if self.first.is_none() {
            self.rest.shrink_to(Self::IDLE_RECORDS);
        }
    }

    /// Heap bytes the records take (with the ring's queue).
    pub fn heap_bytes(&self) -> usize {
        self.rest.heap_bytes()
    }

    /// A word from the scoreboard's totals and from its oldest record, for a look-ahead that
    /// reads them before the ACK that needs them (`Connection::hot_word`).
    pub(crate) fn warm_word(&self) -> u64 {
        let oldest = self.first.map_or(0, |s| u64::from(s.end.0));
        oldest ^ u64::from(self.outstanding ^ self.lost)
    }

    /// What `warm_word` surely reads of a board with a record in flight, as (offset in the
    /// board, size): the oldest record's end and the two totals (the record's presence lies
    /// in a niche of one of its fields, which the compiler chooses). For the layout test
    /// that checks which lines the look-ahead reads (`Connection::hot_word`): the whole
    /// board spans two lines, and counting it as read hid that one of them was not.
    #[cfg(test)]
    pub(crate) fn warm_reads() -> [(usize, usize); 3] {
        use core::mem::offset_of;
        let mut board = Scoreboard::with_capacity(2);
        board.push(SeqNumber(0), SeqNumber(1), Instant::ZERO, false);
        let base = core::ptr::addr_of!(board) as usize;
        let first = board.first.as_ref().map_or(base, |s| core::ptr::addr_of!(s.end) as usize);
        assert_ne!(first, base, "a record in flight");
        [
            (first - base, 4),
            (offset_of!(Scoreboard, outstanding), 4),
            (offset_of!(Scoreboard, lost), 4),
        ]
    }

    /// Whether another record fits.
    pub fn has_room(&self) -> bool {
        // Nothing in flight (request/response traffic between exchanges) answers at once.
        self.first.is_none() || self.rest.len() < self.ring_room()
    }

    /// Records the ring may hold beside the inline one.
    fn ring_room(&self) -> usize {
        self.ring_capacity as usize
    }

    /// Number of records.
    pub fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }

    /// Whether nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.first.is_none()
    }

    /// The records, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &SentSegment> + '_ {
        self.first.iter().chain(self.rest.iter())
    }

    /// Record `i`.
    pub fn get(&self, i: usize) -> Option<&SentSegment> {
        match i {
            0 => self.first.as_ref(),
            _ => self.rest.get(i - 1),
        }
    }

    /// Record `i`, to change.
    fn get_mut(&mut self, i: usize) -> Option<&mut SentSegment> {
        match i {
            0 => self.first.as_mut(),
            _ => self.rest.get_mut(i - 1),
        }
    }

    /// The record in flight when it is the only one (one load and test for each part).
    pub fn only_record(&self) -> Option<&SentSegment> {
        self.first.as_ref().filter(|_| self.rest.is_empty())
    }

    /// The newest record.
    pub fn last(&self) -> Option<&SentSegment> {
        self.rest.back().or(self.first.as_ref())
    }

    /// The index of the first record whose start is not below `seq` (`len()` if none).
    fn first_from(&self, seq: SeqNumber) -> usize {
        match self.first {
            None => 0,
            Some(f) if f.start >= seq => 0,
            Some(_) => 1 + self.rest.partition_point(|s| s.start < seq),
        }
    }

    /// Bytes SACKed.
    pub fn sacked_bytes(&self) -> usize {
        self.sacked as usize
    }

    /// Bytes marked lost and not SACKed.
    pub fn lost_bytes(&self) -> usize {
        self.lost as usize
    }

    /// Bytes in all records.
    pub fn outstanding(&self) -> usize {
        self.outstanding as usize
    }

    /// RFC 6675 `pipe`: bytes believed to be in the network.
    pub fn pipe(&self) -> usize {
        // Retransmitted bytes are outstanding ones: the sum stays below 2^32.
        (self.outstanding + self.retrans).saturating_sub(self.sacked + self.lost) as usize
    }

    /// Number of SACKed records (RFC 8985's `segs_sacked` stand-in).
    pub fn sacked_segments(&self) -> usize {
        self.sacked_count as usize
    }

    /// Appends a newly sent segment. The caller checked [`has_room`](Self::has_room); a record
    /// that does not fit is merged into the last one so accounting stays exact.
    ///
    /// The common cases, the first record (inline) or one appended with room in the ring's
    /// storage (one per data segment sent), need no registers saved; a full board or
    /// storage goes to [`push_slow`](Self::push_slow) as a tail call.
    pub fn push(&mut self, start: SeqNumber, end: SeqNumber, now: Instant, psh: bool) {
        let len = (end - start).max(0) as u32;
        if len == 0 {
            return;
        }
        self.outstanding += len;
        if self.first.is_none() {
            self.first = Some(SentSegment::new(start, end, now, psh));
        } else if let Some(r) = self
            .rest
            .0
            .as_mut()
            .filter(|r| r.len() < self.ring_capacity as usize && r.len() < r.capacity())
        {
            r.push_back(SentSegment::new(start, end, now, psh));
        } else {
            self.push_slow(start, end, now, psh);
        }
    }

    /// [`push`](Self::push) when the board is at its capacity (merge into the last record
    /// if it can) or the queue's storage must grow.
    #[inline(never)]
    fn push_slow(&mut self, start: SeqNumber, end: SeqNumber, now: Instant, psh: bool) {
        if !self.has_room() {
            let last = match self.rest.back_mut() {
                Some(l) => Some(l),
                None => self.first.as_mut(),
            };
            if let Some(last) = last {
                if last.end == start && !last.sacked && !last.lost {
                    last.end = end;
                    last.sent_at = now;
                    last.push = psh;
                    return;
                }
            }
        }
        self.rest.push_back(SentSegment::new(start, end, now, psh));
    }

    /// Forgets a record's contribution to the totals.
    fn unaccount(&mut self, s: &SentSegment, len: u32) {
        self.outstanding -= len;
        if s.sacked {
            self.sacked -= len;
            if len as usize == s.len() {
                self.sacked_count -= 1;
            }
        } else if s.lost {
            self.lost -= len;
            if s.retransmitted {
                self.retrans -= len;
            }
        }
    }

    fn note_delivered(&self, s: &SentSegment, d: &mut Delivered) {
        if self.highest_delivered.is_some_and(|h| s.end < h) && !s.ever_retransmitted {
            d.reordering = true;
            d.reorder_low = Some(d.reorder_low.map_or(s.start, |l| l.min(s.start)));
        }
        d.high = Some(d.high.map_or(s.end, |h| h.max(s.end)));
        if !s.ever_retransmitted && d.original_low_end.is_none_or(|e| s.end < e) {
            d.original_low_end = Some(s.end);
        }
        let newer = match d.newest {
            None => true,
            Some((t, end, _)) => s.sent_at > t || (s.sent_at == t && s.end > end),
        };
        if newer {
            d.newest = Some((s.sent_at, s.end, s.ever_retransmitted));
        }
    }

    /// Record `s` is cumulatively acknowledged whole: what it newly delivers (nothing more if
    /// it was SACKed before).
    fn note_acked(&self, s: &SentSegment, d: &mut Delivered) {
        if !s.sacked {
            d.acked += s.len();
            self.note_delivered(s, d);
            d.last_acked = Some((s.sent_at, s.ever_retransmitted));
        }
    }

    /// No record is left: every total is zero.
    fn empty_records(&mut self) {
        self.first = None;
        self.rest.clear();
        self.outstanding = 0;
        self.sacked = 0;
        self.lost = 0;
        self.retrans = 0;
        self.sacked_count = 0;
    }

    /// [`ack`](Self::ack) and [`finish_ack`](Self::finish_ack) for the ACK of the one
    /// record in flight, wholly below the cumulative ACK (`LossRecovery::only_flight_acked_by`
    /// checks): the board empties, and the record comes back with what its delivery says,
    /// unless the peer had SACKed it (then it delivers nothing new and `ack` reports
    /// nothing). No [`Delivered`] is built: every field of it follows from the one record.
    #[inline]
    pub fn ack_only_record(&mut self) -> Option<OnlyRecord> {
        let s = self.first?;
        debug_assert!(self.rest.is_empty());
        self.empty_records();
        if s.sacked {
            return None;
        }
        // `note_delivered`: delivered below the highest delivered before, never
        // retransmitted, is reordering (RFC 8985 §6.2 step 3).
        let reordered = self.highest_delivered.is_some_and(|h| s.end < h) && !s.ever_retransmitted;
        let high = self.highest_delivered.map_or(s.end, |x| x.max(s.end));
        self.highest_delivered = Some(high);
        // `reordering_extent`: from the record's start to the highest delivered.
        let reorder_extent =
            reordered.then(|| if high > s.start { (high - s.start) as usize } else { 0 });
        Some(OnlyRecord { record: s, reorder_extent })
    }

    /// The cumulative ACK moved to `una`: drops the records below it (trimming one that it
    /// splits) and reports what was newly delivered.
    ///
    /// The ACK of the one record in flight (each ACK of a request/response exchange) empties
    /// the board outright: its totals were that record's alone, so they all return to zero,
    /// as popping it (`ack_each`) would leave them, without the ring's pop and second look.
    #[inline]
    pub fn ack(&mut self, una: SeqNumber, d: &mut Delivered) {
        if self.rest.is_empty() {
            if let Some(s) = self.first.filter(|s| s.end <= una) {
                self.note_acked(&s, d);
                self.empty_records();
                return;
            }
        }
        self.ack_each(una, d);
    }

    /// [`ack`](Self::ack) record by record: pops each record below `una` and trims the one
    /// it splits.
    fn ack_each(&mut self, una: SeqNumber, d: &mut Delivered) {
        let Some(s) = self.first else { return };
        if s.end <= una {
            self.unaccount(&s, s.len() as u32);
            self.note_acked(&s, d);
            // The ring's records below `una` go straight from the ring; the first one left
            // moves inline once, not each one in turn.
            while let Some(&s) = self.rest.front().filter(|s| s.end <= una) {
                self.rest.pop_front();
                self.unaccount(&s, s.len() as u32);
                self.note_acked(&s, d);
            }
            self.first = self.rest.pop_front();
        }
        self.trim_first(una, d);
    }

    /// The cumulative ACK `una` splits the oldest record (which ends above it): the part
    /// below it is delivered.
    fn trim_first(&mut self, una: SeqNumber, d: &mut Delivered) {
        if let Some(s) = self.first.filter(|s| s.start < una) {
            let cut = (una - s.start) as u32;
            self.unaccount(&s, cut);
            if !s.sacked {
                d.acked += cut as usize;
            }
            if let Some(f) = self.first.as_mut() {
                f.start = una;
            }
        }
    }

    /// Ends the processing of one ACK: what it delivered now counts for later reordering
    /// checks.
    pub fn finish_ack(&mut self, d: &Delivered) {
        if let Some(h) = d.high {
            self.highest_delivered = Some(self.highest_delivered.map_or(h, |x| x.max(h)));
        }
    }

    /// How far this ACK showed the network reorders, in bytes: from the lowest segment it
    /// delivered late (below one delivered earlier, never retransmitted) to the highest
    /// delivered so far (Linux `tcp_check_sack_reordering`: `fack - low_seq`). Call after
    /// [`finish_ack`](Self::finish_ack).
    pub fn reordering_extent(&self, d: &Delivered) -> Option<usize> {
        let low = d.reorder_low?;
        let high = self.highest_delivered?;
        (high > low).then(|| (high - low) as usize)
    }

    /// Marks the records wholly inside the SACK block `[left, right)` as SACKed.
    pub fn sack(&mut self, left: SeqNumber, right: SeqNumber, d: &mut Delivered) {
        let first = self.first_from(left);
        for i in first..self.len() {
            let Some(&s) = self.get(i) else { break };
            if s.end > right {
                break;
            }
            if s.sacked {
                continue;
            }
            let len = s.len() as u32;
            if s.lost {
                self.lost -= len;
                if s.retransmitted {
                    self.retrans -= len;
                }
            }
            self.sacked += len;
            self.sacked_count += 1;
            d.sacked += len as usize;
            if let Some(m) = self.get_mut(i) {
                m.sacked = true;
                m.lost = false;
                m.retransmitted = false;
            }
            self.note_delivered(&s, d);
            // Linux walks the blocks in sequence order: the highest SACKed segment is last.
            if d.last_sacked.is_none_or(|(end, _, _)| s.end > end) {
                d.last_sacked = Some((s.end, s.sent_at, s.ever_retransmitted));
            }
        }
    }

    /// Marks record `i` lost (a no-op if SACKed or already lost and not yet retransmitted).
    /// A lost retransmission is marked lost again: it must be sent once more. Returns whether
    /// anything changed.
    pub fn mark_lost(&mut self, i: usize) -> bool {
        let Some(s) = self.get(i).copied() else { return false };
        if s.sacked || (s.lost && !s.retransmitted) {
            return false;
        }
        let len = s.len() as u32;
        if s.lost {
            self.retrans -= len;
        } else {
            self.lost += len;
        }
        if let Some(m) = self.get_mut(i) {
            m.lost = true;
            m.retransmitted = false;
        }
        true
    }

    /// Every record not SACKed is lost (a retransmission timeout, RFC 6675 §5.1).
    pub fn mark_all_lost(&mut self) {
        for i in 0..self.len() {
            self.mark_lost(i);
        }
    }

    /// A timeout turned out spurious: the records it marked lost and that did not go out
    /// again are in flight once more (Linux `tcp_undo_cwnd_reduction` clearing the loss
    /// marks). Retransmitted records stay lost-and-retransmitted, so `pipe` counts them once.
    pub fn unmark_unretransmitted_losses(&mut self) {
        for s in self.first.iter_mut().chain(self.rest.iter_mut()) {
            if s.lost && !s.retransmitted && !s.sacked {
                s.lost = false;
                self.lost -= s.len() as u32;
            }
        }
    }

    /// RFC 6675 `IsLost` for every record: lost when at least `dup_thresh` SACKed segments,
    /// or `dup_thresh · mss` SACKed bytes, lie above it. Returns whether any record became lost.
    pub fn mark_lost_by_sack(&mut self, dup_thresh: usize, mss: usize) -> bool {
        if self.sacked_count == 0 {
            return false;
        }
        let (mut segs_above, mut bytes_above) = (0usize, 0usize);
        let mut changed = false;
        for i in (0..self.len()).rev() {
            let Some(&s) = self.get(i) else { continue };
            if s.sacked {
                segs_above += 1;
                bytes_above += s.len();
            } else if !s.lost && (segs_above >= dup_thresh || bytes_above > (dup_thresh - 1) * mss)
            {
                changed |= self.mark_lost(i);
            }
        }
        changed
    }

    /// Whether [`next_lost`](Self::next_lost) may find a record (a counter test, no scan).
    pub fn may_have_lost(&self) -> bool {
        self.lost != self.retrans
    }

    /// The first lost record whose retransmission is not yet in flight (RFC 6675 `NextSeg`
    /// rule 1: holes first, oldest first).
    pub fn next_lost(&self) -> Option<usize> {
        if !self.may_have_lost() {
            return None;
        }
        self.iter().position(|s| s.lost && !s.retransmitted && !s.sacked)
    }

    /// Record `i` was retransmitted at `now`.
    pub fn on_retransmit(&mut self, i: usize, now: Instant) {
        let Some(s) = self.get(i).copied() else { return };
        if s.sacked {
            return;
        }
        let len = s.len() as u32;
        if !s.lost {
            // A probe or an RTO-less resend of a segment not deemed lost: count it as lost
            // and retransmitted so the pipe holds it once.
            self.lost += len;
        }
        if !s.retransmitted || !s.lost {
            self.retrans += len;
        }
        if let Some(m) = self.get_mut(i) {
            m.lost = true;
            m.retransmitted = true;
            m.ever_retransmitted = true;
            m.sent_at = now;
        }
    }

    /// Splits record `i` after its first `len` bytes, when it is longer, not SACKed, and
    /// there is room for one more record; the two halves keep its marks (the byte totals do
    /// not change). A smaller path MTU needs this: a record sent at the old segment size is
    /// resent in pieces of the new one (Linux `tcp_fragment` on retransmission). Returns
    /// whether it split.
    pub fn split(&mut self, i: usize, len: usize) -> bool {
        let Some(s) = self.get(i).copied() else { return false };
        if len == 0 || s.len() <= len || s.sacked || !self.has_room() {
            return false;
        }
        let at = s.start + len;
        if let Some(m) = self.get_mut(i) {
            m.end = at;
            m.push = false;
        }
        // Record `i + 1` is the ring's `i`.
        self.rest.insert(i, SentSegment { start: at, ..s });
        true
    }

    /// Marks lost every record with more than `len` bytes of data (below `data_end`: a FIN
    /// takes no room) that is neither SACKed nor already waiting to go again (Linux
    /// `tcp_simple_retransmit` after the path MTU fell). Returns whether any was marked.
    pub fn mark_lost_longer_than(&mut self, len: usize, data_end: SeqNumber) -> bool {
        let mut any = false;
        for i in 0..self.len() {
            let Some(&s) = self.get(i) else { break };
            if (s.end.min(data_end) - s.start).max(0) as usize > len {
                any |= self.mark_lost(i);
            }
        }
        any
    }

    /// Index of the record that starts at `seq`.
    pub fn find(&self, seq: SeqNumber) -> Option<usize> {
        let i = self.first_from(seq);
        self.get(i).filter(|s| s.start == seq).map(|_| i)
    }

    /// Forgets everything (connection closed).
    pub fn clear(&mut self) {
        self.empty_records();
        self.highest_delivered = None;
    }

    /// Recomputes the totals from the records (tests use it to check the bookkeeping).
    pub fn check_totals(&self) -> bool {
        if self.first.is_none() && !self.rest.is_empty() {
            return false;
        }
        let mut t = (0, 0, 0, 0);
        let mut count = 0;
        for s in self.iter() {
            let len = s.len() as u32;
            t.0 += len;
            if s.sacked {
                count += 1;
                t.1 += len;
            } else if s.lost {
                t.2 += len;
                if s.retransmitted {
                    t.3 += len;
                }
            }
        }
        t == (self.outstanding, self.sacked, self.lost, self.retrans) && count == self.sacked_count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    fn board(n: u32) -> Scoreboard {
        let mut b = Scoreboard::with_capacity(16);
        for i in 0..n {
            b.push(s(i * 100), s(i * 100 + 100), Instant::from_millis(u64::from(i)), false);
        }
        b
    }

    /// `ack_only_record` against `ack`, `finish_ack` and `reordering_extent`, for every kind
    /// of lone record: SACKed or not, retransmitted or not, below, at or above the highest
    /// delivered (the below-and-original case is reordering, which the seeded equivalence
    /// tests rarely reach).
    #[test]
    fn the_only_record_acked_as_the_general_ack_acks_it() {
        for sacked in [false, true] {
            for retransmitted in [false, true] {
                for highest in [None, Some(s(150)), Some(s(250)), Some(s(900))] {
                    let mut b = Scoreboard::with_capacity(16);
                    b.push(s(100), s(250), Instant::from_millis(7), true);
                    if sacked {
                        b.sack(s(100), s(250), &mut Delivered::default());
                    }
                    if retransmitted {
                        if let Some(f) = b.get_mut(0) {
                            f.ever_retransmitted = true;
                        }
                    }
                    b.highest_delivered = highest;
                    let mut general = b.clone();
                    let mut d = Delivered::default();
                    general.ack(s(300), &mut d);
                    general.finish_ack(&d);
                    let extent = d.reordering.then(|| general.reordering_extent(&d).unwrap_or(0));
                    let one = b.ack_only_record();
                    let case = format!("sacked {sacked} rtx {retransmitted} high {highest:?}");
                    assert_eq!(format!("{b:?}"), format!("{general:?}"), "{case}");
                    match one {
                        None => assert_eq!(d, Delivered::default(), "{case}"),
                        Some(one) => {
                            let r = one.record;
                            assert_eq!(d.acked + d.sacked, r.len(), "{case}");
                            assert_eq!(d.newest, Some((r.sent_at, r.end, r.ever_retransmitted)));
                            assert_eq!(d.rtt_source(), Some((r.sent_at, r.ever_retransmitted)));
                            assert_eq!(one.reorder_extent, extent, "{case}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn pipe_follows_sack_loss_and_retransmission() {
        let mut b = board(10);
        assert_eq!(b.pipe(), 1000);
        let mut d = Delivered::default();
        b.sack(s(300), s(600), &mut d);
        assert_eq!((d.sacked, b.pipe()), (300, 700));
        // Three SACKed segments above 0..300: all three are lost (IsLost).
        assert!(b.mark_lost_by_sack(3, 100));
        assert_eq!(b.lost_bytes(), 300);
        assert_eq!(b.pipe(), 400);
        assert_eq!(b.next_lost(), Some(0));
        b.on_retransmit(0, Instant::from_millis(50));
        assert_eq!(b.next_lost(), Some(1));
        assert_eq!(b.pipe(), 500);
        // A cumulative ACK past the first hole; then the retransmission of 100 is lost again.
        let mut d = Delivered::default();
        b.ack(s(100), &mut d);
        assert_eq!(d.acked, 100);
        assert_eq!(d.newest.map(|n| n.2), Some(true), "delivered a retransmission");
        b.on_retransmit(0, Instant::from_millis(60));
        assert!(b.mark_lost(0));
        assert_eq!(b.next_lost(), Some(0));
        assert!(b.check_totals());
        b.mark_all_lost();
        assert_eq!(b.pipe(), 0);
        assert!(b.check_totals());
    }

    #[test]
    fn reordering_is_seen_and_partial_acks_trim() {
        let mut b = board(4);
        let mut d = Delivered::default();
        b.sack(s(300), s(400), &mut d);
        b.sack(s(200), s(300), &mut d);
        assert!(!d.reordering, "one ACK's blocks in any order are no reordering");
        b.finish_ack(&d);
        b.ack(s(50), &mut d);
        assert!(!d.reordering, "a split record is not delivered yet");
        assert_eq!(b.get(0).map(|r| r.start), Some(s(50)));
        let mut d = Delivered::default();
        b.ack(s(100), &mut d);
        assert!(d.reordering, "0..100 arrived after 200..300 without a retransmission");
        assert!(b.check_totals());
    }

    /// `ack` leaves the board and reports the delivery exactly as popping the records one by
    /// one (`ack_each`) does, for every cumulative ACK, on boards of one record and more with
    /// SACKed, lost, retransmitted and trimmed records and a reordering history.
    #[test]
    fn ack_equals_ack_record_by_record() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n
        };
        for round in 0..1000 {
            let n = 1 + next(if round % 2 == 0 { 1 } else { 8 }) as u32;
            let mut b = Scoreboard::with_capacity(16);
            let mut d = Delivered::default();
            // Records delivered before: a reordering history for `note_delivered`.
            b.push(s(0), s(100), Instant::ZERO, false);
            b.sack(s(0), s(100 * next(2) as u32), &mut d);
            b.ack(s(next(2) as u32 * 100), &mut d);
            b.finish_ack(&d);
            let base = b.last().map_or(100, |r| r.end.0);
            for i in 0..n {
                let sent = Instant::from_millis(u64::from(i) + next(3));
                b.push(s(base + i * 100), s(base + i * 100 + 100), sent, next(2) == 0);
            }
            let mut d = Delivered::default();
            for _ in 0..next(3) {
                let l = base + next(u64::from(n)) as u32 * 100;
                b.sack(s(l), s(l + 100 * (1 + next(2) as u32)), &mut d);
            }
            b.finish_ack(&d);
            for _ in 0..next(3) {
                let i = next(u64::from(n)) as usize;
                b.mark_lost(i);
                if next(2) == 0 {
                    b.on_retransmit(i, Instant::from_millis(20 + next(5)));
                }
            }
            let una = s(base + next(u64::from(n) * 100 + 60) as u32);
            let (mut fast, mut each) = (b.clone(), b.clone());
            let (mut df, mut de) = (Delivered::default(), Delivered::default());
            fast.ack(una, &mut df);
            each.ack_each(una, &mut de);
            assert_eq!(df, de, "round {round}");
            let totals = |b: &Scoreboard| {
                let first = b.get(0).copied();
                (b.len(), first, b.outstanding(), b.sacked_bytes(), b.lost_bytes(), b.pipe())
            };
            assert_eq!(totals(&fast), totals(&each), "round {round}");
            assert_eq!(fast.sacked_segments(), each.sacked_segments(), "round {round}");
            assert_eq!(fast.may_have_lost(), each.may_have_lost(), "round {round}");
            assert!(fast.check_totals() && each.check_totals(), "round {round}");
        }
    }

    /// The scoreboard against a model, a plain ring of every record with nothing inline and
    /// the totals recounted each time, over random runs of sends (past the capacity too, so
    /// records merge), cumulative ACKs (whole and splitting), SACKs, loss marks,
    /// retransmissions, splits, undos and shrinks: the records (in order, by index, the
    /// newest, by start), the totals and what each ACK delivered must agree after each step.
    /// A record lost or duplicated when the inline one hands over to the ring, or the other
    /// way, fails here.
    #[test]
    fn the_board_matches_a_plain_ring() {
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        let mut next = move |n: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % n.max(1)
        };
        for round in 0..400 {
            let cap = 1 + next(6) as usize;
            let mut b = Scoreboard::with_capacity(cap);
            let mut m: VecDeque<SentSegment> = VecDeque::new();
            let (mut una, mut max) = (1000u32, 1000u32);
            for step in 0..120 {
                let now = Instant::from_millis(step);
                let (mut d, mut acked, mut sacked) = (Delivered::default(), 0, 0);
                match next(10) {
                    0..=2 => {
                        let len = next(4) as u32 * 50;
                        let (start, end) = (s(max), s(max + len));
                        let psh = next(2) == 0;
                        b.push(start, end, now, psh);
                        max += len;
                        if len == 0 {
                        } else if m.len() < cap {
                            m.push_back(SentSegment::new(start, end, now, psh));
                        } else {
                            match m.back_mut() {
                                Some(l) if l.end == start && !l.sacked && !l.lost => {
                                    (l.end, l.sent_at, l.push) = (end, now, psh);
                                }
                                _ => m.push_back(SentSegment::new(start, end, now, psh)),
                            }
                        }
                    }
                    3 => {
                        let to = una + next(u64::from(max - una) + 1) as u32;
                        b.ack(s(to), &mut d);
                        una = to;
                        while let Some(f) = m.front_mut() {
                            if f.end <= s(to) {
                                acked += if f.sacked { 0 } else { f.len() };
                                m.pop_front();
                            } else {
                                if f.start < s(to) {
                                    acked += if f.sacked { 0 } else { (s(to) - f.start) as usize };
                                    f.start = s(to);
                                }
                                break;
                            }
                        }
                    }
                    4 => {
                        let l = una + next(u64::from(max - una) + 1) as u32;
                        let r = l + next(u64::from(max - l) + 1) as u32;
                        b.sack(s(l), s(r), &mut d);
                        for x in m.iter_mut().filter(|x| x.start >= s(l) && x.end <= s(r)) {
                            if !x.sacked {
                                sacked += x.len();
                                (x.sacked, x.lost, x.retransmitted) = (true, false, false);
                            }
                        }
                    }
                    5 => {
                        let i = next(m.len() as u64 + 1) as usize;
                        b.mark_lost(i);
                        if let Some(x) = m.get_mut(i).filter(|x| !x.sacked) {
                            if !x.lost || x.retransmitted {
                                (x.lost, x.retransmitted) = (true, false);
                            }
                        }
                    }
                    6 => {
                        let i = next(m.len() as u64 + 1) as usize;
                        b.on_retransmit(i, now);
                        if let Some(x) = m.get_mut(i).filter(|x| !x.sacked) {
                            (x.lost, x.retransmitted, x.ever_retransmitted) = (true, true, true);
                            x.sent_at = now;
                        }
                    }
                    7 => {
                        let (i, len) = (next(m.len() as u64 + 1) as usize, next(150) as usize);
                        b.split(i, len);
                        if let Some(x) = m.get(i).copied() {
                            if len > 0 && x.len() > len && !x.sacked && m.len() < cap {
                                let at = x.start + len as u32;
                                m[i].end = at;
                                m[i].push = false;
                                m.insert(i + 1, SentSegment { start: at, ..x });
                            }
                        }
                    }
                    8 => {
                        b.unmark_unretransmitted_losses();
                        for x in m.iter_mut() {
                            if x.lost && !x.retransmitted && !x.sacked {
                                x.lost = false;
                            }
                        }
                        b.shrink_idle();
                    }
                    _ => {
                        b.mark_lost_by_sack(2, 100);
                        let (mut n, mut bytes) = (0, 0);
                        for x in m.iter_mut().rev() {
                            if x.sacked {
                                (n, bytes) = (n + 1, bytes + x.len());
                            } else if (n >= 2 || bytes > 100) && !x.lost {
                                (x.lost, x.retransmitted) = (true, false);
                            }
                        }
                    }
                }
                let case = format!("round {round} step {step}");
                assert_eq!((d.acked, d.sacked), (acked, sacked), "{case}");
                let records: Vec<SentSegment> = b.iter().copied().collect();
                assert_eq!(records, m.iter().copied().collect::<Vec<_>>(), "{case}");
                assert_eq!((b.len(), b.is_empty()), (m.len(), m.is_empty()), "{case}");
                for i in 0..=m.len() {
                    assert_eq!(b.get(i), m.get(i), "{case} record {i}");
                }
                assert_eq!(b.last(), m.back(), "{case}");
                assert_eq!(b.only_record(), m.front().filter(|_| m.len() == 1), "{case}");
                let probe = s(una + next(u64::from(max - una) + 1) as u32);
                assert_eq!(b.find(probe), m.iter().position(|x| x.start == probe), "{case}");
                let holes = m.iter().position(|x| x.lost && !x.retransmitted && !x.sacked);
                assert_eq!(b.next_lost(), holes, "{case}");
                let sum = |f: &dyn Fn(&SentSegment) -> bool| {
                    m.iter().filter(|x| f(x)).map(SentSegment::len).sum::<usize>()
                };
                let lost = sum(&|x| x.lost && !x.sacked);
                let retrans = sum(&|x| x.lost && x.retransmitted && !x.sacked);
                assert_eq!(b.outstanding(), sum(&|_| true), "{case}");
                assert_eq!(b.sacked_bytes(), sum(&|x| x.sacked), "{case}");
                assert_eq!(b.lost_bytes(), lost, "{case}");
                assert_eq!(b.sacked_segments(), m.iter().filter(|x| x.sacked).count(), "{case}");
                let pipe = (b.outstanding() + retrans).saturating_sub(b.sacked_bytes() + lost);
                assert_eq!(b.pipe(), pipe, "{case}");
                assert_eq!(b.has_room(), m.len() < cap, "{case}");
                assert!(b.check_totals(), "{case}");
                // A lone record, or none, lives inline: no ring is allocated for it.
                if b.heap_bytes() == 0 {
                    assert!(m.len() <= 1, "{case}");
                }
            }
        }
    }

    /// Request/response traffic, one record in flight at a time, never allocates the ring.
    #[test]
    fn one_record_in_flight_allocates_nothing() {
        let mut b = Scoreboard::with_capacity(16);
        for i in 0..100u32 {
            b.push(s(i * 64), s(i * 64 + 64), Instant::from_millis(u64::from(i)), true);
            let mut d = Delivered::default();
            b.ack(s(i * 64 + 64), &mut d);
            assert_eq!(d.acked, 64);
            assert!(b.is_empty() && b.check_totals());
        }
        assert_eq!(b.heap_bytes(), 0);
    }

    /// The ring is allocated with the first record beyond the inline one, and its heap
    /// bytes count the queue with its records; an idle board keeps 16 records of it.
    #[test]
    fn ring_allocates_with_the_second_record() {
        let mut b = Scoreboard::with_capacity(64);
        b.push(s(0), s(10), Instant::ZERO, false);
        assert_eq!(b.heap_bytes(), 0);
        for i in 1..40u32 {
            b.push(s(i * 10), s(i * 10 + 10), Instant::ZERO, false);
        }
        assert_eq!((b.len(), b.get(39).map(|r| r.start)), (40, Some(s(390))));
        let deque = core::mem::size_of::<VecDeque<SentSegment>>();
        let record = core::mem::size_of::<SentSegment>();
        assert!(b.heap_bytes() >= deque + 39 * record);
        let mut d = Delivered::default();
        b.ack(s(400), &mut d);
        assert!(b.is_empty() && b.check_totals());
        b.shrink_idle();
        assert_eq!(b.heap_bytes(), deque + Scoreboard::IDLE_RECORDS * record);
    }

    #[test]
    fn full_ring_merges_instead_of_allocating() {
        let mut b = Scoreboard::with_capacity(2);
        b.push(s(0), s(10), Instant::ZERO, false);
        b.push(s(10), s(20), Instant::ZERO, false);
        assert!(!b.has_room());
        b.push(s(20), s(30), Instant::ZERO, false);
        assert_eq!(b.len(), 2);
        assert_eq!(b.outstanding(), 30);
        assert!(b.check_totals());
    }
}
