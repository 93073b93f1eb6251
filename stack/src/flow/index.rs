//! An open-addressing index from a 32-bit hash to a slab slot, with linear probing and
//! backward-shift deletion (no tombstones, so probe runs never grow with churn).
//!
//! The index stores no keys: each bucket is `(hash, slot)`, 8 bytes, eight to a cache line.
//! A probe compares the full 32-bit hash first and asks the caller to compare keys only on a
//! hash match, which for a miss almost never happens. The caller keeps the index at most half
//! full, which bounds expected probe lengths and guarantees every probe meets an empty bucket.

/// Marks an empty bucket (no slab has 2^32 - 1 slots).
const EMPTY: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    hash: u32,
    slot: u32,
}

const VACANT: Bucket = Bucket { hash: 0, slot: EMPTY };

#[derive(Debug, Clone)]
pub(crate) struct RawIndex {
    buckets: Box<[Bucket]>,
    mask: usize,
}

impl RawIndex {
    /// An index for up to `capacity` entries, with at least twice as many buckets.
    pub(crate) fn with_capacity(capacity: usize) -> RawIndex {
        let buckets = capacity.saturating_mul(2).max(8).next_power_of_two();
        RawIndex { buckets: vec![VACANT; buckets].into_boxed_slice(), mask: buckets - 1 }
    }

    fn home(&self, hash: u32) -> usize {
        hash as usize & self.mask
    }

    /// Finds the bucket holding `hash` whose slot satisfies `is_match`; returns the bucket
    /// position and the slot.
    #[inline]
    pub(crate) fn find(
        &self,
        hash: u32,
        mut is_match: impl FnMut(u32) -> bool,
    ) -> Option<(usize, u32)> {
        let mut pos = self.home(hash);
        loop {
            // `pos` is always masked, so in bounds; the index is never full (see module
            // docs), so the loop meets an empty bucket.
            let b = self.buckets[pos];
            if b.slot == EMPTY {
                return None;
            }
            if b.hash == hash && is_match(b.slot) {
                return Some((pos, b.slot));
            }
            pos = (pos + 1) & self.mask;
        }
    }

    /// Adds `(hash, slot)`. The caller has checked the key is absent and there is room.
    pub(crate) fn insert(&mut self, hash: u32, slot: u32) {
        debug_assert_ne!(slot, EMPTY);
        let mut pos = self.home(hash);
        while self.buckets[pos].slot != EMPTY {
            pos = (pos + 1) & self.mask;
        }
        self.buckets[pos] = Bucket { hash, slot };
    }

    /// Empties bucket `pos` and shifts later members of its probe run back, so that every
    /// entry stays reachable from its home bucket without tombstones.
    pub(crate) fn remove_at(&mut self, pos: usize) {
        let mut hole = pos;
        let mut next = (hole + 1) & self.mask;
        loop {
            let b = self.buckets[next];
            if b.slot == EMPTY {
                break;
            }
            // The entry at `next` may fill the hole if the hole lies on its probe path, i.e.
            // between its home and `next` (cyclically).
            let from_home = next.wrapping_sub(self.home(b.hash)) & self.mask;
            let from_hole = next.wrapping_sub(hole) & self.mask;
            if from_home >= from_hole {
                self.buckets[hole] = b;
                hole = next;
            }
            next = (next + 1) & self.mask;
        }
        self.buckets[hole] = VACANT;
    }

    /// Number of buckets.
    #[cfg(test)]
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Drives the index with chosen hashes (so collisions and wrap-around are certain) and
    /// checks it against a map of slot -> hash.
    fn check(idx: &RawIndex, model: &HashMap<u32, u32>) {
        for (&slot, &hash) in model {
            assert_eq!(idx.find(hash, |s| s == slot).map(|(_, s)| s), Some(slot));
        }
    }

    #[test]
    fn colliding_hashes_survive_removal_in_any_order() {
        let mut idx = RawIndex::with_capacity(4);
        assert_eq!(idx.buckets(), 8);
        // Homes 6, 6, 7, 7, 6: the run wraps around the end of the table.
        let hashes = [6u32, 14, 7, 15, 22];
        for order in [[0usize, 1, 2, 3, 4], [4, 3, 2, 1, 0], [1, 3, 0, 4, 2], [2, 0, 4, 1, 3]] {
            let mut idx2 = idx.clone();
            let mut model = HashMap::new();
            for (slot, &h) in hashes.iter().enumerate() {
                idx2.insert(h, slot as u32);
                model.insert(slot as u32, h);
            }
            check(&idx2, &model);
            for &victim in &order {
                let h = hashes[victim];
                let (pos, _) = idx2.find(h, |s| s == victim as u32).unwrap();
                idx2.remove_at(pos);
                model.remove(&(victim as u32));
                assert!(idx2.find(h, |s| s == victim as u32).is_none());
                check(&idx2, &model);
            }
        }
        idx.insert(3, 0);
        assert!(idx.find(3, |_| false).is_none(), "key comparison must be consulted");
    }
}
