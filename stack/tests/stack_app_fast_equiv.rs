//! The application's common-case send and receive paths (`tcp_send`'s one chunk at the end
//! of the send queue, `tcp_recv`'s bytes in the head chunk) change nothing but speed: the same
//! traffic, run once with them on and once off (`Stack::set_app_fast_path`), must give the
//! same return values, the same frames at the same instants, the same events in the same
//! order, and the same state after every step (the `Debug` form of every connection's record
//! and of the chunk pool with its counters).
//!
//! The traffic is seeded: two connections between two stacks sharing each stack's chunk
//! pool; messages of random sizes both ways (mostly small, some spanning chunks); readers
//! that take random amounts at random times, so windows shrink, close and reopen; per seed a
//! memory budget that is loose, under pressure or exhausted, small or tunable buffers, Nagle
//! on or off, `TCP_CORK` toggled, `TCP_NOTSENT_LOWAT` on one connection; loss on the link;
//! and at the end a close (orderly, half or abortive). A fast path that skipped an effect of
//! the general one (a push mark, a window update, a chunk's accounting, the transmit queue)
//! shows up as a frame, a return value or a state that differs.

use std::net::Ipv4Addr;

use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::rng::SplitMix64;
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::{BufferSizes, MemoryBudget, TcpConfig, CHUNK_SIZE};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::ethernet::EthernetAddress;

const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
const PORT: u16 = 7000;

/// The test's only source of chance (the crate's one generator), with percentages.
struct Rng(SplitMix64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(SplitMix64::new(seed))
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0.below(n.max(1))
    }

    fn chance(&mut self, pct: u64) -> bool {
        self.0.below(100) < pct
    }
}

/// One seed's configuration.
#[derive(Clone, Copy, Debug)]
struct Scenario {
    seed: u64,
    tcp: TcpConfig,
    /// Chunks of the memory budget's hard limit (`None`: the default, loose).
    budget_chunks: Option<usize>,
    drop_pct: u64,
    lowat: Option<u32>,
    /// 0: close, 1: shutdown then close, 2: abort.
    ending: u64,
}

impl Scenario {
    fn new(seed: u64) -> Scenario {
        let mut r = Rng::new(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let rcvbuf = [3_000, 9_000, 40_000, 200_000][r.below(4) as usize];
        let sndbuf = [2_500, 12_000, 64 << 10][r.below(3) as usize];
        let tcp = TcpConfig {
            mss: [200, 536, 1460][r.below(3) as usize],
            rmem: if r.chance(60) {
                BufferSizes::fixed(rcvbuf)
            } else {
                BufferSizes { min: 4096, default: rcvbuf, max: 1 << 20 }
            },
            wmem: if r.chance(70) {
                BufferSizes::fixed(sndbuf)
            } else {
                BufferSizes { min: 4096, default: sndbuf, max: 1 << 20 }
            },
            timestamps: !r.chance(25),
            sack: !r.chance(25),
            window_scaling: !r.chance(25),
            ..TcpConfig::default().with_delayed_ack(!r.chance(25)).with_nodelay(r.chance(50))
        };
        Scenario {
            seed,
            tcp,
            // Six chunks: the two connections meet the hard limit and pressure often.
            budget_chunks: [None, None, Some(6), Some(12)][r.below(4) as usize],
            drop_pct: [0, 0, 2, 6][r.below(4) as usize],
            lowat: if r.chance(25) { Some([1, 500, 5000][r.below(3) as usize]) } else { None },
            ending: r.below(3),
        }
    }

    fn stack(&self, ip: Ipv4Addr, id: u8, fast: bool) -> Stack {
        let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, id]), ip, 24);
        let mut cfg =
            StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(id.into()));
        cfg.tcp = self.tcp;
        if let Some(n) = self.budget_chunks {
            let b = n * CHUNK_SIZE;
            cfg.memory = MemoryBudget { low: b / 3, pressure: b / 2, high: b };
        }
        let mut s = Stack::new(cfg, Instant::from_millis(1));
        s.set_app_fast_path(fast);
        s
    }
}

/// What a run produced: a line per observable thing (call results, frames, events), and a
/// hash of both stacks' state after every step.
struct Outcome {
    trace: Vec<String>,
    steps: Vec<(usize, u64)>,
    captured: Option<String>,
    got: Vec<Vec<u8>>,
}

fn state(stacks: &[Stack; 2], ends: &[(usize, TcpHandle)]) -> String {
    let mut out = String::new();
    for (i, s) in stacks.iter().enumerate() {
        out.push_str(&format!("stack {i}: {:?} {:?}\n", s.chunk_pool(), s.memory_counters()));
    }
    for &(side, h) in ends {
        out.push_str(&format!("{side} {h:?}: {:?}\n", stacks[side].tcp_debug_state(h)));
    }
    out
}

fn hash(s: &str) -> u64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut h = DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn run(sc: Scenario, fast: bool, capture: Option<usize>) -> Outcome {
    let mut r = Rng::new(sc.seed);
    let mut stacks = [sc.stack(CLIENT, 1, fast), sc.stack(SERVER, 2, fast)];
    let mut now = Instant::from_millis(1);
    let listener = stacks[1].tcp_listen(Ipv4Addr::UNSPECIFIED, PORT, 8).expect("listen");
    let mut ends: Vec<(usize, TcpHandle)> = Vec::new();
    for _ in 0..2 {
        ends.push((0, stacks[0].tcp_connect(now, SERVER, PORT).expect("connect")));
    }
    if let Some(lowat) = sc.lowat {
        stacks[0].tcp_set_notsent_lowat(ends[0].1, lowat).expect("lowat");
    }
    let mut trace = Vec::new();
    let mut steps = Vec::new();
    let mut captured = None;
    // In flight: (arrival, order, to side, frame).
    let mut link: Vec<(Instant, u64, usize, Vec<u8>)> = Vec::new();
    let mut order = 0u64;
    let mut frame = vec![0u8; 1600];
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut to_send: Vec<usize> = Vec::new();
    let mut pattern: Vec<u8> = Vec::new();
    let mut closed: Vec<bool> = Vec::new();
    let open_until = 3_000;
    for step in 0..6_000 {
        // Accept what the server has.
        for side in 0..2 {
            while let Some(ev) = stacks[side].poll_event() {
                trace.push(format!("{step} ev {side} {ev:?}"));
                if let StackEvent::Acceptable(l) = ev {
                    assert_eq!(l, listener);
                    while let Some(h) = stacks[1].tcp_accept(l) {
                        ends.push((1, h));
                        if sc.lowat.is_some() && ends.len() == 3 {
                            stacks[1].tcp_set_notsent_lowat(h, 3000).expect("lowat");
                        }
                    }
                }
            }
        }
        while got.len() < ends.len() {
            got.push(Vec::new());
            to_send.push(40_000 + r.below(20_000) as usize);
            pattern.push(got.len() as u8 * 37);
            closed.push(false);
        }
        // The applications.
        for (i, &(side, h)) in ends.iter().enumerate() {
            let s = &mut stacks[side];
            if to_send[i] > 0 && step < open_until && r.chance(50) {
                let n = match r.below(10) {
                    0 => r.below(6000) as usize + 1,
                    1 => CHUNK_SIZE - r.below(3) as usize,
                    _ => r.below(300) as usize + 1,
                }
                .min(to_send[i]);
                let msg: Vec<u8> = (0..n)
                    .map(|_| {
                        pattern[i] = pattern[i].wrapping_add(1);
                        pattern[i]
                    })
                    .collect();
                let k = s.tcp_send(h, &msg);
                trace.push(format!("{step} send {i} {n} {k:?}"));
                let k = k.unwrap_or(0);
                to_send[i] -= k;
                pattern[i] = pattern[i].wrapping_sub((n - k) as u8);
            }
            if r.chance(3) {
                let on = r.chance(50);
                trace.push(format!("{step} cork {i} {on} {:?}", s.tcp_set_cork(h, on)));
            }
            // Readers that stop for a while: windows close, the memory budget fills.
            let paused = (1_000..1_400).contains(&step) && i % 2 == 1;
            if !paused && r.chance(40) {
                let len = match r.below(8) {
                    0 => 0,
                    1 => r.below(9000) as usize,
                    _ => r.below(400) as usize + 1,
                };
                let mut buf = vec![0u8; len];
                let k = s.tcp_recv(h, &mut buf);
                trace.push(format!("{step} recv {i} {len} {k:?}"));
                if let Ok(k) = k {
                    got[i].extend_from_slice(&buf[..k]);
                }
            }
            if !closed[i] && (to_send[i] == 0 || step >= open_until) && s.tcp_send_queue_len(h) == 0
            {
                closed[i] = true;
                let res = match sc.ending {
                    0 => s.tcp_close(h),
                    1 => s.tcp_shutdown_write(h),
                    _ if i == 0 => s.tcp_abort(h),
                    _ => s.tcp_close(h),
                };
                trace.push(format!("{step} close {i} {res:?}"));
            }
        }
        // Frames onto the lossy link.
        for (side, stack) in stacks.iter_mut().enumerate() {
            while let Some(n) = stack.poll_transmit(now, &mut frame) {
                trace.push(format!("{step} tx {side} {now:?} {:02x?}", &frame[..n]));
                order += 1;
                if r.chance(sc.drop_pct) {
                    continue;
                }
                let delay = Duration::from_micros(200 + r.below(300));
                link.push((now + delay, order, 1 - side, frame[..n].to_vec()));
            }
        }
        // The next arrival or timer, at most 1 ms away.
        let next = link
            .iter()
            .map(|q| q.0)
            .chain(stacks[0].poll_timeout())
            .chain(stacks[1].poll_timeout())
            .min()
            .unwrap_or(now + Duration::from_millis(1));
        now = next.min(now + Duration::from_millis(1)).max(now + Duration::from_micros(50));
        link.sort_by_key(|q| (q.0, q.1));
        while link.first().is_some_and(|q| q.0 <= now) {
            let (_, _, to, f) = link.remove(0);
            stacks[to].receive(now, &f);
        }
        for s in &mut stacks {
            if s.poll_timeout().is_some_and(|t| t <= now) {
                s.on_timeout(now);
            }
        }
        let st = state(&stacks, &ends);
        steps.push((trace.len(), hash(&st)));
        if capture == Some(step) {
            captured = Some(st);
        }
        if step > open_until
            && link.is_empty()
            && ends.iter().all(|&(side, h)| {
                !matches!(
                    stacks[side].tcp_state(h),
                    xdptcp_stack::tcp::State::Established | xdptcp_stack::tcp::State::CloseWait
                )
            })
        {
            break;
        }
    }
    Outcome { trace, steps, captured, got }
}

/// Runs `seed` both ways and compares; returns (sends, receives) taken in the fast run.
fn check(seed: u64) -> usize {
    let sc = Scenario::new(seed);
    let on = run(sc, true, None);
    let off = run(sc, false, None);
    for (i, (x, y)) in on.trace.iter().zip(&off.trace).enumerate() {
        assert_eq!(x, y, "seed {seed} ({sc:?}): trace line {i} differs (fast, general)");
    }
    assert_eq!(on.trace.len(), off.trace.len(), "seed {seed}: trace lengths differ");
    if let Some(step) = (0..on.steps.len()).find(|&i| on.steps.get(i) != off.steps.get(i)) {
        let a = run(sc, true, Some(step)).captured.expect("step reached");
        let b = run(sc, false, Some(step)).captured.expect("step reached");
        assert_eq!(a, b, "seed {seed} ({sc:?}): state differs after step {step}");
        panic!("seed {seed}: state hash differs after step {step}");
    }
    assert_eq!(on.steps.len(), off.steps.len(), "seed {seed}: step counts differ");
    assert_eq!(on.got, off.got, "seed {seed}: bytes received differ");
    assert!(on.got.iter().filter(|g| !g.is_empty()).count() >= 2, "seed {seed}: no data moved");
    if std::env::var_os("EQUIV_DIAG").is_some() {
        let got: Vec<usize> = on.got.iter().map(Vec::len).collect();
        eprintln!(
            "seed {seed}: {} steps, {} lines, got {got:?}, {sc:?}",
            on.steps.len(),
            on.trace.len()
        );
    }
    on.trace.iter().filter(|l| l.contains(" send ") || l.contains(" recv ")).count()
}

#[test]
fn the_application_fast_paths_give_the_general_paths_results() {
    let mut calls = 0;
    for seed in 0..16 {
        calls += check(seed);
    }
    assert!(calls > 5_000, "only {calls} sends and receives");
}
