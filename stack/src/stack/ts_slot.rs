//! A connection's table slot carried in the timestamps it is sent, so that the RX look-ahead
//! finds an established connection's slot from the TSecr its peer echoes, without reading
//! the flow index.
//!
//! At 100,000 connections the index probe of each frame (a control group, then a bucket:
//! two lines, one after the other) was the look-ahead's largest wait (docs/benchmarks.md,
//! "The slot in the timestamp"). A TSval is ours to choose: RFC 7323 §5.4 asks only that it
//! grow with a clock, and §7.1 that its offset be random per connection so that it reveals
//! no uptime and links no connections. So a connection opened from a SYN gets an offset
//! whose high bits name its slot through a keyed permutation (the tag) and whose low bits are
//! keyed-random with the top one set:
//!
//! ```text
//! offset = tag << S | 1 << (S - 1) | keyed & (2^(S-1) - 1),   S = 32 - tag bits
//! TSecr  = ms(sent) + offset,   so   TSecr - ms(now) = offset - age
//! ```
//!
//! While the echoed TSval is younger than 2^(S-1) ms (16 s with 17 tag bits, which name
//! 131,072 slots), `(TSecr - ms(now)) >> S` is the tag. The look-ahead only prefetches the slot
//! a tag names; the key is compared before the connection is used, and a frame whose tag
//! names another connection (an older echo, a connection keyed otherwise) is looked up as any
//! other. Only connections a SYN opened are tagged: a SYN cookie's connection keeps the
//! keyed offset its SYN-ACK carried, and an active open keeps the offset of its 4-tuple, which
//! a peer's TIME-WAIT compares across incarnations (as Linux's per-host offsets do).

use crate::rng::mix64;
use crate::tcp::Connection;

/// Most tag bits: below 8 bits of age an echo older than 128 ms would miss its slot.
const MAX_TAG_BITS: u32 = 24;

/// The keyed permutation of slot numbers and the split of a TSval between tag and age.
#[derive(Clone, Copy, Debug)]
pub(super) struct SlotTags {
    /// Bits of the tag: enough for every slot of the table.
    bits: u32,
    /// XOR key, and an odd multiplier with its inverse modulo 2^bits.
    xor: u32,
    mul: u32,
    inv: u32,
}

impl SlotTags {
    /// Tags for a table of `capacity` slots, keyed by `key`; `None` when the slots need more
    /// than [`MAX_TAG_BITS`] bits.
    pub(super) fn new(capacity: usize, key: [u8; 16]) -> Option<SlotTags> {
        let bits = usize::BITS - capacity.max(2).saturating_sub(1).leading_zeros();
        if bits > MAX_TAG_BITS {
            return None;
        }
        let k = mix64(u64::from_le_bytes(key[..8].try_into().ok()?) ^ 0x7473_736c_6f74);
        let k = mix64(k ^ u64::from_le_bytes(key[8..].try_into().ok()?));
        let mul = (k as u32) | 1;
        // Newton's iteration for the inverse modulo 2^32: each step doubles the bits that
        // are right (a multiplier is its own inverse to 3 bits).
        let mut inv = mul;
        for _ in 0..4 {
            inv = inv.wrapping_mul(2u32.wrapping_sub(mul.wrapping_mul(inv)));
        }
        Some(SlotTags { bits, xor: (k >> 32) as u32, mul, inv })
    }

    fn mask(&self) -> u32 {
        u32::MAX >> (32 - self.bits)
    }

    /// Bits of a TSval below the tag.
    fn shift(&self) -> u32 {
        32 - self.bits
    }

    /// The TSval offset of a connection in `slot` whose keyed offset would be `keyed`.
    pub(super) fn offset(&self, keyed: u32, slot: u32) -> u32 {
        let tag = ((slot ^ self.xor) & self.mask()).wrapping_mul(self.mul) & self.mask();
        let s = self.shift();
        let half = 1u32 << (s - 1);
        tag << s | half | (keyed & (half - 1))
    }

    /// Gives `conn`, opened from a SYN and not yet sending, the offset that names `slot`,
    /// its keyed offset's low bits kept.
    pub(super) fn tag(&self, conn: &mut Connection, slot: u32) {
        conn.set_ts_offset(self.offset(conn.ts_offset(), slot));
    }

    /// The slot an echoed `tsecr` names at `now_ms` (our millisecond clock, as TSvals take
    /// it), if the echo is younger than 2^(S-1) ms; unchecked beyond that (it may be any slot
    /// of `2^bits`, held or not, this connection's or another's).
    #[inline]
    pub(super) fn slot(&self, tsecr: u32, now_ms: u32) -> u32 {
        let tag = tsecr.wrapping_sub(now_ms) >> self.shift();
        (tag.wrapping_mul(self.inv) & self.mask()) ^ (self.xor & self.mask())
    }
}

/// The local ports some listener takes (a bit each): only a frame to one of them is looked
/// for by its echo, since only connections a listener opened are tagged, and an active
/// open's echo would name a slot at random (a wasted prefetch, then the index after all).
pub(super) struct ListeningPorts(Box<[u64; 1024]>);

impl ListeningPorts {
    pub(super) fn new() -> Self {
        ListeningPorts(Box::new([0; 1024]))
    }

    #[inline]
    pub(super) fn has(&self, port: u16) -> bool {
        self.0[usize::from(port >> 6)] & (1 << (port & 63)) != 0
    }

    pub(super) fn set(&mut self, port: u16, on: bool) {
        let word = &mut self.0[usize::from(port >> 6)];
        if on {
            *word |= 1 << (port & 63);
        } else {
            *word &= !(1 << (port & 63));
        }
    }
}

impl core::fmt::Debug for ListeningPorts {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let ports = (0..=u16::MAX).filter(|&p| self.has(p));
        f.debug_set().entries(ports).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(capacity: usize) -> SlotTags {
        SlotTags::new(capacity, *b"0123456789abcdef").expect("a small table")
    }

    #[test]
    fn an_echo_names_its_slot_while_younger_than_half_the_low_bits() {
        for capacity in [1, 2, 3, 1000, 100_000, 131_072, 1 << 24] {
            let t = tags(capacity);
            let half_life = 1u32 << (t.shift() - 1);
            for slot in [0, 1, capacity as u32 / 2, capacity as u32 - 1] {
                for keyed in [0, 0x5a5a_5a5a, u32::MAX] {
                    let offset = t.offset(keyed, slot);
                    for sent in [0u32, 1_000, u32::MAX - 5] {
                        let tsval = sent.wrapping_add(offset);
                        for age in [0, 1, half_life / 2, half_life - 1] {
                            assert_eq!(
                                t.slot(tsval, sent.wrapping_add(age)),
                                slot,
                                "{capacity} {slot} {age}"
                            );
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn the_tags_are_a_keyed_permutation() {
        let t = tags(1000);
        assert_eq!(t.bits, 10);
        let mut seen = vec![false; 1024];
        for slot in 0..1024u32 {
            let tag = (t.offset(0, slot) >> t.shift()) as usize;
            assert!(!seen[tag], "two slots share tag {tag}");
            seen[tag] = true;
        }
        let other = SlotTags::new(1000, *b"fedcba9876543210").expect("tags");
        let differ = (0..1024).filter(|&s| t.offset(7, s) != other.offset(7, s)).count();
        assert!(differ > 1000, "another key gives other tags ({differ} differ)");
        // The keyed low bits are kept below the top one, which is set.
        let low = t.offset(0xffff_ffff, 3) & ((1 << t.shift()) - 1);
        assert_eq!(low, (1 << t.shift()) - 1);
        assert_eq!(t.offset(0, 3) & ((1 << t.shift()) - 1), 1 << (t.shift() - 1));
    }

    #[test]
    fn listening_ports_are_one_bit_each() {
        let mut l = ListeningPorts::new();
        for p in [0, 63, 64, 80, 65535] {
            assert!(!l.has(p));
            l.set(p, true);
            assert!(l.has(p));
        }
        l.set(80, false);
        assert!(!l.has(80) && l.has(64) && l.has(63) && l.has(65535));
        assert_eq!(format!("{l:?}"), "{0, 63, 64, 65535}");
    }

    #[test]
    fn tables_beyond_the_tag_bits_are_not_tagged() {
        assert!(SlotTags::new((1 << 24) + 1, [0; 16]).is_none());
        assert!(SlotTags::new(1 << 24, [0; 16]).is_some());
    }
}
