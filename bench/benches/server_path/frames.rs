//! A batch of frames in one preallocated block, as a driver's RX or TX ring lends them: a
//! fixed number of fixed-size slots, reused every batch, so neither side of the benchmark
//! allocates per frame.

/// Bytes per slot: the largest Ethernet frame at MTU 1500, rounded up.
pub const SLOT: usize = 2048;

/// Up to `capacity` frames of at most [`SLOT`] bytes each.
pub struct FrameBatch {
    data: Vec<u8>,
    lens: Vec<usize>,
    capacity: usize,
}

impl FrameBatch {
    pub fn new(capacity: usize) -> FrameBatch {
        FrameBatch { data: vec![0; capacity * SLOT], lens: Vec::with_capacity(capacity), capacity }
    }

    pub fn clear(&mut self) {
        self.lens.clear();
    }

    pub fn len(&self) -> usize {
        self.lens.len()
    }

    pub fn is_full(&self) -> bool {
        self.lens.len() == self.capacity
    }

    /// The next free slot, whole; [`commit`](Self::commit) keeps what was written into it.
    /// `None` when the batch is full.
    pub fn slot(&mut self) -> Option<&mut [u8]> {
        let i = self.lens.len();
        (i < self.capacity).then(|| &mut self.data[i * SLOT..(i + 1) * SLOT])
    }

    /// Keeps the first `len` bytes of the slot [`slot`](Self::slot) lent.
    pub fn commit(&mut self, len: usize) {
        assert!(len <= SLOT && !self.is_full(), "frame of {len} bytes past the batch");
        self.lens.push(len);
    }

    pub fn frame(&self, i: usize) -> &[u8] {
        &self.data[i * SLOT..i * SLOT + self.lens[i]]
    }

    pub fn frames(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        (0..self.len()).map(|i| self.frame(i))
    }
}
