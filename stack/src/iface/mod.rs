//! The IPv4 interface layer: addresses, ARP, ICMP, UDP sockets and drop counters.
//!
//! [`Interface`] is the entry point (its module documents the call order); its work is split
//! by direction into `input` (Ethernet demultiplexing, IPv4, the UDP and ICMP handlers),
//! `output` (IPv4 and link headers, checksum duty, the TX queue, `send_ip`) and `arp`
//! (answering, resolving, the pending queue). Around it, one idea per file:
//! - [`caps`]: what the device does for us (checksum offloads, MTU, Ethernet or raw IP);
//! - [`config`]: addresses, gateway and every limit, with Linux-like defaults;
//! - [`arp_cache`]: neighbour table with expiry and the bounded queue of unresolved packets;
//! - [`udp`]: the port table and per-socket receive rings;
//! - [`icmp`]: when an ICMP error may be sent and what it quotes (RFC 792, RFC 1122 §3.2.2);
//! - [`ratelimit`]: the token bucket that paces ICMP errors;
//! - [`counters`]: a named counter for every packet handled and every drop reason.

mod arp;
pub mod arp_cache;
pub mod caps;
pub mod config;
pub mod counters;
#[cfg(test)]
mod fixtures;
pub mod icmp;
mod input;
pub mod interface;
pub mod ip_id;
mod output;
pub mod ratelimit;
mod ring;
pub mod udp;

pub use arp_cache::ArpCache;
pub use caps::{ChecksumCaps, DeviceCaps, Medium, Offload};
pub use config::InterfaceConfig;
pub use counters::{DropReason, IfaceCounters};
pub use icmp::QuotedTcp;
pub use interface::{Interface, IpSend, IpTxInfo, Received, SendError};
pub use output::l4_checksum_offset;
pub use ratelimit::TokenBucket;
pub use udp::{BindError, UdpHandle, UdpSockets};
