//! The harness of the fast paths' equivalence tests (`tcp_predict_equiv`, header prediction;
//! `tcp_send_fast_equiv`, the common-case sender): the same seeded traffic, run once with a
//! fast path on and once with it off, must give the same segments on the wire, at the same
//! instants, and the same connection state to the last byte (the `Debug` form of each
//! endpoint, connection and chunk pool, compared with only the fast path's own switch and
//! counter masked).
//!
//! The traffic is seeded: loss, duplication and reordering on the link, data both ways in
//! messages of random sizes, a reader that takes random amounts at random times (so windows
//! shrink, close and reopen), timestamps and sequence numbers that wrap during the run, and
//! per seed a configuration with or without timestamps, SACK, window scaling, delayed ACKs
//! and RACK. A fast path that skipped an effect of the full path (an RTT sample, `TS.Recent`,
//! a timer, a counter, an event) shows up as a state or a segment that differs.

use super::*;
use xdptcp_stack::tcp::{
    BufferSizes, Connection, Endpoint, SendFlags, State, TcpConfig, TcpCounters,
};
use xdptcp_stack::time::{Duration, Instant};

/// xorshift64*: the test's only source of chance.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn chance(&mut self, pct: u64) -> bool {
        self.below(100) < pct
    }
}

/// A `Debug` key whose value may differ between the runs, with the characters the value is
/// made of.
pub type Mask = (&'static str, fn(char) -> bool);

/// A fast path under test: how to switch it, what of the state it may change, and what the
/// traffic should exercise.
pub struct FastPath {
    /// Turns the fast path on or off on a connection.
    pub set: fn(&mut Connection, bool),
    /// The `Debug` keys whose values may differ between the runs.
    pub masks: &'static [Mask],
    /// Whether the next segment the connection sends takes the fast path (asked before each
    /// transmission, with the fast path on), or `None` when the path counts itself.
    pub ready: Option<fn(&Connection) -> bool>,
    /// The sender's rarer inputs too: pacing on some seeds, writes with `MSG_MORE` or
    /// `MSG_EOR`, and cork set and lifted.
    pub send_marks: bool,
}

/// One seed's scenario: the configuration and the link's impairments.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub seed: u64,
    pub config: TcpConfig,
    pub drop_pct: u64,
    pub dup_pct: u64,
    pub jitter_ms: u64,
}

impl Scenario {
    pub fn new(seed: u64, path: &FastPath) -> Scenario {
        let mut r = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
        let rcvbuf = [2_000, 8_000, 40_000, 300_000][r.below(4) as usize];
        let config = TcpConfig {
            mss: [200, 536, 1460][r.below(3) as usize],
            rmem: if r.chance(50) {
                BufferSizes::fixed(rcvbuf)
            } else {
                BufferSizes { min: 4096, default: rcvbuf, max: 4 << 20 }
            },
            wmem: BufferSizes::fixed(64 << 10),
            timestamps: !r.chance(25),
            sack: !r.chance(25),
            window_scaling: !r.chance(25),
            ..TcpConfig::default()
                .with_delayed_ack(!r.chance(25))
                .with_rack(!r.chance(25))
                .with_nodelay(r.chance(50))
        };
        let config = if path.send_marks { config.with_pacing(r.chance(20)) } else { config };
        Scenario {
            seed,
            config,
            // A clean link for some seeds: most segments then take the fast paths.
            drop_pct: [0, 0, 2, 5][r.below(4) as usize],
            dup_pct: [0, 2, 5][r.below(3) as usize],
            jitter_ms: [0, 0, 3, 10][r.below(4) as usize],
        }
    }
}

/// What a run produced: every segment sent (instant, direction, segment), a hash of both
/// endpoints' state after every step (the full state at step `capture`), the bytes each
/// received, how many segments `FastPath::ready` said took the fast path, and both
/// endpoints' counters at the end.
pub struct Outcome {
    pub wire: Vec<(Instant, bool, Seg)>,
    pub steps: Vec<u64>,
    pub captured: Option<[String; 2]>,
    pub got: [Vec<u8>; 2],
    pub ready: u64,
    pub counters: [TcpCounters; 2],
}

/// The `Debug` form of an endpoint with the fast path's own fields masked: the only things
/// that may differ between the runs (taken in the order `Connection`'s fields put them, which
/// the layout decides; a key given twice masks its first two occurrences).
fn masked_state(e: &Endpoint, path: &FastPath) -> String {
    let s = format!("{e:?}");
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    let mut masks: Vec<_> = path
        .masks
        .iter()
        .enumerate()
        .map(|(i, &(key, part))| {
            let nth = path.masks[..i].iter().filter(|&&(k, _)| k == key).count();
            let at = s.match_indices(key).nth(nth).map(|(at, _)| at);
            (at.unwrap_or_else(|| panic!("{key} missing from the Debug form")), key, part)
        })
        .collect();
    masks.sort_by_key(|&(at, _, _)| at);
    for (_, key, part) in masks {
        let Some(i) = rest.find(key) else { panic!("{key} missing from the Debug form") };
        let start = i + key.len();
        let len = rest[start..].find(|c: char| !part(c)).unwrap_or(0);
        out.push_str(&rest[..start]);
        out.push('_');
        rest = &rest[start + len..];
    }
    out.push_str(rest);
    out
}

fn hash(states: &[String; 2]) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    states.hash(&mut h);
    h.finish()
}

pub fn run(sc: Scenario, path: &FastPath, on: bool, capture: Option<usize>) -> Outcome {
    let mut r = Rng(sc.seed | 1);
    let start = Instant::from_millis(1);
    // Sequence numbers and both TSval clocks wrap within the first second.
    let (iss_a, iss_b) = (u32::MAX - 20_000, u32::MAX - 700);
    let mut a = Endpoint::connect(start, sc.config, LOCAL, REMOTE, s(iss_a));
    a.parts().0.set_ts_offset(u32::MAX - 300);
    (path.set)(a.parts().0, on);
    let syn = tx(&mut a, start).expect("SYN");
    let mut wire = vec![(start, true, syn.clone())];
    let mut b = Endpoint::accept_syn(start, sc.config, REMOTE, LOCAL, s(iss_b), &syn.as_segment());
    b.parts().0.set_ts_offset(u32::MAX - 900);
    (path.set)(b.parts().0, on);

    let mut now = start;
    // In flight: (arrival, order sent, to_b, segment).
    let mut link: Vec<(Instant, u64, bool, Seg)> = Vec::new();
    let mut order = 0u64;
    let delay = Duration::from_millis(5);
    let mut to_send = [60_000usize, 20_000];
    let mut got = [Vec::new(), Vec::new()];
    let mut closed = [false, false];
    let mut pattern = [0u8, 128];
    let mut steps = Vec::new();
    let mut captured = None;
    let mut ready = 0u64;
    for step in 0..20_000 {
        // The applications: write messages, read what they like, close when done.
        for (i, e) in [&mut a, &mut b].into_iter().enumerate() {
            if e.state().is_synchronized() && to_send[i] > 0 && r.chance(60) {
                let n = (r.below(3000) as usize + 1).min(to_send[i]);
                let msg: Vec<u8> = (0..n)
                    .map(|_| {
                        pattern[i] = pattern[i].wrapping_add(1);
                        pattern[i]
                    })
                    .collect();
                let k = if path.send_marks {
                    // Now and then a write held for more, or one ending a record, and cork
                    // for a few steps now and then.
                    let flags = SendFlags { more: r.chance(3), eor: r.chance(3) };
                    let k = e.send_with(&msg, flags);
                    let corked = e.parts().0.corked();
                    if (corked && r.chance(30)) || (!corked && r.chance(2)) {
                        e.parts().0.set_cork(!corked);
                    }
                    k
                } else {
                    e.send(&msg)
                };
                to_send[i] -= k;
                // What did not fit is sent again later as the continuation.
                pattern[i] = pattern[i].wrapping_sub((n - k) as u8);
            }
            if r.chance(40) {
                let mut buf = vec![0u8; r.below(4000) as usize];
                let n = e.recv(&mut buf);
                got[i].extend_from_slice(&buf[..n]);
            }
            // Closing once everything is acknowledged keeps the transfer in ESTABLISHED.
            if to_send[i] == 0
                && e.send_queue_len() == 0
                && !closed[i]
                && e.state().is_synchronized()
            {
                e.shutdown_write();
                closed[i] = true;
            }
            while e.poll_event().is_some() {}
        }
        // Transmissions onto the impaired link.
        for (to_b, e) in [(true, &mut a), (false, &mut b)] {
            loop {
                let fast = on && path.ready.is_some_and(|f| f(e.parts().0));
                let Some(x) = tx(e, now) else { break };
                ready += u64::from(fast);
                wire.push((now, to_b, x.clone()));
                order += 1;
                if r.chance(sc.drop_pct) {
                    continue;
                }
                let copies = if r.chance(sc.dup_pct) { 2 } else { 1 };
                for _ in 0..copies {
                    let jitter = Duration::from_millis(r.below(sc.jitter_ms + 1));
                    link.push((now + delay + jitter, order, to_b, x.clone()));
                }
            }
        }
        // The next event: an arrival or a timer.
        let next = link.iter().map(|q| q.0).chain(a.poll_timeout()).chain(b.poll_timeout()).min();
        let Some(next) = next else { break };
        // The applications act every millisecond at least.
        now = next.min(now + Duration::from_millis(1)).max(now + Duration::from_micros(10));
        link.sort_by_key(|q| (q.0, q.1));
        while link.first().is_some_and(|q| q.0 <= now) {
            let (_, _, to_b, x) = link.remove(0);
            let dst = if to_b { &mut b } else { &mut a };
            dst.on_segment(now, &x.as_segment());
        }
        for e in [&mut a, &mut b] {
            if e.poll_timeout().is_some_and(|t| t <= now) {
                e.on_timeout(now);
            }
        }
        // Every effect shows at once, not only in the end state (a later segment on the
        // full path would overwrite what the fast path forgot).
        let states = [masked_state(&a, path), masked_state(&b, path)];
        steps.push(hash(&states));
        if capture == Some(step) {
            captured = Some(states);
        }
        if [a.state(), b.state()].iter().all(|s| matches!(s, State::Closed | State::TimeWait))
            && link.is_empty()
        {
            break;
        }
    }
    got[0].extend(read_all(&mut a));
    got[1].extend(read_all(&mut b));
    Outcome { wire, steps, captured, got, ready, counters: [a.counters(), b.counters()] }
}

/// Runs seed `seed` with the fast path on and off, checks that the two runs agree segment
/// for segment and state for state, and returns both outcomes (on, off).
pub fn check(seed: u64, path: &FastPath) -> (Outcome, Outcome) {
    let sc = Scenario::new(seed, path);
    let on = run(sc, path, true, None);
    let off = run(sc, path, false, None);
    for (i, (x, y)) in on.wire.iter().zip(&off.wire).enumerate() {
        assert_eq!(x, y, "seed {seed} ({sc:?}): segment {i} differs (on, off)");
    }
    assert_eq!(on.wire.len(), off.wire.len(), "seed {seed}: segment counts differ");
    if let Some(step) =
        (0..on.steps.len().max(off.steps.len())).find(|&i| on.steps.get(i) != off.steps.get(i))
    {
        let on = run(sc, path, true, Some(step)).captured.expect("step reached");
        let off = run(sc, path, false, Some(step)).captured.expect("step reached");
        for side in 0..2 {
            assert_eq!(on[side], off[side], "seed {seed}: side {side} differs after step {step}");
        }
    }
    for side in 0..2 {
        assert_eq!(on.got[side], off.got[side], "seed {seed}: bytes received differ");
    }
    // The scenario did something: both sides received data.
    assert!(!on.got[0].is_empty() && !on.got[1].is_empty(), "seed {seed}: no data moved");
    if std::env::var_os("EQUIV_DIAG").is_some() {
        eprintln!("seed {seed}: {sc:?}");
    }
    (on, off)
}
