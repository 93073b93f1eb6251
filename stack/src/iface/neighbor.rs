//! The neighbour cache: IP neighbour → MAC, with expiry, a capacity bound, and a bounded queue
//! of packets waiting for resolution. One engine for both families: [`ArpCache`] for IPv4
//! (RFC 826) and [`NdpCache`] for IPv6 Neighbor Discovery (RFC 4861 §7.3), which differ only
//! in their address type and timers ([`NeighborParams::arp`], [`NeighborParams::ndp`]), as
//! Linux's one `neighbour` table serves both.
//!
//! Layout: a fixed table of `capacity` slots plus a hash index from address to slot, both
//! allocated at construction, so a hit is one hash lookup and never allocates. When the table
//! is full a clock hand picks the slot to reuse (O(1), roughly oldest-first).
//!
//! Expiry is lazy and does not stall traffic: a lookup that finds an entry past its lifetime
//! still answers with the old MAC but starts revalidating it with unicast ARP requests to that
//! MAC (RFC 1122 §2.3.2.1, "unicast poll"; Linux's STALE→PROBE). A reply refreshes the entry;
//! after `arp_max_requests` unanswered requests it is removed and the next packet starts a
//! fresh resolution. Without this, a busy flow would lose every packet beyond the small pending
//! queue once a minute. Upper layers can also confirm a neighbour ([`ArpCache::confirm`],
//! RFC 1122's "higher-layer advice"), e.g. TCP when an ACK advances.
//!
//! Unresolved neighbours hold copies of the IP packets that wait for them. This is the slow
//! path, so copies are fine, but the queues are bounded in bytes as Linux bounds them
//! (`unres_qlen_bytes`, each packet counted by its [`truesize`]): per neighbour, a new packet
//! pushes out the oldest ones until it fits and is itself always kept (Linux's
//! `__neigh_event_send`); over all neighbours, a bound Linux does not have keeps the copies'
//! memory bounded whatever the number of neighbours resolving. Every packet dropped either way
//! is counted (`arp_queue_full`). Requests are retransmitted every
//! `arp_retry_interval`; after `arp_max_requests` the neighbour is declared unreachable and its
//! packets are dropped and counted (`arp_resolution_failed`).

use std::collections::{HashMap, VecDeque};
use std::fmt::Debug;
use std::hash::Hash;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::num::NonZeroU32;

use super::config::InterfaceConfig;
use super::counters::IfaceCounters;
use crate::time::{Duration, Instant};
use crate::wire::ethernet::EthernetAddress;

/// What the cache knows about one neighbour.
#[derive(Debug)]
enum State {
    Resolved {
        mac: EthernetAddress,
        expires_at: Instant,
    },
    /// Requests are out. `known` is the previous MAC while an expired entry is revalidated
    /// (lookups keep using it); `None` for a neighbour never resolved.
    Pending {
        requests_sent: u32,
        next_retry: Instant,
        queue: PendingQueue,
        known: Option<EthernetAddress>,
    },
}

/// Linux's per-packet overhead in an skb's truesize on a 64-bit machine: the `sk_buff` and the
/// `skb_shared_info` beside the data, each rounded to a cache line (`SKB_TRUESIZE`: 256 + 320).
pub const SKB_OVERHEAD: usize = 576;

/// What a queued packet of `ip_len` bytes counts against the pending-queue bounds: the
/// truesize Linux gives an skb holding it as an Ethernet frame (the 14-byte header, the
/// packet, [`SKB_OVERHEAD`]). So the same `unres_qlen_bytes` keeps the same packets as Linux:
/// 101 full-size frames in 212,992 bytes (Linux's `unres_qlen` 101 is derived the same way),
/// or 338 54-byte ones. The copy we keep costs less (the packet and a `Vec`), so the bound
/// also bounds our memory.
pub fn truesize(ip_len: usize) -> usize {
    ip_len.saturating_add(14 + SKB_OVERHEAD)
}

/// The packets waiting for one unresolved neighbour, oldest first, and their truesize sum.
#[derive(Debug, Default)]
struct PendingQueue {
    packets: VecDeque<Vec<u8>>,
    bytes: usize,
}

/// What the pending queues of a whole cache hold.
#[derive(Debug, Default, Clone, Copy)]
struct Held {
    packets: usize,
    bytes: usize,
}

impl Held {
    /// `q` left the cache (released, dropped with its neighbour).
    fn forget(&mut self, q: &PendingQueue) {
        self.packets -= q.packets.len();
        self.bytes -= q.bytes;
    }
}

impl PendingQueue {
    /// Drops the oldest packet, counted in `held` and `arp_queue_full`. False if empty.
    fn drop_oldest(&mut self, held: &mut Held, counters: &mut IfaceCounters) -> bool {
        let Some(p) = self.packets.pop_front() else { return false };
        let size = truesize(p.len());
        self.bytes -= size;
        held.packets -= 1;
        held.bytes -= size;
        counters.arp_queue_full += 1;
        true
    }

    /// Queues a copy of `packet` within the bounds (see the module documentation): the
    /// oldest packets go until it fits this neighbour's `per_neighbor` bytes (it is kept
    /// even alone over that bound, as Linux keeps it), and then until it fits the cache's
    /// `total`; if even an empty queue leaves no room in the total, `packet` is the one
    /// dropped.
    fn admit(
        &mut self,
        packet: &[u8],
        bounds: (usize, usize),
        held: &mut Held,
        counters: &mut IfaceCounters,
    ) -> Enqueued {
        let (per_neighbor, total) = bounds;
        let size = truesize(packet.len());
        while self.bytes + size > per_neighbor && self.drop_oldest(held, counters) {}
        while held.bytes + size > total {
            if !self.drop_oldest(held, counters) {
                counters.arp_queue_full += 1;
                return Enqueued::Dropped;
            }
        }
        self.packets.push_back(packet.to_vec());
        self.bytes += size;
        held.packets += 1;
        held.bytes += size;
        Enqueued::Queued
    }
}

#[derive(Debug)]
struct Entry<A> {
    ip: A,
    state: State,
    /// Looked up for sending (or created because we needed it) since the eviction hand last
    /// passed: the hand gives such an entry a second chance (CLOCK).
    used: bool,
}

/// Whether a packet for an unresolved neighbour was kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enqueued {
    /// The packet waits for the reply (older ones may have been dropped to make room).
    Queued,
    /// The queues of all neighbours together were full: the packet was dropped and counted
    /// (`arp_queue_full`).
    Dropped,
}

/// Result of [`ArpCache::enqueue`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnqueueOutcome {
    /// What became of the packet.
    pub queued: Enqueued,
    /// The neighbour was unknown: a resolution has started and its first ARP request must be
    /// sent now.
    pub send_request: bool,
}

/// An address family's neighbour addresses (IPv4 for ARP, IPv6 for Neighbor Discovery).
pub trait NeighborAddr: Copy + Eq + Hash + Debug {}
impl NeighborAddr for Ipv4Addr {}
impl NeighborAddr for Ipv6Addr {}

/// Where a sender last found its next hop in a [`NeighborCache`]
/// ([`lookup_memo`](NeighborCache::lookup_memo)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborMemo<A> {
    ip: A,
    /// The entry's slot plus one: the zero this leaves unused lets `Option<NeighborMemo>`
    /// take no more room than the memo, in a socket record that has none to spare.
    slot_plus_one: NonZeroU32,
}

impl<A: Copy + PartialEq> NeighborMemo<A> {
    /// Whether the memo is of neighbour `ip`'s entry.
    #[inline]
    pub fn names(&self, ip: A) -> bool {
        self.ip == ip
    }
}

/// The ARP cache of one interface.
pub type ArpCache = NeighborCache<Ipv4Addr>;
/// The IPv6 neighbour cache of one interface.
pub type NdpCache = NeighborCache<Ipv6Addr>;

/// Sizes and timers of a neighbour cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NeighborParams<A> {
    /// Most neighbours held.
    pub capacity: usize,
    /// How long a resolved entry is trusted before it is revalidated.
    pub lifetime: Duration,
    /// Between requests (ARP requests, neighbour solicitations) for one neighbour.
    pub retry_interval: Duration,
    /// Requests before the neighbour is declared unreachable.
    pub max_requests: u32,
    /// Bytes ([`truesize`]) queued per unresolved neighbour.
    pub per_neighbor_bytes: usize,
    /// Bytes ([`truesize`]) queued over all unresolved neighbours.
    pub total_bytes: usize,
    /// The default router: never evicted while another entry can go.
    pub protected: Option<A>,
}

impl NeighborParams<Ipv4Addr> {
    /// ARP as `config` sets it up.
    pub fn arp(config: &InterfaceConfig) -> Self {
        NeighborParams {
            capacity: config.arp_cache_capacity,
            lifetime: config.arp_entry_lifetime,
            retry_interval: config.arp_retry_interval,
            max_requests: config.arp_max_requests,
            per_neighbor_bytes: config.arp_pending_bytes_per_neighbor,
            total_bytes: config.arp_pending_bytes_total,
            protected: config.gateway,
        }
    }
}

impl NeighborParams<Ipv6Addr> {
    /// Neighbor Discovery with RFC 4861 §10's constants: `REACHABLE_TIME` 30 s (not
    /// randomised: the stack draws no random numbers; the caller may vary it),
    /// `RETRANS_TIMER` 1 s, `MAX_MULTICAST_SOLICIT` 3; sizes and queues as `config` gives
    /// ARP, and `router` (learned from a router advertisement) protected.
    pub fn ndp(config: &InterfaceConfig, router: Option<Ipv6Addr>) -> Self {
        NeighborParams {
            capacity: config.arp_cache_capacity,
            lifetime: Duration::from_secs(30),
            retry_interval: Duration::from_secs(1),
            max_requests: 3,
            per_neighbor_bytes: config.arp_pending_bytes_per_neighbor,
            total_bytes: config.arp_pending_bytes_total,
            protected: router,
        }
    }
}

/// A neighbour cache (see the [module documentation](self)).
#[derive(Debug)]
pub struct NeighborCache<A> {
    index: HashMap<A, usize>,
    slots: Vec<Option<Entry<A>>>,
    free: Vec<usize>,
    /// Next slot to reuse when none is free.
    hand: usize,
    /// Slots in the `Pending` state.
    pending: Vec<usize>,
    /// What the pending slots' queues hold together.
    held: Held,
    /// No pending retry is due before this instant (it may be early, never late).
    next_poll: Option<Instant>,
    lifetime: Duration,
    retry_interval: Duration,
    max_requests: u32,
    /// Per-neighbour and total bounds of the pending queues, in bytes ([`truesize`]).
    bounds: (usize, usize),
    /// The neighbour confirmed last and when. TCP confirms on every acknowledging segment; a
    /// refresh within `confirm_skip` of the last one buys nothing and cost a hash lookup per
    /// received segment.
    recent_confirm: Option<(A, Instant)>,
    /// An eighth of the lifetime: at most 12.5 % of it is given up, and the entry cannot
    /// have expired in between.
    confirm_skip: Duration,
    /// The last resolved lookup (next hop, its MAC, when the entry expires). Every segment a
    /// connection sends looks up the same next hop; this answers it without a keyed hash.
    /// Cleared by every change to the table, so it never outlives the entry it copies.
    last_lookup: Option<(A, EthernetAddress, Instant, usize)>,
    /// The gateway: never chosen for eviction while another entry can go. Off the link,
    /// everything depends on it, and an on-link host forging ARP from many of the link's
    /// addresses must not be able to push it out.
    protected: Option<A>,
}

impl ArpCache {
    /// An empty ARP cache sized and timed by `config`. Allocates its whole table now.
    pub fn new(config: &InterfaceConfig) -> Self {
        NeighborCache::with_params(NeighborParams::arp(config))
    }
}

impl<A: NeighborAddr> NeighborCache<A> {
    /// An empty cache with `p`'s sizes and timers. Allocates its whole table now.
    pub fn with_params(p: NeighborParams<A>) -> Self {
        let cap = p.capacity.max(1);
        NeighborCache {
            index: HashMap::with_capacity(cap),
            slots: (0..cap).map(|_| None).collect(),
            free: (0..cap).rev().collect(),
            hand: 0,
            pending: Vec::with_capacity(cap),
            held: Held::default(),
            next_poll: None,
            lifetime: p.lifetime,
            retry_interval: p.retry_interval,
            max_requests: p.max_requests.max(1),
            bounds: (p.per_neighbor_bytes, p.total_bytes),
            recent_confirm: None,
            last_lookup: None,
            protected: p.protected,
            confirm_skip: Duration::from_nanos(p.lifetime.total_nanos() / 8),
        }
    }

    /// Changes the entry never chosen for eviction (IPv6's default router, learned from a
    /// router advertisement after the cache was built).
    pub fn set_protected(&mut self, protected: Option<A>) {
        self.protected = protected;
    }

    /// Resolved entries and pending neighbours currently held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// Packets waiting for resolution, over all neighbours.
    pub fn queued_packets(&self) -> usize {
        self.held.packets
    }

    /// What the waiting packets count against the total bound ([`truesize`]).
    pub fn queued_bytes(&self) -> usize {
        self.held.bytes
    }

    /// The MAC of `ip`, if known. Past its lifetime an entry still answers but starts being
    /// revalidated: the first unicast request is due at once (see [`poll`](Self::poll)).
    pub fn lookup(&mut self, ip: A, now: Instant) -> Option<EthernetAddress> {
        if let Some((last, mac, expires_at, _)) = self.last_lookup {
            if last == ip && now < expires_at {
                return Some(mac);
            }
        }
        let &slot = self.index.get(&ip)?;
        let entry = self.slots.get_mut(slot)?.as_mut()?;
        entry.used = true;
        match &entry.state {
            State::Resolved { mac, expires_at } => {
                let mac = *mac;
                if now < *expires_at {
                    self.last_lookup = Some((ip, mac, *expires_at, slot));
                } else {
                    entry.state = State::Pending {
                        requests_sent: 0,
                        next_retry: now,
                        queue: PendingQueue::default(),
                        known: Some(mac),
                    };
                    self.pending.push(slot);
                    self.next_poll = Some(self.next_poll.map_or(now, |t| t.min(now)));
                }
                Some(mac)
            }
            State::Pending { known, .. } => *known,
        }
    }

    /// [`lookup`](Self::lookup) for a sender that keeps `memo` between calls (a
    /// connection, whose next hop stays the same). A memo that still names a resolved,
    /// unexpired entry for `ip` answers from that slot (no hash) and marks it used as a
    /// lookup does; otherwise the lookup is made and, if it resolved, remembered. The slot is
    /// read each time, so a memo never outlives or disagrees with the entry it names.
    ///
    /// Inlined as far as the memo's answer (a connection's every segment); the lookup is out
    /// of line.
    #[inline]
    pub fn lookup_memo(
        &mut self,
        memo: &mut Option<NeighborMemo<A>>,
        ip: A,
        now: Instant,
    ) -> Option<EthernetAddress> {
        if let Some(m) = *memo {
            if m.ip == ip {
                if let Some(Some(entry)) = self.slots.get_mut(m.slot_plus_one.get() as usize - 1) {
                    if let (true, State::Resolved { mac, expires_at }) =
                        (entry.ip == ip, &entry.state)
                    {
                        if now < *expires_at {
                            entry.used = true;
                            return Some(*mac);
                        }
                    }
                }
            }
        }
        self.lookup_remembered(memo, ip, now)
    }

    /// [`lookup_memo`](Self::lookup_memo) when the memo did not answer: the keyed lookup,
    /// remembered if it resolved.
    #[inline(never)]
    fn lookup_remembered(
        &mut self,
        memo: &mut Option<NeighborMemo<A>>,
        ip: A,
        now: Instant,
    ) -> Option<EthernetAddress> {
        let mac = self.lookup(ip, now);
        *memo = match self.last_lookup {
            Some((last, _, _, slot)) if last == ip && mac.is_some() => u32::try_from(slot + 1)
                .ok()
                .and_then(NonZeroU32::new)
                .map(|slot_plus_one| NeighborMemo { ip, slot_plus_one }),
            _ => None,
        };
        mac
    }

    /// Higher-layer advice that `ip` is reachable at its cached MAC (RFC 1122 §2.3.2.1), e.g.
    /// from TCP when new data is acknowledged: restarts the entry's lifetime. Does nothing for
    /// an unknown or never-resolved neighbour.
    pub fn confirm(&mut self, ip: A, now: Instant) {
        self.confirm_memo(None, ip, now);
    }

    /// [`confirm`](Self::confirm) for a sender holding `memo` from
    /// [`lookup_memo`](Self::lookup_memo): while the memo's slot still holds `ip`, the entry
    /// is found there instead of through the keyed index.
    ///
    /// Inlined as far as the confirmation skipped as recent (every ACK of a busy flow).
    #[inline]
    pub fn confirm_memo(&mut self, memo: Option<NeighborMemo<A>>, ip: A, now: Instant) {
        // `last_lookup` may keep the old expiry: it then misses early, never late.
        if let Some((last, at)) = self.recent_confirm {
            if last == ip && now.saturating_duration_since(at) < self.confirm_skip {
                return;
            }
        }
        self.confirm_entry(memo, ip, now);
    }

    /// [`confirm_memo`](Self::confirm_memo) past its recent-confirmation test.
    #[inline(never)]
    fn confirm_entry(&mut self, memo: Option<NeighborMemo<A>>, ip: A, now: Instant) {
        let held = memo
            .map(|m| m.slot_plus_one.get() as usize - 1)
            .filter(|&slot| matches!(self.slots.get(slot), Some(Some(e)) if e.ip == ip));
        let Some(slot) = held.or_else(|| self.index.get(&ip).copied()) else { return };
        self.recent_confirm = Some((ip, now));
        let Some(Some(entry)) = self.slots.get_mut(slot) else { return };
        let expires_at = now + self.lifetime;
        match &mut entry.state {
            State::Resolved { expires_at: e, .. } => *e = expires_at,
            // A revalidated entry never holds packets (its lookups hit), so nothing is released.
            State::Pending { known: Some(mac), queue, .. } if queue.packets.is_empty() => {
                let mac = *mac;
                entry.state = State::Resolved { mac, expires_at };
                self.pending.retain(|&s| s != slot);
                self.recompute_next_poll();
            }
            State::Pending { .. } => {}
        }
    }

    /// Whether a resolution of `ip` is under way.
    pub fn is_pending(&self, ip: A) -> bool {
        self.index.get(&ip).and_then(|&s| self.slots.get(s)).is_some_and(|e| {
            matches!(e, Some(Entry { state: State::Pending { known: None, .. }, .. }))
        })
    }

    /// Learns `ip` → `mac` from ARP. RFC 826's merge rule: an address already in the table is
    /// updated whoever the packet was for; a new one is added only if `create` (the packet was
    /// addressed to us). Returns `None` if nothing was stored, else the packets that were waiting
    /// for this neighbour (empty if none), to be sent now.
    pub fn learn(
        &mut self,
        ip: A,
        mac: EthernetAddress,
        now: Instant,
        create: bool,
        counters: &mut IfaceCounters,
    ) -> Option<VecDeque<Vec<u8>>> {
        self.last_lookup = None;
        let expires_at = now + self.lifetime;
        let resolved = State::Resolved { mac, expires_at };
        if let Some(&slot) = self.index.get(&ip) {
            let entry = self.slots.get_mut(slot)?.as_mut()?;
            let old = core::mem::replace(&mut entry.state, resolved);
            counters.arp_learned += 1;
            return Some(match old {
                State::Resolved { .. } => VecDeque::new(),
                State::Pending { queue, .. } => {
                    self.held.forget(&queue);
                    self.pending.retain(|&s| s != slot);
                    self.recompute_next_poll();
                    queue.packets
                }
            });
        }
        if !create {
            return None;
        }
        self.insert(ip, resolved, false, counters);
        counters.arp_learned += 1;
        Some(VecDeque::new())
    }

    /// Queues a copy of `packet` (an IP packet for next hop `ip`) until `ip` resolves. Call only
    /// after [`lookup`](Self::lookup) missed.
    pub fn enqueue(
        &mut self,
        ip: A,
        packet: &[u8],
        now: Instant,
        counters: &mut IfaceCounters,
    ) -> EnqueueOutcome {
        self.last_lookup = None;
        if let Some(&slot) = self.index.get(&ip) {
            if let Some(Some(Entry { state: State::Pending { queue, .. }, .. })) =
                self.slots.get_mut(slot)
            {
                let queued = queue.admit(packet, self.bounds, &mut self.held, counters);
                return EnqueueOutcome { queued, send_request: false };
            }
            // A resolved (possibly expired) entry: the caller should have used it; start over.
            self.remove(slot);
        }
        let mut queue = PendingQueue::default();
        let queued = queue.admit(packet, self.bounds, &mut self.held, counters);
        let next_retry = now + self.retry_interval;
        let state = State::Pending { requests_sent: 1, next_retry, queue, known: None };
        let slot = self.insert(ip, state, true, counters);
        self.pending.push(slot);
        self.next_poll = Some(self.next_poll.map_or(next_retry, |t| t.min(next_retry)));
        EnqueueOutcome { queued, send_request: true }
    }

    /// When [`poll`](Self::poll) next has work: the earliest request retransmission.
    pub fn poll_at(&self) -> Option<Instant> {
        self.next_poll
    }

    /// Sends due requests and gives up on neighbours that have had `arp_max_requests`
    /// requests, dropping and counting their packets. `send_request(ip, known)` is called for
    /// each request: `known` is the MAC being revalidated (send the request unicast to it), or
    /// `None` for a first resolution (broadcast).
    pub fn poll(
        &mut self,
        now: Instant,
        counters: &mut IfaceCounters,
        mut send_request: impl FnMut(A, Option<EthernetAddress>),
    ) {
        match self.next_poll {
            Some(t) if t <= now => {}
            _ => return,
        }
        let mut next: Option<Instant> = None;
        let mut i = 0;
        while i < self.pending.len() {
            let slot = self.pending[i];
            let Some(Some(Entry {
                ip,
                state: State::Pending { requests_sent, next_retry, queue, known },
                ..
            })) = self.slots.get_mut(slot)
            else {
                // Not pending any more; the list is kept in step, so this is only defensive.
                self.pending.swap_remove(i);
                continue;
            };
            if *next_retry <= now {
                if *requests_sent >= self.max_requests {
                    // RFC 1122 §2.3.2.1: give up and discard what waited; the sender learns of
                    // it through its own timeouts.
                    counters.arp_resolution_failed += queue.packets.len() as u64;
                    self.held.forget(queue);
                    self.remove(slot);
                    // `remove` dropped `slot` from `pending` (swap_remove): re-examine index i.
                    continue;
                }
                *requests_sent += 1;
                *next_retry = now + self.retry_interval;
                send_request(*ip, *known);
            }
            next = Some(next.map_or(*next_retry, |t| t.min(*next_retry)));
            i += 1;
        }
        self.next_poll = next;
    }

    /// Sets `next_poll` to the earliest retry among pending neighbours (slow path: resolution
    /// events only).
    fn recompute_next_poll(&mut self) {
        self.next_poll = self
            .pending
            .iter()
            .filter_map(|&s| match self.slots.get(s) {
                Some(Some(Entry { state: State::Pending { next_retry, .. }, .. })) => {
                    Some(*next_retry)
                }
                _ => None,
            })
            .min();
    }

    fn insert(&mut self, ip: A, state: State, used: bool, counters: &mut IfaceCounters) -> usize {
        if let Some((_, _, _, slot)) = self.last_lookup.take() {
            // Lookups answered from the memo touched no entry: count them now, before the
            // hand may pass.
            if let Some(Some(e)) = self.slots.get_mut(slot) {
                e.used = true;
            }
        }
        let slot = match self.free.pop() {
            Some(s) => s,
            None => {
                let s = self.victim();
                if let Some(Some(Entry { state: State::Pending { queue, .. }, .. })) =
                    self.slots.get(s)
                {
                    counters.arp_resolution_failed += queue.packets.len() as u64;
                    self.held.forget(queue);
                }
                self.remove(s);
                counters.arp_evicted += 1;
                // `remove` pushed `s` onto the free list.
                self.free.pop();
                s
            }
        };
        self.slots[slot] = Some(Entry { ip, state, used });
        self.index.insert(ip, slot);
        slot
    }

    /// The slot to evict from a full table: the CLOCK algorithm (an entry used since the
    /// hand last passed loses its mark and is skipped once), never the gateway while anything
    /// else can go. Two turns of the hand always find one.
    fn victim(&mut self) -> usize {
        let n = self.slots.len();
        for _ in 0..2 * n {
            let s = self.hand;
            self.hand = (self.hand + 1) % n;
            let Some(Some(e)) = self.slots.get_mut(s) else { return s };
            if Some(e.ip) == self.protected {
                continue;
            }
            if core::mem::take(&mut e.used) {
                continue;
            }
            return s;
        }
        // Only the gateway is left to take (a table of one entry).
        let s = self.hand;
        self.hand = (self.hand + 1) % n;
        s
    }

    /// Frees `slot` (its queue, if any, must already be accounted for by the caller).
    fn remove(&mut self, slot: usize) {
        self.last_lookup = None;
        let Some(entry) = self.slots.get_mut(slot).and_then(Option::take) else { return };
        self.index.remove(&entry.ip);
        // Callers that drop a pending entry's packets (eviction, give-up) have already counted
        // them and subtracted them from `held`; expired entries never hold packets.
        if matches!(entry.state, State::Pending { .. }) {
            if let Some(pos) = self.pending.iter().position(|&s| s == slot) {
                self.pending.swap_remove(pos);
            }
        }
        self.free.push(slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 0xaa]);

    fn ip(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    fn cache(cap: usize) -> ArpCache {
        let mut c = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ip(1), 24);
        c.arp_cache_capacity = cap;
        c.arp_pending_bytes_per_neighbor = 2 * truesize(2);
        c.arp_pending_bytes_total = 3 * truesize(2);
        ArpCache::new(&c)
    }

    /// The same engine for IPv6 with Neighbor Discovery's timers: a packet waits for a
    /// resolution, solicitations are retried every second and give up after three, the
    /// router is protected from eviction, and an advertisement resolves the neighbour.
    #[test]
    fn neighbor_discovery_uses_the_same_engine_with_its_timers() {
        let v6 = |n: u16| Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, n);
        let mut cfg = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ip(1), 24);
        cfg.arp_cache_capacity = 2;
        let mut n = NdpCache::with_params(NeighborParams::ndp(&cfg, Some(v6(1))));
        let mut k = IfaceCounters::default();
        let s = |n| Instant::ZERO + Duration::from_secs(n);
        let out = n.enqueue(v6(2), &[1, 2, 3], s(0), &mut k);
        assert!(out.send_request);
        let mut asked = Vec::new();
        for t in 1..=3 {
            n.poll(s(t), &mut k, |a, m| asked.push((a, m)));
        }
        assert_eq!(asked, vec![(v6(2), None); 2], "RETRANS_TIMER 1 s, MAX_MULTICAST_SOLICIT 3");
        assert_eq!(n.lookup(v6(2), s(3)), None);
        assert_eq!(k.arp_resolution_failed, 1, "the waiting packet was dropped and counted");
        // The router stays while other neighbours come and go.
        n.learn(v6(1), MAC, s(4), true, &mut k);
        for i in 10..20 {
            n.learn(v6(i), MAC, s(4), true, &mut k);
        }
        assert_eq!(n.lookup(v6(1), s(5)), Some(MAC));
        // REACHABLE_TIME: revalidation starts after 30 s.
        assert_eq!(n.poll_at(), None);
        assert_eq!(n.lookup(v6(1), s(34) + Duration::from_millis(1)), Some(MAC));
        assert!(n.poll_at().is_some());
    }

    /// A sender's memo answers as a lookup would, whatever happened to the entry since:
    /// a new MAC, an eviction and reuse of its slot by another neighbour, expiry.
    #[test]
    fn a_kept_memo_follows_its_entry() {
        let mut a = cache(2);
        let mut k = IfaceCounters::default();
        let s = |n| Instant::ZERO + Duration::from_secs(n);
        let mut memo = None;
        assert_eq!(a.lookup_memo(&mut memo, ip(2), s(0)), None, "unknown");
        assert_eq!(memo, None);
        a.learn(ip(2), MAC, s(0), true, &mut k);
        assert_eq!(a.lookup_memo(&mut memo, ip(2), s(1)), Some(MAC));
        assert!(memo.is_some());
        // Lookups of another neighbour in between (the interface's own memo moves on).
        a.learn(ip(3), MAC, s(1), true, &mut k);
        assert_eq!(a.lookup(ip(3), s(1)), Some(MAC));
        assert_eq!(a.lookup_memo(&mut memo, ip(2), s(2)), Some(MAC));
        // A new MAC is seen through the memo at once.
        let mac2 = EthernetAddress([2, 0, 0, 0, 0, 0xbb]);
        a.learn(ip(2), mac2, s(2), false, &mut k);
        assert_eq!(a.lookup_memo(&mut memo, ip(2), s(2)), Some(mac2));
        // A memo for another address (its slot reused) never answers for it.
        let mut other = memo;
        assert_eq!(a.lookup_memo(&mut other, ip(3), s(2)), Some(MAC));
        // Evicted (capacity 2, both used recently: the hand takes one), then refilled by
        // another neighbour in the same slot: the memo must not answer with that one's MAC.
        let mac4 = EthernetAddress([2, 0, 0, 0, 0, 0xdd]);
        a.learn(ip(4), mac4, s(3), true, &mut k);
        let expect2 = a.lookup(ip(2), s(3));
        assert_eq!(a.lookup_memo(&mut memo, ip(2), s(3)), expect2);
        // Past the lifetime the memo no longer answers by itself: the lookup starts the
        // revalidation (a probe due at once), as without a memo.
        let mut m4 = None;
        assert_eq!(a.lookup_memo(&mut m4, ip(4), s(4)), Some(mac4));
        assert_eq!(a.poll_at(), None);
        assert_eq!(a.lookup_memo(&mut m4, ip(4), s(63)), Some(mac4));
        assert_eq!(a.poll_at(), Some(s(63)), "revalidation started");
        // A confirmation through the memo ends the revalidation, as one through the index.
        a.confirm_memo(m4, ip(4), s(64));
        assert_eq!(a.poll_at(), None, "revalidated");
        // A memo whose slot now holds another neighbour confirms nothing of that one.
        let expired = s(64 + 61);
        a.confirm_memo(m4, ip(9), expired);
        assert_eq!(a.lookup_memo(&mut m4, ip(4), expired), Some(mac4));
        assert_eq!(a.poll_at(), Some(expired), "ip(4) was not refreshed by ip(9)'s advice");
    }

    #[test]
    fn learn_only_creates_when_asked() {
        let mut a = cache(4);
        let mut k = IfaceCounters::default();
        let t = Instant::from_millis(0);
        assert!(a.learn(ip(2), MAC, t, false, &mut k).is_none());
        assert_eq!(a.lookup(ip(2), t), None);
        assert!(a.learn(ip(2), MAC, t, true, &mut k).is_some());
        assert_eq!(a.lookup(ip(2), t), Some(MAC));
        // Merge: an existing entry is updated even when not for us.
        let mac2 = EthernetAddress([2, 0, 0, 0, 0, 0xbb]);
        assert!(a.learn(ip(2), mac2, t, false, &mut k).is_some());
        assert_eq!(a.lookup(ip(2), t), Some(mac2));
    }

    #[test]
    fn expired_entries_are_revalidated_then_dropped() {
        let mut a = cache(4);
        let mut k = IfaceCounters::default();
        let t = Instant::from_millis(1000);
        let s = |n| t + Duration::from_secs(n);
        a.learn(ip(2), MAC, t, true, &mut k);
        assert_eq!(a.lookup(ip(2), t + Duration::from_millis(59_999)), Some(MAC));
        assert_eq!(a.poll_at(), None, "no timer while fresh");
        // Past the lifetime: still answers, and a unicast probe is due at once.
        assert_eq!(a.lookup(ip(2), s(60)), Some(MAC));
        assert_eq!(a.poll_at(), Some(s(60)));
        let mut sent = Vec::new();
        for n in 60..=63 {
            a.poll(s(n), &mut k, |i, m| sent.push((i, m)));
        }
        assert_eq!(sent, vec![(ip(2), Some(MAC)); 3]);
        assert_eq!(a.lookup(ip(2), s(63)), None, "unanswered: gone");
        assert!(a.is_empty());
        assert_eq!(k.arp_resolution_failed, 0, "nothing was waiting");
    }

    #[test]
    fn reply_or_confirmation_ends_revalidation() {
        let mut a = cache(4);
        let mut k = IfaceCounters::default();
        let s = |n| Instant::ZERO + Duration::from_secs(n);
        a.learn(ip(2), MAC, s(0), true, &mut k);
        a.learn(ip(3), MAC, s(0), true, &mut k);
        assert_eq!(a.lookup(ip(2), s(60)), Some(MAC));
        assert_eq!(a.lookup(ip(3), s(60)), Some(MAC));
        let fresh = EthernetAddress([2, 0, 0, 0, 0, 0xcc]);
        // A reply (not even addressed to us) merges into the entry: RFC 826.
        assert!(a.learn(ip(2), fresh, s(61), false, &mut k).is_some());
        a.confirm(ip(3), s(61));
        assert_eq!(a.poll_at(), None);
        assert_eq!(a.lookup(ip(2), s(120)), Some(fresh));
        assert_eq!(a.lookup(ip(3), s(120)), Some(MAC));
        assert_eq!(a.poll_at(), None, "both restarted their lifetime at 61 s");
        // Confirmation extends a fresh entry too, and ignores unknown addresses.
        a.confirm(ip(2), s(100));
        a.confirm(ip(9), s(100));
        assert_eq!(a.lookup(ip(2), s(159)), Some(fresh));
        assert_eq!(a.poll_at(), None);
    }

    #[test]
    fn confirmations_closer_than_an_eighth_of_the_lifetime_are_skipped() {
        let mut k = IfaceCounters::default();
        let s = |n| Instant::ZERO + Duration::from_secs(n);
        let mut a = cache(4);
        a.learn(ip(2), MAC, s(0), true, &mut k);
        a.confirm(ip(2), s(10));
        a.confirm(ip(2), s(15)); // 5 s after the last one: skipped
        assert_eq!(a.lookup(ip(2), s(71)), Some(MAC));
        assert_eq!(a.poll_at(), Some(s(71)), "expired at 70, not 75: revalidation due");
        let mut b = cache(4);
        b.learn(ip(2), MAC, s(0), true, &mut k);
        b.confirm(ip(2), s(10));
        b.confirm(ip(2), s(18)); // 8 s after (more than 60 / 8): refreshes
        assert_eq!(b.lookup(ip(2), s(71)), Some(MAC));
        assert_eq!(b.poll_at(), None, "fresh until 78");
    }

    /// Before, the hand evicted whatever it pointed at: 64 forged on-link senders in a
    /// table of 8 pushed out the gateway and a neighbour in active use.
    #[test]
    fn forged_neighbours_evict_neither_the_gateway_nor_entries_in_use() {
        let mut c = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ip(1), 24);
        c.arp_cache_capacity = 8;
        c.gateway = Some(ip(254));
        let mut a = ArpCache::new(&c);
        let mut k = IfaceCounters::default();
        let t = Instant::ZERO;
        a.learn(ip(254), MAC, t, true, &mut k);
        a.learn(ip(2), MAC, t, true, &mut k);
        for n in 10..74 {
            a.learn(ip(n), MAC, t, true, &mut k);
            // The stack keeps sending to its peer (every lookup after the first is answered
            // from the memo, which the next insert accounts for).
            assert_eq!(a.lookup(ip(2), t), Some(MAC), "peer evicted at {n}");
            assert_eq!(a.lookup(ip(2), t), Some(MAC));
        }
        assert_eq!(a.lookup(ip(254), t), Some(MAC), "gateway evicted");
        assert_eq!(a.len(), 8);
        assert!(k.arp_evicted >= 56);
    }

    #[test]
    fn capacity_bound_evicts() {
        let mut a = cache(2);
        let mut k = IfaceCounters::default();
        let t = Instant::ZERO;
        for n in 2..6 {
            a.learn(ip(n), MAC, t, true, &mut k);
        }
        assert_eq!(a.len(), 2);
        assert_eq!(k.arp_evicted, 2);
        assert_eq!(a.lookup(ip(5), t), Some(MAC));
        assert_eq!(a.lookup(ip(4), t), Some(MAC));
        assert_eq!(a.lookup(ip(2), t), None);
    }

    /// Linux's `unres_qlen` 101 is `unres_qlen_bytes` over a full frame's truesize; ours
    /// comes out the same.
    #[test]
    fn the_default_byte_bound_is_linux_unres_qlen_in_full_frames() {
        let c = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ip(1), 24);
        assert_eq!(c.arp_pending_bytes_per_neighbor / truesize(1500), 101);
        assert_eq!(truesize(1500), 1514 + 256 + 320);
    }

    /// As Linux keeps it, a packet alone over the per-neighbour bound still waits (the bound
    /// decides how much older traffic may wait beside the newest); the total bound is strict.
    #[test]
    fn a_lone_packet_over_the_neighbour_bound_waits_but_never_past_the_total() {
        let mut c = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ip(1), 24);
        c.arp_pending_bytes_per_neighbor = 100;
        c.arp_pending_bytes_total = truesize(1000);
        let mut a = ArpCache::new(&c);
        let mut k = IfaceCounters::default();
        let t = Instant::ZERO;
        let big = [0u8; 1000];
        assert_eq!(a.enqueue(ip(2), &big, t, &mut k).queued, Enqueued::Queued);
        assert_eq!(a.enqueue(ip(2), &big, t, &mut k).queued, Enqueued::Queued);
        assert_eq!((a.queued_packets(), k.arp_queue_full), (1, 1), "the older one went");
        // Another neighbour: its queue is empty and the total is full: the new one goes.
        assert_eq!(a.enqueue(ip(3), b"x", t, &mut k).queued, Enqueued::Dropped);
        assert_eq!(
            (a.queued_packets(), a.queued_bytes(), k.arp_queue_full),
            (1, truesize(1000), 2)
        );
        assert_eq!(a.enqueue(ip(2), &[0u8; 1001], t, &mut k).queued, Enqueued::Dropped);
        assert_eq!((a.queued_packets(), k.arp_queue_full), (0, 4), "over the total alone");
    }

    #[test]
    fn queue_bounds_release_and_give_up() {
        let mut a = cache(8);
        let mut k = IfaceCounters::default();
        let t = Instant::ZERO;
        let out = |queued, send_request| EnqueueOutcome { queued, send_request };
        assert_eq!(a.enqueue(ip(2), b"p1", t, &mut k), out(Enqueued::Queued, true));
        assert_eq!(a.enqueue(ip(2), b"p2", t, &mut k), out(Enqueued::Queued, false));
        // Per-neighbour bound (two such packets): the oldest makes room for the newest.
        assert_eq!(a.enqueue(ip(2), b"p3", t, &mut k), out(Enqueued::Queued, false));
        assert_eq!(k.arp_queue_full, 1);
        assert_eq!(a.enqueue(ip(3), b"q1", t, &mut k), out(Enqueued::Queued, true));
        // Total bound (three): a neighbour's own oldest packet makes room ...
        assert_eq!(a.enqueue(ip(3), b"q2", t, &mut k), out(Enqueued::Queued, false));
        // ... and a neighbour with none cannot queue.
        assert_eq!(a.enqueue(ip(4), b"r1", t, &mut k), out(Enqueued::Dropped, true));
        assert_eq!(k.arp_queue_full, 3);
        assert_eq!((a.queued_packets(), a.queued_bytes()), (3, 3 * truesize(2)));
        assert!(a.is_pending(ip(4)));
        assert!(a.is_pending(ip(2)));

        let released = a.learn(ip(2), MAC, t, false, &mut k).unwrap();
        assert_eq!(released, VecDeque::from(vec![b"p2".to_vec(), b"p3".to_vec()]));
        assert_eq!(a.queued_packets(), 1);

        // ip(3), ip(4): retries at 1 s and 2 s, give up at 3 s (3 requests each in all).
        let mut sent = Vec::new();
        a.poll(t + Duration::from_millis(999), &mut k, |i, _| sent.push(i));
        assert!(sent.is_empty());
        assert_eq!(a.poll_at(), Some(t + Duration::from_secs(1)));
        a.poll(t + Duration::from_secs(1), &mut k, |i, _| sent.push(i));
        a.poll(t + Duration::from_secs(2), &mut k, |i, _| sent.push(i));
        sent.sort();
        assert_eq!(sent, vec![ip(3), ip(3), ip(4), ip(4)]);
        a.poll(t + Duration::from_secs(3), &mut k, |i, _| sent.push(i));
        assert_eq!(sent.len(), 4);
        // Only ip(3) had a packet waiting (ip(4)'s was refused up front).
        assert_eq!(k.arp_resolution_failed, 1);
        assert!(!a.is_pending(ip(3)) && !a.is_pending(ip(4)));
        assert!(a.is_empty() || a.lookup(ip(2), t).is_some());
        assert_eq!(a.poll_at(), None);
        assert_eq!(a.queued_packets(), 0);
    }
}
