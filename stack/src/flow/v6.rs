//! IPv6 connections' keys, and the index that finds them.
//!
//! An IPv4 key is 12 bytes and an IPv6 key 36; one key type for both would make every IPv4
//! lookup compare and store 40 bytes. So the connection table stays keyed by the IPv4
//! [`FlowKey`](super::FlowKey), and an IPv6 connection lives in the same slab under an
//! *alias*: a `FlowKey` whose local address is `255.255.255.255`, which no IPv4 segment can
//! reach (the interface delivers TCP only to our configured unicast address, and drops TCP
//! to a broadcast address as `TcpNotUnicast`; RFC 1122 §4.2.3.10). This index maps the real 36-byte key to the slab slot, hashed
//! with keyed SipHash-1-3 under the IPv4 table's secret (the IPv4 keys take the multilinear
//! hash, [`FlowHasher`]). Its segments are found here, once per
//! segment, by the IPv6 receive path alone: the IPv4 path neither reads nor branches on it.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::hash::{FlowHash, FlowHasher};
use super::index::RawIndex;
use super::{FlowHandle, FlowKey, Handle, TableKey};

/// The identity of an IPv6 TCP connection as seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey6 {
    /// Our address (the destination of received segments).
    pub local_ip: Ipv6Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote_ip: Ipv6Addr,
    /// The peer's port.
    pub remote_port: u16,
}

impl FlowKey6 {
    /// The 36 bytes that are hashed: local address, local port, remote address, remote port,
    /// in network order (the IPv4 key's layout with 16-byte addresses).
    pub fn to_bytes(&self) -> [u8; 36] {
        let mut b = [0u8; 36];
        b[0..16].copy_from_slice(&self.local_ip.octets());
        b[16..18].copy_from_slice(&self.local_port.to_be_bytes());
        b[18..34].copy_from_slice(&self.remote_ip.octets());
        b[34..36].copy_from_slice(&self.remote_port.to_be_bytes());
        b
    }

    /// The alias of this connection in the IPv4 key space: `255.255.255.255` as local
    /// address, the real ports, and `serial` as remote address (unique among live aliases
    /// unless the serials came round with the same ports: the insert then fails).
    pub fn alias(&self, serial: u32) -> FlowKey {
        FlowKey {
            local_ip: Ipv4Addr::BROADCAST,
            local_port: self.local_port,
            remote_ip: Ipv4Addr::from(serial),
            remote_port: self.remote_port,
        }
    }
}

impl TableKey for FlowKey6 {
    #[inline]
    fn hash_with(&self, hasher: &FlowHasher) -> FlowHash {
        hasher.hash_bytes(&self.to_bytes())
    }
}

/// Whether `key` is an IPv6 connection's alias (see the [module docs](self)).
#[inline]
pub fn is_alias(key: &FlowKey) -> bool {
    key.local_ip.is_broadcast()
}

/// IPv6 keys to the slots of the shared connection slab.
#[derive(Debug, Clone)]
pub struct FlowIndex6 {
    hasher: FlowHasher,
    index: RawIndex<FlowKey6>,
    /// The next alias serial to try.
    next_serial: u32,
}

impl FlowIndex6 {
    /// An empty index hashing under `hash_key`. It grows with the IPv6 connections, so an
    /// IPv4-only stack pays for none.
    pub fn new(hash_key: [u8; 16]) -> FlowIndex6 {
        FlowIndex6 {
            hasher: FlowHasher::new(hash_key),
            index: RawIndex::with_capacity(0),
            next_serial: 1,
        }
    }

    /// The handle of `key`'s connection.
    #[inline]
    pub fn lookup(&self, key: &FlowKey6) -> Option<FlowHandle> {
        let hash = key.hash_with(&self.hasher).value();
        self.index.find(hash, *key).map(|(slot, generation)| Handle::new(slot, generation))
    }

    /// A fresh alias serial, in `1..2^24`: the alias's remote address is then in `0.0.0.0/8`,
    /// which is never a neighbour's address, so the IPv4 neighbour confirmation a connection
    /// makes on progress (by its `remote` address) finds nothing to confirm.
    pub fn next_serial(&mut self) -> u32 {
        let s = self.next_serial;
        self.next_serial = (self.next_serial + 1) & 0x00ff_ffff;
        self.next_serial = self.next_serial.max(1);
        s
    }

    /// Records `key` → `handle`. The caller checked `key` is absent.
    pub fn insert(&mut self, key: FlowKey6, handle: FlowHandle) {
        let hash = key.hash_with(&self.hasher).value();
        self.index.insert(hash, key, (handle.index() as u32, handle.generation()));
    }

    /// Forgets `key`.
    pub fn remove(&mut self, key: &FlowKey6) {
        let hash = key.hash_with(&self.hasher).value();
        self.index.remove(hash, *key);
    }

    /// IPv6 connections held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no IPv6 connection is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    #[test]
    fn key_bytes_are_in_network_order() {
        let k = FlowKey6 { local_ip: A, local_port: 0x0506, remote_ip: B, remote_port: 0x0b0c };
        let b = k.to_bytes();
        assert_eq!(&b[0..16], &A.octets());
        assert_eq!(&b[16..18], &[5, 6]);
        assert_eq!(&b[18..34], &B.octets());
        assert_eq!(&b[34..36], &[11, 12]);
    }

    #[test]
    fn index_finds_removes_and_keeps_keys_apart() {
        let mut t: crate::flow::FlowTable<u8> = crate::flow::FlowTable::new(4, [1; 16]);
        let mut idx = FlowIndex6::new([1; 16]);
        let k1 = FlowKey6 { local_ip: A, local_port: 80, remote_ip: B, remote_port: 4000 };
        let k2 = FlowKey6 { remote_port: 4001, ..k1 };
        let h1 = t.insert(k1.alias(idx.next_serial()), 1).unwrap();
        let h2 = t.insert(k2.alias(idx.next_serial()), 2).unwrap();
        idx.insert(k1, h1);
        idx.insert(k2, h2);
        assert_eq!((idx.lookup(&k1), idx.lookup(&k2)), (Some(h1), Some(h2)));
        assert!(is_alias(&t.key(h1).unwrap()));
        idx.remove(&k1);
        assert_eq!(idx.lookup(&k1), None);
        assert_eq!(idx.len(), 1);
        assert_ne!(idx.next_serial(), 0);
    }
}
