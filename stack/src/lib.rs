//! # xdptcp-stack
//!
//! The sans-IO protocol core of xdptcp. Nothing in this crate opens a socket, reads a clock,
//! spawns a thread or draws a random number: time (`now`) and seeds are always arguments, so
//! every behaviour is deterministic and testable without a NIC.
//!
//! Layers, bottom up:
//! - [`wire`]: zero-copy views and parsed representations of every packet format;
//! - [`iface`]: the IPv4 interface (addresses, ARP, ICMP, UDP, drop counters);
//! - [`flow`]: the O(1) 4-tuple demultiplexer;
//! - [`tcp`]: the TCP connection engine.
#![forbid(unsafe_code)]

mod bits;
pub mod flow;
pub mod framing;
pub mod iface;
pub mod impair;
pub mod rng;
pub mod rudp;
#[cfg(feature = "sim")]
pub mod sim;
pub mod stack;
pub mod tcp;
pub mod time;
pub mod wheel;
pub mod wire;
