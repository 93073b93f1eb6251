//! The ready queues: connections waiting for a turn in `poll_transmit` or `poll_event`.
//!
//! A first-in first-out ring of handles whose push is a room test and one store, and whose
//! pop is one increment. `VecDeque` did the same job with its push out of line (25
//! instructions a call, four calls per 64 B round trip) and a wrap test on every index; here
//! the capacity is a power of two, so a position is a free-running counter masked.
//!
//! A connection is on each queue at most once (the socket's `in_tx` / `in_ev` flags), so
//! the ring holds at most the live connections plus the stale handles of connections freed
//! while queued (dropped when they reach the front). It starts at a fixed size and doubles
//! when full, out of line: amortised, as `VecDeque` grew, and never in a steady state.

use crate::flow::FlowHandle;

/// A FIFO of connection handles (see the module documentation).
pub(super) struct ReadyQueue {
    /// The slots; its length is a power of two.
    slots: Box<[FlowHandle]>,
    /// `slots.len() - 1`.
    mask: u32,
    /// Position of the front: free-running, masked to index.
    head: u32,
    /// Position one past the back: free-running; `tail - head` is the length.
    tail: u32,
}

impl ReadyQueue {
    /// An empty queue with room for `capacity` handles (rounded up to a power of two).
    pub(super) fn with_capacity(capacity: usize) -> Self {
        let n = capacity.clamp(1, 1 << 30).next_power_of_two();
        ReadyQueue {
            slots: vec![FlowHandle::new(0, 0); n].into_boxed_slice(),
            mask: (n - 1) as u32,
            head: 0,
            tail: 0,
        }
    }

    /// Whether no handle is waiting.
    #[inline(always)]
    pub(super) fn is_empty(&self) -> bool {
        self.head == self.tail
    }

    /// How many handles are waiting.
    #[inline]
    #[cfg_attr(not(test), allow(dead_code))]
    pub(super) fn len(&self) -> usize {
        self.tail.wrapping_sub(self.head) as usize
    }

    /// The handle at the front, if any.
    #[inline(always)]
    pub(super) fn front(&self) -> Option<FlowHandle> {
        if self.is_empty() {
            return None;
        }
        self.slots.get((self.head & self.mask) as usize).copied()
    }

    /// The waiting handles, front first.
    pub(super) fn iter(&self) -> impl Iterator<Item = FlowHandle> + '_ {
        let len = self.tail.wrapping_sub(self.head);
        (0..len).filter_map(move |i| {
            self.slots.get((self.head.wrapping_add(i) & self.mask) as usize).copied()
        })
    }

    /// Drops the handle at the front (nothing if empty).
    #[inline(always)]
    pub(super) fn pop_front(&mut self) {
        if !self.is_empty() {
            self.head = self.head.wrapping_add(1);
        }
    }

    /// Puts `h` at the back.
    #[inline(always)]
    pub(super) fn push_back(&mut self, h: FlowHandle) {
        if self.tail.wrapping_sub(self.head) > self.mask {
            self.grow();
        }
        if let Some(slot) = self.slots.get_mut((self.tail & self.mask) as usize) {
            *slot = h;
        }
        self.tail = self.tail.wrapping_add(1);
    }

    /// Doubles the ring, keeping the order (the front moves to slot 0).
    #[cold]
    #[inline(never)]
    fn grow(&mut self) {
        let n = self.slots.len();
        let mut slots = vec![FlowHandle::new(0, 0); n * 2].into_boxed_slice();
        for (i, slot) in slots.iter_mut().take(n).enumerate() {
            *slot = self.slots[(self.head as usize).wrapping_add(i) & (n - 1)];
        }
        self.slots = slots;
        self.mask = (n * 2 - 1) as u32;
        self.tail = n as u32;
        self.head = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Pushes and pops in a pattern that wraps the counters and grows the ring several
    /// times, against `VecDeque` as the model.
    #[test]
    fn behaves_as_a_fifo_through_wraps_and_growth() {
        let mut q = ReadyQueue::with_capacity(2);
        // Start the counters near the top, so they wrap during the test.
        q.head = u32::MAX - 5;
        q.tail = q.head;
        let mut model = VecDeque::new();
        let mut next = 0u32;
        for round in 0..200u32 {
            for _ in 0..(round % 7) {
                let h = FlowHandle::new(next, next / 3);
                next += 1;
                q.push_back(h);
                model.push_back(h);
            }
            for _ in 0..(round % 5) {
                assert_eq!(q.front(), model.front().copied());
                q.pop_front();
                model.pop_front();
            }
            assert_eq!(q.len(), model.len());
            assert!(q.iter().eq(model.iter().copied()));
            assert_eq!(q.is_empty(), model.is_empty());
        }
        while let Some(h) = q.front() {
            assert_eq!(Some(h), model.pop_front());
            q.pop_front();
        }
        assert!(model.is_empty());
        q.pop_front();
        assert!(q.is_empty());
    }
}
