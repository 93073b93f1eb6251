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
//!
//! Devices are raw IP (no Ethernet, no ARP) with no checksum offload.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use std::net::Ipv4Addr;
use xdptcp_stack::iface::{DeviceCaps, InterfaceConfig};
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys, TcpHandle};
use xdptcp_stack::tcp::TcpConfig;
use xdptcp_stack::time::{Duration, Instant};
use xdptcp_stack::wire::checksum;
use xdptcp_stack::wire::ethernet::EthernetAddress;

const CLIENT: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
const SERVER: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);
const IP_HDR: usize = 20;
const SEQ: usize = IP_HDR + 4;
const ACK: usize = IP_HDR + 8;
const CSUM: usize = IP_HDR + 16;

fn stack(ip: Ipv4Addr, seed: u64) -> Stack {
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, seed as u8]), ip, 24);
    let mut cfg = StackConfig::new(iface, DeviceCaps::ip(1500), StackKeys::from_seed(seed));
    cfg.tcp = TcpConfig { send_buffer: 1 << 20, recv_buffer: 1 << 20, ..TcpConfig::default() };
    Stack::new(cfg, Instant::from_millis(1))
}

/// Two stacks joined back to back in memory.
struct Wire {
    c: Stack,
    s: Stack,
    now: Instant,
    buf: Vec<u8>,
    ch: TcpHandle,
    sh: TcpHandle,
}

impl Wire {
    fn new() -> Self {
        let mut c = stack(CLIENT, 1);
        let mut s = stack(SERVER, 2);
        let l = s.tcp_listen(Ipv4Addr::UNSPECIFIED, 80, 16).unwrap();
        let now = Instant::from_millis(1);
        let ch = c.tcp_connect(now, SERVER, 80).unwrap();
        let mut w = Wire { c, s, now, buf: vec![0; 1500], ch, sh: ch };
        w.pump();
        let mut sh = None;
        while let Some(ev) = w.s.poll_event() {
            if let StackEvent::Acceptable(l2) = ev {
                assert_eq!(l2, l);
                sh = w.s.tcp_accept(l2);
            }
        }
        while w.c.poll_event().is_some() {}
        w.sh = sh.expect("handshake");
        w
    }

    /// Moves frames both ways until both stacks are quiet; time advances 1 us per round.
    fn pump(&mut self) {
        loop {
            self.now += Duration::from_micros(1);
            let moved = shuttle(&mut self.c, &mut self.s, self.now, &mut self.buf)
                | shuttle(&mut self.s, &mut self.c, self.now, &mut self.buf);
            if !moved {
                return;
            }
        }
    }

    fn drain_events(&mut self) {
        while self.c.poll_event().is_some() {}
        while self.s.poll_event().is_some() {}
    }
}

/// Runs `from`'s due timers and hands everything it sends to `to`.
fn shuttle(from: &mut Stack, to: &mut Stack, now: Instant, buf: &mut [u8]) -> bool {
    if from.poll_timeout().is_some_and(|t| t <= now) {
        from.on_timeout(now);
    }
    let mut moved = false;
    while let Some(n) = from.poll_transmit(now, buf) {
        to.receive(now, &buf[..n]);
        moved = true;
    }
    moved
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
    let mut w = Wire::new();
    // A full-MSS data frame from the client, captured as the template.
    let data = vec![0x5a; 1448];
    w.c.tcp_send(w.ch, &data).unwrap();
    let n = w.c.poll_transmit(w.now, &mut w.buf).unwrap();
    let mut frame = w.buf[..n].to_vec();
    assert!(n > 1448 + 40);
    let mut seq = field(&frame, SEQ);
    let mut out = vec![0u8; 1500];
    let mut sink = vec![0u8; 2048];
    let (s, sh) = (&mut w.s, w.sh);
    let now = w.now;
    let before = s.tcp_info(sh).unwrap().bytes_received;
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("rx_segment", |b| {
        b.iter(|| {
            s.receive(now, black_box(&frame));
            while s.tcp_recv(sh, &mut sink).unwrap_or(0) > 0 {}
            while let Some(n) = s.poll_transmit(now, &mut out) {
                black_box(n);
            }
            while s.poll_event().is_some() {}
            seq = seq.wrapping_add(1448);
            patch_u32(&mut frame, SEQ, seq);
        })
    });
    g.finish();
    // Every frame was in sequence and delivered, none dropped as a duplicate.
    let delivered = s.tcp_info(sh).unwrap().bytes_received - before;
    assert_eq!(delivered % 1448, 0);
    assert!(delivered >= 1448 * 1000, "{delivered}");
    assert_eq!(s.tcp_counters().in_errs, 0);
}

fn tx_segment(c: &mut Criterion) {
    let mut w = Wire::new();
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
    w.drain_events();
    let mut ack = field(&ack_frame, ACK);
    let data = vec![0xa5u8; 1448];
    let mut out = vec![0u8; 1500];
    let (s, sh, now) = (&mut w.s, w.sh, w.now);
    let mut unacked = 0u32;
    let before = s.tcp_info(sh).unwrap().bytes_acked;
    let mut g = c.benchmark_group("tcp_path");
    g.throughput(Throughput::Elements(1));
    g.bench_function("tx_segment", |b| {
        b.iter(|| {
            s.tcp_send(sh, black_box(&data)).unwrap();
            let n = s.poll_transmit(now, &mut out).expect("window open");
            black_box(&out[..n]);
            unacked += 1448;
            if unacked >= 4 * 1448 {
                ack = ack.wrapping_add(unacked);
                unacked = 0;
                patch_u32(&mut ack_frame, ACK, ack);
                s.receive(now, &ack_frame);
                while s.poll_event().is_some() {}
            }
        })
    });
    g.finish();
    // The patched ACKs were accepted: the window kept moving.
    assert!(s.tcp_info(sh).unwrap().bytes_acked - before >= 1448 * 1000);
}

fn bulk(c: &mut Criterion) {
    const TOTAL: usize = 1 << 20;
    let mut w = Wire::new();
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
                w.drain_events();
            }
            black_box(got)
        })
    });
    g.finish();
}

fn rpc(c: &mut Criterion) {
    let mut w = Wire::new();
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
            w.drain_events();
            black_box(m)
        })
    });
    g.finish();
}

criterion_group!(benches, rx_segment, tx_segment, bulk, rpc);
criterion_main!(benches);
