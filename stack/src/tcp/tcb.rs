//! The named parts of a connection's state (RFC 9293 §3.3.1 calls the whole the TCB).
//!
//! [`Connection`](super::Connection) holds one of each, so that a reader sees which fields
//! belong together and which ones the per-segment fast path touches (see the layout note on
//! `Connection`). Each part is plain data: the behaviour stays on the connection (or, for loss
//! recovery and ECN, on their own types in `recovery`), since most steps read several parts.

use super::config::TcpFlags;
use super::rto::RtoEstimator;
use super::SeqNumber;
use crate::time::Instant;

/// The send sequence space (RFC 9293 §3.3.1, figure 4): `SND.UNA`, `SND.NXT`, `SND.WND`,
/// `SND.WL1`, `SND.WL2`, `ISS`, plus what this engine keeps beside them.
#[derive(Clone, Copy, Debug)]
pub(super) struct SendSeq {
    /// `SND.UNA`: oldest unacknowledged sequence number.
    pub(super) una: SeqNumber,
    /// `SND.NXT`: next sequence number to send.
    pub(super) nxt: SeqNumber,
    /// Highest sequence number sent plus one (`nxt` goes back on RTO, this does not).
    pub(super) max: SeqNumber,
    /// `SND.WND`: the peer's window in bytes, scaled.
    pub(super) wnd: u32,
    /// The largest window the peer has offered (RFC 5961 §5 ACK acceptability).
    pub(super) max_wnd: u32,
    /// `SND.WL1`: segment sequence number used for the last window update.
    pub(super) wl1: SeqNumber,
    /// `SND.WL2`: segment acknowledgment number used for the last window update.
    pub(super) wl2: SeqNumber,
    /// Sequence number of the send buffer's first byte.
    pub(super) base: SeqNumber,
    /// The application closed its sending side; a FIN follows the queued data.
    pub(super) fin_queued: bool,
}

impl SendSeq {
    /// Nothing sent yet from `iss`; the first data byte will be `iss + 1`.
    pub(super) fn new(iss: SeqNumber) -> Self {
        SendSeq {
            una: iss,
            nxt: iss,
            max: iss,
            wnd: 0,
            max_wnd: 0,
            wl1: SeqNumber(0),
            wl2: iss,
            base: iss + 1u32,
            fin_queued: false,
        }
    }
}

/// The receive sequence space (RFC 9293 §3.3.1, figure 5): `RCV.NXT`, `IRS`, the edge last
/// advertised, and what arrived that is not yet in order.
#[derive(Clone, Copy, Debug)]
pub(super) struct RecvSeq {
    /// `RCV.NXT`: next sequence number expected.
    pub(super) nxt: SeqNumber,
    /// Right edge of the window last advertised (never moves left, RFC 9293 §3.8.6.2.2).
    pub(super) adv: SeqNumber,
    /// `RCV.NXT` as of the last ACK sent (RFC 7323 `Last.ACK.sent`).
    pub(super) last_ack_sent: SeqNumber,
    /// When a segment of the peer last arrived (keepalive idle time, FIN-WAIT-2 timeout,
    /// `tcp_tw_reuse`, giving up on a silent zero-window peer).
    pub(super) last_recv: Instant,
    /// A duplicate received below `RCV.NXT`, to report as a DSACK block in the next ACK
    /// (RFC 2883 §4).
    pub(super) dsack_pending: Option<(SeqNumber, SeqNumber)>,
    /// A FIN seen beyond a gap, processed once the gap fills.
    pub(super) pending_fin: Option<SeqNumber>,
    /// The peer's FIN arrived in order.
    pub(super) fin_received: bool,
    /// The application will not read any more (after `close`): data is acknowledged and
    /// dropped.
    pub(super) read_closed: bool,
}

impl RecvSeq {
    /// Nothing known of the peer yet (its SYN fills this in).
    pub(super) fn new(now: Instant) -> Self {
        RecvSeq {
            nxt: SeqNumber(0),
            adv: SeqNumber(0),
            last_ack_sent: SeqNumber(0),
            last_recv: now,
            dsack_pending: None,
            pending_fin: None,
            fin_received: false,
            read_closed: false,
        }
    }
}

/// What the handshake settled: MSS, window scaling (RFC 7323 §2), SACK (RFC 2018) and
/// timestamps (RFC 7323 §3), with the timestamp state PAWS needs.
#[derive(Clone, Copy, Debug)]
pub(super) struct Negotiated {
    /// Effective send MSS (payload bytes), options excluded.
    pub(super) mss: usize,
    /// `TS.Recent` (RFC 7323 §4.3).
    pub(super) ts_recent: u32,
    /// Offset added to our millisecond clock for this connection's TSvals (RFC 7323 §7.1).
    pub(super) ts_offset: u32,
    /// When `ts_recent` was last set (RFC 7323 §5.5: too old, and PAWS no longer trusts it).
    pub(super) ts_recent_stamp: Instant,
    /// The peer's window-scale shift: its windows are shifted left by this.
    pub(super) snd_wscale: u8,
    /// Our window-scale shift: our windows are shifted right by this.
    pub(super) rcv_wscale: u8,
    /// Window scaling is in use.
    pub(super) ws_ok: bool,
    /// SACK is in use.
    pub(super) sack_ok: bool,
    /// Timestamps are in use.
    pub(super) ts_ok: bool,
    /// The header the next segment is expected to have (`predict`; Linux `pred_flags`),
    /// set by `Connection::set_state`: read first by every arriving segment, beside the
    /// options it depends on (and in this struct's padding).
    pub(super) pred: super::predict::Prediction,
    /// The configuration's on/off settings (`TcpConfig::flags`), copied here when the
    /// connection is made and by `Connection::change_config`, the one place that changes
    /// them: a segment reads several (the fast sender, Nagle, pacing, RACK, F-RTO, delayed
    /// ACKs, keepalive), and each read through the shared configuration's pointer
    /// (`Connection::config`) cost a load more. In this struct's padding.
    pub(super) flags: TcpFlags,
}

impl Negotiated {
    /// Nothing negotiated yet; `mss` is ours until the peer's SYN tells us its own.
    pub(super) fn new(now: Instant, mss: usize, ts_offset: u32, flags: TcpFlags) -> Self {
        Negotiated {
            mss,
            ts_recent: 0,
            ts_offset,
            ts_recent_stamp: now,
            snd_wscale: 0,
            rcv_wscale: 0,
            ws_ok: false,
            sack_ok: false,
            ts_ok: false,
            pred: super::predict::Prediction::OFF,
            flags,
        }
    }
}

/// When to acknowledge (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct AckSchedule {
    /// An ACK must go out with the next `poll_transmit`.
    pub(super) now: bool,
    /// Full-sized segments received since the last ACK (every second one is acknowledged).
    pub(super) delack_segments: u32,
    /// A RST is queued (`Connection::rst_pending` holds it): its presence, which every
    /// segment's planning reads, kept here in a hot line (and this struct's padding) while
    /// the 72-byte header sits in a cold one (`Connection::queue_rst`, `take_rst`).
    pub(super) rst: bool,
}

/// Every deadline the connection keeps outside loss recovery (whose probe and reordering
/// timers are in [`LossRecovery`](super::recovery::LossRecovery)), side by side: the owner
/// folds them into one wheel entry after every change
/// ([`Connection::poll_timeout`](super::Connection::poll_timeout)).
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Timers {
    /// Retransmission timer (RFC 6298).
    pub(super) retransmit_at: Option<Instant>,
    /// Delayed ACK (RFC 1122 §4.2.3.2).
    pub(super) delack_at: Option<Instant>,
    /// Persist timer (RFC 9293 §3.8.6.1).
    pub(super) persist_at: Option<Instant>,
    /// Pacing: the earliest time the next data segment may leave.
    pub(super) pacing_next: Option<Instant>,
    /// The closing state's deadline: in TIME-WAIT its end (2·MSL, RFC 9293 §3.10.7.4); in
    /// FIN-WAIT-2, when a connection the application closed gives up waiting for the peer's
    /// FIN (`TcpConfig::fin_timeout`). Set only in those two states, which exclude each other
    /// (entering TIME-WAIT replaces the FIN-WAIT-2 deadline, CLOSED clears it), so one field
    /// holds either and `Connection::on_timeout` tells them apart by the state: the 8 bytes
    /// a second field took are the configuration's pointer now, on the same hot line
    /// (`Connection::config`).
    pub(super) close_at: Option<Instant>,
    /// Pacing is holding data back until `pacing_next` (reported by `poll_timeout`).
    pub(super) pacing_held: bool,
    /// Data segments sent, counted to 255: Linux paces from the tenth on (no extra room: it
    /// fills the padding after `pacing_held`).
    pub(super) pacing_data_segs: u8,
}

/// Round-trip measurement and the retransmission timeout (RFC 6298, RFC 7323 §4).
#[derive(Clone, Copy, Debug)]
pub(super) struct Retransmit {
    /// SRTT, RTTVAR and the RTO with its back-off.
    pub(super) rto: RtoEstimator,
    /// Without timestamps: when the segment being timed left (Karn's algorithm); which
    /// segment it is, `Rare::rtt_probe_seq`, is read only while one is timed.
    pub(super) rtt_probe: Option<Instant>,
    /// TSval of the last timeout retransmission. An echo older than this can only come from
    /// a peer whose TS.Recent could not advance (RFC 7323 §4.3: its ACK of the retransmission
    /// was lost), so measuring RTT from it would count the whole timeout as path delay and
    /// inflate the RTO by orders of magnitude. Such echoes give no sample.
    pub(super) ts_sample_floor: Option<u32>,
    /// Consecutive timeouts without progress (bounded by the SYN retries or `retries2`).
    pub(super) count: u8,
}

/// Liveness of an idle or stalled peer: zero-window probes (RFC 9293 §3.8.6.1) and
/// keepalives (RFC 1122 §4.2.3.6). Their deadlines are in [`Timers`] (persist) or derived
/// from `RecvSeq::last_recv` (keepalive).
#[derive(Clone, Copy, Debug)]
pub(super) struct Probes {
    /// A probe (zero-window or keepalive) goes out with the next `poll_transmit`.
    pub(super) pending: bool,
    /// Keepalive probes sent since the peer was last heard.
    pub(super) keepalive_sent: u8,
    /// The persist timer found data behind a window too small for its next segment: one
    /// segment of what fits may go now (Linux `tcp_write_wakeup`).
    pub(super) window_wakeup: bool,
    /// Zero-window probes sent since the last acceptable ACK.
    pub(super) unanswered: u32,
    /// Persist back-off exponent.
    pub(super) persist_backoff: u32,
}

impl Probes {
    pub(super) fn new() -> Self {
        Probes {
            pending: false,
            keepalive_sent: 0,
            window_wakeup: false,
            unanswered: 0,
            persist_backoff: 0,
        }
    }
}

/// The fields of two per-segment parts, [`Probes`] and [`Totals`], that a common segment
/// never touches, kept in the connection's cold lines: without their 8-byte words those
/// parts are 12 and 16 bytes, and with loss recovery's episode state (`LossCold`) gone too,
/// the parts a common segment touches throughout fit 12 lines instead of 13
/// (docs/benchmarks.md, "The connection thinned" lists what a frame touches per field).
#[derive(Clone, Copy, Debug)]
pub(super) struct Seldom {
    /// When the last keepalive probe went out (`Probes::keepalive_sent` counts them).
    pub(super) keepalive_sent_at: Instant,
    /// Segments retransmitted, the running total `info` reports beside [`Totals`].
    pub(super) retransmits: u64,
    /// The high words of [`Totals`] (written when a total's sequence number crosses a 2^31
    /// boundary: once per 2 GiB each way).
    pub(super) totals_high: TotalsHigh,
}

impl Seldom {
    pub(super) fn new(now: Instant) -> Self {
        Seldom { keepalive_sent_at: now, retransmits: 0, totals_high: TotalsHigh::default() }
    }
}

/// Rate limits on ACKs an attacker could provoke: challenge ACKs (RFC 5961 §7) and ACKs
/// answering out-of-window segments.
#[derive(Clone, Copy, Debug)]
pub(super) struct AckLimits {
    /// Start of the current one-second challenge-ACK window.
    pub(super) challenge_window_start: Instant,
    /// Challenge ACKs sent in it.
    pub(super) challenge_count: u32,
    /// When the last out-of-window ACK went out.
    pub(super) last_oow_ack: Option<Instant>,
}

impl AckLimits {
    pub(super) fn new(now: Instant) -> Self {
        AckLimits { challenge_window_start: now, challenge_count: 0, last_oow_ack: None }
    }
}

/// The running byte totals reported by `info` (`TCP_INFO`), beside the counter deltas (the
/// retransmissions' is in [`Seldom`]), derived from the sequence numbers instead of counted,
/// so that a segment writes none of them: payload bytes acknowledged are `snd.base` less
/// its start (`snd.base` moves by exactly the data acknowledged), payload bytes received
/// `RCV.NXT` less its start, less one once the FIN is in (RCV.NXT moves by exactly the
/// data delivered, and the FIN). That gives the low 32 bits; the high words
/// ([`TotalsHigh`], in `Seldom`) count the wraps. A wrap is found without reading this
/// cold part on a common segment: only an update that crosses a 2^31 boundary of the
/// sequence space (the old and new numbers' top bits differ, both in registers) reconciles
/// (`Connection::reconcile_totals`), comparing the low word with the one seen at the last
/// reconciliation. Reconciliations are less than 2^32 bytes apart (the boundaries are 2^31
/// apart and one update moves less than 2^31), so no wrap goes unseen, and a reader adds
/// the one wrap since the last (`Connection::bytes_acked`, `bytes_received`): exact
/// 64-bit totals, as when they were counted in `u64`s on a hot line.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(super) struct Totals {
    /// `snd.base` before any data was acknowledged (`ISS + 1`).
    pub(super) acked_from: SeqNumber,
    /// `RCV.NXT` before any data was received (`IRS + 1` once the SYN is in: `learn_syn`).
    pub(super) received_from: SeqNumber,
    /// The low words at the last reconciliation.
    pub(super) acked_low: u32,
    pub(super) received_low: u32,
}

/// The high words of the byte totals ([`Totals`]): the wraps of their low words.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(super) struct TotalsHigh {
    /// `Totals::bytes_acked`'s.
    pub(super) bytes_acked: u32,
    /// `Totals::bytes_received`'s.
    pub(super) bytes_received: u32,
}

/// What a common segment never reads or writes, out of the hot parts it used to sit in
/// (`SendSeq`, `RecvSeq`, `Retransmit`, `Ecn`) so that those take one line less
/// (docs/benchmarks.md, "The common segment in 11 lines"): the initial sequence numbers
/// (read in the handshake and for a SYN's retransmission), the sequence number of the
/// segment timed without timestamps (read only while `Retransmit::rtt_probe` is set) and
/// ECN's end of the reduced window (read only for an ECE).
#[derive(Clone, Copy, Debug)]
pub(super) struct Rare {
    /// `ISS`: our initial send sequence number.
    pub(super) iss: SeqNumber,
    /// `IRS`: the peer's initial sequence number.
    pub(super) irs: SeqNumber,
    /// The segment `Retransmit::rtt_probe` times (meaningless while that is `None`).
    pub(super) rtt_probe_seq: SeqNumber,
    /// ECN sender: `SND.MAX` at the last ECE reaction (RFC 3168 §6.1.2); no new reaction
    /// until it is acknowledged (`Ecn::on_ack`).
    pub(super) cwr_until: Option<SeqNumber>,
}

impl Rare {
    pub(super) fn new(iss: SeqNumber) -> Self {
        Rare { iss, irs: SeqNumber(0), rtt_probe_seq: SeqNumber(0), cwr_until: None }
    }
}
