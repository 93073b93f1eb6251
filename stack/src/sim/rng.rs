//! The simulator's only source of chance, the seeded [`SplitMix64`](crate::rng::SplitMix64),
//! so a seed replays a run exactly; and a seeded byte [`Pattern`].

use crate::rng::SplitMix64;

/// An endless deterministic byte stream from a seed: what a bulk sender writes and its
/// receiver checks, without storing either.
#[derive(Clone, Debug)]
pub struct Pattern {
    rng: SplitMix64,
    word: u64,
    left: u8,
}

impl Pattern {
    /// The stream for `seed`.
    pub fn new(seed: u64) -> Self {
        Pattern { rng: SplitMix64::new(seed ^ 0x5eed_ba5e_0000_0001), word: 0, left: 0 }
    }

    /// The next byte.
    pub fn next_byte(&mut self) -> u8 {
        if self.left == 0 {
            self.word = self.rng.next_u64();
            self.left = 8;
        }
        let b = self.word as u8;
        self.word >>= 8;
        self.left -= 1;
        b
    }

    /// Fills `out` with the next bytes.
    pub fn fill(&mut self, out: &mut [u8]) {
        for b in out {
            *b = self.next_byte();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_spread() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        assert!(xs.iter().all(|&x| x == b.next_u64()));
        let mut r = SplitMix64::new(1);
        let hits = (0..10_000).filter(|_| r.chance(0.25)).count();
        assert!((2_000..3_000).contains(&hits), "{hits}");
        assert!((0..1000).all(|_| r.below(10) < 10));
        let mut p = Pattern::new(3);
        let mut q = Pattern::new(3);
        let mut buf = [0u8; 37];
        p.fill(&mut buf);
        assert!(buf.iter().all(|&x| x == q.next_byte()));
    }
}
