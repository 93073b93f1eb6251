//! `xdptcp udp-flood --target ADDR:PORT --duration S --size B [--stack linux|xdptcp]`: a UDP
//! packet generator that counts the datagrams a reflector or echo server sends back, for the
//! `raw-xdp` row of `xdptcp bench lab`.
//!
//! Two generators, the same report:
//!
//! - `--stack linux` (default): one non-blocking thread on a kernel UDP socket. It keeps up to
//!   `--window` datagrams in flight (so it measures what comes back, not how fast a queue
//!   overflows), sends in bursts and drains replies between bursts. One syscall per datagram
//!   each way: on the lab's veth this tops out well below what AF_XDP moves, so it measures
//!   itself more than the reflector.
//! - `--stack xdptcp --iface IF --ip ADDR/PREFIX`: its own AF_XDP socket
//!   ([`xdptcp_driver::xdp::XdpDevice`]) and the batched
//!   [`xdptcp_bench::xdp::flood::Flooder`] loop — the reflector's twin, one ring update and
//!   at most one syscall per batch — so the row is the ceiling of the wire.
//!
//! Each datagram carries its send time, so replies give a round-trip latency. When nothing
//! has come back for 20 ms the datagrams in flight are written off as lost (a reflector may
//! drop under load) and sending resumes. Bounded in time: it stops after `--duration`.

use hdrhistogram::Histogram;
use serde::Serialize;
use socket2::{Domain, Protocol, Socket, Type};
use std::io::ErrorKind;
use std::net::{SocketAddr, SocketAddrV4, UdpSocket};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use xdptcp_bench::linux;
use xdptcp_bench::xdp::flood::{FloodConfig, Flooder};
use xdptcp_driver::xdp::{NetIf, TxChecksum, XdpConfig, XdpDevice};

/// Arguments of `xdptcp udp-flood`.
#[derive(clap::Args, Debug)]
pub struct Args {
    /// The reflector or echo server, e.g. 198.18.7.2:9.
    #[arg(long)]
    pub target: String,
    /// How long to send, in seconds.
    #[arg(long, default_value_t = 5.0)]
    pub duration: f64,
    /// UDP payload bytes (at least 16: send time and sequence number).
    #[arg(long, default_value_t = 18)]
    pub size: usize,
    /// Most datagrams in flight.
    #[arg(long, default_value_t = 256)]
    pub window: u64,
    /// Generator: linux (a kernel UDP socket) or xdptcp (its own AF_XDP socket, batched).
    #[arg(long, default_value = "linux")]
    pub stack: String,
    /// Interface of the AF_XDP generator (`--stack xdptcp`).
    #[arg(long)]
    pub iface: Option<String>,
    /// Address of the AF_XDP generator, ADDR/PREFIX, not one the kernel owns (`--stack xdptcp`).
    #[arg(long)]
    pub ip: Option<String>,
    /// UDP source port of the AF_XDP generator.
    #[arg(long, default_value_t = 40000)]
    pub port: u16,
    /// XDP attach mode of the AF_XDP generator: auto, native or generic.
    #[arg(long, default_value = "auto")]
    pub xdp_mode: String,
    /// AF_XDP bind mode: auto, zero-copy or copy.
    #[arg(long, default_value = "auto")]
    pub bind_mode: String,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub json: Option<PathBuf>,
}

/// The result of a flood.
#[derive(Debug, Clone, Serialize)]
pub struct FloodReport {
    /// `linux` or `xdptcp`: which generator.
    pub stack: String,
    pub target: String,
    pub size: usize,
    pub duration_s: f64,
    pub sent: u64,
    /// Replies received within the duration.
    pub received: u64,
    /// Replies per second.
    pub pps: f64,
    /// Datagrams written off as lost.
    pub lost: u64,
    pub send_errors: u64,
    pub p50_us: Option<f64>,
    pub p99_us: Option<f64>,
}

fn socket(target: SocketAddr) -> Result<UdpSocket, String> {
    let s = Socket::new(Domain::for_address(target), Type::DGRAM, Some(Protocol::UDP))
        .map_err(|e| format!("cannot open a UDP socket: {e}"))?;
    // Room for a whole window of replies; the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(4 << 20);
    let _ = s.set_send_buffer_size(4 << 20);
    s.connect(&target.into()).map_err(|e| format!("cannot reach {target}: {e}"))?;
    s.set_nonblocking(true).map_err(|e| format!("cannot make the socket non-blocking: {e}"))?;
    Ok(s.into())
}

/// Runs the flood.
pub fn run(args: &Args) -> Result<(), String> {
    if !(args.duration.is_finite() && args.duration > 0.0 && args.duration <= 3600.0) {
        return Err("--duration must be between 0 and 3600 seconds".into());
    }
    if !(16..=1472).contains(&args.size) {
        return Err("--size must be between 16 and 1472 bytes".into());
    }
    if args.window == 0 {
        return Err("--window must be at least 1".into());
    }
    let target = linux::resolve(&args.target)?;
    let report = match args.stack.as_str() {
        "linux" => flood(&socket(target)?, target, args)?,
        "xdptcp" => match target {
            SocketAddr::V4(t) => flood_xdp(t, args)?,
            SocketAddr::V6(_) => return Err("--stack xdptcp: the target must be IPv4".into()),
        },
        other => return Err(format!("--stack {other}: expected linux or xdptcp")),
    };
    println!(
        "udp-flood {} ({} B, {}): {:.0} pps back, sent {}, received {}, lost {}, send errors {}, p50 {} us, p99 {} us",
        report.target,
        report.size,
        report.stack,
        report.pps,
        report.sent,
        report.received,
        report.lost,
        report.send_errors,
        report.p50_us.map_or("-".into(), |v| format!("{v:.1}")),
        report.p99_us.map_or("-".into(), |v| format!("{v:.1}")),
    );
    if report.received == 0 {
        return Err(format!("no replies from {target} in {:.1} s", report.duration_s));
    }
    if let Some(path) = &args.json {
        let json = serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?;
        std::fs::write(path, json + "\n")
            .map_err(|e| format!("cannot write {}: {}", path.display(), linux::describe(&e)))?;
    }
    Ok(())
}

fn flood(sock: &UdpSocket, target: SocketAddr, args: &Args) -> Result<FloodReport, String> {
    // 1 ns .. 10 s, 3 significant figures: valid bounds, cannot fail.
    let mut hist = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3).expect("bounds");
    let mut out = vec![0u8; args.size];
    let mut buf = vec![0u8; 2048];
    let duration = Duration::from_secs_f64(args.duration);
    let start = Instant::now();
    let (mut sent, mut received, mut lost, mut send_errors) = (0u64, 0u64, 0u64, 0u64);
    let mut last_progress = start;
    loop {
        let now = Instant::now();
        if now - start >= duration {
            break;
        }
        let mut burst = 0;
        while sent.saturating_sub(received + lost) < args.window && burst < 32 {
            let t = (Instant::now() - start).as_nanos() as u64;
            out[0..8].copy_from_slice(&t.to_le_bytes());
            out[8..16].copy_from_slice(&sent.to_le_bytes());
            match sock.send(&out) {
                Ok(_) => sent += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == ErrorKind::ConnectionRefused => {
                    return Err(format!(
                        "{target} refused (ICMP port unreachable): nothing serves it"
                    ))
                }
                Err(_) => {
                    send_errors += 1;
                    break;
                }
            }
            burst += 1;
        }
        loop {
            match sock.recv(&mut buf) {
                Ok(n) if n >= 8 => {
                    let mut ts = [0u8; 8];
                    ts.copy_from_slice(&buf[..8]);
                    let sent_at = u64::from_le_bytes(ts);
                    let rtt = ((Instant::now() - start).as_nanos() as u64).saturating_sub(sent_at);
                    let _ = hist.record(rtt.clamp(1, 10_000_000_000));
                    received += 1;
                    last_progress = Instant::now();
                }
                Ok(_) => received += 1,
                Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                Err(_) => break,
            }
        }
        // Written off: what is in flight when nothing came back for a while.
        if received + lost < sent && last_progress.elapsed() > Duration::from_millis(20) {
            lost = sent - received;
            last_progress = Instant::now();
        }
    }
    let elapsed = (Instant::now() - start).as_secs_f64();
    let q = |q: f64| (!hist.is_empty()).then(|| hist.value_at_quantile(q) as f64 / 1e3);
    Ok(FloodReport {
        stack: "linux".into(),
        target: target.to_string(),
        size: args.size,
        duration_s: elapsed,
        sent,
        received,
        pps: received as f64 / elapsed.max(1e-9),
        lost,
        send_errors,
        p50_us: q(0.5),
        p99_us: q(0.99),
    })
}

/// Longest drain of the AF_XDP generator after the measured duration.
const DRAIN_LIMIT: Duration = Duration::from_millis(50);

/// How long the AF_XDP generator waits for the target's ARP reply.
const RESOLVE_LIMIT: Duration = Duration::from_secs(3);

/// The AF_XDP generator: its own socket on `--iface`, the [`Flooder`] loop on it.
fn flood_xdp(target: SocketAddrV4, args: &Args) -> Result<FloodReport, String> {
    let iface = args.iface.as_deref().ok_or("--stack xdptcp needs --iface IF")?;
    let ip = args.ip.as_deref().ok_or("--stack xdptcp needs --ip ADDR/PREFIX")?;
    let (addr, _prefix) = xdptcp_bench::xdp::parse_cidr(ip)?;
    let netif = NetIf::lookup(iface).map_err(|e| e.to_string())?;
    let config = XdpConfig {
        xdp_mode: xdptcp_bench::xdp::parse_xdp_mode(&args.xdp_mode)?,
        bind: xdptcp_bench::xdp::parse_bind_mode(&args.bind_mode)?,
        // The generator sums its own UDP checksums (one 16-byte stamp per datagram).
        tx_checksum: TxChecksum::Software,
        ..XdpConfig::new(iface, addr)
    };
    let mut flood = Flooder::new(FloodConfig {
        mac: netif.mac,
        ip: addr,
        port: args.port,
        target,
        payload: args.size,
        window: args.window,
    })?;
    let mut dev = XdpDevice::open(&config).map_err(|e| e.to_string())?;
    dev.start().map_err(|e| e.to_string())?;
    let clock = Instant::now();
    let now = || xdptcp_stack::time::Instant::from_nanos(clock.elapsed().as_nanos() as u64);
    while !flood.resolved() {
        if clock.elapsed() > RESOLVE_LIMIT {
            return Err(format!(
                "no ARP reply from {} within {} s",
                target.ip(),
                RESOLVE_LIMIT.as_secs()
            ));
        }
        flood.step(&mut dev, now(), true);
    }
    let duration = Duration::from_secs_f64(args.duration);
    // One clock read per step: the step's time also ends the run (a second read per step
    // was a tenth of the generator's samples while it spun on a full window).
    let start = now();
    let end = start + xdptcp_stack::time::Duration::from_nanos(duration.as_nanos() as u64);
    let mut t = start;
    while t < end {
        flood.step(&mut dev, t, true);
        t = now();
    }
    let elapsed = t.saturating_duration_since(start).total_nanos() as f64 / 1e9;
    let c = flood.counters();
    let hist: Histogram<u64> = flood.rtt_ns();
    // What is still on the TX ring leaves and its replies come in (not counted above), so
    // every datagram reported as sent has reached the wire when the process exits.
    let drain = Instant::now();
    while flood.in_flight() > 0 && drain.elapsed() < DRAIN_LIMIT {
        flood.step(&mut dev, now(), false);
    }
    let q = |q: f64| (!hist.is_empty()).then(|| hist.value_at_quantile(q) as f64 / 1e3);
    println!(
        "xdp generator: arp requests {}, ignored {}, tx full {}; device {:?}",
        c.arp_requests,
        c.ignored,
        c.tx_full,
        dev.stats()
    );
    Ok(FloodReport {
        stack: "xdptcp".into(),
        target: target.to_string(),
        size: args.size,
        duration_s: elapsed,
        sent: c.sent,
        received: c.received,
        pps: c.received as f64 / elapsed.max(1e-9),
        lost: c.lost,
        send_errors: 0,
        p50_us: q(0.5),
        p99_us: q(0.99),
    })
}
