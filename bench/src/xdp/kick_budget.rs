//! [`KickBudget`]: a test device that, like an AF_XDP socket in copy mode, sends at most a
//! fixed number of queued frames per [`Device::flush`] (the kernel's per-`sendto` TX budget,
//! 32 frames by default); the rest wait on the "TX ring" for the next flush. The loopback
//! wire alone delivers every frame at once and so cannot show a loop that stops kicking.

use std::collections::VecDeque;

use xdptcp_driver::device::{Device, FrameId, FrameList};
use xdptcp_stack::iface::DeviceCaps;
use xdptcp_stack::time::Instant;

/// `inner` with transmissions released `budget` frames per flush.
#[derive(Debug)]
pub struct KickBudget<D> {
    pub inner: D,
    budget: usize,
    /// Frames transmitted and not yet passed on: still lent in `inner`'s pool.
    ring: VecDeque<(FrameId, usize)>,
}

impl<D: Device> KickBudget<D> {
    pub fn new(inner: D, budget: usize) -> Self {
        KickBudget { inner, budget, ring: VecDeque::new() }
    }

    /// Frames waiting for a flush.
    pub fn queued(&self) -> usize {
        self.ring.len()
    }
}

impl<D: Device> Device for KickBudget<D> {
    fn caps(&self) -> DeviceCaps {
        self.inner.caps()
    }

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    fn receive(&mut self, now: Instant, out: &mut FrameList) {
        self.inner.receive(now, out)
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        self.inner.frame(id)
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        self.inner.frame_mut(id)
    }

    fn release(&mut self, id: FrameId) {
        self.inner.release(id)
    }

    fn allocate(&mut self, now: Instant) -> Option<FrameId> {
        self.inner.allocate(now)
    }

    fn transmit(&mut self, _now: Instant, id: FrameId, len: usize) {
        self.ring.push_back((id, len));
    }

    fn flush(&mut self, now: Instant) {
        for _ in 0..self.budget {
            let Some((id, len)) = self.ring.pop_front() else { break };
            self.inner.transmit(now, id, len);
        }
        self.inner.flush(now);
    }
}
