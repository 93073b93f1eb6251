//! HyStart++ (RFC 9406): leave slow start when the round-trip time starts to rise, before
//! the queue overflows, instead of doubling the window until a whole window of segments is
//! lost. A rise of at least `clamp(minRTT / 8, 4 ms, 16 ms)` between two rounds moves the
//! sender to Conservative Slow Start (a quarter of the growth) for a few rounds, then to
//! congestion avoidance; a falling RTT during CSS means the rise was noise, and slow start
//! resumes.

use crate::tcp::SeqNumber;
use crate::time::Duration;

/// RFC 9406 §4.3 constants.
const MIN_RTT_THRESH: Duration = Duration::from_millis(4);
const MAX_RTT_THRESH: Duration = Duration::from_millis(16);
const MIN_RTT_DIVISOR: u64 = 8;
const N_RTT_SAMPLE: u32 = 8;
/// Growth in CSS is `1 / CSS_GROWTH_DIVISOR` of slow start's.
pub const CSS_GROWTH_DIVISOR: usize = 4;
const CSS_ROUNDS: u32 = 5;

/// What slow start should do with this ACK.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Ordinary slow start.
    SlowStart,
    /// Conservative slow start: grow by a quarter.
    Conservative,
    /// Slow start is over: set ssthresh to the current window.
    Exit,
}

/// HyStart++ state of one connection.
#[derive(Clone, Copy, Debug, Default)]
pub struct HyStart {
    /// `SND.MAX` when the current round began; the round ends when it is acknowledged.
    window_end: Option<SeqNumber>,
    last_round_min: Option<Duration>,
    current_round_min: Option<Duration>,
    samples: u32,
    /// In CSS: the minimum RTT that triggered it, and rounds spent so far.
    css: Option<(Duration, u32)>,
}

impl HyStart {
    /// Feeds one ACK received in slow start: its cumulative acknowledgment, `SND.MAX`, and the
    /// RTT sample it produced, if any.
    pub fn on_ack(&mut self, ack: SeqNumber, snd_max: SeqNumber, rtt: Option<Duration>) -> Phase {
        // A new round starts when the previous round's data is acknowledged (§4.2).
        if self.window_end.is_none_or(|end| ack >= end) {
            self.window_end = Some(snd_max);
            self.last_round_min = self.current_round_min;
            self.current_round_min = None;
            self.samples = 0;
            if let Some((base, rounds)) = self.css {
                if rounds + 1 >= CSS_ROUNDS {
                    self.css = None;
                    return Phase::Exit;
                }
                self.css = Some((base, rounds + 1));
            }
        }
        if let Some(r) = rtt {
            self.current_round_min = Some(self.current_round_min.map_or(r, |m| m.min(r)));
            self.samples += 1;
        }
        match self.css {
            None => {
                if let (Some(cur), Some(last)) = (self.current_round_min, self.last_round_min) {
                    if self.samples >= N_RTT_SAMPLE {
                        let eta = Duration::from_nanos(last.total_nanos() / MIN_RTT_DIVISOR)
                            .max(MIN_RTT_THRESH)
                            .min(MAX_RTT_THRESH);
                        if cur >= last + eta {
                            self.css = Some((cur, 0));
                            return Phase::Conservative;
                        }
                    }
                }
                Phase::SlowStart
            }
            Some((base, _)) => {
                if self.samples >= N_RTT_SAMPLE && self.current_round_min.is_some_and(|c| c < base)
                {
                    // The RTT fell again: the rise was spurious; back to slow start.
                    self.css = None;
                    return Phase::SlowStart;
                }
                Phase::Conservative
            }
        }
    }

    /// Starts over (a new slow start after a timeout).
    pub fn reset(&mut self) {
        *self = HyStart::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// One round of `n` ACKs with RTT `rtt`, the round's data ending at `end`.
    fn round(h: &mut HyStart, start: u32, end: u32, rtt: Duration) -> Vec<Phase> {
        (0..10u32).map(|i| h.on_ack(SeqNumber(start + i), SeqNumber(end), Some(rtt))).collect()
    }

    #[test]
    fn rising_rtt_goes_conservative_then_exits() {
        let mut h = HyStart::default();
        assert!(round(&mut h, 0, 100, ms(10)).iter().all(|&p| p == Phase::SlowStart));
        // 3 ms more is below the 4 ms threshold.
        assert!(round(&mut h, 100, 200, ms(13)).iter().all(|&p| p == Phase::SlowStart));
        // 13 -> 18 ms: a 5 ms rise after eight samples.
        let p = round(&mut h, 200, 300, ms(18));
        assert_eq!(p[6], Phase::SlowStart);
        assert_eq!(p[7], Phase::Conservative);
        let mut rounds = 0;
        let mut start = 300;
        loop {
            let p = round(&mut h, start, start + 100, ms(18));
            start += 100;
            rounds += 1;
            if p.contains(&Phase::Exit) {
                break;
            }
            assert!(p.iter().all(|&x| x == Phase::Conservative));
            assert!(rounds < 10);
        }
        assert_eq!(rounds, CSS_ROUNDS as usize);
    }

    #[test]
    fn falling_rtt_in_css_resumes_slow_start() {
        let mut h = HyStart::default();
        round(&mut h, 0, 100, ms(10));
        assert!(round(&mut h, 100, 200, ms(20)).contains(&Phase::Conservative));
        let p = round(&mut h, 200, 300, ms(12));
        assert_eq!(p.last(), Some(&Phase::SlowStart));
    }
}
