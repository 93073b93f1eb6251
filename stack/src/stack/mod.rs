//! The stack facade: one TCP/IP stack instance per core, the only thing a driver calls.
//!
//! A [`Stack`] owns the [`Interface`], the listeners, every connection (in a
//! [`Table`](crate::flow::Table) slab, found by 4-tuple in O(1)), one timing-wheel timer per
//! connection, the ISN generator, SYN cookies, the ephemeral port selector and the counters.
//! It is sans-IO like its parts: `now` and every key are arguments, and frames come in and go
//! out as byte slices.
//!
//! # Order of calls (quinn-proto style)
//!
//! For each batch of work the driver calls:
//! 1. **Input**: [`receive`](Stack::receive)`(now, frame)` for every received frame, and
//!    [`on_timeout`](Stack::on_timeout)`(now)` once `now` has reached
//!    [`poll_timeout`](Stack::poll_timeout).
//! 2. **Application**: [`poll_event`](Stack::poll_event) until `None`, and the socket calls
//!    (`tcp_accept`, `tcp_recv`/`tcp_read`, `tcp_send`, `tcp_close`, ...) it prompts.
//! 3. **Output**: [`poll_transmit`](Stack::poll_transmit)`(now, buf)` until `None`, each call
//!    lending a buffer of at least [`DeviceCaps::max_frame_len`](crate::iface::DeviceCaps)
//!    bytes and getting one complete frame back.
//! 4. **Sleep** until [`poll_timeout`](Stack::poll_timeout) or the next frame.
//!
//! Calls may interleave in other orders without harm; this order only minimises latency.
//!
//! # Costs
//!
//! Nothing scans the connections. A received segment costs one flow-table lookup (plus a
//! listener lookup when it matches no connection). Each connection has exactly one timer in
//! the wheel, re-armed in O(1) from [`Connection::poll_timeout`](crate::tcp::Connection::poll_timeout) after any call that touched
//! it: every change to a connection runs inside `Stack::touch`, which settles it afterwards. Connections with something to send, and connections with events, sit in ready queues,
//! so `poll_transmit` and `poll_event` cost O(ready), not O(connections).
//!
//! Files: `config` (configuration and keys), `socket` (handles, events, errors), `input`
//! (demultiplexing, RFC 9293 §3.10.7.1/2, RFC 6191), `output` (frames), `api` (socket calls),
//! `touch` (the one way to change a connection, and the bookkeeping after it).

mod api;
mod batch;
pub use batch::{staged_from, Prefetch};
mod config;
mod configs;
mod input;
mod ipv6;
mod output;
mod path_errors;
mod port_slot;
mod ready;
mod socket;
mod touch;
mod ts_slot;
mod tx_template;

pub use config::{StackConfig, StackKeys};
pub use ipv6::AnyKey;
pub use socket::{ConnectError, ListenError, ListenHandle, StackEvent, TcpError, TcpHandle};

use std::collections::VecDeque;

use crate::flow::{FlowHandle, FlowKey, FlowKey6, ListenerTable};
use crate::iface::ratelimit::TokenBucket;
use crate::iface::Interface;
use crate::tcp::chunk::{ChunkPool, MemoryCounters, MemoryLevel};
use crate::tcp::family::Ipv6Ends;
use crate::tcp::isn::IsnGenerator;
use crate::tcp::listen::{ListenCounters, Listener};
use crate::tcp::ports::EphemeralPorts;
use crate::tcp::segment::SegmentHeader;
use crate::tcp::syncookie::SynCookies;
use crate::tcp::{ColdSpares, Connection, TcpConfig, TcpCounters};
use crate::time::Instant;
use crate::wheel::TimerWheel;
use socket::ConnTimer;
use touch::Sockets;
use tx_template::TcpTemplate;

/// Counters of the stack itself (what no single connection or listener sees).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackCounters {
    /// RSTs sent for segments that matched no connection or listener (RFC 9293 §3.10.7.1).
    pub rsts_no_socket: u64,
    /// RSTs not sent to segments for closed ports because `rst_rate_per_sec` was spent.
    pub rsts_rate_limited: u64,
    /// Stateless replies dropped because the reply queue was full.
    pub replies_dropped: u64,
    /// SYNs dropped because the connection table was full.
    pub table_full_drops: u64,
    /// ICMP errors about our TCP segments (`tcp::path`).
    pub icmp_errors: u64,
    /// Of those, errors quoting a sequence number not in flight, ignored (RFC 5927 §4.1;
    /// Linux `OutOfWindowIcmps`).
    pub icmp_out_of_window: u64,
    /// Fragmentation Needed errors that lowered a connection's path MTU (RFC 1191).
    pub path_mtu_lowered: u64,
    /// Connections freed instead of entering TIME-WAIT because `max_time_wait` were there
    /// already (Linux `TCPTimeWaitOverflow`).
    pub time_wait_overflow: u64,
    /// Connections reset at close because `max_orphans` closed connections were still
    /// finishing (Linux `TCPAbortOnMemory`).
    pub orphans_aborted: u64,
    /// Frames lost on the way out (routing failure, ARP queue full).
    pub tx_errors: u64,
    /// TCP payload bytes handed to connections by `receive`: the bytes copied out of received
    /// frames into receive rings (an upper bound: the engine trims duplicates and data beyond
    /// the window before its one copy).
    pub rx_payload_bytes: u64,
    /// TCP payload bytes copied out of send rings into frames by `poll_transmit`
    /// (retransmissions included).
    pub tx_payload_bytes: u64,
}

/// A stateless segment waiting for `poll_transmit`: a RST or a cookie SYN-ACK.
#[derive(Clone, Copy, Debug)]
struct Reply {
    /// The 4-tuple, or an IPv6 connection's alias (its ports).
    key: FlowKey,
    /// The addresses of an IPv6 reply (`key` then gives only the ports).
    ipv6: Option<Ipv6Ends>,
    header: SegmentHeader,
}

/// Decides whether an ephemeral port may be used for an active open: called during
/// `tcp_connect` with the whole 4-tuple the candidate port would make, because whether the
/// replies come back to this core depends on all of it (the NIC's RSS hash of remote address
/// and port, local address and port). `Send` so that a whole `Stack` can move between threads
/// (or sit behind a mutex, as the POSIX adapter keeps it).
pub type PortFilter = Box<dyn FnMut(&FlowKey) -> bool + Send>;

/// [`PortFilter`] for active opens over IPv6.
pub type PortFilter6 = Box<dyn FnMut(&FlowKey6) -> bool + Send>;

/// One TCP/IP stack instance. See the [module documentation](self) for the order of calls.
pub struct Stack {
    iface: Interface,
    tcp_config: TcpConfig,
    /// The configurations connections share, one allocation per setting in use.
    configs: configs::SharedConfigs,
    listen_config: crate::tcp::listen::ListenConfig,
    /// Every connection; changed only through `touch` (see the `touch` module).
    flows: Sockets,
    /// The connection `tcp_input` tries first (checked against the segment's key): the one
    /// `receive_batch` looked up for the frame being received, or the previous segment's.
    rx_hint: Option<FlowHandle>,
    /// The driver's prefetch, for the staged look-ahead (`batch`; `StackConfig::prefetch`).
    prefetch: Option<Prefetch>,
    /// Connections held from which a batch is staged (`StackConfig::prefetch_from`).
    prefetch_from: usize,
    /// How a connection opened from a SYN carries its slot in its TSvals, for the
    /// look-ahead (`ts_slot`); `None` for a table too large to tag.
    slot_tags: Option<ts_slot::SlotTags>,
    /// The ports listeners take, whose frames the look-ahead finds by their echo.
    listening: ts_slot::ListeningPorts,
    /// The slot of each local port's last IPv4 active open, whose frames the look-ahead finds
    /// by their port (`port_slot`).
    active_ports: port_slot::ActivePorts,
    /// Errors ICMP reported about connections' paths (`path_errors`).
    path_errors: path_errors::PathErrors,
    listeners: ListenerTable<Listener>,
    wheel: TimerWheel<ConnTimer>,
    tx_ready: ready::ReadyQueue,
    ev_ready: ready::ReadyQueue,
    events: VecDeque<StackEvent>,
    replies: VecDeque<Reply>,
    max_replies: usize,
    /// Connections in TIME-WAIT now, and the most allowed (`StackConfig::max_time_wait`).
    time_wait: usize,
    max_time_wait: usize,
    /// Closed connections still finishing, and the most allowed (`StackConfig::max_orphans`).
    orphans: usize,
    max_orphans: usize,
    /// Budget of RSTs answering segments for closed ports.
    rst_limit: TokenBucket,
    isn: IsnGenerator,
    cookies: SynCookies,
    ports: EphemeralPorts,
    port_filter: Option<PortFilter>,
    port_filter6: Option<PortFilter6>,
    tcp_counters: TcpCounters,
    listen_counters: ListenCounters,
    counters: StackCounters,
    buffers: ChunkPool,
    /// Freed connections' cold parts, for the next connections made (`tcp::ColdSpares`).
    cold_spares: ColdSpares,
    /// The prebuilt headers of every established IPv4 connection's segments
    /// (`stack::tx_template`): the interface they depend on is fixed when it is made.
    tcp_template: TcpTemplate,
    /// Frames of the common established-state shape take `receive`'s direct path
    /// (`input::receive_common`); off only to compare the two paths.
    frame_prediction: bool,
    /// Whether `tcp_send` and `tcp_recv` take their common-case paths (`touch::send_small`,
    /// `touch::recv_small`); off only to test them against the general path.
    app_fast_path: bool,
}

impl core::fmt::Debug for Stack {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Stack")
            .field("addr", &self.iface.config().ipv4_addr)
            .field("connections", &self.flows.len())
            .field("listeners", &self.listeners.len())
            .finish_non_exhaustive()
    }
}

impl Stack {
    /// A stack for `config`, with its timing wheel starting at `now`. Allocates every table
    /// now.
    pub fn new(config: StackConfig, now: Instant) -> Self {
        let keys = config.keys;
        let mut iface = Interface::new(config.iface.clone(), config.caps);
        // The ISN secret also keys the IP ID sequences: their hash input is tagged apart.
        iface.set_ip_id_key(keys.isn);
        let tcp_template = TcpTemplate::new(&iface);
        Stack {
            iface,
            tcp_config: config.tcp,
            configs: configs::SharedConfigs::new(),
            listen_config: config.listen,
            flows: Sockets::new(config.max_connections, keys.flow_hash),
            listeners: ListenerTable::new(config.max_listeners, keys.flow_hash),
            wheel: TimerWheel::with_capacity(
                now,
                config.timer_tick,
                config.max_connections.min(1 << 16),
            ),
            tx_ready: ready::ReadyQueue::with_capacity(1024),
            ev_ready: ready::ReadyQueue::with_capacity(1024),
            events: VecDeque::with_capacity(1024),
            replies: VecDeque::with_capacity(config.max_pending_replies),
            max_replies: config.max_pending_replies,
            time_wait: 0,
            max_time_wait: config.max_time_wait.unwrap_or(config.max_connections / 2),
            orphans: 0,
            max_orphans: config.max_orphans.unwrap_or(config.max_connections / 2),
            rst_limit: TokenBucket::new(config.rst_rate_per_sec, config.rst_burst),
            isn: IsnGenerator::new(keys.isn),
            cookies: SynCookies::new(keys.syncookie),
            ports: EphemeralPorts::new(keys.ports, config.ephemeral_ports.clone()),
            port_filter: None,
            port_filter6: None,
            rx_hint: None,
            prefetch: config.prefetch,
            prefetch_from: config.prefetch_from,
            slot_tags: ts_slot::SlotTags::new(config.max_connections, keys.flow_hash),
            listening: ts_slot::ListeningPorts::new(),
            active_ports: port_slot::ActivePorts::default(),
            path_errors: path_errors::PathErrors::default(),
            tcp_counters: TcpCounters::default(),
            listen_counters: ListenCounters::default(),
            counters: StackCounters::default(),
            buffers: ChunkPool::new(config.memory, config.buffer_pool_bytes),
            cold_spares: ColdSpares::default(),
            tcp_template,
            frame_prediction: true,
            app_fast_path: true,
        }
    }

    /// Turns the application's common-case send and receive paths off (or on again): every
    /// `tcp_send` and `tcp_recv` then takes the general path, which gives the same result
    /// (`tests/stack_app_fast_equiv.rs` runs both and compares). For tests and benchmarks.
    pub fn set_app_fast_path(&mut self, on: bool) {
        self.app_fast_path = on;
    }

    /// The `Debug` form of connection `h`'s whole record (the connection, its timer entry,
    /// owner and queue flags), for tests that compare two runs state for state.
    #[doc(hidden)]
    pub fn tcp_debug_state(&self, h: TcpHandle) -> Option<String> {
        self.flows.get(h.0).map(|s| format!("{s:?}"))
    }

    /// Where the connection table's slots lie in memory: the first slot's address, the size of
    /// one (the `Socket` and its slot tag) and how many there are. For tools that map a memory
    /// trace onto the connections' fields (`scripts/touch-map.py`); nothing is read through
    /// it. Valid until the table grows.
    #[doc(hidden)]
    pub fn connection_slots(&self) -> (usize, usize, usize) {
        self.flows.slot_span()
    }

    /// The deadline connection `h`'s wheel entry sits at (which may be earlier than the
    /// connection's own next deadline, or later while an arriving segment holds an earlier one
    /// back: `Stack::touch_input`), for tests of how the entry moves.
    #[doc(hidden)]
    pub fn tcp_timer_entry(&self, h: TcpHandle) -> Option<Instant> {
        self.flows.get(h.0).and_then(|s| self.wheel.deadline(s.timer.handle()))
    }

    /// What the chunk pool did and the memory budget refused: chunks in use (and their
    /// peak), allocated and released; pressure episodes, received data dropped, sends
    /// refused, windows clamped.
    pub fn memory_counters(&self) -> MemoryCounters {
        self.buffers.counters()
    }

    /// The memory budget's level now.
    pub fn memory_level(&self) -> MemoryLevel {
        self.buffers.level()
    }

    /// The chunk pool (bytes in use and idle).
    pub fn chunk_pool(&self) -> &ChunkPool {
        &self.buffers
    }

    /// Heap bytes held by connections outside the chunk pool and the flow table's own
    /// entries (loss scoreboards, congestion-control state). Walks the connection table.
    pub fn connection_heap_bytes(&self) -> usize {
        self.flows.iter().map(|(_, _, s)| s.conn.heap_bytes()).sum()
    }

    /// Bytes one connection takes whatever it holds: its flow-table entry (the connection's
    /// hot lines and the socket's, and its index entry) and the parts no common segment
    /// touches, boxed when the connection is made. The fixed cost of a connection beside its
    /// chunks and [`connection_heap_bytes`](Self::connection_heap_bytes).
    pub fn flow_entry_bytes(&self) -> usize {
        socket::SocketTable::entry_bytes() + Connection::COLD_BYTES
    }

    /// Chunks held by connections, summed over the table (equals the pool's in-use count).
    /// Walks the connection table.
    pub fn connection_chunks(&self) -> usize {
        self.flows.iter().map(|(_, _, s)| s.conn.chunks_held()).sum()
    }

    /// Constrains ephemeral ports for active opens, e.g. to those whose 4-tuple's RSS hash
    /// steers replies to this core (`xdptcp_driver::rss::Rss::affinity_filter`).
    pub fn set_port_filter(&mut self, filter: PortFilter) {
        self.port_filter = Some(filter);
    }

    /// [`set_port_filter`](Self::set_port_filter) for active opens over IPv6.
    pub fn set_port_filter6(&mut self, filter: PortFilter6) {
        self.port_filter6 = Some(filter);
    }

    // ----- getters -----

    /// The interface (addresses, ARP, counters).
    pub fn iface(&self) -> &Interface {
        &self.iface
    }

    /// The interface, mutably: UDP sockets live there (`udp_bind`, `udp_send_to`, ...).
    pub fn iface_mut(&mut self) -> &mut Interface {
        &mut self.iface
    }

    /// TCP counters summed over every connection, plus the stack's own (`InErrs`, RSTs sent
    /// for closed ports, TIME-WAIT recycling). Live connections keep their own counts and are
    /// summed here, on read: folding them in on every touch cost a copy and 31 additions per
    /// segment, and this is read once per stats interval. Walks the connection table.
    pub fn tcp_counters(&self) -> TcpCounters {
        let mut total = self.tcp_counters;
        for (_, _, s) in self.flows.iter() {
            total.add(&s.conn.counters());
        }
        total
    }

    /// Listener counters summed over every listener, closed ones included (SYN cookies,
    /// overflows, drops). Walks the listener table, which is small.
    pub fn listen_counters(&self) -> ListenCounters {
        let mut total = self.listen_counters;
        for (_, _, l) in self.listeners.iter() {
            total.add(l.counters());
        }
        total
    }

    /// Turns the direct path for common frames on or off (on by default). Either way every
    /// frame has the same effect; off exists so that tests can compare the two paths
    /// (`tests/stack_rx_common_equiv.rs`) and benchmarks can measure what it saves.
    pub fn set_frame_prediction(&mut self, on: bool) {
        self.frame_prediction = on;
    }

    /// The stack's own counters.
    pub fn counters(&self) -> &StackCounters {
        &self.counters
    }

    /// Connections held (any state, TIME-WAIT and half-open included).
    pub fn connection_count(&self) -> usize {
        self.flows.len()
    }

    /// Connections in TIME-WAIT (at most `StackConfig::max_time_wait`).
    pub fn time_wait_count(&self) -> usize {
        self.time_wait
    }

    /// Connections the application closed that are still finishing their close (at most
    /// `StackConfig::max_orphans`).
    pub fn orphan_count(&self) -> usize {
        self.orphans
    }

    /// The default TCP configuration.
    pub fn tcp_config(&self) -> &TcpConfig {
        &self.tcp_config
    }

    // ----- timers -----

    /// The next instant at which [`on_timeout`](Self::on_timeout) (or, for ARP,
    /// `poll_transmit`) has work. It may be early (the wheel reports a lower bound for far
    /// timers, a connection whose deadline moved later keeps its earlier entry, and an
    /// earlier deadline an arriving segment held back counts until the transmit queue next
    /// empties, even if the response cancelled it: `Stack::touch_input`); calling
    /// `on_timeout` early is harmless.
    ///
    /// Inlined into the caller (an event loop asks every turn): with the wheel's answer
    /// cached and no neighbour timer it is a few loads and compares.
    #[inline]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.wheel.next_deadline(), self.iface.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// `conn`, new, with its keyed timestamp offset (RFC 7323 §7.1): every connection the stack
/// makes goes through here before its first segment, so none keeps the ISS-derived stand-in
/// its constructor gives it (a cookie's connection gets the offset its SYN-ACK carried).
/// A function of the cookies alone, so it can run while a listener is borrowed.
/// `local` and `remote` are its real ends (an IPv6 connection's, not its alias).
fn keyed(
    cookies: &SynCookies,
    mut conn: Connection,
    local: std::net::SocketAddr,
    remote: std::net::SocketAddr,
) -> Connection {
    conn.set_ts_offset(cookies.ts_offset(local, remote));
    conn
}
