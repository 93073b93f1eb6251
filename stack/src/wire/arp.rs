//! ARP (RFC 826) for IPv4 over Ethernet.
//!
//! The view reads the generic header and sizes the address fields by its length bytes, so it
//! never panics on any hardware or protocol length. The parsed [`ArpRepr`] accepts only
//! Ethernet/IPv4 (hardware type 1, protocol type 0x0800, lengths 6 and 4); anything else is
//! [`Error::Unsupported`].

use std::net::Ipv4Addr;

use super::ethernet::EthernetAddress;
use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const HTYPE: Range<usize> = 0..2;
    pub const PTYPE: Range<usize> = 2..4;
    pub const HLEN: usize = 4;
    pub const PLEN: usize = 5;
    pub const OPER: Range<usize> = 6..8;
    /// The variable-size addresses start here: SHA, SPA, THA, TPA.
    pub const ADDRS: usize = 8;
}

/// Hardware type of Ethernet (RFC 826 `ar$hrd`).
pub const HTYPE_ETHERNET: u16 = 1;
/// Protocol type of IPv4 (its EtherType).
pub const PTYPE_IPV4: u16 = 0x0800;
/// Length of an Ethernet/IPv4 ARP packet.
pub const PACKET_LEN: usize = field::ADDRS + 2 * (6 + 4);

/// The ARP opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArpOperation {
    /// 1.
    Request,
    /// 2.
    Reply,
    /// Any other value (RARP, InARP...), which the stack ignores.
    Unknown(u16),
}

impl From<u16> for ArpOperation {
    fn from(v: u16) -> Self {
        match v {
            1 => ArpOperation::Request,
            2 => ArpOperation::Reply,
            other => ArpOperation::Unknown(other),
        }
    }
}

impl From<ArpOperation> for u16 {
    fn from(op: ArpOperation) -> u16 {
        match op {
            ArpOperation::Request => 1,
            ArpOperation::Reply => 2,
            ArpOperation::Unknown(v) => v,
        }
    }
}

/// A read/write view of an ARP packet.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length; accessors may then panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking that it holds the fixed header and the four addresses
    /// its length bytes announce. After this no accessor can panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length as [`new_checked`](Self::new_checked) does.
    pub fn check_len(&self) -> Result<()> {
        let len = self.buffer.as_ref().len();
        if len < field::ADDRS || len < self.addrs_end() {
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

    fn addrs_end(&self) -> usize {
        field::ADDRS + 2 * (self.hardware_len() as usize + self.protocol_len() as usize)
    }

    /// Hardware address space (1 for Ethernet).
    pub fn hardware_type(&self) -> u16 {
        self.u16_at(field::HTYPE)
    }

    /// Protocol address space (0x0800 for IPv4).
    pub fn protocol_type(&self) -> u16 {
        self.u16_at(field::PTYPE)
    }

    /// Length of each hardware address in bytes.
    pub fn hardware_len(&self) -> u8 {
        self.buffer.as_ref()[field::HLEN]
    }

    /// Length of each protocol address in bytes.
    pub fn protocol_len(&self) -> u8 {
        self.buffer.as_ref()[field::PLEN]
    }

    /// The opcode.
    pub fn operation(&self) -> ArpOperation {
        ArpOperation::from(self.u16_at(field::OPER))
    }

    fn sha_range(&self) -> core::ops::Range<usize> {
        let h = self.hardware_len() as usize;
        field::ADDRS..field::ADDRS + h
    }

    fn spa_range(&self) -> core::ops::Range<usize> {
        let start = self.sha_range().end;
        start..start + self.protocol_len() as usize
    }

    fn tha_range(&self) -> core::ops::Range<usize> {
        let start = self.spa_range().end;
        start..start + self.hardware_len() as usize
    }

    fn tpa_range(&self) -> core::ops::Range<usize> {
        let start = self.tha_range().end;
        start..start + self.protocol_len() as usize
    }

    /// Sender hardware address (`hardware_len` bytes).
    pub fn source_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.sha_range()]
    }

    /// Sender protocol address (`protocol_len` bytes).
    pub fn source_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.spa_range()]
    }

    /// Target hardware address (`hardware_len` bytes).
    pub fn target_hardware_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.tha_range()]
    }

    /// Target protocol address (`protocol_len` bytes).
    pub fn target_protocol_addr(&self) -> &[u8] {
        &self.buffer.as_ref()[self.tpa_range()]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the hardware type.
    pub fn set_hardware_type(&mut self, v: u16) {
        self.set_u16(field::HTYPE, v);
    }

    /// Sets the protocol type.
    pub fn set_protocol_type(&mut self, v: u16) {
        self.set_u16(field::PTYPE, v);
    }

    /// Sets the hardware address length; set it before the addresses.
    pub fn set_hardware_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::HLEN] = v;
    }

    /// Sets the protocol address length; set it before the addresses.
    pub fn set_protocol_len(&mut self, v: u8) {
        self.buffer.as_mut()[field::PLEN] = v;
    }

    /// Sets the opcode.
    pub fn set_operation(&mut self, op: ArpOperation) {
        self.set_u16(field::OPER, op.into());
    }

    /// Sets the sender hardware address; `addr` must be `hardware_len` bytes.
    pub fn set_source_hardware_addr(&mut self, addr: &[u8]) {
        let r = self.sha_range();
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }

    /// Sets the sender protocol address; `addr` must be `protocol_len` bytes.
    pub fn set_source_protocol_addr(&mut self, addr: &[u8]) {
        let r = self.spa_range();
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }

    /// Sets the target hardware address; `addr` must be `hardware_len` bytes.
    pub fn set_target_hardware_addr(&mut self, addr: &[u8]) {
        let r = self.tha_range();
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }

    /// Sets the target protocol address; `addr` must be `protocol_len` bytes.
    pub fn set_target_protocol_addr(&mut self, addr: &[u8]) {
        let r = self.tpa_range();
        self.buffer.as_mut()[r].copy_from_slice(addr);
    }
}

/// A parsed Ethernet/IPv4 ARP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ArpRepr {
    /// Request, reply, or another opcode the interface ignores.
    pub operation: ArpOperation,
    /// Sender hardware address.
    pub source_hw: EthernetAddress,
    /// Sender IPv4 address.
    pub source_ip: Ipv4Addr,
    /// Target hardware address (zero or ignored in a request).
    pub target_hw: EthernetAddress,
    /// Target IPv4 address.
    pub target_ip: Ipv4Addr,
}

fn ipv4(b: &[u8]) -> Ipv4Addr {
    match b {
        [a, b, c, d] => Ipv4Addr::new(*a, *b, *c, *d),
        _ => Ipv4Addr::UNSPECIFIED,
    }
}

impl ArpRepr {
    /// Parses an Ethernet/IPv4 ARP packet. Other address spaces or sizes are
    /// [`Error::Unsupported`]; bytes past the addresses (Ethernet padding) are ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<ArpRepr> {
        packet.check_len()?;
        if packet.hardware_type() != HTYPE_ETHERNET
            || packet.protocol_type() != PTYPE_IPV4
            || packet.hardware_len() != 6
            || packet.protocol_len() != 4
        {
            return Err(Error::Unsupported);
        }
        let hw = |b: &[u8]| EthernetAddress::from_bytes(b).ok_or(Error::Truncated);
        Ok(ArpRepr {
            operation: packet.operation(),
            source_hw: hw(packet.source_hardware_addr())?,
            source_ip: ipv4(packet.source_protocol_addr()),
            target_hw: hw(packet.target_hardware_addr())?,
            target_ip: ipv4(packet.target_protocol_addr()),
        })
    }

    /// Length of the packet [`emit`](Self::emit) writes: 28 bytes.
    pub const fn buffer_len(&self) -> usize {
        PACKET_LEN
    }

    /// Writes the packet. The buffer must hold at least [`PACKET_LEN`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) {
        packet.set_hardware_type(HTYPE_ETHERNET);
        packet.set_protocol_type(PTYPE_IPV4);
        packet.set_hardware_len(6);
        packet.set_protocol_len(4);
        packet.set_operation(self.operation);
        packet.set_source_hardware_addr(&self.source_hw.0);
        packet.set_source_protocol_addr(&self.source_ip.octets());
        packet.set_target_hardware_addr(&self.target_hw.0);
        packet.set_target_protocol_addr(&self.target_ip.octets());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // A who-has 10.0.0.2 tell 10.0.0.1 request, byte by byte as RFC 826 lays it out.
    const REQUEST: [u8; 28] = [
        0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, 0x01, // Ethernet, IPv4, 6, 4, request
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 10, 0, 0, 1, // sender
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 10, 0, 0, 2, // target
    ];

    #[test]
    fn parses_request() {
        let p = Packet::new_checked(&REQUEST[..]).unwrap();
        let r = ArpRepr::parse(&p).unwrap();
        assert_eq!(r.operation, ArpOperation::Request);
        assert_eq!(r.source_hw, EthernetAddress([2, 0, 0, 0, 0, 1]));
        assert_eq!(r.source_ip, Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(r.target_hw, EthernetAddress([0; 6]));
        assert_eq!(r.target_ip, Ipv4Addr::new(10, 0, 0, 2));
    }

    #[test]
    fn emit_matches_bytes_and_ignores_padding() {
        let repr = ArpRepr {
            operation: ArpOperation::Request,
            source_hw: EthernetAddress([2, 0, 0, 0, 0, 1]),
            source_ip: Ipv4Addr::new(10, 0, 0, 1),
            target_hw: EthernetAddress([0; 6]),
            target_ip: Ipv4Addr::new(10, 0, 0, 2),
        };
        let mut buf = [0xeeu8; 46]; // minimum Ethernet payload: 18 bytes of padding
        repr.emit(&mut Packet::new_unchecked(&mut buf[..]));
        assert_eq!(&buf[..28], &REQUEST[..]);
        let p = Packet::new_checked(&buf[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap(), repr);
    }

    #[test]
    fn truncation_uses_announced_lengths() {
        assert_eq!(Packet::new_checked(&REQUEST[..7]).unwrap_err(), Error::Truncated);
        assert_eq!(Packet::new_checked(&REQUEST[..27]).unwrap_err(), Error::Truncated);
        // Large announced lengths need a large buffer, not a panic.
        let mut big = REQUEST;
        big[4] = 255;
        assert_eq!(Packet::new_checked(&big[..]).unwrap_err(), Error::Truncated);
    }

    #[test]
    fn other_spaces_are_unsupported() {
        for (i, v) in [(1usize, 6u8), (3, 0xdd), (4, 8), (5, 16)] {
            let mut b = [0u8; 64];
            b[..28].copy_from_slice(&REQUEST);
            b[i] = v;
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(ArpRepr::parse(&p).unwrap_err(), Error::Unsupported, "byte {i}");
        }
        let mut b = REQUEST;
        b[7] = 9;
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(ArpRepr::parse(&p).unwrap().operation, ArpOperation::Unknown(9));
    }
}
