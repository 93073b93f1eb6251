//! A fixed-capacity FIFO of fixed-size byte slots, allocated once.
//!
//! Used for UDP socket receive queues and the interface's transmit queue: pushing copies a
//! packet into the next slot (or builds it there in place), reading lends a slice of the oldest
//! slot, and nothing allocates after construction.

/// Why a push did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PushError {
    /// Every slot is occupied.
    Full,
    /// The writer closure declined (returned `None`).
    Rejected,
}

/// FIFO of up to `slots` entries, each up to `slot_size` bytes plus a small `M` of metadata.
#[derive(Debug)]
pub(crate) struct SlotRing<M> {
    data: Vec<u8>,
    slot_size: usize,
    /// Per slot: bytes used and metadata.
    meta: Vec<(usize, M)>,
    head: usize,
    len: usize,
}

impl<M: Copy> SlotRing<M> {
    /// A ring of `slots` slots of `slot_size` bytes each (both may be zero); `blank` fills the
    /// metadata of empty slots.
    pub(crate) fn new(slots: usize, slot_size: usize, blank: M) -> Self {
        SlotRing {
            data: vec![0; slots.saturating_mul(slot_size)],
            slot_size,
            meta: vec![(0, blank); slots],
            head: 0,
            len: 0,
        }
    }

    pub(crate) fn capacity(&self) -> usize {
        self.meta.len()
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_full(&self) -> bool {
        self.len == self.capacity()
    }

    /// Lends the next free slot (exactly `slot_size` bytes) to `write`, which returns how many
    /// bytes it used (clamped to the slot size), or `None` to abandon the push.
    pub(crate) fn push_with(
        &mut self,
        meta: M,
        write: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) -> Result<(), PushError> {
        if self.is_full() {
            return Err(PushError::Full);
        }
        let idx = (self.head + self.len) % self.capacity();
        let start = idx * self.slot_size;
        let slot = &mut self.data[start..start + self.slot_size];
        let used = write(slot).ok_or(PushError::Rejected)?.min(self.slot_size);
        self.meta[idx] = (used, meta);
        self.len += 1;
        Ok(())
    }

    /// The oldest entry, if any.
    pub(crate) fn front(&self) -> Option<(M, &[u8])> {
        if self.len == 0 {
            return None;
        }
        let (used, meta) = self.meta[self.head];
        let start = self.head * self.slot_size;
        Some((meta, &self.data[start..start + used]))
    }

    /// Removes the oldest entry; false if there was none.
    pub(crate) fn pop(&mut self) -> bool {
        if self.len == 0 {
            return false;
        }
        self.head = (self.head + 1) % self.capacity();
        self.len -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_wraps_and_bounds() {
        let mut r: SlotRing<u16> = SlotRing::new(3, 4, 0);
        for i in 0..3u16 {
            let b = i as u8;
            r.push_with(i, |s| {
                s[..2].copy_from_slice(&[b, b]);
                Some(2)
            })
            .unwrap();
        }
        assert_eq!(r.push_with(9, |_| Some(1)), Err(PushError::Full));
        assert_eq!(r.front(), Some((0, &[0u8, 0][..])));
        assert!(r.pop());
        r.push_with(7, |s| {
            s.copy_from_slice(&[7; 4]);
            Some(100) // clamped to the slot
        })
        .unwrap();
        let mut out = Vec::new();
        while let Some((m, d)) = r.front() {
            out.push((m, d.to_vec()));
            r.pop();
        }
        assert_eq!(out, vec![(1, vec![1, 1]), (2, vec![2, 2]), (7, vec![7; 4])]);
        assert!(!r.pop());
        assert_eq!(r.push_with(1, |_| None), Err(PushError::Rejected));
        assert_eq!(r.len(), 0);
    }

    #[test]
    fn zero_slots_is_always_full() {
        let mut r: SlotRing<()> = SlotRing::new(0, 100, ());
        assert_eq!(r.push_with((), |_| Some(1)), Err(PushError::Full));
        assert!(r.front().is_none());
    }
}
