//! Which TCP ports are bound, and by what, so that `bind` refuses what Linux refuses.
//!
//! Linux decides a bind conflict by address, not by port alone (`inet_csk_bind_conflict`
//! through `inet_rcv_saddr_equal` / `ipv6_rcv_saddr_equal`): two sockets on one port clash
//! when the addresses they take overlap, a wildcard overlapping every address of the
//! families it takes. An `AF_INET6` socket on `::` takes IPv4 too unless `IPV6_V6ONLY`, so
//! `[::]:P` with `IPV6_V6ONLY` and `0.0.0.0:P` coexist, while a dual-stack `[::]:P` clashes
//! with both. Binds are rare, so a short list per port is enough.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};

use crate::errno::{Errno, SysResult};

/// One socket's hold on a port: its address in the stack's terms (an IPv4-mapped address
/// is IPv4), and whether it is a dual-stack `::` one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PortClaim {
    pub ip: IpAddr,
    /// `AF_INET6` on `::` without `IPV6_V6ONLY`: takes every IPv4 address too.
    pub dual: bool,
    /// `SO_REUSEADDR`: two claims that both have it do not clash.
    pub reuse: bool,
}

impl PortClaim {
    /// The claim of a socket bound to `ip` (stack terms); `v6only` as the socket has it.
    pub fn new(ip: IpAddr, v6only: bool, reuse: bool) -> PortClaim {
        let dual = !v6only && ip.is_ipv6() && ip.is_unspecified();
        PortClaim { ip, dual, reuse }
    }

    /// The IPv4 address it takes, `0.0.0.0` for all, `None` for none.
    fn ipv4(&self) -> Option<Ipv4Addr> {
        match self.ip {
            IpAddr::V4(a) => Some(a),
            IpAddr::V6(_) if self.dual => Some(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(_) => None,
        }
    }

    /// Whether the two take a common address (Linux `inet_rcv_saddr_equal` with wildcards
    /// matching).
    fn overlaps(&self, other: &PortClaim) -> bool {
        let v4 = match (self.ipv4(), other.ipv4()) {
            (Some(a), Some(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
            _ => false,
        };
        let v6 = match (self.ip, other.ip) {
            (IpAddr::V6(a), IpAddr::V6(b)) => a == b || a.is_unspecified() || b.is_unspecified(),
            _ => false,
        };
        v4 || v6
    }
}

/// Bound TCP ports and their claims.
#[derive(Debug, Default)]
pub(crate) struct TcpPorts {
    by_port: HashMap<u16, Vec<PortClaim>>,
}

impl TcpPorts {
    /// Whether no socket holds `port`.
    pub fn is_free(&self, port: u16) -> bool {
        !self.by_port.contains_key(&port)
    }

    /// Records `claim` on `port`, refusing one that overlaps a claim there unless both have
    /// `SO_REUSEADDR`: `EADDRINUSE`.
    pub fn claim(&mut self, port: u16, claim: PortClaim) -> SysResult<()> {
        let held = self.by_port.entry(port).or_default();
        if held.iter().any(|h| h.overlaps(&claim) && !(h.reuse && claim.reuse)) {
            if held.is_empty() {
                self.by_port.remove(&port);
            }
            return Err(Errno::EADDRINUSE);
        }
        held.push(claim);
        Ok(())
    }

    /// Gives back one `claim` on `port` (`SO_REUSEADDR` may have changed since the claim:
    /// an exact match first, else one for the same addresses).
    pub fn release(&mut self, port: u16, claim: PortClaim) {
        if let Some(held) = self.by_port.get_mut(&port) {
            let same = |h: &PortClaim| h.ip == claim.ip && h.dual == claim.dual;
            let i = held.iter().position(|h| *h == claim).or_else(|| held.iter().position(same));
            if let Some(i) = i {
                held.swap_remove(i);
            }
            if held.is_empty() {
                self.by_port.remove(&port);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const ANY4: IpAddr = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
    const ANY6: IpAddr = IpAddr::V6(Ipv6Addr::UNSPECIFIED);

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("an address")
    }

    #[test]
    fn conflicts_follow_linux_inet6_rcv_saddr_equal() {
        let dual = PortClaim::new(ANY6, false, false);
        let only6 = PortClaim::new(ANY6, true, false);
        let any4 = PortClaim::new(ANY4, false, false);
        let a4 = PortClaim::new(ip("198.18.0.2"), false, false);
        let a6 = PortClaim::new(ip("2001:db8::2"), false, false);
        let b6 = PortClaim::new(ip("2001:db8::3"), true, false);
        let clash = |x: PortClaim, y: PortClaim| x.overlaps(&y) && y.overlaps(&x);
        assert!(!only6.overlaps(&any4) && !any4.overlaps(&only6));
        assert!(!only6.overlaps(&a4));
        assert!(clash(dual, any4) && clash(dual, a4) && clash(dual, only6) && clash(dual, a6));
        assert!(clash(only6, only6) && clash(only6, a6) && clash(any4, a4));
        assert!(!a6.overlaps(&b6) && !a6.overlaps(&any4) && !a4.overlaps(&a6));
    }

    #[test]
    fn claims_are_refused_and_released() {
        let mut t = TcpPorts::default();
        let only6 = PortClaim::new(ANY6, true, false);
        let any4 = PortClaim::new(ANY4, false, false);
        t.claim(80, only6).unwrap();
        t.claim(80, any4).unwrap();
        assert_eq!(t.claim(80, PortClaim::new(ANY6, false, false)), Err(Errno::EADDRINUSE));
        let reusing = PortClaim { reuse: true, ..any4 };
        assert_eq!(t.claim(80, reusing), Err(Errno::EADDRINUSE), "the holder lacks reuse");
        t.release(80, any4);
        t.claim(80, reusing).unwrap();
        t.claim(80, reusing).unwrap();
        t.release(80, only6);
        t.release(80, reusing);
        assert!(!t.is_free(80));
        t.release(80, reusing);
        assert!(t.is_free(80));
    }
}
