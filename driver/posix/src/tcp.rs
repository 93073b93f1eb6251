//! The TCP socket calls, as non-blocking steps over the [`Engine`]: each returns `Ok(None)`
//! when a blocking socket would have to wait, and [`Posix`](crate::Posix) waits and retries.
//! Error choices follow Linux's `inet_stream_connect`, `tcp_sendmsg` and `tcp_recvmsg`.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use xdptcp_stack::stack::{ConnectError, ListenError, TcpError};
use xdptcp_stack::tcp::{SendFlags, State};

use crate::config::apply_sysctls;
use crate::engine::{split, Engine};
use crate::errno::{Errno, SysResult};
use crate::family::{Family, Use};
use crate::ports::PortClaim;
use crate::socket::{Entry, Fd, Proto, Socket, TcpRole, TcpSocket};

/// First port tried when a socket binds port 0 or listens unbound (Linux `ip_local_port_range`).
const EPHEMERAL_FIRST: u16 = 32768;

/// `Ok(None)` for a blocking socket, `EAGAIN` (or the partial count) for a non-blocking one.
pub(crate) fn would_block<T>(nonblocking: bool) -> SysResult<Option<T>> {
    if nonblocking {
        Err(Errno::EAGAIN)
    } else {
        Ok(None)
    }
}

fn tcp_of(s: &mut Socket) -> SysResult<&mut TcpSocket> {
    match &mut s.proto {
        Proto::Tcp(t) => Ok(t),
        Proto::Udp(_) => Err(Errno::EOPNOTSUPP),
    }
}

/// Copies `a` then `b` into `bufs`, starting `skip` bytes into them. Returns the count.
pub(crate) fn scatter(bufs: &mut [IoSliceMut<'_>], mut skip: usize, a: &[u8], b: &[u8]) -> usize {
    let mut srcs = [a, b];
    let mut si = 0;
    let mut copied = 0;
    for buf in bufs.iter_mut() {
        let whole: &mut [u8] = buf;
        if skip >= whole.len() {
            skip -= whole.len();
            continue;
        }
        let mut dst = &mut whole[skip..];
        skip = 0;
        while !dst.is_empty() && si < srcs.len() {
            let src = srcs[si];
            if src.is_empty() {
                si += 1;
                continue;
            }
            let n = src.len().min(dst.len());
            let (head, tail) = std::mem::take(&mut dst).split_at_mut(n);
            head.copy_from_slice(&src[..n]);
            srcs[si] = &src[n..];
            dst = tail;
            copied += n;
        }
        if si >= srcs.len() {
            break;
        }
    }
    copied
}

impl Engine {
    /// The TCP configuration a socket that connects or listens now starts from: the
    /// stack's profile, with the sysctls of [`PosixConfig::sysctls`](crate::PosixConfig)
    /// over it when the adapter was given a directory of them.
    fn tcp_profile(&self) -> xdptcp_stack::tcp::TcpConfig {
        match &self.config.sysctls {
            Some(dir) => apply_sysctls(self.stack.tcp_config(), dir),
            None => *self.stack.tcp_config(),
        }
    }

    /// `socket(AF_INET or AF_INET6, type, protocol)`.
    pub fn op_socket(&mut self, domain: i32, ty: i32, protocol: i32) -> SysResult<Fd> {
        let family = Family::from_domain(domain)?;
        let nonblocking = ty & libc::SOCK_NONBLOCK != 0;
        let s = match ty & !(libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC) {
            libc::SOCK_STREAM if protocol == 0 || protocol == libc::IPPROTO_TCP => {
                Socket::tcp(family, nonblocking)
            }
            libc::SOCK_DGRAM if protocol == 0 || protocol == libc::IPPROTO_UDP => {
                Socket::udp(family, nonblocking)
            }
            libc::SOCK_STREAM | libc::SOCK_DGRAM => return Err(Errno::EPROTONOSUPPORT),
            _ => return Err(Errno::ESOCKTNOSUPPORT),
        };
        self.install(Entry::Socket(s))
    }

    /// `bind`'s check that `ip` (the stack's terms) is the wildcard or one of ours.
    fn check_local(&self, ip: IpAddr) -> SysResult<()> {
        let ours = match ip {
            IpAddr::V4(a) => a == self.config.local_ip,
            IpAddr::V6(a) => self.stack.iface().ipv6().is_ours(a),
        };
        if ip.is_unspecified() || ours {
            Ok(())
        } else {
            Err(Errno::EADDRNOTAVAIL)
        }
    }

    fn free_tcp_port(&self) -> SysResult<u16> {
        (EPHEMERAL_FIRST..=u16::MAX).find(|&p| self.tcp_ports.is_free(p)).ok_or(Errno::EADDRINUSE)
    }

    /// `bind`; `addr` as the caller gave it (an `AF_INET6` socket may bind an IPv4-mapped
    /// address, and then speaks IPv4 only, as on Linux).
    pub fn op_bind(&mut self, fd: Fd, addr: SocketAddr) -> SysResult<()> {
        let s = self.socket(fd)?;
        let addr = s.family.to_stack(addr, s.opts.v6only, Use::Bind)?;
        self.check_local(addr.ip())?;
        let s = self.socket(fd)?;
        match &s.proto {
            Proto::Tcp(t) => {
                if t.role != TcpRole::Fresh || t.bound.is_some() {
                    return Err(Errno::EINVAL);
                }
                let claim = PortClaim::new(addr.ip(), s.opts.v6only, s.opts.reuseaddr);
                let port = if addr.port() == 0 { self.free_tcp_port()? } else { addr.port() };
                self.tcp_ports.claim(port, claim)?;
                if let Proto::Tcp(t) = &mut self.socket_mut(fd)?.proto {
                    t.bound = Some(SocketAddr::new(addr.ip(), port));
                }
                Ok(())
            }
            Proto::Udp(_) => self.udp_bind(fd, addr),
        }
    }

    /// `listen`.
    pub fn op_listen(&mut self, fd: Fd, backlog: i32) -> SysResult<()> {
        let (role, bound, opts, family) = {
            let s = self.socket(fd)?;
            let Proto::Tcp(t) = &s.proto else { return Err(Errno::EOPNOTSUPP) };
            (t.role, t.bound, s.opts, s.family)
        };
        match role {
            TcpRole::Listening(_) => return Ok(()),
            TcpRole::Conn(_) => return Err(Errno::EINVAL),
            TcpRole::Fresh => {}
        }
        let bound = match bound {
            Some(b) => b,
            None => {
                // Linux binds an ephemeral port for `listen` on an unbound socket.
                let port = self.free_tcp_port()?;
                let any = family.any(port);
                self.tcp_ports
                    .claim(port, PortClaim::new(any.ip(), opts.v6only, opts.reuseaddr))?;
                any
            }
        };
        let base = self.tcp_profile();
        let cfg = opts.tcp_config(&base);
        let backlog = usize::try_from(backlog).unwrap_or(0);
        // An `AF_INET6` socket on `::` hears IPv4 too (the stack's `::` listener takes both
        // families, RFC 3493 §3.7), unless `IPV6_V6ONLY`: then it has a listener of its own
        // beside any `0.0.0.0` one.
        let only6 = bound.is_ipv6() && bound.ip().is_unspecified() && opts.v6only;
        let l = if only6 {
            self.stack.tcp_listen_ipv6_only(bound.port(), backlog, cfg)
        } else {
            self.stack.tcp_listen_with(bound.ip(), bound.port(), backlog, cfg)
        };
        let l = l.map_err(|e| match e {
            ListenError::AddrInUse => Errno::EADDRINUSE,
            ListenError::TableFull => Errno::ENOBUFS,
            ListenError::ZeroPort => Errno::EINVAL,
        })?;
        self.listeners.insert(l, fd);
        let t = tcp_of(self.socket_mut(fd)?)?;
        t.bound = Some(bound);
        t.role = TcpRole::Listening(l);
        Ok(())
    }

    /// `accept4`: the new descriptor and the peer's address (IPv4-mapped for an IPv4 peer
    /// of an `AF_INET6` listener).
    pub fn op_accept(&mut self, fd: Fd, flags: i32) -> SysResult<Option<(Fd, SocketAddr)>> {
        let (stack, s) = split(self, fd)?;
        let nonblocking = s.nonblocking;
        let opts = s.opts;
        let family = s.family;
        let TcpRole::Listening(l) = tcp_of(s)?.role else { return Err(Errno::EINVAL) };
        let Some(h) = stack.tcp_accept(l) else { return would_block(nonblocking) };
        // Options set on the listener after `listen` still reach the accepted socket, as
        // Linux's socket cloning copies them.
        let _ = stack.tcp_set_nodelay(h, opts.nodelay);
        let _ = stack.tcp_set_keepalive(h, opts.keepalive);
        let endpoints = stack.tcp_addrs(h);
        let mut child = Socket::tcp(family, flags & libc::SOCK_NONBLOCK != 0);
        child.opts = opts;
        if let Proto::Tcp(t) = &mut child.proto {
            t.role = TcpRole::Conn(h);
            t.endpoints = endpoints;
        }
        let new_fd = match self.install(Entry::Socket(child)) {
            Ok(f) => f,
            Err(e) => {
                let _ = self.stack.tcp_abort(h);
                return Err(e);
            }
        };
        self.conns.insert(h, new_fd);
        let peer = endpoints.map_or(family.any(0), |e| family.to_user(e.1));
        Ok(Some((new_fd, peer)))
    }

    /// `connect`; `addr` as the caller gave it. `started` is this call's memory across
    /// retries: whether it began the open.
    pub fn op_connect(
        &mut self,
        fd: Fd,
        addr: SocketAddr,
        started: &mut bool,
    ) -> SysResult<Option<()>> {
        let s = self.socket(fd)?;
        let addr = s.family.to_stack(addr, s.opts.v6only, Use::Reach)?;
        if matches!(s.proto, Proto::Udp(_)) {
            return self.udp_connect(fd, addr).map(Some);
        }
        let now = self.now();
        let sysctls = self.config.sysctls.clone();
        let (stack, s) = split(self, fd)?;
        let nonblocking = s.nonblocking;
        let opts = s.opts;
        let error = &mut s.error;
        let Proto::Tcp(t) = &mut s.proto else { return Err(Errno::EOPNOTSUPP) };
        match t.role {
            TcpRole::Listening(_) => return Err(Errno::EISCONN),
            TcpRole::Conn(h) => {
                return match stack.tcp_state(h) {
                    State::SynSent | State::SynReceived => {
                        if *started {
                            would_block(nonblocking).map_err(|_| Errno::EINPROGRESS)
                        } else if nonblocking {
                            Err(Errno::EALREADY)
                        } else {
                            Ok(None)
                        }
                    }
                    State::Closed if error.is_some() || t.connect_pending => {
                        t.connect_pending = false;
                        Err(error.take().unwrap_or(Errno::ECONNREFUSED))
                    }
                    _ if t.connect_pending || *started => {
                        // Linux reports a completed non-blocking connect once, with 0.
                        t.connect_pending = false;
                        Ok(Some(()))
                    }
                    _ => Err(Errno::EISCONN),
                };
            }
            TcpRole::Fresh => {}
        }
        let base = match &sysctls {
            Some(dir) => apply_sysctls(stack.tcp_config(), dir),
            None => *stack.tcp_config(),
        };
        let cfg = opts.tcp_config(&base);
        let res = match (t.bound, addr) {
            // Bound to an address of the other family (an IPv4-mapped bind, then an IPv6
            // peer): Linux `tcp_v6_connect` finds no route.
            (Some(b), _) if !b.ip().is_unspecified() && b.is_ipv4() != addr.is_ipv4() => {
                return Err(Errno(libc::ENETUNREACH));
            }
            (Some(b), SocketAddr::V4(a)) => {
                stack.tcp_connect_from(now, b.port(), *a.ip(), a.port(), cfg)
            }
            (Some(b), SocketAddr::V6(a)) => stack.tcp_connect6_from(now, b.port(), a, cfg),
            (None, _) => stack.tcp_connect_to(now, addr, cfg),
        };
        let h = res.map_err(|e| match e {
            ConnectError::NoFreePort | ConnectError::TableFull => Errno::EADDRNOTAVAIL,
            ConnectError::AddrInUse => Errno::EADDRINUSE,
            ConnectError::BadAddress => Errno::EINVAL,
        })?;
        t.role = TcpRole::Conn(h);
        t.endpoints = stack.tcp_addrs(h);
        t.connect_pending = true;
        *started = true;
        self.conns.insert(h, fd);
        if nonblocking {
            Err(Errno::EINPROGRESS)
        } else {
            Ok(None)
        }
    }

    /// `recv`/`read`/`readv`/`recvmsg` on TCP. `done` carries bytes already copied by earlier
    /// tries of the same call (`MSG_WAITALL`).
    pub fn tcp_recv(
        &mut self,
        fd: Fd,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
        done: &mut usize,
    ) -> SysResult<Option<usize>> {
        let (stack, s) = split(self, fd)?;
        let nonblocking = s.nonblocking || flags & libc::MSG_DONTWAIT != 0;
        let rcvlowat = s.opts.rcvlowat();
        let error = &mut s.error;
        let Proto::Tcp(t) = &mut s.proto else { return Err(Errno::EOPNOTSUPP) };
        let TcpRole::Conn(h) = t.role else { return Err(Errno::ENOTCONN) };
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if total == 0 {
            return Ok(Some(*done));
        }
        // SO_RCVLOWAT: a blocking read waits until min(len, lowat) bytes are there, unless
        // the stream ends, fails or was shut down first (Linux `tcp_recvmsg`'s target).
        let target = total.min(rcvlowat);
        let waiting = !nonblocking
            && *done == 0
            && target > 1
            && error.is_none()
            && !t.read_shut
            && matches!(stack.tcp_state(h), State::Established | State::FinWait1 | State::FinWait2)
            && stack.tcp_recv_queue_len(h) < target
            && !stack.tcp_recv_finished(h);
        if waiting {
            return Ok(None);
        }
        // After SHUT_RD, data already received is still read (Linux); then 0, not a wait.
        let read_shut = t.read_shut;
        if matches!(stack.tcp_state(h), State::SynSent | State::SynReceived) {
            return would_block(nonblocking);
        }
        let peek = flags & libc::MSG_PEEK != 0;
        let waitall = flags & libc::MSG_WAITALL != 0 && !peek;
        let skip = *done;
        let mut copied = 0;
        // `tcp_read` lends the first contiguous pieces (two chunks at most): read on while the
        // caller's buffers have room. A peek looks once, consuming nothing.
        let r = loop {
            let mut got = 0;
            let at = skip + copied;
            let r = stack.tcp_read(h, |a, b| {
                got = scatter(bufs, at, a, b);
                if peek {
                    0
                } else {
                    got
                }
            });
            copied += got;
            match r {
                Ok(n) if n > 0 && !peek && at + got < total => continue,
                r => break r,
            }
        };
        *done += copied;
        match r {
            Ok(_) if copied > 0 => {
                if waitall && !nonblocking && *done < total {
                    Ok(None)
                } else {
                    Ok(Some(*done))
                }
            }
            Ok(_) if *done > 0 && nonblocking => Ok(Some(*done)),
            Ok(_) if read_shut => Ok(Some(*done)),
            Ok(_) => would_block(nonblocking),
            Err(TcpError::Finished) | Err(TcpError::WriteClosed) => Ok(Some(*done)),
            Err(TcpError::InvalidHandle) => match error.take() {
                Some(e) if *done == 0 => Err(e),
                Some(e) => {
                    *error = Some(e);
                    Ok(Some(*done))
                }
                None => Ok(Some(*done)),
            },
        }
    }

    /// `send`/`write`/`writev`/`sendmsg` on TCP. `done` carries bytes queued by earlier tries
    /// of the same call: a blocking send returns once everything is queued.
    pub fn tcp_send(
        &mut self,
        fd: Fd,
        bufs: &[IoSlice<'_>],
        flags: i32,
        done: &mut usize,
    ) -> SysResult<Option<usize>> {
        let (stack, s) = split(self, fd)?;
        let nonblocking = s.nonblocking || flags & libc::MSG_DONTWAIT != 0;
        let error = &mut s.error;
        let Proto::Tcp(t) = &mut s.proto else { return Err(Errno::EOPNOTSUPP) };
        let TcpRole::Conn(h) = t.role else { return Err(Errno::EPIPE) };
        if t.write_shut {
            return Err(Errno::EPIPE);
        }
        if let Some(e) = error.take() {
            return if *done > 0 { Ok(Some(*done)) } else { Err(e) };
        }
        match stack.tcp_state(h) {
            State::SynSent | State::SynReceived => return would_block(nonblocking),
            State::Established | State::CloseWait => {}
            _ => return if *done > 0 { Ok(Some(*done)) } else { Err(Errno::EPIPE) },
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if flags & libc::MSG_ZEROCOPY != 0 && s.opts.zerocopy && total > 0 {
            // Zero-copy sends are not supported: Linux reports their completions on the
            // error queue, which this adapter does not have, so a caller would wait forever.
            // (Without SO_ZEROCOPY Linux ignores the flag and copies, as we do.)
            return Err(Errno::EOPNOTSUPP);
        }
        // MSG_MORE: no push, the short tail waits; MSG_EOR: the call ends a record. Only the
        // last iovec ends the write; the ones before it never push.
        let more = flags & libc::MSG_MORE != 0;
        let eor = flags & libc::MSG_EOR != 0;
        let last = bufs.iter().rposition(|b| !b.is_empty());
        let mut skip = *done;
        for (i, buf) in bufs.iter().enumerate() {
            if skip >= buf.len() {
                skip -= buf.len();
                continue;
            }
            let part = &buf[skip..];
            skip = 0;
            let ends = Some(i) == last;
            let send_flags = SendFlags { more: more || !ends, eor: eor && ends };
            match stack.tcp_send_with(h, part, send_flags) {
                Ok(n) => {
                    *done += n;
                    if n < part.len() {
                        break;
                    }
                }
                Err(_) => return if *done > 0 { Ok(Some(*done)) } else { Err(Errno::EPIPE) },
            }
        }
        if *done >= total {
            Ok(Some(*done))
        } else if nonblocking {
            if *done > 0 {
                Ok(Some(*done))
            } else {
                Err(Errno::EAGAIN)
            }
        } else {
            Ok(None)
        }
    }

    /// `shutdown`.
    pub fn op_shutdown(&mut self, fd: Fd, how: i32) -> SysResult<()> {
        let (rd, wr) = match how {
            libc::SHUT_RD => (true, false),
            libc::SHUT_WR => (false, true),
            libc::SHUT_RDWR => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        let (stack, s) = split(self, fd)?;
        let t = match &mut s.proto {
            Proto::Tcp(t) => t,
            Proto::Udp(u) => return if u.peer.is_some() { Ok(()) } else { Err(Errno::ENOTCONN) },
        };
        match t.role {
            TcpRole::Fresh => Err(Errno::ENOTCONN),
            TcpRole::Listening(l) => {
                // Linux: shutting the read side of a listener stops it listening.
                if rd {
                    stack.tcp_unlisten(l);
                    t.role = TcpRole::Fresh;
                    self.listeners.remove(&l);
                }
                Ok(())
            }
            TcpRole::Conn(h) => {
                if stack.tcp_state(h) == State::Closed {
                    return Err(Errno::ENOTCONN);
                }
                t.read_shut |= rd;
                if wr && !t.write_shut {
                    t.write_shut = true;
                    let _ = stack.tcp_shutdown_write(h);
                }
                Ok(())
            }
        }
    }

    /// `close`.
    pub fn op_close(&mut self, fd: Fd) -> SysResult<()> {
        let Entry::Socket(s) = self.remove(fd)? else { return Ok(()) };
        match s.proto {
            Proto::Tcp(t) => {
                if let Some(b) = t.bound {
                    let claim = PortClaim::new(b.ip(), s.opts.v6only, s.opts.reuseaddr);
                    self.tcp_ports.release(b.port(), claim);
                }
                match t.role {
                    TcpRole::Conn(h) => {
                        self.conns.remove(&h);
                        // SO_LINGER with a zero timeout: abortive close (RST), as in Linux.
                        let _ = if s.opts.linger == Some(0) {
                            self.stack.tcp_abort(h)
                        } else {
                            self.stack.tcp_close(h)
                        };
                    }
                    TcpRole::Listening(l) => {
                        self.listeners.remove(&l);
                        self.stack.tcp_unlisten(l);
                    }
                    TcpRole::Fresh => {}
                }
            }
            Proto::Udp(u) => {
                if let Some(h) = u.handle {
                    self.stack.udp_unbind(h);
                }
            }
        }
        Ok(())
    }

    /// `getsockname`, in the socket's family.
    pub fn op_sockname(&self, fd: Fd) -> SysResult<SocketAddr> {
        let s = self.socket(fd)?;
        let unspec = s.family.any(0);
        let name = match &s.proto {
            Proto::Tcp(t) => t.endpoints.map(|e| e.0).or(t.bound).unwrap_or(unspec),
            Proto::Udp(u) => s.family.any(u.port),
        };
        Ok(s.family.to_user(name))
    }

    /// `getpeername`, in the socket's family.
    pub fn op_peername(&self, fd: Fd) -> SysResult<SocketAddr> {
        let s = self.socket(fd)?;
        let peer = match &s.proto {
            Proto::Tcp(t) => match (t.role, t.endpoints) {
                (TcpRole::Conn(h), Some(e)) if self.stack.tcp_state(h).is_synchronized() => e.1,
                _ => return Err(Errno::ENOTCONN),
            },
            Proto::Udp(u) => u.peer.ok_or(Errno::ENOTCONN)?,
        };
        Ok(s.family.to_user(peer))
    }

    /// `fcntl` with an integer argument: `F_GETFL`, `F_SETFL` (`O_NONBLOCK`), `F_GETFD`,
    /// `F_SETFD`.
    pub fn op_fcntl(&mut self, fd: Fd, cmd: i32, arg: i32) -> SysResult<i32> {
        let entry = self.entry_mut(fd)?;
        let s = match entry {
            Entry::Socket(s) => Some(s),
            Entry::Epoll(_) => None,
        };
        match cmd {
            libc::F_GETFL => {
                let nb = s.is_some_and(|s| s.nonblocking);
                Ok(libc::O_RDWR | if nb { libc::O_NONBLOCK } else { 0 })
            }
            libc::F_SETFL => {
                if let Some(s) = s {
                    s.nonblocking = arg & libc::O_NONBLOCK != 0;
                }
                Ok(0)
            }
            libc::F_GETFD | libc::F_SETFD => Ok(0),
            _ => Err(Errno::EINVAL),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_spans_buffers_and_sources() {
        let mut x = [0u8; 3];
        let mut y = [0u8; 4];
        let mut bufs = [IoSliceMut::new(&mut x), IoSliceMut::new(&mut y)];
        let n = scatter(&mut bufs, 1, b"abcd", b"ef");
        assert_eq!(n, 6);
        assert_eq!(&x, b"\0ab");
        assert_eq!(&y, b"cdef");
        let mut z = [0u8; 2];
        let mut bufs = [IoSliceMut::new(&mut z)];
        assert_eq!(scatter(&mut bufs, 0, b"", b"xyz"), 2);
        assert_eq!(&z, b"xy");
    }
}
