//! `xdptcp load --stack xdptcp`: the load generator as a [`Service`] of one worker, so the
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
//! Responses are parsed where they lie in the receive buffer (the host copies only one that
//! straddles two pieces of it). Each connection's user data is its client slot; the run's
//! phases (begin, end, housekeeping, progress, open-loop sends) are the service's timers.

use crate::loadgen::rr::RrClient;
use crate::loadgen::{Stats, Workload};
use std::collections::VecDeque;
use std::net::SocketAddrV4;
use xdptcp_driver::service::{Conns, Cx, Service};
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::{Duration, Instant};

/// How often timeouts are checked and failed connections re-opened.
const HOUSEKEEPING: Duration = Duration::from_millis(100);
/// Pause between the worker's start and the first connect (see `start`).
const START_DELAY: Duration = Duration::from_millis(20);

/// The service's timers.
const BEGIN: u64 = 0;
const END: u64 = 1;
const TIDY: u64 = 2;
const PROGRESS: u64 = 3;
const SEND: u64 = 4;

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
    /// Whole requests queued but not yet fully in the send buffer, and how much of the first
    /// one is already there.
    queued: usize,
    queued_off: usize,
    /// Send (or scheduled) times of unanswered requests, oldest first.
    outstanding: VecDeque<Instant>,
    started: Instant,
    rr: RrClient,
    /// crr: the answer came; close and open the next connection.
    reconnect: bool,
    /// The server sent something that is not an answer: reset the connection.
    broken: bool,
}

/// A connection's user data: its client slot, and the handle it had (a slot moves on to a
/// new connection while the old one closes).
pub type Slot = (usize, TcpHandle);

/// The load generator on one worker's stack.
#[derive(Debug)]
pub struct StackLoad {
    cfg: LoadConfig,
    clients: Vec<Client>,
    /// Connections still in their handshake, with their client slot.
    connecting: Conns<usize>,
    stats: Stats,
    start: Instant,
    next_progress: Instant,
    last_progress: Instant,
    interval: Option<Duration>,
    next_send: Instant,
    round_robin: usize,
    running: bool,
    /// Only the first slot has connected so far (`begin`): the others wait for it.
    first_only: bool,
    done: bool,
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
        let clients = (0..cfg.conns)
            .map(|_| Client {
                handle: None,
                phase: Phase::Idle,
                queued: 0,
                queued_off: 0,
                outstanding: VecDeque::new(),
                started: Instant::ZERO,
                rr: RrClient::new(cfg.size),
                reconnect: false,
                broken: false,
            })
            .collect();
        let interval = cfg.rate.map(|r| our_dur(std::time::Duration::from_secs_f64(1.0 / r)));
        Ok(StackLoad {
            cfg,
            clients,
            connecting: Conns::default(),
            stats: Stats::new(),
            start: Instant::ZERO,
            next_progress: Instant::ZERO,
            last_progress: Instant::ZERO,
            interval,
            next_send: Instant::ZERO,
            round_robin: 0,
            running: false,
            first_only: false,
            done: false,
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

    /// Whether `h` is client `i`'s connection now.
    fn current(&self, (i, h): Slot) -> bool {
        self.clients.get(i).is_some_and(|c| c.handle == Some(h))
    }

    fn connect(&mut self, cx: &mut Cx<'_>, i: usize) {
        let now = cx.now();
        let c = &mut self.clients[i];
        c.queued = 0;
        c.queued_off = 0;
        c.outstanding.clear();
        c.started = now;
        c.handle = None;
        c.phase = Phase::Idle;
        c.reconnect = false;
        c.broken = false;
        let stack = cx.stack();
        match stack.tcp_connect(now, *self.cfg.target.ip(), self.cfg.target.port()) {
            Ok(h) => {
                let _ = stack.tcp_set_nodelay(h, true);
                c.handle = Some(h);
                c.phase = Phase::Connecting;
                self.connecting.insert(h, i);
            }
            Err(_) => self.stats.errors.connect += 1,
        }
    }

    /// Drops client `i`'s connection after an error (RST); re-opened by housekeeping.
    fn fail(&mut self, cx: &mut Cx<'_>, i: usize) {
        let c = &mut self.clients[i];
        if let Some(h) = c.handle.take() {
            let _ = cx.stack().tcp_abort(h);
        }
        c.phase = Phase::Idle;
        c.outstanding.clear();
    }

    fn queue_request(&mut self, i: usize, at: Instant) {
        let c = &mut self.clients[i];
        c.queued += 1;
        c.outstanding.push_back(at);
    }

    /// Writes queued requests, or bulk data (in place), as far as the send buffer takes.
    fn flush(&mut self, cx: &mut Cx<'_>, i: usize) {
        let Some(h) = self.clients[i].handle else { return };
        if self.cfg.workload == Workload::Bulk {
            while self.running {
                match cx.write(h, |room| {
                    room.fill(0x5a);
                    room.len()
                }) {
                    Ok(0) => return,
                    Ok(n) => self.stats.add_bytes(n as u64),
                    Err(_) => {
                        self.stats.errors.reset += 1;
                        self.fail(cx, i);
                        return;
                    }
                }
            }
            return;
        }
        let c = &mut self.clients[i];
        while c.queued > 0 {
            let req = c.rr.request();
            match cx.send(h, &req[c.queued_off..]) {
                Ok(0) => return,
                Ok(n) => {
                    c.queued_off += n;
                    if c.queued_off == req.len() {
                        c.queued_off = 0;
                        c.queued -= 1;
                    }
                }
                Err(_) => {
                    self.stats.errors.reset += 1;
                    self.fail(cx, i);
                    return;
                }
            }
        }
    }

    fn housekeeping(&mut self, cx: &mut Cx<'_>) {
        let (now, timeout) = (cx.now(), our_dur(self.cfg.timeout));
        for i in 0..self.clients.len() {
            let c = &self.clients[i];
            let timed_out = match c.phase {
                Phase::Idle => {
                    self.connect(cx, i);
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
                self.fail(cx, i);
            }
        }
    }

    /// Open loop: one request due at `due` goes to the next client with a connection.
    fn send_scheduled(&mut self, cx: &mut Cx<'_>, due: Instant) {
        let n = self.clients.len();
        for _ in 0..n {
            let i = self.round_robin % n;
            self.round_robin = self.round_robin.wrapping_add(1);
            if self.clients[i].phase != Phase::Idle {
                self.queue_request(i, due);
                if self.clients[i].phase == Phase::Ready {
                    self.flush(cx, i);
                }
                return;
            }
        }
    }

    fn begin(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        self.start = now;
        self.next_progress = now + Duration::from_secs(1);
        self.last_progress = now;
        self.next_send = now;
        self.running = true;
        cx.arm_timer(now + our_dur(self.cfg.duration), END);
        cx.arm_timer(now + HOUSEKEEPING, TIDY);
        cx.arm_timer(self.next_progress, PROGRESS);
        if self.interval.is_some() {
            cx.arm_timer(now, SEND);
        }
        // One connection first: its SYN waits for the server's address to resolve, and the
        // interface holds only 3 packets per neighbour meanwhile (the others' SYNs would be
        // dropped and wait out a 1 s retransmission). The rest open once it is up (`open`),
        // or at the next housekeeping if it fails.
        self.first_only = true;
        self.connect(cx, 0);
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.running = false;
        self.done = true;
        self.elapsed = std_dur(cx.now().saturating_duration_since(self.start));
        for c in &mut self.clients {
            if let Some(h) = c.handle.take() {
                // Unread data turns this into a reset (RFC 1122 §4.2.2.13), like close(2).
                let _ = cx.stack().tcp_close(h);
            }
            c.phase = Phase::Idle;
        }
    }
}

impl Service for StackLoad {
    type Conn = Slot;

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        // `start` runs before the XDP program diverts frames to us, so an ARP reply to a
        // request sent now would go to the kernel and the run would lose a second to the ARP
        // retry; begin a moment later instead.
        let at = cx.now() + START_DELAY;
        cx.arm_timer(at, BEGIN);
        Ok(())
    }

    fn open(&mut self, cx: &mut Cx<'_>, h: TcpHandle) -> Option<Slot> {
        let i = self.connecting.remove(h)?;
        if self.clients[i].handle != Some(h) {
            return None; // a slot that moved on (timed out) while this one connected
        }
        self.clients[i].phase = Phase::Ready;
        if self.running && self.first_only {
            // The first connection is up, so the server's address is resolved: open the
            // slots `begin` left idle.
            self.first_only = false;
            for j in 0..self.clients.len() {
                if self.clients[j].phase == Phase::Idle {
                    self.connect(cx, j);
                }
            }
        }
        if self.running && self.cfg.rate.is_none() && self.cfg.workload != Workload::Bulk {
            // crr measures from the connect; rr from the send.
            let c = &self.clients[i];
            let at = if self.cfg.workload == Workload::Crr { c.started } else { cx.now() };
            self.queue_request(i, at);
        }
        Some((i, h)) // the host calls `on_writable` next, which sends
    }

    fn on_data(&mut self, now: Instant, slot: &mut Slot, input: &[u8], _: &mut Vec<u8>) -> usize {
        if self.cfg.workload == Workload::Bulk || !self.current(*slot) {
            return input.len(); // bulk reads nothing back; a closed connection drains
        }
        let (running, size, i) = (self.running, self.cfg.size, slot.0);
        let c = &mut self.clients[i];
        let (used, count) = match c.rr.on_readable(input) {
            Ok(r) => r,
            Err(_) => {
                self.stats.errors.protocol += 1;
                c.broken = true;
                return input.len();
            }
        };
        for _ in 0..count {
            let Some(sent) = c.outstanding.pop_front() else {
                // An answer to nothing we asked.
                self.stats.errors.protocol += 1;
                c.broken = true;
                return input.len();
            };
            if running {
                self.stats.record(std_dur(now.saturating_duration_since(sent)));
                self.stats.add_bytes(2 * size as u64);
            }
        }
        if count > 0 && running {
            match (self.cfg.workload, self.cfg.rate) {
                (Workload::Rr, None) if c.outstanding.is_empty() => self.queue_request(i, now),
                (Workload::Crr, _) => c.reconnect = true,
                _ => {}
            }
        }
        used
    }

    /// After every read (and when send space frees): what the answers asked for.
    fn on_writable(&mut self, cx: &mut Cx<'_>, slot: &mut Slot, h: TcpHandle) {
        if !self.current(*slot) {
            return;
        }
        let i = slot.0;
        if self.clients[i].broken {
            self.fail(cx, i);
        } else if self.clients[i].reconnect {
            // Done with this connection: close it (FIN; TIME-WAIT is the stack's) and start
            // the next one.
            let _ = cx.stack().tcp_close(h);
            self.connect(cx, i);
        } else if self.clients[i].phase == Phase::Ready {
            self.flush(cx, i);
        }
    }

    fn closed(&mut self, _cx: &mut Cx<'_>, h: TcpHandle, slot: Option<Slot>, why: Event) {
        let i = match slot {
            Some(s) if self.current(s) => s.0,
            Some(_) => return,
            // A connect that never completed.
            None => match self.connecting.remove(h) {
                Some(i) if self.clients[i].handle == Some(h) => i,
                _ => return,
            },
        };
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

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let now = cx.now();
        match token {
            BEGIN if !self.done => self.begin(cx),
            END if self.running => self.finish(cx),
            TIDY if self.running => {
                self.housekeeping(cx);
                cx.arm_timer(now + HOUSEKEEPING, TIDY);
            }
            PROGRESS if self.running => {
                let line = self.stats.progress_line(
                    self.cfg.workload,
                    std_dur(now.saturating_duration_since(self.start)),
                    std_dur(now.saturating_duration_since(self.last_progress)),
                );
                (self.progress)(line);
                self.last_progress = now;
                self.next_progress += Duration::from_secs(1);
                cx.arm_timer(self.next_progress, PROGRESS);
            }
            SEND if self.running => {
                let Some(interval) = self.interval else { return };
                while self.next_send <= now {
                    let due = self.next_send;
                    self.send_scheduled(cx, due);
                    self.next_send = due + interval;
                }
                cx.arm_timer(self.next_send, SEND);
            }
            _ => {}
        }
    }

    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        if !self.done {
            self.finish(cx);
        }
    }

    fn finished(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdptcp_driver::services::Echo;
    use xdptcp_driver::setup::test_stack;
    use xdptcp_driver::worker::Worker;
    use xdptcp_driver::{Host, LoopbackPair};
    use xdptcp_stack::time::Instant;

    const A: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 2);
    const B: std::net::Ipv4Addr = std::net::Ipv4Addr::new(198, 18, 0, 1);

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
        let (stats, elapsed, accepted, _) = run_counting(cfg);
        (stats, elapsed, accepted)
    }

    /// [`run`], also returning the load's stack's SYN retransmissions and packets dropped
    /// waiting for ARP.
    fn run_counting(cfg: LoadConfig) -> (Stats, std::time::Duration, usize, (u64, u64)) {
        use xdptcp_driver::App as _;
        let (a, b) = LoopbackPair::default().build();
        let stack = test_stack(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let mut w = Worker::new(a, stack, Host::new(StackLoad::new(cfg, |_| {}).expect("valid")));
        let stack = test_stack(&b, [2, 0, 0, 0, 0, 1], B, 24);
        let mut p = Worker::new(b, stack, Host::new(Echo::new(7001).with_backlog(64)));
        p.start().expect("listens");
        let mut now = Instant::from_millis(1);
        let mut ended = false;
        for _ in 0..100_000 {
            w.run_once(now);
            p.run_once(now);
            if w.app().finished() {
                ended = true;
                break;
            }
            now += Duration::from_micros(10);
        }
        assert!(ended, "the run did not end");
        let load = w.app().service();
        let lost =
            (w.stack().tcp_counters().retrans_segs, w.stack().iface().counters().arp_queue_full);
        (load.stats().clone(), load.elapsed(), p.app().counters().opened as usize, lost)
    }

    /// The first SYNs meet an unresolved server address, and the interface holds only 3
    /// packets per neighbour waiting for ARP: opening every slot at once lost the others'
    /// SYNs to a whole 1 s retransmission (a 2 s crr run of 8 slots ran on 3 for its first
    /// half). One connection goes first; the rest follow once it is up.
    #[test]
    fn every_slot_starts_without_losing_its_syn_to_arp() {
        let (s, _, accepted, lost) = run_counting(cfg(Workload::Crr, 8));
        assert_eq!(lost, (0, 0), "SYNs retransmitted, packets dropped waiting for ARP");
        assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
        assert!(accepted >= 8 && s.completed >= 8, "{s:?}");
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
