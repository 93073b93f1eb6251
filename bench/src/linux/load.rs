//! `xdptcp load --stack linux`: the load generator over kernel sockets, one mio event loop.
//!
//! - `rr`: `conns` persistent connections. Closed loop by default (each connection sends its
//!   next request when the previous answer arrived); with `rate` it is open loop: requests are
//!   sent on a fixed schedule spread round-robin over the connections, pipelined if answers are
//!   slow, and latency counts from the *scheduled* send time, so a stalled server cannot hide
//!   its stall by slowing the client down (coordinated omission).
//! - `crr`: `conns` slots that each connect, send one request, read the answer and close; the
//!   latency is connect-to-answer.
//! - `bulk`: `conns` connections that write as fast as the socket takes it; the server
//!   discards. Whatever the server sends back is read and dropped.

use super::describe;
use crate::loadgen::rr::RrClient;
use crate::loadgen::{Interval, Stats, Workload};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often timeouts are checked and broken connections re-opened.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// What bulk writes, one call at a time.
const BULK_CHUNK: usize = 64 * 1024;

/// One load run's settings.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    pub workload: Workload,
    pub target: SocketAddr,
    pub conns: usize,
    pub duration: Duration,
    /// Request body size for rr and crr.
    pub size: usize,
    /// Total requests per second (rr open loop); `None` for closed loop.
    pub rate: Option<f64>,
    /// A connect or request slower than this counts as a timeout and its connection is
    /// replaced.
    pub timeout: Duration,
    /// Event loops (threads); connections and rate are split evenly between them.
    pub threads: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// No socket; re-opened at the next housekeeping round (after an error) or at once (crr).
    Idle,
    Connecting,
    Ready,
}

struct Client {
    stream: Option<TcpStream>,
    phase: Phase,
    input: Vec<u8>,
    filled: usize,
    out: Vec<u8>,
    sent: usize,
    /// Send (or scheduled) times of requests not yet answered, oldest first.
    outstanding: VecDeque<Instant>,
    /// When the current connection attempt began.
    started: Instant,
    rr: RrClient,
}

struct Run<'a> {
    cfg: &'a LoadConfig,
    poll: Poll,
    clients: Vec<Client>,
    stats: &'a mut Stats,
    running: bool,
    bulk_chunk: Vec<u8>,
}

/// Checks that the target accepts connections, so a wrong address is one clear error rather
/// than a run full of connect errors.
pub fn preflight(target: SocketAddr, timeout: Duration) -> Result<(), String> {
    std::net::TcpStream::connect_timeout(&target, timeout)
        .map(drop)
        .map_err(|e| format!("cannot connect to {target}: {}", describe(&e)))
}

/// Runs the load described by `cfg`; calls `progress` once a second with a status line.
/// Returns the measurements and how long the run lasted.
pub fn run(
    cfg: &LoadConfig,
    progress: &mut dyn FnMut(String),
) -> Result<(Stats, Duration), String> {
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
    preflight(cfg.target, cfg.timeout)?;
    let threads = cfg.threads.clamp(1, cfg.conns);
    if threads == 1 {
        let mut stats = Stats::new();
        let elapsed = run_loop(cfg, &mut stats, &mut |iv, elapsed, interval| {
            progress(iv.line(cfg.workload, elapsed, interval))
        })?;
        return Ok((stats, elapsed));
    }

    // Several loops: each reports its intervals; a line is printed once all have reported one.
    let (tx, rx) = mpsc::channel::<(u64, Interval, Duration, Duration)>();
    let mut handles = Vec::with_capacity(threads);
    for t in 0..threads {
        let mut part = cfg.clone();
        part.conns = cfg.conns / threads + usize::from(t < cfg.conns % threads);
        part.rate = cfg.rate.map(|r| r * part.conns as f64 / cfg.conns as f64);
        let tx = tx.clone();
        handles.push(std::thread::spawn(move || {
            let mut stats = Stats::new();
            let mut tick = 0u64;
            let elapsed = run_loop(&part, &mut stats, &mut |iv, elapsed, interval| {
                let _ = tx.send((tick, iv, elapsed, interval));
                tick += 1;
            });
            elapsed.map(|e| (stats, e))
        }));
    }
    drop(tx);
    let mut pending: BTreeMap<u64, (usize, Interval, Duration, Duration)> = BTreeMap::new();
    for (tick, iv, elapsed, interval) in rx {
        let entry = pending.entry(tick).or_insert_with(|| (0, iv.clone(), elapsed, interval));
        if entry.0 > 0 {
            entry.1.merge(&iv);
        }
        entry.0 += 1;
        if entry.0 == threads {
            if let Some((_, iv, elapsed, interval)) = pending.remove(&tick) {
                progress(iv.line(cfg.workload, elapsed, interval));
            }
        }
    }
    let mut total = Stats::new();
    let mut longest = Duration::ZERO;
    for h in handles {
        let (stats, elapsed) = h.join().map_err(|_| "a load thread panicked".to_string())??;
        total.merge(&stats);
        longest = longest.max(elapsed);
    }
    Ok((total, longest))
}

/// One event loop of a run.
fn run_loop(
    cfg: &LoadConfig,
    stats: &mut Stats,
    tick: &mut dyn FnMut(Interval, Duration, Duration),
) -> Result<Duration, String> {
    let poll = Poll::new().map_err(|e| format!("epoll: {}", describe(&e)))?;
    let now = Instant::now();
    let input_len = (2 * (cfg.size + 4)).max(64 * 1024);
    let clients = (0..cfg.conns)
        .map(|_| Client {
            stream: None,
            phase: Phase::Idle,
            input: vec![0; input_len],
            filled: 0,
            out: Vec::new(),
            sent: 0,
            outstanding: VecDeque::new(),
            started: now,
            rr: RrClient::new(cfg.size),
        })
        .collect();
    let mut run =
        Run { cfg, poll, clients, stats, running: true, bulk_chunk: vec![0x5a; BULK_CHUNK] };
    run.main_loop(tick)
}

impl Run<'_> {
    fn main_loop(
        &mut self,
        tick: &mut dyn FnMut(Interval, Duration, Duration),
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let end = start + self.cfg.duration;
        for i in 0..self.clients.len() {
            self.connect(i);
        }
        let mut events = Events::with_capacity(1024);
        let mut next_progress = start + Duration::from_secs(1);
        let mut last_progress = start;
        let mut next_housekeeping = start + HOUSEKEEPING;
        let interval = self.cfg.rate.map(|r| Duration::from_secs_f64(1.0 / r));
        let mut next_send = start;
        let mut round_robin = 0;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            if let Some(interval) = interval {
                while next_send <= now {
                    self.send_scheduled(&mut round_robin, next_send);
                    next_send += interval;
                }
            }
            let mut wake = end.min(next_progress).min(next_housekeeping);
            if interval.is_some() {
                wake = wake.min(next_send);
            }
            let mut wait = wake.saturating_duration_since(now);
            if interval.is_some() {
                // epoll counts whole milliseconds and mio rounds up, which would send every
                // open-loop request up to 1 ms late; round down instead and spin the last
                // fraction of a millisecond.
                wait = Duration::from_millis(wait.as_millis() as u64);
            }
            match self.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("epoll: {}", describe(&e))),
            }
            for event in events.iter() {
                self.handle(event.token().0);
            }
            let now = Instant::now();
            if now >= next_housekeeping {
                self.housekeeping(now);
                next_housekeeping = now + HOUSEKEEPING;
            }
            if now >= next_progress {
                tick(self.stats.take_interval(), now - start, now - last_progress);
                last_progress = now;
                next_progress += Duration::from_secs(1);
            }
        }
        self.running = false;
        let elapsed = start.elapsed();
        for c in &mut self.clients {
            c.stream = None;
        }
        Ok(elapsed)
    }

    fn connect(&mut self, i: usize) {
        let c = &mut self.clients[i];
        c.filled = 0;
        c.out.clear();
        c.sent = 0;
        c.outstanding.clear();
        c.started = Instant::now();
        match TcpStream::connect(self.cfg.target) {
            Ok(mut s) => {
                if self
                    .poll
                    .registry()
                    .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    self.stats.errors.connect += 1;
                    c.phase = Phase::Idle;
                    return;
                }
                c.stream = Some(s);
                c.phase = Phase::Connecting;
            }
            Err(_) => {
                self.stats.errors.connect += 1;
                c.phase = Phase::Idle;
            }
        }
    }

    /// Drops a connection after an error; it is re-opened at the next housekeeping round.
    fn fail(&mut self, i: usize) {
        let c = &mut self.clients[i];
        if let Some(mut s) = c.stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        c.phase = Phase::Idle;
        c.outstanding.clear();
    }

    fn housekeeping(&mut self, now: Instant) {
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            let timed_out = match c.phase {
                Phase::Idle => {
                    if self.running {
                        self.connect(i);
                    }
                    continue;
                }
                Phase::Connecting => now.duration_since(c.started) > self.cfg.timeout,
                Phase::Ready => c
                    .outstanding
                    .front()
                    .is_some_and(|&t| now.saturating_duration_since(t) > self.cfg.timeout),
            };
            if timed_out {
                self.stats.errors.timeout += 1;
                self.fail(i);
            }
        }
    }

    /// Open loop: one request due at `due` goes to the next connection that has a socket.
    fn send_scheduled(&mut self, round_robin: &mut usize, due: Instant) {
        let n = self.clients.len();
        for _ in 0..n {
            let i = *round_robin % n;
            *round_robin = round_robin.wrapping_add(1);
            if self.clients[i].phase != Phase::Idle {
                self.queue_request(i, due);
                if self.clients[i].phase == Phase::Ready {
                    self.flush(i);
                }
                return;
            }
        }
    }

    fn queue_request(&mut self, i: usize, at: Instant) {
        let c = &mut self.clients[i];
        c.out.extend_from_slice(c.rr.request());
        c.outstanding.push_back(at);
    }

    fn handle(&mut self, i: usize) {
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        if c.phase == Phase::Connecting {
            let Some(s) = c.stream.as_ref() else {
                return;
            };
            match s.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => {
                    self.stats.errors.connect += 1;
                    self.fail(i);
                    return;
                }
            }
            match s.peer_addr() {
                Ok(_) => {}
                // Not connected yet: a spurious wake-up.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => {
                    self.stats.errors.connect += 1;
                    self.fail(i);
                    return;
                }
            }
            let _ = s.set_nodelay(true);
            c.phase = Phase::Ready;
            if self.running && self.cfg.rate.is_none() && self.cfg.workload != Workload::Bulk {
                let started = c.started;
                // crr measures from the connect; rr from the send.
                let at = if self.cfg.workload == Workload::Crr { started } else { Instant::now() };
                self.queue_request(i, at);
            }
        }
        if self.clients[i].phase != Phase::Ready {
            return;
        }
        if self.read(i) {
            self.flush(i);
        }
    }

    /// Reads until the socket would block; handles responses. `false` if the connection is
    /// gone.
    fn read(&mut self, i: usize) -> bool {
        loop {
            let c = &mut self.clients[i];
            let Some(s) = c.stream.as_mut() else {
                return false;
            };
            let bulk = self.cfg.workload == Workload::Bulk;
            let buf = if bulk { &mut c.input[..] } else { &mut c.input[c.filled..] };
            match s.read(buf) {
                Ok(0) => {
                    self.stats.errors.reset += 1;
                    self.fail(i);
                    return false;
                }
                Ok(n) => {
                    if bulk {
                        continue;
                    }
                    c.filled += n;
                    if !self.on_responses(i) {
                        return false;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stats.errors.reset += 1;
                    self.fail(i);
                    return false;
                }
            }
        }
    }

    fn on_responses(&mut self, i: usize) -> bool {
        let c = &mut self.clients[i];
        let (used, count) = match c.rr.on_readable(&c.input[..c.filled]) {
            Ok(r) => r,
            Err(_) => {
                self.stats.errors.protocol += 1;
                self.fail(i);
                return false;
            }
        };
        c.input.copy_within(used..c.filled, 0);
        c.filled -= used;
        let now = Instant::now();
        for _ in 0..count {
            let Some(sent) = c.outstanding.pop_front() else {
                // An answer to nothing we asked.
                self.stats.errors.protocol += 1;
                self.fail(i);
                return false;
            };
            if self.running {
                self.stats.record(now.saturating_duration_since(sent));
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
                }
                true
            }
            (Workload::Crr, _) => {
                // Done with this connection: close it and start the next one.
                if let Some(mut s) = self.clients[i].stream.take() {
                    let _ = self.poll.registry().deregister(&mut s);
                }
                self.connect(i);
                false
            }
            _ => true,
        }
    }

    /// Writes queued requests (or, for bulk, as much as the socket takes).
    fn flush(&mut self, i: usize) {
        let bulk = self.cfg.workload == Workload::Bulk;
        loop {
            let c = &mut self.clients[i];
            let Some(s) = c.stream.as_mut() else {
                return;
            };
            let data = if bulk {
                if !self.running {
                    return;
                }
                &self.bulk_chunk[..]
            } else if c.sent < c.out.len() {
                &c.out[c.sent..]
            } else {
                c.out.clear();
                c.sent = 0;
                return;
            };
            match s.write(data) {
                Ok(0) => {
                    self.stats.errors.reset += 1;
                    self.fail(i);
                    return;
                }
                Ok(n) if bulk => self.stats.add_bytes(n as u64),
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stats.errors.reset += 1;
                    self.fail(i);
                    return;
                }
            }
        }
    }
}
