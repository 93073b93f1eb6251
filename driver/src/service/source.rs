//! Active opens over IPv6 wait for duplicate address detection (RFC 4862 §5.4): until one of
//! our addresses is preferred, a tentative address is never a source and
//! `tcp_connect_to` says `BadAddress`. A client service asks [`source_ready`] when it would
//! connect and, while detection runs, asks again when the stack's next detection step is
//! due (`Ipv6State::dad_poll_at`), so it connects as soon as the address is usable.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use xdptcp_stack::iface::{AddrState, Ipv6State};
use xdptcp_stack::time::{Duration, Instant};

/// Whether an active open to a destination has a source address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceReady {
    /// Connect now.
    Ready,
    /// Detection is still running: ask again at this instant.
    RetryAt(Instant),
    /// No address will ever do: the one-line reason.
    Failed(String),
}

/// The least wait before asking again, so a check that runs just before the stack's own
/// detection step (at the same instant) does not spin.
const MIN_RETRY: Duration = Duration::from_millis(1);

/// Whether `v6` has a usable source for `remote` at `now`. IPv4 is always ready (ARP is the
/// interface's business). Over IPv6 a link-local destination needs our link-local address, any
/// other a preferred global one (sending to it from the link-local one would not be routable).
pub fn source_ready(v6: &Ipv6State, now: Instant, remote: SocketAddr) -> SourceReady {
    let IpAddr::V6(dst) = remote.ip() else { return SourceReady::Ready };
    let link_local = |a: Ipv6Addr| a.segments()[0] & 0xffc0 == 0xfe80;
    let want_ll = link_local(dst);
    let mut tentative = false;
    let mut duplicate = None;
    for a in v6.addresses().iter().filter(|a| link_local(a.cidr.addr) == want_ll) {
        match a.state {
            AddrState::Preferred => return SourceReady::Ready,
            AddrState::Tentative { .. } => tentative = true,
            AddrState::Duplicate => duplicate = Some(a.cidr.addr),
        }
    }
    if tentative {
        let at = v6.dad_poll_at().unwrap_or(now).max(now + MIN_RETRY);
        return SourceReady::RetryAt(at);
    }
    SourceReady::Failed(match duplicate {
        Some(addr) => format!(
            "cannot connect to {remote}: duplicate address detection failed, {addr} is already \
             in use on the link"
        ),
        None => format!("cannot connect to {remote}: no IPv6 address of ours (add one to --ip)"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use xdptcp_stack::iface::{IfaceCounters, InterfaceConfig, Ipv6Cidr, Ipv6Config};
    use xdptcp_stack::wire::ethernet::EthernetAddress;

    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const OURS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    fn state(dad_transmits: u32) -> Ipv6State {
        let mac = EthernetAddress([2, 0, 0, 0, 0, 1]);
        let mut config = InterfaceConfig::new(mac, std::net::Ipv4Addr::new(198, 18, 0, 1), 24);
        config.ipv6 = Ipv6Config::with_addresses(vec![Ipv6Cidr::new(OURS, 64)]);
        config.ipv6.dad_transmits = dad_transmits;
        config.ipv6.dad_delay = Duration::ZERO;
        Ipv6State::new(&config)
    }

    fn remote(ip: Ipv6Addr) -> SocketAddr {
        SocketAddr::from((ip, 7))
    }

    #[test]
    fn ipv4_is_always_ready_and_no_detection_means_ready() {
        let v6 = state(0);
        assert_eq!(
            source_ready(&v6, Instant::ZERO, "198.18.0.1:7".parse().unwrap()),
            SourceReady::Ready
        );
        assert_eq!(source_ready(&v6, Instant::ZERO, remote(DST)), SourceReady::Ready);
    }

    #[test]
    fn waits_for_detection_then_is_ready() {
        let mut v6 = state(1);
        let mut counters = IfaceCounters::default();
        let mut now = Instant::ZERO;
        let mut probes = Vec::new();
        let mut asked = 0;
        loop {
            match source_ready(&v6, now, remote(DST)) {
                SourceReady::Ready => break,
                SourceReady::RetryAt(at) => {
                    assert!(at > now, "asks again later, not now");
                    now = at;
                }
                SourceReady::Failed(e) => panic!("{e}"),
            }
            v6.dad_poll(now, &mut counters, &mut probes);
            asked += 1;
            assert!(asked < 10, "detection never finished");
        }
        assert!(asked >= 2, "one probe, then its verdict: the first ask must wait");
        assert!(v6.is_ours(OURS));
    }

    #[test]
    fn a_duplicate_address_is_a_one_line_error() {
        let mut v6 = state(1);
        let mut counters = IfaceCounters::default();
        assert!(v6.dad_failed(OURS, &mut counters));
        let SourceReady::Failed(e) = source_ready(&v6, Instant::ZERO, remote(DST)) else {
            panic!("a duplicate global address cannot be a source");
        };
        assert!(e.contains("2001:db8::2 is already in use"), "{e}");
        assert!(!e.contains('\n'));
    }
}
