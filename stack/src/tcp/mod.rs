//! The TCP connection engine (RFC 9293 and the extensions Linux users rely on).

pub mod isn;
pub mod ports;
pub mod seq;
pub mod syncookie;

pub use seq::SeqNumber;
