//! Framing and the sans-IO apps, measured without sockets.
//!
//! - `framing/head_bytewise`: an 8 KiB HTTP head arriving one byte at a time. The incremental
//!   delimiter search resumes where it stopped; the `naive` reference searches the whole
//!   buffer again on every arrival, which is quadratic.
//! - `framing/length_prefixed`: cutting 1,000 glued 64-byte messages out of one buffer.
//! - `apps/http_pipelined`: 100 pipelined GET requests answered in one call.
//! - `apps/rr`: 1,000 glued rr requests answered in one call.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use xdptcp_bench::apps::{http, rr::RrServer, Protocol};
use xdptcp_bench::framing::{for_each_frame, Delimited, Framer, LengthPrefixed};

/// Finds the delimiter by searching the whole buffer each time (what a framer without state
/// does).
fn naive_find(buf: &[u8], delimiter: &[u8]) -> Option<usize> {
    buf.windows(delimiter.len()).position(|w| w == delimiter)
}

fn framing(c: &mut Criterion) {
    let mut head = b"GET / HTTP/1.1\r\nHost: x\r\n".to_vec();
    while head.len() < 8 * 1024 - 4 {
        head.extend_from_slice(b"X-Filler: abcdefghijklmnopqrstuvwxyz\r\n");
    }
    head.extend_from_slice(b"\r\n\r\n");
    let mut g = c.benchmark_group("framing/head_bytewise");
    g.throughput(Throughput::Bytes(head.len() as u64));
    g.bench_function("incremental", |b| {
        b.iter(|| {
            let mut f = Delimited::new(b"\r\n\r\n", 16 * 1024);
            let mut found = None;
            for end in 1..=head.len() {
                if let Ok(Some(frame)) = f.next_frame(&head[..end]) {
                    found = Some(frame.consumed);
                }
            }
            black_box(found)
        })
    });
    g.bench_function("naive", |b| {
        b.iter(|| {
            let mut found = None;
            for end in 1..=head.len() {
                if let Some(i) = naive_find(&head[..end], b"\r\n\r\n") {
                    found = Some(i + 4);
                }
            }
            black_box(found)
        })
    });
    g.finish();

    let mut stream = Vec::new();
    for i in 0..1000u32 {
        LengthPrefixed::encode(&[i as u8; 64], &mut stream).unwrap();
    }
    let mut g = c.benchmark_group("framing/length_prefixed");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("glued_1000x64", |b| {
        b.iter(|| {
            let mut n = 0;
            let used =
                for_each_frame(&mut LengthPrefixed::new(1024), black_box(&stream), |m, _| {
                    n += m.len();
                    true
                });
            black_box((used, n))
        })
    });
    g.finish();
}

fn apps(c: &mut Criterion) {
    let config = Arc::new(http::Config::new(128));
    let requests: Vec<u8> = (0..100)
        .flat_map(|_| b"GET /index.html HTTP/1.1\r\nHost: bench\r\nUser-Agent: criterion\r\nAccept: */*\r\n\r\n".iter().copied())
        .collect();
    let mut out = Vec::with_capacity(64 * 1024);
    let mut g = c.benchmark_group("apps");
    g.throughput(Throughput::Elements(100));
    g.bench_function("http_pipelined_100", |b| {
        b.iter(|| {
            let mut app = http::Http::new(config.clone());
            out.clear();
            black_box(app.on_readable(black_box(&requests), &mut out))
        })
    });
    let mut rr_requests = Vec::new();
    for _ in 0..1000 {
        LengthPrefixed::encode(&[7; 64], &mut rr_requests).unwrap();
    }
    g.throughput(Throughput::Elements(1000));
    g.bench_function("rr_1000x64", |b| {
        b.iter(|| {
            let mut app = RrServer::default();
            out.clear();
            black_box(app.on_readable(black_box(&rr_requests), &mut out))
        })
    });
    g.finish();
}

criterion_group!(benches, framing, apps);
criterion_main!(benches);
