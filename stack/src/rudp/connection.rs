//! One connection: its state machine, and the glue between the received frames, the send
//! and receive halves, recovery and the timers. Owned and driven by the
//! [`Endpoint`](super::Endpoint); see the [module doc](super) for the state machine.

use std::collections::VecDeque;
use std::net::SocketAddr;

use super::ack::ReceivedPackets;
use super::auth::PacketKey;
use super::config::Config;
use super::recovery::{AckSink, ControlFrames, Recovery, RecoveryStats, SentPacket};
use super::recv::{Message, RecvQueue};
use super::send::{SendError, SendQueue};
use super::wire::{
    ConnectionId, Frame, Frames, Header, PacketType, PacketWriter, INITIAL_MIN_LEN,
    MESSAGE_FRAME_HEADER, TOKEN_LEN,
};
use crate::tcp::rto::RtoEstimator;
use crate::time::{Duration, Instant};
use crate::wheel::TimerHandle;

/// Which end opened the connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Client,
    Server,
}

/// How long a closing side keeps its CLOSE going, in PTOs. QUIC's closer waits three and
/// leaves a lost CONNECTION_CLOSE to the peer's idle timeout; here the CLOSE is retransmitted
/// like data (with the PTO's backoff) for long enough that the peer hears it at heavy loss
/// too: sends at 0, 1, 3 and 7 PTOs, all four lost one time in 120 at 30 % loss.
const CLOSING_PTOS: u64 = 10;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Client: Initial sent, waiting for a Retry or the server's first packet.
    Connecting,
    /// Messages flow both ways.
    Established,
    /// Close requested and every message sent acknowledged: CLOSE sent (and sent again like
    /// data when lost), waiting for its ACK or [`CLOSING_PTOS`] PTOs.
    Closing { deadline: Instant },
    /// The peer closed: acknowledge its retransmitted CLOSEs for three PTOs, then forget.
    Draining { deadline: Instant },
    /// Gone; the endpoint drops it.
    Closed,
}

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// This side closed and the peer acknowledged (or three PTOs passed).
    Local,
    /// The peer closed, with its code.
    Peer(u16),
    /// Nothing heard for the idle timeout (or no answer to a connect).
    IdleTimeout,
}

/// What the application learns from [`Endpoint::poll_event`](super::Endpoint::poll_event).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A connection this endpoint opened is established.
    Connected(ConnectionId),
    /// A peer opened a connection (after proving its address).
    Accepted(ConnectionId),
    /// A complete message, exactly once; ordered ones in id order.
    Message(ConnectionId, Message),
    /// The connection is over; no more events for it.
    Closed(ConnectionId, CloseReason),
}

/// Per-connection counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnectionStats {
    pub packets_received: u64,
    /// Packets seen before (dropped; acknowledged again if they asked).
    pub duplicate_packets: u64,
    /// Packets with a malformed frame (dropped whole).
    pub malformed_packets: u64,
    /// Packets with a fragment beyond a limit (flow control, size, id horizon) or
    /// inconsistent: dropped whole and not acknowledged.
    pub refused_packets: u64,
    pub messages_delivered: u64,
    pub recovery: RecoveryStats,
}

/// Values a connection reads from the endpoint's [`Config`].
#[derive(Clone, Copy, Debug)]
struct Params {
    max_datagram: usize,
    idle_timeout: Duration,
    keepalive: Option<Duration>,
    max_ack_delay: Duration,
}

/// What must go out in the next packets, besides data.
#[derive(Clone, Copy, Debug, Default)]
struct Pending {
    control: ControlFrames,
    ping: bool,
    /// Probe packets the PTO asked for (sent even when the window is full).
    probes: u8,
}

/// The connection's clocks (deadlines derive from them).
#[derive(Clone, Copy, Debug)]
struct Timers {
    /// Last packet received (the idle timer runs from it).
    last_received: Instant,
    /// Last packet received or ack-eliciting packet sent (keepalive runs from it).
    last_activity: Instant,
}

/// Applies an ACK's verdicts to the send queue and to what must be sent again.
struct Verdicts<'a> {
    send: &'a mut SendQueue,
    pending: &'a mut Pending,
    close_acked: &'a mut bool,
}

impl AckSink for Verdicts<'_> {
    fn acked(&mut self, p: &SentPacket) {
        for &f in p.fragments() {
            self.send.on_acked(f);
        }
        *self.close_acked |= p.control.close;
    }
    fn lost(&mut self, p: &SentPacket) {
        for &f in p.fragments() {
            self.send.on_lost(f);
        }
        self.pending.control.merge(p.control);
    }
}

/// One connection.
#[derive(Debug)]
pub struct Connection {
    side: Side,
    state: State,
    local_cid: ConnectionId,
    /// 0 until the client learns the server's.
    remote_cid: ConnectionId,
    remote: SocketAddr,
    /// Seals and opens every packet of this connection ([`auth`](super::auth)).
    key: PacketKey,
    /// The Retry token (client).
    token: Option<[u8; TOKEN_LEN]>,
    /// Server: the client has sent a Data packet, so it has our id (no more Accepts).
    confirmed: bool,
    close_requested: bool,
    close_acked: bool,
    closed_reported: bool,
    received: ReceivedPackets,
    recovery: Recovery,
    send: SendQueue,
    recv: RecvQueue,
    pending: Pending,
    timers: Timers,
    params: Params,
    stats: ConnectionStats,
    /// The endpoint's timer for this connection and its deadline.
    pub(super) timer: Option<(TimerHandle, Instant)>,
    /// Whether the endpoint has this connection in its transmit queue.
    pub(super) queued: bool,
}

impl Connection {
    fn new(
        now: Instant,
        config: &Config,
        side: Side,
        local_cid: ConnectionId,
        remote_cid: ConnectionId,
        remote: SocketAddr,
        key: PacketKey,
    ) -> Self {
        let rto = RtoEstimator::new(
            config.initial_rto,
            config.min_rto,
            config.max_rto,
            super::recovery::GRANULARITY,
        );
        let mss = config.max_datagram;
        let cc = config.congestion.controller(config.initial_window_packets * mss);
        let mut pending = Pending::default();
        // The real window goes out with the first packets (the peer assumes 64 KiB).
        pending.control.window = true;
        pending.control.initial = side == Side::Client;
        pending.control.accept = side == Side::Server;
        Connection {
            side,
            state: if side == Side::Client { State::Connecting } else { State::Established },
            local_cid,
            remote_cid,
            remote,
            key,
            token: None,
            confirmed: false,
            close_requested: false,
            close_acked: false,
            closed_reported: false,
            received: ReceivedPackets::default(),
            recovery: Recovery::new(rto, cc, mss, config.max_ack_delay),
            send: SendQueue::new(
                config.fragment_size(),
                config.send_buffer,
                config.send_queue_messages,
            ),
            recv: RecvQueue::new(config.receive_window),
            pending,
            timers: Timers { last_received: now, last_activity: now },
            params: Params {
                max_datagram: config.max_datagram,
                idle_timeout: config.idle_timeout,
                keepalive: config.keepalive,
                max_ack_delay: config.max_ack_delay,
            },
            stats: ConnectionStats::default(),
            timer: None,
            queued: false,
        }
    }

    /// A connection this endpoint opens towards `remote`, under the packet key it drew.
    pub(super) fn client(
        now: Instant,
        config: &Config,
        cid: ConnectionId,
        remote: SocketAddr,
        key: PacketKey,
    ) -> Self {
        Connection::new(now, config, Side::Client, cid, ConnectionId(0), remote, key)
    }

    /// A connection a validated Initial opened, under the key the Initial carried.
    pub(super) fn server(
        now: Instant,
        config: &Config,
        cid: ConnectionId,
        remote_cid: ConnectionId,
        remote: SocketAddr,
        key: PacketKey,
    ) -> Self {
        Connection::new(now, config, Side::Server, cid, remote_cid, remote, key)
    }

    /// The connection's packet key: what the simulator's hostile peer needs to forge the
    /// real peer's packets (an outsider does not have it; see [`auth`](super::auth)).
    pub fn key(&self) -> &PacketKey {
        &self.key
    }

    /// This side's connection id (the handle the endpoint knows it by).
    pub fn id(&self) -> ConnectionId {
        self.local_cid
    }

    /// The peer's id, once known.
    pub fn remote_id(&self) -> ConnectionId {
        self.remote_cid
    }

    /// The peer's address.
    pub fn remote(&self) -> SocketAddr {
        self.remote
    }

    pub fn side(&self) -> Side {
        self.side
    }

    pub fn state(&self) -> State {
        self.state
    }

    pub fn stats(&self) -> ConnectionStats {
        ConnectionStats { recovery: *self.recovery.stats(), ..self.stats }
    }

    /// Smoothed RTT, once measured.
    pub fn rtt(&self) -> Option<Duration> {
        self.recovery.srtt()
    }

    /// The congestion window in bytes.
    pub fn congestion_window(&self) -> usize {
        self.recovery.window()
    }

    /// Bytes sent and neither acknowledged nor declared lost.
    pub fn bytes_in_flight(&self) -> usize {
        self.recovery.bytes_in_flight()
    }

    /// Consecutive probe timeouts without an acknowledgement.
    pub fn pto_count(&self) -> u32 {
        self.recovery.pto_count()
    }

    /// Bytes held for received messages the application has not taken (partial ones at
    /// their full length): never more than `Config::receive_window`.
    pub fn receive_buffered(&self) -> u64 {
        self.recv.held()
    }

    /// The peer's flow-control limit (offset in the data sequence).
    pub fn peer_max_data(&self) -> u64 {
        self.send.peer_max_data()
    }

    /// Bytes queued to send and not yet acknowledged.
    pub fn queued_bytes(&self) -> usize {
        self.send.queued_bytes()
    }

    /// Whether `send` would take a message of `len` bytes now.
    pub fn has_room(&self, len: usize) -> bool {
        self.send.has_room(len)
    }

    pub(super) fn is_closed(&self) -> bool {
        self.state == State::Closed
    }

    /// Whether a (validated) Initial from `remote` with `remote_cid` and `key` is this
    /// connection's client again.
    pub(super) fn matches(
        &self,
        remote: SocketAddr,
        remote_cid: ConnectionId,
        key: &PacketKey,
    ) -> bool {
        self.remote == remote && self.remote_cid == remote_cid && self.key == *key
    }

    /// Queues a message.
    pub(super) fn send(&mut self, data: &[u8], ordered: bool) -> Result<u64, SendError> {
        if self.close_requested || matches!(self.state, State::Draining { .. } | State::Closed) {
            return Err(SendError::Closed);
        }
        self.send.push(data, ordered)
    }

    /// Asks for a graceful close: the CLOSE goes once every queued message is acknowledged.
    pub(super) fn close(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        self.close_requested = true;
        self.progress(now, events);
    }

    /// The application took a message.
    pub(super) fn release(&mut self, start: u64, len: u64) {
        if self.recv.release(start, len) {
            self.pending.control.window = true;
        }
    }

    /// The server's first RTT measurement: from the Retry it sent (the token's issue time)
    /// to the tokened Initial that opened this connection. Without it a lost Accept, or a
    /// lost first echo, would wait the 1 s initial RTO: the server's first ACK-based sample
    /// needs the client to acknowledge an Accept, and the Accept may be the packet lost.
    pub(super) fn on_token_rtt(&mut self, rtt: Duration) {
        self.recovery.on_handshake_rtt(rtt);
    }

    /// A Retry arrived for this (client) connection: the next Initial carries `token`.
    pub(super) fn on_retry(&mut self, now: Instant, token: &[u8]) {
        if self.state != State::Connecting || self.token.is_some() {
            return;
        }
        let mut t = [0u8; TOKEN_LEN];
        if token.len() != TOKEN_LEN {
            return;
        }
        t.copy_from_slice(token);
        self.token = Some(t);
        // The Initials sent so far were answered, not lost: no congestion signal.
        self.recovery.on_retry(now);
        self.pending.control.initial = true;
    }

    fn emit_closed(&mut self, reason: CloseReason, events: &mut VecDeque<Event>) {
        if !self.closed_reported {
            self.closed_reported = true;
            events.push_back(Event::Closed(self.local_cid, reason));
        }
    }

    /// Handles a packet for this connection: an Initial's frames (server), an Accept or a
    /// Data packet. Malformed or refused packets are dropped whole and counted, before
    /// anything of them is used or acknowledged.
    pub(super) fn handle(
        &mut self,
        now: Instant,
        header: &Header,
        frames: &[u8],
        events: &mut VecDeque<Event>,
    ) {
        if matches!(self.state, State::Closed) {
            return;
        }
        let mut eliciting = false;
        for f in Frames::new(frames) {
            match f {
                Err(_) => {
                    self.stats.malformed_packets += 1;
                    return;
                }
                Ok(Frame::Message(m)) if self.recv.check(&m).is_err() => {
                    self.stats.refused_packets += 1;
                    return;
                }
                Ok(f) => eliciting |= f.is_ack_eliciting(),
            }
        }
        if self.received.is_duplicate(header.number, eliciting) {
            self.stats.duplicate_packets += 1;
            return;
        }
        self.stats.packets_received += 1;
        self.received.on_packet(now, header.number, eliciting, self.params.max_ack_delay);
        if eliciting && matches!(header.packet_type, PacketType::Initial | PacketType::Accept) {
            self.received.ack_at_once();
        }
        self.timers.last_received = now;
        self.timers.last_activity = now;
        match (self.side, header.packet_type) {
            (Side::Client, PacketType::Accept | PacketType::Data)
                if self.state == State::Connecting =>
            {
                self.remote_cid = header.src_cid;
                self.state = State::Established;
                self.pending.control.initial = false;
                // Probes asked for by an Initial's PTO are answered: data obeys the window.
                self.pending.probes = 0;
                events.push_back(Event::Connected(self.local_cid));
            }
            (Side::Server, PacketType::Data) => self.confirmed = true,
            _ => {}
        }
        let draining = matches!(self.state, State::Draining { .. });
        for f in Frames::new(frames).flatten() {
            match f {
                Frame::Ack(a) => {
                    let mut v = Verdicts {
                        send: &mut self.send,
                        pending: &mut self.pending,
                        close_acked: &mut self.close_acked,
                    };
                    let delay = Duration::from_micros(u64::from(a.delay_micros));
                    self.recovery.on_ack(now, a.ranges(), a.largest, delay, &mut v);
                }
                Frame::Window(w) => self.send.on_window(w),
                Frame::Message(m) if !draining => {
                    let cid = self.local_cid;
                    let delivered = &mut self.stats.messages_delivered;
                    self.recv.accept(&m, &mut |msg| {
                        *delivered += 1;
                        events.push_back(Event::Message(cid, msg));
                    });
                }
                Frame::Close(code) if !draining => {
                    self.emit_closed(CloseReason::Peer(code), events);
                    self.state =
                        State::Draining { deadline: now + self.recovery.pto().saturating_mul(3) };
                    self.pending = Pending::default();
                }
                _ => {}
            }
        }
        self.progress(now, events);
    }

    /// Moves the close along: CLOSE once the send queue is empty, Closed once it is
    /// acknowledged.
    fn progress(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        if self.close_requested && self.state == State::Established && self.send.is_empty() {
            self.pending.control.close = true;
            let wait = self.recovery.pto().saturating_mul(CLOSING_PTOS);
            self.state = State::Closing { deadline: now + wait };
        }
        if self.close_acked && matches!(self.state, State::Closing { .. }) {
            self.state = State::Closed;
            self.emit_closed(CloseReason::Local, events);
        }
        // A client asked to close before it ever connected has nothing to close.
        if self.close_requested && self.state == State::Connecting {
            self.state = State::Closed;
            self.emit_closed(CloseReason::Local, events);
        }
    }

    /// When [`on_timeout`](Self::on_timeout) is next needed.
    /// A delayed ACK already due is not a timer any more but output waiting for
    /// `poll_transmit`, so it is left out (it would fire again and again).
    pub(super) fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let idle = self.timers.last_received + self.params.idle_timeout;
        let mut t = idle;
        let mut consider = |d: Option<Instant>| {
            if let Some(d) = d {
                t = t.min(d);
            }
        };
        match self.state {
            State::Closed => return None,
            State::Closing { deadline } | State::Draining { deadline } => consider(Some(deadline)),
            State::Established => {
                consider(self.params.keepalive.map(|k| self.timers.last_activity + k));
            }
            State::Connecting => {}
        }
        consider(self.recovery.timer());
        consider(self.received.deadline().filter(|&d| d > now));
        Some(t)
    }

    /// Runs whatever timers have expired by `now`.
    pub(super) fn on_timeout(&mut self, now: Instant, events: &mut VecDeque<Event>) {
        match self.state {
            State::Closed => return,
            State::Closing { deadline } | State::Draining { deadline } if deadline <= now => {
                self.state = State::Closed;
                self.emit_closed(CloseReason::Local, events);
                return;
            }
            _ => {}
        }
        if now >= self.timers.last_received + self.params.idle_timeout {
            self.state = State::Closed;
            self.emit_closed(CloseReason::IdleTimeout, events);
            return;
        }
        if self.recovery.timer().is_some_and(|t| t <= now) {
            let mut v = Verdicts {
                send: &mut self.send,
                pending: &mut self.pending,
                close_acked: &mut self.close_acked,
            };
            if let Some(oldest) = self.recovery.on_timeout(now, &mut v) {
                // RFC 9002 §6.2.4: probe with the oldest unacknowledged data, in new packets.
                v.lost(&oldest);
                self.pending.probes = 2;
            }
        }
        if let (State::Established, Some(k)) = (self.state, self.params.keepalive) {
            if now >= self.timers.last_activity + k {
                self.pending.ping = true;
                self.timers.last_activity = now;
            }
        }
        self.progress(now, events);
    }

    /// Whether `poll_transmit` may produce a packet now.
    pub(super) fn wants_to_send(&mut self, now: Instant) -> bool {
        match self.state {
            State::Closed => false,
            State::Connecting => self.pending.control.initial,
            State::Draining { .. } => self.received.must_ack(now),
            State::Established | State::Closing { .. } => {
                let p = self.pending;
                self.received.must_ack(now)
                    || p.ping
                    || p.probes > 0
                    || p.control != ControlFrames::default()
                    || (self.state == State::Established
                        && self.recovery.can_send(self.params.max_datagram)
                        && self.send.has_sendable())
            }
        }
    }

    /// Writes the next packet into `buf`; returns its length.
    pub(super) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let max = buf.len().min(self.params.max_datagram);
        let buf = &mut buf[..max];
        match self.state {
            State::Closed => None,
            State::Connecting => self.write_initial(now, buf),
            State::Established | State::Closing { .. } | State::Draining { .. } => {
                self.write_data(now, buf)
            }
        }
    }

    fn write_initial(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        if !self.pending.control.initial {
            return None;
        }
        let header = Header {
            packet_type: PacketType::Initial,
            dst_cid: ConnectionId(0),
            src_cid: self.local_cid,
            number: self.recovery.next_pn(),
        };
        let mut w = PacketWriter::new(buf, &header)?;
        let ok = match &self.token {
            Some(t) => w.push_bytes(&[TOKEN_LEN as u8]) && w.push_bytes(t),
            None => w.push_bytes(&[0]),
        };
        if !ok || !w.push_bytes(self.key.bytes()) || !w.push_ping() {
            return None;
        }
        w.pad_to(INITIAL_MIN_LEN);
        let len = w.finish(&self.key);
        let control = ControlFrames { initial: true, ..ControlFrames::default() };
        self.recovery.on_sent(Some(SentPacket::new(now, len, control)));
        self.pending.control.initial = false;
        self.timers.last_activity = now;
        Some(len)
    }

    fn write_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<usize> {
        let draining = matches!(self.state, State::Draining { .. });
        let packet_type = if self.side == Side::Server && !self.confirmed {
            PacketType::Accept
        } else {
            PacketType::Data
        };
        let header = Header {
            packet_type,
            dst_cid: self.remote_cid,
            src_cid: self.local_cid,
            number: self.recovery.next_pn(),
        };
        let must_ack = self.received.must_ack(now);
        let mut w = PacketWriter::new(buf, &header)?;
        let mut acked = false;
        if self.received.has_news() || must_ack {
            if let Some((delay, ranges)) = self.received.ack(now) {
                acked = w.push_ack(delay, ranges);
            }
        }
        let mut record = SentPacket::new(now, 0, ControlFrames::default());
        let mut eliciting = false;
        if !draining {
            let p = &mut self.pending;
            if (p.control.accept || p.control.window) && w.push_window(self.recv.max_data()) {
                self.recv.advertise();
                record.control.accept = p.control.accept;
                record.control.window = p.control.window;
                p.control.accept = false;
                p.control.window = false;
                eliciting = true;
            }
            if p.control.close && w.push_close(0) {
                record.control.close = true;
                p.control.close = false;
                eliciting = true;
            }
            if p.ping && w.push_ping() {
                p.ping = false;
                eliciting = true;
            }
            let probe = p.probes > 0;
            if self.state == State::Established
                && (probe || self.recovery.can_send(self.params.max_datagram))
            {
                while !record.is_full() {
                    let Some((f, frame)) = self.send.peek() else { break };
                    if w.remaining() < MESSAGE_FRAME_HEADER + frame.data.len()
                        || !w.push_message(&frame)
                    {
                        break;
                    }
                    record.push_fragment(f);
                    self.send.take(f);
                    eliciting = true;
                }
            }
            if probe {
                if !eliciting && w.push_ping() {
                    eliciting = true;
                }
                self.pending.probes -= 1;
            }
        }
        if !(eliciting || acked && must_ack) {
            return None;
        }
        let len = w.finish(&self.key);
        if acked {
            self.received.on_ack_sent();
        }
        if eliciting {
            record.size = len;
            self.timers.last_activity = now;
            self.recovery.on_sent(Some(record));
        } else {
            self.recovery.on_sent(None);
        }
        Some(len)
    }
}
