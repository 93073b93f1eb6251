//! A device wrapper that impairs traffic: seeded loss, delay with jitter, reordering,
//! duplication and bit corruption, independently on the receive and the transmit path.
//!
//! The kernel here has no netem, and nftables can only drop; delay, reordering and duplication
//! for tests against real peers therefore come from this wrapper. What happens to each frame
//! is decided by the workspace's one impairment model, [`xdptcp_stack::impair`], which the
//! simulator's links use too: it reads no clock (every decision is made at the `now` passed
//! in, so it runs the same in virtual time and in the lab) and draws from a SplitMix64
//! generator seeded by the caller, so one seed always gives the same drops, delays and
//! corruptions. This file only holds the frames back and hands them on when due.
//!
//! Frames held back are copied into the wrapper's own preallocated pool and released from a
//! delay line ordered by due time (ties keep arrival order). If that pool is exhausted the
//! frame is dropped and counted as `overflow`, never allocated for.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use xdptcp_stack::iface::DeviceCaps;
use xdptcp_stack::impair::{ImpairStats, Impairer};
use xdptcp_stack::rng::SplitMix64;
use xdptcp_stack::time::Instant;

use crate::device::{Device, FrameId, FrameList};
use crate::pool::{FrameState, HeapFrames};

/// The impairments of one direction: the workspace's one model, shared with the simulator.
pub use xdptcp_stack::impair::Impairments;

/// What the wrapper does, per direction, and its seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FaultConfig {
    /// Applied to frames the inner device receives, before the caller sees them.
    pub rx: Impairments,
    /// Applied to frames the caller transmits, before the inner device sends them.
    pub tx: Impairments,
    /// Seed of the receive path's generator; the transmit path's is derived from it.
    pub seed: u64,
    /// Frames in the wrapper's own pool (RX copies, TX buffers, the delay lines).
    pub frames: u32,
}

impl Default for FaultConfig {
    fn default() -> Self {
        FaultConfig { rx: Impairments::NONE, tx: Impairments::NONE, seed: 0, frames: 1024 }
    }
}

/// Counts for one direction: the model's, and the device's own. Every frame that arrived is
/// in `impaired.seen` or (the pool had no room to copy it) in `overflow`, and
/// `impaired.seen - impaired.dropped + impaired.duplicated - overflow == released + held`
/// once the RX overflows are set apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultStats {
    /// What the impairment model did.
    pub impaired: ImpairStats,
    /// Frames (or copies) dropped because the wrapper's pool was empty.
    pub overflow: u64,
    /// Frames that left the delay line (to the caller for RX, to the inner device for TX).
    pub released: u64,
}

/// Frames waiting for their due time; min-heap on (due, arrival sequence).
#[derive(Debug)]
struct DelayLine {
    heap: BinaryHeap<Reverse<(Instant, u64, u32)>>,
    seq: u64,
}

impl DelayLine {
    fn with_capacity(n: usize) -> Self {
        DelayLine { heap: BinaryHeap::with_capacity(n), seq: 0 }
    }

    fn push(&mut self, due: Instant, id: FrameId) {
        self.seq += 1;
        self.heap.push(Reverse((due, self.seq, id.0)));
    }

    fn pop_due(&mut self, now: Instant) -> Option<FrameId> {
        let Reverse((due, _, _)) = self.heap.peek()?;
        if *due > now {
            return None;
        }
        self.heap.pop().map(|Reverse((_, _, id))| FrameId(id))
    }

    fn next_due(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((due, _, _))| *due)
    }
}

/// Impairs the traffic of an inner device. See the [module documentation](self).
#[derive(Debug)]
pub struct FaultDevice<D> {
    inner: D,
    rx: Impairer,
    tx: Impairer,
    frames: HeapFrames,
    rx_line: DelayLine,
    tx_line: DelayLine,
    /// The device's own counts (`impaired` is filled in from the model when read).
    rx_stats: FaultStats,
    tx_stats: FaultStats,
    /// The inner device's received handles, kept from batch to batch.
    inner_ids: FrameList,
}

impl<D: Device> FaultDevice<D> {
    /// Wraps `inner`.
    pub fn new(inner: D, config: FaultConfig) -> Self {
        let frame_size = inner.caps().max_frame_len().max(64);
        FaultDevice {
            inner,
            rx: Impairer::new(config.rx, config.seed),
            tx: Impairer::new(config.tx, SplitMix64::new(config.seed).next_u64()),
            frames: HeapFrames::new(config.frames, frame_size),
            rx_line: DelayLine::with_capacity(config.frames as usize),
            tx_line: DelayLine::with_capacity(config.frames as usize),
            rx_stats: FaultStats::default(),
            tx_stats: FaultStats::default(),
            inner_ids: FrameList::default(),
        }
    }

    /// The wrapped device.
    pub fn inner(&self) -> &D {
        &self.inner
    }

    /// The wrapped device, mutable.
    pub fn inner_mut(&mut self) -> &mut D {
        &mut self.inner
    }

    /// Receive-path counts.
    pub fn rx_stats(&self) -> FaultStats {
        FaultStats { impaired: self.rx.stats(), ..self.rx_stats }
    }

    /// Transmit-path counts.
    pub fn tx_stats(&self) -> FaultStats {
        FaultStats { impaired: self.tx.stats(), ..self.tx_stats }
    }

    /// Free frames in the wrapper's pool (for leak checks).
    pub fn free_frames(&self) -> usize {
        self.frames.pool().available()
    }

    /// Runs one frame of our pool (state `Lent`) through the impairments of one direction,
    /// scheduling what survives.
    fn impair(&mut self, tx: bool, now: Instant, first: FrameId) {
        let (model, stats, line) = if tx {
            (&mut self.tx, &mut self.tx_stats, &mut self.tx_line)
        } else {
            (&mut self.rx, &mut self.rx_stats, &mut self.rx_line)
        };
        let copies = model.admit();
        if copies == 0 {
            self.frames.pool_mut().free(first, FrameState::Lent);
            return;
        }
        self.frames.pool_mut().transition(first, FrameState::Lent, FrameState::Device);
        let duplicate = if copies == 2 {
            match self.frames.alloc(FrameState::Device) {
                Some(dup) => {
                    self.frames.copy_frame(first, dup);
                    Some(dup)
                }
                None => {
                    stats.overflow += 1;
                    None
                }
            }
        } else {
            None
        };
        for id in [Some(first), duplicate].into_iter().flatten() {
            model.corrupt(self.frames.data_mut(id));
            line.push(model.due(now), id);
        }
    }

    /// Moves due TX frames to the inner device; they stay queued if it has no buffer.
    fn pump_tx(&mut self, now: Instant) {
        let mut tx = self.inner.tx_batch(now);
        while let Some(Reverse((due, _, _))) = self.tx_line.heap.peek() {
            if *due > now {
                break;
            }
            let Some(mut buf) = tx.buffer() else { break };
            let Some(id) = self.tx_line.pop_due(now) else { break };
            let data = self.frames.data(id);
            let n = data.len().min(buf.len());
            buf[..n].copy_from_slice(&data[..n]);
            buf.send(n);
            self.frames.pool_mut().free(id, FrameState::Device);
            self.tx_stats.released += 1;
        }
    }
}

impl<D: Device> Device for FaultDevice<D> {
    fn caps(&self) -> DeviceCaps {
        self.inner.caps()
    }

    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }

    fn receive(&mut self, now: Instant, out: &mut FrameList) {
        {
            self.inner_ids.reset(self.inner.batch_size());
            self.inner.receive(now, &mut self.inner_ids);
            for k in 0..self.inner_ids.len() {
                let id = self.inner_ids.as_slice()[k];
                // Copy out of the inner frame, then give it back before impairing.
                let len = self.inner.frame(id).len();
                let mut ok = false;
                if let Some(own) = self.frames.alloc(FrameState::Lent) {
                    let dst = self.frames.full_mut(own);
                    let n = len.min(dst.len());
                    dst[..n].copy_from_slice(&self.inner.frame(id)[..n]);
                    self.frames.set_len(own, n);
                    self.inner.release(id);
                    self.impair(false, now, own);
                    ok = true;
                }
                if !ok {
                    self.inner.release(id);
                    self.rx_stats.overflow += 1;
                }
            }
        }
        while out.remaining() > 0 {
            let Some(id) = self.rx_line.pop_due(now) else { break };
            self.frames.pool_mut().transition(id, FrameState::Device, FrameState::Lent);
            out.push(id);
            self.rx_stats.released += 1;
        }
    }

    fn frame(&self, id: FrameId) -> &[u8] {
        self.frames.data(id)
    }

    fn frame_mut(&mut self, id: FrameId) -> &mut [u8] {
        self.frames.data_mut(id)
    }

    fn release(&mut self, id: FrameId) {
        self.frames.pool_mut().free(id, FrameState::Lent);
    }

    fn allocate(&mut self, _now: Instant) -> Option<FrameId> {
        self.frames.alloc(FrameState::Lent)
    }

    fn transmit(&mut self, now: Instant, id: FrameId, len: usize) {
        if self.frames.pool().state(id) != Some(FrameState::Lent) {
            self.frames.pool_mut().free(id, FrameState::Lent); // counts the misuse
            return;
        }
        self.frames.set_len(id, len);
        self.impair(true, now, id);
    }

    fn flush(&mut self, now: Instant) {
        self.pump_tx(now);
    }

    /// The earliest instant a held frame becomes due, in either direction (or the inner
    /// device's own deadline): a caller driven by timers must call `rx_batch`/`tx_batch` no
    /// later than this.
    fn poll_at(&self) -> Option<Instant> {
        [self.rx_line.next_due(), self.tx_line.next_due(), self.inner.poll_at()]
            .into_iter()
            .flatten()
            .min()
    }

    fn wait(&mut self, timeout: std::time::Duration) {
        // The worker's timeout already ends at this wrapper's own next due frame (`poll_at`).
        self.inner.wait(timeout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loopback::{LoopbackEnd, LoopbackPair};
    use xdptcp_stack::time::Duration;

    const N: u32 = 1000;

    fn setup(config: FaultConfig) -> (LoopbackEnd, FaultDevice<LoopbackEnd>) {
        let (a, b) =
            LoopbackPair { frames: 2048, wire_slots: 2048, ..LoopbackPair::default() }.build();
        (a, FaultDevice::new(b, FaultConfig { frames: 4096, ..config }))
    }

    /// Frame `i` as sent: 60 bytes, numbered by a big-endian u32 in its first 4 bytes, with
    /// the IPv4 EtherType (the only frames the model corrupts).
    fn numbered(i: u32) -> [u8; 60] {
        let mut f = [0xABu8; 60];
        f[..4].copy_from_slice(&i.to_be_bytes());
        f[12..14].copy_from_slice(&[0x08, 0x00]);
        f
    }

    /// Sends frames numbered 0..n.
    fn send_numbered(dev: &mut impl Device, n: u32, now: Instant) {
        for i in 0..n {
            let mut tx = dev.tx_batch(now);
            let mut buf = tx.buffer().expect("pool large enough");
            buf[..60].copy_from_slice(&numbered(i));
            buf.send(60);
        }
    }

    /// Receives everything due at `now`: (number, frame) pairs.
    fn drain(dev: &mut impl Device, now: Instant) -> Vec<(u32, Vec<u8>)> {
        let mut got = Vec::new();
        loop {
            let mut ids = FrameList::default();
            let rx = dev.rx_batch(now, &mut ids);
            if rx.is_empty() {
                return got;
            }
            for f in rx.iter() {
                let n = u32::from_be_bytes([f[0], f[1], f[2], f[3]]);
                got.push((n, f.to_vec()));
            }
        }
    }

    fn lossy(seed: u64) -> FaultConfig {
        FaultConfig {
            rx: Impairments { loss_ppm: 100_000, ..Impairments::NONE },
            seed,
            ..FaultConfig::default()
        }
    }

    #[test]
    fn loss_is_seeded_and_conserves_frames() {
        let run = |seed| {
            let (mut a, mut f) = setup(lossy(seed));
            send_numbered(&mut a, N, Instant::ZERO);
            let got: Vec<u32> = drain(&mut f, Instant::ZERO).into_iter().map(|g| g.0).collect();
            (got, f.rx_stats(), f.free_frames())
        };
        let (got, stats, free) = run(7);
        assert_eq!(stats.impaired.seen, u64::from(N));
        assert_eq!(got.len() as u64 + stats.impaired.dropped, u64::from(N));
        assert_eq!(stats.released, got.len() as u64);
        // 10 % of 1000: the binomial standard deviation is ~9.5, so 50..150 is > 5 sigma.
        assert!((50..150).contains(&stats.impaired.dropped), "dropped {}", stats.impaired.dropped);
        assert!(got.windows(2).all(|w| w[0] < w[1]), "loss alone keeps the order");
        assert_eq!(free, 4096, "no frame leaked");
        let (again, stats2, _) = run(7);
        assert_eq!((got.clone(), stats), (again, stats2), "same seed, same drops");
        let (other, _, _) = run(8);
        assert_ne!(got, other, "another seed drops other frames");
    }

    #[test]
    fn delay_holds_frames_until_due() {
        let delay = Duration::from_millis(10);
        let cfg = FaultConfig {
            rx: Impairments { delay, ..Impairments::NONE },
            ..FaultConfig::default()
        };
        let (mut a, mut f) = setup(cfg);
        send_numbered(&mut a, 5, Instant::ZERO);
        // The delay runs from when the wrapper takes a frame from the inner device.
        assert!(drain(&mut f, Instant::ZERO).is_empty());
        assert!(drain(&mut f, Instant::from_millis(9)).is_empty());
        assert_eq!(f.poll_at(), Some(Instant::ZERO + delay));
        let got = drain(&mut f, Instant::from_millis(10));
        assert_eq!(got.iter().map(|g| g.0).collect::<Vec<_>>(), vec![0, 1, 2, 3, 4]);
        assert_eq!(f.poll_at(), None);
    }

    #[test]
    fn reordering_permutes_without_losing() {
        let cfg = FaultConfig {
            rx: Impairments {
                reorder_ppm: 200_000,
                reorder_delay: Duration::from_millis(5),
                ..Impairments::NONE
            },
            seed: 3,
            ..FaultConfig::default()
        };
        let (mut a, mut f) = setup(cfg);
        send_numbered(&mut a, 200, Instant::ZERO);
        let mut got: Vec<u32> = drain(&mut f, Instant::ZERO).into_iter().map(|g| g.0).collect();
        let early = got.len() as u64;
        got.extend(drain(&mut f, Instant::from_millis(5)).into_iter().map(|g| g.0));
        let stats = f.rx_stats();
        assert_eq!(early + stats.impaired.reordered, 200);
        assert!(stats.impaired.reordered > 0);
        assert!(got.windows(2).any(|w| w[0] > w[1]), "some frame was overtaken");
        got.sort_unstable();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    }

    #[test]
    fn corruption_flips_exactly_one_bit_per_counted_frame() {
        let cfg = FaultConfig {
            rx: Impairments { corrupt_ppm: 50_000, ..Impairments::NONE },
            seed: 11,
            ..FaultConfig::default()
        };
        let (mut a, mut f) = setup(cfg);
        send_numbered(&mut a, N, Instant::ZERO);
        let got = drain(&mut f, Instant::ZERO);
        assert_eq!(got.len() as u32, N);
        let mut damaged = 0;
        for (i, (_, frame)) in got.iter().enumerate() {
            let sent = numbered(i as u32);
            assert_eq!(frame[..14], sent[..14], "the Ethernet header is spared");
            let bits: u32 = frame.iter().zip(sent.iter()).map(|(x, y)| (x ^ y).count_ones()).sum();
            assert!(bits <= 1, "frame {i} differs in {bits} bits");
            damaged += u64::from(bits);
        }
        assert!(damaged > 0);
        assert_eq!(damaged, f.rx_stats().impaired.corrupted);
    }

    #[test]
    fn duplication_delivers_counted_extra_copies() {
        let cfg = FaultConfig {
            rx: Impairments { duplicate_ppm: 100_000, ..Impairments::NONE },
            seed: 13,
            ..FaultConfig::default()
        };
        let (mut a, mut f) = setup(cfg);
        send_numbered(&mut a, N, Instant::ZERO);
        let got: Vec<u32> = drain(&mut f, Instant::ZERO).into_iter().map(|g| g.0).collect();
        let dups = f.rx_stats().impaired.duplicated;
        assert!(dups > 0);
        assert_eq!(got.len() as u64, u64::from(N) + dups);
        let twice = got.windows(2).filter(|w| w[0] == w[1]).count() as u64;
        assert_eq!(twice, dups, "a copy follows its original");
        assert_eq!(f.free_frames(), 4096);
    }

    #[test]
    fn tx_loss_applies_before_the_inner_device() {
        let cfg = FaultConfig {
            tx: Impairments { loss_ppm: 500_000, ..Impairments::NONE },
            seed: 5,
            ..FaultConfig::default()
        };
        let (mut a, b) =
            LoopbackPair { frames: 2048, wire_slots: 2048, ..LoopbackPair::default() }.build();
        let mut f = FaultDevice::new(b, FaultConfig { frames: 4096, ..cfg });
        send_numbered(&mut f, 400, Instant::ZERO);
        let got = drain(&mut a, Instant::ZERO);
        let stats = f.tx_stats();
        assert_eq!(got.len() as u64, 400 - stats.impaired.dropped);
        assert_eq!(stats.released, got.len() as u64);
        assert!((120..280).contains(&stats.impaired.dropped), "dropped {}", stats.impaired.dropped);
        assert_eq!(f.free_frames(), 4096);
    }
}
