//! What a connection keeps of its destination between the segments it sends.
//!
//! Every IPv4 packet needs its next hop's MAC (the neighbour cache) and an IP ID from its
//! destination's sequence (`ip_id`, RFC 6864 §4.1): two keyed hashes. The interface memoises
//! only the last destination asked for, which serves one busy connection but misses on
//! every packet when connections to two or more hosts take turns (a server's usual case).
//! A [`TxRoute`] held by the connection answers both without hashing: the ID sequence's slot
//! (fixed for a destination) and the neighbour entry's slot (read afresh each time, so it
//! never outlives the entry).

use std::net::Ipv4Addr;

use super::ip_id::IdSlot;
use super::neighbor::NeighborMemo;

/// A sender's memo of its destination's IP ID sequence and next-hop neighbour entry. Start
/// with `TxRoute::default()`; [`Interface::send_ip_routed`](super::Interface::send_ip_routed)
/// fills and checks it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TxRoute {
    pub(super) ip_id: Option<IdSlot>,
    pub(super) neighbor: Option<NeighborMemo<Ipv4Addr>>,
}
