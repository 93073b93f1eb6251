//! The per-core, run-to-completion worker: one device, one [`Interface`], one application.
//!
//! # One iteration ([`Worker::run_once`])
//!
//! 1. **RX**: one batch from the device; every frame goes to [`Interface::receive`]. ARP,
//!    ICMP echo and UDP are handled inside the interface. TCP segments come back as
//!    [`Received::Tcp`]: *this is where the TCP stack plugs in*; until it exists they are
//!    counted (`tcp_unhandled`) and dropped with the batch.
//! 2. **Application**: [`App::poll`] reads what the interface queued for it and queues
//!    replies (e.g. [`UdpEcho`]).
//! 3. **TX**: [`Interface::poll_transmit`] straight into free device buffers until it has
//!    nothing left or the device has no buffer; then the batch is flushed (one doorbell).
//! 4. **Timers**: [`Interface::poll_timeout`] (ARP retransmission) and [`Device::poll_at`]
//!    (a fault injector's delay line) tell the caller when the next iteration is due at the
//!    latest.
//!
//! A [`Worker`] owns everything it touches, so nothing on this path is shared or locked;
//! [`spawn`] runs one on a thread pinned to a core, stopped through a crossbeam channel or by
//! SIGINT/SIGTERM ([`crate::signal`]).

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use xdptcp_stack::iface::{Interface, Received, UdpHandle};
use xdptcp_stack::time::Instant;

use crate::device::Device;
use crate::rss::Rss;
use crate::steering::{SteerCounters, SteerPort};

/// Counters of the worker loop itself (the interface has its own).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerCounters {
    /// Iterations of `run_once`.
    pub iterations: u64,
    /// Frames received from the device.
    pub rx_frames: u64,
    /// Frames handed to the device for transmission.
    pub tx_frames: u64,
    /// TCP segments for us, dropped because no TCP stack is plugged in yet.
    pub tcp_unhandled: u64,
    /// ICMP errors about our TCP segments, dropped for the same reason.
    pub icmp_errors_unhandled: u64,
    /// Iterations that ended with frames still queued because the device had no buffer.
    pub tx_no_buffer: u64,
    /// Frames another worker steered here and this one processed.
    pub steered_in: u64,
    /// Frames received here but owned by another worker (handed over or dropped, see the
    /// steering counters).
    pub not_mine: u64,
    /// Copies of ARP replies sent to the other workers.
    pub arp_shared: u64,
}

/// An application driven by the worker between RX and TX.
pub trait App {
    /// Reads what arrived for the application and queues what it sends.
    fn poll(&mut self, now: Instant, iface: &mut Interface);

    /// Reports the application's counters as (name, value) pairs.
    fn report(&self, _out: &mut dyn FnMut(&'static str, u64)) {}
}

/// No application (ARP and ICMP echo still work: they live in the interface).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoApp;

impl App for NoApp {
    fn poll(&mut self, _now: Instant, _iface: &mut Interface) {}
}

/// Echoes every UDP datagram received on one port back to its sender.
#[derive(Debug)]
pub struct UdpEcho {
    socket: UdpHandle,
    /// One datagram's worth, allocated once: the payload is copied out of the socket's ring
    /// so the interface can be borrowed mutably to send it.
    scratch: Vec<u8>,
    echoed: u64,
    failed: u64,
}

impl UdpEcho {
    /// Binds `port` on `iface`.
    pub fn bind(
        iface: &mut Interface,
        port: u16,
    ) -> Result<UdpEcho, xdptcp_stack::iface::BindError> {
        let socket = iface.udp_bind(port)?;
        Ok(UdpEcho { socket, scratch: vec![0; iface.caps().mtu], echoed: 0, failed: 0 })
    }

    /// Datagrams echoed.
    pub fn echoed(&self) -> u64 {
        self.echoed
    }

    /// Echoes the interface refused (queue full, no route); each is counted there too.
    pub fn failed(&self) -> u64 {
        self.failed
    }
}

impl App for UdpEcho {
    fn poll(&mut self, now: Instant, iface: &mut Interface) {
        loop {
            let (peer, len) = match iface.udp_recv_from(self.socket) {
                Some((peer, payload)) => {
                    let n = payload.len().min(self.scratch.len());
                    self.scratch[..n].copy_from_slice(&payload[..n]);
                    (peer, n)
                }
                None => return,
            };
            iface.udp_consume(self.socket);
            match iface.udp_send_to(now, self.socket, peer, &self.scratch[..len]) {
                Ok(()) => self.echoed += 1,
                Err(_) => self.failed += 1,
            }
        }
    }

    fn report(&self, out: &mut dyn FnMut(&'static str, u64)) {
        out("udp_echoed", self.echoed);
        out("udp_echo_failed", self.failed);
    }
}

/// This worker's share of flow steering: the RSS it computes owners with and its lanes.
#[derive(Debug)]
struct Steer {
    rss: Arc<Rss>,
    port: SteerPort,
}

/// Most steered frames a worker processes per iteration (so its own queue is not starved).
const STEER_BUDGET: usize = 256;

/// One device, one interface, one application. See the [module documentation](self).
#[derive(Debug)]
pub struct Worker<D: Device, A: App> {
    dev: D,
    iface: Interface,
    app: A,
    counters: WorkerCounters,
    steer: Option<Steer>,
}

impl<D: Device, A: App> Worker<D, A> {
    /// A worker over `dev`; `iface` must have been made with `dev.caps()`.
    pub fn new(dev: D, iface: Interface, app: A) -> Self {
        Worker { dev, iface, app, counters: WorkerCounters::default(), steer: None }
    }

    /// Turns steering on: a received frame whose owner under `rss` (its queue, see
    /// [`crate::steering`]) is not `port.me()` is copied to the owner instead of being
    /// processed here; frames steered to this worker are processed after each RX batch.
    pub fn with_steering(mut self, rss: Arc<Rss>, port: SteerPort) -> Self {
        self.steer = Some(Steer { rss, port });
        self
    }

    /// Steering counters (all zero without steering).
    pub fn steer_counters(&self) -> SteerCounters {
        self.steer.as_ref().map(|s| s.port.counters()).unwrap_or_default()
    }

    /// One iteration: RX batch, application, TX batch. Returns how many frames moved (so an
    /// idle loop can back off) and the next timer of the interface or the device (the caller
    /// must call again no later than that).
    pub fn run_once(&mut self, now: Instant) -> Step {
        self.counters.iterations += 1;
        let mut moved = 0;

        // 1. RX: the frames are lent until `rx` drops at the end of this block.
        {
            let rx = self.dev.rx_batch(now);
            for frame in rx.iter() {
                moved += 1;
                if let Some(steer) = &mut self.steer {
                    if is_arp_reply(frame) {
                        // Every worker has its own neighbour cache and may have asked.
                        self.counters.arp_shared += steer.port.broadcast(frame) as u64;
                    } else if let Some(owner) = steer.rss.frame_queue(frame) {
                        if usize::from(owner) != steer.port.me() {
                            // Not ours: a copy goes to the owner (or is dropped and counted).
                            self.counters.not_mine += 1;
                            steer.port.send(usize::from(owner), frame);
                            continue;
                        }
                    }
                }
                deliver(&mut self.iface, &mut self.counters, now, frame);
            }
            self.counters.rx_frames += rx.len() as u64;
        }
        // 1b. Frames other workers received for us.
        if let Some(steer) = &mut self.steer {
            let (iface, counters) = (&mut self.iface, &mut self.counters);
            let n = steer.port.receive(STEER_BUDGET, |frame| deliver(iface, counters, now, frame));
            counters.steered_in += n as u64;
            moved += n;
        }

        // 2. Application.
        self.app.poll(now, &mut self.iface);

        // 3. TX: one buffer at a time straight into the device; an unused buffer goes back.
        {
            let mut tx = self.dev.tx_batch(now);
            loop {
                let Some(mut buf) = tx.buffer() else {
                    if self.iface.tx_queued() > 0 {
                        self.counters.tx_no_buffer += 1;
                    }
                    break;
                };
                match self.iface.poll_transmit(now, &mut buf) {
                    Some(n) => buf.send(n),
                    None => break,
                }
            }
            moved += tx.sent();
            self.counters.tx_frames += tx.sent() as u64;
        }

        // 4. Timers: the interface's (ARP) and the device's own (a fault injector's delay line).
        let next_timer = match (self.iface.poll_timeout(), self.dev.poll_at()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Step { moved, next_timer }
    }

    /// Runs until `shutdown` receives a message or is disconnected, or SIGINT/SIGTERM is
    /// flagged. Time is a monotonic clock read once per iteration; an idle iteration sleeps
    /// `idle_sleep` (zero: busy-poll, what a dedicated core does).
    pub fn run(&mut self, shutdown: &Receiver<()>, idle_sleep: std::time::Duration) {
        let epoch = std::time::Instant::now();
        loop {
            match shutdown.try_recv() {
                Err(TryRecvError::Empty) => {}
                Ok(()) | Err(TryRecvError::Disconnected) => return,
            }
            if crate::signal::requested() {
                return;
            }
            let now = Instant::from_nanos(epoch.elapsed().as_nanos() as u64);
            let step = self.run_once(now);
            if step.moved == 0 && !idle_sleep.is_zero() {
                std::thread::sleep(idle_sleep);
            }
        }
    }

    /// The interface.
    pub fn iface(&self) -> &Interface {
        &self.iface
    }

    /// The interface, mutable (to bind sockets before running).
    pub fn iface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// The device.
    pub fn device(&self) -> &D {
        &self.dev
    }

    /// The device, mutable.
    pub fn device_mut(&mut self) -> &mut D {
        &mut self.dev
    }

    /// The application.
    pub fn app(&self) -> &A {
        &self.app
    }

    /// Loop counters.
    pub fn counters(&self) -> WorkerCounters {
        self.counters
    }

    /// Takes the worker apart.
    pub fn into_parts(self) -> (D, Interface, A) {
        (self.dev, self.iface, self.app)
    }
}

/// An Ethernet/IPv4 ARP reply (operation 2).
fn is_arp_reply(frame: &[u8]) -> bool {
    frame.get(12..14) == Some(&[0x08, 0x06]) && frame.get(20..22) == Some(&[0x00, 0x02])
}

/// Hands one frame to the interface and routes what comes back.
fn deliver(iface: &mut Interface, counters: &mut WorkerCounters, now: Instant, frame: &[u8]) {
    match iface.receive(now, frame) {
        Received::Tcp { .. } => {
            // TCP hook: the TCP stack (stack/src/tcp, in progress) takes the segment here,
            // borrowing `frame` for the duration of the call. Until then the segment is
            // counted and dropped, and the peer sees no answer (not even a RST).
            counters.tcp_unhandled += 1;
        }
        Received::IcmpError { .. } => {
            // Same hook, for ICMP errors about our TCP segments.
            counters.icmp_errors_unhandled += 1;
        }
        Received::Consumed | Received::Dropped(_) => {}
    }
}

/// What one [`Worker::run_once`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// Frames received plus frames sent.
    pub moved: usize,
    /// When the interface's next timer is due.
    pub next_timer: Option<Instant>,
}

/// Pins the calling thread to `core`; false if the core does not exist or pinning failed.
pub fn pin_to_core(core: usize) -> bool {
    core_affinity::get_core_ids()
        .and_then(|ids| ids.into_iter().find(|c| c.id == core))
        .is_some_and(core_affinity::set_for_current)
}

/// A worker thread and the way to stop it.
#[derive(Debug)]
pub struct WorkerHandle<T> {
    stop: Sender<()>,
    thread: JoinHandle<T>,
}

impl<T> WorkerHandle<T> {
    /// Asks the worker to stop without waiting (stop several, then join each).
    pub fn request_stop(&self) {
        let _ = self.stop.try_send(());
    }

    /// Asks the worker to stop and waits for it; returns what the thread returned (or the
    /// panic payload, if it panicked).
    pub fn stop(self) -> std::thread::Result<T> {
        let _ = self.stop.try_send(());
        self.thread.join()
    }

    /// Whether the thread has finished (e.g. failed at setup).
    pub fn is_finished(&self) -> bool {
        self.thread.is_finished()
    }
}

/// Spawns a thread (pinned to `core` if given) that runs `body` with the shutdown receiver.
/// The worker is built inside the thread, since a device (and the network namespace it was
/// opened in) belongs to the thread that made it.
pub fn spawn<T, F>(name: &str, core: Option<usize>, body: F) -> std::io::Result<WorkerHandle<T>>
where
    T: Send + 'static,
    F: FnOnce(Receiver<()>) -> T + Send + 'static,
{
    let (stop, shutdown) = crossbeam_channel::bounded(1);
    let thread = std::thread::Builder::new().name(name.to_string()).spawn(move || {
        if let Some(core) = core {
            pin_to_core(core);
        }
        body(shutdown)
    })?;
    Ok(WorkerHandle { stop, thread })
}

/// The address helper of tests and examples: an interface config for a device.
pub fn interface_for(dev: &impl Device, mac: [u8; 6], addr: Ipv4Addr, prefix_len: u8) -> Interface {
    let config = xdptcp_stack::iface::InterfaceConfig::new(
        xdptcp_stack::wire::ethernet::EthernetAddress(mac),
        addr,
        prefix_len,
    );
    Interface::new(config, dev.caps())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{LoopbackEnd, LoopbackPair};
    use xdptcp_stack::wire::ipv4::IpProtocol;

    const A: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 2);
    const B: Ipv4Addr = Ipv4Addr::new(198, 18, 0, 1);

    /// A peer driven by hand: an interface on the other end of the wire.
    struct Peer {
        dev: LoopbackEnd,
        iface: Interface,
    }

    impl Peer {
        fn pump(&mut self, now: Instant) {
            {
                let rx = self.dev.rx_batch(now);
                for f in rx.iter() {
                    self.iface.receive(now, f);
                }
            }
            let mut tx = self.dev.tx_batch(now);
            while let Some(mut buf) = tx.buffer() {
                match self.iface.poll_transmit(now, &mut buf) {
                    Some(n) => buf.send(n),
                    None => break,
                }
            }
        }
    }

    fn setup() -> (Worker<LoopbackEnd, UdpEcho>, Peer) {
        let (a, b) = LoopbackPair::default().build();
        let mut iface = interface_for(&a, [2, 0, 0, 0, 0, 2], A, 24);
        let echo = UdpEcho::bind(&mut iface, 7).expect("port 7 free");
        let worker = Worker::new(a, iface, echo);
        let peer_iface = interface_for(&b, [2, 0, 0, 0, 0, 1], B, 24);
        (worker, Peer { dev: b, iface: peer_iface })
    }

    #[test]
    fn udp_echo_resolves_arp_and_echoes_bytes() {
        let (mut w, mut p) = setup();
        let sock = p.iface.udp_bind(40000).expect("free port");
        let now = Instant::from_millis(1);
        p.iface.udp_send_to(now, sock, (A, 7), b"hello xdptcp").expect("queued for ARP");
        // peer: ARP request -> worker: ARP reply -> peer: datagram -> worker: echo.
        for _ in 0..4 {
            p.pump(now);
            w.run_once(now);
        }
        p.pump(now);
        let (from, payload) = p.iface.udp_recv_from(sock).expect("echo arrived");
        assert_eq!(from, (A, 7));
        assert_eq!(payload, b"hello xdptcp");
        assert_eq!(w.app().echoed(), 1);
        assert_eq!(w.iface().counters().arp_replies_sent, 1);
        let c = w.counters();
        assert_eq!(c.rx_frames, 2, "ARP request and datagram");
        assert_eq!(c.tx_frames, 2, "ARP reply and echo (the worker already knew the peer's MAC)");
        assert_eq!(w.device().free_frames(), 256, "every buffer came home");
    }

    #[test]
    fn tcp_segments_reach_the_hook_and_are_counted() {
        let (mut w, mut p) = setup();
        let now = Instant::from_millis(1);
        // Resolve ARP first with a UDP datagram to a closed port (answered by ICMP).
        let sock = p.iface.udp_bind(40001).expect("free port");
        p.iface.udp_send_to(now, sock, (A, 9), b"x").expect("queued");
        for _ in 0..3 {
            p.pump(now);
            w.run_once(now);
        }
        let mut frame = [0u8; 1514];
        let sent = p.iface.send_ip(now, &mut frame, A, IpProtocol::Tcp, 0, |l4, _| {
            l4[..20].fill(0);
            l4[12] = 5 << 4; // data offset 5 words
            20
        });
        let Ok(xdptcp_stack::iface::IpSend::Ready(n)) = sent else {
            panic!("peer has A's MAC by now: {sent:?}")
        };
        {
            let mut tx = p.dev.tx_batch(now);
            let mut buf = tx.buffer().expect("free buffer");
            buf[..n].copy_from_slice(&frame[..n]);
            buf.send(n);
        }
        w.run_once(now);
        assert_eq!(w.counters().tcp_unhandled, 1);
        assert_eq!(w.iface().counters().rx_tcp, 1);
    }

    #[test]
    fn stacked_devices_delay_in_virtual_time_and_capture() {
        use crate::fault::{FaultConfig, FaultDevice, Impairments};
        use crate::pcap::PcapDevice;
        use xdptcp_stack::time::Duration;

        let (a, b) = LoopbackPair::default().build();
        let delay = Duration::from_millis(5);
        let cfg =
            FaultConfig { rx: Impairments { delay, ..Impairments::NONE }, ..Default::default() };
        let dev = PcapDevice::new(FaultDevice::new(a, cfg), Vec::new()).expect("vec writer");
        let mut iface = interface_for(&dev, [2, 0, 0, 0, 0, 2], A, 24);
        let echo = UdpEcho::bind(&mut iface, 7).expect("port 7 free");
        let mut w = Worker::new(dev, iface, echo);
        let mut p = Peer { iface: interface_for(&b, [2, 0, 0, 0, 0, 1], B, 24), dev: b };
        let sock = p.iface.udp_bind(40002).expect("free port");
        let t0 = Instant::from_millis(100);
        p.iface.udp_send_to(t0, sock, (A, 7), b"late").expect("queued for ARP");
        p.pump(t0);
        // The ARP request is held 5 ms by the fault layer: nothing moves, and the worker says
        // when to come back.
        let step = w.run_once(t0);
        assert_eq!(step.moved, 0);
        assert_eq!(step.next_timer, Some(t0 + delay));
        let mut now = t0;
        for _ in 0..10 {
            now += delay;
            w.run_once(now);
            p.pump(now);
        }
        let (_, payload) = p.iface.udp_recv_from(sock).expect("echo arrived");
        assert_eq!(payload, b"late");
        // ARP request, datagram in; ARP reply, echo out: four frames captured.
        assert_eq!(w.device().records(), 4);
        assert_eq!(w.device().inner().rx_stats().released, 2);
    }

    #[test]
    fn shutdown_channel_stops_a_spawned_worker() {
        let (started_tx, started) = crossbeam_channel::bounded(1);
        let handle = spawn("test-worker", None, move |shutdown| {
            let (mut w, _p) = setup();
            w.run_once(Instant::ZERO);
            started_tx.send(()).expect("test waits for this");
            w.run(&shutdown, std::time::Duration::from_millis(1));
            w.counters().iterations
        })
        .expect("thread spawns");
        started.recv().expect("worker started");
        let iterations = handle.stop().expect("worker did not panic");
        assert!(iterations >= 1);
    }

    /// A TCP segment (SYN) from `src` to `dst` as an Ethernet frame, checksums filled in.
    fn tcp_frame(mac_dst: [u8; 6], src: (Ipv4Addr, u16), dst: (Ipv4Addr, u16)) -> Vec<u8> {
        use xdptcp_stack::wire::checksum::{checksum, combine, finish, pseudo_header_v4, sum};
        let mut f = vec![0u8; 14 + 20 + 20];
        f[0..6].copy_from_slice(&mac_dst);
        f[6..12].copy_from_slice(&[2, 0, 0, 0, 0, 1]);
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut f[14..34];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        ip[12..16].copy_from_slice(&src.0.octets());
        ip[16..20].copy_from_slice(&dst.0.octets());
        let c = checksum(ip);
        ip[10..12].copy_from_slice(&c.to_be_bytes());
        let tcp = &mut f[34..54];
        tcp[0..2].copy_from_slice(&src.1.to_be_bytes());
        tcp[2..4].copy_from_slice(&dst.1.to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02; // SYN
        tcp[14..16].copy_from_slice(&1024u16.to_be_bytes());
        let c = finish(combine(&[pseudo_header_v4(src.0, dst.0, 6, 20), sum(tcp)]));
        tcp[16..18].copy_from_slice(&c.to_be_bytes());
        f
    }

    /// Puts raw frames on the wire towards the worker.
    fn inject(peer: &mut LoopbackEnd, frames: &[Vec<u8>]) {
        let mut tx = peer.tx_batch(Instant::ZERO);
        for f in frames {
            let mut buf = tx.buffer().expect("free buffer");
            buf[..f.len()].copy_from_slice(f);
            buf.send(f.len());
        }
    }

    const MAC_A: [u8; 6] = [2, 0, 0, 0, 0, 2];

    fn steered_worker(
        rss: &Arc<Rss>,
        port: SteerPort,
    ) -> (Worker<LoopbackEnd, UdpEcho>, LoopbackEnd) {
        let (a, b) = LoopbackPair::default().build();
        let mut iface = interface_for(&a, MAC_A, A, 24);
        let echo = UdpEcho::bind(&mut iface, 7).expect("port 7 free");
        (Worker::new(a, iface, echo).with_steering(rss.clone(), port), b)
    }

    #[test]
    fn frames_of_another_queue_are_steered_to_their_owner() {
        use crate::steering::{Steering, SteeringConfig};
        let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
        let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
        let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
        let (mut w0, mut p0) = steered_worker(&rss, ports.pop().expect("two ports"));
        // 40 connections from different source ports, all arriving on worker 0's queue.
        let frames: Vec<Vec<u8>> =
            (0..40u16).map(|i| tcp_frame(MAC_A, (B, 40000 + i), (A, 80))).collect();
        let owned_by_1 = frames.iter().filter(|f| rss.frame_queue(f) == Some(1)).count() as u64;
        assert!(owned_by_1 > 0 && owned_by_1 < 40, "the hash spreads 40 ports: {owned_by_1}");
        inject(&mut p0, &frames);
        let now = Instant::from_millis(1);
        w0.run_once(now);
        w1.run_once(now);
        assert_eq!(w0.counters().rx_frames, 40);
        assert_eq!(w0.counters().tcp_unhandled, 40 - owned_by_1, "its own flows stay");
        assert_eq!(w0.counters().not_mine, owned_by_1);
        assert_eq!(w0.steer_counters().steered_out, owned_by_1);
        assert_eq!(w1.counters().rx_frames, 0, "nothing on worker 1's own queue");
        assert_eq!(w1.counters().steered_in, owned_by_1);
        assert_eq!(w1.counters().tcp_unhandled, owned_by_1, "the owner's TCP hook saw them");
        assert_eq!(w1.iface().counters().rx_tcp, owned_by_1);
        assert_eq!(w0.device().free_frames(), 256, "RX buffers went home after the copy");
    }

    #[test]
    fn frames_without_a_hashed_tuple_stay_where_they_arrived() {
        use crate::steering::{Steering, SteeringConfig};
        let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
        let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
        let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
        let (mut w0, b) = steered_worker(&rss, ports.pop().expect("two ports"));
        // A real peer: ARP, then UDP echo from many source ports (UDP is not hashed by
        // default, as on most NICs).
        let mut p = Peer { iface: interface_for(&b, [2, 0, 0, 0, 0, 1], B, 24), dev: b };
        let socks: Vec<_> =
            (0..8u16).map(|i| p.iface.udp_bind(41000 + i).expect("free port")).collect();
        let now = Instant::from_millis(1);
        p.iface.udp_send_to(now, socks[0], (A, 7), b"stay").expect("queued for ARP");
        for _ in 0..3 {
            p.pump(now);
            w0.run_once(now);
        }
        for &s in &socks[1..] {
            p.iface.udp_send_to(now, s, (A, 7), b"stay").expect("queued");
        }
        for _ in 0..3 {
            p.pump(now);
            w0.run_once(now);
            w1.run_once(now);
        }
        p.pump(now);
        for &s in &socks {
            assert_eq!(p.iface.udp_recv_from(s).expect("echo").1, b"stay");
        }
        assert_eq!(w0.app().echoed(), 8);
        assert_eq!(w0.counters().not_mine, 0);
        assert_eq!(w1.counters().steered_in, 0);
    }

    #[test]
    fn two_pinned_workers_exchange_steered_frames() {
        use crate::steering::{Steering, SteeringConfig};
        let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
        let ports = Steering::new(2, SteeringConfig::default()).into_ports();
        let cores = core_affinity::get_core_ids().map(|c| c.len()).unwrap_or(1);
        let mut peers = Vec::new();
        let mut handles = Vec::new();
        let (ready_tx, ready) = crossbeam_channel::bounded(2);
        let both_stopped = Arc::new(std::sync::Barrier::new(2));
        for (i, port) in ports.into_iter().enumerate() {
            let (a, b) = LoopbackPair::default().build();
            peers.push(b);
            let rss = rss.clone();
            let ready_tx = ready_tx.clone();
            let both_stopped = both_stopped.clone();
            let handle = spawn(&format!("steer-{i}"), Some(i % cores), move |shutdown| {
                let mut iface = interface_for(&a, MAC_A, A, 24);
                let echo = UdpEcho::bind(&mut iface, 7).expect("port 7 free");
                let mut w = Worker::new(a, iface, echo).with_steering(rss, port);
                ready_tx.send(()).expect("test waits");
                w.run(&shutdown, std::time::Duration::from_micros(100));
                // Once neither worker can steer any more, take what is still in the lanes.
                both_stopped.wait();
                w.run_once(Instant::ZERO);
                (w.counters(), w.steer_counters())
            })
            .expect("thread spawns");
            handles.push(handle);
        }
        ready.recv().expect("worker 0 up");
        ready.recv().expect("worker 1 up");
        // 64 flows in on each worker's queue; each flow's owner is fixed by the hash.
        let mut owned = [0u64; 2];
        for (q, peer) in peers.iter_mut().enumerate() {
            let frames: Vec<Vec<u8>> = (0..64u16)
                .map(|i| tcp_frame(MAC_A, (B, 30000 + 100 * q as u16 + i), (A, 443)))
                .collect();
            for f in &frames {
                owned[usize::from(rss.frame_queue(f).expect("TCP is hashed"))] += 1;
            }
            inject(peer, &frames);
        }
        // Wait (bounded) until both workers have seen everything, then stop them.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while peers.iter().any(|p| p.in_flight_from_me() > 0)
            && std::time::Instant::now() < deadline
        {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        for h in &handles {
            h.request_stop();
        }
        let results: Vec<_> =
            handles.into_iter().map(|h| h.stop().expect("worker did not panic")).collect();
        let total_in: u64 = results.iter().map(|(w, _)| w.tcp_unhandled).sum();
        assert_eq!(total_in, 128, "every segment reached exactly one TCP hook");
        for (q, (w, s)) in results.iter().enumerate() {
            assert_eq!(w.tcp_unhandled, owned[q], "worker {q} handled exactly its flows");
            assert_eq!(w.rx_frames, 64);
            assert_eq!(s.steered_out, w.not_mine);
            assert_eq!(s.dropped_full + s.dropped_too_big + s.dropped_no_owner, 0);
        }
        assert_eq!(results[0].1.steered_out, results[1].1.steered_in);
        assert_eq!(results[1].1.steered_out, results[0].1.steered_in);
        assert!(results[0].1.steered_out > 0 && results[1].1.steered_out > 0);
    }

    #[test]
    fn arp_replies_reach_every_workers_neighbour_cache() {
        use crate::steering::{Steering, SteeringConfig};
        let rss = Arc::new(Rss::microsoft(2).expect("two queues"));
        let mut ports = Steering::new(2, SteeringConfig::default()).into_ports();
        let (mut w1, _p1) = steered_worker(&rss, ports.pop().expect("two ports"));
        let (mut w0, mut p0) = steered_worker(&rss, ports.pop().expect("two ports"));
        let peer_mac = [2, 0, 0, 0, 0, 1];
        // An ARP reply B -> A (as if answering a request worker 1 sent), on worker 0's queue.
        let mut f = vec![0u8; 42];
        f[0..6].copy_from_slice(&MAC_A);
        f[6..12].copy_from_slice(&peer_mac);
        f[12..14].copy_from_slice(&[0x08, 0x06]);
        f[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 2]);
        f[22..28].copy_from_slice(&peer_mac);
        f[28..32].copy_from_slice(&B.octets());
        f[32..38].copy_from_slice(&MAC_A);
        f[38..42].copy_from_slice(&A.octets());
        inject(&mut p0, &[f]);
        let now = Instant::from_millis(1);
        w0.run_once(now);
        w1.run_once(now);
        assert_eq!(w0.counters().arp_shared, 1);
        assert_eq!(w1.counters().steered_in, 1);
        assert_eq!(w0.iface().counters().arp_learned, 1, "processed where it arrived");
        assert_eq!(w1.iface().counters().arp_learned, 1, "and by the other worker");
        // An ARP request is answered once, by the worker that received it: not shared.
        let mut req = [0u8; 42];
        req[0..6].fill(0xff);
        req[6..12].copy_from_slice(&peer_mac);
        req[12..14].copy_from_slice(&[0x08, 0x06]);
        req[14..22].copy_from_slice(&[0, 1, 0x08, 0x00, 6, 4, 0, 1]);
        req[22..28].copy_from_slice(&peer_mac);
        req[28..32].copy_from_slice(&B.octets());
        req[38..42].copy_from_slice(&A.octets());
        inject(&mut p0, &[req.to_vec()]);
        w0.run_once(now);
        w1.run_once(now);
        assert_eq!(w0.counters().arp_shared, 1);
        assert_eq!(w0.iface().counters().arp_replies_sent, 1);
        assert_eq!(w1.iface().counters().arp_replies_sent, 0);
    }
}
