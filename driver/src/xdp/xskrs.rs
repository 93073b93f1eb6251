//! The default socket path: UMEM, rings and socket from xsk-rs (libxdp underneath).
//!
//! It offers the same frame-index interface as [`raw`](super::raw), so [`XdpDevice`]'s
//! buffer accounting is written once; it cannot carry TX metadata (see `raw` for why).
//!
//! [`XdpDevice`]: super::XdpDevice

use std::io;
use std::num::NonZeroU32;
use std::os::fd::{AsRawFd, RawFd};

use xsk_rs::config::{
    BindFlags, FrameSize, Interface as XskInterface, LibxdpFlags, QueueSize, SocketConfig,
    UmemConfig,
};
use xsk_rs::{CompQueue, FillQueue, FrameDesc, RxQueue, Socket, TxQueue, Umem};

use super::multibuf::RxEvent;
use super::socket::BindMode;

/// The socket's parts. Field order is drop order: the rings and socket go before the UMEM.
pub(crate) struct XskRsRings {
    tx_q: TxQueue,
    rx_q: RxQueue,
    fill_q: FillQueue,
    comp_q: CompQueue,
    umem: Umem,
    /// Per frame: its descriptors.
    frames: Vec<FrameSlot>,
    scratch: Vec<FrameDesc>,
    frame_size: usize,
}

/// A frame's two descriptors, in one cache line: lending a frame for TX copies the one into
/// the other. Kept in two arrays, the canonical one was a line last read a whole trip of
/// the frame through the rings ago, and the copy missed it once a segment sent: `allocate`
/// took 21-28 ns of the lab server's user time a request, 11-14 with one line
/// (docs/benchmarks.md, "Received frames prefetched together, a frame's descriptors in one
/// line").
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct FrameSlot {
    /// The descriptor last received or prepared for the frame.
    desc: FrameDesc,
    /// Its canonical descriptor (address of the data segment).
    base: FrameDesc,
}

// One line a frame: the two descriptors fit it.
const _: () = assert!(std::mem::size_of::<FrameSlot>() == 64);

fn os_error(e: &dyn std::error::Error, what: &str) -> io::Error {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<io::Error>())
        .and_then(io::Error::raw_os_error)
        .map_or_else(
            || io::Error::new(io::ErrorKind::InvalidInput, what.to_string()),
            io::Error::from_raw_os_error,
        )
}

impl XskRsRings {
    pub(crate) fn open(
        ifname: &str,
        queue: u32,
        frame_size: u32,
        frames: u32,
        ring_size: u32,
        mode: BindMode,
    ) -> io::Result<XskRsRings> {
        let bad = |what: &str| io::Error::new(io::ErrorKind::InvalidInput, what.to_string());
        let ring = QueueSize::new(ring_size).map_err(|_| bad("ring size"))?;
        let umem_config = UmemConfig::builder()
            .frame_size(FrameSize::new(frame_size).map_err(|_| bad("frame size"))?)
            .fill_queue_size(ring)
            .comp_queue_size(ring)
            .build()
            .map_err(|_| bad("UMEM configuration"))?;
        let count = NonZeroU32::new(frames).ok_or_else(|| bad("frame count"))?;
        let (umem, base) =
            Umem::new(umem_config, count, false).map_err(|e| os_error(&e, "UMEM creation"))?;
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
        let name: XskInterface = ifname.parse().map_err(|_| bad("interface name"))?;
        // SAFETY: the UMEM is new and used by this socket only, so no frame is shared with
        // another socket's rings (the aliasing condition of `Socket::new`).
        let (tx_q, rx_q, rings) = unsafe { Socket::new(socket_config, &umem, &name, queue) }
            .map_err(|e| os_error(&e, "socket creation"))?;
        let (fill_q, comp_q) = rings.ok_or_else(|| bad("the UMEM already had its rings"))?;
        Ok(XskRsRings {
            tx_q,
            rx_q,
            fill_q,
            comp_q,
            umem,
            frames: base.into_iter().map(|base| FrameSlot { desc: base, base }).collect(),
            scratch: vec![FrameDesc::default(); ring_size as usize],
            frame_size: frame_size as usize,
        })
    }

    pub(crate) fn fd(&self) -> RawFd {
        self.rx_q.fd().as_raw_fd()
    }

    fn index(&self, desc: &FrameDesc) -> Option<u32> {
        let i = desc.addr() / self.frame_size;
        (i < self.frames.len()).then_some(i as u32)
    }

    pub(crate) fn complete(&mut self, mut f: impl FnMut(Option<u32>)) {
        loop {
            let want = self.scratch.len();
            // SAFETY: the completion ring belongs to this UMEM; descriptors are only written.
            let n = unsafe { self.comp_q.consume(&mut self.scratch[..want]) };
            for k in 0..n {
                f(self.index(&self.scratch[k]));
            }
            if n < want {
                return;
            }
        }
    }

    pub(crate) fn fill_room(&mut self, want: usize) -> usize {
        self.fill_q.nb_free(u32::try_from(want).unwrap_or(u32::MAX)) as usize
    }

    pub(crate) fn fill(&mut self, frames: &[u32]) -> usize {
        let n = frames.len().min(self.scratch.len());
        for (d, &i) in self.scratch.iter_mut().zip(&frames[..n]) {
            *d = self.frames[i as usize].base;
        }
        // SAFETY: every descriptor is the canonical address of a frame of this UMEM that the
        // caller took from its free pool, so no one else reads or writes it until the kernel
        // hands it back on the RX ring.
        unsafe { self.fill_q.produce(&self.scratch[..n]) }
    }

    pub(crate) fn fill_needs_wakeup(&self) -> bool {
        self.fill_q.needs_wakeup()
    }

    pub(crate) fn wake_fill(&mut self) {
        let _ = self.fill_q.wakeup(self.rx_q.fd_mut(), 0);
    }

    pub(crate) fn tx_needs_wakeup(&self) -> bool {
        self.tx_q.needs_wakeup()
    }

    pub(crate) fn wake_tx(&mut self) {
        let _ = self.tx_q.wakeup();
    }

    /// Takes up to `max` descriptors; every frame is a whole packet (this path never binds
    /// with `XDP_USE_SG`, so the kernel never chains descriptors).
    pub(crate) fn receive(&mut self, max: usize, mut f: impl FnMut(RxEvent)) -> usize {
        let max = max.min(self.scratch.len());
        // SAFETY: the RX ring belongs to this UMEM; descriptors are only written.
        let n = unsafe { self.rx_q.consume(&mut self.scratch[..max]) };
        for k in 0..n {
            let desc = self.scratch[k];
            match self.index(&desc) {
                Some(i) => {
                    self.frames[i as usize].desc = desc;
                    f(RxEvent::Packet(i));
                }
                None => f(RxEvent::Bad),
            }
        }
        n
    }

    pub(crate) fn frame(&self, i: usize) -> &[u8] {
        let Some(FrameSlot { desc, .. }) = self.frames.get(i) else { return &[] };
        // SAFETY: the caller only asks for frames lent to it, which are in no kernel ring, so
        // nothing writes them while `&self` is borrowed; the descriptor names a frame of this
        // UMEM.
        unsafe { self.umem.data(desc) }.contents()
    }

    pub(crate) fn frame_mut(&mut self, i: usize) -> &mut [u8] {
        let Some(FrameSlot { desc, .. }) = self.frames.get_mut(i) else { return &mut [] };
        // SAFETY: as in `frame`, and `&mut self` makes this the only access.
        let mut data = unsafe { self.umem.data_mut(desc) };
        let s = data.contents_mut();
        let (ptr, len) = (s.as_mut_ptr(), s.len());
        // SAFETY: the slice lies in the UMEM mapping, which `self.umem` keeps alive for as
        // long as `self`; the frame is lent (no kernel access) and the returned borrow is tied
        // to `&mut self`, so no other reference to it can exist meanwhile.
        unsafe { std::slice::from_raw_parts_mut(ptr, len) }
    }

    pub(crate) fn lend_for_tx(&mut self, i: usize) {
        let Some(slot) = self.frames.get_mut(i) else { return };
        slot.desc = slot.base;
        // SAFETY: the frame was free, so the kernel does not hold it; setting the length to
        // the capacity lends the whole data segment.
        unsafe { self.umem.data_mut(&mut slot.desc) }.cursor().set_pos(usize::MAX);
    }

    pub(crate) fn prepare_tx(&mut self, i: usize, len: usize) {
        let Some(FrameSlot { desc, .. }) = self.frames.get_mut(i) else { return };
        // SAFETY: the frame is the caller's until it is produced on the TX ring.
        unsafe { self.umem.data_mut(desc) }.cursor().set_pos(len);
    }

    pub(crate) fn tx_room(&mut self, want: usize) -> usize {
        self.tx_q.nb_free(u32::try_from(want).unwrap_or(u32::MAX)) as usize
    }

    pub(crate) fn transmit(&mut self, frames: &[u32]) -> usize {
        let n = frames.len().min(self.scratch.len());
        for (d, &i) in self.scratch.iter_mut().zip(&frames[..n]) {
            *d = self.frames[i as usize].desc;
        }
        // SAFETY: every descriptor names a frame the caller handed over for transmission and
        // only this queue holds; the kernel owns it until it shows up on the completion ring.
        unsafe { self.tx_q.produce(&self.scratch[..n]) }
    }
}
