//! Configuration of one stack instance: every layer's settings plus the secret keys, all
//! supplied by the caller (the stack draws no random numbers of its own).

use std::ops::RangeInclusive;

use crate::iface::{DeviceCaps, InterfaceConfig};
use crate::tcp::listen::ListenConfig;
use crate::tcp::ports;
use crate::tcp::{MemoryBudget, TcpConfig};
use crate::time::Duration;

/// Secret keys. Draw each from a good random source at start-up; give every core's stack the
/// same `syncookie` key only if cookies may come back to another core (they do not with RSS).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackKeys {
    /// Keys the SipHash of the flow and listener tables (hash flooding defence).
    pub flow_hash: [u8; 16],
    /// RFC 6528 initial sequence numbers (and, with a tagged input, the per-destination IPv4
    /// IDs of `iface::ip_id`).
    pub isn: [u8; 16],
    /// RFC 4987 SYN cookies.
    pub syncookie: [u8; 16],
    /// RFC 6056 ephemeral port selection.
    pub ports: [u8; 16],
}

impl StackKeys {
    /// Four keys derived from one seed with SplitMix64: for tests and simulations only.
    pub fn from_seed(seed: u64) -> Self {
        let mut rng = crate::rng::SplitMix64::new(seed);
        let mut key = || {
            let mut k = [0u8; 16];
            for half in k.chunks_exact_mut(8) {
                half.copy_from_slice(&rng.next_u64().to_le_bytes());
            }
            k
        };
        StackKeys { flow_hash: key(), isn: key(), syncookie: key(), ports: key() }
    }
}

/// Everything one [`Stack`](super::Stack) needs.
#[derive(Clone, Debug)]
pub struct StackConfig {
    /// The IPv4 interface (addresses, ARP, ICMP, UDP limits).
    pub iface: InterfaceConfig,
    /// What the device does (medium, MTU, checksum offloads).
    pub caps: DeviceCaps,
    /// Defaults for every TCP connection (listeners may carry their own copy).
    pub tcp: TcpConfig,
    /// Listener policy: cookies and accept-queue overflow.
    pub listen: ListenConfig,
    /// Most connections (any state, TIME-WAIT included) held at once. Default 65536.
    pub max_connections: usize,
    /// Most connections in TIME-WAIT at once (Linux `tcp_max_tw_buckets`); `None` (the
    /// default) means half of `max_connections`. A connection that would enter TIME-WAIT
    /// beyond it is freed at once instead (Linux's "time wait bucket table overflow"), so
    /// closed connections can never fill the table and leave new SYNs unanswered. RFC 9293's
    /// 2·MSL protects a later incarnation of the same 4-tuple from old duplicates; timestamps
    /// (PAWS) and the ISN clock cover that case too.
    pub max_time_wait: Option<usize>,
    /// Most connections the application has closed that are still finishing (FIN-WAIT-1,
    /// FIN-WAIT-2, CLOSING, LAST-ACK: Linux's orphans, `tcp_max_orphans`); `None` (the
    /// default) means half of `max_connections`. A close beyond it resets the connection at
    /// once instead (Linux "too many orphaned sockets", `TCPAbortOnMemory`), so peers that
    /// never finish a close cannot pile closed connections up.
    pub max_orphans: Option<usize>,
    /// RSTs per second answering segments for closed ports (RFC 9293 §3.10.7.1), and the
    /// burst allowed above that rate. Default 1000 and 50, Linux's `icmp_msgs_per_sec` and
    /// `icmp_msgs_burst`: a RST to a closed port is the TCP twin of an ICMP port unreachable,
    /// and without a limit a flood of segments at closed ports (spoofed or not) is reflected
    /// one for one. Linux sends one RST per segment; FreeBSD limits them with its ICMP limit
    /// (`icmplim`), as here. A rate of 0 removes the limit.
    pub rst_rate_per_sec: u32,
    /// See `rst_rate_per_sec`.
    pub rst_burst: u32,
    /// Most listening sockets. Default 64.
    pub max_listeners: usize,
    /// Stateless replies (RSTs, cookie SYN-ACKs) that can wait for `poll_transmit`; beyond
    /// this they are dropped and counted. Default 256.
    pub max_pending_replies: usize,
    /// Tick of the timing wheel: 64 µs. Timers fire at their exact deadline whatever the
    /// tick; the tick bounds how many timers share a slot, and every poll within a tick walks
    /// the current slot (and `poll_timeout` again) to find what is due. A server handling a
    /// frame per microsecond for many connections had about 1,000 timers in a 1 ms slot; at
    /// 64 µs it has about 64, while an RTO of up to 262 ms (4,096 ticks) still sits one level
    /// above the slots and cascades once (docs/benchmarks.md, "The wheel at scale").
    pub timer_tick: Duration,
    /// Ephemeral ports for active opens: Linux's 32768..=60999.
    pub ephemeral_ports: RangeInclusive<u16>,
    /// Secret keys.
    pub keys: StackKeys,
    /// Idle chunk storage kept in the pool's free list (bytes); chunks given back beyond it
    /// are freed. Default 64 MiB (16,384 chunks).
    pub buffer_pool_bytes: usize,
    /// The stack-wide limits on chunk memory (Linux `tcp_mem`): pressure, hard limit.
    /// Default: Linux 6.18's `tcp_mem` on the lab machine (see [`MemoryBudget::linux`]).
    pub memory: MemoryBudget,
    /// How the RX look-ahead may prefetch a run of cache lines (`None`, the default: it reads ahead
    /// with plain loads). A driver sets its own (`xdptcp_driver::prefetch::l2`): the stack
    /// has no `unsafe`, so it cannot issue the instruction. With one, a receive batch is
    /// handled in stages that fetch each window's lines while the window before is handled
    /// (`Stack::receive_batch`; docs/benchmarks.md, "The staged look-ahead").
    pub prefetch: Option<super::Prefetch>,
    /// The connections held from which a receive batch goes in stages with [`prefetch`]
    /// (when there is one); below it the batch reads each window ahead with loads. With few
    /// connections their lines stay in the core's caches, and the stages' prefetches only
    /// cost: at 1,000 connections the loads were 7-9 % faster, at 20,000 and more the stages
    /// 16-30 % (docs/benchmarks.md, "Stages only where the lines miss"). A driver sets it
    /// from its core's L2 cache ([`staged_from`](super::staged_from)); the default is that
    /// of a 1 MiB L2.
    ///
    /// [`prefetch`]: Self::prefetch
    pub prefetch_from: usize,
}

impl StackConfig {
    /// A configuration for `iface` on `caps` with every other setting at its default.
    pub fn new(iface: InterfaceConfig, caps: DeviceCaps, keys: StackKeys) -> Self {
        StackConfig {
            iface,
            caps,
            tcp: TcpConfig::default(),
            listen: ListenConfig::default(),
            max_connections: 65536,
            max_time_wait: None,
            max_orphans: None,
            rst_rate_per_sec: 1000,
            rst_burst: 50,
            max_listeners: 64,
            max_pending_replies: 256,
            timer_tick: Duration::from_micros(64),
            ephemeral_ports: ports::DEFAULT_RANGE,
            keys,
            buffer_pool_bytes: 64 << 20,
            memory: MemoryBudget::linux(),
            prefetch: None,
            prefetch_from: super::staged_from(1 << 20),
        }
    }
}
