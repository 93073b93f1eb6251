//! Fixed-capacity byte ring used for both the send and the receive buffer, and the pool that
//! recycles their storage between connections.
//!
//! The storage is taken once, when the connection is created, and never on the packet path.
//! It comes from a [`BufferPool`]: a connection-rate workload opens and closes thousands of
//! connections a second, and a fresh 256 KiB allocation per ring (zeroed, page-faulted in,
//! given back to the kernel on free) cost more than the whole TCP exchange.
//! Bytes are addressed by offset from the ring's head (the oldest byte still held). Access is
//! zero-copy: readers get up to two slices (the ring may wrap), writers get up to two mutable
//! slices of free space and then `commit` what they filled.

/// A byte ring of fixed capacity.
#[derive(Debug, Clone)]
pub struct RingBuffer {
    storage: Box<[u8]>,
    /// Index in `storage` of the first byte held.
    head: usize,
    /// Number of committed bytes held, starting at `head`.
    len: usize,
}

impl RingBuffer {
    /// A ring of `capacity` bytes (the only allocation it ever makes).
    pub fn new(capacity: usize) -> Self {
        RingBuffer::from_storage(vec![0u8; capacity].into_boxed_slice())
    }

    /// An empty ring over `storage`, whose old contents are never read: only committed bytes
    /// (and, on the receive side, ranges the reassembly has filled) are.
    fn from_storage(storage: Box<[u8]>) -> Self {
        RingBuffer { storage, head: 0, len: 0 }
    }

    /// A ring of no capacity, holding no memory (a connection whose buffers went back to the
    /// pool).
    pub fn empty() -> Self {
        RingBuffer::from_storage(Box::default())
    }

    /// Total capacity.
    pub fn capacity(&self) -> usize {
        self.storage.len()
    }

    /// Committed bytes held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no committed bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Free bytes after the committed ones.
    pub fn free(&self) -> usize {
        self.capacity() - self.len
    }

    /// Storage index of logical offset `offset` (which must be `< capacity`).
    fn index(&self, offset: usize) -> usize {
        let cap = self.capacity();
        let i = self.head + offset;
        if i >= cap {
            i - cap
        } else {
            i
        }
    }

    /// Up to `len` bytes starting `offset` bytes after the head, as two slices (the second is
    /// empty unless the range wraps). The range is clamped to the capacity, so it may include
    /// bytes not yet committed (the receive path uses this for out-of-order data).
    pub fn slices_at(&self, offset: usize, len: usize) -> (&[u8], &[u8]) {
        let cap = self.capacity();
        if offset >= cap {
            return (&[], &[]);
        }
        let len = len.min(cap - offset);
        let start = self.index(offset);
        let first = len.min(cap - start);
        (&self.storage[start..start + first], &self.storage[..len - first])
    }

    /// The committed bytes, oldest first, as two slices.
    pub fn readable(&self) -> (&[u8], &[u8]) {
        self.slices_at(0, self.len)
    }

    /// Drops `n` committed bytes from the head (clamped to `len`); returns how many.
    pub fn consume(&mut self, n: usize) -> usize {
        // The head never jumps back to index 0 when the ring empties: the receive path keeps
        // out-of-order bytes beyond `len`, and they must stay at their offsets.
        let n = n.min(self.len);
        if n > 0 {
            self.head = self.index(n);
        }
        self.len -= n;
        n
    }

    /// The free space after the committed bytes, as two mutable slices.
    pub fn writable(&mut self) -> (&mut [u8], &mut [u8]) {
        let cap = self.capacity();
        let free = self.free();
        if free == 0 {
            return (&mut [], &mut []);
        }
        let start = self.index(self.len);
        let first = free.min(cap - start);
        let second = free - first;
        let (lo, hi) = self.storage.split_at_mut(start);
        (&mut hi[..first], &mut lo[..second])
    }

    /// Marks `n` bytes of the free space (filled through [`writable`](Self::writable) or
    /// [`write_at`](Self::write_at)) as committed; clamped to the free space. Returns how many.
    pub fn commit(&mut self, n: usize) -> usize {
        let n = n.min(self.free());
        self.len += n;
        n
    }

    /// Copies `data` into the ring `offset` bytes after the head, without committing it.
    /// Only the part that fits in the free space after `len` is written (bytes at offsets below
    /// `len` are committed and never overwritten). Returns the number of bytes of `data`
    /// written, counted from the start of `data`'s in-space part.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        let cap = self.capacity();
        if offset < self.len || offset >= cap {
            return 0;
        }
        let n = data.len().min(cap - offset);
        let start = self.index(offset);
        let first = n.min(cap - start);
        self.storage[start..start + first].copy_from_slice(&data[..first]);
        self.storage[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Copies as much of `data` as fits into the free space and commits it.
    pub fn enqueue(&mut self, data: &[u8]) -> usize {
        let n = self.write_at(self.len, data);
        self.commit(n)
    }

    /// Copies up to `out.len()` committed bytes out and consumes them.
    pub fn dequeue(&mut self, out: &mut [u8]) -> usize {
        let (a, b) = self.readable();
        let n = out.len().min(a.len() + b.len());
        let first = n.min(a.len());
        out[..first].copy_from_slice(&a[..first]);
        out[first..n].copy_from_slice(&b[..n - first]);
        self.consume(n)
    }
}

/// Storage of finished connections' rings, handed to new ones of the same capacity.
///
/// Bounded by bytes: past `limit` a returned ring is freed, so a burst of connections does not
/// pin its peak memory for good. Only a few capacities exist (the stack default and what
/// listeners set), so the per-capacity lists are searched linearly.
#[derive(Debug, Default)]
pub struct BufferPool {
    free: Vec<(usize, Vec<Box<[u8]>>)>,
    bytes: usize,
    limit: usize,
    counters: BufferPoolCounters,
}

/// What the pool did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BufferPoolCounters {
    /// Rings made with a fresh allocation.
    pub allocated: u64,
    /// Rings made from a finished connection's storage.
    pub reused: u64,
    /// Storage freed because the pool was at its limit.
    pub released: u64,
}

impl BufferPool {
    /// A pool that keeps at most `limit` bytes of idle storage.
    pub fn new(limit: usize) -> Self {
        BufferPool { limit, ..BufferPool::default() }
    }

    /// A ring of `capacity` bytes: recycled storage if there is some, else a new allocation.
    pub fn take(&mut self, capacity: usize) -> RingBuffer {
        if let Some((_, list)) = self.free.iter_mut().find(|(c, _)| *c == capacity) {
            if let Some(storage) = list.pop() {
                self.bytes -= capacity;
                self.counters.reused += 1;
                return RingBuffer::from_storage(storage);
            }
        }
        self.counters.allocated += 1;
        RingBuffer::new(capacity)
    }

    /// Takes back a ring that no connection uses any more.
    pub fn give(&mut self, ring: RingBuffer) {
        let capacity = ring.capacity();
        if capacity == 0 {
            return;
        }
        if self.bytes + capacity > self.limit {
            self.counters.released += 1;
            return;
        }
        self.bytes += capacity;
        match self.free.iter_mut().find(|(c, _)| *c == capacity) {
            Some((_, list)) => list.push(ring.storage),
            None => self.free.push((capacity, vec![ring.storage])),
        }
    }

    /// Idle bytes held.
    pub fn idle_bytes(&self) -> usize {
        self.bytes
    }

    /// Counters.
    pub fn counters(&self) -> BufferPoolCounters {
        self.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_reads_back_in_order() {
        let mut r = RingBuffer::new(8);
        assert_eq!(r.enqueue(b"abcdef"), 6);
        assert_eq!(r.consume(4), 4);
        assert_eq!(r.enqueue(b"ghijklmn"), 6); // only 6 free
        assert_eq!(r.len(), 8);
        let (a, b) = r.readable();
        let all: Vec<u8> = a.iter().chain(b).copied().collect();
        assert_eq!(all, b"efghijkl");
        assert!(!b.is_empty(), "this layout must wrap");
        let (a, b) = r.slices_at(3, 4);
        let part: Vec<u8> = a.iter().chain(b).copied().collect();
        assert_eq!(part, b"hijk");
        let mut out = [0u8; 5];
        assert_eq!(r.dequeue(&mut out), 5);
        assert_eq!(&out, b"efghi");
        assert_eq!(r.len(), 3);
    }

    #[test]
    fn writable_slices_and_commit() {
        let mut r = RingBuffer::new(6);
        r.enqueue(b"xxxx");
        r.consume(3);
        {
            let (a, b) = r.writable();
            assert_eq!(a.len() + b.len(), 5);
            assert_eq!(a.len(), 2);
            a.copy_from_slice(b"12");
            b[..1].copy_from_slice(b"3");
        }
        assert_eq!(r.commit(3), 3);
        let (a, b) = r.readable();
        let all: Vec<u8> = a.iter().chain(b).copied().collect();
        assert_eq!(all, b"x123");
    }

    #[test]
    fn write_at_never_overwrites_committed() {
        let mut r = RingBuffer::new(8);
        r.enqueue(b"abc");
        assert_eq!(r.write_at(1, b"zz"), 0);
        assert_eq!(r.write_at(5, b"567"), 3);
        assert_eq!(r.write_at(7, b"78"), 1);
        assert_eq!(r.write_at(3, b"34"), 2);
        assert_eq!(r.commit(5), 5);
        let (a, b) = r.readable();
        let all: Vec<u8> = a.iter().chain(b).copied().collect();
        assert_eq!(all, b"abc34567");
        assert_eq!(r.commit(1), 0);
    }

    #[test]
    fn pool_recycles_storage_of_the_same_capacity_without_old_bytes_showing() {
        let mut pool = BufferPool::new(1 << 20);
        let mut a = pool.take(1024);
        a.enqueue(b"secret");
        let ptr = a.slices_at(0, 1).0.as_ptr();
        pool.give(a);
        assert_eq!(pool.idle_bytes(), 1024);
        let b = pool.take(1024);
        assert_eq!(b.slices_at(0, 1).0.as_ptr(), ptr, "the same storage");
        assert_eq!((b.len(), b.free()), (0, 1024), "but an empty ring");
        let c = pool.take(2048);
        assert_eq!(c.capacity(), 2048);
        assert_eq!(pool.counters(), BufferPoolCounters { allocated: 2, reused: 1, released: 0 });
    }

    #[test]
    fn pool_frees_beyond_its_limit_and_ignores_empty_rings() {
        let mut pool = BufferPool::new(3000);
        for _ in 0..3 {
            let r = RingBuffer::new(1024);
            pool.give(r);
        }
        pool.give(RingBuffer::empty());
        assert_eq!(pool.idle_bytes(), 2048);
        assert_eq!(pool.counters().released, 1);
    }
}
