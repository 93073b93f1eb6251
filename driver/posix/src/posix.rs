//! [`Posix`]: the thread-safe socket API. One mutex guards the [`Engine`]; a condition
//! variable wakes blocked callers whenever the stack makes progress (a packet injected, the
//! clock advanced, a call that changed something), so a blocking `accept` on one thread
//! returns when another thread injects the handshake's last ACK.

use std::io::{IoSlice, IoSliceMut};
use std::net::SocketAddr;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use xdptcp_stack::stack::Stack;
use xdptcp_stack::tcp::State;
use xdptcp_stack::time::{Duration, Instant};

use crate::config::PosixConfig;
use crate::engine::Engine;
use crate::errno::{Errno, SysResult};
use crate::socket::{Fd, Proto};
use crate::waiters::Waiter;

/// Longest a real-clock wait sleeps before looking at the timers again.
const REAL_WAIT_SLICE: std::time::Duration = std::time::Duration::from_millis(50);

/// How long (real time) a clock jump waits for woken blocked calls to look again.
const SETTLE_LIMIT: std::time::Duration = std::time::Duration::from_millis(100);

/// A socket-compatible API over one [`Stack`] on a raw-IP device whose packets are exchanged
/// through [`netdev_send`](Self::netdev_send) and [`netdev_receive`](Self::netdev_receive).
///
/// Every call takes `&self` and may come from any thread. Calls on a blocking socket wait
/// (on a condition variable) until they can complete. With the virtual clock, time moves
/// only through [`usleep`](Self::usleep) and clock reads, so a blocking call waits for
/// another thread to inject packets or advance time.
pub struct Posix {
    engine: Mutex<Engine>,
    cond: Condvar,
}

impl core::fmt::Debug for Posix {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Posix").finish_non_exhaustive()
    }
}

fn std_dur(d: Duration) -> std::time::Duration {
    std::time::Duration::from_nanos(d.total_nanos())
}

/// `timeout_ms` of `poll`/`epoll_wait`: negative waits forever.
fn ms_timeout(timeout_ms: i32) -> Option<Duration> {
    u64::try_from(timeout_ms).ok().map(Duration::from_millis)
}

impl Posix {
    /// An instance with its own stack, configured by `config`.
    pub fn new(config: PosixConfig) -> Self {
        Posix { engine: Mutex::new(Engine::new(config)), cond: Condvar::new() }
    }

    fn lock(&self) -> MutexGuard<'_, Engine> {
        // A panic while holding the lock leaves the engine usable: every call re-validates.
        self.engine.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A call that never blocks: runs `f`, then delivers what it caused and wakes waiters.
    fn call<T>(&self, f: impl FnOnce(&mut Engine) -> SysResult<T>) -> SysResult<T> {
        let mut g = self.lock();
        g.waiters.back();
        g.catch_up();
        let r = f(&mut g);
        g.pump();
        g.waiters.bump();
        drop(g);
        self.cond.notify_all();
        r
    }

    /// With the virtual clock, waits until every blocked call that the last change woke has
    /// looked again (`waiters`), for at most [`SETTLE_LIMIT`] of real time (a call whose
    /// thread is gone must not stop the clock).
    fn settled<'a>(&self, mut g: MutexGuard<'a, Engine>) -> MutexGuard<'a, Engine> {
        if !g.clock.is_virtual() {
            return g;
        }
        let give_up = std::time::Instant::now() + SETTLE_LIMIT;
        while g.waiters.unsettled() {
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                break;
            }
            self.cond.notify_all();
            g = self.cond.wait_timeout(g, left).unwrap_or_else(PoisonError::into_inner).0;
        }
        g
    }

    /// Waits until the engine changes (virtual clock) or a timer or `deadline` is due (real).
    fn wait<'a>(
        &self,
        g: MutexGuard<'a, Engine>,
        deadline: Option<Instant>,
    ) -> MutexGuard<'a, Engine> {
        if g.clock.is_virtual() {
            return self.cond.wait(g).unwrap_or_else(PoisonError::into_inner);
        }
        let now = g.now();
        let until = match (g.stack.poll_timeout(), deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let slice = until.map_or(REAL_WAIT_SLICE, |u| {
            std_dur(u.saturating_duration_since(now)).min(REAL_WAIT_SLICE)
        });
        let (mut g, _) = self.cond.wait_timeout(g, slice).unwrap_or_else(PoisonError::into_inner);
        if g.catch_up() {
            self.cond.notify_all();
        }
        g
    }

    /// Runs `op` until it completes; `Ok(None)` from `op` means "would block". Returns
    /// `Ok(None)` if `timeout` passed first.
    fn blocking<T>(
        &self,
        timeout: Option<Duration>,
        mut op: impl FnMut(&mut Engine) -> SysResult<Option<T>>,
    ) -> SysResult<Option<T>> {
        let mut g = self.lock();
        g.waiters.back();
        if g.catch_up() {
            self.cond.notify_all();
        }
        let deadline = timeout.map(|d| g.now() + d);
        let mut me = Waiter::default();
        loop {
            let caught_up = g.waiters.checking(&mut me);
            let r = op(&mut g);
            let active = g.pump();
            let finished = !matches!(r, Ok(None));
            if active {
                g.waiters.bump();
            }
            if active || finished {
                self.cond.notify_all();
            }
            if finished {
                g.waiters.leave(&mut me);
                self.cond.notify_all();
                return r;
            }
            if deadline.is_some_and(|d| g.now() >= d) {
                g.waiters.leave(&mut me);
                self.cond.notify_all();
                return Ok(None);
            }
            g.waiters.block(&mut me);
            if caught_up && !g.waiters.unsettled() {
                // A clock jump may be waiting for this look.
                self.cond.notify_all();
            }
            g = self.wait(g, deadline);
        }
    }

    fn timeouts(&self, fd: Fd) -> SysResult<(Option<Duration>, Option<Duration>)> {
        let g = self.lock();
        let s = g.socket(fd)?;
        Ok((s.opts.rcvtimeo, s.opts.sndtimeo))
    }

    fn is_udp(&self, fd: Fd) -> SysResult<bool> {
        Ok(matches!(self.lock().socket(fd)?.proto, Proto::Udp(_)))
    }

    // ----- sockets -----

    /// `socket(domain, type, protocol)`: `AF_INET` or `AF_INET6` (dual-stack: IPv4 peers as
    /// IPv4-mapped addresses unless `IPV6_V6ONLY`) with `SOCK_STREAM` or `SOCK_DGRAM`
    /// (`SOCK_NONBLOCK` honoured, `SOCK_CLOEXEC` ignored).
    pub fn socket(&self, domain: i32, ty: i32, protocol: i32) -> SysResult<Fd> {
        self.call(|e| e.op_socket(domain, ty, protocol))
    }

    /// `bind`: one of our addresses or the wildcard of the socket's family; port 0 picks an
    /// ephemeral port.
    pub fn bind(&self, fd: Fd, addr: impl Into<SocketAddr>) -> SysResult<()> {
        let addr = addr.into();
        self.call(|e| e.op_bind(fd, addr))
    }

    /// `listen`.
    pub fn listen(&self, fd: Fd, backlog: i32) -> SysResult<()> {
        self.call(|e| e.op_listen(fd, backlog))
    }

    /// `accept`: the new descriptor and the peer address.
    pub fn accept(&self, fd: Fd) -> SysResult<(Fd, SocketAddr)> {
        self.accept4(fd, 0)
    }

    /// `accept4` (`SOCK_NONBLOCK` in `flags` makes the new socket non-blocking).
    pub fn accept4(&self, fd: Fd, flags: i32) -> SysResult<(Fd, SocketAddr)> {
        let (rcvtimeo, _) = self.timeouts(fd)?;
        self.blocking(rcvtimeo, |e| e.op_accept(fd, flags))?.ok_or(Errno::EAGAIN)
    }

    /// `connect`: blocking sockets wait for the handshake; non-blocking ones return
    /// `EINPROGRESS` (then `EALREADY`, then 0 once, then `EISCONN`, as Linux does).
    pub fn connect(&self, fd: Fd, addr: impl Into<SocketAddr>) -> SysResult<()> {
        let addr = addr.into();
        let (_, sndtimeo) = self.timeouts(fd)?;
        let mut started = false;
        self.blocking(sndtimeo, |e| e.op_connect(fd, addr, &mut started))?.ok_or(Errno::EINPROGRESS)
    }

    /// `read`.
    pub fn read(&self, fd: Fd, buf: &mut [u8]) -> SysResult<usize> {
        self.recv(fd, buf, 0)
    }

    /// `recv` (`MSG_DONTWAIT`, `MSG_PEEK`, `MSG_WAITALL`).
    pub fn recv(&self, fd: Fd, buf: &mut [u8], flags: i32) -> SysResult<usize> {
        self.recv_vectored(fd, &mut [IoSliceMut::new(buf)], flags)
    }

    /// `readv`/`recvmsg`: scatters into `bufs`.
    pub fn recv_vectored(
        &self,
        fd: Fd,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
    ) -> SysResult<usize> {
        self.recv_from(fd, bufs, flags).map(|(n, _)| n)
    }

    /// `recvfrom`/`recvmsg` with the source address (UDP: the datagram's; TCP: `None`, as
    /// Linux leaves the address unset for stream sockets).
    pub fn recv_from(
        &self,
        fd: Fd,
        bufs: &mut [IoSliceMut<'_>],
        flags: i32,
    ) -> SysResult<(usize, Option<SocketAddr>)> {
        let (rcvtimeo, _) = self.timeouts(fd)?;
        if self.is_udp(fd)? {
            return match self.blocking(rcvtimeo, |e| e.udp_recv(fd, bufs, flags))? {
                Some((n, src)) => Ok((n, Some(src))),
                None => Err(Errno::EAGAIN),
            };
        }
        let mut done = 0;
        match self.blocking(rcvtimeo, |e| e.tcp_recv(fd, bufs, flags, &mut done))? {
            Some(n) => Ok((n, None)),
            None if done > 0 => Ok((done, None)),
            None => Err(Errno::EAGAIN),
        }
    }

    /// `write`.
    pub fn write(&self, fd: Fd, buf: &[u8]) -> SysResult<usize> {
        self.send(fd, buf, 0)
    }

    /// `send` (`MSG_DONTWAIT`; `MSG_NOSIGNAL` is implied: there are no signals).
    pub fn send(&self, fd: Fd, buf: &[u8], flags: i32) -> SysResult<usize> {
        self.send_to(fd, &[IoSlice::new(buf)], flags, None)
    }

    /// `writev`/`sendmsg`: gathers from `bufs`.
    pub fn send_vectored(&self, fd: Fd, bufs: &[IoSlice<'_>], flags: i32) -> SysResult<usize> {
        self.send_to(fd, bufs, flags, None)
    }

    /// `sendto`/`sendmsg` with a destination (UDP; ignored for connected TCP, as Linux
    /// does). A blocking TCP send returns once everything is queued.
    pub fn send_to(
        &self,
        fd: Fd,
        bufs: &[IoSlice<'_>],
        flags: i32,
        dst: Option<SocketAddr>,
    ) -> SysResult<usize> {
        if self.is_udp(fd)? {
            return self.call(|e| e.udp_send(fd, bufs, dst));
        }
        let (_, sndtimeo) = self.timeouts(fd)?;
        let mut done = 0;
        match self.blocking(sndtimeo, |e| e.tcp_send(fd, bufs, flags, &mut done))? {
            Some(n) => Ok(n),
            None if done > 0 => Ok(done),
            None => Err(Errno::EAGAIN),
        }
    }

    /// `close`. `SO_LINGER` with a zero timeout resets the connection instead of a FIN.
    pub fn close(&self, fd: Fd) -> SysResult<()> {
        self.call(|e| e.op_close(fd))
    }

    /// `shutdown(SHUT_RD | SHUT_WR | SHUT_RDWR)`.
    pub fn shutdown(&self, fd: Fd, how: i32) -> SysResult<()> {
        self.call(|e| e.op_shutdown(fd, how))
    }

    /// `getsockopt`: the option's bytes into `out`; returns the length written.
    pub fn getsockopt(&self, fd: Fd, level: i32, name: i32, out: &mut [u8]) -> SysResult<usize> {
        self.call(|e| e.op_getsockopt(fd, level, name, out))
    }

    /// `setsockopt` from the option's bytes.
    pub fn setsockopt(&self, fd: Fd, level: i32, name: i32, val: &[u8]) -> SysResult<()> {
        self.call(|e| e.op_setsockopt(fd, level, name, val))
    }

    /// `getsockname`.
    pub fn getsockname(&self, fd: Fd) -> SysResult<SocketAddr> {
        self.call(|e| e.op_sockname(fd))
    }

    /// `getpeername`.
    pub fn getpeername(&self, fd: Fd) -> SysResult<SocketAddr> {
        self.call(|e| e.op_peername(fd))
    }

    /// `fcntl(fd, cmd, arg)` for `F_GETFL`, `F_SETFL` (`O_NONBLOCK`), `F_GETFD`, `F_SETFD`.
    pub fn fcntl(&self, fd: Fd, cmd: i32, arg: i32) -> SysResult<i32> {
        self.call(|e| e.op_fcntl(fd, cmd, arg))
    }

    /// `ioctl(fd, FIONBIO, &on)`.
    pub fn set_nonblocking(&self, fd: Fd, on: bool) -> SysResult<()> {
        self.call(|e| {
            e.socket_mut(fd)?.nonblocking = on;
            Ok(())
        })
    }

    /// The `TCP_CM_INQ` value `recvmsg` reports on a socket with `TCP_INQ` on (`None`
    /// otherwise): the bytes left to read after the call, or 1 when none are left but the peer
    /// has closed (Linux `tcp_inq_hint`, so that a reader learns of the end without another
    /// call).
    pub fn inq_hint(&self, fd: Fd) -> SysResult<Option<i32>> {
        self.call(|e| {
            let s = e.socket(fd)?;
            let Proto::Tcp(t) = &s.proto else { return Ok(None) };
            if !s.opts.inq {
                return Ok(None);
            }
            let crate::socket::TcpRole::Conn(h) = t.role else { return Ok(Some(0)) };
            let left = e.stack.tcp_recv_queue_len(h);
            let hint = if left == 0 && e.stack.tcp_recv_finished(h) { 1 } else { left };
            Ok(Some(i32::try_from(hint).unwrap_or(i32::MAX)))
        })
    }

    /// `ioctl(fd, SIOCOUTQ)` (`unsent_only`: `SIOCOUTQNSD`): bytes queued and not yet
    /// acknowledged (or not yet sent), as Linux's `tcp_ioctl`: `EINVAL` on a listening
    /// socket, 0 during the handshake.
    pub fn bytes_queued(&self, fd: Fd, unsent_only: bool) -> SysResult<usize> {
        self.call(|e| {
            let s = e.socket(fd)?;
            let Proto::Tcp(t) = &s.proto else { return Err(Errno::ENOTTY) };
            match t.role {
                crate::socket::TcpRole::Listening(_) => Err(Errno::EINVAL),
                crate::socket::TcpRole::Fresh => Ok(0),
                crate::socket::TcpRole::Conn(h) => {
                    if matches!(e.stack.tcp_state(h), State::SynSent | State::SynReceived) {
                        return Ok(0);
                    }
                    let queued = e.stack.tcp_send_queue_len(h);
                    if !unsent_only {
                        return Ok(queued);
                    }
                    let sent = e.stack.tcp_info(h).map_or(0, |i| i.unacked);
                    Ok(queued.saturating_sub(sent))
                }
            }
        })
    }

    /// `ioctl(fd, FIONREAD)`: bytes (TCP) or the next datagram's size (UDP) ready to read.
    pub fn bytes_readable(&self, fd: Fd) -> SysResult<usize> {
        self.call(|e| {
            let s = e.socket(fd)?;
            Ok(match &s.proto {
                Proto::Tcp(t) => match t.role {
                    crate::socket::TcpRole::Conn(h) => e.stack.tcp_recv_queue_len(h),
                    // Linux `tcp_ioctl`: SIOCINQ on a listening socket is EINVAL.
                    crate::socket::TcpRole::Listening(_) => return Err(Errno::EINVAL),
                    crate::socket::TcpRole::Fresh => 0,
                },
                Proto::Udp(u) => {
                    u.handle.and_then(|h| e.stack.udp_recv_from(h)).map_or(0, |(_, p)| p.len())
                }
            })
        })
    }

    /// `poll`: fills `revents`; `timeout_ms` < 0 waits forever, 0 never waits.
    pub fn poll(&self, fds: &mut [libc::pollfd], timeout_ms: i32) -> SysResult<usize> {
        let r = self.blocking(ms_timeout(timeout_ms), |e| {
            let n = e.op_poll(fds);
            Ok((n > 0).then_some(n))
        })?;
        Ok(r.unwrap_or(0))
    }

    /// `epoll_create`.
    pub fn epoll_create(&self) -> SysResult<Fd> {
        self.call(|e| e.op_epoll_create())
    }

    /// `epoll_ctl(epfd, op, fd, event)`; `event` is `(events, data)`.
    pub fn epoll_ctl(&self, epfd: Fd, op: i32, fd: Fd, event: Option<(u32, u64)>) -> SysResult<()> {
        self.call(|e| e.op_epoll_ctl(epfd, op, fd, event))
    }

    /// `epoll_wait`: fills `out`; `timeout_ms` as for [`poll`](Self::poll).
    pub fn epoll_wait(
        &self,
        epfd: Fd,
        out: &mut [libc::epoll_event],
        timeout_ms: i32,
    ) -> SysResult<usize> {
        let r = self.blocking(ms_timeout(timeout_ms), |e| {
            let n = e.op_epoll_wait(epfd, out)?;
            Ok((n > 0).then_some(n))
        })?;
        Ok(r.unwrap_or(0))
    }

    // ----- the device and the clock -----

    /// Injects one raw IP packet (IPv4 or IPv6) as if it arrived from the wire.
    pub fn netdev_send(&self, packet: &[u8]) {
        self.call(|e| {
            e.inject(packet);
            Ok(())
        })
        .ok();
    }

    /// The next IP packet (IPv4 or IPv6) the stack sent, copied into `buf` (truncated if `buf` is short),
    /// with the time it left. With the virtual clock, when nothing is queued, time first
    /// jumps through the stack's timers (a retransmission, a delayed ACK) until a packet
    /// leaves. Then, for up to `wait` of real time, it waits for another thread's call to
    /// produce one. `None` if nothing came.
    pub fn netdev_receive(
        &self,
        buf: &mut [u8],
        wait: std::time::Duration,
    ) -> Option<(usize, Instant)> {
        let give_up = std::time::Instant::now() + wait;
        let mut g = self.lock();
        g.waiters.back();
        loop {
            if g.catch_up() {
                self.cond.notify_all();
            }
            g = self.settled(g);
            let jumped_from = g.now();
            let out = g.take_outbound(true);
            if g.now() != jumped_from {
                g.waiters.bump();
                self.cond.notify_all();
            }
            if let Some(o) = out {
                let n = o.bytes.len().min(buf.len());
                buf[..n].copy_from_slice(&o.bytes[..n]);
                let at = o.at;
                g.recycle(o.bytes);
                return Some((n, at));
            }
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return None;
            }
            let (ng, _) = self
                .cond
                .wait_timeout(g, left.min(REAL_WAIT_SLICE))
                .unwrap_or_else(PoisonError::into_inner);
            g = ng;
        }
    }

    /// Packets the stack sent that wait for [`netdev_receive`](Self::netdev_receive).
    pub fn outbound_len(&self) -> usize {
        self.lock().outbound.len()
    }

    /// Sleeps `micros`: the virtual clock jumps (running every timer due on the way, each at
    /// its own deadline); the real clock really sleeps, serving timers meanwhile.
    pub fn usleep(&self, micros: u64) {
        let mut g = self.lock();
        g.waiters.back();
        let mut g = self.settled(g);
        let target = g.now() + Duration::from_micros(micros);
        if g.clock.is_virtual() {
            g.advance_to(target);
            g.waiters.bump();
            drop(g);
            self.cond.notify_all();
            return;
        }
        while g.now() < target {
            g = self.wait(g, Some(target));
        }
    }

    /// The adapter's clock (a read: the virtual clock ticks by its configured step).
    pub fn now(&self) -> Instant {
        let mut g = self.lock();
        let (now, active) = g.read_clock();
        let returning = g.waiters.unsettled();
        g.waiters.back();
        let settled = returning && !g.waiters.unsettled();
        drop(g);
        if active || settled {
            self.cond.notify_all();
        }
        now
    }

    /// `gettimeofday`: the clock as (seconds, microseconds) since the Unix epoch, the
    /// virtual clock starting at [`PosixConfig::epoch_secs`].
    pub fn gettimeofday(&self) -> (i64, i64) {
        let epoch = self.lock().config.epoch_secs;
        let now = self.now().total_micros();
        ((epoch + now / 1_000_000) as i64, (now % 1_000_000) as i64)
    }

    /// Runs `f` on the stack (counters, connection count) under the lock.
    pub fn with_stack<R>(&self, f: impl FnOnce(&Stack) -> R) -> R {
        f(&self.lock().stack)
    }
}

/// Blocking calls come from other threads (packetdrill's syscall thread), so `Posix` must be
/// shareable; this fails to compile if a non-`Send` part ever enters the stack.
#[allow(dead_code)]
fn assert_send_sync() {
    fn is<T: Send + Sync>() {}
    is::<Posix>();
}
