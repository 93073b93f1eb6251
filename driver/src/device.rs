//! The batch [`Device`] trait and the RAII batches that make buffer ownership explicit.
//!
//! A device owns a pool of fixed-size frame buffers. Every buffer is, at any moment, owned by
//! exactly one party: the pool (free), the device or the kernel (in a ring, on a wire), or the
//! caller (lent in an [`RxBatch`] or as a [`TxBuf`]). Callers never see the raw frame handles:
//!
//! - [`Device::rx_batch`] returns an [`RxBatch`] that lends up to [`MAX_BATCH`] received frames
//!   as `&[u8]`/`&mut [u8]`, their handles in a [`FrameList`] the caller keeps from batch to
//!   batch; dropping the batch gives every frame back to the pool.
//! - [`Device::tx_batch`] returns a [`TxBatch`]; [`TxBatch::buffer`] hands out one free frame
//!   buffer at a time as a [`TxBuf`] (the full frame capacity, as `&mut [u8]`), which is either
//!   [`TxBuf::send`]`(len)` or, if dropped unsent, returned to the pool. Dropping the batch
//!   flushes what was sent (one doorbell per batch, not per frame).
//!
//! smoltcp's `TxToken` could be dropped without being consumed, and leaked the buffer it stood
//! for; here dropping is the *return* path, so a buffer cannot be leaked short of
//! `mem::forget`. Nothing on these paths allocates: a batch's handles are a fixed array, made
//! once and filled again for every batch.

use xdptcp_stack::iface::DeviceCaps;
use xdptcp_stack::time::Instant;

/// Most frames in one batch. Batches default to [`DEFAULT_BATCH`]; devices may use less.
pub const MAX_BATCH: usize = 256;

/// The batch size used unless configured otherwise (a common AF_XDP choice: big enough to
/// amortise a ring update and a syscall, small enough to stay in L1).
pub const DEFAULT_BATCH: usize = 64;

/// Handle of one frame buffer in a device's pool. Only device implementations and the batch
/// types in this module see it; the batches guarantee each lent handle is returned once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FrameId(pub u32);

impl FrameId {
    /// The handle as an index into the device's frame table.
    pub const fn index(self) -> usize {
        self.0 as usize
    }
}

/// A fixed-capacity list of frame handles, filled by [`Device::receive`].
#[derive(Debug, Clone)]
pub struct FrameList {
    ids: [FrameId; MAX_BATCH],
    len: usize,
    limit: usize,
}

impl Default for FrameList {
    /// An empty list of [`MAX_BATCH`] handles at most.
    fn default() -> Self {
        FrameList::with_limit(MAX_BATCH)
    }
}

impl FrameList {
    /// An empty list that accepts up to `limit` handles (capped at [`MAX_BATCH`]).
    pub fn with_limit(limit: usize) -> Self {
        FrameList { ids: [FrameId(0); MAX_BATCH], len: 0, limit: limit.min(MAX_BATCH) }
    }

    /// Empties the list and sets a new limit (capped at [`MAX_BATCH`]), for a list kept and
    /// filled again for every batch: the handles already there are stale, not rewritten.
    pub fn reset(&mut self, limit: usize) {
        self.len = 0;
        self.limit = limit.min(MAX_BATCH);
    }

    /// Room left before the limit.
    pub fn remaining(&self) -> usize {
        self.limit - self.len
    }

    /// Appends a handle; false (and nothing appended) when full — the caller keeps ownership.
    pub fn push(&mut self, id: FrameId) -> bool {
        if self.len >= self.limit {
            return false;
        }
        self.ids[self.len] = id;
        self.len += 1;
        true
    }

    /// Handles in the list.
    pub fn as_slice(&self) -> &[FrameId] {
        &self.ids[..self.len]
    }

    /// Number of handles.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// A device that moves Ethernet (or raw IP) frames in batches.
///
/// The required methods are the implementor's side of the contract and deal in raw
/// [`FrameId`]s; applications use the provided [`rx_batch`](Device::rx_batch) and
/// [`tx_batch`](Device::tx_batch), which return every handle exactly once.
///
/// Time is always passed in (`now`); a device never reads a clock, so wrappers such as the
/// fault injector run the same in virtual and in real time.
pub trait Device {
    /// What the device does for the stack (MTU, checksum offloads, medium).
    fn caps(&self) -> DeviceCaps;

    /// Frames per batch this device prefers.
    fn batch_size(&self) -> usize {
        DEFAULT_BATCH
    }

    /// Moves received frames to `out`, as many as `out` has room for. Each pushed handle is
    /// now owned by the caller until [`release`](Device::release).
    fn receive(&mut self, now: Instant, out: &mut FrameList);

    /// The bytes of a frame the caller owns: received data, or for a TX buffer its whole
    /// capacity.
    fn frame(&self, id: FrameId) -> &[u8];

    /// The same, writable.
    fn frame_mut(&mut self, id: FrameId) -> &mut [u8];

    /// Gives a frame the caller owns back to the pool.
    fn release(&mut self, id: FrameId);

    /// A free buffer for transmission (its whole capacity lent), or `None` when the pool is
    /// empty (frames are all in flight).
    fn allocate(&mut self, now: Instant) -> Option<FrameId>;

    /// Queues the first `len` bytes of an allocated buffer for transmission; ownership passes
    /// to the device. `len` larger than the buffer is clamped to it. The frame follows
    /// [`caps`](Device::caps): where TCP/UDP transmit checksums are offloaded, its checksum
    /// field holds the pseudo-header seed the stack writes, not a finished checksum.
    fn transmit(&mut self, now: Instant, id: FrameId, len: usize);

    /// Pushes queued transmissions to the medium (ring doorbell, syscall kick) and reclaims
    /// completed buffers. Called once per TX batch.
    fn flush(&mut self, now: Instant);

    /// The earliest instant at which the device has timed work of its own (a delayed frame
    /// falling due in a fault injector); `None` for devices driven only by I/O. A caller that
    /// sleeps must wake by then.
    fn poll_at(&self) -> Option<Instant> {
        None
    }

    /// Blocks until a frame may have arrived or `timeout` has passed, whichever comes first:
    /// what an idle worker does instead of spinning ([`IdlePolicy`](crate::worker::IdlePolicy)).
    /// The default, for devices with nothing to wait on, sleeps for `timeout`; the AF_XDP
    /// device sleeps in `ppoll` on its socket, which the kernel wakes when a frame lands on
    /// the RX ring. Spurious returns are allowed: the caller polls the rings anyway.
    fn wait(&mut self, timeout: std::time::Duration) {
        std::thread::sleep(timeout);
    }

    /// Receives a batch of up to [`batch_size`](Device::batch_size) frames into `ids` (what
    /// it held is dropped). The list is the caller's, kept from batch to batch: a
    /// busy-polling worker turns far more often than frames arrive, and a fresh list every
    /// turn was a kilobyte zeroed and then moved into the batch, some 200 instructions
    /// (docs/benchmarks.md, "The worker's empty turn").
    fn rx_batch<'d>(&'d mut self, now: Instant, ids: &'d mut FrameList) -> RxBatch<'d, Self>
    where
        Self: Sized,
    {
        ids.reset(self.batch_size());
        self.receive(now, ids);
        RxBatch { dev: self, ids }
    }

    /// Opens a transmit batch; it is flushed when dropped.
    fn tx_batch(&mut self, now: Instant) -> TxBatch<'_, Self>
    where
        Self: Sized,
    {
        let limit = self.batch_size();
        TxBatch { dev: self, now, sent: 0, limit }
    }
}

/// Received frames lent to the caller; all return to the pool when the batch is dropped.
pub struct RxBatch<'d, D: Device> {
    dev: &'d mut D,
    ids: &'d mut FrameList,
}

impl<D: Device> RxBatch<'_, D> {
    /// Frames in the batch.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether nothing was received.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The `i`-th frame; `None` past the end.
    pub fn frame(&self, i: usize) -> Option<&[u8]> {
        self.ids.as_slice().get(i).map(|&id| self.dev.frame(id))
    }

    /// The `i`-th frame, writable (for in-place processing); `None` past the end.
    pub fn frame_mut(&mut self, i: usize) -> Option<&mut [u8]> {
        let id = *self.ids.as_slice().get(i)?;
        Some(self.dev.frame_mut(id))
    }

    /// The device the frames are borrowed from (for inspection while the batch is live).
    pub fn device(&self) -> &D {
        self.dev
    }

    /// The frames in order. The iterator is `Clone`, so the stack can look a batch over
    /// before it handles it (`Stack::receive_batch`).
    pub fn iter(&self) -> impl Iterator<Item = &[u8]> + Clone + '_ {
        self.ids.as_slice().iter().map(|&id| self.dev.frame(id))
    }
}

impl<D: Device> Drop for RxBatch<'_, D> {
    fn drop(&mut self) {
        for &id in self.ids.as_slice() {
            self.dev.release(id);
        }
    }
}

/// A transmit batch: hands out buffers one at a time, flushes the device when dropped.
pub struct TxBatch<'d, D: Device> {
    dev: &'d mut D,
    now: Instant,
    sent: usize,
    limit: usize,
}

impl<D: Device> TxBatch<'_, D> {
    /// The next free buffer, or `None` when the pool is empty or the batch is full.
    pub fn buffer(&mut self) -> Option<TxBuf<'_, D>> {
        if self.sent >= self.limit {
            return None;
        }
        let id = self.dev.allocate(self.now)?;
        Some(TxBuf { dev: &mut *self.dev, id, now: self.now, sent: &mut self.sent, done: false })
    }

    /// Frames sent in this batch so far.
    pub fn sent(&self) -> usize {
        self.sent
    }
}

impl<D: Device> Drop for TxBatch<'_, D> {
    fn drop(&mut self) {
        self.dev.flush(self.now);
    }
}

/// One free frame buffer lent for writing. [`send`](TxBuf::send) it, or drop it to give it
/// back unsent.
pub struct TxBuf<'b, D: Device> {
    dev: &'b mut D,
    id: FrameId,
    now: Instant,
    sent: &'b mut usize,
    done: bool,
}

impl<D: Device> TxBuf<'_, D> {
    /// The buffer's whole capacity.
    pub fn buf(&mut self) -> &mut [u8] {
        self.dev.frame_mut(self.id)
    }

    /// Capacity in bytes.
    pub fn capacity(&self) -> usize {
        self.dev.frame(self.id).len()
    }

    /// Transmits the first `len` bytes (clamped to the capacity).
    pub fn send(mut self, len: usize) {
        self.done = true;
        *self.sent += 1;
        self.dev.transmit(self.now, self.id, len);
    }
}

impl<D: Device> Drop for TxBuf<'_, D> {
    fn drop(&mut self) {
        if !self.done {
            self.dev.release(self.id);
        }
    }
}

impl<D: Device> core::ops::Deref for TxBuf<'_, D> {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.dev.frame(self.id)
    }
}

impl<D: Device> core::ops::DerefMut for TxBuf<'_, D> {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.dev.frame_mut(self.id)
    }
}
