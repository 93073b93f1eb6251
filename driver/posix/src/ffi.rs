//! The C ABI: `xdptcp_*` functions over an opaque `xdptcp_t` (declared in
//! `include/xdptcp.h`), and `packetdrill_interface_init` for packetdrill's `--so_filename`.
//!
//! This is the only module with `unsafe`: it turns C pointers into Rust references and
//! slices, calls the safe [`Posix`] core, and reports errors like libc (`-1` and `errno`).
//! Every function takes the `xdptcp_t *` first, which is exactly packetdrill's `userdata`,
//! so the same functions fill `struct packetdrill_interface`.
//!
//! `fcntl` and `ioctl` are variadic in C. We declare their one optional argument explicitly
//! (`int` for `fcntl`, a pointer for `ioctl`): on x86-64 System V (and AArch64 Linux), a
//! variadic call passes its first variadic integer or pointer argument in the same register
//! as a fixed argument in that position, so the callee reads it correctly.

use std::ffi::{c_char, c_int, c_longlong, c_uint, c_ulong, c_void, CStr};
use std::io::{IoSlice, IoSliceMut};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use libc::{
    iovec, msghdr, nfds_t, pollfd, size_t, sockaddr, sockaddr_in, sockaddr_in6, socklen_t, ssize_t,
    timeval,
};

use crate::config::PosixConfig;
use crate::errno::{Errno, SysResult};
use crate::posix::Posix;

/// The C handle, `xdptcp_t`.
#[derive(Debug)]
pub struct Adapter {
    posix: Posix,
    rx_wait: std::time::Duration,
    epoch_us: u64,
}

impl Adapter {
    /// The safe API underneath (for Rust code that received the handle).
    pub fn posix(&self) -> &Posix {
        &self.posix
    }
}

/// Most iovec entries accepted (Linux `IOV_MAX`).
const IOV_MAX: usize = 1024;

/// Largest buffer length or iovec total accepted: a Rust slice may not exceed `isize::MAX`
/// bytes, and Linux `readv`/`writev` reject totals that overflow `ssize_t` with `EINVAL`.
const MAX_LEN: usize = isize::MAX as usize;

/// Most bytes one `readv`/`recvmsg` with overlapping iovecs receives (a short read): they go
/// through a buffer of their own first (see [`with_iov_out`]).
const OVERLAP_BOUNCE_MAX: usize = 1 << 20;

/// Runs an exported function's body and turns a panic into `fail` with `errno` = `EIO`.
///
/// A panic unwinding out of an `extern "C"` function is undefined behaviour on Rust 1.80,
/// the workspace's declared minimum, and aborts the whole process from 1.81 on; a C program
/// or packetdrill should get an error from the one call instead. The engine's mutex is
/// taken with `PoisonError::into_inner` and every call re-validates its descriptor, so later
/// calls still work. Public (hidden) only so that `tests/ffi_hostile.rs` can show it.
#[doc(hidden)]
pub fn guard<R>(fail: R, body: impl FnOnce() -> R) -> R {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
        Ok(r) => r,
        Err(_) => {
            set_errno(Errno::EIO);
            fail
        }
    }
}

fn set_errno(e: Errno) {
    // SAFETY: __errno_location returns this thread's errno slot, always valid to write.
    unsafe { *libc::__errno_location() = e.raw() };
}

fn ret_int(r: SysResult<c_int>) -> c_int {
    r.unwrap_or_else(|e| {
        set_errno(e);
        -1
    })
}

fn ret_unit(r: SysResult<()>) -> c_int {
    ret_int(r.map(|()| 0))
}

fn ret_size(r: SysResult<usize>) -> ssize_t {
    match r {
        Ok(n) => ssize_t::try_from(n).unwrap_or(ssize_t::MAX),
        Err(e) => {
            set_errno(e);
            -1
        }
    }
}

/// # Safety
/// `ud` is null or a pointer returned by [`xdptcp_new`] and not yet freed.
unsafe fn adapter<'a>(ud: *mut c_void) -> SysResult<&'a Adapter> {
    // SAFETY: per this function's contract, a non-null `ud` points to a live Adapter, and
    // all its methods take `&self` (it synchronises internally).
    unsafe { ud.cast::<Adapter>().as_ref() }.ok_or(Errno::EBADF)
}

/// Bytes of a `sockaddr_in6` without `sin6_scope_id` (RFC 2133's layout), the least Linux
/// accepts from `bind` and `connect` (`SIN6_LEN_RFC2133`).
const SIN6_LEN_RFC2133: usize = 24;

/// The address a caller passed, by its family field: `sockaddr_in` (`AF_INET`, at least 16
/// bytes) or `sockaddr_in6` (`AF_INET6`, at least 24), else `EINVAL` for a short one and
/// `EAFNOSUPPORT` for another family. Whether it suits the socket is the core's question.
///
/// # Safety
/// `addr` is null or points to `len` readable bytes.
unsafe fn read_sockaddr(addr: *const sockaddr, len: socklen_t) -> SysResult<SocketAddr> {
    if addr.is_null() {
        return Err(Errno::EFAULT);
    }
    let len = len as usize;
    if len < core::mem::size_of::<libc::sa_family_t>() {
        return Err(Errno::EINVAL);
    }
    // SAFETY: `addr` has at least the family field's bytes (checked above); the field is
    // first in every sockaddr.
    let family = unsafe { addr.cast::<libc::sa_family_t>().read_unaligned() };
    match c_int::from(family) {
        libc::AF_INET => {
            if len < core::mem::size_of::<sockaddr_in>() {
                return Err(Errno::EINVAL);
            }
            // SAFETY: `addr` has at least size_of::<sockaddr_in>() readable bytes (checked
            // above); read_unaligned copes with any alignment.
            let sin = unsafe { addr.cast::<sockaddr_in>().read_unaligned() };
            Ok(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)),
                u16::from_be(sin.sin_port),
            )))
        }
        libc::AF_INET6 => {
            if len < SIN6_LEN_RFC2133 {
                return Err(Errno::EINVAL);
            }
            // SAFETY: zeroed is a valid sockaddr_in6 (plain integers and bytes).
            let mut sin6: sockaddr_in6 = unsafe { core::mem::zeroed() };
            let n = len.min(core::mem::size_of::<sockaddr_in6>());
            // SAFETY: `addr` has `len >= n` readable bytes and `sin6` has room for `n`; a local
            // cannot overlap the caller's memory. A short (RFC 2133) address leaves the scope
            // id zero.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    addr.cast::<u8>(),
                    (&mut sin6 as *mut sockaddr_in6).cast::<u8>(),
                    n,
                )
            };
            Ok(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(sin6.sin6_addr.s6_addr),
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )))
        }
        _ => Err(Errno::EAFNOSUPPORT),
    }
}

/// Copies `a` (a `sockaddr_in` or `sockaddr_in6`, by the address's family) into `addr`,
/// truncated to `*len` bytes, and sets `*len` to its full size, as the kernel does.
///
/// # Safety
/// `addr` and `len` are null, or `len` points to a writable length and `addr` to that many
/// writable bytes.
unsafe fn write_sockaddr(addr: *mut sockaddr, len: *mut socklen_t, a: SocketAddr) {
    if addr.is_null() || len.is_null() {
        return;
    }
    match a {
        SocketAddr::V4(a) => {
            // SAFETY: zeroed is a valid sockaddr_in (plain integers).
            let mut sin: sockaddr_in = unsafe { core::mem::zeroed() };
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = a.port().to_be();
            sin.sin_addr.s_addr = u32::from(*a.ip()).to_be();
            // SAFETY: passed on from this function's contract.
            unsafe { copy_sockaddr(addr, len, &sin) }
        }
        SocketAddr::V6(a) => {
            // SAFETY: zeroed is a valid sockaddr_in6 (plain integers and bytes).
            let mut sin6: sockaddr_in6 = unsafe { core::mem::zeroed() };
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = a.port().to_be();
            sin6.sin6_flowinfo = a.flowinfo().to_be();
            sin6.sin6_addr.s6_addr = a.ip().octets();
            sin6.sin6_scope_id = a.scope_id();
            // SAFETY: passed on from this function's contract.
            unsafe { copy_sockaddr(addr, len, &sin6) }
        }
    }
}

/// # Safety
/// As [`write_sockaddr`], with `addr` and `len` non-null.
unsafe fn copy_sockaddr<T>(addr: *mut sockaddr, len: *mut socklen_t, value: &T) {
    let full = core::mem::size_of::<T>();
    // SAFETY: `len` is a valid pointer per the contract.
    let room = unsafe { *len } as usize;
    // SAFETY: we copy at most `room` bytes into `addr`, which has `room` writable bytes, from
    // a local of `full` bytes; the regions cannot overlap.
    unsafe {
        core::ptr::copy_nonoverlapping(
            (value as *const T).cast::<u8>(),
            addr.cast::<u8>(),
            room.min(full),
        );
        *len = full as socklen_t;
    }
}

/// `EINVAL` for a length no slice can have (over `isize::MAX`), checked before any slice
/// is made.
///
/// # Safety
/// `p` is null (then `n` must be 0) or points to `n` readable bytes alive for `'a`.
unsafe fn bytes<'a>(p: *const c_void, n: usize) -> SysResult<&'a [u8]> {
    if n == 0 {
        return Ok(&[]);
    }
    if n > MAX_LEN {
        return Err(Errno::EINVAL);
    }
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: per the contract, `p` points to `n` readable bytes.
    Ok(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), n) })
}

/// `EINVAL` for a length over `isize::MAX`, as [`bytes`].
///
/// # Safety
/// `p` is null (then `n` must be 0) or points to `n` writable bytes alive for `'a`, not
/// aliased elsewhere during the call.
unsafe fn bytes_mut<'a>(p: *mut c_void, n: usize) -> SysResult<&'a mut [u8]> {
    if n == 0 {
        return Ok(&mut []);
    }
    if n > MAX_LEN {
        return Err(Errno::EINVAL);
    }
    if p.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: per the contract, `p` points to `n` writable, unaliased bytes.
    Ok(unsafe { core::slice::from_raw_parts_mut(p.cast::<u8>(), n) })
}

/// The iovec array of a vectored call, checked as Linux `import_iovec` does: at most
/// `IOV_MAX` entries (`EINVAL`), a non-null array (`EFAULT`), and a total length that fits
/// `ssize_t` (`EINVAL`). Returns the entries and their total.
///
/// # Safety
/// `iov` is null or points to `cnt` iovecs.
unsafe fn iov_array<'a>(iov: *const iovec, cnt: usize) -> SysResult<(&'a [iovec], usize)> {
    if cnt > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    if cnt == 0 {
        return Ok((&[], 0));
    }
    if iov.is_null() {
        return Err(Errno::EFAULT);
    }
    // SAFETY: `iov` points to `cnt` iovecs per the contract.
    let v = unsafe { core::slice::from_raw_parts(iov, cnt) };
    let mut total = 0usize;
    for e in v {
        total = total.checked_add(e.iov_len).filter(|&t| t <= MAX_LEN).ok_or(Errno::EINVAL)?;
    }
    Ok((v, total))
}

/// # Safety
/// `iov` points to `cnt` iovecs, each describing readable memory.
unsafe fn iov_in<'a>(iov: *const iovec, cnt: usize) -> SysResult<Vec<IoSlice<'a>>> {
    // SAFETY: per this function's contract.
    let (v, _) = unsafe { iov_array(iov, cnt) }?;
    v.iter()
        // SAFETY: each iovec describes `iov_len` readable bytes per the contract. Shared
        // slices may overlap.
        .map(|e| unsafe { bytes(e.iov_base, e.iov_len) }.map(IoSlice::new))
        .collect()
}

/// Whether two of the non-empty iovecs share a byte.
fn iovecs_overlap(v: &[iovec]) -> bool {
    let mut spans: Vec<(usize, usize)> = v
        .iter()
        .filter(|e| e.iov_len > 0)
        .map(|e| (e.iov_base as usize, (e.iov_base as usize).saturating_add(e.iov_len)))
        .collect();
    spans.sort_unstable();
    spans.windows(2).any(|w| w[1].0 < w[0].1)
}

/// Runs a receive `f` over the iovecs of `readv`/`recvmsg` without ever making two `&mut`
/// slices that alias. Disjoint iovecs (the normal case) become one `IoSliceMut` each.
/// Overlapping ones are legal in POSIX and Linux fills them in order, a later iovec
/// overwriting what an earlier one got; here the data is received into a buffer of the
/// stack's own (at most [`OVERLAP_BOUNCE_MAX`] bytes, so a very large overlapping read may
/// come back short) and copied out iovec by iovec through raw pointers, with the same result.
/// `f` returns the byte count first.
///
/// # Safety
/// `iov` points to `cnt` iovecs, each describing writable memory.
unsafe fn with_iov_out<T>(
    iov: *const iovec,
    cnt: usize,
    f: impl FnOnce(&mut [IoSliceMut<'_>]) -> SysResult<(usize, T)>,
) -> SysResult<(usize, T)> {
    // SAFETY: per this function's contract.
    let (v, total) = unsafe { iov_array(iov, cnt) }?;
    if !iovecs_overlap(v) {
        let mut bufs = v
            .iter()
            // SAFETY: each iovec describes `iov_len` writable bytes per the contract, and no
            // two of them overlap (checked above), so these `&mut` slices do not alias.
            .map(|e| unsafe { bytes_mut(e.iov_base, e.iov_len) }.map(IoSliceMut::new))
            .collect::<SysResult<Vec<_>>>()?;
        return f(&mut bufs);
    }
    if v.iter().any(|e| e.iov_base.is_null() && e.iov_len > 0) {
        return Err(Errno::EFAULT);
    }
    let mut bounce = vec![0u8; total.min(OVERLAP_BOUNCE_MAX)];
    let (n, t) = f(&mut [IoSliceMut::new(&mut bounce)])?;
    let mut src = &bounce[..n.min(bounce.len())];
    for e in v {
        if src.is_empty() {
            break;
        }
        let k = e.iov_len.min(src.len());
        // SAFETY: `iov_base` has `iov_len >= k` writable bytes (contract, non-null checked
        // above); `bounce` is our own allocation, so source and destination are disjoint.
        // Raw copies make no reference to the user's memory, so overlapping iovecs are fine.
        unsafe { core::ptr::copy_nonoverlapping(src.as_ptr(), e.iov_base.cast::<u8>(), k) };
        src = &src[k..];
    }
    Ok((n, t))
}

fn parse_flags(flags: *const c_char) -> Result<PosixConfig, String> {
    if flags.is_null() {
        return Ok(PosixConfig::default());
    }
    // SAFETY: a non-null `flags` is a NUL-terminated C string (the C API's contract).
    let s = unsafe { CStr::from_ptr(flags) };
    PosixConfig::parse(&s.to_string_lossy())
}

/// Creates an instance configured by `flags` (`key=value,...`, may be null). Returns null
/// (and prints the reason to stderr) if the flags are invalid.
#[no_mangle]
pub extern "C" fn xdptcp_new(flags: *const c_char) -> *mut c_void {
    guard(core::ptr::null_mut(), || match parse_flags(flags) {
        Ok(c) => {
            let rx_wait = std::time::Duration::from_millis(c.rx_wait_ms);
            let epoch_us = c.epoch_secs * 1_000_000;
            let a = Adapter { posix: Posix::new(c), rx_wait, epoch_us };
            Box::into_raw(Box::new(a)).cast()
        }
        Err(e) => {
            eprintln!("xdptcp: bad flags: {e}");
            core::ptr::null_mut()
        }
    })
}

/// Frees an instance from [`xdptcp_new`] (null is ignored).
///
/// # Safety
/// `ud` is null or from `xdptcp_new`, not freed before, and no other call uses it now.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_free(ud: *mut c_void) {
    guard((), || {
        if !ud.is_null() {
            // SAFETY: `ud` came from Box::into_raw in xdptcp_new and is freed once.
            drop(unsafe { Box::from_raw(ud.cast::<Adapter>()) });
        }
    })
}

macro_rules! with_adapter {
    ($ud:expr, $err:expr, |$a:ident| $body:expr) => {{
        // SAFETY: every exported function requires `ud` to come from xdptcp_new.
        match unsafe { adapter($ud) } {
            Ok($a) => $body,
            Err(e) => $err(Err(e)),
        }
    }};
}

/// `socket`.
///
/// # Safety
/// `ud` comes from [`xdptcp_new`]; pointer arguments follow the libc contract.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_socket(
    ud: *mut c_void,
    domain: c_int,
    ty: c_int,
    protocol: c_int,
) -> c_int {
    guard(-1, || with_adapter!(ud, ret_int, |a| ret_int(a.posix.socket(domain, ty, protocol))))
}

/// `bind`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_bind(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `addr` has `len` readable bytes (libc contract).
        with_adapter!(ud, ret_unit, |a| ret_unit(
            unsafe { read_sockaddr(addr, len) }.and_then(|s| a.posix.bind(fd, s))
        ))
    })
}

/// `listen`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_listen(ud: *mut c_void, fd: c_int, backlog: c_int) -> c_int {
    guard(-1, || with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.listen(fd, backlog))))
}

/// `accept`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_accept(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_int, |a| ret_int(a.posix.accept(fd).map(|(nfd, peer)| {
            // SAFETY: `addr`/`len` are null or valid per the libc contract.
            unsafe { write_sockaddr(addr, len, peer) };
            nfd
        })))
    })
}

/// `connect`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_connect(
    ud: *mut c_void,
    fd: c_int,
    addr: *const sockaddr,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `addr` has `len` readable bytes (libc contract).
        with_adapter!(ud, ret_unit, |a| ret_unit(
            unsafe { read_sockaddr(addr, len) }.and_then(|s| a.posix.connect(fd, s))
        ))
    })
}

/// `read`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_read(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    count: size_t,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `buf` has `count` writable bytes (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { bytes_mut(buf, count) }.and_then(|b| a.posix.read(fd, b))
        ))
    })
}

/// `readv`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_readv(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        let Ok(cnt) = usize::try_from(cnt) else { return ret_size(Err(Errno::EINVAL)) };
        // SAFETY: `iov` has `cnt` entries (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { with_iov_out(iov, cnt, |v| Ok((a.posix.recv_vectored(fd, v, 0)?, ()))) }
                .map(|(n, ())| n)
        ))
    })
}

/// `recv`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_recv(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `buf` has `len` writable bytes (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { bytes_mut(buf, len) }.and_then(|b| a.posix.recv(fd, b, flags))
        ))
    })
}

/// `recvfrom`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_recvfrom(
    ud: *mut c_void,
    fd: c_int,
    buf: *mut c_void,
    len: size_t,
    flags: c_int,
    src: *mut sockaddr,
    srclen: *mut socklen_t,
) -> ssize_t {
    guard(-1, || {
        with_adapter!(ud, ret_size, |a| ret_size(
            // SAFETY: `buf` has `len` writable bytes (libc contract).
            unsafe { bytes_mut(buf, len) }.and_then(|b| {
                let (n, from) = a.posix.recv_from(fd, &mut [IoSliceMut::new(b)], flags)?;
                match from {
                    // SAFETY: `src`/`srclen` are null or valid (libc contract).
                    Some(from) => unsafe { write_sockaddr(src, srclen, from) },
                    // Stream sockets report no address, as Linux does (length 0).
                    // SAFETY: `srclen` is null or points to a socklen_t (libc contract).
                    None => {
                        if let Some(l) = unsafe { srclen.as_mut() } {
                            *l = 0;
                        }
                    }
                }
                Ok(n)
            })
        ))
    })
}

/// `recvmsg` (no control messages: `msg_controllen` is set to 0).
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_recvmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *mut msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `msg` is null or a valid msghdr (libc contract).
        let Some(m) = (unsafe { msg.as_mut() }) else { return ret_size(Err(Errno::EFAULT)) };
        with_adapter!(ud, ret_size, |a| ret_size(
            // SAFETY: the msghdr's iovec array is valid (libc contract).
            unsafe { with_iov_out(m.msg_iov, m.msg_iovlen, |v| a.posix.recv_from(fd, v, flags)) }
                .map(|(n, from)| {
                    if let Some(from) = from {
                        // SAFETY: msg_name has msg_namelen writable bytes (libc contract).
                        unsafe { write_sockaddr(m.msg_name.cast(), &mut m.msg_namelen, from) };
                    } else {
                        m.msg_namelen = 0;
                    }
                    m.msg_flags = 0;
                    match a.posix.inq_hint(fd) {
                        // SAFETY: msg_control has msg_controllen writable bytes (libc
                        // contract).
                        Ok(Some(inq)) => unsafe { write_inq_cmsg(m, inq) },
                        _ => m.msg_controllen = 0,
                    }
                    n
                })
        ))
    })
}

/// Writes one `SOL_TCP`/`TCP_CM_INQ` control message carrying `inq` into `m`'s control
/// buffer and sets `msg_controllen` to its size, or sets `MSG_CTRUNC` (and length 0) when the
/// buffer is too small, as Linux's `put_cmsg` does.
///
/// # Safety
/// `m.msg_control` is null or has `m.msg_controllen` writable bytes, aligned for `cmsghdr`.
unsafe fn write_inq_cmsg(m: &mut msghdr, inq: c_int) {
    let size = core::mem::size_of::<c_int>() as u32;
    // SAFETY: CMSG_SPACE and CMSG_LEN only compute sizes.
    let (space, len) = unsafe { (libc::CMSG_SPACE(size), libc::CMSG_LEN(size)) };
    if m.msg_control.is_null() || m.msg_controllen < space as usize {
        m.msg_flags |= libc::MSG_CTRUNC;
        m.msg_controllen = 0;
        return;
    }
    // SAFETY: the buffer holds at least one cmsghdr (checked just above), so CMSG_FIRSTHDR
    // returns its start, aligned as the caller promised.
    let c = unsafe { libc::CMSG_FIRSTHDR(m) };
    if c.is_null() {
        m.msg_controllen = 0;
        return;
    }
    // SAFETY: `c` points to CMSG_SPACE(4) writable bytes: a header, then the data at
    // CMSG_DATA, which may be unaligned for c_int (hence write_unaligned).
    unsafe {
        (*c).cmsg_len = len as _;
        (*c).cmsg_level = libc::SOL_TCP;
        (*c).cmsg_type = libc::TCP_CM_INQ;
        libc::CMSG_DATA(c).cast::<c_int>().write_unaligned(inq);
    }
    m.msg_controllen = space as _;
}

/// `write`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_write(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    count: size_t,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `buf` has `count` readable bytes (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { bytes(buf, count) }.and_then(|b| a.posix.write(fd, b))
        ))
    })
}

/// `writev`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_writev(
    ud: *mut c_void,
    fd: c_int,
    iov: *const iovec,
    cnt: c_int,
) -> ssize_t {
    guard(-1, || {
        let Ok(cnt) = usize::try_from(cnt) else { return ret_size(Err(Errno::EINVAL)) };
        // SAFETY: `iov` has `cnt` entries (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { iov_in(iov, cnt) }.and_then(|v| a.posix.send_vectored(fd, &v, 0))
        ))
    })
}

/// `send`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_send(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `buf` has `len` readable bytes (libc contract).
        with_adapter!(ud, ret_size, |a| ret_size(
            unsafe { bytes(buf, len) }.and_then(|b| a.posix.send(fd, b, flags))
        ))
    })
}

/// `sendto`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_sendto(
    ud: *mut c_void,
    fd: c_int,
    buf: *const c_void,
    len: size_t,
    flags: c_int,
    dst: *const sockaddr,
    dstlen: socklen_t,
) -> ssize_t {
    guard(-1, || {
        with_adapter!(ud, ret_size, |a| ret_size((|| {
            // SAFETY: `buf` has `len` readable bytes; `dst` is null or has `dstlen` bytes.
            let b = unsafe { bytes(buf, len) }?;
            let to =
                if dst.is_null() { None } else { Some(unsafe { read_sockaddr(dst, dstlen) }?) };
            a.posix.send_to(fd, &[IoSlice::new(b)], flags, to)
        })()))
    })
}

/// `sendmsg` (control messages are ignored).
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_sendmsg(
    ud: *mut c_void,
    fd: c_int,
    msg: *const msghdr,
    flags: c_int,
) -> ssize_t {
    guard(-1, || {
        // SAFETY: `msg` is null or a valid msghdr (libc contract).
        let Some(m) = (unsafe { msg.as_ref() }) else { return ret_size(Err(Errno::EFAULT)) };
        with_adapter!(ud, ret_size, |a| ret_size((|| {
            // SAFETY: the msghdr's iovec array and name are valid (libc contract).
            let v = unsafe { iov_in(m.msg_iov, m.msg_iovlen) }?;
            let to = if m.msg_name.is_null() {
                None
            } else {
                // SAFETY: msg_name has msg_namelen readable bytes (libc contract).
                Some(unsafe { read_sockaddr(m.msg_name.cast(), m.msg_namelen) }?)
            };
            a.posix.send_to(fd, &v, flags, to)
        })()))
    })
}

/// `fcntl(fd, cmd, int arg)`: `F_GETFL`, `F_SETFL` (`O_NONBLOCK`), `F_GETFD`, `F_SETFD`.
/// Declared with the variadic argument made explicit (see the module documentation).
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_fcntl(ud: *mut c_void, fd: c_int, cmd: c_int, arg: c_int) -> c_int {
    guard(-1, || with_adapter!(ud, ret_int, |a| ret_int(a.posix.fcntl(fd, cmd, arg))))
}

/// `SIOCOUTQNSD` (`linux/sockios.h`; not in the `libc` crate): bytes queued, not yet sent.
const SIOCOUTQNSD: c_ulong = 0x894B;

/// `ioctl(fd, request, int *arg)`: `FIONBIO`, `FIONREAD`/`SIOCINQ`, `SIOCOUTQ`, `SIOCOUTQNSD`.
///
/// # Safety
/// As for [`xdptcp_socket`]; `arg` points to an `int`.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_ioctl(
    ud: *mut c_void,
    fd: c_int,
    request: c_ulong,
    arg: *mut c_int,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| ret_unit((|| {
            // SAFETY: `arg` is null or points to an int (ioctl contract for these requests).
            let p = unsafe { arg.as_mut() }.ok_or(Errno::EFAULT)?;
            match request {
                libc::FIONBIO => a.posix.set_nonblocking(fd, *p != 0),
                // FIONREAD is SIOCINQ.
                libc::FIONREAD => {
                    *p = c_int::try_from(a.posix.bytes_readable(fd)?).unwrap_or(c_int::MAX);
                    Ok(())
                }
                // TIOCOUTQ is SIOCOUTQ.
                libc::TIOCOUTQ | SIOCOUTQNSD => {
                    let n = a.posix.bytes_queued(fd, request == SIOCOUTQNSD)?;
                    *p = c_int::try_from(n).unwrap_or(c_int::MAX);
                    Ok(())
                }
                _ => Err(Errno::ENOTTY),
            }
        })()))
    })
}

/// `close`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_close(ud: *mut c_void, fd: c_int) -> c_int {
    guard(-1, || with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.close(fd))))
}

/// `shutdown`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_shutdown(ud: *mut c_void, fd: c_int, how: c_int) -> c_int {
    guard(-1, || with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.shutdown(fd, how))))
}

/// `getsockopt`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_getsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *mut c_void,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| ret_unit((|| {
            // SAFETY: `len` is null or points to a socklen_t (libc contract).
            let len = unsafe { len.as_mut() }.ok_or(Errno::EFAULT)?;
            // SAFETY: `val` has `*len` writable bytes (libc contract).
            let out = unsafe { bytes_mut(val, *len as usize) }?;
            let n = a.posix.getsockopt(fd, level, name, out)?;
            *len = n as socklen_t;
            Ok(())
        })()))
    })
}

/// `setsockopt`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_setsockopt(
    ud: *mut c_void,
    fd: c_int,
    level: c_int,
    name: c_int,
    val: *const c_void,
    len: socklen_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `val` has `len` readable bytes (libc contract).
        with_adapter!(ud, ret_unit, |a| ret_unit(
            unsafe { bytes(val, len as usize) }
                .and_then(|v| a.posix.setsockopt(fd, level, name, v))
        ))
    })
}

/// `getsockname`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_getsockname(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.getsockname(fd).map(|s| {
            // SAFETY: `addr`/`len` are null or valid (libc contract).
            unsafe { write_sockaddr(addr, len, s) }
        })))
    })
}

/// `getpeername`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_getpeername(
    ud: *mut c_void,
    fd: c_int,
    addr: *mut sockaddr,
    len: *mut socklen_t,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.getpeername(fd).map(|s| {
            // SAFETY: `addr`/`len` are null or valid (libc contract).
            unsafe { write_sockaddr(addr, len, s) }
        })))
    })
}

/// `poll`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_poll(
    ud: *mut c_void,
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_int, |a| ret_int((|| {
            let n = usize::try_from(nfds).map_err(|_| Errno::EINVAL)?;
            if n > 65536 {
                return Err(Errno::EINVAL);
            }
            let slice: &mut [pollfd] = if n == 0 {
                &mut []
            } else if fds.is_null() {
                return Err(Errno::EFAULT);
            } else {
                // SAFETY: `fds` points to `nfds` pollfds (libc contract).
                unsafe { core::slice::from_raw_parts_mut(fds, n) }
            };
            a.posix.poll(slice, timeout).map(|r| r as c_int)
        })()))
    })
}

/// `epoll_create` (`size` is ignored, as on Linux, but must be positive).
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_epoll_create(ud: *mut c_void, size: c_int) -> c_int {
    guard(-1, || {
        if size <= 0 {
            return ret_int(Err(Errno::EINVAL));
        }
        with_adapter!(ud, ret_int, |a| ret_int(a.posix.epoll_create()))
    })
}

/// `epoll_ctl`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_epoll_ctl(
    ud: *mut c_void,
    epfd: c_int,
    op: c_int,
    fd: c_int,
    ev: *mut libc::epoll_event,
) -> c_int {
    guard(-1, || {
        // SAFETY: `ev` is null or points to an epoll_event (libc contract; the struct is packed
        // on x86-64, hence read_unaligned).
        let event =
            (!ev.is_null()).then(|| unsafe { ev.read_unaligned() }).map(|e| (e.events, e.u64));
        with_adapter!(ud, ret_unit, |a| ret_unit(a.posix.epoll_ctl(epfd, op, fd, event)))
    })
}

/// `epoll_wait`.
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_epoll_wait(
    ud: *mut c_void,
    epfd: c_int,
    events: *mut libc::epoll_event,
    max: c_int,
    timeout: c_int,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_int, |a| ret_int((|| {
            let n =
                usize::try_from(max).ok().filter(|&n| n > 0 && n <= 65536).ok_or(Errno::EINVAL)?;
            if events.is_null() {
                return Err(Errno::EFAULT);
            }
            // SAFETY: `events` has room for `max` entries (libc contract).
            let out = unsafe { core::slice::from_raw_parts_mut(events, n) };
            a.posix.epoll_wait(epfd, out, timeout).map(|r| r as c_int)
        })()))
    })
}

/// `pipe`: not supported (`ENOSYS`): the adapter has sockets only.
///
/// # Safety
/// Never dereferences its arguments.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_pipe(_ud: *mut c_void, _fds: *mut c_int) -> c_int {
    guard(-1, || ret_int(Err(Errno::ENOSYS)))
}

/// `splice`: not supported (`ENOSYS`).
///
/// # Safety
/// Never dereferences its arguments.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_splice(
    _ud: *mut c_void,
    _fd_in: c_int,
    _off_in: *mut libc::loff_t,
    _fd_out: c_int,
    _off_out: *mut libc::loff_t,
    _len: size_t,
    _flags: c_uint,
) -> c_int {
    guard(-1, || ret_int(Err(Errno::ENOSYS)))
}

/// Injects one raw IP packet (IPv4 or IPv6) into the stack as if from the wire. 0, or -1 on a bad
/// argument.
///
/// # Safety
/// As for [`xdptcp_socket`]; `buf` has `count` readable bytes.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_netdev_send(
    ud: *mut c_void,
    buf: *const c_void,
    count: size_t,
) -> c_int {
    guard(-1, || {
        // SAFETY: `buf` has `count` readable bytes (contract).
        with_adapter!(ud, ret_unit, |a| ret_unit(
            unsafe { bytes(buf, count) }.map(|b| a.posix.netdev_send(b))
        ))
    })
}

/// The next IP packet (IPv4 or IPv6) the stack sent: copied into `buf` (of `*count` bytes), `*count` set
/// to its length (0 if none came) and `*time_usecs` to when it left, in `gettimeofday`
/// microseconds. See [`Posix::netdev_receive`] for the virtual-time jumps. Returns 0.
///
/// # Safety
/// As for [`xdptcp_socket`]; `count` and `time_usecs` are valid, `buf` has `*count` bytes.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_netdev_receive(
    ud: *mut c_void,
    buf: *mut c_void,
    count: *mut size_t,
    time_usecs: *mut c_longlong,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| ret_unit((|| {
            // SAFETY: `count` is null or valid (contract).
            let count = unsafe { count.as_mut() }.ok_or(Errno::EFAULT)?;
            // SAFETY: `buf` has `*count` writable bytes (contract).
            let out = unsafe { bytes_mut(buf, *count) }?;
            match a.posix.netdev_receive(out, a.rx_wait) {
                Some((n, at)) => {
                    *count = n;
                    // SAFETY: `time_usecs` is null or valid (contract).
                    if let Some(t) = unsafe { time_usecs.as_mut() } {
                        *t = (a.epoch_us + at.total_micros()) as c_longlong;
                    }
                }
                None => *count = 0,
            }
            Ok(())
        })()))
    })
}

/// Sleeps `usec` on the adapter's clock (virtual: time jumps and timers run).
///
/// # Safety
/// As for [`xdptcp_socket`].
#[no_mangle]
pub unsafe extern "C" fn xdptcp_usleep(ud: *mut c_void, usec: c_uint) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| {
            a.posix.usleep(u64::from(usec));
            ret_unit(Ok(()))
        })
    })
}

/// The adapter's clock, which the stack also runs on.
///
/// # Safety
/// As for [`xdptcp_socket`]; `tv` is null or valid; `tz` is ignored.
#[no_mangle]
pub unsafe extern "C" fn xdptcp_gettimeofday(
    ud: *mut c_void,
    tv: *mut timeval,
    _tz: *mut c_void,
) -> c_int {
    guard(-1, || {
        with_adapter!(ud, ret_unit, |a| {
            let (sec, usec) = a.posix.gettimeofday();
            // SAFETY: `tv` is null or points to a timeval (libc contract).
            if let Some(tv) = unsafe { tv.as_mut() } {
                tv.tv_sec = sec as libc::time_t;
                tv.tv_usec = usec as libc::suseconds_t;
            }
            ret_unit(Ok(()))
        })
    })
}

/// packetdrill's `struct packetdrill_interface` (`gtests/net/packetdrill/packetdrill.h`),
/// field for field.
#[repr(C)]
#[allow(missing_docs)]
pub struct PacketdrillInterface {
    pub userdata: *mut c_void,
    pub free: Option<unsafe extern "C" fn(*mut c_void)>,
    pub socket: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub bind: Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub listen: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub accept:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut sockaddr, *mut socklen_t) -> c_int>,
    pub connect:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const sockaddr, socklen_t) -> c_int>,
    pub read: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t) -> ssize_t>,
    pub readv: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub recv:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *mut c_void, size_t, c_int) -> ssize_t>,
    pub recvfrom: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut c_void,
            size_t,
            c_int,
            *mut sockaddr,
            *mut socklen_t,
        ) -> ssize_t,
    >,
    pub recvmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *mut msghdr, c_int) -> ssize_t>,
    pub write: Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t) -> ssize_t>,
    pub writev: Option<unsafe extern "C" fn(*mut c_void, c_int, *const iovec, c_int) -> ssize_t>,
    pub send:
        Option<unsafe extern "C" fn(*mut c_void, c_int, *const c_void, size_t, c_int) -> ssize_t>,
    pub sendto: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *const c_void,
            size_t,
            c_int,
            *const sockaddr,
            socklen_t,
        ) -> ssize_t,
    >,
    pub sendmsg: Option<unsafe extern "C" fn(*mut c_void, c_int, *const msghdr, c_int) -> ssize_t>,
    pub fcntl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int) -> c_int>,
    pub ioctl: Option<unsafe extern "C" fn(*mut c_void, c_int, c_ulong, *mut c_int) -> c_int>,
    pub close: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub shutdown: Option<unsafe extern "C" fn(*mut c_void, c_int, c_int) -> c_int>,
    pub getsockopt: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            c_int,
            c_int,
            *mut c_void,
            *mut socklen_t,
        ) -> c_int,
    >,
    pub setsockopt: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *const c_void, socklen_t) -> c_int,
    >,
    pub poll: Option<unsafe extern "C" fn(*mut c_void, *mut pollfd, nfds_t, c_int) -> c_int>,
    pub netdev_send: Option<unsafe extern "C" fn(*mut c_void, *const c_void, size_t) -> c_int>,
    pub netdev_receive: Option<
        unsafe extern "C" fn(*mut c_void, *mut c_void, *mut size_t, *mut c_longlong) -> c_int,
    >,
    pub usleep: Option<unsafe extern "C" fn(*mut c_void, c_uint) -> c_int>,
    pub gettimeofday: Option<unsafe extern "C" fn(*mut c_void, *mut timeval, *mut c_void) -> c_int>,
    pub epoll_create: Option<unsafe extern "C" fn(*mut c_void, c_int) -> c_int>,
    pub epoll_ctl: Option<
        unsafe extern "C" fn(*mut c_void, c_int, c_int, c_int, *mut libc::epoll_event) -> c_int,
    >,
    pub epoll_wait: Option<
        unsafe extern "C" fn(*mut c_void, c_int, *mut libc::epoll_event, c_int, c_int) -> c_int,
    >,
    pub pipe: Option<unsafe extern "C" fn(*mut c_void, *mut c_int) -> c_int>,
    pub splice: Option<
        unsafe extern "C" fn(
            *mut c_void,
            c_int,
            *mut libc::loff_t,
            c_int,
            *mut libc::loff_t,
            size_t,
            c_uint,
        ) -> c_int,
    >,
}

/// packetdrill's entry point: creates an instance from `flags` (`--so_flags`) and fills
/// `ifc`. Aborts the process if the flags are invalid (packetdrill could not go on).
///
/// # Safety
/// `flags` is null or a C string; `ifc` points to a writable `struct packetdrill_interface`.
#[no_mangle]
pub unsafe extern "C" fn packetdrill_interface_init(
    flags: *const c_char,
    ifc: *mut PacketdrillInterface,
) {
    let ud = xdptcp_new(flags);
    if ud.is_null() || ifc.is_null() {
        std::process::abort();
    }
    let table = PacketdrillInterface {
        userdata: ud,
        free: Some(xdptcp_free),
        socket: Some(xdptcp_socket),
        bind: Some(xdptcp_bind),
        listen: Some(xdptcp_listen),
        accept: Some(xdptcp_accept),
        connect: Some(xdptcp_connect),
        read: Some(xdptcp_read),
        readv: Some(xdptcp_readv),
        recv: Some(xdptcp_recv),
        recvfrom: Some(xdptcp_recvfrom),
        recvmsg: Some(xdptcp_recvmsg),
        write: Some(xdptcp_write),
        writev: Some(xdptcp_writev),
        send: Some(xdptcp_send),
        sendto: Some(xdptcp_sendto),
        sendmsg: Some(xdptcp_sendmsg),
        fcntl: Some(xdptcp_fcntl),
        ioctl: Some(xdptcp_ioctl),
        close: Some(xdptcp_close),
        shutdown: Some(xdptcp_shutdown),
        getsockopt: Some(xdptcp_getsockopt),
        setsockopt: Some(xdptcp_setsockopt),
        poll: Some(xdptcp_poll),
        netdev_send: Some(xdptcp_netdev_send),
        netdev_receive: Some(xdptcp_netdev_receive),
        usleep: Some(xdptcp_usleep),
        gettimeofday: Some(xdptcp_gettimeofday),
        epoll_create: Some(xdptcp_epoll_create),
        epoll_ctl: Some(xdptcp_epoll_ctl),
        epoll_wait: Some(xdptcp_epoll_wait),
        pipe: Some(xdptcp_pipe),
        splice: Some(xdptcp_splice),
    };
    // SAFETY: `ifc` is non-null and writable per the contract; write does not read the old
    // (possibly uninitialised) contents.
    unsafe { ifc.write(table) };
}
