//! The IPv4 interface layer: addresses, ARP, ICMP, UDP sockets and drop counters.

pub mod arp_cache;
pub mod caps;
pub mod config;
pub mod counters;
mod icmp;
pub mod interface;
pub mod ratelimit;
mod ring;
pub mod udp;

pub use arp_cache::ArpCache;
pub use caps::{ChecksumCaps, DeviceCaps, Medium, Offload};
pub use config::InterfaceConfig;
pub use counters::{DropReason, IfaceCounters};
pub use interface::{Interface, IpSend, IpTxInfo, Received, SendError};
pub use ratelimit::TokenBucket;
pub use udp::{BindError, UdpHandle, UdpSockets};
