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
//! Allocation happens only when no chunk is free, a slab of [`SLAB_CHUNKS`] at a time: a chunk
//! given back is free for the next taker (the steady state allocates nothing), and a slab whose
//! chunks are all free is released when more than `idle_limit` chunks are idle, so a burst
//! does not pin its peak for good.
//!
//! # Pieces
//! A queue that holds a few hundred bytes at most (a request or response in flight, the
//! common case of a request/response server) holds a [`PIECE_SIZE`] piece instead: sixteen
//! pieces are cut from one chunk (a *page*), so 100,000 connections each with a small
//! response in flight hold 25 MB rather than 400 MB, and the line a frame writes is one of a
//! page that other frames wrote a moment ago rather than the first line of a cold page of its
//! own (docs/benchmarks.md, "Small data in shared pages"). A piece id is a chunk id of its own
//! kind ([`is_piece`]); every accessor here takes either. A page goes back to the chunks once
//! its last piece is free, and the budget counts it as the whole chunk it is.
//!
//! # The budget (Linux `tcp_mem`, `Documentation/networking/ip-sysctl.rst`)
//! - below `low`: no pressure;
//! - above `pressure`: the pool enters pressure, and leaves it only once back below `low`;
//!   connections stop growing their buffers and clamp the windows they offer;
//! - at `high`: no chunk is handed out. Incoming data that needs one is dropped (and never
//!   acknowledged, so nothing acknowledged is lost); sends are refused (short write), except
//!   a connection's first queued chunk, which is always granted so that every connection can
//!   make progress (as Linux forces the first skb of a write queue).

/// Bytes per chunk: a page. A full 1448-byte segment spans at most two chunks and a jumbo
/// one of 8948 at most three, which is what the three-slice transmit path can carry.
pub const CHUNK_SIZE: usize = 4096;

/// The "no chunk" link.
pub(crate) const NIL: u32 = u32::MAX;

/// Bytes per piece: a 64-byte echo, a short HTTP request or response fits one.
pub const PIECE_SIZE: usize = 256;

/// Pieces cut from one page (a chunk).
const PAGE_PIECES: usize = CHUNK_SIZE / PIECE_SIZE;

/// A page's free mask with every piece free (a bit a piece, in 16 bits).
const ALL_FREE: u16 = {
    assert!(PAGE_PIECES <= 16 && CHUNK_SIZE.is_multiple_of(PIECE_SIZE));
    ((1u32 << PAGE_PIECES) - 1) as u16
};

/// The bit that makes an id a piece's: `PIECE_BIT | page << 4 | index`.
const PIECE_BIT: u32 = 1 << 31;

/// Chunk ids stay below this, so that a piece id (the page's id shifted by four, the bit
/// above) never reaches [`NIL`]: 256 GiB of chunks a stack.
const MAX_CHUNKS: usize = 1 << 26;

/// Whether `id` names a piece rather than a chunk ([`NIL`] names neither): one compare.
#[inline(always)]
pub(crate) const fn is_piece(id: u32) -> bool {
    id.wrapping_sub(PIECE_BIT) < NIL - PIECE_BIT
}

/// Page (chunk id) and index within it of piece `id`.
#[inline(always)]
const fn piece_of(id: u32) -> (u32, usize) {
    ((id & !PIECE_BIT) >> 4, (id & 0xf) as usize)
}

/// The page (chunk id) piece `id` is cut from.
#[cfg(test)]
pub(crate) const fn page_of(id: u32) -> u32 {
    piece_of(id).0
}

/// The chunk that holds `range` of chunk or piece `id`, and the range within that chunk;
/// `None` if the range falls outside the chunk or piece.
fn within_chunk(id: u32, range: core::ops::Range<usize>) -> Option<(u32, core::ops::Range<usize>)> {
    if !is_piece(id) {
        return (range.end <= CHUNK_SIZE).then_some((id, range));
    }
    let (page, k) = piece_of(id);
    let base = k * PIECE_SIZE;
    (range.end <= PIECE_SIZE).then_some((page, base + range.start..base + range.end))
}

/// The id of piece `index` of page `page`.
#[inline(always)]
const fn piece_id(page: u32, index: u32) -> u32 {
    PIECE_BIT | page << 4 | index
}

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
    /// Chunks of storage allocated (in slabs of [`SLAB_CHUNKS`], when none was free).
    pub chunks_allocated: u64,
    /// Chunks of storage freed (whole idle slabs, when more than the idle limit was idle).
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
    /// Pieces in use now (a gauge): queues holding one small piece rather than chunks; the
    /// pages they are cut from count in `chunks_in_use`.
    pub pieces_in_use: u64,
}

/// Chunks per slab: storage is allocated 512 chunks (2 MiB) at a time, so a chunk is one
/// page of a contiguous block rather than a heap block straddling two pages, which measured
/// markedly slower on bulk transfers; and a slab is one huge page where the binary's
/// allocator asks for them (`xdptcp_driver::hugepage`): at 100,000 request/response
/// connections each frame touches a chunk last touched a round earlier, whose 4 KiB page
/// was one more TLB miss (docs/benchmarks.md, "Huge pages under the chunks"; 64-chunk slabs
/// of 256 KiB before). The price: a pool that holds any chunk holds at least 2 MiB.
pub const SLAB_CHUNKS: usize = 512;

/// A chunk's storage: one page.
#[repr(C, align(4096))]
struct Storage([u8; CHUNK_SIZE]);

/// [`SLAB_CHUNKS`] chunks, their links, and which of them are free.
struct Slab {
    /// `None` once released (all free, and more than the idle limit was idle). A fixed-size
    /// array, so a chunk's index within it (`id % SLAB_CHUNKS`) needs no bounds check.
    data: Option<Box<[Storage; SLAB_CHUNKS]>>,
    next: [u32; SLAB_CHUNKS],
    free: [u16; SLAB_CHUNKS],
    nfree: usize,
    /// For a chunk cut into pieces (a page): which of its pieces are free, a bit each.
    page_free: [u16; SLAB_CHUNKS],
    /// For a page with a free piece: its place in [`ChunkPool::pages`].
    page_at: [u32; SLAB_CHUNKS],
}

impl core::fmt::Debug for Slab {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slab")
            .field("live", &self.data.is_some())
            .field("nfree", &self.nfree)
            .finish()
    }
}

/// The chunk pool of one stack. See the [module documentation](self).
#[derive(Debug)]
pub struct ChunkPool {
    slabs: Vec<Slab>,
    /// Slabs with a free chunk, the most recently given to last.
    avail: Vec<u32>,
    /// Slabs whose storage was released.
    vacant: Vec<u32>,
    in_use: usize,
    /// Free chunks in live slabs.
    idle: usize,
    idle_limit: usize,
    budget: [usize; 3],
    pressure: bool,
    /// The chunk given back last, kept out of its slab's free list for the next taker
    /// ([`NIL`] if none): a request/response connection gives a chunk back and takes one
    /// with every message, and this turns that pair into two moves of one id. It counts as
    /// idle like any free chunk; it only keeps its slab from being released, and the slab
    /// is one that was in use a moment ago.
    hot: u32,
    /// Pages with a free piece, the most recently freed into last.
    pages: Vec<u32>,
    /// The piece given back last, kept for the next taker ([`NIL`] if none), as `hot` is:
    /// the piece an acknowledgment frees is the one the RX look-ahead read
    /// (`Connection::send_head_chunk`), and the request's data then goes to it. It counts as
    /// free; its bit in its page's mask stays clear.
    hot_piece: u32,
    /// Whether the hot piece's page holds no other piece in use: the page is then reported
    /// idle (`bytes_in_use`, the counters), as the chunk aside is, so an idle stack shows no
    /// chunk in use. It stays in `in_use` for the budget, which it still occupies, so taking
    /// the piece back needs no budget check and no accounting: one flag, not the counts
    /// moved twice a message (a request/response connection alone on a stack gives its
    /// piece back and takes it again with every message).
    hot_alone: bool,
    /// Pieces in use.
    pieces: usize,
    /// Counters; connections add their drops and refusals here.
    pub(crate) counters: MemoryCounters,
}

impl Default for ChunkPool {
    fn default() -> Self {
        ChunkPool::new(MemoryBudget::default(), 64 << 20)
    }
}

const EMPTY: [u8; 0] = [];

/// Slab and index of chunk `id`.
fn split(id: u32) -> (usize, usize) {
    (id as usize / SLAB_CHUNKS, id as usize % SLAB_CHUNKS)
}

impl ChunkPool {
    /// An empty pool under `budget` that keeps at most `idle_bytes` of free chunks (beyond
    /// it, a slab whose chunks are all free is released).
    pub fn new(budget: MemoryBudget, idle_bytes: usize) -> Self {
        let chunks = |b: usize| b / CHUNK_SIZE;
        ChunkPool {
            slabs: Vec::new(),
            avail: Vec::new(),
            vacant: Vec::new(),
            in_use: 0,
            idle: 0,
            idle_limit: chunks(idle_bytes),
            budget: [chunks(budget.low), chunks(budget.pressure), chunks(budget.high)],
            pressure: false,
            hot: NIL,
            pages: Vec::new(),
            hot_piece: NIL,
            hot_alone: false,
            pieces: 0,
            counters: MemoryCounters::default(),
        }
    }

    /// A pool without limits, for tools and tests that drive a connection on its own.
    pub fn unbounded() -> Self {
        let all = usize::MAX / 2;
        ChunkPool::new(MemoryBudget { low: all, pressure: all, high: all }, 64 << 20)
    }

    /// The budget level now.
    #[inline]
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
        self.held() * CHUNK_SIZE
    }

    /// Bytes of chunk storage allocated and idle.
    pub fn idle_bytes(&self) -> usize {
        (self.idle + usize::from(self.hot_alone)) * CHUNK_SIZE
    }

    /// Chunks in use, less the page of a piece aside alone (see `hot_alone`).
    fn held(&self) -> usize {
        self.in_use - usize::from(self.hot_alone)
    }

    /// Counters.
    pub fn counters(&self) -> MemoryCounters {
        MemoryCounters {
            chunks_in_use: self.held() as u64,
            pieces_in_use: self.pieces as u64,
            ..self.counters
        }
    }

    /// Allocates a slab (reusing a released slot) and makes it available; `None` past
    /// [`MAX_CHUNKS`] chunk ids.
    fn grow(&mut self) -> Option<u32> {
        let storage: Box<[Storage]> =
            (0..SLAB_CHUNKS).map(|_| Storage([0u8; CHUNK_SIZE])).collect();
        let storage: Box<[Storage; SLAB_CHUNKS]> = storage.try_into().ok()?;
        let mut free = [0u16; SLAB_CHUNKS];
        for (i, f) in free.iter_mut().enumerate() {
            // Taken from the end: chunk 0 first.
            *f = (SLAB_CHUNKS - 1 - i) as u16;
        }
        let slab = Slab {
            data: Some(storage),
            next: [NIL; SLAB_CHUNKS],
            free,
            nfree: SLAB_CHUNKS,
            page_free: [0; SLAB_CHUNKS],
            page_at: [0; SLAB_CHUNKS],
        };
        let s = match self.vacant.pop() {
            Some(s) => {
                if let Some(x) = self.slabs.get_mut(s as usize) {
                    *x = slab;
                }
                s
            }
            None => {
                let s = u32::try_from(self.slabs.len()).ok()?;
                if (s as usize + 1) * SLAB_CHUNKS > MAX_CHUNKS {
                    return None;
                }
                self.slabs.push(slab);
                s
            }
        };
        self.counters.chunks_allocated += SLAB_CHUNKS as u64;
        self.idle += SLAB_CHUNKS;
        self.avail.push(s);
        Some(s)
    }

    /// A chunk, or `None` at the hard limit (unless `force`). Its old contents are never
    /// read: only bytes written since are.
    ///
    /// Inlined as far as the chunk kept aside (`hot`): a request/response connection takes
    /// that one with every message.
    #[inline]
    pub(crate) fn take(&mut self, force: bool) -> Option<u32> {
        if self.hot != NIL && self.in_use < self.budget[2] {
            let id = core::mem::replace(&mut self.hot, NIL);
            self.note_taken();
            return Some(id);
        }
        self.take_slow(force)
    }

    /// [`take`](Self::take) at the hard limit or from a slab's free list.
    #[inline(never)]
    fn take_slow(&mut self, force: bool) -> Option<u32> {
        if self.in_use >= self.budget[2] {
            if !force {
                return None;
            }
            self.counters.snd_forced += 1;
        }
        if self.hot != NIL {
            let id = core::mem::replace(&mut self.hot, NIL);
            self.note_taken();
            return Some(id);
        }
        let s = match self.avail.last() {
            Some(&s) => s,
            None => self.grow()?,
        };
        let slab = self.slabs.get_mut(s as usize)?;
        slab.nfree = slab.nfree.checked_sub(1)?;
        let idx = usize::from(slab.free[slab.nfree]);
        if slab.nfree == 0 {
            self.avail.pop();
        }
        self.note_taken();
        Some((s as usize * SLAB_CHUNKS + idx) as u32)
    }

    /// Counts a chunk handed out: in use, peak, pressure.
    #[inline]
    fn note_taken(&mut self) {
        self.idle -= 1;
        self.in_use += 1;
        if self.in_use as u64 > self.counters.chunks_peak {
            self.counters.chunks_peak = self.in_use as u64;
        }
        if !self.pressure && self.in_use > self.budget[1] {
            self.pressure = true;
            self.counters.pressure_entered += 1;
        }
    }

    /// Gives chunk `id` back.
    ///
    /// Inlined as far as keeping it aside (`hot`): a request/response connection gives one
    /// chunk back per message, and the slot is then empty (its last `take` emptied it).
    /// Always: with `#[inline]` the ACK path (`consume` in `on_segment_synchronized`) kept it
    /// a call, around which the registers live across it were moved and reloaded (16
    /// instructions a frame at N = 1 once the cold parts were boxed).
    #[inline(always)]
    pub(crate) fn give(&mut self, id: u32) {
        if is_piece(id) {
            self.give_piece(id);
            return;
        }
        let (s, idx) = split(id);
        let Some(slab) = self.slabs.get_mut(s) else { return };
        if slab.data.is_none() || slab.nfree >= SLAB_CHUNKS || id == self.hot {
            return;
        }
        slab.next[idx] = NIL;
        if self.hot == NIL {
            // Kept aside for the next `take` (see `hot`); its slab still counts it in use.
            self.hot = id;
            self.idle += 1;
            self.in_use = self.in_use.saturating_sub(1);
            if self.pressure && self.in_use < self.budget[0] {
                self.pressure = false;
            }
            return;
        }
        self.give_to_slab(id);
    }

    /// [`give`](Self::give) with the slot aside taken: onto its slab's free list, and the
    /// slab released if it is all idle and more than the limit is.
    #[inline(never)]
    fn give_to_slab(&mut self, id: u32) {
        let (s, idx) = split(id);
        let Some(slab) = self.slabs.get_mut(s) else { return };
        slab.free[slab.nfree] = idx as u16;
        slab.nfree += 1;
        let (nfree, s) = (slab.nfree, s as u32);
        if nfree == 1 {
            self.avail.push(s);
        }
        self.idle += 1;
        self.in_use = self.in_use.saturating_sub(1);
        if self.pressure && self.in_use < self.budget[0] {
            self.pressure = false;
        }
        if nfree == SLAB_CHUNKS && self.idle > self.idle_limit + SLAB_CHUNKS {
            // A whole slab is idle and more than the limit is: give its storage back. One
            // slab's worth of slack above the limit keeps a connection that comes and goes
            // from allocating a slab each time.
            if let Some(slab) = self.slabs.get_mut(s as usize) {
                slab.data = None;
                slab.nfree = 0;
            }
            if let Some(at) = self.avail.iter().rposition(|&x| x == s) {
                self.avail.remove(at);
            }
            self.vacant.push(s);
            self.idle -= SLAB_CHUNKS;
            self.counters.chunks_released += SLAB_CHUNKS as u64;
        }
    }

    /// A piece, or `None` when it needs a new page at the hard limit (unless `force`). Its old
    /// contents are never read, as a chunk's.
    ///
    /// Inlined as far as the piece kept aside (`hot_piece`): a request/response connection
    /// gives one back and takes one with every message.
    #[inline]
    pub(crate) fn take_piece(&mut self, force: bool) -> Option<u32> {
        let id = self.hot_piece;
        if id != NIL {
            // Its page never left the budget: no check, whatever the level.
            self.hot_piece = NIL;
            self.hot_alone = false;
            self.pieces += 1;
            return Some(id);
        }
        self.take_piece_slow(force)
    }

    /// [`take_piece`](Self::take_piece) with no piece aside: cut from the page freed into
    /// last, or from a new one (a chunk, `force` as for [`take`](Self::take)). Pages are cut
    /// only while no piece is aside, so the page of one kept alone is never cut meanwhile.
    #[inline(never)]
    fn take_piece_slow(&mut self, force: bool) -> Option<u32> {
        let page = match self.pages.last() {
            Some(&page) => page,
            None => {
                let page = self.take(force)?;
                let at = self.pages.len() as u32;
                let (s, i) = split(page);
                let slab = self.slabs.get_mut(s)?;
                slab.page_free[i] = ALL_FREE;
                slab.page_at[i] = at;
                self.pages.push(page);
                page
            }
        };
        let (s, i) = split(page);
        let slab = self.slabs.get_mut(s)?;
        let mask = slab.page_free[i];
        debug_assert!(mask != 0, "a page on the list has a free piece");
        let left = mask & mask.wrapping_sub(1);
        slab.page_free[i] = left;
        if left == 0 {
            self.pages.pop();
        }
        self.pieces += 1;
        Some(piece_id(page, mask.trailing_zeros()))
    }

    /// Gives piece `id` back: aside for the next taker if none is, else into its page.
    #[inline]
    fn give_piece(&mut self, id: u32) {
        let (page, k) = piece_of(id);
        let (s, i) = split(page);
        let Some(slab) = self.slabs.get(s) else { return };
        let (mask, bit) = (slab.page_free[i], 1u16 << k);
        if slab.data.is_none() || mask & bit != 0 || id == self.hot_piece {
            // Not a piece in use: given twice, or its page gone.
            return;
        }
        if self.hot_piece != NIL {
            self.free_piece(id);
            return;
        }
        self.hot_piece = id;
        // In use until now (its bit was clear), so counted.
        self.pieces -= 1;
        // The page's last piece in use: the page is idle while the piece waits aside.
        self.hot_alone = mask | bit == ALL_FREE;
    }

    /// [`give_piece`](Self::give_piece) with a piece already aside: its bit set in its page,
    /// the page listed if it was full and given back as a chunk once all its pieces are free.
    #[inline(never)]
    fn free_piece(&mut self, id: u32) {
        let (page, k) = piece_of(id);
        let (s, i) = split(page);
        let listed = self.pages.len() as u32;
        let hot = self.hot_piece;
        let Some(slab) = self.slabs.get_mut(s) else { return };
        let was = slab.page_free[i];
        let mask = was | 1 << k;
        slab.page_free[i] = mask;
        if was == 0 {
            slab.page_at[i] = listed;
            self.pages.push(page);
        }
        self.pieces -= 1;
        let (hot_page, hot_k) = piece_of(hot);
        if hot_page == page && mask | 1 << hot_k == ALL_FREE {
            // The piece aside is now its page's only one: the page waits with it, idle.
            self.hot_alone = true;
        } else if mask == ALL_FREE {
            self.release_page(page);
        }
    }

    /// Takes page `page`, all of whose pieces are free, off the list and gives it back as a
    /// chunk.
    fn release_page(&mut self, page: u32) {
        let (s, i) = split(page);
        let Some(slab) = self.slabs.get_mut(s) else { return };
        let at = slab.page_at[i] as usize;
        slab.page_free[i] = 0;
        if at < self.pages.len() {
            self.pages.swap_remove(at);
            if let Some(&moved) = self.pages.get(at) {
                let (ms, mi) = split(moved);
                if let Some(m) = self.slabs.get_mut(ms) {
                    m.page_at[mi] = at as u32;
                }
            }
        }
        self.give(page);
    }

    /// The link after `id` ([`NIL`] for a piece: its id's slab index lies past every slab).
    #[inline]
    pub(crate) fn next(&self, id: u32) -> u32 {
        let (s, idx) = split(id);
        self.slabs.get(s).map_or(NIL, |s| s.next[idx])
    }

    /// Links `next` after `id`.
    #[inline]
    pub(crate) fn set_next(&mut self, id: u32, next: u32) {
        let (s, idx) = split(id);
        if let Some(s) = self.slabs.get_mut(s) {
            s.next[idx] = next;
        }
    }

    /// Chunk `id`'s storage as a fixed-size array, `None` for an id that holds none (which
    /// a queue never keeps). A range the caller has checked against `CHUNK_SIZE` then needs
    /// no second check against a length only known at run time (`bytes` may be empty).
    #[inline(always)]
    pub(crate) fn chunk(&self, id: u32) -> Option<&[u8; CHUNK_SIZE]> {
        let (s, idx) = split(id);
        self.slabs.get(s)?.data.as_deref()?.get(idx).map(|c| &c.0)
    }

    /// Piece `id`'s storage, `None` for an id that is not a piece's.
    #[cfg(test)]
    pub(crate) fn piece(&self, id: u32) -> Option<&[u8; PIECE_SIZE]> {
        if !is_piece(id) {
            return None;
        }
        self.piece_at(id)
    }

    /// [`piece`](Self::piece) of an id known to be a piece's (a chunk's id would name a
    /// piece of another chunk).
    #[inline(always)]
    pub(crate) fn piece_at(&self, id: u32) -> Option<&[u8; PIECE_SIZE]> {
        let (page, k) = piece_of(id);
        self.chunk(page)?.as_chunks::<PIECE_SIZE>().0.get(k)
    }

    /// [`piece_at`](Self::piece_at), mutably.
    #[inline(always)]
    pub(crate) fn piece_at_mut(&mut self, id: u32) -> Option<&mut [u8; PIECE_SIZE]> {
        let (page, k) = piece_of(id);
        self.chunk_mut(page)?.as_chunks_mut::<PIECE_SIZE>().0.get_mut(k)
    }

    /// The first byte of chunk or piece `id`, 0 for an id with no storage ([`NIL`]): a read for the
    /// RX look-ahead (`stack::batch`), so that the line is in cache before a segment writes
    /// it (a write to a line not in cache waits for it like a read).
    #[inline]
    pub(crate) fn warm_word(&self, id: u32) -> u64 {
        self.bytes(id).first().map_or(0, |&b| u64::from(b))
    }

    /// The address of chunk or piece `id`'s storage, not read.
    #[inline]
    pub(crate) fn chunk_addr(&self, id: u32) -> Option<*const u8> {
        let bytes = self.bytes(id);
        (!bytes.is_empty()).then_some(bytes.as_ptr())
    }

    /// [`chunk`](Self::chunk), mutably.
    #[inline(always)]
    pub(crate) fn chunk_mut(&mut self, id: u32) -> Option<&mut [u8; CHUNK_SIZE]> {
        let (s, idx) = split(id);
        self.slabs.get_mut(s)?.data.as_deref_mut()?.get_mut(idx).map(|c| &mut c.0)
    }

    /// The bytes of chunk or piece `id` (empty for an id that holds no storage, which a
    /// queue never keeps).
    #[inline]
    pub(crate) fn bytes(&self, id: u32) -> &[u8] {
        if is_piece(id) {
            return self.piece_at(id).map_or(&EMPTY, |p| &p[..]);
        }
        self.chunk_bytes(id)
    }

    /// [`bytes`](Self::bytes) of an id known to be a chunk's (empty for a piece's): for the
    /// paths of a queue in chunks, which then need no test of the id's kind.
    #[inline]
    pub(crate) fn chunk_bytes(&self, id: u32) -> &[u8] {
        let (s, idx) = split(id);
        match self.slabs.get(s).and_then(|s| s.data.as_deref()).and_then(|d| d.get(idx)) {
            Some(d) => &d.0,
            None => &EMPTY,
        }
    }

    /// Copies `from` of chunk or piece `src` to chunk or piece `dst` at `at` (two chunks
    /// borrowed apart, so a splice from one queue to another copies once). Returns the bytes
    /// copied: 0 if a range falls outside its chunk or piece or a chunk holds no storage.
    pub(crate) fn copy_between(
        &mut self,
        src: u32,
        from: core::ops::Range<usize>,
        dst: u32,
        at: usize,
    ) -> usize {
        let n = from.len();
        // A piece is a range of its page: both ends become ranges of chunks.
        let Some((src, from)) = within_chunk(src, from) else { return 0 };
        let Some((dst, to)) = within_chunk(dst, at..at + n) else { return 0 };
        let at = to.start;
        let ((ss, si), (ds, di)) = (split(src), split(dst));
        if src == dst {
            self.chunk_bytes_mut(src).copy_within(from, at);
            return n;
        }
        let (a, b): (&Storage, &mut Storage) = if ss == ds {
            let Some(d) = self.slabs.get_mut(ss).and_then(|s| s.data.as_deref_mut()) else {
                return 0;
            };
            let (lo, hi) = d.split_at_mut(si.max(di));
            if si < di {
                (&lo[si], &mut hi[0])
            } else {
                (&hi[0], &mut lo[di])
            }
        } else {
            let (lo, hi) = self.slabs.split_at_mut(ss.max(ds));
            let (low, high) = (&mut lo[ss.min(ds)], &mut hi[0]);
            let (sslab, dslab) = if ss < ds { (low, high) } else { (high, low) };
            match (sslab.data.as_deref(), dslab.data.as_deref_mut()) {
                (Some(sd), Some(dd)) => match (sd.get(si), dd.get_mut(di)) {
                    (Some(a), Some(b)) => (a, b),
                    _ => return 0,
                },
                _ => return 0,
            }
        };
        b.0[at..at + n].copy_from_slice(&a.0[from]);
        n
    }

    /// The bytes of chunk or piece `id`, mutably.
    #[inline]
    pub(crate) fn bytes_mut(&mut self, id: u32) -> &mut [u8] {
        if is_piece(id) {
            return self.piece_at_mut(id).map_or(&mut [], |p| &mut p[..]);
        }
        self.chunk_bytes_mut(id)
    }

    /// [`bytes_mut`](Self::bytes_mut) of an id known to be a chunk's (empty for a piece's).
    #[inline]
    pub(crate) fn chunk_bytes_mut(&mut self, id: u32) -> &mut [u8] {
        let (s, idx) = split(id);
        match self.slabs.get_mut(s).and_then(|s| s.data.as_deref_mut()).and_then(|d| d.get_mut(idx))
        {
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
        p.give(ids[3]);
        assert_eq!(p.idle_bytes(), SLAB_CHUNKS * CHUNK_SIZE, "one slab of slack is kept");
        assert_eq!(p.counters().chunks_released, 0);
    }

    #[test]
    fn idle_slabs_beyond_the_limit_are_released_and_their_slots_reused() {
        let mut p = ChunkPool::new(MemoryBudget::linux(), 0);
        let ids: Vec<u32> = (0..3 * SLAB_CHUNKS).map(|_| p.take(false).unwrap()).collect();
        for id in ids {
            p.give(id);
        }
        assert_eq!(p.counters().chunks_released, 2 * SLAB_CHUNKS as u64);
        assert_eq!(p.idle_bytes(), SLAB_CHUNKS * CHUNK_SIZE);
        let again: Vec<u32> = (0..2 * SLAB_CHUNKS).map(|_| p.take(false).unwrap()).collect();
        assert_eq!(p.counters().chunks_allocated, 4 * SLAB_CHUNKS as u64);
        for &id in &again {
            p.bytes_mut(id)[0] = 1;
            assert_eq!(p.bytes(id).len(), CHUNK_SIZE);
        }
    }

    #[test]
    fn the_last_chunk_given_back_waits_aside_and_counts_as_idle() {
        let mut p = ChunkPool::new(MemoryBudget::linux(), 0);
        let ids: Vec<u32> = (0..3 * SLAB_CHUNKS).map(|_| p.take(false).unwrap()).collect();
        // The first one given back is kept aside (slab 0 still counts it taken) ...
        p.give(ids[0]);
        assert_eq!(
            (p.bytes_in_use(), p.idle_bytes()),
            ((3 * SLAB_CHUNKS - 1) * CHUNK_SIZE, CHUNK_SIZE)
        );
        p.give(ids[0]);
        assert_eq!(p.idle_bytes(), CHUNK_SIZE, "given twice, counted once");
        // ... and counts as idle when slabs are released: slab 1 all free makes a slab and
        // one chunk idle, more than the limit and one slab of slack, so it goes, as it would with
        // chunk 0 in slab 0's free list.
        for &id in &ids[SLAB_CHUNKS..2 * SLAB_CHUNKS] {
            p.give(id);
        }
        assert_eq!(p.counters().chunks_released, SLAB_CHUNKS as u64);
        assert_eq!(p.take(false), Some(ids[0]), "the next taker gets it");
        let b = p.take(false).unwrap();
        assert_ne!(b, ids[0]);
        assert_eq!(p.bytes(b).len(), CHUNK_SIZE);
        for id in [ids[0], b].into_iter().chain(ids[1..SLAB_CHUNKS].iter().copied()) {
            p.give(id);
        }
        for &id in &ids[2 * SLAB_CHUNKS..] {
            p.give(id);
        }
        assert_eq!(p.bytes_in_use(), 0);
        assert_eq!(p.idle_bytes(), SLAB_CHUNKS * CHUNK_SIZE, "one slab of slack is kept");
    }

    #[test]
    fn pieces_are_cut_sixteen_to_a_page_and_a_page_goes_back_with_its_last_piece() {
        let mut p = ChunkPool::unbounded();
        let ids: Vec<u32> = (0..40).map(|_| p.take_piece(false).unwrap()).collect();
        assert_eq!(p.bytes_in_use(), 3 * CHUNK_SIZE, "16 + 16 + 8 pieces");
        assert_eq!(p.counters().pieces_in_use, 40);
        let mut addrs: Vec<usize> =
            ids.iter().map(|&id| p.piece(id).unwrap().as_ptr() as usize).collect();
        addrs.sort_unstable();
        assert!(addrs.windows(2).all(|w| w[1] - w[0] >= PIECE_SIZE), "no two pieces overlap");
        for (k, &id) in ids.iter().enumerate() {
            p.bytes_mut(id).fill(k as u8);
        }
        for (k, &id) in ids.iter().enumerate() {
            assert!(p.bytes(id).iter().all(|&b| b == k as u8), "piece {k} kept its bytes");
            assert_eq!(p.bytes(id).len(), PIECE_SIZE);
        }
        // The first page's pieces back: the first waits aside, and with the sixteenth the
        // page is free and goes back as a chunk.
        for &id in &ids[..15] {
            p.give(id);
        }
        assert_eq!(p.bytes_in_use(), 3 * CHUNK_SIZE);
        p.give(ids[15]);
        assert_eq!(p.bytes_in_use(), 2 * CHUNK_SIZE);
        p.give(ids[15]);
        assert_eq!(p.counters().pieces_in_use, 24, "given twice, counted once");
        // The first piece given back waits aside, its page idle (counted out of use); it is
        // the next one taken, and its page is in use again.
        p.give(ids[20]);
        assert_eq!(p.take_piece(false), Some(ids[0]));
        assert_eq!(p.bytes_in_use(), 3 * CHUNK_SIZE);
        p.give(ids[0]);
        assert_eq!(p.take_piece(false), Some(ids[0]), "given back last, taken next");
        p.give(ids[0]);
        for &id in &ids[16..] {
            p.give(id);
        }
        assert_eq!((p.bytes_in_use(), p.counters().pieces_in_use), (0, 0));
        assert_eq!(p.bytes(NIL).len(), 0);
        assert!(p.piece(ids[0] & 0x7fff_ffff).is_none(), "a chunk id is no piece");
    }

    #[test]
    fn a_piece_alone_aside_leaves_its_page_idle_and_the_budget_holds_for_new_pages() {
        let c = CHUNK_SIZE;
        let mut p = ChunkPool::new(MemoryBudget { low: c, pressure: c, high: 2 * c }, 0);
        let a = p.take_piece(false).unwrap();
        let b = p.take_piece(false).unwrap();
        assert_eq!(page_of(a), page_of(b), "cut from one page");
        let chunk = p.take(false).unwrap();
        assert_eq!(p.level(), MemoryLevel::Exhausted);
        // Pieces of a page in use cost nothing new: granted at the hard limit.
        let more: Vec<u32> = (0..14).map(|_| p.take_piece(false).unwrap()).collect();
        assert_eq!(p.take_piece(false), None, "a new page is refused");
        let forced = p.take_piece(true).unwrap();
        assert_eq!((p.counters().snd_forced, p.bytes_in_use()), (1, 3 * c));
        p.give(forced);
        p.give(chunk);
        for id in more.into_iter().chain([b]) {
            p.give(id);
        }
        assert_eq!(p.bytes_in_use(), c, "piece a's page; the forced one waits aside, idle");
        p.give(a);
        assert_eq!((p.bytes_in_use(), p.counters().pieces_in_use), (0, 0));
        assert_eq!(p.idle_bytes(), SLAB_CHUNKS * c, "the page aside counts as idle");
        // The page of the piece aside alone still occupies the budget: two chunks reach
        // the hard limit with it, and the piece comes back without one more.
        let hog = p.take(false).unwrap();
        assert_eq!(p.take(false), None);
        assert_eq!(p.take_piece(false), Some(forced), "the piece aside, at the hard limit");
        assert_eq!(p.bytes_in_use(), 2 * c);
        assert_eq!(p.take_piece(false).map(page_of), Some(page_of(forced)), "its page's next");
        p.give(hog);
    }

    #[test]
    fn free_chunks_are_reused_without_allocating() {
        let mut p = ChunkPool::unbounded();
        let a = p.take(false).unwrap();
        p.bytes_mut(a)[0] = 7;
        p.give(a);
        for _ in 0..1000 {
            let b = p.take(false).unwrap();
            assert_eq!(b, a, "the most recently freed chunk comes back first");
            p.give(b);
        }
        let many: Vec<u32> = (0..3 * SLAB_CHUNKS).map(|_| p.take(false).unwrap()).collect();
        for &id in &many {
            assert_eq!(p.bytes(id).len(), CHUNK_SIZE);
        }
        for id in many {
            p.give(id);
        }
        assert_eq!(p.counters().chunks_allocated, 3 * SLAB_CHUNKS as u64);
        assert_eq!(p.bytes_in_use(), 0);
        assert_eq!(p.idle_bytes(), 3 * SLAB_CHUNKS * CHUNK_SIZE);
        assert!(p.bytes(1 << 30).is_empty(), "an unknown id reads as nothing, no panic");
        p.give(1 << 30);
        assert_eq!(p.bytes_in_use(), 0, "an unknown id given back changes nothing");
    }
}
