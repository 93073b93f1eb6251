//! The in-memory pair of xdptcp stacks shared by the criterion suites: two `Stack`s joined
//! back to back, frames handed over in one reused buffer, virtual time advanced 1 µs per
//! exchange round and jumped to the earliest timer when nothing moves (so no suite waits on a
//! wall clock and none stalls on a delayed-ACK timer).

use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::{BufferSizes, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PORT: u16 = 80;

/// One stack on `ip` with `buffer` bytes of send and receive buffer per connection, and
/// `tune` applied to its configuration last.
pub fn stack_tuned(
    ip: Ipv4Addr,
    seed: u64,
    caps: DeviceCaps,
    buffer: usize,
    tune: fn(&mut StackConfig),
) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, seed as u8]), ip, 24);
    let mut cfg = StackConfig::new(iface, caps, StackKeys::from_seed(seed));
    cfg.tcp = TcpConfig {
        wmem: BufferSizes::fixed(buffer),
        rmem: BufferSizes::fixed(buffer),
        ..TcpConfig::default()
    };
    tune(&mut cfg);
    Stack::new(cfg, Instant::from_millis(1))
}

/// A client and a server stack with one established connection between them.
pub struct Duo {
    pub c: Stack,
    pub s: Stack,
    pub now: Instant,
    pub buf: Vec<u8>,
    /// The connection on the client and on the server.
    pub ch: TcpHandle,
    pub sh: TcpHandle,
}

impl Duo {
    /// Connects CLIENT to SERVER:PORT over devices with `caps` and returns once the server
    /// accepted; events of the handshake are drained.
    pub fn connect(caps: DeviceCaps, buffer: usize, nodelay: bool) -> Duo {
        Duo::connect_tuned(caps, buffer, nodelay, |_| {})
    }

    /// [`connect`](Self::connect) with `tune` applied to both stacks' configurations.
    pub fn connect_tuned(
        caps: DeviceCaps,
        buffer: usize,
        nodelay: bool,
        tune: fn(&mut StackConfig),
    ) -> Duo {
        let mut c = stack_tuned(CLIENT, 1, caps, buffer, tune);
        let mut s = stack_tuned(SERVER, 2, caps, buffer, tune);
        s.tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 16).expect("listen");
        let now = Instant::from_millis(1);
        let ch = c.tcp_connect(now, SERVER, PORT).expect("connect");
        let buf = vec![0; caps.max_frame_len()];
        let mut d = Duo { c, s, now, buf, ch, sh: ch };
        let mut sh = None;
        for _ in 0..1000 {
            d.pump();
            while let Some(ev) = d.s.poll_event() {
                if let StackEvent::Acceptable(l) = ev {
                    sh = sh.or(d.s.tcp_accept(l));
                }
            }
            if sh.is_some() {
                break;
            }
        }
        d.sh = sh.expect("xdptcp handshake");
        d.drain();
        if nodelay {
            d.c.tcp_set_nodelay(d.ch, true).expect("nodelay");
            d.s.tcp_set_nodelay(d.sh, true).expect("nodelay");
        }
        d
    }

    /// Moves frames both ways until both stacks are quiet (1 µs per round); if nothing moved
    /// at all, jumps to the earliest timer once.
    pub fn pump(&mut self) {
        let mut moved_any = false;
        loop {
            self.now += Duration::from_micros(1);
            let moved = shuttle(&mut self.c, &mut self.s, self.now, &mut self.buf)
                | shuttle(&mut self.s, &mut self.c, self.now, &mut self.buf);
            moved_any |= moved;
            if !moved {
                break;
            }
        }
        if !moved_any {
            let next = [self.c.poll_timeout(), self.s.poll_timeout()].into_iter().flatten().min();
            if let Some(t) = next.filter(|&t| t > self.now) {
                self.now = t;
            }
        }
    }

    /// Drops both stacks' events (the suites poll the connections directly).
    pub fn drain(&mut self) {
        while self.c.poll_event().is_some() {}
        while self.s.poll_event().is_some() {}
    }
}

/// Runs `from`'s due timers and hands everything it sends to `to`.
fn shuttle(from: &mut Stack, to: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
    if from.poll_timeout().is_some_and(|t| t <= now) {
        from.on_timeout(now);
    }
    let mut moved = false;
    while let Some(n) = from.poll_transmit(now, buf) {
        to.receive(now, &buf[..n]);
        moved = true;
    }
    moved
}
