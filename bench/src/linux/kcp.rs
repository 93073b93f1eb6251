//! KCP (the `kcp` crate, a port of the reference ikcp.c) over kernel UDP sockets on both
//! ends: the comparison point of `rudp` in the lab (`serve kcp-echo`, `load kcp`).
//!
//! Both ends use KCP's documented low-latency settings ("fast mode": no delay, a 10 ms
//! internal clock, fast resend after 2 duplicate ACKs, no congestion window), 128-packet
//! windows and a 1,200-byte MTU (the datagram size `rudp` uses), and flush after every input
//! and send instead of waiting for the next 10 ms tick: the lowest latency KCP offers, so
//! the comparison does not favour `rudp`. Messages use KCP's message mode (one `send`, one
//! `recv`).

use std::collections::HashMap;
use std::io::{self, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kcp::Kcp;

use crate::loadgen::{Stats, Workload};

/// KCP's output: datagrams to one peer through a clone of the socket.
#[derive(Debug)]
struct UdpOut {
    socket: UdpSocket,
    peer: SocketAddr,
}

impl Write for UdpOut {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.socket.send_to(buf, self.peer) {
            // A full socket buffer is a loss like any other: KCP repairs it.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(buf.len()),
            r => r,
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// The largest message either side takes.
pub const MAX_KCP_MESSAGE: usize = 64 * 1024;

/// One KCP conversation in fast mode.
fn conversation(
    conv: u32,
    socket: &UdpSocket,
    peer: SocketAddr,
    now_ms: u32,
) -> io::Result<Kcp<UdpOut>> {
    let mut k = Kcp::new(conv, UdpOut { socket: socket.try_clone()?, peer });
    k.set_nodelay(true, 10, 2, true);
    k.set_wndsize(128, 128);
    k.set_mtu(1200).map_err(io::Error::other)?;
    k.update(now_ms).map_err(io::Error::other)?;
    Ok(k)
}

fn ms(epoch: Instant) -> u32 {
    epoch.elapsed().as_millis() as u32
}

fn kcp_err(e: kcp::Error) -> String {
    format!("kcp: {e}")
}

/// Runs a KCP echo on `addr` until `stop`: every message back on its conversation. Returns
/// (conversations, messages echoed).
pub fn serve_echo(socket: UdpSocket, stop: &AtomicBool) -> Result<(u64, u64), String> {
    let epoch = Instant::now();
    let mut convs: HashMap<(SocketAddr, u32), Kcp<UdpOut>> = HashMap::new();
    let mut buf = vec![0u8; 65_536];
    let mut msg = vec![0u8; MAX_KCP_MESSAGE];
    let mut messages = 0u64;
    let io = |e: io::Error| format!("kcp echo socket: {}", super::describe(&e));
    socket.set_read_timeout(Some(Duration::from_millis(1))).map_err(io)?;
    while !stop.load(Ordering::Relaxed) {
        match socket.recv_from(&mut buf) {
            Ok((len, from)) => {
                let now = ms(epoch);
                let conv = kcp::get_conv(&buf[..len.max(4).min(buf.len())]);
                let k = match convs.entry((from, conv)) {
                    std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::hash_map::Entry::Vacant(v) => {
                        v.insert(conversation(conv, &socket, from, now).map_err(io)?)
                    }
                };
                if k.input(&buf[..len]).is_err() {
                    continue;
                }
                while let Ok(n) = k.recv(&mut msg) {
                    k.send(&msg[..n]).map_err(kcp_err)?;
                    messages += 1;
                }
                k.flush().map_err(kcp_err)?;
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io(e)),
        }
        let now = ms(epoch);
        for k in convs.values_mut() {
            if k.check(now) <= now {
                k.update(now).map_err(kcp_err)?;
            }
        }
    }
    Ok((convs.len() as u64, messages))
}

/// What `load kcp` runs: `conns` conversations, each with one `size`-byte message
/// outstanding, for `duration`.
#[derive(Debug, Clone)]
pub struct KcpLoadConfig {
    pub target: SocketAddr,
    pub conns: usize,
    pub duration: Duration,
    pub size: usize,
    /// An echo slower than this is counted as a timeout (and still awaited and recorded).
    pub timeout: Duration,
    /// The first conversation id (the rest follow): distinct per run.
    pub first_conv: u32,
}

#[derive(Debug)]
struct LoadConv {
    kcp: Kcp<UdpOut>,
    sent: Instant,
    timed_out: bool,
}

/// Request/response over KCP with the same [`Stats`] as `load rr`.
pub fn run_load(
    cfg: &KcpLoadConfig,
    progress: &mut dyn FnMut(String),
) -> Result<(Stats, Duration), String> {
    if cfg.size > MAX_KCP_MESSAGE {
        return Err(format!(
            "--size {}: kcp messages here are at most {MAX_KCP_MESSAGE} bytes",
            cfg.size
        ));
    }
    let io = |e: io::Error| format!("kcp socket: {}", super::describe(&e));
    let local = if cfg.target.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
    let socket = UdpSocket::bind(local).map_err(io)?;
    socket.set_read_timeout(Some(Duration::from_millis(1))).map_err(io)?;
    let epoch = Instant::now();
    let payload: Vec<u8> = (0..cfg.size).map(|i| i as u8).collect();
    let mut convs: HashMap<u32, LoadConv> = HashMap::new();
    for i in 0..cfg.conns {
        let conv = cfg.first_conv.wrapping_add(i as u32);
        let mut kcp = conversation(conv, &socket, cfg.target, ms(epoch)).map_err(io)?;
        kcp.send(&payload).map_err(kcp_err)?;
        kcp.flush().map_err(kcp_err)?;
        convs.insert(conv, LoadConv { kcp, sent: Instant::now(), timed_out: false });
    }
    let mut stats = Stats::new();
    let start = Instant::now();
    let end = start + cfg.duration;
    let mut next_line = start + Duration::from_secs(1);
    let mut buf = vec![0u8; 65_536];
    let mut msg = vec![0u8; MAX_KCP_MESSAGE];
    while Instant::now() < end {
        match socket.recv_from(&mut buf) {
            Ok((len, _)) if len >= 4 => {
                let conv = kcp::get_conv(&buf[..len]);
                if let Some(c) = convs.get_mut(&conv) {
                    if c.kcp.input(&buf[..len]).is_ok() {
                        let wall = Instant::now();
                        while let Ok(n) = c.kcp.recv(&mut msg) {
                            if msg[..n] != payload[..] {
                                stats.errors.protocol += 1;
                            }
                            stats.record(wall.saturating_duration_since(c.sent));
                            stats.add_bytes(2 * cfg.size as u64);
                            c.timed_out = false;
                            c.kcp.send(&payload).map_err(kcp_err)?;
                            c.sent = wall;
                        }
                        c.kcp.flush().map_err(kcp_err)?;
                    }
                }
            }
            Ok(_) => stats.errors.protocol += 1,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock
                        | io::ErrorKind::TimedOut
                        | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(io(e)),
        }
        let now = ms(epoch);
        let wall = Instant::now();
        for c in convs.values_mut() {
            if c.kcp.check(now) <= now {
                c.kcp.update(now).map_err(kcp_err)?;
            }
            if !c.timed_out && wall.saturating_duration_since(c.sent) > cfg.timeout {
                c.timed_out = true;
                stats.errors.timeout += 1;
            }
        }
        if wall >= next_line {
            let elapsed = wall.saturating_duration_since(start);
            progress(stats.progress_line(Workload::Kcp, elapsed, Duration::from_secs(1)));
            next_line += Duration::from_secs(1);
        }
    }
    Ok((stats, start.elapsed()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn load_against_a_loopback_kcp_echo() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let target = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let echo = std::thread::spawn(move || serve_echo(socket, &flag).unwrap());
        let cfg = KcpLoadConfig {
            target,
            conns: 3,
            duration: Duration::from_millis(1500),
            size: 4096,
            timeout: Duration::from_secs(10),
            first_conv: 77,
        };
        let (stats, _) = run_load(&cfg, &mut |_| {}).unwrap();
        stop.store(true, Ordering::Relaxed);
        let (conversations, messages) = echo.join().unwrap();
        assert_eq!(conversations, 3);
        assert!(stats.completed > 10, "{}", stats.completed);
        assert!(messages >= stats.completed);
        assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
    }
}
