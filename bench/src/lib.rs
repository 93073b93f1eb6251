//! The library half of the `xdptcp` tool: stream framing, sans-IO applications that run over
//! any byte-stream transport, and the Linux-socket reference server and load generator they are
//! compared against.

#![forbid(unsafe_code)]

pub mod apps;
pub mod framing;
pub mod linux;
pub mod loadgen;
pub mod report;
pub mod xdp;
