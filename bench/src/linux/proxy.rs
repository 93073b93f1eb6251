//! `serve proxy --stack linux`: the L4 TCP proxy over kernel sockets, one mio event loop per
//! thread (each with its own SO_REUSEPORT listener), the reference for the xdptcp proxy.
//!
//! Per direction one 64 KiB buffer: read from one socket while the buffer is empty, write it
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
    let mut next = first_backend;
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
                    c.accepted += 1;
                    let backend = backends[next % backends.len()];
                    next = next.wrapping_add(1);
                    let Ok(b) = TcpStream::connect(backend) else {
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
                    match step {
                        Step::Failed => {
                            if !pair.backend_up {
                                c.backend_failed += 1;
                            }
                            c.aborted += 1;
                            let [a, b] = pair.s;
                            reset(a);
                            reset(b);
                        }
                        _ => c.completed += 1,
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
        for from in 0..2 {
            let to = 1 - from;
            let (a, b) = pair.s.split_at_mut(1);
            let (src, dst) =
                if from == 0 { (&mut a[0], &mut b[0]) } else { (&mut b[0], &mut a[0]) };
            let d = &mut pair.dir[from];
            loop {
                if d.start < d.end {
                    match dst.write(&d.buf[d.start..d.end]) {
                        Ok(0) => return Step::Failed,
                        Ok(n) => {
                            d.start += n;
                            moved = true;
                            if to == 1 {
                                c.bytes_up += n as u64;
                            } else {
                                c.bytes_down += n as u64;
                            }
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(_) => return Step::Failed,
                    }
                    continue;
                }
                d.start = 0;
                d.end = 0;
                if d.eof {
                    if !d.shut {
                        d.shut = true;
                        moved = true;
                        if dst.shutdown(Shutdown::Write).is_err() {
                            return Step::Failed;
                        }
                    }
                    break;
                }
                match src.read(&mut d.buf) {
                    Ok(0) => {
                        d.eof = true;
                        moved = true;
                    }
                    Ok(n) => {
                        d.end = n;
                        moved = true;
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return Step::Failed,
                }
            }
        }
        if pair.dir[0].shut && pair.dir[1].shut {
            return Step::Done;
        }
        if !moved {
            return Step::Open;
        }
    }
}
