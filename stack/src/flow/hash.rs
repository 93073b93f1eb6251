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
    sip: SipHasher13,
    /// SipHash's initial state under the key, for `hash_words`.
    init: [u64; 4],
}

impl FlowHasher {
    /// A hasher under `key`. The key must come from a good random source (the caller's: the
    /// stack has none) and stay secret.
    pub fn new(key: [u8; 16]) -> FlowHasher {
        let k0 = u64::from_le_bytes(key[..8].try_into().expect("8 bytes"));
        let k1 = u64::from_le_bytes(key[8..].try_into().expect("8 bytes"));
        // SipHash's initialisation: the key against "somepseudorandomlygeneratedbytes".
        let init = [
            k0 ^ 0x736f_6d65_7073_6575,
            k1 ^ 0x646f_7261_6e64_6f6d,
            k0 ^ 0x6c79_6765_6e65_7261,
            k1 ^ 0x7465_6462_7974_6573,
        ];
        FlowHasher { sip: SipHasher13::new_with_key(&key), init }
    }

    /// The hash of `bytes`, folded from 64 to 32 bits so every output bit depends on all of
    /// SipHash's.
    /// The hash of a key given as two integers: SipHash-1-3 of the 12 bytes
    /// `head.to_le_bytes() ++ tail.to_le_bytes()`, folded to 32 bits. Feeding words instead
    /// of a byte array spares the store-to-load forwarding stall of reading back an array that
    /// was just written field by field (measured as the largest cost of a lookup).
    ///
    /// The message's length is fixed, so its two blocks are compressed straight from the
    /// words: a streaming hasher's buffering of partial blocks (every write checks and
    /// shifts its tail) cost about as much as the rounds themselves, on the hash of every
    /// segment looked up. Out of line: inlined, its registers made the callers that hash
    /// only on their slow path (`Stack::receive` after the connection hint) save more on
    /// every call (+16 instructions per request/response exchange, measured).
    #[inline(never)]
    pub fn hash_words(&self, head: u64, tail: u32) -> FlowHash {
        let mut v = self.init;
        // The one full block, one compression round (SipHash-1-3).
        v[3] ^= head;
        sip_round(&mut v);
        v[0] ^= head;
        // The last block: the remaining 4 bytes with the message length (12) in its top byte.
        let last = 12 << 56 | u64::from(tail);
        v[3] ^= last;
        sip_round(&mut v);
        v[0] ^= last;
        // Finalisation: three rounds.
        v[2] ^= 0xff;
        sip_round(&mut v);
        sip_round(&mut v);
        sip_round(&mut v);
        fold(v[0] ^ v[1] ^ v[2] ^ v[3])
    }

    #[inline]
    pub fn hash_bytes(&self, bytes: &[u8]) -> FlowHash {
        fold(self.sip.hash(bytes))
    }
}

/// One SipRound over the state `v`.
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
    }

    /// The direct compression of `hash_words` is SipHash-1-3 of the 12 bytes, under keys
    /// and words whose every byte differs (a swapped key half, a wrong constant, length or
    /// round count would each change it).
    #[test]
    fn words_hash_as_their_bytes_under_any_key() {
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..64 {
            let mut key = [0u8; 16];
            key[..8].copy_from_slice(&next().to_le_bytes());
            key[8..].copy_from_slice(&next().to_le_bytes());
            let (head, tail) = (next(), next() as u32);
            let mut bytes = [0u8; 12];
            bytes[..8].copy_from_slice(&head.to_le_bytes());
            bytes[8..].copy_from_slice(&tail.to_le_bytes());
            let h = FlowHasher::new(key);
            let full = SipHasher13::new_with_key(&key).hash(&bytes);
            assert_eq!(h.hash_words(head, tail), fold(full));
            assert_eq!(h.hash_words(head, tail), h.hash_bytes(&bytes));
        }
    }
}
