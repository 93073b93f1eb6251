//! A receive batch in two passes, so that the cache misses of a batch's frames overlap.
//!
//! With many connections, a segment's flow-index bucket, its slab slot, its wheel entry and
//! every line of its connection the segment touches are each a cache miss, and handling
//! frames one after the other waits for every miss in turn. The first pass, over a window of
//! frames, reads all of those ahead in steps, each over the whole window: the flow keys and
//! their hashes (only the frames are read), the index probes, then each found connection's
//! lines (`Connection::hot_word`, the lines a cache simulation showed missing) and the chunk
//! line its data is likely to be written to. A step's loads are independent of one another,
//! so the processor has the misses of several frames in flight together; a lookup done whole
//! per frame (hash, then probe) is long enough that it held only one frame's chain at a time.
//! The second pass then handles each frame as [`Stack::receive`] does, finding its lines in
//! cache. The first pass is only a hint: it
//! reads, never changes anything, and a frame it cannot place (not IPv4/TCP, options it does
//! not parse, no connection) is simply left to the second pass. docs/benchmarks.md ("Server
//! at scale, misses overlapped") has the measurements.

use std::hint::black_box;
use std::net::Ipv4Addr;

use super::Stack;
use crate::flow::{FlowHandle, FlowKey};
use crate::time::Instant;

/// Frames looked up ahead of handling: enough to keep several misses in flight, few enough
/// that their lines are still in cache when the second pass comes (a window touches a few
/// lines per frame).
const WINDOW: usize = 16;

impl Stack {
    /// Processes the frames of one RX batch, in order, with the same effect as calling
    /// [`receive`](Self::receive) on each; faster when the frames belong to many connections
    /// (see the [module documentation](self)).
    pub fn receive_batch<'f, I>(&mut self, now: Instant, frames: I)
    where
        I: IntoIterator<Item = &'f [u8]>,
        I::IntoIter: Clone,
    {
        let mut frames = frames.into_iter();
        // A lone frame has nothing to overlap with: the look-ahead would only cost.
        let mut peek = frames.clone();
        if let (Some(frame), None) = (peek.next(), peek.next()) {
            self.receive(now, frame);
            return;
        }
        let mut keys = [None; WINDOW];
        let mut found = [None; WINDOW];
        loop {
            // Steps, each over the whole window, so that each step's misses overlap across
            // frames instead of waiting on the long computation of the step before: the
            // flow keys and their hashes (no memory but the frames), the index probes, then
            // the reads of each found connection's lines. The connection of the last frame
            // handled is tried first (one key compare, no hash): a run of batches of one
            // connection is hashed once. The same handle for the whole window, not each
            // frame's predecessor: chaining them made every lookup wait for the one before.
            let prev = self.rx_hint;
            let mut n = 0;
            for ((key, slot), frame) in keys.iter_mut().zip(found.iter_mut()).zip(frames.clone()) {
                *slot = None;
                *key = None;
                match self.key_of(frame) {
                    Some(k) if prev.is_some_and(|p| self.flows.key(p) == Some(k)) => *slot = prev,
                    Some(k) => *key = Some((k, self.flows.hash(&k))),
                    None => {}
                }
                n += 1;
            }
            for (slot, key) in found[..n].iter_mut().zip(&keys[..n]) {
                if let Some((key, hash)) = key {
                    *slot = self.flows.lookup_hashed(key, *hash);
                }
            }
            for h in found[..n].iter().flatten() {
                self.warm(*h);
            }
            for (hint, frame) in found[..n].iter().zip(frames.by_ref()) {
                // Found connections are not looked up again (`tcp_input` checks the key, and
                // leaves the frame's connection as the hint for the next one).
                self.rx_hint = *hint;
                self.receive(now, frame);
            }
            if n < WINDOW {
                return;
            }
        }
    }

    /// The flow key of `frame`, if it is an IPv4 TCP segment.
    fn key_of(&self, frame: &[u8]) -> Option<FlowKey> {
        let link = self.iface.caps().medium.header_len();
        frame.get(link..).and_then(|ip| tcp_flow_of(ip, link != 0, frame))
    }

    /// Reads every line of `h`'s connection and socket record its segment will touch, and
    /// the first line of its send queue's first chunk.
    fn warm(&self, h: FlowHandle) {
        // Key and socket from one slot check; the wheel entry unchecked (a hint: a stale
        // timer handle reads another entry, which is harmless).
        if let Some((key, s)) = self.flows.get_keyed(h) {
            // The socket record and the connection's wheel entry (settle reads both), each
            // line of it that settle touches.
            let record = u64::from(s.in_tx) ^ self.wheel.warm_word(s.timer);
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

/// The flow key of an IPv4 packet `ip` carrying a TCP segment, from our side (its destination
/// is local), read from fixed offsets without validating the headers: a wrong key only means
/// a useless lookup. `ethernet`: `ip` follows the Ethernet header of `frame`, whose EtherType
/// must say IPv4 (a VLAN-tagged frame is left to the second pass).
fn tcp_flow_of(ip: &[u8], ethernet: bool, frame: &[u8]) -> Option<FlowKey> {
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
    Some(FlowKey {
        local_ip: Ipv4Addr::from(word(16)),
        local_port: ports as u16,
        remote_ip: Ipv4Addr::from(word(12)),
        remote_port: (ports >> 16) as u16,
    })
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
        let key = tcp_flow_of(&f[14..], true, &f).expect("a TCP frame");
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
