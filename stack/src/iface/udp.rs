//! The UDP socket table: ports bound by the application and their receive rings.
//!
//! Demultiplexing is one hash lookup by destination port in the table of the datagram's
//! family. A socket takes IPv4, IPv6 or both ([`UdpScope`]) and sits in the tables of the
//! families it takes, so an IPv4-only socket and an IPv6-only one may share a port, as
//! `0.0.0.0:P` and `[::]:P` with `IPV6_V6ONLY` do on Linux (RFC 3493 §5.3), while a
//! both-families socket (`::` without it) clashes with either. Each socket owns a ring of
//! fixed-size datagram slots allocated once at bind time; an arriving datagram is copied into
//! the next slot (the single copy out of the receive frame, which goes back to the device), and
//! the application reads it in place with [`UdpSockets::recv_from`] and releases it with
//! [`UdpSockets::consume`]. A full ring drops the newcomer, as a kernel socket with a full
//! receive buffer does.
//!
//! Readiness is edge-triggered, as `EPOLLET` is: a socket enters the ready queue
//! ([`UdpSockets::poll_readable`]) when a datagram lands while it is not already queued, so an
//! application learns which sockets have datagrams without polling every socket every
//! iteration. After taking a socket from the queue it reads until `recv_from` is `None`; the
//! next datagram queues the socket again.

use std::collections::{HashMap, VecDeque};
use std::net::{Ipv4Addr, SocketAddr};

use super::ring::{PushError, SlotRing};

/// Names one bound UDP socket. A handle outlives its socket harmlessly: the generation makes
/// a stale handle miss instead of reaching a socket later bound in the same slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpHandle {
    slot: u32,
    generation: u32,
}

/// Why `bind` failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindError {
    /// Another socket already has the port.
    PortInUse,
    /// Port 0 cannot be bound (there is no ephemeral-port allocation here).
    ZeroPort,
}

/// Which families' datagrams a socket takes: where it sits in the port tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UdpScope {
    /// IPv4 and IPv6 (an `AF_INET6` socket on `::`, `IPV6_V6ONLY` off).
    #[default]
    Both,
    /// IPv4 only (an `AF_INET` socket).
    Ipv4,
    /// IPv6 only (`IPV6_V6ONLY`).
    Ipv6,
}

impl UdpScope {
    fn ipv4(self) -> bool {
        self != UdpScope::Ipv6
    }

    fn ipv6(self) -> bool {
        self != UdpScope::Ipv4
    }
}

/// What happened to an arriving datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Delivery {
    Queued,
    NoSocket,
    QueueFull,
}

#[derive(Debug)]
struct UdpSocket {
    port: u16,
    scope: UdpScope,
    /// Metadata per datagram: the sender (IPv4 or IPv6: a socket serves both families).
    rx: SlotRing<SocketAddr>,
    /// Whether the socket waits in the ready queue.
    in_ready: bool,
}

#[derive(Debug)]
struct Slot {
    generation: u32,
    socket: Option<UdpSocket>,
}

/// All bound UDP sockets of one interface.
#[derive(Debug, Default)]
pub struct UdpSockets {
    /// Sockets that take IPv4, by port.
    by_port: HashMap<u16, u32>,
    /// Sockets that take IPv6, by port (a [`UdpScope::Both`] one is in both tables).
    by_port6: HashMap<u16, u32>,
    slots: Vec<Slot>,
    free: Vec<u32>,
    /// Sockets that received a datagram since they were last taken from here (each at most
    /// once: bounded by the number of sockets, so it grows only when a socket is bound).
    ready: VecDeque<UdpHandle>,
}

impl UdpSockets {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Binds `port` for both families with a receive ring of `rx_slots` datagrams of up to
    /// `max_datagram` bytes. Allocates the ring now, so receiving never allocates.
    pub fn bind(
        &mut self,
        port: u16,
        rx_slots: usize,
        max_datagram: usize,
    ) -> Result<UdpHandle, BindError> {
        self.bind_scoped(port, UdpScope::Both, rx_slots, max_datagram)
    }

    /// [`bind`](Self::bind) for the families `scope` names: refused if a socket already
    /// takes one of them on `port`.
    pub fn bind_scoped(
        &mut self,
        port: u16,
        scope: UdpScope,
        rx_slots: usize,
        max_datagram: usize,
    ) -> Result<UdpHandle, BindError> {
        if port == 0 {
            return Err(BindError::ZeroPort);
        }
        if (scope.ipv4() && self.by_port.contains_key(&port))
            || (scope.ipv6() && self.by_port6.contains_key(&port))
        {
            return Err(BindError::PortInUse);
        }
        let socket = UdpSocket {
            port,
            scope,
            rx: SlotRing::new(rx_slots, max_datagram, SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0))),
            in_ready: false,
        };
        let slot = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot { generation: 0, socket: None });
                // Slot counts are bounded by the 65535 bindable ports, far below u32::MAX.
                (self.slots.len() - 1) as u32
            }
        };
        let entry = &mut self.slots[slot as usize];
        entry.socket = Some(socket);
        if scope.ipv4() {
            self.by_port.insert(port, slot);
        }
        if scope.ipv6() {
            self.by_port6.insert(port, slot);
        }
        // Room for this socket in the ready queue now, so delivery never allocates.
        let handle = UdpHandle { slot, generation: entry.generation };
        self.ready.reserve(self.slots.len().saturating_sub(self.ready.len()));
        Ok(handle)
    }

    /// Closes the socket, discarding what it had queued. False if the handle was stale.
    pub fn unbind(&mut self, handle: UdpHandle) -> bool {
        let Some(entry) = self.slots.get_mut(handle.slot as usize) else { return false };
        if entry.generation != handle.generation {
            return false;
        }
        let Some(socket) = entry.socket.take() else { return false };
        entry.generation = entry.generation.wrapping_add(1);
        if socket.scope.ipv4() {
            self.by_port.remove(&socket.port);
        }
        if socket.scope.ipv6() {
            self.by_port6.remove(&socket.port);
        }
        self.free.push(handle.slot);
        true
    }

    /// The port a live handle is bound to.
    pub fn local_port(&self, handle: UdpHandle) -> Option<u16> {
        self.socket(handle).map(|s| s.port)
    }

    /// Whether some socket has `port`.
    pub fn is_bound(&self, port: u16) -> bool {
        self.by_port.contains_key(&port) || self.by_port6.contains_key(&port)
    }

    /// The oldest queued datagram: its sender and a slice of its payload, in the socket's ring.
    /// It stays queued until [`consume`](Self::consume).
    pub fn recv_from(&self, handle: UdpHandle) -> Option<(SocketAddr, &[u8])> {
        self.socket(handle)?.rx.front()
    }

    /// Releases the oldest queued datagram. False if there was none (or the handle is stale).
    pub fn consume(&mut self, handle: UdpHandle) -> bool {
        match self.socket_mut(handle) {
            Some(s) => s.rx.pop(),
            None => false,
        }
    }

    /// Datagrams waiting on the socket.
    pub fn queued(&self, handle: UdpHandle) -> usize {
        self.socket(handle).map_or(0, |s| s.rx.len())
    }

    /// The next socket that received datagrams since it was last returned (edge-triggered,
    /// see the [module documentation](self)); unbound sockets are skipped.
    #[inline]
    pub fn poll_readable(&mut self) -> Option<UdpHandle> {
        while let Some(h) = self.ready.pop_front() {
            if let Some(s) = self.socket_mut(h) {
                s.in_ready = false;
                return Some(h);
            }
        }
        None
    }

    /// Copies an arriving datagram into the ring of the socket bound to `dst_port` for the
    /// family of `src`. A payload larger than the slot (impossible when slots are MTU-sized)
    /// counts as a full queue.
    pub(crate) fn deliver(&mut self, dst_port: u16, src: SocketAddr, payload: &[u8]) -> Delivery {
        let by_port = if src.is_ipv6() { &self.by_port6 } else { &self.by_port };
        let Some(&slot) = by_port.get(&dst_port) else { return Delivery::NoSocket };
        let Some(entry) = self.slots.get_mut(slot as usize) else { return Delivery::NoSocket };
        let generation = entry.generation;
        let Some(socket) = entry.socket.as_mut() else { return Delivery::NoSocket };
        let res = socket.rx.push_with(src, |buf| {
            let dst = buf.get_mut(..payload.len())?;
            dst.copy_from_slice(payload);
            Some(payload.len())
        });
        match res {
            Ok(()) => {
                if !socket.in_ready {
                    socket.in_ready = true;
                    self.ready.push_back(UdpHandle { slot, generation });
                }
                Delivery::Queued
            }
            Err(PushError::Full | PushError::Rejected) => Delivery::QueueFull,
        }
    }

    fn socket(&self, h: UdpHandle) -> Option<&UdpSocket> {
        let e = self.slots.get(h.slot as usize)?;
        if e.generation != h.generation {
            return None;
        }
        e.socket.as_ref()
    }

    fn socket_mut(&mut self, h: UdpHandle) -> Option<&mut UdpSocket> {
        let e = self.slots.get_mut(h.slot as usize)?;
        if e.generation != h.generation {
            return None;
        }
        e.socket.as_mut()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: SocketAddr =
        SocketAddr::V4(std::net::SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 9), 5353));

    #[test]
    fn bind_deliver_recv_consume() {
        let mut t = UdpSockets::new();
        let h = t.bind(53, 2, 16).unwrap();
        assert_eq!(t.bind(53, 2, 16), Err(BindError::PortInUse));
        assert_eq!(t.bind(0, 2, 16), Err(BindError::ZeroPort));
        assert_eq!(t.deliver(54, A, b"x"), Delivery::NoSocket);
        assert_eq!(t.deliver(53, A, b"one"), Delivery::Queued);
        assert_eq!(t.deliver(53, A, b"two"), Delivery::Queued);
        assert_eq!(t.deliver(53, A, b"three"), Delivery::QueueFull);
        assert_eq!(t.deliver(53, A, &[0; 17]), Delivery::QueueFull);
        assert_eq!(t.recv_from(h), Some((A, &b"one"[..])));
        assert!(t.consume(h));
        assert_eq!(t.recv_from(h), Some((A, &b"two"[..])));
        assert!(t.consume(h));
        assert!(!t.consume(h));
        assert_eq!(t.local_port(h), Some(53));
    }

    #[test]
    fn one_family_sockets_share_a_port_and_both_families_clash_with_either() {
        let b6: SocketAddr = "[2001:db8::9]:5353".parse().unwrap();
        let mut t = UdpSockets::new();
        let h4 = t.bind_scoped(53, UdpScope::Ipv4, 2, 16).unwrap();
        let h6 = t.bind_scoped(53, UdpScope::Ipv6, 2, 16).unwrap();
        assert_eq!(t.bind(53, 2, 16), Err(BindError::PortInUse));
        assert_eq!(t.bind_scoped(53, UdpScope::Ipv6, 2, 16), Err(BindError::PortInUse));
        assert_eq!(t.deliver(53, A, b"four"), Delivery::Queued);
        assert_eq!(t.deliver(53, b6, b"six"), Delivery::Queued);
        assert_eq!(t.recv_from(h4), Some((A, &b"four"[..])));
        assert_eq!(t.recv_from(h6), Some((b6, &b"six"[..])));
        assert!(t.unbind(h6));
        assert_eq!(t.deliver(53, b6, b"x"), Delivery::NoSocket, "the IPv4 one takes no IPv6");
        assert_eq!(t.bind(53, 2, 16), Err(BindError::PortInUse));
        assert!(t.unbind(h4));
        assert!(!t.is_bound(53));
        let both = t.bind(53, 2, 16).unwrap();
        assert_eq!(t.bind_scoped(53, UdpScope::Ipv4, 2, 16), Err(BindError::PortInUse));
        assert_eq!(t.bind_scoped(53, UdpScope::Ipv6, 2, 16), Err(BindError::PortInUse));
        assert_eq!(t.deliver(53, b6, b"y"), Delivery::Queued);
        assert_eq!(t.recv_from(both), Some((b6, &b"y"[..])));
    }

    #[test]
    fn stale_handles_miss_after_rebind() {
        let mut t = UdpSockets::new();
        let h = t.bind(7, 1, 8).unwrap();
        assert!(t.unbind(h));
        assert!(!t.unbind(h));
        assert!(!t.is_bound(7));
        let h2 = t.bind(8, 1, 8).unwrap();
        assert_eq!(t.deliver(8, A, b"hi"), Delivery::Queued);
        assert_eq!(t.recv_from(h), None, "old handle must not see the new socket");
        assert_eq!(t.recv_from(h2).map(|x| x.1), Some(&b"hi"[..]));
        assert_eq!(t.local_port(h), None);
    }

    #[test]
    fn readiness_is_edge_triggered_once_per_socket() {
        let mut t = UdpSockets::new();
        let a = t.bind(1, 4, 8).unwrap();
        let b = t.bind(2, 4, 8).unwrap();
        assert_eq!(t.poll_readable(), None);
        assert_eq!(t.deliver(2, A, b"b1"), Delivery::Queued);
        assert_eq!(t.deliver(1, A, b"a1"), Delivery::Queued);
        assert_eq!(t.deliver(2, A, b"b2"), Delivery::Queued);
        // Each socket once, in the order its first datagram came.
        assert_eq!(t.poll_readable(), Some(b));
        assert_eq!(t.poll_readable(), Some(a));
        assert_eq!(t.poll_readable(), None);
        // A new datagram queues the socket again, even with older ones unread.
        assert_eq!(t.deliver(1, A, b"a2"), Delivery::Queued);
        assert_eq!(t.poll_readable(), Some(a));
        // A socket unbound while queued is skipped.
        assert_eq!(t.deliver(2, A, b"b3"), Delivery::Queued);
        assert!(t.unbind(b));
        assert_eq!(t.poll_readable(), None);
        // Full rings queue nothing new.
        assert_eq!(t.queued(a), 2);
    }
}
