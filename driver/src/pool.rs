//! Frame pools: who owns each buffer, and (for in-memory devices) the buffers themselves.
//!
//! [`FramePool`] is only bookkeeping — a free stack and one state byte per frame — so it
//! serves the AF_XDP UMEM and the heap-backed devices alike. The state byte makes a double
//! release or the release of a frame the caller does not own a counted no-op instead of a
//! corrupted free list (which, in a UMEM, would hand one buffer to the kernel twice).

use crate::device::FrameId;

/// Who owns a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameState {
    /// In the pool's free stack.
    Free,
    /// Lent to the caller (in an RX batch or as a TX buffer).
    Lent,
    /// Held by the device: queued for TX, in a kernel ring, on the wire, in a delay line.
    Device,
}

/// Free-list bookkeeping for `n` frames. Allocation and release are O(1).
#[derive(Debug, Clone)]
pub struct FramePool {
    free: Vec<u32>,
    state: Vec<FrameState>,
    misuse: u64,
}

impl FramePool {
    /// A pool of `n` frames, all free.
    pub fn new(n: u32) -> Self {
        FramePool {
            free: (0..n).rev().collect(),
            state: vec![FrameState::Free; n as usize],
            misuse: 0,
        }
    }

    /// Total frames.
    pub fn capacity(&self) -> usize {
        self.state.len()
    }

    /// Free frames.
    pub fn available(&self) -> usize {
        self.free.len()
    }

    /// A free frame, now in state `to`.
    pub fn alloc(&mut self, to: FrameState) -> Option<FrameId> {
        let i = self.free.pop()?;
        if let Some(s) = self.state.get_mut(i as usize) {
            *s = to;
        }
        Some(FrameId(i))
    }

    /// The state of a frame (`None` if out of range).
    pub fn state(&self, id: FrameId) -> Option<FrameState> {
        self.state.get(id.index()).copied()
    }

    /// Moves a frame from state `from` to `to` (never to or from `Free`: use `alloc`/`free`).
    /// False, counted as misuse, if it was not in `from`.
    pub fn transition(&mut self, id: FrameId, from: FrameState, to: FrameState) -> bool {
        match self.state.get_mut(id.index()) {
            Some(s) if *s == from => {
                *s = to;
                true
            }
            _ => {
                self.misuse += 1;
                false
            }
        }
    }

    /// Returns a frame in state `from` to the free stack. False, counted as misuse, if it was
    /// not in `from` (a double release, or a handle that is not ours).
    pub fn free(&mut self, id: FrameId, from: FrameState) -> bool {
        if !self.transition(id, from, FrameState::Free) {
            return false;
        }
        self.free.push(id.0);
        true
    }

    /// Releases or transitions refused because the frame was not in the expected state.
    pub fn misuse(&self) -> u64 {
        self.misuse
    }
}

/// A pool with its buffers on the heap: `n` frames of `frame_size` bytes, allocated once.
#[derive(Debug, Clone)]
pub struct HeapFrames {
    pool: FramePool,
    mem: Vec<u8>,
    lens: Vec<usize>,
    frame_size: usize,
}

impl HeapFrames {
    /// `n` frames of `frame_size` bytes each.
    pub fn new(n: u32, frame_size: usize) -> Self {
        HeapFrames {
            pool: FramePool::new(n),
            mem: vec![0; n as usize * frame_size],
            lens: vec![0; n as usize],
            frame_size,
        }
    }

    /// The bookkeeping.
    pub fn pool(&self) -> &FramePool {
        &self.pool
    }

    /// The bookkeeping, mutable.
    pub fn pool_mut(&mut self) -> &mut FramePool {
        &mut self.pool
    }

    /// Bytes per frame.
    pub fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// Allocates a frame in state `to`, with its length set to the full capacity.
    pub fn alloc(&mut self, to: FrameState) -> Option<FrameId> {
        let id = self.pool.alloc(to)?;
        if let Some(l) = self.lens.get_mut(id.index()) {
            *l = self.frame_size;
        }
        Some(id)
    }

    /// Allocates a frame in state `to` holding a copy of `data` (truncated to the frame size).
    pub fn alloc_copy(&mut self, to: FrameState, data: &[u8]) -> Option<FrameId> {
        let id = self.alloc(to)?;
        let n = data.len().min(self.frame_size);
        self.full_mut(id)[..n].copy_from_slice(&data[..n]);
        self.set_len(id, n);
        Some(id)
    }

    /// Sets a frame's data length (clamped to the frame size).
    pub fn set_len(&mut self, id: FrameId, len: usize) {
        if let Some(l) = self.lens.get_mut(id.index()) {
            *l = len.min(self.frame_size);
        }
    }

    /// A frame's data, up to its length (empty for an out-of-range handle).
    pub fn data(&self, id: FrameId) -> &[u8] {
        let len = self.lens.get(id.index()).copied().unwrap_or(0);
        let start = id.index() * self.frame_size;
        self.mem.get(start..start + len).unwrap_or(&[])
    }

    /// A frame's data, writable.
    pub fn data_mut(&mut self, id: FrameId) -> &mut [u8] {
        let len = self.lens.get(id.index()).copied().unwrap_or(0);
        let start = id.index() * self.frame_size;
        self.mem.get_mut(start..start + len).unwrap_or(&mut [])
    }

    /// Makes `to` a copy of `from` (data and length).
    pub fn copy_frame(&mut self, from: FrameId, to: FrameId) {
        let len = self.lens.get(from.index()).copied().unwrap_or(0);
        let (src, dst) = (from.index() * self.frame_size, to.index() * self.frame_size);
        if src + len <= self.mem.len() && dst + len <= self.mem.len() {
            self.mem.copy_within(src..src + len, dst);
            self.set_len(to, len);
        }
    }

    /// A frame's whole capacity, writable.
    pub fn full_mut(&mut self, id: FrameId) -> &mut [u8] {
        let start = id.index() * self.frame_size;
        self.mem.get_mut(start..start + self.frame_size).unwrap_or(&mut [])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn double_free_is_refused_and_counted() {
        let mut p = FramePool::new(2);
        let a = p.alloc(FrameState::Lent).expect("two free frames");
        assert!(p.free(a, FrameState::Lent));
        assert!(!p.free(a, FrameState::Lent));
        assert_eq!(p.misuse(), 1);
        assert_eq!(p.available(), 2);
    }

    #[test]
    fn exhaustion_and_refill() {
        let mut p = FramePool::new(3);
        let ids: Vec<_> = (0..3).filter_map(|_| p.alloc(FrameState::Device)).collect();
        assert_eq!(ids.len(), 3);
        assert!(p.alloc(FrameState::Device).is_none());
        assert!(p.free(ids[1], FrameState::Device));
        assert_eq!(p.alloc(FrameState::Lent), Some(ids[1]));
    }

    #[test]
    fn heap_frames_copy_and_truncate() {
        let mut h = HeapFrames::new(2, 8);
        let id = h.alloc_copy(FrameState::Lent, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]).expect("free");
        assert_eq!(h.data(id), &[1, 2, 3, 4, 5, 6, 7, 8]);
        h.set_len(id, 3);
        assert_eq!(h.data(id), &[1, 2, 3]);
    }
}
