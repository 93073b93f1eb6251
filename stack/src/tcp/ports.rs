//! Ephemeral port selection for active opens (RFC 6056 §3.3.4, Algorithm 4 "double-hash").
//!
//! RFC 6056 §3.3.4: the first port tried for a destination is `offset` positions into the
//! ephemeral range, where `offset = F(local IP, remote IP, remote port, secret)`, plus a
//! counter `table[G(same inputs, secret2)]` that advances on every try. Thus
//! - an off-path attacker cannot guess the port of someone else's connection (the point of
//!   RFC 6056 §1), because `F` is keyed;
//! - consecutive connections to one destination walk through the range in order, so they do
//!   not collide with each other or with a recent TIME-WAIT incarnation for a long time
//!   (RFC 6056 §3.3.4 explains why this beats Algorithm 3's single global counter);
//! - destinations hashing to different table entries advance independently, so heavy traffic
//!   to one server does not make the ports used towards another predictable.
//!
//! The search visits each port of the range at most once and asks the caller's `is_usable`
//! about it. The caller uses that hook both to reject ports whose 4-tuple is in use and to
//! keep only ports whose RSS hash lands on the core opening the connection, so that the
//! reply is steered back to it.

use siphasher::sip128::SipHasher13;
use std::net::IpAddr;
use std::ops::RangeInclusive;

/// Linux's default `ip_local_port_range`.
pub const DEFAULT_RANGE: RangeInclusive<u16> = 32768..=60999;

/// Entries in the per-destination counter table (`TABLE_LENGTH` in RFC 6056 §3.3.4).
pub const TABLE_LEN: usize = 256;

/// Domain-separation tag, so a key shared with other hashes gives unrelated values here.
const TAG_PORTS: u8 = 0x50;

/// Chooses source ports for active opens. One instance per core; deterministic given its key.
#[derive(Clone, Debug)]
pub struct EphemeralPorts {
    hasher: SipHasher13,
    /// First port of the range (never 0).
    first: u16,
    /// Number of ports in the range; 0 if the range is empty.
    count: u32,
    /// RFC 6056 §3.3.4 `table[]`, kept reduced modulo `count`.
    table: Box<[u32; TABLE_LEN]>,
}

impl EphemeralPorts {
    /// A selector keyed by `key` (128 random bits drawn at start-up) choosing from `range`.
    /// Port 0 is never chosen; an empty range makes every selection fail.
    pub fn new(key: [u8; 16], range: RangeInclusive<u16>) -> Self {
        let first = (*range.start()).max(1);
        let last = *range.end();
        let count = if last >= first { u32::from(last - first) + 1 } else { 0 };
        EphemeralPorts {
            hasher: SipHasher13::new_with_key(&key),
            first,
            count,
            table: Box::new([0; TABLE_LEN]),
        }
    }

    /// A selector over [`DEFAULT_RANGE`].
    pub fn with_default_range(key: [u8; 16]) -> Self {
        Self::new(key, DEFAULT_RANGE)
    }

    /// Number of ports in the range.
    pub fn range_len(&self) -> u32 {
        self.count
    }

    /// A source port for a connection from `local_ip` to `remote`, the first one in this
    /// destination's sequence that `is_usable` accepts, or `None` once every port in the
    /// range has been refused. `is_usable` is called at most once per port in the range.
    pub fn select(
        &mut self,
        local_ip: impl Into<IpAddr>,
        remote: (impl Into<IpAddr>, u16),
        mut is_usable: impl FnMut(u16) -> bool,
    ) -> Option<u16> {
        if self.count == 0 {
            return None;
        }
        let (offset, index) = self.hashes(local_ip.into(), (remote.0.into(), remote.1));
        let start = (offset % u64::from(self.count)) as u32;
        let counter = &mut self.table[index];
        for _ in 0..self.count {
            // `start` and `*counter` are both below `count`, so this cannot overflow, and
            // `count` consecutive counter values give `count` distinct ports.
            let position = (start + *counter) % self.count;
            *counter = (*counter + 1) % self.count;
            // `position < count <= 65535 - first + 1`, so the port fits in a u16.
            let port = self.first + position as u16;
            if is_usable(port) {
                return Some(port);
            }
        }
        None
    }

    /// `F` (the offset) and `G` (the table index) of RFC 6056 §3.3.4, from one 128-bit hash.
    /// The input is the tag, both addresses in their family's bytes (4 or 16 each) and the
    /// remote port.
    fn hashes(&self, local_ip: IpAddr, remote: (IpAddr, u16)) -> (u64, usize) {
        let mut buf = [0u8; 35];
        buf[0] = TAG_PORTS;
        let mut n = 1;
        for ip in [local_ip, remote.0] {
            n += match ip {
                IpAddr::V4(a) => {
                    buf[n..n + 4].copy_from_slice(&a.octets());
                    4
                }
                IpAddr::V6(a) => {
                    buf[n..n + 16].copy_from_slice(&a.octets());
                    16
                }
            };
        }
        buf[n..n + 2].copy_from_slice(&remote.1.to_be_bytes());
        let h = self.hasher.hash(&buf[..n + 2]);
        (h.h1, (h.h2 % TABLE_LEN as u64) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::net::Ipv4Addr;

    const KEY: [u8; 16] = *b"ephemeral-ports!";
    const LOCAL: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);

    fn dst(i: u8) -> (Ipv4Addr, u16) {
        (Ipv4Addr::new(192, 0, 2, i), 443)
    }

    /// Two destinations whose counters live in different table entries.
    fn independent_pair(p: &EphemeralPorts) -> ((Ipv4Addr, u16), (Ipv4Addr, u16)) {
        let a = dst(1);
        let b = (1..=255)
            .map(dst)
            .find(|&b| {
                p.hashes(LOCAL.into(), (b.0.into(), b.1)).1
                    != p.hashes(LOCAL.into(), (a.0.into(), a.1)).1
            })
            .expect("255 destinations cannot all share one of 256 table entries");
        (a, b)
    }

    #[test]
    fn default_range_is_linux() {
        let p = EphemeralPorts::with_default_range(KEY);
        assert_eq!(p.range_len(), 60999 - 32768 + 1);
        let mut p = p;
        let port = p.select(LOCAL, dst(1), |_| true).unwrap();
        assert!(DEFAULT_RANGE.contains(&port));
    }

    #[test]
    fn fills_whole_range_then_fails() {
        let mut p = EphemeralPorts::new(KEY, 1000..=1099);
        let mut taken = HashSet::new();
        for _ in 0..100 {
            let mut calls = 0;
            let port = p
                .select(LOCAL, dst(1), |port| {
                    calls += 1;
                    !taken.contains(&port)
                })
                .unwrap();
            assert!(calls <= 100);
            assert!((1000..=1099).contains(&port));
            assert!(taken.insert(port), "port {port} handed out twice");
        }
        let mut calls = 0;
        assert_eq!(
            p.select(LOCAL, dst(1), |port| {
                calls += 1;
                !taken.contains(&port)
            }),
            None
        );
        assert_eq!(calls, 100, "a failed search asks about each port exactly once");
    }

    #[test]
    fn finds_the_single_free_port() {
        let mut p = EphemeralPorts::new(KEY, 5000..=5199);
        for free in [5000u16, 5001, 5100, 5199] {
            assert_eq!(p.select(LOCAL, dst(9), |port| port == free), Some(free));
        }
        assert_eq!(p.select(LOCAL, dst(9), |_| false), None);
    }

    #[test]
    fn honours_core_constraint() {
        let mut p = EphemeralPorts::with_default_range(KEY);
        for core in 0..4u16 {
            for i in 0..20 {
                let port = p.select(LOCAL, dst(i), |port| port % 4 == core).unwrap();
                assert_eq!(port % 4, core);
            }
        }
    }

    #[test]
    fn consecutive_connects_get_different_ports() {
        let mut p = EphemeralPorts::with_default_range(KEY);
        let a = p.select(LOCAL, dst(1), |_| true).unwrap();
        let b = p.select(LOCAL, dst(1), |_| true).unwrap();
        let c = p.select(LOCAL, dst(1), |_| true).unwrap();
        assert!(a != b && b != c && a != c);
    }

    #[test]
    fn deterministic_given_key() {
        let run = |key| {
            let mut p = EphemeralPorts::with_default_range(key);
            (0..10).map(|i| p.select(LOCAL, dst(i), |_| true).unwrap()).collect::<Vec<_>>()
        };
        assert_eq!(run(KEY), run(KEY));
        assert_ne!(run(KEY), run(*b"ephemeral-ports?"));
    }

    #[test]
    fn destinations_advance_independently() {
        let fresh = || EphemeralPorts::with_default_range(KEY);
        let (a, b) = independent_pair(&fresh());
        let mut alone = fresh();
        let only_a: Vec<u16> = (0..5).map(|_| alone.select(LOCAL, a, |_| true).unwrap()).collect();
        let mut mixed = fresh();
        let mut interleaved = Vec::new();
        for _ in 0..5 {
            interleaved.push(mixed.select(LOCAL, a, |_| true).unwrap());
            for _ in 0..3 {
                mixed.select(LOCAL, b, |_| true).unwrap();
            }
        }
        assert_eq!(only_a, interleaved);
        // And the two destinations start at unrelated points of the range.
        let mut p = fresh();
        assert_ne!(p.select(LOCAL, a, |_| true), p.select(LOCAL, b, |_| true));
    }

    #[test]
    fn empty_and_zero_ranges() {
        #[allow(clippy::reversed_empty_ranges)]
        let mut p = EphemeralPorts::new(KEY, 10..=9);
        assert_eq!(p.select(LOCAL, dst(1), |_| true), None);
        let mut p = EphemeralPorts::new(KEY, 0..=0);
        assert_eq!(p.select(LOCAL, dst(1), |_| true), None);
        let mut p = EphemeralPorts::new(KEY, 0..=1);
        assert_eq!(p.select(LOCAL, dst(1), |_| true), Some(1));
        let mut p = EphemeralPorts::new(KEY, 65535..=65535);
        assert_eq!(p.select(LOCAL, dst(1), |_| true), Some(65535));
    }
}
