//! The established-connection fast path of the whole stack (interface + demux + engine +
//! frame building), per segment, and two stacks talking in memory.
//!
//! - `tcp_path/rx_segment`: one in-sequence full-MSS data frame through `Stack::receive`,
//!   the application consuming it, and `poll_transmit` deciding on the ACK (one every second
//!   segment, as delayed ACKs go). The frame is a template whose sequence number and checksum
//!   are patched incrementally, so the stack verifies a real checksum every time.
//! - `tcp_path/tx_segment`: the application writes one MSS and `poll_transmit` builds the
//!   data frame (copy and checksum in one pass). Every fourth segment a patched ACK frame
//!   acknowledges everything, so the window stays open; its cost is included.
//! - `tcp_path/bulk_1MiB`: 1 MiB from one stack to another through memory, all layers on both
//!   sides (Throughput::Bytes).
//! - `tcp_path/rpc_64B`: one 64-byte request and 64-byte response round trip
//!   (Throughput::Elements).
//! - `tcp_path/crr_64B`: a whole short connection, as `load crr` makes them: handshake,
//!   64-byte request and response, client closes first, server closes, both freed (the
//!   client's TIME-WAIT shortened to 2 ms of virtual time so thousands do not pile up).
//!   Connection set-up and teardown: buffers, flow table, listener queues, timers.
//!
//! - `tcp_path/{rx,tx}_segment_csum_offload/{64,1448}`: the same two paths with every
//!   checksum left to the device (`ChecksumCaps::ALL`, as on a NIC that offloads them) and
//!   Nagle off; the 64-byte rows beside the 1448-byte ones show what the payload copies cost
//!   (receive: frame to ring and ring to application; send: application to ring and ring
//!   to frame).
//!
//! Devices are raw IP (no Ethernet, no ARP), with no checksum offload unless a row says so.

mod common;

use common::Duo;
use criterion::measurement::WallTime;
use criterion::{
    criterion_group, criterion_main, Bencher, BenchmarkGroup, BenchmarkId, Criterion, Throughput,
};
use std::hint::black_box;
use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps};
use xdptcp_stack::stack::{StackConfig, StackEvent};
use xdptcp_stack::tcp::{State, TcpConfig};
use xdptcp_stack::time::Duration;
use xdptcp_stack::wire::checksum;

const IP_HDR: usize = 20;
const SEQ: usize = IP_HDR + 4;
const ACK: usize = IP_HDR + 8;
const CSUM: usize = IP_HDR + 16;

/// The in-memory pair of these suites: raw IP devices, 1 MiB buffers, Nagle on.
fn wire() -> Duo {
    Duo::connect(DeviceCaps::ip(1500), 1 << 20, false)
}

/// The same pair with every checksum left to the device both ways (as on a NIC that
/// offloads them: nothing verified, TCP checksums seeded with the pseudo-header sum only),
/// and Nagle off so that 64-byte segments leave at once.
fn offloaded() -> Duo {
    Duo::connect(DeviceCaps::ip(1500).with_checksum(ChecksumCaps::ALL), 1 << 20, true)
}

/// Replaces the 32-bit field at `at` and patches the TCP checksum (RFC 1624).
fn patch_u32(frame: &mut [u8], at: usize, value: u32) {
    let old = u32::from_be_bytes(frame[at..at + 4].try_into().unwrap());
    let mut sum = u16::from_be_bytes([frame[CSUM], frame[CSUM + 1]]);
    sum = checksum::update_u16(sum, (old >> 16) as u16, (value >> 16) as u16);
    sum = checksum::update_u16(sum, old as u16, value as u16);
    frame[at..at + 4].copy_from_slice(&value.to_be_bytes());
    frame[CSUM..CSUM + 2].copy_from_slice(&sum.to_be_bytes());
}

fn field(frame: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(frame[at..at + 4].try_into().unwrap())
}

fn rx_segment(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    rx_row(&mut g, "rx_segment", None, wire(), 1448);
    for size in [64, 1448] {
        rx_row(&mut g, "rx_segment_csum_offload", Some(size), offloaded(), size);
    }
    g.finish();
}

/// One in-sequence frame of `size` payload bytes received, consumed by the application and
/// followed by the ACK decision, per iteration.
fn rx_row(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    param: Option<usize>,
    mut w: Duo,
    size: usize,
) {
    // A data frame from the client, captured as the template.
    let data = vec![0x5a; size];
    w.c.tcp_send(w.ch, &data).unwrap();
    let n = w.c.poll_transmit(w.now, &mut w.buf).unwrap();
    let mut frame = w.buf[..n].to_vec();
    assert_eq!(n, size + IP_HDR + 32, "one segment with timestamps");
    let mut seq = field(&frame, SEQ);
    let mut out = vec![0u8; 1500];
    let mut sink = vec![0u8; 2048];
    let (s, sh) = (&mut w.s, w.sh);
    let now = w.now;
    let before = s.tcp_info(sh).unwrap().bytes_received;
    let (mut iterations, mut sent) = (0u64, 0u64);
    let mut body = |b: &mut Bencher| {
        b.iter(|| {
            s.receive(now, black_box(&frame));
            while s.tcp_recv(sh, &mut sink).unwrap_or(0) > 0 {}
            while let Some(n) = s.poll_transmit(now, &mut out) {
                black_box(n);
                sent += 1;
            }
            while s.poll_event().is_some() {}
            seq = seq.wrapping_add(size as u32);
            patch_u32(&mut frame, SEQ, seq);
            iterations += 1;
        })
    };
    bench(g, name, param, &mut body);
    // Every frame was in sequence and delivered, none dropped as a duplicate.
    let delivered = s.tcp_info(sh).unwrap().bytes_received - before;
    assert_eq!(delivered, iterations * size as u64);
    assert_eq!(s.tcp_counters().in_errs, 0);
    if iterations > 0 {
        let param = param.map(|p| format!("/{p}")).unwrap_or_default();
        eprintln!("tcp_path/{name}{param}: {sent} ACKs for {iterations} segments");
    }
}

/// Runs `body` as `name`, or as `name/param` when there is a parameter.
fn bench(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    param: Option<usize>,
    body: &mut impl FnMut(&mut Bencher),
) {
    match param {
        Some(p) => g.bench_function(BenchmarkId::new(name, p), body),
        None => g.bench_function(name, body),
    };
}

fn tx_segment(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    tx_row(&mut g, "tx_segment", None, wire(), 1448);
    for size in [64, 1448] {
        tx_row(&mut g, "tx_segment_csum_offload", Some(size), offloaded(), size);
    }
    g.finish();
}

/// The application writes `size` bytes and `poll_transmit` builds the data frame, per
/// iteration; every fourth segment a patched ACK acknowledges everything (its cost included).
fn tx_row(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    param: Option<usize>,
    mut w: Duo,
    size: usize,
) {
    // A pure ACK from the client, captured as the template for acknowledging everything.
    w.s.tcp_send(w.sh, &[1u8; 10]).unwrap();
    let n = w.s.poll_transmit(w.now, &mut w.buf).unwrap();
    w.c.receive(w.now, &w.buf[..n]);
    let mut buf = [0u8; 16];
    while w.c.tcp_recv(w.ch, &mut buf).unwrap_or(0) > 0 {}
    // Force the ACK out now (the delayed-ACK timer).
    w.now += Duration::from_millis(50);
    w.c.on_timeout(w.now);
    let n = w.c.poll_transmit(w.now, &mut w.buf).unwrap();
    let mut ack_frame = w.buf[..n].to_vec();
    assert_eq!(n, IP_HDR + 32, "a pure ACK with timestamps");
    w.s.receive(w.now, &ack_frame);
    w.drain();
    let mut ack = field(&ack_frame, ACK);
    let data = vec![0xa5u8; size];
    let mut out = vec![0u8; 1500];
    let (s, sh, now) = (&mut w.s, w.sh, w.now);
    let mut unacked = 0u32;
    let mut segments = 0u32;
    let before = s.tcp_info(sh).unwrap().bytes_acked;
    let mut iterations = 0u64;
    let mut body = |b: &mut Bencher| {
        b.iter(|| {
            s.tcp_send(sh, black_box(&data)).unwrap();
            let n = s.poll_transmit(now, &mut out).expect("window open");
            black_box(&out[..n]);
            unacked += size as u32;
            segments += 1;
            if segments == 4 {
                ack = ack.wrapping_add(unacked);
                (unacked, segments) = (0, 0);
                patch_u32(&mut ack_frame, ACK, ack);
                s.receive(now, &ack_frame);
                while s.poll_event().is_some() {}
            }
            iterations += 1;
        })
    };
    bench(g, name, param, &mut body);
    // The patched ACKs were accepted: the window kept moving.
    let acked = s.tcp_info(sh).unwrap().bytes_acked - before;
    assert_eq!(acked, (iterations - iterations % 4) * size as u64);
}

fn bulk(c: &mut Criterion) {
    const TOTAL: usize = 1 << 20;
    let mut w = wire();
    let chunk = vec![0x33u8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    g.bench_function("bulk_1MiB", |b| {
        b.iter(|| {
            let (mut sent, mut got) = (0, 0);
            while got < TOTAL {
                while sent < TOTAL {
                    let n = w.c.tcp_send(w.ch, &chunk[..(TOTAL - sent).min(chunk.len())]).unwrap();
                    if n == 0 {
                        break;
                    }
                    sent += n;
                }
                w.pump();
                while let Ok(n) = w.s.tcp_recv(w.sh, &mut sink) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                w.drain();
            }
            black_box(got)
        })
    });
    g.finish();
}

fn rpc(c: &mut Criterion) {
    let mut w = wire();
    w.c.tcp_set_nodelay(w.ch, true).unwrap();
    w.s.tcp_set_nodelay(w.sh, true).unwrap();
    let msg = [7u8; 64];
    let mut buf = [0u8; 256];
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rpc_64B", |b| {
        b.iter(|| {
            w.c.tcp_send(w.ch, &msg).unwrap();
            w.pump();
            let n = w.s.tcp_recv(w.sh, &mut buf).unwrap();
            w.s.tcp_send(w.sh, &buf[..n]).unwrap();
            w.pump();
            let m = w.c.tcp_recv(w.ch, &mut buf).unwrap();
            w.drain();
            black_box(m)
        })
    });
    g.finish();
}

fn crr(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    // Default 256 KiB rings, as the lab's servers use: their allocation is part of the cost.
    // Side by side: with the buffer pool (the default), and with it disabled, which allocates
    // (and zeroes) four fresh rings per connection.
    let pooled: fn(&mut StackConfig) = |_| {};
    let unpooled: fn(&mut StackConfig) = |cfg| cfg.buffer_pool_bytes = 0;
    for (name, tune) in [("crr_64B", pooled), ("crr_64B_unpooled", unpooled)] {
        let mut w = Duo::connect_tuned(DeviceCaps::ip(1500), 256 * 1024, true, tune);
        let config =
            TcpConfig { msl: Duration::from_millis(1), ..w.c.tcp_config().with_nodelay(true) };
        let msg = [7u8; 64];
        let mut buf = [0u8; 256];
        g.bench_function(name, |b| {
            b.iter(|| black_box(short_connection(&mut w, config, &msg, &mut buf)))
        });
        // Every connection went away: the TIME-WAITs expire, the tables do not grow.
        for _ in 0..10 {
            w.now += Duration::from_millis(1);
            w.c.on_timeout(w.now);
            w.s.on_timeout(w.now);
            w.pump();
        }
        assert!(w.c.connection_count() <= 2 && w.s.connection_count() == 1);
    }
    g.finish();
}

/// One connection from open to close, as `load crr` makes them; returns the response size.
fn short_connection(w: &mut Duo, config: TcpConfig, msg: &[u8], buf: &mut [u8]) -> usize {
    let ch = w.c.tcp_connect_with(w.now, common::SERVER, common::PORT, config).unwrap();
    let mut sh = None;
    while sh.is_none() {
        w.pump();
        while let Some(ev) = w.s.poll_event() {
            if let StackEvent::Acceptable(l) = ev {
                sh = sh.or(w.s.tcp_accept(l));
            }
        }
    }
    let sh = sh.unwrap();
    w.s.tcp_set_nodelay(sh, true).unwrap();
    w.c.tcp_send(ch, msg).unwrap();
    w.pump();
    let n = w.s.tcp_recv(sh, buf).unwrap();
    w.s.tcp_send(sh, &buf[..n]).unwrap();
    w.pump();
    let m = w.c.tcp_recv(ch, buf).unwrap();
    w.c.tcp_close(ch).unwrap();
    w.pump();
    w.s.tcp_close(sh).unwrap();
    while w.s.tcp_state(sh) != State::Closed {
        w.pump();
    }
    w.drain();
    m
}

criterion_group!(benches, rx_segment, tx_segment, bulk, rpc, crr);
criterion_main!(benches);
