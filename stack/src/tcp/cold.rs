//! The parts of a connection no common segment touches, kept out of its slot.
//!
//! A [`Connection`](super::Connection) is its seven hot lines and a pointer to these. At
//! 100,000 connections the slot table is what a frame's look-ahead walks: with these parts
//! inline a slot was 27 lines, the table 172 MB, and a frame's eight lines fell on 1.27
//! pages on average, each a TLB miss whose walk grows with the region (about 25 ns over
//! 48 MiB, 40-50 over 176 MiB on huge pages, measured by `scripts/page-walk-probe.c`). Boxed,
//! a slot is eight lines, 512 bytes: the table 51 MB, one page a frame (docs/benchmarks.md,
//! "The cold parts boxed"). The box is allocated once, when the connection is made (a SYN
//! queue entry included), never per segment.

use super::autotune::ReadSpace;
use super::cc::Controller;
use super::chrono::SendChrono;
use super::counters::TcpCounters;
use super::push::RecordEnds;
use super::reassembly::Reassembly;
use super::recovery::LossCold;
use super::segment::SegmentHeader;
use super::tcb::{AckLimits, Rare, RecvCold, RtxCold, Seldom, TimersCold, Totals};
use super::SeqNumber;
use crate::time::Instant;

/// What a common segment (in-order data, its echo, the pure ACK) never reads or writes: each
/// part that matters to it has a hot copy of whether it does, in the connection, kept in
/// step by the only code that changes the part (`ack.rst`, `marks`' record flag,
/// `chrono_kind`, `rtx`'s, `timer_flags`', `rcv`'s and `loss`'s flags, the window's `cwnd`,
/// the out-of-order count `ooo_ranges`).
#[derive(Debug)]
pub(super) struct Cold {
    pub(super) limits: AckLimits,
    /// The keepalive probe's time, the retransmissions' total and the byte totals' high
    /// words (`Seldom`).
    pub(super) seldom: Seldom,
    /// The auto-tuning's measurement of what was read per round trip (`autotune`).
    pub(super) read_space: ReadSpace,
    /// The congestion controller: a common segment reads its window and whether it takes
    /// every ACK from the connection's `cwnd`, which every call that may change them
    /// refreshes.
    pub(super) cc: Controller,
    /// A RST to send, queued and taken only through `queue_rst` and `take_rst`, which keep
    /// its presence in the connection's `ack.rst`.
    pub(super) rst_pending: Option<SegmentHeader>,
    /// The persist, close and pacing deadlines, set only while `timer_flags` says so.
    pub(super) timers_cold: TimersCold,
    /// The timed segment's send time and the timestamp floor (a flag in `rtx` says whether
    /// either is set).
    pub(super) rtx_cold: RtxCold,
    /// Where the byte totals are derived from (`Totals`; their high words are in `seldom`):
    /// read only by `info` and once per receiver round trip, written on a wrap.
    pub(super) totals: Totals,
    /// A pending DSACK block and the sequence number of a FIN beyond a gap, valid only while
    /// `rcv` says they are pending.
    pub(super) rcv_cold: RecvCold,
    /// Out-of-order ranges; how many, the one thing a segment asks, is the connection's
    /// `ooo_ranges`.
    pub(super) reassembly: Reassembly,
    /// Counter deltas (see [`TcpCounters`]; of the three per-segment ones, what their low
    /// words in the connection's `seg_counts` carried out).
    pub(super) counters: TcpCounters,
    /// Busy and receive-window-limited time (`TCP_INFO`): changed only when the sender's
    /// state changes (`chrono_set`).
    pub(super) chrono: SendChrono,
    /// Ends of `MSG_EOR` records not yet sent (`marks` says whether there are any).
    pub(super) records: RecordEnds,
    /// Loss recovery's episode state: undo, PRR, the post-timeout `recover`.
    pub(super) loss_cold: LossCold,
    /// The initial sequence numbers, the timed segment's and ECN's end of reduced window.
    pub(super) rare: Rare,
}

impl Cold {
    /// A new connection's cold parts at `now`, our ISS `iss`, with its controller `cc`.
    pub(super) fn new(now: Instant, iss: SeqNumber, cc: Controller) -> Self {
        Cold {
            limits: AckLimits::new(now),
            seldom: Seldom::new(now),
            read_space: ReadSpace::new(now),
            cc,
            rst_pending: None,
            timers_cold: TimersCold::default(),
            rtx_cold: RtxCold::default(),
            // The byte totals start at zero (`Totals`): from the ISS's successor, and from the
            // peer's once its SYN is learned (`learn_syn`).
            totals: Totals {
                acked_from: iss + 1u32,
                received_from: SeqNumber(0),
                acked_low: 0,
                received_low: 0,
            },
            rcv_cold: RecvCold::default(),
            reassembly: Reassembly::new(),
            counters: TcpCounters::default(),
            chrono: SendChrono::default(),
            records: RecordEnds::default(),
            loss_cold: LossCold::default(),
            rare: Rare::new(iss),
        }
    }
}

/// Cold parts of freed connections, kept for the next ones (the `Stack` holds one): a
/// connection made takes one back instead of allocating, so that a churn of connections
/// (short connections one after another, a SYN queue under a flood) stops calling the
/// allocator once its peak is reached, as the table's slots are reused from their free
/// list. At most [`MAX`](Self::MAX) are kept; beyond, a box goes back to the allocator.
#[derive(Debug, Default)]
pub(crate) struct ColdSpares {
    /// The boxes themselves are what is kept: each goes whole to a connection.
    #[allow(clippy::vec_box)]
    boxes: Vec<Box<Cold>>,
}

impl ColdSpares {
    /// The most kept: a full SYN queue's worth at Linux's default `somaxconn` (4,096), about
    /// 5 MB.
    pub(crate) const MAX: usize = 4096;

    /// Keeps `conn`'s cold parts, if there is room; the rest of it is dropped.
    pub(super) fn keep(&mut self, conn: super::Connection) {
        if self.boxes.len() < Self::MAX {
            self.boxes.push(conn.cold);
        }
    }

    /// `cold` in a kept box (its stale contents dropped), or in a new one if none is kept.
    pub(super) fn boxed(&mut self, cold: Cold) -> Box<Cold> {
        match self.boxes.pop() {
            Some(mut kept) => {
                *kept = cold;
                kept
            }
            None => Box::new(cold),
        }
    }

    /// How many are kept.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.boxes.len()
    }
}

/// The promise the box rests on: once a connection is in its steady state, request after
/// request echoed (timestamps on, as Linux peers send them) writes nothing in its cold
/// parts. A write there would be a line outside the slot on every segment, which the
/// layout test cannot see (it counts the connection's own lines). Reads are not seen here:
/// `bench/examples/server_count.rs` under callgrind's cache simulation shows those.
#[cfg(test)]
mod steady {
    use super::super::endpoint::Endpoint;
    use super::super::segment::{Flags, Segment, SegmentOptions};
    use super::super::{SeqNumber, TcpConfig};
    use crate::time::{Duration, Instant};
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn seg(
        seq: SeqNumber,
        ack: SeqNumber,
        flags: Flags,
        ts: (u32, u32),
        payload: &[u8],
    ) -> Segment<'_> {
        Segment {
            seq,
            ack: Some(ack),
            flags: flags | Flags::ACK,
            window: 60000,
            options: SegmentOptions {
                mss: flags.contains(Flags::SYN).then_some(1448),
                sack_permitted: flags.contains(Flags::SYN),
                timestamps: Some(ts),
                ..SegmentOptions::default()
            },
            payload,
        }
    }

    #[test]
    fn an_echoed_request_writes_no_cold_part() {
        let mut t = Instant::from_millis(1);
        let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let mut c = Endpoint::connect(t, TcpConfig::default(), local, remote, SeqNumber(7));
        let syn = c.poll_transmit(t).expect("SYN").header;
        let our_ts = |h: &super::super::SegmentHeader| h.options.timestamps.expect("TSval").0;
        let mut echo = our_ts(&syn);
        let (mut nxt, mut peer_ts) = (SeqNumber(5000), 100u32);
        c.on_segment(t, &seg(nxt, SeqNumber(8), Flags::SYN, (peer_ts, echo), &[]));
        nxt += 1u32;
        while let Some(tx) = c.poll_transmit(t) {
            echo = our_ts(&tx.header);
        }
        let mut cold = String::new();
        for k in 0..64 {
            t += Duration::from_micros(50);
            peer_ts += 1;
            let una = c.snd.nxt;
            let v = c.on_segment(t, &seg(nxt, una, Flags::PSH, (peer_ts, echo), &[k as u8; 64]));
            assert_eq!(v, super::super::SegmentVerdict::Accepted);
            nxt += 64u32;
            let mut request = [0; 64];
            assert_eq!(c.recv(&mut request), 64);
            assert_eq!(c.send(&request), 64);
            let mut sent = 0;
            while let Some(tx) = c.poll_transmit(t) {
                echo = our_ts(&tx.header);
                sent += tx.payload_len();
            }
            assert_eq!(sent, 64, "the echo, with the request's ACK");
            // A few round trips to settle the RTT estimate, then nothing may change.
            if k == 8 {
                cold = format!("{:?}", c.cold);
            } else if k > 8 {
                assert_eq!(format!("{:?}", c.cold), cold, "exchange {k} wrote a cold part");
            }
        }
        assert_eq!(c.info().bytes_received, 64 * 64);
    }
}

/// A kept box is taken by the next connection and holds exactly what a new one would.
#[cfg(test)]
mod spares {
    use super::super::{Connection, ConnectionParams, Open, SeqNumber, TcpConfig};
    use super::ColdSpares;
    use crate::time::Instant;
    use std::net::{Ipv4Addr, SocketAddrV4};

    fn params(port: u16) -> ConnectionParams<'static, 'static> {
        ConnectionParams {
            now: Instant::from_millis(5),
            config: TcpConfig::default().into(),
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), port),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            iss: SeqNumber(1234),
            open: Open::Active,
        }
    }

    #[test]
    fn a_kept_box_is_reused_and_made_new() {
        let mut spares = ColdSpares::default();
        let mut used = Connection::new(params(1000));
        used.cold.counters.in_segs = 99;
        used.cold.rare.irs = SeqNumber(77);
        used.cold.reassembly.insert(SeqNumber(10), SeqNumber(20)).expect("room");
        let at: *const super::Cold = &*used.cold;
        spares.keep(used);
        assert_eq!(spares.len(), 1);
        let reused = Connection::new_reusing(params(1001), &mut spares);
        assert_eq!(spares.len(), 0);
        assert!(core::ptr::eq(at, &*reused.cold), "the kept box, not a new one");
        let fresh = Connection::new(params(1001));
        assert_eq!(format!("{:?}", reused.cold), format!("{:?}", fresh.cold));
        // None kept: a new box.
        let other = Connection::new_reusing(params(1002), &mut spares);
        assert!(!core::ptr::eq(at, &*other.cold));
        // At most `MAX` are kept.
        for k in 0..ColdSpares::MAX + 3 {
            spares.keep(Connection::new(params(2000 + k as u16)));
        }
        assert_eq!(spares.len(), ColdSpares::MAX);
    }
}
