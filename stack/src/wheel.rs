//! A hierarchical timing wheel: O(1) arm, cancel and reschedule, and no work per idle tick.
//!
//! Every TCP connection keeps a handful of timers (RTO, delayed ACK, persist, keepalive,
//! TIME-WAIT) that are armed and cancelled far more often than they fire. A binary heap makes
//! each of those O(log n) and cannot cancel without a search; a flat wheel turns every tick
//! into work even when nothing is due. This wheel follows Varghese and Lauck's hierarchical
//! scheme (as Linux's `timer_list` and tokio's timer do):
//!
//! - Time is cut into ticks of a caller-chosen length, counted from the `start` instant.
//! - The tick number is cut into [`LEVELS`] digits of mixed width (from the low end: 6
//!   bits, then 10, then 8 for each level above), and level `k` has one slot per value of
//!   digit `k`. Level `k` slot `s` holds timers whose tick agrees with the wheel's current
//!   tick (`elapsed`) on every digit above `k` and has digit `s` at `k`. So level 0 holds the
//!   next 64 ticks one per slot, level 1 the rest of the current 65,536-tick block 64 ticks
//!   per slot, level 2 the rest of its 2^24-tick block 65,536 ticks per slot, and so on. The
//!   eight levels cover all 2^64 ticks, so no overflow list is needed.
//! - A timer goes to the level of the highest digit in which its tick differs from
//!   `elapsed`. Everything on a lower level is therefore earlier than everything on a higher
//!   one, and the earliest pending timer sits in the first occupied slot of the lowest
//!   occupied level: occupancy bitmaps (a bit per slot, a bit per word of those) find it
//!   with two `trailing_zeros`.
//! - Why these widths: level 0 stays small (64 slots), so a slot that cascades into it holds
//!   few timers and they are still in cache when they fire; level 1 is wide (1,024 slots),
//!   so that at TCP's usual tick (64 us) it spans 4.2 s, and an RTO or loss probe a few
//!   hundred milliseconds out sits on level 1 and moves at most once before it fires. With
//!   six bits everywhere level 1 spanned 262 ms and most such timers sat on level 2, to be
//!   walked down twice; with eight everywhere, a cascade into level 0 held four times the
//!   timers and the wheel benchmark's mass expiry lost 25 % (docs/benchmarks.md, "A move
//!   only when the entry would fire first").
//! - Advancing jumps straight from one occupied slot to the next, so a jump of any length
//!   costs O(occupied slots visited + timers moved), never O(ticks). A slot above level 0 is
//!   emptied when its start is reached and its timers move down a level ("cascade"); each
//!   timer cascades at most once per level.
//!
//! Timers keep their exact deadline, and the wheel fires a timer exactly when the caller's
//! `now` reaches it: never early and never late relative to the `now` the caller passes.
//! Ticks only bound how much work a slot holds. [`TimerWheel::next_deadline`] is a lower bound
//! on every pending deadline and is exact when the earliest timer is within the next 64 ticks.
//!
//! Entries live in a slab (a `Vec` with a free list) threaded by intrusive doubly-linked
//! lists, so nothing is allocated per timer once the slab has grown, and a [`TimerHandle`]
//! (index + generation) cancels in O(1). A handle to a timer that has fired or been cancelled
//! is stale and every operation on it is a harmless no-op.
//!
//! An owner that keeps one entry for a deadline that moves often (a TCP connection's earliest
//! timer) can keep it lazily ([`TimerWheel::retarget`], [`LazyEntry`]): the entry moves only
//! earlier, and a later deadline leaves it where it is. When such an entry is reached early,
//! as its slot cascades or fires, the wheel asks the owner for the deadline it wants now and
//! moves the entry straight there without handing it out
//! ([`TimerWheel::pop_expired_with`]). The owner keeps the entry's deadline beside its
//! handle, so a change that leaves the entry alone (every ACK restarting the RTO) reads
//! nothing of the wheel. An owner that knows when its next change will come
//! ([`TimerWheel::retarget_within`]) has a later deadline moved at once when the entry would
//! otherwise fire before that change: the same one move, made while the owner has the entry
//! in cache instead of by walking slot lists when it fires.
//!
//! Order of calls: arm/cancel/reschedule at any time; when `now` passes
//! [`next_deadline`](TimerWheel::next_deadline), call [`poll_expired`](TimerWheel::poll_expired),
//! [`expire`](TimerWheel::expire) or [`pop_expired`](TimerWheel::pop_expired) with `now`.

use crate::time::{Duration, Instant};
use core::cell::Cell;

/// Number of levels: digits of 6, 10 and six times 8 bits cover every 64-bit tick number.
pub const LEVELS: usize = 8;

/// The width in bits of each level's digit, from level 0.
const BITS: [u32; LEVELS] = [6, 10, 8, 8, 8, 8, 8, 8];

/// Where each level's digit starts in the tick number.
const SHIFT: [u32; LEVELS] = {
    let mut shift = [0; LEVELS];
    let mut level = 1;
    while level < LEVELS {
        shift[level] = shift[level - 1] + BITS[level - 1];
        level += 1;
    }
    shift
};

/// Where each level's slots start among all slots (`heads`, the bitmap); the last entry is
/// the number of slots. Each is a multiple of 64, so a bitmap word never spans two levels.
const OFFSET: [usize; LEVELS + 1] = {
    let mut offset = [0; LEVELS + 1];
    let mut level = 0;
    while level < LEVELS {
        offset[level + 1] = offset[level] + (1 << BITS[level]);
        level += 1;
    }
    offset
};

/// Slots on all levels together.
const PLACES: usize = OFFSET[LEVELS];

/// The level whose digit holds each bit of the tick number.
const LEVEL_OF_BIT: [u8; 64] = {
    let mut of = [0; 64];
    let mut bit = 0;
    while bit < 64 {
        let mut level = LEVELS - 1;
        while SHIFT[level] > bit as u32 {
            level -= 1;
        }
        of[bit] = level as u8;
        bit += 1;
    }
    of
};

/// The level of each bitmap word.
const LEVEL_OF_WORD: [u8; PLACES / 64] = {
    let mut of = [0; PLACES / 64];
    let mut level = 0;
    while level < LEVELS {
        let mut word = OFFSET[level] / 64;
        while word < OFFSET[level + 1] / 64 {
            of[word] = level as u8;
            word += 1;
        }
        level += 1;
    }
    of
};

// The bitmap's words and the entries' `place` rely on these.
const _: () = {
    assert!(SHIFT[LEVELS - 1] + BITS[LEVELS - 1] == 64);
    let mut level = 0;
    while level < LEVELS {
        assert!(OFFSET[level].is_multiple_of(64) && BITS[level] >= 6);
        level += 1;
    }
    assert!(PLACES < PLACE_DUE as usize);
    assert!(PLACES / 64 <= 64, "a bit per bitmap word in `Occupancy::words`");
};
const NIL: u32 = u32::MAX;
/// `Entry::place` of a free slab entry.
const PLACE_FREE: u16 = u16::MAX;
/// `Entry::place` of an entry that has fired and waits in the due queue.
const PLACE_DUE: u16 = u16::MAX - 1;

/// Identifies one armed timer. Stays valid until the timer fires (is handed to the caller)
/// or is cancelled; after that it is stale and operations on it do nothing.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TimerHandle {
    index: u32,
    generation: u32,
}

impl TimerHandle {
    /// A handle that never refers to a timer (useful as a field initialiser).
    pub const DANGLING: TimerHandle = TimerHandle { index: NIL, generation: 0 };
}

/// A timer's slab entry. 32 bytes and aligned to them for a value of 8 bytes (a connection's
/// table handle): an entry never crosses a cache line, so a look-ahead fetches one line for
/// it, not two ([`entry_addr`](TimerWheel::entry_addr)). The value is plain, not an
/// `Option`, whose tag made the entry 40 bytes: a free entry keeps its last value, which
/// nothing reads (every read of a value checks the entry live first, or walks the wheel's
/// lists, which hold only live entries).
#[derive(Debug)]
#[repr(align(32))]
struct Entry<T> {
    value: T,
    deadline: Instant,
    generation: u32,
    prev: u32,
    next: u32,
    /// `OFFSET[level] + slot` while in the wheel, or one of the `PLACE_*` markers.
    place: u16,
}

/// What [`TimerWheel::next_deadline`] last computed, valid until the wheel changes.
#[derive(Clone, Copy, Debug)]
enum NextCache {
    Unknown,
    Known(Option<Instant>),
}

/// Which slots hold timers: a bit per slot (indexed as `heads` is) and a bit per word of
/// those that has any. Slots are laid out level by level and, within a level, by digit, so
/// the lowest occupied word holds the first occupied slot of the lowest occupied level: two
/// `trailing_zeros`, and no word scanned.
#[derive(Debug)]
struct Occupancy {
    slots: [u64; PLACES / 64],
    words: u64,
}

impl Default for Occupancy {
    fn default() -> Self {
        Occupancy { slots: [0; PLACES / 64], words: 0 }
    }
}

impl Occupancy {
    #[inline]
    fn set(&mut self, place: usize) {
        self.slots[place / 64] |= 1 << (place % 64);
        self.words |= 1 << (place / 64);
    }

    #[inline]
    fn clear(&mut self, place: usize) {
        let word = place / 64;
        self.slots[word] &= !(1 << (place % 64));
        if self.slots[word] == 0 {
            self.words &= !(1 << word);
        }
    }

    #[cfg(test)]
    fn is_set(&self, place: usize) -> bool {
        self.slots[place / 64] & (1 << (place % 64)) != 0
    }

    /// The lowest occupied level and its first occupied slot.
    #[inline]
    fn first(&self) -> Option<(usize, usize)> {
        if self.words == 0 {
            return None;
        }
        let word = self.words.trailing_zeros() as usize;
        let level = usize::from(LEVEL_OF_WORD[word]);
        let place = word * 64 + self.slots[word].trailing_zeros() as usize;
        Some((level, place - OFFSET[level]))
    }
}

/// A hierarchical timing wheel holding values of type `T` (typically a connection id and a
/// timer kind). See the [module documentation](self) for the design.
#[derive(Debug)]
pub struct TimerWheel<T> {
    start: Instant,
    tick_nanos: u64,
    /// The tick up to which the wheel has been advanced (ticks since `start`).
    elapsed: u64,
    /// The latest `now` it was advanced to.
    advanced_to: Instant,
    entries: Vec<Entry<T>>,
    free_head: u32,
    heads: Box<[u32; PLACES]>,
    occupied: Occupancy,
    /// Fired timers not yet handed out (FIFO, in firing order).
    due_head: u32,
    due_tail: u32,
    /// A lower bound on the deadlines in the due queue (they are all `<=` the last `now`).
    due_min: Instant,
    len: usize,
    next_cache: Cell<NextCache>,
    /// The earliest deadline [`retarget_held`](Self::retarget_held) held back since the last
    /// [`release_held`](Self::release_held): counted in `next_deadline` meanwhile.
    held: Option<Instant>,
}

/// An owner's one lazily kept entry ([`TimerWheel::retarget`]), as the owner holds it: the
/// handle, and the entry's deadline while the owner knows it.
///
/// Knowing the deadline, [`retarget`](TimerWheel::retarget) decides from the owner's memory
/// alone that a changed deadline leaves the entry where it is, which is what most changes
/// do: a connection's entry, a line of the wheel's slab that nothing else near it touches,
/// is then read only when it moves (docs/benchmarks.md, "The wheel entry out of the
/// segment's way"). The wheel changes a lazy entry on its own only where
/// [`pop_expired_with`](TimerWheel::pop_expired_with) asks the owner for its deadline; the
/// owner calls [`forget`](Self::forget) there, and the next `retarget` reads the entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LazyEntry {
    handle: TimerHandle,
    /// The live entry's deadline, or `None`: no entry, or one the wheel may have moved or
    /// dropped since the owner last saw it.
    armed: Option<Instant>,
}

impl LazyEntry {
    /// No entry.
    pub const NONE: LazyEntry = LazyEntry { handle: TimerHandle::DANGLING, armed: None };

    /// The entry's handle (stale once the entry fired or was dropped).
    pub fn handle(&self) -> TimerHandle {
        self.handle
    }

    /// The entry's deadline, if the owner knows it (then the entry is live and there).
    pub fn known_deadline(&self) -> Option<Instant> {
        self.armed
    }

    /// Forgets the entry's deadline: the wheel is about to move or drop the entry (see
    /// [`pop_expired_with`](TimerWheel::pop_expired_with)). The handle is kept.
    #[inline]
    pub fn forget(&mut self) {
        self.armed = None;
    }
}

impl<T: Copy> TimerWheel<T> {
    /// A wheel whose tick 0 begins at `start`, with ticks of `tick` (e.g. 1 ms).
    ///
    /// # Panics
    /// If `tick` is zero (a configuration error, not a runtime condition).
    pub fn new(start: Instant, tick: Duration) -> Self {
        Self::with_capacity(start, tick, 0)
    }

    /// Like [`new`](Self::new), with room for `capacity` timers before the slab grows.
    pub fn with_capacity(start: Instant, tick: Duration, capacity: usize) -> Self {
        assert!(tick.total_nanos() > 0, "timer wheel tick must be non-zero");
        TimerWheel {
            start,
            tick_nanos: tick.total_nanos(),
            elapsed: 0,
            advanced_to: start,
            entries: Vec::with_capacity(capacity),
            free_head: NIL,
            heads: Box::new([NIL; PLACES]),
            occupied: Occupancy::default(),
            due_head: NIL,
            due_tail: NIL,
            due_min: Instant::ZERO,
            len: 0,
            next_cache: Cell::new(NextCache::Known(None)),
            held: None,
        }
    }

    /// Number of pending timers (armed and not yet handed out by an expire call).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no timer is pending.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The tick length given at construction.
    pub fn tick(&self) -> Duration {
        Duration::from_nanos(self.tick_nanos)
    }

    /// Arms a timer that fires once `now >= deadline`. A deadline in the past fires on the
    /// next expire call. O(1) (amortised over slab growth).
    #[inline]
    pub fn arm(&mut self, deadline: Instant, value: T) -> TimerHandle {
        let index = if self.free_head != NIL {
            let index = self.free_head;
            let e = &mut self.entries[index as usize];
            self.free_head = e.next;
            e.value = value;
            e.deadline = deadline;
            index
        } else {
            let index = self.entries.len();
            // More than 2^32 - 1 live timers cannot fit the handle; that is a bug upstream.
            assert!(index < NIL as usize, "timer wheel full");
            self.entries.push(Entry {
                value,
                deadline,
                generation: 0,
                prev: NIL,
                next: NIL,
                place: PLACE_FREE,
            });
            index as u32
        };
        self.len += 1;
        self.place(index);
        self.note_armed(deadline);
        TimerHandle { index, generation: self.entries[index as usize].generation }
    }

    /// Cancels a pending timer and returns its value, or `None` for a stale handle. O(1).
    pub fn cancel(&mut self, handle: TimerHandle) -> Option<T> {
        let index = self.live_index(handle)?;
        self.unlink(index);
        self.next_cache.set(NextCache::Unknown);
        self.len -= 1;
        let e = &mut self.entries[index as usize];
        let value = e.value;
        e.generation = e.generation.wrapping_add(1);
        e.place = PLACE_FREE;
        e.prev = NIL;
        e.next = self.free_head;
        self.free_head = index;
        Some(value)
    }

    /// Moves a pending timer to `new_deadline`, keeping its handle. Returns `false` for a
    /// stale handle. A timer that has fired but not yet been handed out is re-armed. O(1).
    pub fn reschedule(&mut self, handle: TimerHandle, new_deadline: Instant) -> bool {
        let Some(index) = self.live_index(handle) else {
            return false;
        };
        self.move_entry(index, new_deadline);
        true
    }

    /// Moves live entry `index` to `new_deadline`. Out of line: the callers' common case is
    /// not to move.
    #[inline(never)]
    fn move_entry(&mut self, index: u32, new_deadline: Instant) {
        self.unlink(index);
        self.next_cache.set(NextCache::Unknown);
        self.entries[index as usize].deadline = new_deadline;
        self.place(index);
    }

    /// The deadline of a pending timer.
    pub fn deadline(&self, handle: TimerHandle) -> Option<Instant> {
        let index = self.live_index(handle)?;
        Some(self.entries[index as usize].deadline)
    }

    /// The address of `entry`'s slab entry, which lies within one line ([`Entry`]), not
    /// read, for a look-ahead that prefetches it. The handle is not checked.
    #[inline]
    pub(crate) fn entry_addr(&self, entry: &LazyEntry) -> Option<*const u8> {
        self.entries.get(entry.handle.index as usize).map(|e| (e as *const Entry<T>).cast())
    }

    /// A word read from `entry`'s slab entry, 0 past the end; the handle is
    /// not checked. For a read-ahead with loads, where a check would buy nothing.
    #[inline]
    pub(crate) fn warm_word(&self, entry: &LazyEntry) -> u64 {
        self.entries
            .get(entry.handle.index as usize)
            .map_or(0, |e| e.deadline.total_nanos() ^ u64::from(e.place))
    }

    /// The value of a pending timer.
    pub fn get(&self, handle: TimerHandle) -> Option<&T> {
        let index = self.live_index(handle)?;
        Some(&self.entries[index as usize].value)
    }

    /// The value of a pending timer, mutably.
    pub fn get_mut(&mut self, handle: TimerHandle) -> Option<&mut T> {
        let index = self.live_index(handle)?;
        Some(&mut self.entries[index as usize].value)
    }

    /// The deadline and the value of a pending timer, the value mutably: one handle check
    /// for an owner that reads the one and updates the other.
    #[inline]
    pub fn entry_mut(&mut self, handle: TimerHandle) -> Option<(Instant, &mut T)> {
        let index = self.live_index(handle)?;
        let e = &mut self.entries[index as usize];
        Some((e.deadline, &mut e.value))
    }

    /// A lower bound on the earliest pending deadline, or `None` if no timer is pending.
    ///
    /// It is exact when the earliest timer lies within the current 64-tick block (the usual
    /// case for TCP timers polled every tick or so); further out it is the start of the slot
    /// holding the earliest timer. Either way, after an expire call at `now` it is later than
    /// `now`, so a caller that sleeps until it and then polls always makes progress.
    ///
    /// Cost: a bitmap search over [`LEVELS`] words, plus a walk of one level-0 slot (the
    /// timers of a single tick); the answer is cached until the wheel changes.
    #[inline]
    pub fn next_deadline(&self) -> Option<Instant> {
        if let NextCache::Known(next) = self.next_cache.get() {
            return next;
        }
        self.find_next_deadline()
    }

    /// [`next_deadline`](Self::next_deadline) when the cache is stale: out of line, so the
    /// cached answer (what an event loop asking every turn mostly gets) is a few loads.
    #[inline(never)]
    fn find_next_deadline(&self) -> Option<Instant> {
        let mut next = self.wheel_min();
        if self.due_head != NIL {
            next = Some(next.map_or(self.due_min, |n| n.min(self.due_min)));
        }
        if let Some(held) = self.held {
            next = Some(next.map_or(held, |n| n.min(held)));
        }
        self.next_cache.set(NextCache::Known(next));
        next
    }

    /// Fires every timer with `deadline <= now`, handing `(handle, value)` to `out` in
    /// deadline-tick order (unspecified within one tick). The handles are stale afterwards.
    pub fn poll_expired<E: Extend<(TimerHandle, T)>>(&mut self, now: Instant, out: &mut E) {
        self.expire(now, |h, v| out.extend(Some((h, v))));
    }

    /// Like [`poll_expired`](Self::poll_expired), calling `fire` for each expired timer.
    pub fn expire(&mut self, now: Instant, mut fire: impl FnMut(TimerHandle, T)) {
        self.advance(now);
        while let Some((h, v)) = self.pop_due() {
            fire(h, v);
        }
    }

    /// Hands out one expired timer (`deadline <= now`), or `None` when none is left. Lets the
    /// caller mutate other state, or arm new timers in this wheel, between firings.
    pub fn pop_expired(&mut self, now: Instant) -> Option<(TimerHandle, T)> {
        if self.due_head == NIL {
            self.advance(now);
        }
        self.pop_due()
    }

    /// Like [`pop_expired`](Self::pop_expired), for lazily kept entries
    /// ([`retarget`](Self::retarget)), whose owner may want a later deadline than the
    /// entry's, or none: `due` asks the owner named by the value. An expired entry whose
    /// `due` is later than `now` is moved there, keeping its handle; one whose `due` is `None`
    /// is cancelled; neither is handed out. Such an entry is moved as soon as the advance
    /// reaches it: when a slot above level 0 cascades (it goes straight to its `due` instead
    /// of the level below), or when its level-0 slot fires (it goes from there, not through
    /// the due queue). `due` may therefore be asked of entries that are not yet expired.
    ///
    /// The wheel moves or drops a lazy entry on its own only after asking `due`, so `due`
    /// is where the owner must [`forget`](LazyEntry::forget) the entry's deadline; an owner
    /// handed its entry out treats its handle as stale.
    pub fn pop_expired_with(
        &mut self,
        now: Instant,
        mut due: impl FnMut(&T) -> Option<Instant>,
    ) -> Option<(TimerHandle, T)> {
        loop {
            if self.due_head == NIL {
                // Entries that fire early are moved on (or dropped) as their slot is emptied,
                // without a trip through the due queue; one still in the queue is checked
                // again below (its value may have changed since).
                self.advance_with(now, &mut due);
            }
            let index = self.due_head;
            if index == NIL {
                return None;
            }
            let e = &self.entries[index as usize];
            let handle = TimerHandle { index, generation: e.generation };
            match due(&e.value) {
                // Later than `now`, so `advance(now)` will not fire it again.
                Some(t) if t > now => {
                    self.reschedule(handle, t);
                }
                Some(_) => return self.pop_due(),
                None => {
                    self.cancel(handle);
                }
            }
        }
    }

    /// Keeps the one entry of an owner whose wanted deadline is `due` (see [`LazyEntry`]):
    /// arms one when there is none, moves it when `due` is earlier, and otherwise leaves it
    /// where it is, for [`pop_expired_with`](Self::pop_expired_with) to move on or drop if it
    /// fires early. An entry whose deadline the owner knows is not read unless it moves.
    ///
    /// Leaving it saves a move per change when the deadline moves later (the RTO or loss
    /// probe restarting on every ACK), for one early firing per wait at most. Moving an entry
    /// at once when its deadline jumped far later (8ac67b0) bought 3.6 % at 100,000
    /// connections but cost a single connection's round trip 40 % (`smoltcp_compare`
    /// rr_64B 270 → 390 ns), and was taken back (docs/benchmarks.md, "Timer entries moved
    /// while in cache", "The far-later move taken back").
    #[inline]
    pub fn retarget(
        &mut self,
        entry: &mut LazyEntry,
        due: Option<Instant>,
        value: impl FnOnce() -> T,
    ) {
        self.retarget_with::<false>(entry, due, 0, value);
    }

    /// [`retarget`](Self::retarget) for an owner that expects its next change within
    /// `horizon` of the latest `now` the wheel was advanced to (a connection: its next
    /// segment, about a round trip away). A later `due` still leaves the entry, unless the
    /// entry would fire before the horizon ends: then no later change can come first, the
    /// entry will fire early, and its firing would find it by walking its slot's list (and
    /// the lists of each level it cascades through), one cache miss after the other. It is
    /// moved now instead, while its owner's change has it in cache: the same one move,
    /// without the walks.
    ///
    /// A connection whose changes come much faster than its timers (a round trip of
    /// microseconds against a delayed ACK or RTO of milliseconds) keeps the lazy entry of
    /// [`retarget`](Self::retarget): moving at once on every much later deadline (8ac67b0)
    /// moved such a connection's entry every round trip (docs/benchmarks.md, "A move only
    /// when the entry would fire first").
    #[inline]
    pub fn retarget_within(
        &mut self,
        entry: &mut LazyEntry,
        due: Option<Instant>,
        horizon: Duration,
        value: impl FnOnce() -> T,
    ) {
        self.retarget_with::<false>(entry, due, horizon.total_nanos(), value);
    }

    /// [`retarget`](Self::retarget), except that a `due` earlier than the entry is held
    /// back, not moved to. Returns whether it was held back so; the caller must then
    /// [`retarget`](Self::retarget) the entry again before it advances the wheel to `due`.
    /// Until [`release_held`](Self::release_held), `due` counts in
    /// [`next_deadline`](Self::next_deadline) (and [`held`](Self::held)), so an owner's
    /// deadline is reported in time either way.
    ///
    /// For an owner changed several times in a row whose deadline often moves earlier and
    /// back later before the run ends (a request arms the delayed ACK, the response sent in
    /// the same batch cancels it and restarts the RTO): retargeted at the end, the entry is
    /// not moved at all (docs/benchmarks.md, branch wheel).
    #[inline]
    pub fn retarget_held(
        &mut self,
        entry: &mut LazyEntry,
        due: Option<Instant>,
        value: impl FnOnce() -> T,
    ) -> bool {
        self.retarget_with::<true>(entry, due, 0, value)
    }

    /// The body of [`retarget`](Self::retarget), [`retarget_within`](Self::retarget_within)
    /// (a `horizon` in nanoseconds, zero for none) and, with `HOLD`,
    /// [`retarget_held`](Self::retarget_held): they differ only in what an earlier `due`
    /// does to a live entry (moved to, or held back) and whether a later one may move it.
    /// Returns whether it was held back.
    #[inline(always)]
    fn retarget_with<const HOLD: bool>(
        &mut self,
        entry: &mut LazyEntry,
        due: Option<Instant>,
        horizon: u64,
        value: impl FnOnce() -> T,
    ) -> bool {
        let armed = match entry.armed {
            Some(armed) => armed,
            None => match self.live_index(entry.handle) {
                Some(index) => self.entries[index as usize].deadline,
                None => {
                    if let Some(t) = due {
                        entry.handle = self.arm_out_of_line(t, value());
                        entry.armed = Some(t);
                    }
                    return false;
                }
            },
        };
        entry.armed = Some(armed);
        match due {
            Some(t) if t < armed && HOLD => {
                self.hold(t);
                true
            }
            Some(t) if t < armed => {
                self.move_lazy(entry, t, value);
                false
            }
            Some(t) if t > armed && horizon != 0 && self.fires_within(armed, horizon) => {
                self.move_lazy(entry, t, value);
                false
            }
            _ => false,
        }
    }

    /// Moves a lazy entry the owner knows to `due`. The handle is checked here, where the
    /// entry is read anyway: a known deadline with a stale handle is a bug of the owner's
    /// (it did not forget the entry when asked), and it gets a new entry rather than moving
    /// whatever reused the old one.
    #[inline(never)]
    fn move_lazy(&mut self, entry: &mut LazyEntry, due: Instant, value: impl FnOnce() -> T) {
        match self.live_index(entry.handle) {
            Some(index) => self.move_entry(index, due),
            None => {
                debug_assert!(false, "a lazy entry's owner kept the deadline of a dead entry");
                entry.handle = self.arm(due, value());
            }
        }
        entry.armed = Some(due);
    }

    /// Whether an entry armed for `armed` fires within `horizon` nanoseconds of the latest
    /// `now` the wheel was advanced to.
    #[inline]
    fn fires_within(&self, armed: Instant, horizon: u64) -> bool {
        armed.total_nanos() < self.advanced_to.total_nanos().saturating_add(horizon)
    }

    /// Counts `due`, held back, in `held` and the next deadline.
    #[inline]
    fn hold(&mut self, due: Instant) {
        self.held = Some(self.held.map_or(due, |h| h.min(due)));
        self.note_armed(due);
    }

    /// The earliest deadline held back since the last [`release_held`](Self::release_held).
    #[inline]
    pub fn held(&self) -> Option<Instant> {
        self.held
    }

    /// Stops counting held-back deadlines in [`next_deadline`](Self::next_deadline): every
    /// handle [`retarget_held`](Self::retarget_held) held back has been retargeted since.
    pub fn release_held(&mut self) {
        self.held = None;
        self.next_cache.set(NextCache::Unknown);
    }

    /// [`arm`](Self::arm) kept out of [`retarget`](Self::retarget), which an owner calls
    /// after every change and which mostly finds its entry armed.
    #[inline(never)]
    fn arm_out_of_line(&mut self, deadline: Instant, value: T) -> TimerHandle {
        self.arm(deadline, value)
    }

    /// Moves every timer with `deadline <= now` to the due queue.
    fn advance(&mut self, now: Instant) {
        self.advance_with(now, &mut |_| Some(Instant::ZERO));
    }

    /// Moves every timer with `deadline <= now` to the due queue, except one whose value
    /// wants a later deadline (`due`), which is moved there, and one whose value wants none,
    /// which is dropped (see [`pop_expired_with`](Self::pop_expired_with)).
    fn advance_with(&mut self, now: Instant, due: &mut impl FnMut(&T) -> Option<Instant>) {
        let now_tick = self.tick_of(now).max(self.elapsed);
        self.advanced_to = self.advanced_to.max(now);
        let mut changed = false;
        loop {
            let Some((level, slot, slot_start)) = self.first_occupied() else {
                self.elapsed = now_tick;
                break;
            };
            if slot_start > now_tick {
                // Everything left is in later ticks. Jumping `elapsed` forward to `now_tick`
                // keeps every timer's placement valid: all ticks between the old `elapsed` and
                // `slot_start` share the digits above `level` with both.
                self.elapsed = now_tick;
                break;
            }
            // Slots are never behind `elapsed`, so this only moves forward.
            self.elapsed = slot_start;
            changed = true;
            if level == 0 {
                if !self.fire_slot(slot, now, due) {
                    // Timers later within the current tick stay put; nothing else is due.
                    break;
                }
            } else {
                self.cascade(level, slot, due);
            }
        }
        if changed {
            self.next_cache.set(NextCache::Unknown);
        }
    }

    /// Moves the due timers of level-0 `slot` to the due queue. Returns whether the slot is
    /// now empty.
    ///
    /// An entry whose value wants a deadline later than `now` is moved there (into a later
    /// slot, or back into this one at its head, behind the walk); one that wants none is
    /// freed.
    fn fire_slot(
        &mut self,
        slot: usize,
        now: Instant,
        due: &mut impl FnMut(&T) -> Option<Instant>,
    ) -> bool {
        let mut cursor = self.heads[slot];
        while cursor != NIL {
            let e = &self.entries[cursor as usize];
            let next = e.next;
            if e.deadline <= now {
                match due(&e.value) {
                    // Later than `now`, so this advance does not fire it again.
                    Some(t) if t > now => self.move_entry(cursor, t),
                    Some(_) => {
                        self.unlink(cursor);
                        self.push_due(cursor);
                    }
                    None => {
                        let generation = self.entries[cursor as usize].generation;
                        self.cancel(TimerHandle { index: cursor, generation });
                    }
                }
            }
            cursor = next;
        }
        self.heads[slot] == NIL
    }

    /// Empties slot `slot` of `level` (whose start `elapsed` has just reached) into the
    /// levels below.
    ///
    /// An entry whose value wants a later deadline (`due`) goes straight to that one: it
    /// would only fire early and be moved there from the level below.
    fn cascade(&mut self, level: usize, slot: usize, due: &mut impl FnMut(&T) -> Option<Instant>) {
        let place = OFFSET[level] + slot;
        let mut cursor = self.heads[place];
        self.heads[place] = NIL;
        self.occupied.clear(place);
        while cursor != NIL {
            let e = &mut self.entries[cursor as usize];
            let next = e.next;
            if let Some(t) = due(&e.value) {
                e.deadline = e.deadline.max(t);
            }
            self.place(cursor);
            cursor = next;
        }
    }

    /// The lowest occupied level, its first occupied slot and that slot's first tick.
    fn first_occupied(&self) -> Option<(usize, usize, u64)> {
        let (level, slot) = self.occupied.first()?;
        let shift = SHIFT[level];
        // Digits above this level come from `elapsed`; digits below are zero.
        let above = shift + BITS[level];
        let high = if above >= 64 { 0 } else { (self.elapsed >> above) << above };
        Some((level, slot, high | ((slot as u64) << shift)))
    }

    /// The earliest pending deadline in the wheel proper (not the due queue), exact for level 0.
    fn wheel_min(&self) -> Option<Instant> {
        let (level, slot, slot_start) = self.first_occupied()?;
        if level > 0 {
            return Some(self.instant_of(slot_start));
        }
        let mut cursor = self.heads[slot];
        let mut min = None::<Instant>;
        while cursor != NIL {
            let e = &self.entries[cursor as usize];
            min = Some(min.map_or(e.deadline, |m| m.min(e.deadline)));
            cursor = e.next;
        }
        min
    }

    fn tick_of(&self, t: Instant) -> u64 {
        t.saturating_duration_since(self.start).total_nanos() / self.tick_nanos
    }

    fn instant_of(&self, tick: u64) -> Instant {
        self.start + Duration::from_nanos(self.tick_nanos).saturating_mul(tick)
    }

    /// Links an unlinked entry into the slot its deadline belongs to, relative to `elapsed`.
    /// Always inline: out of line (as the wider bitmaps made it) it cost `arm` a call and
    /// about 15 % in the wheel benchmark's arm + cancel.
    #[inline(always)]
    fn place(&mut self, index: u32) {
        let when = self.tick_of(self.entries[index as usize].deadline).max(self.elapsed);
        let differing = (when ^ self.elapsed) | 1;
        let level = usize::from(LEVEL_OF_BIT[(63 - differing.leading_zeros()) as usize]);
        let slot = ((when >> SHIFT[level]) & ((1 << BITS[level]) - 1)) as usize;
        let place = OFFSET[level] + slot;
        let head = self.heads[place];
        {
            let e = &mut self.entries[index as usize];
            e.place = place as u16;
            e.prev = NIL;
            e.next = head;
        }
        if head != NIL {
            self.entries[head as usize].prev = index;
        }
        self.heads[place] = index;
        self.occupied.set(place);
    }

    /// Removes an entry from whichever list (slot or due queue) holds it.
    fn unlink(&mut self, index: u32) {
        let (prev, next, place) = {
            let e = &self.entries[index as usize];
            (e.prev, e.next, e.place)
        };
        if prev != NIL {
            self.entries[prev as usize].next = next;
        }
        if next != NIL {
            self.entries[next as usize].prev = prev;
        }
        if place == PLACE_DUE {
            if prev == NIL {
                self.due_head = next;
            }
            if next == NIL {
                self.due_tail = prev;
            }
        } else if prev == NIL {
            let place = place as usize;
            self.heads[place] = next;
            if next == NIL {
                self.occupied.clear(place);
            }
        }
        let e = &mut self.entries[index as usize];
        e.prev = NIL;
        e.next = NIL;
    }

    fn push_due(&mut self, index: u32) {
        let deadline = self.entries[index as usize].deadline;
        self.due_min = if self.due_head == NIL { deadline } else { self.due_min.min(deadline) };
        let tail = self.due_tail;
        {
            let e = &mut self.entries[index as usize];
            e.place = PLACE_DUE;
            e.prev = tail;
            e.next = NIL;
        }
        if tail != NIL {
            self.entries[tail as usize].next = index;
        } else {
            self.due_head = index;
        }
        self.due_tail = index;
    }

    fn pop_due(&mut self) -> Option<(TimerHandle, T)> {
        let index = self.due_head;
        if index == NIL {
            return None;
        }
        let handle = TimerHandle { index, generation: self.entries[index as usize].generation };
        // The due queue only ever holds live entries, which `cancel` hands back.
        self.cancel(handle).map(|v| (handle, v))
    }

    fn live_index(&self, handle: TimerHandle) -> Option<u32> {
        let e = self.entries.get(handle.index as usize)?;
        (e.generation == handle.generation && e.place != PLACE_FREE).then_some(handle.index)
    }

    /// Keeps the cached next deadline correct (if pessimistic) after arming `deadline`.
    fn note_armed(&mut self, deadline: Instant) {
        if let NextCache::Known(next) = self.next_cache.get() {
            let next = next.map_or(deadline, |n| n.min(deadline));
            self.next_cache.set(NextCache::Known(Some(next)));
        }
    }

    /// Checks the structural invariants (test support).
    #[cfg(test)]
    fn check_invariants(&self) {
        for (word, bits) in self.occupied.slots.iter().enumerate() {
            assert_eq!(self.occupied.words & (1 << word) != 0, *bits != 0, "word bit {word}");
        }
        let mut count = 0;
        for level in 0..LEVELS {
            for slot in 0..1 << BITS[level] {
                let place = OFFSET[level] + slot;
                let occupied = self.occupied.is_set(place);
                assert_eq!(occupied, self.heads[place] != NIL, "bitmap at {level}/{slot}");
                let mut cursor = self.heads[place];
                let mut prev = NIL;
                while cursor != NIL {
                    let e = &self.entries[cursor as usize];
                    assert_eq!(e.place as usize, place);
                    assert_eq!(e.prev, prev);
                    let when = self.tick_of(e.deadline).max(self.elapsed);
                    let shift = SHIFT[level];
                    let above = shift + BITS[level];
                    if above < 64 {
                        assert_eq!(when >> above, self.elapsed >> above, "prefix");
                    }
                    let mask = (1u64 << BITS[level]) - 1;
                    let digit = (when >> shift) & mask;
                    assert_eq!(digit as usize, slot);
                    if level > 0 {
                        let now = (self.elapsed >> shift) & mask;
                        assert!(digit > now, "slot behind elapsed");
                    }
                    count += 1;
                    prev = cursor;
                    cursor = e.next;
                }
            }
        }
        let mut cursor = self.due_head;
        while cursor != NIL {
            count += 1;
            cursor = self.entries[cursor as usize].next;
        }
        assert_eq!(count, self.len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// An entry whose value is 8 bytes (a connection's table handle: two `u32`s) takes 32
    /// bytes at a multiple of 32, so it never crosses a cache line and a look-ahead fetches
    /// one line for it.
    #[test]
    fn an_entry_of_an_8_byte_value_lies_within_one_line() {
        assert_eq!(core::mem::size_of::<Entry<[u32; 2]>>(), 32);
        assert_eq!(core::mem::align_of::<Entry<[u32; 2]>>(), 32);
        assert_eq!(core::mem::size_of::<Entry<u64>>(), 32);
        let mut w: TimerWheel<[u32; 2]> = TimerWheel::new(Instant::ZERO, Duration::from_micros(64));
        let lazies: Vec<LazyEntry> = (0..5u32)
            .map(|i| LazyEntry {
                handle: w.arm(Instant::from_millis(u64::from(i) + 1), [i, i]),
                ..LazyEntry::NONE
            })
            .collect();
        for e in &lazies {
            let at = w.entry_addr(e).expect("a slab entry") as usize;
            assert_eq!(at % 32, 0, "entry at {at:#x}");
        }
    }

    fn wheel() -> TimerWheel<u32> {
        TimerWheel::new(Instant::ZERO, Duration::from_millis(1))
    }

    fn fired(w: &mut TimerWheel<u32>, now: Instant) -> Vec<u32> {
        let mut out = Vec::new();
        w.expire(now, |_, v| out.push(v));
        w.check_invariants();
        out.sort_unstable();
        out
    }

    #[test]
    fn fires_exactly_at_deadline() {
        let mut w = wheel();
        w.arm(Instant::from_micros(10_500), 1);
        w.arm(ms(200), 2);
        w.check_invariants();
        assert_eq!(w.next_deadline(), Some(Instant::from_micros(10_500)));
        assert!(fired(&mut w, Instant::from_micros(10_499)).is_empty());
        assert_eq!(fired(&mut w, Instant::from_micros(10_500)), vec![1]);
        // 200 ms is beyond level 0: the bound is a slot start, no later than the deadline.
        let next = w.next_deadline().unwrap();
        assert!(next > Instant::from_micros(10_500) && next <= ms(200));
        assert!(fired(&mut w, ms(199)).is_empty());
        assert_eq!(w.next_deadline(), Some(ms(200)));
        assert_eq!(fired(&mut w, ms(200)), vec![2]);
        assert!(w.is_empty());
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn cancel_and_stale_handles() {
        let mut w = wheel();
        let a = w.arm(ms(5), 1);
        let b = w.arm(ms(5), 2);
        assert_eq!(w.cancel(a), Some(1));
        assert_eq!(w.cancel(a), None);
        // The slab slot is reused; the old handle must not reach the new timer.
        let c = w.arm(ms(7), 3);
        assert_eq!(c.index, a.index);
        assert_eq!(w.cancel(a), None);
        assert!(!w.reschedule(a, ms(1)));
        assert_eq!(w.len(), 2);
        assert_eq!(fired(&mut w, ms(10)), vec![2, 3]);
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(TimerHandle::DANGLING), None);
    }

    #[test]
    fn an_early_entry_moves_to_its_value_s_deadline_keeping_its_handle() {
        // The value is (id, the deadline really wanted). 1 moved later, 2 went away, 3 is due,
        // 4 moved later but still within `now`.
        let mut w: TimerWheel<(u32, Option<Instant>)> =
            TimerWheel::new(Instant::ZERO, Duration::from_millis(1));
        let a = w.arm(ms(10), (1, Some(ms(250))));
        let b = w.arm(ms(10), (2, None));
        w.arm(ms(10), (3, Some(ms(10))));
        w.arm(ms(10), (4, Some(ms(11))));
        let mut out = Vec::new();
        while let Some((_, (id, _))) = w.pop_expired_with(ms(12), |v| v.1) {
            out.push(id);
        }
        out.sort_unstable();
        assert_eq!(out, vec![3, 4]);
        w.check_invariants();
        assert_eq!(w.len(), 1, "2 was dropped, 1 is still armed");
        assert_eq!(w.deadline(a), Some(ms(250)), "same handle, later deadline");
        assert_eq!(w.deadline(b), None);
        assert!(w.pop_expired_with(ms(249), |v| v.1).is_none());
        assert_eq!(w.pop_expired_with(ms(250), |v| v.1).map(|(h, v)| (h, v.0)), Some((a, 1)));
        assert!(w.is_empty());
    }

    #[test]
    fn reschedule_moves_both_ways() {
        let mut w = wheel();
        let a = w.arm(ms(1_000_000), 1);
        let b = w.arm(ms(3), 2);
        assert!(w.reschedule(a, ms(2)));
        assert!(w.reschedule(b, ms(90_000)));
        assert_eq!(w.next_deadline(), Some(ms(2)));
        assert_eq!(fired(&mut w, ms(50)), vec![1]);
        assert_eq!(w.deadline(b), Some(ms(90_000)));
        assert_eq!(fired(&mut w, ms(90_000)), vec![2]);
    }

    #[test]
    fn huge_jump_is_cheap_and_complete() {
        let mut w = wheel();
        for i in 0..100u32 {
            w.arm(ms(u64::from(i) * 86_400_000 * 30), i); // every 30 days
        }
        w.arm(Instant::MAX, 1000);
        assert_eq!(fired(&mut w, ms(86_400_000 * 30 * 50)).len(), 51);
        w.check_invariants();
        assert_eq!(fired(&mut w, Instant::from_nanos(u64::MAX - 2)).len(), 49);
        assert_eq!(fired(&mut w, Instant::MAX), vec![1000]);
    }

    #[test]
    fn past_deadline_fires_on_next_poll() {
        let mut w = wheel();
        fired(&mut w, ms(1_000));
        w.arm(ms(10), 7);
        assert_eq!(w.next_deadline(), Some(ms(10)));
        assert_eq!(fired(&mut w, ms(1_000)), vec![7]);
    }

    #[test]
    fn pop_expired_allows_rearming() {
        let mut w = wheel();
        w.arm(ms(1), 1);
        w.arm(ms(2), 2);
        let mut seen = Vec::new();
        while let Some((_, v)) = w.pop_expired(ms(5)) {
            seen.push(v);
            if v == 1 {
                w.arm(ms(4), 3); // due already: fires in this same drain
                w.arm(ms(9), 4);
            }
        }
        seen.sort_unstable();
        assert_eq!(seen, vec![1, 2, 3]);
        assert_eq!(w.len(), 1);
        assert_eq!(w.next_deadline(), Some(ms(9)));
    }

    #[test]
    fn a_tick_polled_every_microsecond_fires_each_timer_at_its_first_poll() {
        // A thousand timers in one 1 ms tick, armed out of order, some moved within the tick
        // while it is being fired (in order and out of order): each fires at the first poll at
        // or after its deadline, and the slot stays in order between polls.
        let mut w: TimerWheel<u32> = wheel();
        let mut seed = 0x2545_f491_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut want = std::collections::HashMap::new();
        let mut handles = Vec::new();
        for id in 0..1000u32 {
            let at = Instant::from_nanos(5_000_000 + next() % 1_000_000);
            handles.push(w.arm(at, id));
            want.insert(id, at);
        }
        let mut now = ms(5);
        while !want.is_empty() {
            now += Duration::from_micros(1);
            let mut out = Vec::new();
            w.expire(now, |_, id| out.push(id));
            w.check_invariants();
            for id in out {
                let at = want.remove(&id).unwrap();
                assert!(at <= now && now - at < Duration::from_micros(1), "{id} at {at:?}");
            }
            assert!(want.values().all(|&at| at > now), "a due timer left behind at {now:?}");
            if let Some(&min) = want.values().min() {
                let bound = w.next_deadline().unwrap();
                assert!(bound <= min && bound > now);
            }
            // Move one pending timer elsewhere within the tick now and then.
            if now.total_nanos().is_multiple_of(7) {
                let id = (next() % 1000) as u32;
                let at = now + Duration::from_nanos(next() % 600_000);
                if let Some(want_at) = want.get_mut(&id) {
                    assert!(w.reschedule(handles[id as usize], at));
                    *want_at = at;
                    w.check_invariants();
                }
            }
        }
        assert!(w.is_empty());
    }

    /// An owner of one lazy entry, as a connection is: the deadline it wants (`want`) and
    /// its record of the entry. The entry's value is a `u32` that names nothing here.
    struct Owner {
        want: Option<Instant>,
        entry: LazyEntry,
    }

    impl Owner {
        fn new() -> Owner {
            Owner { want: None, entry: LazyEntry::NONE }
        }

        /// Wants `due` and retargets: `horizon` is `retarget_within`'s, `None` for
        /// `retarget`.
        fn set(
            &mut self,
            w: &mut TimerWheel<u32>,
            due: Option<Instant>,
            horizon: Option<Duration>,
        ) {
            self.want = due;
            match horizon {
                Some(h) => w.retarget_within(&mut self.entry, due, h, || 0),
                None => w.retarget(&mut self.entry, due, || 0),
            }
            self.check(w);
        }

        /// `pop_expired_with` as an owner calls it: asked, it forgets the entry's deadline
        /// and answers what it wants; an entry handed out leaves it with none.
        fn poll(&mut self, w: &mut TimerWheel<u32>, now: Instant) -> bool {
            let Owner { want, entry } = self;
            let fired = w.pop_expired_with(now, |_| {
                entry.forget();
                *want
            });
            if fired.is_some() {
                *entry = LazyEntry::NONE;
            }
            w.check_invariants();
            self.check(w);
            fired.is_some()
        }

        /// The owner's record agrees with the wheel: a known deadline is the entry's.
        fn check(&self, w: &TimerWheel<u32>) {
            if let Some(armed) = self.entry.armed {
                assert_eq!(w.deadline(self.entry.handle), Some(armed), "the record is the entry's");
            }
        }

        fn deadline(&self, w: &TimerWheel<u32>) -> Option<Instant> {
            w.deadline(self.entry.handle)
        }
    }

    #[test]
    fn retarget_held_holds_an_earlier_deadline_back_without_moving_the_entry() {
        let mut w: TimerWheel<u32> = TimerWheel::new(Instant::ZERO, Duration::from_micros(64));
        let mut o = Owner::new();
        // No entry: armed at once, nothing held.
        assert!(!w.retarget_held(&mut o.entry, Some(ms(100)), || 0));
        assert_eq!(o.deadline(&w), Some(ms(100)));
        // A request's delayed ACK (40 ms), earlier: held back, the entry not moved, the
        // deadline counted in `next_deadline`.
        assert!(w.retarget_held(&mut o.entry, Some(ms(40)), || unreachable!()));
        assert_eq!(o.deadline(&w), Some(ms(100)));
        assert_eq!((w.held(), w.next_deadline()), (Some(ms(40)), Some(ms(40))));
        // The response cancels it and restarts the RTO a little later: the entry never
        // moved, and once released the next deadline is the entry's again.
        o.set(&mut w, Some(ms(140)), None);
        assert_eq!(o.deadline(&w), Some(ms(100)));
        assert_eq!(w.next_deadline(), Some(ms(40)), "still held");
        w.release_held();
        assert_eq!(w.held(), None);
        assert!(w.next_deadline().is_some_and(|t| t > ms(40) && t <= ms(100)));
        // Later deadlines leave the entry, as with `retarget`, however much later.
        assert!(!w.retarget_held(&mut o.entry, Some(ms(150)), || unreachable!()));
        assert!(!w.retarget_held(&mut o.entry, Some(ms(300)), || unreachable!()));
        assert_eq!(o.deadline(&w), Some(ms(100)), "left where it was");
        assert_eq!(w.held(), None);
        w.check_invariants();
        o.check(&w);
    }

    #[test]
    fn retarget_within_moves_a_later_deadline_only_when_the_entry_fires_first() {
        let mut w: TimerWheel<u32> = TimerWheel::new(Instant::ZERO, Duration::from_micros(64));
        let mut o = Owner::new();
        // Armed at 300 ms (an RTO); the wheel has not been advanced yet.
        o.set(&mut w, Some(ms(300)), Some(Duration::from_millis(150)));
        let armed = o.entry.handle();
        assert_eq!(o.deadline(&w), Some(ms(300)));
        // A connection that comes round every microsecond or so (a round trip of 2 us): the
        // entry fires long after its next change, so a later deadline leaves it.
        o.set(&mut w, Some(ms(301)), Some(Duration::from_micros(3)));
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(300))), "left");
        // The wheel reaches 200 ms; the connection expects its next segment within 150 ms,
        // after the entry's 300 ms would have fired early: moved now, keeping its handle.
        assert!(!o.poll(&mut w, ms(200)));
        o.set(&mut w, Some(ms(500)), Some(Duration::from_millis(150)));
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(500))), "moved at once");
        // Within the horizon but not later: an earlier deadline moves as ever, an equal one
        // and none stay; no horizon is `retarget`.
        o.set(&mut w, Some(ms(500)), Some(Duration::from_secs(1)));
        assert_eq!(o.deadline(&w), Some(ms(500)));
        o.set(&mut w, None, Some(Duration::from_secs(1)));
        assert_eq!(o.deadline(&w), Some(ms(500)));
        o.set(&mut w, Some(ms(900)), Some(Duration::ZERO));
        assert_eq!(o.deadline(&w), Some(ms(500)), "no horizon: left");
        o.set(&mut w, Some(ms(400)), Some(Duration::ZERO));
        assert_eq!(o.deadline(&w), Some(ms(400)), "earlier: moved");
        // What fires is the wanted deadline, never earlier.
        assert!(!o.poll(&mut w, ms(399)));
        assert!(o.poll(&mut w, ms(400)));
        assert_eq!(o.entry, LazyEntry::NONE);
    }

    #[test]
    fn retarget_moves_earlier_and_an_early_firing_moves_on_in_one_step() {
        let mut w: TimerWheel<u32> = TimerWheel::new(Instant::ZERO, Duration::from_micros(64));
        let mut o = Owner::new();
        // A deadline creeps later a little (40 ms, then 55): the entry stays at 40 ms.
        o.set(&mut w, Some(ms(40)), None);
        assert_eq!(o.deadline(&w), Some(ms(40)));
        let armed = o.entry.handle();
        o.set(&mut w, Some(ms(55)), None);
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(40))));
        // It fires early and moves on, keeping its handle, without being handed out; the
        // owner was asked, so its record no longer claims a deadline.
        assert!(!o.poll(&mut w, ms(40)));
        assert_eq!(o.entry.armed, None, "forgotten when asked");
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(55))));
        // Much later leaves it too (the record is read again from the entry); it fires early
        // and moves on, keeping the handle.
        o.set(&mut w, Some(ms(200)), None);
        assert_eq!(o.entry.armed, Some(ms(55)), "read back from the entry");
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(55))));
        assert!(!o.poll(&mut w, ms(55)));
        assert_eq!((o.entry.handle(), o.deadline(&w)), (armed, Some(ms(200))));
        // Earlier always moves.
        o.set(&mut w, Some(ms(100)), None);
        assert_eq!(o.deadline(&w), Some(ms(100)));
        // Nothing wanted: the entry stays, and is dropped when it fires; a stale handle with
        // nothing wanted arms nothing.
        o.set(&mut w, None, None);
        assert_eq!(o.deadline(&w), Some(ms(100)));
        assert!(!o.poll(&mut w, ms(100)));
        assert!(w.is_empty());
        o.set(&mut w, None, None);
        assert!(w.is_empty());
        // A wanted deadline later than the poll but within the firing tick (64 µs ticks:
        // 150.016 to 150.080 ms) goes back into the slot being emptied, and fires at the next
        // poll that reaches it.
        let us = Instant::from_micros;
        o.set(&mut w, Some(us(150_020)), None);
        assert_ne!(o.entry.handle(), armed, "a new entry");
        o.set(&mut w, Some(us(150_060)), None);
        assert!(!o.poll(&mut w, us(150_040)));
        assert_eq!(o.deadline(&w), Some(us(150_060)));
        assert_eq!(w.next_deadline(), Some(us(150_060)));
        assert!(o.poll(&mut w, us(150_060)));
        assert!(w.is_empty());
    }

    #[test]
    fn a_lazy_entry_is_read_only_when_it_moves() {
        // The owner's record decides: with the entry's deadline known, a later deadline is
        // settled without the entry, which a cancel behind the owner's back shows (a bug
        // `move_lazy` would catch only if the entry had to move).
        let mut w: TimerWheel<u32> = TimerWheel::new(Instant::ZERO, Duration::from_micros(64));
        let mut o = Owner::new();
        o.set(&mut w, Some(ms(100)), None);
        let stale = o.entry;
        assert!(w.cancel(o.entry.handle()).is_some());
        let mut record = stale;
        w.retarget(&mut record, Some(ms(200)), || 0);
        assert_eq!(record, stale, "later: decided from the record alone");
        assert!(w.is_empty(), "and nothing armed");
        // Once forgotten, the record is refreshed from the wheel: a stale handle means no
        // entry, so one is armed.
        record.forget();
        w.retarget(&mut record, Some(ms(200)), || 0);
        assert_eq!((w.len(), w.deadline(record.handle())), (1, Some(ms(200))));
        assert_eq!(record.armed, Some(ms(200)));
        w.check_invariants();
    }

    #[test]
    fn next_deadline_tracks_cancel() {
        let mut w = wheel();
        let a = w.arm(ms(3), 1);
        w.arm(ms(6), 2);
        assert_eq!(w.next_deadline(), Some(ms(3)));
        w.cancel(a);
        assert_eq!(w.next_deadline(), Some(ms(6)));
    }
}
