//! Flow table: lookup hit and miss at 10^3, 10^5 and 10^6 connections, and insert+remove
//! churn, beside `std::collections::HashMap<FlowKey, usize>` with its default (randomly keyed
//! SipHash-1-3) hasher as the reference. Tables are built once per size, outside the timing.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use xdptcp_stack::flow::{FlowKey, FlowTable};

/// Lookups per timed iteration: enough to hide loop overhead, few enough to stay in cache
/// for the key list itself.
const BATCH: usize = 1024;
const SECRET: [u8; 16] = *b"benchmark secret";

/// Deterministic pseudo-random stream (xorshift64*), so runs compare.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// The i-th client of a server at 10.0.0.1:443; `miss` picks keys no table holds.
fn key(i: u64, miss: bool) -> FlowKey {
    FlowKey {
        local_ip: Ipv4Addr::new(10, 0, 0, 1),
        local_port: if miss { 8443 } else { 443 },
        remote_ip: Ipv4Addr::from(0x6400_0000 + (i / 50_000) as u32),
        remote_port: 10_000 + (i % 50_000) as u16,
    }
}

struct Tables {
    ours: FlowTable<usize>,
    std: HashMap<FlowKey, usize>,
    hits: Vec<FlowKey>,
    misses: Vec<FlowKey>,
}

fn build(n: u64) -> Tables {
    let mut ours = FlowTable::new(n as usize + 1, SECRET);
    let mut std = HashMap::with_capacity(n as usize + 1);
    for i in 0..n {
        ours.insert(key(i, false), i as usize).unwrap();
        std.insert(key(i, false), i as usize);
    }
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hits = (0..BATCH).map(|_| key(rng.next() % n, false)).collect();
    let misses = (0..BATCH).map(|_| key(rng.next() % n, true)).collect();
    Tables { ours, std, hits, misses }
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_lookup");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in [1_000u64, 100_000, 1_000_000] {
        let t = build(n);
        for (what, keys) in [("hit", &t.hits), ("miss", &t.misses)] {
            g.bench_with_input(BenchmarkId::new(format!("ours/{what}"), n), keys, |b, keys| {
                b.iter(|| {
                    let mut found = 0usize;
                    for k in keys {
                        if let Some(h) = t.ours.lookup(black_box(k)) {
                            found += *t.ours.get(h).unwrap();
                        }
                    }
                    black_box(found)
                })
            });
            g.bench_with_input(BenchmarkId::new(format!("std/{what}"), n), keys, |b, keys| {
                b.iter(|| {
                    let mut found = 0usize;
                    for k in keys {
                        if let Some(v) = t.std.get(black_box(k)) {
                            found += *v;
                        }
                    }
                    black_box(found)
                })
            });
        }
    }
    g.finish();
}

fn churn(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_churn");
    g.throughput(Throughput::Elements(BATCH as u64));
    let n = 100_000u64;
    let Tables { mut ours, mut std, .. } = build(n);
    // Connections that come and go while n others stay.
    let fresh: Vec<FlowKey> = (n..n + BATCH as u64).map(|i| key(i, false)).collect();
    g.bench_with_input(BenchmarkId::new("ours/insert+remove", n), &fresh, |b, fresh| {
        b.iter(|| {
            for k in fresh {
                let h = ours.insert(*k, 0).unwrap();
                black_box(ours.remove(h));
            }
        })
    });
    g.bench_with_input(BenchmarkId::new("std/insert+remove", n), &fresh, |b, fresh| {
        b.iter(|| {
            for k in fresh {
                std.insert(*k, 0);
                black_box(std.remove(k));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, lookup, churn);
criterion_main!(benches);
