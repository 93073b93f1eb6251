//! `rudp` over a kernel UDP socket, so a Linux host can be a peer of the sans-IO endpoint
//! (the same [`Endpoint`] that runs over the stack's UDP on AF_XDP and in the simulator).
//!
//! The adapter only moves datagrams and time: it sends what `poll_transmit` has, blocks on
//! the socket until a datagram arrives or the endpoint's next deadline passes, feeds what
//! arrived to `handle`, and runs `handle_timeout`. Time is `std::time::Instant` since the
//! adapter was made, converted to the stack's [`Instant`].

use std::io;
use std::net::{SocketAddr, UdpSocket};

use std::collections::HashMap;

use crate::loadgen::{Stats, Workload};
use xdptcp_stack::rudp::{Config, ConnectionId, Endpoint, Event, MAX_MESSAGE};
use xdptcp_stack::time::Instant;

/// One UDP socket and the endpoint behind it.
#[derive(Debug)]
pub struct RudpSocket {
    socket: UdpSocket,
    endpoint: Endpoint,
    epoch: std::time::Instant,
    buf: Vec<u8>,
}

impl RudpSocket {
    /// Binds `addr`; `key` must be 16 secret random bytes (e.g. from
    /// `xdptcp_driver::setup::os_random_keys`).
    pub fn bind(addr: SocketAddr, config: Config, key: [u8; 16]) -> io::Result<Self> {
        let socket = UdpSocket::bind(addr)?;
        let epoch = std::time::Instant::now();
        let buf = vec![0; 65_536];
        Ok(RudpSocket { socket, endpoint: Endpoint::new(config, key, Instant::ZERO), epoch, buf })
    }

    /// The socket's address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.socket.local_addr()
    }

    /// Now, on the endpoint's clock.
    pub fn now(&self) -> Instant {
        Instant::from_nanos(self.epoch.elapsed().as_nanos() as u64)
    }

    /// The endpoint, to connect, send, close and take events.
    pub fn endpoint(&mut self) -> &mut Endpoint {
        &mut self.endpoint
    }

    /// Sends everything the endpoint has to send.
    pub fn flush(&mut self) -> io::Result<()> {
        let now = self.now();
        while let Some((to, len)) = self.endpoint.poll_transmit(now, &mut self.buf) {
            match self.socket.send_to(&self.buf[..len], to) {
                Ok(_) => {}
                // A full socket buffer is a loss like any other: recovery repairs it.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// One round: flush, wait for datagrams until the next deadline (at most `max_wait`),
    /// handle them and any due timers, flush again.
    pub fn drive(&mut self, max_wait: std::time::Duration) -> io::Result<()> {
        self.flush()?;
        let now = self.now();
        let wait = match self.endpoint.poll_timeout() {
            Some(t) => {
                std::time::Duration::from_nanos(t.saturating_duration_since(now).total_nanos())
            }
            None => max_wait,
        };
        // A zero read timeout means "block forever" to the kernel: wait at least 1 µs.
        let wait = wait.min(max_wait).max(std::time::Duration::from_micros(1));
        self.socket.set_read_timeout(Some(wait))?;
        let mut blocking = true;
        loop {
            match self.socket.recv_from(&mut self.buf) {
                Ok((len, from)) => {
                    let now = self.now();
                    self.endpoint.handle(now, from, &self.buf[..len]);
                }
                // A signal (SIGINT to stop a server) wakes the wait like a timeout.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock
                            | io::ErrorKind::TimedOut
                            | io::ErrorKind::Interrupted
                    ) =>
                {
                    break;
                }
                Err(e) => return Err(e),
            }
            // Take whatever else is queued without blocking again.
            if blocking {
                self.socket.set_nonblocking(true)?;
                blocking = false;
            }
        }
        if !blocking {
            self.socket.set_nonblocking(false)?;
        }
        let now = self.now();
        if self.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            self.endpoint.handle_timeout(now);
        }
        self.flush()
    }
}

/// What `xdptcp load rudp` runs.
#[derive(Debug, Clone)]
pub struct RudpLoadConfig {
    pub target: SocketAddr,
    /// Connections, each with one message outstanding (closed loop).
    pub conns: usize,
    pub duration: std::time::Duration,
    /// Message size in bytes (request and echo), at most [`MAX_MESSAGE`].
    pub size: usize,
    /// An echo slower than this is counted as a timeout (and still awaited: rudp delivers
    /// it; its latency is recorded too, so loss shows in the tail).
    pub timeout: std::time::Duration,
    /// Ordered (true) or unordered messages.
    pub ordered: bool,
    /// The endpoint's configuration.
    pub config: Config,
    /// 16 secret random bytes for the endpoint.
    pub key: [u8; 16],
}

/// One load connection.
#[derive(Debug, Clone, Copy)]
struct LoadConn {
    /// When the outstanding message was sent (`None` before `Connected`).
    sent: Option<std::time::Instant>,
    /// When the connection was opened (connect timeout).
    opened: std::time::Instant,
    /// `Connected` came: the handshake finished.
    established: bool,
    timed_out: bool,
}

/// Runs rudp request/response over one kernel UDP socket: `conns` connections to `target`,
/// each sending a `size`-byte message and waiting for its echo, again and again, for
/// `duration`. Fills the same [`Stats`] as `load rr` (a completed request is one echo; bytes
/// count both ways) and calls `progress` with a line each second. A connection still not
/// established when the run ends is a connect error (unless already counted as a timeout),
/// as `load rr` counts it: a short run must not hide a connection the server never answered.
/// Returns the statistics and how long the measured part took.
pub fn run_load(
    cfg: &RudpLoadConfig,
    progress: &mut dyn FnMut(String),
) -> Result<(Stats, std::time::Duration), String> {
    if cfg.size > MAX_MESSAGE {
        return Err(format!("--size {}: rudp messages are at most {MAX_MESSAGE} bytes", cfg.size));
    }
    let local: SocketAddr = match cfg.target {
        SocketAddr::V4(_) => "0.0.0.0:0",
        SocketAddr::V6(_) => "[::]:0",
    }
    .parse()
    .map_err(|_| "bad local address".to_string())?;
    let mut sock = RudpSocket::bind(local, cfg.config.clone(), cfg.key)
        .map_err(|e| format!("cannot bind a UDP socket: {}", super::describe(&e)))?;
    let payload: Vec<u8> = (0..cfg.size).map(|i| i as u8).collect();
    let mut conns: HashMap<ConnectionId, LoadConn> = HashMap::new();
    let mut stats = Stats::new();
    let start = std::time::Instant::now();
    let end = start + cfg.duration;
    let mut next_line = start + std::time::Duration::from_secs(1);
    let io = |e: io::Error| format!("rudp socket: {}", super::describe(&e));
    let connect = |sock: &mut RudpSocket, conns: &mut HashMap<ConnectionId, LoadConn>| {
        let now = sock.now();
        if let Ok(c) = sock.endpoint().connect(now, cfg.target) {
            let opened = std::time::Instant::now();
            conns.insert(c, LoadConn { sent: None, opened, established: false, timed_out: false });
        }
    };
    for _ in 0..cfg.conns {
        connect(&mut sock, &mut conns);
    }
    loop {
        let wall = std::time::Instant::now();
        if wall >= end {
            break;
        }
        sock.drive(std::time::Duration::from_millis(1)).map_err(io)?;
        let now = sock.now();
        let wall = std::time::Instant::now();
        let mut reconnect = 0;
        while let Some(ev) = sock.endpoint().poll_event() {
            match ev {
                Event::Connected(c) => {
                    if let Some(lc) = conns.get_mut(&c) {
                        lc.established = true;
                        if sock.endpoint().send(now, c, &payload, cfg.ordered).is_ok() {
                            lc.sent = Some(wall);
                        }
                    }
                }
                Event::Message(c, m) => {
                    let Some(lc) = conns.get_mut(&c) else { continue };
                    let Some(sent) = lc.sent.take() else {
                        stats.errors.protocol += 1;
                        continue;
                    };
                    if m.data != payload {
                        stats.errors.protocol += 1;
                    }
                    stats.record(wall.saturating_duration_since(sent));
                    stats.add_bytes(2 * cfg.size as u64);
                    lc.timed_out = false;
                    if sock.endpoint().send(now, c, &payload, cfg.ordered).is_ok() {
                        lc.sent = Some(wall);
                    }
                }
                Event::Closed(c, _) => {
                    if let Some(lc) = conns.remove(&c) {
                        if lc.sent.is_some() {
                            stats.errors.reset += 1;
                        } else {
                            stats.errors.connect += 1;
                        }
                    }
                    reconnect += 1;
                }
                Event::Accepted(_) => {}
            }
        }
        for _ in 0..reconnect {
            connect(&mut sock, &mut conns);
        }
        for lc in conns.values_mut() {
            let since = lc.sent.unwrap_or(lc.opened);
            if !lc.timed_out && wall.saturating_duration_since(since) > cfg.timeout {
                lc.timed_out = true;
                stats.errors.timeout += 1;
            }
        }
        if wall >= next_line {
            let elapsed = wall.saturating_duration_since(start);
            progress(stats.progress_line(
                Workload::Rudp,
                elapsed,
                std::time::Duration::from_secs(1),
            ));
            next_line += std::time::Duration::from_secs(1);
        }
    }
    let elapsed = start.elapsed();
    stats.errors.connect +=
        conns.values().filter(|lc| !lc.established && !lc.timed_out).count() as u64;
    // Close politely: the server forgets the connections at once instead of by idle timeout.
    let now = sock.now();
    let ids: Vec<ConnectionId> = conns.keys().copied().collect();
    for c in ids {
        sock.endpoint().close(now, c);
    }
    let linger = std::time::Instant::now() + std::time::Duration::from_millis(500);
    while sock.endpoint().connection_count() > 0 && std::time::Instant::now() < linger {
        sock.drive(std::time::Duration::from_millis(5)).map_err(io)?;
        while sock.endpoint().poll_event().is_some() {}
    }
    Ok((stats, elapsed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration as StdDuration;
    use xdptcp_stack::rudp::{CloseReason, Event};

    /// An echo server on loopback: every message comes back byte-exact, ordered ones in
    /// order, over real kernel UDP sockets.
    #[test]
    fn echo_over_kernel_udp() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut server = RudpSocket::bind(local, Config::default(), [7; 16]).unwrap();
        let server_addr = server.local_addr().unwrap();
        let echo = std::thread::spawn(move || {
            let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
            loop {
                server.drive(StdDuration::from_millis(5)).unwrap();
                let now = server.now();
                while let Some(ev) = server.endpoint().poll_event() {
                    match ev {
                        Event::Message(c, m) => {
                            server.endpoint().send(now, c, &m.data, m.ordered).unwrap();
                        }
                        Event::Closed(_, r) => return r,
                        _ => {}
                    }
                }
                assert!(std::time::Instant::now() < deadline, "echo server timed out");
            }
        });
        let mut client = RudpSocket::bind(local, Config::default(), [8; 16]).unwrap();
        let now = client.now();
        let conn = client.endpoint().connect(now, server_addr).unwrap();
        let sizes = [1usize, 1000, 1072, 1073, 5000, 65_536, 0, 300, 40_000, 2];
        let msgs: Vec<(bool, Vec<u8>)> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| (i % 2 == 0, (0..n).map(|b| (b * 7 + i) as u8).collect()))
            .collect();
        let mut ids = std::collections::HashMap::new();
        for (ordered, data) in &msgs {
            let id = client.endpoint().send(now, conn, data, *ordered).unwrap();
            ids.insert((*ordered, id), data.clone());
        }
        let deadline = std::time::Instant::now() + StdDuration::from_secs(30);
        let mut got = 0;
        let mut next_ordered = 0;
        let mut closed = None;
        while closed.is_none() {
            assert!(std::time::Instant::now() < deadline, "{got} of {} echoes", msgs.len());
            client.drive(StdDuration::from_millis(5)).unwrap();
            while let Some(ev) = client.endpoint().poll_event() {
                match ev {
                    Event::Message(_, m) => {
                        assert_eq!(ids.remove(&(m.ordered, m.id)).as_ref(), Some(&m.data));
                        if m.ordered {
                            assert_eq!(m.id, next_ordered);
                            next_ordered += 1;
                        }
                        got += 1;
                        if got == msgs.len() {
                            let now = client.now();
                            client.endpoint().close(now, conn);
                        }
                    }
                    Event::Closed(_, r) => closed = Some(r),
                    _ => {}
                }
            }
        }
        assert_eq!(got, msgs.len());
        assert_eq!(closed, Some(CloseReason::Local));
        assert_eq!(echo.join().unwrap(), CloseReason::Peer(0));
    }

    /// `run_load` against a loopback echo: echoes counted, latencies recorded, no errors.
    #[test]
    fn load_against_a_loopback_echo() {
        let local: SocketAddr = "127.0.0.1:0".parse().unwrap();
        let mut server = RudpSocket::bind(local, Config::default(), [9; 16]).unwrap();
        let target = server.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = stop.clone();
        let echo = std::thread::spawn(move || {
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                server.drive(StdDuration::from_millis(2)).unwrap();
                let now = server.now();
                while let Some(ev) = server.endpoint().poll_event() {
                    if let Event::Message(c, m) = ev {
                        server.endpoint().send(now, c, &m.data, m.ordered).unwrap();
                    }
                }
            }
        });
        let cfg = RudpLoadConfig {
            target,
            conns: 4,
            duration: StdDuration::from_millis(1500),
            size: 3000,
            timeout: StdDuration::from_secs(10),
            ordered: true,
            config: Config::default(),
            key: [10; 16],
        };
        let mut lines = 0;
        let (stats, elapsed) = run_load(&cfg, &mut |_| lines += 1).unwrap();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        echo.join().unwrap();
        assert!(stats.completed > 10, "{}", stats.completed);
        assert_eq!(stats.errors.total(), 0, "{:?}", stats.errors);
        assert_eq!(stats.bytes, stats.completed * 6000);
        assert!(lines >= 1);
        assert!(elapsed >= cfg.duration);
        let too_big = RudpLoadConfig { size: MAX_MESSAGE + 1, ..cfg };
        assert!(run_load(&too_big, &mut |_| {}).is_err());
    }

    /// A server that never answers: within a run shorter than the timeout no connection is
    /// established, and each counts as a connect error instead of a clean run of nothing.
    #[test]
    fn connections_never_established_are_errors() {
        let silent = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let cfg = RudpLoadConfig {
            target: silent.local_addr().unwrap(),
            conns: 3,
            duration: StdDuration::from_millis(300),
            size: 64,
            timeout: StdDuration::from_secs(10),
            ordered: true,
            config: Config::default(),
            key: [11; 16],
        };
        let (stats, _) = run_load(&cfg, &mut |_| {}).unwrap();
        assert_eq!(stats.completed, 0);
        assert_eq!(stats.errors.connect, 3, "{:?}", stats.errors);
        assert_eq!(stats.errors.total(), 3, "{:?}", stats.errors);
        // Past the timeout they are timeouts, counted once.
        let cfg = RudpLoadConfig { timeout: StdDuration::from_millis(100), ..cfg };
        let (stats, _) = run_load(&cfg, &mut |_| {}).unwrap();
        assert_eq!((stats.errors.timeout, stats.errors.total()), (3, 3), "{:?}", stats.errors);
    }
}
