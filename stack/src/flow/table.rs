//! [`Table`]: keyed O(1) insert, lookup and remove over a slab with stable, generation-checked
//! handles.

use super::hash::{FlowHash, FlowHasher};
use super::index::SlotIndex;
use super::slab::{Keyed, Slab, SlotEntry};
use super::TableKey;
use core::fmt;
use core::marker::PhantomData;

/// A generation-checked reference to an entry of a [`Table`] keyed by `K`. Copy it freely: it
/// is two integers, and once its entry is removed it stops resolving, even if the slot is
/// reused.
pub struct Handle<K> {
    index: u32,
    generation: u32,
    _key: PhantomData<fn() -> K>,
}

impl<K> Handle<K> {
    pub(crate) fn new(index: u32, generation: u32) -> Handle<K> {
        Handle { index, generation, _key: PhantomData }
    }

    /// The slot number: dense from zero, usable to index per-connection side arrays.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// How many times the slot had been vacated when this handle was issued.
    pub fn generation(self) -> u32 {
        self.generation
    }

    /// The handle's slot as a hint (whatever entry holds the slot when it is used).
    pub fn hint(self) -> Hint<K> {
        Hint { index: self.index, _key: PhantomData }
    }
}

/// A slot that a key's hash led to, its entry not checked: what [`Table::hint_hashed`] finds
/// from a hash alone, without reading the slab. It names whatever entry holds the slot when
/// it is used ([`Table::hinted`]), which may be another key's (a 32-bit hash collision, or
/// the entry removed and the slot reused since), so nothing is done with that entry but
/// prefetch it until its key has been compared with the one looked for.
pub struct Hint<K> {
    index: u32,
    _key: PhantomData<fn() -> K>,
}

impl<K> Hint<K> {
    /// The slot number.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl<K> Clone for Hint<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Hint<K> {}
impl<K> PartialEq for Hint<K> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index
    }
}
impl<K> Eq for Hint<K> {}
impl<K> fmt::Debug for Hint<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Hint({})", self.index)
    }
}

// Manual impls: derives would wrongly require `K: Clone` etc.
impl<K> Clone for Handle<K> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<K> Copy for Handle<K> {}
impl<K> PartialEq for Handle<K> {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && self.generation == other.generation
    }
}
impl<K> Eq for Handle<K> {}
impl<K> core::hash::Hash for Handle<K> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.index.hash(state);
        self.generation.hash(state);
    }
}
impl<K> fmt::Debug for Handle<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Handle({}#{})", self.index, self.generation)
    }
}

/// Why an insert was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowError {
    /// The table holds its configured capacity.
    Full,
    /// The key is already present.
    Exists,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::Full => f.write_str("flow table full"),
            FlowError::Exists => f.write_str("flow already present"),
        }
    }
}

impl std::error::Error for FlowError {}

/// A fixed-capacity map from keys to values with O(1) operations. Lookups and removals never
/// allocate; inserts allocate only in the rare case described at [`Table::new`].
/// See the [module docs](super) for the layout. `E` is what a slot holds: by default the
/// value beside its key and generation ([`Keyed`]); a value that keeps both itself (a
/// [`SlotEntry`] whose `Value` is itself) saves their room and the cache line they may take.
pub struct Table<K, V, E = Keyed<K, V>> {
    hasher: FlowHasher,
    index: SlotIndex,
    slab: Slab<K, E>,
    _value: PhantomData<fn() -> V>,
}

impl<K: TableKey, V, E: SlotEntry<K, Value = V>> Table<K, V, E> {
    /// A table for at most `capacity` entries, hashing under the secret `hash_key`. Allocates
    /// the index for `capacity` entries now (about 9 bytes per entry, over the index's spare
    /// buckets) and
    /// reserves the slab, so filling the table to its capacity never reallocates.
    ///
    /// One exception, inherited from the SwissTable: removals can leave tombstones, and when
    /// they use up the index's spare room an insert rehashes it — in place if the table is at
    /// most about 7/16 full, otherwise by doubling the index once. After that doubling the
    /// table is never more than half full and later rehashes stay in place. Amortised O(1).
    ///
    /// [`FlowKey`]: super::FlowKey
    ///
    /// # Panics
    /// If `capacity` does not fit in `u32` (minus one), a configuration error.
    pub fn new(capacity: usize, hash_key: [u8; 16]) -> Table<K, V, E> {
        Table {
            hasher: FlowHasher::new(hash_key),
            index: SlotIndex::with_capacity(capacity),
            slab: Slab::with_capacity(capacity),
            _value: PhantomData,
        }
    }

    /// Bytes one entry takes: its slab slot (key, generation and value) and its index entry.
    pub const fn entry_bytes() -> usize {
        Slab::<K, E>::slot_bytes() + SlotIndex::entry_bytes()
    }

    /// The most entries the table accepts.
    pub fn capacity(&self) -> usize {
        self.slab.capacity()
    }

    /// Entries held.
    pub fn len(&self) -> usize {
        self.slab.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.slab.len() == 0
    }

    /// Whether an insert would be refused for lack of room.
    pub fn is_full(&self) -> bool {
        self.slab.len() >= self.slab.capacity()
    }

    /// The keyed hash of `key`: compute it once per segment and pass it to the `*_hashed`
    /// methods (and to anything else that wants a per-flow hash).
    #[inline]
    pub fn hash(&self, key: &K) -> FlowHash {
        key.hash_with(&self.hasher)
    }

    /// The handle of `key`'s entry.
    #[inline]
    pub fn lookup(&self, key: &K) -> Option<Handle<K>> {
        self.lookup_hashed(key, self.hash(key))
    }

    /// The handle of `key`'s entry, given `hash == self.hash(key)`. The index holds no keys:
    /// each entry whose 32-bit hash matches has its key read from its slot and compared (for
    /// a key held, one slot read, which the caller's use of the entry would read anyway; for
    /// a key not held, almost never any), and the handle takes that slot's generation.
    #[inline]
    pub fn lookup_hashed(&self, key: &K, hash: FlowHash) -> Option<Handle<K>> {
        let is_key = |slot| self.slab.occupant(slot).is_some_and(|e| e.key() == *key);
        let index = self.index.find(hash.0, is_key)?;
        self.hinted(Hint { index, _key: PhantomData })
    }

    /// The slot of the first entry whose 32-bit hash is `hash`, its key not compared: the
    /// index alone is read, never the slab, so a caller can have the slot's lines fetched
    /// without first waiting for one of them (the RX look-ahead). Only a [`Hint`]: see there.
    #[inline]
    pub fn hint_hashed(&self, hash: FlowHash) -> Option<Hint<K>> {
        self.index.hint(hash.0).map(|index| Hint { index, _key: PhantomData })
    }

    /// Slot `index` as a hint, if the table has such a slot (for a slot named some other way
    /// than by the index, `stack::ts_slot`).
    #[inline]
    pub fn hint_at(&self, index: u32) -> Option<Hint<K>> {
        ((index as usize) < self.capacity()).then_some(Hint { index, _key: PhantomData })
    }

    /// The handle of the entry that holds the hinted slot now, if any: a live handle, but of
    /// whichever entry that is, so its key is still to be compared before it is used for a
    /// key. It reads the slot's generation, which the caller has fetched with the slot.
    #[inline]
    pub fn hinted(&self, hint: Hint<K>) -> Option<Handle<K>> {
        let entry = self.slab.occupant(hint.index)?;
        Some(Handle::new(hint.index, entry.generation().get()))
    }

    /// The key and value of the entry that holds the hinted slot now, if any (for reading
    /// ahead: whose entry it is does not matter there).
    #[inline]
    pub fn get_hinted(&self, hint: Hint<K>) -> Option<(K, &V)> {
        self.slab.occupant(hint.index).map(|e| (e.key(), e.value()))
    }

    /// Inserts `value` under `key`. On refusal the value is dropped; use
    /// [`insert_with`](Self::insert_with) to build it only once the slot is certain.
    pub fn insert(&mut self, key: K, value: V) -> Result<Handle<K>, FlowError> {
        self.insert_with(key, |_| value)
    }

    /// Inserts the value `make` builds from the new entry's handle (a connection may want to
    /// know its own handle, e.g. to arm timers).
    pub fn insert_with(
        &mut self,
        key: K,
        make: impl FnOnce(Handle<K>) -> V,
    ) -> Result<Handle<K>, FlowError> {
        let hash = self.hash(&key);
        self.insert_hashed_with(key, hash, make)
    }

    /// [`insert_with`](Self::insert_with) given `hash == self.hash(&key)`.
    pub fn insert_hashed_with(
        &mut self,
        key: K,
        hash: FlowHash,
        make: impl FnOnce(Handle<K>) -> V,
    ) -> Result<Handle<K>, FlowError> {
        debug_assert_eq!(hash, self.hash(&key));
        if self.lookup_hashed(&key, hash).is_some() {
            return Err(FlowError::Exists);
        }
        let (slot, generation) =
            self.slab.insert_with(key, |i, g| make(Handle::new(i, g))).ok_or(FlowError::Full)?;
        // The slab admits at most `capacity` entries and the index was sized for as many
        // (see `new` for the one case where it still rehashes).
        self.index.insert(hash.0, slot);
        Ok(Handle::new(slot, generation))
    }

    /// Where the slab's slots lie (`Slab::span`).
    pub(crate) fn slot_span(&self) -> (usize, usize, usize) {
        self.slab.span()
    }

    /// The address of the hinted slot, not read (nor is whose entry it holds checked).
    #[inline]
    pub(crate) fn slot_addr(&self, hint: Hint<K>) -> Option<*const u8> {
        self.slab.slot_addr(hint.index)
    }

    /// The entry's key, if the handle is live.
    #[inline]
    pub fn key(&self, handle: Handle<K>) -> Option<K> {
        self.slab.get(handle.index, handle.generation).map(E::key)
    }

    /// The entry's key and value, if the handle is live: one check for both.
    #[inline]
    pub fn get_keyed(&self, handle: Handle<K>) -> Option<(K, &V)> {
        self.slab.get(handle.index, handle.generation).map(|e| (e.key(), e.value()))
    }

    /// The entry's value, if the handle is live.
    #[inline]
    pub fn get(&self, handle: Handle<K>) -> Option<&V> {
        self.slab.get(handle.index, handle.generation).map(E::value)
    }

    /// The entry's value, mutably, if the handle is live.
    #[inline]
    pub fn get_mut(&mut self, handle: Handle<K>) -> Option<&mut V> {
        self.slab.get_mut(handle.index, handle.generation)
    }

    /// The values of two different live entries, both mutably (`None` if either handle is
    /// stale, or both name the same entry).
    pub fn get_pair_mut(&mut self, a: Handle<K>, b: Handle<K>) -> Option<(&mut V, &mut V)> {
        self.slab.get_pair_mut((a.index, a.generation), (b.index, b.generation))
    }

    /// Removes the entry; the handle (and every copy of it) stops resolving.
    pub fn remove(&mut self, handle: Handle<K>) -> Option<V> {
        let key = self.key(handle)?;
        // A live entry is always in the index under its key's hash (hashed again here: a
        // removal is rare beside the lookups, and the hash kept per slot cost them room).
        // The slot names its index entry; the hash finds it.
        if !self.index.remove(self.hash(&key).0, handle.index) {
            return None;
        }
        self.slab.remove(handle.index, handle.generation).map(E::into_value)
    }

    /// Removes the entry under `key`.
    pub fn remove_key(&mut self, key: &K) -> Option<V> {
        let handle = self.lookup(key)?;
        self.remove(handle)
    }

    /// Live entries. Walks every slot ever used: for shutdown and diagnostics only.
    pub fn iter(&self) -> impl Iterator<Item = (Handle<K>, K, &V)> {
        self.slab.iter().map(|(i, e)| (Handle::new(i, e.generation().get()), e.key(), e.value()))
    }
}

impl<K: TableKey + fmt::Debug, V: fmt::Debug, E: SlotEntry<K, Value = V>> fmt::Debug
    for Table<K, V, E>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(h, k, v)| ((h, k), v))).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{FlowKey, FlowTable};
    use std::net::Ipv4Addr;

    fn key(n: u16) -> FlowKey {
        FlowKey {
            local_ip: Ipv4Addr::new(10, 0, 0, 1),
            local_port: 80,
            remote_ip: Ipv4Addr::new(10, 1, 0, 0),
            remote_port: n,
        }
    }

    #[test]
    fn insert_lookup_remove() {
        let mut t: FlowTable<u32> = FlowTable::new(4, [3; 16]);
        let h1 = t.insert(key(1), 10).unwrap();
        let h2 = t.insert(key(2), 20).unwrap();
        assert_ne!(h1, h2);
        assert_eq!(t.lookup(&key(1)), Some(h1));
        assert_eq!(t.lookup_hashed(&key(2), t.hash(&key(2))), Some(h2));
        assert_eq!(t.lookup(&key(3)), None);
        assert_eq!(t.get(h2), Some(&20));
        *t.get_mut(h2).unwrap() += 1;
        assert_eq!(t.remove(h2), Some(21));
        assert_eq!(t.lookup(&key(2)), None);
        assert_eq!(t.get(h2), None);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn duplicate_key_and_full_table_are_refused() {
        let mut t: FlowTable<u32> = FlowTable::new(2, [3; 16]);
        let h = t.insert(key(1), 10).unwrap();
        assert_eq!(t.insert(key(1), 11), Err(FlowError::Exists));
        assert_eq!(t.get(h), Some(&10));
        t.insert(key(2), 20).unwrap();
        assert!(t.is_full());
        assert_eq!(t.insert(key(3), 30), Err(FlowError::Full));
        assert_eq!(t.insert(key(2), 30), Err(FlowError::Exists));
        assert_eq!(t.lookup(&key(3)), None);
        t.remove_key(&key(1)).unwrap();
        assert!(t.insert(key(3), 30).is_ok());
    }

    #[test]
    fn stale_handle_misses_a_reused_slot() {
        let mut t: FlowTable<&str> = FlowTable::new(1, [0; 16]);
        let old = t.insert(key(1), "old").unwrap();
        assert_eq!(t.remove(old), Some("old"));
        let new = t.insert(key(2), "new").unwrap();
        assert_eq!(new.index(), old.index(), "slot reused");
        assert_ne!(new.generation(), old.generation());
        assert_eq!(t.get(old), None);
        assert_eq!(t.key(old), None);
        assert_eq!(t.key(new), Some(key(2)));
        assert_eq!(t.remove(old), None);
        assert_eq!(t.get(new), Some(&"new"));
    }

    /// Two different keys of one 32-bit hash under `t`'s secret, found by a birthday search
    /// over random keys (about 2^16.5 of them for even odds). Random, not a progression of
    /// ports: the multilinear hash spreads a progression too evenly for birthday odds.
    fn colliding_keys<V>(t: &FlowTable<V>) -> (FlowKey, FlowKey) {
        let mut rng = crate::rng::SplitMix64::new(3);
        let mut seen = std::collections::HashMap::new();
        loop {
            let (r, ports) = (rng.next_u64(), rng.next_u64());
            let k = FlowKey {
                local_ip: Ipv4Addr::new(10, 0, 0, 1),
                local_port: ports as u16,
                remote_ip: Ipv4Addr::from(r as u32),
                remote_port: (ports >> 16) as u16,
            };
            if let Some(other) = seen.insert(t.hash(&k).value(), k) {
                if other != k {
                    return (other, k);
                }
            }
        }
    }

    #[test]
    fn keys_of_one_32_bit_hash_are_told_apart_by_their_slots_keys() {
        let mut t: FlowTable<u32> = FlowTable::new(8, [5; 16]);
        let (a, b) = colliding_keys(&t);
        assert_ne!(a, b);
        assert_eq!(t.hash(&a), t.hash(&b));
        let ha = t.insert(a, 1).unwrap();
        assert_eq!(t.lookup(&b), None, "a key not held misses, though its hash is held");
        assert_eq!(t.remove_key(&b), None);
        let hb = t.insert(b, 2).unwrap();
        assert_eq!(t.insert(b, 3), Err(FlowError::Exists));
        assert_eq!((t.lookup(&a), t.lookup(&b)), (Some(ha), Some(hb)));
        // The hint trusts the hash: both keys are led to the same slot, one of them wrongly,
        // and only the key of the entry it names can tell.
        let hint = t.hint_hashed(t.hash(&a)).unwrap();
        assert_eq!(t.hint_hashed(t.hash(&b)), Some(hint));
        let named = t.hinted(hint).unwrap();
        assert!(named == ha || named == hb);
        let wrong = if named == ha { b } else { a };
        assert_ne!(t.key(named), Some(wrong), "the entry named is the other key's");
        assert_eq!(t.get_hinted(hint).map(|(k, _)| k), t.key(named));
        // Removing one leaves the other, found by key and by hint.
        assert_eq!(t.remove(ha), Some(1));
        assert_eq!((t.lookup(&a), t.lookup(&b)), (None, Some(hb)));
        let hint = t.hint_hashed(t.hash(&a)).unwrap();
        assert_eq!(t.hinted(hint), Some(hb), "a's hash now leads to b's entry");
        assert_eq!(t.key(hb), Some(b));
    }

    #[test]
    fn a_hint_to_a_reused_slot_names_the_new_entry_and_old_handles_miss() {
        let mut t: FlowTable<&str> = FlowTable::new(1, [0; 16]);
        let old = t.insert(key(1), "old").unwrap();
        let hint = t.hint_hashed(t.hash(&key(1))).unwrap();
        assert_eq!((hint, t.hinted(hint)), (old.hint(), Some(old)));
        assert_eq!(t.remove(old), Some("old"));
        assert_eq!(t.hinted(hint), None, "a vacant slot names nothing");
        assert_eq!(t.hint_hashed(t.hash(&key(1))), None);
        let new = t.insert(key(2), "new").unwrap();
        // The old hint now names the new entry, under its own generation and key: a user that
        // compares the key (as the receive path does) finds key(2), not key(1).
        assert_eq!(t.hinted(hint), Some(new));
        assert_eq!(t.get_hinted(hint), Some((key(2), &"new")));
        assert_eq!(t.get(old), None, "the stale handle still misses");
        assert_eq!(t.key(old), None);
        assert_eq!(t.lookup(&key(1)), None);
    }

    #[test]
    fn insert_with_sees_its_own_handle() {
        let mut t: FlowTable<Handle<FlowKey>> = FlowTable::new(2, [0; 16]);
        let h = t.insert_with(key(9), |me| me).unwrap();
        assert_eq!(t.get(h), Some(&h));
    }
}
