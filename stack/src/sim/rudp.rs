//! Two [`rudp::Endpoint`](crate::rudp::Endpoint)s joined by two seeded [`Link`]s, driven in
//! virtual time (as [`Pair`](super::Pair) drives two stacks). The links carry the UDP
//! payloads as they are: `rudp` sits on UDP, and the impairments of interest (loss,
//! reordering, duplication, delay, a bounded queue) do not depend on the headers below it.

use std::net::SocketAddr;

use super::link::{Link, LinkConfig};
use crate::rudp::auth::{PacketKey, TAG_LEN};
use crate::rudp::wire::{PacketType, HEADER_LEN};
use crate::rudp::{Config, ConnectionId, Endpoint, Event};
use crate::time::{Duration, Instant};

/// A's UDP address.
pub const RUDP_ADDR_A: SocketAddr =
    SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 1), 40_000));
/// B's UDP address.
pub const RUDP_ADDR_B: SocketAddr =
    SocketAddr::V4(std::net::SocketAddrV4::new(std::net::Ipv4Addr::new(10, 0, 0, 2), 50_000));

/// Which endpoint of a [`RudpPair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RudpSide {
    A,
    B,
}

/// Two endpoints over two links.
#[derive(Debug)]
pub struct RudpPair {
    pub a: Endpoint,
    pub b: Endpoint,
    pub a_to_b: Link,
    pub b_to_a: Link,
    pub now: Instant,
    /// Whether B's application takes its events (false: B's messages pile up unread, as
    /// with a stalled reader, and flow control must hold A back).
    pub b_reads: bool,
    buf: Vec<u8>,
}

impl RudpPair {
    /// A pair whose links both have `link` (each its own seed derived from `seed`); both
    /// endpoints use `config` and accept connections.
    pub fn new(config: Config, link: LinkConfig, seed: u64) -> Self {
        let now = Instant::from_millis(1);
        let mut key_a = [0xa5; 16];
        let mut key_b = [0x5b; 16];
        key_a[..8].copy_from_slice(&seed.to_le_bytes());
        key_b[8..].copy_from_slice(&seed.to_le_bytes());
        RudpPair {
            a: Endpoint::new(config.clone(), key_a, now),
            b: Endpoint::new(config, key_b, now),
            a_to_b: Link::new(link, seed.wrapping_mul(2).wrapping_add(1)),
            b_to_a: Link::new(link, seed.wrapping_mul(2).wrapping_add(2)),
            now,
            b_reads: true,
            buf: vec![0; 65_536],
        }
    }

    /// Moves everything that can move at `now` (transmissions, deliveries, due timers),
    /// handing each event to `on_event`, then advances `now` to the next thing that
    /// happens, at most to `limit`. Returns false once `limit` is reached.
    pub fn step(
        &mut self,
        limit: Instant,
        on_event: &mut impl FnMut(&mut RudpPair, RudpSide, Event),
    ) -> bool {
        loop {
            let mut moved = false;
            while let Some(e) = self.a.poll_event() {
                on_event(self, RudpSide::A, e);
                moved = true;
            }
            while self.b_reads {
                let Some(e) = self.b.poll_event() else { break };
                on_event(self, RudpSide::B, e);
                moved = true;
            }
            while let Some((to, len)) = self.a.poll_transmit(self.now, &mut self.buf) {
                debug_assert_eq!(to, RUDP_ADDR_B);
                self.a_to_b.send(self.now, &self.buf[..len]);
                moved = true;
            }
            while let Some((to, len)) = self.b.poll_transmit(self.now, &mut self.buf) {
                debug_assert_eq!(to, RUDP_ADDR_A);
                self.b_to_a.send(self.now, &self.buf[..len]);
                moved = true;
            }
            while let Some(d) = self.a_to_b.deliver(self.now) {
                self.b.handle(self.now, RUDP_ADDR_A, &d);
                moved = true;
            }
            while let Some(d) = self.b_to_a.deliver(self.now) {
                self.a.handle(self.now, RUDP_ADDR_B, &d);
                moved = true;
            }
            // Timers may queue output and events: go round again after them.
            if self.a.poll_timeout().is_some_and(|t| t <= self.now) {
                self.a.handle_timeout(self.now);
                moved = true;
            }
            if self.b.poll_timeout().is_some_and(|t| t <= self.now) {
                self.b.handle_timeout(self.now);
                moved = true;
            }
            if !moved {
                break;
            }
        }
        let next = super::earliest([
            self.a_to_b.next_delivery(),
            self.b_to_a.next_delivery(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ]);
        // The timer wheel's deadline is a lower bound: never stand still.
        let next = next.unwrap_or(limit).max(self.now + Duration::from_micros(100));
        self.now = next.min(limit);
        self.now < limit
    }
}

/// Two established endpoints over clean 1 ms links: the pair and both connection ids.
fn established() -> Result<(RudpPair, ConnectionId, ConnectionId), String> {
    let link = LinkConfig { delay: Duration::from_millis(1), ..LinkConfig::default() };
    let mut p = RudpPair::new(Config::default(), link, 1);
    let ca = p.a.connect(p.now, RUDP_ADDR_B).map_err(|e| format!("{e:?}"))?;
    let mut cb = None;
    let limit = p.now + Duration::from_secs(5);
    while !p.a.is_established(ca) || cb.is_none() {
        let more = p.step(limit, &mut |_, _, ev| {
            if let Event::Accepted(c) = ev {
                cb = Some(c);
            }
        });
        if !more {
            return Err("no handshake on a clean link".into());
        }
    }
    Ok((p, ca, cb.ok_or("no Accepted")?))
}

/// Neither side of `p` holds more than its receive window.
fn within_window(p: &RudpPair, ca: ConnectionId, cb: ConnectionId) -> Result<(), String> {
    let window = Config::default().receive_window;
    for (side, ep, c) in [("A", &p.a, ca), ("B", &p.b, cb)] {
        if let Some(conn) = ep.connection(c) {
            if conn.receive_buffered() > window {
                return Err(format!("{side} holds {} bytes", conn.receive_buffered()));
            }
        }
    }
    Ok(())
}

/// The body shared by the `rudp_peer` fuzz target and the `rudp_hostile_datagrams` property
/// test. `data` is cut into datagrams (2-byte length prefixes), dealt in turn:
///
/// - as they are, to both endpoints of an established pair;
/// - forged for that pair's live connection (type Data, the right id, so only the tag
///   stops them), to both;
/// - sealed with a second pair's real connection key, to both of its endpoints: the peer
///   itself misbehaving, so that the frame parser and the state machine behind the tag are
///   fuzzed too.
///
/// Then: neither pair holds more than its receive window; the first pair, which saw only
/// what an outsider can send, is still established and carries a message each way; the
/// second runs on (it may have been closed or stalled by its "peer") without a panic.
/// Returns what broke, if anything.
pub fn hostile_datagrams(data: &[u8]) -> Result<(), String> {
    let (mut p, ca, cb) = established()?;
    let (mut q, qa, qb) = established()?;
    let mut rest = data;
    let mut i = 0u32;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]])) % 1500;
        rest = &rest[2..];
        let mut d = rest[..len.min(rest.len())].to_vec();
        rest = &rest[len.min(rest.len())..];
        i += 1;
        match i % 3 {
            1 if d.len() >= HEADER_LEN => {
                d[0] = PacketType::Data as u8;
                d[1..5].copy_from_slice(&ca.0.to_be_bytes());
                p.a.handle(p.now, RUDP_ADDR_B, &d);
                d[1..5].copy_from_slice(&cb.0.to_be_bytes());
                p.b.handle(p.now, RUDP_ADDR_A, &d);
            }
            2 if d.len() >= HEADER_LEN => {
                let key = *q.a.connection(qa).ok_or("A's connection is gone")?.key();
                d[1..5].copy_from_slice(&qa.0.to_be_bytes());
                q.a.handle(q.now, RUDP_ADDR_B, &sealed(&key, &d));
                d[1..5].copy_from_slice(&qb.0.to_be_bytes());
                q.b.handle(q.now, RUDP_ADDR_A, &sealed(&key, &d));
            }
            _ => {
                p.a.handle(p.now, RUDP_ADDR_B, &d);
                p.b.handle(p.now, RUDP_ADDR_A, &d);
            }
        }
    }
    within_window(&p, ca, cb)?;
    within_window(&q, qa, qb)?;
    // The misbehaving peer's pair: keep it running for a while (timers, retransmissions
    // after whatever it was told), checking only that nothing breaks.
    let limit = q.now + Duration::from_secs(10);
    let _ = q.a.send(q.now, qa, b"after", true);
    while q.step(limit, &mut |_, _, _| {}) {}
    within_window(&q, qa, qb)?;
    // An outsider's datagrams change nothing: no close, no lost message.
    if !p.a.is_established(ca) || !p.b.is_established(cb) {
        return Err("forged datagrams closed the connection".into());
    }
    let now = p.now;
    p.a.send(now, ca, b"from a", true).map_err(|e| e.to_string())?;
    p.b.send(now, cb, b"from b", false).map_err(|e| e.to_string())?;
    let (mut at_a, mut at_b) = (false, false);
    let limit = p.now + Duration::from_secs(120);
    while !(at_a && at_b) {
        let more = p.step(limit, &mut |_, side, ev| {
            if let Event::Message(_, m) = ev {
                match side {
                    RudpSide::A => at_a |= m.data == b"from b",
                    RudpSide::B => at_b |= m.data == b"from a",
                }
            }
        });
        if !more {
            return Err("a message was lost after the forged datagrams".into());
        }
    }
    Ok(())
}

/// `body` with `key`'s tag appended.
fn sealed(key: &PacketKey, body: &[u8]) -> Vec<u8> {
    let mut v = body.to_vec();
    v.resize(body.len() + TAG_LEN, 0);
    let _ = key.seal(&mut v, body.len());
    v
}
