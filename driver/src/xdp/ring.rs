//! The four AF_XDP rings, driven directly over their shared mappings.
//!
//! Each ring is a power-of-two array of descriptors plus a producer and a consumer index that
//! the kernel and we update with acquire/release ordering (the protocol of
//! `Documentation/networking/af_xdp.rst`, which libxdp's `xsk.h` implements in C). We are the
//! producer of the fill and TX rings and the consumer of the RX and completion rings.
//!
//! Both sides cache the other side's index and only reload it (one acquire load) when the
//! cached view says the ring is full or empty, so a batch costs one shared-cache-line read and
//! one release store, whatever its size.
//!
//! xsk-rs drives the rings of the default path; these are for [`raw`](super::raw), which
//! registers the UMEM itself to use TX metadata (see there).

use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};

/// A `mmap`ed region, unmapped on drop.
#[derive(Debug)]
pub(crate) struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; moving it to another thread moves
// the only handle (the per-core worker owns its device).
unsafe impl Send for Mapping {}

impl Mapping {
    /// Private anonymous memory, zeroed and pre-faulted: the UMEM.
    pub(crate) fn anonymous(len: usize) -> io::Result<Mapping> {
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE;
        // SAFETY: a fresh anonymous mapping aliases nothing; the result is checked.
        let p = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0)
        };
        Mapping::checked(p, len)
    }

    /// A ring of the AF_XDP socket `fd`, at the kernel's page offset for it.
    pub(crate) fn ring(fd: &OwnedFd, len: usize, pgoff: u64) -> io::Result<Mapping> {
        let flags = libc::MAP_SHARED | libc::MAP_POPULATE;
        // SAFETY: maps kernel-owned ring memory of a live socket; the result is checked.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                flags,
                fd.as_raw_fd(),
                pgoff as libc::off_t,
            )
        };
        Mapping::checked(p, len)
    }

    fn checked(p: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap gave NULL"))?;
        Ok(Mapping { ptr, len })
    }

    /// Start of the region.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` are exactly what mmap returned, and no reference into the region
        // outlives `self` (the rings and frames borrow from their owner).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Where one ring's parts lie in its mapping (`struct xdp_ring_offset`).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RingOffsets {
    pub producer: u64,
    pub consumer: u64,
    pub desc: u64,
    pub flags: u64,
}

impl From<libc::xdp_ring_offset> for RingOffsets {
    fn from(o: libc::xdp_ring_offset) -> Self {
        RingOffsets { producer: o.producer, consumer: o.consumer, desc: o.desc, flags: o.flags }
    }
}

/// The shared parts of one ring.
#[derive(Debug)]
struct Shared<T> {
    /// Keeps the ring mapped for the pointers below; unmapped on drop.
    _map: Mapping,
    producer: NonNull<AtomicU32>,
    consumer: NonNull<AtomicU32>,
    flags: NonNull<AtomicU32>,
    descs: NonNull<T>,
    mask: u32,
    size: u32,
    _t: PhantomData<T>,
}

impl<T: Copy> Shared<T> {
    /// Maps ring `size` of socket `fd` at `pgoff`.
    fn map(fd: &OwnedFd, off: RingOffsets, size: u32, pgoff: u64) -> io::Result<Shared<T>> {
        if !size.is_power_of_two() {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        let len = off.desc as usize + size as usize * std::mem::size_of::<T>();
        let map = Mapping::ring(fd, len, pgoff)?;
        let at = |o: u64, bytes: usize| -> io::Result<*mut u8> {
            if o as usize + bytes > len || !(o as usize).is_multiple_of(4) {
                return Err(io::Error::other("ring offsets outside the mapping"));
            }
            // SAFETY: `o + bytes <= len`, so the pointer stays inside the mapping.
            Ok(unsafe { map.as_ptr().add(o as usize) })
        };
        let word = std::mem::size_of::<u32>();
        let producer = at(off.producer, word)?.cast::<AtomicU32>();
        let consumer = at(off.consumer, word)?.cast::<AtomicU32>();
        let flags = at(off.flags, word)?.cast::<AtomicU32>();
        let descs = at(off.desc, size as usize * std::mem::size_of::<T>())?.cast::<T>();
        if descs.align_offset(std::mem::align_of::<T>()) != 0 {
            return Err(io::Error::other("misaligned ring descriptors"));
        }
        let nn = |p: *mut AtomicU32| NonNull::new(p).ok_or_else(|| io::Error::other("NULL ring"));
        Ok(Shared {
            producer: nn(producer)?,
            consumer: nn(consumer)?,
            flags: nn(flags)?,
            descs: NonNull::new(descs).ok_or_else(|| io::Error::other("NULL ring"))?,
            mask: size - 1,
            size,
            _map: map,
            _t: PhantomData,
        })
    }

    fn producer(&self) -> &AtomicU32 {
        // SAFETY: points into `self.map` (checked in `map`), 4-byte aligned, and the kernel
        // only ever accesses it atomically.
        unsafe { self.producer.as_ref() }
    }

    fn consumer(&self) -> &AtomicU32 {
        // SAFETY: as for `producer`.
        unsafe { self.consumer.as_ref() }
    }

    fn needs_wakeup(&self) -> bool {
        // SAFETY: as for `producer`.
        let flags = unsafe { self.flags.as_ref() };
        flags.load(Ordering::Relaxed) & libc::XDP_RING_NEED_WAKEUP != 0
    }

    fn slot(&self, idx: u32) -> *mut T {
        // SAFETY: `idx & mask < size`, and `size` descriptors fit in the mapping (`map`).
        unsafe { self.descs.as_ptr().add((idx & self.mask) as usize) }
    }
}

/// A ring we produce into: fill (`u64` frame addresses) or TX (`xdp_desc`).
#[derive(Debug)]
pub(crate) struct Producer<T> {
    ring: Shared<T>,
    cached_prod: u32,
    /// The consumer index plus the ring size: `cached_cons - cached_prod` is the free room.
    cached_cons: u32,
}

impl<T: Copy> Producer<T> {
    pub(crate) fn map(fd: &OwnedFd, off: RingOffsets, size: u32, pgoff: u64) -> io::Result<Self> {
        let ring = Shared::map(fd, off, size, pgoff)?;
        let cached_prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring.consumer().load(Ordering::Relaxed).wrapping_add(ring.size);
        Ok(Producer { ring, cached_prod, cached_cons })
    }

    /// Free slots, at most `want`; reloads the consumer index only when the cache says less.
    pub(crate) fn free(&mut self, want: u32) -> u32 {
        let free = self.cached_cons.wrapping_sub(self.cached_prod);
        if free >= want {
            return want;
        }
        // Acquire: the kernel's reads of the slots it released happen before we reuse them.
        self.cached_cons =
            self.ring.consumer().load(Ordering::Acquire).wrapping_add(self.ring.size);
        self.cached_cons.wrapping_sub(self.cached_prod).min(want)
    }

    /// Writes as many of `items` as there is room for and publishes them; returns how many.
    pub(crate) fn produce(&mut self, items: &[T]) -> usize {
        let n = self.free(u32::try_from(items.len()).unwrap_or(u32::MAX)) as usize;
        for (k, item) in items[..n].iter().enumerate() {
            // SAFETY: the slot is free (between the producer and the consumer index plus the
            // size), so the kernel does not read it until the release store below publishes it.
            unsafe { self.ring.slot(self.cached_prod.wrapping_add(k as u32)).write(*item) };
        }
        if n > 0 {
            self.cached_prod = self.cached_prod.wrapping_add(n as u32);
            // Release: the descriptor writes above are visible before the new index.
            self.ring.producer().store(self.cached_prod, Ordering::Release);
        }
        n
    }

    /// Whether the kernel asks for a syscall to look at this ring (`XDP_USE_NEED_WAKEUP`).
    pub(crate) fn needs_wakeup(&self) -> bool {
        self.ring.needs_wakeup()
    }
}

/// A ring we consume from: RX (`xdp_desc`) or completion (`u64` frame addresses).
#[derive(Debug)]
pub(crate) struct Consumer<T> {
    ring: Shared<T>,
    cached_prod: u32,
    cached_cons: u32,
}

impl<T: Copy> Consumer<T> {
    pub(crate) fn map(fd: &OwnedFd, off: RingOffsets, size: u32, pgoff: u64) -> io::Result<Self> {
        let ring = Shared::map(fd, off, size, pgoff)?;
        let cached_prod = ring.producer().load(Ordering::Relaxed);
        let cached_cons = ring.consumer().load(Ordering::Relaxed);
        Ok(Consumer { ring, cached_prod, cached_cons })
    }

    /// Reads up to `out.len()` entries and hands their slots back; returns how many.
    pub(crate) fn consume(&mut self, out: &mut [T]) -> usize {
        let want = u32::try_from(out.len()).unwrap_or(u32::MAX);
        let mut avail = self.cached_prod.wrapping_sub(self.cached_cons);
        if avail < want {
            // Acquire: the kernel's descriptor writes happen before we read them.
            self.cached_prod = self.ring.producer().load(Ordering::Acquire);
            avail = self.cached_prod.wrapping_sub(self.cached_cons);
        }
        let n = avail.min(want) as usize;
        for (k, slot) in out[..n].iter_mut().enumerate() {
            // SAFETY: the slot lies between the consumer and producer indices, so the kernel
            // has published it and does not rewrite it until we release it below.
            *slot = unsafe { self.ring.slot(self.cached_cons.wrapping_add(k as u32)).read() };
        }
        if n > 0 {
            self.cached_cons = self.cached_cons.wrapping_add(n as u32);
            // Release: our reads of the slots happen before the kernel may reuse them.
            self.ring.consumer().store(self.cached_cons, Ordering::Release);
        }
        n
    }
}
