//! [`XdpDevice`]: one AF_XDP socket on one queue, with its UMEM, as a batch [`Device`].
//!
//! # Frames and rings
//!
//! The UMEM is `frames` buffers of `frame_size` bytes. Each buffer is, per [`FramePool`],
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

use std::io;
use std::num::NonZeroU32;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use xdptcp_stack::iface::{ChecksumCaps, DeviceCaps};
use xdptcp_stack::time::Instant;
use xsk_rs::config::{
    BindFlags, FrameSize, Interface as XskInterface, LibxdpFlags, QueueSize, SocketConfig,
    UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::busy_poll::{self, BusyPoll, BusyPollState};
use super::error::DriverError;
use super::netif::NetIf;
use super::program::{XdpMode, XdpProgram};
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
    /// UMEM frame size: 2048 or 4096. Must hold MTU + 14 + 256 bytes.
    pub frame_size: u32,
    /// UMEM frames. Default 4096 (8 MiB at 2048 bytes).
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
        }
    }
}

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
}

/// One AF_XDP socket bound to one queue. See the [module documentation](self).
pub struct XdpDevice {
    // Field order is drop order: the rings and socket go before the UMEM, and the program
    // (shared by every queue's device) is detached last.
    tx_q: TxQueue,
    rx_q: RxQueue,
    fill_q: FillQueue,
    comp_q: CompQueue,
    umem: Umem,
    program: Arc<XdpProgram>,
    /// Per frame: its canonical descriptor (address of the data segment).
    base: Vec<FrameDesc>,
    /// Per frame: the descriptor last received or prepared for it.
    descs: Vec<FrameDesc>,
    pool: FramePool,
    frame_size: usize,
    fill_target: usize,
    in_fill: usize,
    scratch: Vec<FrameDesc>,
    tx_pending: Vec<FrameDesc>,
    caps: DeviceCaps,
    batch: usize,
    queue: u32,
    zero_copy: bool,
    busy_poll: bool,
    stats: XdpStats,
}

impl std::fmt::Debug for XdpDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("XdpDevice")
            .field("iface", &self.program.iface())
            .field("queue", &self.queue)
            .field("zero_copy", &self.zero_copy)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn invalid(why: String) -> DriverError {
    DriverError::InvalidConfig(why)
}

impl XdpDevice {
    /// Loads and attaches the XDP program to `config.iface`, then opens the socket on
    /// `config.queue`. The program is detached when the device (and every other device
    /// sharing it) is dropped.
    pub fn open(config: &XdpConfig) -> Result<XdpDevice, DriverError> {
        let iface = NetIf::lookup(&config.iface)?;
        check(config, &iface)?;
        let program = Arc::new(XdpProgram::attach(&iface, config.addr, config.xdp_mode)?);
        XdpDevice::open_with(config, &iface, program)
    }

    /// Opens a socket on another queue of an interface whose program is already attached
    /// (one device per queue, one worker per device).
    pub fn open_on(config: &XdpConfig, program: Arc<XdpProgram>) -> Result<XdpDevice, DriverError> {
        let iface = NetIf::lookup(&config.iface)?;
        check(config, &iface)?;
        XdpDevice::open_with(config, &iface, program)
    }

    fn open_with(
        config: &XdpConfig,
        iface: &NetIf,
        program: Arc<XdpProgram>,
    ) -> Result<XdpDevice, DriverError> {
        let tries: &[BindMode] = match config.bind {
            BindMode::Auto => &[BindMode::ZeroCopy, BindMode::Copy],
            BindMode::ZeroCopy => &[BindMode::ZeroCopy],
            BindMode::Copy => &[BindMode::Copy],
        };
        let mut last = None;
        for &mode in tries {
            // The kernel frees a closed socket's hold on its queue in deferred work, so a
            // socket reopened right after the previous one closed (a restart, a test) can see
            // EBUSY for a few milliseconds; retry that briefly.
            for _ in 0..BUSY_RETRIES {
                match bind(config, iface, mode) {
                    Ok(parts) => {
                        if let Some(bp) = config.busy_poll {
                            // Dropping `parts` on error closes the socket and frees the UMEM.
                            busy_poll::apply(parts.rx_q.fd().as_raw_fd(), bp)?;
                        }
                        return Ok(XdpDevice::assemble(config, iface, program, parts));
                    }
                    Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                        last = Some(e);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                    }
                    Err(e) => {
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
        program: Arc<XdpProgram>,
        parts: Bound,
    ) -> XdpDevice {
        let Bound { umem, base, tx_q, rx_q, fill_q, comp_q, zero_copy } = parts;
        let frames = base.len();
        let batch = config.batch.clamp(1, MAX_BATCH);
        let mut dev = XdpDevice {
            tx_q,
            rx_q,
            fill_q,
            comp_q,
            umem,
            program,
            descs: base.clone(),
            base,
            pool: FramePool::new(frames as u32),
            frame_size: config.frame_size as usize,
            fill_target: (config.ring_size as usize).min(frames / 2),
            in_fill: 0,
            scratch: vec![FrameDesc::default(); (config.ring_size as usize).max(batch)],
            // Every frame at most once: never grows on the hot path.
            tx_pending: Vec::with_capacity(frames),
            caps: DeviceCaps::ethernet(iface.mtu).with_checksum(ChecksumCaps::NONE),
            batch,
            queue: config.queue,
            zero_copy,
            busy_poll: config.busy_poll.is_some(),
            stats: XdpStats::default(),
        };
        dev.refill();
        dev
    }

    /// Steers the queue's traffic to this socket. Separate from opening so that a caller
    /// finishes setting up its stack before the first frame is diverted from the kernel.
    pub fn start(&self) -> Result<(), DriverError> {
        self.program.register_socket(self.queue, self.rx_q.fd().as_raw_fd())
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
        busy_poll::read(self.rx_q.fd().as_raw_fd())
    }

    /// Ring counters.
    pub fn stats(&self) -> XdpStats {
        self.stats
    }

    /// Free UMEM frames (neither lent nor with the kernel).
    pub fn free_frames(&self) -> usize {
        self.pool.available()
    }

    fn index_of(&self, desc: &FrameDesc) -> Option<usize> {
        let i = desc.addr() / self.frame_size;
        (i < self.base.len()).then_some(i)
    }

    fn reclaim(&mut self) {
        loop {
            let want = self.scratch.len();
            // SAFETY: the completion ring belongs to this UMEM; descriptors are only written.
            let n = unsafe { self.comp_q.consume(&mut self.scratch[..want]) };
            for k in 0..n {
                let desc = self.scratch[k];
                match self.index_of(&desc) {
                    Some(i) => {
                        self.pool.free(FrameId(i as u32), FrameState::Device);
                        self.stats.tx_completed += 1;
                    }
                    None => self.stats.bad_descriptors += 1,
                }
            }
            if n < want {
                return;
            }
        }
    }

    fn refill(&mut self) {
        let want = self.fill_target.saturating_sub(self.in_fill).min(self.pool.available());
        if want == 0 {
            return;
        }
        let room = self.fill_q.nb_free(want as u32) as usize;
        let n = want.min(room).min(self.scratch.len());
        for k in 0..n {
            let Some(id) = self.pool.alloc(FrameState::Device) else { break };
            self.scratch[k] = self.base[id.index()];
        }
        // SAFETY: every descriptor is the canonical address of a frame of this UMEM that we
        // just took from the free pool, so no one else reads or writes it until the kernel
        // hands it back on the RX ring.
        let done = unsafe { self.fill_q.produce(&self.scratch[..n]) };
        for k in done..n {
            let desc = self.scratch[k];
            if let Some(i) = self.index_of(&desc) {
                self.pool.free(FrameId(i as u32), FrameState::Device);
            }
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

/// Checks the configuration against the interface before touching the kernel.
fn check(config: &XdpConfig, iface: &NetIf) -> Result<(), DriverError> {
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
    let needed = iface.mtu + 14 + XDP_PACKET_HEADROOM;
    if needed > config.frame_size as usize {
        return Err(DriverError::FrameTooSmall {
            iface: iface.name.clone(),
            mtu: iface.mtu,
            frame_size: config.frame_size as usize,
            needed,
        });
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
    Ok(())
}

struct Bound {
    umem: Umem,
    base: Vec<FrameDesc>,
    tx_q: TxQueue,
    rx_q: RxQueue,
    fill_q: FillQueue,
    comp_q: CompQueue,
    zero_copy: bool,
}

fn bind(config: &XdpConfig, iface: &NetIf, mode: BindMode) -> io::Result<Bound> {
    let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
    let ring = QueueSize::new(config.ring_size).map_err(|_| bad("ring size"))?;
    let umem_config = UmemConfig::builder()
        .frame_size(FrameSize::new(config.frame_size).map_err(|_| bad("frame size"))?)
        .fill_queue_size(ring)
        .comp_queue_size(ring)
        .build()
        .map_err(|_| bad("UMEM configuration"))?;
    let frames = NonZeroU32::new(config.frames).ok_or_else(|| bad("frame count"))?;
    let (umem, base) = Umem::new(umem_config, frames, false).map_err(|e| {
        std::error::Error::source(&e)
            .and_then(|s| s.downcast_ref::<io::Error>())
            .and_then(io::Error::raw_os_error)
            .map_or_else(|| bad("UMEM creation"), io::Error::from_raw_os_error)
    })?;
    let copy_flag = match mode {
        BindMode::ZeroCopy => BindFlags::XDP_ZEROCOPY,
        _ => BindFlags::XDP_COPY,
    };
    let socket_config = SocketConfig::builder()
        .rx_queue_size(ring)
        .tx_queue_size(ring)
        .libxdp_flags(LibxdpFlags::XSK_LIBXDP_FLAGS_INHIBIT_PROG_LOAD)
        .bind_flags(BindFlags::XDP_USE_NEED_WAKEUP | copy_flag)
        .build();
    let name: XskInterface = iface.name.parse().map_err(|_| bad("interface name"))?;
    // SAFETY: the UMEM is new and used by this socket only, so no frame is shared with another
    // socket's rings (the aliasing condition of `Socket::new`).
    let (tx_q, rx_q, rings) = unsafe { Socket::new(socket_config, &umem, &name, config.queue) }
        .map_err(|e| {
            std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<io::Error>())
                .and_then(io::Error::raw_os_error)
                .map_or_else(|| bad("socket creation"), io::Error::from_raw_os_error)
        })?;
    let (fill_q, comp_q) = rings.ok_or_else(|| bad("the UMEM already had its rings"))?;
    let zero_copy = is_zero_copy(rx_q.fd().as_raw_fd());
    Ok(Bound { umem, base, tx_q, rx_q, fill_q, comp_q, zero_copy })
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
        self.reclaim();
        self.refill();
        let max = out.remaining().min(self.batch).min(self.scratch.len());
        // SAFETY: the RX ring belongs to this UMEM; descriptors are only written.
        let n = unsafe { self.rx_q.consume(&mut self.scratch[..max]) };
        for k in 0..n {
            let desc = self.scratch[k];
            let Some(i) = self.index_of(&desc) else {
                self.stats.bad_descriptors += 1;
                continue;
            };
            let id = FrameId(i as u32);
            if !self.pool.transition(id, FrameState::Device, FrameState::Lent) {
                self.stats.bad_descriptors += 1;
                continue;
            }
            self.descs[i] = desc;
            self.in_fill = self.in_fill.saturating_sub(1);
            out.push(id);
        }
        self.stats.rx_frames += n as u64;
        if n == 0 && self.busy_poll {
            // The syscall is what runs the NAPI poll in busy-poll mode (it also refills).
            self.stats.busy_polls += 1;
            busy_poll::poll_once(self.rx_q.fd().as_raw_fd());
        } else if n == 0 && self.fill_q.needs_wakeup() {
            self.stats.fill_wakeups += 1;
            let _ = self.fill_q.wakeup(self.rx_q.fd_mut(), 0);
        }
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        match (self.descs.get(id.index()), self.pool.state(id)) {
            // SAFETY: the frame is lent to the caller, so it is in no kernel ring and nothing
            // writes it while `&self` is borrowed; the descriptor names a frame of this UMEM.
            (Some(desc), Some(FrameState::Lent)) => unsafe { self.umem.data(desc) }.contents(),
            _ => &[],
        }
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        if self.pool.state(id) != Some(FrameState::Lent) {
            return &mut [];
        }
        let Some(desc) = self.descs.get_mut(id.index()) else { return &mut [] };
        // SAFETY: as in `frame`, and `&mut self` makes this the only access.
        let mut data = unsafe { self.umem.data_mut(desc) };
        let s = data.contents_mut();
        let (ptr, len) = (s.as_mut_ptr(), s.len());
        // SAFETY: the slice lies in the UMEM mapping, which `self.umem` keeps alive for as
        // long as `self`; the frame is lent (no kernel access) and the returned borrow is tied
        // to `&mut self`, so no other reference to it can exist meanwhile.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    fn release(&mut self, id: FrameId) {
        if self.pool.free(id, FrameState::Lent) {
            // Restocking here keeps the fill ring full under load without waiting for the
            // next receive.
            if self.in_fill + self.batch <= self.fill_target {
                self.refill();
            }
        }
    }

    fn allocate(&mut self, _now: Instant) -> Option<FrameId> {
        if self.pool.available() == 0 {
            self.reclaim();
        }
        let id = self.pool.alloc(FrameState::Lent)?;
        let i = id.index();
        self.descs[i] = self.base[i];
        // SAFETY: the frame was free, so the kernel does not hold it; setting the length to
        // the capacity lends the whole data segment.
        unsafe { self.umem.data_mut(&mut self.descs[i]) }.cursor().set_pos(usize::MAX);
        Some(id)
    }

    fn transmit(&mut self, _now: Instant, id: FrameId, len: usize) {
        if !self.pool.transition(id, FrameState::Lent, FrameState::Device) {
            return;
        }
        let i = id.index();
        // SAFETY: the frame is ours until it is produced on the TX ring below.
        unsafe { self.umem.data_mut(&mut self.descs[i]) }.cursor().set_pos(len);
        self.tx_pending.push(self.descs[i]);
    }

    fn flush(&mut self, _now: Instant) {
        let mut produced = 0;
        if !self.tx_pending.is_empty() {
            let room = self.tx_q.nb_free(self.tx_pending.len() as u32) as usize;
            let n = room.min(self.tx_pending.len());
            // SAFETY: every pending descriptor names a frame in state `Device` that only this
            // queue holds; the kernel owns it until it shows up on the completion ring.
            let done = unsafe { self.tx_q.produce(&self.tx_pending[..n]) };
            self.tx_pending.drain(..done);
            self.stats.tx_frames += done as u64;
            produced = done;
            if !self.tx_pending.is_empty() {
                self.stats.tx_ring_full += 1;
            }
        }
        // Kick only with descriptors on the ring: copy mode keeps the flag set permanently,
        // and an idle loop must not make a syscall per iteration.
        let in_flight = self.stats.tx_frames > self.stats.tx_completed;
        // In busy-poll mode the kernel clears `need_wakeup` and expects the syscall anyway.
        if (produced > 0 || in_flight) && (self.busy_poll || self.tx_q.needs_wakeup()) {
            self.stats.tx_kicks += 1;
            let _ = self.tx_q.wakeup();
        }
        self.reclaim();
    }
}
