//! A receive batch handled a window of frames at a time, with each window's cache misses
//! taken ahead of its handling, together, so that they overlap.
//!
//! With many connections, a segment's flow-index bucket, its slab slot, its wheel entry and
//! every line of its connection the segment touches are each a cache miss, and handling
//! frames one after the other waits for every miss in turn. So a window of frames is looked
//! up ahead in steps, each over the whole window: the flow keys and their hashes (only the
//! frames are read), the index probes, then each found connection's lines
//! (`Connection::hot_word`, the lines a cache simulation showed missing), its socket record,
//! its wheel entry and the chunk line its data is likely to be written to. A step's loads are
//! independent of one another, so the processor has the misses of several frames in flight
//! together; a lookup done whole per frame (hash, then probe) is long enough that it held
//! only one frame's chain at a time. Then each frame of the window is handled as
//! [`Stack::receive`] does, finding its lines in cache.
//!
//! Read ahead with plain loads, a window's misses are waited for before it is handled, and
//! nothing overlaps them. With a prefetch from the driver ([`StackConfig::prefetch`]), the
//! batch goes in stages instead: while window k is handled, window k + 2 has been looked up
//! and its slots and connections' lines prefetched, and window k + 1's wheel entries and
//! chunks (found through those lines, prefetched a window before) are prefetched in turn.
//! Only with enough connections held ([`StackConfig::prefetch_from`], [`staged_from`]): while
//! their lines fit in the core's caches, the loads are waited for briefly and the stages'
//! prefetches are pure cost.
//!
//! A frame to a listening port that echoes a TSecr in the common option layout names its
//! slot without the index: connections a listener opened carry it in their TSvals
//! (`super::ts_slot`), and the probe it spares was the look-ahead's longest wait at 100,000
//! connections (docs/benchmarks.md, "The slot in the timestamp"). A frame to another port
//! names the slot of the last active open from that port (`super::port_slot`), which spares
//! a client the hash and the probe alike.
//!
//! The look-ahead is only a hint: it reads, never changes anything, and a frame it cannot
//! place (not IPv4/TCP, options it does not parse, no connection, or a connection that a
//! frame handled in between closed or opened) is simply looked up again when handled.
//! docs/benchmarks.md ("Server at scale, misses overlapped", "The staged look-ahead") has the
//! measurements.
//!
//! [`StackConfig::prefetch`]: super::StackConfig::prefetch
//! [`StackConfig::prefetch_from`]: super::StackConfig::prefetch_from

use std::hint::black_box;
use std::net::Ipv4Addr;

use super::Stack;
use crate::flow::{FlowHint, FlowKey};
use crate::time::Instant;

/// Starts fetching a run of cache lines, the given number of them from an address on, and
/// returns at once, without reading them, whatever the address (a prefetch never faults).
/// The stack has no `unsafe`, so a driver supplies it
/// ([`StackConfig::prefetch`](super::StackConfig::prefetch)). A run, not a line: a
/// connection's seven hot lines issued back to back from one call beat seven calls at
/// N = 100,000 (docs/benchmarks.md, "A connection's hot lines in one prefetch call").
pub type Prefetch = fn(*const u8, usize);

/// Lines a segment's look-ahead fetches for its connection: its slot, the wheel entry (about
/// one line) and the chunk line.
const LOOK_AHEAD_LINES: usize = SLOT_LINES + 2;

/// The connections held from which a batch should go in stages, on a core whose L2 cache
/// holds `l2_bytes` ([`StackConfig::prefetch_from`]): where the lines their segments read
/// ahead come to twice the L2, so that most of them miss it. Measured on a 1 MiB L2 (3,276
/// here), the loads and the stages were level between 2,000 and 5,000 connections
/// (docs/benchmarks.md, "Stages only where the lines miss").
///
/// [`StackConfig::prefetch_from`]: super::StackConfig::prefetch_from
pub const fn staged_from(l2_bytes: usize) -> usize {
    2 * l2_bytes / (LOOK_AHEAD_LINES * 64)
}

/// The lines of a connection's slot: the socket, which is the connection's hot lines (its
/// cold parts are boxed, `tcp::cold`) and the socket's record line, all of which a segment
/// touches, so [`Prefetch`] takes the slot as one run. Whole lines: the build checks it.
const SLOT_LINES: usize = {
    let bytes = core::mem::size_of::<super::socket::Socket>();
    assert!(bytes.is_multiple_of(64), "a slot is whole lines");
    bytes / 64
};

/// Frames looked up ahead of handling: enough to keep several misses in flight, few enough
/// that their lines are still in cache when the window is handled (a window touches a few
/// lines per frame).
const WINDOW: usize = 16;

/// Bytes of an Ethernet header without a VLAN tag.
const ETHERNET: usize = 14;

/// One window's frames, looked up: the slot of each one's connection as its hash found it,
/// the key unchecked (`None`: left to `receive`).
type Window = [Option<FlowHint>; WINDOW];

impl Stack {
    /// Processes the frames of one RX batch, in order, with the same effect as calling
    /// [`receive`](Self::receive) on each; faster when the frames belong to many connections
    /// (see the [module documentation](self)).
    pub fn receive_batch<'f, I>(&mut self, now: Instant, frames: I)
    where
        I: IntoIterator<Item = &'f [u8]>,
        I::IntoIter: Clone,
    {
        let frames = frames.into_iter();
        // A lone frame has nothing to overlap with: the look-ahead would only cost. Nor has
        // an empty batch, a busy-polling driver's most common one.
        let mut peek = frames.clone();
        match (peek.next(), peek.next()) {
            (None, _) => return,
            (Some(frame), None) => return self.receive(now, frame),
            _ => {}
        }
        match self.prefetch {
            Some(prefetch) if self.flows.len() >= self.prefetch_from => {
                self.receive_staged(now, frames, prefetch)
            }
            _ => self.receive_windows(now, frames),
        }
    }

    /// Each window looked up and read ahead with loads, then handled.
    fn receive_windows<'f>(
        &mut self,
        now: Instant,
        mut frames: impl Iterator<Item = &'f [u8]> + Clone,
    ) {
        let mut window = [None; WINDOW];
        loop {
            let n = self.look_up(now, &mut frames.clone(), &mut window);
            for h in read_ahead(&window[..n]).iter().flatten() {
                self.warm(*h);
            }
            self.handle(now, &window[..n], &mut frames);
            if n < WINDOW {
                return;
            }
        }
    }

    /// Windows in three stages: looked up and their lines prefetched two windows ahead, the
    /// lines found through those prefetched one window ahead, handled.
    fn receive_staged<'f>(
        &mut self,
        now: Instant,
        mut frames: impl Iterator<Item = &'f [u8]> + Clone,
        prefetch: Prefetch,
    ) {
        let mut ahead = frames.clone();
        let mut windows = [[None; WINDOW]; 3];
        let mut len = [0; 3];
        // Fill the stages: windows 0 and 1 looked up and their slots prefetched, window 0's
        // lines behind them too.
        len[0] = self.look_up(now, &mut ahead, &mut windows[0]);
        self.prefetch_slots(&windows[0][..len[0]], prefetch);
        if len[0] == WINDOW {
            len[1] = self.look_up(now, &mut ahead, &mut windows[1]);
            self.prefetch_slots(&windows[1][..len[1]], prefetch);
        }
        self.prefetch_behind(&windows[0][..len[0]], prefetch);
        for k in 0.. {
            let (current, next, far) = (k % 3, (k + 1) % 3, (k + 2) % 3);
            len[far] = 0;
            if len[next] == WINDOW {
                len[far] = self.look_up(now, &mut ahead, &mut windows[far]);
                self.prefetch_slots(&windows[far][..len[far]], prefetch);
            }
            self.prefetch_behind(&windows[next][..len[next]], prefetch);
            self.handle(now, &windows[current][..len[current]], &mut frames);
            if len[current] < WINDOW || len[next] == 0 {
                return;
            }
        }
    }

    /// Handles the next `found.len()` frames, each with the connection now in its looked-up
    /// slot as the hint: found by the hash alone, it may be another key's, and
    /// `segment_input` (like the IPv6 path) compares its key with the segment's before using
    /// it, looks the segment up again if they differ, and leaves the frame's connection as the
    /// hint for the next one. The slot's generation is read here, from the line prefetched
    /// with the slot, rather than kept in the index.
    fn handle<'f>(
        &mut self,
        now: Instant,
        found: &[Option<FlowHint>],
        frames: &mut impl Iterator<Item = &'f [u8]>,
    ) {
        for (hint, frame) in found.iter().zip(frames) {
            self.rx_hint = hint.and_then(|h| self.flows.hinted(h));
            self.receive(now, frame);
        }
    }

    /// The slots the look-ahead names for up to a window of `frames` (each frame's slot
    /// number, or `None`), without receiving them: for tests of how it finds them.
    #[doc(hidden)]
    pub fn look_ahead_slots<'f>(
        &self,
        now: Instant,
        frames: impl IntoIterator<Item = &'f [u8]>,
    ) -> Vec<Option<usize>> {
        let mut window = [None; WINDOW];
        let n = self.look_up(now, &mut frames.into_iter(), &mut window);
        window[..n].iter().map(|h| h.map(|h| h.index())).collect()
    }

    /// Looks up the next window of frames (as many as there are, up to [`WINDOW`]) in steps,
    /// each over the whole window: the flow keys and their hashes (no memory but the frames),
    /// then the index probes. A probe trusts a match of the 32-bit hash and reads no slot, so
    /// that none waits for a slot's line to compare the key (`handle` has it compared, once
    /// the line is in). The connection of the last frame handled is tried first (one key
    /// compare, no hash): a run of batches of one connection is hashed once. The same handle
    /// for the whole window, not each frame's predecessor: chaining them made every lookup
    /// wait for the one before. A frame to a listening port with the timestamps' common
    /// layout is named by its echo instead (`super::ts_slot`), and one to an active open's
    /// port by that port (`super::port_slot`), no hash and no index read. Returns how many
    /// frames it took.
    fn look_up<'f>(
        &self,
        now: Instant,
        frames: &mut impl Iterator<Item = &'f [u8]>,
        found: &mut Window,
    ) -> usize {
        let prev = self.rx_hint;
        let now_ms = now.total_millis() as u32;
        // The common layout's fixed offsets are an Ethernet frame's.
        let ethernet = self.iface.caps().medium.header_len() == ETHERNET;
        // Read once a window, not once a frame (about 4 instructions a frame on a server).
        let tags = self.slot_tags;
        let mut hashes = [None; WINDOW];
        let mut n = 0;
        for ((hash, slot), frame) in hashes.iter_mut().zip(found.iter_mut()).zip(frames) {
            *hash = None;
            *slot = None;
            n += 1;
            // A frame of the common layout has its echo read here, once: the general way
            // below would read the same header again.
            let common = ethernet.then(|| common_tcp_header(frame)).flatten();
            if let Some(header) = common {
                *slot = self.named_by_header(header, tags, now_ms);
                if slot.is_some() {
                    continue;
                }
            }
            match self.key_of(frame) {
                Some((k, _)) if prev.is_some_and(|p| self.flows.key(p) == Some(k)) => {
                    *slot = prev.map(|p| p.hint());
                }
                Some((k, tcp)) => {
                    if common.is_none() {
                        let header = tcp.first_chunk();
                        *slot = header.and_then(|h| self.named_by_header(h, tags, now_ms));
                    }
                    if slot.is_none() {
                        *hash = Some(self.flows.hash(&k));
                    }
                }
                None => {}
            }
        }
        for (slot, hash) in found[..n].iter_mut().zip(&hashes[..n]) {
            if let Some(hash) = hash {
                *slot = self.flows.hint_hashed(*hash);
            }
        }
        n
    }

    /// Prefetches each found connection's slot, one run of [`SLOT_LINES`], from the slot's
    /// address alone.
    fn prefetch_slots(&self, found: &[Option<FlowHint>], prefetch: Prefetch) {
        for h in read_ahead(found).iter().flatten() {
            if let Some(slot) = self.flows.slot_addr(*h) {
                prefetch(slot, SLOT_LINES);
            }
        }
    }

    /// Prefetches what each found connection leads to: its wheel entry (one line: entries
    /// are 32 bytes, aligned) and the first line of its send queue's first chunk
    /// ([`warm`](Self::warm) says why that one). Reads the socket record and the connection
    /// line that name them, prefetched a window before.
    ///
    /// The entry is fetched for every segment although settling reads it only when it moves
    /// (the socket holds its deadline, `LazyEntry`): at 100,000 connections a sixth of the
    /// segments move theirs, one round trip's deadline overtaking the last, and a move
    /// that found the entry unfetched cost more than the fetches; fetching only the entries
    /// whose deadline falls within the connection's horizon read the round-trip estimate in
    /// this pass and measured no better (docs/benchmarks.md, "The wheel entry out of the
    /// segment's way").
    fn prefetch_behind(&self, found: &[Option<FlowHint>], prefetch: Prefetch) {
        for h in read_ahead(found).iter().flatten() {
            if let Some((_, s)) = self.flows.get_hinted(*h) {
                if let Some(entry) = self.wheel.entry_addr(&s.timer) {
                    prefetch(entry, 1);
                }
                if let Some(chunk) = self.buffers.chunk_addr(s.conn.send_head_chunk()) {
                    prefetch(chunk, 1);
                }
            }
        }
    }

    /// The slot the first 32 bytes of a TCP segment name without the index: to a listening
    /// port, by the TSecr it echoes (`super::ts_slot`: connections a listener opened carry it
    /// in their TSvals), if its options are the timestamp block, there are `tags` (the
    /// table's, `None` for a table too large to tag) and the echo names a slot of the table;
    /// to any other port, the slot of the last active open from that port
    /// (`super::port_slot`). Only a hint, as the index's: the key is compared when the frame
    /// is handled.
    #[inline]
    fn named_by_header(
        &self,
        header: &[u8; 32],
        tags: Option<super::ts_slot::SlotTags>,
        now_ms: u32,
    ) -> Option<FlowHint> {
        let port = u16::from_be_bytes([header[2], header[3]]);
        if !self.listening.has(port) {
            return self.flows.hint_at(self.active_ports.get(port)?);
        }
        let tsecr = crate::wire::tcp_common::echoed_timestamp(header)?;
        self.flows.hint_at(tags?.slot(tsecr, now_ms))
    }

    /// The flow key of `frame`, if it is an IPv4 TCP segment, and its TCP header.
    fn key_of<'f>(&self, frame: &'f [u8]) -> Option<(FlowKey, &'f [u8])> {
        let link = self.iface.caps().medium.header_len();
        frame.get(link..).and_then(|ip| tcp_flow_of(ip, link != 0, frame))
    }

    /// Reads every line of `h`'s connection and socket record its segment will touch, and
    /// the first line of its send queue's first chunk.
    fn warm(&self, h: FlowHint) {
        // Key and socket from one slot check.
        if let Some((key, s)) = self.flows.get_hinted(h) {
            // The socket record (settle reads it, with the wheel entry's deadline in it), and
            // the entry, which a sixth of the segments move at 100,000 connections
            // (`prefetch_behind`).
            let record = u64::from(s.in_tx) ^ self.wheel.warm_word(&s.timer);
            // A request that acknowledges the last response frees that chunk, and its own
            // data is written to the chunk's start (`Connection::send_head_chunk`): a line
            // last touched a whole round ago, whose write waited for it in the second pass
            // (one write miss a frame, the last miss outside this pass; docs/benchmarks.md,
            // "The chunk a request is written to").
            let chunk = self.buffers.warm_word(s.conn.send_head_chunk());
            black_box(s.conn.hot_word() ^ record ^ u64::from(key.remote_port) ^ chunk);
        }
    }
}

/// The found connections of a window to read ahead: the first alone when every frame of
/// the window is that connection's, all of them otherwise. Reading ahead is for a
/// connection's lines, which the first read brings in for the rest, and a bulk transfer's
/// batch is one connection's frames: the look-ahead read the same lines again for each
/// (docs/benchmarks.md, "A connection's lines read ahead once a window"). Whole windows, not
/// runs within one: a window of many connections' frames (request/response traffic) stops at
/// its second frame, where skipping each run's repeats took a compare a frame, about 8
/// instructions a frame on `load_count`'s rr.
#[inline(always)]
fn read_ahead(found: &[Option<FlowHint>]) -> &[Option<FlowHint>] {
    match found.split_first() {
        Some((first, rest)) if rest.iter().all(|h| h == first) => &found[..1],
        _ => found,
    }
}

/// The first 32 bytes of `frame`'s TCP header, found at fixed offsets after one length
/// check, if the frame has the layout of every segment of an established connection with
/// timestamps: Ethernet, IPv4 without options, TCP whose options are exactly the timestamp
/// block (`named_by_header` checks the last, where it reads the echo). Builds no key (what
/// the header names is a hint; `handle` has the key compared once the slot's line is in):
/// at 100,000 connections the general way, the key and then the echo, cost about 150
/// instructions a frame. `None` for any other frame, which `look_up` takes the general way.
#[inline]
fn common_tcp_header(frame: &[u8]) -> Option<&[u8; 32]> {
    const IP: usize = ETHERNET;
    const TCP: usize = IP + 20;
    let f: &[u8; TCP + 32] = frame.get(..TCP + 32)?.try_into().ok()?;
    // IPv4 (ethertype 0x0800), version 4 with a 20-byte header, protocol TCP.
    if f[12..14] != [0x08, 0x00] || f[IP] != 0x45 || f[IP + 9] != 6 {
        return None;
    }
    f.last_chunk()
}

/// The flow key of an IPv4 packet `ip` carrying a TCP segment, from our side (its destination
/// is local), read from fixed offsets without validating the headers: a wrong key only means
/// a useless lookup. `ethernet`: `ip` follows the Ethernet header of `frame`, whose EtherType
/// must say IPv4 (a VLAN-tagged frame is left to the second pass).
fn tcp_flow_of<'f>(ip: &'f [u8], ethernet: bool, frame: &[u8]) -> Option<(FlowKey, &'f [u8])> {
    if ethernet && frame.get(12..14)? != [0x08, 0x00] {
        return None;
    }
    let header: &[u8; 20] = ip.get(..20)?.try_into().ok()?;
    if header[0] >> 4 != 4 || header[9] != 6 {
        return None;
    }
    let ihl = usize::from(header[0] & 0x0f) * 4;
    let ports: [u8; 4] = ip.get(ihl..ihl + 4)?.try_into().ok()?;
    // Whole words, not bytes: an address is one load (and a byte swap).
    let word = |at: usize| {
        u32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
    };
    let ports = u32::from_be_bytes(ports);
    let key = FlowKey {
        local_ip: Ipv4Addr::from(word(16)),
        local_port: ports as u16,
        remote_ip: Ipv4Addr::from(word(12)),
        remote_port: (ports >> 16) as u16,
    };
    Some((key, &ip[ihl..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flow_of_a_tcp_frame_is_read_from_our_side() {
        let mut f = [0u8; 14 + 24 + 20];
        f[12] = 0x08;
        f[14] = 0x46; // IPv4, 24-byte header (one option word)
        f[14 + 9] = 6;
        f[26..30].copy_from_slice(&[198, 18, 0, 2]);
        f[30..34].copy_from_slice(&[198, 18, 0, 1]);
        f[38..40].copy_from_slice(&40000u16.to_be_bytes());
        f[40..42].copy_from_slice(&80u16.to_be_bytes());
        let (key, _) = tcp_flow_of(&f[14..], true, &f).expect("a TCP frame");
        assert_eq!(key.local_ip, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(key.remote_ip, Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!((key.local_port, key.remote_port), (80, 40000));
        f[14 + 9] = 17;
        assert_eq!(tcp_flow_of(&f[14..], true, &f), None, "UDP is not looked up");
        f[14 + 9] = 6;
        assert!(tcp_flow_of(&f[14..], false, &f).is_some(), "a raw IP packet");
        f[13] = 0x06;
        assert_eq!(tcp_flow_of(&f[14..], true, &f), None, "ARP is not looked up");
        assert_eq!(tcp_flow_of(&f[14..36], false, &f), None, "a short packet is left alone");
    }
}
