//! The IPv4 interface layer: addresses, ARP, ICMP, UDP sockets and drop counters.
//!
//! [`Interface`] is the entry point (its module documents the call order); its work is split
//! by direction into `input` (Ethernet demultiplexing, IPv4, the UDP and ICMP handlers),
//! `output` (IPv4 and link headers, checksum duty, the TX queue, `send_ip`) and `arp`
//! (answering, resolving, the pending queue). Around it, one idea per file:
//! - [`caps`]: what the device does for us (checksum offloads, MTU, Ethernet or raw IP);
//! - [`config`]: addresses, gateway and every limit, with Linux-like defaults;
//! - `ipv6_config`, [`ipv6_state`], `ipv6_input`, `ipv6_output`, `ndp`: IPv6 beside IPv4 —
//!   addresses with duplicate address detection, Neighbor Discovery, ICMPv6, the IPv6 header;
//! - [`neighbor`]: the neighbour cache (ARP and NDP) with expiry and the bounded queue of unresolved packets;
//! - `released`: what a resolved neighbour released that the transmit queue could not take yet;
//! - [`udp`]: the port table and per-socket receive rings;
//! - [`icmp`]: when an ICMP error may be sent and what it quotes (RFC 792, RFC 1122 §3.2.2);
//! - [`ratelimit`]: the token bucket that paces ICMP errors;
//! - [`counters`]: a named counter for every packet handled and every drop reason.

mod arp;
pub mod caps;
pub mod config;
pub mod counters;
#[cfg(test)]
mod fixtures;
pub mod icmp;
mod input;
pub mod interface;
pub mod ip_id;
mod ipv6_config;
mod ipv6_input;
mod ipv6_output;
pub mod ipv6_state;
mod ndp;
pub mod neighbor;
mod output;
pub mod ratelimit;
mod released;
mod ring;
mod tx_route;
pub mod udp;

pub use caps::{ChecksumCaps, DeviceCaps, Medium, Offload};
pub use config::InterfaceConfig;
pub use counters::{DropReason, IfaceCounters};
pub use icmp::QuotedTcp;
pub use interface::QuotedTcp6;
pub use interface::{Interface, IpSend, IpTxInfo, Received, SendError};
pub use ipv6_config::{link_local_from_mac, Ipv6Cidr, Ipv6Config};
pub use ipv6_output::multicast_mac;
pub use ipv6_state::{AddrState, Ipv6Address, Ipv6State};
pub use neighbor::{ArpCache, NdpCache, NeighborCache, NeighborParams};
pub use output::l4_checksum_offset;
pub(crate) use output::{PrebuiltBase, PrebuiltHop};
pub use ratelimit::TokenBucket;
pub use tx_route::TxRoute;
pub use udp::{BindError, UdpHandle, UdpScope, UdpSockets};
