//! The Internet checksum (RFC 1071), pseudo-header sums and incremental update (RFC 1624).
//!
//! Sums are ones'-complement sums of big-endian 16-bit words, folded to 16 bits and *not*
//! complemented; [`finish`] complements. Keeping partial sums un-complemented lets callers add
//! a pseudo-header, a header and a payload that live in different places.
//!
//! # How [`sum`] is fast without `unsafe`
//! RFC 1071 §2 lists the properties that make the sum cheap: it is commutative and
//! associative (so words may be added in any grouping, e.g. 64 bits at a time, and folded
//! later), and it is byte-order independent (summing little-endian words and swapping the
//! two bytes of the folded result gives the big-endian sum). Mathematically the folded sum is
//! the data's value modulo 2^16 - 1, and since 2^64 ≡ 1 (mod 2^16 - 1), a 64-bit word may be
//! added as a whole. The loop therefore loads 8 bytes at a time in native (little-endian on
//! x86) order into 128-bit accumulators, which cannot overflow for any slice that fits in
//! memory, unrolled four words per step with two independent accumulators so the adds can
//! issue in parallel. The zero and non-zero results match the reference byte-pair loop
//! exactly: only all-zero data sums to 0, anything else folds into `1..=0xffff`.

use std::net::Ipv4Addr;

/// Bytes per unrolled step of the main loop: four 64-bit words.
const BLOCK: usize = 32;
/// Bytes per word.
const WORD: usize = 8;

/// Loads eight bytes as a little-endian u64. `chunk` comes from `chunks_exact(WORD)` or is a
/// sub-slice of a `BLOCK` chunk at a multiple of `WORD`, so it always holds at least 8 bytes.
#[inline(always)]
fn load(chunk: &[u8]) -> u64 {
    let mut w = [0u8; WORD];
    w.copy_from_slice(&chunk[..WORD]);
    u64::from_le_bytes(w)
}

/// Folds a 128-bit sum of little-endian 64-bit words into the folded 16-bit big-endian sum.
#[inline(always)]
fn fold_le128(acc: u128) -> u16 {
    // 2^64 ≡ 1 (mod 2^16 - 1): add the halves with an end-around carry.
    let (lo, carry) = (acc as u64).overflowing_add((acc >> 64) as u64);
    let acc64 = lo + u64::from(carry); // lo <= 2^64 - 2 when carry is set: no overflow.
                                       // The little-endian words' sum, byte-swapped, is the big-endian sum (RFC 1071 §2(B)).
    fold(acc64).swap_bytes()
}

/// Ones'-complement sum of `data` as big-endian 16-bit words, folded to 16 bits. An odd
/// trailing byte is padded with a zero byte on the right (RFC 1071 §4.1).
pub fn sum(data: &[u8]) -> u16 {
    fold_le128(sum_le(data, 0))
}

/// The unfolded sum of `data` as little-endian 64-bit words, plus `seed` (a partial sum in
/// the same little-endian domain, such as [`verify_tcp_v4`]'s pseudo-header). Always
/// inlined: each caller gets the loop with its own seed and fold.
#[inline(always)]
fn sum_le(data: &[u8], seed: u64) -> u128 {
    let mut a: u128 = u128::from(seed);
    let mut b: u128 = 0;
    let mut blocks = data.chunks_exact(BLOCK);
    for c in &mut blocks {
        a += u128::from(load(&c[0..]));
        b += u128::from(load(&c[8..]));
        a += u128::from(load(&c[16..]));
        b += u128::from(load(&c[24..]));
    }
    // Most segments end on a block or word boundary (a 32-byte TCP header and 64 bytes, a
    // full-sized 1,480-byte one): the remainder's steps are skipped whole when they have
    // nothing to add, where they cost some 30 instructions of tests each time.
    let rest = blocks.remainder();
    if !rest.is_empty() {
        let mut words = rest.chunks_exact(WORD);
        for c in &mut words {
            a += u128::from(load(c));
        }
        let tail = words.remainder();
        if !tail.is_empty() {
            a += u128::from(tail_word(tail));
        }
    }
    a + b
}

/// The last 0..=7 bytes as a little-endian word padded with zeros. The tail starts at an
/// offset that is a multiple of 8, so an odd last byte lands in the high-order half of its
/// big-endian 16-bit word, as RFC 1071 §4.1 pads it.
#[inline(always)]
fn tail_word(tail: &[u8]) -> u64 {
    // At most three fixed-size loads picked by the length's bits (a 20-byte IPv4 header ends
    // in one 4-byte load): a byte loop or a variable-length memcpy here cost more than the
    // whole sum of a small header.
    let mut w = 0u64;
    let mut at = 0;
    if let Some(b) = tail.get(..4).filter(|_| tail.len() & 4 != 0) {
        w = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        at = 4;
    }
    if let Some(b) = tail.get(at..at + 2).filter(|_| tail.len() & 2 != 0) {
        w |= u64::from(u16::from_le_bytes([b[0], b[1]])) << (8 * at);
        at += 2;
    }
    if let Some(&b) = tail.get(at).filter(|_| tail.len() & 1 != 0) {
        w |= u64::from(b) << (8 * at);
    }
    w
}

/// Folds a wide ones'-complement accumulator to 16 bits: the value in `1..=0xffff` congruent
/// to `acc` modulo 2^16 - 1, or 0 for 0 (what adding the 16-bit halves with end-around carries
/// until the sum fits gives, RFC 1071 §2(C)).
///
/// Branch-free, in two steps instead of a loop of up to four rounds (each a compare and a
/// jump): 64 → 32 bits as one add with the end-around carry (2^32 ≡ 1 mod 2^16 - 1), then
/// 32 → 16 by adding the word to itself rotated by 16, whose high half is then the two halves'
/// sum plus the carry out of the low half. Neither step turns a non-zero value into zero: the
/// first gives 0 only for `lo + hi = 0` (`2^32` becomes 1), the second only for `h + l = 0`.
#[inline]
pub fn fold(acc: u64) -> u16 {
    let (lo, carry) = (acc as u32).overflowing_add((acc >> 32) as u32);
    // `lo <= 2^32 - 2` when the add carried: no overflow.
    let s = lo + u32::from(carry);
    (s.wrapping_add(s.rotate_left(16)) >> 16) as u16
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
///
/// Every partial sum must cover an even number of bytes except possibly the last, because
/// an odd-length part shifts the byte pairing of whatever follows it.
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

/// Copies `src` into the front of `dst` and returns the folded sum of the bytes copied, in
/// one pass: the fused copy-and-checksum used when building segments, so the payload is read
/// from memory once.
///
/// If `dst` is shorter than `src`, only the first `dst.len()` bytes of `src` are copied and
/// summed (the result equals `sum(&src[..dst.len()])`); the function never panics. Callers
/// that need the whole payload size `dst` first.
pub fn copy_and_sum(dst: &mut [u8], src: &[u8]) -> u16 {
    fold_le128(copy_and_sum_le(dst, src))
}

/// [`copy_and_sum`] always inlined and left unfolded, for the one caller per segment that
/// matters: the prebuilt-header writer's short one-piece payload (`TcpTemplate::write`).
/// There the call's register saves, restores and argument moves were about a fifth of the
/// work on a 64-byte payload, and the payload's own fold and byte swap are left to the one
/// fold of the whole segment's sum.
///
/// The value is congruent modulo 2^16 − 1 to the big-endian sum of the bytes copied (below
/// 2^40, so headers' words can be added to it in a `u64`): the little-endian sum is reduced
/// to 32 bits (2^32 ≡ 1), then multiplied by 2^8, since a 16-bit word byte-swapped is the
/// word times 2^8 modulo 2^16 − 1 (RFC 1071 §2(B)). Only a fold of a sum that is not zero
/// gives the same bits as `fold(x)` for every congruent `x`, so callers add it to something
/// nonzero (a TCP header's data offset) before folding.
#[inline(always)]
pub(crate) fn copy_and_sum_wide(dst: &mut [u8], src: &[u8]) -> u64 {
    let acc = copy_and_sum_le(dst, src);
    // 2^64 ≡ 1: the halves with an end-around carry, as in `fold_le128`.
    let (lo, carry) = (acc as u64).overflowing_add((acc >> 64) as u64);
    let acc64 = lo + u64::from(carry);
    let (lo32, carry32) = (acc64 as u32).overflowing_add((acc64 >> 32) as u32);
    (u64::from(lo32) + u64::from(carry32)) << 8
}

/// The copy and the unfolded little-endian sum of [`copy_and_sum`], always inlined into its
/// two forms.
#[inline(always)]
fn copy_and_sum_le(dst: &mut [u8], src: &[u8]) -> u128 {
    let n = src.len().min(dst.len());
    let (dst, src) = (&mut dst[..n], &src[..n]);
    let mut a: u128 = 0;
    let mut b: u128 = 0;
    // Two blocks per step: the loop's own three instructions come once per 64 bytes (a
    // 1,448-byte segment is 22 steps, not 45).
    let mut d_pairs = dst.chunks_exact_mut(2 * BLOCK);
    let mut s_pairs = src.chunks_exact(2 * BLOCK);
    for (d, s) in (&mut d_pairs).zip(&mut s_pairs) {
        // A fixed-size block copy compiles to a few vector moves; the block is then summed
        // from registers or L1, so memory is still read once.
        d.copy_from_slice(s);
        a += u128::from(load(&s[0..]));
        b += u128::from(load(&s[8..]));
        a += u128::from(load(&s[16..]));
        b += u128::from(load(&s[24..]));
        a += u128::from(load(&s[32..]));
        b += u128::from(load(&s[40..]));
        a += u128::from(load(&s[48..]));
        b += u128::from(load(&s[56..]));
    }
    let mut d_blocks = d_pairs.into_remainder().chunks_exact_mut(BLOCK);
    let mut s_blocks = s_pairs.remainder().chunks_exact(BLOCK);
    if let (Some(d), Some(s)) = (d_blocks.next(), s_blocks.next()) {
        d.copy_from_slice(s);
        a += u128::from(load(&s[0..]));
        b += u128::from(load(&s[8..]));
        a += u128::from(load(&s[16..]));
        b += u128::from(load(&s[24..]));
    }
    // The last 0..=31 bytes: whole words one at a time (at most three), then the last 1..=7
    // bytes as the top of the 8-byte word that ends the data, copied whole (it overlaps bytes
    // already copied, with the same values) and shifted down to drop the bytes already
    // summed. The generic remainder loops cost about 30 instructions of set-up on a 64-byte
    // payload and called `memcpy` for the last bytes.
    let (mut d, mut s) = (d_blocks.into_remainder(), s_blocks.remainder());
    while let (Some((dw, d_rest)), Some((sw, s_rest))) =
        (d.split_first_chunk_mut::<WORD>(), s.split_first_chunk::<WORD>())
    {
        *dw = *sw;
        a += u128::from(u64::from_le_bytes(*sw));
        (d, s) = (d_rest, s_rest);
    }
    let tail = s.len();
    if tail != 0 {
        if let (Some(dw), Some(sw)) = (dst.last_chunk_mut::<WORD>(), src.last_chunk::<WORD>()) {
            *dw = *sw;
            // The tail starts at a multiple of 8, so its bytes keep their lanes, as in
            // `tail_word`.
            a += u128::from(u64::from_le_bytes(*sw) >> (8 * (WORD - tail)));
        } else {
            // Fewer than 8 bytes in all: the tail is the whole of `src`.
            a += u128::from(copy_tail(dst, src));
        }
    }
    a + b
}

/// [`tail_word`] of `tail` (0..=7 bytes), copying them to `dst` (as long) on the way.
#[inline(always)]
fn copy_tail(dst: &mut [u8], tail: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut at = 0;
    if let (Some(d), Some(b)) = (dst.get_mut(..4), tail.get(..4).filter(|_| tail.len() & 4 != 0)) {
        d.copy_from_slice(b);
        w = u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
        at = 4;
    }
    if let (Some(d), Some(b)) =
        (dst.get_mut(at..at + 2), tail.get(at..at + 2).filter(|_| tail.len() & 2 != 0))
    {
        d.copy_from_slice(b);
        w |= u64::from(u16::from_le_bytes([b[0], b[1]])) << (8 * at);
        at += 2;
    }
    if let (Some(d), Some(&b)) = (dst.get_mut(at), tail.get(at).filter(|_| tail.len() & 1 != 0)) {
        *d = b;
        w |= u64::from(b) << (8 * at);
    }
    w
}

/// Whether `data`, which contains its own checksum field, verifies (its full sum is 0xffff),
/// optionally with a pseudo-header sum added.
pub fn verify(pseudo: u16, data: &[u8]) -> bool {
    add(pseudo, sum(data)) == 0xffff
}

/// Whether an upper-layer packet `data` (TCP or UDP, its checksum field included) from
/// `src` to `dst` verifies over the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): the same
/// answer as `verify(pseudo_header_v4(src, dst, protocol, len), data)`, for `data` of at
/// most 65,535 bytes (longer data is `false`: its length cannot be in the pseudo-header).
///
/// The pseudo-header is added to the data's accumulator before the one fold, in the
/// loop's little-endian domain (RFC 1071 §2(B)): each address is one 32-bit word as it
/// lies in memory, and the zero/protocol and length words are byte-swapped 16-bit values.
/// A sum of 0xffff reads the same in either byte order, so the result needs no swap.
#[inline]
pub fn verify_tcp_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, data: &[u8]) -> bool {
    let Ok(len) = u16::try_from(data.len()) else { return false };
    let pseudo = u64::from(u32::from_le_bytes(src.octets()))
        + u64::from(u32::from_le_bytes(dst.octets()))
        + (u64::from(protocol) << 8)
        + u64::from(len.swap_bytes());
    let acc = sum_le(data, pseudo);
    let (lo, carry) = (acc as u64).overflowing_add((acc >> 64) as u64);
    fold(lo + u64::from(carry)) == 0xffff
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The byte-pair loop of RFC 1071 §4.1, kept as the oracle.
    fn naive(data: &[u8]) -> u16 {
        let mut acc: u64 = 0;
        let mut pairs = data.chunks_exact(2);
        for p in &mut pairs {
            acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
        }
        if let [last] = pairs.remainder() {
            acc += u64::from(*last) << 8;
        }
        fold_by_loop(acc)
    }

    fn pattern(len: usize, seed: u32) -> Vec<u8> {
        let mut rng = crate::rng::SplitMix64::new(u64::from(seed));
        (0..len).map(|_| (rng.next_u64() >> 56) as u8).collect()
    }

    /// The folding loop `fold` was until it became branch-free: add the 16-bit halves until
    /// the sum fits.
    fn fold_by_loop(mut acc: u64) -> u16 {
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        acc as u16
    }

    #[test]
    fn fold_matches_the_folding_loop() {
        let mut rng = crate::rng::SplitMix64::new(17);
        let edges = [
            0,
            1,
            0xffff,
            0x1_0000,
            0x1_fffe,
            0xffff_ffff,
            0x1_0000_0000,
            0xffff_0001,
            0xffff_ffff_ffff_ffff,
            0xffff_fffe_0000_0001,
            0x8000_0000_8000_0000,
        ];
        for acc in edges.into_iter().chain((0..200_000).map(|i| {
            let r = rng.next_u64();
            // Small sums as well as wide ones: header sums are a few words.
            r >> (i % 64)
        })) {
            assert_eq!(fold(acc), fold_by_loop(acc), "acc {acc:#x}");
        }
    }

    #[test]
    fn rfc1071_worked_example() {
        // RFC 1071 §3: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2 (with carries folded in).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(sum(&data), 0xddf2);
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn every_length_and_offset_matches_reference() {
        let buf = pattern(300, 7);
        for start in 0..9 {
            for len in 0..(buf.len() - start) {
                let s = &buf[start..start + len];
                assert_eq!(sum(s), naive(s), "start {start} len {len}");
            }
        }
    }

    #[test]
    fn zero_and_all_ones_edges() {
        assert_eq!(sum(&[]), 0);
        assert_eq!(sum(&[0; 77]), 0);
        // All-ones data sums to 0xffff (ones'-complement negative zero), never to 0.
        assert_eq!(sum(&[0xff; 64]), 0xffff);
        assert_eq!(sum(&[0xff; 63]), naive(&[0xff; 63]));
        // A sum that is a multiple of 0xffff but non-zero must stay 0xffff.
        assert_eq!(sum(&[0x00, 0x01, 0xff, 0xfe]), 0xffff);
    }

    #[test]
    fn copy_and_sum_copies_and_sums_every_length() {
        let src = pattern(200, 3);
        for len in 0..src.len() {
            let mut dst = vec![0xa5u8; len + 3];
            let s = copy_and_sum(&mut dst, &src[..len]);
            assert_eq!(s, naive(&src[..len]), "len {len}");
            assert_eq!(&dst[..len], &src[..len]);
            assert!(dst[len..].iter().all(|&b| b == 0xa5), "wrote past src.len()");
        }
    }

    /// The unfolded form, folded with a nonzero addend (as the template writer adds it to a
    /// header sum), gives the bits the folded form gives, for every length, for all-ones
    /// payloads (the largest sums, and a sum ≡ 0 modulo 2^16 − 1) and for addends that make
    /// the total ≡ 0; it copies the same bytes and nothing past them.
    #[test]
    fn copy_and_sum_wide_folds_to_copy_and_sum() {
        let addends = [1u64, 0x5000, 0xffff, 0x1_0000, 0xff_ffff_ffff];
        for src in [pattern(200, 3), vec![0xff; 200], vec![0; 200]] {
            for len in 0..src.len() {
                let mut dst = vec![0xa5u8; len + 3];
                let wide = copy_and_sum_wide(&mut dst, &src[..len]);
                assert!(wide < 1 << 40, "len {len}: {wide:#x}");
                assert_eq!(&dst[..len], &src[..len]);
                assert!(dst[len..].iter().all(|&b| b == 0xa5), "wrote past src.len()");
                let folded = u64::from(naive(&src[..len]));
                // The addend that brings the folded sum to 0 modulo 2^16 − 1.
                let to_zero = 0xffff - folded % 0xffff;
                for add in addends.into_iter().chain([to_zero.max(1)]) {
                    assert_eq!(fold(wide + add), fold(folded + add), "len {len} + {add:#x}");
                }
            }
        }
    }

    #[test]
    fn copy_and_sum_short_destination_copies_prefix() {
        let src = pattern(100, 9);
        for dlen in 0..src.len() {
            let mut dst = vec![0u8; dlen];
            let s = copy_and_sum(&mut dst, &src);
            assert_eq!(s, naive(&src[..dlen]), "dlen {dlen}");
            assert_eq!(&dst[..], &src[..dlen]);
        }
    }

    #[test]
    fn verify_accepts_filled_and_rejects_flipped() {
        let mut data = pattern(41, 5);
        data[4] = 0;
        data[5] = 0;
        let c = checksum(&data);
        data[4..6].copy_from_slice(&c.to_be_bytes());
        assert!(verify(0, &data));
        data[10] ^= 0x40;
        assert!(!verify(0, &data));
    }

    #[test]
    fn verify_tcp_v4_matches_verify_over_the_pseudo_header() {
        let src = Ipv4Addr::new(198, 18, 0, 1);
        let dst = Ipv4Addr::new(203, 0, 113, 250);
        for len in 0..300 {
            for seed in 0..3 {
                let mut data = pattern(len, seed * 1000 + len as u32);
                let pseudo = pseudo_header_v4(src, dst, 6, len as u16);
                if len >= 18 {
                    // Fill the TCP checksum field so that half the cases verify.
                    data[16] = 0;
                    data[17] = 0;
                    let c = finish(add(pseudo, sum(&data)));
                    data[16..18].copy_from_slice(&c.to_be_bytes());
                    if seed == 1 {
                        data[len / 2] ^= 0x10;
                    }
                }
                assert_eq!(
                    verify_tcp_v4(src, dst, 6, &data),
                    verify(pseudo, &data),
                    "len {len} seed {seed}"
                );
                if len >= 18 && seed != 1 {
                    assert!(verify_tcp_v4(src, dst, 6, &data), "len {len}");
                    assert!(!verify_tcp_v4(dst, src, 17, &data), "protocol is summed");
                }
            }
        }
        assert!(!verify_tcp_v4(src, dst, 6, &vec![0; 65_536]), "no length to sum");
    }

    #[test]
    fn incremental_update_matches_recompute() {
        let mut data = pattern(40, 11);
        data[10] = 0;
        data[11] = 0;
        let c = checksum(&data);
        data[10..12].copy_from_slice(&c.to_be_bytes());
        let old = u16::from_be_bytes([data[20], data[21]]);
        let new: u16 = 0x1234;
        data[20..22].copy_from_slice(&new.to_be_bytes());
        let updated = update_u16(c, old, new);
        data[10..12].copy_from_slice(&updated.to_be_bytes());
        assert!(verify(0, &data));
    }
}
