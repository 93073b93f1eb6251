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
//! What each connection does is `loadgen::clients`, shared with `linux::load`; this file is
//! only the stack below it.

use crate::loadgen::clients::{our_dur, Broken, Clients, Lost, Next, Phase, Transport};
use crate::loadgen::{LoadConfig, MergedProgress, Stats, Workload};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use xdptcp_driver::service::{source_ready, SourceReady};
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

/// A connection's user data: its client slot, and the handle it had (a slot moves on to a
/// new connection while the old one closes).
pub type Slot = (usize, TcpHandle);

/// The worker's stack under [`Clients`], for the length of one callback.
struct StackIo<'a, 'cx> {
    cx: &'a mut Cx<'cx>,
    target: SocketAddr,
    conns: &'a mut ClientConns,
}

/// Which connection each client has now.
#[derive(Debug, Default)]
struct ClientConns {
    /// Per client: its current connection.
    handles: Vec<Option<TcpHandle>>,
    /// Connections still in their handshake, with their client slot.
    connecting: Conns<usize>,
    /// Per client, set by `on_data` (which cannot touch the stack) for `on_writable`.
    next: Vec<Next>,
}

impl Transport for StackIo<'_, '_> {
    fn connect(&mut self, i: usize) -> bool {
        let (now, c) = (self.cx.now(), &mut *self.conns);
        c.handles[i] = None;
        c.next[i] = Next::Continue;
        let stack = self.cx.stack();
        let config = *stack.tcp_config();
        let Ok(h) = stack.tcp_connect_to(now, self.target, config) else {
            return false;
        };
        let _ = stack.tcp_set_nodelay(h, true);
        c.handles[i] = Some(h);
        c.connecting.insert(h, i);
        true
    }

    fn abort(&mut self, i: usize) {
        if let Some(h) = self.conns.handles[i].take() {
            let _ = self.cx.stack().tcp_abort(h);
        }
    }

    /// FIN; TIME-WAIT is the stack's. Unread data turns this into a reset (RFC 1122
    /// §4.2.2.13), like close(2).
    fn close(&mut self, i: usize) {
        if let Some(h) = self.conns.handles[i].take() {
            let _ = self.cx.stack().tcp_close(h);
        }
    }

    fn send(&mut self, i: usize, data: &[u8]) -> Result<usize, Broken> {
        let h = self.conns.handles[i].ok_or(Broken)?;
        self.cx.send(h, data).map_err(|_| Broken)
    }

    /// Fills the send buffer in place.
    fn send_filler(&mut self, i: usize) -> Result<usize, Broken> {
        let h = self.conns.handles[i].ok_or(Broken)?;
        self.cx
            .write(h, |room| {
                room.fill(0x5a);
                room.len()
            })
            .map_err(|_| Broken)
    }
}

/// The load generator on one worker's stack.
#[derive(Debug)]
pub struct StackLoad {
    target: SocketAddr,
    workload: Workload,
    duration: Duration,
    clients: Clients,
    conns: ClientConns,
    start: Instant,
    next_progress: Instant,
    last_progress: Instant,
    done: bool,
    /// Why the run could not start (no source address: duplicate address detection failed).
    failed: Option<String>,
    /// Progress lines, handed to the caller's sink.
    progress: fn(String),
    /// With several workers, this one's share of the run: its intervals go to the merged
    /// progress of all shares (one line a second for the whole run), numbered from 0.
    share: Option<Share>,
    elapsed: std::time::Duration,
}

/// One worker's part in a multi-queue run's progress.
#[derive(Debug)]
struct Share {
    merged: Arc<Mutex<MergedProgress>>,
    next_tick: u64,
}

fn std_dur(d: Duration) -> std::time::Duration {
    std::time::Duration::from_nanos(d.total_nanos())
}

impl StackLoad {
    /// A load run; `progress` receives one status line a second.
    pub fn new(cfg: LoadConfig, progress: fn(String)) -> Result<StackLoad, String> {
        let clients = Clients::new(cfg.plan(), cfg.conns)?;
        let conns = ClientConns {
            handles: vec![None; cfg.conns],
            connecting: Conns::default(),
            next: vec![Next::Continue; cfg.conns],
        };
        Ok(StackLoad {
            target: cfg.target,
            workload: cfg.workload,
            duration: our_dur(cfg.duration),
            clients,
            conns,
            start: Instant::ZERO,
            next_progress: Instant::ZERO,
            last_progress: Instant::ZERO,
            done: false,
            failed: None,
            progress,
            share: None,
            elapsed: std::time::Duration::ZERO,
        })
    }

    /// The same run as one share of several workers': its progress goes to `merged`, which
    /// prints a line once every share has measured the interval.
    pub fn share(mut self, merged: Arc<Mutex<MergedProgress>>) -> StackLoad {
        self.share = Some(Share { merged, next_tick: 0 });
        self
    }

    /// What was measured.
    pub fn stats(&self) -> &Stats {
        &self.clients.stats
    }

    /// Why the run never started, if it did not (a one-line error).
    pub fn failed(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    /// How long the measured part lasted.
    pub fn elapsed(&self) -> std::time::Duration {
        self.elapsed
    }

    /// Whether `h` is client `i`'s connection now.
    fn current(&self, (i, h): Slot) -> bool {
        self.conns.handles.get(i).is_some_and(|c| *c == Some(h))
    }

    /// The clients and the stack under them, for one call.
    fn split<'a, 'cx>(&'a mut self, cx: &'a mut Cx<'cx>) -> (&'a mut Clients, StackIo<'a, 'cx>) {
        let io = StackIo { cx, target: self.target, conns: &mut self.conns };
        (&mut self.clients, io)
    }

    fn begin(&mut self, cx: &mut Cx<'_>) {
        let now = cx.now();
        // Over IPv6, the first connect waits for duplicate address detection.
        match source_ready(cx.stack().iface().ipv6(), now, self.target) {
            SourceReady::Ready => {}
            SourceReady::RetryAt(at) => {
                cx.arm_timer(at, BEGIN);
                return;
            }
            SourceReady::Failed(why) => {
                self.failed = Some(why);
                self.done = true;
                return;
            }
        }
        self.start = now;
        self.next_progress = now + Duration::from_secs(1);
        self.last_progress = now;
        cx.arm_timer(now + self.duration, END);
        cx.arm_timer(now + HOUSEKEEPING, TIDY);
        cx.arm_timer(self.next_progress, PROGRESS);
        if self.clients.next_send().is_some() {
            cx.arm_timer(now, SEND);
        }
        // Every client at once, as a user's would: their SYNs wait together for the server's
        // address to resolve (the interface's pending queue holds 338 of them).
        let (clients, mut io) = self.split(cx);
        clients.begin(&mut io, now);
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.done = true;
        self.elapsed = std_dur(cx.now().saturating_duration_since(self.start));
        self.clients.finish();
        let (_, mut io) = self.split(cx);
        for i in 0..io.conns.handles.len() {
            io.close(i);
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
        let i = self.conns.connecting.remove(h)?;
        if self.conns.handles[i] != Some(h) {
            return None; // a slot that moved on (timed out) while this one connected
        }
        self.clients.on_connected(i, cx.now());
        Some((i, h)) // the host calls `on_writable` next, which sends
    }

    fn on_data(&mut self, now: Instant, slot: &mut Slot, input: &[u8], _: &mut Vec<u8>) -> usize {
        if !self.current(*slot) {
            return input.len(); // a closed connection drains
        }
        let (used, next) = self.clients.on_input(slot.0, now, input);
        if next != Next::Continue {
            self.conns.next[slot.0] = next;
        }
        used
    }

    /// After every read (and when send space frees): what the answers asked for.
    fn on_writable(&mut self, cx: &mut Cx<'_>, slot: &mut Slot, _h: TcpHandle) {
        if !self.current(*slot) {
            return;
        }
        let i = slot.0;
        let now = cx.now();
        let next = std::mem::replace(&mut self.conns.next[i], Next::Continue);
        let (clients, mut io) = self.split(cx);
        match next {
            Next::Broken => clients.fail(&mut io, i),
            Next::Reconnect => clients.reconnect(&mut io, i, now),
            Next::Continue => clients.flush(&mut io, i),
        }
    }

    fn closed(&mut self, cx: &mut Cx<'_>, h: TcpHandle, slot: Option<Slot>, why: Event) {
        let i = match slot {
            Some(s) if self.current(s) => s.0,
            Some(_) => return,
            // A connect that never completed.
            None => match self.conns.connecting.remove(h) {
                Some(i) if self.conns.handles[i] == Some(h) => i,
                _ => return,
            },
        };
        self.conns.handles[i] = None;
        let connecting = self.clients.phase(i) == Phase::Connecting;
        let lost = match why {
            Event::Refused | Event::TimedOut if connecting => Lost::Connect,
            _ => Lost::Reset,
        };
        let (clients, mut io) = self.split(cx);
        clients.lost(&mut io, i, lost);
    }

    fn on_timer(&mut self, cx: &mut Cx<'_>, token: u64) {
        let now = cx.now();
        let running = self.clients.running();
        match token {
            BEGIN if !self.done => self.begin(cx),
            END if running => self.finish(cx),
            TIDY if running => {
                let (clients, mut io) = self.split(cx);
                clients.housekeeping(&mut io, now);
                cx.arm_timer(now + HOUSEKEEPING, TIDY);
            }
            PROGRESS if running => {
                let iv = self.clients.stats.take_interval();
                let elapsed = std_dur(now.saturating_duration_since(self.start));
                let interval = std_dur(now.saturating_duration_since(self.last_progress));
                let line = match &mut self.share {
                    None => Some(iv.line(self.workload, elapsed, interval)),
                    Some(share) => {
                        let tick = share.next_tick;
                        share.next_tick += 1;
                        let mut m = share.merged.lock().unwrap_or_else(|e| e.into_inner());
                        m.add(tick, iv, elapsed, interval)
                    }
                };
                if let Some(line) = line {
                    (self.progress)(line);
                }
                self.last_progress = now;
                self.next_progress += Duration::from_secs(1);
                cx.arm_timer(self.next_progress, PROGRESS);
            }
            SEND if running => {
                let (clients, mut io) = self.split(cx);
                clients.send_due(&mut io, now);
                if let Some(next) = clients.next_send() {
                    cx.arm_timer(next, SEND);
                }
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
            target: SocketAddr::from((B, 7001)),
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

    /// [`run`], also returning the load's stack's SYN retransmissions, packets dropped waiting
    /// for ARP and packets dropped for want of room in the interface's transmit queue.
    fn run_counting(cfg: LoadConfig) -> (Stats, std::time::Duration, usize, (u64, u64, u64)) {
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
        let iface = w.stack().iface().counters();
        let lost =
            (w.stack().tcp_counters().retrans_segs, iface.arp_queue_full, iface.tx_queue_full);
        (load.stats().clone(), load.elapsed(), p.app().counters().opened as usize, lost)
    }

    const A6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);
    const B6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);

    /// A stack with an IPv6 address (detection on, as a worker's: a delay then one probe).
    fn stack6(
        dev: &impl xdptcp_driver::Device,
        last: u8,
        v4: std::net::Ipv4Addr,
        v6: std::net::Ipv6Addr,
    ) -> xdptcp_stack::stack::Stack {
        use xdptcp_driver::setup::{stack_config, Addressing};
        let mac = [2, 0, 0, 0, 0, last];
        let ipv6 = vec![xdptcp_stack::iface::Ipv6Cidr::new(v6, 64)];
        let addressing = Addressing { mac, addr: v4, prefix_len: 24, gateway: None, ipv6 };
        let keys = xdptcp_stack::stack::StackKeys::from_seed(u64::from(last));
        xdptcp_stack::stack::Stack::new(stack_config(dev, addressing, keys), Instant::ZERO)
    }

    /// An rr load from `client6` to the echo at B6 over IPv6, in 1 ms steps (detection takes
    /// a second or two): the load's stack and service once it finished.
    fn run6(client6: std::net::Ipv6Addr) -> Worker<xdptcp_driver::LoopbackEnd, Host<StackLoad>> {
        use xdptcp_driver::App as _;
        let (a, b) = LoopbackPair::default().build();
        let cfg = LoadConfig { target: SocketAddr::from((B6, 7001)), ..cfg(Workload::Rr, 2) };
        let stack = stack6(&a, 2, A, client6);
        let mut w = Worker::new(a, stack, Host::new(StackLoad::new(cfg, |_| {}).expect("valid")));
        let stack = stack6(&b, 1, B, B6);
        let mut p = Worker::new(b, stack, Host::new(Echo::new(7001).with_backlog(64)));
        p.start().expect("listens");
        let mut now = Instant::from_millis(1);
        for _ in 0..10_000 {
            w.run_once(now);
            p.run_once(now);
            if w.app().finished() {
                return w;
            }
            now += Duration::from_millis(1);
        }
        panic!("the run did not end");
    }

    /// Before detection has made our address preferred, `tcp_connect_to` has no source: the
    /// load waits for it (no connect fails, no SYN is retransmitted) and then runs over IPv6.
    #[test]
    fn rr_over_ipv6_waits_for_address_detection_then_runs() {
        let w = run6(A6);
        let load = w.app().service();
        assert_eq!(load.failed(), None);
        let s = load.stats();
        assert!(s.completed > 5, "completed {}, errors {:?}", s.completed, s.errors);
        assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
        assert_eq!(s.bytes, s.completed * 128);
        assert_eq!(w.stack().tcp_counters().retrans_segs, 0, "a SYN waited out a timeout");
        assert_eq!(w.stack().iface().counters().ndp_dad_succeeded, 2, "link-local and A6");
        let h = w.app().conns().next().expect("a connection open at the end").0;
        let (local, remote) = w.stack().tcp_addrs(h).expect("open");
        assert_eq!((local.ip(), remote), (A6.into(), SocketAddr::from((B6, 7001))));
    }

    /// Our address is the server's: detection finds the duplicate, and the run ends at once
    /// with a one-line reason instead of connecting from an address another node has.
    #[test]
    fn a_duplicate_ipv6_address_ends_the_run_with_one_line() {
        let w = run6(B6);
        let why = w.app().service().failed().expect("the run failed").to_string();
        assert!(why.contains("2001:db8::1 is already in use on the link"), "{why}");
        assert!(!why.contains('\n'));
        assert_eq!(w.app().service().stats().completed, 0);
    }

    /// Every client connects at once, as a user's clients would, and all their SYNs meet an
    /// unresolved server address. With a pending queue of 3 packets per neighbour this lost
    /// all but three SYNs to a whole 1 s retransmission (a 2 s crr run of 8 slots ran on 3 for
    /// its first half), and the load generator opened one connection first to hide it; with
    /// the queue bounded in bytes (338 SYNs) and the released packets no longer cut at the
    /// 64-frame transmit queue, 100 connections start together and no SYN is lost.
    #[test]
    fn every_client_connects_at_once_without_losing_its_syn_to_arp() {
        let (s, _, accepted, lost) = run_counting(cfg(Workload::Rr, 100));
        assert_eq!(lost, (0, 0, 0), "SYNs retransmitted, dropped waiting for ARP, released");
        assert_eq!(s.errors.total(), 0, "{:?}", s.errors);
        assert_eq!(accepted, 100);
        assert!(s.completed >= 100, "{s:?}");
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
