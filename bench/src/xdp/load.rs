//! `xdptcp load --stack xdptcp`: the load generator as an application of one worker, so the
//! client side runs on our stack too. Same workloads, protocol, statistics and report as the
//! Linux client (`linux::load`), so the numbers are comparable:
//!
//! - `rr`: `conns` persistent connections; closed loop, or open loop with `rate` (latency from
//!   the *scheduled* send time, so a stalled server cannot hide its stall).
//! - `crr`: `conns` slots that each connect (an ephemeral port chosen by the stack), send one
//!   request, read the answer and close; latency is connect-to-answer.
//! - `bulk`: `conns` connections that fill their send buffers for the duration.
//!
//! Latencies come from the worker's clock (`now` of the iteration that saw the answer).
//! Received bytes are copied once out of the receive ring into a per-connection buffer (as
//! `read(2)` does for the Linux client), then framed.

use crate::loadgen::rr::RrClient;
use crate::loadgen::{Stats, Workload};
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use xdptcp_driver::app::{App as DriverApp, AppCopies};
use xdptcp_stack::stack::{Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::{Duration, Instant};

/// How often timeouts are checked and failed connections re-opened.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// What bulk offers the send buffer, one call at a time.
const BULK_CHUNK: usize = 64 * 1024;
/// Pause between the worker's start and the first connect (see `start`).
const START_DELAY: Duration = Duration::from_millis(20);

/// One run's settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub workload: Workload,
    pub target: SocketAddrV4,
    pub conns: usize,
    pub duration: std::time::Duration,
    pub size: usize,
    pub rate: Option<f64>,
    pub timeout: std::time::Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Connecting,
    Ready,
}

#[derive(Debug)]
struct Client {
    handle: Option<TcpHandle>,
    phase: Phase,
    input: Vec<u8>,
    filled: usize,
    /// Whole requests queued but not yet fully in the send buffer, and how much of the first
    /// one is already there.
    queued: usize,
    queued_off: usize,
    /// Send (or scheduled) times of unanswered requests, oldest first.
    outstanding: VecDeque<Instant>,
    started: Instant,
    rr: RrClient,
}

/// The load generator on one worker's stack.
#[derive(Debug)]
pub struct StackLoad {
    cfg: LoadConfig,
    clients: Vec<Client>,
    stats: Stats,
    start: Instant,
    end: Instant,
    next_progress: Instant,
    last_progress: Instant,
    next_housekeeping: Instant,
    interval: Option<Duration>,
    next_send: Instant,
    round_robin: usize,
    running: bool,
    done: bool,
    /// Handle slot → client index + 1 (0: none), for O(1) event dispatch.
    owner: Vec<u32>,
    bulk_chunk: Vec<u8>,
    copies: AppCopies,
    /// Progress lines, handed to the caller's sink.
    progress: fn(String),
    elapsed: std::time::Duration,
}

fn std_dur(d: Duration) -> std::time::Duration {
    std::time::Duration::from_nanos(d.total_nanos())
}

fn our_dur(d: std::time::Duration) -> Duration {
    Duration::from_nanos(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

impl StackLoad {
    /// A load run; `progress` receives one status line a second.
    pub fn new(cfg: LoadConfig, progress: fn(String)) -> Result<StackLoad, String> {
        if cfg.conns == 0 {
            return Err("--conns must be at least 1".into());
        }
        if cfg.size > crate::apps::rr::MAX_BODY {
            return Err(format!("--size must be at most {}", crate::apps::rr::MAX_BODY));
        }
        if let Some(rate) = cfg.rate {
            if !(rate.is_finite() && rate > 0.0) || cfg.workload != Workload::Rr {
                return Err("--rate must be a positive number and applies to rr only".into());
            }
        }
        let input_len = (2 * (cfg.size + 4)).max(16 * 1024);
        let clients = (0..cfg.conns)
            .map(|_| Client {
                handle: None,
                phase: Phase::Idle,
                input: vec![0; input_len],
                filled: 0,
                queued: 0,
                queued_off: 0,
                outstanding: VecDeque::new(),
                started: Instant::ZERO,
                rr: RrClient::new(cfg.size),
            })
            .collect();
        let interval = cfg.rate.map(|r| our_dur(std::time::Duration::from_secs_f64(1.0 / r)));
        Ok(StackLoad {
            cfg,
            clients,
            stats: Stats::new(),
            start: Instant::ZERO,
            end: Instant::ZERO,
            next_progress: Instant::ZERO,
            last_progress: Instant::ZERO,
            next_housekeeping: Instant::ZERO,
            interval,
            next_send: Instant::ZERO,
            round_robin: 0,
            running: false,
            done: false,
            owner: Vec::new(),
            bulk_chunk: vec![0x5a; BULK_CHUNK],
            copies: AppCopies::default(),
            progress,
            elapsed: std::time::Duration::ZERO,
        })
    }

    /// What was measured.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// How long the measured part lasted.
    pub fn elapsed(&self) -> std::time::Duration {
        self.elapsed
    }

    fn client_of(&self, h: TcpHandle) -> Option<usize> {
        let i = (*self.owner.get(h.index())? as usize).checked_sub(1)?;
        (self.clients.get(i)?.handle == Some(h)).then_some(i)
    }

    fn connect(&mut self, now: Instant, stack: &mut Stack, i: usize) {
        let c = &mut self.clients[i];
        c.filled = 0;
        c.queued = 0;
        c.queued_off = 0;
        c.outstanding.clear();
        c.started = now;
        c.handle = None;
        c.phase = Phase::Idle;
        match stack.tcp_connect(now, *self.cfg.target.ip(), self.cfg.target.port()) {
            Ok(h) => {
                let _ = stack.tcp_set_nodelay(h, true);
                c.handle = Some(h);
                c.phase = Phase::Connecting;
                if h.index() >= self.owner.len() {
                    self.owner.resize(h.index() + 1, 0);
                }
                // At most 100000 clients (checked by the command), far below u32::MAX.
                self.owner[h.index()] = i as u32 + 1;
            }
            Err(_) => self.stats.errors.connect += 1,
        }
    }

    /// Drops client `i`'s connection after an error (RST); re-opened by housekeeping.
    fn fail(&mut self, stack: &mut Stack, i: usize) {
        let c = &mut self.clients[i];
        if let Some(h) = c.handle.take() {
            let _ = stack.tcp_abort(h);
        }
        c.phase = Phase::Idle;
        c.outstanding.clear();
    }

    fn queue_request(&mut self, i: usize, at: Instant) {
        let c = &mut self.clients[i];
        c.queued += 1;
        c.outstanding.push_back(at);
    }

    /// Writes queued requests, or bulk data, as far as the send buffer takes them.
    fn flush(&mut self, stack: &mut Stack, i: usize) {
        let c = &mut self.clients[i];
        let Some(h) = c.handle else { return };
        if self.cfg.workload == Workload::Bulk {
            while self.running {
                match stack.tcp_send(h, &self.bulk_chunk) {
                    Ok(0) => return,
                    Ok(n) => {
                        self.copies.tx_app_to_ring += n as u64;
                        self.stats.add_bytes(n as u64);
                    }
                    Err(_) => {
                        self.stats.errors.reset += 1;
                        self.fail(stack, i);
                        return;
                    }
                }
            }
            return;
        }
        while c.queued > 0 {
            let req = c.rr.request();
            match stack.tcp_send(h, &req[c.queued_off..]) {
                Ok(0) => return,
                Ok(n) => {
                    self.copies.tx_app_to_ring += n as u64;
                    c.queued_off += n;
                    if c.queued_off == req.len() {
                        c.queued_off = 0;
                        c.queued -= 1;
                    }
                }
                Err(_) => {
                    self.stats.errors.reset += 1;
                    self.fail(stack, i);
                    return;
                }
            }
        }
    }

    /// Reads what arrived and handles complete responses.
    fn read(&mut self, now: Instant, stack: &mut Stack, i: usize) {
        let bulk = self.cfg.workload == Workload::Bulk;
        loop {
            let c = &mut self.clients[i];
            let Some(h) = c.handle else { return };
            let (input, filled) = (&mut c.input, c.filled);
            let r = stack.tcp_read(h, |a, b| {
                if bulk {
                    return a.len() + b.len();
                }
                let room = &mut input[filled..];
                let n1 = a.len().min(room.len());
                room[..n1].copy_from_slice(&a[..n1]);
                let n2 = b.len().min(room.len() - n1);
                room[n1..n1 + n2].copy_from_slice(&b[..n2]);
                n1 + n2
            });
            match r {
                Ok(0) => return,
                Ok(n) if bulk => {
                    let _ = n;
                }
                Ok(n) => {
                    self.copies.rx_ring_to_app += n as u64;
                    self.clients[i].filled += n;
                    if !self.on_responses(now, stack, i) {
                        return;
                    }
                }
                Err(TcpError::Finished) | Err(_) => {
                    // The server closed (or reset) a connection we still use.
                    self.stats.errors.reset += 1;
                    self.fail(stack, i);
                    return;
                }
            }
        }
    }

    /// Handles complete responses in client `i`'s buffer; false if the connection is gone.
    fn on_responses(&mut self, now: Instant, stack: &mut Stack, i: usize) -> bool {
        let c = &mut self.clients[i];
        let (used, count) = match c.rr.on_readable(&c.input[..c.filled]) {
            Ok(r) => r,
            Err(_) => {
                self.stats.errors.protocol += 1;
                self.fail(stack, i);
                return false;
            }
        };
        c.input.copy_within(used..c.filled, 0);
        c.filled -= used;
        for _ in 0..count {
            let Some(sent) = self.clients[i].outstanding.pop_front() else {
                // An answer to nothing we asked.
                self.stats.errors.protocol += 1;
                self.fail(stack, i);
                return false;
            };
            if self.running {
                self.stats.record(std_dur(now.saturating_duration_since(sent)));
                self.stats.add_bytes(2 * self.cfg.size as u64);
            }
        }
        if count == 0 || !self.running {
            return true;
        }
        match (self.cfg.workload, self.cfg.rate) {
            (Workload::Rr, None) => {
                if self.clients[i].outstanding.is_empty() {
                    self.queue_request(i, now);
                    self.flush(stack, i);
                }
                true
            }
            (Workload::Crr, _) => {
                // Done with this connection: close it (FIN; TIME-WAIT is the stack's) and
                // start the next one.
                if let Some(h) = self.clients[i].handle.take() {
                    let _ = stack.tcp_close(h);
                }
                self.connect(now, stack, i);
                false
            }
            _ => true,
        }
    }

    fn housekeeping(&mut self, now: Instant, stack: &mut Stack) {
        let timeout = our_dur(self.cfg.timeout);
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            let timed_out = match c.phase {
                Phase::Idle => {
                    if self.running {
                        self.connect(now, stack, i);
                    }
                    continue;
                }
                Phase::Connecting => now.saturating_duration_since(c.started) > timeout,
                Phase::Ready => c
                    .outstanding
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) > timeout),
            };
            if timed_out {
                self.stats.errors.timeout += 1;
                self.fail(stack, i);
            }
        }
    }

    /// Open loop: one request due at `due` goes to the next client with a connection.
    fn send_scheduled(&mut self, stack: &mut Stack, due: Instant) {
        let n = self.clients.len();
        for _ in 0..n {
            let i = self.round_robin % n;
            self.round_robin = self.round_robin.wrapping_add(1);
            if self.clients[i].phase != Phase::Idle {
                self.queue_request(i, due);
                if self.clients[i].phase == Phase::Ready {
                    self.flush(stack, i);
                }
                return;
            }
        }
    }

    fn begin(&mut self, now: Instant, stack: &mut Stack) {
        self.start = now;
        self.end = now + our_dur(self.cfg.duration);
        self.next_progress = now + Duration::from_secs(1);
        self.last_progress = now;
        self.next_housekeeping = now + HOUSEKEEPING;
        self.next_send = now;
        self.running = true;
        for i in 0..self.clients.len() {
            self.connect(now, stack, i);
        }
    }

    fn finish(&mut self, now: Instant, stack: &mut Stack) {
        self.running = false;
        self.done = true;
        self.elapsed = std_dur(now.saturating_duration_since(self.start));
        for c in &mut self.clients {
            if let Some(h) = c.handle.take() {
                // Unread data turns this into a reset (RFC 1122 §4.2.2.13), like close(2).
                let _ = stack.tcp_close(h);
            }
            c.phase = Phase::Idle;
        }
    }
}

impl DriverApp for StackLoad {
    fn start(&mut self, now: Instant, _stack: &mut Stack) {
        // The worker's first iteration (this call) runs before the XDP program diverts
        // frames to us, so an ARP reply to a request sent now would go to the kernel and the
        // run would lose a second to the ARP retry; begin a moment later instead.
        self.start = now + START_DELAY;
    }

    fn on_connected(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        let Some(i) = self.client_of(h) else { return };
        self.clients[i].phase = Phase::Ready;
        if self.running && self.cfg.rate.is_none() && self.cfg.workload != Workload::Bulk {
            // crr measures from the connect; rr from the send.
            let at = if self.cfg.workload == Workload::Crr { self.clients[i].started } else { now };
            self.queue_request(i, at);
        }
        self.flush(stack, i);
    }

    fn on_readable(&mut self, now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some(i) = self.client_of(h) {
            self.read(now, stack, i);
            if self.clients[i].phase == Phase::Ready {
                self.flush(stack, i);
            }
        } else {
            // A connection we closed: drain it so the close stays orderly (`tcp_read` lends a
            // chunk or two at a time).
            while let Ok(n) = stack.tcp_read(h, |a, b| a.len() + b.len()) {
                if n == 0 {
                    break;
                }
            }
        }
    }

    fn on_writable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some(i) = self.client_of(h) {
            if self.clients[i].phase == Phase::Ready {
                self.flush(stack, i);
            }
        }
    }

    fn on_closed(&mut self, _now: Instant, _stack: &mut Stack, h: TcpHandle, why: Event) {
        let Some(i) = self.client_of(h) else { return };
        let c = &mut self.clients[i];
        let connecting = c.phase == Phase::Connecting;
        c.handle = None;
        c.phase = Phase::Idle;
        c.outstanding.clear();
        if !self.running {
            return;
        }
        match why {
            Event::Refused | Event::TimedOut if connecting => self.stats.errors.connect += 1,
            _ => self.stats.errors.reset += 1,
        }
    }

    fn poll(&mut self, now: Instant, stack: &mut Stack) {
        if !self.running {
            if !self.done && now >= self.start {
                self.begin(now, stack);
            }
            return;
        }
        if now >= self.end {
            self.finish(now, stack);
            return;
        }
        if let Some(interval) = self.interval {
            while self.next_send <= now {
                let due = self.next_send;
                self.send_scheduled(stack, due);
                self.next_send = due + interval;
            }
        }
        if now >= self.next_housekeeping {
            self.housekeeping(now, stack);
            self.next_housekeeping = now + HOUSEKEEPING;
        }
        if now >= self.next_progress {
            let line = self.stats.progress_line(
                self.cfg.workload,
                std_dur(now.saturating_duration_since(self.start)),
                std_dur(now.saturating_duration_since(self.last_progress)),
            );
            (self.progress)(line);
            self.last_progress = now;
            self.next_progress += Duration::from_secs(1);
        }
    }

    fn shutdown(&mut self, now: Instant, stack: &mut Stack) {
        if !self.done {
            self.finish(now, stack);
        }
    }

    fn finished(&self) -> bool {
        self.done
    }

    fn copies(&self) -> AppCopies {
        self.copies
    }

    fn sample_connection(&self) -> Option<TcpHandle> {
        self.clients.iter().find_map(|c| c.handle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdp::testbed::{run_until, setup, B};

    fn cfg(workload: Workload, conns: usize) -> LoadConfig {
        LoadConfig {
            workload,
            target: SocketAddrV4::new(B, 7001),
            conns,
            duration: std::time::Duration::from_millis(30),
            size: 64,
            rate: None,
            timeout: std::time::Duration::from_secs(1),
        }
    }

    /// Runs a load against the peer, which echoes (an echoed rr request is a valid response:
    /// same length prefix, same body size).
    fn run(cfg: LoadConfig) -> (Stats, std::time::Duration, usize) {
        let (mut w, mut p) = setup(StackLoad::new(cfg, |_| {}).expect("valid"));
        p.stack.tcp_listen(B, 7001, 64).expect("listen");
        let mut now = Instant::from_millis(1);
        let ok = run_until(&mut w, &mut p, &mut now, 100_000, |w, p| {
            p.echo_accepted();
            w.app().finished()
        });
        assert!(ok, "the run did not end");
        (w.app().stats().clone(), w.app().elapsed(), p.accepted.len())
    }

    #[test]
    fn rr_completes_requests_without_errors() {
        let (s, elapsed, accepted) = run(cfg(Workload::Rr, 2));
        assert!(s.completed > 10, "{s:?}");
        assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
        assert_eq!(s.bytes, s.completed * 128);
        assert_eq!(accepted, 2, "persistent connections");
        assert_eq!(elapsed, std::time::Duration::from_millis(30));
    }

    #[test]
    fn crr_opens_a_connection_per_request() {
        let (s, _, accepted) = run(cfg(Workload::Crr, 2));
        assert!(s.completed > 4, "{s:?}");
        assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
        // One accepted connection per completed request, plus at most one open per slot.
        assert!(accepted as u64 >= s.completed && accepted as u64 <= s.completed + 2);
    }

    #[test]
    fn bulk_counts_bytes_and_no_latencies() {
        let (s, _, _) = run(cfg(Workload::Bulk, 1));
        assert!(s.bytes > 64 * 1024, "{s:?}");
        assert_eq!(s.completed, 0);
        assert_eq!(s.errors.total(), 0);
    }

    #[test]
    fn bad_settings_are_refused() {
        assert!(StackLoad::new(cfg(Workload::Rr, 0), |_| {}).is_err());
        let mut c = cfg(Workload::Crr, 1);
        c.rate = Some(100.0);
        assert!(StackLoad::new(c, |_| {}).unwrap_err().contains("rr only"));
    }
}
