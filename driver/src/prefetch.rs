//! Cache-line prefetch: the instruction behind a look-ahead that overlaps the fetch of lines
//! with other work (`examples/line_probe`). The sans-IO stack has no `unsafe`, so it is
//! issued here.

/// Starts fetching the cache line at `p` into the L2 cache (`prefetcht1` on x86-64; nothing
/// elsewhere) and returns at once, without reading it.
#[inline]
pub fn l2(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch is a hint: it never faults and makes nothing visible to the program,
    // whatever `p` points at, or if it points at nothing.
    unsafe {
        core::arch::x86_64::_mm_prefetch::<{ core::arch::x86_64::_MM_HINT_T1 }>(p.cast())
    };
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}
