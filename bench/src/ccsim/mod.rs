//! A deterministic bottleneck simulator for congestion-control measurements: `Endpoint`
//! pairs of `xdptcp-stack` talk over a [`link::Path`] (drop-tail bottleneck, propagation delay,
//! seeded random loss) in virtual time. Senders always have data (bulk transfer), receivers
//! read everything at once. Nothing here reads a clock: a scenario and its seed determine
//! every number it reports.

pub mod link;
pub mod report;

use std::net::{Ipv4Addr, SocketAddrV4};

use xdptcp_stack::tcp::{
    BufferSizes, CongestionAlgorithm, Endpoint, IpEcn, Segment, SeqNumber, TcpConfig, TcpCounters,
};
use xdptcp_stack::time::{Duration, Instant};

use self::link::{Packet, Path, PathConfig};

/// Payload bytes are never looked at: every segment carries (a slice of) these zeros.
static ZEROS: [u8; 9000] = [0; 9000];

/// A sender configuration under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Variant {
    /// Name in the tables.
    pub name: &'static str,
    pub algo: CongestionAlgorithm,
    pub sack: bool,
    pub rack: bool,
    /// Pace transmissions (`TcpConfig::pacing`).
    pub pacing: bool,
    /// Negotiate ECN (`TcpConfig::ecn`).
    pub ecn: bool,
}

/// The three configurations the tables compare.
pub const VARIANTS: [Variant; 3] = [
    Variant::new("NewReno", CongestionAlgorithm::NewReno, false, false),
    Variant::new("NewReno+SACK", CongestionAlgorithm::NewReno, true, false),
    Variant::new("CUBIC+SACK+RACK", CongestionAlgorithm::Cubic, true, true),
];

/// The default configuration with pacing on, shown beside the others where bursts matter.
pub const PACED: Variant = Variant {
    pacing: true,
    ..Variant::new("CUBIC+SACK+RACK, paced", CongestionAlgorithm::Cubic, true, true)
};

impl Variant {
    const fn new(name: &'static str, algo: CongestionAlgorithm, sack: bool, rack: bool) -> Self {
        Variant { name, algo, sack, rack, pacing: false, ecn: false }
    }
}

/// A burst of consecutive data segments of flow 0 dropped on purpose.
#[derive(Clone, Copy, Debug)]
pub struct Burst {
    /// Drop the first `count` data segments flow 0 sends at or after this time.
    pub at: Instant,
    pub count: usize,
}

/// One simulation run.
#[derive(Clone, Copy, Debug)]
pub struct Scenario {
    pub path: PathConfig,
    pub variant: Variant,
    /// Number of competing flows.
    pub flows: usize,
    /// Flow `i` starts at `i · stagger`.
    pub stagger: Duration,
    /// Goodput is measured from `warmup` to `duration`.
    pub warmup: Duration,
    pub duration: Duration,
    /// Receive buffer (the largest window a receiver offers).
    pub recv_buffer: usize,
    pub burst: Option<Burst>,
}

/// What one flow achieved.
#[derive(Clone, Copy, Debug)]
pub struct FlowResult {
    /// In-order bytes delivered to the receiving application during the measurement.
    pub measured_bytes: u64,
    /// Sender counters over the whole run.
    pub counters: TcpCounters,
}

/// What one run measured.
#[derive(Clone, Debug)]
pub struct RunResult {
    pub flows: Vec<FlowResult>,
    /// Length of the measurement interval.
    pub measured: Duration,
    pub random_drops: u64,
    pub queue_drops: u64,
    /// Segments marked CE by the bottleneck.
    pub ce_marks: u64,
    /// Burst scenarios: from the first dropped segment until the receiver had every byte up
    /// to the end of the last one.
    pub burst_recovery: Option<Duration>,
}

impl RunResult {
    /// Goodput of flow `i` in bits per second.
    pub fn goodput_bps(&self, i: usize) -> f64 {
        let bytes = self.flows.get(i).map_or(0, |f| f.measured_bytes);
        bytes as f64 * 8.0 / secs(self.measured)
    }

    /// Sum of the sender counters.
    pub fn counters(&self) -> TcpCounters {
        let mut c = TcpCounters::default();
        for f in &self.flows {
            c.add(&f.counters);
        }
        c
    }

    /// Jain's fairness index over the flows' goodputs: 1 is perfectly fair, 1/n is one flow
    /// taking everything.
    pub fn jain_index(&self) -> f64 {
        let x: Vec<f64> = self.flows.iter().map(|f| f.measured_bytes as f64).collect();
        let sum: f64 = x.iter().sum();
        let sq: f64 = x.iter().map(|v| v * v).sum();
        if sq == 0.0 {
            return 0.0;
        }
        sum * sum / (x.len() as f64 * sq)
    }
}

pub fn secs(d: Duration) -> f64 {
    d.total_nanos() as f64 / 1e9
}

struct Flow {
    tx: Endpoint,
    rx: Option<Endpoint>,
    iss: u32,
    delivered: u64,
    at_warmup: Option<u64>,
}

struct BurstState {
    spec: Burst,
    dropped: usize,
    first: Option<Instant>,
    end_offset: u64,
    recovered: Option<Duration>,
}

/// The TCP configuration of every endpoint in a run.
pub fn tcp_config(variant: Variant, recv_buffer: usize) -> TcpConfig {
    TcpConfig {
        congestion: variant.algo,
        sack: variant.sack,
        ecn: variant.ecn,
        // Fixed sizes: the scenario sets the window the receiver offers.
        rmem: BufferSizes::fixed(recv_buffer),
        wmem: BufferSizes::fixed(recv_buffer.max(1 << 20)),
        ..TcpConfig::default().with_rack(variant.rack).with_pacing(variant.pacing)
    }
}

/// Runs a scenario to its end.
pub fn run(s: &Scenario) -> RunResult {
    let cfg = tcp_config(s.variant, s.recv_buffer);
    let mut path = Path::new(s.path);
    let mut flows: Vec<Flow> = Vec::with_capacity(s.flows);
    let mut burst = s.burst.map(|spec| BurstState {
        spec,
        dropped: 0,
        first: None,
        end_offset: 0,
        recovered: None,
    });
    let end = Instant::ZERO + s.duration;
    let warmup = Instant::ZERO + s.warmup;
    let mut now = Instant::ZERO;
    loop {
        // Start the flows whose time has come.
        while flows.len() < s.flows
            && Instant::ZERO + s.stagger.saturating_mul(flows.len() as u64) <= now
        {
            let i = flows.len();
            let iss = 1000 + 7919 * i as u32;
            let local = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 10_000 + i as u16);
            let remote = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 80);
            let tx = Endpoint::connect(now, cfg, local, remote, SeqNumber(iss));
            flows.push(Flow { tx, rx: None, iss, delivered: 0, at_warmup: None });
            flush(&mut flows[i], i, now, &mut path, &mut burst);
        }
        if now >= warmup {
            for f in flows.iter_mut().filter(|f| f.at_warmup.is_none()) {
                f.at_warmup = Some(f.delivered);
            }
        }
        let mut next = path.next_arrival();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        };
        for f in &flows {
            consider(f.tx.poll_timeout());
            consider(f.rx.as_ref().and_then(|r| r.poll_timeout()));
        }
        if flows.len() < s.flows {
            consider(Some(Instant::ZERO + s.stagger.saturating_mul(flows.len() as u64)));
        }
        if now < warmup {
            consider(Some(warmup));
        }
        match next {
            Some(t) if t <= end => now = now.max(t),
            _ => break,
        }
        while let Some(p) = path.pop_due(now) {
            let Some(f) = flows.get_mut(p.flow) else { continue };
            deliver(f, &p, now, cfg);
            if p.flow == 0 {
                check_burst(f, &mut burst, now);
            }
            flush(f, p.flow, now, &mut path, &mut burst);
        }
        for (i, f) in flows.iter_mut().enumerate() {
            let due_tx = f.tx.poll_timeout().is_some_and(|t| t <= now);
            let due_rx = f.rx.as_ref().and_then(|r| r.poll_timeout()).is_some_and(|t| t <= now);
            if due_tx {
                f.tx.on_timeout(now);
            }
            if due_rx {
                if let Some(r) = f.rx.as_mut() {
                    r.on_timeout(now);
                }
            }
            if due_tx || due_rx {
                flush(f, i, now, &mut path, &mut burst);
            }
        }
    }
    let measured = s.duration.saturating_sub(s.warmup);
    RunResult {
        flows: flows
            .iter()
            .map(|f| FlowResult {
                measured_bytes: f.delivered - f.at_warmup.unwrap_or(f.delivered),
                counters: f.tx.counters(),
            })
            .collect(),
        measured,
        random_drops: path.random_drops,
        queue_drops: path.queue_drops,
        ce_marks: path.ce_marks,
        burst_recovery: burst.and_then(|b| b.recovered),
    }
}

fn deliver(f: &mut Flow, p: &Packet, now: Instant, cfg: TcpConfig) {
    let h = &p.header;
    let seg = Segment {
        seq: h.seq,
        ack: h.ack,
        flags: h.flags,
        window: h.window,
        options: h.options,
        payload: &ZEROS[..p.len.min(ZEROS.len())],
    };
    if p.to_receiver {
        match f.rx.as_mut() {
            Some(r) => {
                let ecn = match (p.ce, p.ect) {
                    (true, _) => IpEcn::Ce,
                    (false, true) => IpEcn::Ect0,
                    (false, false) => IpEcn::NotEct,
                };
                r.on_segment_ecn(now, &seg, ecn);
            }
            None if h.flags.syn() => {
                let local = f.tx.remote();
                let remote = f.tx.local();
                let iss = SeqNumber(f.iss.wrapping_mul(31).wrapping_add(17));
                f.rx = Some(Endpoint::accept_syn(now, cfg, local, remote, iss, &seg));
            }
            None => {}
        }
        if let Some(r) = f.rx.as_mut() {
            let n = r.recv_queue_len();
            f.delivered += r.recv_consume(n) as u64;
        }
    } else {
        f.tx.on_segment(now, &seg);
    }
}

fn check_burst(f: &Flow, burst: &mut Option<BurstState>, now: Instant) {
    if let Some(b) = burst.as_mut() {
        if b.dropped == b.spec.count && b.recovered.is_none() && f.delivered >= b.end_offset {
            b.recovered = b.first.map(|t| now.saturating_duration_since(t));
        }
    }
}

/// Lets the sending application top up its buffer, then moves everything both ends want to
/// send onto the path.
fn flush(f: &mut Flow, i: usize, now: Instant, path: &mut Path, burst: &mut Option<BurstState>) {
    // An always-backlogged sender: fill every piece of send room offered (contents do not
    // matter here).
    loop {
        let n = f.tx.send_slices().len();
        if f.tx.send_commit(n) == 0 {
            break;
        }
    }
    while let Some(t) = f.tx.poll_transmit(now) {
        let len = t.payload_len();
        let packet =
            Packet { flow: i, to_receiver: true, header: t.header, len, ect: t.ect, ce: false };
        let mut force = false;
        if let Some(b) = burst.as_mut().filter(|_| i == 0 && len > 0) {
            if now >= b.spec.at && b.dropped < b.spec.count {
                force = true;
                b.dropped += 1;
                b.first.get_or_insert(now);
                let offset = u64::from(t.header.seq.0.wrapping_sub(f.iss.wrapping_add(1)));
                b.end_offset = b.end_offset.max(offset + len as u64);
            }
        }
        path.send(now, packet, force);
    }
    if let Some(r) = f.rx.as_mut() {
        while let Some(t) = r.poll_transmit(now) {
            let packet = Packet {
                flow: i,
                to_receiver: false,
                header: t.header,
                len: 0,
                ect: t.ect,
                ce: false,
            };
            path.send(now, packet, false);
        }
    }
}
