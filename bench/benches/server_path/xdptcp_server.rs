//! The xdptcp server under test: one `Stack` and an echo application, driven the way
//! `driver/src/worker.rs`'s worker drives it (docs/architecture.md, "One packet's way").

use std::net::Ipv4Addr;

use xdptcp_stack::iface::InterfaceConfig;
use xdptcp_stack::stack::{Stack, StackConfig, StackEvent, StackKeys};
use xdptcp_stack::tcp::Event;
use xdptcp_stack::time::Instant;
use xdptcp_stack::wire::ethernet::EthernetAddress;

use super::frames::FrameBatch;
use super::setup::{caps, server_tcp, SERVER_IP, SERVER_PORT};
use super::EchoServer;

pub struct XdptcpServer {
    pub stack: Stack,
    accepted: usize,
    scratch: Vec<u8>,
    /// Echo bytes the send buffer did not take (must stay zero: the client waits for each
    /// echo before its next request).
    pub short_writes: u64,
}

impl XdptcpServer {
    /// A server for `n` connections, checksums offloaded to the device or in software.
    pub fn new(n: usize, offload: bool, now: Instant) -> XdptcpServer {
        let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 2]), SERVER_IP, 24);
        let mut cfg = StackConfig::new(iface, caps(offload), StackKeys::from_seed(2));
        cfg.tcp = server_tcp();
        cfg.max_connections = (n + 1024).max(65536);
        // As a driver sets it (`xdptcp_driver::setup::stack_config`): the staged look-ahead,
        // from as many connections as this machine's L2 calls for.
        xdptcp_driver::prefetch::configure(&mut cfg);
        let mut stack = Stack::new(cfg, now);
        stack.tcp_listen(Ipv4Addr::UNSPECIFIED, SERVER_PORT, 4096).expect("listen");
        XdptcpServer { stack, accepted: 0, scratch: vec![0; 4096], short_writes: 0 }
    }
}

impl EchoServer for XdptcpServer {
    fn run_batch(&mut self, now: Instant, rx: &FrameBatch, _conns: &[u32], tx: &mut FrameBatch) {
        let s = &mut self.stack;
        s.receive_batch(now, rx.frames());
        if s.poll_timeout().is_some_and(|t| t <= now) {
            s.on_timeout(now);
        }
        while let Some(ev) = s.poll_event() {
            match ev {
                StackEvent::Acceptable(l) => {
                    while s.tcp_accept(l).is_some() {
                        self.accepted += 1;
                    }
                }
                StackEvent::Tcp(h, Event::Readable) => {
                    while let Ok(n @ 1..) = s.tcp_recv(h, &mut self.scratch) {
                        let sent = s.tcp_send(h, &self.scratch[..n]).unwrap_or(0);
                        self.short_writes += (n - sent) as u64;
                    }
                }
                StackEvent::Tcp(..) => {}
            }
        }
        while let Some(slot) = tx.slot() {
            let Some(n) = s.poll_transmit(now, slot) else { break };
            tx.commit(n);
        }
    }

    fn established(&mut self) -> usize {
        self.accepted
    }

    /// The stack's own view: every frame reached TCP or ARP, no segment was refused, nothing
    /// was retransmitted or reset, nothing was lost on the way out.
    fn check(&mut self) -> Result<(), String> {
        let i = self.stack.iface().counters();
        let t = self.stack.tcp_counters();
        let s = self.stack.counters();
        let l = self.stack.listen_counters();
        let dropped = i.rx_frames - i.rx_tcp - i.rx_arp;
        let bad = dropped
            + t.in_errs
            + t.retrans_segs
            + t.out_rsts
            + t.paws_drops
            + s.rsts_no_socket
            + s.tx_errors
            + i.arp_queue_full
            + i.arp_resolution_failed
            + l.listen_drops
            + l.syncookies_sent
            + self.short_writes;
        if bad != 0 {
            return Err(format!(
                "xdptcp server: {dropped} frames dropped, {t:?}, {s:?}, {l:?}, {} short writes",
                self.short_writes
            ));
        }
        Ok(())
    }
}
