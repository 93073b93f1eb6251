//! Initial sequence numbers (RFC 6528, RFC 9293 §3.4.1).
//!
//! RFC 9293 §3.4.1 ties the ISN to a 32-bit clock whose low bit ticks about every 4 µs, so
//! that a new incarnation of a connection starts above anything the old one may still have in
//! flight. RFC 6528 §3 adds a per-connection offset: `ISN = M + F(4-tuple, secret)`, where `M`
//! is that clock and `F` a keyed pseudo-random function. An off-path attacker who cannot see
//! the key cannot predict the ISN of someone else's connection, while consecutive
//! connections on the same 4-tuple still see a monotonic ISN.
//!
//! `F` here is SipHash-2-4 keyed with a 128-bit secret that the caller draws at start-up
//! (RFC 6528 §3 asks for a secret of at least 128 bits, chosen at boot). The stack has no RNG
//! of its own, so the key is an argument.

use super::SeqNumber;
use crate::time::Instant;
use siphasher::sip::SipHasher24;
use std::net::{IpAddr, SocketAddr};

/// Length of one tick of the ISN clock `M`, in nanoseconds (RFC 9293 §3.4.1: about 4 µs).
pub const ISN_CLOCK_TICK_NANOS: u64 = 4_000;

/// Computes RFC 6528 initial sequence numbers from a secret key.
#[derive(Clone, Debug)]
pub struct IsnGenerator {
    hasher: SipHasher24,
}

impl IsnGenerator {
    /// A generator keyed by `key`, which should be 128 random bits drawn once at start-up.
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator { hasher: SipHasher24::new_with_key(&key) }
    }

    /// The ISN for a connection from `local` to `remote` opened at `now`: the 4 µs clock
    /// plus the keyed hash of the 4-tuple (RFC 6528 §3), over the family's key bytes (12 for
    /// IPv4, 36 for IPv6).
    pub fn isn(
        &self,
        now: Instant,
        local: impl Into<SocketAddr>,
        remote: impl Into<SocketAddr>,
    ) -> SeqNumber {
        // The clock wraps modulo 2^32 like sequence space does: about every 4.77 hours.
        let m = (now.total_nanos() / ISN_CLOCK_TICK_NANOS) as u32;
        SeqNumber(m.wrapping_add(self.offset(local.into(), remote.into())))
    }

    /// `F(localip, localport, remoteip, remoteport, secretkey)` from RFC 6528 §3.
    fn offset(&self, local: SocketAddr, remote: SocketAddr) -> u32 {
        keyed_tuple_hash(&self.hasher, None, local, remote)
    }
}

/// A keyed hash of a 4-tuple (local address and port, remote address and port, in network
/// order), folded to 32 bits so every output bit of the hash contributes. `tag`, when given,
/// is a byte put in front so that the uses of one key never share an input.
pub(crate) fn keyed_tuple_hash(
    hasher: &SipHasher24,
    tag: Option<u8>,
    local: SocketAddr,
    remote: SocketAddr,
) -> u32 {
    let mut input = [0u8; 37];
    let start = usize::from(tag.is_none());
    input[0] = tag.unwrap_or(0);
    let end = 1 + put_tuple(&mut input[1..], local, remote);
    let h = hasher.hash(&input[start..end]);
    (h ^ (h >> 32)) as u32
}

/// Writes the 4-tuple's key bytes into `buf` (at least 36 bytes) and returns their count: 12
/// for IPv4 (`addr port addr port`, as the flow key), 36 for IPv6. An end of each family
/// (never made by the stack) writes each address as its own family's bytes.
pub(crate) fn put_tuple(buf: &mut [u8], local: SocketAddr, remote: SocketAddr) -> usize {
    let mut n = 0;
    for end in [local, remote] {
        n += match end.ip() {
            IpAddr::V4(ip) => {
                buf[n..n + 4].copy_from_slice(&ip.octets());
                4
            }
            IpAddr::V6(ip) => {
                buf[n..n + 16].copy_from_slice(&ip.octets());
                16
            }
        };
        buf[n..n + 2].copy_from_slice(&end.port().to_be_bytes());
        n += 2;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Duration;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    fn ep(a: u8, port: u16) -> (std::net::Ipv4Addr, u16) {
        (std::net::Ipv4Addr::new(10, 0, 0, a), port)
    }

    fn ep6(a: u16, port: u16) -> (std::net::Ipv6Addr, u16) {
        (std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, a), port)
    }

    #[test]
    fn ipv4_input_is_the_12_key_bytes_and_ipv6_the_36() {
        let g = IsnGenerator::new(KEY);
        let sip = SipHasher24::new_with_key(&KEY);
        let fold = |h: u64| (h ^ (h >> 32)) as u32;
        let v4 = [10, 0, 0, 1, 0, 80, 10, 0, 0, 2, 0x13, 0x88];
        assert_eq!(g.offset(ep(1, 80).into(), ep(2, 5000).into()), fold(sip.hash(&v4)));
        let mut v6 = Vec::new();
        v6.extend_from_slice(&ep6(1, 0).0.octets());
        v6.extend_from_slice(&[0, 80]);
        v6.extend_from_slice(&ep6(2, 0).0.octets());
        v6.extend_from_slice(&[0x13, 0x88]);
        assert_eq!(g.offset(ep6(1, 80).into(), ep6(2, 5000).into()), fold(sip.hash(&v6)));
        let now = Instant::from_millis(9);
        assert_ne!(g.isn(now, ep6(1, 80), ep6(2, 5000)), g.isn(now, ep6(1, 80), ep6(3, 5000)));
    }

    #[test]
    fn deterministic_for_same_input() {
        let g1 = IsnGenerator::new(KEY);
        let g2 = IsnGenerator::new(KEY);
        let now = Instant::from_millis(123_456);
        assert_eq!(g1.isn(now, ep(1, 80), ep(2, 5000)), g2.isn(now, ep(1, 80), ep(2, 5000)));
    }

    #[test]
    fn differs_across_tuples_and_keys() {
        let g = IsnGenerator::new(KEY);
        let now = Instant::from_millis(1);
        let base = g.isn(now, ep(1, 80), ep(2, 5000));
        let variants = [
            g.isn(now, ep(3, 80), ep(2, 5000)),
            g.isn(now, ep(1, 81), ep(2, 5000)),
            g.isn(now, ep(1, 80), ep(4, 5000)),
            g.isn(now, ep(1, 80), ep(2, 5001)),
            // Swapping the ends is a different connection from this host's point of view.
            g.isn(now, ep(2, 5000), ep(1, 80)),
            IsnGenerator::new(*b"0123456789abcdeF").isn(now, ep(1, 80), ep(2, 5000)),
        ];
        for v in variants {
            assert_ne!(v, base);
        }
    }

    #[test]
    fn advances_250_000_per_second() {
        let g = IsnGenerator::new(KEY);
        let t0 = Instant::from_nanos(987_654_321);
        let a = g.isn(t0, ep(1, 80), ep(2, 5000));
        let b = g.isn(t0 + Duration::from_secs(1), ep(1, 80), ep(2, 5000));
        assert_eq!(b - a, 250_000);
        let c = g.isn(t0 + Duration::from_micros(4), ep(1, 80), ep(2, 5000));
        assert_eq!(c - a, 1);
        // Within one 4 µs tick nothing moves.
        let t1 = Instant::from_micros(400);
        let d = g.isn(t1, ep(1, 80), ep(2, 5000));
        let e = g.isn(t1 + Duration::from_nanos(3_999), ep(1, 80), ep(2, 5000));
        assert_eq!(d, e);
    }

    #[test]
    fn wraps_with_sequence_space() {
        let g = IsnGenerator::new(KEY);
        // 2^32 ticks of 4 µs later the clock has wrapped back to the same value.
        let t0 = Instant::from_millis(5);
        let period = Duration::from_nanos(ISN_CLOCK_TICK_NANOS << 32);
        assert_eq!(g.isn(t0, ep(1, 1), ep(2, 2)), g.isn(t0 + period, ep(1, 1), ep(2, 2)));
    }
}
