//! RACK-TLP (RFC 8985): time-based loss detection and the tail loss probe.
//!
//! RACK deems a segment lost when a segment sent *after* it has been delivered and more than
//! one RTT plus a reordering window has passed since it was sent: loss is judged by time, not
//! by counting duplicate ACKs, so reordering of less than the window causes no retransmission
//! and a single lost segment near the tail is still found. TLP sends one probe two SRTTs after
//! the last transmission so that a lost tail draws a SACK (and RACK) instead of an RTO.

use super::super::SeqNumber;
use super::scoreboard::Scoreboard;
use crate::time::{Duration, Instant};

/// RFC 8985 §7.2: worst-case delayed-ACK time added to the PTO when one segment is in flight.
pub const WC_DEL_ACK: Duration = Duration::from_millis(200);

/// How much later than the first segment's deadline the reordering timer fires: Linux arms
/// it `usecs_to_jiffies(timeout + TCP_TIMEOUT_MIN_US)` after the ACK (`tcp_rack_mark_lost`),
/// 2 ms more than RFC 8985 §6.2 step 5 asks (before the jiffy rounding, which is left out),
/// so that segments due within a few hundred microseconds of one another are marked by one
/// timer. Its effect shows in google's packetdrill suite (`eor/no-coalesce-retrans`: the
/// hole goes 4-8 ms after the ACK, "do not put +0 here").
pub const RACK_TIMER_MIN: Duration = Duration::from_millis(2);

/// RACK state (RFC 8985 §6.1).
#[derive(Clone, Copy, Debug, Default)]
pub struct Rack {
    /// Send time and end of the most recently sent segment known delivered
    /// (`RACK.xmit_ts`, `RACK.end_seq`).
    xmit_ts: Option<Instant>,
    end_seq: SeqNumber,
    /// RTT of that segment (`RACK.rtt`), in microseconds (saturating), as Linux keeps it
    /// (`rack.rtt_us`): 4 bytes of the connection's hot run where a `Duration` took 8.
    rtt_us: u32,
    /// Smallest RTT seen (`RACK.min_RTT`).
    min_rtt: MinRtt,
    /// Reordering was observed on this connection (`RACK.reordering_seen`).
    pub reordering_seen: bool,
    /// Multiplier of the reordering window, raised by DSACKs (`RACK.reo_wnd_mult`).
    reo_wnd_mult: u8,
    /// The reordering degree in segments, `DupThresh` until reordering beyond it is seen.
    degree: ReorderingDegree,
}

/// The smallest RTT seen in whole microseconds, `None` until a first sample: an
/// `Option<Duration>` in 4 bytes rather than 16, with `u32::MAX` standing for `None` (a
/// sample of 71 minutes or more is held just below it). Every ACK reads and lowers it, so it
/// lies on the connection's hot lines, where the 8 bytes of an `Option`'s tag were a tenth
/// of a line. Microseconds, as Linux keeps `rack.rtt_us` and its windowed minimum.
#[derive(Clone, Copy, PartialEq, Eq)]
struct MinRtt(u32);

impl MinRtt {
    /// No sample yet.
    const NONE: MinRtt = MinRtt(u32::MAX);

    /// The smallest RTT, if one was seen.
    #[inline]
    fn get(self) -> Option<Duration> {
        (self != Self::NONE).then(|| Duration::from_micros(u64::from(self.0)))
    }

    /// A sample: the smallest so far is the smaller of the two (the sample itself after
    /// none).
    #[inline]
    fn lower(&mut self, rtt: Duration) {
        self.lower_us(micros(rtt));
    }

    /// [`lower`](Self::lower) with a sample already in [`micros`].
    #[inline]
    fn lower_us(&mut self, us: u32) {
        self.0 = self.0.min(us);
    }

    /// Whether a sample (in [`micros`]) is below the smallest seen: RACK's test for an
    /// ambiguous retransmission. Never, before a first sample. In microseconds it decides as
    /// in nanoseconds: `floor(a) < m` is `a < m` for a whole `m`.
    #[inline]
    fn exceeds(self, us: u32) -> bool {
        self != Self::NONE && us < self.0
    }
}

/// `d` in whole microseconds, held below [`MinRtt::NONE`].
#[inline]
fn micros(d: Duration) -> u32 {
    d.micros_u32().min(u32::MAX - 1)
}

impl Default for MinRtt {
    fn default() -> Self {
        Self::NONE
    }
}

impl core::fmt::Debug for MinRtt {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        self.get().fmt(f)
    }
}

/// How many segments the network has been seen to reorder by (Linux `tp->reordering`, the
/// `tcpi_reordering` of `TCP_INFO`): `DupThresh` (3, `tcp_reordering`) until a segment
/// arrives later than that many above it, then the largest such distance, at most 300
/// (`tcp_max_reordering`). RACK's reordering window stays open until this many segments are
/// SACKed (RFC 8985 §6.2 step 4 uses `DupThresh`; Linux this adaptive value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReorderingDegree(u16);

impl ReorderingDegree {
    /// Linux `tcp_reordering`, RFC 6675 DupThresh.
    pub const INITIAL: u16 = 3;
    /// Linux `tcp_max_reordering`.
    pub const MAX: u16 = 300;

    /// The degree in segments.
    pub fn get(self) -> u32 {
        u32::from(self.0.max(Self::INITIAL))
    }

    /// A segment was delivered `extent` bytes below the highest delivered one.
    pub fn observe(&mut self, extent: usize, mss: usize) {
        let mss = mss.max(1);
        if extent > self.get() as usize * mss {
            self.0 = extent.div_ceil(mss).min(usize::from(Self::MAX)) as u16;
        }
    }
}

impl Rack {
    /// Feeds an RTT sample from the RTO estimator's sources before any delivery has been
    /// timed here (the handshake). Samples below the timestamp clock's 1 ms resolution say
    /// only "under a millisecond" and are ignored; [`Rack::update`] measures exactly.
    pub fn on_rtt_sample(&mut self, rtt: Duration) {
        if self.xmit_ts.is_none() && rtt >= Duration::from_millis(1) {
            self.min_rtt.lower(rtt);
        }
    }

    /// Smallest RTT seen.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.get()
    }

    /// `RACK.rtt`.
    #[inline]
    fn rtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.rtt_us))
    }

    /// RFC 8985 §6.2 step 2: the newest delivered transmission `(sent_at, end, retransmitted)`,
    /// and the one whose RTT Linux keeps (`Delivered::rtt_source`), if any.
    pub fn update(
        &mut self,
        now: Instant,
        newest: (Instant, SeqNumber, bool),
        rtt_from: Option<(Instant, bool)>,
    ) {
        let (sent_at, end, retransmitted) = newest;
        // In whole microseconds, as both RTTs are kept.
        let us = |t: Instant| micros(now.saturating_duration_since(t));
        let rtt = us(sent_at);
        // An ACK for a retransmitted segment that comes back faster than any RTT seen was
        // most likely for the original: ambiguous, skip it.
        let min = self.min_rtt;
        let ambiguous = |rtt: u32, retransmitted: bool| retransmitted && min.exceeds(rtt);
        let linux_rtt = rtt_from
            .map(|(t, r)| (if t == sent_at { rtt } else { us(t) }, r))
            .filter(|&(rtt, r)| !ambiguous(rtt, r))
            .map(|(rtt, _)| rtt);
        if ambiguous(rtt, retransmitted) {
            if let Some(r) = linux_rtt {
                self.rtt_us = r;
            }
            return;
        }
        if !retransmitted {
            // Per-segment send times are exact, unlike timestamp echoes, whose millisecond
            // clock reads a sub-millisecond path as 0 ms and would shrink the reordering
            // window (min_RTT / 4) to nothing.
            self.min_rtt.lower_us(rtt);
        }
        self.rtt_us = linux_rtt.unwrap_or(rtt);
        self.note_newest(sent_at, end);
    }

    /// [`update`](Self::update) for an ACK that delivered one transmission, which is then
    /// both the newest and the one whose RTT Linux keeps: `update(now, (sent_at, end,
    /// retransmitted), Some((sent_at, retransmitted)))`.
    #[inline]
    pub fn update_one(
        &mut self,
        now: Instant,
        sent_at: Instant,
        end: SeqNumber,
        retransmitted: bool,
    ) {
        // In whole microseconds, converted once: what both RTTs keep.
        let us = micros(now.saturating_duration_since(sent_at));
        if retransmitted && self.min_rtt.exceeds(us) {
            // Ambiguous, and so is the same transmission as Linux's source: nothing changes.
            return;
        }
        if !retransmitted {
            self.min_rtt.lower_us(us);
        }
        self.rtt_us = us;
        self.note_newest(sent_at, end);
    }

    /// RFC 8985 §6.2 step 2's "RACK.xmit_ts / RACK.end_seq": the transmission sent last (ties
    /// broken by the higher end sequence) among those delivered so far.
    #[inline]
    fn note_newest(&mut self, sent_at: Instant, end: SeqNumber) {
        let newer = match self.xmit_ts {
            None => true,
            Some(t) => sent_at > t || (sent_at == t && end > self.end_seq),
        };
        if newer {
            self.xmit_ts = Some(sent_at);
            self.end_seq = end;
        }
    }

    /// The reordering degree in segments (`tcpi_reordering`).
    pub fn reordering(&self) -> u32 {
        self.degree.get()
    }

    /// An ACK delivered a segment `extent` bytes below the highest delivered one, never
    /// retransmitted: the network reordered (RFC 8985 §6.2 step 3).
    pub fn on_reordering(&mut self, extent: usize, mss: usize) {
        self.reordering_seen = true;
        self.degree.observe(extent, mss);
    }

    /// A DSACK arrived: the reordering window was too small (RFC 8985 §6.2 step 4).
    pub fn on_dsack(&mut self) {
        self.reordering_seen = true;
        self.reo_wnd_mult = (self.reo_wnd_mult.max(1) + 1).min(8);
    }

    /// RFC 8985 §6.2 step 4: the reordering window. Zero while no reordering has been seen and
    /// either recovery is under way or as many segments as the reordering degree are SACKed,
    /// so that a connection without reordering reacts as fast as duplicate-ACK counting would.
    pub fn reo_wnd(&self, in_recovery: bool, sacked_segments: usize, srtt: Duration) -> Duration {
        let dup_thresh = self.reordering() as usize;
        if !self.reordering_seen && (in_recovery || sacked_segments >= dup_thresh) {
            return Duration::ZERO;
        }
        let min_rtt = self.min_rtt.get().unwrap_or(srtt);
        let w = min_rtt.total_nanos() / 4 * u64::from(self.reo_wnd_mult.max(1));
        Duration::from_nanos(w).min(srtt)
    }

    /// RFC 8985 §6.2 step 5: marks lost every segment sent before the newest delivered one
    /// whose time is up; returns whether any was marked and when the next one would be due
    /// (the reordering timer).
    pub fn detect_loss(
        &self,
        now: Instant,
        board: &mut Scoreboard,
        reo_wnd: Duration,
    ) -> (bool, Option<Instant>) {
        let Some(xmit_ts) = self.xmit_ts else { return (false, None) };
        let mut marked = false;
        let mut timer: Option<Instant> = None;
        for i in 0..board.len() {
            let Some(s) = board.get(i).copied() else { break };
            let sent_before =
                s.sent_at < xmit_ts || (s.sent_at == xmit_ts && s.end <= self.end_seq);
            if !sent_before && !s.ever_retransmitted {
                // Segments never retransmitted went out in sequence order, and every later
                // record (retransmitted or not) was first sent after this one: none of them
                // can precede the newest delivered transmission. Stop here.
                break;
            }
            if s.sacked || (s.lost && !s.retransmitted) || !sent_before {
                continue;
            }
            let due = s.sent_at + self.rtt() + reo_wnd;
            if due <= now {
                marked |= board.mark_lost(i);
            } else {
                timer = Some(timer.map_or(due, |t| t.min(due)));
            }
        }
        (marked, timer)
    }
}

/// The probe timeout (RFC 8985 §7.2): two SRTTs, plus the worst-case delayed-ACK time when only
/// one segment is in flight (its ACK may be delayed).
pub fn probe_timeout(srtt: Duration, segments_in_flight: usize) -> Duration {
    let pto = srtt.saturating_mul(2);
    if segments_in_flight == 1 {
        pto + WC_DEL_ACK
    } else {
        pto
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// `update_one` is `update` with the one transmission as both inputs, whatever RACK
    /// held before (a minimum RTT that makes a retransmission's sample ambiguous included).
    #[test]
    fn update_one_is_update_with_one_transmission() {
        for min in [None, Some(5), Some(50)] {
            for xmit in [None, Some((ms(10), 100)), Some((ms(20), 300)), Some((ms(20), 100))] {
                for retransmitted in [false, true] {
                    let mut r = Rack::default();
                    if let Some(m) = min {
                        r.update(ms(m), (ms(0), SeqNumber(1), false), Some((ms(0), false)));
                    }
                    if let Some((t, end)) = xmit {
                        r.xmit_ts = Some(t);
                        r.end_seq = SeqNumber(end);
                    }
                    let (sent, end) = (ms(20), SeqNumber(200));
                    let mut general = r;
                    general.update(ms(40), (sent, end, retransmitted), Some((sent, retransmitted)));
                    r.update_one(ms(40), sent, end, retransmitted);
                    assert_eq!(format!("{r:?}"), format!("{general:?}"), "{min:?} {xmit:?}");
                }
            }
        }
    }

    #[test]
    fn time_based_marking_with_reordering_window() {
        let mut b = Scoreboard::with_capacity(8);
        for i in 0..4u32 {
            b.push(SeqNumber(i * 100), SeqNumber(i * 100 + 100), ms(u64::from(i)), false);
        }
        let mut r = Rack::default();
        r.on_rtt_sample(Duration::from_millis(40));
        // Segment 3 (sent at 3 ms) is SACKed at 43 ms: RACK.rtt = 40 ms.
        let mut d = super::super::scoreboard::Delivered::default();
        b.sack(SeqNumber(300), SeqNumber(400), &mut d);
        b.finish_ack(&d);
        r.update(ms(43), d.newest.unwrap(), d.rtt_source());
        let wnd = r.reo_wnd(false, 1, Duration::from_millis(40));
        assert_eq!(wnd, Duration::from_millis(10), "min_rtt / 4");
        // At 43 ms nothing is due yet: segment 0 is due at 0 + 40 + 10 = 50 ms.
        let (marked, timer) = r.detect_loss(ms(43), &mut b, wnd);
        assert!(!marked);
        assert_eq!(timer, Some(ms(50)));
        let (marked, timer) = r.detect_loss(ms(51), &mut b, wnd);
        assert!(marked);
        assert_eq!(b.lost_bytes(), 200, "segments 0 and 1 (due 50, 51 ms)");
        assert_eq!(timer, Some(ms(52)));
        // Without reordering seen and in recovery the window is zero.
        assert_eq!(r.reo_wnd(true, 1, Duration::from_millis(40)), Duration::ZERO);
        r.on_dsack();
        assert_eq!(r.reo_wnd(true, 1, Duration::from_millis(40)), Duration::from_millis(20));
    }

    #[test]
    fn min_rtt_comes_from_exact_delivery_times() {
        let mut r = Rack::default();
        // A timestamp echo of a sub-millisecond path reads 0 ms: no information.
        r.on_rtt_sample(Duration::ZERO);
        assert_eq!(r.min_rtt(), None);
        let sent = Instant::from_micros(1_000);
        r.update(Instant::from_micros(1_250), (sent, SeqNumber(100), false), None);
        assert_eq!(r.min_rtt(), Some(Duration::from_micros(250)));
        // The reordering window is a quarter of it, not zero.
        r.reordering_seen = true;
        assert_eq!(r.reo_wnd(false, 1, Duration::from_millis(1)), Duration::from_nanos(62_500));
        // A retransmission's delivery time is ambiguous and never lowers min_RTT.
        r.update(
            Instant::from_micros(2_100),
            (Instant::from_micros(2_000), SeqNumber(200), true),
            None,
        );
        assert_eq!(r.min_rtt(), Some(Duration::from_micros(250)));
    }

    /// `MinRtt` answers as the `Option<Duration>` it replaced: `None` until a sample (a
    /// retransmission's ambiguous delivery is then not compared with it), the first sample
    /// whatever its size, then the smallest.
    #[test]
    fn min_rtt_is_an_option_in_four_bytes() {
        assert_eq!(core::mem::size_of::<MinRtt>(), 4);
        assert_eq!(core::mem::size_of::<Rack>(), 24);
        let mut m = MinRtt::default();
        assert_eq!(m.get(), None);
        m.lower(Duration::from_secs(3_600));
        assert_eq!(m.get(), Some(Duration::from_secs(3_600)), "the first sample, however long");
        m.lower(Duration::from_millis(2));
        m.lower(Duration::from_millis(5));
        assert_eq!(m.get(), Some(Duration::from_millis(2)));
        m.lower(Duration::ZERO);
        assert_eq!(m.get(), Some(Duration::ZERO));
        // Whole microseconds; 71 minutes and more held below the `None` mark.
        let mut m = MinRtt::default();
        m.lower(Duration::from_nanos(250_999));
        assert_eq!(m.get(), Some(Duration::from_micros(250)));
        let mut m = MinRtt::default();
        m.lower(Duration::from_secs(1 << 40));
        assert_eq!(m.get(), Some(Duration::from_micros(u64::from(u32::MAX - 1))));
        // Without a sample, a retransmission's quick delivery is not ambiguous: RACK takes it.
        let mut r = Rack::default();
        let sent = Instant::from_micros(1_000);
        r.update_one(Instant::from_micros(1_100), sent, SeqNumber(100), true);
        assert_eq!(r.rtt(), Duration::from_micros(100));
        assert_eq!(r.min_rtt(), None, "a retransmission does not set it");
    }

    #[test]
    fn reordering_degree_grows_to_the_distance_and_stops_at_the_maximum() {
        let mut d = ReorderingDegree::default();
        assert_eq!(d.get(), 3);
        d.observe(300, 100);
        assert_eq!(d.get(), 3, "three segments is DupThresh itself");
        d.observe(550, 100);
        assert_eq!(d.get(), 6, "rounded up to whole segments");
        d.observe(400, 100);
        assert_eq!(d.get(), 6, "never shrinks");
        d.observe(1_000_000, 100);
        assert_eq!(d.get(), 300);
    }

    #[test]
    fn pto_values() {
        let srtt = Duration::from_millis(10);
        assert_eq!(probe_timeout(srtt, 5), Duration::from_millis(20));
        assert_eq!(probe_timeout(srtt, 1), Duration::from_millis(220));
    }
}
