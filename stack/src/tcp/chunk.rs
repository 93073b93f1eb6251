//! The per-stack pool of fixed-size chunks that hold every connection's send and receive
//! bytes, and the stack-wide memory budget that governs it (Linux `tcp_mem`).
//!
//! A connection takes chunks as data arrives or is queued and gives them back as it is read
//! or acknowledged, so an idle connection holds none and a half-open one never had any
//! (the SYN queue costs only its entries, RFC 4987 §3.1's concern). Chunks are addressed by a
//! `u32` id; a connection's chunks form a singly linked list through the pool's `next` links
//! ([`ChunkQueue`](super::buffer::ChunkQueue)), so a connection's buffer state is a few
//! integers and never a heap allocation of its own.
//!
//! Allocation happens only when the free list is empty: a chunk given back goes onto the free
//! list (the steady state allocates nothing) unless more than `idle_limit` chunks are already
//! idle, in which case its storage is freed so a burst does not pin its peak for good.
//!
//! # The budget (Linux `tcp_mem`, `Documentation/networking/ip-sysctl.rst`)
//! - below `low`: no pressure;
//! - above `pressure`: the pool enters pressure, and leaves it only once back below `low`;
//!   connections stop growing their buffers and clamp the windows they offer;
//! - at `high`: no chunk is handed out. Incoming data that needs one is dropped (and never
//!   acknowledged, so nothing acknowledged is lost); sends are refused (short write), except
//!   a connection's first queued chunk, which is always granted so that every connection can
//!   make progress (as Linux forces the first skb of a write queue).

/// Bytes per chunk: a page. A full 1448-byte segment spans at most two chunks, which is what
/// the two-slice transmit path can carry.
pub const CHUNK_SIZE: usize = 4096;

/// The "no chunk" link.
pub(crate) const NIL: u32 = u32::MAX;

/// Stack-wide limits on chunk memory, in bytes (Linux `tcp_mem`, which counts pages).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryBudget {
    /// Pressure ends once usage falls back below this.
    pub low: usize,
    /// Usage above this starts memory pressure.
    pub pressure: usize,
    /// Hard limit: no chunk is handed out beyond it.
    pub high: usize,
}

impl MemoryBudget {
    /// Linux 6.18's `tcp_mem` as measured on the 24 GiB lab machine (`287913 383885 575826`
    /// pages of 4 KiB: 1.1, 1.5 and 2.2 GiB), applied per stack.
    pub const fn linux() -> Self {
        MemoryBudget { low: 287_913 * 4096, pressure: 383_885 * 4096, high: 575_826 * 4096 }
    }
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget::linux()
    }
}

/// How much of the budget is in use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemoryLevel {
    /// Buffers may grow.
    Normal,
    /// Above `pressure` (until back below `low`): no growth, windows clamped.
    Pressure,
    /// At `high`: no new chunk for incoming data or non-first sends.
    Exhausted,
}

/// What the pool and the connections using it did with memory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MemoryCounters {
    /// Chunks in use now (a gauge).
    pub chunks_in_use: u64,
    /// Most chunks in use at once.
    pub chunks_peak: u64,
    /// Chunk storage allocated fresh (the free list was empty).
    pub chunks_allocated: u64,
    /// Chunk storage freed because more than the idle limit sat in the free list.
    pub chunks_released: u64,
    /// Times the pool entered memory pressure.
    pub pressure_entered: u64,
    /// Received segments (or their tails) dropped, unacknowledged, for want of a chunk.
    pub rcv_dropped: u64,
    /// Sends shortened because the budget was exhausted.
    pub snd_refused: u64,
    /// First chunks of an empty send queue granted beyond the hard limit.
    pub snd_forced: u64,
    /// Window advertisements clamped because of memory pressure.
    pub window_clamped: u64,
}

/// A chunk's storage, page-aligned: a chunk is exactly one page, so it costs one TLB entry
/// and copies in and out of it start aligned (a plain 4 KiB heap block straddles two pages).
#[repr(C, align(4096))]
struct Storage([u8; CHUNK_SIZE]);

impl core::fmt::Debug for Storage {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("Storage")
    }
}

#[derive(Debug)]
struct Slot {
    data: Option<Box<Storage>>,
    next: u32,
}

/// The chunk pool of one stack. See the [module documentation](self).
#[derive(Debug)]
pub struct ChunkPool {
    slots: Vec<Slot>,
    /// Ids with storage, not in use.
    free: Vec<u32>,
    /// Ids whose storage was freed.
    vacant: Vec<u32>,
    in_use: usize,
    idle_limit: usize,
    budget: [usize; 3],
    pressure: bool,
    /// Counters; connections add their drops and refusals here.
    pub(crate) counters: MemoryCounters,
}

impl Default for ChunkPool {
    fn default() -> Self {
        ChunkPool::new(MemoryBudget::default(), 64 << 20)
    }
}

const EMPTY: [u8; 0] = [];

impl ChunkPool {
    /// An empty pool under `budget` that keeps at most `idle_bytes` of free chunks.
    pub fn new(budget: MemoryBudget, idle_bytes: usize) -> Self {
        let chunks = |b: usize| b / CHUNK_SIZE;
        ChunkPool {
            slots: Vec::new(),
            free: Vec::new(),
            vacant: Vec::new(),
            in_use: 0,
            idle_limit: chunks(idle_bytes),
            budget: [chunks(budget.low), chunks(budget.pressure), chunks(budget.high)],
            pressure: false,
            counters: MemoryCounters::default(),
        }
    }

    /// A pool without limits, for tools and tests that drive a connection on its own.
    pub fn unbounded() -> Self {
        let all = usize::MAX / 2;
        ChunkPool::new(MemoryBudget { low: all, pressure: all, high: all }, 64 << 20)
    }

    /// The budget level now.
    pub fn level(&self) -> MemoryLevel {
        if self.in_use >= self.budget[2] {
            MemoryLevel::Exhausted
        } else if self.pressure {
            MemoryLevel::Pressure
        } else {
            MemoryLevel::Normal
        }
    }

    /// Bytes that may still be handed out before the hard limit.
    pub fn available(&self) -> usize {
        self.budget[2].saturating_sub(self.in_use).saturating_mul(CHUNK_SIZE)
    }

    /// Bytes of chunks in use.
    pub fn bytes_in_use(&self) -> usize {
        self.in_use * CHUNK_SIZE
    }

    /// Bytes of chunk storage allocated and idle in the free list.
    pub fn idle_bytes(&self) -> usize {
        self.free.len() * CHUNK_SIZE
    }

    /// Counters.
    pub fn counters(&self) -> MemoryCounters {
        MemoryCounters { chunks_in_use: self.in_use as u64, ..self.counters }
    }

    /// A chunk, or `None` at the hard limit (unless `force`). Its old contents are never
    /// read: only bytes written since are.
    pub(crate) fn take(&mut self, force: bool) -> Option<u32> {
        if self.in_use >= self.budget[2] {
            if !force {
                return None;
            }
            self.counters.snd_forced += 1;
        }
        let id = if let Some(id) = self.free.pop() {
            id
        } else {
            self.counters.chunks_allocated += 1;
            let storage = Some(Box::new(Storage([0u8; CHUNK_SIZE])));
            if let Some(id) = self.vacant.pop() {
                if let Some(slot) = self.slots.get_mut(id as usize) {
                    slot.data = storage;
                }
                id
            } else {
                // Ids stay below NIL: past 2^32 - 1 chunks (16 TiB) the pool refuses.
                let id = u32::try_from(self.slots.len()).ok().filter(|&i| i != NIL)?;
                self.slots.push(Slot { data: storage, next: NIL });
                id
            }
        };
        // A free or new slot's link is already NIL (`give` resets it).
        self.in_use += 1;
        if self.in_use as u64 > self.counters.chunks_peak {
            self.counters.chunks_peak = self.in_use as u64;
        }
        if !self.pressure && self.in_use > self.budget[1] {
            self.pressure = true;
            self.counters.pressure_entered += 1;
        }
        Some(id)
    }

    /// Gives chunk `id` back.
    pub(crate) fn give(&mut self, id: u32) {
        let Some(slot) = self.slots.get_mut(id as usize) else { return };
        slot.next = NIL;
        self.in_use = self.in_use.saturating_sub(1);
        if self.pressure && self.in_use < self.budget[0] {
            self.pressure = false;
        }
        if self.free.len() >= self.idle_limit {
            slot.data = None;
            self.vacant.push(id);
            self.counters.chunks_released += 1;
        } else {
            self.free.push(id);
        }
    }

    /// The link after `id`.
    pub(crate) fn next(&self, id: u32) -> u32 {
        self.slots.get(id as usize).map_or(NIL, |s| s.next)
    }

    /// Links `next` after `id`.
    pub(crate) fn set_next(&mut self, id: u32, next: u32) {
        if let Some(s) = self.slots.get_mut(id as usize) {
            s.next = next;
        }
    }

    /// The bytes of chunk `id` (empty for an id that holds no storage, which a queue never
    /// keeps).
    pub(crate) fn bytes(&self, id: u32) -> &[u8] {
        match self.slots.get(id as usize).and_then(|s| s.data.as_deref()) {
            Some(d) => &d.0,
            None => &EMPTY,
        }
    }

    /// The bytes of chunk `id`, mutably.
    pub(crate) fn bytes_mut(&mut self, id: u32) -> &mut [u8] {
        match self.slots.get_mut(id as usize).and_then(|s| s.data.as_deref_mut()) {
            Some(d) => &mut d.0,
            None => &mut [],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_follow_the_budget_with_hysteresis() {
        let c = CHUNK_SIZE;
        let mut p = ChunkPool::new(MemoryBudget { low: 2 * c, pressure: 3 * c, high: 5 * c }, 0);
        let ids: Vec<u32> = (0..4).map(|_| p.take(false).unwrap()).collect();
        assert_eq!(p.level(), MemoryLevel::Pressure);
        let fifth = p.take(false).unwrap();
        assert_eq!(p.level(), MemoryLevel::Exhausted);
        assert_eq!(p.take(false), None, "the hard limit holds");
        let forced = p.take(true).unwrap();
        assert_eq!(p.counters().snd_forced, 1);
        p.give(forced);
        p.give(fifth);
        p.give(ids[0]);
        assert_eq!(p.level(), MemoryLevel::Pressure, "pressure lasts until below low");
        p.give(ids[1]);
        p.give(ids[2]);
        assert_eq!(p.level(), MemoryLevel::Normal);
        assert_eq!(p.counters().pressure_entered, 1);
        assert_eq!(p.counters().chunks_peak, 6);
        assert_eq!(p.idle_bytes(), 0, "idle limit 0 frees every chunk given back");
        assert_eq!(p.counters().chunks_released, 5);
    }

    #[test]
    fn free_list_recycles_without_allocating() {
        let mut p = ChunkPool::unbounded();
        let a = p.take(false).unwrap();
        p.bytes_mut(a)[0] = 7;
        p.give(a);
        for _ in 0..1000 {
            let b = p.take(false).unwrap();
            p.give(b);
        }
        assert_eq!(p.counters().chunks_allocated, 1);
        assert_eq!(p.bytes_in_use(), 0);
        assert_eq!(p.idle_bytes(), CHUNK_SIZE);
        assert!(p.bytes(12345).is_empty(), "an unknown id reads as nothing, no panic");
    }
}
