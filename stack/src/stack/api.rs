//! The socket-like application API: listen, accept, connect, send, receive, close; and UDP
//! passed through to the interface.

use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4};

use super::socket::{Owner, Socket};
use super::{ConnectError, ListenError, ListenHandle, Stack, TcpError, TcpHandle};
use crate::flow::{FlowKey, ListenKey};
use crate::iface::{BindError, SendError, UdpHandle};
use crate::tcp::listen::Listener;
use crate::tcp::{
    ChunkPool, Connection, ConnectionParams, Open, SendFlags, State, TcpConfig, TcpInfo,
};
use crate::time::Instant;

impl Stack {
    // ----- listening -----

    /// Listens on `addr:port` with the stack's TCP configuration. `addr` unspecified: on our
    /// addresses whatever they are; `::` takes IPv4 and IPv6, `0.0.0.0` IPv4 only (the two
    /// conflict on one port, as in Linux with `IPV6_V6ONLY` off; for an IPv6-only `::` see
    /// [`tcp_listen_ipv6_only`](Self::tcp_listen_ipv6_only)). `backlog` bounds both the SYN
    /// queue and the accept queue.
    pub fn tcp_listen(
        &mut self,
        addr: impl Into<IpAddr>,
        port: u16,
        backlog: usize,
    ) -> Result<ListenHandle, ListenError> {
        self.tcp_listen_with(addr, port, backlog, self.tcp_config)
    }

    /// [`tcp_listen`](Self::tcp_listen) with a TCP configuration of its own for the accepted
    /// connections (e.g. `synack_retries`, buffer sizes).
    pub fn tcp_listen_with(
        &mut self,
        addr: impl Into<IpAddr>,
        port: u16,
        backlog: usize,
        config: TcpConfig,
    ) -> Result<ListenHandle, ListenError> {
        let addr = addr.into();
        if port == 0 {
            return Err(ListenError::ZeroPort);
        }
        // A dual-stack `::` overlaps an IPv6-only `::` on the port (Linux
        // `inet6_rcv_saddr_equal`: both match every IPv6 address).
        let dual_any = addr.is_ipv6() && addr.is_unspecified();
        if dual_any && self.listeners.lookup(&ListenKey::ipv6_only(port)).is_some() {
            return Err(ListenError::AddrInUse);
        }
        // Fitted for IPv4 (the larger MSS); IPv6 connections and cookies fit it again.
        let config = self.fit_mss(config);
        let listener =
            Listener::new(SocketAddr::new(addr, port), backlog, self.listen_config, config);
        self.insert_listener(ListenKey::new(addr, port), listener)
    }

    /// Listens on `[::]:port` for IPv6 only (`IPV6_V6ONLY`, RFC 3493 §5.3): IPv4 segments to
    /// the port do not reach it, so it may sit beside a `0.0.0.0` listener on the same port,
    /// and conflicts with a dual-stack `::` one, as on Linux (`inet6_rcv_saddr_equal`).
    /// Fixed at listen time, as Linux fixes `IPV6_V6ONLY` at bind.
    pub fn tcp_listen_ipv6_only(
        &mut self,
        port: u16,
        backlog: usize,
        config: TcpConfig,
    ) -> Result<ListenHandle, ListenError> {
        if port == 0 {
            return Err(ListenError::ZeroPort);
        }
        let wildcard = self.listeners.lookup(&ListenKey::new(Ipv4Addr::UNSPECIFIED, port));
        if wildcard.is_some_and(|l| self.listeners.get(l).is_some_and(|l| l.takes_ipv6())) {
            return Err(ListenError::AddrInUse);
        }
        let config = self.fit_mss(config);
        let any = SocketAddr::new(std::net::Ipv6Addr::UNSPECIFIED.into(), port);
        let mut listener = Listener::new(any, backlog, self.listen_config, config);
        listener.set_ipv6_only(true);
        self.insert_listener(ListenKey::ipv6_only(port), listener)
    }

    fn insert_listener(
        &mut self,
        key: ListenKey,
        listener: Listener,
    ) -> Result<ListenHandle, ListenError> {
        let port = key.port;
        match self.listeners.insert(key, listener) {
            Ok(h) => {
                self.listening.set(port, true);
                Ok(ListenHandle(h))
            }
            Err(crate::flow::FlowError::Exists) => Err(ListenError::AddrInUse),
            Err(crate::flow::FlowError::Full) => Err(ListenError::TableFull),
        }
    }

    /// Changes the configuration a listener gives the connections it makes from now on
    /// (socket options set after `listen`). Returns `false` for a stale handle.
    pub fn tcp_set_listen_config(&mut self, listener: ListenHandle, config: TcpConfig) -> bool {
        let config = self.fit_mss(config);
        match self.listeners.get_mut(listener.0) {
            Some(l) => {
                l.set_tcp_config(config);
                true
            }
            None => false,
        }
    }

    /// Stops listening. Connections waiting in the accept queue are reset; half-open ones
    /// are reset when their handshake completes. Returns `false` for a stale handle.
    pub fn tcp_unlisten(&mut self, listener: ListenHandle) -> bool {
        let key = self.listeners.key(listener.0);
        let Some(mut l) = self.listeners.remove(listener.0) else { return false };
        if let Some(port) = key.map(|k| k.port) {
            let still = self.listeners.iter().any(|(_, k, _)| k.port == port);
            self.listening.set(port, still);
        }
        self.listen_counters.add(l.counters());
        let queued: Vec<_> = l.drain_accept_queue().collect();
        for h in queued {
            self.touch(h, true, |s, _| {
                s.owner = Owner::Orphan;
                s.conn.abort();
            });
        }
        true
    }

    /// Takes the oldest established connection from `listener`'s accept queue. Its events
    /// (`Connected`, perhaps `Readable`) follow from `poll_event`.
    pub fn tcp_accept(&mut self, listener: ListenHandle) -> Option<TcpHandle> {
        loop {
            let h = self.listeners.get_mut(listener.0)?.accept()?;
            // Connections that died in the queue were freed; their handles are stale.
            if self.touch(h, false, |s, _| s.owner = Owner::App).is_some() {
                return Some(TcpHandle(h));
            }
        }
    }

    /// Connections waiting in `listener`'s accept queue (stale entries included).
    pub fn tcp_accept_queue_len(&self, listener: ListenHandle) -> usize {
        self.listeners.get(listener.0).map_or(0, |l| l.accept_queue_len())
    }

    /// Half-open connections in `listener`'s SYN queue.
    pub fn tcp_syn_queue_len(&self, listener: ListenHandle) -> usize {
        self.listeners.get(listener.0).map_or(0, |l| l.syn_queue_len())
    }

    // ----- connecting -----

    /// Active open to `remote_ip:remote_port` from our address and an ephemeral port (RFC
    /// 6056 Algorithm 4, constrained by the port filter). The SYN leaves with the next
    /// `poll_transmit`; `Connected` (or `Refused`/`TimedOut`) follows.
    pub fn tcp_connect(
        &mut self,
        now: Instant,
        remote_ip: Ipv4Addr,
        remote_port: u16,
    ) -> Result<TcpHandle, ConnectError> {
        self.tcp_connect_with(now, remote_ip, remote_port, self.tcp_config)
    }

    /// [`tcp_connect`](Self::tcp_connect) with a TCP configuration of its own.
    pub fn tcp_connect_with(
        &mut self,
        now: Instant,
        remote_ip: Ipv4Addr,
        remote_port: u16,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        if remote_port == 0
            || remote_ip.is_unspecified()
            || remote_ip.is_broadcast()
            || remote_ip.is_multicast()
        {
            return Err(ConnectError::BadAddress);
        }
        if self.flows.is_full() {
            return Err(ConnectError::TableFull);
        }
        let local_ip = self.iface.config().ipv4_addr;
        let flows = &self.flows;
        let filter = &mut self.port_filter;
        let port = self
            .ports
            .select(local_ip, (remote_ip, remote_port), |p| {
                let key = FlowKey { local_ip, local_port: p, remote_ip, remote_port };
                let free = match flows.lookup(&key) {
                    None => true,
                    Some(h) => flows.get(h).is_some_and(|s| s.conn.time_wait_reusable(now)),
                };
                free && filter.as_mut().is_none_or(|f| f(&key))
            })
            .ok_or(ConnectError::NoFreePort)?;
        self.open(now, port, remote_ip, remote_port, config)
    }

    /// Active open from a chosen local port (for simultaneous open, or a client that must
    /// reuse its port). Fails with `AddrInUse` if that 4-tuple already has a connection.
    pub fn tcp_connect_from(
        &mut self,
        now: Instant,
        local_port: u16,
        remote_ip: Ipv4Addr,
        remote_port: u16,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        if local_port == 0
            || remote_port == 0
            || remote_ip.is_unspecified()
            || remote_ip.is_broadcast()
            || remote_ip.is_multicast()
        {
            return Err(ConnectError::BadAddress);
        }
        let local_ip = self.iface.config().ipv4_addr;
        if self.flows.lookup(&FlowKey { local_ip, local_port, remote_ip, remote_port }).is_some() {
            return Err(ConnectError::AddrInUse);
        }
        self.open(now, local_port, remote_ip, remote_port, config)
    }

    fn open(
        &mut self,
        now: Instant,
        port: u16,
        remote_ip: Ipv4Addr,
        remote_port: u16,
        config: TcpConfig,
    ) -> Result<TcpHandle, ConnectError> {
        let local_ip = self.iface.config().ipv4_addr;
        let key = FlowKey { local_ip, local_port: port, remote_ip, remote_port };
        if let Some(old) = self.flows.lookup(&key) {
            if self.flows.get(old).is_some_and(|s| s.conn.time_wait_reusable(now)) {
                self.free(old);
                self.tcp_counters.time_wait_reused += 1;
            }
        }
        let iss = self.isn.isn(now, (local_ip, port), (remote_ip, remote_port));
        let local = SocketAddrV4::new(local_ip, port);
        let remote = SocketAddrV4::new(remote_ip, remote_port);
        let config = self.configs.share(self.fit_mss(config));
        let open = Open::Active;
        let params = ConnectionParams { now, config, local, remote, iss, open };
        let conn = Connection::new_reusing(params, &mut self.cold_spares);
        let conn = super::keyed(&self.cookies, conn, local.into(), remote.into());
        let h = self.adopt(key, Socket::new(conn, Owner::App), true).map_err(|e| match e {
            crate::flow::FlowError::Full => ConnectError::TableFull,
            crate::flow::FlowError::Exists => ConnectError::AddrInUse,
        })?;
        self.active_ports.set(port, h.index() as u32);
        Ok(TcpHandle(h))
    }

    /// `config` with its MSS no larger than the device MTU allows (RFC 9293 §3.7.1: the MSS
    /// we announce comes from the largest datagram we can receive, less 40 bytes of IPv4 and
    /// TCP headers), so full segments always fit a frame.
    fn fit_mss(&self, config: TcpConfig) -> TcpConfig {
        super::ipv6::fit_mss(config, self.iface.caps().mtu, false)
    }

    // ----- data -----

    /// Runs `write` on connection `h` if writing is still allowed (from SYN-SENT on: the data
    /// waits for the handshake; refused once writing was shut down or the connection is
    /// closing), then settles it, queueing it for output when `write` queued bytes.
    fn touch_writable(
        &mut self,
        h: TcpHandle,
        write: impl FnOnce(&mut Connection, &mut ChunkPool) -> usize,
    ) -> Result<usize, TcpError> {
        self.touch_data(h.0, |s, t| {
            if !writable(s) {
                return Err(TcpError::WriteClosed);
            }
            let n = write(&mut s.conn, t.pool);
            t.transmit = n > 0;
            Ok(n)
        })
        .ok_or(TcpError::InvalidHandle)?
    }

    /// Queues as much of `data` as the send buffer and the memory budget take; returns the
    /// count (short or 0: the buffer is full or memory is exhausted, wait for `Writable`).
    /// Allowed from SYN-SENT on (the data waits for the handshake).
    ///
    /// Inlined into the application as far as the common case (`touch::send_small`): a
    /// request/response loop writes once per message, and the call, its six saved
    /// registers and the `Result` returned through memory were about a sixth of the
    /// write's instructions. The general path stays out of line (`tcp_send_with`).
    #[inline]
    pub fn tcp_send(&mut self, h: TcpHandle, data: &[u8]) -> Result<usize, TcpError> {
        // The common case first (a small write to an ESTABLISHED connection): the same
        // result as the general path, without its machinery (`touch::send_small`).
        if self.app_fast_path {
            if let Some(n) = self.send_small(h.0, data) {
                return Ok(n);
            }
        }
        self.tcp_send_with(h, data, SendFlags::default())
    }

    /// [`tcp_send`](Self::tcp_send) with `MSG_MORE` (no push; a short tail waits for more)
    /// and `MSG_EOR` (the data ends a record) as Linux gives them (`tcp::push`).
    pub fn tcp_send_with(
        &mut self,
        h: TcpHandle,
        data: &[u8],
        flags: SendFlags,
    ) -> Result<usize, TcpError> {
        self.touch_writable(h, |conn, pool| conn.send_with(pool, data, flags))
    }

    /// Zero-copy write: `write` fills the first contiguous piece of send room (at most one
    /// chunk) and returns how many bytes it wrote; it is called again with the next piece
    /// while it fills each one completely and room remains. Returns the total queued (0: the
    /// buffer is full or memory is exhausted, wait for `Writable`).
    pub fn tcp_write(
        &mut self,
        h: TcpHandle,
        mut write: impl FnMut(&mut [u8]) -> usize,
    ) -> Result<usize, TcpError> {
        self.touch_writable(h, |conn, pool| {
            let mut total = 0;
            loop {
                let room = conn.send_slices(pool);
                let offered = room.len();
                let n = if offered == 0 { 0 } else { write(room).min(offered) };
                total += conn.send_commit(pool, n);
                if n == 0 || n < offered {
                    break;
                }
            }
            total
        })
    }

    /// Forwards up to `max` received in-order bytes of `from` into the send buffer of `to`,
    /// with one copy (receive buffer to send buffer, no application buffer between): what a
    /// proxy does. Moves as much as `to`'s send buffer and the memory budget take; what does
    /// not fit stays in `from`'s receive buffer (its window closes towards its peer) until
    /// `to` is `Writable`. Returns the count, or `Err(Finished)` once `from`'s peer closed and
    /// everything was read, or `Err(WriteClosed)` if `to` can no longer send.
    pub fn tcp_splice(
        &mut self,
        from: TcpHandle,
        to: TcpHandle,
        max: usize,
    ) -> Result<usize, TcpError> {
        self.touch_pair(from.0, to.0, false, |src, dst, t| {
            if !writable(dst) {
                return Err(TcpError::WriteClosed);
            }
            if src.conn.recv_finished() {
                return Err(TcpError::Finished);
            }
            let n = src.conn.splice_into(&mut dst.conn, t.pool, max);
            t.transmit = n > 0;
            Ok(n)
        })
        .ok_or(TcpError::InvalidHandle)?
    }

    /// Free space in the send buffer (within the memory budget).
    pub fn tcp_send_space(&self, h: TcpHandle) -> usize {
        self.flows.get(h.0).map_or(0, |s| s.conn.send_space(&self.buffers))
    }

    /// Copies received in-order bytes into `out`. `Ok(0)` means nothing is buffered yet;
    /// `Err(Finished)` that the peer closed and everything was read.
    ///
    /// Inlined into the application as far as the common case (`touch::recv_small`), as
    /// [`tcp_send`](Self::tcp_send) is; the general path is out of line.
    #[inline]
    pub fn tcp_recv(&mut self, h: TcpHandle, out: &mut [u8]) -> Result<usize, TcpError> {
        // The common case first (bytes in the head chunk of an ESTABLISHED connection's
        // queue): the same result as the general path (`touch::recv_small`).
        if self.app_fast_path {
            if let Some(n) = self.recv_small(h.0, out) {
                return Ok(n);
            }
        }
        self.tcp_recv_general(h, out)
    }

    /// [`tcp_recv`](Self::tcp_recv) beyond its common case.
    #[inline(never)]
    fn tcp_recv_general(&mut self, h: TcpHandle, out: &mut [u8]) -> Result<usize, TcpError> {
        self.touch_data(h.0, |s, t| {
            let n = s.conn.recv(t.pool, out);
            if n == 0 && s.conn.recv_finished() {
                return Err(TcpError::Finished);
            }
            t.transmit = n > 0;
            Ok(n)
        })
        .ok_or(TcpError::InvalidHandle)?
    }

    /// Zero-copy read: `read` sees buffered in-order bytes as up to two slices and returns
    /// how many it consumed. The slices are the first contiguous pieces of the buffer (at
    /// most two chunks, 8 KiB), not necessarily all of it: a reader that wants everything
    /// calls again until it gets `Ok(0)` (or asks [`tcp_read_again`](Self::tcp_read_again)
    /// whether another call would find anything). Returns the count, or `Err(Finished)` at
    /// end of stream.
    pub fn tcp_read(
        &mut self,
        h: TcpHandle,
        read: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<usize, TcpError> {
        self.tcp_read_again(h, read).map(|(n, _)| n)
    }

    /// [`tcp_read`](Self::tcp_read) that also says whether calling again now would find
    /// anything: bytes left unread, or the end of the stream still to report. A reader that
    /// takes a request and answers it (the common case of a server) learns from the same call
    /// that the buffer is empty, instead of calling again to get `Ok(0)`.
    pub fn tcp_read_again(
        &mut self,
        h: TcpHandle,
        read: impl FnOnce(&[u8], &[u8]) -> usize,
    ) -> Result<(usize, bool), TcpError> {
        self.touch_data(h.0, |s, t| {
            let (a, b) = s.conn.recv_slices(t.pool);
            if a.is_empty() && s.conn.recv_finished() {
                return Err(TcpError::Finished);
            }
            let avail = a.len() + b.len();
            let n = read(a, b).min(avail);
            let n = s.conn.recv_consume(t.pool, n);
            t.transmit = n > 0;
            let again = s.conn.recv_queue_len() > 0 || s.conn.recv_finished();
            Ok((n, again))
        })
        .ok_or(TcpError::InvalidHandle)?
    }

    /// In-order bytes ready to read.
    pub fn tcp_recv_queue_len(&self, h: TcpHandle) -> usize {
        self.flows.get(h.0).map_or(0, |s| s.conn.recv_queue_len())
    }

    /// Bytes queued for sending and not yet acknowledged (sent or not): `SIOCOUTQ`.
    pub fn tcp_send_queue_len(&self, h: TcpHandle) -> usize {
        self.flows.get(h.0).map_or(0, |s| s.conn.send_queue_len())
    }

    /// Whether the peer closed its side and every byte was read.
    pub fn tcp_recv_finished(&self, h: TcpHandle) -> bool {
        self.flows.get(h.0).is_none_or(|s| s.conn.recv_finished())
    }

    // ----- closing -----

    /// Orderly close (RFC 9293 §3.10.4): a FIN follows queued data. With unread received data
    /// the connection is reset instead (RFC 1122 §4.2.2.13). The handle stays valid until the
    /// connection is freed; `Closed` is its last event.
    pub fn tcp_close(&mut self, h: TcpHandle) -> Result<(), TcpError> {
        let full = self.orphans >= self.max_orphans;
        self.touch(h.0, true, |s, t| {
            s.closing.shut_write();
            if s.closing.close_by_app() {
                return;
            }
            if full && s.conn.state().is_synchronized() {
                // Linux `tcp_close` with too many orphans: reset instead of finishing.
                t.counters.orphans_aborted += 1;
                s.conn.abort();
            } else {
                s.conn.close();
            }
        })
        .ok_or(TcpError::InvalidHandle)
    }

    /// Half-close: no more sending (FIN after queued data); receiving goes on.
    pub fn tcp_shutdown_write(&mut self, h: TcpHandle) -> Result<(), TcpError> {
        self.touch(h.0, true, |s, _| {
            s.closing.shut_write();
            s.conn.shutdown_write();
        })
        .ok_or(TcpError::InvalidHandle)
    }

    /// Abortive close: a RST if the peer knows of us, and the connection is freed once it is
    /// sent (RFC 9293 §3.10.5).
    pub fn tcp_abort(&mut self, h: TcpHandle) -> Result<(), TcpError> {
        self.touch(h.0, true, |s, _| {
            s.closing.shut_write();
            s.conn.abort();
        })
        .ok_or(TcpError::InvalidHandle)
    }

    // ----- inspection and options -----

    /// The connection's state; a freed (or never valid) handle reads as `Closed`.
    pub fn tcp_state(&self, h: TcpHandle) -> State {
        self.flows.get(h.0).map_or(State::Closed, |s| s.conn.state())
    }

    /// A `TCP_INFO`-like snapshot.
    pub fn tcp_info(&self, h: TcpHandle) -> Result<TcpInfo, TcpError> {
        self.flows.get(h.0).map(|s| s.conn.info()).ok_or(TcpError::InvalidHandle)
    }

    /// The send and receive buffer sizes in force (auto-tuned unless fixed), bytes.
    pub fn tcp_buffers(&self, h: TcpHandle) -> Result<(usize, usize), TcpError> {
        self.flows
            .get(h.0)
            .map(|s| (s.conn.send_buffer(), s.conn.recv_buffer()))
            .ok_or(TcpError::InvalidHandle)
    }

    /// Local and remote addresses.
    pub fn tcp_endpoints(&self, h: TcpHandle) -> Result<(SocketAddrV4, SocketAddrV4), TcpError> {
        self.flows
            .get(h.0)
            .map(|s| (s.conn.local(), s.conn.remote()))
            .ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_NODELAY`.
    pub fn tcp_set_nodelay(&mut self, h: TcpHandle, nodelay: bool) -> Result<(), TcpError> {
        self.touch(h.0, true, |s, _| s.conn.set_nodelay(nodelay)).ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): how long sent data may stay unacknowledged.
    pub fn tcp_set_user_timeout(
        &mut self,
        h: TcpHandle,
        timeout: Option<crate::time::Duration>,
    ) -> Result<(), TcpError> {
        self.touch(h.0, false, |s, _| s.conn.set_user_timeout(timeout))
            .ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_NOTSENT_LOWAT`: how many unsent bytes may queue before writes stop (`tcp::lowat`;
    /// `u32::MAX` for no limit).
    pub fn tcp_set_notsent_lowat(&mut self, h: TcpHandle, lowat: u32) -> Result<(), TcpError> {
        self.touch(h.0, false, |s, _| s.conn.set_notsent_lowat(lowat))
            .ok_or(TcpError::InvalidHandle)
    }

    /// Whether a writer polling `h` would be woken: send room, and unsent bytes under half
    /// the `TCP_NOTSENT_LOWAT` limit if one is set (Linux `tcp_poll`).
    pub fn tcp_writable(&self, h: TcpHandle) -> bool {
        self.flows.get(h.0).is_some_and(|s| s.conn.writable(&self.buffers))
    }

    /// `TCP_CORK`: short segments wait until it is lifted (`tcp::push`).
    pub fn tcp_set_cork(&mut self, h: TcpHandle, on: bool) -> Result<(), TcpError> {
        self.touch(h.0, true, |s, _| s.conn.set_cork(on)).ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_QUICKACK` (Linux's quick-ACK and interactive modes, `tcp::quickack`).
    pub fn tcp_set_quickack(&mut self, h: TcpHandle, on: bool) -> Result<(), TcpError> {
        self.touch(h.0, true, |s, _| s.conn.set_quickack(on)).ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_QUICKACK` read back: whether received data is being acknowledged at once.
    pub fn tcp_quickack(&self, h: TcpHandle) -> Result<bool, TcpError> {
        self.flows.get(h.0).map(|s| s.conn.quickack()).ok_or(TcpError::InvalidHandle)
    }

    /// `SO_KEEPALIVE`.
    pub fn tcp_set_keepalive(&mut self, h: TcpHandle, on: bool) -> Result<(), TcpError> {
        self.touch(h.0, false, |s, _| s.conn.set_keepalive(on)).ok_or(TcpError::InvalidHandle)
    }

    /// `TCP_KEEPIDLE`, `TCP_KEEPINTVL`, `TCP_KEEPCNT` on an open connection.
    pub fn tcp_set_keepalive_params(
        &mut self,
        h: TcpHandle,
        idle: crate::time::Duration,
        interval: crate::time::Duration,
        count: u8,
    ) -> Result<(), TcpError> {
        self.touch(h.0, false, |s, _| s.conn.set_keepalive_params(idle, interval, count))
            .ok_or(TcpError::InvalidHandle)
    }

    // ----- UDP, passed through to the interface -----

    /// Binds a UDP socket (both families).
    pub fn udp_bind(&mut self, port: u16) -> Result<UdpHandle, BindError> {
        self.iface.udp_bind(port)
    }

    /// Binds a UDP socket for the families `scope` names (see `iface::UdpScope`).
    pub fn udp_bind_scoped(
        &mut self,
        port: u16,
        scope: crate::iface::UdpScope,
    ) -> Result<UdpHandle, BindError> {
        self.iface.udp_bind_scoped(port, scope)
    }

    /// Closes a UDP socket.
    pub fn udp_unbind(&mut self, socket: UdpHandle) -> bool {
        self.iface.udp_unbind(socket)
    }

    /// Queues a datagram to an IPv4 or IPv6 address (a `(Ipv4Addr, u16)` pair converts); it
    /// leaves with the next `poll_transmit`.
    pub fn udp_send_to(
        &mut self,
        now: Instant,
        socket: UdpHandle,
        dst: impl Into<std::net::SocketAddr>,
        payload: &[u8],
    ) -> Result<(), SendError> {
        self.iface.udp_send_to(now, socket, dst, payload)
    }

    /// The oldest datagram queued on `socket` and its sender, of either family (stays queued
    /// until `udp_consume`).
    pub fn udp_recv_from(&self, socket: UdpHandle) -> Option<(std::net::SocketAddr, &[u8])> {
        self.iface.udp_recv_from(socket)
    }

    /// Releases the oldest datagram of `socket`.
    pub fn udp_consume(&mut self, socket: UdpHandle) -> bool {
        self.iface.udp_consume(socket)
    }

    /// The next UDP socket that received datagrams since it was last returned here: the UDP
    /// readable event. Edge-triggered (as `EPOLLET`): read the socket until `udp_recv_from`
    /// is `None`, since the next event for it comes only with its next datagram.
    #[inline]
    pub fn udp_poll_readable(&mut self) -> Option<UdpHandle> {
        self.iface.udp_poll_readable()
    }
}

/// Whether `s` may still queue data: from SYN-SENT on (the data waits for the handshake),
/// until writing was shut down or the connection is closing.
fn writable(s: &Socket) -> bool {
    let open = matches!(
        s.conn.state(),
        State::SynSent | State::SynReceived | State::Established | State::CloseWait
    );
    open && !s.closing.write_shut()
}
