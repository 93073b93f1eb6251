//! Buffer auto-tuning, as Linux does it: the receive buffer (hence the window offered) grows
//! with what the application reads per round trip (dynamic right-sizing,
//! `tcp_rcv_space_adjust` and `tcp_rcv_rtt_measure` in `net/ipv4/tcp_input.c`), and the send
//! buffer with the congestion window (`tcp_sndbuf_expand`), each up to its `max` in
//! [`TcpConfig`](super::TcpConfig). Under memory pressure neither grows, and the window offered
//! is clamped (`tcp_adjust_rcv_ssthresh`: four segments).
//!
//! Sizes here count payload bytes, which is what chunks hold; Linux counts `skb->truesize`
//! and so converts with `tcp_win_from_space`, which has no counterpart here.

use super::cc::CongestionControl as _;
use super::chunk::{ChunkPool, MemoryLevel};
use super::connection::Connection;
use super::SeqNumber;
use crate::time::{Duration, Instant};

/// Buffer sizes in force and the receive-side measurements that move them.
///
/// `repr(C)`, what a common segment leaves alone first (the per-round-trip measurement of
/// what was read, 24 bytes), then what it reads (the RTT estimate's presence, both sizes, the
/// current RTT measurement): the last 48 bytes, which `Connection` puts in one line
/// (`connection::layout`).
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub(super) struct Autotune {
    /// Bytes read in the last measured round trip (`rcvq_space.space`).
    space: usize,
    /// Bytes read (in total) when the current round trip began, and when it began.
    space_mark: u64,
    space_time: Instant,
    /// Receiver's RTT estimate (Linux `rcv_rtt_est`): the least time a window took to arrive.
    rtt: Option<Duration>,
    /// Receive buffer: the most in-order bytes held unread, which bounds the window.
    pub(super) rcvbuf: usize,
    /// Send buffer: the most bytes queued and unacknowledged.
    pub(super) sndbuf: usize,
    rtt_time: Option<Instant>,
    /// The current measurement ends once `RCV.NXT` passes this.
    rtt_seq: SeqNumber,
}

impl Autotune {
    pub(super) fn new(now: Instant, rcvbuf: usize, sndbuf: usize) -> Self {
        Autotune {
            rcvbuf,
            sndbuf,
            rtt: None,
            rtt_seq: SeqNumber(0),
            rtt_time: None,
            space: 0,
            space_mark: 0,
            space_time: now,
        }
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
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.opts.mss;
        self.tune.space = self.tune.rcvbuf.min(iw);
        self.tune.space_mark = self.bytes_read();
        self.tune.space_time = now;
        self.snd_buf_expand(MemoryLevel::Normal);
    }

    /// The free receive space to offer: what the buffer leaves, clamped to four segments
    /// under memory pressure and to nothing at the hard limit, where no chunk is to be had
    /// (Linux `tcp_adjust_rcv_ssthresh` and `__tcp_select_window`). The advertised edge never
    /// moves left: this only holds it back from growing.
    #[inline]
    pub(super) fn recv_space(&self) -> usize {
        let free = self.tune.rcvbuf.saturating_sub(self.recv_buf.len());
        match self.mem_level {
            MemoryLevel::Normal => free,
            MemoryLevel::Pressure => free.min(4 * self.opts.mss),
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
            let sample = now.saturating_duration_since(start).max(Duration::from_micros(1));
            if self.tune.rtt.is_none_or(|r| sample < r) {
                self.tune.rtt = Some(sample);
            }
        }
        let wnd = (self.rcv.adv - self.rcv.nxt).max(self.opts.mss as i32) as usize;
        self.tune.rtt_seq = self.rcv.nxt + wnd;
        self.tune.rtt_time = Some(now);
    }

    /// Once per receiver round trip: if the application read more than in the last one, grow
    /// the receive buffer to twice that plus sixteen segments, plus twice the growth again in
    /// proportion (Linux 6.x `tcp_rcv_space_adjust`, which allows for a sender in slow
    /// start), up to `rmem.max`. Nothing grows under memory pressure or with fixed sizes.
    pub(super) fn rcv_space_adjust(&mut self, now: Instant) {
        let Some(rtt) = self.tune.rtt else { return };
        if now.saturating_duration_since(self.tune.space_time) < rtt {
            return;
        }
        let read = self.bytes_read();
        let copied = (read - self.tune.space_mark) as usize;
        if copied > self.tune.space {
            if self.config.rmem.tunable() && self.mem_level == MemoryLevel::Normal {
                let space = self.tune.space.max(1) as u128;
                let mut win = 2 * copied as u128 + 16 * self.opts.mss as u128;
                let grow = win * (copied as u128 - space) / space;
                win += 2 * grow;
                let target = win.min(self.config.rmem.max as u128) as usize;
                if target > self.tune.rcvbuf {
                    self.tune.rcvbuf = target;
                    self.window_grew();
                }
            }
            self.tune.space = copied;
        }
        self.tune.space_mark = read;
        self.tune.space_time = now;
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
        let iw = self.config.initial_cwnd_segments.max(1) as usize * self.opts.mss;
        let want = self.cc.window().max(iw).saturating_mul(2).min(self.config.wmem.max);
        if want > self.tune.sndbuf {
            self.tune.sndbuf = want;
        }
    }

    /// Records the pool's level for the window and growth decisions of this call.
    #[inline]
    pub(super) fn note_level(&mut self, pool: &ChunkPool) {
        self.mem_level = pool.level();
    }

    /// The receive buffer in force (bytes): what `SO_RCVBUF` would read.
    pub fn recv_buffer(&self) -> usize {
        self.tune.rcvbuf
    }

    /// The send buffer in force (bytes): what `SO_SNDBUF` would read.
    pub fn send_buffer(&self) -> usize {
        self.tune.sndbuf
    }
}
