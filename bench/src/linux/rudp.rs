//! `rudp` over a kernel UDP socket, so a Linux host can be a peer of the sans-IO endpoint
//! (the same [`Endpoint`] that runs over the stack's UDP on AF_XDP and in the simulator).
//!
//! The adapter only moves datagrams and time: it sends what `poll_transmit` has, blocks on
//! the socket until a datagram arrives or the endpoint's next deadline passes, feeds what
//! arrived to `handle`, and runs `handle_timeout`. Time is `std::time::Instant` since the
//! adapter was made, converted to the stack's [`Instant`].

use std::io;
use std::net::{SocketAddr, UdpSocket};

use xdptcp_stack::rudp::{Config, Endpoint};
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
                Err(e)
                    if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
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
}
