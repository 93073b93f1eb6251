//! `rudp`: a reliable message transport over UDP, sans-IO.
//!
//! TODO module doc (wire format, state machine) — written below in the next commit.

mod ack;
pub mod config;
mod connection;
mod endpoint;
pub mod ranges;
mod recovery;
mod recv;
mod send;
pub mod token;
pub mod wire;

pub use config::{Config, MAX_MESSAGE, MAX_MESSAGES_AHEAD};
pub use connection::{CloseReason, Connection, ConnectionStats, Event, Side, State};
pub use endpoint::{ConnectError, Endpoint, EndpointStats};
pub use recovery::RecoveryStats;
pub use recv::{Message, Refusal};
pub use send::SendError;
pub use wire::ConnectionId;
