//! Shared helpers for the TCP engine trace tests: owned copies of transmitted segments,
//! segment templates, and a two-connection pump with virtual time.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddrV4};

use xdptcp_stack::impair::{Impairer, Impairments};
use xdptcp_stack::stack::Stack;
use xdptcp_stack::tcp::{
    BufferSizes, Endpoint, Flags, Segment, SegmentOptions, SegmentVerdict, SeqNumber, TcpConfig,
};
use xdptcp_stack::time::{Duration, Instant};

pub mod equiv;

pub const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 40000);
pub const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
/// Our ISS.
pub const ISS: u32 = 1000;
/// The peer's ISS.
pub const IRS: u32 = 5000;

pub fn s(n: u32) -> SeqNumber {
    SeqNumber(n)
}

pub fn ms(n: u64) -> Instant {
    Instant::from_millis(n)
}

/// A plain configuration for readable traces: no options, small buffers, MSS 100.
pub fn plain_config() -> TcpConfig {
    TcpConfig {
        mss: 100,
        wmem: BufferSizes::fixed(4096),
        rmem: BufferSizes::fixed(1000),
        window_scaling: false,
        timestamps: false,
        sack: false,
        ..TcpConfig::default()
    }
}

/// An owned copy of a segment (transmitted by a connection, or a template to send to one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub seq: SeqNumber,
    pub ack: Option<SeqNumber>,
    pub flags: Flags,
    pub window: u16,
    pub options: SegmentOptions,
    pub payload: Vec<u8>,
}

impl Seg {
    pub fn as_segment(&self) -> Segment<'_> {
        Segment {
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            options: self.options,
            payload: &self.payload,
        }
    }

    pub fn with_payload(mut self, p: &[u8]) -> Seg {
        self.payload = p.to_vec();
        self
    }

    pub fn with_flags(mut self, f: Flags) -> Seg {
        self.flags |= f;
        self
    }

    pub fn with_window(mut self, w: u16) -> Seg {
        self.window = w;
        self
    }

    pub fn with_ts(mut self, tsval: u32, tsecr: u32) -> Seg {
        self.options.timestamps = Some((tsval, tsecr));
        self
    }

    pub fn sack(&self) -> Vec<(SeqNumber, SeqNumber)> {
        self.options.sack_blocks.as_slice().to_vec()
    }
}

/// Segment template: `seq`, optional `ack`, flags (ACK added when `ack` is given), window 1000.
pub fn seg(seq: u32, ack: Option<u32>, flags: Flags) -> Seg {
    Seg {
        seq: s(seq),
        ack: ack.map(s),
        flags: if ack.is_some() { flags | Flags::ACK } else { flags },
        window: 1000,
        options: SegmentOptions::default(),
        payload: Vec::new(),
    }
}

/// The next transmitted segment, copied out.
pub fn tx(c: &mut Endpoint, now: Instant) -> Option<Seg> {
    let t = c.poll_transmit(now)?;
    let mut payload = Vec::with_capacity(t.payload_len());
    payload.extend_from_slice(t.payload[0]);
    payload.extend_from_slice(t.payload[1]);
    payload.extend_from_slice(t.payload[2]);
    Some(Seg {
        seq: t.header.seq,
        ack: t.header.ack,
        flags: t.header.flags,
        window: t.header.window,
        options: t.header.options,
        payload,
    })
}

/// All segments the connection wants to send now.
pub fn tx_all(c: &mut Endpoint, now: Instant) -> Vec<Seg> {
    let mut v = Vec::new();
    while let Some(x) = tx(c, now) {
        v.push(x);
        assert!(v.len() < 10_000, "poll_transmit never ends");
    }
    v
}

pub fn rx(c: &mut Endpoint, now: Instant, x: &Seg) -> SegmentVerdict {
    c.on_segment(now, &x.as_segment())
}

pub fn events(c: &mut Endpoint) -> Vec<xdptcp_stack::tcp::Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

pub fn read_all(c: &mut Endpoint) -> Vec<u8> {
    let mut out = vec![0u8; c.recv_queue_len()];
    let n = c.recv(&mut out);
    out.truncate(n);
    out
}

/// An established client connection (active open completed) with the given config. The peer
/// advertised window 1000 and MSS 100.
pub fn client(config: TcpConfig) -> Endpoint {
    let mut c = Endpoint::connect(ms(0), config, LOCAL, REMOTE, s(ISS));
    let syn = tx(&mut c, ms(0)).expect("SYN");
    assert_eq!(syn.flags, Flags::SYN);
    let mut synack = seg(IRS, Some(ISS + 1), Flags::SYN);
    synack.options.mss = Some(100);
    rx(&mut c, ms(10), &synack);
    let ack = tx(&mut c, ms(10)).expect("ACK of SYN-ACK");
    assert_eq!((ack.seq, ack.ack, ack.flags), (s(ISS + 1), Some(s(IRS + 1)), Flags::ACK));
    assert!(tx(&mut c, ms(10)).is_none());
    events(&mut c);
    c
}

/// Deterministic impairments of the pump's link.
#[derive(Clone, Copy, Debug, Default)]
pub struct Impairment {
    /// Seed of the impairment's `SplitMix64` (drops and jitter are drawn by
    /// `xdptcp_stack::impair::Impairer`, the model the simulator and the fault device use).
    pub seed: u64,
    /// Percentage of segments dropped at random.
    pub drop_pct: u64,
    /// Also drop every n-th transmitted segment (0 = off).
    pub drop_every: u64,
    /// Extra random delay of up to this many milliseconds (reorders segments).
    pub jitter_ms: u64,
}

/// A deterministic link between two connections in virtual time: segments sent by one are
/// delivered to the other after a delay, except those the impairment drops.
pub struct Pump {
    pub a: Endpoint,
    pub b: Endpoint,
    pub now: Instant,
    pub delay: Duration,
    /// In-flight segments: (arrival time, sequence of sending, to_b, segment).
    queue: Vec<(Instant, u64, bool, Seg)>,
    imp: Impairment,
    impairer: Impairer,
    pub sent: u64,
    pub dropped: u64,
}

impl Pump {
    pub fn new(a: Endpoint, b: Endpoint, imp: Impairment) -> Pump {
        Pump {
            a,
            b,
            now: Instant::ZERO,
            delay: Duration::from_millis(5),
            queue: Vec::new(),
            imp,
            impairer: Impairer::new(
                Impairments {
                    loss_ppm: Impairments::ppm(imp.drop_pct as f64 / 100.0),
                    jitter: Duration::from_millis(imp.jitter_ms),
                    ..Impairments::NONE
                },
                imp.seed,
            ),
            sent: 0,
            dropped: 0,
        }
    }

    /// Collects output of both sides into the link.
    pub fn flush(&mut self) {
        for to_b in [true, false] {
            loop {
                let src = if to_b { &mut self.a } else { &mut self.b };
                let Some(x) = tx(src, self.now) else { break };
                self.sent += 1;
                let lost = self.impairer.admit() == 0;
                let drop = (self.imp.drop_every > 0
                    && self.sent.is_multiple_of(self.imp.drop_every))
                    || lost;
                if std::env::var_os("TCP_TRACE").is_some() {
                    let dir = if to_b { "a->b" } else { "b->a" };
                    eprintln!(
                        "{:?} {dir} {} seq={} ack={:?} {:?} win={} len={} sack={:?}",
                        self.now,
                        if drop { "DROP" } else { "    " },
                        x.seq,
                        x.ack,
                        x.flags,
                        x.window,
                        x.payload.len(),
                        x.sack()
                    );
                }
                if drop {
                    self.dropped += 1;
                    continue;
                }
                let at = self.impairer.due(self.now + self.delay);
                self.queue.push((at, self.sent, to_b, x));
            }
        }
    }

    /// Advances virtual time to the next arrival or timer and processes it. Returns false
    /// when nothing is left to happen.
    pub fn step(&mut self) -> bool {
        self.flush();
        let next_arrival = self.queue.iter().map(|q| q.0).min();
        let next_timer = [self.a.poll_timeout(), self.b.poll_timeout()].into_iter().flatten().min();
        let next = match (next_arrival, next_timer) {
            (Some(x), Some(y)) => x.min(y),
            (Some(x), None) | (None, Some(x)) => x,
            (None, None) => return false,
        };
        self.now = self.now.max(next);
        // Deliver everything due, by arrival time then sending order.
        self.queue.sort_by_key(|q| (q.0, q.1));
        while self.queue.first().is_some_and(|q| q.0 <= self.now) {
            let (_, _, to_b, x) = self.queue.remove(0);
            let dst = if to_b { &mut self.b } else { &mut self.a };
            dst.on_segment(self.now, &x.as_segment());
        }
        for c in [&mut self.a, &mut self.b] {
            if c.poll_timeout().is_some_and(|t| t <= self.now) {
                c.on_timeout(self.now);
            }
        }
        self.flush();
        true
    }
}

/// Opens `a` (client) and `b` (server, accepting `a`'s SYN) over a pump.
pub fn pair(cfg_a: TcpConfig, cfg_b: TcpConfig, imp: Impairment) -> Pump {
    pair_with_iss(cfg_a, cfg_b, imp, ISS, IRS)
}

/// Like [`pair`] with chosen initial sequence numbers (to test wrap-around).
pub fn pair_with_iss(
    cfg_a: TcpConfig,
    cfg_b: TcpConfig,
    imp: Impairment,
    iss_a: u32,
    iss_b: u32,
) -> Pump {
    let mut a = Endpoint::connect(Instant::ZERO, cfg_a, LOCAL, REMOTE, s(iss_a));
    let syn = tx(&mut a, Instant::ZERO).expect("SYN");
    let b = Endpoint::accept_syn(Instant::ZERO, cfg_b, REMOTE, LOCAL, s(iss_b), &syn.as_segment());
    Pump::new(a, b, imp)
}

/// Result of [`transfer`].
pub struct TransferResult {
    pub a_got: Vec<u8>,
    pub b_got: Vec<u8>,
    pub pump: Pump,
}

/// Sends `a_data` from a to b and `b_data` from b to a, both sides half-closing once their
/// data is queued, and runs until both connections are closed (or nothing more happens).
pub fn transfer(p: Pump, a_data: &[u8], b_data: &[u8], max_steps: usize) -> TransferResult {
    transfer_with_reader(p, a_data, b_data, max_steps, usize::MAX)
}

/// Like [`transfer`], but each side's application reads at most `read_limit` bytes per step
/// (a slow reader, which exercises zero windows and window updates).
pub fn transfer_with_reader(
    mut p: Pump,
    a_data: &[u8],
    b_data: &[u8],
    max_steps: usize,
    read_limit: usize,
) -> TransferResult {
    let (mut a_off, mut b_off) = (0, 0);
    let (mut a_got, mut b_got) = (Vec::new(), Vec::new());
    for _ in 0..max_steps {
        if p.a.state().is_synchronized() || p.a.state() == xdptcp_stack::tcp::State::SynSent {
            a_off += p.a.send(&a_data[a_off..]);
            if a_off == a_data.len() {
                p.a.shutdown_write();
            }
        }
        b_off += p.b.send(&b_data[b_off..]);
        if b_off == b_data.len() && p.b.state().is_synchronized() {
            p.b.shutdown_write();
        }
        for (c, got) in [(&mut p.a, &mut a_got), (&mut p.b, &mut b_got)] {
            let mut buf = vec![0u8; c.recv_queue_len().min(read_limit)];
            let n = c.recv(&mut buf);
            got.extend_from_slice(&buf[..n]);
        }
        while p.a.poll_event().is_some() {}
        while p.b.poll_event().is_some() {}
        if !p.step() {
            break;
        }
    }
    a_got.extend(read_all(&mut p.a));
    b_got.extend(read_all(&mut p.b));
    TransferResult { a_got, b_got, pump: p }
}

/// Every frame `s` sends at `now`, in order (`poll_transmit` until it has nothing more).
pub fn frames_out(s: &mut Stack, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1600];
    while let Some(n) = s.poll_transmit(now, &mut buf) {
        out.push(buf[..n].to_vec());
    }
    out
}
