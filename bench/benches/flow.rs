//! Flow table: lookup hit and miss at 10^3, 10^5 and 10^6 connections, and insert+remove
//! churn, beside `std::collections::HashMap<FlowKey, usize>` with its default (randomly keyed
//! SipHash-1-3) hasher as the reference. Tables are built once per size, outside the timing.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::Ipv4Addr;
use xdptcp_stack::flow::{FlowKey, FlowTable};
use xdptcp_stack::rng::SplitMix64;

/// Lookups per timed iteration, enough to hide the loop overhead.
const BATCH: usize = 1024;
/// Distinct keys looked up, walked BATCH at a time: more than the caches hold, so a large
/// table pays for its cache misses instead of finding the same 1024 buckets cached.
const PROBES: usize = 1 << 18;
const SECRET: [u8; 16] = *b"benchmark secret";

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
    // Seeded, so runs compare.
    let mut rng = SplitMix64::new(0x9e37_79b9_7f4a_7c15);
    let hits = (0..PROBES).map(|_| key(rng.below(n), false)).collect();
    let misses = (0..PROBES).map(|_| key(rng.below(n), true)).collect();
    Tables { ours, std, hits, misses }
}

fn lookup(c: &mut Criterion) {
    let mut g = c.benchmark_group("flow_lookup");
    g.throughput(Throughput::Elements(BATCH as u64));
    for n in [1_000u64, 100_000, 1_000_000] {
        let t = build(n);
        for (what, keys) in [("hit", &t.hits), ("miss", &t.misses)] {
            // The structure alone: the hash was computed once already (as the stack does
            // when it also uses the hash for steering).
            let hashed: Vec<_> = keys.iter().map(|k| (*k, t.ours.hash(k))).collect();
            g.bench_with_input(
                BenchmarkId::new(format!("ours_prehashed/{what}"), n),
                &hashed,
                |b, hashed| {
                    let mut batches = hashed.chunks(BATCH).cycle();
                    b.iter(|| {
                        let mut found = 0usize;
                        for (k, h) in batches.next().unwrap_or_default() {
                            if let Some(h) = t.ours.lookup_hashed(black_box(k), *h) {
                                found += h.index();
                            }
                        }
                        black_box(found)
                    })
                },
            );
            g.bench_with_input(BenchmarkId::new(format!("ours/{what}"), n), keys, |b, keys| {
                let mut batches = keys.chunks(BATCH).cycle();
                b.iter(|| {
                    let mut found = 0usize;
                    for k in batches.next().unwrap_or_default() {
                        if let Some(h) = t.ours.lookup(black_box(k)) {
                            found += h.index();
                        }
                    }
                    black_box(found)
                })
            });
            g.bench_with_input(BenchmarkId::new(format!("std/{what}"), n), keys, |b, keys| {
                let mut batches = keys.chunks(BATCH).cycle();
                b.iter(|| {
                    let mut found = 0usize;
                    for k in batches.next().unwrap_or_default() {
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

/// The keyed hash alone: ours over the 12 key bytes, std's over the derived `Hash`.
fn hash(c: &mut Criterion) {
    use std::hash::BuildHasher;
    let mut g = c.benchmark_group("flow_hash");
    g.throughput(Throughput::Elements(BATCH as u64));
    let t = build(1_000);
    g.bench_function("ours", |b| {
        b.iter(|| {
            let mut acc = 0u32;
            for k in &t.hits[..BATCH] {
                acc ^= t.ours.hash(black_box(k)).value();
            }
            black_box(acc)
        })
    });
    let state = std::collections::hash_map::RandomState::new();
    g.bench_function("std", |b| {
        b.iter(|| {
            let mut acc = 0u64;
            for k in &t.hits[..BATCH] {
                acc ^= state.hash_one(black_box(k));
            }
            black_box(acc)
        })
    });
    g.finish();
}

criterion_group!(benches, hash, lookup, churn);
criterion_main!(benches);
