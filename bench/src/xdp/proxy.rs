//! `serve proxy --stack xdptcp`: an L4 TCP proxy on one worker. Each accepted client
//! connection gets a backend connection (round-robin over the backends) opened by the same
//! stack on the same core, and bytes are forwarded both ways.
//!
//! - Copies: a direction moves receive ring → scratch buffer → the other connection's send
//!   ring (two copies by the application, like `TcpEcho`; the stack API lends one
//!   connection at a time, so there is no ring-to-ring splice yet).
//! - Backpressure: a direction moves at most the other side's free send space; what does
//!   not fit stays in the receive ring, so our window towards the sender closes, and the
//!   direction resumes on the other side's `Writable`.
//! - Half-close: end of stream on one side (its FIN, after every byte was forwarded) becomes
//!   `tcp_shutdown_write` on the other.
//! - Failure: a backend that refuses, times out or resets, or a client that resets, aborts
//!   the other connection (a RST), so nothing waits forever on a dead partner.

use std::net::{Ipv4Addr, SocketAddrV4};
use xdptcp_driver::app::{App as DriverApp, AppCopies};
use xdptcp_stack::stack::{ListenHandle, Stack, TcpError, TcpHandle};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;

/// Counters of the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyCounters {
    /// Client connections accepted.
    pub accepted: u64,
    /// Backend connections that could not be opened or failed to connect.
    pub backend_failed: u64,
    /// Pairs ended by a reset, timeout or refusal on either side.
    pub aborted: u64,
    /// Pairs whose both directions ended with a FIN.
    pub completed: u64,
    /// Bytes client → backend and backend → client.
    pub bytes_up: u64,
    pub bytes_down: u64,
}

/// Side 0 is the client, side 1 the backend.
#[derive(Debug, Clone, Copy)]
struct Pair {
    h: [TcpHandle; 2],
    /// Side `i`'s end of stream was forwarded (shutdown of the other side's write).
    fin: [bool; 2],
}

/// The proxy application.
#[derive(Debug)]
pub struct StackProxy {
    port: u16,
    backlog: usize,
    backends: Vec<SocketAddrV4>,
    next_backend: usize,
    listener: Option<ListenHandle>,
    listen_error: Option<String>,
    pairs: Vec<Option<Pair>>,
    free: Vec<usize>,
    open: usize,
    /// Handle slot → pair index * 2 + side + 1 (0: none).
    owner: Vec<u32>,
    scratch: Vec<u8>,
    stopping: bool,
    counters: ProxyCounters,
    copies: AppCopies,
}

impl StackProxy {
    /// A proxy listening on `port` of the stack's address.
    pub fn new(port: u16, backlog: usize, backends: Vec<SocketAddrV4>) -> StackProxy {
        StackProxy {
            port,
            backlog,
            backends,
            next_backend: 0,
            listener: None,
            listen_error: None,
            pairs: Vec::new(),
            free: Vec::new(),
            open: 0,
            owner: Vec::new(),
            scratch: vec![0; 64 * 1024],
            stopping: false,
            counters: ProxyCounters::default(),
            copies: AppCopies::default(),
        }
    }

    /// Why listening failed, if it did.
    pub fn listen_error(&self) -> Option<&str> {
        self.listen_error.as_deref()
    }

    /// The counters.
    pub fn counters(&self) -> ProxyCounters {
        self.counters
    }

    /// Pairs open.
    pub fn open_pairs(&self) -> usize {
        self.open
    }

    fn set_owner(&mut self, h: TcpHandle, value: u32) {
        if h.index() >= self.owner.len() {
            self.owner.resize(h.index() + 1, 0);
        }
        self.owner[h.index()] = value;
    }

    /// (pair, side) of a live handle.
    fn lookup(&self, h: TcpHandle) -> Option<(usize, usize)> {
        let v = (*self.owner.get(h.index())? as usize).checked_sub(1)?;
        let (p, side) = (v / 2, v % 2);
        let pair = self.pairs.get(p)?.as_ref()?;
        (pair.h[side] == h).then_some((p, side))
    }

    fn add_pair(&mut self, pair: Pair) {
        let p = self.free.pop().unwrap_or_else(|| {
            self.pairs.push(None);
            self.pairs.len() - 1
        });
        self.pairs[p] = Some(pair);
        self.open += 1;
        // Pair indices are bounded by the stack's connection table (u32 handles).
        self.set_owner(pair.h[0], (p * 2 + 1) as u32);
        self.set_owner(pair.h[1], (p * 2 + 2) as u32);
    }

    fn remove_pair(&mut self, p: usize) -> Option<Pair> {
        let pair = self.pairs.get_mut(p)?.take()?;
        for h in pair.h {
            if let Some(o) = self.owner.get_mut(h.index()) {
                *o = 0;
            }
        }
        self.free.push(p);
        self.open -= 1;
        Some(pair)
    }

    /// Ends a pair abortively: both connections get a RST (one may be gone already).
    fn abort(&mut self, stack: &mut Stack, p: usize) {
        if let Some(pair) = self.remove_pair(p) {
            self.counters.aborted += 1;
            for h in pair.h {
                let _ = stack.tcp_abort(h);
            }
        }
    }

    fn accept(&mut self, now: Instant, stack: &mut Stack, client: TcpHandle) {
        self.counters.accepted += 1;
        let Some(&backend) = self.backends.get(self.next_backend % self.backends.len().max(1))
        else {
            let _ = stack.tcp_abort(client);
            return;
        };
        self.next_backend = self.next_backend.wrapping_add(1);
        match stack.tcp_connect(now, *backend.ip(), backend.port()) {
            Ok(b) => {
                let _ = stack.tcp_set_nodelay(b, true);
                let _ = stack.tcp_set_nodelay(client, true);
                self.add_pair(Pair { h: [client, b], fin: [false, false] });
            }
            Err(_) => {
                self.counters.backend_failed += 1;
                let _ = stack.tcp_abort(client);
            }
        }
    }

    /// Moves what side `from` received into the other side's send buffer, as far as it
    /// fits, and forwards its end of stream. False if the pair was aborted.
    fn forward(&mut self, stack: &mut Stack, p: usize, from: usize) -> bool {
        let Some(pair) = self.pairs.get(p).copied().flatten() else { return false };
        let (src, dst) = (pair.h[from], pair.h[1 - from]);
        if pair.fin[from] {
            return true;
        }
        loop {
            let space = stack.tcp_send_space(dst).min(self.scratch.len());
            let scratch = &mut self.scratch[..space];
            let r = stack.tcp_read(src, |a, b| {
                let n1 = a.len().min(scratch.len());
                scratch[..n1].copy_from_slice(&a[..n1]);
                let n2 = b.len().min(scratch.len() - n1);
                scratch[n1..n1 + n2].copy_from_slice(&b[..n2]);
                n1 + n2
            });
            match r {
                Ok(0) => return true,
                Ok(n) => {
                    self.copies.rx_ring_to_app += n as u64;
                    // `n` is at most the free send space, so all of it is taken.
                    match stack.tcp_send(dst, &self.scratch[..n]) {
                        Ok(k) if k == n => {
                            self.copies.tx_app_to_ring += n as u64;
                            if from == 0 {
                                self.counters.bytes_up += n as u64;
                            } else {
                                self.counters.bytes_down += n as u64;
                            }
                        }
                        _ => {
                            self.abort(stack, p);
                            return false;
                        }
                    }
                }
                Err(TcpError::Finished) => {
                    // RFC 9293 §3.6: a FIN closes one direction only; pass it on as a
                    // half-close and keep the other direction running.
                    let _ = stack.tcp_shutdown_write(dst);
                    if let Some(Some(pair)) = self.pairs.get_mut(p) {
                        pair.fin[from] = true;
                        if pair.fin == [true, true] {
                            // Both directions ended: the stack finishes the closes.
                            self.remove_pair(p);
                            self.counters.completed += 1;
                        }
                    }
                    return false;
                }
                Err(_) => {
                    self.abort(stack, p);
                    return false;
                }
            }
        }
    }

    fn pump(&mut self, stack: &mut Stack, p: usize) {
        self.forward(stack, p, 0);
        // Unless the first direction aborted the pair (or finished it).
        if self.pairs.get(p).is_some_and(Option::is_some) {
            self.forward(stack, p, 1);
        }
    }
}

impl DriverApp for StackProxy {
    fn start_error(&self) -> Option<&str> {
        self.listen_error.as_deref()
    }

    fn start(&mut self, _now: Instant, stack: &mut Stack) {
        match stack.tcp_listen(Ipv4Addr::UNSPECIFIED, self.port, self.backlog) {
            Ok(l) => self.listener = Some(l),
            Err(e) => {
                self.listen_error = Some(format!("cannot listen on port {}: {e:?}", self.port))
            }
        }
    }

    fn on_accept(&mut self, now: Instant, stack: &mut Stack, listener: ListenHandle) {
        while let Some(h) = stack.tcp_accept(listener) {
            if self.stopping {
                let _ = stack.tcp_abort(h);
            } else {
                self.accept(now, stack, h);
            }
        }
    }

    fn on_connected(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some((p, _)) = self.lookup(h) {
            self.pump(stack, p);
        }
    }

    fn on_readable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some((p, side)) = self.lookup(h) {
            self.forward(stack, p, side);
        }
    }

    fn on_writable(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle) {
        if let Some((p, side)) = self.lookup(h) {
            // Room on this side: move what the other side is holding.
            self.forward(stack, p, 1 - side);
        }
    }

    fn on_closed(&mut self, _now: Instant, stack: &mut Stack, h: TcpHandle, why: Event) {
        let Some((p, side)) = self.lookup(h) else { return };
        if side == 1 && matches!(why, Event::Refused | Event::TimedOut) {
            self.counters.backend_failed += 1;
        }
        // A connection that ended while its pair still had a direction open ended abnormally
        // (reset, timeout, refusal, or closed before its partner's data got through): the
        // partner gets a RST rather than waiting for bytes that will never come.
        self.abort(stack, p);
    }

    fn shutdown(&mut self, _now: Instant, stack: &mut Stack) {
        self.stopping = true;
        if let Some(l) = self.listener.take() {
            stack.tcp_unlisten(l);
        }
        for p in 0..self.pairs.len() {
            if let Some(pair) = self.remove_pair(p) {
                for h in pair.h {
                    let _ = stack.tcp_close(h);
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.stopping
    }

    fn copies(&self) -> AppCopies {
        self.copies
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        let c = self.counters;
        out("accepted", c.accepted);
        out("backend_failed", c.backend_failed);
        out("aborted", c.aborted);
        out("completed", c.completed);
        out("bytes_up", c.bytes_up);
        out("bytes_down", c.bytes_down);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xdp::testbed::{run_until, setup, A, B};
    use xdptcp_stack::stack::TcpHandle;

    fn pattern(i: usize) -> u8 {
        (i.wrapping_mul(31) ^ (i >> 11)) as u8
    }

    /// A client on the peer sends 300 KB and half-closes; the backend (also the peer) echoes,
    /// then after the client's FIN sends a tail and half-closes. The client must get the
    /// echo and the tail, in order, and then the end of stream.
    #[test]
    fn forwards_byte_exact_and_passes_half_close_both_ways() {
        let backend = SocketAddrV4::new(B, 7007);
        let (mut w, mut p) = setup(StackProxy::new(8000, 16, vec![backend]));
        let mut now = Instant::from_millis(1);
        w.run_once(now);
        p.stack.tcp_listen(B, 7007, 16).expect("listen");
        let c = p.stack.tcp_connect(now, A, 8000).expect("connect");
        let total = 300_000;
        let (mut sent, mut back, mut tail_sent, mut client_done) = (0, Vec::new(), false, false);
        let mut chunk = vec![0u8; 4096];
        let ok = run_until(&mut w, &mut p, &mut now, 500_000, |_, p| {
            while sent < total {
                let n = chunk.len().min(total - sent);
                for (i, b) in chunk[..n].iter_mut().enumerate() {
                    *b = pattern(sent + i);
                }
                match p.stack.tcp_send(c, &chunk[..n]) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => sent += k,
                }
            }
            if sent == total {
                let _ = p.stack.tcp_shutdown_write(c);
            }
            // The backend: echo; after the client's FIN arrived through the proxy, a tail.
            let backend_h: Option<TcpHandle> = p.accepted.first().copied();
            if let Some(b) = backend_h {
                p.echo_accepted_until_fin();
                if !tail_sent && p.stack.tcp_recv_finished(b) {
                    tail_sent = p.stack.tcp_send(b, b"tail").is_ok_and(|n| n == 4);
                    let _ = p.stack.tcp_shutdown_write(b);
                }
            }
            let mut buf = [0u8; 8192];
            loop {
                match p.stack.tcp_recv(c, &mut buf) {
                    Ok(0) => break,
                    Ok(n) => back.extend_from_slice(&buf[..n]),
                    Err(_) => {
                        client_done = true;
                        break;
                    }
                }
            }
            client_done
        });
        assert!(ok, "stalled: sent {sent}, back {}", back.len());
        assert_eq!(back.len(), total + 4);
        assert!(back[..total].iter().enumerate().all(|(i, &b)| b == pattern(i)), "differs");
        assert_eq!(&back[total..], b"tail");
        let k = w.app().counters();
        assert_eq!((k.accepted, k.completed, k.aborted), (1, 1, 0));
        assert_eq!(k.bytes_up, total as u64);
        assert_eq!(k.bytes_down, total as u64 + 4);
    }

    /// Nothing listens on the backend port: the peer refuses the proxy's SYN, and the client
    /// connection gets a reset instead of waiting.
    #[test]
    fn refused_backend_resets_the_client() {
        let backend = SocketAddrV4::new(B, 7999);
        let (mut w, mut p) = setup(StackProxy::new(8000, 16, vec![backend]));
        let mut now = Instant::from_millis(1);
        w.run_once(now);
        let c = p.stack.tcp_connect(now, A, 8000).expect("connect");
        let ok = run_until(&mut w, &mut p, &mut now, 100_000, |_, p| {
            p.events.iter().any(|&(h, e)| h == c && e == Event::Reset)
        });
        assert!(ok, "the client saw {:?}", p.events);
        let k = w.app().counters();
        assert_eq!((k.accepted, k.backend_failed, k.aborted), (1, 1, 1));
        assert_eq!(w.app().open_pairs(), 0);
    }
}
