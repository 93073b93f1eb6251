//! UDP sockets, passed through to the interface's UDP layer.

use std::io::{IoSlice, IoSliceMut};
use std::net::{IpAddr, SocketAddr};

use xdptcp_stack::iface::{BindError, SendError, UdpScope};

use crate::engine::Engine;
use crate::errno::{Errno, SysResult};
use crate::family::{Family, Use};
use crate::socket::{Entry, Fd, Proto, UdpSocket};
use crate::tcp::{scatter, would_block};

/// The UDP socket at `fd`, whether it is non-blocking, its family and `IPV6_V6ONLY`.
fn udp_at(fds: &mut [Option<Entry>], fd: Fd) -> SysResult<(&mut UdpSocket, bool, Family, bool)> {
    let entry = usize::try_from(fd)
        .ok()
        .and_then(|i| fds.get_mut(i))
        .and_then(Option::as_mut)
        .ok_or(Errno::EBADF)?;
    match entry {
        Entry::Socket(s) => {
            let (nb, family, v6only) = (s.nonblocking, s.family, s.opts.v6only);
            match &mut s.proto {
                Proto::Udp(u) => Ok((u, nb, family, v6only)),
                Proto::Tcp(_) => Err(Errno::EOPNOTSUPP),
            }
        }
        Entry::Epoll(_) => Err(Errno::ENOTSOCK),
    }
}

impl Engine {
    /// `bind` on a UDP socket (`addr` in the stack's terms); port 0 picks a free ephemeral
    /// port. The stack's UDP sockets are bound by port for the families they take: IPv4 for
    /// an IPv4 (or IPv4-mapped) address, IPv6 for an IPv6 one or `::` with `IPV6_V6ONLY`,
    /// both for `::` without it; so `0.0.0.0:P` and a `IPV6_V6ONLY` `[::]:P` coexist and a
    /// dual-stack `[::]:P` clashes with either, as on Linux (`inet_rcv_saddr_equal`).
    pub(crate) fn udp_bind(&mut self, fd: Fd, addr: SocketAddr) -> SysResult<()> {
        let Engine { stack, fds, .. } = self;
        let (u, _, _, v6only) = udp_at(fds, fd)?;
        if u.handle.is_some() {
            return Err(Errno::EINVAL);
        }
        let scope = match addr.ip() {
            IpAddr::V4(_) => UdpScope::Ipv4,
            IpAddr::V6(a) if a.is_unspecified() && !v6only => UdpScope::Both,
            IpAddr::V6(_) => UdpScope::Ipv6,
        };
        let (h, port) = if addr.port() == 0 {
            (32768..=u16::MAX)
                .find_map(|p| stack.udp_bind_scoped(p, scope).ok().map(|h| (h, p)))
                .ok_or(Errno::EADDRINUSE)?
        } else {
            let h = stack.udp_bind_scoped(addr.port(), scope).map_err(|e| match e {
                BindError::PortInUse => Errno::EADDRINUSE,
                BindError::ZeroPort => Errno::EINVAL,
            })?;
            (h, addr.port())
        };
        u.handle = Some(h);
        u.port = port;
        Ok(())
    }

    fn udp_autobind(&mut self, fd: Fd) -> SysResult<()> {
        let (u, _, family, _) = udp_at(&mut self.fds, fd)?;
        if u.handle.is_none() {
            self.udp_bind(fd, family.any(0))?;
        }
        Ok(())
    }

    /// `connect` on a UDP socket: sets the default destination (in the stack's terms).
    pub(crate) fn udp_connect(&mut self, fd: Fd, addr: SocketAddr) -> SysResult<()> {
        self.udp_autobind(fd)?;
        let (u, ..) = udp_at(&mut self.fds, fd)?;
        u.peer = Some(addr);
        Ok(())
    }

    /// `sendto`/`sendmsg` on UDP: one datagram, to `dst` as the caller gave it (else the
    /// connected peer).
    pub fn udp_send(
        &mut self,
        fd: Fd,
        bufs: &[IoSlice<'_>],
        dst: Option<SocketAddr>,
    ) -> SysResult<usize> {
        self.udp_autobind(fd)?;
        let now = self.now();
        let Engine { stack, fds, scratch, .. } = self;
        let (u, _, family, v6only) = udp_at(fds, fd)?;
        let dst = match dst {
            Some(d) => family.to_stack(d, v6only, Use::Reach)?,
            None => u.peer.ok_or(Errno::EDESTADDRREQ)?,
        };
        let h = u.handle.ok_or(Errno::EINVAL)?;
        scratch.clear();
        for b in bufs {
            scratch.extend_from_slice(b);
        }
        stack.udp_send_to(now, h, dst, scratch).map_err(|e| match e {
            SendError::TooLarge => Errno::EMSGSIZE,
            SendError::NoRoute => Errno(libc::ENETUNREACH),
            SendError::ArpQueueFull | SendError::TxQueueFull => Errno::ENOBUFS,
            SendError::NotBound => Errno::EINVAL,
        })?;
        Ok(scratch.len())
    }

    /// `recvfrom`/`recvmsg` on UDP: one datagram (truncated to the buffers) and its source,
    /// in the socket's family (an IPv4 sender IPv4-mapped for an `AF_INET6` socket).
    pub fn udp_recv(
        &mut self,
        fd: Fd,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
    ) -> SysResult<Option<(usize, SocketAddr)>> {
        let Engine { stack, fds, .. } = self;
        let (u, nb, family, v6only) = udp_at(fds, fd)?;
        let nonblocking = nb || flags & libc::MSG_DONTWAIT != 0;
        let Some(h) = u.handle else { return would_block(nonblocking) };
        let (src, payload) = loop {
            match stack.udp_recv_from(h) {
                None => return would_block(nonblocking),
                Some((src, payload)) if family.hears(&src, v6only) => break (src, payload),
                // The stack's socket is bound by port for both families, but an AF_INET socket
                // cannot name an IPv6 sender (and an IPV6_V6ONLY one must not hear IPv4):
                // Linux would never have delivered the datagram to it, so it is discarded.
                Some(_) => {
                    stack.udp_consume(h);
                }
            }
        };
        let n = scatter(bufs, 0, payload, &[]);
        if flags & libc::MSG_PEEK == 0 {
            stack.udp_consume(h);
        }
        Ok(Some((n, family.to_user(src))))
    }

    /// Datagrams waiting on a UDP socket.
    pub(crate) fn udp_queued(&self, u: &UdpSocket) -> usize {
        u.handle.map_or(0, |h| self.stack.iface().udp_sockets().queued(h))
    }
}
