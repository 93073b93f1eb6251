//! Buffer auto-tuning, as Linux does it: the receive buffer (hence the window offered) grows
//! with what the application reads per round trip (dynamic right-sizing,
//! `tcp_rcv_space_adjust` and `tcp_rcv_rtt_measure` in `net/ipv4/tcp_input.c`), and the send
//! buffer with the congestion window (`tcp_sndbuf_expand`), each up to its `max` in
//! [`TcpConfig`](super::TcpConfig). Under memory pressure neither grows, and the window offered
//! is clamped (`tcp_adjust_rcv_ssthresh`: four segments).
//!
//! Sizes here count payload bytes, which is what chunks hold; Linux counts `skb->truesize`
//! and so converts with `tcp_win_from_space`, which has no counterpart here.

use super::chunk::{ChunkPool, MemoryLevel};
use super::connection::Connection;
use super::narrow;
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// The per-round-trip measurement of what the application read (Linux `rcvq_space`): a
/// common segment leaves it alone (it is read once per receiver round trip, in
/// `rcv_space_adjust`), so it is a part of its own, apart from [`Autotune`]'s 40 bytes that
/// a segment reads.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct ReadSpace {
    /// Bytes read in the last measured round trip (`rcvq_space.space`).
    space: usize,
    /// Bytes read (in total) when the current round trip began, and when it began.
    space_mark: u64,
    space_time: Instant,
}

impl ReadSpace {
    pub(super) fn new(now: Instant) -> Self {
        ReadSpace { space: 0, space_mark: 0, space_time: now }
    }
}

/// Buffer sizes in force and the receiver's RTT measurement that moves the receive buffer:
/// what a common segment reads (the RTT estimate, both sizes, the current measurement), 24
/// bytes with no padding, which `Connection` keeps among the parts of its hot run
/// (`connection::layout`). The measurement of what was read is [`ReadSpace`].
///
/// The sizes and the estimate are 32-bit, as Linux keeps them (`sk_rcvbuf` and `sk_sndbuf`
/// are `int`s, `rcv_rtt_est.rtt_us` microseconds): 40 bytes while they were a `usize` each
/// and a `Duration`, 16 more of a connection's hot bytes (docs/benchmarks.md, "Eight lines
/// to seven"). A size past `u32::MAX` is held at it.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Autotune {
    rtt_time: Option<Instant>,
    /// Receiver's RTT estimate (Linux `rcv_rtt_est`) in microseconds: the least time a
    /// window took to arrive, zero before the first sample. Samples are at least 1 µs
    /// (`rcv_rtt_measure`), so zero is free to mean none. (The slab's occupancy, once this
    /// estimate's `Option` tag, is one of loss recovery's, on a hot line too:
    /// `connection::layout::niche_candidates`.)
    rtt_us: u32,
    /// Receive buffer: the most in-order bytes held unread, which bounds the window.
    pub(super) rcvbuf: u32,
    /// Send buffer: the most bytes queued and unacknowledged.
    sndbuf: u32,
    /// The current measurement ends once `RCV.NXT` passes this.
    rtt_seq: SeqNumber,
}

impl Autotune {
    pub(super) fn new(rcvbuf: usize, sndbuf: usize) -> Self {
        Autotune {
            rtt_time: None,
            rtt_us: 0,
            rcvbuf: narrow(rcvbuf),
            sndbuf: narrow(sndbuf),
            rtt_seq: SeqNumber(0),
        }
    }

    /// The receive buffer in force (bytes).
    #[inline(always)]
    pub(super) fn rcvbuf(&self) -> usize {
        self.rcvbuf as usize
    }

    /// The send buffer in force (bytes).
    #[inline(always)]
    pub(super) fn sndbuf(&self) -> usize {
        self.sndbuf as usize
    }

    /// The receiver's RTT estimate, zero before the first sample.
    #[inline(always)]
    fn rtt(&self) -> Duration {
        Duration::from_micros(u64::from(self.rtt_us))
    }
}

impl Connection {
    /// Bytes the application has read (consumed) so far.
    fn bytes_read(&self) -> u64 {
        self.bytes_received() - self.recv_buf.len() as u64
    }

    /// Starts the tuning once the MSS is known (Linux `tcp_init_buffer_space`): the first
    /// round trip's reference is ten segments' worth, and the send buffer covers two initial
    /// congestion windows.
    pub(super) fn autotune_init(&mut self, now: Instant) {
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.opts.mss();
        self.cold.read_space.space = self.tune.rcvbuf().min(iw);
        self.cold.read_space.space_mark = self.bytes_read();
        self.cold.read_space.space_time = now;
        self.snd_buf_expand(MemoryLevel::Normal);
    }

    /// The free receive space to offer: what the buffer leaves, clamped to four segments
    /// under memory pressure and to nothing at the hard limit, where no chunk is to be had
    /// (Linux `tcp_adjust_rcv_ssthresh` and `__tcp_select_window`). The advertised edge never
    /// moves left: this only holds it back from growing.
    #[inline]
    pub(super) fn recv_space(&self) -> usize {
        let free = self.tune.rcvbuf().saturating_sub(self.recv_buf.len());
        match self.mem_level {
            MemoryLevel::Normal => free,
            MemoryLevel::Pressure => free.min(4 * self.opts.mss()),
            MemoryLevel::Exhausted => 0,
        }
    }

    /// On in-order data: one receiver RTT sample per window (Linux `tcp_rcv_rtt_measure`,
    /// the method that needs no timestamps): the time `RCV.NXT` took to pass the right edge
    /// offered when the measurement began. Only the least sample counts, since a window can
    /// take longer than a round trip to arrive but never less.
    pub(super) fn rcv_rtt_measure(&mut self, now: Instant) {
        if let Some(start) = self.tune.rtt_time {
            if self.rcv.nxt < self.tune.rtt_seq {
                return;
            }
            // Whole microseconds, at least one (Linux's `rcv_rtt_est.rtt_us`).
            let sample = now.saturating_duration_since(start).micros_u32().max(1);
            // Zero: no estimate yet.
            if self.tune.rtt_us == 0 || sample < self.tune.rtt_us {
                self.tune.rtt_us = sample;
            }
        }
        let wnd = (self.rcv.adv - self.rcv.nxt).max(self.opts.mss() as i32) as usize;
        self.tune.rtt_seq = self.rcv.nxt + wnd;
        self.tune.rtt_time = Some(now);
    }

    /// Once per receiver round trip: if the application read more than in the last one, grow
    /// the receive buffer to twice that plus sixteen segments, plus twice the growth again in
    /// proportion (Linux 6.x `tcp_rcv_space_adjust`, which allows for a sender in slow
    /// start), up to `rmem.max`. Nothing grows under memory pressure or with fixed sizes.
    ///
    /// The test for a round trip's end is inlined into the segment path (it runs for every
    /// in-order segment, and is all most of them do here), the adjustment itself is not.
    #[inline(always)]
    pub(super) fn rcv_space_adjust(&mut self, now: Instant) {
        let rtt = self.tune.rtt();
        // Zero: no estimate yet.
        if rtt != Duration::ZERO
            && now.saturating_duration_since(self.cold.read_space.space_time) >= rtt
        {
            self.rcv_space_adjust_round(now);
        }
    }

    /// `rcv_space_adjust` once a receiver round trip has passed.
    #[inline(never)]
    fn rcv_space_adjust_round(&mut self, now: Instant) {
        let read = self.bytes_read();
        let copied = (read - self.cold.read_space.space_mark) as usize;
        if copied > self.cold.read_space.space {
            if self.config.rmem.tunable() && self.mem_level == MemoryLevel::Normal {
                let space = self.cold.read_space.space.max(1) as u128;
                let mut win = 2 * copied as u128 + 16 * self.opts.mss() as u128;
                let grow = win * (copied as u128 - space) / space;
                win += 2 * grow;
                let target = win.min(self.config.rmem.max as u128) as usize;
                if target > self.tune.rcvbuf() {
                    self.tune.rcvbuf = narrow(target);
                    self.window_grew();
                }
            }
            self.cold.read_space.space = copied;
        }
        self.cold.read_space.space_mark = read;
        self.cold.read_space.space_time = now;
    }

    /// A window update is due if growing the buffer opened the window by enough.
    fn window_grew(&mut self) {
        let open_edge = self.rcv.nxt + self.recv_space();
        if (open_edge - self.rcv.adv) >= self.rcv_sws_threshold() as i32 {
            self.ack.now = true;
        }
    }

    /// After an ACK, or once the handshake sets the MSS: the send buffer covers twice the
    /// congestion window (at least ten segments' worth), up to `wmem.max` (Linux
    /// `tcp_sndbuf_expand`). It never shrinks; it does not grow under memory pressure.
    pub(super) fn snd_buf_expand(&mut self, level: MemoryLevel) {
        if !self.config.wmem.tunable() || level != MemoryLevel::Normal {
            return;
        }
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.opts.mss();
        let want =
            self.cwnd.window(&self.cold.cc).max(iw).saturating_mul(2).min(self.config.wmem.max);
        if want > self.tune.sndbuf() {
            self.tune.sndbuf = narrow(want);
        }
    }

    /// Records the pool's level for the window and growth decisions of this call.
    #[inline]
    pub(super) fn note_level(&mut self, pool: &ChunkPool) {
        self.mem_level = pool.level();
    }

    /// The receive buffer in force (bytes): what `SO_RCVBUF` would read.
    pub fn recv_buffer(&self) -> usize {
        self.tune.rcvbuf()
    }

    /// The send buffer in force (bytes): what `SO_SNDBUF` would read.
    pub fn send_buffer(&self) -> usize {
        self.tune.sndbuf()
    }
}

#[cfg(test)]
mod tests {
    use super::super::config::{BufferSizes, TcpConfig};
    use super::super::endpoint::Endpoint;
    use super::super::segment::{Flags, Segment, SegmentOptions};
    use super::super::SeqNumber;
    use crate::time::{Duration, Instant};
    use std::net::{Ipv4Addr, SocketAddrV4};

    const IRS: u32 = 5000;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// An established client, its receive buffer tunable from 4 KiB, MSS 100.
    fn client() -> Endpoint {
        let mut config = TcpConfig::default().with_delayed_ack(false);
        config.rmem = BufferSizes { min: 4096, default: 4096, max: 1 << 20 };
        let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000);
        let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
        let mut c = Endpoint::connect(ms(0), config, local, remote, SeqNumber(1000));
        assert!(c.poll_transmit(ms(0)).is_some(), "SYN");
        let options = SegmentOptions { mss: Some(100), ..SegmentOptions::default() };
        let synack = Segment {
            seq: SeqNumber(IRS),
            ack: Some(SeqNumber(1001)),
            flags: Flags::SYN | Flags::ACK,
            window: 8000,
            options,
            payload: &[],
        };
        c.on_segment(ms(10), &synack);
        while c.poll_transmit(ms(10)).is_some() {}
        c
    }

    /// Delivers 100 bytes in order at `now`, reads them and sends what is due (the ACK that
    /// moves the advertised edge).
    fn data(c: &mut Endpoint, now: Instant) {
        let seq = c.rcv.nxt;
        let seg = Segment {
            seq,
            ack: Some(SeqNumber(1001)),
            flags: Flags::ACK,
            window: 8000,
            options: SegmentOptions::default(),
            payload: &[7; 100],
        };
        c.on_segment(now, &seg);
        assert_eq!(c.rcv.nxt, seq + 100u32, "in order");
        let mut out = [0; 100];
        assert_eq!(c.recv(&mut out), 100);
        while c.poll_transmit(now).is_some() {}
    }

    /// Delivers data at `now` until a window's measurement ends; returns the estimate.
    fn until_sample(c: &mut Endpoint, now: Instant) -> Duration {
        let ends = c.tune.rtt_seq;
        for _ in 0..1000 {
            data(c, now);
            // The next measurement's end is set when one ends.
            if c.tune.rtt_seq != ends {
                assert_eq!(c.tune.rtt_time, Some(now));
                return c.tune.rtt();
            }
        }
        panic!("no measurement ended");
    }

    /// The receiver's RTT estimate (zero for none since branch tot) takes the first sample,
    /// then only smaller ones (a `None` taken for a sample, or the larger sample kept,
    /// fails here).
    /// Sizes are 32-bit, as Linux's `int`s: one past `u32::MAX` is held at it, not wrapped.
    #[test]
    fn sizes_past_u32_are_held_at_its_maximum() {
        let t = super::Autotune::new(usize::MAX, 1 << 20);
        assert_eq!((t.rcvbuf(), t.sndbuf()), (u32::MAX as usize, 1 << 20));
        assert_eq!(core::mem::size_of::<super::Autotune>(), 24);
    }

    #[test]
    fn the_receiver_keeps_its_least_rtt_sample() {
        let mut c = client();
        assert_eq!(c.tune.rtt(), Duration::ZERO, "no estimate before data");
        data(&mut c, ms(20));
        assert_eq!((c.tune.rtt(), c.tune.rtt_time), (Duration::ZERO, Some(ms(20))));
        assert_eq!(until_sample(&mut c, ms(50)), Duration::from_millis(30), "the first sample");
        assert_eq!(until_sample(&mut c, ms(60)), Duration::from_millis(10), "a smaller one");
        assert_eq!(until_sample(&mut c, ms(100)), Duration::from_millis(10), "not a larger one");
        // A window that arrives at once: the sample is 1 µs, never zero (none).
        assert_eq!(until_sample(&mut c, ms(100)), Duration::from_micros(1));
    }
}
