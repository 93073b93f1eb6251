//! The simulator: two [`Stack`](crate::stack::Stack)s over impaired links in virtual time
//! (feature `sim`).
//!
//! - [`rng`]: SplitMix64, the only source of chance, and a seeded byte [`Pattern`];
//! - [`link`]: one direction of a link with delay, bandwidth, a bounded queue, loss,
//!   reordering, duplication and corruption;
//! - [`pair`]: two stacks joined by two links, driven from event to event;
//! - [`rudp`]: two `rudp` endpoints over the same seeded links;
//! - [`app`]: applications that check every byte (bulk both ways, request/response);
//! - [`hostile`]: a hostile peer against one stack, with the invariants it must keep (shared
//!   by the `stack_peer` fuzz target and the `stack_hostile_peer` property test).

pub mod app;
pub mod hostile;
pub mod link;
pub mod pair;
pub mod rng;
pub mod rudp;

pub use crate::rng::SplitMix64;
pub use app::{
    bulk_transfer, bulk_transfer_to, establish, request_response, BulkReport, RpcReport, StateLog,
};
pub use link::{Link, LinkConfig, LinkStats};
pub use pair::{dual_config, side_config, Pair, Side, ADDR6_A, ADDR6_B, ADDR_A, ADDR_B, START};
pub use rng::Pattern;
pub use rudp::{RudpPair, RudpSide, RUDP_ADDR_A, RUDP_ADDR_B};

/// The earliest of some optional instants (when a simulation's next event is due).
pub(crate) fn earliest(
    times: impl IntoIterator<Item = Option<crate::time::Instant>>,
) -> Option<crate::time::Instant> {
    times.into_iter().flatten().min()
}
