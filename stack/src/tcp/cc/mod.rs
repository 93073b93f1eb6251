//! Congestion control: the trait the connection drives, and its two implementations,
//! [`NewReno`] (RFC 5681, RFC 6582) and [`Cubic`] (RFC 9438).
//!
//! Loss *detection* (duplicate ACKs, the SACK scoreboard, RACK-TLP) and the bookkeeping of a
//! recovery episode live in `tcp::recovery`; an algorithm only decides how the window moves.
//! During fast recovery the connection sends by the RFC 6675 `pipe` estimate against `cwnd`,
//! so the window is never inflated here.
//!
//! Every call carries `now` and RTT estimates as arguments: an algorithm never reads a clock,
//! which keeps simulations reproducible to the byte.

mod cubic;
pub mod hystart;
mod newreno;

pub use cubic::Cubic;
pub use newreno::NewReno;

use crate::tcp::SeqNumber;
use crate::time::{Duration, Instant};

/// Which algorithm a connection uses (`TcpConfig::congestion`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum CongestionAlgorithm {
    /// RFC 5681 slow start and congestion avoidance with RFC 6582 recovery.
    NewReno,
    /// RFC 9438 CUBIC, the Linux default.
    #[default]
    Cubic,
}

impl CongestionAlgorithm {
    /// A fresh instance starting from `initial_window` bytes.
    pub fn build(self, initial_window: usize) -> Box<dyn CongestionControl> {
        Box::new(self.controller(initial_window))
    }

    /// A fresh instance starting from `initial_window` bytes, held inline.
    pub fn controller(self, initial_window: usize) -> Controller {
        match self {
            CongestionAlgorithm::NewReno => Controller::NewReno(NewReno::new(initial_window)),
            CongestionAlgorithm::Cubic => Controller::Cubic(Cubic::new(initial_window)),
        }
    }
}

/// A connection's congestion controller: a built-in algorithm held inline, or any other
/// implementation boxed. Inline, a connection costs no allocation of its own for it, and the
/// calls on every ACK and every send (`window` above all) are direct and can be inlined
/// instead of going through a vtable to a separate heap object.
///
/// `repr(C, u8)`: the tag in the first byte and the algorithm's state from the eighth, with
/// the window first (`Cubic` and `NewReno` are `repr(C)`), so that what every segment reads
/// of it, which algorithm and its window, is its first 16 bytes (`connection::layout`; with
/// the tag in a niche of `Cubic`'s HyStart state they were 72 bytes apart).
#[derive(Debug)]
#[repr(C, u8)]
pub enum Controller {
    /// RFC 5681 / RFC 6582.
    NewReno(NewReno),
    /// RFC 9438 (the default).
    Cubic(Cubic),
    /// Anything else, set with `Connection::set_congestion_control`.
    Custom(Box<dyn CongestionControl>),
}

impl Controller {
    /// Whether [`CongestionControl::on_ack`] can act on an ACK whose `cwnd_limited` is as
    /// given, so that the caller builds the [`AckSample`] only then. Both built-in algorithms
    /// return at once from an ACK that did not find the window limiting (RFC 9438 §5.8,
    /// RFC 7661: a window that was not used does not grow): on request/response traffic that
    /// is nearly every ACK. Any other implementation gets every ACK.
    #[inline]
    pub fn takes_ack(&self, cwnd_limited: bool) -> bool {
        cwnd_limited || matches!(self, Controller::Custom(_))
    }
}

/// What a common segment asks of the controller, copied where the segment's lines are: the
/// window (bytes, held at 2 GiB - 1) and, in the top bit, whether the algorithm is the
/// owner's own, which takes every ACK ([`Controller::takes_ack`]). The controller itself,
/// 168 bytes, then lies on lines no common segment touches (docs/benchmarks.md, "Seven
/// lines"). Changed only through [`Congestion`], which refreshes it after every call that
/// may change the window; [`HotWindow::window`] checks it in debug builds.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct HotWindow(u32);

impl HotWindow {
    const CUSTOM: u32 = 1 << 31;

    /// The copy of `cc`'s state.
    #[inline]
    pub(crate) fn of(cc: &Controller) -> Self {
        let window = super::narrow(cc.window()).min(Self::CUSTOM - 1);
        let custom = if matches!(cc, Controller::Custom(_)) { Self::CUSTOM } else { 0 };
        HotWindow(window | custom)
    }

    /// The window, as `cc.window()` gives it (up to 2 GiB - 1), from the copy.
    #[inline(always)]
    pub(crate) fn window(self, cc: &Controller) -> usize {
        debug_assert_eq!(self.0, Self::of(cc).0, "the window's copy is stale");
        let _ = cc;
        (self.0 & !Self::CUSTOM) as usize
    }

    /// [`Controller::takes_ack`], from the copy.
    #[inline(always)]
    pub(crate) fn takes_ack(self, cwnd_limited: bool) -> bool {
        cwnd_limited || self.0 & Self::CUSTOM != 0
    }
}

/// The controller and its hot copy together: every call that may change the window goes
/// through here and refreshes the copy after it, so that no caller can leave it stale; the
/// window is read from the copy.
pub(crate) struct Congestion<'c> {
    ctl: &'c mut Controller,
    hot: &'c mut HotWindow,
}

impl<'c> Congestion<'c> {
    /// The pair, borrowed apart from the rest of their owner.
    #[inline]
    pub(crate) fn new(ctl: &'c mut Controller, hot: &'c mut HotWindow) -> Self {
        Congestion { ctl, hot }
    }

    /// Runs `change` on the controller, then refreshes the copy.
    #[inline]
    fn change<R>(&mut self, change: impl FnOnce(&mut Controller) -> R) -> R {
        let r = change(self.ctl);
        *self.hot = HotWindow::of(self.ctl);
        r
    }

    /// Replaces the algorithm.
    pub(crate) fn replace(&mut self, ctl: Controller) {
        self.change(|c| *c = ctl);
    }

    /// [`CongestionControl::init`].
    pub(crate) fn init(&mut self, initial_window: usize) {
        self.change(|c| c.init(initial_window));
    }

    /// [`CongestionControl::on_ack`].
    #[inline]
    pub(crate) fn on_ack(&mut self, ack: &AckSample) {
        self.change(|c| c.on_ack(ack));
    }

    /// [`CongestionControl::on_congestion_event`].
    pub(crate) fn on_congestion_event(&mut self, now: Instant, in_flight: usize, mss: usize) {
        self.change(|c| c.on_congestion_event(now, in_flight, mss));
    }

    /// [`CongestionControl::on_recovery_exit`].
    pub(crate) fn on_recovery_exit(&mut self, now: Instant, in_flight: usize, mss: usize) {
        self.change(|c| c.on_recovery_exit(now, in_flight, mss));
    }

    /// [`CongestionControl::on_rto`].
    pub(crate) fn on_rto(&mut self, now: Instant, in_flight: usize, mss: usize) {
        self.change(|c| c.on_rto(now, in_flight, mss));
    }

    /// [`CongestionControl::on_rto_again`].
    pub(crate) fn on_rto_again(&mut self, now: Instant, mss: usize) {
        self.change(|c| c.on_rto_again(now, mss));
    }

    /// [`CongestionControl::undo`].
    pub(crate) fn undo(&mut self) {
        self.change(|c| c.undo());
    }

    /// The window, from the copy.
    #[inline(always)]
    pub(crate) fn window(&self) -> usize {
        self.hot.window(self.ctl)
    }

    /// [`Controller::takes_ack`], from the copy.
    #[inline(always)]
    pub(crate) fn takes_ack(&self, cwnd_limited: bool) -> bool {
        self.hot.takes_ack(cwnd_limited)
    }

    /// [`CongestionControl::in_slow_start`].
    #[inline]
    pub(crate) fn in_slow_start(&self) -> bool {
        self.ctl.in_slow_start()
    }

    /// [`CongestionControl::ssthresh`].
    pub(crate) fn ssthresh(&self) -> usize {
        self.ctl.ssthresh()
    }
}

/// Calls `$method` on whichever algorithm `$self` holds.
macro_rules! dispatch {
    ($self:expr, $c:ident => $call:expr) => {
        match $self {
            Controller::NewReno($c) => $call,
            Controller::Cubic($c) => $call,
            Controller::Custom($c) => $call,
        }
    };
}

impl CongestionControl for Controller {
    fn init(&mut self, initial_window: usize) {
        dispatch!(self, c => c.init(initial_window))
    }
    #[inline]
    fn window(&self) -> usize {
        dispatch!(self, c => c.window())
    }
    #[inline]
    fn ssthresh(&self) -> usize {
        dispatch!(self, c => c.ssthresh())
    }
    #[inline]
    fn in_slow_start(&self) -> bool {
        dispatch!(self, c => c.in_slow_start())
    }
    fn on_ack(&mut self, ack: &AckSample) {
        dispatch!(self, c => c.on_ack(ack))
    }
    fn on_congestion_event(&mut self, now: Instant, in_flight: usize, mss: usize) {
        dispatch!(self, c => c.on_congestion_event(now, in_flight, mss))
    }
    fn on_recovery_exit(&mut self, now: Instant, in_flight: usize, mss: usize) {
        dispatch!(self, c => c.on_recovery_exit(now, in_flight, mss))
    }
    fn on_rto(&mut self, now: Instant, in_flight: usize, mss: usize) {
        dispatch!(self, c => c.on_rto(now, in_flight, mss))
    }
    fn on_rto_again(&mut self, now: Instant, mss: usize) {
        dispatch!(self, c => c.on_rto_again(now, mss))
    }
    fn undo(&mut self) {
        dispatch!(self, c => c.undo())
    }
}

/// What one acknowledgment tells the algorithm.
#[derive(Clone, Copy, Debug)]
pub struct AckSample {
    /// Arrival time of the ACK.
    pub now: Instant,
    /// Bytes newly acknowledged (cumulatively or selectively) by this ACK.
    pub bytes_acked: usize,
    /// Sender MSS (payload bytes per segment).
    pub mss: usize,
    /// Smoothed RTT, once measured.
    pub srtt: Option<Duration>,
    /// Smallest RTT seen.
    pub min_rtt: Option<Duration>,
    /// Whether the window limited sending before this ACK. RFC 9438 §5.8 and RFC 7661: a
    /// window that was not used must not grow.
    pub cwnd_limited: bool,
    /// The RTT sample this ACK produced, if any (HyStart++ watches it).
    pub rtt: Option<Duration>,
    /// The cumulative acknowledgment and `SND.MAX`, which delimit round trips.
    pub ack: SeqNumber,
    pub snd_max: SeqNumber,
}

/// A congestion-control algorithm. All sizes are in bytes.
pub trait CongestionControl: core::fmt::Debug + Send {
    /// The handshake finished and the MSS is known: start over with `initial_window` bytes
    /// (RFC 5681 §3.1, RFC 6928). Called before any data is sent.
    fn init(&mut self, initial_window: usize);
    /// Current congestion window.
    fn window(&self) -> usize;
    /// Current slow-start threshold.
    fn ssthresh(&self) -> usize;
    /// Whether the window is below the threshold (slow start).
    fn in_slow_start(&self) -> bool {
        self.window() < self.ssthresh()
    }
    /// New data acknowledged outside fast recovery: grow the window.
    fn on_ack(&mut self, ack: &AckSample);
    /// A congestion event (loss found by duplicate ACKs, SACK or RACK, or an ECN echo): reduce
    /// the window once. `in_flight` is the data outstanding when the loss was detected.
    fn on_congestion_event(&mut self, now: Instant, in_flight: usize, mss: usize);
    /// Fast recovery ended; `in_flight` bytes are still outstanding. RFC 6582 §3.2 step 3
    /// (option 1): `min(ssthresh, max(FlightSize, SMSS) + SMSS)`, which avoids a burst.
    fn on_recovery_exit(&mut self, now: Instant, in_flight: usize, mss: usize);
    /// The retransmission timer fired (RFC 5681 §3.1 eq. 4, RFC 9438 §4.8).
    fn on_rto(&mut self, now: Instant, in_flight: usize, mss: usize);
    /// The timer fired again for a loss the threshold already fell for: a backoff (the same
    /// data timed out again with no progress), or a timeout during fast recovery. The window
    /// restarts at one segment and the threshold stays (RFC 5681 §3.1 applies eq. 4 to a
    /// segment "not yet resent by way of the retransmission timer"; Linux `tcp_enter_loss`
    /// calls `ssthresh()` only in Open/Disorder or on the first timeout of a Loss episode).
    /// The default treats it as a first timeout with the current window as the flight.
    fn on_rto_again(&mut self, now: Instant, mss: usize) {
        let w = self.window();
        self.on_rto(now, w, mss);
    }
    /// Every retransmission of the last reduction turned out spurious (DSACK, RFC 2883): put
    /// the window back as it was before the reduction (Linux `tcp_undo_cwnd_reduction`).
    fn undo(&mut self);
}

/// Saved state for [`CongestionControl::undo`]: window and threshold before a reduction.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct UndoPoint {
    pub cwnd: usize,
    pub ssthresh: usize,
}

/// Slow-start growth per ACK: every byte newly acknowledged, as Linux's `tcp_slow_start`
/// counts every newly acknowledged segment. RFC 3465 §2.2 caps the growth per ACK at
/// `L * SMSS` (L = 2) against ACK division; Linux does not, and a Linux peer times its
/// expectations by the uncapped growth (one ACK for a whole initial window doubles it).
pub(crate) fn slow_start_increase(bytes_acked: usize, _mss: usize) -> usize {
    bytes_acked
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hot copy answers as the controller does: its window and whether it takes an ACK
    /// the window did not limit, for both built-in algorithms and an owner's own, through
    /// reductions; a window past 2 GiB - 1 is held there, apart from the owner's bit.
    #[test]
    fn the_hot_window_answers_as_the_controller() {
        let mss = 1000;
        let kinds = [
            CongestionAlgorithm::NewReno.controller(10 * mss),
            CongestionAlgorithm::Cubic.controller(10 * mss),
            Controller::Custom(CongestionAlgorithm::Cubic.build(10 * mss)),
        ];
        for mut c in kinds {
            for step in 0..4 {
                let hot = HotWindow::of(&c);
                assert_eq!(hot.window(&c), c.window());
                for limited in [false, true] {
                    assert_eq!(hot.takes_ack(limited), c.takes_ack(limited));
                }
                c.on_congestion_event(Instant::from_millis(step), c.window(), mss);
            }
        }
        let big = Controller::Custom(CongestionAlgorithm::NewReno.build(usize::MAX / 2));
        let hot = HotWindow::of(&big);
        assert_eq!(hot.0 & !HotWindow::CUSTOM, HotWindow::CUSTOM - 1);
        assert!(hot.takes_ack(false));
    }

    /// `Controller::takes_ack` skips the built-in algorithms' `on_ack` when the window did not
    /// limit sending: that must be exactly an ACK they ignore, in slow start, in congestion
    /// avoidance and after a reduction, with or without an RTT sample (HyStart++ watches it).
    #[test]
    fn builtins_ignore_every_ack_takes_ack_skips() {
        let mss = 1000;
        for algo in [CongestionAlgorithm::NewReno, CongestionAlgorithm::Cubic] {
            let mut c = algo.controller(10 * mss);
            for step in 0..200u64 {
                let now = Instant::from_millis(step * 10);
                if step == 100 {
                    c.on_congestion_event(now, c.window(), mss);
                    c.on_recovery_exit(now, c.window() / 2, mss);
                }
                let sample = |cwnd_limited| AckSample {
                    now,
                    bytes_acked: mss * (1 + step as usize % 3),
                    mss,
                    srtt: Some(Duration::from_millis(10)),
                    min_rtt: Some(Duration::from_millis(8)),
                    cwnd_limited,
                    rtt: (step % 2 == 0).then(|| Duration::from_millis(8 + step % 7)),
                    ack: SeqNumber((step * 1000) as u32),
                    snd_max: SeqNumber((step * 1000 + 5000) as u32),
                };
                assert!(!c.takes_ack(false));
                let before = format!("{c:?}");
                c.on_ack(&sample(false));
                assert_eq!(format!("{c:?}"), before, "{algo:?} step {step}");
                c.on_ack(&sample(true));
            }
        }
    }
}
