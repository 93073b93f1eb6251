//! `xdptcp serve --stack linux`: the apps over kernel sockets, one mio event loop per thread.
//! With several threads each has its own listening socket on the same port (`SO_REUSEPORT`),
//! and the kernel spreads new connections over them, so the threads share nothing.

use super::conn::{Close, ConnIo, Drive, IoCounters};
use super::describe;
use crate::apps::sockperf::UdpServer;
use crate::apps::{AppSpec, Conn, Protocol as _};
use mio::net::{TcpListener, TcpStream, UdpSocket};
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, Socket, Type};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const LISTENER: Token = Token(usize::MAX);
const UDP: Token = Token(usize::MAX - 1);
/// Largest UDP payload over IPv4.
const MAX_DATAGRAM: usize = 65_507;
/// How often an idle loop looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// What a server did, summed over its threads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ServerCounters {
    pub accepted: u64,
    pub closed: u64,
    /// Connections that ended in a socket error or an oversized message.
    pub errors: u64,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Messages the app handled (requests, pings; bytes for echo and discard).
    pub messages: u64,
    /// sockperf over UDP: pong replies sent.
    pub udp_replied: u64,
    /// sockperf over UDP: datagrams dropped for a bad header or length field.
    pub udp_malformed: u64,
    /// sockperf over UDP: replies the kernel refused (buffer full, unreachable).
    pub udp_send_failed: u64,
}

impl ServerCounters {
    fn add(&mut self, o: &ServerCounters) {
        self.accepted += o.accepted;
        self.closed += o.closed;
        self.errors += o.errors;
        self.bytes_in += o.bytes_in;
        self.bytes_out += o.bytes_out;
        self.messages += o.messages;
        self.udp_replied += o.udp_replied;
        self.udp_malformed += o.udp_malformed;
        self.udp_send_failed += o.udp_send_failed;
    }
}

/// Opens `threads` listening sockets on `addr` (port 0 picks one free port for all of them).
/// Errors are one line, e.g. "cannot listen on 127.0.0.1:80: Address already in use".
pub fn bind(addr: SocketAddr, threads: usize) -> Result<Vec<std::net::TcpListener>, String> {
    let fail = |e: io::Error| format!("cannot listen on {addr}: {}", describe(&e));
    if threads <= 1 {
        // Without SO_REUSEPORT, so a port already in use is an error, not a silent share.
        let l = std::net::TcpListener::bind(addr).map_err(fail)?;
        return Ok(vec![l]);
    }
    let mut listeners = Vec::with_capacity(threads);
    let mut addr_now = addr;
    for _ in 0..threads {
        let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
            .map_err(fail)?;
        socket.set_reuse_address(true).map_err(fail)?;
        socket.set_reuse_port(true).map_err(fail)?;
        socket.bind(&addr_now.into()).map_err(fail)?;
        socket.listen(1024).map_err(fail)?;
        let l: std::net::TcpListener = socket.into();
        // Later sockets join the port the first one got.
        addr_now = l.local_addr().map_err(fail)?;
        listeners.push(l);
    }
    Ok(listeners)
}

/// Binds the UDP socket of `serve sockperf` on `addr` (sockperf's default transport is UDP).
pub fn bind_udp(addr: SocketAddr) -> Result<std::net::UdpSocket, String> {
    std::net::UdpSocket::bind(addr).map_err(|e| format!("cannot bind UDP {addr}: {}", describe(&e)))
}

/// Serves `app` on `listeners`, one thread each, until `stop` is set; returns the counters.
/// `udp` (sockperf only) is served by the first thread: one datagram is one message, so it
/// needs no per-peer state.
pub fn run(
    listeners: Vec<std::net::TcpListener>,
    mut udp: Option<std::net::UdpSocket>,
    app: AppSpec,
    stop: Arc<AtomicBool>,
) -> Result<ServerCounters, String> {
    let mut handles = Vec::new();
    for l in listeners {
        let app = app.clone();
        let stop = stop.clone();
        let udp = udp.take();
        handles.push(std::thread::spawn(move || event_loop(l, udp, app, stop)));
    }
    let mut total = ServerCounters::default();
    let mut first_error = None;
    for h in handles {
        match h.join() {
            Ok(Ok(c)) => total.add(&c),
            Ok(Err(e)) => first_error = first_error.or(Some(e)),
            Err(_) => first_error = first_error.or(Some("a server thread panicked".to_string())),
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(total),
    }
}

struct Entry {
    stream: TcpStream,
    io: ConnIo,
    app: Conn,
}

/// Connections of one loop, indexed by their token; freed slots are reused (O(1) both ways).
#[derive(Default)]
struct Slab {
    slots: Vec<Option<Entry>>,
    free: Vec<usize>,
    /// Buffers of closed connections, reused so that a connection-per-request load (crr)
    /// does not pay for allocating and zeroing a receive buffer each time.
    spare_io: Vec<ConnIo>,
}

/// Spare buffer sets kept at most.
const SPARE_IO: usize = 256;

impl Slab {
    fn insert(&mut self, e: Entry) -> usize {
        match self.free.pop() {
            Some(i) => {
                self.slots[i] = Some(e);
                i
            }
            None => {
                self.slots.push(Some(e));
                self.slots.len() - 1
            }
        }
    }

    fn remove(&mut self, i: usize) -> Option<Entry> {
        let e = self.slots.get_mut(i)?.take();
        if e.is_some() {
            self.free.push(i);
        }
        e
    }
}

/// The UDP side of sockperf in one event loop: the socket and its reused buffers.
struct UdpSide {
    socket: UdpSocket,
    server: UdpServer,
    buf: Vec<u8>,
    reply: Vec<u8>,
    send_failed: u64,
}

impl UdpSide {
    /// Answers every datagram waiting on the socket.
    fn drain(&mut self) {
        loop {
            let (n, from) = match self.socket.recv_from(&mut self.buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // WouldBlock: drained. Other errors (e.g. ICMP-reported refusals): try later.
                Err(_) => return,
            };
            let Some(datagram) = self.buf.get(..n) else { continue };
            if self.server.on_datagram(datagram, &mut self.reply)
                && self.socket.send_to(&self.reply, from).is_err()
            {
                self.send_failed += 1;
            }
        }
    }
}

fn event_loop(
    listener: std::net::TcpListener,
    udp: Option<std::net::UdpSocket>,
    app: AppSpec,
    stop: Arc<AtomicBool>,
) -> Result<ServerCounters, String> {
    let fail = |e: io::Error| format!("event loop: {}", describe(&e));
    listener.set_nonblocking(true).map_err(fail)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new().map_err(fail)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(fail)?;
    let mut udp = match udp {
        Some(u) => {
            u.set_nonblocking(true).map_err(fail)?;
            let mut socket = UdpSocket::from_std(u);
            poll.registry().register(&mut socket, UDP, Interest::READABLE).map_err(fail)?;
            Some(UdpSide {
                socket,
                server: UdpServer::default(),
                buf: vec![0; MAX_DATAGRAM],
                reply: Vec::with_capacity(MAX_DATAGRAM),
                send_failed: 0,
            })
        }
        None => None,
    };
    let mut events = Events::with_capacity(1024);
    let mut conns = Slab::default();
    let mut counters = ServerCounters::default();
    let mut io_counters = IoCounters::default();
    let mut again: Vec<usize> = Vec::new();
    let mut again_next: Vec<usize> = Vec::new();

    while !stop.load(Ordering::Relaxed) {
        let timeout = if again.is_empty() { STOP_CHECK } else { Duration::ZERO };
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e)),
        }
        for event in events.iter() {
            if event.token() == LISTENER {
                accept_all(&mut listener, &poll, &app, &mut conns, &mut counters, &mut again_next);
            } else if event.token() == UDP {
                if let Some(u) = udp.as_mut() {
                    u.drain();
                }
            } else {
                again_next.push(event.token().0);
            }
        }
        // Connections with events and those that used up their budget last round.
        again_next.append(&mut again);
        again_next.sort_unstable();
        again_next.dedup();
        for &i in &again_next {
            let Some(Some(e)) = conns.slots.get_mut(i) else {
                continue;
            };
            match e.io.drive(&mut e.stream, &mut e.app, &mut io_counters) {
                Drive::Open => {}
                Drive::Again => again.push(i),
                Drive::Closed(how) => {
                    if let Some(mut e) = conns.remove(i) {
                        let _ = poll.registry().deregister(&mut e.stream);
                        counters.messages += e.app.messages();
                        if conns.spare_io.len() < SPARE_IO {
                            e.io.reset();
                            conns.spare_io.push(e.io);
                        }
                    }
                    counters.closed += 1;
                    if how != Close::Done {
                        counters.errors += 1;
                    }
                }
            }
        }
        again_next.clear();
    }
    for e in conns.slots.iter().flatten() {
        counters.messages += e.app.messages();
    }
    if let Some(u) = &udp {
        counters.messages += u.server.received;
        counters.udp_replied = u.server.replied;
        counters.udp_malformed = u.server.malformed;
        counters.udp_send_failed = u.send_failed;
    }
    counters.bytes_in = io_counters.bytes_in;
    counters.bytes_out = io_counters.bytes_out;
    Ok(counters)
}

fn accept_all(
    listener: &mut TcpListener,
    poll: &Poll,
    app: &AppSpec,
    conns: &mut Slab,
    counters: &mut ServerCounters,
    ready: &mut Vec<usize>,
) {
    loop {
        match listener.accept() {
            Ok((mut stream, _)) => {
                let _ = stream.set_nodelay(true);
                let i = conns.free.last().copied().unwrap_or(conns.slots.len());
                if poll
                    .registry()
                    .register(&mut stream, Token(i), Interest::READABLE | Interest::WRITABLE)
                    .is_err()
                {
                    counters.errors += 1;
                    continue;
                }
                let io = conns.spare_io.pop().unwrap_or_default();
                let slot = conns.insert(Entry { stream, io, app: app.new_conn() });
                debug_assert_eq!(slot, i);
                counters.accepted += 1;
                // Data may already be waiting; edge-triggered readiness would not repeat it.
                ready.push(slot);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // ECONNABORTED, EMFILE...: count and try again on the next event.
            Err(_) => {
                counters.errors += 1;
                return;
            }
        }
    }
}
