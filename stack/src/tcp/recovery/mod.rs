//! Sender-side loss detection and recovery: which segments are lost, when a recovery episode
//! starts and ends, and what the congestion controller is told.
//!
//! - `scoreboard`: every segment in flight, SACKed/lost/retransmitted, and RFC 6675 `pipe`;
//! - `rack`: RACK-TLP (RFC 8985), time-based loss marking and the tail loss probe;
//! - `prr`: Proportional Rate Reduction (RFC 6937), the sending rate during fast recovery.
//!
//! Three detection modes, chosen by what was negotiated and configured:
//! - no SACK: NewReno (RFC 6582): three duplicate ACKs mark the first segment lost, partial
//!   ACKs the next one, and every duplicate ACK stands for one segment that left the network
//!   (Linux's "Reno SACK" estimate), which also gives limited transmit (RFC 3042);
//! - SACK without RACK: RFC 6675 `IsLost` (DupThresh SACKed segments above a hole);
//! - SACK with RACK (the default): RFC 8985 time-based marking plus TLP.
//!
//! DSACKs (RFC 2883) that cover every retransmission of an episode undo its window reduction;
//! F-RTO (RFC 5682, `frto`) undoes the response to a retransmission timeout that was spurious.

mod ecn;
pub mod frto;
pub mod prr;
pub mod rack;
pub mod scoreboard;

pub use self::ecn::Ecn;
pub use self::frto::Frto;

use self::prr::{Prr, PrrAck};
use self::rack::{Rack, ReorderingDegree, RACK_TIMER_MIN};
use self::scoreboard::{Delivered, Scoreboard};
use super::cc::AckSample;
use super::connection::Connection;
use super::counters::TcpCounters;
use super::rto::RtoLimits;
use super::segment::Segment;
use super::tcb::{rto_limits, Negotiated, Retransmit, SendSeq, Timers};
use super::SeqNumber;
use crate::bits::Bits8;
use crate::tcp::cc::Congestion;
use crate::tcp::cc::CongestionControl as _;
use crate::time::{Duration, Instant};

/// RFC 5681 §3.2 / RFC 6675: duplicate ACKs (or SACKed segments) that signal a loss.
pub const DUP_THRESH: usize = 3;

/// Why the connection is recovering.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryKind {
    /// Fast recovery after loss was detected by ACKs (RFC 6582, RFC 6675, RFC 8985).
    Fast,
    /// After a retransmission timeout: everything outstanding was deemed lost.
    Timeout,
}

/// One recovery episode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Episode {
    /// Why it started.
    pub kind: RecoveryKind,
    /// `SND.MAX` when it started: the episode ends when this is acknowledged (RFC 6582
    /// `recover`, RFC 6675 `RecoveryPoint`).
    pub point: SeqNumber,
}

/// Loss-recovery state of one connection.
#[derive(Clone, Debug, Default)]
pub struct LossRecovery {
    /// Segments in flight.
    pub board: Scoreboard,
    /// RACK state.
    pub rack: Rack,
    /// Why the current episode started, if one runs. Its recovery point is cold
    /// (`LossCold::point`): a common segment tests only whether there is an episode
    /// ([`LossRecovery::episode`] puts the two together).
    pub episode: Option<RecoveryKind>,
    /// Consecutive duplicate ACKs.
    pub dupacks: u32,
    /// Tail loss probe timer.
    pub tlp_at: Option<Instant>,
    /// A probe is due: the next `poll_transmit` sends it.
    pub tlp_pending: bool,
    /// Which of `LossCold`'s options are `Some` (the outstanding probe's end, the RACK
    /// deadline, the retransmission stamp), one bit each: every ACK tests or clears them,
    /// and only then reads the cold line. One byte, not three bools, which with the flight's
    /// flag bit (`FlightHigh`) took `LossRecovery` from 136 bytes to 128 of the lines a
    /// common segment touches. Kept in step by the setters below, the only code that
    /// changes either.
    cold_set: ColdSet,
    /// The RTT sample taken from the ACK being processed.
    pub last_rtt: Option<Duration>,
    /// The largest flight of the current window, for slow start's window-limited test.
    pub flight_high: FlightHigh,
    /// Spurious-timeout detection after the last retransmission timeout (RFC 5682).
    pub frto: Frto,
}

/// The loss-recovery state that only an episode, a timeout or a DSACK reads or writes, kept
/// apart from [`LossRecovery`] so that the lines a common segment touches do not carry it: at
/// 100,000 connections every such line is a cache miss. Measured per field (docs/benchmarks.md,
/// "The connection thinned"), a common frame touched only PRR's send count of its first 48
/// bytes, and PRR now counts only within an episode ("Episode state out of the hot lines").
/// The episode's recovery point, the probe's end, the RACK deadline, the retransmission stamp,
/// `undone` and `retransmit_now` joined it ("Loss recovery in 144 bytes"): a common frame
/// never touched them, or only to test or clear an `Option`, which a hot flag in
/// [`LossRecovery`] now answers. It lives in the connection's cold lines
/// (`Connection::loss_cold`) and is borrowed into [`Recovery`] beside `loss`.
#[derive(Clone, Debug, Default)]
pub struct LossCold {
    /// RFC 6582 `recover` after a timeout: no fast retransmit until SND.UNA passes it.
    pub rto_recover: Option<SeqNumber>,
    /// Start of the last episode that reduced the window (`undo_marker`).
    pub undo_marker: Option<SeqNumber>,
    /// Retransmissions of that episode not yet shown spurious by a DSACK (`undo_retrans`).
    pub undo_retrans: i64,
    /// NewReno without SACK: the retransmission deadline set by the episode's first partial
    /// ACK, which later partial ACKs do not push back.
    pub impatient_deadline: Option<Instant>,
    /// The sending rate of the current fast-recovery episode (RFC 6937). Read only in a fast
    /// episode, which starts it afresh (`Prr::start`): what is sent outside one is not
    /// counted.
    pub prr: Prr,
    /// The current episode's recovery point: `SND.MAX` when it started; it ends when this is
    /// acknowledged (RFC 6582 `recover`, RFC 6675 `RecoveryPoint`). Meaningful only while
    /// `LossRecovery::episode` is `Some`.
    pub point: SeqNumber,
    /// `SND.MAX` after the outstanding probe, and whether it was a retransmission
    /// (`TLP.end_seq`, `TLP.is_retrans`); `LossRecovery::tlp_out` tells whether it is `Some`.
    tlp_end: Option<(SeqNumber, bool)>,
    /// RACK reordering timer; `LossRecovery::rack_armed` tells whether it is `Some`.
    rack_at: Option<Instant>,
    /// When the oldest unacknowledged data was first sent, once a timeout has fired for it
    /// (Linux `retrans_stamp`): `TCP_USER_TIMEOUT` counts from here. Cleared by progress;
    /// `LossRecovery::stamped` tells whether it is `Some`.
    retrans_stamp: Option<Instant>,
    /// The last reduction was undone.
    pub undone: bool,
    /// An episode just started: its first retransmission goes whatever the window says
    /// (RFC 5681 §3.2 step 2, RFC 6675 §5 step 4.3).
    pub retransmit_now: bool,
}

impl LossCold {
    /// The RACK timer's deadline, read only when `LossRecovery::rack_armed` says there is
    /// one (`LossRecovery::rack_at`).
    #[cold]
    #[inline(never)]
    fn armed_rack_at(&self) -> Option<Instant> {
        self.rack_at
    }
}

/// Which of [`LossCold`]'s options are `Some`, a bit each (see `LossRecovery::cold_set`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct ColdSet(Bits8);

impl ColdSet {
    /// A probe is outstanding: `LossCold::tlp_end`.
    const TLP_END: u8 = 1;
    /// The RACK reordering timer is armed: `LossCold::rack_at`.
    const RACK_AT: u8 = 2;
    /// `LossCold::retrans_stamp`.
    const RETRANS_STAMP: u8 = 4;
}

/// The largest flight of the current window (Linux `max_packets_out` until `max_packets_seq`
/// is acknowledged). Slow start counts as window-limited while the window is under twice this
/// (Linux `tcp_is_cwnd_limited`): an application that sends in bursts still grows the window
/// its bursts will need, while an idle one does not inflate it (RFC 7661 §4.3 spirit).
///
/// The flight is a `u32`: it is SND.NXT − SND.UNA, which sequence comparisons hold below
/// 2^31, and the narrower field keeps the struct at 12 bytes, 4-byte aligned, among the hot
/// lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FlightHigh {
    /// The flight, below 2^31, and in the top bit ([`FlightHigh::SET`]) whether `until` is
    /// set: as an `Option<SeqNumber>` it had a 4-byte tag, and the struct was 12 bytes.
    bytes_set: u32,
    /// The window's end: SND.NXT when the flight was recorded (meaningful once set).
    until: SeqNumber,
}

impl FlightHigh {
    /// `until` is set.
    const SET: u32 = 1 << 31;

    /// Data left: `flight` bytes are outstanding up to `snd_nxt`, `snd_una` acknowledged.
    /// The flight is SND.NXT − SND.UNA, a non-negative sequence distance, so below 2^31.
    pub fn on_send(&mut self, flight: u32, snd_nxt: SeqNumber, snd_una: SeqNumber) {
        debug_assert!(flight < Self::SET, "a flight of {flight} bytes");
        let flight = flight.min(Self::SET - 1);
        let window_over = self.bytes_set & Self::SET == 0 || snd_una >= self.until;
        if window_over || flight > self.bytes_set & !Self::SET {
            self.bytes_set = flight | Self::SET;
            self.until = snd_nxt;
        }
    }

    /// The largest flight of the current window, in bytes.
    pub fn bytes(&self) -> usize {
        (self.bytes_set & !Self::SET) as usize
    }
}

impl LossRecovery {
    /// Fresh state with a scoreboard of `capacity` records.
    pub fn new(capacity: usize) -> Self {
        LossRecovery { board: Scoreboard::with_capacity(capacity), ..Default::default() }
    }

    /// The current episode: its kind (hot) with its recovery point (`cold`).
    #[inline]
    pub fn episode(&self, cold: &LossCold) -> Option<Episode> {
        self.episode.map(|kind| Episode { kind, point: cold.point })
    }

    /// Starts (or ends, `None`) an episode.
    #[inline]
    pub fn set_episode(&mut self, cold: &mut LossCold, episode: Option<Episode>) {
        self.episode = episode.map(|e| e.kind);
        if let Some(e) = episode {
            cold.point = e.point;
        }
    }

    /// A probe is outstanding: `LossCold::tlp_end` is `Some` (kept in step by
    /// [`LossRecovery::set_tlp_end`]). Every ACK tests it; only a probe's ACK reads the end.
    #[inline(always)]
    pub fn tlp_out(&self) -> bool {
        self.cold_set.0.has(ColdSet::TLP_END)
    }

    /// The RACK reordering timer is armed: `LossCold::rack_at` is `Some` (kept in step by
    /// [`LossRecovery::set_rack_at`]). Every ACK disarms it and `poll_timeout` reads it.
    #[inline(always)]
    pub fn rack_armed(&self) -> bool {
        self.cold_set.0.has(ColdSet::RACK_AT)
    }

    /// `LossCold::retrans_stamp` is `Some` (kept in step by
    /// [`LossRecovery::clear_retrans_stamp`] and [`LossRecovery::retrans_stamp_or`]): every
    /// ACK that moves SND.UNA clears the stamp, which only a timeout sets.
    #[inline(always)]
    pub fn stamped(&self) -> bool {
        self.cold_set.0.has(ColdSet::RETRANS_STAMP)
    }

    /// The outstanding probe's end and kind (`TLP.end_seq`, `TLP.is_retrans`), if one is out.
    #[inline]
    pub fn tlp_end(&self, cold: &LossCold) -> Option<(SeqNumber, bool)> {
        debug_assert_eq!(self.tlp_out(), cold.tlp_end.is_some(), "the probe's hot flag");
        if self.tlp_out() {
            cold.tlp_end
        } else {
            None
        }
    }

    /// Sets the outstanding probe's end, or forgets it (`None`).
    #[inline]
    pub fn set_tlp_end(&mut self, cold: &mut LossCold, end: Option<(SeqNumber, bool)>) {
        self.cold_set.0.set(ColdSet::TLP_END, end.is_some());
        cold.tlp_end = end;
    }

    /// The RACK reordering timer's deadline, if armed.
    ///
    /// The cold read is a call: inline, the compiler loaded the deadline before the test
    /// (a reference may be read speculatively) and chose between it and `None`, and
    /// `poll_timeout` touched the cold line twice per frame (lackey, `server_count 1 10`).
    #[inline]
    pub fn rack_at(&self, cold: &LossCold) -> Option<Instant> {
        debug_assert_eq!(self.rack_armed(), cold.rack_at.is_some(), "the RACK timer's hot flag");
        if self.rack_armed() {
            cold.armed_rack_at()
        } else {
            None
        }
    }

    /// Arms the RACK reordering timer, or disarms it (`None`). Disarming an unarmed timer
    /// (every ACK with nothing left in flight) writes no cold line.
    #[inline]
    pub fn set_rack_at(&mut self, cold: &mut LossCold, at: Option<Instant>) {
        debug_assert_eq!(self.rack_armed(), cold.rack_at.is_some(), "the RACK timer's hot flag");
        if at.is_some() || self.rack_armed() {
            self.cold_set.0.set(ColdSet::RACK_AT, at.is_some());
            cold.rack_at = at;
        }
    }

    /// Forgets the retransmission stamp (progress was made). Without one (every ACK but the
    /// first after a timeout) it writes no cold line.
    #[inline]
    pub fn clear_retrans_stamp(&mut self, cold: &mut LossCold) {
        debug_assert_eq!(self.stamped(), cold.retrans_stamp.is_some(), "the stamp's hot flag");
        if self.stamped() {
            self.cold_set.0.set(ColdSet::RETRANS_STAMP, false);
            cold.retrans_stamp = None;
        }
    }

    /// The retransmission stamp, set to `first` if there is none (`Option::get_or_insert`).
    #[inline]
    pub fn retrans_stamp_or(&mut self, cold: &mut LossCold, first: Instant) -> Instant {
        debug_assert_eq!(self.stamped(), cold.retrans_stamp.is_some(), "the stamp's hot flag");
        self.cold_set.0.set(ColdSet::RETRANS_STAMP, true);
        *cold.retrans_stamp.get_or_insert(first)
    }

    /// Nothing in flight to account for: no records, none lost, no episode, no probe out.
    /// An ACK that moves nothing changes none of it (`Recovery::on_ack_recovery`).
    #[inline]
    fn is_quiet(&self) -> bool {
        self.board.is_empty()
            && self.board.lost_bytes() == 0
            && self.episode.is_none()
            && !self.tlp_out()
    }

    /// One record in flight, wholly below `ack`, and no loss state (no episode, no F-RTO,
    /// no probe out, nothing marked lost): the ACK of request/response traffic, which
    /// `Recovery::on_flight_acked` handles in one straight line.
    #[inline]
    fn only_flight_acked_by(&self, ack: SeqNumber) -> bool {
        self.board.only_record().is_some_and(|s| s.end <= ack)
            && self.board.lost_bytes() == 0
            && self.episode.is_none()
            && !self.tlp_out()
            && !self.frto.running()
    }

    /// RFC 6675 `pipe`, with the duplicate-ACK estimate when SACK (`sack`) is off.
    #[inline]
    pub fn pipe(&self, sack: bool, mss: usize) -> usize {
        let pipe = self.board.pipe();
        if sack || self.episode == Some(RecoveryKind::Timeout) {
            return pipe;
        }
        // Each duplicate ACK means one segment left the network (RFC 5681 §3.2 step 4).
        let max_dups = self.board.len().saturating_sub(1);
        pipe.saturating_sub((self.dupacks as usize).min(max_dups) * mss)
    }
}

/// The duplicate-ACK test of RFC 5681 §2 for one acceptable ACK, made when loss recovery
/// needs it (`Connection::on_ack_any`) rather than on arrival: the ACK of the one record in
/// flight, the commonest, never asks.
#[derive(Clone, Copy, Debug)]
pub(super) struct DupAckTest {
    /// The segment's acknowledgment number.
    pub(super) ack: SeqNumber,
    /// The segment carries no data and no FIN.
    pub(super) pure: bool,
    /// Its window, scaled.
    pub(super) window: u32,
}

impl DupAckTest {
    /// Whether the ACK is a duplicate: it acknowledges exactly `old_una` (SND.UNA before
    /// it), carries nothing, leaves the window as it was, and data is outstanding. `snd` is
    /// read after the ACK moved SND.UNA; SND.WND and SND.MAX have not changed by then (the
    /// window update comes after loss recovery).
    #[inline(always)]
    fn is_dupack(self, snd: &SendSeq, old_una: SeqNumber) -> bool {
        self.ack == old_una && self.pure && self.window == snd.wnd && snd.max > old_una
    }
}

/// What an acceptable ACK found before it moved SND.UNA, for loss recovery's general
/// routine (`Recovery::on_ack_recovery`).
#[derive(Clone, Copy, Debug)]
struct AckBefore {
    /// SND.UNA before the ACK.
    old_una: SeqNumber,
    /// The ACK is a duplicate in the RFC 5681 §2 sense.
    dupack: bool,
    /// RFC 6675 `pipe` before the ACK.
    prior_pipe: usize,
}

/// The tail loss probe's deadline (RFC 8985 §7.2): armed with RACK on, outside a recovery
/// episode and a probe's round, while something is outstanding on a synchronized connection
/// with an RTT sample: the probe timeout after `now`, never later than the retransmission
/// timer. One body for [`Recovery::arm_tlp`] and [`Connection::arm_tlp_sent`].
#[inline(always)]
fn tlp_deadline(
    loss: &LossRecovery,
    rack: bool,
    synchronized: bool,
    srtt: Option<Duration>,
    retransmit_at: Option<Instant>,
    now: Instant,
) -> Option<Instant> {
    if !rack || loss.episode.is_some() || loss.tlp_out() || loss.board.is_empty() || !synchronized {
        return None;
    }
    let at = now + rack::probe_timeout(srtt?, loss.board.len());
    Some(retransmit_at.map_or(at, |r| at.min(r)))
}

/// Loss recovery at work: its own state plus the parts of the connection it reads and
/// changes (the congestion controller, the retransmission timer, the counters), borrowed
/// apart by [`Connection::recovery`]. Every detection and recovery step is a method here.
pub(super) struct Recovery<'c> {
    pub(super) loss: &'c mut LossRecovery,
    /// The episode's cold state (`LossCold`).
    pub(super) cold: &'c mut LossCold,
    /// The controller with its window's hot copy (`Congestion`).
    pub(super) cc: Congestion<'c>,
    pub(super) rtx: &'c mut Retransmit,
    pub(super) timers: &'c mut Timers,
    pub(super) counters: &'c mut TcpCounters,
    pub(super) snd: &'c SendSeq,
    pub(super) opts: &'c Negotiated,
    /// RACK-TLP is configured (`TcpConfig::rack`).
    pub(super) rack: bool,
    /// F-RTO is configured (`TcpConfig::frto`, Linux `tcp_frto`).
    pub(super) frto: bool,
    /// The connection is in a synchronized state.
    pub(super) synchronized: bool,
}

impl Connection {
    /// [`Recovery::arm_tlp`] for a segment just sent, on the connection's fields: the sender's
    /// paths (`plan_common`, `plan_data`) call it once per data segment, and building the
    /// eleven-field [`Recovery`] view and calling out for it cost about 25 instructions more
    /// than the deadline itself (docs/benchmarks.md, "branch send2").
    #[inline]
    pub(super) fn arm_tlp_sent(&mut self, now: Instant) {
        self.loss.tlp_at = tlp_deadline(
            &self.loss,
            self.opts.sack_ok && self.opts.flags.rack(),
            self.state.is_synchronized(),
            self.rtx.rto.srtt(),
            self.timers.retransmit_at,
            now,
        );
    }

    /// The loss-recovery view of this connection.
    #[inline]
    pub(super) fn recovery(&mut self) -> Recovery<'_> {
        Recovery {
            loss: &mut self.loss,
            cold: &mut self.cold.loss_cold,
            cc: Congestion::new(&mut self.cold.cc, &mut self.cwnd),
            rtx: &mut self.rtx,
            timers: &mut self.timers,
            counters: &mut self.cold.counters,
            snd: &self.snd,
            opts: &self.opts,
            rack: self.opts.flags.rack(),
            frto: self.opts.flags.frto(),
            synchronized: self.state.is_synchronized(),
        }
    }

    /// Loss detection and congestion control for one acceptable ACK. `SND.UNA` has already
    /// moved; `old_una` is where it was and `dup` decides whether the ACK is a duplicate in
    /// the RFC 5681 sense. `PREDICTED`: header prediction accepted the segment.
    ///
    /// The pipe before the ACK (`prior_pipe`) is read here, not on arrival: it is made of the
    /// scoreboard, the episode and the duplicate-ACK count, and what `on_ack` does before
    /// this (SND.UNA, the send buffer, the RTT estimate, RACK's minimum) changes none of them.
    /// The ACK that moves nothing while nothing is outstanding does not read it at all.
    ///
    /// Inline, the two commonest ACKs are told apart here without a call: (predicted) the one
    /// that acknowledges the one record in flight ([`Recovery::on_flight_acked`]), and the
    /// one that moves nothing while nothing is outstanding; anything else goes to
    /// [`Recovery::on_ack_recovery`]. A method of the connection, and the [`Recovery`] view
    /// built in each branch that needs it: built once before the test, the view escaped to
    /// the out-of-line general routine and was stored field by field on every ACK.
    ///
    /// The first two tests exclude each other (SND.UNA moved, or it did not), so their order
    /// changes no outcome; the one a request/response exchange takes on every ACK goes first,
    /// and neither it nor its test reads the duplicate-ACK test, which runs only for the
    /// others.
    #[inline(always)]
    pub(super) fn on_ack_any<const PREDICTED: bool>(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        old_una: SeqNumber,
        dup: DupAckTest,
    ) {
        let ack = self.snd.una;
        if PREDICTED && ack > old_una && self.loss.only_flight_acked_by(ack) {
            // Header prediction guarantees no SACK blocks.
            let prior_pipe = self.pipe();
            self.recovery().on_flight_acked(now, prior_pipe);
            return;
        }
        let dupack = dup.is_dupack(&self.snd, old_una);
        let no_blocks = !self.opts.sack_ok || seg.options.sack_blocks.is_empty();
        if ack == old_una && !dupack && no_blocks && self.loss.is_quiet() {
            // Nothing outstanding, nothing reported (the ACK on in-order data while we have
            // sent nothing new: header prediction's second case). Every step of
            // `on_ack_recovery` would find an empty scoreboard and no episode or probe: all
            // that is left of them is forgetting the RACK timer (`detect_losses`), the ACK's
            // RTT (the end of that function) and the probe timer (`arm_tlp`).
            self.loss.set_rack_at(&mut self.cold.loss_cold, None);
            self.loss.last_rtt = None;
            self.loss.tlp_at = None;
        } else {
            let prior_pipe = self.pipe();
            self.recovery().on_ack_recovery(now, seg, AckBefore { old_una, dupack, prior_pipe });
        }
    }

    /// An RTT sample for the RTO estimator and RACK's minimum, and for the congestion
    /// control's look at this ACK (`LossRecovery::last_rtt`). A method of the connection, not
    /// of [`Recovery`]: it touches three fields and needs no view built for it. Always
    /// inlined, with the estimator's update (`RtoEstimator::sample_per_round`): the ACK path
    /// feeds it from one place (`on_ack`).
    #[inline(always)]
    pub(super) fn rtt_sample(&mut self, rtt: Duration) {
        let limits = rto_limits(&self.config);
        self.rtx.rto.sample_per_round(rtt, self.snd.una, self.snd.nxt, limits);
        self.loss.rack.on_rtt_sample(rtt);
        self.loss.last_rtt = Some(rtt);
    }

    /// RFC 6675 `pipe`, with the duplicate-ACK estimate when SACK is off. Inline: every ACK
    /// reads it (`on_ack`'s prior pipe), and as a call it cost more than its few compares.
    #[inline]
    pub(super) fn pipe(&self) -> usize {
        self.loss.pipe(self.opts.sack_ok, self.opts.mss())
    }

    /// The window sending is measured against: the congestion window, or in fast recovery
    /// with RACK the one PRR set on the last ACK (RFC 6937; Linux sets `cwnd` itself to it).
    ///
    /// Only with RACK: PRR sends in proportion to what ACKs report delivered, which is right
    /// when loss detection keeps `pipe` honest. RFC 6675's and NewReno's detection cannot
    /// after a burst of hundreds of losses (a slow-start overshoot): most holes are never
    /// marked, `pipe` stays at the whole flight, and PRR's trickle of retransmissions, each
    /// acknowledged, kept restarting the retransmission timer whose go-back repaired such a
    /// burst before (ccsim, 0 % loss: NewReno+SACK from 804 to 0.2 Mbit/s, NewReno from 807
    /// to 121). Linux pairs PRR with RACK by default, as here.
    pub(super) fn send_window(&self) -> usize {
        match self.loss.episode {
            Some(RecoveryKind::Fast) if self.opts.sack_ok && self.opts.flags.rack() => {
                self.cold.loss_cold.prr.window()
            }
            _ => self.cold.cc.window(),
        }
    }
}

impl Recovery<'_> {
    /// Whether SACK-based (RFC 6675 / RACK) recovery is in use.
    pub(super) fn sack_recovery(&self) -> bool {
        self.opts.sack_ok
    }

    /// Whether RACK-TLP is in use.
    pub(super) fn rack_enabled(&self) -> bool {
        self.opts.sack_ok && self.rack
    }

    /// The general routine behind [`Connection::on_ack_any`].
    fn on_ack_recovery(&mut self, now: Instant, seg: &Segment<'_>, before: AckBefore) {
        let AckBefore { old_una, dupack, prior_pipe } = before;
        let ack = self.snd.una;
        let blocks: &[_] = if self.opts.sack_ok { seg.options.sack_blocks.as_slice() } else { &[] };
        let dupacks_before = self.loss.dupacks;
        let mut d = Delivered::default();
        let dsack = !blocks.is_empty() && self.dsack_first(blocks, ack);
        self.loss.board.ack(ack, &mut d);
        if !blocks.is_empty() {
            self.sack_blocks(blocks, ack, dsack, &mut d);
        }
        self.finish_delivery(now, &d);

        let advanced = ack > old_una;
        if self.loss.frto.running() && self.on_ack_frto(advanced, dupack, &d) {
            // The timeout was spurious and its response undone: no episode is left to end
            // and nothing is lost; the ACK grows the restored window as any other.
            self.loss.dupacks = 0;
            self.loss.clear_retrans_stamp(self.cold);
        } else if advanced {
            self.loss.clear_retrans_stamp(self.cold);
            match self.loss.episode(self.cold) {
                Some(e) if e.kind == RecoveryKind::Fast && !self.sack_recovery() => {
                    // Linux `tcp_remove_reno_sacks`: acknowledged segments were the ones the
                    // duplicate ACKs stood for.
                    let segs = d.acked.div_ceil(self.opts.mss().max(1)) as u32;
                    self.loss.dupacks = self.loss.dupacks.saturating_sub(segs);
                    // RFC 6582's "Impatient" timer variant: only the first partial ACK restarts
                    // the retransmission timer. With many holes, one retransmission per RTT
                    // would take longer than a timeout and the go-back that follows it.
                    if ack < e.point {
                        match self.cold.impatient_deadline {
                            Some(t) => self.timers.retransmit_at = Some(t),
                            None => self.cold.impatient_deadline = self.timers.retransmit_at,
                        }
                    }
                }
                _ => self.loss.dupacks = 0,
            }
        } else if dupack || d.sacked > 0 {
            self.loss.dupacks += 1;
        }

        // End of an episode (RFC 6582 §3.2 step 3, RFC 6675 §5). The ACK that ends fast
        // recovery does not also grow the window.
        let was_fast = self.loss.episode == Some(RecoveryKind::Fast);
        if let Some(e) = self.loss.episode(self.cold) {
            if ack >= e.point {
                self.loss.set_episode(self.cold, None);
                self.loss.frto = Frto::default();
                self.loss.dupacks = 0;
                if e.kind == RecoveryKind::Fast {
                    self.cc.on_recovery_exit(now, self.loss.board.pipe(), self.opts.mss());
                }
            }
        }

        let lost_before = self.loss.board.lost_bytes();
        self.detect_losses(now, advanced);
        let newly_lost = self.loss.board.lost_bytes() > lost_before;

        if self.loss.episode.is_none() && self.loss.board.lost_bytes() > 0 {
            self.enter_recovery(now);
        } else if !was_fast
            && self.loss.episode != Some(RecoveryKind::Fast)
            && d.acked + d.sacked > 0
            && (advanced || self.loss.rack.reordering() > u32::from(ReorderingDegree::INITIAL))
        {
            // Window growth outside fast recovery (slow start after a timeout included), as
            // Linux's `tcp_may_raise_cwnd` allows it: while the reordering degree is still
            // `tcp_reordering`, only on an ACK that moves SND.UNA (RFC 5681 grows on in-order
            // delivery; an ACK that only SACKs may be the first sign of a loss), by what it
            // acknowledges and SACKs; once more reordering has been seen, on any delivery.
            self.grow_window(now, ack, d.acked + d.sacked, prior_pipe);
        }

        if self.loss.episode == Some(RecoveryKind::Fast) {
            let delivered = self.delivered_for_prr(&d, dupack, advanced, dupacks_before);
            self.prr_ack(delivered, advanced, newly_lost);
        }

        self.loss.last_rtt = None;
        self.on_ack_tlp(now, ack, dsack);
        self.arm_tlp(now);
    }

    /// The end of an ACK's scoreboard update: what it delivered counts for later reordering
    /// checks, and feeds RACK (RFC 8985 §6.2 steps 2 and 3).
    #[inline(always)]
    fn finish_delivery(&mut self, now: Instant, d: &Delivered) {
        self.loss.board.finish_ack(d);
        if let Some(newest) = d.newest {
            self.loss.rack.update(now, newest, d.rtt_source());
        }
        if d.reordering {
            let extent = self.loss.board.reordering_extent(d).unwrap_or(0);
            self.loss.rack.on_reordering(extent, self.opts.mss());
        }
    }

    /// Window growth for an ACK that delivered `delivered` bytes outside fast recovery.
    #[inline(always)]
    fn grow_window(&mut self, now: Instant, ack: SeqNumber, delivered: usize, prior_pipe: usize) {
        let cwnd = self.cc.window();
        // The flight tests first: they are plain comparisons, and when they fail (most
        // ACKs of request/response traffic) the algorithm is not asked for its phase.
        let cwnd_limited = prior_pipe + 3 * self.opts.mss() >= cwnd
            || ((prior_pipe * 2 >= cwnd || self.loss.flight_high.bytes() * 2 > cwnd)
                && self.cc.in_slow_start());
        // Built only for an algorithm that acts on it (`Controller::takes_ack`).
        if self.cc.takes_ack(cwnd_limited) {
            let sample = AckSample {
                now,
                bytes_acked: delivered,
                mss: self.opts.mss(),
                srtt: self.rtx.rto.srtt(),
                min_rtt: self.loss.rack.min_rtt(),
                cwnd_limited,
                rtt: self.loss.last_rtt,
                ack,
                snd_max: self.snd.max,
            };
            self.cc.on_ack(&sample);
        }
    }

    /// [`on_ack_recovery`](Self::on_ack_recovery) for the ACK header prediction sees most:
    /// no SACK blocks, SND.UNA advanced past the one record in flight, and no loss state
    /// (`LossRecovery::only_flight_acked_by`). Every step of the general routine is taken
    /// for what it does on such an ACK, in its order: the record is acknowledged and feeds
    /// RACK (RFC 8985 §6.2), the duplicate-ACK count ends, loss detection and the probe
    /// timer find an empty scoreboard (no RACK timer, no TLP, RFC 8985 §7.2), and the window
    /// grows through the controller as on any delivery outside recovery (RFC 5681 §3.1).
    /// Only for such an ACK (`on_ack_any` checks); `tests/tcp_predict_equiv.rs` compares the
    /// two routines.
    #[inline]
    fn on_flight_acked(&mut self, now: Instant, prior_pipe: usize) {
        let ack = self.snd.una;
        debug_assert!(self.loss.only_flight_acked_by(ack));
        // `board.ack` and `finish_delivery` for the one record.
        let delivered = self.loss.board.ack_only_record();
        if let Some(one) = delivered {
            let s = one.record;
            self.loss.rack.update_one(now, s.sent_at, s.end, s.ever_retransmitted);
            if let Some(extent) = one.reorder_extent {
                self.loss.rack.on_reordering(extent, self.opts.mss());
            }
        }
        self.loss.clear_retrans_stamp(self.cold);
        self.loss.dupacks = 0;
        // `detect_losses` on the empty scoreboard.
        self.loss.set_rack_at(self.cold, None);
        if let Some(len) = delivered.map(|one| one.record.len()).filter(|&len| len > 0) {
            self.grow_window(now, ack, len, prior_pipe);
        }
        self.loss.last_rtt = None;
        // `arm_tlp` on the empty scoreboard.
        self.loss.tlp_at = None;
    }

    /// RFC 2883 §4: whether the first SACK block reports a duplicate (below the cumulative
    /// ACK, or inside the second block), and if so its accounting (`on_dsack`).
    /// The blocks are the peer's word only: a DSACK must be a real range we sent (Linux
    /// `tcp_is_sackblock_valid`), and a second block that vouches for a first one above
    /// SND.UNA must itself lie within what is outstanding.
    ///
    /// Out of line, as [`sack_blocks`](Self::sack_blocks) and the other steps for loss,
    /// recovery and probes: an ACK without SACK blocks outside recovery (the common one) then
    /// runs a smaller `on_ack_recovery` that saves and restores fewer registers.
    #[inline(never)]
    fn dsack_first(&mut self, blocks: &[(SeqNumber, SeqNumber)], ack: SeqNumber) -> bool {
        let Some(&(l, r)) = blocks.first() else { return false };
        let outstanding = |l: SeqNumber, r: SeqNumber| l < r && l >= ack && r <= self.snd.max;
        let in_second =
            blocks.get(1).is_some_and(|&(l2, r2)| outstanding(l2, r2) && l >= l2 && r <= r2);
        if l < r && r <= self.snd.max && (r <= ack || in_second) {
            self.on_dsack(l, r, ack);
            return true;
        }
        false
    }

    /// Marks what the SACK blocks report (the first one not if it was a DSACK).
    #[inline(never)]
    fn sack_blocks(
        &mut self,
        blocks: &[(SeqNumber, SeqNumber)],
        ack: SeqNumber,
        dsack: bool,
        d: &mut Delivered,
    ) {
        for (i, &(l, r)) in blocks.iter().enumerate() {
            // Blocks must lie in [SND.UNA, SND.MAX]; one straddling SND.UNA is clipped.
            if (i == 0 && dsack) || l >= r || r <= ack || r > self.snd.max {
                continue;
            }
            self.loss.board.sack(l.max(ack), r, d);
        }
    }

    /// What an ACK delivered, for PRR. With SACK, the bytes newly acknowledged or SACKed.
    /// Without it a duplicate ACK stands for one segment that arrived, and a cumulative ACK
    /// for what it covers beyond the segments its duplicate ACKs already stood for, at least
    /// one (Linux `tcp_add_reno_sack`, `tcp_remove_reno_sacks`).
    fn delivered_for_prr(
        &self,
        d: &Delivered,
        dupack: bool,
        advanced: bool,
        dupacks_before: u32,
    ) -> usize {
        let mss = self.opts.mss();
        if self.sack_recovery() {
            d.acked + d.sacked
        } else if advanced {
            d.acked.saturating_sub(dupacks_before as usize * mss).max(mss)
        } else if dupack {
            mss
        } else {
            0
        }
    }

    /// PRR's window after an ACK in fast recovery (RFC 6937 §3).
    #[inline(never)]
    fn prr_ack(&mut self, delivered: usize, una_advanced: bool, newly_lost: bool) {
        let pipe = self.loss.pipe(self.opts.sack_ok, self.opts.mss());
        self.cold.prr.on_ack(PrrAck {
            delivered,
            pipe,
            ssthresh: self.cc.ssthresh(),
            mss: self.opts.mss(),
            una_advanced,
            newly_lost,
        });
    }

    /// Marks lost segments by the mode in use (see the module docs).
    fn detect_losses(&mut self, now: Instant, advanced: bool) {
        if self.loss.board.is_empty() {
            // Everything is acknowledged (the common case of a request/response exchange):
            // nothing can be lost and no reordering timer is needed.
            self.loss.set_rack_at(self.cold, None);
            return;
        }
        let mss = self.opts.mss();
        let in_fast = self.loss.episode == Some(RecoveryKind::Fast);
        let head_fresh =
            self.loss.board.get(0).is_some_and(|s| !s.lost && !s.sacked && !s.retransmitted);
        let dupthresh_reached = self.loss.episode.is_none()
            && self.loss.dupacks as usize >= DUP_THRESH
            && head_fresh
            && self.cold.rto_recover.is_none_or(|r| self.snd.una > r);
        if self.rack_enabled() {
            self.rack_detect(now);
            // A peer that negotiated SACK but sends no blocks leaves RACK blind: fall back to
            // duplicate-ACK counting (RFC 8985 §6.2 allows combining the two).
            if dupthresh_reached && self.loss.board.sacked_bytes() == 0 {
                self.loss.board.mark_lost(0);
            }
            return;
        }
        if self.sack_recovery() {
            self.loss.board.mark_lost_by_sack(DUP_THRESH, mss);
        }
        if in_fast && advanced && head_fresh {
            // RFC 6582 §3.2 step 5: a partial ACK; the next hole is retransmitted at once.
            self.loss.board.mark_lost(0);
            self.cold.retransmit_now = true;
        } else if dupthresh_reached {
            // RFC 5681 §3.2 step 2; RFC 6582 §4: duplicate ACKs for data sent before a
            // timeout are expected (go-back-N resends it) and start no recovery.
            self.loss.board.mark_lost(0);
        }
    }

    /// Runs RACK loss detection and re-arms its reordering timer.
    pub(super) fn rack_detect(&mut self, now: Instant) {
        let srtt = self.rtx.rto.srtt().unwrap_or(Duration::from_millis(100));
        let in_recovery = self.loss.episode.is_some();
        let sacked = self.loss.board.sacked_segments();
        let wnd = self.loss.rack.reo_wnd(in_recovery, sacked, srtt);
        let (_, timer) = self.loss.rack.detect_loss(now, &mut self.loss.board, wnd);
        self.loss.set_rack_at(self.cold, timer.map(|due| due + RACK_TIMER_MIN));
    }

    /// Starts a fast-recovery episode: one window reduction (RFC 5681 §3.2, RFC 6675 §5,
    /// RFC 9438 §4.6).
    #[inline(never)]
    fn enter_recovery(&mut self, now: Instant) {
        let episode = Episode { kind: RecoveryKind::Fast, point: self.snd.max };
        self.loss.set_episode(self.cold, Some(episode));
        self.cold.prr.start(self.cc.window());
        let flight = self.loss.board.outstanding();
        self.cc.on_congestion_event(now, flight, self.opts.mss());
        self.start_undo_episode();
        self.cold.retransmit_now = true;
        self.cold.impatient_deadline = None;
        self.rtx.stop_timing();
        self.loss.set_tlp_end(self.cold, None);
        self.loss.tlp_at = None;
        self.loss.tlp_pending = false;
        self.counters.fast_retransmits += 1;
        if self.sack_recovery() {
            self.counters.sack_recoveries += 1;
        } else {
            self.counters.reno_recoveries += 1;
        }
    }

    fn start_undo_episode(&mut self) {
        self.cold.undo_marker = Some(self.snd.una);
        self.cold.undo_retrans = 0;
        self.cold.undone = false;
    }

    /// A retransmission of `len` bytes went out: count it for DSACK-based undo and PRR.
    pub(super) fn note_retransmission(&mut self, len: usize) {
        self.cold.prr.on_sent(len);
        if self.cold.undo_marker.is_some() {
            self.cold.undo_retrans += 1;
        }
    }

    /// A DSACK for `[l, r)` (RFC 2883): the peer got those bytes twice.
    #[inline(never)]
    fn on_dsack(&mut self, l: SeqNumber, r: SeqNumber, una: SeqNumber) {
        self.counters.dsack_recv += 1;
        self.loss.rack.on_dsack();
        let Some(marker) = self.cold.undo_marker else { return };
        if l < marker || self.cold.undone {
            return;
        }
        // How many of the episode's retransmissions this block shows were needless, as
        // Linux counts them: one for a block below SND.UNA (whatever its length: those
        // records are gone, and a forged wide block must not undo a real reduction at once),
        // else the retransmitted records it covers (none: it proves nothing).
        let segs = if r <= una {
            1
        } else {
            (0..self.loss.board.len())
                .filter_map(|i| self.loss.board.get(i))
                .filter(|s| s.ever_retransmitted && s.start < r && s.end > l)
                .count() as i64
        };
        if segs == 0 {
            return;
        }
        self.counters.spurious_retrans += segs as u64;
        self.cold.undo_retrans -= segs;
        if self.cold.undo_retrans <= 0 {
            // Every retransmission of the episode was unnecessary: the loss never happened.
            self.cold.undone = true;
            self.cc.undo();
            self.counters.spurious_undos += 1;
        }
    }

    /// F-RTO's reading of one ACK after a timeout (RFC 5682 §3.1; Linux `tcp_process_loss`).
    /// Returns whether the timeout was found spurious and its response undone.
    #[inline(never)]
    fn on_ack_frto(&mut self, advanced: bool, dupack: bool, d: &Delivered) -> bool {
        self.loss.frto.set_new_data(false);
        let Some(e) = self.loss.episode(self.cold).filter(|e| e.kind == RecoveryKind::Timeout)
        else {
            self.loss.frto = Frto::default();
            return false;
        };
        // `SND.MAX` when the timeout fired (Linux `high_seq`).
        let high = e.point;
        if d.original_delivered_below(high) {
            // Step 3b (SACK-enhanced): data sent before the timeout and never sent again
            // arrived, so the first retransmission was not needed either.
            self.undo_spurious_rto();
            return true;
        }
        if self.snd.max > high {
            // New data went after the first advancing ACK. A duplicate ACK or a SACK above a
            // hole now means the loss was real: step 3a, conventional recovery.
            if dupack || d.sacked > 0 {
                self.loss.frto.stop();
            }
        } else if advanced && self.snd.una < e.point {
            // Step 2b: the retransmission (or the delayed original) was acknowledged and more
            // is outstanding. Send new data and see what the next ACK says; the transmit path
            // falls back to retransmitting when there is none to send (step 2a).
            self.loss.frto.set_new_data(true);
        }
        false
    }

    /// A spurious timeout (RFC 4015 §3 response, Linux `tcp_try_undo_loss`): the window and
    /// threshold go back to what they were before it, the segments it marked lost and that
    /// did not go out again are in flight again, and the connection leaves loss recovery.
    fn undo_spurious_rto(&mut self) {
        self.loss.board.unmark_unretransmitted_losses();
        if !self.cold.undone {
            self.cc.undo();
            self.cold.undone = true;
        }
        self.loss.set_episode(self.cold, None);
        self.cold.rto_recover = None;
        self.loss.frto = Frto::default();
        self.rtx.set_count(0);
        self.counters.spurious_rtos += 1;
    }

    /// Step 2a: after an advancing ACK there was no new data to send (or no window for it),
    /// so detection stops and the lost segments go again (Linux `tcp_xmit_recovery`).
    pub(super) fn frto_nothing_new(&mut self) {
        let high = self.loss.episode(self.cold).map(|e| e.point);
        if self.loss.frto.holds_retransmissions() && high.is_some_and(|h| self.snd.max <= h) {
            self.loss.frto.stop();
        }
    }

    /// The retransmission timer fired in a synchronized state: everything outstanding is lost
    /// and goes out again as the (one-segment) window allows (RFC 6298 §5.4, RFC 6675 §5.1).
    ///
    /// The threshold falls once per loss, as Linux's `tcp_enter_loss` does it: outside
    /// recovery, or on the first timeout of a timeout episode since SND.UNA last moved. A
    /// backoff (the same data timing out again) or a timeout during fast recovery (which has
    /// already reduced) restarts the window at one segment and keeps the threshold and the
    /// undo point. Reducing again from the outstanding data *raised* the threshold: with SACK,
    /// SND.MAX runs far ahead of an unrepaired hole, so FlightSize / 2 at the second timeout
    /// was megabytes at 5 % loss (ccsim), slow start climbed to it, and the burst overflowed
    /// the receiver's out-of-order ranges, so most of the next go-back resent data the
    /// receiver had received and dropped.
    pub(super) fn on_rto_recovery(&mut self, now: Instant) {
        let reduce = match self.loss.episode {
            None => true,
            Some(kind) => kind == RecoveryKind::Timeout && self.rtx.count() <= 1,
        };
        if reduce {
            // FlightSize (RFC 5681 eq. 4), but never more than the window allowed: with SACK,
            // SND.MAX − SND.UNA counts everything sent past a hole whose retransmission was
            // lost, SACKed or dropped by the receiver, and can be many windows; Linux halves
            // the window itself (`tcp_reno_ssthresh`).
            let flight = self.loss.board.outstanding().min(self.cc.window());
            self.cc.on_rto(now, flight, self.opts.mss());
            self.start_undo_episode();
        } else {
            self.cc.on_rto_again(now, self.opts.mss());
        }
        // F-RTO runs for a timeout outside recovery and for its backoffs. Linux
        // (`tcp_enter_loss`: `new_recovery || icsk_retransmits`) also runs it for the
        // backoff of a timeout that fired in fast recovery, where a late SACK of one original
        // segment then undoes the reduction fast recovery made for real losses: the window
        // comes back whole while the holes are still there, and the next reduction starts
        // from it (ccsim, NewReno+SACK at 5 % loss: 14.0 Mbit/s, twice the Mathis bound and
        // more than at 1 %). Here it does not.
        // `tcp_frto` = 0 turns it off: the timeout's response then always stays.
        let frto = self.frto
            && match self.loss.episode {
                None => true,
                Some(kind) => {
                    kind == RecoveryKind::Timeout
                        && self.rtx.count() > 1
                        && self.loss.frto.eligible()
                }
            };
        self.loss.frto = if frto { Frto::start() } else { Frto::default() };
        self.loss.board.mark_all_lost();
        let episode = Episode { kind: RecoveryKind::Timeout, point: self.snd.max };
        self.loss.set_episode(self.cold, Some(episode));
        self.cold.rto_recover = Some(self.snd.max);
        self.loss.dupacks = 0;
        self.loss.tlp_at = None;
        self.loss.tlp_pending = false;
        self.loss.set_tlp_end(self.cold, None);
        self.loss.set_rack_at(self.cold, None);
    }

    /// RFC 8985 §7.2: arms the probe timer when data is outstanding outside recovery. A PTO
    /// beyond the retransmission timer is cut to it, and the probe goes instead of the
    /// timeout (as Linux does): a single lost tail segment then costs one RTO of waiting but
    /// no window collapse.
    pub(super) fn arm_tlp(&mut self, now: Instant) {
        self.loss.tlp_at = tlp_deadline(
            self.loss,
            self.rack_enabled(),
            self.synchronized,
            self.rtx.rto.srtt(),
            self.timers.retransmit_at,
            now,
        );
    }

    /// The probe timer fired: the next `poll_transmit` sends a probe, and the RTO restarts
    /// after it (RFC 8985 §7.3).
    pub(super) fn on_tlp_timeout(&mut self, now: Instant, limits: RtoLimits) {
        self.loss.tlp_at = None;
        if self.loss.episode.is_some() || self.loss.board.is_empty() {
            return;
        }
        self.loss.tlp_pending = true;
        self.counters.tlp_probes += 1;
        self.timers.retransmit_at = Some(now + self.rtx.rto.rto(limits));
    }

    /// RFC 8985 §7.4: the ACK of a probe. If the probe retransmitted the tail and nothing says
    /// the original arrived too, the probe repaired a loss: reduce the window once.
    fn on_ack_tlp(&mut self, now: Instant, ack: SeqNumber, dsack: bool) {
        let Some((end, retrans)) = self.loss.tlp_end(self.cold) else { return };
        if dsack {
            // Both the original and the probe arrived: no loss.
            self.loss.set_tlp_end(self.cold, None);
            return;
        }
        if ack < end {
            return;
        }
        self.loss.set_tlp_end(self.cold, None);
        if retrans && self.loss.episode.is_none() {
            self.counters.tlp_recoveries += 1;
            // Linux `tcp_process_tlp_ack`: a reduction that starts and ends at once.
            let w = self.cc.window();
            self.cc.on_congestion_event(now, w, self.opts.mss());
            self.cc.on_recovery_exit(now, w, self.opts.mss());
        }
    }

    /// The RACK reordering timer fired: look again, and recover if something is now lost.
    pub(super) fn on_rack_timeout(&mut self, now: Instant) {
        self.loss.set_rack_at(self.cold, None);
        self.rack_detect(now);
        if self.loss.episode.is_none() && self.loss.board.lost_bytes() > 0 {
            self.enter_recovery(now);
            // Linux `tcp_rack_reo_timeout`: the episode starts as if one segment had been
            // delivered, so its first retransmission may go.
            self.prr_ack(self.opts.mss(), false, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot flags follow their cold values through every setter, and a getter answers
    /// what the `Option` it stands for held before the split (`Option::get_or_insert` for
    /// the stamp: the first time inserted, kept after).
    #[test]
    fn hot_flags_follow_the_cold_values() {
        let (mut loss, mut cold) = (LossRecovery::new(16), LossCold::default());
        assert_eq!(loss.episode(&cold), None);
        let fast = Episode { kind: RecoveryKind::Fast, point: SeqNumber(7) };
        loss.set_episode(&mut cold, Some(fast));
        assert_eq!(loss.episode(&cold), Some(fast));
        assert_eq!(loss.episode, Some(RecoveryKind::Fast));
        loss.set_episode(&mut cold, None);
        assert_eq!((loss.episode(&cold), loss.episode), (None, None));

        assert_eq!(loss.tlp_end(&cold), None);
        loss.set_tlp_end(&mut cold, Some((SeqNumber(9), true)));
        assert!(loss.tlp_out());
        assert_eq!(loss.tlp_end(&cold), Some((SeqNumber(9), true)));
        loss.set_tlp_end(&mut cold, None);
        assert!(!loss.tlp_out() && loss.tlp_end(&cold).is_none());

        let t = Instant::from_millis(5);
        assert_eq!(loss.rack_at(&cold), None);
        loss.set_rack_at(&mut cold, Some(t));
        assert!(loss.rack_armed());
        assert_eq!(loss.rack_at(&cold), Some(t));
        loss.set_rack_at(&mut cold, None);
        assert!(!loss.rack_armed() && loss.rack_at(&cold).is_none());
        // Disarming what is not armed leaves the cold value alone (and it is `None`).
        loss.set_rack_at(&mut cold, None);
        assert_eq!(cold.rack_at, None);

        assert_eq!(loss.retrans_stamp_or(&mut cold, t), t);
        assert!(loss.stamped());
        assert_eq!(loss.retrans_stamp_or(&mut cold, Instant::from_millis(9)), t, "kept");
        loss.clear_retrans_stamp(&mut cold);
        assert!(!loss.stamped() && cold.retrans_stamp.is_none());
        let later = Instant::from_millis(11);
        assert_eq!(loss.retrans_stamp_or(&mut cold, later), later, "a new stamp after progress");
    }

    /// Loss recovery's part of the connection's hot lines: 128 bytes (136 while the cold
    /// options' flags were three bools and the flight's window end an `Option`, 144 before
    /// RACK's RTTs were 32-bit, 208 before its untouched fields went cold, its `Option`s
    /// behind hot flags and its ring behind a pointer).
    #[test]
    fn hot_part_size() {
        assert_eq!(core::mem::size_of::<LossRecovery>(), 128);
        assert_eq!(core::mem::size_of::<Scoreboard>(), 64);
        assert_eq!(core::mem::size_of::<Rack>(), 24);
        assert_eq!(core::mem::size_of::<FlightHigh>(), 8);
    }

    /// The flight's record: the largest flight until SND.UNA passes the window's end, then
    /// the next one, as with an `Option` for the end; the flag bit never shows in the bytes.
    #[test]
    fn the_flight_high_keeps_its_window() {
        let s = SeqNumber;
        let mut f = FlightHigh::default();
        assert_eq!(f.bytes(), 0);
        f.on_send(100, s(1100), s(1000));
        assert_eq!(f.bytes(), 100);
        f.on_send(50, s(1150), s(1099));
        assert_eq!(f.bytes(), 100, "a smaller flight within the window");
        f.on_send(50, s(1200), s(1150));
        assert_eq!(f.bytes(), 50, "the window over: the next flight");
        f.on_send((1 << 31) - 1, s(1300), s(1150));
        assert_eq!(f.bytes(), (1 << 31) - 1);
        assert_eq!(f, FlightHigh { bytes_set: ((1 << 31) - 1) | FlightHigh::SET, until: s(1300) });
    }
}
