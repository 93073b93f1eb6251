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
//!
//! What each connection does is `loadgen::clients` (shared with `xdp::load`); this file is
//! only the sockets below it and the event loop that drives it.

use super::describe;
use crate::loadgen::clients::{our_dur, Broken, Clients, Lost, Next, Phase, Transport};
use crate::loadgen::{Interval, LoadConfig, MergedProgress, Stats};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::sync::mpsc;
use std::time::{Duration, Instant};
use xdptcp_stack::time::Instant as Moment;

/// How often timeouts are checked and broken connections re-opened.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// What bulk writes, one call at a time.
const BULK_CHUNK: usize = 64 * 1024;

/// Kernel sockets under [`Clients`]: one non-blocking stream per client, registered with
/// the loop's epoll under the client's index.
struct Sockets {
    poll: Poll,
    target: SocketAddr,
    streams: Vec<Option<TcpStream>>,
    bulk_chunk: Vec<u8>,
}

impl Sockets {
    fn drop_stream(&mut self, i: usize) {
        if let Some(mut s) = self.streams[i].take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
    }

    fn write(&mut self, i: usize, data: Option<&[u8]>) -> Result<usize, Broken> {
        let Some(s) = self.streams[i].as_mut() else { return Err(Broken) };
        let data = data.unwrap_or(&self.bulk_chunk);
        loop {
            return match s.write(data) {
                Ok(0) => Err(Broken),
                Ok(n) => Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(0),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => Err(Broken),
            };
        }
    }
}

impl Transport for Sockets {
    fn connect(&mut self, i: usize) -> bool {
        self.drop_stream(i);
        let Ok(mut s) = TcpStream::connect(self.target) else { return false };
        let interest = Interest::READABLE | Interest::WRITABLE;
        if self.poll.registry().register(&mut s, Token(i), interest).is_err() {
            return false;
        }
        self.streams[i] = Some(s);
        true
    }

    /// Dropping the socket closes it; with unread data the kernel resets (RFC 1122
    /// §4.2.2.13).
    fn abort(&mut self, i: usize) {
        self.drop_stream(i);
    }

    fn close(&mut self, i: usize) {
        self.drop_stream(i);
    }

    fn send(&mut self, i: usize, data: &[u8]) -> Result<usize, Broken> {
        self.write(i, Some(data))
    }

    fn send_filler(&mut self, i: usize) -> Result<usize, Broken> {
        self.write(i, None)
    }
}

/// One event loop: the clients, their sockets, and the clock the clients' time counts from.
struct Run {
    clients: Clients,
    io: Sockets,
    /// Per client: received bytes not yet a whole answer.
    input: Vec<Vec<u8>>,
    filled: Vec<usize>,
    epoch: Instant,
}

/// Checks that the target accepts connections, so a wrong address is one clear error rather
/// than a run full of connect errors.
pub fn preflight(target: SocketAddr, timeout: Duration) -> Result<(), String> {
    std::net::TcpStream::connect_timeout(&target, timeout)
        .map(drop)
        .map_err(|e| format!("cannot connect to {target}: {}", describe(&e)))
}

/// Runs the load described by `cfg` on `threads` event loops (connections and rate split
/// evenly between them); calls `progress` once a second with a status line. Returns the
/// measurements and how long the run lasted.
pub fn run(
    cfg: &LoadConfig,
    threads: usize,
    progress: &mut dyn FnMut(String),
) -> Result<(Stats, Duration), String> {
    cfg.plan().check(cfg.conns)?;
    preflight(cfg.target, cfg.timeout)?;
    let threads = threads.clamp(1, cfg.conns);
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
        let part = cfg.share(threads, t);
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
    let mut merged = MergedProgress::new(threads, cfg.workload);
    for (tick, iv, elapsed, interval) in rx {
        if let Some(line) = merged.add(tick, iv, elapsed, interval) {
            progress(line);
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
    let input_len = (2 * (cfg.size + 4)).max(64 * 1024);
    let mut run = Run {
        clients: Clients::new(cfg.plan(), cfg.conns)?,
        io: Sockets {
            poll,
            target: cfg.target,
            streams: (0..cfg.conns).map(|_| None).collect(),
            bulk_chunk: vec![0x5a; BULK_CHUNK],
        },
        input: vec![vec![0; input_len]; cfg.conns],
        filled: vec![0; cfg.conns],
        epoch: Instant::now(),
    };
    let elapsed = run.main_loop(cfg, tick)?;
    *stats = std::mem::take(&mut run.clients.stats);
    Ok(elapsed)
}

impl Run {
    /// `at` as the clients count time: since the loop was set up.
    fn ours(&self, at: Instant) -> Moment {
        Moment::ZERO + our_dur(at.saturating_duration_since(self.epoch))
    }

    fn main_loop(
        &mut self,
        cfg: &LoadConfig,
        tick: &mut dyn FnMut(Interval, Duration, Duration),
    ) -> Result<Duration, String> {
        let start = Instant::now();
        let end = start + cfg.duration;
        let now = self.ours(start);
        self.filled.fill(0);
        self.clients.begin(&mut self.io, now);
        let mut events = Events::with_capacity(1024);
        let mut next_progress = start + Duration::from_secs(1);
        let mut last_progress = start;
        let mut next_housekeeping = start + HOUSEKEEPING;
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            let ours = self.ours(now);
            self.clients.send_due(&mut self.io, ours);
            let mut wake = end.min(next_progress).min(next_housekeeping);
            let open_loop = self.clients.next_send();
            if let Some(next) = open_loop {
                let until = next.saturating_duration_since(ours);
                wake = wake.min(now + std::time::Duration::from_nanos(until.total_nanos()));
            }
            let mut wait = wake.saturating_duration_since(now);
            if open_loop.is_some() {
                // epoll counts whole milliseconds and mio rounds up, which would send every
                // open-loop request up to 1 ms late; round down instead and spin the last
                // fraction of a millisecond.
                wait = Duration::from_millis(wait.as_millis() as u64);
            }
            match self.io.poll.poll(&mut events, Some(wait)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(format!("epoll: {}", describe(&e))),
            }
            for event in events.iter() {
                self.handle(event.token().0);
            }
            let now = Instant::now();
            if now >= next_housekeeping {
                let ours = self.ours(now);
                self.clients.housekeeping(&mut self.io, ours);
                next_housekeeping = now + HOUSEKEEPING;
            }
            if now >= next_progress {
                tick(self.clients.stats.take_interval(), now - start, now - last_progress);
                last_progress = now;
                next_progress += Duration::from_secs(1);
            }
        }
        self.clients.finish();
        let elapsed = start.elapsed();
        for s in &mut self.io.streams {
            *s = None;
        }
        Ok(elapsed)
    }

    fn handle(&mut self, i: usize) {
        if i >= self.clients.len() {
            return;
        }
        if self.clients.phase(i) == Phase::Connecting {
            let Some(s) = self.io.streams[i].as_ref() else {
                return;
            };
            match s.take_error() {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => return self.clients.lost(&mut self.io, i, Lost::Connect),
            }
            match s.peer_addr() {
                Ok(_) => {}
                // Not connected yet: a spurious wake-up.
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(_) => return self.clients.lost(&mut self.io, i, Lost::Connect),
            }
            let _ = s.set_nodelay(true);
            self.filled[i] = 0;
            let now = self.ours(Instant::now());
            self.clients.on_connected(i, now);
        }
        if self.clients.phase(i) != Phase::Ready {
            return;
        }
        if self.read(i) {
            self.clients.flush(&mut self.io, i);
        }
    }

    /// Reads until the socket would block; hands what arrived to the clients. `false` if the
    /// connection is gone (or replaced, crr).
    fn read(&mut self, i: usize) -> bool {
        loop {
            let Some(s) = self.io.streams[i].as_mut() else {
                return false;
            };
            let filled = self.filled[i];
            match s.read(&mut self.input[i][filled..]) {
                Ok(0) => {
                    self.clients.lost(&mut self.io, i, Lost::Reset);
                    return false;
                }
                Ok(n) => {
                    let filled = filled + n;
                    let now = self.ours(Instant::now());
                    let (used, next) = self.clients.on_input(i, now, &self.input[i][..filled]);
                    self.input[i].copy_within(used..filled, 0);
                    self.filled[i] = filled - used;
                    match next {
                        Next::Continue => {}
                        Next::Broken => {
                            self.clients.fail(&mut self.io, i);
                            return false;
                        }
                        Next::Reconnect => {
                            self.filled[i] = 0;
                            self.clients.reconnect(&mut self.io, i, now);
                            return false;
                        }
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.clients.lost(&mut self.io, i, Lost::Reset);
                    return false;
                }
            }
        }
    }
}
