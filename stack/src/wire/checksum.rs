//! The Internet checksum (RFC 1071), pseudo-header sums and incremental update (RFC 1624).
//!
//! Sums are ones'-complement sums of big-endian 16-bit words, folded to 16 bits and *not*
//! complemented; [`finish`] complements. Keeping partial sums un-complemented lets callers add
//! a pseudo-header, a header and a payload that live in different places.
//!
//! NOTE: this first version is a simple reference implementation with a stable API; the fast
//! path replaces the body of [`sum`] without changing any signature.

use std::net::Ipv4Addr;

/// Ones'-complement sum of `data` as big-endian 16-bit words, folded to 16 bits. An odd
/// trailing byte is padded with a zero byte on the right (RFC 1071 §4.1).
pub fn sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [last] = chunks.remainder() {
        acc += u64::from(u16::from_be_bytes([*last, 0]));
    }
    fold(acc)
}

/// Folds a wide ones'-complement accumulator to 16 bits.
pub fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// Ones'-complement addition of two folded sums.
pub fn add(a: u16, b: u16) -> u16 {
    fold(u64::from(a) + u64::from(b))
}

/// Complements a folded sum into the value that goes into a checksum field.
pub fn finish(sum: u16) -> u16 {
    !sum
}

/// The checksum of `data` alone: `finish(sum(data))`.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

/// Combines several folded partial sums and complements the result.
pub fn combine(sums: &[u16]) -> u16 {
    finish(sums.iter().fold(0u16, |a, &b| add(a, b)))
}

/// Folded sum of the IPv4 pseudo-header used by TCP and UDP (RFC 9293 §3.1, RFC 768):
/// source, destination, zero, protocol, and the upper-layer length.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u16) -> u16 {
    let s = src.octets();
    let d = dst.octets();
    let acc = u64::from(u16::from_be_bytes([s[0], s[1]]))
        + u64::from(u16::from_be_bytes([s[2], s[3]]))
        + u64::from(u16::from_be_bytes([d[0], d[1]]))
        + u64::from(u16::from_be_bytes([d[2], d[3]]))
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

/// Incremental update of a checksum field when one 16-bit word changes from `old` to `new`
/// (RFC 1624 eqn. 3: `HC' = ~(~HC + ~m + m')`).
pub fn update_u16(checksum: u16, old: u16, new: u16) -> u16 {
    finish(add(add(!checksum, !old), new))
}

/// Copies `src` into `dst` (which must be at least as long) and returns `sum(src)`: the fused
/// copy-and-checksum path used when building segments, so the payload is read once.
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    let dst = &mut dst[..src.len()];
    dst.copy_from_slice(src);
    sum(src)
}

/// Whether `data`, which contains its own checksum field, verifies (its full sum is 0xffff),
/// optionally with a pseudo-header sum added.
pub fn verify(pseudo: u16, data: &[u8]) -> bool {
    add(pseudo, sum(data)) == 0xffff
}
