//! Per-connection user data, kept by the application layer instead of beside the stack.
//!
//! A [`TcpHandle`] carries a dense slot number and a generation; [`Conns`] is a slab indexed
//! by the slot that stores the handle with each value, so a stale handle (a connection freed
//! and its slot reused) misses instead of reaching the new connection's data — the same check
//! the stack's flow table makes. Insert, lookup and remove are O(1); the slab grows only when a
//! slot number is first seen, so a steady state of connections allocates nothing.

use xdptcp_stack::stack::TcpHandle;

/// Values of type `T`, one per open connection, looked up by handle.
#[derive(Debug)]
pub struct Conns<T> {
    slots: Vec<Option<(TcpHandle, T)>>,
    len: usize,
}

impl<T> Default for Conns<T> {
    fn default() -> Self {
        Conns { slots: Vec::new(), len: 0 }
    }
}

impl<T> Conns<T> {
    /// Stores `value` for `h`, returning what a connection in the same slot had left there
    /// (a stale entry: its connection was freed without being removed).
    pub fn insert(&mut self, h: TcpHandle, value: T) -> Option<T> {
        let i = h.index();
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || None);
        }
        let old = self.slots[i].replace((h, value));
        if old.is_none() {
            self.len += 1;
        }
        old.map(|(_, v)| v)
    }

    /// The value of `h` (`None` for an unknown or stale handle).
    pub fn get(&self, h: TcpHandle) -> Option<&T> {
        match self.slots.get(h.index()) {
            Some(Some((k, v))) if *k == h => Some(v),
            _ => None,
        }
    }

    /// The value of `h`, mutable.
    pub fn get_mut(&mut self, h: TcpHandle) -> Option<&mut T> {
        match self.slots.get_mut(h.index()) {
            Some(Some((k, v))) if *k == h => Some(v),
            _ => None,
        }
    }

    /// Takes the value of `h` out.
    pub fn remove(&mut self, h: TcpHandle) -> Option<T> {
        let slot = self.slots.get_mut(h.index())?;
        if slot.as_ref().is_some_and(|(k, _)| *k == h) {
            self.len -= 1;
            slot.take().map(|(_, v)| v)
        } else {
            None
        }
    }

    /// Whether `h` has a value.
    pub fn contains(&self, h: TcpHandle) -> bool {
        self.get(h).is_some()
    }

    /// Open connections.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether none is open.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The handles with values (a walk over the slots: for shutdown and diagnostics, not the
    /// data path).
    pub fn handles(&self) -> impl Iterator<Item = TcpHandle> + '_ {
        self.slots.iter().flatten().map(|(h, _)| *h)
    }

    /// Every (handle, value) pair (a walk over the slots, as [`handles`](Self::handles)).
    pub fn iter(&self) -> impl Iterator<Item = (TcpHandle, &T)> + '_ {
        self.slots.iter().flatten().map(|(h, v)| (*h, v))
    }

    /// Removes and returns, one at a time, the entries `done` picks (a walk over the slots,
    /// for shutdown only).
    pub fn remove_where(&mut self, mut done: impl FnMut(TcpHandle) -> bool) -> Vec<(TcpHandle, T)> {
        let mut out = Vec::new();
        for slot in &mut self.slots {
            if slot.as_ref().is_some_and(|(h, _)| done(*h)) {
                if let Some(e) = slot.take() {
                    self.len -= 1;
                    out.push(e);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::LoopbackPair;
    use crate::setup::test_stack;
    use std::net::Ipv4Addr;
    use xdptcp_stack::time::Instant;

    #[test]
    fn stale_handles_miss_after_the_slot_is_reused() {
        let (a, _b) = LoopbackPair::default().build();
        let mut stack = test_stack(&a, [2, 0, 0, 0, 0, 1], Ipv4Addr::new(198, 18, 0, 1), 24);
        let peer = Ipv4Addr::new(198, 18, 0, 2);
        let h1 = stack.tcp_connect(Instant::ZERO, peer, 80).expect("connect");
        let mut c = Conns::default();
        assert_eq!(c.insert(h1, "one"), None);
        assert_eq!((c.len(), c.get(h1)), (1, Some(&"one")));
        // Free the connection; the next one reuses its slot with a new generation.
        stack.tcp_abort(h1).expect("abort");
        let h2 = stack.tcp_connect(Instant::ZERO, peer, 80).expect("connect");
        assert_eq!(h1.index(), h2.index(), "slot reused");
        assert_ne!(h1, h2);
        assert_eq!(c.get(h2), None, "the new connection does not see the old data");
        assert_eq!(c.remove(h2), None);
        assert_eq!(c.insert(h2, "two"), Some("one"), "the stale entry is replaced");
        assert_eq!(c.get(h1), None);
        assert_eq!(c.len(), 1);
        assert_eq!(c.remove(h2), Some("two"));
        assert!(c.is_empty());
    }
}
