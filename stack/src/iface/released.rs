//! Packets a newly resolved neighbour released that the transmit queue could not take at once.
//!
//! A neighbour's pending queue holds up to `arp_pending_bytes_per_neighbor` of packets (101
//! full-size frames, 338 small ones by default), the interface's transmit queue
//! `tx_queue_capacity` frames (64): releasing the first into the second lost what did not
//! fit. What does not fit waits here, in order, and `poll_transmit` sends it once the transmit
//! queue has been emptied. Bounded like the pending queues together
//! (`arp_pending_bytes_total`, counted by [`truesize`]); beyond that a packet is dropped and
//! counted (`tx_queue_full`), as before.

use std::collections::VecDeque;

use super::neighbor::truesize;
use crate::wire::ethernet::{EtherType, EthernetAddress};

/// One released packet: its destination MAC, its EtherType, the IP packet.
type Released = (EthernetAddress, EtherType, Vec<u8>);

/// Released packets waiting for room to go out, oldest first.
#[derive(Debug)]
pub(super) struct ReleasedFrames {
    frames: VecDeque<Released>,
    bytes: usize,
    bound: usize,
}

impl ReleasedFrames {
    /// Empty, holding at most `bound` bytes ([`truesize`]). Allocates nothing until used.
    pub(super) fn new(bound: usize) -> Self {
        ReleasedFrames { frames: VecDeque::new(), bytes: 0, bound }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// Keeps `packet` for `mac`; false (nothing kept) if that would pass the bound.
    pub(super) fn push(
        &mut self,
        mac: EthernetAddress,
        ethertype: EtherType,
        packet: Vec<u8>,
    ) -> bool {
        let size = truesize(packet.len());
        if self.bytes + size > self.bound {
            return false;
        }
        self.bytes += size;
        self.frames.push_back((mac, ethertype, packet));
        true
    }

    /// The oldest packet, no longer counted.
    pub(super) fn pop(&mut self) -> Option<Released> {
        let r = self.frames.pop_front()?;
        self.bytes -= truesize(r.2.len());
        Some(r)
    }
}
