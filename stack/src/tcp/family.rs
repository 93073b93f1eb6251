//! What a connection needs to know of its address family (IPv4 or IPv6).
//!
//! The engine is one for both families: the family shows only in the bytes of addresses,
//! the MSS arithmetic and the smallest path MTU. An IPv4 connection keeps its addresses in
//! `Connection::local`/`remote` as before. An IPv6 connection keeps there its alias in the
//! IPv4 key space (`flow::FlowKey6::alias`: local address `255.255.255.255`, the real
//! ports), the key of its slab slot, and that alias is how the connection knows its family.
//! Its real addresses, an [`Ipv6Ends`], sit beside it in the stack's per-connection record:
//! what reads them (the IPv6 output path, `tcp_addrs`) runs once the family is known, and no
//! field was added to `Connection`, so an IPv4 connection does not grow at all.

use std::net::{Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

/// IPv4 and TCP headers without options (RFC 791, RFC 9293).
pub const IPV4_TCP_HEADERS: usize = 40;

/// IPv6 and TCP headers without options (RFC 8200 §3, RFC 9293).
pub const IPV6_TCP_HEADERS: usize = 60;

/// The IPv6 minimum link MTU (RFC 8200 §5), the floor of an IPv6 path MTU (RFC 8201 §4).
pub const IPV6_MIN_MTU: u16 = 1280;

/// Whether `local` is an IPv6 connection's alias (see the [module docs](self)).
#[inline]
pub fn is_ipv6_alias(local: SocketAddrV4) -> bool {
    local.ip().is_broadcast()
}

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
    pub fn with_ports(
        &self,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> (SocketAddr, SocketAddr) {
        (
            SocketAddrV6::new(self.local, local.port(), 0, 0).into(),
            SocketAddrV6::new(self.remote, remote.port(), 0, 0).into(),
        )
    }
}
