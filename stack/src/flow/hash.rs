//! Keyed hashing of table keys: a strongly universal multilinear hash for the 12-byte IPv4
//! keys, SipHash-1-3 for the variable-length IPv6 ones.
//!
//! Two paths, chosen by the key's length:
//! - [`FlowHasher::hash_words`] (IPv4 4-tuples and IPv4 listen keys, three 32-bit words):
//!   the multilinear family of Lemire and Kaser ("Strongly universal string hashing is
//!   fast", The Computer Journal 57(11), 2014; the vector form of Thorup's multiply-shift,
//!   "High speed hashing for integers and strings", 2015), its top 32 bits put through a
//!   fixed 32-bit bijection. Three multiplies for the words and two for the bijection,
//!   against SipHash's rounds, on the one hash every received frame pays;
//! - [`FlowHasher::hash_bytes`] (IPv6 4-tuples and IPv6 listen keys, 36 and 18 bytes):
//!   SipHash-1-3. The multilinear form could cover them (padding to words, the length as a
//!   word), but the IPv6 path hashes once a segment beside much larger costs, and keeping
//!   the PRF there leaves no padding or length rule to get wrong.
//!
//! Why the weaker family is acceptable for IPv4 (docs/dependencies.md, `siphasher`): the key
//! is secret and per stack, and for a strongly universal family any two distinct keys' hashes
//! are independent and uniform over the draw of the key, so a peer that does not know the key
//! cannot choose 4-tuples that collide more often than chance. Unlike SipHash it is not a
//! PRF: a peer that learns colliding pairs (by timing lookups, say) could combine them; see
//! that document for the bounds on what it would gain.

use siphasher::sip::{SipHasher13, SipHasher24};

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

/// The two keyed hashes under one 128-bit secret: SipHash-1-3 for byte strings, and the
/// multilinear hash for three 32-bit words, its four 64-bit multipliers derived from the
/// secret when the hasher is made.
#[derive(Debug, Clone)]
pub struct FlowHasher {
    /// The secret as SipHash's two key words.
    k0: u64,
    k1: u64,
    /// The multilinear hash's keys `m0..m3`: the constant term, then one per word.
    m: [u64; 4],
}

/// The input SipHash-2-4 expands into the multilinear keys, with the key's index appended.
/// Its length (21 bytes with the index) is one no other keyed hash of the stack feeds, so the
/// keys are not an output another hash would publish if a caller reused the secret.
const EXPANSION_LABEL: &[u8; 20] = b"xdptcp multilinear m";

impl FlowHasher {
    /// A hasher under `key`. The key must come from a good random source (the caller's: the
    /// stack has none) and stay secret.
    ///
    /// The multilinear keys must be independent and uniform over 64 bits for the family's
    /// guarantee; SipHash-2-4, a PRF, of four distinct inputs under the secret gives keys no
    /// one without the secret can tell from such. Made once per table, so its cost is moot.
    pub fn new(key: [u8; 16]) -> FlowHasher {
        let sip = SipHasher13::new_with_key(&key);
        let (k0, k1) = sip.keys();
        let expand = SipHasher24::new_with_key(&key);
        let m = core::array::from_fn(|i| {
            let mut input = [0u8; 21];
            input[..20].copy_from_slice(EXPANSION_LABEL);
            input[20] = i as u8;
            expand.hash(&input)
        });
        FlowHasher { k0, k1, m }
    }

    /// The hash of a 12-byte key given as its three 32-bit words `x1 = head >> 32`,
    /// `x2 = head as u32` and `x3 = tail`:
    ///
    /// `h = (m0 + m1·x1 + m2·x2 + m3·x3) mod 2^64`, and the hash is `h >> 32`.
    ///
    /// The top half, because it is the half the family makes strongly universal: a bit of
    /// the sum depends only on the words' and keys' bits at and below it, so the low 16 bits
    /// are the same, whatever the secret, for all addresses that differ only in their first
    /// two bytes. The top half gathers every input bit through the products' carries. Words
    /// rather than bytes spare the store-to-load forwarding stall of reading back an array
    /// just written field by field.
    ///
    /// Then a fixed bijection of those 32 bits (`finalise`). It leaves the family strongly
    /// universal (for two keys, a uniform pair of hashes stays a uniform pair), and it is
    /// needed: strong universality fixes the expected collisions over the draw of the secret,
    /// not how they spread for one secret (pairwise independence can leave linear probing a
    /// logarithmic number of probes: Pagh, Pagh and Ružić, "Linear probing with constant
    /// independence", STOC 2007). A run of consecutive ports or addresses is an arithmetic
    /// progression `c + k·m`, whose hashes lie on a lattice: for most secrets more even than
    /// chance, for about one in a hundred piled into a fraction of the buckets or of the
    /// 7-bit tags (over 65,536 such keys, chi-square 16 to 130 times its expectation for
    /// buckets, up to 360 times for tags). After the bijection the worst of a thousand
    /// secrets was as even as SipHash-1-3's worst (docs/benchmarks.md, "The flow hash
    /// multilinear").
    #[inline]
    pub fn hash_words(&self, head: u64, tail: u32) -> FlowHash {
        FlowHash(finalise((self.multilinear_sum(head, tail) >> 32) as u32))
    }

    /// The whole sum `h` of [`hash_words`](Self::hash_words), whose low half and unmixed top
    /// half the tests show to be bad hashes.
    #[inline(always)]
    pub(super) fn multilinear_sum(&self, head: u64, tail: u32) -> u64 {
        let [m0, m1, m2, m3] = self.m;
        m0.wrapping_add(m1.wrapping_mul(head >> 32))
            .wrapping_add(m2.wrapping_mul(head & 0xffff_ffff))
            .wrapping_add(m3.wrapping_mul(u64::from(tail)))
    }

    /// SipHash-1-3 of `bytes`, folded from 64 to 32 bits so every output bit depends on all
    /// of SipHash's. SipHash-1-3 is the variant std's `HashMap` uses: with a secret key it is
    /// a PRF, so a peer that cannot see the key cannot aim for collisions.
    #[inline]
    pub fn hash_bytes(&self, bytes: &[u8]) -> FlowHash {
        let h = SipHasher13::new_with_keys(self.k0, self.k1).hash(bytes);
        FlowHash((h ^ (h >> 32)) as u32)
    }
}

/// MurmurHash3's 32-bit finaliser (`fmix32`, Austin Appleby, public domain): xor-shifts and
/// multiplications by odd constants, each a bijection on `u32`, so the whole is one. It sends
/// every input bit to every output bit, which scatters the lattice of an arithmetic
/// progression's hashes over both ends of the value (the index's bucket and tag bits). Two
/// multiplies: a one-multiply version left the tags' tail (chi-square up to 37 times).
#[inline(always)]
fn finalise(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ h >> 16
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::index::spread;
    use crate::rng::SplitMix64;

    fn random_secret(rng: &mut SplitMix64) -> [u8; 16] {
        let mut key = [0u8; 16];
        key[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
        key[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
        key
    }

    #[test]
    fn the_same_secret_gives_the_same_hash_and_different_secrets_different_ones() {
        let mut rng = SplitMix64::new(3);
        for _ in 0..1000 {
            let (a, b) = (random_secret(&mut rng), random_secret(&mut rng));
            let (head, tail) = (rng.next_u64(), rng.next_u64() as u32);
            let h = FlowHasher::new(a);
            assert_eq!(h.hash_words(head, tail), FlowHasher::new(a).hash_words(head, tail));
            assert_eq!(h.hash_words(head, tail), h.clone().hash_words(head, tail));
            // Equal under two secrets with probability 2^-32 per input: a thousand draws
            // that all differ say the secret reaches the hash.
            assert_ne!(h.hash_words(head, tail), FlowHasher::new(b).hash_words(head, tail));
            assert_ne!(h.hash_bytes(&[1, 2, 3]), FlowHasher::new(b).hash_bytes(&[1, 2, 3]));
            // The multipliers are distinct draws, not one key reused.
            for i in 0..4 {
                for j in 0..i {
                    assert_ne!(h.m[i], h.m[j]);
                }
            }
        }
    }

    #[test]
    fn hash_words_is_the_multilinear_sum_of_the_three_words_finalised() {
        // Against the formula in 128-bit arithmetic, so a word dropped, swapped or shifted
        // in the written-out version shows.
        let mut rng = SplitMix64::new(5);
        for _ in 0..1000 {
            let h = FlowHasher::new(random_secret(&mut rng));
            let (head, tail) = (rng.next_u64(), rng.next_u64() as u32);
            let words = [1, head >> 32, head & 0xffff_ffff, u64::from(tail)];
            let sum: u128 =
                h.m.iter().zip(words).map(|(&m, x)| u128::from(m) * u128::from(x)).sum();
            assert_eq!(h.hash_words(head, tail).value(), finalise(((sum as u64) >> 32) as u32));
        }
    }

    #[test]
    fn hash_bytes_is_siphash_1_3_folded() {
        let data = [1u8, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let a = FlowHasher::new([0; 16]).hash_bytes(&data);
        assert_ne!(a, FlowHasher::new([1; 16]).hash_bytes(&data));
        let full = SipHasher13::new_with_key(&[0; 16]).hash(&data);
        assert_eq!(a.value(), (full as u32) ^ ((full >> 32) as u32));
    }

    /// Of the 96 single-bit flips of `(head, tail)`: how many change the hash, how many the
    /// index's bucket bits (the low 12 of the spread value) and how many its 7-bit tag.
    fn flips_changing(hash: impl Fn(u64, u32) -> u32, head: u64, tail: u32) -> [usize; 3] {
        let base = hash(head, tail);
        let mut changed = [0; 3];
        for bit in 0..96 {
            let flipped = if bit < 64 {
                hash(head ^ 1 << bit, tail)
            } else {
                hash(head, tail ^ 1 << (bit - 64))
            };
            let (a, b) = (spread(base), spread(flipped));
            changed[0] += usize::from(flipped != base);
            changed[1] += usize::from(a & 0xfff != b & 0xfff);
            changed[2] += usize::from(a >> 57 != b >> 57);
        }
        changed
    }

    #[test]
    fn the_hash_depends_on_every_bit_of_the_key() {
        let mut rng = SplitMix64::new(11);
        let mut inputs = vec![(0, 0), (u64::MAX, u32::MAX)];
        inputs.extend((0..6).map(|_| (rng.next_u64(), rng.next_u64() as u32)));
        for secret in [[0; 16], [7; 16], *b"benchmark secret", random_secret(&mut rng)] {
            let h = FlowHasher::new(secret);
            for &(head, tail) in &inputs {
                let [hash, bucket, tag] =
                    flips_changing(|hd, tl| h.hash_words(hd, tl).value(), head, tail);
                // A flip changes the sum by ±m·2^j, whose top half is zero only for a
                // key 2^-32 unlucky: every flip must show in the hash. The index's bucket
                // bits and tag stay the same by chance 1/4096 and 1/128 a flip.
                assert_eq!(hash, 96, "secret {secret:?}, key {head:#x} {tail:#x}");
                assert!(bucket >= 90, "bucket bits changed by only {bucket} of 96 flips");
                assert!(tag >= 90, "tag changed by only {tag} of 96 flips");

                // The same bounds fail a hash that takes the sum's low half: a flip of bit
                // j leaves every bit below j alone, so the low 12 bits ignore 60 of the 96.
                let low = |hd: u64, tl: u32| h.multilinear_sum(hd, tl) as u32;
                let [_, low_bucket, _] = flips_changing(low, head, tail);
                assert!(low_bucket <= 36, "the low half's bucket bits: {low_bucket} of 96");
                // And one that drops a word.
                let [dropped, _, _] =
                    flips_changing(|hd, _| h.hash_words(hd, 0).value(), head, tail);
                assert!(dropped <= 64);
            }
        }
    }
}
