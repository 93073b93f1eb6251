//! Timers: retransmission (RFC 6298), delayed ACK (RFC 1122 §4.2.3.2), persist (RFC 9293
//! §3.8.6.1), keepalive (RFC 1122 §4.2.3.6) and TIME-WAIT (RFC 9293 §3.10.7.4, 2·MSL).
//!
//! The owner keeps one deadline per connection (from [`Connection::poll_timeout`]) in its
//! timing wheel and calls [`Connection::on_timeout`] once it has passed. Calling it early or
//! late is harmless: each timer checks its own deadline.

use super::connection::{Connection, Event, State};
use super::segment::{Flags, SegmentHeader, SegmentOptions};
use super::tcb::rto_limits;
use super::tcb::ColdDeadline;
use crate::time::{Duration, Instant};

impl Connection {
    /// Deadline `d` of those kept cold (persist, close, pacing: [`ColdDeadline`]), read from
    /// `TimersCold` only when `TimerFlags` says it is set.
    #[inline]
    pub(super) fn cold_at(&self, d: ColdDeadline) -> Option<Instant> {
        self.timer_flags.cold(&self.cold.timers_cold, d)
    }

    /// Sets or clears deadline `d`; clearing one not set writes one hot byte at most.
    #[inline]
    pub(super) fn set_cold_at(&mut self, d: ColdDeadline, at: Option<Instant>) {
        self.timer_flags.set_cold(&mut self.cold.timers_cold, d, at);
    }

    /// Within how long of now the connection expects its next segment, for its wheel
    /// entry ([`TimerWheel::retarget_within`](crate::wheel::TimerWheel::retarget_within)):
    /// one and a half smoothed round trips, since the peer answers what was just sent about
    /// a round trip later (zero before the first sample: no expectation).
    #[inline]
    pub fn next_change_within(&self) -> Duration {
        let srtt = self.rtx.rto.srtt_or_zero().total_nanos();
        Duration::from_nanos(srtt + srtt / 2)
    }

    /// The earliest instant at which [`on_timeout`](Self::on_timeout) has work to do.
    /// Inline: settling asks for it after every segment, and the IPv6 input's settle called
    /// it out of line (about 50 instructions a segment, `path_count rpc6`).
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        // Folded pairwise: it runs after every touch of the connection, and collecting the
        // eight into an array to iterate cost a 128-byte copy each time.
        let earliest = Instant::earliest;
        let a = earliest(self.timers.retransmit_at, self.timers.delack_at);
        // The persist, close and pacing deadlines: a common segment reads only whether any
        // is set (`Timers::any_cold`), not the cold line that holds them.
        let b = if self.timer_flags.any_cold() { self.cold_timeout() } else { None };
        let due = earliest(earliest(a, b), earliest(self.loss.tlp_at, self.keepalive_at()));
        // The RACK timer's deadline is cold, folded in only when it is armed (every ACK that
        // leaves nothing in flight disarms it).
        if self.loss.rack_armed() {
            earliest(due, self.loss.rack_at(&self.cold.loss_cold))
        } else {
            due
        }
    }

    /// The earliest of the persist and close deadlines and, while it holds data back, of
    /// pacing's (`poll_timeout`'s part that `TimersCold` holds).
    #[cold]
    fn cold_timeout(&self) -> Option<Instant> {
        let pacing =
            if self.timer_flags.pacing_held { self.cold_at(ColdDeadline::Pacing) } else { None };
        Instant::earliest(
            Instant::earliest(
                self.cold_at(ColdDeadline::Persist),
                self.cold_at(ColdDeadline::Close),
            ),
            pacing,
        )
    }

    /// When the next keepalive probe (or the give-up decision) is due, if keepalive applies:
    /// an open connection with nothing in flight.
    fn keepalive_at(&self) -> Option<Instant> {
        if !self.opts.flags.keepalive()
            || !matches!(self.state, State::Established | State::CloseWait | State::FinWait2)
            || self.snd.max != self.snd.una
        {
            return None;
        }
        Some(if self.probes.keepalive_sent == 0 {
            self.rcv.last_recv + self.config.keepalive_idle
        } else {
            self.cold.seldom.keepalive_sent_at.max(self.rcv.last_recv)
                + self.config.keepalive_interval
        })
    }

    /// Runs every timer whose deadline is at or before `now`.
    pub fn on_timeout(&mut self, now: Instant) {
        if self.cold_at(ColdDeadline::Close).is_some_and(|t| t <= now) {
            // Set only in TIME-WAIT and FIN-WAIT-2 (`ColdDeadline::Close`).
            debug_assert!(matches!(self.state, State::TimeWait | State::FinWait2));
            self.set_cold_at(ColdDeadline::Close, None);
            if self.state == State::TimeWait {
                self.enter_closed(Event::Closed);
            } else {
                // Linux `tcp_keepalive_timer` on an orphan whose `tcp_fin_timeout` ran out
                // (it is not longer than TIME-WAIT, so no TIME-WAIT follows): reset and free
                // it.
                self.cold.counters.fin_wait2_timeouts += 1;
                self.abort();
            }
            return;
        }
        // The probe first: it restarts the retransmission timer (RFC 8985 §7.3).
        if self.loss.tlp_at.is_some_and(|t| t <= now) {
            let limits = rto_limits(&self.config);
            self.recovery().on_tlp_timeout(now, limits);
        }
        if self.timers.retransmit_at.is_some_and(|t| t <= now) {
            self.on_retransmit_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.loss.rack_at(&self.cold.loss_cold).is_some_and(|t| t <= now) {
            self.recovery().on_rack_timeout(now);
        }
        if self.timer_flags.pacing_held
            && self.cold_at(ColdDeadline::Pacing).is_some_and(|t| t <= now)
        {
            self.timer_flags.pacing_held = false;
        }
        if self.timers.delack_at.is_some_and(|t| t <= now) {
            self.timers.delack_at = None;
            self.ack.now = true;
            self.quickack.on_delayed_ack_timeout();
            self.cold.counters.delayed_acks += 1;
        }
        if self.cold_at(ColdDeadline::Persist).is_some_and(|t| t <= now) {
            self.on_persist_timeout(now);
            if self.state == State::Closed {
                return;
            }
        }
        if self.keepalive_at().is_some_and(|t| t <= now) {
            self.on_keepalive_timeout(now);
        }
    }

    /// RFC 6298 §5.4–5.6: retransmit from `SND.UNA`, back off, and give up after the limit.
    fn on_retransmit_timeout(&mut self, now: Instant) {
        let limit = match self.state {
            State::SynSent => self.config.syn_retries,
            State::SynReceived => self.config.synack_retries,
            _ => self.config.retries2,
        };
        // The peer shrank its window to zero under data in flight: the retransmissions are
        // window probes now, and an answering peer must not be timed out (RFC 1122
        // §4.2.2.17). Give up only when it has been silent longer than the maximum RTO, as
        // Linux does in `tcp_retransmit_timer`.
        let zero_window = self.state.is_synchronized() && self.snd.wnd == 0;
        let silent_too_long =
            now.saturating_duration_since(self.rcv.last_recv) > self.config.max_rto;
        // TCP_USER_TIMEOUT (RFC 5482) replaces the retry count once data is in flight: the
        // time since the oldest unacknowledged byte was first sent decides (Linux
        // `tcp_write_timeout`).
        let user_deadline = match self.config.user_timeout {
            Some(ut) if self.state.is_synchronized() => {
                let first = self.loss.board.get(0).map_or(now, |r| r.sent_at);
                Some(self.loss.retrans_stamp_or(&mut self.cold.loss_cold, first) + ut)
            }
            _ => None,
        };
        let out_of_retries = match user_deadline {
            Some(deadline) => now >= deadline,
            None => self.rtx.count() >= limit,
        };
        if (!zero_window && out_of_retries) || (zero_window && silent_too_long) {
            self.cold.counters.abort_on_timeout += 1;
            self.enter_closed(Event::TimedOut);
            return;
        }
        if !zero_window {
            self.rtx.set_count(self.rtx.count() + 1);
        }
        self.cold.counters.timeouts += 1;
        self.rtx.rto.back_off();
        if self.state.is_synchronized() {
            // Everything outstanding is lost and goes again from the scoreboard as the
            // one-segment window allows (`tcp::recovery`).
            self.recovery().on_rto_recovery(now);
        } else {
            // The SYN or SYN-ACK goes again.
            self.snd.nxt = self.snd.una;
        }
        self.rtx.stop_timing();
        if self.opts.ts_ok {
            let ts = self.ts_now(now);
            self.rtx.set_ts_floor(&mut self.cold.rtx_cold, ts);
        }
        // The timer fires at the user timeout at the latest (Linux
        // `tcp_clamp_rto_to_user_timeout`).
        let next = now + self.rtx.timeout(&self.config);
        self.timers.retransmit_at = Some(user_deadline.map_or(next, |d| next.min(d.max(now))));
    }

    /// Persist timer: probe the zero window, back off, and give up when probes go unanswered
    /// as many times as `retries2` (Linux `tcp_probe_timer`).
    fn on_persist_timeout(&mut self, now: Instant) {
        self.set_cold_at(ColdDeadline::Persist, None);
        if self.snd.wnd != 0 {
            // Data held by TCP_CORK or MSG_MORE: one segment goes now, with PSH (`push`).
            if self.marks.holds_short() && self.data_end() > self.snd.nxt {
                self.marks.wake();
            }
            // Data behind a window too small for a segment: send what fits.
            if self.window_too_small() {
                self.probes.window_wakeup = true;
            }
            return;
        }
        if self.probes.unanswered >= u16::from(self.config.retries2) {
            self.cold.counters.abort_on_timeout += 1;
            self.enter_closed(Event::TimedOut);
            return;
        }
        self.probes.unanswered += 1;
        self.probes.pending = true;
        self.probes.persist_backoff = self.probes.persist_backoff.saturating_add(1);
        let shift = u32::from(self.probes.persist_backoff.min(20));
        let d = self.rtx.rto.base_rto().saturating_mul(1 << shift).min(self.config.max_rto);
        self.set_cold_at(ColdDeadline::Persist, Some(now + d));
    }

    /// Keepalive: probe after idle time, then every interval; after `count` unanswered probes,
    /// reset the connection (as Linux does).
    fn on_keepalive_timeout(&mut self, now: Instant) {
        if self.probes.keepalive_sent >= self.config.keepalive_count {
            self.cold.counters.abort_on_timeout += 1;
            self.queue_rst(SegmentHeader {
                seq: self.snd.nxt,
                ack: Some(self.rcv.nxt),
                flags: Flags::RST | Flags::ACK,
                window: 0,
                options: SegmentOptions::default(),
            });
            self.enter_closed(Event::TimedOut);
            return;
        }
        self.probes.keepalive_sent += 1;
        self.cold.seldom.keepalive_sent_at = now;
        self.probes.pending = true;
        self.cold.counters.keepalive_probes += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, SocketAddrV4};
    use std::sync::Arc;

    use super::super::config::TcpConfig;
    use super::super::connection::{Connection, ConnectionParams, Open, State};
    use super::super::tcb::ColdDeadline;
    use crate::time::Instant;

    fn connection() -> Connection {
        Connection::new(ConnectionParams {
            now: Instant::ZERO,
            config: Arc::new(TcpConfig::default()),
            local: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 1000),
            remote: SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80),
            iss: crate::wire::SeqNumber(1),
            open: Open::Active,
        })
    }

    /// `poll_timeout` sees each deadline kept cold on its own, the earliest of several, and
    /// pacing's only while it holds data back, as when they were fields beside the others.
    #[test]
    fn poll_timeout_sees_the_cold_deadlines() {
        let ms = Instant::from_millis;
        let mut c = connection();
        assert_eq!(c.poll_timeout(), None);
        c.set_cold_at(ColdDeadline::Persist, Some(ms(30)));
        assert_eq!(c.poll_timeout(), Some(ms(30)));
        c.set_cold_at(ColdDeadline::Close, Some(ms(20)));
        assert_eq!(c.poll_timeout(), Some(ms(20)));
        c.set_cold_at(ColdDeadline::Pacing, Some(ms(10)));
        assert_eq!(c.poll_timeout(), Some(ms(20)), "pacing counts only while it holds");
        c.timer_flags.pacing_held = true;
        assert_eq!(c.poll_timeout(), Some(ms(10)));
        c.timers.delack_at = Some(ms(5));
        assert_eq!(c.poll_timeout(), Some(ms(5)));
        c.timers.delack_at = None;
        c.set_cold_at(ColdDeadline::Pacing, None);
        c.set_cold_at(ColdDeadline::Close, None);
        assert_eq!(c.poll_timeout(), Some(ms(30)));
        c.set_cold_at(ColdDeadline::Persist, None);
        assert_eq!(c.poll_timeout(), None);
        assert_eq!(c.cold_at(ColdDeadline::Close), None);
    }

    /// TIME-WAIT ends at its cold deadline, not before.
    #[test]
    fn time_wait_ends_at_its_deadline() {
        let ms = Instant::from_millis;
        let mut c = connection();
        c.enter_time_wait(ms(1));
        let end = c.cold_at(ColdDeadline::Close).expect("2·MSL armed");
        assert_eq!(end, ms(1) + c.config.msl.saturating_mul(2));
        assert_eq!(c.poll_timeout(), Some(end));
        c.on_timeout(Instant::from_nanos(end.total_nanos() - 1));
        assert_eq!(c.state, State::TimeWait);
        c.on_timeout(end);
        assert_eq!(c.state, State::Closed);
        assert_eq!(c.poll_timeout(), None);
    }
}
