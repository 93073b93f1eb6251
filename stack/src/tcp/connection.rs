//! The transmission control block (RFC 9293 §3.3.1) and the application-facing API.
//!
//! A [`Connection`] is sans-IO. The owner calls, in this order, for each batch of work:
//! 1. inputs: [`on_segment`](Connection::on_segment) for each arriving segment, application
//!    calls ([`send`](Connection::send), [`recv`](Connection::recv), [`close`](Connection::close),
//!    ...) and [`on_timeout`](Connection::on_timeout) when [`poll_timeout`](Connection::poll_timeout)
//!    has passed;
//! 2. outputs: [`poll_transmit`](Connection::poll_transmit) until it returns `None`;
//! 3. [`poll_event`](Connection::poll_event) until `None`, and [`poll_timeout`](Connection::poll_timeout)
//!    to re-arm the owner's timer.
//!
//! Segment arrival lives in `input.rs`, segment generation in `output.rs`, timers in
//! `timers.rs`; this file holds the state, constructors and application calls.

use std::net::SocketAddrV4;

use super::autotune::Autotune;
use super::buffer::ChunkQueue;
use super::cc::{CongestionControl, Controller};
use super::chunk::{ChunkPool, MemoryLevel};
use super::config::TcpConfig;
use super::counters::TcpCounters;
use super::push::{SendFlags, SendMarks};
use super::quickack::QuickAck;
use super::reassembly::Reassembly;
use super::recovery::LossRecovery;
use super::rto::RtoEstimator;
use super::segment::{Flags, Segment, SegmentHeader, SegmentOptions};
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// Connection states (RFC 9293 §3.3.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// No connection; the TCB is finished and can be freed.
    Closed,
    /// Waiting for a SYN. Listening is done by the listener, never by a `Connection`; the state
    /// exists for completeness of reports.
    Listen,
    /// Our SYN is out, waiting for the peer's SYN.
    SynSent,
    /// The peer's SYN was received and our SYN-ACK sent, waiting for its ACK.
    SynReceived,
    /// Open: data flows both ways.
    Established,
    /// We sent FIN; waiting for its ACK or the peer's FIN.
    FinWait1,
    /// Our FIN is acknowledged; waiting for the peer's FIN.
    FinWait2,
    /// The peer sent FIN; we may still send.
    CloseWait,
    /// Both sent FIN at once; waiting for the ACK of ours.
    Closing,
    /// We sent FIN after the peer's; waiting for its ACK.
    LastAck,
    /// Both FINs acknowledged; waiting 2·MSL for stray segments to die.
    TimeWait,
}

impl State {
    /// Whether sequence numbers of both sides are known (RFC 9293 "synchronized states").
    pub fn is_synchronized(self) -> bool {
        !matches!(self, State::Closed | State::Listen | State::SynSent | State::SynReceived)
    }
}

/// Things the application should hear about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Event {
    /// The handshake completed.
    Connected,
    /// In-order data is ready to read.
    Readable,
    /// Send buffer space was freed.
    Writable,
    /// The peer sent FIN: no more data will arrive (reads still drain what is buffered).
    PeerClosed,
    /// The connection finished normally (or after [`Connection::abort`]).
    Closed,
    /// The peer reset an established connection.
    Reset,
    /// Retransmissions or keepalives went unanswered.
    TimedOut,
    /// The peer refused the connection (RST to our SYN).
    Refused,
}

const EVENT_ORDER: [Event; 8] = [
    Event::Connected,
    Event::Readable,
    Event::PeerClosed,
    Event::Writable,
    Event::Reset,
    Event::TimedOut,
    Event::Refused,
    Event::Closed,
];

fn event_bit(e: Event) -> u8 {
    1 << EVENT_ORDER.iter().position(|&x| x == e).unwrap_or(0)
}

/// What [`Connection::on_segment`] did with a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SegmentVerdict {
    /// The segment was processed.
    Accepted,
    /// The segment was dropped (possibly answered with an ACK or RST).
    Dropped,
    /// A SYN that may start a new incarnation arrived in TIME-WAIT (RFC 9293 §3.10.7.4 note,
    /// RFC 6191): the owner may close this TCB and hand the SYN to the listener.
    TimeWaitSyn,
}

/// A snapshot of connection internals, in the spirit of Linux `TCP_INFO`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpInfo {
    /// Current state.
    pub state: State,
    /// Smoothed RTT, once measured.
    pub rtt: Option<Duration>,
    /// RTT variance.
    pub rttvar: Duration,
    /// Current RTO including backoff.
    pub rto: Duration,
    /// Congestion window in bytes.
    pub cwnd: usize,
    /// Slow-start threshold in bytes.
    pub ssthresh: usize,
    /// Effective send MSS (payload bytes per segment).
    pub snd_mss: usize,
    /// Peer's receive window (scaled), bytes.
    pub snd_wnd: u32,
    /// Our free receive space, bytes.
    pub rcv_space: usize,
    /// Bytes sent but not acknowledged.
    pub unacked: usize,
    /// Total segments retransmitted.
    pub retransmits: u64,
    /// Consecutive RTO expiries without progress.
    pub backoff: u32,
    /// Payload bytes acknowledged by the peer.
    pub bytes_acked: u64,
    /// Payload bytes received in order.
    pub bytes_received: u64,
    /// Window scaling negotiated (ours, peer's).
    pub window_scale: Option<(u8, u8)>,
    /// Timestamps negotiated.
    pub timestamps: bool,
    /// SACK negotiated.
    pub sack: bool,
    /// ECN negotiated (RFC 3168).
    pub ecn: bool,
    /// A loss-recovery episode is under way (fast recovery or after a timeout).
    pub in_recovery: bool,
    /// RFC 6675 `pipe`: bytes believed in the network.
    pub pipe: usize,
    /// Bytes the peer has SACKed above `SND.UNA`.
    pub sacked: usize,
    /// Bytes deemed lost and not SACKed.
    pub lost: usize,
    /// When data last arrived in order, or the last segment before any data did (Linux
    /// `tcpi_last_data_recv` counts from the handshake until data comes).
    pub last_data_recv: Instant,
}

/// Options negotiated through a SYN cookie (decoded by the listener).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CookieOptions {
    /// The peer's MSS as encoded in the cookie.
    pub mss: u16,
    /// The peer's window-scale shift, if it offered one (and we can recover it).
    pub window_scale: Option<u8>,
    /// Whether the peer offered SACK.
    pub sack_permitted: bool,
    /// Whether timestamps are in use (the final ACK carries them).
    pub timestamps: bool,
}

/// One TCP connection: the TCB plus its buffers and timers, sans-IO.
///
/// Order of calls, for each batch of work:
/// 1. inputs: [`on_segment`](Self::on_segment) for each arriving segment, application calls
///    ([`send`](Self::send), [`recv`](Self::recv), [`close`](Self::close), ...) and
///    [`on_timeout`](Self::on_timeout) once [`poll_timeout`](Self::poll_timeout) has passed;
/// 2. outputs: [`poll_transmit`](Self::poll_transmit) until it returns `None` (each result
///    borrows the chunk pool: write the frame before the next call);
/// 3. [`poll_event`](Self::poll_event) until `None`, then [`poll_timeout`](Self::poll_timeout)
///    to re-arm the owner's timer. Free the connection once [`is_closed`](Self::is_closed).
///
/// Counters are per-connection deltas: see [`TcpCounters`].
///
/// Send and receive bytes live in chunks of a [`ChunkPool`] that the owner (the stack, one
/// per worker) keeps and lends to every call that touches them; the connection holds only
/// their list heads, so one with nothing queued or unread holds no buffer memory. The pool
/// must be the same one for the connection's whole life. [`Endpoint`](super::Endpoint) pairs
/// a connection with a pool of its own for tools and tests.
#[derive(Debug)]
pub struct Connection {
    pub(super) config: TcpConfig,
    pub(super) local: SocketAddrV4,
    pub(super) remote: SocketAddrV4,
    pub(super) state: State,

    // Send sequence space (RFC 9293 §3.3.1).
    pub(super) iss: SeqNumber,
    pub(super) snd_una: SeqNumber,
    pub(super) snd_nxt: SeqNumber,
    /// Highest sequence number sent plus one (`snd_nxt` goes back on RTO, this does not).
    pub(super) snd_max: SeqNumber,
    /// Peer's window in bytes, scaled.
    pub(super) snd_wnd: u32,
    pub(super) max_snd_wnd: u32,
    pub(super) snd_wl1: SeqNumber,
    pub(super) snd_wl2: SeqNumber,
    pub(super) send_buf: ChunkQueue,
    /// Sequence number of `send_buf`'s first byte.
    pub(super) send_base: SeqNumber,
    /// The application closed its sending side; a FIN follows the queued data.
    pub(super) fin_queued: bool,

    // Receive sequence space.
    pub(super) irs: SeqNumber,
    pub(super) rcv_nxt: SeqNumber,
    pub(super) recv_buf: ChunkQueue,
    pub(super) reassembly: Reassembly,
    /// Right edge of the window last advertised (never moves left, RFC 9293 §3.8.6.2.2).
    pub(super) rcv_adv: SeqNumber,
    /// `RCV.NXT` as of the last ACK sent (RFC 7323 `Last.ACK.sent`).
    pub(super) last_ack_sent: SeqNumber,
    /// A duplicate received below `RCV.NXT`, to report as a DSACK block in the next ACK
    /// (RFC 2883 §4).
    pub(super) dsack_pending: Option<(SeqNumber, SeqNumber)>,
    /// A FIN seen beyond a gap, processed once the gap fills.
    pub(super) pending_fin: Option<SeqNumber>,
    pub(super) fin_received: bool,
    /// The application will not read any more (after `close`): data is acknowledged and dropped.
    pub(super) read_closed: bool,

    // Negotiated options.
    pub(super) snd_wscale: u8,
    pub(super) rcv_wscale: u8,
    pub(super) ws_ok: bool,
    pub(super) sack_ok: bool,
    pub(super) ts_ok: bool,
    pub(super) ts_recent: u32,
    pub(super) ts_recent_stamp: Instant,
    pub(super) ts_offset: u32,
    /// Effective send MSS (payload bytes), options excluded.
    pub(super) mss: usize,

    // Retransmission.
    pub(super) rto: RtoEstimator,
    pub(super) rtt_probe: Option<(SeqNumber, Instant)>,
    /// TSval of the last timeout retransmission. An echo older than this can only come from a
    /// peer whose TS.Recent could not advance (RFC 7323 §4.3: its ACK of the retransmission
    /// was lost), so measuring RTT from it would count the whole timeout as path delay and
    /// inflate the RTO by orders of magnitude. Such echoes give no sample.
    pub(super) ts_sample_floor: Option<u32>,
    pub(super) retransmit_at: Option<Instant>,
    pub(super) retransmit_count: u8,
    pub(super) cc: Controller,
    /// Scoreboard, loss detection and recovery episodes (`tcp::recovery`).
    pub(super) loss: LossRecovery,
    /// Pacing: the earliest time the next data segment may leave.
    pub(super) pacing_next: Option<Instant>,
    /// Pacing is holding data back until `pacing_next` (reported by `poll_timeout`).
    pub(super) pacing_held: bool,
    /// ECN (RFC 3168) was negotiated.
    pub(super) ecn_ok: bool,
    /// ECN receiver: a CE mark arrived; echo ECE until the peer sends CWR.
    pub(super) ecn_echo: bool,

    // ACK generation.
    pub(super) ack_now: bool,
    pub(super) delack_at: Option<Instant>,
    pub(super) delack_segments: u32,
    /// Which received segments are ACKed at once despite delayed ACKs (`quickack`).
    pub(super) quickack: QuickAck,
    /// Where writes end: PSH, records, cork (`push`).
    pub(super) marks: SendMarks,
    pub(super) challenge_window_start: Instant,
    pub(super) challenge_count: u32,
    pub(super) last_oow_ack: Option<Instant>,

    // Persist and keepalive.
    pub(super) persist_at: Option<Instant>,
    pub(super) persist_backoff: u32,
    pub(super) probes_unanswered: u32,
    pub(super) probe_pending: bool,
    pub(super) last_recv: Instant,
    pub(super) keepalive_probes: u8,
    pub(super) keepalive_sent_at: Instant,

    pub(super) time_wait_at: Option<Instant>,
    /// When a connection the application closed gives up waiting in FIN-WAIT-2 for the
    /// peer's FIN (`TcpConfig::fin_timeout`). Set only in FIN-WAIT-2; leaving it (TIME-WAIT
    /// or CLOSED) clears it.
    pub(super) fin_wait2_at: Option<Instant>,
    pub(super) rst_pending: Option<SegmentHeader>,
    pub(super) events: u8,
    pub(super) counters: TcpCounters,
    pub(super) total_retransmits: u64,
    pub(super) bytes_acked: u64,
    pub(super) bytes_received: u64,
    /// Buffer sizes in force and their auto-tuning (`autotune`).
    pub(super) tune: Autotune,
    /// The chunk pool's budget level as of the current call.
    pub(super) mem_level: MemoryLevel,
    /// A zero window went out because memory was exhausted: announce the reopening.
    pub(super) window_zeroed: bool,
}

impl Connection {
    fn blank(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        state: State,
    ) -> Self {
        let mss = usize::from(config.mss).max(64);
        Connection {
            config,
            local,
            remote,
            state,
            iss,
            snd_una: iss,
            snd_nxt: iss,
            snd_max: iss,
            snd_wnd: 0,
            max_snd_wnd: 0,
            snd_wl1: SeqNumber(0),
            snd_wl2: iss,
            send_buf: ChunkQueue::new(),
            send_base: iss + 1u32,
            fin_queued: false,
            irs: SeqNumber(0),
            rcv_nxt: SeqNumber(0),
            recv_buf: ChunkQueue::new(),
            reassembly: Reassembly::new(),
            rcv_adv: SeqNumber(0),
            last_ack_sent: SeqNumber(0),
            dsack_pending: None,
            pending_fin: None,
            fin_received: false,
            read_closed: false,
            snd_wscale: 0,
            rcv_wscale: 0,
            ws_ok: false,
            sack_ok: false,
            ts_ok: false,
            ts_recent: 0,
            ts_recent_stamp: now,
            // A stand-in until the owner sets the keyed offset (`set_ts_offset`; the `Stack`
            // always does): derived from the ISS, whose clock part it would reveal.
            ts_offset: iss.0.rotate_left(16),
            mss,
            rto: RtoEstimator::new(
                config.initial_rto,
                config.min_rto,
                config.max_rto,
                config.clock_granularity,
            ),
            rtt_probe: None,
            ts_sample_floor: None,
            retransmit_at: None,
            retransmit_count: 0,
            cc: config.congestion.controller(config.initial_cwnd_segments.max(1) as usize * mss),
            loss: LossRecovery::new(0),
            pacing_next: None,
            pacing_held: false,
            ecn_ok: false,
            ecn_echo: false,
            ack_now: false,
            delack_at: None,
            delack_segments: 0,
            quickack: QuickAck::default(),
            marks: SendMarks::default(),
            challenge_window_start: now,
            challenge_count: 0,
            last_oow_ack: None,
            persist_at: None,
            persist_backoff: 0,
            probes_unanswered: 0,
            probe_pending: false,
            last_recv: now,
            keepalive_probes: 0,
            keepalive_sent_at: now,
            time_wait_at: None,
            fin_wait2_at: None,
            rst_pending: None,
            events: 0,
            counters: TcpCounters::default(),
            total_retransmits: 0,
            bytes_acked: 0,
            bytes_received: 0,
            tune: Autotune::new(now, config.rmem.default, config.wmem.default),
            mem_level: MemoryLevel::Normal,
            window_zeroed: false,
        }
    }

    /// Active open (RFC 9293 §3.10.1): the connection starts in SYN-SENT and its first
    /// [`poll_transmit`](Self::poll_transmit) yields the SYN. `iss` comes from the ISN generator.
    pub fn connect(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
    ) -> Self {
        let mut c = Self::blank(now, config, local, remote, iss, State::SynSent);
        c.counters.active_opens += 1;
        c
    }

    /// Passive open: a listener decided to accept `syn`. The connection starts in SYN-RECEIVED
    /// and its first [`poll_transmit`](Self::poll_transmit) yields the SYN-ACK.
    pub fn accept_syn(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        syn: &Segment<'_>,
    ) -> Self {
        let mut c = Self::blank(now, config, local, remote, iss, State::SynReceived);
        c.counters.passive_opens += 1;
        c.learn_syn(now, syn);
        c
    }

    /// A connection established directly from a validated SYN-cookie ACK: `iss` is our cookie
    /// ISS (`ack.ack - 1`), the peer's ISS is `ack.seq - 1`, and `options` were decoded from
    /// the cookie. The ACK itself (which may carry data, stored in `pool`) is then processed
    /// as usual.
    #[allow(clippy::too_many_arguments)]
    pub fn from_cookie(
        now: Instant,
        config: TcpConfig,
        local: SocketAddrV4,
        remote: SocketAddrV4,
        iss: SeqNumber,
        options: CookieOptions,
        ack: &Segment<'_>,
        pool: &mut ChunkPool,
    ) -> Self {
        let mut c = Self::blank(now, config, local, remote, iss, State::SynReceived);
        c.counters.passive_opens += 1;
        let syn = Segment {
            seq: ack.seq - 1u32,
            ack: None,
            flags: Flags::SYN,
            window: ack.window,
            options: SegmentOptions {
                mss: Some(options.mss),
                window_scale: options.window_scale,
                sack_permitted: options.sack_permitted,
                sack_blocks: Default::default(),
                timestamps: if options.timestamps { ack.options.timestamps } else { None },
            },
            payload: &[],
        };
        c.learn_syn(now, &syn);
        // Our SYN-ACK was sent statelessly: account for it as sent.
        c.snd_nxt = iss + 1u32;
        c.snd_max = c.snd_nxt;
        c.on_segment(now, ack, pool);
        c
    }

    /// Gives the chunks back once they can hold nothing more: in TIME-WAIT or CLOSED with no
    /// unread data (our data is all acknowledged once our FIN is). A TIME-WAIT lasts 60 s and
    /// needs no buffer, like Linux's small `tcp_timewait_sock`. Returns whether any chunk
    /// went back.
    #[inline]
    pub fn release_buffers(&mut self, pool: &mut ChunkPool) -> bool {
        let done = self.send_buf.chunks() + self.recv_buf.chunks() > 0
            && matches!(self.state, State::TimeWait | State::Closed)
            && self.recv_buf.is_empty();
        if done {
            self.drop_buffers(pool);
        }
        done
    }

    /// Gives every chunk back whatever the state: for a connection that is being dropped.
    pub fn drop_buffers(&mut self, pool: &mut ChunkPool) {
        self.send_buf.clear(pool);
        self.recv_buf.clear(pool);
        self.reassembly.clear();
    }

    /// Chunks held (send and receive): zero for an idle connection.
    pub fn chunks_held(&self) -> usize {
        self.send_buf.chunks() + self.recv_buf.chunks()
    }

    /// Heap bytes this connection holds outside its chunks and its own struct: the loss
    /// scoreboard's records and the congestion-control state.
    pub fn heap_bytes(&self) -> usize {
        // The built-in controllers live inside the connection; a custom one is boxed.
        let cc = match &self.cc {
            Controller::Custom(b) => core::mem::size_of_val(&**b),
            _ => 0,
        };
        self.loss.board.heap_bytes() + cc
    }

    /// Records what the peer's SYN tells us (RFC 9293 §3.10.7.2/3, RFC 7323, RFC 2018).
    pub(super) fn learn_syn(&mut self, now: Instant, syn: &Segment<'_>) {
        self.irs = syn.seq;
        self.rcv_nxt = syn.seq + 1u32;
        self.last_ack_sent = self.rcv_nxt;
        self.rcv_adv = self.rcv_nxt;
        let o = &syn.options;
        match o.window_scale {
            Some(ws) if self.config.window_scaling => {
                self.ws_ok = true;
                // RFC 7323 §2.3: a shift above 14 is treated as 14.
                self.snd_wscale = ws.min(14);
                self.rcv_wscale = self.config.recv_window_scale();
            }
            _ => {
                self.ws_ok = false;
                self.snd_wscale = 0;
                self.rcv_wscale = 0;
            }
        }
        self.sack_ok = self.config.sack && o.sack_permitted;
        // RFC 3168 §6.1.1: a SYN asks for ECN with ECE and CWR; a SYN-ACK accepts with ECE
        // alone.
        self.ecn_ok = self.config.ecn
            && if syn.ack.is_some() {
                syn.flags.contains(Flags::ECE) && !syn.flags.contains(Flags::CWR)
            } else {
                syn.flags.contains(Flags::ECE | Flags::CWR)
            };
        match o.timestamps {
            Some((tsval, _)) if self.config.timestamps => {
                self.ts_ok = true;
                self.ts_recent = tsval;
                self.ts_recent_stamp = now;
            }
            _ => self.ts_ok = false,
        }
        // RFC 9293 §3.7.1: without the option, assume 536. RFC 6691: the MSS counts no
        // options, so the timestamp option comes out of it.
        let peer_mss = usize::from(o.mss.unwrap_or(536)).max(64);
        let ours = usize::from(self.config.mss).max(64);
        self.mss = peer_mss.min(ours) - if self.ts_ok { 12 } else { 0 };
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.snd_wnd = u32::from(syn.window);
        self.max_snd_wnd = self.snd_wnd;
        self.snd_wl1 = syn.seq;
        self.snd_wl2 = syn.ack.unwrap_or(self.iss);
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.mss;
        self.cc.init(iw);
        // The scoreboard is bounded now that the MSS is known: the largest send buffer of
        // MSS-sized segments, twice over for short (Nagle-off) segments. Its records are
        // allocated as segments fly, not up front.
        self.loss = LossRecovery::new(self.config.wmem.max.div_ceil(self.mss) * 2 + 8);
        self.autotune_init(now);
    }

    /// Replaces the congestion-control algorithm. Call it right after construction; the
    /// algorithm's [`init`](CongestionControl::init) runs when the handshake settles the MSS.
    pub fn set_congestion_control(&mut self, cc: Box<dyn CongestionControl>) {
        self.cc = Controller::Custom(cc);
    }

    // ----- getters -----

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the TCB is finished and may be freed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.rst_pending.is_none()
    }

    /// Local address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// Remote address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// The configuration in force.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// Returns the counter deltas since the last call and zeroes them (see
    /// [`TcpCounters`](super::counters::TcpCounters) for the summing convention).
    pub fn take_counters(&mut self) -> TcpCounters {
        core::mem::take(&mut self.counters)
    }

    /// The counter deltas accumulated since the last [`take_counters`](Self::take_counters).
    pub fn counters(&self) -> &TcpCounters {
        &self.counters
    }

    /// A `TCP_INFO`-like snapshot.
    pub fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            rtt: self.rto.srtt(),
            rttvar: self.rto.rttvar(),
            rto: self.rto.rto(),
            cwnd: self.cc.window(),
            ssthresh: self.cc.ssthresh(),
            snd_mss: self.mss,
            snd_wnd: self.snd_wnd,
            rcv_space: self.recv_space(),
            unacked: (self.snd_max - self.snd_una).max(0) as usize,
            retransmits: self.total_retransmits,
            backoff: self.rto.backoff(),
            bytes_acked: self.bytes_acked,
            bytes_received: self.bytes_received,
            window_scale: self.ws_ok.then_some((self.rcv_wscale, self.snd_wscale)),
            timestamps: self.ts_ok,
            sack: self.sack_ok,
            ecn: self.ecn_ok,
            in_recovery: self.loss.episode.is_some(),
            pipe: self.pipe(),
            sacked: self.loss.board.sacked_bytes(),
            lost: self.loss.board.lost_bytes(),
            last_data_recv: self.quickack.last_data().unwrap_or(self.last_recv),
        }
    }

    /// Next application event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        for e in EVENT_ORDER {
            let bit = event_bit(e);
            if self.events & bit != 0 {
                self.events &= !bit;
                return Some(e);
            }
        }
        None
    }

    /// Sets the offset added to the millisecond clock for this connection's TSvals (RFC 7323
    /// §7.1: random per connection, so TSvals reveal no uptime and link no connections).
    /// Call before the first segment is sent; [`SynCookies::ts_offset`](super::SynCookies::ts_offset)
    /// gives the keyed value the stack uses.
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.ts_offset = offset;
    }

    /// Whether [`poll_event`](Self::poll_event) has something to return.
    pub fn has_events(&self) -> bool {
        self.events != 0
    }

    pub(super) fn emit(&mut self, e: Event) {
        self.events |= event_bit(e);
    }

    // ----- application: sending -----

    fn can_queue_data(&self) -> bool {
        !self.fin_queued
            && matches!(
                self.state,
                State::SynSent | State::SynReceived | State::Established | State::CloseWait
            )
    }

    /// Free space in the send buffer (0 once the write side is closed, or while the stack's
    /// memory budget is exhausted and this connection already holds queued data).
    pub fn send_space(&self, pool: &ChunkPool) -> usize {
        if !self.can_queue_data() {
            return 0;
        }
        let room = self.tune.sndbuf.saturating_sub(self.send_buf.len());
        // Room in the chunks held, plus what the pool may still hand out; an empty queue's
        // first chunk is always granted (see `chunk`).
        let grant = if self.send_buf.chunks() == 0 {
            pool.available().max(super::chunk::CHUNK_SIZE)
        } else {
            pool.available()
        };
        room.min(self.send_buf.tail_room().saturating_add(grant))
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue_len(&self) -> usize {
        self.send_buf.len()
    }

    /// The most bytes that may be queued now: the send buffer less what is queued.
    fn send_room(&self) -> usize {
        if self.can_queue_data() {
            self.tune.sndbuf.saturating_sub(self.send_buf.len())
        } else {
            0
        }
    }

    /// Copies as much of `data` as the send buffer and the memory budget take into chunks of
    /// `pool`; returns the count (a short write when either is full).
    pub fn send(&mut self, pool: &mut ChunkPool, data: &[u8]) -> usize {
        self.send_with(pool, data, SendFlags::default())
    }

    /// [`send`](Self::send) with `MSG_MORE`/`MSG_EOR` (`push`): the queued part ends a
    /// write, pushed unless `more`, a record if `eor` and all of `data` was taken.
    pub fn send_with(&mut self, pool: &mut ChunkPool, data: &[u8], flags: SendFlags) -> usize {
        let room = self.send_room();
        let n = self.send_buf.enqueue(pool, data, room, true);
        if n < data.len().min(room) {
            pool.counters.snd_refused += 1;
        }
        if n > 0 {
            let flags = SendFlags { eor: flags.eor && n == data.len(), ..flags };
            self.marks.on_write(self.data_end(), flags);
        }
        n
    }

    /// Room to fill in place, then [`send_commit`](Self::send_commit): the first contiguous
    /// piece only (the rest of the tail chunk, or a fresh chunk), so a writer loops — fill,
    /// commit, ask again — until it has written everything or the slice comes back empty
    /// (send buffer full, memory budget exhausted, or write side closed).
    pub fn send_slices<'p>(&mut self, pool: &'p mut ChunkPool) -> &'p mut [u8] {
        let room = self.send_room();
        self.send_buf.writable(pool, room, true)
    }

    /// Queues `n` bytes written through [`send_slices`](Self::send_slices); room lent and left
    /// unfilled goes back to the pool.
    pub fn send_commit(&mut self, pool: &mut ChunkPool, n: usize) -> usize {
        let n = if self.can_queue_data() { n } else { 0 };
        let n = self.send_buf.commit_room(pool, n);
        if n > 0 {
            self.marks.on_write(self.data_end(), SendFlags::default());
        }
        n
    }

    // ----- application: receiving -----

    /// In-order bytes ready to read.
    pub fn recv_queue_len(&self) -> usize {
        self.recv_buf.len()
    }

    /// In-order received bytes as up to two slices (zero-copy read): the first contiguous
    /// pieces, at most two chunks' worth. [`recv_consume`](Self::recv_consume) them, then
    /// call again for more until both come back empty.
    pub fn recv_slices<'p>(&self, pool: &'p ChunkPool) -> (&'p [u8], &'p [u8]) {
        self.recv_buf.readable(pool)
    }

    /// Releases `n` read bytes, giving emptied chunks back and opening the receive window.
    pub fn recv_consume(&mut self, pool: &mut ChunkPool, n: usize) -> usize {
        let n = self.recv_buf.consume(pool, n);
        self.note_level(pool);
        self.after_read();
        n
    }

    /// Copies up to `out.len()` in-order bytes out; returns the count.
    pub fn recv(&mut self, pool: &mut ChunkPool, out: &mut [u8]) -> usize {
        let n = self.recv_buf.dequeue(pool, out);
        self.note_level(pool);
        self.after_read();
        n
    }

    /// Whether the peer has closed its side and every byte it sent has been read.
    pub fn recv_finished(&self) -> bool {
        self.fin_received && self.recv_buf.is_empty()
    }

    /// After the application read: send a window update if the window opened enough
    /// (receiver-side SWS avoidance, RFC 9293 §3.8.6.2.2; Linux-like 2·MSS or half the buffer).
    fn after_read(&mut self) {
        if !self.state.is_synchronized() || self.fin_received {
            return;
        }
        let open_edge = self.rcv_nxt + self.recv_space();
        let growth = (open_edge - self.rcv_adv).max(0) as usize;
        let advertised = (self.rcv_adv - self.rcv_nxt).max(0) as usize;
        let cap = self.tune.rcvbuf;
        let threshold = (2 * self.mss).min(cap / 2).max(1);
        let reopen = self.rcv_sws_threshold();
        let reopened = self.window_zeroed && self.mem_level != MemoryLevel::Exhausted;
        // Linux (`tcp_cleanup_rbuf`) updates only when the window at least doubles what the
        // peer may still send: a wide-open window needs no update after every read.
        let doubles = growth >= advertised;
        if (growth >= threshold && doubles)
            || (advertised < reopen && advertised + growth >= reopen)
            || reopened
        {
            self.ack_now = true;
        }
    }

    /// Smallest window growth worth advertising (RFC 9293 §3.8.6.2.2: min(MSS, buffer/2)).
    pub(super) fn rcv_sws_threshold(&self) -> usize {
        self.mss.min(self.tune.rcvbuf / 2).max(1)
    }

    // ----- application: closing -----

    /// Closes the write side: a FIN follows the queued data (RFC 9293 §3.10.4). Reading stays
    /// possible (half-close).
    pub fn shutdown_write(&mut self) {
        match self.state {
            // The FIN waits until the handshake completes (RFC 9293 §3.10.4 for SYN-RECEIVED;
            // the same for SYN-SENT, so a client may connect, send and half-close at once).
            State::SynSent | State::SynReceived => self.fin_queued = true,
            State::Established => {
                self.fin_queued = true;
                self.set_state(State::FinWait1);
            }
            State::CloseWait => {
                self.fin_queued = true;
                self.set_state(State::LastAck);
            }
            _ => {}
        }
    }

    /// Full close: no more sending or reading. If unread data is still buffered the
    /// connection is reset instead, so the peer learns that data was lost (RFC 1122
    /// §4.2.2.13, as Linux does); otherwise an orderly FIN follows the queued data and later
    /// arriving data is acknowledged and discarded.
    pub fn close(&mut self) {
        if self.state == State::SynSent {
            // RFC 9293 §3.10.4: closing in SYN-SENT deletes the TCB.
            self.enter_closed(Event::Closed);
            return;
        }
        if !self.recv_buf.is_empty() && self.state.is_synchronized() {
            self.abort();
            return;
        }
        self.read_closed = true;
        self.shutdown_write();
        if self.state == State::FinWait2 && self.fin_wait2_at.is_none() {
            // Our FIN was acknowledged before the application closed: no `now` here, so the
            // wait counts from the last segment received (never later than Linux's).
            self.fin_wait2_at = Some(self.last_recv + self.config.fin_timeout);
        }
    }

    /// Abortive close (`SO_LINGER` 0): a RST goes out if the peer knows of us, all queued data
    /// is dropped and the connection is closed at once (RFC 9293 §3.10.5).
    pub fn abort(&mut self) {
        match self.state {
            State::SynReceived
            | State::Established
            | State::FinWait1
            | State::FinWait2
            | State::CloseWait => {
                self.rst_pending = Some(SegmentHeader {
                    seq: self.snd_nxt,
                    ack: Some(self.rcv_nxt),
                    flags: Flags::RST | Flags::ACK,
                    window: 0,
                    options: SegmentOptions::default(),
                });
                self.enter_closed(Event::Closed);
            }
            State::Closed | State::Listen => {}
            _ => self.enter_closed(Event::Closed),
        }
    }

    /// Disables (`true`) or enables Nagle's algorithm (`TCP_NODELAY`).
    pub fn set_nodelay(&mut self, nodelay: bool) {
        self.config.nodelay = nodelay;
        if nodelay {
            // Linux pushes what is queued (`TCP_NAGLE_PUSH`), cork or not.
            self.marks.set_cork(false);
        }
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): `None` gives the retry count back its say.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.config.user_timeout = timeout;
    }

    /// `TCP_CORK`: hold short segments until it is lifted (`push`).
    pub fn set_cork(&mut self, on: bool) {
        self.marks.set_cork(on);
    }

    /// Whether `TCP_CORK` is on.
    pub fn corked(&self) -> bool {
        self.marks.corked()
    }

    /// `TCP_QUICKACK`: `true` acknowledges received data without waiting for a reply to
    /// carry the ACK (and sends an ACK owed now), `false` delays ACKs in the hope of one
    /// (Linux's interactive mode; `quickack`).
    pub fn set_quickack(&mut self, on: bool) {
        self.quickack.set_quickack(on);
        if on && self.delack_at.is_some() {
            self.ack_now = true;
        }
    }

    /// Whether received data is being acknowledged at once (`TCP_QUICKACK` read back).
    pub fn quickack(&self) -> bool {
        self.quickack.active()
    }

    /// Turns keepalive probing on or off (`SO_KEEPALIVE`).
    pub fn set_keepalive(&mut self, on: bool) {
        self.config.keepalive = on;
        self.keepalive_probes = 0;
    }

    /// Sets keepalive idle time, probe interval and probe count (`TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
    pub fn set_keepalive_params(&mut self, idle: Duration, interval: Duration, count: u8) {
        self.config.keepalive_idle = idle;
        self.config.keepalive_interval = interval;
        self.config.keepalive_count = count;
    }

    // ----- shared helpers -----

    /// Changes state, keeping the `CurrEstab` gauge exact.
    pub(super) fn set_state(&mut self, new: State) {
        let counted = |s: State| matches!(s, State::Established | State::CloseWait);
        match (counted(self.state), counted(new)) {
            (false, true) => self.counters.curr_estab += 1,
            (true, false) => self.counters.curr_estab -= 1,
            _ => {}
        }
        self.state = new;
    }

    /// Goes to CLOSED, stopping every timer and queuing the terminal event.
    pub(super) fn enter_closed(&mut self, event: Event) {
        if matches!(self.state, State::SynSent | State::SynReceived) && event != Event::Closed {
            self.counters.attempt_fails += 1;
        }
        if matches!(self.state, State::Established | State::CloseWait) && event == Event::Reset {
            self.counters.estab_resets += 1;
        }
        self.set_state(State::Closed);
        self.retransmit_at = None;
        self.delack_at = None;
        self.persist_at = None;
        self.time_wait_at = None;
        self.fin_wait2_at = None;
        self.ack_now = false;
        self.probe_pending = false;
        self.loss.board.clear();
        self.loss.episode = None;
        self.loss.tlp_at = None;
        self.loss.tlp_pending = false;
        self.loss.rack_at = None;
        self.pacing_next = None;
        self.emit(event);
    }

    /// Queues a challenge ACK, subject to the per-second limit (RFC 5961 §7).
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_duration_since(self.challenge_window_start) >= Duration::from_secs(1) {
            self.challenge_window_start = now;
            self.challenge_count = 0;
        }
        if self.challenge_count < self.config.challenge_ack_limit {
            self.challenge_count += 1;
            self.counters.challenge_acks += 1;
            self.ack_now = true;
        } else {
            self.counters.challenge_acks_limited += 1;
        }
    }

    /// Our current timestamp value (millisecond clock, RFC 7323 §5.4).
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.ts_offset)
    }

    /// Whether a new active open may take over this connection's 4-tuple while it sits in
    /// TIME-WAIT (Linux `tcp_tw_reuse`). Safe only with timestamps, and only once a second has
    /// passed since the peer was last heard: the new incarnation's ISN (RFC 6528, clock
    /// driven) and timestamps are then newer than anything of the old one, so PAWS (RFC 7323
    /// §5) and the sequence space keep old duplicates out. Without this a client opening
    /// short connections to one server runs out of ports after one range's worth per 2·MSL.
    pub fn time_wait_reusable(&self, now: Instant) -> bool {
        self.state == State::TimeWait
            && self.ts_ok
            && now.saturating_duration_since(self.last_recv) >= Duration::from_secs(1)
    }

    /// Sequence number just past the last queued data byte (where a FIN goes).
    pub(super) fn data_end(&self) -> SeqNumber {
        self.send_base + self.send_buf.len()
    }

    /// Whether our FIN has been acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd_una == self.data_end() + 1u32
    }
}
