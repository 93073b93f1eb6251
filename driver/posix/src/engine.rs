//! The state behind the lock: the stack, the clock, the descriptor table and the queue of
//! packets the stack sent. Everything here is single-threaded and safe; [`Posix`](crate::Posix)
//! adds the lock, the condition variable and blocking.
//!
//! After anything touches the stack, [`Engine::pump`] drains its events into the sockets
//! (pending errors, activity counters) and its transmit queue into `outbound`, as the stack's
//! order of calls asks (inputs, then events, then output).

use std::collections::{HashMap, VecDeque};

use xdptcp_stack::stack::{ListenHandle, Stack, StackEvent, TcpHandle};
use xdptcp_stack::tcp::path::PathError;
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::{Duration, Instant};

use crate::config::{ClockMode, PosixConfig};
use crate::errno::{Errno, SysResult};
use crate::socket::{Entry, Fd, Socket};

/// Lowest descriptor handed out: 0..=2 look like stdio to C programs.
pub(crate) const FIRST_FD: Fd = 3;
/// Most clock jumps one `netdev_receive` makes looking for a packet.
const MAX_TIMER_JUMPS: usize = 4096;

/// The adapter's clock (see [`ClockMode`]).
#[derive(Debug)]
pub(crate) enum Clock {
    Virtual { now: Instant, tick: Duration },
    Real { origin: std::time::Instant },
}

impl Clock {
    fn new(mode: ClockMode) -> Self {
        match mode {
            ClockMode::Virtual { tick } => Clock::Virtual { now: Instant::ZERO, tick },
            ClockMode::Real => Clock::Real { origin: std::time::Instant::now() },
        }
    }

    pub fn now(&self) -> Instant {
        match self {
            Clock::Virtual { now, .. } => *now,
            Clock::Real { origin } => {
                Instant::from_nanos(u64::try_from(origin.elapsed().as_nanos()).unwrap_or(u64::MAX))
            }
        }
    }

    pub fn is_virtual(&self) -> bool {
        matches!(self, Clock::Virtual { .. })
    }
}

/// One packet the stack sent, with the time it left.
#[derive(Debug)]
pub(crate) struct Outbound {
    pub at: Instant,
    pub bytes: Vec<u8>,
}

/// The locked state.
pub(crate) struct Engine {
    pub stack: Stack,
    pub clock: Clock,
    pub config: PosixConfig,
    /// Indexed by descriptor.
    pub fds: Vec<Option<Entry>>,
    /// Which descriptor owns each connection, to route the stack's events.
    pub conns: HashMap<TcpHandle, Fd>,
    /// Which descriptor owns each listener, to mark it active when its queue fills.
    pub listeners: HashMap<ListenHandle, Fd>,
    /// Bound TCP ports and the addresses each socket holds on them.
    pub tcp_ports: crate::ports::TcpPorts,
    pub outbound: VecDeque<Outbound>,
    /// Packet buffers given back by `netdev_receive`, reused so sending does not allocate.
    spare: Vec<Vec<u8>>,
    tx_buf: Vec<u8>,
    /// Gathers a UDP datagram from an iovec before it is sent.
    pub scratch: Vec<u8>,
    /// The blocked calls, so the virtual clock waits for the ones a change woke.
    pub waiters: crate::waiters::Waiters,
}

impl Engine {
    pub fn new(config: PosixConfig) -> Self {
        let clock = Clock::new(config.clock);
        let stack_config = config.stack_config();
        let frame = stack_config.caps.max_frame_len();
        let stack = Stack::new(stack_config, clock.now());
        Engine {
            stack,
            clock,
            fds: Vec::new(),
            conns: HashMap::new(),
            listeners: HashMap::new(),
            tcp_ports: crate::ports::TcpPorts::default(),
            outbound: VecDeque::with_capacity(64),
            spare: Vec::new(),
            tx_buf: vec![0; frame],
            scratch: Vec::with_capacity(frame),
            waiters: Default::default(),
            config,
        }
    }

    pub fn now(&self) -> Instant {
        self.clock.now()
    }

    // ----- descriptors -----

    /// Installs `entry` at the lowest free descriptor.
    pub fn install(&mut self, entry: Entry) -> SysResult<Fd> {
        let start = FIRST_FD as usize;
        if self.fds.len() < start {
            self.fds.resize_with(start, || None);
        }
        let idx = match self.fds.iter().skip(start).position(Option::is_none) {
            Some(i) => start + i,
            None if self.fds.len() < self.config.max_fds => {
                self.fds.push(None);
                self.fds.len() - 1
            }
            None => return Err(Errno::EMFILE),
        };
        self.fds[idx] = Some(entry);
        Fd::try_from(idx).map_err(|_| Errno::EMFILE)
    }

    pub fn entry_mut(&mut self, fd: Fd) -> SysResult<&mut Entry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get_mut(i))
            .and_then(Option::as_mut)
            .ok_or(Errno::EBADF)
    }

    pub fn entry(&self, fd: Fd) -> SysResult<&Entry> {
        usize::try_from(fd)
            .ok()
            .and_then(|i| self.fds.get(i))
            .and_then(Option::as_ref)
            .ok_or(Errno::EBADF)
    }

    pub fn socket_mut(&mut self, fd: Fd) -> SysResult<&mut Socket> {
        match self.entry_mut(fd)? {
            Entry::Socket(s) => Ok(s),
            Entry::Epoll(_) => Err(Errno::ENOTSOCK),
        }
    }

    pub fn socket(&self, fd: Fd) -> SysResult<&Socket> {
        match self.entry(fd)? {
            Entry::Socket(s) => Ok(s),
            Entry::Epoll(_) => Err(Errno::ENOTSOCK),
        }
    }

    /// Removes descriptor `fd` and returns what it held.
    pub fn remove(&mut self, fd: Fd) -> SysResult<Entry> {
        let slot =
            usize::try_from(fd).ok().and_then(|i| self.fds.get_mut(i)).ok_or(Errno::EBADF)?;
        let entry = slot.take().ok_or(Errno::EBADF)?;
        // Closing a descriptor removes it from every epoll interest list (Linux does so when
        // the last reference goes).
        for e in self.fds.iter_mut().flatten() {
            if let Entry::Epoll(set) = e {
                set.interest.remove(&fd);
            }
        }
        Ok(entry)
    }

    // ----- driving the stack -----

    /// Drains the stack's events into the sockets and its packets into `outbound`. Returns
    /// whether anything happened (so waiters should look again).
    pub fn pump(&mut self) -> bool {
        let mut activity = false;
        while let Some(ev) = self.stack.poll_event() {
            activity = true;
            let (h, e) = match ev {
                StackEvent::Tcp(h, e) => (h, e),
                StackEvent::Acceptable(l) => {
                    if let Some(&fd) = self.listeners.get(&l) {
                        if let Ok(s) = self.socket_mut(fd) {
                            s.activity += 1;
                        }
                    }
                    continue;
                }
            };
            let Some(&fd) = self.conns.get(&h) else { continue };
            let terminal =
                matches!(e, Event::Closed | Event::Reset | Event::TimedOut | Event::Refused);
            // An ICMP error ends an attempt with its own number, and a soft one replaces
            // ETIMEDOUT (Linux `sk_err`, `tcp_write_err`'s `sk_err_soft`).
            let path = self.stack.tcp_path_error(h).map(path_errno);
            if let Ok(s) = self.socket_mut(fd) {
                s.activity += 1;
                match e {
                    Event::Refused => s.error = Some(path.unwrap_or(Errno::ECONNREFUSED)),
                    Event::Reset => s.error = Some(Errno::ECONNRESET),
                    Event::TimedOut => s.error = Some(path.unwrap_or(Errno::ETIMEDOUT)),
                    _ => {}
                }
            }
            if terminal {
                self.conns.remove(&h);
                self.stack.tcp_clear_path_error(h);
            }
        }
        let now = self.now();
        while let Some(n) = self.stack.poll_transmit(now, &mut self.tx_buf) {
            activity = true;
            let Some(bytes) = self.tx_buf.get(..n) else { continue };
            let mut buf = self.spare.pop().unwrap_or_default();
            buf.clear();
            buf.extend_from_slice(bytes);
            if self.outbound.len() >= self.config.outbound_capacity {
                if let Some(old) = self.outbound.pop_front() {
                    self.spare.push(old.bytes);
                }
            }
            self.outbound.push_back(Outbound { at: now, bytes: buf });
        }
        activity
    }

    /// Real clock: runs the stack's timers that are due. Virtual clock: nothing (time moves
    /// only through [`advance_to`](Self::advance_to)).
    pub fn catch_up(&mut self) -> bool {
        if self.clock.is_virtual() {
            return false;
        }
        let now = self.now();
        if self.stack.poll_timeout().is_some_and(|d| d <= now) {
            self.stack.on_timeout(now);
        }
        self.pump()
    }

    /// Virtual clock: moves time to `target`, running each timer at its own deadline so that
    /// retransmissions leave at the exact time Linux would send them.
    pub fn advance_to(&mut self, target: Instant) -> bool {
        let mut activity = false;
        let Clock::Virtual { .. } = self.clock else { return self.catch_up() };
        let mut stalls = 0;
        while let Some(d) = self.stack.poll_timeout() {
            if d > target {
                break;
            }
            let cur = self.now();
            if d <= cur {
                // A lower bound that did not move: run once at `cur`, then give up on it.
                stalls += 1;
                if stalls > 8 {
                    break;
                }
            }
            self.set_virtual(d.max(cur));
            self.stack.on_timeout(self.now());
            activity |= self.pump();
        }
        if target > self.now() {
            self.set_virtual(target);
        }
        self.stack.on_timeout(self.now());
        activity | self.pump()
    }

    fn set_virtual(&mut self, t: Instant) {
        if let Clock::Virtual { now, .. } = &mut self.clock {
            *now = t;
        }
    }

    /// A clock read: the virtual clock ticks forward (so spinning callers progress).
    pub fn read_clock(&mut self) -> (Instant, bool) {
        let activity = match self.clock {
            Clock::Virtual { now, tick } => self.advance_to(now + tick),
            Clock::Real { .. } => self.catch_up(),
        };
        (self.now(), activity)
    }

    /// One IP packet (IPv4 or IPv6) from the wire.
    pub fn inject(&mut self, packet: &[u8]) -> bool {
        let now = self.now();
        self.stack.receive(now, packet);
        self.pump();
        true
    }

    /// The oldest packet the stack sent, if any. Virtual clock: when none is queued, time
    /// jumps to the stack's next timer (and the next, up to a bound) until one leaves, the
    /// way a packetdrill script waiting for a retransmission expects.
    pub fn take_outbound(&mut self, jump_timers: bool) -> Option<Outbound> {
        if self.outbound.is_empty() && jump_timers && self.clock.is_virtual() {
            for _ in 0..MAX_TIMER_JUMPS {
                let Some(d) = self.stack.poll_timeout() else { break };
                let target = d.max(self.now());
                self.advance_to(target);
                if !self.outbound.is_empty() {
                    break;
                }
                if d <= self.now() && self.stack.poll_timeout() == Some(d) {
                    break;
                }
            }
        }
        self.outbound.pop_front()
    }

    /// Gives a packet buffer back for reuse.
    pub fn recycle(&mut self, bytes: Vec<u8>) {
        if self.spare.len() < 256 {
            self.spare.push(bytes);
        }
    }
}

/// The stack and socket `fd` at once (they live in different fields).
pub(crate) fn split(e: &mut Engine, fd: Fd) -> SysResult<(&mut Stack, &mut Socket)> {
    let Engine { stack, fds, .. } = e;
    let entry = usize::try_from(fd)
        .ok()
        .and_then(|i| fds.get_mut(i))
        .and_then(Option::as_mut)
        .ok_or(Errno::EBADF)?;
    match entry {
        Entry::Socket(s) => Ok((stack, s)),
        Entry::Epoll(_) => Err(Errno::ENOTSOCK),
    }
}

/// The error number Linux gives an ICMP error (`icmp_err_convert`).
fn path_errno(e: PathError) -> Errno {
    Errno(match e {
        PathError::NetUnreachable => libc::ENETUNREACH,
        PathError::HostUnreachable => libc::EHOSTUNREACH,
        PathError::ProtocolUnreachable => libc::ENOPROTOOPT,
        PathError::PortUnreachable => libc::ECONNREFUSED,
        PathError::HostDown => libc::EHOSTDOWN,
        PathError::Isolated => libc::ENONET,
        PathError::SourceRouteFailed => libc::EOPNOTSUPP,
    })
}
