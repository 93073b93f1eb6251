//! The named parts of a connection's state (RFC 9293 §3.3.1 calls the whole the TCB).
//!
//! [`Connection`](super::Connection) holds one of each, so that a reader sees which fields
//! belong together and which ones the per-segment fast path touches (see the layout note on
//! `Connection`). Each part is plain data: the behaviour stays on the connection (or, for loss
//! recovery and ECN, on their own types in `recovery`), since most steps read several parts.

use super::config::{TcpConfig, TcpFlags};
use super::rto::{RtoLimits, RtoState};
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// The send sequence space (RFC 9293 §3.3.1, figure 4): `SND.UNA`, `SND.NXT`, `SND.WND`,
/// `SND.WL1`, `SND.WL2`, `ISS`, plus what this engine keeps beside them.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendSeq {
    /// `SND.UNA`: oldest unacknowledged sequence number.
    pub(super) una: SeqNumber,
    /// `SND.NXT`: next sequence number to send.
    pub(super) nxt: SeqNumber,
    /// Highest sequence number sent plus one (`nxt` goes back on RTO, this does not).
    pub(super) max: SeqNumber,
    /// `SND.WND`: the peer's window in bytes, scaled.
    pub(super) wnd: u32,
    /// The largest window the peer has offered (RFC 5961 §5 ACK acceptability).
    pub(super) max_wnd: u32,
    /// `SND.WL1`: segment sequence number used for the last window update.
    pub(super) wl1: SeqNumber,
    /// `SND.WL2`: segment acknowledgment number used for the last window update.
    pub(super) wl2: SeqNumber,
    /// Sequence number of the send buffer's first byte.
    pub(super) base: SeqNumber,
}

impl SendSeq {
    /// Nothing sent yet from `iss`; the first data byte will be `iss + 1`.
    pub(super) fn new(iss: SeqNumber) -> Self {
        SendSeq {
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            base: iss + 1u32,
        }
    }
}

/// The receive sequence space (RFC 9293 §3.3.1, figure 5): `RCV.NXT`, `IRS`, the edge last
/// advertised, and what arrived that is not yet in order. A pending DSACK block and a FIN
/// beyond a gap are rare: every segment asks whether there is one, so their presence is here
/// and their sequence numbers in [`RecvCold`], read only when present.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecvSeq {
    /// `RCV.NXT`: next sequence number expected.
    pub(super) nxt: SeqNumber,
    /// Right edge of the window last advertised (never moves left, RFC 9293 §3.8.6.2.2).
    pub(super) adv: SeqNumber,
    /// `RCV.NXT` as of the last ACK sent (RFC 7323 `Last.ACK.sent`).
    pub(super) last_ack_sent: SeqNumber,
    /// When a segment of the peer last arrived (keepalive idle time, FIN-WAIT-2 timeout,
    /// `tcp_tw_reuse`, giving up on a silent zero-window peer).
    pub(super) last_recv: Instant,
    /// A duplicate received below `RCV.NXT` is to be reported as a DSACK block in the next
    /// ACK (RFC 2883 §4): the block is `RecvCold::dsack` (`set_dsack`, `take_dsack`).
    dsack_pending: bool,
    /// A FIN was seen beyond a gap, to be processed once the gap fills: its sequence number
    /// is `RecvCold::fin` (`set_pending_fin`, `take_pending_fin_at`).
    fin_pending: bool,
    /// The peer's FIN arrived in order.
    pub(super) fin_received: bool,
    /// The application will not read any more (after `close`): data is acknowledged and
    /// dropped.
    pub(super) read_closed: bool,
}

impl RecvSeq {
    /// Nothing known of the peer yet (its SYN fills this in).
    pub(super) fn new(now: Instant) -> Self {
        RecvSeq {
            nxt: SeqNumber(0),
            adv: SeqNumber(0),
            last_ack_sent: SeqNumber(0),
            last_recv: now,
            dsack_pending: false,
            fin_pending: false,
            fin_received: false,
            read_closed: false,
        }
    }

    /// Whether a DSACK block waits for the next ACK (only this is read per segment).
    #[inline]
    pub(super) fn dsack_pending(&self) -> bool {
        self.dsack_pending
    }

    /// A DSACK block `(left, right)` to report in the next ACK, replacing any pending one.
    pub(super) fn set_dsack(&mut self, cold: &mut RecvCold, block: (SeqNumber, SeqNumber)) {
        cold.dsack = block;
        self.dsack_pending = true;
    }

    /// The pending DSACK block, if any, which is then no longer pending. Reads the cold part
    /// only when there is one.
    #[inline]
    pub(super) fn take_dsack(&mut self, cold: &RecvCold) -> Option<(SeqNumber, SeqNumber)> {
        if !self.dsack_pending {
            return None;
        }
        self.dsack_pending = false;
        Some(cold.dsack)
    }

    /// A FIN at `seq` arrived beyond a gap.
    pub(super) fn set_pending_fin(&mut self, cold: &mut RecvCold, seq: SeqNumber) {
        cold.fin = seq;
        self.fin_pending = true;
    }

    /// Whether the FIN seen beyond a gap is at `seq` (the gap has filled up to it); if so it
    /// is no longer pending. Reads the cold part only when a FIN is pending.
    #[inline]
    pub(super) fn take_pending_fin_at(&mut self, cold: &RecvCold, seq: SeqNumber) -> bool {
        let at = self.fin_pending && cold.fin == seq;
        if at {
            self.fin_pending = false;
        }
        at
    }
}

/// The sequence numbers of what [`RecvSeq`] marks as pending, on a line no common segment
/// touches: valid only while `RecvSeq` says they are pending.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RecvCold {
    /// The DSACK block to report (RFC 2883 §4), while `RecvSeq::dsack_pending`.
    dsack: (SeqNumber, SeqNumber),
    /// The FIN's sequence number, while `RecvSeq::fin_pending`.
    fin: SeqNumber,
}

/// What the handshake settled: MSS, window scaling (RFC 7323 §2), SACK (RFC 2018) and
/// timestamps (RFC 7323 §3), with the timestamp state PAWS needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Negotiated {
    /// Effective send MSS (payload bytes), options excluded: read as a `usize` through
    /// [`Negotiated::mss`]. Kept in 16 bits, as the option carries it (RFC 9293 §3.2): it is
    /// the lesser of ours (`TcpConfig::mss`, a `u16`) and the peer's, less the timestamp
    /// option, or a path MTU's share, also below 64 KiB; 8 bytes of the lines a common
    /// segment touches as a `usize` (Linux keeps `mss_cache` in a `u32`).
    mss: u16,
    /// `TS.Recent` (RFC 7323 §4.3).
    pub(super) ts_recent: u32,
    /// Offset added to our millisecond clock for this connection's TSvals (RFC 7323 §7.1).
    pub(super) ts_offset: u32,
    /// When `ts_recent` was last set (RFC 7323 §5.5: too old, and PAWS no longer trusts it).
    pub(super) ts_recent_stamp: Instant,
    /// The peer's window-scale shift: its windows are shifted left by this.
    pub(super) snd_wscale: u8,
    /// Our window-scale shift: our windows are shifted right by this.
    pub(super) rcv_wscale: u8,
    /// SACK is in use.
    pub(super) sack_ok: bool,
    /// Timestamps are in use.
    pub(super) ts_ok: bool,
    /// The header the next segment is expected to have (`predict`; Linux `pred_flags`),
    /// set by `Connection::set_state`: read first by every arriving segment, beside the
    /// options it depends on (and in this struct's padding).
    pub(super) pred: super::predict::Prediction,
    /// The configuration's on/off settings (`TcpConfig::flags`), copied here when the
    /// connection is made and by `Connection::change_config`, the one place that changes
    /// them: a segment reads several (the fast sender, Nagle, pacing, RACK, F-RTO, delayed
    /// ACKs, keepalive), and each read through the shared configuration's pointer
    /// (`Connection::config`) cost a load more. In this struct's padding.
    pub(super) flags: TcpFlags,
}

impl Negotiated {
    /// Nothing negotiated yet; `mss` is ours until the peer's SYN tells us its own.
    pub(super) fn new(now: Instant, mss: usize, ts_offset: u32, flags: TcpFlags) -> Self {
        Negotiated {
            mss: mss16(mss),
            ts_recent: 0,
            ts_offset,
            ts_recent_stamp: now,
            snd_wscale: 0,
            rcv_wscale: 0,
            sack_ok: false,
            ts_ok: false,
            pred: super::predict::Prediction::OFF,
            flags,
        }
    }

    /// The effective send MSS, in payload bytes.
    #[inline(always)]
    pub(super) fn mss(&self) -> usize {
        usize::from(self.mss)
    }

    /// Sets the effective send MSS, which is below 64 KiB wherever it is set (see `mss`).
    #[inline]
    pub(super) fn set_mss(&mut self, mss: usize) {
        self.mss = mss16(mss);
    }
}

/// An MSS as the 16 bits it is kept in. Every MSS the connection sets derives from a 16-bit
/// one (the option, `TcpConfig::mss`, a path MTU), so the conversion never fails; were one
/// ever larger, it would be held at 65,535 rather than wrap (debug builds assert).
fn mss16(mss: usize) -> u16 {
    debug_assert!(mss <= usize::from(u16::MAX), "an MSS of {mss} bytes");
    u16::try_from(mss).unwrap_or(u16::MAX)
}

/// When to acknowledge (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AckSchedule {
    /// An ACK must go out with the next `poll_transmit`.
    pub(super) now: bool,
    /// Full-sized segments received since the last ACK (every second one is acknowledged;
    /// only `>= 2` and `> 0` are asked, so it saturates, and 16 bits keep this part and
    /// `Probes` beside the single bytes at the hot run's end, whose eighth line they spared).
    pub(super) delack_segments: u16,
    /// A RST is queued (`Connection::rst_pending` holds it): its presence, which every
    /// segment's planning reads, kept here in a hot line (and this struct's padding) while
    /// the 72-byte header sits in a cold one (`Connection::queue_rst`, `take_rst`).
    pub(super) rst: bool,
}

/// Every deadline the connection keeps outside loss recovery (whose probe and reordering
/// timers are in [`LossRecovery`](super::recovery::LossRecovery)): the owner folds them into
/// one wheel entry after every change
/// ([`Connection::poll_timeout`](super::Connection::poll_timeout)). The two a common segment
/// arms or clears are here; the three it never arms (persist, close, pacing) are in
/// [`TimersCold`] behind a bit each in [`TimerFlags`], so that a segment reads one byte for
/// them, and clearing one that is not set writes nothing. 16 bytes: the flags are a part of
/// their own among the connection's single bytes, where in here they took 8 with padding.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    /// Retransmission timer (RFC 6298).
    pub(super) retransmit_at: Option<Instant>,
    /// Delayed ACK (RFC 1122 §4.2.3.2).
    pub(super) delack_at: Option<Instant>,
}

/// The timers' single bytes, kept apart from [`Timers`] so that they pack with the
/// connection's other bytes (docs/benchmarks.md, "Seven lines").
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TimerFlags {
    /// Which of the deadlines in [`TimersCold`] are set: bit `1 << d as u8` for each
    /// [`ColdDeadline`] `d`.
    cold_armed: u8,
    /// Pacing is holding data back until the pacing deadline (reported by `poll_timeout`).
    pub(super) pacing_held: bool,
    /// Data segments sent, counted to 255: Linux paces from the tenth on.
    pub(super) pacing_data_segs: u8,
}

/// The deadlines kept in [`TimersCold`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ColdDeadline {
    /// Persist timer (RFC 9293 §3.8.6.1).
    Persist = 0,
    /// The closing state's deadline: in TIME-WAIT its end (2·MSL, RFC 9293 §3.10.7.4); in
    /// FIN-WAIT-2, when a connection the application closed gives up waiting for the peer's
    /// FIN (`TcpConfig::fin_timeout`). Set only in those two states, which exclude each
    /// other (entering TIME-WAIT replaces the FIN-WAIT-2 deadline, CLOSED clears it), so one
    /// deadline holds either and `Connection::on_timeout` tells them apart by the state.
    Close = 1,
    /// Pacing: the earliest time the next data segment may leave (set only with pacing on).
    Pacing = 2,
}

impl ColdDeadline {
    const fn bit(self) -> u8 {
        1 << self as u8
    }
}

impl TimerFlags {
    /// Whether any deadline of [`TimersCold`] is set (a common segment's only question).
    #[inline]
    pub(super) fn any_cold(&self) -> bool {
        self.cold_armed != 0
    }

    /// Deadline `d`, read from the cold part only when it is set.
    #[inline]
    pub(super) fn cold(&self, cold: &TimersCold, d: ColdDeadline) -> Option<Instant> {
        if self.cold_armed & d.bit() != 0 {
            Some(cold.at[d as usize])
        } else {
            None
        }
    }

    /// Sets deadline `d` to `at`; clearing it (`None`) writes only the hot bit.
    #[inline]
    pub(super) fn set_cold(&mut self, cold: &mut TimersCold, d: ColdDeadline, at: Option<Instant>) {
        match at {
            Some(at) => {
                cold.at[d as usize] = at;
                self.cold_armed |= d.bit();
            }
            None => self.cold_armed &= !d.bit(),
        }
    }
}

/// The deadlines of [`Timers`] that no common segment arms, on a line it does not touch:
/// `at[d as usize]` for each [`ColdDeadline`] `d`, valid only while [`TimerFlags`] says `d`
/// is set.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct TimersCold {
    at: [Instant; 3],
}

/// Round-trip measurement and the retransmission timeout (RFC 6298, RFC 7323 §4): 28 bytes
/// (40 while the estimate's times were `Duration`s), all of them touched by a common
/// segment. What it used to hold beside the estimate and
/// no common segment reads went elsewhere (docs/benchmarks.md, "Retransmit in 40 bytes"):
/// the RTO's limits are derived from the shared configuration where they are needed
/// ([`rto_limits`]: no socket option changes them), and the timed segment's send time and
/// the timestamp floor are in [`RtxCold`], read only while a flag here says they matter.
#[derive(Clone, Copy, Debug)]
pub(super) struct Retransmit {
    /// SRTT, RTTVAR and the RTO with its back-off; in its padding, the timeout count and
    /// the flags ([`RtxTail`]).
    pub(super) rto: RtoState<RtxTail>,
}

/// [`Retransmit`]'s own two bytes, kept inside the estimate (`RtoState::owner`), where a
/// field of `Retransmit` beside it would have taken 8 bytes with its padding.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RtxTail {
    /// Consecutive timeouts without progress (bounded by the SYN retries or `retries2`).
    count: u8,
    /// `Retransmit::TIMING` and `Retransmit::TS_FLOOR`.
    flags: u8,
}

/// What [`Retransmit`] keeps that a common segment never reads: each value only while a
/// flag in `Retransmit` says it is set.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct RtxCold {
    /// Without timestamps: when the segment being timed left (Karn's algorithm); which
    /// segment it is, `Rare::rtt_probe_seq`. Meaningful while `Retransmit::timing`.
    probe_sent: Instant,
    /// TSval of the last timeout retransmission. An echo older than this can only come from
    /// a peer whose TS.Recent could not advance (RFC 7323 §4.3: its ACK of the retransmission
    /// was lost), so measuring RTT from it would count the whole timeout as path delay and
    /// inflate the RTO by orders of magnitude. Such echoes give no sample. Meaningful once
    /// `Retransmit::TS_FLOOR` is set (never cleared after).
    ts_sample_floor: u32,
}

/// The RTO's limits for a connection with this configuration: derived where they are needed
/// rather than copied into each connection's hot lines. The configuration's `min_rto`,
/// `max_rto` and `clock_granularity` are set when it is made and no socket option changes
/// them (`Connection::change_config`'s callers), so these are the limits the connection
/// started with.
#[inline(always)]
pub(super) fn rto_limits(config: &TcpConfig) -> RtoLimits {
    RtoLimits::new(config.min_rto, config.max_rto, config.clock_granularity)
}

impl Retransmit {
    /// A segment is timed without timestamps (its send time is `RtxCold::probe_sent`).
    const TIMING: u8 = 1;
    /// A timeout retransmission set `RtxCold::ts_sample_floor`.
    const TS_FLOOR: u8 = 2;

    pub(super) fn new(config: &TcpConfig) -> Self {
        let rto =
            RtoState::new(config.initial_rto, config.min_rto, config.max_rto, RtxTail::default());
        Retransmit { rto }
    }

    /// The RTO to arm the timer with, backoff included.
    #[inline]
    pub(super) fn timeout(&self, config: &TcpConfig) -> Duration {
        self.rto.rto(rto_limits(config))
    }

    /// Consecutive timeouts without progress.
    #[inline]
    pub(super) fn count(&self) -> u8 {
        self.rto.owner.count
    }

    #[inline]
    pub(super) fn set_count(&mut self, count: u8) {
        self.rto.owner.count = count;
    }

    /// Whether a segment is timed without timestamps.
    #[inline]
    pub(super) fn timing(&self) -> bool {
        self.rto.owner.flags & Self::TIMING != 0
    }

    /// Starts timing a segment sent `now` (its number goes to `Rare::rtt_probe_seq`).
    pub(super) fn start_timing(&mut self, cold: &mut RtxCold, now: Instant) {
        self.rto.owner.flags |= Self::TIMING;
        cold.probe_sent = now;
    }

    /// Karn's rule: the timed segment was retransmitted, or its sample taken.
    #[inline]
    pub(super) fn stop_timing(&mut self) {
        self.rto.owner.flags &= !Self::TIMING;
    }

    /// When the timed segment left, if one is timed.
    #[inline]
    pub(super) fn probe_sent(&self, cold: &RtxCold) -> Option<Instant> {
        self.timing().then_some(cold.probe_sent)
    }

    /// Whether an echoed timestamp may give an RTT sample: no timeout retransmission came
    /// after it (`RtxCold::ts_sample_floor`).
    #[inline]
    pub(super) fn echo_fresh(&self, cold: &RtxCold, tsecr: u32) -> bool {
        self.rto.owner.flags & Self::TS_FLOOR == 0
            || tsecr.wrapping_sub(cold.ts_sample_floor) < 1 << 31
    }

    /// A timeout retransmission went out at TSval `ts`: older echoes give no sample.
    pub(super) fn set_ts_floor(&mut self, cold: &mut RtxCold, ts: u32) {
        self.rto.owner.flags |= Self::TS_FLOOR;
        cold.ts_sample_floor = ts;
    }
}

/// Liveness of an idle or stalled peer: zero-window probes (RFC 9293 §3.8.6.1) and
/// keepalives (RFC 1122 §4.2.3.6). Their deadlines are in [`Timers`] (persist) or derived
/// from `RecvSeq::last_recv` (keepalive).
#[derive(Clone, Copy, Debug)]
pub(super) struct Probes {
    /// A probe (zero-window or keepalive) goes out with the next `poll_transmit`.
    pub(super) pending: bool,
    /// Keepalive probes sent since the peer was last heard.
    pub(super) keepalive_sent: u8,
    /// The persist timer found data behind a window too small for its next segment: one
    /// segment of what fits may go now (Linux `tcp_write_wakeup`).
    pub(super) window_wakeup: bool,
    /// Zero-window probes sent since the last acceptable ACK (at most `retries2` + 1, a
    /// `u8` setting).
    pub(super) unanswered: u16,
    /// Persist back-off exponent (saturating; the timer's shift takes at most 20 of it).
    pub(super) persist_backoff: u8,
}

impl Probes {
    pub(super) fn new() -> Self {
        Probes {
            pending: false,
            keepalive_sent: 0,
            window_wakeup: false,
            unanswered: 0,
            persist_backoff: 0,
        }
    }
}

/// The fields of two per-segment parts, [`Probes`] and [`Totals`], that a common segment
/// never touches, kept in the connection's cold lines: without their 8-byte words those
/// parts are 12 and 16 bytes, and with loss recovery's episode state (`LossCold`) gone too,
/// the parts a common segment touches throughout fit 12 lines instead of 13
/// (docs/benchmarks.md, "The connection thinned" lists what a frame touches per field).
#[derive(Clone, Copy, Debug)]
pub(super) struct Seldom {
    /// When the last keepalive probe went out (`Probes::keepalive_sent` counts them).
    pub(super) keepalive_sent_at: Instant,
    /// Segments retransmitted, the running total `info` reports beside [`Totals`].
    pub(super) retransmits: u64,
    /// The high words of [`Totals`] (written when a total's sequence number crosses a 2^31
    /// boundary: once per 2 GiB each way).
    pub(super) totals_high: TotalsHigh,
}

impl Seldom {
    pub(super) fn new(now: Instant) -> Self {
        Seldom { keepalive_sent_at: now, retransmits: 0, totals_high: TotalsHigh::default() }
    }
}

/// Rate limits on ACKs an attacker could provoke: challenge ACKs (RFC 5961 §7) and ACKs
/// answering out-of-window segments.
#[derive(Clone, Copy, Debug)]
pub(super) struct AckLimits {
    /// Start of the current one-second challenge-ACK window.
    pub(super) challenge_window_start: Instant,
    /// Challenge ACKs sent in it.
    pub(super) challenge_count: u32,
    /// When the last out-of-window ACK went out.
    pub(super) last_oow_ack: Option<Instant>,
}

impl AckLimits {
    pub(super) fn new(now: Instant) -> Self {
        AckLimits { challenge_window_start: now, challenge_count: 0, last_oow_ack: None }
    }
}

/// The running byte totals reported by `info` (`TCP_INFO`), beside the counter deltas (the
/// retransmissions' is in [`Seldom`]), derived from the sequence numbers instead of counted,
/// so that a segment writes none of them: payload bytes acknowledged are `snd.base` less
/// its start (`snd.base` moves by exactly the data acknowledged), payload bytes received
/// `RCV.NXT` less its start, less one once the FIN is in (RCV.NXT moves by exactly the
/// data delivered, and the FIN). That gives the low 32 bits; the high words
/// ([`TotalsHigh`], in `Seldom`) count the wraps. A wrap is found without reading this
/// cold part on a common segment: only an update that crosses a 2^31 boundary of the
/// sequence space (the old and new numbers' top bits differ, both in registers) reconciles
/// (`Connection::reconcile_totals`), comparing the low word with the one seen at the last
/// reconciliation. Reconciliations are less than 2^32 bytes apart (the boundaries are 2^31
/// apart and one update moves less than 2^31), so no wrap goes unseen, and a reader adds
/// the one wrap since the last (`Connection::bytes_acked`, `bytes_received`): exact
/// 64-bit totals, as when they were counted in `u64`s on a hot line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(super) struct Totals {
    /// `snd.base` before any data was acknowledged (`ISS + 1`).
    pub(super) acked_from: SeqNumber,
    /// `RCV.NXT` before any data was received (`IRS + 1` once the SYN is in: `learn_syn`).
    pub(super) received_from: SeqNumber,
    /// The low words at the last reconciliation.
    pub(super) acked_low: u32,
    pub(super) received_low: u32,
}

/// The high words of the byte totals ([`Totals`]): the wraps of their low words.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(super) struct TotalsHigh {
    /// `Totals::bytes_acked`'s.
    pub(super) bytes_acked: u32,
    /// `Totals::bytes_received`'s.
    pub(super) bytes_received: u32,
}

/// What a common segment never reads or writes, out of the hot parts it used to sit in
/// (`SendSeq`, `RecvSeq`, `Retransmit`, `Ecn`) so that those take one line less
/// (docs/benchmarks.md, "The common segment in 11 lines"): the initial sequence numbers
/// (read in the handshake and for a SYN's retransmission), the sequence number of the
/// segment timed without timestamps (read only while `Retransmit::timing`) and
/// ECN's end of the reduced window (read only for an ECE).
#[derive(Clone, Copy, Debug)]
pub(super) struct Rare {
    /// `ISS`: our initial send sequence number.
    pub(super) iss: SeqNumber,
    /// `IRS`: the peer's initial sequence number.
    pub(super) irs: SeqNumber,
    /// The segment `Retransmit` times (meaningless while `Retransmit::timing` is false).
    pub(super) rtt_probe_seq: SeqNumber,
    /// ECN sender: `SND.MAX` at the last ECE reaction (RFC 3168 §6.1.2); no new reaction
    /// until it is acknowledged (`Ecn::on_ack`).
    pub(super) cwr_until: Option<SeqNumber>,
    /// Window scaling is in use (RFC 7323 §2). Read only by the handshake, a SYN-ACK's
    /// retransmission and `info`: the shifts in `Negotiated` are what segments use, so this
    /// moved out of the lines a common segment touches (in the connection's end padding).
    pub(super) ws_ok: bool,
}

impl Rare {
    pub(super) fn new(iss: SeqNumber) -> Self {
        Rare { iss, irs: SeqNumber(0), rtt_probe_seq: SeqNumber(0), cwr_until: None, ws_ok: false }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Instant;

    const ALL: [ColdDeadline; 3] =
        [ColdDeadline::Persist, ColdDeadline::Close, ColdDeadline::Pacing];

    /// Each cold deadline has its own bit: setting, reading and clearing one leaves the
    /// others as they were, and clearing writes nothing to the cold part.
    #[test]
    fn cold_deadlines_are_independent() {
        let at = |i: usize| Some(Instant::from_millis(10 + i as u64));
        for gone in ALL {
            let (mut t, mut cold) = (TimerFlags::default(), TimersCold::default());
            assert!(!t.any_cold());
            for (i, d) in ALL.into_iter().enumerate() {
                assert_eq!(t.cold(&cold, d), None);
                t.set_cold(&mut cold, d, at(i));
            }
            let before = cold.at;
            t.set_cold(&mut cold, gone, None);
            assert_eq!(cold.at, before, "clearing writes only the hot bit");
            for (i, d) in ALL.into_iter().enumerate() {
                assert_eq!(t.cold(&cold, d), if d == gone { None } else { at(i) }, "{d:?}");
            }
            assert!(t.any_cold());
            for d in ALL {
                t.set_cold(&mut cold, d, None);
            }
            assert!(!t.any_cold());
            // Set again, the new deadline counts, not the stale one.
            t.set_cold(&mut cold, gone, at(7));
            assert_eq!(t.cold(&cold, gone), at(7));
        }
    }

    /// A DSACK block is reported once, and a pending FIN is taken only at its own sequence
    /// number.
    #[test]
    fn pending_dsack_and_fin() {
        let (mut r, mut cold) = (RecvSeq::new(Instant::ZERO), RecvCold::default());
        assert!(!r.dsack_pending());
        assert_eq!(r.take_dsack(&cold), None);
        r.set_dsack(&mut cold, (SeqNumber(5), SeqNumber(9)));
        r.set_dsack(&mut cold, (SeqNumber(1), SeqNumber(3)));
        assert!(r.dsack_pending());
        assert_eq!(r.take_dsack(&cold), Some((SeqNumber(1), SeqNumber(3))));
        assert!(!r.dsack_pending());
        assert_eq!(r.take_dsack(&cold), None);

        assert!(
            !r.take_pending_fin_at(&cold, SeqNumber(0)),
            "none pending (the cold part holds 0)"
        );
        r.set_pending_fin(&mut cold, SeqNumber(100));
        assert!(!r.take_pending_fin_at(&cold, SeqNumber(99)));
        assert!(r.take_pending_fin_at(&cold, SeqNumber(100)));
        assert!(!r.take_pending_fin_at(&cold, SeqNumber(100)), "taken once");
    }

    /// The timeout count and the two flags share the estimate's padding: each changes
    /// alone, and the cold values count only while their flag is set.
    #[test]
    fn retransmit_flags_and_count_are_independent() {
        let config = TcpConfig::default();
        let (mut rtx, mut cold) = (Retransmit::new(&config), RtxCold::default());
        assert_eq!((rtx.count(), rtx.timing()), (0, false));
        assert_eq!(rtx.probe_sent(&cold), None);
        // No floor: every echo may give a sample, whatever the cold field holds.
        cold.ts_sample_floor = 5000;
        assert!(rtx.echo_fresh(&cold, 1) && rtx.echo_fresh(&cold, u32::MAX));
        let sent = Instant::ZERO + Duration::from_millis(7);
        rtx.start_timing(&mut cold, sent);
        assert_eq!(rtx.probe_sent(&cold), Some(sent));
        rtx.set_count(3);
        rtx.set_ts_floor(&mut cold, 1000);
        assert_eq!((rtx.count(), rtx.probe_sent(&cold)), (3, Some(sent)));
        // The floor: an echo at or after it (in sequence space, RFC 7323 §4.3) is fresh.
        assert!(rtx.echo_fresh(&cold, 1000) && rtx.echo_fresh(&cold, 1000 + (1 << 31) - 1));
        assert!(!rtx.echo_fresh(&cold, 999) && !rtx.echo_fresh(&cold, 1000 + (1 << 31)));
        // Karn: the probe ends, the floor and the count stay.
        rtx.stop_timing();
        assert_eq!(rtx.probe_sent(&cold), None);
        assert!(!rtx.echo_fresh(&cold, 999));
        assert_eq!(rtx.count(), 3);
        rtx.set_count(0);
        assert!(!rtx.timing() && !rtx.echo_fresh(&cold, 999));
        // The estimate around them is untouched by all of it.
        assert_eq!(rtx.timeout(&config), config.initial_rto);
        assert_eq!(rtx.rto.backoff(), 0);
        rtx.rto.back_off();
        assert_eq!((rtx.count(), rtx.rto.backoff()), (0, 1));
    }

    /// The RTO's limits come from the configuration as the estimator's copies did: the
    /// minimum at least the clock granularity, the maximum in whole microseconds.
    #[test]
    fn limits_from_the_configuration() {
        let config = TcpConfig {
            min_rto: Duration::from_micros(300),
            clock_granularity: Duration::from_millis(2),
            max_rto: Duration::from_nanos(5_000_000_999),
            ..TcpConfig::default()
        };
        let mut rtx = Retransmit::new(&config);
        rtx.rto.sample_per_round(Duration::ZERO, SeqNumber(1), SeqNumber(2), rto_limits(&config));
        assert_eq!(rtx.timeout(&config), Duration::from_millis(2));
        for _ in 0..20 {
            rtx.rto.back_off();
        }
        assert_eq!(rtx.timeout(&config), Duration::from_secs(5));
    }
}
