//! The C API against hostile or careless callers: lengths no slice can have, overlapping
//! iovecs, panics inside the library, and keys a peer could predict. Each test calls the
//! exported `xdptcp_*` functions as C would (through their Rust declarations).

use std::ffi::{c_int, c_void, CString};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ptr;
use std::time::Duration;

use etherparse::{PacketBuilder, SlicedPacket, TransportSlice};
use xdptcp_posix::ffi::{self, Adapter};

const LOCAL: [u8; 4] = [192, 168, 0, 1];
const REMOTE: [u8; 4] = [192, 0, 2, 1];

fn errno() -> c_int {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

/// A new instance from `flags`; null if they are rejected.
fn new(flags: &str) -> *mut c_void {
    let f = CString::new(flags).expect("no NUL");
    ffi::xdptcp_new(f.as_ptr())
}

fn adapter<'a>(ud: *mut c_void) -> &'a Adapter {
    // SAFETY: `ud` came from xdptcp_new and is freed only at the end of each test.
    unsafe { &*ud.cast::<Adapter>() }
}

fn free(ud: *mut c_void) {
    // SAFETY: `ud` came from xdptcp_new and is not used afterwards.
    unsafe { ffi::xdptcp_free(ud) };
}

/// An unconnected TCP socket.
fn socket(ud: *mut c_void) -> c_int {
    // SAFETY: `ud` is live.
    let fd = unsafe { ffi::xdptcp_socket(ud, libc::AF_INET, libc::SOCK_STREAM, 0) };
    assert!(fd >= 0);
    fd
}

/// A packet from the remote end, with the stack's `ack` if given.
fn packet(sport: u16, seq: u32, ack: Option<u32>, syn: bool, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(REMOTE, LOCAL, 64).tcp(sport, 80, seq, 65535);
    let b = if syn { b.syn() } else { b };
    let b = match ack {
        Some(a) => b.ack(a),
        None => b,
    };
    let mut out = Vec::new();
    b.write(&mut out, payload).expect("packet");
    out
}

/// The sequence number of the stack's next SYN (or SYN-ACK), skipping other packets.
fn next_syn(ud: *mut c_void) -> u32 {
    let mut buf = [0u8; 2048];
    loop {
        let (n, _) =
            adapter(ud).posix().netdev_receive(&mut buf, Duration::ZERO).expect("a SYN from us");
        let p = SlicedPacket::from_ip(&buf[..n]).expect("IPv4");
        let Some(TransportSlice::Tcp(t)) = p.transport else { panic!("not TCP") };
        if t.syn() {
            return t.sequence_number();
        }
    }
}

/// An accepted connection from port `sport` with `data` waiting to be read.
fn connection_with_data(ud: *mut c_void, sport: u16, data: &[u8]) -> c_int {
    let p = adapter(ud).posix();
    // Non-blocking, so that a mistake fails the test instead of hanging it.
    let l = p.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).expect("socket");
    p.bind(l, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 80)).expect("bind");
    p.listen(l, 4).expect("listen");
    p.netdev_send(&packet(sport, 1000, None, true, b""));
    let iss = next_syn(ud);
    p.netdev_send(&packet(sport, 1001, Some(iss + 1), false, data));
    let (fd, _) = p.accept(l).expect("accept");
    fd
}

#[test]
fn lengths_over_isize_max_are_einval() {
    let ud = new("rx_wait_ms=0,seed=1");
    let fd = socket(ud);
    let mut small = [0u8; 8];
    let buf = small.as_mut_ptr().cast::<c_void>();
    let huge = usize::MAX;
    // SAFETY (all calls below): the library must reject the lengths before touching `buf`,
    // which is what this test checks; it never dereferences more than 8 bytes of it.
    unsafe {
        assert_eq!(ffi::xdptcp_write(ud, fd, buf, huge), -1);
        assert_eq!(errno(), libc::EINVAL, "write");
        assert_eq!(ffi::xdptcp_read(ud, fd, buf, huge), -1);
        assert_eq!(errno(), libc::EINVAL, "read");
        assert_eq!(ffi::xdptcp_send(ud, fd, buf, isize::MAX as usize + 1, 0), -1);
        assert_eq!(errno(), libc::EINVAL, "send");
        assert_eq!(ffi::xdptcp_recv(ud, fd, buf, huge, 0), -1);
        assert_eq!(errno(), libc::EINVAL, "recv");
        assert_eq!(ffi::xdptcp_sendto(ud, fd, buf, huge, 0, ptr::null(), 0), -1);
        assert_eq!(errno(), libc::EINVAL, "sendto");
        let (src, srclen) = (ptr::null_mut(), ptr::null_mut());
        assert_eq!(ffi::xdptcp_recvfrom(ud, fd, buf, huge, 0, src, srclen), -1);
        assert_eq!(errno(), libc::EINVAL, "recvfrom");
        // Two iovecs whose lengths are each fine but whose total overflows ssize_t.
        let half = isize::MAX as usize / 2 + 1;
        let iov = [libc::iovec { iov_base: buf, iov_len: half }; 2];
        assert_eq!(ffi::xdptcp_writev(ud, fd, iov.as_ptr(), 2), -1);
        assert_eq!(errno(), libc::EINVAL, "writev");
        assert_eq!(ffi::xdptcp_readv(ud, fd, iov.as_ptr(), 2), -1);
        assert_eq!(errno(), libc::EINVAL, "readv");
        let mut msg: libc::msghdr = std::mem::zeroed();
        msg.msg_iov = iov.as_ptr().cast_mut();
        msg.msg_iovlen = 2;
        assert_eq!(ffi::xdptcp_recvmsg(ud, fd, &mut msg, 0), -1);
        assert_eq!(errno(), libc::EINVAL, "recvmsg");
        assert_eq!(ffi::xdptcp_sendmsg(ud, fd, &msg, 0), -1);
        assert_eq!(errno(), libc::EINVAL, "sendmsg");
        // One iovec over isize::MAX on its own.
        let one = [libc::iovec { iov_base: buf, iov_len: huge }];
        assert_eq!(ffi::xdptcp_readv(ud, fd, one.as_ptr(), 1), -1);
        assert_eq!(errno(), libc::EINVAL, "readv of one huge iovec");
        assert_eq!(ffi::xdptcp_netdev_send(ud, buf, huge), -1);
        assert_eq!(errno(), libc::EINVAL, "netdev_send");
        // Lengths that fit still reach the socket: an unconnected one refuses to write.
        assert_eq!(ffi::xdptcp_write(ud, fd, buf, 8), -1);
        assert_eq!(errno(), libc::EPIPE);
    }
    free(ud);
}

#[test]
fn overlapping_readv_iovecs_fill_in_order() {
    let ud = new("rx_wait_ms=0,seed=1");
    let fd = connection_with_data(ud, 4000, b"abcdefgh");
    let mut buf = *b"--------";
    let base = buf.as_mut_ptr();
    // iov[0] = buf[0..4], iov[1] = buf[2..8]: they share buf[2..4]. As Linux does, the
    // first gets "abcd", then the second "efgh" from buf[2] on, over the shared bytes.
    // SAFETY: both iovecs lie inside `buf`.
    let iov = unsafe {
        [
            libc::iovec { iov_base: base.cast(), iov_len: 4 },
            libc::iovec { iov_base: base.add(2).cast(), iov_len: 6 },
        ]
    };
    // SAFETY: `iov` describes writable memory of `buf`.
    let n = unsafe { ffi::xdptcp_readv(ud, fd, iov.as_ptr(), 2) };
    assert_eq!(n, 8);
    assert_eq!(&buf, b"abefgh--");

    // recvmsg with the same iovec twice: the second copy of the data wins.
    let p = adapter(ud).posix();
    let fd2 = {
        p.netdev_send(&packet(4001, 5000, None, true, b""));
        let iss = next_syn(ud);
        p.netdev_send(&packet(4001, 5001, Some(iss + 1), false, b"0123456789"));
        let l = 3; // the listener from connection_with_data
        p.accept(l).expect("accept").0
    };
    let mut out = *b"......";
    let twice = [libc::iovec { iov_base: out.as_mut_ptr().cast(), iov_len: 4 }; 2];
    // SAFETY: a zeroed msghdr is valid; its iovecs describe `out`.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = twice.as_ptr().cast_mut();
    msg.msg_iovlen = 2;
    // SAFETY: `msg` and its iovecs are valid.
    let n = unsafe { ffi::xdptcp_recvmsg(ud, fd2, &mut msg, 0) };
    assert_eq!(n, 8);
    assert_eq!(&out, b"4567..");
    free(ud);
}

#[test]
fn absurd_buffer_sizes_do_not_abort() {
    // rcvbuf=usize::MAX: on the code before, connecting panicked allocating the rings
    // ("capacity overflow") and getsockopt(SO_RCVBUF), which reads back double the size,
    // overflowed; either panic unwound into `extern "C"` and aborted the process. Now the
    // doubling saturates and any panic left is caught (`guard_turns_a_panic_into_eio`).
    let ud = new(&format!("rx_wait_ms=0,seed=1,rcvbuf={}", usize::MAX));
    assert!(!ud.is_null());
    // SAFETY: `ud` is live.
    let fd = unsafe {
        ffi::xdptcp_socket(ud, libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0)
    };
    assert!(fd >= 0);
    // SAFETY: a zeroed sockaddr_in is valid; then filled as AF_INET 192.0.2.1:80.
    let mut sin: libc::sockaddr_in = unsafe { std::mem::zeroed() };
    sin.sin_family = libc::AF_INET as libc::sa_family_t;
    sin.sin_port = 80u16.to_be();
    sin.sin_addr.s_addr = u32::from(Ipv4Addr::from(REMOTE)).to_be();
    let len = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
    let addr = (&sin as *const libc::sockaddr_in).cast::<libc::sockaddr>();
    // SAFETY: `addr` points to a sockaddr_in of `len` bytes.
    assert_eq!(unsafe { ffi::xdptcp_connect(ud, fd, addr, len) }, -1);
    assert_eq!(errno(), libc::EINPROGRESS);
    let mut v: c_int = 0;
    let mut vlen = std::mem::size_of::<c_int>() as libc::socklen_t;
    // SAFETY: `v` and `vlen` are valid for the call.
    let r = unsafe {
        ffi::xdptcp_getsockopt(
            ud,
            fd,
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            (&mut v as *mut c_int).cast(),
            &mut vlen,
        )
    };
    assert_eq!((r, v), (0, c_int::MAX));
    // The instance still works.
    let fd2 = socket(ud);
    assert!(fd2 > fd);
    free(ud);
}

#[test]
fn guard_turns_a_panic_into_eio() {
    let r = ffi::guard(-1isize, || panic!("a bug inside a C call"));
    assert_eq!(r, -1);
    assert_eq!(errno(), libc::EIO);
    assert_eq!(ffi::guard(-1, || 7), 7);
}

/// The ISN of an active open's SYN.
fn syn_isn(ud: *mut c_void) -> u32 {
    let p = adapter(ud).posix();
    let fd = p.socket(libc::AF_INET, libc::SOCK_STREAM | libc::SOCK_NONBLOCK, 0).expect("socket");
    p.bind(fd, SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, 5555)).expect("bind");
    let _ = p.connect(fd, SocketAddrV4::new(Ipv4Addr::from(REMOTE), 80));
    next_syn(ud)
}

#[test]
fn keys_come_from_the_os_unless_a_seed_is_given() {
    // Same inputs, same virtual clock: without a seed the ISNs differ (RFC 6528 keys drawn
    // from /dev/urandom); with the same seed they repeat exactly.
    let (a, b) = (new("rx_wait_ms=0"), new("rx_wait_ms=0"));
    assert_ne!(syn_isn(a), syn_isn(b), "two instances without a seed share their keys");
    let (c, d) = (new("rx_wait_ms=0,seed=42"), new("rx_wait_ms=0,seed=42"));
    assert_eq!(syn_isn(c), syn_isn(d));
    for ud in [a, b, c, d] {
        free(ud);
    }
}
