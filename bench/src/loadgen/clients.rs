//! The load generator's per-connection logic, written once for both stacks.
//!
//! [`Clients`] decides what each client connection does: when it connects, which requests it
//! queues (closed loop, open loop on a schedule, one per connection for crr), how answers are
//! matched to the times their requests were sent, what counts as which error, and when a
//! connection is given up and re-opened. It does no I/O and reads no clock: the transport
//! below it ([`Transport`]: kernel sockets in `linux::load`, a worker's stack in `xdp::load`)
//! opens, writes and closes connections for it, feeds it the bytes that arrive, and passes
//! `now` in. So the Linux and the xdptcp runs apply the same rules, and their numbers mean
//! the same thing.

use super::rr::RrClient;
use super::{Stats, Workload};
use std::collections::VecDeque;
use xdptcp_stack::time::{Duration, Instant};

/// What a run asks of every connection (the part of the settings both transports share).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Plan {
    pub workload: Workload,
    /// Request body size for rr and crr.
    pub size: usize,
    /// Total requests per second over all connections (rr open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// A connect or request slower than this counts as a timeout and its connection is
    /// replaced.
    pub timeout: std::time::Duration,
}

impl Plan {
    /// Checks the settings for `conns` connections: one clear error for a run that cannot
    /// work.
    pub fn check(&self, conns: usize) -> Result<(), String> {
        if conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if self.size > crate::apps::rr::MAX_BODY {
            return Err(format!("--size must be at most {}", crate::apps::rr::MAX_BODY));
        }
        if let Some(rate) = self.rate {
            if !(rate.is_finite() && rate > 0.0) || self.workload != Workload::Rr {
                return Err("--rate must be a positive number and applies to rr only".into());
            }
        }
        Ok(())
    }
}

/// A connection that can no longer be written to (reset, closed under us, or gone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Broken;

/// What a transport does for [`Clients`]; client connections are named by their index.
pub trait Transport {
    /// Starts opening client `i`'s connection; `false` if it could not even start.
    fn connect(&mut self, i: usize) -> bool;
    /// Drops client `i`'s connection after an error (a reset where the stack sends one). Does
    /// nothing if it has none.
    fn abort(&mut self, i: usize);
    /// Closes client `i`'s connection in order (FIN) once it is done with it (crr).
    fn close(&mut self, i: usize);
    /// Writes from `data`; how much was taken (0 when the send buffer is full), `Err` if the
    /// connection is broken.
    fn send(&mut self, i: usize, data: &[u8]) -> Result<usize, Broken>;
    /// Bulk: writes filler bytes, as many as the send buffer takes at once (0 when full).
    fn send_filler(&mut self, i: usize) -> Result<usize, Broken>;
}

/// Where a client connection is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// No connection; re-opened at the next housekeeping round (after an error) or at once
    /// (crr).
    Idle,
    Connecting,
    Ready,
}

/// What the bytes that arrived ask the transport to do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Keep reading, then [`Clients::flush`].
    Continue,
    /// crr: the answer came; [`Clients::reconnect`].
    Reconnect,
    /// The server sent something that is not an answer; [`Clients::fail`] (already counted).
    Broken,
}

/// Why a connection went away under a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The connect failed (refused, unreachable, timed out by the stack).
    Connect,
    /// Reset, closed by the server, or a read or write error.
    Reset,
}

#[derive(Debug)]
struct Client {
    phase: Phase,
    /// Whole requests queued but not yet fully written, and how much of the first one is.
    queued: usize,
    queued_off: usize,
    /// Send (or scheduled) times of unanswered requests, oldest first.
    outstanding: VecDeque<Instant>,
    /// When the current connection attempt began.
    started: Instant,
    rr: RrClient,
}

/// The open-loop schedule: one request every `interval`, round-robin over the connections.
#[derive(Debug)]
struct Schedule {
    interval: Duration,
    next_send: Instant,
    round_robin: usize,
}

/// Every client connection of one event loop, and what they measured.
#[derive(Debug)]
pub struct Clients {
    plan: Plan,
    clients: Vec<Client>,
    schedule: Option<Schedule>,
    /// Between [`Clients::begin`] and [`Clients::finish`]: answers are measured and connections
    /// replaced.
    running: bool,
    pub stats: Stats,
}

fn std_dur(d: Duration) -> std::time::Duration {
    std::time::Duration::from_nanos(d.total_nanos())
}

/// `d` in the stack's time type (saturating: a run longer than 584 years is not one).
pub fn our_dur(d: std::time::Duration) -> Duration {
    Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl Clients {
    /// `conns` idle client connections following `plan` (checked with [`Plan::check`]).
    pub fn new(plan: Plan, conns: usize) -> Result<Clients, String> {
        plan.check(conns)?;
        let clients = (0..conns)
            .map(|_| Client {
                phase: Phase::Idle,
                queued: 0,
                queued_off: 0,
                outstanding: VecDeque::new(),
                started: Instant::ZERO,
                rr: RrClient::new(plan.size),
            })
            .collect();
        let schedule = plan.rate.map(|r| Schedule {
            interval: our_dur(std::time::Duration::from_secs_f64(1.0 / r)),
            next_send: Instant::ZERO,
            round_robin: 0,
        });
        Ok(Clients { plan, clients, schedule, running: false, stats: Stats::new() })
    }

    /// How many client connections there are.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are none (never, once [`Clients::new`] accepted the plan).
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }

    /// Where client `i` is.
    pub fn phase(&self, i: usize) -> Phase {
        self.clients[i].phase
    }

    /// Whether the measured part of the run is on.
    pub fn running(&self) -> bool {
        self.running
    }

    /// When the next open-loop request is due (`None` in closed loop).
    pub fn next_send(&self) -> Option<Instant> {
        self.schedule.as_ref().map(|s| s.next_send)
    }

    /// Starts the measured run at `now`: every client connects, and the open-loop schedule
    /// starts.
    pub fn begin(&mut self, t: &mut impl Transport, now: Instant) {
        self.running = true;
        if let Some(s) = &mut self.schedule {
            s.next_send = now;
        }
        for i in 0..self.clients.len() {
            self.connect(t, i, now);
        }
    }

    /// Ends the measured run: nothing more is measured or re-opened. A persistent connection
    /// (rr, bulk) still not established is a connect error, as `load rudp` counts one: a run
    /// shorter than the timeout must not hide a connection the server never answered. crr
    /// is always reconnecting; its last connects are not errors.
    pub fn finish(&mut self) {
        self.running = false;
        let persistent = self.plan.workload != Workload::Crr;
        for c in &mut self.clients {
            if persistent && c.phase == Phase::Connecting {
                self.stats.errors.connect += 1;
            }
            c.phase = Phase::Idle;
        }
    }

    /// Opens client `i`'s connection afresh.
    pub fn connect(&mut self, t: &mut impl Transport, i: usize, now: Instant) {
        let c = &mut self.clients[i];
        c.queued = 0;
        c.queued_off = 0;
        c.outstanding.clear();
        c.started = now;
        if t.connect(i) {
            c.phase = Phase::Connecting;
        } else {
            c.phase = Phase::Idle;
            self.stats.errors.connect += 1;
        }
    }

    /// Client `i`'s connection is established: the first request is queued (closed loop);
    /// the transport flushes next.
    pub fn on_connected(&mut self, i: usize, now: Instant) {
        let c = &mut self.clients[i];
        c.phase = Phase::Ready;
        if self.running && self.plan.rate.is_none() && self.plan.workload != Workload::Bulk {
            // crr measures from the connect; rr from the send.
            let at = if self.plan.workload == Workload::Crr { c.started } else { now };
            self.queue_request(i, at);
        }
    }

    /// Drops client `i`'s connection after an error; housekeeping re-opens it.
    pub fn fail(&mut self, t: &mut impl Transport, i: usize) {
        t.abort(i);
        let c = &mut self.clients[i];
        c.phase = Phase::Idle;
        c.outstanding.clear();
    }

    /// Client `i`'s connection went away (`why`); counted while the run is on, then dropped.
    pub fn lost(&mut self, t: &mut impl Transport, i: usize, why: Lost) {
        if self.running || self.clients[i].phase != Phase::Idle {
            match why {
                Lost::Connect => self.stats.errors.connect += 1,
                Lost::Reset => self.stats.errors.reset += 1,
            }
        }
        self.fail(t, i);
    }

    /// crr: client `i` got its answer; close the connection and open the next one.
    pub fn reconnect(&mut self, t: &mut impl Transport, i: usize, now: Instant) {
        t.close(i);
        self.connect(t, i, now);
    }

    /// Every `HOUSEKEEPING`: idle clients re-open, connects and requests older than the
    /// timeout are given up.
    pub fn housekeeping(&mut self, t: &mut impl Transport, now: Instant) {
        let timeout = our_dur(self.plan.timeout);
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            let timed_out = match c.phase {
                Phase::Idle => {
                    if self.running {
                        self.connect(t, i, now);
                    }
                    continue;
                }
                Phase::Connecting => now.saturating_duration_since(c.started) > timeout,
                Phase::Ready => c
                    .outstanding
                    .front()
                    .is_some_and(|&at| now.saturating_duration_since(at) > timeout),
            };
            if timed_out {
                self.stats.errors.timeout += 1;
                self.fail(t, i);
            }
        }
    }

    /// Open loop: sends every request due by `now`, each to the next client that has a
    /// connection, and latency counts from the *scheduled* time, so a stalled server cannot
    /// hide its stall by slowing the client down (coordinated omission).
    pub fn send_due(&mut self, t: &mut impl Transport, now: Instant) {
        let n = self.clients.len();
        while let Some(s) = self.schedule.as_mut().filter(|s| s.next_send <= now) {
            let due = s.next_send;
            s.next_send = due + s.interval;
            for _ in 0..n {
                let Some(s) = self.schedule.as_mut() else { return };
                let i = s.round_robin % n;
                s.round_robin = s.round_robin.wrapping_add(1);
                if self.clients[i].phase != Phase::Idle {
                    self.queue_request(i, due);
                    if self.clients[i].phase == Phase::Ready {
                        self.flush(t, i);
                    }
                    break;
                }
            }
        }
    }

    fn queue_request(&mut self, i: usize, at: Instant) {
        let c = &mut self.clients[i];
        c.queued += 1;
        c.outstanding.push_back(at);
    }

    /// Bytes arrived on client `i`'s connection at `now`: counts the complete answers at the
    /// start of `input`. Returns how much of `input` was used (the rest is an answer still
    /// arriving) and what to do next.
    pub fn on_input(&mut self, i: usize, now: Instant, input: &[u8]) -> (usize, Next) {
        if self.plan.workload == Workload::Bulk {
            return (input.len(), Next::Continue); // the server's answers are read and dropped
        }
        let running = self.running;
        let c = &mut self.clients[i];
        let Ok((used, count)) = c.rr.on_readable(input) else {
            self.stats.errors.protocol += 1;
            return (input.len(), Next::Broken);
        };
        for _ in 0..count {
            let Some(sent) = c.outstanding.pop_front() else {
                // An answer to nothing we asked.
                self.stats.errors.protocol += 1;
                return (input.len(), Next::Broken);
            };
            if running {
                self.stats.record(std_dur(now.saturating_duration_since(sent)));
                self.stats.add_bytes(2 * self.plan.size as u64);
            }
        }
        if count == 0 || !running {
            return (used, Next::Continue);
        }
        match (self.plan.workload, self.plan.rate) {
            (Workload::Rr, None) => {
                if c.outstanding.is_empty() {
                    self.queue_request(i, now);
                }
                (used, Next::Continue)
            }
            (Workload::Crr, _) => (used, Next::Reconnect),
            _ => (used, Next::Continue),
        }
    }

    /// Writes client `i`'s queued requests (or, for bulk, filler while the run is on) as far
    /// as the send buffer takes them.
    pub fn flush(&mut self, t: &mut impl Transport, i: usize) {
        if self.clients[i].phase != Phase::Ready {
            return;
        }
        if self.plan.workload == Workload::Bulk {
            while self.running {
                match t.send_filler(i) {
                    Ok(0) => return,
                    Ok(n) => self.stats.add_bytes(n as u64),
                    Err(Broken) => return self.lost(t, i, Lost::Reset),
                }
            }
            return;
        }
        let c = &mut self.clients[i];
        while c.queued > 0 {
            let req = c.rr.request();
            match t.send(i, &req[c.queued_off..]) {
                Ok(0) => return,
                Ok(n) => {
                    c.queued_off += n;
                    if c.queued_off == req.len() {
                        c.queued_off = 0;
                        c.queued -= 1;
                    }
                }
                Err(Broken) => return self.lost(t, i, Lost::Reset),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framing::LengthPrefixed;

    /// A transport that records what it was asked and takes `room` bytes per write.
    #[derive(Default)]
    struct Recorder {
        open: Vec<bool>,
        sent: Vec<Vec<u8>>,
        closes: usize,
        aborts: usize,
        room: usize,
        refuse: bool,
    }

    impl Transport for Recorder {
        fn connect(&mut self, i: usize) -> bool {
            if self.open.len() <= i {
                self.open.resize(i + 1, false);
                self.sent.resize(i + 1, Vec::new());
            }
            self.open[i] = !self.refuse;
            !self.refuse
        }
        fn abort(&mut self, i: usize) {
            if std::mem::take(&mut self.open[i]) {
                self.aborts += 1;
            }
        }
        fn close(&mut self, i: usize) {
            self.open[i] = false;
            self.closes += 1;
        }
        fn send(&mut self, i: usize, data: &[u8]) -> Result<usize, Broken> {
            let n = data.len().min(self.room);
            self.sent[i].extend_from_slice(&data[..n]);
            Ok(n)
        }
        fn send_filler(&mut self, _: usize) -> Result<usize, Broken> {
            Ok(std::mem::take(&mut self.room))
        }
    }

    fn plan(workload: Workload) -> Plan {
        Plan { workload, size: 8, rate: None, timeout: std::time::Duration::from_millis(50) }
    }

    fn answer(size: usize) -> Vec<u8> {
        let mut out = Vec::new();
        LengthPrefixed::encode(&vec![7; size], &mut out).unwrap();
        out
    }

    const T0: Instant = Instant::from_millis(1);

    #[test]
    fn closed_loop_rr_measures_from_the_send_and_asks_again() {
        let mut c = Clients::new(plan(Workload::Rr), 1).unwrap();
        let mut t = Recorder { room: usize::MAX, ..Recorder::default() };
        c.begin(&mut t, T0);
        assert_eq!(c.phase(0), Phase::Connecting);
        c.on_connected(0, T0 + Duration::from_millis(2));
        c.flush(&mut t, 0);
        assert_eq!(t.sent[0].len(), 12, "one request: prefix and body");
        let reply = answer(8);
        // Half an answer is kept for later; the whole one is counted.
        let now = T0 + Duration::from_millis(5);
        assert_eq!(c.on_input(0, now, &reply[..5]), (0, Next::Continue));
        assert_eq!(c.on_input(0, now, &reply), (12, Next::Continue));
        assert_eq!(c.stats.completed, 1);
        assert_eq!(c.stats.bytes, 16);
        c.flush(&mut t, 0);
        assert_eq!(t.sent[0].len(), 24, "the next request follows the answer");
    }

    #[test]
    fn a_partial_write_resumes_where_it_stopped() {
        let mut c = Clients::new(plan(Workload::Rr), 1).unwrap();
        let mut t = Recorder { room: 5, ..Recorder::default() };
        c.begin(&mut t, T0);
        c.on_connected(0, T0);
        c.flush(&mut t, 0);
        assert_eq!(t.sent[0], RrClient::new(8).request());
    }

    #[test]
    fn crr_asks_to_reconnect_after_its_answer() {
        let mut c = Clients::new(plan(Workload::Crr), 1).unwrap();
        let mut t = Recorder { room: usize::MAX, ..Recorder::default() };
        c.begin(&mut t, T0);
        c.on_connected(0, T0 + Duration::from_millis(3));
        c.flush(&mut t, 0);
        let now = T0 + Duration::from_millis(10);
        assert_eq!(c.on_input(0, now, &answer(8)), (12, Next::Reconnect));
        c.reconnect(&mut t, 0, now);
        assert_eq!((t.closes, c.phase(0)), (1, Phase::Connecting));
        assert_eq!(c.stats.completed, 1);
    }

    #[test]
    fn wrong_answers_and_silence_are_errors() {
        let mut c = Clients::new(plan(Workload::Rr), 2).unwrap();
        let mut t = Recorder { room: usize::MAX, ..Recorder::default() };
        c.begin(&mut t, T0);
        c.on_connected(0, T0);
        c.on_connected(1, T0);
        assert_eq!(c.on_input(0, T0, &answer(9)).1, Next::Broken);
        c.fail(&mut t, 0);
        assert_eq!(c.stats.errors.protocol, 1);
        // Client 1's request is never answered: a timeout, then housekeeping re-opens both.
        c.housekeeping(&mut t, T0 + Duration::from_millis(51));
        assert_eq!(c.stats.errors.timeout, 1);
        assert_eq!(c.phase(0), Phase::Connecting);
        assert_eq!(c.phase(1), Phase::Idle);
        assert_eq!(t.aborts, 2);
    }

    #[test]
    fn refused_connects_are_counted() {
        let mut c = Clients::new(plan(Workload::Rr), 3).unwrap();
        let mut t = Recorder { refuse: true, ..Recorder::default() };
        c.begin(&mut t, T0);
        assert_eq!(c.stats.errors.connect, 3);
        assert!((0..3).all(|i| c.phase(i) == Phase::Idle));
    }

    #[test]
    fn open_loop_spreads_scheduled_requests_round_robin() {
        let mut p = plan(Workload::Rr);
        p.rate = Some(1000.0); // one a millisecond
        let mut c = Clients::new(p, 2).unwrap();
        let mut t = Recorder { room: usize::MAX, ..Recorder::default() };
        c.begin(&mut t, T0);
        c.on_connected(0, T0);
        c.on_connected(1, T0);
        c.send_due(&mut t, T0 + Duration::from_micros(3500));
        assert_eq!((t.sent[0].len(), t.sent[1].len()), (24, 24), "four due, two each");
        assert_eq!(c.next_send(), Some(T0 + Duration::from_millis(4)));
        // The first answer's latency counts from its scheduled time, T0.
        c.on_input(0, T0 + Duration::from_millis(10), &answer(8));
        assert_eq!(c.stats.completed, 1);
    }

    #[test]
    fn bulk_writes_only_while_running() {
        let mut c = Clients::new(plan(Workload::Bulk), 1).unwrap();
        let mut t = Recorder { room: 1000, ..Recorder::default() };
        c.begin(&mut t, T0);
        c.on_connected(0, T0);
        c.flush(&mut t, 0);
        assert_eq!(c.stats.bytes, 1000);
        c.finish();
        t.room = 1000;
        c.flush(&mut t, 0);
        assert_eq!(c.stats.bytes, 1000);
    }

    /// A connection still in its handshake when an rr run ends was never established: an
    /// error (it was counted as nothing). crr's connects in flight at the end are not.
    #[test]
    fn connections_not_established_by_the_end_are_errors_except_crr() {
        let mut t = Recorder { room: usize::MAX, ..Recorder::default() };
        let mut c = Clients::new(plan(Workload::Rr), 3).unwrap();
        c.begin(&mut t, T0);
        c.on_connected(0, T0);
        c.finish();
        assert_eq!(c.stats.errors.connect, 2, "{:?}", c.stats.errors);
        let mut c = Clients::new(plan(Workload::Crr), 3).unwrap();
        c.begin(&mut t, T0);
        c.finish();
        assert_eq!(c.stats.errors.total(), 0);
    }

    #[test]
    fn bad_plans_are_refused() {
        assert!(Clients::new(plan(Workload::Rr), 0).is_err());
        let mut p = plan(Workload::Crr);
        p.rate = Some(10.0);
        assert!(Clients::new(p, 1).unwrap_err().contains("rr only"));
    }
}
