//! A slab of entries with a free list and per-slot generations.
//!
//! Slots never move, so a slot number is a stable name for an entry. Each slot counts how
//! many times it has been vacated; a handle carries the count it was issued with, so a handle
//! kept past its entry's removal misses instead of reaching whatever reuses the slot.
//!
//! An occupied slot holds a [`SlotEntry`]: the value with the slot's generation and key,
//! kept where the entry chooses. For most values that is [`Keyed`], the three side by side.
//! A value that is a whole number of cache lines (a connection, aligned to a line so that
//! its lines are the same in every slot) would put anything beside it on a line of its own:
//! the generation and key after 2,048 bytes of connection and socket record took a 33rd line
//! per slot, read by every lookup. Such a value keeps the generation in its own last line,
//! and gives its key from fields it holds anyway (`stack::Socket`: the connection's
//! addresses and ports). A slot's occupancy then costs no byte either: the slot's tag sits
//! in a niche of the entry (`tests::a_self_keyed_entry_takes_no_room_in_its_slot`). Where
//! is the compiler's choice; for a socket, a cache simulation of 100,000 connections found
//! it on a line of the connection that its segment reads anyway (no extra line per frame),
//! and a tag byte of our own beside the generation saved no miss (docs/benchmarks.md, "The
//! socket record in one line"). It is the tag of an `Option<Duration>` of the connection
//! (today loss recovery's `last_rtt`, its only one), which moves with the connection's field
//! order: `tcp::connection::layout` keeps the candidates on hot lines.

use core::marker::PhantomData;

/// End of the free list.
const NIL: u32 = u32::MAX;

/// The generation of the slot an entry was stored in, as the entry keeps it. Only the slab
/// makes one (but for [`SlotGeneration::PENDING`]), so a value that keeps its own can hand
/// it back but not forge it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotGeneration(u32);

impl SlotGeneration {
    /// The generation of a value not yet stored: [`SlotEntry::fill`] replaces it.
    pub const PENDING: SlotGeneration = SlotGeneration(0);

    /// The count.
    pub fn get(self) -> u32 {
        self.0
    }
}

/// What an occupied slot holds: a value with its slot's generation and its key.
pub trait SlotEntry<K> {
    /// What the table hands out.
    type Value;
    /// The entry of `value`, stored under `key` in a slot of `generation`.
    fn fill(key: K, generation: SlotGeneration, value: Self::Value) -> Self;
    /// The key it was stored under.
    fn key(&self) -> K;
    /// The generation it was filled with.
    fn generation(&self) -> SlotGeneration;
    /// The value.
    fn value(&self) -> &Self::Value;
    /// The value, mutably.
    fn value_mut(&mut self) -> &mut Self::Value;
    /// The value, taken out.
    fn into_value(self) -> Self::Value;
}

/// The entry of a value that keeps neither its key nor its generation: both beside it.
#[derive(Debug, Clone)]
pub struct Keyed<K, V> {
    key: K,
    generation: SlotGeneration,
    value: V,
}

impl<K: Copy, V> SlotEntry<K> for Keyed<K, V> {
    type Value = V;

    fn fill(key: K, generation: SlotGeneration, value: V) -> Self {
        Keyed { key, generation, value }
    }

    #[inline]
    fn key(&self) -> K {
        self.key
    }

    #[inline]
    fn generation(&self) -> SlotGeneration {
        self.generation
    }

    #[inline]
    fn value(&self) -> &V {
        &self.value
    }

    #[inline]
    fn value_mut(&mut self) -> &mut V {
        &mut self.value
    }

    fn into_value(self) -> V {
        self.value
    }
}

/// One slot.
#[derive(Debug, Clone)]
enum Slot<E> {
    Occupied(E),
    Vacant { next_free: u32, generation: u32 },
}

#[derive(Debug, Clone)]
pub(crate) struct Slab<K, E> {
    slots: Vec<Slot<E>>,
    free_head: u32,
    len: usize,
    capacity: usize,
    _key: PhantomData<fn() -> K>,
}

impl<K, E: SlotEntry<K>> Slab<K, E> {
    /// A slab for at most `capacity` entries (below 2^32 - 1). Memory for all of them is
    /// reserved now so that no insert ever reallocates.
    pub(crate) fn with_capacity(capacity: usize) -> Slab<K, E> {
        assert!(capacity < NIL as usize, "slab capacity must fit in u32");
        Slab {
            slots: Vec::with_capacity(capacity),
            free_head: NIL,
            len: 0,
            capacity,
            _key: PhantomData,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Bytes one slot takes.
    pub(crate) const fn slot_bytes() -> usize {
        core::mem::size_of::<Slot<E>>()
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Stores the value built by `make` from its `(slot, generation)` under `key`, or returns
    /// `None` when the slab is full.
    pub(crate) fn insert_with(
        &mut self,
        key: K,
        make: impl FnOnce(u32, u32) -> E::Value,
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
        let value = make(index, generation);
        *slot = Slot::Occupied(E::fill(key, SlotGeneration(generation), value));
        self.len += 1;
        Some((index, generation))
    }

    /// The entry of a live slot. (A vacant slot's generation needs no check: it answers
    /// `None` either way, so one match reads the tag and then the entry's generation.)
    #[inline]
    pub(crate) fn get(&self, index: u32, generation: u32) -> Option<&E> {
        match self.slots.get(index as usize)? {
            Slot::Occupied(e) if e.generation().0 == generation => Some(e),
            _ => None,
        }
    }

    /// The entry slot `index` holds, whatever its generation: for a caller that checks the
    /// entry's key instead (an index hit, a hint), and takes the generation from the entry.
    #[inline]
    pub(crate) fn occupant(&self, index: u32) -> Option<&E> {
        match self.slots.get(index as usize)? {
            Slot::Occupied(e) => Some(e),
            Slot::Vacant { .. } => None,
        }
    }

    /// Where the slots lie: the first one's address, the size of one and how many there
    /// are (a slot's address is the first's plus its index times the size).
    pub(crate) fn span(&self) -> (usize, usize, usize) {
        (self.slots.as_ptr() as usize, core::mem::size_of::<Slot<E>>(), self.slots.len())
    }

    /// The address of slot `index` (if it exists), not read: its entry's address too, for an
    /// entry whose slot keeps its tag in a niche of the entry (a `Socket`'s slot is the socket
    /// and nothing more, `stack::socket::a_slot_is_the_connection_and_one_line`).
    #[inline]
    pub(crate) fn slot_addr(&self, index: u32) -> Option<*const u8> {
        ((index as usize) < self.slots.len())
            .then(|| self.slots.as_ptr().wrapping_add(index as usize) as *const u8)
    }

    /// Mutable value of a live entry.
    #[inline]
    pub(crate) fn get_mut(&mut self, index: u32, generation: u32) -> Option<&mut E::Value> {
        match self.slots.get_mut(index as usize)? {
            Slot::Occupied(e) if e.generation().0 == generation => Some(e.value_mut()),
            _ => None,
        }
    }

    /// Mutable values of two different live entries at once (`None` if either is not live, or
    /// both are the same slot).
    pub(crate) fn get_pair_mut(
        &mut self,
        a: (u32, u32),
        b: (u32, u32),
    ) -> Option<(&mut E::Value, &mut E::Value)> {
        let (ia, ib) = (a.0 as usize, b.0 as usize);
        if ia == ib || ia.max(ib) >= self.slots.len() {
            return None;
        }
        let (lo, hi) = self.slots.split_at_mut(ia.max(ib));
        let (low, high) = (&mut lo[ia.min(ib)], &mut hi[0]);
        let (sa, sb) = if ia < ib { (low, high) } else { (high, low) };
        match (sa, sb) {
            (Slot::Occupied(ea), Slot::Occupied(eb))
                if ea.generation().0 == a.1 && eb.generation().0 == b.1 =>
            {
                Some((ea.value_mut(), eb.value_mut()))
            }
            _ => None,
        }
    }

    /// Removes a live entry, bumps the slot's generation and puts the slot on the free list.
    pub(crate) fn remove(&mut self, index: u32, generation: u32) -> Option<E> {
        let slot = self.slots.get_mut(index as usize)?;
        if !matches!(slot, Slot::Occupied(e) if e.generation().0 == generation) {
            return None;
        }
        let vacant =
            Slot::Vacant { next_free: self.free_head, generation: generation.wrapping_add(1) };
        let old = core::mem::replace(slot, vacant);
        self.free_head = index;
        self.len -= 1;
        match old {
            Slot::Occupied(e) => Some(e),
            Slot::Vacant { .. } => unreachable!("checked occupied above"),
        }
    }

    /// Live entries as `(slot, entry)`, in slot order. Walks every slot ever used: for
    /// shutdown and diagnostics, not for the packet path.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u32, &E)> {
        self.slots.iter().enumerate().filter_map(|(i, s)| match s {
            Slot::Occupied(e) => Some((i as u32, e)),
            Slot::Vacant { .. } => None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A line-sized value that keeps its own generation and gives its key, as a socket does.
    #[derive(Debug)]
    #[repr(align(64))]
    struct Line {
        key: u16,
        live: bool,
        generation: SlotGeneration,
    }

    impl SlotEntry<u16> for Line {
        type Value = Line;

        fn fill(key: u16, generation: SlotGeneration, value: Line) -> Line {
            assert_eq!(key, value.key);
            Line { generation, ..value }
        }
        fn key(&self) -> u16 {
            self.key
        }
        fn generation(&self) -> SlotGeneration {
            self.generation
        }
        fn value(&self) -> &Line {
            self
        }
        fn value_mut(&mut self) -> &mut Line {
            self
        }
        fn into_value(self) -> Line {
            self
        }
    }

    #[test]
    fn a_self_keyed_entry_takes_no_room_in_its_slot() {
        // The slot's tag in the entry's niche (`live`), the generation in the entry's line.
        assert_eq!(Slab::<u16, Line>::slot_bytes(), 64);
        // A value beside its key and generation: the slot grows by them (and the alignment).
        assert_eq!(Slab::<u16, Keyed<u16, [u64; 8]>>::slot_bytes(), 64 + 16);
    }

    #[test]
    fn generations_and_keys_kept_by_the_entry_serve_as_the_slab_own() {
        let mut slab: Slab<u16, Line> = Slab::with_capacity(2);
        let line = |key| Line { key, live: true, generation: SlotGeneration::PENDING };
        let a = slab.insert_with(7, |_, _| line(7)).unwrap();
        let b = slab.insert_with(9, |_, _| line(9)).unwrap();
        assert!(slab.insert_with(11, |_, _| line(11)).is_none(), "full");
        assert_eq!(slab.get(a.0, a.1).map(|e| e.key()), Some(7));
        let removed = slab.remove(a.0, a.1).unwrap();
        assert!(removed.live);
        assert!(slab.get(a.0, a.1).is_none(), "a stale handle misses");
        let c = slab.insert_with(11, |_, _| line(11)).unwrap();
        assert_eq!(c.0, a.0, "the slot is reused");
        assert_ne!(c.1, a.1, "under a new generation");
        assert!(slab.get(a.0, a.1).is_none());
        assert_eq!(slab.get(c.0, c.1).map(|e| e.key()), Some(11));
        assert_eq!(slab.get_pair_mut(b, c).map(|(x, y)| (x.key, y.key)), Some((9, 11)));
        assert!(slab.get_pair_mut(a, c).is_none());
        assert_eq!(slab.iter().map(|(i, e)| (i, e.key)).collect::<Vec<_>>(), [(0, 11), (1, 9)]);
    }
}
