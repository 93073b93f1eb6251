//! Multi-buffer AF_XDP (`Documentation/networking/af_xdp.rst`, "Multi-Buffer Support"):
//! frames larger than one UMEM chunk, for jumbo MTUs.
//!
//! A UMEM chunk is at most a page (2 or 4 KiB here), and the kernel puts at most one chunk's
//! worth in one descriptor, so a 9014-byte Ethernet frame spans three 4 KiB chunks. With
//! `XDP_USE_SG` on the socket the kernel then hands it over as a chain of descriptors, every
//! one but the last flagged `XDP_PKT_CONTD`, and accepts such chains for transmission.
//!
//! The stack parses and builds contiguous frames, so the device groups `chunks` consecutive
//! UMEM chunks into one *frame* ([`FrameGeometry`]):
//!
//! - **RX**: only a frame's first chunk goes to the fill ring. When a packet arrives as a
//!   chain, the later parts (each in some other frame's first chunk) are copied right behind
//!   the first part, into the unused chunks of its frame: one copy of the tail bytes, counted
//!   in [`XdpStats::rx_gathered_bytes`](super::XdpStats::rx_gathered_bytes). A chain longer
//!   than a frame is dropped and counted.
//! - **TX**: a frame's chunks are contiguous in memory, so a segment is written in place and
//!   goes out as one descriptor per chunk it touches ([`FrameGeometry::tx_pieces`]): no copy.
//! - **Completion**: the kernel completes every descriptor of a chain; the frame is free once
//!   its first chunk's descriptor comes back, and the others are skipped.

/// An RX descriptor's outcome for the device's frame accounting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RxEvent {
    /// Frame `i` holds one whole received packet: lend it to the caller.
    Packet(u32),
    /// Frame `i` held a later part of a chained packet, now copied into the chain's first
    /// frame; it is free again.
    Absorbed(u32),
    /// Frame `i` held the start of a chain longer than a frame: dropped, free again.
    Oversized(u32),
    /// The descriptor named no frame of ours (counted, never touched).
    Bad,
}

/// Counters of multi-buffer reception.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct GatherStats {
    /// Packets that arrived as descriptor chains and were gathered into one frame.
    pub packets: u64,
    /// Bytes copied to gather them (every part after the first).
    pub bytes: u64,
    /// Chains longer than a frame (or cut by a descriptor not ours), dropped.
    pub oversized: u64,
}

/// Where the parts of received packets go: the device's frames and UMEM, for the descriptor
/// at hand.
pub(crate) trait Parts {
    /// Frame `frame` holds the first part of a packet: the descriptor's data, where it lies.
    fn first(&mut self, frame: u32);
    /// Copies the descriptor's data right behind what frame `head` holds: the bytes copied,
    /// or `None` (nothing copied) when they do not fit in the frame.
    fn append(&mut self, head: u32) -> Option<u32>;
}

/// Reassembly of descriptor chains: which frame holds the chain being received (it may
/// continue in the next RX batch) and whether its parts all fit so far.
#[derive(Debug, Default)]
pub(crate) struct Chains {
    open: Option<(u32, bool)>,
    stats: GatherStats,
}

impl Chains {
    /// The counters.
    pub(crate) fn stats(&self) -> GatherStats {
        self.stats
    }

    /// One RX descriptor: `frame` is the frame whose first chunk it names (`None`: not one
    /// of ours), `more` its `XDP_PKT_CONTD`. Reports each frame's outcome to `emit`.
    pub(crate) fn step(
        &mut self,
        frame: Option<u32>,
        more: bool,
        parts: &mut impl Parts,
        emit: &mut impl FnMut(RxEvent),
    ) {
        let Some(i) = frame else {
            // Not ours: the chain it belonged to cannot be completed either.
            if let Some((head, _)) = self.open.take() {
                self.stats.oversized += 1;
                emit(RxEvent::Oversized(head));
            }
            emit(RxEvent::Bad);
            return;
        };
        let Some((head, fits)) = self.open.take() else {
            parts.first(i);
            if more {
                self.open = Some((i, true));
            } else {
                emit(RxEvent::Packet(i));
            }
            return;
        };
        // Once a part did not fit, the rest of the chain is not copied either.
        let copied = if fits { parts.append(head) } else { None };
        if let Some(n) = copied {
            self.stats.bytes += u64::from(n);
        }
        let fits = copied.is_some();
        emit(RxEvent::Absorbed(i));
        if more {
            self.open = Some((head, fits));
        } else if fits {
            self.stats.packets += 1;
            emit(RxEvent::Packet(head));
        } else {
            self.stats.oversized += 1;
            emit(RxEvent::Oversized(head));
        }
    }
}

/// Largest MTU the device accepts: 9216, the biggest jumbo MTU common NICs and switches take
/// (a frame plus headroom then spans at most three 4 KiB or five 2 KiB chunks).
pub const MAX_MTU: usize = 9216;

/// How UMEM chunks make up the device's frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameGeometry {
    /// Bytes per UMEM chunk (the kernel's unit, `chunk_size` of `XDP_UMEM_REG`).
    pub chunk: u32,
    /// Consecutive chunks per frame: 1 unless the MTU needs more (multi-buffer).
    pub chunks: u32,
    /// Headroom in front of the data in a frame's first chunk (`XDP_PACKET_HEADROOM`).
    pub headroom: u32,
}

impl FrameGeometry {
    /// The fewest chunks of `chunk` bytes that hold an Ethernet frame of `mtu` after
    /// `headroom` bytes.
    pub fn for_mtu(mtu: usize, chunk: u32, headroom: u32) -> FrameGeometry {
        let need = mtu + 14 + headroom as usize;
        let chunks = need.div_ceil(chunk as usize).max(1) as u32;
        FrameGeometry { chunk, chunks, headroom }
    }

    /// Whether frames span several chunks (the socket needs `XDP_USE_SG`).
    pub fn multi_buffer(self) -> bool {
        self.chunks > 1
    }

    /// Bytes of UMEM per frame.
    pub fn span(self) -> u64 {
        u64::from(self.chunk) * u64::from(self.chunks)
    }

    /// Bytes of frame data a frame holds (everything after the headroom).
    pub fn capacity(self) -> u32 {
        self.chunk * self.chunks - self.headroom
    }

    /// UMEM offset of frame `i`'s first chunk.
    pub fn base(self, i: u32) -> u64 {
        u64::from(i) * self.span()
    }

    /// The frame whose first chunk holds UMEM address `addr`, or `None` when `addr` is in
    /// another chunk of a frame (a chain's later TX descriptor) or past `frames`.
    pub fn head_of(self, addr: u64, frames: u32) -> Option<u32> {
        let chunk = addr / u64::from(self.chunk);
        let frame = chunk / u64::from(self.chunks);
        (chunk.is_multiple_of(u64::from(self.chunks)) && frame < u64::from(frames))
            .then_some(frame as u32)
    }

    /// Whether `len` bytes at `addr` stay within the chunk that holds `addr` (the kernel
    /// never writes across a chunk's end; a descriptor that claims to is not trusted).
    pub fn within_chunk(self, addr: u64, len: u32) -> bool {
        let end = (addr / u64::from(self.chunk) + 1) * u64::from(self.chunk);
        addr + u64::from(len) <= end
    }

    /// The TX descriptors for `len` bytes at UMEM address `addr`: split at every chunk end,
    /// each but the last flagged `XDP_PKT_CONTD`. Returns how many were written to `out`
    /// (0 when `out` is too short: nothing partial is ever produced).
    pub fn tx_pieces(self, addr: u64, len: u32, out: &mut [libc::xdp_desc]) -> usize {
        let chunk = u64::from(self.chunk);
        let mut at = addr;
        let end = addr + u64::from(len);
        let mut n = 0;
        loop {
            let piece_end = ((at / chunk + 1) * chunk).min(end);
            let Some(d) = out.get_mut(n) else { return 0 };
            let more = piece_end < end;
            *d = libc::xdp_desc {
                addr: at,
                len: (piece_end - at) as u32,
                options: if more { libc::XDP_PKT_CONTD } else { 0 },
            };
            n += 1;
            if !more {
                return n;
            }
            at = piece_end;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Frames as byte vectors of `cap` bytes at most; `data` is the descriptor at hand.
    struct Frames {
        frames: Vec<Vec<u8>>,
        cap: usize,
        data: Vec<u8>,
    }

    impl Parts for Frames {
        fn first(&mut self, frame: u32) {
            self.frames[frame as usize] = self.data.clone();
        }
        fn append(&mut self, head: u32) -> Option<u32> {
            let f = &mut self.frames[head as usize];
            (f.len() + self.data.len() <= self.cap).then(|| {
                f.extend_from_slice(&self.data);
                self.data.len() as u32
            })
        }
    }

    /// Feeds `(frame, more, data)` descriptors; returns the events.
    fn feed(c: &mut Chains, m: &mut Frames, descs: &[(Option<u32>, bool, &[u8])]) -> Vec<RxEvent> {
        let mut out = Vec::new();
        for &(frame, more, data) in descs {
            m.data = data.to_vec();
            c.step(frame, more, m, &mut |e| out.push(e));
        }
        out
    }

    #[test]
    fn chains_gather_into_their_first_frame_across_batches() {
        use RxEvent::*;
        let mut m = Frames { frames: vec![Vec::new(); 8], cap: 10, data: Vec::new() };
        let mut c = Chains::default();
        // A single-buffer packet, then a chain of three whose last part comes in the next
        // batch (a separate `feed`).
        let e = feed(&mut c, &mut m, &[(Some(0), false, b"ab"), (Some(1), true, b"cde")]);
        assert_eq!(e, [Packet(0)]);
        let e = feed(&mut c, &mut m, &[(Some(2), true, b"fg"), (Some(3), false, b"hij")]);
        assert_eq!(e, [Absorbed(2), Absorbed(3), Packet(1)]);
        assert_eq!(m.frames[1], b"cdefghij");
        assert_eq!(c.stats(), GatherStats { packets: 1, bytes: 5, oversized: 0 });
    }

    #[test]
    fn chains_too_long_or_cut_are_dropped_and_every_frame_comes_back() {
        use RxEvent::*;
        let mut m = Frames { frames: vec![Vec::new(); 8], cap: 10, data: Vec::new() };
        let mut c = Chains::default();
        // 4 + 4 + 4 > 10: the third part does not fit; the chain still runs to its end.
        let long: [(Option<u32>, bool, &[u8]); 4] = [
            (Some(0), true, b"aaaa"),
            (Some(1), true, b"bbbb"),
            (Some(2), true, b"cccc"),
            (Some(3), false, b"d"),
        ];
        let e = feed(&mut c, &mut m, &long);
        assert_eq!(e, [Absorbed(1), Absorbed(2), Absorbed(3), Oversized(0)]);
        // A descriptor not ours in the middle of a chain ends it.
        let e = feed(&mut c, &mut m, &[(Some(4), true, b"x"), (None, false, b"y")]);
        assert_eq!(e, [Oversized(4), Bad]);
        // The next packet starts afresh.
        let e = feed(&mut c, &mut m, &[(Some(5), false, b"z")]);
        assert_eq!(e, [Packet(5)]);
        assert_eq!(c.stats(), GatherStats { packets: 0, bytes: 4, oversized: 2 });
    }

    const HR: u32 = 256;

    #[test]
    fn chunks_per_frame_follow_the_mtu() {
        assert_eq!(FrameGeometry::for_mtu(1500, 2048, HR).chunks, 1);
        assert_eq!(FrameGeometry::for_mtu(3826, 4096, HR).chunks, 1);
        assert_eq!(FrameGeometry::for_mtu(3827, 4096, HR).chunks, 2);
        let g = FrameGeometry::for_mtu(9000, 4096, HR);
        assert_eq!(g.chunks, 3);
        assert!(g.capacity() as usize >= 9014);
        assert_eq!(FrameGeometry::for_mtu(9000, 2048, HR).chunks, 5);
        assert_eq!(FrameGeometry::for_mtu(MAX_MTU, 4096, HR).chunks, 3);
    }

    #[test]
    fn only_first_chunks_name_frames() {
        let g = FrameGeometry::for_mtu(9000, 4096, HR);
        assert_eq!(g.head_of(0, 10), Some(0));
        assert_eq!(g.head_of(256, 10), Some(0));
        assert_eq!(g.head_of(4096, 10), None);
        assert_eq!(g.head_of(2 * 4096 + 7, 10), None);
        assert_eq!(g.head_of(3 * 4096 + 256, 10), Some(1));
        assert_eq!(g.head_of(30 * 4096, 10), None, "past the UMEM");
        assert!(g.within_chunk(256, 3840));
        assert!(!g.within_chunk(256, 3841));
    }

    #[test]
    fn tx_pieces_split_at_chunk_ends() {
        let g = FrameGeometry::for_mtu(9000, 4096, HR);
        let z = libc::xdp_desc { addr: 0, len: 0, options: 0 };
        let mut out = [z; 4];
        let base = g.base(2) + u64::from(HR);
        assert_eq!(g.tx_pieces(base, 9014, &mut out), 3);
        let lens: Vec<u32> = out[..3].iter().map(|d| d.len).collect();
        assert_eq!(lens, [3840, 4096, 9014 - 3840 - 4096]);
        assert_eq!(out[1].addr, g.base(2) + 4096);
        let opts: Vec<u32> = out[..3].iter().map(|d| d.options).collect();
        assert_eq!(opts, [libc::XDP_PKT_CONTD, libc::XDP_PKT_CONTD, 0]);
        // A small frame is one descriptor; exactly one chunk's room is still one.
        assert_eq!(g.tx_pieces(base, 60, &mut out), 1);
        assert_eq!(out[0].options, 0);
        assert_eq!(g.tx_pieces(base, 3840, &mut out), 1);
        // Too little room: nothing.
        assert_eq!(g.tx_pieces(base, 9014, &mut out[..2]), 0);
    }
}
