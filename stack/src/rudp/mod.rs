//! `rudp`: a reliable message transport over UDP, sans-IO.
//!
//! Messages of up to 64 KiB ([`MAX_MESSAGE`]) are cut into datagram-sized fragments,
//! sent with per-packet numbers, selectively acknowledged, retransmitted in new packets when
//! lost, and reassembled; each is delivered exactly once, either in the order sent (ordered)
//! or as soon as it is complete (unordered). Nothing here opens a socket or reads a clock:
//! an [`Endpoint`] takes datagrams and `now` and hands back datagrams, deadlines and
//! [`Event`]s, so the same code runs over the stack's UDP on AF_XDP, over a kernel UDP
//! socket, or in the simulator (`sim::RudpPair`).
//!
//! It reuses the TCP engine's pieces: the RFC 6298 [`RtoEstimator`](crate::tcp::rto), the
//! congestion controllers (`tcp::cc`: NewReno, CUBIC through the same `Controller`), the
//! keyed SipHash of the SYN cookies for Retry tokens, and the timing wheel.
//!
//! # Modules
//! - [`wire`]: the packet and frame formats below;
//! - [`token`]: stateless Retry tokens, connection ids and packet keys from one key;
//! - [`auth`]: the tag that authenticates every packet (why, and against whom);
//! - [`ranges`]: sets of `u64` ranges (ACK ranges, reassembly, duplicate suppression);
//! - `send` and `recv`: the two halves of a connection's data, flow control included;
//! - `ack` (when to acknowledge) and `recovery` (sent packets, RFC 9002 loss detection,
//!   RTT, congestion window);
//! - `connection`: the state machine; `endpoint`: demultiplexing by connection id, the
//!   handshake's stateless half, timers, and the calling convention.
//!
//! # Wire format
//! All integers are big-endian. Every datagram starts with a 17-byte header and ends with an
//! 8-byte tag, a SipHash-2-4 MAC of everything before it under the connection's key
//! ([`auth`]); a datagram whose tag fails is dropped before anything in it is used:
//!
//! ```text
//!  0        1                 5                 9                                 17
//! +--------+-----------------+-----------------+---------------------------------+
//! |  type  |  destination id |    source id    |         packet number (64)      |
//! +--------+-----------------+-----------------+---------------------------------+
//! type: 1 Initial, 2 Retry, 3 Accept, 4 Data
//! ```
//!
//! - **Initial** (client to server; destination id 0): `token length (0 or 16) | token |
//!   connection key (16) | frames`, padded with PADDING to at least 64 bytes
//!   ([`wire::INITIAL_MIN_LEN`]) so the Retry it provokes is never larger than it.
//! - **Retry** (server to client, packet number 0): the 16-byte token: `issued (ms, 64) |
//!   SipHash-2-4 MAC (64)` over the client's address and port, its id and the time; sealed
//!   with the key the Initial carried, so only the server it reached can answer.
//! - **Accept** (server to client until the client's first Data packet) and **Data**: frames.
//!
//! Frames (type byte, then fields):
//!
//! ```text
//! 0 PADDING  (a run of zero bytes)
//! 1 PING     ask for an ACK; keepalive
//! 2 ACK      largest (64) | ack delay µs (32) | extra ranges n (8) | first range length (32)
//!            | n × (gap (32) | length (32))          RFC 9000 §19.3 encoding, fixed width
//! 3 WINDOW   max data (64): the receiver takes message bytes up to this data offset
//! 4 MESSAGE  flags (8, bit 0 = ordered) | message id (64) | message start (64)
//!            | total length (32) | fragment offset (32) | fragment length (16) | bytes
//! 5 CLOSE    code (16)
//! ```
//!
//! A message occupies `[start, start + total)` of the connection's data sequence; flow
//! control is over that sequence (as QUIC's MAX_DATA, RFC 9000 §4.1), and a message may start
//! only if it ends within the peer's window. Ordered and unordered messages count their ids
//! separately from 0. Every frame but ACK and PADDING is ack-eliciting.
//!
//! # Handshake and state machine
//!
//! ```text
//!  client                                     server
//!  Connecting ── Initial (no token) ─────────▶  (no state: stateless Retry)
//!             ◀──────────────────── Retry(token)
//!             ── Initial (token) ───────────▶  token checked ─▶ Established (Accepted)
//!  Established ◀─ Accept (ACK, WINDOW) ───────  [Accepted]
//!  (Connected) ── Data ───────────────────────▶  confirmed: Data packets from now on
//!
//!  Established ── close(): queued messages acknowledged ─▶ Closing: CLOSE sent
//!  Closing ── CLOSE acknowledged, or 3 PTO ─▶ Closed (Closed(Local))
//!  any ── CLOSE received ─▶ Draining (Closed(Peer)): ACK repeats for 3 PTO ─▶ forgotten
//!  any ── nothing received for idle_timeout ─▶ Closed (Closed(IdleTimeout))
//! ```
//!
//! The server keeps nothing for an Initial without a valid token: the Retry is queued in a
//! bounded backlog and built from the key alone. Its connection id is a keyed hash of the
//! client's address and id, so a repeated or duplicated Initial finds the connection already
//! made. An established connection sends a PING when quiet for `keepalive`.
//!
//! # Reliability
//! Packet numbers are never reused: lost fragments go again in new packets (RFC 9002 §2).
//! A packet is lost once a packet 3 numbers later is acknowledged or it is older than 9/8 of
//! the RTT (RFC 9002 §6.1); the probe timeout is the RFC 6298 RTO (with exponential backoff)
//! plus the peer's maximum ACK delay. A malformed packet, or one with a fragment beyond the
//! window, over 64 KiB or too far ahead in ids, is dropped whole, counted and not
//! acknowledged, so nothing it carried is lost: its sender sends it again.

mod ack;
pub mod auth;
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
