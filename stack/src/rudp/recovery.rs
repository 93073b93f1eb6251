//! Sent packets, acknowledgement processing, loss detection, RTT and congestion control.
//!
//! Loss detection follows RFC 9002 §6.1: once a later packet is acknowledged, a packet is
//! lost when it is [`PACKET_THRESHOLD`] packet numbers behind the largest acknowledged one,
//! or was sent more than 9/8 of the RTT (the larger of the smoothed and latest sample) before
//! the newest acknowledged packet arrived. Packet numbers are never reused, so every RTT
//! sample is unambiguous (Karn's problem, RFC 6298 §3, cannot arise). The probe timeout is
//! the RFC 6298 RTO from the TCP engine's [`RtoEstimator`] (SRTT + max(G, 4·RTTVAR), clamped,
//! doubled per expiry) plus the peer's maximum ACK delay, as RFC 9002 §6.2.1 adds it.
//!
//! The congestion window comes from the TCP engine's [`Controller`] (NewReno or CUBIC): one
//! congestion event per round of losses (RFC 9002 §7.3.2, recovery ends when a packet sent
//! after its start is acknowledged), and the RTO response when probes go unanswered twice in
//! a row (RFC 9002 §7.6's persistent congestion, judged the TCP way).

use std::collections::VecDeque;

use super::send::FragmentRef;
use crate::tcp::cc::{AckSample, CongestionControl, Controller};
use crate::tcp::rto::RtoEstimator;
use crate::tcp::SeqNumber;
use crate::time::{Duration, Instant};

/// RFC 9002 §6.1.1 kPacketThreshold.
pub const PACKET_THRESHOLD: u64 = 3;
/// RFC 9002 §6.1.2 kGranularity.
pub const GRANULARITY: Duration = Duration::from_millis(1);
/// Fragments one packet carries at most (what a sent-packet record remembers inline).
pub const MAX_FRAGMENTS_PER_PACKET: usize = 8;

/// Control frames a packet carried that must be sent again if it is lost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ControlFrames {
    pub initial: bool,
    pub accept: bool,
    pub window: bool,
    pub close: bool,
}

impl ControlFrames {
    /// Adds `other`'s flags to these.
    pub fn merge(&mut self, other: ControlFrames) {
        self.initial |= other.initial;
        self.accept |= other.accept;
        self.window |= other.window;
        self.close |= other.close;
    }
}

/// What a sent packet must be remembered by until it is acknowledged or lost.
#[derive(Clone, Copy, Debug, Default)]
pub struct SentPacket {
    pub time_sent: Instant,
    pub size: usize,
    pub control: ControlFrames,
    fragments: [FragmentRef; MAX_FRAGMENTS_PER_PACKET],
    fragment_count: u8,
}

impl SentPacket {
    /// A record of a packet of `size` bytes sent at `time_sent`.
    pub fn new(time_sent: Instant, size: usize, control: ControlFrames) -> Self {
        SentPacket { time_sent, size, control, ..SentPacket::default() }
    }

    /// Adds a fragment; false when the record is full.
    pub fn push_fragment(&mut self, f: FragmentRef) -> bool {
        match self.fragments.get_mut(usize::from(self.fragment_count)) {
            Some(slot) => {
                *slot = f;
                self.fragment_count += 1;
                true
            }
            None => false,
        }
    }

    /// Whether the record can take another fragment.
    pub fn is_full(&self) -> bool {
        usize::from(self.fragment_count) == MAX_FRAGMENTS_PER_PACKET
    }

    /// The fragments carried.
    pub fn fragments(&self) -> &[FragmentRef] {
        &self.fragments[..usize::from(self.fragment_count)]
    }
}

/// What one ACK frame changed, for the caller to apply to the send queue.
pub trait AckSink {
    fn acked(&mut self, p: &SentPacket);
    fn lost(&mut self, p: &SentPacket);
}

/// Counters of recovery.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryStats {
    pub packets_sent: u64,
    pub packets_acked: u64,
    pub packets_lost: u64,
    pub probes: u64,
    pub congestion_events: u64,
    /// ACKs for packet numbers never sent (ignored).
    pub bogus_acks: u64,
}

/// Sent packets in flight and everything learnt from their acknowledgements.
#[derive(Debug)]
pub struct Recovery {
    /// Ack-eliciting packets awaiting an ACK, indexed by `pn - base`; `None` once acked,
    /// declared lost, or for packets that elicit no ACK.
    sent: VecDeque<Option<SentPacket>>,
    base: u64,
    next_pn: u64,
    largest_acked: Option<u64>,
    bytes_in_flight: usize,
    latest_rtt: Duration,
    min_rtt: Option<Duration>,
    rto: RtoEstimator,
    /// When the time threshold will declare the oldest unacked packet below the largest
    /// acknowledged one lost.
    loss_time: Option<Instant>,
    last_ack_eliciting_sent: Option<Instant>,
    pto_count: u32,
    recovery_start: Option<Instant>,
    cc: Controller,
    mss: usize,
    max_ack_delay: Duration,
    cwnd_limited: bool,
    stats: RecoveryStats,
}

impl Recovery {
    pub fn new(rto: RtoEstimator, cc: Controller, mss: usize, max_ack_delay: Duration) -> Self {
        Recovery {
            sent: VecDeque::new(),
            base: 0,
            next_pn: 0,
            largest_acked: None,
            bytes_in_flight: 0,
            latest_rtt: Duration::ZERO,
            min_rtt: None,
            rto,
            loss_time: None,
            last_ack_eliciting_sent: None,
            pto_count: 0,
            recovery_start: None,
            cc,
            mss,
            max_ack_delay,
            cwnd_limited: false,
            stats: RecoveryStats::default(),
        }
    }

    /// The number the next packet gets.
    pub fn next_pn(&self) -> u64 {
        self.next_pn
    }

    /// Records a packet just sent with number [`next_pn`](Self::next_pn). `packet` is
    /// `None` for one that elicits no ACK (it is not tracked nor counted in flight).
    pub fn on_sent(&mut self, packet: Option<SentPacket>) {
        self.stats.packets_sent += 1;
        if let Some(p) = &packet {
            self.bytes_in_flight += p.size;
            self.last_ack_eliciting_sent = Some(p.time_sent);
        }
        if packet.is_some() || !self.sent.is_empty() {
            if self.sent.is_empty() {
                self.base = self.next_pn;
            }
            self.sent.push_back(packet);
        }
        self.next_pn += 1;
        self.trim();
    }

    fn trim(&mut self) {
        while let Some(None) = self.sent.front() {
            self.sent.pop_front();
            self.base += 1;
        }
    }

    fn slot(&mut self, pn: u64) -> Option<&mut Option<SentPacket>> {
        let i = usize::try_from(pn.checked_sub(self.base)?).ok()?;
        self.sent.get_mut(i)
    }

    /// Whether the congestion window has room for a packet of `size` bytes.
    pub fn can_send(&mut self, size: usize) -> bool {
        let ok = self.bytes_in_flight + size <= self.cc.window();
        if !ok {
            self.cwnd_limited = true;
        }
        ok
    }

    /// Processes an ACK frame's inclusive ranges (highest first) received at `now`.
    /// Returns false (and changes nothing) if it acknowledges a number never sent.
    pub fn on_ack(
        &mut self,
        now: Instant,
        ranges: impl Iterator<Item = (u64, u64)> + Clone,
        largest: u64,
        ack_delay: Duration,
        sink: &mut impl AckSink,
    ) -> bool {
        if largest >= self.next_pn {
            self.stats.bogus_acks += 1;
            return false;
        }
        self.largest_acked = Some(self.largest_acked.map_or(largest, |l| l.max(largest)));
        // RFC 5681's FlightSize: what was outstanding when this ACK arrived (a loss it
        // reveals was outstanding too), the value the window is halved from.
        let flight_before = self.bytes_in_flight;
        let mut bytes_acked = 0;
        let mut newest: Option<(u64, Instant)> = None;
        let mut exit_recovery = false;
        for (low, high) in ranges {
            let low = low.max(self.base);
            let high = high.min(self.base + self.sent.len() as u64);
            let mut pn = low;
            while pn <= high {
                if let Some(p) = self.slot(pn).and_then(Option::take) {
                    self.stats.packets_acked += 1;
                    self.bytes_in_flight -= p.size;
                    bytes_acked += p.size;
                    if newest.is_none_or(|(x, _)| x < pn) {
                        newest = Some((pn, p.time_sent));
                    }
                    exit_recovery |= self.recovery_start.is_some_and(|s| p.time_sent > s);
                    sink.acked(&p);
                }
                pn += 1;
            }
        }
        if newest.is_none() {
            self.detect_lost(now, flight_before, sink);
            return true;
        }
        // RFC 9002 §5.1: a sample only when the largest acknowledged is newly acked.
        if let Some((_, sent)) = newest.filter(|&(pn, _)| pn == largest) {
            let rtt = now.saturating_duration_since(sent);
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
            // §5.3: subtract the peer's ACK delay unless that would go below min_rtt.
            let delay = ack_delay.min(self.max_ack_delay);
            let min = self.min_rtt.unwrap_or(rtt);
            let adjusted = if rtt >= min + delay { rtt - delay } else { rtt };
            self.latest_rtt = rtt;
            self.rto.sample(adjusted);
        }
        self.pto_count = 0;
        self.rto.reset_backoff();
        if exit_recovery {
            self.recovery_start = None;
            self.cc.on_recovery_exit(now, self.bytes_in_flight, self.mss);
        }
        if self.recovery_start.is_none() && bytes_acked > 0 {
            self.cc.on_ack(&AckSample {
                now,
                bytes_acked,
                mss: self.mss,
                srtt: self.rto.srtt(),
                min_rtt: self.min_rtt,
                cwnd_limited: self.cwnd_limited,
                rtt: Some(self.latest_rtt),
                // Rounds are delimited by packet numbers (HyStart++ watches them).
                ack: SeqNumber(largest as u32),
                snd_max: SeqNumber(self.next_pn as u32),
            });
            self.cwnd_limited = false;
        }
        self.detect_lost(now, flight_before, sink);
        self.trim();
        true
    }

    fn loss_delay(&self) -> Duration {
        let rtt = self.latest_rtt.max(self.rto.srtt().unwrap_or(self.latest_rtt));
        Duration::from_nanos(rtt.total_nanos() / 8 * 9).max(GRANULARITY)
    }

    /// RFC 9002 §6.1: declares lost what the thresholds say, arms `loss_time` for the rest.
    /// `flight` is the data outstanding before this detection (for the window reduction).
    fn detect_lost(&mut self, now: Instant, flight: usize, sink: &mut impl AckSink) {
        self.loss_time = None;
        let Some(largest) = self.largest_acked else { return };
        let delay = self.loss_delay();
        let mut pn = self.base;
        let mut lost_any: Option<Instant> = None;
        while pn < largest {
            if let Some(slot) = self.slot(pn) {
                if let Some(p) = *slot {
                    let by_time = p.time_sent + delay <= now;
                    if largest >= pn + PACKET_THRESHOLD || by_time {
                        *slot = None;
                        self.bytes_in_flight -= p.size;
                        self.stats.packets_lost += 1;
                        lost_any = Some(lost_any.map_or(p.time_sent, |t| t.max(p.time_sent)));
                        sink.lost(&p);
                    } else {
                        let t = p.time_sent + delay;
                        self.loss_time = Some(self.loss_time.map_or(t, |l| l.min(t)));
                    }
                }
            } else {
                break;
            }
            pn += 1;
        }
        if let Some(newest_lost) = lost_any {
            // One reduction per round: only a loss of a packet sent after the current
            // recovery began starts a new one (RFC 9002 §7.3.2).
            if self.recovery_start.is_none_or(|s| s < newest_lost) {
                self.recovery_start = Some(now);
                self.stats.congestion_events += 1;
                self.cc.on_congestion_event(now, flight.max(self.bytes_in_flight), self.mss);
            }
        }
        self.trim();
    }

    /// The probe timeout (RFC 6298 RTO with backoff, plus max ACK delay).
    pub fn pto(&self) -> Duration {
        self.rto.rto() + self.max_ack_delay
    }

    /// When loss detection next needs [`on_timeout`](Self::on_timeout).
    pub fn timer(&self) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        if self.bytes_in_flight == 0 {
            return None;
        }
        self.last_ack_eliciting_sent.map(|t| t + self.pto())
    }

    /// The loss-detection timer fired. Returns the oldest packet in flight to probe with
    /// (its content is to be sent again in new packets, RFC 9002 §6.2.4), if it was the PTO.
    pub fn on_timeout(&mut self, now: Instant, sink: &mut impl AckSink) -> Option<SentPacket> {
        if self.loss_time.is_some_and(|t| t <= now) {
            self.detect_lost(now, self.bytes_in_flight, sink);
            return None;
        }
        if self.timer().is_none_or(|t| t > now) {
            return None;
        }
        self.stats.probes += 1;
        self.pto_count += 1;
        self.rto.back_off();
        if self.pto_count == 2 {
            // Two probe timeouts with no ACK at all: the path is congested or down, respond
            // as TCP does to an RTO (RFC 5681 §3.1) rather than keep a stale window.
            self.cc.on_rto(now, self.bytes_in_flight, self.mss);
            self.recovery_start = None;
        }
        // Re-arm from now so the next probe waits a (doubled) PTO.
        self.last_ack_eliciting_sent = Some(now);
        self.sent.iter().flatten().next().copied()
    }

    /// A Retry answered the Initials (RFC 9002 §6.3): it acknowledges none of them, so they
    /// are forgotten, not lost, and the probe backoff starts over. When only one Initial was
    /// sent, the time to the Retry is a round trip, and the RFC lets the client use it in
    /// place of the default initial RTT. Without it the Initial that carries the token, and
    /// the server's Accept that answers it, would be probed only after the 1 s initial RTO
    /// (RFC 6298 §2.1): one lost handshake packet would cost a second, not a few round trips.
    /// After a probe the Retry may answer either Initial: the time since the newest is taken,
    /// which can only be too short (Karn's ambiguity, RFC 6298 §3), so the worst it does is
    /// a spurious probe, never a second's wait for a lost packet.
    pub fn on_retry(&mut self, now: Instant) {
        if let Some(newest) = self.sent.iter().flatten().last() {
            self.on_handshake_rtt(now.saturating_duration_since(newest.time_sent));
        }
        self.pto_count = 0;
        self.rto.reset_backoff();
        self.discard_all();
    }

    /// A round trip the handshake timed (the client's Initial to Retry, the server's Retry
    /// to tokened Initial) as the first RTT measurement (RFC 6298 §2.2), if there is none
    /// yet: the probe timeout before any ACK is then a few round trips, not the 1 s initial
    /// RTO. Not a `min_rtt`: such a time may include a retransmission's wait or a
    /// millisecond of rounding, so only ACKs set that (RFC 9002 §5.2).
    pub fn on_handshake_rtt(&mut self, rtt: Duration) {
        if self.rto.srtt().is_none() {
            self.latest_rtt = rtt;
            self.rto.sample(rtt);
        }
    }

    /// Forgets every packet in flight without declaring it lost (a Retry answered them).
    fn discard_all(&mut self) {
        self.sent.clear();
        self.base = self.next_pn;
        self.bytes_in_flight = 0;
        self.loss_time = None;
    }

    /// Bytes in flight.
    pub fn bytes_in_flight(&self) -> usize {
        self.bytes_in_flight
    }

    /// The congestion window.
    pub fn window(&self) -> usize {
        self.cc.window()
    }

    /// Smoothed RTT, once sampled.
    pub fn srtt(&self) -> Option<Duration> {
        self.rto.srtt()
    }

    /// Consecutive probe timeouts.
    pub fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// Counters.
    pub fn stats(&self) -> &RecoveryStats {
        &self.stats
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tcp::cc::CongestionAlgorithm;

    const MSS: usize = 1000;

    #[derive(Default)]
    struct Log {
        acked: Vec<Instant>,
        lost: Vec<Instant>,
    }

    impl AckSink for Log {
        fn acked(&mut self, p: &SentPacket) {
            self.acked.push(p.time_sent);
        }
        fn lost(&mut self, p: &SentPacket) {
            self.lost.push(p.time_sent);
        }
    }

    fn recovery() -> Recovery {
        let rto = RtoEstimator::new(
            Duration::from_secs(1),
            Duration::from_millis(200),
            Duration::from_secs(60),
            GRANULARITY,
        );
        let cc = CongestionAlgorithm::NewReno.controller(10 * MSS);
        Recovery::new(rto, cc, MSS, Duration::from_millis(25))
    }

    fn ms(v: u64) -> Instant {
        Instant::from_millis(v)
    }

    /// Sends packets 0..n at 1 ms intervals from `t0`.
    fn send(r: &mut Recovery, t0: u64, n: u64) {
        for i in 0..n {
            r.on_sent(Some(SentPacket::new(ms(t0 + i), MSS, ControlFrames::default())));
        }
    }

    #[test]
    fn packet_threshold_declares_loss_and_reduces_once_per_round() {
        let mut r = recovery();
        let mut log = Log::default();
        send(&mut r, 0, 10);
        assert_eq!(r.bytes_in_flight(), 10 * MSS);
        // Packets 0 and 1 are missing; 2..=5 arrive. 0 and 1 are 3+ behind 5: lost.
        assert!(r.on_ack(ms(60), [(2, 5)].into_iter(), 5, Duration::ZERO, &mut log));
        assert_eq!(log.acked.len(), 4);
        assert_eq!(log.lost, vec![ms(0), ms(1)]);
        assert_eq!(r.stats().congestion_events, 1, "one reduction for one round of losses");
        assert_eq!(r.window(), 10 * MSS / 2);
        // RTT sample from packet 5 (sent at 5 ms): 55 ms.
        assert_eq!(r.srtt(), Some(Duration::from_millis(55)));
        // Packets 6 and 7 are missing too; 8 and 9 arrive. 6 is 3 behind 9: lost, but it was
        // sent before the reduction: the same round, no second reduction. 7 is only 2
        // behind, so it waits for the time threshold: 9/8 of the latest RTT (141 ms).
        assert!(r.on_ack(ms(150), [(8, 9), (2, 5)].into_iter(), 9, Duration::ZERO, &mut log));
        assert_eq!(log.lost, vec![ms(0), ms(1), ms(6)]);
        assert_eq!(r.stats().congestion_events, 1);
        assert_eq!(r.bytes_in_flight(), MSS);
        let t = r.timer().unwrap();
        assert_eq!(t, ms(7) + Duration::from_micros(158_625));
        r.on_timeout(t, &mut log);
        assert_eq!(log.lost, vec![ms(0), ms(1), ms(6), ms(7)]);
        assert_eq!(r.stats().congestion_events, 1);
        assert_eq!((r.bytes_in_flight(), r.timer()), (0, None));
    }

    #[test]
    fn time_threshold_arms_a_loss_timer() {
        let mut r = recovery();
        let mut log = Log::default();
        send(&mut r, 0, 3);
        // 2 is acknowledged 100 ms later; 0 and 1 are within the packet threshold.
        r.on_ack(ms(100), [(2, 2)].into_iter(), 2, Duration::ZERO, &mut log);
        assert!(log.lost.is_empty());
        // RTT 98 ms: loss delay 9/8 × 98 = 110.25 ms after each was sent.
        let t = r.timer().unwrap();
        assert_eq!(t, ms(0) + Duration::from_micros(110_250));
        assert!(r.on_timeout(t, &mut log).is_none());
        assert_eq!(log.lost, vec![ms(0)]);
        let t = r.timer().unwrap();
        assert_eq!(t, ms(1) + Duration::from_micros(110_250));
    }

    #[test]
    fn probe_timeout_backs_off_and_two_in_a_row_collapse_the_window() {
        let mut r = recovery();
        let mut log = Log::default();
        send(&mut r, 0, 2);
        // No sample yet: PTO = initial RTO 1 s + 25 ms max ACK delay.
        let t = r.timer().unwrap();
        assert_eq!(t, ms(1) + Duration::from_millis(1025));
        let probe = r.on_timeout(t, &mut log).expect("the oldest packet is probed");
        assert_eq!(probe.time_sent, ms(0));
        assert!(log.lost.is_empty(), "a probe timeout declares nothing lost");
        assert_eq!(r.pto_count(), 1);
        // Backed off: 2 s + 25 ms from now.
        let t2 = r.timer().unwrap();
        assert_eq!(t2, t + Duration::from_millis(2025));
        r.on_timeout(t2, &mut log);
        assert_eq!(r.window(), MSS, "RTO response after two probe timeouts");
        // An ACK ends the backoff.
        r.on_ack(t2 + Duration::from_millis(1), [(0, 1)].into_iter(), 1, Duration::ZERO, &mut log);
        assert_eq!(r.pto_count(), 0);
        assert_eq!(r.bytes_in_flight(), 0);
    }

    #[test]
    fn acks_of_unsent_numbers_are_ignored() {
        let mut r = recovery();
        let mut log = Log::default();
        send(&mut r, 0, 2);
        assert!(!r.on_ack(ms(5), [(0, 2)].into_iter(), 2, Duration::ZERO, &mut log));
        assert!(log.acked.is_empty());
        assert_eq!(r.stats().bogus_acks, 1);
        assert_eq!(r.bytes_in_flight(), 2 * MSS);
    }
}
