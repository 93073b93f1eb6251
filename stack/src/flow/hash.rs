//! Keyed hashing of table keys (SipHash-1-3).

use core::hash::Hasher;
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
    sip: SipHasher13,
}

impl FlowHasher {
    /// A hasher under `key`. The key must come from a good random source (the caller's: the
    /// stack has none) and stay secret.
    pub fn new(key: [u8; 16]) -> FlowHasher {
        FlowHasher { sip: SipHasher13::new_with_key(&key) }
    }

    /// The hash of `bytes`, folded from 64 to 32 bits so every output bit depends on all of
    /// SipHash's.
    /// The hash of a key given as two integers: SipHash-1-3 of the 12 bytes
    /// `head.to_le_bytes() ++ tail.to_le_bytes()`, folded to 32 bits. Feeding words instead
    /// of a byte array spares the store-to-load forwarding stall of reading back an array that
    /// was just written field by field (measured as the largest cost of a lookup).
    #[inline]
    pub fn hash_words(&self, head: u64, tail: u32) -> FlowHash {
        let mut sip = self.sip;
        sip.write_u64(head);
        sip.write_u32(tail);
        fold(sip.finish())
    }

    #[inline]
    pub fn hash_bytes(&self, bytes: &[u8]) -> FlowHash {
        fold(self.sip.hash(bytes))
    }
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
    }
}
