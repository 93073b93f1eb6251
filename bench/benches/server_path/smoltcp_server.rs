//! The reference server: smoltcp 0.14, one `Interface` and a `SocketSet` of N TCP sockets,
//! each listening on the port until a connection takes it (smoltcp has no listener or accept
//! queue: one socket serves one connection), with 4 KiB rings, Nagle off and RFC
//! 7323 timestamps on (its TSval is virtual time in ms, as ours), so both servers carry the
//! same segments.
//!
//! smoltcp has no readiness events, so its application is told which connections the batch
//! carried (the `conns` list) and visits only those sockets: an advantage a real smoltcp
//! application, which would scan its sockets, does not have. Its `Interface::poll` runs
//! twice per batch: once for the received frames, once to send what the application wrote.

use std::cell::RefCell;
use std::sync::atomic::{AtomicU32, Ordering};

use smoltcp::iface::{Config, Interface, SocketHandle, SocketSet};
use smoltcp::phy::{self, ChecksumCapabilities, DeviceCapabilities, Medium};
use smoltcp::socket::tcp;
use smoltcp::time::Instant as SInstant;
use smoltcp::wire::{EthernetAddress, HardwareAddress, IpAddress, IpCidr};

use xdptcp_stack::time::Instant;

use super::frames::{FrameBatch, SLOT};
use super::setup::{client_index, conn_index, SERVER_IP, SERVER_PORT};
use super::EchoServer;

/// smoltcp's TSval source is a plain `fn() -> u32`: virtual time in ms, set every batch.
static CLOCK_MS: AtomicU32 = AtomicU32::new(0);

fn tsval() -> u32 {
    CLOCK_MS.load(Ordering::Relaxed)
}

pub struct SmoltcpServer {
    iface: Interface,
    sockets: SocketSet<'static>,
    handles: Vec<SocketHandle>,
    /// The socket of connection `i` of the scripted client.
    by_conn: Vec<SocketHandle>,
    caps: DeviceCapabilities,
    scratch: Vec<u8>,
    /// Echo bytes the send buffer did not take (must stay zero).
    pub short_writes: u64,
}

impl SmoltcpServer {
    pub fn new(n: usize, offload: bool, now: Instant) -> SmoltcpServer {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        // smoltcp counts the Ethernet header in the MTU of an Ethernet device.
        caps.max_transmission_unit = 1514;
        caps.checksum =
            if offload { ChecksumCapabilities::ignored() } else { ChecksumCapabilities::default() };
        let empty = FrameBatch::new(0);
        let mut none = FrameBatch::new(0);
        let tx = RefCell::new(&mut none);
        let mut dev = BatchDevice { rx: &empty, next: 0, tx: &tx, caps: caps.clone() };
        let config = Config::new(HardwareAddress::Ethernet(EthernetAddress([2, 0, 0, 0, 0, 2])));
        let mut iface = Interface::new(config, &mut dev, smol_time(now));
        let o = SERVER_IP.octets();
        iface.update_ip_addrs(|a| {
            a.push(IpCidr::new(IpAddress::v4(o[0], o[1], o[2], o[3]), 24)).expect("one address");
        });
        let mut sockets = SocketSet::new(Vec::with_capacity(n));
        let handles = (0..n)
            .map(|_| {
                let mut s = tcp::Socket::new(
                    tcp::SocketBuffer::new(vec![0; 4096]),
                    tcp::SocketBuffer::new(vec![0; 4096]),
                );
                s.set_nagle_enabled(false);
                s.set_tsval_generator(Some(tsval));
                s.listen(SERVER_PORT).expect("listen");
                sockets.add(s)
            })
            .collect();
        SmoltcpServer {
            iface,
            sockets,
            handles,
            by_conn: Vec::new(),
            caps,
            scratch: vec![0; 4096],
            short_writes: 0,
        }
    }
}

fn smol_time(now: Instant) -> SInstant {
    SInstant::from_micros(now.total_micros() as i64)
}

impl EchoServer for SmoltcpServer {
    fn run_batch(&mut self, now: Instant, rx: &FrameBatch, conns: &[u32], tx: &mut FrameBatch) {
        CLOCK_MS.store(now.total_millis() as u32, Ordering::Relaxed);
        let t = smol_time(now);
        let tx = RefCell::new(tx);
        let mut dev = BatchDevice { rx, next: 0, tx: &tx, caps: self.caps.clone() };
        self.iface.poll(t, &mut dev, &mut self.sockets);
        for &c in conns {
            let s = self.sockets.get_mut::<tcp::Socket>(self.by_conn[c as usize]);
            while let Ok(n @ 1..) = s.recv_slice(&mut self.scratch) {
                let sent = s.send_slice(&self.scratch[..n]).unwrap_or(0);
                self.short_writes += (n - sent) as u64;
            }
        }
        self.iface.poll(t, &mut dev, &mut self.sockets);
    }

    fn established(&mut self) -> usize {
        self.handles
            .iter()
            .filter(|&&h| self.sockets.get::<tcp::Socket>(h).state() == tcp::State::Established)
            .count()
    }

    /// Learns which socket serves which client connection (after setup).
    fn map_connections(&mut self, n: usize, addresses: usize) {
        self.by_conn = vec![self.handles[0]; n];
        let mut mapped = 0;
        for &h in &self.handles {
            let s = self.sockets.get::<tcp::Socket>(h);
            let Some(ep) = s.remote_endpoint() else { continue };
            let IpAddress::Ipv4(ip) = ep.addr;
            let i = client_index(ip).and_then(|k| conn_index(k, ep.port, addresses));
            if let Some(i) = i.filter(|&i| i < n) {
                self.by_conn[i] = h;
                mapped += 1;
            }
        }
        assert_eq!(mapped, n, "every smoltcp socket serves one client connection");
    }

    /// Every socket still established, no echo cut short.
    fn check(&mut self) -> Result<(), String> {
        let est = self.established();
        if est != self.handles.len() || self.short_writes != 0 {
            return Err(format!(
                "smoltcp server: {est} of {} established, {} short writes",
                self.handles.len(),
                self.short_writes
            ));
        }
        Ok(())
    }
}

/// smoltcp's view of one batch: received frames lent in order, transmitted frames written
/// straight into the TX batch.
struct BatchDevice<'a, 'b> {
    rx: &'a FrameBatch,
    next: usize,
    tx: &'a RefCell<&'b mut FrameBatch>,
    caps: DeviceCapabilities,
}

struct RxFrame<'a> {
    frame: &'a [u8],
}

struct TxSlot<'a, 'b> {
    tx: &'a RefCell<&'b mut FrameBatch>,
}

impl phy::RxToken for RxFrame<'_> {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.frame)
    }
}

impl phy::TxToken for TxSlot<'_, '_> {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        assert!(len <= SLOT, "frame of {len} bytes");
        let mut tx = self.tx.borrow_mut();
        let slot = tx.slot().expect("TX batch full");
        let r = f(&mut slot[..len]);
        tx.commit(len);
        r
    }
}

impl<'b> phy::Device for BatchDevice<'_, 'b> {
    type RxToken<'x>
        = RxFrame<'x>
    where
        Self: 'x;
    type TxToken<'x>
        = TxSlot<'x, 'b>
    where
        Self: 'x;

    fn receive(&mut self, _: SInstant) -> Option<(RxFrame<'_>, TxSlot<'_, 'b>)> {
        if self.next == self.rx.len() {
            return None;
        }
        let frame = self.rx.frame(self.next);
        self.next += 1;
        Some((RxFrame { frame }, TxSlot { tx: self.tx }))
    }

    fn transmit(&mut self, _: SInstant) -> Option<TxSlot<'_, 'b>> {
        Some(TxSlot { tx: self.tx })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        self.caps.clone()
    }
}
