//! A one-way link with impairments, in virtual time.
//!
//! A frame handed to [`Link::send`] is serialised at the link's bandwidth behind the frames
//! already queued (a bounded queue: tail drop when full), then propagates for the one-way
//! delay. On the way it may be lost, delayed further (reordering), duplicated or corrupted
//! (one bit of an IPv4 frame flipped, which the IPv4 or TCP checksum must catch; ARP has no
//! checksum, so ARP frames are left intact). Those impairments are the workspace's one model,
//! [`crate::impair`], the same the driver's fault device applies in the lab; this file adds
//! only the bottleneck in front of it. Every decision comes from the link's seed, so a run
//! replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::impair::{ImpairStats, Impairer, Impairments};
use crate::time::{Duration, Instant};

/// Impairments and shape of a link.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkConfig {
    /// One-way propagation delay.
    pub delay: Duration,
    /// Bits per second; 0 means infinitely fast (no serialisation delay, no queue).
    pub bandwidth_bps: u64,
    /// Bytes the transmit queue holds (waiting for serialisation); more are tail-dropped.
    pub queue_bytes: usize,
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is held back by an extra `reorder_delay`, so later frames overtake
    /// it.
    pub reorder: f64,
    /// Extra delay of a reordered frame.
    pub reorder_delay: Duration,
    /// Probability a frame is delivered twice (the copy draws its own reordering).
    pub duplicate: f64,
    /// Probability one bit of an IPv4 frame is flipped.
    pub corrupt: f64,
}

impl LinkConfig {
    /// The impairments in the shared model's terms (probabilities to the nearest part per
    /// million).
    pub fn impairments(&self) -> Impairments {
        Impairments {
            loss_ppm: Impairments::ppm(self.loss),
            duplicate_ppm: Impairments::ppm(self.duplicate),
            corrupt_ppm: Impairments::ppm(self.corrupt),
            reorder_ppm: Impairments::ppm(self.reorder),
            delay: self.delay,
            jitter: Duration::ZERO,
            reorder_delay: self.reorder_delay,
        }
    }
}

impl Default for LinkConfig {
    /// 1 ms, 1 Gbit/s, 256 KiB of queue, no impairment.
    fn default() -> Self {
        LinkConfig {
            delay: Duration::from_millis(1),
            bandwidth_bps: 1_000_000_000,
            queue_bytes: 256 * 1024,
            loss: 0.0,
            reorder: 0.0,
            reorder_delay: Duration::from_millis(5),
            duplicate: 0.0,
            corrupt: 0.0,
        }
    }
}

/// What a link did, for test assertions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Frames offered.
    pub sent: u64,
    /// Frames delivered (duplicates included).
    pub delivered: u64,
    /// Frames dropped because the queue was full (before the impairments).
    pub queue_drops: u64,
    /// What the impairments did to the frames that left the queue.
    pub impaired: ImpairStats,
}

/// One direction of a point-to-point link.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    impair: Impairer,
    /// When the transmitter finishes serialising what is queued.
    tx_free_at: Instant,
    /// Frames in flight by delivery time, ties broken by send order.
    in_flight: BinaryHeap<Reverse<(Instant, u64, Frame)>>,
    order: u64,
    stats: LinkStats,
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Frame(Vec<u8>);

impl Link {
    /// A link with `config`, drawing chance from `seed`.
    pub fn new(config: LinkConfig, seed: u64) -> Self {
        Link {
            config,
            impair: Impairer::new(config.impairments(), seed),
            tx_free_at: Instant::ZERO,
            in_flight: BinaryHeap::new(),
            order: 0,
            stats: LinkStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &LinkConfig {
        &self.config
    }

    /// Changes the impairments from now on (frames in flight keep their fate).
    pub fn set_config(&mut self, config: LinkConfig) {
        self.config = config;
        self.impair.set_impairments(config.impairments());
    }

    /// What the link did so far.
    pub fn stats(&self) -> &LinkStats {
        &self.stats
    }

    /// Frames in flight.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Offers a frame at `now`.
    pub fn send(&mut self, now: Instant, frame: &[u8]) {
        self.stats.sent += 1;
        let c = self.config;
        let start = self.tx_free_at.max(now);
        let serialise = if c.bandwidth_bps == 0 {
            Duration::ZERO
        } else {
            let backlog_ns = start.saturating_duration_since(now).total_nanos();
            let backlog_bytes =
                u128::from(backlog_ns) * u128::from(c.bandwidth_bps) / 8_000_000_000;
            if backlog_bytes as usize + frame.len() > c.queue_bytes {
                self.stats.queue_drops += 1;
                return;
            }
            Duration::from_nanos(frame.len() as u64 * 8 * 1_000_000_000 / c.bandwidth_bps)
        };
        self.tx_free_at = start + serialise;
        let copies = self.impair.admit();
        for _ in 0..copies {
            let mut bytes = frame.to_vec();
            self.impair.corrupt(&mut bytes);
            let at = self.impair.due(self.tx_free_at);
            self.push(at, bytes);
        }
        self.stats.impaired = self.impair.stats();
    }

    fn push(&mut self, at: Instant, bytes: Vec<u8>) {
        self.order += 1;
        self.in_flight.push(Reverse((at, self.order, Frame(bytes))));
    }

    /// When the next frame arrives.
    pub fn next_delivery(&self) -> Option<Instant> {
        self.in_flight.peek().map(|Reverse((t, _, _))| *t)
    }

    /// The next frame that has arrived by `now`.
    pub fn deliver(&mut self, now: Instant) -> Option<Vec<u8>> {
        if self.next_delivery()? > now {
            return None;
        }
        let Reverse((_, _, Frame(bytes))) = self.in_flight.pop()?;
        self.stats.delivered += 1;
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Vec<u8> {
        let mut f = vec![0u8; n];
        f[12] = 0x08;
        f
    }

    #[test]
    fn delay_and_serialisation() {
        let c = LinkConfig { bandwidth_bps: 8_000_000, ..LinkConfig::default() }; // 1 byte/us
        let mut l = Link::new(c, 1);
        let t0 = Instant::from_millis(10);
        l.send(t0, &frame(1000));
        l.send(t0, &frame(1000));
        assert_eq!(l.next_delivery(), Some(t0 + Duration::from_micros(1000) + c.delay));
        assert!(l.deliver(t0 + c.delay).is_none());
        assert!(l.deliver(t0 + Duration::from_micros(1000) + c.delay).is_some());
        assert_eq!(l.next_delivery(), Some(t0 + Duration::from_micros(2000) + c.delay));
    }

    #[test]
    fn queue_overflow_tail_drops() {
        let c = LinkConfig { bandwidth_bps: 8_000_000, queue_bytes: 3000, ..LinkConfig::default() };
        let mut l = Link::new(c, 1);
        for _ in 0..5 {
            l.send(Instant::ZERO, &frame(1000));
        }
        assert_eq!(l.stats().queue_drops, 2);
        assert_eq!(l.in_flight(), 3);
    }

    #[test]
    fn impairments_happen_at_their_rates() {
        let c = LinkConfig {
            loss: 0.2,
            duplicate: 0.1,
            corrupt: 0.1,
            bandwidth_bps: 0,
            ..LinkConfig::default()
        };
        let mut l = Link::new(c, 99);
        for _ in 0..10_000 {
            l.send(Instant::ZERO, &frame(100));
        }
        let s = *l.stats();
        assert!((1_700..2_300).contains(&s.impaired.dropped), "{s:?}");
        assert!((600..1_000).contains(&s.impaired.duplicated), "{s:?}");
        let mut corrupted = 0;
        while let Some(f) = l.deliver(Instant::from_millis(100)) {
            corrupted += usize::from(f != frame(100));
        }
        assert!(corrupted > 500, "{corrupted}");
    }
}
