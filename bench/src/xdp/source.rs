//! Destinations of client commands (`load --target`, `xfer --connect`, `serve proxy
//! --backend`) of either family. Waiting for a source address before connecting is the
//! driver's [`source_ready`](xdptcp_driver::service::source_ready).

use std::net::SocketAddr;

use xdptcp_stack::iface::Ipv6Cidr;

/// Parses `--FLAG ADDR:PORT` (`198.18.0.1:7` or `[2001:db8::1]:7`), and refuses an IPv6
/// destination when `ipv6` (the `--ip` list's IPv6 addresses) is empty, with the fix.
pub fn parse_target(flag: &str, s: &str, ipv6: &[Ipv6Cidr]) -> Result<SocketAddr, String> {
    let addr: SocketAddr = s
        .parse()
        .map_err(|_| format!("bad {flag} '{s}': expected IPv4ADDR:PORT or [IPv6ADDR]:PORT"))?;
    if addr.is_ipv6() && ipv6.is_empty() {
        return Err(format!(
            "{flag} {s}: an IPv6 destination needs an IPv6 address of ours: add one to --ip, \
             e.g. --ip 198.18.0.2/24,2001:db8::2/64"
        ));
    }
    Ok(addr)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const OURS: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    #[test]
    fn targets_of_both_families_parse_and_ipv6_needs_an_address() {
        let ours = [Ipv6Cidr::new(OURS, 64)];
        assert_eq!(
            parse_target("--target", "[2001:db8::1]:7", &ours),
            Ok(SocketAddr::from((DST, 7)))
        );
        assert!(parse_target("--target", "198.18.0.1:7", &[]).is_ok());
        let e = parse_target("--target", "[2001:db8::1]:7", &[]).unwrap_err();
        assert!(e.contains("add one to --ip"), "{e}");
        let e = parse_target("--target", "2001:db8::1:7", &ours).unwrap_err();
        assert!(e.contains("[IPv6ADDR]:PORT"), "{e}");
    }
}
