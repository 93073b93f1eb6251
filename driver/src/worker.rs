//! The per-core, run-to-completion worker: one device, one [`Stack`] (which owns the
//! interface), one application.
//!
//! # One iteration ([`Worker::run_once`])
//!
//! 1. **RX**: one batch from the device, its frames (those of other workers' flows steered
//!    away first) given to [`Stack::receive_batch`] together, each parsed in place in the
//!    device's buffer (for AF_XDP, the UMEM frame): ARP, ICMP and UDP are handled by the
//!    interface, TCP payload is copied once, into the connection's receive ring. Taken
//!    together, a batch's connections are looked up and their lines fetched a few frames
//!    ahead of their handling (the staged look-ahead, with the prefetch
//!    [`setup`](crate::setup) configures), which a frame-by-frame receive cannot do.
//! 2. **Timers**: [`Stack::on_timeout`] once [`Stack::poll_timeout`] has passed.
//! 3. **Application**: [`Stack::poll_event`] until empty, each event dispatched to an
//!    [`App`] callback (`on_accept`, `on_connected`, `on_readable`, `on_writable`,
//!    `on_closed`), then [`App::poll`] (UDP, work of its own).
//! 4. **TX**: [`Stack::poll_transmit`] straight into free device buffers (the second and last
//!    payload copy: send ring → frame, checksummed while copying) until it has nothing left or
//!    the device has no buffer; then the batch is flushed (one doorbell).
//! 5. **Next timer**: the earlier of the stack's and the device's own (a fault injector's
//!    delay line): the caller must come back no later than that.
//!
//! `now` is an argument: [`Worker::run`] reads a monotonic clock once per iteration; the
//! stack never reads one. Keys for the stack come from the OS
//! ([`os_random_keys`](crate::setup::os_random_keys)).
//!
//! # When nothing moves ([`IdlePolicy`])
//!
//! A dedicated core busy-polls: every iteration looks at the rings, the lowest latency and a
//! full core whatever the load. [`IdlePolicy::SpinThenWait`] spins only while frames keep
//! coming: after `spin` without a frame the worker blocks in [`Device::wait`] (for AF_XDP,
//! `ppoll` on the socket, woken by the kernel when a frame lands on the RX ring) until the
//! next timer of the stack or the device, at most [`MAX_IDLE_WAIT`]. Under load it never
//! sleeps; at low load it gives the core back between requests, at the price of a wakeup
//! (a few µs) on the first frame after a sleep.
//!
//! A [`Worker`] owns everything it touches, so nothing on this path is shared or locked;
//! [`spawn`](crate::setup::spawn) runs one on a thread pinned to a core, stopped through a crossbeam channel or by
//! SIGINT/SIGTERM ([`crate::signal`]).

use std::sync::Arc;

use crossbeam_channel::{Receiver, TryRecvError};
use xdptcp_stack::iface::Interface;
use xdptcp_stack::stack::{Stack, StackEvent};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

pub use crate::app::{App, AppCopies, NoApp};
use crate::device::{Device, FrameList, MAX_BATCH};
use crate::rss::Rss;
use crate::steering::{SteerCounters, SteerPort};
pub use idle::{idle_wait, IdlePolicy, Idler, MAX_IDLE_WAIT};

/// Counters of the worker loop itself (the stack and the device have their own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Iterations of `run_once`.
    pub iterations: u64,
    /// Frames received from the device.
    pub rx_frames: u64,
    /// Frames handed to the device for transmission.
    pub tx_frames: u64,
    /// Iterations whose TX batch was used up (its size, or no free buffer) while the stack was
    /// still being asked for frames; whatever it still has leaves in the next iteration.
    pub tx_no_buffer: u64,
    /// `on_timeout` calls.
    pub timer_runs: u64,
    /// Events dispatched to the application.
    pub events: u64,
    /// Frames another worker steered here and this one processed.
    pub steered_in: u64,
    /// Frames received here but owned by another worker (handed over or dropped, see the
    /// steering counters).
    pub not_mine: u64,
    /// Copies of ARP replies and IPv6 neighbour advertisements sent to the other workers.
    pub arp_shared: u64,
    /// Times the loop blocked in [`Device::wait`] ([`IdlePolicy::SpinThenWait`]).
    pub idle_waits: u64,
}

/// This worker's share of flow steering: the RSS it computes owners with and its lanes.
#[derive(Debug)]
struct Steer {
    rss: Arc<Rss>,
    port: SteerPort,
}

impl Steer {
    /// Whether this worker keeps a received `frame`: not when its flow belongs to another
    /// worker, which gets a copy (or it is dropped and counted). ARP replies and neighbour
    /// advertisements are kept and copied to every worker: each has its own neighbour cache,
    /// may have asked, and runs its own duplicate address detection.
    fn keeps(&mut self, frame: &[u8], counters: &mut WorkerCounters) -> bool {
        if is_arp_reply(frame) || is_neighbor_advert(frame) {
            counters.arp_shared += self.port.broadcast(frame) as u64;
        } else if let Some(owner) = self.rss.frame_queue(frame) {
            if usize::from(owner) != self.port.me() {
                counters.not_mine += 1;
                self.port.send(usize::from(owner), frame);
                return false;
            }
        }
        true
    }
}

/// Most steered frames a worker processes per iteration (so its own queue is not starved).
const STEER_BUDGET: usize = 256;

/// Payload bytes copied, per direction and stage. A zero-copy path would show only the
/// stack's two stages (frame → receive ring, send ring → frame).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CopyCounters {
    /// RX: frame → receive ring (the stack, once per in-window payload byte).
    pub rx_frame_to_ring: u64,
    /// RX: receive ring → application buffer (0 for a zero-copy reader).
    pub rx_ring_to_app: u64,
    /// TX: application buffer → send ring.
    pub tx_app_to_ring: u64,
    /// TX: send ring → frame (the stack; retransmissions included).
    pub tx_ring_to_frame: u64,
}

/// One device, one stack, one application. See the [module documentation](self).
pub struct Worker<D: Device, A: App> {
    dev: D,
    stack: Stack,
    app: A,
    started: bool,
    /// The worker's monotonic clock: one epoch for its whole life, so `now` never goes back
    /// between `run` and `drain`.
    clock: Clock,
    counters: WorkerCounters,
    steer: Option<Steer>,
    /// The RX batch's handles, kept from turn to turn ([`Device::rx_batch`]).
    rx_ids: FrameList,
}

impl<D: Device + core::fmt::Debug, A: App + core::fmt::Debug> core::fmt::Debug for Worker<D, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Worker")
            .field("dev", &self.dev)
            .field("stack", &self.stack)
            .field("app", &self.app)
            .finish_non_exhaustive()
    }
}

impl<D: Device, A: App> Worker<D, A> {
    /// A worker over `dev`; `stack` must have been made with `dev.caps()`. The application's
    /// `start` runs at the first iteration.
    pub fn new(dev: D, stack: Stack, app: A) -> Self {
        Worker {
            dev,
            stack,
            app,
            started: false,
            clock: Clock::new(),
            counters: WorkerCounters::default(),
            steer: None,
            rx_ids: FrameList::default(),
        }
    }

    /// Turns steering on: a received frame whose owner under `rss` (its queue, see
    /// [`crate::steering`]) is not `port.me()` is copied to the owner instead of being
    /// processed here; frames steered to this worker are processed after each RX batch.
    pub fn with_steering(mut self, rss: Arc<Rss>, port: SteerPort) -> Self {
        self.steer = Some(Steer { rss, port });
        self
    }

    /// Steering counters (all zero without steering).
    pub fn steer_counters(&self) -> SteerCounters {
        self.steer.as_ref().map(|s| s.port.counters()).unwrap_or_default()
    }

    /// Runs the application's `start` (listen, connect, bind) in a first iteration, if none
    /// ran yet, and returns its error ([`App::start_error`]). A launcher calls this before it
    /// lets the device divert traffic to the stack, so no frame arrives before a listener.
    pub fn start(&mut self) -> Result<(), String> {
        if !self.started {
            self.run_once(self.clock.now());
        }
        match self.app.start_error() {
            Some(e) => Err(e.to_string()),
            None => Ok(()),
        }
    }

    /// One iteration: RX batch, timers, application, TX batch. Returns how many frames moved
    /// (so an idle loop can back off) and the next timer (the caller must call again no later
    /// than that).
    pub fn run_once(&mut self, now: Instant) -> Step {
        self.counters.iterations += 1;
        let mut moved = 0;
        if !self.started {
            self.started = true;
            self.app.start(now, &mut self.stack);
        }

        // 1. RX: the frames are lent until `rx` drops at the end of this block; the stack
        // parses each one where it lies, the batch together (`Stack::receive_batch`: with
        // many connections, their lines are fetched a few frames ahead of their handling).
        {
            let rx = self.dev.rx_batch(now, &mut self.rx_ids);
            if let Some(steer) = &mut self.steer {
                // Frames of other workers' flows leave first; ours then go in together, in
                // the order they came.
                let mut mine = [true; MAX_BATCH];
                for (frame, mine) in rx.iter().zip(&mut mine) {
                    *mine = steer.keeps(frame, &mut self.counters);
                }
                // The flags borrowed, not moved: the look-ahead clones the iterator.
                let ours = rx.iter().zip(&mine).filter_map(|(f, &mine)| mine.then_some(f));
                self.stack.receive_batch(now, ours);
            } else if !rx.is_empty() {
                // A length test here spares the empty turn the call (`receive_batch` also
                // returns at once on none, for its other callers, but only after cloning and
                // stepping the iterator: about 36 instructions a turn).
                self.stack.receive_batch(now, rx.iter());
            }
            moved += rx.len();
            self.counters.rx_frames += rx.len() as u64;
        }
        // 1b. Frames other workers received for our flows.
        if let Some(steer) = &mut self.steer {
            let stack = &mut self.stack;
            let n = steer.port.receive(STEER_BUDGET, |frame| stack.receive(now, frame));
            self.counters.steered_in += n as u64;
            moved += n;
        }

        // 2. Timers.
        if self.stack.poll_timeout().is_some_and(|t| t <= now) {
            self.counters.timer_runs += 1;
            self.stack.on_timeout(now);
        }

        // 3. Application.
        self.dispatch(now);
        self.app.poll(now, &mut self.stack);

        // 4. TX: one buffer at a time straight into the device; an unused buffer goes back.
        moved += self.transmit(now);

        // 5. The next timer: the stack's, the device's own (a fault injector's delay line) and
        // the application's.
        Step { moved, next_timer: self.next_timer() }
    }

    fn next_timer(&self) -> Option<Instant> {
        [self.stack.poll_timeout(), self.dev.poll_at(), self.app.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn dispatch(&mut self, now: Instant) {
        let (stack, app) = (&mut self.stack, &mut self.app);
        while let Some(ev) = stack.poll_event() {
            self.counters.events += 1;
            match ev {
                StackEvent::Acceptable(l) => app.on_accept(now, stack, l),
                StackEvent::Tcp(h, e) => match e {
                    Event::Connected => app.on_connected(now, stack, h),
                    Event::Readable | Event::PeerClosed => app.on_readable(now, stack, h),
                    Event::Writable => app.on_writable(now, stack, h),
                    Event::Closed | Event::Reset | Event::TimedOut | Event::Refused => {
                        app.on_closed(now, stack, h, e)
                    }
                },
            }
        }
    }

    fn transmit(&mut self, now: Instant) -> usize {
        let mut tx = self.dev.tx_batch(now);
        // A buffer only when the stack may fill it: every turn would otherwise take one from
        // the device and give it back unused at its end, most turns of a busy-polling worker
        // that nothing arrived for.
        while self.stack.may_transmit(now) {
            let Some(mut buf) = tx.buffer() else {
                self.counters.tx_no_buffer += 1;
                break;
            };
            match self.stack.poll_transmit(now, &mut buf) {
                Some(n) => buf.send(n),
                None => break,
            }
        }
        self.counters.tx_frames += tx.sent() as u64;
        tx.sent()
    }

    /// Runs until `shutdown` receives a message or is disconnected, SIGINT/SIGTERM is
    /// flagged, or the application is [`finished`](App::finished). Time is a monotonic clock
    /// read once per iteration; an idle iteration sleeps `idle_sleep` (zero: busy-poll, what a
    /// dedicated core does). Returns why it stopped.
    pub fn run(&mut self, shutdown: &Receiver<()>, idle_sleep: std::time::Duration) -> Stop {
        self.run_until(idle_sleep, |_| match shutdown.try_recv() {
            Err(TryRecvError::Empty) => false,
            Ok(()) | Err(TryRecvError::Disconnected) => true,
        })
    }

    /// [`run`](Self::run) with a stop condition of the caller's, looked at every iteration
    /// (it may also print statistics: it sees the worker).
    pub fn run_until(
        &mut self,
        idle_sleep: std::time::Duration,
        stop: impl FnMut(&Self) -> bool,
    ) -> Stop {
        self.run_idle(IdlePolicy::from_sleep(idle_sleep), stop)
    }

    /// [`run_until`](Self::run_until) with an [`IdlePolicy`].
    pub fn run_idle(&mut self, policy: IdlePolicy, stop: impl FnMut(&Self) -> bool) -> Stop {
        self.run_loop(policy, stop, |w| w.app.finished())
    }

    /// Iterations until `stop` (the caller's), a signal, or `finished` after an iteration.
    fn run_loop(
        &mut self,
        policy: IdlePolicy,
        mut stop: impl FnMut(&Self) -> bool,
        mut finished: impl FnMut(&Self) -> bool,
    ) -> Stop {
        let mut idler = Idler::new(policy, self.clock.now());
        loop {
            if stop(self) {
                return Stop::Requested;
            }
            if crate::signal::requested() {
                return Stop::Signal;
            }
            let now = self.clock.now();
            let step = self.run_once(now);
            if finished(self) {
                return Stop::Finished;
            }
            if idler.after_step(&mut self.dev, now, step.moved, step.next_timer) {
                self.counters.idle_waits += 1;
            }
        }
    }

    /// After the application finished (`run_idle` returned [`Stop::Finished`]), on several
    /// queues: keeps serving this worker's queue until every worker's application has
    /// finished (or `stop`, or a signal). Frames of the others' flows still arrive here, and so
    /// do the ARP replies and IPv6 neighbour advertisements that are not RSS-steered and that
    /// every worker needs copied (a worker still running duplicate address detection resolves
    /// its neighbours late): a finished worker that let its socket go would leave them to the
    /// kernel. On one queue it returns at once.
    pub fn serve_until_all_finished(
        &mut self,
        policy: IdlePolicy,
        stop: impl FnMut(&Self) -> bool,
    ) -> Stop {
        match &self.steer {
            Some(steer) => steer.port.mark_finished(),
            None => return Stop::Finished,
        }
        self.run_loop(policy, stop, |w| w.steer.as_ref().is_some_and(|s| s.port.all_finished()))
    }

    /// Graceful stop: [`App::shutdown`], then iterations until the application is finished
    /// (its connections closed) or `grace` has passed, then until nothing is left to send
    /// (bounded by another `grace`). Returns whether the application finished in time.
    pub fn drain(&mut self, grace: std::time::Duration) -> bool {
        let now = self.clock.now();
        self.app.shutdown(now, &mut self.stack);
        let deadline = std::time::Instant::now() + grace;
        let mut done = false;
        while std::time::Instant::now() < deadline {
            self.run_once(self.clock.now());
            if self.app.finished() {
                done = true;
                break;
            }
        }
        // What the last iteration queued (final ACKs, FINs) leaves now.
        let deadline = std::time::Instant::now() + grace;
        while std::time::Instant::now() < deadline && self.run_once(self.clock.now()).moved > 0 {}
        done
    }

    /// The worker's clock now (what `run` passes as `now`).
    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    /// The stack's interface (ARP, ICMP, UDP counters).
    pub fn iface(&self) -> &Interface {
        self.stack.iface()
    }

    /// The stack.
    pub fn stack(&self) -> &Stack {
        &self.stack
    }

    /// The stack, mutable (to open sockets before running).
    pub fn stack_mut(&mut self) -> &mut Stack {
        &mut self.stack
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, mutable.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// The application, mutable.
    pub fn app_mut(&mut self) -> &mut A {
        &mut self.app
    }

    /// Loop counters.
    pub fn counters(&self) -> WorkerCounters {
        self.counters
    }

    /// Payload copies so far, from the stack's and the application's counters.
    pub fn copies(&self) -> CopyCounters {
        let s = self.stack.counters();
        let a = self.app.copies();
        CopyCounters {
            rx_frame_to_ring: s.rx_payload_bytes,
            rx_ring_to_app: a.rx_ring_to_app,
            tx_app_to_ring: a.tx_app_to_ring,
            tx_ring_to_frame: s.tx_payload_bytes,
        }
    }

    /// Takes the worker apart.
    pub fn into_parts(self) -> (D, Stack, A) {
        (self.dev, self.stack, self.app)
    }
}

/// Why [`Worker::run`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// The shutdown channel.
    Requested,
    /// SIGINT or SIGTERM.
    Signal,
    /// The application said it was finished.
    Finished,
}

/// An Ethernet/IPv4 ARP reply (operation 2).
fn is_arp_reply(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x06]) && frame.get(20..22) == Some(&[0x00, 0x02])
}

/// An IPv6 neighbour advertisement without extension headers (next header 58, ICMPv6 type
/// 136, RFC 4861 §4.4).
fn is_neighbor_advert(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x86, 0xdd])
        && frame.get(20) == Some(&58)
        && frame.get(54) == Some(&136)
}

/// The monotonic clock of a worker: nanoseconds since the worker started, read once a turn.
/// Straight from `clock_gettime(CLOCK_MONOTONIC)` (the clock `std::time::Instant` reads, in
/// the vDSO) and one subtraction: `Instant::elapsed` spent some 90 instructions a turn around
/// the same call (two timespecs subtracted with their checks, a 128-bit conversion), on a
/// busy-polling worker's every turn (docs/benchmarks.md, "The worker's empty turn").
#[derive(Debug, Clone, Copy)]
struct Clock {
    epoch_ns: u64,
}

impl Clock {
    fn new() -> Self {
        Clock { epoch_ns: monotonic_ns() }
    }

    fn now(&self) -> Instant {
        // A process would have to run 584 years to overflow u64 nanoseconds.
        Instant::from_nanos(monotonic_ns().saturating_sub(self.epoch_ns))
    }
}

/// CLOCK_MONOTONIC in nanoseconds.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a live timespec for the call to write; CLOCK_MONOTONIC exists on every
    // Linux, so the call cannot fail with a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64).wrapping_mul(1_000_000_000).wrapping_add(ts.tv_nsec as u64)
}

/// What one [`Worker::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Frames received plus frames sent.
    pub moved: usize,
    /// When the interface's next timer is due.
    pub next_timer: Option<Instant>,
}

/// How long [`Worker::drain`] waits by default.
pub const DEFAULT_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

mod idle;
#[cfg(test)]
mod tests;
