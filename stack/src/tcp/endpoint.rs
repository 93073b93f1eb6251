//! A [`Connection`] with a chunk pool of its own, for tools, simulations and tests that drive
//! one connection without a [`Stack`](crate::stack::Stack).
//!
//! The stack keeps one pool for all its connections and lends it to every call that touches
//! bytes; an `Endpoint` does the same with its private pool, so its methods take the
//! arguments a connection took before buffers moved into pools. Everything else (state,
//! timers, events, `info`) is the connection's own, reached through `Deref`. Like the stack,
//! it gives a finished connection's chunks back after every call.

use core::ops::{Deref, DerefMut};
use std::net::SocketAddrV4;

use super::chunk::ChunkPool;
use super::connection::{Connection, ConnectionParams, CookieOptions, Open, SegmentVerdict};
use super::segment::{IpEcn, Segment, Transmit};
use super::{SeqNumber, TcpConfig};
use crate::time::Instant;

/// A connection and its own chunk pool: the stack's calling convention without a stack.
#[derive(Debug)]
pub struct Endpoint {
    conn: Connection,
    pool: ChunkPool,
}

/// The connection the three opening constructors make, with its own copy of `config` (an
/// endpoint shares it with no other connection).
fn opened(
    now: Instant,
    config: TcpConfig,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    iss: SeqNumber,
    open: Open<'_, '_>,
) -> Connection {
    Connection::new(ConnectionParams { now, config: config.into(), local, remote, iss, open })
}

impl Endpoint {
    /// Wraps `conn` with `pool`.
    pub fn new(conn: Connection, pool: ChunkPool) -> Self {
        Endpoint { conn, pool }
    }

    /// An active open ([`Open::Active`]) with an unbounded pool.
    pub fn connect(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
    ) -> Self {
        let conn = opened(now, config, local, remote, iss, Open::Active);
        Endpoint::new(conn, ChunkPool::unbounded())
    }

    /// A passive open ([`Open::Syn`]) with an unbounded pool.
    pub fn accept_syn(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        syn: &Segment<'_>,
    ) -> Self {
        let open = Open::Syn(syn);
        let conn = opened(now, config, local, remote, iss, open);
        Endpoint::new(conn, ChunkPool::unbounded())
    }

    /// A connection from a SYN cookie ([`Open::Cookie`]) with an unbounded pool.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        options: CookieOptions,
        ack: &Segment<'_>,
    ) -> Self {
        let mut pool = ChunkPool::unbounded();
        let open = Open::Cookie { options, ack, pool: &mut pool };
        let conn = opened(now, config, local, remote, iss, open);
        Endpoint::new(conn, pool)
    }

    /// The pool.
    pub fn pool(&self) -> &ChunkPool {
        &self.pool
    }

    /// The connection and the pool, apart.
    pub fn parts(&mut self) -> (&mut Connection, &mut ChunkPool) {
        (&mut self.conn, &mut self.pool)
    }

    fn settle(&mut self) {
        self.conn.release_buffers(&mut self.pool);
    }

    /// [`Connection::on_segment`].
    pub fn on_segment(&mut self, now: Instant, seg: &Segment<'_>) -> SegmentVerdict {
        let v = self.conn.on_segment(now, seg, &mut self.pool);
        self.settle();
        v
    }

    /// [`Connection::on_segment_ecn`].
    pub fn on_segment_ecn(
        &mut self,
        now: Instant,
        seg: &Segment<'_>,
        ecn: IpEcn,
    ) -> SegmentVerdict {
        let v = self.conn.on_segment_ecn(now, seg, ecn, &mut self.pool);
        self.settle();
        v
    }

    /// [`Connection::on_timeout`].
    pub fn on_timeout(&mut self, now: Instant) {
        self.conn.on_timeout(now);
        self.settle();
    }

    /// [`Connection::poll_transmit`].
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Transmit<'_>> {
        self.conn.poll_transmit(now, &mut self.pool)
    }

    /// [`Connection::send`].
    pub fn send(&mut self, data: &[u8]) -> usize {
        self.conn.send(&mut self.pool, data)
    }

    /// [`Connection::send_with`].
    pub fn send_with(&mut self, data: &[u8], flags: super::SendFlags) -> usize {
        self.conn.send_with(&mut self.pool, data, flags)
    }

    /// [`Connection::send_space`].
    pub fn send_space(&self) -> usize {
        self.conn.send_space(&self.pool)
    }

    /// [`Connection::send_slices`].
    pub fn send_slices(&mut self) -> &mut [u8] {
        self.conn.send_slices(&mut self.pool)
    }

    /// [`Connection::send_commit`].
    pub fn send_commit(&mut self, n: usize) -> usize {
        self.conn.send_commit(&mut self.pool, n)
    }

    /// [`Connection::recv`].
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        self.conn.recv(&mut self.pool, out)
    }

    /// [`Connection::recv_slices`].
    pub fn recv_slices(&self) -> (&[u8], &[u8]) {
        self.conn.recv_slices(&self.pool)
    }

    /// [`Connection::recv_consume`].
    pub fn recv_consume(&mut self, n: usize) -> usize {
        let n = self.conn.recv_consume(&mut self.pool, n);
        self.settle();
        n
    }

    /// [`Connection::close`].
    pub fn close(&mut self) {
        self.conn.close();
        self.settle();
    }

    /// [`Connection::abort`].
    pub fn abort(&mut self) {
        self.conn.abort();
        self.settle();
    }
}

impl Deref for Endpoint {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        &self.conn
    }
}

impl DerefMut for Endpoint {
    fn deref_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }
}
