//! The two indexes from a key's hash to its slab slot, both SwissTables driven by the hash the
//! table computed once, instead of hashing the key again:
//!
//! - [`SlotIndex`], the connection and listener tables' (`Table`): 8-byte buckets of the
//!   32-bit keyed hash and the slot, the key left in the slab. A lookup that must be exact
//!   compares the key of each slot whose full hash matches (in the slab); the RX look-ahead
//!   trusts the hash match alone, as a hint that is checked before it is acted on. At 100,000
//!   connections its buckets take 1 MiB, where buckets holding the key took 3;
//! - [`RawIndex`], the IPv6 index's (`FlowIndex6`): the 36-byte key in the bucket with the
//!   hash, since the slab holds only an IPv6 connection's alias, not its real key.
//!
//! Each takes its 7-bit control tag from the top bits of the spread hash and the bucket from
//! the bottom. A lookup that misses usually touches only the 1-byte control tags, a dense
//! array that stays in cache far longer than the buckets do — which matters because misses
//! are what a SYN flood or a port scan sends — and a tag match reads the bucket's hash, not
//! the slab: only a full 32-bit match (one in 2^32 for a key not held) goes on to the key.

use hashbrown::HashTable;

/// The 64-bit value the SwissTable is given for a 32-bit hash: the hash in both halves, so
/// the tag (the top 7 bits) and the bucket (the low bits) each take the hash's own bits.
/// With the multilinear hash those are its top and bottom bits, both strongly universal
/// (`flow::tests::index_bits_are_uniform_under_a_servers_key_patterns` checks them).
#[inline]
pub(crate) const fn spread(hash: u32) -> u64 {
    (hash as u64) << 32 | hash as u64
}

/// What both indexes' buckets hold first: the 32-bit hash they are stored under, which
/// places them (and places them again when the table grows, no key needed).
trait Hashed {
    fn hash(&self) -> u32;
}

/// The SwissTable under both indexes: buckets `B` placed by the hash each holds. A probe
/// matches the stored hash first and asks the caller's test only of a full 32-bit match.
#[derive(Debug, Clone)]
struct ByHash<B> {
    table: HashTable<B>,
}

impl<B: Hashed> ByHash<B> {
    fn with_capacity(capacity: usize) -> Self {
        ByHash { table: HashTable::with_capacity(capacity) }
    }

    /// The first bucket stored under `hash` that `is` accepts.
    #[inline]
    fn find(&self, hash: u32, mut is: impl FnMut(&B) -> bool) -> Option<&B> {
        self.table.find(spread(hash), |b| b.hash() == hash && is(b))
    }

    /// Adds a bucket. The caller has checked that none `find` would take for it is there.
    fn insert(&mut self, bucket: B) {
        self.table.insert_unique(spread(bucket.hash()), bucket, |b| spread(b.hash()));
    }

    /// Removes and returns the first bucket stored under `hash` that `is` accepts.
    fn remove(&mut self, hash: u32, mut is: impl FnMut(&B) -> bool) -> Option<B> {
        let entry = self.table.find_entry(spread(hash), |b| b.hash() == hash && is(b));
        entry.ok().map(|e| e.remove().0)
    }

    fn len(&self) -> usize {
        self.table.len()
    }
}

/// One bucket of the connection index: the key's 32-bit keyed hash and its slab slot. No key
/// and no generation: 8 bytes, a third of a `(hash, key, slot, generation)` bucket, so that
/// 100,000 connections' buckets take 1 MiB instead of 3 (see the [module docs](self)).
#[derive(Debug, Clone, Copy)]
struct Bucket {
    hash: u32,
    slot: u32,
}

impl Hashed for Bucket {
    #[inline(always)]
    fn hash(&self) -> u32 {
        self.hash
    }
}

/// The index from hash to slab slot, the keys left in the slab: a SwissTable of 8-byte
/// buckets ([`Bucket`]). What a hash match means is the caller's: [`hint`](Self::hint)
/// trusts it, [`find`](Self::find) asks the caller to check the slot's key.
#[derive(Debug, Clone)]
pub(crate) struct SlotIndex {
    buckets: ByHash<Bucket>,
}

impl SlotIndex {
    /// Bytes one entry takes (plus the hash table's control byte).
    pub(crate) const fn entry_bytes() -> usize {
        core::mem::size_of::<Bucket>() + 1
    }

    /// An index that holds `capacity` entries without reallocating.
    pub(crate) fn with_capacity(capacity: usize) -> SlotIndex {
        SlotIndex { buckets: ByHash::with_capacity(capacity) }
    }

    /// The slot of the first entry stored under `hash`, its key unchecked: reads the control
    /// bytes and the bucket, never the slab. Another key of the same 32-bit hash may own the
    /// slot, so the answer is only a hint, to be checked against the key before it is acted
    /// on.
    #[inline]
    pub(crate) fn hint(&self, hash: u32) -> Option<u32> {
        self.find(hash, |_| true)
    }

    /// The slot stored under `hash` that `is_key` accepts (the caller reads the slot's key
    /// from the slab: only for a full 32-bit hash match, so a miss never touches the slab).
    #[inline]
    pub(crate) fn find(&self, hash: u32, mut is_key: impl FnMut(u32) -> bool) -> Option<u32> {
        self.buckets.find(hash, |b| is_key(b.slot)).map(|b| b.slot)
    }

    /// Adds an entry. The caller has checked the key is absent and there is room.
    pub(crate) fn insert(&mut self, hash: u32, slot: u32) {
        self.buckets.insert(Bucket { hash, slot });
    }

    /// Removes the entry of `slot`, stored under `hash`: a slot has one entry, so its number
    /// names it and no key is read.
    pub(crate) fn remove(&mut self, hash: u32, slot: u32) -> bool {
        self.buckets.remove(hash, |b| b.slot == slot).is_some()
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }
}

/// The keyed index, `(hash, key)` to `(slot, generation)`, for the IPv6 keys the slab does
/// not hold: the same SwissTable as [`SlotIndex`], its buckets holding the key beside the
/// hash.
#[derive(Debug, Clone)]
pub(crate) struct RawIndex<K> {
    buckets: ByHash<KeyedBucket<K>>,
}

/// One bucket of [`RawIndex`]: the key's hash, the key, and its `(slot, generation)`.
#[derive(Debug, Clone, Copy)]
struct KeyedBucket<K> {
    hash: u32,
    key: K,
    slot: (u32, u32),
}

impl<K> Hashed for KeyedBucket<K> {
    #[inline(always)]
    fn hash(&self) -> u32 {
        self.hash
    }
}

impl<K: Copy + Eq> RawIndex<K> {
    /// An index that holds `capacity` entries without reallocating.
    pub(crate) fn with_capacity(capacity: usize) -> RawIndex<K> {
        RawIndex { buckets: ByHash::with_capacity(capacity) }
    }

    /// The `(slot, generation)` stored for the key: enough to make a handle without touching
    /// the slab.
    #[inline]
    pub(crate) fn find(&self, hash: u32, key: K) -> Option<(u32, u32)> {
        self.buckets.find(hash, |b| b.key == key).map(|b| b.slot)
    }

    /// Adds an entry. The caller has checked the key is absent and there is room.
    pub(crate) fn insert(&mut self, hash: u32, key: K, slot: (u32, u32)) {
        self.buckets.insert(KeyedBucket { hash, key, slot });
    }

    /// Entries held.
    pub(crate) fn len(&self) -> usize {
        self.buckets.len()
    }

    pub(crate) fn remove(&mut self, hash: u32, key: K) -> Option<(u32, u32)> {
        self.buckets.remove(hash, |b| b.key == key).map(|b| b.slot)
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
    fn a_hint_trusts_the_hash_and_find_asks_for_the_key() {
        let mut idx = SlotIndex::with_capacity(4);
        // Slots 0 and 1 hold two keys of one 32-bit hash, slot 2 another.
        idx.insert(7, 0);
        idx.insert(7, 1);
        idx.insert(9, 2);
        assert!(matches!(idx.hint(7), Some(0 | 1)), "either slot of the hash");
        assert_eq!(idx.hint(9), Some(2));
        assert_eq!(idx.hint(8), None);
        // The exact find asks about each slot of the hash, and only those.
        assert_eq!(idx.find(7, |s| s == 1), Some(1));
        assert_eq!(idx.find(7, |s| s == 0), Some(0));
        assert_eq!(idx.find(7, |_| false), None, "a key in neither slot misses");
        let mut asked = Vec::new();
        assert_eq!(
            idx.find(8, |s| {
                asked.push(s);
                true
            }),
            None
        );
        assert!(asked.is_empty(), "no slot is read without a full hash match");
        // A removal names the slot; the other entry of the hash stays.
        assert!(idx.remove(7, 0));
        assert!(!idx.remove(7, 0));
        assert!(!idx.remove(9, 1), "a slot is found under its own hash only");
        assert_eq!(idx.hint(7), Some(1));
        assert_eq!(idx.len(), 2);
    }

    #[test]
    fn a_slot_index_grows_from_its_stored_hashes() {
        // Past its capacity the table rehashes from the buckets' own hashes (no key needed).
        let mut idx = SlotIndex::with_capacity(1);
        let hash = |slot: u32| slot.wrapping_mul(0x9e37_79b9);
        for slot in 0..1000 {
            idx.insert(hash(slot), slot);
        }
        assert!((0..1000).all(|slot| idx.find(hash(slot), |s| s == slot) == Some(slot)));
        assert_eq!(idx.len(), 1000);
    }

    #[test]
    fn spread_puts_the_hash_at_both_ends() {
        // The SwissTable takes its tag from the top 7 bits and the bucket from the bottom.
        let h = spread(0xfe00_0001);
        assert_eq!(h >> 57, 0x7f);
        assert_eq!(h & 0xffff_ffff, 0xfe00_0001);
    }
}
