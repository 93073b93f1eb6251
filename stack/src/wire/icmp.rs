//! ICMPv4 (RFC 792): echo, destination unreachable (with the RFC 1191 next-hop MTU) and time
//! exceeded.
//!
//! The view's buffer is the whole ICMP message, i.e. exactly the IPv4 payload: the checksum
//! covers every byte of it.

use super::checksum;
use super::{Error, Result};

mod field {
    use core::ops::Range;
    pub const TYPE: usize = 0;
    pub const CODE: usize = 1;
    pub const CHECKSUM: Range<usize> = 2..4;
    /// Echo: identifier. Unreachable: unused.
    pub const IDENT: Range<usize> = 4..6;
    /// Echo: sequence number. Fragmentation needed: next-hop MTU (RFC 1191 §4).
    pub const SEQ_NO: Range<usize> = 6..8;
    pub const NEXT_HOP_MTU: Range<usize> = 6..8;
    pub const REST: Range<usize> = 4..8;
}

/// Length of the fixed ICMP header (type, code, checksum, four type-specific bytes).
pub const HEADER_LEN: usize = 8;
/// Bytes of the original datagram's data that an error message quotes after its IP header
/// (RFC 792: "the first 64 bits of the original data datagram's data").
pub const QUOTED_DATA_LEN: usize = 8;

/// The ICMP message type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Message {
    /// 0.
    EchoReply,
    /// 3.
    DstUnreachable,
    /// 5.
    Redirect,
    /// 8.
    EchoRequest,
    /// 11.
    TimeExceeded,
    /// 12.
    ParamProblem,
    /// Anything else.
    Unknown(u8),
}

impl From<u8> for Message {
    fn from(v: u8) -> Self {
        match v {
            0 => Message::EchoReply,
            3 => Message::DstUnreachable,
            5 => Message::Redirect,
            8 => Message::EchoRequest,
            11 => Message::TimeExceeded,
            12 => Message::ParamProblem,
            other => Message::Unknown(other),
        }
    }
}

impl From<Message> for u8 {
    fn from(m: Message) -> u8 {
        match m {
            Message::EchoReply => 0,
            Message::DstUnreachable => 3,
            Message::Redirect => 5,
            Message::EchoRequest => 8,
            Message::TimeExceeded => 11,
            Message::ParamProblem => 12,
            Message::Unknown(v) => v,
        }
    }
}

/// The code of a destination-unreachable message (RFC 792, RFC 1122 §3.2.2.1, RFC 1812
/// §5.2.7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DstUnreachable {
    /// 0: net unreachable.
    NetUnreachable,
    /// 1: host unreachable.
    HostUnreachable,
    /// 2: protocol unreachable.
    ProtoUnreachable,
    /// 3: port unreachable.
    PortUnreachable,
    /// 4: fragmentation needed and DF set; carries the next-hop MTU (RFC 1191).
    FragRequired,
    /// 5: source route failed.
    SrcRouteFailed,
    /// 6: destination network unknown.
    DstNetUnknown,
    /// 7: destination host unknown.
    DstHostUnknown,
    /// 8: source host isolated.
    SrcHostIsolated,
    /// 9: network administratively prohibited.
    NetProhibited,
    /// 10: host administratively prohibited.
    HostProhibited,
    /// 11: network unreachable for type of service.
    NetUnreachToS,
    /// 12: host unreachable for type of service.
    HostUnreachToS,
    /// 13: communication administratively prohibited.
    CommProhibited,
    /// 14: host precedence violation.
    HostPrecedenceViolation,
    /// 15: precedence cutoff in effect.
    PrecedenceCutoff,
}

impl DstUnreachable {
    const ALL: [DstUnreachable; 16] = [
        DstUnreachable::NetUnreachable,
        DstUnreachable::HostUnreachable,
        DstUnreachable::ProtoUnreachable,
        DstUnreachable::PortUnreachable,
        DstUnreachable::FragRequired,
        DstUnreachable::SrcRouteFailed,
        DstUnreachable::DstNetUnknown,
        DstUnreachable::DstHostUnknown,
        DstUnreachable::SrcHostIsolated,
        DstUnreachable::NetProhibited,
        DstUnreachable::HostProhibited,
        DstUnreachable::NetUnreachToS,
        DstUnreachable::HostUnreachToS,
        DstUnreachable::CommProhibited,
        DstUnreachable::HostPrecedenceViolation,
        DstUnreachable::PrecedenceCutoff,
    ];

    /// The code for `v`, or `None` for an unassigned code.
    pub fn from_code(v: u8) -> Option<DstUnreachable> {
        Self::ALL.get(usize::from(v)).copied()
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// The code of a time-exceeded message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TimeExceeded {
    /// 0: TTL reached zero in transit.
    TtlExpired,
    /// 1: fragment reassembly time exceeded.
    FragReassemblyExpired,
}

impl TimeExceeded {
    /// The code for `v`, or `None` for an unassigned code.
    pub fn from_code(v: u8) -> Option<TimeExceeded> {
        match v {
            0 => Some(TimeExceeded::TtlExpired),
            1 => Some(TimeExceeded::FragReassemblyExpired),
            _ => None,
        }
    }

    /// The numeric code.
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// A read/write view of an ICMPv4 message.
#[derive(Debug, Clone)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking its length; accessors may then panic on a short one.
    pub const fn new_unchecked(buffer: T) -> Packet<T> {
        Packet { buffer }
    }

    /// Wraps a buffer after checking that it holds the 8-byte header. After this no accessor
    /// can panic.
    pub fn new_checked(buffer: T) -> Result<Packet<T>> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Checks the length as [`new_checked`](Self::new_checked) does.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < HEADER_LEN {
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

    /// The message type.
    pub fn msg_type(&self) -> Message {
        Message::from(self.buffer.as_ref()[field::TYPE])
    }

    /// The raw code.
    pub fn msg_code(&self) -> u8 {
        self.buffer.as_ref()[field::CODE]
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        self.u16_at(field::CHECKSUM)
    }

    /// The echo identifier (meaningful for echo messages).
    pub fn echo_ident(&self) -> u16 {
        self.u16_at(field::IDENT)
    }

    /// The echo sequence number (meaningful for echo messages).
    pub fn echo_seq_no(&self) -> u16 {
        self.u16_at(field::SEQ_NO)
    }

    /// The next-hop MTU of a "fragmentation needed" message (RFC 1191 §4); 0 from routers
    /// that predate RFC 1191.
    pub fn next_hop_mtu(&self) -> u16 {
        self.u16_at(field::NEXT_HOP_MTU)
    }

    /// Everything after the 8-byte header: echo data, or the quoted original datagram.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..]
    }

    /// Whether the checksum over the whole message verifies.
    pub fn verify_checksum(&self) -> bool {
        checksum::verify(0, self.buffer.as_ref())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    fn set_u16(&mut self, r: core::ops::Range<usize>, v: u16) {
        self.buffer.as_mut()[r].copy_from_slice(&v.to_be_bytes());
    }

    /// Sets the message type.
    pub fn set_msg_type(&mut self, m: Message) {
        self.buffer.as_mut()[field::TYPE] = m.into();
    }

    /// Sets the code.
    pub fn set_msg_code(&mut self, v: u8) {
        self.buffer.as_mut()[field::CODE] = v;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, v: u16) {
        self.set_u16(field::CHECKSUM, v);
    }

    /// Sets the echo identifier.
    pub fn set_echo_ident(&mut self, v: u16) {
        self.set_u16(field::IDENT, v);
    }

    /// Sets the echo sequence number.
    pub fn set_echo_seq_no(&mut self, v: u16) {
        self.set_u16(field::SEQ_NO, v);
    }

    /// Sets the next-hop MTU.
    pub fn set_next_hop_mtu(&mut self, v: u16) {
        self.set_u16(field::NEXT_HOP_MTU, v);
    }

    /// Zeroes the four type-specific header bytes.
    pub fn clear_rest(&mut self) {
        self.buffer.as_mut()[field::REST].fill(0);
    }

    /// The data after the header, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buffer.as_mut()[HEADER_LEN..]
    }

    /// Computes and writes the checksum over the whole buffer.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let c = checksum::checksum(self.buffer.as_ref());
        self.set_checksum(c);
    }
}

/// A parsed ICMPv4 message of a kind the stack handles. Data is borrowed from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icmpv4Repr<'a> {
    /// Echo request (type 8): answered with a reply carrying the same ident, seq_no and data.
    EchoRequest {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Data to echo back.
        data: &'a [u8],
    },
    /// Echo reply (type 0).
    EchoReply {
        /// Identifier.
        ident: u16,
        /// Sequence number.
        seq_no: u16,
        /// Echoed data.
        data: &'a [u8],
    },
    /// Destination unreachable (type 3).
    DstUnreachable {
        /// The code.
        reason: DstUnreachable,
        /// Next-hop MTU for [`DstUnreachable::FragRequired`]; 0 for other codes, whose
        /// bytes there are unused.
        next_hop_mtu: u16,
        /// The quoted original IPv4 header (options included) and its first 8 data bytes:
        /// enough to find the transport ports of the flow it is about.
        original: &'a [u8],
    },
    /// Time exceeded (type 11).
    TimeExceeded {
        /// The code.
        reason: TimeExceeded,
        /// The quoted original IPv4 header and its first 8 data bytes.
        original: &'a [u8],
    },
}

/// The quoted header plus 8 data bytes at the front of an error message's data.
///
/// RFC 792 asks for the whole original header and 64 bits of its data; routers may quote more
/// (RFC 1812 §4.3.2.3), which is cut off here.
fn quoted_original(data: &[u8]) -> Result<&[u8]> {
    let first = *data.first().ok_or(Error::Truncated)?;
    if first >> 4 != 4 {
        return Err(Error::Malformed);
    }
    let header_len = usize::from(first & 0x0f) * 4;
    if header_len < 20 {
        return Err(Error::BadLength);
    }
    data.get(..header_len + QUOTED_DATA_LEN).ok_or(Error::Truncated)
}

impl<'a> Icmpv4Repr<'a> {
    /// Parses a message. With `verify_checksum` false the checksum is not checked.
    ///
    /// Errors: [`Error::BadChecksum`]; [`Error::Unsupported`] for other types or unassigned
    /// codes; for error messages, [`Error::Truncated`], [`Error::BadLength`] or
    /// [`Error::Malformed`] when the quoted datagram is not an IPv4 header plus 8 bytes.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &Packet<&'a T>,
        verify_checksum: bool,
    ) -> Result<Icmpv4Repr<'a>> {
        packet.check_len()?;
        if verify_checksum && !packet.verify_checksum() {
            return Err(Error::BadChecksum);
        }
        let all: &'a [u8] = packet.buffer.as_ref();
        let data = all.get(HEADER_LEN..).ok_or(Error::Truncated)?;
        let code = packet.msg_code();
        match (packet.msg_type(), code) {
            (Message::EchoRequest, 0) => Ok(Icmpv4Repr::EchoRequest {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::EchoReply, 0) => Ok(Icmpv4Repr::EchoReply {
                ident: packet.echo_ident(),
                seq_no: packet.echo_seq_no(),
                data,
            }),
            (Message::DstUnreachable, _) => {
                let reason = DstUnreachable::from_code(code).ok_or(Error::Unsupported)?;
                let next_hop_mtu =
                    if reason == DstUnreachable::FragRequired { packet.next_hop_mtu() } else { 0 };
                Ok(Icmpv4Repr::DstUnreachable {
                    reason,
                    next_hop_mtu,
                    original: quoted_original(data)?,
                })
            }
            (Message::TimeExceeded, _) => Ok(Icmpv4Repr::TimeExceeded {
                reason: TimeExceeded::from_code(code).ok_or(Error::Unsupported)?,
                original: quoted_original(data)?,
            }),
            _ => Err(Error::Unsupported),
        }
    }

    /// Length of the message [`emit`](Self::emit) writes.
    pub fn buffer_len(&self) -> usize {
        HEADER_LEN
            + match self {
                Icmpv4Repr::EchoRequest { data, .. } | Icmpv4Repr::EchoReply { data, .. } => {
                    data.len()
                }
                Icmpv4Repr::DstUnreachable { original, .. }
                | Icmpv4Repr::TimeExceeded { original, .. } => original.len(),
            }
    }

    /// Writes the message into the first [`buffer_len`](Self::buffer_len) bytes of the
    /// packet's buffer (which must be at least that long) and, with `fill_checksum`, the
    /// checksum over exactly those bytes; otherwise the checksum field is left zero.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>, fill_checksum: bool) {
        packet.clear_rest();
        packet.set_checksum(0);
        let body: &[u8] = match *self {
            Icmpv4Repr::EchoRequest { ident, seq_no, data }
            | Icmpv4Repr::EchoReply { ident, seq_no, data } => {
                let m = if matches!(self, Icmpv4Repr::EchoRequest { .. }) {
                    Message::EchoRequest
                } else {
                    Message::EchoReply
                };
                packet.set_msg_type(m);
                packet.set_msg_code(0);
                packet.set_echo_ident(ident);
                packet.set_echo_seq_no(seq_no);
                data
            }
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, original } => {
                packet.set_msg_type(Message::DstUnreachable);
                packet.set_msg_code(reason.code());
                if reason == DstUnreachable::FragRequired {
                    packet.set_next_hop_mtu(next_hop_mtu);
                }
                original
            }
            Icmpv4Repr::TimeExceeded { reason, original } => {
                packet.set_msg_type(Message::TimeExceeded);
                packet.set_msg_code(reason.code());
                original
            }
        };
        packet.data_mut()[..body.len()].copy_from_slice(body);
        if fill_checksum {
            let len = self.buffer_len();
            let c = checksum::checksum(&packet.buffer.as_ref()[..len]);
            packet.set_checksum(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_checksum(mut b: Vec<u8>) -> Vec<u8> {
        b[2] = 0;
        b[3] = 0;
        let c = checksum::checksum(&b);
        b[2..4].copy_from_slice(&c.to_be_bytes());
        b
    }

    /// An IPv4 header (IHL 5) plus a UDP header, as an error message would quote them.
    fn quoted() -> Vec<u8> {
        let mut q = vec![0x45, 0, 0, 40, 0, 0, 0x40, 0, 64, 17, 0, 0];
        q.extend_from_slice(&[10, 0, 0, 1, 10, 0, 0, 2]);
        q.extend_from_slice(&[0x30, 0x39, 0x00, 0x35, 0x00, 0x14, 0xab, 0xcd]);
        q
    }

    #[test]
    fn parses_echo_request() {
        let b = with_checksum(vec![8, 0, 0, 0, 0x12, 0x34, 0x00, 0x07, b'h', b'i', b'!']);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, true).unwrap(),
            Icmpv4Repr::EchoRequest { ident: 0x1234, seq_no: 7, data: b"hi!" }
        );
        let mut bad = b.clone();
        bad[9] ^= 1;
        let p = Packet::new_checked(&bad[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, true).unwrap_err(), Error::BadChecksum);
        assert!(Icmpv4Repr::parse(&p, false).is_ok());
    }

    #[test]
    fn parses_frag_needed_with_mtu_and_cuts_extra_quote() {
        let mut b = vec![3, 4, 0, 0, 0, 0, 0x05, 0xdc];
        b.extend_from_slice(&quoted());
        b.extend_from_slice(&[0xee; 12]); // more than RFC 792 asks for
        let b = with_checksum(b);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(
            Icmpv4Repr::parse(&p, true).unwrap(),
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: 1500,
                original: &quoted()[..],
            }
        );
    }

    #[test]
    fn port_unreachable_ignores_unused_bytes() {
        let mut b = vec![3, 3, 0, 0, 0, 0, 0x05, 0xdc];
        b.extend_from_slice(&quoted());
        let b = with_checksum(b);
        let p = Packet::new_checked(&b[..]).unwrap();
        match Icmpv4Repr::parse(&p, true).unwrap() {
            Icmpv4Repr::DstUnreachable { reason, next_hop_mtu, .. } => {
                assert_eq!(reason, DstUnreachable::PortUnreachable);
                assert_eq!(next_hop_mtu, 0);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn all_unreachable_codes_round_trip() {
        for code in 0..=255u8 {
            match DstUnreachable::from_code(code) {
                Some(r) => assert_eq!(r.code(), code),
                None => assert!(code > 15),
            }
        }
        let mut b = vec![3, 16, 0, 0, 0, 0, 0, 0];
        b.extend_from_slice(&quoted());
        let b = with_checksum(b);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, true).unwrap_err(), Error::Unsupported);
    }

    #[test]
    fn bad_quotes_are_rejected() {
        let q = quoted();
        let cases: [(Vec<u8>, Error); 4] = [
            (Vec::new(), Error::Truncated),
            (q[..27].to_vec(), Error::Truncated),
            ([&[0x65u8][..], &q[1..]].concat(), Error::Malformed),
            ([&[0x44u8][..], &q[1..]].concat(), Error::BadLength),
        ];
        for (quote, err) in cases {
            let mut b = vec![11, 0, 0, 0, 0, 0, 0, 0];
            b.extend_from_slice(&quote);
            let b = with_checksum(b);
            let p = Packet::new_checked(&b[..]).unwrap();
            assert_eq!(Icmpv4Repr::parse(&p, true).unwrap_err(), err);
        }
    }

    #[test]
    fn other_types_unsupported_and_short_truncated() {
        let b = with_checksum(vec![13, 0, 0, 0, 0, 0, 0, 0]);
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, true).unwrap_err(), Error::Unsupported);
        let b = with_checksum(vec![8, 1, 0, 0, 0, 0, 0, 0]); // echo with non-zero code
        let p = Packet::new_checked(&b[..]).unwrap();
        assert_eq!(Icmpv4Repr::parse(&p, true).unwrap_err(), Error::Unsupported);
        assert_eq!(
            Packet::new_checked(&[8u8, 0, 0, 0, 0, 0, 0][..]).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn emit_into_longer_buffer_checksums_only_the_message() {
        let q = quoted();
        let reprs = [
            Icmpv4Repr::EchoReply { ident: 1, seq_no: 2, data: b"abc" },
            Icmpv4Repr::DstUnreachable {
                reason: DstUnreachable::FragRequired,
                next_hop_mtu: 1280,
                original: &q,
            },
            Icmpv4Repr::TimeExceeded { reason: TimeExceeded::FragReassemblyExpired, original: &q },
        ];
        for repr in reprs {
            let mut buf = vec![0x5au8; repr.buffer_len() + 5];
            repr.emit(&mut Packet::new_unchecked(&mut buf[..]), true);
            let msg = &buf[..repr.buffer_len()];
            let p = Packet::new_checked(msg).unwrap();
            assert!(p.verify_checksum(), "{repr:?}");
            assert_eq!(Icmpv4Repr::parse(&p, true).unwrap(), repr);
        }
    }
}
