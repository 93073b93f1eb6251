//! A one-way link with impairments, in virtual time.
//!
//! A frame handed to [`Link::send`] is serialised at the link's bandwidth behind the frames
//! already queued (a bounded queue: tail drop when full), then propagates for the one-way
//! delay. On the way it may be lost, delayed further (reordering), duplicated or corrupted
//! (one byte of an IPv4 frame flipped, which the IPv4 or TCP checksum must catch; ARP has no
//! checksum, so ARP frames are left intact). Every decision comes from the link's seeded
//! [`Rng`], so a run replays exactly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::rng::Rng;
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
    /// Probability a frame is held back by an extra random delay of up to `reorder_delay`.
    pub reorder: f64,
    /// Largest extra delay of a reordered frame.
    pub reorder_delay: Duration,
    /// Probability a frame is delivered twice.
    pub duplicate: f64,
    /// Probability one byte of an IPv4 frame is flipped.
    pub corrupt: f64,
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
    /// Frames lost at random.
    pub lost: u64,
    /// Frames dropped because the queue was full.
    pub queue_drops: u64,
    /// Frames delayed for reordering.
    pub reordered: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Frames corrupted.
    pub corrupted: u64,
}

/// One direction of a point-to-point link.
#[derive(Debug)]
pub struct Link {
    config: LinkConfig,
    rng: Rng,
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
            rng: Rng::new(seed),
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
        if self.rng.chance(c.loss) {
            self.stats.lost += 1;
            return;
        }
        let mut at = self.tx_free_at + c.delay;
        if self.rng.chance(c.reorder) {
            self.stats.reordered += 1;
            at += Duration::from_nanos(self.rng.below(c.reorder_delay.total_nanos() + 1));
        }
        let mut bytes = frame.to_vec();
        // Only IPv4 frames (EtherType 0x0800) are corrupted: they carry checksums.
        let ipv4 = bytes.get(12..14) == Some(&[0x08, 0x00]);
        if ipv4 && bytes.len() > 14 && self.rng.chance(c.corrupt) {
            self.stats.corrupted += 1;
            let i = 14 + self.rng.below(bytes.len() as u64 - 14) as usize;
            let flip = 1 + self.rng.below(255) as u8;
            if let Some(b) = bytes.get_mut(i) {
                *b ^= flip;
            }
        }
        if self.rng.chance(c.duplicate) {
            self.stats.duplicated += 1;
            let later = at + Duration::from_nanos(self.rng.below(c.delay.total_nanos() + 1));
            self.push(later, bytes.clone());
        }
        self.push(at, bytes);
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
        assert!((1_700..2_300).contains(&s.lost), "{s:?}");
        assert!((600..1_000).contains(&s.duplicated), "{s:?}");
        let mut corrupted = 0;
        while let Some(f) = l.deliver(Instant::from_millis(100)) {
            corrupted += usize::from(f != frame(100));
        }
        assert!(corrupted > 500, "{corrupted}");
    }
}
