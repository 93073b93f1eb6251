//! Where a sender's time goes, as Linux's `TCP_INFO` reports it: `tcpi_busy_time` (data
//! queued or in flight) and, within it, `tcpi_rwnd_limited` (data waiting because the
//! peer's receive window has no room for the next segment). Linux keeps these with its
//! "chronographs" (`tcp_chrono_start`/`tcp_chrono_stop`, net/ipv4/tcp_output.c, introduced
//! with RFC 7661's notion of application- and window-limited periods in mind): one condition
//! runs at a time, the more specific one (window-limited) taking precedence over plain busy.
//! The send path reports after each attempt to send new data ([`SendChrono::on_send_attempt`]);
//! the totals are read with the current time, so the running span counts too.

use crate::time::{Duration, Instant};

/// Which condition is being timed; the order is Linux's precedence.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// Nothing queued or in flight.
    #[default]
    Idle,
    /// Data queued or in flight.
    Busy,
    /// Data waiting behind the peer's receive window.
    RwndLimited,
}

/// The send-side chronographs of one connection, in milliseconds on a wrapping 32-bit clock
/// as Linux keeps them in jiffies (16 bytes: a connection has no room for more).
impl Kind {
    /// The state a send attempt leaves: idle with nothing queued or in flight, else busy,
    /// limited by the peer's window or not.
    #[inline]
    pub(crate) fn of(queued: bool, rwnd_limited: bool) -> Kind {
        match (queued, rwnd_limited) {
            (false, _) => Kind::Idle,
            (true, true) => Kind::RwndLimited,
            (true, false) => Kind::Busy,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendChrono {
    since_ms: u32,
    busy_ms: u32,
    rwnd_limited_ms: u32,
    kind: Kind,
}

/// `now` on the chronographs' wrapping millisecond clock.
fn clock_ms(now: Instant) -> u32 {
    now.total_millis() as u32
}

impl SendChrono {
    /// Closes the running span into its total and starts `kind` at `now`.
    /// What the sender is doing now (the connection keeps a copy on a hot line, so that a
    /// segment that changes nothing reads no line of these totals: `Connection::chrono_set`).
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    pub(crate) fn set(&mut self, now: Instant, kind: Kind) {
        if kind == self.kind {
            return;
        }
        let span = clock_ms(now).wrapping_sub(self.since_ms);
        match self.kind {
            Kind::Idle => {}
            Kind::Busy => self.busy_ms = self.busy_ms.saturating_add(span),
            Kind::RwndLimited => self.rwnd_limited_ms = self.rwnd_limited_ms.saturating_add(span),
        }
        self.kind = kind;
        self.since_ms = clock_ms(now);
    }

    /// After the sender looked at its queue: `queued` when data (or a FIN) is unsent or
    /// unacknowledged, `rwnd_limited` when the next segment did not fit the peer's window
    /// (Linux `tcp_write_xmit`: `!tcp_snd_wnd_test` starts `TCP_CHRONO_RWND_LIMITED`, any
    /// other outcome stops it, and empty queues stop everything).
    #[cfg(test)]
    pub fn on_send_attempt(&mut self, now: Instant, queued: bool, rwnd_limited: bool) {
        self.set(now, Kind::of(queued, rwnd_limited));
    }

    /// The connection stopped sending (closed, or past the states that send data).
    #[cfg(test)]
    pub fn stop(&mut self, now: Instant) {
        self.set(now, Kind::Idle);
    }

    fn running_ms(&self, now: Instant, kind: Kind) -> u64 {
        if self.kind == kind {
            u64::from(clock_ms(now).wrapping_sub(self.since_ms))
        } else {
            0
        }
    }

    /// `tcpi_rwnd_limited`: time spent with data held back by the peer's window.
    pub fn rwnd_limited(&self, now: Instant) -> Duration {
        let ms = u64::from(self.rwnd_limited_ms) + self.running_ms(now, Kind::RwndLimited);
        Duration::from_millis(ms)
    }

    /// `tcpi_busy_time`: time with data queued or in flight, window-limited time included
    /// (Linux adds its three chronographs).
    pub fn busy_time(&self, now: Instant) -> Duration {
        let ms = u64::from(self.busy_ms) + self.running_ms(now, Kind::Busy);
        Duration::from_millis(ms) + self.rwnd_limited(now)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Instant {
        Instant::from_millis(n)
    }

    /// google's `tcp_info/tcp-info-rwnd-limited.pkt`, step by step.
    #[test]
    fn window_limited_time_is_part_of_busy_time() {
        let mut c = SendChrono::default();
        c.on_send_attempt(ms(10), true, true); // a write into a zero window
        assert_eq!(c.rwnd_limited(ms(110)), Duration::from_millis(100));
        c.on_send_attempt(ms(210), true, false); // the window opens, the data leaves
        assert_eq!(c.rwnd_limited(ms(210)), Duration::from_millis(200));
        c.on_send_attempt(ms(240), false, false); // all acknowledged: idle
        c.on_send_attempt(ms(240), true, true); // the next write meets a 10-byte window
        c.on_send_attempt(ms(340), true, false);
        assert_eq!(c.rwnd_limited(ms(340)), Duration::from_millis(300));
        assert_eq!(c.busy_time(ms(340)), Duration::from_millis(330));
        c.on_send_attempt(ms(360), false, false);
        assert_eq!(c.busy_time(ms(400)), Duration::from_millis(350), "idle time not counted");
        c.stop(ms(500));
        assert_eq!(c.busy_time(ms(500)), Duration::from_millis(350));
    }
}
