//! Two in-memory device ends joined by a wire: what one end transmits, the other receives.
//!
//! Each end owns its frame pool (as two hosts own their NIC memory), and the wire holds a
//! bounded number of frames in flight per direction, in preallocated slots; a frame sent into
//! a full wire is dropped and counted, as a full NIC queue would. The wire sits behind a mutex
//! so the two ends may live on different threads.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use xdptcp_stack::iface::DeviceCaps;
use xdptcp_stack::time::Instant;

use crate::device::{Device, FrameId, FrameList};
use crate::pool::{FrameState, HeapFrames};

/// One direction of the wire.
#[derive(Debug)]
struct Lane {
    slots: HeapFrames,
    queue: VecDeque<FrameId>,
    dropped: u64,
}

#[derive(Debug)]
struct Wire {
    /// `lanes[i]` carries frames sent by end `i`.
    lanes: [Lane; 2],
}

/// Constructor of a connected pair.
#[derive(Debug, Clone, Copy)]
pub struct LoopbackPair {
    /// Capabilities both ends report.
    pub caps: DeviceCaps,
    /// Frames in each end's pool.
    pub frames: u32,
    /// Bytes per frame; must hold `caps.max_frame_len()`.
    pub frame_size: usize,
    /// Frames in flight per direction before the wire drops.
    pub wire_slots: u32,
    /// Frames per batch.
    pub batch: usize,
}

impl Default for LoopbackPair {
    fn default() -> Self {
        LoopbackPair {
            caps: DeviceCaps::ethernet(1500),
            frames: 256,
            frame_size: 2048,
            wire_slots: 256,
            batch: crate::device::DEFAULT_BATCH,
        }
    }
}

impl LoopbackPair {
    /// Builds the two connected ends.
    pub fn build(self) -> (LoopbackEnd, LoopbackEnd) {
        let frame_size = self.frame_size.max(self.caps.max_frame_len());
        let lane = || Lane {
            slots: HeapFrames::new(self.wire_slots, frame_size),
            queue: VecDeque::with_capacity(self.wire_slots as usize),
            dropped: 0,
        };
        let wire = Arc::new(Mutex::new(Wire { lanes: [lane(), lane()] }));
        let end = |side| LoopbackEnd {
            wire: Arc::clone(&wire),
            side,
            frames: HeapFrames::new(self.frames, frame_size),
            caps: self.caps,
            batch: self.batch,
            rx_frames: 0,
            tx_frames: 0,
        };
        (end(0), end(1))
    }
}

/// One end of a [`LoopbackPair`].
#[derive(Debug)]
pub struct LoopbackEnd {
    wire: Arc<Mutex<Wire>>,
    side: usize,
    frames: HeapFrames,
    caps: DeviceCaps,
    batch: usize,
    rx_frames: u64,
    tx_frames: u64,
}

impl LoopbackEnd {
    fn wire(&self) -> MutexGuard<'_, Wire> {
        // A panic while holding the lock cannot leave the wire inconsistent (every update is a
        // single push or pop), so a poisoned lock is still usable.
        self.wire.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Frames this end has received.
    pub fn rx_frames(&self) -> u64 {
        self.rx_frames
    }

    /// Frames this end has put on the wire.
    pub fn tx_frames(&self) -> u64 {
        self.tx_frames
    }

    /// Frames this end sent that the wire dropped because it was full.
    pub fn wire_dropped(&self) -> u64 {
        self.wire().lanes[self.side].dropped
    }

    /// Frames of this end's pool that are free (for leak checks).
    pub fn free_frames(&self) -> usize {
        self.frames.pool().available()
    }

    /// Frames waiting on the wire towards this end.
    pub fn in_flight_to_me(&self) -> usize {
        self.wire().lanes[1 - self.side].queue.len()
    }

    /// Frames this end sent that the other end has not received yet.
    pub fn in_flight_from_me(&self) -> usize {
        self.wire().lanes[self.side].queue.len()
    }
}

impl Device for LoopbackEnd {
    fn caps(&self) -> DeviceCaps {
        self.caps
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn receive(&mut self, _now: Instant, out: &mut FrameList) {
        let wire = Arc::clone(&self.wire);
        let mut wire = wire.lock().unwrap_or_else(|p| p.into_inner());
        let lane = &mut wire.lanes[1 - self.side];
        while out.remaining() > 0 {
            let Some(&slot) = lane.queue.front() else { break };
            let Some(id) = self.frames.alloc_copy(FrameState::Lent, lane.slots.data(slot)) else {
                break; // our pool is empty: the frames wait on the wire
            };
            lane.queue.pop_front();
            lane.slots.pool_mut().free(slot, FrameState::Device);
            out.push(id);
            self.rx_frames += 1;
        }
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        self.frames.data(id)
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        self.frames.data_mut(id)
    }

    fn release(&mut self, id: FrameId) {
        self.frames.pool_mut().free(id, FrameState::Lent);
    }

    fn allocate(&mut self, _now: Instant) -> Option<FrameId> {
        self.frames.alloc(FrameState::Lent)
    }

    fn transmit(&mut self, _now: Instant, id: FrameId, len: usize) {
        if self.frames.pool().state(id) != Some(FrameState::Lent) {
            self.frames.pool_mut().free(id, FrameState::Lent); // counts the misuse
            return;
        }
        self.frames.set_len(id, len);
        let wire = Arc::clone(&self.wire);
        let mut wire = wire.lock().unwrap_or_else(|p| p.into_inner());
        let lane = &mut wire.lanes[self.side];
        match lane.slots.alloc_copy(FrameState::Device, self.frames.data(id)) {
            Some(slot) => {
                lane.queue.push_back(slot);
                self.tx_frames += 1;
            }
            None => lane.dropped += 1,
        }
        self.frames.pool_mut().free(id, FrameState::Lent);
    }

    fn flush(&mut self, _now: Instant) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(frames: u32, wire_slots: u32) -> (LoopbackEnd, LoopbackEnd) {
        LoopbackPair { frames, wire_slots, ..LoopbackPair::default() }.build()
    }

    fn send(dev: &mut LoopbackEnd, payload: &[u8]) {
        let mut tx = dev.tx_batch(Instant::ZERO);
        let mut buf = tx.buffer().expect("a free buffer");
        buf[..payload.len()].copy_from_slice(payload);
        buf.send(payload.len());
    }

    #[test]
    fn frames_cross_in_order_and_buffers_come_home() {
        let (mut a, mut b) = pair(8, 8);
        for i in 0..5u8 {
            send(&mut a, &[i, i, i]);
        }
        assert_eq!(a.free_frames(), 8);
        let mut ids = FrameList::default();
        let rx = b.rx_batch(Instant::ZERO, &mut ids);
        assert_eq!(rx.len(), 5);
        for (i, f) in rx.iter().enumerate() {
            assert_eq!(f, &[i as u8; 3]);
        }
        assert_eq!(rx.device().free_frames(), 3, "five frames are lent to the batch");
        drop(rx);
        assert_eq!(b.free_frames(), 8);
    }

    #[test]
    fn dropped_tx_buffer_returns_to_pool() {
        let (mut a, mut b) = pair(4, 4);
        {
            let mut tx = a.tx_batch(Instant::ZERO);
            let bufs_seen = {
                let mut n = 0;
                while let Some(mut buf) = tx.buffer() {
                    buf[0] = 1;
                    n += 1;
                    if n > 10 {
                        break;
                    }
                    // dropped unsent at the end of each iteration
                }
                n
            };
            assert!(bufs_seen > 10, "unsent buffers must come back, so the pool never empties");
            assert_eq!(tx.sent(), 0);
        }
        assert_eq!(a.free_frames(), 4);
        assert_eq!(a.tx_frames(), 0);
        assert!(b.rx_batch(Instant::ZERO, &mut FrameList::default()).is_empty());
    }

    #[test]
    fn rx_batch_is_bounded_by_batch_size() {
        let (mut a, mut b) = LoopbackPair { batch: 3, ..LoopbackPair::default() }.build();
        for i in 0..7u8 {
            send(&mut a, &[i]);
        }
        let sizes: Vec<usize> =
            (0..4).map(|_| b.rx_batch(Instant::ZERO, &mut FrameList::default()).len()).collect();
        assert_eq!(sizes, vec![3, 3, 1, 0]);
    }

    #[test]
    fn a_kept_list_holds_each_batch_alone_and_returns_its_frames() {
        let (mut a, mut b) = LoopbackPair { batch: 3, ..LoopbackPair::default() }.build();
        let free = b.free_frames();
        for i in 0..4u8 {
            send(&mut a, &[i]);
        }
        let mut ids = FrameList::with_limit(1);
        let mut seen = Vec::new();
        for _ in 0..3 {
            let rx = b.rx_batch(Instant::ZERO, &mut ids);
            seen.push(rx.iter().map(|f| f[0]).collect::<Vec<_>>());
            // Lent while the batch lives, returned when it drops.
            assert_eq!(rx.device().free_frames() + rx.len(), free);
        }
        // The device's batch size, not the list's old limit; nothing stale from before.
        assert_eq!(seen, vec![vec![0, 1, 2], vec![3], vec![]]);
        assert_eq!(b.free_frames(), free);
    }

    #[test]
    fn full_wire_drops_and_counts() {
        let (mut a, mut b) = pair(8, 2);
        for i in 0..5u8 {
            send(&mut a, &[i]);
        }
        assert_eq!(a.tx_frames(), 2);
        assert_eq!(a.wire_dropped(), 3);
        let mut ids = FrameList::default();
        let rx = b.rx_batch(Instant::ZERO, &mut ids);
        assert_eq!(rx.frame(0), Some(&[0u8][..]));
        assert_eq!(rx.frame(1), Some(&[1u8][..]));
        assert_eq!(rx.frame(2), None);
    }

    #[test]
    fn receiver_pool_exhaustion_leaves_frames_on_the_wire() {
        let (mut a, mut b) = pair(2, 8);
        for i in 0..4u8 {
            send(&mut a, &[i]);
        }
        let mut ids = FrameList::default();
        let rx = b.rx_batch(Instant::ZERO, &mut ids);
        assert_eq!(rx.len(), 2);
        assert_eq!(rx.device().in_flight_to_me(), 2);
        drop(rx);
        let mut ids = FrameList::default();
        let rx = b.rx_batch(Instant::ZERO, &mut ids);
        assert_eq!(rx.iter().map(|f| f[0]).collect::<Vec<_>>(), vec![2, 3]);
    }
}
