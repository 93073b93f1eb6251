//! A connection's byte stream (its send queue or its receive queue) kept in chunks of the
//! stack's [`ChunkPool`].
//!
//! The queue holds bytes from a read point on: `len` committed bytes, and on the receive side
//! also out-of-order bytes beyond them, written at their offsets. Its chunks cover a
//! contiguous stretch of stream positions from the head chunk on, so offset `o` lives in
//! chunk `(head offset + o) / CHUNK_SIZE` of the list; a cursor remembers the last chunk
//! found, so sequential access (new data to send, in-order arrivals) walks one link at a time.
//! Chunks are taken as bytes are written and given back as soon as every byte in them has been
//! consumed; an empty queue holds no chunk at all.
//!
//! A queue whose bytes fit a [`PIECE_SIZE`] piece (a request or a response in flight) holds
//! that piece instead of a chunk: the queue is then its one "chunk" of `PIECE_SIZE` bytes, and
//! the first write or loan of room that would not fit moves its bytes to a chunk at the same
//! offsets, the queue going on in chunks from there as any other. So a small message costs a
//! sixteenth of a page, and pieces are cut in order from shared pages (see
//! [`ChunkPool`](super::chunk)).
//!
//! Access is zero-copy: readers get the bytes as up to two slices (the first contiguous
//! pieces; call again after consuming for more), writers get the free room of the tail chunk
//! and then commit what they filled. Every call takes the pool: the queue itself is a handful
//! of integers.

#[cfg(test)]
use super::chunk::SLAB_CHUNKS;
use super::chunk::{is_piece, ChunkPool, CHUNK_SIZE, NIL, PIECE_SIZE};

const C: u32 = CHUNK_SIZE as u32;

/// A byte stream in pool chunks. See the [module documentation](self).
#[derive(Clone, Debug)]
pub struct ChunkQueue {
    /// First chunk, or [`NIL`] when none is held; the piece, when the queue is in one.
    head: u32,
    /// Last chunk.
    tail: u32,
    /// Chunks held.
    count: u32,
    /// Offset in the head chunk of the first byte held: below [`CHUNK_SIZE`] (a chunk
    /// emptied by a read is given back at once), so 16 bits hold it; read as a `u32`
    /// through `off`.
    head_off: u16,
    /// Committed bytes from the read point.
    len: u32,
    /// Bytes from the read point to the end of the furthest write (≥ `len`).
    extent: u32,
    /// Id of the chunk last located, [`NIL`] when none is remembered. A hint only: every
    /// walk gives the same chunk without it, from the head.
    cursor_id: u32,
    /// Its index in the list (0 = head), in 16 bits: a chunk further than 65,535 chunks
    /// (256 MiB) from the head is not remembered (`set_cursor`). With a 32-bit index and
    /// the offset above as a `u32`, a queue was 32 bytes, and a common segment touches
    /// both queues (docs/benchmarks.md, "Six lines").
    cursor_at: u16,
}

impl Default for ChunkQueue {
    fn default() -> Self {
        ChunkQueue::new()
    }
}

impl ChunkQueue {
    /// An empty queue, holding no chunk.
    pub const fn new() -> Self {
        ChunkQueue {
            head: NIL,
            tail: NIL,
            count: 0,
            head_off: 0,
            len: 0,
            extent: 0,
            cursor_id: NIL,
            cursor_at: 0,
        }
    }

    /// Committed bytes held.
    pub fn len(&self) -> usize {
        self.len as usize
    }

    /// Whether no committed bytes are held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Chunks held (a piece counts as one).
    pub fn chunks(&self) -> usize {
        self.count as usize
    }

    /// Whether the queue's bytes are in one piece rather than in chunks.
    #[inline(always)]
    pub fn in_piece(&self) -> bool {
        is_piece(self.head)
    }

    /// The first chunk held (or the piece), [`NIL`] when none: the one an acknowledgment
    /// gives back first.
    pub(crate) fn head_chunk(&self) -> u32 {
        self.head
    }

    /// Offset of the first byte held in its chunk (chunk boundaries fall every
    /// [`CHUNK_SIZE`] bytes from the read point less this).
    pub fn head_offset(&self) -> usize {
        self.head_off as usize
    }

    /// Bytes that fit after everything written, in the chunks already held.
    pub fn tail_room(&self) -> usize {
        let held = if self.in_piece() { PIECE_SIZE } else { self.count as usize * CHUNK_SIZE };
        held.saturating_sub((self.off() + self.extent) as usize)
    }

    /// The head offset as the `u32` the arithmetic uses.
    #[inline(always)]
    fn off(&self) -> u32 {
        u32::from(self.head_off)
    }

    /// Sets the head offset, below [`CHUNK_SIZE`] wherever it is set.
    #[inline(always)]
    fn set_off(&mut self, off: u32) {
        debug_assert!(off < C, "a head offset of {off}");
        self.head_off = off as u16;
    }

    /// The chunk last located, as (index, id): id [`NIL`] when none is remembered.
    #[inline(always)]
    fn cursor(&self) -> (u32, u32) {
        (u32::from(self.cursor_at), self.cursor_id)
    }

    /// Remembers chunk `id` at list index `index`, or nothing when the index does not fit
    /// 16 bits (the next walk then starts from the head).
    #[inline(always)]
    fn set_cursor(&mut self, (index, id): (u32, u32)) {
        (self.cursor_at, self.cursor_id) = match u16::try_from(index) {
            Ok(at) => (at, id),
            Err(_) => (0, NIL),
        };
    }

    /// The id of list entry `index` (`< count`), walking from the cursor or the head.
    fn locate(&mut self, pool: &ChunkPool, index: u32) -> u32 {
        let cursor = self.cursor();
        let (mut i, mut id) =
            if cursor.1 != NIL && cursor.0 <= index { cursor } else { (0, self.head) };
        if index + 1 == self.count {
            id = self.tail;
            i = index;
        }
        while i < index && id != NIL {
            id = pool.next(id);
            i += 1;
        }
        self.set_cursor((i, id));
        id
    }

    /// Appends one chunk (taken with `force` as the pool allows); `false` if none was given.
    fn grow(&mut self, pool: &mut ChunkPool, force: bool) -> bool {
        let Some(id) = pool.take(force) else { return false };
        self.append(pool, id);
        true
    }

    /// Makes piece `id`, just taken, an empty queue's one. [`append`](Self::append)'s result
    /// for an empty queue, without its test of the tail (9 instructions a frame of a small
    /// echo, where the common write takes this).
    #[inline(always)]
    fn hold_piece(&mut self, id: u32) {
        debug_assert!(self.count == 0 && self.tail == NIL);
        (self.head, self.tail, self.count, self.head_off) = (id, id, 1, 0);
    }

    /// Links chunk `id`, just taken, after the last one held.
    #[inline]
    fn append(&mut self, pool: &mut ChunkPool, id: u32) {
        if self.tail == NIL {
            self.head = id;
            self.head_off = 0;
        } else {
            pool.set_next(self.tail, id);
        }
        self.tail = id;
        self.count += 1;
    }

    /// Up to `len` bytes starting `offset` bytes after the read point, as two slices (the
    /// second is empty unless the range crosses a chunk boundary). The range is clamped to the
    /// chunks held, and to two chunks: a caller wanting more calls again further on. It may
    /// include bytes not committed (the receive path stores out-of-order bytes there).
    ///
    /// Inlined as far as the head chunk (a small message, the oldest segment) and the chunk
    /// the cursor holds (the sender's next segment); the walk to another chunk is a call.
    #[inline]
    pub fn slices_at<'p>(
        &mut self,
        pool: &'p ChunkPool,
        offset: usize,
        len: usize,
    ) -> (&'p [u8], &'p [u8]) {
        let start = (self.head_off as usize).saturating_add(offset);
        if self.count > 0 && len <= CHUNK_SIZE && start <= CHUNK_SIZE - len {
            let head = if self.in_piece() {
                // Clamped to the piece, as a range is to the chunks held.
                pool.piece_at(self.head)
                    .and_then(|p| p.get(start.min(PIECE_SIZE)..(start + len).min(PIECE_SIZE)))
            } else {
                pool.chunk(self.head).and_then(|c| c.get(start..start + len))
            };
            return (head.unwrap_or(&[]), &[]);
        }
        // Within the chunk last located (a sender's next segment, two in three of a bulk
        // stream's): the walk would find that chunk and leave the cursor where it is.
        let (index, id) = self.cursor();
        if id != NIL && len <= CHUNK_SIZE {
            if let Some(within) = start.checked_sub(index as usize * CHUNK_SIZE) {
                if within <= CHUNK_SIZE - len {
                    let piece = pool.chunk(id).and_then(|c| c.get(within..within + len));
                    return (piece.unwrap_or(&[]), &[]);
                }
            }
        }
        self.slices_beyond_head(pool, offset, len)
    }

    /// [`slices_at`](Self::slices_at) for a range that does not lie in the head chunk.
    #[inline(never)]
    fn slices_beyond_head<'p>(
        &mut self,
        pool: &'p ChunkPool,
        offset: usize,
        len: usize,
    ) -> (&'p [u8], &'p [u8]) {
        let Ok(offset) = u32::try_from(offset) else { return (&[], &[]) };
        let pos = self.head_off as u64 + offset as u64;
        let index = (pos / CHUNK_SIZE as u64) as u32;
        if len == 0 || index >= self.count {
            return (&[], &[]);
        }
        let within = (pos % CHUNK_SIZE as u64) as usize;
        let id = self.locate(pool, index);
        let first = pool.bytes(id).get(within..).unwrap_or(&[]);
        let first = &first[..first.len().min(len)];
        let rest = len - first.len();
        if rest == 0 || index + 1 >= self.count {
            return (first, &[]);
        }
        let second = pool.chunk_bytes(pool.next(id));
        (first, &second[..second.len().min(rest)])
    }

    /// The committed bytes, oldest first: the first contiguous pieces (at most two chunks'
    /// worth). Consume them, then call again for the rest.
    pub fn readable<'p>(&self, pool: &'p ChunkPool) -> (&'p [u8], &'p [u8]) {
        if self.len == 0 {
            return (&[], &[]);
        }
        let first = pool.bytes(self.head).get(self.head_off as usize..).unwrap_or(&[]);
        let first = &first[..first.len().min(self.len as usize)];
        let rest = self.len as usize - first.len();
        if rest == 0 {
            return (first, &[]);
        }
        let second = pool.chunk_bytes(pool.next(self.head));
        (first, &second[..second.len().min(rest)])
    }

    /// Drops `n` committed bytes from the read point (clamped to `len`), giving back every
    /// chunk left without a byte; returns how many.
    ///
    /// Inlined as far as the two common cases: everything held is consumed and it was in
    /// one chunk (a request or response acknowledged or read whole), and the bytes consumed
    /// leave the head chunk with a byte still held (most ACKs of a bulk stream). Both do
    /// what the general path does, without its loop. Always inlined: with `#[inline]` alone
    /// the ACK path (`on_ack`) kept it a call.
    #[inline(always)]
    pub fn consume(&mut self, pool: &mut ChunkPool, n: usize) -> usize {
        let n = n.min(self.len as usize) as u32;
        if n == 0 {
            return 0;
        }
        if n == self.extent && self.count == 1 {
            // `clear` of a one-chunk queue.
            pool.give(self.head);
            *self = ChunkQueue::new();
            return n as usize;
        }
        if n < self.extent && self.off() + n < C {
            self.len -= n;
            self.extent -= n;
            self.set_off(self.off() + n);
            return n as usize;
        }
        self.consume_across(pool, n)
    }

    /// [`consume`](Self::consume) of `n` (not zero, at most `len`) bytes that empty the
    /// queue's chunks or reach past the head chunk: every chunk left without a byte goes back.
    #[inline(never)]
    fn consume_across(&mut self, pool: &mut ChunkPool, n: u32) -> usize {
        self.len -= n;
        self.extent -= n;
        if self.extent == 0 {
            // Nothing held beyond the read point: give every chunk back.
            self.clear(pool);
            return n as usize;
        }
        let mut off = self.off() + n;
        while off >= C && self.head != NIL {
            let next = pool.next(self.head);
            pool.give(self.head);
            self.head = next;
            off -= C;
            self.count -= 1;
            let cursor = self.cursor();
            self.set_cursor(match cursor.0.checked_sub(1) {
                Some(i) if cursor.1 != NIL => (i, cursor.1),
                _ => (0, NIL),
            });
        }
        if self.head == NIL {
            self.tail = NIL;
            self.head_off = 0;
        } else {
            self.set_off(off);
        }
        n as usize
    }

    /// Gives every chunk back and forgets every byte.
    pub fn clear(&mut self, pool: &mut ChunkPool) {
        let mut id = self.head;
        while id != NIL {
            let next = pool.next(id);
            pool.give(id);
            id = next;
        }
        *self = ChunkQueue::new();
    }

    /// The common case of [`write_at`](Self::write_at) and [`append_small`](Self::append_small):
    /// `data` (not empty) written at `pos` bytes from the head chunk's start, where that is in
    /// the piece held or a new one (an empty queue's, when it fits), in the tail chunk held,
    /// in the chunk after it (taken here, `force` only for an empty queue's first, as the
    /// general path asks), or across the end of the tail chunk into
    /// one new chunk. `Some(data.len())` when written (the caller updates `extent` and
    /// `len`), `Some(0)` when the pool refused the one chunk a range past the tail needs
    /// (nothing changed), `None` for every other case (nothing changed either: the general
    /// path then does the same, including a refusal of the chunk a crossing range needs,
    /// which `take` makes without side effects). The cursor ends where the general path
    /// leaves it when a chunk was linked (on the new tail); otherwise it is untouched, as
    /// there. One shared body, always inlined, so neither caller pays a call for it.
    #[inline(always)]
    fn put_at_tail(
        &mut self,
        pool: &mut ChunkPool,
        pos: usize,
        data: &[u8],
        force: bool,
    ) -> Option<usize> {
        let n = data.len();
        let count = self.count as usize;
        if count == 0 && pos + n <= PIECE_SIZE {
            // Fits a piece: an empty queue's first bytes (`pos` is the offset then).
            let Some(id) = pool.take_piece(force) else { return Some(0) };
            self.hold_piece(id);
        }
        if self.in_piece() {
            // Within the piece, or the general path moves the bytes to a chunk first.
            pool.piece_at_mut(self.head)?.get_mut(pos..pos + n)?.copy_from_slice(data);
            return Some(n);
        }
        let (index, within) = (pos / CHUNK_SIZE, pos % CHUNK_SIZE);
        if within + n <= CHUNK_SIZE {
            if index == count {
                // The chunk after the last one held (the first when the queue is empty).
                let Some(id) = pool.take(force && count == 0) else { return Some(0) };
                self.append(pool, id);
            } else if index + 1 != count {
                return None;
            }
            pool.chunk_mut(self.tail)?.get_mut(within..within + n)?.copy_from_slice(data);
            return Some(n);
        }
        // Across the tail chunk's end into one new chunk (a full-sized segment, one in three
        // of a bulk stream's): the general path's two pieces without its walk.
        if index + 1 != count || n > CHUNK_SIZE {
            return None;
        }
        let tail = self.tail;
        let id = pool.take(false)?;
        self.append(pool, id);
        self.set_cursor((self.count - 1, id));
        let (a, b) = data.split_at(CHUNK_SIZE - within);
        pool.chunk_bytes_mut(tail).get_mut(within..)?.copy_from_slice(a);
        pool.chunk_bytes_mut(id).get_mut(..b.len())?.copy_from_slice(b);
        Some(n)
    }

    /// Copies `data` into the stream `offset` bytes after the read point without committing
    /// it, taking chunks as needed. Only offsets at or beyond `len` are written (committed
    /// bytes are never overwritten). Returns the number of bytes of `data` written, counted
    /// from its start: short when the pool refused a chunk (`force` asks for one beyond the
    /// hard limit).
    pub fn write_at(
        &mut self,
        pool: &mut ChunkPool,
        offset: usize,
        data: &[u8],
        force: bool,
    ) -> usize {
        if offset < self.len as usize || data.is_empty() {
            return 0;
        }
        let Ok(end) = u32::try_from(offset + data.len()) else { return 0 };
        // Fast path: the range lands in the tail chunk held, the chunk after it (an empty
        // queue's first), or the tail chunk and the one after it (an in-order segment that
        // fills the tail chunk): one chunk taken at most, no list walk, no loop.
        let head_off = if self.count == 0 { 0 } else { self.head_off as usize };
        match self.put_at_tail(pool, head_off + offset, data, force) {
            Some(0) => {
                // As the general path leaves a refused append: nothing held past `extent`.
                if self.count > 0 {
                    self.trim(pool);
                }
                return 0;
            }
            Some(n) => {
                self.extent = self.extent.max(end);
                return n;
            }
            None => {}
        }
        if self.in_piece() && !self.move_to_chunk(pool, force) {
            return 0;
        }
        if self.count == 0 {
            self.head_off = 0;
            if !self.grow(pool, force) {
                return 0;
            }
        }
        // Take every chunk the range needs first (a forced one only as an empty queue's
        // first); if the pool refuses, write the part the chunks held cover.
        let start = self.head_off as usize + offset;
        let last = ((start + data.len() - 1) / CHUNK_SIZE) as u32;
        while self.count <= last {
            if !self.grow(pool, force && self.count == 0) {
                break;
            }
        }
        let covered = (self.count as usize * CHUNK_SIZE).saturating_sub(start).min(data.len());
        if covered == 0 {
            // Chunks taken for a gap before bytes that found no room hold nothing.
            self.trim(pool);
            return 0;
        }
        // Then copy chunk by chunk, following the links from the first one.
        let mut index = (start / CHUNK_SIZE) as u32;
        let mut id = self.locate(pool, index);
        let mut within = start % CHUNK_SIZE;
        let mut written = 0usize;
        loop {
            let n = (CHUNK_SIZE - within).min(covered - written);
            match pool.chunk_bytes_mut(id).get_mut(within..within + n) {
                Some(dst) => dst.copy_from_slice(&data[written..written + n]),
                None => break,
            }
            written += n;
            if written == covered {
                break;
            }
            id = pool.next(id);
            index += 1;
            within = 0;
        }
        self.set_cursor((index, id));
        self.extent = self.extent.max(end.min((offset + written) as u32));
        if written < data.len() {
            self.trim(pool);
        }
        written
    }

    /// Moves the piece's bytes (committed and not) to a chunk at the same offsets and gives
    /// the piece back: the queue is in chunks from here on. `false`, and nothing changed, if
    /// the pool refused the chunk (`force` as for an empty queue's first: this is the queue's
    /// first chunk).
    #[inline(never)]
    fn move_to_chunk(&mut self, pool: &mut ChunkPool, force: bool) -> bool {
        let piece = self.head;
        let Some(id) = pool.take(force) else { return false };
        let (start, end) = (self.off() as usize, (self.off() + self.extent) as usize);
        let copied = pool.copy_between(piece, start..end, id, start);
        debug_assert_eq!(copied, end - start, "a piece's bytes fit a chunk");
        pool.give(piece);
        (self.head, self.tail, self.count) = (id, id, 1);
        self.set_cursor((0, id));
        true
    }

    /// Marks `n` bytes after the committed ones (written through
    /// [`write_at`](Self::write_at)) as committed; clamped to what was written. Returns how
    /// many. Bytes written further on (out of order) stay where they are.
    pub fn commit(&mut self, n: usize) -> usize {
        let n = n.min((self.extent - self.len) as usize) as u32;
        self.len += n;
        n as usize
    }

    /// Commits `n` bytes of the room lent by [`writable`](Self::writable) (clamped to it) and
    /// gives back the chunk if it stayed unfilled. Returns how many.
    pub fn commit_room(&mut self, pool: &mut ChunkPool, n: usize) -> usize {
        let n = self.commit(n);
        self.extent = self.len;
        self.trim(pool);
        n
    }

    /// Gives back tail chunks that hold no byte below `extent`.
    fn trim(&mut self, pool: &mut ChunkPool) {
        if self.extent == 0 {
            self.clear(pool);
            return;
        }
        let needed = (self.off() + self.extent).div_ceil(C);
        if needed < self.count {
            let last = self.locate(pool, needed - 1);
            let mut id = pool.next(last);
            while id != NIL {
                let next = pool.next(id);
                pool.give(id);
                id = next;
            }
            pool.set_next(last, NIL);
            self.tail = last;
            self.count = needed;
            self.set_cursor((needed - 1, last));
        }
    }

    /// Free room for appending, as one mutable slice (the tail chunk's free part, or a new
    /// chunk), at most `limit` bytes; fill it and [`commit_room`](Self::commit_room). Empty when the
    /// pool refused a chunk (`force` asks for the first one beyond the hard limit).
    pub fn writable<'p>(
        &mut self,
        pool: &'p mut ChunkPool,
        limit: usize,
        force: bool,
    ) -> &'p mut [u8] {
        match self.writable_span(pool, limit, force) {
            Some((id, within, n)) => {
                pool.bytes_mut(id).get_mut(within..within + n).unwrap_or(&mut [])
            }
            None => &mut [],
        }
    }

    /// [`writable`](Self::writable) as (chunk, offset, length), so the room can be filled from
    /// another chunk of the same pool.
    fn writable_span(
        &mut self,
        pool: &mut ChunkPool,
        limit: usize,
        force: bool,
    ) -> Option<(u32, usize, usize)> {
        if limit == 0 {
            return None;
        }
        // Anything written but not committed is forgotten: the room starts after `len`.
        self.extent = self.len;
        let pos = (self.off() + self.len) as usize;
        if self.count == 0 && limit <= PIECE_SIZE {
            // Room for a small message (a splice of one): a piece.
            let id = pool.take_piece(force)?;
            self.hold_piece(id);
        }
        if self.in_piece() {
            if pos + limit <= PIECE_SIZE {
                self.extent = self.len + limit as u32;
                return Some((self.head, pos, limit));
            }
            if !self.move_to_chunk(pool, force) {
                return None;
            }
        }
        if self.count == 0 {
            self.head_off = 0;
        }
        let index = (pos / CHUNK_SIZE) as u32;
        if self.count <= index && !self.grow(pool, force && self.count == 0) {
            return None;
        }
        let id = self.locate(pool, index);
        let within = pos % CHUNK_SIZE;
        let n = (CHUNK_SIZE - within).min(limit);
        // The room counts as written so `commit_room` accepts it, and trims what stays unfilled.
        self.extent = self.len + n as u32;
        Some((id, within, n))
    }

    /// Moves up to `limit` committed bytes from the read point of `src` to the end of this
    /// queue, chunk piece by chunk piece with one copy each, committing them here and
    /// consuming them there. Returns how many moved (short: `src` ran dry, or the pool refused
    /// a chunk).
    pub fn splice_from(
        &mut self,
        src: &mut ChunkQueue,
        pool: &mut ChunkPool,
        limit: usize,
        force: bool,
    ) -> usize {
        let mut moved = 0;
        while moved < limit && src.len > 0 {
            let want = (limit - moved).min(src.len as usize);
            let Some((dst, at, room)) = self.writable_span(pool, want, force) else {
                break;
            };
            let from = src.head_off as usize;
            let n = room.min(src.len as usize).min(CHUNK_SIZE - from);
            let copied = pool.copy_between(src.head, from..from + n, dst, at);
            self.commit_room(pool, copied);
            src.consume(pool, copied);
            moved += copied;
            if copied == 0 {
                break;
            }
        }
        moved
    }

    /// Copies as much of `data` as `limit` and the pool allow to the end and commits it.
    pub fn enqueue(
        &mut self,
        pool: &mut ChunkPool,
        data: &[u8],
        limit: usize,
        force: bool,
    ) -> usize {
        let data = &data[..data.len().min(limit)];
        let n = self.write_at(pool, self.len as usize, data, force);
        self.commit(n)
    }

    /// The application's common write ([`enqueue`](Self::enqueue) of all of `data`, forced,
    /// where it lands at the end of the tail chunk, in one chunk after it, or across the two):
    /// [`append_committed`](Self::append_committed) with the first chunk of an empty queue
    /// forced, as `enqueue` forces it.
    #[inline]
    pub fn append_small(&mut self, pool: &mut ChunkPool, data: &[u8]) -> Option<usize> {
        self.append_committed(pool, data, true)
    }

    /// Appends all of `data` after the committed bytes and commits it, where nothing was
    /// written past them (`extent == len`: no out-of-order bytes held) and `data` lands in
    /// the tail chunk, the one chunk after it, or across the two ([`put_at_tail`]'s cases;
    /// `force` asks for an empty queue's first chunk beyond the hard limit). Returns
    /// `Some(data.len())`, or `Some(0)` when the pool refused the one chunk it needed (nothing
    /// changed; `write_at` leaves the same, since a queue holding chunks holds a byte below
    /// `extent` and its trim gives nothing back). `None`, and nothing changed, in every
    /// other case: the caller takes `write_at` and `commit`, which do the same where both
    /// apply. The common write of the application and the in-order segment of the receive
    /// path take this, and no call: one copy (two across a chunk boundary), one commit.
    ///
    /// [`put_at_tail`]: Self::put_at_tail
    #[inline(always)]
    pub fn append_committed(
        &mut self,
        pool: &mut ChunkPool,
        data: &[u8],
        force: bool,
    ) -> Option<usize> {
        // Bytes written past `len` and not committed: the general path's business.
        if self.extent != self.len || data.is_empty() {
            return None;
        }
        debug_assert!(self.count == 0 || self.extent > 0, "a chunk held holds a byte");
        let head_off = if self.count == 0 { 0 } else { self.head_off as usize };
        let n = self.put_at_tail(pool, head_off + self.len as usize, data, force)?;
        self.len += n as u32;
        self.extent = self.len;
        Some(n)
    }

    /// The application's common read ([`dequeue`](Self::dequeue) where what is wanted lies in
    /// the head chunk and taking it does not cross into the next one): copies
    /// `min(out.len(), len)` bytes out and consumes them, giving the chunk back if the queue
    /// is left empty. `None`, and nothing changed, for an empty read or any other case.
    #[inline(always)]
    pub fn dequeue_small(&mut self, pool: &mut ChunkPool, out: &mut [u8]) -> Option<usize> {
        let want = out.len().min(self.len as usize);
        let start = self.head_off as usize;
        let end = start + want;
        if want == 0 || end > CHUNK_SIZE {
            return None;
        }
        let emptied = self.extent as usize == want;
        // Emptied: the one chunk goes back (`consume`'s `clear`). Otherwise the head chunk
        // must keep a byte, or `consume` would give it back and move on.
        if (emptied && self.count != 1) || (!emptied && end == CHUNK_SIZE) {
            return None;
        }
        let held = if self.in_piece() {
            pool.piece_at(self.head)?.get(start..end)?
        } else {
            pool.chunk(self.head)?.get(start..end)?
        };
        out[..want].copy_from_slice(held);
        if emptied {
            pool.give(self.head);
            *self = ChunkQueue::new();
        } else {
            self.len -= want as u32;
            self.extent -= want as u32;
            self.set_off(end as u32);
        }
        Some(want)
    }

    /// Copies up to `out.len()` committed bytes out and consumes them.
    ///
    /// A read larger than the head chunk copies chunk by chunk along the links, then
    /// consumes once: one walk, and the chunks emptied go back in that one `consume`.
    pub fn dequeue(&mut self, pool: &mut ChunkPool, out: &mut [u8]) -> usize {
        // What is wanted sits in the head chunk: the common read's one copy.
        if let Some(n) = self.dequeue_small(pool, out) {
            return n;
        }
        let want = out.len().min(self.len as usize);
        let (mut done, mut id, mut start) = (0, self.head, self.head_off as usize);
        while done < want {
            let k = (CHUNK_SIZE - start).min(want - done);
            // A queue in a piece was read whole by `dequeue_small`: chunks only here.
            let Some(src) = pool.chunk_bytes(id).get(start..start + k) else { break };
            out[done..done + k].copy_from_slice(src);
            done += k;
            id = pool.next(id);
            start = 0;
        }
        self.consume(pool, done)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(q: &mut ChunkQueue, pool: &ChunkPool) -> Vec<u8> {
        let mut v = Vec::new();
        let mut off = 0;
        while off < q.len() {
            let (a, b) = q.slices_at(pool, off, q.len() - off);
            v.extend_from_slice(a);
            v.extend_from_slice(b);
            off += a.len() + b.len();
        }
        v
    }

    /// The queue is 28 bytes: the head offset and the cursor's index 16-bit. A cursor whose
    /// index does not fit is not kept, and a walk then finds the same chunk from the head;
    /// one that fits is kept as it was given.
    #[test]
    fn the_cursor_keeps_what_fits_sixteen_bits() {
        assert_eq!(core::mem::size_of::<ChunkQueue>(), 28);
        let mut q = ChunkQueue::new();
        q.set_cursor((u32::from(u16::MAX), 7));
        assert_eq!(q.cursor(), (u32::from(u16::MAX), 7));
        q.set_cursor((u32::from(u16::MAX) + 1, 7));
        assert_eq!(q.cursor(), (0, NIL), "past 65,535 chunks from the head: not remembered");
        q.set_off(C - 1);
        assert_eq!(q.head_offset(), CHUNK_SIZE - 1);
        // A walk without the cursor finds what it finds with it.
        let mut pool = ChunkPool::unbounded();
        let data = vec![5u8; 3 * CHUNK_SIZE + 10];
        let mut w = ChunkQueue::new();
        let mut done = 0;
        while done < data.len() {
            let n = w.append_small(&mut pool, &data[done..(done + 1000).min(data.len())]);
            done += n.expect("room");
        }
        let with = w.slices_at(&pool, 2 * CHUNK_SIZE + 5, 100).0.as_ptr();
        w.set_cursor((u32::from(u16::MAX) + 1, 0));
        let without = w.slices_at(&pool, 2 * CHUNK_SIZE + 5, 100).0.as_ptr();
        assert_eq!(with, without);
    }

    #[test]
    fn the_chunk_an_ack_frees_holds_the_next_data_received() {
        // What the RX look-ahead counts on when it reads the first line of the send queue's
        // first chunk (`Connection::send_head_chunk`, `stack::batch`): the request that
        // acknowledges a response frees that chunk, and the request's data goes to its start.
        let mut pool = ChunkPool::unbounded();
        // Other connections' chunks, some given back, so that the pool has others to offer.
        let mut others: Vec<ChunkQueue> = (0..8).map(|_| ChunkQueue::new()).collect();
        for (i, q) in others.iter_mut().enumerate() {
            assert_eq!(q.append_small(&mut pool, &[i as u8; 100]), Some(100));
        }
        for q in others.iter_mut().step_by(2) {
            q.clear(&mut pool);
        }
        let (mut send, mut recv) = (ChunkQueue::new(), ChunkQueue::new());
        assert_eq!(send.append_small(&mut pool, &[1; 64]), Some(64), "the response");
        let head = send.head_chunk();
        assert_eq!(pool.warm_word(head), 1);
        assert_eq!(send.consume(&mut pool, 64), 64, "the request acknowledges it");
        assert_eq!(send.head_chunk(), NIL);
        assert_eq!(recv.append_small(&mut pool, &[2; 64]), Some(64), "the request's data");
        assert_eq!(recv.head_chunk(), head);
        assert_eq!(recv.head_offset(), 0);
        assert_eq!(pool.warm_word(head), 2);
        assert_eq!(pool.warm_word(NIL), 0, "no chunk, no read");
    }

    #[test]
    fn appends_and_consumes_across_chunks_giving_chunks_back() {
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        let data: Vec<u8> = (0..10_000u32).map(|i| i as u8).collect();
        assert_eq!(q.enqueue(&mut pool, &data, usize::MAX, false), 10_000);
        assert_eq!(q.chunks(), 3);
        assert_eq!(all(&mut q, &pool), data);
        let (a, b) = q.readable(&pool);
        assert_eq!((a.len(), b.len()), (CHUNK_SIZE, CHUNK_SIZE));
        assert_eq!(q.consume(&mut pool, 5000), 5000);
        assert_eq!(q.chunks(), 2, "the first chunk went back");
        assert_eq!(all(&mut q, &pool), &data[5000..]);
        let mut out = vec![0u8; 6000];
        assert_eq!(q.dequeue(&mut pool, &mut out), 5000);
        assert_eq!(&out[..5000], &data[5000..]);
        assert_eq!((q.chunks(), pool.bytes_in_use()), (0, 0), "an empty queue holds nothing");
    }

    #[test]
    fn out_of_order_bytes_wait_at_their_offsets() {
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        assert_eq!(q.write_at(&mut pool, 9000, b"late", false), 4);
        assert_eq!(q.chunks(), 3, "chunks cover the gap");
        assert_eq!(q.write_at(&mut pool, 0, b"first", false), 5);
        assert_eq!(q.commit(5), 5);
        assert_eq!(q.consume(&mut pool, 5), 5);
        assert_eq!(q.chunks(), 3, "the out-of-order bytes keep their chunks");
        let (a, _) = q.slices_at(&pool, 8995, 4);
        assert_eq!(a, b"late");
        assert_eq!(q.write_at(&mut pool, 0, b"x", false), 1);
        assert_eq!(q.write_at(&mut pool, 0, b"y", false), 1, "uncommitted bytes may be rewritten");
        q.commit(1);
        assert_eq!(q.write_at(&mut pool, 0, b"z", false), 0, "committed bytes are not");
    }

    #[test]
    fn splice_moves_bytes_between_queues_with_both_ends_mid_chunk() {
        // Chunks from several slabs (more than a slab's chunks in use), so the copy between two
        // chunks takes both the same-slab and the other-slab path.
        // `dst`'s first chunk is in slab 0, `src`'s in slab 1; later `dst` chunks reuse the
        // chunks `src` gave back, in slab 1.
        let mut pool = ChunkPool::unbounded();
        let mut dst = ChunkQueue::new();
        assert_eq!(dst.enqueue(&mut pool, b"head", usize::MAX, false), 4);
        let mut filler = ChunkQueue::new();
        let fill = vec![0; (SLAB_CHUNKS + 6) * CHUNK_SIZE];
        assert!(filler.enqueue(&mut pool, &fill, usize::MAX, false) > 0);
        let mut src = ChunkQueue::new();
        let data: Vec<u8> = (0..30_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
        assert_eq!(src.enqueue(&mut pool, &data, usize::MAX, false), data.len());
        assert_eq!(src.consume(&mut pool, 1000), 1000, "the read point is mid-chunk");
        let before = pool.bytes_in_use();
        // Limited: only 5000 bytes move.
        assert_eq!(dst.splice_from(&mut src, &mut pool, 5000, false), 5000);
        assert_eq!((src.len(), dst.len()), (data.len() - 6000, 5004));
        // The rest, in one call.
        assert_eq!(dst.splice_from(&mut src, &mut pool, usize::MAX, false), data.len() - 6000);
        assert!(src.is_empty());
        assert_eq!(src.chunks(), 0, "every source chunk went back");
        let mut want = b"head".to_vec();
        want.extend_from_slice(&data[1000..]);
        assert_eq!(all(&mut dst, &pool), want);
        assert!(pool.bytes_in_use() <= before, "no chunk is held twice");
        assert_eq!(dst.splice_from(&mut src, &mut pool, usize::MAX, false), 0, "src is dry");
    }

    #[test]
    fn writable_room_is_one_chunk_and_unfilled_room_goes_back() {
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        let room = q.writable(&mut pool, 10_000, false);
        assert_eq!(room.len(), CHUNK_SIZE);
        room[..3].copy_from_slice(b"abc");
        assert_eq!(q.commit_room(&mut pool, 3), 3);
        let room = q.writable(&mut pool, 2, false);
        assert_eq!(room.len(), 2, "limited");
        assert_eq!(q.commit_room(&mut pool, 0), 0);
        assert_eq!(q.chunks(), 1);
        q.consume(&mut pool, 3);
        assert_eq!(q.chunks(), 0);
        q.writable(&mut pool, 10, false);
        q.commit_room(&mut pool, 0);
        assert_eq!((q.chunks(), pool.bytes_in_use()), (0, 0));
    }

    #[test]
    fn a_write_into_the_chunk_after_the_tail_takes_one_and_a_refused_one_leaves_the_queue_as_it_was(
    ) {
        use super::super::chunk::MemoryBudget;
        let c = CHUNK_SIZE;
        let mut pool = ChunkPool::new(MemoryBudget { low: c, pressure: c, high: 2 * c }, 0);
        let mut q = ChunkQueue::new();
        assert_eq!(q.enqueue(&mut pool, &vec![2u8; c], usize::MAX, false), c, "one full chunk");
        assert_eq!(q.write_at(&mut pool, c + 10, b"ooo", false), 3, "lands in a second chunk");
        assert_eq!((q.chunks(), q.tail_room()), (2, c - 13));
        assert_eq!(q.slices_at(&pool, c + 10, 3).0, b"ooo");
        // The budget is spent: a write past the second chunk finds no third.
        assert_eq!(q.write_at(&mut pool, 2 * c + 5, b"no", false), 0);
        assert_eq!((q.chunks(), pool.bytes_in_use()), (2, 2 * c), "nothing taken, nothing lost");
        assert_eq!(q.write_at(&mut pool, c, &[3u8; 10], false), 10, "the gap fills in place");
        assert_eq!(q.commit(100), 13, "up to the end of the furthest write");
        q.clear(&mut pool);
        assert_eq!(pool.bytes_in_use(), 0);
    }

    proptest::proptest! {
        /// Any mix of writes (in order, past a gap, rewriting uncommitted bytes, in one chunk
        /// or across several), commits, consumes, one-step appends (`append_committed`, taken
        /// exactly where its cases apply) and reads (`dequeue`, the head chunk's or the walk
        /// across chunks) keeps the bytes a plain vector model keeps, reads them back in
        /// order, and holds exactly the chunks its bytes span.
        #[test]
        fn writes_commits_and_consumes_match_a_model(
            ops in proptest::collection::vec((0u8..5, 0usize..5000, 1usize..9000, proptest::num::u8::ANY), 1..40)
        ) {
            let mut pool = ChunkPool::unbounded();
            let mut q = ChunkQueue::new();
            // Bytes from the read point on; `None` where nothing was written.
            let mut model: Vec<Option<u8>> = Vec::new();
            let mut committed = 0usize;
            for (kind, a, b, fill) in ops {
                // One operation in three is small (a piece's worth), so that queues in one
                // piece, and the move from a piece to chunks, are as common as chunks.
                let (a, b) = if fill % 3 == 0 { (a % 300, b % 200 + 1) } else { (a, b) };
                match kind {
                    0 => {
                        let offset = committed + a % 6000;
                        let data: Vec<u8> = (0..b).map(|i| fill.wrapping_add(i as u8)).collect();
                        let was_empty = q.chunks() == 0;
                        proptest::prop_assert_eq!(q.write_at(&mut pool, offset, &data, false), b);
                        if was_empty {
                            // An empty queue's first write takes a piece where it fits one.
                            proptest::prop_assert_eq!(q.in_piece(), offset + b <= PIECE_SIZE);
                        }
                        if model.len() < offset + b {
                            model.resize(offset + b, None);
                        }
                        for (i, &x) in data.iter().enumerate() {
                            model[offset + i] = Some(x);
                        }
                    }
                    1 => {
                        // Up to the end of the furthest write, gaps included (their bytes
                        // are whatever the chunk held: the receive path never commits one).
                        let n = q.commit(a);
                        proptest::prop_assert_eq!(n, a.min(model.len() - committed));
                        committed += n;
                    }
                    2 => {
                        let n = q.consume(&mut pool, a);
                        proptest::prop_assert_eq!(n, a.min(committed));
                        model.drain(..n);
                        committed -= n;
                    }
                    3 => {
                        // The one-step append: all of it, committed, where nothing is held
                        // past the committed bytes and it lands in the tail chunk, the next
                        // one, or across the two; else `None` and nothing changed (checked
                        // below against the unchanged model).
                        let data: Vec<u8> = (0..b).map(|i| fill.wrapping_add(i as u8)).collect();
                        let tail_end = (q.head_offset() + committed) % CHUNK_SIZE;
                        let fits = if q.in_piece() {
                            q.head_offset() + committed + b <= PIECE_SIZE
                        } else {
                            b <= CHUNK_SIZE
                                && (tail_end + b <= CHUNK_SIZE || (q.chunks() > 0 && tail_end != 0))
                        };
                        match q.append_committed(&mut pool, &data, false) {
                            Some(n) => {
                                proptest::prop_assert!(model.len() == committed && fits);
                                proptest::prop_assert_eq!(n, b);
                                model.extend(data.iter().map(|&x| Some(x)));
                                committed += n;
                            }
                            None => proptest::prop_assert!(model.len() != committed || !fits),
                        }
                    }
                    _ => {
                        let mut out = vec![0u8; a];
                        let n = q.dequeue(&mut pool, &mut out);
                        proptest::prop_assert_eq!(n, a.min(committed));
                        for (i, (g, w)) in out[..n].iter().zip(&model[..n]).enumerate() {
                            if let Some(w) = w {
                                proptest::prop_assert_eq!(g, w, "read byte {}", i);
                            }
                        }
                        model.drain(..n);
                        committed -= n;
                    }
                }
                proptest::prop_assert_eq!(q.len(), committed);
                let got = all(&mut q, &pool);
                for (i, (g, w)) in got.iter().zip(&model[..committed]).enumerate() {
                    if let Some(w) = w {
                        proptest::prop_assert_eq!(g, w, "byte {}", i);
                    }
                }
                for (i, w) in model.iter().enumerate().skip(committed) {
                    if let Some(w) = w {
                        let (s, _) = q.slices_at(&pool, i, 1);
                        proptest::prop_assert_eq!(s, &[*w][..], "uncommitted byte {}", i);
                    }
                }
                let spans = (q.head_offset() + model.len()).div_ceil(CHUNK_SIZE);
                if q.in_piece() {
                    // One piece, holding everything written, on one page in use.
                    proptest::prop_assert!(!model.is_empty());
                    proptest::prop_assert!(q.head_offset() + model.len() <= PIECE_SIZE);
                    proptest::prop_assert_eq!(q.chunks(), 1);
                } else {
                    proptest::prop_assert_eq!(q.chunks(), if model.is_empty() { 0 } else { spans });
                }
                proptest::prop_assert_eq!(pool.bytes_in_use(), q.chunks() * CHUNK_SIZE);
                proptest::prop_assert_eq!(pool.counters().pieces_in_use, u64::from(q.in_piece()));
            }
        }
    }

    proptest::proptest! {
        /// Many queues sharing one pool, small and large writes, reads and splices: no
        /// queue's bytes are touched by another's (pieces of one page lie side by side), the
        /// pool counts exactly the pages with a piece in use and the chunks held, and
        /// everything goes back when the queues are cleared.
        #[test]
        fn queues_sharing_pages_keep_their_bytes_and_the_pool_counts_them(
            ops in proptest::collection::vec((0usize..24, 0u8..4, 1usize..700, proptest::num::u8::ANY), 1..300)
        ) {
            let mut pool = ChunkPool::unbounded();
            let mut qs: Vec<ChunkQueue> = (0..24).map(|_| ChunkQueue::new()).collect();
            let mut models: Vec<Vec<u8>> = vec![Vec::new(); 24];
            for (i, kind, n, fill) in ops {
                match kind {
                    0 | 1 => {
                        let data: Vec<u8> = (0..n).map(|k| fill.wrapping_add(k as u8)).collect();
                        let done = if kind == 0 {
                            qs[i].enqueue(&mut pool, &data, usize::MAX, false)
                        } else {
                            qs[i].append_small(&mut pool, &data).unwrap_or_else(|| {
                                qs[i].enqueue(&mut pool, &data, usize::MAX, true)
                            })
                        };
                        proptest::prop_assert_eq!(done, n);
                        models[i].extend_from_slice(&data);
                    }
                    2 => {
                        let mut out = vec![0u8; n / 2];
                        let got = qs[i].dequeue(&mut pool, &mut out);
                        proptest::prop_assert_eq!(got, out.len().min(models[i].len()));
                        proptest::prop_assert_eq!(&out[..got], &models[i][..got]);
                        models[i].drain(..got);
                    }
                    _ => {
                        // Splice into the next queue.
                        let j = (i + 1) % qs.len();
                        let (lo, hi) = qs.split_at_mut(j.max(i));
                        let (src, dst) =
                            if i < j { (&mut lo[i], &mut hi[0]) } else { (&mut hi[0], &mut lo[j]) };
                        let moved = dst.splice_from(src, &mut pool, n, false);
                        proptest::prop_assert_eq!(moved, n.min(models[i].len()));
                        let bytes: Vec<u8> = models[i].drain(..moved).collect();
                        models[j].extend_from_slice(&bytes);
                    }
                }
                let mut pages = std::collections::BTreeSet::new();
                let mut chunks = 0;
                for (q, m) in qs.iter_mut().zip(&models) {
                    proptest::prop_assert_eq!(&all(q, &pool), m);
                    if q.in_piece() {
                        pages.insert(super::super::chunk::page_of(q.head_chunk()));
                    } else {
                        chunks += q.chunks();
                    }
                }
                let pieces = qs.iter().filter(|q| q.in_piece()).count();
                proptest::prop_assert_eq!(pool.counters().pieces_in_use, pieces as u64);
                proptest::prop_assert_eq!(pool.bytes_in_use(), (pages.len() + chunks) * CHUNK_SIZE);
            }
            for q in &mut qs {
                q.clear(&mut pool);
            }
            proptest::prop_assert_eq!((pool.bytes_in_use(), pool.counters().pieces_in_use), (0, 0));
        }
    }

    #[test]
    fn a_small_queue_holds_a_piece_and_moves_to_a_chunk_when_it_outgrows_it() {
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        assert_eq!(q.append_small(&mut pool, &[1; 100]), Some(100));
        assert!(q.in_piece());
        assert_eq!((q.chunks(), q.tail_room()), (1, PIECE_SIZE - 100));
        assert_eq!(q.consume(&mut pool, 40), 40, "the read point moves within the piece");
        assert_eq!(q.append_small(&mut pool, &[2; 156]), Some(156), "to the piece's last byte");
        assert!(q.in_piece());
        // One more byte does not fit: the bytes move to a chunk, at the same offsets.
        assert_eq!(q.append_small(&mut pool, &[3]), None, "the general path's case");
        assert_eq!(q.enqueue(&mut pool, &[3], usize::MAX, false), 1);
        assert!(!q.in_piece());
        assert_eq!((q.chunks(), q.head_offset()), (1, 40));
        let mut want = vec![1u8; 60];
        want.extend_from_slice(&[2; 156]);
        want.push(3);
        assert_eq!(all(&mut q, &pool), want);
        assert_eq!(pool.counters().pieces_in_use, 0, "the piece went back");
        // Emptied, the queue holds nothing; its next small message is a piece again.
        assert_eq!(q.consume(&mut pool, 217), 217);
        assert_eq!((q.chunks(), pool.bytes_in_use()), (0, 0));
        assert_eq!(q.enqueue(&mut pool, &[4; 256], usize::MAX, false), 256);
        assert!(q.in_piece());
        // Out-of-order bytes past the piece move it too.
        assert_eq!(q.write_at(&mut pool, 1000, b"ooo", false), 3);
        assert!(!q.in_piece());
        assert_eq!(q.slices_at(&pool, 1000, 3).0, b"ooo");
        assert_eq!(q.slices_at(&pool, 0, 256).0, &[4; 256][..]);
        q.clear(&mut pool);
        assert_eq!(pool.bytes_in_use(), 0);
    }

    #[test]
    fn room_for_a_small_message_is_a_piece() {
        let mut pool = ChunkPool::unbounded();
        let mut q = ChunkQueue::new();
        let room = q.writable(&mut pool, 64, false);
        assert_eq!(room.len(), 64);
        room[..5].copy_from_slice(b"hello");
        assert_eq!(q.commit_room(&mut pool, 5), 5);
        assert!(q.in_piece());
        assert_eq!(q.writable(&mut pool, 100, false).len(), 100, "more room in the piece");
        assert_eq!(q.commit_room(&mut pool, 0), 0);
        assert!(q.in_piece());
        // Room the piece cannot lend: a chunk's, the bytes moved to it.
        let room = q.writable(&mut pool, 4000, false);
        assert_eq!(room.len(), 4000);
        room[..6].copy_from_slice(b" world");
        assert_eq!(q.commit_room(&mut pool, 6), 6);
        assert!(!q.in_piece());
        assert_eq!(all(&mut q, &pool), b"hello world");
    }

    #[test]
    fn a_refused_chunk_shortens_the_write() {
        use super::super::chunk::MemoryBudget;
        let c = CHUNK_SIZE;
        let mut pool = ChunkPool::new(MemoryBudget { low: c, pressure: c, high: 2 * c }, 0);
        let mut q = ChunkQueue::new();
        let data = vec![1u8; 3 * c];
        assert_eq!(q.enqueue(&mut pool, &data, usize::MAX, false), 2 * c);
        let mut r = ChunkQueue::new();
        assert_eq!(r.enqueue(&mut pool, b"x", 10, false), 0);
        assert_eq!(r.enqueue(&mut pool, b"x", 10, true), 1, "a forced first chunk");
        r.clear(&mut pool);
        q.clear(&mut pool);
        assert_eq!(pool.bytes_in_use(), 0);
    }
}
