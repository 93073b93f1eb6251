//! A socket's address family (`AF_INET` or `AF_INET6`) and the translation between the
//! addresses a caller writes and the ones the stack runs on.
//!
//! The stack has one engine for both families and names every endpoint in its own family.
//! An `AF_INET6` socket is dual-stack, as on Linux with `IPV6_V6ONLY` off (RFC 4291 §2.5.5.2,
//! RFC 3493 §3.7): it talks IPv4 to peers it names as IPv4-mapped addresses
//! (`::ffff:a.b.c.d`), and reports IPv4 peers the same way. So the caller's address is
//! "unmapped" on the way in ([`Family::to_stack`]) and "mapped" on the way out
//! ([`Family::to_user`]); inside the adapter (bound address, endpoints, UDP peer) every
//! address is the stack's.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::errno::{Errno, SysResult};

/// The domain a socket was created in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Family {
    /// `AF_INET`: IPv4 only.
    V4,
    /// `AF_INET6`: IPv6, and IPv4 through mapped addresses unless `IPV6_V6ONLY`.
    V6,
}

/// Why an address is turned into the stack's: what Linux answers differs by call when an
/// `IPV6_V6ONLY` socket is given an IPv4-mapped address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// `bind`: `EINVAL` (Linux `__inet6_bind`).
    Bind,
    /// `connect`/`sendto`: `ENETUNREACH` (Linux `tcp_v6_connect`, `udpv6_sendmsg`).
    Reach,
}

impl Family {
    /// The family of `socket`'s `domain` argument, `EAFNOSUPPORT` for any other.
    pub fn from_domain(domain: i32) -> SysResult<Family> {
        match domain {
            libc::AF_INET => Ok(Family::V4),
            libc::AF_INET6 => Ok(Family::V6),
            _ => Err(Errno::EAFNOSUPPORT),
        }
    }

    /// `AF_INET` or `AF_INET6` (`SO_DOMAIN`).
    pub fn domain(self) -> i32 {
        match self {
            Family::V4 => libc::AF_INET,
            Family::V6 => libc::AF_INET6,
        }
    }

    /// The caller's `addr` in the stack's terms. An address of the other family is
    /// `EAFNOSUPPORT` (Linux `inet_bind`, `tcp_v4_connect`, `tcp_v6_connect`); an IPv4-mapped
    /// address on an `AF_INET6` socket becomes the IPv4 address it maps, unless `v6only`.
    pub fn to_stack(self, addr: SocketAddr, v6only: bool, why: Use) -> SysResult<SocketAddr> {
        match (self, addr) {
            (Family::V4, SocketAddr::V4(_)) => Ok(addr),
            (Family::V6, SocketAddr::V6(a)) => match a.ip().to_ipv4_mapped() {
                Some(_) if v6only => Err(match why {
                    Use::Bind => Errno::EINVAL,
                    Use::Reach => Errno(libc::ENETUNREACH),
                }),
                Some(v4) => Ok(SocketAddrV4::new(v4, a.port()).into()),
                None => Ok(addr),
            },
            _ => Err(Errno::EAFNOSUPPORT),
        }
    }

    /// The stack's `addr` as a socket of this family reports it: IPv4 on an `AF_INET6`
    /// socket becomes IPv4-mapped.
    pub fn to_user(self, addr: SocketAddr) -> SocketAddr {
        match (self, addr) {
            (Family::V6, SocketAddr::V4(a)) => {
                SocketAddrV6::new(a.ip().to_ipv6_mapped(), a.port(), 0, 0).into()
            }
            _ => addr,
        }
    }

    /// The unspecified address of this family with `port` (an unbound socket's name).
    pub fn any(self, port: u16) -> SocketAddr {
        match self {
            Family::V4 => SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
            Family::V6 => SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
        }
    }

    /// Whether a socket of this family hears from `peer` (in the stack's terms): an
    /// `AF_INET` socket IPv4 only, an `AF_INET6` one both unless `v6only`.
    pub fn hears(self, peer: &SocketAddr, v6only: bool) -> bool {
        match (self, peer) {
            (Family::V4, SocketAddr::V4(_)) | (Family::V6, SocketAddr::V6(_)) => true,
            (Family::V6, SocketAddr::V4(_)) => !v6only,
            (Family::V4, SocketAddr::V6(_)) => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v6(s: &str, port: u16) -> SocketAddr {
        SocketAddr::new(s.parse::<Ipv6Addr>().expect("an IPv6 address").into(), port)
    }

    #[test]
    fn mapped_addresses_reach_the_stack_as_ipv4_and_come_back_mapped() {
        let mapped = v6("::ffff:192.0.2.1", 8080);
        let v4: SocketAddr = SocketAddrV4::new(Ipv4Addr::new(192, 0, 2, 1), 8080).into();
        assert_eq!(Family::V6.to_stack(mapped, false, Use::Reach), Ok(v4));
        assert_eq!(Family::V6.to_user(v4), mapped);
        // Native IPv6 passes unchanged both ways.
        let native = v6("fd3d:fa7b:d17d::1", 80);
        assert_eq!(Family::V6.to_stack(native, false, Use::Bind), Ok(native));
        assert_eq!(Family::V6.to_user(native), native);
        // An AF_INET socket reports IPv4 as it is.
        assert_eq!(Family::V4.to_user(v4), v4);
    }

    #[test]
    fn v6only_and_the_wrong_family_are_refused_as_linux_does() {
        let mapped = v6("::ffff:192.0.2.1", 80);
        assert_eq!(Family::V6.to_stack(mapped, true, Use::Bind), Err(Errno::EINVAL));
        assert_eq!(Family::V6.to_stack(mapped, true, Use::Reach), Err(Errno(libc::ENETUNREACH)));
        let v4: SocketAddr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 80).into();
        assert_eq!(Family::V6.to_stack(v4, false, Use::Reach), Err(Errno::EAFNOSUPPORT));
        assert_eq!(Family::V4.to_stack(mapped, false, Use::Reach), Err(Errno::EAFNOSUPPORT));
        assert!(Family::V6.hears(&v4, false) && !Family::V6.hears(&v4, true));
        assert!(!Family::V4.hears(&mapped, false));
        assert_eq!(Family::from_domain(libc::AF_UNIX), Err(Errno::EAFNOSUPPORT));
    }
}
