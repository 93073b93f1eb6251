//! The TCP connection engine (RFC 9293 and the extensions Linux users rely on).
//!
//! [`Connection`] is one TCB, sans-IO: segments in ([`Connection::on_segment`]), segments out
//! ([`Connection::poll_transmit`]), timers ([`Connection::poll_timeout`],
//! [`Connection::on_timeout`]) and application events ([`Connection::poll_event`]), with `now`
//! always an argument. See [`Connection`] for the order of calls.
//!
//! Files, one idea each: `segment` (the engine's own segment type; the integrator copies
//! `wire::tcp` fields in and out, and sequence numbers, flags and SACK blocks are `wire`'s
//! own types), `config`, `chunk` (the per-stack chunk pool and memory budget), `buffer` (a
//! byte stream in chunks), `autotune` (receive and send buffer growth), `endpoint` (a
//! connection with a pool of its own), `reassembly` (out-of-order ranges and SACK blocks),
//! `rto` (RFC 6298), `cc/` (congestion-control trait, NewReno and CUBIC), `recovery/` (SACK
//! scoreboard, RACK-TLP, DSACK undo, ECN), `push` (PSH, records, cork), `quickack`
//! (Linux's quick-ACK and interactive modes), `counters`, and the TCB: `tcb` (its named parts),
//! `connection` (the struct, its constructor, application calls), `input` (RFC 9293
//! §3.10.7), `output` (segment generation) and `timers`.
//!
//! Choices worth knowing, where the RFCs leave room (Linux is the tie-breaker):
//! - Zero-window and keepalive probes carry `SND.UNA - 1` and no data, so they consume no
//!   sequence space; the answer is an ordinary ACK.
//! - Pure ACKs carry `SND.MAX`: after a timeout `SND.NXT` goes back, and the peer must still
//!   find our ACKs acceptable.
//! - `close()` with unread received data resets the connection (RFC 1122 §4.2.2.13);
//!   `shutdown_write()` is the half-close. A keepalive timeout sends a RST; a retransmission
//!   timeout does not.
//! - RST validation follows RFC 5961 §3, SYNs in synchronized states get challenge ACKs
//!   (§4), ACKs outside `[SND.UNA - MAX.SND.WND, SND.MAX]` are dropped with a rate-limited ACK
//!   (§5, §7); TIME-WAIT ignores RSTs (RFC 1337).
//! - Sender side loss recovery keeps a per-segment scoreboard (`recovery`): RACK-TLP with SACK
//!   by default, RFC 6675 without RACK, NewReno (RFC 6582) without SACK. After a timeout the
//!   outstanding segments are marked lost and resent from the scoreboard (SND.NXT does not go
//!   back for data). The receiver reports duplicates with a DSACK block (RFC 2883), so two
//!   xdptcp ends can undo reductions caused by spurious retransmissions.

mod autotune;
pub mod buffer;
pub mod cc;
pub mod chrono;
pub mod chunk;
mod cold;
pub mod config;
mod connection;
pub(crate) use cold::ColdSpares;
pub mod counters;
mod endpoint;
pub mod family;
mod input;
pub mod isn;
pub mod listen;
pub mod lowat;
mod output;
pub mod path;
pub mod ports;
mod predict;
pub mod push;
pub mod quickack;
mod rcv_update;
pub mod reassembly;
pub mod recovery;
pub mod rto;
pub mod segment;
mod send_fast;
/// Sequence numbers live in `wire` (the wire format owns them); re-exported here.
pub use crate::wire::seq;
pub mod syncookie;
mod tcb;
mod timers;

pub use cc::{AckSample, CongestionAlgorithm, CongestionControl, Cubic, NewReno};
pub use chunk::{
    ChunkPool, MemoryBudget, MemoryCounters, MemoryLevel, CHUNK_SIZE, PIECE_SIZE, SLAB_CHUNKS,
};
pub use config::{BufferSizes, TcpConfig, TcpFlags};
pub use connection::{
    Connection, ConnectionParams, CookieOptions, Event, Open, SegmentVerdict, State, TcpInfo,
};
pub use counters::TcpCounters;
pub use endpoint::Endpoint;
pub use push::SendFlags;
pub use segment::{Flags, IpEcn, SackBlocks, Segment, SegmentHeader, SegmentOptions, Transmit};
pub use send_fast::CommonSegment;
pub use seq::SeqNumber;

/// A byte count as a `u32`, `u32::MAX` past it: the width Linux keeps buffer sizes, windows
/// and PRR's counts in, and so do the connection's hot parts.
#[inline(always)]
pub(crate) fn narrow(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
