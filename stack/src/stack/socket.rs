//! The handles, events and errors of the stack's socket API, and the per-connection record
//! the stack keeps beside each [`Connection`].

use core::fmt;

use crate::bits::Bits8;
use crate::flow::{FlowHandle, FlowKey, ListenerHandle, SlotEntry, SlotGeneration, Table};
use crate::iface::TxRoute;
use crate::tcp::family::Ipv6Ends;
use crate::tcp::{Connection, Event};
use crate::wheel::LazyEntry;

/// A TCP connection of one [`Stack`](super::Stack). Copy it freely: once the connection is
/// freed the handle stops resolving, even if its slot is reused.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct TcpHandle(pub(crate) FlowHandle);

impl TcpHandle {
    /// A dense slot number, usable to index per-connection application state.
    pub fn index(self) -> usize {
        self.0.index()
    }
}

/// A listening socket of one [`Stack`](super::Stack).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct ListenHandle(pub(crate) ListenerHandle);

/// Something the application should hear about, from [`Stack::poll_event`](super::Stack::poll_event).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum StackEvent {
    /// A connection waits in this listener's accept queue: call `tcp_accept`.
    Acceptable(ListenHandle),
    /// An event of an accepted or connected connection.
    Tcp(TcpHandle, Event),
}

/// Why `tcp_connect` failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ConnectError {
    /// Every ephemeral port towards this destination is taken (or refused by the port filter).
    NoFreePort,
    /// The connection table is full.
    TableFull,
    /// The 4-tuple already has a connection (`tcp_connect_from`).
    AddrInUse,
    /// The remote address is unusable (unspecified, broadcast, multicast or port 0).
    BadAddress,
}

/// Why `tcp_listen` failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum ListenError {
    /// A listener already holds this address and port.
    AddrInUse,
    /// The listener table is full.
    TableFull,
    /// Port 0 cannot be listened on.
    ZeroPort,
}

/// Why a call on a connection failed.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum TcpError {
    /// The handle names no live connection (never valid, or freed after it closed).
    InvalidHandle,
    /// Writing was shut down (`tcp_shutdown_write`/`tcp_close`) or the connection is closing.
    WriteClosed,
    /// The peer closed its side and every byte it sent has been read (end of stream).
    Finished,
}

impl fmt::Display for TcpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TcpError::InvalidHandle => "invalid TCP handle",
            TcpError::WriteClosed => "write side closed",
            TcpError::Finished => "end of stream",
        })
    }
}

impl std::error::Error for TcpError {}

/// Who a connection belongs to, which decides where its events go.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Owner {
    /// Half-open, counted in this listener's SYN queue.
    SynQueue(ListenerHandle),
    /// Established, waiting in this listener's accept queue.
    AcceptQueue(ListenerHandle),
    /// The application holds the handle: events are reported.
    App,
    /// Nobody will hear of it again (its listener closed): it finishes on its own.
    Orphan,
}

/// The value of a connection's timer in the wheel: the connection it belongs to. The
/// deadline the connection wants is its own (`Connection::poll_timeout`); the socket keeps
/// the entry's handle and deadline ([`LazyEntry`]), so a segment that leaves the entry where
/// it is reads nothing of the wheel, and an entry that fires early asks the connection
/// ([`Stack::on_timeout`](super::Stack::on_timeout)).
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConnTimer {
    pub(crate) conn: FlowHandle,
}

/// A socket's four facts about its close, one bit each: one byte, not four, in a record
/// that must stay within one line ([`Socket`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Closing(Bits8);

impl Closing {
    const WRITE_SHUT: u8 = 1;
    const APP_CLOSED: u8 = 2;
    const IN_TIME_WAIT: u8 = 4;
    const IN_ORPHANS: u8 = 8;

    /// The application shut down writing.
    #[inline]
    pub(crate) fn write_shut(self) -> bool {
        self.0.has(Self::WRITE_SHUT)
    }

    pub(crate) fn shut_write(&mut self) {
        self.0.set(Self::WRITE_SHUT, true);
    }

    /// The application closed the connection (`tcp_close`).
    #[inline]
    pub(crate) fn app_closed(self) -> bool {
        self.0.has(Self::APP_CLOSED)
    }

    /// Records the application's close; returns whether it had closed already.
    pub(crate) fn close_by_app(&mut self) -> bool {
        self.0.set(Self::APP_CLOSED, true)
    }

    /// Counted among the stack's TIME-WAIT connections.
    #[inline]
    pub(crate) fn in_time_wait(self) -> bool {
        self.0.has(Self::IN_TIME_WAIT)
    }

    pub(crate) fn set_in_time_wait(&mut self, on: bool) {
        self.0.set(Self::IN_TIME_WAIT, on);
    }

    /// Counted among the closed connections still finishing (orphans).
    #[inline]
    pub(crate) fn in_orphans(self) -> bool {
        self.0.has(Self::IN_ORPHANS)
    }

    pub(crate) fn set_in_orphans(&mut self, on: bool) {
        self.0.set(Self::IN_ORPHANS, on);
    }
}

/// The connection table: each socket keeps its slot's generation and gives its key (the
/// connection's addresses and ports), so that the slot holds nothing beside it.
pub(crate) type SocketTable = Table<FlowKey, Socket, Socket>;

/// One slot of the connection table: the connection's seven lines (its cold parts are boxed,
/// `tcp::cold`), then its record in one line, with the slot's generation: eight lines,
/// aligned to their 512 bytes so that no slot straddles a page and a frame's look-ahead
/// needs one page's translation for its connection. The slot's key is the connection's own
/// addresses and ports (an IPv6 connection's are its alias, `flow::v6`), and its occupancy a
/// niche of the socket (`a_slot_is_the_connection_and_one_line`).
#[derive(Debug)]
#[repr(align(512))]
pub(crate) struct Socket {
    pub(crate) conn: Connection,
    /// The connection's one timer in the wheel, kept lazily: its handle and, while the
    /// socket knows it, its deadline.
    pub(crate) timer: LazyEntry,
    pub(crate) owner: Owner,
    /// Queued in the transmit ready queue.
    pub(crate) in_tx: bool,
    /// Queued in the event ready queue.
    pub(crate) in_ev: bool,
    /// What the application and the stack's counts know of its close.
    pub(crate) closing: Closing,
    /// Its destination's IP ID sequence and next-hop neighbour entry, found once
    /// (`iface::tx_route`).
    pub(crate) route: TxRoute,
    /// An IPv6 connection's addresses (the connection itself holds its alias, `flow::v6`).
    /// Boxed: 8 bytes, which fit in the slot's padding, so an IPv4 slot does not grow; one
    /// allocation per IPv6 connection, none per segment.
    pub(crate) ipv6: Option<Box<Ipv6Ends>>,
    /// The generation of the slot it is stored in (`flow::SlotEntry`).
    slot: SlotGeneration,
}

impl SlotEntry<FlowKey> for Socket {
    type Value = Socket;

    fn fill(key: FlowKey, generation: SlotGeneration, value: Socket) -> Socket {
        debug_assert_eq!(key, value.key(), "a connection is stored under its own 4-tuple");
        Socket { slot: generation, ..value }
    }

    /// The connection's 4-tuple (or an IPv6 connection's alias), from its first line.
    #[inline]
    fn key(&self) -> FlowKey {
        let (local, remote) = (self.conn.local(), self.conn.remote());
        FlowKey {
            local_ip: *local.ip(),
            local_port: local.port(),
            remote_ip: *remote.ip(),
            remote_port: remote.port(),
        }
    }

    #[inline]
    fn generation(&self) -> SlotGeneration {
        self.slot
    }

    #[inline]
    fn value(&self) -> &Socket {
        self
    }

    #[inline]
    fn value_mut(&mut self) -> &mut Socket {
        self
    }

    fn into_value(self) -> Socket {
        self
    }
}

impl Socket {
    pub(crate) fn new(conn: Connection, owner: Owner) -> Self {
        Socket {
            conn,
            timer: LazyEntry::NONE,
            owner,
            in_tx: false,
            in_ev: false,
            closing: Closing::default(),
            route: TxRoute::default(),
            ipv6: None,
            slot: SlotGeneration::PENDING,
        }
    }

    /// The socket of an IPv6 connection when `ipv6` is given.
    pub(crate) fn with_ipv6(mut self, ipv6: Option<Ipv6Ends>) -> Self {
        self.ipv6 = ipv6.map(Box::new);
        self
    }

    /// The connection's two ends in its own family.
    pub(crate) fn endpoints(&self) -> (std::net::SocketAddr, std::net::SocketAddr) {
        let (l, r) = (self.conn.local(), self.conn.remote());
        match &self.ipv6 {
            None => (l.into(), r.into()),
            Some(e) => e.with_ports(l, r),
        }
    }
}

#[cfg(test)]
#[test]
fn the_slots_span_is_where_the_connections_lie() {
    use super::{Stack, StackConfig, StackKeys};
    use crate::iface::config::InterfaceConfig;
    use crate::iface::DeviceCaps;
    use crate::tcp::TcpConfig;
    use crate::time::Instant;
    use crate::wire::ethernet::EthernetAddress;
    use std::net::Ipv4Addr;

    let ours = Ipv4Addr::new(198, 18, 0, 1);
    let iface = InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), ours, 24);
    let cfg = StackConfig::new(iface, DeviceCaps::ethernet(1500), StackKeys::from_seed(3));
    let mut stack = Stack::new(cfg, Instant::ZERO);
    let peer = Ipv4Addr::new(198, 18, 0, 2);
    let handles: Vec<_> = (0..3)
        .map(|k| stack.tcp_connect_from(Instant::ZERO, 4000 + k, peer, 80, TcpConfig::default()))
        .collect::<Result<_, _>>()
        .expect("three connections");
    let (base, size, slots) = stack.connection_slots();
    assert_eq!(size, core::mem::size_of::<Socket>(), "a slot is its socket");
    assert!(slots >= handles.len());
    for h in handles {
        let socket = stack.flows.get(h.0).expect("a live connection");
        let at = socket as *const Socket as usize;
        assert!(at >= base && at < base + size * slots, "inside the span");
        assert_eq!((at - base) % size, 0, "at a slot's start");
        assert_eq!((at - base) / size, h.0.index(), "at its own slot");
    }
}

#[cfg(test)]
#[test]
fn a_slot_is_the_connection_and_one_line() {
    // The connection rounded to its 64-byte alignment, then the stack's fields and the slot's
    // generation in one line (the header template is the stack's, not each connection's;
    // the `ipv6` box fits), the slot's tag in a niche of the socket, no key or hash stored.
    // The wheel entry's deadline fits too (`LazyEntry`, 16 bytes), with the four close
    // flags in one byte (`Closing`) and the neighbour memo's niche.
    use core::mem::size_of;
    assert_eq!(size_of::<LazyEntry>(), 16);
    assert_eq!(size_of::<TxRoute>(), 20);
    assert_eq!(size_of::<Socket>(), size_of::<Connection>() + 64);
    // 512 bytes, its alignment (1,728 while the connection held its cold parts inline, 2,048
    // while each held a copy of its configuration): the index's entry (a hash and a slot, 8
    // bytes, and a control byte) beside it.
    assert_eq!((size_of::<Socket>(), core::mem::align_of::<Socket>()), (512, 512));
    assert_eq!(SocketTable::entry_bytes(), size_of::<Socket>() + 9);
}
