//! Timing wheel against a `BinaryHeap` reference (the usual alternative: a min-heap of
//! deadlines with lazy cancellation through a tombstone table).
//!
//! - `wheel/arm_cancel`: arm 1,000 timers beside 100,000 long-lived ones, then cancel them,
//!   which is what TCP does with RTO and delayed-ACK timers on almost every segment.
//! - `wheel/expire_1M`: 10^6 timers spread over 10 s of 1 ms ticks, drained by polling every
//!   millisecond until all have fired.

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hint::black_box;
use xdptcp_stack::rng::SplitMix64;
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wheel::{TimerHandle, TimerWheel};

/// Min-heap of `(deadline, id)` with cancellation by tombstone, purged when half are dead.
struct HeapTimers {
    heap: BinaryHeap<Reverse<(Instant, u32)>>,
    cancelled: Vec<bool>,
    dead: usize,
}

impl HeapTimers {
    fn new() -> Self {
        HeapTimers { heap: BinaryHeap::new(), cancelled: Vec::new(), dead: 0 }
    }

    fn arm(&mut self, deadline: Instant) -> u32 {
        let id = self.cancelled.len() as u32;
        self.cancelled.push(false);
        self.heap.push(Reverse((deadline, id)));
        id
    }

    fn cancel(&mut self, id: u32) {
        self.cancelled[id as usize] = true;
        self.dead += 1;
        if self.dead * 2 > self.heap.len() {
            let cancelled = &self.cancelled;
            self.heap.retain(|Reverse((_, id))| !cancelled[*id as usize]);
            self.dead = 0;
        }
    }

    fn expire(&mut self, now: Instant, mut fire: impl FnMut(u32)) {
        while let Some(&Reverse((deadline, id))) = self.heap.peek() {
            if deadline > now {
                break;
            }
            self.heap.pop();
            if !self.cancelled[id as usize] {
                fire(id);
            }
        }
    }
}

/// Deterministic spread of deadlines (the workspace's seeded `SplitMix64`).
fn deadlines(n: usize, span_nanos: u64) -> Vec<Instant> {
    let mut rng = SplitMix64::new(0x9E37_79B9_7F4A_7C15);
    (0..n).map(|_| Instant::from_nanos(1 + rng.below(span_nanos))).collect()
}

const TICK: Duration = Duration::from_millis(1);
const SPAN: u64 = 10_000_000_000; // 10 s

fn arm_cancel(c: &mut Criterion) {
    const BATCH: usize = 1_000;
    let background = deadlines(100_000, SPAN);
    let batch = deadlines(BATCH, 1_000_000_000);
    let mut group = c.benchmark_group("wheel/arm_cancel");
    group.throughput(Throughput::Elements(BATCH as u64));

    let mut wheel = TimerWheel::new(Instant::ZERO, TICK);
    for &d in &background {
        wheel.arm(d, 0u32);
    }
    let mut handles: Vec<TimerHandle> = Vec::with_capacity(BATCH);
    group.bench_function("wheel", |b| {
        b.iter(|| {
            for (i, &d) in batch.iter().enumerate() {
                handles.push(wheel.arm(d, i as u32));
            }
            for h in handles.drain(..) {
                black_box(wheel.cancel(h));
            }
        })
    });

    let mut heap = HeapTimers::new();
    for &d in &background {
        heap.arm(d);
    }
    let mut ids: Vec<u32> = Vec::with_capacity(BATCH);
    group.bench_function("binary_heap", |b| {
        b.iter(|| {
            // Ids grow without bound in this reference; reset the table when it gets large
            // so memory stays flat (outside the measured work in the common case).
            if heap.cancelled.len() > 10_000_000 {
                heap = HeapTimers::new();
                for &d in &background {
                    heap.arm(d);
                }
            }
            for &d in &batch {
                ids.push(heap.arm(d));
            }
            for id in ids.drain(..) {
                heap.cancel(id);
            }
        })
    });
    group.finish();
}

fn expire(c: &mut Criterion) {
    const N: usize = 1_000_000;
    let all = deadlines(N, SPAN);
    let steps = SPAN / TICK.total_nanos();
    let mut group = c.benchmark_group("wheel/expire_1M");
    group.throughput(Throughput::Elements(N as u64));
    group.sample_size(10);

    group.bench_function("wheel", |b| {
        b.iter_batched(
            || {
                let mut w = TimerWheel::with_capacity(Instant::ZERO, TICK, N);
                for (i, &d) in all.iter().enumerate() {
                    w.arm(d, i as u32);
                }
                w
            },
            |mut w| {
                let mut fired = 0usize;
                for step in 1..=steps {
                    w.expire(Instant::from_millis(step), |_, v| {
                        fired += 1;
                        black_box(v);
                    });
                }
                assert_eq!(fired, N);
                w
            },
            BatchSize::PerIteration,
        )
    });

    group.bench_function("binary_heap", |b| {
        b.iter_batched(
            || {
                let mut h = HeapTimers::new();
                h.heap.reserve(N);
                for &d in &all {
                    h.arm(d);
                }
                h
            },
            |mut h| {
                let mut fired = 0usize;
                for step in 1..=steps {
                    h.expire(Instant::from_millis(step), |v| {
                        fired += 1;
                        black_box(v);
                    });
                }
                assert_eq!(fired, N);
                h
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

criterion_group!(benches, arm_cancel, expire);
criterion_main!(benches);
