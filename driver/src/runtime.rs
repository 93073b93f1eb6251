//! One pinned [`Worker`] per RX queue, each with its own AF_XDP socket and its own
//! [`Stack`](xdptcp_stack::stack::Stack), sharing one XDP program; controlled over crossbeam channels.
//!
//! # Start
//!
//! [`Runtime::start`] spawns worker 0, which (inside its thread, after entering the configured
//! network namespace) attaches the XDP program and opens queue `queues[0]`; the program's
//! guard is then handed to each further worker, which opens its own queue with
//! [`XdpDevice::open_on`]. Every worker builds its interface and application, starts its
//! socket (inserts it into the XSKMAP) and reports ready; `start` returns once all have, or
//! with the first setup error (the workers already running are stopped, and the program is
//! detached when the last device drops — always in a thread of the right namespace).
//!
//! # Control
//!
//! Each worker polls its control channel once per iteration: [`Control::Stats`] is answered
//! with a [`WorkerStats`] snapshot; [`Control::Shutdown`] (or the channel disconnecting, or
//! SIGINT/SIGTERM flagged by [`crate::signal`]) ends the loop, after which the worker drains
//! what its interface still has queued (bounded iterations) and returns its final stats.
//!
//! # Steering
//!
//! With more than one worker and `rss` set, each worker computes the owner of every TCP frame
//! and hands frames of other workers' flows over [`crate::steering`] lanes.
//!
//! # One launch path
//!
//! Every worker, whether one of a [`Runtime`]'s threads or the single worker a command runs
//! on its own thread (`xdptcp serve|xfer|load|proxy --stack xdptcp`), is brought up, run and
//! stopped by [`launch`]: scheduling, namespace, the AF_XDP device under the fault device and
//! the capture the configuration asks for, the stack, the application's `start` before the
//! socket diverts traffic, the loop, the graceful drain. What differs is only who watches it,
//! a [`WorkerEvents`]: the runtime's threads answer their control channel; a command prints
//! its ready line and counters.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use xdptcp_stack::iface::IfaceCounters;
use xdptcp_stack::stack::{Stack, StackConfig, StackCounters};
use xdptcp_stack::tcp::{MemoryCounters, TcpConfig, TcpCounters};

use crate::fault::FaultConfig;
use crate::rss::Rss;
use crate::sched::ThreadSched;
use crate::setup::{self, pin_to_core, Addressing};
use crate::steering::{SteerCounters, SteerPort, Steering, SteeringConfig};
use crate::worker::{self, App, CopyCounters, Stop, Worker, WorkerCounters};
use crate::xdp::{
    BindMode, NetIf, TxChecksum, XdpBacked, XdpConfig, XdpDevice, XdpMode, XdpProgram, XdpStats,
};

/// What a [`Runtime`] runs.
#[derive(Debug, Clone)]
pub struct RuntimeConfig {
    /// Network namespace every worker thread enters first (`None`: stay in the process's).
    pub netns: Option<String>,
    /// The device template: interface, the stack's address, modes, sizes. `queue` is set per
    /// worker from `queues`.
    pub xdp: XdpConfig,
    /// Prefix length of the stack's address.
    pub prefix_len: u8,
    /// Default gateway for off-link destinations.
    pub gateway: Option<Ipv4Addr>,
    /// RX queues to serve, one worker each.
    pub queues: Vec<u32>,
    /// Core of each worker (same length as `queues`); empty: see [`default_cores`].
    pub cores: Vec<usize>,
    /// Flow ownership across workers; `None` disables steering.
    pub rss: Option<Arc<Rss>>,
    /// Steering lane sizes.
    pub steering: SteeringConfig,
    /// What a worker does after an iteration that moved no frame.
    pub idle: worker::IdlePolicy,
    /// How each worker thread asks the scheduler for its core ([`ThreadSched`]).
    pub sched: ThreadSched,
    /// Capture every frame to this file (one per queue when there are several:
    /// `NAME.qN.EXT`).
    pub pcap: Option<PathBuf>,
    /// Impairments in every worker's device (each worker's own seeded generator: the seed
    /// plus the worker's index).
    pub fault: Option<FaultConfig>,
    /// TCP defaults of every worker's stack (buffer sizes, ...); the MSS is not taken from
    /// here but from the link MTU ([`setup::link_mss`]).
    pub tcp: TcpConfig,
    /// Any other change to each worker's stack settings (SYN cookies, ephemeral ports, ...),
    /// applied last.
    pub stack: Option<StackChange>,
    /// Most connections each worker's stack holds.
    pub max_connections: usize,
    /// How long a stopping worker waits for its application to close connections.
    pub grace: Duration,
}

impl RuntimeConfig {
    /// `queues` workers on queues 0..queues of `xdp.iface`, cores by [`default_cores`],
    /// steering with the Microsoft key when there is more than one queue.
    pub fn new(xdp: XdpConfig, prefix_len: u8, queues: u32) -> RuntimeConfig {
        let rss = (queues > 1).then(|| {
            Arc::new(Rss::microsoft(queues as u16).unwrap_or_else(|_| unreachable!("queues > 1")))
        });
        RuntimeConfig {
            netns: None,
            steering: SteeringConfig { buffer_size: xdp.frame_size as usize, ..Default::default() },
            xdp,
            prefix_len,
            gateway: None,
            queues: (0..queues).collect(),
            cores: Vec::new(),
            rss,
            idle: worker::IdlePolicy::SpinThenWait { spin: Duration::from_micros(50) },
            sched: ThreadSched::Inherit,
            pcap: None,
            fault: None,
            tcp: TcpConfig::default(),
            stack: None,
            max_connections: 65536,
            grace: worker::DEFAULT_GRACE,
        }
    }
}

/// The largest Ethernet frame of the configured interface (MTU + 14), looked up in the
/// workers' namespace on a short-lived thread (entering a namespace moves only the calling
/// thread); `None` when it cannot be found, and opening the device will say why.
fn link_frame_len(config: &RuntimeConfig) -> Option<usize> {
    let (netns, iface) = (config.netns.clone(), config.xdp.iface.clone());
    std::thread::spawn(move || {
        if let Some(ns) = netns {
            crate::netns::enter(&ns).ok()?;
        }
        NetIf::lookup(&iface).ok().map(|i| i.mtu + 14)
    })
    .join()
    .ok()
    .flatten()
}

/// A change to a stack's settings, applied when each worker makes its stack.
#[derive(Clone)]
pub struct StackChange(pub Arc<dyn Fn(&mut StackConfig) + Send + Sync>);

impl std::fmt::Debug for StackChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("StackChange(..)")
    }
}

/// The cores this process may run on (its affinity mask), in order.
pub fn available_cores() -> Vec<usize> {
    core_affinity::get_core_ids()
        .map(|ids| ids.into_iter().map(|c| c.id).collect())
        .unwrap_or_default()
}

/// Cores `0..n` modulo the cores this process may run on.
pub fn default_cores(n: usize) -> Vec<usize> {
    let available = available_cores();
    if available.is_empty() {
        return vec![0; n];
    }
    (0..n).map(|i| available[i % available.len()]).collect()
}

/// A request to one worker.
#[derive(Debug)]
pub enum Control {
    /// Reply with a snapshot of the counters.
    Stats(Sender<WorkerStats>),
    /// Stop after draining what is queued.
    Shutdown,
}

/// One worker's counters.
#[derive(Debug, Clone)]
pub struct WorkerStats {
    /// Worker index.
    pub worker: usize,
    /// Its RX/TX queue.
    pub queue: u32,
    /// The core it was pinned to (`None` if pinning failed).
    pub core: Option<usize>,
    /// The loop's counters.
    pub worker_counters: WorkerCounters,
    /// Steering.
    pub steer: SteerCounters,
    /// The AF_XDP rings.
    pub device: XdpStats,
    /// The interface (ARP, ICMP, UDP, drops).
    pub iface: IfaceCounters,
    /// The stack's own counters.
    pub stack: StackCounters,
    /// TCP counters (nstat-style).
    pub tcp: TcpCounters,
    /// Chunk memory and the budget's refusals.
    pub memory: MemoryCounters,
    /// Payload copies per direction.
    pub copies: CopyCounters,
    /// Connections the stack holds.
    pub connections: usize,
    /// The application's (name, value) pairs.
    pub app: Vec<(&'static str, u64)>,
}

impl WorkerStats {
    /// One line: `q0 core 0: rx 12 tx 10 steered-in 0 steered-out 3 steer-drops 0 ...`.
    pub fn line(&self) -> String {
        let w = &self.worker_counters;
        let s = &self.steer;
        let mut line = format!(
            "q{} core {}: rx {} tx {} not-mine {} arp-shared {} steered-out {} steered-in {} steer-drops {} tx-no-buffer {} conns {} tcp-active-opens {} tcp-passive-opens {} tcp-in-segs {} tcp-out-segs {} tcp-retrans {} copies-rx {}+{} copies-tx {}+{}",
            self.queue,
            self.core.map_or_else(|| "-".to_string(), |c| c.to_string()),
            w.rx_frames,
            w.tx_frames,
            w.not_mine,
            w.arp_shared,
            s.steered_out,
            s.steered_in,
            s.dropped_full + s.dropped_too_big + s.dropped_no_owner,
            w.tx_no_buffer,
            self.connections,
            self.tcp.active_opens,
            self.tcp.passive_opens,
            self.tcp.in_segs,
            self.tcp.out_segs,
            self.tcp.retrans_segs,
            self.copies.rx_frame_to_ring,
            self.copies.rx_ring_to_app,
            self.copies.tx_app_to_ring,
            self.copies.tx_ring_to_frame,
        );
        let m = &self.memory;
        line.push_str(&format!(
            " chunks {} chunks-peak {} pieces {} mem-pressure {} rcv-mem-drops {} snd-mem-refused {} win-clamped {}",
            m.chunks_in_use,
            m.chunks_peak,
            m.pieces_in_use,
            m.pressure_entered,
            m.rcv_dropped,
            m.snd_refused,
            m.window_clamped,
        ));
        for (k, v) in &self.app {
            line.push_str(&format!(" {} {v}", k.replace('_', "-")));
        }
        for (k, v) in self.iface.iter().filter(|(_, v)| *v != 0) {
            line.push_str(&format!(" {} {v}", k.replace('_', "-")));
        }
        line
    }
}

/// What the running workers got from the system.
#[derive(Debug, Clone)]
pub struct RuntimeInfo {
    /// Interface MTU.
    pub mtu: usize,
    /// Interface MAC.
    pub mac: [u8; 6],
    /// XDP attach mode in use.
    pub xdp_mode: XdpMode,
    /// Socket bind mode of worker 0 (all use the same interface, so the same mode).
    pub bind_mode: BindMode,
    /// Who completes TCP/UDP checksums on transmit, on worker 0.
    pub tx_checksum: TxChecksum,
    /// Queues served.
    pub queues: Vec<u32>,
    /// Cores, per worker.
    pub cores: Vec<usize>,
}

/// Something the application factory or a worker's setup refused, as one line.
pub type SetupError = String;

struct WorkerThread {
    control: Sender<Control>,
    thread: JoinHandle<Result<WorkerStats, SetupError>>,
}

/// Running workers. Dropping it stops them (like [`stop`](Runtime::stop), discarding stats).
pub struct Runtime {
    workers: Vec<WorkerThread>,
    info: RuntimeInfo,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("info", &self.info).finish_non_exhaustive()
    }
}

/// What a worker reports once set up: the program guard (from worker 0, for the others) and
/// its modes.
struct Ready {
    program: Arc<XdpProgram>,
    mtu: usize,
    mac: [u8; 6],
    bind_mode: BindMode,
    tx_checksum: TxChecksum,
}

impl Runtime {
    /// Starts one worker per queue; `make_app` builds each worker's application on its stack
    /// (e.g. binds a UDP port; a TCP application usually listens in its `start`). Returns once
    /// every worker is serving.
    pub fn start<A, F>(config: RuntimeConfig, make_app: F) -> Result<Runtime, SetupError>
    where
        A: App + 'static,
        F: Fn(&mut Stack) -> Result<A, SetupError> + Send + Sync + 'static,
    {
        Runtime::start_then(config, make_app, |_, _: &A| {})
    }

    /// [`start`](Runtime::start), and when a worker has stopped and drained, `on_done` gets
    /// its index and its application, in the worker's thread: how a command collects what
    /// each worker's application measured (a load generator's histograms, a transfer's
    /// outcome) without the application having to leave its thread.
    pub fn start_then<A, F, D>(
        config: RuntimeConfig,
        make_app: F,
        on_done: D,
    ) -> Result<Runtime, SetupError>
    where
        A: App + 'static,
        F: Fn(&mut Stack) -> Result<A, SetupError> + Send + Sync + 'static,
        D: Fn(usize, &A) + Send + Sync + 'static,
    {
        let n = config.queues.len();
        if n == 0 {
            return Err("no queues to serve".into());
        }
        let cores = if config.cores.is_empty() { default_cores(n) } else { config.cores.clone() };
        if cores.len() != n {
            return Err(format!(
                "{} cores given for {n} queues; give one core per queue",
                cores.len()
            ));
        }
        if let Some(rss) = &config.rss {
            if usize::from(rss.queues()) != n {
                return Err(format!(
                    "RSS spreads over {} queues but {n} workers run",
                    rss.queues()
                ));
            }
        }
        let mut ports: Vec<Option<SteerPort>> = match &config.rss {
            Some(_) if n > 1 => {
                // A steered frame is copied whole: lanes hold frames of the link's MTU (jumbo
                // ones included), never less than configured.
                let mut steering = config.steering;
                if let Some(len) = link_frame_len(&config) {
                    steering.buffer_size = steering.buffer_size.max(len);
                }
                Steering::new(n, steering).into_ports().into_iter().map(Some).collect()
            }
            _ => (0..n).map(|_| None).collect(),
        };
        let make_app = Arc::new(make_app);
        let on_done = Arc::new(on_done);
        let config = Arc::new(config);
        let mut runtime = Runtime {
            workers: Vec::with_capacity(n),
            info: RuntimeInfo {
                mtu: 0,
                mac: [0; 6],
                xdp_mode: XdpMode::Auto,
                bind_mode: BindMode::Auto,
                tx_checksum: TxChecksum::Auto,
                queues: config.queues.clone(),
                cores: cores.clone(),
            },
        };
        let mut program: Option<Arc<XdpProgram>> = None;
        for i in 0..n {
            let (control, control_rx) = crossbeam_channel::bounded(16);
            let (ready_tx, ready_rx) = crossbeam_channel::bounded::<Result<Ready, SetupError>>(1);
            let (config, make_app, on_done) = (config.clone(), make_app.clone(), on_done.clone());
            let port = ports[i].take();
            let program_for_worker = program.take();
            let core = cores[i];
            let thread = std::thread::Builder::new()
                .name(format!("xdptcp-q{}", config.queues[i]))
                .spawn(move || {
                    worker_main(
                        i,
                        core,
                        &config,
                        &*make_app,
                        &*on_done,
                        program_for_worker,
                        port,
                        &control_rx,
                        &ready_tx,
                    )
                })
                .map_err(|e| format!("spawning worker {i}: {e}"))?;
            runtime.workers.push(WorkerThread { control, thread });
            // A worker that fails sends Err; one that panics drops the sender.
            match ready_rx.recv() {
                Ok(Ok(ready)) => {
                    if i == 0 {
                        runtime.info.mtu = ready.mtu;
                        runtime.info.mac = ready.mac;
                        runtime.info.bind_mode = ready.bind_mode;
                        runtime.info.tx_checksum = ready.tx_checksum;
                        runtime.info.xdp_mode = ready.program.mode();
                    }
                    program = Some(ready.program);
                }
                Ok(Err(e)) => {
                    drop(runtime); // stops the workers already serving
                    return Err(e);
                }
                Err(_) => {
                    drop(runtime);
                    return Err(format!("worker {i} died during setup"));
                }
            }
        }
        // The last worker's guard came back with its Ready; dropping it here is harmless
        // because every worker's device holds a clone, so the program is detached when the
        // last device drops, inside a worker thread (in the right namespace).
        drop(program);
        Ok(runtime)
    }

    /// What the workers got (modes, queues, cores).
    pub fn info(&self) -> &RuntimeInfo {
        &self.info
    }

    /// A snapshot of every running worker's counters (workers that do not answer within
    /// `timeout` are left out).
    pub fn stats(&self, timeout: Duration) -> Vec<WorkerStats> {
        let mut out = Vec::with_capacity(self.workers.len());
        for w in &self.workers {
            let (tx, rx) = crossbeam_channel::bounded(1);
            if w.control.send(Control::Stats(tx)).is_ok() {
                if let Ok(s) = rx.recv_timeout(timeout) {
                    out.push(s);
                }
            }
        }
        out
    }

    /// Whether any worker has stopped on its own (a signal, or an error).
    pub fn any_finished(&self) -> bool {
        self.workers.iter().any(|w| w.thread.is_finished())
    }

    /// Whether every worker has stopped on its own (applications that finish, like a load
    /// run, end one by one).
    pub fn all_finished(&self) -> bool {
        self.workers.iter().all(|w| w.thread.is_finished())
    }

    /// Stops every worker (drain, then exit) and returns their final counters, in worker
    /// order; a worker that panicked is reported as an error line.
    pub fn stop(mut self) -> Vec<Result<WorkerStats, SetupError>> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Vec<Result<WorkerStats, SetupError>> {
        for w in &self.workers {
            let _ = w.control.send(Control::Shutdown);
        }
        self.workers
            .drain(..)
            .map(|w| match w.thread.join() {
                Ok(r) => r,
                Err(_) => Err("worker panicked".to_string()),
            })
            .collect()
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let _ = self.shutdown();
    }
}

/// The devices a worker may run: AF_XDP alone or under a capture.
/// `capture.pcap` → `capture.q1.pcap` when several queues are captured.
fn pcap_path(base: &Path, queue: u32, several: bool) -> PathBuf {
    if !several {
        return base.to_path_buf();
    }
    let stem = base.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
    let name = match base.extension() {
        Some(ext) => format!("{stem}.q{queue}.{}", ext.to_string_lossy()),
        None => format!("{stem}.q{queue}"),
    };
    base.with_file_name(name)
}

/// Who watches a worker that [`launch`] runs, and what it gets when the worker stops.
///
/// The methods are generic over the device because the fault device and the capture wrap the
/// AF_XDP device only when asked ([`wrapped`](crate::xdp::wrapped)).
pub trait WorkerEvents<A: App> {
    /// What the owner gets back.
    type Done;
    /// The worker serves: its application has started and its socket diverts traffic.
    fn ready<D: XdpBacked>(&mut self, worker: &Worker<D, A>);
    /// Between loop iterations: true ends the loop (as a requested stop).
    fn poll<D: XdpBacked>(&mut self, worker: &Worker<D, A>) -> bool;
    /// The loop ended (`stop` says why) and the worker drained (`drained`: every connection
    /// closed within the grace period).
    fn done<D: XdpBacked>(self, worker: Worker<D, A>, stop: Stop, drained: bool) -> Self::Done;
}

/// Where in a runtime one worker sits.
#[derive(Debug)]
pub struct WorkerSlot {
    /// Its index: which of `config.queues` it serves, its RSS queue number.
    pub index: usize,
    /// The core to pin it to (`None`: leave the thread where it is).
    pub core: Option<usize>,
    /// The XDP program another worker attached (`None`: attach it).
    pub program: Option<Arc<XdpProgram>>,
    /// Its steering lanes, with more than one worker.
    pub port: Option<SteerPort>,
}

/// Brings up the worker `slot` of `config` on the calling thread and runs it until `events`,
/// a signal or the application stop it: see the [module documentation](self). `make_app`
/// builds the application on the worker's stack. Errors before the worker serves are one
/// line; after that, whatever happens ends in [`WorkerEvents::done`].
pub fn launch<A: App, E: WorkerEvents<A>>(
    config: &RuntimeConfig,
    slot: WorkerSlot,
    make_app: impl FnOnce(&mut Stack) -> Result<A, SetupError>,
    events: E,
) -> Result<E::Done, SetupError> {
    let WorkerSlot { index, core, program, port } = slot;
    let queue = *config.queues.get(index).ok_or_else(|| format!("no queue for worker {index}"))?;
    config
        .sched
        .apply_to_current_thread()
        .map_err(|e| format!("worker {index}: scheduling {}: {e}", config.sched.name()))?;
    if let Some(ns) = &config.netns {
        crate::netns::enter(ns).map_err(|e| format!("entering network namespace {ns}: {e}"))?;
    }
    if let Some(core) = core {
        if !pin_to_core(core) {
            return Err(format!("cannot pin to core {core}: no such core (or not allowed)"));
        }
    }
    let netif = NetIf::lookup(&config.xdp.iface).map_err(|e| e.to_string())?;
    let xdp = XdpConfig { queue, ..config.xdp.clone() };
    let dev = match program {
        None => XdpDevice::open(&xdp),
        Some(p) => XdpDevice::open_on(&xdp, p),
    }
    .map_err(|e| e.to_string())?;
    let path = config.pcap.as_ref().map(|base| pcap_path(base, queue, config.queues.len() > 1));
    let fault = config.fault.map(|f| FaultConfig { seed: f.seed.wrapping_add(index as u64), ..f });
    let k = Serve { index, netif: &netif, config, make_app, port, events };
    crate::xdp::wrapped(dev, fault, path.as_deref(), k)?
}

/// The rest of [`launch`] once the device is wrapped as configured: [`serve`].
struct Serve<'a, M, E> {
    index: usize,
    netif: &'a NetIf,
    config: &'a RuntimeConfig,
    make_app: M,
    port: Option<SteerPort>,
    events: E,
}

impl<A, M, E> crate::xdp::WithDevice for Serve<'_, M, E>
where
    A: App,
    M: FnOnce(&mut Stack) -> Result<A, SetupError>,
    E: WorkerEvents<A>,
{
    type Output = Result<E::Done, SetupError>;

    fn with<D: XdpBacked>(self, dev: D) -> Self::Output {
        let s = self;
        serve(s.index, dev, s.netif, s.config, s.make_app, s.port, s.events)
    }
}

fn serve<D: XdpBacked, A: App, E: WorkerEvents<A>>(
    index: usize,
    dev: D,
    netif: &NetIf,
    config: &RuntimeConfig,
    make_app: impl FnOnce(&mut Stack) -> Result<A, SetupError>,
    port: Option<SteerPort>,
    mut events: E,
) -> Result<E::Done, SetupError> {
    // Keys from the OS, per worker: with RSS, a SYN cookie comes back to the worker that
    // sent it, so no key needs sharing.
    let addressing = Addressing {
        mac: netif.mac,
        addr: config.xdp.addr,
        prefix_len: config.prefix_len,
        gateway: config.gateway,
        ipv6: config.xdp.ipv6.clone(),
    };
    let mut sc = setup::os_stack_config(&dev, addressing)?;
    // Everything but the MSS, which comes from the link's MTU (`setup::stack_config`).
    sc.tcp = TcpConfig { mss: sc.tcp.mss, ..config.tcp };
    sc.max_connections = config.max_connections;
    if let Some(change) = &config.stack {
        (change.0)(&mut sc);
    }
    let mut stack = Stack::new(sc, xdptcp_stack::time::Instant::ZERO);
    if let Some(rss) = &config.rss {
        // Active opens take ports whose replies the NIC hashes back to this worker (the RSS
        // queue numbers are the worker indices), so they are never steered.
        stack.set_port_filter(rss.affinity_filter(index as u16));
        stack.set_port_filter6(rss.affinity_filter6(index as u16));
    }
    let app = make_app(&mut stack)?;
    let mut worker = Worker::new(dev, stack, app);
    if let (Some(port), Some(rss)) = (port, &config.rss) {
        worker = worker.with_steering(rss.clone(), port);
    }
    // The application listens and binds (its `start`, run by the first iteration) before the
    // socket lets any frame in.
    worker.start()?;
    worker.device().xdp().start().map_err(|e| e.to_string())?;
    events.ready(&worker);
    let mut stop = worker.run_idle(config.idle, |w| events.poll(w));
    if stop == Stop::Finished {
        // Several queues: this one still carries frames the other workers need.
        stop = worker.serve_until_all_finished(config.idle, |w| events.poll(w));
    }
    // Graceful stop: the application closes its connections, what is queued leaves
    // (bounded by the grace period; a peer that keeps sending does not keep us alive).
    let drained = worker.drain(config.grace);
    Ok(events.done(worker, stop, drained))
}

/// A runtime thread's side of [`launch`]: reports ready over `ready`, answers `control`,
/// returns its final stats.
struct ThreadEvents<'a, A> {
    index: usize,
    queue: u32,
    core: Option<usize>,
    control: &'a Receiver<Control>,
    ready: &'a Sender<Result<Ready, SetupError>>,
    on_done: &'a (dyn Fn(usize, &A) + Sync),
}

impl<A> ThreadEvents<'_, A> {
    fn snapshot<D: XdpBacked>(&self, w: &Worker<D, A>) -> WorkerStats
    where
        A: App,
    {
        let mut app = Vec::new();
        w.app().report(&mut |k, v| app.push((k, v)));
        WorkerStats {
            worker: self.index,
            queue: self.queue,
            core: self.core,
            worker_counters: w.counters(),
            steer: w.steer_counters(),
            device: w.device().xdp().stats(),
            iface: w.iface().counters().clone(),
            stack: *w.stack().counters(),
            tcp: w.stack().tcp_counters(),
            memory: w.stack().memory_counters(),
            copies: w.copies(),
            connections: w.stack().connection_count(),
            app,
        }
    }
}

impl<A: App> WorkerEvents<A> for ThreadEvents<'_, A> {
    type Done = WorkerStats;

    fn ready<D: XdpBacked>(&mut self, worker: &Worker<D, A>) {
        let xdp = worker.device().xdp();
        let _ = self.ready.send(Ok(Ready {
            program: xdp.program().clone(),
            mtu: worker.device().caps().mtu,
            mac: worker.iface().config().mac.0,
            bind_mode: xdp.bind_mode(),
            tx_checksum: xdp.tx_checksum(),
        }));
    }

    fn poll<D: XdpBacked>(&mut self, worker: &Worker<D, A>) -> bool {
        loop {
            match self.control.try_recv() {
                Ok(Control::Stats(reply)) => {
                    let _ = reply.send(self.snapshot(worker));
                }
                Ok(Control::Shutdown) | Err(TryRecvError::Disconnected) => return true,
                Err(TryRecvError::Empty) => return false,
            }
        }
    }

    fn done<D: XdpBacked>(self, worker: Worker<D, A>, _: Stop, _: bool) -> WorkerStats {
        (self.on_done)(self.index, worker.app());
        self.snapshot(&worker)
    }
}

/// A runtime thread: [`launch`] with [`ThreadEvents`]; a setup error also goes to `ready`.
#[allow(clippy::too_many_arguments)]
fn worker_main<A: App>(
    index: usize,
    core: usize,
    config: &RuntimeConfig,
    make_app: &dyn Fn(&mut Stack) -> Result<A, SetupError>,
    on_done: &(dyn Fn(usize, &A) + Sync),
    program: Option<Arc<XdpProgram>>,
    port: Option<SteerPort>,
    control: &Receiver<Control>,
    ready: &Sender<Result<Ready, SetupError>>,
) -> Result<WorkerStats, SetupError> {
    let queue = config.queues[index];
    let events = ThreadEvents { index, queue, core: Some(core), control, ready, on_done };
    let slot = WorkerSlot { index, core: Some(core), program, port };
    let result = launch(config, slot, make_app, events);
    if let Err(e) = &result {
        // Nobody listens any more if the worker had reported ready; that is fine.
        let _ = ready.send(Err(e.clone()));
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pcap_paths_per_queue() {
        assert_eq!(pcap_path(Path::new("/tmp/c.pcap"), 1, false), Path::new("/tmp/c.pcap"));
        assert_eq!(pcap_path(Path::new("/tmp/c.pcap"), 1, true), Path::new("/tmp/c.q1.pcap"));
        assert_eq!(pcap_path(Path::new("c"), 0, true), Path::new("c.q0"));
    }

    #[test]
    fn default_cores_wrap_around_the_available_ones() {
        let cores = default_cores(5);
        assert_eq!(cores.len(), 5);
        let n = core_affinity::get_core_ids().map_or(0, |c| c.len());
        if n > 0 {
            assert_eq!(cores[n % 5], cores[0]);
        }
    }

    #[test]
    fn bad_configs_are_refused_before_any_thread_starts() {
        let xdp = XdpConfig::new("nonexistent0", Ipv4Addr::new(198, 18, 0, 2));
        let mut c = RuntimeConfig::new(xdp.clone(), 24, 2);
        c.cores = vec![0];
        let e = Runtime::start(c, |_| Ok(crate::worker::NoApp)).unwrap_err();
        assert!(e.contains("1 cores given for 2 queues"), "{e}");
        let c = RuntimeConfig { queues: vec![], ..RuntimeConfig::new(xdp.clone(), 24, 1) };
        assert!(Runtime::start(c, |_| Ok(crate::worker::NoApp)).is_err());
        let e = Runtime::start(RuntimeConfig::new(xdp, 24, 1), |_| Ok(crate::worker::NoApp))
            .unwrap_err();
        assert!(e.contains("no network interface named \"nonexistent0\""), "{e}");
    }
}
