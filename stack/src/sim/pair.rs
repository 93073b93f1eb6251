//! Two stacks joined by two links, driven in virtual time (quinn-proto's `Pair` is the
//! model).
//!
//! Stack A is 198.18.0.1 and stack B 198.18.0.2 on one Ethernet segment (198.18.0.0/24,
//! RFC 2544 benchmarking space); they find each other with real ARP. [`Pair::poll`] does all
//! the work due at the current instant; [`Pair::drive`] jumps time from event to event (a
//! frame arriving, or either stack's `poll_timeout`), letting a closure act as the
//! applications between steps.

use std::net::{Ipv4Addr, Ipv6Addr};

use super::link::{Link, LinkConfig};
use crate::iface::{DeviceCaps, InterfaceConfig};
use crate::iface::{Ipv6Cidr, Ipv6Config};
use crate::stack::{Stack, StackConfig, StackKeys};
use crate::time::{Duration, Instant};
use crate::wire::ethernet::EthernetAddress;

/// Address of stack A.
pub const ADDR_A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
/// Address of stack B.
pub const ADDR_B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);

/// IPv6 address of stack A in a dual-stack pair ([`dual_config`]; RFC 3849 documentation
/// space).
pub const ADDR6_A: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// IPv6 address of stack B in a dual-stack pair.
pub const ADDR6_B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

/// Which side of a [`Pair`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// Stack A (198.18.0.1).
    A,
    /// Stack B (198.18.0.2).
    B,
}

/// The configuration of one side: addresses filled in, keys from `seed`.
pub fn side_config(side: Side, seed: u64) -> StackConfig {
    let (ip, mac, salt) = match side {
        Side::A => (ADDR_A, EthernetAddress([2, 0, 0, 0, 0, 1]), 0xa),
        Side::B => (ADDR_B, EthernetAddress([2, 0, 0, 0, 0, 2]), 0xb),
    };
    let iface = InterfaceConfig::new(mac, ip, 24);
    StackConfig::new(iface, DeviceCaps::ethernet(1500), StackKeys::from_seed(seed ^ salt))
}

/// [`side_config`] with IPv6 as well: [`ADDR6_A`] or [`ADDR6_B`] in `2001:db8::/64`, usable at
/// once (no duplicate address detection: each side's addresses are its own by construction).
pub fn dual_config(side: Side, seed: u64) -> StackConfig {
    let mut c = side_config(side, seed);
    let ip = match side {
        Side::A => ADDR6_A,
        Side::B => ADDR6_B,
    };
    c.iface.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(ip, 64)]);
    c.iface.ipv6.dad_transmits = 0;
    c
}

/// Two stacks and the links between them.
pub struct Pair {
    /// Stack A.
    pub a: Stack,
    /// Stack B.
    pub b: Stack,
    /// Frames from A to B.
    pub a_to_b: Link,
    /// Frames from B to A.
    pub b_to_a: Link,
    /// The current virtual time.
    pub now: Instant,
    /// A running digest of every frame either stack sent, with its instant and direction:
    /// two runs that put the same frames on the wire at the same instants have the same
    /// digest (equivalence tests compare a fast path against the general one with it).
    pub wire_digest: u64,
    buf: Vec<u8>,
    frame_len: usize,
}

/// Folds one sent frame into a [`Pair::wire_digest`] (FNV-1a over instant, direction and
/// bytes: order-sensitive, which is the point).
fn digest(d: u64, now: Instant, a_to_b: bool, frame: &[u8]) -> u64 {
    let step = |d: u64, b: u8| (d ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    let d = now.total_nanos().to_le_bytes().into_iter().fold(d, step);
    frame.iter().copied().fold(step(d, u8::from(a_to_b)), step)
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Pair")
            .field("now", &self.now)
            .field("a", &self.a)
            .field("b", &self.b)
            .finish()
    }
}

/// Virtual time starts here rather than at zero, so nothing depends on a zero clock.
pub const START: Instant = Instant::from_millis(1_000);

impl Pair {
    /// A pair with the given configurations and the same link shape both ways, link chance
    /// drawn from `seed`.
    pub fn new(a: StackConfig, b: StackConfig, link: LinkConfig, seed: u64) -> Self {
        Self::with_links(a, b, link, link, seed)
    }

    /// A pair with default configurations (keys from `seed`) over `link` both ways.
    pub fn with_link(link: LinkConfig, seed: u64) -> Self {
        Self::new(side_config(Side::A, seed), side_config(Side::B, seed), link, seed)
    }

    /// A pair with a different link each way.
    pub fn with_links(
        a: StackConfig,
        b: StackConfig,
        ab: LinkConfig,
        ba: LinkConfig,
        seed: u64,
    ) -> Self {
        let frame_len = a.caps.max_frame_len().max(b.caps.max_frame_len());
        Pair {
            a: Stack::new(a, START),
            b: Stack::new(b, START),
            a_to_b: Link::new(ab, seed.wrapping_mul(3).wrapping_add(1)),
            b_to_a: Link::new(ba, seed.wrapping_mul(5).wrapping_add(2)),
            now: START,
            wire_digest: 0xcbf2_9ce4_8422_2325,
            buf: vec![0; frame_len],
            frame_len,
        }
    }

    /// The stack of `side`.
    pub fn stack(&mut self, side: Side) -> &mut Stack {
        match side {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// Replaces one side's stack with a fresh one (a reboot that forgot every connection).
    pub fn reboot(&mut self, side: Side, config: StackConfig) {
        *self.stack(side) = Stack::new(config, self.now);
    }

    /// Does everything due at `now`: timers, frame deliveries, and transmissions, until
    /// neither stack has anything more to do at this instant.
    pub fn poll(&mut self) {
        let now = self.now;
        for _ in 0..1_000_000 {
            let mut busy = false;
            for stack in [&mut self.a, &mut self.b] {
                if stack.poll_timeout().is_some_and(|t| t <= now) {
                    stack.on_timeout(now);
                }
            }
            while let Some(f) = self.a_to_b.deliver(now) {
                self.b.receive(now, &f);
                busy = true;
            }
            while let Some(f) = self.b_to_a.deliver(now) {
                self.a.receive(now, &f);
                busy = true;
            }
            let buf = &mut self.buf[..self.frame_len];
            while let Some(n) = self.a.poll_transmit(now, buf) {
                self.wire_digest = digest(self.wire_digest, now, true, &buf[..n]);
                self.a_to_b.send(now, &buf[..n]);
                busy = true;
            }
            while let Some(n) = self.b.poll_transmit(now, buf) {
                self.wire_digest = digest(self.wire_digest, now, false, &buf[..n]);
                self.b_to_a.send(now, &buf[..n]);
                busy = true;
            }
            if !busy {
                return;
            }
        }
    }

    /// The next instant anything happens: a frame arrives or a stack timer is due.
    pub fn next_event(&self) -> Option<Instant> {
        super::earliest([
            self.a_to_b.next_delivery(),
            self.b_to_a.next_delivery(),
            self.a.poll_timeout(),
            self.b.poll_timeout(),
        ])
    }

    /// Runs until `app` returns true or virtual time would pass `until`. `app` is called at
    /// every instant something happened, after the stacks did their work, to act as the
    /// applications (poll events, read, write, close); what it queues is sent at once.
    /// Returns whether `app` finished.
    pub fn drive(&mut self, until: Instant, mut app: impl FnMut(&mut Pair) -> bool) -> bool {
        loop {
            self.poll();
            if app(self) {
                self.poll();
                return true;
            }
            self.poll();
            match self.next_event() {
                Some(t) if t <= until => self.now = t.max(self.now + Duration::from_nanos(1)),
                _ => {
                    self.now = until;
                    self.poll();
                    return app(self);
                }
            }
        }
    }

    /// Runs with no application until `until`, or until nothing is left to happen.
    pub fn run_until(&mut self, until: Instant) {
        self.drive(until, |_| false);
    }
}
