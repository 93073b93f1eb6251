//! ICMP policy of the interface: which errors may be sent, what they quote, and echo replies.
//!
//! The message formats are in [`crate::wire::icmp`]; this module holds the host rules around
//! them, so the interface reads as "is it allowed, is it within the rate, send".

use std::net::Ipv4Addr;

use super::config::InterfaceConfig;
use crate::wire::icmp::{Icmpv4Repr, QUOTED_DATA_LEN};

/// Facts about a received datagram that decide whether an ICMP error may answer it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ErrorContext {
    /// The datagram's source address.
    pub src: Ipv4Addr,
    /// It was addressed to our unicast IP (not a broadcast or multicast IP address).
    pub to_unicast_ip: bool,
    /// It arrived in a link-layer broadcast or multicast frame.
    pub link_multicast: bool,
}

/// RFC 1122 §3.2.2: an ICMP error must not be sent about a datagram sent to an IP broadcast or
/// multicast address or as a link-layer broadcast, about a datagram whose source does not name
/// a single host (zero, loopback, broadcast, multicast, class E), about an ICMP error message,
/// or about a non-initial fragment. The last two never reach here: ICMP input never generates
/// errors and fragments are dropped before demultiplexing.
pub(crate) fn error_allowed(config: &InterfaceConfig, ctx: &ErrorContext) -> bool {
    let s = ctx.src;
    let single_host = !(s.is_unspecified()
        || s.is_loopback()
        || s.is_broadcast()
        || s.is_multicast()
        || s.octets()[0] >= 240
        || config.is_broadcast(s));
    ctx.to_unicast_ip && !ctx.link_multicast && single_host
}

/// RFC 792: an error quotes the offending datagram's IP header (options included) and the first
/// 64 bits of its data, enough for the sender to find the transport ports of the flow.
/// `datagram` is the whole datagram (header first) and `header_len` its header length.
pub(crate) fn quote(datagram: &[u8], header_len: usize) -> &[u8] {
    let end = header_len.saturating_add(QUOTED_DATA_LEN).min(datagram.len());
    datagram.get(..end).unwrap_or(datagram)
}

/// RFC 792 (echo): the reply carries the request's identifier, sequence number and data.
pub(crate) fn echo_reply<'a>(request: &Icmpv4Repr<'a>) -> Option<Icmpv4Repr<'a>> {
    match *request {
        Icmpv4Repr::EchoRequest { ident, seq_no, data } => {
            Some(Icmpv4Repr::EchoReply { ident, seq_no, data })
        }
        _ => None,
    }
}

/// What an ICMP error quotes of a TCP segment we sent: the addresses and the first 8 bytes of
/// the TCP header (RFC 792), which hold the ports and the sequence number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct QuotedTcp {
    /// Our address (the quoted datagram's source).
    pub src_ip: Ipv4Addr,
    /// The peer's address (the quoted datagram's destination).
    pub dst_ip: Ipv4Addr,
    /// Our port.
    pub src_port: u16,
    /// The peer's port.
    pub dst_port: u16,
    /// The quoted segment's sequence number.
    pub seq: u32,
}

/// If `msg` is an ICMP error quoting a TCP segment sent from `our_ip`, the quoted fields.
pub(crate) fn quoted_tcp(msg: &Icmpv4Repr<'_>, our_ip: Ipv4Addr) -> Option<QuotedTcp> {
    let original = match *msg {
        Icmpv4Repr::DstUnreachable { original, .. } | Icmpv4Repr::TimeExceeded { original, .. } => {
            original
        }
        _ => return None,
    };
    // The wire parser has checked version 4 and that header + 8 bytes are present.
    let header_len = usize::from(original.first()? & 0x0f) * 4;
    if *original.get(9)? != 6 {
        return None;
    }
    let ip = |at: usize| -> Option<Ipv4Addr> {
        let b: [u8; 4] = original.get(at..at + 4)?.try_into().ok()?;
        Some(Ipv4Addr::from(b))
    };
    let src_ip = ip(12)?;
    if src_ip != our_ip {
        return None;
    }
    let tcp = original.get(header_len..header_len + QUOTED_DATA_LEN)?;
    Some(QuotedTcp {
        src_ip,
        dst_ip: ip(16)?,
        src_port: u16::from_be_bytes([tcp[0], tcp[1]]),
        dst_port: u16::from_be_bytes([tcp[2], tcp[3]]),
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::ethernet::EthernetAddress;

    fn cfg() -> InterfaceConfig {
        InterfaceConfig::new(EthernetAddress([2, 0, 0, 0, 0, 1]), Ipv4Addr::new(10, 0, 0, 1), 24)
    }

    fn ctx(src: Ipv4Addr) -> ErrorContext {
        ErrorContext { src, to_unicast_ip: true, link_multicast: false }
    }

    #[test]
    fn errors_only_about_unicast_from_single_hosts() {
        let c = cfg();
        assert!(error_allowed(&c, &ctx(Ipv4Addr::new(10, 0, 0, 2))));
        assert!(error_allowed(&c, &ctx(Ipv4Addr::new(192, 0, 2, 9))));
        for bad in [
            Ipv4Addr::UNSPECIFIED,
            Ipv4Addr::new(127, 0, 0, 1),
            Ipv4Addr::BROADCAST,
            Ipv4Addr::new(224, 0, 0, 1),
            Ipv4Addr::new(240, 0, 0, 1),
            Ipv4Addr::new(10, 0, 0, 255),
        ] {
            assert!(!error_allowed(&c, &ctx(bad)), "{bad}");
        }
        let mut bcast = ctx(Ipv4Addr::new(10, 0, 0, 2));
        bcast.to_unicast_ip = false;
        assert!(!error_allowed(&c, &bcast));
        let mut link = ctx(Ipv4Addr::new(10, 0, 0, 2));
        link.link_multicast = true;
        assert!(!error_allowed(&c, &link));
    }

    #[test]
    fn quote_is_header_plus_eight() {
        let d: Vec<u8> = (0..40).collect();
        assert_eq!(quote(&d, 20), &d[..28]);
        assert_eq!(quote(&d, 24), &d[..32]);
        assert_eq!(quote(&d[..23], 20), &d[..23]);
    }

    #[test]
    fn echo_reply_mirrors_request() {
        let req = Icmpv4Repr::EchoRequest { ident: 7, seq_no: 9, data: b"abc" };
        assert_eq!(
            echo_reply(&req),
            Some(Icmpv4Repr::EchoReply { ident: 7, seq_no: 9, data: b"abc" })
        );
        assert_eq!(echo_reply(&Icmpv4Repr::EchoReply { ident: 1, seq_no: 1, data: b"" }), None);
    }
}
