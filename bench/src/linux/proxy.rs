//! `serve proxy --stack linux`: the L4 TCP proxy over kernel sockets, one mio event loop per
//! thread (each with its own SO_REUSEPORT listener), the reference for the xdptcp proxy.
//!
//! What a pair does is `xdptcp_driver::services::relay`, shared with the xdptcp proxy; this
//! file is the sockets below it. Per direction one 64 KiB buffer: read from one socket while the buffer is empty, write it
//! to the other until it drains; a full (undrained) buffer stops reading that side, so the
//! kernel's receive window closes towards the sender (backpressure). A read of 0 (FIN)
//! becomes `shutdown(SHUT_WR)` on the other socket once the buffer is drained (half-close).
//! A backend that refuses or resets, or a client that resets, makes the proxy close the
//! other socket with SO_LINGER 0, i.e. a RST.

use super::describe;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
// Counters of one run (all threads): the xdptcp proxy's type, so both report alike.
use xdptcp_driver::services::relay::{relay, Backends, Broken, Moved, RelayIo, Side};
use xdptcp_driver::services::ProxyCounters;

const LISTENER: Token = Token(usize::MAX);
const STOP_CHECK: Duration = Duration::from_millis(100);
const BUF: usize = 64 * 1024;

/// One direction: bytes read from side `from`, not yet written to the other side.
struct Dir {
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    /// `from` sent its FIN.
    eof: bool,
    /// ... and it was passed on (shutdown of the other side's write).
    shut: bool,
}

struct Pair {
    s: [TcpStream; 2],
    /// dir[0]: client → backend, dir[1]: backend → client.
    dir: [Dir; 2],
    backend_up: bool,
}

enum Step {
    Open,
    Done,
    Failed,
}

/// Runs the proxy on `listeners` until `stop`.
pub fn run(
    listeners: Vec<std::net::TcpListener>,
    backends: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
) -> Result<ProxyCounters, String> {
    let mut handles = Vec::new();
    for (t, l) in listeners.into_iter().enumerate() {
        let backends = backends.clone();
        let stop = stop.clone();
        handles.push(std::thread::spawn(move || event_loop(l, backends, t, stop)));
    }
    let mut total = ProxyCounters::default();
    for h in handles {
        total.add(&h.join().map_err(|_| "a proxy thread panicked".to_string())??);
    }
    Ok(total)
}

fn event_loop(
    listener: std::net::TcpListener,
    backends: Vec<SocketAddr>,
    first_backend: usize,
    stop: Arc<AtomicBool>,
) -> Result<ProxyCounters, String> {
    let fail = |e: io::Error| format!("proxy event loop: {}", describe(&e));
    listener.set_nonblocking(true).map_err(fail)?;
    let mut listener = TcpListener::from_std(listener);
    let mut poll = Poll::new().map_err(fail)?;
    poll.registry().register(&mut listener, LISTENER, Interest::READABLE).map_err(fail)?;
    let mut events = Events::with_capacity(1024);
    let mut pairs: Vec<Option<Pair>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut c = ProxyCounters::default();
    let mut backends = Backends::new(backends, first_backend);
    while !stop.load(Ordering::Relaxed) {
        match poll.poll(&mut events, Some(STOP_CHECK)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(fail(e)),
        }
        for event in events.iter() {
            let p = if event.token() == LISTENER {
                // Accept everything waiting; each new pair is driven once right away.
                loop {
                    let (client, _) = match listener.accept() {
                        Ok(x) => x,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(_) => break,
                    };
                    let Some(Ok(b)) = backends.accepted(&mut c).map(TcpStream::connect) else {
                        c.backend_failed += 1;
                        reset(client);
                        continue;
                    };
                    let p = free.pop().unwrap_or_else(|| {
                        pairs.push(None);
                        pairs.len() - 1
                    });
                    let dir = || Dir {
                        buf: vec![0; BUF].into_boxed_slice(),
                        start: 0,
                        end: 0,
                        eof: false,
                        shut: false,
                    };
                    let mut pair = Pair { s: [client, b], dir: [dir(), dir()], backend_up: false };
                    let both = Interest::READABLE | Interest::WRITABLE;
                    let ok = poll.registry().register(&mut pair.s[0], Token(2 * p), both).is_ok()
                        && poll.registry().register(&mut pair.s[1], Token(2 * p + 1), both).is_ok();
                    if !ok {
                        c.aborted += 1;
                        free.push(p);
                        continue;
                    }
                    let _ = pair.s[0].set_nodelay(true);
                    let _ = pair.s[1].set_nodelay(true);
                    pairs[p] = Some(pair);
                }
                continue;
            } else {
                event.token().0 / 2
            };
            let Some(Some(pair)) = pairs.get_mut(p) else { continue };
            let step = drive(pair, &mut c);
            if !matches!(step, Step::Open) {
                if let Some(mut pair) = pairs[p].take() {
                    for s in &mut pair.s {
                        let _ = poll.registry().deregister(s);
                    }
                    // A completed pair was counted by `relay`.
                    if matches!(step, Step::Failed) {
                        if !pair.backend_up {
                            c.backend_failed += 1;
                        }
                        c.aborted += 1;
                        let [a, b] = pair.s;
                        reset(a);
                        reset(b);
                    }
                }
                free.push(p);
            }
        }
    }
    Ok(c)
}

/// Closes with a RST (SO_LINGER 0).
fn reset(s: TcpStream) {
    let s = socket2::Socket::from(std::net::TcpStream::from(s));
    let _ = s.set_linger(Some(Duration::ZERO));
}

/// Moves bytes both ways until nothing moves.
fn drive(pair: &mut Pair, c: &mut ProxyCounters) -> Step {
    if !pair.backend_up {
        match pair.s[1].take_error() {
            Ok(None) => {}
            _ => return Step::Failed,
        }
        match pair.s[1].peer_addr() {
            Ok(_) => pair.backend_up = true,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Step::Open,
            Err(_) => return Step::Failed,
        }
    }
    loop {
        let mut moved = false;
        for from in [Side::Client, Side::Backend] {
            match relay(pair, from, c) {
                Ok(p) if p.complete => return Step::Done,
                Ok(p) => moved |= p.moved,
                Err(Broken) => return Step::Failed,
            }
        }
        if !moved {
            return Step::Open;
        }
    }
}

fn index(side: Side) -> usize {
    match side {
        Side::Client => 0,
        Side::Backend => 1,
    }
}

impl Pair {
    /// (sender, receiver, the direction's buffer) for `from`'s direction.
    fn direction(&mut self, from: Side) -> (&mut TcpStream, &mut TcpStream, &mut Dir) {
        let [client, backend] = &mut self.s;
        let d = &mut self.dir[index(from)];
        match from {
            Side::Client => (client, backend, d),
            Side::Backend => (backend, client, d),
        }
    }
}

impl RelayIo for Pair {
    /// Writes what the buffer holds; when it is empty, reads more (or the end of stream).
    fn forward(&mut self, from: Side) -> Result<Moved, Broken> {
        let (src, dst, d) = self.direction(from);
        loop {
            if d.start < d.end {
                match dst.write(&d.buf[d.start..d.end]) {
                    Ok(0) => return Err(Broken),
                    Ok(n) => {
                        d.start += n;
                        return Ok(Moved::Bytes(n));
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Moved::Nothing),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => return Err(Broken),
                }
            }
            d.start = 0;
            d.end = 0;
            if d.eof {
                return Ok(if d.shut { Moved::Nothing } else { Moved::Ended });
            }
            match src.read(&mut d.buf) {
                Ok(0) => d.eof = true,
                Ok(n) => d.end = n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Moved::Nothing),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return Err(Broken),
            }
        }
    }

    /// `shutdown(SHUT_WR)` on the other socket.
    fn pass_end(&mut self, from: Side) -> Result<bool, Broken> {
        let (_, dst, d) = self.direction(from);
        d.shut = true;
        dst.shutdown(Shutdown::Write).map_err(|_| Broken)?;
        Ok(self.dir[index(from.other())].shut)
    }
}
