//! IPv4 headers (RFC 791).
//!
//! The view checks the version, header length and total length once; its payload stops at the
//! total length, so Ethernet padding after a short datagram is never taken for data. Options
//! are skipped but exposed as a slice. Fragments are parsed like any datagram and flagged by
//! [`Packet::is_fragment`]: the stack does not reassemble, and the interface layer drops and
//! counts them.

use std::net::Ipv4Addr;

use super::checksum;
use super::{Error, Result};

/// The protocol carried in the payload (IANA "Assigned Internet Protocol Numbers").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IpProtocol {
    /// 1.
    Icmp,
    /// 6.
    Tcp,
    /// 17.
    Udp,
    /// Any other protocol number.
    Unknown(u8),
}

impl From<u8> for IpProtocol {
    fn from(v: u8) -> Self {
        match v {
            1 => IpProtocol::Icmp,
            6 => IpProtocol::Tcp,
            17 => IpProtocol::Udp,
            other => IpProtocol::Unknown(other),
        }
    }
}

impl From<IpProtocol> for u8 {
    fn from(p: IpProtocol) -> u8 {
        match p {
            IpProtocol::Icmp => 1,
            IpProtocol::Tcp => 6,
            IpProtocol::Udp => 17,
            IpProtocol::Unknown(v) => v,
        }
    }
}

mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const TOS: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of a header without options.
pub const HEADER_LEN: usize = 20;
/// The largest payload a datagram with a minimal header can carry.
pub const MAX_PAYLOAD_LEN: usize = u16::MAX as usize - HEADER_LEN;

const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

/// Whether a 20-byte header (no options) verifies: its ones'-complement sum is 0xffff
/// (RFC 791 §3.1), as [`Packet::verify_checksum`] finds. Five 32-bit words added whole and
/// folded once (RFC 1071 §2: the sum may be taken in any word size and byte order, and
/// swapped at the end); the general `checksum::sum` spends about 100 instructions on a
/// header this short, this about 20. Always inlined: as a call (from `Interface::common_tcp`)
/// its entry and exit cost about half as much again.
#[inline(always)]
pub fn header20_checksum_ok(header: &[u8; HEADER_LEN]) -> bool {
    let word = |i: usize| {
        u64::from(u32::from_le_bytes([header[i], header[i + 1], header[i + 2], header[i + 3]]))
    };
    let acc = word(0) + word(4) + word(8) + word(12) + word(16);
    checksum::fold(acc) == 0xffff
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

    /// Checks, in order: at least 20 bytes ([`Error::Truncated`]); version 4
    /// ([`Error::Unsupported`]); IHL at least 5 words and no more than the total length
    /// ([`Error::BadLength`], RFC 791 §3.1); total length within the buffer
    /// ([`Error::Truncated`]).
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.version() != 4 {
            return Err(Error::Unsupported);
        }
        let header_len = self.header_len();
        let total_len = usize::from(self.total_len());
        if header_len < HEADER_LEN || header_len > total_len {
            return Err(Error::BadLength);
        }
        if total_len > len {
            return Err(Error::Truncated);
        }
        Ok(())
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn u16_at(&self, r: core::ops::Range<usize>) -> u16 {
        let d = &self.buffer.as_ref()[r];
        u16::from_be_bytes([d[0], d[1]])
    }

    /// The version nibble (4 once checked).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4), options included.
    pub fn header_len(&self) -> usize {
        usize::from(self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The whole type-of-service byte: DSCP (high six bits) and ECN (low two, RFC 3168).
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::TOS]
    }

    /// The total length of the datagram, header included.
    pub fn total_len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        self.u16_at(field::FLG_OFF) & FLAG_MF != 0
    }

    /// The fragment offset in bytes (the field counts 8-byte units).
    pub fn frag_offset(&self) -> u16 {
        (self.u16_at(field::FLG_OFF) & OFFSET_MASK) << 3
    }

    /// Whether this datagram is a fragment: More Fragments set or a non-zero offset
    /// (RFC 791 §3.2). Only an unfragmented datagram has neither.
    pub fn is_fragment(&self) -> bool {
        self.u16_at(field::FLG_OFF) & (FLAG_MF | OFFSET_MASK) != 0
    }

    /// Time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The payload's protocol.
    pub fn protocol(&self) -> IpProtocol {
        IpProtocol::from(self.buffer.as_ref()[field::PROTOCOL])
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::SRC];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// Destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let d = &self.buffer.as_ref()[field::DST];
        Ipv4Addr::new(d[0], d[1], d[2], d[3])
    }

    /// The option bytes between the fixed header and the payload (often empty).
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..self.header_len()]
    }

    /// Whether the header checksum verifies (RFC 791 §3.1: it covers the header only).
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..self.header_len()];
        match header.try_into() {
            // Nearly every header has no options: the five-word check.
            Ok(h) => header20_checksum_ok(h),
            Err(_) => checksum::verify(0, header),
        }
    }

    /// The payload: from the end of the header to the total length, so link-layer padding
    /// is excluded.
    pub fn payload(&self) -> &[u8] {
        let end = usize::from(self.total_len());
        &self.buffer.as_ref()[self.header_len()..end]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload borrowed for the buffer's lifetime rather than the view's. Valid after
    /// `new_checked`; on an unchecked view with inconsistent lengths it is empty.
    #[inline(always)]
    pub fn payload_slice(&self) -> &'a [u8] {
        let data: &'a [u8] = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return &[];
        }
        data.get(self.header_len()..usize::from(self.total_len())).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets version 4 and the header length in bytes (a multiple of 4, 20..=60).
    pub fn set_version_and_header_len(&mut self, header_len: usize) {
        let ihl = ((header_len / 4) & 0x0f) as u8;
        self.buffer.as_mut()[field::VER_IHL] = 0x40 | ihl;
    }

    /// Sets the type-of-service byte.
    pub fn set_dscp_ecn(&mut self, v: u8) {
        self.buffer.as_mut()[field::TOS] = v;
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH, v);
    }

    /// Sets the identification.
    pub fn set_ident(&mut self, v: u16) {
        self.set_u16(field::IDENT, v);
    }

    /// Sets the flags and fragment offset (in bytes, a multiple of 8) together.
    pub fn set_frag(&mut self, dont_frag: bool, more_frags: bool, offset: u16) {
        let mut v = (offset >> 3) & OFFSET_MASK;
        if dont_frag {
            v |= FLAG_DF;
        }
        if more_frags {
            v |= FLAG_MF;
        }
        self.set_u16(field::FLG_OFF, v);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, v: u8) {
        self.buffer.as_mut()[field::TTL] = v;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, p: IpProtocol) {
        self.buffer.as_mut()[field::PROTOCOL] = p.into();
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&a.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, a: Ipv4Addr) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&a.octets());
    }

    /// Computes and writes the header checksum over the header as it now stands.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(&self.buffer.as_ref()[..self.header_len()]);
        self.set_checksum(c);
    }

    /// The payload, writable (up to the total length).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), usize::from(self.total_len()));
        &mut self.buffer.as_mut()[start..end]
    }
}

/// The parsed fields of an IPv4 header that the stack acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src: Ipv4Addr,
    /// Destination address.
    pub dst: Ipv4Addr,
    /// Payload protocol.
    pub protocol: IpProtocol,
    /// Payload length in bytes (at most [`MAX_PAYLOAD_LEN`] to emit).
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
    /// The type-of-service byte (DSCP and ECN).
    pub dscp_ecn: u8,
    /// Don't Fragment: set on everything the stack sends, for PMTU discovery (RFC 1191).
    pub dont_frag: bool,
    /// Identification.
    pub ident: u16,
}

impl Ipv4Repr {
    /// Parses a checked datagram. With `verify_checksum` false (the device already verified
    /// it) the header checksum is not recomputed.
    ///
    /// Errors: [`Error::BadChecksum`]; [`Error::Malformed`] for a multicast or limited-
    /// broadcast source, which RFC 1122 §3.2.1.3 says a host must silently discard.
    /// Fragments parse; use [`Packet::is_fragment`] to drop them.
    #[inline]
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>, verify_checksum: bool) -> Result<Ipv4Repr> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let src = packet.src_addr();
        if src.is_multicast() || src.is_broadcast() {
            return Err(Error::Malformed);
        }
        Ok(Ipv4Repr {
            src,
            dst: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len()) - packet.header_len(),
            ttl: packet.ttl(),
            dscp_ecn: packet.dscp_ecn(),
            dont_frag: packet.dont_frag(),
            ident: packet.ident(),
        })
    }

    /// Length of the header [`emit`](Self::emit) writes: 20, no options.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes an option-less, unfragmented header. The buffer must hold at least
    /// [`header_len`](Self::header_len) bytes; `payload_len` must not exceed
    /// [`MAX_PAYLOAD_LEN`] (it is clamped). With `fill_checksum` false the checksum field is
    /// left zero for the device to fill.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, fill_checksum: bool) {
        debug_assert!(self.payload_len <= MAX_PAYLOAD_LEN);
        let total = (HEADER_LEN + self.payload_len.min(MAX_PAYLOAD_LEN)) as u16;
        packet.set_version_and_header_len(HEADER_LEN);
        packet.set_dscp_ecn(self.dscp_ecn);
        packet.set_total_len(total);
        packet.set_ident(self.ident);
        packet.set_frag(self.dont_frag, false, 0);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src);
        packet.set_dst_addr(self.dst);
        packet.set_checksum(0);
        if fill_checksum {
            let sum = self.header_sum(total);
            // Every debug-build test checks the arithmetic against the bytes.
            debug_assert_eq!(sum, checksum::sum(&packet.buffer.as_ref()[..HEADER_LEN]));
            packet.set_checksum(checksum::finish(sum));
        }
    }

    /// The folded sum of the header [`emit`](Self::emit) writes (checksum field zero), from
    /// the field values. Summing the header back out of the buffer right after its fields
    /// were stored byte by byte made the CPU wait for each narrow store to reach memory
    /// before the wide load could read it (a failed store-to-load forwarding).
    fn header_sum(&self, total: u16) -> u16 {
        let src = u32::from(self.src);
        let dst = u32::from(self.dst);
        let frag = if self.dont_frag { FLAG_DF } else { 0 };
        let words = [
            u32::from(0x4500 | u16::from(self.dscp_ecn)),
            u32::from(total),
            u32::from(self.ident),
            u32::from(frag),
            u32::from(u16::from(self.ttl) << 8 | u16::from(u8::from(self.protocol))),
            src >> 16,
            src & 0xffff,
            dst >> 16,
            dst & 0xffff,
        ];
        checksum::fold(u64::from(words.iter().sum::<u32>()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 28-byte UDP datagram (DF set) with a freshly computed header checksum.
    fn sample() -> [u8; 28] {
        let mut b = [
            0x45, 0x00, 0x00, 0x1c, // v4, IHL 5, TOS 0, total 28
            0x1c, 0x46, 0x40, 0x00, // ident, DF
            0x40, 0x11, 0x00, 0x00, // TTL 64, UDP, checksum
            0xac, 0x10, 0x0a, 0x63, // 172.16.10.99
            0xac, 0x10, 0x0a, 0x0c, // 172.16.10.12
            1, 2, 3, 4, 5, 6, 7, 8,
        ];
        let c = checksum::checksum(&b[..20]);
        b[10..12].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn the_fixed_header_check_agrees_with_the_general_one() {
        let mut b = sample();
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..2000 {
            let h: [u8; 20] = b[..20].try_into().unwrap();
            assert_eq!(header20_checksum_ok(&h), checksum::verify(0, &h), "round {round}");
            // Flip a random byte; every fourth round repair the checksum so both outcomes
            // are covered.
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b[(x % 20) as usize] ^= (x >> 8) as u8 | 1;
            if round % 4 == 0 {
                b[10..12].copy_from_slice(&[0, 0]);
                let c = checksum::checksum(&b[..20]);
                b[10..12].copy_from_slice(&c.to_be_bytes());
            }
        }
        assert!(header20_checksum_ok(&sample()[..20].try_into().unwrap()));
    }

    #[test]
    fn known_header_checksum() {
        // The widely used worked example of the IPv4 header checksum: 0xb861 for this header.
        let h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum::checksum(&h), 0xb861);
        let mut buf = [0u8; 0x73];
        buf[..20].copy_from_slice(&h);
        let mut p = Packet::new_checked(&mut buf[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.checksum(), 0xb861);
        assert!(p.verify_checksum());
    }

    #[test]
    fn parses_fields_and_trims_padding() {
        let mut b = [0u8; 60];
        b[..28].copy_from_slice(&sample());
        b[28..].fill(0xee); // Ethernet padding
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.payload(), &[1, 2, 3, 4, 5, 6, 7, 8]);
        assert!(p.dont_frag() && !p.more_frags() && !p.is_fragment());
        let r = Ipv4Repr::parse(&p, true).unwrap();
        assert_eq!(r.src, Ipv4Addr::new(172, 16, 10, 99));
        assert_eq!(r.dst, Ipv4Addr::new(172, 16, 10, 12));
        assert_eq!(r.protocol, IpProtocol::Udp);
        assert_eq!(r.payload_len, 8);
        assert_eq!(r.ttl, 64);
        assert_eq!(r.ident, 0x1c46);
    }

    #[test]
    fn length_checks() {
        let s = sample();
        assert_eq!(Packet::new_checked(&s[..19]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&s[..27]).unwrap_err(), Error::Truncated);
        let mut v6 = s;
        v6[0] = 0x65;
        assert_eq!(Packet::new_checked(&v6[..]).unwrap_err(), Error::Unsupported);
        let mut short_ihl = s;
        short_ihl[0] = 0x44;
        assert_eq!(Packet::new_checked(&short_ihl[..]).unwrap_err(), Error::BadLength);
        let mut long_ihl = s;
        long_ihl[0] = 0x48; // 32-byte header in a 28-byte datagram
        assert_eq!(Packet::new_checked(&long_ihl[..]).unwrap_err(), Error::BadLength);
        let mut total_below_header = s;
        total_below_header[3] = 19;
        assert_eq!(Packet::new_checked(&total_below_header[..]).unwrap_err(), Error::BadLength);
    }

    #[test]
    fn options_are_skipped_and_exposed() {
        let mut b = [0u8; 32];
        b[0] = 0x46; // IHL 6
        b[3] = 32;
        b[8] = 1;
        b[9] = 6;
        b[12..16].copy_from_slice(&[10, 0, 0, 1]);
        b[20..24].copy_from_slice(&[0x94, 0x04, 0x00, 0x00]); // Router Alert
        b[24..].copy_from_slice(&[9; 8]);
        let mut p = Packet::new_checked(&mut b[..]).unwrap();
        p.fill_checksum();
        assert_eq!(p.options(), &[0x94, 0x04, 0, 0]);
        assert_eq!(p.payload(), &[9; 8]);
        let r = Ipv4Repr::parse(&p, true).unwrap();
        assert_eq!(r.payload_len, 8);
        assert_eq!(r.protocol, IpProtocol::Tcp);
    }

    #[test]
    fn checksum_verification_and_opt_out() {
        let mut s = sample();
        s[8] = 63; // TTL changed, checksum now stale
        let p = Packet::new_checked(&s[..]).unwrap();
        assert!(!p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, true).unwrap_err(), Error::BadChecksum);
        assert_eq!(Ipv4Repr::parse(&p, false).unwrap().ttl, 63);
    }

    #[test]
    fn fragments_are_flagged() {
        for (flags_off, frag) in [
            (0x4000u16, false),
            (0x0000, false),
            (0x2000, true),
            (0x0001, true),
            (0x4001, true),
            (0x3fff, true),
        ] {
            let mut s = sample();
            s[6..8].copy_from_slice(&flags_off.to_be_bytes());
            let p = Packet::new_checked(&s[..]).unwrap();
            assert_eq!(p.is_fragment(), frag, "{flags_off:#06x}");
            assert_eq!(p.frag_offset(), (flags_off & 0x1fff) * 8);
        }
    }

    #[test]
    fn bad_sources_are_malformed() {
        for src in [[224, 0, 0, 1], [255, 255, 255, 255]] {
            let mut s = sample();
            s[12..16].copy_from_slice(&src);
            let mut p = Packet::new_checked(&mut s[..]).unwrap();
            p.fill_checksum();
            assert_eq!(Ipv4Repr::parse(&p, true).unwrap_err(), Error::Malformed);
        }
    }

    #[test]
    fn emit_round_trip_and_checksum_opt_out() {
        let repr = Ipv4Repr {
            src: Ipv4Addr::new(192, 0, 2, 1),
            dst: Ipv4Addr::new(198, 51, 100, 7),
            protocol: IpProtocol::Unknown(132),
            payload_len: 5,
            ttl: 17,
            dscp_ecn: 0xb8 | 0x02,
            dont_frag: true,
            ident: 0xbeef,
        };
        let mut buf = vec![0u8; repr.buffer_len()];
        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p, true);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert!(p.verify_checksum());
        assert_eq!(Ipv4Repr::parse(&p, true).unwrap(), repr);

        let mut p = Packet::new_unchecked(&mut buf[..]);
        repr.emit(&mut p, false);
        assert_eq!(p.checksum(), 0);
    }
}
