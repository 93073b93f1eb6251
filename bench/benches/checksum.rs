//! Internet checksum throughput: the word-at-a-time `sum` beside the RFC 1071 byte-pair
//! reference loop, and the fused `copy_and_sum` beside a copy followed by a sum. Sizes are a
//! minimum frame (64 B), a standard MTU (1500 B) and a jumbo frame (9000 B).
use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use xdptcp_stack::wire::checksum;

const SIZES: [usize; 3] = [64, 1500, 9000];

/// The RFC 1071 §4.1 byte-pair loop: the reference the fast path is measured against.
fn naive_sum(data: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut pairs = data.chunks_exact(2);
    for p in &mut pairs {
        acc += u64::from(u16::from_be_bytes([p[0], p[1]]));
    }
    if let [last] = pairs.remainder() {
        acc += u64::from(*last) << 8;
    }
    checksum::fold(acc)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(131) >> 3) as u8).collect()
}

fn sum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum/sum");
    for size in SIZES {
        let buf = data(size);
        assert_eq!(checksum::sum(&buf), naive_sum(&buf));
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("word_at_a_time", size), &buf, |b, buf| {
            b.iter(|| checksum::sum(black_box(buf)))
        });
        g.bench_with_input(BenchmarkId::new("naive_byte_pairs", size), &buf, |b, buf| {
            b.iter(|| naive_sum(black_box(buf)))
        });
    }
    g.finish();
}

fn copy_and_sum(c: &mut Criterion) {
    let mut g = c.benchmark_group("checksum/copy_and_sum");
    for size in SIZES {
        let src = data(size);
        let mut dst = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("fused", size), &src, |b, src| {
            b.iter(|| checksum::copy_and_sum(black_box(&mut dst), black_box(src)))
        });
        let mut dst = vec![0u8; size];
        g.bench_with_input(BenchmarkId::new("copy_then_sum", size), &src, |b, src| {
            b.iter(|| {
                let dst = black_box(&mut dst[..]);
                dst.copy_from_slice(black_box(src));
                checksum::sum(dst)
            })
        });
    }
    g.finish();
}

criterion_group!(benches, sum, copy_and_sum);
criterion_main!(benches);
