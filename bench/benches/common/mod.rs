//! The in-memory pair of xdptcp stacks shared by the criterion suites: two `Stack`s joined
//! back to back, frames handed over in one reused buffer, virtual time advanced 1 µs per
//! exchange round and jumped to the earliest timer when nothing moves (so no suite waits on a
//! wall clock and none stalls on a delayed-ACK timer).

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig, Ipv6Cidr, Ipv6Config};
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::{BufferSizes, TcpConfig};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

pub const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
pub const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
pub const PORT: u16 = 80;
/// The IPv6 addresses of [`Duo::connect6`]'s client and server.
pub const CLIENT6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
pub const SERVER6: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// One stack on `ip` (and, if `ip6` is set, that IPv6 address too, usable at once: no
/// duplicate address detection) with `buffer` bytes of send and receive buffer per
/// connection, and `tune` applied to its configuration last.
fn stack_family(
    ip: Ipv4Addr,
    ip6: Option<Ipv6Addr>,
    seed: u64,
    caps: DeviceCaps,
    buffer: usize,
    tune: fn(&mut StackConfig),
) -> Stack {
    let mut iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, seed as u8]), ip, 24);
    if let Some(ip6) = ip6 {
        iface.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(ip6, 64)]);
        iface.ipv6.dad_transmits = 0;
    }
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
        Duo::connect_family(caps, buffer, nodelay, false, tune)
    }

    /// [`connect`](Self::connect) over IPv6: both stacks also have an IPv6 address
    /// ([`CLIENT6`], [`SERVER6`], usable at once: no duplicate address detection) and the
    /// connection runs between them.
    #[allow(dead_code)] // used by examples/path_count, not by every suite
    pub fn connect6(caps: DeviceCaps, buffer: usize, nodelay: bool) -> Duo {
        Duo::connect_family(caps, buffer, nodelay, true, |_| {})
    }

    fn connect_family(
        caps: DeviceCaps,
        buffer: usize,
        nodelay: bool,
        ipv6: bool,
        tune: fn(&mut StackConfig),
    ) -> Duo {
        let (ip6_c, ip6_s) = if ipv6 { (Some(CLIENT6), Some(SERVER6)) } else { (None, None) };
        let mut c = stack_family(CLIENT, ip6_c, 1, caps, buffer, tune);
        let mut s = stack_family(SERVER, ip6_s, 2, caps, buffer, tune);
        let any: std::net::IpAddr =
            if ipv6 { Ipv6Addr::UNSPECIFIED.into() } else { Ipv4Addr::UNSPECIFIED.into() };
        s.tcp_listen(any, PORT, 16).expect("listen");
        let now = Instant::from_millis(1);
        let ch = if ipv6 {
            let config = *c.tcp_config();
            c.tcp_connect_to(now, SocketAddr::new(SERVER6.into(), PORT), config).expect("connect")
        } else {
            c.tcp_connect(now, SERVER, PORT).expect("connect")
        };
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
