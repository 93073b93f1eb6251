//! [`XdpDevice`]: one AF_XDP socket on one queue, with its UMEM, as a batch [`Device`].
//!
//! # Frames and rings
//!
//! The UMEM is `frames` buffers of `frame_size` bytes each, or of several such chunks when
//! the MTU needs more than one (jumbo frames: [`multibuf`](super::multibuf)). Each buffer
//! is, per [`FramePool`],
//! free, lent to the caller (RX batch or TX buffer), or with the kernel (fill ring, RX ring,
//! TX ring, completion ring). The rings are driven in batches:
//!
//! - **Fill**: kept stocked up to `min(ring_size, frames / 2)` buffers, so the other half of
//!   the UMEM stays available for transmission and RX can never starve TX;
//! - **RX**: up to one batch consumed per [`Device::receive`]; the frames are lent to the
//!   caller and return to the free pool when the batch drops (then to the fill ring);
//! - **TX**: [`Device::transmit`] queues descriptors; [`Device::flush`] produces them in one
//!   ring update and kicks the kernel with `sendto` when the ring says it needs a wakeup;
//! - **Completion**: reclaimed into the free pool on every receive, flush and empty
//!   allocation.
//!
//! # need_wakeup
//!
//! Bound with `XDP_USE_NEED_WAKEUP`, the kernel only processes the TX ring after a syscall
//! and only refills from the fill ring after one when the ring's flag says so. We kick TX
//! (`sendto`) after producing when the TX flag is set, and poll the socket when the fill flag
//! is set and a receive came back empty — never a syscall per packet.
//!
//! # Two socket paths
//!
//! The rings come from xsk-rs ([`xskrs`](super::xskrs)) unless the TCP and UDP checksums are
//! offloaded through TX metadata or frames span several chunks (`XDP_USE_SG`), both of which
//! need a UMEM registered by us ([`raw`](super::raw)); [`XdpConfig::tx_checksum`] and the
//! MTU choose, and [`XdpDevice::tx_checksum`] says which checksum path was used. The
//! accounting here is the same for both.

use std::io;
use std::sync::Arc;

use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps};
use xdptcp_stack::time::Instant;

use super::busy_poll::{self, BusyPoll, BusyPollState};
use super::error::DriverError;
use super::multibuf::{FrameGeometry, RxEvent, MAX_MTU};
use super::netdev;
use super::netif::NetIf;
use super::program::{XdpMode, XdpProgram};
use super::raw::{RawError, RawOptions, RawRings};
use super::tx_checksum::TxChecksum;
use super::xskrs::XskRsRings;
use crate::device::{Device, FrameId, FrameList, DEFAULT_BATCH, MAX_BATCH};
use crate::pool::{FramePool, FrameState};

/// Headroom the kernel reserves in front of every received frame for the XDP program.
pub const XDP_PACKET_HEADROOM: usize = 256;

/// Attempts to bind a queue that is busy (see `open_with`), 20 ms apart.
const BUSY_RETRIES: usize = 25;

/// How the AF_XDP socket binds to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BindMode {
    /// The NIC DMAs straight into the UMEM (`XDP_ZEROCOPY`); needs driver support.
    ZeroCopy,
    /// The kernel copies frames between its buffers and the UMEM (`XDP_COPY`); works
    /// everywhere, including veth.
    Copy,
    /// Zero-copy if the driver can, else copy. [`XdpDevice::bind_mode`] says which.
    Auto,
}

impl BindMode {
    /// The name users type.
    pub fn name(self) -> &'static str {
        match self {
            BindMode::ZeroCopy => "zero-copy",
            BindMode::Copy => "copy",
            BindMode::Auto => "auto",
        }
    }
}

/// Configuration of one AF_XDP device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XdpConfig {
    /// Interface name.
    pub iface: String,
    /// RX/TX queue to bind.
    pub queue: u32,
    /// The stack's IPv4 address: the XDP program steers traffic for it to us.
    pub addr: std::net::Ipv4Addr,
    /// UMEM chunk size: 2048 or 4096. A frame of MTU + 14 + 256 bytes that does not fit one
    /// chunk spans several consecutive ones (multi-buffer, for MTUs up to 9216).
    pub frame_size: u32,
    /// UMEM frames. Default 4096 (8 MiB at 2048 bytes; 48 MiB for 9000-byte MTUs).
    pub frames: u32,
    /// Descriptors in each of the four rings (a power of two). Default 2048.
    pub ring_size: u32,
    /// Frames per RX/TX batch (at most [`MAX_BATCH`]). Default 64.
    pub batch: usize,
    /// Socket bind mode. Default auto.
    pub bind: BindMode,
    /// XDP attach mode. Default auto.
    pub xdp_mode: XdpMode,
    /// Preferred busy polling of the socket ([`busy_poll`](super::busy_poll)). Default off.
    pub busy_poll: Option<BusyPoll>,
    /// Who computes TCP/UDP checksums on transmit. Default auto.
    pub tx_checksum: TxChecksum,
    /// The stack's IPv6 addresses besides its link-local one (formed from the MAC). Empty
    /// (the default): no IPv6; otherwise the XDP program steers IPv6 for these and the
    /// link-local address, and Neighbor Discovery about them, to us.
    pub ipv6: Vec<xdptcp_stack::iface::Ipv6Cidr>,
}

impl XdpConfig {
    /// Defaults for `iface`, queue 0, serving `addr`.
    pub fn new(iface: &str, addr: std::net::Ipv4Addr) -> Self {
        XdpConfig {
            iface: iface.to_string(),
            queue: 0,
            addr,
            frame_size: 2048,
            frames: 4096,
            ring_size: 2048,
            batch: DEFAULT_BATCH,
            bind: BindMode::Auto,
            xdp_mode: XdpMode::Auto,
            busy_poll: None,
            tx_checksum: TxChecksum::Auto,
            ipv6: Vec::new(),
        }
    }
}

/// Lines of a received frame fetched ahead ([`XdpDevice::prefetch_frames`]): all of a short
/// segment's (a 64-byte request under the timestamps is 130 bytes, on three lines or four),
/// the headers of a long one, whose payload the checksum reads in order, as the hardware
/// prefetcher follows.
const RX_PREFETCH_LINES: usize = 4;

/// Counters of the device's ring work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct XdpStats {
    /// Frames taken from the RX ring.
    pub rx_frames: u64,
    /// Frames put on the TX ring.
    pub tx_frames: u64,
    /// TX completions reclaimed.
    pub tx_completed: u64,
    /// `sendto` kicks for the TX ring.
    pub tx_kicks: u64,
    /// `poll` wakeups for the fill ring.
    pub fill_wakeups: u64,
    /// Flushes that left descriptors queued because the TX ring was full.
    pub tx_ring_full: u64,
    /// Descriptors from the kernel that named no frame of ours (should stay 0).
    pub bad_descriptors: u64,
    /// `recvfrom` busy polls after empty receives (busy-poll mode only).
    pub busy_polls: u64,
    /// Frames sent with a checksum request in their TX metadata.
    pub tx_checksum_requests: u64,
    /// Packets that arrived over several UMEM chunks (a descriptor chain) and were gathered
    /// into one frame.
    pub rx_gathered: u64,
    /// Bytes copied to gather them (every chunk after a chain's first).
    pub rx_gathered_bytes: u64,
    /// Chains longer than a frame, dropped (only a peer ignoring the MTU sends them).
    pub rx_oversized: u64,
    /// Times an idle worker slept in `ppoll` on the socket ([`Device::wait`]).
    pub idle_waits: u64,
    /// Of those, the ones the kernel ended because the RX ring had frames (the others timed
    /// out at the worker's next timer).
    pub idle_wakeups: u64,
}

/// The socket path in use.
enum Rings {
    XskRs(XskRsRings),
    Raw(RawRings),
}

/// Runs `$e` on whichever socket path `$rings` is, bound to `$r`.
macro_rules! on_rings {
    ($rings:expr, $r:ident => $e:expr) => {
        match $rings {
            Rings::XskRs($r) => $e,
            Rings::Raw($r) => $e,
        }
    };
}

/// One AF_XDP socket bound to one queue. See the [module documentation](self).
pub struct XdpDevice {
    // Field order is drop order: the socket and UMEM go first, and the program (shared by
    // every queue's device) is detached last.
    rings: Rings,
    program: Arc<XdpProgram>,
    pool: FramePool,
    fill_target: usize,
    in_fill: usize,
    /// Frame indices for ring batches.
    scratch: Vec<u32>,
    tx_pending: Vec<u32>,
    caps: DeviceCaps,
    geometry: FrameGeometry,
    batch: usize,
    queue: u32,
    zero_copy: bool,
    tx_checksum: TxChecksum,
    busy_poll: bool,
    stats: XdpStats,
}

impl std::fmt::Debug for XdpDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpDevice")
            .field("iface", &self.program.iface())
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field("tx_checksum", &self.tx_checksum)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn invalid(why: String) -> DriverError {
    DriverError::InvalidConfig(why)
}

impl XdpDevice {
    /// Starts fetching the first lines of every frame of the batch, all at once, before the
    /// stack reads any. The kernel wrote them on the core that ran the sender's `sendto` (or
    /// the NIC's softirq), so each frame's first read is a miss to another core's cache:
    /// read in turn, by the look-ahead's key (the header's first line) and then by the
    /// checksum (the rest), the misses came one after the other. In the lab's rr64x64 the
    /// client's `look_up` and `receive` spent 76 ns a request on them, and 41 ns with this
    /// (docs/benchmarks.md, "Received frames prefetched together").
    fn prefetch_frames(&self, ids: &[FrameId]) {
        on_rings!(&self.rings, r => {
            for id in ids {
                let frame = r.frame(id.index());
                crate::prefetch::l2(frame.as_ptr(), frame.len().div_ceil(64).min(RX_PREFETCH_LINES));
            }
        });
    }

    /// Loads and attaches the XDP program to `config.iface`, then opens the socket on
    /// `config.queue`. The program is detached when the device (and every other device
    /// sharing it) is dropped.
    pub fn open(config: &XdpConfig) -> Result<XdpDevice, DriverError> {
        let iface = NetIf::lookup(&config.iface)?;
        let geometry = check(config, &iface)?;
        let program = Arc::new(XdpProgram::attach(&iface, config.addr, config.xdp_mode)?);
        if !config.ipv6.is_empty() {
            let link_local = xdptcp_stack::iface::link_local_from_mac(
                xdptcp_stack::wire::ethernet::EthernetAddress(iface.mac),
            );
            let steered: Vec<_> =
                std::iter::once(link_local).chain(config.ipv6.iter().map(|c| c.addr)).collect();
            program.set_ipv6_addresses(&steered)?;
        }
        XdpDevice::open_with(config, &iface, geometry, program)
    }

    /// Opens a socket on another queue of an interface whose program is already attached
    /// (one device per queue, one worker per device).
    pub fn open_on(config: &XdpConfig, program: Arc<XdpProgram>) -> Result<XdpDevice, DriverError> {
        let iface = NetIf::lookup(&config.iface)?;
        let geometry = check(config, &iface)?;
        XdpDevice::open_with(config, &iface, geometry, program)
    }

    fn open_with(
        config: &XdpConfig,
        iface: &NetIf,
        geometry: FrameGeometry,
        program: Arc<XdpProgram>,
    ) -> Result<XdpDevice, DriverError> {
        let tries: &[BindMode] = match config.bind {
            BindMode::Auto => &[BindMode::ZeroCopy, BindMode::Copy],
            BindMode::ZeroCopy => &[BindMode::ZeroCopy],
            BindMode::Copy => &[BindMode::Copy],
        };
        let mut last = None;
        // Whether the driver completes TX checksum requests in zero-copy mode: asked over
        // netlink once, not per bind attempt.
        let mut zc_checksum = None;
        for &mode in tries {
            // The kernel frees a closed socket's hold on its queue in deferred work, so a
            // socket reopened right after the previous one closed (a restart, a test) can see
            // EBUSY for a few milliseconds; retry that briefly.
            for _ in 0..BUSY_RETRIES {
                match bind(config, iface, geometry, mode, &mut zc_checksum) {
                    Ok(parts) => {
                        if let Some(bp) = config.busy_poll {
                            // Dropping `parts` on error closes the socket and frees the UMEM.
                            busy_poll::apply(on_rings!(&parts.rings, r => r.fd()), bp)?;
                        }
                        return Ok(XdpDevice::assemble(config, iface, geometry, program, parts));
                    }
                    Err(Failure::Driver(e)) => return Err(e),
                    Err(Failure::Os(e)) if e.raw_os_error() == Some(libc::EBUSY) => {
                        last = Some(e);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(Failure::Os(e)) => {
                        last = Some(e);
                        break;
                    }
                }
            }
        }
        let e = last.unwrap_or(io::Error::from_raw_os_error(libc::EINVAL));
        let errno = e.raw_os_error().unwrap_or(libc::EIO);
        Err(match errno {
            libc::EPERM | libc::EACCES => {
                DriverError::Permission { action: "creating the AF_XDP socket" }
            }
            libc::EOPNOTSUPP | libc::EPROTONOSUPPORT if config.bind == BindMode::ZeroCopy => {
                DriverError::ModeUnsupported {
                    iface: iface.name.clone(),
                    mode: "zero-copy",
                    detail: e.to_string(),
                }
            }
            libc::EBUSY => DriverError::InvalidConfig(format!(
                "queue {} of {} already has an AF_XDP socket bound",
                config.queue, iface.name
            )),
            _ => DriverError::from_errno("creating the AF_XDP socket", errno),
        })
    }

    fn assemble(
        config: &XdpConfig,
        iface: &NetIf,
        geometry: FrameGeometry,
        program: Arc<XdpProgram>,
        parts: Bound,
    ) -> XdpDevice {
        let Bound { rings, zero_copy, tx_checksum } = parts;
        let frames = config.frames as usize;
        let batch = config.batch.clamp(1, MAX_BATCH);
        let checksum = match tx_checksum {
            TxChecksum::Software => ChecksumCaps::NONE,
            _ => TxChecksum::offload_caps(),
        };
        let mut dev = XdpDevice {
            rings,
            program,
            pool: FramePool::new(frames as u32),
            fill_target: (config.ring_size as usize).min(frames / 2),
            in_fill: 0,
            scratch: vec![0; (config.ring_size as usize).max(batch)],
            // Every frame at most once: never grows on the hot path.
            tx_pending: Vec::with_capacity(frames),
            caps: DeviceCaps::ethernet(iface.mtu).with_checksum(checksum),
            geometry,
            batch,
            queue: config.queue,
            zero_copy,
            tx_checksum,
            busy_poll: config.busy_poll.is_some(),
            stats: XdpStats::default(),
        };
        dev.refill();
        dev
    }

    /// Steers the queue's traffic to this socket. Separate from opening so that a caller
    /// finishes setting up its stack before the first frame is diverted from the kernel.
    pub fn start(&self) -> Result<(), DriverError> {
        self.program.register_socket(self.queue, self.fd())
    }

    /// The bind mode in use: `ZeroCopy` or `Copy`, never `Auto`.
    pub fn bind_mode(&self) -> BindMode {
        if self.zero_copy {
            BindMode::ZeroCopy
        } else {
            BindMode::Copy
        }
    }

    /// The XDP program (shared with devices on other queues).
    pub fn program(&self) -> &Arc<XdpProgram> {
        &self.program
    }

    /// The socket's busy-poll options as the kernel reports them (`getsockopt`).
    pub fn busy_poll_state(&self) -> io::Result<BusyPollState> {
        busy_poll::read(self.fd())
    }

    /// Who completes TCP/UDP checksums: `Offload` (the device, through TX metadata),
    /// `Kernel` (TX metadata completed by the kernel in software) or `Software` (we do);
    /// never `Auto`.
    pub fn tx_checksum(&self) -> TxChecksum {
        self.tx_checksum
    }

    /// How UMEM chunks make up frames (several per frame: multi-buffer).
    pub fn geometry(&self) -> FrameGeometry {
        self.geometry
    }

    /// Ring counters.
    pub fn stats(&self) -> XdpStats {
        let (tx_checksum_requests, gather) = match &self.rings {
            Rings::Raw(r) => (r.checksum_requests(), r.gather_stats()),
            Rings::XskRs(_) => (0, Default::default()),
        };
        XdpStats {
            tx_checksum_requests,
            rx_gathered: gather.packets,
            rx_gathered_bytes: gather.bytes,
            rx_oversized: gather.oversized,
            ..self.stats
        }
    }

    fn fd(&self) -> i32 {
        on_rings!(&self.rings, r => r.fd())
    }

    /// Free UMEM frames (neither lent nor with the kernel).
    pub fn free_frames(&self) -> usize {
        self.pool.available()
    }

    /// Whether frames put on the TX ring have yet to come back on the completion ring.
    fn in_flight(&self) -> bool {
        self.stats.tx_frames > self.stats.tx_completed
    }

    /// Takes the TX completions back into the pool. With nothing in flight there is none to
    /// take, and an idle turn skips the ring (on the xsk-rs path a call into libxdp).
    fn reclaim(&mut self) {
        if !self.in_flight() {
            return;
        }
        let XdpDevice { rings, pool, stats, .. } = self;
        on_rings!(rings, r => r.complete(|idx| match idx {
            Some(i) if pool.free(FrameId(i), FrameState::Device) => stats.tx_completed += 1,
            _ => stats.bad_descriptors += 1,
        }));
    }

    /// Whether the fill ring lacks a batch or more of its stock.
    fn fill_short(&self) -> bool {
        self.in_fill + self.batch <= self.fill_target
    }

    fn refill(&mut self) {
        let want = self.fill_target.saturating_sub(self.in_fill).min(self.pool.available());
        if want == 0 {
            return;
        }
        let room = on_rings!(&mut self.rings, r => r.fill_room(want));
        let n = want.min(room).min(self.scratch.len());
        let mut got = 0;
        while got < n {
            let Some(id) = self.pool.alloc(FrameState::Device) else { break };
            self.scratch[got] = id.0;
            got += 1;
        }
        let done = on_rings!(&mut self.rings, r => r.fill(&self.scratch[..got]));
        for &i in &self.scratch[done..got] {
            self.pool.free(FrameId(i), FrameState::Device);
        }
        self.in_fill += done;
    }
}

impl Drop for XdpDevice {
    fn drop(&mut self) {
        // Frames for this queue go back to the kernel before the socket closes.
        self.program.unregister_socket(self.queue);
    }
}

/// Checks the configuration against the interface before touching the kernel, and works out
/// how many UMEM chunks a frame takes.
fn check(config: &XdpConfig, iface: &NetIf) -> Result<FrameGeometry, DriverError> {
    if config.queue >= iface.rx_queues {
        return Err(DriverError::QueueOutOfRange {
            iface: iface.name.clone(),
            queue: config.queue,
            queues: iface.rx_queues,
        });
    }
    if !matches!(config.frame_size, 2048 | 4096) {
        return Err(invalid(format!("frame size {} must be 2048 or 4096", config.frame_size)));
    }
    let geometry = FrameGeometry::for_mtu(iface.mtu, config.frame_size, XDP_PACKET_HEADROOM as u32);
    if geometry.multi_buffer() {
        check_multi_buffer(config, iface)?;
    }
    if !config.ring_size.is_power_of_two() || config.ring_size < 64 {
        return Err(invalid(format!(
            "ring size {} must be a power of two >= 64",
            config.ring_size
        )));
    }
    if config.frames < 2 * config.batch as u32 || config.frames < 128 {
        return Err(invalid(format!(
            "{} frames are too few for batches of {} (need at least 128 and twice the batch)",
            config.frames, config.batch
        )));
    }
    if config.batch == 0 || config.batch > MAX_BATCH {
        return Err(invalid(format!("batch {} must be 1..={MAX_BATCH}", config.batch)));
    }
    if let Some(bp) = config.busy_poll {
        bp.check()?;
    }
    if config.tx_checksum == TxChecksum::Kernel && config.bind == BindMode::ZeroCopy {
        return Err(invalid(
            "--tx-checksum kernel completes checksums in copy mode only; use --bind-mode copy \
             or auto"
                .into(),
        ));
    }
    Ok(geometry)
}

/// Whether frames over several chunks can work here: an MTU within [`MAX_MTU`], no TX
/// metadata (its headroom would split a chain's later chunks), and a driver whose native XDP
/// takes multi-buffer frames (`rx-sg`). Generic XDP builds them from skbs on any driver.
fn check_multi_buffer(config: &XdpConfig, iface: &NetIf) -> Result<(), DriverError> {
    let single_chunk = config.frame_size as usize - XDP_PACKET_HEADROOM - 14;
    let refuse = |detail: String| DriverError::MultiBufferUnsupported {
        iface: iface.name.clone(),
        mtu: iface.mtu,
        max_mtu: single_chunk,
        detail,
    };
    if iface.mtu > MAX_MTU {
        return Err(DriverError::MultiBufferUnsupported {
            iface: iface.name.clone(),
            mtu: iface.mtu,
            max_mtu: MAX_MTU,
            detail: format!("xdptcp takes MTUs up to {MAX_MTU}"),
        });
    }
    if matches!(config.tx_checksum, TxChecksum::Offload | TxChecksum::Kernel) {
        return Err(refuse(format!(
            "--tx-checksum {} (AF_XDP TX metadata) is not combined with multi-buffer frames; use \
             --tx-checksum auto or software",
            config.tx_checksum.name()
        )));
    }
    if config.xdp_mode != XdpMode::Generic {
        let features = netdev::xdp_features(iface.index).map_err(|e| {
            refuse(format!("the kernel does not report the driver's XDP features ({e})"))
        })?;
        if !features.rx_sg() {
            return Err(refuse(
                "the driver reports no XDP multi-buffer (rx-sg) support; try --xdp-mode generic"
                    .into(),
            ));
        }
    }
    Ok(())
}

struct Bound {
    rings: Rings,
    zero_copy: bool,
    tx_checksum: TxChecksum,
}

/// Why one bind attempt failed: an OS error (retried or mapped by the caller) or a final one.
enum Failure {
    Os(io::Error),
    Driver(DriverError),
}

/// Opens the socket on `mode`, on the raw path when TX metadata is wanted and available, on
/// xsk-rs otherwise. See [`TxChecksum`] for the choices.
fn bind(
    config: &XdpConfig,
    iface: &NetIf,
    geometry: FrameGeometry,
    mode: BindMode,
    zc_checksum: &mut Option<bool>,
) -> Result<Bound, Failure> {
    if geometry.multi_buffer() {
        return bind_multi_buffer(config, iface, geometry, mode);
    }
    let unsupported = |detail: String| {
        Failure::Driver(DriverError::TxChecksumUnsupported { iface: iface.name.clone(), detail })
    };
    let metadata = match (config.tx_checksum, mode) {
        (TxChecksum::Software, _) => false,
        // XDP_UMEM_TX_SW_CSUM works in copy mode only; `check` refuses an explicit zero-copy.
        (TxChecksum::Kernel, BindMode::ZeroCopy) => {
            return Err(Failure::Os(io::Error::from_raw_os_error(libc::EOPNOTSUPP)))
        }
        (TxChecksum::Kernel, _) => true,
        // In zero-copy mode the NIC's driver completes the request, if it implements it; one
        // that does not would send the partial checksum as it is.
        (TxChecksum::Offload | TxChecksum::Auto, BindMode::ZeroCopy) => {
            let offered = *zc_checksum.get_or_insert_with(|| {
                netdev::xsk_features(iface.index)
                    .is_ok_and(|f| f & netdev::XSK_FEATURE_TX_CHECKSUM != 0)
            });
            match (offered, config.tx_checksum, config.bind) {
                (true, ..) => true,
                (false, TxChecksum::Auto, _) => false,
                (false, _, BindMode::ZeroCopy) => {
                    return Err(unsupported(
                        "its driver reports no AF_XDP tx-checksum feature in zero-copy mode".into(),
                    ))
                }
                // Offload with bind auto: try copy mode, where the kernel completes it.
                (false, ..) => {
                    return Err(Failure::Os(io::Error::from_raw_os_error(libc::EOPNOTSUPP)))
                }
            }
        }
        // Copy mode hands the request to the kernel's skb path, which completes it on a NIC
        // (in hardware or software) but forwards it unfinished over a software link: a veth
        // peer that reads raw frames (another AF_XDP stack, an XDP program) would see a
        // partial checksum. So only an explicit `offload` uses it; `auto` stays correct for
        // every peer.
        (TxChecksum::Auto, _) => false,
        (TxChecksum::Offload, _) => true,
    };
    if metadata {
        let options = RawOptions {
            ifindex: iface.index,
            queue: config.queue,
            frame_size: config.frame_size,
            chunks: 1,
            frames: config.frames,
            ring_size: config.ring_size,
            bind: mode,
            tx_metadata: true,
            kernel_csum: config.tx_checksum == TxChecksum::Kernel,
        };
        match RawRings::open(&options) {
            Ok(r) => {
                let zero_copy = is_zero_copy(r.fd());
                let used = match config.tx_checksum {
                    TxChecksum::Kernel => TxChecksum::Kernel,
                    _ => TxChecksum::Offload,
                };
                return Ok(Bound { rings: Rings::Raw(r), zero_copy, tx_checksum: used });
            }
            Err(RawError::Setup(e)) => return Err(Failure::Os(e)),
            // A kernel before 6.8 (or without XDP_UMEM_TX_METADATA_LEN) refuses the flags.
            Err(RawError::Register(e)) if config.tx_checksum != TxChecksum::Auto => {
                return Err(unsupported(format!("the kernel refused AF_XDP TX metadata: {e}")))
            }
            Err(RawError::Register(_)) => {}
        }
    }
    let r = XskRsRings::open(
        &iface.name,
        config.queue,
        config.frame_size,
        config.frames,
        config.ring_size,
        mode,
    )
    .map_err(Failure::Os)?;
    let zero_copy = is_zero_copy(r.fd());
    Ok(Bound { rings: Rings::XskRs(r), zero_copy, tx_checksum: TxChecksum::Software })
}

/// Opens a socket whose frames span `geometry.chunks` chunks: our own rings with
/// `XDP_USE_SG`, software checksums (`check_multi_buffer` refused TX metadata). Zero-copy
/// needs a driver that chains that many buffers; `auto` then falls back to copy mode.
fn bind_multi_buffer(
    config: &XdpConfig,
    iface: &NetIf,
    geometry: FrameGeometry,
    mode: BindMode,
) -> Result<Bound, Failure> {
    if mode == BindMode::ZeroCopy {
        let segs = netdev::xdp_features(iface.index).map_or(1, |f| f.zc_max_segs);
        if segs < geometry.chunks {
            return Err(Failure::Os(io::Error::from_raw_os_error(libc::EOPNOTSUPP)));
        }
    }
    let options = RawOptions {
        ifindex: iface.index,
        queue: config.queue,
        frame_size: config.frame_size,
        chunks: geometry.chunks,
        frames: config.frames,
        ring_size: config.ring_size,
        bind: mode,
        tx_metadata: false,
        kernel_csum: false,
    };
    let r = RawRings::open(&options).map_err(|e| match e {
        RawError::Setup(e) | RawError::Register(e) => Failure::Os(e),
    })?;
    let zero_copy = is_zero_copy(r.fd());
    Ok(Bound { rings: Rings::Raw(r), zero_copy, tx_checksum: TxChecksum::Software })
}

/// Asks the kernel whether the socket is bound in zero-copy mode (`XDP_OPTIONS`).
fn is_zero_copy(fd: i32) -> bool {
    let mut opts: u32 = 0;
    let mut len = std::mem::size_of::<u32>() as libc::socklen_t;
    // SAFETY: `opts` and `len` are live out-parameters of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_XDP,
            libc::XDP_OPTIONS,
            (&mut opts as *mut u32).cast(),
            &mut len,
        )
    };
    rc == 0 && opts & libc::XDP_OPTIONS_ZEROCOPY != 0
}

impl Device for XdpDevice {
    fn caps(&self) -> DeviceCaps {
        self.caps
    }

    fn batch_size(&self) -> usize {
        self.batch
    }

    fn receive(&mut self, _now: Instant, out: &mut FrameList) {
        // Completions are taken at the end of the last turn's flush (and by `allocate` when
        // the pool runs dry), not again here: the ring would hold only what the kernel
        // finished in between. The fill ring is restocked a batch at a time: a frame at a
        // time, every turn that received one paid for two ring calls to hand one back.
        if self.fill_short() {
            self.refill();
        }
        let max = out.remaining().min(self.batch);
        let first = out.len();
        let XdpDevice { rings, pool, stats, in_fill, .. } = self;
        let n = on_rings!(rings, r => r.receive(max, |event| match event {
            RxEvent::Packet(i) => {
                let id = FrameId(i);
                if !pool.transition(id, FrameState::Device, FrameState::Lent) {
                    stats.bad_descriptors += 1;
                    return;
                }
                *in_fill = in_fill.saturating_sub(1);
                out.push(id);
            }
            // Copied into another frame, or part of a chain that did not fit: free again.
            RxEvent::Absorbed(i) | RxEvent::Oversized(i) => {
                if pool.free(FrameId(i), FrameState::Device) {
                    *in_fill = in_fill.saturating_sub(1);
                } else {
                    stats.bad_descriptors += 1;
                }
            }
            RxEvent::Bad => stats.bad_descriptors += 1,
        }));
        self.stats.rx_frames += n as u64;
        self.prefetch_frames(&out.as_slice()[first..]);
        if n == 0 && self.busy_poll {
            // The syscall is what runs the NAPI poll in busy-poll mode (it also refills).
            self.stats.busy_polls += 1;
            busy_poll::poll_once(self.fd());
        } else if n == 0 && on_rings!(&self.rings, r => r.fill_needs_wakeup()) {
            self.stats.fill_wakeups += 1;
            on_rings!(&mut self.rings, r => r.wake_fill());
        }
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        match self.pool.state(id) {
            Some(FrameState::Lent) => on_rings!(&self.rings, r => r.frame(id.index())),
            _ => &[],
        }
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        match self.pool.state(id) {
            Some(FrameState::Lent) => on_rings!(&mut self.rings, r => r.frame_mut(id.index())),
            _ => &mut [],
        }
    }

    fn release(&mut self, id: FrameId) {
        if self.pool.free(id, FrameState::Lent) {
            // Restocking here keeps the fill ring full under load without waiting for the
            // next receive.
            if self.fill_short() {
                self.refill();
            }
        }
    }

    fn allocate(&mut self, _now: Instant) -> Option<FrameId> {
        if self.pool.available() == 0 {
            self.reclaim();
        }
        let id = self.pool.alloc(FrameState::Lent)?;
        on_rings!(&mut self.rings, r => r.lend_for_tx(id.index()));
        Some(id)
    }

    fn transmit(&mut self, _now: Instant, id: FrameId, len: usize) {
        if !self.pool.transition(id, FrameState::Lent, FrameState::Device) {
            return;
        }
        // Not yet on a ring, so the raw path can still read the headers for the checksum
        // request and write the metadata in front of them.
        on_rings!(&mut self.rings, r => r.prepare_tx(id.index(), len));
        self.tx_pending.push(id.0);
    }

    /// Sleeps in `ppoll(POLLIN)` on the socket: the kernel's AF_XDP receive path
    /// (`xsk_rcv`) wakes the socket's waiters when it puts a frame on the RX ring. The fill
    /// ring is topped up first, so a frame arriving during the sleep has a buffer to land in
    /// (in copy mode the kernel reads the fill ring itself; no `need_wakeup` kick is due).
    fn wait(&mut self, timeout: std::time::Duration) {
        self.reclaim();
        self.refill();
        self.stats.idle_waits += 1;
        let mut pfd = libc::pollfd { fd: self.fd(), events: libc::POLLIN, revents: 0 };
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: libc::c_long::from(timeout.subsec_nanos() as i32),
        };
        // SAFETY: `pfd` is one live pollfd and `ts` a live timespec for the duration of the
        // call; a null signal mask means the thread's mask is left as it is.
        let rc = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        if rc > 0 {
            self.stats.idle_wakeups += 1;
        }
    }

    fn flush(&mut self, _now: Instant) {
        // Nothing queued and nothing in flight: nothing to push, kick or reclaim (a
        // busy-polling worker's idle turn).
        if self.tx_pending.is_empty() && !self.in_flight() {
            return;
        }
        let mut produced = 0;
        if !self.tx_pending.is_empty() {
            let room = on_rings!(&mut self.rings, r => r.tx_room(self.tx_pending.len()));
            let n = room.min(self.tx_pending.len());
            // Every pending frame is in state `Device` and only this queue holds it; the
            // kernel owns it until it shows up on the completion ring.
            let done = on_rings!(&mut self.rings, r => r.transmit(&self.tx_pending[..n]));
            self.tx_pending.drain(..done);
            self.stats.tx_frames += done as u64;
            produced = done;
            if !self.tx_pending.is_empty() {
                self.stats.tx_ring_full += 1;
            }
        }
        // Kick only with descriptors on the ring: copy mode keeps the flag set permanently,
        // and an idle loop must not make a syscall per iteration.
        let in_flight = self.in_flight();
        // In busy-poll mode the kernel clears `need_wakeup` and expects the syscall anyway.
        let wakeup = on_rings!(&self.rings, r => r.tx_needs_wakeup());
        if (produced > 0 || in_flight) && (self.busy_poll || wakeup) {
            self.stats.tx_kicks += 1;
            on_rings!(&mut self.rings, r => r.wake_tx());
        }
        self.reclaim();
    }
}
