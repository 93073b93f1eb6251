//! Keyed hashing of table keys (SipHash-1-3).

use siphasher::sip::SipHasher13;

/// The 32-bit hash of a key under a table's secret key. Computed once per received segment
/// and reusable: by the table ([`Table::lookup_hashed`](super::Table::lookup_hashed)) and by
/// anything that steers flows (e.g. choosing a worker for a stray packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowHash(pub u32);

impl FlowHash {
    /// The raw value.
    pub const fn value(self) -> u32 {
        self.0
    }
}

/// SipHash-1-3 under a 128-bit secret. SipHash-1-3 is the variant std's `HashMap` uses: with a
/// secret key it is a PRF, so a peer that cannot see the key cannot aim for collisions.
#[derive(Debug, Clone)]
pub struct FlowHasher {
    /// The secret as SipHash's two key words.
    k0: u64,
    k1: u64,
}

impl FlowHasher {
    /// A hasher under `key`. The key must come from a good random source (the caller's: the
    /// stack has none) and stay secret.
    pub fn new(key: [u8; 16]) -> FlowHasher {
        let (k0, k1) = SipHasher13::new_with_key(&key).keys();
        FlowHasher { k0, k1 }
    }

    /// The hash of a key given as two integers: SipHash-1-3 of the 12 bytes
    /// `head.to_le_bytes() ++ tail.to_le_bytes()`, folded to 32 bits. Feeding words instead
    /// of a byte array spares the store-to-load forwarding stall of reading back an array that
    /// was just written field by field (measured as the largest cost of a lookup).
    ///
    /// Written out for this one length rather than through `Hasher`, whose buffering of a
    /// message's tail cost about as many instructions as the rounds (docs/benchmarks.md,
    /// "The flow hash written out"): one compression of `head`, one of the last block (the
    /// length in its top byte, then `tail`), and three finalisation rounds (the SipHash
    /// paper, section 2). The test checks it against the crate on the same bytes.
    #[inline]
    pub fn hash_words(&self, head: u64, tail: u32) -> FlowHash {
        let mut v = [
            self.k0 ^ 0x736f_6d65_7073_6575,
            self.k1 ^ 0x646f_7261_6e64_6f6d,
            self.k0 ^ 0x6c79_6765_6e65_7261,
            self.k1 ^ 0x7465_6462_7974_6573,
        ];
        for m in [head, 12 << 56 | u64::from(tail)] {
            v[3] ^= m;
            sip_round(&mut v);
            v[0] ^= m;
        }
        v[2] ^= 0xff;
        for _ in 0..3 {
            sip_round(&mut v);
        }
        fold(v[0] ^ v[1] ^ v[2] ^ v[3])
    }

    /// The hash of `bytes`, folded from 64 to 32 bits so every output bit depends on all of
    /// SipHash's.
    #[inline]
    pub fn hash_bytes(&self, bytes: &[u8]) -> FlowHash {
        fold(SipHasher13::new_with_keys(self.k0, self.k1).hash(bytes))
    }
}

/// One SipRound.
#[inline(always)]
fn sip_round(v: &mut [u64; 4]) {
    v[0] = v[0].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(13) ^ v[0];
    v[0] = v[0].rotate_left(32);
    v[2] = v[2].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(16) ^ v[2];
    v[0] = v[0].wrapping_add(v[3]);
    v[3] = v[3].rotate_left(21) ^ v[0];
    v[2] = v[2].wrapping_add(v[1]);
    v[1] = v[1].rotate_left(17) ^ v[2];
    v[2] = v[2].rotate_left(32);
}

fn fold(h: u64) -> FlowHash {
    FlowHash((h ^ (h >> 32)) as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_keys_give_different_hashes() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let a = FlowHasher::new([0; 16]).hash_bytes(&data);
        let b = FlowHasher::new([1; 16]).hash_bytes(&data);
        assert_ne!(a, b);
        assert_eq!(a, FlowHasher::new([0; 16]).hash_bytes(&data));
        let full = SipHasher13::new_with_key(&[0; 16]).hash(&data);
        assert_eq!(a.value(), (full as u32) ^ ((full >> 32) as u32));
        let head = u64::from_le_bytes([1, 2, 3, 4, 5, 6, 7, 8]);
        let tail = u32::from_le_bytes([9, 10, 11, 12]);
        assert_eq!(FlowHasher::new([0; 16]).hash_words(head, tail), a);
        // The written-out rounds against the crate, over keys and words of every bit.
        let mut rng = crate::rng::SplitMix64::new(3);
        for _ in 0..1000 {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            key[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
            let (head, tail) = (rng.next_u64(), rng.next_u64() as u32);
            let mut bytes = [0u8; 12];
            bytes[..8].copy_from_slice(&head.to_le_bytes());
            bytes[8..].copy_from_slice(&tail.to_le_bytes());
            let h = FlowHasher::new(key);
            assert_eq!(h.hash_words(head, tail), h.hash_bytes(&bytes));
        }
    }
}
