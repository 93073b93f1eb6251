//! `xdptcp hold`: many concurrent connections over kernel sockets, the client side of the
//! memory and SYN-flood lab proofs (issues 12 and 17).
//!
//! Three phases on one mio event loop:
//! 1. **open**: at most `in_flight` connects at a time, spread round-robin over the source
//!    addresses (each socket bound to its source and a port of its own from `ports`); each
//!    connection, once
//!    connected, sends one message of a known pattern and reads it back, byte-exact;
//! 2. **hold**: every connection that echoed stays open for the hold time or until the stop
//!    flag is set (SIGINT/SIGTERM in the CLI, so a test can hold several client processes'
//!    connections at once and end them together); one that the server ends meanwhile is an
//!    error;
//! 3. **close**: each held connection half-closes and waits for the server's FIN (again at
//!    most `in_flight` at a time), then its socket is closed.
//!
//! Connect time runs from `connect()` to the socket reporting writable (the handshake); a
//! connection that neither echoes nor closes within `timeout` counts as a timeout.

use super::describe;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Socket, Type};
use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// One run's settings.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    pub target: SocketAddr,
    /// Local addresses to connect from, round-robin (empty: the kernel's choice).
    pub sources: Vec<IpAddr>,
    /// Local ports, with `sources`: connection `i` binds port `start + i / sources.len()`.
    /// Explicit ports, because the kernel's search for a free one when binding port 0 slows
    /// down as the range fills (it was the client's, not the server's, time at 100,000).
    pub ports: RangeInclusive<u16>,
    pub conns: usize,
    /// Bytes of the one message each connection echoes.
    pub size: usize,
    /// Connects (and closes) in progress at once.
    pub in_flight: usize,
    /// How long to hold at most; a set `stop` flag ends the hold sooner.
    pub hold: Duration,
    /// Longest a connect-and-echo or a close may take.
    pub timeout: Duration,
    /// Poll without sleeping in the open and close phases. A Linux server reached over a
    /// veth from the same machine answers a SYN in softirq inside the client's own
    /// `connect()`, so the socket is writable before the client first polls; a server that
    /// answers from another core (a user-space stack, or any remote host) makes a sleeping
    /// client wait for a scheduler wake-up on its own core as well, which on a shared core
    /// is milliseconds. Spinning takes that out for every server alike, so connect times
    /// measure the server and the path.
    pub busy_poll: bool,
}

/// What happened, by phase.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HoldReport {
    pub conns: usize,
    /// Connections that completed their handshake.
    pub connected: usize,
    /// Of those, the ones whose echo came back byte-exact (and were then held).
    pub held: usize,
    /// Held connections the server ended during the hold.
    pub lost_while_held: usize,
    /// Held connections that closed cleanly (our FIN, then the server's).
    pub closed: usize,
    pub errors: Errors,
    /// Handshake times of the connections that connected, microseconds.
    pub connect_p50_us: u64,
    pub connect_p99_us: u64,
    pub connect_max_us: u64,
    pub open_secs: f64,
    pub close_secs: f64,
}

/// Failures by kind; a connection counts once, in the first that hit it.
#[derive(Debug, Clone, Copy, Default, serde::Serialize)]
pub struct Errors {
    /// `connect` failed or the handshake was refused.
    pub connect: usize,
    /// Reset or other socket error after the handshake.
    pub io: usize,
    /// Connect-and-echo or close not done in time.
    pub timeout: usize,
    /// Echoed bytes differed, or data arrived where none was due.
    pub mismatch: usize,
}

impl Errors {
    pub fn total(&self) -> usize {
        self.connect + self.io + self.timeout + self.mismatch
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    NotStarted,
    Connecting,
    Echoing,
    Held,
    Closing,
    Done,
    Failed,
}

/// One connection: its socket, where it is, and how far the echo came.
struct Conn {
    stream: Option<TcpStream>,
    phase: Phase,
    started: Instant,
    sent: usize,
    echoed: usize,
}

/// The pattern byte at `offset` of connection `i`'s message (differs between connections,
/// so a reply on the wrong connection is caught).
fn pattern(i: usize, offset: usize) -> u8 {
    (i.wrapping_mul(131).wrapping_add(offset.wrapping_mul(7)) % 251) as u8
}

/// The event loop's state.
struct Run<'a> {
    cfg: &'a HoldConfig,
    poll: Poll,
    conns: Vec<Conn>,
    report: HoldReport,
    connect_us: hdrhistogram::Histogram<u64>,
    /// Connections connecting, echoing or closing: at most `in_flight`.
    active: usize,
    /// Those connections in start order, for their timeouts (the same for all, so the oldest
    /// deadline is at the front); entries that finished are skipped when they reach it.
    busy: VecDeque<usize>,
    message: Vec<u8>,
}

/// Runs the three phases; an error only for set-up failures (a failed connection is counted).
pub fn run(cfg: &HoldConfig, stop: &AtomicBool) -> Result<HoldReport, String> {
    if cfg.conns == 0 || cfg.in_flight == 0 || cfg.size == 0 {
        return Err("hold needs at least one connection, one in flight and a 1-byte message".into());
    }
    let poll = Poll::new().map_err(|e| format!("epoll: {}", describe(&e)))?;
    let connect_us = hdrhistogram::Histogram::new_with_bounds(1, 600_000_000, 3)
        .map_err(|e| format!("histogram: {e}"))?;
    let mut run = Run {
        cfg,
        poll,
        conns: Vec::with_capacity(cfg.conns),
        report: HoldReport { conns: cfg.conns, ..HoldReport::default() },
        connect_us,
        active: 0,
        busy: VecDeque::with_capacity(cfg.in_flight),
        message: vec![0; cfg.size],
    };
    run.conns.resize_with(cfg.conns, || Conn {
        stream: None,
        phase: Phase::NotStarted,
        started: Instant::now(),
        sent: 0,
        echoed: 0,
    });
    let mut events = Events::with_capacity(1024);
    let t0 = Instant::now();
    run.open_phase(&mut events)?;
    run.report.open_secs = t0.elapsed().as_secs_f64();
    run.report.connect_p50_us = run.connect_us.value_at_quantile(0.50);
    run.report.connect_p99_us = run.connect_us.value_at_quantile(0.99);
    run.report.connect_max_us = run.connect_us.max();
    println!(
        "held {} of {} (connect p50 {} us, p99 {} us, max {} us; {} errors) in {:.1} s",
        run.report.held,
        cfg.conns,
        run.report.connect_p50_us,
        run.report.connect_p99_us,
        run.report.connect_max_us,
        run.report.errors.total(),
        run.report.open_secs
    );
    run.hold_phase(&mut events, stop)?;
    let t1 = Instant::now();
    run.close_phase(&mut events)?;
    run.report.close_secs = t1.elapsed().as_secs_f64();
    Ok(run.report)
}

impl Run<'_> {
    fn open_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let mut next = 0;
        loop {
            while next < self.cfg.conns && self.active < self.cfg.in_flight {
                self.start(next);
                next += 1;
            }
            if next == self.cfg.conns && self.active == 0 {
                return Ok(());
            }
            self.turn(events, Duration::from_millis(50))?;
            self.expire();
        }
    }

    fn hold_phase(&mut self, events: &mut Events, stop: &AtomicBool) -> Result<(), String> {
        let until = Instant::now() + self.cfg.hold;
        while let Some(left) = until.checked_duration_since(Instant::now()) {
            if stop.load(Ordering::Relaxed) {
                break;
            }
            self.turn(events, left.min(Duration::from_millis(200)))?;
        }
        Ok(())
    }

    fn close_phase(&mut self, events: &mut Events) -> Result<(), String> {
        let mut next = 0;
        loop {
            while next < self.conns.len() && self.active < self.cfg.in_flight {
                if self.conns[next].phase == Phase::Held {
                    self.begin_close(next);
                }
                next += 1;
            }
            if next == self.conns.len() && self.active == 0 {
                return Ok(());
            }
            self.turn(events, Duration::from_millis(50))?;
            self.expire();
        }
    }

    /// One poll and the handling of its events.
    fn turn(&mut self, events: &mut Events, wait: Duration) -> Result<(), String> {
        let wait = if self.cfg.busy_poll { Duration::ZERO } else { wait };
        match self.poll.poll(events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            Err(e) => return Err(format!("epoll_wait: {}", describe(&e))),
        }
        for ev in events.iter() {
            self.on_event(ev.token().0);
        }
        Ok(())
    }

    /// Opens connection `i` (non-blocking connect from its source address).
    fn start(&mut self, i: usize) {
        let now = Instant::now();
        self.conns[i].started = now;
        match self.connect(i) {
            Ok(mut s) => {
                let ok = self
                    .poll
                    .registry()
                    .register(&mut s, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .is_ok();
                self.conns[i].stream = Some(s);
                if ok {
                    self.set_phase(i, Phase::Connecting);
                    self.busy.push_back(i);
                } else {
                    self.fail(i, |e| e.connect += 1);
                }
            }
            Err(_) => self.fail(i, |e| e.connect += 1),
        }
    }

    fn connect(&self, i: usize) -> io::Result<TcpStream> {
        let socket = Socket::new(Domain::for_address(self.cfg.target), Type::STREAM, None)?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if !self.cfg.sources.is_empty() {
            let src = self.cfg.sources[i % self.cfg.sources.len()];
            let port = usize::from(*self.cfg.ports.start()) + i / self.cfg.sources.len();
            let port = u16::try_from(port)
                .ok()
                .filter(|p| self.cfg.ports.contains(p))
                .ok_or_else(|| io::Error::new(io::ErrorKind::AddrNotAvailable, "no port left"))?;
            // A port left in TIME-WAIT by an earlier run is no obstacle to a new connection.
            socket.set_reuse_address(true)?;
            socket.bind(&SocketAddr::new(src, port).into())?;
        }
        match socket.connect(&self.cfg.target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) => {}
            Err(e) => return Err(e),
        }
        Ok(TcpStream::from_std(socket.into()))
    }

    fn on_event(&mut self, i: usize) {
        match self.conns[i].phase {
            Phase::Connecting => self.on_connecting(i),
            Phase::Echoing => self.on_echoing(i),
            Phase::Held => self.on_held(i),
            Phase::Closing => self.on_closing(i),
            Phase::NotStarted | Phase::Done | Phase::Failed => {}
        }
    }

    fn on_connecting(&mut self, i: usize) {
        let Some(s) = &self.conns[i].stream else { return };
        // Writable with no pending error and a peer address: the handshake is done.
        match (s.take_error(), s.peer_addr()) {
            (Ok(None), Ok(_)) => {}
            (Ok(None), Err(e)) if e.kind() == io::ErrorKind::NotConnected => return,
            _ => return self.fail(i, |e| e.connect += 1),
        }
        let us = self.conns[i].started.elapsed().as_micros().max(1) as u64;
        let _ = self.connect_us.record(us.min(self.connect_us.high()));
        self.report.connected += 1;
        self.set_phase(i, Phase::Echoing);
        self.on_echoing(i);
    }

    fn on_echoing(&mut self, i: usize) {
        let size = self.cfg.size;
        if self.conns[i].sent < size {
            for (k, b) in self.message.iter_mut().enumerate() {
                *b = pattern(i, k);
            }
        }
        let c = &mut self.conns[i];
        let Some(s) = c.stream.as_mut() else { return };
        while c.sent < size {
            match s.write(&self.message[c.sent..]) {
                Ok(n) => c.sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, |e| e.io += 1),
            }
        }
        let mut buf = [0u8; 2048];
        loop {
            match s.read(&mut buf) {
                Ok(0) => return self.fail(i, |e| e.io += 1),
                Ok(n) => {
                    let fits = c.echoed + n <= size;
                    let same =
                        buf[..n].iter().enumerate().all(|(k, b)| *b == pattern(i, c.echoed + k));
                    if !(fits && same) {
                        return self.fail(i, |e| e.mismatch += 1);
                    }
                    c.echoed += n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, |e| e.io += 1),
            }
        }
        if c.echoed == size {
            self.report.held += 1;
            self.set_phase(i, Phase::Held);
        }
    }

    /// An event on a held connection: only the server ending it can cause one that matters.
    fn on_held(&mut self, i: usize) {
        let Some(s) = self.conns[i].stream.as_mut() else { return };
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Ok(0) | Err(_) => {
                self.report.lost_while_held += 1;
                self.fail(i, |e| e.io += 1);
            }
            Ok(_) => self.fail(i, |e| e.mismatch += 1),
        }
    }

    fn begin_close(&mut self, i: usize) {
        self.conns[i].started = Instant::now();
        self.set_phase(i, Phase::Closing);
        self.busy.push_back(i);
        let shut = self.conns[i].stream.as_ref().map(|s| s.shutdown(std::net::Shutdown::Write));
        match shut {
            Some(Ok(())) => self.on_closing(i),
            _ => self.fail(i, |e| e.io += 1),
        }
    }

    /// Waits for the server's FIN after ours.
    fn on_closing(&mut self, i: usize) {
        let Some(s) = self.conns[i].stream.as_mut() else { return };
        let mut buf = [0u8; 64];
        loop {
            match s.read(&mut buf) {
                Ok(0) => {
                    self.report.closed += 1;
                    self.finish(i, Phase::Done);
                    return;
                }
                Ok(_) => return self.fail(i, |e| e.mismatch += 1),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(i, |e| e.io += 1),
            }
        }
    }

    /// Fails the connections at the front of the work queue whose time is up, and drops the
    /// entries of those no longer at work.
    fn expire(&mut self) {
        let now = Instant::now();
        while let Some(&i) = self.busy.front() {
            let c = &self.conns[i];
            if !at_work(c.phase) {
                self.busy.pop_front();
            } else if now.duration_since(c.started) > self.cfg.timeout {
                self.fail(i, |e| e.timeout += 1);
            } else {
                return;
            }
        }
    }

    fn fail(&mut self, i: usize, count: impl FnOnce(&mut Errors)) {
        count(&mut self.report.errors);
        self.finish(i, Phase::Failed);
    }

    /// Ends connection `i` in `phase`: deregistered and closed.
    fn finish(&mut self, i: usize, phase: Phase) {
        if let Some(mut s) = self.conns[i].stream.take() {
            let _ = self.poll.registry().deregister(&mut s);
        }
        self.set_phase(i, phase);
    }

    /// Moves connection `i` to `phase`, keeping the count of connections at work.
    fn set_phase(&mut self, i: usize, phase: Phase) {
        let was = at_work(self.conns[i].phase);
        self.conns[i].phase = phase;
        match (was, at_work(phase)) {
            (false, true) => self.active += 1,
            (true, false) => self.active -= 1,
            _ => {}
        }
    }
}

/// Whether a connection in `phase` takes one of the `in_flight` places (and has a deadline).
fn at_work(phase: Phase) -> bool {
    matches!(phase, Phase::Connecting | Phase::Echoing | Phase::Closing)
}

/// `EINPROGRESS` on Linux: a non-blocking connect under way.
const EINPROGRESS: i32 = 115;

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{TcpListener, TcpStream as StdStream};

    /// A loopback server that answers every byte with `answer(byte)` until EOF, then closes.
    fn server(answer: fn(u8) -> u8) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s): io::Result<StdStream> = stream else { return };
                std::thread::spawn(move || {
                    let mut buf = [0u8; 256];
                    while let Ok(n) = s.read(&mut buf) {
                        if n == 0 {
                            return;
                        }
                        buf[..n].iter_mut().for_each(|b| *b = answer(*b));
                        if s.write_all(&buf[..n]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        addr
    }

    fn config(target: SocketAddr, conns: usize) -> HoldConfig {
        HoldConfig {
            target,
            sources: vec!["127.0.0.1".parse().unwrap()],
            // Ports of this test process's own choosing, above the kernel's ephemeral range
            // (32768-60999): a test server's listener, bound to port 0, takes its port from
            // that range, and a client port equal to a listening one cannot be bound (one
            // connect in 64 failed that way). Another run's may linger in TIME-WAIT, which
            // SO_REUSEADDR allows.
            ports: 61_000 + (std::process::id() % 2_000) as u16..=65_535,
            conns,
            size: 100,
            in_flight: 16,
            hold: Duration::from_millis(100),
            timeout: Duration::from_secs(5),
            busy_poll: false,
        }
    }

    /// The spinning client does the same work (it only never sleeps in `epoll_wait`).
    #[test]
    fn busy_polling_echoes_holds_and_closes_every_connection() {
        let mut cfg = config(server(|b| b), 16);
        cfg.busy_poll = true;
        let r = run(&cfg, &AtomicBool::new(false)).unwrap();
        assert_eq!((r.connected, r.held, r.closed, r.lost_while_held), (16, 16, 16, 0), "{r:?}");
        assert_eq!(r.errors.total(), 0, "{r:?}");
    }

    #[test]
    fn echoes_hold_and_close_every_connection() {
        let r = run(&config(server(|b| b), 64), &AtomicBool::new(false)).unwrap();
        assert_eq!((r.connected, r.held, r.closed, r.lost_while_held), (64, 64, 64, 0), "{r:?}");
        assert_eq!(r.errors.total(), 0, "{r:?}");
        assert!(r.connect_p50_us > 0 && r.connect_p99_us <= r.connect_max_us, "{r:?}");
    }

    #[test]
    fn a_wrong_echo_is_a_mismatch_not_a_held_connection() {
        let r = run(&config(server(|b| b ^ 1), 8), &AtomicBool::new(false)).unwrap();
        assert_eq!((r.connected, r.held, r.closed), (8, 0, 0), "{r:?}");
        assert_eq!(r.errors.mismatch, 8, "{r:?}");
    }

    #[test]
    fn a_refused_connect_is_a_connect_error() {
        // A port nobody listens on: bind one, note it, close it.
        let target = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
        let r = run(&config(target, 4), &AtomicBool::new(false)).unwrap();
        assert_eq!((r.connected, r.held, r.errors.connect), (0, 0, 4), "{r:?}");
    }
}
