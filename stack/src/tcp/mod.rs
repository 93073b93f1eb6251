//! The TCP connection engine (RFC 9293 and the extensions Linux users rely on).
//!
//! [`Connection`] is one TCB, sans-IO: segments in ([`Connection::on_segment`]), segments out
//! ([`Connection::poll_transmit`]), timers ([`Connection::poll_timeout`],
//! [`Connection::on_timeout`]) and application events ([`Connection::poll_event`]), with `now`
//! always an argument. See `connection.rs` for the order of calls.

pub mod buffer;
pub mod cc;
pub mod config;
mod connection;
pub mod counters;
mod input;
pub mod isn;
mod output;
pub mod ports;
pub mod reassembly;
pub mod rto;
pub mod segment;
pub mod seq;
pub mod syncookie;
mod timers;

pub use cc::{CongestionControl, NewReno};
pub use config::TcpConfig;
pub use connection::{Connection, CookieOptions, Event, SegmentVerdict, State, TcpInfo};
pub use counters::TcpCounters;
pub use segment::{Flags, SackBlocks, Segment, SegmentHeader, SegmentOptions, Transmit};
pub use seq::SeqNumber;
