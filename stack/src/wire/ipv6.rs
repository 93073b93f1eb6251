//! IPv6 headers (RFC 8200) and the walk over extension headers.
//!
//! The view checks the version and the payload length once; its payload stops at the payload
//! length, so Ethernet padding is never taken for data. [`Ipv6Repr::parse`] then walks the
//! extension headers a host must understand (RFC 8200 §4: hop-by-hop options, routing,
//! fragment, destination options) to the upper-layer header, and reports where that starts.
//! Nothing is processed on the way: options are skipped (a host acts on none of those it could
//! meet here), a routing header with segments left is reported so the caller can answer with a
//! parameter problem (§4.4), and fragments are reported so the caller can drop and count them,
//! as the IPv4 side does (the stack does not reassemble).

use std::net::Ipv6Addr;

use super::checksum;
use super::ipv4::IpProtocol;
use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const VER_TC_FLOW: Range<usize> = 0..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const NEXT_HEADER: usize = 6;
    pub const HOP_LIMIT: usize = 7;
    pub const SRC: Range<usize> = 8..24;
    pub const DST: Range<usize> = 24..40;
}

/// Length of the fixed header.
pub const HEADER_LEN: usize = 40;
/// The minimum link MTU every IPv6 link carries (RFC 8200 §5).
pub const MIN_MTU: usize = 1280;
/// Extension headers walked before giving up: far more than any real packet carries, few
/// enough that a packet of nothing but empty headers costs little.
pub const MAX_EXTENSION_HEADERS: usize = 8;

/// Next-header values of the extension headers (IANA "IPv6 Extension Header Types").
pub mod next_header {
    /// Hop-by-hop options: only directly after the fixed header (RFC 8200 §4.1).
    pub const HOP_BY_HOP: u8 = 0;
    /// Routing header.
    pub const ROUTING: u8 = 43;
    /// Fragment header.
    pub const FRAGMENT: u8 = 44;
    /// ICMPv6.
    pub const ICMPV6: u8 = 58;
    /// No next header: nothing follows.
    pub const NO_NEXT: u8 = 59;
    /// Destination options.
    pub const DEST_OPTIONS: u8 = 60;
}

/// A read/write view of an IPv6 packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; accessors may then panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len). After this no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks, in order: at least 40 bytes ([`Error::Truncated`]); version 6
    /// ([`Error::Unsupported`]); the payload length within the buffer ([`Error::Truncated`]).
    /// A payload length of zero with a hop-by-hop header is a jumbogram (RFC 2675), which no
    /// link this stack runs on carries: it reads as an empty payload.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 6 {
            return Err(Error::Unsupported);
        }
        if HEADER_LEN + usize::from(self.payload_len()) > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn word(&self) -> u32 {
        let d = &self.buffer.as_ref()[field::VER_TC_FLOW];
        u32::from_be_bytes([d[0], d[1], d[2], d[3]])
    }

    /// The version nibble (6 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[0] >> 4
    }

    /// Traffic class (DSCP and ECN).
    pub fn traffic_class(&self) -> u8 {
        (self.word() >> 20) as u8
    }

    /// The 20-bit flow label.
    pub fn flow_label(&self) -> u32 {
        self.word() & 0x000f_ffff
    }

    /// Bytes after the fixed header, extension headers included.
    pub fn payload_len(&self) -> u16 {
        let d = &self.buffer.as_ref()[field::LENGTH];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The header after the fixed one.
    pub fn next_header(&self) -> u8 {
        self.buffer.as_ref()[field::NEXT_HEADER]
    }

    /// Hop limit.
    pub fn hop_limit(&self) -> u8 {
        self.buffer.as_ref()[field::HOP_LIMIT]
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::SRC]);
        Ipv6Addr::from(a)
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv6Addr {
        let mut a = [0u8; 16];
        a.copy_from_slice(&self.buffer.as_ref()[field::DST]);
        Ipv6Addr::from(a)
    }

    /// Everything after the fixed header, up to the payload length.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..HEADER_LEN + usize::from(self.payload_len())]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets version 6, the traffic class and the flow label.
    pub fn set_version_tc_flow(&mut self, traffic_class: u8, flow_label: u32) {
        let w = 6 << 28 | u32::from(traffic_class) << 20 | (flow_label & 0x000f_ffff);
        self.buffer.as_mut()[field::VER_TC_FLOW].copy_from_slice(&w.to_be_bytes());
    }

    /// Sets the payload length.
    pub fn set_payload_len(&mut self, v: u16) {
        self.buffer.as_mut()[field::LENGTH].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the next header.
    pub fn set_next_header(&mut self, v: u8) {
        self.buffer.as_mut()[field::NEXT_HEADER] = v;
    }

    /// Sets the hop limit.
    pub fn set_hop_limit(&mut self, v: u8) {
        self.buffer.as_mut()[field::HOP_LIMIT] = v;
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv6Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Everything after the fixed header, mutably.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = HEADER_LEN + usize::from(self.payload_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// What a fragment header said (RFC 8200 §4.5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FragmentInfo {
    /// Offset of this fragment's data in 8-byte units.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
    /// Identification.
    pub ident: u32,
}

impl FragmentInfo {
    /// An atomic fragment (offset 0, no more): the whole datagram in one piece, which RFC 6946
    /// says to process as if unfragmented.
    pub fn is_atomic(&self) -> bool {
        self.offset == 0 && !self.more
    }
}

/// The parsed fields of an IPv6 packet that the stack acts on, with the extension headers
/// walked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv6Repr {
    /// Source address.
    pub src: Ipv6Addr,
    /// Destination address.
    pub dst: Ipv6Addr,
    /// The upper-layer protocol after every extension header (its next-header value).
    pub next_header: u8,
    /// Upper-layer payload length in bytes (after the extension headers).
    pub payload_len: usize,
    /// Hop limit.
    pub hop_limit: u8,
    /// Traffic class (DSCP and ECN).
    pub traffic_class: u8,
    /// Flow label.
    pub flow_label: u32,
    /// Offset of the upper-layer header from the start of the IPv6 payload (0 without
    /// extension headers).
    pub upper_offset: usize,
    /// The fragment header, if one was present.
    pub fragment: Option<FragmentInfo>,
    /// A routing header with segments left was met: RFC 8200 §4.4 says to answer with a
    /// parameter problem pointing at this offset (from the start of the packet) and drop.
    pub routing_error_at: Option<usize>,
}

impl Ipv6Repr {
    /// The upper-layer protocol as the IPv4 side names them (ICMPv6 is `Unknown(58)`).
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.next_header)
    }

    /// Parses a checked packet and walks its extension headers.
    ///
    /// Errors: [`Error::Malformed`] for a multicast source (RFC 4291 §2.7; the unspecified
    /// source is accepted, duplicate address detection sends from `::`). [`Error::BadLength`]
    /// for an extension
    /// header that runs past the payload, more than [`MAX_EXTENSION_HEADERS`] of them, or a
    /// hop-by-hop header anywhere but first (RFC 8200 §4.1). Inline into the interface's
    /// IPv6 input, its one caller: out of line the `Ipv6Repr` went back through memory.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Ipv6Repr> {
        packet.check_len()?;
        let src = packet.src_addr();
        if src.is_multicast() {
            return Err(Error::Malformed);
        }
        let payload = packet.payload();
        let mut next = packet.next_header();
        let mut at = 0usize;
        let mut fragment = None;
        let mut routing_error_at = None;
        for walked in 0..=MAX_EXTENSION_HEADERS {
            let header = match next {
                next_header::HOP_BY_HOP if walked > 0 => return Err(Error::BadLength),
                next_header::HOP_BY_HOP | next_header::ROUTING | next_header::DEST_OPTIONS => {
                    payload.get(at..at + 2).ok_or(Error::Truncated)?
                }
                next_header::FRAGMENT => payload.get(at..at + 8).ok_or(Error::Truncated)?,
                _ => {
                    return Ok(Ipv6Repr {
                        src,
                        dst: packet.dst_addr(),
                        next_header: next,
                        payload_len: payload.len() - at,
                        hop_limit: packet.hop_limit(),
                        traffic_class: packet.traffic_class(),
                        flow_label: packet.flow_label(),
                        upper_offset: at,
                        fragment,
                        routing_error_at,
                    });
                }
            };
            if walked == MAX_EXTENSION_HEADERS {
                break;
            }
            let len = if next == next_header::FRAGMENT {
                let off_flags = u16::from_be_bytes([header[2], header[3]]);
                fragment = Some(FragmentInfo {
                    offset: off_flags >> 3,
                    more: off_flags & 1 != 0,
                    ident: u32::from_be_bytes([header[4], header[5], header[6], header[7]]),
                });
                8
            } else {
                (usize::from(header[1]) + 1) * 8
            };
            let body = payload.get(at..at + len).ok_or(Error::BadLength)?;
            // Segments left (the fourth byte) non-zero: the packet asks us to route it on.
            if next == next_header::ROUTING && body.get(3).is_some_and(|&s| s != 0) {
                routing_error_at.get_or_insert(HEADER_LEN + at + 2);
            }
            next = body[0];
            at += len;
        }
        Err(Error::BadLength)
    }

    /// Length of the header [`emit`](Self::emit) writes: 40, no extension headers.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a fixed header without extension headers, for `payload_len` bytes of
    /// `next_header`. The buffer must hold [`buffer_len`](Self::buffer_len) bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        debug_assert!(self.payload_len <= usize::from(u16::MAX));
        packet.set_version_tc_flow(self.traffic_class, self.flow_label);
        packet.set_payload_len(self.payload_len.min(usize::from(u16::MAX)) as u16);
        packet.set_next_header(self.next_header);
        packet.set_hop_limit(self.hop_limit);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
    }

    /// The folded sum of the pseudo-header upper-layer checksums cover (RFC 8200 §8.1).
    pub fn pseudo_header_sum(&self) -> u16 {
        pseudo_header(self.src, self.dst, self.next_header, self.payload_len as u32)
    }
}

/// The folded sum of the IPv6 pseudo-header (RFC 8200 §8.1): both addresses, the upper-layer
/// length as 32 bits and the next header.
///
/// The addresses are added as 32-bit big-endian words, eight adds where their 16-bit words
/// were sixteen: 2^16 ≡ 1 (mod 2^16 - 1), so a 32-bit word is congruent to the sum of its two
/// halves (RFC 1071 §2(B)), and the fold gives the same value for congruent sums.
#[inline]
pub fn pseudo_header(src: Ipv6Addr, dst: Ipv6Addr, next_header: u8, length: u32) -> u16 {
    let word = |o: &[u8; 16], i: usize| {
        u64::from(u32::from_be_bytes([o[i], o[i + 1], o[i + 2], o[i + 3]]))
    };
    let (s, d) = (src.octets(), dst.octets());
    let mut acc = u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next_header);
    for i in [0, 4, 8, 12] {
        acc += word(&s, i) + word(&d, i);
    }
    checksum::fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pseudo-header by 16-bit words, as RFC 8200 §8.1 lays it out: the oracle for the
    /// 32-bit-word sum.
    fn pseudo_header_by_halves(src: Ipv6Addr, dst: Ipv6Addr, next: u8, length: u32) -> u16 {
        let mut acc: u64 = 0;
        for a in [src, dst] {
            for w in a.segments() {
                acc += u64::from(w);
            }
        }
        acc += u64::from(length >> 16) + u64::from(length & 0xffff) + u64::from(next);
        checksum::fold(acc)
    }

    #[test]
    fn pseudo_header_by_words_matches_the_sum_by_halves() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut addrs = vec![Ipv6Addr::UNSPECIFIED, SRC, DST, Ipv6Addr::from([0xff; 16])];
        addrs.extend(
            (0..200).map(|_| Ipv6Addr::from((u128::from(next()) << 64) | u128::from(next()))),
        );
        for (i, &a) in addrs.iter().enumerate() {
            for &b in &addrs[i.saturating_sub(3)..=i] {
                for (nh, len) in
                    [(6, 0), (17, 1), (6, 96), (58, 0xffff), (6, 0x1_0000), (0, u32::MAX)]
                {
                    assert_eq!(
                        pseudo_header(a, b, nh, len),
                        pseudo_header_by_halves(a, b, nh, len),
                        "{a} {b} {nh} {len}"
                    );
                }
            }
        }
    }

    const SRC: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
    const DST: Ipv6Addr = Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2);

    fn packet(next: u8, payload: &[u8]) -> Vec<u8> {
        let repr = Ipv6Repr {
            src: SRC,
            dst: DST,
            next_header: next,
            payload_len: payload.len(),
            hop_limit: 64,
            traffic_class: 0xb8,
            flow_label: 0x12345,
            upper_offset: 0,
            fragment: None,
            routing_error_at: None,
        };
        let mut b = vec![0u8; repr.buffer_len()];
        repr.emit(&mut Packet::new_unchecked(&mut b[..]));
        b[HEADER_LEN..].copy_from_slice(payload);
        b
    }

    #[test]
    fn fixed_header_round_trips() {
        let b = packet(6, &[1, 2, 3, 4]);
        let p = Packet::new_checked(&b[..]).unwrap();
        let r = Ipv6Repr::parse(&p).unwrap();
        assert_eq!((r.src, r.dst, r.next_header, r.payload_len), (SRC, DST, 6, 4));
        assert_eq!((r.hop_limit, r.traffic_class, r.flow_label), (64, 0xb8, 0x12345));
        assert_eq!((r.upper_offset, r.fragment, r.protocol()), (0, None, IpProtocol::Tcp));
    }

    #[test]
    fn extension_headers_are_walked_to_the_upper_layer() {
        // Hop-by-hop (8 bytes: PadN) → destination options (16 bytes) → fragment → UDP.
        let mut ext = vec![next_header::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0];
        ext.extend([next_header::FRAGMENT, 1, 1, 12]);
        ext.extend([0u8; 12]);
        ext.extend([17, 0, 0x00, 0x09, 0xde, 0xad, 0xbe, 0xef]); // offset 1, M set
        ext.extend([0xaa; 8]);
        let b = packet(next_header::HOP_BY_HOP, &ext);
        let r = Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!((r.next_header, r.upper_offset, r.payload_len), (17, 32, 8));
        let f = r.fragment.unwrap();
        assert_eq!((f.offset, f.more, f.ident, f.is_atomic()), (1, true, 0xdeadbeef, false));
    }

    #[test]
    fn bad_chains_are_refused() {
        // Hop-by-hop after another header.
        let b = packet(next_header::DEST_OPTIONS, &[next_header::HOP_BY_HOP, 0, 1, 4, 0, 0, 0, 0]);
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(Error::BadLength));
        // A header longer than the payload.
        let b = packet(next_header::DEST_OPTIONS, &[6, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(Error::BadLength));
        // Nine destination-option headers in a row.
        let mut chain = Vec::new();
        for _ in 0..9 {
            chain.extend([next_header::DEST_OPTIONS, 0, 1, 4, 0, 0, 0, 0]);
        }
        let b = packet(next_header::DEST_OPTIONS, &chain);
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(Error::BadLength));
        // A multicast source.
        let mut b = packet(6, &[]);
        b[8] = 0xff;
        assert_eq!(Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()), Err(Error::Malformed));
    }

    #[test]
    fn a_routing_header_with_segments_left_is_reported() {
        let b = packet(next_header::ROUTING, &[6, 0, 4, 1, 0, 0, 0, 0]);
        let r = Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.routing_error_at, Some(HEADER_LEN + 2));
        assert_eq!(r.next_header, 6);
        let b = packet(next_header::ROUTING, &[6, 0, 4, 0, 0, 0, 0, 0]);
        let r = Ipv6Repr::parse(&Packet::new_checked(&b[..]).unwrap()).unwrap();
        assert_eq!(r.routing_error_at, None, "no segments left: processed as the last hop");
    }

    #[test]
    fn short_or_wrong_buffers_are_refused() {
        let b = packet(6, &[0; 10]);
        assert_eq!(Packet::new_checked(&b[..39]).err(), Some(Error::Truncated));
        assert_eq!(Packet::new_checked(&b[..45]).err(), Some(Error::Truncated));
        let mut v4 = b.clone();
        v4[0] = 0x45;
        assert_eq!(Packet::new_checked(&v4[..]).err(), Some(Error::Unsupported));
        // Trailing padding is not payload.
        let mut padded = b.clone();
        padded.extend([0xee; 6]);
        assert_eq!(Packet::new_checked(&padded[..]).unwrap().payload().len(), 10);
    }

    #[test]
    fn pseudo_header_matches_the_bytes() {
        let mut bytes = Vec::new();
        bytes.extend(SRC.octets());
        bytes.extend(DST.octets());
        bytes.extend(70_000u32.to_be_bytes());
        bytes.extend([0, 0, 0, 17]);
        assert_eq!(pseudo_header(SRC, DST, 17, 70_000), checksum::sum(&bytes));
    }
}
