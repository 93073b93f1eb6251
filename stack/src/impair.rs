//! The one model of an impaired link: seeded loss, duplication, corruption, delay with
//! jitter, and reordering. The simulator's links (`sim::link`, which add a bottleneck's
//! serialisation and queue in front of it) and the driver's fault device (which holds the
//! frames of a real device back in its own pool) both decide every frame's fate here, so
//! `loss = 1 %` means the same in a simulated run and in the lab, and one seed replays it.
//!
//! Like the rest of the crate it reads no clock and draws no randomness of its own: `now`
//! comes in, and chance comes from the workspace's one seeded [`SplitMix64`].

use crate::rng::SplitMix64;
use crate::time::{Duration, Instant};

/// Impairments of one direction. Probabilities are in parts per million (10_000 = 1 %).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Impairments {
    /// Probability that a frame is dropped.
    pub loss_ppm: u32,
    /// Probability that a frame is delivered twice (the copy has its own delay draw).
    pub duplicate_ppm: u32,
    /// Probability that one bit of a frame is flipped (IPv4 frames only, after the Ethernet
    /// header: see [`Impairer::corrupt`]).
    pub corrupt_ppm: u32,
    /// Probability that a frame is held back an extra [`reorder_delay`](Self::reorder_delay),
    /// letting later frames overtake it.
    pub reorder_ppm: u32,
    /// Fixed delay added to every frame.
    pub delay: Duration,
    /// Extra delay drawn uniformly from `0..=jitter` per frame (this alone reorders too).
    pub jitter: Duration,
    /// Extra delay of a reordered frame.
    pub reorder_delay: Duration,
}

impl Impairments {
    /// No impairment: frames pass without delay.
    pub const NONE: Impairments = Impairments {
        loss_ppm: 0,
        duplicate_ppm: 0,
        corrupt_ppm: 0,
        reorder_ppm: 0,
        delay: Duration::ZERO,
        jitter: Duration::ZERO,
        reorder_delay: Duration::ZERO,
    };

    /// A probability (clamped to 0..=1) in parts per million, rounded.
    pub fn ppm(p: f64) -> u32 {
        if p.is_nan() {
            return 0;
        }
        (p.clamp(0.0, 1.0) * 1e6).round() as u32
    }
}

/// What the impairment did so far. `seen - dropped + duplicated` frames were scheduled.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImpairStats {
    /// Frames that entered the impairment.
    pub seen: u64,
    /// Frames dropped by the loss probability.
    pub dropped: u64,
    /// Extra copies made.
    pub duplicated: u64,
    /// Frames (or copies) with a flipped bit.
    pub corrupted: u64,
    /// Frames (or copies) held back for reordering.
    pub reordered: u64,
}

/// One direction's impairment: the settings, the seeded generator and the counts.
///
/// For each frame the caller asks [`admit`](Self::admit) (lost, or how many copies), then
/// for each copy [`corrupt`](Self::corrupt) and [`due`](Self::due), in that order: the order
/// of the draws is part of what a seed replays.
#[derive(Debug, Clone)]
pub struct Impairer {
    imp: Impairments,
    rng: SplitMix64,
    stats: ImpairStats,
}

impl Impairer {
    /// `imp`, with chance drawn from `seed`.
    pub fn new(imp: Impairments, seed: u64) -> Impairer {
        Impairer { imp, rng: SplitMix64::new(seed), stats: ImpairStats::default() }
    }

    /// The settings.
    pub fn impairments(&self) -> &Impairments {
        &self.imp
    }

    /// Changes the settings from now on (frames already scheduled keep their fate).
    pub fn set_impairments(&mut self, imp: Impairments) {
        self.imp = imp;
    }

    /// What it did so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// A frame arrives: how many copies of it go on (0 when it is lost, 2 when duplicated).
    pub fn admit(&mut self) -> usize {
        self.stats.seen += 1;
        if self.rng.chance_ppm(self.imp.loss_ppm) {
            self.stats.dropped += 1;
            return 0;
        }
        if self.rng.chance_ppm(self.imp.duplicate_ppm) {
            self.stats.duplicated += 1;
            return 2;
        }
        1
    }

    /// Maybe flips one bit of `frame` (an Ethernet frame). Only IPv4 frames (EtherType
    /// 0x0800) are touched, and only after the Ethernet header: there the IPv4 header
    /// checksum (RFC 791 §3.1) or the transport checksum (RFC 9293 §3.1, RFC 768) must catch
    /// it. ARP carries no checksum, and a flipped MAC address only tests the filter.
    pub fn corrupt(&mut self, frame: &mut [u8]) -> bool {
        if !self.rng.chance_ppm(self.imp.corrupt_ppm) {
            return false;
        }
        if frame.get(12..14) != Some(&[0x08, 0x00]) || frame.len() <= 14 {
            return false;
        }
        let bit = self.rng.below((frame.len() as u64 - 14) * 8);
        frame[14 + (bit / 8) as usize] ^= 1 << (bit % 8);
        self.stats.corrupted += 1;
        true
    }

    /// When a copy that leaves at `at` arrives: the fixed delay, the jitter, and maybe the
    /// reordering delay.
    pub fn due(&mut self, at: Instant) -> Instant {
        let jitter = self.rng.below(self.imp.jitter.total_nanos().saturating_add(1));
        let mut due = at + self.imp.delay + Duration::from_nanos(jitter);
        if self.rng.chance_ppm(self.imp.reorder_ppm) {
            self.stats.reordered += 1;
            due += self.imp.reorder_delay;
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(n: usize) -> Vec<u8> {
        let mut f = vec![0u8; n];
        f[12] = 0x08;
        f
    }

    #[test]
    fn rates_follow_the_settings() {
        let imp = Impairments {
            loss_ppm: 200_000,
            duplicate_ppm: 100_000,
            corrupt_ppm: 100_000,
            ..Impairments::NONE
        };
        let mut i = Impairer::new(imp, 99);
        let (mut copies, mut flipped) = (0, 0);
        for _ in 0..10_000 {
            for _ in 0..i.admit() {
                let mut f = ipv4(100);
                let hit = i.corrupt(&mut f);
                assert_eq!(hit, f != ipv4(100));
                flipped += usize::from(hit);
                copies += 1;
            }
        }
        let s = i.stats();
        assert!((1_700..2_300).contains(&s.dropped), "{s:?}");
        assert!((600..1_000).contains(&s.duplicated), "{s:?}");
        assert_eq!(copies as u64, s.seen - s.dropped + s.duplicated);
        assert_eq!(flipped as u64, s.corrupted);
        assert!((700..1_000).contains(&flipped), "{s:?}");
    }

    #[test]
    fn corruption_spares_the_ethernet_header_and_non_ip_frames() {
        let imp = Impairments { corrupt_ppm: 1_000_000, ..Impairments::NONE };
        let mut i = Impairer::new(imp, 5);
        for _ in 0..1000 {
            let mut f = ipv4(60);
            assert!(i.corrupt(&mut f));
            assert_eq!(f[..14], ipv4(60)[..14]);
            let diff: u32 = f.iter().zip(ipv4(60)).map(|(a, b)| (a ^ b).count_ones()).sum();
            assert_eq!(diff, 1, "one bit");
        }
        let mut arp = vec![0u8; 60];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        assert!(!i.corrupt(&mut arp));
        assert!(arp.iter().all(|&b| b == 0 || b == 0x08 || b == 0x06));
    }

    #[test]
    fn delay_jitter_and_reordering_set_the_due_time() {
        let imp = Impairments {
            delay: Duration::from_millis(2),
            jitter: Duration::from_micros(100),
            reorder_ppm: 500_000,
            reorder_delay: Duration::from_millis(5),
            ..Impairments::NONE
        };
        let mut i = Impairer::new(imp, 1);
        let t = Instant::from_millis(10);
        let (mut held, mut plain) = (0, 0);
        for _ in 0..1000 {
            let extra = i.due(t).saturating_duration_since(t + imp.delay);
            if extra >= imp.reorder_delay {
                held += 1;
                assert!(extra <= imp.reorder_delay + imp.jitter);
            } else {
                plain += 1;
                assert!(extra <= imp.jitter);
            }
        }
        assert_eq!(held as u64, i.stats().reordered);
        assert!(held > 400 && plain > 400, "{held} {plain}");
    }

    #[test]
    fn a_seed_replays_and_probabilities_convert() {
        let imp = Impairments {
            loss_ppm: 300_000,
            jitter: Duration::from_millis(1),
            ..Impairments::NONE
        };
        let (mut a, mut b) = (Impairer::new(imp, 7), Impairer::new(imp, 7));
        let t = Instant::ZERO;
        assert!((0..500).all(|_| (a.admit(), a.due(t)) == (b.admit(), b.due(t))));
        assert_eq!(Impairments::ppm(0.01), 10_000);
        assert_eq!(Impairments::ppm(2.0), 1_000_000);
        assert_eq!(Impairments::ppm(f64::NAN), 0);
    }
}
