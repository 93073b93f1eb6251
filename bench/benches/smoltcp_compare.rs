//! xdptcp beside smoltcp in one harness: two stacks joined in memory, the same work.
//!
//! - `smoltcp_compare/{xdptcp,smoltcp}/bulk_1MiB`: 1 MiB from one stack to the other through
//!   all layers on both sides (Throughput::Bytes).
//! - `smoltcp_compare/{xdptcp,smoltcp}/rr_64B`: one 64-byte request and one 64-byte response
//!   on an established connection, Nagle off (Throughput::Elements).
//!
//! Held equal on both sides: Ethernet framing with real ARP (resolved during setup), MTU
//! 1500 so MSS 1460, checksums computed and verified in software (no offload), 256 KiB send
//! and receive buffers per socket, delayed ACKs as each stack does them by default (both ACK
//! at least every second full segment), frames carried in recycled preallocated buffers. The
//! harness moves frames until both stacks are quiet, advancing virtual time 1 us per round and
//! jumping to the earliest timer when nothing moves, so neither stack waits on a wall clock.
//! `xdptcp report criterion` reads names containing "smoltcp" as the reference and prints
//! ratios.

mod common;

use common::{Duo, CLIENT, PORT, SERVER};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::hint::black_box;
use std::net::Ipv4Addr;

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{EthernetAddress as SMac, HardwareAddress, IpAddress, IpCidr};

use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps};

const MTU: usize = 1500;
const FRAME: usize = MTU + 14;
const BUF: usize = 256 * 1024;
const TOTAL: usize = 1 << 20;

// ---------------------------------------------------------------------------------------
// xdptcp: two `Stack`s, frames handed over in one reused buffer.

/// The xdptcp side: Ethernet with real ARP, software checksums, Nagle off.
fn xdptcp_pair() -> Duo {
    Duo::connect(DeviceCaps::ethernet(MTU).with_checksum(ChecksumCaps::NONE), BUF, true)
}

// ---------------------------------------------------------------------------------------
// smoltcp: two `Interface`s over an in-memory Ethernet device with recycled buffers.

/// One end's queues: frames to receive, frames it sent, and free buffers.
#[derive(Default)]
struct Queues {
    rx: VecDeque<Vec<u8>>,
    tx: VecDeque<Vec<u8>>,
    free: Vec<Vec<u8>>,
}

impl Queues {
    fn buffer(&mut self) -> Vec<u8> {
        // Preallocated at setup; a fresh one only if more frames are in flight than ever.
        self.free.pop().unwrap_or_else(|| Vec::with_capacity(FRAME))
    }
}

/// smoltcp's Device: the queues sit in a `RefCell` so that the RX token (which owns the
/// received frame and gives its buffer back) and the TX token can share them.
struct MemDevice {
    q: RefCell<Queues>,
}

struct SRx<'a> {
    frame: Vec<u8>,
    q: &'a RefCell<Queues>,
}

struct STx<'a> {
    q: &'a RefCell<Queues>,
}

impl phy::RxToken for SRx<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        let r = f(&self.frame);
        self.q.borrow_mut().free.push(self.frame);
        r
    }
}

impl phy::TxToken for STx<'_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut b = self.q.borrow_mut().buffer();
        b.clear();
        b.resize(len, 0);
        let r = f(&mut b);
        self.q.borrow_mut().tx.push_back(b);
        r
    }
}

impl phy::Device for MemDevice {
    type RxToken<'a> = SRx<'a>;
    type TxToken<'a> = STx<'a>;

    fn receive(&mut self, _: SInstant) -> Option<(SRx<'_>, STx<'_>)> {
        let frame = self.q.get_mut().rx.pop_front()?;
        Some((SRx { frame, q: &self.q }, STx { q: &self.q }))
    }

    fn transmit(&mut self, _: SInstant) -> Option<STx<'_>> {
        Some(STx { q: &self.q })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp counts the Ethernet header in the MTU of an Ethernet device.
        caps.max_transmission_unit = FRAME;
        // Compute and verify every checksum in software, like xdptcp here.
        caps.checksum = ChecksumCapabilities::default();
        caps
    }
}

struct SSide {
    iface: Interface,
    dev: MemDevice,
    sockets: SocketSet<'static>,
    tcp: SocketHandle,
}

fn smol_side(ip: Ipv4Addr, seed: u8) -> SSide {
    let q =
        Queues { free: (0..512).map(|_| Vec::with_capacity(FRAME)).collect(), ..Queues::default() };
    let mut dev = MemDevice { q: RefCell::new(q) };
    let mut config = Config::new(HardwareAddress::Ethernet(SMac([2, 0, 0, 0, 0, seed])));
    config.random_seed = u64::from(seed);
    let mut iface = Interface::new(config, &mut dev, SInstant::from_millis(1));
    let o = ip.octets();
    iface.update_ip_addrs(|a| {
        a.push(IpCidr::new(IpAddress::v4(o[0], o[1], o[2], o[3]), 24)).expect("one address");
    });
    let mut sockets = SocketSet::new(Vec::new());
    let mut sock = tcp::Socket::new(
        tcp::SocketBuffer::new(vec![0; BUF]),
        tcp::SocketBuffer::new(vec![0; BUF]),
    );
    sock.set_nagle_enabled(false);
    let tcp = sockets.add(sock);
    SSide { iface, dev, sockets, tcp }
}

struct SPair {
    c: SSide,
    s: SSide,
    now: SInstant,
}

impl SPair {
    fn new() -> SPair {
        let mut c = smol_side(CLIENT, 1);
        let mut s = smol_side(SERVER, 2);
        s.sockets.get_mut::<tcp::Socket>(s.tcp).listen(PORT).expect("listen");
        let o = SERVER.octets();
        let remote = (IpAddress::v4(o[0], o[1], o[2], o[3]), PORT);
        c.sockets
            .get_mut::<tcp::Socket>(c.tcp)
            .connect(c.iface.context(), remote, 49152)
            .expect("connect");
        let mut p = SPair { c, s, now: SInstant::from_millis(1) };
        for _ in 0..1000 {
            p.pump();
            let st = p.s.sockets.get::<tcp::Socket>(p.s.tcp).state();
            let ct = p.c.sockets.get::<tcp::Socket>(p.c.tcp).state();
            if st == tcp::State::Established && ct == tcp::State::Established {
                return p;
            }
        }
        panic!("smoltcp handshake did not complete");
    }

    /// Same schedule as [`Duo::pump`].
    fn pump(&mut self) {
        let mut moved_any = false;
        loop {
            self.now += smoltcp::time::Duration::from_micros(1);
            let a = Self::step(&mut self.c, &mut self.s, self.now);
            let b = Self::step(&mut self.s, &mut self.c, self.now);
            moved_any |= a | b;
            if !(a | b) {
                break;
            }
        }
        if !moved_any {
            let next = [
                self.c.iface.poll_at(self.now, &self.c.sockets),
                self.s.iface.poll_at(self.now, &self.s.sockets),
            ]
            .into_iter()
            .flatten()
            .min();
            if let Some(t) = next.filter(|&t| t > self.now) {
                self.now = t;
            }
        }
    }

    /// Polls `from` and hands what it sent to `to`.
    fn step(from: &mut SSide, to: &mut SSide, now: SInstant) -> bool {
        from.iface.poll(now, &mut from.dev, &mut from.sockets);
        let mut moved = false;
        let (fq, tq) = (from.dev.q.get_mut(), to.dev.q.get_mut());
        while let Some(f) = fq.tx.pop_front() {
            tq.rx.push_back(f);
            moved = true;
        }
        // Buffers travel with the frames; give back what the receiver has spare.
        while fq.free.len() < 256 {
            match tq.free.pop() {
                Some(b) => fq.free.push(b),
                None => break,
            }
        }
        moved
    }

    fn client(&mut self) -> &mut tcp::Socket<'static> {
        self.c.sockets.get_mut::<tcp::Socket>(self.c.tcp)
    }

    fn server(&mut self) -> &mut tcp::Socket<'static> {
        self.s.sockets.get_mut::<tcp::Socket>(self.s.tcp)
    }
}

// ---------------------------------------------------------------------------------------
// The benchmarks.

fn bulk(c: &mut Criterion) {
    let chunk = vec![0x33u8; 64 * 1024];
    let mut sink = vec![0u8; 64 * 1024];
    let mut g = c.benchmark_group("smoltcp_compare");
    g.throughput(Throughput::Bytes(TOTAL as u64));
    g.sample_size(10);
    let mut x = xdptcp_pair();
    // Whether criterion ran the function (a name filter may skip it).
    let mut ran = false;
    g.bench_function(BenchmarkId::new("xdptcp", "bulk_1MiB"), |b| {
        ran = true;
        b.iter(|| {
            let (mut sent, mut got) = (0, 0);
            while got < TOTAL {
                while sent < TOTAL {
                    let want = (TOTAL - sent).min(chunk.len());
                    let n = x.c.tcp_send(x.ch, &chunk[..want]).expect("send");
                    if n == 0 {
                        break;
                    }
                    sent += n;
                }
                x.pump();
                while let Ok(n) = x.s.tcp_recv(x.sh, &mut sink) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
                x.drain();
            }
            black_box(got)
        })
    });
    let mut s = SPair::new();
    g.bench_function(BenchmarkId::new("smoltcp", "bulk_1MiB"), |b| {
        b.iter(|| {
            let (mut sent, mut got) = (0, 0);
            while got < TOTAL {
                while sent < TOTAL {
                    let want = (TOTAL - sent).min(chunk.len());
                    let n = s.client().send_slice(&chunk[..want]).expect("send");
                    if n == 0 {
                        break;
                    }
                    sent += n;
                }
                s.pump();
                while let Ok(n) = s.server().recv_slice(&mut sink) {
                    if n == 0 {
                        break;
                    }
                    got += n;
                }
            }
            black_box(got)
        })
    });
    g.finish();
    // Both moved everything, with the segment size the MTU allows.
    assert!(!ran || x.c.tcp_info(x.ch).expect("info").bytes_acked >= TOTAL as u64);
}

fn rr(c: &mut Criterion) {
    let msg = [7u8; 64];
    let mut buf = [0u8; 256];
    let mut g = c.benchmark_group("smoltcp_compare");
    g.throughput(Throughput::Elements(1));
    let mut x = xdptcp_pair();
    g.bench_function(BenchmarkId::new("xdptcp", "rr_64B"), |b| {
        b.iter(|| {
            x.c.tcp_send(x.ch, &msg).expect("send");
            x.pump();
            let n = x.s.tcp_recv(x.sh, &mut buf).expect("recv");
            assert_eq!(n, 64);
            x.s.tcp_send(x.sh, &buf[..n]).expect("send");
            x.pump();
            let m = x.c.tcp_recv(x.ch, &mut buf).expect("recv");
            assert_eq!(m, 64);
            x.drain();
            black_box(m)
        })
    });
    let mut s = SPair::new();
    g.bench_function(BenchmarkId::new("smoltcp", "rr_64B"), |b| {
        b.iter(|| {
            s.client().send_slice(&msg).expect("send");
            s.pump();
            let n = s.server().recv_slice(&mut buf).expect("recv");
            assert_eq!(n, 64);
            s.server().send_slice(&buf[..n]).expect("send");
            s.pump();
            let m = s.client().recv_slice(&mut buf).expect("recv");
            assert_eq!(m, 64);
            black_box(m)
        })
    });
    g.finish();
}

criterion_group!(benches, bulk, rr);
criterion_main!(benches);
