//! Model-based test of the timing wheel against a `BTreeMap` oracle.
//!
//! Random sequences of arm / cancel / reschedule / advance (including jumps of years and
//! deadlines in the past) must leave the wheel agreeing with the oracle after every step:
//! each timer fires exactly once, exactly when `now` reaches its deadline (never early, never
//! late relative to the polled `now`), and `next_deadline` is a lower bound on the earliest
//! pending deadline that still lies after the last poll.

use proptest::prelude::*;
use std::collections::{BTreeMap, HashMap};
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wheel::{LazyEntry, TimerHandle, TimerWheel};

#[derive(Clone, Debug)]
enum Op {
    /// Arm at `now + offset` (or `now - offset` when `past`).
    Arm {
        offset: u64,
        past: bool,
    },
    /// Cancel the pending timer picked by the index (modulo the number pending).
    Cancel(usize),
    /// Cancel a handle that has already fired or been cancelled.
    CancelStale(usize),
    Reschedule {
        pick: usize,
        offset: u64,
    },
    /// Advance `now` and drain with `expire`.
    Advance(u64),
    /// Advance `now` and drain one at a time with `pop_expired`.
    AdvancePop(u64),
}

fn offset() -> impl Strategy<Value = u64> {
    prop_oneof![
        2 => 0u64..4,                         // on and around the deadline itself
        4 => 0u64..5_000_000,                 // within a few ms
        3 => 0u64..2_000_000_000,             // within seconds
        2 => 0u64..(86_400u64 * 1_000_000_000 * 40), // up to 40 days
        1 => any::<u64>(),                    // anywhere, saturating at the far future
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (offset(), proptest::bool::weighted(0.1)).prop_map(|(offset, past)| Op::Arm { offset, past }),
        2 => any::<usize>().prop_map(Op::Cancel),
        1 => any::<usize>().prop_map(Op::CancelStale),
        2 => (any::<usize>(), offset()).prop_map(|(pick, offset)| Op::Reschedule { pick, offset }),
        3 => offset().prop_map(Op::Advance),
        1 => offset().prop_map(Op::AdvancePop),
    ]
}

/// Many timers within a few ticks, armed, moved and polled many times per tick in any order:
/// the case of a server polling every few microseconds with a 1 ms tick, where the wheel keeps
/// the current tick's slot sorted and must keep it so through insertions in and out of order.
fn dense_op() -> impl Strategy<Value = Op> {
    let near = || prop_oneof![3 => 0u64..3_000_000, 1 => 0u64..4, 1 => 0u64..200_000_000];
    prop_oneof![
        8 => (near(), proptest::bool::weighted(0.05)).prop_map(|(offset, past)| Op::Arm { offset, past }),
        2 => any::<usize>().prop_map(Op::Cancel),
        3 => (any::<usize>(), near()).prop_map(|(pick, offset)| Op::Reschedule { pick, offset }),
        4 => (0u64..60_000).prop_map(Op::Advance),
        2 => (0u64..60_000).prop_map(Op::AdvancePop),
    ]
}

fn tick() -> impl Strategy<Value = Duration> {
    prop_oneof![
        Just(Duration::from_millis(1)),
        Just(Duration::from_nanos(1)),
        Just(Duration::from_micros(100)),
        (1u64..50_000_000).prop_map(Duration::from_nanos),
    ]
}

struct Model {
    wheel: TimerWheel<u64>,
    /// id -> deadline of every pending timer.
    pending: BTreeMap<u64, Instant>,
    handles: HashMap<u64, TimerHandle>,
    stale: Vec<TimerHandle>,
    now: Instant,
    next_id: u64,
}

impl Model {
    fn pick(&self, i: usize) -> Option<u64> {
        if self.pending.is_empty() {
            return None;
        }
        self.pending.keys().nth(i % self.pending.len()).copied()
    }

    fn check_fired(&mut self, fired: Vec<(TimerHandle, u64)>) -> Result<(), TestCaseError> {
        for (handle, id) in fired {
            let deadline = self.pending.remove(&id);
            prop_assert!(deadline.is_some(), "timer {} fired twice or after cancel", id);
            let deadline = deadline.unwrap_or(Instant::ZERO);
            prop_assert!(deadline <= self.now, "timer {} fired early", id);
            prop_assert_eq!(self.handles.remove(&id), Some(handle));
            self.stale.push(handle);
        }
        // Nothing due may be left behind.
        if let Some((id, d)) = self.pending.iter().find(|(_, &d)| d <= self.now) {
            prop_assert!(false, "timer {} due at {:?} not fired at {:?}", id, d, self.now);
        }
        Ok(())
    }

    fn check_next(&self, after_poll: bool) -> Result<(), TestCaseError> {
        prop_assert_eq!(self.wheel.len(), self.pending.len());
        let earliest = self.pending.values().min().copied();
        match (self.wheel.next_deadline(), earliest) {
            (None, None) => {}
            (Some(next), Some(earliest)) => {
                prop_assert!(next <= earliest, "next {:?} after earliest {:?}", next, earliest);
                if after_poll {
                    prop_assert!(next > self.now, "next {:?} not after now {:?}", next, self.now);
                }
            }
            (next, earliest) => prop_assert!(false, "next {:?} vs earliest {:?}", next, earliest),
        }
        Ok(())
    }

    fn deadline(&self, offset: u64, past: bool) -> Instant {
        if past {
            self.now - Duration::from_nanos(offset)
        } else {
            self.now + Duration::from_nanos(offset)
        }
    }

    fn step(&mut self, op: Op) -> Result<(), TestCaseError> {
        let mut after_poll = false;
        match op {
            Op::Arm { offset, past } => {
                let deadline = self.deadline(offset, past);
                let id = self.next_id;
                self.next_id += 1;
                let h = self.wheel.arm(deadline, id);
                self.pending.insert(id, deadline);
                self.handles.insert(id, h);
            }
            Op::Cancel(i) => {
                if let Some(id) = self.pick(i) {
                    let h = self.handles.remove(&id).unwrap_or(TimerHandle::DANGLING);
                    prop_assert_eq!(self.wheel.cancel(h), Some(id));
                    self.pending.remove(&id);
                    self.stale.push(h);
                }
            }
            Op::CancelStale(i) => {
                if !self.stale.is_empty() {
                    let h = self.stale[i % self.stale.len()];
                    prop_assert_eq!(self.wheel.cancel(h), None);
                    prop_assert!(!self.wheel.reschedule(h, self.now));
                }
            }
            Op::Reschedule { pick, offset } => {
                if let Some(id) = self.pick(pick) {
                    let deadline = self.deadline(offset, false);
                    let h = self.handles[&id];
                    prop_assert!(self.wheel.reschedule(h, deadline));
                    prop_assert_eq!(self.wheel.deadline(h), Some(deadline));
                    self.pending.insert(id, deadline);
                }
            }
            Op::Advance(delta) => {
                self.now += Duration::from_nanos(delta);
                let mut fired = Vec::new();
                self.wheel.poll_expired(self.now, &mut fired);
                self.check_fired(fired)?;
                after_poll = true;
            }
            Op::AdvancePop(delta) => {
                self.now += Duration::from_nanos(delta);
                let mut fired = Vec::new();
                while let Some(f) = self.wheel.pop_expired(self.now) {
                    fired.push(f);
                }
                self.check_fired(fired)?;
                after_poll = true;
            }
        }
        self.check_next(after_poll)
    }
}

/// Runs `ops` on a wheel and the oracle from `start`, checking after every step, then drains
/// everything: each remaining timer fires exactly once.
fn run(start: u64, tick: Duration, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let start = Instant::from_nanos(start);
    let mut m = Model {
        wheel: TimerWheel::new(start, tick),
        pending: BTreeMap::new(),
        handles: HashMap::new(),
        stale: Vec::new(),
        now: start,
        next_id: 0,
    };
    for op in ops {
        m.step(op)?;
    }
    m.now = Instant::from_nanos(u64::MAX);
    let mut fired = Vec::new();
    m.wheel.poll_expired(m.now, &mut fired);
    m.check_fired(fired)?;
    prop_assert!(m.pending.is_empty());
    prop_assert!(m.wheel.is_empty());
    prop_assert_eq!(m.wheel.next_deadline(), None);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn wheel_matches_oracle(
        start in 0u64..1_000_000_000_000,
        tick in tick(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        run(start, tick, ops)?;
    }

    /// Dense timers, polled many times per tick: never early, never late, and `next_deadline`
    /// never after the true earliest deadline (nor, after a poll, at or before `now`).
    #[test]
    fn dense_current_tick_matches_oracle(
        start in 0u64..1_000_000_000_000,
        tick in prop_oneof![Just(Duration::from_millis(1)), (1_000u64..2_000_000).prop_map(Duration::from_nanos)],
        ops in proptest::collection::vec(dense_op(), 1..600),
    ) {
        run(start, tick, ops)?;
    }

    /// A simulator that sleeps until `next_deadline` and polls must fire every timer at its
    /// exact deadline, in deadline order, without ever waking for nothing twice in a row.
    #[test]
    fn driving_by_next_deadline_fires_in_order(
        offsets in proptest::collection::vec(offset(), 1..100),
        tick in tick(),
    ) {
        let mut w = TimerWheel::new(Instant::ZERO, tick);
        for (i, &o) in offsets.iter().enumerate() {
            w.arm(Instant::from_nanos(o), i);
        }
        let mut last = Instant::ZERO;
        let mut fired = 0;
        let mut idle_wakeups = 0u32;
        while let Some(next) = w.next_deadline() {
            prop_assert!(next >= last);
            last = next;
            let mut n = 0;
            w.expire(next, |_, i| {
                n += 1;
                assert_eq!(Instant::from_nanos(offsets[i]), next, "fired off its deadline");
            });
            fired += n;
            // A wake-up may only move the wheel closer (a cascade); bounded by the levels.
            idle_wakeups = if n == 0 { idle_wakeups + 1 } else { 0 };
            prop_assert!(idle_wakeups <= 11, "no progress");
        }
        prop_assert_eq!(fired, offsets.len());
    }
}

#[derive(Clone, Debug)]
enum OwnerOp {
    /// Owner `pick` now wants its timer `offset` after `now`, or none; with `horizon`, it
    /// expects its next change within that many nanoseconds (`retarget_within`).
    Want { pick: usize, offset: Option<u64>, horizon: Option<u64> },
    /// Advance `now` and hand out every owner whose timer is due.
    Advance(u64),
    /// The end of a batch: settle the entries whose earlier deadline was held back.
    Settle,
}

fn owner_op() -> impl Strategy<Value = OwnerOp> {
    // The server's pattern among others: a short wait (a delayed ACK) replaced by a long one
    // (the RTO), deadlines creeping later, timers cleared, polls at every scale.
    let wait = || {
        prop_oneof![
            3 => 0u64..5_000_000,
            3 => 30_000_000u64..300_000_000,
            1 => 0u64..4,
            1 => 0u64..(86_400u64 * 1_000_000_000),
        ]
    };
    prop_oneof![
        6 => (
            0usize..12,
            proptest::option::weighted(0.85, wait()),
            proptest::option::weighted(0.5, wait()),
        )
            .prop_map(|(pick, offset, horizon)| OwnerOp::Want { pick, offset, horizon }),
        3 => prop_oneof![3 => 0u64..200_000, 2 => 0u64..50_000_000, 1 => wait()].prop_map(OwnerOp::Advance),
    ]
}

/// [`owner_op`] with batch ends between, for owners whose earlier deadlines are held back.
fn held_op() -> impl Strategy<Value = OwnerOp> {
    prop_oneof![8 => owner_op(), 1 => Just(OwnerOp::Settle)]
}

/// Owners' timers kept lazily (`retarget` and `retarget_within`, each owner holding its
/// `LazyEntry` and forgetting its deadline when `pop_expired_with` asks it, entries fired
/// early moved on as their slot empties) against two references: the deadlines
/// themselves (each owner handed out at the first poll at or after the deadline it wants,
/// never otherwise) and a wheel told every change exactly (`arm`, `reschedule`, `cancel`),
/// which must fire the same owners at the same polls. `next_deadline` stays a lower bound.
/// With `hold`, as the stack keeps them for arriving segments: an earlier deadline is held
/// back (`retarget_held`) until the batch ends or a poll reaches it (the wheel counts it in
/// `next_deadline` meanwhile).
fn run_owners(
    start: u64,
    tick: Duration,
    ops: &[OwnerOp],
    hold: bool,
) -> Result<(), TestCaseError> {
    let start = Instant::from_nanos(start);
    let mut wheel = TimerWheel::new(start, tick);
    let mut exact: TimerWheel<usize> = TimerWheel::new(start, tick);
    let mut entries = [LazyEntry::NONE; 12];
    let mut exact_handles = [TimerHandle::DANGLING; 12];
    let mut wanted: [Option<Instant>; 12] = [None; 12];
    let mut now = start;
    // The owners whose earlier deadline was held back (settled by `retarget` again, as the
    // stack settles a held connection in its transmit turn).
    let mut held: Vec<usize> = Vec::new();
    for op in ops {
        match *op {
            OwnerOp::Settle => {
                for pick in held.drain(..) {
                    wheel.retarget(&mut entries[pick], wanted[pick], || pick);
                }
                wheel.release_held();
            }
            OwnerOp::Want { pick, offset, horizon } => {
                let due = offset.map(|o| now + Duration::from_nanos(o));
                wanted[pick] = due;
                match horizon {
                    _ if hold => {
                        if wheel.retarget_held(&mut entries[pick], due, || pick) {
                            held.push(pick);
                        }
                    }
                    Some(h) => {
                        let h = Duration::from_nanos(h);
                        wheel.retarget_within(&mut entries[pick], due, h, || pick);
                    }
                    None => wheel.retarget(&mut entries[pick], due, || pick),
                }
                let h = exact_handles[pick];
                match due {
                    Some(t) if exact.reschedule(h, t) => {}
                    Some(t) => exact_handles[pick] = exact.arm(t, pick),
                    None => {
                        exact.cancel(h);
                    }
                }
            }
            OwnerOp::Advance(delta) => {
                now += Duration::from_nanos(delta);
                if wheel.held().is_some_and(|t| t <= now) {
                    for pick in held.drain(..) {
                        wheel.retarget(&mut entries[pick], wanted[pick], || pick);
                    }
                    wheel.release_held();
                }
                let mut fired = Vec::new();
                loop {
                    // Asked, an owner forgets its entry's deadline and says what it wants.
                    let popped = wheel.pop_expired_with(now, |&owner| {
                        entries[owner].forget();
                        wanted[owner]
                    });
                    let Some((h, owner)) = popped else { break };
                    let w = wanted[owner];
                    prop_assert!(w.is_some_and(|w| w <= now), "owner {} handed out early", owner);
                    prop_assert_eq!(h, entries[owner].handle());
                    wanted[owner] = None;
                    entries[owner] = LazyEntry::NONE;
                    fired.push(owner);
                }
                if let Some(i) = wanted.iter().position(|w| w.is_some_and(|w| w <= now)) {
                    prop_assert!(
                        false,
                        "owner {} due at {:?} not handed out at {:?}",
                        i,
                        wanted[i],
                        now
                    );
                }
                let mut exact_fired = Vec::new();
                exact.expire(now, |_, owner| exact_fired.push(owner));
                fired.sort_unstable();
                exact_fired.sort_unstable();
                prop_assert_eq!(fired, exact_fired, "at {:?}", now);
            }
        }
        // An owner that knows its entry's deadline knows it right.
        for (i, e) in entries.iter().enumerate() {
            if let Some(known) = e.known_deadline() {
                prop_assert_eq!(wheel.deadline(e.handle()), Some(known), "owner {}", i);
            }
        }
        let earliest = wanted.iter().flatten().min().copied();
        if let Some(e) = earliest {
            let next = wheel.next_deadline();
            prop_assert!(next.is_some_and(|n| n <= e), "next {:?} after wanted {:?}", next, e);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn lazy_entries_fire_as_an_exact_wheel_does(
        start in 0u64..1_000_000_000_000,
        tick in prop_oneof![Just(Duration::from_micros(64)), Just(Duration::from_millis(1)), (1u64..5_000_000).prop_map(Duration::from_nanos)],
        ops in proptest::collection::vec(owner_op(), 1..400),
    ) {
        run_owners(start, tick, &ops, false)?;
    }

    #[test]
    fn held_entries_fire_as_an_exact_wheel_does(
        start in 0u64..1_000_000_000_000,
        tick in prop_oneof![Just(Duration::from_micros(64)), Just(Duration::from_millis(1)), (1u64..5_000_000).prop_map(Duration::from_nanos)],
        ops in proptest::collection::vec(held_op(), 1..400),
    ) {
        run_owners(start, tick, &ops, true)?;
    }
}
