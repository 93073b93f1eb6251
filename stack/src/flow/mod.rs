//! The 4-tuple demultiplexer: an O(1) table from connection identity to connection slot.
//!
//! Every received segment is matched to its connection here, so this is the one lookup that
//! must stay O(1) however many connections a core holds (smoltcp's scan over every socket is
//! the cautionary tale). A table is two parts:
//!
//! - a [`slab`](Slab) of values with a free list, whose slots never move, so a
//!   [`Handle`] stays valid for as long as its entry lives; a generation counter per slot
//!   makes a stale handle miss instead of reaching whatever reused the slot;
//! - an index from hash to slot: a SwissTable (`hashbrown`'s `HashTable`, the table inside
//!   std's `HashMap`) of 8-byte buckets, each the key's 32-bit keyed hash and its slot, fed
//!   the hash this module computed instead of hashing again. The keys stay in the slab (a
//!   connection's are its own addresses). A lookup reads one byte of control tags and, on a
//!   tag match, a bucket; only on a full 32-bit hash match does it read the slot's key, so a
//!   miss (a stray segment, a SYN flood) costs a read of a dense tag array that caches well.
//!
//! Two lookups share the index. The exact one ([`Table::lookup_hashed`]: inserts, removals,
//! SYNs, RSTs, any segment without a hint) compares the key in the slot, and takes the
//! handle's generation from there. The RX look-ahead's ([`Table::hint_hashed`]) trusts the
//! hash match and reads no slot: it only names a slot ([`Hint`]) whose lines are then
//! prefetched, and the receive path compares that slot's key with the segment's before
//! acting on it, looking the segment up again if they differ. So a 32-bit collision between
//! two keys costs a second lookup, never a wrong connection; and a stale handle still misses,
//! its generation checked against the slot's.
//!
//! Why buckets without the key: with `(hash, key, slot, generation)` buckets (std's `HashMap`,
//! 24 bytes each) 100,000 connections' index took 3 MB, its buckets read from beyond the L2
//! by every lookup, and the look-ahead's probe spent most of its time on that one load; 8-byte
//! buckets take 1 MiB (docs/benchmarks.md, "A flow index that fits in L2").
//! Why not an open-addressing table of our own: one was built and measured (linear probing,
//! `(hash, slot)` buckets, keys in the slab). It matched the SwissTable while the table fit in
//! cache and lost on misses at 10^6 entries, where its buckets no longer did. A SwissTable of
//! such buckets whose every lookup compared the key lost too, on hits at 100,000
//! connections: the look-ahead then waited on the slot's line to check the key, before it
//! asked for the connection's lines (docs/benchmarks.md, "The wheel entry's other line");
//! the hint above is that table without the wait. So did lines of three tagged entries
//! holding the keys, the line named by the hash so that the look-ahead could prefetch it a
//! stage before the probe: 2.5x slower lookups in cache, 3.3x slower misses at 10^6, and no
//! gain at 100,000 connections (branch `lines`; "The index a hash can name").
//!
//! Hashing is keyed with a secret the caller supplies (the stack draws no random numbers of
//! its own): a remote peer chooses its address and port freely, and with an unkeyed hash it
//! could pick 4-tuples that all land in one probe run. IPv4 keys (4-tuples and listen keys,
//! three 32-bit words) take a strongly universal multilinear hash, a few multiplies, since
//! every received frame pays for one; IPv6 keys take SipHash-1-3 ([`FlowHasher`] says why
//! each, docs/dependencies.md why the weaker IPv4 hash is acceptable).
//!
//! Connections live in a [`FlowTable`] keyed by [`FlowKey`]; listening sockets in a
//! [`ListenerTable`] keyed by [`ListenKey`], where the unspecified local address is a
//! wildcard that [`ListenerTable::lookup_listener`] falls back to.

mod hash;
mod index;
mod slab;
mod table;

mod v6;

pub use hash::{FlowHash, FlowHasher};
pub use slab::{Keyed, SlotEntry, SlotGeneration};
pub use table::{FlowError, Handle, Hint, Table};
pub use v6::{is_alias, FlowIndex6, FlowKey6};

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The identity of a TCP connection as seen from this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FlowKey {
    /// Our address (the destination of received segments).
    pub local_ip: Ipv4Addr,
    /// Our port.
    pub local_port: u16,
    /// The peer's address.
    pub remote_ip: Ipv4Addr,
    /// The peer's port.
    pub remote_port: u16,
}

impl FlowKey {
    /// The 12 bytes that are hashed: local address, local port, remote address, remote port,
    /// in network order.
    pub fn to_bytes(&self) -> [u8; 12] {
        let mut b = [0u8; 12];
        b[0..4].copy_from_slice(&self.local_ip.octets());
        b[4..6].copy_from_slice(&self.local_port.to_be_bytes());
        b[6..10].copy_from_slice(&self.remote_ip.octets());
        b[10..12].copy_from_slice(&self.remote_port.to_be_bytes());
        b
    }
}

/// The identity of a listening socket: a local port on one address, or on every address when
/// `ip` is unspecified. A dual-stack `::` listener is keyed by `0.0.0.0`, so it and `0.0.0.0`
/// on one port conflict, as in Linux with `IPV6_V6ONLY` off; the listener's own address says
/// whether it takes IPv6 too. An `IPV6_V6ONLY` `::` listener takes no IPv4, so it has a key
/// of its own, `::` ([`ListenKey::ipv6_only`]), and may sit beside a `0.0.0.0` one, as
/// Linux's `inet6_rcv_saddr_equal` allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListenKey {
    /// Local address, `0.0.0.0` for any (dual-stack `::` too), `::` for IPv6-only any.
    pub ip: IpAddr,
    /// Local port.
    pub port: u16,
}

impl ListenKey {
    /// The key of a listener bound to `ip:port`: the two unspecified addresses share one key.
    pub fn new(ip: impl Into<IpAddr>, port: u16) -> ListenKey {
        let ip = ip.into();
        let ip = if ip.is_unspecified() { IpAddr::V4(Ipv4Addr::UNSPECIFIED) } else { ip };
        ListenKey { ip, port }
    }

    /// The key of an `IPV6_V6ONLY` listener on `[::]:port` (RFC 3493 §5.3): apart from the
    /// `0.0.0.0` one, since the two take disjoint families.
    pub fn ipv6_only(port: u16) -> ListenKey {
        ListenKey { ip: IpAddr::V6(Ipv6Addr::UNSPECIFIED), port }
    }
}

/// A key a [`Table`] can hash: a fixed byte string fed once to the keyed hasher.
pub trait TableKey: Copy + Eq {
    /// The key's hash under `hasher`.
    fn hash_with(&self, hasher: &FlowHasher) -> FlowHash;
}

impl FlowKey {
    /// The key as the hash's words: `(local_ip << 32 | local_port << 16 | remote_port,
    /// remote_ip)`, so the multilinear hash's three 32-bit words are the local address, the
    /// two ports, and the remote address.
    #[inline]
    fn words(&self) -> (u64, u32) {
        let head = u64::from(u32::from(self.local_ip)) << 32
            | u64::from(self.local_port) << 16
            | u64::from(self.remote_port);
        (head, u32::from(self.remote_ip))
    }
}

impl TableKey for FlowKey {
    /// The multilinear hash of the three words local address, both ports, remote address,
    /// packed as `(local_ip << 32 | local_port << 16 | remote_port, remote_ip)`.
    #[inline]
    fn hash_with(&self, hasher: &FlowHasher) -> FlowHash {
        let (head, tail) = self.words();
        hasher.hash_words(head, tail)
    }
}

impl TableKey for ListenKey {
    /// IPv4: the multilinear hash of the words `(port, address)`; IPv6: SipHash-1-3 of the
    /// address's 16 bytes and the port's 2.
    #[inline]
    fn hash_with(&self, hasher: &FlowHasher) -> FlowHash {
        match self.ip {
            IpAddr::V4(ip) => hasher.hash_words(u64::from(self.port), u32::from(ip)),
            IpAddr::V6(ip) => {
                let mut b = [0u8; 18];
                b[..16].copy_from_slice(&ip.octets());
                b[16..].copy_from_slice(&self.port.to_be_bytes());
                hasher.hash_bytes(&b)
            }
        }
    }
}

/// Established (and half-open) connections by 4-tuple.
pub type FlowTable<V> = Table<FlowKey, V>;

/// A handle to a connection slot.
pub type FlowHandle = Handle<FlowKey>;

/// A connection slot a hash led to, its entry unchecked ([`Hint`]).
pub type FlowHint = Hint<FlowKey>;

/// Listening sockets by local address and port.
pub type ListenerTable<V> = Table<ListenKey, V>;

/// A handle to a listener slot.
pub type ListenerHandle = Handle<ListenKey>;

impl<V> Table<ListenKey, V> {
    /// The listener for a segment to `local_ip:local_port`: one bound to that exact address
    /// if there is one, else one bound to the wildcard address. Two O(1) lookups at most.
    pub fn lookup_listener(&self, local_ip: Ipv4Addr, local_port: u16) -> Option<ListenerHandle> {
        let exact = ListenKey { ip: IpAddr::V4(local_ip), port: local_port };
        self.lookup(&exact)
            .or_else(|| self.lookup(&ListenKey::new(Ipv4Addr::UNSPECIFIED, local_port)))
    }

    /// The listener for an IPv6 segment to `local_ip:local_port`: one bound to that address,
    /// else an IPv6-only `::` one, else the wildcard one if the caller finds it bound to `::`
    /// (a `0.0.0.0` listener takes IPv4 only; the key does not say which, the listener does).
    /// Three O(1) lookups at most; the two `::` kinds never coexist on one port.
    pub fn lookup_listener6(&self, local_ip: Ipv6Addr, local_port: u16) -> Option<ListenerHandle> {
        let exact = ListenKey { ip: IpAddr::V6(local_ip), port: local_port };
        self.lookup(&exact)
            .or_else(|| self.lookup(&ListenKey::ipv6_only(local_port)))
            .or_else(|| self.lookup(&ListenKey::new(Ipv4Addr::UNSPECIFIED, local_port)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flow_key_bytes_are_in_network_order() {
        let k = FlowKey {
            local_ip: Ipv4Addr::new(1, 2, 3, 4),
            local_port: 0x0506,
            remote_ip: Ipv4Addr::new(7, 8, 9, 10),
            remote_port: 0x0b0c,
        };
        assert_eq!(k.to_bytes(), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    }

    #[test]
    fn listener_lookup_prefers_exact_address() {
        let mut t: ListenerTable<&str> = ListenerTable::new(8, [7; 16]);
        let any = t.insert(ListenKey::new(Ipv4Addr::UNSPECIFIED, 80), "any").unwrap();
        let a = Ipv4Addr::new(10, 0, 0, 1);
        let b = Ipv4Addr::new(10, 0, 0, 2);
        let exact = t.insert(ListenKey::new(a, 80), "exact").unwrap();
        assert_eq!(t.lookup_listener(a, 80), Some(exact));
        assert_eq!(t.lookup_listener(b, 80), Some(any));
        assert_eq!(t.lookup_listener(a, 81), None);
        assert_eq!(t.remove(any), Some("any"));
        assert_eq!(t.lookup_listener(b, 80), None);
        assert_eq!(t.lookup_listener(a, 80), Some(exact));
    }

    /// Chi-square of `counts` against the uniform distribution over them.
    fn chi_square(counts: &[u32]) -> f64 {
        let expected = f64::from(counts.iter().sum::<u32>()) / counts.len() as f64;
        counts.iter().map(|&c| (f64::from(c) - expected).powi(2) / expected).sum()
    }

    /// Chi-square of what the index takes from each hash: the bucket bits (the low 12 of the
    /// spread value, 4,096 buckets) and the control tag (its top 7 bits, 128 tags).
    fn index_chi_square(hashes: impl Iterator<Item = u32>) -> (f64, f64) {
        let mut buckets = vec![0u32; 1 << 12];
        let mut tags = [0u32; 128];
        for h in hashes {
            let spread = index::spread(h);
            buckets[(spread & 0xfff) as usize] += 1;
            tags[(spread >> 57) as usize] += 1;
        }
        (chi_square(&buckets), chi_square(&tags))
    }

    /// 65,536 keys of a server at 10.0.0.1:443 in each of the patterns a server sees or a
    /// peer can send without knowing the secret.
    fn server_patterns() -> Vec<(&'static str, Vec<FlowKey>)> {
        let key = |remote: u32, remote_port: u16| FlowKey {
            local_ip: Ipv4Addr::new(10, 0, 0, 1),
            local_port: 443,
            remote_ip: Ipv4Addr::from(remote),
            remote_port,
        };
        let peer = u32::from(Ipv4Addr::new(192, 0, 2, 7));
        let block = u32::from(Ipv4Addr::new(100, 64, 0, 0));
        vec![
            ("one peer, every port", (0..=u16::MAX).map(|p| key(peer, p)).collect()),
            (
                "four peers, consecutive ports",
                (0..4).flat_map(|a| (1024..1024 + 16_384).map(move |p| key(peer + a, p))).collect(),
            ),
            ("consecutive peers, one port", (0..1 << 16).map(|a| key(block + a, 40_000)).collect()),
            // Addresses that differ only in their first two bytes: the same low 16 bits in
            // any hash that takes a sum's low bits.
            (
                "a peer in each /16, one port",
                (0..1 << 16).map(|a| key(a << 16 | 0x0107, 40_000)).collect(),
            ),
        ]
    }

    #[test]
    fn index_bits_are_uniform_under_a_servers_key_patterns() {
        // Twice the degrees of freedom (4,095 and 127): about 45 and 8 standard deviations
        // above what a uniform hash gives, so a pass is no accident of the secrets chosen,
        // and a hash that piles keys into few buckets or tags exceeds them many times over.
        let (bucket_bound, tag_bound) = (2.0 * 4095.0, 2.0 * 127.0);
        let patterns = server_patterns();
        let mut rng = crate::rng::SplitMix64::new(17);
        let mut secrets = vec![[0; 16], [7; 16], *b"benchmark secret"];
        secrets.extend((0..13).map(|_| {
            let mut s = [0u8; 16];
            s[..8].copy_from_slice(&rng.next_u64().to_le_bytes());
            s[8..].copy_from_slice(&rng.next_u64().to_le_bytes());
            s
        }));
        for secret in secrets {
            let hasher = FlowHasher::new(secret);
            for (name, keys) in &patterns {
                let (b, t) = index_chi_square(keys.iter().map(|k| k.hash_with(&hasher).value()));
                assert!(b < bucket_bound, "{name}, secret {secret:?}: buckets chi-square {b:.0}");
                assert!(t < tag_bound, "{name}, secret {secret:?}: tags chi-square {t:.0}");
            }
        }

        // The same bounds fail hashes built wrong, on the patterns above.
        let keys = |name: &str| patterns.iter().find(|(n, _)| *n == name).unwrap().1.iter();
        // The sum's top half without the bijection: strongly universal, yet for about one
        // secret in a hundred a progression's hashes bunch. This secret is one such.
        let unlucky = FlowHasher::new(*b"benchmark secret");
        let top_half = |k: &FlowKey| {
            let (head, tail) = k.words();
            (unlucky.multilinear_sum(head, tail) >> 32) as u32
        };
        let (b, _) = index_chi_square(keys("four peers, consecutive ports").map(top_half));
        assert!(b > 10.0 * bucket_bound, "unmixed top half, four peers: buckets {b:.0}");
        let hasher = FlowHasher::new([7; 16]);
        // The same sum's low half: keys that differ only in high bits share its low bits.
        let low_half = |k: &FlowKey| {
            let (head, tail) = k.words();
            hasher.multilinear_sum(head, tail) as u32
        };
        let (b, _) = index_chi_square(keys("a peer in each /16, one port").map(low_half));
        assert!(b > 10.0 * bucket_bound, "low half, a peer in each /16: buckets {b:.0}");
        // An unkeyed fold of the words: consecutive ports change only its low bits.
        let xor_fold = |k: &FlowKey| {
            let (head, tail) = k.words();
            (head >> 32) as u32 ^ head as u32 ^ tail
        };
        let (_, t) = index_chi_square(keys("one peer, every port").map(xor_fold));
        assert!(t > 10.0 * tag_bound, "XOR fold, one peer: tags {t:.0}");
        let (b, _) = index_chi_square(keys("a peer in each /16, one port").map(xor_fold));
        assert!(b > 10.0 * bucket_bound, "XOR fold, a peer in each /16: buckets {b:.0}");
    }
}
