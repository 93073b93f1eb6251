//! Ethernet II frames (IEEE 802.3 with an EtherType), with at most one IEEE 802.1Q VLAN tag
//! skipped.
//!
//! The view reports whether a tag was present and its TCI, so the interface layer can count
//! (or one day act on) tagged traffic; the EtherType and payload it exposes are always the
//! inner ones. A second, stacked tag (802.1ad "QinQ") is not skipped: the view's inner
//! EtherType then reads as [`EtherType::Vlan`], and [`EthernetRepr::parse`] refuses the frame
//! as [`Error::Unsupported`].

use core::fmt;

use super::{Error, Result};

/// A 48-bit IEEE 802 MAC address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct EthernetAddress(pub [u8; 6]);

impl EthernetAddress {
    /// The all-ones broadcast address.
    pub const BROADCAST: EthernetAddress = EthernetAddress([0xff; 6]);

    /// Reads an address from the first six bytes of `bytes`; `None` if there are fewer.
    pub fn from_bytes(bytes: &[u8]) -> Option<EthernetAddress> {
        let b: [u8; 6] = bytes.get(..6)?.try_into().ok()?;
        Some(EthernetAddress(b))
    }

    /// The six octets in transmission order.
    pub const fn as_bytes(&self) -> &[u8; 6] {
        &self.0
    }

    /// Whether this is the all-ones broadcast address.
    pub fn is_broadcast(&self) -> bool {
        *self == Self::BROADCAST
    }

    /// Whether the group bit (least significant bit of the first octet) is set: multicast,
    /// including broadcast.
    pub const fn is_multicast(&self) -> bool {
        self.0[0] & 0x01 != 0
    }

    /// Whether this is an individual (unicast) address.
    pub const fn is_unicast(&self) -> bool {
        !self.is_multicast()
    }

    /// Whether the locally-administered bit (second least significant bit of the first
    /// octet) is set.
    pub const fn is_local(&self) -> bool {
        self.0[0] & 0x02 != 0
    }
}

impl fmt::Display for EthernetAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(f, "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[0], b[1], b[2], b[3], b[4], b[5])
    }
}

/// The EtherType field: which protocol the payload carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EtherType {
    /// 0x0800.
    Ipv4,
    /// 0x0806.
    Arp,
    /// 0x8100, an IEEE 802.1Q tag.
    Vlan,
    /// 0x86DD (RFC 2464 §3).
    Ipv6,
    /// Any other value (including 802.3 length values below 0x0600).
    Unknown(u16),
}

impl From<u16> for EtherType {
    fn from(v: u16) -> Self {
        match v {
            0x0800 => EtherType::Ipv4,
            0x0806 => EtherType::Arp,
            0x8100 => EtherType::Vlan,
            0x86dd => EtherType::Ipv6,
            other => EtherType::Unknown(other),
        }
    }
}

impl From<EtherType> for u16 {
    fn from(t: EtherType) -> u16 {
        match t {
            EtherType::Ipv4 => 0x0800,
            EtherType::Arp => 0x0806,
            EtherType::Vlan => 0x8100,
            EtherType::Ipv6 => 0x86dd,
            EtherType::Unknown(v) => v,
        }
    }
}

impl fmt::Display for EtherType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EtherType::Ipv4 => f.write_str("IPv4"),
            EtherType::Arp => f.write_str("ARP"),
            EtherType::Vlan => f.write_str("802.1Q"),
            EtherType::Ipv6 => f.write_str("IPv6"),
            EtherType::Unknown(v) => write!(f, "0x{v:04x}"),
        }
    }
}

mod field {
    use core::ops::Range;
    pub const DST: Range<usize> = 0..6;
    pub const SRC: Range<usize> = 6..12;
    pub const ETHERTYPE: Range<usize> = 12..14;
    /// Inside an 802.1Q tag, which replaces the EtherType and pushes the real one back.
    pub const TCI: Range<usize> = 14..16;
    pub const INNER_ETHERTYPE: Range<usize> = 16..18;
}

/// Length of an untagged Ethernet II header.
pub const HEADER_LEN: usize = 14;
/// Length of one 802.1Q tag (TPID + TCI).
pub const VLAN_TAG_LEN: usize = 4;

/// A read/write view of an Ethernet II frame.
#[derive(Debug, Clone)]
pub struct Frame<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Frame<T> {
    /// Wraps a buffer without checking its length; accessors may then panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Frame<T> {
        Frame { buffer }
    }

    /// Wraps a buffer after checking that it holds the whole header (and the 802.1Q tag if
    /// the EtherType announces one). After this no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Frame<T>> {
        let f = Self::new_unchecked(buffer);
        f.check_len()?;
        Ok(f)
    }

    /// Checks the length as [`new_checked`](Self::new_checked) does.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated);
        }
        if self.has_vlan() && data.len() < HEADER_LEN + VLAN_TAG_LEN {
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

    /// The destination address.
    pub fn dst_addr(&self) -> EthernetAddress {
        let d = &self.buffer.as_ref()[field::DST];
        EthernetAddress([d[0], d[1], d[2], d[3], d[4], d[5]])
    }

    /// The source address.
    pub fn src_addr(&self) -> EthernetAddress {
        let d = &self.buffer.as_ref()[field::SRC];
        EthernetAddress([d[0], d[1], d[2], d[3], d[4], d[5]])
    }

    /// The EtherType in the fixed header position: 0x8100 when the frame is tagged.
    pub fn outer_ethertype(&self) -> EtherType {
        EtherType::from(self.u16_at(field::ETHERTYPE))
    }

    /// Whether an 802.1Q tag follows the source address.
    pub fn has_vlan(&self) -> bool {
        self.u16_at(field::ETHERTYPE) == 0x8100
    }

    /// The Tag Control Information (priority, DEI, VLAN id) of the 802.1Q tag, if present.
    pub fn vlan_tci(&self) -> Option<u16> {
        if self.has_vlan() {
            Some(self.u16_at(field::TCI))
        } else {
            None
        }
    }

    /// The VLAN id (low 12 bits of the TCI), if tagged.
    pub fn vlan_id(&self) -> Option<u16> {
        self.vlan_tci().map(|tci| tci & 0x0fff)
    }

    /// The EtherType of the payload: the one after the 802.1Q tag when tagged.
    pub fn ethertype(&self) -> EtherType {
        if self.has_vlan() {
            EtherType::from(self.u16_at(field::INNER_ETHERTYPE))
        } else {
            self.outer_ethertype()
        }
    }

    /// Where the payload starts: 14, or 18 with a tag.
    pub fn header_len(&self) -> usize {
        if self.has_vlan() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        }
    }

    /// The payload, including any padding a short frame carries (the IPv4 view cuts it off).
    pub fn payload(&self) -> &[u8] {
        &self.buffer.as_ref()[self.header_len()..]
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Frame<&'a T> {
    /// The payload borrowed for the buffer's lifetime rather than the view's.
    pub fn payload_slice(&self) -> &'a [u8] {
        let data: &'a [u8] = self.buffer.as_ref();
        let start = if data.len() >= HEADER_LEN + VLAN_TAG_LEN && self.has_vlan() {
            HEADER_LEN + VLAN_TAG_LEN
        } else {
            HEADER_LEN
        };
        data.get(start..).unwrap_or(&[])
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Frame<T> {
    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::DST].copy_from_slice(&addr.0);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: EthernetAddress) {
        self.buffer.as_mut()[field::SRC].copy_from_slice(&addr.0);
    }

    /// Sets the payload's EtherType: the inner one if the frame is tagged.
    pub fn set_ethertype(&mut self, t: EtherType) {
        let r = if self.has_vlan() { field::INNER_ETHERTYPE } else { field::ETHERTYPE };
        self.buffer.as_mut()[r].copy_from_slice(&u16::from(t).to_be_bytes());
    }

    /// The payload, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = self.header_len();
        &mut self.buffer.as_mut()[start..]
    }
}

/// The parsed header of an untagged Ethernet II frame (a tag is dropped on parse).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthernetRepr {
    /// Source address.
    pub src: EthernetAddress,
    /// Destination address.
    pub dst: EthernetAddress,
    /// EtherType of the payload (the inner one of a tagged frame).
    pub ethertype: EtherType,
}

impl EthernetRepr {
    /// Reads the addresses and payload EtherType of a checked frame. A second VLAN tag is
    /// [`Error::Unsupported`]: the stack handles at most one.
    pub fn parse<T: AsRef<[u8]>>(frame: &Frame<T>) -> Result<EthernetRepr> {
        frame.check_len()?;
        if frame.ethertype() == EtherType::Vlan {
            return Err(Error::Unsupported);
        }
        Ok(EthernetRepr {
            src: frame.src_addr(),
            dst: frame.dst_addr(),
            ethertype: frame.ethertype(),
        })
    }

    /// Length of the header [`emit`](Self::emit) writes: always untagged.
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// Writes an untagged header. The buffer must hold at least [`HEADER_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, frame: &mut Frame<T>) {
        let b = frame.buffer.as_mut();
        b[field::DST].copy_from_slice(&self.dst.0);
        b[field::SRC].copy_from_slice(&self.src.0);
        b[field::ETHERTYPE].copy_from_slice(&u16::from(self.ethertype).to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const UNTAGGED: [u8; 18] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x08, 0x06, // ARP
        0xde, 0xad, 0xbe, 0xef,
    ];

    const TAGGED: [u8; 20] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x02, // src
        0x81, 0x00, 0xa0, 0x2a, // 802.1Q, PCP 5, VID 42
        0x08, 0x00, // IPv4
        0x45, 0x00,
    ];

    #[test]
    fn parses_untagged() {
        let f = Frame::new_checked(&UNTAGGED[..]).unwrap();
        assert_eq!(f.dst_addr(), EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(f.src_addr(), EthernetAddress([2, 0, 0, 0, 0, 2]));
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert!(!f.has_vlan());
        assert_eq!(f.vlan_tci(), None);
        assert_eq!(f.header_len(), 14);
        assert_eq!(f.payload(), &[0xde, 0xad, 0xbe, 0xef]);
    }

    #[test]
    fn skips_one_vlan_tag() {
        let f = Frame::new_checked(&TAGGED[..]).unwrap();
        assert!(f.has_vlan());
        assert_eq!(f.outer_ethertype(), EtherType::Vlan);
        assert_eq!(f.vlan_tci(), Some(0xa02a));
        assert_eq!(f.vlan_id(), Some(42));
        assert_eq!(f.ethertype(), EtherType::Ipv4);
        assert_eq!(f.header_len(), 18);
        assert_eq!(f.payload(), &[0x45, 0x00]);
        assert_eq!(f.payload_slice(), &[0x45, 0x00]);
        assert!(f.dst_addr().is_broadcast());
    }

    #[test]
    fn second_tag_is_unsupported() {
        let mut qinq = [0u8; 24];
        qinq[..16].copy_from_slice(&TAGGED[..16]);
        qinq[16..18].copy_from_slice(&[0x81, 0x00]);
        let f = Frame::new_checked(&qinq[..]).unwrap();
        assert_eq!(f.ethertype(), EtherType::Vlan);
        assert_eq!(EthernetRepr::parse(&f).unwrap_err(), Error::Unsupported);
    }

    #[test]
    fn truncated_header_and_tag() {
        assert_eq!(Frame::new_checked(&UNTAGGED[..13]).unwrap_err(), Error::Truncated);
        assert!(Frame::new_checked(&UNTAGGED[..14]).is_ok());
        assert_eq!(Frame::new_checked(&TAGGED[..17]).unwrap_err(), Error::Truncated);
        assert!(Frame::new_checked(&TAGGED[..18]).is_ok());
    }

    #[test]
    fn repr_round_trip_and_setters() {
        let repr = EthernetRepr {
            src: EthernetAddress([0x02, 1, 2, 3, 4, 5]),
            dst: EthernetAddress::BROADCAST,
            ethertype: EtherType::Unknown(0x88cc),
        };
        let mut buf = [0u8; 20];
        let mut f = Frame::new_unchecked(&mut buf[..]);
        repr.emit(&mut f);
        f.payload_mut()[0] = 0x77;
        assert_eq!(&buf[12..15], &[0x88, 0xcc, 0x77]);
        let f = Frame::new_checked(&buf[..]).unwrap();
        assert_eq!(EthernetRepr::parse(&f).unwrap(), repr);

        let mut tagged = TAGGED;
        let mut f = Frame::new_checked(&mut tagged[..]).unwrap();
        f.set_ethertype(EtherType::Arp);
        f.set_src_addr(EthernetAddress([2, 9, 9, 9, 9, 9]));
        assert_eq!(f.outer_ethertype(), EtherType::Vlan);
        assert_eq!(f.ethertype(), EtherType::Arp);
        assert_eq!(f.src_addr().0, [2, 9, 9, 9, 9, 9]);
    }

    #[test]
    fn address_kinds_and_display() {
        let a = EthernetAddress([0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb]);
        assert!(a.is_multicast() && !a.is_unicast() && !a.is_broadcast());
        let u = EthernetAddress([0x02, 0xab, 0xcd, 0xef, 0x01, 0x23]);
        assert!(u.is_unicast() && u.is_local());
        assert!(EthernetAddress::BROADCAST.is_multicast());
        assert_eq!(u.to_string(), "02:ab:cd:ef:01:23");
        assert_eq!(EthernetAddress::from_bytes(&[1, 2, 3, 4, 5]), None);
        assert_eq!(EtherType::from(0x0800u16), EtherType::Ipv4);
        assert_eq!(u16::from(EtherType::Ipv6), 0x86dd);
        assert_eq!(EtherType::from(0x86dd), EtherType::Ipv6);
    }
}
