//! Where writes end: the PSH flag, record boundaries (`MSG_EOR`), and holding short segments
//! back (`TCP_CORK`, `MSG_MORE`), as Linux does them.
//!
//! RFC 9293 §3.9.1.2 lets a SEND carry a PUSH flag and asks that the PSH bit go on the last
//! segment of the pushed data (MUST-61); Linux pushes at the end of every write without
//! `MSG_MORE` (`tcp_push`, `tcp_mark_push`). Two more Linux rules its peers can see:
//! - Linux hands new data to the device as TSO/GSO packets of up to `tcp_tso_segs` segments
//!   (`tcp_tso_autosize`: what the pacing rate sends in about a millisecond, at least
//!   `tcp_min_tso_segs` = 2, at most 64 KiB), and `__tcp_transmit_skb` sets PSH on every packet
//!   of more than one segment, which the device segmentation leaves on its last segment. So a
//!   burst of new data carries PSH every `tcp_tso_segs` segments, and where a round of two or
//!   more segments stops because the congestion or peer window is full (outside loss recovery,
//!   where new data goes a segment at a time). Seen on Linux 6.18 with segmentation off: a
//!   5000-byte write at MSS 974 and 100 ms RTT leaves as `. P . P . P`. [`TsoPacket`] keeps
//!   the count;
//! - a retransmission carries PSH only if the segment it repeats did
//!   ([`SentSegment::push`](super::recovery::scoreboard::SentSegment::push)).
//!
//! `MSG_EOR` ends a record: no segment carries bytes of the record and of what follows
//! (Linux `tcp_skb_can_collapse_to`), and the record's last segment has PSH. `TCP_CORK`
//! holds short segments until it is lifted; `MSG_MORE` holds a write's short tail only until
//! something else makes the connection send (an ACK, a timer). With nothing in flight, held
//! data goes when the probe timer fires (Linux `tcp_write_wakeup`, one RTO later).

use std::collections::VecDeque;

use super::SeqNumber;

/// How one write asks to be sent (`send`/`sendmsg` flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendFlags {
    /// `MSG_MORE`: more data follows soon; do not push, and hold a short tail.
    pub more: bool,
    /// `MSG_EOR`: the write ends a record; later data never shares a segment with it.
    pub eor: bool,
}

/// A connection's push marks, record boundaries and holds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SendMarks {
    /// End of the latest write that asked for a push, while `pushed` (an `Option` here had
    /// a 4-byte tag and made the marks 20 bytes, not 16, of the lines a common segment
    /// touches: read it through `push`).
    push_end: SeqNumber,
    /// A write has asked for a push: `push_end` holds its end.
    pushed: bool,
    /// Record ends are pending: `RecordEnds` (kept apart, on a line a common segment does
    /// not read) is not empty. Kept in step by `on_write` and `on_sent`, the only code that
    /// changes either.
    records: bool,
    /// `TCP_CORK` is on.
    cork: bool,
    /// The latest write said `MSG_MORE` and nothing has released its tail since.
    more: bool,
    /// The probe timer fired with held data and nothing in flight: the next segment goes
    /// whatever holds it, with PSH.
    wakeup: bool,
    /// The TSO packet new data is being cut into.
    tso: TsoPacket,
    /// A write was refused or came up short since the last `Writable` (Linux `SOCK_NOSPACE`,
    /// set by `tcp_sendmsg` when it has to wait): only then does freed room raise `Writable`.
    nospace: bool,
}

/// Where the current burst of new data stands in Linux's TSO packet cutting (`push`): how
/// many segments the packet may hold and how many it has (two bytes each: `Connection`'s size
/// budget). Zero `goal` means no packet is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TsoPacket {
    goal: u16,
    segs: u16,
}

/// Ends of the `MSG_EOR` records not yet sent, in order: 32 bytes that a connection keeps
/// apart from its `SendMarks` (on a cold line), since a common segment only asks whether
/// there are any (`SendMarks::records`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecordEnds(VecDeque<SeqNumber>);

impl SendMarks {
    /// End of the latest write that asked for a push, if one has.
    #[inline(always)]
    fn push(&self) -> Option<SeqNumber> {
        self.pushed.then_some(self.push_end)
    }

    /// A write of data ending at `end` was queued with `flags`.
    #[inline]
    pub fn on_write(&mut self, records: &mut RecordEnds, end: SeqNumber, flags: SendFlags) {
        self.more = flags.more;
        if !flags.more {
            (self.push_end, self.pushed) = (end, true);
        }
        if flags.eor && records.0.back() != Some(&end) {
            records.0.push_back(end);
            self.records = true;
        }
        debug_assert_eq!(self.records, !records.0.is_empty());
    }

    /// The end of the record that `seq` is in, if a record boundary is pending: a segment
    /// starting at `seq` stops there.
    pub fn record_end(&self, records: &RecordEnds, seq: SeqNumber) -> Option<SeqNumber> {
        debug_assert_eq!(self.records, !records.0.is_empty());
        if !self.records {
            return None;
        }
        records.0.iter().copied().find(|&e| e > seq)
    }

    /// Whether new data `[seq, end)` carries PSH: it reaches the latest push mark, or ends a
    /// record. Round ends are the caller's (it knows the windows).
    pub fn push_at(&self, records: &RecordEnds, seq: SeqNumber, end: SeqNumber) -> bool {
        self.wakeup
            || self.push().is_some_and(|p| seq < p && p <= end)
            || (self.records && records.0.iter().any(|&e| e == end))
    }

    /// [`push_at`](Self::push_at) for a sender whose marks are plain ([`is_plain`](Self::is_plain):
    /// no wake-up, no record), which leaves only the write's push mark to test; inline, where
    /// `push_at` is a call that also walks the (empty) record list.
    #[inline]
    pub fn push_at_plain(&self, seq: SeqNumber, end: SeqNumber) -> bool {
        debug_assert!(self.is_plain(), "push_at_plain on marks that are not plain");
        self.push().is_some_and(|p| seq < p && p <= end)
    }

    /// New data up to `end` left: records ending there are done, and a wake-up is used.
    ///
    /// Inline as far as the common case, no record ends pending (one call per data segment
    /// sent); the walk over them is [`drop_done`](Self::drop_done).
    #[inline]
    pub fn on_sent(&mut self, records: &mut RecordEnds, end: SeqNumber) {
        if self.records {
            self.drop_done(records, end);
        }
        self.wakeup = false;
    }

    /// The record ends up to `end`, forgotten: those segments have left.
    #[inline(never)]
    fn drop_done(&mut self, records: &mut RecordEnds, end: SeqNumber) {
        while records.0.front().is_some_and(|&e| e <= end) {
            records.0.pop_front();
        }
        self.records = !records.0.is_empty();
    }

    /// Whether no mark but a write's push applies to the next segment: no record end, no
    /// cork or `MSG_MORE` tail, no probe wake-up (the common-case sender's test, `send_fast`).
    pub fn is_plain(&self) -> bool {
        !self.records && !self.cork && !self.more && !self.wakeup
    }

    /// Whether a short segment waits (`TCP_CORK`, or a `MSG_MORE` tail not yet released).
    pub fn holds_short(&self) -> bool {
        (self.cork || self.more) && !self.wakeup
    }

    /// Something other than the write made the connection send (an ACK arrived): a
    /// `MSG_MORE` tail is no longer held (Linux pushes with the socket's own Nagle setting).
    pub fn release_more(&mut self) {
        self.more = false;
    }

    /// A writer found the send buffer full (a refused or short write): the next ACK that
    /// frees enough room raises `Writable` (Linux sets `SOCK_NOSPACE`).
    pub fn on_refused(&mut self) {
        self.nospace = true;
    }

    /// Clears the refusal mark; whether one was set (the caller then raises `Writable`, as
    /// Linux `sk_stream_write_space` clears `SOCK_NOSPACE` when it wakes the writer).
    pub fn take_refused(&mut self) -> bool {
        std::mem::take(&mut self.nospace)
    }

    /// Whether a writer is waiting for room.
    pub fn refused(&self) -> bool {
        self.nospace
    }

    /// `TCP_CORK`. Lifting it lets held data go.
    pub fn set_cork(&mut self, on: bool) {
        self.cork = on;
        self.more = false;
    }

    /// The probe timer: send one held segment now, with PSH.
    pub fn wake(&mut self) {
        self.wakeup = true;
    }

    /// Whether `TCP_CORK` is on.
    pub fn corked(&self) -> bool {
        self.cork
    }

    /// Whether a new data segment would open a TSO packet (so the caller computes its size).
    pub fn tso_idle(&self) -> bool {
        self.tso.goal == 0
    }

    /// The open TSO packet's size goal in segments (0: none is open).
    pub fn tso_goal(&self) -> u16 {
        self.tso.goal
    }

    /// A new data segment joins the open TSO packet (opened with `goal` segments if none is
    /// open). Returns how many segments the packet has with it, and whether it is now full.
    pub fn tso_add(&mut self, goal: u16) -> (u16, bool) {
        if self.tso.goal == 0 {
            self.tso = TsoPacket { goal: goal.max(1), segs: 0 };
        }
        self.tso.segs = self.tso.segs.saturating_add(1);
        (self.tso.segs, self.tso.segs >= self.tso.goal)
    }

    /// The TSO packet ends: it was full, the segment ended a write or the round, or the burst
    /// is over (Linux's `tcp_write_xmit` starts the next one afresh).
    pub fn tso_end(&mut self) {
        self.tso = TsoPacket::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(n: u32) -> SeqNumber {
        SeqNumber(n)
    }

    #[test]
    fn push_marks_and_records() {
        let mut m = SendMarks::default();
        let mut r = RecordEnds::default();
        m.on_write(&mut r, s(1000), SendFlags::default());
        assert!(m.push_at(&r, s(0), s(1000)));
        assert!(!m.push_at(&r, s(0), s(999)), "short of the write's end");
        assert!(!m.push_at(&r, s(1000), s(1500)), "past it");
        // MSG_MORE moves no mark and holds the tail until released.
        m.on_write(&mut r, s(1500), SendFlags { more: true, eor: false });
        assert!(!m.push_at(&r, s(1000), s(1500)));
        assert!(m.holds_short());
        m.release_more();
        assert!(!m.holds_short());
        // Records: a segment stops at each boundary, which carries PSH.
        m.on_write(&mut r, s(1900), SendFlags { more: false, eor: true });
        m.on_write(&mut r, s(2300), SendFlags { more: false, eor: true });
        assert_eq!(m.record_end(&r, s(1500)), Some(s(1900)));
        assert!(m.push_at(&r, s(1500), s(1900)));
        m.on_sent(&mut r, s(1900));
        assert_eq!(m.record_end(&r, s(1900)), Some(s(2300)));
        m.on_sent(&mut r, s(2300));
        assert_eq!(m.record_end(&r, s(2300)), None);
        // Cork holds until lifted; a wake-up overrides it once.
        m.set_cork(true);
        assert!(m.holds_short() && m.corked());
        m.wake();
        assert!(!m.holds_short() && m.push_at(&r, s(2300), s(2301)));
        m.on_sent(&mut r, s(2301));
        assert!(m.holds_short());
        m.set_cork(false);
        assert!(!m.holds_short());
    }

    #[test]
    fn tso_packets_fill_to_their_goal_and_restart() {
        let mut m = SendMarks::default();
        assert!(m.tso_idle());
        assert_eq!(m.tso_add(2), (1, false));
        assert!(!m.tso_idle());
        assert_eq!(m.tso_add(9), (2, true), "the goal is the one the packet opened with");
        m.tso_end();
        assert_eq!(m.tso_add(3), (1, false));
        m.tso_end();
        assert_eq!(m.tso_add(0), (1, true), "a packet holds at least one segment");
    }
}
