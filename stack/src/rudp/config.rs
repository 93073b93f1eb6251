//! Configuration of an [`Endpoint`](super::Endpoint) and its connections.

use crate::tcp::cc::CongestionAlgorithm;
use crate::time::Duration;

use super::auth::TAG_LEN;
use super::wire::{HEADER_LEN, MAX_ACK_FRAME, MESSAGE_FRAME_HEADER, WINDOW_FRAME_LEN};

/// The largest message: 64 KiB.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How far (in message ids of one kind) a sender may run ahead of the oldest message the
/// receiver has not completed. Bounds the receiver's duplicate-suppression state even for
/// floods of empty messages.
pub const MAX_MESSAGES_AHEAD: u64 = 1024;

/// Everything an endpoint is told. Defaults follow RFC 6298 and RFC 9002 where they speak.
#[derive(Clone, Debug)]
pub struct Config {
    /// Largest UDP payload sent (default 1200, QUIC's minimum: safe on almost every path).
    /// At least 256.
    pub max_datagram: usize,
    /// Bytes of message data the receiver buffers: partial messages, complete ones waiting
    /// for earlier ordered ones, and delivered ones the application has not taken yet. The
    /// flow-control window advertised to the peer. At least [`MAX_MESSAGE`].
    pub receive_window: u64,
    /// Bytes of messages the sender queues (unacknowledged included) before `send` refuses.
    pub send_buffer: usize,
    /// Messages queued before `send` refuses (bounds empty messages too).
    pub send_queue_messages: usize,
    /// A connection that hears nothing for this long is closed (and a connect attempt that
    /// gets no answer gives up).
    pub idle_timeout: Duration,
    /// Send a PING after this long without traffic, so an idle but live connection is not
    /// timed out (and middlebox state stays fresh). `None`: never.
    pub keepalive: Option<Duration>,
    /// Longest the receiver delays an ACK (RFC 9000 §13.2.1 `max_ack_delay`). It is added to
    /// every probe timeout (RFC 9002 §6.2.1), so it bounds how fast a lost last packet is
    /// repaired: 5 ms, not QUIC's 25 ms, since a message transport is judged by its tail
    /// latency (the second ack-eliciting packet is acknowledged at once anyway, so bulk
    /// transfers send few more ACKs).
    pub max_ack_delay: Duration,
    /// RTO before any RTT sample (RFC 6298 §2.1: 1 s).
    pub initial_rto: Duration,
    /// Lower bound of the RTO (RFC 6298 §2.4 says 1 s; Linux uses 200 ms). It is the probe
    /// timeout's base here, and RFC 9002 §6.2.1 bounds the PTO below only by the timer
    /// granularity: a spurious probe costs a packet, not a congestion response (that needs
    /// two unanswered in a row). 5 ms: a lost last packet is repaired in RTT + 4·RTTVAR +
    /// `max_ack_delay`, not in 200 ms (docs/rudp.md has the lab rows before and after).
    pub min_rto: Duration,
    /// Upper bound of the RTO and its backoff (RFC 6298 §2.5: at least 60 s).
    pub max_rto: Duration,
    /// The TCP engine's congestion controller to use.
    pub congestion: CongestionAlgorithm,
    /// Initial congestion window in datagrams (RFC 9002 §7.2 suggests 10).
    pub initial_window_packets: usize,
    /// Connections this endpoint holds at most; Initials beyond are dropped and counted.
    pub max_connections: usize,
    /// Stateless Retries waiting to be sent at most; beyond, Initials are dropped and counted
    /// (a flood costs this much memory and no more).
    pub max_pending_retries: usize,
    /// Whether Initials are answered (a server); a pure client drops them.
    pub accept_incoming: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_datagram: 1200,
            receive_window: 256 * 1024,
            send_buffer: 1024 * 1024,
            send_queue_messages: 4096,
            idle_timeout: Duration::from_secs(30),
            keepalive: Some(Duration::from_secs(10)),
            max_ack_delay: Duration::from_millis(5),
            initial_rto: Duration::from_secs(1),
            min_rto: Duration::from_millis(5),
            max_rto: Duration::from_secs(60),
            congestion: CongestionAlgorithm::Cubic,
            initial_window_packets: 10,
            max_connections: 4096,
            max_pending_retries: 64,
            accept_incoming: true,
        }
    }
}

impl Config {
    /// The configuration with its bounds enforced (sizes raised to their minimum).
    pub(crate) fn sanitized(mut self) -> Self {
        self.max_datagram = self.max_datagram.clamp(256, 65_507);
        self.receive_window = self.receive_window.max(MAX_MESSAGE as u64);
        self.send_buffer = self.send_buffer.max(MAX_MESSAGE);
        self.send_queue_messages = self.send_queue_messages.max(1);
        self.initial_window_packets = self.initial_window_packets.max(2);
        self
    }

    /// Bytes of message data per fragment: a datagram less the header and the tag, room for
    /// a full ACK and a WINDOW frame, and the fragment's own header, so any fragment can ride
    /// with them.
    pub fn fragment_size(&self) -> usize {
        self.max_datagram
            - HEADER_LEN
            - TAG_LEN
            - MAX_ACK_FRAME
            - WINDOW_FRAME_LEN
            - MESSAGE_FRAME_HEADER
    }
}
