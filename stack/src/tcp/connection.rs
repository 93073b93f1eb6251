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
use std::sync::Arc;

use super::family::{is_ipv6_alias, IPV4_TCP_HEADERS, IPV6_TCP_HEADERS};

use super::autotune::Autotune;
use super::buffer::ChunkQueue;
use super::cc::{Congestion, CongestionControl, Controller, HotWindow};
use super::chrono::{Kind as ChronoKind, SendChrono};
use super::chunk::{ChunkPool, MemoryLevel};
use super::cold::{Cold, ColdSpares};
use super::config::TcpConfig;
use super::counters::{derive_total, SegCounts, TcpCounters};
use super::push::{SendFlags, SendMarks};
use super::quickack::QuickAck;
use super::rcv_update::{sws_threshold, WindowAfterRead};
use super::recovery::Ecn;
use super::recovery::{LossCold, LossRecovery};
use super::segment::{Flags, Segment, SegmentHeader, SegmentOptions};
use super::tcb::{
    rto_limits, AckSchedule, ColdDeadline, Negotiated, Probes, RecvSeq, Retransmit, SendSeq,
    TimerFlags, Timers, TotalsHigh,
};
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
    /// Send buffer space was freed for a writer that found it full: raised once after a
    /// refused or short write, when an ACK leaves a third of the buffer free (Linux
    /// `SOCK_NOSPACE`, `sk_stream_write_space`). A writer writes until refused, then waits.
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
    /// How many segments the network was seen to reorder by (Linux `tcpi_reordering`).
    pub reordering: u32,
    /// When data last arrived in order, or the last segment before any data did (Linux
    /// `tcpi_last_data_recv` counts from the handshake until data comes).
    pub last_data_recv: Instant,
    /// Busy and receive-window-limited time so far (`tcpi_busy_time`, `tcpi_rwnd_limited`):
    /// read them with the current time.
    pub chrono: SendChrono,
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
///
/// # Layout
///
/// The state is grouped into named parts (`tcb`), hot and cold: at 100,000 connections every
/// line a segment touches is a cache miss (overlapped by the RX look-ahead, but each still
/// costs), and every page it touches a TLB miss. Which bytes a common segment (in-order
/// data, its echo, a pure ACK) touches was measured per field (docs/benchmarks.md, "The
/// connection thinned", "The common segment in 11 lines"). Those parts are the connection
/// itself, 7 lines laid out with `repr(C)`, whole: header prediction (`state`, `snd`,
/// `rcv`, `opts`), the ACK decision (`ack`, with the pending RST's presence, `timers` and
/// `timer_flags`), building a segment (`local`/`remote`, `ecn`, `marks`, `send_buf`,
/// `chrono_kind`), the receive side (`recv_buf`, `quickack`, `tune`, the out-of-order
/// count `ooo_ranges`) and an ACK's bookkeeping (`rtx`, `probes`, `loss`, `cwnd`: the
/// congestion window's copy, so that the controller stays cold), the low words of the
/// three per-segment counters (`seg_counts`) and the configuration's pointer (`config`: the
/// configuration itself is shared, one line that stays in the cache for every
/// connection): 422 bytes, 26 to spare. The count and the state bytes (8) come first, then
/// the 8-byte aligned parts (the cold box's pointer among them, and `seg_counts` and
/// `quickack`, 16 bytes of 2- and 1-byte aligned ones), then the 4-byte aligned ones, then
/// the 2-byte aligned (`ack`, `probes`, `local`/`remote`), then the single bytes, so that
/// no padding lies between them.
///
/// The rest is boxed (`cold`, [`COLD_BYTES`](Self::COLD_BYTES)), so that the table's slot
/// is these lines and the socket's one (docs/benchmarks.md, "The cold parts boxed"): the
/// ACK rate limits, `Seldom` (the keepalive probe's time, the retransmissions' total, the
/// byte totals' high words), the receiver's read measurement, the congestion controller
/// (its window copied in `cwnd`), the RST itself, `Rare` (the initial sequence numbers, the
/// timed segment's number, ECN's end of reduced window), the timed segment's send time and
/// the timestamp floor (`rtx_cold`), the out-of-order ranges, the counters, the send-time
/// totals (`chrono`), the record ends (`records`), loss recovery's episode state
/// (`LossCold`), the persist, close and pacing deadlines (`timers_cold`), a pending DSACK
/// block and FIN (`rcv_cold`), and where the byte totals are derived from (`totals`). A
/// part's fields that no common segment touches went there only with a hot copy of whether
/// they matter (`ack.rst`, `marks`' record flag, `chrono_kind`, `rtx`'s, `timer_flags`',
/// `rcv`'s and `loss`'s flags, the window's `cwnd`, the count `ooo_ranges`) kept in step by
/// the only code that changes them. The line budget test (`layout`) checks the 7;
/// `docs/architecture.md` lists the byte offsets. A field added to the connection, or a
/// part that grows, moves what follows: run that test, and `bench/examples/server_count.rs`
/// under callgrind's cache simulation, whose misses outside `hot_word` show a line it left
/// out (docs/benchmarks.md, "The common segment in 13 lines", "The configuration shared").
#[derive(Debug)]
#[repr(C, align(64))]
pub struct Connection {
    // ----- lines 0-6: every part a common segment touches, whole: first the 4-byte count and
    // the state bytes, then those 8-byte aligned, then the 4-byte, then the 2-byte aligned,
    // then the bytes, with no padding -----
    /// How many out-of-order ranges are held: a hot copy of `cold.reassembly`'s count, which
    /// every segment asks about and only `reassembly_changed` sets.
    pub(super) ooo_ranges: u32,
    pub(super) state: State,
    /// Events raised and not yet polled, one bit each (`EVENT_ORDER`).
    pub(super) events: u8,
    /// The chunk pool's budget level as of the current call.
    pub(super) mem_level: MemoryLevel,
    /// A zero window went out because memory was exhausted: announce the reopening.
    pub(super) window_zeroed: bool,
    /// Everything no common segment touches (`cold`), out of the slot so that a slot is the
    /// seven hot lines and the socket's own: allocated with the connection, never per segment.
    pub(super) cold: Box<Cold>,
    /// The configuration, shared with every connection made with the same settings (the
    /// `Stack` keeps one per setting in use: `stack::configs`) and copied on the first change
    /// of this connection's own (`change_config`). A copy in each connection took 160 bytes
    /// of it and a line of every segment's (docs/benchmarks.md, "The configuration
    /// shared"); the shared one stays in the cache, read by every connection's segments.
    /// `Arc`, not `Rc`: a `Stack` must be `Send` (the POSIX adapter shares one behind a
    /// mutex, the driver builds each worker's on its own thread). Each stack makes its own
    /// `Arc`s from its `TcpConfig`s, and connections never move between stacks, so a
    /// count is only ever touched by the one core that runs its stack (no line shared
    /// between cores), and only when a connection is made, copies its configuration or is
    /// dropped: never per segment.
    pub(super) config: Arc<TcpConfig>,
    /// Buffer sizes in force and the receiver's RTT measurement (`autotune`): 24 bytes, all
    /// of which a segment reads.
    pub(super) tune: Autotune,
    pub(super) rcv: RecvSeq,
    pub(super) opts: Negotiated,
    pub(super) timers: Timers,
    /// The low words of the three per-segment counters (`SegCounts`; `counters` holds the
    /// rest).
    pub(super) seg_counts: SegCounts,
    /// Linux's quick-ACK and interactive modes (`quickack`), 10 bytes unaligned. With
    /// `seg_counts`, 16 bytes of 2- and 1-byte aligned parts in the place of the 16-byte
    /// `quickack` and `totals`, so that `rtx` stays 8-byte aligned.
    pub(super) quickack: QuickAck,
    /// Scoreboard, loss detection and recovery episodes (`tcp::recovery`).
    pub(super) loss: LossRecovery,
    /// The RTT estimate and the RTO (28 bytes, 4-byte aligned since its times are 32-bit):
    /// first of the 4-byte aligned parts.
    pub(super) rtx: Retransmit,
    /// The congestion window and whether the controller takes every ACK, copied from `cc`
    /// (cold) by every call that may change them (`HotWindow`).
    pub(super) cwnd: HotWindow,
    pub(super) snd: SendSeq,
    /// Where pushes and corked tails fall in the send stream, and whether record ends are
    /// pending (`push`; the ends themselves are `records`, cold).
    pub(super) marks: SendMarks,
    pub(super) send_buf: ChunkQueue,
    pub(super) recv_buf: ChunkQueue,
    /// When to acknowledge, and whether a RST is queued (`queue_rst`): 2-byte aligned, after
    /// the 4-byte aligned parts.
    pub(super) ack: AckSchedule,
    pub(super) probes: Probes,
    /// Our address and port (read for every segment sent: the flow key of its frame),
    /// among the 2-byte aligned parts.
    pub(super) local: SocketAddrV4,
    /// The peer's address and port.
    pub(super) remote: SocketAddrV4,
    /// The timers' single bytes (`TimerFlags`).
    pub(super) timer_flags: TimerFlags,
    /// ECN (RFC 3168) negotiation and its sender and receiver state (its end of reduced
    /// window is `rare.cwr_until`).
    pub(super) ecn: Ecn,
    /// The application closed its sending side; a FIN follows the queued data. Among the
    /// single bytes rather than in `SendSeq`, whose eight sequence numbers it padded to 36
    /// bytes.
    pub(super) fin_queued: bool,
    /// What the send-time totals (`chrono`) count now: a copy kept by `chrono_set`, the only
    /// code that changes either, so that a segment that leaves the state as it was reads
    /// none of the totals.
    pub(super) chrono_kind: ChronoKind,
}

/// How a new [`Connection`] opens.
#[derive(Debug)]
pub enum Open<'s, 'p> {
    /// Active open (RFC 9293 §3.10.1): the connection starts in SYN-SENT and its first
    /// [`poll_transmit`](Connection::poll_transmit) yields the SYN.
    Active,
    /// Passive open: a listener decided to accept this SYN. The connection starts in
    /// SYN-RECEIVED and its first [`poll_transmit`](Connection::poll_transmit) yields the
    /// SYN-ACK.
    Syn(&'s Segment<'s>),
    /// Established directly from a validated SYN-cookie ACK: `iss` is our cookie ISS
    /// (`ack.ack - 1`), the peer's ISS is `ack.seq - 1`, and `options` were decoded from the
    /// cookie. The ACK itself (which may carry data, stored in `pool`) is then processed as
    /// usual.
    Cookie {
        /// The options the cookie carried.
        options: CookieOptions,
        /// The ACK that returned the cookie.
        ack: &'s Segment<'s>,
        /// The pool the ACK's data goes to.
        pool: &'p mut ChunkPool,
    },
}

/// Everything a new [`Connection`] starts from: [`Connection::new`]'s one argument.
#[derive(Debug)]
pub struct ConnectionParams<'s, 'p> {
    /// The time of the opening call.
    pub now: Instant,
    /// The configuration (its MSS already fitted to the device), shared: connections made
    /// with one setting hold one copy between them (the `Stack` keeps one per setting in
    /// use), and a connection changes its own only by copying it (`set_nodelay`, ...). From
    /// a `TcpConfig`, `Arc::new(config)` or `config.into()`.
    pub config: Arc<TcpConfig>,
    /// Our address and port.
    pub local: SocketAddrV4,
    /// The peer's address and port.
    pub remote: SocketAddrV4,
    /// Our initial sequence number (from the ISN generator, or the cookie).
    pub iss: SeqNumber,
    /// How the connection opens.
    pub open: Open<'s, 'p>,
}

impl Connection {
    /// A new connection, its cold parts in a new box.
    pub fn new(params: ConnectionParams<'_, '_>) -> Self {
        Self::new_reusing(params, &mut ColdSpares::default())
    }

    /// A new connection whose cold parts go in a box a freed one left in `spares`, if any
    /// (`ColdSpares`): the one constructor, the stack's.
    pub(crate) fn new_reusing(params: ConnectionParams<'_, '_>, spares: &mut ColdSpares) -> Self {
        let ConnectionParams { now, config, local, remote, iss, open } = params;
        let state = match open {
            Open::Active => State::SynSent,
            Open::Syn(_) | Open::Cookie { .. } => State::SynReceived,
        };
        let mss = usize::from(config.mss).max(64);
        let cc = config.congestion.controller(config.initial_cwnd_segments.max(1) as usize * mss);
        let cwnd = HotWindow::of(&cc);
        let cold = spares.boxed(Cold::new(now, iss, cc));
        let mut c = Connection {
            ooo_ranges: 0,
            cold,
            state,
            events: 0,
            mem_level: MemoryLevel::Normal,
            window_zeroed: false,
            snd: SendSeq::new(iss),
            rcv: RecvSeq::new(now),
            // The TSval offset is a stand-in until the owner sets the keyed one
            // (`set_ts_offset`; the `Stack` always does): derived from the ISS, whose clock
            // part it would reveal.
            opts: Negotiated::new(now, mss, iss.0.rotate_left(16), config.flags),
            ack: AckSchedule::default(),
            quickack: QuickAck::default(),
            marks: SendMarks::default(),
            probes: Probes::new(),
            timers: Timers::default(),
            send_buf: ChunkQueue::new(),
            recv_buf: ChunkQueue::new(),
            tune: Autotune::new(config.rmem.default, config.wmem.default),
            seg_counts: SegCounts::default(),
            rtx: Retransmit::new(&config),
            cwnd,
            timer_flags: TimerFlags::default(),
            loss: LossRecovery::new(0),
            config,
            chrono_kind: ChronoKind::Idle,
            fin_queued: false,
            ecn: Ecn::default(),
            local,
            remote,
        };
        // The byte totals start at zero (`Totals`).
        debug_assert_eq!(
            (c.cold.totals.acked_from, c.cold.totals.received_from),
            (c.snd.base, c.rcv.nxt)
        );
        match open {
            Open::Active => c.cold.counters.active_opens += 1,
            Open::Syn(syn) => {
                c.cold.counters.passive_opens += 1;
                c.learn_syn(now, syn);
            }
            Open::Cookie { options, ack, pool } => {
                c.cold.counters.passive_opens += 1;
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
                c.snd.nxt = iss + 1u32;
                c.snd.max = c.snd.nxt;
                c.on_segment(now, ack, pool);
            }
        }
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
        self.cold.reassembly.clear();
        self.reassembly_changed();
    }

    /// The end of a connection the stack let go (freed, or refused before it was stored):
    /// its buffers back to `pool` and its cold parts to `spares`, for the next connection.
    pub(crate) fn retire(mut self, pool: &mut ChunkPool, spares: &mut ColdSpares) {
        self.drop_buffers(pool);
        spares.keep(self);
    }

    /// Chunks held (send and receive): zero for an idle connection.
    pub fn chunks_held(&self) -> usize {
        self.send_buf.chunks() + self.recv_buf.chunks()
    }

    /// Bytes of the parts no common segment touches (`Cold`), boxed when the connection is
    /// made: a fixed cost of every connection, beside its struct (its seven hot lines).
    pub const COLD_BYTES: usize = core::mem::size_of::<Cold>();

    /// Heap bytes this connection holds outside its chunks, its own struct and its cold
    /// parts ([`COLD_BYTES`](Self::COLD_BYTES)): the loss scoreboard's records and a custom
    /// congestion controller.
    pub fn heap_bytes(&self) -> usize {
        // The built-in controllers live inside the connection; a custom one is boxed.
        let cc = match &self.cold.cc {
            Controller::Custom(b) => core::mem::size_of_val(&**b),
            _ => 0,
        };
        self.loss.board.heap_bytes() + cc
    }

    /// Records what the peer's SYN tells us (RFC 9293 §3.10.7.2/3, RFC 7323, RFC 2018).
    pub(super) fn learn_syn(&mut self, now: Instant, syn: &Segment<'_>) {
        // Nothing received yet: the received bytes count from here (`Totals`).
        debug_assert_eq!(self.bytes_received(), 0);
        self.cold.rare.irs = syn.seq;
        self.rcv.nxt = syn.seq + 1u32;
        self.cold.totals.received_from = self.rcv.nxt;
        self.cold.totals.received_low = 0;
        self.rcv.last_ack_sent = self.rcv.nxt;
        self.rcv.adv = self.rcv.nxt;
        let o = &syn.options;
        match o.window_scale {
            Some(ws) if self.config.window_scaling => {
                self.cold.rare.ws_ok = true;
                // RFC 7323 §2.3: a shift above 14 is treated as 14.
                self.opts.snd_wscale = ws.min(14);
                self.opts.rcv_wscale = self.config.recv_window_scale();
            }
            _ => {
                self.cold.rare.ws_ok = false;
                self.opts.snd_wscale = 0;
                self.opts.rcv_wscale = 0;
            }
        }
        self.opts.sack_ok = self.config.sack && o.sack_permitted;
        // RFC 3168 §6.1.1: a SYN asks for ECN with ECE and CWR; a SYN-ACK accepts with ECE
        // alone.
        self.ecn.ok = self.config.ecn
            && if syn.ack.is_some() {
                syn.flags.contains(Flags::ECE) && !syn.flags.contains(Flags::CWR)
            } else {
                syn.flags.contains(Flags::ECE | Flags::CWR)
            };
        match o.timestamps {
            Some((tsval, _)) if self.config.timestamps => {
                self.opts.ts_ok = true;
                self.opts.ts_recent = tsval;
                self.opts.ts_recent_stamp = now;
            }
            _ => self.opts.ts_ok = false,
        }
        // RFC 9293 §3.7.1: without the option, assume 536 (1220 over IPv6). RFC 6691: the MSS counts no
        // options, so the timestamp option comes out of it.
        let peer_mss = usize::from(o.mss.unwrap_or(self.default_peer_mss())).max(64);
        let ours = usize::from(self.config.mss).max(64);
        self.opts.set_mss(peer_mss.min(ours) - if self.opts.ts_ok { 12 } else { 0 });
        // RFC 7323 §2.2: the window in a SYN is never scaled.
        self.snd.wnd = u32::from(syn.window);
        self.snd.max_wnd = self.snd.wnd;
        self.snd.wl1 = syn.seq;
        self.snd.wl2 = syn.ack.unwrap_or(self.cold.rare.iss);
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.opts.mss();
        self.congestion().init(iw);
        // The scoreboard is bounded now that the MSS is known: the largest send buffer of
        // MSS-sized segments, twice over for short (Nagle-off) segments. Its records are
        // allocated as segments fly, not up front.
        self.loss = LossRecovery::new(self.config.wmem.max.div_ceil(self.opts.mss()) * 2 + 8);
        self.cold.loss_cold = LossCold::default();
        self.autotune_init(now);
    }

    /// The congestion controller with its window's hot copy: every change goes through it
    /// (`Congestion`), and so keeps the copy exact.
    #[inline]
    pub(super) fn congestion(&mut self) -> Congestion<'_> {
        Congestion::new(&mut self.cold.cc, &mut self.cwnd)
    }

    /// Replaces the congestion-control algorithm. Call it right after construction; the
    /// algorithm's [`init`](CongestionControl::init) runs when the handshake settles the MSS.
    pub fn set_congestion_control(&mut self, cc: Box<dyn CongestionControl>) {
        self.congestion().replace(Controller::Custom(cc));
    }

    // ----- getters -----

    /// Current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the TCB is finished and may be freed.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && !self.rst_queued()
    }

    /// Queues a RST for the next [`poll_transmit`](Self::poll_transmit), replacing any
    /// queued one. Its presence is a flag in a hot line (`AckSchedule::rst`), kept with the
    /// header by these three methods only, so that a segment's planning does not read the
    /// header's cold lines (`Connection`'s layout note).
    pub(super) fn queue_rst(&mut self, rst: SegmentHeader) {
        self.cold.rst_pending = Some(rst);
        self.ack.rst = true;
    }

    /// Whether a RST is queued.
    #[inline]
    pub(super) fn rst_queued(&self) -> bool {
        debug_assert_eq!(self.ack.rst, self.cold.rst_pending.is_some());
        self.ack.rst
    }

    /// The queued RST, if any, taken out of the queue.
    #[inline]
    pub(super) fn take_rst(&mut self) -> Option<SegmentHeader> {
        if !self.rst_queued() {
            return None;
        }
        self.ack.rst = false;
        self.cold.rst_pending.take()
    }

    /// Local address and port.
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// Remote address and port.
    pub fn remote(&self) -> SocketAddrV4 {
        self.remote
    }

    /// Whether this is an IPv6 connection: its `local` is then its alias in the flow table,
    /// whose address is `255.255.255.255` (`family`), never an IPv4 connection's.
    pub fn is_ipv6(&self) -> bool {
        is_ipv6_alias(self.local)
    }

    /// Bytes of IP and TCP headers without options: 40 over IPv4, 60 over IPv6.
    pub fn family_overhead(&self) -> usize {
        if self.is_ipv6() {
            IPV6_TCP_HEADERS
        } else {
            IPV4_TCP_HEADERS
        }
    }

    /// The MSS assumed of a peer that sent none (RFC 9293 §3.7.1, RFC 8200 §5).
    fn default_peer_mss(&self) -> u16 {
        if self.is_ipv6() {
            1220
        } else {
            536
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &TcpConfig {
        &self.config
    }

    /// Returns the counter deltas since the last call and zeroes them (see
    /// [`TcpCounters`](super::counters::TcpCounters) for the summing convention).
    pub fn take_counters(&mut self) -> TcpCounters {
        let all = self.counters();
        self.cold.counters = TcpCounters::default();
        self.seg_counts = SegCounts::default();
        all
    }

    /// The counter deltas accumulated since the last [`take_counters`](Self::take_counters).
    /// A copy: the three per-segment counters are kept in two words each (`SegCounts`), and
    /// this adds them up.
    pub fn counters(&self) -> TcpCounters {
        self.seg_counts.combine(&self.cold.counters)
    }

    /// Payload bytes acknowledged by the peer, so far: `snd.base` less where it started,
    /// with the wraps (`Totals`).
    pub(super) fn bytes_acked(&self) -> u64 {
        let low = self.snd.base.0.wrapping_sub(self.cold.totals.acked_from.0);
        derive_total(low, self.cold.totals.acked_low, self.cold.seldom.totals_high.bytes_acked)
    }

    /// Payload bytes received in order, so far: `RCV.NXT` less where it started and less
    /// the FIN, with the wraps (`Totals`).
    pub(super) fn bytes_received(&self) -> u64 {
        let low = self.rcv.nxt.0.wrapping_sub(self.cold.totals.received_from.0);
        let low = low.wrapping_sub(u32::from(self.rcv.fin_received));
        derive_total(
            low,
            self.cold.totals.received_low,
            self.cold.seldom.totals_high.bytes_received,
        )
    }

    /// A sequence number the byte totals derive from crossed a 2^31 boundary: the totals'
    /// low words as of now, and any wrap since the last call counted in their high words
    /// (`Totals`). Both at once: reconciling more often only keeps them closer.
    #[cold]
    #[inline(never)]
    pub(super) fn reconcile_totals(&mut self) {
        let (acked, received) = (self.bytes_acked(), self.bytes_received());
        self.cold.seldom.totals_high = TotalsHigh {
            bytes_acked: (acked >> 32) as u32,
            bytes_received: (received >> 32) as u32,
        };
        self.cold.totals.acked_low = acked as u32;
        self.cold.totals.received_low = received as u32;
    }

    /// A `TCP_INFO`-like snapshot.
    pub fn info(&self) -> TcpInfo {
        TcpInfo {
            state: self.state,
            rtt: self.rtx.rto.srtt(),
            rttvar: self.rtx.rto.rttvar(),
            rto: self.rtx.timeout(&self.config),
            cwnd: self.send_window(),
            ssthresh: self.cold.cc.ssthresh(),
            snd_mss: self.opts.mss(),
            snd_wnd: self.snd.wnd,
            rcv_space: self.recv_space(),
            unacked: (self.snd.max - self.snd.una).max(0) as usize,
            retransmits: self.cold.seldom.retransmits,
            backoff: self.rtx.rto.backoff(),
            bytes_acked: self.bytes_acked(),
            bytes_received: self.bytes_received(),
            window_scale: self
                .cold
                .rare
                .ws_ok
                .then_some((self.opts.rcv_wscale, self.opts.snd_wscale)),
            timestamps: self.opts.ts_ok,
            sack: self.opts.sack_ok,
            ecn: self.ecn.ok,
            in_recovery: self.loss.episode.is_some(),
            pipe: self.pipe(),
            sacked: self.loss.board.sacked_bytes(),
            lost: self.loss.board.lost_bytes(),
            reordering: self.loss.rack.reordering(),
            last_data_recv: self.quickack.last_data().unwrap_or(self.rcv.last_recv),
            chrono: self.cold.chrono,
        }
    }

    /// Next application event, if any.
    #[inline]
    pub fn poll_event(&mut self) -> Option<Event> {
        // Bit `i` is `EVENT_ORDER[i]` (`event_bit`), so the first event in that order is the
        // lowest bit set.
        let bits = self.events;
        if bits == 0 {
            return None;
        }
        self.events = bits & (bits - 1);
        EVENT_ORDER.get(bits.trailing_zeros() as usize).copied()
    }

    /// Sets the offset added to the millisecond clock for this connection's TSvals (RFC 7323
    /// §7.1: random per connection, so TSvals reveal no uptime and link no connections).
    /// Call before the first segment is sent; [`SynCookies::ts_offset`](super::SynCookies::ts_offset)
    /// gives the keyed value the stack uses.
    pub fn set_ts_offset(&mut self, offset: u32) {
        self.opts.ts_offset = offset;
    }

    /// The offset added to the millisecond clock for this connection's TSvals.
    pub(crate) fn ts_offset(&self) -> u32 {
        self.opts.ts_offset
    }

    /// Whether [`poll_event`](Self::poll_event) has something to return.
    #[inline]
    pub fn has_events(&self) -> bool {
        self.events != 0
    }

    pub(super) fn emit(&mut self, e: Event) {
        self.events |= event_bit(e);
    }

    // ----- application: sending -----

    pub(super) fn can_queue_data(&self) -> bool {
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
        let room = self.tune.sndbuf().saturating_sub(self.send_buf.len());
        // Room in the chunks held, plus what the pool may still hand out; an empty queue's
        // first chunk is always granted (see `chunk`).
        let grant = if self.send_buf.chunks() == 0 {
            pool.available().max(super::chunk::CHUNK_SIZE)
        } else {
            pool.available()
        };
        let space = room.min(self.send_buf.tail_room().saturating_add(grant));
        self.lowat_limit(space)
    }

    /// Bytes queued for sending and not yet acknowledged.
    pub fn send_queue_len(&self) -> usize {
        self.send_buf.len()
    }

    /// The most bytes that may be queued now: the send buffer less what is queued.
    fn send_room(&self) -> usize {
        if self.can_queue_data() {
            self.tune.sndbuf().saturating_sub(self.send_buf.len())
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
        let room = self.lowat_limit(self.send_room());
        let n = self.send_buf.enqueue(pool, data, room, true);
        if n < data.len().min(room) {
            pool.counters.snd_refused += 1;
        }
        if n < data.len() {
            self.marks.on_refused();
        }
        if n > 0 {
            let flags = SendFlags { eor: flags.eor && n == data.len(), ..flags };
            let end = self.data_end();
            self.marks.on_write(&mut self.cold.records, end, flags);
        }
        n
    }

    /// The common write, [`send`](Self::send) without its general machinery: an
    /// ESTABLISHED connection, no `TCP_NOTSENT_LOWAT`, all of `data` within the send buffer
    /// and at the end of the queue in the tail chunk and at most one new chunk
    /// ([`ChunkQueue::append_small`]). The effects
    /// are `send`'s: the bytes queued and committed, the chunk accounted in the pool, the push
    /// mark (no `MSG_MORE`, no record), or the refusal counted if the memory budget gave no
    /// chunk; nothing else a write touches applies (no state, timer or event changes). `None`, and nothing changed, otherwise: the
    /// caller then runs `send` (`tests/stack_app_fast_equiv.rs` holds the two to the same
    /// result).
    #[inline(always)]
    pub(crate) fn send_small(&mut self, pool: &mut ChunkPool, data: &[u8]) -> Option<usize> {
        if self.state != State::Established
            || self.fin_queued
            || self.config.notsent_lowat != u32::MAX
            || data.len() > self.tune.sndbuf().saturating_sub(self.send_buf.len())
        {
            return None;
        }
        let n = self.send_buf.append_small(pool, data)?;
        if n == 0 {
            // The memory budget refused the chunk: a short write, counted and marked as
            // `send` counts and marks it.
            pool.counters.snd_refused += 1;
            if !data.is_empty() {
                self.marks.on_refused();
            }
            return Some(0);
        }
        let end = self.data_end();
        self.marks.on_write(&mut self.cold.records, end, SendFlags::default());
        Some(n)
    }

    /// Room to fill in place, then [`send_commit`](Self::send_commit): the first contiguous
    /// piece only (the rest of the tail chunk, or a fresh chunk), so a writer loops — fill,
    /// commit, ask again — until it has written everything or the slice comes back empty
    /// (send buffer full, memory budget exhausted, or write side closed).
    /// An empty slice marks the writer as refused (`Writable` follows freed room).
    pub fn send_slices<'p>(&mut self, pool: &'p mut ChunkPool) -> &'p mut [u8] {
        let room = self.send_room();
        let slice = self.send_buf.writable(pool, room, true);
        if slice.is_empty() {
            self.marks.on_refused();
        }
        slice
    }

    /// Queues `n` bytes written through [`send_slices`](Self::send_slices); room lent and left
    /// unfilled goes back to the pool.
    pub fn send_commit(&mut self, pool: &mut ChunkPool, n: usize) -> usize {
        let n = if self.can_queue_data() { n } else { 0 };
        let n = self.send_buf.commit_room(pool, n);
        if n > 0 {
            let end = self.data_end();
            self.marks.on_write(&mut self.cold.records, end, SendFlags::default());
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
        self.after_read(n);
        n
    }

    /// Moves up to `max` in-order received bytes of this connection into `dst`'s send queue,
    /// one copy per chunk piece and no buffer between (a proxy's forwarding): as much as
    /// `dst`'s send buffer and the memory budget take. Returns the count.
    pub fn splice_into(&mut self, dst: &mut Connection, pool: &mut ChunkPool, max: usize) -> usize {
        let room = dst.send_room().min(max);
        if room == 0 {
            if max > 0 && !self.recv_buf.is_empty() {
                dst.marks.on_refused();
            }
            return 0;
        }
        let n = dst.send_buf.splice_from(&mut self.recv_buf, pool, room, true);
        if n < room.min(self.recv_buf.len() + n) {
            pool.counters.snd_refused += 1;
        }
        if n < max.min(self.recv_buf.len() + n) {
            // Bytes were left behind for want of room: `dst`'s writer waits (`Writable`).
            dst.marks.on_refused();
        }
        self.note_level(pool);
        self.after_read(n);
        n
    }

    /// Copies up to `out.len()` in-order bytes out; returns the count.
    pub fn recv(&mut self, pool: &mut ChunkPool, out: &mut [u8]) -> usize {
        let n = self.recv_buf.dequeue(pool, out);
        self.note_level(pool);
        self.after_read(n);
        n
    }

    /// The common read, [`recv`](Self::recv) of an ESTABLISHED connection where the bytes
    /// wanted lie in the head chunk of the receive queue ([`ChunkQueue::dequeue_small`]) or
    /// none are (an empty read), with `recv`'s effects after it: the memory level noted and
    /// the window update decision (`after_read`, RFC 9293 §3.8.6.2.2). `None`, and nothing
    /// changed, in any other case: the caller then runs `recv`.
    #[inline(always)]
    pub(crate) fn recv_small(&mut self, pool: &mut ChunkPool, out: &mut [u8]) -> Option<usize> {
        if self.state != State::Established {
            return None;
        }
        // An empty read (nothing buffered, or no room) takes nothing, but still notes the
        // memory level and may announce a window reopened after exhaustion, as `recv` does.
        let n = if out.is_empty() || self.recv_buf.is_empty() {
            0
        } else {
            self.recv_buf.dequeue_small(pool, out)?
        };
        self.note_level(pool);
        self.after_read(n);
        Some(n)
    }

    /// Whether the peer has closed its side and every byte it sent has been read.
    pub fn recv_finished(&self) -> bool {
        self.rcv.fin_received && self.recv_buf.is_empty()
    }

    /// After the application read `read` bytes: send a window update if the window opened
    /// enough (receiver-side SWS avoidance, RFC 9293 §3.8.6.2.2; Linux-like 2·MSS or half
    /// the buffer). A read that took nothing opens nothing (Linux's `tcp_cleanup_rbuf` looks
    /// only when bytes were copied): without that, the first empty read after a handshake
    /// saw the SYN-ACK's unscaled 65,535 "double" to the buffer and sent a pure ACK.
    #[inline]
    fn after_read(&mut self, read: usize) {
        if !self.state.is_synchronized() || self.rcv.fin_received {
            return;
        }
        let reopened = self.window_zeroed && self.mem_level != MemoryLevel::Exhausted;
        if read == 0 && !reopened {
            return;
        }
        let open_edge = self.rcv.nxt + self.recv_space();
        let window = WindowAfterRead {
            growth: (open_edge - self.rcv.adv).max(0) as usize,
            advertised: (self.rcv.adv - self.rcv.nxt).max(0) as usize,
        };
        let mss = self.opts.mss();
        // The thresholds only when the window could open by enough to matter (`rcv_update`).
        if reopened || (!window.surely_quiet(mss) && window.update_due(mss, self.tune.rcvbuf())) {
            self.ack.now = true;
        }
    }

    /// Smallest window growth worth advertising (RFC 9293 §3.8.6.2.2: min(MSS, buffer/2)).
    pub(super) fn rcv_sws_threshold(&self) -> usize {
        sws_threshold(self.opts.mss(), self.tune.rcvbuf())
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
        self.rcv.read_closed = true;
        self.shutdown_write();
        if self.state == State::FinWait2 && self.cold_at(ColdDeadline::Close).is_none() {
            // Our FIN was acknowledged before the application closed: no `now` here, so the
            // wait counts from the last segment received (never later than Linux's).
            self.set_cold_at(
                ColdDeadline::Close,
                Some(self.rcv.last_recv + self.config.fin_timeout),
            );
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
                self.queue_rst(SegmentHeader {
                    seq: self.snd.nxt,
                    ack: Some(self.rcv.nxt),
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
        self.change_config(|c| c.set_nodelay(nodelay));
        if nodelay {
            // Linux pushes what is queued (`TCP_NAGLE_PUSH`), cork or not.
            self.marks.set_cork(false);
        }
    }

    /// `TCP_USER_TIMEOUT` (RFC 5482): `None` gives the retry count back its say.
    pub fn set_user_timeout(&mut self, timeout: Option<Duration>) {
        self.change_config(|c| c.user_timeout = timeout);
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
        if on && self.timers.delack_at.is_some() {
            self.ack.now = true;
        }
    }

    /// Whether received data is being acknowledged at once (`TCP_QUICKACK` read back).
    pub fn quickack(&self) -> bool {
        self.quickack.active()
    }

    /// Turns keepalive probing on or off (`SO_KEEPALIVE`).
    pub fn set_keepalive(&mut self, on: bool) {
        self.change_config(|c| c.set_keepalive(on));
        self.probes.keepalive_sent = 0;
    }

    /// Sets keepalive idle time, probe interval and probe count (`TCP_KEEPIDLE`,
    /// `TCP_KEEPINTVL`, `TCP_KEEPCNT`).
    pub fn set_keepalive_params(&mut self, idle: Duration, interval: Duration, count: u8) {
        self.change_config(|c| {
            c.keepalive_idle = idle;
            c.keepalive_interval = interval;
            c.keepalive_count = count;
        });
    }

    /// Changes this connection's configuration alone (a socket option): copy-on-write, since
    /// the configuration is shared with the stack's other connections (`Connection::config`).
    /// The first change that makes a difference copies it into an allocation of this
    /// connection's own (`Arc::make_mut`, which copies only while the configuration is
    /// shared); one that changes nothing allocates nothing.
    pub(super) fn change_config(&mut self, change: impl FnOnce(&mut TcpConfig)) {
        let mut config = *self.config;
        change(&mut config);
        // `Retransmit` derives the RTO's limits from the configuration where it needs them
        // (`tcb::rto_limits`), relying on them staying what the connection started with.
        debug_assert_eq!(rto_limits(&config), rto_limits(&self.config), "RTO limits changed");
        if config != *self.config {
            *Arc::make_mut(&mut self.config) = config;
            self.opts.flags = config.flags;
        }
    }

    // ----- shared helpers -----

    /// Changes state, keeping the `CurrEstab` gauge exact.
    pub(super) fn set_state(&mut self, new: State) {
        let counted = |s: State| matches!(s, State::Established | State::CloseWait);
        match (counted(self.state), counted(new)) {
            (false, true) => self.cold.counters.curr_estab += 1,
            (true, false) => self.cold.counters.curr_estab -= 1,
            _ => {}
        }
        self.state = new;
        // What prediction encodes changes only with the state: timestamps are settled by
        // the handshake, before ESTABLISHED.
        self.opts.pred = self.opts.pred.for_state(new == State::Established, self.opts.ts_ok);
    }

    /// Goes to CLOSED, stopping every timer and queuing the terminal event.
    /// Closes without a word to the peer. For a half-open connection given up because the
    /// SYN queue is crowded: Linux's `reqsk_timer_handler` drops such a request silently, and
    /// a RST would go to what is, in a flood, most likely a spoofed source (backscatter).
    pub(crate) fn forget(&mut self) {
        self.take_rst();
        self.enter_closed(Event::Closed);
    }

    pub(super) fn enter_closed(&mut self, event: Event) {
        if matches!(self.state, State::SynSent | State::SynReceived) && event != Event::Closed {
            self.cold.counters.attempt_fails += 1;
        }
        if matches!(self.state, State::Established | State::CloseWait) && event == Event::Reset {
            self.cold.counters.estab_resets += 1;
        }
        self.set_state(State::Closed);
        self.timers.retransmit_at = None;
        self.timers.delack_at = None;
        self.set_cold_at(ColdDeadline::Persist, None);
        self.set_cold_at(ColdDeadline::Close, None);
        self.ack.now = false;
        self.probes.pending = false;
        self.loss.board.clear();
        self.loss.set_episode(&mut self.cold.loss_cold, None);
        self.loss.tlp_at = None;
        self.loss.tlp_pending = false;
        self.loss.set_rack_at(&mut self.cold.loss_cold, None);
        self.set_cold_at(ColdDeadline::Pacing, None);
        self.emit(event);
    }

    /// Queues a challenge ACK, subject to the per-second limit (RFC 5961 §7).
    pub(super) fn challenge_ack(&mut self, now: Instant) {
        if now.saturating_duration_since(self.cold.limits.challenge_window_start)
            >= Duration::from_secs(1)
        {
            self.cold.limits.challenge_window_start = now;
            self.cold.limits.challenge_count = 0;
        }
        if self.cold.limits.challenge_count < u32::from(self.config.challenge_ack_limit) {
            self.cold.limits.challenge_count += 1;
            self.cold.counters.challenge_acks += 1;
            self.ack.now = true;
        } else {
            self.cold.counters.challenge_acks_limited += 1;
        }
    }

    /// Our current timestamp value (millisecond clock, RFC 7323 §5.4).
    pub(super) fn ts_now(&self, now: Instant) -> u32 {
        (now.total_millis() as u32).wrapping_add(self.opts.ts_offset)
    }

    /// Turns header prediction (`predict`) off or back on. Off changes nothing but speed:
    /// every segment takes the full RFC 9293 §3.10.7.4 path, which the equivalence test
    /// (`tests/tcp_predict_equiv.rs`) holds the fast path to, frame by frame and byte by
    /// byte of state. For tests and benchmarks; Linux has no such switch.
    pub fn set_header_prediction(&mut self, on: bool) {
        self.opts.pred =
            if on { super::predict::Prediction::OFF } else { super::predict::Prediction::DISABLED };
        self.opts.pred =
            self.opts.pred.for_state(self.state == State::Established, self.opts.ts_ok);
    }

    /// Whether a new active open may take over this connection's 4-tuple while it sits in
    /// TIME-WAIT (Linux `tcp_tw_reuse`). Safe only with timestamps, and only once a second has
    /// passed since the peer was last heard: the new incarnation's ISN (RFC 6528, clock
    /// driven) and timestamps are then newer than anything of the old one, so PAWS (RFC 7323
    /// §5) and the sequence space keep old duplicates out. Without this a client opening
    /// short connections to one server runs out of ports after one range's worth per 2·MSL.
    pub fn time_wait_reusable(&self, now: Instant) -> bool {
        self.state == State::TimeWait
            && self.opts.ts_ok
            && now.saturating_duration_since(self.rcv.last_recv) >= Duration::from_secs(1)
    }

    /// The sender's state for the send-time totals (`TCP_INFO`'s busy and window-limited
    /// time) is now `kind`: the totals (`chrono`, on a cold line) change only when it differs
    /// from the hot copy `chrono_kind`, which is how `SendChrono` itself decides, so the
    /// totals are exactly as before.
    #[inline]
    pub(super) fn chrono_set(&mut self, now: Instant, kind: ChronoKind) {
        if kind != self.chrono_kind {
            self.cold.chrono.set(now, kind);
            self.chrono_kind = kind;
        }
        debug_assert_eq!(self.cold.chrono.kind(), self.chrono_kind);
    }

    /// Sequence number just past the last queued data byte (where a FIN goes).
    #[inline]
    pub(super) fn data_end(&self) -> SeqNumber {
        self.snd.base + self.send_buf.len()
    }

    /// Whether our FIN has been acknowledged.
    pub(super) fn fin_acked(&self) -> bool {
        self.fin_queued && self.snd.una == self.data_end() + 1u32
    }
}

impl Connection {
    /// A word from every cache line an established connection's segment reads or writes,
    /// folded into one value, for a receive batch that reads them ahead so that the misses
    /// of several frames are in flight together (see `Stack::receive_batch`): one word of
    /// each of the connection's 7 lines (`layout::every_line`: the whole connection, the parts a
    /// common segment touches throughout, from the out-of-order count to `chrono_kind`, with the
    /// configuration's pointer, `Autotune` and the window's copy; the scoreboard's oldest
    /// record is inline in `loss`, so no heap line is read). Which field stands for which
    /// line is checked by `layout::hot_word_reads_each_hot_line`. That these are all the
    /// lines was measured, not guessed: per field by valgrind's `lackey`, and in a cache
    /// simulation of `server_path` at 100,000 connections (`bench/examples/server_count.rs`,
    /// docs/benchmarks.md "The connection thinned", "The common segment in 13 lines", "The
    /// common segment in 11 lines") no
    /// connection line misses outside this read.
    pub(crate) fn hot_word(&self) -> u64 {
        // Plain integers where the line has one, each a single load: a conversion
        // (`Option::is_some`, a controller's dispatched window) would only add instructions
        // to a read that is there for its miss.
        let lines = [
            // Lines 0-6, one word each (`layout::hot_word_reads_each_hot_line`); the
            // scoreboard's first (its oldest record is inline, so the ACK of the one segment
            // in flight reads no heap line), whose branch (is there a record?) the other loads
            // then need not be kept live across (without the configuration's line, they were
            // shuffled between registers around it: 12 instructions a frame).
            self.loss.board.warm_word(),
            u64::from(self.rcv.nxt.0),
            u64::from(self.seg_counts.in_segs),
            u64::from(self.loss.dupacks),
            u64::from(self.snd.una.0),
            self.send_buf.len() as u64,
            self.chrono_kind as u64,
        ];
        lines.iter().fold(0, |a, &w| a ^ w)
    }

    /// The first chunk of the send queue ([`NIL`](super::chunk::NIL) when it is empty): the
    /// one an ACK of everything in flight gives back, which the pool keeps aside and hands
    /// out with the next `take` (`ChunkPool::give`), so that a request acknowledging the
    /// last response has its data written to the start of this chunk. The RX look-ahead
    /// reads that line (`stack::batch`).
    pub(crate) fn send_head_chunk(&self) -> u32 {
        self.send_buf.head_chunk()
    }

    /// Copies the out-of-order count to its hot place (`ooo_ranges`): called by every change
    /// of `cold.reassembly`, so that a segment asks the hot copy and reads no cold line.
    pub(super) fn reassembly_changed(&mut self) {
        self.ooo_ranges = self.cold.reassembly.range_count() as u32;
    }

    /// Whether out-of-order data is held (the hot copy of the count, `ooo_ranges`; debug
    /// builds check it against the ranges, as the other hot copies are checked).
    #[inline]
    pub(super) fn holds_out_of_order(&self) -> bool {
        debug_assert_eq!(
            self.ooo_ranges as usize,
            self.cold.reassembly.range_count(),
            "the out-of-order count's hot copy"
        );
        self.ooo_ranges > 0
    }
}

#[cfg(test)]
mod layout {
    use core::mem::{offset_of, size_of};
    use std::collections::BTreeSet;

    use std::sync::Arc;

    use super::super::autotune::Autotune;
    use super::super::config::TcpConfig;
    use super::super::recovery::scoreboard::Scoreboard;
    use super::super::recovery::LossRecovery;
    use super::super::tcb::{RecvSeq, Timers};
    use super::Connection;

    const LINE: usize = 64;

    /// The bytes a common segment (an in-order 64-byte request, its echo, the pure ACK)
    /// reads or writes, as (offset, size), measured per field: valgrind's `lackey
    /// --trace-mem=yes` under `bench/examples/server_count 1 10` (640 frames), every access
    /// to the connection's slot counted per frame and mapped to fields by the debug build's
    /// DWARF layout (docs/benchmarks.md, "The connection thinned"). What every frame touched:
    /// - whole parts, from `state` to `chrono_kind` (with the pending RST's presence, `ack.rst`,
    ///   read in place of the header's niche since "The common segment in 13 lines");
    /// - the out-of-order count (`ooo_ranges`: the count last in `Reassembly` until the cold
    ///   parts were boxed, its hot copy since);
    /// - the configuration's pointer (the configuration itself is shared, one line for every
    ///   connection, since "The configuration shared"; before, each connection's copy had
    ///   its per-segment fields, `delayed_ack_timeout` .. `flags` and the `default` and `max`
    ///   of `wmem` and `rmem`, on a line of their own);
    /// - `Autotune`, all 24 bytes (36 of 40 before its fields were 32-bit: the RTT estimate,
    ///   both sizes, the current RTT measurement; before branch tot the estimate was an
    ///   `Option` whose tag was read and
    ///   was the slot's occupancy, and `Autotune` began with the read measurement, now
    ///   `ReadSpace`);
    /// - the three per-segment counters, whose low words (`seg_counts`) are among the whole
    ///   parts since branch tot (before, `TcpCounters`' first 24 bytes ended the run);
    /// - the congestion window and whether the controller takes every ACK, from the hot copy
    ///   (`cwnd`, among the whole parts); before, the controller's tag and window (its first
    ///   16 bytes, `repr(C, u8)`) on line 1, with `Autotune`.
    fn common_segment() -> Vec<(usize, usize)> {
        let tune = offset_of!(Connection, tune);
        let state = offset_of!(Connection, state);
        vec![
            (offset_of!(Connection, ooo_ranges), 4),
            (state, offset_of!(Connection, chrono_kind) + 1 - state),
            (offset_of!(Connection, config), 8),
            (tune, size_of::<Autotune>()),
        ]
    }

    fn lines_of(words: &[(usize, usize)]) -> BTreeSet<usize> {
        words
            .iter()
            .flat_map(|&(offset, size)| offset / LINE..=(offset + size - 1) / LINE)
            .collect()
    }

    /// The line budget of the common segment: all 7 of the connection's lines, since the
    /// parts no segment touches moved to a box of their own (`Cold`; before, the connection
    /// was 26 lines and these were its lines 12-18). 8 with `Autotune` and the controller's
    /// tag and window on a line of their own, before the window's copy; 9 with `AckSchedule`
    /// and `Probes` 4-byte aligned and 20 bytes, before 17fc300; 11 with loss recovery's 208
    /// bytes, 48-byte `Timers` and `RecvSeq`, 72-byte `Retransmit`, 64-bit totals and
    /// counters in the run and a 72-byte `Autotune`, before branches loss, tmr, tot and rtt;
    /// 12 with the initial sequence numbers, the timed segment's number, ECN's end of
    /// reduced window, the send-time totals and the record ends inside the hot parts; 13
    /// with a copy of the configuration in each connection; 14 with that run across two
    /// lines and the RST's presence in its header, 15 with loss recovery's episode state,
    /// the keepalive probe's time and the retransmissions' total inside the hot parts, 18
    /// with the hot parts first and the configuration, counters and RST behind them, 19
    /// before that. The out-of-order count and the state bytes come first, then the 8-byte
    /// aligned parts (the cold box's pointer and the configuration's among them), then the
    /// 4-byte, the 2-byte aligned parts and the bytes, with no padding between them. A field
    /// added to the connection, or a part that grows past the 26 spare bytes, fails here;
    /// `Connection::hot_word` reads one word of each of these lines (`every_line`).
    ///
    /// The slab marks a slot's occupancy in a niche of the socket, read by every lookup:
    /// since the whole connection is hot, wherever the compiler puts it is a hot line.
    #[test]
    fn a_common_segment_touches_seven_lines() {
        let lines = lines_of(&common_segment());
        assert_eq!(lines.len(), 7);
        assert_eq!(lines, every_line(), "the lines a common segment touches");
        assert_eq!(size_of::<Connection>(), 7 * LINE, "the connection is its hot lines");
        // The out-of-order count and the whole parts, `Autotune` and the window's copy among
        // them: 422 bytes from the connection's start, 7 lines with 26 bytes to spare (414
        // and 34 while the cold parts were inline, without their box's pointer; 445 while
        // `Negotiated` held the MSS as a `usize` and `ws_ok`, 32 bytes, `SendMarks` the push
        // mark as an `Option`, 20, `SendSeq` `fin_queued`, 36, each `ChunkQueue` 32 and
        // `LossRecovery` 136; 640 bytes and 10 lines before the branches loss, tmr, tot and
        // rtt).
        assert_eq!((size_of::<Timers>(), size_of::<RecvSeq>()), (16, 24));
        assert_eq!((size_of::<super::Retransmit>(), size_of::<LossRecovery>()), (28, 128));
        assert_eq!(offset_of!(Connection, ooo_ranges), 0, "the out-of-order count first");
        let state = offset_of!(Connection, state);
        assert_eq!(state, 4, "the state bytes follow the out-of-order count");
        let parts_end = offset_of!(Connection, chrono_kind) + 1;
        assert_eq!(parts_end, 422);
        // The 2-byte aligned parts after the 4-byte aligned ones, before the single bytes.
        assert_eq!((size_of::<super::AckSchedule>(), size_of::<super::Probes>()), (4, 6));
        let recv_end = offset_of!(Connection, recv_buf) + size_of::<super::ChunkQueue>();
        assert_eq!(offset_of!(Connection, ack), recv_end);
        assert_eq!(offset_of!(Connection, probes), recv_end + 4);
        // The counters' low words and `quickack`: 16 bytes of 2- and 1-byte aligned parts
        // among the 8-byte aligned ones, which they leave aligned; `Retransmit` first of the
        // 4-byte aligned parts, right after the last 8-byte aligned one.
        let seg_counts = offset_of!(Connection, seg_counts);
        assert_eq!((seg_counts % 8, offset_of!(Connection, loss) - seg_counts), (0, 16));
        let loss_end = offset_of!(Connection, loss) + size_of::<LossRecovery>();
        assert_eq!(offset_of!(Connection, rtx), loss_end);
        // `Autotune` (24 bytes; 40 while its sizes were `usize`s and its estimate a
        // `Duration`) among the hot parts; the controller (168 bytes) in the box: its window
        // is read from `cwnd`.
        assert_eq!(size_of::<Autotune>(), 24);
        // The configuration and the cold parts: a pointer each, first of the 8-byte aligned
        // parts.
        assert_eq!(size_of::<Arc<TcpConfig>>(), 8);
        assert_eq!(size_of::<Box<super::Cold>>(), 8);
        assert_eq!(offset_of!(Connection, cold), 8);
        assert_eq!(offset_of!(Connection, config), 16);
        // A budget, not a measurement: the cold parts, once the connection's lines 0-11 and
        // 19-25 (1,216 bytes with the 32 of end padding) less the out-of-order count, whose
        // `Reassembly` now ends in 4 bytes of padding.
        assert_eq!(size_of::<super::Cold>(), 1224);
    }

    /// A socket option set on one connection changes its configuration alone, however many
    /// share it (copy-on-write), and one that changes nothing copies nothing.
    #[test]
    fn a_setter_changes_one_connection_only() {
        use super::{ConnectionParams, Open};
        use crate::time::{Duration, Instant};
        use std::net::{Ipv4Addr, SocketAddrV4};
        let shared = Arc::new(TcpConfig::default());
        let open = |port: u16| {
            Connection::new(ConnectionParams {
                now: Instant::ZERO,
                config: Arc::clone(&shared),
                local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
                remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
                iss: crate::wire::SeqNumber(1),
                open: Open::Active,
            })
        };
        let (mut a, b) = (open(1000), open(1001));
        assert!(Arc::ptr_eq(&a.config, &b.config), "made with one configuration, they share it");
        // Setting what is already set keeps the sharing.
        a.set_nodelay(false);
        a.set_notsent_lowat(u32::MAX);
        a.set_user_timeout(None);
        assert!(Arc::ptr_eq(&a.config, &b.config));
        a.set_nodelay(true);
        a.set_keepalive(true);
        a.set_keepalive_params(Duration::from_secs(5), Duration::from_secs(1), 3);
        a.set_user_timeout(Some(Duration::from_secs(9)));
        a.set_notsent_lowat(4096);
        a.set_send_fast(false);
        let c = a.config();
        assert!(c.nodelay() && c.keepalive() && !c.send_fast());
        assert_eq!(
            (c.keepalive_idle, c.keepalive_interval),
            (Duration::from_secs(5), Duration::from_secs(1))
        );
        assert_eq!((c.keepalive_count, c.user_timeout), (3, Some(Duration::from_secs(9))));
        assert_eq!(c.notsent_lowat, 4096);
        // The hot copy of the on/off settings follows the connection's own configuration.
        assert_eq!((a.opts.flags, b.opts.flags), (a.config().flags, b.config().flags));
        assert_ne!(a.opts.flags, b.opts.flags);
        assert_eq!(*b.config(), TcpConfig::default(), "the other connection saw none of it");
        assert_eq!(*shared, TcpConfig::default());
        assert!(!Arc::ptr_eq(&a.config, &shared) && Arc::ptr_eq(&b.config, &shared));
        // The first change copied; later ones change the copy in place.
        let own = Arc::as_ptr(&a.config);
        a.set_nodelay(false);
        assert_eq!(Arc::as_ptr(&a.config), own);
    }

    /// The fields `Connection::hot_word` reads, one for each line (the send queue's
    /// length inside its 28 bytes; the scoreboard's first word, its oldest record inline
    /// beside its other records' pointer and its totals; the duplicate-ACK count).
    #[test]
    fn hot_word_reads_each_hot_line() {
        let read = [
            (offset_of!(Connection, rcv.nxt), 4),
            (offset_of!(Connection, seg_counts.in_segs), 2),
            (offset_of!(Connection, loss.dupacks), 4),
            (offset_of!(Connection, snd.una), 4),
            (offset_of!(Connection, send_buf), size_of::<super::ChunkQueue>()),
            (offset_of!(Connection, chrono_kind), 1),
        ];
        let board = offset_of!(Connection, loss.board);
        let board_reads = Scoreboard::warm_reads().map(|(at, size)| (board + at, size));
        let read: Vec<_> = read.into_iter().chain(board_reads).collect();
        assert_eq!(lines_of(&read), every_line());
    }

    /// Every line of the connection: all of them are hot since the cold parts were boxed.
    fn every_line() -> BTreeSet<usize> {
        (0..size_of::<Connection>() / LINE).collect()
    }
}
