//! Handing a frame that arrived on the wrong core to the core that owns its flow.
//!
//! # Ownership
//!
//! The owner of a flow is the worker of the queue its RX 4-tuple hashes to under the
//! configured [`Rss`](crate::rss::Rss) (worker `i` serves queue `i`). Connections a core
//! opens pick their source port with [`Rss::port_filter`](crate::rss::Rss::port_filter), so
//! their replies hash to the opener; connections accepted by a core are owned by the queue
//! their SYN hashes to. A NIC configured with the same key and table delivers every frame to
//! its owner; when it does not (veth, another key, a reprogrammed table), the receiving worker
//! steers the frame here. Frames without a hashed 4-tuple (ARP, ICMP, fragments, UDP by
//! default) are handled by whoever received them. ARP replies are in addition copied to every
//! other worker ([`SteerPort::broadcast`]): each worker has its own neighbour cache, and the
//! reply to a request one worker sent may arrive on any queue.
//!
//! # Queues and buffers
//!
//! [`Steering::new`] makes one bounded single-producer/single-consumer lane per ordered pair
//! of workers (crossbeam's array channel: lock-free, preallocated). Each lane has its own small
//! pool of owned buffers, allocated once: the sender copies the frame into a free buffer and
//! sends it; the receiver processes it and sends the buffer back on the lane's return channel.
//! A frame that finds no free buffer (the owner is behind) or does not fit is dropped and
//! counted — steering is the slow path and must never block a worker or allocate.
//! Both channels of a lane hold as many slots as the lane has buffers, so neither ever fills.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

/// Lane sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SteeringConfig {
    /// Buffers (and queue slots) per ordered pair of workers.
    pub buffers_per_lane: usize,
    /// Bytes per buffer: the largest frame that can be steered.
    pub buffer_size: usize,
}

impl Default for SteeringConfig {
    fn default() -> Self {
        SteeringConfig { buffers_per_lane: 256, buffer_size: 2048 }
    }
}

/// Steering counters of one worker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SteerCounters {
    /// Frames this worker handed to their owner.
    pub steered_out: u64,
    /// Frames other workers handed to this one.
    pub steered_in: u64,
    /// Frames dropped because the lane to the owner had no free buffer.
    pub dropped_full: u64,
    /// Frames dropped because they were larger than a steering buffer.
    pub dropped_too_big: u64,
    /// Frames whose computed owner is not a worker (a queue beyond the workers).
    pub dropped_no_owner: u64,
}

/// A frame in flight between two workers.
#[derive(Debug)]
struct Steered {
    buf: Box<[u8]>,
    len: usize,
}

/// The sending end of a lane.
#[derive(Debug)]
struct OutLane {
    frames: Sender<Steered>,
    free: Receiver<Box<[u8]>>,
}

/// The receiving end of a lane.
#[derive(Debug)]
struct InLane {
    frames: Receiver<Steered>,
    give_back: Sender<Box<[u8]>>,
}

/// The lanes between `n` workers; take each worker's end with [`into_ports`](Self::into_ports).
#[derive(Debug)]
pub struct Steering {
    ports: Vec<SteerPort>,
}

impl Steering {
    /// Lanes for every ordered pair of `workers` workers, with all buffers allocated now.
    pub fn new(workers: usize, config: SteeringConfig) -> Steering {
        let finished = Arc::new(Finished { workers, count: AtomicUsize::new(0) });
        let mut ports: Vec<SteerPort> = (0..workers)
            .map(|me| SteerPort {
                me,
                out: (0..workers).map(|_| None).collect(),
                inbound: (0..workers).map(|_| None).collect(),
                buffer_size: config.buffer_size,
                counters: SteerCounters::default(),
                finished: finished.clone(),
            })
            .collect();
        for from in 0..workers {
            for to in 0..workers {
                if from == to {
                    continue;
                }
                let slots = config.buffers_per_lane.max(1);
                let (frames_tx, frames_rx) = crossbeam_channel::bounded(slots);
                let (free_tx, free_rx) = crossbeam_channel::bounded(slots);
                for _ in 0..slots {
                    // Capacity is `slots`, and this is the `slots`-th send at most.
                    let _ = free_tx.try_send(vec![0u8; config.buffer_size].into_boxed_slice());
                }
                ports[from].out[to] = Some(OutLane { frames: frames_tx, free: free_rx });
                ports[to].inbound[from] = Some(InLane { frames: frames_rx, give_back: free_tx });
            }
        }
        Steering { ports }
    }

    /// Each worker's end, in worker order.
    pub fn into_ports(self) -> Vec<SteerPort> {
        self.ports
    }
}

/// One worker's ends of all its lanes. `Send`, so it moves into the worker's thread.
#[derive(Debug)]
pub struct SteerPort {
    me: usize,
    /// Indexed by destination worker; `None` for `me`.
    out: Vec<Option<OutLane>>,
    /// Indexed by source worker; `None` for `me`.
    inbound: Vec<Option<InLane>>,
    buffer_size: usize,
    counters: SteerCounters,
    /// Shared by all the ports: how many workers' applications have finished.
    finished: Arc<Finished>,
}

/// How many of `workers` workers' applications have finished (each counts itself once).
#[derive(Debug)]
struct Finished {
    workers: usize,
    count: AtomicUsize,
}

impl SteerPort {
    /// This worker's index.
    pub fn me(&self) -> usize {
        self.me
    }

    /// Counts this worker's application as finished. Call once.
    pub fn mark_finished(&self) {
        self.finished.count.fetch_add(1, Ordering::AcqRel);
    }

    /// Whether every worker's application has finished: until then a finished worker still
    /// serves its queue for the others (frames of their flows, and the ARP replies and
    /// neighbour advertisements every worker needs, arrive on any queue).
    pub fn all_finished(&self) -> bool {
        self.finished.count.load(Ordering::Acquire) >= self.finished.workers
    }

    /// Number of workers.
    pub fn workers(&self) -> usize {
        self.out.len()
    }

    /// Counters.
    pub fn counters(&self) -> SteerCounters {
        self.counters
    }

    /// Copies `frame` to worker `to`. False if it was dropped (counted). Sending to oneself is
    /// a caller bug and is refused (counted as no owner).
    pub fn send(&mut self, to: usize, frame: &[u8]) -> bool {
        let Some(Some(lane)) = self.out.get(to) else {
            self.counters.dropped_no_owner += 1;
            return false;
        };
        if frame.len() > self.buffer_size {
            self.counters.dropped_too_big += 1;
            return false;
        }
        let Ok(mut buf) = lane.free.try_recv() else {
            self.counters.dropped_full += 1;
            return false;
        };
        buf[..frame.len()].copy_from_slice(frame);
        match lane.frames.try_send(Steered { buf, len: frame.len() }) {
            Ok(()) => {
                self.counters.steered_out += 1;
                true
            }
            // Cannot be full (as many slots as buffers); disconnected means the owner has
            // stopped, and the buffer is simply freed.
            Err(_) => {
                self.counters.dropped_full += 1;
                false
            }
        }
    }

    /// Copies `frame` to every other worker (ARP replies: each worker keeps its own neighbour
    /// cache, and the reply to one worker's request may arrive on any queue). Returns how
    /// many copies were sent.
    pub fn broadcast(&mut self, frame: &[u8]) -> usize {
        let mut sent = 0;
        for to in 0..self.out.len() {
            if to != self.me && self.send(to, frame) {
                sent += 1;
            }
        }
        sent
    }

    /// Hands up to `budget` frames steered to this worker to `handle`, round-robin over the
    /// sources, and returns their buffers. Returns how many were handled.
    pub fn receive(&mut self, budget: usize, mut handle: impl FnMut(&[u8])) -> usize {
        let mut done = 0;
        for lane in self.inbound.iter().flatten() {
            while done < budget {
                let Ok(s) = lane.frames.try_recv() else { break };
                handle(&s.buf[..s.len]);
                done += 1;
                // The return channel has a slot for every buffer of the lane.
                let _ = lane.give_back.try_send(s.buf);
            }
        }
        self.counters.steered_in += done as u64;
        done
    }

    /// Whether frames are waiting for this worker.
    pub fn pending(&self) -> bool {
        self.inbound.iter().flatten().any(|l| !l.frames.is_empty())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_finished_only_once_every_worker_counted_itself() {
        let ports = Steering::new(3, SteeringConfig::default()).into_ports();
        ports[0].mark_finished();
        ports[2].mark_finished();
        assert!(ports.iter().all(|p| !p.all_finished()), "one worker is still running");
        ports[1].mark_finished();
        assert!(ports.iter().all(SteerPort::all_finished));
    }

    #[test]
    fn frames_cross_byte_exact_and_buffers_return() {
        let cfg = SteeringConfig { buffers_per_lane: 2, buffer_size: 64 };
        let mut ports = Steering::new(3, cfg).into_ports();
        let mut p2 = ports.pop().unwrap();
        let mut p1 = ports.pop().unwrap();
        let mut p0 = ports.pop().unwrap();
        assert!(p0.send(2, b"zero to two"));
        assert!(p1.send(2, b"one to two"));
        assert!(p0.send(2, b"again"));
        // Lane 0->2 has two buffers, both in flight.
        assert!(!p0.send(2, b"no buffer"));
        assert!(!p0.send(1, &[0u8; 65]), "too big");
        assert!(!p0.send(0, b"self"));
        let mut got = Vec::new();
        assert_eq!(p2.receive(16, |f| got.push(f.to_vec())), 3);
        got.sort();
        assert_eq!(got, vec![b"again".to_vec(), b"one to two".to_vec(), b"zero to two".to_vec()]);
        // Buffers came back: the lane takes two frames again.
        assert!(p0.send(2, b"a") && p0.send(2, b"b"));
        assert_eq!(
            p0.counters(),
            SteerCounters {
                steered_out: 4,
                dropped_full: 1,
                dropped_too_big: 1,
                dropped_no_owner: 1,
                ..Default::default()
            }
        );
        assert_eq!(p2.counters().steered_in, 3);
        assert!(p2.pending());
        assert_eq!(p2.receive(1, |_| ()), 1, "budget respected");
        assert_eq!(p1.receive(16, |_| ()), 0);
        assert_eq!(p1.broadcast(b"to all"), 2);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        p0.receive(16, |f| a.push(f.to_vec()));
        p2.receive(16, |f| b.push(f.to_vec()));
        assert_eq!(a, vec![b"to all".to_vec()]);
        assert_eq!(b, vec![b"b".to_vec(), b"to all".to_vec()], "one frame was still waiting");
    }
}
