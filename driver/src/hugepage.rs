//! A global allocator that puts large blocks on transparent huge pages.
//!
//! A server with many connections keeps their state in a few large blocks (the connection
//! table, about 1.8 KB a connection; the flow index; the timer wheel; the chunk pool's slabs,
//! 4 KiB a chunk, 400 MB when 100,000 connections each hold a response) and touches a few
//! lines of a different connection each frame. With 4 KiB pages each of those touches is also
//! a TLB miss, and under a hypervisor's nested paging a miss walks two page tables. Kernel-bypass
//! stacks on DPDK (mTCP, F-Stack, Seastar) put everything on huge pages for this reason.
//!
//! Here a block of [`HUGE_MIN`] bytes or more gets a mapping of its own, aligned to 2 MiB and
//! rounded up to a multiple of it, marked `MADV_HUGEPAGE` before any page is touched, so the
//! kernel backs it with 2 MiB pages where it can (`/sys/kernel/mm/transparent_hugepage/enabled`
//! set to `madvise` or `always`; with `never` the advice is ignored and the block is ordinary
//! memory). glibc's `malloc` would put such a block in a mapping whose start is not 2 MiB
//! aligned, or in its heap, where the advice after the fact did not bring huge pages
//! (docs/benchmarks.md, "Huge pages under the chunks"). Smaller blocks are the system
//! allocator's. The price: a large block's size is rounded up to 2 MiB (of address space; of
//! memory only once touched), and growing one copies it.
//!
//! Install it in a binary with `#[global_allocator]` (the `xdptcp` tool and the `server_path`
//! benchmark do); a library that embeds the stack chooses for itself. To run without huge
//! pages, set the kernel's policy to `never` (or `prctl(PR_SET_THP_DISABLE)` for one process).

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicU64, Ordering};

/// Blocks at least this large get a mapping of their own on huge pages: one huge page.
pub const HUGE_MIN: usize = 2 << 20;

static ADVISED: AtomicU64 = AtomicU64::new(0);
static REFUSED: AtomicU64 = AtomicU64::new(0);

/// The system allocator, with blocks of [`HUGE_MIN`] bytes or more on huge pages.
#[derive(Debug, Clone, Copy, Default)]
pub struct HugePageAlloc;

impl HugePageAlloc {
    /// Large blocks mapped so far, and how many of them the kernel refused the huge-page
    /// advice for (no THP support in this kernel).
    pub fn advised() -> (u64, u64) {
        (ADVISED.load(Ordering::Relaxed), REFUSED.load(Ordering::Relaxed))
    }
}

/// Whether a block of this layout gets a mapping of its own.
fn is_huge(layout: Layout) -> bool {
    layout.size() >= HUGE_MIN && layout.align() <= HUGE_MIN
}

/// The bytes mapped for a large block of `size` bytes.
fn mapped(size: usize) -> usize {
    size.next_multiple_of(HUGE_MIN)
}

/// A fresh mapping of `mapped(size)` bytes aligned to [`HUGE_MIN`], advised `MADV_HUGEPAGE`;
/// null if the kernel refuses the mapping. Its bytes read as zeros.
fn map_huge(size: usize) -> *mut u8 {
    let len = mapped(size);
    let Some(reserve) = len.checked_add(HUGE_MIN) else {
        return core::ptr::null_mut();
    };
    // SAFETY: a new anonymous private mapping at an address the kernel picks: no memory in
    // use is affected.
    let raw = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            reserve,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return core::ptr::null_mut();
    }
    let start = raw as usize;
    let aligned = start.next_multiple_of(HUGE_MIN);
    let head = aligned - start;
    let tail = reserve - head - len;
    // SAFETY: the two trimmed pieces lie inside the mapping just made, before and after the
    // `[aligned, aligned + len)` that is kept; nothing else refers to them. A failure would
    // only leave address space mapped.
    unsafe {
        if head > 0 {
            libc::munmap(raw, head);
        }
        if tail > 0 {
            libc::munmap((aligned + len) as *mut libc::c_void, tail);
        }
    }
    // SAFETY: advice on the mapping just made: it changes neither its contents nor its access.
    let rc = unsafe { libc::madvise(aligned as *mut libc::c_void, len, libc::MADV_HUGEPAGE) };
    let counter = if rc == 0 { &ADVISED } else { &REFUSED };
    counter.fetch_add(1, Ordering::Relaxed);
    aligned as *mut u8
}

// SAFETY: a small block is `System`'s, allocated, grown and freed with the caller's own
// layout. A large one (`is_huge`) is a mapping of `mapped(size)` bytes of its own, aligned
// to `HUGE_MIN` (so to any alignment it may ask for), readable and writable, zeroed, owned
// by the caller until it is unmapped in `dealloc` with the same length; a block never
// changes kind but through `realloc`, which moves it.
unsafe impl GlobalAlloc for HugePageAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            return map_huge(layout.size());
        }
        // SAFETY: forwarded with the caller's layout, whose contract the caller met.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if is_huge(layout) {
            return map_huge(layout.size());
        }
        // SAFETY: as `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if is_huge(layout) {
            // SAFETY: `ptr` starts a mapping of `mapped(size)` bytes made by `map_huge`
            // for this layout, no longer used by the caller.
            unsafe { libc::munmap(ptr.cast(), mapped(layout.size())) };
            return;
        }
        // SAFETY: `ptr` came from `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return core::ptr::null_mut();
        };
        if !is_huge(layout) && !is_huge(new) {
            // SAFETY: `ptr` came from `System` with `layout`; the caller met `realloc`'s
            // contract.
            return unsafe { System.realloc(ptr, layout, new_size) };
        }
        if is_huge(layout) && is_huge(new) && mapped(new_size) == mapped(layout.size()) {
            // The mapping already holds the new size.
            return ptr;
        }
        // SAFETY: `new` has a non-zero size (`realloc`'s contract).
        let p = unsafe { self.alloc(new) };
        if !p.is_null() {
            // SAFETY: both blocks are live and distinct, each at least as long as the bytes
            // copied; `ptr` is freed once, with the layout it was allocated with.
            unsafe {
                core::ptr::copy_nonoverlapping(ptr, p, layout.size().min(new_size));
                self.dealloc(ptr, layout);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_blocks_are_aligned_zeroed_and_keep_their_bytes_across_growth() {
        let a = HugePageAlloc;
        let small = Layout::from_size_align(4096, 8).expect("layout");
        let large = Layout::from_size_align(HUGE_MIN + 1, 8).expect("layout");
        let (before, refused_before) = HugePageAlloc::advised();
        // SAFETY: non-zero layouts; every access is inside the block's size, and each block
        // is freed once with the layout it has then.
        unsafe {
            let p = a.alloc(small);
            assert!(!p.is_null());
            p.write_bytes(7, 4096);
            // Small to large: a mapping of its own, the bytes moved.
            let q = a.realloc(p, small, HUGE_MIN + 1);
            assert!(!q.is_null());
            assert_eq!(q as usize % HUGE_MIN, 0, "a large block starts a huge page");
            assert!((0..4096).all(|i| *q.add(i) == 7), "realloc kept the bytes");
            assert_eq!(*q.add(HUGE_MIN), 0, "the rest of a fresh mapping reads zero");
            *q.add(HUGE_MIN) = 9;
            // Within the mapping: the block stays where it is.
            let r = a.realloc(q, large, 2 * HUGE_MIN);
            assert_eq!(r, q);
            // Larger: moved, bytes kept.
            let grown = Layout::from_size_align(2 * HUGE_MIN, 8).expect("layout");
            let s = a.realloc(r, grown, 5 * HUGE_MIN);
            assert_eq!(s as usize % HUGE_MIN, 0);
            assert_eq!((*s, *s.add(HUGE_MIN)), (7, 9));
            // Back under `HUGE_MIN`: the system allocator's again, bytes kept.
            let t = a.realloc(s, Layout::from_size_align(5 * HUGE_MIN, 8).unwrap(), 100);
            assert!(!t.is_null());
            assert!((0..100).all(|i| *t.add(i) == 7));
            a.dealloc(t, Layout::from_size_align(100, 8).unwrap());
            let z = a.alloc_zeroed(large);
            assert!((0..HUGE_MIN + 1).step_by(4093).all(|i| *z.add(i) == 0));
            a.dealloc(z, large);
        }
        let (after, refused_after) = HugePageAlloc::advised();
        // Other tests may map large blocks at the same time: at least these three.
        assert!(after + refused_after >= before + refused_before + 3);
    }

    #[test]
    fn small_blocks_and_strict_alignments_stay_with_the_system_allocator() {
        assert!(!is_huge(Layout::from_size_align(HUGE_MIN - 1, 8).unwrap()));
        assert!(is_huge(Layout::from_size_align(HUGE_MIN, 4096).unwrap()));
        assert!(!is_huge(Layout::from_size_align(HUGE_MIN, 2 * HUGE_MIN).unwrap()));
        assert_eq!(mapped(HUGE_MIN), HUGE_MIN);
        assert_eq!(mapped(HUGE_MIN + 1), 2 * HUGE_MIN);
        let a = HugePageAlloc;
        let odd = Layout::from_size_align(HUGE_MIN, 2 * HUGE_MIN).unwrap();
        // SAFETY: a non-zero layout, freed once with it.
        unsafe {
            let p = a.alloc(odd);
            assert!(!p.is_null());
            assert_eq!(p as usize % (2 * HUGE_MIN), 0, "the system allocator honours it");
            a.dealloc(p, odd);
        }
    }
}
