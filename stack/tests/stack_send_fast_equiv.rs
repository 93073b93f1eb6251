#![cfg(feature = "sim")]
//! The common-case sender at the stack's level: the connection's fields written straight
//! into the template copy (`Connection::poll_transmit_common`, `stack::output`) give the
//! same frames, byte for byte and at the same instants, as the general planner's
//! `SegmentHeader` through the same template, and the same connection state after every
//! step. Two stacks over seeded impaired links (loss, reordering, duplication) exchange
//! messages of random sizes both ways (Nagle, timestamps and SACK on or off per seed), once with `TcpConfig::send_fast` on in both stacks'
//! configurations and once with it off. `tcp_send_fast_equiv` holds the planner to the same
//! at the connection's level, field by field of its state.

use std::hash::{DefaultHasher, Hash, Hasher};

use xdptcp_stack::sim::*;
use xdptcp_stack::stack::{StackEvent, TcpHandle};
use xdptcp_stack::tcp::State;
use xdptcp_stack::time::{Duration, Instant};

/// xorshift64*: the test's only source of chance.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
}

/// Every frame either stack sent (instant, from A, bytes), and a hash per step of both
/// connections' `TcpInfo` and both stacks' counters.
struct Run {
    frames: Vec<(Instant, bool, Vec<u8>)>,
    steps: Vec<u64>,
    delivered: [usize; 2],
}

/// `Pair::poll`, recording every frame sent.
fn poll(p: &mut Pair, frames: &mut Vec<(Instant, bool, Vec<u8>)>) {
    let now = p.now;
    let mut buf = vec![0u8; 2048];
    loop {
        let mut busy = false;
        for stack in [&mut p.a, &mut p.b] {
            if stack.poll_timeout().is_some_and(|t| t <= now) {
                stack.on_timeout(now);
            }
        }
        while let Some(f) = p.a_to_b.deliver(now) {
            p.b.receive(now, &f);
            busy = true;
        }
        while let Some(f) = p.b_to_a.deliver(now) {
            p.a.receive(now, &f);
            busy = true;
        }
        while let Some(n) = p.a.poll_transmit(now, &mut buf) {
            frames.push((now, true, buf[..n].to_vec()));
            p.a_to_b.send(now, &buf[..n]);
            busy = true;
        }
        while let Some(n) = p.b.poll_transmit(now, &mut buf) {
            frames.push((now, false, buf[..n].to_vec()));
            p.b_to_a.send(now, &buf[..n]);
            busy = true;
        }
        if !busy {
            return;
        }
    }
}

fn run(seed: u64, on: bool) -> Run {
    let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let link = LinkConfig {
        delay: Duration::from_millis(1 + r.below(10)),
        loss: [0.0, 0.0, 0.01, 0.03][r.below(4) as usize],
        reorder: [0.0, 0.02][r.below(2) as usize],
        reorder_delay: Duration::from_millis(3),
        duplicate: [0.0, 0.01][r.below(2) as usize],
        ..LinkConfig::default()
    };
    let (nodelay, timestamps, sack) = (r.below(2) == 0, r.below(4) != 0, r.below(4) != 0);
    let (mut a, mut b) = (side_config(Side::A, seed), side_config(Side::B, seed));
    for c in [&mut a, &mut b] {
        c.tcp.set_send_fast(on);
        c.tcp.set_nodelay(nodelay);
        (c.tcp.timestamps, c.tcp.sack) = (timestamps, sack);
    }
    let mut p = Pair::new(a, b, link, seed);
    let listener = p.b.tcp_listen(std::net::Ipv4Addr::UNSPECIFIED, 7000, 4).expect("listen");
    let client = p.a.tcp_connect(p.now, ADDR_B, 7000).expect("connect");
    let mut server: Option<TcpHandle> = None;
    let mut out = Run { frames: Vec::new(), steps: Vec::new(), delivered: [0, 0] };
    let mut to_send = [40_000usize, 30_000];
    let mut buf = vec![0u8; 8192];
    let until = p.now + Duration::from_secs(120);
    let mut last_turn = false;
    loop {
        poll(&mut p, &mut out.frames);
        while let Some(ev) = p.b.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                server = p.b.tcp_accept(l);
            }
        }
        while p.a.poll_event().is_some() {}
        if let Some(s) = server {
            // Both sides write messages of random sizes and read random amounts.
            for (i, (stack, h)) in [(&mut p.a, client), (&mut p.b, s)].into_iter().enumerate() {
                if stack.tcp_state(h) == State::Established && to_send[i] > 0 {
                    let n = (r.below(3000) as usize + 1).min(to_send[i]);
                    let msg = vec![(i as u8 + 1).wrapping_mul(n as u8); n];
                    to_send[i] -= stack.tcp_send(h, &msg).unwrap_or(0);
                }
                let want = r.below(buf.len() as u64) as usize;
                out.delivered[i] += stack.tcp_recv(h, &mut buf[..want]).unwrap_or(0);
            }
            let mut h = DefaultHasher::new();
            for (stack, c) in [(&p.a, client), (&p.b, s)] {
                format!("{:?} {:?}", stack.tcp_info(c), stack.tcp_counters()).hash(&mut h);
            }
            out.steps.push(h.finish());
            if out.delivered == [30_000, 40_000] {
                break;
            }
        }
        poll(&mut p, &mut out.frames);
        match p.next_event() {
            Some(t) if t <= until => p.now = t.max(p.now + Duration::from_nanos(1)),
            // Nothing more will happen, but the last poll may have delivered data that the
            // applications have not read yet: one more turn reads it (an early wakeup of
            // the wheel's used to give that turn by chance).
            None if !last_turn => last_turn = true,
            _ => break,
        }
    }
    p.b.tcp_unlisten(listener);
    out
}

#[test]
fn send_fast_on_and_off_give_the_same_frames_and_state() {
    for seed in 0..12 {
        let (on, off) = (run(seed, true), run(seed, false));
        assert_eq!(on.delivered, [30_000, 40_000], "seed {seed}: the exchange finished");
        for (i, (x, y)) in on.frames.iter().zip(&off.frames).enumerate() {
            assert_eq!(x, y, "seed {seed}: frame {i} differs (on, off)");
        }
        assert_eq!(on.frames.len(), off.frames.len(), "seed {seed}: frame counts differ");
        let step = on.steps.iter().zip(&off.steps).position(|(x, y)| x != y);
        assert_eq!(step, None, "seed {seed}: state differs after a step");
        assert_eq!(on.steps.len(), off.steps.len());
    }
}
