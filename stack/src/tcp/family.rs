//! What a connection needs to know of its address family (IPv4 or IPv6).
//!
//! The engine is one for both families: the family shows only in the bytes of addresses,
//! the MSS arithmetic and the smallest path MTU. An IPv4 connection keeps its addresses in
//! `Connection::local`/`remote` as before. An IPv6 connection keeps there its alias in the
//! IPv4 key space (`flow::FlowKey6::alias`), the key of its slab slot, and its real
//! addresses in an [`Ipv6Ends`], in the connection's cold part: what reads them (the IPv6
//! output path, `endpoints`) runs once the family is known, and the IPv4 hot lines do not
//! grow.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// IPv4 and TCP headers without options (RFC 791, RFC 9293).
pub const IPV4_TCP_HEADERS: usize = 40;

/// IPv6 and TCP headers without options (RFC 8200 §3, RFC 9293).
pub const IPV6_TCP_HEADERS: usize = 60;

/// The IPv6 minimum link MTU (RFC 8200 §5), the floor of an IPv6 path MTU (RFC 8201 §4).
pub const IPV6_MIN_MTU: u16 = 1280;

/// The real addresses of an IPv6 connection (see the [module docs](self)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ipv6Ends {
    /// Our address.
    pub local: Ipv6Addr,
    /// The peer's address.
    pub remote: Ipv6Addr,
}

impl Ipv6Ends {
    /// The two ends with the ports of the alias `local`/`remote`.
    pub fn with_ports(&self, local: SocketAddrV4, remote: SocketAddrV4) -> (SocketAddr, SocketAddr) {
        (
            SocketAddrV6::new(self.local, local.port(), 0, 0).into(),
            SocketAddrV6::new(self.remote, remote.port(), 0, 0).into(),
        )
    }
}
