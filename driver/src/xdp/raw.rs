//! An AF_XDP socket whose UMEM we register ourselves, for TX metadata.
//!
//! xsk-rs 0.11 and the libxdp 1.6 beneath it register the UMEM with a `struct xdp_umem_reg`
//! that predates `tx_metadata_len`, and `XDP_UMEM_REG` can be done only once per socket, so
//! a socket that is to carry TX metadata (checksum offload) is set up here from the system
//! calls up: `socket(AF_XDP)`, `XDP_UMEM_REG` with `XDP_UMEM_TX_METADATA_LEN`, the four ring
//! sizes, `XDP_MMAP_OFFSETS` and the ring mappings ([`ring`](super::ring)), then `bind`.
//! Steering into the socket stays with our XDP program's XSKMAP, as on the xsk-rs path.
//!
//! It is also the path for jumbo frames: a socket whose frames span several chunks is bound
//! with `XDP_USE_SG` and reads and writes descriptor chains ([`multibuf`](super::multibuf)).
//!
//! # Frame layout
//!
//! Frame `i` is the `chunks` consecutive chunks at `i * chunks * frame_size`
//! ([`FrameGeometry`]); one chunk unless the MTU needs more. Received data starts where the
//! kernel puts it (after `XDP_PACKET_HEADROOM`); transmitted data starts at the same offset,
//! so the [`TxMetadata`] sits in the headroom right in front of it, where the kernel looks.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use super::multibuf::{Chains, FrameGeometry, GatherStats, Parts, RxEvent};
use super::ring::{Consumer, Mapping, Producer};
use super::socket::{BindMode, XDP_PACKET_HEADROOM};
use super::tx_checksum::{self, TxMetadata, TX_METADATA_LEN};

/// What to set up.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RawOptions {
    pub ifindex: u32,
    pub queue: u32,
    pub frame_size: u32,
    /// Chunks of `frame_size` bytes per frame: more than one means multi-buffer.
    pub chunks: u32,
    pub frames: u32,
    pub ring_size: u32,
    pub bind: BindMode,
    /// Reserve TX metadata and request checksums through it.
    pub tx_metadata: bool,
    /// `XDP_UMEM_TX_SW_CSUM`: the kernel completes requested checksums in software.
    pub kernel_csum: bool,
}

/// Per frame: where its current contents lie in the UMEM and the descriptor options.
#[derive(Debug, Clone, Copy, Default)]
struct Span {
    addr: u64,
    len: u32,
    options: u32,
}

/// The socket, its UMEM and rings. Field order is drop order: rings, socket, then the UMEM.
#[derive(Debug)]
pub(crate) struct RawRings {
    fill: Producer<u64>,
    comp: Consumer<u64>,
    rx: Consumer<libc::xdp_desc>,
    tx: Producer<libc::xdp_desc>,
    fd: OwnedFd,
    umem: Mapping,
    spans: Vec<Span>,
    geometry: FrameGeometry,
    tx_metadata: bool,
    /// Descriptor chains being received.
    chains: Chains,
    addrs: Vec<u64>,
    descs: Vec<libc::xdp_desc>,
    checksum_requests: u64,
}

fn setopt<T>(fd: &OwnedFd, opt: libc::c_int, val: &T) -> io::Result<()> {
    // SAFETY: `val` is a live `T` and the length passed is its size.
    let rc = unsafe {
        libc::setsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            opt,
            (val as *const T).cast(),
            std::mem::size_of::<T>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Where [`RawRings::open`] failed: registration errors mean the kernel lacks TX metadata.
#[derive(Debug)]
pub(crate) enum RawError {
    /// `XDP_UMEM_REG` refused the metadata flags or length.
    Register(io::Error),
    /// Anything else (socket, rings, bind), as on the xsk-rs path.
    Setup(io::Error),
}

impl RawRings {
    pub(crate) fn open(o: &RawOptions) -> Result<RawRings, RawError> {
        let setup = RawError::Setup;
        // SAFETY: plain socket(2); the result is checked before use.
        let raw = unsafe { libc::socket(libc::AF_XDP, libc::SOCK_RAW | libc::SOCK_CLOEXEC, 0) };
        if raw < 0 {
            return Err(setup(io::Error::last_os_error()));
        }
        // SAFETY: `raw` is a fresh descriptor that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(raw) };
        let geometry = FrameGeometry {
            chunk: o.frame_size,
            chunks: o.chunks.max(1),
            headroom: XDP_PACKET_HEADROOM as u32,
        };
        let len = o.frames as usize * geometry.span() as usize;
        let umem = Mapping::anonymous(len).map_err(setup)?;
        let mut flags = 0;
        if o.tx_metadata {
            flags |= libc::XDP_UMEM_TX_METADATA_LEN;
        }
        if o.kernel_csum {
            flags |= libc::XDP_UMEM_TX_SW_CSUM;
        }
        let reg = libc::xdp_umem_reg {
            addr: umem.as_ptr() as u64,
            len: len as u64,
            chunk_size: o.frame_size,
            headroom: 0,
            flags,
            tx_metadata_len: if o.tx_metadata { TX_METADATA_LEN as u32 } else { 0 },
        };
        setopt(&fd, libc::XDP_UMEM_REG, &reg).map_err(RawError::Register)?;
        let size = o.ring_size;
        for opt in [libc::XDP_UMEM_FILL_RING, libc::XDP_UMEM_COMPLETION_RING] {
            setopt(&fd, opt, &size).map_err(setup)?;
        }
        for opt in [libc::XDP_RX_RING, libc::XDP_TX_RING] {
            setopt(&fd, opt, &size).map_err(setup)?;
        }
        let off = mmap_offsets(&fd).map_err(setup)?;
        let fill = Producer::map(&fd, off.fr.into(), size, libc::XDP_UMEM_PGOFF_FILL_RING);
        let comp = Consumer::map(&fd, off.cr.into(), size, libc::XDP_UMEM_PGOFF_COMPLETION_RING);
        let rx = Consumer::map(&fd, off.rx.into(), size, libc::XDP_PGOFF_RX_RING as u64);
        let tx = Producer::map(&fd, off.tx.into(), size, libc::XDP_PGOFF_TX_RING as u64);
        let (fill, comp, rx, tx) =
            (fill.map_err(setup)?, comp.map_err(setup)?, rx.map_err(setup)?, tx.map_err(setup)?);
        let copy = match o.bind {
            BindMode::ZeroCopy => libc::XDP_ZEROCOPY,
            _ => libc::XDP_COPY,
        };
        let sg = if geometry.multi_buffer() { libc::XDP_USE_SG } else { 0 };
        let sa = libc::sockaddr_xdp {
            sxdp_family: libc::AF_XDP as u16,
            sxdp_flags: libc::XDP_USE_NEED_WAKEUP | copy | sg,
            sxdp_ifindex: o.ifindex,
            sxdp_queue_id: o.queue,
            sxdp_shared_umem_fd: 0,
        };
        // SAFETY: `sa` is a live sockaddr_xdp and the length passed is its size.
        let rc = unsafe {
            libc::bind(
                fd.as_raw_fd(),
                (&sa as *const libc::sockaddr_xdp).cast(),
                std::mem::size_of::<libc::sockaddr_xdp>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(setup(io::Error::last_os_error()));
        }
        let batch = size as usize;
        Ok(RawRings {
            fill,
            comp,
            rx,
            tx,
            fd,
            umem,
            spans: vec![Span::default(); o.frames as usize],
            geometry,
            tx_metadata: o.tx_metadata,
            chains: Chains::default(),
            addrs: vec![0; batch],
            descs: vec![libc::xdp_desc { addr: 0, len: 0, options: 0 }; batch],
            checksum_requests: 0,
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// Frames sent with a checksum request in their TX metadata.
    pub(crate) fn checksum_requests(&self) -> u64 {
        self.checksum_requests
    }

    /// Multi-buffer reception counters.
    pub(crate) fn gather_stats(&self) -> GatherStats {
        self.chains.stats()
    }

    fn frames(&self) -> u32 {
        self.spans.len() as u32
    }

    /// Completed TX frames: calls `f` with each one's index (`None`: not one of ours). The
    /// later descriptors of a chain (outside a frame's first chunk) are skipped: the frame
    /// was freed with its first.
    pub(crate) fn complete(&mut self, mut f: impl FnMut(Option<u32>)) {
        let chunks = u64::from(self.geometry.chunks);
        let umem = u64::from(self.frames()) * self.geometry.span();
        loop {
            let n = self.comp.consume(&mut self.addrs);
            for k in 0..n {
                let addr = self.addrs[k];
                let later =
                    addr < umem && !(addr / u64::from(self.geometry.chunk)).is_multiple_of(chunks);
                if !later {
                    f(self.geometry.head_of(addr, self.frames()));
                }
            }
            if n < self.addrs.len() {
                return;
            }
        }
    }

    pub(crate) fn fill_room(&mut self, want: usize) -> usize {
        self.fill.free(u32::try_from(want).unwrap_or(u32::MAX)) as usize
    }

    /// Gives `frames` to the kernel for reception; returns how many went.
    pub(crate) fn fill(&mut self, frames: &[u32]) -> usize {
        let n = frames.len().min(self.addrs.len());
        for (a, &i) in self.addrs.iter_mut().zip(&frames[..n]) {
            *a = self.geometry.base(i);
        }
        self.fill.produce(&self.addrs[..n])
    }

    pub(crate) fn fill_needs_wakeup(&self) -> bool {
        self.fill.needs_wakeup()
    }

    /// Asks the kernel to refill from the fill ring (`recvfrom`, as libxdp recommends).
    pub(crate) fn wake_fill(&mut self) {
        super::busy_poll::poll_once(self.fd());
    }

    pub(crate) fn tx_needs_wakeup(&self) -> bool {
        self.tx.needs_wakeup()
    }

    /// Asks the kernel to process the TX ring. EAGAIN, EBUSY, ENOBUFS and ENETDOWN only mean
    /// "later", and the next flush kicks again.
    pub(crate) fn wake_tx(&mut self) {
        // SAFETY: a null buffer of length 0 and a null address are valid arguments.
        let _ = unsafe {
            libc::sendto(self.fd(), std::ptr::null(), 0, libc::MSG_DONTWAIT, std::ptr::null(), 0)
        };
    }

    /// Takes up to `max` descriptors from the RX ring and reports each frame's outcome to
    /// `f` (see [`RxEvent`]); returns how many descriptors were taken. Chained descriptors
    /// (`XDP_PKT_CONTD`) are gathered into the chain's first frame; a chain may continue in
    /// the next call.
    pub(crate) fn receive(&mut self, max: usize, mut f: impl FnMut(RxEvent)) -> usize {
        let max = max.min(self.descs.len());
        let n = self.rx.consume(&mut self.descs[..max]);
        let frames = self.frames();
        let RawRings { descs, chains, spans, umem, geometry, .. } = self;
        for &d in &descs[..n] {
            let more = d.options & libc::XDP_PKT_CONTD != 0;
            let frame =
                geometry.head_of(d.addr, frames).filter(|_| geometry.within_chunk(d.addr, d.len));
            let mut parts = UmemParts { spans, umem, geometry: *geometry, d };
            chains.step(frame, more, &mut parts, &mut f);
        }
        n
    }

    /// The contents of frame `i` (received data, or a TX buffer's capacity).
    pub(crate) fn frame(&self, i: usize) -> &[u8] {
        let Some(s) = self.spans.get(i) else { return &[] };
        // SAFETY: every span lies within the UMEM mapping (checked when recorded) and the
        // caller only asks for frames lent to it, which no kernel ring holds.
        unsafe {
            std::slice::from_raw_parts(self.umem.as_ptr().add(s.addr as usize), s.len as usize)
        }
    }

    pub(crate) fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let Some(s) = self.spans.get(i) else { return &mut [] };
        // SAFETY: as in `frame`, and `&mut self` makes this the only access.
        unsafe {
            std::slice::from_raw_parts_mut(self.umem.as_ptr().add(s.addr as usize), s.len as usize)
        }
    }

    /// Lends frame `i`'s whole TX capacity.
    pub(crate) fn lend_for_tx(&mut self, i: usize) {
        let addr = self.geometry.base(i as u32) + u64::from(self.geometry.headroom);
        let len = self.geometry.capacity();
        if let Some(s) = self.spans.get_mut(i) {
            *s = Span { addr, len, options: 0 };
        }
    }

    /// Fixes frame `i`'s length for transmission and, with TX metadata, asks for its TCP/UDP
    /// checksum to be completed.
    pub(crate) fn prepare_tx(&mut self, i: usize, len: usize) {
        let Some(&s) = self.spans.get(i) else { return };
        let len = len.min(s.len as usize) as u32;
        let mut options = 0;
        if self.tx_metadata {
            let data = &self.frame(i)[..len as usize];
            if let Some((start, offset)) = tx_checksum::request(data) {
                let meta = TxMetadata {
                    flags: u64::from(libc::XDP_TXMD_FLAGS_CHECKSUM),
                    csum_start: start,
                    csum_offset: offset,
                    ..TxMetadata::default()
                };
                let at = s.addr as usize - TX_METADATA_LEN;
                // SAFETY: `at` is inside frame `i`'s chunk (TX data starts XDP_PACKET_HEADROOM
                // bytes in, more than the metadata's size), the frame is lent to us, and
                // `write_unaligned` needs no alignment.
                unsafe { self.umem.as_ptr().add(at).cast::<TxMetadata>().write_unaligned(meta) };
                options = libc::XDP_TX_METADATA;
                self.checksum_requests += 1;
            }
        }
        self.spans[i] = Span { len, options, ..s };
    }

    /// Frames the TX ring surely has room for: a frame takes up to `chunks` descriptors.
    pub(crate) fn tx_room(&mut self, want: usize) -> usize {
        let chunks = self.geometry.chunks as usize;
        let want = u32::try_from(want.saturating_mul(chunks)).unwrap_or(u32::MAX);
        self.tx.free(want) as usize / chunks
    }

    /// Puts `frames` (prepared with [`prepare_tx`](Self::prepare_tx)) on the TX ring, one
    /// descriptor per chunk a frame touches; returns how many frames went (whole frames
    /// only: a chain is never cut).
    pub(crate) fn transmit(&mut self, frames: &[u32]) -> usize {
        let room = self.tx.free(self.descs.len() as u32) as usize;
        let (mut sent, mut used) = (0, 0);
        for &i in frames {
            let s = self.spans[i as usize];
            let n = self.geometry.tx_pieces(s.addr, s.len, &mut self.descs[used..room]);
            if n == 0 {
                break;
            }
            // TX metadata belongs to the first descriptor of a chain only.
            self.descs[used].options |= s.options;
            used += n;
            sent += 1;
        }
        let produced = self.tx.produce(&self.descs[..used]);
        debug_assert_eq!(produced, used, "room was reserved");
        sent
    }
}

/// The UMEM as [`Parts`] for RX descriptor `d` (which [`RawRings::receive`] checked to name
/// the first chunk of one of our frames and to stay inside it).
struct UmemParts<'a> {
    spans: &'a mut [Span],
    umem: &'a Mapping,
    geometry: FrameGeometry,
    d: libc::xdp_desc,
}

impl Parts for UmemParts<'_> {
    fn first(&mut self, frame: u32) {
        self.spans[frame as usize] = Span { addr: self.d.addr, len: self.d.len, options: 0 };
    }

    fn append(&mut self, head: u32) -> Option<u32> {
        let (d, s) = (self.d, self.spans[head as usize]);
        let frame_end = self.geometry.base(head) + self.geometry.span();
        let at = s.addr + u64::from(s.len);
        if at + u64::from(d.len) > frame_end {
            return None;
        }
        // SAFETY: both ranges lie in the UMEM mapping (`d` stays inside its chunk, the
        // destination inside frame `head`), in different frames (a frame's later chunks never
        // go to the fill ring, so `d` is in another frame's first chunk), and both frames came
        // off the RX ring, so the kernel touches neither until we give them back.
        unsafe {
            let base = self.umem.as_ptr();
            std::ptr::copy_nonoverlapping(
                base.add(d.addr as usize),
                base.add(at as usize),
                d.len as usize,
            );
        }
        self.spans[head as usize].len += d.len;
        Some(d.len)
    }
}

fn mmap_offsets(fd: &OwnedFd) -> io::Result<libc::xdp_mmap_offsets> {
    // SAFETY: an all-zero xdp_mmap_offsets is a valid value (plain integers).
    let mut off: libc::xdp_mmap_offsets = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::xdp_mmap_offsets>() as libc::socklen_t;
    // SAFETY: `off` and `len` are live out-parameters of the sizes passed.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::SOL_XDP,
            libc::XDP_MMAP_OFFSETS,
            (&mut off as *mut libc::xdp_mmap_offsets).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // Kernels before 5.4 return the layout without ring flags; TX metadata needs 6.8 anyway.
    if len as usize != std::mem::size_of::<libc::xdp_mmap_offsets>() {
        return Err(io::Error::from_raw_os_error(libc::EOPNOTSUPP));
    }
    Ok(off)
}
