//! TCP wire format: parse and emit of a data segment carrying timestamps and three SACK
//! blocks (the worst common case: a 60-byte header), with a small and a full-size payload.
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::net::Ipv4Addr;
use xdptcp_stack::tcp::SeqNumber;
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::tcp::{Packet, TcpFlags, TcpRepr};
use xdptcp_stack::wire::tcp_options::SackBlocks;

const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

fn repr(payload: &[u8]) -> TcpRepr<'_> {
    let mut r = repr_ts_only(payload);
    r.sack_blocks = SackBlocks::from_slice(&[
        (SeqNumber(0x9abc_e000), SeqNumber(0x9abc_e5a8)),
        (SeqNumber(0x9abc_f000), SeqNumber(0x9abc_f5a8)),
        (SeqNumber(0x9abd_0000), SeqNumber(0x9abd_05a8)),
    ]);
    r
}

/// The common case after the handshake: timestamps alone, NOP NOP TS.
fn repr_ts_only(payload: &[u8]) -> TcpRepr<'_> {
    let mut r = TcpRepr::new(443, 51234, SeqNumber(0x1234_5678));
    r.ack = Some(SeqNumber(0x9abc_def0));
    r.flags = TcpFlags::ACK | TcpFlags::PSH;
    r.window = 502;
    r.timestamps = Some((0x0102_0304, 0x0506_0708));
    r.payload = payload;
    r
}

fn segment(r: TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; r.buffer_len()];
    r.emit_with_payload(&mut Packet::new_unchecked(&mut buf[..]), SRC, DST, true);
    buf
}

fn parse(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_parse");
    g.throughput(Throughput::Elements(1));
    for size in [0usize, 1448] {
        let payload = vec![0x5a; size];
        let bytes = segment(repr(&payload));
        for verify in [false, true] {
            let name = if verify { "ts+sack/verify_checksum" } else { "ts+sack/no_checksum" };
            g.bench_with_input(BenchmarkId::new(name, size), &bytes, |b, bytes| {
                b.iter(|| {
                    let p = Packet::new_checked(black_box(&bytes[..])).unwrap();
                    let r = TcpRepr::parse(&p, SRC, DST, verify).unwrap();
                    black_box((r.seq, r.ack, r.timestamps, r.sack_blocks.len(), r.payload.len()))
                })
            });
        }
    }
    let ts_only = segment(repr_ts_only(&[]));
    g.bench_with_input(BenchmarkId::new("ts_only/no_checksum", 0), &ts_only, |b, bytes| {
        b.iter(|| {
            let p = Packet::new_checked(black_box(&bytes[..])).unwrap();
            let r = TcpRepr::parse(&p, SRC, DST, false).unwrap();
            black_box((r.seq, r.ack, r.timestamps, r.payload.len()))
        })
    });
    g.finish();
}

fn emit(c: &mut Criterion) {
    let mut g = c.benchmark_group("tcp_emit");
    g.throughput(Throughput::Elements(1));
    for size in [0usize, 1448] {
        let payload = vec![0x5a; size];
        let r = repr(&payload);
        let mut frame = vec![0u8; r.buffer_len()];
        // The path a sender takes: payload copied into the frame once, summed on the way.
        g.bench_function(BenchmarkId::new("copy_and_sum+emit_header", size), |b| {
            b.iter(|| {
                let r = black_box(&r);
                let hl = r.header_len();
                let sum = checksum::copy_and_sum(&mut frame[hl..], r.payload);
                let mut p = Packet::new_unchecked(&mut frame[..]);
                r.emit_header(&mut p, SRC, DST, Some(sum));
                black_box(p.checksum())
            })
        });
        // Checksum offloaded to the NIC: header only.
        g.bench_function(BenchmarkId::new("emit_header_offload", size), |b| {
            b.iter(|| {
                let mut p = Packet::new_unchecked(&mut frame[..]);
                black_box(&r).emit_header(&mut p, SRC, DST, None);
                black_box(p.checksum())
            })
        });
    }
    g.finish();
}

criterion_group!(benches, parse, emit);
criterion_main!(benches);
