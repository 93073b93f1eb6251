//! The endpoint: every connection of one UDP socket, found by connection id, and the
//! stateless half of the handshake.
//!
//! Calling convention (as quinn-proto's): feed each received datagram to
//! [`Endpoint::handle`]; when [`Endpoint::poll_timeout`] has passed, call
//! [`Endpoint::handle_timeout`]; take events with [`Endpoint::poll_event`] (taking a message
//! frees its bytes in the flow-control window); queue messages with [`Endpoint::send`]; then
//! drain [`Endpoint::poll_transmit`] until it returns `None`. `now` is always an argument.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;

use super::auth::{PacketKey, TAG_LEN};
use super::config::Config;
use super::connection::{Connection, ConnectionStats, Event, State};
use super::send::SendError;
use super::token::TokenKey;
use super::wire::{
    initial_parts, ConnectionId, Header, Packet, PacketType, PacketWriter, HEADER_LEN,
    INITIAL_MIN_LEN, TOKEN_LEN,
};
use crate::time::{Duration, Instant};
use crate::wheel::TimerWheel;

/// Endpoint counters: every datagram not handed to a connection is counted here by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EndpointStats {
    pub datagrams_received: u64,
    /// Not a packet (short header, unknown type, bad token field).
    pub malformed: u64,
    /// Initials shorter than [`INITIAL_MIN_LEN`].
    pub initials_too_short: u64,
    /// Initials received while not accepting connections.
    pub initials_not_accepted: u64,
    pub retries_sent: u64,
    /// Initials dropped because the Retry backlog was full.
    pub retries_dropped: u64,
    /// Initials whose token failed the MAC or had expired.
    pub invalid_tokens: u64,
    /// Initials refused because `max_connections` were open.
    pub connection_limit: u64,
    pub connections_accepted: u64,
    pub connections_opened: u64,
    /// Packets for no connection we have (or from another address than the connection's).
    pub unknown_connection: u64,
    /// Packets for a connection whose tag failed ([`auth`](super::auth)): forged, or
    /// corrupted on the way. Dropped before anything in them was looked at.
    pub unauthenticated: u64,
}

#[derive(Clone, Copy, Debug)]
struct PendingRetry {
    remote: SocketAddr,
    client_cid: ConnectionId,
    token: [u8; TOKEN_LEN],
    /// The key the Initial carried: the Retry is sealed with it, so that only the server
    /// the Initial reached can send the client a Retry.
    key: PacketKey,
}

/// Why `connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectError {
    /// `max_connections` are open.
    TooManyConnections,
}

/// The sans-IO endpoint.
#[derive(Debug)]
pub struct Endpoint {
    config: Config,
    key: TokenKey,
    connections: HashMap<ConnectionId, Connection>,
    /// One entry per connection: its earliest deadline.
    timers: TimerWheel<ConnectionId>,
    /// Connections that may have something to send, each at most once.
    transmit: VecDeque<ConnectionId>,
    /// Stateless Retries to send (bounded by `max_pending_retries`).
    retries: VecDeque<PendingRetry>,
    events: VecDeque<Event>,
    /// Connections whose timers fired, reused by `handle_timeout`.
    expired: Vec<ConnectionId>,
    opened: u64,
    stats: EndpointStats,
}

/// Timer-wheel granularity: finer than any RTO, coarse enough for few cascades.
const TIMER_TICK: Duration = Duration::from_millis(1);

impl Endpoint {
    /// An endpoint with `config`, keyed by `key` (128 secret random bits from the caller:
    /// Retry tokens and connection ids derive from it), starting at `now`.
    pub fn new(config: Config, key: [u8; 16], now: Instant) -> Self {
        let config = config.sanitized();
        Endpoint {
            retries: VecDeque::with_capacity(config.max_pending_retries),
            config,
            key: TokenKey::new(key),
            connections: HashMap::new(),
            timers: TimerWheel::new(now, TIMER_TICK),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            expired: Vec::new(),
            opened: 0,
            stats: EndpointStats::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Connections held (in any state).
    pub fn connection_count(&self) -> usize {
        self.connections.len()
    }

    /// A connection, to read its state and counters.
    pub fn connection(&self, id: ConnectionId) -> Option<&Connection> {
        self.connections.get(&id)
    }

    /// A connection's counters.
    pub fn connection_stats(&self, id: ConnectionId) -> Option<ConnectionStats> {
        self.connections.get(&id).map(Connection::stats)
    }

    /// Bytes of bookkeeping the endpoint holds apart from its connections: what a flood of
    /// Initials could grow (it cannot: see the module tests).
    pub fn overhead_bytes(&self) -> usize {
        self.connections.capacity() * core::mem::size_of::<(ConnectionId, Connection)>()
            + self.retries.capacity() * core::mem::size_of::<PendingRetry>()
            + self.transmit.capacity() * core::mem::size_of::<ConnectionId>()
            + self.events.capacity() * core::mem::size_of::<Event>()
            + self.timers.len() * core::mem::size_of::<ConnectionId>()
    }

    /// Opens a connection to `remote`; its id is the handle. `Event::Connected` follows.
    pub fn connect(
        &mut self,
        now: Instant,
        remote: SocketAddr,
    ) -> Result<ConnectionId, ConnectError> {
        if self.connections.len() >= self.config.max_connections {
            return Err(ConnectError::TooManyConnections);
        }
        let mut cid = self.key.client_cid(self.opened);
        while self.connections.contains_key(&cid) {
            self.opened += 1;
            cid = self.key.client_cid(self.opened);
        }
        let key = self.key.packet_key(self.opened);
        self.opened += 1;
        self.stats.connections_opened += 1;
        let conn = Connection::client(now, &self.config, cid, remote, key);
        self.connections.insert(cid, conn);
        self.after(cid, now, true);
        Ok(cid)
    }

    /// Queues a message on a connection; ordered ones are delivered in the order sent,
    /// unordered ones as soon as complete. Returns the message's id among its kind.
    pub fn send(
        &mut self,
        now: Instant,
        id: ConnectionId,
        data: &[u8],
        ordered: bool,
    ) -> Result<u64, SendError> {
        let conn = self.connections.get_mut(&id).ok_or(SendError::UnknownConnection)?;
        let r = conn.send(data, ordered);
        self.after(id, now, true);
        r
    }

    /// Closes a connection gracefully: queued messages are delivered first, then a CLOSE;
    /// `Event::Closed` follows.
    pub fn close(&mut self, now: Instant, id: ConnectionId) {
        if let Some(conn) = self.connections.get_mut(&id) {
            conn.close(now, &mut self.events);
            self.after(id, now, true);
        }
    }

    /// The next event. Taking a message frees its bytes in the receive window.
    pub fn poll_event(&mut self) -> Option<Event> {
        let ev = self.events.pop_front()?;
        if let Event::Message(id, m) = &ev {
            if let Some(conn) = self.connections.get_mut(id) {
                conn.release(m.start, m.data.len() as u64);
                if !conn.queued {
                    conn.queued = true;
                    self.transmit.push_back(*id);
                }
            }
        }
        Some(ev)
    }

    /// Handles one received UDP datagram from `remote`.
    pub fn handle(&mut self, now: Instant, remote: SocketAddr, datagram: &[u8]) {
        self.stats.datagrams_received += 1;
        let Ok(packet) = Packet::new_checked(datagram) else {
            self.stats.malformed += 1;
            return;
        };
        let header = Header::parse(&packet);
        if header.packet_type == PacketType::Initial {
            self.handle_initial(now, remote, &header, datagram);
            return;
        }
        let Some(conn) = self.connections.get_mut(&header.dst_cid) else {
            self.stats.unknown_connection += 1;
            return;
        };
        if conn.remote() != remote {
            self.stats.unknown_connection += 1;
            return;
        }
        // Nothing of a packet is used before its tag is checked.
        let Some(body) = conn.key().open(datagram) else {
            self.stats.unauthenticated += 1;
            return;
        };
        let payload = &body[HEADER_LEN..];
        match header.packet_type {
            PacketType::Retry => conn.on_retry(now, payload),
            _ => conn.handle(now, &header, payload, &mut self.events),
        }
        self.after(header.dst_cid, now, true);
    }

    /// The server's half of the handshake. Without a valid token nothing is allocated: the
    /// answer is a Retry whose token is checked when the client comes back.
    fn handle_initial(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        header: &Header,
        datagram: &[u8],
    ) {
        if !self.config.accept_incoming {
            self.stats.initials_not_accepted += 1;
            return;
        }
        if datagram.len() < INITIAL_MIN_LEN {
            self.stats.initials_too_short += 1;
            return;
        }
        // The key is in the Initial itself, so its tag only proves the bytes arrived as the
        // client sent them; what proves the client is the token (and, for a Retry, that it
        // can read what is sent to its address).
        let unchecked = &datagram[HEADER_LEN..datagram.len() - TAG_LEN];
        let Ok(key) = initial_parts(unchecked).map(|i| PacketKey::new(i.key)) else {
            self.stats.malformed += 1;
            return;
        };
        let Some(parts) = key.open(datagram).and_then(|b| initial_parts(&b[HEADER_LEN..]).ok())
        else {
            self.stats.malformed += 1;
            return;
        };
        let (token, frames) = (parts.token, parts.frames);
        let client_cid = header.src_cid;
        if token.is_empty() {
            if self.retries.len() >= self.config.max_pending_retries {
                self.stats.retries_dropped += 1;
                return;
            }
            let token = self.key.make(now, remote, client_cid);
            self.retries.push_back(PendingRetry { remote, client_cid, token, key });
            return;
        }
        if !self.key.check(now, remote, client_cid, token) {
            self.stats.invalid_tokens += 1;
            return;
        }
        // The id is a keyed hash of (address, client id): a repeated Initial (the client
        // did not hear our Accept, or the network duplicated it) finds the same connection.
        let mut slot = None;
        for attempt in 0..4 {
            let cid = self.key.server_cid(remote, client_cid, attempt);
            match self.connections.get(&cid) {
                Some(c) if c.matches(remote, client_cid, &key) => {
                    slot = Some((cid, false));
                    break;
                }
                Some(_) => continue,
                None => {
                    slot = Some((cid, true));
                    break;
                }
            }
        }
        let Some((cid, fresh)) = slot else {
            self.stats.connection_limit += 1;
            return;
        };
        if fresh {
            if self.connections.len() >= self.config.max_connections {
                self.stats.connection_limit += 1;
                return;
            }
            let mut conn = Connection::server(now, &self.config, cid, client_cid, remote, key);
            if let Some(issued) = TokenKey::issued(token) {
                conn.on_token_rtt(now.saturating_duration_since(issued));
            }
            self.connections.insert(cid, conn);
            self.stats.connections_accepted += 1;
            self.events.push_back(Event::Accepted(cid));
        }
        if let Some(conn) = self.connections.get_mut(&cid) {
            conn.handle(now, header, frames, &mut self.events);
        }
        self.after(cid, now, true);
    }

    /// After anything touched connection `id`: drop it if closed, re-arm its timer, and
    /// (with `requeue`) queue it for transmission if it has something to send. A connection
    /// that just failed to produce a packet is not re-queued, or `poll_transmit` could spin.
    fn after(&mut self, id: ConnectionId, now: Instant, requeue: bool) {
        let Some(conn) = self.connections.get_mut(&id) else { return };
        if conn.is_closed() {
            if let Some((h, _)) = conn.timer.take() {
                self.timers.cancel(h);
            }
            self.connections.remove(&id);
            return;
        }
        let deadline = conn.next_deadline(now);
        if conn.timer.map(|(_, d)| d) != deadline {
            if let Some((h, _)) = conn.timer.take() {
                self.timers.cancel(h);
            }
            conn.timer = deadline.map(|d| (self.timers.arm(d, id), d));
        }
        if requeue && !conn.queued && conn.wants_to_send(now) {
            conn.queued = true;
            self.transmit.push_back(id);
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) is next needed (a lower bound).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next_deadline()
    }

    /// Runs the timers due by `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        // Collect first: a connection re-armed for `now` must not fire twice in one call.
        let mut expired = core::mem::take(&mut self.expired);
        while let Some((_, id)) = self.timers.pop_expired(now) {
            if let Some(conn) = self.connections.get_mut(&id) {
                conn.timer = None;
            }
            expired.push(id);
        }
        for &id in &expired {
            if let Some(conn) = self.connections.get_mut(&id) {
                conn.on_timeout(now, &mut self.events);
            }
            self.after(id, now, true);
        }
        expired.clear();
        self.expired = expired;
    }

    /// Writes the next datagram into `buf` (at least `max_datagram` bytes long for full
    /// packets); returns where to send it and its length.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<(SocketAddr, usize)> {
        if let Some(r) = self.retries.pop_front() {
            self.stats.retries_sent += 1;
            let header = Header {
                packet_type: PacketType::Retry,
                dst_cid: r.client_cid,
                src_cid: ConnectionId(0),
                number: 0,
            };
            if let Some(mut w) = PacketWriter::new(buf, &header) {
                if w.push_bytes(&r.token) {
                    return Some((r.remote, w.finish(&r.key)));
                }
            }
        }
        while let Some(id) = self.transmit.pop_front() {
            let Some(conn) = self.connections.get_mut(&id) else { continue };
            conn.queued = false;
            let out = conn.poll_transmit(now, buf).map(|len| (conn.remote(), len));
            // The state may have changed (a probe taken, a close written): re-arm and
            // re-queue if more is waiting.
            self.after(id, now, out.is_some());
            if out.is_some() {
                return out;
            }
        }
        None
    }

    /// Whether connection `id` is established (and not closing).
    pub fn is_established(&self, id: ConnectionId) -> bool {
        self.connections.get(&id).is_some_and(|c| c.state() == State::Established)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rudp::token::TOKEN_LIFETIME;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    /// Moves every datagram `from` has to `to`, returning how many.
    fn pump(from: &mut Endpoint, to: &mut Endpoint, from_addr: SocketAddr, now: Instant) -> usize {
        let mut buf = [0u8; 1500];
        let mut n = 0;
        while let Some((_, len)) = from.poll_transmit(now, &mut buf) {
            to.handle(now, from_addr, &buf[..len]);
            n += 1;
        }
        n
    }

    const T: Instant = Instant::from_millis(100);

    /// A client and a server endpoint, the client connecting: the Initial without a token
    /// gets a Retry (the server allocating nothing), and the client's next Initial, which
    /// carries the token, is returned undelivered.
    fn retried_initial() -> (Endpoint, Endpoint, ConnectionId, Vec<u8>) {
        let (ca, sa) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
        let mut client = Endpoint::new(Config::default(), [1; 16], T);
        let mut server = Endpoint::new(Config::default(), [2; 16], T);
        let id = client.connect(T, sa).unwrap();
        let mut buf = [0u8; 1500];
        let (to, len) = client.poll_transmit(T, &mut buf).unwrap();
        assert_eq!((to, len), (sa, INITIAL_MIN_LEN));
        server.handle(T, ca, &buf[..len]);
        assert_eq!(server.connection_count(), 0);
        let (to, rlen) = server.poll_transmit(T, &mut buf).unwrap();
        assert_eq!(to, ca);
        assert!(rlen <= len, "the Retry is no larger than the Initial");
        client.handle(T, sa, &buf[..rlen]);
        let (_, len) = client.poll_transmit(T, &mut buf).unwrap();
        (client, server, id, buf[..len].to_vec())
    }

    #[test]
    fn handshake_trace_with_retry_and_a_duplicated_initial() {
        let (ca, sa) = (addr("10.0.0.1:1000"), addr("10.0.0.2:2000"));
        let t = T;
        let (mut client, mut server, id, initial) = retried_initial();
        // Initial with token, delivered twice: one connection.
        server.handle(t, ca, &initial);
        server.handle(t, ca, &initial);
        assert_eq!(server.connection_count(), 1);
        assert_eq!(server.stats().connections_accepted, 1);
        let accepted = match server.poll_event() {
            Some(Event::Accepted(c)) => c,
            e => panic!("{e:?}"),
        };
        assert!(server.poll_event().is_none());
        // Accept -> Connected.
        assert!(pump(&mut server, &mut client, sa, t) >= 1);
        assert_eq!(client.poll_event(), Some(Event::Connected(id)));
        assert_eq!(client.connection(id).unwrap().remote_id(), accepted);
        // A message goes through.
        client.send(t, id, b"hello", true).unwrap();
        pump(&mut client, &mut server, ca, t);
        match server.poll_event() {
            Some(Event::Message(c, m)) => {
                assert_eq!((c, m.data.as_slice()), (accepted, &b"hello"[..]))
            }
            e => panic!("{e:?}"),
        }
    }

    #[test]
    fn expired_or_foreign_tokens_open_nothing() {
        let (ca, t) = (addr("10.0.0.1:1000"), T);
        let (_client, mut server, _, initial) = retried_initial();
        // From another address, or too late: refused and counted.
        server.handle(t, addr("10.0.0.9:1000"), &initial);
        let late = t + TOKEN_LIFETIME + Duration::from_millis(1);
        server.handle(late, ca, &initial);
        assert_eq!(server.stats().invalid_tokens, 2);
        assert_eq!(server.connection_count(), 0);
        // In time and from the right address: accepted.
        server.handle(t + TOKEN_LIFETIME, ca, &initial);
        assert_eq!(server.connection_count(), 1);
    }
}
