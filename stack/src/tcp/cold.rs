//! The parts of a connection no common segment touches, kept out of its slot.
//!
//! A [`Connection`](super::Connection) is its seven hot lines and a pointer to these. At
//! 100,000 connections the slot table is what a frame's look-ahead walks: with these parts
//! inline a slot was 27 lines, the table 172 MB, and a frame's eight lines fell on 1.27
//! pages on average, each a TLB miss whose walk grows with the region (about 25 ns over
//! 48 MiB, 40-50 over 176 MiB on huge pages, measured by `scripts/page-walk-probe.c`). Boxed,
//! a slot is eight lines, 512 bytes: the table 51 MB, one page a frame (docs/benchmarks.md,
//! "The cold parts boxed"). The box is allocated once, when the connection is made (a SYN
//! queue entry included), never per segment.

use super::autotune::ReadSpace;
use super::cc::Controller;
use super::chrono::SendChrono;
use super::counters::TcpCounters;
use super::push::RecordEnds;
use super::reassembly::Reassembly;
use super::recovery::LossCold;
use super::segment::SegmentHeader;
use super::tcb::{AckLimits, Rare, RecvCold, RtxCold, Seldom, TimersCold, Totals};

/// What a common segment (in-order data, its echo, the pure ACK) never reads or writes: each
/// part that matters to it has a hot copy of whether it does, in the connection, kept in
/// step by the only code that changes the part (`ack.rst`, `marks`' record flag,
/// `chrono_kind`, `rtx`'s, `timer_flags`', `rcv`'s and `loss`'s flags, the window's `cwnd`,
/// the out-of-order count `ooo_ranges`).
#[derive(Debug)]
pub(super) struct Cold {
    pub(super) limits: AckLimits,
    /// The keepalive probe's time, the retransmissions' total and the byte totals' high
    /// words (`Seldom`).
    pub(super) seldom: Seldom,
    /// The auto-tuning's measurement of what was read per round trip (`autotune`).
    pub(super) read_space: ReadSpace,
    /// The congestion controller: a common segment reads its window and whether it takes
    /// every ACK from the connection's `cwnd`, which every call that may change them
    /// refreshes.
    pub(super) cc: Controller,
    /// A RST to send, queued and taken only through `queue_rst` and `take_rst`, which keep
    /// its presence in the connection's `ack.rst`.
    pub(super) rst_pending: Option<SegmentHeader>,
    /// The persist, close and pacing deadlines, set only while `timer_flags` says so.
    pub(super) timers_cold: TimersCold,
    /// The timed segment's send time and the timestamp floor (a flag in `rtx` says whether
    /// either is set).
    pub(super) rtx_cold: RtxCold,
    /// Where the byte totals are derived from (`Totals`; their high words are in `seldom`):
    /// read only by `info` and once per receiver round trip, written on a wrap.
    pub(super) totals: Totals,
    /// A pending DSACK block and the sequence number of a FIN beyond a gap, valid only while
    /// `rcv` says they are pending.
    pub(super) rcv_cold: RecvCold,
    /// Out-of-order ranges; how many, the one thing a segment asks, is the connection's
    /// `ooo_ranges`.
    pub(super) reassembly: Reassembly,
    /// Counter deltas (see [`TcpCounters`]; of the three per-segment ones, what their low
    /// words in the connection's `seg_counts` carried out).
    pub(super) counters: TcpCounters,
    /// Busy and receive-window-limited time (`TCP_INFO`): changed only when the sender's
    /// state changes (`chrono_set`).
    pub(super) chrono: SendChrono,
    /// Ends of `MSG_EOR` records not yet sent (`marks` says whether there are any).
    pub(super) records: RecordEnds,
    /// Loss recovery's episode state: undo, PRR, the post-timeout `recover`.
    pub(super) loss_cold: LossCold,
    /// The initial sequence numbers, the timed segment's and ECN's end of reduced window.
    pub(super) rare: Rare,
}
