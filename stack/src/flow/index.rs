//! The index from `(hash, key)` to slab slot: std's `HashMap` (a SwissTable) driven by the
//! hash the table computed once, instead of hashing the key again.
//!
//! A key is stored with its 32-bit keyed hash; the map's own hasher passes that hash through
//! (spread over 64 bits, since the SwissTable takes its 7-bit control tag from the top bits
//! and the bucket from the bottom). A lookup that misses usually touches only the 1-byte
//! control tags, a dense array that stays in cache far longer than the buckets do — which
//! matters because misses are what a SYN flood or a port scan sends.

use core::hash::{BuildHasherDefault, Hash, Hasher};
use std::collections::HashMap;

/// A key together with its keyed hash. Equality compares both (the hash first, cheaply).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Hashed<K> {
    hash: u32,
    key: K,
}

impl<K> Hash for Hashed<K> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u32(self.hash);
    }
}

/// A `Hasher` that returns the one `u32` it is given, spread to 64 bits.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn write(&mut self, bytes: &[u8]) {
        // Only `Hashed::hash` feeds this hasher, and it calls `write_u32`. Fold anything else
        // in anyway rather than panic.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_u32(&mut self, hash: u32) {
        self.0 = spread(hash);
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The 64-bit value the SwissTable is given for a 32-bit hash: the hash in both halves, so
/// the tag (the top 7 bits) and the bucket (the low bits) each take the hash's own bits.
/// With the multilinear hash those are its top and bottom bits, both strongly universal
/// (`flow::tests::index_bits_are_uniform_under_a_servers_key_patterns` checks them).
#[inline]
pub(crate) const fn spread(hash: u32) -> u64 {
    (hash as u64) << 32 | hash as u64
}

#[derive(Debug, Clone)]
pub(crate) struct RawIndex<K> {
    map: HashMap<Hashed<K>, (u32, u32), BuildHasherDefault<PassThrough>>,
}

impl<K: Copy + Eq> RawIndex<K> {
    /// Bytes one entry takes (plus the hash table's control byte).
    pub(crate) const fn entry_bytes() -> usize {
        core::mem::size_of::<(Hashed<K>, (u32, u32))>() + 1
    }

    /// An index that holds `capacity` entries without reallocating.
    pub(crate) fn with_capacity(capacity: usize) -> RawIndex<K> {
        RawIndex { map: HashMap::with_capacity_and_hasher(capacity, BuildHasherDefault::default()) }
    }

    /// The `(slot, generation)` stored for the key: enough to make a handle without touching
    /// the slab.
    #[inline]
    pub(crate) fn find(&self, hash: u32, key: K) -> Option<(u32, u32)> {
        self.map.get(&Hashed { hash, key }).copied()
    }

    /// Adds an entry. The caller has checked the key is absent and there is room.
    pub(crate) fn insert(&mut self, hash: u32, key: K, slot: (u32, u32)) {
        self.map.insert(Hashed { hash, key }, slot);
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn remove(&mut self, hash: u32, key: K) -> Option<(u32, u32)> {
        self.map.remove(&Hashed { hash, key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_hashes_with_different_keys_stay_apart() {
        // Hash collisions are what a keyed hash makes rare, not impossible: the key decides.
        let mut idx: RawIndex<u64> = RawIndex::with_capacity(4);
        idx.insert(7, 100, (0, 0));
        idx.insert(7, 200, (1, 3));
        assert_eq!(idx.find(7, 100), Some((0, 0)));
        assert_eq!(idx.find(7, 200), Some((1, 3)));
        assert_eq!(idx.find(7, 300), None);
        assert_eq!(idx.find(8, 100), None, "the stored hash is part of the identity");
        assert_eq!(idx.remove(7, 100), Some((0, 0)));
        assert_eq!(idx.find(7, 100), None);
        assert_eq!(idx.find(7, 200), Some((1, 3)));
    }

    #[test]
    fn pass_through_spreads_the_hash_to_both_ends() {
        let mut h = PassThrough::default();
        h.write_u32(0xfe00_0001);
        // The SwissTable takes its tag from the top 7 bits and the bucket from the bottom.
        assert_eq!(h.finish() >> 57, 0x7f);
        assert_eq!(h.finish() & 0xffff_ffff, 0xfe00_0001);
    }
}
