//! UDP (RFC 768) over IPv4.
//!
//! The view's payload stops at the UDP length field, which must fit in the buffer (the IPv4
//! payload). A zero checksum means the sender computed none; a computed zero is sent as
//! 0xffff, its ones'-complement twin, so that it is not read as "none".

use std::net::{Ipv4Addr, Ipv6Addr};

use super::checksum;
use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const LENGTH: Range<usize> = 4..6;
    pub const CHECKSUM: Range<usize> = 6..8;
}

/// Length of the UDP header.
pub const HEADER_LEN: usize = 8;
/// The IPv4 protocol number of UDP, as the pseudo-header carries it.
const PROTOCOL: u8 = 17;

/// A read/write view of a UDP datagram.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length; accessors may then panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len). After this no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks that the header fits ([`Error::Truncated`]), that the length field covers at
    /// least the header ([`Error::BadLength`]) and that it fits in the buffer
    /// ([`Error::Truncated`]). Bytes past the length field are ignored.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(Error::Truncated);
        }
        let field_len = usize::from(self.len());
        if field_len < HEADER_LEN {
            return Err(Error::BadLength);
        }
        if field_len > len {
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

    /// Source port (0 if the sender expects no reply).
    pub fn src_port(&self) -> u16 {
        self.u16_at(field::SRC_PORT)
    }

    /// Destination port.
    pub fn dst_port(&self) -> u16 {
        self.u16_at(field::DST_PORT)
    }

    /// The length field: header plus payload.
    pub fn len(&self) -> u16 {
        self.u16_at(field::LENGTH)
    }

    /// Whether the datagram carries no payload.
    pub fn is_empty(&self) -> bool {
        usize::from(self.len()) <= HEADER_LEN
    }

    /// The checksum field (0: none was computed).
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// Whether the checksum verifies against the pseudo-header of `src`/`dst`. A zero field
    /// means the sender sent none, which RFC 768 allows over IPv4: that verifies.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        if self.checksum() == 0 {
            return true;
        }
        let len = self.len();
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTOCOL, len);
        checksum::verify(pseudo, &self.buffer.as_ref()[..usize::from(len)])
    }

    /// Whether the checksum verifies against the IPv6 pseudo-header of `src`/`dst`. Over
    /// IPv6 the checksum is mandatory (RFC 8200 §8.1): a zero field fails.
    pub fn verify_checksum_v6(&self, src: Ipv6Addr, dst: Ipv6Addr) -> bool {
        if self.checksum() == 0 {
            return false;
        }
        let len = self.len();
        let pseudo = super::ipv6::pseudo_header(src, dst, PROTOCOL, u32::from(len));
        checksum::verify(pseudo, &self.buffer.as_ref()[..usize::from(len)])
    }

    /// The payload, up to the length field.
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.len())]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
    /// The payload borrowed for the buffer's lifetime rather than the view's: how the
    /// interface hands datagrams to sockets without a copy. Empty on an unchecked view whose
    /// lengths are inconsistent.
    pub fn payload_slice(&self) -> &'a [u8] {
        let data: &'a [u8] = self.buffer.as_ref();
        match data.get(field::LENGTH) {
            Some(&[hi, lo]) => {
                data.get(HEADER_LEN..usize::from(u16::from_be_bytes([hi, lo]))).unwrap_or(&[])
            }
            _ => &[],
        }
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the source port.
    pub fn set_src_port(&mut self, v: u16) {
        self.set_u16(field::SRC_PORT, v);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, v: u16) {
        self.set_u16(field::DST_PORT, v);
    }

    /// Sets the length field.
    pub fn set_len(&mut self, v: u16) {
        self.set_u16(field::LENGTH, v);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v);
    }

    /// Computes the checksum over the header and the payload (up to the length field) and
    /// writes it, sending a computed 0 as 0xffff (RFC 768).
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let len = self.len();
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTOCOL, len);
        let data = checksum::sum(&self.buffer.as_ref()[..usize::from(len)]);
        self.set_checksum(non_zero(checksum::combine(&[pseudo, data])));
    }

    /// [`fill_checksum`](Self::fill_checksum) with the IPv6 pseudo-header (RFC 8200 §8.1).
    pub fn fill_checksum_v6(&mut self, src: Ipv6Addr, dst: Ipv6Addr) {
        self.set_checksum(0);
        let len = self.len();
        let pseudo = super::ipv6::pseudo_header(src, dst, PROTOCOL, u32::from(len));
        let data = checksum::sum(&self.buffer.as_ref()[..usize::from(len)]);
        self.set_checksum(non_zero(checksum::combine(&[pseudo, data])));
    }

    /// The payload, writable (up to the length field).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }
}

/// Writes the checksum of a datagram whose header was just emitted (checksum zero), from the
/// folded sums of the pseudo-header (either family's) and of the payload: the one rule both
/// families' emitters finish with.
fn set_checksum_from<T: AsRef<[u8]> + AsMut<[u8]>>(
    packet: &mut Packet<T>,
    pseudo: u16,
    payload_sum: u16,
) {
    let header = checksum::sum(&packet.buffer.as_ref()[..HEADER_LEN]);
    packet.set_checksum(non_zero(checksum::combine(&[pseudo, header, payload_sum])));
}

/// RFC 768: a checksum that computes to zero is transmitted as all ones.
fn non_zero(c: u16) -> u16 {
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// The parsed header of a UDP datagram; the payload is read from the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct UdpRepr {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
}

impl UdpRepr {
    /// Parses a checked datagram that came from `src` to `dst`. With `verify_checksum` false
    /// (the device verified it) the checksum is not recomputed.
    ///
    /// Errors: [`Error::BadChecksum`]; [`Error::Malformed`] for destination port 0, which is
    /// reserved and names no socket.
    pub fn parse<T: AsRef<[u8]>>(
        packet: &Packet<T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        verify_checksum: bool,
    ) -> Result<UdpRepr> {
        packet.check_len()?;
        if packet.dst_port() == 0 {
            return Err(Error::Malformed);
        }
        if verify_checksum && !packet.verify_checksum(src, dst) {
            return Err(Error::BadChecksum);
        }
        Ok(UdpRepr { src_port: packet.src_port(), dst_port: packet.dst_port() })
    }

    /// Length of the header: 8.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Header plus a payload of `payload_len` bytes.
    pub const fn buffer_len(&self, payload_len: usize) -> usize {
        HEADER_LEN + payload_len
    }

    /// Writes the header for a payload of `payload_len` bytes that is *already in place*
    /// after it, and with `fill_checksum` computes the checksum over header and payload;
    /// otherwise the field is 0 ("no checksum", or for the device to fill). The buffer must
    /// hold `8 + payload_len` bytes and `payload_len` must fit the 16-bit length field.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        fill_checksum: bool,
    ) {
        self.emit_header(packet, payload_len);
        if fill_checksum {
            packet.fill_checksum(src, dst);
        }
    }

    /// Like [`emit`](Self::emit) with the checksum filled, but takes the folded sum of the
    /// payload instead of reading it again: pair it with
    /// [`checksum::copy_and_sum`] so the payload is copied and summed in one pass.
    pub fn emit_with_payload_sum<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
        payload_sum: u16,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) {
        self.emit_header(packet, payload_len);
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTOCOL, packet.len());
        set_checksum_from(packet, pseudo, payload_sum);
    }

    /// [`emit_with_payload_sum`](Self::emit_with_payload_sum) over IPv6: the checksum covers
    /// the IPv6 pseudo-header (RFC 8200 §8.1), where it is mandatory.
    pub fn emit_with_payload_sum_v6<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
        payload_sum: u16,
        src: Ipv6Addr,
        dst: Ipv6Addr,
    ) {
        self.emit_header(packet, payload_len);
        let len = u32::from(packet.len());
        let pseudo = super::ipv6::pseudo_header(src, dst, PROTOCOL, len);
        set_checksum_from(packet, pseudo, payload_sum);
    }

    fn emit_header<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        packet: &mut Packet<T>,
        payload_len: usize,
    ) {
        debug_assert!(payload_len <= usize::from(u16::MAX) - HEADER_LEN);
        let len = (HEADER_LEN + payload_len).min(usize::from(u16::MAX)) as u16;
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_len(len);
        packet.set_checksum(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 10);
    const DST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 20);

    fn datagram(payload: &[u8]) -> Vec<u8> {
        let mut b = vec![0u8; HEADER_LEN + payload.len()];
        b[HEADER_LEN..].copy_from_slice(payload);
        let repr = UdpRepr { src_port: 5353, dst_port: 53 };
        repr.emit(&mut Packet::new_unchecked(&mut b[..]), payload.len(), SRC, DST, true);
        b
    }

    #[test]
    fn round_trip_with_padding() {
        let mut b = datagram(b"query");
        b.extend_from_slice(&[0; 9]); // IPv4 payload longer than the UDP length
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.len(), 13);
        assert_eq!(p.payload(), b"query");
        assert_eq!(p.payload_slice(), b"query");
        let r = UdpRepr::parse(&p, SRC, DST, true).unwrap();
        assert_eq!((r.src_port, r.dst_port), (5353, 53));
    }

    #[test]
    fn checksum_covers_pseudo_header_and_zero_means_none() {
        let b = datagram(b"hello");
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_ne!(p.checksum(), 0);
        // Another destination changes the pseudo-header: the checksum no longer verifies.
        let other = Ipv4Addr::new(192, 168, 1, 21);
        assert_eq!(UdpRepr::parse(&p, SRC, other, true).unwrap_err(), Error::BadChecksum);
        assert!(UdpRepr::parse(&p, SRC, other, false).is_ok());
        let mut none = b.clone();
        none[6] = 0;
        none[7] = 0;
        let p = Packet::new_checked(&none[..]).unwrap();
        assert!(UdpRepr::parse(&p, SRC, other, true).is_ok());
    }

    #[test]
    fn computed_zero_is_sent_as_all_ones() {
        // Pick the last two payload bytes so the whole sum is 0xffff, i.e. checksum 0.
        let mut payload = [0x11u8, 0x22, 0, 0];
        let b = datagram(&payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        // Adding the current checksum value to the payload's last word drives the sum to
        // 0xffff (ones'-complement negative zero).
        let fix = p.checksum();
        payload[2..4].copy_from_slice(&fix.to_be_bytes());
        let b = datagram(&payload);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(p.checksum(), 0xffff);
        assert!(p.verify_checksum(SRC, DST));
    }

    #[test]
    fn length_field_checks() {
        let b = datagram(b"abc");
        assert_eq!(Packet::new_checked(&b[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&b[..10]).unwrap_err(), Error::Truncated);
        let mut short = b.clone();
        short[5] = 7;
        assert_eq!(Packet::new_checked(&short[..]).unwrap_err(), Error::BadLength);
        let mut zero_port = b.clone();
        zero_port[2] = 0;
        zero_port[3] = 0;
        let p = Packet::new_checked(&zero_port[..]).unwrap();
        assert_eq!(UdpRepr::parse(&p, SRC, DST, false).unwrap_err(), Error::Malformed);
    }

    #[test]
    fn fused_emit_matches_plain_emit() {
        let payload: Vec<u8> = (0..=200u8).collect();
        let plain = datagram(&payload);
        let mut fused = vec![0u8; HEADER_LEN + payload.len()];
        let s = checksum::copy_and_sum(&mut fused[HEADER_LEN..], &payload);
        let repr = UdpRepr { src_port: 5353, dst_port: 53 };
        repr.emit_with_payload_sum(
            &mut Packet::new_unchecked(&mut fused[..]),
            payload.len(),
            s,
            SRC,
            DST,
        );
        assert_eq!(fused, plain);
    }

    #[test]
    fn fused_emit_over_ipv6_matches_the_plain_checksum() {
        let (src, dst): (Ipv6Addr, Ipv6Addr) =
            ("2001:db8::1".parse().unwrap(), "2001:db8::2".parse().unwrap());
        // Even and odd lengths: an odd payload's last byte is padded in both sums.
        for n in [0usize, 1, 64, 201] {
            let payload: Vec<u8> = (0..n).map(|i| (i * 7 + 3) as u8).collect();
            let repr = UdpRepr { src_port: 5353, dst_port: 53 };
            let mut plain = vec![0u8; HEADER_LEN + n];
            plain[HEADER_LEN..].copy_from_slice(&payload);
            let mut p = Packet::new_unchecked(&mut plain[..]);
            repr.emit_header(&mut p, n);
            p.fill_checksum_v6(src, dst);
            let mut fused = vec![0u8; HEADER_LEN + n];
            let sum = checksum::copy_and_sum(&mut fused[HEADER_LEN..], &payload);
            repr.emit_with_payload_sum_v6(
                &mut Packet::new_unchecked(&mut fused[..]),
                n,
                sum,
                src,
                dst,
            );
            assert_eq!(fused, plain, "{n} bytes");
            assert!(Packet::new_checked(&fused[..]).unwrap().verify_checksum_v6(src, dst));
        }
    }
}
