//! `TCP_NOTSENT_LOWAT`: a limit on the bytes that wait in the send queue without having been
//! sent, so that an application writing ahead of the network keeps its latest data in its
//! own hands instead of behind megabytes of queue (Linux `tcp_stream_memory_free`).
//!
//! Linux checks the limit only when `tcp_sendmsg` starts a new socket buffer; a buffer once
//! started is filled to the size goal (half the peer's largest window, at most 64 KiB, in
//! whole segments), and each full one is pushed, so what the windows let go at once leaves
//! before the next check. A write therefore takes what can be sent now plus up to about one
//! size goal beyond the limit. [`lowat_room`] replays that sequence on byte counts (the
//! engine has no socket buffers; the last one is taken as the remainder of the queued bytes
//! modulo the size goal). `poll` reports a socket writable only while the unsent bytes are
//! under half the limit (`tcp_poll`'s `wake` shift), [`Connection::writable`].

use super::connection::Connection;

/// Linux's TSO size cap (`sk_gso_max_size`, 64 KiB), which bounds the size goal.
const GSO_MAX_SIZE: usize = 65_536;

/// Linux `tcp_xmit_size_goal`: half the largest window the peer offered (`tcp_bound_to_half_wnd`),
/// at most 64 KiB, in whole segments of `mss`, at least one.
pub fn size_goal(max_peer_window: usize, mss: usize) -> usize {
    let mss = mss.max(1);
    let half = if max_peer_window > 536 { max_peer_window / 2 } else { max_peer_window };
    let goal = half.min(GSO_MAX_SIZE);
    (goal / mss * mss).max(mss)
}

/// How many bytes a write may queue under the low-water mark `lowat`, with `unsent` bytes
/// queued and not sent, `sendable` bytes that the congestion and peer windows would let go
/// at once, and Linux's size goal `goal`; never more than `cap` (the send buffer's room).
pub fn lowat_room(lowat: usize, unsent: usize, sendable: usize, goal: usize, cap: usize) -> usize {
    let goal = goal.max(1);
    // What is queued leaves first.
    let sent = unsent.min(sendable);
    let (mut unsent, mut room) = (unsent - sent, sendable - sent);
    let mut accepted = 0usize;
    // The last buffer's fill: a remainder after a split, topped up without a check.
    let mut tail = unsent % goal;
    while accepted < cap {
        if tail == 0 {
            if unsent >= lowat {
                break;
            }
            // A new buffer (the check passed), filled to the goal and pushed.
            accepted += goal;
            unsent += goal;
            let go = unsent.min(room);
            unsent -= go;
            room -= go;
            tail = unsent % goal;
        } else {
            accepted += goal - tail;
            unsent += goal - tail;
            tail = 0;
        }
    }
    accepted.min(cap)
}

impl Connection {
    /// Bytes queued and not yet sent (Linux `write_seq - snd_nxt`).
    pub fn notsent_bytes(&self) -> usize {
        (self.data_end() - self.snd.nxt).max(0) as usize
    }

    /// `TCP_NOTSENT_LOWAT` for this connection (`u32::MAX`: none).
    pub fn set_notsent_lowat(&mut self, lowat: u32) {
        self.change_config(|c| c.notsent_lowat = lowat);
    }

    /// The send room the low-water mark leaves, at most `cap` ([`lowat_room`]).
    pub(super) fn lowat_limit(&self, cap: usize) -> usize {
        if self.config.notsent_lowat == u32::MAX {
            return cap;
        }
        let pipe = self.pipe();
        let cwnd_room = self.send_window().saturating_sub(pipe);
        let peer_room = ((self.snd.una + self.snd.wnd) - self.snd.nxt).max(0) as usize;
        let goal = size_goal(self.snd.max_wnd as usize, self.opts.mss());
        let lowat = self.config.notsent_lowat as usize;
        lowat_room(lowat, self.notsent_bytes(), cwnd_room.min(peer_room), goal, cap)
    }

    /// Whether freed room is enough to wake a refused writer (Linux `sk_stream_write_space`:
    /// `sk_stream_wspace >= sk_stream_min_wspace`, free space at least half of what is
    /// queued, so a third of the buffer), and the write side is still open. The low-water
    /// mark is not tested here: the ACK is handled before the data it lets go is sent, and a
    /// writer it refuses is refused again and waits for the next ACK.
    pub(super) fn write_space_reopened(&self) -> bool {
        let queued = self.send_buf.len();
        self.can_queue_data() && self.tune.sndbuf().saturating_sub(queued) >= queued / 2
    }

    /// Whether `poll` reports the connection writable: send room, and with a low-water mark
    /// the unsent bytes under half of it (Linux `tcp_poll`, `__sk_stream_memory_free` with
    /// `wake`).
    pub fn writable(&self, pool: &super::chunk::ChunkPool) -> bool {
        if self.send_space(pool) == 0 {
            return false;
        }
        let lowat = self.config.notsent_lowat;
        lowat == u32::MAX || (self.notsent_bytes() as u64) * 2 < u64::from(lowat)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_goal_is_half_the_peer_window_in_segments() {
        assert_eq!(size_goal(32_896, 1000), 16_000);
        assert_eq!(size_goal(1 << 20, 1448), 65_160);
        assert_eq!(size_goal(400, 1000), 1000);
    }

    /// google's `notsent-lowat-setsockopt`: limit 4000, ten segments may go, goal 16,000: the
    /// first buffer's 10,000 leave, its 6,000 remainder is topped up to 16,000, and the next
    /// buffer would start over the limit: 26,000.
    #[test]
    fn a_write_takes_what_can_go_plus_one_size_goal() {
        assert_eq!(lowat_room(4000, 0, 10_000, 16_000, 1 << 20), 26_000);
        // Nothing may go: one buffer.
        assert_eq!(lowat_room(4000, 0, 0, 16_000, 1 << 20), 16_000);
        // Over the limit already: nothing.
        assert_eq!(lowat_room(4000, 16_000, 0, 16_000, 1 << 20), 0);
        // Under it, with a partly filled last buffer: topped up, then over.
        assert_eq!(lowat_room(4000, 2000, 0, 16_000, 1 << 20), 14_000);
        // The send buffer still bounds it.
        assert_eq!(lowat_room(4000, 0, 10_000, 16_000, 5000), 5000);
        // A large limit: buffers until it is reached.
        assert_eq!(lowat_room(40_000, 0, 0, 16_000, 1 << 20), 48_000);
    }
}
