//! What one descriptor is: a TCP or UDP socket with its POSIX-side state (options, blocking
//! mode, pending error, shutdown flags), or an epoll instance.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::{ListenHandle, TcpHandle};
use xdptcp_stack::tcp::{BufferSizes, TcpConfig};
use xdptcp_stack::time::Duration;

use crate::errno::Errno;
use crate::family::Family;

/// A descriptor number, as in libc.
pub type Fd = i32;

/// Socket options that shape the TCP configuration of a connection opened from the socket.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Options {
    pub reuseaddr: bool,
    pub keepalive: bool,
    /// `SO_LINGER`: `Some(0)` makes `close` abortive (RST).
    pub linger: Option<u32>,
    pub nodelay: bool,
    /// `TCP_CORK`.
    pub cork: bool,
    /// `TCP_USER_TIMEOUT` (0: unset).
    pub user_timeout: Option<Duration>,
    /// `TCP_NOTSENT_LOWAT` as set (0: unset, the profile's unlimited `tcp_notsent_lowat`).
    pub notsent_lowat: u32,
    /// `SO_RCVLOWAT` as set (0: unset, Linux's default of 1): see [`Options::rcvlowat`].
    pub rcvlowat: u32,
    /// `IPV6_V6ONLY` (`AF_INET6` sockets): IPv6 peers only, no IPv4-mapped ones. Off by
    /// default, as Linux's `net.ipv6.bindv6only`.
    pub v6only: bool,
    /// `TCP_INQ`: `recvmsg` reports the bytes left to read in a `TCP_CM_INQ` message.
    pub inq: bool,
    /// `SO_ZEROCOPY` (accepted; `MSG_ZEROCOPY` sends are refused).
    pub zerocopy: bool,
    /// `SO_RCVBUF`/`SO_SNDBUF` as set by the user (bytes of payload).
    pub rcvbuf: Option<usize>,
    pub sndbuf: Option<usize>,
    /// `TCP_MAXSEG`.
    pub maxseg: Option<u16>,
    pub keepidle: Option<Duration>,
    pub keepintvl: Option<Duration>,
    pub keepcnt: Option<u8>,
    /// `SO_RCVTIMEO`/`SO_SNDTIMEO`; `None` blocks forever.
    pub rcvtimeo: Option<Duration>,
    pub sndtimeo: Option<Duration>,
}

impl Options {
    /// `SO_RCVLOWAT`: the bytes a read waits for, and `poll` wants queued before it reports
    /// the socket readable (Linux `sock_rcvlowat`, `tcp_stream_is_readable`); 1 by default.
    pub fn rcvlowat(&self) -> usize {
        self.rcvlowat.max(1) as usize
    }

    /// `base` with these options applied.
    pub fn tcp_config(&self, base: &TcpConfig) -> TcpConfig {
        let mut c = *base;
        c.set_nodelay(self.nodelay);
        c.set_keepalive(self.keepalive);
        // SO_RCVBUF/SO_SNDBUF fix the size and turn auto-tuning off (Linux's
        // SOCK_RCVBUF_LOCK/SOCK_SNDBUF_LOCK); the window scale then follows the fixed size.
        if let Some(b) = self.rcvbuf {
            c.rmem = BufferSizes::fixed(b);
        }
        if let Some(b) = self.sndbuf {
            c.wmem = BufferSizes::fixed(b);
        }
        if let Some(m) = self.maxseg {
            c.mss = c.mss.min(m);
        }
        if let Some(d) = self.keepidle {
            c.keepalive_idle = d;
        }
        if let Some(d) = self.keepintvl {
            c.keepalive_interval = d;
        }
        if let Some(n) = self.keepcnt {
            c.keepalive_count = n;
        }
        if self.user_timeout.is_some() {
            c.user_timeout = self.user_timeout;
        }
        if self.notsent_lowat != 0 {
            c.notsent_lowat = self.notsent_lowat;
        }
        c
    }
}

/// Where a TCP socket is in its life, on the POSIX side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TcpRole {
    /// Created (and perhaps bound), neither listening nor connected.
    Fresh,
    /// Listening.
    Listening(ListenHandle),
    /// Has a connection (connecting, open, closing, or already freed by the stack).
    Conn(TcpHandle),
}

/// A TCP socket.
#[derive(Debug)]
pub(crate) struct TcpSocket {
    pub role: TcpRole,
    /// The local address `bind` gave, in the stack's terms (an IPv4-mapped address is
    /// stored as IPv4: see [`Family`]).
    pub bound: Option<SocketAddr>,
    /// Local and remote addresses once connected, in the stack's terms (kept after the stack
    /// frees the connection).
    pub endpoints: Option<(SocketAddr, SocketAddr)>,
    /// A non-blocking connect was started and its outcome not yet reported by `connect`.
    pub connect_pending: bool,
    pub read_shut: bool,
    pub write_shut: bool,
}

/// A UDP socket.
#[derive(Debug)]
pub(crate) struct UdpSocket {
    pub handle: Option<UdpHandle>,
    pub port: u16,
    /// The default destination set by `connect`, in the stack's terms.
    pub peer: Option<SocketAddr>,
}

/// The protocol part of a socket.
#[derive(Debug)]
pub(crate) enum Proto {
    Tcp(TcpSocket),
    Udp(UdpSocket),
}

/// One socket descriptor.
#[derive(Debug)]
pub(crate) struct Socket {
    pub proto: Proto,
    /// `AF_INET` or `AF_INET6`: which addresses the caller speaks.
    pub family: Family,
    pub nonblocking: bool,
    pub opts: Options,
    /// `SO_ERROR`: an asynchronous error not yet reported.
    pub error: Option<Errno>,
    /// Bumped on every stack event for this socket: edge-triggered epoll compares it.
    pub activity: u64,
}

impl Socket {
    pub fn tcp(family: Family, nonblocking: bool) -> Self {
        Socket {
            family,
            proto: Proto::Tcp(TcpSocket {
                role: TcpRole::Fresh,
                bound: None,
                endpoints: None,
                connect_pending: false,
                read_shut: false,
                write_shut: false,
            }),
            nonblocking,
            opts: Options::default(),
            error: None,
            activity: 0,
        }
    }

    pub fn udp(family: Family, nonblocking: bool) -> Self {
        Socket {
            family,
            proto: Proto::Udp(UdpSocket { handle: None, port: 0, peer: None }),
            nonblocking,
            opts: Options::default(),
            error: None,
            activity: 0,
        }
    }
}

/// One registered descriptor of an epoll instance.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Interest {
    pub events: u32,
    pub data: u64,
    /// `activity` of the socket when last reported (for `EPOLLET`).
    pub seen: u64,
    /// `EPOLLONESHOT` fired: silent until `EPOLL_CTL_MOD`.
    pub disarmed: bool,
}

/// An epoll instance: its interest list, ordered by descriptor so reports are deterministic.
#[derive(Debug, Default)]
pub(crate) struct EpollSet {
    pub interest: BTreeMap<Fd, Interest>,
}

/// What a descriptor refers to.
///
/// Unboxed although a socket (its IPv6-capable addresses) is much larger than an epoll set:
/// nearly every descriptor is a socket, the table is bounded (`max_fds`), and every call
/// would otherwise pay a pointer chase to reach its socket.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)]
pub(crate) enum Entry {
    Socket(Socket),
    Epoll(EpollSet),
}
