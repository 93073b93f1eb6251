//! The IPv4 Identification field of the packets we send.
//!
//! Everything we send carries DF and is never fragmented, so by RFC 6864 §4.1 the ID of such
//! an atomic datagram carries no meaning for reassembly. It still leaks: one global counter
//! lets anyone who receives two of our packets learn how many we sent to others in between
//! (the "idle scan"), and a counter that starts at 0 dates the host. As Linux does
//! (`ip_idents`, RFC 6864 §4.1's advice against a shared counter), each destination gets its
//! own sequence: a keyed hash of (destination, protocol) picks one of a fixed table of
//! counters and gives the sequence a secret starting point, so traffic to one host moves no
//! other host's IDs (short of a bucket collision), and the values reveal no clock.

use siphasher::sip::SipHasher13;
use std::net::Ipv4Addr;

/// Counters in the table (a power of two). 2048 like Linux's minimum: 4 KiB.
const BUCKETS: usize = 2048;

/// Per-destination IPv4 identification sequences.
#[derive(Debug, Clone)]
pub struct IpIds {
    hasher: SipHasher13,
    counters: Box<[u16]>,
    /// The last destination asked for, with its bucket and offset: a connection sends to one
    /// destination many times in a row, and this spares the hash.
    last: Option<IdSlot>,
}

impl IpIds {
    /// Sequences keyed by `key` (secret, from the caller's random source).
    pub fn new(key: [u8; 16]) -> Self {
        IpIds {
            hasher: SipHasher13::new_with_key(&key),
            counters: vec![0; BUCKETS].into_boxed_slice(),
            last: None,
        }
    }

    /// The next ID for a packet of `protocol` to `dst`.
    pub fn next(&mut self, dst: Ipv4Addr, protocol: u8) -> u16 {
        let slot = self.slot(dst, protocol);
        self.next_in(slot)
    }

    /// The sequence of `protocol` to `dst`, for a caller that sends there many times and
    /// keeps it ([`TxRoute`](super::TxRoute)): a connection then hashes its destination once,
    /// not once per packet whenever packets to other destinations come between.
    pub fn slot(&mut self, dst: Ipv4Addr, protocol: u8) -> IdSlot {
        match self.last {
            Some(slot) if slot.dst == dst && slot.protocol == protocol => slot,
            _ => {
                let o = dst.octets();
                let h = self.hasher.hash(&[b'I', o[0], o[1], o[2], o[3], protocol]);
                let bucket = ((h as usize) & (BUCKETS - 1)) as u16;
                let slot = IdSlot { dst, protocol, bucket, offset: (h >> 32) as u16 };
                self.last = Some(slot);
                slot
            }
        }
    }

    /// The next ID of the sequence `slot` (from [`slot`](Self::slot) of this table).
    pub fn next_in(&mut self, slot: IdSlot) -> u16 {
        let c = &mut self.counters[usize::from(slot.bucket) & (BUCKETS - 1)];
        *c = c.wrapping_add(1);
        slot.offset.wrapping_add(*c)
    }
}

/// One destination's IP ID sequence: its counter in the table and its secret offset, with the
/// destination and protocol it was computed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdSlot {
    dst: Ipv4Addr,
    protocol: u8,
    bucket: u16,
    offset: u16,
}

impl IdSlot {
    /// Whether this is the sequence of `protocol` to `dst`.
    pub fn is_for(&self, dst: Ipv4Addr, protocol: u8) -> bool {
        self.dst == dst && self.protocol == protocol
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

    #[test]
    fn one_destination_counts_up_from_a_secret_start() {
        let mut ids = IpIds::new([7; 16]);
        let first = ids.next(A, 6);
        assert_ne!(first, 1, "starts at a keyed offset, not at 0");
        assert_eq!(ids.next(A, 6), first.wrapping_add(1));
        let mut other_key = IpIds::new([8; 16]);
        assert_ne!(other_key.next(A, 6), first);
    }

    #[test]
    fn traffic_to_others_does_not_move_a_destination() {
        let mut ids = IpIds::new([7; 16]);
        let a1 = ids.next(A, 6);
        for _ in 0..100 {
            ids.next(B, 6);
        }
        assert_eq!(ids.next(A, 6), a1.wrapping_add(1), "an idle scan sees no other traffic");
    }

    #[test]
    fn a_kept_slot_continues_the_destinations_sequence() {
        let mut ids = IpIds::new([7; 16]);
        let slot = ids.slot(A, 6);
        assert!(slot.is_for(A, 6) && !slot.is_for(B, 6) && !slot.is_for(A, 17));
        let a1 = ids.next(A, 6);
        ids.next(B, 6);
        assert_eq!(ids.next_in(slot), a1.wrapping_add(1));
        assert_eq!(ids.next(A, 6), a1.wrapping_add(2), "one sequence, however it is reached");
    }
}
