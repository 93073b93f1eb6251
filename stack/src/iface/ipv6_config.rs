//! Configuration of IPv6 on one interface: its addresses and the Neighbor Discovery knobs,
//! with Linux's defaults.

use std::net::Ipv6Addr;

use crate::time::Duration;
use crate::wire::ethernet::EthernetAddress;

/// An IPv6 address with the length of its on-link prefix (RFC 4291 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Cidr {
    /// The address.
    pub addr: Ipv6Addr,
    /// Prefix length, 0..=128: destinations sharing it are on-link (RFC 4861 §5.2).
    pub prefix_len: u8,
}

impl Ipv6Cidr {
    /// `addr/prefix_len`, the length clamped to 128.
    pub fn new(addr: Ipv6Addr, prefix_len: u8) -> Self {
        Ipv6Cidr { addr, prefix_len: prefix_len.min(128) }
    }

    /// Whether `other` shares this prefix.
    pub fn contains(&self, other: Ipv6Addr) -> bool {
        let mask = match self.prefix_len {
            0 => 0,
            n => u128::MAX << (128 - u32::from(n.min(128))),
        };
        u128::from(self.addr) & mask == u128::from(other) & mask
    }
}

/// IPv6 on one interface. Off unless [`enabled`](Self::enabled): an IPv4-only interface
/// drops IPv6 frames as before (`rx_unknown_ethertype`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv6Config {
    /// Whether IPv6 runs on this interface at all.
    pub enabled: bool,
    /// The link-local address. `None` (the default) forms it from the MAC address as a
    /// modified EUI-64 interface identifier (RFC 4291 Appendix A, RFC 4862 §5.3), as Linux
    /// does with `addr_gen_mode` 0.
    pub link_local: Option<Ipv6Addr>,
    /// Configured global (or unique-local) addresses, several allowed, each with its prefix.
    pub addresses: Vec<Ipv6Cidr>,
    /// Neighbour solicitations sent for duplicate address detection before an address is
    /// used (RFC 4862 §5.1 `DupAddrDetectTransmits`). Default 1 (Linux `dad_transmits`);
    /// 0 skips detection and uses addresses at once.
    pub dad_transmits: u32,
    /// How long after the interface first polls the first detection probe goes out. RFC 4862
    /// §5.4.2 asks for a random delay of up to a second (`MAX_RTR_SOLICITATION_DELAY`) so
    /// that nodes brought up together do not probe together; the stack draws no random
    /// numbers, so the caller picks it (the driver does, from the OS). Default 0.
    pub dad_delay: Duration,
    /// Whether router advertisements may set the default router (RFC 4861 §6.3.4). Default
    /// true (Linux `accept_ra` 1 on a host).
    pub accept_ra: bool,
    /// Hop limit of the packets we originate (Neighbor Discovery always uses 255). Default 64
    /// (Linux `hop_limit`).
    pub hop_limit: u8,
}

impl Default for Ipv6Config {
    fn default() -> Self {
        Ipv6Config {
            enabled: false,
            link_local: None,
            addresses: Vec::new(),
            dad_transmits: 1,
            dad_delay: Duration::ZERO,
            accept_ra: true,
            hop_limit: 64,
        }
    }
}

impl Ipv6Config {
    /// IPv6 enabled with `addresses` (and a link-local address from the MAC).
    pub fn with_addresses(addresses: Vec<Ipv6Cidr>) -> Self {
        Ipv6Config { enabled: true, addresses, ..Ipv6Config::default() }
    }
}

/// The link-local address whose interface identifier is `mac`'s modified EUI-64: the
/// universal/local bit flipped and ff:fe inserted in the middle (RFC 4291 Appendix A).
pub fn link_local_from_mac(mac: EthernetAddress) -> Ipv6Addr {
    let m = mac.0;
    let mut o = [0u8; 16];
    o[0] = 0xfe;
    o[1] = 0x80;
    o[8..16].copy_from_slice(&[m[0] ^ 0x02, m[1], m[2], 0xff, 0xfe, m[3], m[4], m[5]]);
    Ipv6Addr::from(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_local_is_the_modified_eui64_of_the_mac() {
        let mac = EthernetAddress([0x00, 0x1b, 0x21, 0x3a, 0x4b, 0x5c]);
        let want: Ipv6Addr = "fe80::21b:21ff:fe3a:4b5c".parse().unwrap();
        assert_eq!(link_local_from_mac(mac), want);
    }

    #[test]
    fn prefixes_contain_what_they_should() {
        let c = Ipv6Cidr::new("2001:db8:1::5".parse().unwrap(), 64);
        assert!(c.contains("2001:db8:1::ffff".parse().unwrap()));
        assert!(!c.contains("2001:db8:2::5".parse().unwrap()));
        assert!(Ipv6Cidr::new(Ipv6Addr::UNSPECIFIED, 0).contains(Ipv6Addr::LOCALHOST));
        let host = Ipv6Cidr::new("2001:db8::1".parse().unwrap(), 200);
        assert_eq!(host.prefix_len, 128);
        assert!(!host.contains("2001:db8::2".parse().unwrap()));
    }
}
