//! POSIX error numbers, as a small `Copy` type so the safe API can return them directly.

use core::fmt;

/// An `errno` value (Linux numbering, taken from `libc`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Errno(pub i32);

/// The result of a socket call: the value, or the `errno` libc would set.
pub type SysResult<T> = Result<T, Errno>;

impl Errno {
    /// Operation would block (a non-blocking socket with nothing to do).
    pub const EAGAIN: Errno = Errno(libc::EAGAIN);
    /// Not a valid descriptor.
    pub const EBADF: Errno = Errno(libc::EBADF);
    /// Invalid argument.
    pub const EINVAL: Errno = Errno(libc::EINVAL);
    /// The descriptor is not a socket.
    pub const ENOTSOCK: Errno = Errno(libc::ENOTSOCK);
    /// Address family not supported.
    pub const EAFNOSUPPORT: Errno = Errno(libc::EAFNOSUPPORT);
    /// Protocol or socket type not supported.
    pub const EPROTONOSUPPORT: Errno = Errno(libc::EPROTONOSUPPORT);
    /// Socket type not supported.
    pub const ESOCKTNOSUPPORT: Errno = Errno(libc::ESOCKTNOSUPPORT);
    /// Operation not supported on this socket.
    pub const EOPNOTSUPP: Errno = Errno(libc::EOPNOTSUPP);
    /// Address already in use.
    pub const EADDRINUSE: Errno = Errno(libc::EADDRINUSE);
    /// Address is not ours.
    pub const EADDRNOTAVAIL: Errno = Errno(libc::EADDRNOTAVAIL);
    /// The peer refused the connection (RST to our SYN).
    pub const ECONNREFUSED: Errno = Errno(libc::ECONNREFUSED);
    /// The peer reset the connection.
    pub const ECONNRESET: Errno = Errno(libc::ECONNRESET);
    /// The connection timed out.
    pub const ETIMEDOUT: Errno = Errno(libc::ETIMEDOUT);
    /// A non-blocking connect was started.
    pub const EINPROGRESS: Errno = Errno(libc::EINPROGRESS);
    /// A connect is already in progress.
    pub const EALREADY: Errno = Errno(libc::EALREADY);
    /// Already connected.
    pub const EISCONN: Errno = Errno(libc::EISCONN);
    /// Not connected.
    pub const ENOTCONN: Errno = Errno(libc::ENOTCONN);
    /// Writing is shut down.
    pub const EPIPE: Errno = Errno(libc::EPIPE);
    /// Too many open descriptors.
    pub const EMFILE: Errno = Errno(libc::EMFILE);
    /// Option not known at this level.
    pub const ENOPROTOOPT: Errno = Errno(libc::ENOPROTOOPT);
    /// Bad address (a null pointer where one is required).
    pub const EFAULT: Errno = Errno(libc::EFAULT);
    /// Function not implemented.
    pub const ENOSYS: Errno = Errno(libc::ENOSYS);
    /// Entry already present (`epoll_ctl` ADD twice).
    pub const EEXIST: Errno = Errno(libc::EEXIST);
    /// Entry not present (`epoll_ctl` MOD/DEL).
    pub const ENOENT: Errno = Errno(libc::ENOENT);
    /// Destination address required (UDP send without a peer).
    pub const EDESTADDRREQ: Errno = Errno(libc::EDESTADDRREQ);
    /// Message too long for one datagram.
    pub const EMSGSIZE: Errno = Errno(libc::EMSGSIZE);
    /// No buffer space (a transmit queue is full).
    pub const ENOBUFS: Errno = Errno(libc::ENOBUFS);
    /// Inappropriate ioctl.
    pub const ENOTTY: Errno = Errno(libc::ENOTTY);
    /// I/O error: what the C API reports when a call panicked inside (a bug, caught at the
    /// `extern "C"` boundary rather than unwinding into C).
    pub const EIO: Errno = Errno(libc::EIO);

    /// The raw number.
    pub const fn raw(self) -> i32 {
        self.0
    }

    fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            libc::EAGAIN => "EAGAIN",
            libc::EBADF => "EBADF",
            libc::EINVAL => "EINVAL",
            libc::ENOTSOCK => "ENOTSOCK",
            libc::EAFNOSUPPORT => "EAFNOSUPPORT",
            libc::EPROTONOSUPPORT => "EPROTONOSUPPORT",
            libc::ESOCKTNOSUPPORT => "ESOCKTNOSUPPORT",
            libc::EOPNOTSUPP => "EOPNOTSUPP",
            libc::EADDRINUSE => "EADDRINUSE",
            libc::EADDRNOTAVAIL => "EADDRNOTAVAIL",
            libc::ECONNREFUSED => "ECONNREFUSED",
            libc::ENETUNREACH => "ENETUNREACH",
            libc::EHOSTUNREACH => "EHOSTUNREACH",
            libc::EHOSTDOWN => "EHOSTDOWN",
            libc::ENONET => "ENONET",
            libc::ECONNRESET => "ECONNRESET",
            libc::ETIMEDOUT => "ETIMEDOUT",
            libc::EINPROGRESS => "EINPROGRESS",
            libc::EALREADY => "EALREADY",
            libc::EISCONN => "EISCONN",
            libc::ENOTCONN => "ENOTCONN",
            libc::EPIPE => "EPIPE",
            libc::EMFILE => "EMFILE",
            libc::ENOPROTOOPT => "ENOPROTOOPT",
            libc::EFAULT => "EFAULT",
            libc::ENOSYS => "ENOSYS",
            libc::EEXIST => "EEXIST",
            libc::ENOENT => "ENOENT",
            libc::EIO => "EIO",
            libc::EDESTADDRREQ => "EDESTADDRREQ",
            libc::EMSGSIZE => "EMSGSIZE",
            libc::ENOBUFS => "ENOBUFS",
            libc::ENOTTY => "ENOTTY",
            _ => return None,
        })
    }
}

impl fmt::Debug for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(n) => f.write_str(n),
            None => write!(f, "Errno({})", self.0),
        }
    }
}

impl fmt::Display for Errno {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl std::error::Error for Errno {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_numbers() {
        assert_eq!(format!("{:?}", Errno(libc::ECONNREFUSED)), "ECONNREFUSED");
        assert_eq!(format!("{:?}", Errno(12345)), "Errno(12345)");
        assert_eq!(Errno::EAGAIN.raw(), libc::EWOULDBLOCK);
    }
}
