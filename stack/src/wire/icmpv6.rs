//! ICMPv6 (RFC 4443) and the Neighbor Discovery messages carried in it (RFC 4861).
//!
//! One parsed representation, [`Icmpv6Repr`], for what a host sends and answers: echo, the
//! four error messages, router solicitation and advertisement, neighbour solicitation and
//! advertisement. Errors quote the invoking packet as a slice of the received buffer;
//! Neighbor Discovery options are read by [`NdpOptions`], an iterator over the option bytes
//! (no allocation: a router advertisement's prefixes are walked where they lie). The checksum
//! always covers the IPv6 pseudo-header (RFC 4443 §2.3), so parsing and emitting take the
//! addresses.
//!
//! What the wire layer checks of Neighbor Discovery is what the bytes alone can tell (RFC 4861
//! §6.1.2, §7.1): code 0, the minimum length, option lengths that are not zero and stay in
//! the message, targets that are not multicast. The hop limit of 255 that proves the message
//! was not forwarded is in the IPv6 header: the interface checks it.

use std::net::Ipv6Addr;

use super::checksum;
use super::ethernet::EthernetAddress;
use super::ipv6::{self, next_header};
use super::{Error, Result};

/// Length of the fixed part every message has (type, code, checksum, 4 more bytes).
pub const HEADER_LEN: usize = 8;
/// Most bytes of an invoking packet an error quotes: as much as fits the minimum MTU (RFC
/// 4443 §2.4 (c)).
pub const MAX_QUOTE: usize = ipv6::MIN_MTU - ipv6::HEADER_LEN - HEADER_LEN;

/// Message types (IANA "ICMPv6 Parameters").
pub mod kind {
    /// Destination unreachable.
    pub const DST_UNREACHABLE: u8 = 1;
    /// Packet too big.
    pub const PACKET_TOO_BIG: u8 = 2;
    /// Time exceeded.
    pub const TIME_EXCEEDED: u8 = 3;
    /// Parameter problem.
    pub const PARAM_PROBLEM: u8 = 4;
    /// Echo request.
    pub const ECHO_REQUEST: u8 = 128;
    /// Echo reply.
    pub const ECHO_REPLY: u8 = 129;
    /// Router solicitation.
    pub const ROUTER_SOLICIT: u8 = 133;
    /// Router advertisement.
    pub const ROUTER_ADVERT: u8 = 134;
    /// Neighbor solicitation.
    pub const NEIGHBOR_SOLICIT: u8 = 135;
    /// Neighbor advertisement.
    pub const NEIGHBOR_ADVERT: u8 = 136;
}

/// Neighbor Discovery option types (RFC 4861 §4.6).
pub mod option {
    /// Source link-layer address.
    pub const SOURCE_LL: u8 = 1;
    /// Target link-layer address.
    pub const TARGET_LL: u8 = 2;
    /// Prefix information.
    pub const PREFIX_INFO: u8 = 3;
    /// MTU.
    pub const MTU: u8 = 5;
}

/// One Neighbor Discovery option (the ones a host acts on; others are skipped, RFC 4861 §4.6:
/// "receivers MUST silently ignore any options they do not recognize").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NdpOption {
    /// Source link-layer address (Ethernet).
    SourceLinkAddr(EthernetAddress),
    /// Target link-layer address (Ethernet).
    TargetLinkAddr(EthernetAddress),
    /// Prefix information (RFC 4861 §4.6.2).
    Prefix {
        /// Prefix length in bits.
        len: u8,
        /// On-link flag.
        on_link: bool,
        /// Autonomous address-configuration flag.
        autonomous: bool,
        /// Valid lifetime in seconds (all ones: forever).
        valid: u32,
        /// Preferred lifetime in seconds.
        preferred: u32,
        /// The prefix.
        prefix: Ipv6Addr,
    },
    /// The link MTU (RFC 4861 §4.6.4).
    Mtu(u32),
}

/// The options of a Neighbor Discovery message, in order. Yields `Err(Error::BadLength)` once
/// (and then stops) for an option of length zero or one that runs past the message: RFC 4861
/// says to discard such a message, so a caller treats the error as fatal.
#[derive(Debug, Clone)]
pub struct NdpOptions<'a> {
    bytes: &'a [u8],
}

impl<'a> NdpOptions<'a> {
    /// Options in `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        NdpOptions { bytes }
    }

    /// Checks every option's length; `Ok` if all are well formed.
    pub fn check(&self) -> Result<()> {
        self.clone().try_for_each(|o| o.map(|_| ()))
    }

    /// The first link-layer address option of `kind` ([`option::SOURCE_LL`] or
    /// [`option::TARGET_LL`]), if any.
    pub fn link_addr(&self, kind: u8) -> Option<EthernetAddress> {
        self.clone().map_while(|o| o.ok()).find_map(|o| match (kind, o) {
            (option::SOURCE_LL, NdpOption::SourceLinkAddr(a)) => Some(a),
            (option::TARGET_LL, NdpOption::TargetLinkAddr(a)) => Some(a),
            _ => None,
        })
    }
}

impl Iterator for NdpOptions<'_> {
    type Item = Result<NdpOption>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.bytes.is_empty() {
                return None;
            }
            let len = usize::from(*self.bytes.get(1).unwrap_or(&0)) * 8;
            let Some(opt) = self.bytes.get(..len).filter(|_| len > 0) else {
                self.bytes = &[];
                return Some(Err(Error::BadLength));
            };
            self.bytes = &self.bytes[len..];
            let mac = |o: &[u8]| EthernetAddress([o[2], o[3], o[4], o[5], o[6], o[7]]);
            let u32_at =
                |o: &[u8], i: usize| u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]);
            match (opt[0], len) {
                (option::SOURCE_LL, 8) => return Some(Ok(NdpOption::SourceLinkAddr(mac(opt)))),
                (option::TARGET_LL, 8) => return Some(Ok(NdpOption::TargetLinkAddr(mac(opt)))),
                (option::PREFIX_INFO, 32) => {
                    let mut p = [0u8; 16];
                    p.copy_from_slice(&opt[16..32]);
                    return Some(Ok(NdpOption::Prefix {
                        len: opt[2],
                        on_link: opt[3] & 0x80 != 0,
                        autonomous: opt[3] & 0x40 != 0,
                        valid: u32_at(opt, 4),
                        preferred: u32_at(opt, 8),
                        prefix: Ipv6Addr::from(p),
                    }));
                }
                (option::MTU, 8) => return Some(Ok(NdpOption::Mtu(u32_at(opt, 4)))),
                // Unknown options, and known ones of a length this host does not read
                // (a link-layer address of another link type), are skipped.
                _ => continue,
            }
        }
    }
}

/// A parsed ICMPv6 message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Icmpv6Repr<'a> {
    /// Echo request (RFC 4443 §4.1).
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data, echoed back.
        data: &'a [u8],
    },
    /// Echo reply (RFC 4443 §4.2).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq: u16,
        /// Data.
        data: &'a [u8],
    },
    /// Destination unreachable (RFC 4443 §3.1); code 4 is "port unreachable".
    DstUnreachable {
        /// Code.
        code: u8,
        /// As much of the invoking packet as was quoted.
        invoking: &'a [u8],
    },
    /// Packet too big (RFC 4443 §3.2): path MTU discovery (RFC 8201).
    PacketTooBig {
        /// The MTU of the next hop.
        mtu: u32,
        /// The invoking packet.
        invoking: &'a [u8],
    },
    /// Time exceeded (RFC 4443 §3.3).
    TimeExceeded {
        /// Code.
        code: u8,
        /// The invoking packet.
        invoking: &'a [u8],
    },
    /// Parameter problem (RFC 4443 §3.4).
    ParamProblem {
        /// Code (0 erroneous header field, 1 unrecognised next header, 2 unrecognised option).
        code: u8,
        /// Offset in the invoking packet of the problem.
        pointer: u32,
        /// The invoking packet.
        invoking: &'a [u8],
    },
    /// Router solicitation (RFC 4861 §4.1).
    RouterSolicit {
        /// The sender's link-layer address, if it said.
        source_ll: Option<EthernetAddress>,
    },
    /// Router advertisement (RFC 4861 §4.2).
    RouterAdvert {
        /// Hop limit to use (0: unspecified).
        hop_limit: u8,
        /// Managed address configuration.
        managed: bool,
        /// Other configuration.
        other: bool,
        /// Seconds this router is a default router (0: not one).
        router_lifetime: u16,
        /// Reachable time in ms (0: unspecified).
        reachable_ms: u32,
        /// Retransmission timer in ms (0: unspecified).
        retrans_ms: u32,
        /// The options (walk with [`NdpOptions`]).
        options: &'a [u8],
    },
    /// Neighbor solicitation (RFC 4861 §4.3).
    NeighborSolicit {
        /// The address whose link-layer address is asked for.
        target: Ipv6Addr,
        /// The sender's link-layer address (absent in duplicate address detection).
        source_ll: Option<EthernetAddress>,
    },
    /// Neighbor advertisement (RFC 4861 §4.4).
    NeighborAdvert {
        /// The sender is a router.
        router: bool,
        /// Sent in answer to a solicitation.
        solicited: bool,
        /// Should override an existing cache entry.
        override_: bool,
        /// The address advertised.
        target: Ipv6Addr,
        /// Its link-layer address.
        target_ll: Option<EthernetAddress>,
    },
}

fn be16(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn be32(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn addr_at(b: &[u8], i: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[i..i + 16]);
    Ipv6Addr::from(a)
}

impl<'a> Icmpv6Repr<'a> {
    /// Parses the ICMPv6 message `msg` (the whole upper-layer payload) sent from `src` to
    /// `dst`, verifying its checksum if `verify_checksum`.
    ///
    /// Errors: [`Error::Truncated`] shorter than its type needs; [`Error::BadChecksum`];
    /// [`Error::Unsupported`] for a type this host does not handle (informational types
    /// are ignored by RFC 4443 §2.4 (b), unknown errors go to the upper layer as unknown: the
    /// caller drops and counts both); [`Error::Malformed`] for a Neighbor Discovery message
    /// with a code other than 0 or a multicast target; [`Error::BadLength`] for a bad option.
    pub fn parse(
        src: Ipv6Addr,
        dst: Ipv6Addr,
        msg: &'a [u8],
        verify_checksum: bool,
    ) -> Result<Self> {
        if msg.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if verify_checksum {
            let len = u32::try_from(msg.len()).map_err(|_| Error::BadLength)?;
            let pseudo = ipv6::pseudo_header(src, dst, next_header::ICMPV6, len);
            if !checksum::verify(pseudo, msg) {
                return Err(Error::BadChecksum);
            }
        }
        let (ty, code) = (msg[0], msg[1]);
        let body = &msg[HEADER_LEN..];
        let nd = |min: usize| -> Result<()> {
            if code != 0 {
                Err(Error::Malformed)
            } else if msg.len() < min {
                Err(Error::Truncated)
            } else {
                Ok(())
            }
        };
        Ok(match ty {
            kind::ECHO_REQUEST => {
                Icmpv6Repr::EchoRequest { ident: be16(msg, 4), seq: be16(msg, 6), data: body }
            }
            kind::ECHO_REPLY => {
                Icmpv6Repr::EchoReply { ident: be16(msg, 4), seq: be16(msg, 6), data: body }
            }
            kind::DST_UNREACHABLE => Icmpv6Repr::DstUnreachable { code, invoking: body },
            kind::PACKET_TOO_BIG => Icmpv6Repr::PacketTooBig { mtu: be32(msg, 4), invoking: body },
            kind::TIME_EXCEEDED => Icmpv6Repr::TimeExceeded { code, invoking: body },
            kind::PARAM_PROBLEM => {
                Icmpv6Repr::ParamProblem { code, pointer: be32(msg, 4), invoking: body }
            }
            kind::ROUTER_SOLICIT => {
                nd(8)?;
                let opts = NdpOptions::new(body);
                opts.check()?;
                Icmpv6Repr::RouterSolicit { source_ll: opts.link_addr(option::SOURCE_LL) }
            }
            kind::ROUTER_ADVERT => {
                nd(16)?;
                let options = &msg[16..];
                NdpOptions::new(options).check()?;
                Icmpv6Repr::RouterAdvert {
                    hop_limit: msg[4],
                    managed: msg[5] & 0x80 != 0,
                    other: msg[5] & 0x40 != 0,
                    router_lifetime: be16(msg, 6),
                    reachable_ms: be32(msg, 8),
                    retrans_ms: be32(msg, 12),
                    options,
                }
            }
            kind::NEIGHBOR_SOLICIT | kind::NEIGHBOR_ADVERT => {
                nd(24)?;
                let target = addr_at(msg, 8);
                if target.is_multicast() {
                    return Err(Error::Malformed);
                }
                let opts = NdpOptions::new(&msg[24..]);
                opts.check()?;
                if ty == kind::NEIGHBOR_SOLICIT {
                    Icmpv6Repr::NeighborSolicit {
                        target,
                        source_ll: opts.link_addr(option::SOURCE_LL),
                    }
                } else {
                    Icmpv6Repr::NeighborAdvert {
                        router: msg[4] & 0x80 != 0,
                        solicited: msg[4] & 0x40 != 0,
                        override_: msg[4] & 0x20 != 0,
                        target,
                        target_ll: opts.link_addr(option::TARGET_LL),
                    }
                }
            }
            _ => return Err(Error::Unsupported),
        })
    }

    /// Bytes [`emit`](Self::emit) writes (errors quote at most [`MAX_QUOTE`] bytes).
    pub fn buffer_len(&self) -> usize {
        let ll = |a: &Option<EthernetAddress>| if a.is_some() { 8 } else { 0 };
        match self {
            Icmpv6Repr::EchoRequest { data, .. } | Icmpv6Repr::EchoReply { data, .. } => {
                HEADER_LEN + data.len()
            }
            Icmpv6Repr::DstUnreachable { invoking, .. }
            | Icmpv6Repr::PacketTooBig { invoking, .. }
            | Icmpv6Repr::TimeExceeded { invoking, .. }
            | Icmpv6Repr::ParamProblem { invoking, .. } => {
                HEADER_LEN + invoking.len().min(MAX_QUOTE)
            }
            Icmpv6Repr::RouterSolicit { source_ll } => HEADER_LEN + ll(source_ll),
            Icmpv6Repr::RouterAdvert { options, .. } => 16 + options.len(),
            Icmpv6Repr::NeighborSolicit { source_ll, .. } => 24 + ll(source_ll),
            Icmpv6Repr::NeighborAdvert { target_ll, .. } => 24 + ll(target_ll),
        }
    }

    /// Writes the message into `buf` (at least [`buffer_len`](Self::buffer_len) bytes; only
    /// that many are written) with its checksum for `src` → `dst` unless `fill_checksum` is
    /// false (the device fills it). Returns the length written.
    pub fn emit(&self, src: Ipv6Addr, dst: Ipv6Addr, buf: &mut [u8], fill_checksum: bool) -> usize {
        let len = self.buffer_len();
        let msg = &mut buf[..len];
        msg.fill(0);
        let ll_option = |o: &mut [u8], kind: u8, a: &Option<EthernetAddress>| {
            if let Some(a) = a {
                o[0] = kind;
                o[1] = 1;
                o[2..8].copy_from_slice(&a.0);
            }
        };
        let (ty, code) = match *self {
            Icmpv6Repr::EchoRequest { ident, seq, data }
            | Icmpv6Repr::EchoReply { ident, seq, data } => {
                msg[4..6].copy_from_slice(&ident.to_be_bytes());
                msg[6..8].copy_from_slice(&seq.to_be_bytes());
                msg[HEADER_LEN..].copy_from_slice(data);
                let ty = if matches!(self, Icmpv6Repr::EchoRequest { .. }) {
                    kind::ECHO_REQUEST
                } else {
                    kind::ECHO_REPLY
                };
                (ty, 0)
            }
            Icmpv6Repr::DstUnreachable { code, invoking } => {
                msg[HEADER_LEN..].copy_from_slice(&invoking[..len - HEADER_LEN]);
                (kind::DST_UNREACHABLE, code)
            }
            Icmpv6Repr::PacketTooBig { mtu, invoking } => {
                msg[4..8].copy_from_slice(&mtu.to_be_bytes());
                msg[HEADER_LEN..].copy_from_slice(&invoking[..len - HEADER_LEN]);
                (kind::PACKET_TOO_BIG, 0)
            }
            Icmpv6Repr::TimeExceeded { code, invoking } => {
                msg[HEADER_LEN..].copy_from_slice(&invoking[..len - HEADER_LEN]);
                (kind::TIME_EXCEEDED, code)
            }
            Icmpv6Repr::ParamProblem { code, pointer, invoking } => {
                msg[4..8].copy_from_slice(&pointer.to_be_bytes());
                msg[HEADER_LEN..].copy_from_slice(&invoking[..len - HEADER_LEN]);
                (kind::PARAM_PROBLEM, code)
            }
            Icmpv6Repr::RouterSolicit { source_ll } => {
                ll_option(&mut msg[HEADER_LEN..], option::SOURCE_LL, &source_ll);
                (kind::ROUTER_SOLICIT, 0)
            }
            Icmpv6Repr::RouterAdvert {
                hop_limit,
                managed,
                other,
                router_lifetime,
                reachable_ms,
                retrans_ms,
                options,
            } => {
                msg[4] = hop_limit;
                msg[5] = u8::from(managed) << 7 | u8::from(other) << 6;
                msg[6..8].copy_from_slice(&router_lifetime.to_be_bytes());
                msg[8..12].copy_from_slice(&reachable_ms.to_be_bytes());
                msg[12..16].copy_from_slice(&retrans_ms.to_be_bytes());
                msg[16..].copy_from_slice(options);
                (kind::ROUTER_ADVERT, 0)
            }
            Icmpv6Repr::NeighborSolicit { target, source_ll } => {
                msg[8..24].copy_from_slice(&target.octets());
                ll_option(&mut msg[24..], option::SOURCE_LL, &source_ll);
                (kind::NEIGHBOR_SOLICIT, 0)
            }
            Icmpv6Repr::NeighborAdvert { router, solicited, override_, target, target_ll } => {
                msg[4] =
                    u8::from(router) << 7 | u8::from(solicited) << 6 | u8::from(override_) << 5;
                msg[8..24].copy_from_slice(&target.octets());
                ll_option(&mut msg[24..], option::TARGET_LL, &target_ll);
                (kind::NEIGHBOR_ADVERT, 0)
            }
        };
        msg[0] = ty;
        msg[1] = code;
        if fill_checksum {
            let pseudo = ipv6::pseudo_header(src, dst, next_header::ICMPV6, len as u32);
            let sum = checksum::combine(&[pseudo, checksum::sum(msg)]);
            msg[2..4].copy_from_slice(&sum.to_be_bytes());
        }
        len
    }
}

/// The solicited-node multicast address of `addr` (RFC 4291 §2.7.1): where a neighbour
/// solicitation for `addr` is sent.
pub fn solicited_node(addr: Ipv6Addr) -> Ipv6Addr {
    let o = addr.octets();
    Ipv6Addr::new(
        0xff02,
        0,
        0,
        0,
        0,
        1,
        0xff00 | u16::from(o[13]),
        u16::from_be_bytes([o[14], o[15]]),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);
    const B: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0x1234, 0x5678);
    const MAC: EthernetAddress = EthernetAddress([2, 0, 0, 0, 0, 9]);

    fn round_trip(repr: Icmpv6Repr<'_>) {
        let mut buf = vec![0u8; repr.buffer_len()];
        let n = repr.emit(A, B, &mut buf, true);
        assert_eq!(n, buf.len());
        assert_eq!(Icmpv6Repr::parse(A, B, &buf, true), Ok(repr));
        // The checksum covers the pseudo-header: other addresses fail it.
        assert_eq!(Icmpv6Repr::parse(B, B, &buf, true), Err(Error::BadChecksum));
    }

    #[test]
    fn every_message_round_trips() {
        let quote = [0x60u8, 0, 0, 0, 0, 8, 17, 64];
        round_trip(Icmpv6Repr::EchoRequest { ident: 7, seq: 9, data: b"ping" });
        round_trip(Icmpv6Repr::EchoReply { ident: 7, seq: 9, data: b"" });
        round_trip(Icmpv6Repr::DstUnreachable { code: 4, invoking: &quote });
        round_trip(Icmpv6Repr::PacketTooBig { mtu: 1400, invoking: &quote });
        round_trip(Icmpv6Repr::TimeExceeded { code: 0, invoking: &quote });
        round_trip(Icmpv6Repr::ParamProblem { code: 1, pointer: 6, invoking: &quote });
        round_trip(Icmpv6Repr::RouterSolicit { source_ll: Some(MAC) });
        round_trip(Icmpv6Repr::RouterSolicit { source_ll: None });
        round_trip(Icmpv6Repr::NeighborSolicit { target: B, source_ll: Some(MAC) });
        round_trip(Icmpv6Repr::NeighborSolicit { target: B, source_ll: None });
        round_trip(Icmpv6Repr::NeighborAdvert {
            router: false,
            solicited: true,
            override_: true,
            target: B,
            target_ll: Some(MAC),
        });
        let mut opts = vec![option::MTU, 1, 0, 0, 0, 0, 0x05, 0xdc];
        opts.extend([option::PREFIX_INFO, 4, 64, 0xc0]);
        opts.extend(86400u32.to_be_bytes());
        opts.extend(14400u32.to_be_bytes());
        opts.extend([0; 4]);
        opts.extend(Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0).octets());
        let ra = Icmpv6Repr::RouterAdvert {
            hop_limit: 64,
            managed: false,
            other: true,
            router_lifetime: 1800,
            reachable_ms: 0,
            retrans_ms: 0,
            options: &opts,
        };
        round_trip(ra);
        let found: Vec<_> = NdpOptions::new(&opts).collect();
        assert_eq!(found[0], Ok(NdpOption::Mtu(1500)));
        assert_eq!(
            found[1],
            Ok(NdpOption::Prefix {
                len: 64,
                on_link: true,
                autonomous: true,
                valid: 86400,
                preferred: 14400,
                prefix: Ipv6Addr::new(0x2001, 0xdb8, 1, 0, 0, 0, 0, 0),
            })
        );
    }

    #[test]
    fn errors_quote_no_more_than_the_minimum_mtu_allows() {
        let big = vec![0x60u8; 3000];
        let repr = Icmpv6Repr::DstUnreachable { code: 1, invoking: &big };
        assert_eq!(repr.buffer_len() + ipv6::HEADER_LEN, ipv6::MIN_MTU);
    }

    #[test]
    fn bad_neighbor_discovery_is_refused() {
        let mut buf = [0u8; 32];
        let ns = Icmpv6Repr::NeighborSolicit { target: B, source_ll: Some(MAC) };
        ns.emit(A, B, &mut buf, false);
        let mut zero_len = buf;
        zero_len[25] = 0;
        assert_eq!(Icmpv6Repr::parse(A, B, &zero_len, false), Err(Error::BadLength));
        let mut past_end = buf;
        past_end[25] = 2;
        assert_eq!(Icmpv6Repr::parse(A, B, &past_end, false), Err(Error::BadLength));
        let mut coded = buf;
        coded[1] = 1;
        assert_eq!(Icmpv6Repr::parse(A, B, &coded, false), Err(Error::Malformed));
        let mut multicast = buf;
        multicast[8] = 0xff;
        assert_eq!(Icmpv6Repr::parse(A, B, &multicast, false), Err(Error::Malformed));
        assert_eq!(Icmpv6Repr::parse(A, B, &buf[..20], false), Err(Error::Truncated));
        assert_eq!(
            Icmpv6Repr::parse(A, B, &[200, 0, 0, 0, 0, 0, 0, 0], false),
            Err(Error::Unsupported)
        );
    }

    #[test]
    fn unknown_options_are_skipped() {
        let mut opts = vec![14, 1, 0, 0, 0, 0, 0, 0]; // a nonce option: not read
        opts.extend([option::SOURCE_LL, 1, 2, 0, 0, 0, 0, 9]);
        assert_eq!(NdpOptions::new(&opts).link_addr(option::SOURCE_LL), Some(MAC));
        assert_eq!(NdpOptions::new(&opts).link_addr(option::TARGET_LL), None);
    }

    #[test]
    fn solicited_node_address() {
        assert_eq!(solicited_node(B), "ff02::1:ff34:5678".parse::<Ipv6Addr>().unwrap());
    }
}
