//! Echo over TCP and UDP (RFC 862).

use xdptcp_stack::iface::UdpHandle;
use xdptcp_stack::stack::TcpHandle;
use xdptcp_stack::time::Instant;

use crate::service::{Cx, Ports, Service, OUT_LIMIT};

/// Echo (RFC 862): every TCP byte and every UDP datagram back to its sender, on a TCP port,
/// a UDP port, or both. Backpressure: a connection whose echo does not fit the send buffer
/// keeps the rest in the receive buffer (so the window closes towards the peer) and resumes
/// on `Writable`.
#[derive(Debug)]
pub struct Echo {
    tcp_port: Option<u16>,
    udp_port: Option<u16>,
    backlog: usize,
    ports: Ports,
    /// The reply being sent (a copy of the datagram: `udp_send_to` takes the stack mutably
    /// while the datagram lies in the socket's ring), allocated once.
    reply: Vec<u8>,
    counters: EchoCounters,
}

/// What an [`Echo`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EchoCounters {
    /// TCP bytes echoed.
    pub bytes: u64,
    /// UDP datagrams echoed.
    pub datagrams: u64,
    /// UDP echoes the interface refused (queue full, no route); each is counted there too.
    pub datagrams_failed: u64,
}

impl Echo {
    /// TCP echo on `port` (listen backlog 1024).
    pub fn new(port: u16) -> Echo {
        Echo {
            tcp_port: Some(port),
            udp_port: None,
            backlog: 1024,
            ports: Ports::default(),
            reply: Vec::new(),
            counters: EchoCounters::default(),
        }
    }

    /// UDP echo only, on `port`.
    pub fn udp(port: u16) -> Echo {
        Echo { tcp_port: None, udp_port: Some(port), ..Echo::new(0) }
    }

    /// Also echoes UDP datagrams on `port`.
    pub fn with_udp(mut self, port: u16) -> Echo {
        self.udp_port = Some(port);
        self
    }

    /// The TCP listen backlog.
    pub fn with_backlog(mut self, backlog: usize) -> Echo {
        self.backlog = backlog;
        self
    }

    /// What it echoed.
    pub fn counters(&self) -> EchoCounters {
        self.counters
    }
}

impl Service for Echo {
    type Conn = ();

    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), String> {
        if let Some(port) = self.tcp_port {
            // `::`: both families.
            self.ports.listen(cx, std::net::Ipv6Addr::UNSPECIFIED, port, self.backlog)?;
        }
        if let Some(port) = self.udp_port {
            self.ports.bind_udp(cx, port)?;
            self.reply = Vec::with_capacity(65536);
        }
        Ok(())
    }

    fn open(&mut self, _cx: &mut Cx<'_>, _h: TcpHandle) -> Option<()> {
        Some(())
    }

    fn on_data(&mut self, _now: Instant, _conn: &mut (), input: &[u8], out: &mut Vec<u8>) -> usize {
        let take = input.len().min(OUT_LIMIT.saturating_sub(out.len()));
        out.extend_from_slice(&input[..take]);
        self.counters.bytes += take as u64;
        take
    }

    fn on_udp(&mut self, cx: &mut Cx<'_>, socket: UdpHandle) {
        let (sent, failed) = cx.answer_datagrams(socket, &mut self.reply, |datagram, reply| {
            reply.clear();
            reply.extend_from_slice(datagram);
            true
        });
        self.counters.datagrams += sent;
        self.counters.datagrams_failed += failed;
    }

    fn shutdown(&mut self, cx: &mut Cx<'_>) {
        self.ports.close(cx);
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("echoed_bytes", self.counters.bytes);
        out("udp_echoed", self.counters.datagrams);
        out("udp_echo_failed", self.counters.datagrams_failed);
    }

    fn copied(&self) -> u64 {
        self.counters.bytes
    }
}
