//! A slab of entries with a free list and per-slot generations.
//!
//! Slots never move, so a slot number is a stable name for an entry. Each slot counts how
//! many times it has been vacated; a handle carries the count it was issued with, so a handle
//! kept past its entry's removal misses instead of reaching whatever reuses the slot.

/// End of the free list.
const NIL: u32 = u32::MAX;

/// One slot: its generation inside each variant, so that the compiler puts it beside the key
/// and hash (one cache line after a connection's value) rather than in a line of its own after
/// the whole entry (which also padded every slot by a line: a value aligned to a cache line
/// left a 4-byte field 60 bytes of padding).
#[derive(Debug, Clone)]
enum Slot<K, V> {
    Occupied { key: K, hash: u32, generation: u32, value: V },
    Vacant { next_free: u32, generation: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct Slab<K, V> {
    slots: Vec<Slot<K, V>>,
    free_head: u32,
    len: usize,
    capacity: usize,
}

impl<K, V> Slab<K, V> {
    /// A slab for at most `capacity` entries (below 2^32 - 1). Memory for all of them is
    /// reserved now so that no insert ever reallocates.
    pub(crate) fn with_capacity(capacity: usize) -> Slab<K, V> {
        assert!(capacity < NIL as usize, "slab capacity must fit in u32");
        Slab { slots: Vec::with_capacity(capacity), free_head: NIL, len: 0, capacity }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes one slot takes.
    pub(crate) const fn slot_bytes() -> usize {
        core::mem::size_of::<Slot<K, V>>()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores an entry built by `make` from its `(slot, generation)`, or returns `None` when
    /// the slab is full.
    pub(crate) fn insert_with(
        &mut self,
        key: K,
        hash: u32,
        make: impl FnOnce(u32, u32) -> V,
    ) -> Option<(u32, u32)> {
        if self.len >= self.capacity {
            return None;
        }
        let index = if self.free_head != NIL {
            self.free_head
        } else {
            // len < capacity < u32::MAX and no slot is free, so slots.len() == len fits.
            let index = self.slots.len() as u32;
            self.slots.push(Slot::Vacant { next_free: NIL, generation: 0 });
            index
        };
        let slot = &mut self.slots[index as usize];
        let Slot::Vacant { next_free, generation } = *slot else {
            unreachable!("free list points at an occupied slot");
        };
        self.free_head = next_free;
        *slot = Slot::Occupied { key, hash, generation, value: make(index, generation) };
        self.len += 1;
        Some((index, generation))
    }

    /// Key, hash and value of a live entry. (A vacant slot's generation needs no check: it
    /// answers `None` either way, so one match reads the tag and then the occupied
    /// variant's generation.)
    pub(crate) fn get(&self, index: u32, generation: u32) -> Option<(&K, u32, &V)> {
        match self.slots.get(index as usize)? {
            Slot::Occupied { key, hash, generation: g, value } if *g == generation => {
                Some((key, *hash, value))
            }
            _ => None,
        }
    }

    /// Mutable value of a live entry.
    pub(crate) fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut V> {
        match self.slots.get_mut(index as usize)? {
            Slot::Occupied { generation: g, value, .. } if *g == generation => Some(value),
            _ => None,
        }
    }

    /// Mutable values of two different live entries at once (`None` if either is not live, or
    /// both are the same slot).
    pub(crate) fn get_pair_mut(
        &mut self,
        a: (u32, u32),
        b: (u32, u32),
    ) -> Option<(&mut V, &mut V)> {
        let (ia, ib) = (a.0 as usize, b.0 as usize);
        if ia == ib || ia.max(ib) >= self.slots.len() {
            return None;
        }
        let (lo, hi) = self.slots.split_at_mut(ia.max(ib));
        let (low, high) = (&mut lo[ia.min(ib)], &mut hi[0]);
        let (sa, sb) = if ia < ib { (low, high) } else { (high, low) };
        match (sa, sb) {
            (
                Slot::Occupied { generation: ga, value: va, .. },
                Slot::Occupied { generation: gb, value: vb, .. },
            ) if *ga == a.1 && *gb == b.1 => Some((va, vb)),
            _ => None,
        }
    }

    /// Removes a live entry, bumps the slot's generation and puts the slot on the free list.
    pub(crate) fn remove(&mut self, index: u32, generation: u32) -> Option<(K, u32, V)> {
        let slot = self.slots.get_mut(index as usize)?;
        if !matches!(slot, Slot::Occupied { generation: g, .. } if *g == generation) {
            return None;
        }
        let vacant =
            Slot::Vacant { next_free: self.free_head, generation: generation.wrapping_add(1) };
        let old = core::mem::replace(slot, vacant);
        self.free_head = index;
        self.len -= 1;
        match old {
            Slot::Occupied { key, hash, value, .. } => Some((key, hash, value)),
            Slot::Vacant { .. } => unreachable!("checked occupied above"),
        }
    }

    /// Live entries as `(slot, generation, key, value)`, in slot order. Walks every slot ever
    /// used: for shutdown and diagnostics, not for the packet path.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, u32, &K, &V)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied { key, value, generation, .. } => {
                Some((i as u32, *generation, key, value))
            }
            Slot::Vacant { .. } => None,
        })
    }
}
